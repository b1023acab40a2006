/*
 * mailbox_api.c: the HTTP routes konform-mail and konform-post share (list,
 * search, read, raw, delete, long-poll wait, health) over a kf_mailbox.
 *
 * Three tables drive it: the routes, the integer query parameters, and the
 * answers to store failures. The search parameters are the search keys of
 * the collections (kf_mailbox_collection_at): every key of every collection
 * is a parameter on every collection's routes, as docs/mocks-openapi.yaml
 * documents them, and a key the mailbox's own collection lacks matches
 * nothing there.
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

#define MBAPI_PATH_MAX 96
/* Longest filter value accepted; longer ones are surely a mistake. */
#define MBAPI_FILTER_MAX 1024
#define MBAPI_LIMIT_MAX 1000
#define MBAPI_TIMEOUT_DEFAULT_MS 10000
#define MBAPI_TIMEOUT_MAX_MS 120000
/* Shows redeliveries (items with "duplicate_of") in lists and waits. */
#define MBAPI_DUPLICATES "include_duplicates"

/*
 * The integer query parameters: name, range, default, and whether only the
 * wait route reads it. List and wait both read (and check) the others.
 */
#define MBAPI_INTS(X)                                                                              \
  X(AFTER, "after", 0, INT64_MAX, 0, false)                                                        \
  X(LIMIT, "limit", 1, MBAPI_LIMIT_MAX, 100, false)                                                \
  X(TIMEOUT, "timeout_ms", 0, MBAPI_TIMEOUT_MAX_MS, MBAPI_TIMEOUT_DEFAULT_MS, true)

typedef enum mbapi_int {
#define MBAPI_INT_ENUM(id, name, min, max, def, wait_only) MBAPI_INT_##id,
  MBAPI_INTS(MBAPI_INT_ENUM)
#undef MBAPI_INT_ENUM
      MBAPI_INTS_LEN
} mbapi_int;

typedef struct mbapi_int_param {
  const char *name;
  long long min;
  long long max;
  long long def;
  bool wait_only;
} mbapi_int_param;

