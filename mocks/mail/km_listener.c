/*
 * km_listener.c: sockets around the SMTP engine (see km_listener.h).
 *
 * The loop thread owns every session and every socket; nothing it touches is
 * shared but the delivery queue. A session whose engine holds a complete
 * message (km_smtp_awaiting) is handed to the delivery thread, which reads
 * that message and writes the verdict into the session's km_delivery and
 * nothing else; until the session comes back (the wake pipe), the loop
 * neither reads from it nor ends it, so the borrowed bytes stay valid.
 *
 * A thread per session cost a thread start and exit per connection and a
 * wake-up of its own thread for every command; one poll() over all sessions
 * serves whatever is ready in one pass, and the store commits the messages of
 * all sessions that finished one meanwhile in one transaction.
 */
#include "km_listener.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/log.h"
#include "kf/str.h"

#define KM_LISTENER_DEFAULT_MAX_SESSIONS 256
#define KM_LISTENER_DEFAULT_MAX_PER_IP 8
#define KM_LISTENER_DEFAULT_EVICT_AFTER_MS 1000
#define KM_LISTENER_DEFAULT_TIMEOUT_S 60
/* An IPv6 address, or an IPv4 one, as bytes. */
#define KM_LISTENER_ADDR_MAX 16
/* Replies produced by one read; pipelined commands in one read stay far below. */
#define KM_LISTENER_OUT_MAX ((size_t)1024 * 1024)
/* What one recv takes; also the most input a session keeps while its message is delivered. */
#define KM_LISTENER_READ_CHUNK 16384
/* A peer must take our replies within this time, or the session ends. */
#define KM_LISTENER_SEND_TIMEOUT_MS 30000
#define KM_LISTENER_PEER_MAX 64
/* After running out of descriptors, accepting pauses this long. */
#define KM_LISTENER_ACCEPT_BACKOFF_MS 100
/* The stop pipe, the wake pipe and the listening socket come before the sessions in poll(). */
#define KM_LISTENER_FIXED_FDS 3

/* A peer's address without the port (IPv4-mapped IPv6 counts as IPv4). */
typedef struct km_peer_addr {
  unsigned char bytes[KM_LISTENER_ADDR_MAX];
  size_t len;
} km_peer_addr;

/*
 * One session, owned by the loop thread. progress_ms is when the session last
 * got a reply or began: a trickling peer never completes a line, so its
 * progress stays where it was.
 */
typedef struct km_conn {
  km_peer_addr addr;
  int fd;
  char peer[KM_LISTENER_PEER_MAX];
  km_smtp *smtp;
  kf_buf in;       /* Input the engine has not taken: it came after a message now delivered. */
  kf_buf out;      /* Replies not sent yet, from out_sent on. */
  size_t out_sent; /* Bytes of out already sent. */
  int64_t progress_ms;
  int64_t input_ms;      /* The last input or reply: the idle timeout runs from it. */
  int64_t send_since_ms; /* Since when out waits for the peer to take it; 0 = not waiting. */
  bool delivering;       /* With the delivery thread, which borrows the engine's message. */
  bool dead;             /* Ended; freed by the next sweep. */
  km_delivery delivery;
  struct km_conn *next; /* In the delivery queue or the list of verdicts. */
} km_conn;

struct km_listener {
  char *bind_address;
  unsigned port;
  unsigned max_sessions;
  unsigned max_per_ip;
  unsigned timeout_s;
  unsigned evict_after_ms;
  km_smtp_config smtp;
  char *hostname; /* Owned copy behind smtp.hostname. */
  km_smtp_deliver_fn deliver;
  km_listener_batch_fn deliver_batch;
  void *ctx;

  int listen_fd;
  /* Closing stop_w makes stop_r readable (EOF) for the loop. */
  int stop_r;
  int stop_w;
  /* The delivery thread writes a byte to wake_w when verdicts are waiting. */
  int wake_r;
  int wake_w;
  pthread_t loop_thread;
  pthread_t delivery_thread;
  bool started;
  bool stopped;

