/*
 * httpd.c: router, capped body collection and JSON helpers over
 * libmicrohttpd (see kf/httpd.h).
 */
#include "kf/httpd.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/log.h"
#include "kf/str.h"
#include "kf/timeutil.h"
#include "kf/utf8.h"

#define HTTPD_MAX_SEGMENTS 16
#define HTTPD_MAX_PARAMS 8
#define HTTPD_MAX_RESP_HEADERS 16

typedef enum seg_kind { SEG_LITERAL, SEG_PARAM, SEG_REST } seg_kind;

/* At most this many closed connections are drained at a time; more close at once. */
#define HTTPD_LINGER_MAX 64

/* A connection libmicrohttpd closed with input unread, drained until EOF or deadline. */
typedef struct httpd_linger {
  int fd; /* Our duplicate of the socket; -1 once done. */
  int64_t deadline_ms;
} httpd_linger;

/*
 * One open connection, from libmicrohttpd's STARTED notice to its CLOSED
 * one: the deadline that holds it now, and the raw URL of its request. The
 * list and the deadlines are under the daemon's lock, since the linger
 * thread reads them to cut off connections past their deadline; raw_url is
 * only touched by the connection's own thread.
 */
typedef struct httpd_conn {
  struct httpd_conn *prev, *next;
  int fd;
  int64_t deadline_ms; /* 0 = none (a handler runs or the answer is sent). */
  bool cut;            /* Shut down at its deadline. */
  char *raw_url;       /* The request target as sent (uri_log_cb), or NULL. */
} httpd_conn;

typedef struct httpd_route {
  char *method;
  char *segments[HTTPD_MAX_SEGMENTS]; /* Literal text, or the parameter name without braces. */
  seg_kind kinds[HTTPD_MAX_SEGMENTS];
  size_t n_segments;
  bool rest; /* The pattern ends in "{*name}". */
  kf_http_handler handler;
  void *ctx;
  const void *data; /* Borrowed route_data, for the filter and the handler. */
} httpd_route;

struct kf_httpd {
  char *bind_address;
  char *server_name;
  kf_httpd_config cfg;
  httpd_route *routes;
  size_t n_routes;
  kf_http_filter filter;
  void *filter_ctx;
  kf_http_refusal refusal;
  void *refusal_ctx;
  struct MHD_Daemon *daemon;
  unsigned port;
  int listen_fd; /* Bound by kf_httpd_listen and not yet handed to the daemon, or -1. */
  pthread_mutex_t lock;
  size_t active;       /* Requests begun and not yet completed (under lock). */
  pthread_cond_t idle; /* Signalled when active drops to 0; CLOCK_MONOTONIC. */
  /* Lingering close (linger_main): the items and the stop flag are under lock. */
  httpd_linger linger[HTTPD_LINGER_MAX];
  size_t n_linger;
  const struct MHD_Connection *expect[HTTPD_LINGER_MAX]; /* See linger_expect. */
  size_t n_expect;
  bool linger_stop;
  bool linger_running;
  int64_t
      linger_next_ms; /* When the linger thread's poll ends by itself (-1: never); under lock. */
  httpd_conn *conns;  /* Open connections (under lock), see httpd_conn. */
  pthread_t linger_thread;
  int linger_wake[2]; /* linger_add writes a byte to wake the thread. */
};

struct kf_http_req {
  struct MHD_Connection *conn;  /* NULL for a fake request. */
  const kf_http_fake_req *fake; /* Query and headers of a fake request, else NULL. */
  const void *route_data;       /* Of the matched route, set before the filter runs. */
  kf_httpd *httpd;
  httpd_conn *track; /* The connection's record, or NULL (fake, or none could be made). */
  const char *method;
  char *path;
  kf_buf body;
  bool too_large;
  bool no_memory; /* Collecting the body ran out of memory: the answer is a 500. */
  bool answered_early;
  size_t discarded; /* Bytes of an oversized body read and dropped. */
  const char *param_names[HTTPD_MAX_PARAMS];
  char *param_values[HTTPD_MAX_PARAMS];
  bool param_rest[HTTPD_MAX_PARAMS];
  size_t n_params;
  void *user;
  void (*user_release)(void *);
};

typedef struct resp_header {
  char *name;
  char *value;
} resp_header;

struct kf_http_resp {
  unsigned status;
  char *content_type;
  char *body;
  size_t body_len;
  resp_header headers[HTTPD_MAX_RESP_HEADERS];
  size_t n_headers;
};

void kf_httpd_config_init(kf_httpd_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->bind_address = "127.0.0.1";
  cfg->port = 0;
  cfg->threads = 4;
  cfg->max_body = 1024 * 1024;
  cfg->connection_timeout_s = 60;
  cfg->limits = (kf_httpd_limits)KF_HTTPD_LIMITS_DEFAULT;
  cfg->server_name = NULL;
}

