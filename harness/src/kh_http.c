/*
 * kh_http.c: one HTTP exchange over libcurl, kept as the bytes sent and
 * received (kh_http_reply) and turned into an eval subject and an exchange
 * of the run result.
 */
#include "kh_http.h"

#include <assert.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/str.h"
#include "kf/timeutil.h"

/* Cap on the raw response head. */
#define KH_HTTP_MAX_HEAD (256u * 1024u)
/* A header line shorter than this is formatted on the stack. */
#define KH_HTTP_LINE_MAX 512u

static pthread_once_t kh_http_once = PTHREAD_ONCE_INIT;
static CURLcode kh_http_init_code = CURLE_OK;

static void kh_http_do_global_init(void) {
  kh_http_init_code = curl_global_init(CURL_GLOBAL_DEFAULT);
}

kf_rc kh_http_global_init(kf_err *err) {
  pthread_once(&kh_http_once, kh_http_do_global_init);
  if (kh_http_init_code != CURLE_OK)
    return kf_err_set(err, KF_ERR_INTERNAL, "libcurl initialisation failed: %s",
                      curl_easy_strerror(kh_http_init_code));
  return KF_OK;
}

/* What the curl callbacks fill: the reply of the transfer under way. */
typedef struct kh_http_sink {
  kh_http_reply *reply;
  size_t header_lines; /* Of the response under way, its status line not counted. */
  kf_rc failed;        /* Why a callback stopped the transfer: KF_ERR_LIMIT or KF_ERR_NOMEM. */
  bool too_many_headers;
} kh_http_sink;

struct kh_http_conn {
  CURL *curl;
  kh_http_sink sink;
  char detail[CURL_ERROR_SIZE];
};

/* The connection kh_http_perform uses on this thread, or NULL: a handle per request. */
static _Thread_local kh_http_conn *kh_http_bound;

static size_t kh_http_on_body(char *data, size_t size, size_t nmemb, void *user) {
  kh_http_sink *sink = user;
  size_t n = size * nmemb;
  kf_rc rc = kf_buf_append(&sink->reply->body, data, n);
  if (rc != KF_OK) {
    sink->failed = rc;
    return 0; /* Makes curl stop with CURLE_WRITE_ERROR. */
  }
  return n;
}

static size_t kh_http_on_header(char *data, size_t size, size_t nmemb, void *user) {
  kh_http_sink *sink = user;
  size_t n = size * nmemb;
  /* A new status line starts a new response (after 100 Continue): keep only the last. */
  if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
    kf_buf_reset(&sink->reply->head);
    sink->header_lines = 0;
  } else if (n > 2 && ++sink->header_lines > KH_HTTP_MAX_HEADERS) {
    sink->failed = KF_ERR_LIMIT;
    sink->too_many_headers = true;
    return 0;
  }
  kf_rc rc = kf_buf_append(&sink->reply->head, data, n);
  if (rc != KF_OK) {
    sink->failed = rc;
    return 0;
  }
  return n;
}

/*
 * Make a handle with the options every one of its requests shares. The
 * callbacks and the error buffer point into conn, which must not move.
 */
static kf_rc kh_http_conn_open(kh_http_conn *conn) {
  memset(conn, 0, sizeof *conn);
  if ((conn->curl = curl_easy_init()) == NULL)
    return KF_ERR_NOMEM;
  CURL *curl = conn->curl;
  CURLcode cc = CURLE_OK;
  cc |= curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  cc |= curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  cc |= curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, conn->detail);
  cc |= curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, kh_http_on_body);
  cc |= curl_easy_setopt(curl, CURLOPT_WRITEDATA, &conn->sink);
  cc |= curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, kh_http_on_header);
  cc |= curl_easy_setopt(curl, CURLOPT_HEADERDATA, &conn->sink);
  /* Loopback targets must never be sent through a proxy from the environment. */
  cc |= curl_easy_setopt(curl, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
  /* Hand the body over unchanged; no compression negotiation that would hide the bytes. */
  cc |= curl_easy_setopt(curl, CURLOPT_HTTP_CONTENT_DECODING, 0L);
  if (cc != CURLE_OK) {
    curl_easy_cleanup(curl);
    conn->curl = NULL;
    return KF_ERR_NOMEM; /* A known option fails only without memory. */
  }
  return KF_OK;
}

