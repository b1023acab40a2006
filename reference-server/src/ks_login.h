/*
 * ks_login.h: the password login (AUTH-01..05): the password check with the
 * same argon2id work for every username (AUTH-04: one computation per hash
 * cost class in use, ks_pwhash_login; a stale hash is replaced at the current
 * cost when its password was right), the lockout of the
 * username (AUTH-05, ks_lockout), and the stage the new session starts at
 * (AUTH-02, AUTH-03). One transaction decides the lockout and starts the
 * session, so concurrent attempts never count twice or slip past a lock.
 *
 * Ownership: strings are borrowed for the call; the answer is caller-owned
 * storage (wipe its token when done).
 */
#ifndef KS_LOGIN_H
#define KS_LOGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kf/error.h"
#include "ks_account.h"
#include "ks_lockout.h"
#include "ks_server.h"
#include "ks_session.h"

/* KS_LOGIN_OK: a session at stage with token; anything else started nothing. */
typedef struct ks_login_answer {
  ks_login_result result;
  ks_session_stage stage;
  char token[KS_TOKEN_HEX_LEN + 1];
} ks_login_answer;

/*
 * Log in with username (a normalised address, or NULL when the input was not
 * an address: then no account matches) and pw. lock_name is what the
 * lockout counts failures under: the normalised address, or the input as
 * typed when it was none. The stage is second_factor with an active TOTP
 * secret, else second_factor_setup; an account with passkeys but no TOTP is
 * KS_LOGIN_PASSKEY_REQUIRED. A login to second_factor_setup resets the
 * count, one to second_factor does not (the code is still to come).
 */
kf_rc ks_login_password(ks_server *srv, const char *username, const char *lock_name, const char *pw,
                        size_t pw_len, int64_t now, ks_login_answer *answer, kf_err *err);

/* The second factors of account_id: whether a TOTP secret is active, how many passkeys. */
/*
 * The lockout every login path applies (the password, the TOTP code): the
 * configuration's (--lockout-attempts, --lockout-minutes; AUTH-05's 5 and 15
 * by default), as the catalogue's faults change it.
 */
ks_lockout_policy ks_login_policy(const ks_server *srv);

kf_rc ks_login_factors(sqlite3 *conn, int64_t account_id, bool *totp, int64_t *passkeys,
                       kf_err *err);

#endif
