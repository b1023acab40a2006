/*
 * ks_auth_api.c: the auth area's handlers.
 *
 * Handlers validate input, call ks_login or ks_session and turn the result
 * into the documented answer. Nothing an answer says may depend on whether a
 * username has an account (AUTH-04): an unknown one is refused and locked
 * exactly as a known one with a wrong password.
 */
#include "ks_auth_api.h"

#include <assert.h>
#include <sodium.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/sql.h"
#include "ks_acc_api.h"
#include "ks_fault.h"
#include "ks_handler.h"
#include "ks_login.h"

/* The answer to a login that started no session. */
static const ks_error auth_login_errors[KS_LOGIN_RESULT_COUNT] = {
    [KS_LOGIN_INVALID] = KS_ERR_INVALID_CREDENTIALS,
    [KS_LOGIN_UNCONFIRMED] = KS_ERR_EMAIL_NOT_CONFIRMED,
    [KS_LOGIN_LOCKED] = KS_ERR_ACCOUNT_LOCKED,
    [KS_LOGIN_PASSKEY_REQUIRED] = KS_ERR_PASSKEY_REQUIRED,
};

/* Answer 400 when a member is missing or mistyped; true when it did. */
static bool auth_login_invalid(kf_http_req *req, kf_http_resp *resp, ks_member user_m,
                               ks_member pw_m) {
  if (user_m == KS_MEMBER_PRESENT && pw_m == KS_MEMBER_PRESENT)
    return false;
  json_t *error = ks_error_new(KS_ERR_VALIDATION_FAILED);
  (void)ks_handler_member_problem(error, "username", user_m, KS_FIELD_USERNAME_REQUIRED);
  (void)ks_handler_member_problem(error, "password", pw_m, KS_FIELD_PASSWORD_REQUIRED);
  ks_handler_invalid(req, resp, error);
  return true;
}

/*
 * The username as the accounts table and the lockout know it: an address
 * normalised (domain in lower case, AUTH-01 with ACC-11); true when it is
 * one. Otherwise out holds the input as typed, which still counts failures.
 */
static bool auth_username(const ks_server *srv, const char *raw, size_t len,
                          char out[KS_ADDRESS_MAX + 1]) {
  if (ks_acc_normalise(srv, raw, len, out, KS_ADDRESS_MAX + 1) == KS_ADDRESS_OK) {
    char *at = strchr(out, '@');
    /* The normalised form is raw without its blanks; its domain is put back as typed. */
    if (at != NULL && ks_fault_on(srv, KS_FAULT_USERNAME_CASE_SENSITIVE))
      memcpy(at, memchr(raw, '@', len), strlen(at));
    return true;
  }
  /*
   * A non-address names no account; it only keys its lockout row, by the
   * text up to any NUL without the blanks around it, cut at the cap.
   */
  len = strnlen(raw, len);
  while (len > 0 && raw[0] == ' ') {
    raw++;
    len--;
  }
  while (len > 0 && raw[len - 1] == ' ')
    len--;
  size_t n = len < KS_ADDRESS_MAX ? len : KS_ADDRESS_MAX;
  memcpy(out, raw, n);
  out[n] = '\0';
  return false;
}

static void auth_login(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  const json_t *body = ks_handler_json(req);
  const char *user, *pw;
  size_t user_len, pw_len;
  ks_member user_m = ks_handler_string(body, "username", &user, &user_len);
  ks_member pw_m = ks_handler_string(body, "password", &pw, &pw_len);
  /* A username of only spaces is empty after trimming, as registration treats an address. */
  if (user_m == KS_MEMBER_PRESENT && ks_handler_blank(user, user_len))
    user_m = KS_MEMBER_ABSENT;
  if (auth_login_invalid(req, resp, user_m, pw_m))
    return;
  char username[KS_ADDRESS_MAX + 1];
  bool is_address = auth_username(srv, user, user_len, username);
  ks_login_answer answer;
  kf_err err;
  kf_err_init(&err);
  /* A username that is not an address still costs one password verification. */
  kf_rc rc = ks_login_password(srv, is_address ? username : NULL, username, pw, pw_len,
                               ks_handler_now(req), &answer, &err);
  if (rc != KF_OK)
    ks_handler_internal(req, resp, &err);
  else if (answer.result != KS_LOGIN_OK)
    ks_handler_error(req, resp, auth_login_errors[answer.result]);
  else
    ks_handler_json_answer(req, resp, 201,
                           json_pack("{s:s, s:s}", "token", answer.token, "stage",
                                     ks_session_stage_name(answer.stage)));
  sodium_memzero(answer.token, sizeof answer.token);
}

