/*
 * kh_step_http.c: the HTTP request step: parse the request line and its
 * sub-lines, lint its templates, send it and make the answer the response
 * subject.
 */
#include "kh_step_http.h"

#include <assert.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/str.h"
#include "kh_exec.h"
#include "kh_lint.h"

#define KH_HTTP_STEP_MAX_HEADERS 128u

static const char *const KH_HTTP_SUBLINES[] = {"header", "json", "body", "option", NULL};

kf_rc kh_request_parse_line(kh_cur *c, kh_request *req, size_t at, size_t mlen) {
  const char *method = c->s + at;
  if ((req->method = kf_strndup(method, mlen)) == NULL)
    return KF_ERR_NOMEM;
  c->i = at + mlen;
  kh_cur_skip_blanks(c);
  size_t start = c->i;
  kf_rc rc;
  if (c->i < c->len && c->s[c->i] == '"') {
    if ((rc = kh_cur_read_string(c, &req->url)) != KF_OK)
      return rc;
  } else {
    while (c->i < c->len && !kh_lex_is_blank(c->s[c->i]))
      c->i++;
    if ((rc = kh_cur_tpl_set(c, &req->url, c->s + start, c->i - start)) != KF_OK)
      return rc;
  }
  const char *u = req->url.text;
  if (req->url.len == 0 || !(u[0] == '/' || strncmp(u, "http://", 7) == 0 ||
                             strncmp(u, "https://", 8) == 0 || strncmp(u, "{{", 2) == 0)) {
    (void)kh_cur_error(c, start, "expected a URL starting with '/' or 'http://'");
    return kh_cur_hint(c, "write '%.*s /api/v1/...' (relative to the target) or a full http:// URL",
                       (int)mlen, method);
  }
  return kh_cur_expect_end(c, "the URL");
}

/* `json ...` and `body ...` sub-lines. */
static kf_rc kh_http_parse_body(kh_cur *c, kh_request *req, bool json, size_t kw_at) {
  if (req->body.text != NULL) {
    (void)kh_cur_error(c, kw_at, "the request already has a body");
    return kh_cur_hint(c, "a request takes one 'json' or 'body' sub-line");
  }
  req->body_is_json = json;
  kh_cur_skip_blanks(c);
  size_t at = c->i;
  if (c->i + 1 < c->len && c->s[c->i] == '<' && c->s[c->i + 1] == '<') {
    c->i += 2;
    size_t tstart = c->i;
    while (c->i < c->len && ((c->s[c->i] >= 'A' && c->s[c->i] <= 'Z') || c->s[c->i] == '_' ||
                             (c->i > tstart && kh_lex_is_digit(c->s[c->i]))))
      c->i++;
    size_t tlen = c->i - tstart;
    if (tlen == 0) {
      (void)kh_cur_error(c, tstart, "expected a heredoc terminator after '<<'");
      return kh_cur_hint(c, "write '%s <<END' and end the text with a line holding only END",
                         json ? "json" : "body");
    }
    kf_rc rc = kh_cur_expect_end(c, "the heredoc terminator");
    if (rc != KF_OK)
      return rc;
    /* The terminator points into the text, which outlives the heredoc read. */
    return kh_cur_read_heredoc(c, c->s + tstart, tlen, at, &req->body);
  }
  if (json) {
    size_t n = kf_str_rtrim_len(c->s + c->i, c->len - c->i);
    if (n == 0) {
      (void)kh_cur_error(c, at, "expected JSON text or '<<END' after 'json'");
      return kh_cur_hint(c, "write 'json {\"a\": 1}' or a heredoc 'json <<END'");
    }
    kf_rc rc = kh_cur_tpl_set(c, &req->body, c->s + c->i, n);
    c->i = c->len;
    return rc;
  }
  if (c->i >= c->len || c->s[c->i] != '"') {
    (void)kh_cur_error(c, at, "expected a quoted string or '<<END' after 'body'");
    return kh_cur_hint(c, "write 'body \"text\"' or a heredoc 'body <<END'");
  }
  kf_rc rc = kh_cur_read_string(c, &req->body);
  if (rc != KF_OK)
    return rc;
  return kh_cur_expect_end(c, "the body");
}

