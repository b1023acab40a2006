/*
 * ks_db.c: per-thread sqlite connections and schema migrations.
 *
 * sqlite connections must not be shared between threads without locking, and
 * libmicrohttpd runs handlers on a pool of threads, so every thread gets its
 * own connection through a pthread key whose destructor closes it. WAL lets
 * readers run beside the one writer. Writers queue for the write lock on a
 * condition variable (db_busy), not on sqlite's busy_timeout: that one sleeps
 * 1, 2, 5, 10 ms and more between tries, so two request threads that wanted
 * the lock at once lost a millisecond or more each time, and `konform run
 * --jobs 2` spent a tenth of its time asleep there.
 *
 * Each connection caches its prepared statements (kf_sql_cache_enable): a
 * request runs a handful of short statements whose compilation used to cost
 * as much as running them. A connection is therefore always closed with
 * kf_sql_close, which finalises its cached statements first.
 */
#include "ks_db.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "kf/alloc.h"
#include "kf/log.h"
#include "kf/sql.h"
#include "kf/timeutil.h"

/* How long a writer waits for the write lock in all before it gets SQLITE_BUSY. */
#define DB_BUSY_TIMEOUT_MS 10000
/*
 * A waiter also tries again after this long without news: a holder in
 * another process (the sqlite3 shell on the same file) ends its transaction
 * unheard. Within this process every end is heard (db_trace).
 */
#define DB_BUSY_RECHECK_MS 50

/*
 * The turns of this process's connections at the write lock. `ended` counts
 * the statements after which their connection holds no transaction (the
 * write lock, if it had it, is free again); a writer refused the lock waits
 * until it moves. waiters says whether anyone needs the broadcast.
 */
typedef struct db_turns {
  pthread_mutex_t lock;
  pthread_cond_t moved; /* CLOCK_MONOTONIC. */
  atomic_uint_fast64_t ended;
  atomic_int waiters;
} db_turns;

struct ks_db {
  char *path;
  pthread_key_t key;
  db_turns turns;
};

/*
 * A thread's current wait for the lock (a thread waits for one lock at a
 * time): the count of ends it last saw and when it gives up.
 */
typedef struct db_wait {
  uint_fast64_t seen;
  int64_t deadline_ms;
} db_wait;
static _Thread_local db_wait db_waiting;

/*
 * The ordered migration steps. Step i brings user_version from i to i + 1 and
 * runs in its own transaction. Never edit a released step; append a new one.
 */
