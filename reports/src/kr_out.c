/*
 * kr_out.c: the console's one writer (see kr_out.h). Cleaned text arrives
 * byte by byte; the bytes since the last blank form the pending word, which
 * is written once its end is known, on this line if it fits and after a
 * wrap otherwise. Blanks are owed, not written, until text follows them.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kf/error.h"
#include "kf/run_result.h"
#include "kr/report.h"
#include "kr_out.h"
#include "kr_priv.h"

#define KR_ANSI_RESET "\033[0m"
#define KR_ANSI_BOLD "\033[1m"
#define KR_ANSI_GREEN "\033[32m"
#define KR_ANSI_RED "\033[1;31m"
#define KR_ANSI_MAGENTA "\033[1;35m"
#define KR_ANSI_YELLOW "\033[33m"

/* How an outcome looks on the console: its word and its colour. */
typedef struct kr_look {
  const char *word;
  const char *color;
} kr_look;

/* Scenarios, steps and asserts alike, indexed by kf_status (KF_STATUSES). */
static const kr_look kr_status_looks[] = {
    [KF_STATUS_PASS] = {"PASS", KR_ANSI_GREEN},
    [KF_STATUS_FAIL] = {"FAIL", KR_ANSI_RED},
    [KF_STATUS_ERROR] = {"ERROR", KR_ANSI_MAGENTA},
    [KF_STATUS_SKIP] = {"SKIP", KR_ANSI_YELLOW},
};
_Static_assert(sizeof kr_status_looks / sizeof kr_status_looks[0] == KR_STATUS_COUNT,
               "every kf_status has a console look");

/* Requirement verdicts, indexed by kf_req_status (KF_REQ_STATUSES). */
static const kr_look kr_req_looks[] = {
    [KF_REQ_PASS] = {"pass", KR_ANSI_GREEN},
    [KF_REQ_FAIL] = {"FAIL", KR_ANSI_RED},
    [KF_REQ_NOT_CHECKED] = {"not checked", KR_ANSI_YELLOW},
};
_Static_assert(sizeof kr_req_looks / sizeof kr_req_looks[0] == KR_REQ_STATUS_COUNT,
               "every kf_req_status has a console look");

static const kr_look kr_unknown_look = {"?", ""};

void kr_out_init(kr_out *o, FILE *fp, bool color) {
  assert(fp != NULL);
  memset(o, 0, sizeof *o);
  o->fp = fp;
  o->color = color;
  o->width = KR_CONSOLE_WIDTH;
}

void kr_out_margins(kr_out *o, size_t indent, size_t cont) {
  /* A margin wider than half a line would leave too little room for text. */
  size_t half = o->width / 2;
  o->indent = indent < half ? indent : half;
  o->cont = cont < half ? cont : half;
}

static void kr_out_write_blanks(kr_out *o, size_t n) {
  static const char blanks[] = "                                ";
  while (n > 0) {
    size_t k = n < sizeof blanks - 1 ? n : sizeof blanks - 1;
    (void)fwrite(blanks, 1, k, o->fp);
    n -= k;
  }
}

/* End the line; the next one starts with blanks owed. */
static void kr_out_break(kr_out *o, size_t blanks) {
  (void)fputc('\n', o->fp);
  o->col = 0;
  o->text = false;
  o->blanks = blanks;
  o->hang = 0;
}

/* Where a wrapped line starts: under the text it continues, or at the margin. */
static size_t kr_out_cont(const kr_out *o) {
  size_t cont = o->hang > o->cont ? o->hang : o->cont;
  return cont < o->width / 2 ? cont : o->width / 2;
}

/* Wrap: a new line that continues this one. */
static void kr_out_wrap(kr_out *o) {
  size_t hang = o->hang;
  kr_out_break(o, kr_out_cont(o));
  o->hang = hang;
}

/* Write the owed blanks before the first of cols characters; the first text fixes the hang. */
static void kr_out_place(kr_out *o, size_t cols) {
  /* Blanks that would push even the line's first text past the edge are dropped. */
  if (o->col + o->blanks + cols > o->width)
    o->blanks = o->width > o->col + cols ? o->width - o->col - cols : 0;
  kr_out_write_blanks(o, o->blanks);
  o->col += o->blanks;
  o->blanks = 0;
  if (!o->text && o->hang == 0)
    o->hang = o->col + 2;
}

