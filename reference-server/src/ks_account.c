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

/*
 * Run a statement that returns no rows, then finalize it. bind_result is the
 * first failed sqlite3_bind_* result (or SQLITE_OK); after a failed bind the
 * statement is only finalized, never run with a parameter missing.
 */
static kf_rc account_run(sqlite3 *conn, sqlite3_stmt *st, int bind_result, kf_err *err) {
  kf_rc rc = ks_db_bound(conn, bind_result, err);
  if (rc == KF_OK && sqlite3_step(st) != SQLITE_DONE)
    rc = account_db_error(conn, err);
  sqlite3_finalize(st);
  return rc;
}

/* Wipe and free a stored password hash copied out of sqlite. NULL is fine. */
static void account_hash_free(char *hash) {
  if (hash == NULL)
    return;
  sodium_memzero(hash, strlen(hash));
  kf_free(hash);
}

/* Find an account by normalised address; *id 0 when there is none. *hash: account_hash_free. */
static kf_rc account_find(sqlite3 *conn, const char *email, int64_t *id, bool *confirmed,
                          char **hash, kf_err *err) {
  *id = 0;
  if (confirmed != NULL)
    *confirmed = false;
  if (hash != NULL)
    *hash = NULL;
  sqlite3_stmt *st = NULL;
  kf_rc rc = account_prepare(
      conn, "SELECT id, confirmed_at IS NOT NULL, password_hash FROM accounts WHERE email = ?", &st,
      err);
  if (rc != KF_OK)
    return rc;
  rc = ks_db_bound(conn, sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC), err);
  if (rc != KF_OK) {
    sqlite3_finalize(st);
    return rc;
  }
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

/* Supersede the account's open links and insert link id, issued at now. */
static kf_rc account_new_link(sqlite3 *conn, int64_t account_id, const char *id, int64_t now,
                              kf_err *err) {
  sqlite3_stmt *st = NULL;
  kf_rc rc = account_prepare(conn,
                             "UPDATE confirmation_links SET superseded_at = ? "
                             "WHERE account_id = ? AND superseded_at IS NULL",
                             &st, err);
  if (rc != KF_OK)
    return rc;
  int b = sqlite3_bind_int64(st, 1, now);
  if (b == SQLITE_OK)
    b = sqlite3_bind_int64(st, 2, account_id);
  rc = account_run(conn, st, b, err);
  if (rc != KF_OK)
    return rc;
  rc = account_prepare(
      conn, "INSERT INTO confirmation_links (id, account_id, issued_at) VALUES (?, ?, ?)", &st,
      err);
  if (rc != KF_OK)
    return rc;
  b = sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  if (b == SQLITE_OK)
    b = sqlite3_bind_int64(st, 2, account_id);
  if (b == SQLITE_OK)
    b = sqlite3_bind_int64(st, 3, now);
  return account_run(conn, st, b, err);
}

/*
 * Make a fresh link id (written to id) and render the confirmation mail for it
 * to email. *mail is always safe to release with ks_outbox_mail_release.
 */
static kf_rc account_render_confirm(ks_server *srv, const char *email, int64_t now,
                                    char id[KF_UUID_STR_LEN + 1], ks_outbox_mail *mail,
                                    kf_err *err) {
  memset(mail, 0, sizeof *mail);
  kf_uuid_v4(id);
  char url[ACCOUNT_LINK_URL_MAX];
  kf_rc rc = ks_link_url(srv->public_url, id, url, sizeof url);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "public URL too long");
  ks_mail_params mp = {.kind = KS_MAIL_CONFIRM,
                       .mail_domain = srv->cfg->mail_domain,
                       .to = email,
                       .link = url,
                       .public_url = srv->public_url,
                       .date = now};
  return ks_outbox_render(&mp, mail, err);
}

/* Supersede older links, insert a new one and queue its mail, in the open transaction. */
static kf_rc account_issue_link(ks_server *srv, sqlite3 *conn, int64_t account_id,
                                const char *email, int64_t now, kf_err *err) {
  char id[KF_UUID_STR_LEN + 1];
  ks_outbox_mail mail;
  kf_rc rc = account_render_confirm(srv, email, now, id, &mail, err);
  if (rc == KF_OK)
    rc = account_new_link(conn, account_id, id, now, err);
  if (rc == KF_OK)
    rc = ks_outbox_insert(conn, &mail, now, err);
  ks_outbox_mail_release(&mail);
  return rc;
}

