/*
 * ks_handler.c: helpers every area's handlers share (see ks_handler.h).
 */
#include "ks_handler.h"

#include <assert.h>

#include "kf/alloc.h"
#include "kf/log.h"
#include "kf/timeutil.h"
#include "ks_api.h"
#include "ks_html.h"

static void handler_ctx_free(void *p) {
  ks_reqctx *c = p;
  json_decref(c->body);
  kf_free(c);
}

bool ks_handler_ctx_attach(kf_http_req *req) {
  ks_reqctx *c = kf_calloc(1, sizeof *c);
  if (c == NULL)
    return false;
  c->now = kf_time_real_now();
  kf_http_req_set_user_owned(req, c, handler_ctx_free);
  return true;
}

ks_reqctx *ks_handler_ctx(const kf_http_req *req) {
  return kf_http_req_user(req);
}

int64_t ks_handler_now(const kf_http_req *req) {
  const ks_reqctx *c = ks_handler_ctx(req);
  return c != NULL ? c->now : kf_time_real_now();
}

const char *ks_handler_token(const kf_http_req *req) {
  const ks_reqctx *c = ks_handler_ctx(req);
  return c != NULL ? c->token : NULL;
}

ks_member ks_handler_string(const json_t *obj, const char *key, const char **s, size_t *len) {
  const json_t *v = json_object_get(obj, key);
  *s = "";
  *len = 0;
  if (v == NULL || json_is_null(v))
    return KS_MEMBER_ABSENT;
  if (!json_is_string(v))
    return KS_MEMBER_WRONG_TYPE;
  *s = json_string_value(v);
  *len = json_string_length(v);
  return *len == 0 ? KS_MEMBER_ABSENT : KS_MEMBER_PRESENT;
}

bool ks_handler_blank(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    if (s[i] != ' ')
      return false;
  }
  return true;
}

bool ks_handler_consent(const json_t *obj, const char *key) {
  return json_is_true(json_object_get(obj, key));
}

bool ks_handler_has_fields(const json_t *error) {
  return json_array_size(json_object_get(error, "fields")) > 0;
}

/* Answer an HTML page (freed here) with the policy every page has. */
static void handler_html(kf_http_resp *resp, unsigned status, char *page, size_t len) {
  kf_http_resp_bytes(resp, status, KS_HTML_CONTENT_TYPE, page, len);
  kf_http_resp_header(resp, "Content-Security-Policy", KS_HTML_CSP);
  kf_free(page);
}

/* Whether the matched route answers with HTML (its row says so). */
static bool handler_html_route(const kf_http_req *req) {
  const ks_route *route = kf_http_req_route_data(req);
  return route != NULL && (route->flags & KS_ROUTE_HTML) != 0;
}

void ks_handler_error(kf_http_req *req, kf_http_resp *resp, ks_error e) {
  ks_handler_error_row(req, resp, ks_error_row(e));
}

void ks_handler_error_row(kf_http_req *req, kf_http_resp *resp, const kf_http_error_row *row) {
  if (handler_html_route(req)) {
    char *page = NULL;
    size_t len = 0;
    if (ks_html_error_page(row->code, row->message, &page, &len) == KF_OK) {
      handler_html(resp, row->status, page, len);
      return;
    }
  }
  kf_http_resp_error_row(resp, row);
}

void ks_handler_internal(kf_http_req *req, kf_http_resp *resp, const kf_err *err) {
  kf_error("internal error: %s", err->message);
  ks_handler_error(req, resp, KS_ERR_INTERNAL_ERROR);
}

void ks_handler_invalid(kf_http_resp *resp, json_t *error) {
  kf_http_resp_error_obj(resp, ks_error_row(KS_ERR_VALIDATION_FAILED)->status, error);
}

json_t *ks_handler_json(const kf_http_req *req) {
  const ks_reqctx *c = ks_handler_ctx(req);
  assert(c != NULL && c->body != NULL);
  return c->body;
}

bool ks_handler_refused(kf_http_resp *resp, json_t *error) {
  if (error != NULL && !ks_handler_has_fields(error)) {
    json_decref(error);
    return false;
  }
  ks_handler_invalid(resp, error);
  return true;
}

void ks_handler_page(kf_http_req *req, kf_http_resp *resp, unsigned status, kf_rc rc, char *page,
                     size_t len) {
  if (rc != KF_OK) {
    kf_error("internal error: cannot render a page (%s)", kf_rc_name(rc));
    ks_handler_error(req, resp, KS_ERR_INTERNAL_ERROR);
    return;
  }
  handler_html(resp, status, page, len);
}
