/*
 * fuzz_server.c: konform-server's request handling in process, without a
 * network (kf_httpd_serve_fake over the routes of ks_api_areas, test mode on,
 * the test hash cost, one database in /tmp reused across inputs).
 *
 * Input: byte 0 picks a route of the route table, byte 1 the method (mostly
 * the route's own) and whether line "P" is the whole path instead of the
 * route's pattern. Then lines up to an empty line, each one of
 *   P<value>         the next {parameter} of the pattern (or the whole path)
 *   Q<name>=<value>  a query argument
 *   H<name>:<value>  a header
 * and after the empty line the body (no empty line: no body). In every P, Q
 * and H value and in the body "$S" stands for the token of a session at
 * second_factor_setup, "$F" for one of a full session, "$C" for a test
 * clock's id, "$L" for an open confirmation link of an unconfirmed account
 * and "$R" for an open password reset link, so the fuzzer gets past the
 * session filter, the clock check and the link lookups. With
 * KZ_SERVER_ROUTES in the environment the harness lists the routes with
 * their numbers for byte 0; with KZ_SERVER_TRACE it prints each answer.
 *
 * Every answer must be one of the contract's statuses, never 500; an error
 * is a JSON body {"error":{"code","message","fields":[...]}} whose code and
 * status are a row of KS_ERRORS or KF_HTTP_ERRORS (an HTML page with that
 * code in data-code on an HTML route); a JSON success body parses; and after
 * a 4xx or a HEAD nothing is half-stored: the rows of accounts, links, mails,
 * second factors and clocks are as many as before (and as many accounts
 * unconfirmed); a new account comes only with a 202 and with one link and
 * one mail; a 405 names Allow; every 202 of a route has the same body (no
 * enumeration). Any breach prints the request and aborts.
 *
 * Ownership: the server, its database and the scratch buffers are static,
 * made on the first input and freed (the folder removed) at exit.
 */
#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kf/digest.h"
#include "kf/httpd.h"
#include "kf/log.h"
#include "kf/sql.h"
#include "kf/str.h"
#include "ks_api.h"
#include "ks_db.h"
#include "ks_error.h"
#include "ks_server.h"
#include "ks_session.h"
#include "kz_fuzz.h"

#define FZ_MAX_INPUT 8192
#define FZ_MAX_ITEMS 16 /* Query arguments, headers and path parameters, each. */
#define FZ_SCRATCH (4 * FZ_MAX_INPUT)
#define FZ_PASSWORD "Fuzz-Passwort1"
/* A confirmation link of the unconfirmed account 2 and a reset link of account 1 ($L, $R). */
#define FZ_LINK "5f0c1e2d-3b4a-4c5d-8e6f-7a8b9c0d1e2f"
#define FZ_RESET "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* Rows that a refused request must leave alone, counted in one query. */
static const char fz_count_sql[] =
    "SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM confirmation_links),"
    " (SELECT count(*) FROM outbox), (SELECT count(*) FROM totp_secrets),"
    " (SELECT count(*) FROM passkeys), (SELECT count(*) FROM reset_links),"
    " (SELECT count(*) FROM clocks), (SELECT count(*) FROM accounts WHERE confirmed_at IS NULL)";
#define FZ_COUNTS 8

/* The statuses docs/openapi.yaml answers with (500 is documented but always a finding here). */
static const unsigned fz_statuses[] = {200, 201, 202, 204, 400, 401, 403,
                                       404, 405, 409, 410, 413, 415, 423};

/* A route and the body of its first 202, which every later 202 must repeat. */
typedef struct fz_route {
  const ks_route *row;
  char accepted[1024];
  size_t accepted_len; /* 0: no 202 yet. */
} fz_route;

