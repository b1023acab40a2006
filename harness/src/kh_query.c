/*
 * kh_query.c: the query table and query evaluation (see kh_query.h).
 */
#include "kh_query.h"

#include <assert.h>
#include <string.h>

#include "kf/str.h"
#include "kh_filter.h"
#include "kh_jsonpath.h"
#include "kh_lex.h"
#include "kh_text.h"

/* doc[key] of the subject, or the part a loader provides. */
static kf_rc kh_q_key(const kh_query_env *env, const char *arg, size_t len, json_t **out,
                      kf_err *err) {
  (void)arg;
  (void)len;
  json_t *v = NULL;
  kf_rc rc = kh_subject_part(env->subject, env->key, &v, err);
  *out = json_incref(v);
  return rc;
}

/* A JSON path into doc[key], or into the whole document when key is NULL. */
static kf_rc kh_q_path(const kh_query_env *env, const char *arg, size_t len, json_t **out,
                       kf_err *err) {
  (void)len;
  json_t *root = env->subject->doc;
  kf_rc rc = env->key != NULL ? kh_subject_part(env->subject, env->key, &root, err) : KF_OK;
  json_t *v = NULL;
  if (rc == KF_OK)
    rc = kh_jsonpath_get(root, arg, &v, err);
  *out = json_incref(v);
  return rc;
}

/* A header by name in the part "headers", whose names are lower-case (tolerating others). */
static kf_rc kh_q_header(const kh_query_env *env, const char *arg, size_t len, json_t **out,
                         kf_err *err) {
  *out = NULL;
  json_t *headers = NULL;
  kf_rc rc = kh_subject_part(env->subject, "headers", &headers, err);
  if (rc != KF_OK || !json_is_object(headers) || len >= 256)
    return rc;
  const char *k;
  json_t *val;
  json_object_foreach(headers, k, val) {
    if (strlen(k) != len)
      continue;
    bool same = true;
    for (size_t i = 0; i < len && same; i++) {
      char a = k[i], b = arg[i];
      same = (a >= 'A' && a <= 'Z' ? (char)(a + 32) : a) ==
             (b >= 'A' && b <= 'Z' ? (char)(b + 32) : b);
    }
    if (same) {
      *out = json_incref(val);
      return KF_OK;
    }
  }
  return KF_OK;
}

/* The value of the first header named arg in doc[key], a list of {name, value}: as sent, unfolded.
 */
static kf_rc kh_q_header_raw(const kh_query_env *env, const char *arg, size_t len, json_t **out,
                             kf_err *err) {
  (void)err;
  (void)len;
  *out = NULL;
  size_t i;
  json_t *h;
  json_array_foreach(json_object_get(env->subject->doc, env->key), i, h) {
    const char *name = json_string_value(json_object_get(h, "name"));
    if (name != NULL && kf_str_eq_ci(name, arg)) {
      *out = json_incref(json_object_get(h, "value"));
      break;
    }
  }
  return KF_OK;
}

/* The first of doc[key] (an array of strings) that the regex arg matches. */
static kf_rc kh_q_first_match(const kh_query_env *env, const char *arg, size_t len, json_t **out,
                              kf_err *err) {
  *out = NULL;
  kh_regex *tmp = NULL;
  const regex_t *re = NULL;
  kf_rc rc = kh_regex_use(env->re, arg, len, &tmp, &re, err);
  if (rc != KF_OK)
    return rc;
  size_t i;
  json_t *item;
  json_array_foreach(json_object_get(env->subject->doc, env->key), i, item) {
    size_t a, b;
    if (json_is_string(item) &&
        kh_text_regex_search(re, json_string_value(item), json_string_length(item), &a, &b)) {
      *out = json_incref(item);
      break;
    }
  }
  kh_regex_free(tmp);
  return KF_OK;
}