kf_rc kf_httpd_new(const kf_httpd_config *cfg, kf_httpd **out, kf_err *err) {
  kf_httpd *h = kf_calloc(1, sizeof *h);
  if (h == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  h->cfg = *cfg;
  h->bind_address = kf_strdup(cfg->bind_address != NULL ? cfg->bind_address : "127.0.0.1");
  h->server_name = cfg->server_name != NULL ? kf_strdup(cfg->server_name) : NULL;
  if (h->bind_address == NULL || (cfg->server_name != NULL && h->server_name == NULL)) {
    kf_free(h->bind_address);
    kf_free(h->server_name);
    kf_free(h);
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  }
  h->cfg.bind_address = h->bind_address;
  h->cfg.server_name = h->server_name;
  if (h->cfg.max_body == 0)
    h->cfg.max_body = 1024 * 1024;
  h->listen_fd = -1;
  pthread_condattr_t ca;
  if (pthread_mutex_init(&h->lock, NULL) != 0 || pthread_condattr_init(&ca) != 0) {
    kf_free(h->bind_address);
    kf_free(h->server_name);
    kf_free(h);
    return kf_err_set(err, KF_ERR_INTERNAL, "cannot create the request counter");
  }
  int crc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  if (crc == 0)
    crc = pthread_cond_init(&h->idle, &ca);
  pthread_condattr_destroy(&ca);
  if (crc != 0) {
    pthread_mutex_destroy(&h->lock);
    kf_free(h->bind_address);
    kf_free(h->server_name);
    kf_free(h);
    return kf_err_set(err, KF_ERR_INTERNAL, "cannot create the request counter");
  }
  *out = h;
  return KF_OK;
}

static void route_release(httpd_route *r) {
  kf_free(r->method);
  for (size_t i = 0; i < r->n_segments; i++)
    kf_free(r->segments[i]);
}

kf_rc kf_httpd_route(kf_httpd *httpd, const char *method, const char *pattern,
                     kf_http_handler handler, void *ctx) {
  return kf_httpd_route_with_data(httpd, method, pattern, handler, ctx, NULL);
}

kf_rc kf_httpd_route_with_data(kf_httpd *httpd, const char *method, const char *pattern,
                               kf_http_handler handler, void *ctx, const void *route_data) {
  assert(httpd != NULL && httpd->daemon == NULL);
  if (pattern[0] != '/')
    return KF_ERR_INVALID;
  httpd_route r;
  memset(&r, 0, sizeof r);
  r.handler = handler;
  r.ctx = ctx;
  r.data = route_data;
  r.method = kf_strdup(method);
  if (r.method == NULL)
    return KF_ERR_NOMEM;
  const char *p = pattern + 1;
  while (*p != '\0') {
    const char *slash = strchr(p, '/');
    size_t len = slash != NULL ? (size_t)(slash - p) : strlen(p);
    if (r.n_segments == HTTPD_MAX_SEGMENTS || r.rest) {
      route_release(&r);
      return KF_ERR_LIMIT;
    }
    seg_kind kind = SEG_LITERAL;
    const char *text = p;
    size_t text_len = len;
    if (len >= 3 && p[0] == '{' && p[1] == '*' && p[len - 1] == '}') {
      kind = SEG_REST;
      text += 2;
      text_len -= 3;
      r.rest = true;
    } else if (len >= 2 && p[0] == '{' && p[len - 1] == '}') {
      kind = SEG_PARAM;
      text += 1;
      text_len -= 2;
    }
    char *seg = kf_strndup(text, text_len);
    if (seg == NULL) {
      route_release(&r);
      return KF_ERR_NOMEM;
    }
    r.kinds[r.n_segments] = kind;
    r.segments[r.n_segments++] = seg;
    p += len;
    if (*p == '/')
      p++;
  }
  httpd_route *grown = kf_realloc(httpd->routes, (httpd->n_routes + 1) * sizeof *grown);
  if (grown == NULL) {
    route_release(&r);
    return KF_ERR_NOMEM;
  }
  httpd->routes = grown;
  httpd->routes[httpd->n_routes++] = r;
  return KF_OK;
}

void kf_httpd_set_filter(kf_httpd *httpd, kf_http_filter filter, void *ctx) {
  httpd->filter = filter;
  httpd->filter_ctx = ctx;
}

void kf_httpd_set_refusal(kf_httpd *httpd, kf_http_refusal refusal, void *ctx) {
  httpd->refusal = refusal;
  httpd->refusal_ctx = ctx;
}

/* ---- Responses ---- */

static void resp_set_body(kf_http_resp *resp, unsigned status, const char *content_type,
                          const void *data, size_t len) {
  kf_free(resp->body);
  kf_free(resp->content_type);
  resp->body = NULL;
  resp->body_len = 0;
  resp->content_type = NULL;
  resp->status = status;
  if (content_type != NULL)
    resp->content_type = kf_strdup(content_type);
  if (data != NULL) {
    resp->body = kf_memdup0(data, len);
    if (resp->body == NULL) {
      /* Out of memory while answering: degrade to an empty 500. */
      resp->status = 500;
      return;
    }
    resp->body_len = len;
  }
}

void kf_http_resp_bytes(kf_http_resp *resp, unsigned status, const char *content_type,
                        const void *data, size_t len) {
  resp_set_body(resp, status, content_type, data, len);
}

void kf_http_resp_empty(kf_http_resp *resp, unsigned status) {
  resp_set_body(resp, status, NULL, NULL, 0);
}

#define HTTPD_JSON_TYPE "application/json; charset=utf-8"

void kf_http_resp_internal_error(kf_http_resp *resp) {
  static const char body[] =
      "{\"error\":{\"code\":\"INTERNAL_ERROR\",\"message\":\"" KF_HTTP_INTERNAL_MESSAGE
      "\",\"fields\":[]}}";
  resp_set_body(resp, 500, HTTPD_JSON_TYPE, body, sizeof body - 1);
}

void kf_http_resp_json(kf_http_resp *resp, unsigned status, json_t *body) {
  /* A NULL body is a json_pack that ran out of memory: never an empty success. */
  if (body == NULL) {
    kf_http_resp_internal_error(resp);
    return;
  }
  char *text = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  if (text == NULL) {
    kf_http_resp_internal_error(resp);
    return;
  }
  resp_set_body(resp, status, HTTPD_JSON_TYPE, text, strlen(text));
  kf_free(text);
}

void kf_http_resp_header(kf_http_resp *resp, const char *name, const char *value) {
  if (resp->n_headers == HTTPD_MAX_RESP_HEADERS)
    return;
  char *n = kf_strdup(name), *v = kf_strdup(value);
  if (n == NULL || v == NULL) {
    kf_free(n);
    kf_free(v);
    return;
  }
  resp->headers[resp->n_headers].name = n;
  resp->headers[resp->n_headers].value = v;
  resp->n_headers++;
}

json_t *kf_http_error_new(const char *code, const char *message) {
  return json_pack("{s:s, s:s, s:[]}", "code", code, "message", message, "fields");
}

void kf_http_error_add_field(json_t *err, const char *field, const char *code,
                             const char *message) {
  json_t *fields = json_object_get(err, "fields");
  if (fields == NULL)
    return;
  json_array_append_new(
      fields, json_pack("{s:s, s:s, s:s}", "field", field, "code", code, "message", message));
}

void kf_http_resp_error_obj(kf_http_resp *resp, unsigned status, json_t *err) {
  if (err == NULL) {
    kf_http_resp_internal_error(resp);
    return;
  }
  kf_http_resp_json(resp, status, json_pack("{s:o}", "error", err));
}

void kf_http_resp_error(kf_http_resp *resp, unsigned status, const char *code,
                        const char *message) {
  kf_http_resp_error_obj(resp, status, kf_http_error_new(code, message));
}

static const kf_http_error_row httpd_errors[] = {
#define HTTPD_X_ROW(code, status, message) {#code, status, message},
    KF_HTTP_ERRORS(HTTPD_X_ROW)
#undef HTTPD_X_ROW
};

const kf_http_error_row *kf_http_error_row_get(kf_http_errcode e) {
  assert(e < KF_HTTP_ERR_COUNT);
  return &httpd_errors[e];
}

void kf_http_resp_error_row(kf_http_resp *resp, const kf_http_error_row *row) {
  kf_http_resp_error(resp, row->status, row->code, row->message);
}

/* Answer with one of kf_httpd's own errors whose message is not a format. */
static void resp_lib_error(kf_http_resp *resp, kf_http_errcode e) {
  kf_http_resp_error_row(resp, kf_http_error_row_get(e));
}

static void resp_release(kf_http_resp *resp) {
  kf_free(resp->body);
  kf_free(resp->content_type);
  for (size_t i = 0; i < resp->n_headers; i++) {
    kf_free(resp->headers[i].name);
    kf_free(resp->headers[i].value);
  }
}

/* ---- Requests ---- */

const char *kf_http_req_method(const kf_http_req *req) {
  return req->method;
}

const char *kf_http_req_path(const kf_http_req *req) {
  return req->path;
}

const char *kf_http_req_param(const kf_http_req *req, const char *name) {
  for (size_t i = 0; i < req->n_params; i++)
    if (strcmp(req->param_names[i], name) == 0)
      return req->param_values[i];
  return NULL;
}

/* A value from a fake request's name, value, ..., NULL list; ci compares names ignoring case. */
static const char *fake_lookup(const char *const *pairs, const char *name, bool ci) {
  for (size_t i = 0; pairs != NULL && pairs[i] != NULL && pairs[i + 1] != NULL; i += 2) {
    if (ci ? kf_str_eq_ci(pairs[i], name) : strcmp(pairs[i], name) == 0)
      return pairs[i + 1];
  }
  return NULL;
}

const char *kf_http_req_query(const kf_http_req *req, const char *name) {
  if (req->fake != NULL)
    return fake_lookup(req->fake->query, name, false);
  const char *value = NULL;
  size_t len = 0;
  if (MHD_lookup_connection_value_n(req->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &value,
                                    &len) != MHD_YES)
    return NULL;
  /*
   * "%00" decodes to a NUL; a C string would stop there and "?id=<uuid>%00x"
   * would read as "<uuid>". Such a value is treated as absent, never cut.
   */
  if (value == NULL || strlen(value) != len)
    return NULL;
  return value;
}

/* What query_count_cb counts: the arguments named name. */
typedef struct query_count {
  const char *name;
  size_t n;
} query_count;

static enum MHD_Result query_count_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value) {
  (void)kind;
  (void)value;
  query_count *c = cls;
  if (key != NULL && strcmp(key, c->name) == 0)
    c->n++;
  return MHD_YES;
}

