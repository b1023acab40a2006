/*
 * mailbox.c: the sqlite-backed store behind konform-mail and konform-post.
 *
 * One sqlite connection is shared by every thread and guarded by one mutex;
 * the mocks handle a handful of requests per second, so the simplicity is worth
 * more than parallel reads. The same mutex protects the condition variable
 * that long-poll waiters sleep on: kf_mailbox_add broadcasts it after each
 * commit, so a waiter that checked the store under the mutex cannot miss an
 * item (no lost wake-ups, no polling).
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
#include "kf/timeutil.h"
#include "mailbox_priv.h"

/* A stored document is at most this large once serialised. */
#define MB_DOC_MAX ((size_t)64 * 1024 * 1024)
#define MB_LIMIT_DEFAULT 100u
#define MB_LIMIT_MAX 1000u

/* Something kf_mailbox_free has to free on behalf of another module. */
typedef struct mb_attachment {
  struct mb_attachment *next;
  void *ptr;
  void (*free_fn)(void *);
} mb_attachment;

struct kf_mailbox {
  sqlite3 *db;
  pthread_mutex_t lock;
  pthread_cond_t changed;         /* Broadcast on every add and on shutdown. */
  pthread_cond_t waiters_changed; /* Broadcast whenever waiters changes. */
  size_t max_items;
  size_t count; /* Cached item count; only this connection writes. */
  unsigned waiters;
  bool shut_down;
  mb_attachment *attachments;
};

static const char *const mb_schema =
    "CREATE TABLE IF NOT EXISTS items ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  received_at TEXT NOT NULL,"
    "  kind TEXT,"
    "  customer_number TEXT,"
    "  sender TEXT,"
    "  subject TEXT,"
    "  recipient_name TEXT,"
    "  doc TEXT NOT NULL,"
    "  raw BLOB);"
    "CREATE TABLE IF NOT EXISTS recipients ("
    "  item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,"
    "  address TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS recipients_address ON recipients(address);"
    "CREATE INDEX IF NOT EXISTS recipients_item ON recipients(item_id);";

/*
 * One statement serves every filter: an unset filter binds NULL and its
 * clause is true. The recipients table holds lower-cased addresses, and
 * sqlite's lower() folds ASCII only, which is the case-insensitivity we want.
 */
static const char *const mb_query_sql =
    "SELECT doc FROM items WHERE id > ?1"
    " AND (?2 IS NULL OR EXISTS (SELECT 1 FROM recipients r"
    "      WHERE r.item_id = items.id AND r.address = lower(?2)))"
    " AND (?3 IS NULL OR sender = ?3 COLLATE NOCASE)"
    " AND (?4 IS NULL OR instr(subject, ?4) > 0)"
    " AND (?5 IS NULL OR kind = ?5)"
    " AND (?6 IS NULL OR customer_number = ?6)"
    " AND (?7 IS NULL OR recipient_name = ?7)"
    " ORDER BY id LIMIT ?8";

static kf_rc mb_db_error(kf_mailbox *mb, int src, kf_err *err, const char *what) {
  kf_rc rc = (src == SQLITE_NOMEM) ? KF_ERR_NOMEM : KF_ERR_DB;
  return kf_err_set(err, rc, "mailbox: %s: %s", what,
                    mb->db ? sqlite3_errmsg(mb->db) : sqlite3_errstr(src));
}

static kf_rc mb_exec(kf_mailbox *mb, const char *sql, kf_err *err) {
  int src = sqlite3_exec(mb->db, sql, NULL, NULL, NULL);
  if (src != SQLITE_OK)
    return mb_db_error(mb, src, err, sql);
  return KF_OK;
}

static kf_rc mb_prepare(kf_mailbox *mb, const char *sql, sqlite3_stmt **out, kf_err *err) {
  int src = sqlite3_prepare_v2(mb->db, sql, -1, out, NULL);
  if (src != SQLITE_OK) {
    *out = NULL;
    return mb_db_error(mb, src, err, "prepare");
  }
  return KF_OK;
}

/* Bind a string (copied by sqlite) or NULL when s is NULL. */
static int mb_bind_text(sqlite3_stmt *st, int idx, const char *s) {
  if (!s)
    return sqlite3_bind_null(st, idx);
  return sqlite3_bind_text(st, idx, s, -1, SQLITE_TRANSIENT);
}

