/*
 * kh_lint.h: static checks over a loaded suite (`konform lint`).
 *
 * The linter never stops at the first problem: it collects every diagnostic
 * in a report so the CLI can print them all and choose the exit code from the
 * counts (errors fail the lint, warnings do not).
 */
#ifndef KH_LINT_H
#define KH_LINT_H

#include <stdbool.h>
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

/*
 * For the lint functions of step kinds (kh_step.h). The walk sets the step's
 * position before calling one; these check templates against the variables
 * defined so far and define new ones. Memory trouble is sticky in ctx.
 */
typedef struct kh_lint_ctx kh_lint_ctx;

/* Every {{var}} of tpl must be defined by now (an error, a warning inside fragments). */
void kh_lint_template(kh_lint_ctx *ctx, const kh_template *tpl);
/* kh_lint_template for a string literal; other literals hold no variables. */
void kh_lint_literal(kh_lint_ctx *ctx, const kh_literal *lit);
/* Define name from here on; may_quote: its value may hold '"' (a password). */
void kh_lint_define(kh_lint_ctx *ctx, const char *name, bool may_quote);
/* Whether tpl copies, unescaped, a value that may hold '"'. */
bool kh_lint_may_quote(kh_lint_ctx *ctx, const kh_template *tpl);
/* tpl is a JSON body: a value that may hold '"' must be written {{x|json}}. */
void kh_lint_json_body(kh_lint_ctx *ctx, const kh_template *tpl);
/* An error at the current step's line. */
void kh_lint_step_error(kh_lint_ctx *ctx, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Define everything fragment fr defines (its parameters, lets, captures, nested uses). */
void kh_lint_fragment(kh_lint_ctx *ctx, const kh_fragment *fr);

#endif
