/*
 * kr_summary.c: the console's last screen (see kr_summary.h): scenario counts
 * per area, the failures one line each, requirement verdicts per area, the
 * requirements that did not pass and why, the ones no scenario covers as one
 * list of ranges, and the closing lines CI reads.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kf/error.h"
#include "kf/run_result.h"
#include "kr_out.h"
#include "kr_priv.h"
#include "kr_summary.h"

/* Columns of a requirement row: "    ACC-06   FAIL         1 of 1 scenario failed  Link ...". */
enum { KR_ROW_ID = 4, KR_ROW_VERDICT = 13, KR_ROW_WHY = 26, KR_ROW_TITLE = 50 };
/* Where counts start after an area name: "  ACC     2 scenarios", "  ACC     1 pass". */
#define KR_AREA_COUNTS_COL 8
/* How much of a failure's message the one-line list keeps (a contains window is ~100). */
#define KR_SUMMARY_MESSAGE_MAX 300

/* ---- Why scenarios were skipped. ---- */

typedef struct kr_skip_reason {
  const char *needle; /* Part of the skip message that names the reason; NULL: any other. */
  const char *tag;    /* In a requirement's why: "2 skipped (no clock)". */
  const char *one;    /* After a count of 1: "1 needs a test clock". */
  const char *many;   /* After any other count: "3 need a test clock". */
} kr_skip_reason;

/*
 * The reasons the harness gives (KH_NEEDS in harness/src/kh_step.h, the
 * clock, wait and timing steps), the first match winning; the last row takes
 * every other message. test_reports checks every KH_NEEDS reason has a row.
 */
static const kr_skip_reason KR_SKIP_REASONS[] = {
    {"clock control", "no clock", "needs a test clock", "need a test clock"},
    {"sets no mail_api", "no mail_api", "needs mail_api", "need mail_api"},
    {"sets no post_api", "no post_api", "needs post_api", "need post_api"},
    {"could not decide", "undecided", "was undecided (timing)", "were undecided (timing)"},
    {NULL, "other reason", "was skipped for another reason", "were skipped for other reasons"},
};

#define KR_SKIP_REASONS_LEN (sizeof KR_SKIP_REASONS / sizeof KR_SKIP_REASONS[0])

static size_t kr_skip_reason_of(const kf_scenario_result *sc) {
  for (size_t i = 0; i + 1 < KR_SKIP_REASONS_LEN; i++) {
    if (sc->message != NULL && strstr(sc->message, KR_SKIP_REASONS[i].needle) != NULL)
      return i;
  }
  return KR_SKIP_REASONS_LEN - 1;
}

