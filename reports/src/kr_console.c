/*
 * kr_console.c: the human-readable report on a terminal or in a CI log: the
 * line per finished scenario (with its steps when traced), the failure view
 * after the run and, through kr_summary.c, the summary that ends it. Every
 * line goes through one kr_out, which keeps it within KR_CONSOLE_WIDTH.
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
#include "kr_out.h"
#include "kr_priv.h"
#include "kr_summary.h"

static const char *const kr_trace_names[] = {
#define KR_TRACE_NAME(name, text) [KR_TRACE_##name] = text,
    KR_TRACE_MODES(KR_TRACE_NAME)
#undef KR_TRACE_NAME
};

#define KR_TRACE_COUNT (sizeof kr_trace_names / sizeof kr_trace_names[0])

const char *kr_trace_mode_name(kr_trace_mode mode) {
  return (size_t)mode < KR_TRACE_COUNT ? kr_trace_names[mode] : "?";
}

kf_rc kr_trace_mode_parse(const char *name, kr_trace_mode *out) {
  assert(out != NULL);
  for (size_t i = 0; name != NULL && i < KR_TRACE_COUNT; i++) {
    if (strcmp(name, kr_trace_names[i]) == 0) {
      *out = (kr_trace_mode)i;
      return KF_OK;
    }
  }
  return KF_ERR_INVALID;
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
  kr_out *o;
  size_t indent; /* Before every piece. */
  size_t sub;    /* Before each line of a request or response. */
} kr_console_details;

/* Width of an assert's status word, and of "  expected: " under it. */
enum { KR_WORD_PAD = 6, KR_LABEL_PAD = 12 };

/*
 * kr_piece_fn: an assert as its status word and text, a request or response
 * as a labelled block, anything else as a line.
 */
static kf_rc kr_console_piece(void *ctx, const kr_piece *piece) {
  kr_console_details *d = ctx;
  kr_out *o = d->o;
  kr_out_end_line(o);
  kr_out_blanks(o, d->indent);
  if (piece->kind == KR_PIECE_ASSERT) {
    kr_out_status(o, piece->status, KR_WORD_PAD);
    kr_out_margins(o, d->indent + KR_WORD_PAD, d->indent + KR_WORD_PAD + KR_LABEL_PAD);
  } else if (piece->kind == KR_PIECE_REQUEST || piece->kind == KR_PIECE_RESPONSE) {
    kr_out_text(o, kr_piece_name(piece->kind));
    kr_out_text(o, ":");
    kr_out_nl(o);
    kr_out_margins(o, d->sub, d->sub + 2);
    kr_out_blanks(o, d->sub);
  } else {
    kr_out_margins(o, d->indent, d->indent + 2);
  }
  kr_out_textn(o, piece->text, piece->len);
  kr_out_end_line(o);
  return ferror(o->fp) ? KF_ERR_IO : KF_OK;
}

/* A step's asserts (all, or those that did not pass), exchanges and artifacts. */
static void kr_console_details_of(kr_out *o, const kf_step_result *st, bool all_asserts,
                                  size_t indent, size_t sub) {
  kr_console_details d = {.o = o, .indent = indent, .sub = sub};
  if (kr_step_pieces(st, all_asserts, kr_console_piece, &d) == KF_ERR_NOMEM) {
    kr_out_end_line(o);
    kr_out_margins(o, indent, indent + 2);
    kr_out_blanks(o, indent);
    kr_out_text(o, "(the rest of this step cannot be shown: out of memory)");
    kr_out_nl(o);
  }
}

/* Every step with its location, outcome, asserts (all or the failed) and exchanges. */
static void kr_console_steps(kr_out *o, const kf_scenario_result *sc, bool all_asserts) {
  for (size_t i = 0; i < sc->steps_len; i++) {
    const kf_step_result *st = &sc->steps[i];
    kr_out_margins(o, 9, 11);
    kr_out_printf(o, "      %zu. ", i + 1);
    kr_out_status(o, st->status, KR_WORD_PAD);
    kr_out_text(o, kr_or(st->label, ""));
    kr_out_text(o, "  (");
    kr_out_text(o, kr_or(st->file, "?"));
    kr_out_printf(o, ":%u)  %" PRId64 " ms", st->line, st->duration_ms);
    kr_out_nl(o);
    if (st->message != NULL) {
      kr_out_blanks(o, 9);
      kr_out_text(o, st->message);
      kr_out_nl(o);
    }
    kr_console_details_of(o, st, all_asserts, 9, 11);
  }
}

/* What follows a scenario's name on its line: "  (ACC-06 ACC-08)  12 ms". */
static void kr_console_scenario_tail(kr_out *o, const kf_scenario_result *sc) {
  if (sc->covers_len > 0) {
    kr_out_text(o, "  (");
    for (size_t i = 0; i < sc->covers_len; i++) {
      if (i > 0)
        kr_out_text(o, " ");
      kr_out_text(o, sc->covers[i]);
    }
    kr_out_text(o, ")");
  }
  kr_out_printf(o, "  %" PRId64 " ms", sc->duration_ms);
}

