/* Unit tests for the core lib: buffers, strings, UTF-8, time, UUIDs, allocation injection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/digest.h"
#include "kf/error.h"
#include "kf/str.h"
#include "kf/timeutil.h"
#include "kf/utf8.h"
#include "kf/uuid.h"

static void test_buf_cap_is_hard(void **state) {
  (void)state;
  kf_buf b;
  kf_buf_init(&b, 8);
  assert_int_equal(kf_buf_append_str(&b, "12345678"), KF_OK);
  assert_int_equal(kf_buf_append_byte(&b, 'x'), KF_ERR_LIMIT);
  /* A failed append leaves the buffer as it was. */
  assert_int_equal(b.len, 8);
  assert_string_equal(b.data, "12345678");
  kf_buf_reset(&b);
  assert_int_equal(kf_buf_appendf(&b, "%d-%s", 42, "ab"), KF_OK);
  assert_string_equal(b.data, "42-ab");
  assert_int_equal(kf_buf_appendf(&b, "%s", "toolong"), KF_ERR_LIMIT);
  size_t len = 0;
  char *owned = kf_buf_detach(&b, &len);
  assert_string_equal(owned, "42-ab");
  assert_int_equal(len, 5);
  assert_null(b.data);
  kf_free(owned);
  kf_buf_release(&b);
}

static void test_buf_nomem_then_recovers(void **state) {
  (void)state;
  kf_buf b;
  kf_buf_init(&b, 1024);
  kf_alloc_fail_at(1);
  assert_int_equal(kf_buf_append_str(&b, "abc"), KF_ERR_NOMEM);
  assert_true(kf_alloc_failed());
  assert_int_equal(kf_buf_append_str(&b, "abc"), KF_OK);
  kf_alloc_fail_at(0);
  assert_string_equal(b.data, "abc");
  kf_buf_release(&b);
}

static void test_str_to_long_rejects_junk(void **state) {
  (void)state;
  long v = 0;
  assert_int_equal(kf_str_to_long("42", 0, 100, &v), KF_OK);
  assert_int_equal(v, 42);
  assert_int_equal(kf_str_to_long("-7", -10, 10, &v), KF_OK);
  assert_int_equal(v, -7);
  assert_int_equal(kf_str_to_long("", 0, 100, &v), KF_ERR_PARSE);
  assert_int_equal(kf_str_to_long(" 1", 0, 100, &v), KF_ERR_PARSE);
  assert_int_equal(kf_str_to_long("1x", 0, 100, &v), KF_ERR_PARSE);
  assert_int_equal(kf_str_to_long("101", 0, 100, &v), KF_ERR_LIMIT);
  assert_int_equal(kf_str_to_long("99999999999999999999999", 0, 100, &v), KF_ERR_LIMIT);
}

static void test_str_copy_and_format_truncate(void **state) {
  (void)state;
  char small[4];
  assert_int_equal(kf_str_copy(small, sizeof small, "abc"), KF_OK);
  assert_int_equal(kf_str_copy(small, sizeof small, "abcd"), KF_ERR_LIMIT);
  assert_string_equal(small, "abc");
  assert_int_equal(kf_str_format(small, sizeof small, "%d", 12345), KF_ERR_LIMIT);
  assert_string_equal(small, "123");
  assert_true(kf_str_eq_ci("Konform.TEST", "konform.test"));
  assert_false(kf_str_eq_ci("a", "ab"));
  assert_true(kf_str_starts_with_ci("Application/JSON; charset=utf-8", "application/json"));
  assert_true(kf_str_ends_with("file.konform", ".konform"));
}

static void test_utf8_counts_characters_not_bytes(void **state) {
  (void)state;
  const char *s = "Grüße"; /* 5 characters, 7 bytes. */
  assert_int_equal(strlen(s), 7);
  assert_int_equal(kf_utf8_count(s, strlen(s)), 5);
  assert_true(kf_utf8_valid("\xF0\x9F\x98\x80", 4));  /* U+1F600. */
  assert_false(kf_utf8_valid("\xC0\xAF", 2));         /* Overlong "/". */
  assert_false(kf_utf8_valid("\xED\xA0\x80", 3));     /* Surrogate. */
  assert_false(kf_utf8_valid("\xF4\x90\x80\x80", 4)); /* Above U+10FFFF. */
  assert_false(kf_utf8_valid("\xE2\x82", 2));         /* Truncated. */
  assert_false(kf_utf8_valid("\x80", 1));
  char out[4];
  assert_int_equal(kf_utf8_encode(0xE4, out), 2);
  assert_memory_equal(out, "\xC3\xA4", 2);
  assert_int_equal(kf_utf8_encode(0xD800, out), 0);
}

