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

#include <stdbool.h>
#include <stddef.h>

#include "kf/buf.h"
#include "kf/error.h"

typedef struct ks_server ks_server;

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

/*
 * The functions every catalogue has, for its prefix (ks_fault, ks_variant)
 * and its enum type (whose last value, the count, means "none"):
 *   const ks_switch_row *<prefix>_row_get(type x)  the row of x, for x below the count
 *   type <prefix>_find(const char *name)           the row named name, else the count
 *   kf_rc <prefix>_list(kf_buf *out)               one line per row (--list-faults ...)
 *   bool <prefix>_on(const ks_server *srv, type x) whether x is switched on (test mode
 *                                                  only); a NULL srv has none on
 * KS_SWITCH_DECLARE goes in the catalogue's header, KS_SWITCH_DEFINE in its
 * .c file after its rows, with the ks_config field that records the switches.
 */
#define KS_SWITCH_DECLARE(prefix, type)                                                            \
  const ks_switch_row *prefix##_row_get(type x);                                                   \
  type prefix##_find(const char *name);                                                            \
  kf_rc prefix##_list(kf_buf *out);                                                                \
  bool prefix##_on(const ks_server *srv, type x);

#define KS_SWITCH_DEFINE(prefix, type, count, rows, field)                                         \
  const ks_switch_row *prefix##_row_get(type x) {                                                  \
    assert(x < count);                                                                             \
    return &rows[x];                                                                               \
  }                                                                                                \
  type prefix##_find(const char *name) {                                                           \
    return (type)ks_switch_find(rows, count, name);                                                \
  }                                                                                                \
  kf_rc prefix##_list(kf_buf *out) {                                                               \
    return ks_switch_list(rows, count, out);                                                       \
  }                                                                                                \
  bool prefix##_on(const ks_server *srv, type x) {                                                 \
    assert(x < count);                                                                             \
    return srv != NULL && srv->cfg->field[x];                                                      \
  }

#endif
