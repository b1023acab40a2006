/*
 * kh_expr.c: queries, filters, predicates and check lines (see kh_expr.h).
 */
#include "kh_expr.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/str.h"
#include "kh_filter.h"
#include "kh_pred.h"
#include "kh_query.h"
#include "kh_text.h"

/* "valid predicates: ==, !=, ..." from the predicate table. */
static kf_rc kh_expr_hint_predicates(kh_cur *c) {
  char list[KH_PARSE_HINT_MAX - 32];
  kf_str_join(list, sizeof list, kh_pred_names(), ", ", ", ");
  return kh_cur_hint(c, "valid predicates: %s", list);
}

/* Filters after the query, left to right, while the next word names one. */
static kf_rc kh_expr_parse_filters(kh_cur *c, kh_query *q) {
  for (;;) {
    size_t w = kh_cur_peek_word(c);
    const kh_filter_def *def = w > 0 ? kh_filter_find(c->s + c->i, w) : NULL;
    if (def == NULL)
      return KF_OK;
    c->i += w;
    kh_filter *f = NULL;
    kf_rc rc = kh_cur_push(c, (void **)&q->filters, q->filters_len, sizeof *f, (void **)&f);
    if (rc != KF_OK)
      return rc;
    q->filters_len++;
    f->def = def;
    if (def->arg != NULL && (rc = kh_cur_need_string(c, &f->arg, def->arg)) != KF_OK)
      return rc;
    if (def->arg == KH_TEXT_REGEX_ARG &&
        (rc = kh_regex_precompile(f->arg.text, f->arg.len, &f->re)) != KF_OK)
      return rc;
  }
}

kf_rc kh_expr_parse_query(kh_cur *c, kh_query *q) {
  size_t n = kh_cur_peek_word(c);
  size_t start = c->i;
  if (n == 0) {
    (void)kh_cur_error_kind(c, start, KH_DIAG_EXPECTED_TOKEN, "expected a query");
    return kh_cur_hint(
        c, "for example: status, header \"Location\", body, json \"$.id\", mail.subject");
  }
  const kh_query_def *def = kh_query_find(c->s + start, n);
  if (def == NULL) {
    (void)kh_cur_error_kind(c, start, KH_DIAG_UNKNOWN_WORD, "unknown query '%.*s'",
                            (int)(n > 60 ? 60 : n), c->s + start);
    return kh_cur_hint_names(c, c->s + start, n, kh_query_names(), "queries");
  }
  c->i += n;
  q->def = def;
  if (def->arg != NULL) {
    kf_rc rc = kh_cur_need_string(c, &q->arg, def->arg);
    if (rc == KF_ERR_PARSE && c->p->err_kind == KH_DIAG_EXPECTED_STRING)
      return kh_cur_hint(c, "write '%s \"...\"' with %s", def->name, def->arg);
    if (rc == KF_ERR_PARSE && c->p->err_hint[0] == '\0')
      return kh_cur_hint(c, "write '%s \"...\"'", def->name);
    if (rc != KF_OK)
      return rc;
    if (def->arg == KH_TEXT_REGEX_ARG &&
        (rc = kh_regex_precompile(q->arg.text, q->arg.len, &q->re)) != KF_OK)
      return rc;
  }
  return kh_expr_parse_filters(c, q);
}

static bool kh_expr_is_op_char(char ch) {
  return ch == '=' || ch == '!' || ch == '<' || ch == '>';
}

/*
 * The predicate's text at the cursor into text: a run of operator characters,
 * or a word, or "not" and the word after it. Consumes it.
 */
static size_t kh_expr_pred_text(kh_cur *c, char *text, size_t size, bool *after_not) {
  *after_not = false;
  size_t n = 0;
  if (kh_expr_is_op_char(c->s[c->i])) {
    while (c->i + n < c->len && kh_expr_is_op_char(c->s[c->i + n]))
      n++;
  } else {
    n = kh_cur_peek_word(c);
  }
  if (n >= size)
    n = size - 1;
  memcpy(text, c->s + c->i, n);
  text[n] = '\0';
  c->i += n;
  if (strcmp(text, "not") != 0)
    return n;
  *after_not = true;
  size_t m = kh_cur_peek_word(c);
  if (m == 0 || n + 1 + m >= size)
    return n;
  text[n] = ' ';
  memcpy(text + n + 1, c->s + c->i, m);
  text[n + 1 + m] = '\0';
  c->i += m;
  return n + 1 + m;
}

