/*
 * Unit tests for konform-server's storage: migrations, registration with its
 * outbox mail in one transaction, duplicates (ACC-10), the link lifecycle at
 * the 24 h boundary (ACC-06/07), a HEAD-style link check that changes
 * nothing, resend bookkeeping, login answers and rehashing at the current cost
 * (ACC-09, AUTH-04) and test clocks. Each test gets a fresh sqlite file in its own temporary
 * folder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/log.h"
#include "kf/str.h"
#include "kf/uuid.h"
#include "ks_account.h"
#include "ks_clock.h"
#include "ks_db.h"
#include "ks_mail.h"
#include "ks_server.h"
#include "kt_server.h"

#define T0 INT64_C(1790000000)
#define PW "Abcdefgh12!x"

typedef kt_server fixture;

static int fixture_setup(void **state) {
  fixture *f = test_calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(kt_server_open(f, "ks_store", NULL), KF_OK);
  *state = f;
  return 0;
}

static int fixture_teardown(void **state) {
  kt_server_close(*state);
  test_free(*state);
  return 0;
}

/* One integer from a query such as "SELECT count(*) FROM accounts". */
static int64_t scalar(fixture *f, const char *sql) {
  int64_t v = 0;
  assert_int_equal(kt_server_scalar(f, sql, &v, NULL), KF_OK);
  return v;
}

/* The newest link id that is not superseded for email, copied into out. */
static void current_link(fixture *f, const char *email, char out[KF_UUID_STR_LEN + 1]) {
  sqlite3 *conn = NULL;
  assert_int_equal(ks_db_conn(f->srv.db, &conn, NULL), KF_OK);
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(conn,
                                      "SELECT l.id FROM confirmation_links l JOIN accounts a ON "
                                      "a.id = l.account_id WHERE a.email = ? AND "
                                      "l.superseded_at IS NULL",
                                      -1, &st, NULL),
                   SQLITE_OK);
  sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(kf_str_copy(out, KF_UUID_STR_LEN + 1, (const char *)sqlite3_column_text(st, 0)),
                   KF_OK);
  sqlite3_finalize(st);
}

static void test_migrations_are_idempotent(void **state) {
  fixture *f = *state;
  assert_int_equal(scalar(f, "PRAGMA user_version"), ks_db_schema_version());
  assert_int_equal(scalar(f, "SELECT count(*) FROM sqlite_master WHERE name = 'outbox'"), 1);
  /* Reopening an up-to-date database changes nothing and keeps the rows. */
  bool created = false;
  assert_int_equal(ks_account_register(&f->srv, "a@b.de", PW, strlen(PW), T0, &created, NULL),
                   KF_OK);
  ks_db_free(f->srv.db);
  assert_int_equal(ks_db_open(f->path, &f->srv.db, NULL), KF_OK);
  assert_int_equal(scalar(f, "PRAGMA user_version"), ks_db_schema_version());
  assert_int_equal(scalar(f, "SELECT count(*) FROM outbox WHERE sent_at IS NULL"), 1);
}

static void test_register_and_duplicate(void **state) {
  fixture *f = *state;
  bool created = false;
  assert_int_equal(
      ks_account_register(&f->srv, "Max@example.de", PW, strlen(PW), T0, &created, NULL), KF_OK);
  assert_true(created);
  assert_int_equal(scalar(f, "SELECT count(*) FROM accounts"), 1);
  assert_int_equal(scalar(f, "SELECT count(*) FROM confirmation_links"), 1);
  assert_int_equal(scalar(f, "SELECT count(*) FROM outbox"), 1);
  assert_int_equal(scalar(f, "SELECT count(*) FROM outbox WHERE rcpt_to = 'Max@example.de' AND "
                             "instr(raw, 'e-mail-bestaetigen') > 0"),
                   1);
  assert_int_equal(scalar(f, "SELECT created_at FROM outbox"), T0);
  /* ACC-10: the same address again creates nothing but the information mail. */
  assert_int_equal(
      ks_account_register(&f->srv, "Max@example.de", "Other-pass-12", 13, T0 + 5, &created, NULL),
      KF_OK);
  assert_false(created);
  assert_int_equal(scalar(f, "SELECT count(*) FROM accounts"), 1);
  assert_int_equal(scalar(f, "SELECT count(*) FROM confirmation_links"), 1);
  assert_int_equal(scalar(f, "SELECT count(*) FROM outbox"), 2);
  assert_int_equal(scalar(f, "SELECT count(*) FROM outbox WHERE id = 2 AND "
                             "instr(raw, 'e-mail-bestaetigen') = 0"),
                   1);
  /* The local part is kept as given: "max@" is a different account. */
  assert_int_equal(
      ks_account_register(&f->srv, "max@example.de", PW, strlen(PW), T0, &created, NULL), KF_OK);
  assert_true(created);
  assert_int_equal(scalar(f, "SELECT count(*) FROM accounts"), 2);
  /* Every mail has its own Message-ID. */
  assert_int_equal(scalar(f, "SELECT count(DISTINCT message_id) FROM outbox"), 3);
}