/* The filter checked the session (the row's stage); this ends it. */
static void auth_logout(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  if (ks_fault_on(srv, KS_FAULT_LOGOUT_KEEPS_SESSION)) {
    kf_http_resp_empty(resp, 204);
    return;
  }
  bool found = false;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = ks_session_end(srv->db, ks_handler_token(req), ks_handler_now(req), &found, &err);
  if (rc != KF_OK) {
    ks_handler_internal(req, resp, &err);
    return;
  }
  /* Another request may have ended it since the filter looked. */
  if (!found) {
    ks_handler_error(req, resp, KS_ERR_UNAUTHENTICATED);
    return;
  }
  kf_http_resp_empty(resp, 204);
}

/* What the session and account routes show of the session's account. */
typedef struct auth_account {
  char *username; /* Owned (kf_free). */
  bool totp;
  int64_t passkeys;
} auth_account;

static kf_rc auth_account_read(const ks_server *srv, int64_t account_id, auth_account *a,
                               kf_err *err) {
  memset(a, 0, sizeof *a);
  sqlite3 *conn = NULL;
  kf_rc rc = ks_db_conn(srv->db, &conn, err);
  if (rc != KF_OK)
    return rc;
  kf_sql q;
  rc = kf_sql_query(&q, conn, err, "SELECT email FROM accounts WHERE id = ?", "i", account_id);
  if (rc != KF_OK)
    return rc;
  bool row = false;
  rc = kf_sql_step(&q, &row, err);
  if (rc == KF_OK && !row)
    rc = kf_err_set(err, KF_ERR_STATE, "session of no account %lld", (long long)account_id);
  if (rc == KF_OK)
    rc = kf_sql_text_dup(&q, 0, &a->username, NULL, err);
  kf_sql_finalize(&q);
  if (rc == KF_OK)
    rc = ks_login_factors(conn, account_id, &a->totp, &a->passkeys, err);
  return rc;
}

/* Answer 200 with the session's account: with its stage (current session) or as the account. */
static void auth_account_answer(kf_http_req *req, kf_http_resp *resp, const ks_server *srv,
                                bool session) {
  const ks_reqctx *c = ks_handler_ctx(req);
  assert(c != NULL && c->token != NULL);
  auth_account a;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = auth_account_read(srv, c->session.account_id, &a, &err);
  json_t *body = NULL;
  if (rc == KF_OK && session)
    body = json_pack("{s:s, s:s, s:b, s:I}", "stage", ks_session_stage_name(c->stage), "username",
                     a.username, "totp", a.totp, "passkeys", (json_int_t)a.passkeys);
  else if (rc == KF_OK)
    body = json_pack("{s:s, s:b, s:b, s:I}", "username", a.username, "email_confirmed", 1, "totp",
                     a.totp, "passkeys", (json_int_t)a.passkeys);
  kf_free(a.username);
  if (rc != KF_OK)
    ks_handler_internal(req, resp, &err);
  else
    ks_handler_json_answer(req, resp, 200, body);
}

static void auth_session_get(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  auth_account_answer(req, resp, ctx, true);
}

static void auth_account_get(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  auth_account_answer(req, resp, ctx, false);
}

static const ks_route auth_routes[] = {
    {"POST", "/api/v1/sessions", auth_login, KS_ROUTE_JSON, KS_STAGE_NONE},
    {"GET", "/api/v1/sessions/current", auth_session_get, 0, KS_STAGE_SESSION},
    {"DELETE", "/api/v1/sessions/current", auth_logout, 0, KS_STAGE_SESSION},
    {"GET", "/api/v1/account", auth_account_get, 0, KS_STAGE_FULL},
};

const ks_area ks_auth_api = {"auth", auth_routes, sizeof auth_routes / sizeof auth_routes[0]};
