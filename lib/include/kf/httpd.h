/*
 * httpd.h: a small router and JSON helpers over libmicrohttpd, shared by
 * konform-server, konform-mail and konform-post.
 *
 * Request bodies are collected with a hard cap (over it: 413 BODY_TOO_LARGE and
 * the handler is never called). The client must be able to read that 413, so
 * the rest of an oversized body is read and dropped up to
 * KF_HTTPD_DISCARD_FACTOR times the cap (the connection stays open); a body
 * declared larger is answered at once, and a connection closed with input
 * still unread is drained for up to KF_HTTPD_LINGER_MS before it is closed,
 * so the close never resets the answer away. Every error answer has the one shape
 *   {"error": {"code": "...", "message": "...", "fields": [...]}}
 * documented in docs/openapi.yaml.
 *
 * Handlers run on libmicrohttpd worker threads and may block (long-polls), so
 * configure enough threads, or 0 for a thread per connection.
 *
 * Framing is strict (RFC 9112): repeated Content-Length lines, Content-Length
 * beside Transfer-Encoding, a coding other than chunked, and HTTP/1.1 without
 * exactly one Host are 400 MALFORMED_REQUEST and the connection closes; an
 * absolute-form target is routed by its path. Slow clients meet total
 * deadlines and connection caps (kf_httpd_limits).
 */
#ifndef KF_HTTPD_H
#define KF_HTTPD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "kf/error.h"
#include "kf/opt.h"

typedef struct kf_httpd kf_httpd;
typedef struct kf_http_req kf_http_req;
typedef struct kf_http_resp kf_http_resp;
typedef struct kf_http_error_row kf_http_error_row;

/* A handler fills resp. It must not keep req or resp after returning. */
typedef void (*kf_http_handler)(kf_http_req *req, kf_http_resp *resp, void *ctx);

/*
 * What holds slow clients in check; every program takes them as options
 * (KF_HTTPD_LIMIT_ROWS). A trickling client restarts an idle timeout with
 * every byte, so the head and the body each have a total deadline that no
 * byte moves: the head's runs from the accept (or from the end of the
 * previous answer on a kept-alive connection), the body's from the end of
 * the head. A connection past its deadline is closed without an answer
 * (libmicrohttpd can queue none before the head is complete). The handler
 * and the answer have no deadline (long-polls take minutes).
 */
typedef struct kf_httpd_limits {
  unsigned head_timeout_s;         /* Default 30; 0 = none. */
  unsigned body_timeout_s;         /* Default 120; 0 = none. */
  unsigned max_connections;        /* All clients together; default 1024. */
  unsigned max_connections_per_ip; /* One peer address; default 256, 0 = no cap. */
} kf_httpd_limits;

#define KF_HTTPD_HEAD_TIMEOUT_DEFAULT 30
#define KF_HTTPD_BODY_TIMEOUT_DEFAULT 120
#define KF_HTTPD_MAX_CONNECTIONS_DEFAULT 1024
#define KF_HTTPD_MAX_CONNECTIONS_PER_IP_DEFAULT 256
/* An initializer with the defaults, for a program's table of defaults. */
#define KF_HTTPD_LIMITS_DEFAULT                                                                    \
  {                                                                                                \
    KF_HTTPD_HEAD_TIMEOUT_DEFAULT, KF_HTTPD_BODY_TIMEOUT_DEFAULT,                                  \
        KF_HTTPD_MAX_CONNECTIONS_DEFAULT, KF_HTTPD_MAX_CONNECTIONS_PER_IP_DEFAULT                  \
  }

#define KF_HTTPD_STR_(x) #x
#define KF_HTTPD_STR(x) KF_HTTPD_STR_(x)
/*
 * The kf_opt rows of the limits, for a program whose options struct type has
 * a kf_httpd_limits member named field; one list, so the three programs
 * spell the options and their help alike (their man pages repeat the text).
 */
#define KF_HTTPD_LIMIT_ROWS(type, field)                                                           \
  KF_OPT_NUM_ROW(                                                                                  \
      "http-head-timeout", 0, UINT, type, field.head_timeout_s, 0, 86400, "S",                     \
      "total seconds for a request head, from the accept; no byte\n"                               \
      "restarts it (default " KF_HTTPD_STR(KF_HTTPD_HEAD_TIMEOUT_DEFAULT) "; 0 = none)"),          \
      KF_OPT_NUM_ROW("http-body-timeout", 0, UINT, type, field.body_timeout_s, 0, 86400, "S",      \
                     "total seconds for a request body, from the end of its head\n"                \
                     "(default " KF_HTTPD_STR(KF_HTTPD_BODY_TIMEOUT_DEFAULT) "; 0 = none)"),       \
      KF_OPT_NUM_ROW("max-connections", 0, UINT, type, field.max_connections, 1, 100000, "N",      \
                     "HTTP connections open at once (default " KF_HTTPD_STR(                       \
                         KF_HTTPD_MAX_CONNECTIONS_DEFAULT) ")"),                                   \
      KF_OPT_NUM_ROW(                                                                              \
          "max-connections-per-ip", 0, UINT, type, field.max_connections_per_ip, 0, 100000, "N",   \
          "HTTP connections open at once from one address\n"                                       \
          "(default " KF_HTTPD_STR(KF_HTTPD_MAX_CONNECTIONS_PER_IP_DEFAULT) "; 0 = no cap)")

