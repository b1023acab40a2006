/*
 * ks_lockout.c: consecutive failures per username hash in login_failures.
 */
#include "ks_lockout.h"

#include <assert.h>
#include <string.h>

#include "kf/digest.h"
#include "kf/sql.h"

#define LOCKOUT_HASH_HEX KF_SHA256_HEX

static void lockout_hash(const char *username, char out[LOCKOUT_HASH_HEX]) {
  kf_sha256_hex(username, strlen(username), out);
}

/* The row of hash: *found, its count and its locked_until (0 when not locked). */
static kf_rc lockout_read(sqlite3 *conn, const char *hash, bool *found, int64_t *count,
                          int64_t *locked_until, kf_err *err) {
  *found = false;
  *count = 0;
  *locked_until = 0;
  kf_sql q;
  kf_rc rc = kf_sql_query(&q, conn, err,
                          "SELECT consecutive, coalesce(locked_until, 0) FROM login_failures "
                          "WHERE username_hash = ?",
                          "t", hash);
  if (rc != KF_OK)
    return rc;
  rc = kf_sql_step(&q, found, err);
  if (rc == KF_OK && *found) {
    *count = kf_sql_int(&q, 0);
    *locked_until = kf_sql_int(&q, 1);
  }
  kf_sql_finalize(&q);
  return rc;
}

kf_rc ks_lockout_check(sqlite3 *conn, const char *username, int64_t now, bool *locked,
                       kf_err *err) {
  assert(conn != NULL && username != NULL && locked != NULL);
  char hash[LOCKOUT_HASH_HEX];
  lockout_hash(username, hash);
  bool found = false;
  int64_t count = 0, until = 0;
  kf_rc rc = lockout_read(conn, hash, &found, &count, &until, err);
  *locked = rc == KF_OK && found && now < until;
  return rc;
}

const ks_lockout_policy ks_lockout_default = {KS_LOCKOUT_ATTEMPTS, KS_LOCKOUT_SECONDS};

kf_rc ks_lockout_fail(sqlite3 *conn, const char *username, int64_t now, bool *now_locked,
                      kf_err *err) {
  return ks_lockout_fail_with(conn, &ks_lockout_default, username, now, now_locked, err);
}

kf_rc ks_lockout_fail_with(sqlite3 *conn, const ks_lockout_policy *policy, const char *username,
                           int64_t now, bool *now_locked, kf_err *err) {
  assert(conn != NULL && policy != NULL && username != NULL && now_locked != NULL);
  *now_locked = false;
  char hash[LOCKOUT_HASH_HEX];
  lockout_hash(username, hash);
  bool found = false;
  int64_t count = 0, until = 0;
  kf_rc rc = lockout_read(conn, hash, &found, &count, &until, err);
  if (rc != KF_OK || (found && now < until))
    return rc;
  /* A lock that has run out starts the count afresh. */
  if (until != 0)
    count = 0;
  count++;
  /* A policy of 0 attempts never locks (a server set up for timing measurements). */
  *now_locked = policy->attempts > 0 && count >= policy->attempts;
  int64_t new_until = *now_locked ? now + policy->seconds : 0;
  return kf_sql_run(conn, NULL, err,
                    "INSERT INTO login_failures (username_hash, consecutive, last_failed_at, "
                    "locked_until) VALUES (?, ?, ?, nullif(?, 0)) ON CONFLICT(username_hash) DO "
                    "UPDATE SET consecutive = excluded.consecutive, last_failed_at = "
                    "excluded.last_failed_at, locked_until = excluded.locked_until",
                    "tiii", hash, count, now, new_until);
}

kf_rc ks_lockout_reset(sqlite3 *conn, const char *username, kf_err *err) {
  assert(conn != NULL && username != NULL);
  char hash[LOCKOUT_HASH_HEX];
  lockout_hash(username, hash);
  return kf_sql_run(conn, NULL, err, "DELETE FROM login_failures WHERE username_hash = ?", "t",
                    hash);
}
