/*
 * kh_step_passkey.c: the passkey step (see kh_step_passkey.h). The
 * authenticator has no state of its own: a credential lives in the
 * scenario's variable KEY, so scenarios running in parallel never share one.
 * Each ceremony is recorded as one exchange (the options in, the response
 * out) and the clientDataJSON it made as an artifact, so a report shows
 * what the authenticator sent without decoding base64url by hand.
 */
#include "kh_step_passkey.h"

#include <curl/curl.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/str.h"
#include "kf/timeutil.h"
#include "kh_exec.h"
#include "kh_lint.h"

#define KH_PASSKEY_SYNOPSIS                                                                        \
  "passkey create|get KEY from \"OPTIONS\" [fmt none|packed] [origin \"URL\"] "                    \
  "[rp-id \"ID\"] [fault KNOB [\"ARG\"]] into VAR"

/* ---- Parsing. ---- */

static kf_rc kh_passkey_parse_fmt(kh_cur *c, kh_passkey_step *ps, size_t at) {
  if (!ps->create) {
    (void)kh_cur_error(c, at, "'fmt' belongs to 'passkey create'");
    return kh_cur_hint(c, "an assertion has no attestation; drop 'fmt'");
  }
  if (kh_cur_accept_word(c, "packed")) {
    ps->packed = true;
    return KF_OK;
  }
  if (kh_cur_accept_word(c, "none"))
    return KF_OK;
  size_t n = kh_cur_peek_word(c);
  (void)kh_cur_error_kind(c, c->i, KH_DIAG_UNKNOWN_WORD, "expected 'none' or 'packed' after 'fmt'");
  static const char *const fmts[] = {"none", "packed", NULL};
  return n > 0 ? kh_cur_hint_names(c, c->s + c->i, n, fmts, "attestation formats")
               : kh_cur_hint(c, "write 'fmt packed' (self attestation) or 'fmt none'");
}

static kf_rc kh_passkey_parse_fault(kh_cur *c, kh_passkey_step *ps) {
  size_t n = kh_cur_peek_word(c);
  size_t at = c->i;
  const kh_authn_fault_def *def = kh_authn_fault_find(c->s + at, n);
  if (def == NULL) {
    (void)kh_cur_error_kind(c, at, KH_DIAG_UNKNOWN_WORD, "unknown passkey knob '%.*s'",
                            (int)(n > 40 ? 40 : n), c->s + at);
    return kh_cur_hint_names(c, c->s + at, n, kh_authn_fault_names(), "passkey knobs");
  }
  c->i += n;
  unsigned mine = ps->create ? KH_AUTHN_CREATE : KH_AUTHN_GET;
  if ((def->ceremonies & mine) == 0) {
    (void)kh_cur_error(c, at, "knob '%s' applies to 'passkey %s' only", def->name,
                       ps->create ? "get" : "create");
    return kh_cur_hint(c, "%s: %s", def->name, def->what);
  }
  if (ps->knobs_len == KH_AUTHN_MAX_FAULTS) {
    (void)kh_cur_error(c, at, "more than %d knobs in one passkey step", KH_AUTHN_MAX_FAULTS);
    return kh_cur_hint(c, "a negative case breaks one thing; split the step");
  }
  kh_passkey_knob *k = &ps->knobs[ps->knobs_len++];
  k->def = def;
  kh_cur_skip_blanks(c);
  bool quoted = c->i < c->len && c->s[c->i] == '"';
  if (quoted && def->arg == KH_AUTHN_ARG_NONE) {
    (void)kh_cur_error(c, c->i, "knob '%s' takes no argument", def->name);
    return kh_cur_hint(c, "%s: %s", def->name, def->what);
  }
  if (!quoted && def->arg == KH_AUTHN_ARG_REQUIRED) {
    (void)kh_cur_error_kind(c, c->i, KH_DIAG_EXPECTED_TOKEN, "knob '%s' needs a quoted argument",
                            def->name);
    return kh_cur_hint(c, "%s: %s", def->name, def->what);
  }
  return quoted ? kh_cur_read_string(c, &k->arg) : KF_OK;
}

