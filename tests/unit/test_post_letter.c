/*
 * test_post_letter.c: konform-post's letter validation. Every field, missing
 * or invalid, is reported on its own with its own path and code; a stored
 * letter is found by its search keys; allocation failures anywhere in
 * validation and normalisation are reported and leak nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/mailbox.h"
#include "kp_letter.h"
#include "kt_alloc.h"

static json_t *good_letter(void) {
  json_error_t jerr;
  json_t *letter = json_loads(
      "{\"kind\": \"freischaltcode\", \"date\": \"2026-03-01\","
      " \"recipient\": {\"name\": \"Max Mustermann\", \"customer_number\": \"123A123456\","
      "   \"address\": {\"street\": \"Hauptstraße 1\", \"postal_code\": \"10115\", \"city\": "
      "\"Berlin\","
      "                 \"country\": \"DE\"}},"
      " \"text\": \"Guten Tag,\\n\\tIhr Code.\","
      " \"fields\": {\"code\": \"HET2-2X8A-UXAS\", \"valid_until\": \"22.03.2025\"}}",
      0, &jerr);
  assert_non_null(letter);
  return letter;
}

/*
 * Set (value != NULL, reference stolen) or remove (value == NULL) the member
 * at a dotted path such as "recipient.address.city".
 */
static void set_path(json_t *root, const char *path, json_t *value) {
  json_t *obj = root;
  const char *p = path;
  for (;;) {
    const char *dot = strchr(p, '.');
    char key[64];
    size_t len = dot ? (size_t)(dot - p) : strlen(p);
    assert_true(len < sizeof(key));
    memcpy(key, p, len);
    key[len] = '\0';
    if (!dot) {
      if (value) {
        assert_int_equal(json_object_set_new(obj, key, value), 0);
      } else {
        (void)json_object_del(obj, key);
      }
      return;
    }
    obj = json_object_get(obj, key);
    assert_true(json_is_object(obj));
    p = dot + 1;
  }
}

/* Apply one change to a good letter and expect exactly one issue (or none when code is NULL). */
static void expect_one(const char *path, json_t *value, const char *field, const char *code) {
  json_t *letter = good_letter();
  set_path(letter, path, value);
  json_t *issues = json_array();
  kf_rc rc = kp_letter_check(letter, issues);
  if (!code) {
    if (rc != KF_OK) {
      char *text = json_dumps(issues, 0);
      fail_msg("%s: expected valid, got %s", path, text);
    }
    assert_int_equal(json_array_size(issues), 0);
  } else {
    assert_int_equal(rc, KF_ERR_INVALID);
    if (json_array_size(issues) != 1) {
      char *text = json_dumps(issues, 0);
      fail_msg("%s: expected one issue, got %s", path, text);
    }
    json_t *issue = json_array_get(issues, 0);
    assert_string_equal(json_string_value(json_object_get(issue, "field")), field);
    assert_string_equal(json_string_value(json_object_get(issue, "code")), code);
    const char *message = json_string_value(json_object_get(issue, "message"));
    assert_non_null(message);
    assert_true(strlen(message) > 0);
  }
  json_decref(issues);
  json_decref(letter);
}

static void missing(const char *path) {
  expect_one(path, NULL, path, KP_CODE_MISSING);
}

static void invalid(const char *path, json_t *value) {
  expect_one(path, value, path, KP_CODE_INVALID);
}

static void valid(const char *path, json_t *value) {
  expect_one(path, value, NULL, NULL);
}

static void test_good_letter(void **state) {
  (void)state;
  json_t *letter = good_letter();
  json_t *issues = json_array();
  assert_int_equal(kp_letter_check(letter, issues), KF_OK);
  assert_int_equal(json_array_size(issues), 0);
  json_decref(issues);
  json_decref(letter);
  /* The optional parts may all be left out. */
  valid("recipient.customer_number", NULL);
  valid("recipient.address.country", NULL);
  valid("fields", NULL);
  valid("fields", json_null());
  valid("recipient.customer_number", json_null());
  valid("extra", json_string("other keys are kept as they are"));
}

