/*
 * ks_smtp.c: the outbox's SMTP client (see ks_smtp.h).
 */
#include "ks_smtp.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/str.h"

/* RFC 5321 4.5.3.1.5 allows 512 octets a reply line; this leaves room for peers that exceed it. */
#define SMTP_LINE_MAX 2048
/* Bytes read ahead of the reply being parsed: a few replies in one segment. */
#define SMTP_IN_MAX (SMTP_LINE_MAX + 4096)
/* The cap on what one write holds: a message, dot-stuffed, and an envelope. */
#define SMTP_OUT_MAX ((size_t)64 * 1024 * 1024)

struct ks_smtp {
  ks_smtp_config cfg;
  char *url;
  char *host;
  char *port;
  int fd; /* -1: no session. */
  bool pipelining;
  bool broken;              /* The connection or the answers' syntax, not a reply code, failed. */
  bool stopping;            /* stop_fd was readable. */
  int64_t stop_deadline_ms; /* Monotonic; set with stopping. */
  int64_t last_used_ms;     /* Monotonic: when the session last got an answer. */
  /* The envelope sent behind the last body, its three answers unread. */
  char *announced_from;
  char *announced_to;
  char in[SMTP_IN_MAX]; /* Answer bytes received, not yet parsed. */
  size_t in_len;
  char reply[SMTP_LINE_MAX + 1]; /* The last answer's final line, for messages. */
  bool reply_pipelining;         /* One of the last answer's lines named PIPELINING. */
  kf_buf out;
};

static int64_t smtp_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ks_smtp_config_init(ks_smtp_config *cfg, const char *url) {
  assert(cfg != NULL);
  memset(cfg, 0, sizeof *cfg);
  cfg->url = url;
  cfg->stop_fd = -1;
  cfg->stop_grace_ms = 5000;
  cfg->connect_timeout_ms = 10000;
  cfg->transfer_timeout_ms = 60000;
  cfg->idle_max_ms = 30000;
}

