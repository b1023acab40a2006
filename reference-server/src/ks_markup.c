/*
 * ks_markup.c: a page's markup as another implementation writes it (see
 * ks_markup.h). One pass over the page: text and attribute values get their
 * characters as references, tags are taken apart and written again, and the
 * content of script and style elements is copied untouched, because there a
 * reference would not be decoded.
 */
#include "ks_markup.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "kf/buf.h"
#include "kf/utf8.h"

#define MARKUP_MAX (128 * 1024)
#define MARKUP_MAX_ATTRS 16
/* What wraps the content of <main>: the extra element of another page template. */
#define MARKUP_WRAPPER "<div class='inhalt'>"

/* The characters a German page has that HTML names; any other is written &#N;. */
static const struct markup_named {
  uint32_t cp;
  const char *name;
} markup_named[] = {
    {0xE4, "auml"},    {0xF6, "ouml"},    {0xFC, "uuml"},    {0xC4, "Auml"},    {0xD6, "Ouml"},
    {0xDC, "Uuml"},    {0xDF, "szlig"},   {0x201E, "bdquo"}, {0x201C, "ldquo"}, {0x201D, "rdquo"},
    {0x2013, "ndash"}, {0x2014, "mdash"}, {0xA0, "nbsp"},    {0x20AC, "euro"},  {0xE9, "eacute"},
};

typedef struct markup_attr {
  const char *name;
  size_t name_len;
  const char *value; /* NULL for an attribute without a value ("hidden"). */
  size_t value_len;
} markup_attr;

/* Append len bytes of text, non-ASCII as references; indent: two blanks after each newline. */
static kf_rc markup_text(kf_buf *out, const char *s, size_t len, bool indent) {
  kf_rc rc = KF_OK;
  for (size_t i = 0; rc == KF_OK && i < len;) {
    if ((unsigned char)s[i] < 0x80) {
      rc = kf_buf_append_byte(out, s[i]);
      if (rc == KF_OK && indent && s[i] == '\n')
        rc = kf_buf_append_str(out, "  ");
      i++;
      continue;
    }
    uint32_t cp = 0;
    size_t n = kf_utf8_decode(s + i, len - i, &cp);
    if (n == 0)
      return KF_ERR_INVALID;
    const char *name = NULL;
    for (size_t k = 0; name == NULL && k < sizeof markup_named / sizeof markup_named[0]; k++)
      name = markup_named[k].cp == cp ? markup_named[k].name : NULL;
    rc = name != NULL ? kf_buf_appendf(out, "&%s;", name) : kf_buf_appendf(out, "&#%u;", cp);
    i += n;
  }
  return rc;
}

static bool markup_name_char(char c) {
  return c != '\0' && c != ' ' && c != '\n' && c != '=' && c != '>' && c != '/' && c != '"' &&
         c != '\'';
}

/* Whether attribute a's name sorts after b's. */
static bool markup_after(const markup_attr *a, const markup_attr *b) {
  size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
  int c = memcmp(a->name, b->name, n);
  return c > 0 || (c == 0 && a->name_len > b->name_len);
}

/* Read the attributes from s up to the tag's '>' into attrs (sorted); *end: at the '>'. */
static kf_rc markup_attrs(const char *s, markup_attr *attrs, size_t *n, const char **end) {
  *n = 0;
  while (true) {
    while (*s == ' ' || *s == '\n')
      s++;
    if (*s == '>')
      break;
    if (!markup_name_char(*s) || *n == MARKUP_MAX_ATTRS)
      return KF_ERR_INVALID;
    markup_attr a = {s, 0, NULL, 0};
    while (markup_name_char(*s))
      s++;
    a.name_len = (size_t)(s - a.name);
    if (*s == '=') {
      if (s[1] != '"' || strchr(s + 2, '"') == NULL)
        return KF_ERR_INVALID;
      a.value = s + 2;
      a.value_len = (size_t)(strchr(s + 2, '"') - a.value);
      s = a.value + a.value_len + 1;
    }
    /* Insertion sort: a tag has a handful of attributes. */
    size_t k = (*n)++;
    for (; k > 0 && markup_after(&attrs[k - 1], &a); k--)
      attrs[k] = attrs[k - 1];
    attrs[k] = a;
  }
  *end = s;
  return KF_OK;
}

