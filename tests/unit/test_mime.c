/*
 * test_mime.c: decoding received messages into mail documents
 * (mocks/mail/km_mime.c): RFC 2047 subjects, transfer encodings, charsets,
 * multipart/alternative, links, validity and unparseable input, the header
 * block as sent, format=flowed, and the summary stored at once (subject and
 * message_id as GMime reads them) with the document built from it later.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <gmime/gmime.h>

#include "kf/alloc.h"
#include "kf/str.h"
#include "km_header.h"
#include "km_mime.h"
#include "kt_alloc.h"

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

/* The entry at index i of header_list, checked to have the name given. */
static json_t *header_at(json_t *doc, size_t i, const char *name) {
  json_t *entry = json_array_get(json_object_get(doc, "header_list"), i);
  assert_non_null(entry);
  assert_string_equal(str(entry, "name"), name);
  return entry;
}

/*
 * A NUL in a header as sent does not cut the value short: every byte after it
 * is kept, the NUL itself becomes U+FFFD, and the mail is not valid.
 */
static void test_nul_in_header(void **state) {
  (void)state;
  static const char raw[] = "From: a@b.test\r\n"
                            "Date: Sat, 28 Mar 2026 10:00:00 +0000\r\n"
                            "Subject: ab\0cd\r\n"
                            "X-Note: q\0r\r\n"
                            " s\r\n"
                            "\r\n"
                            "x\r\n";
  json_t *doc = decode_n(raw, sizeof(raw) - 1);
  static const char subject[] = "ab\xEF\xBF\xBD"
                                "cd";
  assert_string_equal(str(doc, "subject"), subject);
  assert_string_equal(str(json_object_get(doc, "headers"), "subject"), subject);
  json_t *entry = header_at(doc, 2, "Subject");
  assert_string_equal(str(entry, "value"), subject);
  assert_string_equal(str(entry, "decoded"), subject);
  entry = header_at(doc, 3, "X-Note");
  assert_string_equal(str(entry, "value"), "q\xEF\xBF\xBDr s");
  assert_false(has_nul(entry, "value"));
  assert_false(has_nul(entry, "decoded"));
  assert_false(valid(doc));
  json_decref(doc);
}

/*
 * header_list and headers hold every field of the top-level header block in
 * wire order, the body part's Content-* fields of a single-part mail
 * included, but none of the header blocks of the parts below a multipart.
 */
static void test_content_headers_listed(void **state) {
  (void)state;
  json_t *doc = decode("From: a@b.test\r\n"
                       "Content-Type: text/plain;\r\n"
                       " charset=\"utf-8\"\r\n"
                       "Date: Sat, 28 Mar 2026 10:00:00 +0000\r\n"
                       "Content-Transfer-Encoding: quoted-printable\r\n"
                       "MIME-Version: 1.0\r\n"
                       "\r\n"
                       "Gr=C3=BC=C3=9Fe\r\n");
  static const char *const names[] = {"From", "Content-Type", "Date", "Content-Transfer-Encoding",
                                      "MIME-Version"};
  assert_int_equal(json_array_size(json_object_get(doc, "header_list")), 5);
  for (size_t i = 0; i < 5; i++)
    (void)header_at(doc, i, names[i]);
  assert_string_equal(str(header_at(doc, 1, "Content-Type"), "value"),
                      "text/plain; charset=\"utf-8\"");
  json_t *headers = json_object_get(doc, "headers");
  assert_string_equal(str(headers, "content-type"), "text/plain; charset=\"utf-8\"");
  assert_string_equal(str(headers, "content-transfer-encoding"), "quoted-printable");
  assert_string_equal(str(doc, "text"), "Grüße\r\n");
  assert_true(valid(doc));
  json_decref(doc);
  doc = decode(alternative);
  assert_int_equal(json_array_size(json_object_get(doc, "header_list")), 6);
  assert_string_equal(str(header_at(doc, 5, "Content-Type"), "value"),
                      "multipart/mixed; boundary=\"outer\"");
  assert_null(json_object_get(json_object_get(doc, "headers"), "content-transfer-encoding"));
  json_decref(doc);
}

