/*
 * kh_parse.h: the scenario parser. Pure: text in, AST or diagnostic out.
 */
#ifndef KH_PARSE_H
#define KH_PARSE_H

#include <stddef.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "kh_ast.h"

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
} kh_diag;

void kh_diag_init(kh_diag *diag);
void kh_diag_release(kh_diag *diag);
/* Render "file:line:col: error: message\n  line\n  ^\nhint: ...\n" into out. */
kf_rc kh_diag_format(const kh_diag *diag, kf_buf *out);
/*
 * Fill diag (released first) with copies of the given parts; file, source_line
 * and hint may be NULL, line 0 means "the whole file". KF_ERR_NOMEM leaves diag
 * released. Used by the suite loader and the linter.
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

/* Maximum size of one scenario file. */
#define KH_MAX_FILE_BYTES (4u * 1024u * 1024u)

/*
 * Parse text (len bytes, need not be NUL-terminated) named path. On success
 * *out is a new kh_file (caller frees with kh_file_free). On KF_ERR_PARSE the
 * diagnostic is in *diag; on KF_ERR_NOMEM nothing is allocated.
 */
kf_rc kh_parse_text(const char *path, const char *text, size_t len, kh_file **out, kh_diag *diag);
/* Read and parse a file; KF_ERR_IO (with diag) if it cannot be read. */
kf_rc kh_parse_file(const char *path, kh_file **out, kh_diag *diag);

#endif
