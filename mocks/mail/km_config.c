/*
 * km_config.c: konform-mail's options (see km_config.h).
 */
#include "km_config.h"

#include <assert.h>
#include <string.h>

#include "kf/opt.h"

/* The defaults as literals, so the usage text can quote them. */
#define KM_DEFAULT_HTTP_PORT 8426
#define KM_DEFAULT_SMTP_PORT 8425
#define KM_DEFAULT_MAX_MESSAGE 10485760
#define KM_DEFAULT_MAX_RECIPIENTS 100
/*
 * Slow peers: a session costs a thread, so the caps bound what trickling
 * clients can take (8 from one address leaves room for everyone else), and
 * the line and DATA limits are totals that trickling cannot stretch, unlike
 * the idle timeout, which restarts with every byte. A real MTA sends a
 * command line in milliseconds and 10 MiB over loopback in well under a
 * second.
 */
#define KM_DEFAULT_MAX_SESSIONS 256
#define KM_DEFAULT_MAX_PER_IP 8
#define KM_DEFAULT_SMTP_TIMEOUT 60
#define KM_DEFAULT_LINE_TIMEOUT 30
#define KM_DEFAULT_DATA_TIMEOUT 120
#define KM_DEFAULT_EVICT_AFTER 1000
#define KM_DEFAULT_HOSTNAME "konform-mail.localhost"
#define KM_STR_(x) #x
#define KM_STR(x) KM_STR_(x)

static const km_config km_defaults = {
    .bind = "127.0.0.1",
    .http_port = KM_DEFAULT_HTTP_PORT,
    .smtp_port = KM_DEFAULT_SMTP_PORT,
    .db_path = NULL,
    .max_message_bytes = KM_DEFAULT_MAX_MESSAGE,
    .max_recipients = KM_DEFAULT_MAX_RECIPIENTS,
    .max_sessions = KM_DEFAULT_MAX_SESSIONS,
    .max_sessions_per_ip = KM_DEFAULT_MAX_PER_IP,
    .smtp_timeout_s = KM_DEFAULT_SMTP_TIMEOUT,
    .smtp_line_timeout_s = KM_DEFAULT_LINE_TIMEOUT,
    .smtp_data_timeout_s = KM_DEFAULT_DATA_TIMEOUT,
    .smtp_evict_after_ms = KM_DEFAULT_EVICT_AFTER,
    .http = KF_HTTPD_LIMITS_DEFAULT,
    .hostname = KM_DEFAULT_HOSTNAME,
    .ready_fd = -1,
    .log_level = KF_LOG_INFO,
};

void km_config_init(km_config *cfg) {
  assert(cfg != NULL);
  *cfg = km_defaults;
}

/* The greeting and EHLO reply carry the name as one word. */
static kf_rc km_opt_hostname(void *cfg, const char *value, kf_err *err) {
  if (value[0] == '\0' || strpbrk(value, " \t\r\n") != NULL)
    return kf_err_set(err, KF_ERR_INVALID, "--hostname: must be a non-empty name without blanks");
  ((km_config *)cfg)->hostname = value;
  return KF_OK;
}

