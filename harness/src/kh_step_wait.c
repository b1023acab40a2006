/*
 * kh_step_wait.c: the wait step and its table of targets (see kh_step_wait.h).
 */
#include "kh_step_wait.h"

#include <stddef.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/str.h"
#include "kh_exec.h"
#include "kh_lint.h"
#include "kh_mocks.h"
#include "kh_profile.h"

typedef struct kh_wait_filter_def {
  const char *word;  /* As written after the target: "customer-number". */
  const char *param; /* The mock's query parameter: "customer_number". */
  const char *says;  /* How a timeout message names it. */
} kh_wait_filter_def;

typedef struct kh_wait_target {
  const char *word;    /* "mail". */
  const char *purpose; /* Of each poll's exchange. */
  kh_subject_kind subject;
  unsigned need;          /* KH_NEED_BIT(...) of the mock API. */
  size_t api_offset;      /* offsetof(kh_profile, the API's URL). */
  const char *api_key;    /* The profile key, for messages. */
  const char *mock;       /* "mail", "post". */
  const char *collection; /* The mock's collection. */
  bool has_raw;           /* Items have a raw source, fetched when a query reads it. */
  const char *artifact;   /* Media type to keep the item as an artifact, or NULL. */
  kh_wait_filter_def filters[KH_WAIT_MAX_FILTERS]; /* Ends at the first NULL word. */
  const char *filters_hint;
  /* Filters of which one must be given, so the wait sees only this scenario's items. */
  const char *required[3];
  const char *required_message;
  const char *required_hint;
} kh_wait_target;

static const kh_wait_target KH_WAIT_TARGETS[] = {
    {"mail",
     "wait mail",
     KH_SUBJECT_MAIL,
     KH_NEED_BIT(MAIL_API),
     offsetof(kh_profile, mail_api),
     "mail_api",
     "mail",
     "messages",
     true,
     NULL,
     {{"to", "to", " to %s"},
      {"from", "from", " from %s"},
      {"subject", "subject", " matching subject \"%s\""}},
     "mail filters: to, from, subject, within",
     {"to", NULL},
     "'wait mail' without a 'to' filter",
     "add to \"{{email}}\" so the wait only sees this scenario's mail"},
    {"letter",
     "wait letter",
     KH_SUBJECT_LETTER,
     KH_NEED_BIT(POST_API),
     offsetof(kh_profile, post_api),
     "post_api",
     "post",
     "letters",
     false,
     "application/json",
     {{"to", "name", " to %s"},
      {"kind", "kind", " of kind %s"},
      {"customer-number", "customer_number", " for customer number %s"}},
     "letter filters: customer-number, kind, to, within",
     {"to", "customer-number", NULL},
     "'wait letter' without a 'to' or 'customer-number' filter",
     "add customer-number \"{{kdnr}}\" (or to \"...\") so the wait only sees this scenario's "
     "letter"},
};

#define KH_WAIT_TARGET_COUNT (sizeof KH_WAIT_TARGETS / sizeof KH_WAIT_TARGETS[0])

const char *kh_wait_target_word(const kh_wait *w) {
  return w->target != NULL ? w->target->word : "";
}

static int kh_wait_filter_index(const kh_wait_target *t, const char *word, size_t len) {
  for (int i = 0; i < KH_WAIT_MAX_FILTERS && t->filters[i].word != NULL; i++) {
    if (kh_lex_word_is(word, len, t->filters[i].word))
      return i;
  }
  return -1;
}

const kh_template *kh_wait_filter(const kh_wait *w, const char *word) {
  int i = w->target != NULL ? kh_wait_filter_index(w->target, word, strlen(word)) : -1;
  return i >= 0 ? &w->filters[i] : NULL;
}

const char *kh_wait_filter_param(const kh_wait *w, size_t i, const kh_template **value) {
  if (w->target == NULL || i >= KH_WAIT_MAX_FILTERS || w->target->filters[i].word == NULL)
    return NULL;
  *value = &w->filters[i];
  return w->target->filters[i].param;
}

