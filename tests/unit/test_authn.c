/*
 * Unit tests for kh_authn, the virtual passkey authenticator: what it makes
 * decodes as WebAuthn says (clientDataJSON, authenticator data, CBOR
 * attestation object, COSE key, signatures that verify), the counter moves,
 * and every knob changes exactly the part its row names: each negative case
 * is compared field by field with an honest ceremony of the same options.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cbor.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <string.h>

#include "kf/alloc.h"
#include "kh_authn.h"
#include "kh_parse.h"
#include "kh_step_passkey.h"
#include "kt_alloc.h"

#define ORIGIN "http://127.0.0.1:8480"
#define RP_ID "127.0.0.1"

/* The parts of a response a knob may change; deterministic across two ceremonies. */
enum {
  F_TYPE = 1 << 0,
  F_CHALLENGE = 1 << 1,
  F_ORIGIN = 1 << 2,
  F_CROSS = 1 << 3,
  F_TOP = 1 << 4,
  F_EXTRA = 1 << 5, /* clientDataJSON members beyond the standard ones. */
  F_RPHASH = 1 << 6,
  F_FLAGS = 1 << 7,
  F_COUNT = 1 << 8,
  F_IDLEN = 1 << 9,
  F_KEYALG = 1 << 10,
  F_FMT = 1 << 11,
  F_STMT = 1 << 12, /* How many members attStmt has. */
  F_STMTALG = 1 << 13,
  F_SIG = 1 << 14,  /* Whether the signature verifies. */
  F_FORM = 1 << 15, /* Whether the authenticator data is well formed. */
  F_USER = 1 << 16,
};

typedef struct view {
  char type[64], challenge[256], origin[256], top[256];
  int cross, extra;
  unsigned char rp_hash[32];
  unsigned flags;
  uint32_t count;
  unsigned char id[1024];
  size_t id_len;
  long long key_alg;
  bool form;
  char fmt[64];
  size_t stmt_len;
  long long stmt_alg;
  bool sig;
  unsigned char user[64];
  size_t user_len;
  unsigned char ad[2048];
  size_t ad_len;
} view;

static json_t *create_options(void) {
  /* 32 bytes of 0x11 and of 0x22. */
  return json_pack("{s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s}, s:[{s:s, s:i}], s:i, s:[], "
                   "s:{s:s, s:s}, s:s}",
                   "challenge", "ERERERERERERERERERERERERERERERERERERERERERE", "rp", "id", RP_ID,
                   "name", "Jobcenter.Digital", "user", "id",
                   "IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI", "name", "max", "displayName",
                   "max", "pubKeyCredParams", "type", "public-key", "alg", -7, "timeout", 300000,
                   "excludeCredentials", "authenticatorSelection", "residentKey", "required",
                   "userVerification", "required", "attestation", "none");
}

static json_t *get_options(void) {
  return json_pack("{s:s, s:s, s:i, s:s, s:[]}", "challenge",
                   "MzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzM", "rpId", RP_ID, "timeout", 300000,
                   "userVerification", "required", "allowCredentials");
}

static kh_authn_params params(bool packed, const kh_authn_knob *knobs, size_t n) {
  kh_authn_params p = {
      .origin = ORIGIN, .rp_id = RP_ID, .packed = packed, .knobs = knobs, .knobs_len = n};
  return p;
}

static size_t b64(const char *s, unsigned char *out, size_t cap) {
  size_t len = 0;
  assert_non_null(s);
  assert_int_equal(kh_authn_b64url_decode(s, strlen(s), out, cap, &len), KF_OK);
  return len;
}

static long long cbor_int(const cbor_item_t *it) {
  if (cbor_isa_uint(it))
    return (long long)cbor_get_int(it);
  assert_true(cbor_isa_negint(it));
  return -1 - (long long)cbor_get_int(it);
}

/* The value of text key k in CBOR map m, or NULL. */
static cbor_item_t *cbor_get(const cbor_item_t *m, const char *k) {
  struct cbor_pair *p = cbor_map_handle(m);
  for (size_t i = 0; i < cbor_map_size(m); i++) {
    if (cbor_isa_string(p[i].key) && cbor_string_length(p[i].key) == strlen(k) &&
        memcmp(cbor_string_handle(p[i].key), k, strlen(k)) == 0)
      return p[i].value;
  }
  return NULL;
}

