/*
 * Unit tests for the outbox's delivery: the SMTP client (ks_smtp) against a
 * scripted SMTP server on 127.0.0.1 (its own threads, one per connection),
 * and the sender threads (ks_outbox) that use it. What they hold: the next
 * mail's envelope travels behind the previous mail's final dot (PIPELINING),
 * never a message body before the 250 of the one before; a server without
 * PIPELINING gets one command at a time; dot-stuffing; a rejection ends the
 * session; an announced envelope that the next call does not use is dropped,
 * never sent a body; a session the peer closed is replaced without losing the
 * mail; a stop lets an exchange finish within its grace and no longer; URLs
 * other than smtp:// are refused; several senders keep every recipient's
 * mails in order; the sent log of a sender that no longer runs is folded at
 * start, so its mails are not sent again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kf/log.h"
#include "kf/sql.h"
#include "kf/str.h"
#include "ks_db.h"
#include "ks_outbox.h"
#include "ks_smtp.h"
#include "kt_server.h"

/* ---- A scripted SMTP server. ---- */

#define FAKE_MSGS 64
#define FAKE_CONNS 16
#define FAKE_BODY 1024
#define FAKE_WAIT_S 20

typedef struct fake_msg {
  char rcpt[128];
  char body[FAKE_BODY];
  size_t body_len;
} fake_msg;

/* One connection's parser state. */
typedef struct fake_conn {
  int fd;
  char in[16384];
  size_t in_len;
  char out[4096];
  size_t out_len;
  bool in_data;
  bool dot_answer_pending; /* out holds the answer to a final dot. */
  bool hold;
  bool close_now;
  char rcpt[128];
  fake_msg cur;
} fake_conn;

typedef struct fake_smtp {
  int lfd;
  unsigned port;
  int stop_pipe[2];
  pthread_t accept_thread;
  pthread_t conns[FAKE_CONNS];
  fake_conn conn_store[FAKE_CONNS]; /* No allocation: cmocka's tracking is not thread-safe. */
  int nconns;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  /* What to do, set before the first connection; message and RCPT numbers count from 1. */
  bool no_pipelining;
  int reject_rcpt;     /* Answer this RCPT with 550. */
  int reject_msg;      /* Answer this message's final dot with 554. */
  unsigned close_mask; /* Bit n - 1: close the connection right after the 250 to message n. */
  int hold_msg;        /* Never answer this message's final dot. */
  size_t greeting_pad; /* Bytes of padding in the greeting line (a peer that overruns). */
  /* What happened, under mu. */
  int accepts;
  int rcpts;
  int dots;
  int early;      /* MAIL commands read before the answer to a final dot went out. */
  int violations; /* Without PIPELINING: a command that came before the last one's answer. */
  int aborted;    /* Connections that ended in DATA, before a final dot. */
  int ended;      /* Connections that ended. */
  int broken;     /* Checks that failed in a server thread (cmocka asserts only in the test's). */
  fake_msg msgs[FAKE_MSGS];
  int nmsgs;
} fake_smtp;

static fake_smtp fake;

/* A check inside a server thread: counted, asserted by the test at the end. */
static bool fake_check(bool ok) {
  if (!ok) {
    pthread_mutex_lock(&fake.mu);
    fake.broken++;
    pthread_mutex_unlock(&fake.mu);
  }
  return ok;
}

static void fake_reply(fake_conn *c, const char *line) {
  size_t n = strlen(line);
  if (!fake_check(c->out_len + n + 2 <= sizeof c->out))
    return;
  memcpy(c->out + c->out_len, line, n);
  memcpy(c->out + c->out_len + n, "\r\n", 2);
  c->out_len += n + 2;
}

