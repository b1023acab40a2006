/* Unit tests for kh_stats: Mann-Whitney U, the Hodges-Lehmann shift and its interval. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "kh_stats.h"
#include "kt_alloc.h"

static void test_separated_samples(void **state) {
  (void)state;
  const double a[] = {1, 2, 3, 4, 5};
  const double b[] = {6, 7, 8, 9, 10};
  kh_stats_result r;
  assert_int_equal(kh_stats_compare(a, 5, b, 5, 0.95, &r), KF_OK);
  /* U = 0, mean 12.5, variance 25 * 11 / 12: z = -2.611, p = 0.00902. */
  assert_true(fabs(r.z + 2.6112) < 1e-3);
  assert_true(fabs(r.p - 0.00902) < 1e-4);
  assert_true(r.shift == 5.0); /* The differences 1..9, 25 of them: median 5. */
  assert_true(r.median_a == 3.0 && r.median_b == 8.0);
  assert_true(r.ci_low > 0.0 && r.ci_high <= 9.0 && r.ci_low <= 5.0 && r.ci_high >= 5.0);
}

static void test_same_samples(void **state) {
  (void)state;
  const double a[] = {10, 11, 12, 13, 14, 15};
  kh_stats_result r;
  assert_int_equal(kh_stats_compare(a, 6, a, 6, 0.99, &r), KF_OK);
  assert_true(fabs(r.z) < 1e-9);
  assert_true(fabs(r.p - 1.0) < 1e-9);
  assert_true(r.shift == 0.0);
  assert_true(r.ci_low < 0.0 && r.ci_high > 0.0);
  /* All values equal: no evidence either way, and no division by zero. */
  const double c[] = {7, 7, 7};
  assert_int_equal(kh_stats_compare(c, 3, c, 3, 0.99, &r), KF_OK);
  assert_true(r.p == 1.0 && r.shift == 0.0);
}

static void test_ties_and_sizes(void **state) {
  (void)state;
  const double a[] = {1, 2, 2, 3};
  const double b[] = {2, 3, 3, 4, 5};
  kh_stats_result r;
  assert_int_equal(kh_stats_compare(a, 4, b, 5, 0.9, &r), KF_OK);
  assert_true(r.p > 0.05 && r.p < 1.0);
  assert_true(r.shift == 1.0);
  assert_int_equal(kh_stats_compare(a, 1, b, 5, 0.9, &r), KF_ERR_INVALID);
  assert_int_equal(kh_stats_compare(a, 4, b, 5, 1.0, &r), KF_ERR_INVALID);
  /* The normal quantile: P(Z > 1.96) = 0.025, P(Z > 2.576) = 0.005. */
  assert_true(fabs(kh_stats_normal_quantile(0.025) - 1.95996) < 1e-4);
  assert_true(fabs(kh_stats_normal_quantile(0.005) - 2.57583) < 1e-4);
}

static bool stats_body(void *data, const kt_alloc_run *run) {
  (void)data;
  const double a[] = {1, 5, 2, 8, 3, 9};
  const double b[] = {4, 6, 7, 2, 1, 8};
  kh_stats_result r;
  kt_alloc_arm(run);
  kf_rc rc = kh_stats_compare(a, 6, b, 6, 0.99, &r);
  kt_alloc_disarm();
  if (rc != KF_OK)
    assert_int_equal(rc, KF_ERR_NOMEM);
  return rc == KF_OK;
}

static void test_allocation_failures(void **state) {
  (void)state;
  assert_int_equal(kt_alloc_sweep(stats_body, NULL), 4);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_separated_samples),
      cmocka_unit_test(test_same_samples),
      cmocka_unit_test(test_ties_and_sizes),
      cmocka_unit_test(test_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
