/*
 * km_listener.h: the network side of konform-mail's SMTP server.
 *
 * One accept thread and one thread per SMTP session, up to max_sessions in
 * all and max_sessions_per_ip from one peer address (a connection beyond
 * either gets 421 4.3.2 and is closed, unless a stale session makes room),
 * so peers that hold sessions open cannot take the slots of everyone else.
 * A session that has had no reply for evict_after_ms (a peer that trickles
 * never completes a line) is ended with 421 4.4.2 when a newcomer needs its
 * place. Each session waits in
 * poll() with an idle timeout (421 4.4.2 when it passes), and within the
 * engine's deadlines for one command line and for the DATA phase
 * (km_smtp_config; 421 4.4.2 as well), so a peer sending a byte now and then
 * cannot hold a session forever. Peers are logged by
 * numeric address only: no reverse DNS lookup ever happens. Stopping closes a
 * pipe every thread polls on, so shutdown is event-driven and prompt.
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

/* Fill cfg with the defaults above. */
void km_listener_config_init(km_listener_config *cfg);

typedef struct km_listener km_listener;

/*
 * Create a listener (not yet bound). deliver is called from session threads,
 * possibly several at once, so it must be thread-safe; ctx is borrowed and
 * must outlive the listener. Caller frees with km_listener_free.
 */
kf_rc km_listener_new(const km_listener_config *cfg, km_smtp_deliver_fn deliver, void *ctx,
                      km_listener **out, kf_err *err);
/* Bind, listen and start accepting. */
kf_rc km_listener_start(km_listener *l, kf_err *err);
/* The port actually bound (useful with port 0); 0 before start. */
unsigned km_listener_port(const km_listener *l);
/*
 * Stop accepting, tell every session to end (421 4.3.2; a message in DATA is
 * dropped, never half-stored) and wait until all have ended. Idempotent.
 */
void km_listener_stop(km_listener *l);
/* Stop (if running) and free. NULL is fine. */
void km_listener_free(km_listener *l);

#endif
