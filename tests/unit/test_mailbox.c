/*
 * test_mailbox.c: the kf_mailbox store (add, get, filters, delete, clear,
 * cap, long-poll wait, shutdown, persistence, allocation failures).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/httpd.h"
#include "kf/mailbox.h"
#include "kf/mailbox_api.h"
#include "kf/str.h"
#include "kf/timeutil.h"
#include "mailbox_priv.h"

static kf_mailbox *open_memory(size_t max_items) {
  kf_mailbox *mb = NULL;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = kf_mailbox_open(NULL, max_items, &mb, &err);
  if (rc != KF_OK)
    fail_msg("open: %s", err.message);
  assert_non_null(mb);
  return mb;
}

/* Add a mail-like item with the given keys; returns its id. */
static int64_t add_mail(kf_mailbox *mb, const char *to1, const char *to2, const char *from,
                        const char *subject) {
  const char *rcpts[2] = {to1, to2};
  kf_mailbox_keys keys = {0};
  keys.recipients = rcpts;
  keys.recipients_len = to2 ? 2 : 1;
  keys.sender = from;
  keys.subject = subject;
  json_t *doc = json_pack("{s:s, s:s}", "from", from, "subject", subject);
  assert_non_null(doc);
  int64_t id = 0;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = kf_mailbox_add(mb, &keys, doc, "raw source", 10, &id, &err);
  json_decref(doc);
  if (rc != KF_OK)
    fail_msg("add: %s", err.message);
  assert_true(id > 0);
  return id;
}

static int64_t add_letter(kf_mailbox *mb, const char *kind, const char *customer,
                          const char *name) {
  kf_mailbox_keys keys = {0};
  keys.kind = kind;
  keys.customer_number = customer;
  keys.recipient_name = name;
  json_t *doc = json_pack("{s:s, s:{s:s}}", "kind", kind, "recipient", "name", name);
  assert_non_null(doc);
  int64_t id = 0;
  assert_int_equal(kf_mailbox_add(mb, &keys, doc, NULL, 0, &id, NULL), KF_OK);
  json_decref(doc);
  return id;
}

static size_t list_count(kf_mailbox *mb, const kf_mailbox_filter *f) {
  json_t *list = NULL;
  assert_int_equal(kf_mailbox_list(mb, f, &list, NULL), KF_OK);
  assert_true(json_is_array(list));
  size_t n = json_array_size(list);
  json_decref(list);
  return n;
}

static void test_add_get(void **state) {
  (void)state;
  kf_mailbox *mb = open_memory(100);
  json_t *doc =
      json_pack("{s:i, s:s, s:s}", "id", 999, "received_at", "forged", "subject", "Hallo");
  int64_t id = 0;
  assert_int_equal(kf_mailbox_add(mb, NULL, doc, NULL, 0, &id, NULL), KF_OK);
  json_decref(doc);
  assert_int_equal(id, 1);
  assert_int_equal(kf_mailbox_count(mb), 1);

  json_t *got = NULL;
  assert_int_equal(kf_mailbox_get(mb, id, &got, NULL), KF_OK);
  /* The store's id and received_at replace whatever the document said. */
  assert_int_equal(json_integer_value(json_object_get(got, "id")), id);
  const char *at = json_string_value(json_object_get(got, "received_at"));
  assert_non_null(at);
  int64_t t;
  assert_int_equal(kf_time_parse_iso(at, &t), KF_OK);
  assert_true(t > 1700000000);
  assert_string_equal(json_string_value(json_object_get(got, "subject")), "Hallo");
  /* "id" comes first, so documents read well. */
  assert_string_equal(json_object_iter_key(json_object_iter(got)), "id");
  json_decref(got);

  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kf_mailbox_get(mb, 42, &got, &err), KF_ERR_NOT_FOUND);
  assert_null(got);
  json_t *not_object = json_array();
  assert_int_equal(kf_mailbox_add(mb, NULL, not_object, NULL, 0, NULL, &err), KF_ERR_INVALID);
  json_decref(not_object);
  kf_mailbox_free(mb);
}