size_t kf_http_req_query_count(const kf_http_req *req, const char *name) {
  query_count c = {name, 0};
  if (req->fake != NULL) {
    for (size_t i = 0;
         req->fake->query != NULL && req->fake->query[i] != NULL && req->fake->query[i + 1] != NULL;
         i += 2)
      c.n += strcmp(req->fake->query[i], name) == 0;
    return c.n;
  }
  (void)MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, query_count_cb, &c);
  return c.n;
}

const char *kf_http_req_raw_query(const kf_http_req *req) {
  if (req->fake != NULL)
    return req->fake->raw_query;
  if (req->track == NULL || req->track->raw_url == NULL)
    return NULL;
  const char *q = strchr(req->track->raw_url, '?');
  return q != NULL ? q + 1 : "";
}

static bool httpd_is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool kf_http_broken_escape(const char *s, size_t len, size_t *at) {
  for (size_t i = 0; i < len; i++) {
    if (s[i] != '%')
      continue;
    if (len - i < 3 || !httpd_is_hex(s[i + 1]) || !httpd_is_hex(s[i + 2])) {
      *at = i;
      return true;
    }
    i += 2;
  }
  return false;
}

const char *kf_http_req_header(const kf_http_req *req, const char *name) {
  if (req->fake != NULL)
    return fake_lookup(req->fake->headers, name, true);
  return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *kf_http_req_body(const kf_http_req *req, size_t *len) {
  if (len != NULL)
    *len = req->body.len;
  return req->body.data != NULL ? req->body.data : "";
}

static void req_user_drop(kf_http_req *req) {
  if (req->user_release != NULL && req->user != NULL)
    req->user_release(req->user);
  req->user = NULL;
  req->user_release = NULL;
}

void kf_http_req_set_user(kf_http_req *req, void *user) {
  req_user_drop(req);
  req->user = user;
}

void kf_http_req_set_user_owned(kf_http_req *req, void *user, void (*release)(void *)) {
  req_user_drop(req);
  req->user = user;
  req->user_release = release;
}

void *kf_http_req_user(const kf_http_req *req) {
  return req->user;
}

const void *kf_http_req_route_data(const kf_http_req *req) {
  return req->route_data;
}

static bool content_type_is_json(const char *ct) {
  if (ct == NULL)
    return false;
  ct = kf_str_skip_blanks(ct);
  /* The media type must end after "json": application/jsonx is not JSON. */
  if (kf_str_starts_with_ci(ct, "application/json")) {
    char after = ct[strlen("application/json")];
    return after == '\0' || after == ';' || after == ' ' || after == '\t';
  }
  /* Structured syntax suffix types such as application/problem+json. */
  const char *semi = strchr(ct, ';');
  size_t len = semi != NULL ? (size_t)(semi - ct) : strlen(ct);
  return len > 5 && kf_str_starts_with_ci(ct + len - 5, "+json");
}

static json_t *httpd_json_load(const char *body, size_t len, json_error_t *jerr) {
  /* Any value parses, so a body of null, 1 or "x" is BODY_NOT_OBJECT like [1]. */
  return json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, jerr);
}

/*
 * Whether a failed parse ran out of memory, which is not the client's fault:
 * jansson says so, or leaves the error unset when its first allocation fails
 * (it places every parse error at a line).
 */
static bool httpd_json_no_memory(const json_error_t *jerr) {
  return json_error_code(jerr) == json_error_out_of_memory ||
         (json_error_code(jerr) == json_error_unknown && jerr->line < 0);
}

/*
 * What stands in for a number jansson cannot hold: a real of its sign, which
 * no member that takes a whole number accepts. It is no longer than any such
 * number ("9e308", twenty digits), so the rest of the body keeps its columns.
 */
#define HTTPD_OUT_OF_RANGE "1e308"
#define HTTPD_OUT_OF_RANGE_NEGATIVE "-1e308"

/* Whether the number token at tok (len bytes) is beyond int64 or the double range. */
static bool httpd_number_too_big(const char *tok, size_t len, bool *no_memory) {
  bool negative = tok[0] == '-';
  const char *digits = tok + negative;
  size_t n = len - negative;
  if (memchr(tok, '.', len) == NULL && memchr(tok, 'e', len) == NULL &&
      memchr(tok, 'E', len) == NULL) {
    if (n != 19)
      return n > 19;
    return memcmp(digits, negative ? "9223372036854775808" : "9223372036854775807", 19) > 0;
  }
  char *copy = kf_strndup(tok, len);
  if (copy == NULL) {
    *no_memory = true;
    return false;
  }
  errno = 0;
  double v = strtod(copy, NULL);
  kf_free(copy);
  return errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL);
}

/*
 * A copy of body (len bytes, caller frees) with every number outside a string
 * that jansson would refuse as too big replaced by HTTPD_OUT_OF_RANGE and
 * blanks. NULL when memory ran out.
 */
static char *httpd_json_clamp(const char *body, size_t len) {
  char *out = kf_memdup0(body, len);
  bool no_memory = false;
  for (size_t i = 0; out != NULL && i < len;) {
    if (out[i] == '"') {
      for (i++; i < len && out[i] != '"'; i++)
        i += out[i] == '\\';
      i++;
      continue;
    }
    if (out[i] != '-' && (out[i] < '0' || out[i] > '9')) {
      i++;
      continue;
    }
    size_t end = i;
    while (end < len && strchr("0123456789+-.eE", out[end]) != NULL && out[end] != '\0')
      end++;
    const char *stand_in = out[i] == '-' ? HTTPD_OUT_OF_RANGE_NEGATIVE : HTTPD_OUT_OF_RANGE;
    if (httpd_number_too_big(out + i, end - i, &no_memory) && end - i >= strlen(stand_in)) {
      memset(out + i, ' ', end - i);
      memcpy(out + i, stand_in, strlen(stand_in));
    }
    i = end;
  }
  if (no_memory) {
    kf_free(out);
    return NULL;
  }
  return out;
}

/*
 * Parse body. jansson's lexer drops a failed allocation and then reports a
 * syntax error, so a parse that failed is tried once more: malformed input
 * fails again, a moment without memory does not. A number too big for
 * jansson is a value out of range, judged by validation, not malformed JSON
 * (docs/openapi.yaml, x-konform-decisions): the body is parsed again with
 * such numbers clamped. NULL with *no_memory when memory ran out.
 */
static json_t *httpd_json_parse(const char *body, size_t len, json_error_t *jerr, bool *no_memory) {
  json_t *root = httpd_json_load(body, len, jerr);
  if (root == NULL && !httpd_json_no_memory(jerr))
    root = httpd_json_load(body, len, jerr);
  if (root == NULL && json_error_code(jerr) == json_error_numeric_overflow) {
    char *clamped = httpd_json_clamp(body, len);
    if (clamped == NULL) {
      *no_memory = true;
      return NULL;
    }
    root = httpd_json_load(clamped, len, jerr);
    kf_free(clamped);
  }
  *no_memory = root == NULL && httpd_json_no_memory(jerr);
  return root;
}