static void fake_data_line(fake_conn *c, const char *line, size_t len) {
  if (len == 1 && line[0] == '.') {
    c->in_data = false;
    pthread_mutex_lock(&fake.mu);
    int n = ++fake.dots;
    if (n == fake.hold_msg) {
      c->hold = true;
    } else if (n == fake.reject_msg) {
      fake_reply(c, "554 5.6.0 rejected");
    } else {
      if (fake.nmsgs < FAKE_MSGS)
        fake.msgs[fake.nmsgs++] = c->cur;
      fake_reply(c, "250 2.0.0 OK");
      c->close_now = n <= 32 && (fake.close_mask >> (n - 1) & 1u) != 0;
    }
    pthread_cond_broadcast(&fake.cv);
    pthread_mutex_unlock(&fake.mu);
    c->dot_answer_pending = true;
    return;
  }
  /* Dot-unstuffing (RFC 5321 4.5.2). */
  if (len > 0 && line[0] == '.') {
    line++;
    len--;
  }
  if (!fake_check(c->cur.body_len + len + 2 < sizeof c->cur.body))
    return;
  memcpy(c->cur.body + c->cur.body_len, line, len);
  memcpy(c->cur.body + c->cur.body_len + len, "\r\n", 2);
  c->cur.body_len += len + 2;
}

static bool fake_verb(const char *line, const char *verb) {
  return strncmp(line, verb, strlen(verb)) == 0;
}

static void fake_command(fake_conn *c, const char *line, bool more_waiting) {
  pthread_mutex_lock(&fake.mu);
  if (fake.no_pipelining && more_waiting)
    fake.violations++;
  if (fake_verb(line, "MAIL") && c->dot_answer_pending)
    fake.early++;
  bool reject = false;
  if (fake_verb(line, "RCPT"))
    reject = ++fake.rcpts == fake.reject_rcpt;
  bool pipelining = !fake.no_pipelining;
  pthread_mutex_unlock(&fake.mu);
  if (fake_verb(line, "EHLO")) {
    fake_reply(c, "250-fake greets you");
    if (pipelining)
      fake_reply(c, "250-PIPELINING");
    fake_reply(c, "250 8BITMIME");
  } else if (fake_verb(line, "MAIL FROM:<")) {
    c->rcpt[0] = '\0';
    fake_reply(c, "250 2.1.0 OK");
  } else if (fake_verb(line, "RCPT TO:<") && !reject) {
    const char *end = strchr(line, '>');
    size_t n = end != NULL ? (size_t)(end - line) - 9 : 0;
    if (!fake_check(n < sizeof c->rcpt))
      n = 0;
    memcpy(c->rcpt, line + 9, n);
    c->rcpt[n] = '\0';
    fake_reply(c, "250 2.1.5 OK");
  } else if (fake_verb(line, "RCPT")) {
    fake_reply(c, "550 5.1.1 no such user");
  } else if (fake_verb(line, "DATA") && c->rcpt[0] != '\0') {
    memset(&c->cur, 0, sizeof c->cur);
    (void)fake_check(kf_str_copy(c->cur.rcpt, sizeof c->cur.rcpt, c->rcpt) == KF_OK);
    c->in_data = true;
    fake_reply(c, "354 go ahead");
  } else if (fake_verb(line, "DATA")) {
    fake_reply(c, "554 5.5.1 no valid recipients");
  } else if (fake_verb(line, "QUIT")) {
    fake_reply(c, "221 2.0.0 bye");
    c->close_now = true;
  } else {
    fake_reply(c, "250 2.0.0 OK");
  }
}

/* Every whole line in c->in, then the answers in one write, as konform-mail does. */
static bool fake_process(fake_conn *c) {
  size_t start = 0;
  for (;;) {
    char *lf = memchr(c->in + start, '\n', c->in_len - start);
    if (lf == NULL || c->hold || c->close_now)
      break;
    size_t len = (size_t)(lf - (c->in + start));
    char line[2048];
    size_t l = len > 0 && c->in[start + len - 1] == '\r' ? len - 1 : len;
    if (!fake_check(l < sizeof line))
      l = sizeof line - 1;
    memcpy(line, c->in + start, l);
    line[l] = '\0';
    start += len + 1;
    if (c->in_data)
      fake_data_line(c, line, l);
    else
      fake_command(c, line, start < c->in_len);
  }
  memmove(c->in, c->in + start, c->in_len - start);
  c->in_len -= start;
  if (c->out_len > 0)
    (void)fake_check(send(c->fd, c->out, c->out_len, MSG_NOSIGNAL) == (ssize_t)c->out_len);
  c->out_len = 0;
  c->dot_answer_pending = false;
  return !c->close_now;
}

