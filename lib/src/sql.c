/*
 * sql.c: prepare, bind by a type string, step, finalize (see kf/sql.h).
 *
 * The statement cache. Compiling a statement costs more than running most of
 * ours (a point lookup by primary key), and the server and the mocks run the
 * same few dozen texts over and over, so a connection can keep them. sqlite
 * gives a connection no slot for user data (sqlite3_set_clientdata is newer
 * than the sqlite we build against), so the caches sit in one registry keyed
 * by the connection; each thread remembers the last connection it looked up,
 * with the registry's generation at that time, so the common case (a thread
 * using its own connection) takes no lock. A cache itself needs no lock:
 * whoever may use a connection may use its statements, which is the caller's
 * discipline sqlite already asks for.
 */
#include "kf/sql.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "kf/alloc.h"

/* Buckets of one connection's cache; a power of two. */
#define SQL_CACHE_BUCKETS 64u

/*
 * The key is the caller's text, kept with the entry: sqlite3_sql() is not
 * it when the text goes on after the statement's semicolon (a line break),
 * and a text that is only blanks past the statement is the same statement.
 */
struct kf_sql_entry {
  kf_sql_entry *next;
  sqlite3_stmt *st;
  uint64_t hash;
  size_t len;
  bool in_use; /* Lent to a kf_sql right now. */
  char key[];  /* len bytes and a NUL. */
};

typedef struct sql_cache {
  struct sql_cache *next;
  sqlite3 *conn;
  size_t entries;
  unsigned long hits;
  unsigned long misses;
  kf_sql_entry *buckets[SQL_CACHE_BUCKETS];
} sql_cache;

static pthread_mutex_t sql_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static sql_cache *sql_registry;
/* Bumped whenever a cache goes, so that no thread trusts a memo of it. */
static atomic_ulong sql_registry_gen;

typedef struct sql_memo {
  sqlite3 *conn;
  sql_cache *cache;
  unsigned long gen;
} sql_memo;
static _Thread_local sql_memo sql_last;

/* The cache of conn or NULL. */
static sql_cache *sql_cache_of(sqlite3 *conn) {
  unsigned long gen = atomic_load(&sql_registry_gen);
  if (sql_last.conn == conn && sql_last.gen == gen && sql_last.cache != NULL)
    return sql_last.cache;
  pthread_mutex_lock(&sql_registry_lock);
  sql_cache *c = sql_registry;
  while (c != NULL && c->conn != conn)
    c = c->next;
  pthread_mutex_unlock(&sql_registry_lock);
  if (c != NULL)
    sql_last = (sql_memo){conn, c, gen};
  return c;
}

/* FNV-1a over the SQL text; its length into *len. */
static uint64_t sql_hash(const char *sql, size_t *len) {
  uint64_t h = 14695981039346656037ull;
  const unsigned char *p = (const unsigned char *)sql;
  for (; *p != '\0'; p++)
    h = (h ^ *p) * 1099511628211ull;
  *len = (size_t)(p - (const unsigned char *)sql);
  return h;
}

/* An idle cached statement whose text is sql (len bytes), or NULL. */
static kf_sql_entry *sql_cache_find(sql_cache *c, uint64_t hash, const char *sql, size_t len) {
  for (kf_sql_entry *e = c->buckets[hash & (SQL_CACHE_BUCKETS - 1)]; e != NULL; e = e->next) {
    if (!e->in_use && e->hash == hash && e->len == len && memcmp(e->key, sql, len) == 0)
      return e;
  }
  return NULL;
}

/* Whether nothing but blanks follows the compiled statement (tail as sqlite3_prepare gives it). */
static bool sql_tail_blank(const char *tail) {
  for (; tail != NULL && *tail != '\0'; tail++) {
    if (*tail != ' ' && *tail != '\t' && *tail != '\n' && *tail != '\r')
      return false;
  }
  return true;
}

/* Keep q's freshly compiled statement in c, lent to q; without room or memory q keeps it. */
static void sql_cache_keep(sql_cache *c, uint64_t hash, const char *sql, size_t len, kf_sql *q) {
  if (c->entries >= KF_SQL_CACHE_MAX)
    return;
  kf_sql_entry *e = kf_malloc(sizeof(*e) + len + 1);
  if (e == NULL)
    return;
  e->st = q->st;
  e->hash = hash;
  e->len = len;
  memcpy(e->key, sql, len + 1);
  e->in_use = true;
  e->next = c->buckets[hash & (SQL_CACHE_BUCKETS - 1)];
  c->buckets[hash & (SQL_CACHE_BUCKETS - 1)] = e;
  c->entries++;
  q->entry = e;
}

