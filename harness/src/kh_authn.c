/*
 * kh_authn.c: the virtual passkey authenticator (see kh_authn.h).
 *
 * A ceremony first gathers every value it will send into a kh_authn_cer
 * (client data members, flags, counter, credential id, format, statement),
 * then lets each knob change the few values it breaks, and only then builds
 * the bytes. So a knob never needs to know how the bytes are laid out, and
 * each changes exactly what its row says.
 */
#include "kh_authn.h"

#include <cbor.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/str.h"

/* Authenticator data flags (WebAuthn §6.1). */
#define AUTHN_UP 0x01u
#define AUTHN_UV 0x04u
#define AUTHN_BE 0x08u
#define AUTHN_BS 0x10u
#define AUTHN_AT 0x40u

#define AUTHN_ID_LEN 32u        /* Our credential ids: 32 random bytes. */
#define AUTHN_ID_MAX 1024u      /* Room for the 1024-byte knob. */
#define AUTHN_USER_MAX 64u      /* user.id is at most 64 bytes (§5.4.3). */
#define AUTHN_CHALLENGE_MAX 512 /* Decoded; real ones are 16 to 64 bytes. */
#define AUTHN_TEXT_MAX 2048     /* Origins, RP ids, base64url challenges. */
#define AUTHN_KEY_MAX 512       /* A P-256 private key in DER. */
#define AUTHN_SIG_MAX 80        /* An ECDSA P-256 signature in DER is at most 72 bytes. */
/* rpIdHash, flags, counter, AAGUID, id length, id, a COSE EC2 key, trailing bytes. */
#define AUTHN_AUTHDATA_MAX (37u + 18u + AUTHN_ID_MAX + 256u)
#define AUTHN_CBOR_MAX (AUTHN_AUTHDATA_MAX + 256u)
#define AUTHN_JSON_MAX (64u * 1024u)

#define AUTHN_EVIL_ORIGIN "http://evil.konform.test"
#define AUTHN_EVIL_RP_ID "evil.konform.test"

/* COSE algorithm identifiers (IANA). */
#define COSE_ES256 (-7)
#define COSE_EDDSA (-8)
#define COSE_RS256 (-257)

typedef enum authn_stmt { AUTHN_STMT_EMPTY, AUTHN_STMT_PACKED } authn_stmt;

/* Everything a ceremony sends, before it becomes bytes. */
typedef struct kh_authn_cer {
  bool create;
  /* Client data (§5.8.1). */
  const char *type;
  char challenge[AUTHN_TEXT_MAX]; /* base64url, as it goes into clientDataJSON. */
  char origin[AUTHN_TEXT_MAX];
  bool cross_origin;
  char top_origin[AUTHN_TEXT_MAX]; /* "" when absent. */
  bool edit_client_data;
  /* Authenticator data (§6.1). */
  char rp_id[AUTHN_TEXT_MAX];     /* The credential's RP id. */
  char rp_hashed[AUTHN_TEXT_MAX]; /* The RP id whose hash is sent. */
  unsigned flags;
  uint32_t count;     /* Sent. */
  uint32_t stored;    /* What the credential sent last (get). */
  bool attested;      /* create: attested credential data present. */
  size_t cut;         /* Bytes cut off the end. */
  size_t trailing;    /* Zero bytes appended. */
  long long key_alg;  /* The COSE key's alg label. */
  const char *fmt;    /* create. */
  authn_stmt stmt;    /* create. */
  long long stmt_alg; /* Packed statement alg; 0: the key's. */
  bool flip;
  bool other_key;
  /* The credential. */
  unsigned char id[AUTHN_ID_MAX];
  size_t id_len;
  unsigned char user[AUTHN_USER_MAX];
  size_t user_len;
  unsigned char user_sent[AUTHN_USER_MAX]; /* userHandle sent (get). */
  size_t user_sent_len;
  char last_challenge[AUTHN_TEXT_MAX]; /* The challenge the credential signed last, or "". */
  EVP_PKEY *key;                       /* Owned. */
} kh_authn_cer;

/* ---- base64url, SHA-256, randomness (libsodium). ---- */

