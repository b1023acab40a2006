/*
 * kh_parse.h: the scenario parser. Pure: text in, AST or diagnostic out.
 */
#ifndef KH_PARSE_H
#define KH_PARSE_H

#include <stddef.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "kh_ast.h"

/* A parse or lint diagnostic. All strings owned; release with kh_diag_release. */
typedef struct kh_diag {
  char *file;
  unsigned line;
  unsigned col;
  char *message;     /* "expected a predicate after the query". */
  char *hint;        /* "write 'expect status == 200'", or NULL. */
  char *source_line; /* The offending line, or NULL. */
} kh_diag;

void kh_diag_init(kh_diag *diag);
void kh_diag_release(kh_diag *diag);
/* Render "file:line:col: error: message\n  line\n  ^\nhint: ...\n" into out. */
kf_rc kh_diag_format(const kh_diag *diag, kf_buf *out);

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
