/*
 * kh_totp.c: the authenticator app: otpauth URIs, Base32 and RFC 6238 codes.
 *
 * The HMAC is OpenSSL's (one call for SHA1, SHA256 and SHA512); the rest is
 * written out here from RFC 4648 and RFC 4226/6238, so the harness judges
 * the server's liboath codes with code of its own, and the unit tests hold
 * it to the RFC's vectors and oathtool.
 */
#include "kh_totp.h"

#include <assert.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "kf/str.h"
#include "kf/timeutil.h"

/* The furthest a generator call may look from the current step, either way. */
#define KH_TOTP_OFFSET_MAX 1000000
/* The longest otpauth URI the app reads. */
#define KH_TOTP_URI_MAX 4096

static const struct {
  const char *name;
  kh_totp_alg alg;
} kh_totp_algs[] = {{"SHA1", KH_TOTP_SHA1}, {"SHA256", KH_TOTP_SHA256}, {"SHA512", KH_TOTP_SHA512}};

/* ---- Base32 (RFC 4648 section 6). ---- */

static int kh_b32_value(char ch) {
  if (ch >= 'A' && ch <= 'Z')
    return ch - 'A';
  if (ch >= 'a' && ch <= 'z')
    return ch - 'a';
  if (ch >= '2' && ch <= '7')
    return ch - '2' + 26;
  return -1;
}

kf_rc kh_totp_base32_decode(const char *b32, size_t len, unsigned char *out, size_t cap,
                            size_t *out_len, kf_err *err) {
  assert(b32 != NULL && out != NULL && out_len != NULL);
  *out_len = 0;
  uint32_t acc = 0;
  int bits = 0;
  size_t n = 0;
  /* Padding ends the text; anything after it is not Base32. */
  while (len > 0 && b32[len - 1] == '=')
    len--;
  for (size_t i = 0; i < len; i++) {
    int v = kh_b32_value(b32[i]);
    if (v < 0)
      return kf_err_set(err, KF_ERR_INVALID, "not Base32: byte %zu is '%c'", i + 1, b32[i]);
    acc = (acc << 5) | (uint32_t)v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      if (n >= cap)
        return kf_err_set(err, KF_ERR_LIMIT, "the secret is longer than %zu bytes", cap);
      out[n++] = (unsigned char)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  *out_len = n;
  return KF_OK;
}

/* ---- The URI. ---- */

static int kh_hex(char ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  return -1;
}

/* The len bytes at s with %XX decoded into out (size bytes, NUL-terminated). */
static kf_rc kh_unpercent(const char *s, size_t len, char *out, size_t size, const char *what,
                          kf_err *err) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    char ch = s[i];
    if (ch == '%') {
      int hi = i + 2 < len ? kh_hex(s[i + 1]) : -1;
      int lo = i + 2 < len ? kh_hex(s[i + 2]) : -1;
      if (hi < 0 || lo < 0)
        return kf_err_set(err, KF_ERR_INVALID, "otpauth URI: a bad %%-escape in the %s", what);
      ch = (char)(hi * 16 + lo);
      i += 2;
    }
    if (ch == '\0' || n + 1 >= size)
      return kf_err_set(err, KF_ERR_INVALID, "otpauth URI: the %s is too long or holds a NUL",
                        what);
    out[n++] = ch;
  }
  out[n] = '\0';
  return KF_OK;
}

/* The label "Issuer:account" (or "account"): its parts into app. */
static kf_rc kh_totp_label(const char *s, size_t len, kh_totp_app *app, kf_err *err) {
  char label[KH_TOTP_TEXT_MAX];
  kf_rc rc = kh_unpercent(s, len, label, sizeof label, "label", err);
  if (rc != KF_OK)
    return rc;
  const char *account = label;
  char *colon = strchr(label, ':');
  if (colon != NULL) {
    *colon = '\0';
    (void)kf_str_copy(app->issuer, sizeof app->issuer, label);
    account = colon + 1;
    while (*account == ' ')
      account++;
  }
  return kf_str_copy(app->account, sizeof app->account, account) == KF_OK
             ? KF_OK
             : kf_err_set(err, KF_ERR_INVALID, "otpauth URI: the label is too long");
}

/* A whole decimal number within lo..hi, or -1. */
static long kh_number(const char *s, long lo, long hi) {
  long v = 0;
  if (*s == '\0')
    return -1;
  for (; *s != '\0'; s++) {
    if (*s < '0' || *s > '9' || v > hi)
      return -1;
    v = v * 10 + (*s - '0');
  }
  return v >= lo && v <= hi ? v : -1;
}

