/*
 * kr_console.c: the human-readable report on a terminal or in a CI log.
 *
 * The console functions return nothing: a report line that cannot be printed
 * is not a reason to fail a run. The only allocation is the text of a step's
 * details; when it fails the console says so and goes on with the next line,
 * so the summary and the closing counts line always appear.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kf/error.h"
#include "kf/run_result.h"
#include "kf/str.h"
#include "kr/report.h"
#include "kr_priv.h"

#define KR_ANSI_RESET "\033[0m"
#define KR_ANSI_BOLD "\033[1m"
#define KR_ANSI_GREEN "\033[32m"
#define KR_ANSI_RED "\033[1;31m"
#define KR_ANSI_MAGENTA "\033[1;35m"
#define KR_ANSI_YELLOW "\033[33m"

/* How an outcome looks on the console: its word and its colour. */
typedef struct kr_look {
  const char *word;
  const char *color;
} kr_look;

/* Scenarios, steps and asserts alike, indexed by kf_status (KF_STATUSES). */
static const kr_look kr_status_looks[] = {
    [KF_STATUS_PASS] = {"PASS", KR_ANSI_GREEN},
    [KF_STATUS_FAIL] = {"FAIL", KR_ANSI_RED},
    [KF_STATUS_ERROR] = {"ERROR", KR_ANSI_MAGENTA},
    [KF_STATUS_SKIP] = {"SKIP", KR_ANSI_YELLOW},
};
_Static_assert(sizeof kr_status_looks / sizeof kr_status_looks[0] == KR_STATUS_COUNT,
               "every kf_status has a console look");

/* Requirement verdicts, indexed by kf_req_status (KF_REQ_STATUSES). */
static const kr_look kr_req_looks[] = {
    [KF_REQ_PASS] = {"pass", KR_ANSI_GREEN},
    [KF_REQ_FAIL] = {"FAIL", KR_ANSI_RED},
    [KF_REQ_NOT_CHECKED] = {"not checked", KR_ANSI_YELLOW},
};
_Static_assert(sizeof kr_req_looks / sizeof kr_req_looks[0] == KR_REQ_STATUS_COUNT,
               "every kf_req_status has a console look");

static const kr_look kr_unknown_look = {"?", ""};

static const kr_look *kr_status_look(kf_status s) {
  return (size_t)s < KR_STATUS_COUNT ? &kr_status_looks[s] : &kr_unknown_look;
}

static const kr_look *kr_req_look(kf_req_status s) {
  return (size_t)s < KR_REQ_STATUS_COUNT ? &kr_req_looks[s] : &kr_unknown_look;
}

/* State of a sink that writes cleaned text to a stream, indenting each line. */
typedef struct kr_console_sink {
  FILE *out;
  const char *indent;
  bool at_line_start;
} kr_console_sink;

/* kr_sink_fn that writes to a stream and puts indent in front of every line. */
static kf_rc kr_console_sink_write(void *ctx, const char *data, size_t len) {
  kr_console_sink *cs = ctx;
  size_t i = 0;
  while (i < len) {
    /* Empty lines stay empty: no trailing blanks from the indent. */
    if (cs->at_line_start && data[i] != '\n') {
      fputs(cs->indent, cs->out);
      cs->at_line_start = false;
    }
    const char *nl = memchr(data + i, '\n', len - i);
    size_t end = nl != NULL ? (size_t)(nl - data) + 1 : len;
    if (fwrite(data + i, 1, end - i, cs->out) != end - i)
      return KF_ERR_IO;
    if (nl != NULL)
      cs->at_line_start = true;
    i = end;
  }
  return KF_OK;
}

/*
 * Print the len bytes at text cleaned for a terminal, every line after the
 * first after indent (the first too when block is true). When block is true
 * the text starts on a fresh line and always ends with a newline.
 */
static void kr_console_textn(FILE *out, const char *text, size_t len, const char *indent,
                             bool block) {
  kr_console_sink cs = {.out = out, .indent = indent, .at_line_start = block};
  /* A stream error has nowhere better to go; ferror(out) keeps it. */
  (void)kr_text_clean_to(text, len, KR_CLEAN_TERMINAL, kr_console_sink_write, &cs);
  if (block && !cs.at_line_start)
    fputc('\n', out);
}

