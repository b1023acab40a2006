/*
 * ks_passkey.c: challenges, user handles and credentials in sqlite (see ks_passkey.h).
 */
#include "ks_passkey.h"

#include <assert.h>
#include <sodium.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/sql.h"
#include "kf/str.h"
#include "ks_account.h"
#include "ks_fault.h"

/* The challenge a fault shortens to: 8 bytes, below PK-02's 16. */
#define PASSKEY_SHORT_CHALLENGE 8

static const char *const passkey_kind_names[] = {
#define PASSKEY_X_KIND(name, text) text,
    KS_PK_CHALLENGE_KINDS(PASSKEY_X_KIND)
#undef PASSKEY_X_KIND
};

kf_rc ks_passkey_challenge_issue(const ks_server *srv, sqlite3 *conn, ks_pk_challenge_kind kind,
                                 int64_t session_rowid, int64_t now, unsigned char *out,
                                 size_t *len, kf_err *err) {
  assert(conn != NULL && kind < KS_PK_CHALLENGE_KIND_COUNT && out != NULL && len != NULL);
  *len = KS_PK_CHALLENGE_LEN;
  if (ks_fault_on(srv, KS_FAULT_PK_CHALLENGE_SHORT))
    *len = PASSKEY_SHORT_CHALLENGE;
  randombytes_buf(out, *len);
  return kf_sql_run(conn, NULL, err,
                    "INSERT INTO webauthn_challenges (challenge, kind, session_rowid, expires_at) "
                    "VALUES (?, ?, nullif(?, 0), ?)",
                    "btii", out, *len, passkey_kind_names[kind], session_rowid,
                    now + KS_PK_CHALLENGE_SECONDS);
}

kf_rc ks_passkey_challenge_take(const ks_server *srv, sqlite3 *conn, ks_pk_challenge_kind kind,
                                int64_t session_rowid, const unsigned char *c, size_t len,
                                int64_t now, bool *found, int64_t *expires_at, kf_err *err) {
  assert(conn != NULL && kind < KS_PK_CHALLENGE_KIND_COUNT && found != NULL);
  *found = false;
  *expires_at = 0;
  kf_sql q;
  kf_rc rc = kf_sql_query(&q, conn, err,
                          "SELECT kind, coalesce(session_rowid, 0), expires_at FROM "
                          "webauthn_challenges WHERE challenge = ? AND used_at IS NULL",
                          "b", c, len);
  if (rc != KF_OK)
    return rc;
  bool row = false;
  rc = kf_sql_step(&q, &row, err);
  if (rc == KF_OK && row) {
    const char *k = kf_sql_text(&q, 0, NULL);
    bool bound = kind != KS_PK_CHALLENGE_CREATE || kf_sql_int(&q, 1) == session_rowid;
    if (ks_fault_on(srv, KS_FAULT_PK_CHALLENGE_NOT_BOUND))
      bound = true;
    *found = k != NULL && strcmp(k, passkey_kind_names[kind]) == 0 && bound;
    *expires_at = kf_sql_int(&q, 2);
  }
  kf_sql_finalize(&q);
  if (rc != KF_OK || !row)
    return rc;
  /* Any attempt that names it uses it, even one of another session: it has been seen. */
  if (ks_fault_on(srv, KS_FAULT_PK_CHALLENGE_REUSABLE))
    return KF_OK;
  return kf_sql_run(conn, NULL, err,
                    "UPDATE webauthn_challenges SET used_at = ? WHERE challenge = ?", "ib", now, c,
                    len);
}

/* Copy the blob of column col into out (cap bytes); false when it is larger. */
static bool passkey_blob_copy(const kf_sql *q, int col, unsigned char *out, size_t cap,
                              size_t *len) {
  const void *p = sqlite3_column_blob(q->st, col);
  *len = (size_t)sqlite3_column_bytes(q->st, col);
  if (*len > cap || (p == NULL && *len > 0))
    return false;
  if (*len > 0)
    memcpy(out, p, *len);
  return true;
}

/* The stored handle of account_id, if it has one. */
static kf_rc passkey_handle_read(sqlite3 *conn, int64_t account_id, unsigned char *out, size_t *len,
                                 bool *found, kf_err *err) {
  kf_sql q;
  kf_rc rc =
      kf_sql_query(&q, conn, err, "SELECT user_handle FROM webauthn_users WHERE account_id = ?",
                   "i", account_id);
  if (rc != KF_OK)
    return rc;
  rc = kf_sql_step(&q, found, err);
  if (rc == KF_OK && *found && !passkey_blob_copy(&q, 0, out, KS_WA_USER_HANDLE_MAX, len))
    rc = kf_err_set(err, KF_ERR_STATE, "user handle of account %lld too long",
                    (long long)account_id);
  kf_sql_finalize(&q);
  return rc;
}