/*
 * Drop from s every byte that does not start a valid UTF-8 character, in
 * place. jansson's error text quotes the bytes near the error and may cut a
 * character in two there; a JSON string must be UTF-8, so without this the
 * MALFORMED_JSON answer could not be built and would become a 500.
 */
static void httpd_utf8_scrub(char *s) {
  size_t len = strlen(s), o = 0;
  for (size_t i = 0; i < len;) {
    uint32_t cp;
    size_t n = kf_utf8_decode(s + i, len - i, &cp);
    if (n == 0) {
      i++;
      continue;
    }
    memmove(s + o, s + i, n);
    o += n;
    i += n;
  }
  s[o] = '\0';
}

kf_rc kf_http_req_json(kf_http_req *req, kf_http_resp *resp, json_t **out) {
  *out = NULL;
  if (!content_type_is_json(kf_http_req_header(req, "Content-Type"))) {
    resp_lib_error(resp, KF_HTTP_ERR_UNSUPPORTED_MEDIA_TYPE);
    return KF_ERR_INVALID;
  }
  size_t len = 0;
  const char *body = kf_http_req_body(req, &len);
  if (!kf_utf8_valid(body, len)) {
    resp_lib_error(resp, KF_HTTP_ERR_INVALID_UTF8);
    return KF_ERR_PARSE;
  }
  json_error_t jerr;
  bool no_memory = false;
  json_t *root = httpd_json_parse(body, len, &jerr, &no_memory);
  if (no_memory) {
    kf_http_resp_internal_error(resp);
    return KF_ERR_NOMEM;
  }
  if (root == NULL) {
    const kf_http_error_row *row = kf_http_error_row_get(KF_HTTP_ERR_MALFORMED_JSON);
    char msg[400];
    /* The format is the table's fixed text, never input. */
    (void)kf_str_format(msg, sizeof msg, row->message, jerr.line, jerr.column, jerr.text);
    httpd_utf8_scrub(msg);
    kf_http_resp_error(resp, row->status, row->code, msg);
    return KF_ERR_PARSE;
  }
  if (!json_is_object(root)) {
    json_decref(root);
    resp_lib_error(resp, KF_HTTP_ERR_BODY_NOT_OBJECT);
    return KF_ERR_PARSE;
  }
  *out = root;
  return KF_OK;
}

/* ---- Routing and the libmicrohttpd glue ---- */

/*
 * Match path against r. On success the params point into path (not yet
 * separate strings); params_materialise copies them out.
 */
static bool route_match(const httpd_route *r, const char *path, kf_http_req *req) {
  const char *p = path;
  if (*p == '/')
    p++;
  size_t n_params = 0;
  for (size_t i = 0; i < r->n_segments; i++) {
    if (r->kinds[i] == SEG_REST) {
      if (*p == '\0' || n_params == HTTPD_MAX_PARAMS)
        return false;
      req->param_names[n_params] = r->segments[i];
      req->param_values[n_params] = (char *)p;
      req->param_rest[n_params] = true;
      req->n_params = n_params + 1;
      return true;
    }
    const char *slash = strchr(p, '/');
    size_t len = slash != NULL ? (size_t)(slash - p) : strlen(p);
    if (r->kinds[i] == SEG_PARAM) {
      if (len == 0 || n_params == HTTPD_MAX_PARAMS)
        return false;
      req->param_names[n_params] = r->segments[i];
      req->param_values[n_params] = (char *)p;
      req->param_rest[n_params] = false;
      n_params++;
    } else if (strlen(r->segments[i]) != len || memcmp(r->segments[i], p, len) != 0) {
      return false;
    }
    p += len;
    if (*p == '/') {
      p++;
      /* A trailing slash after the last segment does not match. */
      if (i + 1 == r->n_segments)
        return false;
    } else if (i + 1 < r->n_segments) {
      return false;
    }
  }
  if (*p != '\0')
    return false;
  req->n_params = n_params;
  return true;
}

/* Turn the matched params into separate, owned strings. */
static kf_rc params_materialise(kf_http_req *req) {
  for (size_t i = 0; i < req->n_params; i++) {
    const char *start = req->param_values[i];
    size_t len = req->param_rest[i] ? strlen(start) : strcspn(start, "/");
    req->param_values[i] = kf_strndup(start, len);
    if (req->param_values[i] == NULL) {
      for (size_t j = 0; j < i; j++)
        kf_free(req->param_values[j]);
      req->n_params = 0;
      return KF_ERR_NOMEM;
    }
  }
  return KF_OK;
}

static void req_free(kf_http_req *req) {
  if (req == NULL)
    return;
  req_user_drop(req);
  for (size_t i = 0; i < req->n_params; i++)
    kf_free(req->param_values[i]);
  kf_free(req->path);
  kf_buf_release(&req->body);
  kf_free(req);
}

static enum MHD_Result queue_resp(kf_http_req *req, kf_http_resp *resp) {
  struct MHD_Response *mr = MHD_create_response_from_buffer(
      resp->body_len, resp->body != NULL ? resp->body : (void *)"", MHD_RESPMEM_MUST_COPY);
  if (mr == NULL)
    return MHD_NO;
  if (resp->content_type != NULL)
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
  /* Nothing konform serves may be cached or sniffed into another type. */
  MHD_add_response_header(mr, "Cache-Control", "no-store");
  MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
  if (req->httpd->server_name != NULL)
    MHD_add_response_header(mr, MHD_HTTP_HEADER_SERVER, req->httpd->server_name);
  for (size_t i = 0; i < resp->n_headers; i++)
    MHD_add_response_header(mr, resp->headers[i].name, resp->headers[i].value);
  enum MHD_Result ret = MHD_queue_response(req->conn, resp->status, mr);
  MHD_destroy_response(mr);
  return ret;
}

/* Whether the ", "-separated list allow names method. */
static bool allow_has(const char *allow, const char *method) {
  size_t n = strlen(method);
  for (const char *p = allow; *p != '\0';) {
    size_t len = strcspn(p, ",");
    if (len == n && memcmp(p, method, n) == 0)
      return true;
    p += len;
    p += strspn(p, ", ");
  }
  return false;
}

/* Add method to the Allow list, once; a GET brings its HEAD (kf_httpd serves both). */
static void allow_add(char *allow, size_t size, const char *method) {
  const char *const methods[] = {method, strcmp(method, "GET") == 0 ? "HEAD" : NULL};
  for (size_t i = 0; i < 2 && methods[i] != NULL; i++) {
    size_t used = strlen(allow);
    if (allow_has(allow, methods[i]) || used + strlen(methods[i]) + 3 > size)
      continue;
    (void)kf_str_copy(allow + used, size - used, used > 0 ? ", " : "");
    (void)kf_str_copy(allow + strlen(allow), size - strlen(allow), methods[i]);
  }
}

static bool route_method_ok(const httpd_route *r, const char *method) {
  return strcmp(r->method, "*") == 0 || strcmp(r->method, method) == 0 ||
         (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0);
}

/* The 405 for a path some route has, with Allow; the refusal hook may reshape it. */
static void dispatch_refuse(kf_httpd *h, kf_http_req *req, kf_http_resp *resp, const char *allow,
                            const void *route_data) {
  const kf_http_error_row *row = kf_http_error_row_get(KF_HTTP_ERR_METHOD_NOT_ALLOWED);
  kf_http_resp_error_row(resp, row);
  kf_http_resp_header(resp, "Allow", allow);
  req->route_data = route_data;
  if (h->refusal != NULL)
    h->refusal(req, resp, row, h->refusal_ctx);
}

