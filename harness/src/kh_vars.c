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
  if (vars == NULL)
    return;
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
  if (value == NULL)
    len = 0;
  if (len > KH_VAR_MAX_BYTES)
    return KF_ERR_LIMIT;
  char *copy = kf_memdup0(value != NULL ? value : "", len);
  if (copy == NULL)
    return KF_ERR_NOMEM;
  kh_var *v = kh_vars_find(vars, name, strlen(name));
  if (v != NULL) {
    kf_free(v->value);
    v->value = copy;
    v->len = len;
    return KF_OK;
  }
  kf_rc grow_rc = KF_OK;
  kh_var *items = kf_array_grow(vars->items, &vars->cap, vars->len, sizeof *items, 16,
                                KH_VARS_MAX_COUNT, &grow_rc);
  if (items == NULL) {
    kf_free(copy);
    return grow_rc;
  }
  vars->items = items;
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
  if (vars == NULL || name == NULL)
    return NULL;
  kh_var *v = kh_vars_find(vars, name, strlen(name));
  if (v == NULL)
    return NULL;
  if (len != NULL)
    *len = v->len;
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
      while (close + 1 < len && !(s[close] == '}' && s[close + 1] == '}'))
        close++;
      if (close + 1 >= len)
        return false; /* No closing braces: the rest is literal. */
      size_t a = k + 2;
      size_t b = close;
      while (a < b && (s[a] == ' ' || s[a] == '\t'))
        a++;
      while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
        b--;
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

/*
 * Split a reference "name" or "name|filter" into its parts (blanks around
 * either are ignored). Without a filter *filter_len is 0.
 */
static void kh_ref_split(const char *s, size_t len, size_t *name_len, const char **filter,
                         size_t *filter_len) {
  const char *bar = memchr(s, '|', len);
  *filter = NULL;
  *filter_len = 0;
  size_t n = bar != NULL ? (size_t)(bar - s) : len;
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
    n--;
  *name_len = n;
  if (bar != NULL) {
    const char *f = bar + 1, *end = s + len;
    while (f < end && (*f == ' ' || *f == '\t'))
      f++;
    *filter = f;
    *filter_len = (size_t)(end - f);
  }
}

/* Append value escaped for the inside of a JSON string (RFC 8259). */
static kf_rc kh_append_json_escaped(kf_buf *out, const char *v, size_t len) {
  kf_rc rc = KF_OK;
  for (size_t i = 0; i < len && rc == KF_OK; i++) {
    unsigned char c = (unsigned char)v[i];
    if (c == '"' || c == '\\') {
      char esc[2] = {'\\', (char)c};
      rc = kf_buf_append(out, esc, 2);
    } else if (c < 0x20 || c == 0x7F) {
      rc = kf_buf_appendf(out, "\\u%04x", c);
    } else {
      rc = kf_buf_append_byte(out, (char)c);
    }
  }
  return rc;
}

/* Append value percent-encoded for a URL query or path segment (RFC 3986 unreserved kept). */
static kf_rc kh_append_url_encoded(kf_buf *out, const char *v, size_t len) {
  static const char hex[] = "0123456789ABCDEF";
  kf_rc rc = KF_OK;
  for (size_t i = 0; i < len && rc == KF_OK; i++) {
    unsigned char c = (unsigned char)v[i];
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      rc = kf_buf_append_byte(out, (char)c);
    } else {
      char enc[3] = {'%', hex[c >> 4], hex[c & 15]};
      rc = kf_buf_append(out, enc, 3);
    }
  }
  return rc;
}