/* kr_console_textn for a NUL-terminated text; NULL prints nothing. */
static void kr_console_text(FILE *out, const char *text, const char *indent, bool block) {
  if (text != NULL)
    kr_console_textn(out, text, strlen(text), indent, block);
}

/* Print look's word padded to width, coloured when colour is on. */
static void kr_console_word(FILE *out, const kr_console_options *opt, const kr_look *look,
                            int width) {
  bool use = opt != NULL && opt->color && look->color[0] != '\0';
  int len = (int)strlen(look->word);
  fprintf(out, "%s%s%s", use ? look->color : "", look->word, use ? KR_ANSI_RESET : "");
  for (int i = len; i < width; i++)
    fputc(' ', out);
}

static void kr_console_status(FILE *out, const kr_console_options *opt, kf_status s, int width) {
  kr_console_word(out, opt, kr_status_look(s), width);
}

static void kr_console_heading(FILE *out, const kr_console_options *opt, const char *title) {
  bool use = opt != NULL && opt->color;
  fprintf(out, "\n%s%s%s\n", use ? KR_ANSI_BOLD : "", title, use ? KR_ANSI_RESET : "");
}

static const char *kr_or(const char *s, const char *fallback) {
  return s != NULL ? s : fallback;
}

bool kr_console_want_color(int fd) {
  const char *no_color = getenv("NO_COLOR");
  if (no_color != NULL && no_color[0] != '\0')
    return false;
  const char *term = getenv("TERM");
  if (term != NULL && strcmp(term, "dumb") == 0)
    return false;
  return isatty(fd) == 1;
}

/* Where the pieces of one step's details go, and how far they are indented. */
typedef struct kr_console_details {
  FILE *out;
  const kr_console_options *opt;
  const char *indent; /* Before every piece. */
  const char *sub;    /* Before each line of a request or response. */
  char cont[32];      /* Before the second and later lines of an assert. */
} kr_console_details;

/*
 * kr_piece_fn: an assert as its status word and text, a request or response
 * as a labelled block, anything else as a line.
 */
static kf_rc kr_console_piece(void *ctx, const kr_piece *piece) {
  kr_console_details *d = ctx;
  fputs(d->indent, d->out);
  if (piece->kind == KR_PIECE_ASSERT) {
    kr_console_status(d->out, d->opt, piece->status, 6);
    kr_console_textn(d->out, piece->text, piece->len, d->cont, false);
    fputc('\n', d->out);
  } else if (piece->kind == KR_PIECE_REQUEST || piece->kind == KR_PIECE_RESPONSE) {
    fprintf(d->out, "%s:\n", kr_piece_name(piece->kind));
    kr_console_textn(d->out, piece->text, piece->len, d->sub, true);
  } else {
    kr_console_textn(d->out, piece->text, piece->len, d->indent, false);
    fputc('\n', d->out);
  }
  return ferror(d->out) ? KF_ERR_IO : KF_OK;
}

/* A step's asserts (all, or those that did not pass), exchanges and artifacts. */
static void kr_console_details_of(FILE *out, const kr_console_options *opt,
                                  const kf_step_result *st, bool all_asserts, const char *indent,
                                  const char *sub) {
  kr_console_details d = {.out = out, .opt = opt, .indent = indent, .sub = sub};
  /* The indent is one of this file's literals; it always fits. */
  (void)kf_str_format(d.cont, sizeof d.cont, "%s      ", indent);
  if (kr_step_pieces(st, all_asserts, kr_console_piece, &d) == KF_ERR_NOMEM)
    fprintf(out, "%s(the rest of this step cannot be shown: out of memory)\n", indent);
}

/* Verbose mode: every step with its location, outcome, asserts and exchanges. */
static void kr_console_steps(FILE *out, const kr_console_options *opt,
                             const kf_scenario_result *sc) {
  for (size_t i = 0; i < sc->steps_len; i++) {
    const kf_step_result *st = &sc->steps[i];
    fprintf(out, "      %zu. ", i + 1);
    kr_console_status(out, opt, st->status, 6);
    kr_console_text(out, kr_or(st->label, ""), "", false);
    fputs("  (", out);
    kr_console_text(out, kr_or(st->file, "?"), "", false);
    fprintf(out, ":%u)  %" PRId64 " ms\n", st->line, st->duration_ms);
    kr_console_text(out, st->message, "         ", true);
    kr_console_details_of(out, opt, st, true, "         ", "           ");
  }
}

