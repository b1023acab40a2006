/*
 * kh_step_let.h: `let NAME = "value"` and `let NAME = generator(args)`.
 */
#ifndef KH_STEP_LET_H
#define KH_STEP_LET_H

#include <stdbool.h>
#include <stddef.h>

#include "kf/buf.h"
#include "kh_ast.h"
#include "kh_gen.h"
#include "kh_vars.h"
#include "kh_step.h"

typedef struct kh_let {
  const char *name; /* In the string table, as the other strings of the step. */
  bool is_call;     /* A generator call rather than a literal. */
  kh_literal value; /* !is_call. */
  const char *func; /* is_call: "email", "password", ... */
  kh_arg *args;
  size_t args_len;
} kh_let;

/*
 * The value of let: the literal (strings interpolated with vars) or the
 * generator's value, appended to out. KF_ERR_INVALID for a wrong call.
 */
kf_rc kh_let_value(const kh_let *let, kh_gen_ctx *gen, const kh_vars *vars, kf_buf *out,
                   kf_err *err);

extern const kh_step_def kh_step_let;

#endif
