/*
 * kh_stats.h: comparing two samples of durations, for "in the same time
 * class" (AUTH-04, ACC-10).
 *
 * The test is Mann-Whitney U (Wilcoxon rank-sum), two-sided, with the
 * normal approximation and the tie correction: it makes no assumption about
 * the shape of the distributions, which for response times are skewed and
 * have outliers. Beside the p-value it gives the Hodges-Lehmann estimate of
 * the shift between the samples (the median of all pairwise differences)
 * and its confidence interval, so a verdict can ask both "is there a
 * difference" and "is it large enough to matter".
 */
#ifndef KH_STATS_H
#define KH_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "kf/error.h"

/* The most values per sample (a timing step's rounds). */
#define KH_STATS_MAX_N 1000

typedef struct kh_stats_result {
  double median_a, median_b; /* Per sample. */
  double shift;              /* Hodges-Lehmann estimate of b - a. */
  double ci_low, ci_high;    /* Its confidence interval at the level asked for. */
  double z;                  /* The U statistic, standardised. */
  double p;                  /* Two-sided p-value of "no difference". */
} kh_stats_result;

/*
 * Compare samples a (n values) and b (m values), 2 <= n, m <= KH_STATS_MAX_N.
 * confidence is the level of the interval (0.99). KF_ERR_INVALID for sizes
 * out of range, KF_ERR_NOMEM.
 */
kf_rc kh_stats_compare(const double *a, size_t n, const double *b, size_t m, double confidence,
                       kh_stats_result *out);

/* The upper quantile z of the standard normal distribution: P(Z > z) = q (0 < q < 1). */
double kh_stats_normal_quantile(double q);

#endif