static void *fake_conn_main(void *arg) {
  fake_conn *c = arg;
  char greeting[3200] = "220 fake ESMTP ";
  size_t g = strlen(greeting);
  for (size_t i = 0; i < fake.greeting_pad && g + 1 < sizeof greeting; i++)
    greeting[g++] = 'x';
  greeting[g] = '\0';
  fake_reply(c, greeting);
  bool open = fake_process(c);
  while (open) {
    /* Held: nothing more is read until the server stops. */
    struct pollfd pfd[2] = {{.fd = fake.stop_pipe[0], .events = POLLIN},
                            {.fd = c->fd, .events = POLLIN}};
    if (poll(pfd, c->hold ? 1 : 2, -1) < 0 && errno == EINTR)
      continue;
    if (pfd[0].revents != 0)
      break;
    ssize_t n = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
    if (n <= 0)
      break;
    c->in_len += (size_t)n;
    open = fake_process(c);
  }
  pthread_mutex_lock(&fake.mu);
  if (c->in_data)
    fake.aborted++;
  fake.ended++;
  pthread_cond_broadcast(&fake.cv);
  pthread_mutex_unlock(&fake.mu);
  (void)close(c->fd);
  return NULL;
}

static void *fake_accept_main(void *arg) {
  (void)arg;
  for (;;) {
    struct pollfd pfd[2] = {{.fd = fake.lfd, .events = POLLIN},
                            {.fd = fake.stop_pipe[0], .events = POLLIN}};
    if (poll(pfd, 2, -1) < 0 && errno == EINTR)
      continue;
    if (pfd[1].revents != 0)
      return NULL;
    int fd = accept(fake.lfd, NULL, NULL);
    if (fd < 0)
      continue;
    pthread_mutex_lock(&fake.mu);
    bool room = fake.nconns < FAKE_CONNS;
    fake_conn *c = room ? &fake.conn_store[fake.nconns] : NULL;
    if (room) {
      c->fd = fd;
      fake.accepts++;
      room = pthread_create(&fake.conns[fake.nconns], NULL, fake_conn_main, c) == 0;
    }
    if (room)
      fake.nconns++;
    else
      fake.broken++;
    pthread_mutex_unlock(&fake.mu);
    if (!room)
      (void)close(fd);
  }
}

static void fake_start(void) {
  fake.lfd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fake.lfd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fake.lfd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(fake.lfd, 16), 0);
  socklen_t alen = sizeof a;
  assert_int_equal(getsockname(fake.lfd, (struct sockaddr *)&a, &alen), 0);
  fake.port = ntohs(a.sin_port);
  assert_int_equal(pipe(fake.stop_pipe), 0);
  assert_int_equal(pthread_create(&fake.accept_thread, NULL, fake_accept_main, NULL), 0);
}

static void fake_stop(void) {
  assert_int_equal(write(fake.stop_pipe[1], "s", 1), 1);
  pthread_join(fake.accept_thread, NULL);
  pthread_mutex_lock(&fake.mu);
  int n = fake.nconns;
  pthread_mutex_unlock(&fake.mu);
  for (int i = 0; i < n; i++)
    pthread_join(fake.conns[i], NULL);
  (void)close(fake.lfd);
  (void)close(fake.stop_pipe[0]);
  (void)close(fake.stop_pipe[1]);
  assert_int_equal(fake.broken, 0);
}

/* Wait (event-driven, bounded) until *counter reaches n. */
static void fake_wait(const int *counter, int n) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += FAKE_WAIT_S;
  pthread_mutex_lock(&fake.mu);
  int rc = 0;
  while (*counter < n && rc == 0)
    rc = pthread_cond_timedwait(&fake.cv, &fake.mu, &deadline);
  int got = *counter;
  pthread_mutex_unlock(&fake.mu);
  assert_true(got >= n);
}

static int fake_setup(void **state) {
  (void)state;
  memset(&fake, 0, sizeof fake);
  assert_int_equal(pthread_mutex_init(&fake.mu, NULL), 0);
  assert_int_equal(pthread_cond_init(&fake.cv, NULL), 0);
  return 0;
}

