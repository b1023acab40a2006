/*
 * kh_totp.h: the harness's authenticator app. It reads an otpauth URI
 * (secret, algorithm, digits, period, issuer and account label) and makes
 * the RFC 6238 code of a Unix time, with its own Base32 and OpenSSL's HMAC,
 * so it shares no code with the reference server (which uses liboath).
 *
 * Scenarios reach it as the generator totp("{{uri}}", offset=N) (a row of
 * KH_GEN_TABLE in kh_gen.c): the code of the step N steps from the
 * scenario clock's current time (the variable clock.now), or from the real
 * time when the scenario has no clock.
 *
 * Ownership: kh_totp_app is plain caller-owned storage with nothing to free;
 * strings are borrowed for the call.
 */
#ifndef KH_TOTP_H
#define KH_TOTP_H

#include <stddef.h>
#include <stdint.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "kh_gen.h"
#include "kh_vars.h"

/* The longest secret the app keeps (RFC 6238's SHA512 seed is 64 bytes). */
#define KH_TOTP_SECRET_MAX 128
/* Room for a code of up to 8 digits and its NUL. */
#define KH_TOTP_CODE_SIZE 9
#define KH_TOTP_TEXT_MAX 256

typedef enum kh_totp_alg { KH_TOTP_SHA1, KH_TOTP_SHA256, KH_TOTP_SHA512 } kh_totp_alg;

typedef struct kh_totp_app {
  unsigned char secret[KH_TOTP_SECRET_MAX];
  size_t secret_len;
  kh_totp_alg alg;                /* algorithm=, SHA1 when absent. */
  unsigned digits;                /* digits=, 6..8, 6 when absent. */
  unsigned period;                /* period=, seconds, 30 when absent. */
  char issuer[KH_TOTP_TEXT_MAX];  /* issuer= (or the label's prefix), "" when none. */
  char account[KH_TOTP_TEXT_MAX]; /* The label's account part, percent-decoded. */
} kh_totp_app;

/*
 * Read an otpauth://totp/ URI into app. KF_ERR_INVALID with a message for
 * anything the app cannot use (another type, no or bad secret, an unknown
 * algorithm, digits outside 6..8, a period of 0).
 */
kf_rc kh_totp_parse_uri(const char *uri, kh_totp_app *app, kf_err *err);

/* The RFC 4648 Base32 text b32 (case and padding free) as bytes into out (cap bytes). */
kf_rc kh_totp_base32_decode(const char *b32, size_t len, unsigned char *out, size_t cap,
                            size_t *out_len, kf_err *err);

/* The code of app at Unix time t into code (KH_TOTP_CODE_SIZE bytes). */
kf_rc kh_totp_code(const kh_totp_app *app, int64_t t, char code[KH_TOTP_CODE_SIZE], kf_err *err);

/* The generator totp(uri, offset=N): the argument check and the code (kh_gen_def). */
kf_rc kh_totp_gen_check(const kh_gen_call *call, kf_err *err);
kf_rc kh_totp_gen(kh_gen_ctx *ctx, const kh_gen_call *call, const kh_vars *vars, kf_buf *out,
                  kf_err *err);

#endif