static kf_rc kh_totp_alg_set(const char *value, kh_totp_app *app, kf_err *err) {
  for (size_t i = 0; i < sizeof kh_totp_algs / sizeof kh_totp_algs[0]; i++) {
    if (kf_str_eq_ci(value, kh_totp_algs[i].name)) {
      app->alg = kh_totp_algs[i].alg;
      return KF_OK;
    }
  }
  return kf_err_set(err, KF_ERR_INVALID,
                    "otpauth URI: algorithm \"%s\" is none of SHA1, SHA256, SHA512", value);
}

static bool kh_key_is(const char *key, size_t len, const char *lit) {
  return len == strlen(lit) && memcmp(key, lit, len) == 0;
}

/* One query parameter key=value (value percent-decoded). */
static kf_rc kh_totp_param(const char *key, size_t key_len, const char *value, kh_totp_app *app,
                           bool *have_secret, kf_err *err) {
  long v;
  if (kh_key_is(key, key_len, "secret")) {
    *have_secret = true;
    return kh_totp_base32_decode(value, strlen(value), app->secret, sizeof app->secret,
                                 &app->secret_len, err);
  }
  if (kh_key_is(key, key_len, "issuer"))
    return kf_str_copy(app->issuer, sizeof app->issuer, value) == KF_OK
               ? KF_OK
               : kf_err_set(err, KF_ERR_INVALID, "otpauth URI: the issuer is too long");
  if (kh_key_is(key, key_len, "algorithm"))
    return kh_totp_alg_set(value, app, err);
  if (kh_key_is(key, key_len, "digits")) {
    if ((v = kh_number(value, 6, 8)) < 0)
      return kf_err_set(err, KF_ERR_INVALID, "otpauth URI: digits=%s is not 6, 7 or 8", value);
    app->digits = (unsigned)v;
  } else if (kh_key_is(key, key_len, "period")) {
    if ((v = kh_number(value, 1, 86400)) < 0)
      return kf_err_set(err, KF_ERR_INVALID, "otpauth URI: period=%s is not 1 to 86400 seconds",
                        value);
    app->period = (unsigned)v;
  }
  /* Other parameters (image=, counter= of another app) do not change a TOTP code. */
  return KF_OK;
}

static kf_rc kh_totp_query(const char *q, kh_totp_app *app, kf_err *err) {
  bool have_secret = false;
  while (*q != '\0') {
    size_t n = strcspn(q, "&");
    const char *eq = memchr(q, '=', n);
    char value[KH_TOTP_TEXT_MAX];
    kf_rc rc = KF_OK;
    if (eq != NULL)
      rc = kh_unpercent(eq + 1, (size_t)(q + n - eq - 1), value, sizeof value, "query", err);
    if (rc == KF_OK && eq != NULL)
      rc = kh_totp_param(q, (size_t)(eq - q), value, app, &have_secret, err);
    if (rc != KF_OK)
      return rc;
    q += n;
    if (*q == '&')
      q++;
  }
  if (!have_secret || app->secret_len == 0)
    return kf_err_set(err, KF_ERR_INVALID, "otpauth URI: no secret=");
  return KF_OK;
}

kf_rc kh_totp_parse_uri(const char *uri, kh_totp_app *app, kf_err *err) {
  assert(uri != NULL && app != NULL);
  memset(app, 0, sizeof *app);
  app->alg = KH_TOTP_SHA1;
  app->digits = 6;
  app->period = 30;
  static const char scheme[] = "otpauth://totp/";
  size_t slen = sizeof scheme - 1;
  if (strlen(uri) > KH_TOTP_URI_MAX)
    return kf_err_set(err, KF_ERR_INVALID, "otpauth URI longer than %d bytes", KH_TOTP_URI_MAX);
  if (strlen(uri) < slen || !kf_str_starts_with_ci(uri, scheme))
    return kf_err_set(err, KF_ERR_INVALID, "not an otpauth://totp/ URI: \"%.60s\"", uri);
  const char *label = uri + slen;
  const char *q = strchr(label, '?');
  if (q == NULL)
    return kf_err_set(err, KF_ERR_INVALID, "otpauth URI without a query (no secret=)");
  kf_rc rc = kh_totp_label(label, (size_t)(q - label), app, err);
  if (rc != KF_OK)
    return rc;
  return kh_totp_query(q + 1, app, err);
}

/* ---- Codes (RFC 4226 section 5.3, RFC 6238 section 4). ---- */

static const EVP_MD *kh_totp_md(kh_totp_alg alg) {
  switch (alg) {
  case KH_TOTP_SHA256:
    return EVP_sha256();
  case KH_TOTP_SHA512:
    return EVP_sha512();
  case KH_TOTP_SHA1:
  default:
    return EVP_sha1();
  }
}

