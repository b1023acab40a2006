/*
 * kh_pred.h: the predicates of `expect` lines (==, contains, matches, ...),
 * as one table.
 *
 * A row gives the predicate as written ("not contains"), what operand it
 * takes, how it is decided, and whether it is the negation of that decision.
 * The parser matches rows by their text and takes the names for hints from
 * the table, so adding a predicate is one row of KH_PRED_TABLE in kh_pred.c
 * (plus a decide function when none of the existing ones fits).
 *
 * Comparisons are typed (docs/scenario-language.md, "Typed comparisons"): a
 * number and a string holding a whole decimal integer compare as numbers,
 * any other mix of types fails == and != alike. An absent value satisfies
 * only `not exists`.
 */
#ifndef KH_PRED_H
#define KH_PRED_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "kh_ast.h"
#include "kh_vars.h"

/* What follows the predicate. */
typedef enum kh_pred_operand {
  KH_PRED_NO_OPERAND, /* exists, is-uuid */
  KH_PRED_ANY,        /* == 200, == "x", == true, == null */
  KH_PRED_NUMBER,     /* < 500, or a quoted whole integer such as "{{max}}" */
  KH_PRED_STRING,     /* contains "x" */
  KH_PRED_REGEX       /* matches "^a+$": a string the parser compiles when it takes no variable */
} kh_pred_operand;

/* What a decide function sees and sets. */
typedef struct kh_pred_env {
  const json_t *value;       /* Present (never NULL). */
  const kh_literal *operand; /* As parsed. */
  const char *s;             /* The string operand, interpolated (len slen); "" otherwise. */
  size_t slen;
  int mode;       /* The row's mode (which ordering, for the comparisons). */
  bool holds;     /* The decision, before the row's negation. */
  bool undecided; /* The types cannot be compared: fails whatever the negation. */
  char note[80];  /* Appended to the explanation, e.g. " (type mismatch: number vs string)". */
  kf_buf *found;  /* A decision may put here where it found the operand; it then explains. */
  const struct kh_regex *re; /* The operand compiled at parse time, or NULL (kh_text.h). */
} kh_pred_env;

typedef kf_rc (*kh_pred_fn)(kh_pred_env *env, kf_err *err);

typedef struct kh_pred_def {
  const char *text; /* As written: "==", "not contains", "is-uuid". */
  kh_pred_operand operand;
  kh_pred_fn decide;
  bool negate; /* The predicate holds when decide says it does not. */
  int mode;
} kh_pred_def;

/* The row written as text (words joined by one blank), or NULL. */
const kh_pred_def *kh_pred_find(const char *text, size_t len);
/* Every predicate as written, NULL-terminated (for hints). */
const char *const *kh_pred_names(void);

/*
 * Decide pred for value (which may be NULL = absent). On KF_OK *holds tells the
 * verdict and explain (may be NULL) gets "got 400" style detail for a failure
 * message: "got 400", "got \"abc\"", "value absent", with a note such as
 * " (type mismatch: number vs string)" where the types cannot be compared.
 * String operands are interpolated with vars (KF_ERR_NOT_FOUND for an unknown
 * variable); a bad regex or a json-equals operand that is not JSON is
 * KF_ERR_INVALID.
 */
kf_rc kh_pred_eval(const kh_predicate *pred, const json_t *value, const kh_vars *vars, bool *holds,
                   kf_buf *explain, kf_err *err);

/*
 * The operand as a person reads it, variables filled in: strings quoted,
 * numbers, true, false, null; nothing for predicates without an operand.
 */
kf_rc kh_pred_operand_text(const kh_predicate *pred, const kh_vars *vars, kf_buf *out, kf_err *err);

#endif
