/*
 * ks_totp.c: TOTP secrets, Base32, the otpauth URI, code checks (liboath) and
 * the QR code of the URI (libqrencode).
 *
 * liboath wants oath_init once per process; pthread_once gives that to
 * whichever handler thread comes first. Its Base32 functions allocate with
 * malloc, which kf_free releases (kf_free is free). Its validate functions
 * compare with strcmp; the callback form lets libsodium compare instead, so
 * how much of a code was right does not show in the time of the answer.
 */
#include "ks_totp.h"

#include <assert.h>
#include <liboath/oath.h>
#include <pthread.h>
#include <qrencode.h>
#include <sodium.h>
#include <string.h>

#include "kf/alloc.h"

/* A quiet zone of 4 modules, as ISO/IEC 18004 asks of a QR code. */
#define TOTP_QUIET 4
/* The longest text a QR code of this module is made of (an otpauth URI is far shorter). */
#define TOTP_QR_TEXT_MAX 2048

static pthread_once_t totp_once = PTHREAD_ONCE_INIT;
static int totp_init_rc = OATH_OK;

static void totp_init(void) {
  totp_init_rc = oath_init();
}

static kf_rc totp_ready(kf_err *err) {
  pthread_once(&totp_once, totp_init);
  if (totp_init_rc != OATH_OK)
    return kf_err_set(err, KF_ERR_INTERNAL, "oath_init: %s", oath_strerror(totp_init_rc));
  return KF_OK;
}

void ks_totp_rule_default(ks_totp_rule *rule) {
  rule->window = 1;
  rule->flags = 0;
  rule->zero_only = false;
}

void ks_totp_secret_new(unsigned char *secret, size_t len) {
  randombytes_buf(secret, len);
}

kf_rc ks_totp_base32(const unsigned char *secret, size_t len, char *out, size_t out_size,
                     kf_err *err) {
  assert(secret != NULL && out != NULL && out_size > 0);
  out[0] = '\0';
  kf_rc rc = totp_ready(err);
  if (rc != KF_OK)
    return rc;
  char *b32 = NULL;
  size_t b32_len = 0;
  int orc = oath_base32_encode((const char *)secret, len, &b32, &b32_len);
  if (orc != OATH_OK)
    return kf_err_set(err, orc == OATH_MALLOC_ERROR ? KF_ERR_NOMEM : KF_ERR_INVALID,
                      "oath_base32_encode: %s", oath_strerror(orc));
  /* RFC 4648 section 3.2 lets a specification leave padding out; otpauth URIs do. */
  while (b32_len > 0 && b32[b32_len - 1] == '=')
    b32_len--;
  if (b32_len >= out_size)
    rc = kf_err_set(err, KF_ERR_LIMIT, "Base32 of %zu bytes does not fit", len);
  else {
    memcpy(out, b32, b32_len);
    out[b32_len] = '\0';
  }
  kf_free(b32);
  return rc;
}

kf_rc ks_totp_base32_decode(const char *b32, unsigned char *out, size_t cap, size_t *len,
                            kf_err *err) {
  assert(b32 != NULL && out != NULL && len != NULL);
  *len = 0;
  kf_rc rc = totp_ready(err);
  if (rc != KF_OK)
    return rc;
  /* liboath reads upper-case letters with their padding: put both back. */
  char padded[KS_TOTP_B32_MAX + 8];
  size_t n = 0;
  for (const char *p = b32; *p != '\0' && *p != '='; p++) {
    if (n >= KS_TOTP_B32_MAX)
      return kf_err_set(err, KF_ERR_LIMIT, "Base32 text longer than %d", KS_TOTP_B32_MAX);
    padded[n++] = (*p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A') : *p;
  }
  while (n % 8 != 0)
    padded[n++] = '=';
  char *bin = NULL;
  size_t bin_len = 0;
  int orc = oath_base32_decode(padded, n, &bin, &bin_len);
  if (orc != OATH_OK)
    return kf_err_set(err, orc == OATH_MALLOC_ERROR ? KF_ERR_NOMEM : KF_ERR_INVALID,
                      "not Base32: %s", oath_strerror(orc));
  if (bin_len > cap)
    rc = kf_err_set(err, KF_ERR_LIMIT, "secret of %zu bytes, room for %zu", bin_len, cap);
  else if (bin_len > 0) {
    memcpy(out, bin, bin_len);
    *len = bin_len;
  }
  kf_free(bin);
  return rc;
}

/* RFC 3986's unreserved characters stay, every other byte is %XX. */
static kf_rc totp_percent(kf_buf *out, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  kf_rc rc = KF_OK;
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0' && rc == KF_OK; p++) {
    bool keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                *p == '-' || *p == '.' || *p == '_' || *p == '~';
    if (keep)
      rc = kf_buf_append_byte(out, (char)*p);
    else
      rc = kf_buf_appendf(out, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
  }
  return rc;
}

kf_rc ks_totp_uri(const char *username, const char *b32, kf_buf *out, kf_err *err) {
  assert(username != NULL && b32 != NULL && out != NULL);
  kf_rc rc = kf_buf_append_str(out, "otpauth://totp/" KS_TOTP_ISSUER ":");
  if (rc == KF_OK)
    rc = totp_percent(out, username);
  if (rc == KF_OK)
    rc = kf_buf_appendf(out, "?secret=%s&issuer=%s&algorithm=SHA1&digits=%d&period=%d", b32,
                        KS_TOTP_ISSUER, KS_TOTP_DIGITS, KS_TOTP_PERIOD);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "otpauth URI does not fit");
  return KF_OK;
}

