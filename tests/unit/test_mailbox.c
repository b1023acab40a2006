/*
 * test_mailbox.c: the kf_mailbox store (collections and their search keys,
 * add, get, filters, delete, clear, cap, long-poll wait, shutdown,
 * persistence, migration and rebuilt search values, allocation failures) and
 * the shared HTTP API over it; adding together (one commit for many items,
 * from one call or from several threads) and documents built on reading.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
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
#include "kt_alloc.h"
#include "mailbox_priv.h"

static kf_mailbox *open_memory(const char *collection, size_t max_items) {
  kf_mailbox *mb = NULL;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = kf_mailbox_open(NULL, collection, max_items, &mb, &err);
  if (rc != KF_OK)
    fail_msg("open: %s", err.message);
  assert_non_null(mb);
  return mb;
}

/* A mail document as konform-mail's decoder makes it (the parts the keys read). */
static json_t *mail_doc(const char *to1, const char *to2, const char *from, const char *subject) {
  json_t *rcpts = json_array();
  assert_non_null(rcpts);
  assert_int_equal(json_array_append_new(rcpts, json_string(to1)), 0);
  if (to2)
    assert_int_equal(json_array_append_new(rcpts, json_string(to2)), 0);
  json_t *doc = json_pack("{s:{s:s, s:o}, s:s, s:s}", "envelope", "mail_from", from, "rcpt_to",
                          rcpts, "from", from, "subject", subject);
  assert_non_null(doc);
  return doc;
}

/* Add a mail with the given envelope and subject; returns its id. */
static int64_t add_mail(kf_mailbox *mb, const char *to1, const char *to2, const char *from,
                        const char *subject) {
  json_t *doc = mail_doc(to1, to2, from, subject);
  int64_t id = 0;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = kf_mailbox_add(mb, doc, "raw source", 10, &id, &err);
  json_decref(doc);
  if (rc != KF_OK)
    fail_msg("add: %s", err.message);
  assert_true(id > 0);
  return id;
}

static int64_t add_letter(kf_mailbox *mb, const char *kind, const char *customer,
                          const char *name) {
  json_t *doc = json_pack("{s:s, s:{s:s, s:s?}}", "kind", kind, "recipient", "name", name,
                          "customer_number", customer);
  assert_non_null(doc);
  int64_t id = 0;
  assert_int_equal(kf_mailbox_add(mb, doc, NULL, 0, &id, NULL), KF_OK);
  json_decref(doc);
  return id;
}

static size_t list_count(kf_mailbox *mb, const kf_mailbox_filter *f) {
  json_t *list = NULL;
  kf_err err;
  kf_err_init(&err);
  if (kf_mailbox_list(mb, f, &list, &err) != KF_OK)
    fail_msg("list: %s", err.message);
  assert_true(json_is_array(list));
  size_t n = json_array_size(list);
  json_decref(list);
  return n;
}

/* How many items one filter term finds. */
static size_t count_by(kf_mailbox *mb, const char *key, const char *value) {
  kf_mailbox_filter f = {0};
  assert_int_equal(kf_mailbox_filter_set(&f, key, value), KF_OK);
  return list_count(mb, &f);
}

static void test_collections(void **state) {
  (void)state;
  const kf_mailbox_collection *messages = kf_mailbox_collection_find("messages");
  const kf_mailbox_collection *letters = kf_mailbox_collection_find("letters");
  assert_non_null(messages);
  assert_non_null(letters);
  assert_null(kf_mailbox_collection_find("uploads"));
  assert_string_equal(messages->keys[0].name, "to");
  assert_int_equal(messages->keys[0].match, KF_MAILBOX_MATCH_EXACT_CI);
  assert_int_equal(messages->keys[2].match, KF_MAILBOX_MATCH_SUBSTRING);
  assert_string_equal(letters->keys[2].name, "name");
  assert_string_equal(letters->keys[2].path, "recipient.name");
  /* Every name is a path segment, and all key names together fit one filter. */
  size_t keys = 0;
  const kf_mailbox_collection *c;
  for (size_t i = 0; (c = kf_mailbox_collection_at(i)) != NULL; i++) {
    assert_true(c->name[0] != '\0' && !strchr(c->name, '/') && !strchr(c->name, '{'));
    for (size_t k = 0; k < KF_MAILBOX_KEYS_MAX && c->keys[k].name; k++)
      keys++;
  }
  assert_true(keys <= KF_MAILBOX_TERMS_MAX);
  kf_mailbox *mb = NULL;
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kf_mailbox_open(NULL, "bad/name", 10, &mb, &err), KF_ERR_INVALID);
  assert_null(mb);
  mb = open_memory("letters", 10);
  assert_ptr_equal(kf_mailbox_collection_of(mb), letters);
  kf_mailbox_free(mb);
}

static void test_filter_set(void **state) {
  (void)state;
  kf_mailbox_filter f = {0};
  assert_int_equal(kf_mailbox_filter_set(&f, "to", "a@b.test"), KF_OK);
  assert_int_equal(kf_mailbox_filter_set(&f, "to", "c@d.test"), KF_OK);
  assert_int_equal(f.terms_len, 1);
  assert_string_equal(f.terms[0].value, "c@d.test");
  static const char *const names[] = {"k1", "k2", "k3", "k4", "k5", "k6", "k7"};
  for (size_t i = 0; i < 7; i++)
    assert_int_equal(kf_mailbox_filter_set(&f, names[i], "v"), KF_OK);
  assert_int_equal(kf_mailbox_filter_set(&f, "k8", "v"), KF_ERR_LIMIT);
  assert_int_equal(kf_mailbox_filter_set(&f, "k7", NULL), KF_OK);
  assert_int_equal(f.terms_len, KF_MAILBOX_TERMS_MAX);
}

static void test_add_get(void **state) {
  (void)state;
  kf_mailbox *mb = open_memory("messages", 100);
  json_t *doc =
      json_pack("{s:i, s:s, s:s}", "id", 999, "received_at", "forged", "subject", "Hallo");
  int64_t id = 0;
  assert_int_equal(kf_mailbox_add(mb, doc, NULL, 0, &id, NULL), KF_OK);
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
  assert_int_equal(kf_mailbox_add(mb, not_object, NULL, 0, NULL, &err), KF_ERR_INVALID);
  json_decref(not_object);
  kf_mailbox_free(mb);
}

static void test_raw(void **state) {
  (void)state;
  kf_mailbox *mb = open_memory("messages", 100);
  int64_t mail = add_mail(mb, "a@b.test", NULL, "x@y.test", "S");
  json_t *doc = mail_doc("a@b.test", NULL, "x@y.test", "no source");
  int64_t bare = 0, empty = 0;
  assert_int_equal(kf_mailbox_add(mb, doc, NULL, 0, &bare, NULL), KF_OK);
  assert_int_equal(kf_mailbox_add(mb, doc, "", 0, &empty, NULL), KF_OK);
  json_decref(doc);
  char *raw = NULL;
  size_t len = 0;
  assert_int_equal(kf_mailbox_get_raw(mb, mail, &raw, &len, NULL), KF_OK);
  assert_int_equal(len, 10);
  assert_memory_equal(raw, "raw source", 10);
  kf_free(raw);
  /* An empty source is a source: it reads back as zero bytes. */
  assert_int_equal(kf_mailbox_get_raw(mb, empty, &raw, &len, NULL), KF_OK);
  assert_int_equal(len, 0);
  assert_string_equal(raw, "");
  kf_free(raw);
  raw = NULL;
  assert_int_equal(kf_mailbox_get_raw(mb, bare, &raw, &len, NULL), KF_ERR_NOT_FOUND);
  assert_int_equal(kf_mailbox_get_raw(mb, 77, &raw, &len, NULL), KF_ERR_NOT_FOUND);
  assert_null(raw);
  assert_int_equal(len, 0);
  kf_mailbox_free(mb);
}

