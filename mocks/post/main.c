/*
 * konform-post: the mock postal service. Senders POST letters as JSON; tests
 * list, search, read, delete and long-poll them over the shared mailbox API.
 */
/* getopt_long is a GNU/BSD extension, not POSIX; _DEFAULT_SOURCE exposes it. */
#define _DEFAULT_SOURCE

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/daemon.h"
#include "kf/httpd.h"
#include "kf/log.h"
#include "kf/mailbox.h"
#include "kf/str.h"
#include "kf/version.h"
#include "kp_service.h"

#define KP_DEFAULT_PORT 8427
#define KP_DEFAULT_MAX_BODY (1024L * 1024L)
#define KP_DEFAULT_MAX_ITEMS 100000L

typedef struct kp_options {
  const char *bind;
  long port;
  const char *db;
  long max_body;
  long max_items;
  long threads;
  long ready_fd;
  kf_log_level log_level;
} kp_options;

static void kp_usage(FILE *out) {
  fprintf(out,
          "Usage: konform-post [OPTIONS]\n"
          "The konform mock postal service: accepts letters over HTTP and serves them\n"
          "for tests to list, search, read, delete and wait for.\n"
          "\n"
          "  --bind ADDR        address to listen on (default 127.0.0.1)\n"
          "  --port N           HTTP port (default %d; 0 picks a free port)\n"
          "  --db PATH          sqlite file to keep letters in (default: in memory)\n"
          "  --max-body BYTES   largest request body accepted (default %ld)\n"
          "  --max-items N      most letters kept at once (default %ld)\n"
          "  --threads N        worker threads; 0 = one per connection (default 0,\n"
          "                     because every long-poll holds a thread)\n"
          "  --ready-fd N       write \"READY http=<port>\" to fd N once listening\n"
          "  --log-level L      debug, info, warn, error or off (default info)\n"
          "  --help             show this help\n"
          "  --version          show the version\n",
          KP_DEFAULT_PORT, KP_DEFAULT_MAX_BODY, KP_DEFAULT_MAX_ITEMS);
}

/* Parse a numeric option value or report which option was wrong. */
static int kp_number_arg(const char *name, const char *value, long min, long max, long *out) {
  if (kf_str_to_long(value, min, max, out) != KF_OK) {
    fprintf(stderr, "konform-post: --%s: expected a number from %ld to %ld, got \"%s\"\n", name,
            min, max, value);
    return -1;
  }
  return 0;
}

/* Returns 0 to run, 1 to exit successfully (help, version), 2 on a usage error. */
static int kp_parse_args(int argc, char **argv, kp_options *opt) {
  enum {
    OPT_BIND = 1,
    OPT_PORT,
    OPT_DB,
    OPT_MAX_BODY,
    OPT_MAX_ITEMS,
    OPT_THREADS,
    OPT_READY_FD,
    OPT_LOG_LEVEL,
    OPT_HELP,
    OPT_VERSION
  };
  static const struct option longopts[] = {
      {"bind", required_argument, NULL, OPT_BIND},
      {"port", required_argument, NULL, OPT_PORT},
      {"db", required_argument, NULL, OPT_DB},
      {"max-body", required_argument, NULL, OPT_MAX_BODY},
      {"max-items", required_argument, NULL, OPT_MAX_ITEMS},
      {"threads", required_argument, NULL, OPT_THREADS},
      {"ready-fd", required_argument, NULL, OPT_READY_FD},
      {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
      {"help", no_argument, NULL, OPT_HELP},
      {"version", no_argument, NULL, OPT_VERSION},
      {NULL, 0, NULL, 0},
  };
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    int bad = 0;
    switch (c) {
    case OPT_BIND:
      opt->bind = optarg;
      break;
    case OPT_PORT:
      bad = kp_number_arg("port", optarg, 0, 65535, &opt->port);
      break;
    case OPT_DB:
      opt->db = optarg;
      break;
    case OPT_MAX_BODY:
      bad = kp_number_arg("max-body", optarg, 1, 1024L * 1024L * 1024L, &opt->max_body);
      break;
    case OPT_MAX_ITEMS:
      bad = kp_number_arg("max-items", optarg, 1, 100000000L, &opt->max_items);
      break;
    case OPT_THREADS:
      bad = kp_number_arg("threads", optarg, 0, 1024, &opt->threads);
      break;
    case OPT_READY_FD:
      bad = kp_number_arg("ready-fd", optarg, 0, 1000000, &opt->ready_fd);
      break;
    case OPT_LOG_LEVEL: {
      int level = kf_log_level_parse(optarg);
      if (level < 0) {
        fprintf(stderr, "konform-post: --log-level: unknown level \"%s\"\n", optarg);
        bad = -1;
      } else {
        opt->log_level = (kf_log_level)level;
      }
      break;
    }
    case OPT_HELP:
      kp_usage(stdout);
      return 1;
    case OPT_VERSION:
      printf("konform-post %s\n", KONFORM_VERSION);
      return 1;
    default:
      kp_usage(stderr);
      return 2;
    }
    if (bad)
      return 2;
  }
  if (optind < argc) {
    fprintf(stderr, "konform-post: unexpected argument \"%s\"\n", argv[optind]);
    return 2;
  }
  return 0;
}

