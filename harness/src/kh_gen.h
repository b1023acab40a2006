/*
 * kh_gen.h: generators for `let` (email(), password(), customer_number() ...),
 * as one table: a row gives the name, the synopsis for hints, the argument
 * check, the generator, and whether its values may hold a double quote (for
 * lint). Adding a generator is one row of KH_GEN_TABLE in kh_gen.c and its
 * function.
 *
 * Values are derived from (run seed, scenario index, per-scenario counter), so
 * a seed reproduces a run and no two scenarios of a run share an identity.
 *
 * Ownership: kh_gen_ctx is plain caller-owned state with nothing to free;
 * generated values are appended to the caller's kf_buf, and calls and vars
 * are borrowed for the call.
 */
#ifndef KH_GEN_H
#define KH_GEN_H

#include <stdbool.h>
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

/* A generator call as written: func(args). Borrowed. */
typedef struct kh_gen_call {
  const char *func;
  const kh_arg *args;
  size_t args_len;
} kh_gen_call;

typedef struct kh_gen_def {
  const char *name;     /* "password". */
  const char *synopsis; /* "password(length=, omit=, add=)". */
  kf_rc (*check)(const kh_gen_call *call, kf_err *err);
  kf_rc (*generate)(kh_gen_ctx *ctx, const kh_gen_call *call, const kh_vars *vars, kf_buf *out,
                    kf_err *err);
  bool may_quote; /* Its values may hold '"' (so JSON bodies need {{x|json}}). */
} kh_gen_def;

/* Names of the known generators, NULL-terminated. */
extern const char *const KH_GEN_NAMES[];
/* "generators: email(), unique("p"), ..." for hints. */
extern const char *const KH_GEN_SYNOPSIS;

/* The row named name, or NULL. */
const kh_gen_def *kh_gen_find(const char *name);

/*
 * Check a call statically (for lint and before evaluation): the generator
 * exists and its arguments have the right names, kinds and ranges.
 * KF_ERR_INVALID with a message otherwise.
 */
kf_rc kh_gen_validate(const kh_gen_call *call, kf_err *err);

/*
 * Evaluate a call, interpolating string arguments with vars; append the value
 * to out. KF_ERR_INVALID with a message for a wrong call.
 */
kf_rc kh_gen_eval(kh_gen_ctx *ctx, const kh_gen_call *call, const kh_vars *vars, kf_buf *out,
                  kf_err *err);

#endif
