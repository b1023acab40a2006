/*
 * ks_api.c: the konform-server HTTP handlers.
 *
 * Handlers validate input, call one ks_account or ks_clock operation and turn
 * its result into the documented answer. Nothing an answer says may depend on
 * whether an address has an account (ACC-10, AUTH-04).
 */
#include "ks_api.h"

#include <assert.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/log.h"
#include "kf/password_policy.h"
#include "kf/str.h"
#include "kf/timeutil.h"
#include "kf/utf8.h"
#include "kf/version.h"
#include "ks_account.h"
#include "ks_address.h"
#include "ks_clock.h"
#include "ks_html.h"

#define API_VALIDATION_MESSAGE "Bitte prüfen Sie Ihre Eingaben."
#define API_INVALID_FIELD_MESSAGE "Dieses Feld hat einen ungültigen Wert."
#define API_REGISTERED_MESSAGE                                                                     \
  "Sie erhalten direkt eine E-Mail in Ihr E-Mail-Postfach. Klicken Sie (innerhalb von 24 "         \
  "Stunden) auf den Link in der von uns erhaltenen E-Mail und melden Sie sich mit den von "        \
  "Ihnen zuvor gewähltem Benutzernamen (angegebene E-Mailadresse) und Passwort an."
#define API_RESENT_MESSAGE                                                                         \
  "Wenn zu dieser E-Mail-Adresse ein noch nicht bestätigtes Konto besteht, erhalten Sie eine "    \
  "neue E-Mail mit einem Bestätigungslink. Der Link ist 24 Stunden gültig."

/* The time of the request being handled, owned by the request (kf_free). */
typedef struct api_reqclock {
  int64_t now;
} api_reqclock;

int64_t ks_api_now(const kf_http_req *req) {
  const api_reqclock *c = kf_http_req_user(req);
  return c != NULL ? c->now : kf_time_real_now();
}

static void api_internal_error(kf_http_resp *resp, const kf_err *err) {
  kf_error("internal error: %s", err->message);
  kf_http_resp_error(resp, 500, "INTERNAL_ERROR",
                     "Interner Fehler. Bitte versuchen Sie es später erneut.");
}

/* Whether the request's route answers with HTML, so its errors should be pages too. */
static bool api_html_route(const kf_http_req *req) {
  const char *path = kf_http_req_path(req);
  return path != NULL && (strcmp(path, KS_LINK_PATH) == 0 || strcmp(path, "/anmelden") == 0);
}

/*
 * An error answer from the filter. The filter runs after routing, so it knows
 * whether a browser opened an HTML route (the link in the mail): there the
 * error is a page, elsewhere the JSON error shape.
 */
static void api_filter_error(kf_http_req *req, kf_http_resp *resp, unsigned status,
                             const char *code, const char *message) {
  if (api_html_route(req)) {
    char *page = NULL;
    size_t len = 0;
    if (ks_html_error_page(code, message, &page, &len) == KF_OK) {
      kf_http_resp_bytes(resp, status, KS_HTML_CONTENT_TYPE, page, len);
      kf_free(page);
      return;
    }
  }
  kf_http_resp_error(resp, status, code, message);
}

static bool api_filter(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  api_reqclock *clock_slot = kf_malloc(sizeof *clock_slot);
  if (clock_slot == NULL) {
    api_filter_error(req, resp, 500, "INTERNAL_ERROR",
                     "Interner Fehler. Bitte versuchen Sie es später erneut.");
    return false;
  }
  clock_slot->now = kf_time_real_now();
  kf_http_req_set_user_owned(req, clock_slot, kf_free);
  if (!srv->cfg->test_mode)
    return true;
  const char *id = kf_http_req_header(req, KS_CLOCK_HEADER);
  if (id == NULL)
    return true;
  ks_clock clock;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = ks_clock_get(srv->db, id, &clock, &err);
  if (rc == KF_ERR_NOT_FOUND) {
    api_filter_error(req, resp, 400, "CLOCK_NOT_FOUND",
                     "Die im Kopf Konform-Clock genannte Testuhr gibt es nicht.");
    return false;
  }
  if (rc != KF_OK) {
    kf_error("internal error: %s", err.message);
    api_filter_error(req, resp, 500, "INTERNAL_ERROR",
                     "Interner Fehler. Bitte versuchen Sie es später erneut.");
    return false;
  }
  clock_slot->now = clock.frozen_time;
  ks_clock_release(&clock);
  return true;
}

