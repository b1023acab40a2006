/*
 * kh_http.h: the harness's HTTP client (libcurl).
 *
 * One call sends one request and never follows redirects: a conformance check
 * must see the 302 itself. The response comes back as the subject object that
 * kh_eval.h queries, plus the exchange (what was sent and received) that the
 * run result keeps for reports.
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
} kh_http_request;

/* What came back. Release with kh_http_response_release. */
typedef struct kh_http_response {
  long status; /* 0 when no response arrived. */
  /*
   * Owned: {"status","headers","body","duration_ms"}. The body is not parsed
   * here: kh_http_response_json parses it when a caller needs it.
   */
  json_t *subject;
  /*
   * What was sent and what came back, for the run result: method, URL,
   * request headers and body, status, response headers in wire order, body
   * (bodies cut at KF_MESSAGE_BODY_MAX). Owned; the runner moves it out.
   */
  kf_exchange exchange;
  int64_t duration_ms;
  int64_t duration_us; /* The transfer as libcurl timed it, in microseconds (for timing checks). */
} kh_http_response;

void kh_http_response_init(kh_http_response *resp);
void kh_http_response_release(kh_http_response *resp);

/*
 * The body parsed as JSON (any value), kept in the subject as "json" once
 * parsed; borrowed, NULL when there is no body, it is not JSON or memory ran out.
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
 * it ends, so its scenarios share connections but never state: every request
 * starts from reset options, and the handle has no cookie engine.
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
 * still hold the request trace. Errors: KF_ERR_NETWORK when the peer could not
 * be reached (connection refused, name not resolved, reset), KF_ERR_TIMEOUT
 * when the timeout passed, KF_ERR_LIMIT for a response over the cap,
 * KF_ERR_INVALID for a request curl refuses (bad URL), KF_ERR_NOMEM.
 */
kf_rc kh_http_perform(const kh_http_request *req, kh_http_response *resp, kf_err *err);

/* Append base without its trailing slashes to out: the start of a URL below it. */
kf_rc kh_http_url_base(kf_buf *out, const char *base);

/*
 * The absolute URL of the reference ref (RFC 3986 section 5: a path, "../x",
 * "?q", an absolute URL) found on the page at base, into *out (caller frees
 * with kf_free). KF_ERR_INVALID for a base or reference curl cannot read.
 */
kf_rc kh_http_url_resolve(const char *base, const char *ref, char **out);

/*
 * Append value to out with every byte outside [A-Za-z0-9-._~] percent-encoded
 * (for query strings). out must be kf_buf-initialised by the caller.
 */
kf_rc kh_http_url_escape(kf_buf *out, const char *value);

#endif
