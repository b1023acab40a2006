/*
 * kr_priv.h: helpers the report writers share. Private to reports/src.
 *
 * kr_text.c cleans text for a medium and names areas and durations;
 * kr_step.c turns what a step recorded (asserts, exchanges, artifacts) into
 * the pieces of text every writer shows and finds where a scenario failed;
 * kr_stream.c holds the atomic file writer and the streamed reports. None of them keeps state
 * between calls.
 */
#ifndef KR_PRIV_H
#define KR_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "kf/run_result.h"
#include "kr/report.h"

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

/* How many values an X-macro table such as KF_STATUSES has. */
#define KR_X_COUNT(name, text) +1
enum {
  KR_STATUS_COUNT = 0 KF_STATUSES(KR_X_COUNT),
  KR_REQ_STATUS_COUNT = 0 KF_REQ_STATUSES(KR_X_COUNT)
};

/* Return rc from the current writer function if expr did not give KF_OK. */
#define KR_TRY(expr)                                                                               \
  do {                                                                                             \
    kf_rc kr_try_rc_ = (expr);                                                                     \
    if (kr_try_rc_ != KF_OK)                                                                       \
      return kr_try_rc_;                                                                           \
  } while (0)

/*
 * Flags for kr_text_clean_to. Invalid UTF-8 always becomes U+FFFD and a NUL
 * byte always becomes the visible escape "\x00".
 */
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
 * Feed the len bytes at s (any bytes, NULs included) through the cleaning
 * rules of flags into sink. Input past KR_TEXT_IN_MAX bytes is dropped and a
 * note "[... N more bytes cut]" is emitted instead. Returns the first error
 * of sink.
 */
kf_rc kr_text_clean_to(const char *s, size_t len, unsigned flags, kr_sink_fn sink, void *ctx);

/*
 * Clean the len bytes at s into out (which the caller initialised, ideally
 * with KR_TEXT_OUT_MAX as cap). The result is valid UTF-8 without NUL bytes.
 * out keeps ownership.
 */
kf_rc kr_text_clean_n(kf_buf *out, const char *s, size_t len, unsigned flags);
/* kr_text_clean_n for the NUL-terminated s. */
kf_rc kr_text_clean(kf_buf *out, const char *s, unsigned flags);

/* How kr_quote escapes (kr_quote.c). */
typedef enum kr_quote_style {
  /* A JSON string that is safe inside an HTML element: '<', '>', '&' as \u escapes. */
  KR_QUOTE_JSON_HTML,
  /* A YAML double-quoted scalar that TAP's YAMLish readers take: only \" \\ \n \t. */
  KR_QUOTE_YAML
} kr_quote_style;

/*
 * Append the len bytes at s (any bytes) as one double-quoted string: cleaned
 * with KR_CLEAN_TERMINAL (so only LF and tab remain of the control
 * characters, the rest visible escapes), then escaped for style. The result
 * is valid UTF-8 on one line. KF_ERR_NOMEM or KF_ERR_LIMIT from out.
 */
kf_rc kr_quote_n(kf_buf *out, const char *s, size_t len, kr_quote_style style);
/* kr_quote_n for the NUL-terminated s; NULL is the empty string. */
kf_rc kr_quote(kf_buf *out, const char *s, kr_quote_style style);

/*
 * The requirement area of a scenario: the prefix before the first '-' of its
 * first covered ID ("ACC-06" -> "ACC"), or "OTHER" if it covers nothing.
 * Writes into out (out_size >= 2) and returns out.
 */
const char *kr_scenario_area(const kf_scenario_result *sc, char *out, size_t out_size);

/* Whether sc's area (kr_scenario_area) is area. */
bool kr_scenario_in_area(const kf_scenario_result *sc, const char *area);

/*
 * The scenarios of area counted by status into out, and (when ms_out is not
 * NULL) their durations summed, negative ones as 0.
 */
void kr_area_scenarios(const kf_run_result *run, const char *area, kf_run_counts *out,
                       int64_t *ms_out);

/* Receives one area name; returns KF_OK or stops the walk. */
typedef kf_rc (*kr_area_fn)(void *ctx, const char *area);

/*
 * Hand every area of run to fn once, in the order the reports list them: the
 * catalogue's areas in catalogue order, then the areas of scenarios outside
 * the catalogue (kr_scenario_area, "OTHER" among them) in scenario order. A
 * requirement without an area has area "". Allocates nothing; returns the
 * first error of fn.
 */
kf_rc kr_areas_each(const kf_run_result *run, kr_area_fn fn, void *ctx);

/* one when n is 1, else many: "1 scenario", "2 scenarios". */
const char *kr_plural(size_t n, const char *one, const char *many);

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
 * The same in steps, for a report written piece by piece: open makes the
 * temporary file, write appends to it, commit syncs it and renames it over
 * path, abort removes it. After a failed write the caller aborts; a failed
 * commit has already cleaned up. path is borrowed until commit or abort.
 */
