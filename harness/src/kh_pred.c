/*
 * kh_pred.c: the predicate table and the decisions (see kh_pred.h).
 */
#include "kh_pred.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "kf/str.h"
#include "kf/uuid.h"
#include "kh_text.h"

/* How much of a value an explanation shows. */
#define KH_PRED_EXPLAIN_MAX 200

/* 400, "abc" (quoted, escaped), [1,2]: a present value as a message shows it, truncated. */
static kf_rc kh_show_value(const json_t *v, kf_buf *explain) {
  kf_buf text;
  kf_buf_init(&text, KH_TEXT_MAX);
  kf_rc rc = kh_text_of_value(v, &text);
  if (rc == KF_OK && json_is_string(v)) {
    rc = kf_buf_append_byte(explain, '"');
    for (size_t i = 0; i < text.len && i < KH_PRED_EXPLAIN_MAX && rc == KF_OK; i++) {
      unsigned char ch = (unsigned char)text.data[i];
      if (ch == '"' || ch == '\\')
        rc = kf_buf_appendf(explain, "\\%c", ch);
      else if (ch == '\n')
        rc = kf_buf_append_str(explain, "\\n");
      else if (ch < 0x20 || ch == 0x7F)
        rc = kf_buf_appendf(explain, "\\x%02X", ch);
      else
        rc = kf_buf_append_byte(explain, (char)ch);
    }
    if (rc == KF_OK)
      rc = kf_buf_append_str(explain, text.len > KH_PRED_EXPLAIN_MAX ? "\"..." : "\"");
  } else if (rc == KF_OK) {
    size_t n = text.len > KH_PRED_EXPLAIN_MAX ? KH_PRED_EXPLAIN_MAX : text.len;
    rc = kf_buf_append(explain, text.data != NULL ? text.data : "", n);
    if (rc == KF_OK && n < text.len)
      rc = kf_buf_append_str(explain, "...");
  }
  kf_buf_release(&text);
  return rc;
}

/* "got 400", "got \"abc\"", "value absent" into explain (truncated), then suffix. */
static kf_rc kh_describe(const json_t *v, const char *suffix, kf_buf *explain) {
  if (explain == NULL)
    return KF_OK;
  if (v == NULL)
    return kf_buf_append_str(explain, "value absent");
  kf_rc rc = kf_buf_append_str(explain, "got ");
  if (rc == KF_OK)
    rc = kh_show_value(v, explain);
  if (rc == KF_OK && suffix != NULL)
    rc = kf_buf_append_str(explain, suffix);
  return rc;
}

/*
 * Whether s (len bytes) is a whole decimal integer: an optional '-' and
 * digits, nothing else (no blanks, no '+', no fraction), in range. Only such
 * strings compare with numbers, so "202" equals 202 but " 202" and "202.0"
 * are a type mismatch.
 */
static bool kh_whole_int(const char *s, size_t len, long long *out) {
  char tmp[32];
  size_t i = len > 0 && s[0] == '-' ? 1 : 0;
  if (len == i || len >= sizeof tmp)
    return false;
  for (size_t k = i; k < len; k++) {
    if (s[k] < '0' || s[k] > '9')
      return false;
  }
  memcpy(tmp, s, len);
  tmp[len] = '\0';
  return kf_str_to_llong(tmp, -9223372036854775807LL - 1, 9223372036854775807LL, out) == KF_OK;
}

/* A value as a number: a JSON number, or a string that is a whole decimal integer. */
static bool kh_numeric(const json_t *v, double *d, long long *ll, bool *is_int) {
  if (json_is_integer(v)) {
    *ll = json_integer_value(v);
    *d = (double)*ll;
    *is_int = true;
    return true;
  }
  if (json_is_real(v)) {
    *d = json_real_value(v);
    *is_int = false;
    return true;
  }
  if (json_is_string(v) && kh_whole_int(json_string_value(v), json_string_length(v), ll)) {
    *d = (double)*ll;
    *is_int = true;
    return true;
  }
  return false;
}

