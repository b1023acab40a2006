/*
 * The login's hash work in konform-server (ks_pwhash, AUTH-04): one argon2id
 * computation per cost class in use whatever the account (a stale one, a
 * current one, an unknown user), the classes as counted from the accounts
 * table, and their count-down by every path that replaces a stale hash (a
 * login's rehash, a password reset), down to the class dropping out. The
 * count must never go below the stored hashes it stands for, also when an
 * allocation fails half-way: a class dropped too early makes its accounts'
 * logins cheaper than everyone else's.
 *
 * The computations are counted through the probe of ks_pwhash. Costs differ
 * by their ops limit only (the test cost's memory, 8 KiB), so every run is
 * cheap and a class is named by its ops limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <string.h>

#include "kf/digest.h"
#include "kf/log.h"
#include "kf/sql.h"
#include "kf/str.h"
#include "kf/uuid.h"
#include "ks_account.h"
#include "ks_db.h"
#include "ks_pwhash.h"
#include "ks_recovery.h"
#include "ks_server.h"
#include "kt_alloc.h"
#include "kt_server.h"

#define T0 INT64_C(1790000000)
#define PW "Abcdefgh12!x"
#define NEW_PW "Zyxwvuts98#q"
/* More costs than any test needs, for the probe's table. */
#define WORK_COSTS_MAX 16

/* The argon2id computations the probe saw, per cost. */
typedef struct work {
  size_t costs;
  unsigned total;
  struct {
    unsigned long long ops;
    size_t mem;
    unsigned runs;
  } at[WORK_COSTS_MAX];
} work;

static void work_probe(void *arg, unsigned long long ops, size_t mem) {
  work *w = arg;
  w->total++;
  for (size_t i = 0; i < w->costs; i++) {
    if (w->at[i].ops == ops && w->at[i].mem == mem) {
      w->at[i].runs++;
      return;
    }
  }
  assert_true(w->costs < WORK_COSTS_MAX);
  w->at[w->costs].ops = ops;
  w->at[w->costs].mem = mem;
  w->at[w->costs].runs = 1;
  w->costs++;
}

/* How many computations ran at ops (and the test cost's memory). */
static unsigned work_at(const work *w, unsigned long long ops) {
  for (size_t i = 0; i < w->costs; i++) {
    if (w->at[i].ops == ops && w->at[i].mem == crypto_pwhash_argon2id_MEMLIMIT_MIN)
      return w->at[i].runs;
  }
  return 0;
}

/* Exactly one computation at each of the n costs ops[], and none at any other. */
static void work_expect_once_each(const work *w, const unsigned long long *ops, size_t n,
                                  const char *what) {
  if (w->total != n || w->costs != n)
    fail_msg("%s: %u computations at %zu costs, expected one at each of %zu", what, w->total,
             w->costs, n);
  for (size_t i = 0; i < n; i++) {
    if (work_at(w, ops[i]) != 1)
      fail_msg("%s: %u computations at t=%llu, expected 1", what, work_at(w, ops[i]), ops[i]);
  }
}

/* ph at the test cost with ops, its probe counting into w (may be NULL). */
static void pwhash_at(ks_pwhash *ph, unsigned long long ops, work *w) {
  assert_int_equal(ks_pwhash_init(ph, "test", ops, 0, NULL), KF_OK);
  ph->probe = w != NULL ? work_probe : NULL;
  ph->probe_arg = w;
}

/* pw hashed at the test cost with ops. */
static void hash_at(unsigned long long ops, const char *pw, char out[crypto_pwhash_STRBYTES]) {
  ks_pwhash ph;
  pwhash_at(&ph, ops, NULL);
  assert_int_equal(ks_pwhash_hash(&ph, pw, strlen(pw), out, NULL), KF_OK);
}

/* The accounts of the older class at ops that logins pay for; -1 when none is in use. */
static long class_accounts(const ks_pwhash *ph, unsigned long long ops) {
  unsigned mask = atomic_load(&ph->in_use);
  for (size_t i = 0; i < KS_PWHASH_CLASSES_MAX; i++) {
    if ((mask & (1u << i)) != 0 && ph->old[i].opslimit == ops)
      return atomic_load(&ph->old[i].accounts);
  }
  return -1;
}

