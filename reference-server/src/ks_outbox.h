/*
 * ks_outbox.h: the transactional mail outbox and its SMTP sender thread.
 *
 * A mail is written to the outbox table in the same transaction as the change
 * it reports, so it exists exactly when the change does. One sender thread
 * delivers the rows over SMTP (libcurl) and marks a row sent only after the
 * server accepted it; failures are retried with exponential backoff (1 s
 * doubling up to 60 s). Rows survive a restart. A row keeps its Message-ID, so
 * a resend after a crash between "250" and "mark sent" can be recognised.
 */
#ifndef KS_OUTBOX_H
#define KS_OUTBOX_H

#include <sqlite3.h>
#include <stdint.h>

#include "kf/error.h"
#include "ks_db.h"
#include "ks_mail.h"

#define KS_OUTBOX_BACKOFF_MIN_MS 1000
#define KS_OUTBOX_BACKOFF_MAX_MS 60000

typedef struct ks_outbox ks_outbox;

/*
 * Render the mail and insert it into the outbox using conn, inside the
 * caller's open transaction. The Message-ID is made here from a fresh UUID
 * and params->message_id is ignored.
 */
kf_rc ks_outbox_enqueue(sqlite3 *conn, const ks_mail_params *params, int64_t now, kf_err *err);

/* The delay before attempt number `attempts` + 1 after `attempts` failures. */
int64_t ks_outbox_backoff_ms(int attempts);

/*
 * Start the sender thread for db, delivering to smtp_url. Caller frees with
 * ks_outbox_free, which stops the thread first.
 */
kf_rc ks_outbox_start(ks_db *db, const char *smtp_url, ks_outbox **out, kf_err *err);
/* Wake the sender because a transaction with new rows committed. NULL is fine. */
void ks_outbox_kick(ks_outbox *ob);
/* Stop the thread (a delivery in progress finishes) and free. NULL is fine. */
void ks_outbox_free(ks_outbox *ob);

#endif
