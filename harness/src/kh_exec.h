/*
 * kh_exec.h: carrying out one scenario, step by step, for the runner
 * (kh_runner.c) and for the exec functions of the step kinds (kh_step.h).
 *
 * A kh_exec is one scenario's whole state: its variables, generator, test
 * clock (id and current time on the target), the subjects its queries read
 * and where its waits go on from. Scenarios never share one, so they run in
 * parallel without locks. Each step becomes one kf_step_result; the step
 * records there every exchange it makes, every expect it evaluates (passed
 * or not) and every artifact it keeps.
 */
#ifndef KH_EXEC_H
#define KH_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kf/run_result.h"
#include "kh_gen.h"
#include "kh_http.h"
#include "kh_runner.h"
#include "kh_subject.h"
#include "kh_vars.h"

/* Caps on what a step builds from templates. */
#define KH_EXEC_MAX_URL (64u * 1024u)
#define KH_EXEC_MAX_TEXT (64u * 1024u)
#define KH_EXEC_MAX_BODY (2u * KH_VAR_MAX_BYTES)
/* Exchanges one step may keep waiting for its outcome (a timing step sends many). */
#define KH_EXEC_MAX_PENDING (64u * 1024u)

/* The scenario's test clock on the target. */
typedef struct kh_exec_clock {
  char *id;    /* Owned; NULL until `clock create`. */
  int64_t now; /* The clock's time on the target (Unix seconds), as it last said. */
} kh_exec_clock;

/*
 * An exchange of a lean run not yet made from its reply: the step that made
 * it and how many exchanges that step had recorded before it, so it can be
 * put in its place if the step does not pass.
 */
typedef struct kh_exec_pending {
  kh_http_reply *reply; /* Owned reference. */
  size_t step;
  size_t at;
} kh_exec_pending;

typedef struct kh_exec {
  const kh_runner_config *cfg; /* Borrowed. */
  const char *base_url;        /* Borrowed: where relative URLs go (the profile's base_url, or
                                  its timing_base_url for a scenario that measures time). */
  const kh_scenario *scenario; /* Borrowed. */
  kf_scenario_result *res;     /* Borrowed: where the steps are recorded. */
  kh_vars vars;
  kh_gen_ctx gen;
  kh_exec_clock clock;
  kh_subjects subjects;
  /* Per subject kind that a wait fills: the id of the newest item seen, so the next wait finds a
   * newer one. */
  int64_t seen_id[KH_SUBJECT_COUNT];
  size_t expects; /* Expectations evaluated so far: a scenario with none proves nothing. */
  size_t step;    /* Index of the step result being filled (for lazy loads of subjects). */
  kh_exec_pending *pending; /* Exchanges of the steps under way (lean runs only). */
  size_t pending_len, pending_cap;
} kh_exec;

/*
 * Run one scenario of the suite into res (a slot of the run result): check
 * what it needs against the profile (skipping it with the reason when the
 * target cannot support it), then carry out its steps. seen_from gives, per
 * subject kind, the mocks' last id before the run.
 */
void kh_exec_scenario(const kh_runner_config *cfg, const int64_t seen_from[KH_SUBJECT_COUNT],
                      const kh_suite_entry *entry, kf_scenario_result *res);

/* What a scenario needs from the target (KH_NEED_BIT ..., its fragments included). */
unsigned kh_exec_scenario_needs(const kh_scenario *sc);

/*
 * Record a non-pass outcome on step result idx and, if it is the scenario's
 * first, on the scenario. fail_line is the line of the failing check (0: the
 * step). A skip recorded this way is of kind KF_SKIP_OTHER; kh_exec_skip_as
 * names it. Returns status.
 */
kf_status kh_exec_outcome(kh_exec *ex, size_t idx, kf_status status, unsigned fail_line,
                          const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Name the kind of the scenario's skip, if the scenario is skipped. */
void kh_exec_skip_as(kh_exec *ex, kf_skip_kind kind);

/* Expand a template into a new string (caller frees); NULL template text gives "". */
kf_rc kh_exec_expand(kh_exec *ex, const kh_template *tpl, size_t cap, char **out, size_t *len,
                     kf_err *err);
/* Expand an optional template that must hold no NUL; an absent one stays NULL. */
kf_rc kh_exec_expand_opt(kh_exec *ex, const kh_template *tpl, char **out, kf_err *err);

/*
 * Move the exchange of resp (if anything was sent) into the current step's
 * result. A deferred response's exchange is made from its reply at once, or,
 * in a lean run, only when the step ends without passing (kh_http_request's
 * defer): a step that passes drops its exchanges anyway.
 */
void kh_exec_keep_exchange(kh_exec *ex, kh_http_response *resp);
/* Keep a copy of data as an artifact of the current step. */
void kh_exec_keep_artifact(kh_exec *ex, const char *name, const char *media_type, const void *data,
                           size_t len);

/* Run steps (a fragment's, for `use`) at nesting depth; stops at the first non-pass. */
kf_status kh_exec_steps(kh_exec *ex, const kh_step *steps, size_t n, int depth);

/*
 * Delete the scenario's clock on the target and forget it. Clean-up is not
 * part of what the scenario checks, so a failure is logged, never a finding.
 */
void kh_exec_clock_forget(kh_exec *ex);

/* Whether the profile lets the harness drive the target's test clock. */
bool kh_exec_has_clock(const kh_exec *ex);

#endif
