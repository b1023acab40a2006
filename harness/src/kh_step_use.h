/*
 * kh_step_use.h: `use FRAGMENT name="value" ...`: run a fragment's steps.
 */
#ifndef KH_STEP_USE_H
#define KH_STEP_USE_H

#include <stddef.h>

#include "kh_ast.h"
#include "kh_step.h"

typedef struct kh_use {
  const char *fragment_name; /* In the string table. */
  kh_arg *args;              /* Named, string-valued. */
  size_t args_len;
  const kh_fragment *resolved; /* Borrowed; set by kh_suite_load. */
} kh_use;

extern const kh_step_def kh_step_use;

#endif