static struct {
  char dir[64];
  char path[128];
  ks_config cfg;
  ks_server srv;
  kf_httpd *httpd;
  sqlite3 *conn;
  fz_route routes[256];
  size_t n_routes;
  char token_setup[KS_TOKEN_HEX_LEN + 1];
  char token_full[KS_TOKEN_HEX_LEN + 1];
  char clock[64];
  char reset_hash[KF_SHA256_HEX];
  char hash[crypto_pwhash_STRBYTES]; /* FZ_PASSWORD's hash, restored after a password reset. */
  bool trace;                        /* KZ_SERVER_TRACE: one line per answer on stderr. */
} fz;

static void fz_die(const char *what, const char *detail) {
  fprintf(stderr, "fuzz_server: %s: %s\n", what, detail != NULL ? detail : "");
  abort();
}

static void fz_cleanup(void) {
  kf_httpd_free(fz.httpd);
  ks_db_free(fz.srv.db);
  const char *suffixes[] = {"", "-wal", "-shm"};
  for (size_t i = 0; i < 3; i++) {
    char p[160];
    if (kf_str_format(p, sizeof p, "%s%s", fz.path, suffixes[i]) == KF_OK)
      (void)unlink(p);
  }
  (void)rmdir(fz.dir);
}

/* One account, confirmed, with a session at each stage the filter tells apart. */
static void fz_seed_sessions(void) {
  kf_err err = {0};
  if (ks_pwhash_hash(&fz.srv.pwhash, FZ_PASSWORD, strlen(FZ_PASSWORD), fz.hash, &err) != KF_OK)
    fz_die("hash", err.message);
  int64_t now = (int64_t)time(NULL);
  char sql[512];
  if (kf_str_format(sql, sizeof sql,
                    "INSERT INTO accounts(email, password_hash, created_at, terms_accepted_at,"
                    " email_consent_at, confirmed_at) VALUES('fuzz@example.de', '%s', %lld,"
                    " %lld, %lld, %lld)",
                    fz.hash, (long long)now, (long long)now, (long long)now,
                    (long long)now) != KF_OK ||
      kf_sql_exec(fz.conn, sql, &err) != KF_OK)
    fz_die("account", err.message);
  int64_t id = sqlite3_last_insert_rowid(fz.conn);
  if (ks_db_begin(fz.conn, &err) != KF_OK ||
      ks_session_insert(fz.conn, id, KS_SESSION_SECOND_FACTOR_SETUP, now, fz.token_setup, &err) !=
          KF_OK ||
      ks_session_insert(fz.conn, id, KS_SESSION_FULL, now, fz.token_full, &err) != KF_OK ||
      ks_db_commit(fz.conn, &err) != KF_OK)
    fz_die("sessions", err.message);
}

/*
 * Account 2, unconfirmed, with the link $L; a reset link $R for account 1.
 * Both are stored as the server stores its own (only the reset id's SHA-256).
 */
static void fz_seed_links(void) {
  kf_sha256_hex(FZ_RESET, strlen(FZ_RESET), fz.reset_hash);
  char sql[1024];
  long long now = (long long)time(NULL);
  kf_err err = {0};
  if (kf_str_format(
          sql, sizeof sql,
          "INSERT INTO accounts(id, email, password_hash, created_at, terms_accepted_at,"
          " email_consent_at) VALUES(2, 'link@example.de', '%s', %lld, %lld, %lld);"
          " INSERT INTO confirmation_links(id, account_id, issued_at) VALUES('%s', 2, %lld);"
          " INSERT INTO reset_links(id_hash, account_id, created_at, expires_at)"
          " VALUES('%s', 1, %lld, %lld);",
          fz.hash, now, now, now, FZ_LINK, now, fz.reset_hash, now, now + 86400) != KF_OK ||
      kf_sql_exec(fz.conn, sql, &err) != KF_OK)
    fz_die("links", err.message);
}