static kf_rc kh_http_parse_header(kh_cur *c, kh_request *req) {
  kh_cur_skip_blanks(c);
  size_t start = c->i;
  while (c->i < c->len && c->s[c->i] != ':' && !kh_lex_is_blank(c->s[c->i]))
    c->i++;
  size_t nlen = c->i - start;
  if (nlen == 0 || c->i >= c->len || c->s[c->i] != ':') {
    (void)kh_cur_error(c, nlen == 0 ? start : c->i, "expected 'Name: value' after 'header'");
    return kh_cur_hint(c, "write 'header Accept-Language: de'");
  }
  c->i++;
  kh_cur_skip_blanks(c);
  size_t vlen = kf_str_rtrim_len(c->s + c->i, c->len - c->i);
  kh_header *h = NULL;
  kf_rc rc = kh_cur_push(c, (void **)&req->headers, req->headers_len, sizeof *h, (void **)&h);
  if (rc != KF_OK)
    return rc;
  req->headers_len++;
  if ((rc = kh_cur_tpl_set(c, &h->name, c->s + start, nlen)) != KF_OK)
    return rc;
  if ((rc = kh_cur_tpl_set(c, &h->value, c->s + c->i, vlen)) != KF_OK)
    return rc;
  c->i = c->len;
  return KF_OK;
}

static kf_rc kh_http_parse_option(kh_cur *c, kh_request *req) {
  if (kh_cur_accept_word(c, "no-clock")) {
    req->no_clock = true;
    return kh_cur_expect_end(c, "'no-clock'");
  }
  if (kh_cur_accept_word(c, "timeout")) {
    kf_rc rc = kh_cur_read_duration(c, &req->timeout_ms, "'option timeout'");
    if (rc != KF_OK)
      return rc;
    return kh_cur_expect_end(c, "the timeout");
  }
  size_t n = kh_cur_peek_word(c);
  (void)kh_cur_error(c, c->i, "unknown option '%.*s'", (int)(n > 40 ? 40 : n), c->s + c->i);
  return kh_cur_hint(c, "options: no-clock, timeout <duration>");
}

kf_rc kh_request_parse_subline(kh_cur *c, kh_request *req, size_t kw_at, size_t word_len) {
  const char *w = c->s + kw_at;
  if (kh_lex_word_is(w, word_len, "header"))
    return kh_http_parse_header(c, req);
  if (kh_lex_word_is(w, word_len, "json"))
    return kh_http_parse_body(c, req, true, kw_at);
  if (kh_lex_word_is(w, word_len, "body"))
    return kh_http_parse_body(c, req, false, kw_at);
  if (kh_lex_word_is(w, word_len, "option"))
    return kh_http_parse_option(c, req);
  (void)kh_cur_error_kind(c, kw_at, KH_DIAG_UNKNOWN_WORD, "unknown request sub-line '%.*s'",
                          (int)(word_len > 40 ? 40 : word_len), w);
  return kh_cur_hint_names(c, w, word_len, KH_HTTP_SUBLINES, "request sub-lines");
}

static kf_rc kh_http_parse(kh_cur *c, kh_step *step, size_t mlen) {
  return kh_request_parse_line(c, step->data, 0, mlen);
}

static kf_rc kh_http_parse_subline(kh_cur *c, kh_step *step, size_t kw_at, size_t word_len) {
  return kh_request_parse_subline(c, step->data, kw_at, word_len);
}

void kh_request_release(kh_request *req) {
  kf_free(req->method);
  kh_template_release(&req->url);
  for (size_t i = 0; i < req->headers_len; i++) {
    kh_template_release(&req->headers[i].name);
    kh_template_release(&req->headers[i].value);
  }
  kf_free(req->headers);
  kh_template_release(&req->body);
}

static void kh_http_release(void *data) {
  kh_request_release(data);
}

void kh_request_lint(kh_lint_ctx *ctx, const kh_request *req) {
  kh_lint_template(ctx, &req->url);
  for (size_t h = 0; h < req->headers_len; h++) {
    kh_lint_template(ctx, &req->headers[h].name);
    kh_lint_template(ctx, &req->headers[h].value);
  }
  kh_lint_template(ctx, &req->body);
  if (req->body_is_json)
    kh_lint_json_body(ctx, &req->body);
}

static void kh_http_lint(kh_lint_ctx *ctx, const kh_step *step) {
  kh_request_lint(ctx, step->data);
}

/*
 * Header names and values of one request: borrowed where they are the
 * scenario's own (the clock's id) or constant, else owned (in owned[]).
 */