static const char *kh_type_name(const json_t *v) {
  if (json_is_number(v))
    return "number";
  if (json_is_string(v))
    return "string";
  if (json_is_boolean(v))
    return "boolean";
  if (json_is_null(v))
    return "null";
  return json_is_array(v) ? "array" : "object";
}

static const char *kh_lit_type_name(kh_literal_kind kind) {
  switch (kind) {
  case KH_LIT_NUMBER:
    return "number";
  case KH_LIT_STRING:
    return "string";
  case KH_LIT_BOOL:
    return "boolean";
  case KH_LIT_NULL:
    return "null";
  }
  return "value";
}

/* Whether a numeric value equals the integer n, comparing integers exactly. */
static bool kh_num_equal(double d, long long ll, bool is_int, long long n) {
  return is_int ? ll == n : d == (double)n;
}

/*
 * Equality of v and the operand (s, slen: the interpolated string operand).
 * *mismatch is set when the types cannot be compared: a number and a string
 * that is not a whole decimal integer, or any other mix of types. Then the
 * predicate fails for == and != alike, because "not equal" would otherwise
 * pass by accident (`expect status != "404"`). A null operand asks whether
 * the value is JSON null, so it never mismatches.
 */
static bool kh_equal(const json_t *v, const kh_literal *lit, const char *s, size_t slen,
                     bool *mismatch) {
  *mismatch = false;
  double d;
  long long ll, n;
  bool is_int;
  switch (lit->kind) {
  case KH_LIT_NULL:
    return json_is_null(v);
  case KH_LIT_NUMBER:
    if (json_is_number(v) || json_is_string(v)) {
      if (kh_numeric(v, &d, &ll, &is_int))
        return kh_num_equal(d, ll, is_int, lit->number);
    }
    break;
  case KH_LIT_STRING:
    if (json_is_string(v))
      return json_string_length(v) == slen && memcmp(json_string_value(v), s, slen) == 0;
    if (json_is_number(v) && kh_whole_int(s, slen, &n) && kh_numeric(v, &d, &ll, &is_int))
      return kh_num_equal(d, ll, is_int, n);
    break;
  case KH_LIT_BOOL:
    if (json_is_boolean(v))
      return json_is_true(v) == lit->boolean;
    break;
  }
  *mismatch = true;
  return false;
}

/* Characters (UTF-8 lead bytes) in the len bytes at s. */
static size_t kh_pred_chars(const char *s, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    n += ((unsigned char)s[i] & 0xC0u) != 0x80u;
  return n;
}

/* Move back (or on) by up to n characters from byte i, staying on a character boundary. */
static size_t kh_pred_step(const char *s, size_t len, size_t i, size_t n, bool back) {
  for (size_t k = 0; k < n && (back ? i > 0 : i < len); k++) {
    i = back ? i - 1 : i + 1;
    while ((back ? i > 0 : i < len) && ((unsigned char)s[i] & 0xC0u) == 0x80u)
      i = back ? i - 1 : i + 1;
  }
  return i;
}

/* 'found at character N: …"window"…' around the match at byte at of text. */
static kf_rc kh_pred_window(const char *text, size_t len, size_t at, size_t slen, kf_buf *out) {
  size_t from = kh_pred_step(text, len, at, 40, true);
  size_t to = kh_pred_step(text, len, at + slen, 40, false);
  json_t *w = kh_text_json_string(text + from, to - from);
  if (w == NULL)
    return KF_ERR_NOMEM;
  kf_rc rc = kf_buf_appendf(out, "found at character %zu: %s", kh_pred_chars(text, at) + 1,
                            from > 0 ? "…" : "");
  if (rc == KF_OK)
    rc = kh_show_value(w, out);
  if (rc == KF_OK && to < len)
    rc = kf_buf_append_str(out, "…");
  json_decref(w);
  return rc;
}