/* Get ready to write cols characters: wrap if they do not fit beside the line's text. */
static void kr_out_make_room(kr_out *o, size_t cols) {
  if (o->text && o->col + o->blanks + cols > o->width)
    kr_out_wrap(o);
  kr_out_place(o, cols);
}

/* Write the pending word. */
static void kr_out_flush(kr_out *o) {
  if (o->word_len == 0)
    return;
  kr_out_make_room(o, o->word_cols);
  (void)fwrite(o->word, 1, o->word_len, o->fp);
  o->col += o->word_cols;
  o->text = true;
  o->word_len = 0;
  o->word_cols = 0;
}

/* Characters free on this line after what is written and owed. */
static size_t kr_out_here(const kr_out *o) {
  size_t used = o->col + o->blanks;
  return o->width > used ? o->width - used : 0;
}

/*
 * How many characters the pending word may hold before it is known to be
 * longer than it can be anywhere: the room here, or on a wrapped line.
 */
static size_t kr_out_word_limit(const kr_out *o) {
  size_t fresh = o->width - kr_out_cont(o);
  size_t limit = kr_out_here(o);
  if (o->text && fresh > limit)
    limit = fresh;
  if (limit == 0)
    limit = 1;
  return limit < KR_OUT_WORD_MAX / 4 ? limit : KR_OUT_WORD_MAX / 4;
}

/* A split is worth it only where this much of the word still fits beside the line's text. */
#define KR_OUT_SPLIT_MIN 8

/* The pending word is longer than any line: fill this one with its start, keep the rest. */
static void kr_out_spill(kr_out *o) {
  size_t here = kr_out_here(o);
  if (!o->text || here < KR_OUT_SPLIT_MIN || here >= o->word_cols) {
    kr_out_flush(o);
    return;
  }
  size_t cut = 0;
  for (size_t chars = 0; cut < o->word_len; cut++) {
    if (((unsigned char)o->word[cut] & 0xC0u) != 0x80u && chars++ == here)
      break;
  }
  kr_out_place(o, here);
  (void)fwrite(o->word, 1, cut, o->fp);
  memmove(o->word, o->word + cut, o->word_len - cut);
  o->word_len -= cut;
  o->word_cols -= here;
  kr_out_wrap(o);
}

static void kr_out_byte(kr_out *o, char c) {
  if (c == '\n') {
    kr_out_flush(o);
    kr_out_break(o, o->indent);
    return;
  }
  if (c == ' ' || c == '\t') {
    kr_out_flush(o);
    o->blanks += c == ' ' ? 1 : 8 - (o->col + o->blanks) % 8;
    return;
  }
  if (((unsigned char)c & 0xC0u) != 0x80u) {
    if (o->word_cols >= kr_out_word_limit(o))
      kr_out_spill(o);
    o->word_cols++;
  }
  /* At most KR_OUT_WORD_MAX / 4 characters of at most 4 bytes each. */
  assert(o->word_len < sizeof o->word);
  if (o->word_len < sizeof o->word)
    o->word[o->word_len++] = c;
}

/* kr_sink_fn: cleaned text into the layout. */
static kf_rc kr_out_sink(void *ctx, const char *data, size_t len) {
  kr_out *o = ctx;
  for (size_t i = 0; i < len; i++)
    kr_out_byte(o, data[i]);
  return ferror(o->fp) ? KF_ERR_IO : KF_OK;
}

void kr_out_textn(kr_out *o, const char *s, size_t len) {
  /* A stream error has nowhere better to go; ferror keeps it. */
  (void)kr_text_clean_to(s, len, KR_CLEAN_TERMINAL, kr_out_sink, o);
}

void kr_out_text(kr_out *o, const char *s) {
  if (s != NULL)
    kr_out_textn(o, s, strlen(s));
}

