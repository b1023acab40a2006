/*
 * kh_expr.h: the expression parser: `expect` and `capture` lines, their
 * queries, filters and predicates, read with the lexer (kh_lex.h) against
 * the tables of kh_query.h, kh_filter.h and kh_pred.h.
 */
#ifndef KH_EXPR_H
#define KH_EXPR_H

#include <stdbool.h>
#include <stddef.h>

#include "kh_ast.h"
#include "kh_lex.h"

/* A query and its filters, at the cursor. */
kf_rc kh_expr_parse_query(kh_cur *c, kh_query *q);
/* A predicate and its operand; expect_at is where the line's query starts (for the hint). */
kf_rc kh_expr_parse_predicate(kh_cur *c, kh_predicate *pred, size_t expect_at);
/*
 * An `expect` or `capture` line appended to step's checks; the cursor is
 * after the keyword, which starts at byte kw_at.
 */
kf_rc kh_expr_parse_check(kh_cur *c, kh_step *step, bool is_capture, size_t kw_at);

#endif
