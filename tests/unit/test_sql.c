/* Unit tests for kf_sql: binds by type string, steps, columns, failures with sqlite's message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_run_and_query, setup, teardown),
      cmocka_unit_test_setup_teardown(test_errors_name_sqlite, setup, teardown),
      cmocka_unit_test_setup_teardown(test_text_dup_allocation_failures, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