/* The registration transaction for an already hashed password. */
static kf_rc account_register_tx(ks_server *srv, const char *email, const char *hash, int64_t now,
                                 bool *fresh, kf_err *err) {
  sqlite3 *conn = NULL;
  kf_rc rc = ks_db_conn(srv->db, &conn, err);
  if (rc != KF_OK)
    return rc;
  rc = ks_db_begin(conn, err);
  if (rc != KF_OK)
    return rc;
  int64_t account_id = 0;
  rc = account_find(conn, email, &account_id, NULL, NULL, err);
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
      int b = sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC);
      if (b == SQLITE_OK)
        b = sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
      if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 3, now);
      if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 4, now);
      if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 5, now);
      rc = account_run(conn, st, b, err);
    }
    if (rc == KF_OK) {
      account_id = sqlite3_last_insert_rowid(conn);
      rc = account_issue_link(srv, conn, account_id, email, now, err);
    }
    *fresh = true;
  }
  if (rc == KF_OK)
    rc = ks_db_commit(conn, err);
  if (rc != KF_OK)
    ks_db_rollback(conn);
  return rc;
}

kf_rc ks_account_register(ks_server *srv, const char *email, const char *pw, size_t pw_len,
                          int64_t now, bool *created, kf_err *err) {
  assert(srv != NULL && email != NULL);
  if (created != NULL)
    *created = false;
  /* Hash before looking: a duplicate costs exactly as much as a new account. */
  char hash[crypto_pwhash_STRBYTES];
  kf_rc rc = ks_pwhash_hash(&srv->pwhash, pw, pw_len, hash, err);
  bool fresh = false;
  if (rc == KF_OK)
    rc = account_register_tx(srv, email, hash, now, &fresh, err);
  /* A hash lets an attacker guess the password offline, so none stays on the stack. */
  sodium_memzero(hash, sizeof hash);
  if (rc != KF_OK)
    return rc;
  ks_outbox_kick(srv->outbox);
  if (created != NULL)
    *created = fresh;
  return KF_OK;
}

/* Lower-case a canonical UUID into lower; false when id is not one (it then names no link). */
static bool account_link_id(const char *id, char lower[KF_UUID_STR_LEN + 1]) {
  if (!kf_uuid_is_canonical(id))
    return false;
  for (size_t i = 0; i <= KF_UUID_STR_LEN; i++)
    lower[i] = (id[i] >= 'A' && id[i] <= 'F') ? (char)(id[i] - 'A' + 'a') : id[i];
  return true;
}

/* Look link id (lower case) up and judge it at now; NOT_FOUND and *account_id 0 if unknown. */
static kf_rc account_link_judge(sqlite3 *conn, const char *id, int64_t now, int64_t *account_id,
                                ks_link_verdict *v, kf_err *err) {
  *account_id = 0;
  *v = KS_LINK_NOT_FOUND;
  sqlite3_stmt *st = NULL;
  kf_rc rc = account_prepare(conn,
                             "SELECT l.account_id, l.issued_at, l.superseded_at IS NOT NULL, "
                             "a.confirmed_at IS NOT NULL FROM confirmation_links l "
                             "JOIN accounts a ON a.id = l.account_id WHERE l.id = ?",
                             &st, err);
  if (rc != KF_OK)
    return rc;
  rc = ks_db_bound(conn, sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC), err);
  if (rc == KF_OK) {
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
      *account_id = sqlite3_column_int64(st, 0);
      *v = ks_link_judge(sqlite3_column_int64(st, 1), now, sqlite3_column_int(st, 2) != 0,
                         sqlite3_column_int(st, 3) != 0);
    } else if (step != SQLITE_DONE) {
      rc = account_db_error(conn, err);
    }
  }
  sqlite3_finalize(st);
  return rc;
}

