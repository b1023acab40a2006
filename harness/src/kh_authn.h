/*
 * kh_authn.h: the harness's virtual passkey authenticator (WebAuthn L3).
 *
 * It plays authenticator and client at once: given the options a relying
 * party sent (PublicKeyCredentialCreationOptionsJSON or ...RequestOptionsJSON,
 * bare or inside {"publicKey": ...}), it makes the RegistrationResponseJSON
 * or AuthenticationResponseJSON a browser would send back: an ES256 (P-256)
 * key made with OpenSSL, attestation "none" or "packed" self, the
 * authenticator data with UP and UV set, a sign counter, base64url without
 * padding, CBOR made with libcbor.
 *
 * The authenticator keeps no state of its own: a credential (key, id, user
 * handle, RP id, counter, the challenge it signed last) is a JSON text that
 * the caller stores (the passkey step keeps it in a scenario variable), so
 * scenarios never share one and need no lock.
 *
 * Knobs (KH_AUTHN_FAULTS) break exactly one thing each, for the negative
 * cases of WebAuthn §7.1 and §7.2; some take an argument (another
 * credential's JSON, options JSON, an RP id or an origin).
 */
#ifndef KH_AUTHN_H
#define KH_AUTHN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "kf/error.h"

/* Which ceremony a knob applies to. */
#define KH_AUTHN_CREATE 1u
#define KH_AUTHN_GET 2u
#define KH_AUTHN_BOTH (KH_AUTHN_CREATE | KH_AUTHN_GET)

/* Whether a knob takes an argument. */
typedef enum kh_authn_arg {
  KH_AUTHN_ARG_NONE,
  KH_AUTHN_ARG_OPTIONAL,
  KH_AUTHN_ARG_REQUIRED
} kh_authn_arg;

/*
 * The knobs: enum name, the name scenarios write, the ceremonies it applies
 * to, its argument, what it breaks (one line, for docs and hints). The apply
 * function of each is kh_authn_fault_<name> in kh_authn.c.
 */
