/*
 * km_flowed.c: unflowing format=flowed text (see km_flowed.h).
 */
#include "km_flowed.h"

#include <assert.h>
#include <string.h>

/* One physical line, taken apart as RFC 3676 4.5 and 4.4 read it. */
typedef struct flowed_line {
  const char *quote; /* The quote marks: depth times '>'. */
  size_t depth;
  const char *text; /* After the quote marks and the stuffed space; no line break. */
  size_t len;
  const char *eol; /* The line break: CRLF, LF or nothing at the end of the input. */
  size_t eol_len;
  bool flowed; /* Ends with a space and is not the signature separator. */
  bool sig;    /* The signature separator "-- " (4.3). */
} flowed_line;

/* The paragraph being joined. */
typedef struct flowed_para {
  bool open; /* The last line was flowed, so the next one may continue it. */
  size_t depth;
  const char *eol; /* The line break of its last line so far. */
  size_t eol_len;
} flowed_para;

/* Take apart the line at text[i]; returns where the next line starts. */
static size_t flowed_line_next(const char *text, size_t len, size_t i, flowed_line *l) {
  const char *lf = memchr(text + i, '\n', len - i);
  size_t next = lf != NULL ? (size_t)(lf - text) + 1 : len;
  size_t end = lf != NULL ? next - 1 : len;
  if (lf != NULL && end > i && text[end - 1] == '\r')
    end--;
  l->eol = text + end;
  l->eol_len = next - end;
  size_t p = i;
  while (p < end && text[p] == '>')
    p++;
  l->quote = text + i;
  l->depth = p - i;
  /* Space-stuffing comes after the quote marks (4.4). */
  if (p < end && text[p] == ' ')
    p++;
  l->text = text + p;
  l->len = end - p;
  l->sig = l->len == 3 && memcmp(l->text, "-- ", 3) == 0;
  l->flowed = !l->sig && l->len > 0 && l->text[l->len - 1] == ' ';
  return next;
}

/*
 * End the open paragraph as a fixed line. It had its soft-break space
 * removed for DelSp, which a fixed line keeps, so it comes back.
 */
static kf_rc flowed_close(flowed_para *para, bool delsp, kf_buf *out) {
  para->open = false;
  kf_rc rc = delsp ? kf_buf_append(out, " ", 1) : KF_OK;
  if (rc == KF_OK)
    rc = kf_buf_append(out, para->eol, para->eol_len);
  return rc;
}

/* Add one line: continue the open paragraph or start a new one. */
static kf_rc flowed_put(flowed_para *para, const flowed_line *l, bool delsp, kf_buf *out) {
  kf_rc rc = KF_OK;
  /*
   * A flowed line followed by one of another quote depth counts as fixed
   * (4.5); so does one before the signature separator, which starts anew.
   */
  if (para->open && (l->depth != para->depth || l->sig))
    rc = flowed_close(para, delsp, out);
  if (rc == KF_OK && !para->open && l->depth > 0) {
    rc = kf_buf_append(out, l->quote, l->depth);
    if (rc == KF_OK && l->len > 0)
      rc = kf_buf_append(out, " ", 1);
  }
  if (rc == KF_OK)
    rc = kf_buf_append(out, l->text, l->flowed && delsp ? l->len - 1 : l->len);
  if (rc != KF_OK)
    return rc;
  para->open = l->flowed;
  para->depth = l->depth;
  para->eol = l->eol;
  para->eol_len = l->eol_len;
  return l->flowed ? KF_OK : kf_buf_append(out, l->eol, l->eol_len);
}

kf_rc km_flowed_decode(const char *text, size_t len, bool delsp, kf_buf *out) {
  assert(out != NULL && (text != NULL || len == 0));
  flowed_para para = {0};
  kf_rc rc = KF_OK;
  size_t i = 0;
  while (rc == KF_OK && i < len) {
    flowed_line l;
    i = flowed_line_next(text, len, i, &l);
    rc = flowed_put(&para, &l, delsp, out);
  }
  /* A flowed last line still ends its paragraph with its own line break. */
  if (rc == KF_OK && para.open)
    rc = kf_buf_append(out, para.eol, para.eol_len);
  return rc;
}