static const mbapi_int_param mbapi_ints[MBAPI_INTS_LEN] = {
#define MBAPI_INT_ROW(id, name, min, max, def, wait_only)                                          \
  [MBAPI_INT_##id] = {name, min, max, def, wait_only},
    MBAPI_INTS(MBAPI_INT_ROW)
#undef MBAPI_INT_ROW
};

/* How a store failure is answered; anything else is 500 INTERNAL_ERROR. */
typedef struct mbapi_answer {
  kf_rc rc;
  unsigned status;
  const char *code;
  const char *message;
} mbapi_answer;

static const mbapi_answer mbapi_answers[] = {
    {KF_ERR_NOT_FOUND, 404, "NOT_FOUND", "Nicht gefunden."},
    {KF_ERR_TIMEOUT, 408, "WAIT_TIMEOUT",
     "Innerhalb der Wartezeit ist nichts Passendes eingegangen."},
    {KF_ERR_STATE, 503, "SHUTTING_DOWN", "Der Dienst wird beendet."},
};

/* What a route does with one item ({id}): answers resp itself on success. */
typedef kf_rc (*mbapi_item_fn)(kf_mailbox *mb, int64_t id, kf_http_resp *resp, kf_err *err);

typedef struct mbapi_route_def {
  const char *method;
  const char *prefix;
  const char *suffix; /* After the collection name; NULL: the path is the prefix alone. */
  kf_http_handler handler;
  mbapi_item_fn item; /* For mbapi_item only. */
} mbapi_route_def;

typedef struct mbapi_ctx mbapi_ctx;

/* One registered route: handed to its handler as ctx. */
typedef struct mbapi_route {
  mbapi_ctx *api;
  const mbapi_route_def *def;
  char pattern[MBAPI_PATH_MAX]; /* Kept as long as the router may use it. */
} mbapi_route;

static void mbapi_list(kf_http_req *req, kf_http_resp *resp, void *routep);
static void mbapi_wait(kf_http_req *req, kf_http_resp *resp, void *routep);
static void mbapi_clear(kf_http_req *req, kf_http_resp *resp, void *routep);
static void mbapi_health(kf_http_req *req, kf_http_resp *resp, void *routep);
static void mbapi_item(kf_http_req *req, kf_http_resp *resp, void *routep);
static kf_rc mbapi_item_get(kf_mailbox *mb, int64_t id, kf_http_resp *resp, kf_err *err);
static kf_rc mbapi_item_raw(kf_mailbox *mb, int64_t id, kf_http_resp *resp, kf_err *err);
static kf_rc mbapi_item_delete(kf_mailbox *mb, int64_t id, kf_http_resp *resp, kf_err *err);

static const mbapi_route_def mbapi_routes[] = {
    {"GET", "/api/v1/health", NULL, mbapi_health, NULL},
    {"GET", "/api/v1/wait/", "", mbapi_wait, NULL},
    {"GET", "/api/v1/", "", mbapi_list, NULL},
    {"DELETE", "/api/v1/", "", mbapi_clear, NULL},
    {"GET", "/api/v1/", "/{id}", mbapi_item, mbapi_item_get},
    {"DELETE", "/api/v1/", "/{id}", mbapi_item, mbapi_item_delete},
    {"GET", "/api/v1/", "/{id}/raw", mbapi_item, mbapi_item_raw},
};
#define MBAPI_ROUTES_LEN (sizeof(mbapi_routes) / sizeof(mbapi_routes[0]))

/* Per-registration state; owned by the mailbox (see mailbox_priv.h). */
struct mbapi_ctx {
  kf_mailbox *mb;
  const char *collection; /* Static, from the collection table. */
  /* The search parameters: every key name of every collection, once each. */
  const char *params[KF_MAILBOX_TERMS_MAX];
  size_t params_len;
  mbapi_route routes[MBAPI_ROUTES_LEN];
};

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
  for (size_t i = 0; i < sizeof(mbapi_answers) / sizeof(mbapi_answers[0]); i++) {
    if (mbapi_answers[i].rc == rc) {
      kf_http_resp_error(resp, mbapi_answers[i].status, mbapi_answers[i].code,
                         mbapi_answers[i].message);
      return;
    }
  }
  kf_error("mailbox api: %s: %s", kf_rc_name(rc), err->message);
  kf_http_resp_error(resp, 500, "INTERNAL_ERROR", "Interner Fehler.");
}

/*
 * The one value of an optional parameter, or *out = NULL when it is absent;
 * false = answered 400. libmicrohttpd hands "%00" on as a NUL and a name
 * without "=" as no value, and kf_http_req_query reads both as absent: only
 * the count tells them from a parameter that was never given, so a broken
 * filter can never pass for no filter. An empty value is refused as well,
 * because leaving the parameter out is how a client says "no filter".
 */
static bool mbapi_query_one(kf_http_req *req, kf_http_resp *resp, const char *name,
                            const char **out) {
  *out = NULL;
  size_t n = kf_http_req_query_count(req, name);
  if (n == 0)
    return true;
  if (n > 1) {
    mbapi_bad_param(resp, name, "darf nur einmal angegeben werden");
    return false;
  }
  const char *s = kf_http_req_query(req, name);
  if (!s) {
    mbapi_bad_param(resp, name, "hat keinen Wert oder enthält ein NUL-Zeichen (%00)");
    return false;
  }
  if (!*s) {
    mbapi_bad_param(resp, name, "darf nicht leer sein (ohne Filter: Parameter weglassen)");
    return false;
  }
  *out = s;
  return true;
}

