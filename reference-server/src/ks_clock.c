/*
 * ks_clock.c: test clocks in sqlite.
 */
#include "ks_clock.h"

#include <assert.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/str.h"
#include "kf/uuid.h"

void ks_clock_release(ks_clock *clock) {
  if (clock == NULL)
    return;
  kf_free(clock->name);
  clock->name = NULL;
}

bool ks_clock_id_valid(const char *s) {
  if (s == NULL || !kf_str_starts_with(s, "clk_"))
    return false;
  size_t n = strlen(s + 4);
  if (n == 0 || n > KS_CLOCK_ID_MAX - 5)
    return false;
  for (const char *p = s + 4; *p != '\0'; p++) {
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
      return false;
  }
  return true;
}

static kf_rc clock_db_error(sqlite3 *conn, kf_err *err) {
  return kf_err_set(err, KF_ERR_DB, "sqlite: %s", sqlite3_errmsg(conn));
}

static kf_rc clock_fill(ks_clock *out, const char *id, const unsigned char *name, int64_t t,
                        kf_err *err) {
  memset(out, 0, sizeof *out);
  kf_rc rc = kf_str_copy(out->id, sizeof out->id, id);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "clock id too long");
  out->frozen_time = t;
  if (name != NULL) {
    out->name = kf_strdup((const char *)name);
    if (out->name == NULL)
      return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  }
  return KF_OK;
}

kf_rc ks_clock_create(ks_db *db, int64_t frozen_time, const char *name, int64_t created_at,
                      ks_clock *out, kf_err *err) {
  assert(db != NULL && out != NULL);
  memset(out, 0, sizeof *out);
  if (frozen_time < 0 || frozen_time > KS_CLOCK_TIME_MAX)
    return kf_err_set(err, KF_ERR_LIMIT, "frozen_time out of range");
  sqlite3 *conn = NULL;
  kf_rc rc = ks_db_conn(db, &conn, err);
  if (rc != KF_OK)
    return rc;
  char hex[17];
  kf_random_hex(hex, 8);
  char id[KS_CLOCK_ID_MAX];
  rc = kf_str_format(id, sizeof id, "clk_%s", hex);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "clock id too long");
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(conn,
                         "INSERT INTO clocks (id, name, frozen_time, created_at) VALUES (?,?,?,?)",
                         -1, &st, NULL) != SQLITE_OK)
    return clock_db_error(conn, err);
  int b = sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  if (b == SQLITE_OK)
    b = name != NULL ? sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC) : sqlite3_bind_null(st, 2);
  if (b == SQLITE_OK)
    b = sqlite3_bind_int64(st, 3, frozen_time);
  if (b == SQLITE_OK)
    b = sqlite3_bind_int64(st, 4, created_at);
  rc = ks_db_bound(conn, b, err);
  if (rc == KF_OK && sqlite3_step(st) != SQLITE_DONE)
    rc = clock_db_error(conn, err);
  sqlite3_finalize(st);
  if (rc != KF_OK)
    return rc;
  return clock_fill(out, id, (const unsigned char *)name, frozen_time, err);
}

/* Read a clock with conn (inside or outside a transaction). */
static kf_rc clock_read(sqlite3 *conn, const char *id, ks_clock *out, kf_err *err) {
  memset(out, 0, sizeof *out);
  if (!ks_clock_id_valid(id))
    return KF_ERR_NOT_FOUND;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(conn, "SELECT name, frozen_time FROM clocks WHERE id = ?", -1, &st,
                         NULL) != SQLITE_OK)
    return clock_db_error(conn, err);
  kf_rc rc = ks_db_bound(conn, sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC), err);
  if (rc != KF_OK) {
    sqlite3_finalize(st);
    return rc;
  }
  int step = sqlite3_step(st);
  if (step == SQLITE_ROW)
    rc = clock_fill(out, id, sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1), err);
  else if (step == SQLITE_DONE)
    rc = KF_ERR_NOT_FOUND;
  else
    rc = clock_db_error(conn, err);
  sqlite3_finalize(st);
  return rc;
}

kf_rc ks_clock_get(ks_db *db, const char *id, ks_clock *out, kf_err *err) {
  assert(db != NULL && id != NULL && out != NULL);
  sqlite3 *conn = NULL;
  kf_rc rc = ks_db_conn(db, &conn, err);
  if (rc != KF_OK)
    return rc;
  return clock_read(conn, id, out, err);
}

kf_rc ks_clock_advance(ks_db *db, const char *id, bool relative, int64_t to_time, ks_clock *out,
                       kf_err *err) {
  assert(db != NULL && id != NULL && out != NULL);
  memset(out, 0, sizeof *out);
  sqlite3 *conn = NULL;
  kf_rc rc = ks_db_conn(db, &conn, err);
  if (rc != KF_OK)
    return rc;
  rc = ks_db_begin(conn, err);
  if (rc != KF_OK)
    return rc;
  rc = clock_read(conn, id, out, err);
  int64_t target = to_time;
  if (rc == KF_OK && relative) {
    if (to_time < 0 || to_time > KS_CLOCK_TIME_MAX - out->frozen_time)
      rc = to_time < 0 ? KF_ERR_STATE : KF_ERR_LIMIT;
    else
      target = out->frozen_time + to_time;
  }
  if (rc == KF_OK && target < out->frozen_time)
    rc = KF_ERR_STATE;
  if (rc == KF_OK && target > KS_CLOCK_TIME_MAX)
    rc = KF_ERR_LIMIT;
  if (rc == KF_OK) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(conn, "UPDATE clocks SET frozen_time = ? WHERE id = ?", -1, &st, NULL) !=
        SQLITE_OK) {
      rc = clock_db_error(conn, err);
    } else {
      int b = sqlite3_bind_int64(st, 1, target);
      if (b == SQLITE_OK)
        b = sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
      rc = ks_db_bound(conn, b, err);
      if (rc == KF_OK && sqlite3_step(st) != SQLITE_DONE)
        rc = clock_db_error(conn, err);
      sqlite3_finalize(st);
    }
  }
  if (rc == KF_OK)
    rc = ks_db_commit(conn, err);
  if (rc != KF_OK) {
    ks_db_rollback(conn);
    ks_clock_release(out);
    return rc;
  }
  out->frozen_time = target;
  return KF_OK;
}

kf_rc ks_clock_delete(ks_db *db, const char *id, kf_err *err) {
  assert(db != NULL && id != NULL);
  if (!ks_clock_id_valid(id))
    return KF_ERR_NOT_FOUND;
  sqlite3 *conn = NULL;
  kf_rc rc = ks_db_conn(db, &conn, err);
  if (rc != KF_OK)
    return rc;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(conn, "DELETE FROM clocks WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
    return clock_db_error(conn, err);
  rc = ks_db_bound(conn, sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC), err);
  if (rc == KF_OK && sqlite3_step(st) != SQLITE_DONE)
    rc = clock_db_error(conn, err);
  sqlite3_finalize(st);
  if (rc == KF_OK && sqlite3_changes(conn) == 0)
    rc = KF_ERR_NOT_FOUND;
  return rc;
}
