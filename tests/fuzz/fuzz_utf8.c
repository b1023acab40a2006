/*
 * fuzz_utf8.c: kf/utf8.h against a reference decoder written here from
 * Unicode Table 3-7 ("Well-Formed UTF-8 Byte Sequences", the same set as RFC
 * 3629 section 4): validity, the code point count, the prefix that cuts
 * after max characters, every decoded code point and its length, and the
 * encoder on every scalar value and on surrogates and values above U+10FFFF.
 * Any disagreement prints the input and aborts.
 *
 * Ownership: nothing is allocated; the input is libFuzzer's.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kf/utf8.h"
#include "kz_fuzz.h"

/*
 * One row of Table 3-7: a lead byte range and the allowed range of each
 * following byte. The rows are the table's, in its order; a byte outside
 * every row cannot start a character.
 */
typedef struct ref_row {
  unsigned char lead_lo, lead_hi;
  unsigned char n; /* Bytes in the sequence. */
  unsigned char lo[3], hi[3];
} ref_row;

static const ref_row ref_table[] = {
    {0x00, 0x7F, 1, {0}, {0}},
    {0xC2, 0xDF, 2, {0x80}, {0xBF}},
    {0xE0, 0xE0, 3, {0xA0, 0x80}, {0xBF, 0xBF}},
    {0xE1, 0xEC, 3, {0x80, 0x80}, {0xBF, 0xBF}},
    {0xED, 0xED, 3, {0x80, 0x80}, {0x9F, 0xBF}},
    {0xEE, 0xEF, 3, {0x80, 0x80}, {0xBF, 0xBF}},
    {0xF0, 0xF0, 4, {0x90, 0x80, 0x80}, {0xBF, 0xBF, 0xBF}},
    {0xF1, 0xF3, 4, {0x80, 0x80, 0x80}, {0xBF, 0xBF, 0xBF}},
    {0xF4, 0xF4, 4, {0x80, 0x80, 0x80}, {0x8F, 0xBF, 0xBF}},
};

/* The scalar value the n bytes at s spell; their shape was checked against the table. */
static uint32_t ref_value(const unsigned char *s, size_t n) {
  static const unsigned char lead_mask[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
  uint32_t v = s[0] & lead_mask[n];
  for (size_t i = 1; i < n; i++)
    v = v * 64u + (s[i] - 0x80u);
  return v;
}

/* Bytes of the well-formed sequence at s (len available), or 0 when there is none. */
static size_t ref_decode(const unsigned char *s, size_t len, uint32_t *cp) {
  if (len == 0)
    return 0;
  for (size_t r = 0; r < sizeof ref_table / sizeof ref_table[0]; r++) {
    const ref_row *row = &ref_table[r];
    if (s[0] < row->lead_lo || s[0] > row->lead_hi)
      continue;
    if (len < row->n)
      return 0;
    for (size_t i = 1; i < row->n; i++) {
      if (s[i] < row->lo[i - 1] || s[i] > row->hi[i - 1])
        return 0;
    }
    *cp = ref_value(s, row->n);
    return row->n;
  }
  return 0;
}

static void fail(const char *what, const uint8_t *data, size_t size) {
  fprintf(stderr, "fuzz_utf8: %s; input (%zu bytes):", what, size);
  for (size_t i = 0; i < size; i++)
    fprintf(stderr, " %02X", data[i]);
  fprintf(stderr, "\n");
  abort();
}

/* Walk the input with both decoders, position by position, even past an invalid byte. */
static void check_decode(const uint8_t *data, size_t size) {
  for (size_t i = 0; i < size; i++) {
    uint32_t ref_cp = 0, cp = 0;
    size_t ref_n = ref_decode(data + i, size - i, &ref_cp);
    size_t n = kf_utf8_decode((const char *)data + i, size - i, &cp);
    if (n != ref_n || (n != 0 && cp != ref_cp))
      fail("kf_utf8_decode disagrees with Table 3-7", data, size);
  }
}

/* Validity, count and the prefix of max characters for a few max. */
static void check_count(const uint8_t *data, size_t size) {
  size_t chars = 0, i = 0;
  bool valid = true;
  size_t prefix_at[5] = {0}; /* Byte length of the first k characters, k < 5. */
  size_t prefix_k = 0;
  while (i < size) {
    uint32_t cp;
    size_t n = ref_decode(data + i, size - i, &cp);
    if (n == 0) {
      valid = false;
      break;
    }
    i += n;
    chars++;
    if (chars < 5)
      prefix_at[chars] = i;
    prefix_k = chars;
  }
  const char *s = (const char *)data;
  if (kf_utf8_valid(s, size) != valid)
    fail("kf_utf8_valid disagrees", data, size);
  if (kf_utf8_count(s, size) != (valid ? chars : (size_t)-1))
    fail("kf_utf8_count disagrees", data, size);
  for (size_t max = 0; max < 5; max++) {
    /* An invalid byte ends the prefix: only the characters before it count. */
    size_t want = prefix_at[max < prefix_k ? max : prefix_k];
    if (kf_utf8_prefix_len(s, size, max) != want)
      fail("kf_utf8_prefix_len disagrees", data, size);
  }
  if (kf_utf8_prefix_len(s, size, SIZE_MAX) != i)
    fail("kf_utf8_prefix_len(SIZE_MAX) is not the valid prefix", data, size);
}

/* The encoder: each 4 input bytes as a code point, big-endian. */
static void check_encode(const uint8_t *data, size_t size) {
  for (size_t i = 0; i + 4 <= size; i += 4) {
    uint32_t cp = (uint32_t)data[i] << 24 | (uint32_t)data[i + 1] << 16 |
                  (uint32_t)data[i + 2] << 8 | data[i + 3];
    /* Fold most values into the Unicode range so the interesting ones come often. */
    if (data[i] & 0x80u)
      cp &= 0x1FFFFFu;
    bool scalar = cp <= 0x10FFFFu && !(cp >= 0xD800u && cp <= 0xDFFFu);
    char out[8];
    memset(out, 0, sizeof out);
    size_t n = kf_utf8_encode(cp, out);
    if (!scalar) {
      if (n != 0)
        fail("kf_utf8_encode encoded a non-scalar value", data, size);
      continue;
    }
    size_t want = cp < 0x80u ? 1 : cp < 0x800u ? 2 : cp < 0x10000u ? 3 : 4;
    uint32_t back = 0;
    if (n != want || ref_decode((const unsigned char *)out, n, &back) != n || back != cp)
      fail("kf_utf8_encode is not the shortest form", data, size);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_decode(data, size);
  check_count(data, size);
  check_encode(data, size);
  return 0;
}
