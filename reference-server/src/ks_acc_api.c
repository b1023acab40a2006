/*
 * ks_acc_api.c: the account area's handlers.
 *
 * Handlers validate input, call one ks_account or ks_session operation and
 * turn its result into the documented answer. Nothing an answer says may
 * depend on whether an address has an account (ACC-10, AUTH-04).
 */
#include "ks_acc_api.h"

#include <string.h>

#include "kf/log.h"
#include "kf/version.h"
#include "ks_account.h"
#include "ks_address.h"
#include "ks_fault.h"
#include "ks_handler.h"
#include "ks_html.h"
#include "ks_password.h"

#define ACC_REGISTERED_MESSAGE                                                                     \
  "Sie erhalten direkt eine E-Mail in Ihr E-Mail-Postfach. Klicken Sie (innerhalb von 24 "         \
  "Stunden) auf den Link in der von uns erhaltenen E-Mail und melden Sie sich mit den von "        \
  "Ihnen zuvor gewähltem Benutzernamen (angegebene E-Mailadresse) und Passwort an."
#define ACC_RESENT_MESSAGE                                                                         \
  "Wenn zu dieser E-Mail-Adresse ein noch nicht bestätigtes Konto besteht, erhalten Sie eine "    \
  "neue E-Mail mit einem Bestätigungslink. Der Link ist 24 Stunden gültig."

/* ---- Health. ---- */

static void acc_health(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  ks_handler_json_answer(req, resp, 200,
                         json_pack("{s:s, s:s, s:b}", "status", "ok", "version", KONFORM_VERSION,
                                   "test_mode", srv->cfg->test_mode));
}

/* ---- Registration (ACC-01..05, 10, 11). ---- */

ks_address_status ks_acc_normalise(const ks_server *srv, const char *raw, size_t len, char *out,
                                   size_t out_size) {
  if (ks_fault_on(srv, KS_FAULT_NEWLINE_TRIMMED)) {
    while (len > 0 && (raw[0] == '\r' || raw[0] == '\n')) {
      raw++;
      len--;
    }
    while (len > 0 && (raw[len - 1] == '\r' || raw[len - 1] == '\n'))
      len--;
  }
  ks_address_status st = ks_address_normalise(raw, len, out, out_size);
  char *at = st == KS_ADDRESS_OK ? strchr(out, '@') : NULL;
  if (at != NULL && ks_fault_on(srv, KS_FAULT_LOCAL_PART_LOWERCASED)) {
    for (char *p = out; p < at; p++)
      *p = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
  }
  /* The normalised form is raw without its blanks; its domain is put back as typed. */
  if (at != NULL && ks_fault_on(srv, KS_FAULT_DOMAIN_CASE_KEPT))
    memcpy(at, memchr(raw, '@', len), strlen(at));
  return st;
}

void ks_acc_check_email(const ks_server *srv, const json_t *body, json_t *error, char *email,
                        size_t email_size) {
  const char *raw;
  size_t raw_len;
  ks_member m = ks_handler_string(body, "email", &raw, &raw_len);
  email[0] = '\0';
  if (m == KS_MEMBER_WRONG_TYPE) {
    ks_error_add_field(error, "email", KS_FIELD_INVALID_FIELD);
    return;
  }
  ks_address_status st = ks_acc_normalise(srv, raw, raw_len, email, email_size);
  if (st != KS_ADDRESS_OK)
    ks_error_add_field(error, "email", ks_address_status_field(st));
}

/*
 * The body, with a fresh VALIDATION_FAILED error in *error (NULL when memory
 * ran out, which ks_handler_refused answers) holding the address's problem;
 * email gets the normalised address.
 */
static const json_t *acc_email_body(const ks_server *srv, kf_http_req *req, json_t **error,
                                    char email[KS_ADDRESS_MAX + 1]) {
  const json_t *body = ks_handler_json(req);
  *error = ks_error_new(KS_ERR_VALIDATION_FAILED);
  ks_acc_check_email(srv, body, *error, email, KS_ADDRESS_MAX + 1);
  return body;
}

/* A consent counts only as the JSON value true (ACC-03; ks_handler_consent). */
static bool acc_consent(const ks_server *srv, const json_t *body, const char *key) {
  const json_t *v = json_object_get(body, key);
  if (json_is_string(v) && strcmp(json_string_value(v), "true") == 0 &&
      ks_fault_on(srv, KS_FAULT_CONSENT_STRING_ACCEPTED))
    return true;
  return ks_handler_consent(body, key);
}

static void acc_register(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  char email[KS_ADDRESS_MAX + 1];
  json_t *error;
  ks_server *srv = ctx;
  const json_t *body = acc_email_body(srv, req, &error, email);
  const char *pw;
  size_t pw_len;
  kf_pw_report report;
  ks_password_check(srv, body, error, &pw, &pw_len, &report);
  if (!acc_consent(srv, body, "accept_terms"))
    ks_error_add_field(error, "accept_terms", KS_FIELD_TERMS_NOT_ACCEPTED);
  if (!acc_consent(srv, body, "consent_email"))
    ks_error_add_field(error, "consent_email", KS_FIELD_EMAIL_CONSENT_MISSING);
  ks_password_attach_checks(error, &report);
  if (ks_handler_refused(req, resp, error))
    return;
  kf_err err;
  kf_err_init(&err);
  bool created = false;
  kf_rc rc = ks_account_register(srv, email, pw, pw_len, ks_handler_now(req), &created, &err);
  if (rc != KF_OK) {
    ks_handler_internal(req, resp, &err);
    return;
  }
  kf_debug("registration: %s", created ? "new account" : "existing address");
  /* The same bytes whether or not the address was new (ACC-10). */
  ks_handler_json_answer(req, resp,
                         !created && ks_fault_on(srv, KS_FAULT_DUPLICATE_ANSWERS_200) ? 200 : 202,
                         json_pack("{s:s, s:s}", "status", "confirmation_mail_sent", "message",
                                   ACC_REGISTERED_MESSAGE));
}

