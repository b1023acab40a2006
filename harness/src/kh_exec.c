/*
 * kh_exec.c: carrying out one scenario (see kh_exec.h).
 *
 * A scenario is a list of steps; each step becomes one kf_step_result and its
 * checks run in the order written. The first failed expectation fails the
 * scenario and stops it, because later steps usually depend on what the failed
 * one should have produced. Anything that keeps the harness from carrying a
 * step out (an unknown variable, an unreachable target) is an error, which is
 * kept apart from a failure so nobody blames the target for a broken scenario.
 * What each kind of step does is its row's business (kh_step.h); this file
 * only walks the steps and runs the checks.
 */
#include "kh_exec.h"

#include <assert.h>
#include <jansson.h>
#include <stdarg.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/log.h"
#include "kf/str.h"
#include "kf/timeutil.h"
#include "kh_clockdrv.h"
#include "kh_pred.h"
#include "kh_query.h"
#include "kh_step.h"
#include "kh_suite.h"
#include "kh_text.h"

/* ---- What a scenario needs from the target. ---- */

/* Whether the profile can give what a need asks for. */
static bool kh_exec_can(const kh_profile *p, unsigned index) {
  switch (index) {
  case KH_NEED_INDEX_CLOCK:
    return p->clock != NULL && strcmp(p->clock, "konform") == 0;
  case KH_NEED_INDEX_MAIL_API:
    return p->mail_api != NULL;
  case KH_NEED_INDEX_POST_API:
    return p->post_api != NULL;
  case KH_NEED_INDEX_TIMING:
    return true;
  default:
    return false;
  }
}

static const struct {
  kf_skip_kind kind;
  const char *why;
} KH_NEED_WHY[] = {
#define KH_NEED_WHY_ROW(name, kind, why) {kind, why},
    KH_NEEDS(KH_NEED_WHY_ROW)
#undef KH_NEED_WHY_ROW
};

/* The needs of steps and of the fragments they run; *too_deep past KH_SUITE_MAX_DEPTH. */
static unsigned kh_exec_needs(const kh_step *steps, size_t n, int depth, bool *too_deep) {
  if (depth > KH_SUITE_MAX_DEPTH) {
    *too_deep = true;
    return 0;
  }
  unsigned needs = 0;
  for (size_t i = 0; i < n; i++) {
    const kh_step *st = &steps[i];
    if (st->def->needs != NULL)
      needs |= st->def->needs(st);
    const kh_fragment *fr = kh_step_fragment(st);
    if (fr != NULL)
      needs |= kh_exec_needs(fr->steps, fr->steps_len, depth + 1, too_deep);
  }
  return needs;
}

bool kh_exec_has_clock(const kh_exec *ex) {
  return kh_exec_can(ex->cfg->profile, KH_NEED_INDEX_CLOCK);
}

/* ---- Recording. ---- */

/*
 * Record a non-pass outcome on step idx and, if it is the scenario's first,
 * on the scenario. fail_line is the line of the failing check (0: the step).
 */
kf_status kh_exec_outcome(kh_exec *ex, size_t idx, kf_status status, unsigned fail_line,
                          const char *fmt, ...) {
  assert(status != KF_STATUS_PASS);
  kf_buf msg;
  kf_buf_init(&msg, KH_EXEC_MAX_TEXT);
  va_list ap;
  va_start(ap, fmt);
  kf_rc rc = kf_buf_vappendf(&msg, fmt, ap);
  va_end(ap);
  /* A message over the cap is still worth showing cut; an empty one is not. */
  char *text = rc == KF_OK ? kf_buf_detach(&msg, NULL) : kf_strdup("(message too long)");
  kf_buf_release(&msg);
  assert(idx < ex->res->steps_len);
  kf_step_result *st = &ex->res->steps[idx];
  st->status = status;
  st->fail_line = fail_line;
  kf_free(st->message);
  st->message = text;
  if (ex->res->status == KF_STATUS_PASS) {
    ex->res->status = status;
    ex->res->skip_kind = status == KF_STATUS_SKIP ? KF_SKIP_OTHER : KF_SKIP_NONE;
    kf_free(ex->res->message);
    ex->res->message = text != NULL ? kf_strdup(text) : NULL;
    kf_free(ex->res->fail_file);
    ex->res->fail_file = st->file != NULL ? kf_strdup(st->file) : NULL;
    ex->res->fail_line = fail_line != 0 ? fail_line : st->line;
  }
  return status;
}