kf_rc kh_http_conn_new(kh_http_conn **out, kf_err *err) {
  *out = NULL;
  kf_rc rc = kh_http_global_init(err);
  if (rc != KF_OK)
    return rc;
  kh_http_conn *conn = kf_malloc(sizeof *conn);
  if (conn == NULL || kh_http_conn_open(conn) != KF_OK) {
    kf_free(conn);
    return kf_err_set(err, KF_ERR_NOMEM, "curl_easy_init failed");
  }
  *out = conn;
  return KF_OK;
}

void kh_http_conn_free(kh_http_conn *conn) {
  if (conn == NULL)
    return;
  assert(kh_http_bound != conn);
  curl_easy_cleanup(conn->curl);
  kf_free(conn);
}

void kh_http_conn_bind(kh_http_conn *conn) {
  kh_http_bound = conn;
}

/* ---- Replies. ---- */

/* A new reply (one reference) holding a copy of what req sends, in one allocation. */
static kf_rc kh_http_reply_new(const kh_http_request *req, kh_http_reply **out) {
  const char *purpose = req->purpose != NULL ? req->purpose : "request";
  size_t lens[3] = {strlen(purpose), strlen(req->method), strlen(req->url)};
  size_t n = lens[0] + lens[1] + lens[2] + 3;
  for (size_t i = 0; i < req->headers_len; i++)
    n += strlen(req->headers[i]) + strlen(req->values[i]) + 2;
  if (req->body != NULL)
    n += req->body_len + 1;
  /* Every piece is capped far below this by its maker; the check only keeps the sum honest. */
  if (n > SIZE_MAX / 2 || (req->body != NULL && req->body_len > SIZE_MAX / 4))
    return KF_ERR_LIMIT;
  kh_http_reply *r = kf_malloc(sizeof *r + n);
  if (r == NULL)
    return KF_ERR_NOMEM;
  memset(r, 0, sizeof *r);
  r->refs = 1;
  kf_buf_init(&r->head, KH_HTTP_MAX_HEAD);
  kf_buf_init(&r->body, KH_HTTP_MAX_RESPONSE);
  char *p = r->sent;
  const char *parts[3] = {purpose, req->method, req->url};
  const char **slots[3] = {&r->purpose, &r->method, &r->url};
  for (size_t i = 0; i < 3; i++) {
    *slots[i] = p;
    memcpy(p, parts[i], lens[i] + 1);
    p += lens[i] + 1;
  }
  r->fields = p;
  for (size_t i = 0; i < req->headers_len; i++) {
    for (size_t k = 0; k < 2; k++) {
      const char *s = k == 0 ? req->headers[i] : req->values[i];
      size_t len = strlen(s);
      memcpy(p, s, len + 1);
      p += len + 1;
    }
  }
  r->sent_headers = req->headers_len;
  if (req->body != NULL) {
    if (req->body_len > 0)
      memcpy(p, req->body, req->body_len);
    p[req->body_len] = '\0';
    r->sent_body = p;
    r->sent_body_len = req->body_len;
  }
  *out = r;
  return KF_OK;
}

kh_http_reply *kh_http_reply_ref(kh_http_reply *reply) {
  assert(reply != NULL && reply->refs > 0);
  reply->refs++;
  return reply;
}

void kh_http_reply_unref(kh_http_reply *reply) {
  if (reply == NULL)
    return;
  assert(reply->refs > 0);
  if (--reply->refs > 0)
    return;
  kf_buf_release(&reply->head);
  kf_buf_release(&reply->body);
  kf_free(reply->error);
  kf_free(reply);
}

/* Called with each response header, name and value trimmed, in wire order. */
typedef kf_rc (*kh_http_header_fn)(void *ctx, const char *name, size_t name_len, const char *value,
                                   size_t value_len);

/*
 * Walk the raw head ("HTTP/1.1 200 OK\r\nName: v\r\n..."): the status line
 * into *status_line (when status_line is not NULL), each header to fn.
 */
static kf_rc kh_http_walk_head(const kf_buf *head, char **status_line, kh_http_header_fn fn,
                               void *ctx) {
  const char *p = head->data;
  const char *end = p == NULL ? NULL : p + head->len;
  bool first = true;
  while (p != NULL && p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *next = eol == NULL ? end : eol + 1;
    size_t len = (size_t)((eol == NULL ? end : eol) - p);
    if (len > 0 && p[len - 1] == '\r')
      len--;
    if (first) {
      first = false;
      if (status_line != NULL && (*status_line = kf_memdup0(p, len)) == NULL)
        return KF_ERR_NOMEM;
    } else if (len > 0) {
      const char *colon = memchr(p, ':', len);
      if (colon != NULL && colon > p) {
        const char *v = colon + 1;
        const char *vend = p + len;
        while (v < vend && (*v == ' ' || *v == '\t'))
          v++;
        while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
          vend--;
        kf_rc rc = fn(ctx, p, (size_t)(colon - p), v, (size_t)(vend - v));
        if (rc != KF_OK)
          return rc;
      }
    }
    p = next;
  }
  return KF_OK;
}