/* The COSE key at data: its alg; the rest must be EC2 P-256 with 32-byte x and y. */
static size_t view_cose(view *v, const unsigned char *data, size_t len) {
  struct cbor_load_result r;
  cbor_item_t *k = cbor_load(data, len, &r);
  if (k == NULL)
    return 0;
  assert_true(cbor_isa_map(k));
  struct cbor_pair *p = cbor_map_handle(k);
  assert_int_equal(cbor_map_size(k), 5);
  assert_int_equal(cbor_int(p[0].key), 1);
  assert_int_equal(cbor_int(p[0].value), 2);
  assert_int_equal(cbor_int(p[1].key), 3);
  v->key_alg = cbor_int(p[1].value);
  assert_int_equal(cbor_int(p[2].value), 1);
  assert_int_equal(cbor_bytestring_length(p[3].value), 32);
  assert_int_equal(cbor_bytestring_length(p[4].value), 32);
  cbor_decref(&k);
  return r.read;
}

/* authenticatorData (§6.1) into v; form tells whether it parsed exactly. */
static void view_auth_data(view *v, const unsigned char *ad, size_t len) {
  memcpy(v->ad, ad, len);
  v->ad_len = len;
  if (len < 37)
    return;
  memcpy(v->rp_hash, ad, 32);
  v->flags = ad[32];
  v->count = (uint32_t)ad[33] << 24 | (uint32_t)ad[34] << 16 | (uint32_t)ad[35] << 8 | ad[36];
  size_t n = 37;
  if (v->flags & 0x40) {
    if (len < n + 18)
      return;
    v->id_len = (size_t)ad[n + 16] << 8 | ad[n + 17];
    n += 18;
    if (len < n + v->id_len)
      return;
    memcpy(v->id, ad + n, v->id_len);
    n += v->id_len;
    size_t k = view_cose(v, ad + n, len - n);
    if (k == 0)
      return;
    n += k;
  }
  v->form = n == len;
}

static bool verify(const char *spki_b64, const unsigned char *ad, size_t ad_len, const char *cd,
                   size_t cd_len, const unsigned char *sig, size_t sig_len) {
  unsigned char der[256], tbs[2048 + 32];
  size_t der_len = b64(spki_b64, der, sizeof der);
  const unsigned char *p = der;
  EVP_PKEY *key = d2i_PUBKEY(NULL, &p, (long)der_len);
  assert_non_null(key);
  memcpy(tbs, ad, ad_len);
  crypto_hash_sha256(tbs + ad_len, (const unsigned char *)cd, cd_len);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
            EVP_DigestVerify(md, sig, sig_len, tbs, ad_len + 32) == 1;
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(key);
  return ok;
}

static void view_client_data(view *v, const json_t *resp, char *cd, size_t cap, size_t *cd_len) {
  *cd_len =
      b64(json_string_value(json_object_get(resp, "clientDataJSON")), (unsigned char *)cd, cap - 1);
  cd[*cd_len] = '\0';
  json_t *j = json_loads(cd, 0, NULL);
  assert_non_null(j);
  snprintf(v->type, sizeof v->type, "%s", json_string_value(json_object_get(j, "type")));
  snprintf(v->challenge, sizeof v->challenge, "%s",
           json_string_value(json_object_get(j, "challenge")));
  snprintf(v->origin, sizeof v->origin, "%s", json_string_value(json_object_get(j, "origin")));
  const char *top = json_string_value(json_object_get(j, "topOrigin"));
  snprintf(v->top, sizeof v->top, "%s", top != NULL ? top : "");
  v->cross = json_is_true(json_object_get(j, "crossOrigin"));
  v->extra = (int)json_object_size(j) - 4 - (top != NULL);
  json_decref(j);
}