  /* Loop thread only. */
  km_conn **conns; /* The sessions, dense; dead ones until the sweep. */
  size_t conns_len;
  size_t conns_cap;     /* max_sessions plus room for those ended in one pass. */
  struct pollfd *pfds;  /* KM_LISTENER_FIXED_FDS, then one per polled session. */
  km_conn **polled;     /* The session of each pfds entry after the fixed ones. */
  int64_t accept_after; /* Accepting pauses until then (out of descriptors). */

  /* The delivery queue, shared with the delivery thread. */
  pthread_mutex_t lock;
  pthread_cond_t work;
  km_conn *todo; /* Sessions whose message waits for the deliver function. */
  km_conn **todo_tail;
  km_conn *done; /* Sessions whose verdict is in. */
  km_conn **done_tail;
  bool delivery_stop;
  km_delivery **batch; /* The delivery thread's array for one call, conns_cap long. */
};

void km_listener_config_init(km_listener_config *cfg) {
  assert(cfg != NULL);
  memset(cfg, 0, sizeof(*cfg));
  cfg->bind_address = "127.0.0.1";
  cfg->port = 0;
  cfg->max_sessions = KM_LISTENER_DEFAULT_MAX_SESSIONS;
  cfg->max_sessions_per_ip = KM_LISTENER_DEFAULT_MAX_PER_IP;
  cfg->evict_after_ms = KM_LISTENER_DEFAULT_EVICT_AFTER_MS;
  cfg->timeout_s = KM_LISTENER_DEFAULT_TIMEOUT_S;
  km_smtp_config_init(&cfg->smtp);
}

static void listener_free_storage(km_listener *l) {
  kf_free(l->bind_address);
  kf_free(l->hostname);
  kf_free(l->conns);
  kf_free(l->pfds);
  kf_free(l->polled);
  kf_free(l->batch);
  kf_free(l);
}

kf_rc km_listener_new(const km_listener_config *cfg, km_smtp_deliver_fn deliver,
                      km_listener_batch_fn deliver_batch, void *ctx, km_listener **out,
                      kf_err *err) {
  assert(cfg != NULL && (deliver != NULL || deliver_batch != NULL) && out != NULL);
  *out = NULL;
  km_listener *l = kf_calloc(1, sizeof(*l));
  if (l == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  l->listen_fd = l->stop_r = l->stop_w = l->wake_r = l->wake_w = -1;
  l->bind_address = kf_strdup(cfg->bind_address != NULL ? cfg->bind_address : "127.0.0.1");
  l->hostname = kf_strdup(cfg->smtp.hostname != NULL ? cfg->smtp.hostname : "localhost");
  l->max_sessions = cfg->max_sessions ? cfg->max_sessions : KM_LISTENER_DEFAULT_MAX_SESSIONS;
  l->max_per_ip =
      cfg->max_sessions_per_ip ? cfg->max_sessions_per_ip : KM_LISTENER_DEFAULT_MAX_PER_IP;
  l->evict_after_ms = cfg->evict_after_ms;
  /* A pass may end sessions and the accepts after it add new ones before the sweep. */
  l->conns_cap = (size_t)l->max_sessions * 2;
  l->conns = kf_calloc(l->conns_cap, sizeof(*l->conns));
  l->pfds = kf_calloc(l->conns_cap + KM_LISTENER_FIXED_FDS, sizeof(*l->pfds));
  l->polled = kf_calloc(l->conns_cap, sizeof(*l->polled));
  l->batch = kf_calloc(l->conns_cap, sizeof(*l->batch));
  if (l->bind_address == NULL || l->hostname == NULL || l->conns == NULL || l->pfds == NULL ||
      l->polled == NULL || l->batch == NULL) {
    listener_free_storage(l);
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  }
  l->port = cfg->port;
  l->timeout_s = cfg->timeout_s ? cfg->timeout_s : KM_LISTENER_DEFAULT_TIMEOUT_S;
  l->smtp = cfg->smtp;
  l->smtp.hostname = l->hostname;
  l->deliver = deliver;
  l->deliver_batch = deliver_batch;
  l->ctx = ctx;
  l->todo_tail = &l->todo;
  l->done_tail = &l->done;
  pthread_mutex_init(&l->lock, NULL);
  pthread_cond_init(&l->work, NULL);
  *out = l;
  return KF_OK;
}

unsigned km_listener_port(const km_listener *l) {
  assert(l != NULL);
  return l->port;
}

static bool listener_fd_setup(int fd, bool nonblocking) {
  int fdflags = fcntl(fd, F_GETFD);
  if (fdflags < 0 || fcntl(fd, F_SETFD, fdflags | FD_CLOEXEC) < 0)
    return false;
  if (!nonblocking)
    return true;
  int flags = fcntl(fd, F_GETFL);
  return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) >= 0;
}

