/*
 * kp_service.c: accepting letters over HTTP (see kp_service.h).
 */
#include "kp_service.h"

#include <assert.h>
#include <stdint.h>

#include "kf/log.h"
#include "kf/mailbox_api.h"
#include "kf/str.h"
#include "kp_letter.h"

/* Turn the issues list into the shared 400 VALIDATION_FAILED answer. */
static void kp_answer_invalid(kf_http_resp *resp, const json_t *issues) {
  json_t *err = kf_http_error_new("VALIDATION_FAILED", "Bitte prüfen Sie Ihre Eingaben.");
  if (!err) {
    kf_http_resp_error(resp, 500, "INTERNAL_ERROR", "Interner Fehler.");
    return;
  }
  size_t i;
  json_t *issue;
  json_array_foreach(issues, i, issue) {
    kf_http_error_add_field(err, json_string_value(json_object_get(issue, "field")),
                            json_string_value(json_object_get(issue, "code")),
                            json_string_value(json_object_get(issue, "message")));
  }
  kf_http_resp_error_obj(resp, 400, err);
}

static void kp_letters_post(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  kf_mailbox *mb = ctx;
  json_t *letter = NULL;
  /* kf_http_req_json has already answered 415/400 when this fails. */
  if (kf_http_req_json(req, resp, &letter) != KF_OK)
    return;

  json_t *issues = json_array();
  kf_rc rc = issues ? kp_letter_check(letter, issues) : KF_ERR_NOMEM;
  if (rc == KF_ERR_INVALID) {
    kp_answer_invalid(resp, issues);
    json_decref(issues);
    json_decref(letter);
    return;
  }
  json_decref(issues);
  json_t *doc = NULL;
  if (rc == KF_OK)
    rc = kp_letter_normalize(letter, &doc);
  json_decref(letter);
  if (rc != KF_OK) {
    kf_http_resp_error(resp, 500, "INTERNAL_ERROR", "Interner Fehler.");
    return;
  }

  kf_err err;
  kf_err_init(&err);
  int64_t id = 0;
  rc = kf_mailbox_add(mb, doc, NULL, 0, &id, &err);
  if (rc == KF_OK) {
    kf_info("letter %lld stored: kind=%s", (long long)id,
            json_string_value(json_object_get(doc, "kind")));
  }
  json_decref(doc);
  if (rc == KF_ERR_LIMIT) {
    kf_http_resp_error(resp, 507, "STORE_FULL",
                       "Der Briefspeicher ist voll; bitte Briefe löschen.");
    return;
  }
  if (rc != KF_OK) {
    kf_error("cannot store letter: %s", err.message);
    kf_http_resp_error(resp, 500, "INTERNAL_ERROR", "Interner Fehler.");
    return;
  }
  char location[64];
  if (kf_str_format(location, sizeof(location), "/api/v1/letters/%lld", (long long)id) == KF_OK) {
    kf_http_resp_header(resp, "Location", location);
  }
  kf_http_resp_json(resp, 201, json_pack("{s:I}", "id", (json_int_t)id));
}

kf_rc kp_service_register(kf_httpd *httpd, kf_mailbox *mb, kf_err *err) {
  assert(httpd && mb);
  kf_rc rc = kf_httpd_route(httpd, "POST", "/api/v1/letters", kp_letters_post, mb);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "cannot register POST /api/v1/letters");
  return kf_mailbox_api_register(httpd, mb, err);
}
