/*
 * buf.h: a growable byte buffer with a hard size cap.
 *
 * Every buffer in konform that grows with input has a cap (the curl rule).
 * Appending past the cap fails with KF_ERR_LIMIT and leaves the buffer as it
 * was. The data is always NUL-terminated (the NUL is not counted in len).
 */
#ifndef KF_BUF_H
#define KF_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "kf/error.h"

typedef struct kf_buf {
  char *data; /* Owned by the buffer; NULL until the first append. */
  size_t len; /* Bytes in use, not counting the trailing NUL. */
  size_t cap; /* Bytes allocated. */
  size_t max; /* Largest len allowed. */
} kf_buf;

/* Prepare caller-owned storage; max is the cap on len. */
void kf_buf_init(kf_buf *buf, size_t max);
/* Free the data; buf can be reused after kf_buf_init. */
void kf_buf_release(kf_buf *buf);
/* Empty the buffer but keep its memory. */
void kf_buf_reset(kf_buf *buf);

kf_rc kf_buf_append(kf_buf *buf, const void *data, size_t len);
kf_rc kf_buf_append_str(kf_buf *buf, const char *s);
kf_rc kf_buf_append_byte(kf_buf *buf, char c);
kf_rc kf_buf_appendf(kf_buf *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
kf_rc kf_buf_vappendf(kf_buf *buf, const char *fmt, va_list ap);

/*
 * Hand the data to the caller (caller frees with kf_free) and reset the buffer.
 * Returns an empty string rather than NULL for an empty buffer; NULL only when
 * that allocation fails.
 */
char *kf_buf_detach(kf_buf *buf, size_t *len_out);

#endif