/* One clause after KEY, in any order; the parse function checks that the required ones came. */
static kf_rc kh_passkey_parse_clause(kh_cur *c, kh_passkey_step *ps) {
  size_t at = c->i;
  if (kh_cur_accept_word(c, "from"))
    return kh_cur_need_string(c, &ps->options, "the options JSON after 'from'");
  if (kh_cur_accept_word(c, "fmt"))
    return kh_passkey_parse_fmt(c, ps, at);
  if (kh_cur_accept_word(c, "origin"))
    return kh_cur_need_string(c, &ps->origin, "an origin after 'origin'");
  if (kh_cur_accept_word(c, "rp-id"))
    return kh_cur_need_string(c, &ps->rp_id, "an RP id after 'rp-id'");
  if (kh_cur_accept_word(c, "fault"))
    return kh_passkey_parse_fault(c, ps);
  if (kh_cur_accept_word(c, "into"))
    return kh_cur_read_name(c, &ps->into, "a variable name after 'into'");
  if (kh_cur_at_hash(c)) {
    (void)kh_cur_error(c, c->i, "unexpected '#' after a passkey step");
    return kh_cur_hint_comment(c);
  }
  size_t n = kh_cur_peek_word(c);
  (void)kh_cur_error_kind(c, c->i, KH_DIAG_UNKNOWN_WORD, "unexpected '%.*s' in a passkey step",
                          (int)(n == 0   ? 1
                                : n > 40 ? 40
                                         : n),
                          c->s + c->i);
  static const char *const words[] = {"from", "fmt", "origin", "rp-id", "fault", "into", NULL};
  return n > 0 ? kh_cur_hint_names(c, c->s + c->i, n, words, "passkey clauses")
               : kh_cur_hint(c, "%s", KH_PASSKEY_SYNOPSIS);
}

static kf_rc kh_passkey_parse(kh_cur *c, kh_step *step, size_t kw_len) {
  kh_passkey_step *ps = step->data;
  c->i = kw_len;
  if (kh_cur_accept_word(c, "get")) {
    ps->create = false;
  } else if (kh_cur_accept_word(c, "create")) {
    ps->create = true;
  } else {
    size_t n = kh_cur_peek_word(c);
    (void)kh_cur_error_kind(c, c->i, KH_DIAG_UNKNOWN_WORD,
                            "expected 'create' or 'get' after 'passkey'");
    static const char *const ops[] = {"create", "get", NULL};
    return n > 0 ? kh_cur_hint_names(c, c->s + c->i, n, ops, "passkey ceremonies")
                 : kh_cur_hint(c, "%s", KH_PASSKEY_SYNOPSIS);
  }
  kf_rc rc = kh_cur_read_name(c, &ps->key, "the credential's variable name");
  /* Only a parse error gets the synopsis; running out of memory stays KF_ERR_NOMEM. */
  if (rc == KF_ERR_PARSE)
    return kh_cur_hint(c, "%s", KH_PASSKEY_SYNOPSIS);
  while (rc == KF_OK && !kh_cur_at_end(c))
    rc = kh_passkey_parse_clause(c, ps);
  if (rc != KF_OK)
    return rc;
  if (ps->options.text == NULL || ps->into == NULL) {
    (void)kh_cur_error_kind(c, c->i, KH_DIAG_EXPECTED_TOKEN, "a passkey step needs %s",
                            ps->options.text == NULL ? "'from \"OPTIONS\"'" : "'into VAR'");
    return kh_cur_hint(c, "%s", KH_PASSKEY_SYNOPSIS);
  }
  if (strcmp(ps->key, ps->into) == 0) {
    (void)kh_cur_error(c, kw_len, "'into %s' would overwrite the credential %s", ps->into, ps->key);
    return kh_cur_hint(c, "the response goes into a variable of its own: 'into %s_response'",
                       ps->key);
  }
  return KF_OK;
}

static void kh_passkey_release(void *data) {
  kh_passkey_step *ps = data;
  kh_template_release(&ps->options);
  kh_template_release(&ps->origin);
  kh_template_release(&ps->rp_id);
  for (size_t i = 0; i < ps->knobs_len; i++)
    kh_template_release(&ps->knobs[i].arg);
}

static void kh_passkey_lint(kh_lint_ctx *ctx, const kh_step *step) {
  const kh_passkey_step *ps = step->data;
  kh_lint_template(ctx, &ps->options);
  kh_lint_template(ctx, &ps->origin);
  kh_lint_template(ctx, &ps->rp_id);
  for (size_t i = 0; i < ps->knobs_len; i++)
    kh_lint_template(ctx, &ps->knobs[i].arg);
  if (!ps->create) {
    /* A get signs with a credential that an earlier create kept in KEY. */
    char ref[160];
    if (kf_str_format(ref, sizeof ref, "{{%s}}", ps->key) == KF_OK) {
      kh_template t = {ref, strlen(ref)};
      kh_lint_template(ctx, &t);
    }
  }
  /* The credential is JSON that must never land unescaped inside a JSON string. */
  kh_lint_define(ctx, ps->key, true);
  /* The response is a JSON value written as a value: {"credential": {{VAR}}}. */
  kh_lint_define(ctx, ps->into, false);
}

