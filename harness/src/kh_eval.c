/*
 * kh_eval.c: queries, filters and predicates over JSON subjects.
 *
 * Everything here is a pure function of its arguments. Values travel as
 * jansson references; an absent value is NULL, which is different from a
 * JSON null (a present value). Strings may hold any bytes, NUL included, so
 * texts are handled with explicit lengths and regexes are matched segment
 * by segment between NUL bytes, which is what a C regex engine can see.
 */
#include "kh_eval.h"

#include <assert.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/str.h"
#include "kf/utf8.h"
#include "kf/uuid.h"

/* Texts built while evaluating (values as text, grep results) stay below this. */
#define KH_EVAL_TEXT_MAX (64u * 1024u * 1024u)
/* How much of a value an explanation shows. */
#define KH_EVAL_EXPLAIN_MAX 200

/* ---- Text helpers ------------------------------------------------------------- */

static int kh_dump_cb(const char *buffer, size_t size, void *data) {
  return kf_buf_append((kf_buf *)data, buffer, size) == KF_OK ? 0 : -1;
}

kf_rc kh_eval_to_text(const json_t *value, kf_buf *out) {
  assert(out != NULL);
  if (value == NULL)
    return KF_OK;
  if (json_is_string(value)) {
    size_t len = json_string_length(value);
    return len > 0 ? kf_buf_append(out, json_string_value(value), len) : KF_OK;
  }
  size_t before = out->len;
  if (json_dump_callback(value, kh_dump_cb, out, JSON_COMPACT | JSON_ENCODE_ANY) != 0) {
    /* Leave the buffer as it was; the callback failed on a cap or memory. */
    out->len = before;
    if (out->data != NULL)
      out->data[before] = '\0';
    return out->len + 64 > out->max ? KF_ERR_LIMIT : KF_ERR_NOMEM;
  }
  return KF_OK;
}

/* A new string value holding any bytes (jansson's checked variant insists on UTF-8). */
static json_t *kh_string(const char *s, size_t len) {
  return json_stringn_nocheck(s != NULL ? s : "", len);
}

static bool kh_find_bytes(const char *hay, size_t hlen, const char *needle, size_t nlen) {
  if (nlen == 0)
    return true;
  if (nlen > hlen)
    return false;
  for (size_t i = 0; i + nlen <= hlen; i++) {
    if (hay[i] == needle[0] && memcmp(hay + i, needle, nlen) == 0)
      return true;
  }
  return false;
}

/* ---- Regexes ---------------------------------------------------------------------- */

static kf_rc kh_regex_compile(regex_t *re, const char *pat, size_t len, kf_err *err) {
  if (memchr(pat, '\0', len) != NULL)
    return kf_err_set(err, KF_ERR_INVALID, "a regex cannot contain a NUL byte");
  int rc = regcomp(re, pat, REG_EXTENDED);
  if (rc != 0) {
    char msg[200];
    regerror(rc, re, msg, sizeof msg);
    return kf_err_set(err, KF_ERR_INVALID, "bad regex \"%.100s\": %s", pat, msg);
  }
  return KF_OK;
}

/*
 * Search s (len bytes, s[len] must be NUL) for re. On a match *start and
 * *end give the span of group 1 if the regex has one that took part, else
 * of the whole match.
 */
static bool kh_regex_search(const regex_t *re, const char *s, size_t len, size_t *start,
                            size_t *end) {
  assert(s[len] == '\0');
  regmatch_t m[2];
  size_t off = 0;
  for (;;) {
    if (regexec(re, s + off, 2, m, 0) == 0) {
      int g = re->re_nsub >= 1 && m[1].rm_so >= 0 ? 1 : 0;
      *start = off + (size_t)m[g].rm_so;
      *end = off + (size_t)m[g].rm_eo;
      return true;
    }
    /* The engine stopped at a NUL: go on with the next segment. */
    size_t seg = strlen(s + off);
    if (off + seg >= len)
      return false;
    off += seg + 1;
  }
}

/* ---- JSON paths ----------------------------------------------------------------- */