/* Add a step result for st; *idx is its index. */
static kf_rc kh_exec_add_step(kh_exec *ex, const kh_step *st, size_t *idx) {
  kf_step_result *sr = NULL;
  kf_rc rc = kf_scenario_result_add_step(ex->res, &sr);
  if (rc != KF_OK)
    return rc;
  *idx = ex->res->steps_len - 1;
  sr->status = KF_STATUS_PASS;
  sr->label = kf_strdup(st->source != NULL ? st->source : "");
  sr->file = kf_strdup(st->pos.file != NULL ? st->pos.file : "");
  sr->line = st->pos.line;
  if (sr->label == NULL || sr->file == NULL)
    return KF_ERR_NOMEM;
  return KF_OK;
}

/*
 * Make reply an exchange of step result st, put at position at of its
 * exchanges (the later ones move up).
 */
static void kh_exec_record_reply(kf_step_result *st, const kh_http_reply *reply, size_t at) {
  kf_exchange x;
  memset(&x, 0, sizeof x);
  kf_exchange *slot = NULL;
  if (kh_http_reply_record(reply, &x) != KF_OK)
    return; /* The report then lacks this exchange; the verdict does not depend on it. */
  if (kf_step_result_add_exchange(st, &slot) != KF_OK) {
    kf_exchange_release(&x);
    return;
  }
  size_t last = st->exchanges_len - 1;
  if (at < last)
    memmove(&st->exchanges[at + 1], &st->exchanges[at], (last - at) * sizeof x);
  st->exchanges[at < last ? at : last] = x;
}

/* Keep reply as an exchange of the current step, to be made if the step does not pass. */
static void kh_exec_defer_exchange(kh_exec *ex, kh_http_reply *reply) {
  kf_rc rc = KF_OK;
  kh_exec_pending *p = kf_array_grow(ex->pending, &ex->pending_cap, ex->pending_len, sizeof *p, 4,
                                     KH_EXEC_MAX_PENDING, &rc);
  if (p == NULL)
    return; /* Lost like an exchange that found no memory. */
  ex->pending = p;
  p[ex->pending_len++] = (kh_exec_pending){.reply = kh_http_reply_ref(reply),
                                           .step = ex->step,
                                           .at = ex->res->steps[ex->step].exchanges_len};
}

/*
 * End the pending exchanges of step result idx: made and put in their places
 * when keep, else dropped. Those of other steps (an enclosing `use`) stay.
 */
static void kh_exec_settle(kh_exec *ex, size_t idx, bool keep) {
  size_t kept = 0, left = 0;
  for (size_t i = 0; i < ex->pending_len; i++) {
    kh_exec_pending p = ex->pending[i];
    if (p.step != idx) {
      ex->pending[left++] = p;
      continue;
    }
    /* Those kept before this one are in the array now, ahead of it. */
    if (keep)
      kh_exec_record_reply(&ex->res->steps[idx], p.reply, p.at + kept++);
    kh_http_reply_unref(p.reply);
  }
  ex->pending_len = left;
}

void kh_exec_keep_exchange(kh_exec *ex, kh_http_response *resp) {
  if (resp->reply != NULL) {
    if (ex->cfg->lean)
      kh_exec_defer_exchange(ex, resp->reply);
    else
      kh_exec_record_reply(&ex->res->steps[ex->step], resp->reply,
                           ex->res->steps[ex->step].exchanges_len);
    return;
  }
  if (resp->exchange.method == NULL)
    return; /* Nothing was sent. */
  kf_exchange *slot = NULL;
  if (kf_step_result_add_exchange(&ex->res->steps[ex->step], &slot) != KF_OK)
    return; /* The report then lacks this exchange; the verdict does not depend on it. */
  *slot = resp->exchange;
  memset(&resp->exchange, 0, sizeof resp->exchange);
}

void kh_exec_keep_artifact(kh_exec *ex, const char *name, const char *media_type, const void *data,
                           size_t len) {
  /* Like an exchange, an artifact is for people; running out of memory only loses it. */
  (void)kf_step_result_add_artifact(&ex->res->steps[ex->step], name, media_type, data, len);
}

kf_rc kh_exec_expand(kh_exec *ex, const kh_template *tpl, size_t cap, char **out, size_t *len,
                     kf_err *err) {
  kf_buf b;
  kf_buf_init(&b, cap);
  kf_rc rc = KF_OK;
  if (tpl->text != NULL)
    rc = kh_vars_expand(&ex->vars, tpl, &b, err);
  if (rc == KF_ERR_LIMIT)
    (void)kf_err_set(err, rc, "the expanded text is longer than %zu bytes", cap);
  if (rc == KF_OK) {
    *out = kf_buf_detach(&b, len);
    if (*out == NULL)
      rc = kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  }
  kf_buf_release(&b);
  return rc;
}

