/*
 * password_policy.c: the ACC-04 password policy, one verdict per criterion.
 *
 * The policy is judged on code points, so "ä" counts as one character for the
 * length but is still a forbidden character. Input that is not valid UTF-8 is
 * never accepted: every undecodable byte is counted as one character and as a
 * forbidden one, so the report still says what else is wrong.
 */
#include "kf/password_policy.h"

#include <assert.h>
#include <string.h>

#include "kf/utf8.h"

const char KF_PW_SPECIALS[] = "@#$%&*-_!+=;,.?/\"()";

bool kf_pw_is_special(uint32_t cp) {
  /* The NUL terminator of KF_PW_SPECIALS must never count as a special. */
  if (cp == 0 || cp > 0x7F)
    return false;
  return strchr(KF_PW_SPECIALS, (int)cp) != NULL;
}

void kf_pw_check(const char *pw, size_t pw_len, const char *repeat, size_t repeat_len,
                 kf_pw_report *out) {
  assert(out != NULL);
  assert(pw != NULL || pw_len == 0);
  bool upper = false, lower = false, digit = false, special = false, forbidden = false;
  size_t chars = 0;
  size_t i = 0;
  while (i < pw_len) {
    uint32_t cp = 0;
    size_t n = kf_utf8_decode(pw + i, pw_len - i, &cp);
    if (n == 0) {
      /* An invalid sequence: count the byte as one (forbidden) character. */
      forbidden = true;
      i++;
      chars++;
      continue;
    }
    i += n;
    chars++;
    if (cp >= 'A' && cp <= 'Z') {
      upper = true;
    } else if (cp >= 'a' && cp <= 'z') {
      lower = true;
    } else if (cp >= '0' && cp <= '9') {
      digit = true;
    } else if (kf_pw_is_special(cp)) {
      special = true;
    } else {
      forbidden = true;
    }
  }
  out->chars = chars;
  out->ok[KF_PW_LENGTH] = chars >= KF_PW_MIN_CHARS && chars <= KF_PW_MAX_CHARS;
  out->ok[KF_PW_UPPERCASE] = upper;
  out->ok[KF_PW_LOWERCASE] = lower;
  out->ok[KF_PW_DIGIT] = digit;
  out->ok[KF_PW_SPECIAL] = special;
  out->ok[KF_PW_FORBIDDEN] = !forbidden;
  out->ok[KF_PW_REPEAT] =
      repeat != NULL && repeat_len == pw_len && (pw_len == 0 || memcmp(pw, repeat, pw_len) == 0);
}

bool kf_pw_report_all_ok(const kf_pw_report *report) {
  assert(report != NULL);
  for (int c = 0; c < KF_PW_CRITERIA_COUNT; c++) {
    if (!report->ok[c])
      return false;
  }
  return true;
}

/* One row per criterion, generated from KF_PW_CRITERIA so names never drift from the enum. */
typedef struct pw_names {
  const char *key;
  const char *code;
  const char *label;
} pw_names;

static const pw_names pw_table[KF_PW_CRITERIA_COUNT] = {
#define PW_ROW(name, key, code, label) [KF_PW_##name] = {key, code, label},
    KF_PW_CRITERIA(PW_ROW)
#undef PW_ROW
};

static const pw_names pw_unknown = {"unknown", "PASSWORD_UNKNOWN", ""};

static const pw_names *pw_row(kf_pw_criterion c) {
  /* The enum's underlying type may be unsigned, so test the range as unsigned. */
  return (unsigned)c < KF_PW_CRITERIA_COUNT ? &pw_table[c] : &pw_unknown;
}

const char *kf_pw_criterion_code(kf_pw_criterion c) {
  return pw_row(c)->code;
}

const char *kf_pw_criterion_key(kf_pw_criterion c) {
  return pw_row(c)->key;
}

const char *kf_pw_criterion_label(kf_pw_criterion c) {
  return pw_row(c)->label;
}
