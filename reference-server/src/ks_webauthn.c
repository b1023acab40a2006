/*
 * ks_webauthn.c: WebAuthn verification (see ks_webauthn.h): parsing by hand
 * and with libcbor and jansson, then the check tables of section 7.1 and 7.2.
 */
#include "ks_webauthn.h"

#include <assert.h>
#include <fido.h>
#include <fido/es256.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/str.h"
#include "ks_fault.h"

/* ---- Result codes. ---- */

static const char *const wa_result_codes[] = {
#define WA_X_CODE(name, code) code,
    KS_WA_RESULTS(WA_X_CODE)
#undef WA_X_CODE
};

const char *ks_wa_result_code(ks_wa_result r) {
  assert(r < KS_WA_RESULT_COUNT);
  return wa_result_codes[r];
}

/* ---- Base64url (RFC 4648 section 5, no padding), strict. ---- */

char *ks_wa_b64url(const unsigned char *bytes, size_t n) {
  size_t size = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  char *out = kf_malloc(size);
  if (out != NULL)
    sodium_bin2base64(out, size, bytes, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return out;
}

bool ks_wa_b64url_decode(const char *text, size_t text_len, unsigned char *out, size_t cap,
                         size_t *len) {
  const char *end = NULL;
  *len = 0;
  /* libsodium refuses padding, other alphabets and non-zero trailing bits in this variant. */
  if (sodium_base642bin(out, cap, text, text_len, NULL, len, &end,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
    return false;
  return end == text + text_len;
}

/*
 * The base64url string member key of obj, decoded into a new buffer of at
 * most cap bytes (*out, caller frees). KF_ERR_PARSE when it is missing, no
 * string or no base64url; KF_ERR_NOMEM.
 */
static kf_rc wa_b64_member(const json_t *obj, const char *key, size_t cap, unsigned char **out,
                           size_t *len) {
  const json_t *v = json_object_get(obj, key);
  *out = NULL;
  *len = 0;
  if (!json_is_string(v) || json_string_length(v) == 0)
    return KF_ERR_PARSE;
  size_t text_len = json_string_length(v);
  if (text_len / 4 * 3 > cap)
    return KF_ERR_PARSE;
  unsigned char *buf = kf_malloc(text_len / 4 * 3 + 3);
  if (buf == NULL)
    return KF_ERR_NOMEM;
  if (!ks_wa_b64url_decode(json_string_value(v), text_len, buf, text_len / 4 * 3 + 3, len)) {
    kf_free(buf);
    return KF_ERR_PARSE;
  }
  *out = buf;
  return KF_OK;
}

/* Whether the JSON string v is exactly the text s (v may hold NULs). */
static bool wa_json_str_eq(const json_t *v, const char *s) {
  size_t n = strlen(s);
  return json_is_string(v) && json_string_length(v) == n && memcmp(json_string_value(v), s, n) == 0;
}

/* ---- clientDataJSON (section 5.8.1), with jansson. ---- */

/* Parse the clientDataJSON bytes into cd: KF_ERR_PARSE when they are no client data. */
static kf_rc wa_client_data_parse(const unsigned char *bytes, size_t len, ks_wa_client_data *cd) {
  crypto_hash_sha256(cd->hash, bytes, len);
  json_error_t jerr;
  cd->root = json_loadb((const char *)bytes, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!json_is_object(cd->root))
    return KF_ERR_PARSE;
  cd->type = json_object_get(cd->root, "type");
  cd->origin = json_object_get(cd->root, "origin");
  cd->top_origin = json_object_get(cd->root, "topOrigin");
  const json_t *challenge = json_object_get(cd->root, "challenge");
  const json_t *cross = json_object_get(cd->root, "crossOrigin");
  if (!json_is_string(cd->type) || !json_is_string(cd->origin) || !json_is_string(challenge))
    return KF_ERR_PARSE;
  if ((cross != NULL && !json_is_boolean(cross)) ||
      (cd->top_origin != NULL && !json_is_string(cd->top_origin)))
    return KF_ERR_PARSE;
  cd->cross_origin = json_is_true(cross);
  /* A challenge that does not decode names no challenge we issued: judged as unknown. */
  cd->challenge_decoded =
      ks_wa_b64url_decode(json_string_value(challenge), json_string_length(challenge),
                          cd->challenge, sizeof cd->challenge, &cd->challenge_len);
  return KF_OK;
}

/* ---- authenticatorData (section 6.1), by hand. ---- */

/* The length of the one definite CBOR map at p (at most n bytes), or 0 when there is none. */
static size_t wa_cbor_map_len(const unsigned char *p, size_t n) {
  struct cbor_load_result res;
  cbor_item_t *item = cbor_load(p, n, &res);
  if (item == NULL)
    return 0;
  bool map = cbor_isa_map(item) && cbor_map_is_definite(item);
  cbor_decref(&item);
  return map && res.error.code == CBOR_ERR_NONE ? res.read : 0;
}

static uint32_t wa_be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* The attested credential data at p[*off]: aaguid 16, length 2, id, COSE key. */
static bool wa_attested_parse(const unsigned char *p, size_t n, size_t *off, ks_wa_auth_data *ad) {
  if (n - *off < 18)
    return false;
  ad->aaguid = p + *off;
  size_t id_len = (size_t)p[*off + 16] << 8 | p[*off + 17];
  *off += 18;
  if (n - *off < id_len)
    return false;
  ad->cred_id = p + *off;
  ad->cred_id_len = id_len;
  *off += id_len;
  size_t key_len = wa_cbor_map_len(p + *off, n - *off);
  if (key_len == 0)
    return false;
  ad->cose_key = p + *off;
  ad->cose_key_len = key_len;
  *off += key_len;
  ad->attested = true;
  return true;
}

/*
 * Parse n bytes at p into ad. An assertion carries no attested credential
 * data, so AT set there is malformed. Bytes after the end are counted in
 * ad->trailing, which the well-formedness check judges.
 */
static void wa_auth_data_parse(const unsigned char *p, size_t n, bool assertion,
                               ks_wa_auth_data *ad) {
  memset(ad, 0, sizeof *ad);
  ad->raw = p;
  ad->len = n;
  if (n < 37)
    return;
  ad->rp_id_hash = p;
  ad->flags = p[32];
  ad->sign_count = wa_be32(p + 33);
  size_t off = 37;
  if ((ad->flags & KS_WA_FLAG_AT) != 0 && (assertion || !wa_attested_parse(p, n, &off, ad)))
    return;
  if ((ad->flags & KS_WA_FLAG_ED) != 0) {
    size_t ext_len = wa_cbor_map_len(p + off, n - off);
    if (ext_len == 0)
      return;
    off += ext_len;
  }
  ad->trailing = n - off;
  ad->well_formed = true;
}

/* ---- COSE keys (RFC 9053): ES256 only. ---- */

typedef struct wa_cose {
  bool has_kty, has_alg, has_crv;
  int64_t kty, alg, crv;
  const unsigned char *x, *y;
  size_t x_len, y_len;
} wa_cose;

/* The integer of a CBOR uint or negint item that fits an int64_t, else false. */
static bool wa_cbor_int(const cbor_item_t *item, int64_t *v) {
  if (!cbor_is_int(item) || cbor_get_int(item) > INT64_MAX)
    return false;
  int64_t u = (int64_t)cbor_get_int(item);
  *v = cbor_isa_negint(item) ? -1 - u : u;
  return true;
}

/* An integer parameter, once. */
static bool wa_cose_int(bool *has, int64_t *dst, const cbor_item_t *v) {
  if (*has || !wa_cbor_int(v, dst))
    return false;
  *has = true;
  return true;
}

/* A byte-string parameter, once. */
static bool wa_cose_bytes(const unsigned char **dst, size_t *len, const cbor_item_t *v) {
  if (*dst != NULL || !cbor_isa_bytestring(v) || !cbor_bytestring_is_definite(v))
    return false;
  *dst = cbor_bytestring_handle(v);
  *len = cbor_bytestring_length(v);
  return true;
}

/* Record one parameter of a COSE key; false on a duplicate or a value of the wrong type. */
static bool wa_cose_param(wa_cose *k, int64_t label, const cbor_item_t *v) {
  switch (label) {
  case 1:
    return wa_cose_int(&k->has_kty, &k->kty, v);
  case 3:
    return wa_cose_int(&k->has_alg, &k->alg, v);
  case -1:
    return wa_cose_int(&k->has_crv, &k->crv, v);
  case -2:
    return wa_cose_bytes(&k->x, &k->x_len, v);
  case -3:
    return wa_cose_bytes(&k->y, &k->y_len, v);
  default:
    return true; /* A parameter ES256 does not use. */
  }
}

/* Parse the COSE key map item: integer labels, kty and alg present. */
static bool wa_cose_read(const cbor_item_t *map, wa_cose *k) {
  memset(k, 0, sizeof *k);
  if (!cbor_isa_map(map) || !cbor_map_is_definite(map))
    return false;
  struct cbor_pair *pairs = cbor_map_handle(map);
  for (size_t i = 0; i < cbor_map_size(map); i++) {
    int64_t label = 0;
    if (!wa_cbor_int(pairs[i].key, &label) || !wa_cose_param(k, label, pairs[i].value))
      return false;
  }
  return k->has_kty && k->has_alg;
}

/*
 * The COSE key at p as an ES256 public key in libfido2's form (*pk, caller
 * frees with es256_pk_free); *alg gets its alg whenever the key parses.
 * False unless it is an EC2 P-256 key with alg -7 whose point is on the curve.
 */
static bool wa_cose_es256(const unsigned char *p, size_t n, int64_t *alg, es256_pk_t **pk) {
  struct cbor_load_result res;
  cbor_item_t *item = cbor_load(p, n, &res);
  wa_cose k;
  bool ok = item != NULL && wa_cose_read(item, &k);
  *pk = NULL;
  if (ok)
    *alg = k.alg;
  ok = ok && k.kty == 2 && k.alg == KS_WA_COSE_ES256 && k.has_crv && k.crv == 1 && k.x_len == 32 &&
       k.y_len == 32;
  unsigned char point[65];
  if (ok) {
    point[0] = 0x04;
    memcpy(point + 1, k.x, 32);
    memcpy(point + 33, k.y, 32);
    *pk = es256_pk_new();
    /* es256_pk_from_ptr refuses a point that is not on the curve. */
    ok = *pk != NULL && es256_pk_from_ptr(*pk, point, sizeof point) == FIDO_OK;
  }
  if (item != NULL)
    cbor_decref(&item);
  if (!ok)
    es256_pk_free(pk);
  return ok;
}

/* Whether sig (DER ECDSA) signs authData || clientDataHash with the ES256 key pk. */
static bool wa_es256_verify(const es256_pk_t *pk, const ks_wa_auth_data *ad,
                            const unsigned char hash[32], const unsigned char *sig,
                            size_t sig_len) {
  EVP_PKEY *pkey = es256_pk_to_EVP_PKEY(pk);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  bool ok = pkey != NULL && md != NULL && sig != NULL &&
            EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
            EVP_DigestVerifyUpdate(md, ad->raw, ad->len) == 1 &&
            EVP_DigestVerifyUpdate(md, hash, 32) == 1 &&
            EVP_DigestVerifyFinal(md, sig, sig_len) == 1;
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(pkey);
  return ok;
}

/* ---- The credential JSON (WebAuthn L3 section 5.1.8 / 5.1.9 JSON forms). ---- */

/* id, rawId (the same base64url text) and type "public-key"; the response object in *response. */
static kf_rc wa_envelope(const json_t *cred, const json_t **response, unsigned char **raw_id,
                         size_t *raw_id_len) {
  *response = json_object_get(cred, "response");
  if (!json_is_object(cred) || !json_is_object(*response) ||
      !wa_json_str_eq(json_object_get(cred, "type"), "public-key") ||
      !json_equal(json_object_get(cred, "id"), json_object_get(cred, "rawId")))
    return KF_ERR_PARSE;
  return wa_b64_member(cred, "rawId", KS_WA_BINARY_MAX, raw_id, raw_id_len);
}

/* The clientDataJSON member of response, decoded and parsed into cd. */
static kf_rc wa_client_data_member(const json_t *response, unsigned char **bytes, size_t *len,
                                   ks_wa_client_data *cd) {
  kf_rc rc = wa_b64_member(response, "clientDataJSON", KS_WA_CLIENT_DATA_MAX, bytes, len);
  return rc == KF_OK ? wa_client_data_parse(*bytes, *len, cd) : rc;
}

/* Whether the key of pair is the definite text name. */
static bool wa_key_is(const struct cbor_pair *pair, const char *name) {
  size_t n = strlen(name);
  return cbor_isa_string(pair->key) && cbor_string_is_definite(pair->key) &&
         cbor_string_length(pair->key) == n && memcmp(cbor_string_handle(pair->key), name, n) == 0;
}

/* Keep fmt's text; one with a NUL or too long for any format is kept as "cut" and matches none. */
static bool wa_att_fmt(ks_wa_registration *reg, const cbor_item_t *fmt) {
  if (!cbor_isa_string(fmt) || !cbor_string_is_definite(fmt) || cbor_string_length(fmt) == 0)
    return false;
  size_t len = cbor_string_length(fmt);
  const unsigned char *s = cbor_string_handle(fmt);
  reg->fmt_cut = len >= sizeof reg->fmt || memchr(s, '\0', len) != NULL;
  if (!reg->fmt_cut)
    memcpy(reg->fmt, s, len);
  return true;
}

/* The attestationObject: one CBOR map, nothing after it, fmt, attStmt and authData once each. */
static bool wa_att_parse(ks_wa_registration *reg) {
  struct cbor_load_result res;
  reg->att = cbor_load(reg->att_obj, reg->att_obj_len, &res);
  if (reg->att == NULL || res.read != reg->att_obj_len || !cbor_isa_map(reg->att) ||
      !cbor_map_is_definite(reg->att))
    return false;
  const cbor_item_t *fmt = NULL, *auth = NULL;
  struct cbor_pair *pairs = cbor_map_handle(reg->att);
  for (size_t i = 0; i < cbor_map_size(reg->att); i++) {
    const cbor_item_t **slot = wa_key_is(&pairs[i], "fmt")        ? &fmt
                               : wa_key_is(&pairs[i], "attStmt")  ? &reg->att_stmt
                               : wa_key_is(&pairs[i], "authData") ? &auth
                                                                  : NULL;
    if (slot != NULL && *slot != NULL)
      return false;
    if (slot != NULL)
      *slot = pairs[i].value;
  }
  if (fmt == NULL || !wa_att_fmt(reg, fmt) || reg->att_stmt == NULL ||
      !cbor_isa_map(reg->att_stmt) || !cbor_map_is_definite(reg->att_stmt) || auth == NULL ||
      !cbor_isa_bytestring(auth) || !cbor_bytestring_is_definite(auth))
    return false;
  wa_auth_data_parse(cbor_bytestring_handle(auth), cbor_bytestring_length(auth), false, &reg->ad);
  return true;
}

kf_rc ks_wa_registration_parse(const json_t *credential, ks_wa_registration *reg, kf_err *err) {
  memset(reg, 0, sizeof *reg);
  reg->malformed = true;
  const json_t *response = NULL;
  kf_rc rc = wa_envelope(credential, &response, &reg->raw_id, &reg->raw_id_len);
  if (rc == KF_OK)
    rc = wa_client_data_member(response, &reg->client_data_json, &reg->client_data_len, &reg->cd);
  if (rc == KF_OK)
    rc = wa_b64_member(response, "attestationObject", KS_WA_BINARY_MAX, &reg->att_obj,
                       &reg->att_obj_len);
  if (rc == KF_OK && !wa_att_parse(reg))
    rc = KF_ERR_PARSE;
  if (rc == KF_ERR_NOMEM)
    return kf_err_set(err, rc, "out of memory");
  reg->malformed = rc != KF_OK;
  return KF_OK;
}

void ks_wa_registration_release(ks_wa_registration *reg) {
  if (reg == NULL)
    return;
  kf_free(reg->raw_id);
  kf_free(reg->client_data_json);
  kf_free(reg->att_obj);
  json_decref(reg->cd.root);
  if (reg->att != NULL)
    cbor_decref(&reg->att);
  memset(reg, 0, sizeof *reg);
}

/* The optional userHandle: absent or null is none; otherwise base64url of at most 64 bytes. */
static kf_rc wa_user_handle(const json_t *response, ks_wa_assertion *as) {
  const json_t *v = json_object_get(response, "userHandle");
  if (v == NULL || json_is_null(v))
    return KF_OK;
  as->has_user_handle = true;
  if (!json_is_string(v))
    return KF_ERR_PARSE;
  return ks_wa_b64url_decode(json_string_value(v), json_string_length(v), as->user_handle,
                             sizeof as->user_handle, &as->user_handle_len)
             ? KF_OK
             : KF_ERR_PARSE;
}

kf_rc ks_wa_assertion_parse(const json_t *credential, ks_wa_assertion *as, kf_err *err) {
  memset(as, 0, sizeof *as);
  as->malformed = true;
  const json_t *response = NULL;
  kf_rc rc = wa_envelope(credential, &response, &as->raw_id, &as->raw_id_len);
  if (rc == KF_OK)
    rc = wa_client_data_member(response, &as->client_data_json, &as->client_data_len, &as->cd);
  if (rc == KF_OK)
    rc = wa_b64_member(response, "authenticatorData", KS_WA_BINARY_MAX, &as->auth_raw,
                       &as->auth_len);
  if (rc == KF_OK)
    rc = wa_b64_member(response, "signature", KS_WA_BINARY_MAX, &as->sig, &as->sig_len);
  if (rc == KF_OK)
    rc = wa_user_handle(response, as);
  if (rc == KF_ERR_NOMEM)
    return kf_err_set(err, rc, "out of memory");
  as->malformed = rc != KF_OK;
  if (!as->malformed)
    wa_auth_data_parse(as->auth_raw, as->auth_len, true, &as->ad);
  return KF_OK;
}

void ks_wa_assertion_release(ks_wa_assertion *as) {
  if (as == NULL)
    return;
  kf_free(as->raw_id);
  kf_free(as->client_data_json);
  kf_free(as->auth_raw);
  kf_free(as->sig);
  json_decref(as->cd.root);
  memset(as, 0, sizeof *as);
}

/* ---- The checks. ---- */

/* One ceremony being judged: what every check reads, and what the key check leaves the later ones.
 */
typedef struct wa_ctx {
  const ks_server *srv;
  const ks_wa_rp *rp;
  const char *want_type; /* "webauthn.create" or "webauthn.get". */
  bool malformed;
  const ks_wa_client_data *cd;
  const ks_wa_auth_data *ad;
  bool challenge_found;
  int64_t challenge_expires_at;
  const ks_wa_registration *reg; /* Registration only. */
  const ks_wa_reg_facts *rf;
  const ks_wa_assertion *as; /* Assertion only. */
  const ks_wa_login_facts *lf;
  int64_t alg;    /* The credential key's alg, once the algorithm check parsed it. */
  es256_pk_t *pk; /* The credential key (owned), once parsed. */
  bool packed;    /* The format check found "packed" (else "none"). */
} wa_ctx;

typedef struct wa_check {
  ks_wa_result fails_with;
  bool (*ok)(wa_ctx *c);
} wa_check;

static bool wa_well_formed(wa_ctx *c) {
  return !c->malformed;
}

/* Section 7.1 step 7, 7.2 step 10. */
static bool wa_type(wa_ctx *c) {
  if (ks_fault_on(c->srv, KS_FAULT_PK_TYPE_NOT_CHECKED))
    return true;
  return wa_json_str_eq(c->cd->type, c->want_type);
}

/* Step 8 / 11: an outstanding challenge (the store said whether the one named is). */
static bool wa_challenge_known(wa_ctx *c) {
  return c->challenge_found;
}

/* Valid for 300 s on the request clock: at expires_at it has expired. */
static bool wa_challenge_fresh(wa_ctx *c) {
  if (ks_fault_on(c->srv, KS_FAULT_PK_CHALLENGE_NEVER_EXPIRES))
    return true;
  return c->rp->now < c->challenge_expires_at;
}

/* Step 9 / 12: exactly the portal's origin. */
static bool wa_origin(wa_ctx *c) {
  if (ks_fault_on(c->srv, KS_FAULT_PK_ORIGIN_NOT_CHECKED))
    return true;
  return wa_json_str_eq(c->cd->origin, c->rp->origin);
}

/* Step 10 / 13: the portal is never framed by another origin, so neither member may say it was. */
static bool wa_cross_origin(wa_ctx *c) {
  if (ks_fault_on(c->srv, KS_FAULT_PK_CROSS_ORIGIN_ACCEPTED))
    return true;
  return !c->cd->cross_origin;
}

static bool wa_top_origin(wa_ctx *c) {
  if (ks_fault_on(c->srv, KS_FAULT_PK_TOP_ORIGIN_ACCEPTED))
    return true;
  return c->cd->top_origin == NULL;
}

/* Step 12 / before 14: nothing truncated, nothing after the end. */
static bool wa_auth_data(wa_ctx *c) {
  if (!c->ad->well_formed)
    return false;
  if (ks_fault_on(c->srv, KS_FAULT_PK_AUTH_DATA_TRAILING_IGNORED))
    return true;
  return c->ad->trailing == 0;
}

/* Step 13 / 14. */
static bool wa_rp_id_hash(wa_ctx *c) {
  if (ks_fault_on(c->srv, KS_FAULT_PK_RP_ID_HASH_NOT_CHECKED))
    return true;
  unsigned char want[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(want, (const unsigned char *)c->rp->rp_id, strlen(c->rp->rp_id));
  return sodium_memcmp(want, c->ad->rp_id_hash, sizeof want) == 0;
}

/* Step 14 / 15. */
static bool wa_user_present(wa_ctx *c) {
  if (ks_fault_on(c->srv, KS_FAULT_PK_UP_NOT_CHECKED))
    return true;
  return (c->ad->flags & KS_WA_FLAG_UP) != 0;
}

/* Step 15 / 16: the options ask for userVerification "required" (PK-01). */
static bool wa_user_verified(wa_ctx *c) {
  if (ks_fault_on(c->srv, KS_FAULT_PK_UV_NOT_REQUIRED))
    return true;
  return (c->ad->flags & KS_WA_FLAG_UV) != 0;
}

/*
 * Step 16 / 17: BS never without BE; and at login (step 18) BE as it was
 * registered, since backup eligibility is fixed when a credential is made.
 */
static bool wa_backup(wa_ctx *c) {
  if (ks_fault_on(c->srv, KS_FAULT_PK_BACKUP_STATE_NOT_CHECKED))
    return true;
  bool be = (c->ad->flags & KS_WA_FLAG_BE) != 0;
  if ((c->ad->flags & KS_WA_FLAG_BS) != 0 && !be)
    return false;
  return c->lf == NULL || be == c->lf->backup_eligible;
}

/* Registration: the attested credential data is there (AT), or there is no key to store. */
static bool wa_attested(wa_ctx *c) {
  return c->ad->attested;
}

/* The credential's rawId is the id in the attested credential data. */
static bool wa_raw_id_matches(wa_ctx *c) {
  return c->ad->cred_id_len == c->reg->raw_id_len &&
         memcmp(c->ad->cred_id, c->reg->raw_id, c->reg->raw_id_len) == 0;
}

/* Step 19: the key's alg is one offered (ES256 only), and the key a valid ES256 key. */
static bool wa_algorithm(wa_ctx *c) {
  bool ok = wa_cose_es256(c->ad->cose_key, c->ad->cose_key_len, &c->alg, &c->pk);
  if (ks_fault_on(c->srv, KS_FAULT_PK_ALG_NOT_CHECKED))
    return true;
  return ok;
}

static bool wa_str_eq(const char *a, const char *b) {
  return strcmp(a, b) == 0;
}

/* Step 21: "none" or "packed", compared as USASCII case-sensitively. */
static bool wa_format(wa_ctx *c) {
  const char *fmt = c->reg->fmt_cut ? "" : c->reg->fmt;
  bool (*eq)(const char *, const char *) =
      ks_fault_on(c->srv, KS_FAULT_PK_FMT_CASE_INSENSITIVE) ? kf_str_eq_ci : wa_str_eq;
  c->packed = eq(fmt, "packed");
  return c->packed || eq(fmt, "none");
}

/* A packed self attestation (section 8.2): {alg, sig}, no x5c; alg the key's; sig by the key. */
static bool wa_packed(wa_ctx *c) {
  const cbor_item_t *st = c->reg->att_stmt;
  const cbor_item_t *alg_item = NULL, *sig_item = NULL;
  struct cbor_pair *pairs = cbor_map_handle(st);
  for (size_t i = 0; i < cbor_map_size(st); i++) {
    const cbor_item_t **slot = wa_key_is(&pairs[i], "alg")   ? &alg_item
                               : wa_key_is(&pairs[i], "sig") ? &sig_item
                                                             : NULL;
    /* x5c (full attestation) and anything else: only self attestation is supported. */
    if (slot == NULL || *slot != NULL)
      return false;
    *slot = pairs[i].value;
  }
  int64_t alg = 0;
  if (alg_item == NULL || !wa_cbor_int(alg_item, &alg) || sig_item == NULL ||
      !cbor_isa_bytestring(sig_item) || !cbor_bytestring_is_definite(sig_item))
    return false;
  if (alg != c->alg && !ks_fault_on(c->srv, KS_FAULT_PK_PACKED_ALG_NOT_CHECKED))
    return false;
  if (ks_fault_on(c->srv, KS_FAULT_PK_PACKED_SIGNATURE_NOT_CHECKED))
    return true;
  return c->pk != NULL &&
         wa_es256_verify(c->pk, c->ad, c->cd->hash, cbor_bytestring_handle(sig_item),
                         cbor_bytestring_length(sig_item));
}

/* Step 22: the statement of the format found. */
static bool wa_statement(wa_ctx *c) {
  if (c->packed)
    return wa_packed(c);
  if (ks_fault_on(c->srv, KS_FAULT_PK_NONE_ATTSTMT_IGNORED))
    return true;
  return cbor_map_size(c->reg->att_stmt) == 0;
}

/* Step 25. */
static bool wa_cred_id_length(wa_ctx *c) {
  if (ks_fault_on(c->srv, KS_FAULT_PK_CRED_ID_LENGTH_NOT_CHECKED))
    return true;
  return c->ad->cred_id_len <= KS_WA_CRED_ID_MAX;
}

/* Step 26: registered to no account (the store looked). */
static bool wa_cred_id_free(wa_ctx *c) {
  if (ks_fault_on(c->srv, KS_FAULT_PK_CRED_ID_DUPLICATE_ACCEPTED))
    return true;
  return !c->rf->cred_id_taken;
}

/* Section 7.2 step 6: a stored credential ... */
static bool wa_cred_known(wa_ctx *c) {
  return c->lf->cred_found;
}

/* ... of the account the userHandle names (which the discoverable flow must carry). */
static bool wa_user_handle_owns(wa_ctx *c) {
  if (ks_fault_on(c->srv, KS_FAULT_PK_USER_HANDLE_NOT_CHECKED))
    return true;
  return c->as->has_user_handle && c->lf->handle_found &&
         c->lf->handle_account_id == c->lf->cred_account_id;
}

/* Step 21: the signature over authenticatorData || SHA-256(clientDataJSON), with the stored key. */
static bool wa_signature(wa_ctx *c) {
  if (ks_fault_on(c->srv, KS_FAULT_PK_SIGNATURE_NOT_CHECKED))
    return true;
  int64_t alg = 0;
  if (!wa_cose_es256(c->lf->cose_key, c->lf->cose_key_len, &alg, &c->pk))
    return false;
  return wa_es256_verify(c->pk, c->ad, c->cd->hash, c->as->sig, c->as->sig_len);
}

/* Step 22: a counter that is not zero must grow; otherwise the authenticator may be a clone. */
static bool wa_sign_count(wa_ctx *c) {
  if (ks_fault_on(c->srv, KS_FAULT_PK_COUNTER_NOT_CHECKED))
    return true;
  int64_t now = c->ad->sign_count, stored = c->lf->stored_sign_count;
  return (now == 0 && stored == 0) || now > stored;
}

/*
 * The client data and authenticator data checks, alike in both ceremonies and
 * in this order: section 7.1 steps 7 to 17 and section 7.2 steps 11 to 21.
 */
static const wa_check wa_shared_checks[] = {
    {KS_WA_CLIENT_DATA_TYPE, wa_type},
    {KS_WA_CHALLENGE_UNKNOWN, wa_challenge_known},
    {KS_WA_CHALLENGE_EXPIRED, wa_challenge_fresh},
    {KS_WA_ORIGIN, wa_origin},
    {KS_WA_CROSS_ORIGIN, wa_cross_origin},
    {KS_WA_TOP_ORIGIN, wa_top_origin},
    {KS_WA_AUTH_DATA_MALFORMED, wa_auth_data},
    {KS_WA_RP_ID_HASH, wa_rp_id_hash},
    {KS_WA_USER_PRESENCE, wa_user_present},
    {KS_WA_USER_VERIFICATION, wa_user_verified},
    {KS_WA_BACKUP_STATE, wa_backup},
};

/* Section 7.1, in its order: these before the shared checks, ... */
static const wa_check wa_registration_before[] = {
    {KS_WA_CREDENTIAL_MALFORMED, wa_well_formed},
};

/* ... these after them. */
static const wa_check wa_registration_after[] = {
    {KS_WA_ATTESTED_DATA_MISSING, wa_attested},
    {KS_WA_CREDENTIAL_MALFORMED, wa_raw_id_matches},
    {KS_WA_ALGORITHM, wa_algorithm},
    {KS_WA_ATTESTATION_FORMAT, wa_format},
    {KS_WA_ATTESTATION_STATEMENT, wa_statement},
    {KS_WA_CREDENTIAL_ID_LENGTH, wa_cred_id_length},
    {KS_WA_CREDENTIAL_ID_TAKEN, wa_cred_id_free},
};

/* Section 7.2, in its order: the credential is identified before the client data is read, ... */
static const wa_check wa_assertion_before[] = {
    {KS_WA_CREDENTIAL_MALFORMED, wa_well_formed},
    {KS_WA_CREDENTIAL_UNKNOWN, wa_cred_known},
    {KS_WA_USER_HANDLE, wa_user_handle_owns},
};

/* ... and its signature and counter checked after the shared checks. */
static const wa_check wa_assertion_after[] = {
    {KS_WA_SIGNATURE, wa_signature},
    {KS_WA_SIGN_COUNT, wa_sign_count},
};

#define WA_CHECKS(table) (table), (sizeof(table) / sizeof(table)[0])

/* What both ceremonies check alike; the caller adds its own facts. */
static wa_ctx wa_ctx_make(const ks_server *srv, const ks_wa_rp *rp, const char *want_type,
                          bool malformed, const ks_wa_client_data *cd, const ks_wa_auth_data *ad,
                          bool challenge_found, int64_t challenge_expires_at) {
  return (wa_ctx){.srv = srv,
                  .rp = rp,
                  .want_type = want_type,
                  .malformed = malformed,
                  .cd = cd,
                  .ad = ad,
                  .challenge_found = challenge_found,
                  .challenge_expires_at = challenge_expires_at};
}

/* Run the n checks in order while r is KS_WA_OK: the first that fails is the verdict. */
static ks_wa_result wa_run_part(wa_ctx *c, ks_wa_result r, const wa_check *checks, size_t n) {
  for (size_t i = 0; i < n && r == KS_WA_OK; i++) {
    if (!checks[i].ok(c))
      r = checks[i].fails_with;
  }
  return r;
}

/* The ceremony's checks before the shared ones, the shared ones, then its checks after them. */
static ks_wa_result wa_run(wa_ctx *c, const wa_check *before, size_t n_before,
                           const wa_check *after, size_t n_after) {
  ks_wa_result r = wa_run_part(c, KS_WA_OK, before, n_before);
  r = wa_run_part(c, r, WA_CHECKS(wa_shared_checks));
  r = wa_run_part(c, r, after, n_after);
  es256_pk_free(&c->pk);
  return r;
}

ks_wa_result ks_wa_registration_verify(const ks_server *srv, const ks_wa_rp *rp,
                                       const ks_wa_registration *reg, const ks_wa_reg_facts *f) {
  wa_ctx c = wa_ctx_make(srv, rp, "webauthn.create", reg->malformed, &reg->cd, &reg->ad,
                         f->challenge_found, f->challenge_expires_at);
  c.reg = reg;
  c.rf = f;
  return wa_run(&c, WA_CHECKS(wa_registration_before), WA_CHECKS(wa_registration_after));
}

int64_t ks_wa_registration_alg(const ks_wa_registration *reg) {
  es256_pk_t *pk = NULL;
  int64_t alg = 0;
  (void)wa_cose_es256(reg->ad.cose_key, reg->ad.cose_key_len, &alg, &pk);
  es256_pk_free(&pk);
  return alg;
}

ks_wa_result ks_wa_assertion_verify(const ks_server *srv, const ks_wa_rp *rp,
                                    const ks_wa_assertion *as, const ks_wa_login_facts *f) {
  wa_ctx c = wa_ctx_make(srv, rp, "webauthn.get", as->malformed, &as->cd, &as->ad,
                         f->challenge_found, f->challenge_expires_at);
  c.as = as;
  c.lf = f;
  return wa_run(&c, WA_CHECKS(wa_assertion_before), WA_CHECKS(wa_assertion_after));
}
