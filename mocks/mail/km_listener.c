/*
 * km_listener.c: sockets and threads around the SMTP engine (see km_listener.h).
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
/* Replies produced by one read; pipelined commands in 4 KiB stay far below. */
#define KM_LISTENER_OUT_MAX ((size_t)1024 * 1024)
/* A peer must take our replies within this time, or the session ends. */
#define KM_LISTENER_SEND_TIMEOUT_MS 30000
#define KM_LISTENER_PEER_MAX 64

/* A peer's address without the port (IPv4-mapped IPv6 counts as IPv4). */
typedef struct km_peer_addr {
  unsigned char bytes[KM_LISTENER_ADDR_MAX];
  size_t len;
} km_peer_addr;

/*
 * One open session as the accept thread sees it. progress_ms is when the
 * session last got a reply (a command completed, DATA ended) or began: a
 * trickling peer never completes a line, so its progress stays where it was.
 */
typedef struct km_slot {
  km_peer_addr addr; /* len 0 = a free slot. */
  int fd;
  int64_t progress_ms;
  bool evicted; /* Its reading side was shut down to make room. */
} km_slot;

struct km_listener {
  char *bind_address;
  unsigned port;
  unsigned max_sessions;
  unsigned timeout_s;
  km_smtp_config smtp;
  char *hostname; /* Owned copy behind smtp.hostname. */
  km_smtp_deliver_fn deliver;
  void *ctx;

  int listen_fd;
  /* Closing stop_w makes stop_r readable (EOF) for every poller at once. */
  int stop_r;
  int stop_w;
  pthread_t accept_thread;
  bool started;
  bool stopped;

  unsigned max_per_ip;
  unsigned evict_after_ms;

  pthread_mutex_t lock;
  pthread_cond_t idle; /* Signalled when active drops to 0. */
  unsigned active;     /* Sessions running, evicted ones included. */
  unsigned evicting;   /* Evicted sessions that have not ended yet. */
  /*
   * One slot per running session, so counting a peer's sessions and finding
   * the stalest is one scan. Twice max_sessions: an evicted session keeps its
   * slot until its thread ends, while the newcomer already has one.
   */
  km_slot *slots;
  size_t slots_len;
};

typedef struct km_session {
  km_listener *l;
  int fd;
  size_t slot; /* In open_addrs. */
  char peer[KM_LISTENER_PEER_MAX];
} km_session;

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

