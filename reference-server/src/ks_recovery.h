/*
 * ks_recovery.h: "Passwort vergessen" and "Benutzername / E-Mail-Adresse
 * vergessen" (AUTH-07): password reset links in reset_links, the new
 * password that one sets, and username reminders, each mail through the
 * outbox in the transaction of its change.
 *
 * A reset link id is 32 random bytes as 64 lower-case hex digits; only its
 * SHA-256 is stored, so a leaked table holds no usable links. A link is valid
 * while now < created_at + KS_RESET_VALIDITY_S on the request clock, once; a
 * newer link of the account supersedes every older one. Both kinds of request
 * write a recovery_requests row and render their mail whether or not it goes
 * out, so an answer's time tells nothing about an account (AUTH-04).
 *
 * Ownership: strings are borrowed for the call; URLs go to caller-owned
 * buffers; the static rows and texts need no freeing.
 */
#ifndef KS_RECOVERY_H
#define KS_RECOVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kf/error.h"
#include "ks_error.h"

typedef struct ks_server ks_server;

/* reset_link_hours (AUTH-07's default): valid up to, not including, created_at + this. */
#define KS_RESET_VALIDITY_S (24 * 3600)
/* A reset link id: 32 random bytes as 64 hex digits. */
#define KS_RESET_ID_HEX_LEN 64
/* The page the link in the mail opens; the id follows as "?id=<id>". */
#define KS_RESET_PATH "/passwort-zuruecksetzen"

/*
 * A reset link's verdict is its answer from the error catalogue:
 * KS_RESET_VALID (no error) sets the password (200); KS_ERR_RESET_LINK_USED:
 * used, or superseded by a newer link (a used link is never valid again,
 * whatever its age); KS_ERR_RESET_LINK_EXPIRED: its 24 hours are over;
 * KS_ERR_RESET_LINK_NOT_FOUND: unknown or malformed id.
 */
typedef ks_error ks_reset_verdict;
#define KS_RESET_VALID KS_ERR_COUNT

/*
 * Judge a known link at now: used or superseded first, then expiry (valid
 * while now < expires_at, which is created_at + KS_RESET_VALIDITY_S).
 */
ks_reset_verdict ks_reset_judge(int64_t expires_at, int64_t now, bool used);

/*
 * "<public_url>/passwort-zuruecksetzen?id=<id>" into out (out_size bytes);
 * KF_ERR_LIMIT if it does not fit. public_url has no trailing slash
 * (ks_server.public_url).
 */
kf_rc ks_reset_url(const char *public_url, const char *id, char *out, size_t out_size);

/*
 * A reset asked for username (normalised; NULL when what was typed is no
 * address and so no username). When a confirmed account has it, a new link
 * supersedes the older ones and the mail "Passwort zurücksetzen" goes out
 * (*issued true, may be NULL). Either way the request is recorded.
 */
kf_rc ks_recovery_reset_request(ks_server *srv, const char *username, int64_t now, bool *issued,
                                kf_err *err);

/* Only judge link id at now (any text; a malformed one names no link: NOT_FOUND), changing nothing.
 */
kf_rc ks_recovery_reset_check(ks_server *srv, const char *id, int64_t now, ks_reset_verdict *v,
                              kf_err *err);

/*
 * Use link id at now: when it is valid, in one transaction store hash (the
 * new password's argon2id hash) for its account, mark the link used and
 * every other open one superseded, end every session of the account and
 * reset its lockout. *v says what the link was; nothing changes unless VALID.
 */
kf_rc ks_recovery_reset_confirm(ks_server *srv, const char *id, const char *hash, int64_t now,
                                ks_reset_verdict *v, kf_err *err);

/*
 * A username reminder for email (normalised): when a confirmed account has
 * it, the mail "Ihr Benutzername" goes out (*sent true, may be NULL). Either
 * way the request is recorded.
 */
kf_rc ks_recovery_remind(ks_server *srv, const char *email, int64_t now, bool *sent, kf_err *err);

#endif