/* ---- Running. ---- */

/* The origin (scheme://host[:port]) and host of url, with libcurl's URL parser. */
static kf_rc kh_passkey_origin_of(const char *url, char **origin, char **host, kf_err *err) {
  CURLU *u = curl_url();
  char *scheme = NULL, *h = NULL, *port = NULL;
  kf_rc rc = KF_OK;
  if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK)
    rc = kf_err_set(err, KF_ERR_INVALID, "the target's public_url \"%s\" has no origin", url);
  if (rc == KF_OK && curl_url_get(u, CURLUPART_PORT, &port, CURLU_NO_DEFAULT_PORT) != CURLUE_OK)
    port = NULL;
  if (rc == KF_OK) {
    *origin = port != NULL ? kf_str_printf("%s://%s:%s", scheme, h, port)
                           : kf_str_printf("%s://%s", scheme, h);
    /* An IPv6 host comes in brackets; the RP id is the bare address. */
    size_t hl = strlen(h);
    *host = h[0] == '[' && hl > 1 ? kf_strndup(h + 1, hl - 2) : kf_strdup(h);
    if (*origin == NULL || *host == NULL)
      rc = kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  }
  curl_free(scheme);
  curl_free(h);
  curl_free(port);
  curl_url_cleanup(u);
  return rc;
}

/* What one run of the step owns: texts expanded from its templates. */
typedef struct kh_passkey_run {
  char *options_text;
  json_t *options;
  char *origin;
  char *rp_id;
  bool rp_forced;
  char *args[KH_AUTHN_MAX_FAULTS];
  kh_authn_knob knobs[KH_AUTHN_MAX_FAULTS];
} kh_passkey_run;

static void kh_passkey_run_release(kh_passkey_run *r) {
  kf_free(r->options_text);
  json_decref(r->options);
  kf_free(r->origin);
  kf_free(r->rp_id);
  for (size_t i = 0; i < KH_AUTHN_MAX_FAULTS; i++)
    kf_free(r->args[i]);
}

/* Origin and RP id: the step's, else the target public_url's origin and host. */
static kf_rc kh_passkey_run_site(kh_exec *ex, const kh_passkey_step *ps, kh_passkey_run *r,
                                 kf_err *err) {
  const kh_profile *p = ex->cfg->profile;
  const char *url = p->public_url != NULL ? p->public_url : p->base_url;
  kf_rc rc = url != NULL ? kh_passkey_origin_of(url, &r->origin, &r->rp_id, err)
                         : kf_err_set(err, KF_ERR_INVALID, "the target has no public_url");
  if (rc == KF_OK && ps->origin.text != NULL) {
    kf_free(r->origin);
    r->origin = NULL;
    rc = kh_exec_expand_opt(ex, &ps->origin, &r->origin, err);
  }
  if (rc == KF_OK && ps->rp_id.text != NULL) {
    kf_free(r->rp_id);
    r->rp_id = NULL;
    r->rp_forced = true;
    rc = kh_exec_expand_opt(ex, &ps->rp_id, &r->rp_id, err);
  }
  return rc;
}

static kf_rc kh_passkey_run_prepare(kh_exec *ex, const kh_passkey_step *ps, kh_passkey_run *r,
                                    kf_err *err) {
  size_t len = 0;
  kf_rc rc = kh_exec_expand(ex, &ps->options, KH_EXEC_MAX_TEXT, &r->options_text, &len, err);
  if (rc != KF_OK)
    return rc;
  json_error_t jerr;
  r->options = json_loadb(r->options_text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!json_is_object(r->options))
    return kf_err_set(err, KF_ERR_INVALID, "the options are not a JSON object: %s",
                      r->options == NULL ? jerr.text : "another JSON value");
  rc = kh_passkey_run_site(ex, ps, r, err);
  for (size_t i = 0; rc == KF_OK && i < ps->knobs_len; i++) {
    r->knobs[i].fault = ps->knobs[i].def->fault;
    if (ps->knobs[i].arg.text != NULL)
      rc = kh_exec_expand(ex, &ps->knobs[i].arg, KH_EXEC_MAX_TEXT, &r->args[i], &len, err);
    r->knobs[i].arg = r->args[i];
  }
  return rc;
}

