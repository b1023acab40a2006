/*
 * ks_totp_api.c: the TOTP area's handlers.
 *
 * Each operation runs in one write transaction (totp_run): the secret it
 * reads, the step it stores, the session's stage and the lockout count
 * change together or not at all. A refused login code is committed too,
 * since its failure counts toward the lockout (TOTP-04).
 */
#include "ks_totp_api.h"

#include <liboath/oath.h>
#include <sodium.h>
#include <string.h>

#include "kf/sql.h"
#include "ks_account.h"
#include "ks_address.h"
#include "ks_fault.h"
#include "ks_handler.h"
#include "ks_lockout.h"
#include "ks_login.h"
#include "ks_totp.h"

/* Caps on what a setup answers; an otpauth URI of the longest address stays far below. */
#define TOTP_URI_MAX 4096

/* A secret row of totp_secrets as the operations read it. */
typedef struct totp_row {
  bool found;
  int64_t id;
  unsigned char secret[KS_TOTP_SECRET_MAX];
  size_t len;
  int64_t last_step; /* INT64_MIN when no code was accepted yet. */
} totp_row;

/*
 * One operation inside the transaction on conn: KS_ERR_COUNT and *body (the
 * success answer) when it succeeded, KS_ERR_INTERNAL_ERROR with err when
 * something broke, else the refusal to answer.
 */
typedef ks_error (*totp_op)(const ks_server *srv, sqlite3 *conn, kf_http_req *req, const char *code,
                            json_t **body, kf_err *err);

kf_rc ks_totp_active(sqlite3 *conn, int64_t account_id, bool *active, kf_err *err) {
  *active = false;
  kf_sql q;
  kf_rc rc =
      kf_sql_query(&q, conn, err, "SELECT 1 FROM totp_secrets WHERE account_id = ? AND active = 1",
                   "i", account_id);
  if (rc == KF_OK)
    rc = kf_sql_step(&q, active, err);
  kf_sql_finalize(&q);
  return rc;
}

ks_session_stage ks_totp_login_stage(const ks_server *srv, bool totp_active) {
  if (!totp_active)
    return KS_SESSION_SECOND_FACTOR_SETUP;
  if (ks_fault_on(srv, KS_FAULT_TOTP_LOGIN_SKIPPED))
    return KS_SESSION_FULL;
  return KS_SESSION_SECOND_FACTOR;
}

/* The account's active (active true) or pending secret into *row. */
static kf_rc totp_read(sqlite3 *conn, int64_t account_id, bool active, totp_row *row, kf_err *err) {
  memset(row, 0, sizeof *row);
  kf_sql q;
  kf_rc rc = kf_sql_query(&q, conn, err,
                          "SELECT id, secret, last_step FROM totp_secrets WHERE account_id = ? "
                          "AND active = ? ORDER BY id DESC LIMIT 1",
                          "id", account_id, active ? 1 : 0);
  if (rc != KF_OK)
    return rc;
  rc = kf_sql_step(&q, &row->found, err);
  if (rc == KF_OK && row->found) {
    row->id = kf_sql_int(&q, 0);
    int n = sqlite3_column_bytes(q.st, 1);
    const void *blob = sqlite3_column_blob(q.st, 1);
    if (n <= 0 || n > KS_TOTP_SECRET_MAX || blob == NULL)
      rc = kf_err_set(err, KF_ERR_STATE, "TOTP secret %lld of %d bytes", (long long)row->id, n);
    else {
      memcpy(row->secret, blob, (size_t)n);
      row->len = (size_t)n;
    }
    row->last_step = kf_sql_is_null(&q, 2) ? INT64_MIN : kf_sql_int(&q, 2);
  }
  kf_sql_finalize(&q);
  return rc;
}

/* TOTP-02's rule, as the faults of the catalogue bend it. */
static void totp_rule(const ks_server *srv, ks_totp_rule *rule) {
  ks_totp_rule_default(rule);
  if (ks_fault_on(srv, KS_FAULT_TOTP_WINDOW_TWO))
    rule->window = 2;
  if (ks_fault_on(srv, KS_FAULT_TOTP_NO_WINDOW))
    rule->window = 0;
  if (ks_fault_on(srv, KS_FAULT_TOTP_SHA256))
    rule->flags = OATH_TOTP_HMAC_SHA256;
  if (ks_fault_on(srv, KS_FAULT_TOTP_VALIDATE_OK_TRAP))
    rule->zero_only = true;
}