static void test_time_iso_roundtrip_and_offsets(void **state) {
  (void)state;
  int64_t t = 0;
  assert_int_equal(kf_time_parse_iso("2026-03-28T10:00:00Z", &t), KF_OK);
  assert_int_equal(t, 1774692000);
  char iso[KF_TIME_ISO_MAX];
  assert_int_equal(kf_time_format_iso(t, iso, sizeof iso), KF_OK);
  assert_string_equal(iso, "2026-03-28T10:00:00Z");
  int64_t t2 = 0;
  assert_int_equal(kf_time_parse_iso("2026-03-28T11:00:00+01:00", &t2), KF_OK);
  assert_int_equal(t2, t);
  assert_int_equal(kf_time_parse_iso("2026-03-28T10:00:00.250Z", &t2), KF_OK);
  assert_int_equal(t2, t);
  assert_int_equal(kf_time_parse_iso("2026-02-29T00:00:00Z", &t2), KF_ERR_PARSE);
  assert_int_equal(kf_time_parse_iso("2024-02-29T00:00:00Z", &t2), KF_OK);
  assert_int_equal(kf_time_parse_iso("2026-03-28 10:00:00", &t2), KF_ERR_PARSE);
  assert_int_equal(kf_time_parse_iso("2026-03-28T24:00:00Z", &t2), KF_ERR_PARSE);
  char rfc[KF_TIME_RFC5322_MAX];
  assert_int_equal(kf_time_format_rfc5322(t, rfc, sizeof rfc), KF_OK);
  assert_string_equal(rfc, "Sat, 28 Mar 2026 10:00:00 +0000");
  assert_int_equal(kf_time_format_rfc5322(0, rfc, sizeof rfc), KF_OK);
  assert_string_equal(rfc, "Thu, 1 Jan 1970 00:00:00 +0000");
  assert_int_equal(kf_time_format_iso(-1, iso, sizeof iso), KF_OK);
  assert_string_equal(iso, "1969-12-31T23:59:59Z");
}

static void test_duration_parse(void **state) {
  (void)state;
  int64_t ms = 0;
  assert_int_equal(kf_duration_parse_ms("24h", &ms), KF_OK);
  assert_int_equal(ms, 86400000);
  assert_int_equal(kf_duration_parse_ms("24h1s", &ms), KF_OK);
  assert_int_equal(ms, 86401000);
  assert_int_equal(kf_duration_parse_ms("1d2h3m4s", &ms), KF_OK);
  assert_int_equal(ms, 93784000);
  assert_int_equal(kf_duration_parse_ms("250ms", &ms), KF_OK);
  assert_int_equal(ms, 250);
  assert_int_equal(kf_duration_parse_ms("1s1h", &ms), KF_ERR_PARSE);
  assert_int_equal(kf_duration_parse_ms("10", &ms), KF_ERR_PARSE);
  assert_int_equal(kf_duration_parse_ms("", &ms), KF_ERR_PARSE);
  assert_int_equal(kf_duration_parse_ms("h", &ms), KF_ERR_PARSE);
}

static void test_uuid_v4_shape(void **state) {
  (void)state;
  char a[KF_UUID_STR_LEN + 1], b[KF_UUID_STR_LEN + 1];
  kf_uuid_v4(a);
  kf_uuid_v4(b);
  assert_true(kf_uuid_is_canonical(a));
  assert_string_not_equal(a, b);
  assert_int_equal(a[14], '4');
  assert_true(strchr("89ab", a[19]) != NULL);
  assert_false(kf_uuid_is_canonical("99060bbc-f5ff-43b8-b4ea-3a91bb8d82d"));
  assert_false(kf_uuid_is_canonical("99060bbc-f5ff-43b8-b4ea-3a91bb8d82dg"));
  assert_false(kf_uuid_is_canonical("99060bbcf-5ff-43b8-b4ea-3a91bb8d82df"));
}

