/*
 * file.c: whole files into capped buffers (see kf/file.h).
 */
#include "kf/file.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

kf_rc kf_file_read(const char *path, kf_buf *out, kf_err *err) {
  FILE *fp = fopen(path, "rb");
  if (fp == NULL)
    return kf_err_set(err, KF_ERR_IO, "cannot open: %s", strerror(errno));
  char chunk[8192];
  size_t n;
  kf_rc rc = KF_OK;
  while (rc == KF_OK && (n = fread(chunk, 1, sizeof chunk, fp)) > 0)
    rc = kf_buf_append(out, chunk, n);
  bool failed = ferror(fp) != 0;
  fclose(fp);
  if (rc == KF_ERR_LIMIT)
    return kf_err_set(err, rc, "larger than %zu bytes", out->max);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "out of memory");
  if (failed)
    return kf_err_set(err, KF_ERR_IO, "read error");
  return KF_OK;
}