/* The header block ends where GMime ends it, and holds the fields GMime finds. */
static void test_header_block_rules(void **state) {
  (void)state;
  /* LF line ends, a field that is no field, an empty name, no empty line before the end. */
  static const char raw[] = "From: a@b.test\n"
                            "X Bad: skipped\n"
                            " with its continuation\n"
                            "no colon at all\n"
                            "Subject : spaced\n"
                            "\tfolded\n"
                            ": empty name\n"
                            "Date: Sat, 28 Mar 2026 10:00:00 +0000";
  km_header_iter it;
  km_header_iter_init(&it, raw, sizeof(raw) - 1);
  static const char *const want[][2] = {{"From", " a@b.test"},
                                        {"Subject", " spaced\n\tfolded"},
                                        {"", " empty name"},
                                        {"Date", " Sat, 28 Mar 2026 10:00:00 +0000"}};
  km_header_field f;
  for (size_t i = 0; i < 4; i++) {
    assert_true(km_header_iter_next(&it, &f));
    assert_int_equal(f.name_len, strlen(want[i][0]));
    assert_memory_equal(f.name, want[i][0], f.name_len);
    assert_int_equal(f.value_len, strlen(want[i][1]));
    assert_memory_equal(f.value, want[i][1], f.value_len);
  }
  assert_false(km_header_iter_next(&it, &f));
  assert_false(km_header_iter_next(&it, &f));
  /* A line of blanks continues a field; only an empty line ends the block. */
  static const char blanks[] = "Subject: a\r\n \r\nTo: b\r\n\r\nBody: no field\r\n";
  km_header_iter_init(&it, blanks, sizeof(blanks) - 1);
  assert_true(km_header_iter_next(&it, &f));
  assert_int_equal(f.value_len, strlen(" a\r\n "));
  kf_buf value;
  kf_buf_init(&value, 64);
  assert_int_equal(km_header_unfold(&f, &value), KF_OK);
  assert_string_equal(value.data, "a");
  kf_buf_release(&value);
  assert_true(km_header_iter_next(&it, &f));
  assert_memory_equal(f.name, "To", 2);
  assert_false(km_header_iter_next(&it, &f));
  /* What GMime reads matches: the decoded document lists the same fields. */
  json_t *doc = decode(raw);
  assert_int_equal(json_array_size(json_object_get(doc, "header_list")), 4);
  assert_string_equal(str(header_at(doc, 1, "Subject"), "value"), "spaced\tfolded");
  assert_string_equal(str(doc, "subject"), "spaced\tfolded");
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

/*
 * A link in the HTML that a mailer wrapped: a CR LF (or LF, or tab) inside the
 * href value, and a quoted-printable soft break inside it. Each is stored as
 * the whole URL, with no CR or LF in it; before, the first kept its CR LF.
 */
static void test_links_wrapped_href(void **state) {
  (void)state;
  json_t *doc = decode("From: a@b.test\r\n"
                       "Date: Sat, 28 Mar 2026 10:00:00 +0000\r\n"
                       "Content-Type: text/html; charset=utf-8\r\n"
                       "\r\n"
                       "<p><a href=\"https://h.test/link/e-mail-bestaetigen?id=0b6f\r\n"
                       "2c7e\">Best\xc3\xa4tigen</a>\r\n"
                       "<a href=\"\r\n https://h.test/a\n/b\tc \">b</a></p>\r\n");
  static const char *const links[] = {"https://h.test/link/e-mail-bestaetigen?id=0b6f2c7e",
                                      "https://h.test/a/bc"};
  assert_links(doc, links, 2);
  json_decref(doc);
  doc = decode("From: a@b.test\r\n"
               "Date: Sat, 28 Mar 2026 10:00:00 +0000\r\n"
               "MIME-Version: 1.0\r\n"
               "Content-Type: text/html; charset=utf-8\r\n"
               "Content-Transfer-Encoding: quoted-printable\r\n"
               "\r\n"
               "<p><a href=3D\"https://h.test/link/e-mail-bestaetigen?id=3D0b6f=\r\n"
               "2c7e-4d1a\">Best=C3=A4tigen</a></p>\r\n");
  static const char *const qp[] = {"https://h.test/link/e-mail-bestaetigen?id=0b6f2c7e-4d1a"};
  assert_links(doc, qp, 1);
  json_decref(doc);
}

/* ---- What third-party targets send. ---- */

/* SMTPUTF8 (RFC 6532): raw UTF-8 in headers and addresses is clean, not repaired. */
static void test_utf8_headers(void **state) {
  (void)state;
  json_t *doc = decode("From: J\xc3\xbcrgen <j\xc3\xbcrgen@b\xc3\xbc"
                       "cher.test>\r\n"
                       "To: \xc3\xb6@\xc3\xa4.test\r\n"
                       "Subject: Gr\xc3\xbc\xc3\x9f"
                       "e aus K\xc3\xb6ln\r\n"
                       "Date: Sat, 28 Mar 2026 10:00:00 +0100\r\n"
                       "Content-Type: text/plain; charset=utf-8\r\n"
                       "Content-Transfer-Encoding: 8bit\r\n"
                       "\r\n"
                       "Gr\xc3\xbc\xc3\x9f"
                       "e\r\n");
  assert_string_equal(str(doc, "from"), "j\xc3\xbcrgen@b\xc3\xbc"
                                        "cher.test");
  assert_string_equal(json_string_value(json_array_get(json_object_get(doc, "to"), 0)),
                      "\xc3\xb6@\xc3\xa4.test");
  assert_string_equal(str(doc, "subject"), "Gr\xc3\xbc\xc3\x9f"
                                           "e aus K\xc3\xb6ln");
  assert_string_equal(str(header_at(doc, 2, "Subject"), "value"), "Gr\xc3\xbc\xc3\x9f"
                                                                  "e aus K\xc3\xb6ln");
  assert_string_equal(str(doc, "text"), "Gr\xc3\xbc\xc3\x9f"
                                        "e\r\n");
  assert_true(valid(doc));
  json_decref(doc);
}

/* Any zone and spelling RFC 5322 allows, folding too: date is the header as sent, unfolded. */
static void test_date_zones(void **state) {
  (void)state;
  static const char *const dates[][2] = {
      {"Sat, 28 Mar 2026 10:00:00 -0500", "Sat, 28 Mar 2026 10:00:00 -0500"},
      {"28 Mar 2026 10:00 +0530", "28 Mar 2026 10:00 +0530"},
      {"Sat, 28 Mar 2026 10:00:00 GMT", "Sat, 28 Mar 2026 10:00:00 GMT"},
      {"Sat, 28 Mar 2026 11:00:00 +0100 (CET)", "Sat, 28 Mar 2026 11:00:00 +0100 (CET)"},
      {"Sat, 28 Mar 2026\r\n 10:00:00 +0000", "Sat, 28 Mar 2026 10:00:00 +0000"},
  };
  for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
    char raw[256];
    assert_int_equal(
        kf_str_format(raw, sizeof(raw), "From: a@b.test\r\nDate: %s\r\n\r\nx\r\n", dates[i][0]),
        KF_OK);
    json_t *doc = decode(raw);
    assert_string_equal(str(doc, "date"), dates[i][1]);
    assert_string_equal(str(json_object_get(doc, "headers"), "date"), dates[i][1]);
    assert_true(valid(doc));
    json_decref(doc);
  }
}

