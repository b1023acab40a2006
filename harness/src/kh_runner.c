/*
 * kh_runner.c: the scenario runner.
 *
 * A scenario is a list of steps; each step becomes one kf_step_result and its
 * checks run in the order written. The first failed expectation fails the
 * scenario and stops it, because later steps usually depend on what the failed
 * one should have produced. Anything that keeps the harness from carrying a
 * step out (an unknown variable, an unreachable target) is an error, which is
 * kept apart from a failure so nobody blames the target for a broken scenario.
 */
#include "kh_runner.h"
#include "kh_suite.h"

#include <assert.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/log.h"
#include "kf/str.h"
#include "kf/timeutil.h"
#include "kh_clockdrv.h"
#include "kh_eval.h"
#include "kh_gen.h"
#include "kh_http.h"
#include "kh_mocks.h"
#include "kh_vars.h"

#define KH_RUNNER_MAX_URL (64u * 1024u)
#define KH_RUNNER_MAX_HEADERS 128u
#define KH_RUNNER_MAX_BODY (2u * KH_VAR_MAX_BYTES)
#define KH_RUNNER_MAX_TEXT (64u * 1024u)
#define KH_RUNNER_DEFAULT_WAIT_MS 10000
/* How long the mocks may take to say their last id before the run. */
#define KH_RUNNER_HEALTH_TIMEOUT_MS 5000

bool kh_selection_match(const kh_selection *sel, const kh_scenario *sc) {
  if (sel == NULL)
    return true;
  if (sel->covers_len > 0) {
    bool hit = false;
    for (size_t i = 0; !hit && i < sel->covers_len; i++)
      for (size_t j = 0; !hit && j < sc->covers_len; j++)
        hit = kf_str_eq_ci(sel->covers[i], sc->covers[j]);
    if (!hit)
      return false;
  }
  if (sel->tags_len > 0) {
    bool hit = false;
    for (size_t i = 0; !hit && i < sel->tags_len; i++)
      for (size_t j = 0; !hit && j < sc->tags_len; j++)
        hit = strcmp(sel->tags[i], sc->tags[j]) == 0;
    if (!hit)
      return false;
  }
  if (sel->name != NULL && sel->name[0] != '\0' && strstr(sc->name, sel->name) == NULL)
    return false;
  return true;
}

/* ---- What a scenario needs from the target. ---- */

typedef struct kh_needs {
  bool clock;
  bool mail;
  bool letter;
  bool too_deep; /* Fragments nest deeper than KH_SUITE_MAX_DEPTH: the scenario errors. */
} kh_needs;

static void kh_needs_scan(const kh_step *steps, size_t n, int depth, kh_needs *needs) {
  if (depth > KH_SUITE_MAX_DEPTH) {
    needs->too_deep = true;
    return;
  }
  for (size_t i = 0; i < n; i++) {
    const kh_step *st = &steps[i];
    switch (st->kind) {
    case KH_STEP_CLOCK:
      needs->clock = true;
      break;
    case KH_STEP_WAIT:
      if (st->u.wait.what == KH_WAIT_MAIL)
        needs->mail = true;
      else
        needs->letter = true;
      break;
    case KH_STEP_USE:
      if (st->u.use.resolved != NULL)
        kh_needs_scan(st->u.use.resolved->steps, st->u.use.resolved->steps_len, depth + 1, needs);
      break;
    default:
      break;
    }
  }
}

/* ---- One scenario's execution state. ---- */

typedef struct kh_exec {
  const kh_runner_config *cfg;
  const kh_scenario *scenario;
  kf_scenario_result *res;
  kh_vars vars;
  kh_gen_ctx gen;
  char *clock_id;       /* Owned; NULL until `clock create`. */
  int64_t last_mail_id; /* The last matched mail, so the next wait finds a newer one. */
  int64_t last_letter_id;
  size_t expects;   /* Expectations evaluated so far: a scenario with none proves nothing. */
  json_t *response; /* Owned subjects. */
  json_t *mail;
  json_t *letter;
} kh_exec;

static kf_step_result *kh_exec_step_at(kh_exec *ex, size_t idx) {
  assert(idx < ex->res->steps_len);
  return &ex->res->steps[idx];
}

/*
 * Record a non-pass outcome on step idx and, if it is the scenario's first,
 * on the scenario. fail_line is the line of the failing check (0: the step).
 */
