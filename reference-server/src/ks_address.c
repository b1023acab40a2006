/*
 * ks_address.c: e-mail address normalisation and validation (ACC-11).
 */
#include "ks_address.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

/* Characters RFC 5322 does not allow unquoted in a local part (plus space). */
static bool address_local_char_ok(unsigned char c) {
  if (c <= 0x20 || c >= 0x7F)
    return false;
  return strchr("<>()[]\\,;:\"@", c) == NULL;
}

/*
 * Whether a control character starts at raw[i]: C0 (below U+0020, tab, CR and
 * LF among them), DEL, or C1 (U+0080 to U+009F, NEL among them, as UTF-8
 * C2 80 to C2 9F), which mail software may also take for a line break.
 */
static bool address_control_at(const char *raw, size_t len, size_t i) {
  unsigned char c = (unsigned char)raw[i];
  if (c < 0x20 || c == 0x7F)
    return true;
  return c == 0xC2 && i + 1 < len && (unsigned char)raw[i + 1] >= 0x80 &&
         (unsigned char)raw[i + 1] <= 0x9F;
}

static bool address_ldh(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

bool ks_address_domain_ok(const char *d, size_t len) {
  assert(d != NULL || len == 0);
  if (len == 0 || len > 253)
    return false;
  size_t dots = 0;
  size_t label_start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i == len || d[i] == '.') {
      size_t label_len = i - label_start;
      if (label_len == 0 || label_len > 63)
        return false;
      if (d[label_start] == '-' || d[i - 1] == '-')
        return false;
      if (i < len)
        dots++;
      label_start = i + 1;
      continue;
    }
    if (!address_ldh((unsigned char)d[i]))
      return false;
  }
  return dots >= 1;
}

ks_address_status ks_address_normalise(const char *raw, size_t len, char *out, size_t out_size) {
  assert(out != NULL && out_size > KS_ADDRESS_MAX);
  assert(raw != NULL || len == 0);
  out[0] = '\0';
  /* Control characters are checked on the raw input so that a trailing CR or
   * LF is reported as such rather than trimmed away or called invalid. */
  for (size_t i = 0; i < len; i++) {
    if (address_control_at(raw, len, i))
      return KS_ADDRESS_CONTROL;
  }
  size_t start = 0, end = len;
  while (start < end && raw[start] == ' ')
    start++;
  while (end > start && raw[end - 1] == ' ')
    end--;
  size_t n = end - start;
  if (n == 0)
    return KS_ADDRESS_EMPTY;
  if (n > KS_ADDRESS_MAX)
    return KS_ADDRESS_INVALID;
  const char *a = raw + start;
  const char *at = memchr(a, '@', n);
  if (at == NULL)
    return KS_ADDRESS_INVALID;
  size_t local_len = (size_t)(at - a);
  if (memchr(at + 1, '@', n - local_len - 1) != NULL)
    return KS_ADDRESS_INVALID;
  if (local_len == 0 || local_len > KS_ADDRESS_LOCAL_MAX)
    return KS_ADDRESS_INVALID;
  for (size_t i = 0; i < local_len; i++) {
    if (!address_local_char_ok((unsigned char)a[i]))
      return KS_ADDRESS_INVALID;
  }
  /* Dots may separate atoms but not start, end or double up (RFC 5322 dot-atom). */
  if (a[0] == '.' || a[local_len - 1] == '.')
    return KS_ADDRESS_INVALID;
  for (size_t i = 1; i < local_len; i++) {
    if (a[i] == '.' && a[i - 1] == '.')
      return KS_ADDRESS_INVALID;
  }
  const char *domain = at + 1;
  size_t domain_len = n - local_len - 1;
  if (!ks_address_domain_ok(domain, domain_len))
    return KS_ADDRESS_INVALID;
  memcpy(out, a, n);
  out[n] = '\0';
  for (size_t i = local_len + 1; i < n; i++) {
    if (out[i] >= 'A' && out[i] <= 'Z')
      out[i] = (char)(out[i] - 'A' + 'a');
  }
  return KS_ADDRESS_OK;
}

static const ks_field address_fields[] = {
#define ADDRESS_X_FIELD(name, field) field,
    KS_ADDRESS_STATUSES(ADDRESS_X_FIELD)
#undef ADDRESS_X_FIELD
};

ks_field ks_address_status_field(ks_address_status status) {
  assert((size_t)status < sizeof address_fields / sizeof address_fields[0]);
  return address_fields[status];
}

const char *ks_address_status_code(ks_address_status status) {
  ks_field f = ks_address_status_field(status);
  return f == KS_FIELD_COUNT ? NULL : ks_field_row_get(f)->code;
}

const char *ks_address_status_message(ks_address_status status) {
  ks_field f = ks_address_status_field(status);
  return f == KS_FIELD_COUNT ? NULL : ks_field_row_get(f)->message;
}
