/*
 * kh_profile.c: target profiles (docs/targets.md).
 *
 * A profile is small, so entries live in a flat array searched linearly.
 * Derived fields point into the entries (or at static defaults); they are
 * recomputed by kh_profile_finish after every change because kh_profile_set
 * may free the string a derived field pointed at.
 */
#include "kh_profile.h"

#include <assert.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>

#include <curl/curl.h>

#include "kf/alloc.h"
#include "kf/file.h"
#include "kf/buf.h"
#include "kf/str.h"
#include "kf/timeutil.h"

#define KH_PROFILE_MAX_BYTES (1u << 20)
#define KH_PROFILE_MAX_ENTRIES 4096u
#define KH_PROFILE_MAX_KEY 256

void kh_profile_init(kh_profile *profile) {
  memset(profile, 0, sizeof *profile);
  profile->clock = "none";
  profile->clock_header = "Konform-Clock";
  profile->wait_timeout_ms = 10000;
}

void kh_profile_release(kh_profile *profile) {
  if (profile == NULL)
    return;
  for (size_t i = 0; i < profile->len; i++) {
    kf_free(profile->entries[i].key);
    kf_free(profile->entries[i].value);
  }
  kf_free(profile->entries);
  kf_free(profile->path);
  kh_profile_init(profile);
}

const char *kh_profile_get(const kh_profile *profile, const char *key) {
  if (profile == NULL || key == NULL)
    return NULL;
  for (size_t i = 0; i < profile->len; i++) {
    if (strcmp(profile->entries[i].key, key) == 0)
      return profile->entries[i].value;
  }
  return NULL;
}

kf_rc kh_profile_set(kh_profile *profile, const char *key, const char *value) {
  assert(profile != NULL && key != NULL && value != NULL);
  char *v = kf_strdup(value);
  if (v == NULL)
    return KF_ERR_NOMEM;
  for (size_t i = 0; i < profile->len; i++) {
    if (strcmp(profile->entries[i].key, key) == 0) {
      kf_free(profile->entries[i].value);
      profile->entries[i].value = v;
      return KF_OK;
    }
  }
  kf_rc grow_rc = KF_OK;
  kh_profile_entry *e = kf_array_grow(profile->entries, &profile->cap, profile->len, sizeof *e, 32,
                                      KH_PROFILE_MAX_ENTRIES, &grow_rc);
  if (e == NULL) {
    kf_free(v);
    return grow_rc;
  }
  profile->entries = e;
  char *k = kf_strdup(key);
  if (k == NULL) {
    kf_free(v);
    return KF_ERR_NOMEM;
  }
  profile->entries[profile->len].key = k;
  profile->entries[profile->len].value = v;
  profile->entries[profile->len].line = 0;
  profile->len++;
  return KF_OK;
}

static bool kh_is_http_url(const char *s);

/* Where the file sets key, 0 when code set it or nobody did. */
static unsigned kh_profile_line(const kh_profile *profile, const char *key) {
  for (size_t i = 0; i < profile->len; i++)
    if (strcmp(profile->entries[i].key, key) == 0)
      return profile->entries[i].line;
  return 0;
}

/* An http(s) URL that libcurl can use: no blanks, a port that exists. */
static bool kh_profile_url_ok(const char *s) {
  if (!kh_is_http_url(s))
    return false;
  CURLU *u = curl_url();
  bool ok = u != NULL && curl_url_set(u, CURLUPART_URL, s, 0) == CURLUE_OK;
  curl_url_cleanup(u);
  return ok;
}

static bool kh_is_http_url(const char *s) {
  return (kf_str_starts_with(s, "http://") && s[7] != '\0') ||
         (kf_str_starts_with(s, "https://") && s[8] != '\0');
}

/* The keys outside sections, for validation and did-you-mean. */
static const char *const KH_PROFILE_KEYS[] = {"base_url",        "mail_api",     "post_api",
                                              "clock",           "clock_header", "wait_timeout",
                                              "timing_base_url", "public_url",   NULL};
static const char *const KH_PROFILE_SECTIONS[] = {"defaults", "custom", NULL};

