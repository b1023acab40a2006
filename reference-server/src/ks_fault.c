/*
 * ks_fault.c: the rows of the fault catalogue (see ks_fault.h).
 */
#include "ks_fault.h"

#include <assert.h>
#include <string.h>

#include "ks_server.h"

static const ks_fault_row fault_rows[] = {
#define FAULT_X_ROW(name, kebab, ids, what) {kebab, ids, what},
    KS_FAULTS(FAULT_X_ROW)
#undef FAULT_X_ROW
};

const ks_fault_row *ks_fault_row_get(ks_fault f) {
  assert(f < KS_FAULT_COUNT);
  return &fault_rows[f];
}

ks_fault ks_fault_find(const char *name) {
  for (int f = 0; f < KS_FAULT_COUNT; f++) {
    if (strcmp(fault_rows[f].name, name) == 0)
      return (ks_fault)f;
  }
  return KS_FAULT_COUNT;
}

kf_rc ks_fault_list(kf_buf *out) {
  kf_rc rc = KF_OK;
  for (int f = 0; rc == KF_OK && f < KS_FAULT_COUNT; f++)
    rc = kf_buf_appendf(out, "%s\t%s\t%s\n", fault_rows[f].name, fault_rows[f].ids,
                        fault_rows[f].what);
  return rc;
}

bool ks_fault_on(const ks_server *srv, ks_fault f) {
  assert(f < KS_FAULT_COUNT);
  return srv->cfg->faults[f];
}
