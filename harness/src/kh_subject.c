/*
 * kh_subject.c: the subjects of queries and their lazily loaded parts (see kh_subject.h).
 */
#include "kh_subject.h"

#include <assert.h>
#include <string.h>

static const struct {
  const char *name;
  const char *missing;
} KH_SUBJECT_TABLE[] = {
#define KH_SUBJECT_ROW(kind, name, missing) {name, missing},
    KH_SUBJECTS(KH_SUBJECT_ROW)
#undef KH_SUBJECT_ROW
};

const char *kh_subject_kind_name(kh_subject_kind kind) {
  return kind < KH_SUBJECT_COUNT ? KH_SUBJECT_TABLE[kind].name : "none";
}

void kh_subjects_init(kh_subjects *subjects) {
  memset(subjects, 0, sizeof *subjects);
}

static void kh_subject_clear(kh_subject *s) {
  json_decref(s->doc);
  json_decref(s->tried);
  memset(s, 0, sizeof *s);
}

void kh_subjects_release(kh_subjects *subjects) {
  if (subjects == NULL)
    return;
  for (size_t i = 0; i < KH_SUBJECT_COUNT; i++)
    kh_subject_clear(&subjects->items[i]);
}

void kh_subjects_set(kh_subjects *subjects, kh_subject_kind kind, json_t *doc,
                     kh_subject_load_fn load, void *load_ctx) {
  assert(kind < KH_SUBJECT_COUNT);
  kh_subject *s = &subjects->items[kind];
  kh_subject_clear(s);
  s->doc = doc;
  s->load = load;
  s->load_ctx = load_ctx;
}

kf_rc kh_subjects_get(kh_subjects *subjects, kh_subject_kind kind, kh_subject **out, kf_err *err) {
  assert(kind < KH_SUBJECT_COUNT);
  kh_subject *s = subjects != NULL ? &subjects->items[kind] : NULL;
  if (s == NULL || s->doc == NULL)
    return kf_err_set(err, KF_ERR_STATE, "%s", KH_SUBJECT_TABLE[kind].missing);
  *out = s;
  return KF_OK;
}

kf_rc kh_subject_part(kh_subject *subject, const char *part, json_t **out, kf_err *err) {
  assert(subject != NULL && subject->doc != NULL && part != NULL);
  *out = json_object_get(subject->doc, part);
  if (*out != NULL || subject->load == NULL)
    return KF_OK;
  if (subject->tried != NULL && json_object_get(subject->tried, part) != NULL)
    return KF_OK;
  kf_rc rc = subject->load(subject, part, subject->load_ctx, err);
  if (rc != KF_OK)
    return rc;
  if (subject->tried == NULL && (subject->tried = json_object()) == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  if (json_object_set_new(subject->tried, part, json_true()) != 0)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  *out = json_object_get(subject->doc, part);
  return KF_OK;
}

kf_rc kh_subject_load_body_json(kh_subject *subject, const char *part, void *ctx, kf_err *err) {
  (void)ctx;
  if (strcmp(part, "json") != 0)
    return KF_OK;
  const json_t *body = json_object_get(subject->doc, "body");
  if (!json_is_string(body) || json_string_length(body) == 0)
    return KF_OK;
  json_error_t jerr;
  json_t *parsed =
      json_loadb(json_string_value(body), json_string_length(body), JSON_DECODE_ANY, &jerr);
  if (parsed == NULL && json_error_code(&jerr) == json_error_out_of_memory)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory parsing the body");
  /* A body that is not JSON leaves "json" absent, so `json "$"` is absent rather than null. */
  if (parsed == NULL)
    return KF_OK;
  if (json_object_set_new(subject->doc, "json", parsed) != 0)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  return KF_OK;
}
