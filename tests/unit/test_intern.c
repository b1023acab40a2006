/*
 * test_intern.c: the string table of parsed files: one copy per distinct
 * content, NULs inside, growth of the set and the chunks, references, and
 * failing allocations that leave the table as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kf/alloc.h"
#include "kh_intern.h"
#include "kt_alloc.h"

static const char *get(kh_intern *t, const char *s, size_t len) {
  const char *out = NULL;
  assert_int_equal(kh_intern_get(t, s, len, &out), KF_OK);
  assert_non_null(out);
  return out;
}

static void test_same_bytes_same_pointer(void **state) {
  (void)state;
  kh_intern *t = NULL;
  assert_int_equal(kh_intern_new(&t), KF_OK);
  char line[] = "expect status == 200 and more";
  const char *a = get(t, line, 20);
  assert_string_equal(a, "expect status == 200");
  assert_ptr_not_equal(a, line);
  /* The same bytes from elsewhere: the same pointer, nothing stored. */
  const char *b = get(t, "expect status == 200", 20);
  assert_ptr_equal(a, b);
  assert_int_equal(kh_intern_count(t), 1);
  /* A prefix is another string. */
  const char *c = get(t, line, 6);
  assert_ptr_not_equal(a, c);
  assert_string_equal(c, "expect");
  /* NULs inside: the length decides, and a NUL follows. */
  const char *n1 = get(t, "a\0b", 3);
  const char *n2 = get(t, "a\0c", 3);
  const char *n3 = get(t, "a", 1);
  assert_ptr_not_equal(n1, n2);
  assert_ptr_not_equal(n1, n3);
  assert_memory_equal(n1, "a\0b\0", 4);
  assert_ptr_equal(get(t, "a\0b", 3), n1);
  /* The empty string, also from NULL with length 0. */
  const char *e = get(t, "", 0);
  assert_string_equal(e, "");
  assert_ptr_equal(get(t, NULL, 0), e);
  assert_int_equal(kh_intern_count(t), 6);
  kh_intern_unref(t);
}

/* Many strings: the set grows and rehashes, every pointer stays and is found again. */
static void test_growth(void **state) {
  (void)state;
  enum { N = 20000 };
  kh_intern *t = NULL;
  assert_int_equal(kh_intern_new(&t), KF_OK);
  static const char *ptrs[N];
  char buf[32];
  for (int i = 0; i < N; i++) {
    int n = snprintf(buf, sizeof buf, "{{v%d}}", i);
    ptrs[i] = get(t, buf, (size_t)n);
  }
  assert_int_equal(kh_intern_count(t), N);
  for (int i = 0; i < N; i++) {
    int n = snprintf(buf, sizeof buf, "{{v%d}}", i);
    assert_ptr_equal(get(t, buf, (size_t)n), ptrs[i]);
    assert_string_equal(ptrs[i], buf);
  }
  assert_int_equal(kh_intern_count(t), N);
  kh_intern_unref(t);
}

/*
 * A large string gets a chunk of its own, so the chunk being filled goes on
 * taking small ones; the chunks' bytes are what was asked for plus at most
 * the rest of the chunk being filled.
 */
static void test_chunks(void **state) {
  (void)state;
  kh_intern *t = NULL;
  assert_int_equal(kh_intern_new(&t), KF_OK);
  const char *small = get(t, "covers", 6);
  size_t first = kh_intern_chunk_bytes(t);
  assert_true(first >= 4 + 6 + 1 && first <= 4096);
  static char big[100000];
  memset(big, 'x', sizeof big);
  const char *large = get(t, big, sizeof big);
  assert_int_equal(kh_intern_chunk_bytes(t), first + 4 + sizeof big + 1);
  assert_int_equal(large[sizeof big], '\0');
  const char *small2 = get(t, "tags", 4);
  /* Still in the first chunk: right after "covers" and its NUL and the next length. */
  assert_ptr_equal(small2, small + 6 + 1 + 4);
  assert_int_equal(kh_intern_chunk_bytes(t), first + 4 + sizeof big + 1);
  kh_intern_unref(t);
}

