/*
 * log.h: leveled logging to stderr, one line per event, safe from any thread.
 *
 * Ownership: nothing here allocates; the program name is copied.
 */
#ifndef KF_LOG_H
#define KF_LOG_H

typedef enum kf_log_level {
  KF_LOG_DEBUG,
  KF_LOG_INFO,
  KF_LOG_WARN,
  KF_LOG_ERROR,
  KF_LOG_OFF
} kf_log_level;

/* Set the program name shown in each line and the minimum level. */
void kf_log_setup(const char *program, kf_log_level level);
/* Parse "debug", "info", "warn", "error" or "off"; returns -1 for anything else. */
int kf_log_level_parse(const char *name);
void kf_log(kf_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define kf_debug(...) kf_log(KF_LOG_DEBUG, __VA_ARGS__)
#define kf_info(...) kf_log(KF_LOG_INFO, __VA_ARGS__)
#define kf_warn(...) kf_log(KF_LOG_WARN, __VA_ARGS__)
#define kf_error(...) kf_log(KF_LOG_ERROR, __VA_ARGS__)

#endif
