/*
 * ks_pk_api.c: the passkey area's handlers.
 *
 * Each ceremony is one write transaction: the challenge it names is used up
 * (whatever the verdict), the facts the verifier needs are read, and only a
 * verified ceremony changes anything else (a passkey stored and the session
 * moved to full; or the counter, a new session and the lockout reset). The
 * answer is the first failed check's error row, 400 for a registration and
 * 401 for a login.
 */
#include "ks_pk_api.h"

#include <assert.h>
#include <curl/curl.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/str.h"
#include "kf/timeutil.h"
#include "kf/utf8.h"
#include "ks_account.h"
#include "ks_handler.h"
#include "ks_lockout.h"
#include "ks_passkey.h"
#include "ks_session.h"

#define PK_RP_NAME "Jobcenter.Digital"
#define PK_TIMEOUT_MS 300000
#define PK_DEFAULT_NAME "Passkey"
/* A passkey's name: 1 to 64 characters, no control characters. */
#define PK_NAME_MAX_CHARS 64
#define PK_HOST_MAX 256
#define PK_ORIGIN_MAX 512

/* The answer of a failed registration check (400). */
static const ks_error pk_reg_errors[KS_WA_RESULT_COUNT] = {
    [KS_WA_CREDENTIAL_MALFORMED] = KS_ERR_PK_REG_CREDENTIAL_MALFORMED,
    [KS_WA_CLIENT_DATA_TYPE] = KS_ERR_PK_REG_CLIENT_DATA_TYPE,
    [KS_WA_CHALLENGE_UNKNOWN] = KS_ERR_PK_REG_CHALLENGE_UNKNOWN,
    [KS_WA_CHALLENGE_EXPIRED] = KS_ERR_PK_REG_CHALLENGE_EXPIRED,
    [KS_WA_ORIGIN] = KS_ERR_PK_REG_ORIGIN,
    [KS_WA_CROSS_ORIGIN] = KS_ERR_PK_REG_CROSS_ORIGIN,
    [KS_WA_TOP_ORIGIN] = KS_ERR_PK_REG_TOP_ORIGIN,
    [KS_WA_AUTH_DATA_MALFORMED] = KS_ERR_PK_REG_AUTH_DATA_MALFORMED,
    [KS_WA_RP_ID_HASH] = KS_ERR_PK_REG_RP_ID_HASH,
    [KS_WA_USER_PRESENCE] = KS_ERR_PK_REG_USER_PRESENCE,
    [KS_WA_USER_VERIFICATION] = KS_ERR_PK_REG_USER_VERIFICATION,
    [KS_WA_BACKUP_STATE] = KS_ERR_PK_REG_BACKUP_STATE,
    [KS_WA_ATTESTED_DATA_MISSING] = KS_ERR_PK_REG_ATTESTED_DATA_MISSING,
    [KS_WA_ALGORITHM] = KS_ERR_PK_REG_ALGORITHM,
    [KS_WA_ATTESTATION_FORMAT] = KS_ERR_PK_REG_ATTESTATION_FORMAT,
    [KS_WA_ATTESTATION_STATEMENT] = KS_ERR_PK_REG_ATTESTATION_STATEMENT,
    [KS_WA_CREDENTIAL_ID_LENGTH] = KS_ERR_PK_REG_CREDENTIAL_ID_LENGTH,
    [KS_WA_CREDENTIAL_ID_TAKEN] = KS_ERR_PK_REG_CREDENTIAL_ID_TAKEN,
};