kf_rc kf_sql_cache_enable(sqlite3 *conn, kf_err *err) {
  assert(conn != NULL);
  if (sql_cache_of(conn) != NULL)
    return KF_OK;
  sql_cache *c = kf_calloc(1, sizeof(*c));
  if (c == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "kf_sql: out of memory for the statement cache");
  c->conn = conn;
  pthread_mutex_lock(&sql_registry_lock);
  c->next = sql_registry;
  sql_registry = c;
  pthread_mutex_unlock(&sql_registry_lock);
  return KF_OK;
}

/* Take conn's cache out of the registry; NULL when it has none. */
static sql_cache *sql_cache_take(sqlite3 *conn) {
  pthread_mutex_lock(&sql_registry_lock);
  sql_cache **link = &sql_registry;
  while (*link != NULL && (*link)->conn != conn)
    link = &(*link)->next;
  sql_cache *c = *link;
  if (c != NULL) {
    *link = c->next;
    atomic_fetch_add(&sql_registry_gen, 1);
  }
  pthread_mutex_unlock(&sql_registry_lock);
  return c;
}

void kf_sql_close(sqlite3 *conn) {
  if (conn == NULL)
    return;
  sql_cache *c = sql_cache_take(conn);
  if (sql_last.conn == conn)
    sql_last = (sql_memo){0};
  for (size_t b = 0; c != NULL && b < SQL_CACHE_BUCKETS; b++) {
    kf_sql_entry *e = c->buckets[b];
    while (e != NULL) {
      kf_sql_entry *next = e->next;
      sqlite3_finalize(e->st);
      kf_free(e);
      e = next;
    }
  }
  kf_free(c);
  sqlite3_close_v2(conn);
}

kf_sql_cache_stats kf_sql_cache_stats_of(sqlite3 *conn) {
  kf_sql_cache_stats s = {0};
  sql_cache *c = conn != NULL ? sql_cache_of(conn) : NULL;
  if (c != NULL)
    s = (kf_sql_cache_stats){c->hits, c->misses, c->entries};
  return s;
}

kf_rc kf_sql_error(sqlite3 *conn, kf_err *err) {
  return kf_err_set(err, KF_ERR_DB, "sqlite: %s", conn != NULL ? sqlite3_errmsg(conn) : "no db");
}

kf_rc kf_sql_prepare(kf_sql *q, sqlite3 *conn, const char *sql, kf_err *err) {
  assert(q != NULL && conn != NULL && sql != NULL);
  q->conn = conn;
  q->st = NULL;
  q->entry = NULL;
  sql_cache *c = sql_cache_of(conn);
  uint64_t hash = 0;
  size_t len = 0;
  if (c != NULL) {
    hash = sql_hash(sql, &len);
    kf_sql_entry *e = sql_cache_find(c, hash, sql, len);
    if (e != NULL) {
      e->in_use = true;
      q->st = e->st;
      q->entry = e;
      c->hits++;
      return KF_OK;
    }
    c->misses++;
  }
  /* A kept statement is told so, which lets sqlite allocate it for the long run. */
  unsigned flags = c != NULL ? SQLITE_PREPARE_PERSISTENT : 0;
  const char *tail = NULL;
  if (sqlite3_prepare_v3(conn, sql, -1, flags, &q->st, &tail) != SQLITE_OK) {
    sqlite3_finalize(q->st);
    q->st = NULL;
    return kf_sql_error(conn, err);
  }
  /* Only the first statement of a text is compiled, so a text with more
   * (or none, q->st NULL) is not what a later lookup by the same text expects. */
  if (c != NULL && q->st != NULL && sql_tail_blank(tail))
    sql_cache_keep(c, hash, sql, len, q);
  return KF_OK;
}

/* Bind parameter idx from ap by the type letter t; the sqlite result code. */
static int sql_bind_one(sqlite3_stmt *st, int idx, char t, va_list *ap, bool *known) {
  *known = true;
  switch (t) {
  case 'i':
    return sqlite3_bind_int64(st, idx, va_arg(*ap, int64_t));
  case 'd':
    return sqlite3_bind_int64(st, idx, (sqlite3_int64)va_arg(*ap, int));
  case 't': {
    const char *s = va_arg(*ap, const char *);
    return s != NULL ? sqlite3_bind_text(st, idx, s, -1, SQLITE_STATIC)
                     : sqlite3_bind_null(st, idx);
  }
  case 's': {
    const char *s = va_arg(*ap, const char *);
    size_t len = va_arg(*ap, size_t);
    return sqlite3_bind_text64(st, idx, s != NULL ? s : "", len, SQLITE_STATIC, SQLITE_UTF8);
  }
  case 'b': {
    const void *p = va_arg(*ap, const void *);
    size_t len = va_arg(*ap, size_t);
    return sqlite3_bind_blob64(st, idx, p != NULL ? p : "", len, SQLITE_STATIC);
  }
  case 'n':
    return sqlite3_bind_null(st, idx);
  default:
    *known = false;
    return SQLITE_MISUSE;
  }
}

