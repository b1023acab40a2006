/*
 * ks_fault.c: the rows of the fault catalogue (see ks_fault.h).
 */
#include "ks_fault.h"

#include <assert.h>

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
  return (ks_fault)ks_switch_find(fault_rows, KS_FAULT_COUNT, name);
}

kf_rc ks_fault_list(kf_buf *out) {
  return ks_switch_list(fault_rows, KS_FAULT_COUNT, out);
}

bool ks_fault_on(const ks_server *srv, ks_fault f) {
  assert(f < KS_FAULT_COUNT);
  return srv->cfg->faults[f];
}
