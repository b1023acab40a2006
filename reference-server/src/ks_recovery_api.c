/*
 * ks_recovery_api.c: the recovery area's handlers (AUTH-07).
 *
 * A request for a reset link or a reminder answers the same 202 bytes
 * whatever the username or address names, after the same work (AUTH-04);
 * only the mail, which goes to the account's own confirmed address, says
 * more. Setting the password judges the link before the password, so a
 * person whose link is gone learns it before choosing a new one.
 */
#include "ks_recovery_api.h"

#include <sodium.h>
#include <string.h>

#include "kf/password_policy.h"
#include "ks_acc_api.h"
#include "ks_address.h"
#include "ks_fault.h"
#include "ks_handler.h"
#include "ks_password.h"
#include "ks_recovery.h"

#define RECOVERY_RESET_REQUESTED_MESSAGE                                                           \
  "Wenn zu diesem Benutzernamen ein Konto mit bestätigter E-Mail-Adresse besteht, erhalten Sie "  \
  "eine E-Mail mit einem Link zum Zurücksetzen Ihres Passworts. Der Link ist 24 Stunden gültig."
#define RECOVERY_RESET_DONE_MESSAGE                                                                \
  "Ihr Passwort wurde geändert. Sie wurden auf allen Geräten abgemeldet. Bitte melden Sie sich " \
  "mit Ihrem neuen Passwort an."
#define RECOVERY_REMINDER_MESSAGE                                                                  \
  "Wenn zu dieser E-Mail-Adresse ein Konto mit bestätigter E-Mail-Adresse besteht, erhalten Sie " \
  "eine E-Mail mit Ihrem Benutzernamen. Haben Sie keine bestätigte E-Mail-Adresse, wenden Sie "   \
  "sich bitte an Ihr Jobcenter."
/* The reset-unknown-says-so fault's answer, which tells that a username has no account. */
#define RECOVERY_UNKNOWN_MESSAGE "Zu diesem Benutzernamen gibt es kein Konto."

/* Answer 202 {"message"}. */
static void recovery_accepted(kf_http_req *req, kf_http_resp *resp, const char *message) {
  ks_handler_json_answer(req, resp, 202, json_pack("{s:s}", "message", message));
}

/* ---- "Passwort vergessen": the link. ---- */

static void recovery_reset_request(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  const char *user;
  size_t user_len;
  ks_member user_m = ks_handler_string(ks_handler_json(req), "username", &user, &user_len);
  /* A username of only spaces is empty after trimming, as login treats it. */
  if (user_m == KS_MEMBER_PRESENT && ks_handler_blank(user, user_len))
    user_m = KS_MEMBER_ABSENT;
  json_t *error = ks_error_new(KS_ERR_VALIDATION_FAILED);
  (void)ks_handler_member_problem(error, "username", user_m, KS_FIELD_USERNAME_REQUIRED);
  if (ks_handler_refused(req, resp, error))
    return;
  /* Usernames are addresses: what is no address is nobody's, and still costs a request. */
  char username[KS_ADDRESS_MAX + 1];
  bool is_address =
      ks_address_normalise(user, user_len, username, sizeof username) == KS_ADDRESS_OK;
  bool issued = false;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = ks_recovery_reset_request(srv, is_address ? username : NULL, ks_handler_now(req),
                                       &issued, &err);
  if (rc != KF_OK) {
    ks_handler_internal(req, resp, &err);
    return;
  }
  bool tells = !issued && ks_fault_on(srv, KS_FAULT_RESET_UNKNOWN_SAYS_SO);
  recovery_accepted(req, resp, tells ? RECOVERY_UNKNOWN_MESSAGE : RECOVERY_RESET_REQUESTED_MESSAGE);
}

/* ---- "Passwort vergessen": the new password. ---- */

/* The link id of body; NULL when it is none (missing, not a string, or with a NUL). */
static const char *recovery_body_id(const json_t *body) {
  const json_t *jid = json_object_get(body, "id");
  if (!json_is_string(jid) || strlen(json_string_value(jid)) != json_string_length(jid))
    return NULL;
  return json_string_value(jid);
}

