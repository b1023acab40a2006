/*
 * test_mock_config.c: the command lines of konform-mail (km_config) and
 * konform-post (kp_config): defaults, every option, ranges, the checks of
 * their own (hostname, log level), unknown options and operands, and a usage
 * text that names every option with the defaults the code really uses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "kf/buf.h"
#include "km_config.h"
#include "kp_config.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static kf_rc mail_parse(km_config *cfg, int argc, char **argv, kf_err *err) {
  km_config_init(cfg);
  kf_err_init(err);
  return km_config_parse(cfg, argc, argv, err);
}

static kf_rc post_parse(kp_config *cfg, int argc, char **argv, kf_err *err) {
  kp_config_init(cfg);
  kf_err_init(err);
  return kp_config_parse(cfg, argc, argv, err);
}

/* The usage text of one mock, NUL-terminated; the caller releases buf. */
static const char *usage_of(kf_rc (*usage)(kf_buf *), kf_buf *buf) {
  kf_buf_init(buf, 64 * 1024);
  assert_int_equal(usage(buf), KF_OK);
  assert_int_equal(kf_buf_append_byte(buf, '\0'), KF_OK);
  return buf->data;
}

typedef kf_rc (*usage_fn)(kf_buf *out);
typedef kf_rc (*parse_fn)(int argc, char **argv, kf_err *err);

/* The usage starts with head and holds every one of the n expected parts. */
static void expect_usage(usage_fn usage, const char *head, const char *const *expected, size_t n) {
  kf_buf buf;
  const char *u = usage_of(usage, &buf);
  assert_true(strncmp(u, head, strlen(head)) == 0);
  for (size_t i = 0; i < n; i++) {
    if (strstr(u, expected[i]) == NULL)
      fail_msg("usage lacks \"%s\":\n%s", expected[i], u);
  }
  kf_buf_release(&buf);
}

typedef struct bad_case {
  const char *option;
  const char *value; /* NULL: the option word alone. */
  const char *message;
} bad_case;

/* Each case is refused with exactly its message. */
static void expect_errors(parse_fn parse, const bad_case *cases, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char *argv[] = {"prog", (char *)cases[i].option, (char *)cases[i].value};
    kf_err err;
    assert_int_equal(parse(cases[i].value ? 3 : 2, argv, &err), KF_ERR_INVALID);
    assert_string_equal(err.message, cases[i].message);
  }
}

static kf_rc mail_parse_any(int argc, char **argv, kf_err *err) {
  km_config c;
  return mail_parse(&c, argc, argv, err);
}

static kf_rc post_parse_any(int argc, char **argv, kf_err *err) {
  kp_config c;
  return post_parse(&c, argc, argv, err);
}

static void test_mail_defaults(void **state) {
  (void)state;
  char *argv[] = {"konform-mail"};
  km_config c;
  kf_err err;
  assert_int_equal(mail_parse(&c, ARGC(argv), argv, &err), KF_OK);
  assert_string_equal(c.bind, "127.0.0.1");
  assert_int_equal(c.http_port, 8426);
  assert_int_equal(c.smtp_port, 8425);
  assert_null(c.db_path);
  assert_int_equal(c.max_message_bytes, 10 * 1024 * 1024);
  assert_int_equal(c.max_recipients, 100);
  assert_int_equal(c.max_sessions, 256);
  assert_int_equal(c.max_sessions_per_ip, 8);
  assert_int_equal(c.smtp_timeout_s, 60);
  assert_int_equal(c.smtp_line_timeout_s, 30);
  assert_int_equal(c.smtp_data_timeout_s, 120);
  assert_int_equal(c.smtp_evict_after_ms, 1000);
  assert_string_equal(c.hostname, "konform-mail.localhost");
  assert_int_equal(c.ready_fd, -1);
  assert_int_equal(c.log_level, KF_LOG_INFO);
  assert_false(c.help);
  assert_false(c.version);
}

