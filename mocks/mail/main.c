/*
 * konform-mail: a real SMTP server that captures every mail it receives and
 * serves them over the shared mailbox HTTP API (docs/design.md), so scenarios
 * can wait for and inspect the mails the system under test sends.
 *
 * Start-up order matters: signals are blocked before any thread exists so only
 * the main thread receives SIGTERM/SIGINT; READY is written only once both the
 * HTTP and the SMTP port listen. Shutdown runs the other way round: SMTP stops
 * first (nothing new arrives, nothing is half-stored), then long-poll waiters
 * are woken, then HTTP requests in flight finish, then the store closes.
 */

/* getopt_long is a GNU/BSD extension, not POSIX; _DEFAULT_SOURCE exposes it. */
#define _DEFAULT_SOURCE

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/daemon.h"
#include "kf/httpd.h"
#include "kf/log.h"
#include "kf/mailbox.h"
#include "kf/mailbox_api.h"
#include "kf/str.h"
#include "kf/version.h"
#include "km_listener.h"
#include "km_mime.h"
#include "km_smtp.h"

/* The most mails kept at once; a conformance run sends far fewer. */
#define MAIL_MAX_ITEMS 100000

typedef struct mail_config {
  const char *bind;
  unsigned http_port;
  unsigned smtp_port;
  const char *db_path; /* NULL = in memory. */
  size_t max_message_bytes;
  size_t max_recipients;
  unsigned max_sessions;
  unsigned smtp_timeout_s;
  const char *hostname;
  int ready_fd;
  kf_log_level log_level;
} mail_config;

static const char mail_usage[] =
    "Usage: konform-mail [OPTION]...\n"
    "A capturing SMTP server with an HTTP API for konform scenarios.\n"
    "\n"
    "  --bind ADDR              numeric address to listen on (default 127.0.0.1)\n"
    "  --port N                 HTTP API port (default 8426; 0 = any free port)\n"
    "  --smtp-port N            SMTP port (default 8425; 0 = any free port)\n"
    "  --db PATH                sqlite file for the mails (default: in memory)\n"
    "  --max-message-bytes N    largest accepted message (default 10485760)\n"
    "  --max-recipients N       most recipients per message (default 100)\n"
    "  --max-sessions N         concurrent SMTP sessions (default 64)\n"
    "  --smtp-timeout S         SMTP idle timeout in seconds (default 300)\n"
    "  --hostname NAME          name in the SMTP greeting (default konform-mail.localhost)\n"
    "  --ready-fd N             write \"READY http=<port> smtp=<port>\" to fd N once listening\n"
    "  --log-level L            debug, info, warn, error or off (default info)\n"
    "  --help                   show this help\n"
    "  --version                show the version\n";

typedef enum mail_action { MAIL_RUN, MAIL_HELP, MAIL_VERSION } mail_action;

static void mail_config_init(mail_config *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->bind = "127.0.0.1";
  cfg->http_port = 8426;
  cfg->smtp_port = 8425;
  cfg->db_path = NULL;
  cfg->max_message_bytes = (size_t)10 * 1024 * 1024;
  cfg->max_recipients = 100;
  cfg->max_sessions = 64;
  cfg->smtp_timeout_s = 300;
  cfg->hostname = "konform-mail.localhost";
  cfg->ready_fd = -1;
  cfg->log_level = KF_LOG_INFO;
}

static kf_rc mail_number(const char *opt, const char *value, long min, long max, long *out,
                         kf_err *err) {
  if (kf_str_to_long(value, min, max, out) != KF_OK) {
    return kf_err_set(err, KF_ERR_INVALID,
                      "--%s: expected a whole number from %ld to %ld, got \"%s\"", opt, min, max,
                      value);
  }
  return KF_OK;
}

