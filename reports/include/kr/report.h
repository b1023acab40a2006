/*
 * report.h: the report writers. They only read a kf_run_result; they never
 * run anything and never see the parser or the network. All three show the
 * same things of a step: its asserts (expects), every exchange it made
 * (request and response, or why no answer came) and the artifacts it kept.
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

typedef struct kr_console_options {
  bool color;   /* Use ANSI colour (see kr_console_want_color). */
  bool verbose; /* Also print every step: each assert's outcome, exchanges, artifacts. */
} kr_console_options;

/*
 * Colour only when fd is a terminal and NO_COLOR is unset or empty
 * (https://no-color.org), and TERM is not "dumb".
 */
bool kr_console_want_color(int fd);

/* One line as a scenario finishes: "[ 3/41] PASS  name (12 ms)". Thread-safe callers serialise. */
void kr_console_scenario(FILE *out, const kr_console_options *opt, const kf_scenario_result *sc,
                         size_t done, size_t total);
/*
 * After the run: every failure with file:line, the failing step's expects
 * that did not hold (expected and actual), every exchange of that step
 * (request and response) and its artifacts; then the summary by
 * requirement; then the closing counts line, exactly "N passed, N failed, N skipped" (errors folded
 * into failed). When there are errors, a line "N error(s) (counted as
 * failed)" comes just before it; the closing line itself never changes form.
 */
void kr_console_summary(FILE *out, const kr_console_options *opt, const kf_run_result *run);

/*
 * JUnit XML (libxml2) as read by Jenkins and GitLab: a <failure> or <error>
 * carries what the console's failure view shows; <system-out> every step with
 * its failed expects, exchanges and artifacts (passing expects are left out).
 */
kf_rc kr_junit_write(const kf_run_result *run, const char *path, kf_err *err);

/*
 * JSON (jansson) following docs/report-schema.json (schema_version 2): every
 * exchange structured, every assert passed or not, every artifact's bytes.
 */
kf_rc kr_json_write(const kf_run_result *run, const char *path, kf_err *err);

#endif