static kf_status kh_exec_outcome(kh_exec *ex, size_t idx, kf_status status, unsigned fail_line,
                                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static kf_status kh_exec_outcome(kh_exec *ex, size_t idx, kf_status status, unsigned fail_line,
                                 const char *fmt, ...) {
  assert(status != KF_STATUS_PASS);
  kf_buf msg;
  kf_buf_init(&msg, KH_RUNNER_MAX_TEXT);
  va_list ap;
  va_start(ap, fmt);
  kf_rc rc = kf_buf_vappendf(&msg, fmt, ap);
  va_end(ap);
  /* A message over the cap is still worth showing cut; an empty one is not. */
  char *text = rc == KF_OK ? kf_buf_detach(&msg, NULL) : kf_strdup("(message too long)");
  kf_buf_release(&msg);
  kf_step_result *st = kh_exec_step_at(ex, idx);
  st->status = status;
  st->fail_line = fail_line;
  kf_free(st->message);
  st->message = text;
  if (ex->res->status == KF_STATUS_PASS) {
    ex->res->status = status;
    kf_free(ex->res->message);
    ex->res->message = text != NULL ? kf_strdup(text) : NULL;
    kf_free(ex->res->fail_file);
    ex->res->fail_file = st->file != NULL ? kf_strdup(st->file) : NULL;
    ex->res->fail_line = fail_line != 0 ? fail_line : st->line;
  }
  return status;
}

/* Add a step result for st; *idx is its index. */
static kf_rc kh_exec_add_step(kh_exec *ex, const kh_step *st, size_t *idx) {
  kf_step_result *sr = NULL;
  kf_rc rc = kf_scenario_result_add_step(ex->res, &sr);
  if (rc != KF_OK)
    return rc;
  *idx = ex->res->steps_len - 1;
  sr->status = KF_STATUS_PASS;
  sr->label = kf_strdup(st->source != NULL ? st->source : "");
  sr->file = kf_strdup(st->pos.file != NULL ? st->pos.file : "");
  sr->line = st->pos.line;
  if (sr->label == NULL || sr->file == NULL)
    return KF_ERR_NOMEM;
  return KF_OK;
}

/* Keep the exchange of resp on step idx (moving it out of resp). */
static void kh_exec_keep_traces(kh_exec *ex, size_t idx, kh_http_response *resp) {
  if (resp->exchange.method == NULL)
    return; /* Nothing was sent. */
  kf_step_result *st = kh_exec_step_at(ex, idx);
  kf_exchange *slot = NULL;
  if (kf_step_result_add_exchange(st, &slot) != KF_OK)
    return; /* The report then lacks this exchange; the verdict does not depend on it. */
  *slot = resp->exchange;
  memset(&resp->exchange, 0, sizeof resp->exchange);
}

/* Expand a template into a new string (caller frees); NULL template text gives "". */
static kf_rc kh_exec_expand(kh_exec *ex, const kh_template *tpl, size_t cap, char **out,
                            size_t *len, kf_err *err) {
  kf_buf b;
  kf_buf_init(&b, cap);
  kf_rc rc = KF_OK;
  if (tpl->text != NULL)
    rc = kh_vars_expand(&ex->vars, tpl, &b, err);
  if (rc == KF_ERR_LIMIT)
    kf_err_set(err, rc, "the expanded text is longer than %zu bytes", cap);
  if (rc == KF_OK) {
    *out = kf_buf_detach(&b, len);
    if (*out == NULL)
      rc = kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  }
  kf_buf_release(&b);
  return rc;
}

/* ---- Checks. ---- */

static kf_status kh_exec_checks(kh_exec *ex, size_t idx, const kh_check *checks, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const kh_check *c = &checks[i];
    kh_subjects subjects = {.response = ex->response, .mail = ex->mail, .letter = ex->letter};
    kf_err err;
    kf_err_init(&err);
    json_t *value = NULL;
    const char *src = c->source != NULL ? c->source : "";
    kf_rc rc = kh_eval_query(&c->query, &subjects, &ex->vars, &value, &err);
    if (rc != KF_OK)
      return kh_exec_outcome(ex, idx, KF_STATUS_ERROR, c->pos.line, "%s: %s", src, err.message);
    if (c->is_capture) {
      if (value == NULL)
        return kh_exec_outcome(ex, idx, KF_STATUS_FAIL, c->pos.line,
                               "%s: the query has no value to capture", src);
      kf_buf text;
      kf_buf_init(&text, KH_VAR_MAX_BYTES);
      rc = kh_eval_to_text(value, &text);
      json_decref(value);
      if (rc == KF_OK)
        rc = kh_vars_set(&ex->vars, c->capture_name, text.data != NULL ? text.data : "", text.len);
      kf_buf_release(&text);
      if (rc != KF_OK)
        return kh_exec_outcome(ex, idx, KF_STATUS_ERROR, c->pos.line,
                               "%s: cannot store the value (%s)", src, kf_rc_name(rc));
      continue;
    }
    ex->expects++;
    bool holds = false;
    kf_buf explain;
    kf_buf_init(&explain, KH_RUNNER_MAX_TEXT);
    rc = kh_eval_predicate(&c->pred, value, &ex->vars, &holds, &explain, &err);
    json_decref(value);
    kf_status st = KF_STATUS_PASS;
    /* The source normally starts with "expect"; say so when it does not. */
    const char *prefix = kf_str_starts_with(src, "expect") ? "" : "expect ";
    if (rc != KF_OK)
      st = kh_exec_outcome(ex, idx, KF_STATUS_ERROR, c->pos.line, "%s%s: %s", prefix, src,
                           err.message);
    else if (!holds)
      st = kh_exec_outcome(ex, idx, KF_STATUS_FAIL, c->pos.line, "%s%s: %s", prefix, src,
                           explain.data != NULL ? explain.data : "does not hold");
    kf_buf_release(&explain);
    if (st != KF_STATUS_PASS)
      return st;
  }
  return KF_STATUS_PASS;
}

