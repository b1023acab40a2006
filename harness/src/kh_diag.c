/*
 * kh_diag.c: diagnostics: their kinds, storage and rendering (see kh_diag.h).
 */
#include "kh_diag.h"

#include <assert.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/str.h"

#define KH_DIAG_MSG_MAX 512

static const struct {
  const char *name;
  const char *hint;
} KH_DIAG_TABLE[] = {
#define KH_DIAG_KIND_ROW(name, hint) {#name, hint},
    KH_DIAG_KINDS(KH_DIAG_KIND_ROW)
#undef KH_DIAG_KIND_ROW
};

const char *kh_diag_kind_name(kh_diag_kind kind) {
  return (size_t)kind < sizeof KH_DIAG_TABLE / sizeof KH_DIAG_TABLE[0] ? KH_DIAG_TABLE[kind].name
                                                                       : "UNKNOWN";
}

const char *kh_diag_kind_hint(kh_diag_kind kind) {
  return (size_t)kind < sizeof KH_DIAG_TABLE / sizeof KH_DIAG_TABLE[0] ? KH_DIAG_TABLE[kind].hint
                                                                       : NULL;
}

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
  char msg[KH_DIAG_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  /* A message cut at the cap is still worth showing. */
  (void)kf_str_vformat(msg, sizeof msg, fmt, ap);
  va_end(ap);
  diag->severity = severity;
  diag->kind = KH_DIAG_SYNTAX;
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
