/*
 * kh_profile.h: a target profile (docs/targets.md): where the target and its
 * mocks are, how its clock is driven, and its values for every [default].
 *
 * Format: "key = value" lines, "# comments", and "[section]" headers that
 * prefix the following keys with "section.". The keys are a table
 * (KH_PROFILE_KEYS in kh_profile.c); an unknown one is an error that names
 * the nearest known key. Two sections exist: [defaults], whose keys the
 * catalogue checks (kh_catalogue_fill_defaults), and [custom], which is the
 * target's own and never checked (scenarios read it as target.custom.*).
 */
#ifndef KH_PROFILE_H
#define KH_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "kf/error.h"

typedef struct kh_profile_entry {
  char *key;
  char *value;
  unsigned line; /* Where the file sets it; 0 when set by code. */
} kh_profile_entry;

typedef struct kh_profile {
  char *path; /* NULL for the embedded default. */
  kh_profile_entry *entries;
  size_t len;
  size_t cap;
  /* Derived from entries by kh_profile_finish: */
  const char *base_url;     /* "base_url" (required). */
  const char *mail_api;     /* "mail_api", or NULL: no mail checks possible. */
  const char *post_api;     /* "post_api", or NULL. */
  const char *clock;        /* "clock": "konform" or "none" (default "none"). */
  const char *clock_header; /* "clock_header", default "Konform-Clock". */
  int64_t wait_timeout_ms;  /* "wait_timeout", default 10s. */
  const char
      *timing_base_url;   /* "timing_base_url": where timing scenarios run, or NULL: base_url. */
  const char *public_url; /* "public_url": where the portal's links point; default base_url. */
} kh_profile;

void kh_profile_init(kh_profile *profile);
void kh_profile_release(kh_profile *profile);
/*
 * Read path (released first), then kh_profile_finish. Values may be written
 * "double-quoted" to keep blanks or '#' (escapes \" and \\). Messages say
 * "line N: ..." without the path, which the caller prints. A key set twice is
 * an error. On failure the profile is released.
 */
kf_rc kh_profile_load(kh_profile *profile, const char *path, kf_err *err);
/* Set or replace a key (copied); call kh_profile_finish after changes. */
kf_rc kh_profile_set(kh_profile *profile, const char *key, const char *value);
/* Validate and derive the fields above. */
kf_rc kh_profile_finish(kh_profile *profile, kf_err *err);
const char *kh_profile_get(const kh_profile *profile, const char *key);

#endif