static kf_rc mail_config_parse(int argc, char **argv, mail_config *cfg, mail_action *action,
                               kf_err *err) {
  enum {
    OPT_BIND = 256,
    OPT_PORT,
    OPT_SMTP_PORT,
    OPT_DB,
    OPT_MAX_BYTES,
    OPT_MAX_RCPT,
    OPT_MAX_SESSIONS,
    OPT_TIMEOUT,
    OPT_HOSTNAME,
    OPT_READY_FD,
    OPT_LOG_LEVEL,
    OPT_HELP,
    OPT_VERSION
  };
  static const struct option options[] = {
      {"bind", required_argument, NULL, OPT_BIND},
      {"port", required_argument, NULL, OPT_PORT},
      {"smtp-port", required_argument, NULL, OPT_SMTP_PORT},
      {"db", required_argument, NULL, OPT_DB},
      {"max-message-bytes", required_argument, NULL, OPT_MAX_BYTES},
      {"max-recipients", required_argument, NULL, OPT_MAX_RCPT},
      {"max-sessions", required_argument, NULL, OPT_MAX_SESSIONS},
      {"smtp-timeout", required_argument, NULL, OPT_TIMEOUT},
      {"hostname", required_argument, NULL, OPT_HOSTNAME},
      {"ready-fd", required_argument, NULL, OPT_READY_FD},
      {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
      {"help", no_argument, NULL, OPT_HELP},
      {"version", no_argument, NULL, OPT_VERSION},
      {NULL, 0, NULL, 0},
  };
  *action = MAIL_RUN;
  opterr = 0;
  int c;
  long n = 0;
  kf_rc rc = KF_OK;
  while (rc == KF_OK && (c = getopt_long(argc, argv, "", options, NULL)) != -1) {
    switch (c) {
    case OPT_BIND:
      cfg->bind = optarg;
      break;
    case OPT_PORT:
      rc = mail_number("port", optarg, 0, 65535, &n, err);
      cfg->http_port = (unsigned)n;
      break;
    case OPT_SMTP_PORT:
      rc = mail_number("smtp-port", optarg, 0, 65535, &n, err);
      cfg->smtp_port = (unsigned)n;
      break;
    case OPT_DB:
      cfg->db_path = optarg;
      break;
    case OPT_MAX_BYTES:
      /* Capped at 1 GiB: a message is held in memory while it arrives. */
      rc = mail_number("max-message-bytes", optarg, 1, 1024L * 1024 * 1024, &n, err);
      cfg->max_message_bytes = (size_t)n;
      break;
    case OPT_MAX_RCPT:
      rc = mail_number("max-recipients", optarg, 1, 100000, &n, err);
      cfg->max_recipients = (size_t)n;
      break;
    case OPT_MAX_SESSIONS:
      rc = mail_number("max-sessions", optarg, 1, 10000, &n, err);
      cfg->max_sessions = (unsigned)n;
      break;
    case OPT_TIMEOUT:
      rc = mail_number("smtp-timeout", optarg, 1, 86400, &n, err);
      cfg->smtp_timeout_s = (unsigned)n;
      break;
    case OPT_HOSTNAME:
      if (optarg[0] == '\0' || strpbrk(optarg, " \t\r\n") != NULL) {
        rc = kf_err_set(err, KF_ERR_INVALID, "--hostname: must be a non-empty name without blanks");
      }
      cfg->hostname = optarg;
      break;
    case OPT_READY_FD:
      rc = mail_number("ready-fd", optarg, 0, 65535, &n, err);
      cfg->ready_fd = (int)n;
      break;
    case OPT_LOG_LEVEL: {
      int level = kf_log_level_parse(optarg);
      if (level < 0)
        rc = kf_err_set(err, KF_ERR_INVALID, "--log-level: unknown level \"%s\"", optarg);
      cfg->log_level = (kf_log_level)level;
      break;
    }
    case OPT_HELP:
      *action = MAIL_HELP;
      break;
    case OPT_VERSION:
      *action = MAIL_VERSION;
      break;
    default:
      rc = kf_err_set(err, KF_ERR_INVALID, "unknown option or missing value: %s",
                      optind > 0 && optind <= argc ? argv[optind - 1] : "?");
      break;
    }
  }
  if (rc == KF_OK && optind < argc) {
    rc = kf_err_set(err, KF_ERR_INVALID, "unexpected argument \"%s\"", argv[optind]);
  }
  return rc;
}

/* Store one received message: decode it, then add document and raw source at once. */
static kf_rc mail_deliver(void *ctx, const km_smtp_envelope *env, const char *data, size_t len,
                          int64_t *id_out) {
  kf_mailbox *mb = ctx;
  kf_err err;
  kf_err_init(&err);
  json_t *doc = NULL;
  kf_rc rc = km_mime_decode(data, len, env, &doc, &err);
  if (rc != KF_OK) {
    kf_warn("mail from <%s> not stored: %s", env->mail_from, err.message);
    return rc;
  }
  kf_mailbox_keys keys;
  memset(&keys, 0, sizeof(keys));
  keys.recipients = env->rcpt_to;
  keys.recipients_len = env->rcpt_to_len;
  keys.sender = env->mail_from;
  keys.subject = json_string_value(json_object_get(doc, "subject")); /* NULL if none. */
  rc = kf_mailbox_add(mb, &keys, doc, data, len, id_out, &err);
  if (rc == KF_OK) {
    kf_info("stored mail %lld from <%s> to %zu recipient(s), %zu bytes, mime_valid %s",
            (long long)*id_out, env->mail_from, env->rcpt_to_len, len,
            json_is_true(json_object_get(doc, "mime_valid")) ? "true" : "false");
  } else {
    kf_warn("mail from <%s> not stored: %s", env->mail_from, err.message);
  }
  json_decref(doc);
  /*
   * KF_ERR_LIMIT tells the SMTP engine the store is full (452 4.3.1). The
   * mailbox also says KF_ERR_LIMIT for a single document over its size cap,
   * which deleting mails would not cure; that one stays a plain failure.
   */
  if (rc == KF_ERR_LIMIT && kf_mailbox_count(mb) < MAIL_MAX_ITEMS)
    rc = KF_ERR_INVALID;
  return rc;
}

static int mail_run(const mail_config *cfg) {
  kf_err err;
  kf_err_init(&err);
  kf_mailbox *mb = NULL;
  kf_httpd *httpd = NULL;
  km_listener *smtp = NULL;
  int status = EXIT_FAILURE;

  km_mime_global_init();
  kf_rc rc = kf_mailbox_open(cfg->db_path, MAIL_MAX_ITEMS, &mb, &err);
  if (rc == KF_OK) {
    kf_httpd_config hc;
    kf_httpd_config_init(&hc);
    hc.bind_address = cfg->bind;
    hc.port = cfg->http_port;
    /* A thread per connection: long-poll waits block their thread. */
    hc.threads = 0;
    hc.server_name = "konform-mail/" KONFORM_VERSION;
    rc = kf_httpd_new(&hc, &httpd, &err);
  }
  if (rc == KF_OK)
    rc = kf_mailbox_api_register(httpd, mb, "messages", &err);
  if (rc == KF_OK) {
    km_listener_config lc;
    km_listener_config_init(&lc);
    lc.bind_address = cfg->bind;
    lc.port = cfg->smtp_port;
    lc.max_sessions = cfg->max_sessions;
    lc.timeout_s = cfg->smtp_timeout_s;
    lc.smtp.hostname = cfg->hostname;
    lc.smtp.max_message_bytes = cfg->max_message_bytes;
    lc.smtp.max_recipients = cfg->max_recipients;
    rc = km_listener_new(&lc, mail_deliver, mb, &smtp, &err);
  }
  if (rc == KF_OK)
    rc = kf_httpd_start(httpd, &err);
  if (rc == KF_OK)
    rc = km_listener_start(smtp, &err);
  if (rc == KF_OK) {
    char line[64];
    rc = kf_str_format(line, sizeof(line), "READY http=%u smtp=%u\n", kf_httpd_port(httpd),
                       km_listener_port(smtp));
    if (rc == KF_OK)
      rc = kf_daemon_ready(cfg->ready_fd, line);
    if (rc != KF_OK)
      kf_err_set(&err, rc, "cannot write the READY line");
  }
  if (rc == KF_OK) {
    kf_info("listening on %s: HTTP %u, SMTP %u (%s), store %s", cfg->bind, kf_httpd_port(httpd),
            km_listener_port(smtp), cfg->hostname,
            cfg->db_path != NULL ? cfg->db_path : "in memory");
    int sig = kf_daemon_wait_for_signal();
    kf_info("signal %d: shutting down", sig);
    status = EXIT_SUCCESS;
  } else {
    kf_error("%s", err.message);
  }
  km_listener_free(smtp);
  if (mb != NULL)
    kf_mailbox_shutdown(mb);
  kf_httpd_stop(httpd);
  kf_httpd_free(httpd);
  kf_mailbox_free(mb);
  km_mime_global_shutdown();
  return status;
}

int main(int argc, char **argv) {
  if (kf_daemon_block_signals() != KF_OK) {
    fputs("konform-mail: cannot block signals\n", stderr);
    return EXIT_FAILURE;
  }
  kf_alloc_install_jansson();
  mail_config cfg;
  mail_config_init(&cfg);
  mail_action action = MAIL_RUN;
  kf_err err;
  kf_err_init(&err);
  if (mail_config_parse(argc, argv, &cfg, &action, &err) != KF_OK) {
    fprintf(stderr, "konform-mail: %s\n%s", err.message, mail_usage);
    return 2;
  }
  if (action == MAIL_HELP) {
    fputs(mail_usage, stdout);
    return EXIT_SUCCESS;
  }
  if (action == MAIL_VERSION) {
    puts("konform-mail " KONFORM_VERSION);
    return EXIT_SUCCESS;
  }
  kf_log_setup("konform-mail", cfg.log_level);
  return mail_run(&cfg);
}
