/*
 * kh_lint.h: static checks over a loaded suite (`konform lint`).
 *
 * The linter never stops at the first problem: it collects every diagnostic
 * in a report so the CLI can print them all and choose the exit code from the
 * counts (errors fail the lint, warnings do not).
 */
#ifndef KH_LINT_H
#define KH_LINT_H

#include <stddef.h>

#include "kf/error.h"
#include "kh_catalogue.h"
#include "kh_parse.h"
#include "kh_suite.h"

/* Every diagnostic of one lint run, in suite order. Owns items. */
typedef struct kh_lint_report {
  kh_diag *items;
  size_t len;
  size_t cap;
  size_t errors;   /* Items with KH_SEV_ERROR. */
  size_t warnings; /* Items with KH_SEV_WARNING. */
} kh_lint_report;

/* At most this many diagnostics are kept; later ones are counted but dropped. */
#define KH_LINT_MAX_DIAGS 10000u

void kh_lint_report_init(kh_lint_report *report);
void kh_lint_report_release(kh_lint_report *report);

/*
 * Check the suite and append what is wrong to report:
 *  - error: a covers: ID not in the catalogue (skipped when cat is NULL);
 *  - error: an unknown generator or invalid generator arguments;
 *  - error: a {{var}} used before any let, capture, fragment parameter or
 *    fragment capture defines it (built-ins target.*, run.*, scenario.* are
 *    always defined); inside fragments this is a warning, because a fragment
 *    shares the variables of whatever scenario uses it;
 *  - error: two scenarios with the same name anywhere in the suite (names
 *    identify scenarios in JUnit and the requirement lists);
 *  - error: a scenario (with the fragments it uses) that has no expect, since
 *    a test that asserts nothing would always pass.
 * Returns KF_OK when the checks ran (whatever they found), KF_ERR_NOMEM if
 * memory ran out (report then holds what was found so far).
 */
kf_rc kh_lint_suite(const kh_suite *suite, const kh_catalogue *cat, kh_lint_report *report);

#endif
