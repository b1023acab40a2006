/*
 * kt_webauthn.c: WebAuthn answers made from parts, for unit tests (see kt_webauthn.h).
 */
#include "kt_webauthn.h"

#include <assert.h>
#include <cbor.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <sodium.h>
#include <string.h>

#include "kf/alloc.h"

#define KT_AD_MAX 4096
#define KT_CBOR_MAX 8192
#define KT_CD_MAX 1024
#define KT_SIG_MAX 80

kf_rc kt_wa_key_init(kt_wa_key *k, size_t id_len) {
  assert(id_len <= KT_WA_ID_MAX);
  memset(k, 0, sizeof *k);
  k->key = EVP_EC_gen("P-256");
  if (k->key == NULL)
    return KF_ERR_INTERNAL;
  k->id_len = id_len;
  randombytes_buf(k->id, id_len);
  return KF_OK;
}

void kt_wa_key_release(kt_wa_key *k) {
  EVP_PKEY_free(k->key);
  k->key = NULL;
}

void kt_wa_knobs_init(kt_wa_knobs *kn, const unsigned char *challenge, size_t len, bool create) {
  memset(kn, 0, sizeof *kn);
  kn->challenge = challenge;
  kn->challenge_len = len;
  kn->flags = 0x01u | 0x04u | (create ? 0x40u : 0u);
}

void kt_wa_b64url(const unsigned char *bytes, size_t n, char *out, size_t size) {
  sodium_bin2base64(out, size, bytes, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static json_t *kt_b64_json(const unsigned char *bytes, size_t n) {
  size_t size = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  char *text = kf_malloc(size);
  if (text == NULL)
    return NULL;
  kt_wa_b64url(bytes, n, text, size);
  json_t *s = json_string(text);
  kf_free(text);
  return s;
}

/* x and y of k's public point, 32 bytes each. */
static kf_rc kt_point(const EVP_PKEY *key, unsigned char x[32], unsigned char y[32]) {
  BIGNUM *bx = NULL, *by = NULL;
  bool ok = EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &bx) == 1 &&
            EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &by) == 1 &&
            BN_bn2binpad(bx, x, 32) == 32 && BN_bn2binpad(by, y, 32) == 32;
  BN_free(bx);
  BN_free(by);
  return ok ? KF_OK : KF_ERR_INTERNAL;
}

static void kt_map_put(cbor_item_t *map, cbor_item_t *key, cbor_item_t *value) {
  bool ok = cbor_map_add(map, (struct cbor_pair){.key = cbor_move(key), .value = cbor_move(value)});
  assert(ok);
  (void)ok;
}

static cbor_item_t *kt_int(int64_t v) {
  return v >= 0 ? cbor_build_uint64((uint64_t)v) : cbor_build_negint64((uint64_t)(-1 - v));
}

/* The COSE_Key of k with alg: {1: 2, 3: alg, -1: 1, -2: x, -3: y}, serialised to out. */
static size_t kt_cose_key(const kt_wa_key *k, int64_t alg, unsigned char *out, size_t size) {
  unsigned char x[32], y[32];
  if (kt_point(k->key, x, y) != KF_OK)
    return 0;
  cbor_item_t *map = cbor_new_definite_map(5);
  kt_map_put(map, kt_int(1), kt_int(2));
  kt_map_put(map, kt_int(3), kt_int(alg));
  kt_map_put(map, kt_int(-1), kt_int(1));
  kt_map_put(map, kt_int(-2), cbor_build_bytestring(x, 32));
  kt_map_put(map, kt_int(-3), cbor_build_bytestring(y, 32));
  size_t n = cbor_serialize(map, out, size);
  cbor_decref(&map);
  return n;
}

/* The authenticatorData as kn says (attested: with k's credential data), into out. */
static size_t kt_auth_data(const kt_wa_key *k, const kt_wa_knobs *kn, bool attested,
                           uint32_t counter, unsigned char *out) {
  const char *rp_id = kn->rp_id != NULL ? kn->rp_id : KT_WA_RP_ID;
  crypto_hash_sha256(out, (const unsigned char *)rp_id, strlen(rp_id));
  out[32] = (unsigned char)kn->flags;
  for (int i = 0; i < 4; i++)
    out[33 + i] = (unsigned char)(counter >> (24 - 8 * i));
  size_t n = 37;
  if (attested) {
    memset(out + n, 0, 16); /* AAGUID: none. */
    out[n + 16] = (unsigned char)(k->id_len >> 8);
    out[n + 17] = (unsigned char)k->id_len;
    memcpy(out + n + 18, k->id, k->id_len);
    n += 18 + k->id_len;
    n += kt_cose_key(k, kn->cose_alg != 0 ? kn->cose_alg : -7, out + n, KT_AD_MAX - n - 64);
  }
  memset(out + n, 0, kn->trailing);
  n += kn->trailing;
  return n > kn->cut ? n - kn->cut : 0;
}

