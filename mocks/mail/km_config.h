/*
 * km_config.h: konform-mail's command line. One kf_opt table parses argv and
 * prints the usage, so the options and their help cannot drift apart.
 *
 * Ownership: the strings in a km_config point into argv (borrowed) or are
 * static defaults; nothing here allocates but the usage text, which goes into
 * the caller's kf_buf.
 */
#ifndef KM_CONFIG_H
#define KM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "kf/httpd.h"
#include "kf/log.h"

typedef struct km_config {
  const char *bind;
  unsigned http_port;
  unsigned smtp_port;
  const char *db_path; /* NULL = in memory. */
  size_t max_message_bytes;
  size_t max_recipients;
  unsigned max_sessions;
  unsigned max_sessions_per_ip;
  unsigned smtp_timeout_s;      /* Idle: between commands, or no byte at all. */
  unsigned smtp_line_timeout_s; /* Total for one command line, first byte to LF. */
  unsigned smtp_data_timeout_s; /* Total for DATA, the 354 reply to the final dot. */
  unsigned smtp_evict_after_ms; /* A full cap ends a session this long without a reply. */
  kf_httpd_limits http;         /* The HTTP API's slow-client limits. */
  const char *hostname;
  int ready_fd; /* -1 = none. */
  kf_log_level log_level;
  bool help;    /* --help: print the usage and exit. */
  bool version; /* --version: print the version and exit. */
} km_config;

/*
 * The defaults: 127.0.0.1, HTTP 8426, SMTP 8425, in memory, 10 MiB, 256
 * sessions, 8 from one address, idle 60 s, a command line 30 s, DATA 120 s.
 */
void km_config_init(km_config *cfg);

/*
 * Parse argv[1..argc) over the values already in cfg. KF_ERR_INVALID with a
 * message naming the option for a bad value, an unknown option or an operand.
 */
kf_rc km_config_parse(km_config *cfg, int argc, char *const *argv, kf_err *err);

/* Append the whole usage text (--help) to out. */
kf_rc km_config_usage(kf_buf *out);

#endif