/*
 * The new password of body into *pw, ACC-04's checks' problems into a 400
 * answered here: true when it answered.
 */
static bool recovery_password_refused(const ks_server *srv, kf_http_req *req, kf_http_resp *resp,
                                      const char **pw, size_t *pw_len) {
  const json_t *body = ks_handler_json(req);
  json_t *error = ks_error_new(KS_ERR_VALIDATION_FAILED);
  if (ks_fault_on(srv, KS_FAULT_RESET_SKIPS_PASSWORD_RULES)) {
    (void)ks_handler_string(body, "password", pw, pw_len);
  } else {
    kf_pw_report report;
    ks_password_check(srv, body, error, pw, pw_len, &report);
    ks_password_attach_checks(error, &report);
  }
  return ks_handler_refused(req, resp, error);
}

/* Answer a link that is not valid (v) with its error; true when it did. */
static bool recovery_link_refused(kf_http_req *req, kf_http_resp *resp, ks_reset_verdict v) {
  if (v == KS_RESET_VALID)
    return false;
  ks_handler_error(req, resp, v);
  return true;
}

static void recovery_reset_confirm(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  const char *id = recovery_body_id(ks_handler_json(req));
  int64_t now = ks_handler_now(req);
  ks_reset_verdict v = KS_ERR_RESET_LINK_NOT_FOUND;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = id != NULL ? ks_recovery_reset_check(srv, id, now, &v, &err) : KF_OK;
  const char *pw;
  size_t pw_len;
  if (rc == KF_OK && (recovery_link_refused(req, resp, v) ||
                      recovery_password_refused(srv, req, resp, &pw, &pw_len)))
    return;
  /* argon2 runs before the transaction, so it never holds the write lock. */
  char hash[crypto_pwhash_STRBYTES];
  memset(hash, 0, sizeof hash);
  if (rc == KF_OK)
    rc = ks_pwhash_hash(&srv->pwhash, pw, pw_len, hash, &err);
  /* The link is judged again in the transaction: another request may have used it since. */
  if (rc == KF_OK)
    rc = ks_recovery_reset_confirm(srv, id, hash, now, &v, &err);
  sodium_memzero(hash, sizeof hash);
  if (rc != KF_OK) {
    ks_handler_internal(req, resp, &err);
    return;
  }
  if (!recovery_link_refused(req, resp, v))
    ks_handler_json_answer(req, resp, 200,
                           json_pack("{s:s}", "message", RECOVERY_RESET_DONE_MESSAGE));
}

/* ---- "Benutzername / E-Mail-Adresse vergessen". ---- */

static void recovery_remind(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  char email[KS_ADDRESS_MAX + 1];
  json_t *error = ks_error_new(KS_ERR_VALIDATION_FAILED);
  ks_acc_check_email(srv, ks_handler_json(req), error, email, sizeof email);
  if (ks_handler_refused(req, resp, error))
    return;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = ks_recovery_remind(srv, email, ks_handler_now(req), NULL, &err);
  if (rc != KF_OK) {
    ks_handler_internal(req, resp, &err);
    return;
  }
  recovery_accepted(req, resp, RECOVERY_REMINDER_MESSAGE);
}

static const ks_route recovery_routes[] = {
    {"POST", "/api/v1/password-resets", recovery_reset_request, KS_ROUTE_JSON, KS_STAGE_NONE},
    {"POST", "/api/v1/password-resets/confirm", recovery_reset_confirm, KS_ROUTE_JSON,
     KS_STAGE_NONE},
    {"POST", "/api/v1/username-reminders", recovery_remind, KS_ROUTE_JSON, KS_STAGE_NONE},
};

const ks_area ks_recovery_api = {"recovery", recovery_routes,
                                 sizeof recovery_routes / sizeof recovery_routes[0]};
