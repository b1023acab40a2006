/*
 * kh_stats.c: Mann-Whitney U and the Hodges-Lehmann shift (see kh_stats.h).
 */
#include "kh_stats.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kf/alloc.h"

static int kh_stats_cmp(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

static double kh_stats_median(double *v, size_t n) {
  qsort(v, n, sizeof *v, kh_stats_cmp);
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

double kh_stats_normal_quantile(double q) {
  assert(q > 0.0 && q < 1.0);
  /* Bisection on erfc: exact enough for every level a check uses, and plainly right. */
  double lo = -40.0, hi = 40.0;
  for (int i = 0; i < 200; i++) {
    double mid = (lo + hi) / 2.0;
    if (0.5 * erfc(mid / sqrt(2.0)) > q)
      lo = mid;
    else
      hi = mid;
  }
  return (lo + hi) / 2.0;
}

/* One value with its sample and its rank, for ranking both samples together. */
typedef struct kh_stats_item {
  double v;
  int sample;
  double rank;
} kh_stats_item;

static int kh_stats_item_cmp(const void *x, const void *y) {
  return kh_stats_cmp(&((const kh_stats_item *)x)->v, &((const kh_stats_item *)y)->v);
}

/* U of sample a and the tie correction term sum(t^3 - t). */
static void kh_stats_ranks(kh_stats_item *all, size_t total, size_t n, double *u_a, double *ties) {
  qsort(all, total, sizeof *all, kh_stats_item_cmp);
  *ties = 0.0;
  double rank_sum_a = 0.0;
  for (size_t i = 0; i < total;) {
    size_t j = i;
    while (j + 1 < total && all[j + 1].v == all[i].v)
      j++;
    double t = (double)(j - i + 1);
    double mid = ((double)i + (double)j) / 2.0 + 1.0;
    for (size_t k = i; k <= j; k++) {
      all[k].rank = mid;
      if (all[k].sample == 0)
        rank_sum_a += mid;
    }
    *ties += t * t * t - t;
    i = j + 1;
  }
  *u_a = rank_sum_a - (double)n * ((double)n + 1.0) / 2.0;
}

/* The shift and its interval from the sorted pairwise differences b_j - a_i. */
static kf_rc kh_stats_shift(const double *a, size_t n, const double *b, size_t m, double z,
                            kh_stats_result *out) {
  size_t nm = n * m;
  double *d = kf_malloc(nm * sizeof *d);
  if (d == NULL)
    return KF_ERR_NOMEM;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < m; j++)
      d[i * m + j] = b[j] - a[i];
  out->shift = kh_stats_median(d, nm);
  /* The interval's ends are order statistics of the differences (normal approximation of U). */
  double half = z * sqrt((double)n * (double)m * ((double)n + (double)m + 1.0) / 12.0);
  /* C = floor(nm/2 - half) counts from 1 (Hollander and Wolfe): the C-th smallest and the
     C-th largest difference, at 0-based indexes C - 1 and nm - C. */
  double c = floor((double)nm / 2.0 - half);
  size_t lo = c < 1.0 ? 0 : (size_t)c - 1;
  size_t hi = nm - 1 - lo;
  if (lo > hi)
    lo = hi = nm / 2;
  out->ci_low = d[lo];
  out->ci_high = d[hi];
  kf_free(d);
  return KF_OK;
}

kf_rc kh_stats_compare(const double *a, size_t n, const double *b, size_t m, double confidence,
                       kh_stats_result *out) {
  if (n < 2 || m < 2 || n > KH_STATS_MAX_N || m > KH_STATS_MAX_N || confidence <= 0.0 ||
      confidence >= 1.0)
    return KF_ERR_INVALID;
  memset(out, 0, sizeof *out);
  size_t total = n + m;
  kh_stats_item *all = kf_malloc(total * sizeof *all);
  double *sa = kf_malloc(n * sizeof *sa);
  double *sb = kf_malloc(m * sizeof *sb);
  kf_rc rc = all != NULL && sa != NULL && sb != NULL ? KF_OK : KF_ERR_NOMEM;
  if (rc == KF_OK) {
    for (size_t i = 0; i < n; i++)
      all[i] = (kh_stats_item){a[i], 0, 0.0};
    for (size_t j = 0; j < m; j++)
      all[n + j] = (kh_stats_item){b[j], 1, 0.0};
    double u_a = 0.0, ties = 0.0;
    kh_stats_ranks(all, total, n, &u_a, &ties);
    double nn = (double)n, mm = (double)m, tt = (double)total;
    double mean = nn * mm / 2.0;
    double var = nn * mm / 12.0 * ((tt + 1.0) - ties / (tt * (tt - 1.0)));
    /* All values equal: no evidence of any difference. */
    out->z = var > 0.0 ? (u_a - mean) / sqrt(var) : 0.0;
    out->p = erfc(fabs(out->z) / sqrt(2.0));
    memcpy(sa, a, n * sizeof *sa);
    memcpy(sb, b, m * sizeof *sb);
    out->median_a = kh_stats_median(sa, n);
    out->median_b = kh_stats_median(sb, m);
    rc = kh_stats_shift(a, n, b, m, kh_stats_normal_quantile((1.0 - confidence) / 2.0), out);
  }
  kf_free(all);
  kf_free(sa);
  kf_free(sb);
  return rc;
}