/* doc[key][arg]: a named field of an object member. */
static kf_rc kh_q_member(const kh_query_env *env, const char *arg, size_t len, json_t **out,
                         kf_err *err) {
  (void)len;
  (void)err;
  *out = json_incref(json_object_get(json_object_get(env->subject->doc, env->key), arg));
  return KF_OK;
}

/* The href of the first link whose visible text is arg. */
static kf_rc kh_q_link_by_text(const kh_query_env *env, const char *arg, size_t len, json_t **out,
                               kf_err *err) {
  *out = NULL;
  json_t *links = NULL;
  kf_rc rc = kh_subject_part(env->subject, env->key, &links, err);
  size_t i;
  json_t *link;
  json_array_foreach(links, i, link) {
    const json_t *text = json_object_get(link, "text");
    if (json_is_string(text) && json_string_length(text) == len &&
        memcmp(json_string_value(text), arg, len) == 0) {
      /* The link resolved against the page; the href as written where it cannot be. */
      json_t *url = json_object_get(link, "url");
      *out = json_incref(url != NULL ? url : json_object_get(link, "href"));
      break;
    }
  }
  return rc;
}

/*
 * The response headers that the contract fixes: every header but Date and
 * X-Request-Id, which the contract lets differ per answer (docs/openapi.yaml,
 * x-konform-decisions), and the hop-by-hop ones, which belong to the
 * connection, not to the answer. For comparing whole answers.
 */
