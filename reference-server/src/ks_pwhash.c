/*
 * ks_pwhash.c: argon2id password hashing.
 */
#include "ks_pwhash.h"

#include <assert.h>
#include <string.h>

#include "kf/uuid.h"

typedef struct pwhash_cost {
  const char *name;
  unsigned long long opslimit;
  size_t memlimit;
} pwhash_cost;

static const pwhash_cost pwhash_costs[] = {
#define PWHASH_X_ROW(name, ops, mem) {name, ops, mem},
    KS_PWHASH_COSTS(PWHASH_X_ROW)
#undef PWHASH_X_ROW
};

static const pwhash_cost *pwhash_cost_find(const char *name) {
  for (size_t i = 0; i < sizeof pwhash_costs / sizeof pwhash_costs[0]; i++) {
    if (strcmp(pwhash_costs[i].name, name) == 0)
      return &pwhash_costs[i];
  }
  return NULL;
}

bool ks_pwhash_cost_known(const char *name) {
  return name != NULL && pwhash_cost_find(name) != NULL;
}

kf_rc ks_pwhash_init(ks_pwhash *ph, const char *cost, unsigned long long ops_override,
                     size_t mem_kib_override, kf_err *err) {
  assert(ph != NULL && cost != NULL);
  memset(ph, 0, sizeof *ph);
  if (sodium_init() < 0)
    return kf_err_set(err, KF_ERR_INTERNAL, "libsodium failed to start");
  const pwhash_cost *named = pwhash_cost_find(cost);
  if (named == NULL)
    return kf_err_set(err, KF_ERR_INVALID, "unknown hash cost '%s' (interactive, moderate, test)",
                      cost);
  ph->opslimit = named->opslimit;
  ph->memlimit = named->memlimit;
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

/* Check pw against the dummy hash only for its cost: the answer is known already. */
static void pwhash_spend(const ks_pwhash *ph, const char *pw, size_t len) {
  int never_matches = crypto_pwhash_str_verify(ph->dummy, pw, len);
  (void)never_matches;
}

bool ks_pwhash_verify(const ks_pwhash *ph, const char *hash, const char *pw, size_t len,
                      bool *stale) {
  assert(ph != NULL);
  const char *p = pw != NULL ? pw : "";
  if (stale != NULL)
    *stale = false;
  if (hash == NULL) {
    /* The answer is known, but the work must be done so an unknown user costs the same. */
    pwhash_spend(ph, p, len);
    return false;
  }
  bool ok = crypto_pwhash_str_verify(hash, p, len) == 0;
  if (crypto_pwhash_str_needs_rehash(hash, ph->opslimit, ph->memlimit) != 0) {
    /* A cheaper stored hash would answer faster than the dummy check for an
     * unknown user and so tell that the account exists: pay the current cost too. */
    pwhash_spend(ph, p, len);
    if (stale != NULL)
      *stale = true;
  }
  return ok;
}
