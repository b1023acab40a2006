/*
 * Unit tests for kf_sql: binds by type string, steps, columns, failures with
 * sqlite's message; the statement cache: reuse, nesting, reset and cleared
 * bindings, its bound, failed prepares, schema changes, release.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kf/alloc.h"
#include "kf/sql.h"
#include "kt_alloc.h"

static int setup(void **state) {
  sqlite3 *db = NULL;
  if (sqlite3_open(":memory:", &db) != SQLITE_OK)
    return -1;
  *state = db;
  kf_err err;
  kf_err_init(&err);
  return kf_sql_exec(db, "CREATE TABLE t (a INTEGER, b TEXT, c BLOB);", &err) == KF_OK ? 0 : -1;
}

static int teardown(void **state) {
  sqlite3_close(*state);
  return 0;
}

static void test_run_and_query(void **state) {
  sqlite3 *db = *state;
  kf_err err;
  kf_err_init(&err);
  int64_t changes = 0;
  assert_int_equal(kf_sql_run(db, &changes, &err, "INSERT INTO t VALUES (?, ?, ?)", "itb",
                              (int64_t)1 << 40, "eins", "\0x", (size_t)2),
                   KF_OK);
  assert_int_equal(changes, 1);
  assert_int_equal(
      kf_sql_run(db, NULL, &err, "INSERT INTO t VALUES (?, ?, ?)", "dsn", 7, "a\0b", (size_t)3),
      KF_OK);
  assert_int_equal(
      kf_sql_run(db, NULL, &err, "INSERT INTO t (a, b) VALUES (?, ?)", "dt", 8, (const char *)NULL),
      KF_OK);
  kf_sql q;
  assert_int_equal(kf_sql_query(&q, db, &err,
                                "SELECT a, b FROM t WHERE a >= ? AND a < 100 ORDER BY a", "i",
                                (int64_t)7),
                   KF_OK);
  bool row = false;
  assert_int_equal(kf_sql_step(&q, &row, &err), KF_OK);
  assert_true(row);
  assert_int_equal(kf_sql_int(&q, 0), 7);
  size_t len = 0;
  char *text = NULL;
  assert_int_equal(kf_sql_text_dup(&q, 1, &text, &len, &err), KF_OK);
  assert_int_equal(len, 3);
  assert_memory_equal(text, "a\0b", 3);
  kf_free(text);
  assert_int_equal(kf_sql_step(&q, &row, &err), KF_OK);
  assert_true(row);
  assert_true(kf_sql_is_null(&q, 1));
  assert_null(kf_sql_text(&q, 1, &len));
  assert_int_equal(kf_sql_text_dup(&q, 1, &text, NULL, &err), KF_OK);
  assert_null(text);
  assert_int_equal(kf_sql_step(&q, &row, &err), KF_OK);
  assert_false(row);
  kf_sql_finalize(&q);
  assert_int_equal(
      kf_sql_query(&q, db, &err, "SELECT a, b FROM t WHERE a = ?", "i", (int64_t)1 << 40), KF_OK);
  assert_int_equal(kf_sql_step(&q, &row, &err), KF_OK);
  assert_true(row);
  kf_sql_reset(&q);
  assert_int_equal(kf_sql_bind(&q, &err, "i", (int64_t)1 << 40), KF_OK);
  assert_int_equal(kf_sql_step(&q, &row, &err), KF_OK);
  assert_true(row);
  assert_string_equal(kf_sql_text(&q, 1, NULL), "eins");
  kf_sql_finalize(&q);
  kf_sql_finalize(&q); /* Twice is fine. */
}

static void test_errors_name_sqlite(void **state) {
  sqlite3 *db = *state;
  kf_err err;
  kf_err_init(&err);
  kf_sql q;
  assert_int_equal(kf_sql_prepare(&q, db, "SELEC nonsense", &err), KF_ERR_DB);
  assert_non_null(strstr(err.message, "syntax error"));
  assert_null(q.st);
  /* Binding more parameters than the statement has is a failed bind, never a silent NULL. */
  assert_int_equal(kf_sql_query(&q, db, &err, "SELECT ?", "ii", (int64_t)1, (int64_t)2), KF_ERR_DB);
  assert_null(q.st);
  assert_int_equal(kf_sql_query(&q, db, &err, "SELECT ?", "x"), KF_ERR_INTERNAL);
  assert_int_equal(kf_sql_run(db, NULL, &err, "INSERT INTO nowhere VALUES (1)", ""), KF_ERR_DB);
  assert_non_null(strstr(err.message, "nowhere"));
  assert_int_equal(kf_sql_exec(db, "CREATE TABLE t (a);", &err), KF_ERR_DB);
  assert_non_null(strstr(err.message, "already exists"));
}