/* ---- format=flowed (RFC 3676). ---- */

static const char flowed_mail[] =
    "From: a@b.test\r\n"
    "Date: Sat, 28 Mar 2026 10:00:00 +0100\r\n"
    "Content-Type: text/plain; charset=utf-8; format=flowed\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Bitte best\xc3\xa4tigen Sie Ihre E-Mail-Adresse innerhalb von \r\n"
    "24 Stunden: \r\n"
    "https://portal.test/link/e-mail-bestaetigen?id=1\r\n"
    "\r\n"
    " From here on a stuffed line, \r\n"
    " and its stuffed continuation.\r\n"
    ">> Ein Zitat, das \r\n"
    ">>weitergeht.\r\n"
    "> Flie\xc3\x9ft \r\n"
    ">> nicht weiter\r\n"
    "Vor der Signatur \r\n"
    "-- \r\n"
    "Ihr Kontoservice \r\n";

/* Soft breaks joined, stuffing removed, quote depths kept apart, the signature separator fixed. */
static void test_flowed_hand_written(void **state) {
  (void)state;
  json_t *doc = decode(flowed_mail);
  assert_string_equal(str(doc, "text"),
                      "Bitte best\xc3\xa4tigen Sie Ihre E-Mail-Adresse innerhalb von 24 Stunden: "
                      "https://portal.test/link/e-mail-bestaetigen?id=1\r\n"
                      "\r\n"
                      "From here on a stuffed line, and its stuffed continuation.\r\n"
                      ">> Ein Zitat, das weitergeht.\r\n"
                      "> Flie\xc3\x9ft \r\n"
                      ">> nicht weiter\r\n"
                      "Vor der Signatur \r\n"
                      "-- \r\n"
                      "Ihr Kontoservice \r\n");
  static const char *const links[] = {"https://portal.test/link/e-mail-bestaetigen?id=1"};
  assert_links(doc, links, 1);
  assert_true(valid(doc));
  json_decref(doc);
}

