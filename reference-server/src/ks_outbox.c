/*
 * ks_outbox.c: the transactional outbox and its SMTP sender threads.
 */
#include "ks_outbox.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kf/alloc.h"
#include "kf/log.h"
#include "kf/sql.h"
#include "kf/str.h"
#include "kf/uuid.h"
#include "ks_smtp.h"

/* SMTP conversations with the local mock take milliseconds; these only bound a hung peer. */
#define OUTBOX_CONNECT_TIMEOUT_MS 10000
#define OUTBOX_TRANSFER_TIMEOUT_MS 60000
/* A reused SMTP session idle longer than this is not reused (konform-mail drops it at 60 s). */
#define OUTBOX_CONN_MAXAGE_MS 30000
/* Rows read at once; one read serves this many deliveries. */
#define OUTBOX_BATCH 32
/* Marks in the sent log that make the sender fold them into the main database. */
#define OUTBOX_FOLD 256

/* One sender thread; its index picks its recipients and its sent log. */
typedef struct outbox_thread {
  struct ks_outbox *ob;
  int index;
  pthread_t thread;
  bool started;
  bool kicked; /* Under ob->lock: a kick this sender has not yet seen. */
  /* Signalled on this sender's kicks and on stop; waits use CLOCK_MONOTONIC.
   * One per sender, so a kick wakes no thread but the one it is for. */
  pthread_cond_t wake;
} outbox_thread;

struct ks_outbox {
  ks_db *db;
  char *smtp_url;
  outbox_thread senders[KS_OUTBOX_SENDERS_MAX];
  int nsenders;
  pthread_mutex_t lock;
  bool lock_ready; /* lock was initialised and must be destroyed. */
  int wakes_ready; /* senders[0..wakes_ready - 1].wake were initialised. */
  bool stop;
  /* Written once at stop, never read: a sender in an SMTP exchange polls it
   * and gives the exchange KS_OUTBOX_STOP_GRACE_MS more (ks_smtp_config). */
  int stop_pipe[2];
};

/* One pending row, copied out of sqlite so no statement stays open during SMTP. */
typedef struct outbox_row {
  int64_t id;
  int attempts;
  int64_t next_attempt_ms;
  char *mail_from;
  char *rcpt_to;
  char *raw;
  size_t raw_len;
  char *message_id;
} outbox_row;

static void outbox_row_release(outbox_row *row) {
  kf_free(row->mail_from);
  kf_free(row->rcpt_to);
  kf_free(row->raw);
  kf_free(row->message_id);
  memset(row, 0, sizeof *row);
}

int64_t ks_outbox_backoff_ms(int attempts) {
  int64_t d = KS_OUTBOX_BACKOFF_MIN_MS;
  for (int i = 1; i < attempts && d < KS_OUTBOX_BACKOFF_MAX_MS; i++)
    d *= 2;
  return d < KS_OUTBOX_BACKOFF_MAX_MS ? d : KS_OUTBOX_BACKOFF_MAX_MS;
}

/*
 * Retry times are stored as real-time milliseconds because they must mean
 * something after a restart; they schedule delivery only and never decide
 * anything a scenario checks.
 */
static int64_t outbox_real_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timespec outbox_mono_deadline(int64_t delay_ms) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t ns = (int64_t)ts.tv_nsec + (delay_ms % 1000) * 1000000;
  ts.tv_sec += (time_t)(delay_ms / 1000 + ns / 1000000000);
  ts.tv_nsec = (long)(ns % 1000000000);
  return ts;
}

void ks_outbox_mail_release(ks_outbox_mail *mail) {
  if (mail == NULL)
    return;
  kf_free(mail->message_id);
  kf_free(mail->mail_from);
  kf_free(mail->rcpt_to);
  kf_free(mail->raw);
  memset(mail, 0, sizeof *mail);
}

