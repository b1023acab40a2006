/*
 * kh_shard.c: --shard K/N: parsing, membership, and the hashes that tell
 * whether two reports come from the same suite and catalogue (BLAKE2b from
 * libsodium: the identity must not depend on a platform's hash).
 */
#include "kh_shard.h"

#include <assert.h>
#include <sodium.h>
#include <string.h>

#include "kf/buf.h"
#include "kf/file.h"
#include "kh_runner.h"
#include "kh_suite.h"

#define KH_SHARD_HASH_BYTES 16
#define KH_SHARD_FILE_MAX (64u << 20)

_Static_assert(2 * KH_SHARD_HASH_BYTES + 1 == KF_RUN_HASH_HEX, "the hex form fits");

/* One decimal number of 1 to 4 digits; false for anything else. */
static bool kh_shard_number(const char *s, size_t len, unsigned *out) {
  if (len == 0 || len > 4)
    return false;
  unsigned v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  *out = v;
  return true;
}

kf_rc kh_shard_parse(const char *text, kh_shard *out, kf_err *err) {
  assert(text != NULL && out != NULL);
  const char *slash = strchr(text, '/');
  unsigned k = 0, n = 0;
  if (slash == NULL || !kh_shard_number(text, (size_t)(slash - text), &k) ||
      !kh_shard_number(slash + 1, strlen(slash + 1), &n))
    return kf_err_set(err, KF_ERR_INVALID,
                      "--shard wants K/N, two decimal numbers such as 1/4, not \"%s\"", text);
  if (n == 0 || n > KH_SHARD_MAX)
    return kf_err_set(err, KF_ERR_INVALID, "--shard %s: N must be 1 to %d", text, KH_SHARD_MAX);
  if (k == 0)
    return kf_err_set(err, KF_ERR_INVALID, "--shard %s: shards count from 1 (1/%u to %u/%u)", text,
                      n, n, n);
  if (k > n)
    return kf_err_set(err, KF_ERR_INVALID, "--shard %s: there is no shard %u of %u", text, k, n);
  out->index = k;
  out->total = n;
  return KF_OK;
}

bool kh_shard_has(const kh_shard *shard, size_t position) {
  if (shard == NULL || shard->total == 0)
    return true;
  return position % shard->total == shard->index - 1;
}

static void kh_shard_hex(const unsigned char *bin, char hex[KF_RUN_HASH_HEX]) {
  sodium_bin2hex(hex, KF_RUN_HASH_HEX, bin, KH_SHARD_HASH_BYTES);
}

void kh_shard_suite_hash(const kh_suite *suite, const kh_selection *sel, size_t *count,
                         char hex[KF_RUN_HASH_HEX]) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, NULL, 0, KH_SHARD_HASH_BYTES);
  *count = 0;
  for (size_t i = 0; i < suite->entries_len; i++) {
    const kh_suite_entry *e = &suite->entries[i];
    if (!kh_selection_match(sel, e->scenario))
      continue;
    /* The NULs keep "a" + "bc" apart from "ab" + "c". */
    crypto_generichash_update(&st, (const unsigned char *)e->file->path, strlen(e->file->path) + 1);
    crypto_generichash_update(&st, (const unsigned char *)e->scenario->name,
                              strlen(e->scenario->name) + 1);
    (*count)++;
  }
  unsigned char bin[KH_SHARD_HASH_BYTES];
  crypto_generichash_final(&st, bin, sizeof bin);
  kh_shard_hex(bin, hex);
}

kf_rc kh_shard_file_hash(const char *path, char hex[KF_RUN_HASH_HEX], kf_err *err) {
  kf_buf b;
  kf_buf_init(&b, KH_SHARD_FILE_MAX);
  kf_rc rc = kf_file_read(path, &b, err);
  if (rc == KF_OK) {
    unsigned char bin[KH_SHARD_HASH_BYTES];
    crypto_generichash(bin, sizeof bin, (const unsigned char *)(b.data != NULL ? b.data : ""),
                       b.len, NULL, 0);
    kh_shard_hex(bin, hex);
  }
  kf_buf_release(&b);
  return rc;
}