/* A test clock through the API itself, so its id is one the server made. */
static void fz_seed_clock(void) {
  static const char body[] = "{\"frozen_time\": 1767225600, \"name\": \"fuzz\"}";
  const char *headers[] = {"Content-Type", "application/json", NULL};
  kf_http_fake_req in = {.method = "POST",
                         .path = "/test/v1/clocks",
                         .headers = headers,
                         .body = body,
                         .body_len = sizeof body - 1};
  kf_http_answer a;
  kf_err err = {0};
  if (kf_httpd_serve_fake(fz.httpd, &in, &a, &err) != KF_OK || a.status != 201)
    fz_die("clock", err.message);
  json_t *root = json_loadb(a.body, a.body_len, 0, NULL);
  const char *id = json_string_value(json_object_get(root, "id"));
  if (id == NULL || kf_str_format(fz.clock, sizeof fz.clock, "%s", id) != KF_OK)
    fz_die("clock id", a.body);
  json_decref(root);
  kf_http_answer_release(&a);
}

static void fz_init(void) {
  kf_err err = {0};
  kf_log_setup("fuzz_server", KF_LOG_OFF);
  if (kf_str_format(fz.dir, sizeof fz.dir, "/tmp/fuzz_server.XXXXXX") != KF_OK ||
      mkdtemp(fz.dir) == NULL || kf_str_format(fz.path, sizeof fz.path, "%s/s.db", fz.dir) != KF_OK)
    fz_die("temporary folder", fz.dir);
  ks_config_init(&fz.cfg);
  fz.cfg.db_path = fz.path;
  fz.cfg.test_mode = true;
  fz.cfg.hash_cost = "test";
  fz.srv.cfg = &fz.cfg;
  fz.srv.public_url = "http://127.0.0.1:8480";
  kf_httpd_config hc;
  kf_httpd_config_init(&hc);
  hc.max_body = 4096; /* Small, so the fuzzer reaches 413 too. */
  size_t n_areas = 0;
  const ks_area *const *areas = ks_api_areas(&n_areas);
  if (ks_pwhash_init(&fz.srv.pwhash, "test", 0, 0, &err) != KF_OK ||
      ks_db_open(fz.path, &fz.srv.db, &err) != KF_OK ||
      ks_db_conn(fz.srv.db, &fz.conn, &err) != KF_OK ||
      kf_httpd_new(&hc, &fz.httpd, &err) != KF_OK ||
      ks_api_install_areas(fz.httpd, &fz.srv, areas, n_areas, &err) != KF_OK)
    fz_die("server", err.message);
  atexit(fz_cleanup);
  /* The harness's own connection is the one the handlers use (same thread); a
   * crash loses nothing worth an fsync. */
  (void)kf_sql_exec(fz.conn, "PRAGMA synchronous=OFF", NULL);
  for (size_t a = 0; a < n_areas; a++) {
    for (size_t r = 0; r < areas[a]->n_routes && fz.n_routes < 256; r++)
      fz.routes[fz.n_routes++].row = &areas[a]->routes[r];
  }
  fz.trace = getenv("KZ_SERVER_TRACE") != NULL;
  /* Byte 0 of an input names a route by its place here; this lists them for corpus writers. */
  for (size_t i = 0; getenv("KZ_SERVER_ROUTES") != NULL && i < fz.n_routes; i++)
    fprintf(stderr, "%zu %s %s\n", i, fz.routes[i].row->method, fz.routes[i].row->pattern);
  fz_seed_sessions();
  fz_seed_links();
  fz_seed_clock();
}

/*
 * Undo what earlier inputs did to the fixed sessions, the lockout counts and
 * the fixed clock, the two links and account 1's password, so each input
 * starts alike.
 */
