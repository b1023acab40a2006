/*
 * kh_step_check.c: the standalone expect/capture step. Its one check lives in
 * the step's checks like any sub-line's, so it has no data of its own and
 * nothing to carry out before the checks run.
 */
#include "kh_step_check.h"

#include "kh_expr.h"

static kf_rc kh_check_parse(kh_cur *c, kh_step *step, size_t kw_len) {
  c->i = kw_len;
  /* "capture" is 7 letters, "expect" 6. */
  return kh_expr_parse_check(c, step, kw_len == 7, 0);
}

static const char *const KH_CHECK_WORDS[] = {"expect", "capture", NULL};

const kh_step_def kh_step_check = {
    .what = "a check",
    .keywords = KH_CHECK_WORDS,
    .synopsis = "expect <query> <predicate> | capture NAME = <query>",
    .data_size = 0,
    .parse = kh_check_parse,
};