#define KH_AUTHN_FAULTS(X)                                                                         \
  /* Client data (§5.8.1). */                                                                     \
  X(TYPE_WRONG, "type-wrong", KH_AUTHN_BOTH, KH_AUTHN_ARG_NONE,                                    \
    "clientData type of the other ceremony (webauthn.get in a create)")                            \
  X(CHALLENGE_UNKNOWN, "challenge-unknown", KH_AUTHN_BOTH, KH_AUTHN_ARG_NONE,                      \
    "a random 32-byte challenge the RP never issued")                                              \
  X(CHALLENGE_STALE, "challenge-stale", KH_AUTHN_BOTH, KH_AUTHN_ARG_REQUIRED,                      \
    "the challenge of earlier options (the argument), expired on the clock")                       \
  X(CHALLENGE_REUSED, "challenge-reused", KH_AUTHN_BOTH, KH_AUTHN_ARG_OPTIONAL,                    \
    "the challenge a credential (the argument; in a get by default this one) signed last")         \
  X(CHALLENGE_FOREIGN, "challenge-foreign", KH_AUTHN_BOTH, KH_AUTHN_ARG_REQUIRED,                  \
    "the challenge of options issued to another session (the argument)")                           \
  X(ORIGIN_WRONG, "origin-wrong", KH_AUTHN_BOTH, KH_AUTHN_ARG_OPTIONAL,                            \
    "origin of another site (default http://evil.konform.test)")                                   \
  X(CROSS_ORIGIN, "cross-origin", KH_AUTHN_BOTH, KH_AUTHN_ARG_NONE,                                \
    "crossOrigin true (made in a cross-origin iframe)")                                            \
  X(TOP_ORIGIN, "top-origin", KH_AUTHN_BOTH, KH_AUTHN_ARG_OPTIONAL,                                \
    "a topOrigin member (default http://evil.konform.test)")                                       \
  X(CLIENT_DATA_EDITED, "client-data-edited", KH_AUTHN_BOTH, KH_AUTHN_ARG_NONE,                    \
    "clientDataJSON changed after signing (a member added; no signature covers it with none)")     \
  /* Authenticator data (§6.1). */                                                                \
  X(RP_ID_OTHER, "rp-id-other", KH_AUTHN_BOTH, KH_AUTHN_ARG_OPTIONAL,                              \
    "rpIdHash of another RP id (default evil.konform.test)")                                       \
  X(UP_CLEAR, "up-clear", KH_AUTHN_BOTH, KH_AUTHN_ARG_NONE, "flag UP (user present) clear")        \
  X(UV_CLEAR, "uv-clear", KH_AUTHN_BOTH, KH_AUTHN_ARG_NONE, "flag UV (user verified) clear")       \
  X(BS_WITHOUT_BE, "bs-without-be", KH_AUTHN_BOTH, KH_AUTHN_ARG_NONE,                              \
    "flag BS (backed up) set while BE (backup eligible) is clear")                                 \
  X(AT_MISSING, "at-missing", KH_AUTHN_CREATE, KH_AUTHN_ARG_NONE,                                  \
    "flag AT clear and no attested credential data")                                               \
  X(TRUNCATED, "truncated", KH_AUTHN_BOTH, KH_AUTHN_ARG_NONE,                                      \
    "authenticator data cut short (10 bytes of the key in a create, below 37 bytes in a get)")     \
  X(TRAILING_BYTES, "trailing-bytes", KH_AUTHN_BOTH, KH_AUTHN_ARG_NONE,                            \
    "4 bytes after the authenticator data, flag ED clear")                                         \
  /* Attestation (§6.5, §8.2, §8.7). */                                                         \
  X(FMT_UNKNOWN, "fmt-unknown", KH_AUTHN_CREATE, KH_AUTHN_ARG_NONE,                                \
    "attestation format \"konform-unknown\"")                                                      \
  X(FMT_WRONG_CASE, "fmt-wrong-case", KH_AUTHN_CREATE, KH_AUTHN_ARG_NONE,                          \
    "attestation format \"Packed\" with a valid packed statement")                                 \
  X(NONE_WITH_STATEMENT, "none-with-statement", KH_AUTHN_CREATE, KH_AUTHN_ARG_NONE,                \
    "format none with a non-empty attStmt (alg and sig)")                                          \
  X(PACKED_WRONG_ALG, "packed-wrong-alg", KH_AUTHN_CREATE, KH_AUTHN_ARG_NONE,                      \
    "packed statement alg -257 (RS256) for an ES256 credential")                                   \
  X(ALG_NOT_OFFERED, "alg-not-offered", KH_AUTHN_CREATE, KH_AUTHN_ARG_NONE,                        \
    "the credential public key labelled alg -8 (EdDSA), which the options did not offer")          \
  X(CRED_ID_LONG, "cred-id-long", KH_AUTHN_CREATE, KH_AUTHN_ARG_NONE,                              \
    "a credential id of 1024 bytes (the limit is 1023)")                                           \
  X(CRED_ID_DUPLICATE, "cred-id-duplicate", KH_AUTHN_CREATE, KH_AUTHN_ARG_REQUIRED,                \
    "the credential id of an earlier credential (the argument), with a new key")                   \
  /* Signature. */                                                                                 \
  X(SIG_BIT_FLIPPED, "sig-bit-flipped", KH_AUTHN_BOTH, KH_AUTHN_ARG_NONE,                          \
    "one bit of the signature flipped (a create needs fmt packed)")                                \
  X(SIG_OTHER_KEY, "sig-other-key", KH_AUTHN_BOTH, KH_AUTHN_ARG_NONE,                              \
    "the signature made with another key (a create needs fmt packed)")                             \
  /* Ownership and counter (§7.2). */                                                             \
  X(USER_HANDLE_OTHER, "user-handle-other", KH_AUTHN_GET, KH_AUTHN_ARG_REQUIRED,                   \
    "userHandle of another account: that of the credential given as the argument")                 \
  X(COUNTER_BACK, "counter-back", KH_AUTHN_GET, KH_AUTHN_ARG_NONE,                                 \
    "sign counter one below the last one sent (a cloned authenticator)")                           \
  X(COUNTER_STILL, "counter-still", KH_AUTHN_GET, KH_AUTHN_ARG_NONE,                               \
    "sign counter equal to the last one sent")

