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

/* A link is valid up to and including issued_at + KS_LINK_VALIDITY_S. */
#define KS_LINK_VALIDITY_S 86400

/* The path of the link in the mail; the id follows as "?id=<uuid>". */
#define KS_LINK_PATH "/link/e-mail-bestaetigen"

typedef enum ks_link_verdict {
  KS_LINK_VALID,             /* Confirm the account now. */
  KS_LINK_ALREADY_CONFIRMED, /* 409: the account is confirmed (by this or another link). */
  KS_LINK_SUPERSEDED,        /* 410: a newer link was issued. */
  KS_LINK_EXPIRED,           /* 410: now is past the validity window. */
  KS_LINK_NOT_FOUND          /* 404: unknown or malformed id. */
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
