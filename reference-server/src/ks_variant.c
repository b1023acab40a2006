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

KS_SWITCH_DEFINE(ks_variant, ks_variant, KS_VARIANT_COUNT, variant_rows, variants)
