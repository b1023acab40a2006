/*
 * kh_result_read.c: a JSON report back into a kf_run_result (jansson). Each
 * member is read by its kind with a helper that names the member's path on
 * failure, so a report edited by hand or written by another version gets one
 * line that says which member is wrong.
 */
#include "kh_result_read.h"

#include <assert.h>
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/file.h"
#include "kf/str.h"
#include "kf/timeutil.h"

/* The schema versions this reader understands (kr_json.c writes the newest). */
#define KH_RESULT_SCHEMA_VERSION 2

/* Where the reader is, for messages: "$.scenarios[3].steps[0]". */
typedef struct kh_rd {
  const char *name;
  char where[256];
  kf_err *err;
} kh_rd;

static kf_rc kh_rd_fail(kh_rd *rd, const char *key, const char *what) {
  return kf_err_set(rd->err, KF_ERR_PARSE, "%s: %s.%s: %s", rd->name, rd->where, key, what);
}

/* Step into a member: where gets ".key[i]"; *saved keeps the length to go back to. */
static void kh_rd_enter(kh_rd *rd, const char *key, size_t i, size_t *saved) {
  *saved = strlen(rd->where);
  size_t room = sizeof rd->where - *saved;
  if (kf_str_format(rd->where + *saved, room, ".%s[%zu]", key, i) != KF_OK)
    rd->where[*saved] = '\0';
}

static void kh_rd_leave(kh_rd *rd, size_t saved) {
  rd->where[saved] = '\0';
}

/* A string member (null allowed when nullable: *out NULL), copied into *out (caller frees). */
static kf_rc kh_rd_str(kh_rd *rd, const json_t *o, const char *key, bool nullable, char **out) {
  const json_t *v = json_object_get(o, key);
  if (v != NULL && json_is_null(v) && nullable) {
    *out = NULL;
    return KF_OK;
  }
  if (!json_is_string(v))
    return kh_rd_fail(rd, key, nullable ? "wants a string or null" : "wants a string");
  *out = kf_memdup0(json_string_value(v), json_string_length(v));
  return *out != NULL ? KF_OK : kf_err_set(rd->err, KF_ERR_NOMEM, "out of memory");
}

/* A string member that must be present, borrowed from o. */
static kf_rc kh_rd_cstr(kh_rd *rd, const json_t *o, const char *key, const char **out) {
  const json_t *v = json_object_get(o, key);
  if (!json_is_string(v))
    return kh_rd_fail(rd, key, "wants a string");
  *out = json_string_value(v);
  return KF_OK;
}

/* An integer member in [0, max]. */
static kf_rc kh_rd_uint(kh_rd *rd, const json_t *o, const char *key, uint64_t max, uint64_t *out) {
  const json_t *v = json_object_get(o, key);
  if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
    return kh_rd_fail(rd, key, "wants a whole number 0 or more");
  *out = (uint64_t)json_integer_value(v);
  return KF_OK;
}

static kf_rc kh_rd_size(kh_rd *rd, const json_t *o, const char *key, size_t *out) {
  uint64_t v = 0;
  kf_rc rc = kh_rd_uint(rd, o, key, SIZE_MAX, &v);
  *out = (size_t)v;
  return rc;
}

static kf_rc kh_rd_unsigned(kh_rd *rd, const json_t *o, const char *key, unsigned *out) {
  uint64_t v = 0;
  kf_rc rc = kh_rd_uint(rd, o, key, UINT32_MAX, &v);
  *out = (unsigned)v;
  return rc;
}

/* A duration: any integer (a clock step back may make one negative). */
static kf_rc kh_rd_ms(kh_rd *rd, const json_t *o, const char *key, int64_t *out) {
  const json_t *v = json_object_get(o, key);
  if (!json_is_integer(v))
    return kh_rd_fail(rd, key, "wants a whole number");
  *out = (int64_t)json_integer_value(v);
  return KF_OK;
}

static kf_rc kh_rd_array(kh_rd *rd, const json_t *o, const char *key, const json_t **out) {
  *out = json_object_get(o, key);
  return json_is_array(*out) ? KF_OK : kh_rd_fail(rd, key, "wants an array");
}