static size_t kh_profile_count(const char *const *names) {
  size_t n = 0;
  while (names[n] != NULL)
    n++;
  return n;
}

/* "line 4: " for entries from a file, "" for those set by code. */
static void kh_profile_where(const kh_profile_entry *e, char *out, size_t size) {
  if (e->line == 0 || kf_str_format(out, size, "line %u: ", e->line) != KF_OK)
    out[0] = '\0';
}

/* Every key is known, or in a known section; an unknown one names the nearest known one. */
static kf_rc kh_profile_check_keys(const kh_profile *profile, kf_err *err) {
  for (size_t i = 0; i < profile->len; i++) {
    const kh_profile_entry *e = &profile->entries[i];
    const char *dot = strchr(e->key, '.');
    char where[32];
    kh_profile_where(e, where, sizeof where);
    if (dot == NULL) {
      bool known = false;
      for (size_t k = 0; KH_PROFILE_KEYS[k] != NULL && !known; k++)
        known = strcmp(KH_PROFILE_KEYS[k], e->key) == 0;
      if (known)
        continue;
      const char *near = kf_str_nearest(e->key, strlen(e->key), KH_PROFILE_KEYS,
                                        kh_profile_count(KH_PROFILE_KEYS));
      return kf_err_set(err, KF_ERR_INVALID, "%sunknown key '%.100s'%s%s%s", where, e->key,
                        near != NULL ? " (did you mean '" : " (keys of your own go in [custom])",
                        near != NULL ? near : "", near != NULL ? "'?)" : "");
    }
    size_t sl = (size_t)(dot - e->key);
    bool known = false;
    for (size_t k = 0; KH_PROFILE_SECTIONS[k] != NULL && !known; k++)
      known =
          strlen(KH_PROFILE_SECTIONS[k]) == sl && strncmp(KH_PROFILE_SECTIONS[k], e->key, sl) == 0;
    if (!known) {
      const char *near =
          kf_str_nearest(e->key, sl, KH_PROFILE_SECTIONS, kh_profile_count(KH_PROFILE_SECTIONS));
      return kf_err_set(err, KF_ERR_INVALID, "%sunknown section [%.*s] (%s%s%s)", where, (int)sl,
                        e->key, near != NULL ? "did you mean [" : "sections: [defaults], [custom]",
                        near != NULL ? near : "", near != NULL ? "]?" : "");
    }
  }
  return KF_OK;
}

kf_rc kh_profile_finish(kh_profile *profile, kf_err *err) {
  assert(profile != NULL);
  kf_rc krc = kh_profile_check_keys(profile, err);
  if (krc != KF_OK)
    return krc;
  /* The URL keys: an empty value is no value; a value must be an http(s) URL. */
  static const struct {
    const char *key;
    size_t field; /* offsetof the kh_profile member. */
    bool required;
  } urls[] = {{"base_url", offsetof(kh_profile, base_url), true},
              {"mail_api", offsetof(kh_profile, mail_api), false},
              {"post_api", offsetof(kh_profile, post_api), false},
              {"timing_base_url", offsetof(kh_profile, timing_base_url), false},
              {"public_url", offsetof(kh_profile, public_url), false}};
  const char *found[sizeof urls / sizeof urls[0]];
  for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
    const char *v = kh_profile_get(profile, urls[i].key);
    found[i] = v != NULL && v[0] != '\0' ? v : NULL;
    if (found[i] == NULL && urls[i].required)
      return kf_err_set(err, KF_ERR_INVALID, "%s is required", urls[i].key);
    if (found[i] != NULL && !kh_profile_url_ok(found[i])) {
      char where[32] = "";
      unsigned line = kh_profile_line(profile, urls[i].key);
      if (line > 0)
        (void)kf_str_format(where, sizeof where, "line %u: ", line);
      return kf_err_set(
          err, KF_ERR_INVALID, "%s%s must be an http:// or https:// URL (got \"%.100s\")%s", where,
          urls[i].key, found[i],
          strchr(found[i], '#') != NULL ? "; a comment goes on a line of its own" : "");
    }
  }
  const char *clock = kh_profile_get(profile, "clock");
  if (clock == NULL)
    clock = "none";
  if (strcmp(clock, "konform") != 0 && strcmp(clock, "none") != 0)
    return kf_err_set(err, KF_ERR_INVALID, "clock must be \"konform\" or \"none\" (got \"%.100s\")",
                      clock);
  const char *header = kh_profile_get(profile, "clock_header");
  if (header == NULL)
    header = "Konform-Clock";
  if (header[0] == '\0' || strpbrk(header, " \t:\r\n") != NULL)
    return kf_err_set(err, KF_ERR_INVALID, "clock_header must be a header name (got \"%.100s\")",
                      header);
  int64_t wait_ms = 10000;
  const char *wait = kh_profile_get(profile, "wait_timeout");
  if (wait != NULL && (kf_duration_parse_ms(wait, &wait_ms) != KF_OK || wait_ms <= 0))
    return kf_err_set(err, KF_ERR_INVALID,
                      "wait_timeout must be a duration such as 10s (got \"%.100s\")", wait);
  for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++)
    *(const char **)(void *)((char *)profile + urls[i].field) = found[i];
  /* Where the portal's own links point; most targets are tested at that address. */
  if (profile->public_url == NULL)
    profile->public_url = profile->base_url;
  profile->clock = clock;
  profile->clock_header = header;
  profile->wait_timeout_ms = wait_ms;
  return KF_OK;
}