static void dispatch(kf_httpd *h, kf_http_req *req, kf_http_resp *resp) {
  const httpd_route *path_route = NULL;
  char allow[128] = "";
  for (size_t i = 0; i < h->n_routes; i++) {
    httpd_route *r = &h->routes[i];
    req->n_params = 0;
    if (!route_match(r, req->path, req))
      continue;
    if (path_route == NULL)
      path_route = r;
    if (!route_method_ok(r, req->method)) {
      allow_add(allow, sizeof allow, r->method);
      continue;
    }
    if (params_materialise(req) != KF_OK) {
      kf_http_resp_internal_error(resp);
      return;
    }
    req->route_data = r->data;
    /* The filter runs for routed requests only: an unknown path stays a 404. */
    if (h->filter != NULL && !h->filter(req, resp, h->filter_ctx))
      return;
    r->handler(req, resp, r->ctx);
    return;
  }
  req->n_params = 0;
  if (path_route != NULL)
    dispatch_refuse(h, req, resp, allow, path_route->data);
  else
    resp_lib_error(resp, KF_HTTP_ERR_NOT_FOUND);
}

/* A new request for method and path (copied), or NULL when memory ran out. */
static kf_http_req *req_new(kf_httpd *h, const char *method, const char *path) {
  kf_http_req *req = kf_calloc(1, sizeof *req);
  if (req == NULL)
    return NULL;
  req->httpd = h;
  req->method = method;
  req->path = kf_strdup(path);
  kf_buf_init(&req->body, h->cfg.max_body);
  if (req->path == NULL) {
    req_free(req);
    return NULL;
  }
  return req;
}

static void resp_too_large(const kf_httpd *h, kf_http_resp *resp) {
  const kf_http_error_row *row = kf_http_error_row_get(KF_HTTP_ERR_BODY_TOO_LARGE);
  char msg[160];
  /* The format is the table's fixed text, never input. */
  (void)kf_str_format(msg, sizeof msg, row->message, h->cfg.max_body);
  kf_http_resp_error(resp, row->status, row->code, msg);
}

/* Add to the body; past the cap the answer is a 413, out of memory a 500. */
static void req_body_append(kf_http_req *req, const char *data, size_t len) {
  kf_rc rc = kf_buf_append(&req->body, data, len);
  if (rc == KF_ERR_LIMIT)
    req->too_large = true;
  else if (rc != KF_OK)
    req->no_memory = true;
}

/* Answer a request whose body is complete: 413, or route it; never without a status. */
static void serve(kf_httpd *h, kf_http_req *req, kf_http_resp *resp) {
  if (req->no_memory)
    kf_http_resp_internal_error(resp);
  else if (req->too_large)
    resp_too_large(h, resp);
  else
    dispatch(h, req, resp);
  if (resp->status == 0)
    kf_http_resp_internal_error(resp);
}

static void linger_expect(kf_httpd *h, struct MHD_Connection *conn);
static void linger_wake(kf_httpd *h);

/* ---- Connection records and deadlines ---- */

/* The record of conn (made when libmicrohttpd announced it), or NULL. */
static httpd_conn *conn_of(struct MHD_Connection *conn) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci != NULL ? ci->socket_context : NULL;
}

/* Give c a deadline seconds from now (0 = none), and wake the thread that enforces it. */
static void conn_deadline(kf_httpd *h, httpd_conn *c, unsigned seconds) {
  if (c == NULL)
    return;
  int64_t at = seconds == 0 ? 0 : kf_time_monotonic_ms() + (int64_t)seconds * 1000;
  pthread_mutex_lock(&h->lock);
  c->deadline_ms = at;
  bool sooner = at != 0 && (h->linger_next_ms < 0 || at < h->linger_next_ms);
  pthread_mutex_unlock(&h->lock);
  /* A later deadline needs no wake (the thread recomputes when the old one passes). */
  if (sooner)
    linger_wake(h);
}

/* A new connection: its record, linked in, with the head's deadline. */
static void conn_track_start(kf_httpd *h, struct MHD_Connection *conn, void **socket_context) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  httpd_conn *c = kf_calloc(1, sizeof *c);
  if (c == NULL || ci == NULL) {
    /* A connection no deadline could hold is not served: it ends at once. */
    kf_free(c);
    if (ci != NULL)
      (void)shutdown(ci->connect_fd, SHUT_RDWR);
    return;
  }
  c->fd = ci->connect_fd;
  pthread_mutex_lock(&h->lock);
  c->next = h->conns;
  if (h->conns != NULL)
    h->conns->prev = c;
  h->conns = c;
  pthread_mutex_unlock(&h->lock);
  *socket_context = c;
  conn_deadline(h, c, h->cfg.limits.head_timeout_s);
}

/*
 * The connection closes: unlink its record under the lock, so the deadline
 * thread never shuts down a descriptor libmicrohttpd is about to close (and
 * the system may give to the next connection).
 */
static void conn_track_end(kf_httpd *h, void **socket_context) {
  httpd_conn *c = *socket_context;
  if (c == NULL)
    return;
  pthread_mutex_lock(&h->lock);
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    h->conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  pthread_mutex_unlock(&h->lock);
  kf_free(c->raw_url);
  kf_free(c);
  *socket_context = NULL;
}

/*
 * Shut down every connection past its deadline; the milliseconds until the
 * next deadline, or -1 when none is set. Under lock. Only the reading side
 * of libmicrohttpd notices: its thread reads the end of input and closes the
 * connection itself, so the descriptor stays its own until CLOSED.
 */
static int conns_cut_due(kf_httpd *h, int64_t now) {
  int64_t next = -1;
  for (httpd_conn *c = h->conns; c != NULL; c = c->next) {
    if (c->deadline_ms == 0 || c->cut)
      continue;
    if (now >= c->deadline_ms) {
      (void)shutdown(c->fd, SHUT_RDWR);
      c->cut = true;
      kf_debug("closed a connection at its deadline (head or body not complete)");
      continue;
    }
    if (next < 0 || c->deadline_ms - now < next)
      next = c->deadline_ms - now;
  }
  return next > INT32_MAX ? INT32_MAX : (int)next;
}

/*
 * The request target as sent, before libmicrohttpd decodes it in place, for
 * kf_http_req_raw_query. Called once per request, after the connection's
 * previous request completed, so the record holds one target at a time.
 */
static void *uri_log_cb(void *cls, const char *uri, struct MHD_Connection *conn) {
  (void)cls;
  httpd_conn *c = conn_of(conn);
  if (c != NULL) {
    kf_free(c->raw_url);
    c->raw_url = kf_strdup(uri);
  }
  return NULL;
}

/* ---- Framing (RFC 9112) ---- */

/* What the head says about its framing, from every field line, repeats included. */
typedef struct httpd_framing {
  size_t n_length, n_encoding, n_host;
  bool length_bad;   /* A Content-Length that is not digits only. */
  bool encoding_bad; /* A Transfer-Encoding other than "chunked". */
} httpd_framing;

/*
 * libmicrohttpd's own lookup returns the first of repeated fields, so two
 * Content-Length lines would frame the body by the first and leave the rest
 * as the next request; iterating shows every line.
 */
