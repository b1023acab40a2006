/* log.c: leveled logging to stderr (see kf/log.h). */
#include "kf/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kf/str.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_program[64] = "konform";
static kf_log_level log_min = KF_LOG_INFO;

void kf_log_setup(const char *program, kf_log_level level) {
  pthread_mutex_lock(&log_lock);
  (void)kf_str_copy(log_program, sizeof log_program, program);
  log_min = level;
  pthread_mutex_unlock(&log_lock);
}

int kf_log_level_parse(const char *name) {
  static const char *const names[] = {"debug", "info", "warn", "error", "off"};
  for (int i = 0; i < 5; i++)
    if (strcmp(name, names[i]) == 0)
      return i;
  return -1;
}

void kf_log(kf_log_level level, const char *fmt, ...) {
  static const char *const labels[] = {"debug", "info", "warn", "error", "off"};
  if (level < log_min || level >= KF_LOG_OFF)
    return;
  char line[2048];
  va_list ap;
  va_start(ap, fmt);
  /* A long message is cut rather than split across lines. */
  (void)vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  pthread_mutex_lock(&log_lock);
  fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: %s\n", tm.tm_year + 1900,
          tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L,
          log_program, labels[level], line);
  pthread_mutex_unlock(&log_lock);
}
