/*
 * kh_stack.c: start and stop the embedded reference stack.
 *
 * Nothing here sleeps: readiness is a pipe the child writes one line to, and
 * exit is seen as end-of-file on a lifeline pipe whose only writer is the child.
 * KONFORM_STACK_WRAPPER puts a command such as valgrind in front of every
 * program. It should run the program in its own process, as valgrind and exec
 * wrappers do, so the pid that gets SIGTERM, the lifeline and the exit status
 * stay the program's.
 */
#include "kh_stack.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/str.h"
#include "kf/timeutil.h"

#define KH_STACK_PATH_MAX 4096
/* Small enough that the tail fits in a kf_err message after the headline. */
#define KH_STACK_LOG_TAIL 360
#define KH_STACK_READY_MAX 256
/* The variable naming the wrapper command (kh_stack_wrapper_read). */
#define KH_STACK_WRAPPER_ENV "KONFORM_STACK_WRAPPER"
/*
 * How many times longer the READY and shutdown deadlines are under a wrapper:
 * memcheck runs a program 10 to 50 times slower, and under it the timing
 * server (which hashes at the interactive cost when it starts) took 12 s to
 * READY on a loaded 2-core machine, against the 30 s allowed.
 */
#define KH_STACK_WRAPPER_SLOWDOWN 10

static const char *const kh_stack_names[KH_STACK_CHILDREN] = {
    "konform-mail", "konform-post", "konform-server", "konform-server-timing"};
static const char *const kh_stack_programs[KH_STACK_CHILDREN] = {
    "konform-mail", "konform-post", "konform-server", "konform-server"};

void kh_stack_options_init(kh_stack_options *opts) {
  memset(opts, 0, sizeof *opts);
  opts->servers = true;
  opts->timing = true;
}

/*
 * Every started stack until its release, so one signal thread can stop
 * whichever stacks the main thread has running (run has one, selftest one per
 * fault) without knowing where they live. Once kh_stack_stop_all ran, no new
 * stack starts: the process is on its way out.
 */
#define KH_STACK_REGISTRY_MAX 8
static pthread_mutex_t kh_stack_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static kh_stack *kh_stack_registry[KH_STACK_REGISTRY_MAX];
static bool kh_stack_all_stopped;

static kf_rc kh_stack_register(kh_stack *stack, kf_err *err) {
  kf_rc rc = KF_OK;
  pthread_mutex_lock(&kh_stack_registry_lock);
  size_t i = 0;
  while (i < KH_STACK_REGISTRY_MAX && kh_stack_registry[i] != NULL && kh_stack_registry[i] != stack)
    i++;
  if (kh_stack_all_stopped)
    rc = kf_err_set(err, KF_ERR_STATE, "stopped while starting");
  else if (i == KH_STACK_REGISTRY_MAX)
    rc = kf_err_set(err, KF_ERR_LIMIT, "more than %d stacks at once", KH_STACK_REGISTRY_MAX);
  else
    kh_stack_registry[i] = stack;
  pthread_mutex_unlock(&kh_stack_registry_lock);
  return rc;
}

/* Waits for a kh_stack_stop_all that is stopping this stack, so it never sees freed memory. */
static void kh_stack_unregister(kh_stack *stack) {
  pthread_mutex_lock(&kh_stack_registry_lock);
  for (size_t i = 0; i < KH_STACK_REGISTRY_MAX; i++)
    if (kh_stack_registry[i] == stack)
      kh_stack_registry[i] = NULL;
  pthread_mutex_unlock(&kh_stack_registry_lock);
}

void kh_stack_stop_all(void) {
  pthread_mutex_lock(&kh_stack_registry_lock);
  kh_stack_all_stopped = true;
  for (size_t i = 0; i < KH_STACK_REGISTRY_MAX; i++)
    if (kh_stack_registry[i] != NULL)
      kh_stack_stop(kh_stack_registry[i]);
  pthread_mutex_unlock(&kh_stack_registry_lock);
}

void kh_stack_init(kh_stack *stack) {
  memset(stack, 0, sizeof(*stack));
  pthread_mutex_init(&stack->lock, NULL);
  stack->wake[0] = stack->wake[1] = -1;
  for (int i = 0; i < KH_STACK_CHILDREN; i++) {
    stack->children[i].name = kh_stack_names[i];
    stack->children[i].program = kh_stack_programs[i];
    stack->children[i].life_fd = -1;
  }
}

void kh_stack_release(kh_stack *stack) {
  if (stack == NULL)
    return;
  kh_stack_unregister(stack);
  kh_stack_stop(stack);
  for (int i = 0; i < KH_STACK_CHILDREN; i++)
    kf_free(stack->children[i].log_path);
  kf_free(stack->dir);
  for (int i = 0; i < 2; i++)
    if (stack->wake[i] >= 0)
      close(stack->wake[i]);
  pthread_mutex_destroy(&stack->lock);
}

