/*
 * konform-server's auth area in-process (kf_httpd_serve_fake, no sockets):
 * the login's stages (second_factor_setup, second_factor with an active TOTP
 * secret, PASSKEY_REQUIRED for passkeys without TOTP), the lockout at exactly
 * the fifth failure, locked at +899 s and free at +900 s, not extended while
 * locked, reset by a success but not by a login to second_factor, the right
 * password refused while locked, an unknown username locked with the same
 * bytes (AUTH-04); idle expiry at exactly 1800 s after the last use (AUTH-06);
 * logout; GET /api/v1/account refused before the second factor (AUTH-02); the
 * ks_lockout API the TOTP module calls; and the auth handlers with each
 * allocation failing in turn: the normal answer or a 500, nothing
 * half-stored.
 *
 * Every request runs at a test clock (Konform-Clock), moved with
 * ks_clock_advance, so each boundary is hit to the second.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/httpd.h"
#include "kf/log.h"
#include "kf/str.h"
#include "kt_alloc.h"
#include "ks_account.h"
#include "ks_api.h"
#include "ks_clock.h"
#include "ks_db.h"
#include "ks_lockout.h"
#include "ks_server.h"
#include "ks_session.h"
#include "kt_server.h"

#define T0 INT64_C(1790000000)
#define PW "Abcdefgh12!x"
#define WRONG "Wrong-pass-123"
#define LOCKED_BODY                                                                                \
  "{\"error\":{\"code\":\"ACCOUNT_LOCKED\",\"message\":\"Ihr Konto ist vorübergehend gesperrt. "  \
  "Bitte versuchen Sie es später erneut.\",\"fields\":[]}}"
#define PASSKEY_BODY                                                                               \
  "{\"error\":{\"code\":\"PASSKEY_REQUIRED\",\"message\":\"Bitte melden Sie sich mit Ihrem "       \
  "Passkey an.\",\"fields\":[]}}"
#define INVALID_BODY                                                                               \
  "{\"error\":{\"code\":\"INVALID_CREDENTIALS\",\"message\":\"Benutzername oder Passwort ist "     \
  "nicht korrekt.\",\"fields\":[]}}"

typedef struct fixture {
  kt_server s;
  char clock[KS_CLOCK_ID_MAX]; /* Every request runs at this clock. */
  unsigned serial;             /* Makes each generated address unique. */
} fixture;

static int fixture_setup(void **state) {
  fixture *f = test_calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(kt_server_open(&f->s, "ks_auth", NULL), KF_OK);
  f->s.cfg.test_mode = true;
  assert_int_equal(kt_server_serve(&f->s, NULL, 0, 0, NULL), KF_OK);
  ks_clock c;
  assert_int_equal(ks_clock_create(f->s.srv.db, T0, NULL, T0, &c, NULL), KF_OK);
  assert_int_equal(kf_str_copy(f->clock, sizeof f->clock, c.id), KF_OK);
  ks_clock_release(&c);
  *state = f;
  return 0;
}

static int fixture_teardown(void **state) {
  fixture *f = *state;
  kt_server_close(&f->s);
  test_free(f);
  return 0;
}

/* Move the fixture's clock on by seconds. */
static void advance(fixture *f, int64_t seconds) {
  ks_clock c;
  assert_int_equal(ks_clock_advance(f->s.srv.db, f->clock, true, seconds, &c, NULL), KF_OK);
  ks_clock_release(&c);
}

static void exec_sql(fixture *f, const char *sql) {
  sqlite3 *conn = NULL;
  assert_int_equal(ks_db_conn(f->s.srv.db, &conn, NULL), KF_OK);
  assert_int_equal(sqlite3_exec(conn, sql, NULL, NULL, NULL), SQLITE_OK);
}

static int64_t scalar(fixture *f, const char *sql) {
  int64_t v = 0;
  assert_int_equal(kt_server_scalar(&f->s, sql, &v, NULL), KF_OK);
  return v;
}

/* A fresh confirmed account; its address goes to email. */
static void make_account(fixture *f, char *email, size_t size) {
  assert_int_equal(kf_str_format(email, size, "u%u@example.de", ++f->serial), KF_OK);
  assert_int_equal(ks_account_register(&f->s.srv, email, PW, strlen(PW), T0, NULL, NULL), KF_OK);
  exec_sql(f, "UPDATE accounts SET confirmed_at = 1790000000 WHERE confirmed_at IS NULL");
}