/* Milliseconds of the monotonic clock, which wall-clock changes cannot move. */
static int64_t listener_now_ms(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
    return 0; /* Cannot happen for CLOCK_MONOTONIC on POSIX 2008 systems. */
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- One session. ---- */

/*
 * Send what is pending in c->out without blocking. All sent: progress (a
 * reply went out). Not all: c waits for POLLOUT. False when the socket failed.
 */
static bool conn_flush(km_conn *c, int64_t now) {
  while (c->out_sent < c->out.len) {
    ssize_t n = send(c->fd, c->out.data + c->out_sent, c->out.len - c->out_sent, MSG_NOSIGNAL);
    if (n > 0) {
      c->out_sent += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (c->send_since_ms == 0)
        c->send_since_ms = now;
      return true;
    }
    return false;
  }
  if (c->out.len > 0) {
    c->progress_ms = now;
    c->input_ms = now;
  }
  kf_buf_reset(&c->out);
  c->out_sent = 0;
  c->send_since_ms = 0;
  return true;
}

/* End c: whatever its engine said last goes out if the socket takes it at once. */
static void conn_end(km_conn *c, int64_t now) {
  assert(!c->delivering);
  if (!c->dead)
    (void)conn_flush(c, now);
  c->dead = true;
}

/* End c after the reply that reply_fn (an engine's closing reply) appends. */
static void conn_end_with(km_conn *c, kf_rc (*reply_fn)(km_smtp *, kf_buf *), int64_t now) {
  if (reply_fn(c->smtp, &c->out) != KF_OK)
    kf_buf_reset(&c->out);
  conn_end(c, now);
}

/* Queue c's complete message for the delivery thread. */
static void conn_hand_over(km_listener *l, km_conn *c) {
  km_delivery *d = &c->delivery;
  km_smtp_message(c->smtp, &d->env, &d->data, &d->len);
  d->rc = KF_ERR_INTERNAL;
  d->id = 0;
  c->delivering = true;
  c->next = NULL;
  pthread_mutex_lock(&l->lock);
  *l->todo_tail = c;
  l->todo_tail = &c->next;
  pthread_cond_signal(&l->work);
  pthread_mutex_unlock(&l->lock);
}

/*
 * Feed data (len bytes; it may be c->in itself) to c's engine. What a
 * message awaiting its verdict leaves is kept in c->in, and the session goes
 * to the delivery thread.
 */
static void conn_feed(km_listener *l, km_conn *c, const char *data, size_t len, int64_t now) {
  km_smtp_set_now(c->smtp, now);
  size_t used = 0;
  kf_rc rc = km_smtp_feed_some(c->smtp, data, len, &c->out, &used);
  size_t rest = len - used;
  if (data == c->in.data) {
    memmove(c->in.data, c->in.data + used, rest);
    c->in.len = rest;
  } else if (rc == KF_OK && rest > 0) {
    rc = kf_buf_append(&c->in, data + used, rest);
  }
  if (rc != KF_OK) {
    kf_warn("smtp session from %s: cannot answer (%s)", c->peer, kf_rc_name(rc));
    conn_end(c, now);
    return;
  }
  if (km_smtp_awaiting(c->smtp))
    conn_hand_over(l, c);
}

/* Flush c and end it when its engine has closed; the end of an I/O step. */
static void conn_after(km_conn *c, int64_t now) {
  if (c->dead || c->delivering)
    return;
  if (!conn_flush(c, now)) {
    c->dead = true;
    return;
  }
  if (km_smtp_closed(c->smtp) && c->out_sent == c->out.len)
    c->dead = true;
}

/* c's socket is readable (or hung up): take what arrived. */
static void conn_read(km_listener *l, km_conn *c, int64_t now) {
  char chunk[KM_LISTENER_READ_CHUNK];
  ssize_t n = recv(c->fd, chunk, sizeof(chunk), 0);
  if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
    return;
  if (n <= 0) {
    /* The peer closed the connection or it failed: nobody to answer. */
    c->dead = true;
    return;
  }
  c->input_ms = now;
  conn_feed(l, c, chunk, (size_t)n, now);
  conn_after(c, now);
}

/* The verdict on c's message is in: answer it and go on with what c sent after it. */
static void conn_verdict(km_listener *l, km_conn *c, bool stopping, int64_t now) {
  assert(c->delivering);
  c->delivering = false;
  if (km_smtp_delivered(c->smtp, c->delivery.rc, c->delivery.id, &c->out) != KF_OK) {
    conn_end(c, now);
    return;
  }
  if (stopping) {
    conn_end_with(c, km_smtp_shutdown, now);
    return;
  }
  if (c->in.len > 0)
    conn_feed(l, c, c->in.data, c->in.len, now);
  conn_after(c, now);
}

/*
 * The deadlines of c: an engine deadline or the idle timeout passed (421
 * 4.4.2), or the peer took no replies for too long. Returns the next
 * deadline of c (INT64_MAX for none).
 */
static int64_t conn_timers(km_listener *l, km_conn *c, int64_t now) {
  if (c->dead || c->delivering)
    return INT64_MAX;
  if (c->send_since_ms != 0) {
    int64_t until = c->send_since_ms + KM_LISTENER_SEND_TIMEOUT_MS;
    if (now < until)
      return until;
    kf_info("smtp session from %s: the peer takes no replies", c->peer);
    c->dead = true;
    return INT64_MAX;
  }
  int64_t deadline = km_smtp_deadline(c->smtp);
  if (now >= deadline) {
    kf_info("smtp session from %s: command or DATA deadline passed", c->peer);
    conn_end_with(c, km_smtp_deadline_passed, now);
    return INT64_MAX;
  }
  int64_t idle = c->input_ms + (int64_t)l->timeout_s * 1000;
  if (now >= idle) {
    kf_info("smtp session from %s: idle timeout", c->peer);
    conn_end_with(c, km_smtp_timeout, now);
    return INT64_MAX;
  }
  return deadline < idle ? deadline : idle;
}

static void conn_free(km_conn *c) {
  km_smtp_free(c->smtp);
  kf_buf_release(&c->in);
  kf_buf_release(&c->out);
  close(c->fd);
  kf_free(c);
}

/* Free the dead sessions, keeping the others dense. Loop thread, outside a pass. */
static void listener_sweep(km_listener *l) {
  size_t kept = 0;
  for (size_t i = 0; i < l->conns_len; i++) {
    km_conn *c = l->conns[i];
    if (c->dead) {
      kf_debug("smtp session from %s: end", c->peer);
      conn_free(c);
    } else {
      l->conns[kept++] = c;
    }
  }
  l->conns_len = kept;
}

/* ---- Admission. ---- */

/* Refuse a connection politely (best effort: a full socket just drops it). */
static void listener_refuse(km_listener *l, int fd) {
  kf_buf out;
  kf_buf_init(&out, 512);
  if (km_smtp_busy_reply(l->hostname, &out) == KF_OK) {
    ssize_t ignored = send(fd, out.data, out.len, MSG_NOSIGNAL);
    (void)ignored;
  }
  kf_buf_release(&out);
  close(fd);
}

/* The numeric peer address; never a DNS name, so no lookup can stall us. */
static void listener_peer_name(const struct sockaddr_storage *ss, char *out, size_t out_size) {
  char host[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
    port = ntohs(sin->sin_port);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
    port = ntohs(sin6->sin6_port);
  }
  if (kf_str_format(out, out_size, "%s:%u", host, port) != KF_OK)
    out[0] = '\0';
}

/* The address of a peer, without its port. */
static void listener_peer_addr(const struct sockaddr_storage *ss, km_peer_addr *out) {
  memset(out, 0, sizeof(*out));
  if (ss->ss_family == AF_INET) {
    memcpy(out->bytes, &((const struct sockaddr_in *)ss)->sin_addr, 4);
    out->len = 4;
  } else if (ss->ss_family == AF_INET6) {
    const unsigned char *b = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    bool v4 = memcmp(b, mapped, sizeof(mapped)) == 0;
    memcpy(out->bytes, v4 ? b + 12 : b, v4 ? 4 : 16);
    out->len = v4 ? 4 : 16;
  } else {
    /* Not IP (cannot happen on our sockets): all such peers share one count. */
    out->len = 1;
  }
}

static bool listener_addr_eq(const km_peer_addr *a, const km_peer_addr *b) {
  return a->len > 0 && a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
}

/*
 * Make room by ending the stalest session (the longest without a reply) of
 * addr, or of anyone when addr is NULL, if it has made no progress for
 * evict_after_ms: it gets 421 4.4.2 and is closed. A peer that completes its
 * commands is never the stalest for long, so trickling peers go first; a
 * session whose message is being stored is never chosen. False when none
 * qualifies.
 */
static bool listener_evict(km_listener *l, const km_peer_addr *addr, int64_t now) {
  if (l->evict_after_ms == 0)
    return false;
  km_conn *victim = NULL;
  for (size_t i = 0; i < l->conns_len; i++) {
    km_conn *c = l->conns[i];
    if (c->dead || c->delivering || (addr && !listener_addr_eq(&c->addr, addr)))
      continue;
    if (!victim || c->progress_ms < victim->progress_ms)
      victim = c;
  }
  if (!victim || now - victim->progress_ms < (int64_t)l->evict_after_ms)
    return false;
  kf_info("smtp session from %s: closed to make room for another", victim->peer);
  conn_end_with(victim, km_smtp_deadline_passed, now);
  listener_sweep(l);
  return true;
}

/*
 * Whether a peer at addr may have a session: NULL, or why not (all sessions
 * busy, or this address holds its share, and no stale session could make
 * room). The scans are over at most max_sessions sessions.
 */
static const char *listener_admit(km_listener *l, const km_peer_addr *addr, int64_t now) {
  unsigned same = 0;
  for (size_t i = 0; i < l->conns_len; i++)
    same += listener_addr_eq(&l->conns[i]->addr, addr);
  if (same >= l->max_per_ip && !listener_evict(l, addr, now))
    return "this address has its most sessions open";
  if (same < l->max_per_ip && l->conns_len >= l->max_sessions && !listener_evict(l, NULL, now))
    return "all sessions are busy";
  return NULL;
}

/* A new session on fd; false when there is no memory for it. */
static bool listener_open(km_listener *l, int fd, const km_peer_addr *addr, const char *peer,
                          int64_t now) {
  km_conn *c = kf_calloc(1, sizeof(*c));
  if (c == NULL || km_smtp_new(&l->smtp, NULL, NULL, &c->smtp) != KF_OK) {
    kf_free(c);
    return false;
  }
  c->fd = fd;
  c->addr = *addr;
  memcpy(c->peer, peer, sizeof(c->peer));
  c->progress_ms = now;
  c->input_ms = now;
  kf_buf_init(&c->in, KM_LISTENER_READ_CHUNK);
  kf_buf_init(&c->out, KM_LISTENER_OUT_MAX);
  assert(l->conns_len < l->conns_cap);
  l->conns[l->conns_len++] = c;
  kf_debug("smtp session from %s: start", peer);
  if (km_smtp_greeting(c->smtp, &c->out) != KF_OK)
    c->dead = true;
  conn_after(c, now);
  return true;
}

/* Accept one waiting connection; false when none is waiting (or accepting must pause). */
static bool listener_accept_one(km_listener *l, int64_t now) {
  struct sockaddr_storage ss;
  socklen_t ss_len = sizeof(ss);
  int fd = accept(l->listen_fd, (struct sockaddr *)&ss, &ss_len);
  if (fd < 0) {
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      /* Out of descriptors: the loop stops polling the socket for a moment. */
      kf_warn("smtp accept: %s", strerror(errno));
      l->accept_after = now + KM_LISTENER_ACCEPT_BACKOFF_MS;
      return false;
    }
    return errno == EINTR || errno == ECONNABORTED;
  }
  if (!listener_fd_setup(fd, true)) {
    close(fd);
    return true;
  }
  km_peer_addr addr;
  listener_peer_addr(&ss, &addr);
  char peer[KM_LISTENER_PEER_MAX];
  listener_peer_name(&ss, peer, sizeof(peer));
  const char *full = listener_admit(l, &addr, now);
  if (full) {
    kf_warn("smtp session from %s refused: %s", peer, full);
    listener_refuse(l, fd);
  } else if (!listener_open(l, fd, &addr, peer, now)) {
    kf_warn("smtp session from %s refused: out of memory", peer);
    listener_refuse(l, fd);
  }
  return true;
}

