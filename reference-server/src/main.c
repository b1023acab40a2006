/*
 * konform-server: the reference implementation of the Jobcenter.Digital
 * account portal that konform's scenarios are checked against.
 *
 * Start-up order matters: signals are blocked before any thread exists so that
 * only the main thread receives SIGTERM/SIGINT; the database is migrated
 * before the outbox thread and the HTTP threads touch it; READY is written
 * only once the port is bound.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/daemon.h"
#include "kf/httpd.h"
#include "kf/log.h"
#include "kf/str.h"
#include "kf/version.h"
#include "ks_api.h"
#include "ks_config.h"
#include "ks_fault.h"
#include "ks_mail.h"
#include "ks_outbox.h"
#include "ks_server.h"
#include "ks_variant.h"

/* The base URL for links: --public-url, or where this server listens. */
static char *server_public_url(const ks_config *cfg, unsigned port) {
  if (cfg->public_url != NULL) {
    size_t n = strlen(cfg->public_url);
    while (n > 0 && cfg->public_url[n - 1] == '/')
      n--;
    return kf_strndup(cfg->public_url, n);
  }
  /* An IPv6 literal needs brackets in a URL. */
  bool v6 = strchr(cfg->bind, ':') != NULL;
  return kf_str_printf(v6 ? "http://[%s]:%u" : "http://%s:%u", cfg->bind, port);
}

static int server_run(const ks_config *cfg) {
  kf_err err;
  kf_err_init(&err);
  ks_server srv;
  memset(&srv, 0, sizeof srv);
  srv.cfg = cfg;
  kf_httpd *httpd = NULL;
  int status = EXIT_FAILURE;

  ks_mail_global_init();
  kf_rc rc =
      ks_pwhash_init(&srv.pwhash, cfg->hash_cost, cfg->argon2_ops, cfg->argon2_mem_kib, &err);
  if (rc == KF_OK)
    rc = ks_db_open(cfg->db_path, &srv.db, &err);
  if (rc == KF_OK)
    rc = ks_outbox_start(srv.db, cfg->smtp_url, (int)cfg->outbox_senders, &srv.outbox, &err);
  if (rc == KF_OK) {
    kf_httpd_config hc;
    kf_httpd_config_init(&hc);
    hc.bind_address = cfg->bind;
    hc.port = cfg->port;
    hc.threads = cfg->threads;
    hc.max_body = cfg->max_body;
    hc.limits = cfg->http;
    hc.server_name = "konform-server/" KONFORM_VERSION;
    rc = kf_httpd_new(&hc, &httpd, &err);
  }
  if (rc == KF_OK)
    rc = ks_api_install(httpd, &srv, &err);
  /* Bind first, so the base URL is set before any handler can run. */
  if (rc == KF_OK)
    rc = kf_httpd_listen(httpd, &err);
  if (rc == KF_OK) {
    srv.public_url = server_public_url(cfg, kf_httpd_port(httpd));
    if (srv.public_url == NULL)
      rc = kf_err_set(&err, KF_ERR_NOMEM, "out of memory");
  }
  if (rc == KF_OK)
    rc = kf_httpd_start(httpd, &err);
  if (rc == KF_OK) {
    char line[64];
    rc = kf_str_format(line, sizeof line, "READY http=%u\n", kf_httpd_port(httpd));
    if (rc == KF_OK)
      rc = kf_daemon_ready(cfg->ready_fd, line);
    if (rc != KF_OK)
      (void)kf_err_set(&err, rc, "cannot write the READY line");
  }
  if (rc == KF_OK) {
    kf_info("listening on %s:%u (%s), public URL %s, mail via %s", cfg->bind, kf_httpd_port(httpd),
            cfg->test_mode ? "test mode" : "production mode", srv.public_url, cfg->smtp_url);
    int sig = kf_daemon_wait_for_signal();
    kf_info("signal %d: shutting down", sig);
    status = EXIT_SUCCESS;
  } else {
    kf_error("%s", err.message);
  }
  /* Requests in flight finish before the outbox and the database go away. */
  kf_httpd_stop(httpd);
  kf_httpd_free(httpd);
  ks_outbox_free(srv.outbox);
  ks_db_free(srv.db);
  kf_free(srv.public_url);
  return status;
}

/* Print the usage text to out and return status (EXIT_FAILURE if it cannot be built). */
static int server_usage(FILE *out, int status) {
  kf_buf b;
  kf_buf_init(&b, 16 * 1024);
  kf_rc rc = ks_config_usage(&b);
  if (rc == KF_OK)
    fwrite(b.data, 1, b.len, out);
  kf_buf_release(&b);
  return rc == KF_OK ? status : EXIT_FAILURE;
}

/* --list-faults, --list-variants: a catalogue on stdout, one tab-separated line per row. */
static int server_list(kf_rc (*list)(kf_buf *out)) {
  kf_buf b;
  kf_buf_init(&b, 64 * 1024);
  kf_rc rc = list(&b);
  if (rc == KF_OK && b.len > 0)
    rc = fwrite(b.data, 1, b.len, stdout) == b.len ? KF_OK : KF_ERR_IO;
  kf_buf_release(&b);
  return rc == KF_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * Say loudly which faults this run has (its answers break the contract on
 * purpose) and which variants (its answers differ from the reference's own
 * bytes where the contract allows).
 */
static void server_warn_switches(const ks_config *cfg) {
  for (int f = 0; f < KS_FAULT_COUNT; f++) {
    if (cfg->faults[f])
      kf_warn("fault %s is on (breaks %s): %s", ks_fault_row_get((ks_fault)f)->name,
              ks_fault_row_get((ks_fault)f)->ids, ks_fault_row_get((ks_fault)f)->what);
  }
  for (int v = 0; v < KS_VARIANT_COUNT; v++) {
    if (cfg->variants[v])
      kf_info("variant %s is on: %s", ks_variant_row_get((ks_variant)v)->name,
              ks_variant_row_get((ks_variant)v)->what);
  }
}

int main(int argc, char **argv) {
  if (kf_daemon_block_signals() != KF_OK) {
    fputs("konform-server: cannot block signals\n", stderr);
    return EXIT_FAILURE;
  }
  kf_alloc_install_jansson();
  ks_config cfg;
  ks_config_init(&cfg);
  ks_config_action action = KS_CONFIG_RUN;
  kf_err err;
  kf_err_init(&err);
  if (ks_config_parse(argc, argv, &cfg, &action, &err) != KF_OK) {
    fprintf(stderr, "konform-server: %s\n", err.message);
    return server_usage(stderr, 2);
  }
  if (action == KS_CONFIG_HELP)
    return server_usage(stdout, EXIT_SUCCESS);
  if (action == KS_CONFIG_VERSION) {
    puts("konform-server " KONFORM_VERSION);
    return EXIT_SUCCESS;
  }
  if (action == KS_CONFIG_LIST_FAULTS)
    return server_list(ks_fault_list);
  if (action == KS_CONFIG_LIST_VARIANTS)
    return server_list(ks_variant_list);
  kf_log_setup("konform-server", cfg.log_level);
  server_warn_switches(&cfg);
  return server_run(&cfg);
}
