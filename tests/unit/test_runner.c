/*
 * test_runner.c: the runner against a tiny fake target (kf_httpd on
 * 127.0.0.1, port 0) started inside the test, plus the HTTP client, the mock
 * wait client and the command-line parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/httpd.h"
#include "kf/run_result.h"
#include "kf/str.h"
#include "kh_catalogue.h"
#include "kh_cli.h"
#include "kh_http.h"
#include "kh_mocks.h"
#include "kh_parse.h"
#include "kh_profile.h"
#include "kh_runner.h"
#include "kt_alloc.h"
#include "kh_step_use.h"
#include "kh_suite.h"

/* ---- The fake target. ---- */

/*
 * What the fake saw, written by its handler threads and read by the test
 * after the run: guarded by fake_lock.
 */
static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;
static long fake_last_id;          /* Health's "last_id"; 0 leaves it out. */
static int fake_clocks_deleted;    /* DELETE /test/v1/clocks/clk_test1 calls. */
static long fake_late_timeouts[8]; /* timeout_ms of each wait for late@konform.test. */
static size_t fake_late_calls;

static void fake_clock_delete(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  (void)ctx;
  const char *id = kf_http_req_param(req, "id");
  if (id == NULL || strcmp(id, "clk_test1") != 0) {
    kf_http_resp_error(resp, 404, "CLOCK_NOT_FOUND", "unknown clock");
    return;
  }
  pthread_mutex_lock(&fake_lock);
  fake_clocks_deleted++;
  pthread_mutex_unlock(&fake_lock);
  kf_http_resp_empty(resp, 204);
}

static void fake_hello(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  (void)req;
  (void)ctx;
  kf_http_resp_json(resp, 200, json_pack("{s:s,s:i}", "greeting", "hallo", "n", 3));
}

static void fake_token(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  (void)req;
  (void)ctx;
  kf_http_resp_json(resp, 200, json_pack("{s:s}", "token", "abc123"));
}

static void fake_check(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  (void)ctx;
  const char *tok = kf_http_req_param(req, "tok");
  if (tok != NULL && strcmp(tok, "abc123") == 0)
    kf_http_resp_json(resp, 200, json_pack("{s:b}", "ok", 1));
  else
    kf_http_resp_error(resp, 404, "NOT_FOUND", "no such token");
}

/* Echo the body, its content type and the clock header, so tests can see what was sent. */
static void fake_echo(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  (void)ctx;
  size_t len = 0;
  const char *body = kf_http_req_body(req, &len);
  const char *ct = kf_http_req_header(req, "Content-Type");
  const char *clock = kf_http_req_header(req, "Konform-Clock");
  kf_http_resp_header(resp, "X-Content-Type", ct != NULL ? ct : "none");
  kf_http_resp_header(resp, "X-Clock", clock != NULL ? clock : "none");
  kf_http_resp_bytes(resp, 201, "text/plain", body != NULL ? body : "", len);
}

/* Say what arrived: method, the headers a scenario might leave behind, the body's length. */
static void fake_mirror(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  (void)ctx;
  size_t len = 0;
  (void)kf_http_req_body(req, &len);
  static const char *const names[] = {"Authorization", "Cookie", "Content-Type", "X-Extra",
                                      "Expect"};
  json_t *doc = json_pack("{s:s,s:I}", "method", kf_http_req_method(req), "len", (json_int_t)len);
  for (size_t i = 0; doc != NULL && i < sizeof names / sizeof names[0]; i++) {
    const char *v = kf_http_req_header(req, names[i]);
    json_object_set_new(doc, names[i], json_string(v != NULL ? v : "none"));
  }
  kf_http_resp_header(resp, "X-Method", kf_http_req_method(req));
  kf_http_resp_json(resp, 200, doc);
}

static void fake_clock_create(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  (void)req;
  (void)ctx;
  kf_http_resp_json(resp, 201,
                    json_pack("{s:s,s:i}", "id", "clk_test1", "frozen_time", 1774692000));
}

static void fake_clock_advance(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  (void)ctx;
  const char *id = kf_http_req_param(req, "id");
  if (id == NULL || strcmp(id, "clk_test1") != 0) {
    kf_http_resp_error(resp, 404, "CLOCK_NOT_FOUND", "unknown clock");
    return;
  }
  kf_http_resp_json(resp, 200, json_pack("{s:s}", "id", id));
}

/* A mail mock that always has a mail: the next id after "after", so waits see new ids. */
static void fake_wait_mail(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  (void)ctx;
  const char *to = kf_http_req_query(req, "to");
  const char *after = kf_http_req_query(req, "after");
  long a = 0;
  if (after != NULL && kf_str_to_long(after, 0, 1000000, &a) != KF_OK)
    a = -1;
  if (to == NULL || strcmp(to, "nobody@konform.test") == 0) {
    kf_http_resp_error(resp, 408, "WAIT_TIMEOUT", "nothing came");
    return;
  }
  if (strcmp(to, "late@konform.test") == 0) {
    /* The real mock refuses timeout_ms over 120000; this one records them and answers the third. */
    const char *t = kf_http_req_query(req, "timeout_ms");
    long ms = -1;
    if (t == NULL || kf_str_to_long(t, 0, 1000000000, &ms) != KF_OK)
      ms = -1;
    pthread_mutex_lock(&fake_lock);
    size_t call = fake_late_calls++;
    if (call < 8)
      fake_late_timeouts[call] = ms;
    pthread_mutex_unlock(&fake_lock);
    if (ms < 0 || ms > 120000) {
      kf_http_resp_error(resp, 400, "INVALID_PARAMETER", "timeout_ms");
      return;
    }
    if (call < 2) {
      kf_http_resp_error(resp, 408, "WAIT_TIMEOUT", "nothing came");
      return;
    }
  }
  kf_http_resp_json(
      resp, 200,
      json_pack("{s:i,s:[s],s:s}", "id", (int)(a + 1), "to", to, "subject", "Hallo & Tschüss"));
}

