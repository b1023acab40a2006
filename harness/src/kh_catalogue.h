/*
 * kh_catalogue.h: the requirement catalogue (scenarios/catalogue.json).
 */
#ifndef KH_CATALOGUE_H
#define KH_CATALOGUE_H

#include <stdbool.h>
#include <stddef.h>

#include "kf/error.h"

typedef struct kh_requirement {
  char *id;      /* "ACC-06" */
  char *area;    /* "ACC" */
  char *title;
  char *source;  /* "seed", "default" or "practice" */
} kh_requirement;

typedef struct kh_catalogue {
  kh_requirement *items; /* Owned, in file order. */
  size_t len;
} kh_catalogue;

void kh_catalogue_init(kh_catalogue *cat);
void kh_catalogue_release(kh_catalogue *cat);
/* Load and validate (unique well-formed IDs, known areas). */
kf_rc kh_catalogue_load(kh_catalogue *cat, const char *path, kf_err *err);
const kh_requirement *kh_catalogue_find(const kh_catalogue *cat, const char *id);

#endif