static kf_rc kh_rd_object(kh_rd *rd, const json_t *o, const char *key, const json_t **out) {
  *out = json_object_get(o, key);
  return json_is_object(*out) ? KF_OK : kh_rd_fail(rd, key, "wants an object");
}

/* "pass", "fail", "error", "skip". */
static kf_rc kh_rd_status(kh_rd *rd, const json_t *o, kf_status *out) {
  const char *s = NULL;
  kf_rc rc = kh_rd_cstr(rd, o, "status", &s);
  for (int i = KF_STATUS_PASS; rc == KF_OK && i <= KF_STATUS_SKIP; i++) {
    if (strcmp(s, kf_status_name((kf_status)i)) == 0) {
      *out = (kf_status)i;
      return KF_OK;
    }
  }
  return rc != KF_OK ? rc : kh_rd_fail(rd, "status", "wants pass, fail, error or skip");
}

static kf_rc kh_rd_skip_kind(kh_rd *rd, const json_t *o, kf_skip_kind *out) {
  const json_t *v = json_object_get(o, "skip_reason");
  *out = KF_SKIP_NONE;
  if (json_is_null(v))
    return KF_OK;
  for (int i = 0; json_is_string(v) && i < KF_SKIP_KIND_COUNT; i++) {
    if (strcmp(json_string_value(v), kf_skip_kind_name((kf_skip_kind)i)) == 0) {
      *out = (kf_skip_kind)i;
      return KF_OK;
    }
  }
  return kh_rd_fail(rd, "skip_reason", "wants a skip kind of the schema or null");
}

/* A list of strings into a fresh vector (caller frees each and the vector). */
static kf_rc kh_rd_strv(kh_rd *rd, const json_t *o, const char *key, const char ***out,
                        size_t *len) {
  const json_t *arr = NULL;
  kf_rc rc = kh_rd_array(rd, o, key, &arr);
  if (rc != KF_OK)
    return rc;
  size_t n = json_array_size(arr);
  *out = kf_calloc(n > 0 ? n : 1, sizeof **out);
  if (*out == NULL)
    return kf_err_set(rd->err, KF_ERR_NOMEM, "out of memory");
  *len = n;
  for (size_t i = 0; i < n; i++) {
    const json_t *v = json_array_get(arr, i);
    if (!json_is_string(v))
      return kh_rd_fail(rd, key, "wants strings only");
    (*out)[i] = json_string_value(v);
  }
  return KF_OK;
}

/* {"headers": [{"name", "value"}], "body", "body_cut"}. */
static kf_rc kh_rd_message(kh_rd *rd, const json_t *o, kf_message *msg) {
  const json_t *headers = NULL;
  kf_rc rc = kh_rd_array(rd, o, "headers", &headers);
  for (size_t i = 0; rc == KF_OK && i < json_array_size(headers); i++) {
    const json_t *h = json_array_get(headers, i);
    const char *name = NULL, *value = NULL;
    rc = kh_rd_cstr(rd, h, "name", &name);
    if (rc == KF_OK)
      rc = kh_rd_cstr(rd, h, "value", &value);
    if (rc == KF_OK && kf_message_add_header(msg, name, value) != KF_OK)
      rc = kf_err_set(rd->err, KF_ERR_NOMEM, "out of memory");
  }
  const json_t *body = json_object_get(o, "body");
  if (rc == KF_OK && json_is_string(body) &&
      kf_message_set_body(msg, json_string_value(body), json_string_length(body)) != KF_OK)
    rc = kf_err_set(rd->err, KF_ERR_NOMEM, "out of memory");
  else if (rc == KF_OK && body != NULL && !json_is_string(body) && !json_is_null(body))
    rc = kh_rd_fail(rd, "body", "wants a string or null");
  /* A body cut when it was recorded stays marked as cut. */
  if (rc == KF_OK)
    msg->body_cut = msg->body_cut || json_is_true(json_object_get(o, "body_cut"));
  return rc;
}

