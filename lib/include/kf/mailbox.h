/*
 * mailbox.h: the store behind konform-mail and konform-post.
 *
 * Items (mails or letters) are JSON documents with a few search keys, kept in
 * sqlite (WAL). Insertion is atomic: an item is either wholly stored or not at
 * all. kf_mailbox_wait blocks on a condition variable until a matching item is
 * stored or the timeout passes: an event-driven long-poll, never a sleep loop.
 * All functions are thread-safe.
 */
#ifndef KF_MAILBOX_H
#define KF_MAILBOX_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "kf/error.h"

typedef struct kf_mailbox kf_mailbox;

/* Search keys of one item. Strings are borrowed for the call. */
typedef struct kf_mailbox_keys {
  const char *const *recipients; /* Matched by filter.to, case-insensitively. */
  size_t recipients_len;
  const char *sender;          /* Matched by filter.from, case-insensitively. */
  const char *subject;         /* Matched by filter.subject as a substring. */
  const char *kind;            /* Matched exactly. */
  const char *customer_number; /* Matched exactly. */
  const char *recipient_name;  /* Letters: matched by filter.recipient_name, exactly. */
} kf_mailbox_keys;

/* All set fields must match. Strings are borrowed for the call. */
typedef struct kf_mailbox_filter {
  const char *to;
  const char *from;
  const char *subject;
  const char *kind;
  const char *customer_number;
  const char *recipient_name; /* Letters: recipient.name, exact. */
  int64_t after_id;           /* Only items with a larger id; 0 = all. */
  unsigned limit;             /* 0 = 100; at most 1000. */
} kf_mailbox_filter;

/*
 * Open (creating if needed) a store at path, or in memory when path is NULL.
 * max_items caps what is kept; adding beyond it fails with KF_ERR_LIMIT.
 * Caller frees with kf_mailbox_free.
 */
kf_rc kf_mailbox_open(const char *path, size_t max_items, kf_mailbox **out, kf_err *err);
/* Wake all waiters (they get KF_ERR_STATE) and refuse new waits. */
void kf_mailbox_shutdown(kf_mailbox *mb);
void kf_mailbox_free(kf_mailbox *mb);

/*
 * Store doc (borrowed; a copy is stored with "id" and "received_at" added) and
 * optionally the raw source bytes. received_at is the real UTC time.
 */
kf_rc kf_mailbox_add(kf_mailbox *mb, const kf_mailbox_keys *keys, json_t *doc, const void *raw,
                     size_t raw_len, int64_t *id_out, kf_err *err);
/* The stored document; caller json_decref's *out. KF_ERR_NOT_FOUND if absent. */
kf_rc kf_mailbox_get(kf_mailbox *mb, int64_t id, json_t **out, kf_err *err);
/* The raw bytes; caller frees *out with kf_free. KF_ERR_NOT_FOUND if none. */
kf_rc kf_mailbox_get_raw(kf_mailbox *mb, int64_t id, char **out, size_t *len, kf_err *err);
/* A JSON array of full documents matching filter, oldest first; caller decrefs. */
kf_rc kf_mailbox_list(kf_mailbox *mb, const kf_mailbox_filter *filter, json_t **out, kf_err *err);
/*
 * The first (oldest) document matching filter, waiting up to timeout_ms for
 * one to arrive. KF_ERR_TIMEOUT when none came; caller decrefs *out.
 */
kf_rc kf_mailbox_wait(kf_mailbox *mb, const kf_mailbox_filter *filter, int64_t timeout_ms,
                      json_t **out, kf_err *err);
kf_rc kf_mailbox_delete(kf_mailbox *mb, int64_t id, kf_err *err);
kf_rc kf_mailbox_clear(kf_mailbox *mb, kf_err *err);
/* Number of stored items. */
size_t kf_mailbox_count(kf_mailbox *mb);
/*
 * The largest id ever given (0 for none). Ids are never reused, so a client
 * that waits with after = this value sees only what arrives from now on.
 */
int64_t kf_mailbox_last_id(kf_mailbox *mb);

#endif
