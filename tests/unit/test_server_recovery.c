/*
 * "Passwort vergessen" and "Benutzername / E-Mail-Adresse vergessen"
 * (AUTH-07) in konform-server: the reset link's rules on their own, the
 * store (ks_recovery: who gets a mail, what is stored, what a new password
 * changes in one transaction) and the routes in-process (the same answers for
 * every username, the link judged before the password, the ACC-04 shape).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <string.h>

#include "kf/httpd.h"
#include "kf/log.h"
#include "kf/sql.h"
#include "kf/str.h"
#include "ks_account.h"
#include "ks_db.h"
#include "ks_lockout.h"
#include "ks_mail.h"
#include "ks_recovery.h"
#include "ks_server.h"
#include "kt_mail.h"
#include "kt_server.h"

#define T0 INT64_C(1790000000)
#define PW "Abcdefgh12!x"
#define NEW_PW "Zyxwvuts98#q"
#define RESET_MARK "/passwort-zuruecksetzen?id="

typedef struct fixture {
  kt_server s;
} fixture;

static int fixture_setup(void **state) {
  fixture *f = test_calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(kt_server_open(&f->s, "ks_recovery", NULL), KF_OK);
  assert_int_equal(kt_server_serve(&f->s, NULL, 0, 0, NULL), KF_OK);
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

/* Register email at T0; confirmed says whether its address is confirmed (set in the table). */
static void make_account(fixture *f, const char *email, bool confirmed) {
  assert_int_equal(ks_account_register(&f->s.srv, email, PW, strlen(PW), T0, NULL, NULL), KF_OK);
  if (!confirmed)
    return;
  sqlite3 *conn = NULL;
  assert_int_equal(ks_db_conn(f->s.srv.db, &conn, NULL), KF_OK);
  assert_int_equal(kf_sql_run(conn, NULL, NULL,
                              "UPDATE accounts SET confirmed_at = ? WHERE email = ?", "it", T0,
                              email),
                   KF_OK);
}

/* The decoded text and subject of the newest mail in the outbox (caller g_frees both). */
static void last_mail(fixture *f, char **subject, char **text) {
  sqlite3 *conn = NULL;
  assert_int_equal(ks_db_conn(f->s.srv.db, &conn, NULL), KF_OK);
  kf_sql q;
  assert_int_equal(
      kf_sql_query(&q, conn, NULL, "SELECT raw FROM outbox ORDER BY id DESC LIMIT 1", ""), KF_OK);
  bool row = false;
  assert_int_equal(kf_sql_step(&q, &row, NULL), KF_OK);
  assert_true(row);
  size_t len = 0;
  const char *raw = kf_sql_text(&q, 0, &len);
  GMimeMessage *msg = NULL;
  assert_int_equal(kt_mail_parse(raw, len, &msg), KF_OK);
  kf_sql_finalize(&q);
  *subject = g_strdup(g_mime_message_get_subject(msg));
  assert_int_equal(kt_mail_text(g_mime_message_get_mime_part(msg), text), KF_OK);
  g_object_unref(msg);
}

/* The reset link id of the newest mail, which must be a reset mail naming username. */
static void last_reset_id(fixture *f, const char *username, char id[KS_RESET_ID_HEX_LEN + 1]) {
  char *subject = NULL, *text = NULL;
  last_mail(f, &subject, &text);
  assert_string_equal(subject, KS_MAIL_SUBJECT_RESET);
  assert_non_null(strstr(text, username));
  const char *at = strstr(text, "http://127.0.0.1:8480" RESET_MARK);
  assert_non_null(at);
  at += strlen("http://127.0.0.1:8480" RESET_MARK);
  assert_true(strlen(at) > KS_RESET_ID_HEX_LEN && at[KS_RESET_ID_HEX_LEN] == '\n');
  memcpy(id, at, KS_RESET_ID_HEX_LEN);
  id[KS_RESET_ID_HEX_LEN] = '\0';
  /* Exactly one link. */
  assert_null(strstr(at, RESET_MARK));
  g_free(subject);
  g_free(text);
}

static ks_reset_verdict check(fixture *f, const char *id, int64_t now) {
  ks_reset_verdict v = KS_RESET_VALID;
  assert_int_equal(ks_recovery_reset_check(&f->s.srv, id, now, &v, NULL), KF_OK);
  return v;
}

