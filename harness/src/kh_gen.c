/*
 * kh_gen.c: the generators of `let NAME = GENERATOR(ARGS)`.
 *
 * Random choices (password characters, UUIDs) come from a splitmix64 stream
 * seeded by (seed, scenario index), so a seed replays a run exactly and
 * scenarios do not depend on each other's order. Identities (addresses,
 * unique suffixes, customer numbers) are built from (run id, scenario index,
 * counter) instead: the first two are injective by construction, customer
 * numbers are a hash because their format is fixed.
 */
#include "kh_gen.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/password_policy.h"
#include "kf/utf8.h"

const char *const KH_GEN_NAMES[] = {
    "email", "unique", "password", "customer_number", "uuid", "repeat", "upper", "lower", NULL};

/* Generated passwords never exceed this many characters. */
#define KH_GEN_MAX_PASSWORD 4096

static uint64_t kh_mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

void kh_gen_ctx_init(kh_gen_ctx *ctx, uint64_t seed, uint64_t run_id, uint64_t scenario) {
  assert(ctx != NULL);
  ctx->seed = seed;
  ctx->run_id = run_id;
  ctx->scenario = scenario;
  ctx->counter = 0;
  ctx->rng_state = kh_mix64(seed ^ kh_mix64(scenario ^ 0x6B6F6E666F726DULL));
}

