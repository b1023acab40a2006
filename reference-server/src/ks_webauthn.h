/*
 * ks_webauthn.h: WebAuthn relying-party verification (PK-03, PK-04), pure:
 * no HTTP, no database. A ceremony is parsed first (the credential JSON, its
 * base64url members, the clientDataJSON with jansson, the attestationObject
 * with libcbor, the authenticatorData by hand), then judged by a table of
 * checks in the order of WebAuthn L3 section 7.1 (registration) or 7.2
 * (authentication). The first check that fails is the verdict, so every
 * failed check has its own result (KS_WA_RESULTS) and when two fail the
 * answer is the earlier one in section 7 order.
 *
 * What needs the store (is the challenge outstanding, is the credential
 * known, whose is the user handle) the caller looks up between parsing and
 * verifying and hands in as facts. Signatures are verified with libfido2
 * (fido_assert_verify for assertions; es256_pk_to_EVP_PKEY for the packed
 * self attestation, which fido_cred_verify cannot take apart from the rest of
 * a libfido2 credential); libfido2 never sees the clientDataJSON, only its
 * hash, and the flags and rpIdHash are judged by hand for both ceremonies.
 *
 * srv (may be NULL) is only read for the fault catalogue (test mode).
 * Ownership: a ks_wa_registration / ks_wa_assertion owns everything it
 * parsed (release it with its _release); pointers into it are borrowed.
 */
#ifndef KS_WEBAUTHN_H
#define KS_WEBAUTHN_H

#include <cbor.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kf/error.h"
#include "ks_server.h"

/* X(name, the contract's error code): one row per check that can fail, in no particular order. */
#define KS_WA_RESULTS(X)                                                                           \
  X(OK, "OK")                                                                                      \
  X(CREDENTIAL_MALFORMED, "PK_CREDENTIAL_MALFORMED")                                               \
  X(CLIENT_DATA_TYPE, "PK_CLIENT_DATA_TYPE")                                                       \
  X(CHALLENGE_UNKNOWN, "PK_CHALLENGE_UNKNOWN")                                                     \
  X(CHALLENGE_EXPIRED, "PK_CHALLENGE_EXPIRED")                                                     \
  X(ORIGIN, "PK_ORIGIN")                                                                           \
  X(CROSS_ORIGIN, "PK_CROSS_ORIGIN")                                                               \
  X(TOP_ORIGIN, "PK_TOP_ORIGIN")                                                                   \
  X(AUTH_DATA_MALFORMED, "PK_AUTH_DATA_MALFORMED")                                                 \
  X(RP_ID_HASH, "PK_RP_ID_HASH")                                                                   \
  X(USER_PRESENCE, "PK_USER_PRESENCE")                                                             \
  X(USER_VERIFICATION, "PK_USER_VERIFICATION")                                                     \
  X(BACKUP_STATE, "PK_BACKUP_STATE")                                                               \
  X(ATTESTED_DATA_MISSING, "PK_ATTESTED_DATA_MISSING")                                             \
  X(ALGORITHM, "PK_ALGORITHM")                                                                     \
  X(ATTESTATION_FORMAT, "PK_ATTESTATION_FORMAT")                                                   \
  X(ATTESTATION_STATEMENT, "PK_ATTESTATION_STATEMENT")                                             \
  X(CREDENTIAL_ID_LENGTH, "PK_CREDENTIAL_ID_LENGTH")                                               \
  X(CREDENTIAL_ID_TAKEN, "PK_CREDENTIAL_ID_TAKEN")                                                 \
  X(CREDENTIAL_UNKNOWN, "PK_CREDENTIAL_UNKNOWN")                                                   \
  X(USER_HANDLE, "PK_USER_HANDLE")                                                                 \
  X(SIGNATURE, "PK_SIGNATURE")                                                                     \
  X(SIGN_COUNT, "PK_SIGN_COUNT")

typedef enum ks_wa_result {
#define KS_X_WA_ENUM(name, code) KS_WA_##name,
  KS_WA_RESULTS(KS_X_WA_ENUM)
#undef KS_X_WA_ENUM
      KS_WA_RESULT_COUNT
} ks_wa_result;

/* The contract's code of r ("PK_ORIGIN"); "OK" for KS_WA_OK. */
const char *ks_wa_result_code(ks_wa_result r);

/* authenticatorData flags (WebAuthn section 6.1). */
#define KS_WA_FLAG_UP 0x01u
#define KS_WA_FLAG_UV 0x04u
#define KS_WA_FLAG_BE 0x08u
#define KS_WA_FLAG_BS 0x10u
#define KS_WA_FLAG_AT 0x40u
#define KS_WA_FLAG_ED 0x80u

#define KS_WA_COSE_ES256 (-7)
/* The longest credential id a relying party accepts (section 7.1 step 25). */
#define KS_WA_CRED_ID_MAX 1023
/* Caps on what a credential may carry; far above what any authenticator sends. */
#define KS_WA_CHALLENGE_MAX 64
#define KS_WA_CLIENT_DATA_MAX 8192
#define KS_WA_BINARY_MAX 16384
/* A user handle is at most 64 bytes (section 5.4.3). */
#define KS_WA_USER_HANDLE_MAX 64

/* What the relying party expects, the same for every ceremony of the server. */
typedef struct ks_wa_rp {
  const char *rp_id;  /* The host of the public URL: "127.0.0.1". */
  const char *origin; /* The public URL's origin: "http://127.0.0.1:8480". */
  int64_t now;        /* The request's clock (challenge expiry). */
} ks_wa_rp;

