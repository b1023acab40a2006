/*
 * kbench.c: the load generators of make bench that a shell loop cannot be
 * (scripts/bench.sh compiles it into build/bench/kbench with libcurl).
 *
 *   kbench get URL N [HEADER]
 *       N sequential GETs over one kept-alive connection (with HEADER, such
 *       as "Konform-Clock: ID"): the raw libcurl floor an HTTP step of the
 *       harness is compared with.
 *   kbench wait MAIL_HTTP_PORT SMTP_PORT N [PARKED]
 *       N rounds of: a long-poll wait on konform-mail for a new recipient,
 *       then one mail to it over SMTP; the latency is from the SMTP
 *       transaction's end (the 250 after the final dot) to the wait's answer,
 *       and from the SMTP connect (the whole mail's way) to the answer.
 *       PARKED more clients wait meanwhile for recipients that never get a
 *       mail, as the other jobs of a parallel run do (20 s, then they end).
 *   kbench register SERVER_URL MAIL_HTTP_PORT CLIENTS PER_CLIENT
 *       CLIENTS threads registering PER_CLIENT accounts each, kept-alive,
 *       while konform-mail's count says how many confirmation mails the
 *       outbox delivered during the load and how long it took to catch up.
 *
 * Every figure is printed as key=value on one line. Loopback only; bounded
 * in count. Nothing sleeps: a client counts as parked once curl has sent its
 * request (its debug callback), and the catch-up long-polls konform-mail's
 * wait with `after` its last id.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KB_SAMPLES_MAX 100000
#define KB_CLIENTS_MAX 64
#define KB_BODY_MAX 4096

static double kb_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int kb_cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The p-th quantile (0..1) of n samples, sorting them. */
static double kb_quantile(double *v, size_t n, double p) {
  if (n == 0)
    return 0;
  qsort(v, n, sizeof(*v), kb_cmp);
  size_t i = (size_t)(p * (double)(n - 1) + 0.5);
  return v[i < n ? i : n - 1];
}

/* A response body, capped; what does not fit is dropped. */
typedef struct kb_body {
  char data[KB_BODY_MAX];
  size_t len;
} kb_body;

static size_t kb_keep(char *p, size_t size, size_t n, void *ud) {
  kb_body *b = ud;
  size_t len = size * n;
  size_t room = sizeof(b->data) - 1 - b->len;
  size_t take = len < room ? len : room;
  memcpy(b->data + b->len, p, take);
  b->len += take;
  b->data[b->len] = '\0';
  return len;
}

static size_t kb_drop(char *p, size_t size, size_t n, void *ud) {
  (void)p;
  (void)ud;
  return size * n;
}

/* GET url into body (reset first) on handle h; the HTTP status or -1. */
static long kb_get(CURL *h, const char *url, kb_body *body) {
  body->len = 0;
  body->data[0] = '\0';
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, kb_keep);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
  if (curl_easy_perform(h) != CURLE_OK)
    return -1;
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  return status;
}

static double kb_samples[KB_SAMPLES_MAX];
static double kb_whole[KB_SAMPLES_MAX];

static int kb_cmd_get(const char *url, long n, const char *header) {
  if (n < 1 || n > KB_SAMPLES_MAX)
    return fprintf(stderr, "kbench get: N must be 1..%d\n", KB_SAMPLES_MAX), 2;
  CURL *h = curl_easy_init();
  struct curl_slist *hdr = header ? curl_slist_append(NULL, header) : NULL;
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
  kb_body body;
  double total = 0;
  for (long i = 0; i < n; i++) {
    double t0 = kb_now_us();
    if (kb_get(h, url, &body) != 200)
      return fprintf(stderr, "kbench get: %s failed\n", url), 1;
    kb_samples[i] = kb_now_us() - t0;
    total += kb_samples[i];
  }
  curl_easy_cleanup(h);
  curl_slist_free_all(hdr);
  printf("median_us=%.1f mean_us=%.1f\n", kb_quantile(kb_samples, (size_t)n, 0.5),
         total / (double)n);
  return 0;
}

