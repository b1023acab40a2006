/*
 * kt_server.h: a konform-server for unit tests: its configuration (the
 * defaults), a database in a fresh folder under /tmp, the test hash cost,
 * and when asked for an in-process daemon with the server's routes, served
 * with kf_httpd_serve_fake (no sockets, no threads).
 *
 * Ownership: the caller owns the kt_server (it must not move once open, as
 * srv.cfg points into it); kt_server_close frees what it holds and removes
 * its files.
 */
#ifndef KT_SERVER_H
#define KT_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "kf/error.h"
#include "kf/httpd.h"
#include "ks_api.h"
#include "ks_server.h"

typedef struct kt_server {
  char dir[64];
  char path[128];  /* The database, in dir. */
  ks_config cfg;   /* ks_config_init's defaults with db_path; change it before kt_server_serve. */
  ks_server srv;   /* public_url http://127.0.0.1:8480, hash cost test, no outbox. */
  kf_httpd *httpd; /* NULL until kt_server_serve. */
} kt_server;

/* Make the folder /tmp/<name>.XXXXXX, open its database and the hash cost. */
kf_rc kt_server_open(kt_server *s, const char *name, kf_err *err);
/*
 * Create the daemon (max_body 0: kf_httpd's default) and install the n
 * areas, or the server's own (ks_api_areas) when areas is NULL.
 */
kf_rc kt_server_serve(kt_server *s, const ks_area *const *areas, size_t n, size_t max_body,
                      kf_err *err);
/* Free the daemon and the database and remove the folder. */
void kt_server_close(kt_server *s);
/* The one integer the query sql answers ("SELECT count(*) FROM accounts"). */
kf_rc kt_server_scalar(const kt_server *s, const char *sql, int64_t *out, kf_err *err);

#endif