/* The characters kr_console_scenario_tail takes. */
static size_t kr_console_tail_cols(const kf_scenario_result *sc) {
  char ms[32];
  size_t n = kf_str_format(ms, sizeof ms, "  %" PRId64 " ms", sc->duration_ms) == KF_OK ? strlen(ms)
                                                                                        : sizeof ms;
  for (size_t i = 0; i < sc->covers_len; i++)
    n += kr_out_cols(sc->covers[i]) + 1;
  return sc->covers_len > 0 ? n + 3 : n;
}

void kr_console_scenario(FILE *out, const kr_console_options *opt, const kf_scenario_result *sc,
                         size_t done, size_t total) {
  assert(out != NULL);
  assert(sc != NULL);
  int width = 1;
  for (size_t t = total; t >= 10; t /= 10)
    width++;
  kr_out o;
  kr_out_init(&o, out, opt != NULL && opt->color);
  /* One scenario's lines stay together even if another thread prints too. */
  flockfile(out);
  kr_out_margins(&o, 8, 8);
  kr_out_printf(&o, "[%*zu/%zu] ", width, done, total);
  kr_out_status(&o, sc->status, KR_WORD_PAD);
  /* The name gives way to what follows it, down to a readable part. */
  size_t room = kr_out_room(&o), tail = kr_console_tail_cols(sc);
  kr_out_cut(&o, kr_or(sc->name, "(unnamed)"), room > tail + 24 ? room - tail : 24);
  kr_console_scenario_tail(&o, sc);
  kr_out_nl(&o);
  bool verbose = opt != NULL && opt->verbose;
  if (verbose || (opt != NULL && opt->trace == KR_TRACE_ALL))
    kr_console_steps(&o, sc, verbose);
  funlockfile(out);
}

/* One failed or errored scenario: where, what, the failed expects and every exchange. */
static void kr_console_failure(kr_out *o, const kf_scenario_result *sc) {
  kr_failure where;
  kr_failure_locate(sc, &where);
  const kf_step_result *st = where.step;

  kr_out_margins(o, 8, 8);
  kr_out_blanks(o, 2);
  kr_out_status(o, sc->status, KR_WORD_PAD);
  kr_out_text(o, kr_or(sc->name, "(unnamed)"));
  kr_out_nl(o);
  kr_out_margins(o, 6, 8);
  kr_out_text(o, "      at ");
  kr_out_text(o, kr_or(where.file, "?"));
  kr_out_printf(o, ":%u", where.line);
  kr_out_nl(o);
  kr_out_blanks(o, 6);
  kr_out_text(o, kr_or(where.message, "(no message)"));
  kr_out_nl(o);
  if (st != NULL) {
    kr_out_text(o, "      step: ");
    kr_out_text(o, kr_or(st->label, ""));
    kr_out_text(o, " (");
    kr_out_text(o, kr_or(st->file, "?"));
    kr_out_printf(o, ":%u)", st->line);
    kr_out_nl(o);
    kr_console_details_of(o, st, false, 6, 8);
  }
}

/* "  SKIP  name: why" for every skipped scenario. */
static void kr_console_skipped(kr_out *o, const kf_run_result *run) {
  kr_out_heading(o, "Skipped (the target cannot support these; never counted as passed):");
  for (size_t i = 0; i < run->scenarios_len; i++) {
    const kf_scenario_result *sc = &run->scenarios[i];
    if (sc->status != KF_STATUS_SKIP)
      continue;
    kr_out_margins(o, 8, 8);
    kr_out_blanks(o, 2);
    kr_out_status(o, sc->status, KR_WORD_PAD);
    kr_out_text(o, kr_or(sc->name, "(unnamed)"));
    kr_out_text(o, ": ");
    kr_out_text(o, kr_or(sc->message, "(no reason given)"));
    kr_out_nl(o);
  }
}

void kr_console_summary(FILE *out, const kr_console_options *opt, const kf_run_result *run) {
  assert(out != NULL);
  assert(run != NULL);
  kf_run_counts c;
  kf_run_result_counts(run, &c);
  kr_out o;
  kr_out_init(&o, out, opt != NULL && opt->color);

  flockfile(out);
  if (c.failed + c.errors > 0) {
    kr_out_heading(&o, "Failures and errors:");
    for (size_t i = 0; i < run->scenarios_len; i++) {
      const kf_scenario_result *sc = &run->scenarios[i];
      if (sc->status == KF_STATUS_FAIL || sc->status == KF_STATUS_ERROR)
        kr_console_failure(&o, sc);
    }
  }
  if (c.skipped > 0)
    kr_console_skipped(&o, run);
  if (opt != NULL && opt->verbose)
    kr_summary_requirements(&o, run);
  kr_summary_print(&o, run);
  funlockfile(out);
}