/* ---- Confirmation (ACC-06..08). ---- */

static kf_rc acc_confirm(ks_server *srv, kf_http_req *req, const char *id, ks_link_verdict *v,
                         kf_err *err) {
  if (id == NULL) {
    *v = KS_LINK_NOT_FOUND;
    return KF_OK;
  }
  return ks_account_confirm(srv, id, ks_handler_now(req), v, err);
}

static void acc_confirm_json(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  const json_t *jid = json_object_get(ks_handler_json(req), "id");
  ks_link_verdict v = KS_LINK_NOT_FOUND;
  kf_err err;
  kf_err_init(&err);
  /* An id with an embedded NUL names no link; without this check the text
   * before the NUL would be looked up. */
  bool id_ok = json_is_string(jid) && strlen(json_string_value(jid)) == json_string_length(jid);
  kf_rc rc = acc_confirm(srv, req, id_ok ? json_string_value(jid) : NULL, &v, &err);
  if (rc != KF_OK) {
    ks_handler_internal(req, resp, &err);
    return;
  }
  if (v != KS_LINK_VALID) {
    ks_handler_error(req, resp, ks_link_verdict_error(v));
    return;
  }
  ks_handler_json_answer(req, resp, 200,
                         json_pack("{s:s, s:s, s:{s:s, s:s}}", "status", "confirmed", "message",
                                   ks_link_verdict_message(v), "next", "label", "Zur Anmeldung",
                                   "href", "/anmelden"));
}

static void acc_confirm_link(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  ks_link_verdict v = KS_LINK_NOT_FOUND;
  kf_err err;
  kf_err_init(&err);
  /* A link names one id; with two it is none we sent (docs/openapi.yaml, x-konform-decisions). */
  const char *id = kf_http_req_query_count(req, "id") == 1 ? kf_http_req_query(req, "id") : NULL;
  /*
   * kf_httpd routes HEAD to this GET handler. A HEAD must never change state
   * (mail scanners and link checkers send them before a person clicks), so it
   * only judges the link and answers with the status and page a GET would
   * give now, a valid link included (200), without confirming anything.
   */
  bool head =
      strcmp(kf_http_req_method(req), "HEAD") == 0 && !ks_fault_on(srv, KS_FAULT_HEAD_CONFIRMS);
  kf_rc rc = KF_OK;
  if (id != NULL && head)
    rc = ks_account_check_link(srv, id, ks_handler_now(req), &v, &err);
  else
    rc = acc_confirm(srv, req, id, &v, &err);
  if (rc != KF_OK) {
    ks_handler_internal(req, resp, &err);
    return;
  }
  char *page = NULL;
  size_t len = 0;
  rc = ks_html_confirm_page(v, ks_handler_request_id(req), &page, &len);
  ks_handler_page(req, resp, ks_link_verdict_status(v), rc, page, len);
}

/* The fault resend-strips-controls: the body's address without its ASCII control characters. */
static void acc_strip_controls(const ks_server *srv, kf_http_req *req) {
  const char *raw;
  size_t len;
  json_t *body = ks_handler_json(req);
  char clean[KS_ADDRESS_MAX + 1];
  size_t n = 0;
  if (!ks_fault_on(srv, KS_FAULT_RESEND_STRIPS_CONTROLS) ||
      ks_handler_string(body, "email", &raw, &len) != KS_MEMBER_PRESENT)
    return;
  for (size_t i = 0; i < len && n < KS_ADDRESS_MAX; i++) {
    if ((unsigned char)raw[i] >= 0x20 && raw[i] != 0x7f)
      clean[n++] = raw[i];
  }
  (void)json_object_set_new(body, "email", json_stringn(clean, n));
}

static void acc_resend(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  char email[KS_ADDRESS_MAX + 1];
  json_t *error;
  ks_server *srv = ctx;
  acc_strip_controls(srv, req);
  (void)acc_email_body(srv, req, &error, email);
  if (ks_handler_refused(req, resp, error))
    return;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = ks_account_resend(srv, email, ks_handler_now(req), NULL, &err);
  if (rc != KF_OK) {
    ks_handler_internal(req, resp, &err);
    return;
  }
  ks_handler_json_answer(
      req, resp, 202,
      json_pack("{s:s, s:s}", "status", "confirmation_mail_sent", "message", ACC_RESENT_MESSAGE));
}

static const ks_route acc_routes[] = {
    {"GET", "/api/v1/health", acc_health, 0, KS_STAGE_NONE},
    {"POST", "/api/v1/registrations", acc_register, KS_ROUTE_JSON, KS_STAGE_NONE},
    {"POST", "/api/v1/email-confirmations/resend", acc_resend, KS_ROUTE_JSON, KS_STAGE_NONE},
    {"POST", "/api/v1/email-confirmations", acc_confirm_json, KS_ROUTE_JSON, KS_STAGE_NONE},
    {"GET", KS_LINK_PATH, acc_confirm_link, KS_ROUTE_HTML, KS_STAGE_NONE},
};

const ks_area ks_acc_api = {"acc", acc_routes, sizeof acc_routes / sizeof acc_routes[0]};