static const char *const db_migrations[] = {
    /* 1: accounts, confirmation links and the mail outbox. */
    "CREATE TABLE accounts ("
    "  id INTEGER PRIMARY KEY,"
    "  email TEXT NOT NULL UNIQUE," /* Normalised: domain lower-case. */
    "  password_hash TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  terms_accepted_at INTEGER NOT NULL,"
    "  email_consent_at INTEGER NOT NULL,"
    "  confirmed_at INTEGER);"
    "CREATE TABLE confirmation_links ("
    "  id TEXT PRIMARY KEY," /* UUID v4, lower-case. */
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  issued_at INTEGER NOT NULL,"
    "  superseded_at INTEGER,"
    "  used_at INTEGER);"
    "CREATE INDEX confirmation_links_account ON confirmation_links(account_id);"
    "CREATE TABLE outbox ("
    "  id INTEGER PRIMARY KEY,"
    "  message_id TEXT NOT NULL UNIQUE,"
    "  mail_from TEXT NOT NULL,"
    "  rcpt_to TEXT NOT NULL,"
    "  raw BLOB NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_ms INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT,"
    "  sent_at INTEGER);"
    "CREATE INDEX outbox_pending ON outbox(next_attempt_ms, id) WHERE sent_at IS NULL;",
    /* 2: test clocks (only used with --test-mode). */
    "CREATE TABLE clocks ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT,"
    "  frozen_time INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL);",
    /* 3: login sessions; only the SHA-256 of a token is stored. */
    "CREATE TABLE sessions ("
    "  token_hash TEXT PRIMARY KEY,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  stage TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  last_used_at INTEGER NOT NULL,"
    "  ended_at INTEGER);",
    /* 4: one row per resend request, written whether or not a mail goes out so
     * both outcomes cost a write transaction (no enumeration by timing). The
     * address is not stored: the row only records that a request came. */
    "CREATE TABLE resend_requests ("
    "  id INTEGER PRIMARY KEY,"
    "  requested_at INTEGER NOT NULL);",
    /* 5: failed logins and second-factor codes (AUTH-05), counted per
     * normalised username whether or not an account has it, so a lockout
     * tells nothing about an account's existence (AUTH-04). */
    "CREATE TABLE login_failures ("
    "  username_hash TEXT PRIMARY KEY,"
    "  consecutive INTEGER NOT NULL,"
    "  last_failed_at INTEGER NOT NULL,"
    "  locked_until INTEGER);",
    /* 6: TOTP secrets (TOTP-01..05): at most one active and one pending per
     * account; last_step is the last accepted time step (replay, TOTP-03). */
    "CREATE TABLE totp_secrets ("
    "  id INTEGER PRIMARY KEY,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  secret BLOB NOT NULL,"
    "  active INTEGER NOT NULL,"
    "  last_step INTEGER,"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX totp_secrets_account ON totp_secrets(account_id);",
    /* 7: passkeys and WebAuthn challenges (PK-01..05). The user handle is an
     * opaque random id per account, never the address. public_key holds the
     * credential's COSE_Key bytes as the authenticator sent them. A credential
     * id belongs to at most one account (PK-03): the registration checks that
     * in its own write transaction, which the PK_CREDENTIAL_ID_TAKEN answer
     * needs anyway, so the index is not UNIQUE (a constraint would turn the
     * pk-cred-id-duplicate-accepted fault into a 500 instead of the bug it
     * shows). A challenge is used once: used_at is set by the first attempt
     * that names it; session_rowid binds a "create" challenge to its session. */
    "CREATE TABLE webauthn_users ("
    "  account_id INTEGER PRIMARY KEY REFERENCES accounts(id),"
    "  user_handle BLOB NOT NULL UNIQUE);"
    "CREATE TABLE passkeys ("
    "  id INTEGER PRIMARY KEY,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  credential_id BLOB NOT NULL,"
    "  public_key BLOB NOT NULL,"
    "  algorithm INTEGER NOT NULL,"
    "  sign_count INTEGER NOT NULL,"
    "  backup_eligible INTEGER NOT NULL,"
    "  name TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  last_used_at INTEGER);"
    "CREATE INDEX passkeys_account ON passkeys(account_id);"
    "CREATE INDEX passkeys_credential ON passkeys(credential_id);"
    "CREATE TABLE webauthn_challenges ("
    "  challenge BLOB PRIMARY KEY,"
    "  kind TEXT NOT NULL,"
    "  session_rowid INTEGER,"
    "  expires_at INTEGER NOT NULL,"
    "  used_at INTEGER);",
    /* 8: "Passwort vergessen" links and username reminders (AUTH-07). Only
     * the SHA-256 of a link id is stored. */
    "CREATE TABLE reset_links ("
    "  id_hash TEXT PRIMARY KEY,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  used_at INTEGER,"
    "  superseded_at INTEGER);"
    "CREATE INDEX reset_links_account ON reset_links(account_id);"
    "CREATE TABLE recovery_requests ("
    "  id INTEGER PRIMARY KEY,"
    "  kind TEXT NOT NULL,"
    "  requested_at INTEGER NOT NULL);",
};

#define DB_N_MIGRATIONS ((int)(sizeof db_migrations / sizeof db_migrations[0]))

int ks_db_schema_version(void) {
  return DB_N_MIGRATIONS;
}