/* Decode a response; spki: the credential's public key (a get), NULL: the response's own. */
static void view_of(const char *response, const char *spki, view *v) {
  memset(v, 0, sizeof *v);
  json_t *j = json_loads(response, 0, NULL);
  assert_non_null(j);
  assert_string_equal(json_string_value(json_object_get(j, "type")), "public-key");
  assert_string_equal(json_string_value(json_object_get(j, "id")),
                      json_string_value(json_object_get(j, "rawId")));
  assert_true(json_is_object(json_object_get(j, "clientExtensionResults")));
  const json_t *resp = json_object_get(j, "response");
  char cd[4096];
  size_t cd_len = 0;
  view_client_data(v, resp, cd, sizeof cd, &cd_len);
  unsigned char buf[4096], sig[128];
  const char *ao = json_string_value(json_object_get(resp, "attestationObject"));
  if (ao != NULL) {
    size_t len = b64(ao, buf, sizeof buf);
    struct cbor_load_result r;
    cbor_item_t *m = cbor_load(buf, len, &r);
    assert_non_null(m);
    assert_int_equal(r.read, len);
    cbor_item_t *ad = cbor_get(m, "authData"), *st = cbor_get(m, "attStmt");
    cbor_item_t *fmt = cbor_get(m, "fmt");
    snprintf(v->fmt, sizeof v->fmt, "%.*s", (int)cbor_string_length(fmt),
             (const char *)cbor_string_handle(fmt));
    view_auth_data(v, cbor_bytestring_handle(ad), cbor_bytestring_length(ad));
    v->stmt_len = cbor_map_size(st);
    if (cbor_get(st, "alg") != NULL)
      v->stmt_alg = cbor_int(cbor_get(st, "alg"));
    cbor_item_t *s = cbor_get(st, "sig");
    if (s != NULL)
      v->sig = verify(json_string_value(json_object_get(resp, "publicKey")), v->ad, v->ad_len, cd,
                      cd_len, cbor_bytestring_handle(s), cbor_bytestring_length(s));
    cbor_decref(&m);
  } else {
    size_t len =
        b64(json_string_value(json_object_get(resp, "authenticatorData")), buf, sizeof buf);
    view_auth_data(v, buf, len);
    size_t sl = b64(json_string_value(json_object_get(resp, "signature")), sig, sizeof sig);
    v->sig = verify(spki, v->ad, v->ad_len, cd, cd_len, sig, sl);
    v->user_len =
        b64(json_string_value(json_object_get(resp, "userHandle")), v->user, sizeof v->user);
    size_t id_len = b64(json_string_value(json_object_get(j, "id")), v->id, sizeof v->id);
    assert_int_equal(id_len, 32);
  }
  json_decref(j);
}

static unsigned view_diff(const view *a, const view *b) {
  unsigned d = 0;
  d |= strcmp(a->type, b->type) != 0 ? F_TYPE : 0;
  d |= strcmp(a->challenge, b->challenge) != 0 ? F_CHALLENGE : 0;
  d |= strcmp(a->origin, b->origin) != 0 ? F_ORIGIN : 0;
  d |= a->cross != b->cross ? F_CROSS : 0;
  d |= strcmp(a->top, b->top) != 0 ? F_TOP : 0;
  d |= a->extra != b->extra ? F_EXTRA : 0;
  d |= memcmp(a->rp_hash, b->rp_hash, 32) != 0 ? F_RPHASH : 0;
  d |= a->flags != b->flags ? F_FLAGS : 0;
  d |= a->count != b->count ? F_COUNT : 0;
  d |= a->id_len != b->id_len ? F_IDLEN : 0;
  d |= a->key_alg != b->key_alg ? F_KEYALG : 0;
  d |= strcmp(a->fmt, b->fmt) != 0 ? F_FMT : 0;
  d |= a->stmt_len != b->stmt_len ? F_STMT : 0;
  d |= a->stmt_alg != b->stmt_alg ? F_STMTALG : 0;
  d |= a->sig != b->sig ? F_SIG : 0;
  d |= a->form != b->form ? F_FORM : 0;
  d |= a->user_len != b->user_len || memcmp(a->user, b->user, a->user_len) != 0 ? F_USER : 0;
  return d;
}

/* A registration made honestly (packed unless said): its response, credential and view. */
typedef struct made {
  kh_authn_result res;
  view v;
} made;

static void make_create(bool packed, const kh_authn_knob *knobs, size_t n, made *m) {
  json_t *o = create_options();
  kh_authn_params p = params(packed, knobs, n);
  kh_authn_result_init(&m->res);
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = kh_authn_create(o, &p, &m->res, &err);
  if (rc != KF_OK)
    fail_msg("create: %s", err.message);
  json_decref(o);
  view_of(m->res.response, NULL, &m->v);
}