/* The answer of a failed login check (401). */
static const ks_error pk_login_errors[KS_WA_RESULT_COUNT] = {
    [KS_WA_CREDENTIAL_MALFORMED] = KS_ERR_PK_LOGIN_CREDENTIAL_MALFORMED,
    [KS_WA_CLIENT_DATA_TYPE] = KS_ERR_PK_LOGIN_CLIENT_DATA_TYPE,
    [KS_WA_CHALLENGE_UNKNOWN] = KS_ERR_PK_LOGIN_CHALLENGE_UNKNOWN,
    [KS_WA_CHALLENGE_EXPIRED] = KS_ERR_PK_LOGIN_CHALLENGE_EXPIRED,
    [KS_WA_ORIGIN] = KS_ERR_PK_LOGIN_ORIGIN,
    [KS_WA_CROSS_ORIGIN] = KS_ERR_PK_LOGIN_CROSS_ORIGIN,
    [KS_WA_TOP_ORIGIN] = KS_ERR_PK_LOGIN_TOP_ORIGIN,
    [KS_WA_AUTH_DATA_MALFORMED] = KS_ERR_PK_LOGIN_AUTH_DATA_MALFORMED,
    [KS_WA_RP_ID_HASH] = KS_ERR_PK_LOGIN_RP_ID_HASH,
    [KS_WA_USER_PRESENCE] = KS_ERR_PK_LOGIN_USER_PRESENCE,
    [KS_WA_USER_VERIFICATION] = KS_ERR_PK_LOGIN_USER_VERIFICATION,
    [KS_WA_BACKUP_STATE] = KS_ERR_PK_LOGIN_BACKUP_STATE,
    [KS_WA_CREDENTIAL_UNKNOWN] = KS_ERR_PK_LOGIN_CREDENTIAL_UNKNOWN,
    [KS_WA_USER_HANDLE] = KS_ERR_PK_LOGIN_USER_HANDLE,
    [KS_WA_SIGNATURE] = KS_ERR_PK_LOGIN_SIGNATURE,
    [KS_WA_SIGN_COUNT] = KS_ERR_PK_LOGIN_SIGN_COUNT,
};

/* ---- What every handler shares. ---- */

/* The relying party of srv: the host of its public URL and the URL's origin (RFC 6454). */
typedef struct pk_rp {
  char rp_id[PK_HOST_MAX];
  char origin[PK_ORIGIN_MAX];
} pk_rp;

static kf_rc pk_rp_get(const ks_server *srv, pk_rp *rp, kf_err *err) {
  rp->rp_id[0] = '\0';
  rp->origin[0] = '\0';
  CURLU *u = curl_url();
  char *scheme = NULL, *host = NULL, *port = NULL;
  bool ok = u != NULL && curl_url_set(u, CURLUPART_URL, srv->public_url, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK;
  /* The origin names the port only when it is not the scheme's default. */
  if (ok && curl_url_get(u, CURLUPART_PORT, &port, CURLU_NO_DEFAULT_PORT) != CURLUE_OK)
    port = NULL;
  kf_rc rc = ok ? kf_str_copy(rp->rp_id, sizeof rp->rp_id, host) : KF_ERR_INVALID;
  if (rc == KF_OK)
    rc = kf_str_format(rp->origin, sizeof rp->origin, "%s://%s%s%s", scheme, host,
                       port != NULL ? ":" : "", port != NULL ? port : "");
  kf_str_ascii_lower(rp->rp_id);
  kf_str_ascii_lower(rp->origin);
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "the public URL %s names no relying party", srv->public_url);
  return KF_OK;
}

/* A new JSON string of base64url bytes (NULL: no memory, which json_pack's "o" turns into NULL). */
static json_t *pk_b64_json(const unsigned char *bytes, size_t n) {
  char *text = ks_wa_b64url(bytes, n);
  json_t *s = text != NULL ? json_string(text) : NULL;
  kf_free(text);
  return s;
}

/* An instant as JSON: an RFC 3339 UTC string, or null for 0 (never). */
static json_t *pk_time_json(int64_t t) {
  char iso[KF_TIME_ISO_MAX];
  if (t == 0 || kf_time_format_iso(t, iso, sizeof iso) != KF_OK)
    return json_null();
  return json_string(iso);
}

/* Registration is for a session that may set up a second factor: not one waiting for its TOTP. */
static bool pk_may_register(kf_http_req *req, kf_http_resp *resp) {
  if (ks_handler_ctx(req)->session.stage != KS_SESSION_SECOND_FACTOR)
    return true;
  ks_handler_error(req, resp, KS_ERR_SECOND_FACTOR_REQUIRED);
  return false;
}

/* ---- Registration options (PK-02). ---- */

