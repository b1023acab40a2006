/* str.c: bounded string helpers (see kf/str.h). */
#include "kf/str.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kf/alloc.h"

kf_rc kf_str_copy(char *dst, size_t dst_size, const char *src) {
  if (dst_size == 0)
    return KF_ERR_LIMIT;
  size_t len = strlen(src);
  if (len >= dst_size) {
    memcpy(dst, src, dst_size - 1);
    dst[dst_size - 1] = '\0';
    return KF_ERR_LIMIT;
  }
  memcpy(dst, src, len + 1);
  return KF_OK;
}

kf_rc kf_str_vformat(char *dst, size_t dst_size, const char *fmt, va_list ap) {
  if (dst_size == 0)
    return KF_ERR_LIMIT;
  int n = vsnprintf(dst, dst_size, fmt, ap);
  if (n < 0) {
    dst[0] = '\0';
    return KF_ERR_INVALID;
  }
  return (size_t)n >= dst_size ? KF_ERR_LIMIT : KF_OK;
}

kf_rc kf_str_format(char *dst, size_t dst_size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  kf_rc rc = kf_str_vformat(dst, dst_size, fmt, ap);
  va_end(ap);
  return rc;
}

char *kf_str_printf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return NULL;
  char *out = kf_malloc((size_t)n + 1);
  if (out == NULL)
    return NULL;
  va_start(ap, fmt);
  vsnprintf(out, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return out;
}

kf_rc kf_str_to_llong(const char *s, long long min, long long max, long long *out) {
  if (s == NULL || *s == '\0')
    return KF_ERR_PARSE;
  /* strtoll accepts leading blanks; a whole-string parse must not. */
  if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f' || *s == '\v')
    return KF_ERR_PARSE;
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (end == s || *end != '\0')
    return KF_ERR_PARSE;
  if (errno == ERANGE || v < min || v > max)
    return KF_ERR_LIMIT;
  *out = v;
  return KF_OK;
}

kf_rc kf_str_to_long(const char *s, long min, long max, long *out) {
  long long v = 0;
  kf_rc rc = kf_str_to_llong(s, min, max, &v);
  if (rc == KF_OK)
    *out = (long)v;
  return rc;
}

bool kf_str_starts_with(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool kf_str_ends_with(const char *s, const char *suffix) {
  size_t ls = strlen(s), lx = strlen(suffix);
  return lx <= ls && memcmp(s + ls - lx, suffix, lx) == 0;
}

static char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool kf_str_eq_ci(const char *a, const char *b) {
  for (; *a != '\0' && *b != '\0'; a++, b++)
    if (ascii_lower(*a) != ascii_lower(*b))
      return false;
  return *a == *b;
}

bool kf_str_starts_with_ci(const char *s, const char *prefix) {
  for (; *prefix != '\0'; s++, prefix++)
    if (*s == '\0' || ascii_lower(*s) != ascii_lower(*prefix))
      return false;
  return true;
}

void kf_str_ascii_lower(char *s) {
  for (; *s != '\0'; s++)
    *s = ascii_lower(*s);
}

const char *kf_str_skip_blanks(const char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  return s;
}

size_t kf_str_rtrim_len(const char *s, size_t len) {
  while (len > 0 &&
         (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' || s[len - 1] == '\n'))
    len--;
  return len;
}

const char *kf_str_after(const char *s, char sep) {
  const char *p = strchr(s, sep);
  return p == NULL ? NULL : p + 1;
}

size_t kf_str_edit_distance(const char *a, size_t alen, const char *b) {
  size_t blen = strlen(b);
  if (alen > 40 || blen > 40)
    return 99;
  size_t row[41];
  for (size_t j = 0; j <= blen; j++)
    row[j] = j;
  for (size_t i = 1; i <= alen; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= blen; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
      if (row[j] + 1 < best)
        best = row[j] + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[blen];
}

const char *kf_str_nearest(const char *word, size_t len, const char *const *names, size_t n) {
  const char *best = NULL;
  size_t best_d = 3;
  for (size_t k = 0; k < n; k++) {
    if (names[k] == NULL)
      continue;
    size_t d = kf_str_edit_distance(word, len, names[k]);
    if (d < best_d) {
      best_d = d;
      best = names[k];
    }
  }
  return best;
}

void kf_str_join(char *out, size_t size, const char *const *names, const char *sep,
                 const char *last) {
  if (size == 0)
    return;
  out[0] = '\0';
  size_t used = 0;
  for (size_t k = 0; names[k] != NULL; k++) {
    const char *between = k == 0 ? "" : names[k + 1] == NULL ? last : sep;
    int n = snprintf(out + used, size - used, "%s%s", between, names[k]);
    if (n < 0 || (size_t)n >= size - used) {
      out[used] = '\0';
      return;
    }
    used += (size_t)n;
  }
}