static kf_rc kh_rd_exchange(kh_rd *rd, const json_t *o, kf_step_result *st) {
  kf_exchange *ex = NULL;
  if (kf_step_result_add_exchange(st, &ex) != KF_OK)
    return kf_err_set(rd->err, KF_ERR_NOMEM, "out of memory");
  kf_rc rc = kh_rd_str(rd, o, "purpose", false, &ex->purpose);
  if (rc == KF_OK)
    rc = kh_rd_str(rd, o, "method", false, &ex->method);
  if (rc == KF_OK)
    rc = kh_rd_str(rd, o, "url", false, &ex->url);
  uint64_t status = 0;
  if (rc == KF_OK)
    rc = kh_rd_uint(rd, o, "status", 999, &status);
  ex->status = (long)status;
  if (rc == KF_OK)
    rc = kh_rd_str(rd, o, "status_line", true, &ex->status_line);
  if (rc == KF_OK)
    rc = kh_rd_str(rd, o, "error", true, &ex->error);
  if (rc == KF_OK)
    rc = kh_rd_ms(rd, o, "duration_ms", &ex->duration_ms);
  const json_t *req = NULL;
  if (rc == KF_OK)
    rc = kh_rd_object(rd, o, "request", &req);
  if (rc == KF_OK)
    rc = kh_rd_message(rd, req, &ex->request);
  const json_t *resp = json_object_get(o, "response");
  if (rc == KF_OK && json_is_object(resp))
    rc = kh_rd_message(rd, resp, &ex->response);
  return rc;
}

static kf_rc kh_rd_assert(kh_rd *rd, const json_t *o, kf_step_result *st) {
  kf_assert_result *a = NULL;
  if (kf_step_result_add_assert(st, &a) != KF_OK)
    return kf_err_set(rd->err, KF_ERR_NOMEM, "out of memory");
  kf_rc rc = kh_rd_str(rd, o, "source", false, &a->source);
  if (rc == KF_OK)
    rc = kh_rd_str(rd, o, "file", false, &a->file);
  if (rc == KF_OK)
    rc = kh_rd_unsigned(rd, o, "line", &a->line);
  if (rc == KF_OK)
    rc = kh_rd_status(rd, o, &a->status);
  if (rc == KF_OK)
    rc = kh_rd_str(rd, o, "expected", true, &a->expected);
  if (rc == KF_OK)
    rc = kh_rd_str(rd, o, "actual", true, &a->actual);
  if (rc == KF_OK)
    rc = kh_rd_str(rd, o, "message", true, &a->message);
  return rc;
}

/* An artifact's bytes: UTF-8 text as is, or base64. */
static kf_rc kh_rd_artifact(kh_rd *rd, const json_t *o, kf_step_result *st) {
  const char *name = NULL, *media = NULL, *enc = NULL, *data = NULL;
  kf_rc rc = kh_rd_cstr(rd, o, "name", &name);
  if (rc == KF_OK)
    rc = kh_rd_cstr(rd, o, "media_type", &media);
  if (rc == KF_OK)
    rc = kh_rd_cstr(rd, o, "encoding", &enc);
  if (rc == KF_OK)
    rc = kh_rd_cstr(rd, o, "data", &data);
  if (rc != KF_OK)
    return rc;
  size_t len = json_string_length(json_object_get(o, "data"));
  if (strcmp(enc, "utf-8") == 0) {
    rc = kf_step_result_add_artifact(st, name, media, data, len);
    return rc == KF_OK ? KF_OK : kf_err_set(rd->err, rc, "out of memory");
  }
  if (strcmp(enc, "base64") != 0)
    return kh_rd_fail(rd, "encoding", "wants utf-8 or base64");
  unsigned char *bin = kf_malloc(len / 4 * 3 + 3);
  if (bin == NULL)
    return kf_err_set(rd->err, KF_ERR_NOMEM, "out of memory");
  size_t bin_len = 0;
  if (sodium_base642bin(bin, len / 4 * 3 + 3, data, len, NULL, &bin_len, NULL,
                        sodium_base64_VARIANT_ORIGINAL) != 0)
    rc = kh_rd_fail(rd, "data", "is not base64");
  else if (kf_step_result_add_artifact(st, name, media, bin, bin_len) != KF_OK)
    rc = kf_err_set(rd->err, KF_ERR_NOMEM, "out of memory");
  kf_free(bin);
  return rc;
}

