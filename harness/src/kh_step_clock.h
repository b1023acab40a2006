/*
 * kh_step_clock.h: `clock create "ISO"|now`, `clock advance D`, `clock set "ISO"`:
 * the scenario's own test clock on the target (profile `clock = konform`).
 */
#ifndef KH_STEP_CLOCK_H
#define KH_STEP_CLOCK_H

#include <stdint.h>

#include "kh_ast.h"
#include "kh_step.h"

typedef enum kh_clock_op {
  KH_CLOCK_CREATE,
  KH_CLOCK_CREATE_NOW,
  KH_CLOCK_ADVANCE,
  KH_CLOCK_SET
} kh_clock_op;

typedef struct kh_clock_step {
  kh_clock_op op;
  kh_template iso;    /* CREATE and SET. */
  int64_t advance_ms; /* ADVANCE. */
} kh_clock_step;

extern const kh_step_def kh_step_clock;

#endif
