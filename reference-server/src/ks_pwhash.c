/*
 * ks_pwhash.c: argon2id password hashing.
 */
#include "ks_pwhash.h"

#include <assert.h>
#include <pthread.h>
#include <string.h>

#include "kf/log.h"
#include "kf/str.h"

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

/* Read a decimal number of at most 19 digits at *p and move past it. */
static bool pwhash_number(const char **p, unsigned long long *out) {
  size_t n = 0;
  *out = 0;
  while ((*p)[n] >= '0' && (*p)[n] <= '9' && n < 19) {
    *out = *out * 10 + (unsigned long long)((*p)[n] - '0');
    n++;
  }
  *p += n;
  return n > 0;
}

/*
 * The cost of an argon2id hash string as libsodium writes it,
 * "$argon2id$v=19$m=<KiB>,t=<ops>,p=1$<salt>$<hash>"; false for anything else.
 */
static bool pwhash_params(const char *hash, unsigned long long *ops, unsigned long long *kib) {
  static const char head[] = "$argon2id$v=19$m=";
  if (hash == NULL || !kf_str_starts_with(hash, head))
    return false;
  const char *p = hash + sizeof head - 1;
  unsigned long long lanes = 0;
  if (!pwhash_number(&p, kib) || !kf_str_starts_with(p, ",t="))
    return false;
  p += 3;
  if (!pwhash_number(&p, ops) || !kf_str_starts_with(p, ",p="))
    return false;
  p += 3;
  return pwhash_number(&p, &lanes) && *p == '$';
}

static bool pwhash_is(unsigned long long ops, size_t mem, unsigned long long h_ops,
                      unsigned long long h_kib) {
  return ops == h_ops && mem / 1024 == h_kib;
}

/*
 * Every argon2id computation goes through these two, so a test's probe sees
 * each one with its cost. Hash pw at ops and mem into out; 0 on success.
 */
static int pwhash_run_hash(const ks_pwhash *ph, char out[crypto_pwhash_STRBYTES], const char *pw,
                           size_t len, unsigned long long ops, size_t mem) {
  if (ph->probe != NULL)
    ph->probe(ph->probe_arg, ops, mem);
  return crypto_pwhash_str_alg(out, pw, len, ops, mem, crypto_pwhash_ALG_ARGON2ID13);
}

/* Check pw against hash, at ops and mem as far as the caller knows; 0 when it matches. */
static int pwhash_run_verify(const ks_pwhash *ph, const char *hash, const char *pw, size_t len,
                             unsigned long long ops, size_t mem) {
  if (ph->probe != NULL)
    ph->probe(ph->probe_arg, ops, mem);
  return crypto_pwhash_str_verify(hash, pw, len);
}

/* A hash string's memory cost in bytes, for the probe; 0 when it does not fit a size_t. */
static size_t pwhash_bytes(unsigned long long kib) {
  return kib > SIZE_MAX / 1024 ? 0 : (size_t)kib * 1024;
}

/* A hash of a random password at ops and mem, for checks whose answer is known already. */
static kf_rc pwhash_dummy(const ks_pwhash *ph, unsigned long long ops, size_t mem,
                          char out[crypto_pwhash_STRBYTES], kf_err *err) {
  char random_pw[33];
  kf_random_hex(random_pw, 16);
  if (pwhash_run_hash(ph, out, random_pw, strlen(random_pw), ops, mem) != 0)
    return kf_err_set(err, KF_ERR_NOMEM, "argon2id could not hash at t=%llu, m=%zu KiB", ops,
                      mem / 1024);
  return KF_OK;
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
  atomic_init(&ph->in_use, 0u);
  atomic_init(&ph->loaded, false);
  for (size_t i = 0; i < KS_PWHASH_CLASSES_MAX; i++)
    atomic_init(&ph->old[i].accounts, 0);
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
  return pwhash_dummy(ph, ph->opslimit, ph->memlimit, ph->dummy, err);
}

