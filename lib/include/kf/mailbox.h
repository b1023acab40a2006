/*
 * mailbox.h: the store behind konform-mail and konform-post.
 *
 * A mailbox holds the items (mails, letters, ...) of one collection as JSON
 * documents in sqlite (WAL). A collection is one row of a table in
 * lib/src/mailbox.c: its name and its search keys. Each key says how a query
 * value matches (kf_mailbox_match) and where a document holds the item's
 * values for it, so adding an item needs nothing but the document, and a new
 * collection needs no new columns or code paths. Items keep their values as
 * (item, key, value) rows under an index on (key, value), so a search or a
 * wait looks up the items with a value rather than scanning them all.
 *
 * Insertion is atomic: an item is either wholly stored, with all its search
 * values, or not at all. kf_mailbox_wait blocks on a condition variable until
 * a matching item is stored or the timeout passes: an event-driven long-poll,
 * never a sleep loop. A waiter is woken only by an item its filter matches,
 * and each look after the first reads only the items newer than its last. All
 * functions are thread-safe.
 */
#ifndef KF_MAILBOX_H
#define KF_MAILBOX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kf/error.h"

typedef struct kf_mailbox kf_mailbox;

/* How a query value matches an item's values for a key: name, then what it means. */
#define KF_MAILBOX_MATCHES(X)                                                                      \
  X(EXACT, "equal, byte for byte")                                                                 \
  X(EXACT_CI, "equal, ASCII letters compared case-insensitively")                                  \
  X(SUBSTRING, "contained in the value, case-sensitively")

typedef enum kf_mailbox_match {
#define KF_MAILBOX_MATCH_ENUM(name, what) KF_MAILBOX_MATCH_##name,
  KF_MAILBOX_MATCHES(KF_MAILBOX_MATCH_ENUM)
#undef KF_MAILBOX_MATCH_ENUM
} kf_mailbox_match;

/*
 * One search key of a collection. path is a dotted chain of object members
 * ("envelope.rcpt_to"); the string found there is the item's one value, an
 * array there gives one value per string in it, and anything else (absent,
 * null, a number) or an empty string gives none. An item matches a query
 * value when any of its values does.
 */
typedef struct kf_mailbox_key {
  const char *name; /* The key, and the HTTP query parameter that filters by it. */
  kf_mailbox_match match;
  const char *path;
} kf_mailbox_key;

#define KF_MAILBOX_KEYS_MAX 8

#define KF_MAILBOX_IDENTITY_MAX 4

/*
 * A collection: a row of the table in lib/src/mailbox.c.
 *
 * identity names the paths (as for keys; an array counts as a set of its
 * strings) whose values together say that two items are one thing delivered
 * twice: for mails the Message-ID and the envelope recipients, because SMTP
 * is at-least-once. An item with the identity of an earlier item that is not
 * itself a redelivery is stored with "duplicate_of": that item's id (null
 * otherwise), and lists and waits leave it out unless the filter includes
 * duplicates. An item lacking a value at any identity path is never a
 * redelivery. No identity paths: the collection has no "duplicate_of".
 */
typedef struct kf_mailbox_collection {
  const char *name;                              /* "messages": the {kind} of the HTTP routes. */
  kf_mailbox_key keys[KF_MAILBOX_KEYS_MAX];      /* Up to the first row without a name. */
  const char *identity[KF_MAILBOX_IDENTITY_MAX]; /* Up to the first NULL. */
} kf_mailbox_collection;

/* The i-th collection of the table, or NULL past the last one. Static. */
const kf_mailbox_collection *kf_mailbox_collection_at(size_t i);
/* The collection called name, or NULL. Static. */
const kf_mailbox_collection *kf_mailbox_collection_find(const char *name);

/*
 * A search: every term with a non-empty value must match (AND). A term whose
 * key the collection does not have matches nothing. Keys and values are
 * borrowed for the call. Zero-initialise (= {0}) for "everything".
 */
#define KF_MAILBOX_TERMS_MAX 8

typedef struct kf_mailbox_term {
  const char *key;
  const char *value; /* NULL or "": no filter on this key. */
} kf_mailbox_term;