/* FIPS 180-2's "abc" and the empty input, so a stored hash stays the same across builds. */
static void test_sha256_hex_known_answers(void **state) {
  (void)state;
  char hex[KF_SHA256_HEX];
  kf_sha256_hex("abc", 3, hex);
  assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  kf_sha256_hex("", 0, hex);
  assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_err_set_truncates(void **state) {
  (void)state;
  kf_err err;
  kf_err_init(&err);
  char big[2000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  assert_int_equal(kf_err_set(&err, KF_ERR_LIMIT, "%s", big), KF_ERR_LIMIT);
  assert_int_equal(strlen(err.message), KF_ERR_MESSAGE_MAX - 1);
  assert_string_equal(kf_rc_name(KF_ERR_LIMIT), "KF_ERR_LIMIT");
  assert_int_equal(kf_err_set(NULL, KF_ERR_IO, "ignored"), KF_ERR_IO);
}

static void test_rfc5322_dates(void **state) {
  (void)state;
  /* 2026-03-28 10:00:00 UTC, a Saturday, written every legal way. */
  const int64_t want = 1774692000;
  static const char *const same[] = {
      "Sat, 28 Mar 2026 10:00:00 +0000", "28 Mar 2026 10:00:00 +0000",
      "Sat, 28 Mar 2026 11:00:00 +0100", "Sat, 28 Mar 2026 05:00:00 -0500",
      "sat, 28 mar 2026 10:00 +0000",    "Sat,\r\n 28 Mar 2026 10:00:00 (UTC) +0000",
      "Sat, 28 Mar 2026 10:00:00 GMT",   "Sat, 28 Mar 2026 06:00:00 EDT",
      "Sat, 28 Mar 26 10:00:00 UT",      "  Sat , 28 Mar 2026 10 : 00 : 00 Z  "};
  for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
    int64_t t = 0;
    if (kf_time_parse_rfc5322(same[i], &t) != KF_OK || t != want)
      fail_msg("\"%s\" gave %lld", same[i], (long long)t);
  }
  static const char *const bad[] = {"",
                                    "Fri, 28 Mar 2026 10:00:00 +0000", /* wrong day name */
                                    "31 Apr 2026 10:00:00 +0000",
                                    "29 Feb 2026 10:00:00 +0000",
                                    "28 Mar 2026 24:00:00 +0000",
                                    "28 Mar 2026 10:00:00",
                                    "28 Mar 2026 10:00:00 +01",
                                    "28 Mar 2026 10:00:00 +0000 x",
                                    "2026-03-28T10:00:00Z",
                                    "28 Mär 2026 10:00:00 +0000"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int64_t t = 0;
    if (kf_time_parse_rfc5322(bad[i], &t) != KF_ERR_PARSE)
      fail_msg("\"%s\" was accepted", bad[i]);
  }
  int64_t t = 0;
  assert_int_equal(kf_time_parse_rfc5322("29 Feb 2024 00:00:00 +0000", &t), KF_OK);
  /* What we write, we read. */
  char buf[KF_TIME_RFC5322_MAX];
  assert_int_equal(kf_time_format_rfc5322(want, buf, sizeof buf), KF_OK);
  assert_int_equal(kf_time_parse_rfc5322(buf, &t), KF_OK);
  assert_int_equal(t, want);
}

/* kf_array_grow: room, doubling, the cap, and a failed allocation that keeps the array. */
static void test_array_grow(void **state) {
  (void)state;
  kf_rc rc = KF_ERR_INTERNAL;
  size_t cap = 0, len = 0;
  int *a = NULL;
  for (; len < 5; len++) {
    int *n = kf_array_grow(a, &cap, len, sizeof *n, 2, 5, &rc);
    assert_non_null(n);
    assert_int_equal(rc, KF_OK);
    a = n;
    a[len] = (int)len;
  }
  assert_int_equal(cap, 5); /* 2, 4, then the cap of 5 rather than 8. */
  assert_null(kf_array_grow(a, &cap, len, sizeof *a, 2, 5, &rc));
  assert_int_equal(rc, KF_ERR_LIMIT);
  kf_alloc_fail_at(1);
  size_t cap2 = 5;
  assert_null(kf_array_grow(a, &cap2, 5, sizeof *a, 2, 100, &rc));
  kf_alloc_fail_at(0);
  assert_int_equal(rc, KF_ERR_NOMEM);
  assert_int_equal(cap2, 5);
  for (int i = 0; i < 5; i++)
    assert_int_equal(a[i], i); /* Untouched after the failure. */
  kf_free(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_array_grow),
      cmocka_unit_test(test_rfc5322_dates),
      cmocka_unit_test(test_buf_cap_is_hard),
      cmocka_unit_test(test_buf_nomem_then_recovers),
      cmocka_unit_test(test_str_to_long_rejects_junk),
      cmocka_unit_test(test_str_copy_and_format_truncate),
      cmocka_unit_test(test_utf8_counts_characters_not_bytes),
      cmocka_unit_test(test_time_iso_roundtrip_and_offsets),
      cmocka_unit_test(test_duration_parse),
      cmocka_unit_test(test_uuid_v4_shape),
      cmocka_unit_test(test_sha256_hex_known_answers),
      cmocka_unit_test(test_err_set_truncates),
  };
  return cmocka_run_group_tests_name("lib_core", tests, NULL, NULL);
}