static void test_list_mail_filters(void **state) {
  (void)state;
  kf_mailbox *mb = open_memory("messages", 100);
  int64_t m1 = add_mail(mb, "Anna@Example.TEST", "bob@example.test",
                        "kontoservice@arbeitsagentur.de", "Bestätigung Ihrer E-Mail-Adresse");
  int64_t m2 = add_mail(mb, "carl@example.test", NULL, "other@example.test", "Ihre Registrierung");

  kf_mailbox_filter f = {0};
  assert_int_equal(list_count(mb, &f), 2);
  assert_int_equal(list_count(mb, NULL), 2);
  /* Oldest first. */
  json_t *list = NULL;
  assert_int_equal(kf_mailbox_list(mb, &f, &list, NULL), KF_OK);
  assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "id")), m1);
  assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 1), "id")), m2);
  json_decref(list);

  /* Any recipient, ASCII case-insensitively, whole addresses only. */
  assert_int_equal(count_by(mb, "to", "anna@example.test"), 1);
  assert_int_equal(count_by(mb, "to", "BOB@EXAMPLE.TEST"), 1);
  assert_int_equal(count_by(mb, "to", "bob@example"), 0);
  assert_int_equal(count_by(mb, "to", ""), 2);
  assert_int_equal(count_by(mb, "to", NULL), 2);
  assert_int_equal(count_by(mb, "from", "KONTOSERVICE@arbeitsagentur.de"), 1);
  /* The subject: a case-sensitive substring. */
  assert_int_equal(count_by(mb, "subject", "Bestätigung"), 1);
  assert_int_equal(count_by(mb, "subject", "Ihre"), 2);
  assert_int_equal(count_by(mb, "subject", "ihre"), 0);
  /* A key the collection does not have matches nothing. */
  assert_int_equal(count_by(mb, "kind", "freischaltcode"), 0);
  assert_int_equal(count_by(mb, "kind", ""), 2);

  /* Terms are AND-ed. */
  assert_int_equal(kf_mailbox_filter_set(&f, "subject", "Ihre"), KF_OK);
  assert_int_equal(kf_mailbox_filter_set(&f, "to", "carl@example.test"), KF_OK);
  assert_int_equal(list_count(mb, &f), 1);
  assert_int_equal(kf_mailbox_filter_set(&f, "from", "kontoservice@arbeitsagentur.de"), KF_OK);
  assert_int_equal(list_count(mb, &f), 0);

  kf_mailbox_filter g = {0};
  g.after_id = m1;
  assert_int_equal(list_count(mb, &g), 1);
  g.after_id = m2;
  assert_int_equal(list_count(mb, &g), 0);
  g.after_id = 0;
  g.limit = 1;
  assert_int_equal(kf_mailbox_list(mb, &g, &list, NULL), KF_OK);
  assert_int_equal(json_array_size(list), 1);
  assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "id")), m1);
  json_decref(list);
  g.after_id = m1;
  assert_int_equal(kf_mailbox_list(mb, &g, &list, NULL), KF_OK);
  assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "id")), m2);
  json_decref(list);
  kf_mailbox_free(mb);
}

static void test_list_letter_filters(void **state) {
  (void)state;
  kf_mailbox *mb = open_memory("letters", 100);
  add_letter(mb, "freischaltcode", "123A123456", "Max Mustermann");
  int64_t l2 = add_letter(mb, "einmal-passwort", "123A123456", "Erika Musterfrau");
  add_letter(mb, "freischaltcode", NULL, "Erika Musterfrau");

  assert_int_equal(count_by(mb, "kind", "freischaltcode"), 2);
  assert_int_equal(count_by(mb, "kind", "Freischaltcode"), 0);
  assert_int_equal(count_by(mb, "customer_number", "123A123456"), 2);
  assert_int_equal(count_by(mb, "name", "Erika Musterfrau"), 2);
  assert_int_equal(count_by(mb, "name", "Erika"), 0);
  /* Letters have no recipients, sender or subject to match. */
  assert_int_equal(count_by(mb, "to", "max@example.test"), 0);
  assert_int_equal(count_by(mb, "subject", "Frei"), 0);

  kf_mailbox_filter f = {0};
  assert_int_equal(kf_mailbox_filter_set(&f, "customer_number", "123A123456"), KF_OK);
  assert_int_equal(kf_mailbox_filter_set(&f, "name", "Erika Musterfrau"), KF_OK);
  json_t *list = NULL;
  assert_int_equal(kf_mailbox_list(mb, &f, &list, NULL), KF_OK);
  assert_int_equal(json_array_size(list), 1);
  assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "id")), l2);
  json_decref(list);
  kf_mailbox_filter all = {0};
  all.limit = 2;
  assert_int_equal(list_count(mb, &all), 2);
  kf_mailbox_free(mb);
}

/* sqlite's plan for filter, NUL-terminated; the caller releases buf. */
static const char *plan_of(kf_mailbox *mb, const kf_mailbox_filter *f, kf_buf *buf) {
  kf_buf_init(buf, 64 * 1024);
  kf_err err;
  kf_err_init(&err);
  if (kf_mailbox_plan(mb, f, buf, &err) != KF_OK)
    fail_msg("plan: %s", err.message);
  assert_int_equal(kf_buf_append_byte(buf, '\0'), KF_OK);
  return buf->data;
}

/* A search on an exact key reads the items with that value, not every item. */
static void test_search_uses_index(void **state) {
  (void)state;
  kf_mailbox *mb = open_memory("messages", 100);
  kf_mailbox_filter f = {0};
  assert_int_equal(kf_mailbox_filter_set(&f, "to", "a@b.test"), KF_OK);
  assert_int_equal(kf_mailbox_filter_set(&f, "subject", "Hallo"), KF_OK);
  kf_buf buf;
  const char *plan = plan_of(mb, &f, &buf);
  if (!strstr(plan, "item_keys_lookup (key=? AND value=?)") || strstr(plan, "SCAN"))
    fail_msg("the search scans:\n%s", plan);
  /* The substring term is checked per candidate, through the item's own values. */
  if (!strstr(plan, "item_keys_item (item_id=? AND key=?)"))
    fail_msg("the substring term scans:\n%s", plan);
  kf_buf_release(&buf);
  kf_mailbox_free(mb);
}

