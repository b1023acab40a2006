/*
 * konform-server's HTTP layer in-process (kf_httpd_serve_fake, no sockets):
 * the session stage a route row asks for, enforced by the filter (AUTH-02),
 * the logout answers byte for byte, and every handler with each allocation
 * failing in turn, transient and persistent: no crash, no leak (ASan), the
 * normal answer or a 500, and the database either untouched or fully changed.
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
#include <string.h>
#include <unistd.h>

#include "kf/alloc.h"
#include "kf/httpd.h"
#include "kf/log.h"
#include "kf/str.h"
#include "kf/timeutil.h"
#include "kf/uuid.h"
#include "kt_alloc.h"
#include "ks_acc_api.h"
#include "ks_account.h"
#include "ks_api.h"
#include "ks_clock.h"
#include "ks_db.h"
#include "ks_server.h"
#include "ks_testctl_api.h"

#define T0 INT64_C(1790000000)
#define PW "Abcdefgh12!x"
#define UNAUTHENTICATED_BODY                                                                       \
  "{\"error\":{\"code\":\"UNAUTHENTICATED\",\"message\":\"Bitte melden Sie sich an.\","            \
  "\"fields\":[]}}"

typedef struct fixture {
  char dir[64];
  char path[128];
  ks_config cfg;
  ks_server srv;
  kf_httpd *httpd;
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
};
static const ks_area gate_area = {"gate", gate_routes, sizeof gate_routes / sizeof gate_routes[0]};

static int fixture_setup(void **state) {
  fixture *f = test_calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(kf_str_copy(f->dir, sizeof f->dir, "/tmp/ks_api.XXXXXX"), KF_OK);
  assert_non_null(mkdtemp(f->dir));
  assert_int_equal(kf_str_format(f->path, sizeof f->path, "%s/s.db", f->dir), KF_OK);
  ks_config_init(&f->cfg);
  f->cfg.db_path = f->path;
  f->cfg.test_mode = true;
  f->srv.cfg = &f->cfg;
  f->srv.public_url = "http://127.0.0.1:8480";
  assert_int_equal(ks_pwhash_init(&f->srv.pwhash, "test", 0, 0, NULL), KF_OK);
  assert_int_equal(ks_db_open(f->path, &f->srv.db, NULL), KF_OK);
  kf_httpd_config hc;
  kf_httpd_config_init(&hc);
  assert_int_equal(kf_httpd_new(&hc, &f->httpd, NULL), KF_OK);
  const ks_area *areas[] = {&gate_area, &ks_acc_api, &ks_testctl_api};
  assert_int_equal(ks_api_install_areas(f->httpd, &f->srv, areas, 3, NULL), KF_OK);
  *state = f;
  return 0;
}

static int fixture_teardown(void **state) {
  fixture *f = *state;
  kf_httpd_free(f->httpd);
  ks_db_free(f->srv.db);
  const char *suffixes[] = {"", "-wal", "-shm"};
  for (size_t i = 0; i < 3; i++) {
    char p[160];
    if (kf_str_format(p, sizeof p, "%s%s", f->path, suffixes[i]) == KF_OK)
      (void)unlink(p);
  }
  (void)rmdir(f->dir);
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
  return kf_httpd_serve_fake(f->httpd, &in, out, NULL);
}

/* Run sql (no rows). */
static void exec_sql(fixture *f, const char *sql) {
  sqlite3 *conn = NULL;
  assert_int_equal(ks_db_conn(f->srv.db, &conn, NULL), KF_OK);
  assert_int_equal(sqlite3_exec(conn, sql, NULL, NULL, NULL), SQLITE_OK);
}

static int64_t scalar(fixture *f, const char *sql) {
  sqlite3 *conn = NULL;
  assert_int_equal(ks_db_conn(f->srv.db, &conn, NULL), KF_OK);
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(conn, sql, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
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
  assert_int_equal(ks_account_register(&f->srv, email, PW, strlen(PW), now, NULL, NULL), KF_OK);
  sqlite3 *conn = NULL;
  assert_int_equal(ks_db_conn(f->srv.db, &conn, NULL), KF_OK);
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
    assert_int_equal(ks_account_confirm(&f->srv, id, now, &v, NULL), KF_OK);
    assert_int_equal(v, KS_LINK_VALID);
  }
  if (link != NULL)
    memcpy(link, id, sizeof id);
}

/* A session token for a confirmed account (stage second_factor_setup). */
static void make_session(fixture *f, char token[KS_TOKEN_HEX_LEN + 1]) {
  char email[64];
  next_email(f, email, sizeof email);
  make_account(f, email, true, NULL);
  ks_login_result r;
  assert_int_equal(ks_account_login(&f->srv, email, PW, strlen(PW), T0, &r, token, NULL), KF_OK);
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

static void prep_resend(fixture *f, sweep_req *r) {
  req_json(r, "POST", "/api/v1/email-confirmations/resend");
  char email[64];
  next_email(f, email, sizeof email);
  make_account(f, email, false, NULL);
  (void)kf_str_format(r->body, sizeof r->body, "{\"email\":\"%s\"}", email);
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
  assert_int_equal(ks_clock_create(f->srv.db, T0, "uhr", T0, &c, NULL), KF_OK);
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
  assert_int_equal(ks_clock_create(f->srv.db, T0, "uhr", T0, &c, NULL), KF_OK);
  (void)kf_str_copy(r->id, sizeof r->id, c.id);
  ks_clock_release(&c);
  r->headers[2] = "Konform-Clock";
  r->headers[3] = r->id;
  r->headers[4] = NULL;
}

static const sweep_case sweep_cases[] = {
    {"health", prep_health, 200},
    {"login page", prep_login_page, 200},
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
      cmocka_unit_test_setup_teardown(test_handlers_survive_allocation_failures, fixture_setup,
                                      fixture_teardown),
  };
  return cmocka_run_group_tests_name("server api", tests, NULL, NULL);
}