kf_rc ks_outbox_render(const ks_mail_params *params, ks_outbox_mail *mail, kf_err *err) {
  assert(params != NULL && mail != NULL && params->to != NULL);
  memset(mail, 0, sizeof *mail);
  char uuid[KF_UUID_STR_LEN + 1];
  kf_uuid_v4(uuid);
  mail->message_id = kf_str_printf("%s@%s", uuid, params->mail_domain);
  mail->mail_from = kf_str_printf(KS_MAIL_SENDER_LOCAL "@%s", params->mail_domain);
  mail->rcpt_to = kf_strdup(params->to);
  if (mail->message_id == NULL || mail->mail_from == NULL || mail->rcpt_to == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  ks_mail_params p = *params;
  p.message_id = mail->message_id;
  return ks_mail_render(&p, &mail->raw, &mail->raw_len, err);
}

kf_rc ks_outbox_insert(sqlite3 *conn, const ks_outbox_mail *mail, int64_t now, kf_err *err) {
  assert(conn != NULL && mail != NULL && mail->raw != NULL);
  if (mail->raw_len > (size_t)INT32_MAX)
    return kf_err_set(err, KF_ERR_LIMIT, "mail of %zu bytes is too large", mail->raw_len);
  return kf_sql_run(conn, NULL, err,
                    "INSERT INTO outbox (message_id, mail_from, rcpt_to, raw, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    "tttbi", mail->message_id, mail->mail_from, mail->rcpt_to, mail->raw,
                    mail->raw_len, now);
}

kf_rc ks_outbox_enqueue(sqlite3 *conn, const ks_mail_params *params, int64_t now, kf_err *err) {
  assert(conn != NULL && params != NULL);
  ks_outbox_mail mail;
  kf_rc rc = ks_outbox_render(params, &mail, err);
  if (rc == KF_OK)
    rc = ks_outbox_insert(conn, &mail, now, err);
  ks_outbox_mail_release(&mail);
  return rc;
}

/*
 * What the sender thread owns: its sqlite connection with the sent log
 * attached, the statements it prepares once (so nothing is parsed between
 * the SMTP server's 250 and the mark), and one SMTP client (ks_smtp), whose
 * session stays open from one mail to the next with the next mail's envelope
 * pipelined behind this one's final dot: no QUIT and no new connection sit
 * between a mail's acceptance and its mark, and a mail costs one round trip.
 *
 * The sent log is a second sqlite file (the database's path plus
 * KS_OUTBOX_SENT_LOG_SUFFIX and the sender's index, attached as "sent_log")
 * that only this thread writes. A mail is marked there the moment the
 * server's 250 arrives, in an autocommit INSERT that waits for no lock,
 * because registrations never write that file; the marks are folded into
 * outbox.sent_at in the main database OUTBOX_FOLD at a time, or when the
 * sender runs out of work, so the main database's write lock is taken once
 * per fold instead of once per mail and never while a mail is in flight.
 */
typedef struct outbox_sender {
  ks_outbox *ob;
  int index; /* Of ob->nsenders: the rows whose recipient ks_outbox_part gives this. */
  sqlite3 *conn;
  ks_smtp *smtp;
  bool ready;         /* Everything below was set up by outbox_sender_open. */
  bool attached;      /* sent_log is attached to conn. */
  kf_sql next;        /* The pending rows, most urgent first, at most OUTBOX_BATCH. */
  kf_sql mark_sent;   /* Into the sent log, once the server said 250. */
  kf_sql mark_failed; /* The next attempt's time and the error, in the main database. */
  kf_sql fold_update; /* The sent log's marks into outbox.sent_at ... */
  kf_sql fold_delete; /* ... and then out of the sent log. */
  int64_t unfolded;   /* Marks in the sent log since the last fold. */
} outbox_sender;

/* Copy the current row of q (the columns of sender->next) into row. */
static kf_rc outbox_row_copy(const kf_sql *q, outbox_row *row, kf_err *err) {
  memset(row, 0, sizeof *row);
  row->id = kf_sql_int(q, 0);
  row->attempts = (int)kf_sql_int(q, 1);
  row->next_attempt_ms = kf_sql_int(q, 2);
  kf_rc rc = kf_sql_text_dup(q, 3, &row->mail_from, NULL, err);
  if (rc == KF_OK)
    rc = kf_sql_text_dup(q, 4, &row->rcpt_to, NULL, err);
  if (rc == KF_OK)
    rc = kf_sql_text_dup(q, 5, &row->raw, &row->raw_len, err);
  if (rc == KF_OK)
    rc = kf_sql_text_dup(q, 6, &row->message_id, NULL, err);
  /* Every column is NOT NULL; a NULL copy here can only be a broken row. */
  if (rc == KF_OK && (row->mail_from == NULL || row->rcpt_to == NULL || row->raw == NULL ||
                      row->message_id == NULL))
    rc = kf_err_set(err, KF_ERR_DB, "outbox row %lld is incomplete", (long long)row->id);
  if (rc != KF_OK)
    outbox_row_release(row);
  return rc;
}

/*
 * Copy up to OUTBOX_BATCH unsent rows, most urgent first, into rows (*n of
 * them; the caller releases each). One read serves a whole batch, and no
 * statement stays open while SMTP runs.
 */
static kf_rc outbox_fetch(outbox_sender *s, outbox_row *rows, size_t *n, kf_err *err) {
  *n = 0;
  kf_rc rc = kf_sql_bind(&s->next, err, "ddd", s->ob->nsenders, s->index, OUTBOX_BATCH);
  bool found = rc == KF_OK;
  while (rc == KF_OK && found && *n < OUTBOX_BATCH) {
    rc = kf_sql_step(&s->next, &found, err);
    if (rc == KF_OK && found) {
      rc = outbox_row_copy(&s->next, &rows[*n], err);
      if (rc == KF_OK)
        (*n)++;
    }
  }
  kf_sql_reset(&s->next);
  if (rc != KF_OK) {
    for (size_t i = 0; i < *n; i++)
      outbox_row_release(&rows[i]);
    *n = 0;
  }
  return rc;
}

/* Step a statement that returns no rows, then reset it for the next binds. */
static kf_rc outbox_run(kf_sql *q, kf_err *err) {
  bool row = false;
  kf_rc rc = kf_sql_step(q, &row, err);
  kf_sql_reset(q);
  return rc;
}

/*
 * The sender's SMTP client. A session is reused for at most
 * OUTBOX_CONN_MAXAGE_MS of idleness, below konform-mail's 60 s idle timeout,
 * so a reused session is rarely one the peer is about to drop; at a stop an
 * exchange in progress gets KS_OUTBOX_STOP_GRACE_MS to finish, so a mail the
 * peer is accepting is marked rather than sent again after a restart, while
 * a hung peer cannot hold up the exit.
 */
static kf_rc outbox_smtp_open(outbox_sender *s, kf_err *err) {
  ks_smtp_config cfg;
  ks_smtp_config_init(&cfg, s->ob->smtp_url);
  cfg.stop_fd = s->ob->stop_pipe[0];
  cfg.stop_grace_ms = KS_OUTBOX_STOP_GRACE_MS;
  cfg.connect_timeout_ms = OUTBOX_CONNECT_TIMEOUT_MS;
  cfg.transfer_timeout_ms = OUTBOX_TRANSFER_TIMEOUT_MS;
  cfg.idle_max_ms = OUTBOX_CONN_MAXAGE_MS;
  return ks_smtp_new(&cfg, &s->smtp, err);
}

static void outbox_sender_close(outbox_sender *s) {
  kf_sql_finalize(&s->next);
  kf_sql_finalize(&s->mark_sent);
  kf_sql_finalize(&s->mark_failed);
  kf_sql_finalize(&s->fold_update);
  kf_sql_finalize(&s->fold_delete);
  if (s->attached && kf_sql_exec(s->conn, "DETACH DATABASE sent_log", NULL) != KF_OK)
    kf_warn("outbox: cannot detach the sent log: %s", sqlite3_errmsg(s->conn));
  s->attached = false;
  /* This ends the SMTP session with QUIT; every mail delivered is marked by now. */
  ks_smtp_free(s->smtp);
  s->smtp = NULL;
  s->ready = false;
}

/*
 * The fold of a sent log attached as sent_log into outbox.sent_at, then its
 * emptying: two statements, run in this order (see outbox_fold).
 */
#define OUTBOX_FOLD_UPDATE_SQL                                                                     \
  "UPDATE outbox SET sent_at = (SELECT s.sent_at FROM sent_log.sent s "                            \
  "WHERE s.id = outbox.id), attempts = attempts + 1, last_error = NULL "                           \
  "WHERE sent_at IS NULL AND id IN (SELECT id FROM sent_log.sent)"
#define OUTBOX_FOLD_DELETE_SQL "DELETE FROM sent_log.sent"

/* Sender index's sent log next to conn's main file; "" (a private temporary file) without one. */
static char *outbox_sent_log_path(sqlite3 *conn, int index) {
  const char *main_path = sqlite3_db_filename(conn, "main");
  return main_path != NULL && main_path[0] != '\0'
             ? kf_str_printf("%s" KS_OUTBOX_SENT_LOG_SUFFIX "-%d", main_path, index)
             : kf_strdup("");
}

/*
 * Attach the sent log next to the main database file (a private temporary
 * one when the main database has no file) and create its table. It keeps its
 * own WAL, so its marks survive a crash of the process as the main
 * database's rows do.
 */
static kf_rc outbox_sent_log_attach(outbox_sender *s, kf_err *err) {
  char *path = outbox_sent_log_path(s->conn, s->index);
  if (path == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  kf_rc rc = kf_sql_run(s->conn, NULL, err, "ATTACH DATABASE ? AS sent_log", "t", path);
  kf_free(path);
  if (rc != KF_OK)
    return rc;
  s->attached = true;
  return kf_sql_exec(s->conn,
                     "PRAGMA sent_log.journal_mode=WAL;"
                     "PRAGMA sent_log.synchronous=NORMAL;"
                     "CREATE TABLE IF NOT EXISTS sent_log.sent ("
                     "  id INTEGER PRIMARY KEY," /* outbox.id */
                     "  sent_at INTEGER NOT NULL);",
                     err);
}

/*
 * ks_outbox_part(rcpt, n): which of n senders delivers to rcpt, from an
 * FNV-1a hash of its bytes, so all mails to one recipient go through one
 * sender and keep the order they were written in.
 */
static int64_t outbox_part(const unsigned char *rcpt, size_t len, int64_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; rcpt != NULL && i < len; i++) {
    h ^= rcpt[i];
    h *= 16777619u;
  }
  return n > 0 ? (int64_t)(h % (uint32_t)n) : 0;
}

static void outbox_part_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  assert(argc == 2);
  const unsigned char *p = sqlite3_value_text(argv[0]);
  int len = sqlite3_value_bytes(argv[0]);
  sqlite3_result_int64(ctx,
                       outbox_part(p, len > 0 ? (size_t)len : 0, sqlite3_value_int64(argv[1])));
}

