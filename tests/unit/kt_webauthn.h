/*
 * kt_webauthn.h: WebAuthn answers for the server's unit tests, made here
 * from parts (an EC P-256 key and ECDSA signatures with OpenSSL, the
 * attestationObject and COSE key with libcbor, the authenticatorData byte by
 * byte), with a knob for every way a test wants them wrong. It shares no code
 * with the server it tests nor with the harness's own authenticator.
 *
 * Ownership: a kt_wa_key owns its OpenSSL key (kt_wa_key_release); a JSON
 * credential returned is the caller's (json_decref); knob strings are
 * borrowed for the call.
 */
#ifndef KT_WEBAUTHN_H
#define KT_WEBAUTHN_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kf/error.h"

#define KT_WA_RP_ID "127.0.0.1"
#define KT_WA_ORIGIN "http://127.0.0.1:8480"
#define KT_WA_ID_MAX 2048

/* A credential as an authenticator holds it: its key, its id and its counter. */
typedef struct kt_wa_key {
  EVP_PKEY *key;
  unsigned char id[KT_WA_ID_MAX];
  size_t id_len;
  uint32_t counter; /* The last counter claimed; the next assertion claims counter + 1. */
} kt_wa_key;

/* A P-256 key with a random credential id of id_len bytes (at most KT_WA_ID_MAX). */
kf_rc kt_wa_key_init(kt_wa_key *k, size_t id_len);
void kt_wa_key_release(kt_wa_key *k);

/*
 * What one answer looks like; a zeroed struct (after kt_wa_knobs_init) is a
 * correct answer for challenge at KT_WA_ORIGIN / KT_WA_RP_ID.
 */
typedef struct kt_wa_knobs {
  const unsigned char *challenge;
  size_t challenge_len;
  const char *type;        /* NULL: webauthn.create / webauthn.get. */
  const char *origin;      /* NULL: KT_WA_ORIGIN. */
  bool cross_origin;       /* crossOrigin: true. */
  const char *top_origin;  /* A topOrigin member. */
  const char *rp_id;       /* Whose hash the authData carries; NULL: KT_WA_RP_ID. */
  unsigned flags;          /* The flags byte; kt_wa_knobs_init sets UP, UV (and AT at create). */
  bool no_attested_data;   /* Leave out the attested credential data (with AT as flags say). */
  size_t trailing;         /* Zero bytes appended to the authData. */
  size_t cut;              /* Bytes cut from the end of the authData. */
  const char *fmt;         /* NULL: "none". */
  bool packed;             /* A packed self attestation (fmt "packed" unless fmt says). */
  bool att_stmt_not_empty; /* none with {"x": 1} as attStmt. */
  int64_t packed_alg;      /* 0: the key's (-7). */
  int64_t cose_alg;        /* The alg in the COSE key; 0: -7. */
  uint32_t counter;        /* Assertions, with counter_set: the counter to claim. */
  bool counter_set;        /* Otherwise the key's next (counter + 1). */
  bool flip_signature;     /* One bit of the signature flipped. */
  EVP_PKEY *sign_with;     /* Sign with another key. */
  bool edit_client_data;   /* Change the clientDataJSON after signing. */
  const unsigned char *user_handle; /* Assertions: the userHandle; NULL leaves it out. */
  size_t user_handle_len;
  const char *raw_id_text; /* Use this rawId/id text instead of the key's id. */
} kt_wa_knobs;

void kt_wa_knobs_init(kt_wa_knobs *kn, const unsigned char *challenge, size_t len, bool create);

/* A RegistrationResponseJSON of k's credential as kn says (*out, caller's). */
kf_rc kt_wa_create(const kt_wa_key *k, const kt_wa_knobs *kn, json_t **out);
/* An AuthenticationResponseJSON by k as kn says; k's counter moves on. */
kf_rc kt_wa_get(kt_wa_key *k, const kt_wa_knobs *kn, json_t **out);

/* base64url without padding of n bytes into out (size for it: 4 * n / 3 + 4). */
void kt_wa_b64url(const unsigned char *bytes, size_t n, char *out, size_t size);

#endif