static void test_raw(void **state) {
  (void)state;
  kf_mailbox *mb = open_memory(100);
  int64_t mail = add_mail(mb, "a@b.test", NULL, "x@y.test", "S");
  int64_t letter = add_letter(mb, "freischaltcode", NULL, "Max");
  char *raw = NULL;
  size_t len = 0;
  assert_int_equal(kf_mailbox_get_raw(mb, mail, &raw, &len, NULL), KF_OK);
  assert_int_equal(len, 10);
  assert_memory_equal(raw, "raw source", 10);
  kf_free(raw);
  assert_int_equal(kf_mailbox_get_raw(mb, letter, &raw, &len, NULL), KF_ERR_NOT_FOUND);
  assert_int_equal(kf_mailbox_get_raw(mb, 77, &raw, &len, NULL), KF_ERR_NOT_FOUND);
  assert_null(raw);
  kf_mailbox_free(mb);
}

static void test_list_filters(void **state) {
  (void)state;
  kf_mailbox *mb = open_memory(100);
  int64_t m1 = add_mail(mb, "Anna@Example.TEST", "bob@example.test",
                        "kontoservice@arbeitsagentur.de", "Bestätigung Ihrer E-Mail-Adresse");
  int64_t m2 = add_mail(mb, "carl@example.test", NULL, "other@example.test", "Ihre Registrierung");
  int64_t l1 = add_letter(mb, "freischaltcode", "123A123456", "Max Mustermann");
  int64_t l2 = add_letter(mb, "einmal-passwort", "123A123456", "Erika Musterfrau");

  kf_mailbox_filter f = {0};
  assert_int_equal(list_count(mb, &f), 4);
  assert_int_equal(list_count(mb, NULL), 4);

  /* Oldest first. */
  json_t *list = NULL;
  assert_int_equal(kf_mailbox_list(mb, &f, &list, NULL), KF_OK);
  assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "id")), m1);
  assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 3), "id")), l2);
  json_decref(list);

  f.to = "anna@example.test";
  assert_int_equal(list_count(mb, &f), 1);
  f.to = "BOB@EXAMPLE.TEST";
  assert_int_equal(list_count(mb, &f), 1);
  f.to = "bob@example";
  assert_int_equal(list_count(mb, &f), 0);
  f.to = "";
  assert_int_equal(list_count(mb, &f), 4);
  f.to = NULL;

  f.from = "KONTOSERVICE@arbeitsagentur.de";
  assert_int_equal(list_count(mb, &f), 1);
  f.from = NULL;

  f.subject = "Bestätigung";
  assert_int_equal(list_count(mb, &f), 1);
  f.subject = "Ihre";
  assert_int_equal(list_count(mb, &f), 2);
  f.subject = "ihre";
  assert_int_equal(list_count(mb, &f), 0);
  f.subject = NULL;

  f.kind = "freischaltcode";
  assert_int_equal(list_count(mb, &f), 1);
  f.kind = NULL;
  f.customer_number = "123A123456";
  assert_int_equal(list_count(mb, &f), 2);
  f.recipient_name = "Erika Musterfrau";
  assert_int_equal(list_count(mb, &f), 1);
  f.recipient_name = "Erika";
  assert_int_equal(list_count(mb, &f), 0);
  f.recipient_name = NULL;
  f.customer_number = NULL;

  f.after_id = m2;
  assert_int_equal(list_count(mb, &f), 2);
  f.after_id = l2;
  assert_int_equal(list_count(mb, &f), 0);
  f.after_id = 0;

  f.limit = 3;
  assert_int_equal(list_count(mb, &f), 3);
  f.limit = 1;
  f.after_id = m1;
  assert_int_equal(kf_mailbox_list(mb, &f, &list, NULL), KF_OK);
  assert_int_equal(json_array_size(list), 1);
  assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "id")), m2);
  json_decref(list);
  (void)l1;
  kf_mailbox_free(mb);
}