typedef kf_rc (*kh_rd_item_fn)(kh_rd *rd, const json_t *o, kf_step_result *st);

/* Every object of the array under key, each read by fn into st. */
static kf_rc kh_rd_each(kh_rd *rd, const json_t *o, const char *key, kh_rd_item_fn fn,
                        kf_step_result *st) {
  const json_t *arr = NULL;
  kf_rc rc = kh_rd_array(rd, o, key, &arr);
  for (size_t i = 0; rc == KF_OK && i < json_array_size(arr); i++) {
    size_t saved;
    kh_rd_enter(rd, key, i, &saved);
    rc = fn(rd, json_array_get(arr, i), st);
    kh_rd_leave(rd, saved);
  }
  return rc;
}

static kf_rc kh_rd_step(kh_rd *rd, const json_t *o, kf_scenario_result *sc) {
  kf_step_result *st = NULL;
  if (kf_scenario_result_add_step(sc, &st) != KF_OK)
    return kf_err_set(rd->err, KF_ERR_NOMEM, "out of memory");
  kf_rc rc = kh_rd_str(rd, o, "label", false, &st->label);
  if (rc == KF_OK)
    rc = kh_rd_str(rd, o, "file", false, &st->file);
  if (rc == KF_OK)
    rc = kh_rd_unsigned(rd, o, "line", &st->line);
  if (rc == KF_OK)
    rc = kh_rd_status(rd, o, &st->status);
  if (rc == KF_OK)
    rc = kh_rd_str(rd, o, "message", true, &st->message);
  if (rc == KF_OK)
    rc = kh_rd_unsigned(rd, o, "fail_line", &st->fail_line);
  if (rc == KF_OK)
    rc = kh_rd_ms(rd, o, "duration_ms", &st->duration_ms);
  if (rc == KF_OK)
    rc = kh_rd_each(rd, o, "exchanges", kh_rd_exchange, st);
  if (rc == KF_OK)
    rc = kh_rd_each(rd, o, "asserts", kh_rd_assert, st);
  if (rc == KF_OK)
    rc = kh_rd_each(rd, o, "artifacts", kh_rd_artifact, st);
  return rc;
}

/* A scenario's own members after its slot exists: outcome, then its steps. */
static kf_rc kh_rd_scenario_body(kh_rd *rd, const json_t *o, kf_scenario_result *sc) {
  kf_rc rc = kh_rd_status(rd, o, &sc->status);
  if (rc == KF_OK)
    rc = kh_rd_skip_kind(rd, o, &sc->skip_kind);
  if (rc == KF_OK)
    rc = kh_rd_str(rd, o, "message", true, &sc->message);
  if (rc == KF_OK && json_object_get(o, "fail_file") != NULL)
    rc = kh_rd_str(rd, o, "fail_file", true, &sc->fail_file);
  if (rc == KF_OK && json_object_get(o, "fail_line") != NULL)
    rc = kh_rd_unsigned(rd, o, "fail_line", &sc->fail_line);
  if (rc == KF_OK)
    rc = kh_rd_ms(rd, o, "duration_ms", &sc->duration_ms);
  const json_t *steps = NULL;
  if (rc == KF_OK)
    rc = kh_rd_array(rd, o, "steps", &steps);
  for (size_t i = 0; rc == KF_OK && i < json_array_size(steps); i++) {
    size_t saved;
    kh_rd_enter(rd, "steps", i, &saved);
    rc = kh_rd_step(rd, json_array_get(steps, i), sc);
    kh_rd_leave(rd, saved);
  }
  return rc;
}

static kf_rc kh_rd_scenario(kh_rd *rd, const json_t *o, kf_run_result *run) {
  const char *name = NULL, *file = NULL;
  unsigned line = 0;
  const char **covers = NULL, **tags = NULL;
  size_t covers_len = 0, tags_len = 0;
  kf_rc rc = kh_rd_cstr(rd, o, "name", &name);
  if (rc == KF_OK)
    rc = kh_rd_cstr(rd, o, "file", &file);
  if (rc == KF_OK)
    rc = kh_rd_unsigned(rd, o, "line", &line);
  if (rc == KF_OK)
    rc = kh_rd_strv(rd, o, "covers", &covers, &covers_len);
  if (rc == KF_OK)
    rc = kh_rd_strv(rd, o, "tags", &tags, &tags_len);
  kf_scenario_result *sc = NULL;
  if (rc == KF_OK && kf_run_result_add_scenario(run, name, file, line, covers, covers_len, tags,
                                                tags_len, &sc) != KF_OK)
    rc = kf_err_set(rd->err, KF_ERR_NOMEM, "out of memory");
  kf_free(covers);
  kf_free(tags);
  return rc == KF_OK ? kh_rd_scenario_body(rd, o, sc) : rc;
}