/* Read an optional integer query parameter in its range; false = answered 400. */
static bool mbapi_query_int(kf_http_req *req, kf_http_resp *resp, const mbapi_int_param *p,
                            long long *out) {
  const char *s = NULL;
  *out = p->def;
  if (!mbapi_query_one(req, resp, p->name, &s))
    return false;
  if (!s)
    return true;
  /* Digits only: strtoll would also take a sign "+" that no client means. */
  kf_rc rc = (s[0] >= '0' && s[0] <= '9') || s[0] == '-' ? kf_str_to_llong(s, p->min, p->max, out)
                                                         : KF_ERR_PARSE;
  if (rc == KF_ERR_LIMIT) {
    char why[96];
    (void)kf_str_format(why, sizeof(why), "muss zwischen %lld und %lld liegen", p->min, p->max);
    mbapi_bad_param(resp, p->name, why);
    return false;
  }
  if (rc != KF_OK) {
    mbapi_bad_param(resp, p->name, "muss eine ganze Zahl sein");
    return false;
  }
  return true;
}

/* Read an optional boolean ("true" or "false"); false = answered 400. */
static bool mbapi_query_bool(kf_http_req *req, kf_http_resp *resp, const char *name, bool *out) {
  const char *s = NULL;
  *out = false;
  if (!mbapi_query_one(req, resp, name, &s))
    return false;
  if (!s)
    return true;
  if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0) {
    mbapi_bad_param(resp, name, "muss true oder false sein");
    return false;
  }
  *out = strcmp(s, "true") == 0;
  return true;
}