/* ---- The delivery thread. ---- */

/* Deliver the sessions' messages from first on: in one call, or one at a time. */
static void listener_deliver(km_listener *l, km_conn *first) {
  if (l->deliver_batch == NULL) {
    for (km_conn *c = first; c; c = c->next) {
      km_delivery *d = &c->delivery;
      d->rc = l->deliver(l->ctx, &d->env, d->data, d->len, &d->id);
    }
    return;
  }
  size_t n = 0;
  for (km_conn *c = first; c; c = c->next) {
    assert(n < l->conns_cap);
    l->batch[n++] = &c->delivery;
  }
  l->deliver_batch(l->ctx, l->batch, n);
}

static void *delivery_thread(void *arg) {
  km_listener *l = arg;
  pthread_mutex_lock(&l->lock);
  for (;;) {
    while (l->todo == NULL && !l->delivery_stop)
      pthread_cond_wait(&l->work, &l->lock);
    if (l->todo == NULL)
      break;
    km_conn *first = l->todo;
    l->todo = NULL;
    l->todo_tail = &l->todo;
    pthread_mutex_unlock(&l->lock);
    listener_deliver(l, first);
    pthread_mutex_lock(&l->lock);
    bool was_empty = l->done == NULL;
    *l->done_tail = first;
    while (*l->done_tail)
      l->done_tail = &(*l->done_tail)->next;
    /* One byte per time the list fills: the loop takes the whole list. */
    if (was_empty) {
      ssize_t ignored = write(l->wake_w, "v", 1);
      (void)ignored;
    }
  }
  pthread_mutex_unlock(&l->lock);
  return NULL;
}