/* ---- Steps. ---- */

static kf_status kh_exec_steps(kh_exec *ex, const kh_step *steps, size_t n, int depth);

static kf_status kh_exec_let(kh_exec *ex, size_t idx, const kh_let *let) {
  kf_buf out;
  kf_buf_init(&out, KH_VAR_MAX_BYTES);
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = kh_gen_eval(&ex->gen, let, &ex->vars, &out, &err);
  if (rc == KF_OK) {
    rc = kh_vars_set(&ex->vars, let->name, out.data != NULL ? out.data : "", out.len);
    if (rc != KF_OK)
      kf_err_set(&err, rc, "cannot store variable %s", let->name);
  }
  kf_buf_release(&out);
  if (rc != KF_OK)
    return kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0, "%s", err.message);
  return KF_STATUS_PASS;
}

/* Header names and values of one request, owned. */
typedef struct kh_exec_headers {
  char *names[KH_RUNNER_MAX_HEADERS];
  char *values[KH_RUNNER_MAX_HEADERS];
  size_t len;
} kh_exec_headers;

static void kh_exec_headers_release(kh_exec_headers *h) {
  for (size_t i = 0; i < h->len; i++) {
    kf_free(h->names[i]);
    kf_free(h->values[i]);
  }
  h->len = 0;
}

static kf_rc kh_exec_headers_add(kh_exec_headers *h, const char *name, const char *value,
                                 kf_err *err) {
  if (h->len >= KH_RUNNER_MAX_HEADERS)
    return kf_err_set(err, KF_ERR_LIMIT, "more than %u headers", KH_RUNNER_MAX_HEADERS);
  char *n = kf_strdup(name);
  char *v = kf_strdup(value);
  if (n == NULL || v == NULL) {
    kf_free(n);
    kf_free(v);
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  }
  h->names[h->len] = n;
  h->values[h->len] = v;
  h->len++;
  return KF_OK;
}

static bool kh_exec_headers_has(const kh_exec_headers *h, const char *name) {
  for (size_t i = 0; i < h->len; i++)
    if (kf_str_eq_ci(h->names[i], name))
      return true;
  return false;
}

/* Build the absolute URL: a path starting with '/' is relative to base_url. */
static kf_rc kh_exec_url(kh_exec *ex, const kh_template *tpl, char **out, kf_err *err) {
  char *raw = NULL;
  size_t raw_len = 0;
  kf_rc rc = kh_exec_expand(ex, tpl, KH_RUNNER_MAX_URL, &raw, &raw_len, err);
  if (rc != KF_OK)
    return rc;
  if (memchr(raw, '\0', raw_len) != NULL || strpbrk(raw, "\r\n") != NULL) {
    kf_free(raw);
    return kf_err_set(err, KF_ERR_INVALID, "the URL contains a NUL or line break");
  }
  if (raw[0] != '/') {
    *out = raw;
    return KF_OK;
  }
  const char *base = ex->cfg->profile->base_url;
  size_t blen = strlen(base);
  while (blen > 0 && base[blen - 1] == '/')
    blen--;
  *out = kf_str_printf("%.*s%s", (int)blen, base, raw);
  kf_free(raw);
  if (*out == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  return KF_OK;
}

static kf_status kh_exec_http(kh_exec *ex, size_t idx, const kh_request *rq) {
  kf_err err;
  kf_err_init(&err);
  kh_exec_headers hdr;
  hdr.len = 0;
  char *url = NULL;
  char *body = NULL;
  size_t body_len = 0;
  kf_status result = KF_STATUS_PASS;
  kh_http_response resp;
  kh_http_response_init(&resp);

  kf_rc rc = kh_exec_url(ex, &rq->url, &url, &err);
  for (size_t i = 0; rc == KF_OK && i < rq->headers_len; i++) {
    char *name = NULL, *value = NULL;
    size_t nlen = 0, vlen = 0;
    rc = kh_exec_expand(ex, &rq->headers[i].name, KH_RUNNER_MAX_TEXT, &name, &nlen, &err);
    if (rc == KF_OK)
      rc = kh_exec_expand(ex, &rq->headers[i].value, KH_RUNNER_MAX_TEXT, &value, &vlen, &err);
    if (rc == KF_OK &&
        (strlen(name) != nlen || strlen(value) != vlen || strpbrk(value, "\r\n") != NULL))
      rc = kf_err_set(&err, KF_ERR_INVALID, "header %s: a header cannot hold a NUL or a line break",
                      name);
    if (rc == KF_OK)
      rc = kh_exec_headers_add(&hdr, name, value, &err);
    kf_free(name);
    kf_free(value);
  }
  if (rc == KF_OK && rq->body.text != NULL)
    rc = kh_exec_expand(ex, &rq->body, KH_RUNNER_MAX_BODY, &body, &body_len, &err);
  if (rc == KF_OK && rq->body_is_json && !kh_exec_headers_has(&hdr, "Content-Type"))
    rc = kh_exec_headers_add(&hdr, "Content-Type", "application/json", &err);
  if (rc == KF_OK && ex->clock_id != NULL && !rq->no_clock)
    rc = kh_exec_headers_add(&hdr, ex->cfg->profile->clock_header, ex->clock_id, &err);
  if (rc != KF_OK) {
    result = kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0, "%s", err.message);
    goto out;
  }

  kh_http_request req = {.method = rq->method,
                         .url = url,
                         .headers = (const char *const *)hdr.names,
                         .values = (const char *const *)hdr.values,
                         .headers_len = hdr.len,
                         .body = body,
                         .body_len = body_len,
                         .timeout_ms = rq->timeout_ms};
  rc = kh_http_perform(&req, &resp, &err);
  kh_exec_keep_traces(ex, idx, &resp);
  if (rc == KF_ERR_TIMEOUT) {
    /* The target took the request and never answered: that is its failure. */
    result = kh_exec_outcome(ex, idx, KF_STATUS_FAIL, 0, "no response: %s", err.message);
    goto out;
  }
  if (rc != KF_OK) {
    result = kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0, "request failed: %s", err.message);
    goto out;
  }
  json_decref(ex->response);
  ex->response = resp.subject;
  resp.subject = NULL;