static int fake_teardown(void **state) {
  (void)state;
  pthread_cond_destroy(&fake.cv);
  pthread_mutex_destroy(&fake.mu);
  return 0;
}

/* ---- The client. ---- */

static void client_new(ks_smtp **out, int stop_fd, int64_t grace_ms) {
  char url[64];
  assert_int_equal(kf_str_format(url, sizeof url, "smtp://127.0.0.1:%u", fake.port), KF_OK);
  ks_smtp_config cfg;
  ks_smtp_config_init(&cfg, url);
  cfg.stop_fd = stop_fd;
  cfg.stop_grace_ms = grace_ms;
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(ks_smtp_new(&cfg, out, &err), KF_OK);
}

static ks_smtp_mail mail_to(const char *to, const char *raw) {
  return (ks_smtp_mail){"kontoservice@example.de", to, raw, strlen(raw)};
}

static void send_ok(ks_smtp *c, const ks_smtp_mail *m, const ks_smtp_mail *next) {
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = ks_smtp_send(c, m, next, &err);
  if (rc != KF_OK)
    fail_msg("ks_smtp_send: %s", err.message);
}

static void test_smtp_pipelines_the_next_envelope(void **state) {
  (void)state;
  fake_start();
  ks_smtp *c = NULL;
  client_new(&c, -1, 0);
  ks_smtp_mail a = mail_to("a@example.de", "Subject: a\r\n\r\nA\r\n");
  ks_smtp_mail b = mail_to("b@example.de", "Subject: b\r\n\r\nB\r\n");
  ks_smtp_mail d = mail_to("d@example.de", "Subject: d\r\n\r\nD\r\n");
  send_ok(c, &a, &b);
  assert_true(ks_smtp_pipelining(c));
  send_ok(c, &b, &d);
  send_ok(c, &d, NULL);
  ks_smtp_free(c);
  fake_wait(&fake.ended, 1);
  fake_stop();
  assert_int_equal(fake.accepts, 1);
  assert_int_equal(fake.nmsgs, 3);
  assert_int_equal(fake.early, 2); /* b's and d's envelopes came with the dot before them. */
  assert_int_equal(fake.aborted, 0);
  assert_string_equal(fake.msgs[0].rcpt, "a@example.de");
  assert_string_equal(fake.msgs[1].rcpt, "b@example.de");
  assert_string_equal(fake.msgs[2].rcpt, "d@example.de");
  assert_string_equal(fake.msgs[1].body, "Subject: b\r\n\r\nB\r\n");
}

static void test_smtp_one_command_at_a_time_without_pipelining(void **state) {
  (void)state;
  fake.no_pipelining = true;
  fake_start();
  ks_smtp *c = NULL;
  client_new(&c, -1, 0);
  ks_smtp_mail a = mail_to("a@example.de", "Subject: a\r\n\r\nA\r\n");
  ks_smtp_mail b = mail_to("b@example.de", "Subject: b\r\n\r\nB\r\n");
  send_ok(c, &a, &b);
  assert_false(ks_smtp_pipelining(c));
  send_ok(c, &b, NULL);
  ks_smtp_free(c);
  fake_wait(&fake.ended, 1);
  fake_stop();
  assert_int_equal(fake.nmsgs, 2);
  assert_int_equal(fake.violations, 0);
  assert_int_equal(fake.early, 0);
}

static void test_smtp_dot_stuffing(void **state) {
  (void)state;
  fake_start();
  ks_smtp *c = NULL;
  client_new(&c, -1, 0);
  /* A leading dot, a dot line, and no CRLF at the end. */
  ks_smtp_mail a = mail_to("a@example.de", ".x\r\n.\r\n..\r\nend");
  send_ok(c, &a, NULL);
  ks_smtp_free(c);
  fake_wait(&fake.ended, 1);
  fake_stop();
  assert_int_equal(fake.nmsgs, 1);
  assert_string_equal(fake.msgs[0].body, ".x\r\n.\r\n..\r\nend\r\n");
}