/* Write the attributes, values in single quotes (double ones where a value holds a '). */
static kf_rc markup_put_attrs(kf_buf *out, const markup_attr *attrs, size_t n) {
  kf_rc rc = KF_OK;
  for (size_t i = 0; rc == KF_OK && i < n; i++) {
    rc = kf_buf_appendf(out, " %.*s", (int)attrs[i].name_len, attrs[i].name);
    if (rc != KF_OK || attrs[i].value == NULL)
      continue;
    bool q1 = memchr(attrs[i].value, '\'', attrs[i].value_len) == NULL;
    rc = kf_buf_append_str(out, q1 ? "='" : "=\"");
    if (rc == KF_OK)
      rc = markup_text(out, attrs[i].value, attrs[i].value_len, false);
    if (rc == KF_OK)
      rc = kf_buf_append_byte(out, q1 ? '\'' : '"');
  }
  return rc;
}

static bool markup_is(const char *name, size_t len, const char *word) {
  return len == strlen(word) && memcmp(name, word, len) == 0;
}

/*
 * Rewrite the start tag at s (after its '<'); *next: after its '>'. A
 * script or style element's content follows it raw, up to its end tag,
 * copied as it is.
 */
static kf_rc markup_start_tag(kf_buf *out, const char *s, const char **next) {
  const char *name = s;
  while (markup_name_char(*s))
    s++;
  size_t name_len = (size_t)(s - name);
  markup_attr attrs[MARKUP_MAX_ATTRS];
  size_t n = 0;
  const char *end = NULL;
  kf_rc rc = name_len > 0 ? markup_attrs(s, attrs, &n, &end) : KF_ERR_INVALID;
  if (rc == KF_OK)
    rc = kf_buf_appendf(out, "<%.*s", (int)name_len, name);
  if (rc == KF_OK)
    rc = markup_put_attrs(out, attrs, n);
  if (rc == KF_OK)
    rc = kf_buf_append_str(out, markup_is(name, name_len, "main") ? ">\n  " MARKUP_WRAPPER : ">");
  if (rc != KF_OK)
    return rc;
  *next = end + 1;
  if (markup_is(name, name_len, "script") || markup_is(name, name_len, "style")) {
    const char *close = strstr(*next, markup_is(name, name_len, "script") ? "</script" : "</style");
    if (close == NULL)
      return KF_ERR_INVALID;
    rc = kf_buf_append(out, *next, (size_t)(close - *next));
    *next = close;
  }
  return rc;
}

/* Rewrite the markup at s (at a '<'): a start tag, an end tag, a doctype or a comment. */
static kf_rc markup_tag(kf_buf *out, const char *s, const char **next) {
  assert(*s == '<');
  if (s[1] != '/' && s[1] != '!')
    return markup_start_tag(out, s + 1, next);
  const char *end = strchr(s, '>');
  if (end == NULL)
    return KF_ERR_INVALID;
  *next = end + 1;
  kf_rc rc = strncmp(s, "</main>", 7) == 0 ? kf_buf_append_str(out, "</div>\n  ") : KF_OK;
  return rc == KF_OK ? kf_buf_append(out, s, (size_t)(*next - s)) : rc;
}

kf_rc ks_markup_rewrite(const char *page, size_t len, char **out, size_t *out_len) {
  assert(page != NULL && page[len] == '\0' && out != NULL);
  *out = NULL;
  kf_buf b;
  kf_buf_init(&b, MARKUP_MAX);
  const char *s = page, *stop = page + len;
  kf_rc rc = KF_OK;
  while (rc == KF_OK && s < stop) {
    if (*s == '<') {
      rc = markup_tag(&b, s, &s);
      continue;
    }
    const char *lt = memchr(s, '<', (size_t)(stop - s));
    const char *text_end = lt != NULL ? lt : stop;
    rc = markup_text(&b, s, (size_t)(text_end - s), true);
    s = text_end;
  }
  if (rc == KF_OK && s > stop)
    rc = KF_ERR_INVALID;
  if (rc == KF_OK)
    *out = kf_buf_detach(&b, out_len);
  kf_buf_release(&b);
  if (rc == KF_OK && *out == NULL)
    rc = KF_ERR_NOMEM;
  return rc;
}