out:
  kh_http_response_release(&resp);
  kh_exec_headers_release(&hdr);
  kf_free(url);
  kf_free(body);
  return result;
}

/* Expand an optional filter template; absent stays NULL. */
static kf_rc kh_exec_expand_opt(kh_exec *ex, const kh_template *tpl, char **out, kf_err *err) {
  *out = NULL;
  if (tpl->text == NULL)
    return KF_OK;
  size_t len = 0;
  kf_rc rc = kh_exec_expand(ex, tpl, KH_RUNNER_MAX_TEXT, out, &len, err);
  if (rc == KF_OK && strlen(*out) != len) {
    kf_free(*out);
    *out = NULL;
    return kf_err_set(err, KF_ERR_INVALID, "a wait filter cannot hold a NUL byte");
  }
  return rc;
}

static kf_status kh_exec_wait(kh_exec *ex, size_t idx, const kh_wait *w) {
  const kh_profile *p = ex->cfg->profile;
  bool mail = w->what == KH_WAIT_MAIL;
  const char *api = mail ? p->mail_api : p->post_api;
  if (api == NULL) {
    /* kh_runner skips such scenarios up front; this guards fragments reached another way. */
    return kh_exec_outcome(ex, idx, KF_STATUS_SKIP, 0, "the target profile sets no %s",
                           mail ? "mail_api" : "post_api");
  }
  kf_err err;
  kf_err_init(&err);
  char *to = NULL, *from = NULL, *subject = NULL, *kind = NULL, *kdnr = NULL;
  kf_rc rc = kh_exec_expand_opt(ex, &w->to, &to, &err);
  if (rc == KF_OK)
    rc = kh_exec_expand_opt(ex, &w->from, &from, &err);
  if (rc == KF_OK)
    rc = kh_exec_expand_opt(ex, &w->subject, &subject, &err);
  if (rc == KF_OK)
    rc = kh_exec_expand_opt(ex, &w->kind, &kind, &err);
  if (rc == KF_OK)
    rc = kh_exec_expand_opt(ex, &w->customer_number, &kdnr, &err);
  kf_status result = KF_STATUS_PASS;
  if (rc != KF_OK) {
    result = kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0, "%s", err.message);
  } else {
    int64_t timeout = w->within_ms > 0 ? w->within_ms : p->wait_timeout_ms;
    if (timeout <= 0)
      timeout = KH_RUNNER_DEFAULT_WAIT_MS;
    kh_mock_wait mw = {.what = w->what,
                       .api = api,
                       .to = to,
                       .from = from,
                       .subject = subject,
                       .kind = kind,
                       .customer_number = kdnr,
                       .after_id = mail ? ex->last_mail_id : ex->last_letter_id,
                       .timeout_ms = timeout};
    kh_http_response resp;
    kh_http_response_init(&resp);
    json_t *doc = NULL;
    int64_t id = 0;
    rc = kh_mocks_wait(&mw, &resp, &doc, &id, &err);
    kh_exec_keep_traces(ex, idx, &resp);
    kh_http_response_release(&resp);
    if (rc == KF_ERR_TIMEOUT) {
      result = kh_exec_outcome(ex, idx, KF_STATUS_FAIL, 0, "%s", err.message);
    } else if (rc != KF_OK) {
      result = kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0, "wait failed: %s", err.message);
    } else if (mail && id > 0 && (rc = kh_mocks_attach_raw(api, id, doc, &err)) != KF_OK) {
      json_decref(doc);
      result = kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0, "cannot fetch the raw mail: %s",
                               err.message);
    } else if (mail) {
      json_decref(ex->mail);
      ex->mail = doc;
      if (id > ex->last_mail_id)
        ex->last_mail_id = id;
    } else {
      json_decref(ex->letter);
      ex->letter = doc;
      if (id > ex->last_letter_id)
        ex->last_letter_id = id;
    }
  }
  kf_free(to);
  kf_free(from);
  kf_free(subject);
  kf_free(kind);
  kf_free(kdnr);
  return result;
}