static void test_delete_clear(void **state) {
  (void)state;
  kf_mailbox *mb = open_memory(100);
  assert_int_equal(kf_mailbox_last_id(mb), 0);
  int64_t a = add_mail(mb, "a@b.test", NULL, "x@y.test", "one");
  int64_t b = add_mail(mb, "a@b.test", NULL, "x@y.test", "two");
  assert_int_equal(kf_mailbox_last_id(mb), b);
  assert_int_equal(kf_mailbox_delete(mb, a, NULL), KF_OK);
  assert_int_equal(kf_mailbox_count(mb), 1);
  json_t *doc = NULL;
  assert_int_equal(kf_mailbox_get(mb, a, &doc, NULL), KF_ERR_NOT_FOUND);
  assert_int_equal(kf_mailbox_delete(mb, a, NULL), KF_ERR_NOT_FOUND);
  kf_mailbox_filter f = {0};
  f.to = "a@b.test";
  assert_int_equal(list_count(mb, &f), 1);

  assert_int_equal(kf_mailbox_clear(mb, NULL), KF_OK);
  assert_int_equal(kf_mailbox_count(mb), 0);
  assert_int_equal(list_count(mb, &f), 0);
  /* Ids are never reused, so "after" cursors stay valid across a clear. */
  assert_int_equal(kf_mailbox_last_id(mb), b);
  int64_t c = add_mail(mb, "a@b.test", NULL, "x@y.test", "three");
  assert_true(c > b);
  assert_int_equal(kf_mailbox_last_id(mb), c);
  kf_mailbox_free(mb);
}

static void test_max_items(void **state) {
  (void)state;
  kf_mailbox *mb = open_memory(2);
  add_letter(mb, "k", NULL, "A");
  int64_t second = add_letter(mb, "k", NULL, "B");
  json_t *doc = json_object();
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kf_mailbox_add(mb, NULL, doc, NULL, 0, NULL, &err), KF_ERR_LIMIT);
  assert_int_equal(kf_mailbox_count(mb), 2);
  /* Deleting makes room again. */
  assert_int_equal(kf_mailbox_delete(mb, second, NULL), KF_OK);
  assert_int_equal(kf_mailbox_add(mb, NULL, doc, NULL, 0, NULL, &err), KF_OK);
  json_decref(doc);
  kf_mailbox_free(mb);
}

static void test_wait_existing(void **state) {
  (void)state;
  kf_mailbox *mb = open_memory(100);
  add_mail(mb, "a@b.test", NULL, "x@y.test", "first");
  int64_t b = add_mail(mb, "a@b.test", NULL, "x@y.test", "second");
  kf_mailbox_filter f = {0};
  f.to = "A@B.test";
  json_t *doc = NULL;
  /* A long timeout: the answer must come at once, not at the deadline. */
  int64_t t0 = kf_time_monotonic_ms();
  assert_int_equal(kf_mailbox_wait(mb, &f, 60000, &doc, NULL), KF_OK);
  assert_true(kf_time_monotonic_ms() - t0 < 5000);
  assert_string_equal(json_string_value(json_object_get(doc, "subject")), "first");
  json_decref(doc);
  f.subject = "second";
  assert_int_equal(kf_mailbox_wait(mb, &f, 0, &doc, NULL), KF_OK);
  assert_int_equal(json_integer_value(json_object_get(doc, "id")), b);
  json_decref(doc);
  kf_mailbox_free(mb);
}

static void test_wait_timeout(void **state) {
  (void)state;
  kf_mailbox *mb = open_memory(100);
  int64_t a = add_mail(mb, "a@b.test", NULL, "x@y.test", "old");
  kf_mailbox_filter f = {0};
  f.to = "a@b.test";
  f.after_id = a;
  json_t *doc = NULL;
  kf_err err;
  kf_err_init(&err);
  int64_t t0 = kf_time_monotonic_ms();
  assert_int_equal(kf_mailbox_wait(mb, &f, 60, &doc, &err), KF_ERR_TIMEOUT);
  int64_t elapsed = kf_time_monotonic_ms() - t0;
  assert_true(elapsed >= 59);
  assert_true(elapsed < 5000);
  assert_null(doc);
  assert_int_equal(kf_mailbox_wait(mb, &f, 0, &doc, &err), KF_ERR_TIMEOUT);
  kf_mailbox_free(mb);
}

typedef struct waiter {
  kf_mailbox *mb;
  kf_mailbox_filter filter;
  int64_t timeout_ms;
  kf_rc rc;
  json_t *doc;
} waiter;

