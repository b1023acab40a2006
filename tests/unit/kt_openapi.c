/*
 * kt_openapi.c: JSON pointers and $refs over a contract tree (kt_openapi.h).
 */
#include "kt_openapi.h"

#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include "kf/str.h"

#define KT_OPENAPI_KEY_MAX 256

static kf_rc kt_openapi_walk(json_t *root, const char *pointer, int depth, json_t **out,
                             kf_err *err);

static kf_rc kt_openapi_follow_at(json_t *root, json_t *node, int depth, json_t **out,
                                  kf_err *err) {
  const char *ref = json_string_value(json_object_get(node, "$ref"));
  if (ref == NULL) {
    *out = node;
    return KF_OK;
  }
  if (depth >= KT_OPENAPI_REF_DEPTH_MAX)
    return kf_err_set(err, KF_ERR_INVALID, "a $ref loop at %s", ref);
  if (strncmp(ref, "#/", 2) != 0)
    return kf_err_set(err, KF_ERR_INVALID, "a $ref outside the document: %s", ref);
  json_t *target = NULL;
  kf_rc rc = kt_openapi_walk(root, ref + 1, depth + 1, &target, err);
  if (rc == KF_OK && target == NULL)
    rc = kf_err_set(err, KF_ERR_NOT_FOUND, "$ref %s names nothing", ref);
  *out = target;
  return rc;
}

/* One reference token of pointer at *p (after its '/'), unescaped into key. */
static kf_rc kt_openapi_token(const char **p, char *key, size_t size, kf_err *err) {
  size_t n = 0;
  const char *s = *p;
  for (; *s != '\0' && *s != '/'; s++) {
    if (n + 1 >= size)
      return kf_err_set(err, KF_ERR_LIMIT, "a pointer key longer than %zu bytes", size - 1);
    bool escape = s[0] == '~' && (s[1] == '0' || s[1] == '1');
    key[n++] = escape ? (s[1] == '0' ? '~' : '/') : s[0];
    s += escape;
  }
  key[n] = '\0';
  *p = s;
  return KF_OK;
}

static kf_rc kt_openapi_walk(json_t *root, const char *pointer, int depth, json_t **out,
                             kf_err *err) {
  *out = NULL;
  if (pointer[0] != '/' && pointer[0] != '\0')
    return kf_err_set(err, KF_ERR_INVALID, "\"%s\" is not a JSON pointer", pointer);
  json_t *node = root;
  kf_rc rc = KF_OK;
  for (const char *p = pointer; rc == KF_OK && node != NULL && *p == '/';) {
    p++;
    char key[KT_OPENAPI_KEY_MAX];
    json_t *at = NULL;
    rc = kt_openapi_token(&p, key, sizeof key, err);
    if (rc == KF_OK)
      rc = kt_openapi_follow_at(root, node, depth, &at, err);
    long item;
    if (rc == KF_OK)
      node = json_is_array(at) && kf_str_to_long(key, 0, LONG_MAX, &item) == KF_OK
                 ? json_array_get(at, (size_t)item)
                 : json_object_get(at, key);
  }
  if (rc == KF_OK && node != NULL)
    rc = kt_openapi_follow_at(root, node, depth, out, err);
  return rc;
}

kf_rc kt_openapi_follow(json_t *root, json_t *node, json_t **out, kf_err *err) {
  return kt_openapi_follow_at(root, node, 0, out, err);
}

kf_rc kt_openapi_at(json_t *root, const char *pointer, json_t **out, kf_err *err) {
  return kt_openapi_walk(root, pointer, 0, out, err);
}
