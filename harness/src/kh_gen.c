/*
 * kh_gen.c: the generators of `let NAME = GENERATOR(ARGS)`, as one table.
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
#include "kf/str.h"
#include "kf/utf8.h"
#include "kh_totp.h"

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

/* ---- Arguments ------------------------------------------------------------------- */

static const kh_arg *kh_named(const kh_gen_call *call, const char *name) {
  for (size_t i = 0; i < call->args_len; i++) {
    if (call->args[i].name != NULL && strcmp(call->args[i].name, name) == 0)
      return &call->args[i];
  }
  return NULL;
}

static size_t kh_positional_count(const kh_gen_call *call) {
  size_t n = 0;
  for (size_t i = 0; i < call->args_len; i++)
    n += call->args[i].name == NULL;
  return n;
}

static int kh_omit_class(const char *name) {
  static const char *const classes[] = {"upper", "lower", "digit", "special"};
  for (int i = 0; i < 4; i++) {
    if (strcmp(name, classes[i]) == 0)
      return i;
  }
  return -1;
}

static kf_rc kh_check_none(const kh_gen_call *call, kf_err *err) {
  if (call->args_len != 0)
    return kf_err_set(err, KF_ERR_INVALID, "%s() takes no arguments", call->func);
  return KF_OK;
}

/* One positional string; optional says whether it may be left out. */
static kf_rc kh_check_string_arg(const kh_gen_call *call, bool optional, kf_err *err) {
  size_t pos = kh_positional_count(call);
  if (call->args_len != pos || pos > 1 || (pos == 0 && !optional) ||
      (pos == 1 && call->args[0].value.kind != KH_LIT_STRING))
    return kf_err_set(err, KF_ERR_INVALID, "%s() takes one string, as in %s(\"text\")", call->func,
                      call->func);
  return KF_OK;
}

static kf_rc kh_check_string(const kh_gen_call *call, kf_err *err) {
  return kh_check_string_arg(call, false, err);
}

static kf_rc kh_check_string_opt(const kh_gen_call *call, kf_err *err) {
  return kh_check_string_arg(call, true, err);
}

static kf_rc kh_check_repeat(const kh_gen_call *call, kf_err *err) {
  if (kh_positional_count(call) != 2 || call->args_len != 2 ||
      call->args[0].value.kind != KH_LIT_STRING || call->args[1].value.kind != KH_LIT_NUMBER)
    return kf_err_set(err, KF_ERR_INVALID,
                      "repeat() takes a string and a count, as in repeat(\"ab\", 3)");
  if (call->args[1].value.number < 0 || call->args[1].value.number > (long long)KH_VAR_MAX_BYTES)
    return kf_err_set(err, KF_ERR_INVALID, "repeat() count must be between 0 and %u",
                      KH_VAR_MAX_BYTES);
  return KF_OK;
}

static kf_rc kh_check_password_arg(const kh_arg *a, kf_err *err) {
  if (strcmp(a->name, "length") == 0) {
    if (a->value.kind != KH_LIT_NUMBER || a->value.number < 0 ||
        a->value.number > KH_GEN_MAX_PASSWORD)
      return kf_err_set(err, KF_ERR_INVALID, "password(length=N) needs N between 0 and %d",
                        KH_GEN_MAX_PASSWORD);
  } else if (strcmp(a->name, "omit") == 0) {
    if (a->value.kind != KH_LIT_STRING || a->value.str.text == NULL ||
        kh_omit_class(a->value.str.text) < 0)
      return kf_err_set(err, KF_ERR_INVALID,
                        "password(omit=...) takes \"upper\", \"lower\", \"digit\" or \"special\"");
  } else if (strcmp(a->name, "add") == 0) {
    if (a->value.kind != KH_LIT_STRING)
      return kf_err_set(err, KF_ERR_INVALID, "password(add=...) takes a string");
  } else {
    return kf_err_set(err, KF_ERR_INVALID,
                      "password() has no argument '%s' (valid: length, omit, add)", a->name);
  }
  return KF_OK;
}

static kf_rc kh_check_password(const kh_gen_call *call, kf_err *err) {
  if (kh_positional_count(call) != 0)
    return kf_err_set(err, KF_ERR_INVALID,
                      "password() takes only named arguments: length, omit, add");
  for (size_t i = 0; i < call->args_len; i++) {
    const kh_arg *a = &call->args[i];
    for (size_t j = 0; j < i; j++) {
      if (strcmp(call->args[j].name, a->name) == 0)
        return kf_err_set(err, KF_ERR_INVALID, "password() argument '%s' given twice", a->name);
    }
    kf_rc rc = kh_check_password_arg(a, err);
    if (rc != KF_OK)
      return rc;
  }
  return KF_OK;
}

/* ---- Generators ------------------------------------------------------------------ */

static kf_rc kh_out(kf_rc rc, kf_err *err) {
  if (rc == KF_OK)
    return KF_OK;
  return kf_err_set(err, rc, "generated value does not fit: %s", kf_rc_name(rc));
}