/* A loader of ks_pwhash_load_once over a NULL-terminated array of hash strings. */
static kf_rc load_list(void *arg, ks_pwhash *ph, kf_err *err) {
  for (const char *const *h = arg; *h != NULL; h++) {
    kf_rc rc = ks_pwhash_class_count(ph, *h, err);
    if (rc != KF_OK)
      return rc;
  }
  return KF_OK;
}

/* ---- The work of a login, without a database. ---- */

/* One login of hash (NULL: no account) with pw, counted; what ks_pwhash_login found. */
static ks_pwhash_check login_counted(ks_pwhash *ph, work *w, const char *hash, const char *pw) {
  memset(w, 0, sizeof *w);
  ks_pwhash_check c;
  ks_pwhash_login(ph, hash, pw, strlen(pw), &c);
  return c;
}

static void test_login_work_per_class(void **state) {
  (void)state;
  char at1[crypto_pwhash_STRBYTES], at2[crypto_pwhash_STRBYTES], at3[crypto_pwhash_STRBYTES];
  hash_at(1, PW, at1);
  hash_at(2, PW, at2);
  hash_at(3, PW, at3);
  work w;
  memset(&w, 0, sizeof w);
  ks_pwhash ph;
  pwhash_at(&ph, 3, &w);
  const char *stored[] = {at1, at2, at2, at3, "not a hash", NULL};
  assert_int_equal(ks_pwhash_load_once(&ph, load_list, stored, NULL), KF_OK);
  assert_int_equal(ks_pwhash_classes_in_use(&ph), 2);
  assert_int_equal(class_accounts(&ph, 1), 1);
  assert_int_equal(class_accounts(&ph, 2), 2);
  const unsigned long long classes[] = {1, 2, 3};
  const struct {
    const char *what, *hash, *pw;
    bool ok, stale;
  } cases[] = {
      {"stale at t=1, right password", at1, PW, true, true},
      {"stale at t=1, wrong password", at1, NEW_PW, false, true},
      {"stale at t=2, right password", at2, PW, true, true},
      {"stale at t=2, wrong password", at2, NEW_PW, false, true},
      {"current, right password", at3, PW, true, false},
      {"current, wrong password", at3, NEW_PW, false, false},
      {"unknown user", NULL, PW, false, false},
      {"a stored string that is no hash", "not a hash", PW, false, false},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ks_pwhash_check c = login_counted(&ph, &w, cases[i].hash, cases[i].pw);
    work_expect_once_each(&w, classes, 3, cases[i].what);
    assert_int_equal(c.ok, cases[i].ok);
    assert_int_equal(c.stale, cases[i].stale);
    /* A stale hash's replacement is made whatever the password: that is its current-cost run. */
    assert_int_equal(c.rehashed, cases[i].stale);
    if (c.rehashed) {
      assert_int_equal(crypto_pwhash_str_needs_rehash(c.rehash, ph.opslimit, ph.memlimit), 0);
      assert_int_equal(crypto_pwhash_str_verify(c.rehash, cases[i].pw, strlen(cases[i].pw)), 0);
    }
    sodium_memzero(&c, sizeof c);
  }
}

static void test_login_work_beyond_the_classes(void **state) {
  (void)state;
  /* KS_PWHASH_CLASSES_MAX older classes at t=1..8 and a ninth at t=9; the current cost t=10. */
  char hashes[KS_PWHASH_CLASSES_MAX + 1][crypto_pwhash_STRBYTES];
  for (size_t i = 0; i < KS_PWHASH_CLASSES_MAX + 1; i++)
    hash_at(i + 1, PW, hashes[i]);
  work w;
  memset(&w, 0, sizeof w);
  ks_pwhash ph;
  pwhash_at(&ph, KS_PWHASH_CLASSES_MAX + 2, &w);
  kf_err err;
  kf_err_init(&err);
  for (size_t i = 0; i < KS_PWHASH_CLASSES_MAX; i++)
    assert_int_equal(ks_pwhash_class_count(&ph, hashes[i], &err), KF_OK);
  assert_int_equal(ks_pwhash_class_count(&ph, hashes[KS_PWHASH_CLASSES_MAX], &err), KF_ERR_LIMIT);
  assert_int_equal(ks_pwhash_classes_in_use(&ph), KS_PWHASH_CLASSES_MAX);
  /* Every login pays for the current cost and the eight classes... */
  unsigned long long paid[KS_PWHASH_CLASSES_MAX + 1];
  for (size_t i = 0; i < KS_PWHASH_CLASSES_MAX; i++)
    paid[i] = i + 1;
  paid[KS_PWHASH_CLASSES_MAX] = KS_PWHASH_CLASSES_MAX + 2;
  (void)login_counted(&ph, &w, NULL, PW);
  work_expect_once_each(&w, paid, KS_PWHASH_CLASSES_MAX + 1, "unknown user");
  ks_pwhash_check c = login_counted(&ph, &w, hashes[3], PW);
  work_expect_once_each(&w, paid, KS_PWHASH_CLASSES_MAX + 1, "stale at t=4");
  assert_true(c.ok);
  /* ...and the ninth class's own account, the documented exception, its own check on top. */
  c = login_counted(&ph, &w, hashes[KS_PWHASH_CLASSES_MAX], PW);
  assert_true(c.ok && c.stale);
  assert_int_equal(w.total, KS_PWHASH_CLASSES_MAX + 2);
  assert_int_equal(work_at(&w, KS_PWHASH_CLASSES_MAX + 1), 1);
  sodium_memzero(&c, sizeof c);
}

