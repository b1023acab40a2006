/*
 * konform-post: the mock postal service. Senders POST letters as JSON; tests
 * list, search, read, delete and long-poll them over the shared mailbox API.
 */
#include <stdio.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/daemon.h"
#include "kf/httpd.h"
#include "kf/log.h"
#include "kf/mailbox.h"
#include "kf/str.h"
#include "kf/version.h"
#include "kp_config.h"
#include "kp_service.h"

/*
 * The usage text on out, after "konform-post: <error>" when error is set.
 * Returns what main returns: 0 for --help, 2 for a usage error.
 */
static int post_usage(FILE *out, const char *error) {
  kf_buf usage;
  kf_buf_init(&usage, 16 * 1024);
  if (error != NULL)
    fprintf(out, "konform-post: %s\n", error);
  if (kp_config_usage(&usage) == KF_OK)
    fwrite(usage.data, 1, usage.len, out);
  kf_buf_release(&usage);
  return error != NULL ? 2 : 0;
}

int main(int argc, char **argv) {
  /* Block the shutdown signals before any thread exists, so every thread
   * inherits the mask and only kf_daemon_wait_for_signal receives them. */
  if (kf_daemon_block_signals() != KF_OK) {
    fprintf(stderr, "konform-post: cannot set up signal handling\n");
    return 1;
  }
  kp_config opt;
  kp_config_init(&opt);
  kf_err err;
  kf_err_init(&err);
  if (kp_config_parse(&opt, argc, argv, &err) != KF_OK)
    return post_usage(stderr, err.message);
  if (opt.help)
    return post_usage(stdout, NULL);
  if (opt.version) {
    printf("konform-post %s\n", KONFORM_VERSION);
    return 0;
  }
  kf_log_setup("konform-post", opt.log_level);
  kf_alloc_install_jansson();

  kf_mailbox *mb = NULL;
  kf_httpd *httpd = NULL;
  int status = 1;
  kf_rc rc = kf_mailbox_open(opt.db, "letters", opt.max_items, &mb, &err);
  if (rc == KF_OK) {
    kf_httpd_config cfg;
    kf_httpd_config_init(&cfg);
    cfg.bind_address = opt.bind;
    cfg.port = opt.port;
    cfg.threads = opt.threads;
    cfg.max_body = opt.max_body;
    cfg.limits = opt.http;
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
      rc = kf_daemon_ready(opt.ready_fd, line);
    if (rc != KF_OK)
      (void)kf_err_set(&err, rc, "cannot write the readiness line to fd %d", opt.ready_fd);
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