kf_rc kh_json_path(const json_t *root, const char *path, json_t **out, kf_err *err) {
  assert(path != NULL && out != NULL);
  *out = NULL;
  if (path[0] != '$')
    return kf_err_set(err, KF_ERR_INVALID, "JSON path \"%.100s\" must start with '$'", path);
  const json_t *cur = root;
  const char *p = path + 1;
  char key[1024];
  while (*p != '\0') {
    if (*p == '.') {
      p++;
      size_t n = 0;
      while (p[n] != '\0' && p[n] != '.' && p[n] != '[')
        n++;
      if (n == 0 || n >= sizeof key)
        return kf_err_set(err, KF_ERR_INVALID, "JSON path \"%.100s\": expected a key after '.'",
                          path);
      memcpy(key, p, n);
      key[n] = '\0';
      p += n;
      cur = json_is_object(cur) ? json_object_get(cur, key) : NULL;
    } else if (*p == '[' && p[1] == '"') {
      p += 2;
      size_t n = 0;
      while (*p != '\0' && *p != '"') {
        if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
          p++;
        if (n + 1 >= sizeof key)
          return kf_err_set(err, KF_ERR_INVALID, "JSON path key too long");
        key[n++] = *p++;
      }
      key[n] = '\0';
      if (p[0] != '"' || p[1] != ']')
        return kf_err_set(err, KF_ERR_INVALID,
                          "JSON path \"%.100s\": expected '\"]' after a quoted key", path);
      p += 2;
      cur = json_is_object(cur) ? json_object_get(cur, key) : NULL;
    } else if (*p == '[') {
      p++;
      bool neg = *p == '-';
      if (neg)
        p++;
      size_t idx = 0;
      size_t digits = 0;
      while (*p >= '0' && *p <= '9') {
        if (idx > 100000000)
          return kf_err_set(err, KF_ERR_INVALID, "JSON path index too large");
        idx = idx * 10 + (size_t)(*p - '0');
        p++;
        digits++;
      }
      if (digits == 0 || *p != ']')
        return kf_err_set(err, KF_ERR_INVALID,
                          "JSON path \"%.100s\": expected [N], [-N] or [\"key\"]", path);
      p++;
      if (!json_is_array(cur)) {
        cur = NULL;
      } else {
        size_t size = json_array_size(cur);
        if (neg)
          cur = idx >= 1 && idx <= size ? json_array_get(cur, size - idx) : NULL;
        else
          cur = idx < size ? json_array_get(cur, idx) : NULL;
      }
    } else {
      return kf_err_set(err, KF_ERR_INVALID, "JSON path \"%.100s\": unexpected '%c'", path, *p);
    }
  }
  *out = (json_t *)cur;
  return KF_OK;
}

/* ---- Queries ------------------------------------------------------------------------- */

static kf_rc kh_subject(const kh_subjects *subjects, char which, json_t **out, kf_err *err) {
  json_t *s = NULL;
  if (subjects != NULL)
    s = which == 'r' ? subjects->response : which == 'm' ? subjects->mail : subjects->letter;
  if (s == NULL) {
    if (which == 'r')
      return kf_err_set(err, KF_ERR_STATE, "no response yet: send a request first");
    if (which == 'm')
      return kf_err_set(err, KF_ERR_STATE, "no mail yet: use 'wait mail' first");
    return kf_err_set(err, KF_ERR_STATE, "no letter yet: use 'wait letter' first");
  }
  *out = s;
  return KF_OK;
}

/* headers[lower(name)] of an object with lower-case header names. */
static json_t *kh_header_get(json_t *obj, const char *name) {
  json_t *headers = json_object_get(obj, "headers");
  if (!json_is_object(headers))
    return NULL;
  char key[256];
  size_t n = strlen(name);
  if (n >= sizeof key)
    return NULL;
  for (size_t i = 0; i <= n; i++)
    key[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] + 32) : name[i];
  json_t *v = json_object_get(headers, key);
  if (v == NULL) {
    /* Tolerate a subject whose names were not lower-cased. */
    const char *k;
    json_t *val;
    json_object_foreach(headers, k, val) {
      if (strlen(k) == n) {
        bool same = true;
        for (size_t i = 0; i < n && same; i++) {
          char a = k[i], b = key[i];
          if (a >= 'A' && a <= 'Z')
            a = (char)(a + 32);
          same = a == b;
        }
        if (same)
          return val;
      }
    }
  }
  return v;
}