/*
 * Delete the scenario's clock on the target and forget it. Clean-up is not
 * part of what the scenario checks, so a failure is logged, never a finding.
 */
static void kh_exec_delete_clock(kh_exec *ex) {
  if (ex->clock_id == NULL)
    return;
  kf_err err;
  kf_err_init(&err);
  kh_http_response resp;
  kh_http_response_init(&resp);
  if (kh_clockdrv_delete(ex->cfg->profile->base_url, ex->clock_id, &resp, &err) != KF_OK)
    kf_log(KF_LOG_WARN, "scenario \"%s\": cannot delete clock %s: %s", ex->scenario->name,
           ex->clock_id, err.message);
  kh_http_response_release(&resp);
  kf_free(ex->clock_id);
  ex->clock_id = NULL;
}

/* Parse the (interpolated) ISO time of a clock step. */
static kf_rc kh_exec_clock_time(kh_exec *ex, const kh_clock_step *cs, int64_t *t, kf_err *err) {
  char *iso = NULL;
  size_t len = 0;
  kf_rc rc = kh_exec_expand(ex, &cs->iso, KH_RUNNER_MAX_TEXT, &iso, &len, err);
  if (rc != KF_OK)
    return rc;
  rc = kf_time_parse_iso(iso, t);
  if (rc != KF_OK)
    kf_err_set(err, KF_ERR_INVALID, "not an ISO 8601 time: \"%s\"", iso);
  kf_free(iso);
  return rc;
}

static kf_status kh_exec_clock(kh_exec *ex, size_t idx, const kh_clock_step *cs) {
  const kh_profile *p = ex->cfg->profile;
  if (p->clock == NULL || strcmp(p->clock, "konform") != 0)
    return kh_exec_outcome(ex, idx, KF_STATUS_SKIP, 0,
                           "the target has no test clock control (clock = %s)",
                           p->clock != NULL ? p->clock : "none");
  kf_err err;
  kf_err_init(&err);
  kh_http_response resp;
  kh_http_response_init(&resp);
  int64_t t = 0;
  kf_rc rc = KF_OK;
  switch (cs->op) {
  case KH_CLOCK_CREATE:
  case KH_CLOCK_CREATE_NOW: {
    if (cs->op == KH_CLOCK_CREATE)
      rc = kh_exec_clock_time(ex, cs, &t, &err);
    else
      t = kf_time_real_now();
    char *id = NULL;
    if (rc == KF_OK)
      rc = kh_clockdrv_create(p->base_url, t, ex->scenario->name, &resp, &id, &err);
    if (rc == KF_OK) {
      kh_exec_delete_clock(ex);
      ex->clock_id = id;
    }
    break;
  }
  case KH_CLOCK_ADVANCE:
  case KH_CLOCK_SET:
    if (ex->clock_id == NULL) {
      rc = kf_err_set(&err, KF_ERR_STATE, "there is no clock yet: write 'clock create' first");
    } else if (cs->op == KH_CLOCK_ADVANCE) {
      if (cs->advance_ms < 0 || cs->advance_ms % 1000 != 0)
        rc = kf_err_set(&err, KF_ERR_INVALID, "the test clock moves in whole seconds");
      else
        rc = kh_clockdrv_advance(p->base_url, ex->clock_id, cs->advance_ms / 1000, &resp, &err);
    } else {
      rc = kh_exec_clock_time(ex, cs, &t, &err);
      if (rc == KF_OK)
        rc = kh_clockdrv_set(p->base_url, ex->clock_id, t, &resp, &err);
    }
    break;
  }
  kh_exec_keep_traces(ex, idx, &resp);
  kh_http_response_release(&resp);
  if (rc != KF_OK)
    return kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0, "clock: %s", err.message);
  return KF_STATUS_PASS;
}