static kf_rc kh_q_headers(const kh_query_env *env, const char *arg, size_t len, json_t **out,
                          kf_err *err) {
  (void)arg;
  (void)len;
  static const char *const skip[] = {
      "date", "x-request-id", "connection", "keep-alive",       "transfer-encoding",
      "te",   "trailer",      "upgrade",    "proxy-connection", NULL};
  json_t *headers = NULL;
  kf_rc rc = kh_subject_part(env->subject, "headers", &headers, err);
  if (rc != KF_OK)
    return rc;
  *out = json_object();
  if (*out == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  const char *k;
  json_t *v;
  json_object_foreach(headers, k, v) {
    bool per_answer = false;
    for (size_t i = 0; skip[i] != NULL && !per_answer; i++)
      per_answer = kf_str_eq_ci(k, skip[i]);
    if (!per_answer && json_object_set(*out, k, v) != 0) {
      json_decref(*out);
      *out = NULL;
      return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
    }
  }
  return KF_OK;
}

/* A variable's value as a string. */
static kf_rc kh_q_var(const kh_query_env *env, const char *arg, size_t len, json_t **out,
                      kf_err *err) {
  (void)len;
  size_t vlen = 0;
  const char *val = kh_vars_get(env->vars, arg, &vlen);
  if (val == NULL)
    return kf_err_set(err, KF_ERR_NOT_FOUND, "unknown variable '%.100s'", arg);
  *out = kh_text_json_string(val, vlen);
  return *out != NULL ? KF_OK : kf_err_set(err, KF_ERR_NOMEM, "out of memory");
}

/* Name, subject, argument, eval, key. */
#define KH_QUERY_TABLE(X)                                                                          \
  X("status", RESPONSE, NULL, kh_q_key, "status")                                                  \
  X("header", RESPONSE, "a header name", kh_q_header, NULL)                                        \
  X("body", RESPONSE, NULL, kh_q_key, "body")                                                      \
  X("json", RESPONSE, "a JSON path such as \"$.a.b[0]\"", kh_q_path, "json")                       \
  X("duration", RESPONSE, NULL, kh_q_key, "duration_ms")                                           \
  X("headers", RESPONSE, NULL, kh_q_headers, NULL)                                                 \
  X("page.text", RESPONSE, NULL, kh_q_key, "page_text")                                            \
  X("page.link", RESPONSE, "a link's visible text", kh_q_link_by_text, "page_links")               \
  X("mail.from", MAIL, NULL, kh_q_key, "from")                                                     \
  X("mail.to", MAIL, NULL, kh_q_key, "to")                                                         \
  X("mail.subject", MAIL, NULL, kh_q_key, "subject")                                               \
  X("mail.date", MAIL, NULL, kh_q_key, "date")                                                     \
  X("mail.text", MAIL, NULL, kh_q_key, "text")                                                     \
  X("mail.html", MAIL, NULL, kh_q_key, "html")                                                     \
  X("mail.raw", MAIL, NULL, kh_q_key, "raw")                                                       \
  X("mail.header", MAIL, "a header name", kh_q_header, NULL)                                       \
  X("mail.header_raw", MAIL, "a header name", kh_q_header_raw, "header_list")                      \
  X("mail.links", MAIL, NULL, kh_q_key, "links")                                                   \
  X("mail.link", MAIL, KH_TEXT_REGEX_ARG, kh_q_first_match, "links")                               \
  X("mail.json", MAIL, "a JSON path", kh_q_path, NULL)                                             \
  X("letter.kind", LETTER, NULL, kh_q_key, "kind")                                                 \
  X("letter.text", LETTER, NULL, kh_q_key, "text")                                                 \
  X("letter.date", LETTER, NULL, kh_q_key, "date")                                                 \
  X("letter.field", LETTER, "a field name", kh_q_member, "fields")                                 \
  X("letter.json", LETTER, "a JSON path", kh_q_path, NULL)                                         \
  X("timing.same_class", TIMING, NULL, kh_q_key, "same_class")                                     \
  X("timing.verdict", TIMING, NULL, kh_q_key, "verdict")                                           \
  X("timing.json", TIMING, "a JSON path", kh_q_path, NULL)                                         \
  X("var", NONE, "a variable name", kh_q_var, NULL)

static const kh_query_def KH_QUERIES[] = {
#define KH_QUERY_ROW(name, subject, arg, eval, key) {name, KH_SUBJECT_##subject, arg, eval, key},
    KH_QUERY_TABLE(KH_QUERY_ROW)
#undef KH_QUERY_ROW
};

static const char *const KH_QUERY_NAMES[] = {
#define KH_QUERY_NAME(name, subject, arg, eval, key) name,
    KH_QUERY_TABLE(KH_QUERY_NAME)
#undef KH_QUERY_NAME
        NULL};

const kh_query_def *kh_query_find(const char *w, size_t wlen) {
  for (size_t k = 0; k < sizeof KH_QUERIES / sizeof KH_QUERIES[0]; k++) {
    if (kh_lex_word_is(w, wlen, KH_QUERIES[k].name))
      return &KH_QUERIES[k];
  }
  return NULL;
}

const char *const *kh_query_names(void) {
  return KH_QUERY_NAMES;
}

kf_rc kh_query_eval(const kh_query *query, kh_subjects *subjects, const kh_vars *vars, json_t **out,
                    kf_err *err) {
  assert(query != NULL && query->def != NULL && out != NULL);
  *out = NULL;
  const kh_query_def *def = query->def;
  kh_query_env env = {NULL, vars, def->key, query->re};
  kf_buf arg;
  kf_buf_init(&arg, KH_VAR_MAX_BYTES);
  kf_rc rc = kh_vars_expand(vars, &query->arg, &arg, err);
  if (rc == KF_OK && def->subject != KH_SUBJECT_NONE)
    rc = kh_subjects_get(subjects, def->subject, &env.subject, err);
  json_t *value = NULL;
  if (rc == KF_OK)
    rc = def->eval(&env, arg.data != NULL ? arg.data : "", arg.len, &value, err);
  for (size_t i = 0; rc == KF_OK && i < query->filters_len; i++) {
    kf_buf_reset(&arg);
    if ((rc = kh_vars_expand(vars, &query->filters[i].arg, &arg, err)) == KF_OK)
      rc = kh_filter_apply(&query->filters[i], arg.data != NULL ? arg.data : "", arg.len, &value,
                           err);
  }
  kf_buf_release(&arg);
  if (rc != KF_OK) {
    json_decref(value);
    return rc;
  }
  *out = value;
  return KF_OK;
}