static void test_smtp_rejection_ends_the_session(void **state) {
  (void)state;
  fake.reject_rcpt = 1;
  fake_start();
  ks_smtp *c = NULL;
  client_new(&c, -1, 0);
  ks_smtp_mail a = mail_to("a@example.de", "A\r\n");
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(ks_smtp_send(c, &a, NULL, &err), KF_ERR_NETWORK);
  assert_non_null(strstr(err.message, "RCPT TO"));
  assert_non_null(strstr(err.message, "550"));
  send_ok(c, &a, NULL);
  ks_smtp_free(c);
  fake_wait(&fake.ended, 2);
  fake_stop();
  assert_int_equal(fake.accepts, 2);
  assert_int_equal(fake.nmsgs, 1);
}

/* A rejected message whose successor was announced: that successor starts over. */
static void test_smtp_rejected_message_drops_the_announced(void **state) {
  (void)state;
  fake.reject_msg = 1;
  fake_start();
  ks_smtp *c = NULL;
  client_new(&c, -1, 0);
  ks_smtp_mail a = mail_to("a@example.de", "A\r\n");
  ks_smtp_mail b = mail_to("b@example.de", "B\r\n");
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(ks_smtp_send(c, &a, &b, &err), KF_ERR_NETWORK);
  assert_non_null(strstr(err.message, "554"));
  send_ok(c, &b, NULL);
  ks_smtp_free(c);
  fake_wait(&fake.ended, 2);
  fake_stop();
  assert_int_equal(fake.accepts, 2);
  assert_int_equal(fake.nmsgs, 1);
  assert_string_equal(fake.msgs[0].rcpt, "b@example.de");
  assert_int_equal(fake.aborted, 1); /* b's first envelope reached DATA and got no body. */
}

static void test_smtp_unused_announcement_gets_no_body(void **state) {
  (void)state;
  fake_start();
  ks_smtp *c = NULL;
  client_new(&c, -1, 0);
  ks_smtp_mail a = mail_to("a@example.de", "A\r\n");
  ks_smtp_mail b = mail_to("b@example.de", "B\r\n");
  ks_smtp_mail d = mail_to("d@example.de", "D\r\n");
  send_ok(c, &a, &b);
  send_ok(c, &d, NULL); /* Not b: the session that waits for b's data must go. */
  ks_smtp_free(c);
  fake_wait(&fake.ended, 2);
  fake_stop();
  assert_int_equal(fake.accepts, 2);
  assert_int_equal(fake.nmsgs, 2);
  assert_string_equal(fake.msgs[0].rcpt, "a@example.de");
  assert_string_equal(fake.msgs[1].rcpt, "d@example.de");
  assert_int_equal(fake.aborted, 1);
}

/*
 * The peer closes the session after a 250: with the next envelope sent and
 * unanswered (the mail goes on a new session), and while the session is idle
 * (the next mail finds it closed and opens another).
 */
static void test_smtp_replaces_a_closed_session(void **state) {
  (void)state;
  fake.close_mask = 1u | 4u; /* After messages 1 and 3. */
  fake_start();
  ks_smtp *c = NULL;
  client_new(&c, -1, 0);
  ks_smtp_mail a = mail_to("a@example.de", "A\r\n");
  ks_smtp_mail b = mail_to("b@example.de", "B\r\n");
  ks_smtp_mail d = mail_to("d@example.de", "D\r\n");
  ks_smtp_mail e = mail_to("e@example.de", "E\r\n");
  send_ok(c, &a, &b);
  send_ok(c, &b, NULL);
  send_ok(c, &d, NULL);
  fake_wait(&fake.ended, 2);
  send_ok(c, &e, NULL);
  ks_smtp_free(c);
  fake_wait(&fake.ended, 3);
  fake_stop();
  assert_int_equal(fake.accepts, 3);
  assert_int_equal(fake.nmsgs, 4);
  assert_string_equal(fake.msgs[1].rcpt, "b@example.de");
  assert_string_equal(fake.msgs[3].rcpt, "e@example.de");
  assert_int_equal(fake.aborted, 0);
}