/* The first place of needle in hay, or (size_t)-1. */
static size_t kh_pred_index(const char *hay, size_t hlen, const char *needle, size_t nlen) {
  for (size_t i = 0; nlen <= hlen && i + nlen <= hlen; i++) {
    if (memcmp(hay + i, needle, nlen) == 0)
      return i;
  }
  return (size_t)-1;
}

static kf_rc kh_contains(const json_t *v, const char *s, size_t slen, bool *found, kf_buf *where) {
  *found = false;
  if (json_is_array(v)) {
    size_t i;
    json_t *el;
    json_array_foreach(v, i, el) {
      if (json_is_string(el)) {
        if (json_string_length(el) == slen && memcmp(json_string_value(el), s, slen) == 0)
          *found = true;
      } else {
        kf_buf t;
        kf_buf_init(&t, KH_TEXT_MAX);
        kf_rc rc = kh_text_of_value(el, &t);
        if (rc == KF_OK && t.len == slen && (slen == 0 || memcmp(t.data, s, slen) == 0))
          *found = true;
        kf_buf_release(&t);
        if (rc != KF_OK)
          return rc;
      }
      if (*found)
        break;
    }
    return KF_OK;
  }
  kf_buf t;
  kf_buf_init(&t, KH_TEXT_MAX);
  kf_rc rc = kh_text_of_value(v, &t);
  size_t at =
      rc == KF_OK ? kh_pred_index(t.data != NULL ? t.data : "", t.len, s, slen) : (size_t)-1;
  *found = at != (size_t)-1;
  if (*found && where != NULL && slen > 0)
    rc = kh_pred_window(t.data, t.len, at, slen, where);
  kf_buf_release(&t);
  return rc;
}

/* A mismatch note naming both types. */
static void kh_pred_mismatch(kh_pred_env *env, const char *want) {
  env->undecided = true;
  snprintf(env->note, sizeof env->note, " (type mismatch: %s vs %s)", kh_type_name(env->value),
           want);
}

static kf_rc kh_p_equal(kh_pred_env *env, kf_err *err) {
  (void)err;
  bool mismatch = false;
  env->holds = kh_equal(env->value, env->operand, env->s, env->slen, &mismatch);
  if (mismatch)
    kh_pred_mismatch(env, kh_lit_type_name(env->operand->kind));
  return KF_OK;
}

/* mode: -2 <, -1 <=, 1 >=, 2 >. */
static kf_rc kh_p_order(kh_pred_env *env, kf_err *err) {
  (void)err;
  /* The operand is a number, or a string that must hold a whole decimal integer. */
  long long on = env->operand->number;
  if (env->operand->kind == KH_LIT_STRING && !kh_whole_int(env->s, env->slen, &on)) {
    kh_pred_mismatch(env, "string");
    return KF_OK;
  }
  double d;
  long long ll;
  bool is_int;
  if (!kh_numeric(env->value, &d, &ll, &is_int)) {
    kh_pred_mismatch(env, "number");
    return KF_OK;
  }
  /* Integers compare exactly; only a JSON real goes through double. */
  int cmp = is_int ? (ll < on ? -1 : ll > on) : (d < (double)on ? -1 : d > (double)on);
  switch (env->mode) {
  case -2:
    env->holds = cmp < 0;
    break;
  case -1:
    env->holds = cmp <= 0;
    break;
  case 1:
    env->holds = cmp >= 0;
    break;
  default:
    env->holds = cmp > 0;
    break;
  }
  return KF_OK;
}

static kf_rc kh_p_contains(kh_pred_env *env, kf_err *err) {
  kf_rc rc = kh_contains(env->value, env->s, env->slen, &env->holds, env->found);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "cannot evaluate the predicate: %s", kf_rc_name(rc));
  return KF_OK;
}