static void test_confirm_at_exactly_24h(void **state) {
  fixture *f = *state;
  assert_int_equal(ks_account_register(&f->srv, "a@b.de", PW, strlen(PW), T0, NULL, NULL), KF_OK);
  char id[KF_UUID_STR_LEN + 1];
  current_link(f, "a@b.de", id);
  ks_link_verdict v;
  assert_int_equal(ks_account_confirm(&f->srv, id, T0 + 86400, &v, NULL), KF_OK);
  assert_int_equal(v, KS_LINK_VALID);
  assert_int_equal(scalar(f, "SELECT confirmed_at FROM accounts"), T0 + 86400);
  assert_int_equal(ks_account_confirm(&f->srv, id, T0 + 86400, &v, NULL), KF_OK);
  assert_int_equal(v, KS_LINK_ALREADY_CONFIRMED);
  /* Upper-case hex names the same link. */
  char upper[KF_UUID_STR_LEN + 1];
  for (size_t i = 0; i <= KF_UUID_STR_LEN; i++)
    upper[i] = (id[i] >= 'a' && id[i] <= 'f') ? (char)(id[i] - 'a' + 'A') : id[i];
  assert_int_equal(ks_account_confirm(&f->srv, upper, T0 + 90000, &v, NULL), KF_OK);
  assert_int_equal(v, KS_LINK_ALREADY_CONFIRMED);
}

static void test_expired_then_resend(void **state) {
  fixture *f = *state;
  assert_int_equal(ks_account_register(&f->srv, "a@b.de", PW, strlen(PW), T0, NULL, NULL), KF_OK);
  char old_id[KF_UUID_STR_LEN + 1];
  current_link(f, "a@b.de", old_id);
  ks_link_verdict v;
  assert_int_equal(ks_account_confirm(&f->srv, old_id, T0 + 86401, &v, NULL), KF_OK);
  assert_int_equal(v, KS_LINK_EXPIRED);
  assert_int_equal(scalar(f, "SELECT count(*) FROM accounts WHERE confirmed_at IS NULL"), 1);
  /* Resend: a new link valid 24 h from now, the old one superseded. */
  const int64_t t1 = T0 + 90000;
  bool issued = false;
  assert_int_equal(ks_account_resend(&f->srv, "a@b.de", t1, &issued, NULL), KF_OK);
  assert_true(issued);
  assert_int_equal(scalar(f, "SELECT count(*) FROM outbox"), 2);
  assert_int_equal(scalar(f, "SELECT count(*) FROM resend_requests"), 1);
  char new_id[KF_UUID_STR_LEN + 1];
  current_link(f, "a@b.de", new_id);
  assert_string_not_equal(old_id, new_id);
  assert_int_equal(ks_account_confirm(&f->srv, old_id, t1, &v, NULL), KF_OK);
  assert_int_equal(v, KS_LINK_SUPERSEDED);
  assert_int_equal(ks_account_confirm(&f->srv, new_id, t1 + 86401, &v, NULL), KF_OK);
  assert_int_equal(v, KS_LINK_EXPIRED);
  assert_int_equal(ks_account_confirm(&f->srv, new_id, t1 + 86400, &v, NULL), KF_OK);
  assert_int_equal(v, KS_LINK_VALID);
  /* After confirmation every link of the account says "already confirmed". */
  assert_int_equal(ks_account_confirm(&f->srv, old_id, t1, &v, NULL), KF_OK);
  assert_int_equal(v, KS_LINK_ALREADY_CONFIRMED);
  /*
   * Resend for a confirmed or unknown address sends nothing, but it is written
   * down like any other so that it costs a write transaction too (no
   * enumeration by timing).
   */
  assert_int_equal(ks_account_resend(&f->srv, "a@b.de", t1, &issued, NULL), KF_OK);
  assert_false(issued);
  assert_int_equal(ks_account_resend(&f->srv, "nobody@b.de", t1, &issued, NULL), KF_OK);
  assert_false(issued);
  assert_int_equal(scalar(f, "SELECT count(*) FROM outbox"), 2);
  assert_int_equal(scalar(f, "SELECT count(*) FROM confirmation_links"), 2);
  assert_int_equal(scalar(f, "SELECT count(*) FROM resend_requests"), 3);
  assert_int_equal(scalar(f, "SELECT count(*) FROM resend_requests WHERE requested_at = 0"), 0);
}

