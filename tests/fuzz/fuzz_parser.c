/*
 * fuzz_parser.c: the scenario parser (harness/src/kh_parse.c with kh_lex.c and
 * kh_expr.c) on a buffer, and the linter over what parses.
 *
 * The input is the text of one scenario or fragment file. A parse error must
 * come with a message and a position inside the text (a line that exists, a
 * column inside the line it shows or just after it), and must render with
 * kh_diag_format. A file that parses is linted as a suite of that one file:
 * its `use` steps stay unresolved, which the linter allows (it then only
 * checks the use line itself), so no file system is needed.
 */
#include <stdlib.h>
#include <string.h>

#include "kf/buf.h"
#include "kh_lint.h"
#include "kh_parse.h"
#include "kz_fuzz.h"

/* The 1-based line count of the text, for checking a diagnostic's position. */
static unsigned kz_lines(const uint8_t *data, size_t size) {
  unsigned n = 1;
  for (size_t i = 0; i < size; i++)
    n += data[i] == '\n';
  return n;
}

static void kz_check_diag(const kh_diag *diag, const uint8_t *data, size_t size) {
  if (diag->message == NULL || diag->line > kz_lines(data, size))
    abort();
  /* The caret goes under a character of the line shown, or just after its end. */
  if (diag->line != 0 && diag->source_line != NULL &&
      (diag->col < 1 || diag->col > kh_char_col(diag->source_line, strlen(diag->source_line))))
    abort();
  kf_buf out;
  kf_buf_init(&out, 1 << 20);
  if (kh_diag_format(diag, &out) != KF_OK || out.len == 0)
    abort();
  kf_buf_release(&out);
}

static void kz_lint(kh_file *file) {
  kh_suite suite;
  kh_suite_init(&suite);
  suite.files = &file;
  suite.files_len = 1;
  kh_lint_report report;
  kh_lint_report_init(&report);
  if (kh_lint_suite(&suite, NULL, &report) != KF_OK)
    abort();
  if (report.errors + report.warnings < report.len)
    abort();
  kf_buf out;
  kf_buf_init(&out, 1 << 20);
  for (size_t i = 0; i < report.len; i++) {
    kf_buf_reset(&out);
    if (kh_diag_format(&report.items[i], &out) != KF_OK)
      abort();
  }
  kf_buf_release(&out);
  kh_lint_report_release(&report);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > KH_MAX_FILE_BYTES)
    return 0;
  kh_file *file = NULL;
  kh_diag diag;
  kh_diag_init(&diag);
  kf_rc rc = kh_parse_text("fuzz.konform", (const char *)data, size, &file, &diag);
  if (rc == KF_OK) {
    if (file == NULL)
      abort();
    kz_lint(file);
    kh_file_free(file);
  } else if (rc == KF_ERR_PARSE) {
    if (file != NULL)
      abort();
    kz_check_diag(&diag, data, size);
  } else {
    abort(); /* Nothing here runs out of memory. */
  }
  kh_diag_release(&diag);
  return 0;
}