/* The credential's public key (SPKI) from its registration response. */
static char *spki_of(const char *registration) {
  json_t *j = json_loads(registration, 0, NULL);
  char *s =
      kf_strdup(json_string_value(json_object_get(json_object_get(j, "response"), "publicKey")));
  json_decref(j);
  return s;
}

/* An assertion with credential (its JSON), registered as reg. */
static void make_get_with(const made *reg, const char *credential, const kh_authn_knob *knobs,
                          size_t n, made *m) {
  json_t *o = get_options();
  kh_authn_params p = params(false, knobs, n);
  kh_authn_result_init(&m->res);
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = kh_authn_get(o, credential, &p, &m->res, &err);
  if (rc != KF_OK)
    fail_msg("get: %s", err.message);
  json_decref(o);
  char *spki = spki_of(reg->res.response);
  view_of(m->res.response, spki, &m->v);
  kf_free(spki);
}

static void make_get(const made *reg, const kh_authn_knob *knobs, size_t n, made *m) {
  make_get_with(reg, reg->res.credential, knobs, n, m);
}

static void test_registration_none(void **state) {
  (void)state;
  made m;
  make_create(false, NULL, 0, &m);
  assert_string_equal(m.v.type, "webauthn.create");
  assert_string_equal(m.v.challenge, "ERERERERERERERERERERERERERERERERERERERERERE");
  assert_string_equal(m.v.origin, ORIGIN);
  assert_int_equal(m.v.cross, 0);
  assert_int_equal(m.v.extra, 0);
  unsigned char h[32];
  crypto_hash_sha256(h, (const unsigned char *)RP_ID, strlen(RP_ID));
  assert_memory_equal(m.v.rp_hash, h, 32);
  assert_int_equal(m.v.flags, 0x01 | 0x04 | 0x40); /* UP, UV, AT; not BE, BS, ED. */
  assert_int_equal(m.v.count, 1);
  assert_int_equal(m.v.id_len, 32);
  assert_int_equal(m.v.key_alg, -7);
  assert_true(m.v.form);
  assert_string_equal(m.v.fmt, "none");
  assert_int_equal(m.v.stmt_len, 0);
  json_t *j = json_loads(m.res.response, 0, NULL);
  const json_t *r = json_object_get(j, "response");
  assert_string_equal(json_string_value(json_array_get(json_object_get(r, "transports"), 0)),
                      "internal");
  assert_int_equal(json_integer_value(json_object_get(r, "publicKeyAlgorithm")), -7);
  /* The JSON copy of the authenticator data is the attestation object's. */
  unsigned char ad[2048];
  size_t ad_len = b64(json_string_value(json_object_get(r, "authenticatorData")), ad, sizeof ad);
  assert_int_equal(ad_len, m.v.ad_len);
  assert_memory_equal(ad, m.v.ad, ad_len);
  /* base64url without padding: no '=', '+' or '/'. */
  assert_null(strpbrk(json_string_value(json_object_get(r, "attestationObject")), "=+/"));
  json_decref(j);
  /* The credential keeps the user handle, the counter and the challenge it signed. */
  json_t *c = json_loads(m.res.credential, 0, NULL);
  assert_string_equal(json_string_value(json_object_get(c, "user")),
                      "IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI");
  assert_int_equal(json_integer_value(json_object_get(c, "count")), 1);
  assert_string_equal(json_string_value(json_object_get(c, "rp_id")), RP_ID);
  json_decref(c);
  assert_non_null(strstr(m.res.client_data, "\"type\":\"webauthn.create\""));
  kh_authn_result_release(&m.res);
}

static void test_registration_packed(void **state) {
  (void)state;
  made m;
  make_create(true, NULL, 0, &m);
  assert_string_equal(m.v.fmt, "packed");
  assert_int_equal(m.v.stmt_len, 2); /* alg and sig only: self attestation has no x5c. */
  assert_int_equal(m.v.stmt_alg, -7);
  assert_true(m.v.sig);
  kh_authn_result_release(&m.res);
}

