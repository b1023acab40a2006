/*
 * kh_step_clock.c: the clock step. The scenario context tracks the clock's
 * time on the target as well as its id, since time-based checks (TOTP codes)
 * must be computed at the target's time, not the harness's.
 */
#include "kh_step_clock.h"

#include <string.h>

#include "kf/alloc.h"
#include "kf/str.h"
#include "kf/timeutil.h"
#include "kh_clockdrv.h"
#include "kh_exec.h"
#include "kh_lint.h"

/* A time known at parse time must be ISO 8601; one with {{...}} is checked at run time. */
static kf_rc kh_clock_check_iso(kh_cur *c, const kh_template *tpl, size_t at) {
  if (memchr(tpl->text, '{', tpl->len) != NULL)
    return KF_OK;
  int64_t t = 0;
  if (strlen(tpl->text) != tpl->len || kf_time_parse_iso(tpl->text, &t) != KF_OK) {
    (void)kh_cur_error_kind(c, at, KH_DIAG_EXPECTED_TOKEN, "expected an ISO 8601 time");
    return kh_cur_hint(c, "write for example \"2026-03-28T10:00:00Z\"");
  }
  return KF_OK;
}

static kf_rc kh_clock_parse_time(kh_cur *c, kh_clock_step *ck, const char *what) {
  kh_cur_skip_blanks(c);
  size_t at = c->i;
  kf_rc rc = kh_cur_need_string(c, &ck->iso, what);
  if (rc != KF_OK)
    return rc;
  return kh_clock_check_iso(c, &ck->iso, at);
}

static kf_rc kh_clock_parse_advance(kh_cur *c, kh_clock_step *ck) {
  kh_cur_skip_blanks(c);
  size_t at = c->i;
  kf_rc rc = kh_cur_read_duration(c, &ck->advance_ms, "'clock advance'");
  if (rc != KF_OK)
    return rc;
  /* The clock API moves a clock by whole seconds; say so now, not at run time. */
  if (ck->advance_ms % 1000 != 0) {
    int64_t lo = ck->advance_ms / 1000;
    (void)kh_cur_error(c, at, "'%.*s' is not a whole number of seconds",
                       (int)(c->i - at > 40 ? 40 : c->i - at), c->s + at);
    return kh_cur_hint(c, "the test clock moves in whole seconds; write %llds or %llds",
                       (long long)lo, (long long)lo + 1);
  }
  return KF_OK;
}

static kf_rc kh_clock_parse(kh_cur *c, kh_step *step, size_t kw_len) {
  kh_clock_step *ck = step->data;
  c->i = kw_len;
  kf_rc rc;
  if (kh_cur_accept_word(c, "create")) {
    ck->op = KH_CLOCK_CREATE;
    if (kh_cur_accept_word(c, "now")) {
      ck->op = KH_CLOCK_CREATE_NOW;
      return kh_cur_expect_end(c, "'now'");
    }
    rc = kh_clock_parse_time(c, ck, "a time or 'now' after 'clock create'");
  } else if (kh_cur_accept_word(c, "set")) {
    ck->op = KH_CLOCK_SET;
    rc = kh_clock_parse_time(c, ck, "a time after 'clock set'");
  } else if (kh_cur_accept_word(c, "advance")) {
    ck->op = KH_CLOCK_ADVANCE;
    rc = kh_clock_parse_advance(c, ck);
  } else {
    size_t n = kh_cur_peek_word(c);
    (void)kh_cur_error_kind(c, c->i, KH_DIAG_UNKNOWN_WORD,
                            "expected 'create', 'advance' or 'set' after 'clock'");
    static const char *const ops[] = {"create", "advance", "set", NULL};
    if (n > 0)
      return kh_cur_hint_names(c, c->s + c->i, n, ops, "clock operations");
    return kh_cur_hint(c, "write 'clock create \"2026-03-28T10:00:00Z\"' or 'clock advance 24h'");
  }
  if (rc != KF_OK)
    return rc;
  return kh_cur_expect_end(c, "the clock step");
}

static void kh_clock_release(void *data) {
  kh_clock_step *ck = data;
  kh_template_release(&ck->iso);
}

static void kh_clock_lint(kh_lint_ctx *ctx, const kh_step *step) {
  const kh_clock_step *ck = step->data;
  kh_lint_template(ctx, &ck->iso);
}

static unsigned kh_clock_needs(const kh_step *step) {
  (void)step;
  return KH_NEED_BIT(CLOCK);
}