int main(int argc, char **argv) {
  /* Block the shutdown signals before any thread exists, so every thread
   * inherits the mask and only kf_daemon_wait_for_signal receives them. */
  if (kf_daemon_block_signals() != KF_OK) {
    fprintf(stderr, "konform-post: cannot set up signal handling\n");
    return 1;
  }
  kp_options opt = {.bind = "127.0.0.1",
                    .port = KP_DEFAULT_PORT,
                    .max_body = KP_DEFAULT_MAX_BODY,
                    .max_items = KP_DEFAULT_MAX_ITEMS,
                    .threads = 0,
                    .ready_fd = -1,
                    .log_level = KF_LOG_INFO};
  int parsed = kp_parse_args(argc, argv, &opt);
  if (parsed == 1)
    return 0;
  if (parsed != 0)
    return 2;
  kf_log_setup("konform-post", opt.log_level);
  kf_alloc_install_jansson();

  kf_err err;
  kf_err_init(&err);
  kf_mailbox *mb = NULL;
  kf_httpd *httpd = NULL;
  int status = 1;
  kf_rc rc = kf_mailbox_open(opt.db, (size_t)opt.max_items, &mb, &err);
  if (rc == KF_OK) {
    kf_httpd_config cfg;
    kf_httpd_config_init(&cfg);
    cfg.bind_address = opt.bind;
    cfg.port = (unsigned)opt.port;
    cfg.threads = (unsigned)opt.threads;
    cfg.max_body = (size_t)opt.max_body;
    cfg.server_name = "konform-post/" KONFORM_VERSION;
    rc = kf_httpd_new(&cfg, &httpd, &err);
  }
  if (rc == KF_OK)
    rc = kp_service_register(httpd, mb, &err);
  if (rc == KF_OK)
    rc = kf_httpd_start(httpd, &err);
  if (rc == KF_OK) {
    unsigned port = kf_httpd_port(httpd);
    kf_info("listening on http://%s:%u", opt.bind, port);
    char line[64];
    rc = kf_str_format(line, sizeof(line), "READY http=%u\n", port);
    if (rc == KF_OK)
      rc = kf_daemon_ready((int)opt.ready_fd, line);
    if (rc != KF_OK)
      kf_err_set(&err, rc, "cannot write the readiness line to fd %ld", opt.ready_fd);
  }
  if (rc == KF_OK) {
    int sig = kf_daemon_wait_for_signal();
    kf_info("signal %d: shutting down", sig);
    status = 0;
  } else {
    kf_error("%s", err.message);
  }
  /* Release long-polls first: the daemon's stop waits for requests in flight. */
  if (mb)
    kf_mailbox_shutdown(mb);
  kf_httpd_free(httpd);
  kf_mailbox_free(mb);
  return status;
}