/* A deadline of ms, stretched when the programs run under a wrapper. */
static int kh_stack_deadline_ms(int ms) {
  const char *wrapper = getenv(KH_STACK_WRAPPER_ENV);
  bool wrapped = wrapper != NULL && wrapper[strspn(wrapper, " \t\n")] != '\0';
  return wrapped ? ms * KH_STACK_WRAPPER_SLOWDOWN : ms;
}

static bool kh_stack_is_executable(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/*
 * The first executable NAME in a folder of PATH, into *out (caller frees);
 * KF_ERR_NOT_FOUND, without a message, when there is none.
 */
static kf_rc kh_stack_find_on_path(const char *name, char **out, kf_err *err) {
  /* Walk PATH by hand: execvp would find it too, but we want to report where. */
  const char *path = getenv("PATH");
  const char *p = path != NULL ? path : "/usr/local/bin:/usr/bin:/bin";
  while (*p != '\0') {
    const char *colon = strchr(p, ':');
    size_t len = colon != NULL ? (size_t)(colon - p) : strlen(p);
    if (len > 0 && len < KH_STACK_PATH_MAX) {
      char *cand = kf_str_printf("%.*s/%s", (int)len, p, name);
      if (cand == NULL)
        return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
      if (kh_stack_is_executable(cand)) {
        *out = cand;
        return KF_OK;
      }
      kf_free(cand);
    }
    if (colon == NULL)
      break;
    p = colon + 1;
  }
  return KF_ERR_NOT_FOUND;
}

kf_rc kh_stack_find_program(const char *name, char **out, kf_err *err) {
  assert(name != NULL && out != NULL);
  char self[KH_STACK_PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash != NULL) {
      *slash = '\0';
      char *cand = kf_str_printf("%s/%s", self, name);
      if (cand == NULL)
        return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
      if (kh_stack_is_executable(cand)) {
        *out = cand;
        return KF_OK;
      }
      kf_free(cand);
    }
  }
  kf_rc rc = kh_stack_find_on_path(name, out, err);
  if (rc != KF_ERR_NOT_FOUND)
    return rc;
  return kf_err_set(
      err, KF_ERR_NOT_FOUND,
      "cannot find %s next to konform or on PATH (build everything with 'make', or use --target)",
      name);
}

/* The last KH_STACK_LOG_TAIL bytes of a log file, for error messages. */
static void kh_stack_log_tail(const char *path, char *out, size_t out_size) {
  assert(out_size > 0);
  out[0] = '\0';
  if (path == NULL)
    return;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  off_t size = lseek(fd, 0, SEEK_END);
  size_t want = out_size - 1;
  off_t from = size > (off_t)want ? size - (off_t)want : 0;
  if (size >= 0 && lseek(fd, from, SEEK_SET) == from) {
    ssize_t got = read(fd, out, want);
    if (got > 0)
      out[got] = '\0';
  }
  close(fd);
}

static int kh_stack_set_cloexec(int fd, bool on) {
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0)
    return -1;
  flags = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
  return fcntl(fd, F_SETFD, flags);
}

/* Wait up to timeout_ms for the lifeline of c to close (the child exited). */
static bool kh_stack_wait_exit(const kh_stack_child *c, int timeout_ms) {
  if (c->life_fd < 0)
    return true;
  int64_t deadline = kf_time_monotonic_ms() + timeout_ms;
  for (;;) {
    int64_t left = deadline - kf_time_monotonic_ms();
    if (left < 0)
      left = 0;
    struct pollfd pfd = {.fd = c->life_fd, .events = POLLIN};
    int r = poll(&pfd, 1, (int)left);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return false;
    /* Nobody ever writes; readable means end-of-file, i.e. the writer is gone. */
    char b;
    ssize_t got = read(c->life_fd, &b, 1);
    if (got <= 0)
      return true;
  }
}

/*
 * Stop one child: SIGTERM, bounded wait, SIGKILL if needed, reap. An unclean
 * end is described, with the end of the log, in report (which has report_size
 * bytes and already holds text). Allocation-free.
 */
static void kh_stack_child_stop(kh_stack_child *c, int timeout_ms, char *report,
                                size_t report_size) {
  if (c->pid > 0) {
    kill(c->pid, SIGTERM);
    bool hung = !kh_stack_wait_exit(c, timeout_ms);
    if (hung)
      kill(c->pid, SIGKILL);
    int status = 0;
    while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR) {
    }
    c->pid = 0;
    bool clean = !hung && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!clean) {
      char how[64];
      if (hung)
        (void)kf_str_format(how, sizeof(how), "did not stop within %d ms", timeout_ms);
      else if (WIFEXITED(status))
        (void)kf_str_format(how, sizeof(how), "exited with status %d", WEXITSTATUS(status));
      else
        (void)kf_str_format(how, sizeof(how), "was killed by signal %d", WTERMSIG(status));
      char tail[KH_STACK_LOG_TAIL];
      kh_stack_log_tail(c->log_path, tail, sizeof(tail));
      size_t used = strlen(report);
      if (used < report_size)
        (void)kf_str_format(report + used, report_size - used,
                            "%s %s on shutdown; the end of its log:\n%s\n", c->name, how, tail);
    }
  }
  if (c->life_fd >= 0) {
    close(c->life_fd);
    c->life_fd = -1;
  }
}

