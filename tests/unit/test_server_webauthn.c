/*
 * konform-server's WebAuthn verification (ks_webauthn, PK-03, PK-04) with
 * credentials made in the test from parts (tests/unit/kt_webauthn: OpenSSL
 * keys and signatures, libcbor attestation objects): a `none` and a `packed`
 * registration and an assertion verify; each check's failure gives its own
 * code; when two checks fail the earlier in section 7 order is the answer;
 * a fault switches exactly its check off. Then the passkey routes in-process
 * (ks_pk_api): register after a password login, the session becomes full,
 * log in with the passkey alone, the challenge is single use, the list,
 * removal and a login with the removed passkey.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "kf/httpd.h"
#include "kf/str.h"
#include "ks_api.h"
#include "ks_passkey.h"
#include "ks_session.h"
#include "ks_webauthn.h"
#include "kt_server.h"
#include "kt_webauthn.h"

#define T0 INT64_C(1790000000)

static const unsigned char challenge[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const ks_wa_rp rp = {.rp_id = KT_WA_RP_ID, .origin = KT_WA_ORIGIN, .now = T0};

/* ---- Registration. ---- */

typedef struct reg_case {
  const char *what;
  void (*knob)(kt_wa_knobs *kn, kt_wa_key *other);
  void (*fact)(ks_wa_reg_facts *f);
  ks_wa_result want;
  size_t id_len; /* 0: 16. */
} reg_case;

static ks_wa_result reg_verify(const ks_server *srv, const kt_wa_key *k, const kt_wa_knobs *kn,
                               const ks_wa_reg_facts *f) {
  json_t *cred = NULL;
  assert_int_equal(kt_wa_create(k, kn, &cred), KF_OK);
  ks_wa_registration reg;
  assert_int_equal(ks_wa_registration_parse(cred, &reg, NULL), KF_OK);
  ks_wa_result r = ks_wa_registration_verify(srv, &rp, &reg, f);
  ks_wa_registration_release(&reg);
  json_decref(cred);
  return r;
}

static const ks_wa_reg_facts good_reg_facts = {.challenge_found = true,
                                               .challenge_expires_at = T0 + 300};

static void test_none_and_packed_registrations_verify(void **state) {
  (void)state;
  kt_wa_key k;
  assert_int_equal(kt_wa_key_init(&k, 16), KF_OK);
  kt_wa_knobs kn;
  kt_wa_knobs_init(&kn, challenge, sizeof challenge, true);
  assert_int_equal(reg_verify(NULL, &k, &kn, &good_reg_facts), KS_WA_OK);
  kn.packed = true;
  assert_int_equal(reg_verify(NULL, &k, &kn, &good_reg_facts), KS_WA_OK);
  /* The largest credential id allowed, and an authenticator with backup (BE and BS). */
  kt_wa_key big;
  assert_int_equal(kt_wa_key_init(&big, KS_WA_CRED_ID_MAX), KF_OK);
  kn.flags |= KS_WA_FLAG_BE | KS_WA_FLAG_BS;
  assert_int_equal(reg_verify(NULL, &big, &kn, &good_reg_facts), KS_WA_OK);
  kt_wa_key_release(&big);
  kt_wa_key_release(&k);
}

