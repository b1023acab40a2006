/*
 * ks_totp.h: the server side of TOTP (TOTP-01..03): secrets, their RFC 4648
 * Base32 form, the otpauth URI an authenticator app reads, the check of a
 * code at the request's time (RFC 6238 through liboath) and the QR code of
 * the URI as SVG (libqrencode). Nothing here touches the database or the
 * request: ks_totp_api.c stores the secrets and says which rule applies.
 *
 * Ownership: strings are borrowed for the call; results go to caller-owned
 * buffers (a kf_buf the caller releases).
 */
#ifndef KS_TOTP_H
#define KS_TOTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kf/buf.h"
#include "kf/error.h"

/* TOTP-01: 160 random bits. */
#define KS_TOTP_SECRET_BYTES 20
/* Room for the Base32 of any secret this module handles, and its NUL. */
#define KS_TOTP_B32_MAX 128
/* The largest secret ks_totp_base32_decode gives back. */
#define KS_TOTP_SECRET_MAX 64
/* TOTP-02: RFC 6238's defaults. */
#define KS_TOTP_DIGITS 6
#define KS_TOTP_PERIOD 30
#define KS_TOTP_ISSUER "Jobcenter.Digital"
/* A QR code's SVG never grows beyond this (the largest QR code is 177 modules wide). */
#define KS_TOTP_SVG_MAX (512u * 1024u)

/* How a code is judged; ks_totp_rule_default gives TOTP-02's. */
typedef struct ks_totp_rule {
  unsigned window; /* Steps either side of the current one that are accepted. */
  int flags;       /* liboath's OATH_TOTP_HMAC_* (0: HMAC-SHA1). */
  bool zero_only;  /* Take only liboath's return 0 as a match (the validate trap, a fault). */
} ks_totp_rule;

/* HMAC-SHA1, window 1, liboath's return read right. */
void ks_totp_rule_default(ks_totp_rule *rule);

/* len random bytes from libsodium into secret. */
void ks_totp_secret_new(unsigned char *secret, size_t len);

/*
 * The RFC 4648 Base32 of len bytes, upper-case and without padding, into out
 * (out_size bytes, KS_TOTP_B32_MAX is enough for KS_TOTP_SECRET_MAX bytes).
 */
kf_rc ks_totp_base32(const unsigned char *secret, size_t len, char *out, size_t out_size,
                     kf_err *err);
/* The bytes of a Base32 text (padding optional, upper or lower case) into out (cap bytes). */
kf_rc ks_totp_base32_decode(const char *b32, unsigned char *out, size_t cap, size_t *len,
                            kf_err *err);

/*
 * Append the otpauth URI of username's secret (Base32 b32) to out:
 * otpauth://totp/Jobcenter.Digital:<username percent-encoded>?secret=...&
 * issuer=Jobcenter.Digital&algorithm=SHA1&digits=6&period=30.
 */
kf_rc ks_totp_uri(const char *username, const char *b32, kf_buf *out, kf_err *err);

/*
 * Judge code (6 digits, the caller checked its form) for secret at now under
 * rule: *match, and the time step it matched (now / 30 plus the offset).
 */
kf_rc ks_totp_verify(const unsigned char *secret, size_t len, int64_t now, const char *code,
                     const ks_totp_rule *rule, bool *match, int64_t *step, kf_err *err);

/* The time step of now (RFC 6238: T0 0, 30 s). */
int64_t ks_totp_step(int64_t now);

/* Whether code is exactly KS_TOTP_DIGITS ASCII digits (len bytes, NULs counted). */
bool ks_totp_code_form(const char *code, size_t len);

/*
 * Append the QR code (error correction level M) of text as an SVG document
 * to out: a white square and one <rect> per run of dark modules, with a
 * quiet zone of 4 modules.
 */
kf_rc ks_totp_qr_svg(const char *text, kf_buf *out, kf_err *err);

#endif