/* The clientDataJSON as kn says; edited: with a member added after signing. */
static size_t kt_client_data(const kt_wa_knobs *kn, bool create, bool edited, char *out) {
  json_t *cd =
      json_pack("{s:s, s:o, s:s, s:b}", "type",
                kn->type != NULL ? kn->type
                : create         ? "webauthn.create"
                                 : "webauthn.get",
                "challenge", kt_b64_json(kn->challenge, kn->challenge_len), "origin",
                kn->origin != NULL ? kn->origin : KT_WA_ORIGIN, "crossOrigin", kn->cross_origin);
  assert(cd != NULL);
  if (kn->top_origin != NULL)
    json_object_set_new(cd, "topOrigin", json_string(kn->top_origin));
  if (edited)
    json_object_set_new(cd, "edited", json_true());
  size_t n = json_dumpb(cd, out, KT_CD_MAX, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(cd);
  assert(n > 0 && n <= KT_CD_MAX);
  return n;
}

/* ECDSA P-256 over ad || SHA-256(cd) with key, DER, into sig; one bit flipped when asked. */
static size_t kt_sign(EVP_PKEY *key, const unsigned char *ad, size_t ad_len, const char *cd,
                      size_t cd_len, bool flip, unsigned char *sig) {
  unsigned char hash[32];
  crypto_hash_sha256(hash, (const unsigned char *)cd, cd_len);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  size_t n = KT_SIG_MAX;
  bool ok = md != NULL && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
            EVP_DigestSignUpdate(md, ad, ad_len) == 1 && EVP_DigestSignUpdate(md, hash, 32) == 1 &&
            EVP_DigestSignFinal(md, sig, &n) == 1;
  EVP_MD_CTX_free(md);
  assert(ok);
  if (flip)
    sig[n - 1] ^= 0x01u;
  return ok ? n : 0;
}

/* The attStmt kn asks for: {} (none), {"x": 1}, or packed {alg, sig}. */
static cbor_item_t *kt_att_stmt(const kt_wa_key *k, const kt_wa_knobs *kn, const unsigned char *ad,
                                size_t ad_len, const char *cd, size_t cd_len) {
  if (!kn->packed) {
    cbor_item_t *st = cbor_new_definite_map(1);
    if (kn->att_stmt_not_empty)
      kt_map_put(st, cbor_build_string("x"), kt_int(1));
    return st;
  }
  unsigned char sig[KT_SIG_MAX];
  size_t n = kt_sign(kn->sign_with != NULL ? kn->sign_with : k->key, ad, ad_len, cd, cd_len,
                     kn->flip_signature, sig);
  cbor_item_t *st = cbor_new_definite_map(2);
  kt_map_put(st, cbor_build_string("alg"), kt_int(kn->packed_alg != 0 ? kn->packed_alg : -7));
  kt_map_put(st, cbor_build_string("sig"), cbor_build_bytestring(sig, n));
  return st;
}

/* {id, rawId, type, response, clientExtensionResults} around response. */
static json_t *kt_credential(const kt_wa_key *k, const kt_wa_knobs *kn, json_t *response) {
  json_t *id =
      kn->raw_id_text != NULL ? json_string(kn->raw_id_text) : kt_b64_json(k->id, k->id_len);
  return json_pack("{s:O, s:o, s:s, s:o, s:{}}", "id", id, "rawId", id, "type", "public-key",
                   "response", response, "clientExtensionResults");
}

kf_rc kt_wa_create(const kt_wa_key *k, const kt_wa_knobs *kn, json_t **out) {
  static unsigned char ad[KT_AD_MAX], att[KT_CBOR_MAX];
  char cd[KT_CD_MAX];
  size_t ad_len = kt_auth_data(k, kn, !kn->no_attested_data, 0, ad);
  size_t cd_len = kt_client_data(kn, true, false, cd);
  cbor_item_t *map = cbor_new_definite_map(3);
  const char *fmt = kn->fmt != NULL ? kn->fmt : kn->packed ? "packed" : "none";
  kt_map_put(map, cbor_build_string("fmt"), cbor_build_string(fmt));
  kt_map_put(map, cbor_build_string("attStmt"), kt_att_stmt(k, kn, ad, ad_len, cd, cd_len));
  kt_map_put(map, cbor_build_string("authData"), cbor_build_bytestring(ad, ad_len));
  size_t att_len = cbor_serialize(map, att, sizeof att);
  cbor_decref(&map);
  if (kn->edit_client_data)
    cd_len = kt_client_data(kn, true, true, cd);
  json_t *response =
      json_pack("{s:o, s:o}", "clientDataJSON", kt_b64_json((const unsigned char *)cd, cd_len),
                "attestationObject", kt_b64_json(att, att_len));
  *out = kt_credential(k, kn, response);
  return *out != NULL && att_len > 0 ? KF_OK : KF_ERR_INTERNAL;
}

kf_rc kt_wa_get(kt_wa_key *k, const kt_wa_knobs *kn, json_t **out) {
  static unsigned char ad[KT_AD_MAX];
  char cd[KT_CD_MAX];
  unsigned char sig[KT_SIG_MAX];
  uint32_t counter = kn->counter_set ? kn->counter : k->counter + 1;
  k->counter = counter;
  size_t ad_len = kt_auth_data(k, kn, (kn->flags & 0x40u) != 0, counter, ad);
  size_t cd_len = kt_client_data(kn, false, false, cd);
  size_t sig_len = kt_sign(kn->sign_with != NULL ? kn->sign_with : k->key, ad, ad_len, cd, cd_len,
                           kn->flip_signature, sig);
  if (kn->edit_client_data)
    cd_len = kt_client_data(kn, false, true, cd);
  json_t *response = json_pack("{s:o, s:o, s:o}", "clientDataJSON",
                               kt_b64_json((const unsigned char *)cd, cd_len), "authenticatorData",
                               kt_b64_json(ad, ad_len), "signature", kt_b64_json(sig, sig_len));
  if (response != NULL && kn->user_handle != NULL)
    json_object_set_new(response, "userHandle", kt_b64_json(kn->user_handle, kn->user_handle_len));
  *out = kt_credential(k, kn, response);
  return *out != NULL ? KF_OK : KF_ERR_INTERNAL;
}
