/*
 * kp_config.h: konform-post's command line. One kf_opt table parses argv and
 * prints the usage, so the options and their help cannot drift apart.
 *
 * Ownership: the strings in a kp_config point into argv (borrowed) or are
 * static defaults; nothing here allocates but the usage text, which goes into
 * the caller's kf_buf.
 */
#ifndef KP_CONFIG_H
#define KP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "kf/httpd.h"
#include "kf/log.h"

typedef struct kp_config {
  const char *bind;
  unsigned port;
  const char *db; /* NULL = in memory. */
  size_t max_body;
  size_t max_items;
  unsigned threads;     /* 0 = a thread per connection. */
  kf_httpd_limits http; /* Slow-client limits of the HTTP API. */
  int ready_fd;         /* -1 = none. */
  kf_log_level log_level;
  bool help;    /* --help: print the usage and exit. */
  bool version; /* --version: print the version and exit. */
} kp_config;

/* The defaults: 127.0.0.1, port 8427, in memory, 1 MiB bodies, 100000 letters, ... */
void kp_config_init(kp_config *cfg);

/*
 * Parse argv[1..argc) over the values already in cfg. KF_ERR_INVALID with a
 * message naming the option for a bad value, an unknown option or an operand.
 */
kf_rc kp_config_parse(kp_config *cfg, int argc, char *const *argv, kf_err *err);

/* Append the whole usage text (--help) to out. */
kf_rc kp_config_usage(kf_buf *out);

#endif
