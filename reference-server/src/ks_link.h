/*
 * ks_link.h: the rules for confirmation links (ACC-06, ACC-07), kept free of
 * storage so they can be tested on their own.
 *
 * Ownership: nothing here allocates; strings returned are static, URLs go to
 * caller-owned buffers.
 */
#ifndef KS_LINK_H
#define KS_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "kf/error.h"
#include "ks_error.h"

/* A link is valid up to and including issued_at + KS_LINK_VALIDITY_S. */
#define KS_LINK_VALIDITY_S 86400

/* The path of the link in the mail; the id follows as "?id=<uuid>". */
#define KS_LINK_PATH "/link/e-mail-bestaetigen"

/* The message of a link that confirmed the address (200). */
#define KS_LINK_CONFIRMED_MESSAGE "Sie haben Ihre E-Mail-Adresse erfolgreich bestätigt."

/*
 * X(name, error): each verdict and its answer from the error catalogue.
 * VALID confirms the account now (200, KS_LINK_CONFIRMED_MESSAGE);
 * ALREADY_CONFIRMED: the account is confirmed (by this or another link);
 * SUPERSEDED: a newer link was issued; EXPIRED: now is past the validity
 * window; NOT_FOUND: unknown or malformed id.
 */
#define KS_LINK_VERDICTS(X)                                                                        \
  X(VALID, KS_ERR_COUNT)                                                                           \
  X(ALREADY_CONFIRMED, KS_ERR_ALREADY_CONFIRMED)                                                   \
  X(SUPERSEDED, KS_ERR_LINK_SUPERSEDED)                                                            \
  X(EXPIRED, KS_ERR_LINK_EXPIRED)                                                                  \
  X(NOT_FOUND, KS_ERR_LINK_NOT_FOUND)

typedef enum ks_link_verdict {
#define KS_X_LINK_ENUM(name, error) KS_LINK_##name,
  KS_LINK_VERDICTS(KS_X_LINK_ENUM)
#undef KS_X_LINK_ENUM
} ks_link_verdict;

/*
 * Judge a known link at time now. A confirmed account wins over everything
 * (ACC-07: "already confirmed" for every link of the account), then a
 * superseded link, then expiry.
 */
ks_link_verdict ks_link_judge(int64_t issued_at, int64_t now, bool superseded,
                              bool account_confirmed);

/* The last second at which a link issued at issued_at is still valid. */
int64_t ks_link_valid_until(int64_t issued_at);

/* The catalogue's answer for a verdict; KS_ERR_COUNT for VALID, which is no error. */
ks_error ks_link_verdict_error(ks_link_verdict v);
/* HTTP status, error code and German message for a verdict (VALID: 200, NULL code). */
unsigned ks_link_verdict_status(ks_link_verdict v);
const char *ks_link_verdict_code(ks_link_verdict v);
const char *ks_link_verdict_message(ks_link_verdict v);

/*
 * Build "<public_url>/link/e-mail-bestaetigen?id=<id>" into out (out_size
 * bytes); a trailing slash on public_url is dropped. KF_ERR_LIMIT if it does
 * not fit.
 */
kf_rc ks_link_url(const char *public_url, const char *id, char *out, size_t out_size);

#endif