static void fake_raw(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  (void)ctx;
  static const char raw[] = "Subject: =?UTF-8?Q?Hallo?=\r\nX-Id: ";
  kf_buf b;
  kf_buf_init(&b, 256);
  if (kf_buf_append_str(&b, raw) == KF_OK &&
      kf_buf_append_str(&b, kf_http_req_param(req, "id")) == KF_OK &&
      kf_buf_append(&b, "\r\n\r\n\xff", 5) == KF_OK)
    kf_http_resp_bytes(resp, 200, "message/rfc822", b.data, b.len);
  else
    kf_http_resp_error(resp, 500, "INTERNAL", "no memory");
  kf_buf_release(&b);
}

static void fake_health(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  (void)req;
  (void)ctx;
  pthread_mutex_lock(&fake_lock);
  long last = fake_last_id;
  pthread_mutex_unlock(&fake_lock);
  if (last > 0)
    kf_http_resp_json(resp, 200,
                      json_pack("{s:s,s:I}", "status", "ok", "last_id", (json_int_t)last));
  else
    kf_http_resp_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

static kf_httpd *fake;
static char fake_url[64];

static int fake_start(void **state) {
  (void)state;
  kf_httpd_config cfg;
  kf_httpd_config_init(&cfg);
  cfg.port = 0;
  cfg.threads = 0;
  kf_err err;
  kf_err_init(&err);
  if (kf_httpd_new(&cfg, &fake, &err) != KF_OK)
    return -1;
  static const struct {
    const char *method, *pattern;
    kf_http_handler handler;
  } routes[] = {
      {"GET", "/hello", fake_hello},
      {"GET", "/token", fake_token},
      {"GET", "/check/{tok}", fake_check},
      {"POST", "/echo", fake_echo},
      {"GET", "/mirror", fake_mirror},
      {"HEAD", "/mirror", fake_mirror},
      {"POST", "/mirror", fake_mirror},
      {"PUT", "/mirror", fake_mirror},
      {"DELETE", "/mirror", fake_mirror},
      {"POST", "/test/v1/clocks", fake_clock_create},
      {"POST", "/test/v1/clocks/{id}/advance", fake_clock_advance},
      {"DELETE", "/test/v1/clocks/{id}", fake_clock_delete},
      {"GET", "/api/v1/wait/messages", fake_wait_mail},
      {"GET", "/api/v1/messages/{id}/raw", fake_raw},
      {"GET", "/api/v1/health", fake_health},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
    if (kf_httpd_route(fake, routes[i].method, routes[i].pattern, routes[i].handler, NULL) != KF_OK)
      return -1;
  if (kf_httpd_start(fake, &err) != KF_OK)
    return -1;
  return kf_str_format(fake_url, sizeof(fake_url), "http://127.0.0.1:%u", kf_httpd_port(fake)) ==
                 KF_OK
             ? 0
             : -1;
}

static int fake_stop(void **state) {
  (void)state;
  kf_httpd_free(fake);
  fake = NULL;
  return 0;
}

/* ---- Helpers: a suite from text, a profile, a run. ---- */

typedef struct run_fixture {
  kh_file *file;
  kh_suite suite;
  kh_suite_entry entries[8];
  kh_profile profile;
  kf_run_result run;
} run_fixture;

/* Lean runs (kh_runner_config.lean) for run_text_sel; off unless a test turns it on. */
static bool run_lean;

/* A run of text with a selection and a catalogue (either may be NULL). */
static void run_text_sel(run_fixture *fx, const char *text, const char *clock, bool with_mail,
                         const char *base_url, unsigned jobs, const kh_selection *sel,
                         const kh_catalogue *cat) {
  kh_diag diag;
  kh_diag_init(&diag);
  kf_rc rc = kh_parse_text("t.konform", text, strlen(text), &fx->file, &diag);
  if (rc != KF_OK)
    fprintf(stderr, "parse: %s:%u:%u %s\n", diag.file, diag.line, diag.col, diag.message);
  assert_int_equal(rc, KF_OK);
  kh_diag_release(&diag);
  assert_true(fx->file->scenarios_len <= 8);
  memset(&fx->suite, 0, sizeof(fx->suite));
  memset(fx->entries, 0, sizeof fx->entries);
  for (size_t i = 0; i < fx->file->scenarios_len; i++) {
    fx->entries[i].scenario = &fx->file->scenarios[i];
    fx->entries[i].file = fx->file;
    fx->entries[i].index = i;
  }
  fx->suite.entries = fx->entries;
  fx->suite.entries_len = fx->file->scenarios_len;

  kh_profile_init(&fx->profile);
  assert_int_equal(kh_profile_set(&fx->profile, "base_url", base_url != NULL ? base_url : fake_url),
                   KF_OK);
  assert_int_equal(kh_profile_set(&fx->profile, "clock", clock), KF_OK);
  assert_int_equal(kh_profile_set(&fx->profile, "defaults.answer", "42"), KF_OK);
  if (with_mail)
    assert_int_equal(kh_profile_set(&fx->profile, "mail_api", fake_url), KF_OK);
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kh_profile_finish(&fx->profile, &err), KF_OK);

  kf_run_result_init(&fx->run);
  kh_runner_config cfg = {.suite = &fx->suite,
                          .catalogue = cat,
                          .profile = &fx->profile,
                          .selection = sel,
                          .seed = 7,
                          .run_id = 0xabc,
                          .jobs = jobs,
                          .lean = run_lean,
                          .target_label = "fake"};
  kf_rc rrc = kh_runner_run(&cfg, &fx->run, &err);
  if (rrc != KF_OK)
    fprintf(stderr, "run: %s\n", err.message);
  assert_int_equal(rrc, KF_OK);
  if (sel == NULL)
    assert_int_equal(fx->run.scenarios_len, fx->file->scenarios_len);
}

static void run_text(run_fixture *fx, const char *text, const char *clock, bool with_mail,
                     const char *base_url, unsigned jobs) {
  run_text_sel(fx, text, clock, with_mail, base_url, jobs, NULL, NULL);
}

static void run_release(run_fixture *fx) {
  kf_run_result_release(&fx->run);
  kh_profile_release(&fx->profile);
  kh_file_free(fx->file);
}

static void show(const kf_scenario_result *sc) {
  if (sc->status != KF_STATUS_PASS)
    fprintf(stderr, "  [%s] %s: %s\n", kf_status_name(sc->status), sc->name,
            sc->message != NULL ? sc->message : "");
}

/* ---- Runner tests. ---- */

static void test_pass(void **state) {
  (void)state;
  run_fixture fx;
  run_text(&fx,
           "scenario: hello\n"
           "covers: ACC-01\n"
           "GET /hello\n"
           "  expect status == 200\n"
           "  expect json \"$.greeting\" == \"hallo\"\n"
           "  expect header \"Content-Type\" contains \"json\"\n"
           "expect json \"$.n\" == 3\n",
           "none", false, NULL, 2);
  const kf_scenario_result *sc = &fx.run.scenarios[0];
  show(sc);
  assert_int_equal(sc->status, KF_STATUS_PASS);
  assert_null(sc->message);
  assert_int_equal(sc->steps_len, 2);
  assert_string_equal(sc->steps[0].label, "GET /hello");
  assert_int_equal(sc->steps[0].line, 3);
  assert_int_equal(sc->steps[0].exchanges_len, 1);
  const kf_exchange *x = &sc->steps[0].exchanges[0];
  assert_string_equal(x->method, "GET");
  assert_true(kf_str_starts_with(x->url, "http://127.0.0.1:"));
  assert_int_equal(x->status, 200);
  assert_non_null(x->response.body);
  assert_non_null(strstr(x->response.body, "hallo"));
  assert_string_equal(fx.run.target, "fake");
  assert_true(fx.run.run_id == 0xabc);
  run_release(&fx);
}

/* Steps that ran without a single expect show nothing: an error, never a pass. */
static void test_asserts_nothing_is_error(void **state) {
  (void)state;
  run_fixture fx;
  run_text(&fx,
           "scenario: only a request\n"
           "covers: ACC-01\n"
           "GET /hello\n"
           "scenario: only a capture\n"
           "covers: ACC-01\n"
           "GET /token\n"
           "  capture tok = json \"$.token\"\n"
           "scenario: one expect\n"
           "covers: ACC-01\n"
           "GET /token\n"
           "expect status == 200\n",
           "none", false, NULL, 2);
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(fx.run.scenarios[i].status, KF_STATUS_ERROR);
    assert_string_equal(fx.run.scenarios[i].message, "the scenario asserts nothing");
  }
  show(&fx.run.scenarios[2]);
  assert_int_equal(fx.run.scenarios[2].status, KF_STATUS_PASS);
  run_release(&fx);
}