/*
 * Identities carry all 64 bits of the run id (16 hex digits): run ids that
 * differ only in their high half must not share accounts on a persistent
 * target.
 */
static kf_rc kh_gen_email(kh_gen_ctx *ctx, const kh_gen_call *call, const kh_vars *vars,
                          kf_buf *out, kf_err *err) {
  (void)call;
  (void)vars;
  uint64_t n = ctx->counter++;
  return kh_out(kf_buf_appendf(out, "k%016" PRIx64 "-%" PRIu64 "-%" PRIu64 "@konform.test",
                               ctx->run_id, ctx->scenario, n),
                err);
}

static kf_rc kh_gen_customer_number(kh_gen_ctx *ctx, const kh_gen_call *call, const kh_vars *vars,
                                    kf_buf *out, kf_err *err) {
  (void)call;
  (void)vars;
  uint64_t n = ctx->counter++;
  uint64_t h = kh_mix64(kh_mix64(kh_mix64(ctx->run_id) ^ ctx->scenario) ^ n);
  uint64_t h2 = kh_mix64(h);
  return kh_out(kf_buf_appendf(out, "%03u%c%06u", (unsigned)(h % 1000),
                               (char)('A' + (h / 1000) % 26), (unsigned)(h2 % 1000000)),
                err);
}