static void *waiter_main(void *arg) {
  waiter *w = arg;
  w->rc = kf_mailbox_wait(w->mb, &w->filter, w->timeout_ms, &w->doc, NULL);
  return NULL;
}

static void test_wait_woken_by_add(void **state) {
  (void)state;
  kf_mailbox *mb = open_memory(100);
  waiter w = {.mb = mb, .timeout_ms = 60000};
  w.filter.to = "late@b.test";
  pthread_t th;
  int64_t t0 = kf_time_monotonic_ms();
  assert_int_equal(pthread_create(&th, NULL, waiter_main, &w), 0);
  /* Once this returns the waiter is asleep on the condition variable. */
  kf_mailbox_await_waiters(mb, 1);
  /* A non-matching item wakes it, but it must keep waiting. */
  add_mail(mb, "other@b.test", NULL, "x@y.test", "not for you");
  kf_mailbox_await_waiters(mb, 1);
  int64_t id = add_mail(mb, "other@b.test", "LATE@b.test", "x@y.test", "for you");
  assert_int_equal(pthread_join(th, NULL), 0);
  assert_int_equal(w.rc, KF_OK);
  assert_int_equal(json_integer_value(json_object_get(w.doc, "id")), id);
  assert_true(kf_time_monotonic_ms() - t0 < 30000);
  json_decref(w.doc);
  kf_mailbox_free(mb);
}

static void test_shutdown_wakes_waiters(void **state) {
  (void)state;
  kf_mailbox *mb = open_memory(100);
  waiter w1 = {.mb = mb, .timeout_ms = 60000};
  waiter w2 = {.mb = mb, .timeout_ms = 60000};
  w2.filter.kind = "never";
  pthread_t t1, t2;
  int64_t t0 = kf_time_monotonic_ms();
  assert_int_equal(pthread_create(&t1, NULL, waiter_main, &w1), 0);
  assert_int_equal(pthread_create(&t2, NULL, waiter_main, &w2), 0);
  kf_mailbox_await_waiters(mb, 2);
  kf_mailbox_shutdown(mb);
  assert_int_equal(pthread_join(t1, NULL), 0);
  assert_int_equal(pthread_join(t2, NULL), 0);
  assert_int_equal(w1.rc, KF_ERR_STATE);
  assert_int_equal(w2.rc, KF_ERR_STATE);
  assert_true(kf_time_monotonic_ms() - t0 < 30000);
  /* New waits are refused at once. */
  json_t *doc = NULL;
  assert_int_equal(kf_mailbox_wait(mb, NULL, 60000, &doc, NULL), KF_ERR_STATE);
  kf_mailbox_free(mb);
}

static void test_free_wakes_waiter(void **state) {
  (void)state;
  kf_mailbox *mb = open_memory(100);
  waiter w = {.mb = mb, .timeout_ms = 60000};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, waiter_main, &w), 0);
  kf_mailbox_await_waiters(mb, 1);
  /* kf_mailbox_free wakes the waiter and waits for it to leave first. */
  kf_mailbox_free(mb);
  assert_int_equal(pthread_join(th, NULL), 0);
  assert_int_equal(w.rc, KF_ERR_STATE);
}

static void test_file_persistence(void **state) {
  (void)state;
  char dir[] = "/tmp/kf-mailbox-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[128];
  assert_int_equal(kf_str_format(path, sizeof(path), "%s/store.db", dir), KF_OK);
  kf_mailbox *mb = NULL;
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kf_mailbox_open(path, 10, &mb, &err), KF_OK);
  int64_t id = add_mail(mb, "a@b.test", NULL, "x@y.test", "kept");
  kf_mailbox_free(mb);

  assert_int_equal(kf_mailbox_open(path, 10, &mb, &err), KF_OK);
  assert_int_equal(kf_mailbox_count(mb), 1);
  json_t *doc = NULL;
  assert_int_equal(kf_mailbox_get(mb, id, &doc, NULL), KF_OK);
  assert_string_equal(json_string_value(json_object_get(doc, "subject")), "kept");
  json_decref(doc);
  kf_mailbox_free(mb);

  const char *suffixes[] = {"", "-wal", "-shm"};
  for (size_t i = 0; i < 3; i++) {
    char file[160];
    assert_int_equal(kf_str_format(file, sizeof(file), "%s%s", path, suffixes[i]), KF_OK);
    (void)unlink(file);
  }
  assert_int_equal(rmdir(dir), 0);

  assert_int_equal(kf_mailbox_open("/nonexistent-dir/x/y.db", 10, &mb, &err), KF_ERR_DB);
  assert_null(mb);
}

