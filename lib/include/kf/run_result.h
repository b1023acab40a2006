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

/* Scenario and step outcomes: the enum and its names from one table. */
#define KF_STATUSES(X)                                                                             \
  X(PASS, "pass")                                                                                  \
  /* The target did not conform: an expectation failed. */                                         \
  X(FAIL, "fail")                                                                                  \
  /* The scenario could not be carried out (target unreachable, bad variable...). */               \
  X(ERROR, "error")                                                                                \
  /* The target cannot support this scenario; never a pass. */                                     \
  X(SKIP, "skip")

typedef enum kf_status {
#define KF_STATUS_ENUM(name, text) KF_STATUS_##name,
  KF_STATUSES(KF_STATUS_ENUM)
#undef KF_STATUS_ENUM
} kf_status;

/* "pass", "fail", "error", "skip". */
const char *kf_status_name(kf_status s);

/*
 * Why a scenario was not checked (status skip): the enum and its names from
 * one table, so reports count and explain skips without reading messages.
 */
#define KF_SKIP_KINDS(X)                                                                           \
  X(NONE, "none")                                                                                  \
  /* The target has no test clock control (profile clock is not "konform"). */                     \
  X(NO_CLOCK, "no_clock")                                                                          \
  X(NO_MAIL_API, "no_mail_api")                                                                    \
  X(NO_POST_API, "no_post_api")                                                                    \
  /* A measurement (the timing step) could not decide either way. */                               \
  X(UNDECIDED, "undecided")                                                                        \
  X(OTHER, "other")

typedef enum kf_skip_kind {
#define KF_SKIP_ENUM(name, text) KF_SKIP_##name,
  KF_SKIP_KINDS(KF_SKIP_ENUM)
#undef KF_SKIP_ENUM
      KF_SKIP_KIND_COUNT
} kf_skip_kind;

/* "none", "no_clock", ... */
const char *kf_skip_kind_name(kf_skip_kind k);

/* A header as it was sent or received. */
typedef struct kf_header {
  char *name;
  char *value;
} kf_header;

/* Bodies kept in a result are cut after this many bytes (body_cut says so). */
#define KF_MESSAGE_BODY_MAX (256u * 1024u)

/* One side of an exchange: headers in wire order and the body. */
typedef struct kf_message {
  kf_header *headers;
  size_t headers_len;
  size_t headers_cap;
  char *body; /* NULL: no body. May hold any bytes; NUL-terminated after body_len. */
  size_t body_len;
  bool body_cut; /* The body was longer than KF_MESSAGE_BODY_MAX; only its start is kept. */
} kf_message;

/* Append a copy of a header. */
kf_rc kf_message_add_header(kf_message *msg, const char *name, const char *value);
/* Keep a copy of (the first KF_MESSAGE_BODY_MAX bytes of) a body, replacing any before. */
kf_rc kf_message_set_body(kf_message *msg, const void *data, size_t len);
void kf_message_release(kf_message *msg);

/*
 * One request and its answer that a step made: an HTTP request of the
 * scenario, each long-poll of a wait, the fetch of a raw mail, a clock call,
 * each round trip of a ceremony.
 */
typedef struct kf_exchange {
  char *purpose; /* Why it was made, e.g. "request", "wait mail", "raw mail", "clock advance". */
  char *method;  /* "POST". */
  char *url;     /* Absolute. */
  kf_message request;
  long status;       /* 0: no answer came (see error). */
  char *status_line; /* As received, e.g. "HTTP/1.1 202 Accepted"; NULL without an answer. */
  kf_message response;
  char *error; /* Why no answer came (connection refused, timeout), or NULL. */
  int64_t duration_ms;
} kf_exchange;

void kf_exchange_release(kf_exchange *ex);

/* The outcome of one `expect` line, passed or not. */
typedef struct kf_assert_result {
  char *source; /* The line as written, e.g. "expect status == 202". */
  char *file;   /* Where it is written (a fragment's file for fragment lines). */
  unsigned line;
  kf_status status; /* PASS, FAIL (did not hold) or ERROR (could not be evaluated). */
  char *expected;   /* The operand with its variables filled in, or NULL when it has none. */
  char *actual;     /* What the query gave, e.g. "got 400", "value absent"; NULL if unknown. */
  char *message;    /* For FAIL and ERROR: why, in a sentence; NULL on PASS. */
} kf_assert_result;