/* Remove the (flat) temporary folder and everything in it. */
static void kh_stack_remove_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (d != NULL) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
        continue;
      char path[KH_STACK_PATH_MAX];
      if (kf_str_format(path, sizeof(path), "%s/%s", dir, e->d_name) == KF_OK)
        unlink(path);
    }
    closedir(d);
  }
  rmdir(dir);
}

void kh_stack_stop(kh_stack *stack) {
  pthread_mutex_lock(&stack->lock);
  if (!stack->stopped) {
    stack->stopped = true;
    /*
     * Wake a start that waits for READY. The pipe is never read, so one byte
     * keeps it readable for good; a full pipe (impossible with one byte) or
     * an error only costs the wake-up, and the child's death below ends that
     * wait too.
     */
    if (stack->wake[1] >= 0) {
      ssize_t ignored = write(stack->wake[1], "x", 1);
      (void)ignored;
    }
    /* The server first, so it never talks to mocks that are already gone. */
    for (int i = KH_STACK_CHILDREN - 1; i >= 0; i--)
      kh_stack_child_stop(&stack->children[i], kh_stack_deadline_ms(KH_STACK_STOP_TIMEOUT_MS),
                          stack->exit_report, sizeof(stack->exit_report));
    if (stack->dir != NULL && !stack->keep_state)
      kh_stack_remove_dir(stack->dir);
  }
  pthread_mutex_unlock(&stack->lock);
}

kf_rc kh_stack_exit_status(const kh_stack *stack, kf_err *err) {
  if (stack->exit_report[0] == '\0')
    return KF_OK;
  return kf_err_set(err, KF_ERR_STATE, "%s", stack->exit_report);
}

/*
 * Read the READY line from fd within the deadline, or until wake_fd becomes
 * readable (kh_stack_stop was called). KF_ERR_TIMEOUT when none came in time,
 * KF_ERR_STATE when the pipe closed without one, KF_ERR_NOT_FOUND when woken.
 */
static kf_rc kh_stack_read_ready(int fd, int wake_fd, char *line, size_t cap) {
  size_t len = 0;
  int64_t deadline = kf_time_monotonic_ms() + kh_stack_deadline_ms(KH_STACK_READY_TIMEOUT_MS);
  for (;;) {
    int64_t left = deadline - kf_time_monotonic_ms();
    if (left <= 0)
      return KF_ERR_TIMEOUT;
    struct pollfd pfd[2] = {{.fd = fd, .events = POLLIN}, {.fd = wake_fd, .events = POLLIN}};
    int r = poll(pfd, wake_fd >= 0 ? 2 : 1, (int)left);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return KF_ERR_IO;
    if (r == 0)
      return KF_ERR_TIMEOUT;
    if (wake_fd >= 0 && pfd[1].revents != 0)
      return KF_ERR_NOT_FOUND;
    ssize_t got = read(fd, line + len, cap - 1 - len);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      return KF_ERR_STATE;
    len += (size_t)got;
    line[len] = '\0';
    if (memchr(line, '\n', len) != NULL)
      return KF_OK;
    if (len + 1 >= cap)
      return KF_ERR_STATE;
  }
}

/* The number after "key=" in a READY line, or 0. */
static unsigned kh_stack_ready_port(const char *line, const char *key) {
  const char *p = strstr(line, key);
  if (p == NULL)
    return 0;
  p += strlen(key);
  char digits[8];
  size_t n = 0;
  while (n < sizeof(digits) - 1 && p[n] >= '0' && p[n] <= '9') {
    digits[n] = p[n];
    n++;
  }
  digits[n] = '\0';
  long v = 0;
  if (n == 0 || kf_str_to_long(digits, 1, 65535, &v) != KF_OK)
    return 0;
  return (unsigned)v;
}

/*
 * KONFORM_STACK_WRAPPER: a command every program of the stack starts under
 * (valgrind, strace, ...), so a memory checker sees the real servers of a real
 * run. It is cut at blanks with no quoting, which keeps it free of a shell; its
 * first word is looked up on PATH unless it holds a slash.
 */
#define KH_STACK_WRAPPER_MAX 2048
#define KH_STACK_WRAPPER_WORDS 32
/* Each child's environment names it, so a wrapper can name its log after it. */
#define KH_STACK_CHILD_ENV "KONFORM_STACK_CHILD"
/* More variables than this and the environment is not worth copying. */
#define KH_STACK_ENV_MAX 4096

typedef struct kh_stack_wrapper {
  char text[KH_STACK_WRAPPER_MAX]; /* The variable's copy, cut into words in place. */
  char *words[KH_STACK_WRAPPER_WORDS + 1];
  size_t n;   /* 0: no wrapper. */
  char *path; /* words[0] as found; owned, kh_stack_wrapper_release frees it. */
} kh_stack_wrapper;

