/*
 * kh_cli.h: the `konform` command line (run, list, lint, version, help).
 *
 * Exit codes: 0 everything conforms; 1 conformance failures (fail or error);
 * 2 usage, parse or lint errors, or a report that cannot be written; 3 the
 * target or its mocks cannot be reached; 130 interrupted.
 */
#ifndef KH_CLI_H
#define KH_CLI_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kf/error.h"
#include "kf/run_result.h"
#include "kh_shard.h"
#include "kr/report.h"

enum {
  KH_EXIT_OK = 0,
  KH_EXIT_FAILURES = 1,
  KH_EXIT_USAGE = 2,
  KH_EXIT_UNREACHABLE = 3,
  /* Every scenario that ran passed, but some could not run on this target (no clock, no mail
     API, an undecided timing): not checked, so not "conforms". --allow-partial makes it 0. */
  KH_EXIT_PARTIAL = 4,
  KH_EXIT_INTERRUPTED = 130
};

typedef enum kh_cli_command {
  KH_CMD_RUN,
  KH_CMD_LIST,
  KH_CMD_LINT,
  KH_CMD_MOCKS,
  KH_CMD_SELFTEST,
  KH_CMD_REQUIREMENTS,
  KH_CMD_VERSION,
  KH_CMD_HELP,
  KH_CMD_MERGE,
  KH_CMD_EXPLAIN,
  KH_CMD_REPRO
} kh_cli_command;

#define KH_CLI_MAX_LIST 64
/* Each is two server arguments; kh_stack takes at most KH_STACK_MAX_SERVER_ARGS. */
#define KH_CLI_MAX_FAULTS 15

/* A `--report` request. */
/* A report writer: the KIND of --report KIND=PATH. */
typedef struct kh_cli_report_kind {
  const char *name;  /* "json". */
  const char *label; /* "JSON", for messages. */
  kf_rc (*write)(const kf_run_result *run, const char *path, kf_err *err);
} kh_cli_report_kind;

typedef struct kh_cli_report {
  const kh_cli_report_kind *kind; /* Borrowed row. */
  const char *path;               /* Borrowed from argv. */
} kh_cli_report;

/* Parsed options. Every string is borrowed from argv. */
typedef struct kh_cli_options {
  kh_cli_command command;
  const char *paths[KH_CLI_MAX_LIST];
  size_t paths_len;
  const char *target; /* --target FILE, or NULL: the embedded stack. */
  unsigned jobs;      /* --jobs N; 0: online CPUs (at least 2). */
  const char *covers[KH_CLI_MAX_LIST];
  size_t covers_len;
  const char *tags[KH_CLI_MAX_LIST];
  size_t tags_len;
  const char *name; /* --name TEXT. */
  kh_cli_report reports[KH_CLI_MAX_LIST];
  size_t reports_len;
  bool verbose;
  kr_trace_mode trace; /* --trace failed|all. */
  bool has_seed;
  uint64_t seed;
  bool has_run_id;
  uint64_t run_id;
  const char *catalogue; /* --catalogue FILE. */
  bool keep_state;
  bool no_color;
  bool allow_partial; /* --allow-partial: skipped scenarios do not change the exit code. */
  unsigned mail_port, smtp_port, post_port; /* `mocks`: fixed ports (0: free ones). */
  /* --fault NAME: faults the embedded stack's servers switch on (run only). */
  const char *faults[KH_CLI_MAX_FAULTS + 1]; /* NULL after the last. */
  size_t faults_len;
  kh_shard shard;     /* --shard K/N; total 0: the whole selection. */
  const char *output; /* -o FILE (repro). */
} kh_cli_options;

/*
 * Parse argv (argv[0] is the program) into opts. KF_ERR_INVALID with a
 * message for a usage error (unknown command or option, missing or bad value).
 */
kf_rc kh_cli_parse(int argc, char *const *argv, kh_cli_options *opts, kf_err *err);

/*
 * Set once Ctrl-C (SIGINT) or SIGTERM arrived: commands start nothing new,
 * print no verdict and write no report (kh_runner_config.cancel).
 */
const atomic_bool *kh_cli_interrupt_flag(void);

/* Run the whole command line; returns the process exit code. */
int kh_cli_main(int argc, char **argv);

#endif
