/*
 * kh_parse.c: the scenario parser (docs/scenario-language.md).
 *
 * The language is line-oriented, so the parser walks the text line by line
 * and parses each line with a small cursor. It never keeps a half-built node
 * outside the tree: every array slot is zeroed and counted before it is
 * filled, so kh_file_free can clean up whatever state a parse error or an
 * allocation failure leaves behind. Error details go into fixed buffers in
 * the parser state and are copied into the caller's kh_diag only at the end,
 * so that reporting a parse error does not itself need memory mid-parse.
 */
#include "kh_parse.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/str.h"
#include "kf/timeutil.h"
#include "kf/utf8.h"

/* Arrays in the tree never hold more than this many items. */
#define KH_PARSE_MAX_ITEMS (1u << 20)
#define KH_PARSE_MSG_MAX 256
#define KH_PARSE_HINT_MAX 512

typedef struct kh_parser {
  const char *text;
  size_t len;
  size_t next;     /* Offset of the next unread line. */
  unsigned lineno; /* Number of the line last read. */
  kh_file *file;
  kh_step **steps; /* The step array of the current scenario or fragment. */
  size_t *steps_len;
  bool header_only; /* Inside a scenario or fragment, before its first step. */
  /* The scenario being read, to check its covers: when it ends. */
  bool in_scenario;
  bool covers_seen;
  const char *scenario_line;
  size_t scenario_line_len;
  unsigned scenario_lineno;
  /* The error, once one happened. */
  unsigned err_line;
  unsigned err_col;
  const char *err_src;
  size_t err_src_len;
  char err_msg[KH_PARSE_MSG_MAX];
  char err_hint[KH_PARSE_HINT_MAX];
} kh_parser;

/* A cursor over one line. */
typedef struct kh_cur {
  kh_parser *p;
  const char *s;
  size_t len;
  size_t i;
  unsigned line;
} kh_cur;

/* ---- Diagnostics ---------------------------------------------------------- */

void kh_diag_init(kh_diag *diag) {
  memset(diag, 0, sizeof *diag);
}

void kh_diag_release(kh_diag *diag) {
  if (diag == NULL)
    return;
  kf_free(diag->file);
  kf_free(diag->message);
  kf_free(diag->hint);
  kf_free(diag->source_line);
  kh_diag_init(diag);
}

kf_rc kh_diag_set(kh_diag *diag, kh_severity severity, const char *file, unsigned line,
                  unsigned col, const char *source_line, const char *hint, const char *fmt, ...) {
  assert(diag != NULL && fmt != NULL);
  kh_diag_release(diag);
  char msg[KH_PARSE_MSG_MAX * 2];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n < 0)
    msg[0] = '\0';
  diag->severity = severity;
  diag->line = line;
  diag->col = col;
  diag->message = kf_strdup(msg);
  if (diag->message == NULL)
    goto nomem;
  if (file != NULL && (diag->file = kf_strdup(file)) == NULL)
    goto nomem;
  if (hint != NULL && (diag->hint = kf_strdup(hint)) == NULL)
    goto nomem;
  if (source_line != NULL && (diag->source_line = kf_strdup(source_line)) == NULL)
    goto nomem;
  return KF_OK;
nomem:
  kh_diag_release(diag);
  return KF_ERR_NOMEM;
}

kf_rc kh_diag_format(const kh_diag *diag, kf_buf *out) {
  const char *sev = diag->severity == KH_SEV_WARNING ? "warning" : "error";
  const char *file = diag->file != NULL ? diag->file : "<input>";
  const char *msg = diag->message != NULL ? diag->message : "unknown problem";
  kf_rc rc;
  if (diag->line == 0)
    rc = kf_buf_appendf(out, "%s: %s: %s\n", file, sev, msg);
  else
    rc = kf_buf_appendf(out, "%s:%u:%u: %s: %s\n", file, diag->line, diag->col, sev, msg);
  if (rc != KF_OK)
    return rc;
  if (diag->source_line != NULL && diag->line != 0) {
    if ((rc = kf_buf_appendf(out, "  %s\n  ", diag->source_line)) != KF_OK)
      return rc;
    /*
     * The column counts characters, so the padding walks the line character
     * by character (one blank for each, however many bytes it takes) and
     * copies tabs so the caret lines up however the terminal expands them.
     */
    const char *src = diag->source_line;
    size_t k = 0;
    for (unsigned i = 1; i < diag->col; i++) {
      char c = src[k] == '\t' ? '\t' : ' ';
      if (src[k] != '\0') {
        k++;
        while (((unsigned char)src[k] & 0xC0u) == 0x80u)
          k++;
      }
      if ((rc = kf_buf_append_byte(out, c)) != KF_OK)
        return rc;
    }
    if ((rc = kf_buf_append_str(out, "^\n")) != KF_OK)
      return rc;
  }
  if (diag->hint != NULL) {
    if ((rc = kf_buf_appendf(out, "hint: %s\n", diag->hint)) != KF_OK)
      return rc;
  }
  return KF_OK;
}

unsigned kh_char_col(const char *line, size_t bytes) {
  /*
   * Every byte that is not a UTF-8 continuation byte (10xxxxxx) starts a
   * character; counting those also gives a sensible answer for text that is
   * not valid UTF-8, which the encoding check reports with a column too.
   */
  size_t n = 0;
  for (size_t i = 0; i < bytes; i++) {
    if (((unsigned char)line[i] & 0xC0u) != 0x80u)
      n++;
  }
  return n >= UINT_MAX ? UINT_MAX : (unsigned)n + 1;
}

/* Record an error at byte offset at of the cursor's line. */
static kf_rc __attribute__((format(printf, 3, 4)))
kh_perr(kh_cur *c, size_t at, const char *fmt, ...) {
  kh_parser *p = c->p;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(p->err_msg, sizeof p->err_msg, fmt, ap);
  va_end(ap);
  if (n < 0)
    p->err_msg[0] = '\0';
  p->err_line = c->line;
  p->err_col = kh_char_col(c->s, at > c->len ? c->len : at);
  p->err_src = c->s;
  p->err_src_len = c->len;
  p->err_hint[0] = '\0';
  return KF_ERR_PARSE;
}

/* Attach a hint to the error just recorded. */
static kf_rc __attribute__((format(printf, 2, 3))) kh_phint(kh_cur *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(c->p->err_hint, sizeof c->p->err_hint, fmt, ap);
  va_end(ap);
  if (n < 0)
    c->p->err_hint[0] = '\0';
  return KF_ERR_PARSE;
}

/* ---- Small helpers --------------------------------------------------------- */

static bool kh_is_blank(char ch) {
  return ch == ' ' || ch == '\t';
}