static enum MHD_Result framing_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value) {
  (void)kind;
  httpd_framing *f = cls;
  const char *v = value != NULL ? value : "";
  if (key == NULL)
    return MHD_YES;
  if (kf_str_eq_ci(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
    f->n_length++;
    f->length_bad = f->length_bad || v[0] == '\0' || strspn(v, "0123456789") != strlen(v);
  } else if (kf_str_eq_ci(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
    f->n_encoding++;
    f->encoding_bad = f->encoding_bad || !kf_str_eq_ci(v, "chunked");
  } else if (kf_str_eq_ci(key, MHD_HTTP_HEADER_HOST)) {
    f->n_host++;
  }
  return MHD_YES;
}

/*
 * Why the head's framing is refused (for the log), or NULL when it is sound.
 * Every ambiguity is refused, identical repeated Content-Length lines too
 * (RFC 9110 8.6 allows either): no client konform serves sends them, and one
 * rule is easier to hold to than a comparison.
 */
static const char *framing_fault(struct MHD_Connection *conn, const char *version) {
  httpd_framing f;
  memset(&f, 0, sizeof f);
  (void)MHD_get_connection_values(conn, MHD_HEADER_KIND, framing_cb, &f);
  if (f.n_length > 1)
    return "more than one Content-Length";
  if (f.n_length > 0 && f.n_encoding > 0)
    return "Content-Length beside Transfer-Encoding";
  if (f.length_bad)
    return "a Content-Length that is not a number";
  if (f.n_encoding > 1 || f.encoding_bad)
    return "a Transfer-Encoding other than chunked";
  if (f.n_host > 1)
    return "more than one Host";
  if (f.n_host == 0 && version != NULL && strcmp(version, MHD_HTTP_VERSION_1_1) == 0)
    return "HTTP/1.1 without Host";
  return NULL;
}

/*
 * The path of a request target: an absolute-form target
 * ("http://host:port/path", RFC 9112 3.2.2) is routed by what follows its
 * authority, which libmicrohttpd leaves in the URL it passes on.
 */
static const char *target_path(const char *url) {
  size_t skip = kf_str_starts_with_ci(url, "http://")    ? 7
                : kf_str_starts_with_ci(url, "https://") ? 8
                                                         : 0;
  if (skip == 0)
    return url;
  const char *slash = strchr(url + skip, '/');
  return slash != NULL ? slash : "/";
}

/*
 * Refuse a request whose framing is broken: 400 MALFORMED_REQUEST, and the
 * connection closes after it, since nobody can tell where its body ends and
 * the next request begins (what follows is never served).
 */
static enum MHD_Result access_malformed(kf_http_req *req, const char *why) {
  kf_info("refused a request: %s", why);
  req->answered_early = true;
  linger_expect(req->httpd, req->conn);
  kf_http_resp resp;
  memset(&resp, 0, sizeof resp);
  resp_lib_error(&resp, KF_HTTP_ERR_MALFORMED_REQUEST);
  kf_http_resp_header(&resp, MHD_HTTP_HEADER_CONNECTION, "close");
  enum MHD_Result ret = queue_resp(req, &resp);
  resp_release(&resp);
  return ret;
}

/* How much of an oversized body is read and dropped before the connection is given up. */
static size_t httpd_discard_max(const kf_httpd *h) {
  return h->cfg.max_body > SIZE_MAX / KF_HTTPD_DISCARD_FACTOR
             ? SIZE_MAX
             : h->cfg.max_body * KF_HTTPD_DISCARD_FACTOR;
}

/* Whether the client waits for "100 Continue" before it sends the body. */
static bool expects_continue(struct MHD_Connection *conn) {
  const char *e = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
  return e != NULL && kf_str_eq_ci(kf_str_skip_blanks(e), "100-continue");
}

/*
 * The first call for a connection's request: set it up and judge a declared
 * body size. A body over the cap but within the discard bound is read and
 * dropped, and the 413 follows it on a connection that stays open: a client
 * that sends its whole body before reading (Node's fetch, curl without
 * Expect) then always reads the answer. A client waiting for 100 Continue has
 * sent nothing yet, and a larger body is not worth reading, so both are
 * answered at once; the connection then closes with a lingering drain
 * (linger_add), which keeps the close from resetting the answer away.
 */
static enum MHD_Result access_begin(kf_httpd *h, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version, void **con_cls) {
  kf_http_req *req = req_new(h, method, target_path(url));
  if (req == NULL)
    return MHD_NO;
  req->conn = conn;
  req->track = conn_of(conn);
  *con_cls = req;
  pthread_mutex_lock(&h->lock);
  h->active++;
  pthread_mutex_unlock(&h->lock);
  /* The head is complete: from here the body's deadline holds the connection. */
  conn_deadline(h, req->track, h->cfg.limits.body_timeout_s);
  const char *fault = framing_fault(conn, version);
  if (fault != NULL)
    return access_malformed(req, fault);
  const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
  long long declared = 0;
  if (cl == NULL || kf_str_to_llong(cl, 0, INT64_MAX, &declared) != KF_OK ||
      (unsigned long long)declared <= h->cfg.max_body)
    return MHD_YES;
  req->too_large = true;
  if (!expects_continue(conn) && (unsigned long long)declared <= httpd_discard_max(h))
    return MHD_YES;
  req->answered_early = true;
  if (!expects_continue(conn))
    linger_expect(h, conn);
  kf_http_resp resp;
  memset(&resp, 0, sizeof resp);
  resp_too_large(h, &resp);
  enum MHD_Result ret = queue_resp(req, &resp);
  resp_release(&resp);
  return ret;
}

/*
 * Take a piece of the body: collected up to the cap, then dropped. A body
 * streamed past the discard bound (chunked, no declared size) cannot be
 * answered any more (libmicrohttpd queues no answer mid-upload): the
 * connection is closed.
 */
static enum MHD_Result access_upload(kf_http_req *req, const char *data, size_t len) {
  if (!req->too_large && !req->no_memory) {
    req_body_append(req, data, len);
    return MHD_YES;
  }
  req->discarded += len;
  if (req->discarded <= httpd_discard_max(req->httpd))
    return MHD_YES;
  linger_expect(req->httpd, req->conn);
  return MHD_NO;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls) {
  kf_httpd *h = cls;
  kf_http_req *req = *con_cls;
  if (req == NULL)
    return access_begin(h, conn, url, method, version, con_cls);
  if (*upload_data_size > 0) {
    enum MHD_Result ret = access_upload(req, upload_data, *upload_data_size);
    *upload_data_size = 0;
    return ret;
  }
  if (req->answered_early)
    return MHD_YES;
  /* The body is complete; a handler may block for minutes (long-polls). */
  conn_deadline(h, req->track, 0);
  kf_http_resp resp;
  memset(&resp, 0, sizeof resp);
  serve(h, req, &resp);
  kf_debug("%s %s -> %u", method, url, resp.status);
  enum MHD_Result ret = queue_resp(req, &resp);
  resp_release(&resp);
  return ret;
}

/* resp's headers as "Name: value\r\n" lines (caller frees), or NULL when memory ran out. */
static char *answer_headers(const kf_http_resp *resp) {
  kf_buf b;
  kf_buf_init(&b, 64 * 1024);
  kf_rc rc = KF_OK;
  for (size_t i = 0; rc == KF_OK && i < resp->n_headers; i++)
    rc = kf_buf_appendf(&b, "%s: %s\r\n", resp->headers[i].name, resp->headers[i].value);
  char *text = rc == KF_OK ? kf_buf_detach(&b, NULL) : NULL;
  kf_buf_release(&b);
  return text;
}

kf_rc kf_httpd_serve_fake(kf_httpd *h, const kf_http_fake_req *in, kf_http_answer *out,
                          kf_err *err) {
  assert(h != NULL && in != NULL && in->method != NULL && in->path != NULL && out != NULL);
  memset(out, 0, sizeof *out);
  kf_http_req *req = req_new(h, in->method, in->path);
  if (req == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  req->fake = in;
  if (in->body != NULL)
    req_body_append(req, in->body, in->body_len);
  kf_http_resp resp;
  memset(&resp, 0, sizeof resp);
  serve(h, req, &resp);
  req_free(req);
  /* The answer takes the body and the content type; an empty body becomes "". */
  out->status = resp.status;
  out->content_type = resp.content_type;
  out->body = resp.body != NULL ? resp.body : kf_memdup0("", 0);
  out->body_len = resp.body_len;
  out->headers = answer_headers(&resp);
  resp.content_type = NULL;
  resp.body = NULL;
  resp_release(&resp);
  if (out->body == NULL || out->headers == NULL) {
    kf_http_answer_release(out);
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  }
  return KF_OK;
}

void kf_http_answer_release(kf_http_answer *answer) {
  if (answer == NULL)
    return;
  kf_free(answer->content_type);
  kf_free(answer->body);
  kf_free(answer->headers);
  memset(answer, 0, sizeof *answer);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)toe;
  kf_httpd *h = cls;
  if (*con_cls == NULL)
    return;
  /* A kept-alive connection's next head must arrive within the head's deadline. */
  conn_deadline(h, conn_of(conn), h->cfg.limits.head_timeout_s);
  req_free(*con_cls);
  *con_cls = NULL;
  pthread_mutex_lock(&h->lock);
  assert(h->active > 0);
  if (--h->active == 0)
    pthread_cond_broadcast(&h->idle);
  pthread_mutex_unlock(&h->lock);
}

/* ---- Lingering close ---- */

/*
 * Closing a socket whose input was never read makes the kernel send a reset,
 * and a reset can destroy an answer the client has not read yet (a 413 given
 * while the client still sends its body). So a connection libmicrohttpd
 * closes with input pending is kept open on a duplicate of its socket: after
 * the answer libmicrohttpd has shut the sending side, and the linger thread
 * reads and drops what still arrives until the client closes too or
 * KF_HTTPD_LINGER_MS pass (Apache's lingering close).
 */
/*
 * Remember that conn was answered before its body was read (or cut off in the
 * middle of it): its close must linger even when no input happens to wait at
 * that moment, since the client is still sending.
 */
static void linger_expect(kf_httpd *h, struct MHD_Connection *conn) {
  pthread_mutex_lock(&h->lock);
  if (h->n_expect < HTTPD_LINGER_MAX)
    h->expect[h->n_expect++] = conn;
  pthread_mutex_unlock(&h->lock);
}

/* Whether conn was expected to linger (it is forgotten now); under lock. */
static bool linger_take_expected(kf_httpd *h, const struct MHD_Connection *conn) {
  for (size_t i = 0; i < h->n_expect; i++) {
    if (h->expect[i] == conn) {
      h->expect[i] = h->expect[--h->n_expect];
      return true;
    }
  }
  return false;
}

/* conn is being closed; keep its socket fd open to drain it if input is or may be coming. */
static void linger_add(kf_httpd *h, const struct MHD_Connection *conn, int fd) {
  char b;
  bool pending = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
  pthread_mutex_lock(&h->lock);
  bool expected = linger_take_expected(h, conn);
  int dup = -1;
  if ((pending || expected) && h->linger_running && !h->linger_stop &&
      h->n_linger < HTTPD_LINGER_MAX)
    dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup >= 0)
    h->linger[h->n_linger++] = (httpd_linger){dup, kf_time_monotonic_ms() + KF_HTTPD_LINGER_MS};
  pthread_mutex_unlock(&h->lock);
  if (dup >= 0)
    linger_wake(h);
}

/* Wake the linger thread (it also enforces the connections' deadlines). */
static void linger_wake(kf_httpd *h) {
  if (!h->linger_running)
    return;
  ssize_t w = write(h->linger_wake[1], "x", 1);
  (void)w; /* A full pipe already wakes the thread. */
}

static void notify_cb(void *cls, struct MHD_Connection *conn, void **socket_context,
                      enum MHD_ConnectionNotificationCode toe) {
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    conn_track_start(cls, conn, socket_context);
    return;
  }
  if (toe != MHD_CONNECTION_NOTIFY_CLOSED)
    return;
  conn_track_end(cls, socket_context);
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (ci != NULL)
    linger_add(cls, conn, ci->connect_fd);
}

