/*
 * ks_clock.c: test clocks in sqlite.
 */
#include "ks_clock.h"

#include <assert.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/sql.h"
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

static kf_rc clock_fill(ks_clock *out, const char *id, const char *name, int64_t t, kf_err *err) {
  memset(out, 0, sizeof *out);
  kf_rc rc = kf_str_copy(out->id, sizeof out->id, id);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "clock id too long");
  out->frozen_time = t;
  if (name != NULL) {
    out->name = kf_strdup(name);
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
  /* 't' binds a NULL name as SQL NULL. */
  rc = kf_sql_run(conn, NULL, err,
                  "INSERT INTO clocks (id, name, frozen_time, created_at) VALUES (?,?,?,?)", "ttii",
                  id, name, frozen_time, created_at);
  if (rc != KF_OK)
    return rc;
  return clock_fill(out, id, name, frozen_time, err);
}

/* Read a clock with conn (inside or outside a transaction). */
static kf_rc clock_read(sqlite3 *conn, const char *id, ks_clock *out, kf_err *err) {
  memset(out, 0, sizeof *out);
  if (!ks_clock_id_valid(id))
    return KF_ERR_NOT_FOUND;
  kf_sql q;
  kf_rc rc =
      kf_sql_query(&q, conn, err, "SELECT name, frozen_time FROM clocks WHERE id = ?", "t", id);
  if (rc != KF_OK)
    return rc;
  bool row = false;
  rc = kf_sql_step(&q, &row, err);
  if (rc == KF_OK && row)
    rc = clock_fill(out, id, kf_sql_text(&q, 0, NULL), kf_sql_int(&q, 1), err);
  else if (rc == KF_OK)
    rc = KF_ERR_NOT_FOUND;
  kf_sql_finalize(&q);
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
  if (rc == KF_OK)
    rc = kf_sql_run(conn, NULL, err, "UPDATE clocks SET frozen_time = ? WHERE id = ?", "it", target,
                    id);
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
  int64_t changes = 0;
  rc = kf_sql_run(conn, &changes, err, "DELETE FROM clocks WHERE id = ?", "t", id);
  if (rc == KF_OK && changes == 0)
    rc = KF_ERR_NOT_FOUND;
  return rc;
}
