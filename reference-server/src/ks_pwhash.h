/*
 * ks_pwhash.h: argon2id password hashing (libsodium) with a configurable cost,
 * and the login's hash work, which is the same for every username (AUTH-04):
 * one argon2id computation per cost class in use (the current cost, and every
 * older cost that a stored hash still has after the operator raised it).
 *
 * Ownership: ks_pwhash is plain caller-owned state with nothing to free (the
 * classes live inside it; the lock that guards adding them is static); hashes
 * go to caller-owned buffers.
 */
#ifndef KS_PWHASH_H
#define KS_PWHASH_H

#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "kf/error.h"

/* The most older cost classes a login pays for; stored hashes at more are checked alone. */
#define KS_PWHASH_CLASSES_MAX 8

/* An older cost class: its limits, a hash of a random password at it, how many accounts hold it. */
typedef struct ks_pwhash_class {
  unsigned long long opslimit;
  size_t memlimit;
  char dummy[crypto_pwhash_STRBYTES];
  atomic_long accounts;
} ks_pwhash_class;

/*
 * A test's view of the hash work: called once per argon2id computation, from
 * the thread that ran it, with the cost it ran at (ops limit, memory limit in
 * bytes; 0, 0 for a stored string that names no argon2id cost).
 */
typedef void (*ks_pwhash_probe)(void *arg, unsigned long long opslimit, size_t memlimit);

typedef struct ks_pwhash {
  unsigned long long opslimit;
  size_t memlimit;                    /* Bytes. */
  char dummy[crypto_pwhash_STRBYTES]; /* A hash of a random password, same cost. */
  /*
   * The older classes. A row is written whole before its bit in in_use is set
   * (release), and never again while the bit is set, so a login reads in_use
   * (acquire) and then the rows of its bits without a lock.
   */
  ks_pwhash_class old[KS_PWHASH_CLASSES_MAX];
  atomic_uint in_use;
  atomic_bool loaded; /* ks_pwhash_load_once ran its loader successfully. */
  /* NULL in the server; a test sets it after ks_pwhash_init, before any thread hashes. */
  ks_pwhash_probe probe;
  void *probe_arg;
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
 * Whether pw matches hash. With hash NULL the dummy hash is checked instead;
 * the answer is then always false. A stored hash made at another cost than the
 * current one is checked and then the dummy hash as well, and *stale (may be
 * NULL) says true. The login uses ks_pwhash_login instead, which also pays for
 * every older class in use.
 */
bool ks_pwhash_verify(const ks_pwhash *ph, const char *hash, const char *pw, size_t len,
                      bool *stale);

/*
 * Run load(arg, ph, err) once for ph, under a lock, so the classes of the
 * stored hashes are known before the first login is checked; a failed load
 * is tried again by the next call.
 */
kf_rc ks_pwhash_load_once(ks_pwhash *ph, kf_rc (*load)(void *arg, ks_pwhash *ph, kf_err *err),
                          void *arg, kf_err *err);

/*
 * Count one stored hash into its class, for every account; only a loader
 * of ks_pwhash_load_once calls it (under that lock: it takes none itself).
 * Nothing for the current cost or a string that is no argon2id hash; an
 * older cost becomes a class (its dummy hashed now) with its first account.
 * KF_ERR_LIMIT when KS_PWHASH_CLASSES_MAX classes are taken already (that
 * class's accounts are then checked without the others paying for it: the
 * caller logs it), KF_ERR_NOMEM when argon2 had no memory.
 */
kf_rc ks_pwhash_class_count(ks_pwhash *ph, const char *hash, kf_err *err);

/*
 * One account no longer holds hash (it was replaced by a hash at the current
 * cost): when it was the last at its older class, the class drops out and
 * logins stop paying for it. This is the one count-down of every path that
 * replaces a stored hash (the login's rehash, a password reset), and each
 * calls it under two conditions. Only after the transaction whose UPDATE
 * changed the row has committed: a count taken down for a write that is then
 * rolled back would drop a class that an account still holds, whose logins
 * would then cost less than the others. And only when ks_pwhash_load_once ran
 * before that UPDATE: else the load may have counted the accounts after the
 * write, without hash, and this would take away an account it never counted.
 * Nothing for the current cost, a string that is no argon2id hash, or before
 * the classes are loaded.
 */
void ks_pwhash_class_release(ks_pwhash *ph, const char *hash);

/* How many older classes logins pay for now (for tests and logs). */
size_t ks_pwhash_classes_in_use(const ks_pwhash *ph);

/* What ks_pwhash_login found. */
typedef struct ks_pwhash_check {
  bool ok;       /* pw matches the stored hash; never with none. */
  bool stale;    /* The stored hash is at an older cost... */
  bool rehashed; /* ...and rehash holds pw at the current cost (store it only when ok). */
  char rehash[crypto_pwhash_STRBYTES];
} ks_pwhash_check;

/*
 * Check pw against hash (NULL: no account) with the same work whatever the
 * hash: one argon2id computation at the current cost and one at each older
 * class in use. The stored hash is checked at its own class; at the current
 * cost a stale hash's replacement is computed (a check and a hash cost one
 * argon2id run alike), and every other class checks its dummy. Wipe
 * out->rehash when done.
 */
void ks_pwhash_login(const ks_pwhash *ph, const char *hash, const char *pw, size_t len,
                     ks_pwhash_check *out);

#endif