static ks_reset_verdict confirm(fixture *f, const char *id, const char *pw, int64_t now) {
  char hash[crypto_pwhash_STRBYTES];
  assert_int_equal(ks_pwhash_hash(&f->s.srv.pwhash, pw, strlen(pw), hash, NULL), KF_OK);
  ks_reset_verdict v = KS_RESET_VALID;
  assert_int_equal(ks_recovery_reset_confirm(&f->s.srv, id, hash, now, &v, NULL), KF_OK);
  return v;
}

/* Ask for a reset of username at now; whether a link went out. */
static bool request_reset(fixture *f, const char *username, int64_t now) {
  bool issued = true;
  assert_int_equal(ks_recovery_reset_request(&f->s.srv, username, now, &issued, NULL), KF_OK);
  return issued;
}

/* ---- The rules on their own. ---- */

static void test_reset_link_rules(void **state) {
  (void)state;
  int64_t expires = T0 + KS_RESET_VALIDITY_S;
  /* 24 hours: valid at 23:59:59, no longer at 24:00:00. */
  assert_int_equal(ks_reset_judge(expires, T0, false), KS_RESET_VALID);
  assert_int_equal(ks_reset_judge(expires, expires - 1, false), KS_RESET_VALID);
  assert_int_equal(ks_reset_judge(expires, expires, false), KS_ERR_RESET_LINK_EXPIRED);
  /* Used wins over expired: a used link says so whatever its age. */
  assert_int_equal(ks_reset_judge(expires, T0, true), KS_ERR_RESET_LINK_USED);
  assert_int_equal(ks_reset_judge(expires, expires + 99, true), KS_ERR_RESET_LINK_USED);
  char url[128];
  assert_int_equal(ks_reset_url("http://h:1", "ab", url, sizeof url), KF_OK);
  assert_string_equal(url, "http://h:1/passwort-zuruecksetzen?id=ab");
  assert_int_equal(ks_reset_url("http://h:1", "ab", url, 10), KF_ERR_LIMIT);
}

/* ---- The store. ---- */

/* Only a confirmed account gets a link; every request is recorded; only the id's hash is kept. */
static void test_reset_request(void **state) {
  fixture *f = *state;
  make_account(f, "known@example.de", true);
  make_account(f, "open@example.de", false);
  int64_t mails = scalar(f, "SELECT count(*) FROM outbox");
  assert_true(request_reset(f, "known@example.de", T0));
  assert_int_equal(scalar(f, "SELECT count(*) FROM outbox"), mails + 1);
  char id[KS_RESET_ID_HEX_LEN + 1];
  last_reset_id(f, "known@example.de", id);
  for (size_t i = 0; i < KS_RESET_ID_HEX_LEN; i++)
    assert_non_null(strchr("0123456789abcdef", id[i]));
  /* The table holds the SHA-256 of the id, never the id. */
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, (const unsigned char *)id, KS_RESET_ID_HEX_LEN);
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  char sql[256];
  assert_int_equal(kf_str_format(sql, sizeof sql,
                                 "SELECT count(*) FROM reset_links WHERE id_hash = '%s' AND "
                                 "created_at = %lld AND expires_at = %lld",
                                 hex, (long long)T0, (long long)(T0 + KS_RESET_VALIDITY_S)),
                   KF_OK);
  assert_int_equal(scalar(f, sql), 1);
  assert_int_equal(
      kf_str_format(sql, sizeof sql, "SELECT count(*) FROM reset_links WHERE id_hash = '%s'", id),
      KF_OK);
  assert_int_equal(scalar(f, sql), 0);
  /* An unconfirmed address, no account, no address: no mail, but a recorded request each. */
  assert_false(request_reset(f, "open@example.de", T0));
  assert_false(request_reset(f, "nobody@example.de", T0));
  assert_false(request_reset(f, NULL, T0));
  assert_int_equal(scalar(f, "SELECT count(*) FROM outbox"), mails + 1);
  assert_int_equal(scalar(f, "SELECT count(*) FROM reset_links"), 1);
  assert_int_equal(
      scalar(f, "SELECT count(*) FROM recovery_requests WHERE kind = 'password_reset'"), 4);
  assert_int_equal(check(f, id, T0), KS_RESET_VALID);
}