kf_rc kh_vars_expand(const kh_vars *vars, const kh_template *tpl, kf_buf *out, kf_err *err) {
  assert(tpl != NULL && out != NULL);
  if (tpl->text == NULL)
    return KF_OK;
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
    if (!found)
      return KF_OK;
    if (nl == (size_t)-1) {
      if ((rc = kf_buf_append(out, "{{", 2)) != KF_OK)
        return kf_err_set(err, rc, "cannot expand text");
      continue;
    }
    size_t name_len, filter_len;
    const char *filter;
    kh_ref_split(s + ns, nl, &name_len, &filter, &filter_len);
    const kh_var *v = vars != NULL ? kh_vars_find(vars, s + ns, name_len) : NULL;
    if (v == NULL)
      return kf_err_set(err, KF_ERR_NOT_FOUND, "unknown variable '%.*s'",
                        (int)(name_len > 100 ? 100 : name_len), s + ns);
    /* Escaping at most sextuples a byte; check the cap before writing. */
    size_t worst = filter_len == 0 ? v->len : v->len * 6;
    if (out->len - start_len + worst > KH_VAR_MAX_BYTES)
      return kf_err_set(err, KF_ERR_LIMIT, "expanded text exceeds %u bytes", KH_VAR_MAX_BYTES);
    if (filter_len == 0)
      rc = kf_buf_append(out, v->value, v->len);
    else if (filter_len == 4 && memcmp(filter, "json", 4) == 0)
      rc = kh_append_json_escaped(out, v->value, v->len);
    else if (filter_len == 3 && memcmp(filter, "url", 3) == 0)
      rc = kh_append_url_encoded(out, v->value, v->len);
    else
      return kf_err_set(err, KF_ERR_INVALID,
                        "unknown interpolation filter '%.*s' (use json or url)",
                        (int)(filter_len > 40 ? 40 : filter_len), filter);
    if (rc != KF_OK)
      return kf_err_set(err, rc, "cannot expand text: %s", kf_rc_name(rc));
  }
}

bool kh_vars_filter_known(const char *filter, size_t len) {
  return len == 0 || (len == 4 && memcmp(filter, "json", 4) == 0) ||
         (len == 3 && memcmp(filter, "url", 3) == 0);
}

void kh_vars_each_reference_filtered(const kh_template *tpl,
                                     void (*fn)(const char *name, size_t len, const char *filter,
                                                size_t filter_len, void *ctx),
                                     void *ctx) {
  if (tpl == NULL || tpl->text == NULL || fn == NULL)
    return;
  size_t i = 0, lit_end, ns, nl;
  while (kh_next_ref(tpl->text, tpl->len, &i, &lit_end, &ns, &nl)) {
    if (nl == (size_t)-1)
      continue;
    size_t name_len, filter_len;
    const char *filter;
    kh_ref_split(tpl->text + ns, nl, &name_len, &filter, &filter_len);
    fn(tpl->text + ns, name_len, filter, filter_len, ctx);
  }
}

typedef struct kh_ref_plain {
  void (*fn)(const char *name, size_t len, void *ctx);
  void *ctx;
} kh_ref_plain;

static void kh_ref_plain_cb(const char *name, size_t len, const char *filter, size_t filter_len,
                            void *data) {
  (void)filter;
  (void)filter_len;
  const kh_ref_plain *p = data;
  p->fn(name, len, p->ctx);
}

void kh_vars_each_reference(const kh_template *tpl,
                            void (*fn)(const char *name, size_t len, void *ctx), void *ctx) {
  if (fn == NULL)
    return;
  kh_ref_plain p = {fn, ctx};
  kh_vars_each_reference_filtered(tpl, kh_ref_plain_cb, &p);
}

kf_rc kh_vars_literal(const kh_vars *vars, const kh_literal *lit, kf_buf *out, kf_err *err) {
  kf_rc rc = KF_OK;
  switch (lit->kind) {
  case KH_LIT_STRING:
    return kh_vars_expand(vars, &lit->str, out, err);
  case KH_LIT_NUMBER:
    rc = kf_buf_appendf(out, "%lld", lit->number);
    break;
  case KH_LIT_BOOL:
    rc = kf_buf_append_str(out, lit->boolean ? "true" : "false");
    break;
  case KH_LIT_NULL:
    rc = kf_buf_append_str(out, "null");
    break;
  }
  if (rc != KF_OK)
    return kf_err_set(err, rc, "the value does not fit: %s", kf_rc_name(rc));
  return KF_OK;
}