kf_rc ks_account_confirm(ks_server *srv, const char *id, int64_t now, ks_link_verdict *verdict,
                         kf_err *err) {
  assert(srv != NULL && id != NULL && verdict != NULL);
  *verdict = KS_LINK_NOT_FOUND;
  char lower[KF_UUID_STR_LEN + 1];
  /* A malformed id cannot name a link; answer as for an unknown one. */
  if (!account_link_id(id, lower))
    return KF_OK;
  sqlite3 *conn = NULL;
  kf_rc rc = ks_db_conn(srv->db, &conn, err);
  if (rc != KF_OK)
    return rc;
  /* Judge and confirm in one write transaction so two clicks cannot both win. */
  rc = ks_db_begin(conn, err);
  if (rc != KF_OK)
    return rc;
  int64_t account_id = 0;
  ks_link_verdict v = KS_LINK_NOT_FOUND;
  rc = account_link_judge(conn, lower, now, &account_id, &v, err);
  if (rc == KF_OK && v == KS_LINK_VALID) {
    sqlite3_stmt *st = NULL;
    rc = account_prepare(conn, "UPDATE accounts SET confirmed_at = ? WHERE id = ?", &st, err);
    if (rc == KF_OK) {
      int b = sqlite3_bind_int64(st, 1, now);
      if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 2, account_id);
      rc = account_run(conn, st, b, err);
    }
    if (rc == KF_OK)
      rc =
          account_prepare(conn, "UPDATE confirmation_links SET used_at = ? WHERE id = ?", &st, err);
    if (rc == KF_OK) {
      int b = sqlite3_bind_int64(st, 1, now);
      if (b == SQLITE_OK)
        b = sqlite3_bind_text(st, 2, lower, -1, SQLITE_STATIC);
      rc = account_run(conn, st, b, err);
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

kf_rc ks_account_check_link(ks_server *srv, const char *id, int64_t now, ks_link_verdict *verdict,
                            kf_err *err) {
  assert(srv != NULL && id != NULL && verdict != NULL);
  *verdict = KS_LINK_NOT_FOUND;
  char lower[KF_UUID_STR_LEN + 1];
  if (!account_link_id(id, lower))
    return KF_OK;
  sqlite3 *conn = NULL;
  kf_rc rc = ks_db_conn(srv->db, &conn, err);
  if (rc != KF_OK)
    return rc;
  /* One SELECT reads a consistent snapshot, so no transaction is needed to only look. */
  int64_t account_id = 0;
  return account_link_judge(conn, lower, now, &account_id, verdict, err);
}

/* Record that a resend was asked for, in the open transaction. */
static kf_rc account_note_resend(sqlite3 *conn, int64_t now, kf_err *err) {
  sqlite3_stmt *st = NULL;
  kf_rc rc =
      account_prepare(conn, "INSERT INTO resend_requests (requested_at) VALUES (?)", &st, err);
  if (rc != KF_OK)
    return rc;
  return account_run(conn, st, sqlite3_bind_int64(st, 1, now), err);
}

kf_rc ks_account_resend(ks_server *srv, const char *email, int64_t now, bool *issued, kf_err *err) {
  assert(srv != NULL && email != NULL);
  if (issued != NULL)
    *issued = false;
  /*
   * Every address costs a rendered mail and a write transaction, so the time
   * of the answer does not tell whether an unconfirmed account exists. The
   * mail is rendered before the transaction so the write lock is held briefly.
   */
  char id[KF_UUID_STR_LEN + 1];
  ks_outbox_mail mail;
  kf_rc rc = account_render_confirm(srv, email, now, id, &mail, err);
  sqlite3 *conn = NULL;
  if (rc == KF_OK)
    rc = ks_db_conn(srv->db, &conn, err);
  if (rc == KF_OK)
    rc = ks_db_begin(conn, err);
  int64_t account_id = 0;
  bool confirmed = false;
  if (rc == KF_OK)
    rc = account_find(conn, email, &account_id, &confirmed, NULL, err);
  if (rc == KF_OK)
    rc = account_note_resend(conn, now, err);
  bool fresh = rc == KF_OK && account_id != 0 && !confirmed;
  if (fresh)
    rc = account_new_link(conn, account_id, id, now, err);
  if (fresh && rc == KF_OK)
    rc = ks_outbox_insert(conn, &mail, now, err);
  if (rc == KF_OK)
    rc = ks_db_commit(conn, err);
  if (rc != KF_OK && conn != NULL)
    ks_db_rollback(conn);
  ks_outbox_mail_release(&mail);
  if (rc != KF_OK)
    return rc;
  /* Kicked in every case, like the rest: with nothing new the sender just looks and waits. */
  ks_outbox_kick(srv->outbox);
  if (issued != NULL)
    *issued = fresh;
  return KF_OK;
}

/* Hex SHA-256 of a token: only this is stored, so a leaked table holds no live tokens. */
static void account_token_hash(const char *token, char out[crypto_hash_sha256_BYTES * 2 + 1]) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, (const unsigned char *)token, strlen(token));
  sodium_bin2hex(out, crypto_hash_sha256_BYTES * 2 + 1, digest, sizeof digest);
}

