/*
 * mailbox_api.c: the HTTP routes konform-mail and konform-post share (list,
 * search, read, raw, delete, long-poll wait, health) over a kf_mailbox.
 */
#include "kf/mailbox_api.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/log.h"
#include "kf/str.h"
#include "kf/utf8.h"
#include "kf/version.h"
#include "mailbox_priv.h"

#define MBAPI_COLLECTION_MAX 32
#define MBAPI_PATH_MAX 96
#define MBAPI_ROUTES 7
/* Longest filter value accepted; longer ones are surely a mistake. */
#define MBAPI_FILTER_MAX 1024
#define MBAPI_LIMIT_MAX 1000
#define MBAPI_TIMEOUT_DEFAULT_MS 10000
#define MBAPI_TIMEOUT_MAX_MS 120000

/* Per-registration state; owned by the mailbox (see mailbox_priv.h). */
typedef struct mbapi_ctx {
  kf_mailbox *mb;
  char collection[MBAPI_COLLECTION_MAX];
  char patterns[MBAPI_ROUTES][MBAPI_PATH_MAX];
  size_t patterns_len;
} mbapi_ctx;

static void mbapi_ctx_free(void *ptr) {
  kf_free(ptr);
}

/* Answer 400 INVALID_PARAMETER naming the parameter, in the message and in fields. */
static void mbapi_bad_param(kf_http_resp *resp, const char *name, const char *why) {
  char message[160];
  if (kf_str_format(message, sizeof(message), "Ungültiger Parameter \"%s\": %s", name, why) !=
      KF_OK) {
    (void)kf_str_copy(message, sizeof(message), "Ungültiger Parameter");
  }
  json_t *err = kf_http_error_new("INVALID_PARAMETER", message);
  if (!err) {
    kf_http_resp_error(resp, 500, "INTERNAL_ERROR", "Interner Fehler.");
    return;
  }
  kf_http_error_add_field(err, name, "INVALID_PARAMETER", why);
  kf_http_resp_error_obj(resp, 400, err);
}

/* Map a store failure onto an HTTP answer. */
static void mbapi_store_error(kf_http_resp *resp, kf_rc rc, const kf_err *err) {
  switch (rc) {
  case KF_ERR_NOT_FOUND:
    kf_http_resp_error(resp, 404, "NOT_FOUND", "Nicht gefunden.");
    return;
  case KF_ERR_TIMEOUT:
    kf_http_resp_error(resp, 408, "WAIT_TIMEOUT",
                       "Innerhalb der Wartezeit ist nichts Passendes eingegangen.");
    return;
  case KF_ERR_STATE:
    kf_http_resp_error(resp, 503, "SHUTTING_DOWN", "Der Dienst wird beendet.");
    return;
  default:
    kf_error("mailbox api: %s: %s", kf_rc_name(rc), err->message);
    kf_http_resp_error(resp, 500, "INTERNAL_ERROR", "Interner Fehler.");
    return;
  }
}

/* Read an optional integer query parameter in [min, max]; false = answered 400. */
static bool mbapi_query_int(kf_http_req *req, kf_http_resp *resp, const char *name, long long min,
                            long long max, long long *inout) {
  const char *s = kf_http_req_query(req, name);
  if (!s)
    return true;
  long long v;
  kf_rc rc = kf_str_to_llong(s, min, max, &v);
  if (rc == KF_ERR_LIMIT) {
    char why[96];
    (void)kf_str_format(why, sizeof(why), "muss zwischen %lld und %lld liegen", min, max);
    mbapi_bad_param(resp, name, why);
    return false;
  }
  if (rc != KF_OK) {
    mbapi_bad_param(resp, name, "muss eine ganze Zahl sein");
    return false;
  }
  *inout = v;
  return true;
}

/* Read an optional string filter; false = answered 400. */
static bool mbapi_query_str(kf_http_req *req, kf_http_resp *resp, const char *name,
                            const char **out) {
  const char *s = kf_http_req_query(req, name);
  *out = NULL;
  if (!s)
    return true;
  size_t len = strlen(s);
  if (len > MBAPI_FILTER_MAX) {
    mbapi_bad_param(resp, name, "ist zu lang");
    return false;
  }
  if (!kf_utf8_valid(s, len)) {
    mbapi_bad_param(resp, name, "ist kein gültiges UTF-8");
    return false;
  }
  *out = s;
  return true;
}