static void test_delete_clear(void **state) {
  (void)state;
  kf_mailbox *mb = open_memory("messages", 100);
  assert_int_equal(kf_mailbox_last_id(mb), 0);
  int64_t a = add_mail(mb, "a@b.test", NULL, "x@y.test", "one");
  int64_t b = add_mail(mb, "a@b.test", NULL, "x@y.test", "two");
  assert_int_equal(kf_mailbox_last_id(mb), b);
  assert_int_equal(kf_mailbox_delete(mb, a, NULL), KF_OK);
  assert_int_equal(kf_mailbox_count(mb), 1);
  json_t *doc = NULL;
  assert_int_equal(kf_mailbox_get(mb, a, &doc, NULL), KF_ERR_NOT_FOUND);
  assert_int_equal(kf_mailbox_delete(mb, a, NULL), KF_ERR_NOT_FOUND);
  assert_int_equal(count_by(mb, "to", "a@b.test"), 1);

  assert_int_equal(kf_mailbox_clear(mb, NULL), KF_OK);
  assert_int_equal(kf_mailbox_count(mb), 0);
  assert_int_equal(count_by(mb, "to", "a@b.test"), 0);
  /* Ids are never reused, so "after" cursors stay valid across a clear. */
  assert_int_equal(kf_mailbox_last_id(mb), b);
  int64_t c = add_mail(mb, "a@b.test", NULL, "x@y.test", "three");
  assert_true(c > b);
  assert_int_equal(kf_mailbox_last_id(mb), c);
  kf_mailbox_free(mb);
}

static void test_max_items(void **state) {
  (void)state;
  kf_mailbox *mb = open_memory("letters", 2);
  add_letter(mb, "k", NULL, "A");
  int64_t second = add_letter(mb, "k", NULL, "B");
  json_t *doc = json_object();
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kf_mailbox_add(mb, doc, NULL, 0, NULL, &err), KF_ERR_LIMIT);
  assert_int_equal(kf_mailbox_count(mb), 2);
  /* Deleting makes room again. */
  assert_int_equal(kf_mailbox_delete(mb, second, NULL), KF_OK);
  assert_int_equal(kf_mailbox_add(mb, doc, NULL, 0, NULL, &err), KF_OK);
  json_decref(doc);
  kf_mailbox_free(mb);
}

static void test_wait_existing(void **state) {
  (void)state;
  kf_mailbox *mb = open_memory("messages", 100);
  add_mail(mb, "a@b.test", NULL, "x@y.test", "first");
  int64_t b = add_mail(mb, "a@b.test", NULL, "x@y.test", "second");
  kf_mailbox_filter f = {0};
  assert_int_equal(kf_mailbox_filter_set(&f, "to", "A@B.test"), KF_OK);
  json_t *doc = NULL;
  /* A long timeout: the answer must come at once, not at the deadline. */
  int64_t t0 = kf_time_monotonic_ms();
  assert_int_equal(kf_mailbox_wait(mb, &f, 60000, &doc, NULL), KF_OK);
  assert_true(kf_time_monotonic_ms() - t0 < 5000);
  assert_string_equal(json_string_value(json_object_get(doc, "subject")), "first");
  json_decref(doc);
  assert_int_equal(kf_mailbox_filter_set(&f, "subject", "second"), KF_OK);
  assert_int_equal(kf_mailbox_wait(mb, &f, 0, &doc, NULL), KF_OK);
  assert_int_equal(json_integer_value(json_object_get(doc, "id")), b);
  json_decref(doc);
  kf_mailbox_free(mb);
}

static void test_wait_timeout(void **state) {
  (void)state;
  kf_mailbox *mb = open_memory("messages", 100);
  int64_t a = add_mail(mb, "a@b.test", NULL, "x@y.test", "old");
  kf_mailbox_filter f = {0};
  assert_int_equal(kf_mailbox_filter_set(&f, "to", "a@b.test"), KF_OK);
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
  kf_mailbox *mb = open_memory("messages", 100);
  waiter w = {.mb = mb, .timeout_ms = 60000};
  assert_int_equal(kf_mailbox_filter_set(&w.filter, "to", "late@b.test"), KF_OK);
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
  kf_mailbox *mb = open_memory("letters", 100);
  waiter w1 = {.mb = mb, .timeout_ms = 60000};
  waiter w2 = {.mb = mb, .timeout_ms = 60000};
  assert_int_equal(kf_mailbox_filter_set(&w2.filter, "kind", "never"), KF_OK);
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
  kf_mailbox *mb = open_memory("messages", 100);
  waiter w = {.mb = mb, .timeout_ms = 60000};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, waiter_main, &w), 0);
  kf_mailbox_await_waiters(mb, 1);
  /* kf_mailbox_free wakes the waiter and waits for it to leave first. */
  kf_mailbox_free(mb);
  assert_int_equal(pthread_join(th, NULL), 0);
  assert_int_equal(w.rc, KF_ERR_STATE);
}

/* ---- Adding together: one commit for many items. ---- */

/* Entries for kf_mailbox_add_all: mails to "<prefix><i>@b.test", each with raw "raw <i>". */
static void entries_make(kf_mailbox_entry *e, size_t n, const char *prefix, char raws[][16]) {
  for (size_t i = 0; i < n; i++) {
    char to[64];
    assert_int_equal(kf_str_format(to, sizeof(to), "%s%zu@b.test", prefix, i), KF_OK);
    assert_int_equal(kf_str_format(raws[i], 16, "raw %zu", i), KF_OK);
    e[i] = (kf_mailbox_entry){.doc = mail_doc(to, NULL, "x@y.test", "together")};
    e[i].raw = raws[i];
    e[i].raw_len = strlen(raws[i]);
  }
}

static void entries_release(kf_mailbox_entry *e, size_t n) {
  for (size_t i = 0; i < n; i++)
    json_decref(e[i].doc);
}

/* Ten items added at once take one commit, get consecutive ids, and are all found. */
static void test_add_all(void **state) {
  (void)state;
  kf_mailbox *mb = open_memory("messages", 100);
  int64_t before = add_mail(mb, "first@b.test", NULL, "x@y.test", "alone");
  uint64_t commits = kf_mailbox_commits(mb);
  kf_mailbox_entry e[10];
  char raws[10][16];
  entries_make(e, 10, "all", raws);
  kf_mailbox_add_all(mb, e, 10);
  assert_int_equal(kf_mailbox_commits(mb), commits + 1);
  for (size_t i = 0; i < 10; i++) {
    assert_int_equal(e[i].rc, KF_OK);
    assert_int_equal(e[i].id, before + 1 + (int64_t)i);
    char to[64];
    assert_int_equal(kf_str_format(to, sizeof(to), "all%zu@b.test", i), KF_OK);
    assert_int_equal(count_by(mb, "to", to), 1);
    char *raw = NULL;
    assert_int_equal(kf_mailbox_get_raw(mb, e[i].id, &raw, NULL, NULL), KF_OK);
    assert_string_equal(raw, raws[i]);
    kf_free(raw);
  }
  assert_int_equal(kf_mailbox_count(mb), 11);
  assert_int_equal(kf_mailbox_last_id(mb), before + 10);
  entries_release(e, 10);
  kf_mailbox_free(mb);
}

/* An entry that cannot be stored fails alone: a non-object, and those over the cap. */
static void test_add_all_failures(void **state) {
  (void)state;
  kf_mailbox *mb = open_memory("messages", 3);
  kf_mailbox_entry e[5];
  char raws[5][16];
  entries_make(e, 5, "cap", raws);
  json_decref(e[1].doc);
  e[1].doc = json_string("not an object");
  kf_mailbox_add_all(mb, e, 5);
  static const kf_rc want[] = {KF_OK, KF_ERR_INVALID, KF_OK, KF_OK, KF_ERR_LIMIT};
  for (size_t i = 0; i < 5; i++) {
    assert_int_equal(e[i].rc, want[i]);
    assert_true(want[i] == KF_OK ? e[i].id > 0 : e[i].id == 0);
    assert_true(want[i] == KF_OK || e[i].err.message[0] != '\0');
  }
  assert_int_equal(kf_mailbox_count(mb), 3);
  assert_int_equal(count_by(mb, "to", "cap4@b.test"), 0);
  kf_mailbox_add_all(mb, e, 0);
  entries_release(e, 5);
  kf_mailbox_free(mb);
}