/* ---- With a database: the classes from the accounts, and their count-down. ---- */

typedef struct fixture {
  kt_server s;
  work w;
  char at1[crypto_pwhash_STRBYTES]; /* PW at t=1, the test cost's own. */
  char at2[crypto_pwhash_STRBYTES]; /* PW at t=2, the current cost of the tests below. */
} fixture;

static int fixture_setup(void **state) {
  fixture *f = test_calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(kt_server_open(&f->s, "ks_pwhash", NULL), KF_OK);
  hash_at(1, PW, f->at1);
  hash_at(2, PW, f->at2);
  *state = f;
  return 0;
}

static int fixture_teardown(void **state) {
  fixture *f = *state;
  kt_server_close(&f->s);
  test_free(f);
  return 0;
}

static int64_t scalar(fixture *f, const char *sql) {
  int64_t v = 0;
  assert_int_equal(kt_server_scalar(&f->s, sql, &v, NULL), KF_OK);
  return v;
}

/* An account email holding hash; confirmed says whether its address is confirmed. */
static int64_t add_account(fixture *f, const char *email, const char *hash, bool confirmed) {
  sqlite3 *conn = NULL;
  assert_int_equal(ks_db_conn(f->s.srv.db, &conn, NULL), KF_OK);
  assert_int_equal(kf_sql_run(conn, NULL, NULL,
                              "INSERT INTO accounts (email, password_hash, created_at, "
                              "terms_accepted_at, email_consent_at, confirmed_at) "
                              "VALUES (?1, ?2, ?3, ?3, ?3, CASE WHEN ?4 THEN ?3 END)",
                              "ttii", email, hash, T0, (int64_t)confirmed),
                   KF_OK);
  return sqlite3_last_insert_rowid(conn);
}

/* A valid reset link for account into id (64 hex digits), as ks_recovery stores one. */
static void add_reset_link(fixture *f, int64_t account, char id[KS_RESET_ID_HEX_LEN + 1]) {
  kf_random_hex(id, KS_RESET_ID_HEX_LEN / 2);
  char id_hash[KF_SHA256_HEX];
  kf_sha256_hex(id, KS_RESET_ID_HEX_LEN, id_hash);
  sqlite3 *conn = NULL;
  assert_int_equal(ks_db_conn(f->s.srv.db, &conn, NULL), KF_OK);
  assert_int_equal(kf_sql_run(conn, NULL, NULL,
                              "INSERT INTO reset_links (id_hash, account_id, created_at, "
                              "expires_at) VALUES (?, ?, ?, ?)",
                              "tiii", id_hash, account, T0, T0 + KS_RESET_VALIDITY_S),
                   KF_OK);
}

/* How many accounts hold a hash at the test cost with ops. */
static int64_t stored_at(fixture *f, unsigned long long ops) {
  char sql[160];
  assert_int_equal(kf_str_format(sql, sizeof sql,
                                 "SELECT count(*) FROM accounts WHERE password_hash LIKE "
                                 "'$argon2id$v=19$m=8,t=%llu,p=1$%%'",
                                 ops),
                   KF_OK);
  return scalar(f, sql);
}

/* The server runs at t=ops from now on, as after a restart: nothing counted yet. */
static void restart_at(fixture *f, unsigned long long ops) {
  pwhash_at(&f->s.srv.pwhash, ops, &f->w);
}

