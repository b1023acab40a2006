/*
 * ks_account.c: registration, confirmation and resend; the login itself is ks_login.c.
 */
#include "ks_account.h"

#include <assert.h>
#include <sodium.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/sql.h"
#include "kf/str.h"
#include "kf/log.h"
#include "kf/timeutil.h"
#include "kf/uuid.h"
#include "ks_fault.h"
#include "ks_login.h"
#include "ks_outbox.h"
#include "ks_variant.h"

#define ACCOUNT_LINK_URL_MAX 2048

kf_rc ks_account_username(sqlite3 *conn, int64_t account_id, char *out, size_t size, kf_err *err) {
  assert(conn != NULL && out != NULL && size > 0);
  out[0] = '\0';
  kf_sql q;
  kf_rc rc =
      kf_sql_query(&q, conn, err, "SELECT email FROM accounts WHERE id = ?", "i", account_id);
  if (rc != KF_OK)
    return rc;
  bool row = false;
  rc = kf_sql_step(&q, &row, err);
  const char *email = rc == KF_OK && row ? kf_sql_text(&q, 0, NULL) : NULL;
  if (rc == KF_OK && email == NULL)
    rc = kf_err_set(err, KF_ERR_NOT_FOUND, "no account %lld", (long long)account_id);
  if (rc == KF_OK && kf_str_copy(out, size, email) != KF_OK)
    rc = kf_err_set(err, KF_ERR_LIMIT, "the username of account %lld is too long",
                    (long long)account_id);
  kf_sql_finalize(&q);
  return rc;
}

void ks_account_hash_free(char *hash) {
  if (hash == NULL)
    return;
  sodium_memzero(hash, strlen(hash));
  kf_free(hash);
}

kf_rc ks_account_hash_classes(void *conn, ks_pwhash *ph, kf_err *err) {
  assert(conn != NULL && ph != NULL);
  kf_sql q;
  kf_rc rc = kf_sql_query(&q, conn, err, "SELECT password_hash FROM accounts", "");
  if (rc != KF_OK)
    return rc;
  bool row = false;
  while ((rc = kf_sql_step(&q, &row, err)) == KF_OK && row) {
    kf_err class_err;
    kf_err_init(&class_err);
    kf_rc crc = ks_pwhash_class_count(ph, kf_sql_text(&q, 0, NULL), &class_err);
    /* Too many classes leave one uncovered: worth a warning, not a server that cannot log in. */
    if (crc == KF_ERR_LIMIT) {
      kf_warn("password hashes: %s", class_err.message);
    } else if (crc != KF_OK) {
      rc = kf_err_set(err, crc, "%s", class_err.message);
      break;
    }
  }
  kf_sql_finalize(&q);
  return rc;
}

kf_rc ks_account_find(sqlite3 *conn, const char *email, int64_t *id, bool *confirmed, char **hash,
                      kf_err *err) {
  *id = 0;
  if (confirmed != NULL)
    *confirmed = false;
  if (hash != NULL)
    *hash = NULL;
  kf_sql q;
  kf_rc rc = kf_sql_query(
      &q, conn, err,
      "SELECT id, confirmed_at IS NOT NULL, password_hash FROM accounts WHERE email = ?", "t",
      email);
  if (rc != KF_OK)
    return rc;
  bool row = false;
  rc = kf_sql_step(&q, &row, err);
  if (rc == KF_OK && row) {
    *id = kf_sql_int(&q, 0);
    if (confirmed != NULL)
      *confirmed = kf_sql_int(&q, 1) != 0;
    if (hash != NULL)
      rc = kf_sql_text_dup(&q, 2, hash, NULL, err);
  }
  kf_sql_finalize(&q);
  return rc;
}

/*
 * Supersede the account's open link and insert link id, issued at now.
 *
 * Every new link supersedes the one before, so an account has at most one
 * open link, its newest, which has the largest rowid of its links (sqlite
 * gives a new row the largest rowid yet). Only that row is looked at, through
 * the account index read backwards: asking for every open link of the
 * account instead reads all its links, so the cost grew by about 0.1 us per
 * link, and a few thousand resends for an address would have made "this
 * unconfirmed account exists" measurable (issue 9).
 */
