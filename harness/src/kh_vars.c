/*
 * kh_vars.c: a scenario's variables and "{{name}}" interpolation.
 *
 * A scenario has few variables (tens), so a flat array with linear lookup is
 * both the simplest and the fastest structure here.
 */
#include "kh_vars.h"

#include <assert.h>
#include <string.h>

#include "kf/alloc.h"

/* More variables than this in one scenario is a runaway loop, not a test. */
#define KH_VARS_MAX_COUNT 65536u

void kh_vars_init(kh_vars *vars) {
  memset(vars, 0, sizeof *vars);
}

void kh_vars_release(kh_vars *vars) {
  if (vars == NULL) return;
  for (size_t i = 0; i < vars->len; i++) {
    kf_free(vars->items[i].name);
    kf_free(vars->items[i].value);
  }
  kf_free(vars->items);
  kh_vars_init(vars);
}

static kh_var *kh_vars_find(const kh_vars *vars, const char *name, size_t name_len) {
  for (size_t i = 0; i < vars->len; i++) {
    if (strlen(vars->items[i].name) == name_len && memcmp(vars->items[i].name, name, name_len) == 0)
      return &vars->items[i];
  }
  return NULL;
}

kf_rc kh_vars_set(kh_vars *vars, const char *name, const char *value, size_t len) {
  assert(vars != NULL && name != NULL);
  if (value == NULL) len = 0;
  if (len > KH_VAR_MAX_BYTES) return KF_ERR_LIMIT;
  char *copy = kf_memdup0(value != NULL ? value : "", len);
  if (copy == NULL) return KF_ERR_NOMEM;
  kh_var *v = kh_vars_find(vars, name, strlen(name));
  if (v != NULL) {
    kf_free(v->value);
    v->value = copy;
    v->len = len;
    return KF_OK;
  }
  if (vars->len == vars->cap) {
    if (vars->cap >= KH_VARS_MAX_COUNT) {
      kf_free(copy);
      return KF_ERR_LIMIT;
    }
    size_t ncap = vars->cap == 0 ? 16 : vars->cap * 2;
    kh_var *items = kf_realloc(vars->items, ncap * sizeof *items);
    if (items == NULL) {
      kf_free(copy);
      return KF_ERR_NOMEM;
    }
    vars->items = items;
    vars->cap = ncap;
  }
  char *name_copy = kf_strdup(name);
  if (name_copy == NULL) {
    kf_free(copy);
    return KF_ERR_NOMEM;
  }
  vars->items[vars->len].name = name_copy;
  vars->items[vars->len].value = copy;
  vars->items[vars->len].len = len;
  vars->len++;
  return KF_OK;
}

const char *kh_vars_get(const kh_vars *vars, const char *name, size_t *len) {
  if (vars == NULL || name == NULL) return NULL;
  kh_var *v = kh_vars_find(vars, name, strlen(name));
  if (v == NULL) return NULL;
  if (len != NULL) *len = v->len;
  return v->value;
}

/*
 * Find the next reference at or after *i: returns true with the name span,
 * advancing *i past it; literal text before it is [lit_start, lit_end).
 * "{{{{" is the escape for a literal "{{" and is reported as a reference
 * with name_len (size_t)-1 so the caller emits the braces.
 */
static bool kh_next_ref(const char *s, size_t len, size_t *i, size_t *lit_end, size_t *name_start,
                        size_t *name_len) {
  size_t k = *i;
  while (k + 1 < len) {
    if (s[k] == '{' && s[k + 1] == '{') {
      if (k + 3 < len && s[k + 2] == '{' && s[k + 3] == '{') {
        *lit_end = k;
        *name_start = k;
        *name_len = (size_t)-1;
        *i = k + 4;
        return true;
      }
      size_t close = k + 2;
      while (close + 1 < len && !(s[close] == '}' && s[close + 1] == '}')) close++;
      if (close + 1 >= len) return false; /* No closing braces: the rest is literal. */
      size_t a = k + 2;
      size_t b = close;
      while (a < b && (s[a] == ' ' || s[a] == '\t')) a++;
      while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t')) b--;
      *lit_end = k;
      *name_start = a;
      *name_len = b - a;
      *i = close + 2;
      return true;
    }
    k++;
  }
  return false;
}

kf_rc kh_vars_expand(const kh_vars *vars, const kh_template *tpl, kf_buf *out, kf_err *err) {
  assert(tpl != NULL && out != NULL);
  if (tpl->text == NULL) return KF_OK;
  const char *s = tpl->text;
  size_t len = tpl->len;
  size_t start_len = out->len;
  size_t i = 0;
  kf_rc rc;
  for (;;) {
    size_t from = i, lit_end, ns, nl;
    bool found = kh_next_ref(s, len, &i, &lit_end, &ns, &nl);
    size_t lit_to = found ? lit_end : len;
    if (out->len - start_len + (lit_to - from) > KH_VAR_MAX_BYTES)
      return kf_err_set(err, KF_ERR_LIMIT, "expanded text exceeds %u bytes", KH_VAR_MAX_BYTES);
    if ((rc = kf_buf_append(out, s + from, lit_to - from)) != KF_OK)
      return kf_err_set(err, rc, "cannot expand text: %s", kf_rc_name(rc));
    if (!found) return KF_OK;
    if (nl == (size_t)-1) {
      if ((rc = kf_buf_append(out, "{{", 2)) != KF_OK) return kf_err_set(err, rc, "cannot expand text");
      continue;
    }
    const kh_var *v = vars != NULL ? kh_vars_find(vars, s + ns, nl) : NULL;
    if (v == NULL)
      return kf_err_set(err, KF_ERR_NOT_FOUND, "unknown variable '%.*s'", (int)(nl > 100 ? 100 : nl), s + ns);
    if (out->len - start_len + v->len > KH_VAR_MAX_BYTES)
      return kf_err_set(err, KF_ERR_LIMIT, "expanded text exceeds %u bytes", KH_VAR_MAX_BYTES);
    if ((rc = kf_buf_append(out, v->value, v->len)) != KF_OK)
      return kf_err_set(err, rc, "cannot expand text: %s", kf_rc_name(rc));
  }
}

void kh_vars_each_reference(const kh_template *tpl, void (*fn)(const char *name, size_t len, void *ctx),
                            void *ctx) {
  if (tpl == NULL || tpl->text == NULL || fn == NULL) return;
  size_t i = 0, lit_end, ns, nl;
  while (kh_next_ref(tpl->text, tpl->len, &i, &lit_end, &ns, &nl)) {
    if (nl != (size_t)-1) fn(tpl->text + ns, nl, ctx);
  }
}
