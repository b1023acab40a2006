/*
 * ks_pwhash.h: argon2id password hashing (libsodium) with a configurable cost
 * and a dummy hash so that logins for unknown users cost the same (AUTH-04).
 *
 * Ownership: ks_pwhash is plain caller-owned state with nothing to free; hashes
 * go to caller-owned buffers.
 */
#ifndef KS_PWHASH_H
#define KS_PWHASH_H

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>

#include "kf/error.h"

typedef struct ks_pwhash {
  unsigned long long opslimit;
  size_t memlimit;                    /* Bytes. */
  char dummy[crypto_pwhash_STRBYTES]; /* A hash of a random password, same cost. */
} ks_pwhash;

/*
 * X(name, ops limit, memory limit in bytes): the named costs. test is cheap
 * enough for test suites that register thousands of accounts (and needs
 * --test-mode).
 */
#define KS_PWHASH_COSTS(X)                                                                         \
  X("interactive", crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE,                                    \
    crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE)                                                   \
  X("moderate", crypto_pwhash_argon2id_OPSLIMIT_MODERATE,                                          \
    crypto_pwhash_argon2id_MEMLIMIT_MODERATE)                                                      \
  X("test", 1, crypto_pwhash_argon2id_MEMLIMIT_MIN)

/* Whether name is one of KS_PWHASH_COSTS. */
bool ks_pwhash_cost_known(const char *name);

/*
 * Set the cost from a name ("interactive", "moderate" or "test") and optional
 * overrides (0 = keep the named value; mem in KiB). KF_ERR_INVALID for an
 * unknown name or an override outside libsodium's limits.
 */
kf_rc ks_pwhash_init(ks_pwhash *ph, const char *cost, unsigned long long ops_override,
                     size_t mem_kib_override, kf_err *err);

/* Hash pw (len bytes) into out; KF_ERR_NOMEM if argon2 could not get its memory. */
kf_rc ks_pwhash_hash(const ks_pwhash *ph, const char *pw, size_t len,
                     char out[crypto_pwhash_STRBYTES], kf_err *err);

/*
 * Whether pw matches hash. With hash NULL the dummy hash is checked instead, so
 * the work done for an unknown user equals that for a wrong password; the
 * answer is then always false.
 *
 * A stored hash made at another cost than the current one (an older, cheaper
 * setting, or a string libsodium cannot read) is checked and then the dummy
 * hash is checked as well, so no login takes less than the current cost
 * (AUTH-04). *stale (may be NULL) then says true: the caller should store a
 * new hash of pw at the current cost once the password proved right.
 */
bool ks_pwhash_verify(const ks_pwhash *ph, const char *hash, const char *pw, size_t len,
                      bool *stale);

#endif
