/*
 * digest.h: hex SHA-256 digests (libsodium), what the server keeps instead of
 * a secret token or a name it must not store in the clear.
 *
 * Ownership: nothing here allocates; the digest goes to a caller-owned buffer
 * of KF_SHA256_HEX bytes.
 */
#ifndef KF_DIGEST_H
#define KF_DIGEST_H

#include <stddef.h>

/* 64 lower-case hex digits and a NUL. */
#define KF_SHA256_HEX (32 * 2 + 1)

/* The SHA-256 of the len bytes at data, in lower-case hex, into out. */
void kf_sha256_hex(const void *data, size_t len, char out[KF_SHA256_HEX]);

#endif