/* Prepare the sender's statements on s->conn, the sent log attached. */
static kf_rc outbox_sender_prepare(outbox_sender *s, kf_err *err) {
  if (sqlite3_create_function_v2(s->conn, "ks_outbox_part", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                 NULL, outbox_part_fn, NULL, NULL, NULL) != SQLITE_OK)
    return kf_sql_error(s->conn, err);
  /* A row marked in the sent log but not yet folded is not pending. */
  kf_rc rc = kf_sql_prepare(&s->next, s->conn,
                            "SELECT id, attempts, next_attempt_ms, mail_from, rcpt_to, raw, "
                            "message_id FROM outbox WHERE sent_at IS NULL "
                            "AND ks_outbox_part(rcpt_to, ?) = ? AND NOT EXISTS "
                            "(SELECT 1 FROM sent_log.sent s WHERE s.id = outbox.id) "
                            "ORDER BY next_attempt_ms, id LIMIT ?",
                            err);
  if (rc == KF_OK)
    rc = kf_sql_prepare(&s->mark_sent, s->conn,
                        "INSERT OR REPLACE INTO sent_log.sent (id, sent_at) VALUES (?, ?)", err);
  if (rc == KF_OK)
    rc = kf_sql_prepare(&s->mark_failed, s->conn,
                        "UPDATE outbox SET next_attempt_ms = ?, attempts = attempts + 1, "
                        "last_error = ? WHERE id = ?",
                        err);
  if (rc == KF_OK)
    rc = kf_sql_prepare(&s->fold_update, s->conn, OUTBOX_FOLD_UPDATE_SQL, err);
  if (rc == KF_OK)
    rc = kf_sql_prepare(&s->fold_delete, s->conn, OUTBOX_FOLD_DELETE_SQL, err);
  return rc;
}