static void test_check_link_changes_nothing(void **state) {
  fixture *f = *state;
  assert_int_equal(ks_account_register(&f->srv, "a@b.de", PW, strlen(PW), T0, NULL, NULL), KF_OK);
  char id[KF_UUID_STR_LEN + 1];
  current_link(f, "a@b.de", id);
  /* A HEAD judges the link as a GET would, but confirms nothing. */
  ks_link_verdict v = KS_LINK_NOT_FOUND;
  for (int i = 0; i < 2; i++) {
    assert_int_equal(ks_account_check_link(&f->srv, id, T0 + 10, &v, NULL), KF_OK);
    assert_int_equal(v, KS_LINK_VALID);
  }
  assert_int_equal(scalar(f, "SELECT count(*) FROM accounts WHERE confirmed_at IS NULL"), 1);
  assert_int_equal(scalar(f, "SELECT count(*) FROM confirmation_links WHERE used_at IS NULL"), 1);
  assert_int_equal(ks_account_check_link(&f->srv, id, T0 + 86401, &v, NULL), KF_OK);
  assert_int_equal(v, KS_LINK_EXPIRED);
  assert_int_equal(ks_account_check_link(&f->srv, "not-a-uuid", T0, &v, NULL), KF_OK);
  assert_int_equal(v, KS_LINK_NOT_FOUND);
  /* The GET after it still confirms; then both say "already confirmed". */
  assert_int_equal(ks_account_confirm(&f->srv, id, T0 + 20, &v, NULL), KF_OK);
  assert_int_equal(v, KS_LINK_VALID);
  assert_int_equal(ks_account_check_link(&f->srv, id, T0 + 30, &v, NULL), KF_OK);
  assert_int_equal(v, KS_LINK_ALREADY_CONFIRMED);
  assert_int_equal(ks_account_confirm(&f->srv, id, T0 + 30, &v, NULL), KF_OK);
  assert_int_equal(v, KS_LINK_ALREADY_CONFIRMED);
}

static void test_unknown_and_malformed_links(void **state) {
  fixture *f = *state;
  ks_link_verdict v = KS_LINK_VALID;
  assert_int_equal(
      ks_account_confirm(&f->srv, "00000000-0000-4000-8000-000000000000", T0, &v, NULL), KF_OK);
  assert_int_equal(v, KS_LINK_NOT_FOUND);
  const char *bad[] = {"", "x", "' OR 1=1 --", "00000000-0000-4000-8000-00000000000",
                       "00000000-0000-4000-8000-0000000000000"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    v = KS_LINK_VALID;
    assert_int_equal(ks_account_confirm(&f->srv, bad[i], T0, &v, NULL), KF_OK);
    assert_int_equal(v, KS_LINK_NOT_FOUND);
  }
}

static void test_login_answers(void **state) {
  fixture *f = *state;
  assert_int_equal(ks_account_register(&f->srv, "a@b.de", PW, strlen(PW), T0, NULL, NULL), KF_OK);
  ks_login_result r;
  char token[KS_TOKEN_HEX_LEN + 1];
  assert_int_equal(ks_account_login(&f->srv, "a@b.de", PW, strlen(PW), T0, &r, token, NULL), KF_OK);
  assert_int_equal(r, KS_LOGIN_UNCONFIRMED);
  assert_int_equal(ks_account_login(&f->srv, "a@b.de", "nope", 4, T0, &r, token, NULL), KF_OK);
  assert_int_equal(r, KS_LOGIN_INVALID);
  assert_int_equal(ks_account_login(&f->srv, "x@b.de", PW, strlen(PW), T0, &r, token, NULL), KF_OK);
  assert_int_equal(r, KS_LOGIN_INVALID);
  assert_int_equal(ks_account_login(&f->srv, NULL, PW, strlen(PW), T0, &r, token, NULL), KF_OK);
  assert_int_equal(r, KS_LOGIN_INVALID);
  char id[KF_UUID_STR_LEN + 1];
  current_link(f, "a@b.de", id);
  ks_link_verdict v;
  assert_int_equal(ks_account_confirm(&f->srv, id, T0, &v, NULL), KF_OK);
  assert_int_equal(ks_account_login(&f->srv, "a@b.de", PW, strlen(PW), T0, &r, token, NULL), KF_OK);
  assert_int_equal(r, KS_LOGIN_OK);
  assert_int_equal(strlen(token), KS_TOKEN_HEX_LEN);
  /* Only a hash of the token is stored. */
  assert_int_equal(scalar(f, "SELECT count(*) FROM sessions WHERE stage = 'second_factor_setup'"),
                   1);
  bool found = false;
  assert_int_equal(ks_session_end(f->srv.db, token, T0 + 1, &found, NULL), KF_OK);
  assert_true(found);
  assert_int_equal(ks_session_end(f->srv.db, token, T0 + 2, &found, NULL), KF_OK);
  assert_false(found);
}