static void test_mail_every_option(void **state) {
  (void)state;
  char *argv[] = {"konform-mail",
                  "--bind",
                  "::1",
                  "--port",
                  "0",
                  "--smtp-port=2525",
                  "--db",
                  "/tmp/m.db",
                  "--max-message-bytes",
                  "1073741824",
                  "--max-recipients",
                  "3",
                  "--max-sessions",
                  "10000",
                  "--smtp-timeout",
                  "1",
                  "--max-sessions-per-ip",
                  "2",
                  "--smtp-line-timeout",
                  "3",
                  "--smtp-data-timeout=86400",
                  "--smtp-evict-after",
                  "0",
                  "--hostname",
                  "mx.konform.test",
                  "--ready-fd",
                  "3",
                  "--log-level",
                  "warn",
                  "--help",
                  "--version"};
  km_config c;
  kf_err err;
  assert_int_equal(mail_parse(&c, ARGC(argv), argv, &err), KF_OK);
  assert_string_equal(c.bind, "::1");
  assert_int_equal(c.http_port, 0);
  assert_int_equal(c.smtp_port, 2525);
  assert_string_equal(c.db_path, "/tmp/m.db");
  assert_int_equal(c.max_message_bytes, 1024 * 1024 * 1024);
  assert_int_equal(c.max_recipients, 3);
  assert_int_equal(c.max_sessions, 10000);
  assert_int_equal(c.smtp_timeout_s, 1);
  assert_int_equal(c.max_sessions_per_ip, 2);
  assert_int_equal(c.smtp_line_timeout_s, 3);
  assert_int_equal(c.smtp_data_timeout_s, 86400);
  assert_int_equal(c.smtp_evict_after_ms, 0);
  assert_string_equal(c.hostname, "mx.konform.test");
  assert_int_equal(c.ready_fd, 3);
  assert_int_equal(c.log_level, KF_LOG_WARN);
  assert_true(c.help);
  assert_true(c.version);
}

