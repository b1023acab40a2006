/*
 * kp_letter.c: validation and normalisation of letters (see kp_letter.h).
 */
#include "kp_letter.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "kf/str.h"
#include "kf/utf8.h"

#define KP_KIND_MAX 64
#define KP_NAME_MAX 200
#define KP_ADDRESS_LINE_MAX 200
#define KP_POSTAL_CODE_MAX 20
#define KP_FIELDS_MAX 50
#define KP_FIELD_KEY_MAX 64
/* Dotted paths of other members are capped; a longer one is cut (it only names the place). */
#define KP_PATH_MAX 512
/* Other members nest at most this deep; jansson itself stops at 2048. */
#define KP_EXTRA_DEPTH_MAX 32

static const char *const kp_msg_missing = "Diese Angabe fehlt.";
static const char *const kp_msg_not_string = "Die Angabe muss ein Text sein.";
static const char *const kp_msg_not_object = "Die Angabe muss ein JSON-Objekt sein.";
static const char *const kp_msg_control = "Die Angabe enthält unerlaubte Steuerzeichen.";

/* Append one issue; false when out of memory. */
static bool kp_issue(json_t *issues, const char *field, const char *code, const char *message) {
  json_t *item = json_pack("{s:s, s:s, s:s}", "field", field, "code", code, "message", message);
  if (!item)
    return false;
  return json_array_append_new(issues, item) == 0;
}

/*
 * Whether s (len bytes of valid UTF-8) holds a control character we refuse:
 * C0 controls except \n and \t, DEL, and the C1 range U+0080..U+009F. NUL
 * counts too, which is why the length is passed rather than trusted to strlen.
 */
static bool kp_has_control(const char *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    uint32_t cp;
    size_t n = kf_utf8_decode(s + i, len - i, &cp);
    if (n == 0)
      return true; /* The JSON parser checks UTF-8; treat a surprise as unacceptable. */
    if ((cp < 0x20 && cp != '\n' && cp != '\t') || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F))
      return true;
    i += n;
  }
  return false;
}

/* Character (code point) count of a valid UTF-8 JSON string value. */
static size_t kp_chars(const json_t *str) {
  size_t n = kf_utf8_count(json_string_value(str), json_string_length(str));
  return n == (size_t)-1 ? 0 : n;
}

typedef enum kp_verdict { KP_ABSENT, KP_BAD, KP_GOOD } kp_verdict;

/*
 * Common checks for a string field: absent/null, not a string, control
 * characters. Reports the problem (if any) and returns the verdict; *out is
 * the value for KP_GOOD. rc receives KF_ERR_NOMEM when reporting failed.
 */
static kp_verdict kp_string(const json_t *parent, const char *key, const char *field, bool required,
                            json_t *issues, kf_rc *rc, const json_t **out) {
  const json_t *v = json_object_get(parent, key);
  *out = NULL;
  if (!v || json_is_null(v)) {
    if (required && !kp_issue(issues, field, KP_CODE_MISSING, kp_msg_missing))
      *rc = KF_ERR_NOMEM;
    return required ? KP_BAD : KP_ABSENT;
  }
  const char *why = NULL;
  if (!json_is_string(v)) {
    why = kp_msg_not_string;
  } else if (kp_has_control(json_string_value(v), json_string_length(v))) {
    why = kp_msg_control;
  }
  if (why) {
    if (!kp_issue(issues, field, KP_CODE_INVALID, why))
      *rc = KF_ERR_NOMEM;
    return KP_BAD;
  }
  *out = v;
  return KP_GOOD;
}

/* Report INVALID_FIELD with message when ok is false. */
static void kp_require(bool ok, const char *field, const char *message, json_t *issues, kf_rc *rc) {
  if (!ok && !kp_issue(issues, field, KP_CODE_INVALID, message))
    *rc = KF_ERR_NOMEM;
}

