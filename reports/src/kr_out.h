/*
 * kr_out.h: console text laid out within KR_CONSOLE_WIDTH columns. Private to
 * reports/src.
 *
 * Every character the console prints goes through one kr_out, which knows
 * the column it is at: text is cleaned for a terminal (kr_text_clean_to),
 * long lines wrap at a blank onto a continuation line that starts under the
 * text of the line it continues (two further in) or at the margin, whichever
 * is further; a word longer than a line fills the line it starts on and goes
 * on on the next. Names are cut with "…", and colours never count as
 * columns. A column is a character (a UTF-8 code point), not a byte. Blanks
 * are only written when text follows them on the line, so no line ends in
 * blanks and empty lines stay empty.
 *
 * Ownership: a kr_out borrows its stream; it allocates nothing. Stream errors
 * are left in ferror(fp): a report line that cannot be printed is no reason
 * to fail a run.
 */
#ifndef KR_OUT_H
#define KR_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "kf/run_result.h"

/* A word longer than a line is split; this holds one line of it, 4 bytes a character. */
#define KR_OUT_WORD_MAX (4 * 128)

typedef struct kr_out {
  FILE *fp;
  bool color;
  size_t width;  /* KR_CONSOLE_WIDTH. */
  size_t col;    /* Characters written on the current line. */
  size_t blanks; /* Blanks owed before the next character on this line. */
  bool text;     /* Whether the current line holds more than blanks. */
  size_t indent; /* Blanks that start a line after a '\n' inside a text. */
  size_t cont;   /* Blanks that start a line a wrap made, at least. */
  size_t hang;   /* Column of the text of the last line not made by a wrap, plus 2. */
  char word[KR_OUT_WORD_MAX];
  size_t word_len;  /* Bytes in word. */
  size_t word_cols; /* Characters in word. */
} kr_out;

void kr_out_init(kr_out *o, FILE *fp, bool color);

/*
 * The blanks that start the lines of the texts to come: indent after a '\n'
 * of the text, cont after a wrap. Both stay until set again.
 */
void kr_out_margins(kr_out *o, size_t indent, size_t cont);

/* Write the len bytes at s (any bytes), cleaned for a terminal and wrapped. */
void kr_out_textn(kr_out *o, const char *s, size_t len);
/* kr_out_textn for a NUL-terminated s; NULL writes nothing. */
void kr_out_text(kr_out *o, const char *s);
/* A short formatted text (at most 255 bytes), written as kr_out_text. */
void kr_out_printf(kr_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Write s on the current line in at most max characters: whole when it fits,
 * otherwise its first max - 1 characters and "…". Line breaks and tabs in s
 * become blanks. NULL writes nothing.
 */
void kr_out_cut(kr_out *o, const char *s, size_t max);

/* Owe n blanks (written only when text follows on this line). */
void kr_out_blanks(kr_out *o, size_t n);
/* Owe the blanks that bring the current line to column col (none when past it). */
void kr_out_pad_to(kr_out *o, size_t col);
/* Characters still free on the current line after what is written and owed. */
size_t kr_out_room(kr_out *o);

/* End the current line (always writes '\n'). */
void kr_out_nl(kr_out *o);
/* End the current line unless nothing is on it yet. */
void kr_out_end_line(kr_out *o);
/* An empty line, then title (bold when colour is on) on its own line. */
void kr_out_heading(kr_out *o, const char *title);

/* A scenario, step or assert outcome ("PASS", "FAIL", ...), coloured, padded to pad. */
void kr_out_status(kr_out *o, kf_status s, size_t pad);
/* A requirement verdict ("pass", "FAIL", "not checked"), coloured, padded to pad. */
void kr_out_req_status(kr_out *o, kf_req_status s, size_t pad);

/* The characters s takes on the console, cleaned as kr_out_text cleans it. */
size_t kr_out_cols(const char *s);

#endif
