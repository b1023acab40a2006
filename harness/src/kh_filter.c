/*
 * kh_filter.c: the filter table and the filters (see kh_filter.h).
 */
#include "kh_filter.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

#include "kf/buf.h"
#include "kf/timeutil.h"
#include "kf/utf8.h"
#include "kh_lex.h"
#include "kh_text.h"

/* Hand *value over to res (a new value, NULL on allocation failure). */
static kf_rc kh_filter_replace(json_t **value, json_t *res, kf_err *err) {
  if (res == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "cannot apply filter: %s", kf_rc_name(KF_ERR_NOMEM));
  json_decref(*value);
  *value = res;
  return KF_OK;
}

static kf_rc kh_filter_text_error(kf_rc rc, kf_err *err) {
  return kf_err_set(err, rc, "cannot apply filter: %s", kf_rc_name(rc));
}

/* Items of an array or object, characters of a string. */
static kf_rc kh_f_count(const char *arg, size_t len, const kh_regex *re, json_t **value,
                        kf_err *err) {
  (void)re;
  (void)arg;
  (void)len;
  json_t *in = *value;
  size_t n;
  if (json_is_array(in)) {
    n = json_array_size(in);
  } else if (json_is_object(in)) {
    n = json_object_size(in);
  } else if (json_is_string(in)) {
    n = kf_utf8_count(json_string_value(in), json_string_length(in));
    if (n == (size_t)-1)
      n = json_string_length(in);
  } else {
    return kf_err_set(err, KF_ERR_INVALID, "'count' needs an array, an object or a string");
  }
  return kh_filter_replace(value, json_integer((json_int_t)n), err);
}

/* The value as text, rewritten in place by edit (which returns the new length). */
static kf_rc kh_filter_text_map(json_t **value, size_t (*edit)(char *text, size_t len),
                                kf_err *err) {
  kf_buf text;
  kf_buf_init(&text, KH_TEXT_MAX);
  kf_rc rc = kh_text_of_value(*value, &text);
  if (rc != KF_OK) {
    kf_buf_release(&text);
    return kh_filter_text_error(rc, err);
  }
  size_t n = text.len > 0 ? edit(text.data, text.len) : 0;
  rc = kh_filter_replace(value, kh_text_json_string(text.data != NULL ? text.data : "", n), err);
  kf_buf_release(&text);
  return rc;
}

static size_t kh_edit_lower(char *text, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (text[i] >= 'A' && text[i] <= 'Z')
      text[i] = (char)(text[i] + 32);
  return len;
}

/*
 * Every run of ASCII white space (line breaks included) as one space, none at
 * the ends: a sentence a mail wraps across lines reads as written.
 */
static size_t kh_edit_words(char *text, size_t len) {
  size_t out = 0;
  bool blank = false;
  for (size_t i = 0; i < len; i++) {
    bool is_blank = strchr(" \t\r\n\f\v", text[i]) != NULL && text[i] != '\0';
    if (is_blank) {
      blank = out > 0;
      continue;
    }
    if (blank)
      text[out++] = ' ';
    blank = false;
    text[out++] = text[i];
  }
  return out;
}

/* The value as text with ASCII letters lower-cased. */
static kf_rc kh_f_lower(const char *arg, size_t len, const kh_regex *re, json_t **value,
                        kf_err *err) {
  (void)re;
  (void)arg;
  (void)len;
  return kh_filter_text_map(value, kh_edit_lower, err);
}

static kf_rc kh_f_words(const char *arg, size_t len, const kh_regex *re, json_t **value,
                        kf_err *err) {
  (void)re;
  (void)arg;
  (void)len;
  return kh_filter_text_map(value, kh_edit_words, err);
}

/* The first match (or its group 1) in the value as text; absent without a match. */
static kf_rc kh_f_regex(const char *arg, size_t len, const kh_regex *pre, json_t **value,
                        kf_err *err) {
  kh_regex *tmp = NULL;
  const regex_t *re = NULL;
  kf_rc rc = kh_regex_use(pre, arg, len, &tmp, &re, err);
  if (rc != KF_OK)
    return rc;
  kf_buf text;
  kf_buf_init(&text, KH_TEXT_MAX);
  rc = kh_text_of_value(*value, &text);
  size_t a, b;
  const char *s = text.data != NULL ? text.data : "";
  if (rc != KF_OK)
    rc = kh_filter_text_error(rc, err);
  else if (kh_text_regex_search(re, s, text.len, &a, &b))
    rc = kh_filter_replace(value, kh_text_json_string(s + a, b - a), err);
  else {
    json_decref(*value);
    *value = NULL;
  }
  kh_regex_free(tmp);
  kf_buf_release(&text);
  return rc;
}

/* The array's items whose text the regex matches. */
static kf_rc kh_grep_items(const regex_t *re, const json_t *in, json_t *res) {
  kf_buf one;
  kf_buf_init(&one, KH_TEXT_MAX);
  kf_rc rc = KF_OK;
  size_t i;
  json_t *el;
  json_array_foreach(in, i, el) {
    kf_buf_reset(&one);
    size_t a, b;
    if ((rc = kh_text_of_value(el, &one)) != KF_OK)
      break;
    if (kh_text_regex_search(re, one.data != NULL ? one.data : "", one.len, &a, &b) &&
        json_array_append_new(res, kh_text_json_string(one.data, one.len)) != 0) {
      rc = KF_ERR_NOMEM;
      break;
    }
  }
  kf_buf_release(&one);
  return rc;
}