int64_t ks_totp_step(int64_t now) {
  /* Floor division: a time before 1970 is in a negative step, not step 0. */
  return now >= 0 ? now / KS_TOTP_PERIOD : -((-now + KS_TOTP_PERIOD - 1) / KS_TOTP_PERIOD);
}

bool ks_totp_code_form(const char *code, size_t len) {
  if (code == NULL || len != KS_TOTP_DIGITS)
    return false;
  for (size_t i = 0; i < len; i++) {
    if (code[i] < '0' || code[i] > '9')
      return false;
  }
  return true;
}

/* The code a request sent, for totp_code_cmp. */
typedef struct totp_code_ref {
  const char *code;
} totp_code_ref;

/* liboath compares candidates with strcmp; a secret's code is compared in constant time. */
static int totp_code_cmp(void *handle, const char *test_otp) {
  const totp_code_ref *ref = handle;
  size_t n = strlen(ref->code);
  if (strlen(test_otp) != n)
    return 1;
  return sodium_memcmp(ref->code, test_otp, n) == 0 ? 0 : 1;
}

kf_rc ks_totp_verify(const unsigned char *secret, size_t len, int64_t now, const char *code,
                     const ks_totp_rule *rule, bool *match, int64_t *step, kf_err *err) {
  assert(secret != NULL && code != NULL && rule != NULL && match != NULL && step != NULL);
  *match = false;
  *step = 0;
  kf_rc rc = totp_ready(err);
  if (rc != KF_OK)
    return rc;
  int pos = 0;
  uint64_t counter = 0;
  totp_code_ref ref = {code};
  int orc = oath_totp_validate4_callback((const char *)secret, len, (time_t)now, KS_TOTP_PERIOD, 0,
                                         (unsigned)strlen(code), rule->window, &pos, &counter,
                                         rule->flags, totp_code_cmp, &ref);
  /*
   * liboath answers the absolute offset of the matching step (0 for the
   * current one, 1 for a neighbour) and a negative code for no match or a
   * failure: OATH_OK (0) is only one of the successes.
   */
  if (orc == OATH_INVALID_OTP)
    return KF_OK;
  if (orc < 0)
    return kf_err_set(err, KF_ERR_INTERNAL, "oath_totp_validate4_callback: %s", oath_strerror(orc));
  if (rule->zero_only && orc != OATH_OK)
    return KF_OK;
  *match = true;
  *step = ks_totp_step(now) + pos;
  return KF_OK;
}

/* One <rect> per run of dark modules of row y of the code, shifted by the quiet zone. */
static kf_rc totp_qr_row(const QRcode *qr, int y, kf_buf *out) {
  kf_rc rc = KF_OK;
  for (int x = 0; x < qr->width && rc == KF_OK;) {
    if ((qr->data[y * qr->width + x] & 1) == 0) {
      x++;
      continue;
    }
    int start = x;
    while (x < qr->width && (qr->data[y * qr->width + x] & 1) != 0)
      x++;
    rc = kf_buf_appendf(out, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"1\"/>",
                        start + TOTP_QUIET, y + TOTP_QUIET, x - start);
  }
  return rc;
}

kf_rc ks_totp_qr_svg(const char *text, kf_buf *out, kf_err *err) {
  assert(text != NULL && out != NULL);
  if (strlen(text) > TOTP_QR_TEXT_MAX)
    return kf_err_set(err, KF_ERR_LIMIT, "QR code text longer than %d bytes", TOTP_QR_TEXT_MAX);
  /* Version 0: the smallest that holds the text; case-sensitive 8-bit data. */
  QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
  if (qr == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "QRcode_encodeString failed");
  int size = qr->width + 2 * TOTP_QUIET;
  size_t start = out->len;
  kf_rc rc = kf_buf_appendf(out,
                            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
                            "width=\"%d\" height=\"%d\" shape-rendering=\"crispEdges\">"
                            "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/><g fill=\"#000\">",
                            size, size, size * 4, size * 4, size, size);
  for (int y = 0; y < qr->width && rc == KF_OK; y++)
    rc = totp_qr_row(qr, y, out);
  if (rc == KF_OK)
    rc = kf_buf_append_str(out, "</g></svg>");
  QRcode_free(qr);
  if (rc == KF_OK && out->len - start > KS_TOTP_SVG_MAX)
    rc = KF_ERR_LIMIT;
  if (rc != KF_OK)
    return kf_err_set(err, rc, "QR code SVG does not fit");
  return KF_OK;
}
