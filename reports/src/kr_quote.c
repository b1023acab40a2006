/*
 * kr_quote.c: any bytes as one double-quoted string for the report formats
 * that are written by hand into a kf_buf (HTML's embedded JSON, TAP's YAML).
 *
 * The text is first cleaned for people (kr_text_clean_to with
 * KR_CLEAN_TERMINAL: invalid UTF-8 becomes U+FFFD, a NUL and every other
 * control character but LF and tab a visible escape such as "\x00"), so what
 * is left to escape is the same small set in both media. The JSON style also
 * escapes '<', '>' and '&' (and U+2028, U+2029) as \u escapes, so the string
 * can never end or open an element where it is embedded in a page: no
 * "</script>", no "<!--". The YAML style uses only the escapes TAP's YAMLish
 * readers know (\" \\ \n \t), so Perl's TAP::Parser reads it back exactly.
 */
#include <assert.h>
#include <string.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "kr_priv.h"

typedef struct kr_quote_ctx {
  kf_buf *out;
  kr_quote_style style;
} kr_quote_ctx;

/* The escape that replaces byte c in style, or NULL when c stays as it is. */
static const char *kr_quote_escape(unsigned char c, kr_quote_style style) {
  switch (c) {
  case '"':
    return "\\\"";
  case '\\':
    return "\\\\";
  case '\n':
    return "\\n";
  case '\t':
    return "\\t";
  case '<':
    return style == KR_QUOTE_JSON_HTML ? "\\u003c" : NULL;
  case '>':
    return style == KR_QUOTE_JSON_HTML ? "\\u003e" : NULL;
  case '&':
    return style == KR_QUOTE_JSON_HTML ? "\\u0026" : NULL;
  default:
    return NULL;
  }
}

/* kr_sink_fn: escape one cleaned piece (whole characters) into ctx->out. */
static kf_rc kr_quote_sink(void *ctx, const char *data, size_t len) {
  kr_quote_ctx *q = ctx;
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)data[i];
    const char *esc = kr_quote_escape(c, q->style);
    /* JavaScript before ES2019 ends a string at U+2028 and U+2029; JSON does not. */
    bool sep = q->style == KR_QUOTE_JSON_HTML && c == 0xE2 && i + 2 < len &&
               (unsigned char)data[i + 1] == 0x80 &&
               ((unsigned char)data[i + 2] == 0xA8 || (unsigned char)data[i + 2] == 0xA9);
    if (esc == NULL && !sep)
      continue;
    KR_TRY(kf_buf_append(q->out, data + start, i - start));
    if (sep) {
      KR_TRY(kf_buf_append_str(q->out, (unsigned char)data[i + 2] == 0xA8 ? "\\u2028" : "\\u2029"));
      i += 2;
    } else {
      KR_TRY(kf_buf_append_str(q->out, esc));
    }
    start = i + 1;
  }
  return kf_buf_append(q->out, data + start, len - start);
}

kf_rc kr_quote_n(kf_buf *out, const char *s, size_t len, kr_quote_style style) {
  assert(out != NULL);
  assert(s != NULL || len == 0);
  kr_quote_ctx q = {.out = out, .style = style};
  KR_TRY(kf_buf_append_byte(out, '"'));
  if (len > 0)
    KR_TRY(kr_text_clean_to(s, len, KR_CLEAN_TERMINAL, kr_quote_sink, &q));
  return kf_buf_append_byte(out, '"');
}

kf_rc kr_quote(kf_buf *out, const char *s, kr_quote_style style) {
  return kr_quote_n(out, s != NULL ? s : "", s != NULL ? strlen(s) : 0, style);
}