static void k_type(kt_wa_knobs *kn, kt_wa_key *o) {
  (void)o;
  kn->type = "webauthn.get";
}
static void k_origin(kt_wa_knobs *kn, kt_wa_key *o) {
  (void)o;
  kn->origin = "http://127.0.0.1:8481";
}
static void k_cross(kt_wa_knobs *kn, kt_wa_key *o) {
  (void)o;
  kn->cross_origin = true;
}
static void k_top(kt_wa_knobs *kn, kt_wa_key *o) {
  (void)o;
  kn->top_origin = "http://evil.example";
}
static void k_trailing(kt_wa_knobs *kn, kt_wa_key *o) {
  (void)o;
  kn->trailing = 1;
}
static void k_cut(kt_wa_knobs *kn, kt_wa_key *o) {
  (void)o;
  kn->cut = 3;
}
static void k_rp(kt_wa_knobs *kn, kt_wa_key *o) {
  (void)o;
  kn->rp_id = "example.org";
}
static void k_up(kt_wa_knobs *kn, kt_wa_key *o) {
  (void)o;
  kn->flags &= ~KS_WA_FLAG_UP;
}
static void k_uv(kt_wa_knobs *kn, kt_wa_key *o) {
  (void)o;
  kn->flags &= ~KS_WA_FLAG_UV;
}
static void k_bs(kt_wa_knobs *kn, kt_wa_key *o) {
  (void)o;
  kn->flags |= KS_WA_FLAG_BS;
}
static void k_at(kt_wa_knobs *kn, kt_wa_key *o) {
  (void)o;
  kn->flags &= ~KS_WA_FLAG_AT;
  kn->no_attested_data = true;
}
static void k_alg(kt_wa_knobs *kn, kt_wa_key *o) {
  (void)o;
  kn->cose_alg = -257;
}
static void k_fmt_case(kt_wa_knobs *kn, kt_wa_key *o) {
  (void)o;
  kn->fmt = "Packed";
  kn->packed = true;
}
static void k_fmt_unknown(kt_wa_knobs *kn, kt_wa_key *o) {
  (void)o;
  kn->fmt = "tpm";
}
static void k_none_stmt(kt_wa_knobs *kn, kt_wa_key *o) {
  (void)o;
  kn->att_stmt_not_empty = true;
}
static void k_packed_alg(kt_wa_knobs *kn, kt_wa_key *o) {
  (void)o;
  kn->packed = true;
  kn->packed_alg = -257;
}
static void k_packed_flip(kt_wa_knobs *kn, kt_wa_key *o) {
  (void)o;
  kn->packed = true;
  kn->flip_signature = true;
}
static void k_packed_other(kt_wa_knobs *kn, kt_wa_key *o) {
  kn->packed = true;
  kn->sign_with = o->key;
}
static void k_raw_id(kt_wa_knobs *kn, kt_wa_key *o) {
  (void)o;
  kn->raw_id_text = "AAAA";
}
static void k_bad_b64(kt_wa_knobs *kn, kt_wa_key *o) {
  (void)o;
  kn->raw_id_text = "AA==";
}
static void k_none(kt_wa_knobs *kn, kt_wa_key *o) {
  (void)kn;
  (void)o;
}
static void f_unknown(ks_wa_reg_facts *f) {
  f->challenge_found = false;
}
static void f_expired(ks_wa_reg_facts *f) {
  f->challenge_expires_at = T0;
}
static void f_taken(ks_wa_reg_facts *f) {
  f->cred_id_taken = true;
}

static const reg_case reg_cases[] = {
    {"base64 with padding", k_bad_b64, NULL, KS_WA_CREDENTIAL_MALFORMED, 0},
    {"wrong type", k_type, NULL, KS_WA_CLIENT_DATA_TYPE, 0},
    {"unknown challenge", k_none, f_unknown, KS_WA_CHALLENGE_UNKNOWN, 0},
    {"expired at +300", k_none, f_expired, KS_WA_CHALLENGE_EXPIRED, 0},
    {"other origin", k_origin, NULL, KS_WA_ORIGIN, 0},
    {"crossOrigin", k_cross, NULL, KS_WA_CROSS_ORIGIN, 0},
    {"topOrigin", k_top, NULL, KS_WA_TOP_ORIGIN, 0},
    {"trailing byte", k_trailing, NULL, KS_WA_AUTH_DATA_MALFORMED, 0},
    {"truncated", k_cut, NULL, KS_WA_AUTH_DATA_MALFORMED, 0},
    {"other RP id", k_rp, NULL, KS_WA_RP_ID_HASH, 0},
    {"UP clear", k_up, NULL, KS_WA_USER_PRESENCE, 0},
    {"UV clear", k_uv, NULL, KS_WA_USER_VERIFICATION, 0},
    {"BS without BE", k_bs, NULL, KS_WA_BACKUP_STATE, 0},
    {"AT clear", k_at, NULL, KS_WA_ATTESTED_DATA_MISSING, 0},
    {"rawId not the attested id", k_raw_id, NULL, KS_WA_CREDENTIAL_MALFORMED, 0},
    {"RS256 not offered", k_alg, NULL, KS_WA_ALGORITHM, 0},
    {"fmt Packed", k_fmt_case, NULL, KS_WA_ATTESTATION_FORMAT, 0},
    {"fmt tpm", k_fmt_unknown, NULL, KS_WA_ATTESTATION_FORMAT, 0},
    {"none with attStmt", k_none_stmt, NULL, KS_WA_ATTESTATION_STATEMENT, 0},
    {"packed alg", k_packed_alg, NULL, KS_WA_ATTESTATION_STATEMENT, 0},
    {"packed bit flipped", k_packed_flip, NULL, KS_WA_ATTESTATION_STATEMENT, 0},
    {"packed by another key", k_packed_other, NULL, KS_WA_ATTESTATION_STATEMENT, 0},
    {"1024-byte id", k_none, NULL, KS_WA_CREDENTIAL_ID_LENGTH, KS_WA_CRED_ID_MAX + 1},
    {"id taken", k_none, f_taken, KS_WA_CREDENTIAL_ID_TAKEN, 0},
};