/* ---- Health and pages. ---- */

static void api_health(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  (void)req;
  ks_server *srv = ctx;
  kf_http_resp_json(resp, 200,
                    json_pack("{s:s, s:s, s:b}", "status", "ok", "version", KONFORM_VERSION,
                              "test_mode", srv->cfg->test_mode));
}

static void api_send_html(kf_http_resp *resp, unsigned status, kf_rc rc, char *page, size_t len) {
  if (rc != KF_OK) {
    kf_http_resp_error(resp, 500, "INTERNAL_ERROR", "Interner Fehler.");
    return;
  }
  kf_http_resp_bytes(resp, status, KS_HTML_CONTENT_TYPE, page, len);
  kf_free(page);
}

static void api_login_page(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  (void)req;
  (void)ctx;
  char *page = NULL;
  size_t len = 0;
  kf_rc rc = ks_html_login_page(&page, &len);
  api_send_html(resp, 200, rc, page, len);
}

/* ---- Registration (ACC-01..05, 10, 11). ---- */

/* How a JSON member looked: absent/null, of the wrong type, or usable. */
typedef enum api_member { API_ABSENT, API_WRONG_TYPE, API_PRESENT } api_member;

static api_member api_string(const json_t *obj, const char *key, const char **s, size_t *len) {
  const json_t *v = json_object_get(obj, key);
  *s = "";
  *len = 0;
  if (v == NULL || json_is_null(v))
    return API_ABSENT;
  if (!json_is_string(v))
    return API_WRONG_TYPE;
  *s = json_string_value(v);
  *len = json_string_length(v);
  return *len == 0 ? API_ABSENT : API_PRESENT;
}

/* Whether the len bytes at s are all spaces (the only blank an address trims). */
static bool api_blank(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    if (s[i] != ' ')
      return false;
  }
  return true;
}

/*
 * A consent counts only as the JSON value true. Anything else - absent, null,
 * false, or a look-alike such as "true" or 1 - is no consent, and the answer
 * names the consent that is missing (ACC-03).
 */
static bool api_consent(const json_t *obj, const char *key) {
  return json_is_true(json_object_get(obj, key));
}

/* Check the address member; on success email holds the normalised form. */
static void api_check_email(const json_t *body, json_t *error, char *email, size_t email_size) {
  const char *raw;
  size_t raw_len;
  api_member m = api_string(body, "email", &raw, &raw_len);
  email[0] = '\0';
  if (m == API_WRONG_TYPE) {
    kf_http_error_add_field(error, "email", "INVALID_FIELD", API_INVALID_FIELD_MESSAGE);
    return;
  }
  ks_address_status st = ks_address_normalise(raw, raw_len, email, email_size);
  if (st != KS_ADDRESS_OK)
    kf_http_error_add_field(error, "email", ks_address_status_code(st),
                            ks_address_status_message(st));
}

static size_t api_error_field_count(const json_t *error) {
  return json_array_size(json_object_get(error, "fields"));
}

static json_t *api_password_checks(const kf_pw_report *report) {
  json_t *checks = json_array();
  for (int c = 0; c < KF_PW_CRITERIA_COUNT; c++) {
    json_array_append_new(
        checks, json_pack("{s:s, s:b, s:s}", "criterion", kf_pw_criterion_key((kf_pw_criterion)c),
                          "ok", report->ok[c], "label", kf_pw_criterion_label((kf_pw_criterion)c)));
  }
  return checks;
}