typedef struct pk_reg_opts {
  const ks_server *srv;
  const ks_session_info *session;
  int64_t now;
  unsigned char challenge[KS_WA_CHALLENGE_MAX];
  size_t challenge_len;
  unsigned char handle[KS_WA_USER_HANDLE_MAX];
  size_t handle_len;
  char username[KS_PK_USERNAME_MAX];
  json_t *exclude; /* [{type, id}] of the account's passkeys (owned). */
} pk_reg_opts;

static kf_rc pk_exclude_add(const ks_passkey *pk, void *ctx, kf_err *err) {
  json_t *item = json_pack("{s:s, s:o}", "type", "public-key", "id",
                           pk_b64_json(pk->cred_id, pk->cred_id_len));
  if (item == NULL || json_array_append_new(ctx, item) != 0)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  return KF_OK;
}

static kf_rc pk_reg_opts_tx(sqlite3 *conn, void *arg, kf_err *err) {
  pk_reg_opts *o = arg;
  int64_t account = o->session->account_id;
  kf_rc rc = ks_passkey_user_handle(o->srv, conn, account, o->handle, &o->handle_len, err);
  if (rc == KF_OK)
    rc = ks_account_username(conn, account, o->username, sizeof o->username, err);
  if (rc == KF_OK)
    rc = ks_passkey_challenge_issue(o->srv, conn, KS_PK_CHALLENGE_CREATE, o->session->rowid, o->now,
                                    o->challenge, &o->challenge_len, err);
  if (rc == KF_OK && !ks_fault_on(o->srv, KS_FAULT_PK_EXCLUDE_MISSING))
    rc = ks_passkey_each(conn, account, pk_exclude_add, o->exclude, err);
  return rc;
}

static json_t *pk_reg_opts_json(const pk_reg_opts *o, const pk_rp *rp) {
  return json_pack("{s:o, s:{s:s, s:s}, s:{s:o, s:s, s:s}, s:[{s:s, s:i}], s:i, s:O, "
                   "s:{s:s, s:s}, s:s}",
                   "challenge", pk_b64_json(o->challenge, o->challenge_len), "rp", "id", rp->rp_id,
                   "name", PK_RP_NAME, "user", "id", pk_b64_json(o->handle, o->handle_len), "name",
                   o->username, "displayName", o->username, "pubKeyCredParams", "type",
                   "public-key", "alg", KS_WA_COSE_ES256, "timeout", PK_TIMEOUT_MS,
                   "excludeCredentials", o->exclude, "authenticatorSelection", "residentKey",
                   "required", "userVerification", "required", "attestation", "none");
}

static void pk_registration_options(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  if (!pk_may_register(req, resp))
    return;
  pk_reg_opts o = {.srv = srv,
                   .session = &ks_handler_ctx(req)->session,
                   .now = ks_handler_now(req),
                   .exclude = json_array()};
  pk_rp rp;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = o.exclude != NULL ? pk_rp_get(srv, &rp, &err)
                               : kf_err_set(&err, KF_ERR_NOMEM, "out of memory");
  if (rc == KF_OK)
    rc = ks_db_in_tx(srv->db, pk_reg_opts_tx, &o, &err);
  if (rc == KF_OK)
    ks_handler_json_answer(req, resp, 200, pk_reg_opts_json(&o, &rp));
  else
    ks_handler_internal(req, resp, &err);
  json_decref(o.exclude);
}

/* ---- Registration (PK-01, PK-03, PK-05). ---- */

typedef struct pk_reg {
  const ks_server *srv;
  const ks_session_info *session;
  ks_wa_rp rp;
  ks_wa_registration cred;
  const char *name;
  ks_wa_result verdict;
} pk_reg;

