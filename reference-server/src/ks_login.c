/*
 * ks_login.c: the password login (see ks_login.h).
 */
#include "ks_login.h"

#include <assert.h>
#include <sodium.h>
#include <string.h>

#include "kf/sql.h"
#include "ks_fault.h"
#include "ks_lockout.h"
#include "ks_totp_api.h"

/* What the password check found, before the transaction decides. */
typedef struct login_check {
  int64_t account_id; /* 0: no account has the username. */
  bool confirmed;
  bool password_ok;   /* Never true without an account. */
  char *hash;         /* The stored hash (ks_account_hash_free), or NULL. */
  bool rehash;        /* new_hash holds pw at the current cost, to replace hash. */
  bool rehash_stored; /* The login's transaction replaced hash by new_hash. */
  char new_hash[crypto_pwhash_STRBYTES];
} login_check;

ks_lockout_policy ks_login_policy(const ks_server *srv) {
  ks_lockout_policy p = {srv->cfg->lockout_attempts, (int64_t)srv->cfg->lockout_minutes * 60};
  if (ks_fault_on(srv, KS_FAULT_LOCKOUT_AFTER_SIX))
    p.attempts++;
  if (ks_fault_on(srv, KS_FAULT_LOCKOUT_ENDS_EARLY))
    p.seconds--;
  return p;
}

kf_rc ks_login_factors(sqlite3 *conn, int64_t account_id, bool *totp, int64_t *passkeys,
                       kf_err *err) {
  assert(conn != NULL && totp != NULL && passkeys != NULL);
  *totp = false;
  *passkeys = 0;
  kf_sql q;
  kf_rc rc = kf_sql_query(&q, conn, err,
                          "SELECT EXISTS (SELECT 1 FROM totp_secrets WHERE account_id = ?1 AND "
                          "active = 1), (SELECT count(*) FROM passkeys WHERE account_id = ?1)",
                          "i", account_id);
  if (rc != KF_OK)
    return rc;
  bool row = false;
  rc = kf_sql_step(&q, &row, err);
  if (rc == KF_OK && row) {
    *totp = kf_sql_int(&q, 0) != 0;
    *passkeys = kf_sql_int(&q, 1);
  }
  kf_sql_finalize(&q);
  return rc;
}

/* A wrong password or an unknown username: one more failure, which may lock. */
static kf_rc login_fail(const ks_server *srv, sqlite3 *conn, const login_check *c,
                        const char *lock_name, int64_t now, ks_login_answer *a, kf_err *err) {
  if (c->account_id == 0 && ks_fault_on(srv, KS_FAULT_LOCKOUT_KNOWN_ONLY))
    return KF_OK;
  ks_lockout_policy policy = ks_login_policy(srv);
  bool now_locked = false;
  kf_rc rc = ks_lockout_fail_with(conn, &policy, lock_name, now, &now_locked, err);
  a->result = now_locked ? KS_LOGIN_LOCKED : KS_LOGIN_INVALID;
  return rc;
}

/* The right password of a confirmed account: the stage, and the session if one starts. */
static kf_rc login_start(const ks_server *srv, sqlite3 *conn, login_check *c, const char *lock_name,
                         int64_t now, ks_login_answer *a, kf_err *err) {
  bool totp = false;
  int64_t passkeys = 0;
  kf_rc rc = ks_login_factors(conn, c->account_id, &totp, &passkeys, err);
  if (rc != KF_OK)
    return rc;
  /* A passkey account logs in with its passkey; a password alone starts nothing (PK-01). */
  if (!totp && passkeys > 0) {
    a->result = KS_LOGIN_PASSKEY_REQUIRED;
    return KF_OK;
  }
  a->stage = ks_totp_login_stage(srv, totp);
  /* Only while the stored hash is still the one checked: a password changed meanwhile stays. */
  int64_t changed = 0;
  if (c->rehash)
    rc = kf_sql_run(conn, &changed, err,
                    "UPDATE accounts SET password_hash = ? WHERE id = ? AND password_hash = ?",
                    "tit", c->new_hash, c->account_id, c->hash);
  c->rehash_stored = rc == KF_OK && changed == 1;
  if (rc == KF_OK)
    rc = ks_session_insert(conn, c->account_id, a->stage, now, a->token, err);
  /* At second_factor the login is not complete yet, so its count stays until the code. */
  if (rc == KF_OK && a->stage == KS_SESSION_SECOND_FACTOR_SETUP &&
      !ks_fault_on(srv, KS_FAULT_LOCKOUT_COUNT_NOT_RESET))
    rc = ks_lockout_reset(conn, lock_name, err);
  if (rc == KF_OK)
    a->result = KS_LOGIN_OK;
  return rc;
}