/* Answer every session whose verdict is in. Loop thread. */
static void listener_verdicts(km_listener *l, bool stopping, int64_t now) {
  char drain[64];
  while (read(l->wake_r, drain, sizeof(drain)) > 0)
    continue;
  pthread_mutex_lock(&l->lock);
  km_conn *first = l->done;
  l->done = NULL;
  l->done_tail = &l->done;
  pthread_mutex_unlock(&l->lock);
  for (km_conn *c = first, *next; c; c = next) {
    next = c->next;
    c->next = NULL;
    conn_verdict(l, c, stopping, now);
  }
}

/* ---- The loop. ---- */

/*
 * Run every session's deadlines, then fill l->pfds; returns how many entries
 * and sets *timeout_ms to the time to the next deadline (-1 for none).
 */
static nfds_t listener_prepare(km_listener *l, bool stopping, int64_t now, int *timeout_ms) {
  int64_t next = INT64_MAX;
  for (size_t i = 0; i < l->conns_len; i++) {
    int64_t d = conn_timers(l, l->conns[i], now);
    next = d < next ? d : next;
  }
  listener_sweep(l);
  bool accepting = !stopping && now >= l->accept_after;
  if (!stopping && !accepting && l->accept_after < next)
    next = l->accept_after;
  l->pfds[0] = (struct pollfd){.fd = stopping ? -1 : l->stop_r, .events = POLLIN};
  l->pfds[1] = (struct pollfd){.fd = l->wake_r, .events = POLLIN};
  l->pfds[2] = (struct pollfd){.fd = accepting ? l->listen_fd : -1, .events = POLLIN};
  nfds_t n = KM_LISTENER_FIXED_FDS;
  for (size_t i = 0; i < l->conns_len; i++) {
    km_conn *c = l->conns[i];
    /* Pending replies first, and nothing from a session whose message is being stored. */
    if (c->delivering)
      continue;
    short events = c->out_sent < c->out.len ? POLLOUT : POLLIN;
    l->polled[n - KM_LISTENER_FIXED_FDS] = c;
    l->pfds[n++] = (struct pollfd){.fd = c->fd, .events = events};
  }
  *timeout_ms = -1;
  if (next != INT64_MAX)
    *timeout_ms = next - now > INT32_MAX ? INT32_MAX : (int)(next - now);
  return n;
}