static void kh_stack_wrapper_release(kh_stack_wrapper *wr) {
  kf_free(wr->path);
  wr->path = NULL;
}

/* Read and split the variable into *wr (zeroed here); n stays 0 when it is unset or blank. */
static kf_rc kh_stack_wrapper_read(kh_stack_wrapper *wr, kf_err *err) {
  memset(wr, 0, sizeof *wr);
  const char *env = getenv(KH_STACK_WRAPPER_ENV);
  if (env == NULL)
    return KF_OK;
  if (kf_str_copy(wr->text, sizeof wr->text, env) != KF_OK)
    return kf_err_set(err, KF_ERR_LIMIT, "%s is longer than %d bytes", KH_STACK_WRAPPER_ENV,
                      KH_STACK_WRAPPER_MAX - 1);
  char *p = wr->text;
  for (;;) {
    while (*p == ' ' || *p == '\t' || *p == '\n')
      *p++ = '\0';
    if (*p == '\0')
      break;
    if (wr->n == KH_STACK_WRAPPER_WORDS)
      return kf_err_set(err, KF_ERR_LIMIT, "%s has more than %d words", KH_STACK_WRAPPER_ENV,
                        KH_STACK_WRAPPER_WORDS);
    wr->words[wr->n++] = p;
    while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n')
      p++;
  }
  if (wr->n == 0)
    return KF_OK;
  if (strchr(wr->words[0], '/') != NULL) {
    wr->path = kf_strdup(wr->words[0]);
    if (wr->path == NULL)
      return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
    if (!kh_stack_is_executable(wr->path))
      return kf_err_set(err, KF_ERR_NOT_FOUND, "%s: %s is not an executable file",
                        KH_STACK_WRAPPER_ENV, wr->path);
    return KF_OK;
  }
  kf_rc rc = kh_stack_find_on_path(wr->words[0], &wr->path, err);
  if (rc == KF_ERR_NOT_FOUND)
    return kf_err_set(err, rc, "%s: cannot find %s on PATH", KH_STACK_WRAPPER_ENV, wr->words[0]);
  return rc;
}

/* POSIX has the program declare it; glibc's unistd.h does only for _GNU_SOURCE. */
extern char **environ;

/*
 * The child's environment: ours without any KONFORM_STACK_CHILD, then
 * KONFORM_STACK_CHILD=name. The array into *out and its one new string into
 * *entry, both for the caller to kf_free; the other strings are borrowed.
 */
static kf_rc kh_stack_child_env(const char *name, char ***out, char **entry, kf_err *err) {
  size_t n = 0;
  while (environ != NULL && environ[n] != NULL && n < KH_STACK_ENV_MAX)
    n++;
  *entry = kf_str_printf("%s=%s", KH_STACK_CHILD_ENV, name);
  *out = kf_calloc(n + 2, sizeof **out);
  if (*entry == NULL || *out == NULL) {
    kf_free(*entry);
    kf_free(*out);
    *entry = NULL;
    *out = NULL;
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  }
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (!kf_str_starts_with(environ[i], KH_STACK_CHILD_ENV "="))
      (*out)[k++] = environ[i];
  (*out)[k++] = *entry;
  (*out)[k] = NULL;
  return KF_OK;
}

/*
 * argv for child: the wrapper's words, prog, args (NULL-terminated) and
 * "--ready-fd FDNUM", into argv, which has room for cap pointers.
 */
static kf_rc kh_stack_child_argv(const kh_stack_wrapper *wr, const char *prog,
                                 const char *const *args, const char *fdnum, const char **argv,
                                 size_t cap, kf_err *err) {
  size_t argc = 0;
  for (size_t i = 0; i < wr->n; i++)
    argv[argc++] = wr->words[i];
  argv[argc++] = prog;
  for (size_t i = 0; args[i] != NULL; i++) {
    if (argc + 3 >= cap)
      return kf_err_set(err, KF_ERR_LIMIT, "more than %zu arguments for %s", cap, prog);
    argv[argc++] = args[i];
  }
  argv[argc++] = "--ready-fd";
  argv[argc++] = fdnum;
  argv[argc] = NULL;
  return KF_OK;
}

/* In the child between fork and exec: only async-signal-safe calls. */
static void kh_stack_child_exec(const char *path, char *const argv[], char *const envp[],
                                int log_fd, int ready_w, int life_w) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL);
  int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd >= 0)
    dup2(null_fd, 0);
  dup2(log_fd, 1);
  dup2(log_fd, 2);
  kh_stack_set_cloexec(ready_w, false);
  kh_stack_set_cloexec(life_w, false);
  execve(path, argv, envp);
  static const char msg[] = "konform: exec failed\n";
  ssize_t ignored = write(2, msg, sizeof(msg) - 1);
  (void)ignored;
  _exit(127);
}