typedef struct kh_http_headers {
  const char *names[KH_HTTP_STEP_MAX_HEADERS];
  const char *values[KH_HTTP_STEP_MAX_HEADERS];
  char *owned[2 * KH_HTTP_STEP_MAX_HEADERS];
  size_t len, owned_len;
} kh_http_headers;

static void kh_http_headers_release(kh_http_headers *h) {
  for (size_t i = 0; i < h->owned_len; i++)
    kf_free(h->owned[i]);
  h->len = h->owned_len = 0;
}

/* Add a header; name and value must outlive h (or be handed to it with kh_http_headers_own). */
static kf_rc kh_http_headers_add(kh_http_headers *h, const char *name, const char *value,
                                 kf_err *err) {
  if (h->len >= KH_HTTP_STEP_MAX_HEADERS)
    return kf_err_set(err, KF_ERR_LIMIT, "more than %u headers", KH_HTTP_STEP_MAX_HEADERS);
  h->names[h->len] = name;
  h->values[h->len] = value;
  h->len++;
  return KF_OK;
}

/* Free s with h. There is room: each header owns at most its name and value. */
static void kh_http_headers_own(kh_http_headers *h, char *s) {
  assert(h->owned_len < sizeof h->owned / sizeof h->owned[0]);
  h->owned[h->owned_len++] = s;
}

static bool kh_http_headers_has(const kh_http_headers *h, const char *name) {
  for (size_t i = 0; i < h->len; i++)
    if (kf_str_eq_ci(h->names[i], name))
      return true;
  return false;
}

/*
 * Build the absolute URL into url (kf_buf-initialised): a path starting with
 * '/' is relative to base_url.
 */
static kf_rc kh_http_url(kh_exec *ex, const kh_template *tpl, kf_buf *url, kf_err *err) {
  /* A template that starts with '/' expands to a path, so the base can go first. */
  bool relative = tpl->text != NULL && tpl->len > 0 && tpl->text[0] == '/';
  kf_rc rc = relative ? kh_http_url_base(url, ex->base_url) : KF_OK;
  size_t from = url->len;
  if (rc == KF_OK && tpl->text != NULL)
    rc = kh_vars_expand(&ex->vars, tpl, url, err);
  if (rc == KF_OK && url->data == NULL)
    rc = kf_buf_append(url, "", 0); /* An empty URL, which curl will refuse. */
  if (rc == KF_ERR_LIMIT)
    return kf_err_set(err, rc, "the expanded URL is longer than %u bytes", KH_EXEC_MAX_URL);
  if (rc == KF_ERR_NOMEM)
    return kf_err_set(err, rc, "cannot build the URL");
  if (rc != KF_OK)
    return rc;
  const char *raw = url->data != NULL ? url->data + from : "";
  size_t raw_len = url->len - from;
  if (memchr(raw, '\0', raw_len) != NULL || strpbrk(raw, "\r\n") != NULL)
    return kf_err_set(err, KF_ERR_INVALID, "the URL contains a NUL or line break");
  if (relative || raw[0] != '/')
    return KF_OK;
  /* A variable gave the path: the base goes before it after all. */
  kf_buf whole;
  kf_buf_init(&whole, url->max);
  rc = kh_http_url_base(&whole, ex->base_url);
  if (rc == KF_OK)
    rc = kf_buf_append(&whole, raw, raw_len);
  if (rc != KF_OK) {
    kf_buf_release(&whole);
    return kf_err_set(err, rc, "cannot build the URL");
  }
  kf_buf_release(url);
  *url = whole;
  return KF_OK;
}

/* One header of the request with its variables filled in, into hdr. */
static kf_rc kh_request_header(kh_exec *ex, const kh_header *h, kh_http_headers *hdr, kf_err *err) {
  char *name = NULL, *value = NULL;
  size_t nlen = 0, vlen = 0;
  kf_rc rc = kh_exec_expand(ex, &h->name, KH_EXEC_MAX_TEXT, &name, &nlen, err);
  if (rc == KF_OK)
    rc = kh_exec_expand(ex, &h->value, KH_EXEC_MAX_TEXT, &value, &vlen, err);
  if (rc == KF_OK &&
      (strlen(name) != nlen || strlen(value) != vlen || strpbrk(value, "\r\n") != NULL))
    rc = kf_err_set(err, KF_ERR_INVALID, "header %s: a header cannot hold a NUL or a line break",
                    name);
  if (rc == KF_OK)
    rc = kh_http_headers_add(hdr, name, value, err);
  if (rc != KF_OK) {
    kf_free(name);
    kf_free(value);
    return rc;
  }
  kh_http_headers_own(hdr, name);
  kh_http_headers_own(hdr, value);
  return KF_OK;
}

