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
#include "ks_markup.h"
#include "ks_server.h"
#include "ks_variant.h"

/* Cap on a JSON body laid out by the json-layout variant; ours are a few kilobytes. */
#define HANDLER_JSON_MAX (256 * 1024)

static void handler_ctx_free(void *p) {
  ks_reqctx *c = p;
  json_decref(c->body);
  kf_free(c);
}

/* The answer-headers variant: what other implementations put on every answer. */
static const char *const handler_extra_headers[][2] = {
    {"Content-Language", "de"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Frame-Options", "DENY"},
};

bool ks_handler_ctx_attach(kf_http_req *req, kf_http_resp *resp, const ks_server *srv) {
  ks_reqctx *c = kf_calloc(1, sizeof *c);
  if (c == NULL)
    return false;
  c->srv = srv;
  c->now = kf_time_real_now();
  kf_http_req_set_user_owned(req, c, handler_ctx_free);
  if (ks_variant_on(srv, KS_VARIANT_REQUEST_ID)) {
    kf_uuid_v4(c->request_id);
    kf_http_resp_header(resp, "X-Request-Id", c->request_id);
  }
  size_t n = sizeof handler_extra_headers / sizeof handler_extra_headers[0];
  for (size_t i = 0; i < n && ks_variant_on(srv, KS_VARIANT_ANSWER_HEADERS); i++)
    kf_http_resp_header(resp, handler_extra_headers[i][0], handler_extra_headers[i][1]);
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

const char *ks_handler_request_id(const kf_http_req *req) {
  const ks_reqctx *c = ks_handler_ctx(req);
  return c != NULL && c->request_id[0] != '\0' ? c->request_id : NULL;
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

bool ks_handler_member_problem(json_t *error, const char *field, ks_member m, ks_field absent) {
  if (m == KS_MEMBER_PRESENT)
    return false;
  ks_error_add_field(error, field, m == KS_MEMBER_ABSENT ? absent : KS_FIELD_INVALID_FIELD);
  return true;
}

bool ks_handler_has_fields(const json_t *error) {
  return json_array_size(json_object_get(error, "fields")) > 0;
}

/* Whether variant v of the server answering req is on (none before the context exists). */
static bool handler_variant_on(const kf_http_req *req, ks_variant v) {
  const ks_reqctx *c = ks_handler_ctx(req);
  return c != NULL && ks_variant_on(c->srv, v);
}

/*
 * Answer an HTML page (freed here) with the policy every page has, its
 * markup as the page-entities variant writes it when that is on.
 */
static void handler_html(const kf_http_req *req, kf_http_resp *resp, unsigned status, char *page,
                         size_t len) {
  if (handler_variant_on(req, KS_VARIANT_PAGE_ENTITIES)) {
    char *other = NULL;
    kf_rc rc = ks_markup_rewrite(page, len, &other, &len);
    kf_free(page);
    if (rc != KF_OK) {
      kf_http_resp_internal_error(resp);
      return;
    }
    page = other;
  }
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

static int handler_dump(const char *buffer, size_t size, void *data) {
  return kf_buf_append(data, buffer, size) == KF_OK ? 0 : -1;
}

void ks_handler_json_answer(kf_http_req *req, kf_http_resp *resp, unsigned status, json_t *body) {
  if (body == NULL || !handler_variant_on(req, KS_VARIANT_JSON_LAYOUT)) {
    kf_http_resp_json(resp, status, body);
    return;
  }
  /*
   * Another implementation's serializer: members sorted by name, indented,
   * non-ASCII characters as \u escapes, a final newline, and no charset
   * parameter, which RFC 8259 does not define for application/json.
   */
  kf_buf b;
  kf_buf_init(&b, HANDLER_JSON_MAX);
  int failed = json_dump_callback(body, handler_dump, &b,
                                  JSON_INDENT(4) | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
  json_decref(body);
  if (failed == 0 && kf_buf_append_byte(&b, '\n') == KF_OK)
    kf_http_resp_bytes(resp, status, "application/json", b.data, b.len);
  else
    kf_http_resp_internal_error(resp);
  kf_buf_release(&b);
}

/* Answer status with {"error": error} (steals error; NULL: a 500). */
static void handler_error_obj(kf_http_req *req, kf_http_resp *resp, unsigned status,
                              json_t *error) {
  ks_handler_json_answer(req, resp, status,
                         error != NULL ? json_pack("{s:o}", "error", error) : NULL);
}

void ks_handler_error_row(kf_http_req *req, kf_http_resp *resp, const kf_http_error_row *row) {
  if (handler_html_route(req)) {
    char *page = NULL;
    size_t len = 0;
    if (ks_html_error_page(row->code, row->message, ks_handler_request_id(req), &page, &len) ==
        KF_OK) {
      handler_html(req, resp, row->status, page, len);
      return;
    }
  }
  handler_error_obj(req, resp, row->status, kf_http_error_new(row->code, row->message));
}

void ks_handler_internal(kf_http_req *req, kf_http_resp *resp, const kf_err *err) {
  kf_error("internal error: %s", err->message);
  ks_handler_error(req, resp, KS_ERR_INTERNAL_ERROR);
}

void ks_handler_invalid(kf_http_req *req, kf_http_resp *resp, json_t *error) {
  handler_error_obj(req, resp, ks_error_row(KS_ERR_VALIDATION_FAILED)->status, error);
}

json_t *ks_handler_json(const kf_http_req *req) {
  const ks_reqctx *c = ks_handler_ctx(req);
  assert(c != NULL && c->body != NULL);
  return c->body;
}

bool ks_handler_refused(kf_http_req *req, kf_http_resp *resp, json_t *error) {
  if (error != NULL && !ks_handler_has_fields(error)) {
    json_decref(error);
    return false;
  }
  ks_handler_invalid(req, resp, error);
  return true;
}

void ks_handler_page(kf_http_req *req, kf_http_resp *resp, unsigned status, kf_rc rc, char *page,
                     size_t len) {
  if (rc != KF_OK) {
    kf_error("internal error: cannot render a page (%s)", kf_rc_name(rc));
    ks_handler_error(req, resp, KS_ERR_INTERNAL_ERROR);
    return;
  }
  handler_html(req, resp, status, page, len);
}