/* A stop during an exchange: it may finish within the grace, and is cut off after it. */
static void test_smtp_stop_grace(void **state) {
  (void)state;
  fake.hold_msg = 2;
  fake_start();
  int stop[2];
  assert_int_equal(pipe(stop), 0);
  ks_smtp *c = NULL;
  client_new(&c, stop[0], 200);
  ks_smtp_mail a = mail_to("a@example.de", "A\r\n");
  ks_smtp_mail b = mail_to("b@example.de", "B\r\n");
  assert_int_equal(write(stop[1], "s", 1), 1);
  send_ok(c, &a, NULL); /* The peer answers within the grace. */
  kf_err err;
  kf_err_init(&err);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  assert_int_equal(ks_smtp_send(c, &b, NULL, &err), KF_ERR_TIMEOUT);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  int64_t ms = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
  assert_true(ms < 200 + 5000);
  ks_smtp_free(c);
  fake_stop();
  assert_int_equal(fake.nmsgs, 1);
  (void)close(stop[0]);
  (void)close(stop[1]);
}

/* A reply line longer than any SMTP server may send ends the session, and nothing overruns. */
static void test_smtp_refuses_an_overlong_reply_line(void **state) {
  (void)state;
  fake.greeting_pad = 3000;
  fake_start();
  ks_smtp *c = NULL;
  client_new(&c, -1, 0);
  ks_smtp_mail a = mail_to("a@example.de", "A\r\n");
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(ks_smtp_send(c, &a, NULL, &err), KF_ERR_NETWORK);
  assert_non_null(strstr(err.message, "too long"));
  ks_smtp_free(c);
  fake_wait(&fake.ended, 1);
  fake_stop();
  assert_int_equal(fake.nmsgs, 0);
}

static void test_smtp_urls(void **state) {
  (void)state;
  static const struct {
    const char *url;
    kf_rc rc;
  } cases[] = {
      {"smtp://127.0.0.1:8425", KF_OK},
      {"smtp://[::1]:8425", KF_OK},
      {"smtp://localhost", KF_OK},
      {"smtps://127.0.0.1:465", KF_ERR_INVALID},
      {"http://127.0.0.1:8425", KF_ERR_INVALID},
      {"smtp://user:pw@127.0.0.1:25", KF_ERR_INVALID},
      {"not a url", KF_ERR_INVALID},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ks_smtp_config cfg;
    ks_smtp_config_init(&cfg, cases[i].url);
    ks_smtp *c = NULL;
    kf_err err;
    kf_err_init(&err);
    kf_rc rc = ks_smtp_new(&cfg, &c, &err);
    if (rc != cases[i].rc)
      fail_msg("%s: %s (%s)", cases[i].url, kf_rc_name(rc), err.message);
    ks_smtp_free(c);
  }
}

static void test_smtp_refuses_bad_addresses_and_dead_peers(void **state) {
  (void)state;
  fake_start();
  fake_stop();
  ks_smtp *c = NULL;
  client_new(&c, -1, 0);
  kf_err err;
  kf_err_init(&err);
  ks_smtp_mail bad = mail_to("a@example.de>\r\nRCPT TO:<b@example.de", "A\r\n");
  assert_int_equal(ks_smtp_send(c, &bad, NULL, &err), KF_ERR_INVALID);
  ks_smtp_mail a = mail_to("a@example.de", "A\r\n");
  assert_int_equal(ks_smtp_send(c, &a, NULL, &err), KF_ERR_NETWORK);
  assert_non_null(strstr(err.message, "connect"));
  ks_smtp_free(c);
}

/* ---- The sender threads. ---- */

typedef kt_server fixture;

static int outbox_setup(void **state) {
  fake_setup(state);
  fixture *f = test_calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(kt_server_open(f, "ks_outbox", NULL), KF_OK);
  *state = f;
  return 0;
}

/* The sent logs' files go with the database's. */
static int outbox_teardown(void **state) {
  fixture *f = *state;
  for (int i = 0; i < KS_OUTBOX_SENDERS_MAX; i++) {
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t j = 0; j < 3; j++) {
      char p[192];
      if (kf_str_format(p, sizeof p, "%s" KS_OUTBOX_SENT_LOG_SUFFIX "-%d%s", f->path, i,
                        suffixes[j]) == KF_OK)
        (void)unlink(p);
    }
  }
  kt_server_close(f);
  test_free(f);
  return fake_teardown(state);
}

