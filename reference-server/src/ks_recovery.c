/*
 * ks_recovery.c: reset links, the new password and username reminders
 * (AUTH-07; see ks_recovery.h).
 */
#include "ks_recovery.h"

#include <assert.h>
#include <sodium.h>
#include <string.h>

#include "kf/digest.h"
#include "kf/sql.h"
#include "kf/str.h"
#include "kf/uuid.h"
#include "ks_account.h"
#include "ks_address.h"
#include "ks_fault.h"
#include "ks_lockout.h"
#include "ks_outbox.h"
#include "ks_server.h"
#include "ks_session.h"
#include "ks_variant.h"

#define RECOVERY_HASH_HEX KF_SHA256_HEX
#define RECOVERY_URL_MAX 2048
/*
 * The recipient of the mail rendered for a username that is no address: it
 * is never sent, only rendered so that such a request costs what others do.
 */
#define RECOVERY_NOBODY "nobody@example.invalid"

ks_reset_verdict ks_reset_judge(int64_t expires_at, int64_t now, bool used) {
  if (used)
    return KS_ERR_RESET_LINK_USED;
  /* "Valid 24 hours": at 23:59:59 still valid, at 24:00:00 no longer. */
  if (now >= expires_at)
    return KS_ERR_RESET_LINK_EXPIRED;
  return KS_RESET_VALID;
}

kf_rc ks_reset_url(const char *public_url, const char *id, char *out, size_t out_size) {
  assert(public_url != NULL && id != NULL && out != NULL);
  return kf_str_format(out, out_size, "%s" KS_RESET_PATH "?id=%s", public_url, id);
}

/*
 * The stored form of link id: the SHA-256 of its lower-case hex, as hex;
 * false when id is no link id (then it names no link).
 */