/* A filter that leaves covering scenarios out keeps the requirement from passing. */
static void test_not_selected_counted(void **state) {
  (void)state;
  kh_requirement items[] = {{.id = "ACC-01", .area = "ACC", .title = "a", .source = "seed"},
                            {.id = "ACC-02", .area = "ACC", .title = "b", .source = "seed"}};
  kh_catalogue cat = {.items = items, .len = 2};
  kh_selection sel = {.name = "eins"};
  run_fixture fx;
  run_text_sel(&fx,
               "scenario: eins\ncovers: ACC-01 ACC-02\nGET /hello\n  expect status == 200\n"
               "scenario: zwei\ncovers: ACC-01\nGET /hello\n  expect status == 200\n"
               "scenario: drei\ncovers: ACC-01\nGET /hello\n  expect status == 200\n",
               "none", false, NULL, 1, &sel, &cat);
  assert_int_equal(fx.run.scenarios_len, 1);
  assert_int_equal(fx.run.scenarios[0].status, KF_STATUS_PASS);
  assert_int_equal(fx.run.requirements_len, 2);
  assert_int_equal(fx.run.requirements[0].not_selected, 2);
  assert_int_equal(fx.run.requirements[1].not_selected, 0);
  size_t n = 0;
  assert_int_equal(kf_run_result_requirement_status(&fx.run, "ACC-01", &n), KF_REQ_NOT_CHECKED);
  assert_int_equal(kf_run_result_requirement_status(&fx.run, "ACC-02", &n), KF_REQ_PASS);
  run_release(&fx);
}

/* Waits start after the mock's last id at the start of the run, not at the first mail ever. */
static void test_waits_start_after_last_id(void **state) {
  (void)state;
  pthread_mutex_lock(&fake_lock);
  fake_last_id = 40;
  pthread_mutex_unlock(&fake_lock);
  run_fixture fx;
  run_text(&fx,
           "scenario: replay\n"
           "covers: ACC-05\n"
           "wait mail to \"a@konform.test\"\n"
           "  expect mail.json \"$.id\" == 41\n"
           "wait mail to \"a@konform.test\"\n"
           "  expect mail.json \"$.id\" == 42\n"
           "scenario: second\n"
           "covers: ACC-05\n"
           "wait mail to \"b@konform.test\"\n"
           "  expect mail.json \"$.id\" == 41\n",
           "none", true, NULL, 2);
  pthread_mutex_lock(&fake_lock);
  fake_last_id = 0;
  pthread_mutex_unlock(&fake_lock);
  for (size_t i = 0; i < 2; i++) {
    show(&fx.run.scenarios[i]);
    assert_int_equal(fx.run.scenarios[i].status, KF_STATUS_PASS);
  }
  run_release(&fx);
}

/* A wait longer than one long-poll may last becomes several polls of at most 120 s. */
static void test_long_wait_is_several_polls(void **state) {
  (void)state;
  pthread_mutex_lock(&fake_lock);
  fake_late_calls = 0;
  pthread_mutex_unlock(&fake_lock);
  run_fixture fx;
  run_text(&fx,
           "scenario: late mail\n"
           "covers: ACC-05\n"
           "wait mail to \"late@konform.test\" within 5m\n"
           "  expect mail.json \"$.id\" == 1\n",
           "none", true, NULL, 1);
  show(&fx.run.scenarios[0]);
  assert_int_equal(fx.run.scenarios[0].status, KF_STATUS_PASS);
  pthread_mutex_lock(&fake_lock);
  size_t calls = fake_late_calls;
  long t0 = fake_late_timeouts[0], t1 = fake_late_timeouts[1], t2 = fake_late_timeouts[2];
  pthread_mutex_unlock(&fake_lock);
  assert_int_equal(calls, 3);
  /* Every poll is an exchange of the step, not only the last. */
  assert_int_equal(fx.run.scenarios[0].steps[0].exchanges_len, 3);
  assert_int_equal(fx.run.scenarios[0].steps[0].exchanges[0].status, 408);
  assert_int_equal(fx.run.scenarios[0].steps[0].exchanges[2].status, 200);
  assert_int_equal(t0, 120000);
  assert_int_equal(t1, 120000);
  assert_int_equal(t2, 60000);
  run_release(&fx);
}