static kf_rc kh_p_startswith(kh_pred_env *env, kf_err *err) {
  kf_buf text;
  kf_buf_init(&text, KH_TEXT_MAX);
  kf_rc rc = kh_text_of_value(env->value, &text);
  if (rc == KF_OK)
    env->holds =
        text.len >= env->slen && (env->slen == 0 || memcmp(text.data, env->s, env->slen) == 0);
  kf_buf_release(&text);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "cannot evaluate the predicate: %s", kf_rc_name(rc));
  return KF_OK;
}

static kf_rc kh_p_matches(kh_pred_env *env, kf_err *err) {
  kh_regex *tmp = NULL;
  const regex_t *re = NULL;
  kf_rc rc = kh_regex_use(env->re, env->s, env->slen, &tmp, &re, err);
  if (rc != KF_OK)
    return rc;
  kf_buf text;
  kf_buf_init(&text, KH_TEXT_MAX);
  rc = kh_text_of_value(env->value, &text);
  size_t a, b;
  if (rc == KF_OK)
    env->holds = kh_text_regex_search(re, text.data != NULL ? text.data : "", text.len, &a, &b);
  kh_regex_free(tmp);
  kf_buf_release(&text);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "cannot evaluate the predicate: %s", kf_rc_name(rc));
  return KF_OK;
}

static kf_rc kh_p_exists(kh_pred_env *env, kf_err *err) {
  (void)err;
  env->holds = true;
  return KF_OK;
}

static kf_rc kh_p_is_uuid(kh_pred_env *env, kf_err *err) {
  (void)err;
  const json_t *v = env->value;
  env->holds = json_is_string(v) && json_string_length(v) == KF_UUID_STR_LEN &&
               strlen(json_string_value(v)) == KF_UUID_STR_LEN &&
               kf_uuid_is_canonical(json_string_value(v));
  if (!env->holds)
    snprintf(env->note, sizeof env->note, " (not a canonical UUID)");
  return KF_OK;
}

/* The value (a JSON text, or any other JSON value) equals the operand parsed as JSON. */
static kf_rc kh_p_json_equals(kh_pred_env *env, kf_err *err) {
  json_error_t jerr;
  json_t *want = json_loadb(env->s, env->slen, JSON_DECODE_ANY, &jerr);
  if (want == NULL)
    return kf_err_set(err, KF_ERR_INVALID, "json-equals operand is not JSON: %s", jerr.text);
  json_t *got = NULL;
  if (json_is_string(env->value)) {
    got = json_loadb(json_string_value(env->value), json_string_length(env->value), JSON_DECODE_ANY,
                     &jerr);
    if (got == NULL)
      snprintf(env->note, sizeof env->note, " (not JSON)");
  } else {
    got = json_incref((json_t *)env->value);
  }
  env->holds = got != NULL && json_equal(got, want);
  json_decref(got);
  json_decref(want);
  return KF_OK;
}

/* Text, operand, decide, negate, mode. */
#define KH_PRED_TABLE(X)                                                                           \
  X("==", ANY, kh_p_equal, false, 0)                                                               \
  X("!=", ANY, kh_p_equal, true, 0)                                                                \
  X("<", NUMBER, kh_p_order, false, -2)                                                            \
  X("<=", NUMBER, kh_p_order, false, -1)                                                           \
  X(">", NUMBER, kh_p_order, false, 2)                                                             \
  X(">=", NUMBER, kh_p_order, false, 1)                                                            \
  X("contains", STRING, kh_p_contains, false, 0)                                                   \
  X("not contains", STRING, kh_p_contains, true, 0)                                                \
  X("startswith", STRING, kh_p_startswith, false, 0)                                               \
  X("matches", REGEX, kh_p_matches, false, 0)                                                      \
  X("not matches", REGEX, kh_p_matches, true, 0)                                                   \
  X("exists", NO_OPERAND, kh_p_exists, false, 0)                                                   \
  X("not exists", NO_OPERAND, kh_p_exists, true, 0)                                                \
  X("is-uuid", NO_OPERAND, kh_p_is_uuid, false, 0)                                                 \
  X("json-equals", STRING, kh_p_json_equals, false, 0)

