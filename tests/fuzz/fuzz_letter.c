/*
 * fuzz_letter.c: the letter validator of konform-post (mocks/post/kp_letter.c).
 *
 * The input is a request body; it is parsed the way kf_httpd parses JSON
 * bodies (duplicates rejected, NUL allowed, any value at the top) and handed
 * to kp_letter_check. Besides crashes the harness checks the contract of
 * kp_letter.h: the verdict agrees with the issue list, every issue is a
 * {"field","code","message"} object with a known code, and a valid letter
 * normalises into a document that is still valid and normalises to itself.
 * A second, independent reading of the rules (written from the header, not
 * from the code) must agree where it can judge: a letter found valid meets
 * every field rule, and one with a control character in any string or key
 * is never valid.
 *
 * Then the check (and, for a valid letter, the normalising) runs again with
 * one allocation failing, jansson's included (kf/alloc.h); which one comes
 * from the input's last byte and length. The verdict may only turn into
 * KF_ERR_NOMEM, and nothing may leak.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kf/alloc.h"
#include "kp_letter.h"
#include "kz_fuzz.h"

/* The control characters kp_letter.h refuses, read from UTF-8 (jansson checked it). */
static int kz_has_control(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
      return 1;
    /* U+0080..U+009F are C2 80..C2 9F. */
    if (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] <= 0x9f)
      return 1;
  }
  return 0;
}

static int kz_any_control(const json_t *v) {
  if (json_is_string(v))
    return kz_has_control(json_string_value(v), json_string_length(v));
  size_t i;
  json_t *item;
  if (json_is_array(v)) {
    json_array_foreach((json_t *)v, i, item) {
      if (kz_any_control(item))
        return 1;
    }
  }
  const char *key;
  if (json_is_object(v)) {
    json_object_foreach((json_t *)v, key, item) {
      if (kz_has_control(key, strlen(key)) || kz_any_control(item))
        return 1;
    }
  }
  return 0;
}

/* A string member that is there, or (optional) absent or null. */
static const char *kz_str(const json_t *obj, const char *key, int optional) {
  const json_t *v = json_object_get(obj, key);
  if (optional && (v == NULL || json_is_null(v)))
    return "";
  return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v) : NULL;
}

static int kz_only(const char *s, const char *set, size_t min, size_t max) {
  size_t n = strspn(s, set);
  return s[n] == '\0' && n >= min && n <= max;
}

static int kz_date_ok(const char *s) {
  static const char digits[] = "0123456789";
  if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' || strspn(s, digits) != 4 ||
      strspn(s + 5, digits) != 2 || strspn(s + 8, digits) != 2)
    return 0;
  int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
  int m = (s[5] - '0') * 10 + (s[6] - '0');
  int d = (s[8] - '0') * 10 + (s[9] - '0');
  int leap = y % 400 == 0 || (y % 100 != 0 && y % 4 == 0);
  /* Thirty days hath September, April, June and November. */
  int last = m == 2 ? 28 + leap : (m == 4 || m == 6 || m == 9 || m == 11) ? 30 : 31;
  return y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= last;
}

