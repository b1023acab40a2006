/*
 * kt_server.c: a konform-server for unit tests (see kt_server.h).
 */
#include "kt_server.h"

#include <assert.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kf/str.h"
#include "ks_db.h"

kf_rc kt_server_open(kt_server *s, const char *name, kf_err *err) {
  assert(s != NULL && name != NULL);
  memset(s, 0, sizeof *s);
  kf_rc rc = kf_str_format(s->dir, sizeof s->dir, "/tmp/%s.XXXXXX", name);
  if (rc == KF_OK && mkdtemp(s->dir) == NULL)
    rc = kf_err_set(err, KF_ERR_IO, "cannot make a folder %s", s->dir);
  if (rc == KF_OK)
    rc = kf_str_format(s->path, sizeof s->path, "%s/s.db", s->dir);
  if (rc != KF_OK)
    return rc;
  ks_config_init(&s->cfg);
  s->cfg.db_path = s->path;
  s->srv.cfg = &s->cfg;
  s->srv.public_url = "http://127.0.0.1:8480";
  rc = ks_pwhash_init(&s->srv.pwhash, "test", 0, 0, err);
  if (rc == KF_OK)
    rc = ks_db_open(s->path, &s->srv.db, err);
  return rc;
}

kf_rc kt_server_serve(kt_server *s, const ks_area *const *areas, size_t n, size_t max_body,
                      kf_err *err) {
  kf_httpd_config hc;
  kf_httpd_config_init(&hc);
  if (max_body != 0)
    hc.max_body = max_body;
  kf_rc rc = kf_httpd_new(&hc, &s->httpd, err);
  if (rc == KF_OK && areas == NULL)
    areas = ks_api_areas(&n);
  if (rc == KF_OK)
    rc = ks_api_install_areas(s->httpd, &s->srv, areas, n, err);
  return rc;
}

void kt_server_close(kt_server *s) {
  kf_httpd_free(s->httpd);
  ks_db_free(s->srv.db);
  const char *suffixes[] = {"", "-wal", "-shm"};
  for (size_t i = 0; i < 3; i++) {
    char p[160];
    if (kf_str_format(p, sizeof p, "%s%s", s->path, suffixes[i]) == KF_OK)
      (void)unlink(p);
  }
  if (s->dir[0] != '\0')
    (void)rmdir(s->dir);
  memset(s, 0, sizeof *s);
}

kf_rc kt_server_scalar(const kt_server *s, const char *sql, int64_t *out, kf_err *err) {
  sqlite3 *conn = NULL;
  kf_rc rc = ks_db_conn(s->srv.db, &conn, err);
  if (rc != KF_OK)
    return rc;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(conn, sql, -1, &st, NULL) != SQLITE_OK)
    return kf_err_set(err, KF_ERR_DB, "%s: %s", sql, sqlite3_errmsg(conn));
  rc = sqlite3_step(st) == SQLITE_ROW ? KF_OK : kf_err_set(err, KF_ERR_DB, "%s: no row", sql);
  if (rc == KF_OK)
    *out = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return rc;
}
