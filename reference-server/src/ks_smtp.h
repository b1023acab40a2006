/*
 * ks_smtp.h: the outbox's SMTP client, one session to one server, kept open
 * from mail to mail, its commands pipelined where the server allows it
 * (PIPELINING, RFC 2920).
 *
 * Once a session runs, a mail costs one round trip: the body of one mail, its
 * final dot and the next mail's MAIL FROM, RCPT TO and DATA leave in one
 * write, and the answers (250 for the body; 250, 250 and 354 for the next
 * envelope) come back together. The next body leaves only after the 250 for
 * this one was read, so one message at a time is in flight: a crash between a
 * 250 and the caller's mark resends at most that one (docs/design.md,
 * "Delivery guarantee"). An announced envelope carries no message: if the
 * next call is for another mail, or the session ends, the server drops it.
 *
 * Only smtp:// URLs (no TLS, no AUTH): the outbox talks to a local peer.
 * Ownership: ks_smtp_new's object is freed with ks_smtp_free; the strings of
 * a ks_smtp_mail stay the caller's.
 */
#ifndef KS_SMTP_H
#define KS_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kf/error.h"

typedef struct ks_smtp ks_smtp;

typedef struct ks_smtp_config {
  const char *url; /* smtp://host[:port] (25 without a port); copied. */
  /*
   * Readable once the program stops (-1: never). From then on an exchange in
   * progress has stop_grace_ms left to finish, so a message the peer is
   * accepting is answered rather than cut off, yet a hung peer cannot hold
   * up the exit.
   */
  int stop_fd;
  int64_t stop_grace_ms;
  int64_t connect_timeout_ms;  /* Connect, greeting and EHLO. */
  int64_t transfer_timeout_ms; /* One ks_smtp_send from its start. */
  /* A session idle longer is closed and opened again before the next mail,
   * so a reused session is rarely one the peer is about to drop. */
  int64_t idle_max_ms;
} ks_smtp_config;

/* One mail: its envelope (addresses without angle brackets) and its bytes. */
typedef struct ks_smtp_mail {
  const char *from;
  const char *to;
  const char *raw; /* The message with CRLF line ends; dot-stuffed on the way. */
  size_t raw_len;
} ks_smtp_mail;

/* Defaults: no stop_fd, 5 s grace, 10 s connect, 60 s transfer, 30 s idle. */
void ks_smtp_config_init(ks_smtp_config *cfg, const char *url);

/* Check cfg->url and make the client; it connects at the first send. */
kf_rc ks_smtp_new(const ks_smtp_config *cfg, ks_smtp **out, kf_err *err);

/*
 * Deliver mail, connecting first if no session is open (or the open one is
 * idle too long, or the peer closed it). With next != NULL, and when the
 * server offers PIPELINING, next's envelope goes out behind mail's final dot,
 * so the call that delivers next (its mail argument equal to this next) waits
 * for one answer less. KF_OK only once the server answered mail's final dot
 * with 250; KF_ERR_NETWORK or KF_ERR_TIMEOUT with err saying what the server
 * or the connection did otherwise. After a failure the session is closed.
 */
kf_rc ks_smtp_send(ks_smtp *s, const ks_smtp_mail *mail, const ks_smtp_mail *next, kf_err *err);

/* Whether the open session announced PIPELINING (false while none is open). */
bool ks_smtp_pipelining(const ks_smtp *s);

/* End the session (QUIT when no envelope waits for its data) and free. NULL is fine. */
void ks_smtp_free(ks_smtp *s);

#endif
