/*
 * kh_step_http.h: an HTTP request step (`GET /path`, `POST ...` with header,
 * json, body and option sub-lines). Its answer becomes the response subject.
 */
#ifndef KH_STEP_HTTP_H
#define KH_STEP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kh_ast.h"
#include "kh_http.h"
#include "kh_lex.h"
#include "kh_step.h"

typedef struct kh_header {
  kh_template name;
  kh_template value;
} kh_header;

typedef struct kh_request {
  char *method; /* "GET", "POST", ... */
  kh_template url;
  kh_header *headers;
  size_t headers_len;
  kh_template body;   /* body.text == NULL: no body. */
  bool body_is_json;  /* From `json`: sets Content-Type unless given. */
  bool no_clock;      /* `option no-clock`. */
  int64_t timeout_ms; /* 0 = default. */
} kh_request;

struct kh_exec;
struct kh_lint_ctx;

/*
 * For steps that send requests of their own (timing): the request line
 * (method at byte at, mlen bytes, then the URL) and its sub-lines (header,
 * json, body, option; the word is word_len bytes at kw_at, the cursor after it).
 */
kf_rc kh_request_parse_line(kh_cur *c, kh_request *req, size_t at, size_t mlen);
kf_rc kh_request_parse_subline(kh_cur *c, kh_request *req, size_t kw_at, size_t word_len);
void kh_request_release(kh_request *req);
void kh_request_lint(struct kh_lint_ctx *ctx, const kh_request *req);
/*
 * Fill the request's templates in and send it; resp (caller-initialised)
 * gets the answer and the exchange. *sent tells whether it went out: when not,
 * the error is the harness's (an unknown variable, a URL or header the values
 * make impossible); when it did, KF_ERR_TIMEOUT means the target never
 * answered and the other errors those of kh_http_perform.
 */
kf_rc kh_request_send(struct kh_exec *ex, const kh_request *rq, const char *purpose,
                      kh_http_response *resp, bool *sent, kf_err *err);

extern const kh_step_def kh_step_http;

#endif