/*
 * Fold the sent log into outbox.sent_at. Two transactions, one per file (a
 * WAL database makes no transaction atomic across files), in the order that
 * is safe to cut: a crash after the UPDATE leaves marks that are already in
 * the main database, which the next fold's UPDATE skips and its DELETE
 * removes. Only this thread inserts into the sent log, so the DELETE removes
 * exactly what the UPDATE folded.
 */
static kf_rc outbox_fold(outbox_sender *s, kf_err *err) {
  kf_rc rc = outbox_run(&s->fold_update, err);
  if (rc == KF_OK)
    rc = outbox_run(&s->fold_delete, err);
  if (rc == KF_OK)
    s->unfolded = 0;
  return rc;
}

/*
 * Set up s for ob on the calling thread's connection and fold what a crash
 * left in the sent log; on failure s is closed again.
 */
static kf_rc outbox_sender_open(outbox_sender *s, ks_outbox *ob, int index, kf_err *err) {
  memset(s, 0, sizeof *s);
  s->ob = ob;
  s->index = index;
  kf_rc rc = ks_db_conn(ob->db, &s->conn, err);
  if (rc == KF_OK)
    rc = outbox_sent_log_attach(s, err);
  if (rc == KF_OK)
    rc = outbox_sender_prepare(s, err);
  if (rc == KF_OK)
    rc = outbox_fold(s, err);
  if (rc == KF_OK)
    rc = outbox_smtp_open(s, err);
  s->ready = rc == KF_OK;
  if (rc != KF_OK)
    outbox_sender_close(s);
  return rc;
}