/* The listener is stopping: every session not being delivered says 421 4.3.2 and ends. */
static void listener_stop_sessions(km_listener *l, int64_t now) {
  for (size_t i = 0; i < l->conns_len; i++) {
    km_conn *c = l->conns[i];
    if (!c->dead && !c->delivering)
      conn_end_with(c, km_smtp_shutdown, now);
  }
  listener_sweep(l);
}

static void *loop_thread(void *arg) {
  km_listener *l = arg;
  bool stopping = false;
  while (!stopping || l->conns_len > 0) {
    int timeout_ms = -1;
    nfds_t n = listener_prepare(l, stopping, listener_now_ms(), &timeout_ms);
    int r = poll(l->pfds, n, timeout_ms);
    if (r < 0 && errno != EINTR) {
      kf_error("smtp poll: %s", strerror(errno));
      break;
    }
    int64_t now = listener_now_ms();
    if (r <= 0)
      continue;
    if (l->pfds[1].revents != 0)
      listener_verdicts(l, stopping, now);
    if (l->pfds[0].revents != 0) {
      stopping = true;
      listener_stop_sessions(l, now);
      continue;
    }
    for (nfds_t i = KM_LISTENER_FIXED_FDS; i < n; i++) {
      km_conn *c = l->polled[i - KM_LISTENER_FIXED_FDS];
      short ev = l->pfds[i].revents;
      if (ev == 0 || c->dead || c->delivering)
        continue;
      if (ev & POLLOUT)
        conn_after(c, now);
      else
        conn_read(l, c, now);
    }
    listener_sweep(l);
    /* A burst of connections is taken in one go, up to what the cap could ever hold. */
    if (l->pfds[2].revents != 0) {
      for (unsigned k = 0; k < l->max_sessions && listener_accept_one(l, now); k++)
        continue;
    }
  }
  /* The delivery thread finishes what it has (nothing, unless poll failed) and ends. */
  pthread_mutex_lock(&l->lock);
  l->delivery_stop = true;
  pthread_cond_signal(&l->work);
  pthread_mutex_unlock(&l->lock);
  pthread_join(l->delivery_thread, NULL);
  /* Only after a failed poll are sessions left; none is borrowed any more. */
  for (size_t i = 0; i < l->conns_len; i++) {
    l->conns[i]->delivering = false;
    l->conns[i]->dead = true;
  }
  listener_sweep(l);
  return NULL;
}