static void test_kind(void **state) {
  (void)state;
  missing("kind");
  expect_one("kind", json_null(), "kind", KP_CODE_MISSING);
  invalid("kind", json_string(""));
  invalid("kind", json_string("Freischaltcode"));
  invalid("kind", json_string("frei schalt"));
  invalid("kind", json_string("freischalt_code"));
  invalid("kind", json_integer(5));
  invalid(
      "kind",
      json_string("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 65 */
  valid("kind",
        json_string("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 64 */
  valid("kind", json_string("einmal-passwort-2"));
}

static void test_date(void **state) {
  (void)state;
  missing("date");
  invalid("date", json_string("2026-02-29"));
  valid("date", json_string("2024-02-29"));
  valid("date", json_string("2000-02-29"));
  invalid("date", json_string("1900-02-29"));
  invalid("date", json_string("2026-04-31"));
  valid("date", json_string("2026-12-31"));
  invalid("date", json_string("2026-13-01"));
  invalid("date", json_string("2026-00-10"));
  invalid("date", json_string("2026-01-00"));
  invalid("date", json_string("0000-01-01"));
  invalid("date", json_string("2026-3-01"));
  invalid("date", json_string("01.03.2026"));
  invalid("date", json_string("2026-03-01T00:00:00Z"));
  invalid("date", json_string("2026-03-0a"));
  invalid("date", json_integer(20260301));
}

static void test_recipient(void **state) {
  (void)state;
  missing("recipient");
  invalid("recipient", json_string("Max"));
  invalid("recipient", json_array());
  missing("recipient.name");
  invalid("recipient.name", json_string(""));
  invalid("recipient.name", json_true());
  invalid("recipient.name", json_string("Max\rMustermann"));
  /* Length counts characters: 200 umlauts (400 bytes) are fine, 201 are not. */
  char name[2 * 201 + 1];
  for (size_t i = 0; i < 201; i++)
    memcpy(name + 2 * i, "\xc3\xa4", 2);
  name[2 * 201] = '\0';
  invalid("recipient.name", json_string(name));
  name[2 * 200] = '\0';
  valid("recipient.name", json_string(name));
}

static void test_customer_number(void **state) {
  (void)state;
  invalid("recipient.customer_number", json_string("123A12345"));
  invalid("recipient.customer_number", json_string("123A1234567"));
  invalid("recipient.customer_number", json_string("123a123456"));
  invalid("recipient.customer_number", json_string("1234123456"));
  invalid("recipient.customer_number", json_string("12AA123456"));
  invalid("recipient.customer_number", json_string(" 123A123456"));
  invalid("recipient.customer_number", json_string(""));
  invalid("recipient.customer_number", json_integer(123));
  valid("recipient.customer_number", json_string("999Z000000"));
}

static void test_address(void **state) {
  (void)state;
  missing("recipient.address");
  invalid("recipient.address", json_string("Hauptstraße 1, Berlin"));
  missing("recipient.address.street");
  missing("recipient.address.postal_code");
  missing("recipient.address.city");
  invalid("recipient.address.street", json_string(""));
  invalid("recipient.address.postal_code", json_string(""));
  invalid("recipient.address.postal_code", json_string("123456789012345678901"));
  invalid("recipient.address.city", json_integer(10115));
  invalid("recipient.address.country", json_string("Deutschland"));
  invalid("recipient.address.country", json_string("de"));
  valid("recipient.address.country", json_string("AT"));
}

static void test_text_and_controls(void **state) {
  (void)state;
  missing("text");
  invalid("text", json_string(""));
  invalid("text", json_integer(1));
  valid("text", json_string("Zeile 1\nZeile 2\tmit Tab"));
  invalid("text", json_string("CR\r\n"));
  invalid("text", json_string("bell\a"));
  invalid("text", json_string("del\x7f"));
  invalid("text", json_string("next line \xc2\x85"));
  invalid("text", json_string("esc \x1b[31m"));
  invalid("recipient.address.city", json_string("Berlin\x01"));
  invalid("kind", json_string("a\x02"));
}

/* Check a letter given as JSON text and expect exactly one INVALID_FIELD issue at field. */
static void expect_invalid_json(const char *text, const char *field) {
  json_error_t jerr;
  json_t *letter = json_loads(text, JSON_ALLOW_NUL, &jerr);
  if (!letter)
    fail_msg("bad test JSON: %s", jerr.text);
  json_t *issues = json_array();
  assert_int_equal(kp_letter_check(letter, issues), KF_ERR_INVALID);
  if (json_array_size(issues) != 1) {
    char *dump = json_dumps(issues, 0);
    fail_msg("expected one issue at %s, got %s", field, dump);
  }
  json_t *issue = json_array_get(issues, 0);
  assert_string_equal(json_string_value(json_object_get(issue, "field")), field);
  assert_string_equal(json_string_value(json_object_get(issue, "code")), KP_CODE_INVALID);
  json_decref(issues);
  json_decref(letter);
}

/* Strings outside the known fields are checked for control characters too, at any depth. */
static void test_unknown_keys_controls(void **state) {
  (void)state;
  invalid("extra", json_string("bell\a"));
  invalid("extra", json_string("nul \xc2\x85"));
  valid("extra", json_string("Zeile\nmit\tTab"));
  valid("extra", json_integer(3));
  invalid("recipient.nickname", json_string("esc \x1b"));
  invalid("recipient.address.note", json_string("cr\r"));
  static const char base[] =
      "{\"kind\": \"k\", \"date\": \"2026-03-01\", \"text\": \"t\","
      " \"recipient\": {\"name\": \"N\", \"address\": {\"street\": \"s\", \"postal_code\": \"1\","
      " \"city\": \"c\"}}, ";
  char text[512];
  snprintf(text, sizeof(text), "%s\"meta\": {\"a\": {\"b\": \"x\\u0000y\"}}}", base);
  expect_invalid_json(text, "meta.a.b");
  snprintf(text, sizeof(text), "%s\"list\": [\"ok\", {\"deep\": [1, \"\\u0007\"]}]}", base);
  expect_invalid_json(text, "list.1.deep.1");
  snprintf(text, sizeof(text), "%s\"meta\": {\"ok\": [\"a\", {\"b\": null}]}}", base);
  json_error_t jerr;
  json_t *letter = json_loads(text, 0, &jerr);
  assert_non_null(letter);
  json_t *issues = json_array();
  assert_int_equal(kp_letter_check(letter, issues), KF_OK);
  json_decref(issues);
  json_decref(letter);
}

static void test_fields(void **state) {
  (void)state;
  invalid("fields", json_string("code"));
  invalid("fields", json_array());
  invalid("fields.code", json_integer(5));
  invalid("fields.code", json_null());
  invalid("fields.code", json_string("HET2\x01"));
  valid("fields.extra", json_string(""));
  /* A bad key is reported against "fields" itself. */
  expect_one("fields.bad\x01key", json_string("v"), "fields", KP_CODE_INVALID);
}

static void test_many_issues_in_order(void **state) {
  (void)state;
  json_t *letter = json_object();
  json_t *issues = json_array();
  assert_int_equal(kp_letter_check(letter, issues), KF_ERR_INVALID);
  assert_int_equal(json_array_size(issues), 4);
  const char *fields[] = {"kind", "date", "recipient", "text"};
  for (size_t i = 0; i < 4; i++) {
    json_t *issue = json_array_get(issues, i);
    assert_string_equal(json_string_value(json_object_get(issue, "field")), fields[i]);
    assert_string_equal(json_string_value(json_object_get(issue, "code")), KP_CODE_MISSING);
  }
  json_decref(issues);
  json_decref(letter);

  json_t *not_object = json_array();
  issues = json_array();
  assert_int_equal(kp_letter_check(not_object, issues), KF_ERR_INVALID);
  assert_int_equal(json_array_size(issues), 1);
  json_decref(issues);
  json_decref(not_object);
}

/* How many letters in mb one search term finds. */
static size_t letters_by(kf_mailbox *mb, const char *key, const char *value) {
  kf_mailbox_filter f = {0};
  assert_int_equal(kf_mailbox_filter_set(&f, key, value), KF_OK);
  json_t *list = NULL;
  assert_int_equal(kf_mailbox_list(mb, &f, &list, NULL), KF_OK);
  size_t n = json_array_size(list);
  json_decref(list);
  return n;
}

static void test_normalize_and_keys(void **state) {
  (void)state;
  kf_mailbox *mb = NULL;
  assert_int_equal(kf_mailbox_open(NULL, "letters", 10, &mb, NULL), KF_OK);
  json_t *letter = good_letter();
  set_path(letter, "recipient.address.country", NULL);
  json_t *doc = NULL;
  assert_int_equal(kp_letter_normalize(letter, &doc), KF_OK);
  /* The input is untouched; the copy has the default country. */
  assert_null(
      json_object_get(json_object_get(json_object_get(letter, "recipient"), "address"), "country"));
  json_t *address = json_object_get(json_object_get(doc, "recipient"), "address");
  assert_string_equal(json_string_value(json_object_get(address, "country")), "DE");
  /* The "letters" collection finds kind, customer number and name in the stored form. */
  assert_int_equal(kf_mailbox_add(mb, doc, NULL, 0, NULL, NULL), KF_OK);
  assert_int_equal(letters_by(mb, "kind", "freischaltcode"), 1);
  assert_int_equal(letters_by(mb, "customer_number", "123A123456"), 1);
  assert_int_equal(letters_by(mb, "name", "Max Mustermann"), 1);
  assert_int_equal(letters_by(mb, "to", "Max Mustermann"), 0);
  json_decref(doc);

  set_path(letter, "recipient.address.country", json_string("AT"));
  set_path(letter, "recipient.customer_number", NULL);
  assert_int_equal(kp_letter_normalize(letter, &doc), KF_OK);
  address = json_object_get(json_object_get(doc, "recipient"), "address");
  assert_string_equal(json_string_value(json_object_get(address, "country")), "AT");
  assert_int_equal(kf_mailbox_add(mb, doc, NULL, 0, NULL, NULL), KF_OK);
  assert_int_equal(letters_by(mb, "customer_number", "123A123456"), 1);
  assert_int_equal(letters_by(mb, "name", "Max Mustermann"), 2);
  json_decref(doc);
  json_decref(letter);
  kf_mailbox_free(mb);
}

/* One letter to check, with the verdict and issue count a run without failures gives. */
typedef struct check_ctx {
  json_t *letter;
  kf_rc verdict;
  size_t issues;
} check_ctx;

static bool check_body(void *data, const kt_alloc_run *run) {
  check_ctx *ctx = data;
  json_t *issues = json_array();
  assert_non_null(issues);
  kt_alloc_arm(run);
  kf_rc rc = kp_letter_check(ctx->letter, issues);
  kt_alloc_disarm();
  bool ok = rc == ctx->verdict;
  if (ok)
    assert_int_equal(json_array_size(issues), ctx->issues);
  else
    assert_int_equal(rc, KF_ERR_NOMEM);
  json_decref(issues);
  return ok;
}

static bool normalize_body(void *data, const kt_alloc_run *run) {
  check_ctx *ctx = data;
  json_t *doc = NULL;
  kt_alloc_arm(run);
  kf_rc rc = kp_letter_normalize(ctx->letter, &doc);
  kt_alloc_disarm();
  if (rc != KF_OK) {
    assert_int_equal(rc, KF_ERR_NOMEM);
    assert_null(doc);
    return false;
  }
  json_t *address = json_object_get(json_object_get(doc, "recipient"), "address");
  assert_string_equal(json_string_value(json_object_get(address, "country")), "DE");
  json_decref(doc);
  return true;
}

/* Every allocation inside check and normalise may fail, transiently or for good. */
static void test_alloc_failures(void **state) {
  (void)state;
  check_ctx good = {.letter = good_letter(), .verdict = KF_OK, .issues = 0};
  set_path(good.letter, "recipient.address.country", NULL);
  check_ctx bad = {.letter = json_object(), .verdict = KF_ERR_INVALID, .issues = 4};
  /* Many problems at once, in known and in other members. */
  check_ctx worse = {.letter = good_letter(), .verdict = KF_ERR_INVALID, .issues = 4};
  set_path(worse.letter, "kind", json_integer(7));
  set_path(worse.letter, "recipient.name", NULL);
  set_path(worse.letter, "fields.code", json_null());
  set_path(worse.letter, "meta", json_pack("{s:[s]}", "list", "a\x01"));
  json_t *issues = json_array();
  assert_int_equal(kp_letter_check(worse.letter, issues), KF_ERR_INVALID);
  assert_int_equal(json_array_size(issues), worse.issues);
  json_decref(issues);
  assert_true(kt_alloc_sweep(check_body, &bad) > 0);
  assert_true(kt_alloc_sweep(check_body, &worse) > 0);
  (void)kt_alloc_sweep(check_body, &good);
  assert_true(kt_alloc_sweep(normalize_body, &good) > 0);
  json_decref(good.letter);
  json_decref(bad.letter);
  json_decref(worse.letter);
}

int main(void) {
  kf_alloc_install_jansson();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_good_letter),
      cmocka_unit_test(test_kind),
      cmocka_unit_test(test_date),
      cmocka_unit_test(test_recipient),
      cmocka_unit_test(test_customer_number),
      cmocka_unit_test(test_address),
      cmocka_unit_test(test_text_and_controls),
      cmocka_unit_test(test_unknown_keys_controls),
      cmocka_unit_test(test_fields),
      cmocka_unit_test(test_many_issues_in_order),
      cmocka_unit_test(test_normalize_and_keys),
      cmocka_unit_test(test_alloc_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