/* Fail each allocation of an add in turn: every failure must leave nothing behind. */
static void test_add_alloc_failures(void **state) {
  (void)state;
  kf_mailbox *mb = open_memory(100);
  add_mail(mb, "keep@b.test", NULL, "x@y.test", "existing");
  json_t *doc = json_pack("{s:s, s:[s,s], s:{s:s, s:i}}", "subject", "Betreff", "to", "a@b.test",
                          "c@d.test", "nested", "k", "v", "n", 7);
  assert_non_null(doc);
  const char *rcpts[] = {"new@b.test", "other@b.test"};
  kf_mailbox_keys keys = {
      .recipients = rcpts, .recipients_len = 2, .subject = "Betreff", .kind = "k"};
  kf_mailbox_filter f = {0};
  f.to = "new@b.test";
  unsigned long failures = 0;
  for (unsigned long n = 1; n < 1000; n++) {
    kf_err err;
    kf_err_init(&err);
    int64_t id = 0;
    kf_alloc_fail_at(n);
    kf_rc rc = kf_mailbox_add(mb, &keys, doc, "raw", 3, &id, &err);
    int failed = kf_alloc_failed();
    kf_alloc_fail_at(0);
    if (!failed) {
      assert_int_equal(rc, KF_OK);
      break;
    }
    failures++;
    assert_int_not_equal(rc, KF_OK);
    assert_int_equal(kf_mailbox_count(mb), 1);
    assert_int_equal(list_count(mb, &f), 0);
    kf_mailbox_filter all = {0};
    assert_int_equal(list_count(mb, &all), 1);
  }
  assert_true(failures >= 3);
  assert_int_equal(kf_mailbox_count(mb), 2);
  assert_int_equal(list_count(mb, &f), 1);
  json_decref(doc);
  kf_mailbox_free(mb);
}

/* ---- The shared HTTP API, served in-process on loopback. ---- */

typedef struct reply {
  long status;
  kf_buf body;
  kf_buf headers;
} reply;

static size_t collect(char *data, size_t size, size_t n, void *userdata) {
  return kf_buf_append((kf_buf *)userdata, data, size * n) == KF_OK ? size * n : 0;
}

/* One request; the caller releases r->body and r->headers. */
static void http(unsigned port, const char *method, const char *path, reply *r) {
  char url[256];
  assert_int_equal(kf_str_format(url, sizeof(url), "http://127.0.0.1:%u%s", port, path), KF_OK);
  kf_buf_init(&r->body, 1 << 20);
  kf_buf_init(&r->headers, 1 << 16);
  CURL *c = curl_easy_init();
  assert_non_null(c);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
  assert_int_equal(curl_easy_perform(c), CURLE_OK);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
  curl_easy_cleanup(c);
}

static void reply_release(reply *r) {
  kf_buf_release(&r->body);
  kf_buf_release(&r->headers);
}

/* The "code" of an error answer, or "" (the returned string lives in a static slot). */
static const char *reply_error_code(const reply *r) {
  static char code[64];
  code[0] = '\0';
  json_t *j = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, NULL);
  const char *s = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
  if (s)
    (void)kf_str_copy(code, sizeof(code), s);
  json_decref(j);
  return code;
}