static void api_register(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  json_t *body = NULL;
  if (kf_http_req_json(req, resp, &body) != KF_OK)
    return;
  json_t *error = kf_http_error_new("VALIDATION_FAILED", API_VALIDATION_MESSAGE);
  char email[KS_ADDRESS_MAX + 1];
  api_check_email(body, error, email, sizeof email);

  const char *pw, *rep;
  size_t pw_len, rep_len;
  api_member pw_m = api_string(body, "password", &pw, &pw_len);
  api_member rep_m = api_string(body, "password_repeat", &rep, &rep_len);
  kf_pw_report report;
  kf_pw_check(pw, pw_len, rep_m == API_PRESENT ? rep : NULL, rep_len, &report);
  if (pw_m == API_ABSENT) {
    kf_http_error_add_field(error, "password", "PASSWORD_REQUIRED",
                            "Bitte geben Sie ein Passwort ein.");
  } else if (pw_m == API_WRONG_TYPE) {
    kf_http_error_add_field(error, "password", "INVALID_FIELD", API_INVALID_FIELD_MESSAGE);
  } else {
    /* Every failed criterion on its own, in checklist order (ACC-04). */
    for (int c = KF_PW_LENGTH; c <= KF_PW_FORBIDDEN; c++) {
      if (!report.ok[c])
        kf_http_error_add_field(error, "password", kf_pw_criterion_code((kf_pw_criterion)c),
                                kf_pw_criterion_label((kf_pw_criterion)c));
    }
  }
  if (rep_m == API_ABSENT) {
    kf_http_error_add_field(error, "password_repeat", "PASSWORD_REPEAT_REQUIRED",
                            "Bitte wiederholen Sie das Passwort.");
  } else if (rep_m == API_WRONG_TYPE) {
    kf_http_error_add_field(error, "password_repeat", "INVALID_FIELD", API_INVALID_FIELD_MESSAGE);
  } else if (pw_m == API_PRESENT && !report.ok[KF_PW_REPEAT]) {
    kf_http_error_add_field(error, "password_repeat", "PASSWORD_REPEAT_MISMATCH",
                            kf_pw_criterion_label(KF_PW_REPEAT));
  }
  if (!api_consent(body, "accept_terms"))
    kf_http_error_add_field(error, "accept_terms", "TERMS_NOT_ACCEPTED",
                            "Bitte akzeptieren Sie die Nutzungsbedingungen.");
  if (!api_consent(body, "consent_email"))
    kf_http_error_add_field(error, "consent_email", "EMAIL_CONSENT_MISSING",
                            "Bitte willigen Sie in die Nutzung Ihrer E-Mail-Adresse ein.");

  if (api_error_field_count(error) > 0) {
    json_object_set_new(error, "password_checks", api_password_checks(&report));
    kf_http_resp_error_obj(resp, 400, error);
    json_decref(body);
    return;
  }
  json_decref(error);

  kf_err err;
  kf_err_init(&err);
  bool created = false;
  kf_rc rc = ks_account_register(srv, email, pw, pw_len, ks_api_now(req), &created, &err);
  json_decref(body);
  if (rc != KF_OK) {
    api_internal_error(resp, &err);
    return;
  }
  kf_debug("registration: %s", created ? "new account" : "existing address");
  /* The same bytes whether or not the address was new (ACC-10). */
  kf_http_resp_json(resp, 202,
                    json_pack("{s:s, s:s}", "status", "confirmation_mail_sent", "message",
                              API_REGISTERED_MESSAGE));
}

/* ---- Confirmation (ACC-06..08). ---- */

static kf_rc api_confirm(ks_server *srv, kf_http_req *req, const char *id, ks_link_verdict *v,
                         kf_err *err) {
  if (id == NULL) {
    *v = KS_LINK_NOT_FOUND;
    return KF_OK;
  }
  return ks_account_confirm(srv, id, ks_api_now(req), v, err);
}

static void api_confirm_json(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  json_t *body = NULL;
  if (kf_http_req_json(req, resp, &body) != KF_OK)
    return;
  const json_t *jid = json_object_get(body, "id");
  ks_link_verdict v = KS_LINK_NOT_FOUND;
  kf_err err;
  kf_err_init(&err);
  /* An id with an embedded NUL names no link; without this check the text
   * before the NUL would be looked up. */
  bool id_ok = json_is_string(jid) && strlen(json_string_value(jid)) == json_string_length(jid);
  kf_rc rc = api_confirm(srv, req, id_ok ? json_string_value(jid) : NULL, &v, &err);
  json_decref(body);
  if (rc != KF_OK) {
    api_internal_error(resp, &err);
    return;
  }
  if (v != KS_LINK_VALID) {
    kf_http_resp_error(resp, ks_link_verdict_status(v), ks_link_verdict_code(v),
                       ks_link_verdict_message(v));
    return;
  }
  kf_http_resp_json(resp, 200,
                    json_pack("{s:s, s:s, s:{s:s, s:s}}", "status", "confirmed", "message",
                              ks_link_verdict_message(v), "next", "label", "Zur Anmeldung", "href",
                              "/anmelden"));
}