/* One request at the clock, with the session token when given. */
static void call(fixture *f, const char *method, const char *path, const char *token,
                 const char *body, kf_http_answer *out) {
  char bearer[KS_TOKEN_HEX_LEN + 16] = "";
  if (token != NULL)
    assert_int_equal(kf_str_format(bearer, sizeof bearer, "Bearer %s", token), KF_OK);
  const char *headers[] = {"Konform-Clock",
                           f->clock,
                           "Content-Type",
                           "application/json",
                           token != NULL ? "Authorization" : NULL,
                           bearer,
                           NULL};
  kf_http_fake_req in = {.method = method,
                         .path = path,
                         .headers = headers,
                         .body = body,
                         .body_len = body != NULL ? strlen(body) : 0};
  assert_int_equal(kf_httpd_serve_fake(f->s.httpd, &in, out, NULL), KF_OK);
}

/* A login as user with pw: its status; the body goes to body (may be NULL), the token to token. */
static unsigned login(fixture *f, const char *user, const char *pw, char *body, size_t body_size,
                      char token[KS_TOKEN_HEX_LEN + 1]) {
  char json[256];
  assert_int_equal(
      kf_str_format(json, sizeof json, "{\"username\":\"%s\",\"password\":\"%s\"}", user, pw),
      KF_OK);
  kf_http_answer a;
  call(f, "POST", "/api/v1/sessions", NULL, json, &a);
  if (body != NULL)
    assert_int_equal(kf_str_copy(body, body_size, a.body), KF_OK);
  if (token != NULL) {
    token[0] = '\0';
    json_t *j = json_loads(a.body, 0, NULL);
    const char *t = json_string_value(json_object_get(j, "token"));
    if (t != NULL)
      assert_int_equal(kf_str_copy(token, KS_TOKEN_HEX_LEN + 1, t), KF_OK);
    json_decref(j);
  }
  unsigned status = a.status;
  kf_http_answer_release(&a);
  return status;
}

/*
 * The status of method path with token; out (may be NULL) gets the body's
 * string member key, or for an object member its "code" ("" when neither).
 */
static unsigned ask(fixture *f, const char *method, const char *path, const char *token,
                    const char *key, char *out, size_t out_size) {
  kf_http_answer a;
  call(f, method, path, token, NULL, &a);
  if (out != NULL) {
    json_t *j = json_loads(a.body, 0, NULL);
    json_t *v = json_object_get(j, key);
    if (json_is_object(v))
      v = json_object_get(v, "code");
    const char *text = json_string_value(v);
    assert_int_equal(kf_str_copy(out, out_size, text != NULL ? text : ""), KF_OK);
    json_decref(j);
  }
  unsigned status = a.status;
  kf_http_answer_release(&a);
  return status;
}

static void assert_stage(fixture *f, const char *user, const char *stage) {
  char body[512], want[64];
  assert_int_equal(login(f, user, PW, body, sizeof body, NULL), 201);
  assert_int_equal(kf_str_format(want, sizeof want, "\"stage\":\"%s\"", stage), KF_OK);
  if (strstr(body, want) == NULL)
    fail_msg("login of %s: %s (expected stage %s)", user, body, stage);
}

/* ---- Login stages (AUTH-02, AUTH-03, PK-01). ---- */

static void test_login_stages(void **state) {
  fixture *f = *state;
  char email[64];
  make_account(f, email, sizeof email);
  /* No second factor: only setting one up. */
  assert_stage(f, email, "second_factor_setup");
  /* A pending TOTP secret is no second factor yet. */
  exec_sql(f, "INSERT INTO totp_secrets (account_id, secret, active, created_at) "
              "SELECT id, x'00', 0, 0 FROM accounts");
  assert_stage(f, email, "second_factor_setup");
  /* An active one: the code is still to come. */
  exec_sql(f, "UPDATE totp_secrets SET active = 1");
  assert_stage(f, email, "second_factor");
  /* Passkeys beside TOTP: the password and the code still work. */
  exec_sql(f, "INSERT INTO passkeys (account_id, credential_id, public_key, algorithm, "
              "sign_count, backup_eligible, created_at) SELECT id, x'01', x'02', -7, 0, 0, 0 "
              "FROM accounts");
  assert_stage(f, email, "second_factor");
  /* Passkeys alone: the passkey is the login; a password starts nothing. */
  exec_sql(f, "DELETE FROM totp_secrets");
  int64_t sessions = scalar(f, "SELECT count(*) FROM sessions");
  char body[512];
  assert_int_equal(login(f, email, PW, body, sizeof body, NULL), 403);
  assert_string_equal(body, PASSKEY_BODY);
  assert_int_equal(scalar(f, "SELECT count(*) FROM sessions"), sessions);
  /* Only with the right password: a wrong one is the ordinary failure. */
  assert_int_equal(login(f, email, WRONG, body, sizeof body, NULL), 401);
  assert_string_equal(body, INVALID_BODY);
}

