/*
 * kr_console.c: the human-readable report on a terminal or in a CI log, and
 * the text helpers every report writer shares (see kr_priv.h).
 *
 * The console functions return nothing: a report line that cannot be printed
 * is not a reason to fail a run, and they never allocate, so there is nothing
 * to fail on except the stream itself.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "kf/run_result.h"
#include "kf/str.h"
#include "kf/utf8.h"
#include "kr/report.h"
#include "kr_priv.h"

/* ---------------------------------------------------------------------------
 * Shared text helpers.
 * ------------------------------------------------------------------------- */

/* What the cleaner does with one code point. */
typedef enum kr_clean_action { KR_KEEP, KR_DROP, KR_ESCAPE } kr_clean_action;

static const char kr_replacement_char[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Decide, for code point cp, whether it can stay as it is in this output. */
static kr_clean_action kr_clean_action_of(uint32_t cp, unsigned flags, bool lf_follows) {
  bool terminal = (flags & KR_CLEAN_TERMINAL) != 0;
  bool xml = (flags & KR_CLEAN_XML) != 0;

  if (cp == '\n' || cp == '\t')
    return KR_KEEP;
  if (cp == '\r') {
    /*
     * Reports show traces to people: CRLF reads as a plain line break (XML
     * would otherwise carry "&#13;" everywhere), and on a terminal a lone CR
     * would overwrite text.
     */
    if (terminal || xml)
      return lf_follows ? KR_DROP : (terminal ? KR_ESCAPE : KR_KEEP);
    return KR_KEEP;
  }
  if (cp < 0x20)
    return (terminal || xml) ? KR_ESCAPE : KR_KEEP;
  if (terminal && (cp == 0x7F || (cp >= 0x80 && cp <= 0x9F)))
    return KR_ESCAPE;
  if (xml && (cp == 0xFFFE || cp == 0xFFFF))
    return KR_ESCAPE;
  return KR_KEEP;
}

/* Hand s[start, end) to sink if it is not empty. */
static kf_rc kr_clean_flush(const char *s, size_t start, size_t end, kr_sink_fn sink, void *ctx) {
  assert(start <= end);
  if (start == end)
    return KF_OK;
  return sink(ctx, s + start, end - start);
}

kf_rc kr_text_clean_to(const char *s, unsigned flags, kr_sink_fn sink, void *ctx) {
  assert(s != NULL);
  assert(sink != NULL);
  size_t len = strlen(s);
  size_t take = len;
  if (take > KR_TEXT_IN_MAX) {
    take = KR_TEXT_IN_MAX;
    /* Back off to a character boundary so the cut does not look like bad input. */
    for (int back = 0; back < 3 && take > 0 && ((unsigned char)s[take] & 0xC0) == 0x80; back++)
      take--;
  }

  size_t run_start = 0;
  size_t i = 0;
  kf_rc rc;
  while (i < take) {
    unsigned char c = (unsigned char)s[i];
    uint32_t cp = c;
    size_t n = 1;
    if (c >= 0x80)
      n = kf_utf8_decode(s + i, take - i, &cp);
    if (n == 0) {
      /* Invalid UTF-8: one replacement character per bad byte, then resync. */
      rc = kr_clean_flush(s, run_start, i, sink, ctx);
      if (rc != KF_OK)
        return rc;
      rc = sink(ctx, kr_replacement_char, sizeof kr_replacement_char - 1);
      if (rc != KF_OK)
        return rc;
      i++;
      run_start = i;
      continue;
    }
    bool lf_follows = i + 1 < take && s[i + 1] == '\n';
    kr_clean_action action = kr_clean_action_of(cp, flags, lf_follows);
    if (action != KR_KEEP) {
      rc = kr_clean_flush(s, run_start, i, sink, ctx);
      if (rc != KF_OK)
        return rc;
      if (action == KR_ESCAPE) {
        char esc[16];
        rc = cp < 0x80 ? kf_str_format(esc, sizeof esc, "\\x%02X", (unsigned)cp)
                       : kf_str_format(esc, sizeof esc, "\\u%04X", (unsigned)cp);
        assert(rc == KF_OK);
        rc = sink(ctx, esc, strlen(esc));
        if (rc != KF_OK)
          return rc;
      }
      i += n;
      run_start = i;
      continue;
    }
    i += n;
  }
  rc = kr_clean_flush(s, run_start, take, sink, ctx);
  if (rc != KF_OK)
    return rc;
  if (take < len) {
    char note[64];
    rc = kf_str_format(note, sizeof note, "\n[... %zu more bytes cut]", len - take);
    assert(rc == KF_OK);
    rc = sink(ctx, note, strlen(note));
    if (rc != KF_OK)
      return rc;
  }
  return KF_OK;
}

/* kr_sink_fn that appends to a kf_buf. */
static kf_rc kr_buf_sink(void *ctx, const char *data, size_t len) {
  return kf_buf_append((kf_buf *)ctx, data, len);
}

kf_rc kr_text_clean(kf_buf *out, const char *s, unsigned flags) {
  assert(out != NULL);
  return kr_text_clean_to(s, flags, kr_buf_sink, out);
}

const char *kr_scenario_area(const kf_scenario_result *sc, char *out, size_t out_size) {
  assert(sc != NULL);
  assert(out != NULL && out_size >= 2);
  const char *id = sc->covers_len > 0 ? sc->covers[0] : NULL;
  size_t n = 0;
  if (id != NULL) {
    while (id[n] != '\0' && id[n] != '-' && n + 1 < out_size)
      n++;
  }
  if (n == 0) {
    /* "OTHER" may be cut to fit a small out; that is still a usable name. */
    (void)kf_str_copy(out, out_size, "OTHER");
    return out;
  }
  memcpy(out, id, n);
  out[n] = '\0';
  return out;
}

kf_rc kr_format_seconds(int64_t ms, char *out, size_t out_size) {
  if (ms < 0)
    ms = 0;
  return kf_str_format(out, out_size, "%" PRId64 ".%03" PRId64, ms / 1000, ms % 1000);
}

/* ---------------------------------------------------------------------------
 * Console output.
 * ------------------------------------------------------------------------- */

#define KR_ANSI_RESET "\033[0m"
#define KR_ANSI_BOLD "\033[1m"

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
 * Print text cleaned for a terminal, every line after indent. When block is
 * true the text starts on a fresh line and always ends with a newline.
 */
static void kr_console_text(FILE *out, const char *text, const char *indent, bool block) {
  if (text == NULL)
    return;
  kr_console_sink cs = {.out = out, .indent = indent, .at_line_start = block};
  /* A stream error has nowhere better to go; ferror(out) keeps it. */
  (void)kr_text_clean_to(text, KR_CLEAN_TERMINAL, kr_console_sink_write, &cs);
  if (block && !cs.at_line_start)
    fputc('\n', out);
}

static const char *kr_console_status_word(kf_status s) {
  switch (s) {
  case KF_STATUS_PASS:
    return "PASS";
  case KF_STATUS_FAIL:
    return "FAIL";
  case KF_STATUS_ERROR:
    return "ERROR";
  case KF_STATUS_SKIP:
    return "SKIP";
  }
  return "?";
}

static const char *kr_console_status_color(kf_status s) {
  switch (s) {
  case KF_STATUS_PASS:
    return "\033[32m";
  case KF_STATUS_FAIL:
    return "\033[1;31m";
  case KF_STATUS_ERROR:
    return "\033[1;35m";
  case KF_STATUS_SKIP:
    return "\033[33m";
  }
  return "";
}

/* Print word padded to width, coloured with color when colour is on. */
static void kr_console_word(FILE *out, const kr_console_options *opt, const char *word,
                            const char *color, int width) {
  bool use = opt != NULL && opt->color && color[0] != '\0';
  int len = (int)strlen(word);
  fprintf(out, "%s%s%s", use ? color : "", word, use ? KR_ANSI_RESET : "");
  for (int i = len; i < width; i++)
    fputc(' ', out);
}

static void kr_console_status(FILE *out, const kr_console_options *opt, kf_status s, int width) {
  kr_console_word(out, opt, kr_console_status_word(s), kr_console_status_color(s), width);
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

/* The exchanges of a step, request then response; labels at indent, text at sub. */
static void kr_console_traces(FILE *out, const kf_step_result *st, const char *indent,
                              const char *sub) {
  kf_buf text;
  kf_buf_init(&text, KR_TEXT_IN_MAX);
  for (size_t i = 0; i < st->exchanges_len; i++) {
    for (int side = 0; side < 2; side++) {
      kf_buf_reset(&text);
      /* A trace over the cap is still shown, cut. */
      (void)kr_exchange_text(&st->exchanges[i], side == 0, &text);
      fprintf(out, "%s%s:\n", indent, side == 0 ? "request" : "response");
      kr_console_text(out, text.data != NULL ? text.data : "", sub, true);
    }
  }
  kf_buf_release(&text);
}

/* Verbose mode: every step with its location, outcome and traces. */
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
    if (st->message != NULL)
      kr_console_text(out, st->message, "         ", true);
    kr_console_traces(out, st, "         ", "           ");
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

/* The step that caused a scenario's failure or error, or NULL. */
void kr_failure_locate(const kf_scenario_result *sc, kr_failure *out) {
  out->step = NULL;
  for (size_t i = 0; i < sc->steps_len && out->step == NULL; i++) {
    if (sc->steps[i].status == sc->status)
      out->step = &sc->steps[i];
  }
  for (size_t i = 0; i < sc->steps_len && out->step == NULL; i++) {
    if (sc->steps[i].status == KF_STATUS_FAIL || sc->steps[i].status == KF_STATUS_ERROR)
      out->step = &sc->steps[i];
  }
  const kf_step_result *st = out->step;
  out->file = sc->fail_file;
  out->line = sc->fail_line;
  if (out->file == NULL && st != NULL) {
    out->file = st->file;
    out->line = st->fail_line != 0 ? st->fail_line : st->line;
  }
  if (out->file == NULL) {
    out->file = sc->file != NULL ? sc->file : "?";
    out->line = sc->line;
  }
  out->message = sc->message != NULL ? sc->message : (st != NULL ? st->message : NULL);
}

/* One failed or errored scenario: where, what, and the HTTP exchange. */
static void kr_console_failure(FILE *out, const kr_console_options *opt,
                               const kf_scenario_result *sc) {
  kr_failure where;
  kr_failure_locate(sc, &where);
  const kf_step_result *st = where.step;
  const char *file = where.file;
  unsigned line = where.line;
  const char *message = where.message;

  fputs("  ", out);
  kr_console_status(out, opt, sc->status, 6);
  kr_console_text(out, kr_or(sc->name, "(unnamed)"), "", false);
  fputc('\n', out);
  fputs("      at ", out);
  kr_console_text(out, kr_or(file, "?"), "", false);
  fprintf(out, ":%u\n", line);
  kr_console_text(out, kr_or(message, "(no message)"), "      ", true);
  if (st != NULL) {
    fputs("      step: ", out);
    kr_console_text(out, kr_or(st->label, ""), "", false);
    fputs(" (", out);
    kr_console_text(out, kr_or(st->file, "?"), "", false);
    fprintf(out, ":%u)\n", st->line);
    kr_console_traces(out, st, "      ", "        ");
  }
}

static const char *kr_req_word(kf_req_status s) {
  switch (s) {
  case KF_REQ_PASS:
    return "pass";
  case KF_REQ_FAIL:
    return "FAIL";
  case KF_REQ_NOT_CHECKED:
    return "not checked";
  }
  return "?";
}

static const char *kr_req_color(kf_req_status s) {
  switch (s) {
  case KF_REQ_PASS:
    return "\033[32m";
  case KF_REQ_FAIL:
    return "\033[1;31m";
  case KF_REQ_NOT_CHECKED:
    return "\033[33m";
  }
  return "";
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

/* Counts of one area's requirements by verdict. */
typedef struct kr_area_counts {
  size_t pass, fail, not_checked;
} kr_area_counts;

static void kr_area_count(const kf_run_result *run, const char *area, kr_area_counts *c) {
  memset(c, 0, sizeof *c);
  for (size_t j = 0; j < run->requirements_len; j++) {
    const kf_requirement *rq = &run->requirements[j];
    if (strcmp(kr_or(rq->area, ""), area) != 0)
      continue;
    size_t n = 0;
    switch (kf_run_result_requirement_status(run, kr_or(rq->id, ""), &n)) {
    case KF_REQ_PASS:
      c->pass++;
      break;
    case KF_REQ_FAIL:
      c->fail++;
      break;
    case KF_REQ_NOT_CHECKED:
      c->not_checked++;
      break;
    }
  }
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
      const kf_requirement *rq = &run->requirements[j];
      if (strcmp(kr_or(rq->area, ""), area) != 0)
        continue;
      size_t n = 0;
      kf_req_status st = kf_run_result_requirement_status(run, kr_or(rq->id, ""), &n);
      fputs("    ", out);
      int idlen = (int)strlen(kr_or(rq->id, ""));
      kr_console_text(out, kr_or(rq->id, ""), "", false);
      for (int k = idlen; k < 9; k++)
        fputc(' ', out);
      if (st == KF_REQ_NOT_CHECKED && rq->not_selected > 0) {
        /* Say why a requirement whose selected scenarios all passed is still not a pass. */
        kr_console_word(out, opt, kr_req_word(st), kr_req_color(st), 0);
        fprintf(out, " (%zu of %zu scenarios selected)  ", n, n + rq->not_selected);
      } else {
        kr_console_word(out, opt, kr_req_word(st), kr_req_color(st), 12);
        fprintf(out, "%3zu scenario%s  ", n, n == 1 ? " " : "s");
      }
      kr_console_text(out, kr_or(rq->title, ""), "", false);
      fputc('\n', out);
    }
  }

  kr_console_heading(out, opt, "Requirements by area:");
  kr_area_counts total = {0, 0, 0};
  for (size_t i = 0; i < run->requirements_len; i++) {
    if (!kr_area_first(run, i))
      continue;
    const char *area = kr_or(run->requirements[i].area, "");
    kr_area_counts c;
    kr_area_count(run, area, &c);
    total.pass += c.pass;
    total.fail += c.fail;
    total.not_checked += c.not_checked;
    fputs("  ", out);
    int alen = (int)strlen(area);
    kr_console_text(out, area, "", false);
    for (int k = alen; k < 6; k++)
      fputc(' ', out);
    fprintf(out, "%3zu pass  %3zu fail  %3zu not checked\n", c.pass, c.fail, c.not_checked);
  }
  fprintf(out, "  total %3zu pass  %3zu fail  %3zu not checked\n", total.pass, total.fail,
          total.not_checked);
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