static void test_failed_expect_stops(void **state) {
  (void)state;
  run_fixture fx;
  run_text(&fx,
           "scenario: wrong status\n"
           "covers: ACC-01\n"
           "GET /hello\n"
           "  expect status == 200\n"
           "  expect status == 201\n"
           "GET /hello\n"
           "  expect status == 200\n",
           "none", false, NULL, 1);
  const kf_scenario_result *sc = &fx.run.scenarios[0];
  assert_int_equal(sc->status, KF_STATUS_FAIL);
  assert_non_null(sc->message);
  assert_true(kf_str_starts_with(sc->message, "expect status == 201: "));
  assert_non_null(strstr(sc->message, "200"));
  assert_int_equal(sc->fail_line, 5);
  assert_string_equal(sc->fail_file, "t.konform");
  /* The second request never ran. */
  assert_int_equal(sc->steps_len, 1);
  assert_int_equal(sc->steps[0].status, KF_STATUS_FAIL);
  assert_int_equal(sc->steps[0].fail_line, 5);
  run_release(&fx);
}

static void test_capture_then_reuse(void **state) {
  (void)state;
  run_fixture fx;
  run_text(&fx,
           "scenario: capture\n"
           "covers: ACC-01\n"
           "GET /token\n"
           "  capture tok = json \"$.token\"\n"
           "GET /check/{{tok}}\n"
           "  expect status == 200\n"
           "let copy = \"{{tok}}-{{target.defaults.answer}}\"\n"
           "POST /echo\n"
           "  json {\"t\": \"{{copy}}\", \"s\": \"{{run.seed}}\"}\n"
           "  expect status == 201\n"
           "  expect body == \"{\\\"t\\\": \\\"abc123-42\\\", \\\"s\\\": \\\"7\\\"}\"\n"
           "  expect header \"X-Content-Type\" == \"application/json\"\n"
           "  expect header \"X-Clock\" == \"none\"\n",
           "none", false, NULL, 1);
  const kf_scenario_result *sc = &fx.run.scenarios[0];
  show(sc);
  assert_int_equal(sc->status, KF_STATUS_PASS);
  assert_int_equal(sc->steps_len, 4);
  run_release(&fx);
}

static void test_unknown_variable_is_error(void **state) {
  (void)state;
  run_fixture fx;
  run_text(&fx,
           "scenario: unknown\n"
           "covers: ACC-01\n"
           "GET /check/{{nope}}\n"
           "  expect status == 200\n",
           "none", false, NULL, 1);
  const kf_scenario_result *sc = &fx.run.scenarios[0];
  assert_int_equal(sc->status, KF_STATUS_ERROR);
  assert_non_null(sc->message);
  assert_non_null(strstr(sc->message, "nope"));
  assert_int_equal(sc->steps[0].status, KF_STATUS_ERROR);
  run_release(&fx);
}

static void test_clock_without_control_is_skip(void **state) {
  (void)state;
  run_fixture fx;
  run_text(&fx,
           "scenario: needs a clock\n"
           "covers: ACC-06\n"
           "clock create \"2026-03-28T10:00:00Z\"\n"
           "GET /hello\n"
           "  expect status == 200\n"
           "scenario: needs mail\n"
           "covers: ACC-05\n"
           "wait mail to \"a@konform.test\"\n",
           "none", false, NULL, 2);
  assert_int_equal(fx.run.scenarios[0].status, KF_STATUS_SKIP);
  assert_non_null(fx.run.scenarios[0].message);
  assert_non_null(strstr(fx.run.scenarios[0].message, "clock"));
  assert_int_equal(fx.run.scenarios[0].steps_len, 0);
  assert_int_equal(fx.run.scenarios[1].status, KF_STATUS_SKIP);
  assert_non_null(strstr(fx.run.scenarios[1].message, "mail_api"));
  run_release(&fx);
}

static void test_clock_header_sent(void **state) {
  (void)state;
  run_fixture fx;
  run_text(&fx,
           "scenario: clocked\n"
           "covers: ACC-06\n"
           "clock create \"2026-03-28T10:00:00Z\"\n"
           "expect var \"clock.now\" == 1774692000\n"
           "clock advance 24h\n"
           "expect var \"clock.now\" == 1774778400\n"
           "POST /echo\n"
           "  body \"x\"\n"
           "  expect header \"X-Clock\" == \"clk_test1\"\n"
           "  expect header \"X-Content-Type\" == \"none\"\n"
           "POST /echo\n"
           "  option no-clock\n"
           "  expect header \"X-Clock\" == \"none\"\n",
           "konform", false, NULL, 1);
  const kf_scenario_result *sc = &fx.run.scenarios[0];
  show(sc);
  assert_int_equal(sc->status, KF_STATUS_PASS);
  /* The scenario knows the target's clock time: from the answer, else by adding the advance. */
  assert_int_equal(sc->steps_len, 6);
  assert_true(sc->steps[2].exchanges_len >= 1);
  const kf_exchange *x = &sc->steps[2].exchanges[sc->steps[2].exchanges_len - 1];
  assert_non_null(x->request.body);
  assert_non_null(strstr(x->request.body, "\"seconds\":86400"));
  pthread_mutex_lock(&fake_lock);
  int deleted = fake_clocks_deleted;
  fake_clocks_deleted = 0;
  pthread_mutex_unlock(&fake_lock);
  assert_int_equal(deleted, 1); /* The scenario's clock is gone once it ended. */
  run_release(&fx);
}