/* In the transaction: the lock first, whatever the password, then the outcome. */
static kf_rc login_decide(const ks_server *srv, sqlite3 *conn, login_check *c,
                          const char *lock_name, int64_t now, ks_login_answer *a, kf_err *err) {
  bool locked = false;
  kf_rc rc = ks_lockout_check(conn, lock_name, now, &locked, err);
  if (rc != KF_OK)
    return rc;
  if (locked && !(c->password_ok && ks_fault_on(srv, KS_FAULT_LOCKED_RIGHT_PASSWORD_PASSES))) {
    a->result = KS_LOGIN_LOCKED;
    return KF_OK;
  }
  if (!c->password_ok)
    return login_fail(srv, conn, c, lock_name, now, a, err);
  if (!c->confirmed && !ks_fault_on(srv, KS_FAULT_UNCONFIRMED_LOGIN_ALLOWED)) {
    a->result = KS_LOGIN_UNCONFIRMED;
    return KF_OK;
  }
  return login_start(srv, conn, c, lock_name, now, a, err);
}

/*
 * Find the account and check pw: the same argon2id work whatever the username
 * (AUTH-04), one computation per cost class in use (ks_pwhash_login). The
 * classes of the stored hashes are counted before the first login is checked.
 */
static kf_rc login_check_password(ks_server *srv, sqlite3 *conn, const char *username,
                                  const char *pw, size_t pw_len, login_check *c, kf_err *err) {
  kf_rc rc = ks_pwhash_load_once(&srv->pwhash, ks_account_hash_classes, conn, err);
  if (rc == KF_OK && username != NULL)
    rc = ks_account_find(conn, username, &c->account_id, &c->confirmed, &c->hash, err);
  if (rc != KF_OK || (c->account_id == 0 && ks_fault_on(srv, KS_FAULT_NO_DUMMY_HASH)))
    return rc;
  /*
   * The replacement of a stale hash is made whatever the password, before the
   * transaction, so argon2 never runs under the write lock; it is stored only
   * when the password was right.
   */
  ks_pwhash_check check;
  ks_pwhash_login(&srv->pwhash, c->hash, pw, pw_len, &check);
  c->password_ok = check.ok && c->account_id != 0;
  c->rehash = c->password_ok && check.stale && check.rehashed && c->confirmed;
  if (c->rehash)
    memcpy(c->new_hash, check.rehash, sizeof c->new_hash);
  sodium_memzero(&check, sizeof check);
  return KF_OK;
}

static kf_rc login_tx(ks_server *srv, sqlite3 *conn, login_check *c, const char *lock_name,
                      int64_t now, ks_login_answer *a, kf_err *err) {
  kf_rc rc = ks_db_begin(conn, err);
  if (rc != KF_OK)
    return rc;
  rc = login_decide(srv, conn, c, lock_name, now, a, err);
  if (rc == KF_OK)
    rc = ks_db_commit(conn, err);
  if (rc != KF_OK) {
    ks_db_rollback(conn);
    sodium_memzero(a->token, sizeof a->token);
    a->result = KS_LOGIN_INVALID;
  }
  return rc;
}

kf_rc ks_login_password(ks_server *srv, const char *username, const char *lock_name, const char *pw,
                        size_t pw_len, int64_t now, ks_login_answer *answer, kf_err *err) {
  assert(srv != NULL && lock_name != NULL && answer != NULL);
  memset(answer, 0, sizeof *answer);
  answer->result = KS_LOGIN_INVALID;
  sqlite3 *conn = NULL;
  kf_rc rc = ks_db_conn(srv->db, &conn, err);
  if (rc != KF_OK)
    return rc;
  login_check c;
  memset(&c, 0, sizeof c);
  rc = login_check_password(srv, conn, username, pw, pw_len, &c, err);
  if (rc == KF_OK && c.account_id != 0 && !c.confirmed &&
      ks_fault_on(srv, KS_FAULT_UNCONFIRMED_BEFORE_PASSWORD))
    answer->result = KS_LOGIN_UNCONFIRMED;
  else if (rc == KF_OK)
    rc = login_tx(srv, conn, &c, lock_name, now, answer, err);
  /* The account left its old cost class; the last one out ends the class's cost for all. */
  if (rc == KF_OK && c.rehash_stored)
    ks_pwhash_class_release(&srv->pwhash, c.hash);
  sodium_memzero(c.new_hash, sizeof c.new_hash);
  ks_account_hash_free(c.hash);
  return rc;
}