/*
 * Start a session for account_id with a new token, and when new_hash is not
 * NULL replace old_hash with it, in one transaction. The replacement only
 * applies while the stored hash is still old_hash, so a password changed in
 * the meantime is never overwritten with a rehash of the old one.
 */
static kf_rc account_session_tx(sqlite3 *conn, int64_t account_id, const char *old_hash,
                                const char *new_hash, int64_t now, char *token, kf_err *err) {
  kf_random_hex(token, KS_TOKEN_HEX_LEN / 2);
  char token_hash[crypto_hash_sha256_BYTES * 2 + 1];
  account_token_hash(token, token_hash);
  kf_rc rc = ks_db_begin(conn, err);
  if (rc != KF_OK)
    return rc;
  sqlite3_stmt *st = NULL;
  if (new_hash != NULL) {
    rc = account_prepare(
        conn, "UPDATE accounts SET password_hash = ? WHERE id = ? AND password_hash = ?", &st, err);
    if (rc == KF_OK) {
      int b = sqlite3_bind_text(st, 1, new_hash, -1, SQLITE_STATIC);
      if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 2, account_id);
      if (b == SQLITE_OK)
        b = sqlite3_bind_text(st, 3, old_hash, -1, SQLITE_STATIC);
      rc = account_run(conn, st, b, err);
    }
  }
  if (rc == KF_OK)
    rc = account_prepare(conn,
                         "INSERT INTO sessions (token_hash, account_id, stage, created_at, "
                         "last_used_at) VALUES (?, ?, ?, ?, ?)",
                         &st, err);
  if (rc == KF_OK) {
    int b = sqlite3_bind_text(st, 1, token_hash, -1, SQLITE_STATIC);
    if (b == SQLITE_OK)
      b = sqlite3_bind_int64(st, 2, account_id);
    if (b == SQLITE_OK)
      b = sqlite3_bind_text(st, 3, KS_SESSION_STAGE_SECOND_FACTOR_SETUP, -1, SQLITE_STATIC);
    if (b == SQLITE_OK)
      b = sqlite3_bind_int64(st, 4, now);
    if (b == SQLITE_OK)
      b = sqlite3_bind_int64(st, 5, now);
    rc = account_run(conn, st, b, err);
  }
  if (rc == KF_OK)
    rc = ks_db_commit(conn, err);
  if (rc != KF_OK) {
    ks_db_rollback(conn);
    token[0] = '\0';
  }
  return rc;
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
  /*
   * With no account, hash is NULL and the dummy hash is checked: same work
   * (AUTH-04). A hash from another cost also pays for the dummy check.
   */
  bool stale = false;
  bool ok = ks_pwhash_verify(&srv->pwhash, hash, pw, pw_len, &stale);
  if (!ok || account_id == 0) {
    account_hash_free(hash);
    return KF_OK;
  }
  if (!confirmed) {
    account_hash_free(hash);
    *result = KS_LOGIN_UNCONFIRMED;
    return KF_OK;
  }
  /* The new hash is made before the transaction so argon2 never runs under the write lock. */
  char new_hash[crypto_pwhash_STRBYTES];
  if (stale)
    rc = ks_pwhash_hash(&srv->pwhash, pw, pw_len, new_hash, err);
  if (rc == KF_OK)
    rc = account_session_tx(conn, account_id, hash, stale ? new_hash : NULL, now, token, err);
  sodium_memzero(new_hash, sizeof new_hash);
  account_hash_free(hash);
  if (rc != KF_OK)
    return rc;
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
  int b = sqlite3_bind_int64(st, 1, now);
  if (b == SQLITE_OK)
    b = sqlite3_bind_text(st, 2, token_hash, -1, SQLITE_STATIC);
  rc = account_run(conn, st, b, err);
  if (rc == KF_OK)
    *found = sqlite3_changes(conn) > 0;
  return rc;
}