static void api_confirm_link(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  ks_link_verdict v = KS_LINK_NOT_FOUND;
  kf_err err;
  kf_err_init(&err);
  const char *id = kf_http_req_query(req, "id");
  /*
   * kf_httpd routes HEAD to this GET handler. A HEAD must never change state
   * (mail scanners and link checkers send them before a person clicks), so it
   * only judges the link and answers with the status and page a GET would
   * give now, a valid link included (200), without confirming anything.
   */
  bool head = strcmp(kf_http_req_method(req), "HEAD") == 0;
  kf_rc rc = KF_OK;
  if (id != NULL && head)
    rc = ks_account_check_link(srv, id, ks_api_now(req), &v, &err);
  else
    rc = api_confirm(srv, req, id, &v, &err);
  if (rc != KF_OK) {
    api_internal_error(resp, &err);
    return;
  }
  char *page = NULL;
  size_t len = 0;
  rc = ks_html_confirm_page(v, &page, &len);
  api_send_html(resp, ks_link_verdict_status(v), rc, page, len);
}

static void api_resend(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  json_t *body = NULL;
  if (kf_http_req_json(req, resp, &body) != KF_OK)
    return;
  json_t *error = kf_http_error_new("VALIDATION_FAILED", API_VALIDATION_MESSAGE);
  char email[KS_ADDRESS_MAX + 1];
  api_check_email(body, error, email, sizeof email);
  json_decref(body);
  if (api_error_field_count(error) > 0) {
    kf_http_resp_error_obj(resp, 400, error);
    return;
  }
  json_decref(error);
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = ks_account_resend(srv, email, ks_api_now(req), NULL, &err);
  if (rc != KF_OK) {
    api_internal_error(resp, &err);
    return;
  }
  kf_http_resp_json(
      resp, 202,
      json_pack("{s:s, s:s}", "status", "confirmation_mail_sent", "message", API_RESENT_MESSAGE));
}

/* ---- Sessions (ACC-09, AUTH-02, AUTH-04). ---- */

static void api_login(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  json_t *body = NULL;
  if (kf_http_req_json(req, resp, &body) != KF_OK)
    return;
  const char *user, *pw;
  size_t user_len, pw_len;
  api_member user_m = api_string(body, "username", &user, &user_len);
  api_member pw_m = api_string(body, "password", &pw, &pw_len);
  /* A username of only spaces is empty after trimming, as registration treats an address. */
  if (user_m == API_PRESENT && api_blank(user, user_len))
    user_m = API_ABSENT;
  if (user_m != API_PRESENT || pw_m != API_PRESENT) {
    json_t *error = kf_http_error_new("VALIDATION_FAILED", API_VALIDATION_MESSAGE);
    if (user_m == API_ABSENT)
      kf_http_error_add_field(error, "username", "USERNAME_REQUIRED",
                              "Bitte geben Sie Ihren Benutzernamen oder Ihre E-Mail-Adresse ein.");
    else if (user_m == API_WRONG_TYPE)
      kf_http_error_add_field(error, "username", "INVALID_FIELD", API_INVALID_FIELD_MESSAGE);
    if (pw_m == API_ABSENT)
      kf_http_error_add_field(error, "password", "PASSWORD_REQUIRED",
                              "Bitte geben Sie ein Passwort ein.");
    else if (pw_m == API_WRONG_TYPE)
      kf_http_error_add_field(error, "password", "INVALID_FIELD", API_INVALID_FIELD_MESSAGE);
    json_decref(body);
    kf_http_resp_error_obj(resp, 400, error);
    return;
  }
  char username[KS_ADDRESS_MAX + 1];
  bool is_address =
      ks_address_normalise(user, user_len, username, sizeof username) == KS_ADDRESS_OK;
  ks_login_result result = KS_LOGIN_INVALID;
  char token[KS_TOKEN_HEX_LEN + 1];
  kf_err err;
  kf_err_init(&err);
  /* A username that is not an address still costs one password verification. */
  kf_rc rc = ks_account_login(srv, is_address ? username : NULL, pw, pw_len, ks_api_now(req),
                              &result, token, &err);
  json_decref(body);
  if (rc != KF_OK) {
    api_internal_error(resp, &err);
    return;
  }
  switch (result) {
  case KS_LOGIN_OK:
    kf_http_resp_json(
        resp, 201,
        json_pack("{s:s, s:s}", "token", token, "stage", KS_SESSION_STAGE_SECOND_FACTOR_SETUP));
    break;
  case KS_LOGIN_UNCONFIRMED:
    kf_http_resp_error(resp, 403, "EMAIL_NOT_CONFIRMED",
                       "Bitte bestätigen Sie zuerst Ihre E-Mail-Adresse.");
    break;
  case KS_LOGIN_INVALID:
  default:
    kf_http_resp_error(resp, 401, "INVALID_CREDENTIALS",
                       "Benutzername oder Passwort ist nicht korrekt.");
    break;
  }
}