/* Split s->url into host and port; only smtp:// without credentials. */
static kf_rc smtp_parse_url(ks_smtp *s, kf_err *err) {
  CURLU *u = curl_url();
  if (u == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL;
  kf_rc rc = KF_OK;
  if (curl_url_set(u, CURLUPART_URL, s->url, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
    rc = kf_err_set(err, KF_ERR_INVALID, "%s is not a URL", s->url);
  else if (strcmp(scheme, "smtp") != 0)
    rc = kf_err_set(err, KF_ERR_INVALID, "%s: only smtp:// URLs are supported", s->url);
  else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
    rc = kf_err_set(err, KF_ERR_INVALID, "%s: SMTP AUTH is not supported", s->url);
  if (rc == KF_OK && curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
    rc = kf_err_set(err, KF_ERR_INVALID, "%s has no port", s->url);
  if (rc == KF_OK) {
    /* getaddrinfo wants an IPv6 literal without its brackets. */
    size_t hl = strlen(host);
    bool bracketed = hl >= 2 && host[0] == '[' && host[hl - 1] == ']';
    s->host = bracketed ? kf_strndup(host + 1, hl - 2) : kf_strdup(host);
    s->port = kf_strdup(port);
    if (s->host == NULL || s->port == NULL)
      rc = kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  }
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_free(user);
  curl_url_cleanup(u);
  return rc;
}

kf_rc ks_smtp_new(const ks_smtp_config *cfg, ks_smtp **out, kf_err *err) {
  assert(cfg != NULL && cfg->url != NULL && out != NULL);
  *out = NULL;
  ks_smtp *s = kf_calloc(1, sizeof *s);
  if (s == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  s->cfg = *cfg;
  s->fd = -1;
  s->url = kf_strdup(cfg->url);
  s->cfg.url = s->url;
  kf_buf_init(&s->out, SMTP_OUT_MAX);
  kf_rc rc =
      s->url != NULL ? smtp_parse_url(s, err) : kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  if (rc != KF_OK) {
    ks_smtp_free(s);
    return rc;
  }
  *out = s;
  return KF_OK;
}

bool ks_smtp_pipelining(const ks_smtp *s) {
  return s != NULL && s->fd >= 0 && s->pipelining;
}

static void smtp_forget_announced(ks_smtp *s) {
  kf_free(s->announced_from);
  kf_free(s->announced_to);
  s->announced_from = NULL;
  s->announced_to = NULL;
}

/* Close the connection without a word; a transaction still open is dropped by the peer. */
static void smtp_drop(ks_smtp *s) {
  if (s->fd >= 0)
    (void)close(s->fd);
  s->fd = -1;
  s->in_len = 0;
  s->pipelining = false;
  smtp_forget_announced(s);
}

/*
 * End the session. QUIT only when the peer is in command state: with an
 * envelope announced it waits for data, and closing is what drops it.
 */
static void smtp_close(ks_smtp *s) {
  if (s->fd >= 0 && s->announced_to == NULL)
    (void)send(s->fd, "QUIT\r\n", 6, MSG_NOSIGNAL | MSG_DONTWAIT);
  smtp_drop(s);
}

void ks_smtp_free(ks_smtp *s) {
  if (s == NULL)
    return;
  smtp_close(s);
  kf_buf_release(&s->out);
  kf_free(s->url);
  kf_free(s->host);
  kf_free(s->port);
  kf_free(s);
}

/*
 * Wait until fd is ready for events or deadline (monotonic ms) passes. The
 * stop pipe is watched until it fires once; from then on the deadline is at
 * most the stop's grace.
 */
static kf_rc smtp_wait(ks_smtp *s, int fd, short events, int64_t *deadline, kf_err *err) {
  for (;;) {
    if (s->stopping && s->stop_deadline_ms < *deadline)
      *deadline = s->stop_deadline_ms;
    int64_t left = *deadline - smtp_now_ms();
    if (left <= 0)
      return kf_err_set(err, KF_ERR_TIMEOUT, "%s: %s", s->url,
                        s->stopping ? "stopped" : "timed out waiting for the server");
    struct pollfd pfd[2] = {{.fd = fd, .events = events}, {.fd = s->cfg.stop_fd, .events = POLLIN}};
    nfds_t n = s->stopping || s->cfg.stop_fd < 0 ? 1 : 2;
    int r = poll(pfd, n, left > INT32_MAX ? INT32_MAX : (int)left);
    if (r < 0 && errno != EINTR) {
      s->broken = true;
      return kf_err_set(err, KF_ERR_NETWORK, "%s: poll: %s", s->url, strerror(errno));
    }
    if (r > 0 && n == 2 && pfd[1].revents != 0) {
      s->stopping = true;
      s->stop_deadline_ms = smtp_now_ms() + s->cfg.stop_grace_ms;
    }
    if (r > 0 && pfd[0].revents != 0)
      return KF_OK;
  }
}

static kf_rc smtp_write(ks_smtp *s, const char *data, size_t len, int64_t *deadline, kf_err *err) {
  while (len > 0) {
    ssize_t n = send(s->fd, data, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      kf_rc rc = smtp_wait(s, s->fd, POLLOUT, deadline, err);
      if (rc != KF_OK)
        return rc;
      continue;
    }
    if (n < 0) {
      s->broken = true;
      return kf_err_set(err, KF_ERR_NETWORK, "%s: send: %s", s->url, strerror(errno));
    }
    data += n;
    len -= (size_t)n;
  }
  return KF_OK;
}

/* Whether one reply line's text (after "ddd-") names the PIPELINING extension. */
static bool smtp_line_is_pipelining(const char *text, size_t len) {
  static const char kw[] = "PIPELINING";
  size_t n = sizeof kw - 1;
  if (len < n || (len > n && text[n] != ' '))
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = text[i];
    if (c >= 'a' && c <= 'z')
      c = (char)(c - 'a' + 'A');
    if (c != kw[i])
      return false;
  }
  return true;
}

/*
 * Take one reply line from s->in if a whole one is there: *done tells whether
 * it was the reply's last line, *code its code.
 */
static kf_rc smtp_take_line(ks_smtp *s, bool *have, bool *done, int *code, kf_err *err) {
  char *lf = memchr(s->in, '\n', s->in_len);
  *have = lf != NULL;
  if (lf == NULL && s->in_len >= SMTP_LINE_MAX) {
    s->broken = true;
    return kf_err_set(err, KF_ERR_NETWORK, "%s: reply line too long", s->url);
  }
  if (lf == NULL)
    return KF_OK;
  size_t len = (size_t)(lf - s->in);
  size_t used = len + 1;
  if (len > 0 && s->in[len - 1] == '\r')
    len--;
  if (len > SMTP_LINE_MAX) {
    s->broken = true;
    return kf_err_set(err, KF_ERR_NETWORK, "%s: reply line too long", s->url);
  }
  const char *l = s->in;
  bool digits = len >= 3 && l[0] >= '2' && l[0] <= '5' && l[1] >= '0' && l[1] <= '9' &&
                l[2] >= '0' && l[2] <= '9';
  if (!digits || (len > 3 && l[3] != ' ' && l[3] != '-')) {
    s->broken = true;
    return kf_err_set(err, KF_ERR_NETWORK, "%s: not an SMTP reply line", s->url);
  }
  *code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
  *done = len == 3 || l[3] == ' ';
  if (len > 4 && smtp_line_is_pipelining(l + 4, len - 4))
    s->reply_pipelining = true;
  memcpy(s->reply, l, len);
  s->reply[len] = '\0';
  memmove(s->in, s->in + used, s->in_len - used);
  s->in_len -= used;
  return KF_OK;
}

/* Read one whole reply (all its lines); its code into *code, its last line into s->reply. */
static kf_rc smtp_read_reply(ks_smtp *s, int64_t *deadline, int *code, kf_err *err) {
  s->reply_pipelining = false;
  int first = 0;
  for (;;) {
    bool have = false, done = false;
    int c = 0;
    kf_rc rc = smtp_take_line(s, &have, &done, &c, err);
    if (rc != KF_OK)
      return rc;
    if (have && first == 0)
      first = c;
    if (have && c != first) {
      s->broken = true;
      return kf_err_set(err, KF_ERR_NETWORK, "%s: reply lines with different codes", s->url);
    }
    if (have && done) {
      *code = c;
      s->last_used_ms = smtp_now_ms();
      return KF_OK;
    }
    if (have)
      continue;
    rc = smtp_wait(s, s->fd, POLLIN, deadline, err);
    if (rc != KF_OK)
      return rc;
    ssize_t n = recv(s->fd, s->in + s->in_len, sizeof s->in - s->in_len, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
      continue;
    if (n <= 0) {
      s->broken = true;
      return n < 0
                 ? kf_err_set(err, KF_ERR_NETWORK, "%s: recv: %s", s->url, strerror(errno))
                 : kf_err_set(err, KF_ERR_NETWORK, "%s: the server closed the connection", s->url);
    }
    s->in_len += (size_t)n;
  }
}

/* Read a reply and require the code want; err quotes the server otherwise. */
static kf_rc smtp_expect(ks_smtp *s, int64_t *deadline, int want, const char *what, kf_err *err) {
  int code = 0;
  kf_rc rc = smtp_read_reply(s, deadline, &code, err);
  if (rc == KF_OK && code != want && !(want == 250 && code == 251))
    rc = kf_err_set(err, KF_ERR_NETWORK, "%s: %s: %s", s->url, what, s->reply);
  return rc;
}

/* A non-blocking, close-on-exec TCP socket connected to ai, within deadline. */
static kf_rc smtp_connect_one(ks_smtp *s, const struct addrinfo *ai, int64_t *deadline,
                              kf_err *err) {
  int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
  if (fd < 0)
    return kf_err_set(err, KF_ERR_NETWORK, "%s: socket: %s", s->url, strerror(errno));
  int one = 1;
  int flags = fcntl(fd, F_GETFL);
  bool ok = flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 &&
            fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 &&
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0;
  if (!ok) {
    kf_rc rc = kf_err_set(err, KF_ERR_NETWORK, "%s: socket options: %s", s->url, strerror(errno));
    (void)close(fd);
    return rc;
  }
  kf_rc rc = KF_OK;
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
    if (errno != EINPROGRESS)
      rc = kf_err_set(err, KF_ERR_NETWORK, "%s: connect: %s", s->url, strerror(errno));
    if (rc == KF_OK)
      rc = smtp_wait(s, fd, POLLOUT, deadline, err);
    int e = 0;
    socklen_t elen = sizeof e;
    if (rc == KF_OK && (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) != 0 || e != 0))
      rc = kf_err_set(err, KF_ERR_NETWORK, "%s: connect: %s", s->url, strerror(e != 0 ? e : errno));
  }
  if (rc != KF_OK) {
    (void)close(fd);
    return rc;
  }
  s->fd = fd;
  return KF_OK;
}

/* Open a session: connect to the first address that answers, read the greeting, EHLO. */
static kf_rc smtp_open(ks_smtp *s, kf_err *err) {
  int64_t deadline = smtp_now_ms() + s->cfg.connect_timeout_ms;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  struct addrinfo *res = NULL;
  int g = getaddrinfo(s->host, s->port, &hints, &res);
  if (g != 0)
    return kf_err_set(err, KF_ERR_NETWORK, "%s: %s", s->url, gai_strerror(g));
  kf_rc rc = kf_err_set(err, KF_ERR_NETWORK, "%s: no address", s->url);
  for (const struct addrinfo *ai = res; ai != NULL && s->fd < 0; ai = ai->ai_next)
    rc = smtp_connect_one(s, ai, &deadline, err);
  freeaddrinfo(res);
  if (rc == KF_OK)
    rc = smtp_expect(s, &deadline, 220, "greeting", err);
  if (rc == KF_OK)
    rc = smtp_write(s, "EHLO localhost\r\n", 16, &deadline, err);
  if (rc == KF_OK)
    rc = smtp_expect(s, &deadline, 250, "EHLO", err);
  if (rc == KF_OK)
    s->pipelining = s->reply_pipelining;
  /* After a failure the peer's state is unknown (an envelope may wait for data). */
  if (rc != KF_OK)
    smtp_drop(s);
  return rc;
}

/*
 * Whether the open session can carry the next mail: not idle too long, and
 * nothing arrived unasked (a 421 before closing, or the close itself).
 */
static bool smtp_session_usable(ks_smtp *s) {
  if (s->fd < 0 || smtp_now_ms() - s->last_used_ms > s->cfg.idle_max_ms)
    return false;
  struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
  return s->in_len == 0 && poll(&pfd, 1, 0) == 0;
}

/* Addresses go into command lines: nothing that could end or bend one. */
static bool smtp_address_ok(const char *a) {
  return a != NULL && a[0] != '\0' && strpbrk(a, "\r\n<>") == NULL;
}

/* An envelope's commands (one line each, as smtp_append_envelope writes them) and their answers. */
static const struct {
  int want;
  const char *what;
} smtp_envelope_steps[] = {{250, "MAIL FROM"}, {250, "RCPT TO"}, {354, "DATA"}};
#define SMTP_ENVELOPE_STEPS (sizeof smtp_envelope_steps / sizeof smtp_envelope_steps[0])

static kf_rc smtp_append_envelope(ks_smtp *s, const ks_smtp_mail *m) {
  return kf_buf_appendf(&s->out, "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n", m->from, m->to);
}

/* The answers to MAIL FROM, RCPT TO and DATA, all read even when one fails. */
static kf_rc smtp_envelope_replies(ks_smtp *s, int64_t *deadline, kf_err *err) {
  kf_rc first = KF_OK;
  for (size_t i = 0; i < SMTP_ENVELOPE_STEPS && !s->broken; i++) {
    kf_err e;
    kf_err_init(&e);
    kf_rc rc =
        smtp_expect(s, deadline, smtp_envelope_steps[i].want, smtp_envelope_steps[i].what, &e);
    /* A timeout leaves the later answers unread too. */
    if (rc != KF_OK && first == KF_OK)
      first = kf_err_set(err, rc, "%s", e.message);
    if (rc == KF_ERR_TIMEOUT)
      break;
  }
  return first;
}

/* Send mail's envelope, one command at a time unless the server pipelines. */
static kf_rc smtp_envelope(ks_smtp *s, const ks_smtp_mail *m, int64_t *deadline, kf_err *err) {
  kf_buf_reset(&s->out);
  kf_rc rc = smtp_append_envelope(s, m);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "out of memory");
  if (s->pipelining) {
    rc = smtp_write(s, s->out.data, s->out.len, deadline, err);
    return rc == KF_OK ? smtp_envelope_replies(s, deadline, err) : rc;
  }
  /* Without PIPELINING each command waits for its answer (RFC 5321 4.3.2). */
  const char *p = s->out.data;
  for (size_t i = 0; rc == KF_OK && i < SMTP_ENVELOPE_STEPS; i++) {
    const char *eol = strstr(p, "\r\n") + 2;
    rc = smtp_write(s, p, (size_t)(eol - p), deadline, err);
    if (rc == KF_OK)
      rc = smtp_expect(s, deadline, smtp_envelope_steps[i].want, smtp_envelope_steps[i].what, err);
    p = eol;
  }
  return rc;
}

/*
 * The message, dot-stuffed (RFC 5321 4.5.2: a line that begins with "." gets
 * another), ended with CRLF if it was not, then the final ".".
 */
static kf_rc smtp_append_body(ks_smtp *s, const char *raw, size_t len) {
  kf_rc rc = KF_OK;
  size_t start = 0;
  for (size_t i = 0; rc == KF_OK && i <= len; i++) {
    bool line_start = i == 0 || (i >= 2 && raw[i - 2] == '\r' && raw[i - 1] == '\n');
    if (i < len && line_start && raw[i] == '.') {
      rc = kf_buf_append(&s->out, raw + start, i - start);
      if (rc == KF_OK)
        rc = kf_buf_append_byte(&s->out, '.');
      start = i;
    }
  }
  if (rc == KF_OK)
    rc = kf_buf_append(&s->out, raw + start, len - start);
  bool crlf = len >= 2 && raw[len - 2] == '\r' && raw[len - 1] == '\n';
  if (rc == KF_OK && !crlf)
    rc = kf_buf_append(&s->out, "\r\n", 2);
  if (rc == KF_OK)
    rc = kf_buf_append(&s->out, ".\r\n", 3);
  return rc;
}

static bool smtp_same_envelope(const ks_smtp *s, const ks_smtp_mail *m) {
  return s->announced_to != NULL && strcmp(s->announced_to, m->to) == 0 &&
         strcmp(s->announced_from, m->from) == 0;
}

/*
 * Have mail's transaction in DATA state: the answers to an envelope sent
 * behind the last body, or a fresh envelope on a usable (else a new)
 * session. A reused session that breaks before any body byte left is
 * replaced once, since nothing of this mail reached the peer.
 */
static kf_rc smtp_begin(ks_smtp *s, const ks_smtp_mail *mail, int64_t *deadline, kf_err *err) {
  bool announced = smtp_same_envelope(s, mail);
  if (s->announced_to != NULL && !announced)
    smtp_close(s);
  smtp_forget_announced(s);
  bool reused = announced || smtp_session_usable(s);
  if (!reused)
    smtp_close(s);
  for (int attempt = 0;; attempt++) {
    s->broken = false;
    kf_rc rc = s->fd >= 0 ? KF_OK : smtp_open(s, err);
    if (rc == KF_OK)
      rc = announced ? smtp_envelope_replies(s, deadline, err)
                     : smtp_envelope(s, mail, deadline, err);
    if (rc == KF_OK || !reused || !s->broken || attempt > 0 || s->stopping)
      return rc;
    smtp_drop(s);
    reused = false;
    announced = false;
  }
}

kf_rc ks_smtp_send(ks_smtp *s, const ks_smtp_mail *mail, const ks_smtp_mail *next, kf_err *err) {
  assert(s != NULL && mail != NULL && mail->raw != NULL);
  if (!smtp_address_ok(mail->from) || !smtp_address_ok(mail->to))
    return kf_err_set(err, KF_ERR_INVALID, "an envelope address is empty or has <, >, CR or LF");
  int64_t deadline = smtp_now_ms() + s->cfg.transfer_timeout_ms;
  kf_rc rc = smtp_begin(s, mail, &deadline, err);
  bool announce = rc == KF_OK && next != NULL && s->pipelining && smtp_address_ok(next->from) &&
                  smtp_address_ok(next->to);
  kf_buf_reset(&s->out);
  if (rc == KF_OK && smtp_append_body(s, mail->raw, mail->raw_len) != KF_OK)
    rc = kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  if (rc == KF_OK && announce && smtp_append_envelope(s, next) != KF_OK)
    rc = kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  if (rc == KF_OK)
    rc = smtp_write(s, s->out.data, s->out.len, &deadline, err);
  /* From the dot on, the peer may take the message: only its answer says. */
  if (rc == KF_OK)
    rc = smtp_expect(s, &deadline, 250, "message", err);
  if (rc == KF_OK && announce) {
    s->announced_from = kf_strdup(next->from);
    s->announced_to = kf_strdup(next->to);
    /* Unremembered, the envelope would wait for data that never comes. */
    if (s->announced_from == NULL || s->announced_to == NULL)
      smtp_drop(s);
  }
  /* After a failure the peer's state is unknown (an envelope may wait for data). */
  if (rc != KF_OK)
    smtp_drop(s);
  return rc;
}
