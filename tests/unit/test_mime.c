/*
 * test_mime.c: decoding received messages into mail documents
 * (mocks/mail/km_mime.c): RFC 2047 subjects, transfer encodings, charsets,
 * multipart/alternative, links, validity and unparseable input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kf/alloc.h"
#include "km_mime.h"

static json_t *decode(const char *raw) {
  static const char *const rcpts[] = {"a@b.test", "c@d.test"};
  km_smtp_envelope env = {.mail_from = "sender@x.test", .rcpt_to = rcpts, .rcpt_to_len = 2};
  json_t *doc = NULL;
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(km_mime_decode(raw, strlen(raw), &env, &doc, &err), KF_OK);
  assert_non_null(doc);
  return doc;
}

static const char *str(json_t *doc, const char *key) {
  json_t *v = json_object_get(doc, key);
  assert_non_null(v);
  assert_true(json_is_string(v));
  return json_string_value(v);
}

static bool valid(json_t *doc) {
  json_t *v = json_object_get(doc, "mime_valid");
  assert_true(json_is_boolean(v));
  return json_is_true(v);
}

static void assert_links(json_t *doc, const char *const *expected, size_t n) {
  json_t *links = json_object_get(doc, "links");
  assert_true(json_is_array(links));
  if (json_array_size(links) != n) {
    char *dump = json_dumps(links, 0);
    print_error("links: %s\n", dump);
    free(dump);
  }
  assert_int_equal(json_array_size(links), n);
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(json_string_value(json_array_get(links, i)), expected[i]);
  }
}

static void test_subject_b_encoding(void **state) {
  (void)state;
  json_t *doc = decode("From: =?UTF-8?B?S29udG9zZXJ2aWNl?= <kontoservice@arbeitsagentur.de>\r\n"
                       "To: Max <max@b.test>, other@c.test\r\n"
                       "Subject: =?UTF-8?B?QmVzdMOkdGlndW5nIElocmVyIEUtTWFpbC1BZHJlc3Nl?=\r\n"
                       "Date: Sat, 28 Mar 2026 10:00:00 +0000\r\n"
                       "Message-ID: <m1@arbeitsagentur.de>\r\n"
                       "\r\n"
                       "Hallo\r\n");
  assert_string_equal(str(doc, "subject"), "Bestätigung Ihrer E-Mail-Adresse");
  assert_string_equal(str(doc, "from"), "kontoservice@arbeitsagentur.de");
  json_t *to = json_object_get(doc, "to");
  assert_int_equal(json_array_size(to), 2);
  assert_string_equal(json_string_value(json_array_get(to, 0)), "max@b.test");
  assert_string_equal(json_string_value(json_array_get(to, 1)), "other@c.test");
  assert_string_equal(str(doc, "date"), "Sat, 28 Mar 2026 10:00:00 +0000");
  assert_string_equal(str(doc, "message_id"), "m1@arbeitsagentur.de");
  assert_string_equal(str(doc, "text"), "Hallo\r\n");
  assert_true(json_is_null(json_object_get(doc, "html")));
  assert_true(valid(doc));
  /* headers: lower-case names, decoded values. */
  json_t *headers = json_object_get(doc, "headers");
  assert_string_equal(str(headers, "subject"), "Bestätigung Ihrer E-Mail-Adresse");
  assert_string_equal(str(headers, "from"), "Kontoservice <kontoservice@arbeitsagentur.de>");
  /* header_list keeps order, names and values as sent, plus the decoded value. */
  json_t *list = json_object_get(doc, "header_list");
  assert_int_equal(json_array_size(list), 5);
  json_t *subject = json_array_get(list, 2);
  assert_string_equal(str(subject, "name"), "Subject");
  assert_string_equal(str(subject, "value"),
                      "=?UTF-8?B?QmVzdMOkdGlndW5nIElocmVyIEUtTWFpbC1BZHJlc3Nl?=");
  assert_string_equal(str(subject, "decoded"), "Bestätigung Ihrer E-Mail-Adresse");
  /* Envelope and size come from the SMTP side. */
  json_t *env = json_object_get(doc, "envelope");
  assert_string_equal(str(env, "mail_from"), "sender@x.test");
  assert_int_equal(json_array_size(json_object_get(env, "rcpt_to")), 2);
  assert_true(json_integer_value(json_object_get(doc, "size")) > 100);
  json_decref(doc);
}

