/*
 * kr_json.c: the machine-readable report (jansson), following
 * docs/report-schema.json, written as a stream (kr_stream.c).
 *
 * Each scenario is built as a jansson object, dumped with the indentation it
 * has inside the document and freed at once. At the close the document
 * without its scenarios (an empty "scenarios" array, the last member) is
 * built and dumped the same way, and the scenarios' bytes are put in that
 * array, so the file is what one json_dump of the whole run would write.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/error.h"
#include "kf/run_result.h"
#include "kf/str.h"
#include "kf/timeutil.h"
#include "kf/utf8.h"
#include "kf/version.h"
#include "kr/report.h"
#include "kr_priv.h"

/* ---------------------------------------------------------------------------
 * Building the JSON document.
 * ------------------------------------------------------------------------- */

/* Scratch space for cleaning strings, reused for every value. */
typedef struct kr_json_ctx {
  kf_buf scratch;
} kr_json_ctx;

/* The version of docs/report-schema.json this writer follows. */
#define KR_JSON_SCHEMA_VERSION 2

/*
 * A JSON string holding the len bytes at s made valid UTF-8 (kr_text_clean
 * rules). Returns NULL only when memory runs out.
 */
static json_t *kr_json_textn(kr_json_ctx *ctx, const char *s, size_t len) {
  kf_buf_reset(&ctx->scratch);
  if (kr_text_clean_n(&ctx->scratch, s, len, 0) != KF_OK)
    return NULL;
  return json_stringn(ctx->scratch.data != NULL ? ctx->scratch.data : "", ctx->scratch.len);
}

/* kr_json_textn for a NUL-terminated s, or JSON null for a NULL s. */
static json_t *kr_json_text(kr_json_ctx *ctx, const char *s) {
  return s != NULL ? kr_json_textn(ctx, s, strlen(s)) : json_null();
}

/* Attach value under key; takes the reference to value even on failure. */
static kf_rc kr_json_set(json_t *obj, const char *key, json_t *value) {
  assert(obj != NULL);
  if (value == NULL)
    return KF_ERR_NOMEM;
  if (json_object_set_new(obj, key, value) != 0)
    return KF_ERR_NOMEM;
  return KF_OK;
}

/* Append value to arr; takes the reference to value even on failure. */
static kf_rc kr_json_push(json_t *arr, json_t *value) {
  assert(arr != NULL);
  if (value == NULL)
    return KF_ERR_NOMEM;
  if (json_array_append_new(arr, value) != 0)
    return KF_ERR_NOMEM;
  return KF_OK;
}

/* Create a container under key of parent and return it (owned by parent). */
static kf_rc kr_json_child(json_t *parent, const char *key, json_t *child, json_t **out) {
  *out = child;
  return kr_json_set(parent, key, child);
}

/*
 * The keys a scenario, a step and an assert share: what it is (under
 * what_key), where it is written and how it went.
 */
static kf_rc kr_json_outcome(kr_json_ctx *ctx, json_t *o, const char *what_key, const char *what,
                             const char *file, unsigned line, kf_status status,
                             const char *message) {
  KR_TRY(kr_json_set(o, what_key, kr_json_text(ctx, what != NULL ? what : "")));
  KR_TRY(kr_json_set(o, "file", kr_json_text(ctx, file != NULL ? file : "")));
  KR_TRY(kr_json_set(o, "line", json_integer((json_int_t)line)));
  KR_TRY(kr_json_set(o, "status", json_string(kf_status_name(status))));
  return kr_json_set(o, "message", kr_json_text(ctx, message));
}

static kf_rc kr_json_string_list(kr_json_ctx *ctx, json_t *obj, const char *key, char *const *items,
                                 size_t n) {
  json_t *arr;
  KR_TRY(kr_json_child(obj, key, json_array(), &arr));
  for (size_t i = 0; i < n; i++)
    KR_TRY(kr_json_push(arr, kr_json_text(ctx, items[i])));
  return KF_OK;
}

static kf_rc kr_json_summary(const kf_run_result *run, json_t *root) {
  kf_run_counts c;
  kf_run_result_counts(run, &c);
  json_t *o;
  KR_TRY(kr_json_child(root, "summary", json_object(), &o));
  KR_TRY(kr_json_set(o, "scenarios", json_integer((json_int_t)c.total)));
  KR_TRY(kr_json_set(o, "passed", json_integer((json_int_t)c.passed)));
  KR_TRY(kr_json_set(o, "failed", json_integer((json_int_t)c.failed)));
  KR_TRY(kr_json_set(o, "skipped", json_integer((json_int_t)c.skipped)));
  KR_TRY(kr_json_set(o, "errors", json_integer((json_int_t)c.errors)));
  KR_TRY(kr_json_set(o, "duration_ms", json_integer((json_int_t)run->duration_ms)));
  return KF_OK;
}