void kr_console_scenario(FILE *out, const kr_console_options *opt, const kf_scenario_result *sc,
                         size_t done, size_t total) {
  assert(out != NULL);
  assert(sc != NULL);
  int width = 1;
  for (size_t t = total; t >= 10; t /= 10)
    width++;
  /* One scenario's lines stay together even if another thread prints too. */
  flockfile(out);
  fprintf(out, "[%*zu/%zu] ", width, done, total);
  kr_console_status(out, opt, sc->status, 6);
  kr_console_text(out, kr_or(sc->name, "(unnamed)"), "", false);
  if (sc->covers_len > 0) {
    fputs("  (", out);
    for (size_t i = 0; i < sc->covers_len; i++) {
      if (i > 0)
        fputc(' ', out);
      kr_console_text(out, sc->covers[i], "", false);
    }
    fputc(')', out);
  }
  fprintf(out, "  %" PRId64 " ms\n", sc->duration_ms);
  if (opt != NULL && opt->verbose)
    kr_console_steps(out, opt, sc);
  funlockfile(out);
}

/* One failed or errored scenario: where, what, the failed expects and every exchange. */
static void kr_console_failure(FILE *out, const kr_console_options *opt,
                               const kf_scenario_result *sc) {
  kr_failure where;
  kr_failure_locate(sc, &where);
  const kf_step_result *st = where.step;

  fputs("  ", out);
  kr_console_status(out, opt, sc->status, 6);
  kr_console_text(out, kr_or(sc->name, "(unnamed)"), "", false);
  fputc('\n', out);
  fputs("      at ", out);
  kr_console_text(out, kr_or(where.file, "?"), "", false);
  fprintf(out, ":%u\n", where.line);
  kr_console_text(out, kr_or(where.message, "(no message)"), "      ", true);
  if (st != NULL) {
    fputs("      step: ", out);
    kr_console_text(out, kr_or(st->label, ""), "", false);
    fputs(" (", out);
    kr_console_text(out, kr_or(st->file, "?"), "", false);
    fprintf(out, ":%u)\n", st->line);
    kr_console_details_of(out, opt, st, false, "      ", "        ");
  }
}

/* Whether requirement i is the first of the catalogue with its area. */
static bool kr_area_first(const kf_run_result *run, size_t i) {
  const char *area = kr_or(run->requirements[i].area, "");
  for (size_t j = 0; j < i; j++) {
    if (strcmp(kr_or(run->requirements[j].area, ""), area) == 0)
      return false;
  }
  return true;
}

/* How many of one area's requirements have each verdict, indexed by kf_req_status. */
typedef struct kr_area_counts {
  size_t n[KR_REQ_STATUS_COUNT];
} kr_area_counts;

static void kr_area_count(const kf_run_result *run, const char *area, kr_area_counts *c) {
  memset(c, 0, sizeof *c);
  for (size_t j = 0; j < run->requirements_len; j++) {
    const kf_requirement *rq = &run->requirements[j];
    if (strcmp(kr_or(rq->area, ""), area) != 0)
      continue;
    size_t n = 0;
    kf_req_status st = kf_run_result_requirement_status(run, kr_or(rq->id, ""), &n);
    if ((size_t)st < KR_REQ_STATUS_COUNT)
      c->n[st]++;
  }
}

/* "    ACC-06   FAIL          1 scenario   title". */
static void kr_console_requirement(FILE *out, const kr_console_options *opt,
                                   const kf_run_result *run, const kf_requirement *rq) {
  size_t n = 0;
  kf_req_status st = kf_run_result_requirement_status(run, kr_or(rq->id, ""), &n);
  fputs("    ", out);
  int idlen = (int)strlen(kr_or(rq->id, ""));
  kr_console_text(out, kr_or(rq->id, ""), "", false);
  for (int k = idlen; k < 9; k++)
    fputc(' ', out);
  if (st == KF_REQ_NOT_CHECKED && rq->not_selected > 0) {
    /* Say why a requirement whose selected scenarios all passed is still not a pass. */
    kr_console_word(out, opt, kr_req_look(st), 0);
    fprintf(out, " (%zu of %zu scenarios selected)  ", n, n + rq->not_selected);
  } else {
    kr_console_word(out, opt, kr_req_look(st), 12);
    fprintf(out, "%3zu scenario%s  ", n, n == 1 ? " " : "s");
  }
  kr_console_text(out, kr_or(rq->title, ""), "", false);
  fputc('\n', out);
}

