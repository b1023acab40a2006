/*
 * kh_catalogue.c: load and validate scenarios/catalogue.json.
 *
 * The catalogue is the list every report counts against, so a malformed one
 * is rejected outright rather than loaded partly: a typo in an ID would
 * otherwise silently turn a requirement into "not checked".
 */
#include "kh_catalogue.h"

#include <assert.h>
#include <jansson.h>
#include <stdio.h>
#include <limits.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/file.h"
#include "kf/buf.h"
#include "kf/str.h"
#include "kh_profile.h"

/* The catalogue is a few hundred entries; anything far bigger is not ours. */
#define KH_CATALOGUE_MAX_BYTES (8u * 1024u * 1024u)
#define KH_CATALOGUE_MAX_ITEMS 10000u

void kh_catalogue_init(kh_catalogue *cat) {
  memset(cat, 0, sizeof *cat);
}

static void kh_requirement_release(kh_requirement *r) {
  kf_free(r->id);
  kf_free(r->area);
  kf_free(r->title);
  kf_free(r->source);
  for (size_t i = 0; i < r->defaults_len; i++) {
    kf_free(r->default_keys[i]);
    kf_free(r->default_values[i]);
  }
  kf_free(r->default_keys);
  kf_free(r->default_values);
  kf_free(r->default_numeric);
}

void kh_catalogue_release(kh_catalogue *cat) {
  if (cat == NULL)
    return;
  for (size_t i = 0; i < cat->len; i++)
    kh_requirement_release(&cat->items[i]);
  kf_free(cat->items);
  for (size_t i = 0; i < cat->areas_len; i++) {
    kf_free(cat->areas[i].id);
    kf_free(cat->areas[i].title);
  }
  kf_free(cat->areas);
  kh_catalogue_init(cat);
}

const kh_requirement *kh_catalogue_find(const kh_catalogue *cat, const char *id) {
  if (cat == NULL || id == NULL)
    return NULL;
  for (size_t i = 0; i < cat->len; i++) {
    if (strcmp(cat->items[i].id, id) == 0)
      return &cat->items[i];
  }
  return NULL;
}

const char *kh_catalogue_area_title(const kh_catalogue *cat, const char *area) {
  if (cat == NULL || area == NULL)
    return NULL;
  for (size_t i = 0; i < cat->areas_len; i++) {
    if (strcmp(cat->areas[i].id, area) == 0)
      return cat->areas[i].title;
  }
  return NULL;
}

/* ^[A-Z]+-[0-9]{2}$, and the prefix length in *prefix. */
static bool kh_id_valid(const char *id, size_t *prefix) {
  size_t n = 0;
  while (id[n] >= 'A' && id[n] <= 'Z')
    n++;
  *prefix = n;
  return n > 0 && id[n] == '-' && id[n + 1] >= '0' && id[n + 1] <= '9' && id[n + 2] >= '0' &&
         id[n + 2] <= '9' && id[n + 3] == '\0';
}