static void api_logout(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  const char *auth = kf_http_req_header(req, "Authorization");
  const char *token = NULL;
  if (auth != NULL && kf_str_starts_with_ci(auth, "Bearer "))
    token = kf_str_skip_blanks(auth + 7);
  bool found = false;
  if (token != NULL && strlen(token) == KS_TOKEN_HEX_LEN) {
    kf_err err;
    kf_err_init(&err);
    kf_rc rc = ks_account_logout(srv, token, ks_api_now(req), &found, &err);
    if (rc != KF_OK) {
      api_internal_error(resp, &err);
      return;
    }
  }
  if (!found) {
    kf_http_resp_error(resp, 401, "UNAUTHENTICATED", "Bitte melden Sie sich an.");
    return;
  }
  kf_http_resp_empty(resp, 204);
}

/* ---- Test clocks (--test-mode only). ---- */

static json_t *api_clock_json(const ks_clock *c) {
  char iso[KF_TIME_ISO_MAX];
  if (kf_time_format_iso(c->frozen_time, iso, sizeof iso) != KF_OK)
    iso[0] = '\0';
  return json_pack("{s:s, s:I, s:s, s:o}", "id", c->id, "frozen_time", (json_int_t)c->frozen_time,
                   "frozen_time_iso", iso, "name",
                   c->name != NULL ? json_string(c->name) : json_null());
}

static void api_clock_not_found(kf_http_resp *resp) {
  kf_http_resp_error(resp, 404, "CLOCK_NOT_FOUND", "Diese Testuhr gibt es nicht.");
}

static bool api_time_value(const json_t *v, int64_t *out) {
  if (!json_is_integer(v))
    return false;
  json_int_t t = json_integer_value(v);
  if (t < 0 || t > KS_CLOCK_TIME_MAX)
    return false;
  *out = (int64_t)t;
  return true;
}

static void api_clock_create(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  json_t *body = NULL;
  if (kf_http_req_json(req, resp, &body) != KF_OK)
    return;
  json_t *error = kf_http_error_new("VALIDATION_FAILED", API_VALIDATION_MESSAGE);
  int64_t t = 0;
  if (!api_time_value(json_object_get(body, "frozen_time"), &t))
    kf_http_error_add_field(error, "frozen_time", "INVALID_FIELD",
                            "Bitte geben Sie eine Unix-Zeit in Sekunden an (0 bis 253402300799).");
  const json_t *jname = json_object_get(body, "name");
  const char *name = NULL;
  if (json_is_string(jname) && json_string_length(jname) <= KS_CLOCK_NAME_MAX &&
      strlen(json_string_value(jname)) == json_string_length(jname))
    name = json_string_value(jname);
  else if (jname != NULL && !json_is_null(jname))
    kf_http_error_add_field(error, "name", "INVALID_FIELD", API_INVALID_FIELD_MESSAGE);
  if (api_error_field_count(error) > 0) {
    json_decref(body);
    kf_http_resp_error_obj(resp, 400, error);
    return;
  }
  json_decref(error);
  ks_clock clock;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = ks_clock_create(srv->db, t, name, kf_time_real_now(), &clock, &err);
  json_decref(body);
  if (rc != KF_OK) {
    api_internal_error(resp, &err);
    return;
  }
  kf_http_resp_json(resp, 201, api_clock_json(&clock));
  ks_clock_release(&clock);
}

static void api_clock_get(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  ks_clock clock;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = ks_clock_get(srv->db, kf_http_req_param(req, "id"), &clock, &err);
  if (rc == KF_ERR_NOT_FOUND) {
    api_clock_not_found(resp);
    return;
  }
  if (rc != KF_OK) {
    api_internal_error(resp, &err);
    return;
  }
  kf_http_resp_json(resp, 200, api_clock_json(&clock));
  ks_clock_release(&clock);
}