static bool kh_is_alpha(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool kh_is_digit(char ch) {
  return ch >= '0' && ch <= '9';
}

/* An optional '-' and at least one digit, nothing else (the rule of typed comparisons). */
static bool kh_is_whole_int(const char *s, size_t len) {
  size_t i = len > 0 && s[0] == '-' ? 1 : 0;
  if (i == len)
    return false;
  for (; i < len; i++) {
    if (!kh_is_digit(s[i]))
      return false;
  }
  return true;
}

static bool kh_is_word_char(char ch) {
  return kh_is_alpha(ch) || kh_is_digit(ch) || ch == '_' || ch == '.' || ch == '-';
}

/*
 * Append one zeroed element to a tree array (growing in powers of two, the
 * capacity is implied by len) and return it in *slot; the caller increments
 * len at once so the tree stays consistent.
 */
static kf_rc kh_push(void **arr, size_t len, size_t elem, void **slot) {
  if (len >= KH_PARSE_MAX_ITEMS)
    return KF_ERR_LIMIT;
  if (len == 0 || (len & (len - 1)) == 0) {
    size_t ncap = len < 4 ? 4 : len * 2;
    void *n = kf_realloc(*arr, ncap * elem);
    if (n == NULL)
      return KF_ERR_NOMEM;
    *arr = n;
  }
  *slot = (char *)*arr + len * elem;
  memset(*slot, 0, elem);
  return KF_OK;
}

/* kh_push for callers that have a cursor: turns the item cap into a parse error. */
static kf_rc kh_push_at(kh_cur *c, void **arr, size_t len, size_t elem, void **slot) {
  kf_rc rc = kh_push(arr, len, elem, slot);
  if (rc == KF_ERR_LIMIT)
    return kh_perr(c, c->i, "too many items (the limit is %u)", KH_PARSE_MAX_ITEMS);
  return rc;
}

static kf_rc kh_tpl_set(kh_template *tpl, const char *s, size_t len) {
  char *copy = kf_memdup0(s, len);
  if (copy == NULL)
    return KF_ERR_NOMEM;
  kf_free(tpl->text);
  tpl->text = copy;
  tpl->len = len;
  return KF_OK;
}

static void kh_skip_blanks(kh_cur *c) {
  while (c->i < c->len && kh_is_blank(c->s[c->i]))
    c->i++;
}

static bool kh_at_end(kh_cur *c) {
  kh_skip_blanks(c);
  return c->i >= c->len;
}

/* The length of the word at the cursor (letters, digits, _ . -), not consumed. */
static size_t kh_peek_word(kh_cur *c) {
  kh_skip_blanks(c);
  size_t n = 0;
  while (c->i + n < c->len && kh_is_word_char(c->s[c->i + n]))
    n++;
  return n;
}

static bool kh_word_is(const char *w, size_t wlen, const char *lit) {
  return strlen(lit) == wlen && memcmp(w, lit, wlen) == 0;
}

/* Whether the next word is lit; consumes it if so. */
static bool kh_accept_word(kh_cur *c, const char *lit) {
  size_t n = kh_peek_word(c);
  if (n == 0 || !kh_word_is(c->s + c->i, n, lit))
    return false;
  c->i += n;
  return true;
}

/* Whether the cursor is at what looks like a trailing comment. */
static bool kh_at_hash(kh_cur *c) {
  kh_skip_blanks(c);
  return c->i < c->len && c->s[c->i] == '#';
}

/* The hint for a trailing comment, which the language does not have. */
static kf_rc kh_hint_comment(kh_cur *c) {
  return kh_phint(c, "a comment is a whole line: put it on a line of its own that starts with '#'");
}

static kf_rc kh_expect_end(kh_cur *c, const char *after) {
  if (kh_at_end(c))
    return KF_OK;
  kh_perr(c, c->i, "unexpected text after %s", after);
  if (kh_at_hash(c))
    return kh_hint_comment(c);
  return kh_phint(c, "remove it, or quote a value that contains blanks");
}

/* Levenshtein distance, capped: only small distances matter for suggestions. */
static size_t kh_edit_distance(const char *a, size_t alen, const char *b) {
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
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      size_t best = diag + cost;
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

/* The closest of names (NULL-terminated) to w, or NULL if none is close. */
static const char *kh_nearest(const char *w, size_t wlen, const char *const *names) {
  const char *best = NULL;
  size_t best_d = 3;
  for (size_t k = 0; names[k] != NULL; k++) {
    size_t d = kh_edit_distance(w, wlen, names[k]);
    if (d < best_d) {
      best_d = d;
      best = names[k];
    }
  }
  return best;
}

/* Hint "did you mean 'x'?" or the list of valid names. */
static kf_rc kh_hint_names(kh_cur *c, const char *w, size_t wlen, const char *const *names,
                           const char *what) {
  const char *near = kh_nearest(w, wlen, names);
  if (near != NULL)
    return kh_phint(c, "did you mean '%s'?", near);
  char list[KH_PARSE_HINT_MAX - 64];
  size_t used = 0;
  list[0] = '\0';
  for (size_t k = 0; names[k] != NULL; k++) {
    int n = snprintf(list + used, sizeof list - used, "%s%s", k ? ", " : "", names[k]);
    if (n < 0 || (size_t)n >= sizeof list - used)
      break;
    used += (size_t)n;
  }
  return kh_phint(c, "valid %s: %s", what, list);
}

/* ---- Tokens ------------------------------------------------------------------ */

static int kh_hex_value(char ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

/* A double-quoted string with escapes, into tpl. The cursor is at the quote. */
static kf_rc kh_read_string(kh_cur *c, kh_template *tpl) {
  kh_skip_blanks(c);
  assert(c->i < c->len && c->s[c->i] == '"');
  size_t open = c->i++;
  kf_buf b;
  kf_buf_init(&b, KH_MAX_FILE_BYTES);
  kf_rc rc = KF_OK;
  for (;;) {
    if (c->i >= c->len) {
      kh_perr(c, open, "unterminated string");
      rc = kh_phint(
          c, "close the string with '\"' on the same line (write \\\" for a quote inside it)");
      goto out;
    }
    char ch = c->s[c->i];
    if (ch == '"') {
      c->i++;
      break;
    }
    if (ch != '\\') {
      if ((rc = kf_buf_append_byte(&b, ch)) != KF_OK)
        goto out;
      c->i++;
      continue;
    }
    size_t esc = c->i;
    char e = c->i + 1 < c->len ? c->s[c->i + 1] : '\0';
    c->i += 2;
    switch (e) {
    case '"':
      rc = kf_buf_append_byte(&b, '"');
      break;
    case '\\':
      rc = kf_buf_append_byte(&b, '\\');
      break;
    case 'n':
      rc = kf_buf_append_byte(&b, '\n');
      break;
    case 'r':
      rc = kf_buf_append_byte(&b, '\r');
      break;
    case 't':
      rc = kf_buf_append_byte(&b, '\t');
      break;
    case 'x': {
      int hi = c->i < c->len ? kh_hex_value(c->s[c->i]) : -1;
      int lo = c->i + 1 < c->len ? kh_hex_value(c->s[c->i + 1]) : -1;
      if (hi < 0 || lo < 0) {
        kh_perr(c, esc, "expected two hex digits after \\x");
        rc = kh_phint(c, "write a byte as \\xNN, for example \\xC3");
        goto out;
      }
      c->i += 2;
      rc = kf_buf_append_byte(&b, (char)(hi * 16 + lo));
      break;
    }
    case 'u': {
      uint32_t cp = 0;
      size_t digits = 0;
      if (c->i >= c->len || c->s[c->i] != '{')
        goto bad_u;
      c->i++;
      while (c->i < c->len && kh_hex_value(c->s[c->i]) >= 0 && digits < 6) {
        cp = cp * 16 + (uint32_t)kh_hex_value(c->s[c->i]);
        c->i++;
        digits++;
      }
      if (digits == 0 || c->i >= c->len || c->s[c->i] != '}')
        goto bad_u;
      c->i++;
      char enc[4];
      size_t n = kf_utf8_encode(cp, enc);
      if (n == 0) {
        kh_perr(c, esc, "\\u{%X} is not a valid Unicode code point", (unsigned)cp);
        rc = kh_phint(
            c, "surrogates and values above 10FFFF cannot be encoded; use \\xNN for raw bytes");
        goto out;
      }
      rc = kf_buf_append(&b, enc, n);
      break;
    bad_u:
      kh_perr(c, esc, "expected \\u{XXXX} with 1 to 6 hex digits");
      rc = kh_phint(c, "write a code point as \\u{E4}");
      goto out;
    }
    default:
      kh_perr(c, esc, "unknown escape sequence");
      rc = kh_phint(c, "valid escapes: \\\" \\\\ \\n \\r \\t \\xNN \\u{XXXX}");
      goto out;
    }
    if (rc != KF_OK)
      goto out;
  }
  {
    size_t n = 0;
    char *text = kf_buf_detach(&b, &n);
    if (text == NULL) {
      rc = KF_ERR_NOMEM;
      goto out;
    }
    kf_free(tpl->text);
    tpl->text = text;
    tpl->len = n;
  }
out:
  kf_buf_release(&b);
  if (rc == KF_ERR_LIMIT)
    rc = kh_perr(c, open, "string too long");
  return rc;
}

/* A quoted string that must be there; what names it for the message. */
static kf_rc kh_need_string(kh_cur *c, kh_template *tpl, const char *what) {
  kh_skip_blanks(c);
  if (c->i >= c->len || c->s[c->i] != '"') {
    kh_perr(c, c->i, "expected %s (a quoted string)", what);
    return kh_phint(c, "put the value in double quotes");
  }
  return kh_read_string(c, tpl);
}

/* A name: letter or _ first, then letters, digits, _. */
static kf_rc kh_read_name(kh_cur *c, char **out, const char *what) {
  kh_skip_blanks(c);
  size_t start = c->i;
  if (c->i < c->len && (kh_is_alpha(c->s[c->i]) || c->s[c->i] == '_')) {
    c->i++;
    while (c->i < c->len &&
           (kh_is_alpha(c->s[c->i]) || kh_is_digit(c->s[c->i]) || c->s[c->i] == '_'))
      c->i++;
  }
  if (c->i == start) {
    kh_perr(c, start, "expected %s", what);
    return kh_phint(c, "names start with a letter or '_' and hold letters, digits and '_'");
  }
  char *name = kf_strndup(c->s + start, c->i - start);
  if (name == NULL)
    return KF_ERR_NOMEM;
  kf_free(*out);
  *out = name;
  return KF_OK;
}

static kf_rc kh_expect_char(kh_cur *c, char ch, const char *what) {
  kh_skip_blanks(c);
  if (c->i < c->len && c->s[c->i] == ch) {
    c->i++;
    return KF_OK;
  }
  return kh_perr(c, c->i, "expected %s", what);
}

/* A decimal integer with optional sign. */
static kf_rc kh_read_number(kh_cur *c, long long *out) {
  kh_skip_blanks(c);
  size_t start = c->i;
  if (c->i < c->len && (c->s[c->i] == '-' || c->s[c->i] == '+'))
    c->i++;
  while (c->i < c->len && kh_is_digit(c->s[c->i]))
    c->i++;
  size_t n = c->i - start;
  char tmp[32];
  if (n == 0 || n >= sizeof tmp)
    return kh_perr(c, start, "expected a number");
  memcpy(tmp, c->s + start, n);
  tmp[n] = '\0';
  kf_rc rc = kf_str_to_llong(tmp, -9223372036854775807LL - 1, 9223372036854775807LL, out);
  if (rc != KF_OK) {
    kh_perr(c, start, "'%s' is not a decimal integer in range", tmp);
    return kh_phint(c, "numbers are decimal integers such as 42 or -1");
  }
  if (c->i < c->len && kh_is_word_char(c->s[c->i])) {
    kh_perr(c, start, "expected a number");
    return kh_phint(c, "numbers are decimal integers such as 42; quote other text");
  }
  return KF_OK;
}

static bool kh_literal_starts(kh_cur *c) {
  kh_skip_blanks(c);
  if (c->i >= c->len)
    return false;
  char ch = c->s[c->i];
  if (ch == '"' || kh_is_digit(ch))
    return true;
  if ((ch == '-' || ch == '+') && c->i + 1 < c->len && kh_is_digit(c->s[c->i + 1]))
    return true;
  size_t n = kh_peek_word(c);
  const char *w = c->s + c->i;
  return kh_word_is(w, n, "true") || kh_word_is(w, n, "false") || kh_word_is(w, n, "null");
}

/* A string, number, true, false or null. */
static kf_rc kh_read_literal(kh_cur *c, kh_literal *lit, const char *what) {
  kh_skip_blanks(c);
  if (c->i < c->len && c->s[c->i] == '"') {
    lit->kind = KH_LIT_STRING;
    return kh_read_string(c, &lit->str);
  }
  if (kh_accept_word(c, "true")) {
    lit->kind = KH_LIT_BOOL;
    lit->boolean = true;
    return KF_OK;
  }
  if (kh_accept_word(c, "false")) {
    lit->kind = KH_LIT_BOOL;
    lit->boolean = false;
    return KF_OK;
  }
  if (kh_accept_word(c, "null")) {
    lit->kind = KH_LIT_NULL;
    return KF_OK;
  }
  if (c->i < c->len && (kh_is_digit(c->s[c->i]) || c->s[c->i] == '-' || c->s[c->i] == '+')) {
    lit->kind = KH_LIT_NUMBER;
    return kh_read_number(c, &lit->number);
  }
  kh_perr(c, c->i, "expected %s", what);
  return kh_phint(c, "values are \"quoted strings\", decimal integers, true, false or null");
}

/* A duration word such as 24h1s, parsed with kf_duration_parse_ms. */
static kf_rc kh_read_duration(kh_cur *c, int64_t *ms, const char *what) {
  kh_skip_blanks(c);
  size_t start = c->i;
  while (c->i < c->len && !kh_is_blank(c->s[c->i]))
    c->i++;
  size_t n = c->i - start;
  char tmp[64];
  if (n == 0) {
    kh_perr(c, start, "expected a duration after %s", what);
    return kh_phint(c, "write a duration such as 10s, 24h or 1d2h3m4s");
  }
  if (n >= sizeof tmp ||
      (memcpy(tmp, c->s + start, n), tmp[n] = '\0', kf_duration_parse_ms(tmp, ms) != KF_OK) ||
      *ms < 0) {
    kh_perr(c, start, "'%.*s' is not a duration", (int)(n > 40 ? 40 : n), c->s + start);
    return kh_phint(c, "write a duration such as 10s, 24h, 250ms or 1d2h3m4s");
  }
  return KF_OK;
}

/* ---- Queries, filters and predicates -------------------------------------- */

typedef struct kh_query_def {
  const char *name;
  kh_query_kind kind;
  const char *arg; /* What the quoted argument is, or NULL for none. */
} kh_query_def;

static const kh_query_def KH_QUERIES[] = {
    {"status", KH_Q_STATUS, NULL},
    {"header", KH_Q_HEADER, "a header name"},
    {"body", KH_Q_BODY, NULL},
    {"json", KH_Q_JSON, "a JSON path such as \"$.a.b[0]\""},
    {"duration", KH_Q_DURATION, NULL},
    {"mail.from", KH_Q_MAIL_FROM, NULL},
    {"mail.to", KH_Q_MAIL_TO, NULL},
    {"mail.subject", KH_Q_MAIL_SUBJECT, NULL},
    {"mail.date", KH_Q_MAIL_DATE, NULL},
    {"mail.text", KH_Q_MAIL_TEXT, NULL},
    {"mail.html", KH_Q_MAIL_HTML, NULL},
    {"mail.raw", KH_Q_MAIL_RAW, NULL},
    {"mail.header", KH_Q_MAIL_HEADER, "a header name"},
    {"mail.links", KH_Q_MAIL_LINKS, NULL},
    {"mail.link", KH_Q_MAIL_LINK, "a regex"},
    {"mail.json", KH_Q_MAIL_JSON, "a JSON path"},
    {"letter.kind", KH_Q_LETTER_KIND, NULL},
    {"letter.text", KH_Q_LETTER_TEXT, NULL},
    {"letter.date", KH_Q_LETTER_DATE, NULL},
    {"letter.field", KH_Q_LETTER_FIELD, "a field name"},
    {"letter.json", KH_Q_LETTER_JSON, "a JSON path"},
    {"var", KH_Q_VAR, "a variable name"},
};

static const char *const KH_QUERY_NAMES[] = {
    "status",      "header",       "body",        "json",      "duration",    "mail.from",
    "mail.to",     "mail.subject", "mail.date",   "mail.text", "mail.html",   "mail.raw",
    "mail.header", "mail.links",   "mail.link",   "mail.json", "letter.kind", "letter.text",
    "letter.date", "letter.field", "letter.json", "var",       NULL};

static const char *const KH_PRED_NAMES[] = {"==",         "!=",      "<",           "<=",
                                            ">",          ">=",      "contains",    "not contains",
                                            "startswith", "matches", "not matches", "exists",
                                            "not exists", "is-uuid", "json-equals", NULL};

static kf_rc kh_hint_predicates(kh_cur *c) {
  return kh_phint(c,
                  "valid predicates: == != < <= > >= contains, not contains, startswith, matches, "
                  "not matches, exists, not exists, is-uuid, json-equals");
}

static kf_rc kh_parse_query(kh_cur *c, kh_query *q) {
  size_t n = kh_peek_word(c);
  size_t start = c->i;
  if (n == 0) {
    kh_perr(c, start, "expected a query");
    return kh_phint(c,
                    "for example: status, header \"Location\", body, json \"$.id\", mail.subject");
  }
  const kh_query_def *def = NULL;
  for (size_t k = 0; k < sizeof KH_QUERIES / sizeof KH_QUERIES[0]; k++) {
    if (kh_word_is(c->s + start, n, KH_QUERIES[k].name))
      def = &KH_QUERIES[k];
  }
  if (def == NULL) {
    kh_perr(c, start, "unknown query '%.*s'", (int)(n > 60 ? 60 : n), c->s + start);
    return kh_hint_names(c, c->s + start, n, KH_QUERY_NAMES, "queries");
  }
  c->i += n;
  q->kind = def->kind;
  if (def->arg != NULL) {
    kf_rc rc = kh_need_string(c, &q->arg, def->arg);
    if (rc != KF_OK) {
      if (rc == KF_ERR_PARSE && c->p->err_hint[0] == '\0')
        kh_phint(c, "write '%s \"...\"'", def->name);
      else if (rc == KF_ERR_PARSE && strncmp(c->p->err_msg, "expected ", 9) == 0)
        kh_phint(c, "write '%s \"...\"' with %s", def->name, def->arg);
      return rc;
    }
  }
  /* Filters, left to right. */
  for (;;) {
    size_t w = kh_peek_word(c);
    kh_filter_kind fk;
    bool needs_arg = false;
    const char *word = c->s + c->i;
    if (kh_word_is(word, w, "count")) {
      fk = KH_F_COUNT;
    } else if (kh_word_is(word, w, "lower")) {
      fk = KH_F_LOWER;
    } else if (kh_word_is(word, w, "regex")) {
      fk = KH_F_REGEX;
      needs_arg = true;
    } else if (kh_word_is(word, w, "grep")) {
      fk = KH_F_GREP;
      needs_arg = true;
    } else {
      break;
    }
    c->i += w;
    kh_filter *f = NULL;
    kf_rc rc = kh_push_at(c, (void **)&q->filters, q->filters_len, sizeof *f, (void **)&f);
    if (rc != KF_OK)
      return rc;
    q->filters_len++;
    f->kind = fk;
    if (needs_arg && (rc = kh_need_string(c, &f->arg, "a regex")) != KF_OK)
      return rc;
  }
  return KF_OK;
}

static kf_rc kh_parse_predicate(kh_cur *c, kh_predicate *pred, size_t expect_at) {
  kh_skip_blanks(c);
  size_t start = c->i;
  if (c->i >= c->len) {
    kh_perr(c, start, "expected a predicate after the query");
    return kh_hint_predicates(c);
  }
  if (kh_literal_starts(c)) {
    /* The common slip "expect status 200": suggest the operator. */
    kh_perr(c, start, "expected a predicate after the query");
    size_t qlen = kf_str_rtrim_len(c->s + expect_at, start - expect_at);
    size_t rlen = kf_str_rtrim_len(c->s + start, c->len - start);
    return kh_phint(c, "write '%.*s == %.*s'", (int)(qlen > 200 ? 200 : qlen), c->s + expect_at,
                    (int)(rlen > 200 ? 200 : rlen), c->s + start);
  }
  enum { NEED_NONE, NEED_ANY, NEED_NUMBER, NEED_STRING } need = NEED_NONE;
  char ch = c->s[c->i];
  if (ch == '=' || ch == '!' || ch == '<' || ch == '>') {
    size_t n = 0;
    while (c->i + n < c->len && strchr("=!<>", c->s[c->i + n]) != NULL)
      n++;
    const char *op = c->s + c->i;
    if (kh_word_is(op, n, "=="))
      pred->kind = KH_P_EQ, need = NEED_ANY;
    else if (kh_word_is(op, n, "!="))
      pred->kind = KH_P_NE, need = NEED_ANY;
    else if (kh_word_is(op, n, "<"))
      pred->kind = KH_P_LT, need = NEED_NUMBER;
    else if (kh_word_is(op, n, "<="))
      pred->kind = KH_P_LE, need = NEED_NUMBER;
    else if (kh_word_is(op, n, ">"))
      pred->kind = KH_P_GT, need = NEED_NUMBER;
    else if (kh_word_is(op, n, ">="))
      pred->kind = KH_P_GE, need = NEED_NUMBER;
    else {
      kh_perr(c, start, "unknown operator '%.*s'", (int)(n > 10 ? 10 : n), op);
      if (kh_word_is(op, n, "="))
        return kh_phint(c, "compare with '==', not '='");
      return kh_hint_predicates(c);
    }
    c->i += n;
  } else {
    size_t n = kh_peek_word(c);
    const char *w = c->s + c->i;
    if (kh_word_is(w, n, "not")) {
      c->i += n;
      size_t m = kh_peek_word(c);
      const char *w2 = c->s + c->i;
      if (kh_word_is(w2, m, "contains"))
        pred->kind = KH_P_NOT_CONTAINS, need = NEED_STRING;
      else if (kh_word_is(w2, m, "matches"))
        pred->kind = KH_P_NOT_MATCHES, need = NEED_STRING;
      else if (kh_word_is(w2, m, "exists"))
        pred->kind = KH_P_NOT_EXISTS;
      else {
        kh_perr(c, c->i, "expected 'contains', 'matches' or 'exists' after 'not'");
        return kh_hint_predicates(c);
      }
      c->i += m;
    } else if (kh_word_is(w, n, "contains"))
      pred->kind = KH_P_CONTAINS, need = NEED_STRING, c->i += n;
    else if (kh_word_is(w, n, "startswith"))
      pred->kind = KH_P_STARTSWITH, need = NEED_STRING, c->i += n;
    else if (kh_word_is(w, n, "matches"))
      pred->kind = KH_P_MATCHES, need = NEED_STRING, c->i += n;
    else if (kh_word_is(w, n, "exists"))
      pred->kind = KH_P_EXISTS, c->i += n;
    else if (kh_word_is(w, n, "is-uuid"))
      pred->kind = KH_P_IS_UUID, c->i += n;
    else if (kh_word_is(w, n, "json-equals"))
      pred->kind = KH_P_JSON_EQUALS, need = NEED_STRING, c->i += n;
    else {
      if (n == 0)
        n = 1;
      kh_perr(c, start, "unknown predicate '%.*s'", (int)(n > 60 ? 60 : n), w);
      const char *near = kh_nearest(w, n, KH_PRED_NAMES);
      if (near != NULL)
        return kh_phint(c, "did you mean '%s'?", near);
      return kh_hint_predicates(c);
    }
  }
  kh_skip_blanks(c);
  size_t op_end = c->i;
  switch (need) {
  case NEED_NONE:
    return KF_OK;
  case NEED_ANY:
    if (c->i >= c->len) {
      kh_perr(c, op_end, "expected a value after the operator");
      return kh_phint(c, "for example: == 200, == \"text\", == true, == null");
    }
    return kh_read_literal(c, &pred->operand, "a value after the operator");
  case NEED_NUMBER:
    if (c->i < c->len && c->s[c->i] == '"') {
      /*
       * A quoted operand compares as a number at run time ("{{max}}"); one
       * without interpolation must already be a whole decimal integer.
       */
      pred->operand.kind = KH_LIT_STRING;
      kf_rc rc = kh_read_string(c, &pred->operand.str);
      if (rc != KF_OK)
        return rc;
      if (memchr(pred->operand.str.text, '{', pred->operand.str.len) == NULL &&
          !kh_is_whole_int(pred->operand.str.text, pred->operand.str.len)) {
        kh_perr(c, op_end, "expected a number after the comparison");
        return kh_phint(c, "ordering comparisons take decimal integers, for example '< 500' or "
                           "'< \"{{max}}\"'");
      }
      return KF_OK;
    }
    if (c->i >= c->len || !(kh_is_digit(c->s[c->i]) || c->s[c->i] == '-' || c->s[c->i] == '+')) {
      kh_perr(c, op_end, "expected a number after the comparison");
      return kh_phint(c, "ordering comparisons take decimal integers, for example '< 500'");
    }
    pred->operand.kind = KH_LIT_NUMBER;
    return kh_read_number(c, &pred->operand.number);
  case NEED_STRING:
    pred->operand.kind = KH_LIT_STRING;
    return kh_need_string(c, &pred->operand.str, "a string after the predicate");
  }
  return KF_OK;
}

/* An `expect` or `capture` line; the cursor is after the keyword. */
static kf_rc kh_parse_check(kh_cur *c, kh_step *step, bool is_capture, size_t kw_at) {
  kh_check *chk = NULL;
  kf_rc rc = kh_push_at(c, (void **)&step->checks, step->checks_len, sizeof *chk, (void **)&chk);
  if (rc != KF_OK)
    return rc;
  step->checks_len++;
  chk->is_capture = is_capture;
  chk->pos.file = c->p->file->path;
  chk->pos.line = c->line;
  chk->pos.col = (unsigned)kw_at + 1;
  size_t srclen = kf_str_rtrim_len(c->s + kw_at, c->len - kw_at);
  if ((chk->source = kf_strndup(c->s + kw_at, srclen)) == NULL)
    return KF_ERR_NOMEM;
  if (is_capture) {
    if ((rc = kh_read_name(c, &chk->capture_name, "a variable name after 'capture'")) != KF_OK)
      return rc;
    if ((rc = kh_expect_char(c, '=', "'=' after the capture name")) != KF_OK) {
      return kh_phint(c, "write 'capture NAME = <query>'");
    }
    if ((rc = kh_parse_query(c, &chk->query)) != KF_OK)
      return rc;
    if (!kh_at_end(c)) {
      kh_perr(c, c->i, "unexpected text after the capture query");
      return kh_phint(
          c, "a capture takes a query and filters (count, regex, lower, grep), no predicate");
    }
    return KF_OK;
  }
  if ((rc = kh_parse_query(c, &chk->query)) != KF_OK)
    return rc;
  if ((rc = kh_parse_predicate(c, &chk->pred, kw_at)) != KF_OK)
    return rc;
  return kh_expect_end(c, "the predicate");
}

/* ---- Steps -------------------------------------------------------------------- */

static const char *const KH_STEP_WORDS[] = {
    "scenario:", "covers:", "tags:", "fragment:", "params:", "let", "GET",    "POST",    "PUT",
    "PATCH",     "DELETE",  "HEAD",  "wait",      "clock",   "use", "expect", "capture", NULL};
static const char *const KH_METHODS[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", NULL};
static const char *const KH_SUBLINE_WORDS[] = {"header", "json",    "body", "option",
                                               "expect", "capture", NULL};

static kf_rc kh_new_step(kh_cur *c, kh_step_kind kind, kh_step **out) {
  kh_parser *p = c->p;
  if (p->steps == NULL) {
    kh_perr(c, 0, "a step before 'scenario:'");
    return kh_phint(
        c, "start the file with 'scenario: <name>' and 'covers: <IDs>' (or 'fragment: <name>')");
  }
  kh_step *step = NULL;
  kf_rc rc = kh_push_at(c, (void **)p->steps, *p->steps_len, sizeof *step, (void **)&step);
  if (rc != KF_OK)
    return rc;
  (*p->steps_len)++;
  p->header_only = false;
  step->kind = kind;
  step->pos.file = p->file->path;
  step->pos.line = c->line;
  step->pos.col = 1;
  size_t srclen = kf_str_rtrim_len(c->s, c->len);
  if ((step->source = kf_strndup(c->s, srclen)) == NULL)
    return KF_ERR_NOMEM;
  *out = step;
  return KF_OK;
}

static kh_step *kh_current_step(kh_parser *p) {
  if (p->steps == NULL || *p->steps_len == 0 || p->header_only)
    return NULL;
  return &(*p->steps)[*p->steps_len - 1];
}

static kf_rc kh_parse_args(kh_cur *c, kh_arg **args, size_t *args_len) {
  if (kh_expect_char(c, '(', "'('") != KF_OK)
    return KF_ERR_PARSE;
  kh_skip_blanks(c);
  if (c->i < c->len && c->s[c->i] == ')') {
    c->i++;
    return KF_OK;
  }
  for (;;) {
    kh_arg *arg = NULL;
    kf_rc rc = kh_push_at(c, (void **)args, *args_len, sizeof *arg, (void **)&arg);
    if (rc != KF_OK)
      return rc;
    (*args_len)++;
    kh_skip_blanks(c);
    /* A named argument is a word followed by '='. */
    size_t n = kh_peek_word(c);
    size_t after = c->i + n;
    while (after < c->len && kh_is_blank(c->s[after]))
      after++;
    if (n > 0 && kh_is_alpha(c->s[c->i]) && after < c->len && c->s[after] == '=' &&
        !kh_word_is(c->s + c->i, n, "true") && !kh_word_is(c->s + c->i, n, "false")) {
      if ((rc = kh_read_name(c, &arg->name, "an argument name")) != KF_OK)
        return rc;
      if ((rc = kh_expect_char(c, '=', "'='")) != KF_OK)
        return rc;
    }
    if ((rc = kh_read_literal(c, &arg->value, "an argument value")) != KF_OK)
      return rc;
    kh_skip_blanks(c);
    if (c->i < c->len && c->s[c->i] == ',') {
      c->i++;
      continue;
    }
    if (c->i < c->len && c->s[c->i] == ')') {
      c->i++;
      return KF_OK;
    }
    kh_perr(c, c->i, "expected ',' or ')' in the argument list");
    return kh_phint(c, "write for example password(length=12, omit=\"digit\")");
  }
}

static kf_rc kh_parse_let(kh_cur *c, kh_step *step) {
  kh_let *let = &step->u.let;
  kf_rc rc = kh_read_name(c, &let->name, "a variable name after 'let'");
  if (rc != KF_OK)
    return rc;
  if (kh_expect_char(c, '=', "'=' after the variable name") != KF_OK)
    return kh_phint(c, "write 'let NAME = \"value\"' or 'let NAME = email()'");
  kh_skip_blanks(c);
  if (c->i >= c->len) {
    kh_perr(c, c->i, "expected a value after '='");
    return kh_phint(c, "a string, a number, true/false/null or a generator call such as email()");
  }
  size_t n = kh_peek_word(c);
  size_t after = c->i + n;
  while (after < c->len && kh_is_blank(c->s[after]))
    after++;
  if (n > 0 && kh_is_alpha(c->s[c->i]) && after < c->len && c->s[after] == '(') {
    let->is_call = true;
    if ((let->func = kf_strndup(c->s + c->i, n)) == NULL)
      return KF_ERR_NOMEM;
    c->i += n;
    if ((rc = kh_parse_args(c, &let->args, &let->args_len)) != KF_OK)
      return rc;
  } else if ((rc = kh_read_literal(c, &let->value, "a value after '='")) != KF_OK) {
    if (rc == KF_ERR_PARSE && n > 0 && strncmp(c->p->err_msg, "expected a value", 16) == 0)
      kh_phint(c, "a string, a number, true/false/null or a generator call such as %.*s()",
               (int)(n > 40 ? 40 : n), c->s + c->i);
    return rc;
  }
  return kh_expect_end(c, "the value");
}

static kf_rc kh_parse_http(kh_cur *c, kh_step *step, const char *method, size_t mlen) {
  kh_request *req = &step->u.http;
  if ((req->method = kf_strndup(method, mlen)) == NULL)
    return KF_ERR_NOMEM;
  c->i += mlen;
  kh_skip_blanks(c);
  size_t start = c->i;
  kf_rc rc;
  if (c->i < c->len && c->s[c->i] == '"') {
    if ((rc = kh_read_string(c, &req->url)) != KF_OK)
      return rc;
  } else {
    while (c->i < c->len && !kh_is_blank(c->s[c->i]))
      c->i++;
    if ((rc = kh_tpl_set(&req->url, c->s + start, c->i - start)) != KF_OK)
      return rc;
  }
  const char *u = req->url.text;
  if (req->url.len == 0 || !(u[0] == '/' || strncmp(u, "http://", 7) == 0 ||
                             strncmp(u, "https://", 8) == 0 || strncmp(u, "{{", 2) == 0)) {
    kh_perr(c, start, "expected a URL starting with '/' or 'http://'");
    return kh_phint(c, "write '%.*s /api/v1/...' (relative to the target) or a full http:// URL",
                    (int)mlen, method);
  }
  return kh_expect_end(c, "the URL");
}

static kf_rc kh_parse_wait(kh_cur *c, kh_step *step) {
  kh_wait *w = &step->u.wait;
  if (kh_accept_word(c, "mail")) {
    w->what = KH_WAIT_MAIL;
  } else if (kh_accept_word(c, "letter")) {
    w->what = KH_WAIT_LETTER;
  } else {
    kh_perr(c, c->i, "expected 'mail' or 'letter' after 'wait'");
    return kh_phint(c, "write 'wait mail to \"...\"' or 'wait letter customer-number \"...\"'");
  }
  bool mail = w->what == KH_WAIT_MAIL;
  bool within_seen = false;
  while (!kh_at_end(c)) {
    size_t at = c->i;
    size_t n = kh_peek_word(c);
    const char *word = c->s + c->i;
    kh_template *slot = NULL;
    if (kh_word_is(word, n, "within")) {
      if (within_seen)
        return kh_perr(c, at, "'within' given twice");
      within_seen = true;
      c->i += n;
      kf_rc rc = kh_read_duration(c, &w->within_ms, "'within'");
      if (rc != KF_OK)
        return rc;
      continue;
    }
    if (kh_word_is(word, n, "to"))
      slot = &w->to;
    else if (mail && kh_word_is(word, n, "from"))
      slot = &w->from;
    else if (mail && kh_word_is(word, n, "subject"))
      slot = &w->subject;
    else if (!mail && kh_word_is(word, n, "kind"))
      slot = &w->kind;
    else if (!mail && kh_word_is(word, n, "customer-number"))
      slot = &w->customer_number;
    if (slot == NULL) {
      if (n == 0)
        n = 1;
      kh_perr(c, at, "unknown %s filter '%.*s'", mail ? "mail" : "letter", (int)(n > 40 ? 40 : n),
              word);
      if (kh_at_hash(c))
        return kh_hint_comment(c);
      return kh_phint(c, mail ? "mail filters: to, from, subject, within"
                              : "letter filters: customer-number, kind, to, within");
    }
    if (slot->text != NULL)
      return kh_perr(c, at, "filter '%.*s' given twice", (int)n, word);
    c->i += n;
    kf_rc rc = kh_need_string(c, slot, "a value for the filter");
    if (rc != KF_OK)
      return rc;
  }
  /*
   * Scenarios run in parallel against one mailbox and one letter box, so a
   * wait that does not name this scenario's recipient could take another
   * scenario's item.
   */
  size_t end = kf_str_rtrim_len(c->s, c->len);
  if (mail && w->to.text == NULL) {
    kh_perr(c, end, "'wait mail' without a 'to' filter");
    return kh_phint(c, "add to \"{{email}}\" so the wait only sees this scenario's mail");
  }
  if (!mail && w->to.text == NULL && w->customer_number.text == NULL) {
    kh_perr(c, end, "'wait letter' without a 'to' or 'customer-number' filter");
    return kh_phint(c, "add customer-number \"{{kdnr}}\" (or to \"...\") so the wait only sees "
                       "this scenario's letter");
  }
  return KF_OK;
}

static kf_rc kh_check_iso(kh_cur *c, const kh_template *tpl, size_t at) {
  if (memchr(tpl->text, '{', tpl->len) != NULL)
    return KF_OK; /* Known only at run time. */
  int64_t t = 0;
  if (strlen(tpl->text) != tpl->len || kf_time_parse_iso(tpl->text, &t) != KF_OK) {
    kh_perr(c, at, "expected an ISO 8601 time");
    return kh_phint(c, "write for example \"2026-03-28T10:00:00Z\"");
  }
  return KF_OK;
}

static kf_rc kh_parse_clock(kh_cur *c, kh_step *step) {
  kh_clock_step *ck = &step->u.clock;
  kf_rc rc;
  size_t at;
  if (kh_accept_word(c, "create")) {
    ck->op = KH_CLOCK_CREATE;
    if (kh_accept_word(c, "now")) {
      ck->op = KH_CLOCK_CREATE_NOW;
      return kh_expect_end(c, "'now'");
    }
    kh_skip_blanks(c);
    at = c->i;
    if ((rc = kh_need_string(c, &ck->iso, "a time or 'now' after 'clock create'")) != KF_OK)
      return rc;
    if ((rc = kh_check_iso(c, &ck->iso, at)) != KF_OK)
      return rc;
  } else if (kh_accept_word(c, "set")) {
    ck->op = KH_CLOCK_SET;
    kh_skip_blanks(c);
    at = c->i;
    if ((rc = kh_need_string(c, &ck->iso, "a time after 'clock set'")) != KF_OK)
      return rc;
    if ((rc = kh_check_iso(c, &ck->iso, at)) != KF_OK)
      return rc;
  } else if (kh_accept_word(c, "advance")) {
    ck->op = KH_CLOCK_ADVANCE;
    kh_skip_blanks(c);
    at = c->i;
    if ((rc = kh_read_duration(c, &ck->advance_ms, "'clock advance'")) != KF_OK)
      return rc;
    /* The clock API moves a clock by whole seconds; say so now, not at run time. */
    if (ck->advance_ms % 1000 != 0) {
      int64_t lo = ck->advance_ms / 1000;
      kh_perr(c, at, "'%.*s' is not a whole number of seconds",
              (int)(c->i - at > 40 ? 40 : c->i - at), c->s + at);
      return kh_phint(c, "the test clock moves in whole seconds; write %llds or %llds",
                      (long long)lo, (long long)lo + 1);
    }
  } else {
    size_t n = kh_peek_word(c);
    kh_perr(c, c->i, "expected 'create', 'advance' or 'set' after 'clock'");
    static const char *const ops[] = {"create", "advance", "set", NULL};
    if (n > 0)
      return kh_hint_names(c, c->s + c->i, n, ops, "clock operations");
    return kh_phint(c, "write 'clock create \"2026-03-28T10:00:00Z\"' or 'clock advance 24h'");
  }
  return kh_expect_end(c, "the clock step");
}

static kf_rc kh_parse_use(kh_cur *c, kh_step *step) {
  kh_use *use = &step->u.use;
  kh_skip_blanks(c);
  size_t n = kh_peek_word(c);
  if (n == 0) {
    kh_perr(c, c->i, "expected a fragment name after 'use'");
    return kh_phint(c, "write 'use registered-account email=\"{{email}}\"'");
  }
  if ((use->fragment_name = kf_strndup(c->s + c->i, n)) == NULL)
    return KF_ERR_NOMEM;
  c->i += n;
  while (!kh_at_end(c)) {
    kh_arg *arg = NULL;
    kf_rc rc = kh_push_at(c, (void **)&use->args, use->args_len, sizeof *arg, (void **)&arg);
    if (rc != KF_OK)
      return rc;
    use->args_len++;
    if ((rc = kh_read_name(c, &arg->name, "a parameter name")) != KF_OK) {
      if (rc == KF_ERR_PARSE && kh_at_hash(c))
        return kh_hint_comment(c);
      return rc;
    }
    for (size_t k = 0; k + 1 < use->args_len; k++) {
      if (strcmp(use->args[k].name, arg->name) == 0)
        return kh_perr(c, c->i - strlen(arg->name), "parameter '%s' given twice", arg->name);
    }
    if (c->i >= c->len || c->s[c->i] != '=') {
      kh_perr(c, c->i, "expected '=' after the parameter name");
      return kh_phint(c, "write name=\"value\" without blanks around '='");
    }
    c->i++;
    arg->value.kind = KH_LIT_STRING;
    if ((rc = kh_need_string(c, &arg->value.str, "a quoted parameter value")) != KF_OK)
      return rc;
  }
  return KF_OK;
}

/* Header lines: scenario:, covers:, tags:, fragment:, params:. */
static kf_rc kh_split_words(kh_cur *c, char ***words, size_t *len) {
  for (;;) {
    while (c->i < c->len && (kh_is_blank(c->s[c->i]) || c->s[c->i] == ','))
      c->i++;
    if (c->i >= c->len)
      return KF_OK;
    size_t start = c->i;
    /* No ID, tag or parameter starts with '#': it is a comment in the wrong place. */
    if (c->s[start] == '#') {
      kh_perr(c, start, "'#' in a header line");
      return kh_hint_comment(c);
    }
    while (c->i < c->len && !kh_is_blank(c->s[c->i]) && c->s[c->i] != ',')
      c->i++;
    char **slot = NULL;
    kf_rc rc = kh_push_at(c, (void **)words, *len, sizeof *slot, (void **)&slot);
    if (rc != KF_OK)
      return rc;
    if ((*slot = kf_strndup(c->s + start, c->i - start)) == NULL)
      return KF_ERR_NOMEM;
    (*len)++;
  }
}

/* Ends the scenario being read: it must have covered something. */
static kf_rc kh_close_scenario(kh_parser *p) {
  if (!p->in_scenario || p->covers_seen)
    return KF_OK;
  kh_cur c = {p, p->scenario_line, p->scenario_line_len, 0, p->scenario_lineno};
  kh_scenario *sc = &p->file->scenarios[p->file->scenarios_len - 1];
  kh_perr(&c, 0, "scenario '%.100s' has no 'covers:' line", sc->name);
  return kh_phint(
      &c, "add 'covers: <requirement IDs>' right after the scenario line, e.g. 'covers: ACC-06'");
}

static kf_rc kh_parse_header(kh_cur *c, const char *key, size_t keylen) {
  kh_parser *p = c->p;
  kh_file *f = p->file;
  size_t after = keylen + 1;
  c->i = after;
  kh_skip_blanks(c);
  size_t vstart = c->i;
  size_t vlen = kf_str_rtrim_len(c->s + vstart, c->len - vstart);
  kf_rc rc;
  if (kh_word_is(key, keylen, "scenario")) {
    if (f->fragment != NULL) {
      kh_perr(c, 0, "a fragment file cannot hold scenarios");
      return kh_phint(
          c, "move the scenario into its own file; a fragment file holds exactly one fragment");
    }
    if ((rc = kh_close_scenario(p)) != KF_OK)
      return rc;
    if (vlen == 0) {
      kh_perr(c, vstart, "expected a scenario name after 'scenario:'");
      return kh_phint(c, "write 'scenario: <what the scenario shows>'");
    }
    kh_scenario *sc = NULL;
    if ((rc = kh_push_at(c, (void **)&f->scenarios, f->scenarios_len, sizeof *sc, (void **)&sc)) !=
        KF_OK)
      return rc;
    f->scenarios_len++;
    sc->pos.file = f->path;
    sc->pos.line = c->line;
    sc->pos.col = 1;
    if ((sc->name = kf_strndup(c->s + vstart, vlen)) == NULL)
      return KF_ERR_NOMEM;
    p->steps = &sc->steps;
    p->steps_len = &sc->steps_len;
    p->header_only = true;
    p->in_scenario = true;
    p->covers_seen = false;
    p->scenario_line = c->s;
    p->scenario_line_len = c->len;
    p->scenario_lineno = c->line;
    return KF_OK;
  }
  if (kh_word_is(key, keylen, "covers") || kh_word_is(key, keylen, "tags")) {
    bool covers = keylen == 6;
    if (!p->in_scenario) {
      kh_perr(c, 0, "'%.*s:' outside a scenario", (int)keylen, key);
      return kh_phint(c, "put it right after a 'scenario:' line");
    }
    if (!p->header_only) {
      kh_perr(c, 0, "'%.*s:' after the first step", (int)keylen, key);
      return kh_phint(c, "move it up, right after the 'scenario:' line");
    }
    kh_scenario *sc = &f->scenarios[f->scenarios_len - 1];
    size_t before = covers ? sc->covers_len : sc->tags_len;
    rc = covers ? kh_split_words(c, &sc->covers, &sc->covers_len)
                : kh_split_words(c, &sc->tags, &sc->tags_len);
    if (rc != KF_OK)
      return rc;
    if (covers) {
      if (sc->covers_len == before) {
        kh_perr(c, vstart, "expected at least one requirement ID after 'covers:'");
        return kh_phint(c, "write for example 'covers: ACC-06 ACC-08'");
      }
      p->covers_seen = true;
    }
    return KF_OK;
  }
  if (kh_word_is(key, keylen, "fragment")) {
    if (f->scenarios_len > 0 || f->fragment != NULL) {
      kh_perr(c, 0, "'fragment:' in a file that already holds %s",
              f->fragment ? "a fragment" : "scenarios");
      return kh_phint(c, "a fragment file holds exactly one fragment and nothing else");
    }
    size_t n = 0;
    while (n < vlen && (kh_is_word_char(c->s[vstart + n])))
      n++;
    if (n == 0 || n != vlen) {
      kh_perr(c, vstart + n, "expected a fragment name (letters, digits, '-', '_')");
      return kh_phint(c, "write 'fragment: registered-account'");
    }
    if ((f->fragment = kf_calloc(1, sizeof *f->fragment)) == NULL)
      return KF_ERR_NOMEM;
    f->fragment->pos.file = f->path;
    f->fragment->pos.line = c->line;
    f->fragment->pos.col = 1;
    if ((f->fragment->name = kf_strndup(c->s + vstart, n)) == NULL)
      return KF_ERR_NOMEM;
    p->steps = &f->fragment->steps;
    p->steps_len = &f->fragment->steps_len;
    p->header_only = true;
    return KF_OK;
  }
  if (kh_word_is(key, keylen, "params")) {
    if (f->fragment == NULL || !p->header_only) {
      kh_perr(c, 0, "'params:' outside a fragment header");
      return kh_phint(c, "put 'params:' right after the 'fragment:' line");
    }
    size_t before = f->fragment->params_len;
    if ((rc = kh_split_words(c, &f->fragment->params, &f->fragment->params_len)) != KF_OK)
      return rc;
    for (size_t k = before; k < f->fragment->params_len; k++) {
      for (size_t j = 0; j < k; j++) {
        if (strcmp(f->fragment->params[j], f->fragment->params[k]) == 0)
          return kh_perr(c, vstart, "parameter '%.60s' listed twice", f->fragment->params[k]);
      }
    }
    return KF_OK;
  }
  kh_perr(c, 0, "unknown header '%.*s:'", (int)(keylen > 40 ? 40 : keylen), key);
  static const char *const headers[] = {"scenario", "covers", "tags", "fragment", "params", NULL};
  return kh_hint_names(c, key, keylen, headers, "headers");
}

/* A line starting in column 1. */
static kf_rc kh_parse_step_line(kh_cur *c) {
  size_t n = 0;
  while (n < c->len &&
         (kh_is_alpha(c->s[n]) || kh_is_digit(c->s[n]) || c->s[n] == '_' || c->s[n] == '-'))
    n++;
  const char *w = c->s;
  if (n > 0 && n < c->len && c->s[n] == ':')
    return kh_parse_header(c, w, n);
  kh_step *step = NULL;
  kf_rc rc;
  if (kh_word_is(w, n, "let")) {
    if ((rc = kh_new_step(c, KH_STEP_LET, &step)) != KF_OK)
      return rc;
    c->i = n;
    return kh_parse_let(c, step);
  }
  for (size_t k = 0; KH_METHODS[k] != NULL; k++) {
    if (kh_word_is(w, n, KH_METHODS[k])) {
      if ((rc = kh_new_step(c, KH_STEP_HTTP, &step)) != KF_OK)
        return rc;
      return kh_parse_http(c, step, w, n);
    }
  }
  if (kh_word_is(w, n, "wait")) {
    if ((rc = kh_new_step(c, KH_STEP_WAIT, &step)) != KF_OK)
      return rc;
    c->i = n;
    return kh_parse_wait(c, step);
  }
  if (kh_word_is(w, n, "clock")) {
    if ((rc = kh_new_step(c, KH_STEP_CLOCK, &step)) != KF_OK)
      return rc;
    c->i = n;
    return kh_parse_clock(c, step);
  }
  if (kh_word_is(w, n, "use")) {
    if ((rc = kh_new_step(c, KH_STEP_USE, &step)) != KF_OK)
      return rc;
    c->i = n;
    return kh_parse_use(c, step);
  }
  if (kh_word_is(w, n, "expect") || kh_word_is(w, n, "capture")) {
    if ((rc = kh_new_step(c, KH_STEP_CHECK, &step)) != KF_OK)
      return rc;
    c->i = n;
    return kh_parse_check(c, step, n == 7, 0);
  }
  if (n == 0) {
    kh_perr(c, 0, "expected a step");
    return kh_phint(c, "steps start with let, GET, POST, PUT, PATCH, DELETE, HEAD, wait, clock, "
                       "use, expect or capture");
  }
  kh_perr(c, 0, "unknown step '%.*s'", (int)(n > 40 ? 40 : n), w);
  /* Methods are upper case; "get" is a likely slip, closer in intent than "let". */
  const char *near = NULL;
  char up[16];
  if (n < sizeof up) {
    for (size_t k = 0; k < n; k++)
      up[k] = (w[k] >= 'a' && w[k] <= 'z') ? (char)(w[k] - 32) : w[k];
    for (size_t k = 0; KH_METHODS[k] != NULL; k++) {
      if (kh_word_is(up, n, KH_METHODS[k]))
        near = KH_METHODS[k];
    }
  }
  if (near == NULL)
    near = kh_nearest(w, n, KH_STEP_WORDS);
  if (near != NULL)
    return kh_phint(c, "did you mean '%s'?", near);
  return kh_phint(c, "steps start with let, GET, POST, PUT, PATCH, DELETE, HEAD, wait, clock, use, "
                     "expect or capture");
}

/* Reads the next raw line; false at the end of the text. */
static bool kh_next_line(kh_parser *p, const char **s, size_t *len) {
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
static kf_rc kh_read_heredoc(kh_cur *c, const char *term, size_t termlen, size_t at,
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
  while (kh_next_line(p, &s, &len)) {
    size_t b = 0;
    while (b < len && kh_is_blank(s[b]))
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
    kh_perr(c, at, "unterminated heredoc");
    return kh_phint(c, "end it with a line that holds only '%.*s'", (int)termlen, term);
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
    bool ok = kh_next_line(p, &s, &len);
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
  if (rc == KF_OK) {
    size_t n = 0;
    char *text = kf_buf_detach(&b, &n);
    if (text == NULL) {
      rc = KF_ERR_NOMEM;
    } else {
      kf_free(tpl->text);
      tpl->text = text;
      tpl->len = n;
    }
  }
  kf_buf_release(&b);
  if (rc == KF_ERR_LIMIT)
    return kh_perr(c, at, "heredoc too long");
  return rc;
}

/* `json ...` and `body ...` sub-lines. */
static kf_rc kh_parse_body(kh_cur *c, kh_step *step, bool json, size_t kw_at) {
  kh_request *req = &step->u.http;
  if (req->body.text != NULL) {
    kh_perr(c, kw_at, "the request already has a body");
    return kh_phint(c, "a request takes one 'json' or 'body' sub-line");
  }
  req->body_is_json = json;
  kh_skip_blanks(c);
  size_t at = c->i;
  if (c->i + 1 < c->len && c->s[c->i] == '<' && c->s[c->i + 1] == '<') {
    c->i += 2;
    size_t tstart = c->i;
    while (c->i < c->len && ((c->s[c->i] >= 'A' && c->s[c->i] <= 'Z') || c->s[c->i] == '_' ||
                             (c->i > tstart && kh_is_digit(c->s[c->i]))))
      c->i++;
    size_t tlen = c->i - tstart;
    if (tlen == 0) {
      kh_perr(c, tstart, "expected a heredoc terminator after '<<'");
      return kh_phint(c, "write '%s <<END' and end the text with a line holding only END",
                      json ? "json" : "body");
    }
    kf_rc rc = kh_expect_end(c, "the heredoc terminator");
    if (rc != KF_OK)
      return rc;
    /* The terminator points into the text, which outlives the heredoc read. */
    return kh_read_heredoc(c, c->s + tstart, tlen, at, &req->body);
  }
  if (json) {
    size_t n = kf_str_rtrim_len(c->s + c->i, c->len - c->i);
    if (n == 0) {
      kh_perr(c, at, "expected JSON text or '<<END' after 'json'");
      return kh_phint(c, "write 'json {\"a\": 1}' or a heredoc 'json <<END'");
    }
    kf_rc rc = kh_tpl_set(&req->body, c->s + c->i, n);
    c->i = c->len;
    return rc;
  }
  if (c->i >= c->len || c->s[c->i] != '"') {
    kh_perr(c, at, "expected a quoted string or '<<END' after 'body'");
    return kh_phint(c, "write 'body \"text\"' or a heredoc 'body <<END'");
  }
  kf_rc rc = kh_read_string(c, &req->body);
  if (rc != KF_OK)
    return rc;
  return kh_expect_end(c, "the body");
}

static kf_rc kh_parse_header_subline(kh_cur *c, kh_step *step) {
  kh_request *req = &step->u.http;
  kh_skip_blanks(c);
  size_t start = c->i;
  while (c->i < c->len && c->s[c->i] != ':' && !kh_is_blank(c->s[c->i]))
    c->i++;
  size_t nlen = c->i - start;
  if (nlen == 0 || c->i >= c->len || c->s[c->i] != ':') {
    kh_perr(c, nlen == 0 ? start : c->i, "expected 'Name: value' after 'header'");
    return kh_phint(c, "write 'header Accept-Language: de'");
  }
  c->i++;
  kh_skip_blanks(c);
  size_t vlen = kf_str_rtrim_len(c->s + c->i, c->len - c->i);
  kh_header *h = NULL;
  kf_rc rc = kh_push_at(c, (void **)&req->headers, req->headers_len, sizeof *h, (void **)&h);
  if (rc != KF_OK)
    return rc;
  req->headers_len++;
  if ((rc = kh_tpl_set(&h->name, c->s + start, nlen)) != KF_OK)
    return rc;
  if ((rc = kh_tpl_set(&h->value, c->s + c->i, vlen)) != KF_OK)
    return rc;
  c->i = c->len;
  return KF_OK;
}

static kf_rc kh_parse_option(kh_cur *c, kh_step *step) {
  kh_request *req = &step->u.http;
  if (kh_accept_word(c, "no-clock")) {
    req->no_clock = true;
    return kh_expect_end(c, "'no-clock'");
  }
  if (kh_accept_word(c, "timeout")) {
    kf_rc rc = kh_read_duration(c, &req->timeout_ms, "'option timeout'");
    if (rc != KF_OK)
      return rc;
    return kh_expect_end(c, "the timeout");
  }
  size_t n = kh_peek_word(c);
  kh_perr(c, c->i, "unknown option '%.*s'", (int)(n > 40 ? 40 : n), c->s + c->i);
  return kh_phint(c, "options: no-clock, timeout <duration>");
}

/* An indented line: a sub-line of the step above. */
static kf_rc kh_parse_subline(kh_cur *c) {
  kh_parser *p = c->p;
  kh_skip_blanks(c);
  size_t kw_at = c->i;
  size_t n = kh_peek_word(c);
  const char *w = c->s + c->i;
  kh_step *step = kh_current_step(p);
  if (step == NULL) {
    kh_perr(c, kw_at, "an indented line before any step");
    return kh_phint(c, "indented lines continue the step above; start steps in column 1");
  }
  bool http = step->kind == KH_STEP_HTTP;
  bool is_expect = kh_word_is(w, n, "expect");
  if (is_expect || kh_word_is(w, n, "capture")) {
    c->i += n;
    return kh_parse_check(c, step, !is_expect, kw_at);
  }
  bool req_word = kh_word_is(w, n, "header") || kh_word_is(w, n, "json") ||
                  kh_word_is(w, n, "body") || kh_word_is(w, n, "option");
  if (req_word && !http) {
    kh_perr(c, kw_at, "'%.*s' only follows an HTTP request", (int)n, w);
    return kh_phint(c, "put it under a GET/POST/PUT/PATCH/DELETE/HEAD line");
  }
  c->i += n;
  if (kh_word_is(w, n, "header"))
    return kh_parse_header_subline(c, step);
  if (kh_word_is(w, n, "json"))
    return kh_parse_body(c, step, true, kw_at);
  if (kh_word_is(w, n, "body"))
    return kh_parse_body(c, step, false, kw_at);
  if (kh_word_is(w, n, "option"))
    return kh_parse_option(c, step);
  c->i = kw_at;
  if (n == 0)
    n = 1;
  kh_perr(c, kw_at, "unknown sub-line '%.*s'", (int)(n > 40 ? 40 : n), w);
  return kh_hint_names(c, w, n, KH_SUBLINE_WORDS, "sub-lines");
}

/* Positioned check that the source is text we accept: no NUL, valid UTF-8. */
static kf_rc kh_check_encoding(kh_parser *p) {
  const char *s;
  size_t len;
  kf_rc rc = KF_OK;
  while (rc == KF_OK && kh_next_line(p, &s, &len)) {
    kh_cur c = {p, s, len, 0, p->lineno};
    const char *nul = memchr(s, '\0', len);
    if (nul != NULL) {
      rc = kh_perr(&c, (size_t)(nul - s), "NUL byte in the source");
      /* The line shown must not contain the NUL: the diag stores C strings. */
      p->err_src_len = (size_t)(nul - s);
      kh_phint(&c, "write \\x00 inside a string to send a NUL byte");
      break;
    }
    if (!kf_utf8_valid(s, len)) {
      size_t k = 0;
      while (k < len) {
        uint32_t cp;
        size_t used = kf_utf8_decode(s + k, len - k, &cp);
        if (used == 0)
          break;
        k += used;
      }
      rc = kh_perr(&c, k, "invalid UTF-8 in the source");
      p->err_src_len = k;
      kh_phint(&c, "save the file as UTF-8; write \\xNN inside a string for raw bytes");
    }
  }
  p->next = 0;
  p->lineno = 0;
  return rc;
}

static kf_rc kh_parse_all(kh_parser *p) {
  kf_rc rc = kh_check_encoding(p);
  if (rc != KF_OK)
    return rc;
  const char *s;
  size_t len;
  while (kh_next_line(p, &s, &len)) {
    kh_cur c = {p, s, len, 0, p->lineno};
    size_t b = 0;
    while (b < len && kh_is_blank(s[b]))
      b++;
    if (b == len || s[b] == '#')
      continue;
    rc = b == 0 ? kh_parse_step_line(&c) : kh_parse_subline(&c);
    if (rc != KF_OK)
      return rc;
  }
  if ((rc = kh_close_scenario(p)) != KF_OK)
    return rc;
  if (p->file->scenarios_len == 0 && p->file->fragment == NULL) {
    kh_cur c = {p, "", 0, 0, 1};
    kh_perr(&c, 0, "no scenario in the file");
    return kh_phint(&c, "start with 'scenario: <name>' and 'covers: <IDs>', or 'fragment: <name>'");
  }
  return KF_OK;
}

static kf_rc kh_diag_from_parser(const kh_parser *p, const char *path, kh_diag *diag) {
  char *src =
      kf_memdup0(p->err_src != NULL ? p->err_src : "", p->err_src != NULL ? p->err_src_len : 0);
  if (src == NULL)
    return KF_ERR_NOMEM;
  kf_rc rc = kh_diag_set(diag, KH_SEV_ERROR, path, p->err_line, p->err_col, src,
                         p->err_hint[0] != '\0' ? p->err_hint : NULL, "%s", p->err_msg);
  kf_free(src);
  return rc;
}

kf_rc kh_parse_text(const char *path, const char *text, size_t len, kh_file **out, kh_diag *diag) {
  assert(out != NULL && diag != NULL);
  *out = NULL;
  if (path == NULL)
    path = "<input>";
  if (text == NULL)
    len = 0;
  if (len > KH_MAX_FILE_BYTES) {
    if (kh_diag_set(diag, KH_SEV_ERROR, path, 1, 1, NULL, "split the scenarios into several files",
                    "file is larger than %u bytes", KH_MAX_FILE_BYTES) != KF_OK)
      return KF_ERR_NOMEM;
    return KF_ERR_PARSE;
  }
  kh_parser p;
  memset(&p, 0, sizeof p);
  p.text = text != NULL ? text : "";
  p.len = len;
  p.file = kf_calloc(1, sizeof *p.file);
  if (p.file == NULL)
    return KF_ERR_NOMEM;
  if ((p.file->path = kf_strdup(path)) == NULL) {
    kh_file_free(p.file);
    return KF_ERR_NOMEM;
  }
  kf_rc rc = kh_parse_all(&p);
  if (rc == KF_OK) {
    *out = p.file;
    return KF_OK;
  }
  kh_file_free(p.file);
  if (rc == KF_ERR_PARSE && kh_diag_from_parser(&p, path, diag) != KF_OK)
    return KF_ERR_NOMEM;
  if (rc == KF_ERR_LIMIT)
    rc = KF_ERR_NOMEM; /* Only buffer caps return it; treat as out of memory. */
  return rc;
}

kf_rc kh_parse_file(const char *path, kh_file **out, kh_diag *diag) {
  assert(path != NULL && out != NULL && diag != NULL);
  *out = NULL;
  FILE *fp = fopen(path, "rb");
  if (fp == NULL) {
    int e = errno;
    if (kh_diag_set(diag, KH_SEV_ERROR, path, 0, 0, NULL, NULL, "cannot open: %s", strerror(e)) !=
        KF_OK)
      return KF_ERR_NOMEM;
    return KF_ERR_IO;
  }
  kf_buf b;
  kf_buf_init(&b, KH_MAX_FILE_BYTES + 1);
  char chunk[8192];
  kf_rc rc = KF_OK;
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) {
    rc = kf_buf_append(&b, chunk, n);
    if (rc != KF_OK)
      break;
  }
  bool failed = ferror(fp) != 0;
  fclose(fp);
  if (rc == KF_ERR_LIMIT) {
    kf_buf_release(&b);
    if (kh_diag_set(diag, KH_SEV_ERROR, path, 1, 1, NULL, "split the scenarios into several files",
                    "file is larger than %u bytes", KH_MAX_FILE_BYTES) != KF_OK)
      return KF_ERR_NOMEM;
    return KF_ERR_PARSE;
  }
  if (rc != KF_OK) {
    kf_buf_release(&b);
    return rc;
  }
  if (failed) {
    kf_buf_release(&b);
    if (kh_diag_set(diag, KH_SEV_ERROR, path, 0, 0, NULL, NULL, "read error") != KF_OK)
      return KF_ERR_NOMEM;
    return KF_ERR_IO;
  }
  rc = kh_parse_text(path, b.data, b.len, out, diag);
  kf_buf_release(&b);
  return rc;
}