void kr_out_printf(kr_out *o, const char *fmt, ...) {
  char text[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  /* The callers' texts are numbers and short words; a longer one would only be cut. */
  if (n >= 0)
    kr_out_text(o, text);
}

/* What kr_out_cut writes through, and how many characters it may still write. */
typedef struct kr_out_budget {
  kr_out *o;
  size_t left;
} kr_out_budget;

/* kr_sink_fn: one line of at most left characters; stops the cleaning when they are used. */
static kf_rc kr_out_cut_sink(void *ctx, const char *data, size_t len) {
  kr_out_budget *b = ctx;
  for (size_t i = 0; i < len; i++) {
    if (((unsigned char)data[i] & 0xC0u) != 0x80u) {
      if (b->left == 0)
        return KF_ERR_LIMIT;
      b->left--;
    }
    kr_out_byte(b->o, data[i] == '\n' || data[i] == '\t' ? ' ' : data[i]);
  }
  return KF_OK;
}

/* kr_sink_fn: count the characters. */
static kf_rc kr_out_count_sink(void *ctx, const char *data, size_t len) {
  size_t *n = ctx;
  for (size_t i = 0; i < len; i++)
    *n += ((unsigned char)data[i] & 0xC0u) != 0x80u;
  return KF_OK;
}

size_t kr_out_cols(const char *s) {
  size_t n = 0;
  if (s != NULL)
    (void)kr_text_clean_to(s, strlen(s), KR_CLEAN_TERMINAL, kr_out_count_sink, &n);
  return n;
}

void kr_out_cut(kr_out *o, const char *s, size_t max) {
  if (s == NULL || max == 0)
    return;
  bool cut = kr_out_cols(s) > max;
  kr_out_budget b = {.o = o, .left = cut ? max - 1 : max};
  /* KF_ERR_LIMIT is the budget running out, which is the point. */
  (void)kr_text_clean_to(s, strlen(s), KR_CLEAN_TERMINAL, kr_out_cut_sink, &b);
  if (cut)
    kr_out_text(o, "…");
}

void kr_out_blanks(kr_out *o, size_t n) {
  kr_out_flush(o);
  o->blanks += n;
}

void kr_out_pad_to(kr_out *o, size_t col) {
  kr_out_flush(o);
  if (o->col + o->blanks < col)
    o->blanks = col - o->col;
}

size_t kr_out_room(kr_out *o) {
  kr_out_flush(o);
  size_t used = o->col + o->blanks;
  return o->width > used ? o->width - used : 0;
}

void kr_out_nl(kr_out *o) {
  kr_out_flush(o);
  kr_out_break(o, 0);
}

void kr_out_end_line(kr_out *o) {
  kr_out_flush(o);
  if (o->text)
    kr_out_break(o, 0);
  o->blanks = 0;
}

/* Write word in colour (when on), padded with owed blanks to pad characters. */
static void kr_out_word(kr_out *o, const char *word, const char *color, size_t pad) {
  kr_out_flush(o);
  size_t cols = kr_out_cols(word);
  kr_out_make_room(o, cols);
  bool use = o->color && color[0] != '\0';
  if (use)
    (void)fputs(color, o->fp);
  (void)fputs(word, o->fp);
  if (use)
    (void)fputs(KR_ANSI_RESET, o->fp);
  o->col += cols;
  o->text = true;
  if (pad > cols)
    o->blanks += pad - cols;
}

void kr_out_heading(kr_out *o, const char *title) {
  kr_out_end_line(o);
  kr_out_nl(o);
  kr_out_word(o, title, KR_ANSI_BOLD, 0);
  kr_out_nl(o);
}

void kr_out_status(kr_out *o, kf_status s, size_t pad) {
  const kr_look *look = (size_t)s < KR_STATUS_COUNT ? &kr_status_looks[s] : &kr_unknown_look;
  kr_out_word(o, look->word, look->color, pad);
}

void kr_out_req_status(kr_out *o, kf_req_status s, size_t pad) {
  const kr_look *look = (size_t)s < KR_REQ_STATUS_COUNT ? &kr_req_looks[s] : &kr_unknown_look;
  kr_out_word(o, look->word, look->color, pad);
}