static kf_rc pk_reg_tx(sqlite3 *conn, void *arg, kf_err *err) {
  pk_reg *r = arg;
  ks_wa_reg_facts f = {0};
  const ks_wa_registration *c = &r->cred;
  kf_rc rc = KF_OK;
  if (!c->malformed && c->cd.challenge_decoded)
    rc = ks_passkey_challenge_take(r->srv, conn, KS_PK_CHALLENGE_CREATE, r->session->rowid,
                                   c->cd.challenge, c->cd.challenge_len, r->rp.now,
                                   &f.challenge_found, &f.challenge_expires_at, err);
  if (rc == KF_OK && !c->malformed && c->ad.attested)
    rc = ks_passkey_id_taken(conn, c->ad.cred_id, c->ad.cred_id_len, &f.cred_id_taken, err);
  if (rc != KF_OK)
    return rc;
  r->verdict = ks_wa_registration_verify(r->srv, &r->rp, c, &f);
  if (r->verdict != KS_WA_OK)
    return KF_OK; /* Commit: the challenge stays used. */
  ks_passkey pk = {.account_id = r->session->account_id,
                   .cred_id = (unsigned char *)c->ad.cred_id,
                   .cred_id_len = c->ad.cred_id_len,
                   .cose_key = (unsigned char *)c->ad.cose_key,
                   .cose_key_len = c->ad.cose_key_len,
                   .alg = ks_wa_registration_alg(c),
                   .sign_count = c->ad.sign_count,
                   .backup_eligible = (c->ad.flags & KS_WA_FLAG_BE) != 0,
                   .name = (char *)r->name};
  rc = ks_passkey_insert(conn, &pk, r->rp.now, err);
  if (rc == KF_OK && r->session->stage == KS_SESSION_SECOND_FACTOR_SETUP)
    rc = ks_session_set_stage(conn, r->session->rowid, KS_SESSION_FULL, err);
  return rc;
}

/* The optional name: absent or null is "Passkey"; else 1 to 64 characters, no control ones. */
static bool pk_name(const json_t *body, const char **name) {
  const json_t *v = json_object_get(body, "name");
  *name = PK_DEFAULT_NAME;
  if (v == NULL || json_is_null(v))
    return true;
  if (!json_is_string(v))
    return false;
  const char *s = json_string_value(v);
  size_t len = json_string_length(v);
  for (size_t i = 0; i < len; i++) {
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
      return false;
  }
  *name = s;
  return len > 0 && kf_utf8_count(s, len) <= PK_NAME_MAX_CHARS;
}

static void pk_register_answer(kf_http_req *req, kf_http_resp *resp, const pk_reg *r) {
  if (r->verdict != KS_WA_OK) {
    ks_handler_error(req, resp, pk_reg_errors[r->verdict]);
    return;
  }
  ks_handler_json_answer(req, resp, 201,
                         json_pack("{s:o, s:s, s:o}", "id",
                                   pk_b64_json(r->cred.ad.cred_id, r->cred.ad.cred_id_len), "name",
                                   r->name, "created_at", pk_time_json(r->rp.now)));
}

static void pk_register(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  if (!pk_may_register(req, resp))
    return;
  const json_t *body = ks_handler_json(req);
  pk_reg r = {.srv = srv, .session = &ks_handler_ctx(req)->session};
  /* A bad name refuses the request before any ceremony step, so its challenge stays usable. */
  if (!pk_name(body, &r.name)) {
    json_t *error = ks_error_new(KS_ERR_VALIDATION_FAILED);
    ks_error_add_field(error, "name", KS_FIELD_INVALID_FIELD);
    ks_handler_invalid(req, resp, error);
    return;
  }
  pk_rp rp;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = pk_rp_get(srv, &rp, &err);
  r.rp = (ks_wa_rp){.rp_id = rp.rp_id, .origin = rp.origin, .now = ks_handler_now(req)};
  if (rc == KF_OK)
    rc = ks_wa_registration_parse(json_object_get(body, "credential"), &r.cred, &err);
  if (rc == KF_OK)
    rc = ks_db_in_tx(srv->db, pk_reg_tx, &r, &err);
  if (rc == KF_OK)
    pk_register_answer(req, resp, &r);
  else
    ks_handler_internal(req, resp, &err);
  ks_wa_registration_release(&r.cred);
}

/* ---- Login options and login (PK-01, PK-04). ---- */

typedef struct pk_login_opts {
  const ks_server *srv;
  int64_t now;
  unsigned char challenge[KS_WA_CHALLENGE_MAX];
  size_t challenge_len;
} pk_login_opts;

static kf_rc pk_login_opts_tx(sqlite3 *conn, void *arg, kf_err *err) {
  pk_login_opts *o = arg;
  return ks_passkey_challenge_issue(o->srv, conn, KS_PK_CHALLENGE_GET, 0, o->now, o->challenge,
                                    &o->challenge_len, err);
}