static void test_each_registration_check_has_its_code(void **state) {
  (void)state;
  kt_wa_key other;
  assert_int_equal(kt_wa_key_init(&other, 16), KF_OK);
  for (size_t i = 0; i < sizeof reg_cases / sizeof reg_cases[0]; i++) {
    const reg_case *c = &reg_cases[i];
    kt_wa_key k;
    assert_int_equal(kt_wa_key_init(&k, c->id_len != 0 ? c->id_len : 16), KF_OK);
    kt_wa_knobs kn;
    kt_wa_knobs_init(&kn, challenge, sizeof challenge, true);
    c->knob(&kn, &other);
    ks_wa_reg_facts f = good_reg_facts;
    if (c->fact != NULL)
      c->fact(&f);
    ks_wa_result r = reg_verify(NULL, &k, &kn, &f);
    if (r != c->want)
      fail_msg("%s: %s, not %s", c->what, ks_wa_result_code(r), ks_wa_result_code(c->want));
    kt_wa_key_release(&k);
  }
  kt_wa_key_release(&other);
}

static void test_registration_shapes_are_malformed(void **state) {
  (void)state;
  const char *bodies[] = {
      "null",
      "{}",
      "{\"id\":\"AAAA\",\"rawId\":\"AAAA\",\"type\":\"public-key\"}",
      "{\"id\":\"AAAA\",\"rawId\":\"AAAB\",\"type\":\"public-key\",\"response\":{}}",
      "{\"id\":\"AAAA\",\"rawId\":\"AAAA\",\"type\":\"public-key\",\"response\":"
      "{\"clientDataJSON\":\"e30\",\"attestationObject\":\"oA\"}}",
      "{\"id\":\"AAAA\",\"rawId\":\"AAAA\",\"type\":\"other\",\"response\":"
      "{\"clientDataJSON\":\"e30\",\"attestationObject\":\"oA\"}}",
  };
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
    json_t *cred = json_loads(bodies[i], JSON_DECODE_ANY, NULL);
    ks_wa_registration reg;
    assert_int_equal(ks_wa_registration_parse(cred, &reg, NULL), KF_OK);
    assert_int_equal(ks_wa_registration_verify(NULL, &rp, &reg, &good_reg_facts),
                     KS_WA_CREDENTIAL_MALFORMED);
    ks_wa_registration_release(&reg);
    json_decref(cred);
  }
}

/* Two failed checks: the earlier in section 7.1 order is the answer. */
static void test_first_failure_in_order(void **state) {
  (void)state;
  kt_wa_key k;
  assert_int_equal(kt_wa_key_init(&k, 16), KF_OK);
  kt_wa_knobs kn;
  kt_wa_knobs_init(&kn, challenge, sizeof challenge, true);
  kn.flags &= ~KS_WA_FLAG_UV;
  kn.origin = "https://evil.example";
  assert_int_equal(reg_verify(NULL, &k, &kn, &good_reg_facts), KS_WA_ORIGIN);
  kn.origin = NULL;
  kn.rp_id = "evil.example";
  assert_int_equal(reg_verify(NULL, &k, &kn, &good_reg_facts), KS_WA_RP_ID_HASH);
  kt_wa_key_release(&k);
}

/* A fault switches its check off and nothing else. */
static void test_faults_switch_their_check_off(void **state) {
  (void)state;
  ks_config cfg;
  ks_config_init(&cfg);
  cfg.test_mode = true;
  cfg.faults[KS_FAULT_PK_ORIGIN_NOT_CHECKED] = true;
  cfg.faults[KS_FAULT_PK_FMT_CASE_INSENSITIVE] = true;
  ks_server srv = {.cfg = &cfg};
  kt_wa_key k;
  assert_int_equal(kt_wa_key_init(&k, 16), KF_OK);
  kt_wa_knobs kn;
  kt_wa_knobs_init(&kn, challenge, sizeof challenge, true);
  kn.origin = "https://evil.example";
  assert_int_equal(reg_verify(&srv, &k, &kn, &good_reg_facts), KS_WA_OK);
  k_fmt_case(&kn, NULL);
  assert_int_equal(reg_verify(&srv, &k, &kn, &good_reg_facts), KS_WA_OK);
  kn.flags &= ~KS_WA_FLAG_UV;
  assert_int_equal(reg_verify(&srv, &k, &kn, &good_reg_facts), KS_WA_USER_VERIFICATION);
  kt_wa_key_release(&k);
}

