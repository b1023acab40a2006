/*
 * kh_mocks.c: the mock API clients. The harness never sleeps to wait for mail:
 * the mock holds the request open until a match arrives or its timeout passes.
 */
#include "kh_mocks.h"

#include <assert.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/str.h"

#define KH_MOCKS_URL_MAX (64u * 1024u)
/* Extra client-side time beyond the server-side wait, so the server answers first. */
#define KH_MOCKS_CLIENT_SLACK_MS 15000

kf_rc kh_mocks_format_duration(kf_buf *out, int64_t ms) {
  if (ms % 1000 == 0)
    return kf_buf_appendf(out, "%llds", (long long)(ms / 1000));
  return kf_buf_appendf(out, "%lldms", (long long)ms);
}

/* Append "&name=<escaped value>" (or "?" first) when value is set. */
static kf_rc kh_mocks_add_param(kf_buf *url, bool *first, const char *name, const char *value) {
  if (value == NULL || value[0] == '\0')
    return KF_OK;
  kf_rc rc = kf_buf_appendf(url, "%s%s=", *first ? "?" : "&", name);
  *first = false;
  if (rc == KF_OK)
    rc = kh_http_url_escape(url, value);
  return rc;
}

/* The API base without a trailing slash, appended to url. */
static kf_rc kh_mocks_add_base(kf_buf *url, const char *api) {
  size_t len = strlen(api);
  while (len > 0 && api[len - 1] == '/')
    len--;
  return kf_buf_append(url, api, len);
}

static kf_rc kh_mocks_build_url(const kh_mock_wait *w, int64_t poll_ms, kf_buf *url) {
  bool first = true;
  kf_rc rc = kh_mocks_add_base(url, w->api);
  if (rc == KF_OK)
    rc = kf_buf_append_str(url, w->what == KH_WAIT_MAIL ? "/api/v1/wait/messages"
                                                        : "/api/v1/wait/letters");
  if (w->what == KH_WAIT_MAIL) {
    if (rc == KF_OK)
      rc = kh_mocks_add_param(url, &first, "to", w->to);
    if (rc == KF_OK)
      rc = kh_mocks_add_param(url, &first, "from", w->from);
    if (rc == KF_OK)
      rc = kh_mocks_add_param(url, &first, "subject", w->subject);
  } else {
    if (rc == KF_OK)
      rc = kh_mocks_add_param(url, &first, "name", w->to);
    if (rc == KF_OK)
      rc = kh_mocks_add_param(url, &first, "kind", w->kind);
    if (rc == KF_OK)
      rc = kh_mocks_add_param(url, &first, "customer_number", w->customer_number);
  }
  if (rc == KF_OK && w->after_id > 0) {
    rc = kf_buf_appendf(url, "%safter=%lld", first ? "?" : "&", (long long)w->after_id);
    first = false;
  }
  if (rc == KF_OK)
    rc = kf_buf_appendf(url, "%stimeout_ms=%lld", first ? "?" : "&", (long long)poll_ms);
  return rc;
}

/* "no mail to X matching subject Y from Z within 10s" for a wait that timed out. */
static void kh_mocks_timeout_message(const kh_mock_wait *w, kf_err *err) {
  kf_buf m;
  kf_buf_init(&m, KF_ERR_MESSAGE_MAX);
  kf_rc rc = kf_buf_append_str(&m, w->what == KH_WAIT_MAIL ? "no mail" : "no letter");
  if (w->what == KH_WAIT_MAIL) {
    if (rc == KF_OK && w->to != NULL && w->to[0] != '\0')
      rc = kf_buf_appendf(&m, " to %s", w->to);
    if (rc == KF_OK && w->from != NULL && w->from[0] != '\0')
      rc = kf_buf_appendf(&m, " from %s", w->from);
    if (rc == KF_OK && w->subject != NULL && w->subject[0] != '\0')
      rc = kf_buf_appendf(&m, " matching subject \"%s\"", w->subject);
  } else {
    if (rc == KF_OK && w->to != NULL && w->to[0] != '\0')
      rc = kf_buf_appendf(&m, " to %s", w->to);
    if (rc == KF_OK && w->kind != NULL && w->kind[0] != '\0')
      rc = kf_buf_appendf(&m, " of kind %s", w->kind);
    if (rc == KF_OK && w->customer_number != NULL && w->customer_number[0] != '\0')
      rc = kf_buf_appendf(&m, " for customer number %s", w->customer_number);
  }
  if (rc == KF_OK)
    rc = kf_buf_append_str(&m, " within ");
  if (rc == KF_OK)
    rc = kh_mocks_format_duration(&m, w->timeout_ms);
  /* The cursor is the run's start or the item matched before; name it so a reader can look. */
  if (w->after_id > 0 && rc == KF_OK)
    rc = kf_buf_appendf(&m, " (after id %lld)", (long long)w->after_id);
  /* A message cut by the cap still says the essential first part. */
  kf_err_set(err, KF_ERR_TIMEOUT, "%s", m.data != NULL ? m.data : "wait timed out");
  kf_buf_release(&m);
}