/*
 * Send row over the sender's session, announcing next's envelope behind it
 * (NULL: none); KF_OK only when the server accepted row's message (250).
 */
static kf_rc outbox_deliver(outbox_sender *s, const outbox_row *row, const outbox_row *next,
                            kf_err *err) {
  ks_smtp_mail mail = {row->mail_from, row->rcpt_to, row->raw, row->raw_len};
  ks_smtp_mail after = {0};
  if (next != NULL)
    after = (ks_smtp_mail){next->mail_from, next->rcpt_to, next->raw, next->raw_len};
  return ks_smtp_send(s->smtp, &mail, next != NULL ? &after : NULL, err);
}

/*
 * Mark a delivered row in the sent log at once. The time from the server's
 * 250 to this INSERT's commit is the whole window in which a crash sends the
 * mail again (with the same Message-ID, which konform-mail reports as
 * duplicate_of); no lock is waited for in it.
 */
static kf_rc outbox_mark_sent(outbox_sender *s, const outbox_row *row, kf_err *err) {
  kf_rc rc = kf_sql_bind(&s->mark_sent, err, "ii", row->id, outbox_real_ms() / 1000);
  if (rc == KF_OK)
    rc = outbox_run(&s->mark_sent, err);
  if (rc == KF_OK)
    s->unfolded++;
  return rc;
}

static kf_rc outbox_mark_failed(outbox_sender *s, const outbox_row *row, const char *error,
                                kf_err *err) {
  int64_t next = outbox_real_ms() + ks_outbox_backoff_ms(row->attempts + 1);
  kf_rc rc = kf_sql_bind(&s->mark_failed, err, "iti", next, error, row->id);
  return rc == KF_OK ? outbox_run(&s->mark_failed, err) : rc;
}

/*
 * Deliver one due row (next: the row likely to follow it, or NULL) and record
 * the outcome. KF_OK: delivered and marked; KF_ERR_NETWORK: not delivered,
 * rescheduled; anything else: the outcome could not be stored (err says why).
 */
static kf_rc outbox_send_row(outbox_sender *s, const outbox_row *row, const outbox_row *next,
                             kf_err *err) {
  kf_err derr;
  kf_err_init(&derr);
  kf_rc drc = outbox_deliver(s, row, next, &derr);
  if (drc == KF_OK) {
    kf_rc rc = outbox_mark_sent(s, row, err);
    if (rc != KF_OK) {
      kf_error("mail %s to %s delivered but not marked sent; it will be sent again with the "
               "same Message-ID: %s",
               row->message_id, row->rcpt_to, err->message);
      return rc;
    }
    kf_info("mail %s to %s delivered", row->message_id, row->rcpt_to);
    if (s->unfolded >= OUTBOX_FOLD && outbox_fold(s, err) != KF_OK)
      kf_warn("outbox: cannot fold the sent log yet: %s", err->message);
    return KF_OK;
  }
  kf_warn("mail %s to %s not delivered (attempt %d): %s", row->message_id, row->rcpt_to,
          row->attempts + 1, derr.message);
  kf_rc rc = outbox_mark_failed(s, row, derr.message, err);
  return rc == KF_OK ? KF_ERR_NETWORK : rc;
}