/* ---- Assertions. ---- */

/* A registered credential: its key as the store keeps it (the COSE key from a registration). */
typedef struct stored {
  kt_wa_key k;
  unsigned char cose[256];
  size_t cose_len;
} stored;

static void stored_make(stored *s) {
  assert_int_equal(kt_wa_key_init(&s->k, 16), KF_OK);
  kt_wa_knobs kn;
  kt_wa_knobs_init(&kn, challenge, sizeof challenge, true);
  json_t *cred = NULL;
  assert_int_equal(kt_wa_create(&s->k, &kn, &cred), KF_OK);
  ks_wa_registration reg;
  assert_int_equal(ks_wa_registration_parse(cred, &reg, NULL), KF_OK);
  assert_int_equal(ks_wa_registration_verify(NULL, &rp, &reg, &good_reg_facts), KS_WA_OK);
  assert_true(reg.ad.cose_key_len <= sizeof s->cose);
  memcpy(s->cose, reg.ad.cose_key, reg.ad.cose_key_len);
  s->cose_len = reg.ad.cose_key_len;
  ks_wa_registration_release(&reg);
  json_decref(cred);
}

static const unsigned char handle[32] = {42};

static ks_wa_login_facts login_facts(const stored *s) {
  return (ks_wa_login_facts){.challenge_found = true,
                             .challenge_expires_at = T0 + 300,
                             .cred_found = true,
                             .cred_account_id = 7,
                             .cose_key = s->cose,
                             .cose_key_len = s->cose_len,
                             .stored_sign_count = 0,
                             .handle_found = true,
                             .handle_account_id = 7};
}

static ks_wa_result get_verify(stored *s, const kt_wa_knobs *kn, const ks_wa_login_facts *f) {
  json_t *cred = NULL;
  assert_int_equal(kt_wa_get(&s->k, kn, &cred), KF_OK);
  ks_wa_assertion as;
  assert_int_equal(ks_wa_assertion_parse(cred, &as, NULL), KF_OK);
  ks_wa_result r = ks_wa_assertion_verify(NULL, &rp, &as, f);
  ks_wa_assertion_release(&as);
  json_decref(cred);
  return r;
}

static void get_knobs(kt_wa_knobs *kn) {
  kt_wa_knobs_init(kn, challenge, sizeof challenge, false);
  kn->user_handle = handle;
  kn->user_handle_len = sizeof handle;
}

static void test_assertion_verifies_and_counts(void **state) {
  (void)state;
  stored s;
  stored_make(&s);
  kt_wa_knobs kn;
  get_knobs(&kn);
  ks_wa_login_facts f = login_facts(&s);
  assert_int_equal(get_verify(&s, &kn, &f), KS_WA_OK);
  /* The counter grew from 1 to 2: fine; standing still at 2 is a possible clone. */
  f.stored_sign_count = 1;
  assert_int_equal(get_verify(&s, &kn, &f), KS_WA_OK);
  f.stored_sign_count = 2;
  kn.counter_set = true;
  kn.counter = 2;
  assert_int_equal(get_verify(&s, &kn, &f), KS_WA_SIGN_COUNT);
  kn.counter = 1;
  assert_int_equal(get_verify(&s, &kn, &f), KS_WA_SIGN_COUNT);
  /* An authenticator without a counter: 0 and 0. */
  kn.counter = 0;
  f.stored_sign_count = 0;
  assert_int_equal(get_verify(&s, &kn, &f), KS_WA_OK);
  kt_wa_key_release(&s.k);
}

typedef struct get_case {
  const char *what;
  void (*knob)(kt_wa_knobs *kn, kt_wa_key *other);
  void (*fact)(ks_wa_login_facts *f);
  ks_wa_result want;
} get_case;

