/*
 * fuzz_address.c: ks_address_normalise and ks_address_domain_ok against a
 * reference written here from the contract (docs/openapi.yaml: the
 * registration's description and x-konform-decisions address-white-space)
 * and ks_address.h's promises (ACC-11):
 *   - a control character anywhere (C0, DEL, C1 U+0080 to U+009F) is CONTROL,
 *     judged on code points before anything else;
 *   - only U+0020 around the address is trimmed; nothing left is EMPTY;
 *   - at most 254 bytes, exactly one "@", a local part of 1 to 64 printable
 *     ASCII characters without space and without <>()[]\,;:" and no leading,
 *     trailing or double dot; a domain of LDH labels (1 to 63 bytes, no
 *     hyphen at either end), at least one dot, at most 253 bytes; anything
 *     else is INVALID;
 *   - the stored form is the local part as given and the domain in lower
 *     case, and normalising it again changes nothing.
 * Any disagreement prints the input and aborts.
 *
 * Ownership: stack buffers only; the input is libFuzzer's.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_address.h"
#include "kz_fuzz.h"

static void fail(const char *what, const uint8_t *data, size_t size) {
  fprintf(stderr, "fuzz_address: %s; input (%zu bytes):", what, size);
  for (size_t i = 0; i < size; i++)
    fprintf(stderr, " %02X", data[i]);
  fprintf(stderr, "\n");
  abort();
}

/*
 * Whether s holds a control code point. Bytes are read as UTF-8 where they
 * form a character; a byte that starts none is skipped alone, so a C1
 * character is found wherever its two bytes stand.
 */
static bool ref_has_control(const unsigned char *s, size_t len) {
  for (size_t i = 0; i < len;) {
    unsigned char c = s[i];
    if (c < 0x20 || c == 0x7F)
      return true;
    /* U+0080 to U+009F are the only code points whose UTF-8 is C2 80 to C2 9F. */
    if (c == 0xC2 && i + 1 < len && s[i + 1] >= 0x80 && s[i + 1] <= 0x9F)
      return true;
    i++;
  }
  return false;
}

static bool ref_is_alnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* A domain: split at every dot, judge each label, count the labels. */
static bool ref_domain(const unsigned char *d, size_t len) {
  if (len < 1 || len > 253)
    return false;
  size_t labels = 0, pos = 0;
  while (true) {
    const unsigned char *dot = memchr(d + pos, '.', len - pos);
    size_t end = dot != NULL ? (size_t)(dot - d) : len;
    size_t n = end - pos;
    if (n < 1 || n > 63 || d[pos] == '-' || d[end - 1] == '-')
      return false;
    for (size_t i = pos; i < end; i++) {
      if (!ref_is_alnum(d[i]) && d[i] != '-')
        return false;
    }
    labels++;
    if (dot == NULL)
      break;
    pos = end + 1;
  }
  return labels >= 2;
}

/* A local part: a dot-atom of the allowed printable characters. */
static bool ref_local(const unsigned char *l, size_t len) {
  if (len < 1 || len > 64 || l[0] == '.' || l[len - 1] == '.')
    return false;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = l[i];
    if (c < 0x21 || c > 0x7E || strchr("<>()[]\\,;:\"@", c) != NULL)
      return false;
    if (c == '.' && l[i + 1] == '.') /* l[len - 1] is no dot, so i + 1 < len here. */
      return false;
  }
  return true;
}

/* The reference verdict; on OK the stored form goes to out (len + 1 bytes). */
static ks_address_status ref_normalise(const unsigned char *raw, size_t len, char *out) {
  if (ref_has_control(raw, len))
    return KS_ADDRESS_CONTROL;
  size_t a = 0, b = len;
  while (a < b && raw[a] == ' ')
    a++;
  while (b > a && raw[b - 1] == ' ')
    b--;
  if (a == b)
    return KS_ADDRESS_EMPTY;
  size_t n = b - a, ats = 0, at = 0;
  for (size_t i = a; i < b; i++) {
    if (raw[i] == '@') {
      ats++;
      at = i;
    }
  }
  if (n > 254 || ats != 1 || !ref_local(raw + a, at - a) || !ref_domain(raw + at + 1, b - at - 1))
    return KS_ADDRESS_INVALID;
  for (size_t i = a; i < b; i++) {
    unsigned char c = raw[i];
    out[i - a] = (char)(i > at && c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
  }
  out[n] = '\0';
  return KS_ADDRESS_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1024)
    return 0;
  char want[1025];
  char got[KS_ADDRESS_MAX + 1];
  ks_address_status ref = ref_normalise(data, size, want);
  ks_address_status st = ks_address_normalise((const char *)data, size, got, sizeof got);
  if (st != ref) {
    fprintf(stderr, "fuzz_address: product %d, reference %d\n", (int)st, (int)ref);
    fail("ks_address_normalise's verdict disagrees", data, size);
  }
  if (st != KS_ADDRESS_OK && got[0] != '\0')
    fail("a refused address left something in out", data, size);
  if (st == KS_ADDRESS_OK) {
    if (strcmp(got, want) != 0)
      fail("the stored form disagrees", data, size);
    char again[KS_ADDRESS_MAX + 1];
    if (ks_address_normalise(got, strlen(got), again, sizeof again) != KS_ADDRESS_OK ||
        strcmp(again, got) != 0)
      fail("normalising a stored address changed it", data, size);
  }
  if (ks_address_domain_ok((const char *)data, size) != ref_domain(data, size))
    fail("ks_address_domain_ok disagrees", data, size);
  if ((ks_address_status_code(st) == NULL) != (st == KS_ADDRESS_OK))
    fail("a status without its field code", data, size);
  return 0;
}
