/*
 * ks_outbox.c: the transactional outbox and the SMTP sender thread.
 */
#include "ks_outbox.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "kf/alloc.h"
#include "kf/log.h"
#include "kf/sql.h"
#include "kf/str.h"
#include "kf/uuid.h"

/* SMTP conversations with the local mock take milliseconds; these only bound a hung peer. */
#define OUTBOX_CONNECT_TIMEOUT_S 10L
#define OUTBOX_TRANSFER_TIMEOUT_S 60L
#define OUTBOX_ERROR_MAX 400

struct ks_outbox {
  ks_db *db;
  char *smtp_url;
  pthread_t thread;
  bool thread_started;
  pthread_mutex_t lock;
  pthread_cond_t cond; /* Signalled on kick and on stop; waits use CLOCK_MONOTONIC. */
  bool lock_ready;     /* lock and cond were initialised and must be destroyed. */
  bool cond_ready;
  bool kicked;
  bool stop;
  struct timespec stop_deadline; /* CLOCK_MONOTONIC; after it a transfer is aborted. */
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

/* Copy the most urgent unsent row into row; KF_ERR_NOT_FOUND when there is none. */
static kf_rc outbox_next(sqlite3 *conn, outbox_row *row, kf_err *err) {
  kf_sql q;
  kf_rc rc = kf_sql_query(&q, conn, err,
                          "SELECT id, attempts, next_attempt_ms, mail_from, rcpt_to, raw, "
                          "message_id FROM outbox WHERE sent_at IS NULL "
                          "ORDER BY next_attempt_ms, id LIMIT 1",
                          "");
  if (rc != KF_OK)
    return rc;
  bool found = false;
  rc = kf_sql_step(&q, &found, err);
  if (rc == KF_OK && !found)
    rc = KF_ERR_NOT_FOUND;
  if (rc == KF_OK) {
    row->id = kf_sql_int(&q, 0);
    row->attempts = (int)kf_sql_int(&q, 1);
    row->next_attempt_ms = kf_sql_int(&q, 2);
    rc = kf_sql_text_dup(&q, 3, &row->mail_from, NULL, err);
  }
  if (rc == KF_OK)
    rc = kf_sql_text_dup(&q, 4, &row->rcpt_to, NULL, err);
  if (rc == KF_OK)
    rc = kf_sql_text_dup(&q, 5, &row->raw, &row->raw_len, err);
  if (rc == KF_OK)
    rc = kf_sql_text_dup(&q, 6, &row->message_id, NULL, err);
  /* Every column is NOT NULL; a NULL copy here can only be a broken row. */
  if (rc == KF_OK && (row->mail_from == NULL || row->rcpt_to == NULL || row->raw == NULL ||
                      row->message_id == NULL))
    rc = kf_err_set(err, KF_ERR_DB, "outbox row %lld is incomplete", (long long)row->id);
  if (rc != KF_OK && rc != KF_ERR_NOT_FOUND)
    outbox_row_release(row);
  kf_sql_finalize(&q);
  return rc;
}

static kf_rc outbox_mark(sqlite3 *conn, const outbox_row *row, bool sent, const char *error,
                         kf_err *err) {
  int64_t now_ms = outbox_real_ms();
  if (sent)
    return kf_sql_run(conn, NULL, err,
                      "UPDATE outbox SET sent_at = ?, attempts = attempts + 1, "
                      "last_error = NULL WHERE id = ?",
                      "ii", now_ms / 1000, row->id);
  return kf_sql_run(conn, NULL, err,
                    "UPDATE outbox SET next_attempt_ms = ?, attempts = attempts + 1, "
                    "last_error = ? WHERE id = ?",
                    "iti", now_ms + ks_outbox_backoff_ms(row->attempts + 1), error, row->id);
}

typedef struct outbox_upload {
  const char *data;
  size_t len;
  size_t pos;
} outbox_upload;

static size_t outbox_read_cb(char *buffer, size_t size, size_t nitems, void *userdata) {
  outbox_upload *up = userdata;
  size_t room = size * nitems;
  size_t n = up->len - up->pos;
  if (n > room)
    n = room;
  memcpy(buffer, up->data + up->pos, n);
  up->pos += n;
  return n;
}

/* Whether the monotonic clock has reached deadline. */
static bool outbox_mono_passed(const struct timespec *deadline) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return now.tv_sec > deadline->tv_sec ||
         (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

/*
 * Let a transfer in progress finish when the program shuts down, so a mail the
 * peer is accepting is not delivered again after a restart, but abort it once
 * the stop is KS_OUTBOX_STOP_GRACE_MS old so a hung peer cannot hold up the exit.
 */
static int outbox_progress_cb(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
                              curl_off_t ultotal, curl_off_t ulnow) {
  (void)dltotal;
  (void)dlnow;
  (void)ultotal;
  (void)ulnow;
  ks_outbox *ob = clientp;
  pthread_mutex_lock(&ob->lock);
  bool stop = ob->stop;
  struct timespec deadline = ob->stop_deadline;
  pthread_mutex_unlock(&ob->lock);
  return stop && outbox_mono_passed(&deadline) ? 1 : 0;
}

/*
 * Configure curl to send row. Each setopt can fail only for an unknown option
 * or out of memory, so the results are collected and checked once.
 */
static CURLcode outbox_curl_setup(CURL *curl, ks_outbox *ob, const char *from,
                                  struct curl_slist *rcpt, outbox_upload *up, char *errbuf) {
  CURLcode cc = CURLE_OK;
  cc |= curl_easy_setopt(curl, CURLOPT_URL, ob->smtp_url);
  cc |= curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from);
  cc |= curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
  cc |= curl_easy_setopt(curl, CURLOPT_READFUNCTION, outbox_read_cb);
  cc |= curl_easy_setopt(curl, CURLOPT_READDATA, up);
  cc |= curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
  cc |= curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)up->len);
  cc |= curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  cc |= curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, OUTBOX_CONNECT_TIMEOUT_S);
  cc |= curl_easy_setopt(curl, CURLOPT_TIMEOUT, OUTBOX_TRANSFER_TIMEOUT_S);
  cc |= curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  cc |= curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, outbox_progress_cb);
  cc |= curl_easy_setopt(curl, CURLOPT_XFERINFODATA, ob);
  cc |= curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  return cc;
}