/* splitmix64: small, fast and good enough for test data. */
static uint64_t kh_rng_next(kh_gen_ctx *ctx) {
  uint64_t z = (ctx->rng_state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* Uniform in [0, n) without modulo bias. */
static uint64_t kh_rng_below(kh_gen_ctx *ctx, uint64_t n) {
  assert(n > 0);
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t r;
  do {
    r = kh_rng_next(ctx);
  } while (r >= limit);
  return r % n;
}

/* ---- Argument checking ------------------------------------------------------ */

static const kh_arg *kh_named(const kh_let *let, const char *name) {
  for (size_t i = 0; i < let->args_len; i++) {
    if (let->args[i].name != NULL && strcmp(let->args[i].name, name) == 0)
      return &let->args[i];
  }
  return NULL;
}

static size_t kh_positional_count(const kh_let *let) {
  size_t n = 0;
  for (size_t i = 0; i < let->args_len; i++)
    n += let->args[i].name == NULL;
  return n;
}

static int kh_omit_class(const char *name) {
  if (strcmp(name, "upper") == 0)
    return 0;
  if (strcmp(name, "lower") == 0)
    return 1;
  if (strcmp(name, "digit") == 0)
    return 2;
  if (strcmp(name, "special") == 0)
    return 3;
  return -1;
}

kf_rc kh_gen_validate(const kh_let *let, kf_err *err) {
  assert(let != NULL);
  if (!let->is_call)
    return KF_OK;
  const char *f = let->func;
  size_t pos = kh_positional_count(let);
  size_t named = let->args_len - pos;
  bool no_args =
      strcmp(f, "email") == 0 || strcmp(f, "customer_number") == 0 || strcmp(f, "uuid") == 0;
  if (no_args) {
    if (let->args_len != 0)
      return kf_err_set(err, KF_ERR_INVALID, "%s() takes no arguments", f);
    return KF_OK;
  }
  if (strcmp(f, "unique") == 0 || strcmp(f, "upper") == 0 || strcmp(f, "lower") == 0) {
    bool optional = strcmp(f, "unique") == 0;
    if (named != 0 || pos > 1 || (pos == 0 && !optional) ||
        (pos == 1 && let->args[0].value.kind != KH_LIT_STRING))
      return kf_err_set(err, KF_ERR_INVALID, "%s() takes one string, as in %s(\"text\")", f, f);
    return KF_OK;
  }
  if (strcmp(f, "repeat") == 0) {
    if (named != 0 || pos != 2 || let->args[0].value.kind != KH_LIT_STRING ||
        let->args[1].value.kind != KH_LIT_NUMBER)
      return kf_err_set(err, KF_ERR_INVALID,
                        "repeat() takes a string and a count, as in repeat(\"ab\", 3)");
    if (let->args[1].value.number < 0 || let->args[1].value.number > (long long)KH_VAR_MAX_BYTES)
      return kf_err_set(err, KF_ERR_INVALID, "repeat() count must be between 0 and %u",
                        KH_VAR_MAX_BYTES);
    return KF_OK;
  }
  if (strcmp(f, "password") == 0) {
    if (pos != 0)
      return kf_err_set(err, KF_ERR_INVALID,
                        "password() takes only named arguments: length, omit, add");
    for (size_t i = 0; i < let->args_len; i++) {
      const kh_arg *a = &let->args[i];
      for (size_t j = 0; j < i; j++) {
        if (strcmp(let->args[j].name, a->name) == 0)
          return kf_err_set(err, KF_ERR_INVALID, "password() argument '%s' given twice", a->name);
      }
      if (strcmp(a->name, "length") == 0) {
        if (a->value.kind != KH_LIT_NUMBER || a->value.number < 0 ||
            a->value.number > KH_GEN_MAX_PASSWORD)
          return kf_err_set(err, KF_ERR_INVALID, "password(length=N) needs N between 0 and %d",
                            KH_GEN_MAX_PASSWORD);
      } else if (strcmp(a->name, "omit") == 0) {
        if (a->value.kind != KH_LIT_STRING || a->value.str.text == NULL ||
            kh_omit_class(a->value.str.text) < 0)
          return kf_err_set(
              err, KF_ERR_INVALID,
              "password(omit=...) takes \"upper\", \"lower\", \"digit\" or \"special\"");
      } else if (strcmp(a->name, "add") == 0) {
        if (a->value.kind != KH_LIT_STRING)
          return kf_err_set(err, KF_ERR_INVALID, "password(add=...) takes a string");
      } else {
        return kf_err_set(err, KF_ERR_INVALID,
                          "password() has no argument '%s' (valid: length, omit, add)", a->name);
      }
    }
    return KF_OK;
  }
  return kf_err_set(err, KF_ERR_INVALID,
                    "unknown generator '%s' (valid: email, unique, password, customer_number, "
                    "uuid, repeat, upper, lower)",
                    f);
}

/* ---- Generators ------------------------------------------------------------------ */

static kf_rc kh_out(kf_buf *out, kf_rc rc, kf_err *err) {
  (void)out;
  if (rc == KF_OK)
    return KF_OK;
  return kf_err_set(err, rc, "generated value does not fit: %s", kf_rc_name(rc));
}

static kf_rc kh_gen_password(kh_gen_ctx *ctx, const kh_let *let, const kh_vars *vars, kf_buf *out,
                             kf_err *err) {
  /*
   * Every special the policy allows, the double quote included: scenarios put
   * passwords into JSON bodies as {{name|json}}, which escapes it.
   */
  static const char *const classes[4] = {"ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz",
                                         "0123456789", "@#$%&*-_!+=;,.?/\"()"};
  bool use[4] = {true, true, true, true};
  long long length = 16;
  const kh_arg *a;
  if ((a = kh_named(let, "length")) != NULL)
    length = a->value.number;
  if ((a = kh_named(let, "omit")) != NULL)
    use[kh_omit_class(a->value.str.text)] = false;
  kf_buf add;
  kf_buf_init(&add, KH_VAR_MAX_BYTES);
  kf_rc rc = KF_OK;
  size_t add_chars = 0;
  if ((a = kh_named(let, "add")) != NULL) {
    if ((rc = kh_vars_expand(vars, &a->value.str, &add, err)) != KF_OK)
      goto out;
    add_chars = kf_utf8_count(add.data != NULL ? add.data : "", add.len);
    if (add_chars == (size_t)-1)
      add_chars = add.len;
  }
  size_t base = (size_t)length > add_chars ? (size_t)length - add_chars : 0;
  char pw[KH_GEN_MAX_PASSWORD];
  char pool[128];
  size_t pool_len = 0;
  size_t n = 0;
  /* One of each wanted class first, so a long enough password has them all. */
  for (int c = 0; c < 4; c++) {
    if (!use[c])
      continue;
    size_t clen = strlen(classes[c]);
    memcpy(pool + pool_len, classes[c], clen);
    pool_len += clen;
    if (n < base)
      pw[n++] = classes[c][kh_rng_below(ctx, clen)];
  }
  assert(pool_len > 0);
  while (n < base)
    pw[n++] = pool[kh_rng_below(ctx, pool_len)];
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)kh_rng_below(ctx, i);
    char t = pw[i - 1];
    pw[i - 1] = pw[j];
    pw[j] = t;
  }
  if ((rc = kf_buf_append(out, pw, n)) == KF_OK && add.len > 0)
    rc = kf_buf_append(out, add.data, add.len);
  rc = kh_out(out, rc, err);
out:
  kf_buf_release(&add);
  return rc;
}

static kf_rc kh_gen_string_arg(const kh_let *let, size_t index, const kh_vars *vars, kf_buf *tmp,
                               kf_err *err) {
  if (index >= let->args_len)
    return KF_OK;
  return kh_vars_expand(vars, &let->args[index].value.str, tmp, err);
}