static kf_rc kh_query_base(const kh_query *q, const kh_subjects *subjects, const kh_vars *vars,
                           const char *arg, size_t arg_len, json_t **out, kf_err *err) {
  json_t *s = NULL;
  json_t *v = NULL;
  kf_rc rc;
  char which = 'r';
  switch (q->kind) {
  case KH_Q_MAIL_FROM:
  case KH_Q_MAIL_TO:
  case KH_Q_MAIL_SUBJECT:
  case KH_Q_MAIL_DATE:
  case KH_Q_MAIL_TEXT:
  case KH_Q_MAIL_HTML:
  case KH_Q_MAIL_RAW:
  case KH_Q_MAIL_HEADER:
  case KH_Q_MAIL_LINKS:
  case KH_Q_MAIL_LINK:
  case KH_Q_MAIL_JSON:
    which = 'm';
    break;
  case KH_Q_LETTER_KIND:
  case KH_Q_LETTER_TEXT:
  case KH_Q_LETTER_DATE:
  case KH_Q_LETTER_FIELD:
  case KH_Q_LETTER_JSON:
    which = 'l';
    break;
  case KH_Q_VAR: {
    size_t len = 0;
    const char *val = kh_vars_get(vars, arg, &len);
    if (val == NULL)
      return kf_err_set(err, KF_ERR_NOT_FOUND, "unknown variable '%.100s'", arg);
    *out = kh_string(val, len);
    return *out != NULL ? KF_OK : kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  }
  default:
    break;
  }
  if ((rc = kh_subject(subjects, which, &s, err)) != KF_OK)
    return rc;
  switch (q->kind) {
  case KH_Q_STATUS:
    v = json_object_get(s, "status");
    break;
  case KH_Q_HEADER:
    v = kh_header_get(s, arg);
    break;
  case KH_Q_BODY:
    v = json_object_get(s, "body");
    break;
  case KH_Q_JSON:
    if ((rc = kh_json_path(json_object_get(s, "json"), arg, &v, err)) != KF_OK)
      return rc;
    break;
  case KH_Q_DURATION:
    v = json_object_get(s, "duration_ms");
    break;
  case KH_Q_MAIL_FROM:
    v = json_object_get(s, "from");
    break;
  case KH_Q_MAIL_TO:
    v = json_object_get(s, "to");
    break;
  case KH_Q_MAIL_SUBJECT:
    v = json_object_get(s, "subject");
    break;
  case KH_Q_MAIL_DATE:
    v = json_object_get(s, "date");
    break;
  case KH_Q_MAIL_TEXT:
    v = json_object_get(s, "text");
    break;
  case KH_Q_MAIL_HTML:
    v = json_object_get(s, "html");
    break;
  case KH_Q_MAIL_RAW:
    v = json_object_get(s, "raw");
    break;
  case KH_Q_MAIL_HEADER:
    v = kh_header_get(s, arg);
    break;
  case KH_Q_MAIL_LINKS:
    v = json_object_get(s, "links");
    break;
  case KH_Q_MAIL_LINK: {
    json_t *links = json_object_get(s, "links");
    regex_t re;
    if ((rc = kh_regex_compile(&re, arg, arg_len, err)) != KF_OK)
      return rc;
    size_t i;
    json_t *link;
    json_array_foreach(links, i, link) {
      size_t a, b;
      if (json_is_string(link) &&
          kh_regex_search(&re, json_string_value(link), json_string_length(link), &a, &b)) {
        v = link;
        break;
      }
    }
    regfree(&re);
    break;
  }
  case KH_Q_MAIL_JSON:
  case KH_Q_LETTER_JSON:
    if ((rc = kh_json_path(s, arg, &v, err)) != KF_OK)
      return rc;
    break;
  case KH_Q_LETTER_KIND:
    v = json_object_get(s, "kind");
    break;
  case KH_Q_LETTER_TEXT:
    v = json_object_get(s, "text");
    break;
  case KH_Q_LETTER_DATE:
    v = json_object_get(s, "date");
    break;
  case KH_Q_LETTER_FIELD:
    v = json_object_get(json_object_get(s, "fields"), arg);
    break;
  case KH_Q_VAR:
    break;
  }
  *out = json_incref(v);
  return KF_OK;
}