static void api_clock_advance(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  json_t *body = NULL;
  if (kf_http_req_json(req, resp, &body) != KF_OK)
    return;
  const json_t *jabs = json_object_get(body, "frozen_time");
  const json_t *jrel = json_object_get(body, "seconds");
  bool relative = jrel != NULL;
  int64_t value = 0;
  bool ok = (jabs == NULL) != (jrel == NULL);
  if (ok && relative) {
    ok = json_is_integer(jrel) && json_integer_value(jrel) >= -KS_CLOCK_TIME_MAX &&
         json_integer_value(jrel) <= KS_CLOCK_TIME_MAX;
    if (ok)
      value = (int64_t)json_integer_value(jrel);
  } else if (ok) {
    ok = json_is_integer(jabs) && json_integer_value(jabs) >= 0 &&
         json_integer_value(jabs) <= KS_CLOCK_TIME_MAX;
    if (ok)
      value = (int64_t)json_integer_value(jabs);
  }
  json_decref(body);
  if (!ok) {
    json_t *error = kf_http_error_new("VALIDATION_FAILED", API_VALIDATION_MESSAGE);
    kf_http_error_add_field(error, relative ? "seconds" : "frozen_time", "INVALID_FIELD",
                            "Geben Sie genau eines an: frozen_time (Unix-Zeit) oder seconds.");
    kf_http_resp_error_obj(resp, 400, error);
    return;
  }
  ks_clock clock;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = ks_clock_advance(srv->db, kf_http_req_param(req, "id"), relative, value, &clock, &err);
  switch (rc) {
  case KF_OK:
    kf_http_resp_json(resp, 200, api_clock_json(&clock));
    ks_clock_release(&clock);
    return;
  case KF_ERR_NOT_FOUND:
    api_clock_not_found(resp);
    return;
  case KF_ERR_STATE:
    kf_http_resp_error(resp, 400, "CLOCK_BACKWARDS",
                       "Eine Testuhr kann nicht zurückgestellt werden.");
    return;
  case KF_ERR_LIMIT: {
    json_t *error = kf_http_error_new("VALIDATION_FAILED", API_VALIDATION_MESSAGE);
    kf_http_error_add_field(error, relative ? "seconds" : "frozen_time", "INVALID_FIELD",
                            "Die Zeit liegt nach dem Jahr 9999.");
    kf_http_resp_error_obj(resp, 400, error);
    return;
  }
  default:
    api_internal_error(resp, &err);
    return;
  }
}

static void api_clock_delete(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = ks_clock_delete(srv->db, kf_http_req_param(req, "id"), &err);
  if (rc == KF_ERR_NOT_FOUND) {
    api_clock_not_found(resp);
    return;
  }
  if (rc != KF_OK) {
    api_internal_error(resp, &err);
    return;
  }
  kf_http_resp_empty(resp, 204);
}

kf_rc ks_api_install(kf_httpd *httpd, ks_server *srv, kf_err *err) {
  assert(httpd != NULL && srv != NULL);
  static const struct {
    const char *method;
    const char *pattern;
    kf_http_handler handler;
    bool test_only;
  } routes[] = {
      {"GET", "/api/v1/health", api_health, false},
      {"POST", "/api/v1/registrations", api_register, false},
      {"POST", "/api/v1/email-confirmations/resend", api_resend, false},
      {"POST", "/api/v1/email-confirmations", api_confirm_json, false},
      {"GET", KS_LINK_PATH, api_confirm_link, false},
      {"POST", "/api/v1/sessions", api_login, false},
      {"DELETE", "/api/v1/sessions/current", api_logout, false},
      {"GET", "/anmelden", api_login_page, false},
      {"POST", "/test/v1/clocks", api_clock_create, true},
      {"GET", "/test/v1/clocks/{id}", api_clock_get, true},
      {"DELETE", "/test/v1/clocks/{id}", api_clock_delete, true},
      {"POST", "/test/v1/clocks/{id}/advance", api_clock_advance, true},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    if (routes[i].test_only && !srv->cfg->test_mode)
      continue;
    kf_rc rc = kf_httpd_route(httpd, routes[i].method, routes[i].pattern, routes[i].handler, srv);
    if (rc != KF_OK)
      return kf_err_set(err, rc, "cannot add route %s", routes[i].pattern);
  }
  kf_httpd_set_filter(httpd, api_filter, srv);
  return KF_OK;
}
