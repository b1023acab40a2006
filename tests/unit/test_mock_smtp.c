/*
 * test_mock_smtp.c: konform-mail's SMTP listener against slow clients, over
 * real loopback sockets. Trickling peers (a byte now and then, never a whole
 * line) must neither keep a normal session from being served nor hold a
 * session longer than the total deadline for a command line or for DATA,
 * which, unlike the idle timeout, no byte restarts.
 *
 * Last, several clients at once into the real store, each reading its mails
 * back (and so decoding them) while the others send: the case that
 * ThreadSanitizer once found racing inside GLib's time zones.
 *
 * The peers come from other loopback addresses (127.0.0.2, ...; Linux routes
 * all of 127/8 to lo) so the per-address cap can be seen at work. The
 * figures are printed; the asserts are on service with a generous bound, not
 * on speed.
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
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kf/error.h"
#include "kf/log.h"
#include "kf/mailbox.h"
#include "kf/str.h"
#include "km_listener.h"
#include "km_mime.h"
#include "km_smtp.h"
#include "km_store.h"

#define TRICKLERS 64
/* Over the 256 sessions, and within 1024 descriptors for both ends in one process. */
#define TRICKLERS_MAX 300
/* A normal session must be served within this, whatever the tricklers do. */
#define SERVICE_BOUND_MS 2000
#define TRICKLE_EVERY_MS 50

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Deliveries, counted from session threads. */
typedef struct counter {
  pthread_mutex_t lock;
  unsigned calls;
} counter;

static kf_rc count_deliver(void *ctx, const km_smtp_envelope *env, const char *data, size_t len,
                           int64_t *id_out) {
  (void)env;
  (void)data;
  (void)len;
  counter *c = ctx;
  pthread_mutex_lock(&c->lock);
  *id_out = ++c->calls;
  pthread_mutex_unlock(&c->lock);
  return KF_OK;
}

static km_listener *start(km_listener_config *cfg, counter *c) {
  pthread_mutex_init(&c->lock, NULL);
  c->calls = 0;
  cfg->smtp.hostname = "mx.test";
  km_listener *l = NULL;
  kf_err err;
  kf_err_init(&err);
  if (km_listener_new(cfg, count_deliver, NULL, c, &l, &err) != KF_OK ||
      km_listener_start(l, &err) != KF_OK)
    fail_msg("listener: %s", err.message);
  return l;
}

/* A connection from the loopback address from (127.0.0.x) to port. */
static int connect_from(const char *from, unsigned port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in src = {.sin_family = AF_INET};
  assert_int_equal(inet_pton(AF_INET, from, &src.sin_addr), 1);
  assert_int_equal(bind(fd, (struct sockaddr *)&src, sizeof(src)), 0);
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr), 1);
  assert_int_equal(connect(fd, (struct sockaddr *)&dst, sizeof(dst)), 0);
  return fd;
}

/*
 * Read into buf until it holds want (or, want NULL, until the peer closes),
 * waiting at most limit_ms in all. Returns whether want was seen.
 */
static bool read_for(int fd, char *buf, size_t size, const char *want, int64_t limit_ms) {
  size_t len = strlen(buf);
  int64_t end = now_ms() + limit_ms;
  while (!(want && strstr(buf, want)) && len + 1 < size) {
    int64_t left = end - now_ms();
    if (left <= 0)
      return false;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, (int)left) <= 0)
      return false;
    ssize_t n = recv(fd, buf + len, size - 1 - len, 0);
    if (n <= 0)
      return want == NULL;
    len += (size_t)n;
    buf[len] = '\0';
  }
  return want == NULL || strstr(buf, want) != NULL;
}