/* The error for a predicate that is not in the table. */
static kf_rc kh_expr_unknown_predicate(kh_cur *c, size_t start, const char *text, size_t n,
                                       bool after_not) {
  if (kh_expr_is_op_char(text[0])) {
    (void)kh_cur_error_kind(c, start, KH_DIAG_UNKNOWN_WORD, "unknown operator '%.*s'",
                            (int)(n > 10 ? 10 : n), text);
    if (strcmp(text, "=") == 0)
      return kh_cur_hint(c, "compare with '==', not '='");
    return kh_expr_hint_predicates(c);
  }
  if (after_not) {
    /* Point at the word after "not". */
    size_t at = start + 3;
    while (at < c->len && kh_lex_is_blank(c->s[at]))
      at++;
    (void)kh_cur_error_kind(c, at, KH_DIAG_UNKNOWN_WORD,
                            "expected 'contains', 'matches' or 'exists' after 'not'");
    return kh_expr_hint_predicates(c);
  }
  if (n == 0)
    n = 1;
  (void)kh_cur_error_kind(c, start, KH_DIAG_UNKNOWN_WORD, "unknown predicate '%.*s'",
                          (int)(n > 60 ? 60 : n), c->s + start);
  const char *const *names = kh_pred_names();
  size_t count = 0;
  while (names[count] != NULL)
    count++;
  const char *near = kf_str_nearest(c->s + start, n, names, count);
  if (near != NULL)
    return kh_cur_hint(c, "did you mean '%s'?", near);
  return kh_expr_hint_predicates(c);
}

/* A number operand, or a quoted one that compares as a number at run time. */
static kf_rc kh_expr_number_operand(kh_cur *c, kh_predicate *pred, size_t op_end) {
  if (c->i < c->len && c->s[c->i] == '"') {
    /*
     * A quoted operand compares as a number at run time ("{{max}}"); one
     * without interpolation must already be a whole decimal integer.
     */
    pred->operand.kind = KH_LIT_STRING;
    kf_rc rc = kh_cur_read_string(c, &pred->operand.str);
    if (rc != KF_OK)
      return rc;
    if (memchr(pred->operand.str.text, '{', pred->operand.str.len) == NULL &&
        !kh_lex_is_whole_int(pred->operand.str.text, pred->operand.str.len)) {
      (void)kh_cur_error_kind(c, op_end, KH_DIAG_EXPECTED_NUMBER,
                              "expected a number after the comparison");
      return kh_cur_hint(c, "ordering comparisons take decimal integers, for example '< 500' or "
                            "'< \"{{max}}\"'");
    }
    return KF_OK;
  }
  if (c->i >= c->len || !(kh_lex_is_digit(c->s[c->i]) || c->s[c->i] == '-' || c->s[c->i] == '+')) {
    (void)kh_cur_error_kind(c, op_end, KH_DIAG_EXPECTED_NUMBER,
                            "expected a number after the comparison");
    return kh_cur_hint(c, "ordering comparisons take decimal integers, for example '< 500'");
  }
  pred->operand.kind = KH_LIT_NUMBER;
  return kh_cur_read_number(c, &pred->operand.number);
}

