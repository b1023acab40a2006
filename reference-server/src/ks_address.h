/*
 * ks_address.h: e-mail address normalisation and validation (ACC-11).
 *
 * An address is trimmed of leading and trailing spaces (U+0020 only),
 * rejected if it holds a control character anywhere (C0, DEL or C1: no header
 * injection), checked for a sensible syntax and stored with its domain in
 * lower case. Any other white space (NBSP U+00A0, U+2000 to U+200A, U+3000,
 * ...) is never trimmed: it is outside the syntax, so EMAIL_INVALID. The
 * local part is kept exactly as given, so "Max@Example.DE" and
 * "Max@example.de" are one account but "max@example.de" is another.
 */
#ifndef KS_ADDRESS_H
#define KS_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

#include "ks_error.h"

/* Longest address accepted, in bytes (RFC 5321 path limit minus the brackets). */
#define KS_ADDRESS_MAX 254
#define KS_ADDRESS_LOCAL_MAX 64

/*
 * X(name, field code): OK; EMPTY, nothing left after trimming; CONTROL, a
 * control character (< 0x20, 0x7F, or U+0080 to U+009F); INVALID, anything
 * else that is not an address.
 */
#define KS_ADDRESS_STATUSES(X)                                                                     \
  X(OK, KS_FIELD_COUNT)                                                                            \
  X(EMPTY, KS_FIELD_EMAIL_REQUIRED)                                                                \
  X(CONTROL, KS_FIELD_EMAIL_CONTROL_CHARACTERS)                                                    \
  X(INVALID, KS_FIELD_EMAIL_INVALID)

typedef enum ks_address_status {
#define KS_X_ADDRESS_ENUM(name, field) KS_ADDRESS_##name,
  KS_ADDRESS_STATUSES(KS_X_ADDRESS_ENUM)
#undef KS_X_ADDRESS_ENUM
} ks_address_status;

/*
 * Normalise the len bytes at raw into out (caller-owned, at least
 * KS_ADDRESS_MAX + 1 bytes). out holds the normalised address only when the
 * result is KS_ADDRESS_OK; otherwise it holds an empty string.
 */
ks_address_status ks_address_normalise(const char *raw, size_t len, char *out, size_t out_size);

/*
 * Whether the len bytes at d are a domain as an address may have one: LDH
 * labels of 1 to 63 bytes without a hyphen at either end, at least one dot, at
 * most 253 bytes. Nothing else passes, so no control character, CR or LF.
 */
bool ks_address_domain_ok(const char *d, size_t len);

/* The catalogue's field code for a status; KS_FIELD_COUNT for KS_ADDRESS_OK. */
ks_field ks_address_status_field(ks_address_status status);
/* The field code for a status ("EMAIL_REQUIRED", ...); NULL for KS_ADDRESS_OK. */
const char *ks_address_status_code(ks_address_status status);
/* The German message for a status; NULL for KS_ADDRESS_OK. */
const char *ks_address_status_message(ks_address_status status);

#endif