static void fz_reset_sessions(void) {
  char sql[1536];
  long long now = (long long)time(NULL);
  if (kf_str_format(sql, sizeof sql,
                    "BEGIN; UPDATE sessions SET ended_at = NULL, last_used_at = %lld,"
                    " stage = CASE rowid WHEN 1 THEN 'second_factor_setup' ELSE 'full' END"
                    " WHERE rowid IN (1, 2); DELETE FROM login_failures;"
                    " INSERT OR REPLACE INTO clocks(id, name, frozen_time, created_at)"
                    " VALUES('%s', 'fuzz', 1767225600, %lld);"
                    " UPDATE accounts SET password_hash = '%s' WHERE id = 1;"
                    " UPDATE accounts SET confirmed_at = NULL WHERE id = 2;"
                    " UPDATE confirmation_links SET used_at = NULL, superseded_at = NULL,"
                    " issued_at = %lld WHERE id = '%s';"
                    " UPDATE reset_links SET used_at = NULL, superseded_at = NULL,"
                    " created_at = %lld, expires_at = %lld WHERE id_hash = '%s';"
                    " COMMIT;",
                    now, fz.clock, now, fz.hash, now, FZ_LINK, now, now + 86400,
                    fz.reset_hash) != KF_OK ||
      kf_sql_exec(fz.conn, sql, NULL) != KF_OK)
    fz_die("reset", sqlite3_errmsg(fz.conn));
}

static void fz_counts(int64_t out[FZ_COUNTS]) {
  static sqlite3_stmt *st;
  if (st == NULL && sqlite3_prepare_v2(fz.conn, fz_count_sql, -1, &st, NULL) != SQLITE_OK)
    fz_die("count", sqlite3_errmsg(fz.conn));
  if (sqlite3_step(st) != SQLITE_ROW)
    fz_die("count", sqlite3_errmsg(fz.conn));
  for (int i = 0; i < FZ_COUNTS; i++)
    out[i] = sqlite3_column_int64(st, i);
  sqlite3_reset(st);
}

/* The request being built from one input; every string points into scratch. */
typedef struct fz_req {
  const char *query[2 * FZ_MAX_ITEMS + 1];
  const char *headers[2 * FZ_MAX_ITEMS + 1];
  const char *params[FZ_MAX_ITEMS];
  size_t n_query, n_headers, n_params;
  char scratch[FZ_SCRATCH];
  size_t used;
  char path[FZ_SCRATCH];
} fz_req;

/* The stand-ins fz_put replaces: "$" and the key, by the value. */
static const struct {
  char key;
  const char *value;
} fz_subs[] = {
    {'S', fz.token_setup}, {'F', fz.token_full}, {'C', fz.clock}, {'L', FZ_LINK}, {'R', FZ_RESET}};

static const char *fz_sub(char key) {
  for (size_t i = 0; i < sizeof fz_subs / sizeof fz_subs[0]; i++) {
    if (fz_subs[i].key == key)
      return fz_subs[i].value;
  }
  return NULL;
}

/*
 * Copy len bytes of s into scratch, NUL-terminated, with the stand-ins
 * replaced; *out_len (may be NULL) gets the copy's length. NULL when full.
 */
static char *fz_put(fz_req *r, const char *s, size_t len, size_t *out_len) {
  char *start = r->scratch + r->used;
  size_t cap = sizeof r->scratch - r->used;
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    const char *sub = s[i] == '$' && i + 1 < len ? fz_sub(s[i + 1]) : NULL;
    const char *piece = sub != NULL ? sub : s + i;
    size_t n = sub != NULL ? strlen(sub) : 1;
    if (o + n + 1 > cap)
      return NULL;
    memcpy(start + o, piece, n);
    o += n;
    i += sub != NULL ? 1 : 0;
  }
  start[o] = '\0';
  r->used += o + 1;
  if (out_len != NULL)
    *out_len = o;
  return start;
}

