/*
 * konform-server's HTTP layer in-process (kf_httpd_serve_fake, no sockets):
 * the session stage a route row asks for, enforced by the filter (AUTH-02),
 * the logout answers byte for byte, the contract's decisions (the order a
 * request is judged in, where the clock header applies, numbers out of
 * range, clock names in characters, a link with two ids, HEAD and 405 on
 * every GET route of the route tables), and every handler with each allocation
 * failing in turn, transient and persistent, once as the reference answers and
 * once with every variant of the catalogue on (ks_variant.h): no crash, no leak
 * (ASan), the normal answer or a 500, and the database either untouched or
 * fully changed.
 *
 * jansson keeps its own allocator here (kf_alloc_install_jansson is not
 * called): jansson 2.14's lexer ignores a failed allocation and then reads
 * past its buffer or asserts (akheron/jansson#362), so failing its
 * allocations would test jansson, not us. test_httpd covers the answers when
 * building a JSON body runs out of memory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/httpd.h"
#include "kf/log.h"
#include "kf/sql.h"
#include "kf/str.h"
#include "kf/timeutil.h"
#include "kf/uuid.h"
#include "kt_alloc.h"
#include "ks_account.h"
#include "ks_api.h"
#include "ks_clock.h"
#include "ks_db.h"
#include "ks_recovery.h"
#include "ks_server.h"
#include "kt_server.h"

#define T0 INT64_C(1790000000)
/* The body cap of the fixture's daemon: small, so a 413 is cheap to provoke. */
#define FIXTURE_MAX_BODY 4096
#define PW "Abcdefgh12!x"
#define UNAUTHENTICATED_BODY                                                                       \
  "{\"error\":{\"code\":\"UNAUTHENTICATED\",\"message\":\"Bitte melden Sie sich an.\","            \
  "\"fields\":[]}}"

typedef struct fixture {
  kt_server s;
  unsigned serial; /* Makes each generated address unique. */
} fixture;

/* ---- Test routes that need a session, to prove the filter's stage gate. ---- */