/* A string of 1..max characters. */
static void kp_text_field(const json_t *parent, const char *key, const char *field, size_t max,
                          const char *message, json_t *issues, kf_rc *rc) {
  const json_t *v;
  if (kp_string(parent, key, field, true, issues, rc, &v) != KP_GOOD)
    return;
  size_t n = kp_chars(v);
  kp_require(n >= 1 && (max == 0 || n <= max), field, message, issues, rc);
}

static bool kp_kind_ok(const char *s, size_t len) {
  if (len < 1 || len > KP_KIND_MAX)
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
      return false;
  }
  return true;
}

static bool kp_digits(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return false;
  }
  return true;
}

static int kp_number(const char *s, size_t n) {
  int v = 0;
  for (size_t i = 0; i < n; i++)
    v = v * 10 + (s[i] - '0');
  return v;
}

/* "YYYY-MM-DD" naming a day that exists in the proleptic Gregorian calendar. */
static bool kp_date_ok(const char *s, size_t len) {
  if (len != 10 || s[4] != '-' || s[7] != '-')
    return false;
  if (!kp_digits(s, 4) || !kp_digits(s + 5, 2) || !kp_digits(s + 8, 2))
    return false;
  int year = kp_number(s, 4), month = kp_number(s + 5, 2), day = kp_number(s + 8, 2);
  if (year < 1 || month < 1 || month > 12 || day < 1)
    return false;
  static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  int max = days[month - 1] + (month == 2 && leap ? 1 : 0);
  return day <= max;
}

/* PROF-04: three digits, one upper-case letter, six digits ("123A123456"). */
static bool kp_customer_number_ok(const char *s, size_t len) {
  return len == 10 && kp_digits(s, 3) && s[3] >= 'A' && s[3] <= 'Z' && kp_digits(s + 4, 6);
}

static bool kp_country_ok(const char *s, size_t len) {
  return len == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z';
}

/* Check a string with a pattern predicate. */
static void kp_pattern_field(const json_t *parent, const char *key, const char *field,
                             bool required, bool (*ok)(const char *, size_t), const char *message,
                             json_t *issues, kf_rc *rc) {
  const json_t *v;
  if (kp_string(parent, key, field, required, issues, rc, &v) != KP_GOOD)
    return;
  kp_require(ok(json_string_value(v), json_string_length(v)), field, message, issues, rc);
}

/* Require an object member; reports and returns NULL when absent or not an object. */
static const json_t *kp_object(const json_t *parent, const char *key, const char *field,
                               json_t *issues, kf_rc *rc) {
  const json_t *v = json_object_get(parent, key);
  if (!v || json_is_null(v)) {
    if (!kp_issue(issues, field, KP_CODE_MISSING, kp_msg_missing))
      *rc = KF_ERR_NOMEM;
    return NULL;
  }
  if (!json_is_object(v)) {
    if (!kp_issue(issues, field, KP_CODE_INVALID, kp_msg_not_object))
      *rc = KF_ERR_NOMEM;
    return NULL;
  }
  return v;
}

static void kp_check_address(const json_t *address, json_t *issues, kf_rc *rc) {
  kp_text_field(address, "street", "recipient.address.street", KP_ADDRESS_LINE_MAX,
                "Die Straße muss 1 bis 200 Zeichen lang sein.", issues, rc);
  kp_text_field(address, "postal_code", "recipient.address.postal_code", KP_POSTAL_CODE_MAX,
                "Die Postleitzahl muss 1 bis 20 Zeichen lang sein.", issues, rc);
  kp_text_field(address, "city", "recipient.address.city", KP_ADDRESS_LINE_MAX,
                "Der Ort muss 1 bis 200 Zeichen lang sein.", issues, rc);
  kp_pattern_field(address, "country", "recipient.address.country", false, kp_country_ok,
                   "Das Land ist ein Code aus zwei Großbuchstaben, zum Beispiel DE.", issues, rc);
}