static kf_rc kr_json_requirements(kr_json_ctx *ctx, const kf_run_result *run, json_t *root) {
  json_t *arr;
  KR_TRY(kr_json_child(root, "requirements", json_array(), &arr));
  for (size_t i = 0; i < run->requirements_len; i++) {
    const kf_requirement *rq = &run->requirements[i];
    const char *id = rq->id != NULL ? rq->id : "";
    json_t *o = json_object();
    KR_TRY(kr_json_push(arr, o));
    KR_TRY(kr_json_set(o, "id", kr_json_text(ctx, id)));
    KR_TRY(kr_json_set(o, "area", kr_json_text(ctx, rq->area != NULL ? rq->area : "")));
    KR_TRY(kr_json_set(o, "title", kr_json_text(ctx, rq->title != NULL ? rq->title : "")));
    KR_TRY(kr_json_set(o, "source", kr_json_text(ctx, rq->source != NULL ? rq->source : "")));
    size_t n = 0;
    kf_req_status st = kf_run_result_requirement_status(run, id, &n);
    KR_TRY(kr_json_set(o, "status", json_string(kf_req_status_name(st))));
    KR_TRY(kr_json_set(o, "not_selected", json_integer((json_int_t)rq->not_selected)));
    KR_TRY(kr_json_set(o, "other_shards", json_integer((json_int_t)rq->other_shards)));
    json_t *names;
    KR_TRY(kr_json_child(o, "scenarios", json_array(), &names));
    for (size_t j = 0; j < run->scenarios_len; j++) {
      const kf_scenario_result *sc = &run->scenarios[j];
      if (kf_scenario_result_covers(sc, id))
        KR_TRY(kr_json_push(names, kr_json_text(ctx, sc->name != NULL ? sc->name : "")));
    }
  }
  return KF_OK;
}

/* {"headers": [{"name", "value"}], "body", "body_cut"} under key of parent. */
static kf_rc kr_json_message(kr_json_ctx *ctx, const kf_message *msg, json_t *parent,
                             const char *key) {
  json_t *o;
  KR_TRY(kr_json_child(parent, key, json_object(), &o));
  json_t *headers;
  KR_TRY(kr_json_child(o, "headers", json_array(), &headers));
  for (size_t i = 0; i < msg->headers_len; i++) {
    json_t *h = json_object();
    KR_TRY(kr_json_push(headers, h));
    KR_TRY(kr_json_set(h, "name", kr_json_text(ctx, msg->headers[i].name)));
    KR_TRY(kr_json_set(h, "value", kr_json_text(ctx, msg->headers[i].value)));
  }
  json_t *body = msg->body != NULL ? kr_json_textn(ctx, msg->body, msg->body_len) : json_null();
  KR_TRY(kr_json_set(o, "body", body));
  return kr_json_set(o, "body_cut", json_boolean(msg->body_cut));
}

static kf_rc kr_json_exchange(kr_json_ctx *ctx, const kf_exchange *ex, json_t *arr) {
  json_t *o = json_object();
  KR_TRY(kr_json_push(arr, o));
  KR_TRY(kr_json_set(o, "purpose", kr_json_text(ctx, ex->purpose != NULL ? ex->purpose : "")));
  KR_TRY(kr_json_set(o, "method", kr_json_text(ctx, ex->method != NULL ? ex->method : "")));
  KR_TRY(kr_json_set(o, "url", kr_json_text(ctx, ex->url != NULL ? ex->url : "")));
  KR_TRY(kr_json_message(ctx, &ex->request, o, "request"));
  KR_TRY(kr_json_set(o, "status", json_integer((json_int_t)ex->status)));
  KR_TRY(kr_json_set(o, "status_line", kr_json_text(ctx, ex->status_line)));
  /* Without an answer there is no response to show, only why (error). */
  if (ex->status != 0)
    KR_TRY(kr_json_message(ctx, &ex->response, o, "response"));
  else
    KR_TRY(kr_json_set(o, "response", json_null()));
  KR_TRY(kr_json_set(o, "error", kr_json_text(ctx, ex->error)));
  return kr_json_set(o, "duration_ms", json_integer((json_int_t)ex->duration_ms));
}