/* Counts long-poll requests curl has sent, so the sender of a mail knows its
 * waiters are in their long-poll without sleeping for it. */
typedef struct kb_gate {
  pthread_mutex_t lock;
  pthread_cond_t changed;
  long sent;
} kb_gate;

static kb_gate kb_sent_gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

static int kb_on_trace(CURL *h, curl_infotype type, char *data, size_t size, void *ud) {
  (void)h;
  (void)data;
  (void)size;
  (void)ud;
  if (type == CURLINFO_HEADER_OUT) {
    pthread_mutex_lock(&kb_sent_gate.lock);
    kb_sent_gate.sent++;
    pthread_cond_broadcast(&kb_sent_gate.changed);
    pthread_mutex_unlock(&kb_sent_gate.lock);
  }
  return 0;
}

/* Wait until `count` requests in all were sent, or 5 s passed (a waiter that
 * failed to connect must not hang the benchmark). */
static void kb_gate_wait(long count) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 5;
  pthread_mutex_lock(&kb_sent_gate.lock);
  while (kb_sent_gate.sent < count &&
         pthread_cond_timedwait(&kb_sent_gate.changed, &kb_sent_gate.lock, &deadline) == 0) {
  }
  pthread_mutex_unlock(&kb_sent_gate.lock);
}

static long kb_gate_count(void) {
  pthread_mutex_lock(&kb_sent_gate.lock);
  long sent = kb_sent_gate.sent;
  pthread_mutex_unlock(&kb_sent_gate.lock);
  return sent;
}

/* One round of the wait benchmark: the waiting client's side. */
typedef struct kb_waiter {
  CURL *h;
  char url[512];
  double done_us;
  long status;
} kb_waiter;

static void *kb_wait_thread(void *arg) {
  kb_waiter *w = arg;
  kb_body body;
  curl_easy_setopt(w->h, CURLOPT_DEBUGFUNCTION, kb_on_trace);
  curl_easy_setopt(w->h, CURLOPT_VERBOSE, 1L);
  w->status = kb_get(w->h, w->url, &body);
  w->done_us = kb_now_us();
  return NULL;
}

/* What the SMTP upload reads: one small mail. */
typedef struct kb_mail {
  char text[512];
  size_t len, pos;
} kb_mail;

static size_t kb_read_mail(char *p, size_t size, size_t n, void *ud) {
  kb_mail *m = ud;
  size_t room = size * n, left = m->len - m->pos;
  size_t take = left < room ? left : room;
  memcpy(p, m->text + m->pos, take);
  m->pos += take;
  return take;
}

/* Send one mail to rcpt over h (kept between rounds); false on failure. */
static bool kb_send(CURL *h, const char *smtp_url, const char *rcpt) {
  kb_mail m = {.pos = 0};
  int len = snprintf(m.text, sizeof(m.text),
                     "From: bench@konform.test\r\nTo: %s\r\nSubject: latency\r\n"
                     "Date: Sat, 28 Mar 2026 10:00:00 +0000\r\n\r\nHallo\r\n",
                     rcpt);
  if (len < 0 || (size_t)len >= sizeof(m.text))
    return false;
  m.len = (size_t)len;
  struct curl_slist *to = curl_slist_append(NULL, rcpt);
  curl_easy_setopt(h, CURLOPT_URL, smtp_url);
  curl_easy_setopt(h, CURLOPT_MAIL_FROM, "bench@konform.test");
  curl_easy_setopt(h, CURLOPT_MAIL_RCPT, to);
  curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(h, CURLOPT_READFUNCTION, kb_read_mail);
  curl_easy_setopt(h, CURLOPT_READDATA, &m);
  CURLcode rc = curl_easy_perform(h);
  curl_slist_free_all(to);
  return rc == CURLE_OK;
}

static kb_waiter kb_parked[KB_CLIENTS_MAX];

