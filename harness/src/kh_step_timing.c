/*
 * kh_step_timing.c: the timing step (see kh_step_timing.h).
 */
#include "kh_step_timing.h"

#include <math.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/str.h"
#include "kh_exec.h"
#include "kh_lint.h"
#include "kh_profile.h"
#include "kh_stats.h"

#define KH_TIMING_DEFAULT_ROUNDS 20
#define KH_TIMING_DEFAULT_MARGIN_MS 2
#define KH_TIMING_DEFAULT_MARGIN_PCT 10
/* "Different" needs at least this much evidence as well as a shift beyond the margin. */
#define KH_TIMING_ALPHA 0.001
#define KH_TIMING_CONFIDENCE 0.99

static kf_rc kh_timing_parse_margin(kh_cur *c, kh_timing *t) {
  kf_rc rc = kh_cur_read_duration(c, &t->margin_ms, "'margin'");
  if (rc != KF_OK)
    return rc;
  if (!kh_cur_accept_word(c, "relative"))
    return KF_OK;
  kh_cur_skip_blanks(c);
  size_t at = c->i;
  if ((rc = kh_cur_read_number(c, &t->margin_pct)) != KF_OK)
    return rc;
  if (c->i >= c->len || c->s[c->i] != '%' || t->margin_pct < 0 || t->margin_pct > 100) {
    (void)kh_cur_error_kind(c, at, KH_DIAG_EXPECTED_NUMBER,
                            "expected a percentage from 0%% to 100%%");
    return kh_cur_hint(c, "write 'margin 2ms relative 10%%'");
  }
  c->i++;
  return KF_OK;
}

static kf_rc kh_timing_parse(kh_cur *c, kh_step *step, size_t kw_len) {
  kh_timing *t = step->data;
  c->i = kw_len;
  t->rounds = KH_TIMING_DEFAULT_ROUNDS;
  t->margin_ms = KH_TIMING_DEFAULT_MARGIN_MS;
  t->margin_pct = KH_TIMING_DEFAULT_MARGIN_PCT;
  kh_cur_skip_blanks(c);
  size_t at = c->i;
  kf_rc rc = kh_cur_read_number(c, &t->rounds);
  if (rc != KF_OK)
    return kh_cur_hint(c, "write 'timing 20 rounds'");
  if (t->rounds < 5 || t->rounds > KH_STATS_MAX_N)
    return kh_cur_error_kind(c, at, KH_DIAG_EXPECTED_NUMBER, "rounds must be from 5 to %d",
                             KH_STATS_MAX_N);
  if (!kh_cur_accept_word(c, "rounds")) {
    (void)kh_cur_error_kind(c, c->i, KH_DIAG_EXPECTED_TOKEN, "expected 'rounds' after the count");
    return kh_cur_hint(c, "write 'timing 20 rounds'");
  }
  if (kh_cur_accept_word(c, "margin")) {
    t->margin_given = true;
    if ((rc = kh_timing_parse_margin(c, t)) != KF_OK)
      return rc;
  }
  return kh_cur_expect_end(c, "the timing step");
}

/* `a METHOD URL` or `a <request sub-line>`, and the same for b. */
static kf_rc kh_timing_parse_subline(kh_cur *c, kh_step *step, size_t kw_at, size_t word_len) {
  kh_timing *t = step->data;
  kh_request *rq = &t->req[c->s[kw_at] == 'a' ? 0 : 1];
  (void)word_len;
  kh_cur_skip_blanks(c);
  size_t at = c->i;
  size_t n = 0;
  while (at + n < c->len && kh_lex_is_word_char(c->s[at + n]))
    n++;
  const char *w = c->s + at;
  bool method = kh_steps_find(w, n) == &kh_step_http;
  if (method && rq->method != NULL) {
    (void)kh_cur_error_kind(c, at, KH_DIAG_DUPLICATE, "request %c already has its request line",
                            c->s[kw_at]);
    return kh_cur_hint(c, "give each of a and b one request line, then its sub-lines");
  }
  if (method)
    return kh_request_parse_line(c, rq, at, n);
  if (rq->method == NULL) {
    (void)kh_cur_error_kind(c, at, KH_DIAG_STRUCTURE, "expected a request line after '%c'",
                            c->s[kw_at]);
    return kh_cur_hint(c, "write '%c POST /api/v1/sessions' first, then '%c json ...'", c->s[kw_at],
                       c->s[kw_at]);
  }
  c->i = at + n;
  return kh_request_parse_subline(c, rq, at, n);
}

static void kh_timing_release(void *data) {
  kh_timing *t = data;
  kh_request_release(&t->req[0]);
  kh_request_release(&t->req[1]);
}

static void kh_timing_lint(kh_lint_ctx *ctx, const kh_step *step) {
  const kh_timing *t = step->data;
  kh_lint_define(ctx, "timing.round", false);
  for (int i = 0; i < 2; i++) {
    if (t->req[i].method == NULL)
      kh_lint_step_error(ctx, "add sub-lines 'a METHOD URL' and 'b METHOD URL'",
                         "the timing step has no request %c", i == 0 ? 'a' : 'b');
    kh_request_lint(ctx, &t->req[i]);
  }
}

