/*
 * kh_cmd_explain.h: `konform explain ID [PATH...]`: one requirement of the
 * catalogue as a developer needs it before reproducing a failure: its text
 * and source, its configurable defaults with the target's values (--target,
 * else the reference profile next to the catalogue), and the scenarios of
 * PATH (default: the scenario folder) that cover it, as file:line.
 */
#ifndef KH_CMD_EXPLAIN_H
#define KH_CMD_EXPLAIN_H

#include "kh_cli.h"
#include "kh_profile.h"

/* Returns the process exit code: 0, or KH_EXIT_USAGE for an unknown ID (with did-you-mean). */
int kh_cmd_explain(const kh_cli_options *o);

/*
 * The profile whose values explain (and repro) show: --target, else
 * targets/reference.profile in the folder of cat_path. *label names it, NULL
 * (KH_EXIT_OK) when there is no --target and no reference profile.
 */
int kh_cmd_explain_profile(const kh_cli_options *o, const char *cat_path, kh_profile *profile,
                           const char **label);

#endif
