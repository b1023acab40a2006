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

KS_SWITCH_DEFINE(ks_fault, ks_fault, KS_FAULT_COUNT, fault_rows, faults)