/* Store one mail to `to` whose body names n, as a registration's transaction would. */
static void enqueue(fixture *f, const char *to, int n) {
  char id[64], raw[256];
  assert_int_equal(kf_str_format(id, sizeof id, "m%d@example.de", n), KF_OK);
  assert_int_equal(kf_str_format(raw, sizeof raw, "Message-ID: <%s>\r\n\r\nmail %d\r\n", id, n),
                   KF_OK);
  char from[] = "kontoservice@example.de";
  char rcpt[128];
  assert_int_equal(kf_str_copy(rcpt, sizeof rcpt, to), KF_OK);
  ks_outbox_mail m = {id, from, rcpt, raw, strlen(raw)};
  sqlite3 *conn = NULL;
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(ks_db_conn(f->srv.db, &conn, &err), KF_OK);
  assert_int_equal(ks_outbox_insert(conn, &m, 1, &err), KF_OK);
}

static ks_outbox *outbox_start(fixture *f, int senders) {
  char url[64];
  assert_int_equal(kf_str_format(url, sizeof url, "smtp://127.0.0.1:%u", fake.port), KF_OK);
  ks_outbox *ob = NULL;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = ks_outbox_start(f->srv.db, url, senders, &ob, &err);
  if (rc != KF_OK)
    fail_msg("ks_outbox_start: %s", err.message);
  return ob;
}

static int64_t scalar(fixture *f, const char *sql) {
  int64_t v = 0;
  assert_int_equal(kt_server_scalar(f, sql, &v, NULL), KF_OK);
  return v;
}

static void test_outbox_pipelines_a_batch(void **state) {
  fixture *f = *state;
  fake_start();
  for (int i = 1; i <= 3; i++)
    enqueue(f, "max@example.de", i);
  ks_outbox *ob = outbox_start(f, 1);
  fake_wait(&fake.nmsgs, 3);
  ks_outbox_free(ob);
  fake_stop();
  assert_int_equal(fake.accepts, 1);
  assert_int_equal(fake.nmsgs, 3);
  /* The envelopes of mails 2 and 3 travelled with the final dots of 1 and 2. */
  assert_int_equal(fake.early, 2);
  assert_int_equal(fake.aborted, 0);
  for (int i = 0; i < 3; i++) {
    char want[32];
    assert_int_equal(kf_str_format(want, sizeof want, "mail %d\r\n", i + 1), KF_OK);
    assert_non_null(strstr(fake.msgs[i].body, want));
  }
  assert_int_equal(scalar(f, "SELECT count(*) FROM outbox WHERE sent_at IS NULL"), 0);
  assert_int_equal(scalar(f, "SELECT count(*) FROM outbox WHERE attempts = 1"), 3);
}

/* Mails are numbered in the order they were written; each recipient's must arrive in it. */
static void test_outbox_senders_keep_each_recipients_order(void **state) {
  fixture *f = *state;
  fake_start();
  static const char *const rcpts[] = {"a@example.de", "b@example.de", "c@example.de",
                                      "d@example.de", "e@example.de"};
  enum { NR = sizeof rcpts / sizeof rcpts[0], PER = 6 };
  for (int i = 0; i < NR * PER; i++)
    enqueue(f, rcpts[i % NR], i);
  ks_outbox *ob = outbox_start(f, 3);
  fake_wait(&fake.nmsgs, NR * PER);
  ks_outbox_free(ob);
  fake_stop();
  assert_int_equal(fake.nmsgs, NR * PER);
  assert_true(fake.accepts >= 2); /* More than one sender had work: the hash spreads them. */
  for (int r = 0; r < NR; r++) {
    int last = -1;
    for (int i = 0; i < fake.nmsgs; i++) {
      if (strcmp(fake.msgs[i].rcpt, rcpts[r]) != 0)
        continue;
      const char *p = strstr(fake.msgs[i].body, "mail ");
      assert_non_null(p);
      int n = (int)strtol(p + 5, NULL, 10);
      assert_true(n > last);
      last = n;
    }
  }
  assert_int_equal(scalar(f, "SELECT count(*) FROM outbox WHERE sent_at IS NULL"), 0);
}