kf_rc kh_totp_code(const kh_totp_app *app, int64_t t, char code[KH_TOTP_CODE_SIZE], kf_err *err) {
  assert(app != NULL && app->period > 0 && app->digits >= 6 && app->digits <= 8);
  code[0] = '\0';
  int64_t p = (int64_t)app->period;
  /* Floor division, so a time before T0 is in a negative step. */
  int64_t step = t >= 0 ? t / p : -((-t + p - 1) / p);
  unsigned char msg[8];
  uint64_t c = (uint64_t)step;
  for (int i = 7; i >= 0; i--, c >>= 8)
    msg[i] = (unsigned char)(c & 0xFF);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned mac_len = 0;
  if (HMAC(kh_totp_md(app->alg), app->secret, (int)app->secret_len, msg, sizeof msg, mac,
           &mac_len) == NULL ||
      mac_len < 20)
    return kf_err_set(err, KF_ERR_INTERNAL, "HMAC failed");
  unsigned off = mac[mac_len - 1] & 0x0F;
  uint32_t bin = ((uint32_t)(mac[off] & 0x7F) << 24) | ((uint32_t)mac[off + 1] << 16) |
                 ((uint32_t)mac[off + 2] << 8) | (uint32_t)mac[off + 3];
  uint32_t mod = 1;
  for (unsigned i = 0; i < app->digits; i++)
    mod *= 10;
  return kf_str_format(code, KH_TOTP_CODE_SIZE, "%0*u", (int)app->digits, (unsigned)(bin % mod));
}

/* ---- The generator totp("uri", offset=N). ---- */

kf_rc kh_totp_gen_check(const kh_gen_call *call, kf_err *err) {
  size_t pos = 0;
  for (size_t i = 0; i < call->args_len; i++) {
    const kh_arg *a = &call->args[i];
    if (a->name == NULL) {
      if (pos++ != 0 || i != 0 || a->value.kind != KH_LIT_STRING)
        break;
      continue;
    }
    if (strcmp(a->name, "offset") != 0 || a->value.kind != KH_LIT_NUMBER || i != call->args_len - 1)
      return kf_err_set(err, KF_ERR_INVALID,
                        "totp() takes an otpauth URI and offset=N (steps), as in "
                        "totp(\"{{uri}}\", offset=-1)");
    if (a->value.number < -KH_TOTP_OFFSET_MAX || a->value.number > KH_TOTP_OFFSET_MAX)
      return kf_err_set(err, KF_ERR_INVALID, "totp(offset=N) needs N between -%d and %d",
                        KH_TOTP_OFFSET_MAX, KH_TOTP_OFFSET_MAX);
  }
  if (pos != 1 || call->args_len < 1 || call->args[0].name != NULL ||
      call->args[0].value.kind != KH_LIT_STRING)
    return kf_err_set(err, KF_ERR_INVALID,
                      "totp() takes an otpauth URI and offset=N (steps), as in "
                      "totp(\"{{uri}}\", offset=-1)");
  return KF_OK;
}

/* The scenario clock's time on the target (clock.now), or the real time without a clock. */
static int64_t kh_totp_now(const kh_vars *vars) {
  size_t len = 0;
  const char *now = kh_vars_get(vars, "clock.now", &len);
  long long t = 0;
  if (now != NULL && kf_str_to_llong(now, LLONG_MIN, LLONG_MAX, &t) == KF_OK)
    return (int64_t)t;
  return kf_time_real_now();
}

kf_rc kh_totp_gen(kh_gen_ctx *ctx, const kh_gen_call *call, const kh_vars *vars, kf_buf *out,
                  kf_err *err) {
  ctx->counter++;
  kf_buf uri;
  kf_buf_init(&uri, KH_TOTP_URI_MAX);
  kf_rc rc = kh_vars_expand(vars, &call->args[0].value.str, &uri, err);
  kh_totp_app app;
  if (rc == KF_OK)
    rc = kh_totp_parse_uri(uri.data != NULL ? uri.data : "", &app, err);
  kf_buf_release(&uri);
  if (rc != KF_OK)
    return rc;
  long long offset = call->args_len > 1 ? call->args[1].value.number : 0;
  char code[KH_TOTP_CODE_SIZE];
  rc = kh_totp_code(&app, kh_totp_now(vars) + (int64_t)offset * (int64_t)app.period, code, err);
  if (rc == KF_OK && (rc = kf_buf_append_str(out, code)) != KF_OK)
    (void)kf_err_set(err, rc, "generated value does not fit");
  return rc;
}