/* One "P", "Q" or "H" line (len bytes at s, without its newline). */
static void fz_line(fz_req *r, const char *s, size_t len) {
  if (len == 0)
    return;
  const char *rest = s + 1;
  size_t n = len - 1;
  char sep = s[0] == 'Q' ? '=' : ':';
  const char *cut = memchr(rest, sep, n);
  if (s[0] == 'P' && r->n_params < FZ_MAX_ITEMS) {
    const char *v = fz_put(r, rest, n, NULL);
    if (v != NULL)
      r->params[r->n_params++] = v;
  } else if ((s[0] == 'Q' || s[0] == 'H') && cut != NULL) {
    size_t nl = (size_t)(cut - rest);
    size_t vl = n - nl - 1;
    const char *v = cut + 1;
    if (s[0] == 'H' && vl > 0 && v[0] == ' ')
      v++, vl--;
    const char **list = s[0] == 'Q' ? r->query : r->headers;
    size_t *count = s[0] == 'Q' ? &r->n_query : &r->n_headers;
    if (*count >= FZ_MAX_ITEMS)
      return;
    const char *name = fz_put(r, rest, nl, NULL);
    const char *value = name != NULL ? fz_put(r, v, vl, NULL) : NULL;
    if (value == NULL)
      return;
    list[2 * *count] = name;
    list[2 * *count + 1] = value;
    ++*count;
    list[2 * *count] = NULL;
  }
}

/* The route's pattern with each {name} replaced by the next P value ("x" when there is none). */
static void fz_path(fz_req *r, const char *pattern, bool raw) {
  if (raw) {
    (void)kf_str_format(r->path, sizeof r->path, "%s", r->n_params > 0 ? r->params[0] : "/");
    return;
  }
  size_t o = 0, p = 0;
  for (const char *c = pattern; *c != '\0' && o + 1 < sizeof r->path; c++) {
    if (*c != '{') {
      r->path[o++] = *c;
      continue;
    }
    const char *end = strchr(c, '}');
    const char *v = p < r->n_params ? r->params[p] : "x";
    p++;
    size_t vl = strlen(v);
    if (o + vl + 1 >= sizeof r->path)
      break;
    memcpy(r->path + o, v, vl);
    o += vl;
    c = end != NULL ? end : c + strlen(c) - 1;
  }
  r->path[o] = '\0';
}

static const char *fz_method(const ks_route *row, unsigned char b) {
  static const char *const others[] = {"PUT", "DELETE", "HEAD", "PATCH"};
  unsigned m = b & 7u;
  if (m <= 4)
    return row->method;
  if (m == 5)
    return "GET";
  if (m == 6)
    return "POST";
  return others[(b >> 3) & 3u];
}

static void fz_report(const kf_http_fake_req *in, const kf_http_answer *a, const char *what) {
  fprintf(stderr, "fuzz_server: %s\n  %s %s\n", what, in->method, in->path);
  for (size_t i = 0; in->query != NULL && in->query[i] != NULL; i += 2)
    fprintf(stderr, "  query %s=%s\n", in->query[i], in->query[i + 1]);
  for (size_t i = 0; in->headers != NULL && in->headers[i] != NULL; i += 2)
    fprintf(stderr, "  header %s: %s\n", in->headers[i], in->headers[i + 1]);
  fprintf(stderr, "  body (%zu bytes): %.*s\n  answer %u %s: %.*s\n", in->body_len,
          (int)(in->body_len > 400 ? 400 : in->body_len), in->body != NULL ? in->body : "",
          a->status, a->content_type != NULL ? a->content_type : "(none)",
          (int)(a->body_len > 800 ? 800 : a->body_len), a->body);
  abort();
}

/* Whether code with status is a row of KS_ERRORS or of kf_httpd's own errors. */
static bool fz_error_known(const char *code, unsigned status) {
  for (int e = 0; e < KS_ERR_COUNT; e++) {
    const kf_http_error_row *row = ks_error_row((ks_error)e);
    if (row->status == status && strcmp(row->code, code) == 0)
      return true;
  }
  for (int e = 0; e < KF_HTTP_ERR_COUNT; e++) {
    const kf_http_error_row *row = kf_http_error_row_get((kf_http_errcode)e);
    if (row->status == status && strcmp(row->code, code) == 0)
      return true;
  }
  return false;
}

