/*
 * kh_cmd_repro.h: `konform repro SCENARIO [PATH...] [--target FILE] [--seed N
 * --run-id X] [-o script.sh]`: one scenario as a self-contained POSIX sh
 * script that replays it against a target with curl and jq (Hurl's --curl
 * export). The generated identities of the seed and run id are computed here
 * and written as literal values, as `konform run` over the same PATHs would
 * make them; clock calls and the mocks' long-poll waits are curl calls; every
 * response is printed; the first expectation that does not hold stops the
 * script with its file:line and exit 1. What sh and jq cannot check (the
 * visible text of a page, timing) is a comment "not checked by the script:
 * ...", never a silent pass.
 */
#ifndef KH_CMD_REPRO_H
#define KH_CMD_REPRO_H

#include "kf/buf.h"
#include "kf/error.h"
#include "kh_cli.h"
#include "kh_profile.h"
#include "kh_suite.h"

/*
 * The script for entry of its suite against profile (finished, defaults
 * filled) with seed and run_id, appended to out. KF_ERR_NOMEM / KF_ERR_LIMIT.
 */
kf_rc kh_cmd_repro_script(const kh_suite_entry *entry, const kh_profile *profile, uint64_t seed,
                          uint64_t run_id, kf_buf *out, kf_err *err);

/* The command; returns the process exit code (KH_EXIT_*, kh_cli.h). */
int kh_cmd_repro(const kh_cli_options *o);

#endif