typedef struct dup_ctx {
  sqlite3 *db;
} dup_ctx;

static bool dup_body(void *data, const kt_alloc_run *run) {
  dup_ctx *ctx = data;
  kf_err err;
  kf_err_init(&err);
  kf_sql q;
  if (kf_sql_query(&q, ctx->db, &err, "SELECT 'zwei'", "") != KF_OK)
    return false;
  bool row = false;
  if (kf_sql_step(&q, &row, &err) != KF_OK || !row) {
    kf_sql_finalize(&q);
    return false;
  }
  char *text = NULL;
  kt_alloc_arm(run);
  kf_rc rc = kf_sql_text_dup(&q, 0, &text, NULL, &err);
  kt_alloc_disarm();
  kf_sql_finalize(&q);
  if (rc != KF_OK) {
    assert_int_equal(rc, KF_ERR_NOMEM);
    assert_null(text);
    return false;
  }
  assert_string_equal(text, "zwei");
  kf_free(text);
  return true;
}

static void test_text_dup_allocation_failures(void **state) {
  dup_ctx ctx = {*state};
  assert_int_equal(kt_alloc_sweep(dup_body, &ctx), 1);
}

/* ---- The statement cache ------------------------------------------------ */

/* A connection to a new in-memory database with a cache and table t (a, b) of rows 1..3. */
static sqlite3 *cached_db(void) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kf_sql_cache_enable(db, &err), KF_OK);
  assert_int_equal(kf_sql_cache_enable(db, &err), KF_OK); /* Idempotent. */
  assert_int_equal(kf_sql_exec(db,
                               "CREATE TABLE t (a INTEGER, b TEXT);"
                               "INSERT INTO t VALUES (1, 'eins'), (2, 'zwei'), (3, 'drei');",
                               &err),
                   KF_OK);
  return db;
}

/* Statements alive on db, cached or not. */
static int live_statements(sqlite3 *db) {
  int n = 0;
  for (sqlite3_stmt *st = sqlite3_next_stmt(db, NULL); st != NULL; st = sqlite3_next_stmt(db, st))
    n++;
  return n;
}

/* b of the row with a = key through q (prepared on text); the statement used into *st. */
static void lookup(sqlite3 *db, const char *text, int64_t key, const char *want,
                   sqlite3_stmt **st) {
  kf_err err;
  kf_err_init(&err);
  kf_sql q;
  assert_int_equal(kf_sql_query(&q, db, &err, text, "i", key), KF_OK);
  bool row = false;
  assert_int_equal(kf_sql_step(&q, &row, &err), KF_OK);
  assert_true(row);
  assert_string_equal(kf_sql_text(&q, 0, NULL), want);
  if (st != NULL)
    *st = q.st;
  kf_sql_finalize(&q);
}

