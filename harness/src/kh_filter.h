/*
 * kh_filter.h: the filters a query's value passes through, left to right
 * (`count`, `lower`, `regex "..."`, `grep "..."`), as one table.
 *
 * Adding a filter is one row of KH_FILTER_TABLE in kh_filter.c and its apply
 * function; the parser takes names and whether a pattern follows from the row.
 */
#ifndef KH_FILTER_H
#define KH_FILTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "kf/error.h"
#include "kh_ast.h"

/*
 * Replace *value (a new reference, never NULL here) by the filtered value
 * (NULL: absent). re is the argument compiled at parse time, or NULL.
 */
typedef kf_rc (*kh_filter_fn)(const char *arg, size_t len, const struct kh_regex *re,
                              json_t **value, kf_err *err);

typedef struct kh_filter_def {
  const char *name; /* "grep". */
  const char *arg;  /* What its quoted argument is ("a regex"), or NULL for none. */
  kh_filter_fn apply;
} kh_filter_def;

/* The row named by the wlen bytes at w, or NULL. */
const kh_filter_def *kh_filter_find(const char *w, size_t wlen);
/* Every filter name, NULL-terminated (for hints). */
const char *const *kh_filter_names(void);

/*
 * Apply filter with its interpolated argument to *value (a new reference,
 * replaced). An absent value stays absent through every filter.
 */
kf_rc kh_filter_apply(const kh_filter *filter, const char *arg, size_t len, json_t **value,
                      kf_err *err);

#endif