static void kp_check_recipient(const json_t *recipient, json_t *issues, kf_rc *rc) {
  kp_text_field(recipient, "name", "recipient.name", KP_NAME_MAX,
                "Der Name muss 1 bis 200 Zeichen lang sein.", issues, rc);
  kp_pattern_field(
      recipient, "customer_number", "recipient.customer_number", false, kp_customer_number_ok,
      "Die Kundennummer hat die Form 123A123456: drei Ziffern, ein Großbuchstabe, sechs Ziffern.",
      issues, rc);
  const json_t *address = kp_object(recipient, "address", "recipient.address", issues, rc);
  if (address)
    kp_check_address(address, issues, rc);
}

/* fields: an optional object whose values are all strings. */
static void kp_check_fields(const json_t *letter, json_t *issues, kf_rc *rc) {
  const json_t *fields = json_object_get(letter, "fields");
  if (!fields || json_is_null(fields))
    return;
  if (!json_is_object(fields)) {
    kp_require(false, "fields", kp_msg_not_object, issues, rc);
    return;
  }
  if (json_object_size(fields) > KP_FIELDS_MAX) {
    kp_require(false, "fields", "Höchstens 50 Einträge.", issues, rc);
    return;
  }
  const char *key;
  json_t *value;
  /* json_object_foreach wants a non-const object; it only reads it. */
  json_object_foreach((json_t *)fields, key, value) {
    size_t key_len = strlen(key);
    if (key_len == 0 || key_len > KP_FIELD_KEY_MAX || kp_has_control(key, key_len)) {
      kp_require(false, "fields", "Jeder Name in fields hat 1 bis 64 Zeichen ohne Steuerzeichen.",
                 issues, rc);
      continue;
    }
    char path[8 + KP_FIELD_KEY_MAX];
    memcpy(path, "fields.", 7);
    memcpy(path + 7, key, key_len + 1);
    /* A null value is "not a text" here, not a missing field: the key is there. */
    if (json_is_null(value)) {
      kp_require(false, path, kp_msg_not_string, issues, rc);
      continue;
    }
    const json_t *v;
    (void)kp_string(fields, key, path, true, issues, rc, &v);
  }
}

/*
 * Where a member of the letter is checked: the known string fields and
 * "fields" entirely by their own rules (a field reports at most one problem),
 * the known objects by their own rules for their known members and by the
 * walk below for any others, everything else by the walk alone.
 */
typedef enum kp_known { KP_UNKNOWN, KP_KNOWN_LEAF, KP_KNOWN_OBJECT } kp_known;

static kp_known kp_known_path(const char *path) {
  static const char *const leaves[] = {"kind",
                                       "date",
                                       "text",
                                       "fields",
                                       "recipient.name",
                                       "recipient.customer_number",
                                       "recipient.address.street",
                                       "recipient.address.postal_code",
                                       "recipient.address.city",
                                       "recipient.address.country"};
  for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
    if (strcmp(path, leaves[i]) == 0)
      return KP_KNOWN_LEAF;
  }
  if (strcmp(path, "") == 0 || strcmp(path, "recipient") == 0 ||
      strcmp(path, "recipient.address") == 0)
    return KP_KNOWN_OBJECT;
  return KP_UNKNOWN;
}

/* Append ".segment" (or "segment" at the top) to path, cutting at the cap. */
static void kp_path_push(char *path, size_t len, const char *segment) {
  size_t at = len;
  if (at > 0 && at + 1 < KP_PATH_MAX)
    path[at++] = '.';
  size_t n = strlen(segment);
  if (at + n >= KP_PATH_MAX)
    n = KP_PATH_MAX - 1 - at;
  memcpy(path + at, segment, n);
  path[at + n] = '\0';
}

/*
 * Check every string (and every object key) below value, at path (a buffer
 * of KP_PATH_MAX bytes that the walk extends and restores), for control
 * characters: a letter's other members are stored and served as they are, so
 * they must be as clean as the known fields. Members the known rules cover
 * are skipped, so each problem is reported once.
 */
