/*
 * kr_priv.h: helpers the report writers share. Private to reports/src.
 *
 * The text helpers and the area helper live in kr_console.c; the atomic file
 * writer lives in kr_json.c. None of them keeps state between calls.
 */
#ifndef KR_PRIV_H
#define KR_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "kf/run_result.h"

/*
 * The most bytes of one input string (a trace, a message) a report copies.
 * Longer text is cut there and marked, so one huge response body cannot blow
 * up a report. Every byte expands to at most 6 output bytes ("\u009B").
 */
#define KR_TEXT_IN_MAX ((size_t)1 << 20)
#define KR_TEXT_OUT_MAX (6 * KR_TEXT_IN_MAX + 64)
/* The cap on a whole serialised report (JSON or XML). */
#define KR_REPORT_MAX ((size_t)512 << 20)
/* The longest area name kept ("ACC", "PROF"); longer prefixes are cut. */
#define KR_AREA_MAX 32

/* Flags for kr_text_clean_to. Invalid UTF-8 always becomes U+FFFD. */
enum {
  /*
   * Replace the characters XML 1.0 forbids (C0 controls other than tab, LF
   * and CR; U+FFFE and U+FFFF) with a visible escape such as "\x01". A CR
   * directly before LF is dropped.
   */
  KR_CLEAN_XML = 1u << 0,
  /*
   * For terminals: replace every C0 control except LF and tab, DEL and the C1
   * controls with a visible escape, so a trace can never move the cursor or
   * start an ANSI sequence. A CR directly before LF is dropped.
   */
  KR_CLEAN_TERMINAL = 1u << 1
};

/* Receives cleaned text piece by piece; returns KF_OK or stops the cleaning. */
typedef kf_rc (*kr_sink_fn)(void *ctx, const char *data, size_t len);

/*
 * Feed s (NUL-terminated, may be any bytes) through the cleaning rules of
 * flags into sink. Input past KR_TEXT_IN_MAX bytes is dropped and a note
 * "[... N more bytes cut]" is emitted instead. Returns the first error of sink.
 */
kf_rc kr_text_clean_to(const char *s, unsigned flags, kr_sink_fn sink, void *ctx);

/*
 * Clean s into out (which the caller initialised, ideally with
 * KR_TEXT_OUT_MAX as cap). The result is valid UTF-8. out keeps ownership.
 */
kf_rc kr_text_clean(kf_buf *out, const char *s, unsigned flags);

/*
 * The requirement area of a scenario: the prefix before the first '-' of its
 * first covered ID ("ACC-06" -> "ACC"), or "OTHER" if it covers nothing.
 * Writes into out (out_size >= 2) and returns out.
 */
const char *kr_scenario_area(const kf_scenario_result *sc, char *out, size_t out_size);

/* Integer milliseconds as seconds with three decimals ("1.250"); negative as 0. */
kf_rc kr_format_seconds(int64_t ms, char *out, size_t out_size);

/*
 * Replace the file at path with exactly len bytes of data: write a temporary
 * file next to it, fsync it and rename it over path, so a crash or an error
 * never leaves a partly written report at path. On failure the temporary file
 * is removed and path keeps its old content (or stays absent).
 */
kf_rc kr_file_write_atomic(const char *path, const char *data, size_t len, kf_err *err);

/*
 * Append one side of ex as text: the request ("METHOD URL", headers, blank
 * line, body) or the response ("HTTP status", headers, blank line, body; or
 * why no answer came). Bodies are copied as they are: clean them for the
 * medium afterwards (kr_text_clean).
 */
kf_rc kr_exchange_text(const kf_exchange *ex, bool request, kf_buf *out);

/* Return rc from the current writer function if expr did not give KF_OK. */
#define KR_TRY(expr)                                                                               \
  do {                                                                                             \
    kf_rc kr_try_rc_ = (expr);                                                                     \
    if (kr_try_rc_ != KF_OK)                                                                       \
      return kr_try_rc_;                                                                           \
  } while (0)

/* Where and why a failed or errored scenario failed, as the reports show it. */
typedef struct kr_failure {
  const kf_step_result *step; /* The failing step, or NULL. */
  const char *file;           /* Never NULL: the scenario's file at worst. */
  unsigned line;
  const char *message; /* May be NULL when nothing recorded one. */
} kr_failure;

/*
 * Locate sc's failure: the recorded failure position, else the failing step's
 * (its failed expect line first), else the scenario's own. The failing step is
 * the first with the scenario's status, else the first that failed or errored.
 * Everything points into sc.
 */
void kr_failure_locate(const kf_scenario_result *sc, kr_failure *out);

#endif
