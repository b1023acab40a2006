/*
 * km_smtp.h: a pure SMTP protocol engine (RFC 5321) without sockets.
 *
 * The network side feeds every received byte into km_smtp_feed and sends
 * whatever reply text the engine appended to the caller's output buffer. When a
 * DATA phase ends with a complete and valid message, the engine calls the
 * deliver callback with the envelope and the message bytes (dot-unstuffing
 * already undone); the callback's result decides the final reply. Keeping the
 * protocol free of I/O lets the unit tests drive every state and limit
 * deterministically.
 *
 * Supported: EHLO/HELO, MAIL FROM (SIZE=, BODY=7BIT|8BITMIME, SMTPUTF8),
 * RCPT TO, DATA, RSET, NOOP, QUIT, VRFY (always 252 2.0.0). EHLO advertises
 * SIZE, 8BITMIME, SMTPUTF8, PIPELINING and ENHANCEDSTATUSCODES.
 *
 * A session is not thread-safe; one thread drives it.
 */
#ifndef KM_SMTP_H
#define KM_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kf/buf.h"
#include "kf/error.h"

/* RFC 5321 4.5.3.1.4: a command line is at most 512 octets including CRLF. */
#define KM_SMTP_COMMAND_LINE_MAX 512
/* RFC 5321 4.5.3.1.6: a text line is at most 1000 octets including CRLF. */
#define KM_SMTP_TEXT_LINE_MAX 1000

typedef struct km_smtp_config {
  const char *hostname;     /* Shown in the greeting and EHLO; copied. NULL = "localhost". */
  size_t max_message_bytes; /* Largest message accepted (after unstuffing); 0 = 10 MiB. */
  size_t max_recipients;    /* Most RCPT TO per transaction; 0 = 100. */
  unsigned max_errors;      /* Protocol errors (500-503, 555) in a row before 421 4.7.0; 0 = 10. */
  /*
   * RFC 5321 4.5.3.2 style limits on slow peers, in milliseconds of the clock
   * given to km_smtp_set_now: the most one command line may take from its
   * first byte to its end (0 = 30 s), and the most the whole DATA phase
   * may take from the 354 reply to the final dot (0 = 120 s). An idle
   * timeout alone cannot stop a peer that sends one byte just before it runs
   * out.
   */
  unsigned command_timeout_ms;
  unsigned data_timeout_ms;
} km_smtp_config;

/* Fill cfg with the defaults above. */
void km_smtp_config_init(km_smtp_config *cfg);

/* The envelope of one transaction. Everything is borrowed for the callback. */
typedef struct km_smtp_envelope {
  const char *mail_from;      /* The reverse-path without <>; "" for the null path. */
  const char *const *rcpt_to; /* Forward-paths without <>, in the order given. */
  size_t rcpt_to_len;
  bool smtputf8;      /* MAIL FROM carried SMTPUTF8. */
  bool body_8bitmime; /* MAIL FROM carried BODY=8BITMIME. */
} km_smtp_envelope;

/*
 * Hand over one complete, valid message. data (len bytes, NUL-terminated for
 * convenience) is borrowed for the call. Return KF_OK once the message is
 * stored (and set *id_out to its id for the reply, or leave it 0).
 * KF_ERR_LIMIT means the store is full and makes the engine answer 452 4.3.1;
 * any other result makes it answer 451 4.3.0. Either way the message counts as
 * not kept.
 */
typedef kf_rc (*km_smtp_deliver_fn)(void *ctx, const km_smtp_envelope *env, const char *data,
                                    size_t len, int64_t *id_out);

typedef struct km_smtp km_smtp;

/*
 * A new session; cfg's strings are copied, ctx is borrowed. Caller frees with
 * km_smtp_free. With deliver NULL the verdict on a message comes later: see
 * km_smtp_feed_some and km_smtp_delivered.
 */
kf_rc km_smtp_new(const km_smtp_config *cfg, km_smtp_deliver_fn deliver, void *ctx, km_smtp **out);
/* Free the session and everything it holds. NULL is fine. */
void km_smtp_free(km_smtp *s);

/* Append the 220 greeting to out. */
kf_rc km_smtp_greeting(km_smtp *s, kf_buf *out);

/*
 * Process len received bytes (any split: partial lines and pipelined commands
 * are fine) and append every reply to out. Bytes after the session closed are
 * ignored. A result other than KF_OK means a reply could not be produced (out
 * of memory or out's cap); the session is then closed and the caller should
 * send what is in out and drop the connection.
 */
kf_rc km_smtp_feed(km_smtp *s, const char *data, size_t len, kf_buf *out);

/*
 * km_smtp_feed that may stop early: in a session without a deliver callback
 * it stops after the final dot of a message, which then awaits its verdict
 * (km_smtp_awaiting). *used is how many bytes were taken in (all of them
 * unless a message awaits); the caller keeps the rest and feeds it once
 * km_smtp_delivered answered. So replies stay in order and a pipelining
 * peer's next commands wait for the message before them.
 */
kf_rc km_smtp_feed_some(km_smtp *s, const char *data, size_t len, kf_buf *out, size_t *used);

/* A message awaits its verdict; the session takes no input until km_smtp_delivered. */
bool km_smtp_awaiting(const km_smtp *s);

/*
 * The awaiting message: its envelope and bytes (dot-unstuffing undone,
 * NUL-terminated), borrowed from the session until km_smtp_delivered.
 */
void km_smtp_message(const km_smtp *s, km_smtp_envelope *env, const char **data, size_t *len);

/*
 * The verdict on the awaiting message, as a deliver callback would return it
 * (delivered and id, see km_smtp_deliver_fn): appends its reply to out and
 * ends the transaction. A result other than KF_OK is out's failure, as for
 * km_smtp_feed.
 */
kf_rc km_smtp_delivered(km_smtp *s, kf_rc delivered, int64_t id, kf_buf *out);

/* The session has ended (QUIT, too many errors, timeout, shutdown, failure). */
bool km_smtp_closed(const km_smtp *s);

/* The peer was idle too long: append 421 4.4.2 and close. */
kf_rc km_smtp_timeout(km_smtp *s, kf_buf *out);

/*
 * Tell the engine the current time in milliseconds of a monotonic clock,
 * before each km_smtp_feed, so it can stamp when a command line and a DATA
 * phase begin. Without calls the time stays 0.
 */
void km_smtp_set_now(km_smtp *s, int64_t now_ms);
/*
 * The time (same clock) by which the command line in progress or the DATA
 * phase must be complete, or INT64_MAX when nothing is in progress.
 */
int64_t km_smtp_deadline(const km_smtp *s);
/* The deadline passed: append 421 4.4.2 naming what was too slow, and close. */
kf_rc km_smtp_deadline_passed(km_smtp *s, kf_buf *out);
/* The server is stopping: append 421 4.3.2 and close. */
kf_rc km_smtp_shutdown(km_smtp *s, kf_buf *out);

/*
 * The one-line answer for a connection refused because too many sessions are
 * open (421 4.3.2), for when no session object exists. hostname may be NULL.
 */
kf_rc km_smtp_busy_reply(const char *hostname, kf_buf *out);

#endif