static void test_unconfirmed_is_no_failure(void **state) {
  fixture *f = *state;
  assert_int_equal(ks_account_register(&f->s.srv, "new@example.de", PW, strlen(PW), T0, NULL, NULL),
                   KF_OK);
  for (int i = 0; i < 6; i++)
    assert_int_equal(login(f, "new@example.de", PW, NULL, 0, NULL), 403);
  assert_int_equal(scalar(f, "SELECT count(*) FROM login_failures"), 0);
}

/* ---- Lockout (AUTH-05). ---- */

static void fail_times(fixture *f, const char *user, int n) {
  for (int i = 0; i < n; i++)
    assert_int_equal(login(f, user, WRONG, NULL, 0, NULL), 401);
}

static void test_lockout_at_exactly_five(void **state) {
  fixture *f = *state;
  char email[64], body[512];
  make_account(f, email, sizeof email);
  fail_times(f, email, 4);
  /* The fifth failure locks, and says so. */
  assert_int_equal(login(f, email, WRONG, body, sizeof body, NULL), 423);
  assert_string_equal(body, LOCKED_BODY);
  /* The right password too, with the same bytes and no session. */
  assert_int_equal(login(f, email, PW, body, sizeof body, NULL), 423);
  assert_string_equal(body, LOCKED_BODY);
  assert_int_equal(scalar(f, "SELECT count(*) FROM sessions"), 0);
  advance(f, 899);
  assert_int_equal(login(f, email, PW, NULL, 0, NULL), 423);
  advance(f, 1);
  assert_int_equal(login(f, email, PW, NULL, 0, NULL), 201);
}

static void test_lockout_not_extended(void **state) {
  fixture *f = *state;
  char email[64];
  make_account(f, email, sizeof email);
  fail_times(f, email, 4);
  assert_int_equal(login(f, email, WRONG, NULL, 0, NULL), 423);
  advance(f, 600);
  assert_int_equal(login(f, email, WRONG, NULL, 0, NULL), 423);
  advance(f, 299);
  assert_int_equal(login(f, email, WRONG, NULL, 0, NULL), 423);
  advance(f, 1);
  /* Free, and the count starts from zero: four more failures do not lock. */
  fail_times(f, email, 4);
  assert_int_equal(login(f, email, PW, NULL, 0, NULL), 201);
}

static void test_lockout_reset_on_success(void **state) {
  fixture *f = *state;
  char email[64];
  make_account(f, email, sizeof email);
  fail_times(f, email, 4);
  assert_int_equal(login(f, email, PW, NULL, 0, NULL), 201);
  fail_times(f, email, 4);
  assert_int_equal(login(f, email, PW, NULL, 0, NULL), 201);
  fail_times(f, email, 4);
  assert_int_equal(login(f, email, WRONG, NULL, 0, NULL), 423);
}

/* A right password that leads to second_factor is not the success that resets. */
static void test_second_factor_login_does_not_reset(void **state) {
  fixture *f = *state;
  char email[64];
  make_account(f, email, sizeof email);
  exec_sql(f, "INSERT INTO totp_secrets (account_id, secret, active, created_at) "
              "SELECT id, x'00', 1, 0 FROM accounts");
  fail_times(f, email, 4);
  assert_stage(f, email, "second_factor");
  assert_int_equal(login(f, email, WRONG, NULL, 0, NULL), 423);
}

static void test_unknown_username_locks_alike(void **state) {
  fixture *f = *state;
  char email[64], known[512], unknown[512];
  make_account(f, email, sizeof email);
  /* The same bytes at every attempt, the locking one and the locked ones included. */
  for (int i = 1; i <= 7; i++) {
    unsigned st = login(f, email, WRONG, known, sizeof known, NULL);
    assert_int_equal(login(f, "nobody@example.de", WRONG, unknown, sizeof unknown, NULL), st);
    assert_int_equal(st, i < 5 ? 401 : 423);
    assert_string_equal(known, unknown);
  }
  /* A username that is no address locks as well. */
  fail_times(f, "ba-12345", 4);
  assert_int_equal(login(f, " ba-12345  ", WRONG, NULL, 0, NULL), 423);
  /* Only hashes are stored: three usernames, none of them as text. */
  assert_int_equal(scalar(f, "SELECT count(*) FROM login_failures"), 3);
  assert_int_equal(
      scalar(f, "SELECT count(*) FROM login_failures WHERE username_hash LIKE '%example%'"), 0);
}

