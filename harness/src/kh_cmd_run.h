/*
 * kh_cmd_run.h: `konform run`: the scenarios against a target profile or the
 * embedded reference stack, with the console progress, the summary and the
 * reports of --report. Needs the runtime of kh_cli (libsodium, libcurl, the
 * signal thread, which stops the embedded stack on Ctrl-C).
 */
#ifndef KH_CMD_RUN_H
#define KH_CMD_RUN_H

#include "kh_cli.h"

/* Returns the process exit code (KH_EXIT_*, kh_cli.h). */
int kh_cmd_run(const kh_cli_options *o);

/*
 * What run and merge share: every --report's folder takes files (checked
 * before anything runs), then each report written with a line on stderr.
 * KH_EXIT_USAGE, with the message printed, when one cannot be.
 */
int kh_cmd_run_check_reports(const kh_cli_options *o);
int kh_cmd_run_write_reports(const kh_cli_options *o, const kf_run_result *run);

#endif