static bool kh_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

/* "[ name ]" into section. */
static kf_rc kh_profile_section(const char *line, size_t n, char *section, size_t size,
                                unsigned lineno, kf_err *err) {
  if (line[n - 1] != ']')
    return kf_err_set(err, KF_ERR_PARSE, "line %u: expected ']' to end the section", lineno);
  size_t sl = n - 2;
  const char *sn = line + 1;
  while (sl > 0 && (*sn == ' ' || *sn == '\t'))
    sn++, sl--;
  sl = kf_str_rtrim_len(sn, sl);
  if (sl == 0 || sl + 1 >= size)
    return kf_err_set(err, KF_ERR_PARSE, "line %u: expected a section name in [ ]", lineno);
  for (size_t i = 0; i < sl; i++)
    if (!kh_key_char(sn[i]))
      return kf_err_set(err, KF_ERR_PARSE, "line %u: bad character in section name", lineno);
  memcpy(section, sn, sl);
  section[sl] = '\0';
  return KF_OK;
}

/* The value after '=' (vl bytes at v) into val: bare, or quoted with \" and \\ escapes. */
static kf_rc kh_profile_value(const char *v, size_t vl, kf_buf *val, unsigned lineno, kf_err *err) {
  if (vl == 0 || v[0] != '"')
    return vl > 0 ? kf_buf_append(val, v, vl) : KF_OK;
  /* A quoted value keeps blanks and '#'; \" and \\ are its only escapes. */
  size_t i = 1;
  bool closed = false;
  kf_rc rc = KF_OK;
  for (; i < vl && rc == KF_OK; i++) {
    if (v[i] == '\\' && i + 1 < vl && (v[i + 1] == '"' || v[i + 1] == '\\')) {
      rc = kf_buf_append_byte(val, v[++i]);
    } else if (v[i] == '"') {
      closed = true;
      i++;
      break;
    } else {
      rc = kf_buf_append_byte(val, v[i]);
    }
  }
  if (rc == KF_OK && (!closed || i != vl))
    return kf_err_set(err, KF_ERR_PARSE, "line %u: %s", lineno,
                      closed ? "unexpected text after the closing quote"
                             : "unterminated quoted value");
  return rc;
}