kf_rc ks_pwhash_hash(const ks_pwhash *ph, const char *pw, size_t len,
                     char out[crypto_pwhash_STRBYTES], kf_err *err) {
  assert(ph != NULL && out != NULL);
  if (pwhash_run_hash(ph, out, pw != NULL ? pw : "", len, ph->opslimit, ph->memlimit) != 0)
    return kf_err_set(err, KF_ERR_NOMEM, "argon2id could not allocate %zu bytes", ph->memlimit);
  return KF_OK;
}

/* Check pw against the dummy hash only for its cost: the answer is known already. */
static void pwhash_spend(const ks_pwhash *ph, const char *pw, size_t len) {
  int never_matches = pwhash_run_verify(ph, ph->dummy, pw, len, ph->opslimit, ph->memlimit);
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
  unsigned long long ops = 0, kib = 0;
  if (!pwhash_params(hash, &ops, &kib))
    ops = kib = 0;
  bool ok = pwhash_run_verify(ph, hash, p, len, ops, pwhash_bytes(kib)) == 0;
  if (crypto_pwhash_str_needs_rehash(hash, ph->opslimit, ph->memlimit) != 0) {
    /* A cheaper stored hash would answer faster than the dummy check for an
     * unknown user and so tell that the account exists: pay the current cost too. */
    pwhash_spend(ph, p, len);
    if (stale != NULL)
      *stale = true;
  }
  return ok;
}

/* ---- The cost classes of the login ------------------------------------------ */

/* Guards ks_pwhash_load_once, the only time classes are added; static, so nothing to free. */
static pthread_mutex_t pwhash_load_lock = PTHREAD_MUTEX_INITIALIZER;

kf_rc ks_pwhash_load_once(ks_pwhash *ph, kf_rc (*load)(void *arg, ks_pwhash *ph, kf_err *err),
                          void *arg, kf_err *err) {
  assert(ph != NULL && load != NULL);
  if (atomic_load_explicit(&ph->loaded, memory_order_acquire))
    return KF_OK;
  pthread_mutex_lock(&pwhash_load_lock);
  kf_rc rc = KF_OK;
  bool was_loaded = atomic_load_explicit(&ph->loaded, memory_order_relaxed);
  if (!was_loaded) {
    rc = load(arg, ph, err);
    if (rc == KF_OK) {
      atomic_store_explicit(&ph->loaded, true, memory_order_release);
    } else {
      /* No login ran on a half count (they wait for the load): start over next time. */
      atomic_store_explicit(&ph->in_use, 0u, memory_order_relaxed);
      for (size_t i = 0; i < KS_PWHASH_CLASSES_MAX; i++) {
        ph->old[i].opslimit = 0;
        atomic_store_explicit(&ph->old[i].accounts, 0, memory_order_relaxed);
      }
    }
  }
  pthread_mutex_unlock(&pwhash_load_lock);
  if (rc == KF_OK && !was_loaded)
    kf_info("password hashes: %zu older cost class(es) in use, each paid for by every login",
            ks_pwhash_classes_in_use(ph));
  return rc;
}

kf_rc ks_pwhash_class_count(ks_pwhash *ph, const char *hash, kf_err *err) {
  assert(ph != NULL);
  unsigned long long ops = 0, kib = 0;
  if (!pwhash_params(hash, &ops, &kib) || pwhash_is(ph->opslimit, ph->memlimit, ops, kib))
    return KF_OK;
  for (size_t i = 0; i < KS_PWHASH_CLASSES_MAX; i++) {
    ks_pwhash_class *c = &ph->old[i];
    if (c->opslimit != 0 && pwhash_is(c->opslimit, c->memlimit, ops, kib)) {
      atomic_fetch_add_explicit(&c->accounts, 1, memory_order_relaxed);
      return KF_OK;
    }
  }
  for (size_t i = 0; i < KS_PWHASH_CLASSES_MAX; i++) {
    ks_pwhash_class *c = &ph->old[i];
    if (c->opslimit != 0)
      continue;
    if (kib > SIZE_MAX / 1024)
      return kf_err_set(err, KF_ERR_INVALID, "a stored hash asks for %llu KiB", kib);
    kf_rc rc = pwhash_dummy(ph, ops, (size_t)kib * 1024, c->dummy, err);
    if (rc != KF_OK)
      return rc;
    c->opslimit = ops;
    c->memlimit = (size_t)kib * 1024;
    atomic_store_explicit(&c->accounts, 1, memory_order_relaxed);
    atomic_fetch_or_explicit(&ph->in_use, 1u << i, memory_order_release);
    return KF_OK;
  }
  return kf_err_set(err, KF_ERR_LIMIT,
                    "more than %d older hash costs in use; t=%llu, m=%llu KiB "
                    "is checked without the other logins paying for it",
                    KS_PWHASH_CLASSES_MAX, ops, kib);
}