static void test_assertions_count(void **state) {
  (void)state;
  made reg, a1, a2;
  make_create(false, NULL, 0, &reg);
  make_get(&reg, NULL, 0, &a1);
  assert_string_equal(a1.v.type, "webauthn.get");
  assert_int_equal(a1.v.flags, 0x01 | 0x04);
  assert_int_equal(a1.v.ad_len, 37);
  assert_true(a1.v.form);
  assert_true(a1.v.sig);
  assert_int_equal(a1.v.count, 2);
  assert_int_equal(a1.v.user_len, 32);
  assert_memory_equal(a1.v.user, "\x22\x22\x22\x22", 4);
  assert_memory_equal(a1.v.id, reg.v.id, 32);
  /* The next get counts on from the credential the first one left. */
  make_get_with(&reg, a1.res.credential, NULL, 0, &a2);
  assert_int_equal(a2.v.count, 3);
  assert_true(a2.v.sig);
  kh_authn_result_release(&reg.res);
  kh_authn_result_release(&a1.res);
  kh_authn_result_release(&a2.res);
}

typedef struct knob_case {
  const char *name;
  bool get;
  const char *arg; /* "@other": another credential's JSON; "@opts": other options. */
  unsigned changes;
} knob_case;

static const knob_case knob_cases[] = {
    {"type-wrong", false, NULL, F_TYPE},
    {"type-wrong", true, NULL, F_TYPE},
    {"challenge-unknown", false, NULL, F_CHALLENGE},
    {"challenge-unknown", true, NULL, F_CHALLENGE},
    {"challenge-stale", true, "@opts", F_CHALLENGE},
    {"challenge-foreign", false, "@opts", F_CHALLENGE},
    {"challenge-reused", true, NULL, F_CHALLENGE},
    {"challenge-reused", false, "@other", 0}, /* The other's was the same options' challenge. */
    {"origin-wrong", false, NULL, F_ORIGIN},
    {"origin-wrong", true, "http://127.0.0.1:9999", F_ORIGIN},
    {"cross-origin", true, NULL, F_CROSS},
    {"top-origin", false, NULL, F_TOP},
    {"client-data-edited", false, NULL, F_EXTRA | F_SIG},
    {"client-data-edited", true, NULL, F_EXTRA | F_SIG},
    {"rp-id-other", false, NULL, F_RPHASH},
    {"rp-id-other", true, NULL, F_RPHASH},
    {"up-clear", false, NULL, F_FLAGS},
    {"up-clear", true, NULL, F_FLAGS},
    {"uv-clear", true, NULL, F_FLAGS},
    {"bs-without-be", false, NULL, F_FLAGS},
    {"at-missing", false, NULL, F_FLAGS | F_IDLEN | F_KEYALG},
    {"truncated", false, NULL, F_FORM | F_KEYALG},
    {"truncated", true, NULL, F_FORM | F_RPHASH | F_FLAGS | F_COUNT},
    {"trailing-bytes", false, NULL, F_FORM},
    {"trailing-bytes", true, NULL, F_FORM},
    {"fmt-unknown", false, NULL, F_FMT | F_STMT | F_STMTALG | F_SIG},
    {"fmt-wrong-case", false, NULL, F_FMT},
    {"none-with-statement", false, NULL, F_FMT},
    {"packed-wrong-alg", false, NULL, F_STMTALG},
    {"alg-not-offered", false, NULL, F_KEYALG | F_STMTALG},
    {"cred-id-long", false, NULL, F_IDLEN},
    {"cred-id-duplicate", false, "@other", 0},
    {"sig-bit-flipped", false, NULL, F_SIG},
    {"sig-bit-flipped", true, NULL, F_SIG},
    {"sig-other-key", false, NULL, F_SIG},
    {"sig-other-key", true, NULL, F_SIG},
    {"user-handle-other", true, "@other", F_USER},
    {"counter-back", true, NULL, F_COUNT},
    {"counter-still", true, NULL, F_COUNT},
};

/* Another account's credential: its own user handle (0x44...). */
static void make_other(made *m) {
  json_t *o = create_options();
  json_object_set_new(json_object_get(o, "user"), "id",
                      json_string("RERERERERERERERERERERERERERERERERERERERERERE"));
  kh_authn_params p = params(false, NULL, 0);
  kh_authn_result_init(&m->res);
  kf_err err;
  assert_int_equal(kh_authn_create(o, &p, &m->res, &err), KF_OK);
  json_decref(o);
}