static void test_subject_q_encoding_folded(void **state) {
  (void)state;
  json_t *doc = decode("From: a@b.test\r\n"
                       "Subject: =?utf-8?Q?Ihre_Registrierung_bei_der_Bundesagentur?=\r\n"
                       " =?utf-8?Q?_f=C3=BCr_Arbeit?=\r\n"
                       "Date: Sat, 28 Mar 2026 10:00:00 +0000\r\n"
                       "\r\n"
                       "x\r\n");
  assert_string_equal(str(doc, "subject"), "Ihre Registrierung bei der Bundesagentur für Arbeit");
  /* A folded header is unfolded in header_list: the line break goes, the blank stays. */
  json_t *subject = json_array_get(json_object_get(doc, "header_list"), 1);
  assert_string_equal(
      str(subject, "value"),
      "=?utf-8?Q?Ihre_Registrierung_bei_der_Bundesagentur?= =?utf-8?Q?_f=C3=BCr_Arbeit?=");
  assert_true(valid(doc));
  json_decref(doc);
}

static void test_quoted_printable_body(void **state) {
  (void)state;
  json_t *doc =
      decode("From: a@b.test\r\n"
             "Date: Sat, 28 Mar 2026 10:00:00 +0000\r\n"
             "MIME-Version: 1.0\r\n"
             "Content-Type: text/plain; charset=UTF-8\r\n"
             "Content-Transfer-Encoding: quoted-printable\r\n"
             "\r\n"
             "Best=C3=A4tigen Sie Ihre E-Mail-Adresse innerhalb von 24 Stunden:=\r\n"
             " https://portal.test/link/e-mail-bestaetigen?id=3D0f8fad5b-d9cb-469f-a165-=\r\n"
             "70867728950e\r\n"
             "Servicenummer 0800 4 5555 01.\r\n");
  assert_string_equal(str(doc, "text"),
                      "Bestätigen Sie Ihre E-Mail-Adresse innerhalb von 24 Stunden: "
                      "https://portal.test/link/e-mail-bestaetigen?id=0f8fad5b-d9cb-469f-a165-"
                      "70867728950e\r\nServicenummer 0800 4 5555 01.\r\n");
  static const char *const links[] = {
      "https://portal.test/link/e-mail-bestaetigen?id=0f8fad5b-d9cb-469f-a165-70867728950e"};
  assert_links(doc, links, 1);
  assert_true(valid(doc));
  json_decref(doc);
}

static void test_base64_latin1_body(void **state) {
  (void)state;
  /* "Grüße" in ISO-8859-1, base64: R3L832U= */
  json_t *doc = decode("From: a@b.test\r\n"
                       "Date: Sat, 28 Mar 2026 10:00:00 +0000\r\n"
                       "Content-Type: text/plain; charset=iso-8859-1\r\n"
                       "Content-Transfer-Encoding: base64\r\n"
                       "\r\n"
                       "R3L832U=\r\n");
  assert_string_equal(str(doc, "text"), "Grüße");
  assert_true(valid(doc));
  json_decref(doc);
}

static void test_bad_charset_invalidates(void **state) {
  (void)state;
  /* Declared UTF-8 but carrying a Latin-1 byte. */
  json_t *doc = decode("From: a@b.test\r\n"
                       "Date: Sat, 28 Mar 2026 10:00:00 +0000\r\n"
                       "Content-Type: text/plain; charset=utf-8\r\n"
                       "Content-Transfer-Encoding: 8bit\r\n"
                       "\r\n"
                       "Gr\xfc\xdf"
                       "e\r\n");
  assert_string_equal(str(doc, "text"), "Gr\xEF\xBF\xBD\xEF\xBF\xBD"
                                        "e\r\n");
  assert_false(valid(doc));
  json_decref(doc);
  /* An unknown charset cannot convert cleanly either. */
  doc = decode("From: a@b.test\r\n"
               "Date: Sat, 28 Mar 2026 10:00:00 +0000\r\n"
               "Content-Type: text/plain; charset=x-no-such-charset\r\n"
               "\r\n"
               "abc\r\n");
  assert_string_equal(str(doc, "text"), "abc\r\n");
  assert_false(valid(doc));
  json_decref(doc);
}

static void test_missing_date_invalidates(void **state) {
  (void)state;
  json_t *doc = decode("From: a@b.test\r\nSubject: x\r\n\r\nbody\r\n");
  assert_false(valid(doc));
  assert_true(json_is_null(json_object_get(doc, "date")));
  json_decref(doc);
  doc = decode("Date: Sat, 28 Mar 2026 10:00:00 +0000\r\nSubject: x\r\n\r\nbody\r\n");
  assert_false(valid(doc));
  assert_true(json_is_null(json_object_get(doc, "from")));
  json_decref(doc);
}