/* Unhook a connection from its db's turns, then close it. */
static void db_conn_close(sqlite3 *conn) {
  if (conn == NULL)
    return;
  sqlite3_busy_handler(conn, NULL, NULL);
  sqlite3_trace_v2(conn, 0, NULL, NULL);
  kf_sql_close(conn);
}

static void db_conn_destroy(void *conn) {
  db_conn_close(conn);
}

static kf_rc db_turns_init(db_turns *t, kf_err *err) {
  atomic_init(&t->ended, 0);
  atomic_init(&t->waiters, 0);
  pthread_condattr_t ca;
  if (pthread_mutex_init(&t->lock, NULL) != 0)
    return kf_err_set(err, KF_ERR_INTERNAL, "pthread_mutex_init failed");
  int e = pthread_condattr_init(&ca);
  if (e == 0) {
    e = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (e == 0)
      e = pthread_cond_init(&t->moved, &ca);
    pthread_condattr_destroy(&ca);
  }
  if (e != 0) {
    pthread_mutex_destroy(&t->lock);
    return kf_err_set(err, KF_ERR_INTERNAL, "pthread_cond_init failed");
  }
  return KF_OK;
}

static void db_turns_destroy(db_turns *t) {
  pthread_cond_destroy(&t->moved);
  pthread_mutex_destroy(&t->lock);
}

/*
 * sqlite's SQLITE_TRACE_PROFILE callback comes after a statement has ended,
 * an autocommit statement's commit or rollback included; with no transaction
 * left open its connection holds no lock, so the waiters may try again. The
 * waiters count is read after the increment (both sequentially consistent):
 * a waiter that the load misses has not yet read ended, and sees the new one.
 */
static int db_trace(unsigned type, void *ctx, void *stmt, void *x) {
  (void)type;
  (void)x;
  if (!sqlite3_get_autocommit(sqlite3_db_handle(stmt)))
    return 0;
  db_turns *t = ctx;
  atomic_fetch_add(&t->ended, 1);
  if (atomic_load(&t->waiters) > 0) {
    pthread_mutex_lock(&t->lock);
    pthread_cond_broadcast(&t->moved);
    pthread_mutex_unlock(&t->lock);
  }
  return 0;
}

/* Wait until an end after db_waiting.seen, or until until_ms. */
static void db_turns_wait(db_turns *t, int64_t until_ms) {
  struct timespec ts = {.tv_sec = (time_t)(until_ms / 1000),
                        .tv_nsec = (long)(until_ms % 1000) * 1000000L};
  pthread_mutex_lock(&t->lock);
  atomic_fetch_add(&t->waiters, 1);
  /* For ks_db_waiters_wait; a waiter woken by it sees ended unmoved and waits on. */
  pthread_cond_broadcast(&t->moved);
  int e = 0;
  while (e != ETIMEDOUT && atomic_load(&t->ended) == db_waiting.seen)
    e = pthread_cond_timedwait(&t->moved, &t->lock, &ts);
  atomic_fetch_sub(&t->waiters, 1);
  pthread_mutex_unlock(&t->lock);
}

/*
 * sqlite's busy handler: count is how often the lock was refused this time.
 * The first refusal notes the count of ends and tries again at once (the
 * holder may have finished meanwhile). A later refusal means some
 * connection held the lock after that note, so its end moves the count:
 * wait for that, then try again. Nothing sleeps for a guessed time.
 */
static int db_busy(void *ctx, int count) {
  db_turns *t = ctx;
  int64_t now = kf_time_monotonic_ms();
  if (count == 0) {
    db_waiting.seen = atomic_load(&t->ended);
    db_waiting.deadline_ms = now + DB_BUSY_TIMEOUT_MS;
    return 1;
  }
  if (now >= db_waiting.deadline_ms)
    return 0;
  int64_t until = now + DB_BUSY_RECHECK_MS;
  db_turns_wait(t, until < db_waiting.deadline_ms ? until : db_waiting.deadline_ms);
  db_waiting.seen = atomic_load(&t->ended);
  return 1;
}