/* The text of a `use` argument: strings interpolated, other literals spelled out. */
static kf_rc kh_exec_arg_text(kh_exec *ex, const kh_literal *lit, char **out, size_t *len,
                              kf_err *err) {
  switch (lit->kind) {
  case KH_LIT_STRING:
    return kh_exec_expand(ex, &lit->str, KH_VAR_MAX_BYTES, out, len, err);
  case KH_LIT_NUMBER:
    *out = kf_str_printf("%lld", lit->number);
    break;
  case KH_LIT_BOOL:
    *out = kf_strdup(lit->boolean ? "true" : "false");
    break;
  case KH_LIT_NULL:
    *out = kf_strdup("null");
    break;
  }
  if (*out == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  *len = strlen(*out);
  return KF_OK;
}

static kf_status kh_exec_use(kh_exec *ex, size_t idx, const kh_use *use, int depth) {
  const kh_fragment *frag = use->resolved;
  if (frag == NULL)
    return kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0, "unknown fragment %s", use->fragment_name);
  if (depth >= KH_SUITE_MAX_DEPTH)
    return kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0,
                           "fragments nested deeper than %d (a cycle?)", KH_SUITE_MAX_DEPTH);
  /* Expand every argument before setting any, so "email={{email}}" style calls see the caller's
   * values. */
  char *vals[64];
  size_t lens[64];
  size_t n = use->args_len;
  if (n > 64)
    return kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0, "more than 64 fragment arguments");
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = KF_OK;
  size_t done = 0;
  for (; rc == KF_OK && done < n; done++)
    rc = kh_exec_arg_text(ex, &use->args[done].value, &vals[done], &lens[done], &err);
  if (rc != KF_OK)
    done--;
  for (size_t i = 0; rc == KF_OK && i < n; i++) {
    const char *name = use->args[i].name != NULL ? use->args[i].name
                                                 : (i < frag->params_len ? frag->params[i] : NULL);
    if (name == NULL)
      rc = kf_err_set(&err, KF_ERR_INVALID, "argument %zu has no parameter", i + 1);
    else
      rc = kh_vars_set(&ex->vars, name, vals[i], lens[i]);
  }
  for (size_t i = 0; i < done; i++)
    kf_free(vals[i]);
  if (rc != KF_OK)
    return kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0, "%s", err.message);
  kf_status st = kh_exec_steps(ex, frag->steps, frag->steps_len, depth + 1);
  if (st != KF_STATUS_PASS) {
    /* The failing step inside the fragment carries the detail; point to it from the use line. */
    kf_step_result *sr = kh_exec_step_at(ex, idx);
    sr->status = st;
    kf_free(sr->message);
    sr->message =
        kf_str_printf("fragment %s did not complete (%s)", frag->name, kf_status_name(st));
  }
  return st;
}

/* Run one step (and its checks) into a new step result. */
static kf_status kh_exec_step(kh_exec *ex, const kh_step *st, int depth) {
  size_t idx = 0;
  if (kh_exec_add_step(ex, st, &idx) != KF_OK) {
    if (ex->res->steps_len == 0) {
      ex->res->status = KF_STATUS_ERROR;
      return KF_STATUS_ERROR;
    }
    return kh_exec_outcome(ex, ex->res->steps_len - 1, KF_STATUS_ERROR, 0, "out of memory");
  }
  int64_t start = kf_time_monotonic_ms();
  kf_status result = KF_STATUS_PASS;
  switch (st->kind) {
  case KH_STEP_LET:
    result = kh_exec_let(ex, idx, &st->u.let);
    break;
  case KH_STEP_HTTP:
    result = kh_exec_http(ex, idx, &st->u.http);
    break;
  case KH_STEP_WAIT:
    result = kh_exec_wait(ex, idx, &st->u.wait);
    break;
  case KH_STEP_CLOCK:
    result = kh_exec_clock(ex, idx, &st->u.clock);
    break;
  case KH_STEP_USE:
    result = kh_exec_use(ex, idx, &st->u.use, depth);
    break;
  case KH_STEP_CHECK:
    break;
  }
  if (result == KF_STATUS_PASS)
    result = kh_exec_checks(ex, idx, st->checks, st->checks_len);
  kh_exec_step_at(ex, idx)->duration_ms = kf_time_monotonic_ms() - start;
  return result;
}

static kf_status kh_exec_steps(kh_exec *ex, const kh_step *steps, size_t n, int depth) {
  for (size_t i = 0; i < n; i++) {
    kf_status st = kh_exec_step(ex, &steps[i], depth);
    if (st != KF_STATUS_PASS)
      return st;
  }
  return KF_STATUS_PASS;
}