static void pk_login_options(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  pk_login_opts o = {.srv = srv, .now = ks_handler_now(req)};
  pk_rp rp;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = pk_rp_get(srv, &rp, &err);
  if (rc == KF_OK)
    rc = ks_db_in_tx(srv->db, pk_login_opts_tx, &o, &err);
  if (rc != KF_OK) {
    ks_handler_internal(req, resp, &err);
    return;
  }
  /* Discoverable credentials: the authenticator offers the account's passkeys itself. */
  ks_handler_json_answer(req, resp, 200,
                         json_pack("{s:o, s:s, s:i, s:s, s:[]}", "challenge",
                                   pk_b64_json(o.challenge, o.challenge_len), "rpId", rp.rp_id,
                                   "timeout", PK_TIMEOUT_MS, "userVerification", "required",
                                   "allowCredentials"));
}

typedef struct pk_login {
  const ks_server *srv;
  ks_wa_rp rp;
  ks_wa_assertion cred;
  ks_passkey stored;
  ks_wa_result verdict;
  char token[KS_TOKEN_HEX_LEN + 1];
} pk_login;

/* The facts of a login: its challenge (used up now), the credential and the user handle's owner. */
static kf_rc pk_login_facts(sqlite3 *conn, pk_login *l, ks_wa_login_facts *f, kf_err *err) {
  const ks_wa_assertion *c = &l->cred;
  kf_rc rc = KF_OK;
  if (c->malformed)
    return KF_OK;
  if (c->cd.challenge_decoded)
    rc = ks_passkey_challenge_take(l->srv, conn, KS_PK_CHALLENGE_GET, 0, c->cd.challenge,
                                   c->cd.challenge_len, l->rp.now, &f->challenge_found,
                                   &f->challenge_expires_at, err);
  if (rc == KF_OK)
    rc = ks_passkey_find(conn, c->raw_id, c->raw_id_len, &f->cred_found, &l->stored, err);
  if (rc == KF_OK && c->has_user_handle)
    rc = ks_passkey_handle_account(conn, c->user_handle, c->user_handle_len, &f->handle_found,
                                   &f->handle_account_id, err);
  f->cred_account_id = l->stored.account_id;
  f->cose_key = l->stored.cose_key;
  f->cose_key_len = l->stored.cose_key_len;
  f->stored_sign_count = l->stored.sign_count;
  f->backup_eligible = l->stored.backup_eligible;
  return rc;
}

static kf_rc pk_login_tx(sqlite3 *conn, void *arg, kf_err *err) {
  pk_login *l = arg;
  ks_wa_login_facts f = {0};
  kf_rc rc = pk_login_facts(conn, l, &f, err);
  if (rc != KF_OK)
    return rc;
  l->verdict = ks_wa_assertion_verify(l->srv, &l->rp, &l->cred, &f);
  if (l->verdict != KS_WA_OK)
    return KF_OK; /* Commit: the challenge stays used. */
  char username[KS_PK_USERNAME_MAX];
  rc = ks_passkey_used(conn, l->stored.rowid, l->cred.ad.sign_count, l->rp.now, err);
  if (rc == KF_OK)
    rc = ks_session_insert(conn, l->stored.account_id, KS_SESSION_FULL, l->rp.now, l->token, err);
  if (rc == KF_OK)
    rc = ks_account_username(conn, l->stored.account_id, username, sizeof username, err);
  /* A passkey login is a success like a second factor: the lockout count starts again. */
  if (rc == KF_OK)
    rc = ks_lockout_reset(conn, username, err);
  return rc;
}

