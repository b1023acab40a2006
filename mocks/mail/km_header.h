/*
 * km_header.h: the header block at the top of a received message, read from
 * its raw bytes.
 *
 * GMime 3 hands out a message's own headers and the headers of its top-level
 * MIME part (Content-Type, Content-Transfer-Encoding, ...) in two separate
 * lists, and keeps each value as a C string, so a NUL byte cuts it short. The
 * mail document wants every field of the block in wire order with every byte
 * (docs/mocks-openapi.yaml, header_list), so it reads them from here.
 *
 * The rules are GMime's, so both agree on which fields there are: the block
 * ends at the first empty line or at the end of the input; a line that starts
 * with a blank (space or tab) continues the field before it; a field's name
 * runs up to the first colon, may have blanks between it and the colon, and
 * holds no other blank and no control character. A line that is not such a
 * field is skipped together with the lines that continue it.
 */
#ifndef KM_HEADER_H
#define KM_HEADER_H

#include <stdbool.h>
#include <stddef.h>

#include "kf/buf.h"
#include "kf/error.h"

/* One field; both parts are borrowed from the input and not NUL-terminated. */
typedef struct km_header_field {
  const char *name; /* Without the blanks before the colon. */
  size_t name_len;
  const char
      *value; /* From after the colon to the end of the field's last line, line break excluded. */
  size_t value_len;
} km_header_field;

/* A walk over the fields; the input is borrowed and must outlive it. */
typedef struct km_header_iter {
  const char *p;
  const char *end;
  bool done; /* The empty line (or the end) was reached. */
} km_header_iter;

/* Start a walk over the header block at the start of raw (len bytes, NULs allowed). */
void km_header_iter_init(km_header_iter *it, const char *raw, size_t len);

/* The next field in wire order into *out; false when the block has ended. */
bool km_header_iter_next(km_header_iter *it, km_header_field *out);

/*
 * Append f's value unfolded to out (RFC 5322 2.2.3: the line breaks of a
 * folded field are removed, the blanks after them kept), without the blanks
 * at either end. Other bytes, NUL included, are copied as they are.
 */
kf_rc km_header_unfold(const km_header_field *f, kf_buf *out);

#endif
