/*
 * kh_cmd_merge.h: `konform merge A.json B.json ...`: the JSON reports of the
 * shards of one run (--shard K/N) combined into the verdict the single run
 * would have given, printed as run prints it and written through --report.
 */
#ifndef KH_CMD_MERGE_H
#define KH_CMD_MERGE_H

#include <stddef.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "kf/run_result.h"
#include "kh_cli.h"

/*
 * Combine the n results in parts (their scenarios are moved out, the rest is
 * left for the caller to release) into merged (kf_run_result_init'ed by the
 * caller). Reports of different suites, catalogues, seeds, run ids, targets
 * or shard counts, or the same shard twice, are KF_ERR_INVALID: every
 * difference is one line of why ("a.json and b.json: ..."), names[i] naming
 * parts[i]. *missing gets how many shards no part is.
 */
kf_rc kh_cmd_merge_results(kf_run_result *parts, const char *const *names, size_t n,
                           kf_run_result *merged, size_t *missing, kf_buf *why);

/* The command; returns the process exit code (KH_EXIT_*, kh_cli.h). */
int kh_cmd_merge(const kh_cli_options *o);

#endif
