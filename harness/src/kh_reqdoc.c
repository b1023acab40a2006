/*
 * kh_reqdoc.c: docs/requirements.md from the catalogue (see kh_reqdoc.h).
 */
#include "kh_reqdoc.h"

#include <jansson.h>
#include <string.h>

#include "kh_text.h"

static const char kh_reqdoc_head[] =
    "# The requirements konform checks\n"
    "\n"
    "This is generated from `scenarios/catalogue.json` by `konform requirements`;\n"
    "edit the catalogue, not this file. Every scenario names the IDs below that it\n"
    "covers (`covers:`), and every report counts them.\n"
    "\n"
    "Each requirement says where it comes from:\n"
    "\n"
    "- **guides**: the rule is stated in the public user guides named;\n"
    "- **default**: the guides imply the rule but give no number; the value given\n"
    "  is the documented default, and a target states its own in its profile's\n"
    "  `[defaults]` (docs/targets.md); the suite tests against the target's value;\n"
    "- **practice**: not in the guides; required by common security practice\n"
    "  (OWASP ASVS, WebAuthn, RFC 6238).\n";

/* "guides: A; B" from the requirement's "seeds" and the catalogue's "sources". */
static kf_rc kh_reqdoc_guides(const json_t *seeds, const json_t *sources, kf_buf *out) {
  kf_rc rc = KF_OK;
  size_t i;
  const json_t *seed;
  json_array_foreach(seeds, i, seed) {
    const char *id = json_string_value(seed);
    const char *title = json_string_value(json_object_get(sources, id != NULL ? id : ""));
    rc = kf_buf_appendf(out, "%s%s", i == 0 ? "" : "; ",
                        title != NULL ? title : (id != NULL ? id : "?"));
    if (rc != KF_OK)
      return rc;
  }
  return rc;
}

/* "configurable: key = value, ..." */
static kf_rc kh_reqdoc_defaults(const json_t *defaults, kf_buf *out) {
  const char *key;
  json_t *v;
  bool first = true;
  kf_rc rc = KF_OK;
  json_object_foreach((json_t *)defaults, key, v) {
    rc = kf_buf_appendf(out, "%s`%s = ", first ? "; configurable: " : ", ", key);
    if (rc == KF_OK)
      rc = kh_text_of_value(v, out);
    if (rc == KF_OK)
      rc = kf_buf_append_byte(out, '`');
    first = false;
    if (rc != KF_OK)
      return rc;
  }
  return rc;
}

static kf_rc kh_reqdoc_item(const json_t *r, const json_t *sources, kf_buf *out) {
  const char *source = json_string_value(json_object_get(r, "source"));
  kf_rc rc = kf_buf_appendf(out, "- **%s** %s *(", json_string_value(json_object_get(r, "id")),
                            json_string_value(json_object_get(r, "title")));
  const json_t *seeds = json_object_get(r, "seeds");
  if (rc == KF_OK && source != NULL && strcmp(source, "practice") == 0)
    rc = kf_buf_append_str(out, "practice");
  else if (rc == KF_OK && source != NULL && strcmp(source, "default") == 0)
    rc = kf_buf_append_str(out, json_array_size(seeds) > 0 ? "default; guides: " : "default");
  else if (rc == KF_OK)
    rc = kf_buf_append_str(out, "guides: ");
  if (rc == KF_OK)
    rc = kh_reqdoc_guides(seeds, sources, out);
  if (rc == KF_OK)
    rc = kh_reqdoc_defaults(json_object_get(r, "defaults"), out);
  if (rc == KF_OK)
    rc = kf_buf_append_str(out, ")*\n");
  return rc;
}

kf_rc kh_reqdoc_render(const char *name, const char *json, size_t len, kf_buf *out, kf_err *err) {
  json_error_t jerr;
  json_t *root = json_loadb(json, len, 0, &jerr);
  if (root == NULL)
    return kf_err_set(err, KF_ERR_PARSE, "%s:%d: %s", name, jerr.line, jerr.text);
  const json_t *sources = json_object_get(root, "sources");
  const json_t *reqs = json_object_get(root, "requirements");
  kf_rc rc = kf_buf_append_str(out, kh_reqdoc_head);
  const char *area;
  json_t *title;
  json_object_foreach(json_object_get(root, "areas"), area, title) {
    if (rc == KF_OK)
      rc = kf_buf_appendf(out, "\n## %s: %s\n\n", area, json_string_value(title));
    size_t i;
    json_t *r;
    json_array_foreach(reqs, i, r) {
      const char *ra = json_string_value(json_object_get(r, "area"));
      if (rc == KF_OK && ra != NULL && strcmp(ra, area) == 0)
        rc = kh_reqdoc_item(r, sources, out);
    }
  }
  json_decref(root);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "cannot render the requirements: %s", kf_rc_name(rc));
  return KF_OK;
}
