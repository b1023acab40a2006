/*
 * ks_switch.h: what the two catalogues of behaviour a test run switches on
 * share: the fault catalogue (ks_fault.h, what the contract forbids, so
 * `konform selftest` shows the suite catches it) and the variant catalogue
 * (ks_variant.h, what the contract allows, so the suite shows it accepts it).
 * Each is an X-macro table whose rows become ks_switch_row values; this
 * module looks a row up by name and lists the rows.
 *
 * Ownership: rows and their strings are static; out is the caller's.
 */
#ifndef KS_SWITCH_H
#define KS_SWITCH_H

#include <stddef.h>

#include "kf/buf.h"
#include "kf/error.h"

typedef struct ks_switch_row {
  const char *name; /* Kebab-case, as --fault and --variant take it: "head-confirms". */
  const char *ids;  /* A fault's requirement IDs ("ACC-08"); NULL for a variant. */
  const char *what; /* One line for people. */
} ks_switch_row;

/* The index of the row named name among the n rows, or n when no row is. */
size_t ks_switch_find(const ks_switch_row *rows, size_t n, const char *name);
/*
 * Append one line per row to out: "name<TAB>ids<TAB>what" where the row has
 * ids, else "name<TAB>what".
 */
kf_rc ks_switch_list(const ks_switch_row *rows, size_t n, kf_buf *out);

#endif