typedef struct kf_mailbox_filter {
  kf_mailbox_term terms[KF_MAILBOX_TERMS_MAX];
  size_t terms_len;
  int64_t after_id;        /* Only items with a larger id; 0 = all. */
  unsigned limit;          /* 0 = 100; at most 1000. */
  bool include_duplicates; /* Also redeliveries (items with a "duplicate_of"). */
} kf_mailbox_filter;

/*
 * Set the value of key in filter (replacing an earlier term for the same key;
 * NULL or "" lifts it). KF_ERR_LIMIT when KF_MAILBOX_TERMS_MAX keys are in use.
 */
kf_rc kf_mailbox_filter_set(kf_mailbox_filter *filter, const char *key, const char *value);

/*
 * Open (creating if needed) a store of the named collection at path, or in
 * memory when path is NULL. KF_ERR_INVALID for a collection not in the table.
 * A file whose search values were made by other key definitions (an older
 * konform, a changed row) has them rebuilt from its documents, so ids and
 * documents are kept. max_items caps what is kept; adding beyond it fails
 * with KF_ERR_LIMIT. Caller frees with kf_mailbox_free.
 */
kf_rc kf_mailbox_open(const char *path, const char *collection, size_t max_items, kf_mailbox **out,
                      kf_err *err);
/*
 * Build the full document of an item from the document kf_mailbox_add
 * stored (stored, borrowed; it carries "id", "received_at" and, in a
 * collection with an identity, "duplicate_of") and the item's raw source
 * (raw_len bytes, NUL-terminated). A new JSON object into *out, whose
 * members the store puts after its own; fails only when memory runs out.
 */
typedef kf_rc (*kf_mailbox_expand_fn)(void *ctx, const json_t *stored, const char *raw,
                                      size_t raw_len, json_t **out, kf_err *err);

/*
 * Let the items with a raw source keep only the document given to
 * kf_mailbox_add, which then needs to hold no more than what the keys and
 * the identity read, and build the rest from the raw bytes with expand
 * whenever a document is read (kf_mailbox_get, _list, _wait). Adding an item
 * then costs no decoding, and an item never read is never decoded. expand
 * runs outside the store's lock, possibly in several threads at once, and
 * must give the same document for the same item every time. Call before the
 * mailbox is shared; ctx must outlive it.
 */
void kf_mailbox_set_expand(kf_mailbox *mb, kf_mailbox_expand_fn expand, void *ctx);

/* Wake all waiters (they get KF_ERR_STATE) and refuse new waits. */
void kf_mailbox_shutdown(kf_mailbox *mb);
void kf_mailbox_free(kf_mailbox *mb);
/* The collection mb was opened with. Static. */
const kf_mailbox_collection *kf_mailbox_collection_of(const kf_mailbox *mb);

/*
 * Store doc (borrowed; a copy is stored with "id" and "received_at" added),
 * with the search values its collection's keys find in it, and optionally the
 * raw source bytes. received_at is the real UTC time. The item is committed
 * when this returns KF_OK; adds from several threads at once share commits
 * (one transaction for all that are waiting), so each costs less.
 */
kf_rc kf_mailbox_add(kf_mailbox *mb, json_t *doc, const void *raw, size_t raw_len, int64_t *id_out,
                     kf_err *err);
/* One item for kf_mailbox_add_all: what kf_mailbox_add takes, and its result. */
typedef struct kf_mailbox_entry {
  json_t *doc;     /* Borrowed, as for kf_mailbox_add. */
  const void *raw; /* Optional, raw_len bytes. */
  size_t raw_len;
  kf_rc rc;   /* Set: as kf_mailbox_add would return for this entry. */
  int64_t id; /* Set when rc is KF_OK. */
  kf_err err; /* Set when rc is not KF_OK. */
} kf_mailbox_entry;

/*
 * kf_mailbox_add for each of entries[0..n), in order, in one transaction
 * (with whatever other adds are waiting): one commit for all. An entry that
 * cannot be stored fails alone; each entry's rc says how it went. Returns
 * once every entry is committed or has failed.
 */
void kf_mailbox_add_all(kf_mailbox *mb, kf_mailbox_entry *entries, size_t n);

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
