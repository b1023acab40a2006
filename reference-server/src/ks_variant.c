/*
 * ks_variant.c: the rows of the variant catalogue (see ks_variant.h).
 */
#include "ks_variant.h"

#include <assert.h>

#include "ks_server.h"

static const ks_switch_row variant_rows[] = {
#define VARIANT_X_ROW(name, kebab, what) {kebab, NULL, what},
    KS_VARIANTS(VARIANT_X_ROW)
#undef VARIANT_X_ROW
};

const ks_switch_row *ks_variant_row_get(ks_variant v) {
  assert(v < KS_VARIANT_COUNT);
  return &variant_rows[v];
}

ks_variant ks_variant_find(const char *name) {
  return (ks_variant)ks_switch_find(variant_rows, KS_VARIANT_COUNT, name);
}

kf_rc ks_variant_list(kf_buf *out) {
  return ks_switch_list(variant_rows, KS_VARIANT_COUNT, out);
}

bool ks_variant_on(const ks_server *srv, ks_variant v) {
  assert(v < KS_VARIANT_COUNT);
  return srv != NULL && srv->cfg->variants[v];
}