/* The target word after `wait`. */
static kf_rc kh_wait_parse_target(kh_cur *c, kh_wait *w) {
  for (size_t t = 0; t < KH_WAIT_TARGET_COUNT; t++) {
    if (kh_cur_accept_word(c, KH_WAIT_TARGETS[t].word)) {
      w->target = &KH_WAIT_TARGETS[t];
      return KF_OK;
    }
  }
  (void)kh_cur_error_kind(c, c->i, KH_DIAG_EXPECTED_TOKEN,
                          "expected 'mail' or 'letter' after 'wait'");
  return kh_cur_hint(c, "write 'wait mail to \"...\"' or 'wait letter customer-number \"...\"'");
}

/* One filter or `within` at the cursor. */
static kf_rc kh_wait_parse_filter(kh_cur *c, kh_wait *w, bool *within_seen) {
  size_t at = c->i;
  size_t n = kh_cur_peek_word(c);
  const char *word = c->s + c->i;
  if (kh_lex_word_is(word, n, "within")) {
    if (*within_seen)
      return kh_cur_error_kind(c, at, KH_DIAG_DUPLICATE, "'within' given twice");
    *within_seen = true;
    c->i += n;
    return kh_cur_read_duration(c, &w->within_ms, "'within'");
  }
  int idx = n > 0 ? kh_wait_filter_index(w->target, word, n) : -1;
  if (idx < 0) {
    if (n == 0)
      n = 1;
    (void)kh_cur_error_kind(c, at, KH_DIAG_UNKNOWN_WORD, "unknown %s filter '%.*s'",
                            w->target->word, (int)(n > 40 ? 40 : n), word);
    if (kh_cur_at_hash(c))
      return kh_cur_hint_comment(c);
    return kh_cur_hint(c, "%s", w->target->filters_hint);
  }
  kh_template *slot = &w->filters[idx];
  if (slot->text != NULL)
    return kh_cur_error_kind(c, at, KH_DIAG_DUPLICATE, "filter '%.*s' given twice", (int)n, word);
  c->i += n;
  return kh_cur_need_string(c, slot, "a value for the filter");
}

static kf_rc kh_wait_parse(kh_cur *c, kh_step *step, size_t kw_len) {
  kh_wait *w = step->data;
  c->i = kw_len;
  kf_rc rc = kh_wait_parse_target(c, w);
  bool within_seen = false;
  while (rc == KF_OK && !kh_cur_at_end(c))
    rc = kh_wait_parse_filter(c, w, &within_seen);
  if (rc != KF_OK)
    return rc;
  /*
   * Scenarios run in parallel against one mailbox and one letter box, so a
   * wait that does not name this scenario's recipient could take another
   * scenario's item.
   */
  const kh_wait_target *t = w->target;
  for (size_t i = 0; t->required[i] != NULL; i++) {
    if (kh_wait_filter(w, t->required[i])->text != NULL)
      return KF_OK;
  }
  (void)kh_cur_error_kind(c, kf_str_rtrim_len(c->s, c->len), KH_DIAG_STRUCTURE, "%s",
                          t->required_message);
  return kh_cur_hint(c, "%s", t->required_hint);
}

static void kh_wait_release(void *data) {
  kh_wait *w = data;
  for (size_t i = 0; i < KH_WAIT_MAX_FILTERS; i++)
    kh_template_release(&w->filters[i]);
}

static void kh_wait_lint(kh_lint_ctx *ctx, const kh_step *step) {
  const kh_wait *w = step->data;
  for (size_t i = 0; i < KH_WAIT_MAX_FILTERS; i++)
    kh_lint_template(ctx, &w->filters[i]);
}

static unsigned kh_wait_needs(const kh_step *step) {
  const kh_wait *w = step->data;
  return w->target->need;
}

/* The loader of items with a raw source: fetch it when a query first reads "raw". */
static kf_rc kh_wait_load_raw(kh_subject *subject, const char *part, void *ctx, kf_err *err) {
  kh_exec *ex = ctx;
  if (strcmp(part, "raw") != 0)
    return KF_OK;
  const json_t *jid = json_object_get(subject->doc, "id");
  const char *api = ex->cfg->profile->mail_api;
  if (!json_is_integer(jid) || api == NULL)
    return KF_OK;
  json_t *raw = NULL;
  int64_t id = (int64_t)json_integer_value(jid);
  kf_rc rc = kh_mocks_fetch_raw(api, "messages", id, &ex->res->steps[ex->step], &raw, err);
  if (rc != KF_OK)
    return rc;
  char name[64];
  (void)kf_str_format(name, sizeof name, "mail %lld (raw source)", (long long)id);
  kh_exec_keep_artifact(ex, name, "message/rfc822", json_string_value(raw),
                        json_string_length(raw));
  if (json_object_set_new(subject->doc, "raw", raw) != 0)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  return KF_OK;
}