static ks_login_result login(fixture *f, const char *email, const char *pw) {
  ks_login_result r = KS_LOGIN_INVALID;
  char token[KS_TOKEN_HEX_LEN + 1];
  assert_int_equal(ks_account_login(&f->s.srv, email, pw, strlen(pw), T0, &r, token, NULL), KF_OK);
  return r;
}

static ks_reset_verdict reset(fixture *f, const char *id, const char *pw) {
  char hash[crypto_pwhash_STRBYTES];
  assert_int_equal(ks_pwhash_hash(&f->s.srv.pwhash, pw, strlen(pw), hash, NULL), KF_OK);
  ks_reset_verdict v = KS_RESET_VALID;
  assert_int_equal(ks_recovery_reset_confirm(&f->s.srv, id, hash, T0 + 1, &v, NULL), KF_OK);
  return v;
}

static void test_classes_from_the_accounts(void **state) {
  fixture *f = *state;
  char at3[crypto_pwhash_STRBYTES];
  hash_at(3, PW, at3);
  add_account(f, "a@example.de", f->at1, true);
  add_account(f, "b@example.de", f->at1, false);
  add_account(f, "c@example.de", f->at2, true);
  add_account(f, "d@example.de", at3, true);
  add_account(f, "e@example.de", "imported, no argon2id", true);
  restart_at(f, 3);
  ks_pwhash *ph = &f->s.srv.pwhash;
  assert_false(atomic_load(&ph->loaded));
  assert_int_equal(ks_pwhash_classes_in_use(ph), 0);
  /* The first login counts them, before it is checked: it pays for both classes already. */
  memset(&f->w, 0, sizeof f->w);
  assert_int_equal(login(f, "nobody@example.de", PW), KS_LOGIN_INVALID);
  assert_true(atomic_load(&ph->loaded));
  assert_int_equal(ks_pwhash_classes_in_use(ph), 2);
  assert_int_equal(class_accounts(ph, 1), 2);
  assert_int_equal(class_accounts(ph, 2), 1);
  /* The load hashed one dummy per class; the login then ran once at each cost. */
  assert_int_equal(work_at(&f->w, 1), 2);
  assert_int_equal(work_at(&f->w, 2), 2);
  assert_int_equal(work_at(&f->w, 3), 1);
  /* Counted once: a later load finds them loaded and adds nothing. */
  sqlite3 *conn = NULL;
  assert_int_equal(ks_db_conn(f->s.srv.db, &conn, NULL), KF_OK);
  assert_int_equal(ks_pwhash_load_once(ph, ks_account_hash_classes, conn, NULL), KF_OK);
  assert_int_equal(class_accounts(ph, 1), 2);
  assert_int_equal(class_accounts(ph, 2), 1);
  /* Every login now does one computation per class, whoever it names. */
  const unsigned long long classes[] = {1, 2, 3};
  const char *users[] = {"a@example.de", "c@example.de", "d@example.de", "e@example.de",
                         "nobody@example.de"};
  for (size_t i = 0; i < sizeof users / sizeof users[0]; i++) {
    memset(&f->w, 0, sizeof f->w);
    assert_int_equal(login(f, users[i], NEW_PW), KS_LOGIN_INVALID);
    work_expect_once_each(&f->w, classes, 3, users[i]);
  }
}