/* Apply one filter: consumes *value (a new reference) and replaces it. */
static kf_rc kh_apply_filter(const kh_filter *f, const char *arg, size_t arg_len, json_t **value,
                             kf_err *err) {
  json_t *in = *value;
  if (in == NULL)
    return KF_OK; /* Absent stays absent through every filter. */
  json_t *res = NULL;
  kf_rc rc = KF_OK;
  kf_buf text;
  kf_buf_init(&text, KH_EVAL_TEXT_MAX);
  if (f->kind == KH_F_COUNT) {
    size_t n;
    if (json_is_array(in))
      n = json_array_size(in);
    else if (json_is_object(in))
      n = json_object_size(in);
    else if (json_is_string(in)) {
      n = kf_utf8_count(json_string_value(in), json_string_length(in));
      if (n == (size_t)-1)
        n = json_string_length(in);
    } else {
      rc = kf_err_set(err, KF_ERR_INVALID, "'count' needs an array, an object or a string");
      goto out;
    }
    res = json_integer((json_int_t)n);
  } else if (f->kind == KH_F_LOWER) {
    if ((rc = kh_eval_to_text(in, &text)) != KF_OK)
      goto out_nomem;
    for (size_t i = 0; i < text.len; i++)
      if (text.data[i] >= 'A' && text.data[i] <= 'Z')
        text.data[i] = (char)(text.data[i] + 32);
    res = kh_string(text.data, text.len);
  } else {
    regex_t re;
    if ((rc = kh_regex_compile(&re, arg, arg_len, err)) != KF_OK)
      goto out;
    if (f->kind == KH_F_REGEX) {
      size_t a, b;
      if ((rc = kh_eval_to_text(in, &text)) == KF_OK) {
        const char *s = text.data != NULL ? text.data : "";
        if (kh_regex_search(&re, s, text.len, &a, &b)) {
          res = kh_string(s + a, b - a);
          if (res == NULL)
            rc = KF_ERR_NOMEM;
        } else {
          json_decref(in);
          *value = NULL; /* No match: absent. */
          regfree(&re);
          kf_buf_release(&text);
          return KF_OK;
        }
      }
    } else if (json_is_array(in)) {
      res = json_array();
      size_t i;
      json_t *el;
      kf_buf one;
      kf_buf_init(&one, KH_EVAL_TEXT_MAX);
      json_array_foreach(in, i, el) {
        if (res == NULL)
          break;
        kf_buf_reset(&one);
        size_t a, b;
        if ((rc = kh_eval_to_text(el, &one)) != KF_OK)
          break;
        if (kh_regex_search(&re, one.data != NULL ? one.data : "", one.len, &a, &b) &&
            json_array_append_new(res, kh_string(one.data, one.len)) != 0) {
          rc = KF_ERR_NOMEM;
          break;
        }
      }
      kf_buf_release(&one);
    } else {
      /*
       * grep over a text: the matching lines as an array, so that `count`
       * after it counts lines (a line's trailing CR is dropped, since mail
       * text keeps CRLF).
       */
      res = json_array();
      if (res != NULL && (rc = kh_eval_to_text(in, &text)) == KF_OK && text.len > 0) {
        size_t start = 0;
        while (start <= text.len && rc == KF_OK) {
          const char *nl = memchr(text.data + start, '\n', text.len - start);
          size_t end = nl != NULL ? (size_t)(nl - text.data) : text.len;
          size_t line_end = end > start && text.data[end - 1] == '\r' ? end - 1 : end;
          char saved = text.data[line_end];
          text.data[line_end] = '\0';
          size_t a, b;
          if (kh_regex_search(&re, text.data + start, line_end - start, &a, &b) &&
              json_array_append_new(res, kh_string(text.data + start, line_end - start)) != 0)
            rc = KF_ERR_NOMEM;
          text.data[line_end] = saved;
          if (nl == NULL)
            break;
          start = end + 1;
        }
      }
    }
    regfree(&re);
    if (rc != KF_OK)
      goto out_nomem;
  }
  if (res == NULL) {
    rc = kf_err_set(err, KF_ERR_NOMEM, "out of memory");
    goto out;
  }
  json_decref(in);
  *value = res;
  kf_buf_release(&text);
  return KF_OK;
out_nomem:
  json_decref(res);
  res = NULL;
  rc = kf_err_set(err, rc, "cannot apply filter: %s", kf_rc_name(rc));
out:
  json_decref(res);
  kf_buf_release(&text);
  return rc;
}