/*
 * Every allocation of kf_mailbox_add_all failing in turn: each entry is
 * either stored and found or fails with KF_ERR_NOMEM and is not there, and
 * when an allocation fails inside the group's transaction, the entries are
 * tried again one by one.
 */
typedef struct add_all_ctx {
  kf_mailbox *mb;
  unsigned run;
} add_all_ctx;

static bool add_all_body(void *data, const kt_alloc_run *run) {
  add_all_ctx *ctx = data;
  char prefix[32];
  assert_int_equal(kf_str_format(prefix, sizeof(prefix), "run%u-", ctx->run++), KF_OK);
  kf_mailbox_entry e[2];
  char raws[2][16];
  entries_make(e, 2, prefix, raws);
  size_t before = kf_mailbox_count(ctx->mb);
  kt_alloc_arm(run);
  kf_mailbox_add_all(ctx->mb, e, 2);
  kt_alloc_disarm();
  size_t stored = 0;
  for (size_t i = 0; i < 2; i++) {
    char to[64];
    assert_int_equal(kf_str_format(to, sizeof(to), "%s%zu@b.test", prefix, i), KF_OK);
    if (e[i].rc == KF_OK)
      stored++;
    else
      assert_int_equal(e[i].rc, KF_ERR_NOMEM);
    assert_int_equal(count_by(ctx->mb, "to", to), e[i].rc == KF_OK ? 1 : 0);
  }
  assert_int_equal(kf_mailbox_count(ctx->mb), before + stored);
  entries_release(e, 2);
  return stored == 2;
}

static void test_add_all_alloc_failures(void **state) {
  (void)state;
  add_all_ctx ctx = {.mb = open_memory("messages", 100000)};
  assert_true(kt_alloc_sweep(add_all_body, &ctx) >= 3);
  kf_mailbox_free(ctx.mb);
}

/* Adders in several threads at once: every item stored once, ids distinct, commits shared. */
typedef struct adder {
  kf_mailbox *mb;
  unsigned index;
  int64_t ids[25];
} adder;

static void *adder_main(void *arg) {
  adder *a = arg;
  for (size_t i = 0; i < 25; i++) {
    char to[64];
    if (kf_str_format(to, sizeof(to), "t%u-%zu@b.test", a->index, i) != KF_OK)
      return NULL;
    json_t *doc = mail_doc(to, NULL, "x@y.test", "threads");
    a->ids[i] = 0;
    if (kf_mailbox_add(a->mb, doc, "raw", 3, &a->ids[i], NULL) != KF_OK)
      a->ids[i] = -1;
    json_decref(doc);
  }
  return NULL;
}

static void test_add_threads(void **state) {
  (void)state;
  kf_mailbox *mb = open_memory("messages", 1000);
  adder adders[8];
  pthread_t th[8];
  for (unsigned i = 0; i < 8; i++) {
    adders[i] = (adder){.mb = mb, .index = i};
    assert_int_equal(pthread_create(&th[i], NULL, adder_main, &adders[i]), 0);
  }
  for (unsigned i = 0; i < 8; i++)
    assert_int_equal(pthread_join(th[i], NULL), 0);
  bool seen[201] = {false};
  for (unsigned i = 0; i < 8; i++) {
    for (size_t k = 0; k < 25; k++) {
      int64_t id = adders[i].ids[k];
      assert_true(id >= 1 && id <= 200);
      assert_false(seen[id]);
      seen[id] = true;
    }
  }
  assert_int_equal(kf_mailbox_count(mb), 200);
  assert_int_equal(count_by(mb, "subject", "threads"), 100); /* The list's default limit. */
  uint64_t commits = kf_mailbox_commits(mb);
  printf("# 8 threads x 25 adds: %llu commits\n", (unsigned long long)commits);
  assert_true(commits >= 1 && commits <= 200);
  kf_mailbox_free(mb);
}

/* ---- Documents built on reading (kf_mailbox_set_expand). ---- */

/*
 * The test's expander: the raw source as "text", the stored subject kept,
 * and an "id" of its own that the store must override. It asks the store
 * for its count, which would deadlock if it ran under the store's lock.
 */
static kf_rc test_expand(void *ctx, const json_t *stored, const char *raw, size_t raw_len,
                         json_t **out, kf_err *err) {
  kf_mailbox *mb = ctx;
  (void)err;
  json_t *subject = json_object_get(stored, "subject");
  *out = json_pack("{s:I, s:O?, s:s#, s:I}", "id", (json_int_t)999, "subject", subject, "text", raw,
                   (int)raw_len, "count_seen", (json_int_t)kf_mailbox_count(mb));
  return *out != NULL ? KF_OK : KF_ERR_NOMEM;
}

/* The first three members of doc are the store's, in this order. */
static void assert_store_members_first(json_t *doc, int64_t id) {
  const char *want[] = {"id", "received_at", "duplicate_of"};
  void *it = json_object_iter(doc);
  for (size_t i = 0; i < 3; i++, it = json_object_iter_next(doc, it)) {
    assert_non_null(it);
    assert_string_equal(json_object_iter_key(it), want[i]);
  }
  assert_int_equal(json_integer_value(json_object_get(doc, "id")), id);
  assert_true(json_is_null(json_object_get(doc, "duplicate_of")));
}

static void test_expand_on_read(void **state) {
  (void)state;
  kf_mailbox *mb = open_memory("messages", 100);
  kf_mailbox_set_expand(mb, test_expand, mb);
  int64_t id = add_mail(mb, "a@b.test", NULL, "x@y.test", "Hallo Welt");
  json_t *bare_doc = mail_doc("a@b.test", NULL, "x@y.test", "no raw");
  int64_t bare = 0;
  assert_int_equal(kf_mailbox_add(mb, bare_doc, NULL, 0, &bare, NULL), KF_OK);
  json_decref(bare_doc);
  /* get, list and wait all give the expanded document, the store's members first. */
  json_t *doc = NULL;
  assert_int_equal(kf_mailbox_get(mb, id, &doc, NULL), KF_OK);
  assert_store_members_first(doc, id);
  assert_string_equal(json_string_value(json_object_get(doc, "text")), "raw source");
  assert_string_equal(json_string_value(json_object_get(doc, "subject")), "Hallo Welt");
  assert_int_equal(json_integer_value(json_object_get(doc, "count_seen")), 2);
  /* What the expander did not give is not there: the stored document is not merged in. */
  assert_null(json_object_get(doc, "envelope"));
  json_decref(doc);
  kf_mailbox_filter f = {0};
  assert_int_equal(kf_mailbox_filter_set(&f, "subject", "Welt"), KF_OK);
  json_t *list = NULL;
  assert_int_equal(kf_mailbox_list(mb, &f, &list, NULL), KF_OK);
  assert_int_equal(json_array_size(list), 1);
  assert_store_members_first(json_array_get(list, 0), id);
  assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "text")),
                      "raw source");
  json_decref(list);
  assert_int_equal(kf_mailbox_wait(mb, &f, 0, &doc, NULL), KF_OK);
  assert_store_members_first(doc, id);
  assert_string_equal(json_string_value(json_object_get(doc, "text")), "raw source");
  json_decref(doc);
  /* An item without a raw source is read as stored. */
  assert_int_equal(kf_mailbox_get(mb, bare, &doc, NULL), KF_OK);
  assert_null(json_object_get(doc, "text"));
  assert_string_equal(json_string_value(json_object_get(doc, "subject")), "no raw");
  json_decref(doc);
  kf_mailbox_free(mb);
}