kf_rc km_listener_new(const km_listener_config *cfg, km_smtp_deliver_fn deliver, void *ctx,
                      km_listener **out, kf_err *err) {
  assert(cfg != NULL && deliver != NULL && out != NULL);
  *out = NULL;
  km_listener *l = kf_calloc(1, sizeof(*l));
  if (l == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  l->listen_fd = -1;
  l->stop_r = -1;
  l->stop_w = -1;
  l->bind_address = kf_strdup(cfg->bind_address != NULL ? cfg->bind_address : "127.0.0.1");
  l->hostname = kf_strdup(cfg->smtp.hostname != NULL ? cfg->smtp.hostname : "localhost");
  l->max_sessions = cfg->max_sessions ? cfg->max_sessions : KM_LISTENER_DEFAULT_MAX_SESSIONS;
  l->max_per_ip =
      cfg->max_sessions_per_ip ? cfg->max_sessions_per_ip : KM_LISTENER_DEFAULT_MAX_PER_IP;
  l->evict_after_ms = cfg->evict_after_ms;
  l->slots_len = (size_t)l->max_sessions * 2;
  l->slots = kf_calloc(l->slots_len, sizeof(*l->slots));
  if (l->bind_address == NULL || l->hostname == NULL || l->slots == NULL) {
    kf_free(l->bind_address);
    kf_free(l->hostname);
    kf_free(l->slots);
    kf_free(l);
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  }
  l->port = cfg->port;
  l->timeout_s = cfg->timeout_s ? cfg->timeout_s : KM_LISTENER_DEFAULT_TIMEOUT_S;
  l->smtp = cfg->smtp;
  l->smtp.hostname = l->hostname;
  l->deliver = deliver;
  l->ctx = ctx;
  pthread_mutex_init(&l->lock, NULL);
  pthread_cond_init(&l->idle, NULL);
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

/*
 * Send all of data, waiting in poll() while the socket is full. Gives up when
 * the peer does not read for KM_LISTENER_SEND_TIMEOUT_MS or, unless
 * ignore_stop, when the listener is stopping.
 */
static bool listener_send_all(int fd, int stop_fd, const char *data, size_t len, bool ignore_stop) {
  while (len > 0) {
    ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
    if (n > 0) {
      data += n;
      len -= (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
      return false;
    struct pollfd pfd[2] = {{.fd = fd, .events = POLLOUT}, {.fd = stop_fd, .events = POLLIN}};
    int r = poll(pfd, ignore_stop ? 1 : 2, KM_LISTENER_SEND_TIMEOUT_MS);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return false;
    if (!ignore_stop && pfd[1].revents != 0)
      return false;
    if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL))
      return false;
  }
  return true;
}

/* Milliseconds of the monotonic clock, which wall-clock changes cannot move. */
static int64_t listener_now_ms(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
    return 0; /* Cannot happen for CLOCK_MONOTONIC on POSIX 2008 systems. */
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Send what the engine produced and empty the buffer; a reply is progress. */
static bool session_flush(km_session *sess, kf_buf *out, bool ignore_stop) {
  bool ok = true;
  if (out->len > 0) {
    ok = listener_send_all(sess->fd, sess->l->stop_r, out->data, out->len, ignore_stop);
    pthread_mutex_lock(&sess->l->lock);
    sess->l->slots[sess->slot].progress_ms = listener_now_ms();
    pthread_mutex_unlock(&sess->l->lock);
  }
  kf_buf_reset(out);
  return ok;
}

static bool session_evicted(km_session *sess) {
  pthread_mutex_lock(&sess->l->lock);
  bool evicted = sess->l->slots[sess->slot].evicted;
  pthread_mutex_unlock(&sess->l->lock);
  return evicted;
}

static void session_run(km_session *sess) {
  km_listener *l = sess->l;
  km_smtp *smtp = NULL;
  kf_buf out;
  kf_buf_init(&out, KM_LISTENER_OUT_MAX);
  if (km_smtp_new(&l->smtp, l->deliver, l->ctx, &smtp) != KF_OK) {
    kf_warn("smtp session from %s: out of memory", sess->peer);
    kf_buf_release(&out);
    return;
  }
  bool ok = km_smtp_greeting(smtp, &out) == KF_OK && session_flush(sess, &out, false);
  int idle_ms =
      l->timeout_s > (unsigned)(INT32_MAX / 1000) ? INT32_MAX : (int)(l->timeout_s * 1000);
  char chunk[4096];
  while (ok && !km_smtp_closed(smtp)) {
    /*
     * The idle timeout restarts with every byte, so it alone cannot stop a peer
     * that trickles; the engine's deadline for the command line or the DATA
     * phase bounds the total, and poll waits no longer than either.
     */
    int64_t now = listener_now_ms();
    int64_t deadline = km_smtp_deadline(smtp);
    if (now >= deadline) {
      kf_info("smtp session from %s: command or DATA deadline passed", sess->peer);
      if (km_smtp_deadline_passed(smtp, &out) == KF_OK)
        session_flush(sess, &out, false);
      break;
    }
    int timeout_ms = idle_ms;
    if (deadline - now < (int64_t)idle_ms)
      timeout_ms = (int)(deadline - now);
    struct pollfd pfd[2] = {{.fd = sess->fd, .events = POLLIN},
                            {.fd = l->stop_r, .events = POLLIN}};
    int r = poll(pfd, 2, timeout_ms);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (r == 0 && timeout_ms < idle_ms)
      continue; /* The deadline, not idleness: the check above answers it. */
    if (r == 0) {
      kf_info("smtp session from %s: idle timeout", sess->peer);
      if (km_smtp_timeout(smtp, &out) == KF_OK)
        session_flush(sess, &out, false);
      break;
    }
    if (pfd[1].revents != 0) {
      /* The listener is stopping; a partial message in DATA is dropped. */
      if (km_smtp_shutdown(smtp, &out) == KF_OK)
        session_flush(sess, &out, true);
      break;
    }
    ssize_t n = recv(sess->fd, chunk, sizeof(chunk), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
      continue;
    if (n == 0 && session_evicted(sess)) {
      /* The listener shut our reading side to make room: we were the stalest. */
      kf_info("smtp session from %s: closed to make room for another", sess->peer);
      if (km_smtp_deadline_passed(smtp, &out) == KF_OK)
        session_flush(sess, &out, false);
      break;
    }
    if (n <= 0)
      break; /* The peer closed the connection or it failed. */
    km_smtp_set_now(smtp, listener_now_ms());
    kf_rc rc = km_smtp_feed(smtp, chunk, (size_t)n, &out);
    ok = session_flush(sess, &out, false) && rc == KF_OK;
  }
  km_smtp_free(smtp);
  kf_buf_release(&out);
}

static void *session_thread(void *arg) {
  km_session *sess = arg;
  km_listener *l = sess->l;
  kf_debug("smtp session from %s: start", sess->peer);
  session_run(sess);
  kf_debug("smtp session from %s: end", sess->peer);
  int fd = sess->fd;
  size_t slot = sess->slot;
  kf_free(sess);
  /*
   * Leave the count before closing the socket: a peer that sees the close can
   * connect again at once and must find the slot free. Nothing after the
   * unlock touches the listener, which km_listener_stop may then free.
   */
  pthread_mutex_lock(&l->lock);
  assert(l->active > 0);
  l->evicting -= l->slots[slot].evicted;
  l->slots[slot] = (km_slot){.fd = -1};
  l->active--;
  if (l->active == 0)
    pthread_cond_broadcast(&l->idle);
  pthread_mutex_unlock(&l->lock);
  close(fd);
  return NULL;
}

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
 * evict_after_ms: its reading side is shut down, so its thread wakes, says
 * 421 and ends. A peer that completes its commands is never the stalest for
 * long, so trickling peers go first. Lock held; false when none qualifies.
 */
static bool listener_evict(km_listener *l, const km_peer_addr *addr, int64_t now) {
  if (l->evict_after_ms == 0)
    return false;
  km_slot *victim = NULL;
  for (size_t i = 0; i < l->slots_len; i++) {
    km_slot *sl = &l->slots[i];
    if (sl->addr.len == 0 || sl->evicted || (addr && !listener_addr_eq(&sl->addr, addr)))
      continue;
    if (!victim || sl->progress_ms < victim->progress_ms)
      victim = sl;
  }
  if (!victim || now - victim->progress_ms < (int64_t)l->evict_after_ms)
    return false;
  victim->evicted = true;
  l->evicting++;
  (void)shutdown(victim->fd, SHUT_RD);
  return true;
}

/*
 * Take a session slot for a peer at addr (fd its socket): NULL and *slot, or
 * why not (all sessions busy, or this address holds its share, and no stale
 * session could make room). The scans are over at most 2 * max_sessions
 * slots, on the accept thread only, which is cheap beside the thread a
 * session starts.
 */
static const char *listener_admit(km_listener *l, const km_peer_addr *addr, int fd, size_t *slot) {
  int64_t now = listener_now_ms();
  pthread_mutex_lock(&l->lock);
  unsigned same = 0;
  size_t free_slot = l->slots_len;
  for (size_t i = 0; i < l->slots_len; i++) {
    const km_slot *sl = &l->slots[i];
    if (sl->addr.len == 0 && free_slot == l->slots_len)
      free_slot = i;
    same += !sl->evicted && listener_addr_eq(&sl->addr, addr);
  }
  const char *full = NULL;
  if (free_slot == l->slots_len)
    full = "all sessions are busy";
  else if (same >= l->max_per_ip && !listener_evict(l, addr, now))
    full = "this address has its most sessions open";
  else if (same < l->max_per_ip && l->active - l->evicting >= l->max_sessions &&
           !listener_evict(l, NULL, now))
    full = "all sessions are busy";
  if (!full) {
    l->slots[free_slot] = (km_slot){.addr = *addr, .fd = fd, .progress_ms = now};
    l->active++;
    *slot = free_slot;
  }
  pthread_mutex_unlock(&l->lock);
  return full;
}

static void listener_accept_one(km_listener *l) {
  struct sockaddr_storage ss;
  socklen_t ss_len = sizeof(ss);
  int fd = accept(l->listen_fd, (struct sockaddr *)&ss, &ss_len);
  if (fd < 0) {
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      /* Out of descriptors: back off briefly (waiting on the stop pipe, not sleeping). */
      kf_warn("smtp accept: %s", strerror(errno));
      struct pollfd pfd = {.fd = l->stop_r, .events = POLLIN};
      (void)poll(&pfd, 1, 100);
    }
    return;
  }
  if (!listener_fd_setup(fd, true)) {
    close(fd);
    return;
  }
  km_peer_addr addr;
  listener_peer_addr(&ss, &addr);
  size_t slot = 0;
  const char *full = listener_admit(l, &addr, fd, &slot);
  char peer[KM_LISTENER_PEER_MAX];
  listener_peer_name(&ss, peer, sizeof(peer));
  if (full) {
    kf_warn("smtp session from %s refused: %s", peer, full);
    listener_refuse(l, fd);
    return;
  }
  km_session *sess = kf_calloc(1, sizeof(*sess));
  pthread_attr_t attr;
  bool attr_ok = pthread_attr_init(&attr) == 0;
  pthread_t tid;
  bool started = false;
  if (sess != NULL && attr_ok) {
    sess->l = l;
    sess->fd = fd;
    sess->slot = slot;
    memcpy(sess->peer, peer, sizeof(peer));
    /* Detached: sessions report their end through active/idle, not join. */
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    started = pthread_create(&tid, &attr, session_thread, sess) == 0;
  }
  if (attr_ok)
    pthread_attr_destroy(&attr);
  if (!started) {
    kf_warn("smtp session from %s refused: cannot start a thread", peer);
    kf_free(sess);
    pthread_mutex_lock(&l->lock);
    l->slots[slot] = (km_slot){.fd = -1};
    l->active--;
    if (l->active == 0)
      pthread_cond_broadcast(&l->idle);
    pthread_mutex_unlock(&l->lock);
    listener_refuse(l, fd);
  }
}

static void *accept_thread(void *arg) {
  km_listener *l = arg;
  for (;;) {
    struct pollfd pfd[2] = {{.fd = l->listen_fd, .events = POLLIN},
                            {.fd = l->stop_r, .events = POLLIN}};
    int r = poll(pfd, 2, -1);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      kf_error("smtp accept poll: %s", strerror(errno));
      break;
    }
    if (pfd[1].revents != 0)
      break;
    if (pfd[0].revents & POLLIN)
      listener_accept_one(l);
  }
  return NULL;
}

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

kf_rc km_listener_start(km_listener *l, kf_err *err) {
  assert(l != NULL && !l->started);
  if (l->port > 65535)
    return kf_err_set(err, KF_ERR_INVALID, "SMTP port %u out of range", l->port);
  struct sockaddr_storage ss;
  socklen_t ss_len = 0;
  kf_rc rc = listener_bind_addr(l, &ss, &ss_len, err);
  if (rc != KF_OK)
    return rc;
  int fds[2];
  if (pipe(fds) != 0)
    return kf_err_set(err, KF_ERR_IO, "pipe: %s", strerror(errno));
  l->stop_r = fds[0];
  l->stop_w = fds[1];
  if (!listener_fd_setup(l->stop_r, false) || !listener_fd_setup(l->stop_w, false)) {
    return kf_err_set(err, KF_ERR_IO, "fcntl: %s", strerror(errno));
  }
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
  if (pthread_create(&l->accept_thread, NULL, accept_thread, l) != 0) {
    return kf_err_set(err, KF_ERR_IO, "cannot start the SMTP accept thread");
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
  if (l->started)
    pthread_join(l->accept_thread, NULL);
  if (l->listen_fd >= 0) {
    close(l->listen_fd);
    l->listen_fd = -1;
  }
  /* Every session sees the closed pipe, says 421 and ends; wait for the last. */
  pthread_mutex_lock(&l->lock);
  while (l->active > 0)
    pthread_cond_wait(&l->idle, &l->lock);
  pthread_mutex_unlock(&l->lock);
}

void km_listener_free(km_listener *l) {
  if (l == NULL)
    return;
  km_listener_stop(l);
  if (l->stop_r >= 0)
    close(l->stop_r);
  pthread_mutex_destroy(&l->lock);
  pthread_cond_destroy(&l->idle);
  kf_free(l->bind_address);
  kf_free(l->hostname);
  kf_free(l->slots);
  kf_free(l);
}
