/*
 * sql.c: prepare, bind by a type string, step, finalize (see kf/sql.h).
 */
#include "kf/sql.h"

#include <assert.h>
#include <string.h>

#include "kf/alloc.h"

kf_rc kf_sql_error(sqlite3 *conn, kf_err *err) {
  return kf_err_set(err, KF_ERR_DB, "sqlite: %s", conn != NULL ? sqlite3_errmsg(conn) : "no db");
}

kf_rc kf_sql_prepare(kf_sql *q, sqlite3 *conn, const char *sql, kf_err *err) {
  assert(q != NULL && conn != NULL && sql != NULL);
  q->conn = conn;
  q->st = NULL;
  if (sqlite3_prepare_v2(conn, sql, -1, &q->st, NULL) != SQLITE_OK) {
    sqlite3_finalize(q->st);
    q->st = NULL;
    return kf_sql_error(conn, err);
  }
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
  sqlite3_finalize(q->st);
  q->st = NULL;
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