/*
 * One worker reuses one handle for every scenario: nothing one request set
 * (method, body, NOBODY of a HEAD, headers such as Authorization and
 * Cookie) reaches the next request, of its scenario or the next.
 */
static void test_handle_keeps_nothing_between_requests(void **state) {
  (void)state;
  run_fixture fx;
  run_text(&fx,
           "scenario: sets everything\n"
           "covers: ACC-01\n"
           "PUT /mirror\n"
           "  header Authorization: Bearer secret\n"
           "  header Cookie: a=b\n"
           "  json {\"x\": 1}\n"
           "  expect json \"$.method\" == \"PUT\"\n"
           "  expect json \"$.Authorization\" == \"Bearer secret\"\n"
           "  expect json \"$.len\" == 8\n"
           "HEAD /mirror\n"
           "  header X-Extra: 1\n"
           "  expect header \"X-Method\" == \"HEAD\"\n"
           "  expect body == \"\"\n"
           "\n"
           "scenario: sees none of it\n"
           "covers: ACC-01\n"
           "GET /mirror\n"
           "  expect json \"$.method\" == \"GET\"\n"
           "  expect json \"$.Authorization\" == \"none\"\n"
           "  expect json \"$.Cookie\" == \"none\"\n"
           "  expect json \"$.X-Extra\" == \"none\"\n"
           "  expect json \"$.Content-Type\" == \"none\"\n"
           "  expect json \"$.len\" == 0\n"
           "POST /mirror\n"
           "  body \"abc\"\n"
           "  expect json \"$.method\" == \"POST\"\n"
           "  expect json \"$.len\" == 3\n"
           "  expect json \"$.Content-Type\" == \"none\"\n"
           "  expect json \"$.Expect\" == \"none\"\n"
           "DELETE /mirror\n"
           "  expect json \"$.method\" == \"DELETE\"\n"
           "  expect json \"$.len\" == 0\n"
           "GET /mirror\n"
           "  expect json \"$.method\" == \"GET\"\n"
           "  expect json \"$.Cookie\" == \"none\"\n",
           "none", false, NULL, 1);
  for (size_t i = 0; i < 2; i++) {
    show(&fx.run.scenarios[i]);
    assert_int_equal(fx.run.scenarios[i].status, KF_STATUS_PASS);
  }
  run_release(&fx);
}

/*
 * A lean run keeps the exchanges of a step that did not pass, whole and in
 * the order they were made (the request, then the raw mail a check fetched),
 * and its expects that did not hold; nothing of a step that passed.
 */
static void test_lean_keeps_failing_exchanges(void **state) {
  (void)state;
  run_lean = true;
  run_fixture fx;
  run_text(&fx,
           "scenario: fails late\n"
           "covers: ACC-05\n"
           "GET /hello\n"
           "  expect status == 200\n"
           "wait mail to \"a@konform.test\"\n"
           "POST /echo\n"
           "  header X-Note: kept\n"
           "  body \"ping\"\n"
           "  expect status == 201\n"
           "  expect mail.raw contains \"Subject\"\n"
           "  expect body == \"pong\"\n",
           "none", true, NULL, 1);
  run_lean = false;
  const kf_scenario_result *sc = &fx.run.scenarios[0];
  assert_int_equal(sc->status, KF_STATUS_FAIL);
  assert_int_equal(sc->steps_len, 3);
  assert_int_equal(sc->steps[0].exchanges_len, 0);
  assert_int_equal(sc->steps[0].asserts_len, 0);
  const kf_step_result *st = &sc->steps[2];
  assert_int_equal(st->status, KF_STATUS_FAIL);
  assert_int_equal(st->exchanges_len, 2);
  const kf_exchange *x = &st->exchanges[0];
  assert_string_equal(x->purpose, "request");
  assert_string_equal(x->method, "POST");
  assert_true(kf_str_ends_with(x->url, "/echo"));
  assert_int_equal(x->request.headers_len, 1);
  assert_string_equal(x->request.headers[0].name, "X-Note");
  assert_string_equal(x->request.headers[0].value, "kept");
  assert_int_equal(x->request.body_len, 4);
  assert_memory_equal(x->request.body, "ping", 4);
  assert_int_equal(x->status, 201);
  assert_non_null(x->status_line);
  assert_true(kf_str_starts_with(x->status_line, "HTTP/1.1 201"));
  bool seen = false;
  for (size_t i = 0; i < x->response.headers_len; i++)
    seen = seen || (strcmp(x->response.headers[i].name, "X-Content-Type") == 0 &&
                    strcmp(x->response.headers[i].value, "none") == 0);
  assert_true(seen);
  assert_int_equal(x->response.body_len, 4);
  assert_memory_equal(x->response.body, "ping", 4);
  assert_string_equal(st->exchanges[1].purpose, "raw source");
  /* Of the expects only the one that failed is kept, with what it got: nothing shows the others. */
  assert_int_equal(st->asserts_len, 1);
  const kf_assert_result *a = &st->asserts[0];
  assert_int_equal(a->status, KF_STATUS_FAIL);
  assert_string_equal(a->source, "expect body == \"pong\"");
  assert_non_null(a->actual);
  assert_non_null(a->expected);
  run_release(&fx);
}

static void test_waits_see_newer_items(void **state) {
  (void)state;
  run_fixture fx;
  run_text(&fx,
           "scenario: two mails\n"
           "covers: ACC-05\n"
           "wait mail to \"a+b@konform.test\" subject \"Hallo & T\"\n"
           "  expect mail.json \"$.id\" == 1\n"
           "  expect mail.subject == \"Hallo & Tschüss\"\n"
           "wait mail to \"a+b@konform.test\"\n"
           "  expect mail.json \"$.id\" == 2\n"
           "  expect mail.raw contains \"X-Id: 2\\r\\n\"\n"
           "scenario: no mail\n"
           "covers: ACC-05\n"
           "wait mail to \"nobody@konform.test\" subject \"Willkommen\" within 1s\n",
           "none", true, NULL, 2);
  show(&fx.run.scenarios[0]);
  assert_int_equal(fx.run.scenarios[0].status, KF_STATUS_PASS);
  /* The raw source is fetched only where a query reads it, and kept as an artifact there. */
  const kf_step_result *first = &fx.run.scenarios[0].steps[0];
  const kf_step_result *second = &fx.run.scenarios[0].steps[1];
  assert_int_equal(first->exchanges_len, 1);
  assert_int_equal(first->artifacts_len, 0);
  assert_int_equal(second->exchanges_len, 2);
  assert_non_null(strstr(second->exchanges[1].url, "/api/v1/messages/2/raw"));
  assert_int_equal(second->artifacts_len, 1);
  assert_string_equal(second->artifacts[0].media_type, "message/rfc822");
  assert_non_null(strstr(second->artifacts[0].data, "X-Id: 2"));
  const kf_scenario_result *sc = &fx.run.scenarios[1];
  assert_int_equal(sc->status, KF_STATUS_FAIL);
  assert_string_equal(sc->message,
                      "no mail to nobody@konform.test matching subject \"Willkommen\" within 1s");
  run_release(&fx);
}