static unsigned kh_timing_needs(const kh_step *step) {
  (void)step;
  return KH_NEED_BIT(TIMING);
}

/* What the samples were: durations in ms, and the status all answers had (-1 if they differ). */
typedef struct kh_timing_samples {
  double ms[2][KH_STATS_MAX_N];
  long status[2];
} kh_timing_samples;

/* Send request which (0 = a) of round r and note its time and status. */
static kf_status kh_timing_send(kh_exec *ex, size_t idx, const kh_timing *t, int which, size_t r,
                                kh_timing_samples *s) {
  kf_err err;
  kf_err_init(&err);
  kh_http_response resp;
  kh_http_response_init(&resp);
  bool sent = false;
  kf_rc rc =
      kh_request_send(ex, &t->req[which], which == 0 ? "timing a" : "timing b", &resp, &sent, &err);
  s->ms[which][r] = (double)resp.duration_us / 1000.0;
  long st = resp.status;
  s->status[which] = r == 0 || s->status[which] == st ? st : -1;
  kh_exec_keep_exchange(ex, &resp);
  kh_http_response_release(&resp);
  if (!sent)
    return kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0, "%s", err.message);
  if (rc == KF_ERR_TIMEOUT)
    return kh_exec_outcome(ex, idx, KF_STATUS_FAIL, 0, "no response: %s", err.message);
  if (rc != KF_OK)
    return kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0, "request failed: %s", err.message);
  return KF_STATUS_PASS;
}

/*
 * Rounds from..to-1, a and b interleaved; the order flips each round (ABBA)
 * so that drift cancels.
 */
static kf_status kh_timing_measure(kh_exec *ex, size_t idx, const kh_timing *t, size_t from,
                                   size_t to, kh_timing_samples *s) {
  kf_status st = KF_STATUS_PASS;
  for (size_t r = from; st == KF_STATUS_PASS && r < to; r++) {
    char round[24];
    (void)kf_str_format(round, sizeof round, "%zu", r + 1);
    if (kh_vars_set(&ex->vars, "timing.round", round, strlen(round)) != KF_OK)
      return kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0, "out of memory");
    int first = (int)(r % 2);
    st = kh_timing_send(ex, idx, t, first, r, s);
    if (st == KF_STATUS_PASS)
      st = kh_timing_send(ex, idx, t, 1 - first, r, s);
  }
  return st;
}

static const char *kh_timing_verdict(const kh_stats_result *res, double margin) {
  if (res->ci_low >= -margin && res->ci_high <= margin)
    return "same";
  if (res->p < KH_TIMING_ALPHA && fabs(res->shift) > margin)
    return "different";
  return "inconclusive";
}

static json_t *kh_timing_doc(size_t rounds, const kh_timing_samples *s, const kh_stats_result *res,
                             double margin, const char *verdict) {
  json_t *a = json_pack("{s:f}", "median_ms", res->median_a);
  json_t *b = json_pack("{s:f}", "median_ms", res->median_b);
  if (a != NULL && s->status[0] >= 0)
    json_object_set_new(a, "status", json_integer(s->status[0]));
  if (b != NULL && s->status[1] >= 0)
    json_object_set_new(b, "status", json_integer(s->status[1]));
  return json_pack("{s:I, s:o, s:o, s:f, s:f, s:f, s:f, s:f, s:s, s:b}", "rounds",
                   (json_int_t)rounds, "a", a, "b", b, "shift_ms", res->shift, "ci_low_ms",
                   res->ci_low, "ci_high_ms", res->ci_high, "p", res->p, "margin_ms", margin,
                   "verdict", verdict, "same_class", strcmp(verdict, "same") == 0);
}

/*
 * The margin of "same time class": the step's own, else the profile's
 * [defaults] timing_margin_ms and timing_margin_percent (the catalogue's
 * documented defaults for AUTH-04 and ACC-10), else the built-in ones.
 */
static void kh_timing_margin_of(const kh_exec *ex, const kh_timing *t, double *abs_ms,
                                double *pct) {
  *abs_ms = (double)t->margin_ms;
  *pct = (double)t->margin_pct;
  if (t->margin_given)
    return;
  long v;
  const char *ms = kh_profile_get(ex->cfg->profile, "defaults.timing_margin_ms");
  const char *rel = kh_profile_get(ex->cfg->profile, "defaults.timing_margin_percent");
  if (ms != NULL && kf_str_to_long(ms, 0, 60000, &v) == KF_OK)
    *abs_ms = (double)v;
  if (rel != NULL && kf_str_to_long(rel, 0, 100, &v) == KF_OK)
    *pct = (double)v;
}

/*
 * Compare the first n rounds: the figures, the margin and the verdict. The
 * interval is at a confidence split over every look the step may take
 * (Bonferroni), so looking again after more rounds does not make "same"
 * easier to reach than one look at 99%.
 */