kf_rc kh_gen_eval(kh_gen_ctx *ctx, const kh_let *let, const kh_vars *vars, kf_buf *out,
                  kf_err *err) {
  assert(ctx != NULL && let != NULL && out != NULL);
  if (!let->is_call) {
    switch (let->value.kind) {
    case KH_LIT_STRING:
      return kh_vars_expand(vars, &let->value.str, out, err);
    case KH_LIT_NUMBER:
      return kh_out(out, kf_buf_appendf(out, "%lld", let->value.number), err);
    case KH_LIT_BOOL:
      return kh_out(out, kf_buf_append_str(out, let->value.boolean ? "true" : "false"), err);
    case KH_LIT_NULL:
      return kh_out(out, kf_buf_append_str(out, "null"), err);
    }
    return kf_err_set(err, KF_ERR_INTERNAL, "unknown literal kind");
  }
  kf_rc rc = kh_gen_validate(let, err);
  if (rc != KF_OK)
    return rc;
  const char *f = let->func;
  uint64_t n = ctx->counter++;
  /*
   * Identities carry all 64 bits of the run id (16 hex digits): run ids that
   * differ only in their high half must not share accounts on a persistent
   * target.
   */
  if (strcmp(f, "email") == 0) {
    return kh_out(out,
                  kf_buf_appendf(out, "k%016" PRIx64 "-%" PRIu64 "-%" PRIu64 "@konform.test",
                                 ctx->run_id, ctx->scenario, n),
                  err);
  }
  if (strcmp(f, "customer_number") == 0) {
    uint64_t h = kh_mix64(kh_mix64(kh_mix64(ctx->run_id) ^ ctx->scenario) ^ n);
    uint64_t h2 = kh_mix64(h);
    return kh_out(out,
                  kf_buf_appendf(out, "%03u%c%06u", (unsigned)(h % 1000),
                                 (char)('A' + (h / 1000) % 26), (unsigned)(h2 % 1000000)),
                  err);
  }
  if (strcmp(f, "uuid") == 0) {
    uint64_t hi = kh_rng_next(ctx), lo = kh_rng_next(ctx);
    hi = (hi & 0xFFFFFFFFFFFF0FFFULL) | 0x4000ULL;             /* Version 4. */
    lo = (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL; /* RFC 4122 variant. */
    return kh_out(
        out,
        kf_buf_appendf(out, "%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64,
                       hi >> 32, (hi >> 16) & 0xFFFF, hi & 0xFFFF, lo >> 48,
                       (uint64_t)(lo & 0xFFFFFFFFFFFFULL)),
        err);
  }
  if (strcmp(f, "password") == 0)
    return kh_gen_password(ctx, let, vars, out, err);
  kf_buf tmp;
  kf_buf_init(&tmp, KH_VAR_MAX_BYTES);
  if ((rc = kh_gen_string_arg(let, 0, vars, &tmp, err)) != KF_OK)
    goto out;
  if (strcmp(f, "unique") == 0) {
    /* Hex run id, then scenario and counter in decimal: injective and [a-z0-9]. */
    rc = tmp.len > 0 ? kf_buf_append(out, tmp.data, tmp.len) : KF_OK;
    if (rc == KF_OK)
      rc =
          kf_buf_appendf(out, "%016" PRIx64 "s%" PRIu64 "n%" PRIu64, ctx->run_id, ctx->scenario, n);
    rc = kh_out(out, rc, err);
  } else if (strcmp(f, "upper") == 0 || strcmp(f, "lower") == 0) {
    bool up = f[0] == 'u';
    for (size_t i = 0; i < tmp.len; i++) {
      char ch = tmp.data[i];
      if (up && ch >= 'a' && ch <= 'z')
        tmp.data[i] = (char)(ch - 'a' + 'A');
      if (!up && ch >= 'A' && ch <= 'Z')
        tmp.data[i] = (char)(ch - 'A' + 'a');
    }
    rc = kh_out(out, tmp.len > 0 ? kf_buf_append(out, tmp.data, tmp.len) : KF_OK, err);
  } else if (strcmp(f, "repeat") == 0) {
    unsigned long long count = (unsigned long long)let->args[1].value.number;
    if (tmp.len > 0 && count > KH_VAR_MAX_BYTES / tmp.len) {
      rc = kf_err_set(err, KF_ERR_LIMIT, "repeat() result would exceed %u bytes", KH_VAR_MAX_BYTES);
      goto out;
    }
    for (unsigned long long i = 0; i < count && rc == KF_OK && tmp.len > 0; i++)
      rc = kf_buf_append(out, tmp.data, tmp.len);
    rc = kh_out(out, rc, err);
  } else {
    rc = kf_err_set(err, KF_ERR_INTERNAL, "generator '%s' validated but not implemented", f);
  }
out:
  kf_buf_release(&tmp);
  return rc;
}
