/*
 * ks_pwhash.c: argon2id password hashing.
 */
#include "ks_pwhash.h"

#include <assert.h>
#include <string.h>

#include "kf/uuid.h"

kf_rc ks_pwhash_init(ks_pwhash *ph, const char *cost, unsigned long long ops_override,
                     size_t mem_kib_override, kf_err *err) {
  assert(ph != NULL && cost != NULL);
  memset(ph, 0, sizeof *ph);
  if (sodium_init() < 0)
    return kf_err_set(err, KF_ERR_INTERNAL, "libsodium failed to start");
  if (strcmp(cost, "interactive") == 0) {
    ph->opslimit = crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE;
    ph->memlimit = crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE;
  } else if (strcmp(cost, "moderate") == 0) {
    ph->opslimit = crypto_pwhash_argon2id_OPSLIMIT_MODERATE;
    ph->memlimit = crypto_pwhash_argon2id_MEMLIMIT_MODERATE;
  } else if (strcmp(cost, "test") == 0) {
    /* Cheap enough for test suites that register thousands of accounts. */
    ph->opslimit = 1;
    ph->memlimit = crypto_pwhash_argon2id_MEMLIMIT_MIN;
  } else {
    return kf_err_set(err, KF_ERR_INVALID, "unknown hash cost '%s' (interactive, moderate, test)",
                      cost);
  }
  if (ops_override != 0) {
    if (ops_override < crypto_pwhash_argon2id_OPSLIMIT_MIN ||
        ops_override > crypto_pwhash_argon2id_OPSLIMIT_MAX)
      return kf_err_set(err, KF_ERR_INVALID, "argon2 ops %llu out of range", ops_override);
    ph->opslimit = ops_override;
  }
  if (mem_kib_override != 0) {
    if (mem_kib_override > SIZE_MAX / 1024 ||
        mem_kib_override * 1024 < crypto_pwhash_argon2id_MEMLIMIT_MIN ||
        mem_kib_override * 1024 > crypto_pwhash_argon2id_MEMLIMIT_MAX)
      return kf_err_set(err, KF_ERR_INVALID, "argon2 memory %zu KiB out of range",
                        mem_kib_override);
    ph->memlimit = mem_kib_override * 1024;
  }
  char random_pw[33];
  kf_random_hex(random_pw, 16);
  return ks_pwhash_hash(ph, random_pw, strlen(random_pw), ph->dummy, err);
}

kf_rc ks_pwhash_hash(const ks_pwhash *ph, const char *pw, size_t len,
                     char out[crypto_pwhash_STRBYTES], kf_err *err) {
  assert(ph != NULL && out != NULL);
  if (crypto_pwhash_str_alg(out, pw != NULL ? pw : "", len, ph->opslimit, ph->memlimit,
                            crypto_pwhash_ALG_ARGON2ID13) != 0)
    return kf_err_set(err, KF_ERR_NOMEM, "argon2id could not allocate %zu bytes", ph->memlimit);
  return KF_OK;
}

bool ks_pwhash_verify(const ks_pwhash *ph, const char *hash, const char *pw, size_t len) {
  assert(ph != NULL);
  const char *h = hash != NULL ? hash : ph->dummy;
  bool ok = crypto_pwhash_str_verify(h, pw != NULL ? pw : "", len) == 0;
  return hash != NULL && ok;
}
