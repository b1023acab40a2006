/*
 * km_store.h: konform-mail's mails in a kf_mailbox ("messages").
 *
 * A delivery stores the raw source with the mail's summary (km_mime_summary:
 * the envelope, subject and message_id, which the collection's search keys
 * and identity read), so the 250 reply waits for no MIME decoding; the full
 * document is built from the raw source when someone reads it
 * (kf_mailbox_set_expand, km_mime_expand). A wait still sees the mail the
 * moment it is committed, because it matches on the summary's values.
 */
#ifndef KM_STORE_H
#define KM_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "kf/error.h"
#include "kf/mailbox.h"
#include "km_listener.h"
#include "km_smtp.h"

/* The most mails kept at once; a conformance run sends far fewer. */
#define KM_STORE_MAX_ITEMS 100000

/* Make mb (opened for "messages", not yet shared) build documents on reading. */
void km_store_setup(kf_mailbox *mb);

/*
 * The SMTP engine's deliver callback (km_smtp_deliver_fn) with ctx the
 * kf_mailbox: stores one message and returns once it is committed.
 * KF_ERR_LIMIT only when the store holds KM_STORE_MAX_ITEMS mails (452);
 * thread-safe.
 */
kf_rc km_store_deliver(void *ctx, const km_smtp_envelope *env, const char *data, size_t len,
                       int64_t *id_out);

/*
 * The listener's batch deliver function (km_listener_batch_fn) with ctx the
 * kf_mailbox: stores msgs[0..n) in one commit (kf_mailbox_add_all) and sets
 * each one's verdict as km_store_deliver would.
 */
void km_store_deliver_all(void *ctx, km_delivery *const *msgs, size_t n);

#endif
