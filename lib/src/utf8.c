/* utf8.c: strict UTF-8 decoding (RFC 3629), see kf/utf8.h. */
#include "kf/utf8.h"

size_t kf_utf8_decode(const char *s, size_t len, uint32_t *cp) {
  const unsigned char *u = (const unsigned char *)s;
  if (len == 0)
    return 0;
  unsigned char c = u[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t need;
  uint32_t value, min;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 2;
    value = c & 0x1Fu;
    min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 3;
    value = c & 0x0Fu;
    min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 4;
    value = c & 0x07u;
    min = 0x10000;
  } else {
    return 0; /* Continuation byte, overlong lead (C0, C1) or out of range. */
  }
  if (len < need)
    return 0;
  for (size_t i = 1; i < need; i++) {
    if ((u[i] & 0xC0u) != 0x80u)
      return 0;
    value = (value << 6) | (u[i] & 0x3Fu);
  }
  if (value < min || value > 0x10FFFFu || (value >= 0xD800u && value <= 0xDFFFu))
    return 0;
  *cp = value;
  return need;
}

bool kf_utf8_valid(const char *s, size_t len) {
  return kf_utf8_count(s, len) != (size_t)-1;
}

size_t kf_utf8_count(const char *s, size_t len) {
  size_t count = 0;
  size_t i = 0;
  while (i < len) {
    uint32_t cp;
    size_t n = kf_utf8_decode(s + i, len - i, &cp);
    if (n == 0)
      return (size_t)-1;
    i += n;
    count++;
  }
  return count;
}

size_t kf_utf8_prefix_len(const char *s, size_t len, size_t max) {
  size_t i = 0;
  for (size_t count = 0; count < max && i < len; count++) {
    uint32_t cp;
    size_t n = kf_utf8_decode(s + i, len - i, &cp);
    if (n == 0)
      break;
    i += n;
  }
  return i;
}

size_t kf_utf8_encode(uint32_t cp, char *out) {
  unsigned char *o = (unsigned char *)out;
  if (cp < 0x80) {
    o[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (unsigned char)(0xC0 | (cp >> 6));
    o[1] = (unsigned char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp >= 0xD800 && cp <= 0xDFFF)
    return 0;
  if (cp < 0x10000) {
    o[0] = (unsigned char)(0xE0 | (cp >> 12));
    o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp & 0x3F));
    return 3;
  }
  if (cp <= 0x10FFFF) {
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
  }
  return 0;
}