static void gate_ok(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  (void)req;
  (void)ctx;
  kf_http_resp_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

static const ks_route gate_routes[] = {
    {"GET", "/t/session", gate_ok, 0, KS_STAGE_SESSION},
    {"GET", "/t/full", gate_ok, 0, KS_STAGE_FULL},
    {"GET", "/t/full-page", gate_ok, KS_ROUTE_HTML, KS_STAGE_FULL},
    {"POST", "/t/session-json", gate_ok, KS_ROUTE_JSON, KS_STAGE_SESSION},
};
static const ks_area gate_area = {"gate", gate_routes, sizeof gate_routes / sizeof gate_routes[0]};

/* The fixture's server, with every variant of the catalogue on or none. */
static int fixture_make(void **state, bool variants) {
  fixture *f = test_calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(kt_server_open(&f->s, "ks_api", NULL), KF_OK);
  f->s.cfg.test_mode = true;
  for (int v = 0; v < KS_VARIANT_COUNT; v++)
    f->s.cfg.variants[v] = variants;
  /* The test routes first, then every area of the server's own table. */
  size_t n = 0;
  const ks_area *const *server_areas = ks_api_areas(&n);
  const ks_area *areas[16] = {&gate_area};
  assert_true(n < 16);
  memcpy(areas + 1, server_areas, n * sizeof *areas);
  assert_int_equal(kt_server_serve(&f->s, areas, n + 1, FIXTURE_MAX_BODY, NULL), KF_OK);
  *state = f;
  return 0;
}

static int fixture_setup(void **state) {
  return fixture_make(state, false);
}

/* The same server as another implementation might answer (ks_variant.h, every row). */
static int fixture_setup_variants(void **state) {
  return fixture_make(state, true);
}

static int fixture_teardown(void **state) {
  fixture *f = *state;
  kt_server_close(&f->s);
  test_free(f);
  return 0;
}

/* One request; headers as name, value, ..., NULL. KF_ERR_NOMEM means no answer at all. */
static kf_rc call(fixture *f, const char *method, const char *path, const char *const *query,
                  const char *const *headers, const char *body, kf_http_answer *out) {
  kf_http_fake_req in = {.method = method,
                         .path = path,
                         .query = query,
                         .headers = headers,
                         .body = body,
                         .body_len = body != NULL ? strlen(body) : 0};
  return kf_httpd_serve_fake(f->s.httpd, &in, out, NULL);
}

/* Run sql (no rows). */
static void exec_sql(fixture *f, const char *sql) {
  sqlite3 *conn = NULL;
  assert_int_equal(ks_db_conn(f->s.srv.db, &conn, NULL), KF_OK);
  assert_int_equal(sqlite3_exec(conn, sql, NULL, NULL, NULL), SQLITE_OK);
}

static int64_t scalar(fixture *f, const char *sql) {
  int64_t v = 0;
  assert_int_equal(kt_server_scalar(&f->s, sql, &v, NULL), KF_OK);
  return v;
}

/* A fresh address, so every run of a sweep starts from the same state. */
static void next_email(fixture *f, char *out, size_t size) {
  assert_int_equal(kf_str_format(out, size, "u%u@example.de", ++f->serial), KF_OK);
}

/*
 * Register email directly (no HTTP), at the real time as the requests run, and
 * return its open link id in link (may be NULL).
 */
static void make_account(fixture *f, const char *email, bool confirmed, char *link) {
  char id[KF_UUID_STR_LEN + 1];
  int64_t now = kf_time_real_now();
  assert_int_equal(ks_account_register(&f->s.srv, email, PW, strlen(PW), now, NULL, NULL), KF_OK);
  sqlite3 *conn = NULL;
  assert_int_equal(ks_db_conn(f->s.srv.db, &conn, NULL), KF_OK);
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(conn,
                                      "SELECT l.id FROM confirmation_links l JOIN accounts a ON "
                                      "a.id = l.account_id WHERE a.email = ? AND "
                                      "l.superseded_at IS NULL",
                                      -1, &st, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(kf_str_copy(id, sizeof id, (const char *)sqlite3_column_text(st, 0)), KF_OK);
  sqlite3_finalize(st);
  if (confirmed) {
    ks_link_verdict v;
    assert_int_equal(ks_account_confirm(&f->s.srv, id, now, &v, NULL), KF_OK);
    assert_int_equal(v, KS_LINK_VALID);
  }
  if (link != NULL)
    memcpy(link, id, sizeof id);
}

/*
 * A session token for a confirmed account (stage second_factor_setup), at the
 * real time the requests without a clock run at, so it is not idle (AUTH-06).
 */
static void make_session(fixture *f, char token[KS_TOKEN_HEX_LEN + 1]) {
  char email[64];
  next_email(f, email, sizeof email);
  make_account(f, email, true, NULL);
  ks_login_result r;
  assert_int_equal(
      ks_account_login(&f->s.srv, email, PW, strlen(PW), kf_time_real_now(), &r, token, NULL),
      KF_OK);
  assert_int_equal(r, KS_LOGIN_OK);
}

static void assert_answer(fixture *f, const char *method, const char *path,
                          const char *const *headers, unsigned status, const char *code) {
  kf_http_answer a;
  assert_int_equal(call(f, method, path, NULL, headers, NULL, &a), KF_OK);
  if (a.status != status || (code != NULL && strstr(a.body, code) == NULL))
    fail_msg("%s %s: %u %s (expected %u %s)", method, path, a.status, a.body, status,
             code != NULL ? code : "");
  kf_http_answer_release(&a);
}

static void test_stage_gate(void **state) {
  fixture *f = *state;
  char token[KS_TOKEN_HEX_LEN + 1];
  make_session(f, token);
  char bearer[KS_TOKEN_HEX_LEN + 16];
  assert_int_equal(kf_str_format(bearer, sizeof bearer, "Bearer %s", token), KF_OK);
  const char *const auth[] = {"Authorization", bearer, NULL};
  const char *const bad[] = {"Authorization", "Bearer 1234", NULL};
  /* No, a malformed or an unknown token: 401 before the handler, on any stage. */
  assert_answer(f, "GET", "/t/session", NULL, 401, "\"UNAUTHENTICATED\"");
  assert_answer(f, "GET", "/t/full", bad, 401, "\"UNAUTHENTICATED\"");
  /* A password login is at second_factor_setup: enough for SESSION, not for FULL. */
  assert_answer(f, "GET", "/t/session", auth, 200, NULL);
  assert_answer(f, "GET", "/t/full", auth, 403, "\"SECOND_FACTOR_REQUIRED\"");
  /* An HTML route says it with a page. */
  assert_answer(f, "GET", "/t/full-page", auth, 403, "data-code=\"SECOND_FACTOR_REQUIRED\"");
  /* After the second factor (here written straight into the table) FULL is open. */
  exec_sql(f, "UPDATE sessions SET stage = 'full'");
  assert_answer(f, "GET", "/t/full", auth, 200, NULL);
  /* An unknown test clock is still judged first. */
  const char *const clock[] = {"Authorization", bearer, "Konform-Clock", "clk_00", NULL};
  assert_answer(f, "GET", "/t/full", clock, 400, "\"CLOCK_NOT_FOUND\"");
  /* An ended session is no session. */
  assert_answer(f, "DELETE", "/api/v1/sessions/current", auth, 204, NULL);
  assert_answer(f, "GET", "/t/session", auth, 401, "\"UNAUTHENTICATED\"");
}

/* Logout answers exactly as before the stage moved into the route table. */
static void test_logout_answers(void **state) {
  fixture *f = *state;
  char token[KS_TOKEN_HEX_LEN + 1];
  make_session(f, token);
  char bearer[KS_TOKEN_HEX_LEN + 16];
  assert_int_equal(kf_str_format(bearer, sizeof bearer, "bearer   %s", token), KF_OK);
  const char *const auth[] = {"Authorization", bearer, NULL};
  const char *const basic[] = {"Authorization", "Basic dXNlcjpwYXNz", NULL};
  const char *const *cases[] = {NULL, basic, auth};
  for (size_t i = 0; i < 3; i++) {
    kf_http_answer a;
    assert_int_equal(call(f, "DELETE", "/api/v1/sessions/current", NULL, cases[i], NULL, &a),
                     KF_OK);
    if (cases[i] == auth) {
      assert_int_equal(a.status, 204);
      assert_int_equal(a.body_len, 0);
    } else {
      assert_int_equal(a.status, 401);
      assert_string_equal(a.content_type, "application/json; charset=utf-8");
      assert_string_equal(a.body, UNAUTHENTICATED_BODY);
    }
    kf_http_answer_release(&a);
  }
  kf_http_answer a;
  assert_int_equal(call(f, "DELETE", "/api/v1/sessions/current", NULL, auth, NULL, &a), KF_OK);
  assert_int_equal(a.status, 401);
  assert_string_equal(a.body, UNAUTHENTICATED_BODY);
  kf_http_answer_release(&a);
}

/* ---- The contract's decisions (docs/openapi.yaml, x-konform-decisions). ---- */

/* One request with a body and a content type; the answer's status and code must be as given. */
static void assert_body_answer(fixture *f, const char *path, const char *const *headers,
                               const char *body, size_t len, unsigned status, const char *code) {
  kf_http_fake_req in = {
      .method = "POST", .path = path, .headers = headers, .body = body, .body_len = len};
  kf_http_answer a;
  assert_int_equal(kf_httpd_serve_fake(f->s.httpd, &in, &a, NULL), KF_OK);
  if (a.status != status || strstr(a.body, code) == NULL)
    fail_msg("POST %s %.40s: %u %s (expected %u %s)", path, body, a.status, a.body, status, code);
  kf_http_answer_release(&a);
}

/*
 * The order in which a request is judged, each adjacent pair with a request
 * that breaks both: size 413, route 404/405, clock 400 CLOCK_NOT_FOUND,
 * session 401, media type 415, UTF-8, JSON syntax, object, then the route's
 * own validation.
 */
static void test_judged_in_the_contract_order(void **state) {
  fixture *f = *state;
  static char big[FIXTURE_MAX_BODY + 2];
  memset(big, ' ', sizeof big - 1);
  const char *const json_clock[] = {"Content-Type", "application/json", "Konform-Clock", "clk_00",
                                    NULL};
  const char *const text_clock[] = {"Content-Type", "text/plain", "Konform-Clock", "clk_00", NULL};
  const char *const text[] = {"Content-Type", "text/plain", NULL};
  const char *const json[] = {"Content-Type", "application/json", NULL};
  const char *reg = "/api/v1/registrations";
  /* Size before route and before clock. */
  assert_body_answer(f, "/nowhere", json_clock, big, sizeof big - 1, 413, "\"BODY_TOO_LARGE\"");
  assert_body_answer(f, reg, json_clock, big, sizeof big - 1, 413, "\"BODY_TOO_LARGE\"");
  /* Route before clock: an unknown path, a wrong method. */
  assert_body_answer(f, "/nowhere", json_clock, "{}", 2, 404, "\"NOT_FOUND\"");
  assert_body_answer(f, "/api/v1/health", json_clock, "{}", 2, 405, "\"METHOD_NOT_ALLOWED\"");
  /* Clock before session, session before media type, clock before media type. */
  assert_body_answer(f, "/t/session-json", text_clock, "{}", 2, 400, "\"CLOCK_NOT_FOUND\"");
  assert_body_answer(f, "/t/session-json", text, "{}", 2, 401, "\"UNAUTHENTICATED\"");
  assert_body_answer(f, reg, text_clock, "{", 1, 400, "\"CLOCK_NOT_FOUND\"");
  /* Media type before UTF-8, UTF-8 before syntax, syntax before shape, shape before fields. */
  assert_body_answer(f, reg, text, "{\"\xff", 3, 415, "\"UNSUPPORTED_MEDIA_TYPE\"");
  assert_body_answer(f, reg, json, "{\"\xff", 3, 400, "\"INVALID_UTF8\"");
  assert_body_answer(f, reg, json, "[1,", 3, 400, "\"MALFORMED_JSON\"");
  assert_body_answer(f, reg, json, "null", 4, 400, "\"BODY_NOT_OBJECT\"");
  assert_body_answer(f, reg, json, "[]", 2, 400, "\"BODY_NOT_OBJECT\"");
  assert_body_answer(f, reg, json, "{}", 2, 400, "\"VALIDATION_FAILED\"");
  /* Duplicate keys are malformed JSON, before any field is judged. */
  assert_body_answer(f, reg, json, "{\"email\":1,\"email\":2}", 22, 400, "\"MALFORMED_JSON\"");
}

/* The clock header applies to every route but the test-control ones, health included. */
static void test_where_the_clock_applies(void **state) {
  fixture *f = *state;
  const char *const clock[] = {"Content-Type", "application/json", "Konform-Clock", "clk_00", NULL};
  assert_body_answer(f, "/test/v1/clocks", clock, "{\"frozen_time\":0}", 17, 201, "\"clk_");
  assert_answer(f, "GET", "/test/v1/clocks/clk_01", clock, 404, "\"CLOCK_NOT_FOUND\"");
  assert_answer(f, "GET", "/api/v1/health", clock, 400, "\"CLOCK_NOT_FOUND\"");
  assert_answer(f, "GET", "/anmelden", clock, 400, "data-code=\"CLOCK_NOT_FOUND\"");
  /* The route tables say the same as the answers. */
  size_t n = 0;
  const ks_area *const *areas = ks_api_areas(&n);
  for (size_t i = 0; i < n; i++) {
    for (size_t r = 0; r < areas[i]->n_routes; r++) {
      const ks_route *route = &areas[i]->routes[r];
      bool test_route = strncmp(route->pattern, "/test/", 6) == 0;
      assert_true(ks_api_clock_applies(&f->s.srv, route) == !test_route);
    }
  }
}

/* Numbers beyond 64 bits and clock names counted in characters. */
static void test_clock_values(void **state) {
  fixture *f = *state;
  const char *const json[] = {"Content-Type", "application/json", NULL};
  const char *huge[] = {"{\"frozen_time\":99999999999999999999}", "{\"frozen_time\":1e400}",
                        "{\"frozen_time\":-99999999999999999999}", "{\"frozen_time\":1e30}"};
  for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++)
    assert_body_answer(f, "/test/v1/clocks", json, huge[i], strlen(huge[i]), 400,
                       "{\"field\":\"frozen_time\",\"code\":\"INVALID_FIELD\"");
  char path[64];
  ks_clock c;
  assert_int_equal(ks_clock_create(f->s.srv.db, T0, NULL, T0, &c, NULL), KF_OK);
  assert_int_equal(kf_str_format(path, sizeof path, "/test/v1/clocks/%s/advance", c.id), KF_OK);
  ks_clock_release(&c);
  const char *move = "{\"seconds\":99999999999999999999}";
  assert_body_answer(f, path, json, move, strlen(move), 400,
                     "{\"field\":\"seconds\",\"code\":\"INVALID_FIELD\"");
  /* 200 characters of two bytes each are a valid name; 201 are not. */
  kf_buf b;
  kf_buf_init(&b, 4096);
  assert_int_equal(kf_buf_append_str(&b, "{\"frozen_time\":0,\"name\":\""), KF_OK);
  for (int i = 0; i < 200; i++)
    assert_int_equal(kf_buf_append_str(&b, "\xc3\xa4"), KF_OK);
  assert_int_equal(kf_buf_append_str(&b, "\"}"), KF_OK);
  assert_body_answer(f, "/test/v1/clocks", json, b.data, b.len, 201, "\"clk_");
  kf_buf_reset(&b);
  assert_int_equal(kf_buf_append_str(&b, "{\"frozen_time\":0,\"name\":\""), KF_OK);
  for (int i = 0; i < 201; i++)
    assert_int_equal(kf_buf_append_str(&b, "\xc3\xa4"), KF_OK);
  assert_int_equal(kf_buf_append_str(&b, "\"}"), KF_OK);
  assert_body_answer(f, "/test/v1/clocks", json, b.data, b.len, 400,
                     "{\"field\":\"name\",\"code\":\"INVALID_FIELD\"");
  kf_buf_release(&b);
}

/* A link with its id twice names no link: 404, and nothing is confirmed. */
static void test_link_with_two_ids(void **state) {
  fixture *f = *state;
  char email[64], id[KF_UUID_STR_LEN + 1];
  next_email(f, email, sizeof email);
  make_account(f, email, false, id);
  const char *twice[] = {"id", id, "id", id, NULL};
  const char *methods[] = {"HEAD", "GET"};
  for (size_t i = 0; i < 2; i++) {
    kf_http_answer a;
    assert_int_equal(call(f, methods[i], KS_LINK_PATH, twice, NULL, NULL, &a), KF_OK);
    assert_int_equal(a.status, 404);
    assert_non_null(strstr(a.body, "data-code=\"LINK_NOT_FOUND\""));
    kf_http_answer_release(&a);
  }
  assert_int_equal(scalar(f, "SELECT count(*) FROM accounts WHERE confirmed_at IS NOT NULL"), 0);
}

/* route's pattern with every parameter naming nothing that exists ("clk_0"). */
static void route_sample_path(const ks_route *route, char *path, size_t size) {
  size_t n = 0;
  for (const char *p = route->pattern; *p != '\0' && n + 8 < size; p++) {
    if (*p != '{') {
      path[n++] = *p;
      continue;
    }
    memcpy(path + n, "clk_0", 5);
    n += 5;
    p = strchr(p, '}');
    assert_non_null(p);
  }
  path[n] = '\0';
}

/* Every GET route answers HEAD as it answers GET; a 405 lists both, as a page on a page route. */
static void test_head_and_405(void **state) {
  fixture *f = *state;
  size_t n = 0;
  const ks_area *const *areas = ks_api_areas(&n);
  size_t checked = 0;
  for (size_t i = 0; i < n; i++) {
    for (size_t r = 0; r < areas[i]->n_routes; r++) {
      const ks_route *route = &areas[i]->routes[r];
      if (strcmp(route->method, "GET") != 0)
        continue;
      char path[128];
      route_sample_path(route, path, sizeof path);
      kf_http_answer get, head;
      assert_int_equal(call(f, "GET", path, NULL, NULL, NULL, &get), KF_OK);
      assert_int_equal(call(f, "HEAD", path, NULL, NULL, NULL, &head), KF_OK);
      if (get.status != head.status || strcmp(get.content_type, head.content_type) != 0)
        fail_msg("%s: GET %u %s, HEAD %u %s", path, get.status, get.content_type, head.status,
                 head.content_type);
      kf_http_answer_release(&get);
      kf_http_answer_release(&head);
      kf_http_answer a;
      assert_int_equal(call(f, "PATCH", path, NULL, NULL, NULL, &a), KF_OK);
      assert_int_equal(a.status, 405);
      assert_non_null(strstr(a.headers, "Allow: GET, HEAD"));
      bool page = (route->flags & KS_ROUTE_HTML) != 0;
      assert_non_null(strstr(a.body, page ? "data-code=\"METHOD_NOT_ALLOWED\""
                                          : "\"code\":\"METHOD_NOT_ALLOWED\""));
      assert_string_equal(a.content_type,
                          page ? "text/html; charset=utf-8" : "application/json; charset=utf-8");
      kf_http_answer_release(&a);
      checked++;
    }
  }
  assert_true(checked >= 3);
}

/* ---- Every handler with each allocation failing in turn. ---- */

/* One request of a sweep, prepared on fresh state before the failures are armed. */
typedef struct sweep_req {
  const char *method;
  char path[128];
  char body[256];
  bool has_body;
  char bearer[KS_TOKEN_HEX_LEN + 16];
  char id[KF_UUID_STR_LEN + 1];
  const char *query[3];
  const char *headers[5];
} sweep_req;

typedef struct sweep_case {
  const char *name;
  void (*prepare)(fixture *f, sweep_req *r);
  unsigned status; /* The normal answer. */
} sweep_case;

static void req_json(sweep_req *r, const char *method, const char *path) {
  r->method = method;
  (void)kf_str_copy(r->path, sizeof r->path, path);
  r->has_body = true;
  r->headers[0] = "Content-Type";
  r->headers[1] = "application/json";
  r->headers[2] = NULL;
}

static void prep_health(fixture *f, sweep_req *r) {
  (void)f;
  r->method = "GET";
  (void)kf_str_copy(r->path, sizeof r->path, "/api/v1/health");
}

static void prep_login_page(fixture *f, sweep_req *r) {
  (void)f;
  r->method = "GET";
  (void)kf_str_copy(r->path, sizeof r->path, "/anmelden");
}

/* The page whose checklist comes from the password policy's table. */
static void prep_register_page(fixture *f, sweep_req *r) {
  prep_login_page(f, r);
  (void)kf_str_copy(r->path, sizeof r->path, "/registrierung");
}

static void register_body(sweep_req *r, const char *email) {
  (void)kf_str_format(r->body, sizeof r->body,
                      "{\"email\":\"%s\",\"password\":\"" PW "\",\"password_repeat\":\"" PW
                      "\",\"accept_terms\":true,\"consent_email\":true}",
                      email);
}

static void prep_register_new(fixture *f, sweep_req *r) {
  req_json(r, "POST", "/api/v1/registrations");
  char email[64];
  next_email(f, email, sizeof email);
  register_body(r, email);
}

static void prep_register_known(fixture *f, sweep_req *r) {
  req_json(r, "POST", "/api/v1/registrations");
  char email[64];
  next_email(f, email, sizeof email);
  make_account(f, email, false, NULL);
  register_body(r, email);
}

static void prep_register_invalid(fixture *f, sweep_req *r) {
  (void)f;
  req_json(r, "POST", "/api/v1/registrations");
  (void)kf_str_copy(r->body, sizeof r->body, "{\"email\":\"x\",\"password\":\"short\"}");
}

static void prep_confirm_json(fixture *f, sweep_req *r) {
  req_json(r, "POST", "/api/v1/email-confirmations");
  char email[64];
  next_email(f, email, sizeof email);
  make_account(f, email, false, r->id);
  (void)kf_str_format(r->body, sizeof r->body, "{\"id\":\"%s\"}", r->id);
}

static void prep_confirm_link(fixture *f, sweep_req *r) {
  r->method = "GET";
  (void)kf_str_copy(r->path, sizeof r->path, KS_LINK_PATH);
  char email[64];
  next_email(f, email, sizeof email);
  make_account(f, email, false, r->id);
  r->query[0] = "id";
  r->query[1] = r->id;
  r->query[2] = NULL;
}

static void prep_check_link(fixture *f, sweep_req *r) {
  prep_confirm_link(f, r);
  r->method = "HEAD";
}

/*
 * A POST to path naming a fresh account (confirmed or not) in member, its
 * only member; email (64 bytes) gets the address.
 */
static void prep_account_post(fixture *f, sweep_req *r, const char *path, const char *member,
                              bool confirmed, char *email) {
  req_json(r, "POST", path);
  next_email(f, email, 64);
  make_account(f, email, confirmed, NULL);
  (void)kf_str_format(r->body, sizeof r->body, "{\"%s\":\"%s\"}", member, email);
}

static void prep_resend(fixture *f, sweep_req *r) {
  char email[64];
  prep_account_post(f, r, "/api/v1/email-confirmations/resend", "email", false, email);
}

static void prep_login(fixture *f, sweep_req *r) {
  req_json(r, "POST", "/api/v1/sessions");
  char email[64];
  next_email(f, email, sizeof email);
  make_account(f, email, true, NULL);
  (void)kf_str_format(r->body, sizeof r->body, "{\"username\":\"%s\",\"password\":\"" PW "\"}",
                      email);
}

static void prep_logout(fixture *f, sweep_req *r) {
  r->method = "DELETE";
  (void)kf_str_copy(r->path, sizeof r->path, "/api/v1/sessions/current");
  char token[KS_TOKEN_HEX_LEN + 1];
  make_session(f, token);
  (void)kf_str_format(r->bearer, sizeof r->bearer, "Bearer %s", token);
  r->headers[0] = "Authorization";
  r->headers[1] = r->bearer;
  r->headers[2] = NULL;
}

static void prep_clock_create(fixture *f, sweep_req *r) {
  (void)f;
  req_json(r, "POST", "/test/v1/clocks");
  (void)kf_str_copy(r->body, sizeof r->body, "{\"frozen_time\":1790000000,\"name\":\"uhr\"}");
}

/* A new named clock; its id goes into r->id's place in path via fmt. */
static void clock_path(fixture *f, sweep_req *r, const char *fmt) {
  ks_clock c;
  assert_int_equal(ks_clock_create(f->s.srv.db, T0, "uhr", T0, &c, NULL), KF_OK);
  (void)kf_str_format(r->path, sizeof r->path, fmt, c.id);
  ks_clock_release(&c);
}

static void prep_clock_get(fixture *f, sweep_req *r) {
  r->method = "GET";
  clock_path(f, r, "/test/v1/clocks/%s");
}

static void prep_clock_advance(fixture *f, sweep_req *r) {
  req_json(r, "POST", "");
  clock_path(f, r, "/test/v1/clocks/%s/advance");
  (void)kf_str_copy(r->body, sizeof r->body, "{\"seconds\":60}");
}

static void prep_clock_delete(fixture *f, sweep_req *r) {
  r->method = "DELETE";
  clock_path(f, r, "/test/v1/clocks/%s");
}

/* A request at a test clock: the filter's clock lookup allocates the clock's name. */
static void prep_register_at_clock(fixture *f, sweep_req *r) {
  prep_register_new(f, r);
  ks_clock c;
  assert_int_equal(ks_clock_create(f->s.srv.db, T0, "uhr", T0, &c, NULL), KF_OK);
  (void)kf_str_copy(r->id, sizeof r->id, c.id);
  ks_clock_release(&c);
  r->headers[2] = "Konform-Clock";
  r->headers[3] = r->id;
  r->headers[4] = NULL;
}

static void prep_reset_request(fixture *f, sweep_req *r) {
  char email[64];
  prep_account_post(f, r, "/api/v1/password-resets", "username", true, email);
}

/* A confirmed account with an open reset link, stored as ks_recovery stores one (its hash). */
static void prep_reset_confirm(fixture *f, sweep_req *r) {
  char email[64];
  prep_account_post(f, r, "/api/v1/password-resets/confirm", "id", true, email);
  char id[KS_RESET_ID_HEX_LEN + 1], hex[crypto_hash_sha256_BYTES * 2 + 1];
  unsigned char digest[crypto_hash_sha256_BYTES];
  kf_random_hex(id, KS_RESET_ID_HEX_LEN / 2);
  crypto_hash_sha256(digest, (const unsigned char *)id, KS_RESET_ID_HEX_LEN);
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  sqlite3 *conn = NULL;
  int64_t now = kf_time_real_now();
  assert_int_equal(ks_db_conn(f->s.srv.db, &conn, NULL), KF_OK);
  assert_int_equal(kf_sql_run(conn, NULL, NULL,
                              "INSERT INTO reset_links (id_hash, account_id, created_at, "
                              "expires_at) SELECT ?, id, ?, ? FROM accounts WHERE email = ?",
                              "tiit", hex, now, now + KS_RESET_VALIDITY_S, email),
                   KF_OK);
  (void)kf_str_format(r->body, sizeof r->body,
                      "{\"id\":\"%s\",\"password\":\"" PW "\",\"password_repeat\":\"" PW "\"}", id);
}

static void prep_remind(fixture *f, sweep_req *r) {
  char email[64];
  prep_account_post(f, r, "/api/v1/username-reminders", "email", true, email);
}

static const sweep_case sweep_cases[] = {
    {"health", prep_health, 200},
    {"login page", prep_login_page, 200},
    {"registration page", prep_register_page, 200},
    {"register new", prep_register_new, 202},
    {"register known", prep_register_known, 202},
    {"register invalid", prep_register_invalid, 400},
    {"register at a clock", prep_register_at_clock, 202},
    {"confirm json", prep_confirm_json, 200},
    {"confirm link", prep_confirm_link, 200},
    {"check link (HEAD)", prep_check_link, 200},
    {"resend", prep_resend, 202},
    {"login", prep_login, 201},
    {"logout", prep_logout, 204},
    {"clock create", prep_clock_create, 201},
    {"clock get", prep_clock_get, 200},
    {"clock advance", prep_clock_advance, 200},
    {"clock delete", prep_clock_delete, 204},
    {"password reset request", prep_reset_request, 202},
    {"password reset confirm", prep_reset_confirm, 200},
    {"username reminder", prep_remind, 202},
};

/* What the database holds, as counts a handler's success changes. */
static const char *const count_sql[] = {
    "SELECT count(*) FROM accounts",
    "SELECT count(*) FROM accounts WHERE confirmed_at IS NOT NULL",
    "SELECT count(*) FROM confirmation_links",
    "SELECT count(*) FROM confirmation_links WHERE superseded_at IS NOT NULL",
    "SELECT count(*) FROM confirmation_links WHERE used_at IS NOT NULL",
    "SELECT count(*) FROM outbox",
    "SELECT count(*) FROM sessions",
    "SELECT count(*) FROM sessions WHERE ended_at IS NOT NULL",
    "SELECT count(*) FROM resend_requests",
    "SELECT count(*) FROM clocks",
    "SELECT coalesce(sum(frozen_time), 0) FROM clocks",
    "SELECT count(*) FROM reset_links",
    "SELECT count(*) FROM reset_links WHERE used_at IS NOT NULL",
    "SELECT count(*) FROM recovery_requests",
};
#define N_COUNTS (sizeof count_sql / sizeof count_sql[0])

static void db_counts(fixture *f, int64_t out[N_COUNTS]) {
  for (size_t i = 0; i < N_COUNTS; i++)
    out[i] = scalar(f, count_sql[i]);
}

typedef struct sweep_ctx {
  fixture *f;
  const sweep_case *c;
  int64_t delta[N_COUNTS]; /* What one clean run changes. */
  bool learning;           /* The clean run that fills delta. */
} sweep_ctx;

/* After a failed run the database is untouched or fully changed, never in between. */
static void assert_all_or_nothing(const sweep_ctx *s, const int64_t before[N_COUNTS],
                                  const int64_t after[N_COUNTS], unsigned long n) {
  bool none = true, all = true;
  for (size_t i = 0; i < N_COUNTS; i++) {
    none = none && after[i] == before[i];
    all = all && after[i] - before[i] == s->delta[i];
  }
  if (!none && !all)
    fail_msg("%s: allocation %lu failed and left the database half-changed", s->c->name, n);
}

static bool sweep_body(void *ctx, const kt_alloc_run *run) {
  sweep_ctx *s = ctx;
  sweep_req r;
  memset(&r, 0, sizeof r);
  s->c->prepare(s->f, &r);
  int64_t before[N_COUNTS], after[N_COUNTS];
  db_counts(s->f, before);
  kf_http_answer a;
  if (!s->learning)
    kt_alloc_arm(run);
  kf_rc rc = call(s->f, r.method, r.path, r.query[0] != NULL ? r.query : NULL,
                  r.headers[0] != NULL ? r.headers : NULL, r.has_body ? r.body : NULL, &a);
  kt_alloc_disarm();
  db_counts(s->f, after);
  bool ok = rc == KF_OK && a.status == s->c->status;
  if (s->learning) {
    if (!ok)
      fail_msg("%s: %u %s without failures", s->c->name, a.status, a.body);
    for (size_t i = 0; i < N_COUNTS; i++)
      s->delta[i] = after[i] - before[i];
  } else if (!ok) {
    /* No answer at all (the request could not be set up), or a 500 in the error shape. */
    if (rc == KF_OK && (a.status != 500 || (a.body_len > 0 && !strstr(a.body, "INTERNAL_ERROR"))))
      fail_msg("%s: allocation %lu%s failed: %u %s", s->c->name, run->n,
               run->persistent ? " and later" : "", a.status, a.body);
    assert_all_or_nothing(s, before, after, run->n);
  }
  if (rc == KF_OK)
    kf_http_answer_release(&a);
  return ok;
}

static void test_handlers_survive_allocation_failures(void **state) {
  fixture *f = *state;
  for (size_t i = 0; i < sizeof sweep_cases / sizeof sweep_cases[0]; i++) {
    sweep_ctx s = {.f = f, .c = &sweep_cases[i], .learning = true};
    kt_alloc_run none = {0, false};
    (void)sweep_body(&s, &none);
    s.learning = false;
    unsigned long n = kt_alloc_sweep(sweep_body, &s);
    /* Every handler allocates (at least the filter's request context). */
    if (n == 0)
      fail_msg("%s: no allocation was swept", sweep_cases[i].name);
    print_message("%s: %lu allocations, each failed in both modes\n", sweep_cases[i].name, n);
  }
}

int main(void) {
  kf_log_setup("test_server_api", KF_LOG_OFF);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_stage_gate, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_logout_answers, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_judged_in_the_contract_order, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(test_where_the_clock_applies, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(test_clock_values, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_link_with_two_ids, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_head_and_405, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_handlers_survive_allocation_failures, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(test_handlers_survive_allocation_failures,
                                      fixture_setup_variants, fixture_teardown),
  };
  return cmocka_run_group_tests_name("server api", tests, NULL, NULL);
}