static kf_rc account_new_link(const ks_server *srv, sqlite3 *conn, int64_t account_id,
                              const char *id, int64_t now, kf_err *err) {
  kf_rc rc = KF_OK;
  if (!ks_fault_on(srv, KS_FAULT_RESEND_KEEPS_OLD_LINKS))
    rc = kf_sql_run(conn, NULL, err,
                    "UPDATE confirmation_links SET superseded_at = ?1 "
                    "WHERE rowid = (SELECT rowid FROM confirmation_links WHERE account_id = ?2 "
                    "ORDER BY rowid DESC LIMIT 1) AND superseded_at IS NULL",
                    "ii", now, account_id);
  if (rc != KF_OK)
    return rc;
  return kf_sql_run(conn, NULL, err,
                    "INSERT INTO confirmation_links (id, account_id, issued_at) VALUES (?, ?, ?)",
                    "tii", id, account_id, now);
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
  /* The id as the link shows it: lower case, or (a variant) upper case; ids compare either way. */
  char shown[KF_UUID_STR_LEN + 1];
  memcpy(shown, id, sizeof shown);
  for (size_t i = 0; i < KF_UUID_STR_LEN && ks_variant_on(srv, KS_VARIANT_LINK_ID_UPPER); i++)
    shown[i] = (shown[i] >= 'a' && shown[i] <= 'f') ? (char)(shown[i] - 'a' + 'A') : shown[i];
  char url[ACCOUNT_LINK_URL_MAX];
  /* The fault: a link made from the set-up host name, as a server behind a proxy often does. */
  const char *base = srv->public_url;
  char moved[ACCOUNT_LINK_URL_MAX];
  if (ks_fault_on(srv, KS_FAULT_LINK_HOST_ELSEWHERE) &&
      kf_str_starts_with(base, "http://127.0.0.1") &&
      kf_str_format(moved, sizeof moved, "http://localhost%s", base + 16) == KF_OK)
    base = moved;
  kf_rc rc = ks_link_url(base, shown, url, sizeof url);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "public URL too long");
  ks_mail_params mp = {.srv = srv,
                       .kind = KS_MAIL_CONFIRM,
                       .mail_domain = srv->cfg->mail_domain,
                       .to = email,
                       .link = url,
                       .public_url = srv->public_url,
                       .date = ks_fault_on(srv, KS_FAULT_MAIL_DATE_REAL_CLOCK) ? kf_time_real_now()
                                                                               : now};
  return ks_outbox_render(&mp, mail, err);
}

/* Render the duplicate-registration mail to email (ACC-10). */
static kf_rc account_render_duplicate(ks_server *srv, const char *email, int64_t now,
                                      ks_outbox_mail *mail, kf_err *err) {
  ks_mail_params mp = {.srv = srv,
                       .kind = KS_MAIL_DUPLICATE,
                       .mail_domain = srv->cfg->mail_domain,
                       .to = email,
                       .public_url = srv->public_url,
                       .date = now};
  return ks_outbox_render(&mp, mail, err);
}

/*
 * Both mails a registration may send, rendered before its transaction opens
 * so the write lock is held briefly, and both every time so a new and a known
 * address cost the same (ACC-10).
 */
typedef struct account_reg_mails {
  char link_id[KF_UUID_STR_LEN + 1];
  ks_outbox_mail confirm;
  ks_outbox_mail duplicate;
} account_reg_mails;

static void account_reg_mails_release(account_reg_mails *m) {
  ks_outbox_mail_release(&m->confirm);
  ks_outbox_mail_release(&m->duplicate);
}

static kf_rc account_reg_mails_render(ks_server *srv, const char *email, int64_t now,
                                      account_reg_mails *m, kf_err *err) {
  memset(&m->duplicate, 0, sizeof m->duplicate);
  kf_rc rc = account_render_confirm(srv, email, now, m->link_id, &m->confirm, err);
  if (rc == KF_OK)
    rc = account_render_duplicate(srv, email, now, &m->duplicate, err);
  return rc;
}