static bool recovery_id_hash(const char *id, char out[RECOVERY_HASH_HEX]) {
  char lower[KS_RESET_ID_HEX_LEN + 1];
  if (strlen(id) != KS_RESET_ID_HEX_LEN)
    return false;
  for (size_t i = 0; i < KS_RESET_ID_HEX_LEN; i++) {
    char c = id[i];
    if (c >= 'A' && c <= 'F')
      c = (char)(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
    lower[i] = c;
  }
  lower[KS_RESET_ID_HEX_LEN] = '\0';
  kf_sha256_hex(lower, KS_RESET_ID_HEX_LEN, out);
  return true;
}

/*
 * Store link id_hash for the account, then supersede every other open link
 * of it (the newest one counts), in the open transaction.
 */
static kf_rc recovery_new_link(const ks_server *srv, sqlite3 *conn, int64_t account_id,
                               const char *id_hash, int64_t now, kf_err *err) {
  kf_rc rc = kf_sql_run(conn, NULL, err,
                        "INSERT INTO reset_links (id_hash, account_id, created_at, expires_at) "
                        "VALUES (?, ?, ?, ?)",
                        "tiii", id_hash, account_id, now, now + KS_RESET_VALIDITY_S);
  if (rc != KF_OK || ks_fault_on(srv, KS_FAULT_RESET_KEEPS_OLD_LINKS))
    return rc;
  return kf_sql_run(conn, NULL, err,
                    "UPDATE reset_links SET superseded_at = ? WHERE account_id = ? AND "
                    "id_hash <> ? AND used_at IS NULL AND superseded_at IS NULL",
                    "iit", now, account_id, id_hash);
}

/* The thread's connection, with a write transaction open on it. */
static kf_rc recovery_begin(ks_server *srv, sqlite3 **conn, kf_err *err) {
  kf_rc rc = ks_db_conn(srv->db, conn, err);
  return rc == KF_OK ? ks_db_begin(*conn, err) : rc;
}

/* End the open transaction on conn: committed when rc is KF_OK, else rolled back. */
static kf_rc recovery_finish(sqlite3 *conn, kf_rc rc, kf_err *err) {
  if (rc == KF_OK)
    rc = ks_db_commit(conn, err);
  if (rc != KF_OK)
    ks_db_rollback(conn);
  return rc;
}

/*
 * One request's transaction: record it (kind), and when username has an
 * account that may get the mail, store the new link (a reset: id_hash set)
 * and insert the mail. *sent says whether it did.
 */
static kf_rc recovery_request_tx(ks_server *srv, const char *kind, const char *username,
                                 const char *id_hash, const ks_outbox_mail *mail, int64_t now,
                                 bool *sent, kf_err *err) {
  *sent = false;
  sqlite3 *conn = NULL;
  kf_rc rc = recovery_begin(srv, &conn, err);
  if (rc != KF_OK)
    return rc;
  int64_t account_id = 0;
  bool confirmed = false;
  if (username != NULL)
    rc = ks_account_find(conn, username, &account_id, &confirmed, NULL, err);
  if (rc == KF_OK)
    rc = kf_sql_run(conn, NULL, err,
                    "INSERT INTO recovery_requests (kind, requested_at) VALUES (?, ?)", "ti", kind,
                    now);
  bool reminder = id_hash == NULL;
  bool send = account_id != 0 &&
              (confirmed || (reminder && ks_fault_on(srv, KS_FAULT_REMINDER_FOR_UNCONFIRMED)));
  if (rc == KF_OK && send && !reminder)
    rc = recovery_new_link(srv, conn, account_id, id_hash, now, err);
  if (rc == KF_OK && send)
    rc = ks_outbox_insert(conn, mail, now, err);
  rc = recovery_finish(conn, rc, err);
  *sent = rc == KF_OK && send;
  return rc;
}

kf_rc ks_recovery_reset_request(ks_server *srv, const char *username, int64_t now, bool *issued,
                                kf_err *err) {
  assert(srv != NULL);
  bool sent = false;
  /*
   * A link, its hash and its mail are made for every request, before the
   * transaction (which then holds the write lock briefly), so a username
   * without an account costs what one with an account costs.
   */
  char id[KS_RESET_ID_HEX_LEN + 1];
  kf_random_hex(id, KS_RESET_ID_HEX_LEN / 2);
  char id_hash[RECOVERY_HASH_HEX];
  bool made = recovery_id_hash(id, id_hash);
  assert(made);
  (void)made;
  /* The id as the link shows it: lower case, or (a variant) upper case; ids compare either way. */
  for (size_t i = 0; i < KS_RESET_ID_HEX_LEN && ks_variant_on(srv, KS_VARIANT_RESET_LINK_ID_UPPER);
       i++)
    id[i] = (id[i] >= 'a' && id[i] <= 'f') ? (char)(id[i] - 'a' + 'A') : id[i];
  char url[RECOVERY_URL_MAX];
  kf_rc rc = ks_reset_url(srv->public_url, id, url, sizeof url);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "public URL too long");
  const char *to = username != NULL ? username : RECOVERY_NOBODY;
  ks_mail_params mp = {.srv = srv,
                       .kind = KS_MAIL_RESET,
                       .mail_domain = srv->cfg->mail_domain,
                       .to = to,
                       .link = url,
                       .username = to,
                       .date = now};
  ks_outbox_mail mail;
  rc = ks_outbox_render(&mp, &mail, err);
  if (rc == KF_OK)
    rc = recovery_request_tx(srv, "password_reset", username, id_hash, &mail, now, &sent, err);
  ks_outbox_mail_release(&mail);
  sodium_memzero(id, sizeof id);
  sodium_memzero(url, sizeof url);
  if (rc != KF_OK)
    return rc;
  ks_outbox_kick(srv->outbox, to);
  if (issued != NULL)
    *issued = sent;
  return KF_OK;
}

/* A reset link as stored, with its account's username (the lockout's key). */
typedef struct recovery_link {
  int64_t account_id; /* 0: no such link. */
  int64_t expires_at;
  bool used; /* Used or superseded. */
  char username[KS_ADDRESS_MAX + 1];
} recovery_link;