/* ---- File stores: persistence, migration, rebuilt search values. ---- */

typedef struct store_file {
  char dir[32];
  char path[128];
} store_file;

static void store_file_make(store_file *f) {
  assert_int_equal(kf_str_copy(f->dir, sizeof(f->dir), "/tmp/kf-mailbox-XXXXXX"), KF_OK);
  assert_non_null(mkdtemp(f->dir));
  assert_int_equal(kf_str_format(f->path, sizeof(f->path), "%s/store.db", f->dir), KF_OK);
}

static void store_file_remove(const store_file *f) {
  const char *suffixes[] = {"", "-wal", "-shm"};
  for (size_t i = 0; i < 3; i++) {
    char file[160];
    assert_int_equal(kf_str_format(file, sizeof(file), "%s%s", f->path, suffixes[i]), KF_OK);
    (void)unlink(file);
  }
  assert_int_equal(rmdir(f->dir), 0);
}

static kf_mailbox *open_file(const store_file *f, const char *collection) {
  kf_mailbox *mb = NULL;
  kf_err err;
  kf_err_init(&err);
  if (kf_mailbox_open(f->path, collection, 10, &mb, &err) != KF_OK)
    fail_msg("open %s: %s", f->path, err.message);
  return mb;
}

/* Run sql on the file with sqlite itself, as an outside reader would; returns the first integer. */
static int64_t sql_on_file(const store_file *f, const char *sql) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  sqlite3_stmt *st = NULL;
  int src = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  if (src != SQLITE_OK)
    fail_msg("%s: %s", sql, sqlite3_errmsg(db));
  int64_t v = 0;
  src = sqlite3_step(st);
  if (src == SQLITE_ROW)
    v = sqlite3_column_int64(st, 0);
  else if (src != SQLITE_DONE)
    fail_msg("%s: %s", sql, sqlite3_errmsg(db));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

static void test_file_persistence(void **state) {
  (void)state;
  store_file f;
  store_file_make(&f);
  kf_mailbox *mb = open_file(&f, "messages");
  int64_t id = add_mail(mb, "a@b.test", NULL, "x@y.test", "kept");
  int64_t gone = add_mail(mb, "c@b.test", NULL, "x@y.test", "deleted");
  assert_int_equal(kf_mailbox_delete(mb, gone, NULL), KF_OK);
  kf_mailbox_free(mb);
  /* The deleted item's search values went with it. */
  assert_int_equal(sql_on_file(&f, "SELECT count(*) FROM item_keys"), 3);

  mb = open_file(&f, "messages");
  assert_int_equal(kf_mailbox_count(mb), 1);
  assert_int_equal(kf_mailbox_last_id(mb), gone);
  json_t *doc = NULL;
  assert_int_equal(kf_mailbox_get(mb, id, &doc, NULL), KF_OK);
  assert_string_equal(json_string_value(json_object_get(doc, "subject")), "kept");
  json_decref(doc);
  assert_int_equal(count_by(mb, "to", "A@b.test"), 1);
  assert_int_equal(kf_mailbox_clear(mb, NULL), KF_OK);
  kf_mailbox_free(mb);
  assert_int_equal(sql_on_file(&f, "SELECT count(*) FROM item_keys"), 0);
  store_file_remove(&f);

  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kf_mailbox_open("/nonexistent-dir/x/y.db", "messages", 10, &mb, &err),
                   KF_ERR_DB);
  assert_null(mb);
}

/* A store as konform 0.1 wrote it: fixed search columns and a recipients table. */
static const char *const v0_store =
    "CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, received_at TEXT NOT NULL,"
    " kind TEXT, customer_number TEXT, sender TEXT, subject TEXT, recipient_name TEXT,"
    " doc TEXT NOT NULL, raw BLOB);"
    "CREATE TABLE recipients (item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,"
    " address TEXT NOT NULL);"
    "CREATE INDEX recipients_address ON recipients(address);"
    "INSERT INTO items(id, received_at, sender, subject, doc, raw) VALUES(4, 'T', 'x@y.test',"
    " 'Alt', '{\"id\":4,\"received_at\":\"T\",\"envelope\":{\"mail_from\":\"x@y.test\","
    "\"rcpt_to\":[\"Old@B.test\"]},\"subject\":\"Alt\"}', 'raw');"
    "INSERT INTO recipients VALUES(4, 'old@b.test');"
    "UPDATE sqlite_sequence SET seq = 7 WHERE name = 'items';";

static void test_migrate_v0(void **state) {
  (void)state;
  store_file f;
  store_file_make(&f);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(f.path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, v0_store, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);

  kf_mailbox *mb = open_file(&f, "messages");
  /* Documents, raw sources and ids are kept; the search values come from the documents. */
  assert_int_equal(kf_mailbox_count(mb), 1);
  assert_int_equal(kf_mailbox_last_id(mb), 7);
  assert_int_equal(count_by(mb, "to", "old@b.test"), 1);
  assert_int_equal(count_by(mb, "from", "X@Y.test"), 1);
  assert_int_equal(count_by(mb, "subject", "Al"), 1);
  char *raw = NULL;
  assert_int_equal(kf_mailbox_get_raw(mb, 4, &raw, NULL, NULL), KF_OK);
  assert_string_equal(raw, "raw");
  kf_free(raw);
  assert_int_equal(add_mail(mb, "a@b.test", NULL, "x@y.test", "neu"), 8);
  kf_mailbox_free(mb);
  assert_int_equal(sql_on_file(&f, "SELECT count(*) FROM sqlite_master WHERE name = 'recipients'"),
                   0);
  assert_int_equal(sql_on_file(&f, "SELECT count(*) FROM pragma_table_info('items')"), 4);
  store_file_remove(&f);
}

/* Values made by other key definitions (here: lost, with a stale signature) are rebuilt. */
static void test_reindex(void **state) {
  (void)state;
  store_file f;
  store_file_make(&f);
  kf_mailbox *mb = open_file(&f, "messages");
  add_mail(mb, "a@b.test", "c@d.test", "x@y.test", "Hallo");
  kf_mailbox_free(mb);
  assert_int_equal(sql_on_file(&f, "DELETE FROM item_keys"), 0);
  assert_int_equal(sql_on_file(&f, "UPDATE mailbox_meta SET value = 'old' WHERE name = 'keys'"), 0);
  mb = open_file(&f, "messages");
  assert_int_equal(count_by(mb, "to", "c@d.test"), 1);
  assert_int_equal(count_by(mb, "subject", "all"), 1);
  kf_mailbox_free(mb);
  assert_int_equal(sql_on_file(&f, "SELECT count(*) FROM item_keys"), 4);
  store_file_remove(&f);
}

/* ---- Allocation failures: every allocation, transient and persistent. ---- */