/* Whether code matches row's secret at now under that rule (*match), and the step it matched. */
static kf_rc totp_row_verify(const ks_server *srv, const totp_row *row, int64_t now,
                             const char *code, bool *match, int64_t *step, kf_err *err) {
  ks_totp_rule rule;
  totp_rule(srv, &rule);
  *match = false;
  *step = 0;
  return ks_totp_verify(row->secret, row->len, now, code, &rule, match, step, err);
}

/* TOTP-03: a step counts only when it is later than the last accepted one. */
static bool totp_step_fresh(const ks_server *srv, int64_t step, int64_t last) {
  if (ks_fault_on(srv, KS_FAULT_TOTP_REPLAY_ALLOWED))
    return step >= last;
  if (ks_fault_on(srv, KS_FAULT_TOTP_EARLIER_STEP_ALLOWED))
    return step != last;
  return step > last;
}

/* TOTP-05: setting up and activating needs a session past its password only, or a full one. */
static bool totp_setup_allowed(const ks_server *srv, ks_session_stage stage) {
  if (stage == KS_SESSION_SECOND_FACTOR && ks_fault_on(srv, KS_FAULT_TOTP_REPLACE_WITHOUT_LOGIN))
    return true;
  return stage == KS_SESSION_SECOND_FACTOR_SETUP || stage == KS_SESSION_FULL;
}

/* Whether the session may set up or activate; false after answering second-factor-required. */
static bool totp_setup_gate(const ks_server *srv, kf_http_req *req, kf_http_resp *resp) {
  if (totp_setup_allowed(srv, ks_handler_ctx(req)->session.stage))
    return true;
  ks_handler_error(req, resp, KS_ERR_SECOND_FACTOR_REQUIRED);
  return false;
}

/* The body's code; NULL after answering 400 when it is not six ASCII digits. */
static const char *totp_code(kf_http_req *req, kf_http_resp *resp) {
  const char *code = NULL;
  size_t len = 0;
  ks_member m = ks_handler_string(ks_handler_json(req), "code", &code, &len);
  if (m == KS_MEMBER_PRESENT && ks_totp_code_form(code, len))
    return code;
  json_t *error = ks_error_new(KS_ERR_VALIDATION_FAILED);
  ks_error_add_field(error, "code", KS_FIELD_TOTP_CODE_FORMAT);
  ks_handler_invalid(req, resp, error);
  return NULL;
}

/* Run op in one write transaction and answer what it decided (success: status). */
static void totp_run(kf_http_req *req, kf_http_resp *resp, const ks_server *srv, totp_op op,
                     const char *code, unsigned status) {
  kf_err err;
  kf_err_init(&err);
  sqlite3 *conn = NULL;
  json_t *body = NULL;
  ks_error e = KS_ERR_INTERNAL_ERROR;
  if (ks_db_conn(srv->db, &conn, &err) == KF_OK && ks_db_begin(conn, &err) == KF_OK) {
    e = op(srv, conn, req, code, &body, &err);
    if (e == KS_ERR_INTERNAL_ERROR || ks_db_commit(conn, &err) != KF_OK) {
      ks_db_rollback(conn);
      e = KS_ERR_INTERNAL_ERROR;
    }
  }
  if (e == KS_ERR_INTERNAL_ERROR) {
    json_decref(body);
    ks_handler_internal(req, resp, &err);
  } else if (e != KS_ERR_COUNT) {
    json_decref(body);
    ks_handler_error(req, resp, e);
  } else {
    ks_handler_json_answer(req, resp, status, body);
  }
}

static json_t *totp_full_body(void) {
  return json_pack("{s:s}", "stage", ks_session_stage_name(KS_SESSION_FULL));
}

/* ---- POST /api/v1/totp/setup (TOTP-01, TOTP-05). ---- */

/* The answer of a setup: the secret, its URI and the URI's QR code. */
static kf_rc totp_setup_body(const char *username, const char *b32, json_t **body, kf_err *err) {
  kf_buf uri, svg;
  kf_buf_init(&uri, TOTP_URI_MAX);
  kf_buf_init(&svg, KS_TOTP_SVG_MAX);
  kf_rc rc = ks_totp_uri(username, b32, &uri, err);
  if (rc == KF_OK)
    rc = ks_totp_qr_svg(uri.data, &svg, err);
  if (rc == KF_OK) {
    *body =
        json_pack("{s:s, s:s, s:s}", "secret", b32, "otpauth_uri", uri.data, "qr_svg", svg.data);
    if (*body == NULL)
      rc = kf_err_set(err, KF_ERR_NOMEM, "no memory for the setup answer");
  }
  kf_buf_release(&uri);
  kf_buf_release(&svg);
  return rc;
}