void kf_assert_result_release(kf_assert_result *a);

/* Something a step kept for people to look at: a raw mail, a letter, a PDF, a QR image. */
typedef struct kf_artifact {
  char *name;       /* "mail 17 (raw source)". */
  char *media_type; /* "message/rfc822", "application/json", "application/pdf", "image/png". */
  char *data;       /* Any bytes; NUL-terminated after len. */
  size_t len;
} kf_artifact;

void kf_artifact_release(kf_artifact *a);

typedef struct kf_step_result {
  char *label; /* The step's source line, e.g. "POST /api/v1/registrations". */
  char *file;  /* Where the step is written (a fragment's file for fragment steps). */
  unsigned line;
  kf_status status;
  char *message;      /* Why it failed, e.g. "expect status == 202: got 400"; NULL on pass. */
  unsigned fail_line; /* The line of the failed expect (0 if none). */
  int64_t duration_ms;
  kf_exchange *exchanges; /* Every exchange the step made, in order. */
  size_t exchanges_len;
  size_t exchanges_cap;
  kf_assert_result *asserts; /* Every expect the step evaluated, in order. */
  size_t asserts_len;
  size_t asserts_cap;
  kf_artifact *artifacts; /* What the step kept, in order. */
  size_t artifacts_len;
  size_t artifacts_cap;
} kf_step_result;

/* Append a zeroed slot and return it (owned by step, valid until the next add of its kind). */
kf_rc kf_step_result_add_exchange(kf_step_result *step, kf_exchange **out);
kf_rc kf_step_result_add_assert(kf_step_result *step, kf_assert_result **out);
/* Append an artifact holding copies of name, media_type and the len bytes at data. */
kf_rc kf_step_result_add_artifact(kf_step_result *step, const char *name, const char *media_type,
                                  const void *data, size_t len);

typedef struct kf_scenario_result {
  char *name;
  char *file;
  unsigned line;
  char **covers; /* Requirement IDs. */
  size_t covers_len;
  char **tags;
  size_t tags_len;
  kf_status status;
  kf_skip_kind skip_kind; /* Why, when status is skip; else KF_SKIP_NONE. */
  char *message;          /* First failure, error or skip reason; NULL on pass. */
  char *fail_file;        /* Where that failure is written, or NULL. */
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
  /*
   * Of not_selected, how many were left out only because they run in another
   * shard (--shard K/N): `konform merge` takes them back out.
   */
  size_t other_shards;
} kf_requirement;

#define KF_REQ_STATUSES(X)                                                                         \
  X(PASS, "pass")                                                                                  \
  X(FAIL, "fail")                                                                                  \
  X(NOT_CHECKED, "not-checked")

typedef enum kf_req_status {
#define KF_REQ_STATUS_ENUM(name, text) KF_REQ_##name,
  KF_REQ_STATUSES(KF_REQ_STATUS_ENUM)
#undef KF_REQ_STATUS_ENUM
} kf_req_status;
/* "pass", "fail", "not-checked". */
const char *kf_req_status_name(kf_req_status s);

/* A hash as hex digits: 16 bytes of BLAKE2b, 32 digits and the NUL. */
#define KF_RUN_HASH_HEX 33

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
  /*
   * --shard K/N (shard_total 0: not sharded, reported as 1/1). The shard
   * holds the selected scenarios at positions K-1, K-1+N, K-1+2N, ... of the
   * load order, so a merge can put them back in the single run's order.
   */
  unsigned shard_index, shard_total;
  /*
   * The suite's identity, the same in every shard: how many scenarios the
   * filters selected and a hash of their files and names in load order.
   */
  size_t suite_scenarios;
  char suite_hash[KF_RUN_HASH_HEX];
  char catalogue_hash[KF_RUN_HASH_HEX]; /* Of the catalogue file's bytes; "" without one. */
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
/*
 * Free the step's exchanges, asserts and artifacts and leave it with none;
 * its label, place, status and message stay. For a lean run (see
 * kh_runner.h): a step that passed shows nowhere but in a report that lists
 * every step.
 */
void kf_step_result_drop_details(kf_step_result *step);
/* Free every step of sc and leave it with none (a lean run's passed scenario). */
void kf_scenario_result_drop_steps(kf_scenario_result *sc);

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
