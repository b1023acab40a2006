/*
 * ks_lockout.h: the lockout after consecutive failed logins (AUTH-05,
 * TOTP-04). Failures are counted per normalised username, whether or not an
 * account has it, so a locked answer tells nothing about an account's
 * existence (AUTH-04). A failure is a wrong password or a wrong or replayed
 * second-factor code; the count resets on a success.
 *
 * Only the SHA-256 of a username is stored: the table then holds no typed
 * addresses of people who have no account.
 *
 * Every function runs in the caller's transaction on conn. Ownership:
 * strings are borrowed for the call.
 */
#ifndef KS_LOCKOUT_H
#define KS_LOCKOUT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "kf/error.h"

/* AUTH-05's defaults: the failure that locks, and for how long. */
#define KS_LOCKOUT_ATTEMPTS 5
#define KS_LOCKOUT_SECONDS (15 * 60)

/*
 * How many consecutive failures lock, and for how long. The login passes its
 * own (faults of the catalogue change it); everyone else gets the default.
 */
typedef struct ks_lockout_policy {
  int64_t attempts;
  int64_t seconds;
} ks_lockout_policy;

/* KS_LOCKOUT_ATTEMPTS and KS_LOCKOUT_SECONDS. */
extern const ks_lockout_policy ks_lockout_default;

/* Whether username is locked at now: locked from the failure that locked it until
 * that failure's time + the policy's seconds (at +seconds it is free). */
kf_rc ks_lockout_check(sqlite3 *conn, const char *username, int64_t now, bool *locked, kf_err *err);

/*
 * Count a failure of username at now; *now_locked tells whether it was the
 * failure that locks. A failure while locked neither counts nor extends.
 */
kf_rc ks_lockout_fail(sqlite3 *conn, const char *username, int64_t now, bool *now_locked,
                      kf_err *err);

/* ks_lockout_fail under policy instead of the default. */
kf_rc ks_lockout_fail_with(sqlite3 *conn, const ks_lockout_policy *policy, const char *username,
                           int64_t now, bool *now_locked, kf_err *err);

/* A success: the count of username starts again from zero. */
kf_rc ks_lockout_reset(sqlite3 *conn, const char *username, kf_err *err);

#endif
