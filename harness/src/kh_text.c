/*
 * kh_text.c: values as text, byte-exact strings and regexes (see kh_text.h).
 */
#include "kh_text.h"

#include <assert.h>
#include <pthread.h>
#include <string.h>

#include "kf/alloc.h"

static int kh_dump_cb(const char *buffer, size_t size, void *data) {
  return kf_buf_append((kf_buf *)data, buffer, size) == KF_OK ? 0 : -1;
}

kf_rc kh_text_of_value(const json_t *value, kf_buf *out) {
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

json_t *kh_text_json_string(const char *s, size_t len) {
  return json_stringn_nocheck(s != NULL ? s : "", len);
}

bool kh_text_find(const char *hay, size_t hlen, const char *needle, size_t nlen) {
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

kf_rc kh_text_regex_compile(regex_t *re, const char *pat, size_t len, kf_err *err) {
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

bool kh_text_regex_search(const regex_t *re, const char *s, size_t len, size_t *start,
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

const char KH_TEXT_REGEX_ARG[] = "a regex";

/*
 * A compiled regex. The ones the parser makes are shared by pattern through
 * one list: glibc's regexec grows a DFA cache inside each compiled regex as
 * it meets new text, so a suite that repeats a pattern (a confirmation link
 * in every scenario that mails) keeps one cache for it rather than one per
 * scenario, and the memory stays that of the distinct patterns.
 */
struct kh_regex {
  regex_t re;
  char *pat; /* Owned, for a shared one: the pattern it was compiled from. */
  size_t len;
  size_t refs;           /* Shared ones: how many AST nodes hold it. */
  struct kh_regex *next; /* In kh_regex_shared. */
};

static pthread_mutex_t kh_regex_lock = PTHREAD_MUTEX_INITIALIZER;
static kh_regex *kh_regex_shared;

/* pat compiled into a new, unshared kh_regex. */
static kf_rc kh_regex_new(const char *pat, size_t len, kh_regex **out, kf_err *err) {
  *out = NULL;
  kh_regex *re = kf_calloc(1, sizeof *re);
  if (re == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  kf_rc rc = kh_text_regex_compile(&re->re, pat, len, err);
  if (rc != KF_OK) {
    kf_free(re);
    return rc;
  }
  *out = re;
  return KF_OK;
}

void kh_regex_free(kh_regex *re) {
  if (re == NULL)
    return;
  if (re->pat != NULL) {
    pthread_mutex_lock(&kh_regex_lock);
    bool last = --re->refs == 0;
    for (kh_regex **p = &kh_regex_shared; last && *p != NULL; p = &(*p)->next) {
      if (*p == re) {
        *p = re->next;
        break;
      }
    }
    pthread_mutex_unlock(&kh_regex_lock);
    if (!last)
      return;
    kf_free(re->pat);
  }
  regfree(&re->re);
  kf_free(re);
}

/* The shared regex of pattern text, with one more holder; NULL if there is none yet. */
static kh_regex *kh_regex_find_shared(const char *text, size_t len) {
  for (kh_regex *r = kh_regex_shared; r != NULL; r = r->next) {
    if (r->len == len && memcmp(r->pat, text, len) == 0) {
      r->refs++;
      return r;
    }
  }
  return NULL;
}

kf_rc kh_regex_precompile(const char *text, size_t len, kh_regex **out) {
  *out = NULL;
  if (text == NULL || kh_text_find(text, len, "{{", 2))
    return KF_OK;
  pthread_mutex_lock(&kh_regex_lock);
  kf_rc rc = KF_OK;
  kh_regex *re = kh_regex_find_shared(text, len);
  if (re == NULL) {
    kf_err err;
    kf_err_init(&err);
    rc = kh_regex_new(text, len, &re, &err);
    if (rc == KF_OK && (re->pat = kf_memdup0(text, len)) == NULL) {
      regfree(&re->re);
      kf_free(re);
      re = NULL;
      rc = KF_ERR_NOMEM;
    }
    if (rc == KF_OK) {
      re->len = len;
      re->refs = 1;
      re->next = kh_regex_shared;
      kh_regex_shared = re;
    }
  }
  pthread_mutex_unlock(&kh_regex_lock);
  *out = re;
  /* A pattern that does not compile is reported where it is used, as before. */
  return rc == KF_ERR_NOMEM ? rc : KF_OK;
}

kf_rc kh_regex_use(const kh_regex *pre, const char *pat, size_t len, kh_regex **tmp,
                   const regex_t **out, kf_err *err) {
  *tmp = NULL;
  if (pre != NULL) {
    *out = &pre->re;
    return KF_OK;
  }
  kf_rc rc = kh_regex_new(pat, len, tmp, err);
  *out = rc == KF_OK ? &(*tmp)->re : NULL;
  return rc;
}
