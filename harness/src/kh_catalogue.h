/*
 * kh_catalogue.h: the requirement catalogue (scenarios/catalogue.json).
 */
#ifndef KH_CATALOGUE_H
#define KH_CATALOGUE_H

#include <stdbool.h>
#include <stddef.h>

#include "kf/buf.h"
#include "kf/error.h"

typedef struct kh_requirement {
  char *id;   /* "ACC-06" */
  char *area; /* "ACC" */
  char *title;
  char *source; /* "seed", "default" or "practice" */
  /* The requirement's configurable values ("defaults" in the file), as text:
     strings as they are, numbers and other JSON as compact JSON. Owned. */
  char **default_keys;
  char **default_values;
  bool *default_numeric; /* The default is a JSON integer: a profile's value must be one too. */
  size_t defaults_len;
} kh_requirement;

/* One entry of "areas": an area prefix and its title. */
typedef struct kh_area {
  char *id; /* "ACC" */
  char *title;
} kh_area;

typedef struct kh_catalogue {
  kh_requirement *items; /* Owned, in file order. */
  size_t len;
  kh_area *areas; /* Owned, in file order. */
  size_t areas_len;
} kh_catalogue;

void kh_catalogue_init(kh_catalogue *cat);
void kh_catalogue_release(kh_catalogue *cat);
/* Load and validate (unique well-formed IDs, known areas). */
kf_rc kh_catalogue_load(kh_catalogue *cat, const char *path, kf_err *err);
const kh_requirement *kh_catalogue_find(const kh_catalogue *cat, const char *id);

struct kh_profile;
/*
 * Give profile the catalogue's documented value for every "defaults.<key>" it
 * does not state itself (a profile's own values always win), then re-derive
 * the profile. A [defaults] key the catalogue does not document is
 * KF_ERR_INVALID, naming the nearest one. filled (may be NULL) gets the keys
 * taken from the catalogue, one "key = value\n" line each.
 */
kf_rc kh_catalogue_fill_defaults(const kh_catalogue *cat, struct kh_profile *profile,
                                 kf_buf *filled, kf_err *err);
/* The title of an area ("ACC"), or NULL. */
const char *kh_catalogue_area_title(const kh_catalogue *cat, const char *area);
/* Parse catalogue JSON from memory (len bytes); name is used in messages. */
kf_rc kh_catalogue_load_text(kh_catalogue *cat, const char *name, const char *text, size_t len,
                             kf_err *err);

#endif
