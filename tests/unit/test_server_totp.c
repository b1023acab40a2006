/*
 * test_server_totp.c: the server's TOTP (ks_totp, ks_totp_api): RFC 6238
 * vectors through liboath, the window's edges and liboath's offset return,
 * Base32, the otpauth URI read back by the harness's app, the QR code SVG
 * (well-formed XML, its size that of a QR code), and the routes in process:
 * setup, activation, the login code with replay refusal and the lockout.
 * Codes are made by the harness's app (kh_totp), which shares no code with
 * liboath.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <liboath/oath.h>
#include <string.h>

#include "kf/log.h"
#include "kf/str.h"
#include "kh_totp.h"
#include "kt_alloc.h"
#include "ks_clock.h"
#include "ks_session.h"
#include "ks_totp.h"
#include "kt_server.h"

#define T0 INT64_C(1790000010)

static const char seed1[] = "12345678901234567890";

/* The harness app for secret (len bytes), SHA1, digits. */
static void app_for(kh_totp_app *app, const unsigned char *secret, size_t len, unsigned digits) {
  memset(app, 0, sizeof *app);
  memcpy(app->secret, secret, len);
  app->secret_len = len;
  app->alg = KH_TOTP_SHA1;
  app->digits = digits;
  app->period = 30;
}

static void app_code(const kh_totp_app *app, int64_t t, char code[KH_TOTP_CODE_SIZE]) {
  assert_int_equal(kh_totp_code(app, t, code, NULL), KF_OK);
}

static void test_rfc6238_through_liboath(void **state) {
  (void)state;
  static const struct {
    int64_t t;
    const char *code;
    int flags;
    const char *seed;
  } v[] = {
      {59, "94287082", 0, "12345678901234567890"},
      {1111111109, "07081804", 0, "12345678901234567890"},
      {1111111111, "14050471", 0, "12345678901234567890"},
      {1234567890, "89005924", 0, "12345678901234567890"},
      {2000000000, "69279037", 0, "12345678901234567890"},
      {20000000000, "65353130", 0, "12345678901234567890"},
      {59, "46119246", OATH_TOTP_HMAC_SHA256, "12345678901234567890123456789012"},
      {59, "90693936", OATH_TOTP_HMAC_SHA512,
       "1234567890123456789012345678901234567890123456789012345678901234"},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    ks_totp_rule rule;
    ks_totp_rule_default(&rule);
    rule.flags = v[i].flags;
    bool match = false;
    int64_t step = -1;
    assert_int_equal(ks_totp_verify((const unsigned char *)v[i].seed, strlen(v[i].seed), v[i].t,
                                    v[i].code, &rule, &match, &step, NULL),
                     KF_OK);
    assert_true(match);
    assert_int_equal(step, v[i].t / 30);
  }
}

static void test_window_edges(void **state) {
  (void)state;
  unsigned char secret[KS_TOTP_SECRET_BYTES];
  ks_totp_secret_new(secret, sizeof secret);
  kh_totp_app app;
  app_for(&app, secret, sizeof secret, 6);
  ks_totp_rule rule, trap;
  ks_totp_rule_default(&rule);
  ks_totp_rule_default(&trap);
  trap.zero_only = true;
  /* The last second of a step: t+1 is the next step, so the edges are exact. */
  int64_t now = T0 - T0 % 30 + 29;
  for (int off = -3; off <= 3; off++) {
    char code[KH_TOTP_CODE_SIZE];
    app_code(&app, now + off * 30, code);
    bool match = false, trap_match = false;
    int64_t step = 0, trap_step = 0;
    assert_int_equal(ks_totp_verify(secret, sizeof secret, now, code, &rule, &match, &step, NULL),
                     KF_OK);
    assert_int_equal(
        ks_totp_verify(secret, sizeof secret, now, code, &trap, &trap_match, &trap_step, NULL),
        KF_OK);
    /* Six digits of other steps may collide by chance (1 in 10^6); that is no window. */
    if (off >= -1 && off <= 1) {
      assert_true(match);
      assert_int_equal(step, now / 30 + off);
      /* The trap: liboath answers 1 for a neighbour, which is a match, not an error. */
      assert_int_equal(trap_match, off == 0);
    } else if (match) {
      assert_int_not_equal(step, now / 30 + off);
    }
  }
  /* One second later the window has moved: the old previous step is out. */
  char prev[KH_TOTP_CODE_SIZE];
  app_code(&app, now - 30, prev);
  bool match = true;
  int64_t step = 0;
  assert_int_equal(ks_totp_verify(secret, sizeof secret, now + 1, prev, &rule, &match, &step, NULL),
                   KF_OK);
  assert_false(match && step == now / 30 - 1);
  assert_int_equal(ks_totp_step(59), 1);
  assert_int_equal(ks_totp_step(60), 2);
  assert_int_equal(ks_totp_step(-1), -1);
}