/* Set the built-in variables: target.<key>, run.seed, run.id, scenario.name. */
static kf_rc kh_exec_builtins(kh_exec *ex) {
  const kh_profile *p = ex->cfg->profile;
  kf_rc rc = KF_OK;
  for (size_t i = 0; rc == KF_OK && i < p->len; i++) {
    char *name = kf_str_printf("target.%s", p->entries[i].key);
    if (name == NULL)
      return KF_ERR_NOMEM;
    rc = kh_vars_set(&ex->vars, name, p->entries[i].value, strlen(p->entries[i].value));
    kf_free(name);
  }
  if (rc == KF_OK && p->base_url != NULL)
    rc = kh_vars_set(&ex->vars, "target.base_url", p->base_url, strlen(p->base_url));
  char num[32];
  if (rc == KF_OK)
    rc = kf_str_format(num, sizeof(num), "%llu", (unsigned long long)ex->cfg->seed);
  if (rc == KF_OK)
    rc = kh_vars_set(&ex->vars, "run.seed", num, strlen(num));
  if (rc == KF_OK)
    rc = kf_str_format(num, sizeof(num), "%016llx", (unsigned long long)ex->cfg->run_id);
  if (rc == KF_OK)
    rc = kh_vars_set(&ex->vars, "run.id", num, strlen(num));
  if (rc == KF_OK)
    rc = kh_vars_set(&ex->vars, "scenario.name", ex->scenario->name, strlen(ex->scenario->name));
  return rc;
}

/* Set a skip outcome on the scenario itself (no step ran). */
static void kh_exec_skip(kf_scenario_result *res, const char *why) {
  res->status = KF_STATUS_SKIP;
  kf_free(res->message);
  res->message = kf_strdup(why);
}

/* Where every scenario's wait cursors start: the mocks' last ids before the run. */
typedef struct kh_runner_start {
  int64_t mail_id;
  int64_t letter_id;
} kh_runner_start;

static void kh_runner_run_one(const kh_runner_config *cfg, const kh_runner_start *from,
                              const kh_suite_entry *entry, kf_scenario_result *res) {
  int64_t start = kf_time_monotonic_ms();
  const kh_scenario *sc = entry->scenario;
  const kh_profile *p = cfg->profile;
  kh_needs needs = {0};
  kh_needs_scan(sc->steps, sc->steps_len, 0, &needs);
  res->status = KF_STATUS_PASS;
  if (needs.too_deep) {
    res->status = KF_STATUS_ERROR;
    kf_free(res->message);
    res->message = kf_str_printf("fragments nested deeper than %d (a cycle?)", KH_SUITE_MAX_DEPTH);
  } else if (needs.clock && (p->clock == NULL || strcmp(p->clock, "konform") != 0)) {
    kh_exec_skip(
        res,
        "the target has no test clock control (profile clock is not \"konform\"); this scenario "
        "needs one");
  } else if (needs.mail && p->mail_api == NULL) {
    kh_exec_skip(res, "the target profile sets no mail_api; this scenario waits for mail");
  } else if (needs.letter && p->post_api == NULL) {
    kh_exec_skip(res, "the target profile sets no post_api; this scenario waits for letters");
  } else {
    kh_exec ex;
    memset(&ex, 0, sizeof(ex));
    ex.cfg = cfg;
    ex.scenario = sc;
    ex.res = res;
    /* Mail that was there before the run (an earlier run with this --run-id) is never seen. */
    ex.last_mail_id = from->mail_id;
    ex.last_letter_id = from->letter_id;
    kh_vars_init(&ex.vars);
    kh_gen_ctx_init(&ex.gen, cfg->seed, cfg->run_id, entry->index);
    if (kh_exec_builtins(&ex) != KF_OK) {
      res->status = KF_STATUS_ERROR;
      res->message = kf_strdup("out of memory setting the built-in variables");
    } else {
      kh_exec_steps(&ex, sc->steps, sc->steps_len, 0);
    }
    kh_exec_delete_clock(&ex);
    if (res->status == KF_STATUS_PASS && ex.expects == 0) {
      /* Steps that merely ran show nothing about the target: that is no pass. */
      res->status = KF_STATUS_ERROR;
      kf_free(res->message);
      res->message = kf_strdup("the scenario asserts nothing");
    }
    kh_vars_release(&ex.vars);
    json_decref(ex.response);
    json_decref(ex.mail);
    json_decref(ex.letter);
  }
  res->duration_ms = kf_time_monotonic_ms() - start;
}

/* ---- The worker pool. ---- */

typedef struct kh_pool {
  pthread_mutex_t lock;
  const kh_runner_config *cfg;
  kh_runner_start from;
  const kh_suite_entry **entries; /* The selected entries, in load order. */
  kf_scenario_result *slots;      /* run->scenarios, one per entry. */
  size_t total;
  size_t next;
  size_t done;
} kh_pool;