/* What a valid letter must be, field by field (kp_letter.h). */
static int kz_meets_rules(const json_t *letter) {
  static const char lower[] = "abcdefghijklmnopqrstuvwxyz0123456789-";
  static const char upper[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  const json_t *rcpt = json_object_get(letter, "recipient");
  const json_t *addr = json_object_get(rcpt, "address");
  const char *kind = kz_str(letter, "kind", 0), *date = kz_str(letter, "date", 0);
  const char *cn = kz_str(rcpt, "customer_number", 1);
  const char *country = kz_str(addr, "country", 1);
  if (!json_is_object(letter) || !json_is_object(rcpt) || !json_is_object(addr) || !kind || !date ||
      !cn || !country || !kz_str(rcpt, "name", 0) || !kz_str(addr, "street", 0) ||
      !kz_str(addr, "postal_code", 0) || !kz_str(addr, "city", 0) || !kz_str(letter, "text", 0))
    return 0;
  if (!kz_only(kind, lower, 1, 64) || !kz_date_ok(date))
    return 0;
  if (cn[0] != '\0' && !(strlen(cn) == 10 && strspn(cn, "0123456789") == 3 &&
                         strchr(upper, cn[3]) != NULL && kz_only(cn + 4, "0123456789", 6, 6)))
    return 0;
  if (country[0] != '\0' && !kz_only(country, upper, 2, 2))
    return 0;
  const json_t *fields = json_object_get(letter, "fields");
  if (fields != NULL && !json_is_null(fields)) {
    const char *key;
    json_t *v;
    if (!json_is_object(fields))
      return 0;
    json_object_foreach((json_t *)fields, key, v) {
      if (!json_is_string(v))
        return 0;
    }
  }
  return 1;
}

/* Whether one issue has the documented shape; a broken one is a finding. */
static int kz_issue_ok(const json_t *issue) {
  const char *field = json_string_value(json_object_get(issue, "field"));
  const char *code = json_string_value(json_object_get(issue, "code"));
  const char *message = json_string_value(json_object_get(issue, "message"));
  if (!json_is_object(issue) || !field || !code || !message || message[0] == '\0')
    return 0;
  return strcmp(code, KP_CODE_MISSING) == 0 || strcmp(code, KP_CODE_INVALID) == 0;
}

/* A valid letter's stored form must pass again and be a fixed point of normalising. */
static void kz_check_normalized(const json_t *letter) {
  json_t *doc = NULL;
  if (kp_letter_normalize(letter, &doc) != KF_OK)
    abort();
  json_t *issues = json_array();
  if (!issues || kp_letter_check(doc, issues) != KF_OK || json_array_size(issues) != 0)
    abort();
  json_t *again = NULL;
  if (kp_letter_normalize(doc, &again) != KF_OK || !json_equal(doc, again))
    abort();
  json_decref(again);
  json_decref(issues);
  json_decref(doc);
}

/* Check (and normalise) letter with the n-th allocation from now failing. */
static void kz_short_of_memory(const json_t *letter, unsigned long n, kf_rc checked) {
  json_t *issues = json_array();
  if (!issues)
    abort();
  kf_alloc_fail_at(n);
  kf_rc rc = kp_letter_check(letter, issues);
  json_t *doc = NULL;
  kf_rc norm = rc == KF_OK ? kp_letter_normalize(letter, &doc) : KF_OK;
  kf_alloc_fail_at(0);
  if ((rc != checked && rc != KF_ERR_NOMEM) || (norm != KF_OK && norm != KF_ERR_NOMEM) ||
      (norm == KF_OK) != (rc != KF_OK || doc != NULL))
    abort();
  json_decref(doc);
  json_decref(issues);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static bool ready;
  if (!ready) {
    kf_alloc_install_jansson();
    ready = true;
  }
  kf_alloc_fail_at(0);
  json_error_t jerr;
  json_t *letter = json_loadb((const char *)data, size,
                              JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
  if (!letter)
    return 0;
  json_t *issues = json_array();
  if (!issues)
    abort();
  /* Count only what checking and normalising allocate. */
  kf_alloc_fail_at(0);
  kf_rc rc = kp_letter_check(letter, issues);
  if (rc == KF_OK && (!kz_meets_rules(letter) || kz_any_control(letter)))
    abort();
  if (rc == KF_OK) {
    if (json_array_size(issues) != 0)
      abort();
    kz_check_normalized(letter);
  } else if (rc == KF_ERR_INVALID) {
    if (json_array_size(issues) == 0)
      abort();
    size_t i;
    json_t *issue;
    json_array_foreach(issues, i, issue) {
      if (!kz_issue_ok(issue))
        abort();
    }
  } else {
    abort(); /* Nothing here runs out of memory. */
  }
  json_decref(issues);
  unsigned long allocs = kf_alloc_count();
  if (allocs > 0 && size > 0)
    kz_short_of_memory(letter, 1 + ((unsigned long)data[size - 1] * 131u + size) % allocs, rc);
  json_decref(letter);
  return 0;
}
