/*
 * ks_account.h: the account operations behind the ACC routes, each one sqlite
 * transaction (with its outbox mail) that the handlers call after validating
 * the input. Every function takes `now`, the request's clock.
 *
 * Ownership: nothing returned needs freeing; strings are borrowed for the call,
 * and the token goes to a caller-owned buffer.
 */
#ifndef KS_ACCOUNT_H
#define KS_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kf/error.h"
#include "ks_link.h"
#include "ks_server.h"
#include "ks_session.h"

/*
 * Register email (already normalised) with password pw. A new address gets an
 * account, a confirmation link and the confirmation mail; an address that has
 * an account gets only the duplicate-registration mail (ACC-10). The password
 * is hashed and both mails are rendered in both cases, before the write
 * transaction opens, so both take the same time; the hash is wiped
 * from the stack on every return. *created (may be NULL) says which happened,
 * for logs and tests only: callers must not let it change the answer.
 */
kf_rc ks_account_register(ks_server *srv, const char *email, const char *pw, size_t pw_len,
                          int64_t now, bool *created, kf_err *err);

/*
 * Confirm with link id at now. *verdict is KS_LINK_VALID when the account was
 * confirmed by this call; anything else changed nothing.
 */
kf_rc ks_account_confirm(ks_server *srv, const char *id, int64_t now, ks_link_verdict *verdict,
                         kf_err *err);

/*
 * Judge link id at now as ks_account_confirm would, but change nothing (for a
 * HEAD request, which must never have side effects). *verdict is
 * KS_LINK_VALID when a GET would confirm the account now.
 */
kf_rc ks_account_check_link(ks_server *srv, const char *id, int64_t now, ks_link_verdict *verdict,
                            kf_err *err);

/*
 * Issue a new link for email if it has an unconfirmed account: the older link
 * is superseded and a confirmation mail goes out. Otherwise no mail goes out.
 * Either way a confirmation mail is rendered and one write transaction runs
 * the same statements (a resend_requests row, then the link's writes in a
 * savepoint that is kept only for an unconfirmed account), so every outcome
 * does the same work (the answer is the same too; no enumeration, ACC-10).
 * *issued (may be NULL) says whether a mail was queued, for tests only.
 */
kf_rc ks_account_resend(ks_server *srv, const char *email, int64_t now, bool *issued, kf_err *err);

/*
 * Find an account by normalised address; *id 0 when there is none.
 * confirmed and hash may be NULL; *hash is freed with ks_account_hash_free.
 */
kf_rc ks_account_find(sqlite3 *conn, const char *email, int64_t *id, bool *confirmed, char **hash,
                      kf_err *err);

/*
 * The username of account_id (its normalised address) into out of size bytes:
 * KF_ERR_NOT_FOUND without such an account, KF_ERR_LIMIT when it does not fit.
 */
kf_rc ks_account_username(sqlite3 *conn, int64_t account_id, char *out, size_t size, kf_err *err);

/* Wipe and free a stored password hash copied out of sqlite. NULL is fine. */
void ks_account_hash_free(char *hash);

/*
 * The loader of ks_pwhash_load_once (arg: the sqlite3 connection): count every
 * account's stored hash into ph's cost classes (ks_pwhash_class_count). A
 * class beyond KS_PWHASH_CLASSES_MAX is logged as a warning, not an error.
 */
kf_rc ks_account_hash_classes(void *conn, ks_pwhash *ph, kf_err *err);

typedef enum ks_login_result {
  KS_LOGIN_OK,
  KS_LOGIN_INVALID,          /* Unknown user or wrong password: never told apart. */
  KS_LOGIN_UNCONFIRMED,      /* Right password, address not confirmed yet (ACC-09). */
  KS_LOGIN_LOCKED,           /* The username is locked (AUTH-05), whatever the password. */
  KS_LOGIN_PASSKEY_REQUIRED, /* Right password, passkeys but no TOTP: log in with a passkey. */
  KS_LOGIN_RESULT_COUNT
} ks_login_result;

/*
 * Find an account by normalised address; *id 0 when there is none.
 * confirmed and hash may be NULL; *hash is freed with ks_account_hash_free.
 */
kf_rc ks_account_find(sqlite3 *conn, const char *email, int64_t *id, bool *confirmed, char **hash,
                      kf_err *err);

/* Wipe and free a stored password hash copied out of sqlite. NULL is fine. */
void ks_account_hash_free(char *hash);

/*
 * ks_login_password (ks_login.h) with username as the lockout name too, for
 * callers that need no stage: check username (normalised address, or NULL
 * when the input was not an address) and password; on KS_LOGIN_OK the new
 * session's token is in token (KS_TOKEN_HEX_LEN + 1 bytes).
 */
kf_rc ks_account_login(ks_server *srv, const char *username, const char *pw, size_t pw_len,
                       int64_t now, ks_login_result *result, char *token, kf_err *err);

#endif