/* Fill filter from the query string (shared by list and wait); false = answered 400. */
static bool mbapi_filter_parse(kf_http_req *req, kf_http_resp *resp, kf_mailbox_filter *filter) {
  memset(filter, 0, sizeof(*filter));
  if (!mbapi_query_str(req, resp, "to", &filter->to))
    return false;
  if (!mbapi_query_str(req, resp, "from", &filter->from))
    return false;
  if (!mbapi_query_str(req, resp, "subject", &filter->subject))
    return false;
  if (!mbapi_query_str(req, resp, "kind", &filter->kind))
    return false;
  if (!mbapi_query_str(req, resp, "customer_number", &filter->customer_number))
    return false;
  if (!mbapi_query_str(req, resp, "name", &filter->recipient_name))
    return false;
  long long after = 0;
  if (!mbapi_query_int(req, resp, "after", 0, INT64_MAX, &after))
    return false;
  filter->after_id = (int64_t)after;
  long long limit = 100;
  if (!mbapi_query_int(req, resp, "limit", 1, MBAPI_LIMIT_MAX, &limit))
    return false;
  filter->limit = (unsigned)limit;
  return true;
}

/* The {id} path parameter; false = answered 400. */
static bool mbapi_id_parse(kf_http_req *req, kf_http_resp *resp, int64_t *out) {
  const char *s = kf_http_req_param(req, "id");
  long long v;
  if (!s || kf_str_to_llong(s, 1, INT64_MAX, &v) != KF_OK) {
    mbapi_bad_param(resp, "id", "muss eine positive ganze Zahl sein");
    return false;
  }
  *out = (int64_t)v;
  return true;
}

static void mbapi_list(kf_http_req *req, kf_http_resp *resp, void *ctxp) {
  mbapi_ctx *ctx = ctxp;
  kf_mailbox_filter filter;
  if (!mbapi_filter_parse(req, resp, &filter))
    return;
  kf_err err;
  kf_err_init(&err);
  json_t *items = NULL;
  kf_rc rc = kf_mailbox_list(ctx->mb, &filter, &items, &err);
  if (rc != KF_OK) {
    mbapi_store_error(resp, rc, &err);
    return;
  }
  size_t n = json_array_size(items);
  json_t *body = json_object();
  if (!body || json_object_set_new(body, ctx->collection, items) != 0 ||
      json_object_set_new(body, "count", json_integer((json_int_t)n)) != 0) {
    json_decref(body);
    kf_http_resp_error(resp, 500, "INTERNAL_ERROR", "Interner Fehler.");
    return;
  }
  kf_http_resp_json(resp, 200, body);
}

static void mbapi_get(kf_http_req *req, kf_http_resp *resp, void *ctxp) {
  mbapi_ctx *ctx = ctxp;
  int64_t id;
  if (!mbapi_id_parse(req, resp, &id))
    return;
  kf_err err;
  kf_err_init(&err);
  json_t *doc = NULL;
  kf_rc rc = kf_mailbox_get(ctx->mb, id, &doc, &err);
  if (rc != KF_OK) {
    mbapi_store_error(resp, rc, &err);
    return;
  }
  kf_http_resp_json(resp, 200, doc);
}

static void mbapi_raw(kf_http_req *req, kf_http_resp *resp, void *ctxp) {
  mbapi_ctx *ctx = ctxp;
  int64_t id;
  if (!mbapi_id_parse(req, resp, &id))
    return;
  kf_err err;
  kf_err_init(&err);
  char *raw = NULL;
  size_t len = 0;
  kf_rc rc = kf_mailbox_get_raw(ctx->mb, id, &raw, &len, &err);
  if (rc != KF_OK) {
    mbapi_store_error(resp, rc, &err);
    return;
  }
  kf_http_resp_bytes(resp, 200, "message/rfc822", raw, len);
  kf_free(raw);
}

static void mbapi_delete(kf_http_req *req, kf_http_resp *resp, void *ctxp) {
  mbapi_ctx *ctx = ctxp;
  int64_t id;
  if (!mbapi_id_parse(req, resp, &id))
    return;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = kf_mailbox_delete(ctx->mb, id, &err);
  if (rc != KF_OK) {
    mbapi_store_error(resp, rc, &err);
    return;
  }
  kf_http_resp_empty(resp, 204);
}

static void mbapi_clear(kf_http_req *req, kf_http_resp *resp, void *ctxp) {
  (void)req;
  mbapi_ctx *ctx = ctxp;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = kf_mailbox_clear(ctx->mb, &err);
  if (rc != KF_OK) {
    mbapi_store_error(resp, rc, &err);
    return;
  }
  kf_http_resp_empty(resp, 204);
}