static void kp_check_extra(const json_t *value, char *path, unsigned depth, json_t *issues,
                           kf_rc *rc) {
  if (*rc != KF_OK)
    return;
  kp_known known = kp_known_path(path);
  if (known == KP_KNOWN_LEAF)
    return;
  if (known == KP_KNOWN_OBJECT && !json_is_object(value))
    return; /* Already reported as not an object. */
  if (json_is_string(value)) {
    kp_require(!kp_has_control(json_string_value(value), json_string_length(value)), path,
               kp_msg_control, issues, rc);
    return;
  }
  if (!json_is_object(value) && !json_is_array(value))
    return;
  if (depth >= KP_EXTRA_DEPTH_MAX) {
    kp_require(false, path, "Die Angabe ist zu tief verschachtelt.", issues, rc);
    return;
  }
  size_t len = strlen(path);
  if (json_is_array(value)) {
    size_t i;
    json_t *item;
    json_array_foreach((json_t *)value, i, item) {
      char index[24];
      if (kf_str_format(index, sizeof(index), "%zu", i) != KF_OK)
        index[0] = '\0';
      kp_path_push(path, len, index);
      kp_check_extra(item, path, depth + 1, issues, rc);
      path[len] = '\0';
    }
    return;
  }
  const char *key;
  json_t *member;
  json_object_foreach((json_t *)value, key, member) {
    if (kp_has_control(key, strlen(key))) {
      /* The key cannot be part of a readable path, so the object is named. */
      kp_require(false, path, "Ein Name enthält unerlaubte Steuerzeichen.", issues, rc);
      continue;
    }
    kp_path_push(path, len, key);
    kp_check_extra(member, path, depth + 1, issues, rc);
    path[len] = '\0';
  }
}

kf_rc kp_letter_check(const json_t *letter, json_t *issues) {
  assert(json_is_array(issues));
  if (!json_is_object(letter)) {
    return kp_issue(issues, "", KP_CODE_INVALID, "Der Brief muss ein JSON-Objekt sein.")
               ? KF_ERR_INVALID
               : KF_ERR_NOMEM;
  }
  size_t before = json_array_size(issues);
  kf_rc rc = KF_OK;
  kp_pattern_field(letter, "kind", "kind", true, kp_kind_ok,
                   "Die Art besteht aus 1 bis 64 Zeichen a-z, 0-9 und Bindestrich.", issues, &rc);
  kp_pattern_field(letter, "date", "date", true, kp_date_ok,
                   "Das Datum muss ein gültiger Tag im Format JJJJ-MM-TT sein.", issues, &rc);
  const json_t *recipient = kp_object(letter, "recipient", "recipient", issues, &rc);
  if (recipient)
    kp_check_recipient(recipient, issues, &rc);
  kp_text_field(letter, "text", "text", 0, "Der Brieftext darf nicht leer sein.", issues, &rc);
  kp_check_fields(letter, issues, &rc);
  char path[KP_PATH_MAX] = "";
  kp_check_extra(letter, path, 0, issues, &rc);
  if (rc != KF_OK)
    return rc;
  return json_array_size(issues) > before ? KF_ERR_INVALID : KF_OK;
}

kf_rc kp_letter_normalize(const json_t *letter, json_t **out) {
  assert(out);
  *out = NULL;
  json_t *doc = json_deep_copy(letter);
  if (!doc)
    return KF_ERR_NOMEM;
  json_t *address = json_object_get(json_object_get(doc, "recipient"), "address");
  assert(json_is_object(address));
  json_t *country = json_object_get(address, "country");
  if (!country || json_is_null(country)) {
    if (json_object_set_new(address, "country", json_string("DE")) != 0) {
      json_decref(doc);
      return KF_ERR_NOMEM;
    }
  }
  *out = doc;
  return KF_OK;
}