static void *kh_pool_worker(void *arg) {
  kh_pool *pool = arg;
  for (;;) {
    pthread_mutex_lock(&pool->lock);
    size_t i = pool->next < pool->total ? pool->next++ : pool->total;
    pthread_mutex_unlock(&pool->lock);
    if (i >= pool->total)
      break;
    kh_runner_run_one(pool->cfg, &pool->from, pool->entries[i], &pool->slots[i]);
    pthread_mutex_lock(&pool->lock);
    pool->done++;
    if (pool->cfg->progress != NULL)
      pool->cfg->progress(&pool->slots[i], pool->done, pool->total, pool->cfg->progress_ctx);
    pthread_mutex_unlock(&pool->lock);
  }
  return NULL;
}

kf_rc kh_runner_run(const kh_runner_config *cfg, kf_run_result *run, kf_err *err) {
  assert(cfg != NULL && cfg->suite != NULL && cfg->profile != NULL && run != NULL);
  assert(cfg->profile->base_url != NULL);
  int64_t start = kf_time_monotonic_ms();
  run->started_at = kf_time_real_now();
  run->seed = cfg->seed;
  run->run_id = cfg->run_id;
  run->target = kf_strdup(cfg->target_label != NULL ? cfg->target_label : cfg->profile->base_url);
  run->base_url = kf_strdup(cfg->profile->base_url);
  if (run->target == NULL || run->base_url == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");

  if (cfg->catalogue != NULL) {
    for (size_t i = 0; i < cfg->catalogue->len; i++) {
      const kh_requirement *r = &cfg->catalogue->items[i];
      if (kf_run_result_add_requirement(run, r->id, r->area, r->title, r->source) != KF_OK)
        return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
    }
  }

  const kh_suite *suite = cfg->suite;
  const kh_suite_entry **entries =
      kf_calloc(suite->entries_len > 0 ? suite->entries_len : 1, sizeof(*entries));
  if (entries == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  size_t total = 0;
  for (size_t i = 0; i < suite->entries_len; i++) {
    const kh_suite_entry *e = &suite->entries[i];
    if (!kh_selection_match(cfg->selection, e->scenario))
      continue;
    kf_scenario_result *slot = NULL;
    kf_rc rc = kf_run_result_add_scenario(
        run, e->scenario->name, e->file->path, e->scenario->pos.line,
        (const char *const *)e->scenario->covers, e->scenario->covers_len,
        (const char *const *)e->scenario->tags, e->scenario->tags_len, &slot);
    if (rc != KF_OK) {
      kf_free(entries);
      return kf_err_set(err, rc, "out of memory");
    }
    entries[total++] = e;
  }
  assert(total == run->scenarios_len);

  /* Count, per requirement, the covering scenarios the selection left out. */
  for (size_t r = 0; r < run->requirements_len; r++) {
    kf_requirement *rq = &run->requirements[r];
    for (size_t i = 0; i < suite->entries_len; i++) {
      const kh_scenario *sc = suite->entries[i].scenario;
      if (kh_selection_match(cfg->selection, sc))
        continue;
      for (size_t j = 0; j < sc->covers_len; j++) {
        if (strcmp(sc->covers[j], rq->id) == 0) {
          rq->not_selected++;
          break;
        }
      }
    }
  }

  /* The mocks' newest ids now: every wait of this run looks only at what comes later. */
  kh_runner_start from = {0, 0};
  const char *apis[2] = {cfg->profile->mail_api, cfg->profile->post_api};
  int64_t *ids[2] = {&from.mail_id, &from.letter_id};
  for (size_t i = 0; i < 2; i++) {
    if (apis[i] == NULL)
      continue;
    kf_err herr;
    kf_err_init(&herr);
    kf_rc rc = kh_mocks_health(apis[i], KH_RUNNER_HEALTH_TIMEOUT_MS, ids[i], &herr);
    if (rc != KF_OK) {
      kf_free(entries);
      return kf_err_set(err, rc, "the %s mock (%s) cannot tell its last id: %s",
                        i == 0 ? "mail" : "post", apis[i], herr.message);
    }
  }

  /* Slots are only taken now: adding scenarios may move the array. */
  kh_pool pool = {
      .cfg = cfg, .from = from, .entries = entries, .slots = run->scenarios, .total = total};
  pthread_mutex_init(&pool.lock, NULL);
  size_t jobs = cfg->jobs > 0 ? cfg->jobs : 1;
  if (jobs > total)
    jobs = total;
  if (jobs > 256)
    jobs = 256;
  pthread_t threads[256];
  size_t started = 0;
  for (; started < jobs; started++)
    if (pthread_create(&threads[started], NULL, kh_pool_worker, &pool) != 0)
      break;
  /* With no thread at all, work on this one: slower, but the run still happens. */
  if (started == 0 && total > 0)
    kh_pool_worker(&pool);
  for (size_t i = 0; i < started; i++)
    pthread_join(threads[i], NULL);
  pthread_mutex_destroy(&pool.lock);
  kf_free(entries);
  run->duration_ms = kf_time_monotonic_ms() - start;
  return KF_OK;
}