kf_rc kh_eval_query(const kh_query *query, const kh_subjects *subjects, const kh_vars *vars,
                    json_t **out, kf_err *err) {
  assert(query != NULL && out != NULL);
  *out = NULL;
  kf_buf arg;
  kf_buf_init(&arg, KH_VAR_MAX_BYTES);
  kf_rc rc = kh_vars_expand(vars, &query->arg, &arg, err);
  json_t *value = NULL;
  if (rc == KF_OK) {
    rc = kh_query_base(query, subjects, vars, arg.data != NULL ? arg.data : "", arg.len, &value,
                       err);
  }
  for (size_t i = 0; rc == KF_OK && i < query->filters_len; i++) {
    kf_buf_reset(&arg);
    if ((rc = kh_vars_expand(vars, &query->filters[i].arg, &arg, err)) != KF_OK)
      break;
    rc =
        kh_apply_filter(&query->filters[i], arg.data != NULL ? arg.data : "", arg.len, &value, err);
  }
  kf_buf_release(&arg);
  if (rc != KF_OK) {
    json_decref(value);
    return rc;
  }
  *out = value;
  return KF_OK;
}

/* ---- Predicates --------------------------------------------------------------------- */

/* "got 400", "got \"abc\"", "value absent" into explain (truncated). */
static kf_rc kh_describe(const json_t *v, const char *suffix, kf_buf *explain) {
  if (explain == NULL)
    return KF_OK;
  if (v == NULL)
    return kf_buf_append_str(explain, "value absent");
  kf_rc rc = kf_buf_append_str(explain, "got ");
  kf_buf text;
  kf_buf_init(&text, KH_EVAL_TEXT_MAX);
  if (rc == KF_OK)
    rc = kh_eval_to_text(v, &text);
  if (rc == KF_OK && json_is_string(v)) {
    rc = kf_buf_append_byte(explain, '"');
    for (size_t i = 0; i < text.len && i < KH_EVAL_EXPLAIN_MAX && rc == KF_OK; i++) {
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
      rc = kf_buf_append_str(explain, text.len > KH_EVAL_EXPLAIN_MAX ? "\"..." : "\"");
  } else if (rc == KF_OK) {
    size_t n = text.len > KH_EVAL_EXPLAIN_MAX ? KH_EVAL_EXPLAIN_MAX : text.len;
    rc = kf_buf_append(explain, text.data != NULL ? text.data : "", n);
    if (rc == KF_OK && n < text.len)
      rc = kf_buf_append_str(explain, "...");
  }
  if (rc == KF_OK && suffix != NULL)
    rc = kf_buf_append_str(explain, suffix);
  kf_buf_release(&text);
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

static kf_rc kh_contains(const json_t *v, const char *s, size_t slen, bool *found) {
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
        kf_buf_init(&t, KH_EVAL_TEXT_MAX);
        kf_rc rc = kh_eval_to_text(el, &t);
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
  kf_buf_init(&t, KH_EVAL_TEXT_MAX);
  kf_rc rc = kh_eval_to_text(v, &t);
  if (rc == KF_OK)
    *found = kh_find_bytes(t.data != NULL ? t.data : "", t.len, s, slen);
  kf_buf_release(&t);
  return rc;
}

kf_rc kh_eval_predicate(const kh_predicate *pred, const json_t *value, const kh_vars *vars,
                        bool *holds, kf_buf *explain, kf_err *err) {
  assert(pred != NULL && holds != NULL);
  *holds = false;
  kf_buf operand;
  kf_buf_init(&operand, KH_VAR_MAX_BYTES);
  kf_buf text;
  kf_buf_init(&text, KH_EVAL_TEXT_MAX);
  kf_rc rc = KF_OK;
  const char *suffix = NULL;
  char mismatch_note[64];
  if (pred->operand.kind == KH_LIT_STRING &&
      (rc = kh_vars_expand(vars, &pred->operand.str, &operand, err)) != KF_OK)
    goto out;
  const char *s = operand.data != NULL ? operand.data : "";
  size_t slen = operand.len;
  if (value == NULL) {
    *holds = pred->kind == KH_P_NOT_EXISTS;
    goto describe;
  }
  switch (pred->kind) {
  case KH_P_EQ:
  case KH_P_NE: {
    bool mismatch;
    bool eq = kh_equal(value, &pred->operand, s, slen, &mismatch);
    if (mismatch) {
      snprintf(mismatch_note, sizeof mismatch_note, " (type mismatch: %s vs %s)",
               kh_type_name(value), kh_lit_type_name(pred->operand.kind));
      suffix = mismatch_note;
      break;
    }
    *holds = pred->kind == KH_P_EQ ? eq : !eq;
    break;
  }
  case KH_P_LT:
  case KH_P_LE:
  case KH_P_GT:
  case KH_P_GE: {
    /* The operand is a number, or a string that must hold a whole decimal integer. */
    long long on = pred->operand.number;
    if (pred->operand.kind == KH_LIT_STRING && !kh_whole_int(s, slen, &on)) {
      snprintf(mismatch_note, sizeof mismatch_note, " (type mismatch: %s vs string)",
               kh_type_name(value));
      suffix = mismatch_note;
      break;
    }
    double d;
    long long ll;
    bool is_int;
    if (!kh_numeric(value, &d, &ll, &is_int)) {
      snprintf(mismatch_note, sizeof mismatch_note, " (type mismatch: %s vs number)",
               kh_type_name(value));
      suffix = mismatch_note;
      break;
    }
    /* Integers compare exactly; only a JSON real goes through double. */
    int cmp = is_int ? (ll < on ? -1 : ll > on) : (d < (double)on ? -1 : d > (double)on);
    *holds = pred->kind == KH_P_LT   ? cmp < 0
             : pred->kind == KH_P_LE ? cmp <= 0
             : pred->kind == KH_P_GT ? cmp > 0
                                     : cmp >= 0;
    break;
  }
  case KH_P_CONTAINS:
  case KH_P_NOT_CONTAINS: {
    bool found;
    if ((rc = kh_contains(value, s, slen, &found)) != KF_OK)
      goto nomem;
    *holds = pred->kind == KH_P_CONTAINS ? found : !found;
    break;
  }
  case KH_P_STARTSWITH:
    if ((rc = kh_eval_to_text(value, &text)) != KF_OK)
      goto nomem;
    *holds = text.len >= slen && (slen == 0 || memcmp(text.data, s, slen) == 0);
    break;
  case KH_P_MATCHES:
  case KH_P_NOT_MATCHES: {
    regex_t re;
    if ((rc = kh_regex_compile(&re, s, slen, err)) != KF_OK)
      goto out;
    if ((rc = kh_eval_to_text(value, &text)) != KF_OK) {
      regfree(&re);
      goto nomem;
    }
    size_t a, b;
    bool m = kh_regex_search(&re, text.data != NULL ? text.data : "", text.len, &a, &b);
    regfree(&re);
    *holds = pred->kind == KH_P_MATCHES ? m : !m;
    break;
  }
  case KH_P_EXISTS:
    *holds = true;
    break;
  case KH_P_NOT_EXISTS:
    *holds = false;
    break;
  case KH_P_IS_UUID:
    *holds = json_is_string(value) && json_string_length(value) == KF_UUID_STR_LEN &&
             strlen(json_string_value(value)) == KF_UUID_STR_LEN &&
             kf_uuid_is_canonical(json_string_value(value));
    if (!*holds)
      suffix = " (not a canonical UUID)";
    break;
  case KH_P_JSON_EQUALS: {
    json_error_t jerr;
    json_t *want = json_loadb(s, slen, JSON_DECODE_ANY, &jerr);
    if (want == NULL) {
      rc = kf_err_set(err, KF_ERR_INVALID, "json-equals operand is not JSON: %s", jerr.text);
      goto out;
    }
    json_t *got = NULL;
    if (json_is_string(value)) {
      got = json_loadb(json_string_value(value), json_string_length(value), JSON_DECODE_ANY, &jerr);
      if (got == NULL)
        suffix = " (not JSON)";
    } else {
      got = json_incref((json_t *)value);
    }
    *holds = got != NULL && json_equal(got, want);
    json_decref(got);
    json_decref(want);
    break;
  }
  }
describe:
  kf_buf_release(&text);
  rc = kh_describe(value, suffix, explain);
  if (rc != KF_OK)
    rc = kf_err_set(err, rc, "cannot explain the value: %s", kf_rc_name(rc));
  kf_buf_release(&operand);
  return rc;
nomem:
  rc = kf_err_set(err, rc, "cannot evaluate the predicate: %s", kf_rc_name(rc));
out:
  kf_buf_release(&text);
  kf_buf_release(&operand);
  return rc;
}