/* Deliver one row; KF_OK only when the server accepted the message (250). */
static kf_rc outbox_deliver(ks_outbox *ob, const outbox_row *row, kf_err *err) {
  CURL *curl = curl_easy_init();
  if (curl == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "curl_easy_init failed");
  char *from = kf_str_printf("<%s>", row->mail_from);
  char *to = kf_str_printf("<%s>", row->rcpt_to);
  struct curl_slist *rcpt = to != NULL ? curl_slist_append(NULL, to) : NULL;
  kf_rc rc = KF_OK;
  outbox_upload up = {row->raw, row->raw_len, 0};
  char errbuf[CURL_ERROR_SIZE] = "";
  if (from == NULL || rcpt == NULL)
    rc = kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  else if (outbox_curl_setup(curl, ob, from, rcpt, &up, errbuf) != CURLE_OK)
    rc = kf_err_set(err, KF_ERR_INTERNAL, "cannot configure libcurl for %s", ob->smtp_url);
  CURLcode cc = rc == KF_OK ? curl_easy_perform(curl) : CURLE_OK;
  if (cc != CURLE_OK)
    rc = kf_err_set(err, KF_ERR_NETWORK, "%s", errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
  curl_slist_free_all(rcpt);
  kf_free(from);
  kf_free(to);
  curl_easy_cleanup(curl);
  return rc;
}

/* Wait until kicked, stopped or delay_ms passed (delay_ms < 0: no deadline). Lock held. */
static void outbox_wait_locked(ks_outbox *ob, int64_t delay_ms) {
  if (ob->kicked || ob->stop) {
    ob->kicked = false;
    return;
  }
  if (delay_ms < 0) {
    while (!ob->kicked && !ob->stop)
      pthread_cond_wait(&ob->cond, &ob->lock);
  } else {
    struct timespec deadline = outbox_mono_deadline(delay_ms);
    while (!ob->kicked && !ob->stop) {
      if (pthread_cond_timedwait(&ob->cond, &ob->lock, &deadline) == ETIMEDOUT)
        break;
    }
  }
  ob->kicked = false;
}

static void *outbox_main(void *arg) {
  ks_outbox *ob = arg;
  sqlite3 *conn = NULL;
  kf_err err;
  kf_err_init(&err);
  pthread_mutex_lock(&ob->lock);
  while (!ob->stop) {
    pthread_mutex_unlock(&ob->lock);
    outbox_row row;
    memset(&row, 0, sizeof row);
    kf_rc rc = conn != NULL ? KF_OK : ks_db_conn(ob->db, &conn, &err);
    if (rc == KF_OK)
      rc = outbox_next(conn, &row, &err);
    int64_t wait_ms = -1;
    if (rc == KF_OK) {
      int64_t due = row.next_attempt_ms - outbox_real_ms();
      if (due > 0) {
        wait_ms = due;
      } else {
        kf_err derr;
        kf_err_init(&derr);
        kf_rc drc = outbox_deliver(ob, &row, &derr);
        if (drc == KF_OK) {
          kf_info("mail %s to %s delivered", row.message_id, row.rcpt_to);
        } else {
          kf_warn("mail %s to %s not delivered (attempt %d): %s", row.message_id, row.rcpt_to,
                  row.attempts + 1, derr.message);
        }
        rc = outbox_mark(conn, &row, drc == KF_OK, derr.message, &err);
        if (rc != KF_OK) {
          kf_error("outbox: %s", err.message);
          wait_ms = KS_OUTBOX_BACKOFF_MIN_MS;
        } else {
          wait_ms = 0; /* Look for the next row at once. */
        }
      }
      outbox_row_release(&row);
    } else if (rc != KF_ERR_NOT_FOUND) {
      kf_error("outbox: %s", err.message);
      wait_ms = KS_OUTBOX_BACKOFF_MIN_MS;
    }
    pthread_mutex_lock(&ob->lock);
    if (wait_ms != 0)
      outbox_wait_locked(ob, wait_ms);
  }
  pthread_mutex_unlock(&ob->lock);
  ks_db_thread_done(ob->db);
  return NULL;
}

/* After a restart, retry every pending row at once instead of at its old schedule. */
static kf_rc outbox_reset_schedule(ks_db *db, kf_err *err) {
  sqlite3 *conn = NULL;
  kf_rc rc = ks_db_conn(db, &conn, err);
  if (rc != KF_OK)
    return rc;
  return kf_sql_exec(conn, "UPDATE outbox SET next_attempt_ms = 0 WHERE sent_at IS NULL", err);
}

/* Set up the lock and the condition variable; ob->*_ready record what to destroy. */
static kf_rc outbox_sync_init(ks_outbox *ob, kf_err *err) {
  pthread_condattr_t ca;
  int e = pthread_condattr_init(&ca);
  if (e != 0)
    return kf_err_set(err, KF_ERR_INTERNAL, "pthread_condattr_init failed (error %d)", e);
  /* Retry waits are measured on the monotonic clock so a clock step cannot
   * stretch or skip them. */
  e = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  if (e == 0) {
    e = pthread_cond_init(&ob->cond, &ca);
    ob->cond_ready = e == 0;
  }
  (void)pthread_condattr_destroy(&ca);
  if (e != 0)
    return kf_err_set(err, KF_ERR_INTERNAL,
                      "cannot set up the outbox condition variable (error %d)", e);
  e = pthread_mutex_init(&ob->lock, NULL);
  if (e != 0)
    return kf_err_set(err, KF_ERR_INTERNAL, "pthread_mutex_init failed (error %d)", e);
  ob->lock_ready = true;
  return KF_OK;
}

kf_rc ks_outbox_start(ks_db *db, const char *smtp_url, ks_outbox **out, kf_err *err) {
  assert(db != NULL && smtp_url != NULL && out != NULL);
  *out = NULL;
  /* Called from main before other threads use curl, as curl_global_init requires. */
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return kf_err_set(err, KF_ERR_INTERNAL, "curl_global_init failed");
  kf_rc rc = outbox_reset_schedule(db, err);
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
  ob->db = db;
  ob->smtp_url = kf_strdup(smtp_url);
  if (ob->smtp_url == NULL)
    rc = kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  if (rc == KF_OK)
    rc = outbox_sync_init(ob, err);
  if (rc == KF_OK) {
    int e = pthread_create(&ob->thread, NULL, outbox_main, ob);
    if (e != 0)
      rc = kf_err_set(err, KF_ERR_INTERNAL, "cannot start the outbox thread (error %d)", e);
    else
      ob->thread_started = true;
  }
  if (rc != KF_OK) {
    ks_outbox_free(ob);
    return rc;
  }
  *out = ob;
  return KF_OK;
}

void ks_outbox_kick(ks_outbox *ob) {
  if (ob == NULL)
    return;
  pthread_mutex_lock(&ob->lock);
  ob->kicked = true;
  pthread_cond_signal(&ob->cond);
  pthread_mutex_unlock(&ob->lock);
}

void ks_outbox_free(ks_outbox *ob) {
  if (ob == NULL)
    return;
  if (ob->thread_started) {
    pthread_mutex_lock(&ob->lock);
    ob->stop = true;
    ob->stop_deadline = outbox_mono_deadline(KS_OUTBOX_STOP_GRACE_MS);
    pthread_cond_signal(&ob->cond);
    pthread_mutex_unlock(&ob->lock);
    pthread_join(ob->thread, NULL);
  }
  if (ob->cond_ready)
    pthread_cond_destroy(&ob->cond);
  if (ob->lock_ready)
    pthread_mutex_destroy(&ob->lock);
  kf_free(ob->smtp_url);
  kf_free(ob);
  curl_global_cleanup();
}
