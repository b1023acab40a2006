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

/* Decode len bytes of raw, which may hold NUL bytes. */
static json_t *decode_n(const char *raw, size_t len) {
  static const char *const rcpts[] = {"a@b.test", "c@d.test"};
  km_smtp_envelope env = {.mail_from = "sender@x.test", .rcpt_to = rcpts, .rcpt_to_len = 2};
  json_t *doc = NULL;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = km_mime_decode(raw, len, &env, &doc, &err);
  if (rc != KF_OK)
    fail_msg("decode failed: %s", err.message);
  assert_non_null(doc);
  return doc;
}

static json_t *decode(const char *raw) {
  return decode_n(raw, strlen(raw));
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
    kf_free(dump);
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

/* Whether s (a JSON string value) holds a NUL byte, i.e. U+0000. */
static bool has_nul(json_t *doc, const char *key) {
  json_t *v = json_object_get(doc, key);
  assert_true(json_is_string(v));
  return memchr(json_string_value(v), '\0', json_string_length(v)) != NULL;
}

/* A NUL in a text or HTML part becomes U+FFFD and makes the mail invalid. */
static void test_nul_in_body(void **state) {
  (void)state;
  static const char plain[] = "From: a@b.test\r\n"
                              "Date: Sat, 28 Mar 2026 10:00:00 +0000\r\n"
                              "Content-Type: text/plain; charset=utf-8\r\n"
                              "\r\n"
                              "ab\0cd\r\n";
  json_t *doc = decode_n(plain, sizeof(plain) - 1);
  assert_false(has_nul(doc, "text"));
  assert_string_equal(str(doc, "text"), "ab\xEF\xBF\xBD"
                                        "cd\r\n");
  assert_false(valid(doc));
  json_decref(doc);
  /* Through iconv (Latin-1) the NUL would convert to U+0000 just the same. */
  static const char latin1[] = "From: a@b.test\r\n"
                               "Date: Sat, 28 Mar 2026 10:00:00 +0000\r\n"
                               "Content-Type: text/plain; charset=iso-8859-1\r\n"
                               "\r\n"
                               "Gr\xfc\0e\r\n";
  doc = decode_n(latin1, sizeof(latin1) - 1);
  assert_false(has_nul(doc, "text"));
  assert_false(valid(doc));
  json_decref(doc);
  static const char html[] = "From: a@b.test\r\n"
                             "Date: Sat, 28 Mar 2026 10:00:00 +0000\r\n"
                             "Content-Type: text/html; charset=utf-8\r\n"
                             "\r\n"
                             "<p>x\0y</p>\r\n";
  doc = decode_n(html, sizeof(html) - 1);
  assert_false(has_nul(doc, "html"));
  assert_non_null(strstr(str(doc, "html"), "x\xEF\xBF\xBDy"));
  assert_false(valid(doc));
  json_decref(doc);
}

/* A NUL in an RFC 2047 encoded subject never reaches the document as U+0000. */
static void test_nul_in_subject(void **state) {
  (void)state;
  /* "a\0b" in base64 is YQBi. */
  json_t *doc = decode("From: a@b.test\r\n"
                       "Date: Sat, 28 Mar 2026 10:00:00 +0000\r\n"
                       "Subject: =?UTF-8?B?YQBi?=\r\n"
                       "\r\n"
                       "x\r\n");
  assert_false(has_nul(doc, "subject"));
  assert_false(has_nul(json_object_get(doc, "headers"), "subject"));
  json_decref(doc);
}

/* A header name that is not UTF-8 is kept (with U+FFFD) instead of failing the decode. */
static void test_header_name_not_utf8(void **state) {
  (void)state;
  json_t *doc = decode("From: a@b.test\r\n"
                       "Date: Sat, 28 Mar 2026 10:00:00 +0000\r\n"
                       "X-Gr\xfc\xdf: hallo\r\n"
                       "\r\n"
                       "x\r\n");
  json_t *headers = json_object_get(doc, "headers");
  assert_string_equal(str(headers, "x-gr\xEF\xBF\xBD\xEF\xBF\xBD"), "hallo");
  json_t *entry = json_array_get(json_object_get(doc, "header_list"), 2);
  assert_string_equal(str(entry, "name"), "X-Gr\xEF\xBF\xBD\xEF\xBF\xBD");
  assert_false(valid(doc));
  json_decref(doc);
}

/* URLs go on past non-ASCII characters and stop at blanks, delimiters and U+00A0. */
static void test_links_non_ascii(void **state) {
  (void)state;
  json_t *doc =
      decode("From: a@b.test\r\n"
             "Date: Sat, 28 Mar 2026 10:00:00 +0000\r\n"
             "Content-Type: text/plain; charset=utf-8\r\n"
             "Content-Transfer-Encoding: 8bit\r\n"
             "\r\n"
             "Siehe https://ex.test/stra\xc3\x9f"
             "e.\r\n"
             "<https://ex.test/k\xc3\xb6ln>, \"https://ex.test/q\" 'https://ex.test/s'\r\n"
             "https://ex.test/nbsp\xc2\xa0weiter (https://ex.test/paren) "
             "https://ex.test/x?y=\xe2\x82\xac!\r\n");
  static const char *const links[] = {"https://ex.test/stra\xc3\x9f"
                                      "e",
                                      "https://ex.test/k\xc3\xb6ln",
                                      "https://ex.test/q",
                                      "https://ex.test/s",
                                      "https://ex.test/nbsp",
                                      "https://ex.test/paren",
                                      "https://ex.test/x?y=\xe2\x82\xac"};
  assert_links(doc, links, 7);
  assert_true(valid(doc));
  json_decref(doc);
}

/* URLs written as text in an HTML part count too, in document order; script and style do not. */
static void test_links_in_html_text(void **state) {
  (void)state;
  json_t *doc = decode("From: a@b.test\r\n"
                       "Date: Sat, 28 Mar 2026 10:00:00 +0000\r\n"
                       "Content-Type: text/html; charset=utf-8\r\n"
                       "\r\n"
                       "<html><head><style>a { background: url(https://h.test/style) }</style>"
                       "<script>var u = 'https://h.test/script';</script></head>"
                       "<body><p>Bitte https://h.test/text?a=1&amp;b=2 \xc3\xb6"
                       "ffnen.</p>"
                       "<a href=\"https://h.test/a\">https://h.test/a</a>"
                       "<p>Wieder https://h.test/text?a=1&amp;b=2 und https://h.test/last</p>"
                       "</body></html>\r\n");
  static const char *const links[] = {"https://h.test/text?a=1&b=2", "https://h.test/a",
                                      "https://h.test/last"};
  assert_links(doc, links, 3);
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
      cmocka_unit_test(test_nul_in_body),
      cmocka_unit_test(test_nul_in_subject),
      cmocka_unit_test(test_header_name_not_utf8),
      cmocka_unit_test(test_links_non_ascii),
      cmocka_unit_test(test_links_in_html_text),
      cmocka_unit_test(test_alloc_failures),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
