/*
 * daemon.h: what every konform server process does at start and stop.
 *
 * Ownership: nothing here allocates; kf_daemon_ready closes the fd it is given
 * (it takes it over).
 */
#ifndef KF_DAEMON_H
#define KF_DAEMON_H

#include "kf/error.h"

/*
 * Block SIGINT, SIGTERM and SIGHUP in the calling thread and every thread it
 * creates afterwards, and ignore SIGPIPE. Call first thing in main.
 */
kf_rc kf_daemon_block_signals(void);
/* Wait (blocking, no polling) until SIGINT or SIGTERM arrives; returns it. */
int kf_daemon_wait_for_signal(void);
/*
 * Write one readiness line ("READY http=8480\n") to fd and close it, so a
 * parent can wait on a pipe instead of polling. fd < 0 does nothing.
 */
kf_rc kf_daemon_ready(int fd, const char *line);

#endif