/* The contract's error shape; NULL when it holds, else what is wrong. */
static const char *fz_json_error(const kf_http_answer *a) {
  json_t *root = json_loadb(a->body, a->body_len, 0, NULL);
  json_t *e = json_object_get(root, "error");
  json_t *fields = json_object_get(e, "fields");
  const char *code = json_string_value(json_object_get(e, "code"));
  const char *bad = NULL;
  if (!json_is_object(root) || !json_is_object(e) || code == NULL ||
      !json_is_string(json_object_get(e, "message")) || !json_is_array(fields))
    bad = "the error body is not {\"error\":{\"code\",\"message\",\"fields\"}}";
  else if (!fz_error_known(code, a->status))
    bad = "the error code is no row of KS_ERRORS or KF_HTTP_ERRORS with this status";
  size_t i;
  json_t *f;
  json_array_foreach(fields, i, f) {
    if (bad == NULL && (!json_is_string(json_object_get(f, "field")) ||
                        !json_is_string(json_object_get(f, "code")) ||
                        !json_is_string(json_object_get(f, "message"))))
      bad = "a field error is not {\"field\",\"code\",\"message\"}";
  }
  json_decref(root);
  return bad;
}

/* An HTML error page names its code in data-code="..." (x-konform-decisions html-errors). */
static const char *fz_html_error(const kf_http_answer *a) {
  const char *p = strstr(a->body, "data-code=\"");
  if (p == NULL)
    return "an HTML error page without data-code";
  p += strlen("data-code=\"");
  const char *end = strchr(p, '"');
  char code[64];
  size_t n = end != NULL ? (size_t)(end - p) : 0;
  if (n == 0 || n >= sizeof code)
    return "an HTML error page with a broken data-code";
  memcpy(code, p, n);
  code[n] = '\0';
  return fz_error_known(code, a->status) ? NULL : "data-code names no row with this status";
}

static bool fz_is_json(const kf_http_answer *a) {
  return a->content_type != NULL && strncmp(a->content_type, "application/json", 16) == 0;
}

static bool fz_is_html(const kf_http_answer *a) {
  return a->content_type != NULL && strncmp(a->content_type, "text/html", 9) == 0;
}

/*
 * What a request stored: after a 4xx nothing of the counted rows; a new
 * account only with a 202 and always together with its confirmation link and
 * its mail, one account per request at most.
 */
static void fz_judge_rows(const kf_http_fake_req *in, const kf_http_answer *a,
                          const int64_t before[FZ_COUNTS]) {
  int64_t after[FZ_COUNTS];
  fz_counts(after);
  if (a->status >= 400 && memcmp(before, after, sizeof after) != 0)
    fz_report(in, a, "a refused request changed stored rows (half-stored)");
  /* x-konform-decisions head: a HEAD changes nothing, not even a confirmation. */
  if (strcmp(in->method, "HEAD") == 0 && memcmp(before, after, sizeof after) != 0)
    fz_report(in, a, "a HEAD changed stored rows");
  int64_t accounts = after[0] - before[0];
  if (accounts < 0 || accounts > 1 || (accounts == 1 && a->status != 202))
    fz_report(in, a, "accounts changed other than by one registration");
  if (accounts == 1 && (after[1] - before[1] != 1 || after[2] - before[2] != 1))
    fz_report(in, a, "a new account without exactly one link and one mail (half-stored)");
}

/*
 * A 202 says the same bytes whoever the request names (ACC-10, AUTH-07: no
 * enumeration), so every 202 of a route repeats its first one.
 */
static void fz_judge_accepted(const kf_http_fake_req *in, const kf_http_answer *a,
                              fz_route *route) {
  if (a->status != 202 || strcmp(in->method, "HEAD") == 0 || a->body_len >= sizeof route->accepted)
    return;
  if (route->accepted_len == 0) {
    memcpy(route->accepted, a->body, a->body_len);
    route->accepted_len = a->body_len;
  } else if (a->body_len != route->accepted_len ||
             memcmp(a->body, route->accepted, a->body_len) != 0) {
    fz_report(in, a, "two 202 answers of one route differ (account enumeration)");
  }
}