/* Add one header (lower-case name) to the object ctx, joining repeats with ", ". */
static kf_rc kh_http_add_header(void *ctx, const char *name, size_t name_len, const char *value,
                                size_t value_len) {
  json_t *obj = ctx;
  char small[64];
  char *key = name_len < sizeof small ? small : kf_malloc(name_len + 1);
  if (key == NULL)
    return KF_ERR_NOMEM;
  memcpy(key, name, name_len);
  key[name_len] = '\0';
  kf_str_ascii_lower(key);
  kf_rc rc = KF_OK;
  json_t *old = json_object_get(obj, key);
  json_t *val;
  if (old != NULL && json_is_string(old)) {
    kf_buf joined;
    kf_buf_init(&joined, KH_HTTP_MAX_HEAD);
    rc = kf_buf_append(&joined, json_string_value(old), json_string_length(old));
    if (rc == KF_OK)
      rc = kf_buf_append(&joined, ", ", 2);
    if (rc == KF_OK)
      rc = kf_buf_append(&joined, value, value_len);
    val = rc == KF_OK ? json_stringn_nocheck(joined.data, joined.len) : NULL;
    kf_buf_release(&joined);
  } else {
    val = json_stringn_nocheck(value, value_len);
  }
  if (rc == KF_OK && (val == NULL || json_object_set_new_nocheck(obj, key, val) != 0))
    rc = KF_ERR_NOMEM;
  if (key != small)
    kf_free(key);
  return rc;
}

kf_rc kh_http_reply_headers(const kh_http_reply *reply, json_t **out) {
  *out = NULL;
  json_t *headers = json_object();
  if (headers == NULL)
    return KF_ERR_NOMEM;
  kf_rc rc = kh_http_walk_head(&reply->head, NULL, kh_http_add_header, headers);
  if (rc != KF_OK) {
    json_decref(headers);
    return rc;
  }
  *out = headers;
  return KF_OK;
}

/* One response header into the message ctx, as received. */
static kf_rc kh_http_keep_header(void *ctx, const char *name, size_t name_len, const char *value,
                                 size_t value_len) {
  kf_message *msg = ctx;
  char *n = kf_memdup0(name, name_len);
  char *v = kf_memdup0(value, value_len);
  kf_rc rc = n != NULL && v != NULL ? kf_message_add_header(msg, n, v) : KF_ERR_NOMEM;
  kf_free(n);
  kf_free(v);
  return rc;
}

/* The request side of the exchange: method, URL, headers and body as sent. */
static kf_rc kh_http_record_request(const kh_http_reply *r, kf_exchange *ex) {
  ex->purpose = kf_strdup(r->purpose);
  ex->method = kf_strdup(r->method);
  ex->url = kf_strdup(r->url);
  if (ex->purpose == NULL || ex->method == NULL || ex->url == NULL)
    return KF_ERR_NOMEM;
  kf_rc rc = KF_OK;
  const char *p = r->fields;
  for (size_t i = 0; rc == KF_OK && i < r->sent_headers; i++) {
    const char *value = p + strlen(p) + 1;
    rc = kf_message_add_header(&ex->request, p, value);
    p = value + strlen(value) + 1;
  }
  if (rc == KF_OK && r->sent_body != NULL)
    rc = kf_message_set_body(&ex->request, r->sent_body, r->sent_body_len);
  return rc;
}

kf_rc kh_http_reply_record(const kh_http_reply *reply, kf_exchange *out) {
  kf_rc rc = kh_http_record_request(reply, out);
  out->status = reply->status;
  out->duration_ms = reply->duration_ms;
  if (rc == KF_OK && reply->error != NULL && (out->error = kf_strdup(reply->error)) == NULL)
    rc = KF_ERR_NOMEM;
  if (rc == KF_OK && reply->status != 0)
    rc = kh_http_walk_head(&reply->head, &out->status_line, kh_http_keep_header, &out->response);
  if (rc == KF_OK && reply->body.len > 0)
    rc = kf_message_set_body(&out->response, reply->body.data, reply->body.len);
  if (rc != KF_OK)
    kf_exchange_release(out);
  return rc;
}