static bool outbox_stopping(ks_outbox *ob) {
  pthread_mutex_lock(&ob->lock);
  bool stop = ob->stop;
  pthread_mutex_unlock(&ob->lock);
  return stop;
}

/*
 * One round of the sender: read a batch of pending rows and deliver the due
 * ones in order. Returns how long to wait before the next round: 0 at once,
 * -1 until kicked, else milliseconds until the first row is due (or a
 * backoff after an error). A failed delivery ends the round, so the next one
 * reads the rows again in their new order. Each delivery announces the
 * envelope of the row after it when that one is due too, so the session has
 * it ready; its message leaves only once this one is marked.
 */
static int64_t outbox_round(outbox_sender *s, ks_outbox *ob, int index) {
  kf_err err;
  kf_err_init(&err);
  if (!s->ready && outbox_sender_open(s, ob, index, &err) != KF_OK) {
    kf_error("outbox: %s", err.message);
    return KS_OUTBOX_BACKOFF_MIN_MS;
  }
  outbox_row rows[OUTBOX_BATCH];
  size_t n = 0;
  if (outbox_fetch(s, rows, &n, &err) != KF_OK) {
    kf_error("outbox: %s", err.message);
    return KS_OUTBOX_BACKOFF_MIN_MS;
  }
  int64_t wait_ms = n > 0 ? 0 : -1;
  for (size_t i = 0; i < n && wait_ms == 0 && !outbox_stopping(ob); i++) {
    int64_t now = outbox_real_ms();
    int64_t due = rows[i].next_attempt_ms - now;
    if (due > 0) {
      wait_ms = due;
      break;
    }
    const outbox_row *next = i + 1 < n && rows[i + 1].next_attempt_ms <= now ? &rows[i + 1] : NULL;
    kf_rc rc = outbox_send_row(s, &rows[i], next, &err);
    if (rc == KF_ERR_NETWORK)
      break;
    if (rc != KF_OK) {
      kf_error("outbox: %s", err.message);
      wait_ms = KS_OUTBOX_BACKOFF_MIN_MS;
    }
  }
  for (size_t i = 0; i < n; i++)
    outbox_row_release(&rows[i]);
  /* Out of work for now: the main database catches up with the sent log. */
  if (wait_ms != 0 && s->unfolded > 0 && outbox_fold(s, &err) != KF_OK)
    kf_warn("outbox: cannot fold the sent log yet: %s", err.message);
  return wait_ms;
}

/*
 * Wait until t is kicked, the outbox stops or delay_ms passed (delay_ms < 0:
 * no deadline). ob->lock held. Each sender has its own kick flag, so a kick
 * that one sender takes cannot leave another asleep over a new row of its own.
 */
static void outbox_wait_locked(ks_outbox *ob, outbox_thread *t, int64_t delay_ms) {
  if (t->kicked || ob->stop) {
    t->kicked = false;
    return;
  }
  if (delay_ms < 0) {
    while (!t->kicked && !ob->stop)
      pthread_cond_wait(&t->wake, &ob->lock);
  } else {
    struct timespec deadline = outbox_mono_deadline(delay_ms);
    while (!t->kicked && !ob->stop) {
      if (pthread_cond_timedwait(&t->wake, &ob->lock, &deadline) == ETIMEDOUT)
        break;
    }
  }
  t->kicked = false;
}

static void *outbox_main(void *arg) {
  outbox_thread *t = arg;
  ks_outbox *ob = t->ob;
  outbox_sender s;
  memset(&s, 0, sizeof s);
  pthread_mutex_lock(&ob->lock);
  while (!ob->stop) {
    pthread_mutex_unlock(&ob->lock);
    int64_t wait_ms = outbox_round(&s, ob, t->index);
    pthread_mutex_lock(&ob->lock);
    if (wait_ms != 0)
      outbox_wait_locked(ob, t, wait_ms);
  }
  pthread_mutex_unlock(&ob->lock);
  if (s.ready) {
    kf_err err;
    kf_err_init(&err);
    if (s.unfolded > 0 && outbox_fold(&s, &err) != KF_OK)
      kf_warn("outbox: the sent log is folded at the next start: %s", err.message);
    outbox_sender_close(&s);
  }
  ks_db_thread_done(ob->db);
  return NULL;
}