static kf_rc kr_json_assert(kr_json_ctx *ctx, const kf_assert_result *a, json_t *arr) {
  json_t *o = json_object();
  KR_TRY(kr_json_push(arr, o));
  KR_TRY(kr_json_outcome(ctx, o, "source", a->source, a->file, a->line, a->status, a->message));
  KR_TRY(kr_json_set(o, "expected", kr_json_text(ctx, a->expected)));
  return kr_json_set(o, "actual", kr_json_text(ctx, a->actual));
}

/*
 * An artifact's bytes exactly: as a string when they are UTF-8 text (no NUL,
 * which many JSON readers refuse), otherwise as standard base64.
 */
static kf_rc kr_json_artifact_data(const kf_artifact *a, json_t *o) {
  const char *data = a->data != NULL ? a->data : "";
  size_t len = a->data != NULL ? a->len : 0;
  if (kf_utf8_valid(data, len) && memchr(data, '\0', len) == NULL) {
    KR_TRY(kr_json_set(o, "encoding", json_string("utf-8")));
    return kr_json_set(o, "data", json_stringn(data, len));
  }
  if (len > KR_REPORT_MAX / 4 * 3)
    return KF_ERR_LIMIT;
  size_t b64_len = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
  char *b64 = kf_malloc(b64_len);
  if (b64 == NULL)
    return KF_ERR_NOMEM;
  sodium_bin2base64(b64, b64_len, (const unsigned char *)data, len, sodium_base64_VARIANT_ORIGINAL);
  kf_rc rc = kr_json_set(o, "encoding", json_string("base64"));
  if (rc == KF_OK)
    rc = kr_json_set(o, "data", json_string(b64));
  kf_free(b64);
  return rc;
}

static kf_rc kr_json_artifact(kr_json_ctx *ctx, const kf_artifact *a, json_t *arr) {
  json_t *o = json_object();
  KR_TRY(kr_json_push(arr, o));
  KR_TRY(kr_json_set(o, "name", kr_json_text(ctx, a->name != NULL ? a->name : "")));
  KR_TRY(
      kr_json_set(o, "media_type", kr_json_text(ctx, a->media_type != NULL ? a->media_type : "")));
  KR_TRY(kr_json_set(o, "size", json_integer((json_int_t)a->len)));
  return kr_json_artifact_data(a, o);
}

/* A step's "exchanges", "asserts" and "artifacts", every one in order. */
static kf_rc kr_json_step_records(kr_json_ctx *ctx, const kf_step_result *st, json_t *so) {
  json_t *arr;
  KR_TRY(kr_json_child(so, "exchanges", json_array(), &arr));
  for (size_t i = 0; i < st->exchanges_len; i++)
    KR_TRY(kr_json_exchange(ctx, &st->exchanges[i], arr));
  KR_TRY(kr_json_child(so, "asserts", json_array(), &arr));
  for (size_t i = 0; i < st->asserts_len; i++)
    KR_TRY(kr_json_assert(ctx, &st->asserts[i], arr));
  KR_TRY(kr_json_child(so, "artifacts", json_array(), &arr));
  for (size_t i = 0; i < st->artifacts_len; i++)
    KR_TRY(kr_json_artifact(ctx, &st->artifacts[i], arr));
  return KF_OK;
}

static kf_rc kr_json_steps(kr_json_ctx *ctx, const kf_scenario_result *sc, json_t *o) {
  json_t *arr;
  KR_TRY(kr_json_child(o, "steps", json_array(), &arr));
  for (size_t i = 0; i < sc->steps_len; i++) {
    const kf_step_result *st = &sc->steps[i];
    json_t *so = json_object();
    KR_TRY(kr_json_push(arr, so));
    KR_TRY(
        kr_json_outcome(ctx, so, "label", st->label, st->file, st->line, st->status, st->message));
    KR_TRY(kr_json_set(so, "fail_line", json_integer((json_int_t)st->fail_line)));
    KR_TRY(kr_json_set(so, "duration_ms", json_integer((json_int_t)st->duration_ms)));
    KR_TRY(kr_json_step_records(ctx, st, so));
  }
  return KF_OK;
}