static void test_base32_and_uri(void **state) {
  (void)state;
  char b32[KS_TOTP_B32_MAX];
  assert_int_equal(ks_totp_base32((const unsigned char *)seed1, 20, b32, sizeof b32, NULL), KF_OK);
  assert_string_equal(b32, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
  assert_int_equal(ks_totp_base32((const unsigned char *)"f", 1, b32, sizeof b32, NULL), KF_OK);
  assert_string_equal(b32, "MY");
  for (int i = 0; i < 50; i++) {
    unsigned char secret[KS_TOTP_SECRET_BYTES], back[KS_TOTP_SECRET_MAX];
    ks_totp_secret_new(secret, sizeof secret);
    assert_int_equal(ks_totp_base32(secret, sizeof secret, b32, sizeof b32, NULL), KF_OK);
    assert_int_equal(strlen(b32), 32);
    assert_null(strchr(b32, '='));
    size_t n = 0;
    assert_int_equal(ks_totp_base32_decode(b32, back, sizeof back, &n, NULL), KF_OK);
    assert_int_equal(n, sizeof secret);
    assert_memory_equal(back, secret, n);
    /* The URI, read back by the harness's app. */
    kf_buf uri;
    kf_buf_init(&uri, 4096);
    assert_int_equal(ks_totp_uri("Max+Muster@example.de", b32, &uri, NULL), KF_OK);
    assert_true(kf_str_starts_with(uri.data, "otpauth://totp/Jobcenter.Digital:Max%2BMuster%40"));
    kh_totp_app app;
    assert_int_equal(kh_totp_parse_uri(uri.data, &app, NULL), KF_OK);
    assert_string_equal(app.issuer, "Jobcenter.Digital");
    assert_string_equal(app.account, "Max+Muster@example.de");
    assert_int_equal(app.secret_len, sizeof secret);
    assert_memory_equal(app.secret, secret, sizeof secret);
    assert_int_equal(app.alg, KH_TOTP_SHA1);
    assert_int_equal(app.digits, 6);
    assert_int_equal(app.period, 30);
    kf_buf_release(&uri);
  }
  unsigned char small[4];
  size_t n = 0;
  assert_int_equal(ks_totp_base32_decode("GEZDGNBVGY3TQOJQ", small, sizeof small, &n, NULL),
                   KF_ERR_LIMIT);
  assert_int_not_equal(ks_totp_base32_decode("GE1!", small, sizeof small, &n, NULL), KF_OK);
  assert_true(ks_totp_code_form("012345", 6));
  assert_false(ks_totp_code_form("01234", 5));
  assert_false(ks_totp_code_form("0123456", 7));
  assert_false(ks_totp_code_form("01234a", 6));
  assert_false(ks_totp_code_form("01 345", 6));
  assert_false(ks_totp_code_form("01\0"
                                 "345",
                                 6));
}

static void test_qr_svg(void **state) {
  (void)state;
  kf_buf svg;
  kf_buf_init(&svg, KS_TOTP_SVG_MAX);
  const char *uri = "otpauth://totp/Jobcenter.Digital:max%40example.de?secret="
                    "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Jobcenter.Digital&algorithm=SHA1&"
                    "digits=6&period=30";
  assert_int_equal(ks_totp_qr_svg(uri, &svg, NULL), KF_OK);
  xmlDoc *doc = xmlReadMemory(svg.data, (int)svg.len, "qr.svg", "UTF-8", XML_PARSE_NONET);
  assert_non_null(doc);
  xmlNode *root = xmlDocGetRootElement(doc);
  assert_string_equal((const char *)root->name, "svg");
  assert_non_null(root->ns);
  assert_string_equal((const char *)root->ns->href, "http://www.w3.org/2000/svg");
  /* A QR code is 17 + 4 * version modules wide, plus 4 quiet modules each side. */
  xmlChar *box = xmlGetProp(root, (const xmlChar *)"viewBox");
  long long size = 0;
  assert_non_null(box);
  const char *sp = strrchr((const char *)box, ' ');
  assert_non_null(sp);
  assert_int_equal(kf_str_to_llong(sp + 1, 0, 1000, &size), KF_OK);
  xmlFree(box);
  assert_true(size >= 21 + 8 && (size - 8 - 17) % 4 == 0);
  size_t rects = 0;
  for (xmlNode *n = root->children; n != NULL; n = n->next) {
    for (xmlNode *r = n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, "g") == 0
                          ? n->children
                          : NULL;
         r != NULL; r = r->next)
      rects += r->type == XML_ELEMENT_NODE && strcmp((const char *)r->name, "rect") == 0;
  }
  assert_true(rects > 50);
  xmlFreeDoc(doc);
  kf_buf_release(&svg);
  /* A text too long for a QR code is refused, not drawn. */
  char big[4000];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  kf_buf_init(&svg, KS_TOTP_SVG_MAX);
  assert_int_equal(ks_totp_qr_svg(big, &svg, NULL), KF_ERR_LIMIT);
  kf_buf_release(&svg);
}

