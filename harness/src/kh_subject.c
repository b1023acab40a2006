/*
 * kh_subject.c: the subjects of queries and their lazily loaded parts (see kh_subject.h).
 */
#include "kh_subject.h"

#include <assert.h>
#include <string.h>

#include "kf/buf.h"
#include "kf/alloc.h"
#include "kh_html.h"
#include "kh_http.h"
#include "kh_text.h"

static const struct {
  const char *name;
  const char *missing;
} KH_SUBJECT_TABLE[] = {
#define KH_SUBJECT_ROW(kind, name, missing) {name, missing},
    KH_SUBJECTS(KH_SUBJECT_ROW)
#undef KH_SUBJECT_ROW
};

const char *kh_subject_kind_name(kh_subject_kind kind) {
  return kind < KH_SUBJECT_COUNT ? KH_SUBJECT_TABLE[kind].name : "none";
}

void kh_subjects_init(kh_subjects *subjects) {
  memset(subjects, 0, sizeof *subjects);
}

static void kh_subject_clear(kh_subject *s) {
  json_decref(s->doc);
  json_decref(s->tried);
  if (s->drop != NULL)
    s->drop(s->load_ctx);
  memset(s, 0, sizeof *s);
}

void kh_subjects_release(kh_subjects *subjects) {
  if (subjects == NULL)
    return;
  for (size_t i = 0; i < KH_SUBJECT_COUNT; i++)
    kh_subject_clear(&subjects->items[i]);
}

void kh_subjects_set(kh_subjects *subjects, kh_subject_kind kind, json_t *doc,
                     kh_subject_load_fn load, void *load_ctx) {
  assert(kind < KH_SUBJECT_COUNT);
  kh_subject *s = &subjects->items[kind];
  kh_subject_clear(s);
  s->doc = doc;
  s->load = load;
  s->load_ctx = load_ctx;
}

static void kh_subject_drop_reply(void *ctx) {
  kh_http_reply_unref(ctx);
}

kf_rc kh_subjects_set_reply(kh_subjects *subjects, kh_subject_kind kind, kh_http_reply *reply) {
  assert(kind < KH_SUBJECT_COUNT && reply != NULL);
  kh_subject *s = &subjects->items[kind];
  kh_subject_clear(s);
  if ((s->doc = json_object()) == NULL)
    return KF_ERR_NOMEM;
  s->load = kh_subject_load_reply;
  s->load_ctx = kh_http_reply_ref(reply);
  s->drop = kh_subject_drop_reply;
  return KF_OK;
}

kf_rc kh_subjects_get(kh_subjects *subjects, kh_subject_kind kind, kh_subject **out, kf_err *err) {
  assert(kind < KH_SUBJECT_COUNT);
  kh_subject *s = subjects != NULL ? &subjects->items[kind] : NULL;
  if (s == NULL || s->doc == NULL)
    return kf_err_set(err, KF_ERR_STATE, "%s", KH_SUBJECT_TABLE[kind].missing);
  *out = s;
  return KF_OK;
}

kf_rc kh_subject_part(kh_subject *subject, const char *part, json_t **out, kf_err *err) {
  assert(subject != NULL && subject->doc != NULL && part != NULL);
  *out = json_object_get(subject->doc, part);
  if (*out != NULL || subject->load == NULL)
    return KF_OK;
  if (subject->tried != NULL && json_object_get(subject->tried, part) != NULL)
    return KF_OK;
  kf_rc rc = subject->load(subject, part, subject->load_ctx, err);
  if (rc != KF_OK)
    return rc;
  if ((*out = json_object_get(subject->doc, part)) != NULL)
    return KF_OK;
  /* A part the loader could not give is not asked for again. */
  if (subject->tried == NULL && (subject->tried = json_object()) == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  if (json_object_set_new(subject->tried, part, json_true()) != 0)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  return KF_OK;
}

/* A body's bytes and the URL of the page it came from (NULL: unknown). */
typedef struct kh_body {
  const char *data;
  size_t len;
  const char *url;
} kh_body;

static kf_rc kh_subject_set(kh_subject *subject, const char *part, json_t *value, kf_err *err) {
  if (value == NULL || json_object_set_new(subject->doc, part, value) != 0)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  return KF_OK;
}

static kf_rc kh_subject_load_json(kh_subject *subject, const kh_body *body, kf_err *err) {
  json_error_t jerr;
  json_t *parsed = json_loadb(body->data, body->len, JSON_DECODE_ANY, &jerr);
  if (parsed == NULL && json_error_code(&jerr) == json_error_out_of_memory)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory parsing the body");
  /* A body that is not JSON leaves "json" absent, so `json "$"` is absent rather than null. */
  if (parsed == NULL)
    return KF_OK;
  return kh_subject_set(subject, "json", parsed, err);
}

static kf_rc kh_subject_load_page_text(kh_subject *subject, const kh_body *body, kf_err *err) {
  kf_buf text;
  kf_buf_init(&text, KH_TEXT_MAX);
  kf_rc rc = kh_html_text(body->data, body->len, &text);
  if (rc == KF_OK)
    rc = kh_subject_set(subject, "page_text", kh_text_json_string(text.data, text.len), err);
  else
    rc = kf_err_set(err, rc, "cannot read the page: %s", kf_rc_name(rc));
  kf_buf_release(&text);
  return rc;
}

/*
 * Each link as {"text", "href" as written, "url"}: its href resolved against
 * the page's URL (RFC 3986), so "anmelden", "../anmelden" and an absolute
 * URL lead where a browser goes; "url" is absent where it cannot be read.
 */
static kf_rc kh_subject_load_page_links(kh_subject *subject, const kh_body *body, kf_err *err) {
  json_t *links = NULL;
  kf_rc rc = kh_html_links(body->data, body->len, &links);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "cannot read the page's links: %s", kf_rc_name(rc));
  size_t i;
  json_t *link;
  json_array_foreach(links, i, link) {
    const char *href = json_string_value(json_object_get(link, "href"));
    char *url = NULL;
    if (body->url == NULL || href == NULL)
      continue;
    rc = kh_http_url_resolve(body->url, href, &url);
    if (rc == KF_ERR_INVALID)
      continue; /* The href as written is all there is. */
    /* Short of memory, the href as written would be a wrong answer, not a lesser one. */
    int bad = rc != KF_OK || json_object_set_new(link, "url", json_string(url)) != 0;
    kf_free(url);
    if (bad) {
      json_decref(links);
      return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
    }
  }
  return kh_subject_set(subject, "page_links", links, err);
}