/* One "key = value" line (trimmed, n bytes) in section. */
static kf_rc kh_profile_parse_line(kh_profile *profile, const char *section, const char *line,
                                   size_t n, unsigned lineno, kf_err *err) {
  const char *eq = memchr(line, '=', n);
  if (eq == NULL)
    return kf_err_set(err, KF_ERR_PARSE, "line %u: expected 'key = value'", lineno);
  size_t kl = kf_str_rtrim_len(line, (size_t)(eq - line));
  if (kl == 0)
    return kf_err_set(err, KF_ERR_PARSE, "line %u: expected a key before '='", lineno);
  for (size_t i = 0; i < kl; i++)
    if (!kh_key_char(line[i]))
      return kf_err_set(err, KF_ERR_PARSE,
                        (unsigned char)line[i] >= 0x20 && (unsigned char)line[i] < 0x7f
                            ? "line %u: bad character '%c' in key (use letters, digits, _ - .)"
                            : "line %u: bad byte \\x%02X in key (use letters, digits, _ - .)",
                        lineno, (unsigned char)line[i]);
  char key[KH_PROFILE_MAX_KEY * 2 + 2];
  if (kf_str_format(key, sizeof key, "%s%s%.*s", section, section[0] ? "." : "", (int)kl, line) !=
      KF_OK)
    return kf_err_set(err, KF_ERR_PARSE, "line %u: key too long", lineno);
  const char *v = eq + 1;
  size_t vl = n - (size_t)(v - line);
  while (vl > 0 && (*v == ' ' || *v == '\t'))
    v++, vl--;
  kf_buf val;
  kf_buf_init(&val, KH_PROFILE_MAX_BYTES);
  kf_rc rc = kh_profile_value(v, vl, &val, lineno, err);
  if (rc == KF_ERR_PARSE) {
    kf_buf_release(&val);
    return rc;
  }
  if (rc == KF_OK && kh_profile_get(profile, key) != NULL) {
    kf_buf_release(&val);
    return kf_err_set(err, KF_ERR_PARSE, "line %u: key '%.200s' set twice", lineno, key);
  }
  if (rc == KF_OK)
    rc = kh_profile_set(profile, key, val.data != NULL ? val.data : "");
  if (rc == KF_OK)
    profile->entries[profile->len - 1].line = lineno;
  kf_buf_release(&val);
  if (rc == KF_ERR_LIMIT)
    return kf_err_set(err, rc, "line %u: too many keys", lineno);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "out of memory");
  return KF_OK;
}

/* Parse profile text into entries; messages name "line N". */
static kf_rc kh_profile_parse(kh_profile *profile, const char *text, size_t len, kf_err *err) {
  char section[KH_PROFILE_MAX_KEY] = "";
  unsigned lineno = 0;
  /* A UTF-8 byte order mark, as some editors write one, is not part of the first key. */
  size_t pos = len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
  kf_rc rc = KF_OK;
  while (rc == KF_OK && pos < len) {
    const char *line = text + pos;
    const char *nl = memchr(line, '\n', len - pos);
    size_t n = nl != NULL ? (size_t)(nl - line) : len - pos;
    pos += n + (nl != NULL ? 1 : 0);
    lineno++;
    if (memchr(line, '\0', n) != NULL)
      return kf_err_set(err, KF_ERR_PARSE, "line %u: NUL byte", lineno);
    while (n > 0 && (line[0] == ' ' || line[0] == '\t'))
      line++, n--;
    n = kf_str_rtrim_len(line, n);
    if (n == 0 || line[0] == '#')
      continue;
    if (line[0] == '[')
      rc = kh_profile_section(line, n, section, sizeof section, lineno, err);
    else
      rc = kh_profile_parse_line(profile, section, line, n, lineno, err);
  }
  return rc;
}

kf_rc kh_profile_load(kh_profile *profile, const char *path, kf_err *err) {
  assert(profile != NULL && path != NULL);
  kh_profile_release(profile);
  kf_buf b;
  kf_buf_init(&b, KH_PROFILE_MAX_BYTES);
  kf_rc rc = kf_file_read(path, &b, err);
  if (rc == KF_OK && (profile->path = kf_strdup(path)) == NULL)
    rc = kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  if (rc == KF_OK)
    rc = kh_profile_parse(profile, b.data != NULL ? b.data : "", b.len, err);
  kf_buf_release(&b);
  if (rc == KF_OK)
    rc = kh_profile_finish(profile, err);
  if (rc != KF_OK)
    kh_profile_release(profile);
  return rc;
}