/* Append to the text in dst (size bytes); text that does not fit is cut. */
static void kr_catf(char *dst, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void kr_catf(char *dst, size_t size, const char *fmt, ...) {
  size_t len = strlen(dst);
  if (len + 1 >= size)
    return;
  va_list ap;
  va_start(ap, fmt);
  (void)vsnprintf(dst + len, size - len, fmt, ap);
  va_end(ap);
}

/* ---- One requirement. ---- */

/* How the scenarios covering a requirement went. */
typedef struct kr_tally {
  kf_req_status status;
  size_t n;                          /* Scenarios of the run covering it. */
  size_t failed;                     /* Of them failed or errored. */
  size_t skipped;                    /* Of them skipped... */
  bool reasons[KR_SKIP_REASONS_LEN]; /* ...for these reasons. */
} kr_tally;

static void kr_tally_of(const kf_run_result *run, const kf_requirement *rq, kr_tally *t) {
  memset(t, 0, sizeof *t);
  const char *id = rq->id != NULL ? rq->id : "";
  t->status = kf_run_result_requirement_status(run, id, &t->n);
  for (size_t i = 0; i < run->scenarios_len; i++) {
    const kf_scenario_result *sc = &run->scenarios[i];
    if (!kf_scenario_result_covers(sc, id))
      continue;
    t->failed += sc->status == KF_STATUS_FAIL || sc->status == KF_STATUS_ERROR;
    if (sc->status == KF_STATUS_SKIP) {
      t->skipped++;
      t->reasons[kr_skip_reason_of(sc)] = true;
    }
  }
}

/* Why the requirement has its verdict, in a few words, into why. */
static void kr_tally_why(const kr_tally *t, const kf_requirement *rq, char *why, size_t size) {
  why[0] = '\0';
  if (t->status == KF_REQ_PASS) {
    kr_catf(why, size, "%zu %s", t->n, kr_plural(t->n, "scenario", "scenarios"));
    return;
  }
  if (t->status == KF_REQ_FAIL) {
    kr_catf(why, size, "%zu of %zu %s failed", t->failed, t->n,
            kr_plural(t->n, "scenario", "scenarios"));
    return;
  }
  if (t->skipped > 0) {
    kr_catf(why, size, "%zu skipped (", t->skipped);
    const char *sep = "";
    for (size_t i = 0; i < KR_SKIP_REASONS_LEN; i++) {
      if (t->reasons[i]) {
        kr_catf(why, size, "%s%s", sep, KR_SKIP_REASONS[i].tag);
        sep = ", ";
      }
    }
    kr_catf(why, size, ")");
  }
  if (rq->not_selected > 0) {
    size_t all = t->n + rq->not_selected;
    kr_catf(why, size, "%s%zu of %zu %s selected", why[0] != '\0' ? "; " : "", t->n, all,
            kr_plural(all, "scenario", "scenarios"));
  }
  if (why[0] == '\0')
    kr_catf(why, size, "%s", t->n == 0 ? "no scenario yet" : "not decided");
}

/* Whether no scenario of the suite covers rq, selected or not. */
static bool kr_uncovered(const kf_run_result *run, const kf_requirement *rq) {
  size_t n = 0;
  (void)kf_run_result_requirement_status(run, rq->id != NULL ? rq->id : "", &n);
  return n == 0 && rq->not_selected == 0;
}

/* "    ACC-06   FAIL         1 of 1 scenario failed  Link 24 Stunden", the title cut or whole. */
static void kr_summary_row(kr_out *o, const kf_run_result *run, const kf_requirement *rq,
                           bool whole_title) {
  kr_tally t;
  kr_tally_of(run, rq, &t);
  char why[160];
  kr_tally_why(&t, rq, why, sizeof why);
  kr_out_margins(o, KR_ROW_TITLE, KR_ROW_TITLE);
  kr_out_blanks(o, KR_ROW_ID);
  kr_out_cut(o, rq->id != NULL ? rq->id : "", KR_ROW_VERDICT - KR_ROW_ID - 1);
  kr_out_pad_to(o, KR_ROW_VERDICT);
  kr_out_req_status(o, t.status, 0);
  kr_out_pad_to(o, KR_ROW_WHY);
  kr_out_text(o, why);
  kr_out_blanks(o, 2);
  kr_out_pad_to(o, KR_ROW_TITLE);
  if (whole_title)
    kr_out_text(o, rq->title);
  else
    kr_out_cut(o, rq->title, kr_out_room(o));
  kr_out_nl(o);
}

/* ---- Per area. ---- */

/* What the area walks print on, and from. */
typedef struct kr_summary_ctx {
  kr_out *o;
  const kf_run_result *run;
  size_t verdicts[KR_REQ_STATUS_COUNT]; /* Requirement verdicts summed over the areas. */
} kr_summary_ctx;

static bool kr_in_area(const kf_requirement *rq, const char *area) {
  return strcmp(rq->area != NULL ? rq->area : "", area) == 0;
}

/* "  ACC" and the blanks to the counts column. */
static void kr_summary_area_name(kr_out *o, const char *area) {
  kr_out_margins(o, KR_AREA_COUNTS_COL, KR_AREA_COUNTS_COL);
  kr_out_blanks(o, 2);
  kr_out_text(o, area[0] != '\0' ? area : "(no area)");
  kr_out_blanks(o, 1);
  kr_out_pad_to(o, KR_AREA_COUNTS_COL);
}

/* kr_area_fn: "  ACC    92 scenarios, 90 passed, 1 failed (1 error), 1 skipped". */
static kf_rc kr_summary_area_scenarios(void *ctx, const char *area) {
  kr_summary_ctx *c = ctx;
  kf_run_counts n;
  kr_area_scenarios(c->run, area, &n, NULL);
  if (n.total == 0)
    return KF_OK;
  kr_summary_area_name(c->o, area);
  kr_out_printf(c->o, "%3zu %s, %zu passed, %zu failed", n.total,
                kr_plural(n.total, "scenario", "scenarios"), n.passed, n.failed + n.errors);
  if (n.errors > 0)
    kr_out_printf(c->o, " (%zu %s)", n.errors, kr_plural(n.errors, "error", "errors"));
  kr_out_printf(c->o, ", %zu skipped", n.skipped);
  kr_out_nl(c->o);
  return KF_OK;
}

/* "  ACC     1 pass    2 fail    1 not checked". */
static void kr_summary_verdict_line(kr_out *o, const char *area, const size_t *n) {
  kr_summary_area_name(o, area);
  kr_out_printf(o, "%3zu pass  %3zu fail  %3zu not checked", n[KF_REQ_PASS], n[KF_REQ_FAIL],
                n[KF_REQ_NOT_CHECKED]);
  kr_out_nl(o);
}

/* kr_area_fn: the verdict counts of the area's requirements, added to the totals too. */
static kf_rc kr_summary_area_verdicts(void *ctx, const char *area) {
  kr_summary_ctx *c = ctx;
  size_t n[KR_REQ_STATUS_COUNT] = {0};
  size_t any = 0;
  for (size_t i = 0; i < c->run->requirements_len; i++) {
    const kf_requirement *rq = &c->run->requirements[i];
    if (!kr_in_area(rq, area))
      continue;
    size_t covering = 0;
    kf_req_status st =
        kf_run_result_requirement_status(c->run, rq->id != NULL ? rq->id : "", &covering);
    if ((size_t)st < KR_REQ_STATUS_COUNT) {
      n[st]++;
      c->verdicts[st]++;
    }
    any++;
  }
  if (any > 0)
    kr_summary_verdict_line(c->o, area, n);
  return KF_OK;
}

/* kr_area_fn: "  ACC" and a row for each of the area's requirements (verbose). */
static kf_rc kr_summary_area_rows(void *ctx, const char *area) {
  kr_summary_ctx *c = ctx;
  bool named = false;
  for (size_t i = 0; i < c->run->requirements_len; i++) {
    const kf_requirement *rq = &c->run->requirements[i];
    if (!kr_in_area(rq, area))
      continue;
    if (!named) {
      kr_out_blanks(c->o, 2);
      kr_out_text(c->o, area[0] != '\0' ? area : "(no area)");
      kr_out_nl(c->o);
      named = true;
    }
    kr_summary_row(c->o, c->run, rq, true);
  }
  return KF_OK;
}

void kr_summary_requirements(kr_out *o, const kf_run_result *run) {
  if (run->requirements_len == 0)
    return;
  kr_out_heading(o, "Requirements:");
  kr_summary_ctx c = {.o = o, .run = run};
  (void)kr_areas_each(run, kr_summary_area_rows, &c);
}

/* ---- Requirements no scenario covers, as ranges: "AUTH-01..03 05..07, TOTP-01..05". ---- */

/* The run of consecutive IDs being collected, and what was written before it. */
typedef struct kr_ranges {
  kr_out *o;
  char prefix[KR_AREA_MAX + 2]; /* "AUTH-" of the open run; "" when none is open. */
  long first, last;
  int digits;
  char shown[KR_AREA_MAX + 2]; /* The prefix of the last run written. */
  bool any;                    /* Whether anything was written yet. */
} kr_ranges;

/* Split "AUTH-05" into "AUTH-", 5 and 2 digits; false for an ID of another form. */
static bool kr_id_split(const char *id, char *prefix, size_t size, long *num, int *digits) {
  const char *dash = strrchr(id, '-');
  if (dash == NULL)
    return false;
  size_t plen = (size_t)(dash - id) + 1;
  size_t nd = strlen(dash + 1);
  if (plen >= size || nd == 0 || nd > 9 || strspn(dash + 1, "0123456789") != nd)
    return false;
  memcpy(prefix, id, plen);
  prefix[plen] = '\0';
  *num = strtol(dash + 1, NULL, 10);
  *digits = (int)nd;
  return true;
}

/* Write the open run, if any: ", AUTH-01..03" or, in the same area, " 05..07". */
static void kr_ranges_flush(kr_ranges *r) {
  if (r->prefix[0] == '\0')
    return;
  bool same = strcmp(r->prefix, r->shown) == 0;
  kr_out_text(r->o, !r->any ? " " : (same ? " " : ", "));
  if (!same)
    kr_out_text(r->o, r->prefix);
  kr_out_printf(r->o, "%0*ld", r->digits, r->first);
  if (r->last > r->first)
    kr_out_printf(r->o, "..%0*ld", r->digits, r->last);
  memcpy(r->shown, r->prefix, sizeof r->shown);
  r->prefix[0] = '\0';
  r->any = true;
}

static void kr_ranges_add(kr_ranges *r, const char *id) {
  char prefix[sizeof r->prefix];
  long num = 0;
  int digits = 0;
  if (!kr_id_split(id, prefix, sizeof prefix, &num, &digits)) {
    kr_ranges_flush(r);
    kr_out_text(r->o, r->any ? ", " : " ");
    kr_out_text(r->o, id);
    r->shown[0] = '\0';
    r->any = true;
    return;
  }
  if (strcmp(prefix, r->prefix) == 0 && digits == r->digits && num == r->last + 1) {
    r->last = num;
    return;
  }
  kr_ranges_flush(r);
  memcpy(r->prefix, prefix, sizeof r->prefix);
  r->first = r->last = num;
  r->digits = digits;
}

/* "  49 requirements have no scenario yet: AUTH-01..03 05..07, TOTP-01..05, ...". */
static void kr_summary_uncovered(kr_out *o, const kf_run_result *run) {
  size_t count = 0;
  for (size_t i = 0; i < run->requirements_len; i++)
    count += kr_uncovered(run, &run->requirements[i]);
  if (count == 0)
    return;
  kr_out_margins(o, 4, 4);
  kr_out_printf(o, "  %zu %s no scenario yet:", count,
                kr_plural(count, "requirement has", "requirements have"));
  kr_ranges r = {.o = o};
  for (size_t i = 0; i < run->requirements_len; i++) {
    const kf_requirement *rq = &run->requirements[i];
    if (kr_uncovered(run, rq))
      kr_ranges_add(&r, rq->id != NULL ? rq->id : "?");
  }
  kr_ranges_flush(&r);
  kr_out_nl(o);
}

/* Verdicts per area, then every requirement that did not pass with why. */
static void kr_summary_verdicts(kr_out *o, const kf_run_result *run) {
  kr_out_heading(o, "Requirements by area:");
  kr_summary_ctx c = {.o = o, .run = run};
  (void)kr_areas_each(run, kr_summary_area_verdicts, &c);
  kr_summary_verdict_line(o, "total", c.verdicts);
  if (c.verdicts[KF_REQ_FAIL] + c.verdicts[KF_REQ_NOT_CHECKED] == 0)
    return;
  kr_out_heading(o, "Requirements that failed or were not checked:");
  for (size_t i = 0; i < run->requirements_len; i++) {
    const kf_requirement *rq = &run->requirements[i];
    size_t n = 0;
    kf_req_status st = kf_run_result_requirement_status(run, rq->id != NULL ? rq->id : "", &n);
    if (st != KF_REQ_PASS && !kr_uncovered(run, rq))
      kr_summary_row(o, run, rq, false);
  }
  kr_summary_uncovered(o, run);
}

/* ---- Failures, one each. ---- */

/* s, or its first max characters and "…" copied into buf (size bytes) when it is longer. */
static const char *kr_clip(const char *s, size_t max, char *buf, size_t size) {
  size_t chars = 0, i = 0;
  for (; s[i] != '\0' && i + 4 < size; i++) {
    if (((unsigned char)s[i] & 0xC0u) != 0x80u && chars++ == max)
      break;
  }
  if (s[i] == '\0')
    return s;
  /* Back to a character start, so the cut does not leave half a character. */
  while (i > 0 && ((unsigned char)s[i] & 0xC0u) == 0x80u)
    i--;
  memcpy(buf, s, i);
  memcpy(buf + i, "…", sizeof "…");
  return buf;
}

/* "  FAIL  name" and "        file:line: message" for every failed or errored scenario. */
static void kr_summary_failures(kr_out *o, const kf_run_result *run, const kf_run_counts *c) {
  if (c->failed + c->errors == 0)
    return;
  kr_out_heading(o, "Failed:");
  for (size_t i = 0; i < run->scenarios_len; i++) {
    const kf_scenario_result *sc = &run->scenarios[i];
    if (sc->status != KF_STATUS_FAIL && sc->status != KF_STATUS_ERROR)
      continue;
    kr_failure where;
    kr_failure_locate(sc, &where);
    kr_out_margins(o, 8, 8);
    kr_out_blanks(o, 2);
    kr_out_status(o, sc->status, 6);
    kr_out_cut(o, sc->name != NULL ? sc->name : "(unnamed)", kr_out_room(o));
    kr_out_nl(o);
    kr_out_blanks(o, 8);
    kr_out_text(o, where.file);
    kr_out_printf(o, ":%u: ", where.line);
    char clip[4 * KR_SUMMARY_MESSAGE_MAX + 8];
    kr_out_text(o, kr_clip(where.message != NULL ? where.message : "(no message)",
                           KR_SUMMARY_MESSAGE_MAX, clip, sizeof clip));
    kr_out_nl(o);
  }
}

/* ---- The closing lines. ---- */

/* "5 scenarios not checked: 3 need a test clock, 2 need mail_api". */
static void kr_summary_skips(kr_out *o, const kf_run_result *run, size_t skipped) {
  size_t n[KR_SKIP_REASONS_LEN] = {0};
  for (size_t i = 0; i < run->scenarios_len; i++) {
    if (run->scenarios[i].status == KF_STATUS_SKIP)
      n[kr_skip_reason_of(&run->scenarios[i])]++;
  }
  kr_out_printf(o, "%zu %s not checked:", skipped, kr_plural(skipped, "scenario", "scenarios"));
  const char *sep = " ";
  for (size_t i = 0; i < KR_SKIP_REASONS_LEN; i++) {
    if (n[i] == 0)
      continue;
    const kr_skip_reason *r = &KR_SKIP_REASONS[i];
    kr_out_printf(o, "%s%zu %s", sep, n[i], n[i] == 1 ? r->one : r->many);
    sep = ", ";
  }
  kr_out_nl(o);
}

/* The target, seed and run id again, the errors and skips explained, the counts last. */
static void kr_summary_end(kr_out *o, const kf_run_result *run, const kf_run_counts *c) {
  kr_out_end_line(o);
  kr_out_nl(o);
  kr_out_margins(o, 4, 4);
  kr_out_text(o, "target ");
  /* The name gives way to the URL, down to a readable part. */
  size_t room = kr_out_room(o);
  size_t url = run->base_url != NULL ? kr_out_cols(run->base_url) + 3 : 0;
  kr_out_cut(o, run->target != NULL ? run->target : "?", room > url + 24 ? room - url : room);
  if (run->base_url != NULL) {
    kr_out_text(o, " (");
    kr_out_text(o, run->base_url);
    kr_out_text(o, ")");
  }
  kr_out_nl(o);
  char secs[48];
  if (kr_format_seconds(run->duration_ms, secs, sizeof secs) != KF_OK)
    secs[0] = '\0'; /* Cannot happen: 48 bytes hold any int64. */
  kr_out_printf(o, "seed %" PRIu64 ", run id %016" PRIx64 ", %zu %s in %s s", run->seed,
                run->run_id, c->total, kr_plural(c->total, "scenario", "scenarios"), secs);
  kr_out_nl(o);
  if (c->errors > 0) {
    kr_out_printf(o, "%zu %s (counted as failed)", c->errors,
                  kr_plural(c->errors, "error", "errors"));
    kr_out_nl(o);
  }
  if (c->skipped > 0)
    kr_summary_skips(o, run, c->skipped);
  /* CI parsers read this closing line; keep its form exactly, and nothing after it. */
  kr_out_printf(o, "%zu passed, %zu failed, %zu skipped", c->passed, c->failed + c->errors,
                c->skipped);
  kr_out_nl(o);
}

void kr_summary_print(kr_out *o, const kf_run_result *run) {
  assert(o != NULL && run != NULL);
  kf_run_counts c;
  kf_run_result_counts(run, &c);
  if (run->scenarios_len > 0) {
    kr_out_heading(o, "Scenarios by area:");
    kr_summary_ctx ctx = {.o = o, .run = run};
    (void)kr_areas_each(run, kr_summary_area_scenarios, &ctx);
  }
  kr_summary_failures(o, run, &c);
  if (run->requirements_len > 0)
    kr_summary_verdicts(o, run);
  kr_summary_end(o, run, &c);
}
