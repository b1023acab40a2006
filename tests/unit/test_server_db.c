/*
 * Unit tests for ks_db's write-lock waits: a writer that finds the lock taken
 * by another connection of the process goes on when that one's transaction
 * ends (commit, rollback, an autocommit statement), not at the next step of
 * a sleep schedule; and many writers at once lose no wake-up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kf/log.h"
#include "kf/sql.h"
#include "kf/str.h"
#include "kf/timeutil.h"
#include "ks_db.h"

/*
 * How late after the holder's end the waiter may get the lock. sqlite's
 * busy_timeout tries again after 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50 and
 * then every 100 ms, so a waiter parked behind a long transaction is up to
 * 100 ms late; one woken at the end is not. PARK_MAX_MS bounds the waiter's
 * reaching its wait; it is not a delay, the waiter is there at once.
 */
#define PARK_MAX_MS 10000
#define LATE_MAX_MS 60

typedef struct db_fixture {
  char dir[64];
  char path[96];
  ks_db *db;
} db_fixture;

static int db_setup(void **state) {
  db_fixture *f = test_calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(kf_str_copy(f->dir, sizeof f->dir, "/tmp/ks_db_test.XXXXXX"), KF_OK);
  assert_non_null(mkdtemp(f->dir));
  assert_int_equal(kf_str_format(f->path, sizeof f->path, "%s/server.db", f->dir), KF_OK);
  assert_int_equal(ks_db_open(f->path, &f->db, NULL), KF_OK);
  *state = f;
  return 0;
}

static int db_teardown(void **state) {
  db_fixture *f = *state;
  ks_db_free(f->db);
  const char *tails[] = {"", "-wal", "-shm"};
  for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
    char p[128];
    if (kf_str_format(p, sizeof p, "%s%s", f->path, tails[i]) == KF_OK)
      unlink(p);
  }
  rmdir(f->dir);
  test_free(f);
  return 0;
}

/* How the waiting writer writes. */
typedef enum { WRITE_TX, WRITE_AUTOCOMMIT } write_kind;

typedef struct waiter {
  ks_db *db;
  write_kind kind;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool ready;      /* The waiter has its connection and is about to write. */
  kf_rc rc;        /* Of its write. */
  int64_t done_ms; /* When its write had the lock (monotonic). */
} waiter;

static void *waiter_main(void *arg) {
  waiter *w = arg;
  sqlite3 *conn = NULL;
  kf_rc rc = ks_db_conn(w->db, &conn, NULL);
  pthread_mutex_lock(&w->lock);
  w->ready = true;
  pthread_cond_signal(&w->cond);
  pthread_mutex_unlock(&w->lock);
  if (rc == KF_OK && w->kind == WRITE_TX) {
    rc = ks_db_begin(conn, NULL);
    if (rc == KF_OK)
      rc =
          kf_sql_run(conn, NULL, NULL,
                     "INSERT INTO clocks (id, frozen_time, created_at) VALUES ('clk_b', 1, 1)", "");
    if (rc == KF_OK)
      rc = ks_db_commit(conn, NULL);
  } else if (rc == KF_OK) {
    rc = kf_sql_run(conn, NULL, NULL,
                    "INSERT INTO clocks (id, frozen_time, created_at) VALUES ('clk_b', 1, 1)", "");
  }
  w->done_ms = kf_time_monotonic_ms();
  w->rc = rc;
  ks_db_thread_done(w->db);
  return NULL;
}

/*
 * This thread takes the write lock and holds it until a second thread,
 * trying to write, waits for it; the end is a commit, or a rollback when rollback is
 * set (a transaction that wrote nothing, which sqlite's WAL hook would not
 * report). The waiter must be through within LATE_MAX_MS of that end.
 */