/* Through kf_sql_run, not kf_sql_exec, so that these two come from the statement cache too. */
kf_rc ks_db_begin(sqlite3 *conn, kf_err *err) {
  return kf_sql_run(conn, NULL, err, "BEGIN IMMEDIATE", "");
}
kf_rc ks_db_commit(sqlite3 *conn, kf_err *err) {
  return kf_sql_run(conn, NULL, err, "COMMIT", "");
}

void ks_db_rollback(sqlite3 *conn) {
  /* Rolling back a transaction that sqlite already ended is harmless. */
  if (sqlite3_get_autocommit(conn) == 0)
    (void)sqlite3_exec(conn, "ROLLBACK", NULL, NULL, NULL);
}

kf_rc ks_db_in_tx(ks_db *db, kf_rc (*fn)(sqlite3 *conn, void *arg, kf_err *err), void *arg,
                  kf_err *err) {
  sqlite3 *conn = NULL;
  kf_rc rc = ks_db_conn(db, &conn, err);
  if (rc == KF_OK)
    rc = ks_db_begin(conn, err);
  if (rc != KF_OK)
    return rc;
  rc = fn(conn, arg, err);
  if (rc == KF_OK)
    rc = ks_db_commit(conn, err);
  if (rc != KF_OK)
    ks_db_rollback(conn);
  return rc;
}

static kf_rc db_open_conn(ks_db *db, sqlite3 **out, kf_err *err) {
  sqlite3 *conn = NULL;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(db->path, &conn, flags, NULL) != SQLITE_OK) {
    kf_rc rc = kf_err_set(err, KF_ERR_DB, "cannot open %s: %s", db->path,
                          conn != NULL ? sqlite3_errmsg(conn) : "out of memory");
    sqlite3_close_v2(conn);
    return rc;
  }
  if (sqlite3_busy_handler(conn, db_busy, &db->turns) != SQLITE_OK ||
      sqlite3_trace_v2(conn, SQLITE_TRACE_PROFILE, db_trace, &db->turns) != SQLITE_OK) {
    sqlite3_close_v2(conn);
    return kf_err_set(err, KF_ERR_DB, "cannot set up the lock waits of %s", db->path);
  }
  kf_rc rc = kf_sql_exec(conn,
                         "PRAGMA journal_mode=WAL;"
                         "PRAGMA synchronous=NORMAL;"
                         "PRAGMA foreign_keys=ON;",
                         err);
  if (rc != KF_OK) {
    db_conn_close(conn);
    return rc;
  }
  /* Without a cache (out of memory) the connection still works, compiling
   * each statement as it comes; that is no reason to fail the request. */
  kf_err cache_err;
  kf_err_init(&cache_err);
  if (kf_sql_cache_enable(conn, &cache_err) != KF_OK)
    kf_debug("database connection without statement cache: %s", cache_err.message);
  *out = conn;
  return KF_OK;
}

static kf_rc db_user_version(sqlite3 *conn, int *out, kf_err *err) {
  kf_sql q;
  kf_rc rc = kf_sql_query(&q, conn, err, "PRAGMA user_version", "");
  if (rc != KF_OK)
    return rc;
  bool row = false;
  rc = kf_sql_step(&q, &row, err);
  if (rc == KF_OK && !row)
    rc = kf_err_set(err, KF_ERR_DB, "sqlite: PRAGMA user_version returned no row");
  if (rc == KF_OK)
    *out = (int)kf_sql_int(&q, 0);
  kf_sql_finalize(&q);
  return rc;
}