char *kh_authn_b64url(const unsigned char *data, size_t len) {
  size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  char *out = kf_malloc(cap);
  if (out == NULL)
    return NULL;
  sodium_bin2base64(out, cap, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return out;
}

kf_rc kh_authn_b64url_decode(const char *text, size_t text_len, unsigned char *out, size_t cap,
                             size_t *out_len) {
  const char *end = NULL;
  /* A decoded value never exceeds 3/4 of the text; refuse early what cannot fit. */
  if (text_len / 4 * 3 > cap + 3)
    return KF_ERR_LIMIT;
  if (sodium_base642bin(out, cap, text, text_len, NULL, out_len, &end,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
    return KF_ERR_INVALID;
  return end == text + text_len ? KF_OK : KF_ERR_INVALID;
}

/* Base64url of data into the fixed field dst. */
static kf_rc authn_b64_into(char *dst, size_t cap, const unsigned char *data, size_t len) {
  if (sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING) > cap)
    return KF_ERR_LIMIT;
  sodium_bin2base64(dst, cap, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return KF_OK;
}

static void authn_sha256(unsigned char out[32], const void *data, size_t len) {
  crypto_hash_sha256(out, data, len);
}

/* ---- ES256 with OpenSSL. ---- */

static kf_rc authn_key_new(EVP_PKEY **out, kf_err *err) {
  *out = EVP_EC_gen("P-256");
  return *out != NULL ? KF_OK : kf_err_set(err, KF_ERR_INTERNAL, "OpenSSL made no P-256 key");
}

/* The public point's x and y (32 bytes each). */
static kf_rc authn_key_xy(EVP_PKEY *key, unsigned char x[32], unsigned char y[32], kf_err *err) {
  unsigned char pt[65];
  size_t len = 0;
  if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt, &len) != 1 ||
      len != sizeof pt || pt[0] != 0x04)
    return kf_err_set(err, KF_ERR_INTERNAL,
                      "the key's public point is not an uncompressed P-256 one");
  memcpy(x, pt + 1, 32);
  memcpy(y, pt + 33, 32);
  return KF_OK;
}

/* An ECDSA signature with SHA-256 over (a, b), DER-encoded, into sig (AUTHN_SIG_MAX bytes). */
static kf_rc authn_sign(EVP_PKEY *key, const unsigned char *a, size_t a_len, const unsigned char *b,
                        size_t b_len, unsigned char *sig, size_t *sig_len, kf_err *err) {
  unsigned char tbs[AUTHN_AUTHDATA_MAX + 32];
  if (a_len + b_len > sizeof tbs)
    return kf_err_set(err, KF_ERR_LIMIT, "too much to sign");
  memcpy(tbs, a, a_len);
  memcpy(tbs + a_len, b, b_len);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  if (md == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  *sig_len = AUTHN_SIG_MAX;
  int ok = EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
           EVP_DigestSign(md, sig, sig_len, tbs, a_len + b_len) == 1;
  EVP_MD_CTX_free(md);
  return ok ? KF_OK : kf_err_set(err, KF_ERR_INTERNAL, "OpenSSL could not sign");
}

/* The private key in DER (OpenSSL's own EC form), as base64url into dst. */
static kf_rc authn_key_export(EVP_PKEY *key, char *dst, size_t cap, kf_err *err) {
  unsigned char der[AUTHN_KEY_MAX];
  int n = i2d_PrivateKey(key, NULL);
  if (n <= 0 || (size_t)n > sizeof der)
    return kf_err_set(err, KF_ERR_INTERNAL, "the private key does not export");
  unsigned char *p = der;
  n = i2d_PrivateKey(key, &p);
  if (n <= 0)
    return kf_err_set(err, KF_ERR_INTERNAL, "the private key does not export");
  return authn_b64_into(dst, cap, der, (size_t)n);
}

static kf_rc authn_key_import(const char *b64, EVP_PKEY **out, kf_err *err) {
  unsigned char der[AUTHN_KEY_MAX];
  size_t len = 0;
  if (kh_authn_b64url_decode(b64, strlen(b64), der, sizeof der, &len) != KF_OK)
    return kf_err_set(err, KF_ERR_INVALID, "the credential's key is not base64url");
  const unsigned char *p = der;
  *out = d2i_AutoPrivateKey(NULL, &p, (long)len);
  return *out != NULL ? KF_OK
                      : kf_err_set(err, KF_ERR_INVALID, "the credential's key is not a key");
}

/* The SubjectPublicKeyInfo (DER) of key, base64url, into a new string; NULL on failure. */
static char *authn_key_spki(EVP_PKEY *key) {
  unsigned char der[256];
  int n = i2d_PUBKEY(key, NULL);
  if (n <= 0 || (size_t)n > sizeof der)
    return NULL;
  unsigned char *p = der;
  n = i2d_PUBKEY(key, &p);
  return n > 0 ? kh_authn_b64url(der, (size_t)n) : NULL;
}

/* ---- Reading options and credentials. ---- */

/* The options object itself: {"publicKey": {...}} (python-fido2, navigator.credentials) or bare. */
static const json_t *authn_options(const json_t *options) {
  const json_t *pk = json_object_get(options, "publicKey");
  return json_is_object(pk) ? pk : options;
}

/* Copy the string member key of obj into dst; KF_ERR_NOT_FOUND when absent or not a string. */
static kf_rc authn_member(const json_t *obj, const char *key, char *dst, size_t cap) {
  const char *s = json_string_value(json_object_get(obj, key));
  if (s == NULL)
    return KF_ERR_NOT_FOUND;
  return kf_str_copy(dst, cap, s);
}

/* Decode the base64url member key of obj into out. */
static kf_rc authn_member_bytes(const json_t *obj, const char *key, unsigned char *out, size_t cap,
                                size_t *len, kf_err *err) {
  const char *s = json_string_value(json_object_get(obj, key));
  if (s == NULL)
    return kf_err_set(err, KF_ERR_INVALID, "no string member \"%s\"", key);
  kf_rc rc = kh_authn_b64url_decode(s, strlen(s), out, cap, len);
  if (rc != KF_OK)
    return kf_err_set(err, KF_ERR_INVALID,
                      "\"%s\" is not base64url without padding of at most %zu bytes", key, cap);
  return KF_OK;
}

/* Parse a JSON argument (options or a credential), or NULL when text is not a JSON object. */
static json_t *authn_arg_json(const char *text) {
  json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
  if (j != NULL && !json_is_object(j)) {
    json_decref(j);
    return NULL;
  }
  return j;
}

/*
 * The challenge a knob's argument names: options JSON (its challenge), a
 * credential's JSON (the challenge it signed last) or a bare base64url one.
 */
static kf_rc authn_arg_challenge(const char *arg, char *dst, size_t cap, kf_err *err) {
  json_t *j = authn_arg_json(arg);
  if (j == NULL)
    return kf_str_copy(dst, cap, arg) == KF_OK
               ? KF_OK
               : kf_err_set(err, KF_ERR_LIMIT, "the challenge argument is too long");
  const json_t *o = authn_options(j);
  kf_rc rc = authn_member(o, "challenge", dst, cap);
  json_decref(j);
  if (rc != KF_OK || dst[0] == '\0')
    return kf_err_set(err, KF_ERR_INVALID, "the argument names no challenge");
  return KF_OK;
}

/* ---- The knobs: each changes what its row says, nothing else. ---- */

/* One knob's call: the ceremony it changes, its argument (or NULL), where a failure goes. */
typedef struct authn_knob {
  kh_authn_cer *c;
  const char *arg;
  kf_err *err;
} authn_knob;

typedef kf_rc (*authn_apply_fn)(const authn_knob *k);

static kf_rc authn_apply_TYPE_WRONG(const authn_knob *k) {
  k->c->type = k->c->create ? "webauthn.get" : "webauthn.create";
  return KF_OK;
}

static kf_rc authn_apply_CHALLENGE_UNKNOWN(const authn_knob *k) {
  unsigned char r[32];
  randombytes_buf(r, sizeof r);
  return authn_b64_into(k->c->challenge, sizeof k->c->challenge, r, sizeof r) == KF_OK
             ? KF_OK
             : kf_err_set(k->err, KF_ERR_INTERNAL, "no room for a challenge");
}

static kf_rc authn_apply_CHALLENGE_STALE(const authn_knob *k) {
  return authn_arg_challenge(k->arg, k->c->challenge, sizeof k->c->challenge, k->err);
}

static kf_rc authn_apply_CHALLENGE_FOREIGN(const authn_knob *k) {
  return authn_arg_challenge(k->arg, k->c->challenge, sizeof k->c->challenge, k->err);
}

static kf_rc authn_apply_CHALLENGE_REUSED(const authn_knob *k) {
  if (k->arg != NULL)
    return authn_arg_challenge(k->arg, k->c->challenge, sizeof k->c->challenge, k->err);
  if (k->c->last_challenge[0] == '\0')
    return kf_err_set(k->err, KF_ERR_INVALID,
                      "challenge-reused: no earlier challenge; name the credential whose "
                      "challenge to reuse");
  return kf_str_copy(k->c->challenge, sizeof k->c->challenge, k->c->last_challenge);
}

static kf_rc authn_text_or(char *dst, size_t cap, const char *arg, const char *fallback,
                           kf_err *err) {
  if (kf_str_copy(dst, cap, arg != NULL ? arg : fallback) != KF_OK)
    return kf_err_set(err, KF_ERR_LIMIT, "the argument is longer than %zu bytes", cap - 1);
  return KF_OK;
}

static kf_rc authn_apply_ORIGIN_WRONG(const authn_knob *k) {
  return authn_text_or(k->c->origin, sizeof k->c->origin, k->arg, AUTHN_EVIL_ORIGIN, k->err);
}

static kf_rc authn_apply_CROSS_ORIGIN(const authn_knob *k) {
  k->c->cross_origin = true;
  return KF_OK;
}

static kf_rc authn_apply_TOP_ORIGIN(const authn_knob *k) {
  return authn_text_or(k->c->top_origin, sizeof k->c->top_origin, k->arg, AUTHN_EVIL_ORIGIN,
                       k->err);
}

static kf_rc authn_apply_CLIENT_DATA_EDITED(const authn_knob *k) {
  k->c->edit_client_data = true;
  return KF_OK;
}

static kf_rc authn_apply_RP_ID_OTHER(const authn_knob *k) {
  return authn_text_or(k->c->rp_hashed, sizeof k->c->rp_hashed, k->arg, AUTHN_EVIL_RP_ID, k->err);
}

static kf_rc authn_apply_UP_CLEAR(const authn_knob *k) {
  k->c->flags &= ~AUTHN_UP;
  return KF_OK;
}

static kf_rc authn_apply_UV_CLEAR(const authn_knob *k) {
  k->c->flags &= ~AUTHN_UV;
  return KF_OK;
}

static kf_rc authn_apply_BS_WITHOUT_BE(const authn_knob *k) {
  k->c->flags = (k->c->flags | AUTHN_BS) & ~AUTHN_BE;
  return KF_OK;
}

static kf_rc authn_apply_AT_MISSING(const authn_knob *k) {
  k->c->attested = false;
  return KF_OK;
}

static kf_rc authn_apply_TRUNCATED(const authn_knob *k) {
  /* Into the key's y coordinate in a create; one byte short of the 37 fixed ones in a get. */
  k->c->cut = k->c->create ? 10 : 1;
  return KF_OK;
}

static kf_rc authn_apply_TRAILING_BYTES(const authn_knob *k) {
  k->c->trailing = 4;
  return KF_OK;
}

/* The attestation format and the statement that goes with it. */
static kf_rc authn_fmt_set(kh_authn_cer *c, const char *fmt, authn_stmt stmt) {
  c->fmt = fmt;
  c->stmt = stmt;
  return KF_OK;
}

static kf_rc authn_apply_FMT_UNKNOWN(const authn_knob *k) {
  return authn_fmt_set(k->c, "konform-unknown", AUTHN_STMT_EMPTY);
}

static kf_rc authn_apply_FMT_WRONG_CASE(const authn_knob *k) {
  return authn_fmt_set(k->c, "Packed", AUTHN_STMT_PACKED);
}

static kf_rc authn_apply_NONE_WITH_STATEMENT(const authn_knob *k) {
  return authn_fmt_set(k->c, "none", AUTHN_STMT_PACKED);
}

static kf_rc authn_apply_PACKED_WRONG_ALG(const authn_knob *k) {
  k->c->stmt_alg = COSE_RS256;
  return authn_fmt_set(k->c, "packed", AUTHN_STMT_PACKED);
}

static kf_rc authn_apply_ALG_NOT_OFFERED(const authn_knob *k) {
  k->c->key_alg = COSE_EDDSA;
  return KF_OK;
}

static kf_rc authn_apply_CRED_ID_LONG(const authn_knob *k) {
  k->c->id_len = 1024;
  randombytes_buf(k->c->id, k->c->id_len);
  return KF_OK;
}

/* The bytes of member key of the credential JSON arg. */
static kf_rc authn_arg_cred_bytes(const char *arg, const char *key, unsigned char *out, size_t cap,
                                  size_t *len, kf_err *err) {
  json_t *j = authn_arg_json(arg);
  if (j == NULL)
    return kf_err_set(err, KF_ERR_INVALID, "the argument is not a credential's JSON");
  kf_rc rc = authn_member_bytes(j, key, out, cap, len, err);
  json_decref(j);
  return rc;
}

static kf_rc authn_apply_CRED_ID_DUPLICATE(const authn_knob *k) {
  return authn_arg_cred_bytes(k->arg, "id", k->c->id, sizeof k->c->id, &k->c->id_len, k->err);
}

static kf_rc authn_apply_SIG_BIT_FLIPPED(const authn_knob *k) {
  k->c->flip = true;
  return KF_OK;
}

static kf_rc authn_apply_SIG_OTHER_KEY(const authn_knob *k) {
  k->c->other_key = true;
  return KF_OK;
}

static kf_rc authn_apply_USER_HANDLE_OTHER(const authn_knob *k) {
  return authn_arg_cred_bytes(k->arg, "user", k->c->user_sent, sizeof k->c->user_sent,
                              &k->c->user_sent_len, k->err);
}

static kf_rc authn_apply_COUNTER_BACK(const authn_knob *k) {
  if (k->c->stored == 0)
    return kf_err_set(k->err, KF_ERR_INVALID, "counter-back: the counter is 0 and cannot go back");
  k->c->count = k->c->stored - 1;
  return KF_OK;
}

static kf_rc authn_apply_COUNTER_STILL(const authn_knob *k) {
  k->c->count = k->c->stored;
  return KF_OK;
}

static const struct {
  kh_authn_fault_def def;
  authn_apply_fn apply;
} authn_faults[] = {
#define KH_AUTHN_FAULT_ROW(name, text, cer, arg, what)                                             \
  {{KH_AUTHN_FAULT_##name, text, cer, arg, what}, authn_apply_##name},
    KH_AUTHN_FAULTS(KH_AUTHN_FAULT_ROW)
#undef KH_AUTHN_FAULT_ROW
};

static const char *const authn_fault_names[] = {
#define KH_AUTHN_FAULT_NAME(name, text, cer, arg, what) text,
    KH_AUTHN_FAULTS(KH_AUTHN_FAULT_NAME)
#undef KH_AUTHN_FAULT_NAME
        NULL};

const kh_authn_fault_def *kh_authn_fault_find(const char *name, size_t len) {
  for (size_t i = 0; i < KH_AUTHN_FAULT_COUNT; i++) {
    const char *n = authn_faults[i].def.name;
    if (strlen(n) == len && memcmp(n, name, len) == 0)
      return &authn_faults[i].def;
  }
  return NULL;
}

const kh_authn_fault_def *kh_authn_fault_get(kh_authn_fault fault) {
  return (size_t)fault < KH_AUTHN_FAULT_COUNT ? &authn_faults[fault].def : NULL;
}

const char *const *kh_authn_fault_names(void) {
  return authn_fault_names;
}

/* Apply the asked knobs in their order, each checked against its row. */
static kf_rc authn_apply_knobs(kh_authn_cer *c, const kh_authn_params *p, kf_err *err) {
  if (p->knobs_len > KH_AUTHN_MAX_FAULTS)
    return kf_err_set(err, KF_ERR_LIMIT, "at most %d knobs in one ceremony", KH_AUTHN_MAX_FAULTS);
  for (size_t i = 0; i < p->knobs_len; i++) {
    const kh_authn_knob *k = &p->knobs[i];
    if ((size_t)k->fault >= KH_AUTHN_FAULT_COUNT)
      return kf_err_set(err, KF_ERR_INVALID, "no such knob");
    const kh_authn_fault_def *d = &authn_faults[k->fault].def;
    if ((d->ceremonies & (c->create ? KH_AUTHN_CREATE : KH_AUTHN_GET)) == 0)
      return kf_err_set(err, KF_ERR_UNSUPPORTED, "%s applies to a %s only", d->name,
                        c->create ? "get" : "create");
    if ((d->arg == KH_AUTHN_ARG_NONE && k->arg != NULL) ||
        (d->arg == KH_AUTHN_ARG_REQUIRED && k->arg == NULL))
      return kf_err_set(err, KF_ERR_INVALID, "%s %s", d->name,
                        d->arg == KH_AUTHN_ARG_NONE ? "takes no argument" : "needs an argument");
    kf_rc rc = authn_faults[k->fault].apply(&(authn_knob){c, k->arg, err});
    if (rc != KF_OK)
      return rc;
  }
  if (!c->create && c->user_sent_len == 0) {
    memcpy(c->user_sent, c->user, c->user_len);
    c->user_sent_len = c->user_len;
  }
  return KF_OK;
}

/* ---- Building the bytes. ---- */

/* A JSON string (quotes and escapes as §5.8.1.2's CCDToString writes them). */
static kf_rc authn_json_string(kf_buf *b, const char *s) {
  kf_rc rc = kf_buf_append_byte(b, '"');
  for (const unsigned char *p = (const unsigned char *)s; rc == KF_OK && *p != '\0'; p++) {
    if (*p == '"' || *p == '\\')
      rc = kf_buf_appendf(b, "\\%c", *p);
    else if (*p < 0x20)
      rc = kf_buf_appendf(b, "\\u%04x", *p);
    else
      rc = kf_buf_append_byte(b, (char)*p);
  }
  return rc == KF_OK ? kf_buf_append_byte(b, '"') : rc;
}

/* clientDataJSON in the member order of §5.8.1.2 (type, challenge, origin, crossOrigin, top). */
static kf_rc authn_client_data(const kh_authn_cer *c, kf_buf *b) {
  kf_rc rc = kf_buf_append_str(b, "{\"type\":");
  if (rc == KF_OK)
    rc = authn_json_string(b, c->type);
  if (rc == KF_OK)
    rc = kf_buf_append_str(b, ",\"challenge\":");
  if (rc == KF_OK)
    rc = authn_json_string(b, c->challenge);
  if (rc == KF_OK)
    rc = kf_buf_append_str(b, ",\"origin\":");
  if (rc == KF_OK)
    rc = authn_json_string(b, c->origin);
  if (rc == KF_OK)
    rc = kf_buf_append_str(b, c->cross_origin ? ",\"crossOrigin\":true" : ",\"crossOrigin\":false");
  if (rc == KF_OK && c->top_origin[0] != '\0') {
    rc = kf_buf_append_str(b, ",\"topOrigin\":");
    if (rc == KF_OK)
      rc = authn_json_string(b, c->top_origin);
  }
  return rc == KF_OK ? kf_buf_append_byte(b, '}') : rc;
}

/*
 * A CBOR integer item of any sign (libcbor keeps negative ones as -1 - n), in
 * its shortest form, as CTAP2's canonical encoding asks.
 */
static cbor_item_t *authn_cbor_int(long long v) {
  uint64_t n = v >= 0 ? (uint64_t)v : (uint64_t)(-1 - v);
  if (n <= UINT8_MAX)
    return v >= 0 ? cbor_build_uint8((uint8_t)n) : cbor_build_negint8((uint8_t)n);
  if (n <= UINT16_MAX)
    return v >= 0 ? cbor_build_uint16((uint16_t)n) : cbor_build_negint16((uint16_t)n);
  if (n <= UINT32_MAX)
    return v >= 0 ? cbor_build_uint32((uint32_t)n) : cbor_build_negint32((uint32_t)n);
  return v >= 0 ? cbor_build_uint64(n) : cbor_build_negint64(n);
}

/* Add key -> value to map, taking both items; false when either is missing. */
static bool authn_cbor_put(cbor_item_t *map, cbor_item_t *key, cbor_item_t *value) {
  bool ok = key != NULL && value != NULL &&
            cbor_map_add(map, (struct cbor_pair){.key = key, .value = value});
  if (key != NULL)
    cbor_decref(&key);
  if (value != NULL)
    cbor_decref(&value);
  return ok;
}

/* Serialise item into out (cap bytes); KF_ERR_LIMIT when it does not fit. */
static kf_rc authn_cbor_bytes(const cbor_item_t *item, unsigned char *out, size_t cap,
                              size_t *len) {
  *len = cbor_serialize(item, out, cap);
  return *len > 0 ? KF_OK : KF_ERR_LIMIT;
}

/* The credential public key as a COSE_Key (RFC 9053 EC2), keys in CTAP2 canonical order. */
static kf_rc authn_cose_key(const kh_authn_cer *c, unsigned char *out, size_t cap, size_t *len,
                            kf_err *err) {
  unsigned char x[32], y[32];
  kf_rc rc = authn_key_xy(c->key, x, y, err);
  if (rc != KF_OK)
    return rc;
  cbor_item_t *m = cbor_new_definite_map(5);
  if (m == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  bool ok = authn_cbor_put(m, authn_cbor_int(1), authn_cbor_int(2)) && /* kty: EC2 */
            authn_cbor_put(m, authn_cbor_int(3), authn_cbor_int(c->key_alg)) &&
            authn_cbor_put(m, authn_cbor_int(-1), authn_cbor_int(1)) && /* crv: P-256 */
            authn_cbor_put(m, authn_cbor_int(-2), cbor_build_bytestring(x, 32)) &&
            authn_cbor_put(m, authn_cbor_int(-3), cbor_build_bytestring(y, 32));
  rc = ok ? authn_cbor_bytes(m, out, cap, len) : KF_ERR_NOMEM;
  cbor_decref(&m);
  return rc == KF_OK ? KF_OK : kf_err_set(err, rc, "the COSE key does not build");
}

/* authenticatorData (§6.1): rpIdHash, flags, signCount, [attested credential data]. */
static kf_rc authn_auth_data(const kh_authn_cer *c, unsigned char *out, size_t *len, kf_err *err) {
  size_t n = 0;
  authn_sha256(out, c->rp_hashed, strlen(c->rp_hashed));
  n = 32;
  out[n++] = (unsigned char)(c->flags | (c->create && c->attested ? AUTHN_AT : 0u));
  for (int s = 24; s >= 0; s -= 8)
    out[n++] = (unsigned char)(c->count >> s);
  if (c->create && c->attested) {
    memset(out + n, 0, 16); /* AAGUID: zero, as a "none" authenticator may send. */
    n += 16;
    out[n++] = (unsigned char)(c->id_len >> 8);
    out[n++] = (unsigned char)c->id_len;
    memcpy(out + n, c->id, c->id_len);
    n += c->id_len;
    size_t klen = 0;
    kf_rc rc = authn_cose_key(c, out + n, AUTHN_AUTHDATA_MAX - n - c->trailing, &klen, err);
    if (rc != KF_OK)
      return rc;
    n += klen;
  }
  memset(out + n, 0, c->trailing);
  n += c->trailing;
  *len = n - (c->cut < n ? c->cut : n);
  return KF_OK;
}

/* The signature over authData || clientDataHash that the knobs ask for. */
static kf_rc authn_signature(const kh_authn_cer *c, const unsigned char *ad, size_t ad_len,
                             const unsigned char hash[32], unsigned char *sig, size_t *sig_len,
                             kf_err *err) {
  EVP_PKEY *other = NULL;
  kf_rc rc = c->other_key ? authn_key_new(&other, err) : KF_OK;
  if (rc == KF_OK)
    rc = authn_sign(c->other_key ? other : c->key, ad, ad_len, hash, 32, sig, sig_len, err);
  EVP_PKEY_free(other);
  if (rc == KF_OK && c->flip)
    sig[*sig_len - 1] ^= 0x01u; /* In s, so the DER around it still parses. */
  return rc;
}

/* attestationObject (§6.5.4): {fmt, attStmt, authData} in CTAP2 canonical order. */
static kf_rc authn_att_object(const kh_authn_cer *c, const unsigned char *ad, size_t ad_len,
                              const unsigned char *sig, size_t sig_len, unsigned char *out,
                              size_t *len, kf_err *err) {
  cbor_item_t *stmt = cbor_new_definite_map(c->stmt == AUTHN_STMT_PACKED ? 2 : 0);
  cbor_item_t *m = cbor_new_definite_map(3);
  bool ok = stmt != NULL && m != NULL;
  if (ok && c->stmt == AUTHN_STMT_PACKED) {
    long long alg = c->stmt_alg != 0 ? c->stmt_alg : c->key_alg;
    ok = authn_cbor_put(stmt, cbor_build_string("alg"), authn_cbor_int(alg)) &&
         authn_cbor_put(stmt, cbor_build_string("sig"), cbor_build_bytestring(sig, sig_len));
  }
  if (ok) {
    cbor_item_t *st = stmt;
    stmt = NULL; /* authn_cbor_put takes it. */
    ok = authn_cbor_put(m, cbor_build_string("fmt"), cbor_build_string(c->fmt)) &&
         authn_cbor_put(m, cbor_build_string("attStmt"), st) &&
         authn_cbor_put(m, cbor_build_string("authData"), cbor_build_bytestring(ad, ad_len));
  }
  kf_rc rc = ok ? authn_cbor_bytes(m, out, AUTHN_CBOR_MAX, len) : KF_ERR_NOMEM;
  if (stmt != NULL)
    cbor_decref(&stmt);
  if (m != NULL)
    cbor_decref(&m);
  return rc == KF_OK ? KF_OK : kf_err_set(err, rc, "the attestation object does not build");
}

/* ---- JSON out. ---- */

/* json as compact text into a new kf_malloc'd string. */
static kf_rc authn_dump(const json_t *json, char **out, kf_err *err) {
  size_t n = json_dumpb(json, NULL, 0, JSON_COMPACT);
  if (n == 0 || n > AUTHN_JSON_MAX)
    return kf_err_set(err, KF_ERR_LIMIT, "the JSON does not serialise");
  char *s = kf_malloc(n + 1);
  if (s == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  (void)json_dumpb(json, s, n, JSON_COMPACT); /* The same size as measured. */
  s[n] = '\0';
  *out = s;
  return KF_OK;
}

/* Set key to the base64url of data in obj (taking nothing on failure); false on failure. */
static bool authn_set_b64(json_t *obj, const char *key, const unsigned char *data, size_t len) {
  char *s = kh_authn_b64url(data, len);
  bool ok = s != NULL && json_object_set_new(obj, key, json_string(s)) == 0;
  kf_free(s);
  return ok;
}

/* The credential as the caller keeps it: id, key, user handle, RP id, counter, challenge. */
static kf_rc authn_credential_json(const kh_authn_cer *c, uint32_t count, char **out, kf_err *err) {
  char key[AUTHN_KEY_MAX * 2];
  kf_rc rc = authn_key_export(c->key, key, sizeof key, err);
  if (rc != KF_OK)
    return rc;
  json_t *j = json_object();
  bool ok = j != NULL && authn_set_b64(j, "id", c->id, c->id_len) &&
            json_object_set_new(j, "key", json_string(key)) == 0 &&
            authn_set_b64(j, "user", c->user, c->user_len) &&
            json_object_set_new(j, "rp_id", json_string(c->rp_id)) == 0 &&
            json_object_set_new(j, "count", json_integer(count)) == 0 &&
            json_object_set_new(j, "challenge", json_string(c->challenge)) == 0;
  rc = ok ? authn_dump(j, out, err) : kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  json_decref(j);
  return rc;
}

void kh_authn_result_init(kh_authn_result *res) {
  memset(res, 0, sizeof *res);
}

void kh_authn_result_release(kh_authn_result *res) {
  kf_free(res->response);
  kf_free(res->credential);
  kf_free(res->client_data);
  memset(res, 0, sizeof *res);
}

/* ---- The ceremonies. ---- */

/* What both ceremonies share: origin, RP id, challenge, type, flags. */
static kf_rc authn_cer_start(kh_authn_cer *c, bool create, const json_t *o, const char *rp,
                             const kh_authn_params *p, kf_err *err) {
  memset(c, 0, sizeof *c);
  c->create = create;
  c->type = create ? "webauthn.create" : "webauthn.get";
  c->flags = AUTHN_UP | AUTHN_UV;
  c->key_alg = COSE_ES256;
  c->fmt = p->packed ? "packed" : "none";
  c->stmt = p->packed ? AUTHN_STMT_PACKED : AUTHN_STMT_EMPTY;
  c->attested = true;
  if (p->origin == NULL || p->rp_id == NULL)
    return kf_err_set(err, KF_ERR_INVALID, "the authenticator needs an origin and an RP id");
  if (kf_str_copy(c->origin, sizeof c->origin, p->origin) != KF_OK)
    return kf_err_set(err, KF_ERR_LIMIT, "the origin is too long");
  if (rp == NULL || p->rp_id_forced)
    rp = p->rp_id;
  if (kf_str_copy(c->rp_id, sizeof c->rp_id, rp) != KF_OK ||
      kf_str_copy(c->rp_hashed, sizeof c->rp_hashed, rp) != KF_OK)
    return kf_err_set(err, KF_ERR_LIMIT, "the RP id is too long");
  unsigned char chal[AUTHN_CHALLENGE_MAX];
  size_t chal_len = 0;
  /* A browser refuses options whose challenge is not base64url; so does this client. */
  kf_rc rc = authn_member_bytes(o, "challenge", chal, sizeof chal, &chal_len, err);
  if (rc != KF_OK)
    return rc;
  return authn_member(o, "challenge", c->challenge, sizeof c->challenge) == KF_OK
             ? KF_OK
             : kf_err_set(err, KF_ERR_LIMIT, "the challenge is too long");
}

/* Whether creation options offer {type: public-key, alg: -7}. */
static bool authn_offers_es256(const json_t *o) {
  size_t i;
  const json_t *param;
  json_array_foreach(json_object_get(o, "pubKeyCredParams"), i, param) {
    const char *type = json_string_value(json_object_get(param, "type"));
    const json_t *alg = json_object_get(param, "alg");
    if (type != NULL && strcmp(type, "public-key") == 0 && json_is_integer(alg) &&
        json_integer_value(alg) == COSE_ES256)
      return true;
  }
  return false;
}

/* clientDataJSON as signed (its hash) and as sent (edited when a knob says so). */
static kf_rc authn_client_data_pair(const kh_authn_cer *c, kf_buf *sent, unsigned char hash[32],
                                    kf_err *err) {
  kf_rc rc = authn_client_data(c, sent);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "clientDataJSON does not fit");
  authn_sha256(hash, sent->data, sent->len);
  if (c->edit_client_data) {
    sent->len--; /* Drop '}', add a member nothing checks, close again. */
    rc = kf_buf_append_str(sent, ",\"konform\":\"edited after signing\"}");
    if (rc != KF_OK)
      return kf_err_set(err, rc, "clientDataJSON does not fit");
  }
  return KF_OK;
}

/*
 * The PublicKeyCredential around resp as a browser's toJSON() writes it, into
 * *out; the reference to resp is dropped here. ok false: resp is incomplete.
 */
static kf_rc authn_pkc_json(const kh_authn_cer *c, json_t *resp, bool ok, char **out, kf_err *err) {
  json_t *j = json_object();
  ok = ok && j != NULL && authn_set_b64(j, "id", c->id, c->id_len) &&
       authn_set_b64(j, "rawId", c->id, c->id_len) &&
       json_object_set_new(j, "type", json_string("public-key")) == 0 &&
       json_object_set(j, "response", resp) == 0 &&
       json_object_set_new(j, "clientExtensionResults", json_object()) == 0 &&
       json_object_set_new(j, "authenticatorAttachment", json_string("platform")) == 0;
  kf_rc rc = ok ? authn_dump(j, out, err) : kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  json_decref(resp);
  json_decref(j);
  return rc;
}

static kf_rc authn_registration_json(const kh_authn_cer *c, const kf_buf *cd,
                                     const unsigned char *ad, size_t ad_len,
                                     const unsigned char *ao, size_t ao_len, char **out,
                                     kf_err *err) {
  json_t *resp = json_object();
  char *spki = authn_key_spki(c->key);
  bool ok = resp != NULL && spki != NULL &&
            authn_set_b64(resp, "clientDataJSON", (const unsigned char *)cd->data, cd->len) &&
            authn_set_b64(resp, "attestationObject", ao, ao_len) &&
            authn_set_b64(resp, "authenticatorData", ad, ad_len) &&
            json_object_set_new(resp, "transports", json_pack("[s]", "internal")) == 0 &&
            json_object_set_new(resp, "publicKeyAlgorithm", json_integer(c->key_alg)) == 0 &&
            json_object_set_new(resp, "publicKey", json_string(spki)) == 0;
  kf_free(spki);
  return authn_pkc_json(c, resp, ok, out, err);
}

/* The bytes of a create and its JSON, once the knobs are applied. */
static kf_rc authn_create_build(kh_authn_cer *c, kh_authn_result *res, kf_err *err) {
  kf_buf cd;
  kf_buf_init(&cd, AUTHN_TEXT_MAX * 4);
  unsigned char hash[32], ad[AUTHN_AUTHDATA_MAX], sig[AUTHN_SIG_MAX];
  unsigned char *ao = kf_malloc(AUTHN_CBOR_MAX);
  size_t ad_len = 0, sig_len = 0, ao_len = 0;
  kf_rc rc = ao != NULL ? authn_client_data_pair(c, &cd, hash, err)
                        : kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  if (rc == KF_OK)
    rc = authn_auth_data(c, ad, &ad_len, err);
  if (rc == KF_OK && c->stmt == AUTHN_STMT_PACKED)
    rc = authn_signature(c, ad, ad_len, hash, sig, &sig_len, err);
  else if (rc == KF_OK && (c->flip || c->other_key))
    rc = kf_err_set(err, KF_ERR_UNSUPPORTED,
                    "a signature knob in a create needs a signature: write fmt packed");
  if (rc == KF_OK)
    rc = authn_att_object(c, ad, ad_len, sig, sig_len, ao, &ao_len, err);
  if (rc == KF_OK)
    rc = authn_registration_json(c, &cd, ad, ad_len, ao, ao_len, &res->response, err);
  if (rc == KF_OK)
    rc = authn_credential_json(c, c->count, &res->credential, err);
  if (rc == KF_OK && (res->client_data = kf_memdup0(cd.data, cd.len)) == NULL)
    rc = kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  kf_free(ao);
  kf_buf_release(&cd);
  return rc;
}

kf_rc kh_authn_create(const json_t *options, const kh_authn_params *p, kh_authn_result *res,
                      kf_err *err) {
  if (sodium_init() < 0)
    return kf_err_set(err, KF_ERR_INTERNAL, "libsodium cannot be initialised");
  const json_t *o = authn_options(options);
  kh_authn_cer c;
  const char *rp = json_string_value(json_object_get(json_object_get(o, "rp"), "id"));
  kf_rc rc = authn_cer_start(&c, true, o, rp, p, err);
  if (rc == KF_OK)
    rc = authn_member_bytes(json_object_get(o, "user"), "id", c.user, sizeof c.user, &c.user_len,
                            err);
  if (rc == KF_OK && !authn_offers_es256(o))
    rc = kf_err_set(err, KF_ERR_INVALID,
                    "the options' pubKeyCredParams do not offer ES256 (alg -7): a browser "
                    "would refuse");
  c.id_len = AUTHN_ID_LEN;
  randombytes_buf(c.id, c.id_len);
  c.count = 1; /* Every signature moves the counter, the registration's included. */
  if (rc == KF_OK)
    rc = authn_key_new(&c.key, err);
  if (rc == KF_OK)
    rc = authn_apply_knobs(&c, p, err);
  if (rc == KF_OK)
    rc = authn_create_build(&c, res, err);
  EVP_PKEY_free(c.key);
  if (rc != KF_OK)
    kh_authn_result_release(res);
  return rc;
}

/* The credential's JSON into c: key, id, user handle, RP id, counter, last challenge. */
static kf_rc authn_cer_load(kh_authn_cer *c, const char *credential, kf_err *err) {
  json_t *j = authn_arg_json(credential);
  if (j == NULL)
    return kf_err_set(err, KF_ERR_INVALID,
                      "the credential is not a JSON object this "
                      "authenticator made");
  kf_rc rc = authn_member_bytes(j, "id", c->id, sizeof c->id, &c->id_len, err);
  if (rc == KF_OK)
    rc = authn_member_bytes(j, "user", c->user, sizeof c->user, &c->user_len, err);
  const json_t *count = json_object_get(j, "count");
  if (rc == KF_OK && (!json_is_integer(count) || json_integer_value(count) < 0 ||
                      json_integer_value(count) > (json_int_t)UINT32_MAX))
    rc = kf_err_set(err, KF_ERR_INVALID, "the credential has no counter");
  if (rc == KF_OK)
    c->stored = (uint32_t)json_integer_value(count);
  if (rc == KF_OK &&
      authn_member(j, "challenge", c->last_challenge, sizeof c->last_challenge) != KF_OK)
    c->last_challenge[0] = '\0';
  const char *key = json_string_value(json_object_get(j, "key"));
  if (rc == KF_OK)
    rc = key != NULL ? authn_key_import(key, &c->key, err)
                     : kf_err_set(err, KF_ERR_INVALID, "the credential has no key");
  json_decref(j);
  return rc;
}

/* Whether request options let this credential answer: allowCredentials empty or listing it. */
static bool authn_allowed(const kh_authn_cer *c, const json_t *o) {
  const json_t *allow = json_object_get(o, "allowCredentials");
  if (json_array_size(allow) == 0)
    return true;
  size_t i;
  const json_t *d;
  json_array_foreach(allow, i, d) {
    unsigned char id[AUTHN_ID_MAX];
    size_t len = 0;
    kf_err ignored;
    kf_err_init(&ignored);
    if (authn_member_bytes(d, "id", id, sizeof id, &len, &ignored) == KF_OK && len == c->id_len &&
        memcmp(id, c->id, len) == 0)
      return true;
  }
  return false;
}

static kf_rc authn_assertion_json(const kh_authn_cer *c, const kf_buf *cd, const unsigned char *ad,
                                  size_t ad_len, const unsigned char *sig, size_t sig_len,
                                  char **out, kf_err *err) {
  json_t *resp = json_object();
  bool ok = resp != NULL &&
            authn_set_b64(resp, "clientDataJSON", (const unsigned char *)cd->data, cd->len) &&
            authn_set_b64(resp, "authenticatorData", ad, ad_len) &&
            authn_set_b64(resp, "signature", sig, sig_len) &&
            authn_set_b64(resp, "userHandle", c->user_sent, c->user_sent_len);
  return authn_pkc_json(c, resp, ok, out, err);
}

static kf_rc authn_get_build(kh_authn_cer *c, kh_authn_result *res, kf_err *err) {
  kf_buf cd;
  kf_buf_init(&cd, AUTHN_TEXT_MAX * 4);
  unsigned char hash[32], ad[AUTHN_AUTHDATA_MAX], sig[AUTHN_SIG_MAX];
  size_t ad_len = 0, sig_len = 0;
  kf_rc rc = authn_client_data_pair(c, &cd, hash, err);
  if (rc == KF_OK)
    rc = authn_auth_data(c, ad, &ad_len, err);
  if (rc == KF_OK)
    rc = authn_signature(c, ad, ad_len, hash, sig, &sig_len, err);
  if (rc == KF_OK)
    rc = authn_assertion_json(c, &cd, ad, ad_len, sig, sig_len, &res->response, err);
  /* A refused counter must not become the one the next honest get counts from. */
  if (rc == KF_OK)
    rc = authn_credential_json(c, c->count > c->stored ? c->count : c->stored, &res->credential,
                               err);
  if (rc == KF_OK && (res->client_data = kf_memdup0(cd.data, cd.len)) == NULL)
    rc = kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  kf_buf_release(&cd);
  return rc;
}

kf_rc kh_authn_get(const json_t *options, const char *credential, const kh_authn_params *p,
                   kh_authn_result *res, kf_err *err) {
  if (sodium_init() < 0)
    return kf_err_set(err, KF_ERR_INTERNAL, "libsodium cannot be initialised");
  const json_t *o = authn_options(options);
  kh_authn_cer c;
  kf_rc rc = authn_cer_start(&c, false, o, json_string_value(json_object_get(o, "rpId")), p, err);
  if (rc == KF_OK)
    rc = authn_cer_load(&c, credential, err);
  if (rc == KF_OK && !authn_allowed(&c, o))
    rc = kf_err_set(err, KF_ERR_INVALID,
                    "the options' allowCredentials do not list this credential: a browser "
                    "would not offer it");
  if (rc == KF_OK && c.stored == UINT32_MAX)
    rc = kf_err_set(err, KF_ERR_LIMIT, "the sign counter is at its end");
  c.count = c.stored + 1;
  if (rc == KF_OK)
    rc = authn_apply_knobs(&c, p, err);
  if (rc == KF_OK)
    rc = authn_get_build(&c, res, err);
  EVP_PKEY_free(c.key);
  if (rc != KF_OK)
    kh_authn_result_release(res);
  return rc;
}
