/*
 * kh_stack.h: the embedded reference stack, started when `konform run` gets no
 * --target: konform-mail, konform-post and konform-server on free loopback
 * ports, with their databases and logs in a fresh temporary folder.
 *
 * Programs are found next to the running konform executable, else on PATH.
 * Readiness is the READY line each program writes to its --ready-fd pipe
 * (read with poll() and a deadline); stopping is SIGTERM, then a bounded wait
 * on a "lifeline" pipe that closes when the child exits, then waitpid.
 */
#ifndef KH_STACK_H
#define KH_STACK_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "kh_profile.h"

/* How long each program may take to print READY. */
#define KH_STACK_READY_TIMEOUT_MS 30000
/* How long a program may take to exit after SIGTERM before it is killed. */
#define KH_STACK_STOP_TIMEOUT_MS 10000

typedef struct kh_stack_child {
  const char *name;    /* "konform-mail", "konform-server-timing", ...; static string. */
  const char *program; /* The program it runs: "konform-server", ...; static string. */
  pid_t pid;           /* 0 when not running. */
  int life_fd;         /* Read end of the lifeline pipe, or -1. */
  char *log_path;      /* Owned: DIR/<name>.log (stdout and stderr). */
} kh_stack_child;

/* Room for how the children ended when one did not end cleanly. */
#define KH_STACK_EXIT_REPORT_MAX 2048

/* In start order; stopped in the reverse order, servers before the mocks they talk to. */
enum { KH_STACK_MAIL, KH_STACK_POST, KH_STACK_SERVER, KH_STACK_TIMING, KH_STACK_CHILDREN };

/* The most extra arguments for the servers (--fault NAME pairs). */
#define KH_STACK_MAX_SERVER_ARGS 32

/* What to start. Strings are borrowed for the call. */
typedef struct kh_stack_options {
  bool keep_state; /* Leave the temporary folder behind (--keep-state). */
  bool servers;    /* Start the reference servers; false: only the mocks (`konform mocks`). */
  bool timing;     /* Also a second server at a realistic password hash cost, for timing. */
  /* Appended to both servers' arguments (e.g. "--fault", NAME), NULL-terminated, or NULL. */
  const char *const *server_args;
  /* Ports of the mocks; 0 picks free ones. */
  unsigned mail_port, smtp_port, post_port;
} kh_stack_options;

/* The defaults of `konform run`: both servers and the mocks. */
void kh_stack_options_init(kh_stack_options *opts);

typedef struct kh_stack {
  /*
   * Guards children, dir and stopped. Start holds it only for short steps
   * (creating the folder, forking a child), never while waiting for READY, so
   * a signal thread's kh_stack_stop always gets it at once.
   */
  pthread_mutex_t lock;
  char *dir;       /* Owned: the temporary folder, or NULL. */
  bool keep_state; /* Leave dir behind on stop (--keep-state). */
  bool stopped;
  int wake[2]; /* Owned self-pipe: stop writes a byte, the READY wait polls it; -1 if none. */
  kh_stack_child children[KH_STACK_CHILDREN];
  unsigned server_port, timing_port, mail_port, smtp_port, post_port;
  /*
   * Filled by kh_stack_stop: how each child that did not exit with status 0
   * after SIGTERM ended (a crash, a sanitizer report, a hang), with the end of
   * its log. Empty when every child ended cleanly.
   */
  char exit_report[KH_STACK_EXIT_REPORT_MAX];
} kh_stack;

void kh_stack_init(kh_stack *stack);
/* Stop (if needed) and free what the stack owns. */
void kh_stack_release(kh_stack *stack);

/*
 * Create the folder (in kh_stack_tmp_base) and start the programs: both
 * mocks at once, and once they are ready both servers at once. On failure everything started is
 * stopped again and err holds the reason with the tail of the failing program's log. A
 * kh_stack_stop from another thread ends the start at once (KF_ERR_STATE, "stopped while
 * starting"), even while a program has not yet written READY.
 */
kf_rc kh_stack_start(kh_stack *stack, const kh_stack_options *opts, kf_err *err);

/*
 * Where the stack's folder is made: $TMPDIR when set, else /dev/shm when it
 * is writable and has room, else /tmp (see kh_stack.c for why).
 */
const char *kh_stack_tmp_base(void);
/* The folder the stack keeps its stores and logs in (NULL before start). */
const char *kh_stack_dir(const kh_stack *stack);

/*
 * Fill profile (kh_profile_init'ed by the caller) for the running stack:
 * base_url, mail_api, post_api, clock = konform, clock_header, wait_timeout and
 * the [defaults] of the reference server. Calls kh_profile_finish.
 */
kf_rc kh_stack_profile(const kh_stack *stack, kh_profile *profile, kf_err *err);

/*
 * SIGTERM every child, wait for each (killing one that hangs), and remove the
 * folder unless keep_state. Thread-safe and idempotent, so a signal thread
 * may call it while the main thread is anywhere.
 */
void kh_stack_stop(kh_stack *stack);

/*
 * Stop every stack started and not yet released, and make every later
 * kh_stack_start fail (KF_ERR_STATE): for the signal thread, which does not
 * know which stacks the main thread has. A kh_stack_release waits until a
 * stop_all in progress is done with it.
 */
void kh_stack_stop_all(void);

/*
 * After kh_stack_stop: KF_OK when every child exited cleanly, else
 * KF_ERR_STATE with the exit report in err. The reference stack is the target
 * of the run, so an unclean exit (a leak or a crash found at shutdown) is a
 * finding, not noise.
 */
kf_rc kh_stack_exit_status(const kh_stack *stack, kf_err *err);

/*
 * Append what `konform-server FLAG` prints (--list-faults, --list-variants:
 * one "name<TAB>..." line a row) to out, which the caller kf_buf_init'ed.
 */
kf_rc kh_stack_server_listing(const char *flag, kf_buf *out, kf_err *err);

/* Where a program would be started from: caller frees with kf_free. */
kf_rc kh_stack_find_program(const char *name, char **out, kf_err *err);

#endif
