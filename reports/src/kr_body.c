/*
 * kr_body.c: bodies in traces, formatted for people (see kr_body.h). A
 * format that cannot show a body faithfully says KF_ERR_INVALID, and the
 * body is shown as it is: formatting must never change what a body says.
 *
 * JSON is re-indented token by token rather than parsed into jansson values:
 * jansson would print 0.1 as 0.10000000000000001, merge duplicate keys, and
 * it reports running out of memory as a syntax error, which would show a
 * body unformatted where the rule is to say that memory ran out.
 */
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "kf/run_result.h"
#include "kf/str.h"
#include "kf/utf8.h"
#include "kr_body.h"
#include "kr_priv.h"

/* The longest media type looked at ("application/problem+json"); longer ones match nothing. */
#define KR_BODY_TYPE_MAX 128
/* Deeper JSON is shown as it is (the formatter recurses once a level). */
#define KR_BODY_JSON_DEPTH 256

/* One way to show a body. */
typedef struct kr_body_format {
  /* Whether type (lower case, without parameters) is this format's media type. */
  bool (*is_type)(const char *type);
  /* Whether a body of no known type looks like this format; NULL: never guessed. */
  bool (*looks)(const char *body, size_t len);
  /* Append body formatted to out; NULL: as it is; KF_ERR_INVALID: show it as it is. */
  kf_rc (*render)(const char *body, size_t len, kf_buf *out);
} kr_body_format;

/* ---- Reading JSON (RFC 8259). ---- */

/* A JSON text being read: the bytes and the position. */
typedef struct kr_jin {
  const char *s;
  size_t len;
  size_t i;
} kr_jin;

static char kr_jin_peek(const kr_jin *in) {
  return in->i < in->len ? in->s[in->i] : '\0';
}

static bool kr_jin_is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void kr_jin_blank(kr_jin *in) {
  while (in->i < in->len && kr_jin_is_blank(in->s[in->i]))
    in->i++;
}

/* The four hex digits at s[at] as a number; false if they are not there. */
static bool kr_jin_hex4(const char *s, size_t len, size_t at, uint32_t *out) {
  if (len < 4 || at > len - 4)
    return false;
  uint32_t v = 0;
  for (size_t k = at; k < at + 4; k++) {
    char c = s[k];
    uint32_t d = c >= '0' && c <= '9'   ? (uint32_t)(c - '0')
                 : c >= 'a' && c <= 'f' ? (uint32_t)(c - 'a' + 10)
                 : c >= 'A' && c <= 'F' ? (uint32_t)(c - 'A' + 10)
                                        : 16u;
    if (d == 16u)
      return false;
    v = v * 16u + d;
  }
  *out = v;
  return true;
}

/* Step over the string starting at in->i; KF_ERR_INVALID unless it is one. */
static kf_rc kr_jin_string(kr_jin *in) {
  if (kr_jin_peek(in) != '"')
    return KF_ERR_INVALID;
  for (in->i++; in->i < in->len;) {
    unsigned char c = (unsigned char)in->s[in->i];
    uint32_t cp;
    if (c == '"') {
      in->i++;
      return KF_OK;
    }
    if (c < 0x20 || (c == '\\' && in->i + 1 >= in->len))
      return KF_ERR_INVALID;
    if (c != '\\') {
      in->i++;
    } else if (in->s[in->i + 1] == 'u') {
      if (!kr_jin_hex4(in->s, in->len, in->i + 2, &cp))
        return KF_ERR_INVALID;
      in->i += 6;
    } else if (in->s[in->i + 1] != '\0' && strchr("\"\\/bfnrt", in->s[in->i + 1]) != NULL) {
      in->i += 2;
    } else {
      return KF_ERR_INVALID;
    }
  }
  return KF_ERR_INVALID;
}

/* Step over digits; whether there was one. */
static bool kr_jin_digits(kr_jin *in) {
  size_t start = in->i;
  while (kr_jin_peek(in) >= '0' && kr_jin_peek(in) <= '9')
    in->i++;
  return in->i > start;
}

/* -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)? */
static kf_rc kr_jin_number(kr_jin *in) {
  if (kr_jin_peek(in) == '-')
    in->i++;
  if (kr_jin_peek(in) == '0')
    in->i++;
  else if (!kr_jin_digits(in))
    return KF_ERR_INVALID;
  if (kr_jin_peek(in) == '.') {
    in->i++;
    if (!kr_jin_digits(in))
      return KF_ERR_INVALID;
  }
  if (kr_jin_peek(in) == 'e' || kr_jin_peek(in) == 'E') {
    in->i++;
    if (kr_jin_peek(in) == '+' || kr_jin_peek(in) == '-')
      in->i++;
    if (!kr_jin_digits(in))
      return KF_ERR_INVALID;
  }
  return KF_OK;
}

static kf_rc kr_jin_word(kr_jin *in, const char *word) {
  size_t n = strlen(word);
  if (in->len - in->i < n || memcmp(in->s + in->i, word, n) != 0)
    return KF_ERR_INVALID;
  in->i += n;
  return KF_OK;
}

/* ---- The text of a JSON string, as lines. ---- */