static void test_unreachable_is_error(void **state) {
  (void)state;
  run_fixture fx;
  /* Port 1 on loopback: nobody listens there in a test environment. */
  run_text(&fx,
           "scenario: nowhere\n"
           "covers: ACC-01\n"
           "GET /hello\n"
           "  expect status == 200\n",
           "none", false, "http://127.0.0.1:1", 1);
  assert_int_equal(fx.run.scenarios[0].status, KF_STATUS_ERROR);
  run_release(&fx);
}

static void test_many_in_parallel_keep_order(void **state) {
  (void)state;
  run_fixture fx;
  run_text(&fx,
           "scenario: s1\ncovers: ACC-01\nGET /hello\n  expect status == 200\n"
           "scenario: s2\ncovers: ACC-01\nGET /hello\n  expect status == 404\n"
           "scenario: s3\ncovers: ACC-01\nGET /hello\n  expect status == 200\n"
           "scenario: s4\ncovers: ACC-01\nGET /nothing-here\n  expect status == 404\n"
           "scenario: s5\ncovers: ACC-01\nlet e = email()\nlet f = email()\nexpect var \"e\" != "
           "\"{{f}}\"\n",
           "none", false, NULL, 4);
  const kf_status want[] = {KF_STATUS_PASS, KF_STATUS_FAIL, KF_STATUS_PASS, KF_STATUS_PASS,
                            KF_STATUS_PASS};
  for (size_t i = 0; i < 5; i++) {
    if (fx.run.scenarios[i].status != want[i])
      show(&fx.run.scenarios[i]);
    assert_int_equal(fx.run.scenarios[i].status, want[i]);
  }
  assert_string_equal(fx.run.scenarios[3].name, "s4");
  run_release(&fx);
}

/* A `use` runs the fragment's steps with its parameters set; their results name the fragment's
 * file. */
static void test_use_fragment(void **state) {
  (void)state;
  static const char frag_text[] = "fragment: greet\n"
                                  "params: who\n"
                                  "POST /echo\n"
                                  "  body \"hi {{who}}\"\n"
                                  "  expect status == 201\n"
                                  "  capture said = body\n"
                                  "GET /hello\n"
                                  "  expect json \"$.greeting\" == \"{{g}}\"\n";
  kh_file *frag = NULL;
  kh_diag diag;
  kh_diag_init(&diag);
  kf_rc rc = kh_parse_text("fragments/greet.konform", frag_text, strlen(frag_text), &frag, &diag);
  if (rc != KF_OK)
    fprintf(stderr, "parse: %u:%u %s\n", diag.line, diag.col, diag.message);
  assert_int_equal(rc, KF_OK);
  kh_diag_release(&diag);
  assert_non_null(frag->fragment);

  static const char text[] = "scenario: uses a fragment\n"
                             "covers: ACC-01\n"
                             "let name = \"Max\"\n"
                             "let g = \"hallo\"\n"
                             "use greet who=\"{{name}}\"\n"
                             "expect var \"said\" == \"hi Max\"\n"
                             "scenario: fragment fails inside\n"
                             "covers: ACC-01\n"
                             "let g = \"moin\"\n"
                             "use greet who=\"x\"\n"
                             "GET /hello\n";
  run_fixture fx;
  kh_diag_init(&diag);
  assert_int_equal(kh_parse_text("t.konform", text, strlen(text), &fx.file, &diag), KF_OK);
  kh_diag_release(&diag);
  /* Resolve the uses by hand, as kh_suite_load would. */
  ((kh_use *)fx.file->scenarios[0].steps[2].data)->resolved = frag->fragment;
  ((kh_use *)fx.file->scenarios[1].steps[1].data)->resolved = frag->fragment;
  kh_file *parsed = fx.file;

  memset(&fx.suite, 0, sizeof(fx.suite));
  memset(fx.entries, 0, sizeof fx.entries);
  for (size_t i = 0; i < 2; i++) {
    fx.entries[i].scenario = &parsed->scenarios[i];
    fx.entries[i].file = parsed;
    fx.entries[i].index = i;
  }
  fx.suite.entries = fx.entries;
  fx.suite.entries_len = 2;
  kh_profile_init(&fx.profile);
  assert_int_equal(kh_profile_set(&fx.profile, "base_url", fake_url), KF_OK);
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kh_profile_finish(&fx.profile, &err), KF_OK);
  kf_run_result_init(&fx.run);
  kh_runner_config cfg = {
      .suite = &fx.suite, .profile = &fx.profile, .seed = 1, .run_id = 2, .jobs = 2};
  assert_int_equal(kh_runner_run(&cfg, &fx.run, &err), KF_OK);

  const kf_scenario_result *ok = &fx.run.scenarios[0];
  show(ok);
  assert_int_equal(ok->status, KF_STATUS_PASS);
  /* let, let, use, two fragment steps, the standalone expect. */
  assert_int_equal(ok->steps_len, 6);
  assert_string_equal(ok->steps[3].file, "fragments/greet.konform");
  assert_int_equal(ok->steps[3].line, 3);

  const kf_scenario_result *bad = &fx.run.scenarios[1];
  assert_int_equal(bad->status, KF_STATUS_FAIL);
  assert_string_equal(bad->fail_file, "fragments/greet.konform");
  assert_int_equal(bad->fail_line, 8);
  assert_int_equal(bad->steps[1].status, KF_STATUS_FAIL); /* The use line points at the fragment. */
  assert_int_equal(bad->steps_len, 4);                    /* The GET after the use never ran. */
  run_release(&fx);
  kh_file_free(frag);
}