/* Read link id_hash into *link (account_id 0 when there is none). */
static kf_rc recovery_link_read(sqlite3 *conn, const char *id_hash, recovery_link *link,
                                kf_err *err) {
  memset(link, 0, sizeof *link);
  kf_sql q;
  kf_rc rc = kf_sql_query(&q, conn, err,
                          "SELECT l.account_id, l.expires_at, "
                          "l.used_at IS NOT NULL OR l.superseded_at IS NOT NULL, a.email "
                          "FROM reset_links l JOIN accounts a ON a.id = l.account_id "
                          "WHERE l.id_hash = ?",
                          "t", id_hash);
  bool row = false;
  if (rc == KF_OK)
    rc = kf_sql_step(&q, &row, err);
  if (rc == KF_OK && row) {
    link->expires_at = kf_sql_int(&q, 1);
    link->used = kf_sql_int(&q, 2) != 0;
    rc = kf_str_copy(link->username, sizeof link->username, kf_sql_text(&q, 3, NULL));
    if (rc != KF_OK)
      rc = kf_err_set(err, rc, "stored username too long");
    link->account_id = rc == KF_OK ? kf_sql_int(&q, 0) : 0;
  }
  /* A failed query is finalized already; finalizing it again is harmless. */
  kf_sql_finalize(&q);
  return rc;
}

/* The verdict on link (as read) at now. */
static ks_reset_verdict recovery_link_verdict(const ks_server *srv, const recovery_link *link,
                                              int64_t now) {
  if (link->account_id == 0)
    return KS_ERR_RESET_LINK_NOT_FOUND;
  int64_t at = ks_fault_on(srv, KS_FAULT_RESET_LINK_VALID_ONE_SECOND_LONGER) ? now - 1 : now;
  return ks_reset_judge(link->expires_at, at, link->used);
}

kf_rc ks_recovery_reset_check(ks_server *srv, const char *id, int64_t now, ks_reset_verdict *v,
                              kf_err *err) {
  assert(srv != NULL && id != NULL && v != NULL);
  *v = KS_ERR_RESET_LINK_NOT_FOUND;
  char id_hash[RECOVERY_HASH_HEX];
  if (!recovery_id_hash(id, id_hash))
    return KF_OK;
  sqlite3 *conn = NULL;
  recovery_link link;
  kf_rc rc = ks_db_conn(srv->db, &conn, err);
  /* One SELECT reads a consistent snapshot: no transaction is needed to only look. */
  if (rc == KF_OK)
    rc = recovery_link_read(conn, id_hash, &link, err);
  if (rc == KF_OK)
    *v = recovery_link_verdict(srv, &link, now);
  return rc;
}

/*
 * Replace the stored hash of account by hash, in the open transaction;
 * *replaced gets the hash it held (ks_account_hash_free), for the count-down
 * of its cost class after the commit. The UPDATE names the old hash as the
 * login's rehash does, and a row it did not change is an error.
 */
static kf_rc recovery_replace_hash(sqlite3 *conn, int64_t account, const char *hash,
                                   char **replaced, kf_err *err) {
  kf_sql q;
  kf_rc rc =
      kf_sql_query(&q, conn, err, "SELECT password_hash FROM accounts WHERE id = ?", "i", account);
  bool row = false;
  if (rc == KF_OK)
    rc = kf_sql_step(&q, &row, err);
  char *old = NULL;
  if (rc == KF_OK && row)
    rc = kf_sql_text_dup(&q, 0, &old, NULL, err);
  kf_sql_finalize(&q);
  /* The link's row joined the account in this transaction, so it cannot be gone. */
  if (rc == KF_OK && old == NULL)
    rc = kf_err_set(err, KF_ERR_INTERNAL, "the account of a reset link has no password hash");
  int64_t changed = 0;
  if (rc == KF_OK)
    rc = kf_sql_run(conn, &changed, err,
                    "UPDATE accounts SET password_hash = ? WHERE id = ? AND password_hash = ?",
                    "tit", hash, account, old);
  /* Nothing else writes in this transaction: a row left unchanged is a broken store. */
  if (rc == KF_OK && changed != 1)
    rc = kf_err_set(err, KF_ERR_INTERNAL, "the new password hash replaced %lld rows",
                    (long long)changed);
  if (rc == KF_OK) {
    *replaced = old;
    old = NULL;
  }
  ks_account_hash_free(old);
  return rc;
}

