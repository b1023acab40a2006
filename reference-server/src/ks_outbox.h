/*
 * ks_outbox.h: the transactional mail outbox and its SMTP sender thread.
 *
 * A mail is written to the outbox table in the same transaction as the change
 * it reports, so it exists exactly when the change does. A few sender
 * threads (KS_OUTBOX_SENDERS unless configured) deliver the rows over one
 * pipelined SMTP session each (ks_smtp), every recipient's mails through one
 * sender in the order they were written, and mark a row sent only after the
 * server accepted it, in a sent log of the sender's own
 * (<db>KS_OUTBOX_SENT_LOG_SUFFIX-<i>) that it folds into the main database in
 * batches; failures are retried with exponential backoff (1 s doubling up to
 * 60 s). Rows survive a restart. Delivery is at least once: a row keeps the
 * Message-ID and bytes it was rendered with, so a resend after a crash between
 * "250" and the mark is the same mail and can be recognised (docs/design.md,
 * "Delivery guarantee").
 *
 * Ownership: ks_outbox_start's object is freed with ks_outbox_free; a
 * ks_outbox_mail owns its strings until ks_outbox_mail_release.
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
#define KS_OUTBOX_STOP_GRACE_MS 5000
/*
 * Sender threads by default (konform-server --outbox-senders), each with its
 * own SMTP session; a recipient's mails all go through one. Four keep the
 * delivery rate at the registration rate during a load, where one reaches
 * about 0.6 of it (docs/design.md, "The mail outbox"). The embedded stack's
 * two servers so use 8 sessions, konform-mail's per-address cap.
 */
#define KS_OUTBOX_SENDERS 4
/* The most sender threads (and so sent logs) there can be. */
#define KS_OUTBOX_SENDERS_MAX 8
/* Sender i's sent log: the main database's path with this and "-<i>" appended. */
#define KS_OUTBOX_SENT_LOG_SUFFIX "-outbox-sent"

typedef struct ks_outbox ks_outbox;

/*
 * Render the mail and insert it into the outbox using conn, inside the
 * caller's open transaction. The Message-ID is made here from a fresh UUID
 * and params->message_id is ignored.
 */
kf_rc ks_outbox_enqueue(sqlite3 *conn, const ks_mail_params *params, int64_t now, kf_err *err);

/* A rendered mail not yet in the outbox. Every string is owned by the struct. */
typedef struct ks_outbox_mail {
  char *message_id; /* "<uuid>@<mail domain>", without angle brackets. */
  char *mail_from;  /* The envelope sender. */
  char *rcpt_to;    /* The envelope recipient. */
  char *raw;        /* The whole message, NUL-terminated. */
  size_t raw_len;
} ks_outbox_mail;

/*
 * The two halves of ks_outbox_enqueue, for a caller that renders before it
 * opens its transaction (so the write lock is not held while GMime works):
 * render into *mail (released with ks_outbox_mail_release, also after a
 * failure), then insert it with conn inside the open transaction.
 */
kf_rc ks_outbox_render(const ks_mail_params *params, ks_outbox_mail *mail, kf_err *err);
kf_rc ks_outbox_insert(sqlite3 *conn, const ks_outbox_mail *mail, int64_t now, kf_err *err);
void ks_outbox_mail_release(ks_outbox_mail *mail);

/* The delay before attempt number `attempts` + 1 after `attempts` failures. */
int64_t ks_outbox_backoff_ms(int attempts);

/*
 * Start senders (1 to KS_OUTBOX_SENDERS_MAX) sender threads for db,
 * delivering to smtp_url (smtp:// only; anything else fails here). Caller
 * frees with ks_outbox_free, which stops the threads first. Call it before
 * any other thread uses libcurl (it runs curl_global_init; ks_smtp parses
 * the URL with libcurl's URL API); on failure nothing is left to free and
 * curl_global_cleanup has run.
 */
kf_rc ks_outbox_start(ks_db *db, const char *smtp_url, int senders, ks_outbox **out, kf_err *err);
/*
 * Wake the sender that delivers to rcpt_to (the params.to its mails were
 * rendered with) because a transaction with new rows for it committed;
 * rcpt_to NULL wakes every sender. ob NULL is fine.
 */
void ks_outbox_kick(ks_outbox *ob, const char *rcpt_to);
/*
 * Stop the threads and free. NULL is fine. A delivery in progress may finish so
 * that a mail the SMTP peer is accepting is marked sent rather than sent twice
 * after a restart; a transfer still running KS_OUTBOX_STOP_GRACE_MS after the
 * stop is aborted, and its row stays pending for the next start.
 */
void ks_outbox_free(ks_outbox *ob);

#endif
