/*
 * fuzz_password.c: kf_pw_check (kf/password_policy.h) against a reference
 * written here from ACC-04 of ../shared/spec/requirements.md: 12 to 128
 * characters (code points), at least one of A-Z, a-z and 0-9, at least one
 * of the special characters @ # $ % & * - _ ! + = ; , . ? / " ( ), nothing
 * else at all, and a repetition equal to the password.
 *
 * Input: the first byte picks the repetition (0: none, 1: a copy of the
 * password, 2: the bytes after the first 0xFF, a byte UTF-8 never holds);
 * the rest is the password. Input that is not UTF-8 has no ACC-04 answer of
 * its own; the product promises it is never accepted, its forbidden
 * criterion fails and the other class criteria still judge its ASCII bytes.
 * Any disagreement prints the input and aborts.
 *
 * Ownership: the copy of the repetition is a stack buffer; the input is libFuzzer's.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kf/password_policy.h"
#include "kz_fuzz.h"

#define REF_MAX_INPUT 4096

/* The special characters of ACC-04, spelt out one by one as the spec lists them. */
static bool ref_special(uint32_t c) {
  switch (c) {
  case '@':
  case '#':
  case '$':
  case '%':
  case '&':
  case '*':
  case '-':
  case '_':
  case '!':
  case '+':
  case '=':
  case ';':
  case ',':
  case '.':
  case '?':
  case '/':
  case '"':
  case '(':
  case ')':
    return true;
  default:
    return false;
  }
}

/*
 * Code points of s when it is well-formed UTF-8 (RFC 3629), else false. A
 * sequence is checked by its decoded value: the shortest form, no surrogate,
 * at most U+10FFFF.
 */
static bool ref_count(const unsigned char *s, size_t len, size_t *chars) {
  size_t n = 0;
  for (size_t i = 0; i < len; n++) {
    unsigned char c = s[i];
    size_t k = c < 0x80             ? 1
               : (c & 0xE0) == 0xC0 ? 2
               : (c & 0xF0) == 0xE0 ? 3
               : (c & 0xF8) == 0xF0 ? 4
                                    : 0;
    if (k == 0 || len - i < k)
      return false;
    uint32_t v = k == 1 ? c : k == 2 ? c & 0x1Fu : k == 3 ? c & 0x0Fu : c & 0x07u;
    for (size_t j = 1; j < k; j++) {
      if ((s[i + j] & 0xC0) != 0x80)
        return false;
      v = (v << 6) | (s[i + j] & 0x3Fu);
    }
    static const uint32_t shortest[5] = {0, 0, 0x80, 0x800, 0x10000};
    if ((k > 1 && v < shortest[k]) || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
      return false;
    i += k;
  }
  *chars = n;
  return true;
}

static void fail(const char *what, const uint8_t *data, size_t size) {
  fprintf(stderr, "fuzz_password: %s; input (%zu bytes):", what, size);
  for (size_t i = 0; i < size; i++)
    fprintf(stderr, " %02X", data[i]);
  fprintf(stderr, "\n");
  abort();
}

/* The criteria ACC-04 judges by the ASCII characters alone, in kf_pw_criterion order. */
static void ref_classes(const unsigned char *pw, size_t len, bool *upper, bool *lower, bool *digit,
                        bool *special, bool *other) {
  *upper = *lower = *digit = *special = *other = false;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = pw[i];
    if (c >= 'A' && c <= 'Z')
      *upper = true;
    else if (c >= 'a' && c <= 'z')
      *lower = true;
    else if (c >= '0' && c <= '9')
      *digit = true;
    else if (ref_special(c))
      *special = true;
    else
      *other = true; /* Space, control, anything non-ASCII (each of its bytes). */
  }
}

static void check(const uint8_t *data, size_t size, const unsigned char *pw, size_t len,
                  const unsigned char *rep, size_t rep_len) {
  kf_pw_report r;
  memset(&r, 0xA5, sizeof r);
  kf_pw_check((const char *)pw, len, (const char *)rep, rep_len, &r);
  bool upper, lower, digit, special, other;
  ref_classes(pw, len, &upper, &lower, &digit, &special, &other);
  size_t chars = 0;
  bool utf8 = ref_count(pw, len, &chars);
  bool repeat = rep != NULL && rep_len == len && memcmp(pw, rep, len) == 0;
  if (r.ok[KF_PW_UPPERCASE] != upper || r.ok[KF_PW_LOWERCASE] != lower ||
      r.ok[KF_PW_DIGIT] != digit || r.ok[KF_PW_SPECIAL] != special)
    fail("a character class criterion disagrees", data, size);
  if (r.ok[KF_PW_FORBIDDEN] != !other)
    fail("the forbidden criterion disagrees", data, size);
  if (r.ok[KF_PW_REPEAT] != repeat)
    fail("the repeat criterion disagrees", data, size);
  if (utf8) {
    bool length = chars >= 12 && chars <= 128;
    if (r.chars != chars || r.ok[KF_PW_LENGTH] != length)
      fail("the length criterion disagrees (characters, not bytes)", data, size);
    bool all = length && upper && lower && digit && special && !other && repeat;
    if (kf_pw_report_all_ok(&r) != all)
      fail("kf_pw_report_all_ok disagrees", data, size);
  } else {
    if (r.ok[KF_PW_FORBIDDEN] || kf_pw_report_all_ok(&r))
      fail("input that is not UTF-8 was accepted", data, size);
    if (r.chars > len || r.ok[KF_PW_LENGTH] != (r.chars >= 12 && r.chars <= 128))
      fail("the length of input that is not UTF-8 is out of range", data, size);
  }
  /* The special set does not depend on the input: compare it once per process. */
  static bool specials_checked;
  for (uint32_t c = 0; !specials_checked && c < 0x100; c++) {
    if (kf_pw_is_special(c) != ref_special(c))
      fail("kf_pw_is_special disagrees", data, size);
  }
  specials_checked = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0 || size > REF_MAX_INPUT)
    return 0;
  unsigned mode = data[0] % 3;
  const unsigned char *pw = data + 1;
  size_t len = size - 1;
  unsigned char copy[REF_MAX_INPUT];
  const unsigned char *rep = NULL;
  size_t rep_len = 0;
  if (mode == 1) {
    memcpy(copy, pw, len);
    rep = copy;
    rep_len = len;
  } else if (mode == 2) {
    const unsigned char *sep = memchr(pw, 0xFF, len);
    size_t cut = sep != NULL ? (size_t)(sep - pw) : len;
    rep = sep != NULL ? sep + 1 : pw + len;
    rep_len = sep != NULL ? len - cut - 1 : 0;
    len = cut;
  }
  check(data, size, pw, len, rep, rep_len);
  return 0;
}