/* The whole subject document of an answered reply, for callers that do not defer. */
static kf_rc kh_http_reply_subject(const kh_http_reply *r, json_t **out) {
  json_t *subject = json_object();
  json_t *headers = NULL;
  kf_rc rc = subject != NULL ? kh_http_reply_headers(r, &headers) : KF_ERR_NOMEM;
  if (rc != KF_OK) {
    json_decref(subject);
    return rc;
  }
  const char *body = r->body.data != NULL ? r->body.data : "";
  int bad = 0;
  bad |= json_object_set_new(subject, "url", json_string(r->url));
  bad |= json_object_set_new(subject, "status", json_integer(r->status));
  bad |= json_object_set_new(subject, "headers", headers);
  /* nocheck: a target may answer with invalid UTF-8 and the checks must see it. */
  bad |= json_object_set_new(subject, "body", json_stringn_nocheck(body, r->body.len));
  bad |= json_object_set_new(subject, "duration_ms", json_integer(r->duration_ms));
  if (bad) {
    json_decref(subject);
    return KF_ERR_NOMEM;
  }
  *out = subject;
  return KF_OK;
}

void kh_http_response_init(kh_http_response *resp) {
  memset(resp, 0, sizeof(*resp));
}

void kh_http_response_release(kh_http_response *resp) {
  if (resp == NULL)
    return;
  json_decref(resp->subject);
  kf_exchange_release(&resp->exchange);
  kh_http_reply_unref(resp->reply);
  kh_http_response_init(resp);
}

json_t *kh_http_response_json(kh_http_response *resp) {
  if (resp->subject == NULL && resp->reply != NULL && resp->reply->status != 0 &&
      kh_http_reply_subject(resp->reply, &resp->subject) != KF_OK)
    return NULL;
  if (resp->subject == NULL)
    return NULL;
  json_t *parsed = json_object_get(resp->subject, "json");
  if (parsed != NULL)
    return parsed;
  const json_t *body = json_object_get(resp->subject, "body");
  if (!json_is_string(body) || json_string_length(body) == 0)
    return NULL;
  json_error_t jerr;
  parsed = json_loadb(json_string_value(body), json_string_length(body), JSON_DECODE_ANY, &jerr);
  if (parsed == NULL || json_object_set_new(resp->subject, "json", parsed) != 0)
    return NULL;
  return parsed;
}
kf_rc kh_http_url_base(kf_buf *out, const char *base) {
  size_t len = strlen(base);
  while (len > 0 && base[len - 1] == '/')
    len--;
  return kf_buf_append(out, base, len);
}

kf_rc kh_http_url_resolve(const char *base, const char *ref, char **out) {
  assert(base != NULL && ref != NULL && out != NULL);
  *out = NULL;
  if (kh_http_global_init(NULL) != KF_OK)
    return KF_ERR_INTERNAL;
  CURLU *u = curl_url();
  if (u == NULL)
    return KF_ERR_NOMEM;
  char *resolved = NULL;
  kf_rc rc = KF_OK;
  /* Set on a handle that holds the base, a relative reference is resolved against it. */
  CURLUcode uc = curl_url_set(u, CURLUPART_URL, base, 0);
  if (uc == CURLUE_OK)
    uc = curl_url_set(u, CURLUPART_URL, ref, 0);
  if (uc == CURLUE_OK)
    uc = curl_url_get(u, CURLUPART_URL, &resolved, 0);
  if (uc != CURLUE_OK)
    rc = uc == CURLUE_OUT_OF_MEMORY ? KF_ERR_NOMEM : KF_ERR_INVALID;
  if (rc == KF_OK) {
    *out = kf_strdup(resolved);
    rc = *out != NULL ? KF_OK : KF_ERR_NOMEM;
  }
  curl_free(resolved);
  curl_url_cleanup(u);
  return rc;
}

kf_rc kh_http_url_escape(kf_buf *out, const char *value) {
  assert(out != NULL && value != NULL);
  if (kh_http_global_init(NULL) != KF_OK)
    return KF_ERR_INTERNAL;
  size_t len = strlen(value);
  if (len > (size_t)1 << 24)
    return KF_ERR_LIMIT;
  /* libcurl accepts a NULL handle here since 7.82, which we require anyway. */
  char *esc = curl_easy_escape(NULL, value, (int)len);
  if (esc == NULL)
    return KF_ERR_NOMEM;
  kf_rc rc = kf_buf_append_str(out, esc);
  curl_free(esc);
  return rc;
}

