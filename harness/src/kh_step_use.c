/*
 * kh_step_use.c: the use step: run a fragment's steps with the given
 * parameters, sharing the scenario's variables.
 */
#include "kh_step_use.h"

#include <string.h>

#include "kf/alloc.h"
#include "kf/str.h"
#include "kh_exec.h"
#include "kh_lint.h"
#include "kh_suite.h"

static kf_rc kh_use_parse(kh_cur *c, kh_step *step, size_t kw_len) {
  kh_use *use = step->data;
  c->i = kw_len;
  kh_cur_skip_blanks(c);
  size_t n = kh_cur_peek_word(c);
  if (n == 0) {
    (void)kh_cur_error(c, c->i, "expected a fragment name after 'use'");
    return kh_cur_hint(c, "write 'use registered-account email=\"{{email}}\"'");
  }
  kf_rc frc = kh_cur_intern(c, c->s + c->i, n, &use->fragment_name);
  if (frc != KF_OK)
    return frc;
  c->i += n;
  while (!kh_cur_at_end(c)) {
    kh_arg *arg = NULL;
    kf_rc rc = kh_cur_push(c, (void **)&use->args, use->args_len, sizeof *arg, (void **)&arg);
    if (rc != KF_OK)
      return rc;
    use->args_len++;
    if ((rc = kh_cur_read_name(c, &arg->name, "a parameter name")) != KF_OK) {
      if (rc == KF_ERR_PARSE && kh_cur_at_hash(c))
        return kh_cur_hint_comment(c);
      return rc;
    }
    for (size_t k = 0; k + 1 < use->args_len; k++) {
      if (strcmp(use->args[k].name, arg->name) == 0)
        return kh_cur_error(c, c->i - strlen(arg->name), "parameter '%s' given twice", arg->name);
    }
    if (c->i >= c->len || c->s[c->i] != '=') {
      (void)kh_cur_error(c, c->i, "expected '=' after the parameter name");
      return kh_cur_hint(c, "write name=\"value\" without blanks around '='");
    }
    c->i++;
    arg->value.kind = KH_LIT_STRING;
    if ((rc = kh_cur_need_string(c, &arg->value.str, "a quoted parameter value")) != KF_OK)
      return rc;
  }
  return KF_OK;
}

static void kh_use_release(void *data) {
  kh_use *use = data;
  kh_args_release(use->args, use->args_len);
}

/* Find the fragment and check the arguments against its parameters. */
/* The hint listing a fragment's parameters. */
static void kh_use_params_hint(const kh_fragment *fr, char *hint, size_t size) {
  if (fr->params_len == 0) {
    (void)kf_str_copy(hint, size, "this fragment takes no parameters");
    return;
  }
  (void)kf_str_format(hint, size, "fragment '%s' takes:", fr->name);
  size_t used = strlen(hint);
  for (size_t p = 0; p < fr->params_len && used < size; p++) {
    (void)kf_str_format(hint + used, size - used, " %s", fr->params[p]);
    used = strlen(hint);
  }
}

static bool kh_use_listed(const char *name, char *const *names, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (strcmp(names[i], name) == 0)
      return true;
  }
  return false;
}

/* Find the fragment and check the arguments against its parameters. */
static kf_rc kh_use_resolve(kh_step *step, const kh_suite *suite, kh_diag *diag) {
  kh_use *use = step->data;
  const kh_fragment *fr = kh_suite_fragment(suite, use->fragment_name);
  if (fr == NULL)
    return kh_suite_step_diag(diag, step,
                              "fragments are found in fragments/ next to or above the scenario "
                              "file, or among the files given",
                              "unknown fragment '%.100s'", use->fragment_name);
  use->resolved = fr;
  for (size_t a = 0; a < use->args_len; a++) {
    if (!kh_use_listed(use->args[a].name, fr->params, fr->params_len)) {
      char hint[512];
      kh_use_params_hint(fr, hint, sizeof hint);
      return kh_suite_step_diag(diag, step, hint, "unknown parameter '%.100s'", use->args[a].name);
    }
  }
  for (size_t p = 0; p < fr->params_len; p++) {
    bool given = false;
    for (size_t a = 0; a < use->args_len; a++)
      given = given || strcmp(fr->params[p], use->args[a].name) == 0;
    if (!given) {
      char hint[256];
      (void)kf_str_format(hint, sizeof hint, "add %s=\"...\" to the use line", fr->params[p]);
      return kh_suite_step_diag(diag, step, hint, "missing parameter '%.100s'", fr->params[p]);
    }
  }
  return KF_OK;
}