kf_rc kf_sql_vbind(kf_sql *q, kf_err *err, const char *types, va_list ap) {
  assert(q != NULL && q->st != NULL && types != NULL);
  va_list args;
  va_copy(args, ap);
  kf_rc rc = KF_OK;
  for (int i = 0; types[i] != '\0'; i++) {
    bool known = true;
    int r = sql_bind_one(q->st, i + 1, types[i], &args, &known);
    if (!known) {
      rc = kf_err_set(err, KF_ERR_INTERNAL, "kf_sql: unknown bind type '%c'", types[i]);
      break;
    }
    if (r != SQLITE_OK) {
      rc = kf_sql_error(q->conn, err);
      break;
    }
  }
  va_end(args);
  return rc;
}

kf_rc kf_sql_bind(kf_sql *q, kf_err *err, const char *types, ...) {
  va_list ap;
  va_start(ap, types);
  kf_rc rc = kf_sql_vbind(q, err, types, ap);
  va_end(ap);
  return rc;
}

kf_rc kf_sql_query(kf_sql *q, sqlite3 *conn, kf_err *err, const char *sql, const char *types, ...) {
  kf_rc rc = kf_sql_prepare(q, conn, sql, err);
  if (rc != KF_OK)
    return rc;
  va_list ap;
  va_start(ap, types);
  rc = kf_sql_vbind(q, err, types, ap);
  va_end(ap);
  if (rc != KF_OK)
    kf_sql_finalize(q);
  return rc;
}

kf_rc kf_sql_step(kf_sql *q, bool *row, kf_err *err) {
  assert(q != NULL && q->st != NULL && row != NULL);
  int r = sqlite3_step(q->st);
  *row = r == SQLITE_ROW;
  if (r == SQLITE_ROW || r == SQLITE_DONE)
    return KF_OK;
  return kf_sql_error(q->conn, err);
}

int64_t kf_sql_int(const kf_sql *q, int col) {
  return sqlite3_column_int64(q->st, col);
}

bool kf_sql_is_null(const kf_sql *q, int col) {
  return sqlite3_column_type(q->st, col) == SQLITE_NULL;
}

const char *kf_sql_text(const kf_sql *q, int col, size_t *len) {
  const char *s = (const char *)sqlite3_column_text(q->st, col);
  /* The byte count is only right after the text conversion above. */
  size_t n = s != NULL ? (size_t)sqlite3_column_bytes(q->st, col) : 0;
  if (len != NULL)
    *len = n;
  return s;
}

kf_rc kf_sql_text_dup(const kf_sql *q, int col, char **out, size_t *len, kf_err *err) {
  size_t n = 0;
  const char *s = kf_sql_text(q, col, &n);
  *out = NULL;
  if (len != NULL)
    *len = n;
  if (s == NULL) {
    /* SQL NULL, or sqlite could not allocate the conversion. */
    if (sqlite3_errcode(q->conn) == SQLITE_NOMEM)
      return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
    return KF_OK;
  }
  if ((*out = kf_memdup0(s, n)) == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  return KF_OK;
}

void kf_sql_reset(kf_sql *q) {
  if (q->st == NULL)
    return;
  sqlite3_reset(q->st);
  sqlite3_clear_bindings(q->st);
}

void kf_sql_finalize(kf_sql *q) {
  if (q == NULL)
    return;
  if (q->entry != NULL) {
    /* Back to the cache: no read transaction held, no caller's text bound. */
    sqlite3_reset(q->st);
    sqlite3_clear_bindings(q->st);
    q->entry->in_use = false;
  } else {
    sqlite3_finalize(q->st);
  }
  q->st = NULL;
  q->entry = NULL;
}

kf_rc kf_sql_run(sqlite3 *conn, int64_t *changes, kf_err *err, const char *sql, const char *types,
                 ...) {
  kf_sql q;
  kf_rc rc = kf_sql_prepare(&q, conn, sql, err);
  if (rc != KF_OK)
    return rc;
  va_list ap;
  va_start(ap, types);
  rc = kf_sql_vbind(&q, err, types, ap);
  va_end(ap);
  bool row = false;
  /* A statement that returns rows anyway is stepped to its end. */
  while (rc == KF_OK && (rc = kf_sql_step(&q, &row, err)) == KF_OK && row)
    ;
  if (rc == KF_OK && changes != NULL)
    *changes = sqlite3_changes64(conn);
  kf_sql_finalize(&q);
  return rc;
}

kf_rc kf_sql_exec(sqlite3 *conn, const char *sql, kf_err *err) {
  char *msg = NULL;
  if (sqlite3_exec(conn, sql, NULL, NULL, &msg) == SQLITE_OK)
    return KF_OK;
  kf_rc rc = kf_err_set(err, KF_ERR_DB, "sqlite: %s", msg != NULL ? msg : sqlite3_errmsg(conn));
  sqlite3_free(msg);
  return rc;
}