/* The request's headers with their variables filled in, plus Content-Type and the clock's. */
static kf_rc kh_request_headers(kh_exec *ex, const kh_request *rq, kh_http_headers *hdr,
                                kf_err *err) {
  kf_rc rc = KF_OK;
  for (size_t i = 0; rc == KF_OK && i < rq->headers_len; i++)
    rc = kh_request_header(ex, &rq->headers[i], hdr, err);
  if (rc == KF_OK && rq->body_is_json && !kh_http_headers_has(hdr, "Content-Type"))
    rc = kh_http_headers_add(hdr, "Content-Type", "application/json", err);
  if (rc == KF_OK && ex->clock.id != NULL && !rq->no_clock)
    rc = kh_http_headers_add(hdr, ex->cfg->profile->clock_header, ex->clock.id, err);
  return rc;
}

kf_rc kh_request_send(kh_exec *ex, const kh_request *rq, const char *purpose,
                      kh_http_response *resp, bool *sent, kf_err *err) {
  *sent = false;
  kh_http_headers hdr;
  hdr.len = hdr.owned_len = 0;
  kf_buf url;
  kf_buf_init(&url, 2 * KH_EXEC_MAX_URL);
  char *body = NULL;
  size_t body_len = 0;
  kf_rc rc = kh_http_url(ex, &rq->url, &url, err);
  if (rc == KF_OK)
    rc = kh_request_headers(ex, rq, &hdr, err);
  if (rc == KF_OK && rq->body.text != NULL)
    rc = kh_exec_expand(ex, &rq->body, KH_EXEC_MAX_BODY, &body, &body_len, err);
  if (rc == KF_OK) {
    /* The answer stays bytes until a query or a report wants it (kh_subject_load_reply). */
    kh_http_request req = {.method = rq->method,
                           .url = url.data,
                           .headers = hdr.names,
                           .values = hdr.values,
                           .headers_len = hdr.len,
                           .body = body,
                           .body_len = body_len,
                           .timeout_ms = rq->timeout_ms,
                           .purpose = purpose,
                           .defer = true};
    *sent = true;
    rc = kh_http_perform(&req, resp, err);
  }
  kh_http_headers_release(&hdr);
  kf_buf_release(&url);
  kf_free(body);
  return rc;
}

static kf_status kh_http_exec(kh_exec *ex, size_t idx, const kh_step *step, int depth) {
  (void)depth;
  kf_err err;
  kf_err_init(&err);
  kh_http_response resp;
  kh_http_response_init(&resp);
  bool sent = false;
  kf_rc rc = kh_request_send(ex, step->data, "request", &resp, &sent, &err);
  kh_exec_keep_exchange(ex, &resp);
  kf_status result = KF_STATUS_PASS;
  if (!sent) {
    result = kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0, "%s", err.message);
  } else if (rc == KF_ERR_TIMEOUT) {
    /* The target took the request and never answered: that is its failure. */
    result = kh_exec_outcome(ex, idx, KF_STATUS_FAIL, 0, "no response: %s", err.message);
  } else if (rc != KF_OK) {
    result = kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0, "request failed: %s", err.message);
  } else if (kh_subjects_set_reply(&ex->subjects, KH_SUBJECT_RESPONSE, resp.reply) != KF_OK) {
    result = kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0, "out of memory for the response");
  }
  kh_http_response_release(&resp);
  return result;
}

static const char *const KH_HTTP_METHODS[] = {"GET",    "POST", "PUT", "PATCH",
                                              "DELETE", "HEAD", NULL};

const kh_step_def kh_step_http = {
    .what = "an HTTP request",
    .keywords = KH_HTTP_METHODS,
    .synopsis = "GET|POST|PUT|PATCH|DELETE|HEAD <url>",
    .data_size = sizeof(kh_request),
    .parse = kh_http_parse,
    .sublines = KH_HTTP_SUBLINES,
    .parse_subline = kh_http_parse_subline,
    .release = kh_http_release,
    .lint = kh_http_lint,
    .exec = kh_http_exec,
};