/*
 * A fragment that uses itself (the loader refuses such a cycle; here it is
 * built by hand) errors up front at the loader's depth limit, before any step.
 */
static void test_fragment_cycle_is_error(void **state) {
  (void)state;
  static const char frag_text[] = "fragment: loop\n"
                                  "GET /hello\n"
                                  "  expect status == 200\n"
                                  "use loop\n";
  kh_file *frag = NULL;
  kh_diag diag;
  kh_diag_init(&diag);
  assert_int_equal(
      kh_parse_text("fragments/loop.konform", frag_text, strlen(frag_text), &frag, &diag), KF_OK);
  kh_diag_release(&diag);
  assert_non_null(frag->fragment);
  ((kh_use *)frag->fragment->steps[1].data)->resolved = frag->fragment;

  static const char text[] = "scenario: endless\ncovers: ACC-01\nuse loop\n";
  run_fixture fx;
  kh_diag_init(&diag);
  assert_int_equal(kh_parse_text("t.konform", text, strlen(text), &fx.file, &diag), KF_OK);
  kh_diag_release(&diag);
  ((kh_use *)fx.file->scenarios[0].steps[0].data)->resolved = frag->fragment;
  memset(&fx.suite, 0, sizeof(fx.suite));
  memset(fx.entries, 0, sizeof fx.entries);
  fx.entries[0].scenario = &fx.file->scenarios[0];
  fx.entries[0].file = fx.file;
  fx.entries[0].index = 0;
  fx.suite.entries = fx.entries;
  fx.suite.entries_len = 1;
  kh_profile_init(&fx.profile);
  assert_int_equal(kh_profile_set(&fx.profile, "base_url", fake_url), KF_OK);
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kh_profile_finish(&fx.profile, &err), KF_OK);
  kf_run_result_init(&fx.run);
  kh_runner_config cfg = {.suite = &fx.suite, .profile = &fx.profile, .jobs = 1};
  assert_int_equal(kh_runner_run(&cfg, &fx.run, &err), KF_OK);
  const kf_scenario_result *sc = &fx.run.scenarios[0];
  assert_int_equal(sc->status, KF_STATUS_ERROR);
  assert_string_equal(sc->message, "fragments nested deeper than 32 (a cycle?)");
  assert_int_equal(sc->steps_len, 0);
  run_release(&fx);
  kh_file_free(frag);
}

static void test_selection(void **state) {
  (void)state;
  kh_scenario sc;
  memset(&sc, 0, sizeof(sc));
  char *covers[] = {"ACC-01", "ACC-02"};
  char *tags[] = {"acc", "clock"};
  sc.name = "Registrierung mit Uhr";
  sc.covers = covers;
  sc.covers_len = 2;
  sc.tags = tags;
  sc.tags_len = 2;
  const char *want_cov[] = {"ACC-02"};
  const char *other_cov[] = {"ACC-09"};
  const char *want_tag[] = {"clock"};
  kh_selection sel = {.covers = want_cov, .covers_len = 1};
  assert_true(kh_selection_match(&sel, &sc));
  sel.covers = other_cov;
  assert_false(kh_selection_match(&sel, &sc));
  kh_selection sel2 = {.tags = want_tag, .tags_len = 1, .name = "mit Uhr"};
  assert_true(kh_selection_match(&sel2, &sc));
  sel2.name = "ohne";
  assert_false(kh_selection_match(&sel2, &sc));
  assert_true(kh_selection_match(NULL, &sc));
}

/* ---- HTTP client and mocks. ---- */

static void test_http_invalid_utf8_body_survives(void **state) {
  (void)state;
  char url[96];
  assert_int_equal(kf_str_format(url, sizeof(url), "%s/echo", fake_url), KF_OK);
  const char body[] = {'a', (char)0xff, 'b', 0, 'c'};
  kh_http_request req = {.method = "POST", .url = url, .body = body, .body_len = sizeof(body)};
  kh_http_response resp;
  kh_http_response_init(&resp);
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kh_http_perform(&req, &resp, &err), KF_OK);
  assert_int_equal(resp.status, 201);
  json_t *b = json_object_get(resp.subject, "body");
  assert_int_equal(json_string_length(b), sizeof(body));
  assert_memory_equal(json_string_value(b), body, sizeof(body));
  /* A body that is not JSON has no "json" at all, so `json "$"` is absent. */
  assert_null(json_object_get(resp.subject, "json"));
  assert_string_equal(json_string_value(json_object_get(json_object_get(resp.subject, "headers"),
                                                        "x-content-type")),
                      "none");
  /* The exchange keeps the body byte for byte; reports escape it for their medium. */
  assert_int_equal(resp.exchange.request.body_len, sizeof(body));
  assert_memory_equal(resp.exchange.request.body, body, sizeof(body));
  kh_http_response_release(&resp);
}

static void test_http_refused(void **state) {
  (void)state;
  kh_http_request req = {.method = "GET", .url = "http://127.0.0.1:1/"};
  kh_http_response resp;
  kh_http_response_init(&resp);
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kh_http_perform(&req, &resp, &err), KF_ERR_NETWORK);
  kh_http_response_release(&resp);
  int64_t last = -1;
  assert_int_equal(kh_mocks_health("http://127.0.0.1:1", 2000, &last, &err), KF_ERR_NETWORK);
  assert_int_equal(kh_mocks_health(fake_url, 2000, &last, &err), KF_OK);
  assert_int_equal(last, 0); /* A mock without "last_id" starts waits from the beginning. */
  pthread_mutex_lock(&fake_lock);
  fake_last_id = 17;
  pthread_mutex_unlock(&fake_lock);
  assert_int_equal(kh_mocks_health(fake_url, 2000, &last, &err), KF_OK);
  pthread_mutex_lock(&fake_lock);
  fake_last_id = 0;
  pthread_mutex_unlock(&fake_lock);
  assert_int_equal(last, 17);
}