/*
 * Fold the sent logs of senders a start with more of them left behind
 * (index nsenders up to KS_OUTBOX_SENDERS_MAX - 1), so lowering the count
 * after a crash does not send their marked mails again.
 */
static kf_rc outbox_fold_stray_logs(sqlite3 *conn, int nsenders, kf_err *err) {
  kf_rc rc = KF_OK;
  for (int i = nsenders; rc == KF_OK && i < KS_OUTBOX_SENDERS_MAX; i++) {
    char *path = outbox_sent_log_path(conn, i);
    if (path == NULL)
      return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
    bool found = path[0] != '\0' && access(path, F_OK) == 0;
    if (found)
      rc = kf_sql_run(conn, NULL, err, "ATTACH DATABASE ? AS sent_log", "t", path);
    kf_free(path);
    if (!found || rc != KF_OK)
      continue;
    rc = kf_sql_exec(conn, OUTBOX_FOLD_UPDATE_SQL ";" OUTBOX_FOLD_DELETE_SQL, err);
    kf_err derr;
    kf_err_init(&derr);
    if (kf_sql_exec(conn, "DETACH DATABASE sent_log", &derr) != KF_OK && rc == KF_OK)
      rc = kf_err_set(err, derr.rc, "%s", derr.message);
  }
  return rc;
}

/*
 * After a restart, retry every pending row at once instead of at its old
 * schedule; marks of senders that no longer run are folded first.
 */
static kf_rc outbox_reset_schedule(ks_db *db, int nsenders, kf_err *err) {
  sqlite3 *conn = NULL;
  kf_rc rc = ks_db_conn(db, &conn, err);
  if (rc == KF_OK)
    rc = outbox_fold_stray_logs(conn, nsenders, err);
  if (rc != KF_OK)
    return rc;
  return kf_sql_exec(conn, "UPDATE outbox SET next_attempt_ms = 0 WHERE sent_at IS NULL", err);
}

/* Set up the lock and the senders' condition variables; ob->*_ready record what to destroy. */
static kf_rc outbox_sync_init(ks_outbox *ob, kf_err *err) {
  pthread_condattr_t ca;
  int e = pthread_condattr_init(&ca);
  if (e != 0)
    return kf_err_set(err, KF_ERR_INTERNAL, "pthread_condattr_init failed (error %d)", e);
  /* Retry waits are measured on the monotonic clock so a clock step cannot
   * stretch or skip them. */
  e = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  while (e == 0 && ob->wakes_ready < KS_OUTBOX_SENDERS_MAX) {
    e = pthread_cond_init(&ob->senders[ob->wakes_ready].wake, &ca);
    ob->wakes_ready += e == 0;
  }
  (void)pthread_condattr_destroy(&ca);
  if (e != 0)
    return kf_err_set(err, KF_ERR_INTERNAL,
                      "cannot set up the outbox condition variables (error %d)", e);
  e = pthread_mutex_init(&ob->lock, NULL);
  if (e != 0)
    return kf_err_set(err, KF_ERR_INTERNAL, "pthread_mutex_init failed (error %d)", e);
  ob->lock_ready = true;
  return KF_OK;
}

/*
 * The stop pipe, both ends close-on-exec. ob->stop_pipe is -1 where none
 * was made.
 */
static kf_rc outbox_pipe_init(ks_outbox *ob, kf_err *err) {
  if (pipe(ob->stop_pipe) != 0) {
    ob->stop_pipe[0] = ob->stop_pipe[1] = -1;
    return kf_err_set(err, KF_ERR_INTERNAL, "cannot make the outbox's stop pipe: %s",
                      strerror(errno));
  }
  for (int i = 0; i < 2; i++) {
    if (fcntl(ob->stop_pipe[i], F_SETFD, FD_CLOEXEC) != 0)
      return kf_err_set(err, KF_ERR_INTERNAL, "cannot set up the outbox's stop pipe: %s",
                        strerror(errno));
  }
  return KF_OK;
}

/* Refuse an SMTP URL the client cannot use now rather than at every delivery. */
static kf_rc outbox_check_url(const char *smtp_url, kf_err *err) {
  ks_smtp_config cfg;
  ks_smtp_config_init(&cfg, smtp_url);
  ks_smtp *smtp = NULL;
  kf_rc rc = ks_smtp_new(&cfg, &smtp, err);
  ks_smtp_free(smtp);
  return rc;
}