typedef struct sweep_ctx {
  kf_mailbox *mb;
  json_t *doc;
  kf_mailbox_filter filter;
  bool wait;
} sweep_ctx;

/* An add that fails leaves nothing behind: no item, no search value, no id used up. */
static bool add_body(void *data, const kt_alloc_run *run) {
  sweep_ctx *ctx = data;
  kf_err err;
  kf_err_init(&err);
  int64_t id = 0;
  size_t before = kf_mailbox_count(ctx->mb);
  kt_alloc_arm(run);
  kf_rc rc = kf_mailbox_add(ctx->mb, ctx->doc, "raw", 3, &id, &err);
  kt_alloc_disarm();
  if (rc == KF_OK) {
    assert_int_equal(kf_mailbox_count(ctx->mb), before + 1);
    assert_int_equal(list_count(ctx->mb, &ctx->filter), 1);
    return true;
  }
  assert_int_equal(rc, KF_ERR_NOMEM);
  assert_int_equal(kf_mailbox_count(ctx->mb), before);
  assert_int_equal(list_count(ctx->mb, &ctx->filter), 0);
  assert_int_equal(list_count(ctx->mb, NULL), before);
  return false;
}

/*
 * A search (ctx->wait: a wait that finds the oldest match at once) that
 * fails returns nothing; one that succeeds finds both matches (the oldest).
 */
static bool search_body(void *data, const kt_alloc_run *run) {
  sweep_ctx *ctx = data;
  json_t *found = NULL;
  kf_err err;
  kf_err_init(&err);
  kt_alloc_arm(run);
  kf_rc rc = ctx->wait ? kf_mailbox_wait(ctx->mb, &ctx->filter, 0, &found, &err)
                       : kf_mailbox_list(ctx->mb, &ctx->filter, &found, &err);
  kt_alloc_disarm();
  if (rc != KF_OK) {
    assert_int_equal(rc, KF_ERR_NOMEM);
    assert_null(found);
    return false;
  }
  const json_t *oldest = ctx->wait ? found : json_array_get(found, 0);
  assert_string_equal(json_string_value(json_object_get(oldest, "subject")), "Betreff");
  assert_int_equal(json_array_size(found), ctx->wait ? 0 : 2);
  json_decref(found);
  return true;
}

static void test_alloc_failures(void **state) {
  (void)state;
  sweep_ctx ctx = {.mb = open_memory("messages", 100000)};
  add_mail(ctx.mb, "keep@b.test", NULL, "x@y.test", "existing");
  ctx.doc = mail_doc("new@b.test", "other@b.test", "x@y.test", "Betreff");
  assert_int_equal(
      json_object_set_new(ctx.doc, "nested", json_pack("{s:s, s:i}", "k", "v", "n", 7)), 0);
  assert_int_equal(kf_mailbox_filter_set(&ctx.filter, "to", "new@b.test"), KF_OK);
  assert_true(kt_alloc_sweep(add_body, &ctx) >= 3);
  /* The sweep's last run stored it once; one more makes two to find. */
  add_mail(ctx.mb, "new@b.test", NULL, "x@y.test", "Betreff 2");
  assert_true(kt_alloc_sweep(search_body, &ctx) >= 2);
  /* The wait finds the older one at once; its failures must not leave a waiter behind. */
  ctx.wait = true;
  assert_true(kt_alloc_sweep(search_body, &ctx) >= 1);
  waiter w = {.mb = ctx.mb, .timeout_ms = 0};
  assert_int_equal(kf_mailbox_filter_set(&w.filter, "to", "nobody@b.test"), KF_OK);
  waiter_main(&w);
  assert_int_equal(w.rc, KF_ERR_TIMEOUT);
  json_decref(ctx.doc);
  kf_mailbox_free(ctx.mb);
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

/* The HTTP API of one collection, served in-process on loopback. */
typedef struct api_server {
  kf_mailbox *mb;
  kf_httpd *httpd;
  unsigned port;
} api_server;

static void api_start(api_server *s, const char *collection) {
  s->mb = open_memory(collection, 100);
  kf_httpd_config cfg;
  kf_httpd_config_init(&cfg);
  cfg.threads = 0;
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kf_httpd_new(&cfg, &s->httpd, &err), KF_OK);
  assert_int_equal(kf_mailbox_api_register(s->httpd, s->mb, &err), KF_OK);
  assert_int_equal(kf_httpd_start(s->httpd, &err), KF_OK);
  s->port = kf_httpd_port(s->httpd);
}

static void api_stop(api_server *s) {
  /* Shutdown order of the mocks: release waits, stop the daemon, then free. */
  kf_mailbox_shutdown(s->mb);
  kf_httpd_free(s->httpd);
  kf_mailbox_free(s->mb);
}

/* GET/DELETE path and check the status and, when given, the error code or a body part. */
static void expect(const api_server *s, const char *method, const char *path, long status,
                   const char *code, const char *body_part) {
  reply r;
  http(s->port, method, path, &r);
  if (r.status != status)
    fail_msg("%s %s: status %ld, wanted %ld: %s", method, path, r.status, status,
             r.body.data ? r.body.data : "");
  if (code)
    assert_string_equal(reply_error_code(&r), code);
  if (body_part && (!r.body.data || !strstr(r.body.data, body_part)))
    fail_msg("%s %s: no %s in %s", method, path, body_part, r.body.data ? r.body.data : "");
  reply_release(&r);
}

static void test_api_messages(void **state) {
  (void)state;
  api_server s;
  api_start(&s, "messages");
  int64_t id = add_mail(s.mb, "Anna@Example.test", NULL, "x@y.test", "Bestätigung");

  expect(&s, "GET", "/api/v1/messages?to=anna%40example.TEST", 200, NULL, "\"count\":1");
  expect(&s, "GET", "/api/v1/messages?to=anna%40example.TEST", 200, NULL, "\"messages\":[{");
  expect(&s, "GET", "/api/v1/messages?kind=x", 200, NULL, "\"count\":0");
  expect(&s, "GET", "/api/v1/messages?kind=x&from=x%40y.test", 200, NULL, "\"count\":0");
  reply r;
  http(s.port, "GET", "/api/v1/messages/1/raw", &r);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.body.len, 10);
  assert_memory_equal(r.body.data, "raw source", 10);
  assert_non_null(strstr(r.headers.data, "message/rfc822"));
  reply_release(&r);
  expect(&s, "GET", "/api/v1/messages/1", 200, NULL, "\"subject\":\"Bestätigung\"");
  expect(&s, "GET", "/api/v1/messages/2/raw", 404, "NOT_FOUND", NULL);
  expect(&s, "GET", "/api/v1/messages/0", 400, "INVALID_PARAMETER", "\"field\":\"id\"");
  expect(&s, "GET", "/api/v1/messages/x/raw", 400, "INVALID_PARAMETER", "\"field\":\"id\"");
  expect(&s, "DELETE", "/api/v1/messages/-3", 400, "INVALID_PARAMETER", "\"field\":\"id\"");
  expect(&s, "GET", "/api/v1/messages?limit=1001", 400, "INVALID_PARAMETER", "\"field\":\"limit\"");
  expect(&s, "GET", "/api/v1/messages?limit=0", 400, NULL, "muss zwischen 1 und 1000 liegen");
  expect(&s, "GET", "/api/v1/messages?after=x", 400, NULL, "\"field\":\"after\"");
  expect(&s, "GET", "/api/v1/messages?subject=%FF", 400, NULL, "\"field\":\"subject\"");
  expect(&s, "GET", "/api/v1/wait/messages?timeout_ms=-1", 400, NULL, "\"field\":\"timeout_ms\"");
  expect(&s, "GET", "/api/v1/wait/messages?limit=0&timeout_ms=0", 400, NULL, "\"field\":\"limit\"");

  char path[128];
  assert_int_equal(kf_str_format(path, sizeof(path), "\"id\":%lld", (long long)id), KF_OK);
  expect(&s, "GET", "/api/v1/wait/messages?subject=Best%C3%A4tigung&timeout_ms=0", 200, NULL, path);
  expect(&s, "GET", "/api/v1/wait/messages?after=1&timeout_ms=0", 408, "WAIT_TIMEOUT", NULL);
  expect(&s, "PATCH", "/api/v1/messages", 405, NULL, NULL);
  expect(&s, "GET", "/api/v1/health", 200, NULL, "\"collection\":\"messages\"");
  expect(&s, "DELETE", "/api/v1/messages/1", 204, NULL, NULL);
  expect(&s, "DELETE", "/api/v1/messages/1", 404, "NOT_FOUND", NULL);
  add_mail(s.mb, "b@example.test", NULL, "x@y.test", "Zwei");
  expect(&s, "DELETE", "/api/v1/messages", 204, NULL, NULL);
  assert_int_equal(kf_mailbox_count(s.mb), 0);
  expect(&s, "GET", "/api/v1/health", 200, NULL, "\"last_id\":2");
  api_stop(&s);
}