void ks_pwhash_class_release(ks_pwhash *ph, const char *hash) {
  assert(ph != NULL);
  unsigned long long ops = 0, kib = 0;
  if (!pwhash_params(hash, &ops, &kib))
    return;
  unsigned mask = atomic_load_explicit(&ph->in_use, memory_order_acquire);
  for (size_t i = 0; i < KS_PWHASH_CLASSES_MAX; i++) {
    ks_pwhash_class *c = &ph->old[i];
    if ((mask & (1u << i)) == 0 || !pwhash_is(c->opslimit, c->memlimit, ops, kib))
      continue;
    if (atomic_fetch_sub_explicit(&c->accounts, 1, memory_order_relaxed) == 1) {
      atomic_fetch_and_explicit(&ph->in_use, ~(1u << i), memory_order_release);
      kf_info("password hashes: no account is left at t=%llu, m=%llu KiB; logins stop paying "
              "for it",
              ops, kib);
    }
    return;
  }
}

size_t ks_pwhash_classes_in_use(const ks_pwhash *ph) {
  unsigned mask = atomic_load_explicit(&ph->in_use, memory_order_acquire);
  size_t n = 0;
  for (; mask != 0; mask &= mask - 1)
    n++;
  return n;
}

void ks_pwhash_login(const ks_pwhash *ph, const char *hash, const char *pw, size_t len,
                     ks_pwhash_check *out) {
  assert(ph != NULL && out != NULL);
  memset(out, 0, sizeof *out);
  const char *p = pw != NULL ? pw : "";
  unsigned long long ops = 0, kib = 0;
  bool parsed = pwhash_params(hash, &ops, &kib);
  bool current = parsed && pwhash_is(ph->opslimit, ph->memlimit, ops, kib);
  out->stale = parsed && !current;
  bool checked = false;
  /* The current cost: a hash at it is checked, a stale one's replacement made, else the dummy. */
  if (current) {
    out->ok = pwhash_run_verify(ph, hash, p, len, ops, pwhash_bytes(kib)) == 0;
    checked = true;
  } else if (out->stale) {
    out->rehashed = pwhash_run_hash(ph, out->rehash, p, len, ph->opslimit, ph->memlimit) == 0;
  } else {
    pwhash_spend(ph, p, len);
  }
  /* Each older class in use: the stored hash at its own, the dummy at the others. */
  unsigned mask = atomic_load_explicit(&ph->in_use, memory_order_acquire);
  for (size_t i = 0; i < KS_PWHASH_CLASSES_MAX; i++) {
    const ks_pwhash_class *c = &ph->old[i];
    if ((mask & (1u << i)) == 0)
      continue;
    if (!checked && out->stale && pwhash_is(c->opslimit, c->memlimit, ops, kib)) {
      out->ok = pwhash_run_verify(ph, hash, p, len, ops, pwhash_bytes(kib)) == 0;
      checked = true;
    } else {
      int never_matches = pwhash_run_verify(ph, c->dummy, p, len, c->opslimit, c->memlimit);
      (void)never_matches;
    }
  }
  /* A class beyond KS_PWHASH_CLASSES_MAX: the one case still checked on top of the rest. */
  if (out->stale && !checked)
    out->ok = pwhash_run_verify(ph, hash, p, len, ops, pwhash_bytes(kib)) == 0;
}
