/* Unit tests for the ACC-04 password policy (lib/src/password_policy.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "kf/password_policy.h"

/* A password that meets every criterion; tests change one thing at a time. */
#define GOOD "Abcdefgh12!x"

static kf_pw_report check(const char *pw) {
  kf_pw_report r;
  kf_pw_check(pw, strlen(pw), pw, strlen(pw), &r);
  return r;
}

/* Assert that exactly the criterion `failing` fails (or none with KF_PW_CRITERIA_COUNT). */
static void assert_only_fails(const kf_pw_report *r, int failing) {
  for (int c = 0; c < KF_PW_CRITERIA_COUNT; c++) {
    if (c == failing)
      assert_false(r->ok[c]);
    else
      assert_true(r->ok[c]);
  }
}

static void test_good_password_passes(void **state) {
  (void)state;
  kf_pw_report r = check(GOOD);
  assert_only_fails(&r, KF_PW_CRITERIA_COUNT);
  assert_true(kf_pw_report_all_ok(&r));
  assert_int_equal(r.chars, 12);
}

static void test_each_criterion_alone(void **state) {
  (void)state;
  kf_pw_report r = check("abcdefgh12!x");
  assert_only_fails(&r, KF_PW_UPPERCASE);
  r = check("ABCDEFGH12!X");
  assert_only_fails(&r, KF_PW_LOWERCASE);
  r = check("Abcdefghij!x");
  assert_only_fails(&r, KF_PW_DIGIT);
  r = check("Abcdefgh12xx");
  assert_only_fails(&r, KF_PW_SPECIAL);
  r = check("Abcdefg12!x");
  assert_only_fails(&r, KF_PW_LENGTH);
  kf_pw_check(GOOD, strlen(GOOD), "Abcdefgh12!y", 12, &r);
  assert_only_fails(&r, KF_PW_REPEAT);
  kf_pw_check(GOOD, strlen(GOOD), NULL, 0, &r);
  assert_only_fails(&r, KF_PW_REPEAT);
  assert_false(kf_pw_report_all_ok(&r));
}

static void test_length_boundaries(void **state) {
  (void)state;
  char pw[200];
  /* 11, 12, 128 and 129 characters: "Aa1!" followed by 'x's. */
  const size_t lengths[] = {11, 12, 128, 129};
  const int ok[] = {0, 1, 1, 0};
  for (size_t i = 0; i < 4; i++) {
    memcpy(pw, "Aa1!", 4);
    memset(pw + 4, 'x', lengths[i] - 4);
    pw[lengths[i]] = '\0';
    kf_pw_report r = check(pw);
    assert_int_equal(r.chars, lengths[i]);
    assert_int_equal(r.ok[KF_PW_LENGTH], ok[i]);
  }
}

static void test_length_counts_code_points(void **state) {
  (void)state;
  /* Eleven ASCII characters plus "ä" (two bytes): 12 characters, 13 bytes. */
  const char *pw = "Abcdefg12!x\xc3\xa4";
  kf_pw_report r = check(pw);
  assert_int_equal(strlen(pw), 13);
  assert_int_equal(r.chars, 12);
  assert_true(r.ok[KF_PW_LENGTH]);
  assert_false(r.ok[KF_PW_FORBIDDEN]);
  /* 128 "€" (three bytes each) is 128 characters, 384 bytes: length fine. */
  char big[128 * 3 + 1];
  for (size_t i = 0; i < 128; i++)
    memcpy(big + 3 * i, "\xe2\x82\xac", 3);
  big[sizeof big - 1] = '\0';
  r = check(big);
  assert_int_equal(r.chars, 128);
  assert_true(r.ok[KF_PW_LENGTH]);
  /* Eleven "€" is 33 bytes but only 11 characters: too short. */
  big[33] = '\0';
  r = check(big);
  assert_int_equal(r.chars, 11);
  assert_false(r.ok[KF_PW_LENGTH]);
}

static void test_forbidden_classes(void **state) {
  (void)state;
  const char *bad[] = {
      "Abcdefgh12! x",       /* space */
      "Abcdefgh12!\xc3\xbc", /* ü */
      "Abcdefgh12!\xc3\x9f", /* ß */
      "Abcdefgh12!<",        /* < */
      "Abcdefgh12!'",        /* ' */
      "Abcdefgh12!\t",       /* a control character */
      "Abcdefgh12!:",        /* a punctuation mark outside the set */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    kf_pw_report r = check(bad[i]);
    assert_only_fails(&r, KF_PW_FORBIDDEN);
  }
}