static void test_countdown_on_rehash(void **state) {
  fixture *f = *state;
  add_account(f, "a@example.de", f->at1, true);
  add_account(f, "b@example.de", f->at1, true);
  int64_t u = add_account(f, "u@example.de", f->at1, false);
  restart_at(f, 2);
  ks_pwhash *ph = &f->s.srv.pwhash;
  /* A wrong password stores nothing, so it takes nothing away. */
  assert_int_equal(login(f, "a@example.de", NEW_PW), KS_LOGIN_INVALID);
  assert_int_equal(class_accounts(ph, 1), 3);
  /* The right password of an unconfirmed account is no login: its hash stays too. */
  assert_int_equal(login(f, "u@example.de", PW), KS_LOGIN_UNCONFIRMED);
  assert_int_equal(class_accounts(ph, 1), 3);
  assert_int_equal(login(f, "a@example.de", PW), KS_LOGIN_OK);
  assert_int_equal(class_accounts(ph, 1), 2);
  assert_int_equal(stored_at(f, 1), 2);
  /* a is at the current cost now: its next login changes no count. */
  assert_int_equal(login(f, "a@example.de", PW), KS_LOGIN_OK);
  assert_int_equal(class_accounts(ph, 1), 2);
  assert_int_equal(login(f, "b@example.de", PW), KS_LOGIN_OK);
  assert_int_equal(class_accounts(ph, 1), 1);
  assert_int_equal(ks_pwhash_classes_in_use(ph), 1);
  /* A password reset replaces the last hash at t=1: the class drops out. */
  char id[KS_RESET_ID_HEX_LEN + 1];
  add_reset_link(f, u, id);
  assert_int_equal(reset(f, id, NEW_PW), KS_RESET_VALID);
  assert_int_equal(stored_at(f, 1), 0);
  assert_int_equal(ks_pwhash_classes_in_use(ph), 0);
  assert_int_equal(class_accounts(ph, 1), -1);
  /* From now on a login pays for the current cost alone, whoever it names. */
  const unsigned long long current[] = {2};
  const char *users[] = {"a@example.de", "u@example.de", "nobody@example.de"};
  for (size_t i = 0; i < sizeof users / sizeof users[0]; i++) {
    memset(&f->w, 0, sizeof f->w);
    assert_int_equal(login(f, users[i], "Wrong-password-1"), KS_LOGIN_INVALID);
    work_expect_once_each(&f->w, current, 1, users[i]);
  }
}

static void test_countdown_on_reset(void **state) {
  fixture *f = *state;
  int64_t a = add_account(f, "a@example.de", f->at1, true);
  int64_t b = add_account(f, "b@example.de", f->at1, true);
  int64_t c = add_account(f, "c@example.de", f->at2, true);
  restart_at(f, 2);
  ks_pwhash *ph = &f->s.srv.pwhash;
  /* A reset right after a start, before any login: it counts the classes first. */
  char id[KS_RESET_ID_HEX_LEN + 1];
  add_reset_link(f, a, id);
  assert_int_equal(reset(f, id, NEW_PW), KS_RESET_VALID);
  assert_true(atomic_load(&ph->loaded));
  assert_int_equal(class_accounts(ph, 1), 1);
  /* A used link replaces nothing, so it counts nothing down. */
  assert_int_equal(reset(f, id, PW), KS_ERR_RESET_LINK_USED);
  assert_int_equal(class_accounts(ph, 1), 1);
  /* Replacing a current hash leaves the older class alone. */
  add_reset_link(f, c, id);
  assert_int_equal(reset(f, id, NEW_PW), KS_RESET_VALID);
  assert_int_equal(class_accounts(ph, 1), 1);
  /* The last account at t=1: the class drops out. */
  add_reset_link(f, b, id);
  assert_int_equal(reset(f, id, NEW_PW), KS_RESET_VALID);
  assert_int_equal(ks_pwhash_classes_in_use(ph), 0);
  assert_int_equal(stored_at(f, 1), 0);
  assert_int_equal(stored_at(f, 2), 3);
  assert_int_equal(login(f, "b@example.de", NEW_PW), KS_LOGIN_OK);
  assert_int_equal(login(f, "b@example.de", PW), KS_LOGIN_INVALID);
}

static void exec_sql(fixture *f, const char *sql) {
  sqlite3 *conn = NULL;
  assert_int_equal(ks_db_conn(f->s.srv.db, &conn, NULL), KF_OK);
  assert_int_equal(kf_sql_exec(conn, sql, NULL), KF_OK);
}