typedef enum kh_authn_fault {
#define KH_AUTHN_FAULT_ENUM(name, text, cer, arg, what) KH_AUTHN_FAULT_##name,
  KH_AUTHN_FAULTS(KH_AUTHN_FAULT_ENUM)
#undef KH_AUTHN_FAULT_ENUM
      KH_AUTHN_FAULT_COUNT
} kh_authn_fault;

/* A knob's row, for the step's parser and the docs. */
typedef struct kh_authn_fault_def {
  kh_authn_fault fault;
  const char *name;
  unsigned ceremonies; /* KH_AUTHN_CREATE, KH_AUTHN_GET or both. */
  kh_authn_arg arg;
  const char *what;
} kh_authn_fault_def;

/* The row named by the len bytes at name, or NULL. */
const kh_authn_fault_def *kh_authn_fault_find(const char *name, size_t len);
/* The row of fault (never NULL for a valid fault). */
const kh_authn_fault_def *kh_authn_fault_get(kh_authn_fault fault);
/* Every knob name, NULL-terminated (for did-you-mean hints). */
const char *const *kh_authn_fault_names(void);

/* At most this many knobs in one ceremony. */
#define KH_AUTHN_MAX_FAULTS 8

/* A knob as asked for: its row and its argument (NULL when none; borrowed). */
typedef struct kh_authn_knob {
  kh_authn_fault fault;
  const char *arg;
} kh_authn_knob;

/* What a ceremony is asked to do. Every pointer is borrowed. */
typedef struct kh_authn_params {
  const char *origin; /* The client's origin, "http://127.0.0.1:8480" (required). */
  /* The RP id when the options name none (rp.id / rpId); "127.0.0.1". Required. */
  const char *rp_id;
  bool rp_id_forced; /* rp_id wins over the options' RP id. */
  bool packed;       /* create: attestation "packed" self rather than "none". */
  const kh_authn_knob *knobs;
  size_t knobs_len;
} kh_authn_params;

/* What a ceremony made. Owned; release with kh_authn_result_release. */
typedef struct kh_authn_result {
  char *response;    /* RegistrationResponseJSON / AuthenticationResponseJSON, compact. */
  char *credential;  /* The credential's JSON after the ceremony: store it for the next one. */
  char *client_data; /* The clientDataJSON as sent (decoded), for people. */
} kh_authn_result;

void kh_authn_result_init(kh_authn_result *res);
void kh_authn_result_release(kh_authn_result *res);

/*
 * Make a new credential for options (creation options): a fresh key, a
 * random 32-byte credential id, the user handle of options.user.id. Fails
 * with KF_ERR_INVALID (message in err) when the options lack a challenge or
 * user.id, do not offer ES256 (-7), or a knob's argument is unusable, as a
 * browser would refuse such a call; KF_ERR_UNSUPPORTED when a knob does not
 * apply (a signature knob with fmt none).
 */
kf_rc kh_authn_create(const json_t *options, const kh_authn_params *p, kh_authn_result *res,
                      kf_err *err);

/*
 * Sign an assertion for options (request options) with the credential
 * (its JSON, as a create or an earlier get left it). The counter goes up by
 * one unless a knob says otherwise; res->credential holds the new count and
 * the challenge signed. KF_ERR_INVALID when the options lack a challenge,
 * their allowCredentials is not empty and does not list the credential, or
 * the credential JSON is not one this authenticator made.
 */
kf_rc kh_authn_get(const json_t *options, const char *credential, const kh_authn_params *p,
                   kh_authn_result *res, kf_err *err);

/* Base64url without padding of len bytes into a new string (caller kf_frees), or NULL. */
char *kh_authn_b64url(const unsigned char *data, size_t len);
/*
 * Decode base64url without padding (text, text_len) into out (cap bytes);
 * KF_ERR_INVALID when it is not that (padding, other alphabet), KF_ERR_LIMIT
 * when it does not fit.
 */
kf_rc kh_authn_b64url_decode(const char *text, size_t text_len, unsigned char *out, size_t cap,
                             size_t *out_len);

#endif
