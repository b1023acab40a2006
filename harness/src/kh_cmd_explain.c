/*
 * kh_cmd_explain.c: `konform explain`. The catalogue is loaded as every
 * command loads it; the requirement's seeds (which guide it quotes) are read
 * from the catalogue file itself, since the harness keeps only what the runs
 * need. The profile's values are those kh_catalogue_fill_defaults would use:
 * the profile's own, or the catalogue's where the profile states none.
 */
#include "kh_cmd_explain.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "kf/str.h"
#include "kh_cmd_suite.h"
#include "kh_profile.h"

#define KH_EXPLAIN_PATH_MAX 4096

/* The requirement's seeds with what each one is, from the catalogue file ("seeds", "sources"). */
static void kh_explain_seeds(const char *cat_path, const char *id) {
  json_error_t jerr;
  json_t *root = json_load_file(cat_path, 0, &jerr);
  const json_t *sources = json_object_get(root, "sources");
  const json_t *reqs = json_object_get(root, "requirements");
  for (size_t i = 0; i < json_array_size(reqs); i++) {
    const json_t *r = json_array_get(reqs, i);
    if (!json_is_string(json_object_get(r, "id")) ||
        strcmp(json_string_value(json_object_get(r, "id")), id) != 0)
      continue;
    const json_t *seeds = json_object_get(r, "seeds");
    for (size_t j = 0; j < json_array_size(seeds); j++) {
      const char *seed = json_string_value(json_array_get(seeds, j));
      const char *what = json_string_value(json_object_get(sources, seed != NULL ? seed : ""));
      printf("  seed %s: %s\n", seed != NULL ? seed : "?", what != NULL ? what : "(not described)");
    }
  }
  const char *spec = json_string_value(json_object_get(root, "spec"));
  if (spec != NULL)
    printf("  full text: %s, %s\n", spec, id);
  json_decref(root);
}

/* The profile whose values are shown: --target, else targets/reference.profile by the catalogue. */
int kh_cmd_explain_profile(const kh_cli_options *o, const char *cat_path, kh_profile *profile,
                           const char **label) {
  char path[KH_EXPLAIN_PATH_MAX];
  const char *slash = strrchr(cat_path, '/');
  if (o->target != NULL) {
    if (kf_str_copy(path, sizeof path, o->target) != KF_OK)
      return KH_EXIT_USAGE;
  } else if (kf_str_format(path, sizeof path, "%.*s/targets/reference.profile",
                           slash != NULL ? (int)(slash - cat_path) : 1,
                           slash != NULL ? cat_path : ".") != KF_OK) {
    return KH_EXIT_USAGE;
  }
  kf_err err;
  kf_err_init(&err);
  if (kh_profile_load(profile, path, &err) != KF_OK) {
    if (o->target == NULL) {
      *label = NULL; /* No reference profile installed: only the catalogue's values. */
      return KH_EXIT_OK;
    }
    fprintf(stderr, "konform: %s: %s\n", o->target, err.message);
    return KH_EXIT_USAGE;
  }
  *label = o->target != NULL ? o->target : "the reference profile";
  return KH_EXIT_OK;
}

/* One line per configurable value: the catalogue's default and the target's. */
static int kh_explain_defaults(const kh_cli_options *o, const kh_cmd_suite *s,
                               const kh_requirement *rq) {
  if (rq->defaults_len == 0) {
    printf("configurable: nothing (the requirement holds as written)\n");
    return KH_EXIT_OK;
  }
  kh_profile profile;
  kh_profile_init(&profile);
  const char *label = NULL;
  int code = kh_cmd_explain_profile(o, s->cat_path, &profile, &label);
  printf("configurable (the profile's [defaults]; catalogue default, then %s):\n",
         label != NULL ? label : "no profile");
  for (size_t i = 0; code == KH_EXIT_OK && i < rq->defaults_len; i++) {
    char key[256];
    (void)kf_str_format(key, sizeof key, "defaults.%s", rq->default_keys[i]);
    const char *mine = label != NULL ? kh_profile_get(&profile, key) : NULL;
    printf("  %s = %s   (%s: %s)\n", rq->default_keys[i], rq->default_values[i],
           label != NULL ? label : "target", mine != NULL ? mine : "not stated, so the default");
  }
  kh_profile_release(&profile);
  return code;
}

/* The covering scenarios as file:line, with the selection's view of them. */
static void kh_explain_scenarios(const kh_cmd_suite *s, const char *id) {
  size_t n = 0;
  for (size_t i = 0; i < s->suite.entries_len; i++) {
    const kh_suite_entry *e = &s->suite.entries[i];
    for (size_t j = 0; j < e->scenario->covers_len; j++) {
      if (!kf_str_eq_ci(e->scenario->covers[j], id))
        continue;
      if (n++ == 0)
        printf("covered by:\n");
      printf("  %s:%u\t%s\n", e->file->path, e->scenario->pos.line, e->scenario->name);
      break;
    }
  }
  if (n == 0)
    printf("covered by: no scenario yet\n");
}

/* Unknown ID: the nearest one, as every other name of konform is corrected. */
static int kh_explain_unknown(const kh_cmd_suite *s, const char *id) {
  const char *names[1024];
  size_t n = 0;
  for (size_t i = 0; i < s->cat.len && n < sizeof names / sizeof names[0]; i++)
    names[n++] = s->cat.items[i].id;
  const char *near = kf_str_nearest(id, strlen(id), names, n);
  fprintf(stderr, "konform: %s: no such requirement in %s%s%s%s\n", id, s->cat_path,
          near != NULL ? "; did you mean " : "", near != NULL ? near : "", near != NULL ? "?" : "");
  return KH_EXIT_USAGE;
}

static const kh_requirement *kh_explain_find(const kh_catalogue *cat, const char *id) {
  for (size_t i = 0; i < cat->len; i++)
    if (kf_str_eq_ci(cat->items[i].id, id))
      return &cat->items[i];
  return NULL;
}

int kh_cmd_explain(const kh_cli_options *o) {
  /* The ID comes first; the scenario paths, if any, after it. */
  kh_cli_options sub;
  if (kh_cmd_suite_args(o, "explain wants a requirement ID (konform explain ACC-06)", &sub) !=
      KH_EXIT_OK)
    return KH_EXIT_USAGE;
  kh_cmd_suite s;
  kh_cmd_suite_init(&s);
  int code = kh_cmd_suite_load_catalogue(&sub, &s);
  if (code == KH_EXIT_OK && !s.have_cat) {
    fprintf(stderr, "konform: no catalogue.json found (--catalogue FILE)\n");
    code = KH_EXIT_USAGE;
  }
  const kh_requirement *rq = code == KH_EXIT_OK ? kh_explain_find(&s.cat, o->paths[0]) : NULL;
  if (code == KH_EXIT_OK && rq == NULL)
    code = kh_explain_unknown(&s, o->paths[0]);
  if (code == KH_EXIT_OK)
    code = kh_cmd_suite_load_scenarios(&sub, &s);
  if (code == KH_EXIT_OK) {
    const char *area = kh_catalogue_area_title(&s.cat, rq->area);
    printf("%s (%s%s%s)\n  %s\n", rq->id, rq->area, area != NULL ? ": " : "",
           area != NULL ? area : "", rq->title);
    printf("source: %s\n", rq->source);
    kh_explain_seeds(s.cat_path, rq->id);
    code = kh_explain_defaults(o, &s, rq);
    kh_explain_scenarios(&s, rq->id);
  }
  kh_cmd_suite_release(&s);
  return code;
}