typedef struct kr_atomic {
  const char *path;
  char *tmp;
  int fd;
} kr_atomic;
kf_rc kr_atomic_open(kr_atomic *f, const char *path, kf_err *err);
kf_rc kr_atomic_write(kr_atomic *f, const char *data, size_t len, kf_err *err);
kf_rc kr_atomic_commit(kr_atomic *f, kf_err *err);
void kr_atomic_abort(kr_atomic *f);

/*
 * A format that is written as a stream (kr_stream.c; report.h). scenario
 * appends to out the bytes of scenario number index (0 for the first) as
 * they stand in the report, separators included, from sc alone; scenarios
 * come in any order, and the stream puts their bytes in the run's order. finish
 * writes the whole file to f: what comes before the scenarios, the
 * scenarios' bytes (kr_stream_copy), what comes after; it may read only what
 * a run keeps of every scenario (name, place, covers, tags, status, message).
 */
typedef struct kr_stream_ops {
  kr_write_fn format;
  /* May be NULL: called by kr_stream_open, on the thread that opens, before any scenario. */
  void (*prepare)(void);
  kf_rc (*scenario)(kf_buf *out, const kf_scenario_result *sc, size_t index);
  kf_rc (*finish)(kr_stream *s, const kf_run_result *run, kr_atomic *f, kf_err *err);
} kr_stream_ops;

extern const kr_stream_ops kr_json_stream;
extern const kr_stream_ops kr_junit_stream;
extern const kr_stream_ops kr_html_stream;
extern const kr_stream_ops kr_tap_stream;
extern const kr_stream_ops kr_tap13_stream;

/* The row of format, or NULL when it is not streamed. */
const kr_stream_ops *kr_stream_ops_of(kr_write_fn format);
/* How many scenarios s was given (at the close: every one of the run). */
size_t kr_stream_count(const kr_stream *s);
/* Append the scenarios' bytes to f in the run's order. */
kf_rc kr_stream_copy(kr_stream *s, kr_atomic *f, kf_err *err);
/* Append the bytes of scenario number index only (for a format that groups the scenarios). */
kf_rc kr_stream_copy_one(kr_stream *s, kr_atomic *f, size_t index, kf_err *err);
/* A whole run through a stream: the writers of streamed formats are this, so both read alike. */
kf_rc kr_stream_write_run(kr_write_fn format, const kf_run_result *run, const char *path,
                          kf_err *err);

/*
 * Append one side of ex as text: the request ("METHOD URL", headers, blank
 * line, body) or the response ("HTTP status", headers, blank line, body; or
 * why no answer came). Bodies are formatted for people (kr_body.h: JSON
 * indented, a mail's text as lines) or else copied byte for byte (NULs
 * included): clean them for the medium afterwards (kr_text_clean_n).
 */
kf_rc kr_exchange_text(const kf_exchange *ex, bool request, kf_buf *out);

/*
 * The kinds of text a step's details consist of, in the order the writers
 * show them: its asserts, then each exchange (a title, the request, the
 * response), then its artifacts. The names are the labels the writers put in
 * front of request and response.
 */
#define KR_PIECES(X)                                                                               \
  X(ASSERT, "expect")                                                                              \
  X(EXCHANGE, "exchange")                                                                          \
  X(REQUEST, "request")                                                                            \
  X(RESPONSE, "response")                                                                          \
  X(ARTIFACT, "artifact")

typedef enum kr_piece_kind {
#define KR_PIECE_ENUM(name, text) KR_PIECE_##name,
  KR_PIECES(KR_PIECE_ENUM)
#undef KR_PIECE_ENUM
} kr_piece_kind;

/* "expect", "exchange", "request", "response", "artifact". */
const char *kr_piece_name(kr_piece_kind kind);

/* One piece of a step's details, borrowed for the duration of the callback. */
typedef struct kr_piece {
  kr_piece_kind kind;
  kf_status status; /* ASSERT: the assert's outcome; otherwise the step's status. */
  /*
   * Not cleaned; may hold any bytes, NULs included (len counts them). An
   * ASSERT is "expect ...  (file:line)" and indented "expected:", "actual:"
   * and "message:" lines (a failed one always has the first two); an EXCHANGE "exchange 2 of 3:
   * wait mail, 5 ms"; an ARTIFACT "artifact: name, media type, N bytes"; REQUEST and RESPONSE as
   * kr_exchange_text. Never ends with a newline.
   */
  const char *text;
  size_t len;
} kr_piece;

typedef kf_rc (*kr_piece_fn)(void *ctx, const kr_piece *piece);

/*
 * Hand the details of st to fn, piece by piece. With all_asserts false only
 * the asserts that did not pass are shown. A text over KR_TEXT_IN_MAX is
 * handed over as far as it fits. Returns the first error of fn, or
 * KF_ERR_NOMEM.
 */
kf_rc kr_step_pieces(const kf_step_result *st, bool all_asserts, kr_piece_fn fn, void *ctx);

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