static void run_knob_case(const knob_case *kc, const made *reg, const made *honest_get,
                          const made *honest_create, const made *other) {
  const kh_authn_fault_def *def = kh_authn_fault_find(kc->name, strlen(kc->name));
  assert_non_null(def);
  const char *arg = kc->arg;
  if (arg != NULL && strcmp(arg, "@other") == 0)
    arg = other->res.credential;
  else if (arg != NULL && strcmp(arg, "@opts") == 0)
    arg = "{\"challenge\":\"VVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVU\"}";
  kh_authn_knob k = {def->fault, arg};
  made m;
  if (kc->get)
    make_get(reg, &k, 1, &m);
  else
    make_create(true, &k, 1, &m);
  unsigned d = view_diff(kc->get ? &honest_get->v : &honest_create->v, &m.v);
  if (d != kc->changes)
    fail_msg("%s (%s): changed 0x%x, expected 0x%x", kc->name, kc->get ? "get" : "create", d,
             kc->changes);
  kh_authn_result_release(&m.res);
}

static void test_knobs_change_what_they_say(void **state) {
  (void)state;
  made reg, honest_get, honest_create, other;
  make_create(true, NULL, 0, &honest_create);
  make_create(false, NULL, 0, &reg);
  make_get(&reg, NULL, 0, &honest_get);
  make_other(&other);
  for (size_t i = 0; i < sizeof knob_cases / sizeof knob_cases[0]; i++)
    run_knob_case(&knob_cases[i], &reg, &honest_get, &honest_create, &other);
  /* Every knob of the table has a case here. */
  for (const char *const *n = kh_authn_fault_names(); *n != NULL; n++) {
    bool found = false;
    for (size_t i = 0; i < sizeof knob_cases / sizeof knob_cases[0]; i++)
      found = found || strcmp(knob_cases[i].name, *n) == 0;
    if (!found)
      fail_msg("knob %s has no test case", *n);
  }
  kh_authn_result_release(&reg.res);
  kh_authn_result_release(&honest_get.res);
  kh_authn_result_release(&honest_create.res);
  kh_authn_result_release(&other.res);
}

/* The knobs whose value the case table only sees as "something changed": the exact values. */
static void test_knob_values(void **state) {
  (void)state;
  made reg, other, m;
  make_create(false, NULL, 0, &reg);
  make_other(&other);
  kh_authn_knob k = {KH_AUTHN_FAULT_BS_WITHOUT_BE, NULL};
  make_create(true, &k, 1, &m);
  assert_int_equal(m.v.flags, 0x01 | 0x04 | 0x10 | 0x40);
  kh_authn_result_release(&m.res);
  k = (kh_authn_knob){KH_AUTHN_FAULT_UV_CLEAR, NULL};
  make_get(&reg, &k, 1, &m);
  assert_int_equal(m.v.flags, 0x01);
  kh_authn_result_release(&m.res);
  k = (kh_authn_knob){KH_AUTHN_FAULT_CRED_ID_LONG, NULL};
  make_create(false, &k, 1, &m);
  assert_int_equal(m.v.id_len, 1024);
  kh_authn_result_release(&m.res);
  k = (kh_authn_knob){KH_AUTHN_FAULT_CRED_ID_DUPLICATE, other.res.credential};
  made dup;
  make_create(false, &k, 1, &dup);
  view ov;
  view_of(other.res.response, NULL, &ov);
  assert_memory_equal(dup.v.id, ov.id, 32);
  kh_authn_result_release(&dup.res);
  k = (kh_authn_knob){KH_AUTHN_FAULT_COUNTER_BACK, NULL};
  make_get(&reg, &k, 1, &m);
  assert_int_equal(m.v.count, 0);
  /* A refused counter is not what the next honest get counts from. */
  json_t *c = json_loads(m.res.credential, 0, NULL);
  assert_int_equal(json_integer_value(json_object_get(c, "count")), 1);
  json_decref(c);
  kh_authn_result_release(&m.res);
  k = (kh_authn_knob){KH_AUTHN_FAULT_USER_HANDLE_OTHER, other.res.credential};
  make_get(&reg, &k, 1, &m);
  assert_memory_equal(m.v.user, "\x44\x44\x44\x44", 4);
  kh_authn_result_release(&m.res);
  kh_authn_result_release(&reg.res);
  kh_authn_result_release(&other.res);
}

