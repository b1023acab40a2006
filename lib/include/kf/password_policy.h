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

/*
 * The criteria in checklist order, one row each: enumerator, key (the
 * "criterion" of a password_checks entry), field code (the repeat criterion
 * reports a mismatch) and the German checklist label from seed 004.
 *   LENGTH     12 to 128 characters (code points, not bytes)
 *   UPPERCASE  at least one of A-Z
 *   LOWERCASE  at least one of a-z
 *   DIGIT      at least one of 0-9
 *   SPECIAL    at least one of KF_PW_SPECIALS
 *   FORBIDDEN  nothing outside A-Z a-z 0-9 and KF_PW_SPECIALS
 *   REPEAT     the repetition is byte-for-byte equal
 */
#define KF_PW_CRITERIA(X)                                                                          \
  X(LENGTH, "length", "PASSWORD_LENGTH", "12 bis 128 Zeichen lang")                                \
  X(UPPERCASE, "uppercase", "PASSWORD_UPPERCASE", "mindestens ein Großbuchstabe (A - Z)")          \
  X(LOWERCASE, "lowercase", "PASSWORD_LOWERCASE", "mindestens ein Kleinbuchstabe (a - z)")         \
  X(DIGIT, "digit", "PASSWORD_DIGIT", "mindestens eine Ziffer (0 - 9)")                            \
  X(SPECIAL, "special", "PASSWORD_SPECIAL",                                                        \
    "mindestens eines der folgenden Sonderzeichen: @ # $ % & * - _ ! + = ; , . ? / \" ( )")        \
  X(FORBIDDEN, "forbidden", "PASSWORD_FORBIDDEN_CHARACTERS", "keine unerlaubten Zeichen")          \
  X(REPEAT, "repeat", "PASSWORD_REPEAT_MISMATCH", "richtige Passwortwiederholung")

typedef enum kf_pw_criterion {
#define KF_PW_ENUM(name, key, code, label) KF_PW_##name,
  KF_PW_CRITERIA(KF_PW_ENUM)
#undef KF_PW_ENUM
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
/*
 * The columns of KF_PW_CRITERIA. Outside the table: "PASSWORD_UNKNOWN",
 * "unknown" and "" respectively.
 */
const char *kf_pw_criterion_code(kf_pw_criterion c);
const char *kf_pw_criterion_key(kf_pw_criterion c);
const char *kf_pw_criterion_label(kf_pw_criterion c);
bool kf_pw_is_special(uint32_t cp);

#endif