static const char alternative[] =
    "From: kontoservice@arbeitsagentur.de\r\n"
    "To: a@b.test\r\n"
    "Date: Sat, 28 Mar 2026 10:00:00 +0000\r\n"
    "Subject: alt\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
    "\r\n"
    "--outer\r\n"
    "Content-Type: multipart/alternative; boundary=\"inner\"\r\n"
    "\r\n"
    "--inner\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Link: https://a.test/one. Again (https://a.test/one) and http://b.test/two?x=3D1&y=3D2,\r\n"
    "not a link: xhttp://c.test/ nor ftp://d.test/\r\n"
    "--inner\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    /* <p><a href="https://a.test/one">eins</a> <a href=" https://c.test/h?a=1&amp;b=2 ">zwei</a>
       <a href="mailto:x@y">m</a> <a href="/relative">r</a> Grüße</p> */
    "PHA+PGEgaHJlZj0iaHR0cHM6Ly9hLnRlc3Qvb25lIj5laW5zPC9hPiA8YSBocmVmPSIgaHR0cHM6\r\n"
    "Ly9jLnRlc3QvaD9hPTEmYW1wO2I9MiAiPnp3ZWk8L2E+IDxhIGhyZWY9Im1haWx0bzp4QHkiPm08\r\n"
    "L2E+IDxhIGhyZWY9Ii9yZWxhdGl2ZSI+cjwvYT4gR3LDvMOfZTwvcD4=\r\n"
    "--inner--\r\n"
    "--outer\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Disposition: attachment; filename=\"notes.txt\"\r\n"
    "\r\n"
    "attached https://attachment.test/\r\n"
    "--outer--\r\n";

static void test_multipart_alternative_links(void **state) {
  (void)state;
  json_t *doc = decode(alternative);
  const char *text = str(doc, "text");
  assert_non_null(strstr(text, "Link: https://a.test/one."));
  assert_null(strstr(text, "attached"));
  const char *html = str(doc, "html");
  assert_non_null(strstr(html, "Grüße"));
  static const char *const links[] = {"https://a.test/one", "http://b.test/two?x=1&y=2",
                                      "https://c.test/h?a=1&b=2"};
  assert_links(doc, links, 3);
  assert_true(valid(doc));
  json_decref(doc);
}

static void test_unparseable(void **state) {
  (void)state;
  json_t *doc = decode("this is not a mail at all\r\njust lines\r\n");
  assert_false(valid(doc));
  assert_true(json_is_null(json_object_get(doc, "subject")));
  assert_true(json_is_null(json_object_get(doc, "from")));
  assert_string_equal(str(doc, "text"), "");
  assert_int_equal(json_array_size(json_object_get(doc, "links")), 0);
  assert_int_equal(json_integer_value(json_object_get(doc, "size")), 39);
  assert_string_equal(str(json_object_get(doc, "envelope"), "mail_from"), "sender@x.test");
  json_decref(doc);
  /* The empty message, and bytes that are not UTF-8, do not break decoding. */
  doc = decode("");
  assert_false(valid(doc));
  json_decref(doc);
  doc = decode("Subject: \xff\xfe\r\nFrom: \x80@x\r\n\r\n\xff\r\n");
  assert_false(valid(doc));
  assert_true(json_is_string(json_object_get(doc, "subject")));
  json_decref(doc);
}

/* Fail allocations one by one (JSON included): no crash, no leak, clean result. */
static void test_alloc_failures(void **state) {
  (void)state;
  kf_alloc_install_jansson();
  bool completed_clean = false;
  for (unsigned long n = 1; n < 2000 && !completed_clean; n++) {
    json_t *doc = NULL;
    kf_alloc_fail_at(n);
    kf_rc rc = km_mime_decode(alternative, strlen(alternative), NULL, &doc, NULL);
    completed_clean = !kf_alloc_failed();
    kf_alloc_fail_at(0);
    if (rc == KF_OK) {
      assert_non_null(doc);
      json_decref(doc);
    } else {
      assert_int_equal(rc, KF_ERR_NOMEM);
      assert_null(doc);
    }
  }
  assert_true(completed_clean);
}

static int setup(void **state) {
  (void)state;
  km_mime_global_init();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  km_mime_global_shutdown();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_subject_b_encoding),
      cmocka_unit_test(test_subject_q_encoding_folded),
      cmocka_unit_test(test_quoted_printable_body),
      cmocka_unit_test(test_base64_latin1_body),
      cmocka_unit_test(test_bad_charset_invalidates),
      cmocka_unit_test(test_missing_date_invalidates),
      cmocka_unit_test(test_multipart_alternative_links),
      cmocka_unit_test(test_unparseable),
      cmocka_unit_test(test_alloc_failures),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