/* Read an optional string filter; false = answered 400. */
static bool mbapi_query_str(kf_http_req *req, kf_http_resp *resp, const char *name,
                            const char **out) {
  const char *s = NULL;
  *out = NULL;
  if (!mbapi_query_one(req, resp, name, &s))
    return false;
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

/* The longest parameter name a broken escape's answer repeats. */
#define MBAPI_RAW_NAME_MAX 64

/*
 * Refuse a query string with a "%" that two hex digits do not follow
 * ("to=%zz", "subject=50%"): libmicrohttpd keeps such a "%" as literal
 * text, so the value would silently become another filter. Only the raw
 * query string shows it (kf_http_req_raw_query). The first parameter that
 * has one in its name or value is named, as sent (bytes outside printable
 * ASCII as "?", so the answer stays UTF-8); false = answered 400.
 */
static bool mbapi_query_escapes(kf_http_req *req, kf_http_resp *resp) {
  const char *q = kf_http_req_raw_query(req);
  if (q == NULL)
    return true;
  while (*q != '\0') {
    size_t len = strcspn(q, "&");
    size_t at = 0;
    if (kf_http_broken_escape(q, len, &at)) {
      char name[MBAPI_RAW_NAME_MAX + 1];
      size_t n = strcspn(q, "=&");
      n = n < MBAPI_RAW_NAME_MAX ? n : MBAPI_RAW_NAME_MAX;
      for (size_t i = 0; i < n; i++)
        name[i] = q[i] > ' ' && q[i] < 0x7f ? q[i] : '?';
      name[n] = '\0';
      mbapi_bad_param(resp, name, "enthält ein % ohne zwei Hexadezimalziffern danach");
      return false;
    }
    q += len;
    q += *q == '&';
  }
  return true;
}

/*
 * Fill filter (and ints, by mbapi_int) from the query string: the search
 * parameters first, then the integers the route reads; false = answered 400.
 */
static bool mbapi_query_parse(kf_http_req *req, kf_http_resp *resp, const mbapi_ctx *api, bool wait,
                              kf_mailbox_filter *filter, long long *ints) {
  memset(filter, 0, sizeof(*filter));
  if (!mbapi_query_escapes(req, resp))
    return false;
  for (size_t i = 0; i < api->params_len; i++) {
    const char *value = NULL;
    if (!mbapi_query_str(req, resp, api->params[i], &value))
      return false;
    /* There are never more parameters than terms (see mbapi_params_collect). */
    (void)kf_mailbox_filter_set(filter, api->params[i], value);
  }
  for (size_t i = 0; i < MBAPI_INTS_LEN; i++) {
    ints[i] = mbapi_ints[i].def;
    if ((wait || !mbapi_ints[i].wait_only) && !mbapi_query_int(req, resp, &mbapi_ints[i], &ints[i]))
      return false;
  }
  filter->after_id = (int64_t)ints[MBAPI_INT_AFTER];
  filter->limit = (unsigned)ints[MBAPI_INT_LIMIT];
  return mbapi_query_bool(req, resp, MBAPI_DUPLICATES, &filter->include_duplicates);
}

static void mbapi_list(kf_http_req *req, kf_http_resp *resp, void *routep) {
  const mbapi_ctx *api = ((mbapi_route *)routep)->api;
  kf_mailbox_filter filter;
  long long ints[MBAPI_INTS_LEN];
  if (!mbapi_query_parse(req, resp, api, false, &filter, ints))
    return;
  kf_err err;
  kf_err_init(&err);
  json_t *items = NULL;
  kf_rc rc = kf_mailbox_list(api->mb, &filter, &items, &err);
  if (rc != KF_OK) {
    mbapi_store_error(resp, rc, &err);
    return;
  }
  size_t n = json_array_size(items);
  json_t *body = json_object();
  if (!body || json_object_set_new(body, api->collection, items) != 0 ||
      json_object_set_new(body, "count", json_integer((json_int_t)n)) != 0) {
    json_decref(body);
    kf_http_resp_error(resp, 500, "INTERNAL_ERROR", "Interner Fehler.");
    return;
  }
  kf_http_resp_json(resp, 200, body);
}

static void mbapi_wait(kf_http_req *req, kf_http_resp *resp, void *routep) {
  const mbapi_ctx *api = ((mbapi_route *)routep)->api;
  kf_mailbox_filter filter;
  long long ints[MBAPI_INTS_LEN];
  if (!mbapi_query_parse(req, resp, api, true, &filter, ints))
    return;
  kf_err err;
  kf_err_init(&err);
  json_t *doc = NULL;
  kf_rc rc = kf_mailbox_wait(api->mb, &filter, (int64_t)ints[MBAPI_INT_TIMEOUT], &doc, &err);
  if (rc != KF_OK) {
    mbapi_store_error(resp, rc, &err);
    return;
  }
  kf_http_resp_json(resp, 200, doc);
}

static void mbapi_clear(kf_http_req *req, kf_http_resp *resp, void *routep) {
  (void)req;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = kf_mailbox_clear(((mbapi_route *)routep)->api->mb, &err);
  if (rc != KF_OK) {
    mbapi_store_error(resp, rc, &err);
    return;
  }
  kf_http_resp_empty(resp, 204);
}

static void mbapi_health(kf_http_req *req, kf_http_resp *resp, void *routep) {
  (void)req;
  const mbapi_ctx *api = ((mbapi_route *)routep)->api;
  json_t *body =
      json_pack("{s:s, s:s, s:s, s:I, s:I}", "status", "ok", "version", KONFORM_VERSION,
                "collection", api->collection, "count", (json_int_t)kf_mailbox_count(api->mb),
                "last_id", (json_int_t)kf_mailbox_last_id(api->mb));
  if (!body) {
    kf_http_resp_error(resp, 500, "INTERNAL_ERROR", "Interner Fehler.");
    return;
  }
  kf_http_resp_json(resp, 200, body);
}

/* Every {id} route: the id from the path, then the route's item function. */
static void mbapi_item(kf_http_req *req, kf_http_resp *resp, void *routep) {
  const mbapi_route *route = routep;
  const char *s = kf_http_req_param(req, "id");
  long long id;
  if (!s || kf_str_to_llong(s, 1, INT64_MAX, &id) != KF_OK) {
    mbapi_bad_param(resp, "id", "muss eine positive ganze Zahl sein");
    return;
  }
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = route->def->item(route->api->mb, (int64_t)id, resp, &err);
  if (rc != KF_OK)
    mbapi_store_error(resp, rc, &err);
}

static kf_rc mbapi_item_get(kf_mailbox *mb, int64_t id, kf_http_resp *resp, kf_err *err) {
  json_t *doc = NULL;
  kf_rc rc = kf_mailbox_get(mb, id, &doc, err);
  if (rc == KF_OK)
    kf_http_resp_json(resp, 200, doc);
  return rc;
}

static kf_rc mbapi_item_raw(kf_mailbox *mb, int64_t id, kf_http_resp *resp, kf_err *err) {
  char *raw = NULL;
  size_t len = 0;
  kf_rc rc = kf_mailbox_get_raw(mb, id, &raw, &len, err);
  if (rc == KF_OK)
    kf_http_resp_bytes(resp, 200, "message/rfc822", raw, len);
  kf_free(raw);
  return rc;
}

static kf_rc mbapi_item_delete(kf_mailbox *mb, int64_t id, kf_http_resp *resp, kf_err *err) {
  kf_rc rc = kf_mailbox_delete(mb, id, err);
  if (rc == KF_OK)
    kf_http_resp_empty(resp, 204);
  return rc;
}

/*
 * Collect every key name of every collection, once each, in table order.
 * test_mailbox checks that all of them fit one filter.
 */
static void mbapi_params_collect(mbapi_ctx *api) {
  const kf_mailbox_collection *coll;
  for (size_t c = 0; (coll = kf_mailbox_collection_at(c)) != NULL; c++) {
    for (size_t k = 0; k < KF_MAILBOX_KEYS_MAX && coll->keys[k].name; k++) {
      bool seen = false;
      for (size_t i = 0; i < api->params_len && !seen; i++)
        seen = strcmp(api->params[i], coll->keys[k].name) == 0;
      if (seen)
        continue;
      assert(api->params_len < KF_MAILBOX_TERMS_MAX);
      api->params[api->params_len++] = coll->keys[k].name;
    }
  }
}

/* Register route i, whose pattern is prefix [+ collection + suffix]. */
static kf_rc mbapi_route_add(kf_httpd *httpd, mbapi_ctx *api, size_t i, kf_err *err) {
  const mbapi_route_def *def = &mbapi_routes[i];
  mbapi_route *route = &api->routes[i];
  route->api = api;
  route->def = def;
  kf_rc rc = kf_str_format(route->pattern, sizeof(route->pattern), "%s%s%s", def->prefix,
                           def->suffix ? api->collection : "", def->suffix ? def->suffix : "");
  if (rc != KF_OK)
    return kf_err_set(err, rc, "mailbox api: route pattern too long");
  rc = kf_httpd_route(httpd, def->method, route->pattern, def->handler, route);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "mailbox api: cannot register %s %s", def->method, route->pattern);
  return KF_OK;
}

kf_rc kf_mailbox_api_register(kf_httpd *httpd, kf_mailbox *mb, kf_err *err) {
  assert(httpd && mb);
  const char *collection = kf_mailbox_collection_of(mb)->name;
  /* The collection table's names are path segments. */
  assert(*collection && !strchr(collection, '/') && !strchr(collection, '{'));
  mbapi_ctx *api = kf_calloc(1, sizeof(*api));
  if (!api)
    return kf_err_set(err, KF_ERR_NOMEM, "mailbox api: out of memory");
  api->mb = mb;
  api->collection = collection;
  mbapi_params_collect(api);
  if (kf_mailbox_attach(mb, api, mbapi_ctx_free) != KF_OK) {
    kf_free(api);
    return kf_err_set(err, KF_ERR_NOMEM, "mailbox api: out of memory");
  }
  /* From here api belongs to mb, so no error path below frees it. */
  kf_rc rc = KF_OK;
  for (size_t i = 0; rc == KF_OK && i < MBAPI_ROUTES_LEN; i++)
    rc = mbapi_route_add(httpd, api, i, err);
  return rc;
}
