/*
 * kh_parse.h: the scenario parser. Pure: text in, AST or diagnostic out; it
 * knows no network. Diagnostics are kh_diag (kh_diag.h).
 */
#ifndef KH_PARSE_H
#define KH_PARSE_H

#include <stddef.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "kh_ast.h"
#include "kh_diag.h"
#include "kh_intern.h"

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

/*
 * The same, with the file's strings in strings (kh_intern.h), which the file
 * then holds a reference to: a suite shares one table among its files so
 * that a string repeated across them is stored once. strings NULL: a table
 * of the file's own, as kh_parse_text and kh_parse_file make.
 */
kf_rc kh_parse_text_in(const char *path, const char *text, size_t len, kh_intern *strings,
                       kh_file **out, kh_diag *diag);
kf_rc kh_parse_file_in(const char *path, kh_intern *strings, kh_file **out, kh_diag *diag);

#endif