static void test_api_messages(void **state) {
  (void)state;
  kf_mailbox *mb = open_memory(100);
  kf_httpd_config cfg;
  kf_httpd_config_init(&cfg);
  cfg.threads = 0;
  kf_httpd *httpd = NULL;
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kf_httpd_new(&cfg, &httpd, &err), KF_OK);
  assert_int_equal(kf_mailbox_api_register(httpd, mb, "messages", &err), KF_OK);
  assert_int_equal(kf_mailbox_api_register(httpd, mb, "bad/name", &err), KF_ERR_INVALID);
  assert_int_equal(kf_httpd_start(httpd, &err), KF_OK);
  unsigned port = kf_httpd_port(httpd);
  int64_t id = add_mail(mb, "Anna@Example.test", NULL, "x@y.test", "Bestätigung");

  reply r;
  http(port, "GET", "/api/v1/messages?to=anna%40example.TEST", &r);
  assert_int_equal(r.status, 200);
  json_t *j = json_loadb(r.body.data, r.body.len, 0, NULL);
  assert_int_equal(json_integer_value(json_object_get(j, "count")), 1);
  assert_int_equal(json_array_size(json_object_get(j, "messages")), 1);
  json_decref(j);
  reply_release(&r);

  http(port, "GET", "/api/v1/messages/1/raw", &r);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.body.len, 10);
  assert_memory_equal(r.body.data, "raw source", 10);
  assert_non_null(strstr(r.headers.data, "message/rfc822"));
  reply_release(&r);

  http(port, "GET", "/api/v1/messages/2/raw", &r);
  assert_int_equal(r.status, 404);
  assert_string_equal(reply_error_code(&r), "NOT_FOUND");
  reply_release(&r);

  http(port, "GET", "/api/v1/messages/0", &r);
  assert_int_equal(r.status, 400);
  assert_string_equal(reply_error_code(&r), "INVALID_PARAMETER");
  reply_release(&r);

  http(port, "GET", "/api/v1/messages?limit=1001", &r);
  assert_int_equal(r.status, 400);
  assert_non_null(strstr(r.body.data, "\"field\":\"limit\""));
  reply_release(&r);

  http(port, "GET", "/api/v1/messages?subject=%FF", &r);
  assert_int_equal(r.status, 400);
  assert_non_null(strstr(r.body.data, "\"field\":\"subject\""));
  reply_release(&r);

  http(port, "GET", "/api/v1/wait/messages?timeout_ms=-1", &r);
  assert_int_equal(r.status, 400);
  assert_non_null(strstr(r.body.data, "\"field\":\"timeout_ms\""));
  reply_release(&r);

  http(port, "GET", "/api/v1/wait/messages?subject=Best%C3%A4tigung&timeout_ms=0", &r);
  assert_int_equal(r.status, 200);
  j = json_loadb(r.body.data, r.body.len, 0, NULL);
  assert_int_equal(json_integer_value(json_object_get(j, "id")), id);
  json_decref(j);
  reply_release(&r);

  http(port, "GET", "/api/v1/wait/messages?after=1&timeout_ms=0", &r);
  assert_int_equal(r.status, 408);
  assert_string_equal(reply_error_code(&r), "WAIT_TIMEOUT");
  reply_release(&r);

  http(port, "PATCH", "/api/v1/messages", &r);
  assert_int_equal(r.status, 405);
  reply_release(&r);

  http(port, "GET", "/api/v1/health", &r);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.body.data, "\"collection\":\"messages\""));
  reply_release(&r);

  http(port, "DELETE", "/api/v1/messages", &r);
  assert_int_equal(r.status, 204);
  reply_release(&r);
  assert_int_equal(kf_mailbox_count(mb), 0);

  /* Shutdown order of the mocks: release waits, stop the daemon, then free. */
  kf_mailbox_shutdown(mb);
  kf_httpd_free(httpd);
  kf_mailbox_free(mb);
}

int main(void) {
  /* Route jansson through kf_malloc so the injection reaches document building. */
  kf_alloc_install_jansson();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_add_get),
      cmocka_unit_test(test_raw),
      cmocka_unit_test(test_list_filters),
      cmocka_unit_test(test_delete_clear),
      cmocka_unit_test(test_max_items),
      cmocka_unit_test(test_wait_existing),
      cmocka_unit_test(test_wait_timeout),
      cmocka_unit_test(test_wait_woken_by_add),
      cmocka_unit_test(test_shutdown_wakes_waiters),
      cmocka_unit_test(test_free_wakes_waiter),
      cmocka_unit_test(test_file_persistence),
      cmocka_unit_test(test_add_alloc_failures),
      cmocka_unit_test(test_api_messages),
  };
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return failed;
}