kf_rc ks_outbox_start(ks_db *db, const char *smtp_url, int senders, ks_outbox **out, kf_err *err) {
  assert(db != NULL && smtp_url != NULL && out != NULL);
  *out = NULL;
  if (senders < 1 || senders > KS_OUTBOX_SENDERS_MAX)
    return kf_err_set(err, KF_ERR_INVALID, "%d outbox senders: 1 to %d", senders,
                      KS_OUTBOX_SENDERS_MAX);
  /* Called from main before other threads use curl, as curl_global_init requires. */
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return kf_err_set(err, KF_ERR_INTERNAL, "curl_global_init failed");
  kf_rc rc = outbox_check_url(smtp_url, err);
  if (rc == KF_OK)
    rc = outbox_reset_schedule(db, senders, err);
  if (rc != KF_OK) {
    curl_global_cleanup();
    return rc;
  }
  ks_outbox *ob = kf_calloc(1, sizeof *ob);
  if (ob == NULL) {
    curl_global_cleanup();
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  }
  /* From here ks_outbox_free undoes everything, curl_global_init included. */
  ob->stop_pipe[0] = ob->stop_pipe[1] = -1;
  ob->db = db;
  ob->nsenders = senders;
  ob->smtp_url = kf_strdup(smtp_url);
  if (ob->smtp_url == NULL)
    rc = kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  if (rc == KF_OK)
    rc = outbox_sync_init(ob, err);
  if (rc == KF_OK)
    rc = outbox_pipe_init(ob, err);
  for (int i = 0; rc == KF_OK && i < ob->nsenders; i++) {
    outbox_thread *t = &ob->senders[i];
    t->ob = ob;
    t->index = i;
    int e = pthread_create(&t->thread, NULL, outbox_main, t);
    if (e != 0)
      rc = kf_err_set(err, KF_ERR_INTERNAL, "cannot start outbox sender %d (error %d)", i, e);
    else
      t->started = true;
  }
  if (rc != KF_OK) {
    ks_outbox_free(ob);
    return rc;
  }
  *out = ob;
  return KF_OK;
}

void ks_outbox_kick(ks_outbox *ob, const char *rcpt_to) {
  if (ob == NULL)
    return;
  /* Only the recipient's sender: with four senders, waking all of them made
   * three look for rows that were not theirs after every mail. */
  int64_t only = rcpt_to == NULL
                     ? -1
                     : outbox_part((const unsigned char *)rcpt_to, strlen(rcpt_to), ob->nsenders);
  pthread_mutex_lock(&ob->lock);
  for (int i = 0; i < ob->nsenders; i++) {
    if (only < 0 || only == i) {
      ob->senders[i].kicked = true;
      pthread_cond_signal(&ob->senders[i].wake);
    }
  }
  pthread_mutex_unlock(&ob->lock);
}

void ks_outbox_free(ks_outbox *ob) {
  if (ob == NULL)
    return;
  if (ob->lock_ready && ob->wakes_ready == KS_OUTBOX_SENDERS_MAX) {
    pthread_mutex_lock(&ob->lock);
    ob->stop = true;
    for (int i = 0; i < ob->nsenders; i++)
      pthread_cond_signal(&ob->senders[i].wake);
    pthread_mutex_unlock(&ob->lock);
  }
  /* A sender inside an SMTP exchange sees the stop here and finishes within the grace. */
  if (ob->stop_pipe[1] >= 0 && write(ob->stop_pipe[1], "s", 1) != 1)
    kf_warn("outbox: cannot signal the stop to the senders: %s", strerror(errno));
  for (int i = 0; i < ob->nsenders; i++) {
    if (ob->senders[i].started)
      pthread_join(ob->senders[i].thread, NULL);
  }
  for (int i = 0; i < ob->wakes_ready; i++)
    pthread_cond_destroy(&ob->senders[i].wake);
  if (ob->lock_ready)
    pthread_mutex_destroy(&ob->lock);
  for (int i = 0; i < 2; i++) {
    if (ob->stop_pipe[i] >= 0)
      (void)close(ob->stop_pipe[i]);
  }
  kf_free(ob->smtp_url);
  kf_free(ob);
  curl_global_cleanup();
}