static kf_rc kh_rd_requirement(kh_rd *rd, const json_t *o, kf_run_result *run) {
  const char *id = NULL, *area = NULL, *title = NULL, *source = NULL;
  kf_rc rc = kh_rd_cstr(rd, o, "id", &id);
  if (rc == KF_OK)
    rc = kh_rd_cstr(rd, o, "area", &area);
  if (rc == KF_OK)
    rc = kh_rd_cstr(rd, o, "title", &title);
  if (rc == KF_OK)
    rc = kh_rd_cstr(rd, o, "source", &source);
  if (rc == KF_OK && kf_run_result_add_requirement(run, id, area, title, source) != KF_OK)
    rc = kf_err_set(rd->err, KF_ERR_NOMEM, "out of memory");
  kf_requirement *rq = rc == KF_OK ? &run->requirements[run->requirements_len - 1] : NULL;
  if (rc == KF_OK)
    rc = kh_rd_size(rd, o, "not_selected", &rq->not_selected);
  if (rc == KF_OK)
    rc = kh_rd_size(rd, o, "other_shards", &rq->other_shards);
  if (rc == KF_OK && rq->other_shards > rq->not_selected)
    rc = kh_rd_fail(rd, "other_shards", "is more than not_selected");
  return rc;
}

/* A hex hash member (null allowed) into a KF_RUN_HASH_HEX field. */
static kf_rc kh_rd_hash(kh_rd *rd, const json_t *o, char *out) {
  const json_t *v = json_object_get(o, "hash");
  out[0] = '\0';
  if (json_is_null(v))
    return KF_OK;
  if (!json_is_string(v) || json_string_length(v) != KF_RUN_HASH_HEX - 1 ||
      strspn(json_string_value(v), "0123456789abcdef") != KF_RUN_HASH_HEX - 1)
    return kh_rd_fail(rd, "hash", "wants 32 lower-case hex digits or null");
  memcpy(out, json_string_value(v), KF_RUN_HASH_HEX);
  return KF_OK;
}

/* "shard", "suite" and "catalogue". */
static kf_rc kh_rd_identity(kh_rd *rd, const json_t *root, kf_run_result *run) {
  const json_t *shard = NULL, *suite = NULL, *cat = NULL;
  kf_rc rc = kh_rd_object(rd, root, "shard", &shard);
  if (rc == KF_OK)
    rc = kh_rd_unsigned(rd, shard, "index", &run->shard_index);
  if (rc == KF_OK)
    rc = kh_rd_unsigned(rd, shard, "total", &run->shard_total);
  if (rc == KF_OK && (run->shard_index < 1 || run->shard_index > run->shard_total))
    rc = kh_rd_fail(rd, "shard", "wants 1 <= index <= total");
  if (rc == KF_OK)
    rc = kh_rd_object(rd, root, "suite", &suite);
  if (rc == KF_OK)
    rc = kh_rd_size(rd, suite, "scenarios", &run->suite_scenarios);
  if (rc == KF_OK)
    rc = kh_rd_hash(rd, suite, run->suite_hash);
  if (rc == KF_OK)
    rc = kh_rd_object(rd, root, "catalogue", &cat);
  if (rc == KF_OK)
    rc = kh_rd_hash(rd, cat, run->catalogue_hash);
  return rc;
}

