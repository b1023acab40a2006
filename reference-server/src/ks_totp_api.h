/*
 * ks_totp_api.h: the TOTP area (TOTP-01..05, AUTH-03): setting up a secret,
 * activating it with a first code, and the code that completes a password
 * login. The handlers live in ks_totp_api.c; the secrets in totp_secrets
 * (at most one pending and one active per account).
 *
 * Ownership: rows are static; srv and conn are borrowed for the call.
 */
#ifndef KS_TOTP_API_H
#define KS_TOTP_API_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "kf/error.h"
#include "ks_api.h"
#include "ks_session.h"

extern const ks_area ks_totp_api;

/* Whether account_id has an active TOTP secret, in the transaction on conn. */
kf_rc ks_totp_active(sqlite3 *conn, int64_t account_id, bool *active, kf_err *err);

/*
 * The stage a right password starts a session at, for the login: with active
 * TOTP second_factor (AUTH-03), else second_factor_setup (AUTH-02). The
 * totp-login-skipped fault acts here, so the login needs no TOTP fault of its own.
 */
ks_session_stage ks_totp_login_stage(const ks_server *srv, bool totp_active);

#endif
