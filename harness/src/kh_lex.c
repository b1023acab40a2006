/*
 * kh_lex.c: the scenario language's lexer: a cursor over one line and the
 * tokens every statement is made of (words, strings, names, numbers,
 * literals, durations, heredocs), with positioned errors (see kh_lex.h).
 */
#include "kh_lex.h"

#include <assert.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/str.h"
#include "kf/timeutil.h"
#include "kf/utf8.h"

/* Record an error at byte offset at of the cursor's line. */
static kf_rc kh_cur_verror(kh_cur *c, size_t at, kh_diag_kind kind, const char *fmt, va_list ap) {
  kh_parser *p = c->p;
  int n = vsnprintf(p->err_msg, sizeof p->err_msg, fmt, ap);
  if (n < 0)
    p->err_msg[0] = '\0';
  p->err_kind = kind;
  p->err_line = c->line;
  p->err_col = kh_char_col(c->s, at > c->len ? c->len : at);
  p->err_src = c->s;
  p->err_src_len = c->len;
  const char *hint = kh_diag_kind_hint(kind);
  if (hint == NULL || kf_str_copy(p->err_hint, sizeof p->err_hint, hint) != KF_OK)
    p->err_hint[0] = '\0';
  return KF_ERR_PARSE;
}

kf_rc kh_cur_error(kh_cur *c, size_t at, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  kf_rc rc = kh_cur_verror(c, at, KH_DIAG_SYNTAX, fmt, ap);
  va_end(ap);
  return rc;
}

kf_rc kh_cur_error_kind(kh_cur *c, size_t at, kh_diag_kind kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  kf_rc rc = kh_cur_verror(c, at, kind, fmt, ap);
  va_end(ap);
  return rc;
}

/* Attach a hint to the error just recorded. */
kf_rc kh_cur_hint(kh_cur *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(c->p->err_hint, sizeof c->p->err_hint, fmt, ap);
  va_end(ap);
  if (n < 0)
    c->p->err_hint[0] = '\0';
  return KF_ERR_PARSE;
}

/* ---- Small helpers --------------------------------------------------------- */

bool kh_lex_is_blank(char ch) {
  return ch == ' ' || ch == '\t';
}