/*
 * The child did not say READY (rc from the read): reap it and say why, with
 * the end of its log; or, when a stop came meanwhile, say only that.
 */
static kf_rc kh_stack_not_ready(kh_stack *stack, kh_stack_child *c, kf_rc rc, kf_err *err) {
  pthread_mutex_lock(&stack->lock);
  if (stack->stopped) {
    /* A stop came while we waited: it ends (or has ended) the child; nothing to report. */
    pthread_mutex_unlock(&stack->lock);
    return kf_err_set(err, KF_ERR_STATE, "the stack was stopped while %s was starting", c->name);
  }
  bool timed_out = rc == KF_ERR_TIMEOUT;
  /* Give a dying child a moment to finish writing its log, then reap it. */
  bool exited = kh_stack_wait_exit(c, kh_stack_deadline_ms(2000));
  int status = 0;
  if (!exited)
    kill(c->pid, SIGKILL);
  while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR) {
  }
  c->pid = 0;
  char tail[KH_STACK_LOG_TAIL];
  kh_stack_log_tail(c->log_path, tail, sizeof(tail));
  char how[64];
  if (timed_out && !exited)
    (void)kf_str_format(how, sizeof(how), "was not ready within %d ms",
                        kh_stack_deadline_ms(KH_STACK_READY_TIMEOUT_MS));
  else if (WIFEXITED(status))
    (void)kf_str_format(how, sizeof(how), "exited with status %d", WEXITSTATUS(status));
  else if (WIFSIGNALED(status))
    (void)kf_str_format(how, sizeof(how), "was killed by signal %d", WTERMSIG(status));
  else
    (void)kf_str_format(how, sizeof(how), "closed its ready pipe without READY");
  rc = kf_err_set(err, timed_out ? KF_ERR_TIMEOUT : KF_ERR_STATE, "%s %s; the end of its log:\n%s",
                  c->name, how, tail);
  pthread_mutex_unlock(&stack->lock);
  return rc;
}

/* What one start of a child needs, all allocated before the fork. */
typedef struct kh_stack_launch {
  char *prog; /* The program, as found; owned. */
  kh_stack_wrapper wr;
  char **envp;     /* Owned array of borrowed strings but env_entry. */
  char *env_entry; /* KONFORM_STACK_CHILD=name; owned. */
} kh_stack_launch;

/*
 * Fork child c as la says with args (NULL-terminated, "--ready-fd N" appended
 * here); the read end of its ready pipe into *ready_fd (the caller's to close).
 */