/* The stored hash of email (caller frees with kf_free). */
static char *stored_hash(fixture *f, const char *email) {
  sqlite3 *conn = NULL;
  assert_int_equal(ks_db_conn(f->srv.db, &conn, NULL), KF_OK);
  sqlite3_stmt *st = NULL;
  assert_int_equal(
      sqlite3_prepare_v2(conn, "SELECT password_hash FROM accounts WHERE email = ?", -1, &st, NULL),
      SQLITE_OK);
  assert_int_equal(sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  char *h = kf_strdup((const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  assert_non_null(h);
  return h;
}

static void test_pwhash_stale(void **state) {
  fixture *f = *state;
  char cheap[crypto_pwhash_STRBYTES];
  assert_int_equal(ks_pwhash_hash(&f->srv.pwhash, PW, strlen(PW), cheap, NULL), KF_OK);
  bool stale = true;
  assert_true(ks_pwhash_verify(&f->srv.pwhash, cheap, PW, strlen(PW), &stale));
  assert_false(stale);
  assert_false(ks_pwhash_verify(&f->srv.pwhash, NULL, PW, strlen(PW), &stale));
  assert_false(stale);
  /* The same hash under another cost is stale, whether or not the password is right. */
  ks_pwhash other;
  assert_int_equal(ks_pwhash_init(&other, "test", 2, 0, NULL), KF_OK);
  assert_true(ks_pwhash_verify(&other, cheap, PW, strlen(PW), &stale));
  assert_true(stale);
  stale = false;
  assert_false(ks_pwhash_verify(&other, cheap, "nope", 4, &stale));
  assert_true(stale);
  /* A string libsodium cannot read is never right and counts as stale. */
  assert_false(ks_pwhash_verify(&other, "garbage", PW, strlen(PW), &stale));
  assert_true(stale);
  assert_true(ks_pwhash_verify(&other, cheap, PW, strlen(PW), NULL)); /* stale may be NULL. */
}

static void test_login_rehashes_at_current_cost(void **state) {
  fixture *f = *state;
  assert_int_equal(ks_account_register(&f->srv, "a@b.de", PW, strlen(PW), T0, NULL, NULL), KF_OK);
  char id[KF_UUID_STR_LEN + 1];
  current_link(f, "a@b.de", id);
  ks_link_verdict v;
  assert_int_equal(ks_account_confirm(&f->srv, id, T0, &v, NULL), KF_OK);
  char *h0 = stored_hash(f, "a@b.de");
  assert_non_null(strstr(h0, ",t=1,"));
  /* The server now runs at a higher cost than the stored hash was made with. */
  assert_int_equal(ks_pwhash_init(&f->srv.pwhash, "test", 2, 0, NULL), KF_OK);
  ks_login_result r;
  char token[KS_TOKEN_HEX_LEN + 1];
  assert_int_equal(ks_account_login(&f->srv, "a@b.de", "nope", 4, T0, &r, token, NULL), KF_OK);
  assert_int_equal(r, KS_LOGIN_INVALID);
  char *h1 = stored_hash(f, "a@b.de");
  assert_string_equal(h1, h0); /* A wrong password changes nothing. */
  assert_int_equal(ks_account_login(&f->srv, "a@b.de", PW, strlen(PW), T0, &r, token, NULL), KF_OK);
  assert_int_equal(r, KS_LOGIN_OK);
  char *h2 = stored_hash(f, "a@b.de");
  assert_string_not_equal(h2, h0);
  assert_non_null(strstr(h2, ",t=2,"));
  assert_int_equal(
      crypto_pwhash_str_needs_rehash(h2, f->srv.pwhash.opslimit, f->srv.pwhash.memlimit), 0);
  assert_int_equal(scalar(f, "SELECT count(*) FROM sessions"), 1);
  /* The new hash takes the same password, and a current hash is left alone. */
  assert_int_equal(ks_account_login(&f->srv, "a@b.de", PW, strlen(PW), T0, &r, token, NULL), KF_OK);
  assert_int_equal(r, KS_LOGIN_OK);
  char *h3 = stored_hash(f, "a@b.de");
  assert_string_equal(h3, h2);
  assert_int_equal(scalar(f, "SELECT count(*) FROM sessions"), 2);
  kf_free(h0);
  kf_free(h1);
  kf_free(h2);
  kf_free(h3);
}

static void test_clocks(void **state) {
  fixture *f = *state;
  ks_clock c, d;
  assert_int_equal(ks_clock_create(f->srv.db, T0, "x", T0, &c, NULL), KF_OK);
  assert_true(ks_clock_id_valid(c.id));
  assert_string_equal(c.name, "x");
  assert_int_equal(ks_clock_get(f->srv.db, c.id, &d, NULL), KF_OK);
  assert_int_equal(d.frozen_time, T0);
  ks_clock_release(&d);
  assert_int_equal(ks_clock_advance(f->srv.db, c.id, true, 86400, &d, NULL), KF_OK);
  assert_int_equal(d.frozen_time, T0 + 86400);
  ks_clock_release(&d);
  assert_int_equal(ks_clock_advance(f->srv.db, c.id, false, T0, &d, NULL), KF_ERR_STATE);
  assert_int_equal(ks_clock_advance(f->srv.db, c.id, true, -1, &d, NULL), KF_ERR_STATE);
  assert_int_equal(ks_clock_advance(f->srv.db, c.id, false, T0 + 86400, &d, NULL), KF_OK);
  ks_clock_release(&d);
  assert_int_equal(ks_clock_advance(f->srv.db, c.id, false, KS_CLOCK_TIME_MAX + 1, &d, NULL),
                   KF_ERR_LIMIT);
  assert_int_equal(ks_clock_delete(f->srv.db, c.id, NULL), KF_OK);
  assert_int_equal(ks_clock_delete(f->srv.db, c.id, NULL), KF_ERR_NOT_FOUND);
  assert_int_equal(ks_clock_get(f->srv.db, c.id, &d, NULL), KF_ERR_NOT_FOUND);
  assert_int_equal(ks_clock_get(f->srv.db, "clk_zz", &d, NULL), KF_ERR_NOT_FOUND);
  ks_clock_release(&c);
  assert_int_equal(ks_clock_create(f->srv.db, -1, NULL, T0, &c, NULL), KF_ERR_LIMIT);
}

/* Both mails are rendered before the transaction: a mail that cannot be built stores nothing. */
static void test_register_renders_before_storing(void **state) {
  fixture *f = *state;
  static char long_url[3000];
  memset(long_url, 'x', sizeof long_url - 1);
  memcpy(long_url, "http://", 7);
  f->srv.public_url = long_url;
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(ks_account_register(&f->srv, "a@b.de", PW, strlen(PW), T0, NULL, &err),
                   KF_ERR_LIMIT);
  assert_int_equal(scalar(f, "SELECT count(*) FROM accounts"), 0);
  assert_int_equal(scalar(f, "SELECT count(*) FROM outbox"), 0);
  f->srv.public_url = "http://127.0.0.1:8480";
  bool created = false;
  assert_int_equal(ks_account_register(&f->srv, "a@b.de", PW, strlen(PW), T0, &created, NULL),
                   KF_OK);
  assert_true(created);
  assert_int_equal(scalar(f, "SELECT count(*) FROM outbox"), 1);
}

int main(void) {
  /* Migration notices would drown the test output. */
  kf_log_setup("test_server_store", KF_LOG_WARN);
  ks_mail_global_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_migrations_are_idempotent, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(test_register_and_duplicate, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_confirm_at_exactly_24h, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_expired_then_resend, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_unknown_and_malformed_links, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(test_login_answers, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_check_link_changes_nothing, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(test_pwhash_stale, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_login_rehashes_at_current_cost, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(test_clocks, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_register_renders_before_storing, fixture_setup,
                                      fixture_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