static void test_mail_errors(void **state) {
  (void)state;
  static const bad_case cases[] = {
      {"--port", "65536", "--port: expected a whole number from 0 to 65535, got \"65536\""},
      {"--smtp-port", "x", "--smtp-port: expected a whole number from 0 to 65535, got \"x\""},
      {"--max-message-bytes", "1073741825",
       "--max-message-bytes: expected a whole number from 1 to 1073741824, got \"1073741825\""},
      {"--max-recipients", "0",
       "--max-recipients: expected a whole number from 1 to 100000, got \"0\""},
      {"--max-sessions", "10001",
       "--max-sessions: expected a whole number from 1 to 10000, got \"10001\""},
      {"--smtp-timeout", "86401",
       "--smtp-timeout: expected a whole number from 1 to 86400, got \"86401\""},
      {"--max-sessions-per-ip", "0",
       "--max-sessions-per-ip: expected a whole number from 1 to 10000, got \"0\""},
      {"--smtp-line-timeout", "1x",
       "--smtp-line-timeout: expected a whole number from 1 to 86400, got \"1x\""},
      {"--smtp-data-timeout", "0",
       "--smtp-data-timeout: expected a whole number from 1 to 86400, got \"0\""},
      {"--ready-fd", "-1", "--ready-fd: expected a whole number from 0 to 65535, got \"-1\""},
      {"--hostname", "", "--hostname: must be a non-empty name without blanks"},
      {"--hostname", "mx konform", "--hostname: must be a non-empty name without blanks"},
      {"--log-level", "loud",
       "--log-level: unknown level \"loud\" (debug, info, warn, error or off)"},
      {"--smtp-prot", NULL, "unknown option '--smtp-prot' (did you mean --smtp-port?)"},
      {"--db", NULL, "--db needs a value (PATH)"},
      {"extra", NULL, "unexpected argument 'extra'"},
  };
  expect_errors(mail_parse_any, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_mail_usage(void **state) {
  (void)state;
  static const char *const expected[] = {
      "A capturing SMTP server with an HTTP API for konform scenarios.",
      "--bind ADDR",
      "numeric address to listen on (default 127.0.0.1)",
      "--port N",
      "HTTP API port (default 8426; 0 = any free port)",
      "--smtp-port N",
      "SMTP port (default 8425; 0 = any free port)",
      "--db PATH",
      "sqlite file for the mails (default: in memory)",
      "--max-message-bytes N",
      "largest accepted message (default 10485760)",
      "--max-recipients N",
      "most recipients per message (default 100)",
      "--max-sessions N",
      "concurrent SMTP sessions (default 256)",
      "--max-sessions-per-ip N",
      "concurrent SMTP sessions from one address (default 8)",
      "--smtp-timeout S",
      "SMTP idle timeout in seconds (default 60)",
      "--smtp-line-timeout S",
      "most seconds one SMTP command line may take in total (default 30)",
      "--smtp-data-timeout S",
      "most seconds the DATA phase may take in total (default 120)",
      "--smtp-evict-after MS",
      "when a session cap is full, end the session longest without a reply once it had none for "
      "MS (default 1000; 0 = refuse)",
      "--hostname NAME",
      "name in the SMTP greeting (default konform-mail.localhost)",
      "--ready-fd N",
      "write \"READY http=<port> smtp=<port>\" to fd N once listening",
      "--log-level L",
      "debug, info, warn, error or off (default info)",
      "--help",
      "show this help",
      "--version",
      "show the version",
  };
  expect_usage(km_config_usage, "Usage: konform-mail [OPTION]...\n", expected,
               sizeof(expected) / sizeof(expected[0]));
}

static void test_post_defaults(void **state) {
  (void)state;
  char *argv[] = {"konform-post"};
  kp_config c;
  kf_err err;
  assert_int_equal(post_parse(&c, ARGC(argv), argv, &err), KF_OK);
  assert_string_equal(c.bind, "127.0.0.1");
  assert_int_equal(c.port, 8427);
  assert_null(c.db);
  assert_int_equal(c.max_body, 1024 * 1024);
  assert_int_equal(c.max_items, 100000);
  assert_int_equal(c.threads, 0);
  assert_int_equal(c.ready_fd, -1);
  assert_int_equal(c.log_level, KF_LOG_INFO);
  assert_false(c.help);
  assert_false(c.version);
}

static void test_post_every_option(void **state) {
  (void)state;
  char *argv[] = {"konform-post", "--bind",    "127.0.0.2",  "--port",     "0",
                  "--db",         "/tmp/p.db", "--max-body", "4096",       "--max-items",
                  "100000000",    "--threads", "1024",       "--ready-fd", "1000000",
                  "--log-level",  "off",       "--help",     "--version"};
  kp_config c;
  kf_err err;
  assert_int_equal(post_parse(&c, ARGC(argv), argv, &err), KF_OK);
  assert_string_equal(c.bind, "127.0.0.2");
  assert_int_equal(c.port, 0);
  assert_string_equal(c.db, "/tmp/p.db");
  assert_int_equal(c.max_body, 4096);
  assert_int_equal(c.max_items, 100000000);
  assert_int_equal(c.threads, 1024);
  assert_int_equal(c.ready_fd, 1000000);
  assert_int_equal(c.log_level, KF_LOG_OFF);
  assert_true(c.help);
  assert_true(c.version);
}

static void test_post_errors(void **state) {
  (void)state;
  static const bad_case cases[] = {
      {"--port", "notaport", "--port: expected a whole number from 0 to 65535, got \"notaport\""},
      {"--max-body", "0", "--max-body: expected a whole number from 1 to 1073741824, got \"0\""},
      {"--max-items", "100000001",
       "--max-items: expected a whole number from 1 to 100000000, got \"100000001\""},
      {"--threads", "1025", "--threads: expected a whole number from 0 to 1024, got \"1025\""},
      {"--ready-fd", "1000001",
       "--ready-fd: expected a whole number from 0 to 1000000, got \"1000001\""},
      {"--log-level", "verbose",
       "--log-level: unknown level \"verbose\" (debug, info, warn, error or off)"},
      {"--max-item", NULL, "unknown option '--max-item' (did you mean --max-items?)"},
      {"--help=yes", NULL, "--help takes no value"},
      {"letters.db", NULL, "unexpected argument 'letters.db'"},
  };
  expect_errors(post_parse_any, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_post_usage(void **state) {
  (void)state;
  static const char *const expected[] = {
      "The konform mock postal service: accepts letters over HTTP and serves them\n"
      "for tests to list, search, read, delete and wait for.\n",
      "--bind ADDR",
      "address to listen on (default 127.0.0.1)",
      "--port N",
      "HTTP port (default 8427; 0 picks a free port)",
      "--db PATH",
      "sqlite file to keep letters in (default: in memory)",
      "--max-body BYTES",
      "largest request body accepted (default 1048576)",
      "--max-items N",
      "most letters kept at once (default 100000)",
      "--threads N",
      "worker threads; 0 = one per connection (default 0,",
      "because every long-poll holds a thread)",
      "--ready-fd N",
      "write \"READY http=<port>\" to fd N once listening",
      "--log-level L",
      "debug, info, warn, error or off (default info)",
      "--help",
      "show this help",
      "--version",
      "show the version",
  };
  expect_usage(kp_config_usage, "Usage: konform-post [OPTIONS]\n", expected,
               sizeof(expected) / sizeof(expected[0]));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mail_defaults), cmocka_unit_test(test_mail_every_option),
      cmocka_unit_test(test_mail_errors),   cmocka_unit_test(test_mail_usage),
      cmocka_unit_test(test_post_defaults), cmocka_unit_test(test_post_every_option),
      cmocka_unit_test(test_post_errors),   cmocka_unit_test(test_post_usage),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
