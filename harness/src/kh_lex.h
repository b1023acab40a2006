/*
 * kh_lex.h: the lexer of the scenario language, shared by the statement
 * parser (kh_parse.c), the expression parser (kh_expr.c) and the parse
 * functions of the step kinds (kh_step_*.c).
 *
 * The language is line-oriented: the parser walks the text line by line and
 * reads each line with a kh_cur. Errors are recorded in the kh_parser with
 * their position, kind and hint in fixed buffers, so that reporting a parse
 * error needs no memory mid-parse; every error function returns
 * KF_ERR_PARSE so callers can write `return kh_cur_error(...)`.
 *
 * Arrays in the tree grow with kh_cur_push, which hands out a zeroed slot
 * that the caller counts at once, so the tree stays consistent for
 * kh_file_free whatever happens next. Strings of the tree (every template,
 * and what the generic nodes hold) go into the parser's string table
 * (kh_intern.h) and are never freed by the nodes.
 */
#ifndef KH_LEX_H
#define KH_LEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kf/error.h"
#include "kh_ast.h"
#include "kh_diag.h"
#include "kh_intern.h"
#include "kh_parse.h"

/* Arrays in the tree never hold more than this many items. */
#define KH_PARSE_MAX_ITEMS (1u << 20)
#define KH_PARSE_MSG_MAX 256
#define KH_PARSE_HINT_MAX 512

/* The parser's state: the text, where it is, the tree being built, the error. */
typedef struct kh_parser {
  const char *text;
  size_t len;
  size_t next;     /* Offset of the next unread line. */
  unsigned lineno; /* Number of the line last read. */
  kh_file *file;
  kh_intern *strings; /* The file's string table (file->strings). */
  kh_step **steps;    /* The step array of the current scenario or fragment. */
  size_t *steps_len;
  bool header_only; /* Inside a scenario or fragment, before its first step. */
  /* The scenario being read, to check its covers: when it ends. */
  bool in_scenario;
  bool covers_seen;
  const char *scenario_line;
  size_t scenario_line_len;
  unsigned scenario_lineno;
  /* The error, once one happened. */
  kh_diag_kind err_kind;
  unsigned err_line;
  unsigned err_col;
  const char *err_src;
  size_t err_src_len;
  char err_msg[KH_PARSE_MSG_MAX];
  char err_hint[KH_PARSE_HINT_MAX];
} kh_parser;

/* A cursor over one line (s, len bytes, not NUL-terminated); i is the read offset. */
typedef struct kh_cur {
  kh_parser *p;
  const char *s;
  size_t len;
  size_t i;
  unsigned line;
} kh_cur;

/* ---- Errors: each records at byte offset `at` of the line and returns KF_ERR_PARSE. ---- */

/* A syntax error (kind KH_DIAG_SYNTAX, no default hint). */
kf_rc kh_cur_error(kh_cur *c, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An error of a given kind; the kind's default hint is set (kh_cur_hint replaces it). */
kf_rc kh_cur_error_kind(kh_cur *c, size_t at, kh_diag_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Set the hint of the error just recorded. */
kf_rc kh_cur_hint(kh_cur *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hint "did you mean 'x'?" from names (NULL-terminated), else "valid <what>: a, b, c". */
kf_rc kh_cur_hint_names(kh_cur *c, const char *w, size_t wlen, const char *const *names,
                        const char *what);
/* The hint for a trailing comment, which the language does not have. */
kf_rc kh_cur_hint_comment(kh_cur *c);

/* ---- Characters and words. ---- */
bool kh_lex_is_blank(char ch);
bool kh_lex_is_alpha(char ch);
bool kh_lex_is_digit(char ch);
/* Letters, digits, _ . - */
bool kh_lex_is_word_char(char ch);
/* An optional '-' and at least one digit, nothing else (the rule of typed comparisons). */
bool kh_lex_is_whole_int(const char *s, size_t len);
bool kh_lex_word_is(const char *w, size_t wlen, const char *lit);

/* ---- The tree. ---- */
/*
 * Append a zeroed element to arr (len elements of elem bytes); KF_ERR_LIMIT
 * past the cap. The capacity is implied by len: 1, 2, 4, 8, ... so that the
 * many arrays of one or two items the tree holds for the whole run waste
 * nothing.
 */
kf_rc kh_lex_push(void **arr, size_t len, size_t elem, void **slot);
/* kh_lex_push that turns the item cap into a parse error at the cursor. */
kf_rc kh_cur_push(kh_cur *c, void **arr, size_t len, size_t elem, void **slot);
/* The string table's copy of len bytes at s, into *out (the table's caps are parse errors). */
kf_rc kh_cur_intern(kh_cur *c, const char *s, size_t len, const char **out);
/* Set tpl to the string table's copy of len bytes at s. */
kf_rc kh_cur_tpl_set(kh_cur *c, kh_template *tpl, const char *s, size_t len);

/* ---- Reading the line. ---- */
void kh_cur_skip_blanks(kh_cur *c);
/* Whether only blanks are left (skips them). */
bool kh_cur_at_end(kh_cur *c);
/* The length of the word at the cursor (letters, digits, _ . -), not consumed. */
size_t kh_cur_peek_word(kh_cur *c);
/* Whether the next word is lit; consumes it if so. */
bool kh_cur_accept_word(kh_cur *c, const char *lit);
/* Whether the cursor is at what looks like a trailing comment. */
bool kh_cur_at_hash(kh_cur *c);
/* Nothing but blanks may follow; after names what came last, for the message. */
kf_rc kh_cur_expect_end(kh_cur *c, const char *after);
/* The character ch must come next (after blanks); what names it for the message. */
kf_rc kh_cur_expect_char(kh_cur *c, char ch, const char *what);

/* ---- Tokens. ---- */
/* A double-quoted string with escapes into tpl; the cursor is at the quote. */
kf_rc kh_cur_read_string(kh_cur *c, kh_template *tpl);
/* A quoted string that must be there; what names it for the message. */
kf_rc kh_cur_need_string(kh_cur *c, kh_template *tpl, const char *what);
/* A name: letter or _ first, then letters, digits, _ (into *out: the string table's copy). */
kf_rc kh_cur_read_name(kh_cur *c, const char **out, const char *what);
/* A decimal integer with optional sign. */
kf_rc kh_cur_read_number(kh_cur *c, long long *out);
/* Whether a literal starts at the cursor. */
bool kh_cur_literal_starts(kh_cur *c);
/* A string, number, true, false or null. */
kf_rc kh_cur_read_literal(kh_cur *c, kh_literal *lit, const char *what);
/* A duration word such as 24h1s, in milliseconds. */
kf_rc kh_cur_read_duration(kh_cur *c, int64_t *ms, const char *what);

/* ---- Lines. ---- */
/* Read the next raw line (CR before LF dropped); false at the end of the text. */
bool kh_parser_next_line(kh_parser *p, const char **s, size_t *len);
/*
 * A heredoc body after `<<TERM` (term, termlen): the lines up to the one
 * holding only the terminator, their common indentation removed, into tpl.
 * at is the offset of "<<" for errors.
 */
kf_rc kh_cur_read_heredoc(kh_cur *c, const char *term, size_t termlen, size_t at, kh_template *tpl);

#endif
