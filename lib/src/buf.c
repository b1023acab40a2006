/* buf.c: growable byte buffer with a hard cap (see kf/buf.h). */
#include "kf/buf.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kf/alloc.h"

void kf_buf_init(kf_buf *buf, size_t max) {
  assert(buf != NULL);
  buf->data = NULL;
  buf->len = 0;
  buf->cap = 0;
  buf->max = max;
}

void kf_buf_release(kf_buf *buf) {
  if (buf == NULL)
    return;
  kf_free(buf->data);
  buf->data = NULL;
  buf->len = 0;
  buf->cap = 0;
}

void kf_buf_reset(kf_buf *buf) {
  assert(buf != NULL);
  buf->len = 0;
  if (buf->data != NULL)
    buf->data[0] = '\0';
}

/* Make room for extra more bytes plus the NUL, keeping the cap. */
static kf_rc buf_reserve(kf_buf *buf, size_t extra) {
  if (extra > buf->max || buf->len > buf->max - extra)
    return KF_ERR_LIMIT;
  size_t need = buf->len + extra + 1;
  if (need <= buf->cap)
    return KF_OK;
  size_t cap = buf->cap < 64 ? 64 : buf->cap;
  while (cap < need)
    cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  char *grown = kf_realloc(buf->data, cap);
  if (grown == NULL)
    return KF_ERR_NOMEM;
  buf->data = grown;
  buf->cap = cap;
  return KF_OK;
}

kf_rc kf_buf_append(kf_buf *buf, const void *data, size_t len) {
  assert(buf != NULL);
  kf_rc rc = buf_reserve(buf, len);
  if (rc != KF_OK)
    return rc;
  if (len > 0)
    memcpy(buf->data + buf->len, data, len);
  buf->len += len;
  buf->data[buf->len] = '\0';
  return KF_OK;
}

kf_rc kf_buf_append_str(kf_buf *buf, const char *s) {
  return kf_buf_append(buf, s, strlen(s));
}

kf_rc kf_buf_append_byte(kf_buf *buf, char c) {
  return kf_buf_append(buf, &c, 1);
}

kf_rc kf_buf_vappendf(kf_buf *buf, const char *fmt, va_list ap) {
  va_list probe;
  va_copy(probe, ap);
  int n = vsnprintf(NULL, 0, fmt, probe);
  va_end(probe);
  if (n < 0)
    return KF_ERR_INVALID;
  kf_rc rc = buf_reserve(buf, (size_t)n);
  if (rc != KF_OK)
    return rc;
  vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
  buf->len += (size_t)n;
  return KF_OK;
}

kf_rc kf_buf_appendf(kf_buf *buf, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  kf_rc rc = kf_buf_vappendf(buf, fmt, ap);
  va_end(ap);
  return rc;
}

char *kf_buf_detach(kf_buf *buf, size_t *len_out) {
  assert(buf != NULL);
  char *data = buf->data;
  size_t len = buf->len;
  if (data == NULL) {
    data = kf_memdup0("", 0);
    if (data == NULL)
      return NULL;
  }
  buf->data = NULL;
  buf->len = 0;
  buf->cap = 0;
  if (len_out != NULL)
    *len_out = len;
  return data;
}
