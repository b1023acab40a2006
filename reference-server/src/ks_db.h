/*
 * ks_db.h: konform-server's sqlite database: one connection per thread, WAL,
 * writers that queue for the write lock on a condition variable (no sleeps),
 * and schema migrations keyed by PRAGMA user_version.
 */
#ifndef KS_DB_H
#define KS_DB_H

#include <sqlite3.h>
#include <stdbool.h>

#include "kf/error.h"

typedef struct ks_db ks_db;

/*
 * Open the database at path (created if missing) and bring its schema up to
 * date. Caller frees with ks_db_free once every thread that used it has
 * ended or called ks_db_thread_done.
 */
kf_rc ks_db_open(const char *path, ks_db **out, kf_err *err);

/*
 * The calling thread's connection, opened on first use. Owned by the thread:
 * it is closed when the thread exits or calls ks_db_thread_done.
 */
kf_rc ks_db_conn(ks_db *db, sqlite3 **out, kf_err *err);

/* Close the calling thread's connection now (for threads that outlive their use). */
void ks_db_thread_done(ks_db *db);

/*
 * Until at least n threads of this process wait for the write lock, or
 * timeout_ms passes; true if they do. For tests that must end a transaction
 * only once a writer is parked behind it.
 */
bool ks_db_waiters_wait(ks_db *db, int n, int timeout_ms);

/* Close the calling thread's connection and free db. NULL is fine. */
void ks_db_free(ks_db *db);

/* The schema version this build migrates to. */
int ks_db_schema_version(void);

/* BEGIN IMMEDIATE, COMMIT and ROLLBACK; rollback never fails loudly. */
kf_rc ks_db_begin(sqlite3 *conn, kf_err *err);
kf_rc ks_db_commit(sqlite3 *conn, kf_err *err);
void ks_db_rollback(sqlite3 *conn);

/*
 * Run fn(conn, arg, err) on the calling thread's connection in one write
 * transaction: committed when fn succeeds, else rolled back.
 */
kf_rc ks_db_in_tx(ks_db *db, kf_rc (*fn)(sqlite3 *conn, void *arg, kf_err *err), void *arg,
                  kf_err *err);

#endif
