/* run_result.c: the plain result of a run (see kf/run_result.h). */
#include "kf/run_result.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "kf/alloc.h"

const char *kf_status_name(kf_status s) {
  static const char *const names[] = {
#define KF_STATUS_NAME(name, text) [KF_STATUS_##name] = text,
      KF_STATUSES(KF_STATUS_NAME)
#undef KF_STATUS_NAME
  };
  return (size_t)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}

const char *kf_skip_kind_name(kf_skip_kind k) {
  static const char *const names[] = {
#define KF_SKIP_NAME(name, text) [KF_SKIP_##name] = text,
      KF_SKIP_KINDS(KF_SKIP_NAME)
#undef KF_SKIP_NAME
  };
  return (size_t)k < sizeof names / sizeof names[0] ? names[k] : "unknown";
}

const char *kf_req_status_name(kf_req_status s) {
  static const char *const names[] = {
#define KF_REQ_STATUS_NAME(name, text) [KF_REQ_##name] = text,
      KF_REQ_STATUSES(KF_REQ_STATUS_NAME)
#undef KF_REQ_STATUS_NAME
  };
  return (size_t)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}

void kf_run_result_init(kf_run_result *run) {
  memset(run, 0, sizeof *run);
}

static void requirement_release(kf_requirement *r) {
  kf_free(r->id);
  kf_free(r->area);
  kf_free(r->title);
  kf_free(r->source);
}

void kf_message_release(kf_message *msg) {
  for (size_t i = 0; i < msg->headers_len; i++) {
    kf_free(msg->headers[i].name);
    kf_free(msg->headers[i].value);
  }
  kf_free(msg->headers);
  kf_free(msg->body);
  memset(msg, 0, sizeof *msg);
}

void kf_exchange_release(kf_exchange *ex) {
  kf_free(ex->purpose);
  kf_free(ex->method);
  kf_free(ex->url);
  kf_message_release(&ex->request);
  kf_free(ex->status_line);
  kf_message_release(&ex->response);
  kf_free(ex->error);
  memset(ex, 0, sizeof *ex);
}

void kf_assert_result_release(kf_assert_result *a) {
  kf_free(a->source);
  kf_free(a->file);
  kf_free(a->expected);
  kf_free(a->actual);
  kf_free(a->message);
  memset(a, 0, sizeof *a);
}

void kf_artifact_release(kf_artifact *a) {
  kf_free(a->name);
  kf_free(a->media_type);
  kf_free(a->data);
  memset(a, 0, sizeof *a);
}

void kf_step_result_drop_details(kf_step_result *step) {
  for (size_t i = 0; i < step->exchanges_len; i++)
    kf_exchange_release(&step->exchanges[i]);
  kf_free(step->exchanges);
  for (size_t i = 0; i < step->asserts_len; i++)
    kf_assert_result_release(&step->asserts[i]);
  kf_free(step->asserts);
  for (size_t i = 0; i < step->artifacts_len; i++)
    kf_artifact_release(&step->artifacts[i]);
  kf_free(step->artifacts);
  step->exchanges = NULL;
  step->asserts = NULL;
  step->artifacts = NULL;
  step->exchanges_len = step->exchanges_cap = 0;
  step->asserts_len = step->asserts_cap = 0;
  step->artifacts_len = step->artifacts_cap = 0;
}

void kf_step_result_release(kf_step_result *step) {
  kf_free(step->label);
  kf_free(step->file);
  kf_free(step->message);
  kf_step_result_drop_details(step);
  memset(step, 0, sizeof *step);
}

static void strv_free(char **v, size_t n) {
  for (size_t i = 0; i < n; i++)
    kf_free(v[i]);
  kf_free(v);
}

void kf_scenario_result_drop_steps(kf_scenario_result *sc) {
  for (size_t i = 0; i < sc->steps_len; i++)
    kf_step_result_release(&sc->steps[i]);
  kf_free(sc->steps);
  sc->steps = NULL;
  sc->steps_len = sc->steps_cap = 0;
}

void kf_scenario_result_release(kf_scenario_result *sc) {
  kf_free(sc->name);
  kf_free(sc->file);
  strv_free(sc->covers, sc->covers_len);
  strv_free(sc->tags, sc->tags_len);
  kf_free(sc->message);
  kf_free(sc->fail_file);
  kf_scenario_result_drop_steps(sc);
  memset(sc, 0, sizeof *sc);
}