/* The clientDataJSON, parsed (section 5.8.1). */
typedef struct ks_wa_client_data {
  json_t *root;             /* Owned. */
  const json_t *type;       /* A string, borrowed from root (it may hold NULs). */
  const json_t *origin;     /* A string, borrowed from root. */
  const json_t *top_origin; /* A string, or NULL when absent. */
  bool cross_origin;
  bool challenge_decoded; /* The challenge member is base64url of at most KS_WA_CHALLENGE_MAX. */
  unsigned char challenge[KS_WA_CHALLENGE_MAX];
  size_t challenge_len;
  unsigned char hash[32]; /* SHA-256 of the clientDataJSON bytes. */
} ks_wa_client_data;

/* The authenticatorData, parsed by hand; pointers borrow from its bytes. */
typedef struct ks_wa_auth_data {
  bool well_formed; /* Nothing truncated and the CBOR parts decode. */
  size_t trailing;  /* Bytes after the end of a well-formed authenticatorData. */
  const unsigned char *raw;
  size_t len;
  const unsigned char *rp_id_hash; /* 32 bytes. */
  unsigned flags;
  uint32_t sign_count;
  bool attested; /* AT set and its attested credential data parsed. */
  const unsigned char *aaguid;
  const unsigned char *cred_id;
  size_t cred_id_len;
  const unsigned char *cose_key; /* The credential public key's CBOR bytes. */
  size_t cose_key_len;
} ks_wa_auth_data;

/* A RegistrationResponseJSON, parsed. */
typedef struct ks_wa_registration {
  bool malformed; /* KS_WA_CREDENTIAL_MALFORMED: the rest is not to be read. */
  unsigned char *raw_id;
  size_t raw_id_len;
  unsigned char *client_data_json;
  size_t client_data_len;
  unsigned char *att_obj;
  size_t att_obj_len;
  cbor_item_t *att;            /* The attestationObject map (owned). */
  const cbor_item_t *att_stmt; /* Borrowed from att. */
  char fmt[32]; /* The fmt text; a longer one is kept cut (no format is that long). */
  bool fmt_cut; /* fmt was longer than fmt holds. */
  ks_wa_client_data cd;
  ks_wa_auth_data ad;
} ks_wa_registration;

/* What the store says about a registration. */
typedef struct ks_wa_reg_facts {
  bool challenge_found; /* An outstanding "create" challenge of this session. */
  int64_t challenge_expires_at;
  bool cred_id_taken; /* ad.cred_id is registered to an account. */
} ks_wa_reg_facts;

/*
 * Parse credential (the RegistrationResponseJSON object, may be NULL) into
 * reg; reg->malformed says whether its shape failed. KF_ERR_NOMEM only.
 */
kf_rc ks_wa_registration_parse(const json_t *credential, ks_wa_registration *reg, kf_err *err);
void ks_wa_registration_release(ks_wa_registration *reg);
/* Judge reg in section 7.1 order; KS_WA_OK when every check passed. */
ks_wa_result ks_wa_registration_verify(const ks_server *srv, const ks_wa_rp *rp,
                                       const ks_wa_registration *reg, const ks_wa_reg_facts *f);
/* The COSE algorithm of a verified registration's credential key (-7). */
int64_t ks_wa_registration_alg(const ks_wa_registration *reg);

/* An AuthenticationResponseJSON, parsed. */
typedef struct ks_wa_assertion {
  bool malformed;
  unsigned char *raw_id;
  size_t raw_id_len;
  unsigned char *client_data_json;
  size_t client_data_len;
  unsigned char *auth_raw;
  size_t auth_len;
  unsigned char *sig;
  size_t sig_len;
  bool has_user_handle;
  unsigned char user_handle[KS_WA_USER_HANDLE_MAX];
  size_t user_handle_len;
  ks_wa_client_data cd;
  ks_wa_auth_data ad;
} ks_wa_assertion;

/* What the store says about an assertion. */
typedef struct ks_wa_login_facts {
  bool challenge_found; /* An outstanding "get" challenge. */
  int64_t challenge_expires_at;
  bool cred_found; /* raw_id names a stored credential ... */
  int64_t cred_account_id;
  const unsigned char *cose_key; /* ... with this key (borrowed), */
  size_t cose_key_len;
  int64_t stored_sign_count; /* this counter */
  bool backup_eligible;      /* and BE as it was registered. */
  bool handle_found;         /* user_handle names an account ... */
  int64_t handle_account_id; /* ... this one. */
} ks_wa_login_facts;

kf_rc ks_wa_assertion_parse(const json_t *credential, ks_wa_assertion *as, kf_err *err);
void ks_wa_assertion_release(ks_wa_assertion *as);
/* Judge as in section 7.2 order; KS_WA_OK when every check passed. */
ks_wa_result ks_wa_assertion_verify(const ks_server *srv, const ks_wa_rp *rp,
                                    const ks_wa_assertion *as, const ks_wa_login_facts *f);

/* Base64url without padding of n bytes into out (caller frees with kf_free); NULL: no memory. */
char *ks_wa_b64url(const unsigned char *bytes, size_t n);
/* Decode base64url without padding (strict) into out of cap bytes; false when it is not. */
bool ks_wa_b64url_decode(const char *text, size_t text_len, unsigned char *out, size_t cap,
                         size_t *len);

#endif