/* ---- Start and stop. ---- */

/* Fill ss with the bind address; numeric only, so no name lookup happens. */
static kf_rc listener_bind_addr(km_listener *l, struct sockaddr_storage *ss, socklen_t *len,
                                kf_err *err) {
  memset(ss, 0, sizeof(*ss));
  const char *addr = l->bind_address;
  if (kf_str_eq_ci(addr, "localhost"))
    addr = "127.0.0.1";
  struct sockaddr_in *sin = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)l->port);
    *len = sizeof(*sin);
    return KF_OK;
  }
  if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t)l->port);
    *len = sizeof(*sin6);
    return KF_OK;
  }
  return kf_err_set(err, KF_ERR_INVALID, "--bind %s: not a numeric IPv4 or IPv6 address",
                    l->bind_address);
}

/* The stop pipe and the wake pipe; the wake pipe's read end does not block. */
static kf_rc listener_pipes(km_listener *l, kf_err *err) {
  int fds[2];
  if (pipe(fds) != 0)
    return kf_err_set(err, KF_ERR_IO, "pipe: %s", strerror(errno));
  l->stop_r = fds[0];
  l->stop_w = fds[1];
  if (pipe(fds) != 0)
    return kf_err_set(err, KF_ERR_IO, "pipe: %s", strerror(errno));
  l->wake_r = fds[0];
  l->wake_w = fds[1];
  if (!listener_fd_setup(l->stop_r, false) || !listener_fd_setup(l->stop_w, false) ||
      !listener_fd_setup(l->wake_r, true) || !listener_fd_setup(l->wake_w, false))
    return kf_err_set(err, KF_ERR_IO, "fcntl: %s", strerror(errno));
  return KF_OK;
}

