/*
 * ks_session.c: session tokens and the sessions table (see ks_session.h).
 */
#include "ks_session.h"

#include <assert.h>
#include <string.h>

#include "kf/digest.h"
#include "kf/sql.h"
#include "kf/str.h"
#include "kf/uuid.h"

#define SESSION_HASH_HEX KF_SHA256_HEX

static const char *const session_stage_names[] = {
#define SESSION_X_NAME(name, text) text,
    KS_SESSION_STAGES(SESSION_X_NAME)
#undef SESSION_X_NAME
};

const char *ks_session_stage_name(ks_session_stage stage) {
  assert(stage < KS_SESSION_STAGE_COUNT);
  return session_stage_names[stage];
}

/* The stage stored as text, or KS_SESSION_STAGE_COUNT for a text this build does not know. */
static ks_session_stage session_stage_parse(const char *text) {
  for (int s = 0; s < KS_SESSION_STAGE_COUNT; s++) {
    if (text != NULL && strcmp(text, session_stage_names[s]) == 0)
      return (ks_session_stage)s;
  }
  return KS_SESSION_STAGE_COUNT;
}

const char *ks_session_bearer(const char *value) {
  if (value == NULL || !kf_str_starts_with_ci(value, "Bearer "))
    return NULL;
  const char *token = kf_str_skip_blanks(value + 7);
  return strlen(token) == KS_TOKEN_HEX_LEN ? token : NULL;
}

/* Hex SHA-256 of a token: only this is stored. */
static void session_token_hash(const char *token, char out[SESSION_HASH_HEX]) {
  kf_sha256_hex(token, strlen(token), out);
}

kf_rc ks_session_insert(sqlite3 *conn, int64_t account_id, ks_session_stage stage, int64_t now,
                        char *token, kf_err *err) {
  assert(conn != NULL && token != NULL);
  kf_random_hex(token, KS_TOKEN_HEX_LEN / 2);
  char token_hash[SESSION_HASH_HEX];
  session_token_hash(token, token_hash);
  kf_rc rc = kf_sql_run(conn, NULL, err,
                        "INSERT INTO sessions (token_hash, account_id, stage, created_at, "
                        "last_used_at) VALUES (?, ?, ?, ?, ?)",
                        "titii", token_hash, account_id, ks_session_stage_name(stage), now, now);
  if (rc != KF_OK)
    token[0] = '\0';
  return rc;
}

/* The thread's connection and the stored form of token, for a lookup by token. */
static kf_rc session_by_token(ks_db *db, const char *token, sqlite3 **conn,
                              char token_hash[SESSION_HASH_HEX], kf_err *err) {
  session_token_hash(token, token_hash);
  return ks_db_conn(db, conn, err);
}

kf_rc ks_session_find(ks_db *db, const char *token, bool *found, ks_session_info *info,
                      kf_err *err) {
  assert(db != NULL && token != NULL && found != NULL && info != NULL);
  *found = false;
  sqlite3 *conn = NULL;
  char token_hash[SESSION_HASH_HEX];
  kf_rc rc = session_by_token(db, token, &conn, token_hash, err);
  if (rc != KF_OK)
    return rc;
  kf_sql q;
  rc = kf_sql_query(&q, conn, err,
                    "SELECT rowid, account_id, stage, created_at, last_used_at FROM sessions "
                    "WHERE token_hash = ? AND ended_at IS NULL",
                    "t", token_hash);
  if (rc != KF_OK)
    return rc;
  bool row = false;
  rc = kf_sql_step(&q, &row, err);
  if (rc == KF_OK && row) {
    info->rowid = kf_sql_int(&q, 0);
    info->account_id = kf_sql_int(&q, 1);
    info->stage = session_stage_parse(kf_sql_text(&q, 2, NULL));
    info->created_at = kf_sql_int(&q, 3);
    info->last_used_at = kf_sql_int(&q, 4);
    if (info->stage == KS_SESSION_STAGE_COUNT)
      rc = kf_err_set(err, KF_ERR_STATE, "session in an unknown stage");
    *found = rc == KF_OK;
  }
  kf_sql_finalize(&q);
  return rc;
}

bool ks_session_live(const ks_session_info *info, int64_t now, int64_t idle_seconds) {
  assert(info != NULL);
  return now < info->last_used_at + idle_seconds;
}

kf_rc ks_session_touch(ks_db *db, int64_t rowid, int64_t now, kf_err *err) {
  assert(db != NULL);
  sqlite3 *conn = NULL;
  kf_rc rc = ks_db_conn(db, &conn, err);
  if (rc != KF_OK)
    return rc;
  /* Requests at several clocks may interleave; the latest use counts. */
  return kf_sql_run(conn, NULL, err,
                    "UPDATE sessions SET last_used_at = max(last_used_at, ?) WHERE rowid = ?", "ii",
                    now, rowid);
}

kf_rc ks_session_set_stage(sqlite3 *conn, int64_t rowid, ks_session_stage stage, kf_err *err) {
  assert(conn != NULL && stage < KS_SESSION_STAGE_COUNT);
  int64_t changes = 0;
  kf_rc rc = kf_sql_run(conn, &changes, err, "UPDATE sessions SET stage = ? WHERE rowid = ?", "ti",
                        ks_session_stage_name(stage), rowid);
  if (rc == KF_OK && changes != 1)
    rc = kf_err_set(err, KF_ERR_STATE, "no session %lld to move", (long long)rowid);
  return rc;
}

kf_rc ks_session_end_all(sqlite3 *conn, int64_t account_id, int64_t now, kf_err *err) {
  assert(conn != NULL);
  return kf_sql_run(conn, NULL, err,
                    "UPDATE sessions SET ended_at = ? WHERE account_id = ? AND ended_at IS NULL",
                    "ii", now, account_id);
}

kf_rc ks_session_end(ks_db *db, const char *token, int64_t now, bool *found, kf_err *err) {
  assert(db != NULL && token != NULL && found != NULL);
  *found = false;
  sqlite3 *conn = NULL;
  char token_hash[SESSION_HASH_HEX];
  kf_rc rc = session_by_token(db, token, &conn, token_hash, err);
  if (rc != KF_OK)
    return rc;
  int64_t changes = 0;
  rc = kf_sql_run(conn, &changes, err,
                  "UPDATE sessions SET ended_at = ? WHERE token_hash = ? AND ended_at IS NULL",
                  "it", now, token_hash);
  if (rc == KF_OK)
    *found = changes > 0;
  return rc;
}