/* Read and drop what is there; whether the connection is done (EOF, error or deadline). */
static bool linger_drain(httpd_linger *l, int64_t now) {
  char sink[16384];
  for (int rounds = 0; rounds < 64; rounds++) {
    ssize_t n = recv(l->fd, sink, sizeof sink, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
      return true;
    if (n < 0)
      break;
  }
  return now >= l->deadline_ms;
}

/* Drop the items that are done (fd -1), keeping the order of the rest. */
static void linger_compact(kf_httpd *h) {
  size_t kept = 0;
  for (size_t i = 0; i < h->n_linger; i++) {
    if (h->linger[i].fd >= 0)
      h->linger[kept++] = h->linger[i];
  }
  h->n_linger = kept;
}

/*
 * Items are only appended by others (under lock) and only closed and removed
 * by this thread, so the first n stay put while the lock is not held. The
 * same loop enforces the connections' deadlines (conns_cut_due): it already
 * sleeps in poll until the next deadline or a wake, so a slow client costs
 * no thread and no timer of its own.
 */
static void *linger_main(void *arg) {
  kf_httpd *h = arg;
  pthread_mutex_lock(&h->lock);
  while (!h->linger_stop) {
    struct pollfd pfd[HTTPD_LINGER_MAX + 1];
    size_t n = h->n_linger;
    int64_t now = kf_time_monotonic_ms();
    int timeout = conns_cut_due(h, now);
    pfd[0] = (struct pollfd){.fd = h->linger_wake[0], .events = POLLIN};
    for (size_t i = 0; i < n; i++) {
      pfd[i + 1] = (struct pollfd){.fd = h->linger[i].fd, .events = POLLIN};
      int64_t left = h->linger[i].deadline_ms > now ? h->linger[i].deadline_ms - now : 0;
      if (timeout < 0 || left < timeout)
        timeout = (int)left;
    }
    h->linger_next_ms = timeout < 0 ? -1 : now + timeout;
    pthread_mutex_unlock(&h->lock);
    (void)poll(pfd, (nfds_t)n + 1, timeout);
    char wake[64];
    while (read(h->linger_wake[0], wake, sizeof wake) > 0) {
    }
    now = kf_time_monotonic_ms();
    for (size_t i = 0; i < n; i++) {
      if ((pfd[i + 1].revents != 0 || now >= h->linger[i].deadline_ms) &&
          linger_drain(&h->linger[i], now)) {
        close(h->linger[i].fd);
        h->linger[i].fd = -1;
      }
    }
    pthread_mutex_lock(&h->lock);
    linger_compact(h);
  }
  for (size_t i = 0; i < h->n_linger; i++)
    close(h->linger[i].fd);
  h->n_linger = 0;
  pthread_mutex_unlock(&h->lock);
  return NULL;
}

static kf_rc linger_start(kf_httpd *h, kf_err *err) {
  if (pipe(h->linger_wake) != 0)
    return kf_err_set(err, KF_ERR_IO, "cannot create a pipe: %s", strerror(errno));
  for (int i = 0; i < 2; i++) {
    (void)fcntl(h->linger_wake[i], F_SETFD, FD_CLOEXEC);
    (void)fcntl(h->linger_wake[i], F_SETFL, O_NONBLOCK);
  }
  h->linger_stop = false;
  if (pthread_create(&h->linger_thread, NULL, linger_main, h) != 0) {
    close(h->linger_wake[0]);
    close(h->linger_wake[1]);
    return kf_err_set(err, KF_ERR_INTERNAL, "cannot start the lingering-close thread");
  }
  h->linger_running = true;
  return KF_OK;
}

/* Stop the linger thread (after the daemon: its last closes may still add items). */
static void linger_stop(kf_httpd *h) {
  if (!h->linger_running)
    return;
  pthread_mutex_lock(&h->lock);
  h->linger_stop = true;
  pthread_mutex_unlock(&h->lock);
  ssize_t w = write(h->linger_wake[1], "x", 1);
  (void)w;
  pthread_join(h->linger_thread, NULL);
  close(h->linger_wake[0]);
  close(h->linger_wake[1]);
  h->linger_running = false;
  h->n_expect = 0;
}

kf_rc kf_httpd_listen(kf_httpd *h, kf_err *err) {
  assert(h->daemon == NULL);
  if (h->listen_fd >= 0)
    return KF_OK;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t ss_len;
  if (strchr(h->bind_address, ':') != NULL) {
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)h->cfg.port);
    if (inet_pton(AF_INET6, h->bind_address, &a6->sin6_addr) != 1)
      return kf_err_set(err, KF_ERR_INVALID, "invalid bind address '%s'", h->bind_address);
    ss_len = sizeof *a6;
  } else {
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)h->cfg.port);
    if (inet_pton(AF_INET, h->bind_address, &a4->sin_addr) != 1)
      return kf_err_set(err, KF_ERR_INVALID, "invalid bind address '%s'", h->bind_address);
    ss_len = sizeof *a4;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return kf_err_set(err, KF_ERR_IO, "cannot create a socket: %s", strerror(errno));
  int one = 1;
  /* A restarted server must not wait for TIME_WAIT of its previous connections. */
  (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&ss, ss_len) != 0 || listen(fd, 128) != 0) {
    int e = errno;
    close(fd);
    return kf_err_set(err, KF_ERR_IO, "cannot listen on %s:%u: %s", h->bind_address, h->cfg.port,
                      strerror(e));
  }
  struct sockaddr_storage bound;
  socklen_t blen = sizeof bound;
  if (getsockname(fd, (struct sockaddr *)&bound, &blen) != 0) {
    int e = errno;
    close(fd);
    return kf_err_set(err, KF_ERR_IO, "cannot read the bound port: %s", strerror(e));
  }
  h->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&bound)->sin_port);
  h->listen_fd = fd;
  return KF_OK;
}

