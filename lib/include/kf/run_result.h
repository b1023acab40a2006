/*
 * run_result.h: the plain result of one konform run.
 *
 * The runner fills it; the report writers only read it (the Hurl split). It
 * holds copies of everything it needs, so it outlives the parsed scenarios.
 * Every string and array below is owned by the structure that holds it.
 */
#ifndef KF_RUN_RESULT_H
#define KF_RUN_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kf/error.h"

typedef enum kf_status {
  KF_STATUS_PASS,
  KF_STATUS_FAIL,  /* The target did not conform: an expectation failed. */
  KF_STATUS_ERROR, /* The scenario could not be carried out (target unreachable, bad variable...).
                    */
  KF_STATUS_SKIP   /* The target cannot support this scenario; never a pass. */
} kf_status;

/* "pass", "fail", "error", "skip". */
const char *kf_status_name(kf_status s);

typedef struct kf_step_result {
  char *label; /* The step's source line, e.g. "POST /api/v1/registrations". */
  char *file;  /* Where the step is written (a fragment's file for fragment steps). */
  unsigned line;
  kf_status status;
  char *message;      /* Why it failed, e.g. "expect status == 202: got 400"; NULL on pass. */
  unsigned fail_line; /* The line of the failed expect (0 if none). */
  char *request;      /* Trace of the request sent (method, URL, headers, body), or NULL. */
  char *response;     /* Trace of the response (status, headers, body), or NULL. */
  int64_t duration_ms;
} kf_step_result;

typedef struct kf_scenario_result {
  char *name;
  char *file;
  unsigned line;
  char **covers; /* Requirement IDs. */
  size_t covers_len;
  char **tags;
  size_t tags_len;
  kf_status status;
  char *message;   /* First failure, error or skip reason; NULL on pass. */
  char *fail_file; /* Where that failure is written, or NULL. */
  unsigned fail_line;
  kf_step_result *steps;
  size_t steps_len;
  size_t steps_cap;
  int64_t duration_ms;
} kf_scenario_result;

typedef struct kf_requirement {
  char *id;     /* "ACC-06". */
  char *area;   /* "ACC". */
  char *title;  /* One line from the catalogue. */
  char *source; /* "seed", "default" or "practice". */
  /*
   * How many scenarios of the suite cover this requirement but were left out
   * by the selection (--name, --tag, --covers). The runner fills it; while it
   * is above 0 the requirement was only partly checked and cannot pass.
   */
  size_t not_selected;
} kf_requirement;

typedef enum kf_req_status { KF_REQ_PASS, KF_REQ_FAIL, KF_REQ_NOT_CHECKED } kf_req_status;
/* "pass", "fail", "not-checked". */
const char *kf_req_status_name(kf_req_status s);

typedef struct kf_run_result {
  char *target; /* Target description (profile path or "embedded reference stack"). */
  char *base_url;
  uint64_t seed;
  uint64_t run_id;    /* --run-id: every generated identity contains it. */
  int64_t started_at; /* Real Unix seconds. */
  int64_t duration_ms;
  kf_requirement *requirements; /* The whole catalogue, in catalogue order. */
  size_t requirements_len;
  size_t requirements_cap;
  kf_scenario_result *scenarios; /* In the order they were loaded (not finished). */
  size_t scenarios_len;
  size_t scenarios_cap;
} kf_run_result;

void kf_run_result_init(kf_run_result *run);
void kf_run_result_release(kf_run_result *run);

/* Append a copy of the requirement's strings. */
kf_rc kf_run_result_add_requirement(kf_run_result *run, const char *id, const char *area,
                                    const char *title, const char *source);
/*
 * Append a scenario slot and return it (owned by run, valid until the next
 * add). Strings and arrays are copied.
 */
kf_rc kf_run_result_add_scenario(kf_run_result *run, const char *name, const char *file,
                                 unsigned line, const char *const *covers, size_t covers_len,
                                 const char *const *tags, size_t tags_len,
                                 kf_scenario_result **out);

void kf_scenario_result_release(kf_scenario_result *sc);
/* Append a step slot, zeroed, and return it (owned by sc, valid until the next add). */
kf_rc kf_scenario_result_add_step(kf_scenario_result *sc, kf_step_result **out);
void kf_step_result_release(kf_step_result *step);

/* Scenario counts by status. */
typedef struct kf_run_counts {
  size_t total, passed, failed, errors, skipped;
} kf_run_counts;
void kf_run_result_counts(const kf_run_result *run, kf_run_counts *out);

/*
 * A requirement's verdict: fail if any covering scenario failed or errored;
 * pass if at least one ran, every covering scenario passed and the selection
 * left none of the suite's covering scenarios out (not_selected == 0);
 * otherwise not-checked. Stores in *n_scenarios how many scenarios of the run
 * cover it. An id that is not in run->requirements counts as not_selected 0.
 */
kf_req_status kf_run_result_requirement_status(const kf_run_result *run, const char *id,
                                               size_t *n_scenarios);
/* Whether a scenario covers id. */
bool kf_scenario_result_covers(const kf_scenario_result *sc, const char *id);

#endif