typedef struct kf_httpd_config {
  const char *bind_address;      /* Default "127.0.0.1". */
  unsigned port;                 /* 0 picks a free port. */
  unsigned threads;              /* Pool size; 0 = one thread per connection. */
  size_t max_body;               /* Cap on request bodies; default 1 MiB. */
  unsigned connection_timeout_s; /* Idle connection timeout; default 60. */
  kf_httpd_limits limits;        /* KF_HTTPD_LIMITS_DEFAULT. */
  const char *server_name;       /* For the Server header; may be NULL. */
} kf_httpd_config;

/* Fill cfg with the defaults above. */
void kf_httpd_config_init(kf_httpd_config *cfg);

/* How much of an oversized body is read and dropped, as a multiple of max_body. */
#define KF_HTTPD_DISCARD_FACTOR 8
/* How long a closed connection with unread input is drained, at most. */
#define KF_HTTPD_LINGER_MS 5000

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
 * The same, with route_data (borrowed, may be NULL) that the filter and the
 * handler of a request this route matched read with kf_http_req_route_data,
 * for example a row of the program's route table with its flags.
 */
kf_rc kf_httpd_route_with_data(kf_httpd *httpd, const char *method, const char *pattern,
                               kf_http_handler handler, void *ctx, const void *route_data);

/*
 * Called for every routed request, after its route matched and before its
 * handler runs (for example to resolve a clock header); an unknown path or
 * method never reaches it. It may fill resp and return false to answer at once.
 */
typedef bool (*kf_http_filter)(kf_http_req *req, kf_http_resp *resp, void *ctx);
void kf_httpd_set_filter(kf_httpd *httpd, kf_http_filter filter, void *ctx);

/*
 * Called when a request's path matched a route but its method matched none
 * (405 METHOD_NOT_ALLOWED): resp already holds the JSON answer and the Allow
 * header (GET routes also allow HEAD), and kf_http_req_route_data gives the
 * data of the first route the path matched, so the program can answer in that
 * route's form (an HTML page) with row's status, code and message.
 */
typedef void (*kf_http_refusal)(kf_http_req *req, kf_http_resp *resp, const kf_http_error_row *row,
                                void *ctx);
void kf_httpd_set_refusal(kf_httpd *httpd, kf_http_refusal refusal, void *ctx);

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

/*
 * One request run in-process, without a socket or a worker thread, through the
 * same body cap, routing, filter and handler as a request from the network
 * (for tests that fail allocations in turn). Every string is borrowed; query
 * and headers are name, value, name, value, ..., NULL (either may be NULL).
 */
typedef struct kf_http_fake_req {
  const char *method;
  const char *path; /* Without the query string. */
  const char *const *query;
  const char *const *headers;
  const char *body; /* May be NULL (no body). */
  size_t body_len;
  /* The query string as sent, for kf_http_req_raw_query; NULL = unknown. */
  const char *raw_query;
} kf_http_fake_req;

/* The answer to a fake request. Owned by the caller: kf_http_answer_release. */
typedef struct kf_http_answer {
  unsigned status;
  char *content_type; /* NULL when the answer has none. */
  char *body;         /* NUL-terminated (may also contain NULs); never NULL after KF_OK. */
  size_t body_len;
  char *headers; /* The answer's own headers as "Name: value\r\n" lines ("" when none). */
} kf_http_answer;

/*
 * Serve in. KF_ERR_NOMEM when the request itself could not be set up (a
 * network client would see its connection closed); otherwise KF_OK and the
 * answer in *out, which the caller releases.
 */
kf_rc kf_httpd_serve_fake(kf_httpd *httpd, const kf_http_fake_req *in, kf_http_answer *out,
                          kf_err *err);
void kf_http_answer_release(kf_http_answer *answer);