/* The operand the predicate's row asks for. */
static kf_rc kh_expr_operand(kh_cur *c, kh_predicate *pred) {
  kh_cur_skip_blanks(c);
  size_t op_end = c->i;
  switch (pred->def->operand) {
  case KH_PRED_NO_OPERAND:
    return KF_OK;
  case KH_PRED_ANY:
    if (c->i >= c->len) {
      (void)kh_cur_error_kind(c, op_end, KH_DIAG_EXPECTED_VALUE,
                              "expected a value after the operator");
      return kh_cur_hint(c, "for example: == 200, == \"text\", == true, == null");
    }
    return kh_cur_read_literal(c, &pred->operand, "a value after the operator");
  case KH_PRED_NUMBER:
    return kh_expr_number_operand(c, pred, op_end);
  case KH_PRED_STRING:
    pred->operand.kind = KH_LIT_STRING;
    return kh_cur_need_string(c, &pred->operand.str, "a string after the predicate");
  case KH_PRED_REGEX: {
    pred->operand.kind = KH_LIT_STRING;
    kf_rc rc = kh_cur_need_string(c, &pred->operand.str, "a string after the predicate");
    if (rc == KF_OK)
      rc = kh_regex_precompile(pred->operand.str.text, pred->operand.str.len, &pred->re);
    return rc;
  }
  }
  return KF_OK;
}

kf_rc kh_expr_parse_predicate(kh_cur *c, kh_predicate *pred, size_t expect_at) {
  kh_cur_skip_blanks(c);
  size_t start = c->i;
  if (c->i >= c->len) {
    (void)kh_cur_error_kind(c, start, KH_DIAG_EXPECTED_TOKEN,
                            "expected a predicate after the query");
    return kh_expr_hint_predicates(c);
  }
  if (kh_cur_literal_starts(c)) {
    /* The common slip "expect status 200": suggest the operator. */
    (void)kh_cur_error_kind(c, start, KH_DIAG_EXPECTED_TOKEN,
                            "expected a predicate after the query");
    size_t qlen = kf_str_rtrim_len(c->s + expect_at, start - expect_at);
    size_t rlen = kf_str_rtrim_len(c->s + start, c->len - start);
    return kh_cur_hint(c, "write '%.*s == %.*s'", (int)(qlen > 200 ? 200 : qlen), c->s + expect_at,
                       (int)(rlen > 200 ? 200 : rlen), c->s + start);
  }
  char text[64];
  bool after_not = false;
  size_t n = kh_expr_pred_text(c, text, sizeof text, &after_not);
  pred->def = kh_pred_find(text, n);
  if (pred->def == NULL)
    return kh_expr_unknown_predicate(c, start, text, n, after_not);
  return kh_expr_operand(c, pred);
}

kf_rc kh_expr_parse_check(kh_cur *c, kh_step *step, bool is_capture, size_t kw_at) {
  kh_check *chk = NULL;
  kf_rc rc = kh_cur_push(c, (void **)&step->checks, step->checks_len, sizeof *chk, (void **)&chk);
  if (rc != KF_OK)
    return rc;
  step->checks_len++;
  chk->is_capture = is_capture;
  chk->pos.file = c->p->file->path;
  chk->pos.line = c->line;
  chk->pos.col = (unsigned)kw_at + 1;
  size_t srclen = kf_str_rtrim_len(c->s + kw_at, c->len - kw_at);
  if ((rc = kh_cur_intern(c, c->s + kw_at, srclen, &chk->source)) != KF_OK)
    return rc;
  if (is_capture) {
    if ((rc = kh_cur_read_name(c, &chk->capture_name, "a variable name after 'capture'")) != KF_OK)
      return rc;
    if ((rc = kh_cur_expect_char(c, '=', "'=' after the capture name")) != KF_OK)
      return kh_cur_hint(c, "write 'capture NAME = <query>'");
    if ((rc = kh_expr_parse_query(c, &chk->query)) != KF_OK)
      return rc;
    if (!kh_cur_at_end(c)) {
      (void)kh_cur_error_kind(c, c->i, KH_DIAG_TRAILING_TEXT,
                              "unexpected text after the capture query");
      return kh_cur_hint(
          c, "a capture takes a query and filters (count, regex, lower, grep), no predicate");
    }
    return KF_OK;
  }
  if ((rc = kh_expr_parse_query(c, &chk->query)) != KF_OK)
    return rc;
  if ((rc = kh_expr_parse_predicate(c, &chk->pred, kw_at)) != KF_OK)
    return rc;
  return kh_cur_expect_end(c, "the predicate");
}