static void test_lockout_by_normalised_username(void **state) {
  fixture *f = *state;
  char email[64], shouted[64];
  make_account(f, email, sizeof email);
  assert_int_equal(kf_str_format(shouted, sizeof shouted, "  %.*sEXAMPLE.DE",
                                 (int)(strchr(email, '@') + 1 - email), email),
                   KF_OK);
  fail_times(f, shouted, 4);
  assert_int_equal(login(f, email, WRONG, NULL, 0, NULL), 423);
  assert_int_equal(login(f, shouted, PW, NULL, 0, NULL), 423);
}

/* The API the TOTP module calls, with the default policy and another. */
static void test_lockout_api(void **state) {
  fixture *f = *state;
  sqlite3 *conn = NULL;
  assert_int_equal(ks_db_conn(f->s.srv.db, &conn, NULL), KF_OK);
  bool locked = true, now_locked = true;
  assert_int_equal(ks_lockout_check(conn, "a@b.de", T0, &locked, NULL), KF_OK);
  assert_false(locked);
  for (int i = 1; i <= KS_LOCKOUT_ATTEMPTS; i++) {
    assert_int_equal(ks_lockout_fail(conn, "a@b.de", T0 + i, &now_locked, NULL), KF_OK);
    assert_int_equal(now_locked, i == KS_LOCKOUT_ATTEMPTS);
  }
  int64_t t5 = T0 + KS_LOCKOUT_ATTEMPTS;
  /* A failure while locked neither counts nor extends. */
  assert_int_equal(ks_lockout_fail(conn, "a@b.de", t5 + 10, &now_locked, NULL), KF_OK);
  assert_false(now_locked);
  assert_int_equal(ks_lockout_check(conn, "a@b.de", t5 + KS_LOCKOUT_SECONDS - 1, &locked, NULL),
                   KF_OK);
  assert_true(locked);
  assert_int_equal(ks_lockout_check(conn, "a@b.de", t5 + KS_LOCKOUT_SECONDS, &locked, NULL), KF_OK);
  assert_false(locked);
  /* Another username is untouched; a reset frees at once. */
  assert_int_equal(ks_lockout_check(conn, "A@b.de", t5, &locked, NULL), KF_OK);
  assert_false(locked);
  assert_int_equal(ks_lockout_reset(conn, "a@b.de", NULL), KF_OK);
  assert_int_equal(ks_lockout_check(conn, "a@b.de", t5 + 1, &locked, NULL), KF_OK);
  assert_false(locked);
  /* A policy of two failures and ten seconds. */
  const ks_lockout_policy p = {2, 10};
  assert_int_equal(ks_lockout_fail_with(conn, &p, "c@d.de", T0, &now_locked, NULL), KF_OK);
  assert_false(now_locked);
  assert_int_equal(ks_lockout_fail_with(conn, &p, "c@d.de", T0, &now_locked, NULL), KF_OK);
  assert_true(now_locked);
  assert_int_equal(ks_lockout_check(conn, "c@d.de", T0 + 9, &locked, NULL), KF_OK);
  assert_true(locked);
  assert_int_equal(ks_lockout_check(conn, "c@d.de", T0 + 10, &locked, NULL), KF_OK);
  assert_false(locked);
}

/* ---- Sessions (AUTH-06) and the second-factor gate (AUTH-02). ---- */

static void test_idle_expiry(void **state) {
  fixture *f = *state;
  char email[64], token[KS_TOKEN_HEX_LEN + 1];
  make_account(f, email, sizeof email);
  assert_int_equal(login(f, email, PW, NULL, 0, token), 201);
  assert_int_equal(strlen(token), KS_TOKEN_HEX_LEN);
  advance(f, 1799);
  assert_int_equal(ask(f, "GET", "/api/v1/sessions/current", token, NULL, NULL, 0), 200);
  assert_int_equal(scalar(f, "SELECT last_used_at FROM sessions"), T0 + 1799);
  /* A refused service is still a use. */
  advance(f, 1799);
  assert_int_equal(ask(f, "GET", "/api/v1/account", token, NULL, NULL, 0), 403);
  advance(f, 1800);
  assert_int_equal(ask(f, "GET", "/api/v1/sessions/current", token, NULL, NULL, 0), 401);
  assert_int_equal(ask(f, "DELETE", "/api/v1/sessions/current", token, NULL, NULL, 0), 401);
  /* A refused request is no use: the session stays idle since its last one. */
  assert_int_equal(scalar(f, "SELECT last_used_at FROM sessions"), T0 + 2 * 1799);
}