static kf_rc mb_count_load(kf_mailbox *mb, kf_err *err) {
  sqlite3_stmt *st;
  kf_rc rc = mb_prepare(mb, "SELECT count(*) FROM items", &st, err);
  if (rc != KF_OK)
    return rc;
  int src = sqlite3_step(st);
  if (src != SQLITE_ROW) {
    rc = mb_db_error(mb, src, err, "count");
  } else {
    mb->count = (size_t)sqlite3_column_int64(st, 0);
  }
  sqlite3_finalize(st);
  return rc;
}

kf_rc kf_mailbox_open(const char *path, size_t max_items, kf_mailbox **out, kf_err *err) {
  assert(out);
  *out = NULL;
  kf_mailbox *mb = kf_calloc(1, sizeof(*mb));
  if (!mb)
    return kf_err_set(err, KF_ERR_NOMEM, "mailbox: out of memory");
  mb->max_items = max_items;

  /* The condition variable runs on the monotonic clock so that a wall-clock
   * jump can neither cut a long-poll short nor stretch it. */
  pthread_condattr_t attr;
  if (pthread_condattr_init(&attr) != 0) {
    kf_free(mb);
    return kf_err_set(err, KF_ERR_INTERNAL, "mailbox: pthread_condattr_init failed");
  }
  int perr = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  if (perr == 0)
    perr = pthread_cond_init(&mb->changed, &attr);
  pthread_condattr_destroy(&attr);
  if (perr != 0) {
    kf_free(mb);
    return kf_err_set(err, KF_ERR_INTERNAL, "mailbox: cannot set up condition variable");
  }
  if (pthread_cond_init(&mb->waiters_changed, NULL) != 0) {
    pthread_cond_destroy(&mb->changed);
    kf_free(mb);
    return kf_err_set(err, KF_ERR_INTERNAL, "mailbox: cannot set up condition variable");
  }
  if (pthread_mutex_init(&mb->lock, NULL) != 0) {
    pthread_cond_destroy(&mb->waiters_changed);
    pthread_cond_destroy(&mb->changed);
    kf_free(mb);
    return kf_err_set(err, KF_ERR_INTERNAL, "mailbox: cannot set up mutex");
  }

  /* Our own mutex serialises every use of the connection, so sqlite's is not needed. */
  int src = sqlite3_open_v2(path ? path : ":memory:", &mb->db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  kf_rc rc = KF_OK;
  if (src != SQLITE_OK) {
    rc = kf_err_set(
        err, src == SQLITE_NOMEM ? KF_ERR_NOMEM : KF_ERR_DB, "mailbox: cannot open %s: %s",
        path ? path : ":memory:", mb->db ? sqlite3_errmsg(mb->db) : sqlite3_errstr(src));
  }
  if (rc == KF_OK)
    sqlite3_busy_timeout(mb->db, 5000);
  /* WAL lets an outside reader (sqlite3 shell, a debugging session) look at a
   * file store while the mock keeps writing. */
  if (rc == KF_OK && path)
    rc = mb_exec(mb, "PRAGMA journal_mode=WAL", err);
  if (rc == KF_OK && path)
    rc = mb_exec(mb, "PRAGMA synchronous=NORMAL", err);
  if (rc == KF_OK)
    rc = mb_exec(mb, "PRAGMA foreign_keys=ON", err);
  if (rc == KF_OK)
    rc = mb_exec(mb, mb_schema, err);
  if (rc == KF_OK)
    rc = mb_count_load(mb, err);
  if (rc != KF_OK) {
    kf_mailbox_free(mb);
    return rc;
  }
  *out = mb;
  return KF_OK;
}

void kf_mailbox_shutdown(kf_mailbox *mb) {
  if (!mb)
    return;
  pthread_mutex_lock(&mb->lock);
  mb->shut_down = true;
  pthread_cond_broadcast(&mb->changed);
  pthread_mutex_unlock(&mb->lock);
}

void kf_mailbox_free(kf_mailbox *mb) {
  if (!mb)
    return;
  /* Waiters hold pointers into mb: wake them and wait until all have left. */
  pthread_mutex_lock(&mb->lock);
  mb->shut_down = true;
  pthread_cond_broadcast(&mb->changed);
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
  if (mb->db)
    sqlite3_close_v2(mb->db);
  pthread_mutex_destroy(&mb->lock);
  pthread_cond_destroy(&mb->waiters_changed);
  pthread_cond_destroy(&mb->changed);
  kf_free(mb);
}

void kf_mailbox_await_waiters(kf_mailbox *mb, unsigned n) {
  assert(mb);
  pthread_mutex_lock(&mb->lock);
  while (mb->waiters < n)
    pthread_cond_wait(&mb->waiters_changed, &mb->lock);
  pthread_mutex_unlock(&mb->lock);
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

/* jansson serialiser callback: append to a capped kf_buf. */
static int mb_dump_cb(const char *buffer, size_t size, void *data) {
  return kf_buf_append((kf_buf *)data, buffer, size) == KF_OK ? 0 : -1;
}

/*
 * Build the stored form of doc: "id" and "received_at" first, then every key
 * of doc except those two (the store's values always win), serialised.
 */
static kf_rc mb_doc_render(const json_t *doc, int64_t id, const char *received_at, char **out,
                           kf_err *err) {
  *out = NULL;
  json_t *stored = json_object();
  if (!stored)
    return kf_err_set(err, KF_ERR_NOMEM, "mailbox: out of memory");
  kf_rc rc = KF_OK;
  if (json_object_set_new(stored, "id", json_integer(id)) != 0 ||
      json_object_set_new(stored, "received_at", json_string(received_at)) != 0) {
    rc = kf_err_set(err, KF_ERR_NOMEM, "mailbox: out of memory");
  }
  const char *key;
  json_t *value;
  /* json_object_foreach needs a non-const object; it does not modify it. */
  json_object_foreach((json_t *)doc, key, value) {
    if (rc != KF_OK)
      break;
    if (strcmp(key, "id") == 0 || strcmp(key, "received_at") == 0)
      continue;
    if (json_object_set(stored, key, value) != 0)
      rc = kf_err_set(err, KF_ERR_NOMEM, "mailbox: out of memory");
  }
  kf_buf buf;
  kf_buf_init(&buf, MB_DOC_MAX);
  if (rc == KF_OK && json_dump_callback(stored, mb_dump_cb, &buf, JSON_COMPACT) != 0) {
    rc = kf_err_set(err, buf.len >= MB_DOC_MAX ? KF_ERR_LIMIT : KF_ERR_NOMEM,
                    "mailbox: cannot serialise document");
  }
  json_decref(stored);
  if (rc == KF_OK) {
    *out = kf_buf_detach(&buf, NULL);
    if (!*out)
      rc = kf_err_set(err, KF_ERR_NOMEM, "mailbox: out of memory");
  }
  kf_buf_release(&buf);
  return rc;
}

/* The body of kf_mailbox_add between BEGIN and COMMIT; the caller rolls back on error. */
static kf_rc mb_add_locked(kf_mailbox *mb, const kf_mailbox_keys *keys, const json_t *doc,
                           const void *raw, size_t raw_len, const char *received_at,
                           int64_t *id_out, kf_err *err) {
  sqlite3_stmt *st = NULL;
  kf_rc rc = mb_prepare(mb,
                        "INSERT INTO items(received_at, kind, customer_number, sender, subject,"
                        " recipient_name, doc, raw) VALUES(?1, ?2, ?3, ?4, ?5, ?6, '', ?7)",
                        &st, err);
  if (rc != KF_OK)
    return rc;
  int src = mb_bind_text(st, 1, received_at);
  if (src == SQLITE_OK)
    src = mb_bind_text(st, 2, keys->kind);
  if (src == SQLITE_OK)
    src = mb_bind_text(st, 3, keys->customer_number);
  if (src == SQLITE_OK)
    src = mb_bind_text(st, 4, keys->sender);
  if (src == SQLITE_OK)
    src = mb_bind_text(st, 5, keys->subject);
  if (src == SQLITE_OK)
    src = mb_bind_text(st, 6, keys->recipient_name);
  if (src == SQLITE_OK) {
    src =
        raw ? sqlite3_bind_blob64(st, 7, raw, raw_len, SQLITE_TRANSIENT) : sqlite3_bind_null(st, 7);
  }
  if (src == SQLITE_OK)
    src = sqlite3_step(st);
  sqlite3_finalize(st);
  if (src != SQLITE_DONE && src != SQLITE_OK)
    return mb_db_error(mb, src, err, "insert item");
  int64_t id = sqlite3_last_insert_rowid(mb->db);
  assert(id > 0);

  if (keys->recipients_len > 0) {
    rc = mb_prepare(mb, "INSERT INTO recipients(item_id, address) VALUES(?1, lower(?2))", &st, err);
    if (rc != KF_OK)
      return rc;
    for (size_t i = 0; i < keys->recipients_len; i++) {
      if (!keys->recipients[i])
        continue;
      sqlite3_reset(st);
      src = sqlite3_bind_int64(st, 1, id);
      if (src == SQLITE_OK)
        src = mb_bind_text(st, 2, keys->recipients[i]);
      if (src == SQLITE_OK)
        src = sqlite3_step(st);
      if (src != SQLITE_DONE) {
        rc = mb_db_error(mb, src, err, "insert recipient");
        break;
      }
    }
    sqlite3_finalize(st);
    if (rc != KF_OK)
      return rc;
  }

  char *text = NULL;
  rc = mb_doc_render(doc, id, received_at, &text, err);
  if (rc != KF_OK)
    return rc;
  rc = mb_prepare(mb, "UPDATE items SET doc = ?1 WHERE id = ?2", &st, err);
  if (rc != KF_OK) {
    kf_free(text);
    return rc;
  }
  src = sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
  if (src == SQLITE_OK)
    src = sqlite3_bind_int64(st, 2, id);
  if (src == SQLITE_OK)
    src = sqlite3_step(st);
  sqlite3_finalize(st);
  kf_free(text);
  if (src != SQLITE_DONE)
    return mb_db_error(mb, src, err, "store document");
  *id_out = id;
  return KF_OK;
}

kf_rc kf_mailbox_add(kf_mailbox *mb, const kf_mailbox_keys *keys, json_t *doc, const void *raw,
                     size_t raw_len, int64_t *id_out, kf_err *err) {
  assert(mb);
  if (!doc || !json_is_object(doc))
    return kf_err_set(err, KF_ERR_INVALID, "mailbox: document must be a JSON object");
  kf_mailbox_keys no_keys = {0};
  if (!keys)
    keys = &no_keys;
  assert(keys->recipients_len == 0 || keys->recipients);

  char received_at[KF_TIME_ISO_MAX];
  kf_rc rc = kf_time_format_iso(kf_time_real_now(), received_at, sizeof(received_at));
  if (rc != KF_OK)
    return kf_err_set(err, rc, "mailbox: cannot format the time");

  pthread_mutex_lock(&mb->lock);
  if (mb->count >= mb->max_items) {
    pthread_mutex_unlock(&mb->lock);
    return kf_err_set(err, KF_ERR_LIMIT, "mailbox: full (%zu items)", mb->max_items);
  }
  int64_t id = 0;
  rc = mb_exec(mb, "BEGIN IMMEDIATE", err);
  if (rc == KF_OK) {
    rc = mb_add_locked(mb, keys, doc, raw, raw_len, received_at, &id, err);
    if (rc == KF_OK)
      rc = mb_exec(mb, "COMMIT", err);
    /* Whatever failed, nothing of this item may remain. */
    if (rc != KF_OK)
      (void)sqlite3_exec(mb->db, "ROLLBACK", NULL, NULL, NULL);
  }
  if (rc == KF_OK) {
    mb->count++;
    pthread_cond_broadcast(&mb->changed);
  }
  pthread_mutex_unlock(&mb->lock);
  if (rc == KF_OK && id_out)
    *id_out = id;
  return rc;
}

/* Parse a stored document text. */
static kf_rc mb_doc_parse(const unsigned char *text, int len, json_t **out, kf_err *err) {
  json_error_t jerr;
  /* Stored documents may hold U+0000 (it arrived escaped as \\u0000); keep it. */
  *out = json_loadb((const char *)text, (size_t)len, JSON_ALLOW_NUL, &jerr);
  if (!*out)
    return kf_err_set(err, KF_ERR_NOMEM, "mailbox: cannot load stored document: %s", jerr.text);
  return KF_OK;
}

kf_rc kf_mailbox_get(kf_mailbox *mb, int64_t id, json_t **out, kf_err *err) {
  assert(mb && out);
  *out = NULL;
  pthread_mutex_lock(&mb->lock);
  sqlite3_stmt *st;
  kf_rc rc = mb_prepare(mb, "SELECT doc FROM items WHERE id = ?1", &st, err);
  if (rc == KF_OK) {
    int src = sqlite3_bind_int64(st, 1, id);
    if (src == SQLITE_OK)
      src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
      rc = mb_doc_parse(sqlite3_column_text(st, 0), sqlite3_column_bytes(st, 0), out, err);
    } else if (src == SQLITE_DONE) {
      rc = kf_err_set(err, KF_ERR_NOT_FOUND, "mailbox: no item %lld", (long long)id);
    } else {
      rc = mb_db_error(mb, src, err, "get");
    }
    sqlite3_finalize(st);
  }
  pthread_mutex_unlock(&mb->lock);
  return rc;
}

kf_rc kf_mailbox_get_raw(kf_mailbox *mb, int64_t id, char **out, size_t *len, kf_err *err) {
  assert(mb && out);
  *out = NULL;
  if (len)
    *len = 0;
  pthread_mutex_lock(&mb->lock);
  sqlite3_stmt *st;
  kf_rc rc = mb_prepare(mb, "SELECT raw FROM items WHERE id = ?1", &st, err);
  if (rc == KF_OK) {
    int src = sqlite3_bind_int64(st, 1, id);
    if (src == SQLITE_OK)
      src = sqlite3_step(st);
    if (src == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
      const void *blob = sqlite3_column_blob(st, 0);
      size_t n = (size_t)sqlite3_column_bytes(st, 0);
      *out = kf_memdup0(blob ? blob : "", n);
      if (!*out) {
        rc = kf_err_set(err, KF_ERR_NOMEM, "mailbox: out of memory");
      } else if (len) {
        *len = n;
      }
    } else if (src == SQLITE_ROW || src == SQLITE_DONE) {
      rc = kf_err_set(err, KF_ERR_NOT_FOUND, "mailbox: no raw source for item %lld", (long long)id);
    } else {
      rc = mb_db_error(mb, src, err, "get raw");
    }
    sqlite3_finalize(st);
  }
  pthread_mutex_unlock(&mb->lock);
  return rc;
}

/* Empty strings count as "no filter", so a form left blank matches everything. */
static const char *mb_filter_str(const char *s) {
  return (s && *s) ? s : NULL;
}

/* Run the filter query with the given limit into a new JSON array. Lock held. */
static kf_rc mb_query_locked(kf_mailbox *mb, const kf_mailbox_filter *filter, unsigned limit,
                             json_t **out, kf_err *err) {
  *out = NULL;
  sqlite3_stmt *st;
  kf_rc rc = mb_prepare(mb, mb_query_sql, &st, err);
  if (rc != KF_OK)
    return rc;
  int src = sqlite3_bind_int64(st, 1, filter->after_id > 0 ? filter->after_id : 0);
  if (src == SQLITE_OK)
    src = mb_bind_text(st, 2, mb_filter_str(filter->to));
  if (src == SQLITE_OK)
    src = mb_bind_text(st, 3, mb_filter_str(filter->from));
  if (src == SQLITE_OK)
    src = mb_bind_text(st, 4, mb_filter_str(filter->subject));
  if (src == SQLITE_OK)
    src = mb_bind_text(st, 5, mb_filter_str(filter->kind));
  if (src == SQLITE_OK)
    src = mb_bind_text(st, 6, mb_filter_str(filter->customer_number));
  if (src == SQLITE_OK)
    src = mb_bind_text(st, 7, mb_filter_str(filter->recipient_name));
  if (src == SQLITE_OK)
    src = sqlite3_bind_int64(st, 8, limit);
  if (src != SQLITE_OK) {
    sqlite3_finalize(st);
    return mb_db_error(mb, src, err, "bind");
  }
  json_t *list = json_array();
  if (!list)
    rc = kf_err_set(err, KF_ERR_NOMEM, "mailbox: out of memory");
  while (rc == KF_OK) {
    src = sqlite3_step(st);
    if (src == SQLITE_DONE)
      break;
    if (src != SQLITE_ROW) {
      rc = mb_db_error(mb, src, err, "list");
      break;
    }
    json_t *doc;
    rc = mb_doc_parse(sqlite3_column_text(st, 0), sqlite3_column_bytes(st, 0), &doc, err);
    if (rc == KF_OK && json_array_append_new(list, doc) != 0) {
      rc = kf_err_set(err, KF_ERR_NOMEM, "mailbox: out of memory");
    }
  }
  sqlite3_finalize(st);
  if (rc != KF_OK) {
    json_decref(list);
    return rc;
  }
  *out = list;
  return KF_OK;
}

static unsigned mb_limit(unsigned limit) {
  if (limit == 0)
    return MB_LIMIT_DEFAULT;
  return limit > MB_LIMIT_MAX ? MB_LIMIT_MAX : limit;
}

kf_rc kf_mailbox_list(kf_mailbox *mb, const kf_mailbox_filter *filter, json_t **out, kf_err *err) {
  assert(mb && out);
  kf_mailbox_filter none = {0};
  if (!filter)
    filter = &none;
  pthread_mutex_lock(&mb->lock);
  kf_rc rc = mb_query_locked(mb, filter, mb_limit(filter->limit), out, err);
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

  pthread_mutex_lock(&mb->lock);
  if (mb->shut_down) {
    pthread_mutex_unlock(&mb->lock);
    return kf_err_set(err, KF_ERR_STATE, "mailbox: shutting down");
  }
  mb->waiters++;
  pthread_cond_broadcast(&mb->waiters_changed);
  kf_rc rc;
  for (;;) {
    /* Checking under the same mutex that kf_mailbox_add broadcasts under
     * means an item stored after this check always wakes us. */
    json_t *list = NULL;
    rc = mb_query_locked(mb, filter, 1, &list, err);
    if (rc != KF_OK)
      break;
    if (json_array_size(list) > 0) {
      *out = json_incref(json_array_get(list, 0));
      json_decref(list);
      break;
    }
    json_decref(list);
    if (mb->shut_down) {
      rc = kf_err_set(err, KF_ERR_STATE, "mailbox: shutting down");
      break;
    }
    int werr = pthread_cond_timedwait(&mb->changed, &mb->lock, &deadline);
    if (werr == ETIMEDOUT) {
      /* One last look: an add may have raced with the deadline. */
      rc = mb_query_locked(mb, filter, 1, &list, err);
      if (rc != KF_OK)
        break;
      if (json_array_size(list) > 0) {
        *out = json_incref(json_array_get(list, 0));
      } else {
        rc = kf_err_set(err, KF_ERR_TIMEOUT, "mailbox: nothing matched within %lld ms",
                        (long long)timeout_ms);
      }
      json_decref(list);
      break;
    }
    assert(werr == 0);
  }
  mb->waiters--;
  pthread_cond_broadcast(&mb->waiters_changed);
  pthread_mutex_unlock(&mb->lock);
  return rc;
}

kf_rc kf_mailbox_delete(kf_mailbox *mb, int64_t id, kf_err *err) {
  assert(mb);
  pthread_mutex_lock(&mb->lock);
  kf_rc rc = mb_exec(mb, "BEGIN IMMEDIATE", err);
  sqlite3_stmt *st = NULL;
  bool found = false;
  if (rc == KF_OK)
    rc = mb_prepare(mb, "DELETE FROM recipients WHERE item_id = ?1", &st, err);
  if (rc == KF_OK) {
    int src = sqlite3_bind_int64(st, 1, id);
    if (src == SQLITE_OK)
      src = sqlite3_step(st);
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
      rc = mb_db_error(mb, src, err, "delete recipients");
  }
  if (rc == KF_OK)
    rc = mb_prepare(mb, "DELETE FROM items WHERE id = ?1", &st, err);
  if (rc == KF_OK) {
    int src = sqlite3_bind_int64(st, 1, id);
    if (src == SQLITE_OK)
      src = sqlite3_step(st);
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
      rc = mb_db_error(mb, src, err, "delete item");
    else
      found = sqlite3_changes(mb->db) > 0;
  }
  if (rc == KF_OK)
    rc = mb_exec(mb, "COMMIT", err);
  if (rc != KF_OK) {
    (void)sqlite3_exec(mb->db, "ROLLBACK", NULL, NULL, NULL);
  } else if (!found) {
    rc = kf_err_set(err, KF_ERR_NOT_FOUND, "mailbox: no item %lld", (long long)id);
  } else {
    assert(mb->count > 0);
    mb->count--;
  }
  pthread_mutex_unlock(&mb->lock);
  return rc;
}

kf_rc kf_mailbox_clear(kf_mailbox *mb, kf_err *err) {
  assert(mb);
  pthread_mutex_lock(&mb->lock);
  /* The AUTOINCREMENT sequence is kept, so ids are never reused and an
   * "after" cursor taken before the clear stays meaningful. */
  kf_rc rc = mb_exec(mb, "BEGIN IMMEDIATE; DELETE FROM recipients; DELETE FROM items; COMMIT", err);
  if (rc != KF_OK) {
    (void)sqlite3_exec(mb->db, "ROLLBACK", NULL, NULL, NULL);
  } else {
    mb->count = 0;
  }
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
  int64_t last = 0;
  pthread_mutex_lock(&mb->lock);
  sqlite3_stmt *st = NULL;
  /* AUTOINCREMENT keeps the largest id ever used, even after deletes. */
  if (sqlite3_prepare_v2(mb->db, "SELECT seq FROM sqlite_sequence WHERE name = 'items'", -1, &st,
                         NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    last = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  pthread_mutex_unlock(&mb->lock);
  return last;
}