/* The new password, the link used, every session ended and the lockout gone, together. */
static void test_reset_confirm(void **state) {
  fixture *f = *state;
  const char *user = "max@example.de";
  make_account(f, user, true);
  char token[KS_TOKEN_HEX_LEN + 1];
  for (int i = 0; i < 2; i++) {
    ks_login_result r;
    assert_int_equal(ks_account_login(&f->s.srv, user, PW, strlen(PW), T0, &r, token, NULL), KF_OK);
    assert_int_equal(r, KS_LOGIN_OK);
  }
  sqlite3 *conn = NULL;
  assert_int_equal(ks_db_conn(f->s.srv.db, &conn, NULL), KF_OK);
  bool locked = false;
  for (int i = 0; i < KS_LOCKOUT_ATTEMPTS - 1; i++)
    assert_int_equal(ks_lockout_fail(conn, user, T0, &locked, NULL), KF_OK);
  assert_true(request_reset(f, user, T0));
  char id[KS_RESET_ID_HEX_LEN + 1];
  last_reset_id(f, user, id);
  /* Ids compare case-insensitively; anything else names no link. */
  char upper[KS_RESET_ID_HEX_LEN + 1];
  memcpy(upper, id, sizeof upper);
  for (char *p = upper; *p != '\0'; p++)
    *p = (*p >= 'a' && *p <= 'f') ? (char)(*p - 'a' + 'A') : *p;
  assert_int_equal(check(f, upper, T0), KS_RESET_VALID);
  assert_int_equal(check(f, "abc", T0), KS_ERR_RESET_LINK_NOT_FOUND);
  upper[0] = 'g';
  assert_int_equal(confirm(f, upper, NEW_PW, T0), KS_ERR_RESET_LINK_NOT_FOUND);

  assert_int_equal(confirm(f, id, NEW_PW, T0 + 60), KS_RESET_VALID);
  char *hash = NULL;
  int64_t account_id = 0;
  assert_int_equal(ks_account_find(conn, user, &account_id, NULL, &hash, NULL), KF_OK);
  assert_true(ks_pwhash_verify(&f->s.srv.pwhash, hash, NEW_PW, strlen(NEW_PW), NULL));
  assert_false(ks_pwhash_verify(&f->s.srv.pwhash, hash, PW, strlen(PW), NULL));
  ks_account_hash_free(hash);
  assert_int_equal(scalar(f, "SELECT count(*) FROM sessions WHERE ended_at IS NULL"), 0);
  assert_int_equal(scalar(f, "SELECT count(*) FROM sessions WHERE ended_at = 1790000060"), 2);
  assert_int_equal(scalar(f, "SELECT count(*) FROM login_failures"), 0);
  /* Once: a second use changes nothing. */
  assert_int_equal(confirm(f, id, PW, T0 + 61), KS_ERR_RESET_LINK_USED);
  assert_int_equal(check(f, id, T0 + 61), KS_ERR_RESET_LINK_USED);
  ks_login_result r;
  assert_int_equal(
      ks_account_login(&f->s.srv, user, NEW_PW, strlen(NEW_PW), T0 + 62, &r, token, NULL), KF_OK);
  assert_int_equal(r, KS_LOGIN_OK);
}

/* The newest link counts; each is valid for its own 24 hours. */
static void test_reset_supersede_and_expiry(void **state) {
  fixture *f = *state;
  const char *user = "erika@example.de";
  make_account(f, user, true);
  char older[KS_RESET_ID_HEX_LEN + 1], newer[KS_RESET_ID_HEX_LEN + 1];
  assert_true(request_reset(f, user, T0));
  last_reset_id(f, user, older);
  assert_true(request_reset(f, user, T0 + 100));
  last_reset_id(f, user, newer);
  assert_string_not_equal(older, newer);
  assert_int_equal(check(f, older, T0 + 101), KS_ERR_RESET_LINK_USED);
  int64_t last = T0 + 100 + KS_RESET_VALIDITY_S - 1;
  assert_int_equal(check(f, newer, last), KS_RESET_VALID);
  assert_int_equal(confirm(f, newer, NEW_PW, last + 1), KS_ERR_RESET_LINK_EXPIRED);
  assert_int_equal(scalar(f, "SELECT count(*) FROM reset_links WHERE used_at IS NOT NULL"), 0);
  assert_int_equal(confirm(f, newer, NEW_PW, last), KS_RESET_VALID);
  assert_int_equal(confirm(f, older, PW, last), KS_ERR_RESET_LINK_USED);
}