/* A text is compiled once and its statement reused, through prepare, query and run. */
static void test_cache_reuses(void **state) {
  (void)state;
  sqlite3 *db = cached_db();
  const char *text = "SELECT b FROM t WHERE a = ?";
  sqlite3_stmt *first = NULL, *again = NULL;
  lookup(db, text, 1, "eins", &first);
  kf_sql_cache_stats s = kf_sql_cache_stats_of(db);
  assert_int_equal(s.misses, 1);
  assert_int_equal(s.hits, 0);
  assert_int_equal(s.entries, 1);
  for (int64_t k = 1; k <= 3; k++) {
    lookup(db, text, k, k == 1 ? "eins" : k == 2 ? "zwei" : "drei", &again);
    assert_ptr_equal(again, first);
  }
  s = kf_sql_cache_stats_of(db);
  assert_int_equal(s.misses, 1);
  assert_int_equal(s.hits, 3);
  assert_int_equal(s.entries, 1);
  /* sqlite counts the runs of one statement: all four were the same one. */
  assert_int_equal(sqlite3_stmt_status(first, SQLITE_STMTSTATUS_RUN, 0), 4);
  assert_int_equal(live_statements(db), 1);
  /* kf_sql_run takes it from the cache too. */
  kf_err err;
  kf_err_init(&err);
  for (int i = 0; i < 3; i++)
    assert_int_equal(kf_sql_run(db, NULL, &err, "UPDATE t SET b = b WHERE a = ?", "d", 1), KF_OK);
  s = kf_sql_cache_stats_of(db);
  assert_int_equal(s.misses, 2);
  assert_int_equal(s.hits, 5);
  assert_int_equal(s.entries, 2);
  /* A line break after the statement's semicolon is still the one statement, cached. */
  const char *nl = "SELECT b FROM t WHERE a = ?;\n";
  lookup(db, nl, 2, "zwei", &first);
  lookup(db, nl, 2, "zwei", &again);
  assert_ptr_equal(again, first);
  s = kf_sql_cache_stats_of(db);
  assert_int_equal(s.misses, 3);
  assert_int_equal(s.entries, 3);
  /* A text of two statements compiles only the first: never cached, so never mistaken. */
  for (int i = 0; i < 2; i++)
    lookup(db, "SELECT b FROM t WHERE a = ?; SELECT 1", 3, "drei", NULL);
  s = kf_sql_cache_stats_of(db);
  assert_int_equal(s.misses, 5);
  assert_int_equal(s.entries, 3);
  assert_int_equal(live_statements(db), 3);
  kf_sql_close(db);
}

/* A text already lent (a nested query) gets a second statement; both are reused later. */
static void test_cache_nested(void **state) {
  (void)state;
  sqlite3 *db = cached_db();
  kf_err err;
  kf_err_init(&err);
  const char *text = "SELECT b FROM t WHERE a >= ? ORDER BY a";
  for (int round = 0; round < 2; round++) {
    kf_sql outer, inner;
    assert_int_equal(kf_sql_query(&outer, db, &err, text, "i", (int64_t)1), KF_OK);
    bool row = false;
    assert_int_equal(kf_sql_step(&outer, &row, &err), KF_OK);
    assert_string_equal(kf_sql_text(&outer, 0, NULL), "eins");
    assert_int_equal(kf_sql_query(&inner, db, &err, text, "i", (int64_t)3), KF_OK);
    assert_ptr_not_equal(inner.st, outer.st);
    assert_int_equal(kf_sql_step(&inner, &row, &err), KF_OK);
    assert_string_equal(kf_sql_text(&inner, 0, NULL), "drei");
    /* The outer one goes on where it was. */
    assert_int_equal(kf_sql_step(&outer, &row, &err), KF_OK);
    assert_string_equal(kf_sql_text(&outer, 0, NULL), "zwei");
    kf_sql_finalize(&inner);
    kf_sql_finalize(&outer);
  }
  kf_sql_cache_stats s = kf_sql_cache_stats_of(db);
  assert_int_equal(s.misses, 2);
  assert_int_equal(s.hits, 2);
  assert_int_equal(s.entries, 2);
  kf_sql_close(db);
}

/*
 * A statement handed back is reset (no read left open: the table it read can
 * be dropped) and its bindings cleared (the next user who binds nothing reads
 * NULL, not the last caller's value or freed text).
 */
