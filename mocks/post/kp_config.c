/*
 * kp_config.c: konform-post's options (see kp_config.h).
 */
#include "kp_config.h"

#include <assert.h>
#include <string.h>

#include "kf/opt.h"

/* The defaults as literals, so the usage text can quote them. */
#define KP_DEFAULT_PORT 8427
#define KP_DEFAULT_MAX_BODY 1048576
#define KP_DEFAULT_MAX_ITEMS 100000
#define KP_STR_(x) #x
#define KP_STR(x) KP_STR_(x)

static const kp_config kp_defaults = {
    .bind = "127.0.0.1",
    .port = KP_DEFAULT_PORT,
    .max_body = KP_DEFAULT_MAX_BODY,
    .max_items = KP_DEFAULT_MAX_ITEMS,
    /* Every long-poll holds a thread, so a fixed pool could run dry. */
    .threads = 0,
    .http = KF_HTTPD_LIMITS_DEFAULT,
    .ready_fd = -1,
    .log_level = KF_LOG_INFO,
};

void kp_config_init(kp_config *cfg) {
  assert(cfg != NULL);
  *cfg = kp_defaults;
}

static const kf_opt kp_options[] = {
    KF_OPT_STRING_ROW("bind", 0, kp_config, bind, "ADDR",
                      "address to listen on (default 127.0.0.1)"),
    KF_OPT_NUM_ROW("port", 0, UINT, kp_config, port, 0, 65535, "N",
                   "HTTP port (default " KP_STR(KP_DEFAULT_PORT) "; 0 picks a free port)"),
    KF_OPT_STRING_ROW("db", 0, kp_config, db, "PATH",
                      "sqlite file to keep letters in (default: in memory)"),
    KF_OPT_NUM_ROW("max-body", 0, SIZE, kp_config, max_body, 1, 1024LL * 1024 * 1024, "BYTES",
                   "largest request body accepted (default " KP_STR(KP_DEFAULT_MAX_BODY) ")"),
    KF_OPT_NUM_ROW("max-items", 0, SIZE, kp_config, max_items, 1, 100000000, "N",
                   "most letters kept at once (default " KP_STR(KP_DEFAULT_MAX_ITEMS) ")"),
    KF_OPT_NUM_ROW("threads", 0, UINT, kp_config, threads, 0, 1024, "N",
                   "worker threads; 0 = one per connection (default 0,\n"
                   "because every long-poll holds a thread)"),
    KF_HTTPD_LIMIT_ROWS(kp_config, http),
    KF_OPT_NUM_ROW("ready-fd", 0, INT, kp_config, ready_fd, 0, 1000000, "N",
                   "write \"READY http=<port>\" to fd N once listening"),
    KF_OPT_LOG_LEVEL_ROW(kp_config, log_level, "debug, info, warn, error or off (default info)"),
    KF_OPT_FLAG_ROW("help", 0, kp_config, help, "show this help"),
    KF_OPT_FLAG_ROW("version", 0, kp_config, version, "show the version"),
};
#define KP_OPTIONS_LEN (sizeof(kp_options) / sizeof(kp_options[0]))

kf_rc kp_config_parse(kp_config *cfg, int argc, char *const *argv, kf_err *err) {
  assert(cfg != NULL && argv != NULL);
  return kf_opt_parse(kp_options, KP_OPTIONS_LEN, argc, argv, 1, cfg, NULL, 0, NULL, err);
}

kf_rc kp_config_usage(kf_buf *out) {
  assert(out != NULL);
  kf_rc rc = kf_buf_append_str(
      out, "Usage: konform-post [OPTIONS]\n"
           "The konform mock postal service: accepts letters over HTTP and serves them\n"
           "for tests to list, search, read, delete and wait for.\n"
           "\n");
  if (rc != KF_OK)
    return rc;
  return kf_opt_usage(kp_options, KP_OPTIONS_LEN, out);
}