/*
 * A start with fewer senders than the last run: the marks in the sent log of
 * a sender that no longer runs (left by a crash) count, so that mail is not
 * sent again.
 */
static void test_outbox_folds_a_stray_sent_log(void **state) {
  fixture *f = *state;
  fake_start();
  enqueue(f, "max@example.de", 1);
  enqueue(f, "max@example.de", 2);
  char path[192];
  assert_int_equal(
      kf_str_format(path, sizeof path, "%s" KS_OUTBOX_SENT_LOG_SUFFIX "-%d", f->path, 5), KF_OK);
  sqlite3 *log = NULL;
  assert_int_equal(sqlite3_open(path, &log), SQLITE_OK);
  assert_int_equal(sqlite3_exec(log,
                                "CREATE TABLE sent (id INTEGER PRIMARY KEY, sent_at INTEGER NOT "
                                "NULL); INSERT INTO sent VALUES (1, 1234)",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(log);
  ks_outbox *ob = outbox_start(f, 1);
  fake_wait(&fake.nmsgs, 1);
  ks_outbox_free(ob);
  fake_stop();
  assert_int_equal(fake.nmsgs, 1);
  assert_non_null(strstr(fake.msgs[0].body, "mail 2\r\n"));
  assert_int_equal(scalar(f, "SELECT sent_at FROM outbox WHERE id = 1"), 1234);
  assert_int_equal(scalar(f, "SELECT count(*) FROM outbox WHERE sent_at IS NULL"), 0);
}

static void test_outbox_refuses_bad_configuration(void **state) {
  fixture *f = *state;
  ks_outbox *ob = NULL;
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(ks_outbox_start(f->srv.db, "smtps://127.0.0.1:465", 1, &ob, &err),
                   KF_ERR_INVALID);
  assert_null(ob);
  assert_int_equal(ks_outbox_start(f->srv.db, "smtp://127.0.0.1:25", 0, &ob, &err), KF_ERR_INVALID);
  assert_int_equal(
      ks_outbox_start(f->srv.db, "smtp://127.0.0.1:25", KS_OUTBOX_SENDERS_MAX + 1, &ob, &err),
      KF_ERR_INVALID);
  assert_null(ob);
}

int main(void) {
  kf_log_setup("test_server_outbox", KF_LOG_OFF);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_smtp_pipelines_the_next_envelope, fake_setup,
                                      fake_teardown),
      cmocka_unit_test_setup_teardown(test_smtp_one_command_at_a_time_without_pipelining,
                                      fake_setup, fake_teardown),
      cmocka_unit_test_setup_teardown(test_smtp_dot_stuffing, fake_setup, fake_teardown),
      cmocka_unit_test_setup_teardown(test_smtp_rejection_ends_the_session, fake_setup,
                                      fake_teardown),
      cmocka_unit_test_setup_teardown(test_smtp_rejected_message_drops_the_announced, fake_setup,
                                      fake_teardown),
      cmocka_unit_test_setup_teardown(test_smtp_unused_announcement_gets_no_body, fake_setup,
                                      fake_teardown),
      cmocka_unit_test_setup_teardown(test_smtp_replaces_a_closed_session, fake_setup,
                                      fake_teardown),
      cmocka_unit_test_setup_teardown(test_smtp_stop_grace, fake_setup, fake_teardown),
      cmocka_unit_test_setup_teardown(test_smtp_refuses_an_overlong_reply_line, fake_setup,
                                      fake_teardown),
      cmocka_unit_test(test_smtp_urls),
      cmocka_unit_test_setup_teardown(test_smtp_refuses_bad_addresses_and_dead_peers, fake_setup,
                                      fake_teardown),
      cmocka_unit_test_setup_teardown(test_outbox_pipelines_a_batch, outbox_setup, outbox_teardown),
      cmocka_unit_test_setup_teardown(test_outbox_senders_keep_each_recipients_order, outbox_setup,
                                      outbox_teardown),
      cmocka_unit_test_setup_teardown(test_outbox_folds_a_stray_sent_log, outbox_setup,
                                      outbox_teardown),
      cmocka_unit_test_setup_teardown(test_outbox_refuses_bad_configuration, outbox_setup,
                                      outbox_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