/* Apply every step above the stored version, each in its own transaction. */
static kf_rc db_migrate(sqlite3 *conn, kf_err *err) {
  for (;;) {
    kf_rc rc = ks_db_begin(conn, err);
    if (rc != KF_OK)
      return rc;
    int version = 0;
    rc = db_user_version(conn, &version, err);
    if (rc != KF_OK) {
      ks_db_rollback(conn);
      return rc;
    }
    if (version > DB_N_MIGRATIONS) {
      ks_db_rollback(conn);
      return kf_err_set(err, KF_ERR_STATE, "database schema %d is newer than this program (%d)",
                        version, DB_N_MIGRATIONS);
    }
    if (version == DB_N_MIGRATIONS) {
      ks_db_rollback(conn);
      return KF_OK;
    }
    char pragma[64];
    rc = kf_sql_exec(conn, db_migrations[version], err);
    if (rc == KF_OK) {
      /* PRAGMA cannot take a bound parameter; the number is ours, not input. */
      sqlite3_snprintf((int)sizeof pragma, pragma, "PRAGMA user_version=%d", version + 1);
      rc = kf_sql_exec(conn, pragma, err);
    }
    if (rc == KF_OK)
      rc = ks_db_commit(conn, err);
    if (rc != KF_OK) {
      ks_db_rollback(conn);
      return rc;
    }
    kf_info("database migrated to schema %d", version + 1);
  }
}

kf_rc ks_db_open(const char *path, ks_db **out, kf_err *err) {
  assert(path != NULL && out != NULL);
  *out = NULL;
  ks_db *db = kf_calloc(1, sizeof *db);
  if (db == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  db->path = kf_strdup(path);
  if (db->path == NULL) {
    kf_free(db);
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  }
  kf_rc trc = db_turns_init(&db->turns, err);
  if (trc != KF_OK) {
    kf_free(db->path);
    kf_free(db);
    return trc;
  }
  if (pthread_key_create(&db->key, db_conn_destroy) != 0) {
    db_turns_destroy(&db->turns);
    kf_free(db->path);
    kf_free(db);
    return kf_err_set(err, KF_ERR_INTERNAL, "pthread_key_create failed");
  }
  sqlite3 *conn = NULL;
  kf_rc rc = ks_db_conn(db, &conn, err);
  if (rc == KF_OK)
    rc = db_migrate(conn, err);
  if (rc != KF_OK) {
    ks_db_free(db);
    return rc;
  }
  *out = db;
  return KF_OK;
}

kf_rc ks_db_conn(ks_db *db, sqlite3 **out, kf_err *err) {
  assert(db != NULL && out != NULL);
  sqlite3 *conn = pthread_getspecific(db->key);
  if (conn == NULL) {
    kf_rc rc = db_open_conn(db, &conn, err);
    if (rc != KF_OK)
      return rc;
    if (pthread_setspecific(db->key, conn) != 0) {
      db_conn_close(conn);
      return kf_err_set(err, KF_ERR_INTERNAL, "pthread_setspecific failed");
    }
  }
  *out = conn;
  return KF_OK;
}

void ks_db_thread_done(ks_db *db) {
  if (db == NULL)
    return;
  sqlite3 *conn = pthread_getspecific(db->key);
  if (conn != NULL) {
    (void)pthread_setspecific(db->key, NULL);
    db_conn_close(conn);
  }
}

bool ks_db_waiters_wait(ks_db *db, int n, int timeout_ms) {
  db_turns *t = &db->turns;
  int64_t until_ms = kf_time_monotonic_ms() + timeout_ms;
  struct timespec ts = {.tv_sec = (time_t)(until_ms / 1000),
                        .tv_nsec = (long)(until_ms % 1000) * 1000000L};
  pthread_mutex_lock(&t->lock);
  int e = 0;
  while (e != ETIMEDOUT && atomic_load(&t->waiters) < n)
    e = pthread_cond_timedwait(&t->moved, &t->lock, &ts);
  bool reached = atomic_load(&t->waiters) >= n;
  pthread_mutex_unlock(&t->lock);
  return reached;
}

void ks_db_free(ks_db *db) {
  if (db == NULL)
    return;
  ks_db_thread_done(db);
  (void)pthread_key_delete(db->key);
  db_turns_destroy(&db->turns);
  kf_free(db->path);
  kf_free(db);
}
