/*
 * mailbox.c: the sqlite-backed store behind konform-mail and konform-post.
 *
 * One sqlite connection is shared by every thread and guarded by one mutex;
 * each request holds it for a few statements, all from the connection's
 * statement cache (kf_sql_cache_enable), so the simplicity is worth more
 * than parallel reads. The same mutex protects the list of long-poll
 * waiters: each sleeps on its own condition variable, and kf_mailbox_add
 * signals, after its commit, only those whose filter the new item matches
 * (mb_may_match, the search terms checked in C against the new document), so
 * a mail for one scenario does not wake the waiters of all the others. A
 * waiter that checked the store under the mutex cannot miss an item (no lost
 * wake-ups, no polling).
 *
 * A waiter keeps a cursor: after a look that found nothing, every item up to
 * the largest id at that moment is known not to match (items never change,
 * and ids only grow), so the next look asks only for ids above it. With the
 * cursor inside each index lookup (mb_match, term_after), a wait costs the
 * new items that carry its value, not every item since the run began. The
 * waiter reads only ids; the document of the one it returns is fetched by
 * primary key.
 *
 * Search values live in item_keys, one row per (item, key, value), indexed
 * on (key, value, item_id): an exact term becomes "id IN (the items with
 * this value)", which sqlite answers from the index, so a search or a wait
 * costs the items that carry the value, not every item since the run began.
 * A substring term cannot use that index; it is checked per candidate item
 * through the (item_id, key, value) index.
 */
#include "kf/mailbox.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/log.h"
#include "kf/sql.h"
#include "kf/str.h"
#include "kf/timeutil.h"
#include "mailbox_priv.h"

/* A stored document is at most this large once serialised. */
#define MB_DOC_MAX ((size_t)64 * 1024 * 1024)
#define MB_LIMIT_DEFAULT 100u
#define MB_LIMIT_MAX 1000u
/* The longest member name a key path may use. */
#define MB_SEGMENT_MAX 64
/* Room for the search statement with every term in use. */
#define MB_SQL_MAX 2048
/* Room for a collection's key definitions written out (see mb_signature). */
#define MB_SIGNATURE_MAX 1024
/* The longest identity of an item (see mb_identity); a longer one is no identity. */
#define MB_IDENTITY_MAX ((size_t)16 * 1024)
/* The item_keys rows of the identity and of the redelivery mark; no query parameter has a "#". */
#define MB_KEY_IDENTITY "#identity"
#define MB_KEY_DUPLICATE "#duplicate_of"

/*
 * The collections, one row each: the name (the {kind} of the HTTP routes,
 * given to kf_mailbox_open) and its search keys as {name, match, path}; see
 * kf_mailbox_key. A new collection is one more row here.
 */
static const kf_mailbox_collection mb_collections[] = {
    {"messages",
     {{"to", KF_MAILBOX_MATCH_EXACT_CI, "envelope.rcpt_to"},
      {"from", KF_MAILBOX_MATCH_EXACT_CI, "envelope.mail_from"},
      {"subject", KF_MAILBOX_MATCH_SUBSTRING, "subject"}},
     {"message_id", "envelope.rcpt_to"}},
    {"letters",
     {{"kind", KF_MAILBOX_MATCH_EXACT, "kind"},
      {"customer_number", KF_MAILBOX_MATCH_EXACT, "recipient.customer_number"},
      {"name", KF_MAILBOX_MATCH_EXACT, "recipient.name"}},
     {NULL}},
};
#define MB_COLLECTIONS_LEN (sizeof(mb_collections) / sizeof(mb_collections[0]))

/*
 * What each way of matching is in SQL: the INSERT that stores an item's
 * value and the condition a search term adds (its two parameters are the key
 * and the query value). Case-insensitive values are stored
 * lower-cased and compared with the lower-cased query; sqlite's lower()
 * folds ASCII only, which is the case-insensitivity the API documents.
 */
typedef struct mb_match_sql {
  /* The INSERT of an item's value (?1 the item, ?2 the key, ?3 the value). */
  const char *insert;
  const char *term;
  /* The same with the search's cursor (?2) inside the index lookup, for a
   * filter with "after": the lookup then reads only the newer items. */
  const char *term_after;
  /* The same test in C, of an item's value against a query value (mb_may_match). */
  bool (*test)(const char *value, const char *query);
} mb_match_sql;

static bool mb_test_exact(const char *value, const char *query) {
  return strcmp(value, query) == 0;
}