void kf_run_result_release(kf_run_result *run) {
  kf_free(run->target);
  kf_free(run->base_url);
  for (size_t i = 0; i < run->requirements_len; i++)
    requirement_release(&run->requirements[i]);
  kf_free(run->requirements);
  for (size_t i = 0; i < run->scenarios_len; i++)
    kf_scenario_result_release(&run->scenarios[i]);
  kf_free(run->scenarios);
  memset(run, 0, sizeof *run);
}

/* Grow a typed array to hold one more element. */
static kf_rc grow(void **items, size_t *cap, size_t len, size_t elem) {
  kf_rc rc = KF_OK;
  void *n = kf_array_grow(*items, cap, len, elem, 16, SIZE_MAX / elem, &rc);
  if (n != NULL)
    *items = n;
  return rc;
}

/* grow, then hand out the new last slot zeroed. */
static kf_rc push(void **items, size_t *cap, size_t *len, size_t elem, void **slot) {
  kf_rc rc = grow(items, cap, *len, elem);
  if (rc != KF_OK)
    return rc;
  *slot = (char *)*items + *len * elem;
  memset(*slot, 0, elem);
  (*len)++;
  return KF_OK;
}

kf_rc kf_message_add_header(kf_message *msg, const char *name, const char *value) {
  char *n = kf_strdup(name != NULL ? name : "");
  char *v = kf_strdup(value != NULL ? value : "");
  kf_header *h = NULL;
  kf_rc rc = n != NULL && v != NULL ? push((void **)&msg->headers, &msg->headers_cap,
                                           &msg->headers_len, sizeof *h, (void **)&h)
                                    : KF_ERR_NOMEM;
  if (rc != KF_OK) {
    kf_free(n);
    kf_free(v);
    return rc;
  }
  h->name = n;
  h->value = v;
  return KF_OK;
}

kf_rc kf_message_set_body(kf_message *msg, const void *data, size_t len) {
  bool cut = len > KF_MESSAGE_BODY_MAX;
  size_t keep = cut ? KF_MESSAGE_BODY_MAX : len;
  char *copy = kf_memdup0(data != NULL ? data : "", data != NULL ? keep : 0);
  if (copy == NULL)
    return KF_ERR_NOMEM;
  kf_free(msg->body);
  msg->body = copy;
  msg->body_len = data != NULL ? keep : 0;
  msg->body_cut = cut;
  return KF_OK;
}

kf_rc kf_step_result_add_exchange(kf_step_result *step, kf_exchange **out) {
  return push((void **)&step->exchanges, &step->exchanges_cap, &step->exchanges_len, sizeof **out,
              (void **)out);
}

kf_rc kf_step_result_add_assert(kf_step_result *step, kf_assert_result **out) {
  return push((void **)&step->asserts, &step->asserts_cap, &step->asserts_len, sizeof **out,
              (void **)out);
}

kf_rc kf_step_result_add_artifact(kf_step_result *step, const char *name, const char *media_type,
                                  const void *data, size_t len) {
  kf_artifact a = {.name = kf_strdup(name != NULL ? name : ""),
                   .media_type = kf_strdup(media_type != NULL ? media_type : ""),
                   .data = kf_memdup0(data != NULL ? data : "", data != NULL ? len : 0),
                   .len = data != NULL ? len : 0};
  kf_artifact *slot = NULL;
  kf_rc rc = a.name != NULL && a.media_type != NULL && a.data != NULL
                 ? push((void **)&step->artifacts, &step->artifacts_cap, &step->artifacts_len,
                        sizeof *slot, (void **)&slot)
                 : KF_ERR_NOMEM;
  if (rc != KF_OK) {
    kf_artifact_release(&a);
    return rc;
  }
  *slot = a;
  return KF_OK;
}

static char *dup_or_null(const char *s) {
  return s == NULL ? NULL : kf_strdup(s);
}

kf_rc kf_run_result_add_requirement(kf_run_result *run, const char *id, const char *area,
                                    const char *title, const char *source) {
  kf_rc rc = grow((void **)&run->requirements, &run->requirements_cap, run->requirements_len,
                  sizeof *run->requirements);
  if (rc != KF_OK)
    return rc;
  kf_requirement r = {.id = kf_strdup(id),
                      .area = dup_or_null(area),
                      .title = dup_or_null(title),
                      .source = dup_or_null(source),
                      .not_selected = 0};
  if (r.id == NULL || (area && !r.area) || (title && !r.title) || (source && !r.source)) {
    requirement_release(&r);
    return KF_ERR_NOMEM;
  }
  run->requirements[run->requirements_len++] = r;
  return KF_OK;
}