static const kf_opt km_options[] = {
    KF_OPT_STRING_ROW("bind", 0, km_config, bind, "ADDR",
                      "numeric address to listen on (default 127.0.0.1)"),
    KF_OPT_NUM_ROW("port", 0, UINT, km_config, http_port, 0, 65535, "N",
                   "HTTP API port (default " KM_STR(KM_DEFAULT_HTTP_PORT) "; 0 = any free port)"),
    KF_OPT_NUM_ROW("smtp-port", 0, UINT, km_config, smtp_port, 0, 65535, "N",
                   "SMTP port (default " KM_STR(KM_DEFAULT_SMTP_PORT) "; 0 = any free port)"),
    KF_OPT_STRING_ROW("db", 0, km_config, db_path, "PATH",
                      "sqlite file for the mails (default: in memory)"),
    /* Capped at 1 GiB: a message is held in memory while it arrives. */
    KF_OPT_NUM_ROW("max-message-bytes", 0, SIZE, km_config, max_message_bytes, 1,
                   1024LL * 1024 * 1024, "N",
                   "largest accepted message (default " KM_STR(KM_DEFAULT_MAX_MESSAGE) ")"),
    KF_OPT_NUM_ROW("max-recipients", 0, SIZE, km_config, max_recipients, 1, 100000, "N",
                   "most recipients per message (default " KM_STR(KM_DEFAULT_MAX_RECIPIENTS) ")"),
    KF_OPT_NUM_ROW("max-sessions", 0, UINT, km_config, max_sessions, 1, 10000, "N",
                   "concurrent SMTP sessions (default " KM_STR(KM_DEFAULT_MAX_SESSIONS) ")"),
    KF_OPT_NUM_ROW(
        "max-sessions-per-ip", 0, UINT, km_config, max_sessions_per_ip, 1, 10000, "N",
        "concurrent SMTP sessions from one address (default " KM_STR(KM_DEFAULT_MAX_PER_IP) ")"),
    KF_OPT_NUM_ROW("smtp-timeout", 0, UINT, km_config, smtp_timeout_s, 1, 86400, "S",
                   "SMTP idle timeout in seconds (default " KM_STR(KM_DEFAULT_SMTP_TIMEOUT) ")"),
    /* Capped at a day: the engine keeps them in unsigned milliseconds. */
    KF_OPT_NUM_ROW("smtp-line-timeout", 0, UINT, km_config, smtp_line_timeout_s, 1, 86400, "S",
                   "most seconds one SMTP command line may take in total (default " KM_STR(
                       KM_DEFAULT_LINE_TIMEOUT) ")"),
    KF_OPT_NUM_ROW("smtp-data-timeout", 0, UINT, km_config, smtp_data_timeout_s, 1, 86400, "S",
                   "most seconds the DATA phase may take in total (default " KM_STR(
                       KM_DEFAULT_DATA_TIMEOUT) ")"),
    KF_OPT_NUM_ROW("smtp-evict-after", 0, UINT, km_config, smtp_evict_after_ms, 0, 86400000, "MS",
                   "when a session cap is full, end the session longest without a reply once it "
                   "had none for MS (default " KM_STR(KM_DEFAULT_EVICT_AFTER) "; 0 = refuse)"),
    KF_HTTPD_LIMIT_ROWS(km_config, http),
    KF_OPT_CALL_ROW("hostname", 0, km_opt_hostname, "NAME",
                    "name in the SMTP greeting (default " KM_DEFAULT_HOSTNAME ")"),
    KF_OPT_NUM_ROW("ready-fd", 0, INT, km_config, ready_fd, 0, 65535, "N",
                   "write \"READY http=<port> smtp=<port>\" to fd N once listening"),
    KF_OPT_LOG_LEVEL_ROW(km_config, log_level, "debug, info, warn, error or off (default info)"),
    KF_OPT_FLAG_ROW("help", 0, km_config, help, "show this help"),
    KF_OPT_FLAG_ROW("version", 0, km_config, version, "show the version"),
};
#define KM_OPTIONS_LEN (sizeof(km_options) / sizeof(km_options[0]))

kf_rc km_config_parse(km_config *cfg, int argc, char *const *argv, kf_err *err) {
  assert(cfg != NULL && argv != NULL);
  return kf_opt_parse(km_options, KM_OPTIONS_LEN, argc, argv, 1, cfg, NULL, 0, NULL, err);
}

kf_rc km_config_usage(kf_buf *out) {
  assert(out != NULL);
  kf_rc rc =
      kf_buf_append_str(out, "Usage: konform-mail [OPTION]...\n"
                             "A capturing SMTP server with an HTTP API for konform scenarios.\n"
                             "\n");
  if (rc != KF_OK)
    return rc;
  return kf_opt_usage(km_options, KM_OPTIONS_LEN, out);
}