static void test_api_letters(void **state) {
  (void)state;
  api_server s;
  api_start(&s, "letters");
  add_letter(s.mb, "freischaltcode", "123A123456", "Max Mustermann");
  add_letter(s.mb, "einmal-passwort", NULL, "Erika Musterfrau");

  expect(&s, "GET", "/api/v1/letters?kind=freischaltcode", 200, NULL, "\"count\":1");
  expect(&s, "GET", "/api/v1/letters?customer_number=123A123456", 200, NULL, "\"letters\":[{");
  expect(&s, "GET", "/api/v1/letters?name=Erika%20Musterfrau&kind=einmal-passwort", 200, NULL,
         "\"count\":1");
  expect(&s, "GET", "/api/v1/letters?name=Erika", 200, NULL, "\"count\":0");
  /* Letters have no recipients: "to" matches nothing, an empty one everything. */
  expect(&s, "GET", "/api/v1/letters?to=max%40example.test", 200, NULL, "\"count\":0");
  expect(&s, "GET", "/api/v1/letters?limit=1", 200, NULL, "\"count\":1");
  expect(&s, "GET", "/api/v1/wait/letters?name=Max%20Mustermann&timeout_ms=0", 200, NULL,
         "\"kind\":\"freischaltcode\"");
  expect(&s, "GET", "/api/v1/wait/letters?to=max%40example.test&timeout_ms=0", 408, "WAIT_TIMEOUT",
         NULL);
  expect(&s, "GET", "/api/v1/letters/1/raw", 404, "NOT_FOUND", NULL);
  expect(&s, "GET", "/api/v1/health", 200, NULL, "\"collection\":\"letters\"");
  api_stop(&s);
}

/* A mail document with a Message-ID, as a sender that redelivers repeats it. */
static int64_t add_mail_id(kf_mailbox *mb, const char *to1, const char *to2, const char *msgid) {
  json_t *doc = mail_doc(to1, to2, "x@y.test", "Bestätigung");
  if (msgid)
    assert_int_equal(json_object_set_new(doc, "message_id", json_string(msgid)), 0);
  int64_t id = 0;
  kf_err err;
  kf_err_init(&err);
  if (kf_mailbox_add(mb, doc, "raw", 3, &id, &err) != KF_OK)
    fail_msg("add: %s", err.message);
  json_decref(doc);
  return id;
}

/* The duplicate_of of item id: its value, 0 for null; -1 when the member is missing. */
static int64_t duplicate_of(kf_mailbox *mb, int64_t id) {
  json_t *doc = NULL;
  assert_int_equal(kf_mailbox_get(mb, id, &doc, NULL), KF_OK);
  json_t *v = json_object_get(doc, "duplicate_of");
  int64_t d = !v ? -1 : json_is_null(v) ? 0 : (int64_t)json_integer_value(v);
  json_decref(doc);
  return d;
}

/*
 * SMTP is at-least-once: the same Message-ID to the same recipients (in any
 * order) is a redelivery, marked and left out of lists and waits unless asked.
 */
static void test_redelivery(void **state) {
  (void)state;
  kf_mailbox *mb = open_memory("messages", 100);
  int64_t first = add_mail_id(mb, "a@b.test", "c@b.test", "m1@ba.test");
  int64_t again = add_mail_id(mb, "c@b.test", "a@b.test", "m1@ba.test");
  int64_t third = add_mail_id(mb, "a@b.test", "c@b.test", "m1@ba.test");
  int64_t other_rcpt = add_mail_id(mb, "a@b.test", NULL, "m1@ba.test");
  int64_t no_id1 = add_mail_id(mb, "n@b.test", NULL, NULL);
  int64_t no_id2 = add_mail_id(mb, "n@b.test", NULL, NULL);
  assert_int_equal(duplicate_of(mb, first), 0);
  assert_int_equal(duplicate_of(mb, again), first);
  assert_int_equal(duplicate_of(mb, third), first);
  assert_int_equal(duplicate_of(mb, other_rcpt), 0);
  assert_int_equal(duplicate_of(mb, no_id1), 0);
  assert_int_equal(duplicate_of(mb, no_id2), 0);
  assert_int_equal(kf_mailbox_count(mb), 6);
  kf_mailbox_filter f = {0};
  assert_int_equal(list_count(mb, &f), 4);
  assert_int_equal(count_by(mb, "to", "c@b.test"), 1);
  f.include_duplicates = true;
  assert_int_equal(list_count(mb, &f), 6);
  /* A wait from after the first delivery does not take a redelivery for a new mail. */
  kf_mailbox_filter w = {.after_id = first};
  assert_int_equal(kf_mailbox_filter_set(&w, "to", "c@b.test"), KF_OK);
  json_t *doc = NULL;
  assert_int_equal(kf_mailbox_wait(mb, &w, 0, &doc, NULL), KF_ERR_TIMEOUT);
  w.include_duplicates = true;
  assert_int_equal(kf_mailbox_wait(mb, &w, 0, &doc, NULL), KF_OK);
  assert_int_equal(json_integer_value(json_object_get(doc, "id")), again);
  json_decref(doc);
  /* Letters have no identity, so no duplicate_of member. */
  kf_mailbox *letters = open_memory("letters", 10);
  int64_t l1 = add_letter(letters, "k", "1", "N");
  assert_int_equal(duplicate_of(letters, l1), -1);
  kf_mailbox_free(letters);
  kf_mailbox_free(mb);
}