static void k_get_type(kt_wa_knobs *kn, kt_wa_key *o) {
  (void)o;
  kn->type = "webauthn.create";
}
static void k_get_at(kt_wa_knobs *kn, kt_wa_key *o) {
  (void)o;
  kn->flags |= KS_WA_FLAG_AT;
}
static void k_flip(kt_wa_knobs *kn, kt_wa_key *o) {
  (void)o;
  kn->flip_signature = true;
}
static void k_other_key(kt_wa_knobs *kn, kt_wa_key *o) {
  kn->sign_with = o->key;
}
static void k_edited(kt_wa_knobs *kn, kt_wa_key *o) {
  (void)o;
  kn->edit_client_data = true;
}
static void k_no_handle(kt_wa_knobs *kn, kt_wa_key *o) {
  (void)o;
  kn->user_handle = NULL;
}
static void k_be(kt_wa_knobs *kn, kt_wa_key *o) {
  (void)o;
  kn->flags |= KS_WA_FLAG_BE;
}
static void lf_unknown(ks_wa_login_facts *f) {
  f->cred_found = false;
}
static void lf_other_account(ks_wa_login_facts *f) {
  f->handle_account_id = 8;
}
static void lf_challenge(ks_wa_login_facts *f) {
  f->challenge_found = false;
}
static void lf_expired(ks_wa_login_facts *f) {
  f->challenge_expires_at = T0;
}

static const get_case get_cases[] = {
    {"base64 with padding", k_bad_b64, NULL, KS_WA_CREDENTIAL_MALFORMED},
    {"unknown credential", k_none, lf_unknown, KS_WA_CREDENTIAL_UNKNOWN},
    {"another account's credential", k_none, lf_other_account, KS_WA_USER_HANDLE},
    {"no userHandle", k_no_handle, NULL, KS_WA_USER_HANDLE},
    {"wrong type", k_get_type, NULL, KS_WA_CLIENT_DATA_TYPE},
    {"unknown challenge", k_none, lf_challenge, KS_WA_CHALLENGE_UNKNOWN},
    {"expired challenge", k_none, lf_expired, KS_WA_CHALLENGE_EXPIRED},
    {"other origin", k_origin, NULL, KS_WA_ORIGIN},
    {"crossOrigin", k_cross, NULL, KS_WA_CROSS_ORIGIN},
    {"topOrigin", k_top, NULL, KS_WA_TOP_ORIGIN},
    {"trailing byte", k_trailing, NULL, KS_WA_AUTH_DATA_MALFORMED},
    {"truncated", k_cut, NULL, KS_WA_AUTH_DATA_MALFORMED},
    {"AT in an assertion", k_get_at, NULL, KS_WA_AUTH_DATA_MALFORMED},
    {"other RP id", k_rp, NULL, KS_WA_RP_ID_HASH},
    {"UP clear", k_up, NULL, KS_WA_USER_PRESENCE},
    {"UV clear", k_uv, NULL, KS_WA_USER_VERIFICATION},
    {"BS without BE", k_bs, NULL, KS_WA_BACKUP_STATE},
    {"BE unlike at registration", k_be, NULL, KS_WA_BACKUP_STATE},
    {"bit flipped", k_flip, NULL, KS_WA_SIGNATURE},
    {"another key", k_other_key, NULL, KS_WA_SIGNATURE},
    {"clientDataJSON edited", k_edited, NULL, KS_WA_SIGNATURE},
};

static void test_each_assertion_check_has_its_code(void **state) {
  (void)state;
  kt_wa_key other;
  assert_int_equal(kt_wa_key_init(&other, 16), KF_OK);
  stored s;
  stored_make(&s);
  for (size_t i = 0; i < sizeof get_cases / sizeof get_cases[0]; i++) {
    const get_case *c = &get_cases[i];
    kt_wa_knobs kn;
    get_knobs(&kn);
    c->knob(&kn, &other);
    ks_wa_login_facts f = login_facts(&s);
    if (c->fact != NULL)
      c->fact(&f);
    ks_wa_result r = get_verify(&s, &kn, &f);
    if (r != c->want)
      fail_msg("%s: %s, not %s", c->what, ks_wa_result_code(r), ks_wa_result_code(c->want));
  }
  kt_wa_key_release(&s.k);
  kt_wa_key_release(&other);
}

/* ---- The passkey routes in-process. ---- */

typedef struct fixture {
  kt_server s;
  int64_t account;
  char token[KS_TOKEN_HEX_LEN + 1]; /* A session at second_factor_setup. */
  char clock[64];                   /* A test clock at T0. */
} fixture;

