/*
 * kh_cmd_suite.h: the scenarios and the catalogue as the commands load them.
 *
 * Every function that can fail prints its message to stderr and returns a
 * process exit code (KH_EXIT_OK or KH_EXIT_USAGE, kh_cli.h), because its
 * callers are commands that only pass that code on.
 */
#ifndef KH_CMD_SUITE_H
#define KH_CMD_SUITE_H

#include <stdbool.h>
#include <stddef.h>

#include "kh_catalogue.h"
#include "kh_cli.h"
#include "kh_runner.h"
#include "kh_suite.h"

#define KH_CMD_SUITE_PATH_MAX 4096

/* The scenarios and the catalogue of one command. Owns both. */
typedef struct kh_cmd_suite {
  kh_suite suite;
  kh_catalogue cat;
  bool have_cat; /* A catalogue was found and loaded. */
  char cat_path[KH_CMD_SUITE_PATH_MAX];
} kh_cmd_suite;

void kh_cmd_suite_init(kh_cmd_suite *s);
void kh_cmd_suite_release(kh_cmd_suite *s);

/* The scenario folder when no PATH is given: ./scenarios, else the installed one. */
const char *kh_cmd_suite_default_path(void);

/*
 * Find catalogue.json in the folder of first or any parent, else in the
 * installed data; its path goes into out. false when there is none.
 */
bool kh_cmd_suite_find_catalogue(const char *first, char *out, size_t out_size);

/* Load the scenarios of o's paths (or the default folder) into s->suite. */
int kh_cmd_suite_load_scenarios(const kh_cli_options *o, kh_cmd_suite *s);

/*
 * Load --catalogue, or the one kh_cmd_suite_find_catalogue finds. Finding
 * none is not an error: s->have_cat stays false.
 */
int kh_cmd_suite_load_catalogue(const kh_cli_options *o, kh_cmd_suite *s);

/* The filters of o (--covers, --tag, --name); borrows from o. */
void kh_cmd_suite_selection(const kh_cli_options *o, kh_selection *sel);

/*
 * Lint s and print every diagnostic. KH_EXIT_USAGE when the lint found an
 * error (or could not run); *errors and *warnings receive the counts.
 */
int kh_cmd_suite_lint(const kh_cmd_suite *s, size_t *errors, size_t *warnings);

/*
 * What run and selftest do first: load the scenarios and the catalogue, lint
 * (an error is KH_EXIT_USAGE: nothing runs), and refuse filters that select no
 * scenario.
 */
int kh_cmd_suite_prepare(const kh_cli_options *o, kh_cmd_suite *s);

/*
 * For a command whose first word names what it acts on (explain ID, repro
 * NAME): rest is o without that word, so its paths are the scenario paths.
 * KH_EXIT_USAGE after printing "konform: usage" when o has no word at all.
 */
int kh_cmd_suite_args(const kh_cli_options *o, const char *usage, kh_cli_options *rest);

#endif