static kf_rc strv_copy(const char *const *src, size_t n, char ***out) {
  *out = NULL;
  if (n == 0)
    return KF_OK;
  char **v = kf_calloc(n, sizeof *v);
  if (v == NULL)
    return KF_ERR_NOMEM;
  for (size_t i = 0; i < n; i++) {
    v[i] = kf_strdup(src[i]);
    if (v[i] == NULL) {
      strv_free(v, i);
      return KF_ERR_NOMEM;
    }
  }
  *out = v;
  return KF_OK;
}

kf_rc kf_run_result_add_scenario(kf_run_result *run, const char *name, const char *file,
                                 unsigned line, const char *const *covers, size_t covers_len,
                                 const char *const *tags, size_t tags_len,
                                 kf_scenario_result **out) {
  kf_rc rc = grow((void **)&run->scenarios, &run->scenarios_cap, run->scenarios_len,
                  sizeof *run->scenarios);
  if (rc != KF_OK)
    return rc;
  kf_scenario_result sc;
  memset(&sc, 0, sizeof sc);
  sc.name = kf_strdup(name);
  sc.file = dup_or_null(file);
  sc.line = line;
  if (sc.name == NULL || (file && !sc.file) || strv_copy(covers, covers_len, &sc.covers) != KF_OK) {
    kf_scenario_result_release(&sc);
    return KF_ERR_NOMEM;
  }
  sc.covers_len = covers_len;
  if (strv_copy(tags, tags_len, &sc.tags) != KF_OK) {
    kf_scenario_result_release(&sc);
    return KF_ERR_NOMEM;
  }
  sc.tags_len = tags_len;
  sc.status = KF_STATUS_SKIP;
  run->scenarios[run->scenarios_len] = sc;
  *out = &run->scenarios[run->scenarios_len++];
  return KF_OK;
}

kf_rc kf_scenario_result_add_step(kf_scenario_result *sc, kf_step_result **out) {
  kf_rc rc = grow((void **)&sc->steps, &sc->steps_cap, sc->steps_len, sizeof *sc->steps);
  if (rc != KF_OK)
    return rc;
  memset(&sc->steps[sc->steps_len], 0, sizeof *sc->steps);
  *out = &sc->steps[sc->steps_len++];
  return KF_OK;
}

void kf_run_result_counts(const kf_run_result *run, kf_run_counts *out) {
  memset(out, 0, sizeof *out);
  for (size_t i = 0; i < run->scenarios_len; i++) {
    out->total++;
    switch (run->scenarios[i].status) {
    case KF_STATUS_PASS:
      out->passed++;
      break;
    case KF_STATUS_FAIL:
      out->failed++;
      break;
    case KF_STATUS_ERROR:
      out->errors++;
      break;
    case KF_STATUS_SKIP:
      out->skipped++;
      break;
    }
  }
}

bool kf_scenario_result_covers(const kf_scenario_result *sc, const char *id) {
  for (size_t i = 0; i < sc->covers_len; i++)
    if (strcmp(sc->covers[i], id) == 0)
      return true;
  return false;
}

kf_req_status kf_run_result_requirement_status(const kf_run_result *run, const char *id,
                                               size_t *n_scenarios) {
  size_t covering = 0, ran = 0, passed = 0;
  bool failed = false;
  for (size_t i = 0; i < run->scenarios_len; i++) {
    const kf_scenario_result *sc = &run->scenarios[i];
    if (!kf_scenario_result_covers(sc, id))
      continue;
    covering++;
    switch (sc->status) {
    case KF_STATUS_PASS:
      ran++;
      passed++;
      break;
    case KF_STATUS_FAIL:
    case KF_STATUS_ERROR:
      ran++;
      failed = true;
      break;
    case KF_STATUS_SKIP:
      break;
    }
  }
  if (n_scenarios != NULL)
    *n_scenarios = covering;
  if (failed)
    return KF_REQ_FAIL;
  /* Scenarios the selection left out might fail: a partly run requirement is not a pass. */
  for (size_t i = 0; i < run->requirements_len; i++)
    if (run->requirements[i].id != NULL && strcmp(run->requirements[i].id, id) == 0 &&
        run->requirements[i].not_selected > 0)
      return KF_REQ_NOT_CHECKED;
  /* A requirement with a skipped scenario was not wholly checked: never a pass. */
  if (ran > 0 && passed == covering)
    return KF_REQ_PASS;
  return KF_REQ_NOT_CHECKED;
}