static void test_cache_reset_and_cleared(void **state) {
  (void)state;
  sqlite3 *db = cached_db();
  kf_err err;
  kf_err_init(&err);
  kf_sql q;
  sqlite3_stmt *st = NULL;
  char *heap = kf_strdup("nur geliehen");
  assert_non_null(heap);
  assert_int_equal(kf_sql_query(&q, db, &err, "SELECT ?, ?", "it", (int64_t)42, heap), KF_OK);
  bool row = false;
  assert_int_equal(kf_sql_step(&q, &row, &err), KF_OK);
  assert_true(row);
  assert_int_equal(kf_sql_int(&q, 0), 42);
  st = q.st;
  kf_sql_finalize(&q);
  kf_free(heap); /* SQLITE_STATIC: only safe because the binding is gone. */
  assert_int_equal(kf_sql_prepare(&q, db, "SELECT ?, ?", &err), KF_OK);
  assert_ptr_equal(q.st, st);
  assert_int_equal(kf_sql_step(&q, &row, &err), KF_OK);
  assert_true(row);
  assert_true(kf_sql_is_null(&q, 0));
  assert_true(kf_sql_is_null(&q, 1));
  kf_sql_finalize(&q);
  /* The control: a statement left in the middle of its rows keeps t locked for DROP. */
  sqlite3_stmt *raw = NULL;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT a FROM t", -1, &raw, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(raw), SQLITE_ROW);
  assert_int_equal(kf_sql_exec(db, "DROP TABLE t", &err), KF_ERR_DB);
  assert_non_null(strstr(err.message, "locked"));
  sqlite3_finalize(raw);
  /* The cached one, handed back after its first row of three, does not. */
  assert_int_equal(kf_sql_query(&q, db, &err, "SELECT a FROM t ORDER BY a", ""), KF_OK);
  assert_int_equal(kf_sql_step(&q, &row, &err), KF_OK);
  assert_true(row);
  kf_sql_finalize(&q);
  assert_int_equal(kf_sql_cache_stats_of(db).entries, 2);
  assert_int_equal(kf_sql_exec(db, "DROP TABLE t", &err), KF_OK);
  kf_sql_close(db);
}

/*
 * The bound: KF_SQL_CACHE_MAX statements are kept, nothing is evicted; a text
 * past the bound is compiled each time and finalised when handed back, and
 * the kept ones go on being reused.
 */
static void test_cache_bounded(void **state) {
  (void)state;
  sqlite3 *db = cached_db();
  kf_err err;
  kf_err_init(&err);
  char text[64];
  sqlite3_stmt *first = NULL;
  for (unsigned i = 0; i < KF_SQL_CACHE_MAX; i++) {
    snprintf(text, sizeof text, "SELECT %u", i);
    kf_sql q;
    assert_int_equal(kf_sql_prepare(&q, db, text, &err), KF_OK);
    if (i == 0)
      first = q.st;
    kf_sql_finalize(&q);
  }
  assert_int_equal(kf_sql_cache_stats_of(db).entries, KF_SQL_CACHE_MAX);
  assert_int_equal(live_statements(db), KF_SQL_CACHE_MAX);
  for (int round = 0; round < 2; round++) {
    kf_sql q;
    assert_int_equal(kf_sql_prepare(&q, db, "SELECT 'one too many'", &err), KF_OK);
    assert_null(q.entry);
    assert_int_equal(live_statements(db), KF_SQL_CACHE_MAX + 1);
    bool row = false;
    assert_int_equal(kf_sql_step(&q, &row, &err), KF_OK);
    assert_string_equal(kf_sql_text(&q, 0, NULL), "one too many");
    kf_sql_finalize(&q);
    assert_int_equal(live_statements(db), KF_SQL_CACHE_MAX);
  }
  kf_sql q;
  assert_int_equal(kf_sql_prepare(&q, db, "SELECT 0", &err), KF_OK);
  assert_ptr_equal(q.st, first);
  kf_sql_finalize(&q);
  kf_sql_cache_stats s = kf_sql_cache_stats_of(db);
  assert_int_equal(s.entries, KF_SQL_CACHE_MAX);
  assert_int_equal(s.misses, KF_SQL_CACHE_MAX + 2);
  assert_int_equal(s.hits, 1);
  kf_sql_close(db);
}