static kf_rc kh_gen_uuid(kh_gen_ctx *ctx, const kh_gen_call *call, const kh_vars *vars, kf_buf *out,
                         kf_err *err) {
  (void)call;
  (void)vars;
  ctx->counter++;
  uint64_t hi = kh_rng_next(ctx), lo = kh_rng_next(ctx);
  hi = (hi & 0xFFFFFFFFFFFF0FFFULL) | 0x4000ULL;             /* Version 4. */
  lo = (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL; /* RFC 4122 variant. */
  return kh_out(
      kf_buf_appendf(out, "%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64,
                     hi >> 32, (hi >> 16) & 0xFFFF, hi & 0xFFFF, lo >> 48,
                     (uint64_t)(lo & 0xFFFFFFFFFFFFULL)),
      err);
}

static kf_rc kh_gen_password(kh_gen_ctx *ctx, const kh_gen_call *call, const kh_vars *vars,
                             kf_buf *out, kf_err *err) {
  ctx->counter++;
  /*
   * Every special the policy allows, the double quote included: scenarios put
   * passwords into JSON bodies as {{name|json}}, which escapes it.
   */
  static const char *const classes[4] = {"ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz",
                                         "0123456789", "@#$%&*-_!+=;,.?/\"()"};
  bool use[4] = {true, true, true, true};
  long long length = 16;
  const kh_arg *a;
  if ((a = kh_named(call, "length")) != NULL)
    length = a->value.number;
  if ((a = kh_named(call, "omit")) != NULL)
    use[kh_omit_class(a->value.str.text)] = false;
  kf_buf add;
  kf_buf_init(&add, KH_VAR_MAX_BYTES);
  kf_rc rc = KF_OK;
  size_t add_chars = 0;
  if ((a = kh_named(call, "add")) != NULL) {
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
  rc = kh_out(rc, err);
out:
  kf_buf_release(&add);
  return rc;
}

/* The first argument's interpolated text into tmp ("" when there is none). */
static kf_rc kh_gen_string(const kh_gen_call *call, const kh_vars *vars, kf_buf *tmp, kf_err *err) {
  if (call->args_len == 0)
    return KF_OK;
  return kh_vars_expand(vars, &call->args[0].value.str, tmp, err);
}

static kf_rc kh_gen_unique(kh_gen_ctx *ctx, const kh_gen_call *call, const kh_vars *vars,
                           kf_buf *out, kf_err *err) {
  uint64_t n = ctx->counter++;
  kf_buf tmp;
  kf_buf_init(&tmp, KH_VAR_MAX_BYTES);
  kf_rc rc = kh_gen_string(call, vars, &tmp, err);
  if (rc == KF_OK) {
    /* The prefix, then hex run id, scenario and counter in decimal: injective and [a-z0-9]. */
    rc = tmp.len > 0 ? kf_buf_append(out, tmp.data, tmp.len) : KF_OK;
    if (rc == KF_OK)
      rc =
          kf_buf_appendf(out, "%016" PRIx64 "s%" PRIu64 "n%" PRIu64, ctx->run_id, ctx->scenario, n);
    rc = kh_out(rc, err);
  }
  kf_buf_release(&tmp);
  return rc;
}

/* The argument with ASCII letters in one case; up says which. */
static kf_rc kh_gen_case(kh_gen_ctx *ctx, const kh_gen_call *call, const kh_vars *vars, kf_buf *out,
                         bool up, kf_err *err) {
  ctx->counter++;
  kf_buf tmp;
  kf_buf_init(&tmp, KH_VAR_MAX_BYTES);
  kf_rc rc = kh_gen_string(call, vars, &tmp, err);
  if (rc == KF_OK) {
    for (size_t i = 0; i < tmp.len; i++) {
      char ch = tmp.data[i];
      if (up && ch >= 'a' && ch <= 'z')
        tmp.data[i] = (char)(ch - 'a' + 'A');
      if (!up && ch >= 'A' && ch <= 'Z')
        tmp.data[i] = (char)(ch - 'A' + 'a');
    }
    rc = kh_out(tmp.len > 0 ? kf_buf_append(out, tmp.data, tmp.len) : KF_OK, err);
  }
  kf_buf_release(&tmp);
  return rc;
}

static kf_rc kh_gen_upper(kh_gen_ctx *ctx, const kh_gen_call *call, const kh_vars *vars,
                          kf_buf *out, kf_err *err) {
  return kh_gen_case(ctx, call, vars, out, true, err);
}

static kf_rc kh_gen_lower(kh_gen_ctx *ctx, const kh_gen_call *call, const kh_vars *vars,
                          kf_buf *out, kf_err *err) {
  return kh_gen_case(ctx, call, vars, out, false, err);
}

static kf_rc kh_gen_repeat(kh_gen_ctx *ctx, const kh_gen_call *call, const kh_vars *vars,
                           kf_buf *out, kf_err *err) {
  ctx->counter++;
  kf_buf tmp;
  kf_buf_init(&tmp, KH_VAR_MAX_BYTES);
  kf_rc rc = kh_gen_string(call, vars, &tmp, err);
  unsigned long long count = (unsigned long long)call->args[1].value.number;
  if (rc == KF_OK && tmp.len > 0 && count > KH_VAR_MAX_BYTES / tmp.len)
    rc = kf_err_set(err, KF_ERR_LIMIT, "repeat() result would exceed %u bytes", KH_VAR_MAX_BYTES);
  else if (rc == KF_OK) {
    for (unsigned long long i = 0; i < count && rc == KF_OK && tmp.len > 0; i++)
      rc = kf_buf_append(out, tmp.data, tmp.len);
    rc = kh_out(rc, err);
  }
  kf_buf_release(&tmp);
  return rc;
}

/* Name, synopsis, check, generate, may the value hold a double quote. */
#define KH_GEN_TABLE(X)                                                                            \
  X("email", "email()", kh_check_none, kh_gen_email, false)                                        \
  X("unique", "unique(\"p\")", kh_check_string_opt, kh_gen_unique, false)                          \
  X("password", "password(length=, omit=, add=)", kh_check_password, kh_gen_password, true)        \
  X("customer_number", "customer_number()", kh_check_none, kh_gen_customer_number, false)          \
  X("uuid", "uuid()", kh_check_none, kh_gen_uuid, false)                                           \
  X("repeat", "repeat(\"s\", N)", kh_check_repeat, kh_gen_repeat, false)                           \
  X("upper", "upper(\"s\")", kh_check_string, kh_gen_upper, false)                                 \
  X("lower", "lower(\"s\")", kh_check_string, kh_gen_lower, false)                                 \
  X("totp", "totp(\"otpauth-uri\", offset=N)", kh_totp_gen_check, kh_totp_gen, false)

static const kh_gen_def KH_GENS[] = {
#define KH_GEN_ROW(name, synopsis, check, gen, may_quote) {name, synopsis, check, gen, may_quote},
    KH_GEN_TABLE(KH_GEN_ROW)
#undef KH_GEN_ROW
};

const char *const KH_GEN_NAMES[] = {
#define KH_GEN_NAME(name, synopsis, check, gen, may_quote) name,
    KH_GEN_TABLE(KH_GEN_NAME)
#undef KH_GEN_NAME
        NULL};

const char *const KH_GEN_SYNOPSIS = "generators: "
#define KH_GEN_SYN(name, synopsis, check, gen, may_quote) synopsis ", "
    KH_GEN_TABLE(KH_GEN_SYN)
#undef KH_GEN_SYN
    ;

const kh_gen_def *kh_gen_find(const char *name) {
  for (size_t i = 0; i < sizeof KH_GENS / sizeof KH_GENS[0]; i++) {
    if (name != NULL && strcmp(KH_GENS[i].name, name) == 0)
      return &KH_GENS[i];
  }
  return NULL;
}

kf_rc kh_gen_validate(const kh_gen_call *call, kf_err *err) {
  assert(call != NULL && call->func != NULL);
  const kh_gen_def *def = kh_gen_find(call->func);
  if (def != NULL)
    return def->check(call, err);
  char names[256];
  kf_str_join(names, sizeof names, KH_GEN_NAMES, ", ", ", ");
  return kf_err_set(err, KF_ERR_INVALID, "unknown generator '%s' (valid: %s)", call->func, names);
}

kf_rc kh_gen_eval(kh_gen_ctx *ctx, const kh_gen_call *call, const kh_vars *vars, kf_buf *out,
                  kf_err *err) {
  assert(ctx != NULL && call != NULL && out != NULL);
  kf_rc rc = kh_gen_validate(call, err);
  if (rc != KF_OK)
    return rc;
  return kh_gen_find(call->func)->generate(ctx, call, vars, out, err);
}