/* One scenario as the object the "scenarios" array holds; *out is the caller's. */
static kf_rc kr_json_scenario(kr_json_ctx *ctx, const kf_scenario_result *sc, json_t **out) {
  json_t *o = json_object();
  *out = o;
  if (o == NULL)
    return KF_ERR_NOMEM;
  KR_TRY(kr_json_outcome(ctx, o, "name", sc->name, sc->file, sc->line, sc->status, sc->message));
  KR_TRY(kr_json_set(o, "fail_file", kr_json_text(ctx, sc->fail_file)));
  KR_TRY(kr_json_set(o, "fail_line", json_integer((json_int_t)sc->fail_line)));
  KR_TRY(kr_json_set(o, "skip_reason",
                     sc->status == KF_STATUS_SKIP ? json_string(kf_skip_kind_name(sc->skip_kind))
                                                  : json_null()));
  KR_TRY(kr_json_string_list(ctx, o, "covers", sc->covers, sc->covers_len));
  KR_TRY(kr_json_string_list(ctx, o, "tags", sc->tags, sc->tags_len));
  KR_TRY(kr_json_set(o, "duration_ms", json_integer((json_int_t)sc->duration_ms)));
  return kr_json_steps(ctx, sc, o);
}

/* "shard", "suite" and "catalogue": what `konform merge` checks before it combines reports. */
static kf_rc kr_json_identity(const kf_run_result *run, json_t *root) {
  json_t *o;
  KR_TRY(kr_json_child(root, "shard", json_object(), &o));
  KR_TRY(kr_json_set(o, "index", json_integer(run->shard_total > 0 ? run->shard_index : 1)));
  KR_TRY(kr_json_set(o, "total", json_integer(run->shard_total > 0 ? run->shard_total : 1)));
  KR_TRY(kr_json_child(root, "suite", json_object(), &o));
  KR_TRY(kr_json_set(o, "scenarios", json_integer((json_int_t)run->suite_scenarios)));
  KR_TRY(kr_json_set(o, "hash",
                     run->suite_hash[0] != '\0' ? json_string(run->suite_hash) : json_null()));
  KR_TRY(kr_json_child(root, "catalogue", json_object(), &o));
  KR_TRY(kr_json_set(o, "requirements", json_integer((json_int_t)run->requirements_len)));
  return kr_json_set(
      o, "hash", run->catalogue_hash[0] != '\0' ? json_string(run->catalogue_hash) : json_null());
}

static kf_rc kr_json_build(kr_json_ctx *ctx, const kf_run_result *run, json_t *root) {
  char iso[KF_TIME_ISO_MAX];
  KR_TRY(kf_time_format_iso(run->started_at, iso, sizeof iso));
  /* A 64-bit seed does not fit a JSON number exactly everywhere; keep its digits. */
  char seed[32];
  KR_TRY(kf_str_format(seed, sizeof seed, "%" PRIu64, run->seed));
  /* The run id as --run-id takes it: always 16 hex digits. */
  char run_id[32];
  KR_TRY(kf_str_format(run_id, sizeof run_id, "%016" PRIx64, run->run_id));

  KR_TRY(kr_json_set(root, "schema_version", json_integer(KR_JSON_SCHEMA_VERSION)));
  KR_TRY(kr_json_set(root, "konform_version", json_string(KONFORM_VERSION)));
  KR_TRY(kr_json_set(root, "target", kr_json_text(ctx, run->target != NULL ? run->target : "")));
  KR_TRY(kr_json_set(root, "base_url", kr_json_text(ctx, run->base_url)));
  KR_TRY(kr_json_set(root, "seed", json_string(seed)));
  KR_TRY(kr_json_set(root, "run_id", json_string(run_id)));
  KR_TRY(kr_json_set(root, "started_at", json_string(iso)));
  KR_TRY(kr_json_identity(run, root));
  KR_TRY(kr_json_summary(run, root));
  KR_TRY(kr_json_requirements(ctx, run, root));
  /* Last, and empty: the close puts the streamed scenarios into it. */
  return kr_json_set(root, "scenarios", json_array());
}

/* Where json_dump_callback writes, and whether any write was lost. */
typedef struct kr_json_sink {
  kf_buf *text;
  bool failed;
} kr_json_sink;

/*
 * json_dump_callback sink: append to a capped kf_buf. Jansson 2.14 ignores
 * the result of writing an object key, so one failed append could silently
 * drop a key while later, smaller appends succeed; the failure is therefore
 * sticky and checked again after the dump.
 */
static int kr_json_dump_sink(const char *data, size_t len, void *ctx) {
  kr_json_sink *sink = ctx;
  if (!sink->failed && kf_buf_append(sink->text, data, len) != KF_OK)
    sink->failed = true;
  return sink->failed ? -1 : 0;
}