/* The character of the (valid) escape at tok[*at], stepping past it; U+FFFD for a lone surrogate.
 */
static uint32_t kr_body_escape(const char *tok, size_t len, size_t *at) {
  static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
  char e = tok[*at + 1];
  if (e != 'u') {
    *at += 2;
    return (unsigned char)to[strchr(from, e) - from];
  }
  uint32_t cp = 0, lo = 0;
  (void)kr_jin_hex4(tok, len, *at + 2, &cp);
  *at += 6;
  if (cp >= 0xD800 && cp <= 0xDBFF && *at + 1 < len && tok[*at] == '\\' && tok[*at + 1] == 'u' &&
      kr_jin_hex4(tok, len, *at + 2, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
    *at += 6;
    return 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
  }
  return cp >= 0xD800 && cp <= 0xDFFF ? 0xFFFD : cp;
}

/* Whether the string token tok (quotes included) holds a line break. */
static bool kr_body_has_newline(const char *tok, size_t len) {
  for (size_t at = 1; at + 1 < len;) {
    if (tok[at] != '\\')
      at++;
    else if (kr_body_escape(tok, len, &at) == '\n')
      return true;
  }
  return false;
}

static kf_rc kr_body_indent(kf_buf *out, size_t depth) {
  for (size_t i = 0; i < depth; i++)
    KR_TRY(kf_buf_append(out, "  ", 2));
  return KF_OK;
}

/* The text of the string token tok as lines at depth, each after "| " (an empty one "|"). */
static kf_rc kr_body_text_block(const char *tok, size_t len, size_t depth, kf_buf *out) {
  bool line_start = true;
  for (size_t at = 1; at + 1 < len;) {
    char bytes[4] = {tok[at]};
    size_t n = 1;
    if (tok[at] == '\\')
      n = kf_utf8_encode(kr_body_escape(tok, len, &at), bytes);
    else
      at++;
    bool newline = n == 1 && bytes[0] == '\n';
    if (line_start) {
      KR_TRY(kr_body_indent(out, depth));
      KR_TRY(kf_buf_append(out, newline ? "|" : "| ", newline ? 1 : 2));
    }
    KR_TRY(kf_buf_append(out, bytes, n));
    line_start = newline;
  }
  return line_start ? KF_OK : kf_buf_append_byte(out, '\n');
}

/* ---- Writing JSON as JSON_INDENT(2) does. ---- */

static kf_rc kr_jfmt_value(kr_jin *in, size_t depth, kf_buf *out);

/* A string, number, true, false or null, copied as written. */
static kf_rc kr_jfmt_scalar(kr_jin *in, kf_buf *out) {
  size_t start = in->i;
  char c = kr_jin_peek(in);
  kf_rc rc = c == '"'   ? kr_jin_string(in)
             : c == 't' ? kr_jin_word(in, "true")
             : c == 'f' ? kr_jin_word(in, "false")
             : c == 'n' ? kr_jin_word(in, "null")
                        : kr_jin_number(in);
  KR_TRY(rc);
  return kf_buf_append(out, in->s + start, in->i - start);
}

/* `"key": value` at depth + 1; *block says a "text" was written as lines (with its newline). */
static kf_rc kr_jfmt_member(kr_jin *in, size_t depth, kf_buf *out, bool *block) {
  kr_jin_blank(in);
  size_t key = in->i;
  KR_TRY(kr_jin_string(in));
  size_t key_len = in->i - key;
  kr_jin_blank(in);
  if (kr_jin_peek(in) != ':')
    return KF_ERR_INVALID;
  in->i++;
  kr_jin_blank(in);
  KR_TRY(kr_body_indent(out, depth + 1));
  KR_TRY(kf_buf_append(out, in->s + key, key_len));
  size_t value = in->i;
  if (key_len == 6 && memcmp(in->s + key, "\"text\"", 6) == 0 && kr_jin_peek(in) == '"') {
    KR_TRY(kr_jin_string(in));
    *block = kr_body_has_newline(in->s + value, in->i - value);
    if (*block) {
      KR_TRY(kf_buf_append(out, ":\n", 2));
      return kr_body_text_block(in->s + value, in->i - value, depth + 2, out);
    }
    in->i = value;
  }
  KR_TRY(kf_buf_append(out, ": ", 2));
  return kr_jfmt_value(in, depth + 1, out);
}

/*
 * The members of an object or the items of an array, one a line at depth + 1,
 * then the closing bracket at depth; in->i is just past the opening one.
 */
static kf_rc kr_jfmt_container(kr_jin *in, size_t depth, kf_buf *out, char close) {
  kr_jin_blank(in);
  if (kr_jin_peek(in) == close) {
    in->i++;
    char empty[2] = {close == '}' ? '{' : '[', close};
    return kf_buf_append(out, empty, 2);
  }
  KR_TRY(kf_buf_append(out, close == '}' ? "{\n" : "[\n", 2));
  for (;;) {
    bool block = false;
    if (close == '}') {
      KR_TRY(kr_jfmt_member(in, depth, out, &block));
    } else {
      KR_TRY(kr_body_indent(out, depth + 1));
      KR_TRY(kr_jfmt_value(in, depth + 1, out));
    }
    kr_jin_blank(in);
    char c = kr_jin_peek(in);
    if (c != ',' && c != close)
      return KF_ERR_INVALID;
    in->i++;
    /* A text's lines end with their own line break and need no comma to read. */
    if (!block)
      KR_TRY(kf_buf_append(out, c == ',' ? ",\n" : "\n", c == ',' ? 2 : 1));
    if (c == close)
      break;
  }
  KR_TRY(kr_body_indent(out, depth));
  return kf_buf_append_byte(out, close);
}

static kf_rc kr_jfmt_value(kr_jin *in, size_t depth, kf_buf *out) {
  if (depth > KR_BODY_JSON_DEPTH)
    return KF_ERR_INVALID;
  kr_jin_blank(in);
  char c = kr_jin_peek(in);
  if (c != '{' && c != '[')
    return kr_jfmt_scalar(in, out);
  in->i++;
  return kr_jfmt_container(in, depth, out, c == '{' ? '}' : ']');
}

/* A JSON object or array, re-indented; KF_ERR_INVALID for anything else. */
static kf_rc kr_body_json(const char *body, size_t len, kf_buf *out) {
  if (!kf_utf8_valid(body, len))
    return KF_ERR_INVALID;
  kr_jin in = {.s = body, .len = len, .i = 0};
  kr_jin_blank(&in);
  if (kr_jin_peek(&in) != '{' && kr_jin_peek(&in) != '[')
    return KF_ERR_INVALID;
  KR_TRY(kr_jfmt_value(&in, 0, out));
  kr_jin_blank(&in);
  return in.i == len ? KF_OK : KF_ERR_INVALID;
}

static bool kr_body_is_json(const char *type) {
  return strcmp(type, "application/json") == 0 || kf_str_ends_with(type, "+json");
}

/* Whether the body starts like a JSON object or array (kr_body_json decides). */
static bool kr_body_looks_json(const char *body, size_t len) {
  kr_jin in = {.s = body, .len = len, .i = 0};
  kr_jin_blank(&in);
  return kr_jin_peek(&in) == '{' || kr_jin_peek(&in) == '[';
}

/* ---- Raw mail. ---- */

static bool kr_body_is_rfc822(const char *type) {
  return strcmp(type, "message/rfc822") == 0;
}

/*
 * The formats, the first whose media type matches winning; without one, the
 * first whose look matches. A raw mail is shown as it is: its lines are its
 * lines once the cleaners drop the CR of each CRLF, and it is never guessed
 * to be JSON.
 */
static const kr_body_format KR_BODY_FORMATS[] = {
    {kr_body_is_rfc822, NULL, NULL},
    {kr_body_is_json, kr_body_looks_json, kr_body_json},
};

#define KR_BODY_FORMATS_LEN (sizeof KR_BODY_FORMATS / sizeof KR_BODY_FORMATS[0])

/* msg's media type, lower case and without parameters, into type ("" without one). */
static void kr_body_type(const kf_message *msg, char type[KR_BODY_TYPE_MAX]) {
  type[0] = '\0';
  for (size_t i = 0; i < msg->headers_len; i++) {
    const kf_header *h = &msg->headers[i];
    if (h->name == NULL || h->value == NULL || !kf_str_eq_ci(h->name, "Content-Type"))
      continue;
    const char *v = kf_str_skip_blanks(h->value);
    size_t n = kf_str_rtrim_len(v, strcspn(v, ";"));
    if (n >= KR_BODY_TYPE_MAX)
      return;
    memcpy(type, v, n);
    type[n] = '\0';
    kf_str_ascii_lower(type);
    return;
  }
}

static const kr_body_format *kr_body_format_of(const kf_message *msg) {
  char type[KR_BODY_TYPE_MAX];
  kr_body_type(msg, type);
  for (size_t i = 0; i < KR_BODY_FORMATS_LEN; i++) {
    if (KR_BODY_FORMATS[i].is_type(type))
      return &KR_BODY_FORMATS[i];
  }
  for (size_t i = 0; i < KR_BODY_FORMATS_LEN; i++) {
    const kr_body_format *f = &KR_BODY_FORMATS[i];
    if (f->looks != NULL && f->looks(msg->body, msg->body_len))
      return f;
  }
  return NULL;
}

kf_rc kr_body_append(const kf_message *msg, kf_buf *out) {
  assert(msg != NULL && out != NULL);
  if (msg->body == NULL || msg->body_len == 0)
    return KF_OK;
  const kr_body_format *f = msg->body_cut ? NULL : kr_body_format_of(msg);
  if (f != NULL && f->render != NULL) {
    size_t mark = out->len;
    kf_rc rc = f->render(msg->body, msg->body_len, out);
    if (rc == KF_OK || rc == KF_ERR_NOMEM)
      return rc;
    /* Not faithful, or too big once indented: the body as it is, then. */
    out->len = mark;
    if (out->data != NULL)
      out->data[mark] = '\0';
  }
  return kf_buf_append(out, msg->body, msg->body_len);
}
