/*
 * kh_diag.h: diagnostics of the parser, the suite loader and the linter.
 *
 * A diagnostic carries a kind (KH_DIAG_KINDS below) besides its message, so
 * code that refines a hint asks what went wrong by kind, never by matching
 * the message text; a kind's default hint is in the same table row.
 */
#ifndef KH_DIAG_H
#define KH_DIAG_H

#include <stddef.h>

#include "kf/buf.h"
#include "kf/error.h"

/* Kind, default hint (NULL: the reporting code always says more). */
#define KH_DIAG_KINDS(X)                                                                           \
  X(NONE, NULL)                                                                                    \
  X(SYNTAX, NULL)                                                                                  \
  X(ENCODING, "save the file as UTF-8; write \\xNN inside a string for raw bytes")                 \
  X(UNTERMINATED, NULL)                                                                            \
  X(BAD_ESCAPE, "valid escapes: \\\" \\\\ \\n \\r \\t \\xNN \\u{XXXX}")                            \
  X(EXPECTED_STRING, "put the value in double quotes")                                             \
  X(EXPECTED_NAME, "names start with a letter or '_' and hold letters, digits and '_'")            \
  X(EXPECTED_NUMBER, "numbers are decimal integers such as 42 or -1")                              \
  X(EXPECTED_VALUE, "values are \"quoted strings\", decimal integers, true, false or null")        \
  X(EXPECTED_DURATION, "write a duration such as 10s, 24h or 1d2h3m4s")                            \
  X(EXPECTED_TOKEN, NULL)                                                                          \
  X(UNKNOWN_WORD, NULL)                                                                            \
  X(TRAILING_TEXT, "remove it, or quote a value that contains blanks")                             \
  X(MISPLACED_COMMENT,                                                                             \
    "a comment is a whole line: put it on a line of its own that starts with '#'")                 \
  X(STRUCTURE, NULL)                                                                               \
  X(DUPLICATE, NULL)                                                                               \
  X(LIMIT, NULL)                                                                                   \
  X(FILE, NULL)                                                                                    \
  X(SUITE, NULL)                                                                                   \
  X(LINT, NULL)

typedef enum kh_diag_kind {
#define KH_DIAG_KIND_ENUM(name, hint) KH_DIAG_##name,
  KH_DIAG_KINDS(KH_DIAG_KIND_ENUM)
#undef KH_DIAG_KIND_ENUM
} kh_diag_kind;

/* "SYNTAX", "UNKNOWN_WORD", ... */
const char *kh_diag_kind_name(kh_diag_kind kind);
/* The kind's default hint, or NULL. */
const char *kh_diag_kind_hint(kh_diag_kind kind);

/* How bad a diagnostic is; parse errors are always KH_SEV_ERROR. */
typedef enum kh_severity { KH_SEV_ERROR = 0, KH_SEV_WARNING } kh_severity;

/* A parse or lint diagnostic. All strings owned; release with kh_diag_release. */
typedef struct kh_diag {
  char *file;
  unsigned line;
  unsigned col;         /* 1-based, in characters (code points), not bytes. */
  char *message;        /* "expected a predicate after the query". */
  char *hint;           /* "write 'expect status == 200'", or NULL. */
  char *source_line;    /* The offending line, or NULL. */
  kh_severity severity; /* KH_SEV_ERROR unless a lint check says otherwise. */
  kh_diag_kind kind;    /* What went wrong, for code that reacts to it. */
} kh_diag;

void kh_diag_init(kh_diag *diag);
void kh_diag_release(kh_diag *diag);
/* Render "file:line:col: error: message\n  line\n  ^\nhint: ...\n" into out. */
kf_rc kh_diag_format(const kh_diag *diag, kf_buf *out);
/*
 * Fill diag (released first) with copies of the given parts; file, source_line
 * and hint may be NULL, line 0 means "the whole file". KF_ERR_NOMEM leaves diag
 * released. The kind is KH_DIAG_SYNTAX; set diag->kind after it when another fits.
 */
kf_rc kh_diag_set(kh_diag *diag, kh_severity severity, const char *file, unsigned line,
                  unsigned col, const char *source_line, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

/*
 * The 1-based column, in characters (UTF-8 code points), of byte offset bytes
 * of line. Diagnostics report columns this way so carets line up under text
 * with umlauts.
 */
unsigned kh_char_col(const char *line, size_t bytes);

#endif