/* DelSp=yes (any case) drops the space of each soft break: a link broken inside comes back whole.
 */
static void test_flowed_delsp(void **state) {
  (void)state;
  json_t *doc = decode("From: a@b.test\r\n"
                       "Date: Sat, 28 Mar 2026 10:00:00 +0000\r\n"
                       "Content-Type: text/plain; Format=Flowed; DelSp=Yes\r\n"
                       "\r\n"
                       "Link: https://portal.test/link/e-mail-bestaetigen?id=0f8fad5b- \r\n"
                       "d9cb-469f\r\n"
                       "\r\n"
                       "Ende  \r\n"
                       "gut \r\n"
                       "> fixed \r\n"
                       "last");
  assert_string_equal(str(doc, "text"),
                      "Link: https://portal.test/link/e-mail-bestaetigen?id=0f8fad5b-d9cb-469f\r\n"
                      "\r\n"
                      "Ende gut \r\n"
                      "> fixed \r\n"
                      "last");
  static const char *const links[] = {
      "https://portal.test/link/e-mail-bestaetigen?id=0f8fad5b-d9cb-469f"};
  assert_links(doc, links, 1);
  json_decref(doc);
  /* Without format=flowed a trailing space is just a space. */
  doc = decode("From: a@b.test\r\n"
               "Date: Sat, 28 Mar 2026 10:00:00 +0000\r\n"
               "Content-Type: text/plain; format=fixed; delsp=yes\r\n"
               "\r\n"
               "a \r\n"
               " b\r\n");
  assert_string_equal(str(doc, "text"), "a \r\n b\r\n");
  json_decref(doc);
}

/*
 * A flowed part built by GMime: quoted-printable keeps the trailing spaces
 * as =20, the part sits in a multipart/alternative, and the raw source keeps
 * the lines as sent.
 */
