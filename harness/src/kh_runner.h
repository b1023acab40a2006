/*
 * kh_runner.h: carries out the scenarios of a suite against a target and
 * records what happened in a kf_run_result (lib/include/kf/run_result.h).
 *
 * Scenarios run in parallel on worker threads (--jobs); each has its own
 * variables, generator state, test clock and subjects, so they never share
 * state. A scenario the target cannot support (no clock control, no mail or
 * post API in the profile) is skipped with the reason, never passed.
 */
#ifndef KH_RUNNER_H
#define KH_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

#include "kf/error.h"
#include "kf/run_result.h"
#include "kh_catalogue.h"
#include "kh_profile.h"
#include "kh_shard.h"
#include "kh_suite.h"

/* Which scenarios to run. Every pointer is borrowed. Empty lists select all. */
typedef struct kh_selection {
  const char *const *covers; /* Keep scenarios covering any of these IDs. */
  size_t covers_len;
  const char *const *tags; /* Keep scenarios with any of these tags. */
  size_t tags_len;
  const char *name; /* Keep scenarios whose name contains this; NULL = any. */
} kh_selection;

/* Whether sc passes every filter of sel (NULL selects everything). */
bool kh_selection_match(const kh_selection *sel, const kh_scenario *sc);

/*
 * Called as each scenario finishes, under the runner's mutex (so calls never
 * overlap): done counts finished scenarios including this one.
 */
typedef void (*kh_runner_progress_fn)(const kf_scenario_result *sc, size_t done, size_t total,
                                      void *ctx);

/* Called with each finished scenario and its index in the run; see kh_runner_config.finished. */
typedef void (*kh_runner_finished_fn)(const kf_scenario_result *sc, size_t index, void *ctx);

typedef struct kh_runner_config {
  const kh_suite *suite;          /* Borrowed. */
  const kh_catalogue *catalogue;  /* Borrowed; NULL: the result lists no requirements. */
  const kh_profile *profile;      /* Borrowed; finished (kh_profile_finish). */
  const kh_selection *selection;  /* Borrowed; NULL runs everything. */
  const char *target_label;       /* For the report: profile path or "embedded reference stack". */
  uint64_t seed;                  /* --seed. */
  uint64_t run_id;                /* --run-id. */
  unsigned jobs;                  /* Worker threads; 0 means 1. */
  kh_runner_progress_fn progress; /* May be NULL. */
  void *progress_ctx;
  const atomic_bool *cancel;  /* Borrowed, may be NULL: once true, no further scenario starts. */
  const kh_shard *shard;      /* Borrowed, may be NULL: run the whole selection. */
  const char *catalogue_hash; /* Borrowed, may be NULL: kh_shard_file_hash of the catalogue. */
  /*
   * A lean run keeps what only a report of every step shows
   * (kr_format_shows_passing) for nothing that passed: a step that passes
   * loses its exchanges, asserts and artifacts at once, and a scenario that
   * passed or was skipped loses its steps once the progress callback has
   * seen it. What a failure shows stays: every step's label and outcome,
   * the failing step's exchange and the expects that failed (an expect that
   * held is not kept, in a failing step either), so the console and TAP read
   * the same, and the memory of a long run stays flat. false keeps every step's details (a
   * passed scenario's steps go after finished, if it is set).
   */
  bool lean;
  /*
   * May be NULL. Called with every scenario as soon as it has finished
   * (after progress), index its position in run->scenarios, never two calls
   * at once; at the end of the run with those that never ran (after a
   * cancel), so every scenario comes exactly once. It is how the reports
   * get the scenarios while the run goes on (kr_stream puts them in the
   * run's order). Once it returns, a scenario that passed or was skipped
   * loses its steps: no one reads them later (see lean).
   */
  kh_runner_finished_fn finished;
  void *finished_ctx;
} kh_runner_config;

/*
 * Whether a scenario that sel and shard (each may be NULL) select from suite
 * needs any of the bits need (KH_NEED_BIT ...): `konform run` starts the
 * embedded stack's timing server only for a run with a timing step.
 */
bool kh_runner_selects_need(const kh_suite *suite, const kh_selection *sel, const kh_shard *shard,
                            unsigned need);
/*
 * Run every selected scenario into run (kf_run_result_init'ed by the caller,
 * released by the caller). Before any scenario starts, the runner asks each
 * mock of the profile for its "last_id" (GET {api}/api/v1/health) and starts
 * every scenario's waits after it, so mail from before the run is never seen;
 * it also sets each requirement's not_selected (and other_shards: the
 * selected scenarios --shard gives to other shards count as not selected) and
 * the run's shard and suite identity. KF_OK whenever the run could
 * be carried out, even when scenarios failed; errors are for the harness
 * itself (no memory) and for a mock that cannot be asked (KF_ERR_NETWORK,
 * KF_ERR_TIMEOUT, KF_ERR_STATE), which the caller treats as unreachable.
 */
kf_rc kh_runner_run(const kh_runner_config *cfg, kf_run_result *run, kf_err *err);

/*
 * For a run of a loaded and linted suite: note each entry's needs, then drop
 * the scenario files' steps (kh_suite_drop_steps), so the run holds a
 * scenario's tree only while it runs (kh_reload.h). A failure leaves some
 * files whole, which runs the same; the rc says it for the caller's log.
 */
kf_rc kh_runner_drop_steps(kh_suite *suite);

#endif
