/*
 * ks_account.c: registration, confirmation, resend, login and logout.
 */
#include "ks_account.h"

#include <assert.h>
#include <sodium.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/log.h"
#include "kf/uuid.h"
#include "ks_outbox.h"

#define ACCOUNT_LINK_URL_MAX 2048

static kf_rc account_db_error(sqlite3 *conn, kf_err *err) {
  return kf_err_set(err, KF_ERR_DB, "sqlite: %s", sqlite3_errmsg(conn));
}

/* Prepare sql, or record sqlite's complaint. */
static kf_rc account_prepare(sqlite3 *conn, const char *sql, sqlite3_stmt **st, kf_err *err) {
  if (sqlite3_prepare_v2(conn, sql, -1, st, NULL) != SQLITE_OK)
    return account_db_error(conn, err);
  return KF_OK;
}

/* Run a statement that returns no rows, then finalize it. */
static kf_rc account_step_done(sqlite3 *conn, sqlite3_stmt *st, kf_err *err) {
  kf_rc rc = sqlite3_step(st) == SQLITE_DONE ? KF_OK : account_db_error(conn, err);
  sqlite3_finalize(st);
  return rc;
}

/* Find an account by normalised address; *id 0 when there is none. */
static kf_rc account_find(sqlite3 *conn, const char *email, int64_t *id, bool *confirmed,
                          char **hash, kf_err *err) {
  sqlite3_stmt *st = NULL;
  kf_rc rc = account_prepare(
      conn, "SELECT id, confirmed_at IS NOT NULL, password_hash FROM accounts WHERE email = ?", &st,
      err);
  if (rc != KF_OK)
    return rc;
  sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC);
  *id = 0;
  if (confirmed != NULL)
    *confirmed = false;
  if (hash != NULL)
    *hash = NULL;
  int step = sqlite3_step(st);
  if (step == SQLITE_ROW) {
    *id = sqlite3_column_int64(st, 0);
    if (confirmed != NULL)
      *confirmed = sqlite3_column_int(st, 1) != 0;
    if (hash != NULL) {
      *hash = kf_strdup((const char *)sqlite3_column_text(st, 2));
      if (*hash == NULL)
        rc = kf_err_set(err, KF_ERR_NOMEM, "out of memory");
    }
  } else if (step != SQLITE_DONE) {
    rc = account_db_error(conn, err);
  }
  sqlite3_finalize(st);
  return rc;
}

/* Supersede the account's open links, insert a new one and queue its mail. */
static kf_rc account_issue_link(ks_server *srv, sqlite3 *conn, int64_t account_id,
                                const char *email, int64_t now, kf_err *err) {
  sqlite3_stmt *st = NULL;
  kf_rc rc = account_prepare(conn,
                             "UPDATE confirmation_links SET superseded_at = ? "
                             "WHERE account_id = ? AND superseded_at IS NULL",
                             &st, err);
  if (rc != KF_OK)
    return rc;
  sqlite3_bind_int64(st, 1, now);
  sqlite3_bind_int64(st, 2, account_id);
  rc = account_step_done(conn, st, err);
  if (rc != KF_OK)
    return rc;

  char id[KF_UUID_STR_LEN + 1];
  kf_uuid_v4(id);
  rc = account_prepare(
      conn, "INSERT INTO confirmation_links (id, account_id, issued_at) VALUES (?, ?, ?)", &st,
      err);
  if (rc != KF_OK)
    return rc;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, account_id);
  sqlite3_bind_int64(st, 3, now);
  rc = account_step_done(conn, st, err);
  if (rc != KF_OK)
    return rc;

  char url[ACCOUNT_LINK_URL_MAX];
  rc = ks_link_url(srv->public_url, id, url, sizeof url);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "public URL too long");
  ks_mail_params mp = {.kind = KS_MAIL_CONFIRM,
                       .mail_domain = srv->cfg->mail_domain,
                       .to = email,
                       .link = url,
                       .public_url = srv->public_url,
                       .date = now};
  return ks_outbox_enqueue(conn, &mp, now, err);
}