static void test_flowed_gmime_built(void **state) {
  (void)state;
  GMimeMessage *msg = g_mime_message_new(TRUE);
  g_mime_message_add_mailbox(msg, GMIME_ADDRESS_TYPE_FROM, "Kontoservice",
                             "kontoservice@arbeitsagentur.de");
  g_mime_message_add_mailbox(msg, GMIME_ADDRESS_TYPE_TO, NULL, "a@b.test");
  g_mime_message_set_subject(msg, "Best\xc3\xa4tigung Ihrer E-Mail-Adresse", "utf-8");
  GDateTime *date = g_date_time_new_utc(2026, 3, 28, 10, 0, 0);
  g_mime_message_set_date(msg, date);
  g_date_time_unref(date);
  GMimeTextPart *plain = g_mime_text_part_new_with_subtype("plain");
  g_mime_text_part_set_text(plain, "Gr\xc3\xbc\xc3\x9f \nGott, \n> zitiert \n> weiter\n");
  g_mime_object_set_content_type_parameter(GMIME_OBJECT(plain), "format", "flowed");
  g_mime_part_set_content_encoding(GMIME_PART(plain), GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
  GMimeTextPart *html = g_mime_text_part_new_with_subtype("html");
  g_mime_text_part_set_text(html, "<p>Gr\xc3\xbc\xc3\x9f Gott</p>\n");
  GMimeMultipart *alt = g_mime_multipart_new_with_subtype("alternative");
  g_mime_multipart_add(alt, GMIME_OBJECT(plain));
  g_mime_multipart_add(alt, GMIME_OBJECT(html));
  g_mime_message_set_mime_part(msg, GMIME_OBJECT(alt));
  g_object_unref(plain);
  g_object_unref(html);
  g_object_unref(alt);
  GMimeFormatOptions *options = g_mime_format_options_new();
  g_mime_format_options_set_newline_format(options, GMIME_NEWLINE_FORMAT_DOS);
  char *raw = g_mime_object_to_string(GMIME_OBJECT(msg), options);
  g_mime_format_options_free(options);
  g_object_unref(msg);
  assert_non_null(strstr(raw, "format=flowed"));
  assert_non_null(strstr(raw, "Gott,=20\r\n"));
  json_t *doc = decode(raw);
  g_free(raw);
  assert_string_equal(str(doc, "text"), "Gr\xc3\xbc\xc3\x9f Gott, \r\n> zitiert weiter\r\n");
  assert_string_equal(str(doc, "html"), "<p>Gr\xc3\xbc\xc3\x9f Gott</p>\r\n");
  assert_string_equal(str(doc, "subject"), "Best\xc3\xa4tigung Ihrer E-Mail-Adresse");
  assert_true(valid(doc));
  json_decref(doc);
}

/* One message to decode under injected allocation failures. */
typedef struct alloc_case {
  const char *raw;
  size_t len;
} alloc_case;

static bool decode_body(void *ctx, const kt_alloc_run *run) {
  const alloc_case *c = ctx;
  json_t *doc = NULL;
  kt_alloc_arm(run);
  kf_rc rc = km_mime_decode(c->raw, c->len, NULL, &doc, NULL);
  kt_alloc_disarm();
  if (rc != KF_OK) {
    assert_int_equal(rc, KF_ERR_NOMEM);
    assert_null(doc);
    return false;
  }
  assert_non_null(doc);
  json_decref(doc);
  return true;
}

/* ---- The summary stored at once, and the document built from it. ---- */

/* km_mime_summary of raw with decode_n's envelope. */
static json_t *summary_of(const char *raw) {
  static const char *const rcpts[] = {"a@b.test", "c@d.test"};
  km_smtp_envelope env = {.mail_from = "sender@x.test", .rcpt_to = rcpts, .rcpt_to_len = 2};
  json_t *s = NULL;
  kf_err err;
  kf_err_init(&err);
  if (km_mime_summary(raw, strlen(raw), &env, &s, &err) != KF_OK)
    fail_msg("summary failed: %s", err.message);
  return s;
}

/* GMime's own message_id of raw (a whole parse), or NULL. Caller g_free's it. */
static char *gmime_message_id(const char *raw) {
  GMimeStream *stream = g_mime_stream_mem_new_with_buffer(raw, strlen(raw));
  GMimeParser *parser = g_mime_parser_new_with_stream(stream);
  GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
  g_object_unref(parser);
  g_object_unref(stream);
  char *id = NULL;
  if (msg != NULL) {
    const char *v = g_mime_message_get_message_id(msg);
    id = v != NULL ? g_strdup(v) : NULL;
    g_object_unref(msg);
  }
  return id;
}

/*
 * The summary reads message_id from the header block alone as GMime's full
 * parse reads it (the store matches redeliveries by it), and subject as the
 * document's headers have it; the summary has just these and the envelope.
 */
static void test_summary_as_gmime(void **state) {
  (void)state;
  static const char *const ids[] = {
      "<a.1@b.test>",
      "  <a.2@b.test>  (a comment)",
      "<a.3@\r\n b.test>",
      "a.4@b.test",
      "<a.5@b.test> <a.6@b.test>",
      "=?utf-8?q?=3Ca.7=40b.test=3E?=",
      "",
      "<>",
      "<\"quoted local\"@b.test>",
      "<a.8@[127.0.0.1]>",
  };
  for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
    char raw[512];
    assert_int_equal(kf_str_format(raw, sizeof(raw),
                                   "From: x@b.test\r\nMessage-ID: <first@b.test>\r\nSubject: s\r\n"
                                   "Message-Id: %s\r\nDate: Sat, 28 Mar 2026 10:00:00 +0100\r\n"
                                   "\r\nbody\r\n",
                                   ids[i]),
                     KF_OK);
    json_t *s = summary_of(raw);
    char *want = gmime_message_id(raw);
    json_t *got = json_object_get(s, "message_id");
    if (want == NULL)
      assert_true(json_is_null(got));
    else
      assert_string_equal(json_string_value(got), want);
    g_free(want);
    assert_int_equal(json_object_size(s), 3);
    assert_string_equal(json_string_value(json_object_get(s, "subject")), "s");
    json_t *env = json_object_get(s, "envelope");
    assert_string_equal(json_string_value(json_object_get(env, "mail_from")), "sender@x.test");
    json_decref(s);
  }
  /* Subjects: the first field, unfolded and decoded, exactly as headers.subject. */
  static const char *const mails[] = {
      "Subject: =?UTF-8?B?QmVzdMOkdGlndW5n?=\r\nSubject: second\r\n\r\nx\r\n",
      "subject:  folded\r\n  over lines  \r\n\r\nx\r\n",
      "From: a@b.test\r\n\r\nno subject\r\n",
      "Subject: with \x01 control\r\n\r\n",
  };
  for (size_t i = 0; i < sizeof(mails) / sizeof(mails[0]); i++) {
    json_t *s = summary_of(mails[i]);
    json_t *doc = decode(mails[i]);
    json_t *in_headers = json_object_get(json_object_get(doc, "headers"), "subject");
    assert_true(
        json_equal(json_object_get(s, "subject"), in_headers != NULL ? in_headers : json_null()));
    assert_true(json_equal(json_object_get(s, "subject"), json_object_get(doc, "subject")));
    json_decref(s);
    json_decref(doc);
  }
}

