/* uuid.c: random UUIDs and hex from libsodium's CSPRNG (see kf/uuid.h). */
#include "kf/uuid.h"

#include <sodium.h>
#include <string.h>

static const char hex_digits[] = "0123456789abcdef";

void kf_uuid_v4(char out[KF_UUID_STR_LEN + 1]) {
  unsigned char b[16];
  randombytes_buf(b, sizeof b);
  b[6] = (unsigned char)((b[6] & 0x0F) | 0x40); /* Version 4. */
  b[8] = (unsigned char)((b[8] & 0x3F) | 0x80); /* RFC 4122 variant. */
  size_t o = 0;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      out[o++] = '-';
    out[o++] = hex_digits[b[i] >> 4];
    out[o++] = hex_digits[b[i] & 0x0F];
  }
  out[o] = '\0';
}

bool kf_uuid_is_canonical(const char *s) {
  if (s == NULL || strlen(s) != KF_UUID_STR_LEN)
    return false;
  for (int i = 0; i < KF_UUID_STR_LEN; i++) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-')
        return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

void kf_random_hex(char *out, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned char b;
    randombytes_buf(&b, 1);
    out[2 * i] = hex_digits[b >> 4];
    out[2 * i + 1] = hex_digits[b & 0x0F];
  }
  out[2 * len] = '\0';
}