/* The account's address as its handle: what the pk-user-handle-is-email fault stores. */
static kf_rc passkey_handle_email(sqlite3 *conn, int64_t account_id, unsigned char *out,
                                  size_t *len, kf_err *err) {
  char email[KS_PK_USERNAME_MAX];
  kf_rc rc = ks_account_username(conn, account_id, email, sizeof email, err);
  if (rc == KF_OK) {
    size_t n = strlen(email);
    *len = n < KS_WA_USER_HANDLE_MAX ? n : KS_WA_USER_HANDLE_MAX;
    memcpy(out, email, *len);
  }
  return rc;
}

kf_rc ks_passkey_user_handle(const ks_server *srv, sqlite3 *conn, int64_t account_id,
                             unsigned char *out, size_t *len, kf_err *err) {
  assert(conn != NULL && out != NULL && len != NULL);
  bool found = false;
  kf_rc rc = passkey_handle_read(conn, account_id, out, len, &found, err);
  if (rc != KF_OK || found)
    return rc;
  *len = KS_PK_USER_HANDLE_LEN;
  randombytes_buf(out, *len);
  if (ks_fault_on(srv, KS_FAULT_PK_USER_HANDLE_IS_EMAIL))
    rc = passkey_handle_email(conn, account_id, out, len, err);
  if (rc != KF_OK)
    return rc;
  return kf_sql_run(conn, NULL, err,
                    "INSERT INTO webauthn_users (account_id, user_handle) VALUES (?, ?)", "ib",
                    account_id, out, *len);
}

kf_rc ks_passkey_handle_account(sqlite3 *conn, const unsigned char *h, size_t len, bool *found,
                                int64_t *account_id, kf_err *err) {
  assert(conn != NULL && found != NULL && account_id != NULL);
  *account_id = 0;
  kf_sql q;
  kf_rc rc = kf_sql_query(
      &q, conn, err, "SELECT account_id FROM webauthn_users WHERE user_handle = ?", "b", h, len);
  if (rc != KF_OK)
    return rc;
  rc = kf_sql_step(&q, found, err);
  if (rc == KF_OK && *found)
    *account_id = kf_sql_int(&q, 0);
  kf_sql_finalize(&q);
  return rc;
}

void ks_passkey_release(ks_passkey *pk) {
  if (pk == NULL)
    return;
  kf_free(pk->cred_id);
  kf_free(pk->cose_key);
  kf_free(pk->name);
  memset(pk, 0, sizeof *pk);
}

#define PASSKEY_COLUMNS                                                                            \
  "id, account_id, credential_id, public_key, algorithm, sign_count, backup_eligible, name, "      \
  "created_at, coalesce(last_used_at, 0)"

/* A new copy of the blob of column col (*out, caller frees; NULL and 0 for an empty one). */
static kf_rc passkey_blob_dup(const kf_sql *q, int col, unsigned char **out, size_t *len,
                              kf_err *err) {
  *len = (size_t)sqlite3_column_bytes(q->st, col);
  const void *p = sqlite3_column_blob(q->st, col);
  *out = *len > 0 ? kf_malloc(*len) : NULL;
  if (*len > 0 && (*out == NULL || p == NULL))
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  if (*len > 0)
    memcpy(*out, p, *len);
  return KF_OK;
}

/* Read the PASSKEY_COLUMNS of the current row into pk (owned copies). */
static kf_rc passkey_row(const kf_sql *q, ks_passkey *pk, kf_err *err) {
  memset(pk, 0, sizeof *pk);
  pk->rowid = kf_sql_int(q, 0);
  pk->account_id = kf_sql_int(q, 1);
  pk->alg = kf_sql_int(q, 4);
  pk->sign_count = kf_sql_int(q, 5);
  pk->backup_eligible = kf_sql_int(q, 6) != 0;
  pk->created_at = kf_sql_int(q, 8);
  pk->last_used_at = kf_sql_int(q, 9);
  kf_rc rc = passkey_blob_dup(q, 2, &pk->cred_id, &pk->cred_id_len, err);
  if (rc == KF_OK)
    rc = passkey_blob_dup(q, 3, &pk->cose_key, &pk->cose_key_len, err);
  if (rc == KF_OK)
    rc = kf_sql_text_dup(q, 7, &pk->name, NULL, err);
  if (rc != KF_OK)
    ks_passkey_release(pk);
  return rc;
}