static kf_rc kh_value_text(json_t *v, char **out) {
  if (json_is_string(v)) {
    *out = kf_memdup0(json_string_value(v), json_string_length(v));
    return *out != NULL ? KF_OK : KF_ERR_NOMEM;
  }
  kf_buf b;
  kf_buf_init(&b, 1u << 20);
  kf_rc rc = KF_OK;
  if (json_is_integer(v))
    rc = kf_buf_appendf(&b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
  else if (json_is_true(v))
    rc = kf_buf_append_str(&b, "true");
  else if (json_is_false(v))
    rc = kf_buf_append_str(&b, "false");
  else if (json_is_null(v))
    rc = kf_buf_append_str(&b, "null");
  else if (json_is_real(v))
    rc = kf_buf_appendf(&b, "%.17g", json_real_value(v));
  else
    rc = KF_ERR_INVALID;
  if (rc == KF_OK) {
    *out = kf_buf_detach(&b, NULL);
    if (*out == NULL)
      rc = KF_ERR_NOMEM;
  }
  kf_buf_release(&b);
  return rc;
}

/* The "areas" object: upper-case names and their titles. */
static kf_rc kh_load_areas(kh_catalogue *cat, const char *name, json_t *areas, kf_err *err) {
  cat->areas = kf_calloc(json_object_size(areas), sizeof *cat->areas);
  if (cat->areas == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  const char *key;
  json_t *val;
  json_object_foreach(areas, key, val) {
    size_t plen;
    char idbuf[64];
    if (strlen(key) + 4 >= sizeof idbuf)
      return kf_err_set(err, KF_ERR_INVALID, "%s: area name too long", name);
    memcpy(idbuf, key, strlen(key));
    memcpy(idbuf + strlen(key), "-00", 4);
    if (!kh_id_valid(idbuf, &plen) || plen != strlen(key))
      return kf_err_set(err, KF_ERR_INVALID, "%s: area \"%.60s\" must be upper-case letters", name,
                        key);
    if (!json_is_string(val))
      return kf_err_set(err, KF_ERR_INVALID, "%s: the title of area %.60s must be a string", name,
                        key);
    kh_area *a = &cat->areas[cat->areas_len++];
    if ((a->id = kf_strdup(key)) == NULL || (a->title = kf_strdup(json_string_value(val))) == NULL)
      return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  }
  return KF_OK;
}

/* A requirement's "defaults": configurable values a profile may override. */
static kf_rc kh_load_defaults(kh_requirement *item, const char *name, json_t *defaults,
                              kf_err *err) {
  size_t nd = json_object_size(defaults);
  if (nd == 0)
    return KF_OK;
  if (nd > KH_CATALOGUE_MAX_ITEMS)
    return kf_err_set(err, KF_ERR_LIMIT, "%s: %s has too many defaults", name, item->id);
  item->default_keys = kf_calloc(nd, sizeof *item->default_keys);
  item->default_values = kf_calloc(nd, sizeof *item->default_values);
  item->default_numeric = kf_calloc(nd, sizeof *item->default_numeric);
  if (item->default_keys == NULL || item->default_values == NULL || item->default_numeric == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  const char *key;
  json_t *val;
  json_object_foreach(defaults, key, val) {
    size_t k = item->defaults_len;
    if ((item->default_keys[k] = kf_strdup(key)) == NULL)
      return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
    item->defaults_len++;
    item->default_numeric[k] = json_is_integer(val);
    kf_rc rc = kh_value_text(val, &item->default_values[k]);
    if (rc == KF_ERR_INVALID)
      return kf_err_set(err, rc, "%s: %s default \"%.60s\" must be a string, number or boolean",
                        name, item->id, key);
    if (rc != KF_OK)
      return kf_err_set(err, rc, "out of memory");
  }
  return KF_OK;
}

/* Check the fields of requirements[i] and append it. */
static kf_rc kh_load_requirement(kh_catalogue *cat, const char *name, size_t i, json_t *r,
                                 kf_err *err) {
  if (!json_is_object(r))
    return kf_err_set(err, KF_ERR_INVALID, "%s: requirements[%zu] must be an object", name, i);
  json_t *id = json_object_get(r, "id");
  json_t *area = json_object_get(r, "area");
  json_t *title = json_object_get(r, "title");
  json_t *source = json_object_get(r, "source");
  json_t *defaults = json_object_get(r, "defaults");
  size_t plen;
  if (!json_is_string(id) || !kh_id_valid(json_string_value(id), &plen))
    return kf_err_set(err, KF_ERR_INVALID, "%s: requirements[%zu].id must look like ACC-01", name,
                      i);
  const char *ids = json_string_value(id);
  if (kh_catalogue_find(cat, ids) != NULL)
    return kf_err_set(err, KF_ERR_INVALID, "%s: requirement %s is listed twice", name, ids);
  if (!json_is_string(area) || kh_catalogue_area_title(cat, json_string_value(area)) == NULL)
    return kf_err_set(err, KF_ERR_INVALID, "%s: %s names an area that \"areas\" does not list",
                      name, ids);
  if (strlen(json_string_value(area)) != plen || strncmp(json_string_value(area), ids, plen) != 0)
    return kf_err_set(err, KF_ERR_INVALID, "%s: %s has area \"%.20s\", which is not its ID prefix",
                      name, ids, json_string_value(area));
  if (!json_is_string(title) || json_string_length(title) == 0)
    return kf_err_set(err, KF_ERR_INVALID, "%s: %s needs a non-empty \"title\"", name, ids);
  const char *src = json_is_string(source) ? json_string_value(source) : "";
  if (strcmp(src, "seed") != 0 && strcmp(src, "default") != 0 && strcmp(src, "practice") != 0)
    return kf_err_set(err, KF_ERR_INVALID,
                      "%s: %s has \"source\" other than seed, default or practice", name, ids);
  if (defaults != NULL && !json_is_object(defaults))
    return kf_err_set(err, KF_ERR_INVALID, "%s: %s has \"defaults\" that is not an object", name,
                      ids);
  kh_requirement *item = &cat->items[cat->len++];
  if ((item->id = kf_strdup(ids)) == NULL ||
      (item->area = kf_strdup(json_string_value(area))) == NULL ||
      (item->title = kf_strdup(json_string_value(title))) == NULL ||
      (item->source = kf_strdup(src)) == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  return kh_load_defaults(item, name, defaults, err);
}

static kf_rc kh_load_json(kh_catalogue *cat, const char *name, json_t *root, kf_err *err) {
  if (!json_is_object(root))
    return kf_err_set(err, KF_ERR_INVALID, "%s: the top level must be an object", name);
  json_t *version = json_object_get(root, "version");
  if (!json_is_integer(version) || json_integer_value(version) != 1)
    return kf_err_set(err, KF_ERR_INVALID, "%s: \"version\" must be 1", name);
  json_t *areas = json_object_get(root, "areas");
  if (!json_is_object(areas) || json_object_size(areas) == 0)
    return kf_err_set(err, KF_ERR_INVALID, "%s: \"areas\" must be a non-empty object", name);
  json_t *reqs = json_object_get(root, "requirements");
  if (!json_is_array(reqs))
    return kf_err_set(err, KF_ERR_INVALID, "%s: \"requirements\" must be an array", name);
  size_t nreq = json_array_size(reqs);
  if (nreq > KH_CATALOGUE_MAX_ITEMS || json_object_size(areas) > KH_CATALOGUE_MAX_ITEMS)
    return kf_err_set(err, KF_ERR_LIMIT, "%s: too many entries", name);
  kf_rc rc = kh_load_areas(cat, name, areas, err);
  if (rc != KF_OK)
    return rc;
  cat->items = kf_calloc(nreq ? nreq : 1, sizeof *cat->items);
  if (cat->items == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  for (size_t i = 0; rc == KF_OK && i < nreq; i++)
    rc = kh_load_requirement(cat, name, i, json_array_get(reqs, i), err);
  return rc;
}

kf_rc kh_catalogue_load_text(kh_catalogue *cat, const char *name, const char *text, size_t len,
                             kf_err *err) {
  assert(cat != NULL && text != NULL);
  kh_catalogue_release(cat);
  if (len > KH_CATALOGUE_MAX_BYTES)
    return kf_err_set(err, KF_ERR_LIMIT, "%s: larger than %u bytes", name, KH_CATALOGUE_MAX_BYTES);
  json_error_t jerr;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (root == NULL)
    return kf_err_set(err, KF_ERR_PARSE, "%s:%d:%d: %s", name, jerr.line, jerr.column, jerr.text);
  kf_rc rc = kh_load_json(cat, name, root, err);
  json_decref(root);
  if (rc != KF_OK)
    kh_catalogue_release(cat);
  return rc;
}

kf_rc kh_catalogue_load(kh_catalogue *cat, const char *path, kf_err *err) {
  assert(cat != NULL && path != NULL);
  kf_buf b;
  kf_buf_init(&b, KH_CATALOGUE_MAX_BYTES);
  kf_err ferr;
  kf_err_init(&ferr);
  kf_rc rc = kf_file_read(path, &b, &ferr);
  if (rc != KF_OK)
    (void)kf_err_set(err, rc, "%s: %s", path, ferr.message);
  if (rc == KF_OK)
    rc = kh_catalogue_load_text(cat, path, b.data != NULL ? b.data : "", b.len, err);
  kf_buf_release(&b);
  return rc;
}

/*
 * Whether the catalogue documents a default named key (*numeric: whether it
 * is a whole number); else the nearest one into *near.
 */
static bool kh_catalogue_has_default(const kh_catalogue *cat, const char *key, const char **near,
                                     bool *numeric) {
  size_t best = 3;
  *near = NULL;
  for (size_t i = 0; i < cat->len; i++) {
    const kh_requirement *r = &cat->items[i];
    for (size_t j = 0; j < r->defaults_len; j++) {
      if (strcmp(r->default_keys[j], key) == 0) {
        *numeric = r->default_numeric[j];
        return true;
      }
      size_t d = kf_str_edit_distance(key, strlen(key), r->default_keys[j]);
      if (d < best) {
        best = d;
        *near = r->default_keys[j];
      }
    }
  }
  return false;
}

/* Every [defaults] key of the profile is one the catalogue documents. */
static kf_rc kh_catalogue_check_defaults(const kh_catalogue *cat, const struct kh_profile *profile,
                                         kf_err *err) {
  for (size_t i = 0; i < profile->len; i++) {
    const kh_profile_entry *e = &profile->entries[i];
    if (!kf_str_starts_with(e->key, "defaults."))
      continue;
    const char *near = NULL;
    bool numeric = false;
    char where[32] = "";
    if (e->line > 0)
      (void)kf_str_format(where, sizeof where, "line %u: ", e->line);
    if (kh_catalogue_has_default(cat, e->key + 9, &near, &numeric)) {
      /* A value the catalogue counts in whole numbers must be one: "five" is a typo. */
      long long v;
      if (e->value[0] == '\0' ||
          (numeric && kf_str_to_llong(e->value, LLONG_MIN, LLONG_MAX, &v) != KF_OK))
        return kf_err_set(err, KF_ERR_INVALID, "%s[defaults] %.100s wants %s, not \"%.100s\"",
                          where, e->key + 9, numeric ? "a whole number" : "a value", e->value);
      continue;
    }
    return kf_err_set(err, KF_ERR_INVALID,
                      "%s[defaults] %.100s is no configurable value of the catalogue%s%s%s", where,
                      e->key + 9, near != NULL ? " (did you mean " : "", near != NULL ? near : "",
                      near != NULL ? "?)" : "");
  }
  return KF_OK;
}

kf_rc kh_catalogue_fill_defaults(const kh_catalogue *cat, struct kh_profile *profile,
                                 kf_buf *filled, kf_err *err) {
  kf_rc rc = kh_catalogue_check_defaults(cat, profile, err);
  if (rc != KF_OK)
    return rc;
  char key[256];
  for (size_t i = 0; i < cat->len; i++) {
    const kh_requirement *r = &cat->items[i];
    for (size_t j = 0; j < r->defaults_len; j++) {
      if (kf_str_format(key, sizeof key, "defaults.%s", r->default_keys[j]) != KF_OK)
        return kf_err_set(err, KF_ERR_LIMIT, "default key too long: %s", r->default_keys[j]);
      if (kh_profile_get(profile, key) != NULL)
        continue;
      if (kh_profile_set(profile, key, r->default_values[j]) != KF_OK)
        return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
      /* The list is for people; a cut one still says the most. */
      if (filled != NULL)
        (void)kf_buf_appendf(filled, "%s = %s\n", r->default_keys[j], r->default_values[j]);
    }
  }
  return kh_profile_finish(profile, err);
}