/* Insert a new unconfirmed account with its first link and mail, in the open transaction. */
static kf_rc account_insert(const ks_server *srv, sqlite3 *conn, const char *email,
                            const char *hash, int64_t now, const account_reg_mails *m,
                            kf_err *err) {
  kf_rc rc = kf_sql_run(conn, NULL, err,
                        "INSERT INTO accounts (email, password_hash, created_at, "
                        "terms_accepted_at, email_consent_at) VALUES (?, ?, ?, ?, ?)",
                        "ttiii", email, hash, now, now, now);
  if (rc != KF_OK)
    return rc;
  rc = account_new_link(srv, conn, sqlite3_last_insert_rowid(conn), m->link_id, now, err);
  if (rc == KF_OK)
    rc = ks_outbox_insert(conn, &m->confirm, now, err);
  return rc;
}

/* What the registration transaction needs and what it found out. */
typedef struct account_reg_tx {
  ks_server *srv;
  const char *email;
  const char *hash;
  int64_t now;
  const account_reg_mails *m;
  bool fresh;
} account_reg_tx;

/* The registration transaction for an already hashed password and rendered mails. */
static kf_rc account_register_tx(sqlite3 *conn, void *arg, kf_err *err) {
  account_reg_tx *t = arg;
  int64_t account_id = 0;
  kf_rc rc = ks_account_find(conn, t->email, &account_id, NULL, NULL, err);
  t->fresh = rc == KF_OK && account_id == 0;
  if (rc == KF_OK && account_id != 0)
    rc = ks_outbox_insert(conn, &t->m->duplicate, t->now, err);
  else if (rc == KF_OK)
    rc = account_insert(t->srv, conn, t->email, t->hash, t->now, t->m, err);
  return rc;
}

/*
 * The address as the accounts table keeps it: email itself, or (a fault) its
 * first 32 bytes in cut, as a too narrow username column would.
 */
static const char *account_stored_address(const ks_server *srv, const char *email, char cut[33]) {
  if (strlen(email) <= 32 || !ks_fault_on(srv, KS_FAULT_USERNAME_CUT_AT_32))
    return email;
  memcpy(cut, email, 32);
  cut[32] = '\0';
  return cut;
}

/* Hash pw into hash, unless (a fault) the address already has an account. */
static kf_rc account_hash_new(ks_server *srv, const char *email, const char *pw, size_t pw_len,
                              char hash[crypto_pwhash_STRBYTES], kf_err *err) {
  memset(hash, 0, crypto_pwhash_STRBYTES);
  if (ks_fault_on(srv, KS_FAULT_DUPLICATE_NOT_HASHED)) {
    sqlite3 *conn = NULL;
    int64_t id = 0;
    kf_rc rc = ks_db_conn(srv->db, &conn, err);
    if (rc == KF_OK)
      rc = ks_account_find(conn, email, &id, NULL, NULL, err);
    if (rc != KF_OK || id != 0)
      return rc;
  }
  return ks_pwhash_hash(&srv->pwhash, pw, pw_len, hash, err);
}

