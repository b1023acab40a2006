/*
 * ks_switch.c: looking up and listing the rows of a catalogue (see ks_switch.h).
 */
#include "ks_switch.h"

#include <assert.h>
#include <string.h>

size_t ks_switch_find(const ks_switch_row *rows, size_t n, const char *name) {
  assert(rows != NULL && name != NULL);
  size_t i = 0;
  while (i < n && strcmp(rows[i].name, name) != 0)
    i++;
  return i;
}

kf_rc ks_switch_list(const ks_switch_row *rows, size_t n, kf_buf *out) {
  kf_rc rc = KF_OK;
  for (size_t i = 0; rc == KF_OK && i < n; i++) {
    if (rows[i].ids != NULL)
      rc = kf_buf_appendf(out, "%s\t%s\t%s\n", rows[i].name, rows[i].ids, rows[i].what);
    else
      rc = kf_buf_appendf(out, "%s\t%s\n", rows[i].name, rows[i].what);
  }
  return rc;
}
