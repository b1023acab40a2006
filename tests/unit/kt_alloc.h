/*
 * kt_alloc.h: the allocation-failure sweep shared by the cmocka tests.
 *
 * SQLite's way: run the code under test once with the 1st allocation
 * failing, then the 2nd, and so on, until a run makes no allocation fail.
 * Each position is tried twice, transient (only that allocation fails, as
 * when memory is short for a moment) and persistent (that one and every
 * later one fail, as when memory stays short, which reaches the clean-up
 * paths that themselves allocate). ASan finds what leaks; the body finds
 * what is half-done.
 *
 * Use:
 *   static bool body(void *ctx, const kt_alloc_run *run) {
 *     ... set up (without failures: call kt_alloc_arm(run) right before the
 *     code under test), call it, check the result: on failure it must be
 *     KF_ERR_NOMEM (or a documented 500) and leave nothing half-stored ...
 *     return true when the call succeeded;
 *   }
 *   kt_alloc_sweep(body, &ctx);
 *
 * Header-only (static functions), because each unit test is one file.
 */
#ifndef KT_ALLOC_H
#define KT_ALLOC_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kf/alloc.h"

/* Sweeps stop here even if the code under test never finishes cleanly. */
#define KT_ALLOC_MAX_RUNS 200000ul

typedef struct kt_alloc_run {
  unsigned long n; /* Which allocation fails, counted from kt_alloc_arm. */
  bool persistent; /* Whether every later allocation fails as well. */
} kt_alloc_run;

/*
 * Arm the failure of this run. The body calls it right before the code under
 * test, so that its own set-up is not what fails.
 */
static inline void kt_alloc_arm(const kt_alloc_run *run) {
  if (run->persistent)
    kf_alloc_fail_from(run->n);
  else
    kf_alloc_fail_at(run->n);
}

/* Turn injection off, for the body's checks after the call; what failed is still known. */
static inline void kt_alloc_disarm(void) {
  kf_alloc_fail_stop();
}

/*
 * One run of the code under test; returns whether the call succeeded. The
 * body may use cmocka asserts to check what a failed call left behind.
 */
typedef bool (*kt_alloc_body)(void *ctx, const kt_alloc_run *run);

/*
 * Run body for n = 1, 2, ... in both modes until a run with n past the last
 * allocation succeeds with no injected failure. Fails the test when a run
 * reports success although its allocation failed and the body did not
 * tolerate it (a run that succeeds despite an injected failure is fine: the
 * failed allocation may have had a fallback). Returns how many allocations
 * the clean run made.
 */
static inline unsigned long kt_alloc_sweep(kt_alloc_body body, void *ctx) {
  for (unsigned long n = 1; n < KT_ALLOC_MAX_RUNS; n++) {
    bool clean = false;
    for (int mode = 0; mode < 2; mode++) {
      kt_alloc_run run = {n, mode == 1};
      bool ok = body(ctx, &run);
      bool failed = kf_alloc_failed() != 0;
      kf_alloc_fail_at(0);
      if (!failed) {
        /* Nothing failed: the code under test needs fewer than n allocations. */
        if (!ok)
          fail_msg("kt_alloc_sweep: the call failed at n=%lu although no allocation failed", n);
        clean = true;
        break;
      }
    }
    if (clean)
      return n - 1;
  }
  fail_msg("kt_alloc_sweep: no clean run within %lu allocations", KT_ALLOC_MAX_RUNS);
  return 0;
}

#endif