static kf_rc kh_timing_decide(const kh_exec *ex, const kh_timing *t, const kh_timing_samples *s,
                              size_t n, size_t looks, kh_stats_result *res, double *margin,
                              const char **verdict) {
  double confidence = 1.0 - (1.0 - KH_TIMING_CONFIDENCE) / (double)(looks > 0 ? looks : 1);
  kf_rc rc = kh_stats_compare(s->ms[0], n, s->ms[1], n, confidence, res);
  if (rc != KF_OK)
    return rc;
  /* Of the faster kind: a leak that slows one kind down must not widen its own margin. */
  double faster = res->median_a < res->median_b ? res->median_a : res->median_b;
  double abs_ms = 0.0, pct = 0.0;
  kh_timing_margin_of(ex, t, &abs_ms, &pct);
  *margin = fmax(abs_ms, faster * pct / 100.0);
  *verdict = kh_timing_verdict(res, *margin);
  return KF_OK;
}

/*
 * Measure the rounds asked for; while the figures cannot decide, go on in
 * batches of half as many, up to five times the rounds, so a noisy target
 * gets a verdict rather than "not checked" where more samples settle it.
 */
static kf_status kh_timing_run(kh_exec *ex, size_t idx, const kh_timing *t, kh_timing_samples *s,
                               size_t *n, kh_stats_result *res, double *margin,
                               const char **verdict) {
  size_t max = (size_t)t->rounds * 5;
  if (max > KH_STATS_MAX_N)
    max = KH_STATS_MAX_N;
  size_t step = (size_t)t->rounds / 2 > 0 ? (size_t)t->rounds / 2 : 1;
  size_t looks = 1 + (max > (size_t)t->rounds ? (max - (size_t)t->rounds + step - 1) / step : 0);
  size_t done = 0;
  for (size_t want = (size_t)t->rounds;; want += step) {
    if (want > max)
      want = max;
    kf_status st = kh_timing_measure(ex, idx, t, done, want, s);
    if (st != KF_STATUS_PASS)
      return st;
    done = want;
    if (kh_timing_decide(ex, t, s, done, looks, res, margin, verdict) != KF_OK)
      return kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0, "out of memory comparing the samples");
    if (strcmp(*verdict, "inconclusive") != 0 || done >= max)
      break;
  }
  *n = done;
  return KF_STATUS_PASS;
}

static kf_status kh_timing_exec(kh_exec *ex, size_t idx, const kh_step *step, int depth) {
  (void)depth;
  const kh_timing *t = step->data;
  kh_timing_samples *s = kf_calloc(1, sizeof *s);
  if (s == NULL)
    return kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0, "out of memory");
  kh_stats_result res;
  size_t n = 0;
  double margin = 0.0;
  const char *verdict = NULL;
  kf_status st = kh_timing_run(ex, idx, t, s, &n, &res, &margin, &verdict);
  if (st == KF_STATUS_PASS) {
    json_t *doc = kh_timing_doc(n, s, &res, margin, verdict);
    if (doc == NULL)
      st = kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0, "out of memory");
    else
      kh_subjects_set(&ex->subjects, KH_SUBJECT_TIMING, doc, NULL, NULL);
    /*
     * Answers that changed status during the measurement (a lockout that set
     * in, say) compare two things at once: not checked, never judged.
     */
    if (doc != NULL && (s->status[0] < 0 || s->status[1] < 0))
      st = kh_exec_outcome(ex, idx, KF_STATUS_SKIP, 0,
                           "not checked: the answers of %s changed status during the %zu rounds "
                           "(a lockout? the profile's timing_base_url should name a server "
                           "that does not lock)",
                           s->status[0] < 0 ? "a" : "b", n);
    /* What the suite cannot decide it reports as not checked, never as a pass. */
    else if (doc != NULL && strcmp(verdict, "inconclusive") == 0)
      st = kh_exec_outcome(ex, idx, KF_STATUS_SKIP, 0,
                           "not checked: %zu rounds could not decide (a %.2f ms, b %.2f ms, "
                           "shift %.2f ms, 99%% CI [%.2f, %.2f], margin ±%.2f ms, p %.4f)",
                           n, res.median_a, res.median_b, res.shift, res.ci_low, res.ci_high,
                           margin, res.p);
    if (st == KF_STATUS_SKIP)
      kh_exec_skip_as(ex, KF_SKIP_UNDECIDED);
  }
  kf_free(s);
  return st;
}

static const char *const KH_TIMING_WORDS[] = {"timing", NULL};
static const char *const KH_TIMING_SUBLINES[] = {"a", "b", NULL};

const kh_step_def kh_step_timing = {
    .what = "a timing step",
    .keywords = KH_TIMING_WORDS,
    .synopsis = "timing N rounds [margin D [relative P%]] with sub-lines 'a <request>', "
                "'b <request>'",
    .data_size = sizeof(kh_timing),
    .parse = kh_timing_parse,
    .sublines = KH_TIMING_SUBLINES,
    .parse_subline = kh_timing_parse_subline,
    .release = kh_timing_release,
    .lint = kh_timing_lint,
    .needs = kh_timing_needs,
    .exec = kh_timing_exec,
};
