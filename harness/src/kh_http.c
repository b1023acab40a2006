/*
 * kh_http.c: one HTTP exchange over libcurl, turned into an eval subject and
 * into text traces.
 */
#include "kh_http.h"

#include <assert.h>
#include <curl/curl.h>
#include <pthread.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/str.h"
#include "kf/timeutil.h"
#include "kf/utf8.h"

/* Caps on the raw response head and on trace texts (which hold a cut body). */
#define KH_HTTP_MAX_HEAD (256u * 1024u)
#define KH_HTTP_MAX_TRACE (KH_HTTP_TRACE_BODY_MAX * 4u + KH_HTTP_MAX_HEAD + 1024u)
#define KH_HTTP_MAX_HEADERS 200u

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

struct kh_http_conn {
  CURL *curl;
};

/* The connection kh_http_perform uses on this thread, or NULL: a handle per request. */
static _Thread_local kh_http_conn *kh_http_bound;

kf_rc kh_http_conn_new(kh_http_conn **out, kf_err *err) {
  *out = NULL;
  kf_rc rc = kh_http_global_init(err);
  if (rc != KF_OK)
    return rc;
  kh_http_conn *conn = kf_calloc(1, sizeof *conn);
  if (conn == NULL || (conn->curl = curl_easy_init()) == NULL) {
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

void kh_http_response_init(kh_http_response *resp) {
  memset(resp, 0, sizeof(*resp));
}

void kh_http_response_release(kh_http_response *resp) {
  if (resp == NULL)
    return;
  json_decref(resp->subject);
  kf_exchange_release(&resp->exchange);
  kh_http_response_init(resp);
}

json_t *kh_http_response_json(kh_http_response *resp) {
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
  if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
      curl_url_set(u, CURLUPART_URL, ref, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_URL, &resolved, 0) != CURLUE_OK)
    rc = KF_ERR_INVALID;
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

/* The request side of the exchange: method, URL, headers and body as given. */
static kf_rc kh_http_record_request(const kh_http_request *req, kf_exchange *ex) {
  ex->purpose = kf_strdup(req->purpose != NULL ? req->purpose : "request");
  ex->method = kf_strdup(req->method);
  ex->url = kf_strdup(req->url);
  if (ex->purpose == NULL || ex->method == NULL || ex->url == NULL)
    return KF_ERR_NOMEM;
  kf_rc rc = KF_OK;
  for (size_t i = 0; rc == KF_OK && i < req->headers_len; i++)
    rc = kf_message_add_header(&ex->request, req->headers[i], req->values[i]);
  if (rc == KF_OK && req->body != NULL)
    rc = kf_message_set_body(&ex->request, req->body, req->body_len);
  return rc;
}

/* State the curl callbacks fill. */
typedef struct kh_http_sink {
  kf_buf head; /* Raw header lines of the final response. */
  kf_buf body;
  kf_rc failed; /* Why a callback stopped the transfer: KF_ERR_LIMIT or KF_ERR_NOMEM. */
} kh_http_sink;

static size_t kh_http_on_body(char *data, size_t size, size_t nmemb, void *user) {
  kh_http_sink *sink = user;
  size_t n = size * nmemb;
  kf_rc rc = kf_buf_append(&sink->body, data, n);
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
  if (n >= 5 && memcmp(data, "HTTP/", 5) == 0)
    kf_buf_reset(&sink->head);
  kf_rc rc = kf_buf_append(&sink->head, data, n);
  if (rc != KF_OK) {
    sink->failed = rc;
    return 0;
  }
  return n;
}

/* Add one header (lower-case name) to obj, joining repeats with ", ". */
static kf_rc kh_http_add_header(json_t *obj, const char *name, size_t name_len, const char *value,
                                size_t value_len) {
  char *key = kf_memdup0(name, name_len);
  if (key == NULL)
    return KF_ERR_NOMEM;
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
  kf_free(key);
  return rc;
}

/* One response header into the exchange, as received. */
static kf_rc kh_http_keep_header(kf_message *msg, const char *name, size_t name_len,
                                 const char *value, size_t value_len) {
  char *n = kf_memdup0(name, name_len);
  char *v = kf_memdup0(value, value_len);
  kf_rc rc = n != NULL && v != NULL ? kf_message_add_header(msg, n, v) : KF_ERR_NOMEM;
  kf_free(n);
  kf_free(v);
  return rc;
}

/*
 * Parse the raw head ("HTTP/1.1 200 OK\r\nName: v\r\n...") into a headers
 * object (lower-case names, repeats joined) and, in wire order, into msg;
 * the status line goes into *status_line.
 */
static kf_rc kh_http_parse_head(const kf_buf *head, json_t *headers, kf_message *msg,
                                char **status_line) {
  const char *p = head->data;
  const char *end = p == NULL ? NULL : p + head->len;
  bool first = true;
  size_t count = 0;
  while (p != NULL && p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *next = eol == NULL ? end : eol + 1;
    size_t len = (size_t)((eol == NULL ? end : eol) - p);
    if (len > 0 && p[len - 1] == '\r')
      len--;
    if (first) {
      first = false;
      kf_free(*status_line);
      if ((*status_line = kf_memdup0(p, len)) == NULL)
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
        if (++count > KH_HTTP_MAX_HEADERS)
          return KF_ERR_LIMIT;
        kf_rc rc = kh_http_add_header(headers, p, (size_t)(colon - p), v, (size_t)(vend - v));
        if (rc == KF_OK)
          rc = kh_http_keep_header(msg, p, (size_t)(colon - p), v, (size_t)(vend - v));
        if (rc != KF_OK)
          return rc;
      }
    }
    p = next;
  }
  return KF_OK;
}

static kf_rc kh_http_build_subject(const char *url, long status, const kh_http_sink *sink,
                                   int64_t duration_ms, kf_exchange *ex, json_t **out) {
  json_t *subject = json_object();
  json_t *headers = json_object();
  if (subject == NULL || headers == NULL) {
    json_decref(subject);
    json_decref(headers);
    return KF_ERR_NOMEM;
  }
  kf_rc rc = kh_http_parse_head(&sink->head, headers, &ex->response, &ex->status_line);
  if (rc != KF_OK) {
    json_decref(subject);
    json_decref(headers);
    return rc;
  }
  const char *body = sink->body.data != NULL ? sink->body.data : "";
  int bad = 0;
  bad |= json_object_set_new(subject, "url", json_string(url));
  bad |= json_object_set_new(subject, "status", json_integer(status));
  bad |= json_object_set_new(subject, "headers", headers);
  /* nocheck: a target may answer with invalid UTF-8 and the checks must see it. */
  bad |= json_object_set_new(subject, "body", json_stringn_nocheck(body, sink->body.len));
  bad |= json_object_set_new(subject, "duration_ms", json_integer(duration_ms));
  if (bad) {
    json_decref(subject);
    return KF_ERR_NOMEM;
  }
  *out = subject;
  return KF_OK;
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

/* Build the header list: the caller's headers, minus curl's own defaults we do not want. */
static kf_rc kh_http_header_list(const kh_http_request *req, struct curl_slist **out) {
  struct curl_slist *list = NULL;
  bool has_ct = false, has_expect = false;
  kf_rc rc = KF_OK;
  for (size_t i = 0; rc == KF_OK && i < req->headers_len; i++) {
    const char *name = req->headers[i];
    const char *value = req->values[i];
    if (kf_str_eq_ci(name, "Content-Type"))
      has_ct = true;
    if (kf_str_eq_ci(name, "Expect"))
      has_expect = true;
    /* "Name;" is curl's way to send a header with an empty value. */
    char *line =
        value[0] == '\0' ? kf_str_printf("%s;", name) : kf_str_printf("%s: %s", name, value);
    if (line == NULL) {
      rc = KF_ERR_NOMEM;
      break;
    }
    struct curl_slist *n = curl_slist_append(list, line);
    kf_free(line);
    if (n == NULL)
      rc = KF_ERR_NOMEM;
    else
      list = n;
  }
  /* "Name:" removes a header curl would add by itself: a raw body must not be
   * labelled form-encoded, and 100-continue only adds a round trip. */
  const char *removals[2];
  size_t nrem = 0;
  if (!has_ct && req->body != NULL)
    removals[nrem++] = "Content-Type:";
  if (!has_expect)
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

/* Every option of one transfer; each setopt can only fail for an unknown option or memory. */
static CURLcode kh_http_configure(CURL *curl, const kh_http_request *req, kh_http_sink *sink,
                                  struct curl_slist *headers, char *detail, int64_t timeout) {
  CURLcode cc = CURLE_OK;
  cc |= curl_easy_setopt(curl, CURLOPT_URL, req->url);
  cc |= curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  cc |= curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  cc |= curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)timeout);
  cc |=
      curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout < 10000 ? timeout : 10000));
  cc |= curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, detail);
  cc |= curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, kh_http_on_body);
  cc |= curl_easy_setopt(curl, CURLOPT_WRITEDATA, sink);
  cc |= curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, kh_http_on_header);
  cc |= curl_easy_setopt(curl, CURLOPT_HEADERDATA, sink);
  cc |= curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  /* Loopback targets must never be sent through a proxy from the environment. */
  cc |= curl_easy_setopt(curl, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
  /* Hand the body over unchanged; no compression negotiation that would hide the bytes. */
  cc |= curl_easy_setopt(curl, CURLOPT_HTTP_CONTENT_DECODING, 0L);
  if (strcmp(req->method, "HEAD") == 0) {
    cc |= curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (strcmp(req->method, "GET") != 0 || req->body != NULL) {
    cc |= curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
  }
  if (req->body != NULL) {
    cc |= curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    cc |= curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body);
  }
  return cc;
}