/* Expand every filter into values[] (NULL when absent). */
static kf_rc kh_wait_expand(kh_exec *ex, const kh_wait *w, char **values, kf_err *err) {
  kf_rc rc = KF_OK;
  for (size_t i = 0; rc == KF_OK && i < KH_WAIT_MAX_FILTERS; i++)
    rc = kh_exec_expand_opt(ex, &w->filters[i], &values[i], err);
  return rc;
}

/* The matched item becomes the subject; later waits look only past it. */
static void kh_wait_take(kh_exec *ex, const kh_wait_target *t, json_t *doc, int64_t id) {
  if (t->artifact != NULL) {
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    char name[64];
    (void)kf_str_format(name, sizeof name, "%s %lld", t->word, (long long)id);
    if (text != NULL)
      kh_exec_keep_artifact(ex, name, t->artifact, text, strlen(text));
    kf_free(text);
  }
  kh_subjects_set(&ex->subjects, t->subject, doc, t->has_raw ? kh_wait_load_raw : NULL, ex);
  if (id > ex->seen_id[t->subject])
    ex->seen_id[t->subject] = id;
}

static kf_status kh_wait_exec(kh_exec *ex, size_t idx, const kh_step *step, int depth) {
  (void)depth;
  const kh_wait *w = step->data;
  const kh_wait_target *t = w->target;
  const kh_profile *p = ex->cfg->profile;
  const char *api = *(const char *const *)(const void *)((const char *)p + t->api_offset);
  if (api == NULL) {
    /* kh_exec skips such scenarios up front; this guards fragments reached another way. */
    return kh_exec_outcome(ex, idx, KF_STATUS_SKIP, 0, "the target profile sets no %s", t->api_key);
  }
  kf_err err;
  kf_err_init(&err);
  char *values[KH_WAIT_MAX_FILTERS] = {NULL};
  kf_rc rc = kh_wait_expand(ex, w, values, &err);
  kf_status result = KF_STATUS_PASS;
  if (rc != KF_OK) {
    result = kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0, "%s", err.message);
  } else {
    kh_mock_filter filters[KH_WAIT_MAX_FILTERS];
    size_t n = 0;
    for (; n < KH_WAIT_MAX_FILTERS && t->filters[n].word != NULL; n++)
      filters[n] = (kh_mock_filter){t->filters[n].param, values[n], t->filters[n].says};
    int64_t timeout = w->within_ms > 0 ? w->within_ms : p->wait_timeout_ms;
    kh_mock_wait mw = {.api = api,
                       .collection = t->collection,
                       .noun = t->word,
                       .mock = t->mock,
                       .filters = filters,
                       .filters_len = n,
                       .after_id = ex->seen_id[t->subject],
                       .timeout_ms = timeout > 0 ? timeout : 10000,
                       .record = &ex->res->steps[idx],
                       .purpose = t->purpose};
    json_t *doc = NULL;
    int64_t id = 0;
    rc = kh_mocks_wait(&mw, &doc, &id, &err);
    if (rc == KF_ERR_TIMEOUT)
      result = kh_exec_outcome(ex, idx, KF_STATUS_FAIL, 0, "%s", err.message);
    else if (rc != KF_OK)
      result = kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0, "wait failed: %s", err.message);
    else
      kh_wait_take(ex, t, doc, id);
  }
  for (size_t i = 0; i < KH_WAIT_MAX_FILTERS; i++)
    kf_free(values[i]);
  return result;
}

static const char *const KH_WAIT_WORDS[] = {"wait", NULL};

const kh_step_def kh_step_wait = {
    .what = "a wait",
    .keywords = KH_WAIT_WORDS,
    .synopsis = "wait mail|letter <filters> [within D]",
    .data_size = sizeof(kh_wait),
    .parse = kh_wait_parse,
    .release = kh_wait_release,
    .lint = kh_wait_lint,
    .needs = kh_wait_needs,
    .exec = kh_wait_exec,
};