kf_rc kh_exec_expand_opt(kh_exec *ex, const kh_template *tpl, char **out, kf_err *err) {
  *out = NULL;
  if (tpl->text == NULL)
    return KF_OK;
  size_t len = 0;
  kf_rc rc = kh_exec_expand(ex, tpl, KH_EXEC_MAX_TEXT, out, &len, err);
  if (rc == KF_OK && strlen(*out) != len) {
    kf_free(*out);
    *out = NULL;
    return kf_err_set(err, KF_ERR_INVALID, "a wait filter cannot hold a NUL byte");
  }
  return rc;
}

/* ---- Checks. ---- */

/* Keep the outcome of an expect on the current step, passed or not. */
static void kh_exec_record_assert(kh_exec *ex, const kh_check *c, kf_status status,
                                  const char *actual, const char *message) {
  kf_assert_result *a = NULL;
  if (kf_step_result_add_assert(&ex->res->steps[ex->step], &a) != KF_OK)
    return;
  a->status = status;
  a->line = c->pos.line;
  a->source = kf_strdup(c->source != NULL ? c->source : "");
  a->file = kf_strdup(c->pos.file != NULL ? c->pos.file : "");
  a->actual = actual != NULL ? kf_strdup(actual) : NULL;
  a->message = message != NULL ? kf_strdup(message) : NULL;
  kf_buf expected;
  kf_buf_init(&expected, KH_EXEC_MAX_TEXT);
  kf_err err;
  kf_err_init(&err);
  if (kh_pred_operand_text(&c->pred, &ex->vars, &expected, &err) == KF_OK && expected.len > 0)
    a->expected = kf_buf_detach(&expected, NULL);
  kf_buf_release(&expected);
}

/* A capture: the query's value as text into the variable. */
static kf_status kh_exec_capture(kh_exec *ex, size_t idx, const kh_check *c, json_t *value) {
  const char *src = c->source != NULL ? c->source : "";
  if (value == NULL)
    return kh_exec_outcome(ex, idx, KF_STATUS_FAIL, c->pos.line,
                           "%s: the query has no value to capture", src);
  kf_buf text;
  kf_buf_init(&text, KH_VAR_MAX_BYTES);
  kf_rc rc = kh_text_of_value(value, &text);
  if (rc == KF_OK)
    rc = kh_vars_set(&ex->vars, c->capture_name, text.data != NULL ? text.data : "", text.len);
  kf_buf_release(&text);
  if (rc != KF_OK)
    return kh_exec_outcome(ex, idx, KF_STATUS_ERROR, c->pos.line, "%s: cannot store the value (%s)",
                           src, kf_rc_name(rc));
  return KF_STATUS_PASS;
}

/* An expect: decide the predicate, record the outcome. */
static kf_status kh_exec_expect(kh_exec *ex, size_t idx, const kh_check *c, const json_t *value) {
  const char *src = c->source != NULL ? c->source : "";
  ex->expects++;
  bool holds = false;
  kf_buf explain;
  kf_buf_init(&explain, KH_EXEC_MAX_TEXT);
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = kh_pred_eval(&c->pred, value, &ex->vars, &holds, &explain, &err);
  kf_status st = KF_STATUS_PASS;
  /* The source normally starts with "expect"; say so when it does not. */
  const char *prefix = kf_str_starts_with(src, "expect") ? "" : "expect ";
  const char *got = explain.data != NULL ? explain.data : "does not hold";
  if (rc != KF_OK)
    st = kh_exec_outcome(ex, idx, KF_STATUS_ERROR, c->pos.line, "%s%s: %s", prefix, src,
                         err.message);
  else if (!holds)
    st = kh_exec_outcome(ex, idx, KF_STATUS_FAIL, c->pos.line, "%s%s: %s", prefix, src, got);
  /* What a lean run shows of a step is the expects that did not hold (kr_step_pieces). */
  if (st != KF_STATUS_PASS || !ex->cfg->lean)
    kh_exec_record_assert(ex, c, st, rc == KF_OK ? explain.data : NULL,
                          st == KF_STATUS_PASS ? NULL : ex->res->steps[idx].message);
  kf_buf_release(&explain);
  return st;
}

