/*
 * kh_shard.h: --shard K/N and the identities a sharded run carries.
 *
 * A shard is a deterministic share of the selected scenarios: dealt
 * round-robin over the load order, shard K of N holds the selected scenarios
 * at positions K-1, K-1+N, K-1+2N, ... So every scenario is in exactly one
 * shard whatever --jobs, the shards differ by at most one scenario, and
 * `konform merge` can put the scenarios back in the single run's order from
 * K, N and the position in the shard alone.
 *
 * The identities (the suite's and the catalogue's hashes) are hex strings of
 * KF_RUN_HASH_HEX bytes (kf/run_result.h) in caller storage.
 */
#ifndef KH_SHARD_H
#define KH_SHARD_H

#include <stdbool.h>
#include <stddef.h>

#include "kf/error.h"
#include "kf/run_result.h"

struct kh_suite;
struct kh_selection;

/* Shard index of total (1-based); total 0 means the run is not sharded. */
typedef struct kh_shard {
  unsigned index, total;
} kh_shard;

/* The most shards a run may be cut into. */
#define KH_SHARD_MAX 1000

/*
 * Parse "K/N" (decimal, 1 <= K <= N <= KH_SHARD_MAX). KF_ERR_INVALID with a
 * message that names what is wrong: the form, a zero, K above N.
 */
kf_rc kh_shard_parse(const char *text, kh_shard *out, kf_err *err);

/* Whether the selected scenario at position (0-based, among the selected) is in shard. */
bool kh_shard_has(const kh_shard *shard, size_t position);

/*
 * The suite's identity: how many scenarios sel selects (NULL selects all)
 * into *count and the hash of their files and names, in load order, into hex.
 */
void kh_shard_suite_hash(const struct kh_suite *suite, const struct kh_selection *sel,
                         size_t *count, char hex[KF_RUN_HASH_HEX]);

/* The hash of the bytes of the file at path into hex. KF_ERR_IO etc. with err. */
kf_rc kh_shard_file_hash(const char *path, char hex[KF_RUN_HASH_HEX], kf_err *err);

#endif
