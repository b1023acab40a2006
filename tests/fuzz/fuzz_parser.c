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
 *
 * Then the same text is parsed and linted again with one allocation made to
 * fail (kf/alloc.h): which one, and whether memory stays short from then on,
 * comes from the input's last byte and length, so a finding replays. Out of
 * memory must come back as KF_ERR_NOMEM, never as a parse error in a text
 * that parses, and must leak nothing (libFuzzer's leak check sees that).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kf/alloc.h"
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

/* Lint file as a one-file suite into report (initialised here; the caller releases it). */
static kf_rc kz_lint_run(kh_file *file, kh_lint_report *report) {
  kh_suite suite;
  kh_suite_init(&suite);
  suite.files = &file;
  suite.files_len = 1;
  kh_lint_report_init(report);
  return kh_lint_suite(&suite, NULL, report);
}

static void kz_lint(kh_file *file) {
  kh_lint_report report;
  if (kz_lint_run(file, &report) != KF_OK)
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

/* Parse and lint with the n-th allocation failing; parsed says how the normal run ended. */
static void kz_short_of_memory(const uint8_t *data, size_t size, unsigned long n, bool persistent,
                               kf_rc parsed) {
  if (persistent)
    kf_alloc_fail_from(n);
  else
    kf_alloc_fail_at(n);
  kh_file *file = NULL;
  kh_diag diag;
  kh_diag_init(&diag);
  kf_rc rc = kh_parse_text("fuzz.konform", (const char *)data, size, &file, &diag);
  if ((rc == KF_OK) != (file != NULL))
    abort();
  if (rc != KF_OK && rc != KF_ERR_NOMEM && rc != parsed) {
    /* Short memory turned into a different verdict. */
    fprintf(stderr, "fuzz_parser: allocation %lu%s failing: rc %d (%s:%u:%u %s), without: rc %d\n",
            n, persistent ? " and later" : "", (int)rc, diag.file ? diag.file : "-", diag.line,
            diag.col, diag.message ? diag.message : "-", (int)parsed);
    abort();
  }
  if (rc == KF_OK) {
    kh_lint_report report;
    kf_rc lint = kz_lint_run(file, &report);
    if (lint != KF_OK && lint != KF_ERR_NOMEM)
      abort();
    kh_lint_report_release(&report);
    kh_file_free(file);
  }
  kh_diag_release(&diag);
  kf_alloc_fail_at(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > KH_MAX_FILE_BYTES)
    return 0;
  /* Injection off, and the allocation count starts from zero. */
  kf_alloc_fail_at(0);
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
  unsigned long allocs = kf_alloc_count();
  if (allocs > 0 && size > 0) {
    unsigned long n = 1 + ((unsigned long)data[size - 1] * 131u + size) % allocs;
    kz_short_of_memory(data, size, n, size % 2 == 0, rc);
  }
  return 0;
}