static void test_refusals(void **state) {
  (void)state;
  json_t *o = create_options();
  kh_authn_result res;
  kh_authn_result_init(&res);
  kf_err err;
  kf_err_init(&err);
  /* A signature knob with fmt none has nothing to break. */
  kh_authn_knob k = {KH_AUTHN_FAULT_SIG_BIT_FLIPPED, NULL};
  kh_authn_params p = params(false, &k, 1);
  assert_int_equal(kh_authn_create(o, &p, &res, &err), KF_ERR_UNSUPPORTED);
  assert_null(res.response);
  /* A knob of the other ceremony, a missing or a spare argument. */
  k = (kh_authn_knob){KH_AUTHN_FAULT_COUNTER_BACK, NULL};
  assert_int_equal(kh_authn_create(o, &p, &res, &err), KF_ERR_UNSUPPORTED);
  k = (kh_authn_knob){KH_AUTHN_FAULT_CRED_ID_DUPLICATE, NULL};
  assert_int_equal(kh_authn_create(o, &p, &res, &err), KF_ERR_INVALID);
  k = (kh_authn_knob){KH_AUTHN_FAULT_UP_CLEAR, "x"};
  assert_int_equal(kh_authn_create(o, &p, &res, &err), KF_ERR_INVALID);
  /* Options a browser refuses: no ES256, a challenge that is not base64url. */
  p = params(false, NULL, 0);
  json_object_set_new(o, "pubKeyCredParams",
                      json_pack("[{s:s, s:i}]", "type", "public-key", "alg", -257));
  assert_int_equal(kh_authn_create(o, &p, &res, &err), KF_ERR_INVALID);
  assert_non_null(strstr(err.message, "ES256"));
  json_decref(o);
  o = create_options();
  json_object_set_new(o, "challenge", json_string("ERER=="));
  assert_int_equal(kh_authn_create(o, &p, &res, &err), KF_ERR_INVALID);
  json_decref(o);
  /* Request options whose allowCredentials do not list the credential. */
  o = create_options();
  assert_int_equal(kh_authn_create(o, &p, &res, &err), KF_OK);
  json_decref(o);
  o = get_options();
  json_object_set_new(o, "allowCredentials",
                      json_pack("[{s:s, s:s}]", "type", "public-key", "id", "AAAA"));
  kh_authn_result got;
  kh_authn_result_init(&got);
  assert_int_equal(kh_authn_get(o, res.credential, &p, &got, &err), KF_ERR_INVALID);
  assert_int_equal(kh_authn_get(o, "{}", &p, &got, &err), KF_ERR_INVALID);
  json_decref(o);
  kh_authn_result_release(&res);
}

static void test_b64url(void **state) {
  (void)state;
  unsigned char out[8];
  size_t len = 0;
  assert_int_equal(kh_authn_b64url_decode("AQID", 4, out, sizeof out, &len), KF_OK);
  assert_int_equal(len, 3);
  assert_int_equal(kh_authn_b64url_decode("AQ==", 4, out, sizeof out, &len), KF_ERR_INVALID);
  assert_int_equal(kh_authn_b64url_decode("A+/A", 4, out, sizeof out, &len), KF_ERR_INVALID);
  assert_int_equal(kh_authn_b64url_decode("AAAAAAAAAAAAAAAA", 16, out, sizeof out, &len),
                   KF_ERR_LIMIT);
  char *s = kh_authn_b64url((const unsigned char *)"\xfb\xff", 2);
  assert_string_equal(s, "-_8");
  kf_free(s);
}