static void fz_judge(const kf_http_fake_req *in, const kf_http_answer *a, const ks_route *row,
                     bool raw, const int64_t before[FZ_COUNTS]) {
  bool documented = false;
  for (size_t i = 0; i < sizeof fz_statuses / sizeof fz_statuses[0]; i++)
    documented = documented || fz_statuses[i] == a->status;
  if (!documented)
    fz_report(in, a, "a status the contract does not document (or 500)");
  if (a->status == 405 && strstr(a->headers, "Allow: ") == NULL)
    fz_report(in, a, "a 405 without Allow");
  bool head = strcmp(in->method, "HEAD") == 0;
  if (a->status >= 400 && !head) {
    /* An HTML route answers its own errors as pages (x-konform-decisions html-errors). */
    bool page = fz_is_html(a) && (raw || (row->flags & KS_ROUTE_HTML) != 0);
    const char *bad = page             ? fz_html_error(a)
                      : !fz_is_json(a) ? "an error that is not JSON"
                                       : fz_json_error(a);
    if (bad != NULL)
      fz_report(in, a, bad);
  } else if (!head && a->status != 204 && fz_is_json(a)) {
    json_t *root = json_loadb(a->body, a->body_len, 0, NULL);
    if (root == NULL)
      fz_report(in, a, "a JSON success body that does not parse");
    json_decref(root);
  }
  fz_judge_rows(in, a, before);
}

/* Parse the lines of data into r; returns where the body starts (size: no body). */
static size_t fz_parse(fz_req *r, const uint8_t *data, size_t size) {
  size_t i = 2;
  while (i < size) {
    const uint8_t *nl = memchr(data + i, '\n', size - i);
    size_t end = nl != NULL ? (size_t)(nl - data) : size;
    if (end == i)
      return end + 1; /* The empty line: the body follows. */
    fz_line(r, (const char *)data + i, end - i);
    i = end + 1;
  }
  return size + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (fz.httpd == NULL)
    fz_init();
  if (size < 2 || size > FZ_MAX_INPUT)
    return 0;
  static fz_req r;
  memset(&r, 0, offsetof(fz_req, scratch));
  r.used = 0;
  fz_route *route = &fz.routes[data[0] % fz.n_routes];
  const ks_route *row = route->row;
  bool raw = (data[1] & 0x80u) != 0;
  size_t body_at = fz_parse(&r, data, size);
  size_t body_len = 0;
  const char *body =
      body_at <= size ? fz_put(&r, (const char *)data + body_at, size - body_at, &body_len) : NULL;
  fz_path(&r, row->pattern, raw);
  kf_http_fake_req in = {.method = fz_method(row, data[1]),
                         .path = r.path,
                         .query = r.n_query > 0 ? r.query : NULL,
                         .headers = r.n_headers > 0 ? r.headers : NULL,
                         .body = body,
                         .body_len = body != NULL ? body_len : 0};
  fz_reset_sessions();
  int64_t before[FZ_COUNTS];
  fz_counts(before);
  kf_http_answer a;
  kf_err err = {0};
  if (kf_httpd_serve_fake(fz.httpd, &in, &a, &err) != KF_OK)
    fz_die("kf_httpd_serve_fake", err.message);
  if (fz.trace)
    fprintf(stderr, "%s %s -> %u %.*s\n", in.method, in.path, a.status,
            (int)(a.body_len > 120 ? 120 : a.body_len), a.body);
  fz_judge(&in, &a, row, raw, before);
  if (!raw)
    fz_judge_accepted(&in, &a, route);
  kf_http_answer_release(&a);
  return 0;
}