/* A text that does not compile is an error naming sqlite's reason, and nothing is cached. */
static void test_cache_prepare_failure(void **state) {
  (void)state;
  sqlite3 *db = cached_db();
  kf_err err;
  kf_err_init(&err);
  for (int i = 0; i < 2; i++) {
    kf_sql q;
    assert_int_equal(kf_sql_prepare(&q, db, "SELEC b FROM t", &err), KF_ERR_DB);
    assert_non_null(strstr(err.message, "syntax error"));
    assert_null(q.st);
    assert_null(q.entry);
    kf_sql_finalize(&q); /* Harmless on a failed prepare. */
    assert_int_equal(
        kf_sql_query(&q, db, &err, "SELECT b FROM nowhere WHERE a = ?", "i", (int64_t)1),
        KF_ERR_DB);
    assert_non_null(strstr(err.message, "no such table: nowhere"));
  }
  kf_sql_cache_stats s = kf_sql_cache_stats_of(db);
  assert_int_equal(s.entries, 0);
  assert_int_equal(s.hits, 0);
  assert_int_equal(s.misses, 4);
  assert_int_equal(live_statements(db), 0);
  /* Once the table exists the same text compiles and is cached. */
  assert_int_equal(
      kf_sql_exec(db, "CREATE TABLE nowhere (a, b); INSERT INTO nowhere VALUES (1, 'da')", &err),
      KF_OK);
  lookup(db, "SELECT b FROM nowhere WHERE a = ?", 1, "da", NULL);
  assert_int_equal(kf_sql_cache_stats_of(db).entries, 1);
  kf_sql_close(db);
}

/*
 * Schema changes (SQLITE_SCHEMA inside sqlite): a cached statement is
 * recompiled at its next step, whether the change came from its own
 * connection or another; when the table is gone the step is KF_ERR_DB with
 * sqlite's message, and once it is back the same cached statement works.
 */
static void test_cache_schema_change(void **state) {
  (void)state;
  char dir[] = "/tmp/kf-sql-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[64];
  snprintf(path, sizeof path, "%s/s.db", dir);
  sqlite3 *db = NULL, *other = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kf_sql_cache_enable(db, &err), KF_OK);
  assert_int_equal(
      kf_sql_exec(db, "CREATE TABLE s (a INTEGER, b TEXT); INSERT INTO s VALUES (1, 'x')", &err),
      KF_OK);
  const char *text = "SELECT b FROM s WHERE a = ?";
  sqlite3_stmt *st = NULL, *again = NULL;
  lookup(db, text, 1, "x", &st);
  /* Another connection rebuilds the table with the columns in another order. */
  assert_int_equal(kf_sql_exec(other,
                               "DROP TABLE s; CREATE TABLE s (z, a INTEGER, b TEXT);"
                               "INSERT INTO s VALUES (0, 1, 'y')",
                               &err),
                   KF_OK);
  lookup(db, text, 1, "y", &again);
  assert_ptr_equal(again, st);
  assert_true(sqlite3_stmt_status(st, SQLITE_STMTSTATUS_REPREPARE, 0) >= 1);
  /* Its own connection adds a column: SELECT * sees it at once. */
  kf_sql q;
  bool row = false;
  assert_int_equal(kf_sql_query(&q, db, &err, "SELECT * FROM s", ""), KF_OK);
  assert_int_equal(kf_sql_step(&q, &row, &err), KF_OK);
  assert_int_equal(sqlite3_column_count(q.st), 3);
  kf_sql_finalize(&q);
  assert_int_equal(kf_sql_exec(db, "ALTER TABLE s ADD COLUMN c TEXT DEFAULT 'neu'", &err), KF_OK);
  assert_int_equal(kf_sql_query(&q, db, &err, "SELECT * FROM s", ""), KF_OK);
  assert_int_equal(kf_sql_step(&q, &row, &err), KF_OK);
  assert_true(row);
  assert_int_equal(sqlite3_column_count(q.st), 4);
  assert_string_equal(kf_sql_text(&q, 3, NULL), "neu");
  kf_sql_finalize(&q);
  /* The table goes: the step says so, and the statement stays for later. */
  assert_int_equal(kf_sql_exec(other, "DROP TABLE s", &err), KF_OK);
  assert_int_equal(kf_sql_query(&q, db, &err, text, "i", (int64_t)1), KF_OK);
  assert_ptr_equal(q.st, st);
  assert_int_equal(kf_sql_step(&q, &row, &err), KF_ERR_DB);
  assert_non_null(strstr(err.message, "no such table: s"));
  kf_sql_finalize(&q);
  assert_int_equal(
      kf_sql_exec(other, "CREATE TABLE s (a INTEGER, b TEXT); INSERT INTO s VALUES (1, 'z')", &err),
      KF_OK);
  lookup(db, text, 1, "z", &again);
  assert_ptr_equal(again, st);
  kf_sql_cache_stats s = kf_sql_cache_stats_of(db);
  assert_int_equal(s.entries, 2);
  assert_int_equal(s.misses, 2);
  kf_sql_close(db);
  sqlite3_close(other);
  unlink(path);
  rmdir(dir);
}