/* The passkey step as the parser reads it, and its errors with their hints. */
static void test_step_parse(void **state) {
  (void)state;
  const char *ok = "scenario: s\ncovers: PK-03\n"
                   "passkey create k from \"{{o}}\" fault cred-id-duplicate \"{{j}}\" fmt packed "
                   "origin \"http://x\" fault up-clear into r\n"
                   "passkey get k into a from \"{{o}}\" rp-id \"x\"\n";
  kh_file *file = NULL;
  kh_diag diag;
  kh_diag_init(&diag);
  assert_int_equal(kh_parse_text("t.konform", ok, strlen(ok), &file, &diag), KF_OK);
  const kh_passkey_step *c = file->scenarios[0].steps[0].data;
  assert_true(c->create && c->packed);
  assert_string_equal(c->key, "k");
  assert_string_equal(c->into, "r");
  assert_int_equal(c->knobs_len, 2);
  assert_int_equal(c->knobs[0].def->fault, KH_AUTHN_FAULT_CRED_ID_DUPLICATE);
  assert_string_equal(c->knobs[0].arg.text, "{{j}}");
  assert_null(c->knobs[1].arg.text);
  assert_string_equal(c->origin.text, "http://x");
  const kh_passkey_step *g = file->scenarios[0].steps[1].data;
  assert_false(g->create);
  assert_string_equal(g->rp_id.text, "x");
  kh_file_free(file);
  kh_diag_release(&diag);
  static const struct {
    const char *step, *message, *hint;
  } bad[] = {
      {"passkey make k from \"o\" into r", "expected 'create' or 'get'", "create"},
      {"passkey get k from \"o\" fault up-cleer into r", "unknown passkey knob", "up-clear"},
      {"passkey get k from \"o\" fault at-missing into r", "applies to 'passkey create' only",
       "AT"},
      {"passkey get k from \"o\" fmt packed into r", "'fmt' belongs to 'passkey create'", NULL},
      {"passkey create k from \"o\" fault user-handle-other into r", "applies to 'passkey get'",
       NULL},
      {"passkey create k from \"o\" fault cred-id-duplicate into r", "needs a quoted argument",
       NULL},
      {"passkey create k from \"o\" fault up-clear \"x\" into r", "takes no argument", NULL},
      {"passkey create k from \"o\"", "needs 'into VAR'", "into VAR"},
      {"passkey create k into r", "needs 'from", NULL},
      {"passkey create k from \"o\" fmt pakced into r", "'none' or 'packed'", "packed"},
      {"passkey create k from \"o\" into r # why", "'#'", NULL},
      {"passkey create k from \"o\" into k", "would overwrite the credential", "k_response"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char text[512];
    snprintf(text, sizeof text, "scenario: s\ncovers: PK-03\n%s\n", bad[i].step);
    kh_diag_init(&diag);
    file = NULL;
    assert_int_equal(kh_parse_text("t.konform", text, strlen(text), &file, &diag), KF_ERR_PARSE);
    assert_null(file);
    if (strstr(diag.message, bad[i].message) == NULL ||
        (bad[i].hint != NULL && (diag.hint == NULL || strstr(diag.hint, bad[i].hint) == NULL)))
      fail_msg("%s: got %s / hint %s", bad[i].step, diag.message,
               diag.hint != NULL ? diag.hint : "(none)");
    assert_int_equal(diag.line, 3);
    kh_diag_release(&diag);
  }
}

static bool create_body(void *data, const kt_alloc_run *run) {
  const bool *packed = data;
  json_t *o = create_options();
  kh_authn_params p = params(*packed, NULL, 0);
  kh_authn_result res;
  kh_authn_result_init(&res);
  kf_err err;
  kf_err_init(&err);
  kt_alloc_arm(run);
  kf_rc rc = kh_authn_create(o, &p, &res, &err);
  kt_alloc_disarm();
  if (rc != KF_OK) {
    assert_int_equal(rc, KF_ERR_NOMEM);
    assert_null(res.response);
    assert_null(res.credential);
  }
  kh_authn_result_release(&res);
  json_decref(o);
  return rc == KF_OK;
}

static void test_allocation_failures(void **state) {
  (void)state;
  bool packed = false;
  assert_true(kt_alloc_sweep(create_body, &packed) > 1);
  packed = true;
  assert_true(kt_alloc_sweep(create_body, &packed) > 1);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_registration_none),
      cmocka_unit_test(test_registration_packed),
      cmocka_unit_test(test_assertions_count),
      cmocka_unit_test(test_knobs_change_what_they_say),
      cmocka_unit_test(test_knob_values),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_b64url),
      cmocka_unit_test(test_step_parse),
      cmocka_unit_test(test_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