static kf_http_answer http(fixture *f, const char *method, const char *path, const char *token,
                           const json_t *body) {
  char auth[KS_TOKEN_HEX_LEN + 16] = "";
  if (token != NULL)
    assert_int_equal(kf_str_format(auth, sizeof auth, "Bearer %s", token), KF_OK);
  const char *headers[] = {"Content-Type",
                           "application/json",
                           "Konform-Clock",
                           f->clock,
                           token != NULL ? "Authorization" : NULL,
                           auth,
                           NULL};
  static char text[65536];
  size_t n = body != NULL ? json_dumpb(body, text, sizeof text, JSON_COMPACT) : 0;
  assert_true(n < sizeof text);
  kf_http_fake_req in = {.method = method,
                         .path = path,
                         .headers = headers,
                         .body = body != NULL ? text : NULL,
                         .body_len = n};
  kf_http_answer a;
  assert_int_equal(kf_httpd_serve_fake(f->s.httpd, &in, &a, NULL), KF_OK);
  return a;
}

/* The answer's JSON (caller decrefs) after checking its status. */
static json_t *answer_json(kf_http_answer *a, unsigned status) {
  if (a->status != status)
    fail_msg("status %u, not %u: %s", a->status, status, a->body);
  json_t *j = json_loads(a->body, 0, NULL);
  kf_http_answer_release(a);
  return j;
}

/* The error code of an answer with status. */
static void expect_error(kf_http_answer a, unsigned status, const char *code) {
  json_t *j = answer_json(&a, status);
  const char *got = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
  if (got == NULL || strcmp(got, code) != 0)
    fail_msg("%s, not %s", got != NULL ? got : "(none)", code);
  json_decref(j);
}

