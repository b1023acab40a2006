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
#include "km_config.h"
#include "km_listener.h"
#include "km_mime.h"
#include "km_smtp.h"
#include "km_store.h"

static int mail_run(const km_config *cfg) {
  kf_err err;
  kf_err_init(&err);
  kf_mailbox *mb = NULL;
  kf_httpd *httpd = NULL;
  km_listener *smtp = NULL;
  int status = EXIT_FAILURE;

  km_mime_global_init();
  kf_rc rc = kf_mailbox_open(cfg->db_path, "messages", KM_STORE_MAX_ITEMS, &mb, &err);
  if (rc == KF_OK) {
    km_store_setup(mb);
    kf_httpd_config hc;
    kf_httpd_config_init(&hc);
    hc.bind_address = cfg->bind;
    hc.port = cfg->http_port;
    /* A thread per connection: long-poll waits block their thread. */
    hc.threads = 0;
    hc.limits = cfg->http;
    hc.server_name = "konform-mail/" KONFORM_VERSION;
    rc = kf_httpd_new(&hc, &httpd, &err);
  }
  if (rc == KF_OK)
    rc = kf_mailbox_api_register(httpd, mb, &err);
  if (rc == KF_OK) {
    km_listener_config lc;
    km_listener_config_init(&lc);
    lc.bind_address = cfg->bind;
    lc.port = cfg->smtp_port;
    lc.max_sessions = cfg->max_sessions;
    lc.max_sessions_per_ip = cfg->max_sessions_per_ip;
    lc.timeout_s = cfg->smtp_timeout_s;
    lc.evict_after_ms = cfg->smtp_evict_after_ms;
    lc.smtp.command_timeout_ms = cfg->smtp_line_timeout_s * 1000u;
    lc.smtp.data_timeout_ms = cfg->smtp_data_timeout_s * 1000u;
    lc.smtp.hostname = cfg->hostname;
    lc.smtp.max_message_bytes = cfg->max_message_bytes;
    lc.smtp.max_recipients = cfg->max_recipients;
    rc = km_listener_new(&lc, NULL, km_store_deliver_all, mb, &smtp, &err);
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
      (void)kf_err_set(&err, rc, "cannot write the READY line");
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

/*
 * The usage text on out, after "konform-mail: <error>" when error is set.
 * Returns what main returns: 0 for --help, 2 for a usage error.
 */
static int mail_usage(FILE *out, const char *error) {
  kf_buf usage;
  kf_buf_init(&usage, 16 * 1024);
  if (error != NULL)
    fprintf(out, "konform-mail: %s\n", error);
  if (km_config_usage(&usage) == KF_OK)
    fwrite(usage.data, 1, usage.len, out);
  kf_buf_release(&usage);
  return error != NULL ? 2 : EXIT_SUCCESS;
}

int main(int argc, char **argv) {
  if (kf_daemon_block_signals() != KF_OK) {
    fputs("konform-mail: cannot block signals\n", stderr);
    return EXIT_FAILURE;
  }
  kf_alloc_install_jansson();
  km_config cfg;
  km_config_init(&cfg);
  kf_err err;
  kf_err_init(&err);
  if (km_config_parse(&cfg, argc, argv, &err) != KF_OK)
    return mail_usage(stderr, err.message);
  if (cfg.help)
    return mail_usage(stdout, NULL);
  if (cfg.version) {
    puts("konform-mail " KONFORM_VERSION);
    return EXIT_SUCCESS;
  }
  kf_log_setup("konform-mail", cfg.log_level);
  return mail_run(&cfg);
}