/* The parts a body gives, each made the first time a query asks for it. */
static const struct {
  const char *part;
  kf_rc (*load)(kh_subject *subject, const kh_body *body, kf_err *err);
} KH_BODY_PARTS[] = {
    {"json", kh_subject_load_json},
    {"page_text", kh_subject_load_page_text},
    {"page_links", kh_subject_load_page_links},
};

/* Load part from a body that is not empty; an unknown part stays absent. */
static kf_rc kh_subject_body_part(kh_subject *subject, const char *part, const kh_body *body,
                                  kf_err *err) {
  for (size_t i = 0; i < sizeof KH_BODY_PARTS / sizeof KH_BODY_PARTS[0]; i++) {
    if (strcmp(part, KH_BODY_PARTS[i].part) == 0)
      return KH_BODY_PARTS[i].load(subject, body, err);
  }
  return KF_OK;
}

kf_rc kh_subject_load_body(kh_subject *subject, const char *part, void *ctx, kf_err *err) {
  (void)ctx;
  const json_t *body = json_object_get(subject->doc, "body");
  if (!json_is_string(body) || json_string_length(body) == 0)
    return KF_OK;
  kh_body b = {json_string_value(body), json_string_length(body),
               json_string_value(json_object_get(subject->doc, "url"))};
  return kh_subject_body_part(subject, part, &b, err);
}

/* ---- A response kept as its bytes. ---- */

static json_t *kh_reply_url(const kh_http_reply *r) {
  return json_string(r->url);
}

static json_t *kh_reply_status(const kh_http_reply *r) {
  return json_integer(r->status);
}

static json_t *kh_reply_duration(const kh_http_reply *r) {
  return json_integer(r->duration_ms);
}

static json_t *kh_reply_body(const kh_http_reply *r) {
  /* nocheck: a target may answer with invalid UTF-8 and the checks must see it. */
  return json_stringn_nocheck(r->body.data != NULL ? r->body.data : "", r->body.len);
}

static json_t *kh_reply_headers(const kh_http_reply *r) {
  json_t *headers = NULL;
  return kh_http_reply_headers(r, &headers) == KF_OK ? headers : NULL;
}

/* The parts a reply gives itself; the others come from its body. NULL: out of memory. */
static const struct {
  const char *part;
  json_t *(*make)(const kh_http_reply *r);
} KH_REPLY_PARTS[] = {
    {"status", kh_reply_status}, {"headers", kh_reply_headers},      {"body", kh_reply_body},
    {"url", kh_reply_url},       {"duration_ms", kh_reply_duration},
};

kf_rc kh_subject_load_reply(kh_subject *subject, const char *part, void *ctx, kf_err *err) {
  const kh_http_reply *r = ctx;
  for (size_t i = 0; i < sizeof KH_REPLY_PARTS / sizeof KH_REPLY_PARTS[0]; i++) {
    if (strcmp(part, KH_REPLY_PARTS[i].part) == 0)
      return kh_subject_set(subject, part, KH_REPLY_PARTS[i].make(r), err);
  }
  if (r->body.len == 0)
    return KF_OK;
  kh_body b = {r->body.data, r->body.len, r->url};
  return kh_subject_body_part(subject, part, &b, err);
}