/*
 * kf_sql_close finalises every cached statement and closes the connection:
 * everything sqlite allocated for it comes back (ASan and valgrind see the
 * rest). Statements past the bound and nested ones are in it too.
 */
static void test_cache_close_releases(void **state) {
  (void)state;
  sqlite3 *warm = cached_db(); /* sqlite's one-time state, before the measure. */
  kf_sql_close(warm);
  sqlite3_int64 before = sqlite3_memory_used();
  sqlite3 *db = cached_db();
  kf_err err;
  kf_err_init(&err);
  kf_sql a, b;
  assert_int_equal(kf_sql_query(&a, db, &err, "SELECT b FROM t WHERE a = ?", "i", (int64_t)1),
                   KF_OK);
  assert_int_equal(kf_sql_query(&b, db, &err, "SELECT b FROM t WHERE a = ?", "i", (int64_t)2),
                   KF_OK);
  bool row = false;
  assert_int_equal(kf_sql_step(&a, &row, &err), KF_OK);
  kf_sql_finalize(&b);
  kf_sql_finalize(&a);
  lookup(db, "SELECT b FROM t WHERE a = ?", 3, "drei", NULL);
  assert_int_equal(live_statements(db), 2);
  assert_true(sqlite3_memory_used() > before);
  kf_sql_close(db);
  assert_int_equal(sqlite3_memory_used(), before);
  kf_sql_close(NULL);
}

typedef struct cache_ctx {
  int unused;
} cache_ctx;

/*
 * Out of memory, the cache adds no failure: enabling it may fail (the
 * connection then works uncached), a prepare never does, and a statement
 * that could not be kept is finalised when handed back.
 */
static bool cache_body(void *data, const kt_alloc_run *run) {
  (void)data;
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
  kf_err err;
  kf_err_init(&err);
  kt_alloc_arm(run);
  kf_rc enabled = kf_sql_cache_enable(db, &err);
  bool clean = enabled == KF_OK;
  if (enabled != KF_OK)
    assert_int_equal(enabled, KF_ERR_NOMEM);
  for (int i = 0; i < 3; i++) {
    kf_sql q;
    assert_int_equal(
        kf_sql_query(&q, db, &err, i == 2 ? "SELECT 2" : "SELECT ?", i == 2 ? "" : "d", i), KF_OK);
    bool row = false;
    assert_int_equal(kf_sql_step(&q, &row, &err), KF_OK);
    assert_int_equal(kf_sql_int(&q, 0), i);
    kf_sql_finalize(&q);
  }
  kt_alloc_disarm();
  kf_sql_cache_stats s = kf_sql_cache_stats_of(db);
  assert_int_equal(live_statements(db), (int)s.entries);
  assert_true(s.entries <= 2);
  clean = clean && s.entries == 2 && s.hits == 1;
  kf_sql_close(db);
  return clean;
}

static void test_cache_allocation_failures(void **state) {
  (void)state;
  cache_ctx ctx = {0};
  assert_int_equal(kt_alloc_sweep(cache_body, &ctx), 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_run_and_query, setup, teardown),
      cmocka_unit_test_setup_teardown(test_errors_name_sqlite, setup, teardown),
      cmocka_unit_test_setup_teardown(test_text_dup_allocation_failures, setup, teardown),
      cmocka_unit_test(test_cache_reuses),
      cmocka_unit_test(test_cache_nested),
      cmocka_unit_test(test_cache_reset_and_cleared),
      cmocka_unit_test(test_cache_bounded),
      cmocka_unit_test(test_cache_prepare_failure),
      cmocka_unit_test(test_cache_schema_change),
      cmocka_unit_test(test_cache_close_releases),
      cmocka_unit_test(test_cache_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
