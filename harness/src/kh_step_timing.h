/*
 * kh_step_timing.h: `timing N rounds [margin D] [relative P%]` with
 * sub-lines `a <request>` and `b <request>`: sends the two requests
 * interleaved N times each and decides whether their response times are in
 * the same class (kh_stats.h). The decision becomes the timing subject:
 *   {"rounds", "a": {"median_ms", "status"}, "b": {...}, "shift_ms",
 *    "ci_low_ms", "ci_high_ms", "p", "margin_ms", "verdict", "same_class"}
 *
 * Verdicts: "same" when the 99% confidence interval of the shift lies within
 * ±margin; "different" when the Mann-Whitney test rejects "no difference" at
 * p < 0.001 and the shift is larger than the margin; else "inconclusive".
 * While inconclusive the step goes on in batches of half the rounds, up to
 * five times the rounds asked for; still inconclusive then, it leaves the
 * scenario not checked (skipped with the figures), never passed. The interval's
 * confidence is split over every look the step may take (Bonferroni). The
 * margin is the larger of the absolute one and the relative one of the
 * faster kind's median: the step's `margin`, else the profile's [defaults]
 * timing_margin_ms and timing_margin_percent, else 2 ms and 10%. What is
 * compared is the location of the two distributions (the Hodges-Lehmann
 * shift); a difference only in rare answers (a tail) is not measured. A
 * scenario with a timing step runs alone, against the profile's
 * timing_base_url when set.
 */
#ifndef KH_STEP_TIMING_H
#define KH_STEP_TIMING_H

#include <stdbool.h>
#include <stdint.h>

#include "kh_step.h"
#include "kh_step_http.h"

typedef struct kh_timing {
  long long rounds;
  int64_t margin_ms;    /* Absolute margin. */
  long long margin_pct; /* Relative margin, percent of the faster kind's median. */
  bool margin_given;    /* The step names its margin; else the profile's [defaults] do. */
  kh_request req[2];    /* a and b. */
} kh_timing;

extern const kh_step_def kh_step_timing;

#endif
