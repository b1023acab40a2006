/*
 * kh_eval.h: queries, filters and predicates over a response, mail or letter.
 *
 * Pure functions over JSON values: the runner turns each HTTP response into a
 * subject object
 *   {"status": 202, "headers": {"content-type": "..."} (names lower-case),
 *    "body": "...", "json": <parsed body or null>, "duration_ms": 12}
 * and passes mail and letter documents as the mocks return them. mail.raw
 * reads a "raw" key of the mail document, which the runner adds when it
 * fetched /raw. Header queries look up lower-cased names in "headers".
 * Regexes are POSIX extended; a text holding NUL bytes is searched segment by
 * segment between the NULs.
 */
#ifndef KH_EVAL_H
#define KH_EVAL_H

#include <jansson.h>
#include <stdbool.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "kh_ast.h"
#include "kh_vars.h"

typedef struct kh_subjects {
  json_t *response; /* Borrowed; NULL before the first request. */
  json_t *mail;     /* Borrowed; NULL before the first mail wait. */
  json_t *letter;   /* Borrowed; NULL before the first letter wait. */
} kh_subjects;

/*
 * Evaluate query and its filters. *out is a new reference, or NULL when the
 * value is absent (a missing header, a JSON path that leads nowhere).
 * KF_ERR_STATE (message in err) when the subject does not exist yet (mail.*
 * before any wait), KF_ERR_INVALID for a bad regex or path.
 */
kf_rc kh_eval_query(const kh_query *query, const kh_subjects *subjects, const kh_vars *vars,
                    json_t **out, kf_err *err);

/*
 * Decide pred for value (which may be NULL = absent). On KF_OK *holds tells the
 * verdict and explain (may be NULL) gets "got 400" style detail for a failure
 * message: "got 400", "got \"abc\"", "value absent", with a note such as
 * " (type mismatch: number vs string)" where the types cannot be compared.
 * Comparisons are typed (docs/scenario-language.md, "Typed comparisons"): a
 * number and a string holding a whole decimal integer compare as numbers, any
 * other mix of types fails == and != alike. An absent value satisfies only
 * `not exists`. String operands are interpolated with vars (KF_ERR_NOT_FOUND
 * for an unknown variable); a bad regex or a json-equals operand that is not
 * JSON is KF_ERR_INVALID.
 */
kf_rc kh_eval_predicate(const kh_predicate *pred, const json_t *value, const kh_vars *vars,
                        bool *holds, kf_buf *explain, kf_err *err);

/* Render a value as capture text: strings raw, everything else as compact JSON. */
kf_rc kh_eval_to_text(const json_t *value, kf_buf *out);

/* JSON path lookup ("$.a[0].b"); borrowed result or NULL. KF_ERR_INVALID for bad syntax. */
kf_rc kh_json_path(const json_t *root, const char *path, json_t **out, kf_err *err);

#endif