kf_rc ks_passkey_find(sqlite3 *conn, const unsigned char *cred_id, size_t len, bool *found,
                      ks_passkey *out, kf_err *err) {
  assert(conn != NULL && found != NULL && out != NULL);
  memset(out, 0, sizeof *out);
  kf_sql q;
  kf_rc rc = kf_sql_query(&q, conn, err,
                          "SELECT " PASSKEY_COLUMNS
                          " FROM passkeys WHERE credential_id = ? ORDER BY id LIMIT 1",
                          "b", cred_id, len);
  if (rc != KF_OK)
    return rc;
  rc = kf_sql_step(&q, found, err);
  if (rc == KF_OK && *found)
    rc = passkey_row(&q, out, err);
  if (rc != KF_OK)
    *found = false;
  kf_sql_finalize(&q);
  return rc;
}

kf_rc ks_passkey_id_taken(sqlite3 *conn, const unsigned char *cred_id, size_t len, bool *taken,
                          kf_err *err) {
  assert(conn != NULL && taken != NULL);
  kf_sql q;
  kf_rc rc = kf_sql_query(&q, conn, err, "SELECT 1 FROM passkeys WHERE credential_id = ?", "b",
                          cred_id, len);
  if (rc != KF_OK)
    return rc;
  rc = kf_sql_step(&q, taken, err);
  kf_sql_finalize(&q);
  return rc;
}

kf_rc ks_passkey_insert(sqlite3 *conn, const ks_passkey *pk, int64_t now, kf_err *err) {
  assert(conn != NULL && pk != NULL);
  return kf_sql_run(
      conn, NULL, err,
      "INSERT INTO passkeys (account_id, credential_id, public_key, algorithm, "
      "sign_count, backup_eligible, name, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      "ibbiidti", pk->account_id, pk->cred_id, pk->cred_id_len, pk->cose_key, pk->cose_key_len,
      pk->alg, pk->sign_count, (int)pk->backup_eligible, pk->name, now);
}

kf_rc ks_passkey_used(sqlite3 *conn, int64_t rowid, int64_t sign_count, int64_t now, kf_err *err) {
  assert(conn != NULL);
  return kf_sql_run(conn, NULL, err,
                    "UPDATE passkeys SET sign_count = ?, last_used_at = ? WHERE id = ?", "iii",
                    sign_count, now, rowid);
}

kf_rc ks_passkey_each(sqlite3 *conn, int64_t account_id,
                      kf_rc (*fn)(const ks_passkey *pk, void *ctx, kf_err *err), void *ctx,
                      kf_err *err) {
  assert(conn != NULL && fn != NULL);
  kf_sql q;
  kf_rc rc = kf_sql_query(
      &q, conn, err, "SELECT " PASSKEY_COLUMNS " FROM passkeys WHERE account_id = ? ORDER BY id",
      "i", account_id);
  bool row = rc == KF_OK;
  while (rc == KF_OK && row) {
    rc = kf_sql_step(&q, &row, err);
    ks_passkey pk;
    if (rc == KF_OK && row && (rc = passkey_row(&q, &pk, err)) == KF_OK) {
      rc = fn(&pk, ctx, err);
      ks_passkey_release(&pk);
    }
  }
  kf_sql_finalize(&q);
  return rc;
}

kf_rc ks_passkey_count(sqlite3 *conn, int64_t account_id, int64_t *n, kf_err *err) {
  assert(conn != NULL && n != NULL);
  *n = 0;
  kf_sql q;
  kf_rc rc = kf_sql_query(&q, conn, err, "SELECT count(*) FROM passkeys WHERE account_id = ?", "i",
                          account_id);
  if (rc != KF_OK)
    return rc;
  bool row = false;
  rc = kf_sql_step(&q, &row, err);
  if (rc == KF_OK && row)
    *n = kf_sql_int(&q, 0);
  kf_sql_finalize(&q);
  return rc;
}

kf_rc ks_passkey_remove(const ks_server *srv, sqlite3 *conn, int64_t account_id,
                        const unsigned char *cred_id, size_t len, bool *found, kf_err *err) {
  assert(conn != NULL && found != NULL);
  kf_sql q;
  kf_rc rc = kf_sql_query(&q, conn, err,
                          "SELECT 1 FROM passkeys WHERE account_id = ? AND credential_id = ?", "ib",
                          account_id, cred_id, len);
  if (rc != KF_OK)
    return rc;
  rc = kf_sql_step(&q, found, err);
  kf_sql_finalize(&q);
  if (rc != KF_OK || !*found)
    return rc;
  if (ks_fault_on(srv, KS_FAULT_PK_REMOVE_KEEPS_CREDENTIAL))
    return KF_OK;
  return kf_sql_run(conn, NULL, err,
                    "DELETE FROM passkeys WHERE account_id = ? AND credential_id = ?", "ib",
                    account_id, cred_id, len);
}