static kf_rc kh_stack_fork(kh_stack *stack, kh_stack_child *c, const kh_stack_launch *la,
                           const char *const *args, int *ready_fd, kf_err *err) {
  kf_rc rc = KF_OK;
  int ready_p[2] = {-1, -1}, life_p[2] = {-1, -1};
  int log_fd = open(c->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (log_fd < 0 || pipe(ready_p) != 0 || pipe(life_p) != 0 ||
      kh_stack_set_cloexec(ready_p[0], true) != 0 || kh_stack_set_cloexec(ready_p[1], true) != 0 ||
      kh_stack_set_cloexec(life_p[0], true) != 0 || kh_stack_set_cloexec(life_p[1], true) != 0) {
    rc = kf_err_set(err, KF_ERR_IO, "cannot prepare %s: %s", c->name, strerror(errno));
    goto fail;
  }
  char fdnum[16];
  if (kf_str_format(fdnum, sizeof(fdnum), "%d", ready_p[1]) != KF_OK) {
    rc = kf_err_set(err, KF_ERR_INTERNAL, "fd number too long");
    goto fail;
  }
  const char *argv[KH_STACK_WRAPPER_WORDS + KH_STACK_MAX_SERVER_ARGS + 32];
  rc = kh_stack_child_argv(&la->wr, la->prog, args, fdnum, argv, sizeof argv / sizeof argv[0], err);
  if (rc != KF_OK)
    goto fail;

  /* The child is registered under the lock, so a concurrent stop sees it and ends it. */
  pthread_mutex_lock(&stack->lock);
  if (stack->stopped) {
    pthread_mutex_unlock(&stack->lock);
    rc = kf_err_set(err, KF_ERR_STATE, "the stack was stopped while starting");
    goto fail;
  }
  pid_t pid = fork();
  if (pid < 0) {
    pthread_mutex_unlock(&stack->lock);
    rc = kf_err_set(err, KF_ERR_IO, "cannot start %s: %s", c->name, strerror(errno));
    goto fail;
  }
  if (pid == 0)
    kh_stack_child_exec(la->wr.n > 0 ? la->wr.path : la->prog, (char *const *)argv, la->envp,
                        log_fd, ready_p[1], life_p[1]);
  c->pid = pid;
  c->life_fd = life_p[0];
  life_p[0] = -1;
  pthread_mutex_unlock(&stack->lock);
  close(ready_p[1]);
  ready_p[1] = -1;
  close(life_p[1]);
  life_p[1] = -1;
  close(log_fd);
  log_fd = -1;
  *ready_fd = ready_p[0];
  ready_p[0] = -1;
fail:
  if (log_fd >= 0)
    close(log_fd);
  for (int i = 0; i < 2; i++) {
    if (ready_p[i] >= 0)
      close(ready_p[i]);
    if (life_p[i] >= 0)
      close(life_p[i]);
  }
  return rc;
}

/*
 * Start child c with args (NULL-terminated), under KONFORM_STACK_WRAPPER when
 * it is set; *ready_fd (-1 before) is where its READY line comes
 * (kh_stack_await), so several children can start at once.
 */
static kf_rc kh_stack_spawn(kh_stack *stack, kh_stack_child *c, const char *const *args,
                            int *ready_fd, kf_err *err) {
  kh_stack_launch la;
  memset(&la, 0, sizeof la);
  kf_rc rc = kh_stack_find_program(c->program, &la.prog, err);
  if (rc == KF_OK)
    rc = kh_stack_wrapper_read(&la.wr, err);
  if (rc == KF_OK)
    rc = kh_stack_child_env(c->name, &la.envp, &la.env_entry, err);
  if (rc == KF_OK && (c->log_path = kf_str_printf("%s/%s.log", stack->dir, c->name)) == NULL)
    rc = kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  if (rc == KF_OK)
    rc = kh_stack_fork(stack, c, &la, args, ready_fd, err);
  kf_free(la.prog);
  kh_stack_wrapper_release(&la.wr);
  kf_free(la.envp);
  kf_free(la.env_entry);
  return rc;
}

/*
 * Wait for the READY line of child c on *ready_fd (a kh_stack_spawn's),
 * which is closed and set to -1 whatever comes; a negative one waits for
 * nothing.
 */
static kf_rc kh_stack_await(kh_stack *stack, kh_stack_child *c, int *ready_fd, char *ready,
                            size_t ready_cap, kf_err *err) {
  if (*ready_fd < 0)
    return KF_OK;
  kf_rc rc = kh_stack_read_ready(*ready_fd, stack->wake[0], ready, ready_cap);
  close(*ready_fd);
  *ready_fd = -1;
  if (rc != KF_OK)
    rc = kh_stack_not_ready(stack, c, rc, err);
  return rc;
}

/*
 * The folder the stack makes its own folder in. $TMPDIR when it is set.
 * Else /dev/shm, a folder in memory, when we may write there and it has
 * KH_STACK_SHM_MIN free: the stack's stores live for one run (or for a look
 * afterwards with --keep-state), and on a disk every program's start (its
 * schema) and every WAL checkpoint of the three sqlite stores waits for an
 * fsync: on this 2-core machine's disk those waits took about a fifth of a
 * 475-scenario run, and the request or mail that waited held up its
 * scenario. Else /tmp.
 */
#define KH_STACK_SHM "/dev/shm"
#define KH_STACK_SHM_MIN (256ull * 1024 * 1024)
const char *kh_stack_tmp_base(void) {
  const char *tmp = getenv("TMPDIR");
  if (tmp != NULL && tmp[0] != '\0')
    return tmp;
  struct stat st;
  struct statvfs vfs;
  if (stat(KH_STACK_SHM, &st) == 0 && S_ISDIR(st.st_mode) &&
      access(KH_STACK_SHM, W_OK | X_OK) == 0 && statvfs(KH_STACK_SHM, &vfs) == 0 &&
      (unsigned long long)vfs.f_bavail * vfs.f_frsize >= KH_STACK_SHM_MIN)
    return KH_STACK_SHM;
  return "/tmp";
}

/* Start the mocks (and the folder); takes stack->lock itself for the steps that need it. */
static kf_rc kh_stack_start_mocks(kh_stack *stack, const kh_stack_options *opts, kf_err *err) {
  char tmpl[KH_STACK_PATH_MAX];
  if (kf_str_format(tmpl, sizeof(tmpl), "%s/konform-XXXXXX", kh_stack_tmp_base()) != KF_OK)
    return kf_err_set(err, KF_ERR_LIMIT, "TMPDIR is too long");
  pthread_mutex_lock(&stack->lock);
  kf_rc rc = KF_OK;
  if (stack->stopped) {
    /* A signal arrived before we started: start nothing. */
    rc = kf_err_set(err, KF_ERR_STATE, "the stack was stopped before it started");
  } else if (mkdtemp(tmpl) == NULL) {
    rc = kf_err_set(err, KF_ERR_IO, "cannot create a temporary folder: %s", strerror(errno));
  } else if ((stack->dir = kf_strdup(tmpl)) == NULL) {
    rmdir(tmpl);
    rc = kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  }
  pthread_mutex_unlock(&stack->lock);
  if (rc != KF_OK)
    return rc;

  char mail_db[KH_STACK_PATH_MAX], post_db[KH_STACK_PATH_MAX];
  if (kf_str_format(mail_db, sizeof(mail_db), "%s/mail.db", stack->dir) != KF_OK ||
      kf_str_format(post_db, sizeof(post_db), "%s/post.db", stack->dir) != KF_OK)
    return kf_err_set(err, KF_ERR_LIMIT, "path too long");
  char mail_port[8], smtp_port[8], post_port[8];
  if (kf_str_format(mail_port, sizeof mail_port, "%u", opts->mail_port) != KF_OK ||
      kf_str_format(smtp_port, sizeof smtp_port, "%u", opts->smtp_port) != KF_OK ||
      kf_str_format(post_port, sizeof post_port, "%u", opts->post_port) != KF_OK)
    return kf_err_set(err, KF_ERR_INVALID, "port out of range");
  /* The two mocks know nothing of each other: both start, then both are waited for. */
  const char *mail_args[] = {"--port", mail_port, "--smtp-port", smtp_port, "--db", mail_db, NULL};
  const char *post_args[] = {"--port", post_port, "--db", post_db, NULL};
  int mail_fd = -1, post_fd = -1;
  char ready[KH_STACK_READY_MAX];
  rc = kh_stack_spawn(stack, &stack->children[KH_STACK_MAIL], mail_args, &mail_fd, err);
  if (rc == KF_OK)
    rc = kh_stack_spawn(stack, &stack->children[KH_STACK_POST], post_args, &post_fd, err);
  if (rc == KF_OK)
    rc = kh_stack_await(stack, &stack->children[KH_STACK_MAIL], &mail_fd, ready, sizeof ready, err);
  if (rc == KF_OK) {
    stack->mail_port = kh_stack_ready_port(ready, "http=");
    stack->smtp_port = kh_stack_ready_port(ready, "smtp=");
    if (stack->mail_port == 0 || stack->smtp_port == 0)
      rc = kf_err_set(err, KF_ERR_STATE, "konform-mail wrote a bad READY line: %s", ready);
  }
  if (rc == KF_OK)
    rc = kh_stack_await(stack, &stack->children[KH_STACK_POST], &post_fd, ready, sizeof ready, err);
  if (rc == KF_OK && (stack->post_port = kh_stack_ready_port(ready, "http=")) == 0)
    rc = kf_err_set(err, KF_ERR_STATE, "konform-post wrote a bad READY line: %s", ready);
  /* After a failure: kh_stack_start stops whatever did start. */
  if (mail_fd >= 0)
    close(mail_fd);
  if (post_fd >= 0)
    close(post_fd);
  return rc;
}

/*
 * Start one reference server (child which) against the mocks, with the hash
 * cost given and the extra arguments; its READY line comes on *ready_fd.
 */
static kf_rc kh_stack_start_server(kh_stack *stack, int which, const char *cost,
                                   const char *const *extra, int *ready_fd, kf_err *err) {
  char db[KH_STACK_PATH_MAX], smtp_url[64], post_url[64];
  if (kf_str_format(db, sizeof(db), "%s/%s.db", stack->dir, kh_stack_names[which]) != KF_OK ||
      kf_str_format(smtp_url, sizeof(smtp_url), "smtp://127.0.0.1:%u", stack->smtp_port) != KF_OK ||
      kf_str_format(post_url, sizeof(post_url), "http://127.0.0.1:%u", stack->post_port) != KF_OK)
    return kf_err_set(err, KF_ERR_LIMIT, "path too long");
  const char *args[KH_STACK_MAX_SERVER_ARGS + 16] = {
      "--port", "0",          "--test-mode", "--hash-cost", cost,    "--db",
      db,       "--smtp-url", smtp_url,      "--post-url",  post_url};
  size_t n = 11;
  /*
   * A timing step sends up to a hundred wrong passwords for one account, which
   * the lockout (AUTH-05) would turn into locked answers after the fifth: the
   * timing server measures the hash work with the lockout off, as
   * docs/targets.md asks of a target's timing_base_url.
   */
  if (which == KH_STACK_TIMING) {
    args[n++] = "--lockout-attempts";
    args[n++] = "0";
  }
  for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
    if (i >= KH_STACK_MAX_SERVER_ARGS)
      return kf_err_set(err, KF_ERR_LIMIT, "more than %d server arguments",
                        KH_STACK_MAX_SERVER_ARGS);
    args[n++] = extra[i];
  }
  args[n] = NULL;
  return kh_stack_spawn(stack, &stack->children[which], args, ready_fd, err);
}