static void test_logout(void **state) {
  fixture *f = *state;
  char email[64], one[KS_TOKEN_HEX_LEN + 1], two[KS_TOKEN_HEX_LEN + 1];
  make_account(f, email, sizeof email);
  assert_int_equal(login(f, email, PW, NULL, 0, one), 201);
  assert_int_equal(login(f, email, PW, NULL, 0, two), 201);
  assert_string_not_equal(one, two);
  assert_int_equal(ask(f, "DELETE", "/api/v1/sessions/current", one, NULL, NULL, 0), 204);
  assert_int_equal(ask(f, "GET", "/api/v1/sessions/current", one, NULL, NULL, 0), 401);
  assert_int_equal(ask(f, "DELETE", "/api/v1/sessions/current", one, NULL, NULL, 0), 401);
  assert_int_equal(ask(f, "GET", "/api/v1/sessions/current", two, NULL, NULL, 0), 200);
  assert_int_equal(scalar(f, "SELECT count(*) FROM sessions WHERE ended_at = 1790000000"), 1);
}

static void test_account_and_session(void **state) {
  fixture *f = *state;
  char email[64], token[KS_TOKEN_HEX_LEN + 1], v[128];
  make_account(f, email, sizeof email);
  assert_int_equal(login(f, email, PW, NULL, 0, token), 201);
  assert_int_equal(ask(f, "GET", "/api/v1/account", token, "error", v, sizeof v), 403);
  assert_string_equal(v, "SECOND_FACTOR_REQUIRED");
  assert_int_equal(ask(f, "HEAD", "/api/v1/account", token, NULL, NULL, 0), 403);
  assert_int_equal(ask(f, "GET", "/api/v1/sessions/current", token, "stage", v, sizeof v), 200);
  assert_string_equal(v, "second_factor_setup");
  assert_int_equal(ask(f, "GET", "/api/v1/sessions/current", token, "username", v, sizeof v), 200);
  assert_string_equal(v, "u1@example.de");
  /* At second_factor the account is still closed. */
  exec_sql(f, "UPDATE sessions SET stage = 'second_factor'");
  assert_int_equal(ask(f, "GET", "/api/v1/account", token, NULL, NULL, 0), 403);
  /* A complete login opens it. */
  exec_sql(f, "UPDATE sessions SET stage = 'full'");
  exec_sql(f, "INSERT INTO totp_secrets (account_id, secret, active, created_at) "
              "SELECT id, x'00', 1, 0 FROM accounts");
  exec_sql(f, "INSERT INTO passkeys (account_id, credential_id, public_key, algorithm, "
              "sign_count, backup_eligible, created_at) SELECT id, x'01', x'02', -7, 0, 0, 0 "
              "FROM accounts");
  kf_http_answer a;
  call(f, "GET", "/api/v1/account", token, NULL, &a);
  assert_int_equal(a.status, 200);
  json_t *j = json_loads(a.body, 0, NULL);
  json_t *want = json_pack("{s:s, s:b, s:b, s:i}", "username", "u1@example.de", "email_confirmed",
                           1, "totp", 1, "passkeys", 1);
  assert_true(json_equal(j, want));
  json_decref(j);
  json_decref(want);
  kf_http_answer_release(&a);
  assert_int_equal(ask(f, "GET", "/api/v1/sessions/current", token, "stage", v, sizeof v), 200);
  assert_string_equal(v, "full");
  assert_int_equal(ask(f, "GET", "/api/v1/account", NULL, "error", v, sizeof v), 401);
  assert_string_equal(v, "UNAUTHENTICATED");
}

/* ---- Allocation failures: the answer or a 500, and nothing half-stored. ---- */

typedef struct sweep_ctx {
  fixture *f;
  const char *name;
  const char *method, *path, *body;
  char token[KS_TOKEN_HEX_LEN + 1];
  unsigned status;
  int64_t delta; /* What a clean run changes in sweep_state. */
  bool learning; /* The clean run that learns delta. */
  bool fresh;    /* Each run logs in as email first. */
  const char *email;
} sweep_ctx;