static ks_error totp_setup_op(const ks_server *srv, sqlite3 *conn, kf_http_req *req,
                              const char *code, json_t **body, kf_err *err) {
  (void)code;
  const ks_reqctx *c = ks_handler_ctx(req);
  size_t len = KS_TOTP_SECRET_BYTES;
  if (ks_fault_on(srv, KS_FAULT_TOTP_SECRET_80_BITS))
    len = 10;
  unsigned char secret[KS_TOTP_SECRET_BYTES];
  ks_totp_secret_new(secret, len);
  char b32[KS_TOTP_B32_MAX];
  char username[KS_ADDRESS_MAX + 1];
  kf_rc rc = ks_totp_base32(secret, len, b32, sizeof b32, err);
  if (rc == KF_OK)
    rc = ks_account_username(conn, c->session.account_id, username, sizeof username, err);
  if (rc == KF_OK)
    rc = totp_setup_body(username, b32, body, err);
  /* A new setup replaces the pending secret; the active one stays until activation. */
  if (rc == KF_OK)
    rc = kf_sql_run(conn, NULL, err, "DELETE FROM totp_secrets WHERE account_id = ? AND active = 0",
                    "i", c->session.account_id);
  if (rc == KF_OK)
    rc = kf_sql_run(conn, NULL, err,
                    "INSERT INTO totp_secrets (account_id, secret, active, last_step, created_at) "
                    "VALUES (?, ?, 0, NULL, ?)",
                    "ibi", c->session.account_id, secret, len, c->now);
  sodium_memzero(secret, sizeof secret);
  return rc == KF_OK ? KS_ERR_COUNT : KS_ERR_INTERNAL_ERROR;
}

static void totp_setup(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  const ks_server *srv = ctx;
  if (totp_setup_gate(srv, req, resp))
    totp_run(req, resp, srv, totp_setup_op, NULL, 201);
}

/* ---- POST /api/v1/totp/activation (TOTP-01, TOTP-02, TOTP-05). ---- */

static ks_error totp_activate_op(const ks_server *srv, sqlite3 *conn, kf_http_req *req,
                                 const char *code, json_t **body, kf_err *err) {
  const ks_reqctx *c = ks_handler_ctx(req);
  totp_row row;
  kf_rc rc = totp_read(conn, c->session.account_id, false, &row, err);
  if (rc != KF_OK)
    return KS_ERR_INTERNAL_ERROR;
  if (!row.found)
    return KS_ERR_TOTP_NOT_STARTED;
  bool match = false;
  int64_t step = 0;
  if (totp_row_verify(srv, &row, c->now, code, &match, &step, err) != KF_OK)
    return KS_ERR_INTERNAL_ERROR;
  if (!match && ks_fault_on(srv, KS_FAULT_TOTP_ACTIVATES_WITHOUT_CODE)) {
    match = true;
    step = ks_totp_step(c->now);
  }
  /* Activation codes do not count toward the lockout: the person is logged in already. */
  if (!match)
    return KS_ERR_TOTP_CODE_INVALID;
  rc = kf_sql_run(conn, NULL, err, "DELETE FROM totp_secrets WHERE account_id = ? AND active = 1",
                  "i", c->session.account_id);
  if (rc == KF_OK)
    rc = kf_sql_run(conn, NULL, err,
                    "UPDATE totp_secrets SET active = 1, last_step = ? WHERE id = ?", "ii", step,
                    row.id);
  if (rc == KF_OK)
    rc = ks_session_set_stage(conn, c->session.rowid, KS_SESSION_FULL, err);
  if (rc == KF_OK && (*body = totp_full_body()) == NULL)
    rc = kf_err_set(err, KF_ERR_NOMEM, "no memory for the answer");
  return rc == KF_OK ? KS_ERR_COUNT : KS_ERR_INTERNAL_ERROR;
}

