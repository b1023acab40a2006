/* digest.c: hex SHA-256 digests with libsodium (see kf/digest.h). */
#include "kf/digest.h"

#include <sodium.h>

_Static_assert(KF_SHA256_HEX == crypto_hash_sha256_BYTES * 2 + 1, "a SHA-256 is 32 bytes");

void kf_sha256_hex(const void *data, size_t len, char out[KF_SHA256_HEX]) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, data, len);
  sodium_bin2hex(out, KF_SHA256_HEX, digest, sizeof digest);
}