/* Bind and listen on l->port (0: any), then read back the port bound. */
static kf_rc listener_listen(km_listener *l, kf_err *err) {
  struct sockaddr_storage ss;
  socklen_t ss_len = 0;
  kf_rc rc = listener_bind_addr(l, &ss, &ss_len, err);
  if (rc != KF_OK)
    return rc;
  l->listen_fd = socket(ss.ss_family, SOCK_STREAM, 0);
  if (l->listen_fd < 0)
    return kf_err_set(err, KF_ERR_IO, "socket: %s", strerror(errno));
  int one = 1;
  if (setsockopt(l->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      !listener_fd_setup(l->listen_fd, true)) {
    return kf_err_set(err, KF_ERR_IO, "socket options: %s", strerror(errno));
  }
  if (bind(l->listen_fd, (struct sockaddr *)&ss, ss_len) != 0) {
    return kf_err_set(err, KF_ERR_IO, "bind %s:%u: %s", l->bind_address, l->port, strerror(errno));
  }
  if (listen(l->listen_fd, 128) != 0)
    return kf_err_set(err, KF_ERR_IO, "listen: %s", strerror(errno));
  struct sockaddr_storage bound;
  socklen_t bound_len = sizeof(bound);
  if (getsockname(l->listen_fd, (struct sockaddr *)&bound, &bound_len) != 0) {
    return kf_err_set(err, KF_ERR_IO, "getsockname: %s", strerror(errno));
  }
  l->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&bound)->sin_port);
  return KF_OK;
}

kf_rc km_listener_start(km_listener *l, kf_err *err) {
  assert(l != NULL && !l->started);
  if (l->port > 65535)
    return kf_err_set(err, KF_ERR_INVALID, "SMTP port %u out of range", l->port);
  kf_rc rc = listener_pipes(l, err);
  if (rc == KF_OK)
    rc = listener_listen(l, err);
  if (rc != KF_OK)
    return rc;
  if (pthread_create(&l->delivery_thread, NULL, delivery_thread, l) != 0)
    return kf_err_set(err, KF_ERR_IO, "cannot start the SMTP delivery thread");
  if (pthread_create(&l->loop_thread, NULL, loop_thread, l) != 0) {
    pthread_mutex_lock(&l->lock);
    l->delivery_stop = true;
    pthread_cond_signal(&l->work);
    pthread_mutex_unlock(&l->lock);
    pthread_join(l->delivery_thread, NULL);
    return kf_err_set(err, KF_ERR_IO, "cannot start the SMTP thread");
  }
  l->started = true;
  return KF_OK;
}

void km_listener_stop(km_listener *l) {
  if (l == NULL || l->stopped)
    return;
  l->stopped = true;
  if (l->stop_w >= 0) {
    close(l->stop_w);
    l->stop_w = -1;
  }
  /* The loop says 421 to every session, lets the deliveries finish, and ends. */
  if (l->started)
    pthread_join(l->loop_thread, NULL);
  if (l->listen_fd >= 0) {
    close(l->listen_fd);
    l->listen_fd = -1;
  }
}

void km_listener_free(km_listener *l) {
  if (l == NULL)
    return;
  km_listener_stop(l);
  /* The loop frees every session before it ends; only it opens them. */
  assert(l->conns_len == 0);
  int fds[] = {l->stop_r, l->wake_r, l->wake_w};
  for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
    if (fds[i] >= 0)
      close(fds[i]);
  }
  pthread_mutex_destroy(&l->lock);
  pthread_cond_destroy(&l->work);
  listener_free_storage(l);
}