/* Wait for server which to be READY (fd from kh_stack_start_server); its port into *port. */
static kf_rc kh_stack_await_server(kh_stack *stack, int which, int *ready_fd, unsigned *port,
                                   kf_err *err) {
  char ready[KH_STACK_READY_MAX];
  kf_rc rc = kh_stack_await(stack, &stack->children[which], ready_fd, ready, sizeof ready, err);
  if (rc == KF_OK && (*port = kh_stack_ready_port(ready, "http=")) == 0)
    rc = kf_err_set(err, KF_ERR_STATE, "%s wrote a bad READY line: %s", kh_stack_names[which],
                    ready);
  return rc;
}

/* Both servers start at once (each only needs the mocks), then both are waited for. */
static kf_rc kh_stack_start_servers(kh_stack *stack, const kh_stack_options *opts, kf_err *err) {
  int fds[2] = {-1, -1};
  /* The servers check passwords at the test cost; the timing one at the interactive cost. */
  kf_rc rc = kh_stack_start_server(stack, KH_STACK_SERVER, "test", opts->server_args, &fds[0], err);
  if (rc == KF_OK && opts->timing)
    rc = kh_stack_start_server(stack, KH_STACK_TIMING, "interactive", opts->server_args, &fds[1],
                               err);
  if (rc == KF_OK)
    rc = kh_stack_await_server(stack, KH_STACK_SERVER, &fds[0], &stack->server_port, err);
  if (rc == KF_OK)
    rc = kh_stack_await_server(stack, KH_STACK_TIMING, &fds[1], &stack->timing_port, err);
  for (int i = 0; i < 2; i++)
    if (fds[i] >= 0)
      close(fds[i]);
  return rc;
}