/* The run's own members: target, seed, run id, start, duration. */
static kf_rc kh_rd_head(kh_rd *rd, const json_t *root, kf_run_result *run) {
  const json_t *version = json_object_get(root, "schema_version");
  if (!json_is_integer(version) || json_integer_value(version) != KH_RESULT_SCHEMA_VERSION)
    return kh_rd_fail(rd, "schema_version", "wants 2 (a report of another konform version?)");
  const char *seed = NULL, *run_id = NULL, *started = NULL;
  kf_rc rc = kh_rd_str(rd, root, "target", false, &run->target);
  if (rc == KF_OK)
    rc = kh_rd_str(rd, root, "base_url", true, &run->base_url);
  if (rc == KF_OK)
    rc = kh_rd_cstr(rd, root, "seed", &seed);
  if (rc == KF_OK)
    rc = kh_rd_cstr(rd, root, "run_id", &run_id);
  if (rc == KF_OK)
    rc = kh_rd_cstr(rd, root, "started_at", &started);
  char *end = NULL;
  if (rc == KF_OK) {
    run->seed = strtoull(seed, &end, 10);
    if (seed[0] < '0' || seed[0] > '9' || *end != '\0')
      rc = kh_rd_fail(rd, "seed", "wants decimal digits");
  }
  if (rc == KF_OK) {
    run->run_id = strtoull(run_id, &end, 16);
    if (strlen(run_id) != 16 || strspn(run_id, "0123456789abcdef") != 16)
      rc = kh_rd_fail(rd, "run_id", "wants 16 lower-case hex digits");
  }
  if (rc == KF_OK && kf_time_parse_iso(started, &run->started_at) != KF_OK)
    rc = kh_rd_fail(rd, "started_at", "wants an ISO 8601 UTC time");
  const json_t *summary = NULL;
  if (rc == KF_OK)
    rc = kh_rd_object(rd, root, "summary", &summary);
  if (rc == KF_OK)
    rc = kh_rd_ms(rd, summary, "duration_ms", &run->duration_ms);
  return rc;
}

static kf_rc kh_rd_run(kh_rd *rd, const json_t *root, kf_run_result *run) {
  if (!json_is_object(root))
    return kf_err_set(rd->err, KF_ERR_PARSE, "%s: not a konform JSON report (no object)", rd->name);
  kf_rc rc = kh_rd_head(rd, root, run);
  if (rc == KF_OK)
    rc = kh_rd_identity(rd, root, run);
  const json_t *arr = NULL;
  if (rc == KF_OK)
    rc = kh_rd_array(rd, root, "requirements", &arr);
  for (size_t i = 0; rc == KF_OK && i < json_array_size(arr); i++) {
    size_t saved;
    kh_rd_enter(rd, "requirements", i, &saved);
    rc = kh_rd_requirement(rd, json_array_get(arr, i), run);
    kh_rd_leave(rd, saved);
  }
  if (rc == KF_OK)
    rc = kh_rd_array(rd, root, "scenarios", &arr);
  for (size_t i = 0; rc == KF_OK && i < json_array_size(arr); i++) {
    size_t saved;
    kh_rd_enter(rd, "scenarios", i, &saved);
    rc = kh_rd_scenario(rd, json_array_get(arr, i), run);
    kh_rd_leave(rd, saved);
  }
  return rc;
}

kf_rc kh_result_read_text(const char *name, const char *text, size_t len, kf_run_result *run,
                          kf_err *err) {
  assert(name != NULL && run != NULL);
  json_error_t jerr;
  json_t *root =
      json_loadb(text != NULL ? text : "", text != NULL ? len : 0, JSON_REJECT_DUPLICATES, &jerr);
  if (root == NULL)
    return kf_err_set(err, KF_ERR_PARSE, "%s:%d:%d: not JSON: %s", name, jerr.line, jerr.column,
                      jerr.text);
  kh_rd rd = {.name = name, .where = "$", .err = err};
  kf_rc rc = kh_rd_run(&rd, root, run);
  json_decref(root);
  return rc;
}

kf_rc kh_result_read_file(const char *path, kf_run_result *run, kf_err *err) {
  kf_buf b;
  kf_buf_init(&b, KH_RESULT_READ_MAX);
  kf_rc rc = kf_file_read(path, &b, err);
  if (rc == KF_OK)
    rc = kh_result_read_text(path, b.data, b.len, run, err);
  kf_buf_release(&b);
  return rc;
}