static void totp_activate(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  const ks_server *srv = ctx;
  if (!totp_setup_gate(srv, req, resp))
    return;
  const char *code = totp_code(req, resp);
  if (code != NULL)
    totp_run(req, resp, srv, totp_activate_op, code, 200);
}

/* ---- POST /api/v1/sessions/current/totp (AUTH-03, TOTP-02..04). ---- */

/* End the request's session: the account is locked, so the login cannot go on. */
static ks_error totp_locked(kf_http_req *req, kf_err *err) {
  bool found = false;
  if (ks_session_end(ks_handler_ctx(req)->srv->db, ks_handler_token(req), ks_handler_now(req),
                     &found, err) != KF_OK)
    return KS_ERR_INTERNAL_ERROR;
  return KS_ERR_ACCOUNT_LOCKED;
}

/* A wrong or used code: it counts toward the lockout (TOTP-04), and the 5th locks. */
static ks_error totp_login_failed(const ks_server *srv, sqlite3 *conn, kf_http_req *req,
                                  const char *username, ks_error refusal, kf_err *err) {
  if (ks_fault_on(srv, KS_FAULT_TOTP_FAILURES_NOT_COUNTED))
    return refusal;
  bool now_locked = false;
  ks_lockout_policy policy = ks_login_policy(srv);
  if (ks_lockout_fail_with(conn, &policy, username, ks_handler_now(req), &now_locked, err) != KF_OK)
    return KS_ERR_INTERNAL_ERROR;
  return now_locked ? totp_locked(req, err) : refusal;
}

static ks_error totp_login_op(const ks_server *srv, sqlite3 *conn, kf_http_req *req,
                              const char *code, json_t **body, kf_err *err) {
  const ks_reqctx *c = ks_handler_ctx(req);
  char username[KS_ADDRESS_MAX + 1];
  bool locked = false;
  totp_row row;
  if (ks_account_username(conn, c->session.account_id, username, sizeof username, err) != KF_OK ||
      ks_lockout_check(conn, username, c->now, &locked, err) != KF_OK ||
      totp_read(conn, c->session.account_id, true, &row, err) != KF_OK)
    return KS_ERR_INTERNAL_ERROR;
  if (locked)
    return totp_locked(req, err);
  if (!row.found)
    return KS_ERR_TOTP_NOT_EXPECTED;
  bool match = false;
  int64_t step = 0;
  if (totp_row_verify(srv, &row, c->now, code, &match, &step, err) != KF_OK)
    return KS_ERR_INTERNAL_ERROR;
  if (!match)
    return totp_login_failed(srv, conn, req, username, KS_ERR_TOTP_LOGIN_CODE_INVALID, err);
  if (row.last_step != INT64_MIN && !totp_step_fresh(srv, step, row.last_step))
    return totp_login_failed(srv, conn, req, username, KS_ERR_TOTP_CODE_USED, err);
  kf_rc rc = kf_sql_run(conn, NULL, err, "UPDATE totp_secrets SET last_step = ? WHERE id = ?", "ii",
                        step, row.id);
  if (rc == KF_OK)
    rc = ks_session_set_stage(conn, c->session.rowid, KS_SESSION_FULL, err);
  if (rc == KF_OK)
    rc = ks_lockout_reset(conn, username, err);
  if (rc == KF_OK && (*body = totp_full_body()) == NULL)
    rc = kf_err_set(err, KF_ERR_NOMEM, "no memory for the answer");
  return rc == KF_OK ? KS_ERR_COUNT : KS_ERR_INTERNAL_ERROR;
}

static void totp_login(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  const ks_server *srv = ctx;
  if (ks_handler_ctx(req)->session.stage != KS_SESSION_SECOND_FACTOR) {
    ks_handler_error(req, resp, KS_ERR_TOTP_NOT_EXPECTED);
    return;
  }
  const char *code = totp_code(req, resp);
  if (code != NULL)
    totp_run(req, resp, srv, totp_login_op, code, 200);
}

static const ks_route totp_routes[] = {
    {"POST", "/api/v1/totp/setup", totp_setup, 0, KS_STAGE_SESSION},
    {"POST", "/api/v1/totp/activation", totp_activate, KS_ROUTE_JSON, KS_STAGE_SESSION},
    {"POST", "/api/v1/sessions/current/totp", totp_login, KS_ROUTE_JSON, KS_STAGE_SESSION},
};

const ks_area ks_totp_api = {"totp", totp_routes, sizeof totp_routes / sizeof totp_routes[0]};