/* What the auth handlers store: sessions and failure counts. */
static int64_t sweep_state(fixture *f) {
  return scalar(f, "SELECT count(*) * 1000 + coalesce(sum(consecutive), 0) FROM login_failures") +
         1000000 * scalar(f, "SELECT count(*) FROM sessions");
}

static bool sweep_body(void *ctx, const kt_alloc_run *run) {
  sweep_ctx *s = ctx;
  /* Each run starts from no failures, so the failed logins never lock midway. */
  exec_sql(s->f, "DELETE FROM login_failures");
  /* A logout ends its session: each run ends a fresh one. */
  if (s->fresh)
    assert_int_equal(login(s->f, s->email, PW, NULL, 0, s->token), 201);
  int64_t before = sweep_state(s->f);
  char bearer[KS_TOKEN_HEX_LEN + 16];
  assert_int_equal(kf_str_format(bearer, sizeof bearer, "Bearer %s", s->token), KF_OK);
  const char *headers[] = {
      "Konform-Clock", s->f->clock, "Content-Type", "application/json", "Authorization",
      bearer,          NULL};
  kf_http_fake_req in = {.method = s->method,
                         .path = s->path,
                         .headers = headers,
                         .body = s->body,
                         .body_len = s->body != NULL ? strlen(s->body) : 0};
  kf_http_answer a;
  if (!s->learning)
    kt_alloc_arm(run);
  kf_rc rc = kf_httpd_serve_fake(s->f->s.httpd, &in, &a, NULL);
  kt_alloc_disarm();
  int64_t change = sweep_state(s->f) - before;
  if (rc != KF_OK) {
    assert_true(change == 0 || change == s->delta);
    return false;
  }
  bool ok = a.status == s->status;
  if (s->learning && !ok)
    fail_msg("%s: %u %s without failures", s->name, a.status, a.body);
  if (!ok && a.status != 500)
    fail_msg("%s: allocation %lu failed: %u %s", s->name, run->n, a.status, a.body);
  kf_http_answer_release(&a);
  if (s->learning)
    s->delta = change;
  else if (!ok && change != 0 && change != s->delta)
    fail_msg("%s: allocation %lu failed and left the database half-changed", s->name, run->n);
  return ok;
}

static void test_handlers_survive_allocation_failures(void **state) {
  fixture *f = *state;
  char email[64], login_ok[128], login_bad[128];
  make_account(f, email, sizeof email);
  assert_int_equal(kf_str_format(login_ok, sizeof login_ok,
                                 "{\"username\":\"%s\",\"password\":\"" PW "\"}", email),
                   KF_OK);
  assert_int_equal(kf_str_format(login_bad, sizeof login_bad,
                                 "{\"username\":\"x%s\",\"password\":\"" PW "\"}", email),
                   KF_OK);
  sweep_ctx s = {.f = f, .email = email};
  assert_int_equal(login(f, email, PW, NULL, 0, s.token), 201);
  exec_sql(f, "UPDATE sessions SET stage = 'full'");
  const struct {
    const char *name, *method, *path, *body;
    unsigned status;
  } cases[] = {
      {"login", "POST", "/api/v1/sessions", login_ok, 201},
      {"failed login", "POST", "/api/v1/sessions", login_bad, 401},
      {"session", "GET", "/api/v1/sessions/current", NULL, 200},
      {"account", "GET", "/api/v1/account", NULL, 200},
      {"logout", "DELETE", "/api/v1/sessions/current", NULL, 204},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    s.name = cases[i].name;
    s.method = cases[i].method;
    s.path = cases[i].path;
    s.body = cases[i].body;
    s.status = cases[i].status;
    s.fresh = strcmp(s.name, "logout") == 0;
    s.learning = true;
    assert_true(sweep_body(&s, &(kt_alloc_run){0, false}));
    s.learning = false;
    unsigned long n = kt_alloc_sweep(sweep_body, &s);
    print_message("%s: %lu allocations, each failed in both modes\n", s.name, n);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_login_stages, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_unconfirmed_is_no_failure, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(test_lockout_at_exactly_five, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(test_lockout_not_extended, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_lockout_reset_on_success, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(test_second_factor_login_does_not_reset, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(test_unknown_username_locks_alike, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(test_lockout_by_normalised_username, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(test_lockout_api, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_idle_expiry, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_logout, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_account_and_session, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_handlers_survive_allocation_failures, fixture_setup,
                                      fixture_teardown),
  };
  kf_log_setup("test_server_auth", KF_LOG_OFF);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