static void test_invalid_utf8_is_forbidden(void **state) {
  (void)state;
  /* A lone continuation byte, an overlong "/" and a truncated sequence. */
  const char *bad[] = {"Abcdefgh12!\x80", "Abcdefgh12!\xc0\xaf", "Abcdefgh12!\xe2\x82"};
  for (size_t i = 0; i < 3; i++) {
    kf_pw_report r = check(bad[i]);
    assert_false(r.ok[KF_PW_FORBIDDEN]);
    assert_true(r.ok[KF_PW_LENGTH]);
  }
  /* An embedded NUL is a control character, hence forbidden. */
  kf_pw_report r;
  kf_pw_check("Abcdefgh12!\0x", 13, "Abcdefgh12!\0x", 13, &r);
  assert_false(r.ok[KF_PW_FORBIDDEN]);
  assert_int_equal(r.chars, 13);
}

static void test_every_special_is_allowed(void **state) {
  (void)state;
  for (const char *p = KF_PW_SPECIALS; *p != '\0'; p++) {
    char pw[16] = "Abcdefgh12x";
    pw[11] = *p;
    pw[12] = '\0';
    kf_pw_report r = check(pw);
    assert_only_fails(&r, KF_PW_CRITERIA_COUNT);
    assert_true(kf_pw_is_special((uint32_t)(unsigned char)*p));
  }
  assert_int_equal(strlen(KF_PW_SPECIALS), 19);
  assert_false(kf_pw_is_special(0));
  assert_false(kf_pw_is_special(' '));
  assert_false(kf_pw_is_special(0xE4));
}

static void test_empty_password_fails_all_but_forbidden(void **state) {
  (void)state;
  kf_pw_report r;
  kf_pw_check("", 0, "", 0, &r);
  assert_false(r.ok[KF_PW_LENGTH]);
  assert_false(r.ok[KF_PW_UPPERCASE]);
  assert_true(r.ok[KF_PW_FORBIDDEN]);
  assert_true(r.ok[KF_PW_REPEAT]);
}

static void test_codes_keys_labels(void **state) {
  (void)state;
  assert_string_equal(kf_pw_criterion_code(KF_PW_LENGTH), "PASSWORD_LENGTH");
  assert_string_equal(kf_pw_criterion_code(KF_PW_FORBIDDEN), "PASSWORD_FORBIDDEN_CHARACTERS");
  assert_string_equal(kf_pw_criterion_code(KF_PW_REPEAT), "PASSWORD_REPEAT_MISMATCH");
  assert_string_equal(kf_pw_criterion_key(KF_PW_SPECIAL), "special");
  assert_string_equal(kf_pw_criterion_label(KF_PW_LENGTH), "12 bis 128 Zeichen lang");
  assert_string_equal(kf_pw_criterion_label(KF_PW_UPPERCASE), "mindestens ein Gro\xc3\x9f"
                                                              "buchstabe (A - Z)");
  assert_string_equal(kf_pw_criterion_label(KF_PW_SPECIAL),
                      "mindestens eines der folgenden Sonderzeichen: @ # $ % & * - _ ! + = ; , . ? "
                      "/ \" ( )");
  assert_string_equal(kf_pw_criterion_label(KF_PW_REPEAT), "richtige Passwortwiederholung");
}

/* The table covers every criterion, in checklist order, with distinct names. */
static void test_table_complete(void **state) {
  (void)state;
  static const char *const keys[] = {"length",  "uppercase", "lowercase", "digit",
                                     "special", "forbidden", "repeat"};
  assert_int_equal(sizeof(keys) / sizeof(keys[0]), KF_PW_CRITERIA_COUNT);
  for (int c = 0; c < KF_PW_CRITERIA_COUNT; c++) {
    assert_string_equal(kf_pw_criterion_key((kf_pw_criterion)c), keys[c]);
    assert_true(strncmp(kf_pw_criterion_code((kf_pw_criterion)c), "PASSWORD_", 9) == 0);
    assert_true(kf_pw_criterion_label((kf_pw_criterion)c)[0] != '\0');
    for (int d = 0; d < c; d++) {
      assert_string_not_equal(kf_pw_criterion_code((kf_pw_criterion)c),
                              kf_pw_criterion_code((kf_pw_criterion)d));
    }
  }
  assert_string_equal(kf_pw_criterion_code(KF_PW_CRITERIA_COUNT), "PASSWORD_UNKNOWN");
  assert_string_equal(kf_pw_criterion_key(KF_PW_CRITERIA_COUNT), "unknown");
  assert_string_equal(kf_pw_criterion_label(KF_PW_CRITERIA_COUNT), "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_good_password_passes),
      cmocka_unit_test(test_each_criterion_alone),
      cmocka_unit_test(test_length_boundaries),
      cmocka_unit_test(test_length_counts_code_points),
      cmocka_unit_test(test_forbidden_classes),
      cmocka_unit_test(test_invalid_utf8_is_forbidden),
      cmocka_unit_test(test_every_special_is_allowed),
      cmocka_unit_test(test_empty_password_fails_all_but_forbidden),
      cmocka_unit_test(test_codes_keys_labels),
      cmocka_unit_test(test_table_complete),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