/* ---- One transfer. ---- */

/* Append the curl header line "Name: value" ("Name;" for an empty value) to *list. */
static kf_rc kh_http_list_add(struct curl_slist **list, const char *name, const char *value) {
  size_t nlen = strlen(name), vlen = strlen(value);
  char small[KH_HTTP_LINE_MAX];
  char *line = nlen + vlen + 3 <= sizeof small ? small : kf_malloc(nlen + vlen + 3);
  if (line == NULL)
    return KF_ERR_NOMEM;
  memcpy(line, name, nlen);
  /* "Name;" is curl's way to send a header with an empty value. */
  if (vlen == 0) {
    memcpy(line + nlen, ";", 2);
  } else {
    memcpy(line + nlen, ": ", 2);
    memcpy(line + nlen + 2, value, vlen + 1);
  }
  struct curl_slist *n = curl_slist_append(*list, line);
  if (line != small)
    kf_free(line);
  if (n == NULL)
    return KF_ERR_NOMEM;
  *list = n;
  return KF_OK;
}

/* The header list: the caller's headers, minus curl's own defaults we do not want. */
static kf_rc kh_http_header_list(const kh_http_request *req, struct curl_slist **out) {
  struct curl_slist *list = NULL;
  bool has_ct = false, has_expect = false;
  kf_rc rc = KF_OK;
  for (size_t i = 0; rc == KF_OK && i < req->headers_len; i++) {
    has_ct = has_ct || kf_str_eq_ci(req->headers[i], "Content-Type");
    has_expect = has_expect || kf_str_eq_ci(req->headers[i], "Expect");
    rc = kh_http_list_add(&list, req->headers[i], req->values[i]);
  }
  /* "Name:" removes a header curl would add to a body by itself: a raw body must
   * not be labelled form-encoded, and 100-continue only adds a round trip. */
  const char *removals[2];
  size_t nrem = 0;
  if (req->body != NULL && !has_ct)
    removals[nrem++] = "Content-Type:";
  if (req->body != NULL && !has_expect)
    removals[nrem++] = "Expect:";
  for (size_t i = 0; rc == KF_OK && i < nrem; i++) {
    struct curl_slist *n = curl_slist_append(list, removals[i]);
    if (n == NULL)
      rc = KF_ERR_NOMEM;
    else
      list = n;
  }
  if (rc != KF_OK) {
    curl_slist_free_all(list);
    return rc;
  }
  *out = list;
  return KF_OK;
}

/*
 * The options of this request. Every one that some request sets is set here
 * for each, to this request's value, so nothing of the one before (a method,
 * a body, NOBODY of a HEAD, headers) carries over. HTTPGET comes first: it
 * makes the method GET with no body and no upload, which the others then change.
 */
static CURLcode kh_http_configure(CURL *curl, const kh_http_request *req,
                                  struct curl_slist *headers, int64_t timeout) {
  CURLcode cc = CURLE_OK;
  cc |= curl_easy_setopt(curl, CURLOPT_URL, req->url);
  cc |= curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)timeout);
  cc |=
      curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout < 10000 ? timeout : 10000));
  cc |= curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  cc |= curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  bool head = strcmp(req->method, "HEAD") == 0;
  if (head)
    cc |= curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  if (req->body != NULL) {
    cc |= curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    cc |= curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body);
  }
  bool custom = !head && (strcmp(req->method, "GET") != 0 || req->body != NULL);
  cc |= curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, custom ? req->method : NULL);
  return cc;
}

/* Map a curl failure onto our codes, with a message naming the URL. */
static kf_rc kh_http_curl_error(CURLcode cc, const char *url, const char *detail, kf_err *err) {
  const char *why = detail[0] != '\0' ? detail : curl_easy_strerror(cc);
  switch (cc) {
  case CURLE_OPERATION_TIMEDOUT:
    return kf_err_set(err, KF_ERR_TIMEOUT, "%s: timed out (%s)", url, why);
  case CURLE_URL_MALFORMAT:
  case CURLE_UNSUPPORTED_PROTOCOL:
    return kf_err_set(err, KF_ERR_INVALID, "%s: bad URL (%s)", url, why);
  case CURLE_OUT_OF_MEMORY:
    return kf_err_set(err, KF_ERR_NOMEM, "%s: out of memory", url);
  default:
    return kf_err_set(err, KF_ERR_NETWORK, "%s: %s", url, why);
  }
}