/* ---- The routes, in process. ---- */

typedef struct fixture {
  kt_server s;
  ks_clock clock;
  char token[KS_TOKEN_HEX_LEN + 1];
  int64_t account;
} fixture;

static int fixture_setup(void **state) {
  fixture *f = test_calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(kt_server_open(&f->s, "ks_totp", NULL), KF_OK);
  f->s.cfg.test_mode = true;
  assert_int_equal(kt_server_serve(&f->s, NULL, 0, 0, NULL), KF_OK);
  assert_int_equal(ks_clock_create(f->s.srv.db, T0, NULL, T0, &f->clock, NULL), KF_OK);
  sqlite3 *conn = NULL;
  assert_int_equal(ks_db_conn(f->s.srv.db, &conn, NULL), KF_OK);
  assert_int_equal(sqlite3_exec(conn,
                                "INSERT INTO accounts (email, password_hash, created_at, "
                                "terms_accepted_at, email_consent_at, confirmed_at) VALUES "
                                "('max@example.de', 'x', 0, 0, 0, 0)",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  f->account = sqlite3_last_insert_rowid(conn);
  assert_int_equal(
      ks_session_insert(conn, f->account, KS_SESSION_SECOND_FACTOR_SETUP, T0, f->token, NULL),
      KF_OK);
  *state = f;
  return 0;
}

static int fixture_teardown(void **state) {
  fixture *f = *state;
  ks_clock_release(&f->clock);
  kt_server_close(&f->s);
  test_free(f);
  return 0;
}

/* POST path with body as the fixture's session at its clock; the answer's status. */
static unsigned post(fixture *f, const char *path, const char *body, kf_http_answer *a) {
  char auth[KS_TOKEN_HEX_LEN + 16];
  assert_int_equal(kf_str_format(auth, sizeof auth, "Bearer %s", f->token), KF_OK);
  const char *const headers[] = {
      "Authorization",    auth, "Konform-Clock", f->clock.id, "Content-Type",
      "application/json", NULL};
  kf_http_fake_req in = {.method = "POST",
                         .path = path,
                         .headers = headers,
                         .body = body,
                         .body_len = body != NULL ? strlen(body) : 0};
  assert_int_equal(kf_httpd_serve_fake(f->s.httpd, &in, a, NULL), KF_OK);
  return a->status;
}

static void expect(fixture *f, const char *path, const char *body, unsigned status,
                   const char *code) {
  kf_http_answer a;
  unsigned got = post(f, path, body, &a);
  if (got != status || (code != NULL && strstr(a.body, code) == NULL))
    fail_msg("POST %s %s: %u %s (expected %u %s)", path, body != NULL ? body : "", got, a.body,
             status, code != NULL ? code : "");
  kf_http_answer_release(&a);
}

static void code_body(const kh_totp_app *app, int64_t t, char *out, size_t size) {
  char code[KH_TOTP_CODE_SIZE];
  app_code(app, t, code);
  assert_int_equal(kf_str_format(out, size, "{\"code\": \"%s\"}", code), KF_OK);
}

static void clock_to(fixture *f, int64_t t) {
  ks_clock_release(&f->clock);
  char id[KS_CLOCK_ID_MAX];
  assert_int_equal(kf_str_copy(id, sizeof id, f->clock.id), KF_OK);
  assert_int_equal(ks_clock_advance(f->s.srv.db, id, false, t, &f->clock, NULL), KF_OK);
}

/* Setup and activation; the app that reads the setup's URI. */
static void setup_and_activate(fixture *f, kh_totp_app *app) {
  expect(f, "/api/v1/totp/activation", "{\"code\": \"123456\"}", 409, "TOTP_NOT_STARTED");
  kf_http_answer a;
  assert_int_equal(post(f, "/api/v1/totp/setup", NULL, &a), 201);
  json_t *body = json_loads(a.body, 0, NULL);
  assert_non_null(body);
  const char *secret = json_string_value(json_object_get(body, "secret"));
  assert_non_null(secret);
  assert_int_equal(strlen(secret), 32);
  assert_non_null(strstr(json_string_value(json_object_get(body, "qr_svg")), "<svg"));
  assert_int_equal(
      kh_totp_parse_uri(json_string_value(json_object_get(body, "otpauth_uri")), app, NULL), KF_OK);
  json_decref(body);
  kf_http_answer_release(&a);
  char req[64];
  expect(f, "/api/v1/totp/activation", "{\"code\": 123456}", 400, "TOTP_CODE_FORMAT");
  expect(f, "/api/v1/totp/activation", "{\"code\": \"12345\"}", 400, "TOTP_CODE_FORMAT");
  code_body(app, T0 - 60, req, sizeof req);
  expect(f, "/api/v1/totp/activation", req, 400, "TOTP_CODE_INVALID");
  code_body(app, T0, req, sizeof req);
  expect(f, "/api/v1/totp/activation", req, 200, "\"full\"");
  int64_t active = 0;
  assert_int_equal(
      kt_server_scalar(&f->s, "SELECT count(*) FROM totp_secrets WHERE active = 1", &active, NULL),
      KF_OK);
  assert_int_equal(active, 1);
}

static void test_routes(void **state) {
  fixture *f = *state;
  kh_totp_app app;
  setup_and_activate(f, &app);
  /* A full session is not at second_factor: no code expected. */
  expect(f, "/api/v1/sessions/current/totp", "{\"code\": \"123456\"}", 409, "TOTP_NOT_EXPECTED");
  sqlite3 *conn = NULL;
  assert_int_equal(ks_db_conn(f->s.srv.db, &conn, NULL), KF_OK);
  assert_int_equal(
      ks_session_insert(conn, f->account, KS_SESSION_SECOND_FACTOR, T0, f->token, NULL), KF_OK);
  /* At second_factor a setup needs the complete login first (TOTP-05). */
  expect(f, "/api/v1/totp/setup", NULL, 403, "SECOND_FACTOR_REQUIRED");
  char req[64];
  /* The activation's step is used: that code and the previous step's are refused. */
  code_body(&app, T0, req, sizeof req);
  expect(f, "/api/v1/sessions/current/totp", req, 401, "TOTP_CODE_USED");
  code_body(&app, T0 - 30, req, sizeof req);
  expect(f, "/api/v1/sessions/current/totp", req, 401, "TOTP_CODE_USED");
  code_body(&app, T0 + 30, req, sizeof req);
  expect(f, "/api/v1/sessions/current/totp", req, 200, "\"full\"");
}

static void test_lockout(void **state) {
  fixture *f = *state;
  kh_totp_app app;
  setup_and_activate(f, &app);
  sqlite3 *conn = NULL;
  assert_int_equal(ks_db_conn(f->s.srv.db, &conn, NULL), KF_OK);
  assert_int_equal(
      ks_session_insert(conn, f->account, KS_SESSION_SECOND_FACTOR, T0, f->token, NULL), KF_OK);
  char right[64], wrong[64];
  code_body(&app, T0 + 300, right, sizeof right);
  code_body(&app, T0 + 900, wrong, sizeof wrong);
  clock_to(f, T0 + 300);
  for (int i = 1; i < 5; i++)
    expect(f, "/api/v1/sessions/current/totp", wrong, 401, "TOTP_CODE_INVALID");
  expect(f, "/api/v1/sessions/current/totp", wrong, 423, "ACCOUNT_LOCKED");
  /* The session has ended. */
  expect(f, "/api/v1/sessions/current/totp", right, 401, "UNAUTHENTICATED");
  assert_int_equal(
      ks_session_insert(conn, f->account, KS_SESSION_SECOND_FACTOR, T0, f->token, NULL), KF_OK);
  expect(f, "/api/v1/sessions/current/totp", right, 423, "ACCOUNT_LOCKED");
  clock_to(f, T0 + 300 + 900);
  assert_int_equal(
      ks_session_insert(conn, f->account, KS_SESSION_SECOND_FACTOR, T0, f->token, NULL), KF_OK);
  code_body(&app, T0 + 1200, right, sizeof right);
  expect(f, "/api/v1/sessions/current/totp", right, 200, "\"full\"");
}

/* The pending secret's hex into out ("" when there is none). */
static void pending_secret(fixture *f, char out[KS_TOTP_SECRET_MAX * 2 + 1]) {
  sqlite3 *conn = NULL;
  assert_int_equal(ks_db_conn(f->s.srv.db, &conn, NULL), KF_OK);
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(conn, "SELECT hex(secret) FROM totp_secrets WHERE active = 0",
                                      -1, &st, NULL),
                   SQLITE_OK);
  out[0] = '\0';
  if (sqlite3_step(st) == SQLITE_ROW)
    assert_int_equal(
        kf_str_copy(out, KS_TOTP_SECRET_MAX * 2 + 1, (const char *)sqlite3_column_text(st, 0)),
        KF_OK);
  sqlite3_finalize(st);
}

/*
 * A setup with an allocation failing: a 201, or a 500 (or no answer at all)
 * with one pending secret, never two and never none. An answer that fails to
 * be written after the commit leaves the new pending secret, which the next
 * setup replaces: the client never saw it, so nothing it knows was lost.
 */
static bool setup_body(void *ctx, const kt_alloc_run *run) {
  fixture *f = ctx;
  char before[KS_TOTP_SECRET_MAX * 2 + 1], after[KS_TOTP_SECRET_MAX * 2 + 1];
  pending_secret(f, before);
  char auth[KS_TOKEN_HEX_LEN + 16];
  assert_int_equal(kf_str_format(auth, sizeof auth, "Bearer %s", f->token), KF_OK);
  const char *const headers[] = {"Authorization", auth, "Konform-Clock", f->clock.id, NULL};
  kf_http_fake_req in = {.method = "POST", .path = "/api/v1/totp/setup", .headers = headers};
  kf_http_answer a;
  kt_alloc_arm(run);
  kf_rc rc = kf_httpd_serve_fake(f->s.httpd, &in, &a, NULL);
  kt_alloc_disarm();
  unsigned status = rc == KF_OK ? a.status : 0;
  if (rc == KF_OK)
    kf_http_answer_release(&a);
  else
    assert_int_equal(rc, KF_ERR_NOMEM);
  int64_t pending = 0;
  assert_int_equal(
      kt_server_scalar(&f->s, "SELECT count(*) FROM totp_secrets WHERE active = 0", &pending, NULL),
      KF_OK);
  pending_secret(f, after);
  if (status == 201) {
    assert_int_equal(pending, 1);
    assert_string_not_equal(after, before);
    return true;
  }
  assert_true(status == 0 || status == 500);
  assert_true(pending == 1 || (pending == 0 && before[0] == '\0'));
  return false;
}

static void test_setup_alloc_failures(void **state) {
  kf_log_setup("test_server_totp", KF_LOG_OFF);
  assert_true(kt_alloc_sweep(setup_body, *state) > 0);
  kf_log_setup("test_server_totp", KF_LOG_INFO);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc6238_through_liboath),
      cmocka_unit_test(test_window_edges),
      cmocka_unit_test(test_base32_and_uri),
      cmocka_unit_test(test_qr_svg),
      cmocka_unit_test_setup_teardown(test_routes, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_lockout, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_setup_alloc_failures, fixture_setup, fixture_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