static const kh_pred_def KH_PREDS[] = {
#define KH_PRED_ROW(text, operand, decide, negate, mode)                                           \
  {text, KH_PRED_##operand, decide, negate, mode},
    KH_PRED_TABLE(KH_PRED_ROW)
#undef KH_PRED_ROW
};

static const char *const KH_PRED_NAMES[] = {
#define KH_PRED_NAME(text, operand, decide, negate, mode) text,
    KH_PRED_TABLE(KH_PRED_NAME)
#undef KH_PRED_NAME
        NULL};

const kh_pred_def *kh_pred_find(const char *text, size_t len) {
  for (size_t k = 0; k < sizeof KH_PREDS / sizeof KH_PREDS[0]; k++) {
    if (strlen(KH_PREDS[k].text) == len && memcmp(KH_PREDS[k].text, text, len) == 0)
      return &KH_PREDS[k];
  }
  return NULL;
}

const char *const *kh_pred_names(void) {
  return KH_PRED_NAMES;
}

kf_rc kh_pred_eval(const kh_predicate *pred, const json_t *value, const kh_vars *vars, bool *holds,
                   kf_buf *explain, kf_err *err) {
  assert(pred != NULL && pred->def != NULL && holds != NULL);
  *holds = false;
  kf_buf operand;
  kf_buf_init(&operand, KH_VAR_MAX_BYTES);
  kf_rc rc = KF_OK;
  if (pred->operand.kind == KH_LIT_STRING &&
      (rc = kh_vars_expand(vars, &pred->operand.str, &operand, err)) != KF_OK) {
    kf_buf_release(&operand);
    return rc;
  }
  kf_buf found;
  kf_buf_init(&found, KH_PRED_EXPLAIN_MAX * 8);
  kh_pred_env env = {.value = value,
                     .operand = &pred->operand,
                     .s = operand.data != NULL ? operand.data : "",
                     .slen = operand.len,
                     .mode = pred->def->mode,
                     .found = &found,
                     .re = pred->re};
  if (value == NULL) {
    /* Only `not exists` holds for an absent value. */
    *holds = pred->def->decide == kh_p_exists && pred->def->negate;
  } else if ((rc = pred->def->decide(&env, err)) == KF_OK) {
    *holds = !env.undecided && (pred->def->negate ? !env.holds : env.holds);
  }
  kf_buf_release(&operand);
  if (rc != KF_OK) {
    kf_buf_release(&found);
    return rc;
  }
  /* Where a text holds what it must not, the place says more than its start. */
  if (found.len > 0 && explain != NULL)
    rc = kf_buf_append(explain, found.data, found.len);
  else
    rc = kh_describe(value, env.note[0] != '\0' ? env.note : NULL, explain);
  kf_buf_release(&found);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "cannot explain the value: %s", kf_rc_name(rc));
  return KF_OK;
}

kf_rc kh_pred_operand_text(const kh_predicate *pred, const kh_vars *vars, kf_buf *out,
                           kf_err *err) {
  const kh_literal *lit = &pred->operand;
  if (pred->def == NULL || pred->def->operand == KH_PRED_NO_OPERAND)
    return KF_OK;
  if (lit->kind != KH_LIT_STRING)
    return kh_vars_literal(vars, lit, out, err);
  /* A string operand is shown quoted, as the explanation shows string values. */
  kf_buf s;
  kf_buf_init(&s, KH_VAR_MAX_BYTES);
  kf_rc rc = kh_vars_expand(vars, &lit->str, &s, err);
  json_t *v = rc == KF_OK ? kh_text_json_string(s.data, s.len) : NULL;
  if (rc == KF_OK)
    rc = v != NULL ? kh_show_value(v, out) : KF_ERR_NOMEM;
  json_decref(v);
  kf_buf_release(&s);
  if (rc != KF_OK && rc != KF_ERR_NOT_FOUND)
    return kf_err_set(err, rc, "cannot show the operand: %s", kf_rc_name(rc));
  return rc;
}
