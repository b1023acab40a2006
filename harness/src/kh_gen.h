/*
 * kh_gen.h: generators for `let` (email(), password(), customer_number() ...).
 *
 * Values are derived from (run seed, scenario index, per-scenario counter), so
 * a seed reproduces a run and no two scenarios of a run share an identity.
 *
 * Ownership: kh_gen_ctx is plain caller-owned state with nothing to free;
 * generated values are appended to the caller's kf_buf, and let and vars are
 * borrowed for the call.
 */
#ifndef KH_GEN_H
#define KH_GEN_H

#include <stdint.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "kh_ast.h"
#include "kh_vars.h"

typedef struct kh_gen_ctx {
  uint64_t seed;      /* Run seed (--seed): decides random choices. */
  uint64_t run_id;    /* Run identity (--run-id): part of every generated identity, so
                         replaying a seed against a persistent target never collides
                         with the accounts of an earlier run. */
  uint64_t scenario;  /* Scenario index in the suite. */
  uint64_t counter;   /* Advanced by every generator call. */
  uint64_t rng_state; /* Private PRNG state; set by kh_gen_ctx_init. */
} kh_gen_ctx;

void kh_gen_ctx_init(kh_gen_ctx *ctx, uint64_t seed, uint64_t run_id, uint64_t scenario);

/* Names of the known generators, NULL-terminated (for lint). */
extern const char *const KH_GEN_NAMES[];

/*
 * Evaluate a `let` (literal or call) with vars for interpolation of string
 * arguments; append the value to out. KF_ERR_INVALID with a message for a
 * wrong call (unknown generator, bad argument).
 */
kf_rc kh_gen_eval(kh_gen_ctx *ctx, const kh_let *let, const kh_vars *vars, kf_buf *out,
                  kf_err *err);

/*
 * Check a `let` statically (for lint and before evaluation): the generator
 * exists and its arguments have the right names, kinds and ranges. A literal
 * `let` is always valid. KF_ERR_INVALID with a message otherwise.
 */
kf_rc kh_gen_validate(const kh_let *let, kf_err *err);

#endif