static void test_countdown_only_after_commit(void **state) {
  fixture *f = *state;
  int64_t a = add_account(f, "a@example.de", f->at1, true);
  restart_at(f, 2);
  ks_pwhash *ph = &f->s.srv.pwhash;
  /*
   * Each replacement's transaction fails after its UPDATE of the hash (a later
   * write of the same transaction is refused) and is rolled back: the hash
   * stays, and so must its class.
   */
  exec_sql(f, "CREATE TRIGGER no_use BEFORE UPDATE OF used_at ON reset_links "
              "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END");
  exec_sql(f, "CREATE TRIGGER no_session BEFORE INSERT ON sessions "
              "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END");
  char id[KS_RESET_ID_HEX_LEN + 1];
  add_reset_link(f, a, id);
  char hash[crypto_pwhash_STRBYTES];
  assert_int_equal(ks_pwhash_hash(ph, NEW_PW, strlen(NEW_PW), hash, NULL), KF_OK);
  ks_reset_verdict v = KS_RESET_VALID;
  assert_int_not_equal(ks_recovery_reset_confirm(&f->s.srv, id, hash, T0 + 1, &v, NULL), KF_OK);
  assert_int_equal(stored_at(f, 1), 1);
  assert_int_equal(class_accounts(ph, 1), 1);
  ks_login_result r = KS_LOGIN_OK;
  char token[KS_TOKEN_HEX_LEN + 1];
  assert_int_not_equal(
      ks_account_login(&f->s.srv, "a@example.de", PW, strlen(PW), T0, &r, token, NULL), KF_OK);
  assert_int_equal(stored_at(f, 1), 1);
  assert_int_equal(class_accounts(ph, 1), 1);
  /* Once the writes go through, the same login counts down. */
  exec_sql(f, "DROP TRIGGER no_session");
  assert_int_equal(login(f, "a@example.de", PW), KS_LOGIN_OK);
  assert_int_equal(ks_pwhash_classes_in_use(ph), 0);
}

/* ---- Allocation failures: the count never falls below what is stored. ---- */

typedef struct sweep_ctx {
  const char *at1;
  bool reset; /* The replacement swept: a password reset, or else a login's rehash. */
} sweep_ctx;

/*
 * One run: a fresh server with two accounts at t=1 started at t=2, then the
 * first replacement of a's hash under run's failure. Whatever failed, once
 * the classes are loaded the class at t=1 counts exactly the hashes stored
 * at it: a count-down for a write that was rolled back would leave one too
 * few, and its last account's logins would then cost less than the others.
 */
static bool sweep_body(void *arg, const kt_alloc_run *run) {
  const sweep_ctx *s = arg;
  fixture f;
  memset(&f, 0, sizeof f);
  assert_int_equal(kt_server_open(&f.s, "ks_pwhash_sweep", NULL), KF_OK);
  int64_t a = add_account(&f, "a@example.de", s->at1, true);
  add_account(&f, "b@example.de", s->at1, true);
  restart_at(&f, 2);
  char id[KS_RESET_ID_HEX_LEN + 1];
  add_reset_link(&f, a, id);
  char hash[crypto_pwhash_STRBYTES];
  assert_int_equal(ks_pwhash_hash(&f.s.srv.pwhash, NEW_PW, strlen(NEW_PW), hash, NULL), KF_OK);
  kf_err err;
  kf_err_init(&err);
  kt_alloc_arm(run);
  bool ok = false;
  if (s->reset) {
    ks_reset_verdict v = KS_RESET_VALID;
    ok = ks_recovery_reset_confirm(&f.s.srv, id, hash, T0 + 1, &v, &err) == KF_OK &&
         v == KS_RESET_VALID;
  } else {
    ks_login_result r = KS_LOGIN_INVALID;
    char token[KS_TOKEN_HEX_LEN + 1];
    ok = ks_account_login(&f.s.srv, "a@example.de", PW, strlen(PW), T0, &r, token, &err) == KF_OK &&
         r == KS_LOGIN_OK;
  }
  kt_alloc_disarm();
  ks_pwhash *ph = &f.s.srv.pwhash;
  int64_t stored = stored_at(&f, 1);
  assert_true(ok ? stored == 1 : stored >= 1);
  if (atomic_load(&ph->loaded))
    assert_int_equal(class_accounts(ph, 1), stored);
  else
    assert_false(ok);
  kt_server_close(&f.s);
  return ok;
}

static void test_countdown_survives_allocation_failures(void **state) {
  fixture *f = *state;
  sweep_ctx s = {.at1 = f->at1, .reset = true};
  unsigned long n = kt_alloc_sweep(sweep_body, &s);
  print_message("reset: %lu allocations swept\n", n);
  assert_true(n > 0);
  s.reset = false;
  n = kt_alloc_sweep(sweep_body, &s);
  print_message("login rehash: %lu allocations swept\n", n);
  assert_true(n > 0);
}

int main(void) {
  kf_log_setup("test_pwhash", KF_LOG_OFF);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_login_work_per_class),
      cmocka_unit_test(test_login_work_beyond_the_classes),
      cmocka_unit_test_setup_teardown(test_classes_from_the_accounts, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(test_countdown_on_rehash, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_countdown_on_reset, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_countdown_only_after_commit, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(test_countdown_survives_allocation_failures, fixture_setup,
                                      fixture_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