/* Start parked long-polls that no mail will answer (the threads are left to end on their own). */
static void kb_park(const char *http_port, long parked) {
  long sent_before = kb_gate_count(), started = 0;
  for (long i = 0; i < parked && i < KB_CLIENTS_MAX; i++) {
    kb_waiter *p = &kb_parked[i];
    p->h = curl_easy_init();
    snprintf(p->url, sizeof(p->url),
             "http://127.0.0.1:%s/api/v1/wait/messages?to=parked-%ld-%ld@konform.test"
             "&timeout_ms=20000",
             http_port, (long)getpid(), i);
    pthread_t t;
    if (pthread_create(&t, NULL, kb_wait_thread, p) == 0) {
      pthread_detach(t);
      started++;
    }
  }
  kb_gate_wait(sent_before + started);
}

static int kb_cmd_wait(const char *http_port, const char *smtp_port, long n, long parked) {
  if (n < 1 || n > KB_SAMPLES_MAX)
    return fprintf(stderr, "kbench wait: N must be 1..%d\n", KB_SAMPLES_MAX), 2;
  kb_park(http_port, parked);
  char smtp_url[128];
  snprintf(smtp_url, sizeof(smtp_url), "smtp://127.0.0.1:%s", smtp_port);
  CURL *smtp = curl_easy_init();
  kb_waiter w = {.h = curl_easy_init()};
  long overtook = 0;
  for (long i = 0; i < n; i++) {
    char rcpt[128];
    snprintf(rcpt, sizeof(rcpt), "lat-%ld-%ld@konform.test", (long)getpid(), i);
    snprintf(w.url, sizeof(w.url), "http://127.0.0.1:%s/api/v1/wait/messages?to=%s&timeout_ms=5000",
             http_port, rcpt);
    pthread_t t;
    long sent_before = kb_gate_count();
    if (pthread_create(&t, NULL, kb_wait_thread, &w) != 0)
      return fprintf(stderr, "kbench wait: no thread\n"), 1;
    /* The waiter is in its long-poll before the mail exists. */
    kb_gate_wait(sent_before + 1);
    double start_us = kb_now_us();
    bool sent = kb_send(smtp, smtp_url, rcpt);
    double sent_us = kb_now_us();
    pthread_join(t, NULL);
    if (!sent || w.status != 200)
      return fprintf(stderr, "kbench wait: round %ld failed (HTTP %ld)\n", i, w.status), 1;
    /* The answer may overtake the 250; that is a latency of 0. */
    kb_samples[i] = w.done_us > sent_us ? w.done_us - sent_us : 0;
    overtook += w.done_us <= sent_us;
    kb_whole[i] = w.done_us - start_us;
  }
  curl_easy_cleanup(w.h);
  curl_easy_cleanup(smtp);
  double p90 = kb_quantile(kb_samples, (size_t)n, 0.9);
  printf("median_us=%.1f p90_us=%.1f from_start_median_us=%.1f overtook=%ld\n",
         kb_quantile(kb_samples, (size_t)n, 0.5), p90, kb_quantile(kb_whole, (size_t)n, 0.5),
         overtook);
  return 0;
}

/* konform-mail's item count from its health answer, or -1; its last id into *last_id. */
static long kb_mail_count(CURL *h, const char *port, long *last_id) {
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%s/api/v1/health", port);
  kb_body body;
  if (kb_get(h, url, &body) != 200)
    return -1;
  const char *p = strstr(body.data, "\"count\":");
  const char *q = strstr(body.data, "\"last_id\":");
  if (last_id)
    *last_id = q ? strtol(q + 10, NULL, 10) : 0;
  return p ? strtol(p + 8, NULL, 10) : -1;
}

/* Until konform-mail holds `want` items: each round long-polls for the next
 * mail after the last id, so it wakes when one arrives. false after 60 s with
 * no new mail (bounded: a lost mail must not hang the benchmark). */