/*
 * The handle for one request: the thread's bound connection, reset to no
 * options at all so nothing of the request before (a method, a body, NOBODY
 * of a HEAD) carries over (the reset keeps its open connections, which is
 * the point), or a new handle of its own. NULL without memory.
 */
static CURL *kh_http_handle_take(void) {
  if (kh_http_bound == NULL)
    return curl_easy_init();
  curl_easy_reset(kh_http_bound->curl);
  return kh_http_bound->curl;
}

/* Done with the handle of kh_http_handle_take. */
static void kh_http_handle_give_back(CURL *curl) {
  if (kh_http_bound == NULL || kh_http_bound->curl != curl) {
    curl_easy_cleanup(curl);
    return;
  }
  /* The handle lives on: it must not point at this call's buffers or header list. */
  (void)curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);
  (void)curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
}

kf_rc kh_http_perform(const kh_http_request *req, kh_http_response *resp, kf_err *err) {
  assert(req != NULL && resp != NULL && req->method != NULL && req->url != NULL);
  assert(req->headers_len == 0 || (req->headers != NULL && req->values != NULL));
  kf_rc rc = kh_http_global_init(err);
  if (rc != KF_OK)
    return rc;
  rc = kh_http_record_request(req, &resp->exchange);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "cannot record the request");

  CURL *curl = kh_http_handle_take();
  if (curl == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "curl_easy_init failed");
  struct curl_slist *headers = NULL;
  rc = kh_http_header_list(req, &headers);
  if (rc != KF_OK) {
    kh_http_handle_give_back(curl);
    return kf_err_set(err, rc, "cannot build the request headers");
  }
  kh_http_sink sink;
  kf_buf_init(&sink.head, KH_HTTP_MAX_HEAD);
  kf_buf_init(&sink.body, KH_HTTP_MAX_RESPONSE);
  sink.failed = KF_OK;
  char detail[CURL_ERROR_SIZE];
  detail[0] = '\0';
  int64_t timeout = req->timeout_ms > 0 ? req->timeout_ms : KH_HTTP_DEFAULT_TIMEOUT_MS;

  CURLcode cc = kh_http_configure(curl, req, &sink, headers, detail, timeout);
  if (cc != CURLE_OK) {
    rc = kf_err_set(err, KF_ERR_INTERNAL, "cannot configure libcurl for %s", req->url);
    goto out;
  }

  int64_t start = kf_time_monotonic_ms();
  cc = curl_easy_perform(curl);
  resp->duration_ms = kf_time_monotonic_ms() - start;
  resp->exchange.duration_ms = resp->duration_ms;
  if (cc != CURLE_OK) {
    if (sink.failed == KF_ERR_LIMIT)
      rc = kf_err_set(err, KF_ERR_LIMIT, "%s: the response is larger than %u bytes", req->url,
                      KH_HTTP_MAX_RESPONSE);
    else if (sink.failed != KF_OK)
      rc = kf_err_set(err, sink.failed, "%s: out of memory for the response", req->url);
    else
      rc = kh_http_curl_error(cc, req->url, detail, err);
    resp->exchange.error = kf_strdup(err != NULL ? err->message : curl_easy_strerror(cc));
    goto out;
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_off_t total_us = 0;
  if (curl_easy_getinfo(curl, CURLINFO_TOTAL_TIME_T, &total_us) == CURLE_OK)
    resp->duration_us = (int64_t)total_us;
  else
    resp->duration_us = resp->duration_ms * 1000;
  resp->status = status;
  resp->exchange.status = status;
  rc = kh_http_build_subject(req->url, status, &sink, resp->duration_ms, &resp->exchange,
                             &resp->subject);
  if (rc == KF_OK && sink.body.len > 0)
    rc = kf_message_set_body(&resp->exchange.response, sink.body.data, sink.body.len);
  if (rc != KF_OK)
    (void)kf_err_set(err, rc, "%s: cannot record the response", req->url);

out:
  kf_buf_release(&sink.head);
  kf_buf_release(&sink.body);
  kh_http_handle_give_back(curl);
  curl_slist_free_all(headers);
  return rc;
}