/* The table lives while a reference does; ASan sees whether the last one frees it all. */
static void test_references(void **state) {
  (void)state;
  kh_intern *t = NULL;
  assert_int_equal(kh_intern_new(&t), KF_OK);
  assert_ptr_equal(kh_intern_ref(t), t);
  const char *s = get(t, "ACC-01", 6);
  kh_intern_unref(t);
  /* One reference left: the string is still there. */
  assert_string_equal(s, "ACC-01");
  assert_ptr_equal(get(t, "ACC-01", 6), s);
  kh_intern_unref(t);
  kh_intern_unref(NULL);
}

typedef struct fill_ctx {
  kh_intern *t;
  const char *kept;
} fill_ctx;

/*
 * Under every failing allocation, a new string is KF_ERR_NOMEM and the table
 * is unchanged: what it held is still found at the same place, and a string
 * already held needs no memory at all.
 */
static bool fill_body(void *vctx, const kt_alloc_run *run) {
  fill_ctx *ctx = vctx;
  assert_int_equal(kh_intern_new(&ctx->t), KF_OK);
  ctx->kept = get(ctx->t, "kept", 4);
  size_t count = kh_intern_count(ctx->t);
  char buf[32];
  kt_alloc_arm(run);
  kf_rc rc = KF_OK;
  int i;
  for (i = 0; i < 1000 && rc == KF_OK; i++) {
    const char *out = NULL;
    int n = snprintf(buf, sizeof buf, "string number %d", i);
    rc = kh_intern_get(ctx->t, buf, (size_t)n, &out);
    if (rc == KF_OK)
      count++;
    const char *again = NULL;
    assert_int_equal(kh_intern_get(ctx->t, "kept", 4, &again), KF_OK);
    assert_ptr_equal(again, ctx->kept);
  }
  kt_alloc_disarm();
  assert_true(rc == KF_OK || rc == KF_ERR_NOMEM);
  assert_int_equal(kh_intern_count(ctx->t), count);
  for (int k = 0; k < (rc == KF_OK ? i : i - 1); k++) {
    int n = snprintf(buf, sizeof buf, "string number %d", k);
    size_t before = kh_intern_count(ctx->t);
    assert_string_equal(get(ctx->t, buf, (size_t)n), buf);
    assert_int_equal(kh_intern_count(ctx->t), before);
  }
  kh_intern_unref(ctx->t);
  return rc == KF_OK;
}

static void test_allocation_failures(void **state) {
  (void)state;
  fill_ctx ctx = {NULL, NULL};
  assert_true(kt_alloc_sweep(fill_body, &ctx) > 5);
  /* A new table under a failed allocation is nothing. */
  kh_intern *t = (kh_intern *)&ctx;
  kf_alloc_fail_at(1);
  assert_int_equal(kh_intern_new(&t), KF_ERR_NOMEM);
  kf_alloc_fail_at(0);
  assert_null(t);
}

static void test_limits(void **state) {
  (void)state;
  kh_intern *t = NULL;
  assert_int_equal(kh_intern_new(&t), KF_OK);
  const char *out = NULL;
  /* Only the length is looked at before the refusal, so no such buffer is needed. */
  assert_int_equal(kh_intern_get(t, "x", (size_t)KH_INTERN_MAX_LEN + 1, &out), KF_ERR_LIMIT);
  assert_null(out);
  assert_int_equal(kh_intern_count(t), 0);
  kh_intern_unref(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_same_bytes_same_pointer),
      cmocka_unit_test(test_growth),
      cmocka_unit_test(test_chunks),
      cmocka_unit_test(test_references),
      cmocka_unit_test(test_allocation_failures),
      cmocka_unit_test(test_limits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