kf_rc kh_mocks_wait(const kh_mock_wait *w, kh_http_response *resp, json_t **doc, int64_t *id,
                    kf_err *err) {
  assert(w != NULL && w->api != NULL && resp != NULL && doc != NULL && id != NULL);
  assert(w->timeout_ms > 0);
  *doc = NULL;
  *id = 0;
  int64_t max_poll = w->max_poll_ms > 0 ? w->max_poll_ms : KH_MOCKS_MAX_POLL_MS;
  /*
   * The wait is cut into polls by the time asked for, not by the clock: each
   * poll is held open by the mock for its whole timeout unless a match
   * arrives, so the sum is the wait, and a mock that answered 408 early could
   * not make us loop without end.
   */
  int64_t left = w->timeout_ms;
  const char *what = w->what == KH_WAIT_MAIL ? "mail" : "post";
  kf_rc rc = KF_OK;
  for (;;) {
    int64_t poll_ms = left < max_poll ? left : max_poll;
    left -= poll_ms;
    kf_buf url;
    kf_buf_init(&url, KH_MOCKS_URL_MAX);
    rc = kh_mocks_build_url(w, poll_ms, &url);
    if (rc != KF_OK) {
      kf_buf_release(&url);
      return kf_err_set(err, rc, "cannot build the wait URL");
    }
    static const char *const names[] = {"Accept"};
    static const char *const values[] = {"application/json"};
    kh_http_request req = {.method = "GET",
                           .url = url.data,
                           .headers = names,
                           .values = values,
                           .headers_len = 1,
                           .timeout_ms = poll_ms + KH_MOCKS_CLIENT_SLACK_MS};
    /* Only the last poll's traces are kept: earlier ones said no more than "408". */
    kh_http_response_release(resp);
    rc = kh_http_perform(&req, resp, err);
    if (rc != KF_OK) {
      kf_buf_release(&url);
      return rc;
    }
    json_t *parsed = json_object_get(resp->subject, "json");
    if (resp->status == 408 && left > 0) {
      kf_buf_release(&url);
      continue;
    }
    if (resp->status == 408) {
      rc = KF_ERR_TIMEOUT;
      kh_mocks_timeout_message(w, err);
    } else if (resp->status != 200 || !json_is_object(parsed)) {
      rc = kf_err_set(err, KF_ERR_STATE, "the %s mock answered %s with status %ld and no document",
                      what, url.data, resp->status);
    } else {
      json_t *jid = json_object_get(parsed, "id");
      *id = json_is_integer(jid) ? (int64_t)json_integer_value(jid) : 0;
      *doc = json_incref(parsed);
    }
    kf_buf_release(&url);
    return rc;
  }
}

kf_rc kh_mocks_attach_raw(const char *api, int64_t id, json_t *doc, kf_err *err) {
  assert(api != NULL && doc != NULL);
  kf_buf url;
  kf_buf_init(&url, KH_MOCKS_URL_MAX);
  kf_rc rc = kh_mocks_add_base(&url, api);
  if (rc == KF_OK)
    rc = kf_buf_appendf(&url, "/api/v1/messages/%lld/raw", (long long)id);
  if (rc != KF_OK) {
    kf_buf_release(&url);
    return kf_err_set(err, rc, "cannot build the raw mail URL");
  }
  kh_http_request req = {.method = "GET", .url = url.data, .timeout_ms = KH_MOCKS_CLIENT_SLACK_MS};
  kh_http_response resp;
  kh_http_response_init(&resp);
  rc = kh_http_perform(&req, &resp, err);
  if (rc == KF_OK && resp.status != 200)
    rc = kf_err_set(err, KF_ERR_STATE, "%s answered with status %ld", url.data, resp.status);
  if (rc == KF_OK) {
    /* The subject's body is the raw source, already a byte-exact JSON string. */
    json_t *body = json_object_get(resp.subject, "body");
    if (body == NULL || json_object_set(doc, "raw", body) != 0)
      rc = kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  }
  kh_http_response_release(&resp);
  kf_buf_release(&url);
  return rc;
}

kf_rc kh_mocks_health(const char *api, int64_t timeout_ms, int64_t *last_id, kf_err *err) {
  assert(api != NULL);
  if (last_id != NULL)
    *last_id = 0;
  kf_buf url;
  kf_buf_init(&url, KH_MOCKS_URL_MAX);
  kf_rc rc = kh_mocks_add_base(&url, api);
  if (rc == KF_OK)
    rc = kf_buf_append_str(&url, "/api/v1/health");
  if (rc != KF_OK) {
    kf_buf_release(&url);
    return kf_err_set(err, rc, "cannot build the health URL");
  }
  kh_http_request req = {.method = "GET", .url = url.data, .timeout_ms = timeout_ms};
  kh_http_response resp;
  kh_http_response_init(&resp);
  rc = kh_http_perform(&req, &resp, err);
  if (rc == KF_OK && resp.status != 200)
    rc = kf_err_set(err, KF_ERR_STATE, "%s answered with status %ld", url.data, resp.status);
  if (rc == KF_OK && last_id != NULL) {
    /* A mock that does not report last_id (an older one) starts waits from the beginning. */
    json_t *jid = json_object_get(json_object_get(resp.subject, "json"), "last_id");
    if (json_is_integer(jid) && json_integer_value(jid) > 0)
      *last_id = (int64_t)json_integer_value(jid);
  }
  kh_http_response_release(&resp);
  kf_buf_release(&url);
  return rc;
}