/* Dump value with JSON_INDENT(2) into text (capped); KF_ERR_LIMIT once text passes its cap. */
static kf_rc kr_json_dump(const json_t *value, kf_buf *text) {
  kr_json_sink sink = {.text = text, .failed = false};
  if (json_dump_callback(value, kr_json_dump_sink, &sink, JSON_INDENT(2)) != 0 || sink.failed)
    return text->len + 1 >= text->max ? KF_ERR_LIMIT : KF_ERR_NOMEM;
  return KF_OK;
}

/*
 * The bytes of one scenario inside the document: at depth 2 (root, then the
 * "scenarios" array), so every line after the first is indented by four more
 * blanks, and after a comma and a new line unless it is the first. A dumped
 * JSON text has line breaks only between tokens (a string's are "\n"), so
 * indenting after each one is exact.
 */
static kf_rc kr_json_stream_scenario(kf_buf *out, const kf_scenario_result *sc, size_t index) {
  kr_json_ctx ctx;
  kf_buf_init(&ctx.scratch, KR_TEXT_OUT_MAX);
  kf_buf text;
  kf_buf_init(&text, KR_REPORT_MAX);
  json_t *o = NULL;
  kf_rc rc = kr_json_scenario(&ctx, sc, &o);
  if (rc == KF_OK)
    rc = kr_json_dump(o, &text);
  json_decref(o);
  kf_buf_release(&ctx.scratch);
  if (rc == KF_OK)
    rc = kf_buf_append_str(out, index > 0 ? ",\n    " : "    ");
  for (size_t at = 0; rc == KF_OK && at < text.len;) {
    const char *nl = memchr(text.data + at, '\n', text.len - at);
    size_t n = nl != NULL ? (size_t)(nl - (text.data + at)) + 1 : text.len - at;
    rc = kf_buf_append(out, text.data + at, n);
    if (rc == KF_OK && nl != NULL)
      rc = kf_buf_append_str(out, "    ");
    at += n;
  }
  kf_buf_release(&text);
  return rc;
}

/* The suffix of the dumped document without scenarios: its empty array and the closing brace. */
#define KR_JSON_EMPTY_TAIL "[]\n}"

/* The document around the streamed scenarios (see the top of this file). */
static kf_rc kr_json_finish(kr_stream *s, const kf_run_result *run, kr_atomic *f, kf_err *err) {
  kr_json_ctx ctx;
  kf_buf_init(&ctx.scratch, KR_TEXT_OUT_MAX);
  kf_buf text;
  kf_buf_init(&text, KR_REPORT_MAX);
  json_t *root = json_object();
  kf_rc rc = root != NULL ? kr_json_build(&ctx, run, root) : KF_ERR_NOMEM;
  if (rc != KF_OK)
    rc = kf_err_set(err, rc, "cannot build the JSON report: %s", kf_rc_name(rc));
  else if ((rc = kr_json_dump(root, &text)) != KF_OK)
    rc = kf_err_set(err, rc, "cannot serialise the JSON report (%zu bytes so far)", text.len);
  json_decref(root);
  kf_buf_release(&ctx.scratch);
  const size_t tail = sizeof KR_JSON_EMPTY_TAIL - 1;
  if (rc == KF_OK && kr_stream_count(s) == 0) {
    rc = kr_atomic_write(f, text.data, text.len, err);
  } else if (rc == KF_OK) {
    assert(text.len >= tail && memcmp(text.data + text.len - tail, KR_JSON_EMPTY_TAIL, tail) == 0);
    rc = kr_atomic_write(f, text.data, text.len - tail, err);
    if (rc == KF_OK)
      rc = kr_atomic_write(f, "[\n", 2, err);
    if (rc == KF_OK)
      rc = kr_stream_copy(s, f, err);
    if (rc == KF_OK)
      rc = kr_atomic_write(f, "\n  ]\n}", 6, err);
  }
  if (rc == KF_OK)
    rc = kr_atomic_write(f, "\n", 1, err);
  kf_buf_release(&text);
  return rc;
}

const kr_stream_ops kr_json_stream = {
    .format = kr_json_write, .scenario = kr_json_stream_scenario, .finish = kr_json_finish};

kf_rc kr_json_write(const kf_run_result *run, const char *path, kf_err *err) {
  return kr_stream_write_run(kr_json_write, run, path, err);
}