static void pk_login_run(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  pk_login l = {.srv = srv};
  pk_rp rp;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = pk_rp_get(srv, &rp, &err);
  l.rp = (ks_wa_rp){.rp_id = rp.rp_id, .origin = rp.origin, .now = ks_handler_now(req)};
  if (rc == KF_OK)
    rc = ks_wa_assertion_parse(json_object_get(ks_handler_json(req), "credential"), &l.cred, &err);
  if (rc == KF_OK)
    rc = ks_db_in_tx(srv->db, pk_login_tx, &l, &err);
  if (rc != KF_OK)
    ks_handler_internal(req, resp, &err);
  else if (l.verdict != KS_WA_OK)
    ks_handler_error(req, resp, pk_login_errors[l.verdict]);
  else
    ks_handler_json_answer(
        req, resp, 201,
        json_pack("{s:s, s:s}", "token", l.token, "stage", ks_session_stage_name(KS_SESSION_FULL)));
  ks_wa_assertion_release(&l.cred);
  ks_passkey_release(&l.stored);
}

/* ---- The list and removal (PK-05). ---- */

static kf_rc pk_list_add(const ks_passkey *pk, void *ctx, kf_err *err) {
  json_t *item =
      json_pack("{s:o, s:s, s:o, s:o}", "id", pk_b64_json(pk->cred_id, pk->cred_id_len), "name",
                pk->name != NULL ? pk->name : PK_DEFAULT_NAME, "created_at",
                pk_time_json(pk->created_at), "last_used_at", pk_time_json(pk->last_used_at));
  if (item == NULL || json_array_append_new(ctx, item) != 0)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  return KF_OK;
}

static void pk_list(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  json_t *list = json_array();
  sqlite3 *conn = NULL;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = list != NULL ? ks_db_conn(srv->db, &conn, &err)
                          : kf_err_set(&err, KF_ERR_NOMEM, "out of memory");
  if (rc == KF_OK)
    rc = ks_passkey_each(conn, ks_handler_ctx(req)->session.account_id, pk_list_add, list, &err);
  if (rc == KF_OK)
    ks_handler_json_answer(req, resp, 200, json_pack("{s:O}", "passkeys", list));
  else
    ks_handler_internal(req, resp, &err);
  json_decref(list);
}

typedef struct pk_remove {
  const ks_server *srv;
  int64_t account_id;
  unsigned char id[KS_WA_BINARY_MAX];
  size_t id_len;
  bool found;
} pk_remove;

static kf_rc pk_remove_tx(sqlite3 *conn, void *arg, kf_err *err) {
  pk_remove *r = arg;
  return ks_passkey_remove(r->srv, conn, r->account_id, r->id, r->id_len, &r->found, err);
}

static void pk_delete(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  pk_remove *r = kf_calloc(1, sizeof *r);
  const char *id = kf_http_req_param(req, "id");
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = r != NULL ? KF_OK : kf_err_set(&err, KF_ERR_NOMEM, "out of memory");
  if (rc == KF_OK) {
    r->srv = srv;
    r->account_id = ks_handler_ctx(req)->session.account_id;
  }
  /* An id that is no base64url names no passkey: the same 404 as an unknown or another's one. */
  if (rc == KF_OK && ks_wa_b64url_decode(id, strlen(id), r->id, sizeof r->id, &r->id_len))
    rc = ks_db_in_tx(srv->db, pk_remove_tx, r, &err);
  if (rc != KF_OK)
    ks_handler_internal(req, resp, &err);
  else if (!r->found)
    ks_handler_error(req, resp, KS_ERR_PASSKEY_NOT_FOUND);
  else
    kf_http_resp_empty(resp, 204);
  kf_free(r);
}

static const ks_route pk_routes[] = {
    {"POST", "/api/v1/passkeys/registration-options", pk_registration_options, 0, KS_STAGE_SESSION},
    /* GET first, so a 405's Allow names GET and HEAD first, as on every GET route. */
    {"GET", "/api/v1/passkeys", pk_list, 0, KS_STAGE_FULL},
    {"POST", "/api/v1/passkeys", pk_register, KS_ROUTE_JSON, KS_STAGE_SESSION},
    {"DELETE", "/api/v1/passkeys/{id}", pk_delete, 0, KS_STAGE_FULL},
    {"POST", "/api/v1/passkey-logins/options", pk_login_options, 0, KS_STAGE_NONE},
    {"POST", "/api/v1/passkey-logins", pk_login_run, KS_ROUTE_JSON, KS_STAGE_NONE},
};

const ks_area ks_pk_api = {"passkeys", pk_routes, sizeof pk_routes / sizeof pk_routes[0]};
