/*
 * kr_summary.h: the end of the console output, what a person reads last.
 * Private to reports/src; kr_console_summary (kr_console.c) calls it after
 * the failure view.
 *
 * A skipped scenario's reason is read from its message by a row of
 * KR_SKIP_REASONS (kr_summary.c), so that "3 need a test clock" can be said
 * in a word; a message no row knows counts as "another reason".
 */
#ifndef KR_SUMMARY_H
#define KR_SUMMARY_H

#include "kf/run_result.h"
#include "kr_out.h"

/* Every requirement, grouped by area, each with its verdict, why and whole title. */
void kr_summary_requirements(kr_out *o, const kf_run_result *run);

/*
 * The compact summary through the closing counts line (see
 * kr_console_summary in kr/report.h for its parts, in order).
 */
void kr_summary_print(kr_out *o, const kf_run_result *run);

#endif