static void mbapi_wait(kf_http_req *req, kf_http_resp *resp, void *ctxp) {
  mbapi_ctx *ctx = ctxp;
  kf_mailbox_filter filter;
  if (!mbapi_filter_parse(req, resp, &filter))
    return;
  long long timeout_ms = MBAPI_TIMEOUT_DEFAULT_MS;
  if (!mbapi_query_int(req, resp, "timeout_ms", 0, MBAPI_TIMEOUT_MAX_MS, &timeout_ms))
    return;
  kf_err err;
  kf_err_init(&err);
  json_t *doc = NULL;
  kf_rc rc = kf_mailbox_wait(ctx->mb, &filter, (int64_t)timeout_ms, &doc, &err);
  if (rc != KF_OK) {
    mbapi_store_error(resp, rc, &err);
    return;
  }
  kf_http_resp_json(resp, 200, doc);
}

static void mbapi_health(kf_http_req *req, kf_http_resp *resp, void *ctxp) {
  (void)req;
  mbapi_ctx *ctx = ctxp;
  json_t *body =
      json_pack("{s:s, s:s, s:s, s:I, s:I}", "status", "ok", "version", KONFORM_VERSION,
                "collection", ctx->collection, "count", (json_int_t)kf_mailbox_count(ctx->mb),
                "last_id", (json_int_t)kf_mailbox_last_id(ctx->mb));
  if (!body) {
    kf_http_resp_error(resp, 500, "INTERNAL_ERROR", "Interner Fehler.");
    return;
  }
  kf_http_resp_json(resp, 200, body);
}

/*
 * Register one route whose pattern is prefix + collection + suffix. The
 * pattern is kept in ctx so it stays valid however long the router keeps it.
 */
static kf_rc mbapi_route(kf_httpd *httpd, const char *method, const char *prefix,
                         const char *suffix, kf_http_handler handler, mbapi_ctx *ctx, kf_err *err) {
  assert(ctx->patterns_len < MBAPI_ROUTES);
  char *pattern = ctx->patterns[ctx->patterns_len++];
  kf_rc rc = kf_str_format(pattern, MBAPI_PATH_MAX, "%s%s%s", prefix, suffix ? ctx->collection : "",
                           suffix ? suffix : "");
  if (rc != KF_OK)
    return kf_err_set(err, rc, "mailbox api: route pattern too long");
  rc = kf_httpd_route(httpd, method, pattern, handler, ctx);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "mailbox api: cannot register %s %s", method, pattern);
  return KF_OK;
}

kf_rc kf_mailbox_api_register(kf_httpd *httpd, kf_mailbox *mb, const char *collection,
                              kf_err *err) {
  assert(httpd && mb && collection);
  if (!*collection || strchr(collection, '/') || strchr(collection, '{')) {
    return kf_err_set(err, KF_ERR_INVALID, "mailbox api: bad collection name \"%s\"", collection);
  }
  mbapi_ctx *ctx = kf_calloc(1, sizeof(*ctx));
  if (!ctx)
    return kf_err_set(err, KF_ERR_NOMEM, "mailbox api: out of memory");
  ctx->mb = mb;
  if (kf_str_copy(ctx->collection, sizeof(ctx->collection), collection) != KF_OK) {
    kf_free(ctx);
    return kf_err_set(err, KF_ERR_INVALID, "mailbox api: collection name too long");
  }
  if (kf_mailbox_attach(mb, ctx, mbapi_ctx_free) != KF_OK) {
    kf_free(ctx);
    return kf_err_set(err, KF_ERR_NOMEM, "mailbox api: out of memory");
  }
  /* From here ctx belongs to mb, so no error path below frees it. */
  kf_rc rc = mbapi_route(httpd, "GET", "/api/v1/health", NULL, mbapi_health, ctx, err);
  if (rc == KF_OK)
    rc = mbapi_route(httpd, "GET", "/api/v1/wait/", "", mbapi_wait, ctx, err);
  if (rc == KF_OK)
    rc = mbapi_route(httpd, "GET", "/api/v1/", "", mbapi_list, ctx, err);
  if (rc == KF_OK)
    rc = mbapi_route(httpd, "DELETE", "/api/v1/", "", mbapi_clear, ctx, err);
  if (rc == KF_OK)
    rc = mbapi_route(httpd, "GET", "/api/v1/", "/{id}", mbapi_get, ctx, err);
  if (rc == KF_OK)
    rc = mbapi_route(httpd, "DELETE", "/api/v1/", "/{id}", mbapi_delete, ctx, err);
  if (rc == KF_OK)
    rc = mbapi_route(httpd, "GET", "/api/v1/", "/{id}/raw", mbapi_raw, ctx, err);
  return rc;
}
