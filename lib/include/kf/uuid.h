/*
 * uuid.h: random (version 4) UUIDs from libsodium's CSPRNG, and validation.
 *
 * Ownership: nothing here allocates; results go to caller-owned buffers of the
 * documented sizes.
 */
#ifndef KF_UUID_H
#define KF_UUID_H

#include <stdbool.h>
#include <stddef.h>

#define KF_UUID_STR_LEN 36

/* Write a lower-case canonical UUID v4 plus NUL into out (37 bytes). */
void kf_uuid_v4(char out[KF_UUID_STR_LEN + 1]);
/* True for a canonical 8-4-4-4-12 hex UUID (any version, either case). */
bool kf_uuid_is_canonical(const char *s);
/* Write 2*len lower-case hex digits plus NUL of len random bytes into out. */
void kf_random_hex(char *out, size_t len);

#endif