/* The ceremony as an exchange: the options in, what the authenticator answered out. */
static void kh_passkey_record(kh_exec *ex, const kh_passkey_step *ps, const kh_passkey_run *r,
                              const kh_authn_result *res, int64_t ms, const char *failure) {
  kf_step_result *st = &ex->res->steps[ex->step];
  kf_exchange *x = NULL;
  if (kf_step_result_add_exchange(st, &x) != KF_OK)
    return; /* The report then lacks the exchange; the verdict does not depend on it. */
  x->purpose = kf_strdup(ps->create ? "passkey create" : "passkey get");
  x->method = kf_strdup(ps->create ? "navigator.credentials.create" : "navigator.credentials.get");
  x->url = kf_strdup(r->origin != NULL ? r->origin : "?");
  x->duration_ms = ms;
  (void)kf_message_add_header(&x->request, "Content-Type", "application/json");
  for (size_t i = 0; i < ps->knobs_len; i++)
    (void)kf_message_add_header(&x->request, "Konform-Passkey-Knob", ps->knobs[i].def->name);
  if (r->options_text != NULL)
    (void)kf_message_set_body(&x->request, r->options_text, strlen(r->options_text));
  if (failure != NULL) {
    x->error = kf_str_printf("the authenticator refused: %s", failure);
    return;
  }
  x->status = 200; /* The report's shape needs a status; the line says what answered. */
  x->status_line = kf_strdup(ps->create ? "virtual authenticator: RegistrationResponseJSON"
                                        : "virtual authenticator: AuthenticationResponseJSON");
  (void)kf_message_add_header(&x->response, "Content-Type", "application/json");
  (void)kf_message_set_body(&x->response, res->response, strlen(res->response));
  kh_exec_keep_artifact(ex, "clientDataJSON (decoded)", "application/json", res->client_data,
                        strlen(res->client_data));
}

static kf_rc kh_passkey_ceremony(kh_exec *ex, const kh_passkey_step *ps, kh_passkey_run *r,
                                 kh_authn_result *res, kf_err *err) {
  kh_authn_params p = {.origin = r->origin,
                       .rp_id = r->rp_id,
                       .rp_id_forced = r->rp_forced,
                       .packed = ps->packed,
                       .knobs = r->knobs,
                       .knobs_len = ps->knobs_len};
  if (ps->create)
    return kh_authn_create(r->options, &p, res, err);
  const char *cred = kh_vars_get(&ex->vars, ps->key, NULL);
  if (cred == NULL)
    return kf_err_set(err, KF_ERR_NOT_FOUND,
                      "there is no passkey %s: write 'passkey create %s from ...' first", ps->key,
                      ps->key);
  return kh_authn_get(r->options, cred, &p, res, err);
}

static kf_status kh_passkey_exec(kh_exec *ex, size_t idx, const kh_step *step, int depth) {
  (void)depth;
  const kh_passkey_step *ps = step->data;
  kf_err err;
  kf_err_init(&err);
  kh_passkey_run r;
  memset(&r, 0, sizeof r);
  kh_authn_result res;
  kh_authn_result_init(&res);
  int64_t t0 = kf_time_monotonic_ms();
  kf_rc rc = kh_passkey_run_prepare(ex, ps, &r, &err);
  if (rc == KF_OK)
    rc = kh_passkey_ceremony(ex, ps, &r, &res, &err);
  kh_passkey_record(ex, ps, &r, &res, kf_time_monotonic_ms() - t0,
                    rc == KF_OK ? NULL : err.message);
  if (rc == KF_OK)
    rc = kh_vars_set(&ex->vars, ps->key, res.credential, strlen(res.credential));
  if (rc == KF_OK)
    rc = kh_vars_set(&ex->vars, ps->into, res.response, strlen(res.response));
  kh_authn_result_release(&res);
  kh_passkey_run_release(&r);
  if (rc != KF_OK)
    return kh_exec_outcome(ex, idx, KF_STATUS_ERROR, 0, "passkey %s: %s",
                           ps->create ? "create" : "get",
                           err.message[0] != '\0' ? err.message : kf_rc_name(rc));
  return KF_STATUS_PASS;
}

static const char *const KH_PASSKEY_WORDS[] = {"passkey", NULL};

const kh_step_def kh_step_passkey = {
    .what = "a passkey ceremony",
    .keywords = KH_PASSKEY_WORDS,
    .synopsis = KH_PASSKEY_SYNOPSIS,
    .data_size = sizeof(kh_passkey_step),
    .parse = kh_passkey_parse,
    .release = kh_passkey_release,
    .lint = kh_passkey_lint,
    .exec = kh_passkey_exec,
};