bool kh_lex_is_alpha(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

bool kh_lex_is_digit(char ch) {
  return ch >= '0' && ch <= '9';
}

/* An optional '-' and at least one digit, nothing else (the rule of typed comparisons). */
bool kh_lex_is_whole_int(const char *s, size_t len) {
  size_t i = len > 0 && s[0] == '-' ? 1 : 0;
  if (i == len)
    return false;
  for (; i < len; i++) {
    if (!kh_lex_is_digit(s[i]))
      return false;
  }
  return true;
}

bool kh_lex_is_word_char(char ch) {
  return kh_lex_is_alpha(ch) || kh_lex_is_digit(ch) || ch == '_' || ch == '.' || ch == '-';
}

/*
 * Append one zeroed element to a tree array (growing in powers of two from
 * one, the capacity is implied by len) and return it in *slot; the caller
 * increments len at once so the tree stays consistent. Most arrays of the
 * tree hold one or two items and are kept for the whole run, so they start
 * exact; the parser trims the ones it owns when a file is done.
 */
kf_rc kh_lex_push(void **arr, size_t len, size_t elem, void **slot) {
  if (len >= KH_PARSE_MAX_ITEMS)
    return KF_ERR_LIMIT;
  if (len == 0 || (len & (len - 1)) == 0) {
    size_t ncap = len == 0 ? 1 : len * 2;
    void *n = kf_realloc(*arr, ncap * elem);
    if (n == NULL)
      return KF_ERR_NOMEM;
    *arr = n;
  }
  *slot = (char *)*arr + len * elem;
  memset(*slot, 0, elem);
  return KF_OK;
}

/* kh_lex_push for callers that have a cursor: turns the item cap into a parse error. */
kf_rc kh_cur_push(kh_cur *c, void **arr, size_t len, size_t elem, void **slot) {
  kf_rc rc = kh_lex_push(arr, len, elem, slot);
  if (rc == KF_ERR_LIMIT)
    return kh_cur_error(c, c->i, "too many items (the limit is %u)", KH_PARSE_MAX_ITEMS);
  return rc;
}

kf_rc kh_cur_intern(kh_cur *c, const char *s, size_t len, const char **out) {
  kf_rc rc = kh_intern_get(c->p->strings, s, len, out);
  if (rc == KF_ERR_LIMIT)
    return kh_cur_error(c, c->i, "too many distinct strings (the limit is %u)",
                        KH_INTERN_MAX_STRINGS);
  return rc;
}

kf_rc kh_cur_tpl_set(kh_cur *c, kh_template *tpl, const char *s, size_t len) {
  const char *text = NULL;
  kf_rc rc = kh_cur_intern(c, s, len, &text);
  if (rc != KF_OK)
    return rc;
  tpl->text = text;
  tpl->len = len;
  return KF_OK;
}

void kh_cur_skip_blanks(kh_cur *c) {
  while (c->i < c->len && kh_lex_is_blank(c->s[c->i]))
    c->i++;
}

bool kh_cur_at_end(kh_cur *c) {
  kh_cur_skip_blanks(c);
  return c->i >= c->len;
}

/* The length of the word at the cursor (letters, digits, _ . -), not consumed. */
size_t kh_cur_peek_word(kh_cur *c) {
  kh_cur_skip_blanks(c);
  size_t n = 0;
  while (c->i + n < c->len && kh_lex_is_word_char(c->s[c->i + n]))
    n++;
  return n;
}

bool kh_lex_word_is(const char *w, size_t wlen, const char *lit) {
  return strlen(lit) == wlen && memcmp(w, lit, wlen) == 0;
}

/* Whether the next word is lit; consumes it if so. */
bool kh_cur_accept_word(kh_cur *c, const char *lit) {
  size_t n = kh_cur_peek_word(c);
  if (n == 0 || !kh_lex_word_is(c->s + c->i, n, lit))
    return false;
  c->i += n;
  return true;
}

/* Whether the cursor is at what looks like a trailing comment. */
bool kh_cur_at_hash(kh_cur *c) {
  kh_cur_skip_blanks(c);
  return c->i < c->len && c->s[c->i] == '#';
}

/* The hint for a trailing comment, which the language does not have. */
kf_rc kh_cur_hint_comment(kh_cur *c) {
  c->p->err_kind = KH_DIAG_MISPLACED_COMMENT;
  return kh_cur_hint(c, "%s", kh_diag_kind_hint(KH_DIAG_MISPLACED_COMMENT));
}

kf_rc kh_cur_expect_end(kh_cur *c, const char *after) {
  if (kh_cur_at_end(c))
    return KF_OK;
  (void)kh_cur_error_kind(c, c->i, KH_DIAG_TRAILING_TEXT, "unexpected text after %s", after);
  if (kh_cur_at_hash(c))
    return kh_cur_hint_comment(c);
  return kh_cur_hint(c, "remove it, or quote a value that contains blanks");
}

/* Hint "did you mean 'x'?" or the list of valid names. */
kf_rc kh_cur_hint_names(kh_cur *c, const char *w, size_t wlen, const char *const *names,
                        const char *what) {
  size_t count = 0;
  while (names[count] != NULL)
    count++;
  const char *near = kf_str_nearest(w, wlen, names, count);
  if (near != NULL)
    return kh_cur_hint(c, "did you mean '%s'?", near);
  char list[KH_PARSE_HINT_MAX - 64];
  kf_str_join(list, sizeof list, names, ", ", ", ");
  return kh_cur_hint(c, "valid %s: %s", what, list);
}

/* ---- Tokens ------------------------------------------------------------------ */

static int kh_lex_hex_value(char ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

/* \xNN after the backslash at esc; the cursor is after the 'x'. */
static kf_rc kh_lex_escape_hex(kh_cur *c, size_t esc, kf_buf *b) {
  int hi = c->i < c->len ? kh_lex_hex_value(c->s[c->i]) : -1;
  int lo = c->i + 1 < c->len ? kh_lex_hex_value(c->s[c->i + 1]) : -1;
  if (hi < 0 || lo < 0) {
    (void)kh_cur_error_kind(c, esc, KH_DIAG_BAD_ESCAPE, "expected two hex digits after \\x");
    return kh_cur_hint(c, "write a byte as \\xNN, for example \\xC3");
  }
  c->i += 2;
  return kf_buf_append_byte(b, (char)(hi * 16 + lo));
}

/* \u{XXXX} after the backslash at esc; the cursor is after the 'u'. */
static kf_rc kh_lex_escape_unicode(kh_cur *c, size_t esc, kf_buf *b) {
  uint32_t cp = 0;
  size_t digits = 0;
  bool ok = c->i < c->len && c->s[c->i] == '{';
  if (ok) {
    c->i++;
    while (c->i < c->len && kh_lex_hex_value(c->s[c->i]) >= 0 && digits < 6) {
      cp = cp * 16 + (uint32_t)kh_lex_hex_value(c->s[c->i]);
      c->i++;
      digits++;
    }
    ok = digits > 0 && c->i < c->len && c->s[c->i] == '}';
  }
  if (!ok) {
    (void)kh_cur_error_kind(c, esc, KH_DIAG_BAD_ESCAPE,
                            "expected \\u{XXXX} with 1 to 6 hex digits");
    return kh_cur_hint(c, "write a code point as \\u{E4}");
  }
  c->i++;
  char enc[4];
  size_t n = kf_utf8_encode(cp, enc);
  if (n == 0) {
    (void)kh_cur_error_kind(c, esc, KH_DIAG_BAD_ESCAPE, "\\u{%X} is not a valid Unicode code point",
                            (unsigned)cp);
    return kh_cur_hint(
        c, "surrogates and values above 10FFFF cannot be encoded; use \\xNN for raw bytes");
  }
  return kf_buf_append(b, enc, n);
}

/* One escape sequence; the cursor is at its backslash. */
static kf_rc kh_lex_escape(kh_cur *c, kf_buf *b) {
  static const char simple[] = "\"\"\\\\n\nr\rt\t";
  size_t esc = c->i;
  char e = c->i + 1 < c->len ? c->s[c->i + 1] : '\0';
  c->i += 2;
  for (size_t k = 0; e != '\0' && simple[k] != '\0'; k += 2) {
    if (simple[k] == e)
      return kf_buf_append_byte(b, simple[k + 1]);
  }
  if (e == 'x')
    return kh_lex_escape_hex(c, esc, b);
  if (e == 'u')
    return kh_lex_escape_unicode(c, esc, b);
  (void)kh_cur_error_kind(c, esc, KH_DIAG_BAD_ESCAPE, "unknown escape sequence");
  return kh_cur_hint(c, "valid escapes: \\\" \\\\ \\n \\r \\t \\xNN \\u{XXXX}");
}

/*
 * A double-quoted string with escapes, into tpl. The cursor is at the quote.
 * Most strings have no escape: those go from the line to the string table
 * without a buffer.
 */
kf_rc kh_cur_read_string(kh_cur *c, kh_template *tpl) {
  kh_cur_skip_blanks(c);
  assert(c->i < c->len && c->s[c->i] == '"');
  size_t open = c->i++;
  size_t end = c->i;
  while (end < c->len && c->s[end] != '"' && c->s[end] != '\\')
    end++;
  if (end < c->len && c->s[end] == '"') {
    kf_rc rc = kh_cur_tpl_set(c, tpl, c->s + c->i, end - c->i);
    if (rc == KF_OK)
      c->i = end + 1;
    return rc;
  }
  kf_buf b;
  kf_buf_init(&b, KH_MAX_FILE_BYTES);
  kf_rc rc = KF_OK;
  while (rc == KF_OK) {
    if (c->i >= c->len) {
      (void)kh_cur_error_kind(c, open, KH_DIAG_UNTERMINATED, "unterminated string");
      rc = kh_cur_hint(
          c, "close the string with '\"' on the same line (write \\\" for a quote inside it)");
      break;
    }
    char ch = c->s[c->i];
    if (ch == '"') {
      c->i++;
      break;
    }
    if (ch == '\\') {
      rc = kh_lex_escape(c, &b);
    } else {
      rc = kf_buf_append_byte(&b, ch);
      c->i++;
    }
  }
  if (rc == KF_OK)
    rc = kh_cur_tpl_set(c, tpl, b.data != NULL ? b.data : "", b.len);
  kf_buf_release(&b);
  if (rc == KF_ERR_LIMIT)
    rc = kh_cur_error(c, open, "string too long");
  return rc;
}

/* A quoted string that must be there; what names it for the message. */
kf_rc kh_cur_need_string(kh_cur *c, kh_template *tpl, const char *what) {
  kh_cur_skip_blanks(c);
  if (c->i >= c->len || c->s[c->i] != '"') {
    (void)kh_cur_error_kind(c, c->i, KH_DIAG_EXPECTED_STRING, "expected %s (a quoted string)",
                            what);
    return kh_cur_hint(c, "put the value in double quotes");
  }
  return kh_cur_read_string(c, tpl);
}

/* A name: letter or _ first, then letters, digits, _. */
kf_rc kh_cur_read_name(kh_cur *c, const char **out, const char *what) {
  kh_cur_skip_blanks(c);
  size_t start = c->i;
  if (c->i < c->len && (kh_lex_is_alpha(c->s[c->i]) || c->s[c->i] == '_')) {
    c->i++;
    while (c->i < c->len &&
           (kh_lex_is_alpha(c->s[c->i]) || kh_lex_is_digit(c->s[c->i]) || c->s[c->i] == '_'))
      c->i++;
  }
  if (c->i == start)
    return kh_cur_error_kind(c, start, KH_DIAG_EXPECTED_NAME, "expected %s", what);
  return kh_cur_intern(c, c->s + start, c->i - start, out);
}

kf_rc kh_cur_expect_char(kh_cur *c, char ch, const char *what) {
  kh_cur_skip_blanks(c);
  if (c->i < c->len && c->s[c->i] == ch) {
    c->i++;
    return KF_OK;
  }
  return kh_cur_error_kind(c, c->i, KH_DIAG_EXPECTED_TOKEN, "expected %s", what);
}

/* A decimal integer with optional sign. */
kf_rc kh_cur_read_number(kh_cur *c, long long *out) {
  kh_cur_skip_blanks(c);
  size_t start = c->i;
  if (c->i < c->len && (c->s[c->i] == '-' || c->s[c->i] == '+'))
    c->i++;
  while (c->i < c->len && kh_lex_is_digit(c->s[c->i]))
    c->i++;
  size_t n = c->i - start;
  char tmp[32];
  if (n == 0 || n >= sizeof tmp)
    return kh_cur_error_kind(c, start, KH_DIAG_EXPECTED_NUMBER, "expected a number");
  memcpy(tmp, c->s + start, n);
  tmp[n] = '\0';
  kf_rc rc = kf_str_to_llong(tmp, -9223372036854775807LL - 1, 9223372036854775807LL, out);
  if (rc != KF_OK) {
    (void)kh_cur_error(c, start, "'%s' is not a decimal integer in range", tmp);
    return kh_cur_hint(c, "numbers are decimal integers such as 42 or -1");
  }
  if (c->i < c->len && kh_lex_is_word_char(c->s[c->i])) {
    (void)kh_cur_error(c, start, "expected a number");
    return kh_cur_hint(c, "numbers are decimal integers such as 42; quote other text");
  }
  return KF_OK;
}

bool kh_cur_literal_starts(kh_cur *c) {
  kh_cur_skip_blanks(c);
  if (c->i >= c->len)
    return false;
  char ch = c->s[c->i];
  if (ch == '"' || kh_lex_is_digit(ch))
    return true;
  if ((ch == '-' || ch == '+') && c->i + 1 < c->len && kh_lex_is_digit(c->s[c->i + 1]))
    return true;
  size_t n = kh_cur_peek_word(c);
  const char *w = c->s + c->i;
  return kh_lex_word_is(w, n, "true") || kh_lex_word_is(w, n, "false") ||
         kh_lex_word_is(w, n, "null");
}

/* A string, number, true, false or null. */
kf_rc kh_cur_read_literal(kh_cur *c, kh_literal *lit, const char *what) {
  kh_cur_skip_blanks(c);
  if (c->i < c->len && c->s[c->i] == '"') {
    lit->kind = KH_LIT_STRING;
    return kh_cur_read_string(c, &lit->str);
  }
  if (kh_cur_accept_word(c, "true")) {
    lit->kind = KH_LIT_BOOL;
    lit->boolean = true;
    return KF_OK;
  }
  if (kh_cur_accept_word(c, "false")) {
    lit->kind = KH_LIT_BOOL;
    lit->boolean = false;
    return KF_OK;
  }
  if (kh_cur_accept_word(c, "null")) {
    lit->kind = KH_LIT_NULL;
    return KF_OK;
  }
  if (c->i < c->len && (kh_lex_is_digit(c->s[c->i]) || c->s[c->i] == '-' || c->s[c->i] == '+')) {
    lit->kind = KH_LIT_NUMBER;
    return kh_cur_read_number(c, &lit->number);
  }
  return kh_cur_error_kind(c, c->i, KH_DIAG_EXPECTED_VALUE, "expected %s", what);
}

/* A duration word such as 24h1s, parsed with kf_duration_parse_ms. */
kf_rc kh_cur_read_duration(kh_cur *c, int64_t *ms, const char *what) {
  kh_cur_skip_blanks(c);
  size_t start = c->i;
  while (c->i < c->len && !kh_lex_is_blank(c->s[c->i]))
    c->i++;
  size_t n = c->i - start;
  char tmp[64];
  if (n == 0) {
    return kh_cur_error_kind(c, start, KH_DIAG_EXPECTED_DURATION, "expected a duration after %s",
                             what);
  }
  if (n >= sizeof tmp ||
      (memcpy(tmp, c->s + start, n), tmp[n] = '\0', kf_duration_parse_ms(tmp, ms) != KF_OK) ||
      *ms < 0) {
    (void)kh_cur_error(c, start, "'%.*s' is not a duration", (int)(n > 40 ? 40 : n), c->s + start);
    return kh_cur_hint(c, "write a duration such as 10s, 24h, 250ms or 1d2h3m4s");
  }
  return KF_OK;
}

/* ---- Queries, filters and predicates -------------------------------------- */

/* Reads the next raw line; false at the end of the text. */
bool kh_parser_next_line(kh_parser *p, const char **s, size_t *len) {
  if (p->next >= p->len)
    return false;
  const char *start = p->text + p->next;
  const char *nl = memchr(start, '\n', p->len - p->next);
  size_t n = nl ? (size_t)(nl - start) : p->len - p->next;
  p->next += n + (nl ? 1 : 0);
  if (n > 0 && start[n - 1] == '\r')
    n--;
  p->lineno++;
  *s = start;
  *len = n;
  return true;
}

/* Heredoc body after `json <<END`: lines up to the terminator, common indent removed. */
kf_rc kh_cur_read_heredoc(kh_cur *c, const char *term, size_t termlen, size_t at,
                          kh_template *tpl) {
  kh_parser *p = c->p;
  size_t first = p->next;
  unsigned first_line = p->lineno;
  size_t indent = (size_t)-1;
  size_t lines = 0;
  const char *s;
  size_t len;
  bool done = false;
  /* First pass: find the terminator and the common indentation. */
  while (kh_parser_next_line(p, &s, &len)) {
    size_t b = 0;
    while (b < len && kh_lex_is_blank(s[b]))
      b++;
    size_t rest = kf_str_rtrim_len(s + b, len - b);
    if (rest == termlen && memcmp(s + b, term, termlen) == 0) {
      done = true;
      break;
    }
    lines++;
    if (rest > 0 && b < indent)
      indent = b;
  }
  if (!done) {
    (void)kh_cur_error_kind(c, at, KH_DIAG_UNTERMINATED, "unterminated heredoc");
    return kh_cur_hint(c, "end it with a line that holds only '%.*s'", (int)termlen, term);
  }
  if (indent == (size_t)-1)
    indent = 0;
  /* Second pass: copy the lines. */
  size_t end_next = p->next;
  unsigned end_line = p->lineno;
  p->next = first;
  p->lineno = first_line;
  kf_buf b;
  kf_buf_init(&b, KH_MAX_FILE_BYTES);
  kf_rc rc = KF_OK;
  for (size_t k = 0; k < lines && rc == KF_OK; k++) {
    bool ok = kh_parser_next_line(p, &s, &len);
    assert(ok);
    (void)ok;
    if (k > 0)
      rc = kf_buf_append_byte(&b, '\n');
    size_t skip = len < indent ? len : indent;
    if (rc == KF_OK)
      rc = kf_buf_append(&b, s + skip, len - skip);
  }
  p->next = end_next;
  p->lineno = end_line;
  if (rc == KF_OK)
    rc = kh_cur_tpl_set(c, tpl, b.data != NULL ? b.data : "", b.len);
  kf_buf_release(&b);
  if (rc == KF_ERR_LIMIT)
    return kh_cur_error(c, at, "heredoc too long");
  return rc;
}
