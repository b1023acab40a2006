/*
 * report.h: the report writers. They only read a kf_run_result; they never
 * run anything and never see the parser or the network. KR_FORMATS lists
 * them for `--report KIND=PATH`. All of them show the same things of a step: its asserts (expects),
 * every exchange it made (request and response, or why no answer came) and the artifacts it kept.
 *
 * Ownership: the writers only borrow run and allocate nothing the caller must
 * free; each file is replaced atomically (temporary file, then rename).
 */
#ifndef KR_REPORT_H
#define KR_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "kf/error.h"
#include "kf/run_result.h"

/*
 * Which steps the console traces (prints with their exchanges) as each
 * scenario finishes. FAILED, the default, traces none there: the failure view
 * at the end shows the exchanges of every failing step in both modes. ALL
 * prints every step with its exchanges, artifacts and the expects that did
 * not hold. The names are what `--trace` takes.
 */
#define KR_TRACE_MODES(X)                                                                          \
  X(FAILED, "failed")                                                                              \
  X(ALL, "all")

typedef enum kr_trace_mode {
#define KR_TRACE_ENUM(name, text) KR_TRACE_##name,
  KR_TRACE_MODES(KR_TRACE_ENUM)
#undef KR_TRACE_ENUM
} kr_trace_mode;

/* "failed", "all"; "?" for a value outside the table. */
const char *kr_trace_mode_name(kr_trace_mode mode);
/* The mode named name ("failed", "all"); KF_ERR_INVALID for any other name. */
kf_rc kr_trace_mode_parse(const char *name, kr_trace_mode *out);

/* The widest line the console writes, in characters (code points, colours not counted). */
#define KR_CONSOLE_WIDTH 100

typedef struct kr_console_options {
  bool color; /* Use ANSI colour (see kr_console_want_color). */
  /*
   * Every step and every assert, passing ones too, with the exchanges: as
   * trace ALL plus the expects that held, and the whole requirement table
   * before the summary. -v sets it.
   */
  bool verbose;
  kr_trace_mode trace; /* Zero-initialised: KR_TRACE_FAILED. */
} kr_console_options;

/*
 * Colour only when fd is a terminal and NO_COLOR is unset or empty
 * (https://no-color.org), and TERM is not "dumb".
 */
bool kr_console_want_color(int fd);

/*
 * One line as a scenario finishes: "[ 3/41] PASS  name  (ACC-06)  12 ms", the
 * name cut with "…" where the line would pass KR_CONSOLE_WIDTH; with verbose
 * or trace ALL its steps follow. Thread-safe callers serialise.
 */
void kr_console_scenario(FILE *out, const kr_console_options *opt, const kf_scenario_result *sc,
                         size_t done, size_t total);
/*
 * After the run, every line at most KR_CONSOLE_WIDTH columns (long texts
 * wrap, long names are cut with "…"):
 *  - the failure view: every failed or errored scenario with file:line, its
 *    message, the failing step's expects that did not hold ("expected:" and
 *    "actual:" lines, never cut), every exchange of that step (JSON bodies
 *    indented, a mail's text as lines) and its artifacts; then the skipped
 *    scenarios with their reasons; with verbose the whole requirement table;
 *  - the summary: scenario counts per area, the failures one by one, the
 *    requirement verdicts per area, one line per requirement that failed or
 *    was not checked (with why), the requirements no scenario covers summed
 *    in one list;
 *  - "target NAME (URL)" and "seed N, run id HEX, N scenarios in S s": the
 *    run is printed once more at the end, so the CLI need not;
 *  - when there are errors, "N error(s) (counted as failed)";
 *  - when scenarios were skipped, "N scenario(s) not checked: 3 need a test
 *    clock, 2 need mail_api" (the reasons grouped);
 *  - last, the closing counts line, exactly "N passed, N failed, N skipped"
 *    (errors folded into failed). The caller prints nothing after it.
 */
void kr_console_summary(FILE *out, const kr_console_options *opt, const kf_run_result *run);

/*
 * JUnit XML (libxml2) that validates against junit-10.xsd, the schema
 * Jenkins' xunit plugin checks (tests/reports/junit-10.xsd), and reads well in
 * GitLab. One <testsuite> per requirement area with the run (target,
 * base_url, seed, run_id) and each requirement's verdict as properties
 * ("requirement ACC-06" = "fail"); one <testcase> per scenario (classname
 * "konform.AREA"). A <failure> or <error> carries what the console's failure
 * view shows, starting with file:line; <system-out> starts with "scenario:
 * file:line", "covers:" and "tags:" lines (the schema has no testcase
 * attributes or properties for them), then every step with its failed
 * expects, exchanges and artifacts (passing expects are left out).
 */