kf_rc ks_account_register(ks_server *srv, const char *email, const char *pw, size_t pw_len,
                          int64_t now, bool *created, kf_err *err) {
  assert(srv != NULL && email != NULL);
  if (created != NULL)
    *created = false;
  /* Hash before looking: a duplicate costs exactly as much as a new account. */
  char hash[crypto_pwhash_STRBYTES];
  kf_rc rc = ks_pwhash_hash(&srv->pwhash, pw, pw_len, hash, err);
  if (rc != KF_OK)
    return rc;
  sqlite3 *conn = NULL;
  rc = ks_db_conn(srv->db, &conn, err);
  if (rc != KF_OK)
    return rc;
  rc = ks_db_begin(conn, err);
  if (rc != KF_OK)
    return rc;
  int64_t account_id = 0;
  rc = account_find(conn, email, &account_id, NULL, NULL, err);
  bool fresh = false;
  if (rc == KF_OK && account_id != 0) {
    ks_mail_params mp = {.kind = KS_MAIL_DUPLICATE,
                         .mail_domain = srv->cfg->mail_domain,
                         .to = email,
                         .public_url = srv->public_url,
                         .date = now};
    rc = ks_outbox_enqueue(conn, &mp, now, err);
  } else if (rc == KF_OK) {
    sqlite3_stmt *st = NULL;
    rc = account_prepare(conn,
                         "INSERT INTO accounts (email, password_hash, created_at, "
                         "terms_accepted_at, email_consent_at) VALUES (?, ?, ?, ?, ?)",
                         &st, err);
    if (rc == KF_OK) {
      sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
      sqlite3_bind_int64(st, 3, now);
      sqlite3_bind_int64(st, 4, now);
      sqlite3_bind_int64(st, 5, now);
      rc = account_step_done(conn, st, err);
    }
    if (rc == KF_OK) {
      account_id = sqlite3_last_insert_rowid(conn);
      rc = account_issue_link(srv, conn, account_id, email, now, err);
    }
    fresh = true;
  }
  if (rc == KF_OK)
    rc = ks_db_commit(conn, err);
  if (rc != KF_OK) {
    ks_db_rollback(conn);
    return rc;
  }
  sodium_memzero(hash, sizeof hash);
  ks_outbox_kick(srv->outbox);
  if (created != NULL)
    *created = fresh;
  return KF_OK;
}

kf_rc ks_account_confirm(ks_server *srv, const char *id, int64_t now, ks_link_verdict *verdict,
                         kf_err *err) {
  assert(srv != NULL && id != NULL && verdict != NULL);
  *verdict = KS_LINK_NOT_FOUND;
  /* A malformed id cannot name a link; answer as for an unknown one. */
  if (!kf_uuid_is_canonical(id))
    return KF_OK;
  char lower[KF_UUID_STR_LEN + 1];
  for (size_t i = 0; i <= KF_UUID_STR_LEN; i++)
    lower[i] = (id[i] >= 'A' && id[i] <= 'F') ? (char)(id[i] - 'A' + 'a') : id[i];
  sqlite3 *conn = NULL;
  kf_rc rc = ks_db_conn(srv->db, &conn, err);
  if (rc != KF_OK)
    return rc;
  /* Judge and confirm in one write transaction so two clicks cannot both win. */
  rc = ks_db_begin(conn, err);
  if (rc != KF_OK)
    return rc;
  sqlite3_stmt *st = NULL;
  rc = account_prepare(conn,
                       "SELECT l.account_id, l.issued_at, l.superseded_at IS NOT NULL, "
                       "a.confirmed_at IS NOT NULL FROM confirmation_links l "
                       "JOIN accounts a ON a.id = l.account_id WHERE l.id = ?",
                       &st, err);
  int64_t account_id = 0;
  ks_link_verdict v = KS_LINK_NOT_FOUND;
  if (rc == KF_OK) {
    sqlite3_bind_text(st, 1, lower, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
      account_id = sqlite3_column_int64(st, 0);
      v = ks_link_judge(sqlite3_column_int64(st, 1), now, sqlite3_column_int(st, 2) != 0,
                        sqlite3_column_int(st, 3) != 0);
    } else if (step != SQLITE_DONE) {
      rc = account_db_error(conn, err);
    }
    sqlite3_finalize(st);
  }
  if (rc == KF_OK && v == KS_LINK_VALID) {
    rc = account_prepare(conn, "UPDATE accounts SET confirmed_at = ? WHERE id = ?", &st, err);
    if (rc == KF_OK) {
      sqlite3_bind_int64(st, 1, now);
      sqlite3_bind_int64(st, 2, account_id);
      rc = account_step_done(conn, st, err);
    }
    if (rc == KF_OK) {
      rc =
          account_prepare(conn, "UPDATE confirmation_links SET used_at = ? WHERE id = ?", &st, err);
    }
    if (rc == KF_OK) {
      sqlite3_bind_int64(st, 1, now);
      sqlite3_bind_text(st, 2, lower, -1, SQLITE_STATIC);
      rc = account_step_done(conn, st, err);
    }
  }
  if (rc == KF_OK)
    rc = ks_db_commit(conn, err);
  if (rc != KF_OK) {
    ks_db_rollback(conn);
    return rc;
  }
  *verdict = v;
  return KF_OK;
}