/* ASCII letters only, as sqlite's lower() folds them. */
static bool mb_test_exact_ci(const char *value, const char *query) {
  for (; *value && *query; value++, query++) {
    unsigned char a = (unsigned char)*value, b = (unsigned char)*query;
    if (a >= 'A' && a <= 'Z')
      a = (unsigned char)(a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z')
      b = (unsigned char)(b - 'A' + 'a');
    if (a != b)
      return false;
  }
  return *value == *query;
}

static bool mb_test_substring(const char *value, const char *query) {
  return strstr(value, query) != NULL;
}

static const mb_match_sql mb_match[] = {
    [KF_MAILBOX_MATCH_EXACT] = {"INSERT INTO item_keys(item_id, key, value) VALUES(?1, ?2, ?3)",
                                "i.id IN (SELECT item_id FROM item_keys"
                                " WHERE key = ? AND value = ?)",
                                "i.id IN (SELECT item_id FROM item_keys"
                                " WHERE key = ? AND value = ? AND item_id > ?2)",
                                mb_test_exact},
    [KF_MAILBOX_MATCH_EXACT_CI] =
        {"INSERT INTO item_keys(item_id, key, value) VALUES(?1, ?2, lower(?3))",
         "i.id IN (SELECT item_id FROM item_keys"
         " WHERE key = ? AND value = lower(?))",
         "i.id IN (SELECT item_id FROM item_keys"
         " WHERE key = ? AND value = lower(?) AND item_id > ?2)",
         mb_test_exact_ci},
    [KF_MAILBOX_MATCH_SUBSTRING] = {"INSERT INTO item_keys(item_id, key, value) VALUES(?1, ?2, ?3)",
                                    "EXISTS (SELECT 1 FROM item_keys k WHERE"
                                    " k.item_id = i.id AND k.key = ? AND instr(k.value, ?) > 0)",
                                    "EXISTS (SELECT 1 FROM item_keys k WHERE"
                                    " k.item_id = i.id AND k.key = ? AND instr(k.value, ?) > 0)",
                                    mb_test_substring},
};

/* Something kf_mailbox_free has to free on behalf of another module. */
typedef struct mb_attachment {
  struct mb_attachment *next;
  void *ptr;
  void (*free_fn)(void *);
} mb_attachment;

/* One thread inside kf_mailbox_wait; lives on its stack, linked into the mailbox's list. */
typedef struct mb_waiter {
  struct mb_waiter *next;
  struct mb_waiter *prev;
  const kf_mailbox_filter *filter;
  pthread_cond_t wake; /* Signalled by an add it may match, and on shutdown. */
} mb_waiter;

struct kf_mailbox {
  sqlite3 *db;
  const kf_mailbox_collection *coll;
  pthread_mutex_t lock;
  pthread_condattr_t wake_attr;   /* For the waiters' conditions: the monotonic clock. */
  pthread_cond_t waiters_changed; /* Broadcast whenever waiters changes. */
  size_t max_items;
  size_t count;    /* Cached item count; only this connection writes. */
  int64_t last_id; /* The largest id ever given; only this connection writes. */
  unsigned waiters;
  mb_waiter *waiting; /* The waiters, newest first. */
  bool shut_down;
  mb_attachment *attachments;
  /* The group commit (kf_mailbox_add): requests waiting for the next commit, oldest first. */
  pthread_mutex_t queue_lock;
  struct mb_add_req *queue;
  struct mb_add_req **queue_tail;
  bool committing;  /* An adder is committing a group; the queue waits for the next. */
  uint64_t commits; /* Transactions that stored items (kf_mailbox_commits); under lock. */
  /* What builds an item's full document on reading (kf_mailbox_set_expand), or NULL. */
  kf_mailbox_expand_fn expand;
  void *expand_ctx;
};

static const char *const mb_schema =
    "CREATE TABLE IF NOT EXISTS items ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  received_at TEXT NOT NULL,"
    "  doc TEXT NOT NULL,"
    "  raw BLOB);"
    "CREATE TABLE IF NOT EXISTS item_keys ("
    "  item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS item_keys_lookup ON item_keys(key, value, item_id);"
    "CREATE INDEX IF NOT EXISTS item_keys_item ON item_keys(item_id, key, value);"
    "CREATE TABLE IF NOT EXISTS mailbox_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);";

/*
 * Stores of konform 0.1 kept fixed search columns and a recipients table.
 * Their documents are all there is to keep: the columns go, and the search
 * values are rebuilt from the documents (mb_reindex), so ids stay as they were.
 */
static const char *const mb_migrate_v0 = "DROP TABLE recipients;"
                                         "ALTER TABLE items DROP COLUMN kind;"
                                         "ALTER TABLE items DROP COLUMN customer_number;"
                                         "ALTER TABLE items DROP COLUMN sender;"
                                         "ALTER TABLE items DROP COLUMN subject;"
                                         "ALTER TABLE items DROP COLUMN recipient_name;";

const kf_mailbox_collection *kf_mailbox_collection_at(size_t i) {
  return i < MB_COLLECTIONS_LEN ? &mb_collections[i] : NULL;
}

const kf_mailbox_collection *kf_mailbox_collection_find(const char *name) {
  assert(name);
  for (size_t i = 0; i < MB_COLLECTIONS_LEN; i++) {
    if (strcmp(mb_collections[i].name, name) == 0)
      return &mb_collections[i];
  }
  return NULL;
}

const kf_mailbox_collection *kf_mailbox_collection_of(const kf_mailbox *mb) {
  assert(mb);
  return mb->coll;
}

/* The collection's definition of key, or NULL when it has no such key. */
static const kf_mailbox_key *mb_key_find(const kf_mailbox_collection *coll, const char *key) {
  for (size_t i = 0; i < KF_MAILBOX_KEYS_MAX && coll->keys[i].name; i++) {
    if (strcmp(coll->keys[i].name, key) == 0)
      return &coll->keys[i];
  }
  return NULL;
}

kf_rc kf_mailbox_filter_set(kf_mailbox_filter *filter, const char *key, const char *value) {
  assert(filter && key);
  for (size_t i = 0; i < filter->terms_len; i++) {
    if (strcmp(filter->terms[i].key, key) == 0) {
      filter->terms[i].value = value;
      return KF_OK;
    }
  }
  if (filter->terms_len >= KF_MAILBOX_TERMS_MAX)
    return KF_ERR_LIMIT;
  filter->terms[filter->terms_len++] = (kf_mailbox_term){key, value};
  return KF_OK;
}

/* Run body (a function of the store and ctx) inside BEGIN IMMEDIATE ... COMMIT. */
static kf_rc mb_transaction(kf_mailbox *mb, kf_rc (*body)(kf_mailbox *, void *, kf_err *),
                            void *ctx, kf_err *err) {
  /* kf_sql_run, not kf_sql_exec: both statements come from the cache. */
  kf_rc rc = kf_sql_run(mb->db, NULL, err, "BEGIN IMMEDIATE", "");
  if (rc != KF_OK)
    return rc;
  rc = body(mb, ctx, err);
  if (rc == KF_OK)
    rc = kf_sql_run(mb->db, NULL, err, "COMMIT", "");
  /* Whatever failed, nothing of it may remain. */
  if (rc != KF_OK)
    (void)sqlite3_exec(mb->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

/* One integer from a query without parameters (0 when it returns no row). */
static kf_rc mb_query_int(kf_mailbox *mb, const char *sql, int64_t *out, kf_err *err) {
  kf_sql q;
  bool row = false;
  *out = 0;
  kf_rc rc = kf_sql_query(&q, mb->db, err, sql, "");
  if (rc != KF_OK)
    return rc;
  rc = kf_sql_step(&q, &row, err);
  if (rc == KF_OK && row)
    *out = kf_sql_int(&q, 0);
  kf_sql_finalize(&q);
  return rc;
}

/* Parse a stored document text. */
static kf_rc mb_doc_parse(const char *text, size_t len, json_t **out, kf_err *err) {
  json_error_t jerr;
  /* Stored documents may hold U+0000 (it arrived escaped as \\u0000); keep it. */
  *out = json_loadb(text, len, JSON_ALLOW_NUL, &jerr);
  if (!*out)
    return kf_err_set(err, KF_ERR_NOMEM, "mailbox: cannot load stored document: %s", jerr.text);
  return KF_OK;
}

/*
 * Where jansson serialises to. The first failed append is sticky: jansson
 * ignores the result of writing an object key, so without it a key lost to
 * a failed allocation would leave broken JSON that still "succeeded".
 */
typedef struct mb_dump {
  kf_buf buf;
  kf_rc rc;
} mb_dump;

static int mb_dump_cb(const char *buffer, size_t size, void *data) {
  mb_dump *d = data;
  if (d->rc == KF_OK)
    d->rc = kf_buf_append(&d->buf, buffer, size);
  return d->rc == KF_OK ? 0 : -1;
}

/* Whether key is a member the store sets itself in coll's documents. */
static bool mb_store_member(const kf_mailbox_collection *coll, const char *key) {
  return strcmp(key, "id") == 0 || strcmp(key, "received_at") == 0 ||
         (coll->identity[0] != NULL && strcmp(key, "duplicate_of") == 0);
}

/*
 * A new object: the store's members of head ("id", "received_at" and, in a
 * collection with an identity, "duplicate_of", null when head lacks it)
 * first, then every other member of doc (the store's values always win).
 */
static kf_rc mb_doc_compose(const kf_mailbox_collection *coll, const json_t *head,
                            const json_t *doc, json_t **out, kf_err *err) {
  *out = json_object();
  bool ok = *out != NULL;
  static const char *const members[] = {"id", "received_at", "duplicate_of"};
  for (size_t i = 0; ok && i < sizeof(members) / sizeof(members[0]); i++) {
    if (!mb_store_member(coll, members[i]))
      continue;
    json_t *v = json_object_get(head, members[i]);
    ok = json_object_set_new(*out, members[i], v ? json_incref(v) : json_null()) == 0;
  }
  const char *key;
  json_t *value;
  /* json_object_foreach needs a non-const object; it does not modify it. */
  json_object_foreach((json_t *)doc, key, value) {
    if (ok && !mb_store_member(coll, key))
      ok = json_object_set(*out, key, value) == 0;
  }
  if (ok)
    return KF_OK;
  json_decref(*out);
  *out = NULL;
  return kf_err_set(err, KF_ERR_NOMEM, "mailbox: out of memory");
}

/*
 * Build the stored form of doc: "id" and "received_at" first (and, in a
 * collection with an identity, "duplicate_of": dup or null), then every key
 * of doc except those, serialised.
 */
static kf_rc mb_doc_render(const kf_mailbox_collection *coll, const json_t *doc, int64_t id,
                           const char *received_at, int64_t dup, char **out, kf_err *err) {
  *out = NULL;
  json_t *head = json_object();
  bool ok = head && json_object_set_new(head, "id", json_integer(id)) == 0 &&
            json_object_set_new(head, "received_at", json_string(received_at)) == 0 &&
            (dup <= 0 || json_object_set_new(head, "duplicate_of", json_integer(dup)) == 0);
  json_t *stored = NULL;
  kf_rc rc = ok ? mb_doc_compose(coll, head, doc, &stored, err)
                : kf_err_set(err, KF_ERR_NOMEM, "mailbox: out of memory");
  json_decref(head);
  mb_dump dump = {.rc = KF_OK};
  kf_buf_init(&dump.buf, MB_DOC_MAX);
  if (rc == KF_OK &&
      (json_dump_callback(stored, mb_dump_cb, &dump, JSON_COMPACT) != 0 || dump.rc != KF_OK)) {
    rc = kf_err_set(err, dump.rc == KF_ERR_LIMIT ? KF_ERR_LIMIT : KF_ERR_NOMEM,
                    "mailbox: cannot serialise document");
  }
  json_decref(stored);
  if (rc == KF_OK) {
    *out = kf_buf_detach(&dump.buf, NULL);
    if (!*out)
      rc = kf_err_set(err, KF_ERR_NOMEM, "mailbox: out of memory");
  }
  kf_buf_release(&dump.buf);
  return rc;
}

/* The member of doc at a dotted path, or NULL. */
static const json_t *mb_path_get(const json_t *doc, const char *path) {
  const json_t *v = doc;
  for (const char *p = path; v && *p;) {
    const char *dot = strchr(p, '.');
    size_t n = dot ? (size_t)(dot - p) : strlen(p);
    char segment[MB_SEGMENT_MAX];
    if (n >= sizeof(segment))
      return NULL;
    memcpy(segment, p, n);
    segment[n] = '\0';
    v = json_object_get(v, segment);
    p += dot ? n + 1 : n;
  }
  return v;
}

static int mb_str_cmp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Append n in decimal and then sep: what "%zu<sep>" prints, without printf (every add runs it). */
static kf_rc mb_append_count(kf_buf *out, size_t n, char sep) {
  char digits[24];
  size_t at = sizeof(digits);
  digits[--at] = sep;
  do {
    digits[--at] = (char)('0' + n % 10);
    n /= 10;
  } while (n > 0);
  return kf_buf_append(out, digits + at, sizeof(digits) - at);
}

/*
 * Append the values at one identity path to out, sorted (so the order of the
 * envelope's recipients does not matter) and each with its length, so no
 * value can pass for two. *found is false when the path holds no value.
 */
static kf_rc mb_identity_part(const json_t *v, kf_buf *out, bool *found) {
  size_t n = json_is_array(v) ? json_array_size(v) : 1;
  const char **vals = kf_calloc(n ? n : 1, sizeof(*vals));
  if (!vals)
    return KF_ERR_NOMEM;
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    const char *text = json_string_value(json_is_array(v) ? json_array_get(v, i) : v);
    if (text && *text)
      vals[m++] = text;
  }
  qsort(vals, m, sizeof(*vals), mb_str_cmp);
  kf_rc rc = mb_append_count(out, m, '[');
  for (size_t i = 0; rc == KF_OK && i < m; i++) {
    size_t len = strlen(vals[i]);
    rc = mb_append_count(out, len, ':');
    if (rc == KF_OK)
      rc = kf_buf_append(out, vals[i], len);
  }
  if (rc == KF_OK)
    rc = kf_buf_append_str(out, "]");
  kf_free(vals);
  *found = m > 0;
  return rc;
}

/*
 * The identity of doc in its collection (see kf_mailbox_collection) into
 * out, or out left empty when the collection has none or doc lacks a value.
 */
static kf_rc mb_identity(const kf_mailbox_collection *coll, const json_t *doc, kf_buf *out) {
  kf_buf_reset(out);
  bool found = coll->identity[0] != NULL;
  kf_rc rc = KF_OK;
  for (size_t i = 0; rc == KF_OK && found && i < KF_MAILBOX_IDENTITY_MAX && coll->identity[i]; i++)
    rc = mb_identity_part(mb_path_get(doc, coll->identity[i]), out, &found);
  /* Too long to be a real Message-ID and recipients: never a redelivery. */
  if (rc == KF_ERR_LIMIT) {
    rc = KF_OK;
    found = false;
  }
  if (rc == KF_OK && !found)
    kf_buf_reset(out);
  return rc;
}

/*
 * Store the search values doc holds for every key of the collection, its
 * identity, and the redelivery mark when dup (the first delivery's id) is set.
 */
static kf_rc mb_keys_insert(kf_mailbox *mb, int64_t id, const json_t *doc, const char *identity,
                            int64_t dup, kf_err *err) {
  const kf_mailbox_collection *coll = mb->coll;
  kf_rc rc = KF_OK;
  for (size_t k = 0; rc == KF_OK && k < KF_MAILBOX_KEYS_MAX && coll->keys[k].name; k++) {
    const kf_mailbox_key *key = &coll->keys[k];
    const json_t *v = mb_path_get(doc, key->path);
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    for (size_t i = 0; rc == KF_OK && i < n; i++) {
      const char *text = json_string_value(json_is_array(v) ? json_array_get(v, i) : v);
      if (text && *text)
        rc = kf_sql_run(mb->db, NULL, err, mb_match[key->match].insert, "itt", id, key->name, text);
    }
  }
  static const char *const insert = "INSERT INTO item_keys(item_id, key, value) VALUES(?1, ?2, ?3)";
  if (rc == KF_OK && identity && *identity)
    rc = kf_sql_run(mb->db, NULL, err, insert, "itt", id, MB_KEY_IDENTITY, identity);
  char dup_text[24];
  if (rc == KF_OK && dup > 0 &&
      (rc = kf_str_format(dup_text, sizeof(dup_text), "%lld", (long long)dup)) == KF_OK)
    rc = kf_sql_run(mb->db, NULL, err, insert, "itt", id, MB_KEY_DUPLICATE, dup_text);
  return rc;
}

/*
 * The first delivery of identity: the oldest item with it that is not
 * itself a redelivery, or 0. Lock held.
 */
static kf_rc mb_first_delivery(kf_mailbox *mb, const char *identity, int64_t *out, kf_err *err) {
  *out = 0;
  if (!*identity)
    return KF_OK;
  kf_sql q;
  bool row = false;
  kf_rc rc = kf_sql_query(&q, mb->db, err,
                          "SELECT min(k.item_id) FROM item_keys k WHERE k.key = ?1 AND"
                          " k.value = ?2 AND NOT EXISTS (SELECT 1 FROM item_keys d WHERE"
                          " d.item_id = k.item_id AND d.key = ?3)",
                          "ttt", MB_KEY_IDENTITY, identity, MB_KEY_DUPLICATE);
  if (rc != KF_OK)
    return rc;
  rc = kf_sql_step(&q, &row, err);
  if (rc == KF_OK && row && !kf_sql_is_null(&q, 0))
    *out = kf_sql_int(&q, 0);
  kf_sql_finalize(&q);
  return rc;
}

/* The key definitions of coll as one string, to tell whether a file's values still fit. */
static kf_rc mb_signature(const kf_mailbox_collection *coll, char *out, size_t size) {
  kf_rc rc = kf_str_format(out, size, "%s", coll->name);
  for (size_t k = 0; rc == KF_OK && k < KF_MAILBOX_KEYS_MAX && coll->keys[k].name; k++) {
    size_t len = strlen(out);
    rc = kf_str_format(out + len, size - len, ";%s:%d:%s", coll->keys[k].name,
                       (int)coll->keys[k].match, coll->keys[k].path);
  }
  for (size_t i = 0; rc == KF_OK && i < KF_MAILBOX_IDENTITY_MAX && coll->identity[i]; i++) {
    size_t len = strlen(out);
    rc = kf_str_format(out + len, size - len, ";=%s", coll->identity[i]);
  }
  return rc;
}

/* Rebuild every search value from the stored documents. In a transaction. */
static kf_rc mb_reindex_locked(kf_mailbox *mb, void *signature, kf_err *err) {
  kf_rc rc = kf_sql_exec(mb->db, "DELETE FROM item_keys", err);
  kf_sql q;
  if (rc == KF_OK)
    rc = kf_sql_query(&q, mb->db, err, "SELECT id, doc FROM items ORDER BY id", "");
  if (rc != KF_OK)
    return rc;
  kf_buf identity;
  kf_buf_init(&identity, MB_IDENTITY_MAX);
  bool row = false;
  while (rc == KF_OK && (rc = kf_sql_step(&q, &row, err)) == KF_OK && row) {
    size_t len = 0;
    const char *text = kf_sql_text(&q, 1, &len);
    json_t *doc = NULL;
    rc = mb_doc_parse(text ? text : "", len, &doc, err);
    if (rc == KF_OK && (rc = mb_identity(mb->coll, doc, &identity)) != KF_OK)
      rc = kf_err_set(err, rc, "mailbox: out of memory");
    if (rc == KF_OK)
      rc = mb_keys_insert(mb, kf_sql_int(&q, 0), doc, identity.data,
                          json_integer_value(json_object_get(doc, "duplicate_of")), err);
    json_decref(doc);
  }
  kf_sql_finalize(&q);
  kf_buf_release(&identity);
  if (rc == KF_OK)
    rc = kf_sql_run(mb->db, NULL, err,
                    "INSERT OR REPLACE INTO mailbox_meta(name, value) VALUES('keys', ?1)", "t",
                    (const char *)signature);
  return rc;
}

/* Bring an older file up to this schema and these key definitions. */
static kf_rc mb_migrate_locked(kf_mailbox *mb, void *signature, kf_err *err) {
  int64_t v0 = 0;
  kf_rc rc = mb_query_int(
      mb, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'recipients'", &v0,
      err);
  if (rc == KF_OK && v0 > 0)
    rc = kf_sql_exec(mb->db, mb_migrate_v0, err);
  if (rc != KF_OK)
    return rc;
  kf_sql q;
  bool row = false;
  bool same = false;
  rc = kf_sql_query(&q, mb->db, err, "SELECT value FROM mailbox_meta WHERE name = 'keys'", "");
  if (rc != KF_OK)
    return rc;
  rc = kf_sql_step(&q, &row, err);
  if (rc == KF_OK && row) {
    const char *stored = kf_sql_text(&q, 0, NULL);
    same = stored && strcmp(stored, signature) == 0;
  }
  kf_sql_finalize(&q);
  if (rc == KF_OK && !same)
    rc = mb_reindex_locked(mb, signature, err);
  return rc;
}

/* The mutex and condition variables; on failure nothing is left to destroy. */
static kf_rc mb_sync_init(kf_mailbox *mb, kf_err *err) {
  /* The waiters' condition variables run on the monotonic clock so that a
   * wall-clock jump can neither cut a long-poll short nor stretch it. */
  if (pthread_condattr_init(&mb->wake_attr) != 0)
    return kf_err_set(err, KF_ERR_INTERNAL, "mailbox: pthread_condattr_init failed");
  if (pthread_condattr_setclock(&mb->wake_attr, CLOCK_MONOTONIC) != 0 ||
      pthread_cond_init(&mb->waiters_changed, NULL) != 0) {
    pthread_condattr_destroy(&mb->wake_attr);
    return kf_err_set(err, KF_ERR_INTERNAL, "mailbox: cannot set up condition variable");
  }
  if (pthread_mutex_init(&mb->lock, NULL) != 0) {
    pthread_cond_destroy(&mb->waiters_changed);
    pthread_condattr_destroy(&mb->wake_attr);
    return kf_err_set(err, KF_ERR_INTERNAL, "mailbox: cannot set up mutex");
  }
  if (pthread_mutex_init(&mb->queue_lock, NULL) != 0) {
    pthread_mutex_destroy(&mb->lock);
    pthread_cond_destroy(&mb->waiters_changed);
    pthread_condattr_destroy(&mb->wake_attr);
    return kf_err_set(err, KF_ERR_INTERNAL, "mailbox: cannot set up mutex");
  }
  mb->queue_tail = &mb->queue;
  return KF_OK;
}

/* Open the connection and bring the file to this schema and these keys. */
static kf_rc mb_db_setup(kf_mailbox *mb, const char *path, kf_err *err) {
  /* Our own mutex serialises every use of the connection, so sqlite's is not needed. */
  int src = sqlite3_open_v2(path ? path : ":memory:", &mb->db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (src != SQLITE_OK) {
    return kf_err_set(
        err, src == SQLITE_NOMEM ? KF_ERR_NOMEM : KF_ERR_DB, "mailbox: cannot open %s: %s",
        path ? path : ":memory:", mb->db ? sqlite3_errmsg(mb->db) : sqlite3_errstr(src));
  }
  sqlite3_busy_timeout(mb->db, 5000);
  /* Without a cache (out of memory) every statement is compiled as it comes:
   * slower, never wrong, so that is no reason to refuse the store. */
  if (kf_sql_cache_enable(mb->db, NULL) != KF_OK)
    kf_debug("mailbox: no statement cache (out of memory)");
  kf_rc rc = KF_OK;
  /* WAL lets an outside reader (sqlite3 shell, a debugging session) look at a
   * file store while the mock keeps writing. */
  if (path)
    rc = kf_sql_exec(mb->db, "PRAGMA journal_mode=WAL", err);
  if (rc == KF_OK && path)
    rc = kf_sql_exec(mb->db, "PRAGMA synchronous=NORMAL", err);
  /* Deleting an item deletes its search values (ON DELETE CASCADE). */
  if (rc == KF_OK)
    rc = kf_sql_exec(mb->db, "PRAGMA foreign_keys=ON", err);
  if (rc == KF_OK)
    rc = kf_sql_exec(mb->db, mb_schema, err);
  char signature[MB_SIGNATURE_MAX];
  if (rc == KF_OK && mb_signature(mb->coll, signature, sizeof(signature)) != KF_OK)
    rc = kf_err_set(err, KF_ERR_LIMIT, "mailbox: the keys of %s are too long", mb->coll->name);
  if (rc == KF_OK)
    rc = mb_transaction(mb, mb_migrate_locked, signature, err);
  int64_t count = 0;
  if (rc == KF_OK)
    rc = mb_query_int(mb, "SELECT count(*) FROM items", &count, err);
  mb->count = (size_t)count;
  /* AUTOINCREMENT keeps the largest id ever used, even after deletes. */
  if (rc == KF_OK)
    rc =
        mb_query_int(mb, "SELECT seq FROM sqlite_sequence WHERE name = 'items'", &mb->last_id, err);
  return rc;
}

kf_rc kf_mailbox_open(const char *path, const char *collection, size_t max_items, kf_mailbox **out,
                      kf_err *err) {
  assert(out && collection);
  *out = NULL;
  const kf_mailbox_collection *coll = kf_mailbox_collection_find(collection);
  if (!coll)
    return kf_err_set(err, KF_ERR_INVALID, "mailbox: unknown collection \"%s\"", collection);
  kf_mailbox *mb = kf_calloc(1, sizeof(*mb));
  if (!mb)
    return kf_err_set(err, KF_ERR_NOMEM, "mailbox: out of memory");
  mb->coll = coll;
  mb->max_items = max_items;
  kf_rc rc = mb_sync_init(mb, err);
  if (rc != KF_OK) {
    kf_free(mb);
    return rc;
  }
  rc = mb_db_setup(mb, path, err);
  if (rc != KF_OK) {
    kf_mailbox_free(mb);
    return rc;
  }
  *out = mb;
  return KF_OK;
}

/* Wake every waiter (they see shut_down). Lock held. */
static void mb_wake_all(kf_mailbox *mb) {
  for (mb_waiter *w = mb->waiting; w; w = w->next)
    pthread_cond_signal(&w->wake);
}

void kf_mailbox_shutdown(kf_mailbox *mb) {
  if (!mb)
    return;
  pthread_mutex_lock(&mb->lock);
  mb->shut_down = true;
  mb_wake_all(mb);
  pthread_mutex_unlock(&mb->lock);
}

void kf_mailbox_free(kf_mailbox *mb) {
  if (!mb)
    return;
  /* Waiters hold pointers into mb: wake them and wait until all have left. */
  pthread_mutex_lock(&mb->lock);
  mb->shut_down = true;
  mb_wake_all(mb);
  while (mb->waiters > 0)
    pthread_cond_wait(&mb->waiters_changed, &mb->lock);
  pthread_mutex_unlock(&mb->lock);

  mb_attachment *a = mb->attachments;
  while (a) {
    mb_attachment *next = a->next;
    if (a->free_fn)
      a->free_fn(a->ptr);
    kf_free(a);
    a = next;
  }
  /* Finalises the cached statements, then closes. */
  kf_sql_close(mb->db);
  assert(!mb->queue && !mb->committing);
  pthread_mutex_destroy(&mb->queue_lock);
  pthread_mutex_destroy(&mb->lock);
  pthread_cond_destroy(&mb->waiters_changed);
  pthread_condattr_destroy(&mb->wake_attr);
  kf_free(mb);
}

void kf_mailbox_await_waiters(kf_mailbox *mb, unsigned n) {
  assert(mb);
  pthread_mutex_lock(&mb->lock);
  while (mb->waiters < n)
    pthread_cond_wait(&mb->waiters_changed, &mb->lock);
  pthread_mutex_unlock(&mb->lock);
}

uint64_t kf_mailbox_commits(kf_mailbox *mb) {
  assert(mb);
  pthread_mutex_lock(&mb->lock);
  uint64_t n = mb->commits;
  pthread_mutex_unlock(&mb->lock);
  return n;
}

kf_rc kf_mailbox_attach(kf_mailbox *mb, void *ptr, void (*free_fn)(void *)) {
  assert(mb);
  mb_attachment *a = kf_malloc(sizeof(*a));
  if (!a)
    return KF_ERR_NOMEM;
  a->ptr = ptr;
  a->free_fn = free_fn;
  pthread_mutex_lock(&mb->lock);
  a->next = mb->attachments;
  mb->attachments = a;
  pthread_mutex_unlock(&mb->lock);
  return KF_OK;
}

/*
 * Whether the new item doc (a redelivery when dup) matches filter: the search
 * terms tested in C on the values the keys find in doc, as mb_keys_insert
 * stores them, so an add wakes only the waiters it may concern. The waiter
 * still asks the store, so a wrong "yes" costs a look and nothing else.
 */
static bool mb_may_match(const kf_mailbox_collection *coll, const kf_mailbox_filter *filter,
                         const json_t *doc, bool dup) {
  if (dup && !filter->include_duplicates && coll->identity[0])
    return false;
  for (size_t t = 0; t < filter->terms_len && t < KF_MAILBOX_TERMS_MAX; t++) {
    const kf_mailbox_term *term = &filter->terms[t];
    if (!term->value || !*term->value)
      continue;
    const kf_mailbox_key *key = mb_key_find(coll, term->key);
    if (!key)
      return false;
    const json_t *v = mb_path_get(doc, key->path);
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    bool found = false;
    for (size_t i = 0; !found && i < n; i++) {
      const char *text = json_string_value(json_is_array(v) ? json_array_get(v, i) : v);
      found = text && *text && mb_match[key->match].test(text, term->value);
    }
    if (!found)
      return false;
  }
  return true;
}

/*
 * One kf_mailbox_add on its way into the store. It lives on the adding
 * thread's stack; the thread that commits it (the adder itself or another
 * adder leading the group commit) fills id, dup and rc and then sets done.
 */
typedef struct mb_add_req {
  struct mb_add_req *next;
  const json_t *doc;
  const void *raw;
  size_t raw_len;
  char received_at[KF_TIME_ISO_MAX];
  kf_buf identity; /* Computed before queueing: it depends on doc alone. */
  int64_t id;
  int64_t dup; /* The first delivery's id when this is a redelivery, else 0. */
  kf_rc rc;
  kf_err err;
  bool done;
  /* The adding thread's: signalled when done, and when the commit has no leader. */
  pthread_cond_t *wake;
} mb_add_req;

/*
 * Store one item inside the open transaction, as the id after the largest
 * given so far plus the items already stored in this transaction (next_id);
 * the caller rolls back on error. The first delivery is looked up in the
 * transaction that stores the item, so two redeliveries arriving at once
 * cannot both pass for the first. Lock held.
 */
static kf_rc mb_add_one(kf_mailbox *mb, mb_add_req *a, int64_t next_id, kf_err *err) {
  int64_t dup = 0;
  kf_rc rc = KF_OK;
  if (a->identity.len > 0)
    rc = mb_first_delivery(mb, a->identity.data, &dup, err);
  char *text = NULL;
  /* Only this connection writes, so the id AUTOINCREMENT would give is known. */
  if (rc == KF_OK)
    rc = mb_doc_render(mb->coll, a->doc, next_id, a->received_at, dup, &text, err);
  static const char *const insert =
      "INSERT INTO items(id, received_at, doc, raw) VALUES(?1, ?2, ?3, ?4)";
  if (rc == KF_OK)
    rc = a->raw ? kf_sql_run(mb->db, NULL, err, insert, "ittb", next_id, a->received_at, text,
                             a->raw, a->raw_len)
                : kf_sql_run(mb->db, NULL, err, insert, "ittn", next_id, a->received_at, text);
  kf_free(text);
  if (rc == KF_OK)
    rc = mb_keys_insert(mb, next_id, a->doc, a->identity.data, dup, err);
  if (rc == KF_OK) {
    a->id = next_id;
    a->dup = dup;
  }
  return rc;
}

/* What one transaction of a group commit stores: the requests in the list, from first. */
typedef struct mb_batch {
  mb_add_req *first;
  size_t stored; /* How many of them were stored (the rest are refused as over the cap). */
} mb_batch;

/*
 * The body of a group transaction: every request of the batch in order,
 * each refused with KF_ERR_LIMIT once the store would hold max_items. The
 * first failure of any other kind fails the whole transaction.
 */
static kf_rc mb_batch_locked(kf_mailbox *mb, void *ctx, kf_err *err) {
  mb_batch *b = ctx;
  b->stored = 0;
  for (mb_add_req *a = b->first; a; a = a->next) {
    a->rc = KF_OK;
    if (mb->count + b->stored >= mb->max_items) {
      a->rc = kf_err_set(&a->err, KF_ERR_LIMIT, "mailbox: full (%zu items)", mb->max_items);
      continue;
    }
    kf_rc rc = mb_add_one(mb, a, mb->last_id + 1 + (int64_t)b->stored, err);
    if (rc != KF_OK)
      return rc;
    b->stored++;
  }
  return KF_OK;
}

/* One request alone, after its group's transaction failed: it gets its own verdict. */
static kf_rc mb_single_locked(kf_mailbox *mb, void *ctx, kf_err *err) {
  mb_add_req *a = ctx;
  if (mb->count >= mb->max_items)
    return kf_err_set(err, KF_ERR_LIMIT, "mailbox: full (%zu items)", mb->max_items);
  return mb_add_one(mb, a, mb->last_id + 1, err);
}

/* The new item a is in the store: count it and wake the waiters it may match. Lock held. */
static void mb_added_locked(kf_mailbox *mb, const mb_add_req *a) {
  mb->count++;
  mb->last_id = a->id;
  for (mb_waiter *w = mb->waiting; w; w = w->next) {
    if (mb_may_match(mb->coll, w->filter, a->doc, a->dup > 0))
      pthread_cond_signal(&w->wake);
  }
}

/*
 * Store every request of the list in one transaction, so one commit (and one
 * write of the pages the items share) serves all the sessions that were
 * waiting for it. If a group of several fails, each request is tried alone,
 * so only the one at fault fails. Takes the store's lock.
 */
static void mb_commit_group(kf_mailbox *mb, mb_add_req *first) {
  mb_batch b = {.first = first};
  kf_err err;
  kf_err_init(&err);
  pthread_mutex_lock(&mb->lock);
  kf_rc rc = mb_transaction(mb, mb_batch_locked, &b, &err);
  if (rc == KF_OK) {
    mb->commits++;
    for (mb_add_req *a = first; a; a = a->next) {
      if (a->rc == KF_OK)
        mb_added_locked(mb, a);
    }
  } else if (!first->next) {
    /* Alone in its group, the request failed on its own account. */
    first->rc = rc;
    first->err = err;
  } else {
    for (mb_add_req *a = first; a; a = a->next) {
      a->rc = mb_transaction(mb, mb_single_locked, a, &a->err);
      if (a->rc == KF_OK) {
        mb->commits++;
        mb_added_locked(mb, a);
      }
    }
  }
  pthread_mutex_unlock(&mb->lock);
}

/*
 * Group commit: the adder that finds no commit under way leads one for
 * every request queued by then, its own included; the others sleep until
 * theirs are done or the lead is free again. So each item is committed
 * before kf_mailbox_add returns (a mail is answered 250 only once it is
 * stored), and concurrent adders share commits instead of queueing for one
 * each. One call's requests (reqs[0..n), all with the same wake) are queued
 * together, so one commit takes all of them.
 */
static void mb_add_queued(kf_mailbox *mb, mb_add_req *reqs, size_t n) {
  pthread_mutex_lock(&mb->queue_lock);
  for (size_t i = 0; i < n; i++) {
    *mb->queue_tail = &reqs[i];
    mb->queue_tail = &reqs[i].next;
  }
  while (!reqs[0].done) {
    if (mb->committing) {
      pthread_cond_wait(reqs[0].wake, &mb->queue_lock);
      continue;
    }
    mb->committing = true;
    mb_add_req *first = mb->queue;
    mb->queue = NULL;
    mb->queue_tail = &mb->queue;
    pthread_mutex_unlock(&mb->queue_lock);
    mb_commit_group(mb, first);
    pthread_mutex_lock(&mb->queue_lock);
    mb->committing = false;
    /* Read next before done: a finished request's owner may return at once. */
    for (mb_add_req *a = first, *next; a; a = next) {
      next = a->next;
      a->done = true;
      if (a->wake != reqs[0].wake)
        pthread_cond_signal(a->wake);
    }
    /* Whoever queued meanwhile leads the next commit. */
    if (mb->queue)
      pthread_cond_signal(mb->queue->wake);
  }
  pthread_mutex_unlock(&mb->queue_lock);
}

/* Get req ready for the queue: its time and its identity. Outside any lock. */
static kf_rc mb_add_prepare(kf_mailbox *mb, mb_add_req *req, json_t *doc, const void *raw,
                            size_t raw_len, pthread_cond_t *wake, kf_err *err) {
  *req = (mb_add_req){.doc = doc, .raw = raw, .raw_len = raw_len, .wake = wake};
  kf_err_init(&req->err);
  kf_buf_init(&req->identity, MB_IDENTITY_MAX);
  if (!doc || !json_is_object(doc))
    return kf_err_set(err, KF_ERR_INVALID, "mailbox: document must be a JSON object");
  kf_rc rc = kf_time_format_iso(kf_time_real_now(), req->received_at, sizeof(req->received_at));
  if (rc != KF_OK)
    return kf_err_set(err, rc, "mailbox: cannot format the time");
  rc = mb_identity(mb->coll, doc, &req->identity);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "mailbox: out of memory");
  return KF_OK;
}

kf_rc kf_mailbox_add(kf_mailbox *mb, json_t *doc, const void *raw, size_t raw_len, int64_t *id_out,
                     kf_err *err) {
  assert(mb);
  pthread_cond_t wake;
  if (pthread_cond_init(&wake, NULL) != 0)
    return kf_err_set(err, KF_ERR_INTERNAL, "mailbox: cannot set up condition variable");
  mb_add_req req;
  kf_rc rc = mb_add_prepare(mb, &req, doc, raw, raw_len, &wake, err);
  if (rc == KF_OK) {
    mb_add_queued(mb, &req, 1);
    rc = req.rc;
    if (rc != KF_OK && err)
      *err = req.err;
  }
  kf_buf_release(&req.identity);
  pthread_cond_destroy(&wake);
  if (rc == KF_OK && id_out)
    *id_out = req.id;
  return rc;
}

/* Mark every entry failed with rc and why. */
static void mb_entries_fail(kf_mailbox_entry *entries, size_t n, kf_rc rc, const char *why) {
  for (size_t i = 0; i < n; i++) {
    entries[i].rc = kf_err_set(&entries[i].err, rc, "mailbox: %s", why);
    entries[i].id = 0;
  }
}

void kf_mailbox_add_all(kf_mailbox *mb, kf_mailbox_entry *entries, size_t n) {
  assert(mb && (entries || n == 0));
  if (n == 0)
    return;
  pthread_cond_t wake;
  if (pthread_cond_init(&wake, NULL) != 0) {
    mb_entries_fail(entries, n, KF_ERR_INTERNAL, "cannot set up condition variable");
    return;
  }
  mb_add_req *reqs = kf_calloc(n, sizeof(*reqs));
  if (!reqs) {
    mb_entries_fail(entries, n, KF_ERR_NOMEM, "out of memory");
    pthread_cond_destroy(&wake);
    return;
  }
  /* Entries that cannot even be queued fail at once; the others go in together. */
  size_t queued = 0;
  for (size_t i = 0; i < n; i++) {
    kf_mailbox_entry *e = &entries[i];
    kf_err_init(&e->err);
    e->id = 0;
    mb_add_req *req = &reqs[queued];
    e->rc = mb_add_prepare(mb, req, e->doc, e->raw, e->raw_len, &wake, &e->err);
    if (e->rc == KF_OK)
      queued++;
    else
      kf_buf_release(&req->identity);
  }
  if (queued > 0)
    mb_add_queued(mb, reqs, queued);
  for (size_t i = 0, q = 0; i < n; i++) {
    kf_mailbox_entry *e = &entries[i];
    if (e->rc != KF_OK)
      continue;
    mb_add_req *req = &reqs[q++];
    e->rc = req->rc;
    e->id = req->rc == KF_OK ? req->id : 0;
    if (req->rc != KF_OK)
      e->err = req->err;
    kf_buf_release(&req->identity);
  }
  kf_free(reqs);
  pthread_cond_destroy(&wake);
}

/* Step the one-row query sql for id; KF_ERR_NOT_FOUND when there is no row. Lock held. */
static kf_rc mb_row_by_id(kf_mailbox *mb, const char *sql, int64_t id, kf_sql *q, kf_err *err) {
  bool row = false;
  kf_rc rc = kf_sql_query(q, mb->db, err, sql, "i", id);
  if (rc != KF_OK)
    return rc;
  rc = kf_sql_step(q, &row, err);
  if (rc == KF_OK && !row)
    rc = kf_err_set(err, KF_ERR_NOT_FOUND, "mailbox: no item %lld", (long long)id);
  if (rc != KF_OK)
    kf_sql_finalize(q);
  return rc;
}

void kf_mailbox_set_expand(kf_mailbox *mb, kf_mailbox_expand_fn expand, void *ctx) {
  assert(mb);
  mb->expand = expand;
  mb->expand_ctx = ctx;
}

/*
 * An item as read under the lock: its stored document and, when it is to be
 * expanded (kf_mailbox_set_expand), a copy of its raw source, so the
 * expansion can run after the lock is released.
 */
typedef struct mb_item {
  json_t *doc;
  char *raw; /* NULL: no raw source, or no expander. */
  size_t raw_len;
} mb_item;

static void mb_item_release(mb_item *it) {
  json_decref(it->doc);
  kf_free(it->raw);
  *it = (mb_item){0};
}

/* Read it from the current row of q: the document in column 0, the raw source in column 1. */
static kf_rc mb_item_read(kf_mailbox *mb, const kf_sql *q, mb_item *it, kf_err *err) {
  *it = (mb_item){0};
  size_t len = 0;
  const char *text = kf_sql_text(q, 0, &len);
  kf_rc rc = mb_doc_parse(text ? text : "", len, &it->doc, err);
  if (rc == KF_OK && mb->expand && !kf_sql_is_null(q, 1)) {
    rc = kf_sql_text_dup(q, 1, &it->raw, &it->raw_len, err);
    /* An empty source is still one to expand. */
    if (rc == KF_OK && !it->raw && !(it->raw = kf_memdup0("", 0)))
      rc = kf_err_set(err, KF_ERR_NOMEM, "mailbox: out of memory");
  }
  if (rc != KF_OK)
    mb_item_release(it);
  return rc;
}

/*
 * The document a reader gets for it: as stored, or built by the expander
 * from the raw source, after the store's own members. Releases it. Runs
 * without the lock.
 */
static kf_rc mb_item_finish(kf_mailbox *mb, mb_item *it, json_t **out, kf_err *err) {
  *out = NULL;
  if (!it->raw) {
    *out = it->doc;
    it->doc = NULL;
    return KF_OK;
  }
  json_t *full = NULL;
  kf_rc rc = mb->expand(mb->expand_ctx, it->doc, it->raw, it->raw_len, &full, err);
  if (rc == KF_OK)
    rc = mb_doc_compose(mb->coll, it->doc, full, out, err);
  json_decref(full);
  mb_item_release(it);
  return rc;
}

/* The item id; KF_ERR_NOT_FOUND if absent. Lock held. */
static kf_rc mb_item_locked(kf_mailbox *mb, int64_t id, mb_item *it, kf_err *err) {
  kf_sql q;
  kf_rc rc = mb_row_by_id(mb, "SELECT doc, raw FROM items WHERE id = ?1", id, &q, err);
  if (rc == KF_OK) {
    rc = mb_item_read(mb, &q, it, err);
    kf_sql_finalize(&q);
  }
  return rc;
}

kf_rc kf_mailbox_get(kf_mailbox *mb, int64_t id, json_t **out, kf_err *err) {
  assert(mb && out);
  *out = NULL;
  mb_item it;
  pthread_mutex_lock(&mb->lock);
  kf_rc rc = mb_item_locked(mb, id, &it, err);
  pthread_mutex_unlock(&mb->lock);
  if (rc == KF_OK)
    rc = mb_item_finish(mb, &it, out, err);
  return rc;
}

kf_rc kf_mailbox_get_raw(kf_mailbox *mb, int64_t id, char **out, size_t *len, kf_err *err) {
  assert(mb && out);
  *out = NULL;
  size_t n = 0;
  kf_sql q;
  pthread_mutex_lock(&mb->lock);
  kf_rc rc = mb_row_by_id(mb, "SELECT raw FROM items WHERE id = ?1", id, &q, err);
  if (rc == KF_OK) {
    if (kf_sql_is_null(&q, 0))
      rc = kf_err_set(err, KF_ERR_NOT_FOUND, "mailbox: no raw source for item %lld", (long long)id);
    else
      rc = kf_sql_text_dup(&q, 0, out, &n, err);
    /* An empty source reads as no text at all. */
    if (rc == KF_OK && !*out && !(*out = kf_memdup0("", 0)))
      rc = kf_err_set(err, KF_ERR_NOMEM, "mailbox: out of memory");
    kf_sql_finalize(&q);
  }
  pthread_mutex_unlock(&mb->lock);
  if (len)
    *len = rc == KF_OK ? n : 0;
  return rc;
}

/* Both bind slots of every term: MB_BINDS(b) passes b[0] .. b[2 * KF_MAILBOX_TERMS_MAX - 1]. */
_Static_assert(KF_MAILBOX_TERMS_MAX == 8, "MB_BINDS lists 16 slots");
#define MB_BINDS(b)                                                                                \
  b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],   \
      b[15]

/*
 * The search statement for filter, selecting column of the items: ?1 is the
 * limit, ?2 the "after" id, then a key and a value for each term in use,
 * whose values go to binds and whose bind types to types. A term on a key
 * the collection lacks matches nothing.
 */
static kf_rc mb_search_sql(const kf_mailbox_collection *coll, const kf_mailbox_filter *filter,
                           const char *prefix, const char *column, char *sql, char *types,
                           const char **binds) {
  kf_rc rc =
      kf_str_format(sql, MB_SQL_MAX, "%sSELECT %s FROM items i WHERE i.id > ?2", prefix, column);
  bool after = filter->after_id > 0;
  size_t n = 0;
  types[0] = 'd';
  types[1] = 'i';
  for (size_t t = 0; rc == KF_OK && t < filter->terms_len && t < KF_MAILBOX_TERMS_MAX; t++) {
    const kf_mailbox_term *term = &filter->terms[t];
    /* Empty values count as "no filter", so a form left blank matches everything. */
    if (!term->value || !*term->value)
      continue;
    const kf_mailbox_key *key = mb_key_find(coll, term->key);
    size_t len = strlen(sql);
    const mb_match_sql *m = key ? &mb_match[key->match] : NULL;
    rc = kf_str_format(sql + len, MB_SQL_MAX - len, " AND %s",
                       m ? (after ? m->term_after : m->term) : "0");
    if (key) {
      types[2 + n] = 't';
      types[3 + n] = 't';
      binds[n++] = key->name;
      binds[n++] = term->value;
    }
  }
  types[2 + n] = '\0';
  size_t len = strlen(sql);
  /* A redelivery is not a new item unless asked for (item_keys_item answers it). */
  if (rc == KF_OK && !filter->include_duplicates && coll->identity[0]) {
    rc = kf_str_copy(sql + len, MB_SQL_MAX - len,
                     " AND NOT EXISTS (SELECT 1 FROM item_keys d WHERE d.item_id = i.id"
                     " AND d.key = '" MB_KEY_DUPLICATE "')");
    len = strlen(sql);
  }
  if (rc == KF_OK)
    rc = kf_str_copy(sql + len, MB_SQL_MAX - len, " ORDER BY i.id LIMIT ?1");
  return rc;
}

/*
 * Prepare and bind the search for filter, after prefix ("" or "EXPLAIN QUERY
 * PLAN "), selecting column ("i.doc" or "i.id").
 */
static kf_rc mb_search_prepare(kf_mailbox *mb, const kf_mailbox_filter *filter, unsigned limit,
                               const char *prefix, const char *column, kf_sql *q, kf_err *err) {
  char sql[MB_SQL_MAX];
  char types[3 + 2 * KF_MAILBOX_TERMS_MAX];
  const char *binds[2 * KF_MAILBOX_TERMS_MAX] = {NULL};
  if (mb_search_sql(mb->coll, filter, prefix, column, sql, types, binds) != KF_OK)
    return kf_err_set(err, KF_ERR_INTERNAL, "mailbox: search statement too long");
  int64_t after = filter->after_id > 0 ? filter->after_id : 0;
  return kf_sql_query(q, mb->db, err, sql, types, (int)limit, after, MB_BINDS(binds));
}

/* Run the filter query with the given limit into items (*n of them; caller releases). Lock held. */
static kf_rc mb_query_locked(kf_mailbox *mb, const kf_mailbox_filter *filter, unsigned limit,
                             mb_item *items, size_t *n, kf_err *err) {
  *n = 0;
  kf_sql q;
  kf_rc rc = mb_search_prepare(mb, filter, limit, "", "i.doc, i.raw", &q, err);
  if (rc != KF_OK)
    return rc;
  bool row = false;
  while (rc == KF_OK && *n < limit && (rc = kf_sql_step(&q, &row, err)) == KF_OK && row) {
    rc = mb_item_read(mb, &q, &items[*n], err);
    if (rc == KF_OK)
      (*n)++;
  }
  kf_sql_finalize(&q);
  return rc;
}

static unsigned mb_limit(unsigned limit) {
  if (limit == 0)
    return MB_LIMIT_DEFAULT;
  return limit > MB_LIMIT_MAX ? MB_LIMIT_MAX : limit;
}

/* The documents of items[0..n) into a new array, expanded outside the lock; releases them all. */
static kf_rc mb_items_list(kf_mailbox *mb, mb_item *items, size_t n, json_t **out, kf_err *err) {
  json_t *list = json_array();
  kf_rc rc = list ? KF_OK : kf_err_set(err, KF_ERR_NOMEM, "mailbox: out of memory");
  for (size_t i = 0; i < n; i++) {
    json_t *doc = NULL;
    if (rc == KF_OK)
      rc = mb_item_finish(mb, &items[i], &doc, err);
    if (rc == KF_OK && json_array_append_new(list, doc) != 0)
      rc = kf_err_set(err, KF_ERR_NOMEM, "mailbox: out of memory");
    mb_item_release(&items[i]);
  }
  if (rc != KF_OK) {
    json_decref(list);
    list = NULL;
  }
  *out = list;
  return rc;
}

kf_rc kf_mailbox_list(kf_mailbox *mb, const kf_mailbox_filter *filter, json_t **out, kf_err *err) {
  assert(mb && out);
  *out = NULL;
  kf_mailbox_filter none = {0};
  if (!filter)
    filter = &none;
  unsigned limit = mb_limit(filter->limit);
  mb_item *items = kf_calloc(limit, sizeof(*items));
  if (!items)
    return kf_err_set(err, KF_ERR_NOMEM, "mailbox: out of memory");
  size_t n = 0;
  pthread_mutex_lock(&mb->lock);
  kf_rc rc = mb_query_locked(mb, filter, limit, items, &n, err);
  pthread_mutex_unlock(&mb->lock);
  if (rc == KF_OK) {
    rc = mb_items_list(mb, items, n, out, err);
  } else {
    for (size_t i = 0; i < n; i++)
      mb_item_release(&items[i]);
  }
  kf_free(items);
  return rc;
}

kf_rc kf_mailbox_plan(kf_mailbox *mb, const kf_mailbox_filter *filter, kf_buf *out, kf_err *err) {
  assert(mb && filter && out);
  kf_sql q;
  pthread_mutex_lock(&mb->lock);
  kf_rc rc = mb_search_prepare(mb, filter, 1, "EXPLAIN QUERY PLAN ", "i.id", &q, err);
  bool row = false;
  while (rc == KF_OK && (rc = kf_sql_step(&q, &row, err)) == KF_OK && row) {
    const char *detail = kf_sql_text(&q, 3, NULL);
    rc = kf_buf_appendf(out, "%s\n", detail ? detail : "");
  }
  kf_sql_finalize(&q);
  pthread_mutex_unlock(&mb->lock);
  return rc;
}

/* The absolute CLOCK_MONOTONIC time timeout_ms from now. */
static struct timespec mb_deadline(int64_t timeout_ms) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += (time_t)(timeout_ms / 1000);
  ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

/*
 * The oldest item above after that matches filter; out->doc is NULL when
 * none does. The search reads ids only; the one item comes by primary key.
 * Lock held.
 */
static kf_rc mb_first_locked(kf_mailbox *mb, const kf_mailbox_filter *filter, int64_t after,
                             mb_item *out, kf_err *err) {
  *out = (mb_item){0};
  kf_mailbox_filter f = *filter;
  f.after_id = after;
  kf_sql q;
  kf_rc rc = mb_search_prepare(mb, &f, 1, "", "i.id", &q, err);
  if (rc != KF_OK)
    return rc;
  bool row = false;
  rc = kf_sql_step(&q, &row, err);
  int64_t id = rc == KF_OK && row ? kf_sql_int(&q, 0) : 0;
  kf_sql_finalize(&q);
  if (rc != KF_OK || id == 0)
    return rc;
  return mb_item_locked(mb, id, out, err);
}

/*
 * Look, then sleep on w's condition until an add that may match, the
 * deadline or a shutdown, and look again: only above the cursor. Lock held.
 */
static kf_rc mb_wait_locked(kf_mailbox *mb, mb_waiter *w, const struct timespec *deadline,
                            int64_t timeout_ms, mb_item *out, kf_err *err) {
  int64_t cursor = w->filter->after_id > 0 ? w->filter->after_id : 0;
  for (;;) {
    /* Checking under the mutex that kf_mailbox_add signals under means an
     * item stored after this check always wakes us if it may match. */
    int64_t seen = mb->last_id;
    kf_rc rc = mb_first_locked(mb, w->filter, cursor, out, err);
    if (rc != KF_OK || out->doc)
      return rc;
    /* Nothing up to seen matches, and stored items never change: from now
     * on only newer ids can. */
    if (seen > cursor)
      cursor = seen;
    if (mb->shut_down)
      return kf_err_set(err, KF_ERR_STATE, "mailbox: shutting down");
    int werr = pthread_cond_timedwait(&w->wake, &mb->lock, deadline);
    if (werr == ETIMEDOUT) {
      /* One last look: an add may have raced with the deadline. */
      rc = mb_first_locked(mb, w->filter, cursor, out, err);
      if (rc == KF_OK && !out->doc)
        rc = kf_err_set(err, KF_ERR_TIMEOUT, "mailbox: nothing matched within %lld ms",
                        (long long)timeout_ms);
      return rc;
    }
    assert(werr == 0);
  }
}

kf_rc kf_mailbox_wait(kf_mailbox *mb, const kf_mailbox_filter *filter, int64_t timeout_ms,
                      json_t **out, kf_err *err) {
  assert(mb && out);
  *out = NULL;
  kf_mailbox_filter none = {0};
  if (!filter)
    filter = &none;
  if (timeout_ms < 0)
    timeout_ms = 0;
  struct timespec deadline = mb_deadline(timeout_ms);
  mb_waiter w = {.filter = filter};

  pthread_mutex_lock(&mb->lock);
  if (mb->shut_down) {
    pthread_mutex_unlock(&mb->lock);
    return kf_err_set(err, KF_ERR_STATE, "mailbox: shutting down");
  }
  if (pthread_cond_init(&w.wake, &mb->wake_attr) != 0) {
    pthread_mutex_unlock(&mb->lock);
    return kf_err_set(err, KF_ERR_INTERNAL, "mailbox: cannot set up condition variable");
  }
  w.next = mb->waiting;
  if (mb->waiting)
    mb->waiting->prev = &w;
  mb->waiting = &w;
  mb->waiters++;
  pthread_cond_broadcast(&mb->waiters_changed);
  mb_item found;
  kf_rc rc = mb_wait_locked(mb, &w, &deadline, timeout_ms, &found, err);
  if (w.prev)
    w.prev->next = w.next;
  else
    mb->waiting = w.next;
  if (w.next)
    w.next->prev = w.prev;
  mb->waiters--;
  pthread_cond_broadcast(&mb->waiters_changed);
  pthread_mutex_unlock(&mb->lock);
  /* Unlinked under the mutex, so no add or shutdown can signal it any more. */
  pthread_cond_destroy(&w.wake);
  if (rc == KF_OK)
    rc = mb_item_finish(mb, &found, out, err);
  return rc;
}

kf_rc kf_mailbox_delete(kf_mailbox *mb, int64_t id, kf_err *err) {
  assert(mb);
  int64_t changes = 0;
  pthread_mutex_lock(&mb->lock);
  /* The item's search values go with it (ON DELETE CASCADE). */
  kf_rc rc = kf_sql_run(mb->db, &changes, err, "DELETE FROM items WHERE id = ?1", "i", id);
  if (rc == KF_OK && changes == 0) {
    rc = kf_err_set(err, KF_ERR_NOT_FOUND, "mailbox: no item %lld", (long long)id);
  } else if (rc == KF_OK) {
    assert(mb->count > 0);
    mb->count--;
  }
  pthread_mutex_unlock(&mb->lock);
  return rc;
}

static kf_rc mb_clear_locked(kf_mailbox *mb, void *ctx, kf_err *err) {
  (void)ctx;
  return kf_sql_exec(mb->db, "DELETE FROM item_keys; DELETE FROM items", err);
}

kf_rc kf_mailbox_clear(kf_mailbox *mb, kf_err *err) {
  assert(mb);
  pthread_mutex_lock(&mb->lock);
  /* The AUTOINCREMENT sequence is kept, so ids are never reused and an
   * "after" cursor taken before the clear stays meaningful. */
  kf_rc rc = mb_transaction(mb, mb_clear_locked, NULL, err);
  if (rc == KF_OK)
    mb->count = 0;
  pthread_mutex_unlock(&mb->lock);
  return rc;
}

size_t kf_mailbox_count(kf_mailbox *mb) {
  assert(mb);
  pthread_mutex_lock(&mb->lock);
  size_t n = mb->count;
  pthread_mutex_unlock(&mb->lock);
  return n;
}

int64_t kf_mailbox_last_id(kf_mailbox *mb) {
  assert(mb);
  pthread_mutex_lock(&mb->lock);
  int64_t last = mb->last_id;
  pthread_mutex_unlock(&mb->lock);
  return last;
}
