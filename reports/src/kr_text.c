/*
 * kr_text.c: the text helpers every report writer shares (see kr_priv.h):
 * cleaning any bytes into valid UTF-8 for one medium, the area of a
 * scenario and the order of areas, plurals and durations as seconds.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "kf/run_result.h"
#include "kf/str.h"
#include "kf/utf8.h"
#include "kr_priv.h"

/* What the cleaner does with one code point. */
typedef enum kr_clean_action { KR_KEEP, KR_DROP, KR_ESCAPE } kr_clean_action;

static const char kr_replacement_char[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Decide, for code point cp, whether it can stay as it is in this output. */
static kr_clean_action kr_clean_action_of(uint32_t cp, unsigned flags, bool lf_follows) {
  bool terminal = (flags & KR_CLEAN_TERMINAL) != 0;
  bool xml = (flags & KR_CLEAN_XML) != 0;

  if (cp == '\n' || cp == '\t')
    return KR_KEEP;
  /*
   * No medium wants a raw NUL: a terminal shows nothing, XML forbids it and
   * JSON readers such as jansson refuse "\u0000" unless told otherwise.
   */
  if (cp == 0)
    return KR_ESCAPE;
  if (cp == '\r') {
    /*
     * Reports show traces to people: CRLF reads as a plain line break (XML
     * would otherwise carry "&#13;" everywhere), and on a terminal a lone CR
     * would overwrite text.
     */
    if (terminal || xml)
      return lf_follows ? KR_DROP : (terminal ? KR_ESCAPE : KR_KEEP);
    return KR_KEEP;
  }
  if (cp < 0x20)
    return (terminal || xml) ? KR_ESCAPE : KR_KEEP;
  if (terminal && (cp == 0x7F || (cp >= 0x80 && cp <= 0x9F)))
    return KR_ESCAPE;
  if (xml && (cp == 0xFFFE || cp == 0xFFFF))
    return KR_ESCAPE;
  return KR_KEEP;
}

/* Hand s[start, end) to sink if it is not empty. */
static kf_rc kr_clean_flush(const char *s, size_t start, size_t end, kr_sink_fn sink, void *ctx) {
  assert(start <= end);
  if (start == end)
    return KF_OK;
  return sink(ctx, s + start, end - start);
}

/* Send the replacement of the code point cp (an escape) or of one bad byte (cp > 0x10FFFF). */
static kf_rc kr_clean_replace(uint32_t cp, kr_sink_fn sink, void *ctx) {
  if (cp > 0x10FFFF)
    return sink(ctx, kr_replacement_char, sizeof kr_replacement_char - 1);
  char esc[16];
  kf_rc rc = cp < 0x80 ? kf_str_format(esc, sizeof esc, "\\x%02X", (unsigned)cp)
                       : kf_str_format(esc, sizeof esc, "\\u%04X", (unsigned)cp);
  assert(rc == KF_OK);
  (void)rc;
  return sink(ctx, esc, strlen(esc));
}

/* How many of len bytes are cleaned: all, or KR_TEXT_IN_MAX backed off to a character start. */
static size_t kr_clean_take(const char *s, size_t len) {
  if (len <= KR_TEXT_IN_MAX)
    return len;
  size_t take = KR_TEXT_IN_MAX;
  /* Back off to a character boundary so the cut does not look like bad input. */
  for (int back = 0; back < 3 && take > 0 && ((unsigned char)s[take] & 0xC0) == 0x80; back++)
    take--;
  return take;
}

kf_rc kr_text_clean_to(const char *s, size_t len, unsigned flags, kr_sink_fn sink, void *ctx) {
  assert(s != NULL || len == 0);
  assert(sink != NULL);
  size_t take = kr_clean_take(s, len);
  size_t run_start = 0;
  size_t i = 0;
  while (i < take) {
    unsigned char c = (unsigned char)s[i];
    uint32_t cp = c;
    size_t n = c >= 0x80 ? kf_utf8_decode(s + i, take - i, &cp) : 1;
    /* Invalid UTF-8: one replacement character per bad byte, then resync. */
    kr_clean_action action = KR_ESCAPE;
    if (n == 0) {
      cp = UINT32_MAX;
      n = 1;
    } else {
      action = kr_clean_action_of(cp, flags, i + 1 < take && s[i + 1] == '\n');
    }
    if (action != KR_KEEP) {
      KR_TRY(kr_clean_flush(s, run_start, i, sink, ctx));
      if (action == KR_ESCAPE)
        KR_TRY(kr_clean_replace(cp, sink, ctx));
      run_start = i + n;
    }
    i += n;
  }
  KR_TRY(kr_clean_flush(s, run_start, take, sink, ctx));
  if (take < len) {
    char note[64];
    KR_TRY(kf_str_format(note, sizeof note, "\n[... %zu more bytes cut]", len - take));
    KR_TRY(sink(ctx, note, strlen(note)));
  }
  return KF_OK;
}

/* kr_sink_fn that appends to a kf_buf. */
static kf_rc kr_buf_sink(void *ctx, const char *data, size_t len) {
  return kf_buf_append((kf_buf *)ctx, data, len);
}

kf_rc kr_text_clean_n(kf_buf *out, const char *s, size_t len, unsigned flags) {
  assert(out != NULL);
  return kr_text_clean_to(s, len, flags, kr_buf_sink, out);
}

kf_rc kr_text_clean(kf_buf *out, const char *s, unsigned flags) {
  assert(s != NULL);
  return kr_text_clean_n(out, s, strlen(s), flags);
}

const char *kr_scenario_area(const kf_scenario_result *sc, char *out, size_t out_size) {
  assert(sc != NULL);
  assert(out != NULL && out_size >= 2);
  const char *id = sc->covers_len > 0 ? sc->covers[0] : NULL;
  size_t n = 0;
  if (id != NULL) {
    while (id[n] != '\0' && id[n] != '-' && n + 1 < out_size)
      n++;
  }
  if (n == 0) {
    /* "OTHER" may be cut to fit a small out; that is still a usable name. */
    (void)kf_str_copy(out, out_size, "OTHER");
    return out;
  }
  memcpy(out, id, n);
  out[n] = '\0';
  return out;
}

bool kr_scenario_in_area(const kf_scenario_result *sc, const char *area) {
  char mine[KR_AREA_MAX];
  return strcmp(kr_scenario_area(sc, mine, sizeof mine), area) == 0;
}

void kr_area_scenarios(const kf_run_result *run, const char *area, kf_run_counts *out,
                       int64_t *ms_out) {
  memset(out, 0, sizeof *out);
  int64_t ms = 0;
  for (size_t i = 0; i < run->scenarios_len; i++) {
    const kf_scenario_result *sc = &run->scenarios[i];
    if (!kr_scenario_in_area(sc, area))
      continue;
    out->total++;
    out->passed += sc->status == KF_STATUS_PASS;
    out->failed += sc->status == KF_STATUS_FAIL;
    out->errors += sc->status == KF_STATUS_ERROR;
    out->skipped += sc->status == KF_STATUS_SKIP;
    if (sc->duration_ms > 0)
      ms += sc->duration_ms;
  }
  if (ms_out != NULL)
    *ms_out = ms;
}

/* The area of item k of the walk: requirement k, or scenario k - requirements_len. */
static const char *kr_area_at(const kf_run_result *run, size_t k, char out[KR_AREA_MAX]) {
  if (k < run->requirements_len) {
    const char *area = run->requirements[k].area;
    return area != NULL ? area : "";
  }
  return kr_scenario_area(&run->scenarios[k - run->requirements_len], out, KR_AREA_MAX);
}

kf_rc kr_areas_each(const kf_run_result *run, kr_area_fn fn, void *ctx) {
  assert(run != NULL && fn != NULL);
  size_t n = run->requirements_len + run->scenarios_len;
  for (size_t k = 0; k < n; k++) {
    char here[KR_AREA_MAX], there[KR_AREA_MAX];
    const char *area = kr_area_at(run, k, here);
    bool seen = false;
    for (size_t j = 0; j < k && !seen; j++)
      seen = strcmp(kr_area_at(run, j, there), area) == 0;
    if (!seen)
      KR_TRY(fn(ctx, area));
  }
  return KF_OK;
}

const char *kr_plural(size_t n, const char *one, const char *many) {
  return n == 1 ? one : many;
}

kf_rc kr_format_seconds(int64_t ms, char *out, size_t out_size) {
  if (ms < 0)
    ms = 0;
  return kf_str_format(out, out_size, "%" PRId64 ".%03" PRId64, ms / 1000, ms % 1000);
}