/* ---- Command line. ---- */

static void test_cli_parse(void **state) {
  (void)state;
  kh_cli_options o;
  kf_err err;
  kf_err_init(&err);
  char *ok[] = {"konform",
                "run",
                "--jobs",
                "3",
                "--tag=acc",
                "--covers",
                "ACC-01",
                "--report",
                "json=/tmp/x.json",
                "--report=junit=/tmp/x.xml",
                "-v",
                "--seed",
                "99",
                "--run-id",
                "00ff",
                "scenarios/acc",
                NULL};
  assert_int_equal(kh_cli_parse(16, ok, &o, &err), KF_OK);
  assert_int_equal(o.command, KH_CMD_RUN);
  assert_int_equal(o.jobs, 3);
  assert_int_equal(o.tags_len, 1);
  assert_string_equal(o.tags[0], "acc");
  assert_int_equal(o.reports_len, 2);
  assert_string_equal(o.reports[0].kind->name, "json");
  assert_string_equal(o.reports[0].path, "/tmp/x.json");
  assert_string_equal(o.reports[1].kind->name, "junit");
  assert_true(o.verbose);
  assert_int_equal(o.seed, 99);
  assert_int_equal(o.run_id, 255);
  assert_int_equal(o.paths_len, 1);

  char *bad1[] = {"konform", "run", "--jobs", "zero", NULL};
  assert_int_equal(kh_cli_parse(4, bad1, &o, &err), KF_ERR_INVALID);
  char *bad2[] = {"konform", "run", "--frobnicate", NULL};
  assert_int_equal(kh_cli_parse(3, bad2, &o, &err), KF_ERR_INVALID);
  char *bad3[] = {"konform", "explode", NULL};
  assert_int_equal(kh_cli_parse(2, bad3, &o, &err), KF_ERR_INVALID);
  char *bad4[] = {"konform", "run", "--report", "xml=a", NULL};
  assert_int_equal(kh_cli_parse(4, bad4, &o, &err), KF_ERR_INVALID);
  char *bad5[] = {"konform", "run", "--target", NULL};
  assert_int_equal(kh_cli_parse(3, bad5, &o, &err), KF_ERR_INVALID);
  char *bad6[] = {"konform", NULL};
  assert_int_equal(kh_cli_parse(1, bad6, &o, &err), KF_ERR_INVALID);
}

static bool runner_body(void *data, const kt_alloc_run *run) {
  run_fixture *fx = data;
  kf_err err;
  kf_err_init(&err);
  kf_run_result_init(&fx->run);
  kh_runner_config cfg = {
      .suite = &fx->suite, .profile = &fx->profile, .seed = 7, .run_id = 0xabc, .jobs = 1};
  kt_alloc_arm(run);
  kf_rc rc = kh_runner_run(&cfg, &fx->run, &err);
  kt_alloc_disarm();
  bool ok = rc == KF_OK;
  /* The mocks' health probe may meet the fake target's own failure: unreachable, not a crash. */
  if (rc != KF_OK && rc != KF_ERR_NOMEM && rc != KF_ERR_NETWORK && rc != KF_ERR_STATE)
    fail_msg("n=%lu %s: %s: %s", run->n, run->persistent ? "persistent" : "transient",
             kf_rc_name(rc), err.message);
  else if (fx->run.scenarios_len == 1)
    ok = fx->run.scenarios[0].status == KF_STATUS_PASS;
  /* The in-process fake target shares the allocator, so its own failures may fail a step. */
  kf_run_result_release(&fx->run);
  return ok;
}

/* A whole run, allocation after allocation failing: no crash, no leak, no hang. */
static void test_runner_allocation_failures(void **state) {
  (void)state;
  run_fixture fx;
  run_text(&fx,
           "scenario: all steps\n"
           "covers: ACC-05\n"
           "let e = email()\n"
           "clock create \"2026-03-28T10:00:00Z\"\n"
           "GET /hello\n"
           "  expect status == 200\n"
           "  capture b = body\n"
           "wait mail to \"a@konform.test\"\n"
           "  expect mail.raw contains \"X-Id\"\n"
           "  expect mail.json \"$.id\" >= 1\n",
           "konform", true, NULL, 1);
  assert_int_equal(fx.run.scenarios[0].status, KF_STATUS_PASS);
  kf_run_result_release(&fx.run);
  assert_true(kt_alloc_sweep(runner_body, &fx) > 20);
  kf_run_result_init(&fx.run);
  run_release(&fx);
  pthread_mutex_lock(&fake_lock);
  fake_clocks_deleted = 0;
  pthread_mutex_unlock(&fake_lock);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pass),
      cmocka_unit_test(test_asserts_nothing_is_error),
      cmocka_unit_test(test_not_selected_counted),
      cmocka_unit_test(test_waits_start_after_last_id),
      cmocka_unit_test(test_long_wait_is_several_polls),
      cmocka_unit_test(test_fragment_cycle_is_error),
      cmocka_unit_test(test_failed_expect_stops),
      cmocka_unit_test(test_capture_then_reuse),
      cmocka_unit_test(test_unknown_variable_is_error),
      cmocka_unit_test(test_clock_without_control_is_skip),
      cmocka_unit_test(test_clock_header_sent),
      cmocka_unit_test(test_handle_keeps_nothing_between_requests),
      cmocka_unit_test(test_lean_keeps_failing_exchanges),
      cmocka_unit_test(test_waits_see_newer_items),
      cmocka_unit_test(test_unreachable_is_error),
      cmocka_unit_test(test_many_in_parallel_keep_order),
      cmocka_unit_test(test_use_fragment),
      cmocka_unit_test(test_selection),
      cmocka_unit_test(test_http_invalid_utf8_body_survives),
      cmocka_unit_test(test_http_refused),
      cmocka_unit_test(test_cli_parse),
      cmocka_unit_test(test_runner_allocation_failures),
  };
  return cmocka_run_group_tests_name("runner", tests, fake_start, fake_stop);
}