/* Parse the (interpolated) ISO time of a clock step. */
static kf_rc kh_clock_time(kh_exec *ex, const kh_clock_step *cs, int64_t *t, kf_err *err) {
  char *iso = NULL;
  size_t len = 0;
  kf_rc rc = kh_exec_expand(ex, &cs->iso, KH_EXEC_MAX_TEXT, &iso, &len, err);
  if (rc != KF_OK)
    return rc;
  rc = kf_time_parse_iso(iso, t);
  if (rc != KF_OK)
    (void)kf_err_set(err, KF_ERR_INVALID, "not an ISO 8601 time: \"%s\"", iso);
  kf_free(iso);
  return rc;
}

static kf_rc kh_clock_create(kh_exec *ex, const kh_clock_step *cs, kh_http_response *resp,
                             int64_t *expected, kf_err *err) {
  int64_t t = 0;
  kf_rc rc = KF_OK;
  if (cs->op == KH_CLOCK_CREATE)
    rc = kh_clock_time(ex, cs, &t, err);
  else
    t = kf_time_real_now();
  char *id = NULL;
  if (rc == KF_OK)
    rc = kh_clockdrv_create(ex->base_url, t, ex->scenario->name, resp, &id, err);
  if (rc != KF_OK)
    return rc;
  kh_exec_clock_forget(ex);
  ex->clock.id = id;
  *expected = t;
  return KF_OK;
}

static kf_rc kh_clock_move(kh_exec *ex, const kh_clock_step *cs, kh_http_response *resp,
                           int64_t *expected, kf_err *err) {
  if (ex->clock.id == NULL)
    return kf_err_set(err, KF_ERR_STATE, "there is no clock yet: write 'clock create' first");
  if (cs->op == KH_CLOCK_ADVANCE) {
    if (cs->advance_ms < 0 || cs->advance_ms % 1000 != 0)
      return kf_err_set(err, KF_ERR_INVALID, "the test clock moves in whole seconds");
    *expected = ex->clock.now + cs->advance_ms / 1000;
    return kh_clockdrv_advance(ex->base_url, ex->clock.id, cs->advance_ms / 1000, resp, err);
  }
  int64_t t = 0;
  kf_rc rc = kh_clock_time(ex, cs, &t, err);
  if (rc == KF_OK)
    rc = kh_clockdrv_set(ex->base_url, ex->clock.id, t, resp, err);
  *expected = t;
  return rc;
}

static kf_status kh_clock_exec(kh_exec *ex, size_t idx, const kh_step *step, int depth) {
  (void)depth;
  const kh_clock_step *cs = step->data;
  if (!kh_exec_has_clock(ex)) {
    const char *clock = ex->cfg->profile->clock;
    return kh_exec_outcome(ex, idx, KF_STATUS_SKIP, 0,
                           "the target has no test clock control (clock = %s)",
                           clock != NULL ? clock : "none");
  }
  kf_err err;
  kf_err_init(&err);
  kh_http_response resp;
  kh_http_response_init(&resp);
  int64_t expected = 0;
  kf_rc rc = cs->op == KH_CLOCK_CREATE || cs->op == KH_CLOCK_CREATE_NOW
                 ? kh_clock_create(ex, cs, &resp, &expected, &err)
                 : kh_clock_move(ex, cs, &resp, &expected, &err);
  if (rc == KF_OK) {
    /* The target says where its clock stands now; trust it over our arithmetic. */
    json_t *jt = json_object_get(kh_http_response_json(&resp), "frozen_time");
    ex->clock.now = json_is_integer(jt) ? (int64_t)json_integer_value(jt) : expected;
    char now[32];
    rc = kf_str_format(now, sizeof now, "%lld", (long long)ex->clock.now);
    if (rc == KF_OK)
      rc = kh_vars_set(&ex->vars, "clock.now", now, strlen(now));
    if (rc != KF_OK)
      (void)kf_err_set(&err, rc, "cannot store clock.now");
  }
  kh_exec_keep_exchange(ex, &resp);
  kh_http_response_release(&resp);
  if (rc != KF_OK)
    return kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0, "clock: %s", err.message);
  return KF_STATUS_PASS;
}

static const char *const KH_CLOCK_WORDS[] = {"clock", NULL};

const kh_step_def kh_step_clock = {
    .what = "a clock step",
    .keywords = KH_CLOCK_WORDS,
    .synopsis = "clock create \"ISO\"|now, clock advance D, clock set \"ISO\"",
    .data_size = sizeof(kh_clock_step),
    .parse = kh_clock_parse,
    .release = kh_clock_release,
    .lint = kh_clock_lint,
    .needs = kh_clock_needs,
    .exec = kh_clock_exec,
};