/*
 * km_mime_expand keeps what the summary says, so a document always shows
 * the values the store matched it by, and builds the rest: a mail GMime
 * cannot parse (the header block ends inside a field name) keeps its
 * subject and message_id although it has no headers.
 */
static void test_expand_keeps_summary(void **state) {
  (void)state;
  static const char raw[] = "Subject: kept\r\nMessage-Id: <m@b.test>\r\nX-Cut";
  json_t *s = summary_of(raw);
  assert_string_equal(json_string_value(json_object_get(s, "subject")), "kept");
  assert_string_equal(json_string_value(json_object_get(s, "message_id")), "m@b.test");
  json_t *doc = NULL;
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(km_mime_expand(s, raw, strlen(raw), &doc, &err), KF_OK);
  assert_string_equal(str(doc, "subject"), "kept");
  assert_string_equal(str(doc, "message_id"), "m@b.test");
  assert_int_equal(json_object_size(json_object_get(doc, "headers")), 0);
  assert_false(valid(doc));
  assert_true(json_equal(json_object_get(doc, "envelope"), json_object_get(s, "envelope")));
  json_decref(doc);
  /* The members in the document's order, whatever the summary's order. */
  assert_int_equal(km_mime_expand(s, flowed_mail, strlen(flowed_mail), &doc, &err), KF_OK);
  static const char *const order[] = {"envelope",   "from",    "to",          "subject", "date",
                                      "message_id", "headers", "header_list", "text",    "html",
                                      "links",      "size",    "mime_valid"};
  void *it = json_object_iter(doc);
  for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
    assert_non_null(it);
    assert_string_equal(json_object_iter_key(it), order[i]);
    it = json_object_iter_next(doc, it);
  }
  assert_null(it);
  json_decref(doc);
  json_decref(s);
}

/* Fail allocations one by one (JSON included), transient and persistent: no crash, no leak. */
static void test_alloc_failures(void **state) {
  (void)state;
  kf_alloc_install_jansson();
  static const char nul_header[] = "From: a@b.test\r\nDate: Sat, 28 Mar 2026 10:00:00 +0000\r\n"
                                   "Subject: a\0b\r\nContent-Type: text/plain\r\n\r\nx\r\n";
  alloc_case cases[] = {{alternative, strlen(alternative)}, {nul_header, sizeof(nul_header) - 1}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    assert_true(kt_alloc_sweep(decode_body, &cases[i]) > 0);
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
      cmocka_unit_test(test_nul_in_header),
      cmocka_unit_test(test_content_headers_listed),
      cmocka_unit_test(test_header_block_rules),
      cmocka_unit_test(test_header_name_not_utf8),
      cmocka_unit_test(test_links_non_ascii),
      cmocka_unit_test(test_links_in_html_text),
      cmocka_unit_test(test_links_wrapped_href),
      cmocka_unit_test(test_utf8_headers),
      cmocka_unit_test(test_date_zones),
      cmocka_unit_test(test_flowed_hand_written),
      cmocka_unit_test(test_flowed_delsp),
      cmocka_unit_test(test_flowed_gmime_built),
      cmocka_unit_test(test_summary_as_gmime),
      cmocka_unit_test(test_expand_keeps_summary),
      cmocka_unit_test(test_alloc_failures),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