/*
 * The matching lines of a text, so that `count` after grep counts lines (a
 * line's trailing CR is dropped, since mail text keeps CRLF).
 */
static kf_rc kh_grep_lines(const regex_t *re, kf_buf *text, json_t *res) {
  kf_rc rc = KF_OK;
  size_t start = 0;
  while (text->len > 0 && start <= text->len && rc == KF_OK) {
    const char *nl = memchr(text->data + start, '\n', text->len - start);
    size_t end = nl != NULL ? (size_t)(nl - text->data) : text->len;
    size_t line_end = end > start && text->data[end - 1] == '\r' ? end - 1 : end;
    char saved = text->data[line_end];
    text->data[line_end] = '\0';
    size_t a, b;
    if (kh_text_regex_search(re, text->data + start, line_end - start, &a, &b) &&
        json_array_append_new(res, kh_text_json_string(text->data + start, line_end - start)) != 0)
      rc = KF_ERR_NOMEM;
    text->data[line_end] = saved;
    if (nl == NULL)
      break;
    start = end + 1;
  }
  return rc;
}

/* The matching items of an array, or the matching lines of anything else. */
static kf_rc kh_f_grep(const char *arg, size_t len, const kh_regex *pre, json_t **value,
                       kf_err *err) {
  kh_regex *tmp = NULL;
  const regex_t *re = NULL;
  kf_rc rc = kh_regex_use(pre, arg, len, &tmp, &re, err);
  if (rc != KF_OK)
    return rc;
  json_t *res = json_array();
  kf_buf text;
  kf_buf_init(&text, KH_TEXT_MAX);
  if (res == NULL)
    rc = KF_ERR_NOMEM;
  else if (json_is_array(*value))
    rc = kh_grep_items(re, *value, res);
  else if ((rc = kh_text_of_value(*value, &text)) == KF_OK)
    rc = kh_grep_lines(re, &text, res);
  kh_regex_free(tmp);
  kf_buf_release(&text);
  if (rc != KF_OK) {
    json_decref(res);
    return kh_filter_text_error(rc, err);
  }
  return kh_filter_replace(value, res, err);
}

/*
 * The value as a point in time, Unix seconds: an RFC 5322 date (a mail's
 * Date, written in any zone, with or without the day name) or an ISO 8601
 * one. Text that is neither is absent, so a check on it fails.
 */
static kf_rc kh_f_instant(const char *arg, size_t len, const kh_regex *re, json_t **value,
                          kf_err *err) {
  (void)re;
  (void)arg;
  (void)len;
  kf_buf text;
  kf_buf_init(&text, 1024);
  kf_rc rc = kh_text_of_value(*value, &text);
  int64_t t = 0;
  bool ok =
      rc == KF_OK && text.data != NULL && strlen(text.data) == text.len &&
      (kf_time_parse_rfc5322(text.data, &t) == KF_OK || kf_time_parse_iso(text.data, &t) == KF_OK);
  kf_buf_release(&text);
  if (!ok) {
    json_decref(*value);
    *value = NULL;
    return KF_OK;
  }
  return kh_filter_replace(value, json_integer((json_int_t)t), err);
}

/* Name, argument, apply. */
#define KH_FILTER_TABLE(X)                                                                         \
  X("count", NULL, kh_f_count)                                                                     \
  X("lower", NULL, kh_f_lower)                                                                     \
  X("words", NULL, kh_f_words)                                                                     \
  X("regex", KH_TEXT_REGEX_ARG, kh_f_regex)                                                        \
  X("grep", KH_TEXT_REGEX_ARG, kh_f_grep)                                                          \
  X("instant", NULL, kh_f_instant)

static const kh_filter_def KH_FILTERS[] = {
#define KH_FILTER_ROW(name, arg, apply) {name, arg, apply},
    KH_FILTER_TABLE(KH_FILTER_ROW)
#undef KH_FILTER_ROW
};

static const char *const KH_FILTER_NAMES[] = {
#define KH_FILTER_NAME(name, arg, apply) name,
    KH_FILTER_TABLE(KH_FILTER_NAME)
#undef KH_FILTER_NAME
        NULL};

const kh_filter_def *kh_filter_find(const char *w, size_t wlen) {
  for (size_t k = 0; k < sizeof KH_FILTERS / sizeof KH_FILTERS[0]; k++) {
    if (kh_lex_word_is(w, wlen, KH_FILTERS[k].name))
      return &KH_FILTERS[k];
  }
  return NULL;
}

const char *const *kh_filter_names(void) {
  return KH_FILTER_NAMES;
}

kf_rc kh_filter_apply(const kh_filter *filter, const char *arg, size_t len, json_t **value,
                      kf_err *err) {
  assert(filter != NULL && filter->def != NULL && value != NULL);
  if (*value == NULL)
    return KF_OK; /* Absent stays absent through every filter. */
  return filter->def->apply(arg, len, filter->re, value, err);
}
