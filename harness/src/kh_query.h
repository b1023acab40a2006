/*
 * kh_query.h: the queries of `expect` and `capture` lines, as one table.
 *
 * A row names the query, the subject it reads (kh_subject.h), what its
 * quoted argument is (NULL: none) and how it is evaluated. The parser finds
 * rows by name and takes the names for hints from the same table, so adding
 * a query is one row of KH_QUERY_TABLE in kh_query.c (plus an eval function
 * when no generic one fits).
 */
#ifndef KH_QUERY_H
#define KH_QUERY_H

#include <jansson.h>
#include <stddef.h>

#include "kf/error.h"
#include "kh_ast.h"
#include "kh_subject.h"
#include "kh_vars.h"

/* What an eval function sees. The subject is NULL for rows with KH_SUBJECT_NONE. */
typedef struct kh_query_env {
  kh_subject *subject;
  const kh_vars *vars;
  const char *key;           /* The row's document key or part, for the generic functions. */
  const struct kh_regex *re; /* A regex argument compiled at parse time, or NULL (kh_text.h). */
} kh_query_env;

/*
 * Evaluate with the interpolated argument (arg, len); *out is a new reference
 * or NULL when the value is absent.
 */
typedef kf_rc (*kh_query_fn)(const kh_query_env *env, const char *arg, size_t len, json_t **out,
                             kf_err *err);

typedef struct kh_query_def {
  const char *name;        /* "mail.subject". */
  kh_subject_kind subject; /* What it reads. */
  const char *arg;         /* What the quoted argument is, or NULL for none. */
  kh_query_fn eval;
  const char *key; /* For the generic functions: the document key. */
} kh_query_def;

/* The row named by the wlen bytes at w, or NULL. */
const kh_query_def *kh_query_find(const char *w, size_t wlen);
/* Every query name, NULL-terminated (for hints). */
const char *const *kh_query_names(void);

/*
 * Evaluate query and its filters against subjects. *out is a new reference,
 * or NULL when the value is absent (a missing header, a JSON path that leads
 * nowhere). KF_ERR_STATE (message in err) when the subject does not exist yet
 * (mail.* before any wait), KF_ERR_INVALID for a bad regex or path,
 * KF_ERR_NOT_FOUND for an unknown variable, and whatever a subject's loader
 * reports (a raw mail that cannot be fetched).
 */
kf_rc kh_query_eval(const kh_query *query, kh_subjects *subjects, const kh_vars *vars, json_t **out,
                    kf_err *err);

#endif