static void test_reminder(void **state) {
  fixture *f = *state;
  make_account(f, "known@example.de", true);
  make_account(f, "open@example.de", false);
  int64_t mails = scalar(f, "SELECT count(*) FROM outbox");
  bool sent = false;
  assert_int_equal(ks_recovery_remind(&f->s.srv, "known@example.de", T0, &sent, NULL), KF_OK);
  assert_true(sent);
  char *subject = NULL, *text = NULL;
  last_mail(f, &subject, &text);
  assert_string_equal(subject, KS_MAIL_SUBJECT_REMINDER);
  assert_non_null(strstr(text, "Ihr Benutzername lautet:\n\nknown@example.de\n"));
  assert_non_null(strstr(text, "http://127.0.0.1:8480/anmelden\n"));
  assert_non_null(strstr(text, "Passwort vergessen"));
  g_free(subject);
  g_free(text);
  const char *none[] = {"open@example.de", "nobody@example.de"};
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(ks_recovery_remind(&f->s.srv, none[i], T0, &sent, NULL), KF_OK);
    assert_false(sent);
  }
  assert_int_equal(scalar(f, "SELECT count(*) FROM outbox"), mails + 1);
  assert_int_equal(
      scalar(f, "SELECT count(*) FROM recovery_requests WHERE kind = 'username_reminder'"), 3);
}

/* ---- The routes. ---- */

static void post(fixture *f, const char *path, const char *body, kf_http_answer *out) {
  const char *const headers[] = {"Content-Type", "application/json", NULL};
  kf_http_fake_req in = {
      .method = "POST", .path = path, .headers = headers, .body = body, .body_len = strlen(body)};
  assert_int_equal(kf_httpd_serve_fake(f->s.httpd, &in, out, NULL), KF_OK);
}

/* POST body to path; the answer must have status and contain each of the NULL-ended texts. */
static void expect_post(fixture *f, const char *path, const char *body, unsigned status, ...) {
  kf_http_answer a;
  post(f, path, body, &a);
  if (a.status != status)
    fail_msg("POST %s %s: %u %s (expected %u)", path, body, a.status, a.body, status);
  va_list ap;
  va_start(ap, status);
  for (const char *text = va_arg(ap, const char *); text != NULL; text = va_arg(ap, const char *)) {
    if (strstr(a.body, text) == NULL)
      fail_msg("POST %s %s: %s lacks %s", path, body, a.body, text);
  }
  va_end(ap);
  kf_http_answer_release(&a);
}

/* Every username and address gets the same bytes. */
static void test_routes_answer_alike(void **state) {
  fixture *f = *state;
  make_account(f, "known@example.de", true);
  make_account(f, "open@example.de", false);
  const char *const routes[] = {"/api/v1/password-resets", "/api/v1/username-reminders"};
  const char *const members[] = {"username", "email"};
  const char *const values[] = {"known@example.de", "open@example.de", "nobody@example.de",
                                " known@Example.DE "};
  for (size_t r = 0; r < 2; r++) {
    kf_http_answer first;
    char body[128];
    for (size_t v = 0; v < 4; v++) {
      assert_int_equal(kf_str_format(body, sizeof body, "{\"%s\":\"%s\"}", members[r], values[v]),
                       KF_OK);
      kf_http_answer a;
      post(f, routes[r], body, v == 0 ? &first : &a);
      if (v == 0)
        continue;
      assert_int_equal(a.status, 202);
      assert_string_equal(a.body, first.body);
      kf_http_answer_release(&a);
    }
    assert_int_equal(first.status, 202);
    kf_http_answer_release(&first);
  }
  /* A username need not be an address to get that answer; an address for a reminder must. */
  expect_post(f, "/api/v1/password-resets", "{\"username\":\"max\"}", 202, "\"message\"", NULL);
  expect_post(f, "/api/v1/username-reminders", "{\"email\":\"x\"}", 400, "\"EMAIL_INVALID\"", NULL);
  expect_post(f, "/api/v1/username-reminders", "{}", 400, "\"EMAIL_REQUIRED\"", NULL);
  expect_post(f, "/api/v1/password-resets", "{\"username\":\"   \"}", 400, "\"USERNAME_REQUIRED\"",
              NULL);
  expect_post(f, "/api/v1/password-resets", "{\"username\":7}", 400, "\"INVALID_FIELD\"", NULL);
  expect_post(f, "/api/v1/username-reminders", "{\"email\":\"known@example.de\"}", 202,
              "wenden Sie sich bitte an Ihr Jobcenter.", NULL);
  /* One mail each for the confirmed account (two spellings of it), none for the rest. */
  assert_int_equal(scalar(f, "SELECT count(*) FROM reset_links"), 2);
  assert_int_equal(scalar(f, "SELECT count(*) FROM recovery_requests"), 10);
}

