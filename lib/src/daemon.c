/* daemon.c: signal handling and readiness for server processes (see kf/daemon.h). */
#include "kf/daemon.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static void daemon_term_set(sigset_t *set) {
  sigemptyset(set);
  sigaddset(set, SIGINT);
  sigaddset(set, SIGTERM);
  sigaddset(set, SIGHUP);
}

kf_rc kf_daemon_block_signals(void) {
  struct sigaction ignore;
  memset(&ignore, 0, sizeof ignore);
  ignore.sa_handler = SIG_IGN;
  /* A peer that hangs up must not kill the process on the next write. */
  if (sigaction(SIGPIPE, &ignore, NULL) != 0)
    return KF_ERR_INTERNAL;
  sigset_t set;
  daemon_term_set(&set);
  return pthread_sigmask(SIG_BLOCK, &set, NULL) == 0 ? KF_OK : KF_ERR_INTERNAL;
}

int kf_daemon_wait_for_signal(void) {
  sigset_t set;
  daemon_term_set(&set);
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0)
      continue;
    /* SIGHUP is accepted but ignored: these servers have nothing to reload. */
    if (sig == SIGINT || sig == SIGTERM)
      return sig;
  }
}

kf_rc kf_daemon_ready(int fd, const char *line) {
  if (fd < 0)
    return KF_OK;
  size_t len = strlen(line), done = 0;
  while (done < len) {
    ssize_t n = write(fd, line + done, len - done);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      close(fd);
      return KF_ERR_IO;
    }
    done += (size_t)n;
  }
  close(fd);
  return KF_OK;
}