/* A redelivery in the same commit as its first delivery is marked as one too. */
static void test_redelivery_together(void **state) {
  (void)state;
  kf_mailbox *mb = open_memory("messages", 100);
  kf_mailbox_entry e[3];
  char raws[3][16];
  entries_make(e, 3, "same", raws);
  for (size_t i = 0; i < 3; i++) {
    json_t *rcpts = json_object_get(json_object_get(e[i].doc, "envelope"), "rcpt_to");
    assert_int_equal(json_array_set_new(rcpts, 0, json_string("r@b.test")), 0);
    assert_int_equal(json_object_set_new(e[i].doc, "message_id", json_string("m@b.test")), 0);
  }
  kf_mailbox_add_all(mb, e, 3);
  for (size_t i = 0; i < 3; i++)
    assert_int_equal(e[i].rc, KF_OK);
  assert_int_equal(duplicate_of(mb, e[0].id), 0);
  assert_int_equal(duplicate_of(mb, e[1].id), e[0].id);
  assert_int_equal(duplicate_of(mb, e[2].id), e[0].id);
  assert_int_equal(count_by(mb, "to", "r@b.test"), 1);
  entries_release(e, 3);
  kf_mailbox_free(mb);
}

/* A store reopened from its file keeps the redelivery marks, also when rebuilt. */
static void test_redelivery_reindex(void **state) {
  (void)state;
  char path[] = "/tmp/konform-mb-dup-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  kf_mailbox *mb = NULL;
  assert_int_equal(kf_mailbox_open(path, "messages", 100, &mb, NULL), KF_OK);
  int64_t first = add_mail_id(mb, "a@b.test", NULL, "m@ba.test");
  int64_t again = add_mail_id(mb, "a@b.test", NULL, "m@ba.test");
  kf_mailbox_free(mb);
  /* Drop the key signature so opening rebuilds every search value from the documents. */
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "DELETE FROM mailbox_meta", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  assert_int_equal(kf_mailbox_open(path, "messages", 100, &mb, NULL), KF_OK);
  assert_int_equal(count_by(mb, "to", "a@b.test"), 1);
  int64_t third = add_mail_id(mb, "a@b.test", NULL, "m@ba.test");
  assert_int_equal(duplicate_of(mb, again), first);
  assert_int_equal(duplicate_of(mb, third), first);
  kf_mailbox_free(mb);
  unlink(path);
}

/*
 * A broken parameter is never read as an absent one: before, "%00" made
 * kf_http_req_query say "absent", so ?to=nobody%00x listed every mail, a wait
 * returned an unrelated mail at once and limit=1%00 was ignored.
 */
static void test_api_malformed_params(void **state) {
  (void)state;
  api_server s;
  api_start(&s, "messages");
  add_mail_id(s.mb, "a@b.test", NULL, "m@ba.test");
  add_mail_id(s.mb, "a@b.test", NULL, "m@ba.test");
  add_mail_id(s.mb, "z@b.test", NULL, "z@ba.test");
  static const struct {
    const char *path, *field;
  } bad[] = {
      {"/api/v1/messages?to=nobody%00x", "to"},
      {"/api/v1/messages?to=%00", "to"},
      {"/api/v1/wait/messages?to=nobody%00x&timeout_ms=0", "to"},
      {"/api/v1/messages?limit=1%00", "limit"},
      {"/api/v1/wait/messages?to=a%40b.test&timeout_ms=0%00", "timeout_ms"},
      {"/api/v1/messages?to", "to"},
      {"/api/v1/messages?to=", "to"},
      {"/api/v1/messages?subject=", "subject"},
      {"/api/v1/messages?limit=", "limit"},
      {"/api/v1/messages?to=a%40b.test&to=z%40b.test", "to"},
      {"/api/v1/messages?limit=1&limit=2", "limit"},
      {"/api/v1/messages?limit=1x", "limit"},
      {"/api/v1/messages?limit=+1", "limit"},
      {"/api/v1/messages?after=%201", "after"},
      {"/api/v1/messages?from=%C3", "from"},
      {"/api/v1/messages?include_duplicates=yes", "include_duplicates"},
      {"/api/v1/messages?include_duplicates=", "include_duplicates"},
      {"/api/v1/wait/messages?include_duplicates=1&timeout_ms=0", "include_duplicates"},
      {"/api/v1/messages?kind=x%00", "kind"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char field[64];
    assert_int_equal(kf_str_format(field, sizeof(field), "\"field\":\"%s\"", bad[i].field), KF_OK);
    expect(&s, "GET", bad[i].path, 400, "INVALID_PARAMETER", field);
  }
  /* The same requests well formed. */
  expect(&s, "GET", "/api/v1/messages?to=a%40b.test", 200, NULL, "\"count\":1");
  expect(&s, "GET", "/api/v1/messages?to=a%40b.test&include_duplicates=true", 200, NULL,
         "\"count\":2");
  expect(&s, "GET", "/api/v1/messages?include_duplicates=false&limit=1", 200, NULL, "\"count\":1");
  expect(&s, "GET", "/api/v1/messages", 200, NULL, "\"duplicate_of\":null");
  expect(&s, "GET", "/api/v1/messages/2", 200, NULL, "\"duplicate_of\":1");
  expect(&s, "GET", "/api/v1/wait/messages?after=1&to=a%40b.test&timeout_ms=0", 408, "WAIT_TIMEOUT",
         NULL);
  expect(&s, "GET",
         "/api/v1/wait/messages?after=1&to=a%40b.test&include_duplicates=true&timeout_ms=0", 200,
         NULL, "\"duplicate_of\":1");
  api_stop(&s);
  api_start(&s, "letters");
  expect(&s, "GET", "/api/v1/letters?customer_number=", 400, "INVALID_PARAMETER",
         "\"field\":\"customer_number\"");
  expect(&s, "GET", "/api/v1/letters?name=Max%00", 400, "INVALID_PARAMETER", "\"field\":\"name\"");
  expect(&s, "GET", "/api/v1/letters?include_duplicates=true", 200, NULL, "\"count\":0");
  api_stop(&s);
}

int main(void) {
  /* Route jansson through kf_malloc so the injection reaches document building. */
  kf_alloc_install_jansson();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_collections),
      cmocka_unit_test(test_filter_set),
      cmocka_unit_test(test_add_get),
      cmocka_unit_test(test_raw),
      cmocka_unit_test(test_list_mail_filters),
      cmocka_unit_test(test_list_letter_filters),
      cmocka_unit_test(test_search_uses_index),
      cmocka_unit_test(test_delete_clear),
      cmocka_unit_test(test_max_items),
      cmocka_unit_test(test_wait_existing),
      cmocka_unit_test(test_wait_timeout),
      cmocka_unit_test(test_wait_woken_by_add),
      cmocka_unit_test(test_shutdown_wakes_waiters),
      cmocka_unit_test(test_free_wakes_waiter),
      cmocka_unit_test(test_add_all),
      cmocka_unit_test(test_add_all_failures),
      cmocka_unit_test(test_add_all_alloc_failures),
      cmocka_unit_test(test_add_threads),
      cmocka_unit_test(test_expand_on_read),
      cmocka_unit_test(test_file_persistence),
      cmocka_unit_test(test_migrate_v0),
      cmocka_unit_test(test_reindex),
      cmocka_unit_test(test_alloc_failures),
      cmocka_unit_test(test_api_messages),
      cmocka_unit_test(test_api_letters),
      cmocka_unit_test(test_redelivery),
      cmocka_unit_test(test_redelivery_together),
      cmocka_unit_test(test_redelivery_reindex),
      cmocka_unit_test(test_api_malformed_params),
  };
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return failed;
}
