/* run_result.c: the plain result of a run (see kf/run_result.h). */
#include "kf/run_result.h"

#include <assert.h>
#include <string.h>

#include "kf/alloc.h"

const char *kf_status_name(kf_status s) {
  switch (s) {
  case KF_STATUS_PASS:
    return "pass";
  case KF_STATUS_FAIL:
    return "fail";
  case KF_STATUS_ERROR:
    return "error";
  case KF_STATUS_SKIP:
    return "skip";
  }
  return "unknown";
}

const char *kf_req_status_name(kf_req_status s) {
  switch (s) {
  case KF_REQ_PASS:
    return "pass";
  case KF_REQ_FAIL:
    return "fail";
  case KF_REQ_NOT_CHECKED:
    return "not-checked";
  }
  return "unknown";
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

void kf_step_result_release(kf_step_result *step) {
  kf_free(step->label);
  kf_free(step->file);
  kf_free(step->message);
  kf_free(step->request);
  kf_free(step->response);
  memset(step, 0, sizeof *step);
}

static void strv_free(char **v, size_t n) {
  for (size_t i = 0; i < n; i++)
    kf_free(v[i]);
  kf_free(v);
}

void kf_scenario_result_release(kf_scenario_result *sc) {
  kf_free(sc->name);
  kf_free(sc->file);
  strv_free(sc->covers, sc->covers_len);
  strv_free(sc->tags, sc->tags_len);
  kf_free(sc->message);
  kf_free(sc->fail_file);
  for (size_t i = 0; i < sc->steps_len; i++)
    kf_step_result_release(&sc->steps[i]);
  kf_free(sc->steps);
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
  if (len < *cap)
    return KF_OK;
  size_t ncap = *cap == 0 ? 16 : *cap * 2;
  void *n = kf_realloc(*items, ncap * elem);
  if (n == NULL)
    return KF_ERR_NOMEM;
  *items = n;
  *cap = ncap;
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