static int fixture_setup(void **state) {
  fixture *f = test_calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(kt_server_open(&f->s, "ks_passkey", NULL), KF_OK);
  f->s.cfg.test_mode = true;
  assert_int_equal(kt_server_serve(&f->s, NULL, 0, 0, NULL), KF_OK);
  sqlite3 *conn = NULL;
  assert_int_equal(ks_db_conn(f->s.srv.db, &conn, NULL), KF_OK);
  assert_int_equal(sqlite3_exec(conn,
                                "INSERT INTO accounts (email, password_hash, created_at, "
                                "terms_accepted_at, email_consent_at, confirmed_at) VALUES "
                                "('max@example.de', 'x', 1, 1, 1, 1)",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  f->account = sqlite3_last_insert_rowid(conn);
  assert_int_equal(
      ks_session_insert(conn, f->account, KS_SESSION_SECOND_FACTOR_SETUP, T0, f->token, NULL),
      KF_OK);
  json_t *body = json_pack("{s:I}", "frozen_time", (json_int_t)T0);
  kf_http_answer a = http(f, "POST", "/test/v1/clocks", NULL, body);
  json_decref(body);
  json_t *clock = answer_json(&a, 201);
  assert_int_equal(
      kf_str_copy(f->clock, sizeof f->clock, json_string_value(json_object_get(clock, "id"))),
      KF_OK);
  json_decref(clock);
  *state = f;
  return 0;
}

static int fixture_teardown(void **state) {
  fixture *f = *state;
  kt_server_close(&f->s);
  test_free(f);
  return 0;
}

/* The challenge (and the user handle, when asked) of an options answer. */
static json_t *options(fixture *f, const char *path, const char *token, unsigned char *chal,
                       size_t *chal_len) {
  kf_http_answer a = http(f, "POST", path, token, NULL);
  json_t *o = answer_json(&a, 200);
  const char *c = json_string_value(json_object_get(o, "challenge"));
  assert_non_null(c);
  assert_true(ks_wa_b64url_decode(c, strlen(c), chal, KS_WA_CHALLENGE_MAX, chal_len));
  assert_int_equal(*chal_len, KS_PK_CHALLENGE_LEN);
  return o;
}

static kf_http_answer register_with(fixture *f, const char *token, const json_t *cred) {
  json_t *body = json_pack("{s:O, s:s}", "credential", cred, "name", "Laptop");
  kf_http_answer a = http(f, "POST", "/api/v1/passkeys", token, body);
  json_decref(body);
  return a;
}

static kf_http_answer login_with(fixture *f, const json_t *cred) {
  json_t *body = json_pack("{s:O}", "credential", cred);
  kf_http_answer a = http(f, "POST", "/api/v1/passkey-logins", NULL, body);
  json_decref(body);
  return a;
}

/* How many sessions are at stage full. */
static int64_t full_sessions(fixture *f) {
  int64_t n = 0;
  assert_int_equal(
      kt_server_scalar(&f->s, "SELECT count(*) FROM sessions WHERE stage = 'full'", &n, NULL),
      KF_OK);
  return n;
}

#define REG_OPTIONS "/api/v1/passkeys/registration-options"
#define LOGIN_OPTIONS "/api/v1/passkey-logins/options"

/* Register after a password login, then log in with the passkey alone (PK-01, PK-02, PK-04). */
static void test_register_then_log_in(void **state) {
  fixture *f = *state;
  unsigned char chal[KS_WA_CHALLENGE_MAX], user[KS_WA_USER_HANDLE_MAX];
  size_t chal_len = 0, user_len = 0;
  json_t *o = options(f, REG_OPTIONS, f->token, chal, &chal_len);
  const char *uid = json_string_value(json_object_get(json_object_get(o, "user"), "id"));
  assert_true(ks_wa_b64url_decode(uid, strlen(uid), user, sizeof user, &user_len));
  assert_int_equal(user_len, KS_PK_USER_HANDLE_LEN);
  assert_string_equal(json_string_value(json_object_get(json_object_get(o, "rp"), "id")),
                      "127.0.0.1");
  assert_string_equal(json_string_value(json_object_get(json_object_get(o, "user"), "name")),
                      "max@example.de");
  assert_int_equal(json_array_size(json_object_get(o, "excludeCredentials")), 0);
  json_decref(o);
  kt_wa_key k;
  assert_int_equal(kt_wa_key_init(&k, 16), KF_OK);
  kt_wa_knobs kn;
  kt_wa_knobs_init(&kn, chal, chal_len, true);
  json_t *cred = NULL;
  assert_int_equal(kt_wa_create(&k, &kn, &cred), KF_OK);
  assert_int_equal(full_sessions(f), 0);
  kf_http_answer a = register_with(f, f->token, cred);
  json_t *made = answer_json(&a, 201);
  assert_string_equal(json_string_value(json_object_get(made, "name")), "Laptop");
  assert_int_equal(full_sessions(f), 1);
  /* The same answer again: its challenge is used. */
  expect_error(register_with(f, f->token, cred), 400, "PK_CHALLENGE_UNKNOWN");
  json_decref(cred);
  /* The same credential with a fresh challenge: excluded in the options, refused as taken. */
  o = options(f, REG_OPTIONS, f->token, chal, &chal_len);
  assert_int_equal(json_array_size(json_object_get(o, "excludeCredentials")), 1);
  json_decref(o);
  kt_wa_knobs_init(&kn, chal, chal_len, true);
  assert_int_equal(kt_wa_create(&k, &kn, &cred), KF_OK);
  expect_error(register_with(f, f->token, cred), 400, "PK_CREDENTIAL_ID_TAKEN");
  json_decref(cred);
  /* Log in with it alone. */
  o = options(f, LOGIN_OPTIONS, NULL, chal, &chal_len);
  assert_int_equal(json_array_size(json_object_get(o, "allowCredentials")), 0);
  json_decref(o);
  kt_wa_knobs_init(&kn, chal, chal_len, false);
  kn.user_handle = user;
  kn.user_handle_len = user_len;
  assert_int_equal(kt_wa_get(&k, &kn, &cred), KF_OK);
  a = login_with(f, cred);
  json_t *session = answer_json(&a, 201);
  assert_string_equal(json_string_value(json_object_get(session, "stage")), "full");
  expect_error(login_with(f, cred), 401, "PK_CHALLENGE_UNKNOWN");
  json_decref(cred);
  /* The list, with the new session; then removal, and the removed passkey cannot log in. */
  const char *token = json_string_value(json_object_get(session, "token"));
  a = http(f, "GET", "/api/v1/passkeys", token, NULL);
  json_t *list = answer_json(&a, 200);
  json_t *first = json_array_get(json_object_get(list, "passkeys"), 0);
  assert_true(json_is_string(json_object_get(first, "last_used_at")));
  char path[128];
  assert_int_equal(kf_str_format(path, sizeof path, "/api/v1/passkeys/%s",
                                 json_string_value(json_object_get(made, "id"))),
                   KF_OK);
  a = http(f, "DELETE", path, token, NULL);
  assert_int_equal(a.status, 204);
  kf_http_answer_release(&a);
  expect_error(http(f, "DELETE", path, token, NULL), 404, "PASSKEY_NOT_FOUND");
  o = options(f, LOGIN_OPTIONS, NULL, chal, &chal_len);
  json_decref(o);
  kt_wa_knobs_init(&kn, chal, chal_len, false);
  kn.user_handle = user;
  kn.user_handle_len = user_len;
  assert_int_equal(kt_wa_get(&k, &kn, &cred), KF_OK);
  expect_error(login_with(f, cred), 401, "PK_CREDENTIAL_UNKNOWN");
  json_decref(cred);
  json_decref(list);
  json_decref(session);
  json_decref(made);
  kt_wa_key_release(&k);
}

/* A challenge is valid 300 s on the clock: at +299 accepted, at +300 expired. */
static void test_challenge_expires_on_the_clock(void **state) {
  fixture *f = *state;
  unsigned char chal[KS_WA_CHALLENGE_MAX];
  size_t chal_len = 0;
  kt_wa_key k;
  assert_int_equal(kt_wa_key_init(&k, 16), KF_OK);
  kt_wa_knobs kn;
  const char *answers[] = {"PK_CHALLENGE_EXPIRED", NULL};
  for (int i = 0; i < 2; i++) {
    json_decref(options(f, REG_OPTIONS, f->token, chal, &chal_len));
    char path[128];
    assert_int_equal(kf_str_format(path, sizeof path, "/test/v1/clocks/%s/advance", f->clock),
                     KF_OK);
    json_t *step = json_pack("{s:i}", "seconds", i == 0 ? 300 : 299);
    kf_http_answer a = http(f, "POST", path, NULL, step);
    json_decref(step);
    kf_http_answer_release(&a);
    kt_wa_knobs_init(&kn, chal, chal_len, true);
    json_t *cred = NULL;
    assert_int_equal(kt_wa_create(&k, &kn, &cred), KF_OK);
    if (answers[i] != NULL) {
      expect_error(register_with(f, f->token, cred), 400, answers[i]);
    } else {
      a = register_with(f, f->token, cred);
      assert_int_equal(a.status, 201);
      kf_http_answer_release(&a);
    }
    json_decref(cred);
  }
  kt_wa_key_release(&k);
}

/* A session waiting for its TOTP code sets up no passkey; a bad name loses no challenge. */
static void test_stage_and_name(void **state) {
  fixture *f = *state;
  sqlite3 *conn = NULL;
  char token[KS_TOKEN_HEX_LEN + 1];
  assert_int_equal(ks_db_conn(f->s.srv.db, &conn, NULL), KF_OK);
  assert_int_equal(ks_session_insert(conn, f->account, KS_SESSION_SECOND_FACTOR, T0, token, NULL),
                   KF_OK);
  expect_error(http(f, "POST", REG_OPTIONS, token, NULL), 403, "SECOND_FACTOR_REQUIRED");
  unsigned char chal[KS_WA_CHALLENGE_MAX];
  size_t chal_len = 0;
  json_decref(options(f, REG_OPTIONS, f->token, chal, &chal_len));
  kt_wa_key k;
  assert_int_equal(kt_wa_key_init(&k, 16), KF_OK);
  kt_wa_knobs kn;
  kt_wa_knobs_init(&kn, chal, chal_len, true);
  json_t *cred = NULL;
  assert_int_equal(kt_wa_create(&k, &kn, &cred), KF_OK);
  json_t *body = json_pack("{s:O, s:i}", "credential", cred, "name", 5);
  expect_error(http(f, "POST", "/api/v1/passkeys", f->token, body), 400, "VALIDATION_FAILED");
  json_decref(body);
  kf_http_answer a = register_with(f, f->token, cred);
  assert_int_equal(a.status, 201);
  kf_http_answer_release(&a);
  /* Without a credential at all. */
  body = json_pack("{}");
  expect_error(http(f, "POST", "/api/v1/passkeys", f->token, body), 400, "PK_CREDENTIAL_MALFORMED");
  expect_error(http(f, "POST", "/api/v1/passkey-logins", NULL, body), 401,
               "PK_CREDENTIAL_MALFORMED");
  json_decref(body);
  json_decref(cred);
  kt_wa_key_release(&k);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_none_and_packed_registrations_verify),
      cmocka_unit_test(test_each_registration_check_has_its_code),
      cmocka_unit_test(test_registration_shapes_are_malformed),
      cmocka_unit_test(test_first_failure_in_order),
      cmocka_unit_test(test_faults_switch_their_check_off),
      cmocka_unit_test(test_assertion_verifies_and_counts),
      cmocka_unit_test(test_each_assertion_check_has_its_code),
      cmocka_unit_test_setup_teardown(test_register_then_log_in, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_challenge_expires_on_the_clock, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(test_stage_and_name, fixture_setup, fixture_teardown),
  };
  return cmocka_run_group_tests_name("server webauthn", tests, NULL, NULL);
}
