/*
 * kh_vars.h: a scenario's variables and "{{name}}" interpolation.
 */
#ifndef KH_VARS_H
#define KH_VARS_H

#include <stdbool.h>
#include <stddef.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "kh_ast.h"

/* Values may contain NUL bytes (hence the lengths). Owned by the table. */
typedef struct kh_var {
  char *name;
  char *value;
  size_t len;
} kh_var;

typedef struct kh_vars {
  kh_var *items;
  size_t len;
  size_t cap;
} kh_vars;

#define KH_VAR_MAX_BYTES (8u * 1024u * 1024u)

void kh_vars_init(kh_vars *vars);
void kh_vars_release(kh_vars *vars);
/* Set (copying name and value), replacing an existing value. */
kf_rc kh_vars_set(kh_vars *vars, const char *name, const char *value, size_t len);
/* Borrowed value or NULL; len may be NULL. */
const char *kh_vars_get(const kh_vars *vars, const char *name, size_t *len);
/*
 * Append tpl with every {{name}} replaced to out. {{name|json}} escapes the
 * value for the inside of a JSON string and {{name|url}} percent-encodes it;
 * any other filter is KF_ERR_INVALID. KF_ERR_NOT_FOUND (message in
 * err naming the variable) for an unknown variable.
 */
kf_rc kh_vars_expand(const kh_vars *vars, const kh_template *tpl, kf_buf *out, kf_err *err);
/* Whether filter (the text after '|' in a reference) is one kh_vars_expand knows. */
bool kh_vars_filter_known(const char *filter, size_t len);
/*
 * Every reference of tpl with its filter (filter_len 0 when there is none),
 * for lint.
 */
void kh_vars_each_reference_filtered(const kh_template *tpl,
                                     void (*fn)(const char *name, size_t len, const char *filter,
                                                size_t filter_len, void *ctx),
                                     void *ctx);
/* Names referenced by tpl (without any "|filter"), for lint: calls fn for each. */
void kh_vars_each_reference(const kh_template *tpl,
                            void (*fn)(const char *name, size_t len, void *ctx), void *ctx);

/*
 * Append a literal's text to out: a string with its variables filled in, a
 * number in decimal, true, false, null. KF_ERR_NOT_FOUND (message in err) for
 * an unknown variable, KF_ERR_LIMIT or KF_ERR_NOMEM when it does not fit.
 */
kf_rc kh_vars_literal(const kh_vars *vars, const kh_literal *lit, kf_buf *out, kf_err *err);

#endif
