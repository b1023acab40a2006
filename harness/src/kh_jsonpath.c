/*
 * kh_jsonpath.c: the small JSON path language of queries (see kh_jsonpath.h).
 */
#include "kh_jsonpath.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

kf_rc kh_jsonpath_get(const json_t *root, const char *path, json_t **out, kf_err *err) {
  assert(path != NULL && out != NULL);
  *out = NULL;
  if (path[0] != '$')
    return kf_err_set(err, KF_ERR_INVALID, "JSON path \"%.100s\" must start with '$'", path);
  const json_t *cur = root;
  const char *p = path + 1;
  char key[1024];
  while (*p != '\0') {
    if (*p == '.') {
      p++;
      size_t n = 0;
      while (p[n] != '\0' && p[n] != '.' && p[n] != '[')
        n++;
      if (n == 0 || n >= sizeof key)
        return kf_err_set(err, KF_ERR_INVALID, "JSON path \"%.100s\": expected a key after '.'",
                          path);
      memcpy(key, p, n);
      key[n] = '\0';
      p += n;
      cur = json_is_object(cur) ? json_object_get(cur, key) : NULL;
    } else if (*p == '[' && p[1] == '"') {
      p += 2;
      size_t n = 0;
      while (*p != '\0' && *p != '"') {
        if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
          p++;
        if (n + 1 >= sizeof key)
          return kf_err_set(err, KF_ERR_INVALID, "JSON path key too long");
        key[n++] = *p++;
      }
      key[n] = '\0';
      if (p[0] != '"' || p[1] != ']')
        return kf_err_set(err, KF_ERR_INVALID,
                          "JSON path \"%.100s\": expected '\"]' after a quoted key", path);
      p += 2;
      cur = json_is_object(cur) ? json_object_get(cur, key) : NULL;
    } else if (*p == '[') {
      p++;
      bool neg = *p == '-';
      if (neg)
        p++;
      size_t idx = 0;
      size_t digits = 0;
      while (*p >= '0' && *p <= '9') {
        if (idx > 100000000)
          return kf_err_set(err, KF_ERR_INVALID, "JSON path index too large");
        idx = idx * 10 + (size_t)(*p - '0');
        p++;
        digits++;
      }
      if (digits == 0 || *p != ']')
        return kf_err_set(err, KF_ERR_INVALID,
                          "JSON path \"%.100s\": expected [N], [-N] or [\"key\"]", path);
      p++;
      if (!json_is_array(cur)) {
        cur = NULL;
      } else {
        size_t size = json_array_size(cur);
        if (neg)
          cur = idx >= 1 && idx <= size ? json_array_get(cur, size - idx) : NULL;
        else
          cur = idx < size ? json_array_get(cur, idx) : NULL;
      }
    } else {
      return kf_err_set(err, KF_ERR_INVALID, "JSON path \"%.100s\": unexpected '%c'", path, *p);
    }
  }
  *out = (json_t *)cur;
  return KF_OK;
}
