/*
 * kh_step_let.c: the `let` step: a literal or a generator call into a variable.
 */
#include "kh_step_let.h"

#include <string.h>

#include "kf/alloc.h"
#include "kf/str.h"
#include "kh_exec.h"
#include "kh_gen.h"
#include "kh_lint.h"

/* "(a, name=b)" after a generator's name. */
static kf_rc kh_let_parse_args(kh_cur *c, kh_arg **args, size_t *args_len) {
  if (kh_cur_expect_char(c, '(', "'('") != KF_OK)
    return KF_ERR_PARSE;
  kh_cur_skip_blanks(c);
  if (c->i < c->len && c->s[c->i] == ')') {
    c->i++;
    return KF_OK;
  }
  for (;;) {
    kh_arg *arg = NULL;
    kf_rc rc = kh_cur_push(c, (void **)args, *args_len, sizeof *arg, (void **)&arg);
    if (rc != KF_OK)
      return rc;
    (*args_len)++;
    kh_cur_skip_blanks(c);
    /* A named argument is a word followed by '='. */
    size_t n = kh_cur_peek_word(c);
    size_t after = c->i + n;
    while (after < c->len && kh_lex_is_blank(c->s[after]))
      after++;
    if (n > 0 && kh_lex_is_alpha(c->s[c->i]) && after < c->len && c->s[after] == '=' &&
        !kh_lex_word_is(c->s + c->i, n, "true") && !kh_lex_word_is(c->s + c->i, n, "false")) {
      if ((rc = kh_cur_read_name(c, &arg->name, "an argument name")) != KF_OK)
        return rc;
      if ((rc = kh_cur_expect_char(c, '=', "'='")) != KF_OK)
        return rc;
    }
    if ((rc = kh_cur_read_literal(c, &arg->value, "an argument value")) != KF_OK)
      return rc;
    kh_cur_skip_blanks(c);
    if (c->i < c->len && c->s[c->i] == ',') {
      c->i++;
      continue;
    }
    if (c->i < c->len && c->s[c->i] == ')') {
      c->i++;
      return KF_OK;
    }
    (void)kh_cur_error(c, c->i, "expected ',' or ')' in the argument list");
    return kh_cur_hint(c, "write for example password(length=12, omit=\"digit\")");
  }
}

static kf_rc kh_let_parse(kh_cur *c, kh_step *step, size_t kw_len) {
  kh_let *let = step->data;
  c->i = kw_len;
  kf_rc rc = kh_cur_read_name(c, &let->name, "a variable name after 'let'");
  if (rc != KF_OK)
    return rc;
  if (kh_cur_expect_char(c, '=', "'=' after the variable name") != KF_OK)
    return kh_cur_hint(c, "write 'let NAME = \"value\"' or 'let NAME = email()'");
  kh_cur_skip_blanks(c);
  if (c->i >= c->len) {
    (void)kh_cur_error_kind(c, c->i, KH_DIAG_EXPECTED_VALUE, "expected a value after '='");
    return kh_cur_hint(c,
                       "a string, a number, true/false/null or a generator call such as email()");
  }
  size_t n = kh_cur_peek_word(c);
  size_t after = c->i + n;
  while (after < c->len && kh_lex_is_blank(c->s[after]))
    after++;
  if (n > 0 && kh_lex_is_alpha(c->s[c->i]) && after < c->len && c->s[after] == '(') {
    let->is_call = true;
    if ((rc = kh_cur_intern(c, c->s + c->i, n, &let->func)) != KF_OK)
      return rc;
    c->i += n;
    if ((rc = kh_let_parse_args(c, &let->args, &let->args_len)) != KF_OK)
      return rc;
  } else if ((rc = kh_cur_read_literal(c, &let->value, "a value after '='")) != KF_OK) {
    /* A bare word is most likely a generator whose parentheses were forgotten. */
    if (rc == KF_ERR_PARSE && n > 0 && c->p->err_kind == KH_DIAG_EXPECTED_VALUE)
      (void)kh_cur_hint(c, "a string, a number, true/false/null or a generator call such as %.*s()",
                        (int)(n > 40 ? 40 : n), c->s + c->i);
    return rc;
  }
  return kh_cur_expect_end(c, "the value");
}

static void kh_let_release(void *data) {
  kh_let *let = data;
  kh_literal_release(&let->value);
  kh_args_release(let->args, let->args_len);
}

static void kh_let_lint(kh_lint_ctx *ctx, const kh_step *step) {
  const kh_let *let = step->data;
  bool may_quote = false;
  if (let->is_call) {
    kf_err err;
    kf_err_init(&err);
    kh_gen_call call = {let->func, let->args, let->args_len};
    if (kh_gen_validate(&call, &err) != KF_OK) {
      /* The synopsis list ends in ", ". */
      size_t n = strlen(KH_GEN_SYNOPSIS);
      char hint[512];
      (void)kf_str_format(hint, sizeof hint, "%.*s", (int)(n >= 2 ? n - 2 : n), KH_GEN_SYNOPSIS);
      kh_lint_step_error(ctx, hint, "%s", err.message);
    }
    const kh_gen_def *def = kh_gen_find(let->func);
    may_quote = def != NULL && def->may_quote;
  } else {
    kh_lint_literal(ctx, &let->value);
    if (let->value.kind == KH_LIT_STRING)
      may_quote = kh_lint_may_quote(ctx, &let->value.str);
  }
  for (size_t a = 0; a < let->args_len; a++) {
    kh_lint_literal(ctx, &let->args[a].value);
    if (let->args[a].value.kind == KH_LIT_STRING)
      may_quote = may_quote || kh_lint_may_quote(ctx, &let->args[a].value.str);
  }
  kh_lint_define(ctx, let->name, may_quote);
}

kf_rc kh_let_value(const kh_let *let, kh_gen_ctx *gen, const kh_vars *vars, kf_buf *out,
                   kf_err *err) {
  if (!let->is_call)
    return kh_vars_literal(vars, &let->value, out, err);
  kh_gen_call call = {let->func, let->args, let->args_len};
  return kh_gen_eval(gen, &call, vars, out, err);
}

static kf_status kh_let_exec(kh_exec *ex, size_t idx, const kh_step *step, int depth) {
  (void)depth;
  const kh_let *let = step->data;
  kf_buf out;
  kf_buf_init(&out, KH_VAR_MAX_BYTES);
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = kh_let_value(let, &ex->gen, &ex->vars, &out, &err);
  if (rc == KF_OK) {
    rc = kh_vars_set(&ex->vars, let->name, out.data != NULL ? out.data : "", out.len);
    if (rc != KF_OK)
      (void)kf_err_set(&err, rc, "cannot store variable %s", let->name);
  }
  kf_buf_release(&out);
  if (rc != KF_OK)
    return kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0, "%s", err.message);
  return KF_STATUS_PASS;
}

static const char *const KH_LET_WORDS[] = {"let", NULL};

const kh_step_def kh_step_let = {
    .what = "a variable",
    .keywords = KH_LET_WORDS,
    .synopsis = "let NAME = \"value\" | generator(args)",
    .data_size = sizeof(kh_let),
    .parse = kh_let_parse,
    .release = kh_let_release,
    .lint = kh_let_lint,
    .exec = kh_let_exec,
};
