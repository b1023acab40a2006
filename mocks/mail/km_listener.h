/*
 * km_listener.h: the network side of konform-mail's SMTP server.
 *
 * One thread serves every SMTP session: it waits in poll() on the listening
 * socket and on all session sockets at once, feeds what arrives to each
 * session's engine (km_smtp) and sends the replies. A complete message goes
 * to a second thread, the delivery thread, which hands every message waiting
 * by then to the deliver function in one call (so the store can commit them
 * together) while the first thread goes on serving the other sessions; the
 * session's 250 (or 4xx) goes out once the verdict is back, and until then
 * the session takes no input. No thread is started per connection.
 *
 * At most max_sessions sessions in all and max_sessions_per_ip from one peer
 * address (a connection beyond either gets 421 4.3.2 and is closed, unless a
 * stale session makes room), so peers that hold sessions open cannot take
 * the slots of everyone else. A session that has had no reply for
 * evict_after_ms (a peer that trickles never completes a line) is ended with
 * 421 4.4.2 when a newcomer needs its place. Each session has an idle timeout
 * (421 4.4.2 when it passes) and the engine's deadlines for one command line
 * and for the DATA phase (km_smtp_config; 421 4.4.2 as well), so a peer
 * sending a byte now and then cannot hold a session forever; a peer that
 * takes no replies for 30 s is dropped. Peers are logged by numeric address
 * only: no reverse DNS lookup ever happens. Stopping closes a pipe the thread
 * polls on, so shutdown is event-driven and prompt.
 */
#ifndef KM_LISTENER_H
#define KM_LISTENER_H

#include "kf/error.h"
#include "km_smtp.h"

typedef struct km_listener_config {
  const char *bind_address;     /* Numeric IPv4 or IPv6 address; default "127.0.0.1". Copied. */
  unsigned port;                /* 0 picks a free port. */
  unsigned max_sessions;        /* Concurrent sessions; default 256. */
  unsigned max_sessions_per_ip; /* Concurrent sessions from one address; default 8. */
  unsigned timeout_s;           /* Idle timeout per session; default 60. */
  /*
   * When a cap is reached, the session that has gone longest without a reply
   * (of the same address, or of anyone) is ended to make room, once it has
   * made no progress for this long; default 1000, 0 = never (refuse instead).
   */
  unsigned evict_after_ms;
  km_smtp_config smtp; /* Passed to every session (its strings are copied). */
} km_listener_config;

/*
 * One complete message on its way to the store, and the verdict on it. The
 * envelope and the bytes are borrowed from the session until the deliver
 * function returns.
 */
typedef struct km_delivery {
  km_smtp_envelope env;
  const char *data; /* len bytes after dot-unstuffing, NUL-terminated. */
  size_t len;
  kf_rc rc;   /* Set by the function: as a km_smtp_deliver_fn returns it. */
  int64_t id; /* Set by the function: the stored id for the reply, or 0. */
} km_delivery;

/*
 * Deliver msgs[0..n): store each and set its rc and id, returning once all
 * are stored (a session is answered 250 only then). Called from the delivery
 * thread only, one call at a time.
 */
typedef void (*km_listener_batch_fn)(void *ctx, km_delivery *const *msgs, size_t n);

/* Fill cfg with the defaults above. */
void km_listener_config_init(km_listener_config *cfg);

typedef struct km_listener km_listener;

/*
 * Create a listener (not yet bound). Every message goes to deliver_batch, or
 * with that NULL to deliver, one message at a time; either is called from
 * the delivery thread only. ctx is borrowed and must outlive the listener.
 * Caller frees with km_listener_free.
 */
kf_rc km_listener_new(const km_listener_config *cfg, km_smtp_deliver_fn deliver,
                      km_listener_batch_fn deliver_batch, void *ctx, km_listener **out,
                      kf_err *err);
/* Bind, listen and start accepting. */
kf_rc km_listener_start(km_listener *l, kf_err *err);
/* The port actually bound (useful with port 0); 0 before start. */
unsigned km_listener_port(const km_listener *l);
/*
 * Stop accepting, tell every session to end (421 4.3.2; a message in DATA is
 * dropped, never half-stored; one already with the deliver function gets its
 * verdict first) and wait until all have ended. Idempotent.
 */
void km_listener_stop(km_listener *l);
/* Stop (if running) and free. NULL is fine. */
void km_listener_free(km_listener *l);

#endif