static const kh_fragment *kh_use_fragment(const kh_step *step) {
  const kh_use *use = step->data;
  return use->resolved;
}

static void kh_use_lint(kh_lint_ctx *ctx, const kh_step *step) {
  const kh_use *use = step->data;
  for (size_t a = 0; a < use->args_len; a++)
    kh_lint_literal(ctx, &use->args[a].value);
  kh_lint_fragment(ctx, use->resolved);
}

/* The text of a `use` argument: strings interpolated, other literals spelled out. */
static kf_rc kh_use_arg_text(kh_exec *ex, const kh_literal *lit, char **out, size_t *len,
                             kf_err *err) {
  switch (lit->kind) {
  case KH_LIT_STRING:
    return kh_exec_expand(ex, &lit->str, KH_VAR_MAX_BYTES, out, len, err);
  case KH_LIT_NUMBER:
    *out = kf_str_printf("%lld", lit->number);
    break;
  case KH_LIT_BOOL:
    *out = kf_strdup(lit->boolean ? "true" : "false");
    break;
  case KH_LIT_NULL:
    *out = kf_strdup("null");
    break;
  }
  if (*out == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  *len = strlen(*out);
  return KF_OK;
}

static kf_status kh_use_exec(kh_exec *ex, size_t idx, const kh_step *step, int depth) {
  const kh_use *use = step->data;
  const kh_fragment *frag = use->resolved;
  if (frag == NULL)
    return kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0, "unknown fragment %s", use->fragment_name);
  if (depth >= KH_SUITE_MAX_DEPTH)
    return kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0,
                           "fragments nested deeper than %d (a cycle?)", KH_SUITE_MAX_DEPTH);
  /* Expand every argument before setting any, so "email={{email}}" style calls see the caller's
   * values. */
  char *vals[64];
  size_t lens[64];
  size_t n = use->args_len;
  if (n > 64)
    return kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0, "more than 64 fragment arguments");
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = KF_OK;
  size_t done = 0;
  for (; rc == KF_OK && done < n; done++)
    rc = kh_use_arg_text(ex, &use->args[done].value, &vals[done], &lens[done], &err);
  if (rc != KF_OK)
    done--;
  for (size_t i = 0; rc == KF_OK && i < n; i++) {
    const char *name = use->args[i].name != NULL ? use->args[i].name
                                                 : (i < frag->params_len ? frag->params[i] : NULL);
    if (name == NULL)
      rc = kf_err_set(&err, KF_ERR_INVALID, "argument %zu has no parameter", i + 1);
    else
      rc = kh_vars_set(&ex->vars, name, vals[i], lens[i]);
  }
  for (size_t i = 0; i < done; i++)
    kf_free(vals[i]);
  if (rc != KF_OK)
    return kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0, "%s", err.message);
  kf_status st = kh_exec_steps(ex, frag->steps, frag->steps_len, depth + 1);
  if (st != KF_STATUS_PASS) {
    /* The failing step inside the fragment carries the detail; point to it from the use line. */
    kf_step_result *sr = &ex->res->steps[idx];
    sr->status = st;
    kf_free(sr->message);
    sr->message =
        kf_str_printf("fragment %s did not complete (%s)", frag->name, kf_status_name(st));
  }
  return st;
}

static const char *const KH_USE_WORDS[] = {"use", NULL};

const kh_step_def kh_step_use = {
    .what = "a fragment call",
    .keywords = KH_USE_WORDS,
    .synopsis = "use <fragment> name=\"value\" ...",
    .data_size = sizeof(kh_use),
    .parse = kh_use_parse,
    .release = kh_use_release,
    .resolve = kh_use_resolve,
    .fragment = kh_use_fragment,
    .lint = kh_use_lint,
    .exec = kh_use_exec,
};