kf_rc ks_account_resend(ks_server *srv, const char *email, int64_t now, kf_err *err) {
  assert(srv != NULL && email != NULL);
  sqlite3 *conn = NULL;
  kf_rc rc = ks_db_conn(srv->db, &conn, err);
  if (rc != KF_OK)
    return rc;
  rc = ks_db_begin(conn, err);
  if (rc != KF_OK)
    return rc;
  int64_t account_id = 0;
  bool confirmed = false;
  rc = account_find(conn, email, &account_id, &confirmed, NULL, err);
  bool issued = false;
  if (rc == KF_OK && account_id != 0 && !confirmed) {
    rc = account_issue_link(srv, conn, account_id, email, now, err);
    issued = true;
  }
  if (rc == KF_OK)
    rc = ks_db_commit(conn, err);
  if (rc != KF_OK) {
    ks_db_rollback(conn);
    return rc;
  }
  if (issued)
    ks_outbox_kick(srv->outbox);
  return KF_OK;
}

/* Hex SHA-256 of a token: only this is stored, so a leaked table holds no live tokens. */
static void account_token_hash(const char *token, char out[crypto_hash_sha256_BYTES * 2 + 1]) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, (const unsigned char *)token, strlen(token));
  sodium_bin2hex(out, crypto_hash_sha256_BYTES * 2 + 1, digest, sizeof digest);
}

kf_rc ks_account_login(ks_server *srv, const char *username, const char *pw, size_t pw_len,
                       int64_t now, ks_login_result *result, char *token, kf_err *err) {
  assert(srv != NULL && result != NULL && token != NULL);
  *result = KS_LOGIN_INVALID;
  token[0] = '\0';
  sqlite3 *conn = NULL;
  kf_rc rc = ks_db_conn(srv->db, &conn, err);
  if (rc != KF_OK)
    return rc;
  int64_t account_id = 0;
  bool confirmed = false;
  char *hash = NULL;
  if (username != NULL) {
    rc = account_find(conn, username, &account_id, &confirmed, &hash, err);
    if (rc != KF_OK)
      return rc;
  }
  /* With no account, hash is NULL and the dummy hash is checked: same work (AUTH-04). */
  bool ok = ks_pwhash_verify(&srv->pwhash, hash, pw, pw_len);
  kf_free(hash);
  if (!ok || account_id == 0)
    return KF_OK;
  if (!confirmed) {
    *result = KS_LOGIN_UNCONFIRMED;
    return KF_OK;
  }
  kf_random_hex(token, KS_TOKEN_HEX_LEN / 2);
  char token_hash[crypto_hash_sha256_BYTES * 2 + 1];
  account_token_hash(token, token_hash);
  sqlite3_stmt *st = NULL;
  rc = account_prepare(conn,
                       "INSERT INTO sessions (token_hash, account_id, stage, created_at, "
                       "last_used_at) VALUES (?, ?, ?, ?, ?)",
                       &st, err);
  if (rc != KF_OK) {
    token[0] = '\0';
    return rc;
  }
  sqlite3_bind_text(st, 1, token_hash, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, account_id);
  sqlite3_bind_text(st, 3, KS_SESSION_STAGE_SECOND_FACTOR_SETUP, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, now);
  sqlite3_bind_int64(st, 5, now);
  rc = account_step_done(conn, st, err);
  if (rc != KF_OK) {
    token[0] = '\0';
    return rc;
  }
  *result = KS_LOGIN_OK;
  return KF_OK;
}

kf_rc ks_account_logout(ks_server *srv, const char *token, int64_t now, bool *found, kf_err *err) {
  assert(srv != NULL && token != NULL && found != NULL);
  *found = false;
  sqlite3 *conn = NULL;
  kf_rc rc = ks_db_conn(srv->db, &conn, err);
  if (rc != KF_OK)
    return rc;
  char token_hash[crypto_hash_sha256_BYTES * 2 + 1];
  account_token_hash(token, token_hash);
  sqlite3_stmt *st = NULL;
  rc = account_prepare(
      conn, "UPDATE sessions SET ended_at = ? WHERE token_hash = ? AND ended_at IS NULL", &st, err);
  if (rc != KF_OK)
    return rc;
  sqlite3_bind_int64(st, 1, now);
  sqlite3_bind_text(st, 2, token_hash, -1, SQLITE_STATIC);
  rc = account_step_done(conn, st, err);
  if (rc == KF_OK)
    *found = sqlite3_changes(conn) > 0;
  return rc;
}
