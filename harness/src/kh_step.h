/*
 * kh_step.h: the step registry. Every kind of scenario step (let, an HTTP
 * request, wait, clock, use, a standalone expect or capture line, ...) is one
 * row: a kh_step_def that its own module kh_step_<kind>.c defines, listed
 * once in the KH_STEPS table of kh_steps.c. The parser, the suite loader,
 * the linter, the needs scan and the executor only ever go through the row,
 * so adding a step kind is one new file and one new row.
 */
#ifndef KH_STEP_H
#define KH_STEP_H

#include <stdbool.h>
#include <stddef.h>

#include "kf/error.h"
#include "kf/run_result.h"
#include "kh_ast.h"
#include "kh_diag.h"
#include "kh_lex.h"

struct kh_exec;
struct kh_lint_ctx;
struct kh_suite;

/* What a scenario needs from the target, as bits; kh_exec.c checks them against the profile. */
/* Each: name, the skip kind when the target lacks it, why. */
#define KH_NEEDS(X)                                                                                \
  X(CLOCK, KF_SKIP_NO_CLOCK,                                                                       \
    "the target has no test clock control (profile clock is not \"konform\"); this "               \
    "scenario needs one")                                                                          \
  X(MAIL_API, KF_SKIP_NO_MAIL_API,                                                                 \
    "the target profile sets no mail_api; this scenario waits for mail")                           \
  X(POST_API, KF_SKIP_NO_POST_API,                                                                 \
    "the target profile sets no post_api; this scenario waits for letters")                        \
  /* Measures response times: runs alone, against the profile's timing_base_url when set. */       \
  X(TIMING, KF_SKIP_OTHER, "the target cannot be timed")

enum {
#define KH_NEED_BIT_INDEX(name, kind, why) KH_NEED_INDEX_##name,
  KH_NEEDS(KH_NEED_BIT_INDEX)
#undef KH_NEED_BIT_INDEX
      KH_NEED_COUNT
};
#define KH_NEED_BIT(name) (1u << KH_NEED_INDEX_##name)

typedef struct kh_step_def {
  /* What the step is, for messages and docs ("an HTTP request"). */
  const char *what;
  /* The words that start the step in column 1, NULL-terminated. */
  const char *const *keywords;
  /* Its form, for hints: "wait mail|letter <filters> [within D]". */
  const char *synopsis;
  /* Bytes of the kind's data, allocated zeroed into kh_step.data before parse. */
  size_t data_size;
  /*
   * Parse the step line; the keyword is the first kw_len bytes of the line and
   * the cursor is right after it.
   */
  kf_rc (*parse)(kh_cur *c, kh_step *step, size_t kw_len);
  /* Sub-line words the kind takes besides expect and capture, NULL-terminated, or NULL. */
  const char *const *sublines;
  /* Parse a sub-line; its word is word_len bytes at kw_at and the cursor is after it. */
  kf_rc (*parse_subline)(kh_cur *c, kh_step *step, size_t kw_at, size_t word_len);
  /* Free what data owns (not data itself). May be NULL. */
  void (*release)(void *data);
  /* After loading: resolve references to other files (a fragment). May be NULL. */
  kf_rc (*resolve)(kh_step *step, const struct kh_suite *suite, kh_diag *diag);
  /* The fragment the step runs, once resolved, or NULL. May be NULL. */
  const kh_fragment *(*fragment)(const kh_step *step);
  /* Static checks (kh_lint.h): templates it uses, variables it defines. May be NULL. */
  void (*lint)(struct kh_lint_ctx *ctx, const kh_step *step);
  /* What the step needs from the target (KH_NEED_BIT ...). May be NULL. */
  unsigned (*needs)(const kh_step *step);
  /* Carry the step out into step result idx (kh_exec.h); depth: fragment nesting. */
  kf_status (*exec)(struct kh_exec *ex, size_t idx, const kh_step *step, int depth);
} kh_step_def;

/* The row whose keyword is the wlen bytes at w, or NULL. */
const kh_step_def *kh_steps_find(const char *w, size_t wlen);
/* The row that takes sub-line word w (besides expect/capture), or NULL. */
const kh_step_def *kh_steps_find_subline(const char *w, size_t wlen);
/* Every keyword of every row, in table order, NULL-terminated. */
const char *const *kh_steps_keywords(void);
/* Every sub-line word of every row, then "expect" and "capture", NULL-terminated. */
const char *const *kh_steps_sublines(void);

/* The fragment a step runs (resolved `use`), or NULL. */
const kh_fragment *kh_step_fragment(const kh_step *step);

#endif