static void send_text(int fd, const char *text) {
  size_t len = strlen(text);
  assert_int_equal(send(fd, text, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* The tricklers: one byte to each open session every TRICKLE_EVERY_MS until stop. */
typedef struct trickle {
  int fds[TRICKLERS_MAX];
  size_t len;
  volatile bool stop;
  pthread_mutex_t lock;
  pthread_cond_t stopped;
} trickle;

static void *trickle_main(void *arg) {
  trickle *t = arg;
  pthread_mutex_lock(&t->lock);
  while (!t->stop) {
    for (size_t i = 0; i < t->len; i++)
      (void)send(t->fds[i], "x", 1, MSG_NOSIGNAL);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += TRICKLE_EVERY_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    (void)pthread_cond_timedwait(&t->stopped, &t->lock, &until);
  }
  pthread_mutex_unlock(&t->lock);
  return NULL;
}

/*
 * Open n sessions, the i-th from address_of(i), and start each on a command
 * line it never ends. Returns how many were refused with 421 4.3.2.
 */
static unsigned trickle_open(trickle *t, unsigned n, unsigned port,
                             void (*address_of)(unsigned, char *)) {
  unsigned refused = 0;
  t->len = 0;
  for (unsigned i = 0; i < n; i++) {
    char from[INET_ADDRSTRLEN];
    address_of(i, from);
    int fd = connect_from(from, port);
    char buf[512] = "";
    assert_true(read_for(fd, buf, sizeof(buf), "\r\n", SERVICE_BOUND_MS));
    if (strncmp(buf, "421 4.3.2 ", 10) == 0) {
      refused++;
      close(fd);
      continue;
    }
    assert_true(strncmp(buf, "220 ", 4) == 0);
    send_text(fd, "EHLO ");
    t->fds[t->len++] = fd;
  }
  t->stop = false;
  pthread_mutex_init(&t->lock, NULL);
  pthread_cond_init(&t->stopped, NULL);
  return refused;
}

static void trickle_close(trickle *t) {
  for (size_t i = 0; i < t->len; i++)
    close(t->fds[i]);
  pthread_mutex_destroy(&t->lock);
  pthread_cond_destroy(&t->stopped);
}

/*
 * A whole normal session from 127.0.0.1: its time in ms, or fail. A client
 * refused with 421 4.3.2 tries again (after 20 ms), as an MTA would; that
 * time counts.
 */
static int64_t normal_session(unsigned port) {
  int64_t t0 = now_ms();
  int fd = -1;
  char buf[4096] = "";
  while (fd < 0 && now_ms() - t0 < SERVICE_BOUND_MS) {
    fd = connect_from("127.0.0.1", port);
    buf[0] = '\0';
    if (!read_for(fd, buf, sizeof(buf), "\r\n", SERVICE_BOUND_MS) ||
        strncmp(buf, "421 4.3.2 ", 10) == 0) {
      close(fd);
      fd = -1;
      struct pollfd none = {.fd = -1};
      (void)poll(&none, 1, 20);
    }
  }
  if (fd < 0 || !strstr(buf, "220 mx.test"))
    fail_msg("no greeting within %d ms: %s", SERVICE_BOUND_MS, buf);
  send_text(fd, "EHLO client.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n"
                "Subject: s\r\n\r\nbody\r\n.\r\nQUIT\r\n");
  if (!read_for(fd, buf, sizeof(buf), "221 2.0.0", SERVICE_BOUND_MS))
    fail_msg("session not served within %d ms: %s", SERVICE_BOUND_MS, buf);
  assert_non_null(strstr(buf, "250 2.0.0 OK: queued as"));
  close(fd);
  return now_ms() - t0;
}

/*
 * Trickle n sessions from address_of, then serve normal sessions beside them;
 * returns how many tricklers were refused. evict_after_ms short, so the
 * tricklers are stale soon (in an attack they have been there for long).
 */
static unsigned serve_beside_tricklers(unsigned n, void (*address_of)(unsigned, char *),
                                       const char *what) {
  counter c;
  km_listener_config cfg;
  km_listener_config_init(&cfg);
  cfg.evict_after_ms = 100;
  km_listener *l = start(&cfg, &c);
  trickle t;
  unsigned refused = trickle_open(&t, n, km_listener_port(l), address_of);
  pthread_t tid;
  assert_int_equal(pthread_create(&tid, NULL, trickle_main, &t), 0);
  int64_t worst = 0;
  for (int i = 0; i < 5; i++) {
    int64_t ms = normal_session(km_listener_port(l));
    worst = ms > worst ? ms : worst;
  }
  printf("# %s: %u trickling sessions open, %u refused; a normal session took at most %lld ms "
         "(5 runs)\n",
         what, (unsigned)t.len, refused, (long long)worst);
  pthread_mutex_lock(&t.lock);
  t.stop = true;
  pthread_cond_signal(&t.stopped);
  pthread_mutex_unlock(&t.lock);
  pthread_join(tid, NULL);
  assert_int_equal(c.calls, 5);
  km_listener_free(l);
  trickle_close(&t);
  pthread_mutex_destroy(&c.lock);
  return refused;
}

static void one_address(unsigned i, char *out) {
  (void)i;
  (void)kf_str_copy(out, INET_ADDRSTRLEN, "127.0.0.2");
}

static void many_addresses(unsigned i, char *out) {
  (void)kf_str_format(out, INET_ADDRSTRLEN, "127.0.%u.%u", 1 + i / 200, 10 + i % 200);
}

static void normal_address(unsigned i, char *out) {
  (void)i;
  (void)kf_str_copy(out, INET_ADDRSTRLEN, "127.0.0.1");
}

/* 64 trickling sessions from one address: 8 get in (the per-address cap), the rest 421. */
static void test_tricklers_one_address(void **state) {
  (void)state;
  assert_int_equal(serve_beside_tricklers(TRICKLERS, one_address, "one address"), TRICKLERS - 8);
}

/* 64 trickling sessions from 64 addresses all get in, and a normal one is still served. */
static void test_tricklers_many_addresses(void **state) {
  (void)state;
  assert_int_equal(serve_beside_tricklers(TRICKLERS, many_addresses, "64 addresses"), 0);
}

/*
 * 64 tricklers from the normal client's own address (everything on loopback
 * is 127.0.0.1): the cap alone would refuse the normal client, so the
 * stalest trickler makes room for it.
 */
static void test_tricklers_same_address(void **state) {
  (void)state;
  assert_int_equal(serve_beside_tricklers(TRICKLERS, normal_address, "the client's own address"),
                   TRICKLERS - 8);
}

/* 300 tricklers from 300 addresses: more than the 256 sessions; stale ones make room. */
static void test_tricklers_over_the_cap(void **state) {
  (void)state;
  /* Opening 300 takes longer than 100 ms, so later ones may already push out earlier ones. */
  assert_true(serve_beside_tricklers(TRICKLERS_MAX, many_addresses, "300 addresses") <=
              TRICKLERS_MAX - 256);
}

/*
 * A peer that sends a byte every 50 ms never goes idle, but its command line
 * (or its DATA) has a total deadline: 421 4.4.2 once it passed. Before, only
 * the idle timeout applied in practice (5 minutes a line).
 */
static void test_total_deadlines(void **state) {
  (void)state;
  counter c;
  km_listener_config cfg;
  km_listener_config_init(&cfg);
  cfg.smtp.command_timeout_ms = 300;
  cfg.smtp.data_timeout_ms = 400;
  km_listener *l = start(&cfg, &c);
  static const struct {
    const char *start, *trickle, *reply;
    int64_t deadline;
  } cases[] = {
      {"", "x", "421 4.4.2 mx.test Command line took too long", 300},
      {"EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n", "line\r\n",
       "421 4.4.2 mx.test DATA took too long", 400},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int fd = connect_from("127.0.0.3", km_listener_port(l));
    char buf[4096] = "";
    assert_true(read_for(fd, buf, sizeof(buf), "220 ", SERVICE_BOUND_MS));
    send_text(fd, cases[i].start);
    int64_t t0 = now_ms();
    bool got = false;
    while (!got && now_ms() - t0 < SERVICE_BOUND_MS) {
      (void)send(fd, cases[i].trickle, strlen(cases[i].trickle), MSG_NOSIGNAL);
      got = read_for(fd, buf, sizeof(buf), cases[i].reply, TRICKLE_EVERY_MS);
    }
    int64_t took = now_ms() - t0;
    printf("# trickling %s: closed after %lld ms (deadline %lld ms)\n", i ? "DATA" : "a command",
           (long long)took, (long long)cases[i].deadline);
    if (!got)
      fail_msg("no %s within %d ms: %s", cases[i].reply, SERVICE_BOUND_MS, buf);
    assert_true(took >= cases[i].deadline - TRICKLE_EVERY_MS);
    close(fd);
  }
  assert_int_equal(c.calls, 0);
  km_listener_free(l);
  pthread_mutex_destroy(&c.lock);
}

/* ---- Stopping while a message is being stored. ---- */

/* A deliver function that holds its batch until the test lets it go. */
typedef struct held {
  pthread_mutex_t lock;
  pthread_cond_t changed;
  bool entered;
  bool release;
} held;

static void held_deliver(void *ctx, km_delivery *const *msgs, size_t n) {
  held *h = ctx;
  pthread_mutex_lock(&h->lock);
  h->entered = true;
  pthread_cond_broadcast(&h->changed);
  while (!h->release)
    pthread_cond_wait(&h->changed, &h->lock);
  pthread_mutex_unlock(&h->lock);
  for (size_t i = 0; i < n; i++) {
    msgs[i]->rc = KF_OK;
    msgs[i]->id = 7;
  }
}

static void *stop_main(void *arg) {
  km_listener_stop(arg);
  return NULL;
}

/*
 * A stop while a message is with the deliver function waits for its verdict:
 * the client gets the 250 and then 421 4.3.2, never a 421 for a mail that
 * was stored. (Whether the NOOP pipelined after the dot is answered first
 * depends on whether the loop saw the stop before the verdict came.)
 */
static void test_stop_waits_for_verdict(void **state) {
  (void)state;
  held h = {.entered = false};
  pthread_mutex_init(&h.lock, NULL);
  pthread_cond_init(&h.changed, NULL);
  km_listener_config cfg;
  km_listener_config_init(&cfg);
  cfg.smtp.hostname = "mx.test";
  km_listener *l = NULL;
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(km_listener_new(&cfg, NULL, held_deliver, &h, &l, &err), KF_OK);
  assert_int_equal(km_listener_start(l, &err), KF_OK);
  int fd = connect_from("127.0.0.1", km_listener_port(l));
  char buf[4096] = "";
  assert_true(read_for(fd, buf, sizeof(buf), "220 ", SERVICE_BOUND_MS));
  send_text(fd, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n"
                "Subject: s\r\n\r\nbody\r\n.\r\nNOOP\r\n");
  pthread_mutex_lock(&h.lock);
  while (!h.entered)
    pthread_cond_wait(&h.changed, &h.lock);
  pthread_mutex_unlock(&h.lock);
  pthread_t stopper;
  assert_int_equal(pthread_create(&stopper, NULL, stop_main, l), 0);
  /* The stop cannot end before the verdict; let the deliver function go. */
  pthread_mutex_lock(&h.lock);
  h.release = true;
  pthread_cond_broadcast(&h.changed);
  pthread_mutex_unlock(&h.lock);
  assert_int_equal(pthread_join(stopper, NULL), 0);
  assert_true(read_for(fd, buf, sizeof(buf), NULL, SERVICE_BOUND_MS));
  const char *stored = strstr(buf, "250 2.0.0 OK: queued as 7\r\n");
  assert_non_null(stored);
  assert_non_null(strstr(stored, "421 4.3.2 mx.test Service shutting down\r\n"));
  close(fd);
  km_listener_free(l);
  pthread_mutex_destroy(&h.lock);
  pthread_cond_destroy(&h.changed);
}

/* ---- Concurrent clients into the real store. ---- */

#define STORE_CLIENTS 4
#define STORE_MAILS 50

typedef struct store_client {
  unsigned port;
  unsigned index;
  kf_mailbox *mb;
  unsigned stored; /* Mails answered 250 and read back whole. */
} store_client;

/*
 * Zones that the Date fields name, so decoding creates and frees GLib time
 * zones; few, so that two threads often want the same one at once (GLib
 * keeps a zone in a shared table while anyone holds it).
 */
static const char *const store_zones[] = {"+0100", "+0000 (UTC)", "GMT", "-0500"};
#define STORE_ZONES (sizeof(store_zones) / sizeof(store_zones[0]))

/* Read from fd into buf until it holds a whole line starting with prefix: that line, or NULL. */
static const char *read_line_starting(int fd, char *buf, size_t size, const char *prefix) {
  size_t len = strlen(buf);
  int64_t end = now_ms() + SERVICE_BOUND_MS;
  for (;;) {
    const char *at = strstr(buf, prefix);
    if (at != NULL && strstr(at, "\r\n") != NULL)
      return at;
    int64_t left = end - now_ms();
    if (left <= 0 || len + 1 >= size)
      return NULL;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, (int)left) <= 0)
      return NULL;
    ssize_t n = recv(fd, buf + len, size - 1 - len, 0);
    if (n <= 0)
      return NULL;
    len += (size_t)n;
    buf[len] = '\0';
  }
}

/* Send one mail of c on fd and read its 250; the stored id, or 0. */
static int64_t store_send(const store_client *c, int fd, unsigned i) {
  char text[1024];
  const char *zone = store_zones[(c->index * STORE_MAILS + i) % STORE_ZONES];
  if (kf_str_format(text, sizeof(text),
                    "MAIL FROM:<c%u@b.test>\r\nRCPT TO:<to%u@y.test>\r\nDATA\r\n"
                    "From: c%u@b.test\r\nDate: Sat, 28 Mar 2026 10:%02u:00 %s\r\n"
                    "Message-Id: <%u.%u@b.test>\r\nSubject: mail %u.%u\r\n\r\nbody %u\r\n.\r\n",
                    c->index, c->index, c->index, i % 60, zone, c->index, i, c->index, i,
                    i) != KF_OK ||
      send(fd, text, strlen(text), MSG_NOSIGNAL) != (ssize_t)strlen(text))
    return 0;
  /* The four replies of the pipelined group; the last one names the id. */
  char buf[1024] = "";
  const char *queued = read_line_starting(fd, buf, sizeof(buf), "250 2.0.0 OK: queued as ");
  if (queued == NULL)
    return 0;
  long long id = 0;
  const char *p = queued + strlen("250 2.0.0 OK: queued as ");
  char digits[24] = "";
  size_t n = strspn(p, "0123456789");
  if (n == 0 || n >= sizeof(digits))
    return 0;
  memcpy(digits, p, n);
  return kf_str_to_llong(digits, 1, INT64_MAX, &id) == KF_OK ? id : 0;
}

/* Read mail id back: the whole document, decoded in this thread. */
static bool store_read_back(const store_client *c, int64_t id, unsigned i) {
  json_t *doc = NULL;
  if (kf_mailbox_get(c->mb, id, &doc, NULL) != KF_OK)
    return false;
  char subject[64];
  bool ok = kf_str_format(subject, sizeof(subject), "mail %u.%u", c->index, i) == KF_OK &&
            json_is_true(json_object_get(doc, "mime_valid")) &&
            strcmp(json_string_value(json_object_get(doc, "subject")), subject) == 0 &&
            json_string_value(json_object_get(doc, "date")) != NULL &&
            strstr(json_string_value(json_object_get(doc, "date")),
                   store_zones[(c->index * STORE_MAILS + i) % STORE_ZONES]) != NULL;
  json_decref(doc);
  return ok;
}

static void *store_client_main(void *arg) {
  store_client *c = arg;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
  (void)inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  char buf[1024] = "";
  if (fd < 0 || connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0 ||
      !read_for(fd, buf, sizeof(buf), "220 ", SERVICE_BOUND_MS) ||
      send(fd, "EHLO c\r\n", 8, MSG_NOSIGNAL) != 8 ||
      !read_for(fd, buf, sizeof(buf), "250 ENHANCEDSTATUSCODES", SERVICE_BOUND_MS)) {
    if (fd >= 0)
      close(fd);
    return NULL;
  }
  for (unsigned i = 0; i < STORE_MAILS; i++) {
    int64_t id = store_send(c, fd, i);
    if (id > 0 && store_read_back(c, id, i))
      c->stored++;
  }
  (void)send(fd, "QUIT\r\n", 6, MSG_NOSIGNAL);
  close(fd);
  return NULL;
}

/*
 * Several SMTP clients at once into konform-mail's store (km_store,
 * kf_mailbox, km_mime), each reading every mail back as soon as it was
 * answered: every mail is stored once, committed before its 250, and
 * decoded whole in the reading thread while the others arrive and decode
 * theirs. The Date fields name different zones, so GMime's date parsing
 * creates and frees GLib time zones in several threads at once; under
 * ThreadSanitizer (make SAN=thread) this test is what shows that decoding
 * in parallel has no data race.
 */
static void test_concurrent_store(void **state) {
  (void)state;
  km_mime_global_init();
  kf_mailbox *mb = NULL;
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kf_mailbox_open(NULL, "messages", KM_STORE_MAX_ITEMS, &mb, &err), KF_OK);
  km_store_setup(mb);
  km_listener_config cfg;
  km_listener_config_init(&cfg);
  cfg.smtp.hostname = "mx.test";
  km_listener *l = NULL;
  assert_int_equal(km_listener_new(&cfg, NULL, km_store_deliver_all, mb, &l, &err), KF_OK);
  assert_int_equal(km_listener_start(l, &err), KF_OK);
  store_client clients[STORE_CLIENTS];
  pthread_t th[STORE_CLIENTS];
  for (unsigned i = 0; i < STORE_CLIENTS; i++) {
    clients[i] = (store_client){.port = km_listener_port(l), .index = i, .mb = mb};
    assert_int_equal(pthread_create(&th[i], NULL, store_client_main, &clients[i]), 0);
  }
  for (unsigned i = 0; i < STORE_CLIENTS; i++) {
    assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(clients[i].stored, STORE_MAILS);
  }
  assert_int_equal(kf_mailbox_count(mb), STORE_CLIENTS * STORE_MAILS);
  km_listener_free(l);
  kf_mailbox_free(mb);
  km_mime_global_shutdown();
}

int main(void) {
  /* 56 refusals a run would bury the figures. */
  kf_log_setup("test_mock_smtp", KF_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tricklers_one_address),
      cmocka_unit_test(test_tricklers_many_addresses),
      cmocka_unit_test(test_tricklers_same_address),
      cmocka_unit_test(test_tricklers_over_the_cap),
      cmocka_unit_test(test_total_deadlines),
      cmocka_unit_test(test_stop_waits_for_verdict),
      cmocka_unit_test(test_concurrent_store),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
