/*
 * httpd.h: a small router and JSON helpers over libmicrohttpd, shared by
 * konform-server, konform-mail and konform-post.
 *
 * Request bodies are collected with a hard cap (over it: 413 BODY_TOO_LARGE and
 * the handler is never called). Every error answer has the one shape
 *   {"error": {"code": "...", "message": "...", "fields": [...]}}
 * documented in docs/openapi.yaml.
 *
 * Handlers run on libmicrohttpd worker threads and may block (long-polls), so
 * configure enough threads, or 0 for a thread per connection.
 */
#ifndef KF_HTTPD_H
#define KF_HTTPD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "kf/error.h"

typedef struct kf_httpd kf_httpd;
typedef struct kf_http_req kf_http_req;
typedef struct kf_http_resp kf_http_resp;

/* A handler fills resp. It must not keep req or resp after returning. */
typedef void (*kf_http_handler)(kf_http_req *req, kf_http_resp *resp, void *ctx);

typedef struct kf_httpd_config {
  const char *bind_address;      /* Default "127.0.0.1". */
  unsigned port;                 /* 0 picks a free port. */
  unsigned threads;              /* Pool size; 0 = one thread per connection. */
  size_t max_body;               /* Cap on request bodies; default 1 MiB. */
  unsigned connection_timeout_s; /* Idle connection timeout; default 60. */
  unsigned max_connections;      /* Default 256. */
  const char *server_name;       /* For the Server header; may be NULL. */
} kf_httpd_config;

/* Fill cfg with the defaults above. */
void kf_httpd_config_init(kf_httpd_config *cfg);

/* Create a daemon (not yet listening). The strings in cfg are copied. */
kf_rc kf_httpd_new(const kf_httpd_config *cfg, kf_httpd **out, kf_err *err);

/*
 * Register a route before kf_httpd_start. pattern is a path such as
 * "/api/v1/messages/{id}"; a "{name}" segment matches one non-empty path
 * segment and is read with kf_http_req_param. A pattern ending in "/{*rest}"
 * matches the remainder. method "*" matches any method. ctx is borrowed.
 * Routes are tried in registration order.
 */
kf_rc kf_httpd_route(kf_httpd *httpd, const char *method, const char *pattern,
                     kf_http_handler handler, void *ctx);

/*
 * Called for every routed request, after its route matched and before its
 * handler runs (for example to resolve a clock header); an unknown path or
 * method never reaches it. It may fill resp and return false to answer at once.
 */
typedef bool (*kf_http_filter)(kf_http_req *req, kf_http_resp *resp, void *ctx);
void kf_httpd_set_filter(kf_httpd *httpd, kf_http_filter filter, void *ctx);

/*
 * Bind and listen (connections queue, nothing is served yet), so the port is
 * known, for example to build URLs, before any handler can run. Optional:
 * kf_httpd_start listens itself when this was not called.
 */
kf_rc kf_httpd_listen(kf_httpd *httpd, kf_err *err);
/* Start serving: from here handlers run on worker threads. */
kf_rc kf_httpd_start(kf_httpd *httpd, kf_err *err);
/* The port actually bound (useful with port 0), known after kf_httpd_listen. */
unsigned kf_httpd_port(const kf_httpd *httpd);
/* Stop accepting, let requests in flight finish, then stop. Idempotent. */
void kf_httpd_stop(kf_httpd *httpd);
/* Stop (if running) and free. NULL is fine. */
void kf_httpd_free(kf_httpd *httpd);

/* ---- Request accessors. Returned strings are owned by req. ---- */
const char *kf_http_req_method(const kf_http_req *req);
const char *kf_http_req_path(const kf_http_req *req);
/* A "{name}" path parameter, or NULL. */
const char *kf_http_req_param(const kf_http_req *req, const char *name);
/* A query-string argument (URL-decoded), or NULL. */
const char *kf_http_req_query(const kf_http_req *req, const char *name);
/* A request header (case-insensitive name), or NULL. */
const char *kf_http_req_header(const kf_http_req *req, const char *name);
/* The body (NUL-terminated, may also contain NULs); len may be NULL. */
const char *kf_http_req_body(const kf_http_req *req, size_t *len);
/* Per-request slot for a filter to pass data to handlers (borrowed pointer). */
void kf_http_req_set_user(kf_http_req *req, void *user);
/*
 * The same, but req owns user: release(user) runs when the request ends
 * (also when the slot is set again). release may be NULL.
 */
void kf_http_req_set_user_owned(kf_http_req *req, void *user, void (*release)(void *));
void *kf_http_req_user(const kf_http_req *req);

/*
 * Parse the body as a JSON object. On failure the matching error answer is
 * already in resp (415 UNSUPPORTED_MEDIA_TYPE unless the Content-Type is JSON,
 * 400 INVALID_UTF8, 400 MALFORMED_JSON with line/column (duplicate keys
 * included), 400 BODY_NOT_OBJECT) and the handler should just return. On
 * success the caller owns *out. "\u0000" inside a string is valid JSON and is
 * accepted, so read strings with json_string_length, never strlen: a NUL must
 * reach validation (where it is a control character) rather than cut a value.
 */
kf_rc kf_http_req_json(kf_http_req *req, kf_http_resp *resp, json_t **out);

/* ---- Responses. ---- */
/* Set status and a JSON body; steals the reference to body (NULL = no body). */
void kf_http_resp_json(kf_http_resp *resp, unsigned status, json_t *body);
/* Set status and a copy of the bytes with the given content type. */
void kf_http_resp_bytes(kf_http_resp *resp, unsigned status, const char *content_type,
                        const void *data, size_t len);
/* Status with an empty body (204, 304 ...). */
void kf_http_resp_empty(kf_http_resp *resp, unsigned status);
/* Add a response header (copied). */
void kf_http_resp_header(kf_http_resp *resp, const char *name, const char *value);

/* A new error object {"code","message","fields":[]}; caller owns it. */
json_t *kf_http_error_new(const char *code, const char *message);
/* Append {"field","code","message"} to err's fields. */
void kf_http_error_add_field(json_t *err, const char *field, const char *code, const char *message);
/* Answer with {"error": err}; steals err. */
void kf_http_resp_error_obj(kf_http_resp *resp, unsigned status, json_t *err);
/* Shorthand for an error without fields. */
void kf_http_resp_error(kf_http_resp *resp, unsigned status, const char *code, const char *message);

#endif