kf_rc ks_account_register(ks_server *srv, const char *email, const char *pw, size_t pw_len,
                          int64_t now, bool *created, kf_err *err) {
  assert(srv != NULL && email != NULL);
  if (created != NULL)
    *created = false;
  char cut[33];
  const char *stored = account_stored_address(srv, email, cut);
  /* Hash before looking: a duplicate costs exactly as much as a new account. */
  char hash[crypto_pwhash_STRBYTES];
  kf_rc rc = account_hash_new(srv, stored, pw, pw_len, hash, err);
  account_reg_mails mails;
  memset(&mails, 0, sizeof mails);
  if (rc == KF_OK)
    rc = account_reg_mails_render(srv, email, now, &mails, err);
  account_reg_tx t = {.srv = srv, .email = stored, .hash = hash, .now = now, .m = &mails};
  if (rc == KF_OK)
    rc = ks_db_in_tx(srv->db, account_register_tx, &t, err);
  bool fresh = rc == KF_OK && t.fresh;
  account_reg_mails_release(&mails);
  /* A hash lets an attacker guess the password offline, so none stays on the stack. */
  sodium_memzero(hash, sizeof hash);
  if (rc != KF_OK)
    return rc;
  ks_outbox_kick(srv->outbox, email);
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
static kf_rc account_link_judge(const ks_server *srv, sqlite3 *conn, const char *id, int64_t now,
                                int64_t *account_id, ks_link_verdict *v, kf_err *err) {
  *account_id = 0;
  *v = KS_LINK_NOT_FOUND;
  kf_sql q;
  kf_rc rc = kf_sql_query(&q, conn, err,
                          "SELECT l.account_id, l.issued_at, l.superseded_at IS NOT NULL, "
                          "a.confirmed_at IS NOT NULL FROM confirmation_links l "
                          "JOIN accounts a ON a.id = l.account_id WHERE l.id = ?",
                          "t", id);
  if (rc != KF_OK)
    return rc;
  bool row = false;
  rc = kf_sql_step(&q, &row, err);
  if (rc == KF_OK && row) {
    *account_id = kf_sql_int(&q, 0);
    int64_t at = ks_fault_on(srv, KS_FAULT_LINK_VALID_ONE_SECOND_LONGER) ? now - 1 : now;
    *v = ks_link_judge(kf_sql_int(&q, 1), at, kf_sql_int(&q, 2) != 0, kf_sql_int(&q, 3) != 0);
  }
  kf_sql_finalize(&q);
  return rc;
}

/* Judge the link and, when it is valid, confirm its account, in one write transaction. */
static kf_rc account_link_confirm(ks_server *srv, sqlite3 *conn, const char *lower, int64_t now,
                                  ks_link_verdict *verdict, kf_err *err) {
  /* Judge and confirm in one write transaction so two clicks cannot both win. */
  kf_rc rc = ks_db_begin(conn, err);
  if (rc != KF_OK)
    return rc;
  int64_t account_id = 0;
  ks_link_verdict v = KS_LINK_NOT_FOUND;
  rc = account_link_judge(srv, conn, lower, now, &account_id, &v, err);
  if (v == KS_LINK_ALREADY_CONFIRMED && ks_fault_on(srv, KS_FAULT_SECOND_CONFIRMATION_SUCCEEDS))
    v = KS_LINK_VALID;
  if (rc == KF_OK && v == KS_LINK_VALID)
    rc = kf_sql_run(conn, NULL, err, "UPDATE accounts SET confirmed_at = ? WHERE id = ?", "ii", now,
                    account_id);
  if (rc == KF_OK && v == KS_LINK_VALID)
    rc = kf_sql_run(conn, NULL, err, "UPDATE confirmation_links SET used_at = ? WHERE id = ?", "it",
                    now, lower);
  if (rc == KF_OK)
    rc = ks_db_commit(conn, err);
  if (rc != KF_OK) {
    ks_db_rollback(conn);
    return rc;
  }
  *verdict = v;
  return KF_OK;
}

/* Confirm through the link, or (confirm false) only judge it, as a HEAD does. */
static kf_rc account_link_use(ks_server *srv, const char *id, int64_t now, bool confirm,
                              ks_link_verdict *verdict, kf_err *err) {
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
  if (confirm)
    return account_link_confirm(srv, conn, lower, now, verdict, err);
  /* One SELECT reads a consistent snapshot, so no transaction is needed to only look. */
  int64_t account_id = 0;
  return account_link_judge(srv, conn, lower, now, &account_id, verdict, err);
}

kf_rc ks_account_confirm(ks_server *srv, const char *id, int64_t now, ks_link_verdict *verdict,
                         kf_err *err) {
  return account_link_use(srv, id, now, true, verdict, err);
}

kf_rc ks_account_check_link(ks_server *srv, const char *id, int64_t now, ks_link_verdict *verdict,
                            kf_err *err) {
  return account_link_use(srv, id, now, false, verdict, err);
}

/* Record that a resend was asked for, in the open transaction. */
static kf_rc account_note_resend(sqlite3 *conn, int64_t now, kf_err *err) {
  return kf_sql_run(conn, NULL, err, "INSERT INTO resend_requests (requested_at) VALUES (?)", "i",
                    now);
}

/* What the resend transaction needs and what it found out. */
typedef struct account_resend_tx {
  const ks_server *srv;
  const char *email;
  const char *link_id;
  const ks_outbox_mail *mail;
  int64_t now;
  bool issued;
} account_resend_tx;

/*
 * The resend transaction. Issuing a link is three writes (supersede the open
 * links, insert the new one, queue its mail), and an address without an
 * unconfirmed account used to skip them, which made it 0.16 ms faster and so
 * told whether the account exists (issue 9). Now every resend runs the same
 * statements against the same tables, inside a savepoint: an unconfirmed
 * account's writes are released into the transaction, anyone else's (a
 * confirmed account's, or an unknown address's under account id 0, the link
 * insert's foreign key deferred for that) are rolled back to the savepoint.
 * The other way, answering at once and issuing the link later from a queue,
 * would need the address stored with the request (resend_requests keeps none
 * on purpose), would let an old link still confirm after the 202, and would
 * leave the deferred work competing with the next request; this way the one
 * transaction stays the whole truth.
 */
static kf_rc account_resend_tx_run(sqlite3 *conn, void *arg, kf_err *err) {
  account_resend_tx *t = arg;
  int64_t account_id = 0;
  bool confirmed = false;
  kf_rc rc = ks_account_find(conn, t->email, &account_id, &confirmed, NULL, err);
  if (rc == KF_OK)
    rc = account_note_resend(conn, t->now, err);
  bool issue = account_id != 0 && !confirmed;
  if (rc == KF_OK)
    rc = kf_sql_exec(conn, "PRAGMA defer_foreign_keys = ON; SAVEPOINT resend_issue", err);
  if (rc == KF_OK)
    rc = account_new_link(t->srv, conn, account_id, t->link_id, t->now, err);
  if (rc == KF_OK)
    rc = ks_outbox_insert(conn, t->mail, t->now, err);
  if (rc == KF_OK)
    rc = kf_sql_exec(
        conn, issue ? "RELEASE resend_issue" : "ROLLBACK TO resend_issue; RELEASE resend_issue",
        err);
  t->issued = rc == KF_OK && issue;
  return rc;
}

kf_rc ks_account_resend(ks_server *srv, const char *email, int64_t now, bool *issued, kf_err *err) {
  assert(srv != NULL && email != NULL);
  if (issued != NULL)
    *issued = false;
  /*
   * Every address costs a rendered mail and the same write transaction (see
   * account_resend_tx_run), so the time of the answer does not tell whether
   * an unconfirmed account exists. The mail is rendered before the
   * transaction so the write lock is held briefly.
   */
  char id[KF_UUID_STR_LEN + 1];
  ks_outbox_mail mail;
  kf_rc rc = account_render_confirm(srv, email, now, id, &mail, err);
  account_resend_tx t = {.srv = srv, .email = email, .link_id = id, .mail = &mail, .now = now};
  if (rc == KF_OK)
    rc = ks_db_in_tx(srv->db, account_resend_tx_run, &t, err);
  ks_outbox_mail_release(&mail);
  if (rc != KF_OK)
    return rc;
  /* Kicked in every case, like the rest: with nothing new the sender just looks and waits. */
  ks_outbox_kick(srv->outbox, email);
  if (issued != NULL)
    *issued = t.issued;
  return KF_OK;
}

kf_rc ks_account_login(ks_server *srv, const char *username, const char *pw, size_t pw_len,
                       int64_t now, ks_login_result *result, char *token, kf_err *err) {
  assert(result != NULL && token != NULL);
  ks_login_answer answer;
  kf_rc rc = ks_login_password(srv, username, username != NULL ? username : "", pw, pw_len, now,
                               &answer, err);
  *result = answer.result;
  memcpy(token, answer.token, sizeof answer.token);
  sodium_memzero(answer.token, sizeof answer.token);
  return rc;
}