static void contend(db_fixture *f, write_kind kind, bool rollback) {
  sqlite3 *conn = NULL;
  assert_int_equal(ks_db_conn(f->db, &conn, NULL), KF_OK);
  assert_int_equal(ks_db_begin(conn, NULL), KF_OK);
  if (!rollback)
    assert_int_equal(kf_sql_run(conn, NULL, NULL,
                                "INSERT INTO clocks (id, frozen_time, created_at) "
                                "VALUES ('clk_a', 1, 1)",
                                ""),
                     KF_OK);
  waiter w = {.db = f->db, .kind = kind, .rc = KF_ERR_INTERNAL};
  pthread_mutex_init(&w.lock, NULL);
  pthread_cond_init(&w.cond, NULL);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, waiter_main, &w), 0);
  pthread_mutex_lock(&w.lock);
  while (!w.ready)
    pthread_cond_wait(&w.cond, &w.lock);
  pthread_mutex_unlock(&w.lock);
  /* The end comes only once the waiter is parked behind the lock, as behind a slow holder. */
  assert_true(ks_db_waiters_wait(f->db, 1, PARK_MAX_MS));
  int64_t end_ms = kf_time_monotonic_ms();
  if (rollback)
    ks_db_rollback(conn);
  else
    assert_int_equal(ks_db_commit(conn, NULL), KF_OK);
  pthread_join(t, NULL);
  pthread_cond_destroy(&w.cond);
  pthread_mutex_destroy(&w.lock);
  assert_int_equal(w.rc, KF_OK);
  int64_t late = w.done_ms - end_ms;
  if (late > LATE_MAX_MS)
    fprintf(stderr, "the waiter got the lock %lld ms after it was free\n", (long long)late);
  assert_true(late <= LATE_MAX_MS);
}

static void test_tx_waits_for_commit(void **state) {
  contend(*state, WRITE_TX, false);
}

static void test_autocommit_waits_for_commit(void **state) {
  contend(*state, WRITE_AUTOCOMMIT, false);
}

static void test_tx_waits_for_rollback(void **state) {
  contend(*state, WRITE_TX, true);
}

/* ---- Many writers at once: every increment lands, no one waits for good. ---- */

#define WRITERS 4
#define ROUNDS 150

typedef struct counter_ctx {
  ks_db *db;
  kf_rc rc;
} counter_ctx;

static kf_rc bump(sqlite3 *conn, void *arg, kf_err *err) {
  (void)arg;
  return kf_sql_run(conn, NULL, err,
                    "UPDATE clocks SET frozen_time = frozen_time + 1 WHERE id = 'n'", "");
}

static void *counter_main(void *arg) {
  counter_ctx *c = arg;
  c->rc = KF_OK;
  for (int i = 0; i < ROUNDS && c->rc == KF_OK; i++)
    c->rc = ks_db_in_tx(c->db, bump, NULL, NULL);
  ks_db_thread_done(c->db);
  return NULL;
}

static void test_many_writers(void **state) {
  db_fixture *f = *state;
  sqlite3 *conn = NULL;
  assert_int_equal(ks_db_conn(f->db, &conn, NULL), KF_OK);
  assert_int_equal(kf_sql_run(conn, NULL, NULL,
                              "INSERT INTO clocks (id, frozen_time, created_at) VALUES ('n', 0, 0)",
                              ""),
                   KF_OK);
  pthread_t t[WRITERS];
  counter_ctx c[WRITERS];
  for (int i = 0; i < WRITERS; i++) {
    c[i] = (counter_ctx){.db = f->db, .rc = KF_ERR_INTERNAL};
    assert_int_equal(pthread_create(&t[i], NULL, counter_main, &c[i]), 0);
  }
  for (int i = 0; i < WRITERS; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(c[i].rc, KF_OK);
  }
  kf_sql q;
  assert_int_equal(
      kf_sql_query(&q, conn, NULL, "SELECT frozen_time FROM clocks WHERE id = 'n'", ""), KF_OK);
  bool row = false;
  assert_int_equal(kf_sql_step(&q, &row, NULL), KF_OK);
  assert_true(row);
  assert_int_equal(kf_sql_int(&q, 0), WRITERS * ROUNDS);
  kf_sql_finalize(&q);
}

int main(void) {
  kf_log_setup("test_server_db", KF_LOG_WARN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_tx_waits_for_commit, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_autocommit_waits_for_commit, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_tx_waits_for_rollback, db_setup, db_teardown),
      cmocka_unit_test_setup_teardown(test_many_writers, db_setup, db_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
