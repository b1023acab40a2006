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

static kf_rc kh_mocks_build_url(const kh_mock_wait *w, int64_t poll_ms, kf_buf *url) {
  bool first = true;
  kf_rc rc = kh_http_url_base(url, w->api);
  if (rc == KF_OK)
    rc = kf_buf_appendf(url, "/api/v1/wait/%s", w->collection);
  for (size_t i = 0; rc == KF_OK && i < w->filters_len; i++)
    rc = kh_mocks_add_param(url, &first, w->filters[i].param, w->filters[i].value);
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
  kf_rc rc = kf_buf_appendf(&m, "no %s", w->noun);
  for (size_t i = 0; rc == KF_OK && i < w->filters_len; i++) {
    const kh_mock_filter *f = &w->filters[i];
    if (f->value != NULL && f->value[0] != '\0')
      rc = kf_buf_appendf(&m, f->says, f->value);
  }
  if (rc == KF_OK)
    rc = kf_buf_append_str(&m, " within ");
  if (rc == KF_OK)
    rc = kh_mocks_format_duration(&m, w->timeout_ms);
  /* The cursor is the run's start or the item matched before; name it so a reader can look. */
  if (w->after_id > 0 && rc == KF_OK)
    rc = kf_buf_appendf(&m, " (after id %lld)", (long long)w->after_id);
  /* A message cut by the cap still says the essential first part. */
  (void)kf_err_set(err, KF_ERR_TIMEOUT, "%s", m.data != NULL ? m.data : "wait timed out");
  kf_buf_release(&m);
}

/* Move the exchange of resp into record (if any), then release resp. */
static void kh_mocks_record(kh_http_response *resp, kf_step_result *record) {
  kf_exchange *slot = NULL;
  if (record != NULL && resp->exchange.method != NULL &&
      kf_step_result_add_exchange(record, &slot) == KF_OK) {
    *slot = resp->exchange;
    memset(&resp->exchange, 0, sizeof resp->exchange);
  }
  kh_http_response_release(resp);
}

/* One long-poll of poll_ms; *again when it timed out with time left for another. */
static kf_rc kh_mocks_poll(const kh_mock_wait *w, int64_t poll_ms, bool last, json_t **doc,
                           int64_t *id, bool *again, kf_err *err) {
  *again = false;
  kf_buf url;
  kf_buf_init(&url, KH_MOCKS_URL_MAX);
  kf_rc rc = kh_mocks_build_url(w, poll_ms, &url);
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
                         .timeout_ms = poll_ms + KH_MOCKS_CLIENT_SLACK_MS,
                         .purpose = w->purpose};
  kh_http_response resp;
  kh_http_response_init(&resp);
  rc = kh_http_perform(&req, &resp, err);
  json_t *parsed = rc == KF_OK ? kh_http_response_json(&resp) : NULL;
  if (rc != KF_OK) {
    /* The transport error is in err already. */
  } else if (resp.status == 408 && !last) {
    *again = true;
  } else if (resp.status == 408) {
    rc = KF_ERR_TIMEOUT;
    kh_mocks_timeout_message(w, err);
  } else if (resp.status != 200 || !json_is_object(parsed)) {
    rc = kf_err_set(err, KF_ERR_STATE, "the %s mock answered %s with status %ld and no document",
                    w->mock, url.data, resp.status);
  } else {
    json_t *jid = json_object_get(parsed, "id");
    *id = json_is_integer(jid) ? (int64_t)json_integer_value(jid) : 0;
    *doc = json_incref(parsed);
  }
  kh_mocks_record(&resp, w->record);
  kf_buf_release(&url);
  return rc;
}

kf_rc kh_mocks_wait(const kh_mock_wait *w, json_t **doc, int64_t *id, kf_err *err) {
  assert(w != NULL && w->api != NULL && doc != NULL && id != NULL);
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
  for (;;) {
    int64_t poll_ms = left < max_poll ? left : max_poll;
    left -= poll_ms;
    bool again = false;
    kf_rc rc = kh_mocks_poll(w, poll_ms, left <= 0, doc, id, &again, err);
    if (!again)
      return rc;
  }
}

kf_rc kh_mocks_fetch_raw(const char *api, const char *collection, int64_t id,
                         kf_step_result *record, json_t **raw, kf_err *err) {
  assert(api != NULL && raw != NULL);
  *raw = NULL;
  kf_buf url;
  kf_buf_init(&url, KH_MOCKS_URL_MAX);
  kf_rc rc = kh_http_url_base(&url, api);
  if (rc == KF_OK)
    rc = kf_buf_appendf(&url, "/api/v1/%s/%lld/raw", collection, (long long)id);
  if (rc != KF_OK) {
    kf_buf_release(&url);
    return kf_err_set(err, rc, "cannot build the raw source URL");
  }
  kh_http_request req = {.method = "GET",
                         .url = url.data,
                         .timeout_ms = KH_MOCKS_CLIENT_SLACK_MS,
                         .purpose = "raw source"};
  kh_http_response resp;
  kh_http_response_init(&resp);
  rc = kh_http_perform(&req, &resp, err);
  if (rc == KF_OK && resp.status != 200)
    rc = kf_err_set(err, KF_ERR_STATE, "%s answered with status %ld", url.data, resp.status);
  if (rc == KF_OK) {
    /* The subject's body is the raw source, already a byte-exact JSON string. */
    *raw = json_incref(json_object_get(resp.subject, "body"));
    if (*raw == NULL)
      rc = kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  }
  kh_mocks_record(&resp, record);
  kf_buf_release(&url);
  return rc;
}

kf_rc kh_mocks_health(const char *api, int64_t timeout_ms, int64_t *last_id, kf_err *err) {
  assert(api != NULL);
  if (last_id != NULL)
    *last_id = 0;
  kf_buf url;
  kf_buf_init(&url, KH_MOCKS_URL_MAX);
  kf_rc rc = kh_http_url_base(&url, api);
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
    json_t *jid = json_object_get(kh_http_response_json(&resp), "last_id");
    if (json_is_integer(jid) && json_integer_value(jid) > 0)
      *last_id = (int64_t)json_integer_value(jid);
  }
  kh_http_response_release(&resp);
  kf_buf_release(&url);
  return rc;
}