static kf_status kh_exec_checks(kh_exec *ex, size_t idx, const kh_check *checks, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const kh_check *c = &checks[i];
    kf_err err;
    kf_err_init(&err);
    json_t *value = NULL;
    kf_rc rc = kh_query_eval(&c->query, &ex->subjects, &ex->vars, &value, &err);
    kf_status st;
    if (rc != KF_OK) {
      st = kh_exec_outcome(ex, idx, KF_STATUS_ERROR, c->pos.line, "%s: %s",
                           c->source != NULL ? c->source : "", err.message);
      if (!c->is_capture) {
        ex->expects++;
        kh_exec_record_assert(ex, c, st, NULL, ex->res->steps[idx].message);
      }
    } else {
      st = c->is_capture ? kh_exec_capture(ex, idx, c, value) : kh_exec_expect(ex, idx, c, value);
    }
    json_decref(value);
    if (st != KF_STATUS_PASS)
      return st;
  }
  return KF_STATUS_PASS;
}

/* ---- Steps. ---- */

/* Run one step (and its checks) into a new step result. */
static kf_status kh_exec_step(kh_exec *ex, const kh_step *st, int depth) {
  size_t idx = 0;
  if (kh_exec_add_step(ex, st, &idx) != KF_OK) {
    if (ex->res->steps_len == 0) {
      ex->res->status = KF_STATUS_ERROR;
      return KF_STATUS_ERROR;
    }
    return kh_exec_outcome(ex, ex->res->steps_len - 1, KF_STATUS_ERROR, 0, "out of memory");
  }
  int64_t start = kf_time_monotonic_ms();
  ex->step = idx;
  kf_status result = st->def->exec != NULL ? st->def->exec(ex, idx, st, depth) : KF_STATUS_PASS;
  /* A fragment's steps moved the current step on; the checks belong to this one. */
  ex->step = idx;
  if (result == KF_STATUS_PASS)
    result = kh_exec_checks(ex, idx, st->checks, st->checks_len);
  ex->res->steps[idx].duration_ms = kf_time_monotonic_ms() - start;
  /* In a lean run only a step that did not pass keeps what it sent, got and kept. */
  if (ex->pending_len > 0)
    kh_exec_settle(ex, idx, result != KF_STATUS_PASS);
  if (ex->cfg->lean && result == KF_STATUS_PASS)
    kf_step_result_drop_details(&ex->res->steps[idx]);
  return result;
}

kf_status kh_exec_steps(kh_exec *ex, const kh_step *steps, size_t n, int depth) {
  for (size_t i = 0; i < n; i++) {
    kf_status st = kh_exec_step(ex, &steps[i], depth);
    if (st != KF_STATUS_PASS)
      return st;
  }
  return KF_STATUS_PASS;
}

/* Set the built-in variables: target.<key>, run.seed, run.id, scenario.name. */
static kf_rc kh_exec_builtins(kh_exec *ex) {
  const kh_profile *p = ex->cfg->profile;
  kf_rc rc = KF_OK;
  for (size_t i = 0; rc == KF_OK && i < p->len; i++) {
    char *name = kf_str_printf("target.%s", p->entries[i].key);
    if (name == NULL)
      return KF_ERR_NOMEM;
    rc = kh_vars_set(&ex->vars, name, p->entries[i].value, strlen(p->entries[i].value));
    kf_free(name);
  }
  if (rc == KF_OK && p->base_url != NULL)
    rc = kh_vars_set(&ex->vars, "target.base_url", p->base_url, strlen(p->base_url));
  /* Without a trailing '/', so "{{target.public_url}}/link/..." is the link as mailed. */
  size_t public_len = p->public_url != NULL ? strlen(p->public_url) : 0;
  while (public_len > 0 && p->public_url[public_len - 1] == '/')
    public_len--;
  if (rc == KF_OK && p->public_url != NULL)
    rc = kh_vars_set(&ex->vars, "target.public_url", p->public_url, public_len);
  char num[32];
  if (rc == KF_OK)
    rc = kf_str_format(num, sizeof(num), "%llu", (unsigned long long)ex->cfg->seed);
  if (rc == KF_OK)
    rc = kh_vars_set(&ex->vars, "run.seed", num, strlen(num));
  if (rc == KF_OK)
    rc = kf_str_format(num, sizeof(num), "%016llx", (unsigned long long)ex->cfg->run_id);
  if (rc == KF_OK)
    rc = kh_vars_set(&ex->vars, "run.id", num, strlen(num));
  if (rc == KF_OK)
    rc = kh_vars_set(&ex->vars, "scenario.name", ex->scenario->name, strlen(ex->scenario->name));
  return rc;
}