/*
 * The new password, in the open transaction: the hash, the link used, every
 * session ended (AUTH-06, AUTH-07) and the lockout count gone, since the
 * person has just proved that the mailbox is theirs. *replaced as
 * recovery_replace_hash gives it.
 */
static kf_rc recovery_set_password(const ks_server *srv, sqlite3 *conn, const recovery_link *link,
                                   const char *id_hash, const char *hash, int64_t now,
                                   char **replaced, kf_err *err) {
  kf_rc rc = recovery_replace_hash(conn, link->account_id, hash, replaced, err);
  if (rc == KF_OK && !ks_fault_on(srv, KS_FAULT_RESET_LINK_REUSABLE))
    rc = kf_sql_run(conn, NULL, err, "UPDATE reset_links SET used_at = ? WHERE id_hash = ?", "it",
                    now, id_hash);
  if (rc == KF_OK && !ks_fault_on(srv, KS_FAULT_RESET_KEEPS_SESSIONS))
    rc = ks_session_end_all(conn, link->account_id, now, err);
  if (rc == KF_OK && !ks_fault_on(srv, KS_FAULT_RESET_KEEPS_LOCKOUT))
    rc = ks_lockout_reset(conn, link->username, err);
  return rc;
}

kf_rc ks_recovery_reset_confirm(ks_server *srv, const char *id, const char *hash, int64_t now,
                                ks_reset_verdict *v, kf_err *err) {
  assert(srv != NULL && id != NULL && hash != NULL && v != NULL);
  *v = KS_ERR_RESET_LINK_NOT_FOUND;
  char id_hash[RECOVERY_HASH_HEX];
  if (!recovery_id_hash(id, id_hash))
    return KF_OK;
  /*
   * The cost classes are counted before the hash is replaced, as before a
   * login's rehash, so the count-down below takes from a count that held the
   * old hash (ks_pwhash_class_release).
   */
  sqlite3 *conn = NULL;
  kf_rc rc = ks_db_conn(srv->db, &conn, err);
  if (rc == KF_OK)
    rc = ks_pwhash_load_once(&srv->pwhash, ks_account_hash_classes, conn, err);
  /* Judge and use in one write transaction, so two uses of one link cannot both win. */
  if (rc == KF_OK)
    rc = ks_db_begin(conn, err);
  if (rc != KF_OK)
    return rc;
  recovery_link link;
  char *replaced = NULL;
  rc = recovery_link_read(conn, id_hash, &link, err);
  ks_reset_verdict verdict = rc == KF_OK ? recovery_link_verdict(srv, &link, now) : *v;
  if (rc == KF_OK && verdict == KS_RESET_VALID)
    rc = recovery_set_password(srv, conn, &link, id_hash, hash, now, &replaced, err);
  rc = recovery_finish(conn, rc, err);
  if (rc == KF_OK)
    *v = verdict;
  /* The account left its old cost class; the last one out ends the class's cost for all. */
  if (rc == KF_OK && replaced != NULL)
    ks_pwhash_class_release(&srv->pwhash, replaced);
  ks_account_hash_free(replaced);
  return rc;
}

kf_rc ks_recovery_remind(ks_server *srv, const char *email, int64_t now, bool *sent, kf_err *err) {
  assert(srv != NULL && email != NULL);
  bool did = false;
  ks_mail_params mp = {.srv = srv,
                       .kind = KS_MAIL_REMINDER,
                       .mail_domain = srv->cfg->mail_domain,
                       .to = email,
                       .public_url = srv->public_url,
                       .username = email,
                       .date = now};
  ks_outbox_mail mail;
  kf_rc rc = ks_outbox_render(&mp, &mail, err);
  if (rc == KF_OK)
    rc = recovery_request_tx(srv, "username_reminder", email, NULL, &mail, now, &did, err);
  ks_outbox_mail_release(&mail);
  if (rc != KF_OK)
    return rc;
  ks_outbox_kick(srv->outbox, email);
  if (sent != NULL)
    *sent = did;
  return KF_OK;
}
