/*
 * ks_session.h: login sessions (ACC-09, AUTH-02): the token, its stages and
 * the rows in the sessions table. Only the SHA-256 of a token is stored, so a
 * leaked table holds no live tokens.
 *
 * Ownership: nothing returned needs freeing; tokens go to caller-owned
 * buffers, strings are borrowed for the call.
 */
#ifndef KS_SESSION_H
#define KS_SESSION_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "kf/error.h"
#include "ks_db.h"

/* A session token: 32 random bytes as 64 lower-case hex digits. */
#define KS_TOKEN_HEX_LEN 64

/* AUTH-06: a session is live while now < last_used_at + this (30 minutes). */
#define KS_SESSION_IDLE_SECONDS (30 * 60)

/*
 * X(name, stored and answered text). A password login of an account without
 * a second factor starts at SECOND_FACTOR_SETUP, where the session may only
 * set up a second factor (AUTH-02); with TOTP active it starts at
 * SECOND_FACTOR, where it may only send a code (AUTH-03); FULL is a session
 * after its second factor (or a passkey login, PK-01).
 */
#define KS_SESSION_STAGES(X)                                                                       \
  X(SECOND_FACTOR_SETUP, "second_factor_setup")                                                    \
  X(SECOND_FACTOR, "second_factor")                                                                \
  X(FULL, "full")

typedef enum ks_session_stage {
#define KS_X_STAGE_ENUM(name, text) KS_SESSION_##name,
  KS_SESSION_STAGES(KS_X_STAGE_ENUM)
#undef KS_X_STAGE_ENUM
      KS_SESSION_STAGE_COUNT
} ks_session_stage;

/* The text of a stage, as stored and as login answers it. */
const char *ks_session_stage_name(ks_session_stage stage);

/*
 * The token of an "Authorization: Bearer <token>" header (value may be NULL),
 * or NULL when there is none of the right length. Points into value.
 */
const char *ks_session_bearer(const char *value);

/*
 * Start a session for account_id at stage in the open transaction on conn; the
 * new token goes to token (KS_TOKEN_HEX_LEN + 1 bytes).
 */
kf_rc ks_session_insert(sqlite3 *conn, int64_t account_id, ks_session_stage stage, int64_t now,
                        char *token, kf_err *err);

/* A live session as ks_session_find reads it. */
typedef struct ks_session_info {
  int64_t rowid;      /* The sessions row (ks_session_set_stage names it). */
  int64_t account_id; /* Whose session it is. */
  ks_session_stage stage;
  int64_t created_at;
  int64_t last_used_at;
} ks_session_info;

/* The live session of token: *found false when there is none (unknown or ended). */
kf_rc ks_session_find(ks_db *db, const char *token, bool *found, ks_session_info *info,
                      kf_err *err);

/*
 * Whether the session is live at now (not idle for KS_SESSION_IDLE_SECONDS or
 * more, AUTH-06); idle_seconds is the limit (a fault changes it).
 */
bool ks_session_live(const ks_session_info *info, int64_t now, int64_t idle_seconds);

/* A request used session rowid at now: its idle time starts again (never moves back). */
kf_rc ks_session_touch(ks_db *db, int64_t rowid, int64_t now, kf_err *err);

/* Move session rowid to stage (a second factor was set up or entered) in the transaction on conn.
 */
kf_rc ks_session_set_stage(sqlite3 *conn, int64_t rowid, ks_session_stage stage, kf_err *err);

/* End every live session of account_id at now, in the transaction on conn (AUTH-06, AUTH-07). */
kf_rc ks_session_end_all(sqlite3 *conn, int64_t account_id, int64_t now, kf_err *err);

/* End the session of token at now; *found false if there was no live one. */
kf_rc ks_session_end(ks_db *db, const char *token, int64_t now, bool *found, kf_err *err);

#endif