void kh_exec_skip_as(kh_exec *ex, kf_skip_kind kind) {
  if (ex->res->status == KF_STATUS_SKIP)
    ex->res->skip_kind = kind;
}

/* Set a skip outcome on the scenario itself (no step ran). */
static void kh_exec_skip(kf_scenario_result *res, kf_skip_kind kind, const char *why) {
  res->status = KF_STATUS_SKIP;
  res->skip_kind = kind;
  kf_free(res->message);
  res->message = kf_strdup(why);
}

void kh_exec_clock_forget(kh_exec *ex) {
  if (ex->clock.id == NULL)
    return;
  kf_err err;
  kf_err_init(&err);
  kh_http_response resp;
  kh_http_response_init(&resp);
  if (kh_clockdrv_delete(ex->base_url, ex->clock.id, &resp, &err) != KF_OK)
    kf_log(KF_LOG_WARN, "scenario \"%s\": cannot delete clock %s: %s", ex->scenario->name,
           ex->clock.id, err.message);
  kh_http_response_release(&resp);
  kf_free(ex->clock.id);
  ex->clock.id = NULL;
}

unsigned kh_exec_scenario_needs(const kh_scenario *sc) {
  bool too_deep = false;
  return kh_exec_needs(sc->steps, sc->steps_len, 0, &too_deep);
}

/* Whether the target can support the scenario; if not, why, into res. */
static bool kh_exec_supported(const kh_runner_config *cfg, const kh_scenario *sc,
                              kf_scenario_result *res, unsigned *needs_out) {
  bool too_deep = false;
  unsigned needs = kh_exec_needs(sc->steps, sc->steps_len, 0, &too_deep);
  *needs_out = needs;
  if (too_deep) {
    res->status = KF_STATUS_ERROR;
    kf_free(res->message);
    res->message = kf_str_printf("fragments nested deeper than %d (a cycle?)", KH_SUITE_MAX_DEPTH);
    return false;
  }
  for (unsigned i = 0; i < KH_NEED_COUNT; i++) {
    if ((needs & (1u << i)) != 0 && !kh_exec_can(cfg->profile, i)) {
      kh_exec_skip(res, KH_NEED_WHY[i].kind, KH_NEED_WHY[i].why);
      return false;
    }
  }
  return true;
}

void kh_exec_scenario(const kh_runner_config *cfg, const int64_t seen_from[KH_SUBJECT_COUNT],
                      const kh_suite_entry *entry, kf_scenario_result *res) {
  int64_t start = kf_time_monotonic_ms();
  const kh_scenario *sc = entry->scenario;
  res->status = KF_STATUS_PASS;
  unsigned needs = 0;
  if (kh_exec_supported(cfg, sc, res, &needs)) {
    kh_exec ex;
    memset(&ex, 0, sizeof(ex));
    ex.cfg = cfg;
    /* Timing is measured where the hash has a realistic cost, if the profile says where. */
    ex.base_url = (needs & KH_NEED_BIT(TIMING)) != 0 && cfg->profile->timing_base_url != NULL
                      ? cfg->profile->timing_base_url
                      : cfg->profile->base_url;
    ex.scenario = sc;
    ex.res = res;
    /* Items that were there before the run (an earlier run with this --run-id) are never seen. */
    memcpy(ex.seen_id, seen_from, sizeof ex.seen_id);
    kh_vars_init(&ex.vars);
    kh_subjects_init(&ex.subjects);
    kh_gen_ctx_init(&ex.gen, cfg->seed, cfg->run_id, entry->index);
    if (kh_exec_builtins(&ex) != KF_OK) {
      res->status = KF_STATUS_ERROR;
      res->message = kf_strdup("out of memory setting the built-in variables");
    } else {
      kh_exec_steps(&ex, sc->steps, sc->steps_len, 0);
    }
    kh_exec_clock_forget(&ex);
    assert(ex.pending_len == 0); /* Each step settles its own. */
    kf_free(ex.pending);
    if (res->status == KF_STATUS_PASS && ex.expects == 0) {
      /* Steps that merely ran show nothing about the target: that is no pass. */
      res->status = KF_STATUS_ERROR;
      kf_free(res->message);
      res->message = kf_strdup("the scenario asserts nothing");
    }
    kh_vars_release(&ex.vars);
    kh_subjects_release(&ex.subjects);
  }
  res->duration_ms = kf_time_monotonic_ms() - start;
}
