/*
 * km_header.c: the fields of a message's header block (see km_header.h).
 */
#include "km_header.h"

#include <assert.h>
#include <string.h>

static bool header_is_blank(char c) {
  return c == ' ' || c == '\t';
}

/* GMime's linear white space: what unfolding trims at both ends of a value. */
static bool header_is_lwsp(char c) {
  return header_is_blank(c) || c == '\r' || c == '\n';
}

static bool header_is_ctrl(char c) {
  return (unsigned char)c < 0x20 || c == 0x7f;
}

/*
 * The end of the text of the line at p (before its CRLF or LF, or the end of
 * the input); *next is where the following line starts.
 */
static const char *header_line_end(const char *p, const char *end, const char **next) {
  const char *lf = memchr(p, '\n', (size_t)(end - p));
  if (lf == NULL) {
    *next = end;
    return end;
  }
  *next = lf + 1;
  return lf > p && lf[-1] == '\r' ? lf - 1 : lf;
}

/*
 * Whether the line at p starts a field: a name (without blanks before the
 * colon: *name_len) and the colon (*colon). An empty name counts, as it does
 * for GMime once a first field was seen; a message that starts with one does
 * not parse at all, so its fields are never asked for.
 */
static bool header_name(const char *p, const char *line_end, size_t *name_len, const char **colon) {
  bool blank = false;
  *name_len = 0;
  for (const char *q = p; q < line_end; q++) {
    if (*q == ':') {
      *colon = q;
      return true;
    }
    if (header_is_blank(*q)) {
      blank = true;
    } else if (blank || header_is_ctrl(*q)) {
      return false;
    } else {
      *name_len = (size_t)(q - p) + 1;
    }
  }
  return false;
}

void km_header_iter_init(km_header_iter *it, const char *raw, size_t len) {
  assert(it != NULL && (raw != NULL || len == 0));
  it->p = raw;
  it->end = raw + len;
  it->done = len == 0;
}

bool km_header_iter_next(km_header_iter *it, km_header_field *out) {
  assert(it != NULL && out != NULL);
  while (!it->done && it->p < it->end) {
    const char *next = NULL;
    const char *line_end = header_line_end(it->p, it->end, &next);
    if (line_end == it->p) {
      /* The empty line between the header block and the body. */
      break;
    }
    const char *start = it->p;
    const char *colon = NULL;
    size_t name_len = 0;
    /* A blank at the start continues a field; without one before, it is no field. */
    bool field = !header_is_blank(*start) && header_name(start, line_end, &name_len, &colon);
    const char *field_end = line_end;
    it->p = next;
    while (it->p < it->end && header_is_blank(*it->p)) {
      field_end = header_line_end(it->p, it->end, &next);
      it->p = next;
    }
    if (!field)
      continue;
    out->name = start;
    out->name_len = name_len;
    out->value = colon + 1;
    out->value_len = (size_t)(field_end - out->value);
    return true;
  }
  it->done = true;
  return false;
}

kf_rc km_header_unfold(const km_header_field *f, kf_buf *out) {
  assert(f != NULL && out != NULL);
  const char *p = f->value;
  const char *end = f->value + f->value_len;
  while (p < end && header_is_lwsp(*p))
    p++;
  while (end > p && header_is_lwsp(end[-1]))
    end--;
  while (p < end) {
    const char *run = p;
    while (run < end && *run != '\r' && *run != '\n')
      run++;
    kf_rc rc = kf_buf_append(out, p, (size_t)(run - p));
    if (rc != KF_OK)
      return rc;
    p = run;
    while (p < end && (*p == '\r' || *p == '\n'))
      p++;
  }
  return KF_OK;
}