/* The link before the password, the password as registration judges it, then once. */
static void test_route_confirm(void **state) {
  fixture *f = *state;
  const char *user = "max@example.de";
  make_account(f, user, true);
  const char *path = "/api/v1/password-resets/confirm";
  expect_post(f, "/api/v1/password-resets", "{\"username\":\"max@example.de\"}", 202, NULL);
  char id[KS_RESET_ID_HEX_LEN + 1];
  last_reset_id(f, user, id);
  char body[256];
  expect_post(f, path, "{\"password\":\"" NEW_PW "\",\"password_repeat\":\"" NEW_PW "\"}", 404,
              "\"RESET_LINK_NOT_FOUND\"", NULL);
  expect_post(f, path, "{\"id\":\"x\\u0000\",\"password\":\"short\"}", 404,
              "\"RESET_LINK_NOT_FOUND\"", NULL);
  assert_int_equal(kf_str_format(body, sizeof body,
                                 "{\"id\":\"%s\",\"password\":\"abcdefghijkl\","
                                 "\"password_repeat\":\"abcdefghijkm\"}",
                                 id),
                   KF_OK);
  expect_post(f, path, body, 400, "\"VALIDATION_FAILED\"",
              "{\"field\":\"password\",\"code\":\"PASSWORD_UPPERCASE\"",
              "\"PASSWORD_REPEAT_MISMATCH\"", "\"password_checks\":[{\"criterion\":\"length\"",
              NULL);
  assert_int_equal(kf_str_format(body, sizeof body, "{\"id\":\"%s\"}", id), KF_OK);
  expect_post(f, path, body, 400, "\"PASSWORD_REQUIRED\"", "\"PASSWORD_REPEAT_REQUIRED\"", NULL);
  /* Nothing of that used the link. */
  assert_int_equal(kf_str_format(body, sizeof body,
                                 "{\"id\":\"%s\",\"password\":\"" NEW_PW
                                 "\",\"password_repeat\":\"" NEW_PW "\"}",
                                 id),
                   KF_OK);
  expect_post(f, path, body, 200, "\"message\":\"Ihr Passwort wurde ge", NULL);
  expect_post(f, path, body, 410, "\"RESET_LINK_USED\"", NULL);
  /* A link that is not valid is told before the password is judged. */
  expect_post(f, "/api/v1/password-resets", "{\"username\":\"max@example.de\"}", 202, NULL);
  last_reset_id(f, user, id);
  sqlite3 *conn = NULL;
  assert_int_equal(ks_db_conn(f->s.srv.db, &conn, NULL), KF_OK);
  assert_int_equal(kf_sql_run(conn, NULL, NULL,
                              "UPDATE reset_links SET expires_at = 0 WHERE used_at IS NULL", ""),
                   KF_OK);
  assert_int_equal(kf_str_format(body, sizeof body, "{\"id\":\"%s\",\"password\":\"x\"}", id),
                   KF_OK);
  expect_post(f, path, body, 410, "\"RESET_LINK_EXPIRED\"", NULL);
}

int main(void) {
  kf_log_setup("test_server_recovery", KF_LOG_OFF);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reset_link_rules),
      cmocka_unit_test_setup_teardown(test_reset_request, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_reset_confirm, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_reset_supersede_and_expiry, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(test_reminder, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_routes_answer_alike, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_route_confirm, fixture_setup, fixture_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