/* "  ACC     1 pass    2 fail    1 not checked". */
static void kr_console_area_counts(FILE *out, const char *area, const kr_area_counts *c) {
  fputs("  ", out);
  kr_console_text(out, area, "", false);
  for (int k = (int)strlen(area); k < 6; k++)
    fputc(' ', out);
  fprintf(out, "%3zu pass  %3zu fail  %3zu not checked\n", c->n[KF_REQ_PASS], c->n[KF_REQ_FAIL],
          c->n[KF_REQ_NOT_CHECKED]);
}

/* Every requirement, grouped by area in catalogue order, then counts per area. */
static void kr_console_requirements(FILE *out, const kr_console_options *opt,
                                    const kf_run_result *run) {
  kr_console_heading(out, opt, "Requirements:");
  for (size_t i = 0; i < run->requirements_len; i++) {
    if (!kr_area_first(run, i))
      continue;
    const char *area = kr_or(run->requirements[i].area, "");
    fputs("  ", out);
    kr_console_text(out, area[0] != '\0' ? area : "(no area)", "", false);
    fputc('\n', out);
    for (size_t j = i; j < run->requirements_len; j++) {
      if (strcmp(kr_or(run->requirements[j].area, ""), area) == 0)
        kr_console_requirement(out, opt, run, &run->requirements[j]);
    }
  }

  kr_console_heading(out, opt, "Requirements by area:");
  kr_area_counts total;
  memset(&total, 0, sizeof total);
  for (size_t i = 0; i < run->requirements_len; i++) {
    if (!kr_area_first(run, i))
      continue;
    const char *area = kr_or(run->requirements[i].area, "");
    kr_area_counts c;
    kr_area_count(run, area, &c);
    for (size_t k = 0; k < KR_REQ_STATUS_COUNT; k++)
      total.n[k] += c.n[k];
    kr_console_area_counts(out, area, &c);
  }
  kr_console_area_counts(out, "total", &total);
}

void kr_console_summary(FILE *out, const kr_console_options *opt, const kf_run_result *run) {
  assert(out != NULL);
  assert(run != NULL);
  kf_run_counts c;
  kf_run_result_counts(run, &c);

  flockfile(out);
  if (c.failed + c.errors > 0) {
    kr_console_heading(out, opt, "Failures and errors:");
    for (size_t i = 0; i < run->scenarios_len; i++) {
      const kf_scenario_result *sc = &run->scenarios[i];
      if (sc->status == KF_STATUS_FAIL || sc->status == KF_STATUS_ERROR)
        kr_console_failure(out, opt, sc);
    }
  }
  if (c.skipped > 0) {
    kr_console_heading(out, opt,
                       "Skipped (the target cannot support these; never counted as passed):");
    for (size_t i = 0; i < run->scenarios_len; i++) {
      const kf_scenario_result *sc = &run->scenarios[i];
      if (sc->status != KF_STATUS_SKIP)
        continue;
      fputs("  ", out);
      kr_console_status(out, opt, sc->status, 6);
      kr_console_text(out, kr_or(sc->name, "(unnamed)"), "", false);
      fputs(": ", out);
      kr_console_text(out, kr_or(sc->message, "(no reason given)"), "        ", false);
      fputc('\n', out);
    }
  }
  if (run->requirements_len > 0)
    kr_console_requirements(out, opt, run);

  char secs[48];
  if (kr_format_seconds(run->duration_ms, secs, sizeof secs) != KF_OK)
    secs[0] = '\0'; /* Cannot happen: 48 bytes hold any int64. */
  fputc('\n', out);
  fputs("target ", out);
  kr_console_text(out, kr_or(run->target, "?"), "", false);
  fprintf(out, ", seed %" PRIu64 ", run id %016" PRIx64 ", %zu scenarios in %s s\n", run->seed,
          run->run_id, c.total, secs);
  if (c.errors > 0)
    fprintf(out, "%zu error%s (counted as failed)\n", c.errors, c.errors == 1 ? "" : "s");
  /* CI parsers read this closing line; keep its form exactly. */
  fprintf(out, "%zu passed, %zu failed, %zu skipped\n", c.passed, c.failed + c.errors, c.skipped);
  funlockfile(out);
}
