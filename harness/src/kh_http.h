/*
 * kh_http.h: the harness's HTTP client (libcurl).
 *
 * One call sends one request and never follows redirects: a conformance check
 * must see the 302 itself. The response comes back as the subject object that
 * kh_eval.h queries, plus the exchange (what was sent and received) that the
 * run result keeps for reports, or, for a deferred request, as the bytes
 * both are made from when they are wanted (kh_http_reply).
 */
#ifndef KH_HTTP_H
#define KH_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "kf/run_result.h"

/* The largest response body kept; a larger one fails with KF_ERR_LIMIT. */
#define KH_HTTP_MAX_RESPONSE (16u * 1024u * 1024u)
/* The most header lines a response may have; more fail with KF_ERR_LIMIT. */
#define KH_HTTP_MAX_HEADERS 200u
/* Request timeout when the caller gives none. */
#define KH_HTTP_DEFAULT_TIMEOUT_MS 30000

/* A request. Every pointer is borrowed for the duration of kh_http_perform. */
typedef struct kh_http_request {
  const char *method;         /* "GET", "POST", "HEAD", ... */
  const char *url;            /* Absolute http:// or https:// URL. */
  const char *const *headers; /* Header names, headers_len of them. */
  const char *const *values;  /* Header values (may be empty), one per name. */
  size_t headers_len;
  const char *body; /* NULL: no body. May contain any bytes. */
  size_t body_len;
  int64_t timeout_ms;  /* 0: KH_HTTP_DEFAULT_TIMEOUT_MS. */
  const char *purpose; /* Why it is sent, for the run result ("wait mail"); NULL: "request". */
  /*
   * Leave resp->subject and resp->exchange empty and hand over resp->reply
   * instead, from which they are made only if someone asks: a step that
   * passes in a lean run never needs the exchange, and most checks read one
   * part of the subject (kh_subjects_set_reply).
   */
  bool defer;
} kh_http_request;

/*
 * One request and its answer as the bytes that went out and came in,
 * before anything is made of them. Shared by reference counts within one
 * thread (a scenario's subject and its step's pending exchange hold the
 * same reply).
 */
typedef struct kh_http_reply {
  unsigned refs;
  /* What was sent, all in the block at the end (sent): */
  const char *purpose;
  const char *method;
  const char *url;
  const char *fields; /* sent_headers pairs of NUL-terminated name and value, one after another. */
  size_t sent_headers;
  const char *sent_body; /* NULL: none. */
  size_t sent_body_len;
  /* What came back: */
  long status; /* 0: no answer (see error). */
  kf_buf head; /* The final response's status line and header lines as received. */
  kf_buf body; /* Byte for byte. */
  char *error; /* Why no answer came, or NULL. */
  int64_t duration_ms;
  char sent[]; /* Allocated with the reply. */
} kh_http_reply;

/* Take one more reference; returns reply. */
kh_http_reply *kh_http_reply_ref(kh_http_reply *reply);
/* Drop a reference, freeing the reply with the last; NULL is ignored. */
void kh_http_reply_unref(kh_http_reply *reply);
/*
 * The exchange of the run result (copies: method, URL, request headers and
 * body, status, response headers in wire order, body cut at
 * KF_MESSAGE_BODY_MAX, error) into *out (zeroed by the caller; released on
 * failure). KF_ERR_NOMEM.
 */
kf_rc kh_http_reply_record(const kh_http_reply *reply, kf_exchange *out);
/* The response headers as an object of lower-case names, repeats joined with ", ". */
kf_rc kh_http_reply_headers(const kh_http_reply *reply, json_t **out);

/* What came back. Release with kh_http_response_release. */
typedef struct kh_http_response {
  long status; /* 0 when no response arrived. */
  /*
   * Owned: {"url","status","headers","body","duration_ms"}, or NULL for a
   * deferred request (see reply). The body is not parsed here:
   * kh_http_response_json parses it when a caller needs it.
   */
  json_t *subject;
  /*
   * What was sent and what came back, for the run result (see
   * kh_http_reply_record); empty for a deferred request. Owned; the runner
   * moves it out.
   */
  kf_exchange exchange;
  /* A deferred request's answer (an owned reference); NULL otherwise. */
  kh_http_reply *reply;
  int64_t duration_ms;
  int64_t duration_us; /* The transfer as libcurl timed it, in microseconds (for timing checks). */
} kh_http_response;

void kh_http_response_init(kh_http_response *resp);
void kh_http_response_release(kh_http_response *resp);

/*
 * The body parsed as JSON (any value), kept in the subject as "json" once
 * parsed (a deferred response gets its subject made first); borrowed, NULL
 * when there is no body, it is not JSON or memory ran out.
 */
json_t *kh_http_response_json(kh_http_response *resp);

/*
 * Initialise libcurl once for the whole process. kh_http_perform calls it
 * itself (guarded by pthread_once), so calling it first is optional; it
 * exists so main can fail early and clearly.
 */
kf_rc kh_http_global_init(kf_err *err);

/*
 * A connection a thread keeps across requests: one libcurl easy handle, whose
 * cache holds the open keep-alive connections (to the target and the mocks).
 * A worker of the runner makes one, binds it for its thread and frees it when
 * it ends, so its scenarios share connections but never state: the options
 * that are the same for every request are set once, every request sets each
 * of the others to its own value (method, body, headers, timeouts), and the
 * handle has no cookie engine.
 */
typedef struct kh_http_conn kh_http_conn;

/* A new connection (caller frees with kh_http_conn_free); KF_ERR_NOMEM. */
kf_rc kh_http_conn_new(kh_http_conn **out, kf_err *err);
/* Close its connections and free it; NULL is ignored. It must not be bound then. */
void kh_http_conn_free(kh_http_conn *conn);
/*
 * Make conn (borrowed; NULL: none) the calling thread's connection: its
 * kh_http_perform calls use it instead of a handle of their own per request.
 */
void kh_http_conn_bind(kh_http_conn *conn);

/*
 * Send req and fill resp (initialised by the caller), over the thread's bound
 * connection if it has one (kh_http_conn_bind). On failure resp may
 * still hold the request trace (the exchange, or the reply of a deferred
 * request). Errors: KF_ERR_NETWORK when the peer could not
 * be reached (connection refused, name not resolved, reset), KF_ERR_TIMEOUT
 * when the timeout passed, KF_ERR_LIMIT for a response over the caps
 * (KH_HTTP_MAX_RESPONSE, KH_HTTP_MAX_HEADERS), KF_ERR_INVALID for a request curl refuses (bad URL),
 * KF_ERR_NOMEM.
 */
kf_rc kh_http_perform(const kh_http_request *req, kh_http_response *resp, kf_err *err);

/* Append base without its trailing slashes to out: the start of a URL below it. */
kf_rc kh_http_url_base(kf_buf *out, const char *base);

/*
 * The absolute URL of the reference ref (RFC 3986 section 5: a path, "../x",
 * "?q", an absolute URL) found on the page at base, into *out (caller frees
 * with kf_free). KF_ERR_INVALID for a base or reference curl cannot read,
 * KF_ERR_NOMEM.
 */
kf_rc kh_http_url_resolve(const char *base, const char *ref, char **out);

/*
 * Append value to out with every byte outside [A-Za-z0-9-._~] percent-encoded
 * (for query strings). out must be kf_buf-initialised by the caller.
 */
kf_rc kh_http_url_escape(kf_buf *out, const char *value);

#endif