static bool kb_catch_up(CURL *h, const char *port, long want) {
  char url[192];
  kb_body body;
  for (;;) {
    long last_id = 0;
    long count = kb_mail_count(h, port, &last_id);
    if (count < 0)
      return false;
    if (count >= want)
      return true;
    snprintf(url, sizeof(url),
             "http://127.0.0.1:%s/api/v1/wait/messages?after=%ld&timeout_ms=60000", port, last_id);
    if (kb_get(h, url, &body) != 200)
      return false;
  }
}

typedef struct kb_client {
  const char *url;
  int index;
  long count;
  long failed;
} kb_client;

static void *kb_register_thread(void *arg) {
  kb_client *c = arg;
  CURL *h = curl_easy_init();
  struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, kb_drop);
  curl_easy_setopt(h, CURLOPT_URL, c->url);
  for (long i = 0; i < c->count; i++) {
    char json[512];
    snprintf(json, sizeof(json),
             "{\"email\":\"reg-%ld-%d-%ld@konform.test\",\"password\":\"Bench-Passw0rd!\","
             "\"password_repeat\":\"Bench-Passw0rd!\",\"accept_terms\":true,"
             "\"consent_email\":true}",
             (long)getpid(), c->index, i);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK)
      curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 201 && status != 202 && status != 200)
      c->failed++;
  }
  curl_slist_free_all(hdr);
  curl_easy_cleanup(h);
  return NULL;
}

static int kb_cmd_register(const char *server, const char *mail_port, long clients, long per) {
  if (clients < 1 || clients > KB_CLIENTS_MAX || per < 1)
    return fprintf(stderr, "kbench register: 1..%d clients, 1+ each\n", KB_CLIENTS_MAX), 2;
  char url[256];
  snprintf(url, sizeof(url), "%s/api/v1/registrations", server);
  CURL *probe = curl_easy_init();
  long before = kb_mail_count(probe, mail_port, NULL);
  kb_client c[KB_CLIENTS_MAX];
  pthread_t t[KB_CLIENTS_MAX];
  double t0 = kb_now_us();
  for (long i = 0; i < clients; i++) {
    c[i] = (kb_client){.url = url, .index = (int)i, .count = per};
    pthread_create(&t[i], NULL, kb_register_thread, &c[i]);
  }
  long failed = 0;
  for (long i = 0; i < clients; i++) {
    pthread_join(t[i], NULL);
    failed += c[i].failed;
  }
  double load_us = kb_now_us() - t0;
  long during = kb_mail_count(probe, mail_port, NULL) - before;
  long total = clients * per - failed;
  /* Catching up is what the outbox does after the load. */
  double caught_us = kb_catch_up(probe, mail_port, before + total) ? kb_now_us() - t0 : -1;
  curl_easy_cleanup(probe);
  printf("registrations=%ld failed=%ld load_ms=%.0f reg_per_s=%.0f delivered_during=%ld "
         "mail_per_s=%.0f caught_up_ms=%.0f\n",
         total, failed, load_us / 1e3, (double)total * 1e6 / load_us, during,
         (double)during * 1e6 / load_us, caught_us / 1e3);
  return 0;
}

int main(int argc, char **argv) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int rc = 2;
  if ((argc == 4 || argc == 5) && strcmp(argv[1], "get") == 0)
    rc = kb_cmd_get(argv[2], strtol(argv[3], NULL, 10), argc == 5 ? argv[4] : NULL);
  else if ((argc == 5 || argc == 6) && strcmp(argv[1], "wait") == 0)
    rc = kb_cmd_wait(argv[2], argv[3], strtol(argv[4], NULL, 10),
                     argc == 6 ? strtol(argv[5], NULL, 10) : 0);
  else if (argc == 6 && strcmp(argv[1], "register") == 0)
    rc = kb_cmd_register(argv[2], argv[3], strtol(argv[4], NULL, 10), strtol(argv[5], NULL, 10));
  else
    fprintf(stderr, "usage: kbench get URL N [HEADER] | wait HTTP_PORT SMTP_PORT N [PARKED] |"
                    " register SERVER_URL MAIL_HTTP_PORT CLIENTS PER_CLIENT\n");
  curl_global_cleanup();
  return rc;
}