/* Why a transfer that curl ended with cc failed, into err and r->error. */
static kf_rc kh_http_failed(const kh_http_conn *conn, CURLcode cc, const char *url,
                            kh_http_reply *r, kf_err *err) {
  kf_rc rc;
  if (conn->sink.too_many_headers)
    rc = kf_err_set(err, KF_ERR_LIMIT, "%s: the response has more than %u header lines", url,
                    KH_HTTP_MAX_HEADERS);
  else if (conn->sink.failed == KF_ERR_LIMIT)
    rc = kf_err_set(err, KF_ERR_LIMIT, "%s: the response is larger than %u bytes", url,
                    KH_HTTP_MAX_RESPONSE);
  else if (conn->sink.failed != KF_OK)
    rc = kf_err_set(err, conn->sink.failed, "%s: out of memory for the response", url);
  else
    rc = kh_http_curl_error(cc, url, conn->detail, err);
  r->error = kf_strdup(err != NULL ? err->message : curl_easy_strerror(cc));
  return rc;
}

/* Send req over conn into r; resp gets the timings. */
static kf_rc kh_http_transfer(kh_http_conn *conn, const kh_http_request *req, kh_http_reply *r,
                              kh_http_response *resp, kf_err *err) {
  struct curl_slist *headers = NULL;
  kf_rc rc = kh_http_header_list(req, &headers);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "cannot build the request headers");
  conn->sink = (kh_http_sink){.reply = r, .failed = KF_OK};
  conn->detail[0] = '\0';
  int64_t timeout = req->timeout_ms > 0 ? req->timeout_ms : KH_HTTP_DEFAULT_TIMEOUT_MS;
  CURL *curl = conn->curl;
  CURLcode cc = kh_http_configure(curl, req, headers, timeout);
  if (cc != CURLE_OK) {
    rc = kf_err_set(err, KF_ERR_INTERNAL, "cannot configure libcurl for %s", req->url);
  } else {
    int64_t start = kf_time_monotonic_ms();
    cc = curl_easy_perform(curl);
    r->duration_ms = resp->duration_ms = kf_time_monotonic_ms() - start;
    if (cc != CURLE_OK) {
      rc = kh_http_failed(conn, cc, req->url, r, err);
    } else {
      curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
      curl_off_t total_us = 0;
      resp->duration_us = curl_easy_getinfo(curl, CURLINFO_TOTAL_TIME_T, &total_us) == CURLE_OK
                              ? (int64_t)total_us
                              : resp->duration_ms * 1000;
      resp->status = r->status;
    }
  }
  /* The handle lives on: it must not point at this call's header list or body. */
  (void)curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
  if (req->body != NULL)
    (void)curl_easy_setopt(curl, CURLOPT_POSTFIELDS, NULL);
  conn->sink.reply = NULL;
  curl_slist_free_all(headers);
  return rc;
}

/* Turn a reply into the subject and exchange of a request that does not defer. */
static kf_rc kh_http_settle(kh_http_reply *r, bool answered, kh_http_response *resp, kf_err *err) {
  kf_rc rc = kh_http_reply_record(r, &resp->exchange);
  if (rc == KF_OK && answered)
    rc = kh_http_reply_subject(r, &resp->subject);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "%s: cannot record the response", r->url);
  return KF_OK;
}

kf_rc kh_http_perform(const kh_http_request *req, kh_http_response *resp, kf_err *err) {
  assert(req != NULL && resp != NULL && req->method != NULL && req->url != NULL);
  assert(req->headers_len == 0 || (req->headers != NULL && req->values != NULL));
  kf_rc rc = kh_http_global_init(err);
  if (rc != KF_OK)
    return rc;
  kh_http_reply *r = NULL;
  rc = kh_http_reply_new(req, &r);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "cannot record the request");
  kh_http_conn own;
  kh_http_conn *conn = kh_http_bound;
  if (conn == NULL) {
    if (kh_http_conn_open(&own) != KF_OK) {
      kh_http_reply_unref(r);
      return kf_err_set(err, KF_ERR_NOMEM, "curl_easy_init failed");
    }
    conn = &own;
  }
  rc = kh_http_transfer(conn, req, r, resp, err);
  if (conn == &own)
    curl_easy_cleanup(own.curl);
  if (req->defer) {
    resp->reply = r;
    return rc;
  }
  kf_rc settled = kh_http_settle(r, rc == KF_OK, resp, rc == KF_OK ? err : NULL);
  kh_http_reply_unref(r);
  return rc != KF_OK ? rc : settled;
}