kf_rc kh_stack_start(kh_stack *stack, const kh_stack_options *opts, kf_err *err) {
  kf_rc reg = kh_stack_register(stack, err);
  if (reg != KF_OK)
    return reg;
  pthread_mutex_lock(&stack->lock);
  assert(stack->dir == NULL);
  stack->keep_state = opts->keep_state;
  kf_rc rc = KF_OK;
  /* The self-pipe lets a stop wake the READY waits, which hold no lock. */
  if (stack->wake[0] < 0 &&
      (pipe(stack->wake) != 0 || kh_stack_set_cloexec(stack->wake[0], true) != 0 ||
       kh_stack_set_cloexec(stack->wake[1], true) != 0))
    rc = kf_err_set(err, KF_ERR_IO, "cannot create a pipe: %s", strerror(errno));
  pthread_mutex_unlock(&stack->lock);
  if (rc == KF_OK)
    rc = kh_stack_start_mocks(stack, opts, err);
  if (rc == KF_OK && opts->servers)
    rc = kh_stack_start_servers(stack, opts, err);
  if (rc != KF_OK)
    kh_stack_stop(stack);
  return rc;
}

const char *kh_stack_dir(const kh_stack *stack) {
  return stack->dir;
}

/*
 * The reference server runs with the catalogue's documented defaults, so the
 * profile leaves "defaults.*" to kh_catalogue_fill_defaults like any target's.
 */
kf_rc kh_stack_profile(const kh_stack *stack, kh_profile *profile, kf_err *err) {
  char url[64];
  struct {
    const char *key;
    unsigned port;
  } urls[] = {{"base_url", stack->server_port},
              {"timing_base_url", stack->timing_port},
              {"mail_api", stack->mail_port},
              {"post_api", stack->post_port}};
  for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
    if (urls[i].port == 0)
      continue; /* Not started (no timing server). */
    if (kf_str_format(url, sizeof(url), "http://127.0.0.1:%u", urls[i].port) != KF_OK ||
        kh_profile_set(profile, urls[i].key, url) != KF_OK)
      return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  }
  if (kh_profile_set(profile, "clock", "konform") != KF_OK ||
      kh_profile_set(profile, "clock_header", "Konform-Clock") != KF_OK ||
      kh_profile_set(profile, "wait_timeout", "10s") != KF_OK)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  return kh_profile_finish(profile, err);
}

/* The output of `konform-server FLAG` (--list-faults, --list-variants), read through a pipe. */
kf_rc kh_stack_server_listing(const char *flag, kf_buf *out, kf_err *err) {
  char *prog = NULL;
  kf_rc rc = kh_stack_find_program("konform-server", &prog, err);
  if (rc != KF_OK)
    return rc;
  int p[2];
  if (pipe(p) != 0) {
    kf_free(prog);
    return kf_err_set(err, KF_ERR_IO, "pipe: %s", strerror(errno));
  }
  pid_t pid = fork();
  if (pid == 0) {
    dup2(p[1], 1);
    close(p[0]);
    close(p[1]);
    execl(prog, prog, flag, (char *)NULL);
    _exit(127);
  }
  close(p[1]);
  kf_free(prog);
  char chunk[4096];
  ssize_t n;
  while (pid > 0 && rc == KF_OK && (n = read(p[0], chunk, sizeof chunk)) != 0) {
    if (n < 0 && errno == EINTR)
      continue;
    rc = n < 0 ? KF_ERR_IO : kf_buf_append(out, chunk, (size_t)n);
  }
  close(p[0]);
  int status = 0;
  while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (pid < 0 || rc != KF_OK || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return kf_err_set(err, rc != KF_OK ? rc : KF_ERR_STATE,
                      "konform-server %s did not give its catalogue", flag);
  return KF_OK;
}