kf_rc kr_junit_write(const kf_run_result *run, const char *path, kf_err *err);

/*
 * JSON (jansson) following docs/report-schema.json (schema_version 2): every
 * exchange structured, every assert passed or not, every artifact's bytes.
 */
kf_rc kr_json_write(const kf_run_result *run, const char *path, kf_err *err);

/*
 * One self-contained HTML page (inline CSS and script, no network; it opens
 * from disk): the run as JSON in a <script type="application/json"> (every
 * '<', '>' and '&' escaped, so no data can end the element), drawn by the
 * inline script. At the top the requirement matrix by area (verdict, text,
 * source, covering scenarios); then one entry per scenario, failures first,
 * each step with every expect and its outcome (the failing one marked), every
 * exchange (request and response, bodies laid out as kr_body does, in
 * <details>) and its artifacts (text ones shown, images inline). Filters by
 * status, area, requirement and tag. A Content-Security-Policy with the
 * hashes of its own script and style forbids everything else.
 */
kf_rc kr_html_write(const kf_run_result *run, const char *path, kf_err *err);

/*
 * TAP (https://testanything.org/tap-version-14-specification.html): "TAP
 * version 14", the plan "1..N", one test point per scenario in run order
 * ("ok 3 - name", "not ok 4 - name", a skip "ok 5 - name # SKIP reason"; '#'
 * and '\' in names escaped), for a failure or an error a YAML block
 * indented two blanks (message, severity, at: file and line, the step, the
 * failing expect with expected and actual, the request and response lines),
 * and the requirement verdicts as comments at the end. kr_tap13_write writes
 * the same announced as "TAP version 13", for harnesses that know no later
 * version (prove 3.44, Debian 12, rejects a 14).
 */
kf_rc kr_tap_write(const kf_run_result *run, const char *path, kf_err *err);
kf_rc kr_tap13_write(const kf_run_result *run, const char *path, kf_err *err);

/* A report writer: replaces the file at path atomically (see above). */
typedef kf_rc (*kr_write_fn)(const kf_run_result *run, const char *path, kf_err *err);

/*
 * The report formats, by the KIND of `--report KIND=PATH`: the kind, a label
 * for messages, the writer. A new format is its writer and one row here; the
 * CLI's table, usage and messages come from the rows.
 */
#define KR_FORMATS(X)                                                                              \
  X("json", "JSON", kr_json_write)                                                                 \
  X("junit", "JUnit", kr_junit_write)                                                              \
  X("html", "HTML", kr_html_write)                                                                 \
  X("tap", "TAP", kr_tap_write)                                                                    \
  X("tap13", "TAP 13", kr_tap13_write)

/*
 * Whether a writer shows what passed in detail: every step of every scenario
 * with its exchanges, asserts and artifacts (JSON, JUnit's <system-out>,
 * HTML). The console (without -v or --trace all) and TAP show them only for
 * the failing step, so a run whose reports all answer false can keep only
 * those (the lean run of kh_runner.h) and its memory stays flat.
 */
bool kr_format_shows_passing(kr_write_fn write);

/*
 * A report written while the run goes on, so the run need not keep what a
 * scenario showed once the report has it. open starts the report of format
 * at path (nothing appears there yet); scenario hands over one scenario,
 * run->scenarios[index], in any order (as they finish), each index once,
 * and turns it into its bytes at once, so sc may lose its steps right
 * after; close writes the report atomically from what it was given, put in
 * the run's order, and what run still holds of every scenario (status,
 * names, covers: the counts and verdicts), then frees the stream whatever
 * the result (KF_ERR_STATE if a scenario of run was not given); abort frees
 * it and writes nothing. The file is byte for byte what the format's
 * kr_*_write writes for the same run. One stream is used by one thread at a
 * time.
 */
typedef struct kr_stream kr_stream;
/* Whether format (a KR_FORMATS writer) is written as a stream; the others only as a whole run. */
bool kr_format_streams(kr_write_fn format);
kf_rc kr_stream_open(kr_write_fn format, const char *path, kr_stream **out, kf_err *err);
kf_rc kr_stream_scenario(kr_stream *s, const kf_scenario_result *sc, size_t index, kf_err *err);
kf_rc kr_stream_close(kr_stream *s, const kf_run_result *run, kf_err *err);
void kr_stream_abort(kr_stream *s);

/* " json junit html tap tap13": the kinds as one string literal, for usage texts. */
#define KR_FORMAT_WORD(name, label, write) " " name
#define KR_FORMAT_WORDS KR_FORMATS(KR_FORMAT_WORD)

#endif
