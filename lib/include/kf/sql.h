/*
 * sql.h: one sqlite3 statement at a time: prepare, bind by a type string,
 * step, read columns, finalize.
 *
 * The chains of sqlite3_prepare_v2 / sqlite3_bind_* / sqlite3_step /
 * sqlite3_finalize that every store repeats, each with its own error
 * handling, become one call per stage, and every failure (a bind included:
 * a failed bind would otherwise run the statement with NULL in its place)
 * comes back as KF_ERR_DB with sqlite's message in err.
 *
 * Bind types, one letter per parameter, taken from the variadic arguments:
 *   'i'  int64_t
 *   'd'  int (bound as an integer)
 *   't'  const char * text, NUL-terminated; NULL binds SQL NULL
 *   's'  const char *, size_t: text of that length (may hold NUL bytes)
 *   'b'  const void *, size_t: a blob of that length
 *   'n'  no argument: SQL NULL
 * Texts and blobs are bound SQLITE_STATIC: they must outlive the statement's
 * last step (they normally are the caller's locals).
 *
 * A kf_sql is caller-owned storage; the connection is borrowed.
 *
 * Statement cache: a connection given to kf_sql_cache_enable keeps the
 * statements prepared on it, keyed by their SQL text. kf_sql_prepare (and so
 * kf_sql_query and kf_sql_run) takes an idle cached statement with the same
 * text instead of compiling it again, and kf_sql_finalize hands it back reset
 * with its bindings cleared rather than finalising it. A statement whose text
 * is already in use (a nested query) gets a second entry, so callers see no
 * difference. A text is cached when its first statement is all of it
 * (blanks after it do not count); it is looked up by the whole text. The
 * cache is bounded and does not evict: once it holds KF_SQL_CACHE_MAX
 * statements, a new text is compiled at each prepare and finalised at
 * kf_sql_finalize, while the cached ones go on being reused. A text that
 * fails to compile is not cached. After a schema change sqlite recompiles a
 * cached statement at its next step (prepare_v3), and a step that cannot
 * (the table is gone) is KF_ERR_DB with the statement still cached for when
 * the schema is back. Such a connection must be closed with kf_sql_close,
 * which finalises the cached statements first (every kf_sql on it must be
 * finalised before). The cache allocates with kf_malloc; when that fails
 * the statement is simply not cached, so the cache adds no failure of its
 * own to any call.
 */
#ifndef KF_SQL_H
#define KF_SQL_H

#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kf/error.h"

typedef struct kf_sql_entry kf_sql_entry;

/* Statements one connection's cache holds at most. */
#define KF_SQL_CACHE_MAX 512u

typedef struct kf_sql {
  sqlite3 *conn;       /* Borrowed. */
  sqlite3_stmt *st;    /* Owned, or lent by entry; NULL when not prepared. */
  kf_sql_entry *entry; /* The cache entry st is lent from, NULL when st is q's own. */
} kf_sql;

/*
 * Cache the statements prepared on conn from now on (see above). Idempotent.
 * KF_ERR_NOMEM when the cache cannot be set up: conn then works uncached.
 */
kf_rc kf_sql_cache_enable(sqlite3 *conn, kf_err *err);
/* Finalise conn's cached statements (if any), forget its cache and close it. NULL: nothing. */
void kf_sql_close(sqlite3 *conn);

/* What conn's cache did so far, for tests and benchmarks; all 0 without a cache. */
typedef struct kf_sql_cache_stats {
  unsigned long hits;   /* Prepares answered by a cached statement. */
  unsigned long misses; /* Prepares with no idle cached statement: compiled (or failed to). */
  size_t entries;       /* Statements held now. */
} kf_sql_cache_stats;
kf_sql_cache_stats kf_sql_cache_stats_of(sqlite3 *conn);

/* Prepare sql on conn into q (q need not be initialised). */
kf_rc kf_sql_prepare(kf_sql *q, sqlite3 *conn, const char *sql, kf_err *err);

/* Bind parameters 1.. by types (see above). An unknown type letter is KF_ERR_INTERNAL. */
kf_rc kf_sql_bind(kf_sql *q, kf_err *err, const char *types, ...);
kf_rc kf_sql_vbind(kf_sql *q, kf_err *err, const char *types, va_list ap);

/* Prepare and bind in one call; on failure q is finalized. */
kf_rc kf_sql_query(kf_sql *q, sqlite3 *conn, kf_err *err, const char *sql, const char *types, ...);

/* Step once: *row tells whether a row is there (false: the statement is done). */
kf_rc kf_sql_step(kf_sql *q, bool *row, kf_err *err);

/* Column readers for the current row; col is 0-based. */
int64_t kf_sql_int(const kf_sql *q, int col);
bool kf_sql_is_null(const kf_sql *q, int col);
/* The text of a column (owned by the statement, valid until the next step), NULL for SQL NULL. */
const char *kf_sql_text(const kf_sql *q, int col, size_t *len);
/* A copy of the text (caller frees with kf_free); *out NULL for SQL NULL. KF_ERR_NOMEM. */
kf_rc kf_sql_text_dup(const kf_sql *q, int col, char **out, size_t *len, kf_err *err);

/* Reset for another round of binds and steps (bindings are cleared). */
void kf_sql_reset(kf_sql *q);
/* Finalize (a cached statement goes back to the cache); safe on a finalized or zeroed q. */
void kf_sql_finalize(kf_sql *q);

/*
 * Prepare, bind, step to the end and finalize a statement that returns no
 * rows (INSERT, UPDATE, DELETE). *changes (may be NULL) gets the rows it changed.
 */
kf_rc kf_sql_run(sqlite3 *conn, int64_t *changes, kf_err *err, const char *sql, const char *types,
                 ...);

/* Run sql, which may hold several statements and takes no parameters. */
kf_rc kf_sql_exec(sqlite3 *conn, const char *sql, kf_err *err);

/* KF_ERR_DB with sqlite's last message on conn. */
kf_rc kf_sql_error(sqlite3 *conn, kf_err *err);

#endif