/* ---- Request accessors. Returned strings are owned by req. ---- */
const char *kf_http_req_method(const kf_http_req *req);
const char *kf_http_req_path(const kf_http_req *req);
/* A "{name}" path parameter, or NULL. */
const char *kf_http_req_param(const kf_http_req *req, const char *name);
/* A query-string argument (URL-decoded; the first when there are several), or NULL. */
const char *kf_http_req_query(const kf_http_req *req, const char *name);
/* How many query-string arguments are named name. */
size_t kf_http_req_query_count(const kf_http_req *req, const char *name);
/*
 * The query string as the client sent it, before libmicrohttpd decoded it
 * (after the first "?", "" when there is none), for checks that the decoded
 * values cannot show, such as a "%" without two hex digits, which
 * libmicrohttpd keeps as literal text. NULL when it is not known (a fake
 * request without raw_query).
 */
const char *kf_http_req_raw_query(const kf_http_req *req);
/*
 * Whether s (len bytes) holds a "%" that two hex digits do not follow; *at
 * is its offset then.
 */
bool kf_http_broken_escape(const char *s, size_t len, size_t *at);
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
/* The route_data of the matched route (kf_httpd_route_with_data), or NULL. */
const void *kf_http_req_route_data(const kf_http_req *req);

/*
 * Parse the body as a JSON object. On failure the matching error answer is
 * already in resp, judged in this order: 415 UNSUPPORTED_MEDIA_TYPE unless
 * the Content-Type is JSON, 400 INVALID_UTF8, 400 MALFORMED_JSON with
 * line/column (duplicate keys and an empty body included), 400
 * BODY_NOT_OBJECT (any other JSON value: null, a number, a string, an array);
 * the handler should just return. On success the caller owns *out.
 * "\u0000" inside a string is valid JSON and is accepted, so read strings
 * with json_string_length, never strlen: a NUL must reach validation (where
 * it is a control character) rather than cut a value. A number too big for
 * 64-bit integers or doubles is not malformed: it arrives as the real 1e308,
 * which no whole-number member accepts, so validation names its member.
 */
kf_rc kf_http_req_json(kf_http_req *req, kf_http_resp *resp, json_t **out);

/* ---- Responses. ---- */
/*
 * Set status and a JSON body; steals the reference to body. A NULL body means
 * building it ran out of memory, so the answer is 500 INTERNAL_ERROR instead,
 * never an empty success.
 */
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

/* The one text of a 500 INTERNAL_ERROR (docs/openapi.yaml). */
#define KF_HTTP_INTERNAL_MESSAGE "Interner Fehler. Bitte versuchen Sie es später erneut."

/*
 * One row per error kf_httpd answers itself: code, HTTP status, German
 * message. The messages of MALFORMED_JSON and BODY_TOO_LARGE are formats
 * (line, column and jansson's text; the cap in bytes).
 */
#define KF_HTTP_ERRORS(X)                                                                          \
  X(NOT_FOUND, 404, "Die angeforderte Adresse gibt es nicht.")                                     \
  X(METHOD_NOT_ALLOWED, 405, "Diese Methode ist für diese Adresse nicht erlaubt.")                 \
  X(UNSUPPORTED_MEDIA_TYPE, 415, "Bitte senden Sie die Daten als application/json.")               \
  X(INVALID_UTF8, 400, "Die Anfrage enthält Zeichen, die kein gültiges UTF-8 sind.")               \
  X(MALFORMED_JSON, 400, "Die Anfrage ist kein gültiges JSON (Zeile %d, Spalte %d: %s).")          \
  X(BODY_NOT_OBJECT, 400, "Die Anfrage muss ein JSON-Objekt sein.")                                \
  X(BODY_TOO_LARGE, 413, "Die Anfrage ist zu groß (höchstens %zu Bytes).")                         \
  X(INTERNAL_ERROR, 500, KF_HTTP_INTERNAL_MESSAGE)                                                 \
  X(MALFORMED_REQUEST, 400, "Die Anfrage ist kein gültiges HTTP (Rahmen oder Host).")

typedef enum kf_http_errcode {
#define KF_HTTP_X_ENUM(code, status, message) KF_HTTP_ERR_##code,
  KF_HTTP_ERRORS(KF_HTTP_X_ENUM)
#undef KF_HTTP_X_ENUM
      KF_HTTP_ERR_COUNT
} kf_http_errcode;

/* An error answer: the code, its HTTP status and its German message (all static). */
struct kf_http_error_row {
  const char *code;
  unsigned status;
  const char *message;
};

/* The row of one of kf_httpd's own errors; never NULL for e < KF_HTTP_ERR_COUNT. */
const kf_http_error_row *kf_http_error_row_get(kf_http_errcode e);
/* Answer with row's status, code and message (no fields). */
void kf_http_resp_error_row(kf_http_resp *resp, const kf_http_error_row *row);
/*
 * 500 INTERNAL_ERROR with KF_HTTP_INTERNAL_MESSAGE in the error shape. Built
 * from fixed text without jansson, so it works when memory ran out; if even
 * copying it fails the answer is an empty 500.
 */
void kf_http_resp_internal_error(kf_http_resp *resp);

#endif
