/*
 * password_policy.h: the ACC-04 password policy, criterion by criterion.
 *
 * Shared by konform-server (to judge) and the harness (to generate valid and
 * invalid passwords and to check its generator).
 *
 * Ownership: nothing here allocates; inputs are borrowed for the call, reports
 * are caller-owned structs, and the returned strings are static.
 */
#ifndef KF_PASSWORD_POLICY_H
#define KF_PASSWORD_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum kf_pw_criterion {
  KF_PW_LENGTH,    /* 12 to 128 characters (code points, not bytes). */
  KF_PW_UPPERCASE, /* At least one of A-Z. */
  KF_PW_LOWERCASE, /* At least one of a-z. */
  KF_PW_DIGIT,     /* At least one of 0-9. */
  KF_PW_SPECIAL,   /* At least one of KF_PW_SPECIALS. */
  KF_PW_FORBIDDEN, /* Nothing outside A-Z a-z 0-9 and KF_PW_SPECIALS. */
  KF_PW_REPEAT,    /* The repetition is byte-for-byte equal. */
  KF_PW_CRITERIA_COUNT
} kf_pw_criterion;

/* The special characters the guide allows: @#$%&*-_!+=;,.?/"() */
extern const char KF_PW_SPECIALS[];
#define KF_PW_MIN_CHARS 12
#define KF_PW_MAX_CHARS 128

typedef struct kf_pw_report {
  bool ok[KF_PW_CRITERIA_COUNT];
  size_t chars; /* Code points counted (bytes if the input is not UTF-8). */
} kf_pw_report;

/* Check pw against every criterion; repeat may be NULL (then KF_PW_REPEAT fails). */
void kf_pw_check(const char *pw, size_t pw_len, const char *repeat, size_t repeat_len,
                 kf_pw_report *out);
bool kf_pw_report_all_ok(const kf_pw_report *report);
/* "PASSWORD_LENGTH", ...; the repeat criterion is "PASSWORD_REPEAT_MISMATCH". */
const char *kf_pw_criterion_code(kf_pw_criterion c);
/* "length", "uppercase", "lowercase", "digit", "special", "forbidden", "repeat". */
const char *kf_pw_criterion_key(kf_pw_criterion c);
/* The German checklist label from seed 004, e.g. "12 bis 128 Zeichen lang". */
const char *kf_pw_criterion_label(kf_pw_criterion c);
bool kf_pw_is_special(uint32_t cp);

#endif
