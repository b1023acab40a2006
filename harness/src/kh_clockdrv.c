/*
 * kh_clockdrv.c: the test clock driver. Each scenario gets its own clock on the
 * target, so scenarios running in parallel never see each other's time.
 */
#include "kh_clockdrv.h"

#include <assert.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/str.h"

#define KH_CLOCKDRV_URL_MAX 4096
#define KH_CLOCKDRV_TIMEOUT_MS 10000

/* Free text from json_dumps, which uses jansson's allocator (ours once kf_alloc_install_jansson
 * ran). */
static void kh_clockdrv_json_free(char *text) {
  json_free_t free_fn = NULL;
  json_get_alloc_funcs(NULL, &free_fn);
  assert(free_fn != NULL);
  free_fn(text);
}

/* method to url with an optional JSON body text, asking for JSON back. */
static kf_rc kh_clockdrv_send(const char *method, const char *url, const char *body,
                              const char *purpose, kh_http_response *resp, kf_err *err) {
  static const char *const names[] = {"Accept", "Content-Type"};
  static const char *const values[] = {"application/json", "application/json"};
  kh_http_request req = {.method = method,
                         .url = url,
                         .headers = names,
                         .values = values,
                         .headers_len = body != NULL ? 2 : 1,
                         .body = body,
                         .body_len = body != NULL ? strlen(body) : 0,
                         .timeout_ms = KH_CLOCKDRV_TIMEOUT_MS,
                         .purpose = purpose};
  return kh_http_perform(&req, resp, err);
}

/* POST body (a JSON object, stolen) to base_url + path and return the answer. */
static kf_rc kh_clockdrv_post(const char *base_url, const char *path, json_t *body,
                              long want_status, kh_http_response *resp, kf_err *err) {
  assert(base_url != NULL && path != NULL);
  if (body == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  char *text = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  if (text == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  kf_buf url;
  kf_buf_init(&url, KH_CLOCKDRV_URL_MAX);
  kf_rc rc = kh_http_url_base(&url, base_url);
  if (rc == KF_OK)
    rc = kf_buf_append_str(&url, path);
  if (rc != KF_OK) {
    kh_clockdrv_json_free(text);
    kf_buf_release(&url);
    return kf_err_set(err, rc, "clock URL too long");
  }
  rc = kh_clockdrv_send("POST", url.data, text, "test clock", resp, err);
  kh_clockdrv_json_free(text);
  if (rc == KF_OK && resp->status != want_status) {
    json_t *code = json_object_get(json_object_get(kh_http_response_json(resp), "error"), "code");
    const char *c = json_is_string(code) ? json_string_value(code) : "no error code";
    /* A 404 that is not about our clock means the route itself is missing. */
    if (resp->status == 404 && strcmp(c, "CLOCK_NOT_FOUND") != 0)
      rc = kf_err_set(err, KF_ERR_UNSUPPORTED, "%s: the target has no test clock API (status 404)",
                      url.data);
    else
      rc = kf_err_set(err, KF_ERR_STATE, "%s: clock request refused with status %ld (%s)", url.data,
                      resp->status, c);
  }
  kf_buf_release(&url);
  return rc;
}

kf_rc kh_clockdrv_create(const char *base_url, int64_t frozen_time, const char *name,
                         kh_http_response *resp, char **id_out, kf_err *err) {
  assert(id_out != NULL);
  *id_out = NULL;
  json_t *body = json_pack("{s:I}", "frozen_time", (json_int_t)frozen_time);
  if (body != NULL && name != NULL)
    json_object_set_new(body, "name", json_string(name));
  kf_rc rc = kh_clockdrv_post(base_url, "/test/v1/clocks", body, 201, resp, err);
  if (rc != KF_OK)
    return rc;
  json_t *id = json_object_get(kh_http_response_json(resp), "id");
  const char *s = json_is_string(id) ? json_string_value(id) : NULL;
  if (s == NULL || s[0] == '\0' || strlen(s) > KH_CLOCK_ID_MAX || strpbrk(s, "\r\n") != NULL)
    return kf_err_set(err, KF_ERR_STATE, "the clock API answered without a usable \"id\"");
  *id_out = kf_strdup(s);
  if (*id_out == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  return KF_OK;
}

static kf_rc kh_clockdrv_advance_body(const char *base_url, const char *id, json_t *body,
                                      kh_http_response *resp, kf_err *err) {
  assert(id != NULL);
  kf_buf path;
  kf_buf_init(&path, KH_CLOCKDRV_URL_MAX);
  kf_rc rc = kf_buf_append_str(&path, "/test/v1/clocks/");
  if (rc == KF_OK)
    rc = kh_http_url_escape(&path, id);
  if (rc == KF_OK)
    rc = kf_buf_append_str(&path, "/advance");
  if (rc != KF_OK) {
    json_decref(body);
    kf_buf_release(&path);
    return kf_err_set(err, rc, "clock URL too long");
  }
  rc = kh_clockdrv_post(base_url, path.data, body, 200, resp, err);
  kf_buf_release(&path);
  return rc;
}

kf_rc kh_clockdrv_advance(const char *base_url, const char *id, int64_t seconds,
                          kh_http_response *resp, kf_err *err) {
  assert(seconds >= 0);
  return kh_clockdrv_advance_body(base_url, id, json_pack("{s:I}", "seconds", (json_int_t)seconds),
                                  resp, err);
}

kf_rc kh_clockdrv_set(const char *base_url, const char *id, int64_t frozen_time,
                      kh_http_response *resp, kf_err *err) {
  return kh_clockdrv_advance_body(
      base_url, id, json_pack("{s:I}", "frozen_time", (json_int_t)frozen_time), resp, err);
}

kf_rc kh_clockdrv_delete(const char *base_url, const char *id, kh_http_response *resp,
                         kf_err *err) {
  assert(base_url != NULL && id != NULL);
  kf_buf url;
  kf_buf_init(&url, KH_CLOCKDRV_URL_MAX);
  kf_rc rc = kh_http_url_base(&url, base_url);
  if (rc == KF_OK)
    rc = kf_buf_append_str(&url, "/test/v1/clocks/");
  if (rc == KF_OK)
    rc = kh_http_url_escape(&url, id);
  if (rc != KF_OK) {
    kf_buf_release(&url);
    return kf_err_set(err, rc, "clock URL too long");
  }
  rc = kh_clockdrv_send("DELETE", url.data, NULL, "test clock delete", resp, err);
  if (rc == KF_OK && resp->status != 204 && resp->status != 200 && resp->status != 404)
    rc = kf_err_set(err, KF_ERR_STATE, "%s: deleting the clock was refused with status %ld",
                    url.data, resp->status);
  kf_buf_release(&url);
  return rc;
}