/*
 * Take the hard limit of open descriptors as the soft one: a thousand
 * connections need more than the usual soft limit of 1024, and nothing in
 * these programs uses select.
 */
static void httpd_raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
      kf_warn("cannot raise the limit of open files: %s", strerror(errno));
  }
}

kf_rc kf_httpd_start(kf_httpd *h, kf_err *err) {
  assert(h->daemon == NULL);
  kf_rc rc = kf_httpd_listen(h, err);
  if (rc != KF_OK)
    return rc;
  /*
   * MHD_USE_AUTO picks epoll for a pool and poll for a thread per
   * connection: select would stop at descriptor 1024, below the default
   * connection limit.
   */
  unsigned flags = MHD_USE_ERROR_LOG | MHD_USE_ITC | MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD;
  if (strchr(h->bind_address, ':') != NULL)
    flags |= MHD_USE_IPv6;
  if (h->cfg.threads == 0)
    flags |= MHD_USE_THREAD_PER_CONNECTION;
  httpd_raise_fd_limit();
  const kf_httpd_limits *lim = &h->cfg.limits;
  struct MHD_OptionItem opts[12];
  size_t n = 0;
  /* The socket kf_httpd_listen bound: its port was known before any worker ran. */
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, h->listen_fd, NULL};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed_cb, h};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)notify_cb, h};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                      (intptr_t)h->cfg.connection_timeout_s, NULL};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)uri_log_cb, h};
  opts[n++] = (struct MHD_OptionItem){
      MHD_OPTION_CONNECTION_LIMIT,
      (intptr_t)(lim->max_connections ? lim->max_connections : KF_HTTPD_MAX_CONNECTIONS_DEFAULT),
      NULL};
  /* A peer over its cap is closed at the accept, before it holds a thread. */
  if (lim->max_connections_per_ip > 0)
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                        (intptr_t)lim->max_connections_per_ip, NULL};
  if (h->cfg.threads > 1)
    opts[n++] =
        (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)h->cfg.threads, NULL};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
  rc = linger_start(h, err);
  if (rc != KF_OK)
    return rc;
  h->daemon = MHD_start_daemon(flags, (uint16_t)h->port, NULL, NULL, access_cb, h, MHD_OPTION_ARRAY,
                               opts, MHD_OPTION_END);
  if (h->daemon == NULL) {
    linger_stop(h);
    return kf_err_set(err, KF_ERR_IO, "cannot start serving on %s:%u", h->bind_address, h->port);
  }
  /* From here the daemon owns the socket (kf_httpd_stop hands it back to close). */
  h->listen_fd = -1;
  return KF_OK;
}

unsigned kf_httpd_port(const kf_httpd *h) {
  return h->port;
}

/* How long kf_httpd_stop lets requests in flight finish before it cuts them. */
#define HTTPD_DRAIN_MS 10000

void kf_httpd_stop(kf_httpd *h) {
  if (h == NULL)
    return;
  pthread_mutex_lock(&h->lock);
  struct MHD_Daemon *d = h->daemon;
  h->daemon = NULL;
  pthread_mutex_unlock(&h->lock);
  if (d == NULL)
    return;
  /* Stop accepting first, so nothing new starts while in-flight work ends. */
  MHD_socket fd = MHD_quiesce_daemon(d);
  /*
   * Let every request that began finish and send its answer (a registration
   * already committed must not reach its client as a dropped connection).
   * The wait is on a condition variable, bounded by a deadline.
   */
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += HTTPD_DRAIN_MS / 1000;
  pthread_mutex_lock(&h->lock);
  while (h->active > 0) {
    if (pthread_cond_timedwait(&h->idle, &h->lock, &deadline) == ETIMEDOUT) {
      kf_warn("stopping with %zu request(s) still in flight", h->active);
      break;
    }
  }
  pthread_mutex_unlock(&h->lock);
  MHD_stop_daemon(d);
  linger_stop(h);
  if (fd != MHD_INVALID_SOCKET)
    close(fd);
}

void kf_httpd_free(kf_httpd *h) {
  if (h == NULL)
    return;
  kf_httpd_stop(h);
  if (h->listen_fd >= 0)
    close(h->listen_fd);
  for (size_t i = 0; i < h->n_routes; i++)
    route_release(&h->routes[i]);
  kf_free(h->routes);
  kf_free(h->bind_address);
  kf_free(h->server_name);
  pthread_cond_destroy(&h->idle);
  pthread_mutex_destroy(&h->lock);
  kf_free(h);
}
