/*
 * Unit tests for konform-server's pure parts: address normalisation (ACC-11),
 * the link expiry boundary (ACC-06/07), mail rendering (ACC-05, ACC-10) and
 * the command line (cheap password hashing only in test mode, the mail domain).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <gmime/gmime.h>
#include <sodium.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/str.h"
#include "kf/timeutil.h"
#include "ks_address.h"
#include "ks_config.h"
#include "ks_fault.h"
#include "ks_link.h"
#include "ks_mail.h"
#include "ks_outbox.h"
#include "kt_mail.h"

static ks_address_status norm(const char *in, char *out) {
  return ks_address_normalise(in, strlen(in), out, KS_ADDRESS_MAX + 1);
}

static void test_address_trims_and_lowers_domain(void **state) {
  (void)state;
  char out[KS_ADDRESS_MAX + 1];
  assert_int_equal(norm("  Max.Muster@Example.DE  ", out), KS_ADDRESS_OK);
  assert_string_equal(out, "Max.Muster@example.de");
  assert_int_equal(norm("a+tag@sub.example-x.de", out), KS_ADDRESS_OK);
  assert_string_equal(out, "a+tag@sub.example-x.de");
}

static void test_address_control_characters(void **state) {
  (void)state;
  char out[KS_ADDRESS_MAX + 1];
  const char *bad[] = {"a@b.de\r\nBcc: x@y.de", "a@b.de\n", "\ta@b.de", "a\x7f@b.de", "a@b\x01.de",
                       /* C1 controls: NEL (U+0085) and U+0080, U+009F. */
                       "a@b.de\xc2\x85"
                       "Bcc: x@y.de",
                       "\xc2\x80"
                       "a@b.de",
                       "a@b.de\xc2\x9f"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(norm(bad[i], out), KS_ADDRESS_CONTROL);
    assert_string_equal(out, "");
  }
  /* An embedded NUL counts as a control character too. */
  assert_int_equal(ks_address_normalise("a\0@b.de", 7, out, sizeof out), KS_ADDRESS_CONTROL);
  assert_string_equal(ks_address_status_code(KS_ADDRESS_CONTROL), "EMAIL_CONTROL_CHARACTERS");
}

static void test_address_empty_and_invalid(void **state) {
  (void)state;
  char out[KS_ADDRESS_MAX + 1];
  assert_int_equal(norm("", out), KS_ADDRESS_EMPTY);
  assert_int_equal(norm("    ", out), KS_ADDRESS_EMPTY);
  const char *bad[] = {"plain", "a@b", "@b.de", "a@@b.de", "a@b@c.de", "a b@c.de", "a<b@c.de",
                       "a(b)@c.de", "a,b@c.de", "a;b@c.de", "a:b@c.de", "\"a\"@c.de", "a\\b@c.de",
                       "a[b]@c.de", "a@-b.de", "a@b-.de", "a@b..de", "a@.b.de", "a@b.de.",
                       "a@b_c.de", ".a@b.de", "a.@b.de", "a..b@c.de", "m\xc3\xa4x@b.de",
                       "a@b\xc3\xa4.de",
                       /* White space other than U+0020 is never trimmed: NBSP,
                        * U+2002, U+3000, U+FEFF, also inside; and U+00A0 is no C1. */
                       "\xc2\xa0"
                       "a@b.de",
                       "a@b.de\xc2\xa0", "a@b.de\xe2\x80\x82",
                       "\xe3\x80\x80"
                       "a@b.de",
                       "\xef\xbb\xbf"
                       "a@b.de",
                       "a\xc2\xa0"
                       "b@c.de"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ks_address_status st = norm(bad[i], out);
    if (st != KS_ADDRESS_INVALID)
      fail_msg("accepted '%s'", bad[i]);
  }
  assert_string_equal(ks_address_status_code(KS_ADDRESS_EMPTY), "EMAIL_REQUIRED");
  assert_string_equal(ks_address_status_code(KS_ADDRESS_INVALID), "EMAIL_INVALID");
  assert_null(ks_address_status_code(KS_ADDRESS_OK));
}

static void test_address_length_limits(void **state) {
  (void)state;
  char in[400];
  char out[KS_ADDRESS_MAX + 1];
  /* A 64-byte local part is fine, 65 is not. */
  memset(in, 'a', 64);
  memcpy(in + 64, "@b.de", 6);
  assert_int_equal(norm(in, out), KS_ADDRESS_OK);
  memset(in, 'a', 65);
  memcpy(in + 65, "@b.de", 6);
  assert_int_equal(norm(in, out), KS_ADDRESS_INVALID);
  /* 254 bytes in all is the limit: 64 + "@" + 189 bytes of domain. */
  memset(in, 'a', 64);
  in[64] = '@';
  size_t pos = 65;
  while (pos < 254) {
    size_t label = 254 - pos > 61 ? 60 : 254 - pos - 3;
    memset(in + pos, 'd', label);
    pos += label;
    memcpy(in + pos, pos + 3 >= 254 ? ".de" : ".", pos + 3 >= 254 ? 3 : 1);
    pos += pos + 3 >= 254 ? 3 : 1;
  }
  in[pos] = '\0';
  assert_int_equal(strlen(in), 254);
  assert_int_equal(norm(in, out), KS_ADDRESS_OK);
  in[64] = 'a';
  memmove(in + 1, in, 255); /* Now 255 bytes with the '@' gone: also too long. */
  assert_int_equal(norm(in, out), KS_ADDRESS_INVALID);
}

static void test_link_expiry_boundary(void **state) {
  (void)state;
  const int64_t t0 = 1790000000;
  assert_int_equal(ks_link_judge(t0, t0, false, false), KS_LINK_VALID);
  assert_int_equal(ks_link_judge(t0, t0 + 86400, false, false), KS_LINK_VALID);
  assert_int_equal(ks_link_judge(t0, t0 + 86401, false, false), KS_LINK_EXPIRED);
  assert_int_equal(ks_link_valid_until(t0), t0 + 86400);
  /* Confirmed beats superseded beats expired. */
  assert_int_equal(ks_link_judge(t0, t0 + 86401, true, true), KS_LINK_ALREADY_CONFIRMED);
  assert_int_equal(ks_link_judge(t0, t0 + 86401, true, false), KS_LINK_SUPERSEDED);
  assert_int_equal(ks_link_judge(t0, t0, true, false), KS_LINK_SUPERSEDED);
  assert_int_equal(ks_link_verdict_status(KS_LINK_EXPIRED), 410);
  assert_int_equal(ks_link_verdict_status(KS_LINK_SUPERSEDED), 410);
  assert_int_equal(ks_link_verdict_status(KS_LINK_ALREADY_CONFIRMED), 409);
  assert_int_equal(ks_link_verdict_status(KS_LINK_NOT_FOUND), 404);
  assert_string_equal(ks_link_verdict_code(KS_LINK_EXPIRED), "LINK_EXPIRED");
  assert_string_equal(ks_link_verdict_message(KS_LINK_VALID),
                      "Sie haben Ihre E-Mail-Adresse erfolgreich best\xc3\xa4tigt.");
}

static void test_link_url(void **state) {
  (void)state;
  char url[256];
  assert_int_equal(ks_link_url("https://x.test/", "abc", url, sizeof url), KF_OK);
  assert_string_equal(url, "https://x.test/link/e-mail-bestaetigen?id=abc");
  assert_int_equal(ks_link_url("http://127.0.0.1:1", "abc", url, 10), KF_ERR_LIMIT);
}

static size_t count_substr(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
    n++;
  return n;
}

static void test_mail_confirmation_rendering(void **state) {
  (void)state;
  const char *link =
      "http://127.0.0.1:8480/link/e-mail-bestaetigen?id=99060bbc-f5ff-43b8-b4ea-3a91bb8d82df";
  ks_mail_params p = {.kind = KS_MAIL_CONFIRM,
                      .mail_domain = "arbeitsagentur.de",
                      .to = "Max@example.de",
                      .link = link,
                      .date = 1774692000, /* 2026-03-28T10:00:00Z */
                      .message_id = "m1@arbeitsagentur.de"};
  char *raw = NULL;
  size_t len = 0;
  assert_int_equal(ks_mail_render(&p, &raw, &len, NULL), KF_OK);
  /* Headers: RFC 2047 subject, the given Date, CRLF line ends, MIME. */
  assert_non_null(strstr(raw, "Subject: =?UTF-8?"));
  assert_null(strstr(raw, "Subject: Best\xc3\xa4tigung"));
  assert_non_null(strstr(raw, "Date: Sat, 28 Mar 2026 10:00:00 +0000\r\n"));
  assert_non_null(strstr(raw, "MIME-Version: 1.0\r\n"));
  assert_non_null(strstr(raw, "Content-Type: text/plain; charset=utf-8\r\n"));
  assert_non_null(strstr(raw, "Content-Transfer-Encoding: quoted-printable\r\n"));
  assert_non_null(strstr(raw, "From: kontoservice@arbeitsagentur.de\r\n"));
  assert_non_null(strstr(raw, "<m1@arbeitsagentur.de>"));
  for (size_t i = 0; i < len; i++) {
    if (raw[i] == '\n')
      assert_true(i > 0 && raw[i - 1] == '\r');
    assert_true((unsigned char)raw[i] < 0x80); /* Everything is encoded to 7 bit. */
  }

  GMimeMessage *msg = NULL;
  assert_int_equal(kt_mail_parse(raw, len, &msg), KF_OK);
  assert_string_equal(g_mime_message_get_subject(msg), KS_MAIL_SUBJECT_CONFIRM);
  GDateTime *date = g_mime_message_get_date(msg);
  assert_non_null(date);
  assert_int_equal(g_date_time_to_unix(date), 1774692000);
  char *text = NULL;
  assert_int_equal(kt_mail_text(g_mime_message_get_mime_part(msg), &text), KF_OK);
  /* Exactly one confirmation link, the address repeated, the seed's sentences. */
  assert_int_equal(count_substr(text, "/link/e-mail-bestaetigen?id="), 1);
  assert_int_equal(count_substr(text, link), 1);
  assert_non_null(strstr(text, "\nMax@example.de\n"));
  assert_non_null(strstr(text, "Bitte best\xc3\xa4tigen Sie diese E-Mail-Adresse, indem Sie auf "
                               "folgenden Link klicken:\n"));
  assert_non_null(strstr(text, "Wichtig: Best\xc3\xa4tigen Sie Ihre E-Mail-Adresse innerhalb von "
                               "24 Stunden."));
  assert_non_null(strstr(text, "Servicenummer: 0800 4 5555 01 (geb\xc3\xbchrenfrei)"));
  assert_non_null(strstr(text, "https://www.arbeitsagentur.de/ueber-uns/ansprechpartner"));
  assert_non_null(strstr(text, "Mit freundlichen Gr\xc3\xbc\xc3\x9f"
                               "en\n"));
  g_free(text);
  g_object_unref(msg);
  kf_free(raw);
}

static void test_mail_duplicate_rendering(void **state) {
  (void)state;
  ks_mail_params p = {.kind = KS_MAIL_DUPLICATE,
                      .mail_domain = "example.test",
                      .to = "a@b.de",
                      .public_url = "http://127.0.0.1:9/",
                      .date = 0,
                      .message_id = "m2@example.test"};
  char *raw = NULL;
  size_t len = 0;
  assert_int_equal(ks_mail_render(&p, &raw, &len, NULL), KF_OK);
  assert_non_null(strstr(raw, "From: kontoservice@example.test\r\n"));
  assert_non_null(strstr(raw, "Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"));
  GMimeMessage *msg = NULL;
  assert_int_equal(kt_mail_parse(raw, len, &msg), KF_OK);
  assert_string_equal(g_mime_message_get_subject(msg),
                      "Ihre Registrierung bei der Bundesagentur f\xc3\xbcr Arbeit");
  char *text = NULL;
  assert_int_equal(kt_mail_text(g_mime_message_get_mime_part(msg), &text), KF_OK);
  assert_non_null(strstr(text, "Benutzername / E-Mail-Adresse vergessen"));
  assert_non_null(strstr(text, "Passwort vergessen"));
  assert_null(strstr(text, "e-mail-bestaetigen"));
  assert_non_null(strstr(text, "http://127.0.0.1:9/anmelden\n"));
  g_free(text);
  g_object_unref(msg);
  kf_free(raw);
}

static void test_outbox_backoff(void **state) {
  (void)state;
  assert_int_equal(ks_outbox_backoff_ms(1), 1000);
  assert_int_equal(ks_outbox_backoff_ms(2), 2000);
  assert_int_equal(ks_outbox_backoff_ms(3), 4000);
  assert_int_equal(ks_outbox_backoff_ms(6), 32000);
  assert_int_equal(ks_outbox_backoff_ms(7), 60000);
  assert_int_equal(ks_outbox_backoff_ms(1000), 60000);
}

static void test_config_parse(void **state) {
  (void)state;
  ks_config cfg;
  ks_config_init(&cfg);
  ks_config_action action;
  char *argv[] = {
      "konform-server", "--port",     "0", "--test-mode", "--hash-cost", "test", "--mail-domain",
      "x.test",         "--ready-fd", "3", "--threads",   "2",           NULL};
  assert_int_equal(ks_config_parse(12, argv, &cfg, &action, NULL), KF_OK);
  assert_int_equal(action, KS_CONFIG_RUN);
  assert_int_equal(cfg.port, 0);
  assert_true(cfg.test_mode);
  assert_string_equal(cfg.hash_cost, "test");
  assert_string_equal(cfg.mail_domain, "x.test");
  assert_int_equal(cfg.ready_fd, 3);
  assert_int_equal(cfg.threads, 2);
  assert_string_equal(cfg.bind, "127.0.0.1");

  ks_config_init(&cfg);
  char *bad_port[] = {"konform-server", "--port", "70000", NULL};
  assert_int_equal(ks_config_parse(3, bad_port, &cfg, &action, NULL), KF_ERR_INVALID);
  char *bad_cost[] = {"konform-server", "--hash-cost", "cheap", NULL};
  assert_int_equal(ks_config_parse(3, bad_cost, &cfg, &action, NULL), KF_ERR_INVALID);
  char *unknown[] = {"konform-server", "--frobnicate", NULL};
  assert_int_equal(ks_config_parse(2, unknown, &cfg, &action, NULL), KF_ERR_INVALID);
  char *cheap_mem_test[] = {"konform-server", "--test-mode", "--argon2-mem-kib", "8", NULL};
  assert_int_equal(ks_config_parse(4, cheap_mem_test, &cfg, &action, NULL), KF_OK);
  assert_int_equal(cfg.argon2_mem_kib, 8);
  char *help[] = {"konform-server", "--help", NULL};
  assert_int_equal(ks_config_parse(2, help, &cfg, &action, NULL), KF_OK);
  assert_int_equal(action, KS_CONFIG_HELP);
}

/* Parse argv (NULL-terminated) into a fresh config; the result and the message. */
static kf_rc parse_args(char **argv, ks_config *cfg, kf_err *err) {
  int argc = 0;
  while (argv[argc] != NULL)
    argc++;
  ks_config_init(cfg);
  kf_err_init(err);
  ks_config_action action;
  return ks_config_parse(argc, argv, cfg, &action, err);
}

static void test_config_refuses_cheap_hashing(void **state) {
  (void)state;
  ks_config cfg;
  kf_err err;
  /* Below libsodium's interactive cost only with --test-mode. */
  char *cost[] = {"konform-server", "--hash-cost", "test", NULL};
  assert_int_equal(parse_args(cost, &cfg, &err), KF_ERR_INVALID);
  assert_non_null(strstr(err.message, "--test-mode"));
  char *ops[] = {"konform-server", "--argon2-ops", "1", NULL};
  assert_int_equal(parse_args(ops, &cfg, &err), KF_ERR_INVALID);
  assert_non_null(strstr(err.message, "--argon2-ops"));
  char *mem[] = {"konform-server", "--hash-cost", "moderate", "--argon2-mem-kib", "65535", NULL};
  assert_int_equal(parse_args(mem, &cfg, &err), KF_ERR_INVALID);
  assert_non_null(strstr(err.message, "--argon2-mem-kib"));
  /* The order of the options does not matter. */
  char *late_mode[] = {"konform-server", "--hash-cost", "test", "--argon2-ops", "1",
                       "--test-mode",    NULL};
  assert_int_equal(parse_args(late_mode, &cfg, &err), KF_OK);
  assert_string_equal(cfg.hash_cost, "test");
  assert_int_equal(cfg.argon2_ops, 1);
  /* The interactive values themselves, and anything above, need no test mode. */
  char *floor[] = {"konform-server", "--argon2-ops", "2", "--argon2-mem-kib", "65536", NULL};
  assert_int_equal(parse_args(floor, &cfg, &err), KF_OK);
  assert_int_equal(cfg.argon2_ops, crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE);
  assert_int_equal(cfg.argon2_mem_kib * 1024, crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE);
  char *moderate[] = {"konform-server", "--hash-cost", "moderate", NULL};
  assert_int_equal(parse_args(moderate, &cfg, &err), KF_OK);
  char *none[] = {"konform-server", NULL};
  assert_int_equal(parse_args(none, &cfg, &err), KF_OK);
  assert_string_equal(cfg.hash_cost, "interactive");
}

static void test_config_mail_domain(void **state) {
  (void)state;
  ks_config cfg;
  kf_err err;
  const char *good[] = {"x.test", "arbeitsagentur.de", "mail-1.example.DE"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    char *argv[] = {"konform-server", "--mail-domain", (char *)good[i], NULL};
    if (parse_args(argv, &cfg, &err) != KF_OK)
      fail_msg("refused '%s': %s", good[i], err.message);
  }
  const char *bad[] = {"",         "localhost", "a@b.de",          "x.test\r\nBcc: a@b.de",
                       "x.test\n", "x\t.test",  "x.test\x7f",      "-x.test",
                       "x-.test",  "x..test",   "x.test.",         ".x.test",
                       "x_y.test", "x y.test",  "b\xc3\xa4r.test", "x.test>"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *argv[] = {"konform-server", "--mail-domain", (char *)bad[i], NULL};
    if (parse_args(argv, &cfg, &err) != KF_ERR_INVALID)
      fail_msg("accepted '%s'", bad[i]);
    assert_non_null(strstr(err.message, "--mail-domain"));
  }
  /* The same rule as the domain of an address. */
  assert_true(ks_address_domain_ok("b.de", 4));
  assert_false(ks_address_domain_ok("b", 1));
  assert_false(ks_address_domain_ok("b.de\r", 5));
}

/* The option table: both value forms, actions that end the parse, and the usage it prints. */
static void test_config_table(void **state) {
  (void)state;
  ks_config cfg;
  kf_err err;
  char *inline_value[] = {"konform-server", "--port=0", "--log-level=debug",
                          "--max-body",     "10",       NULL};
  assert_int_equal(parse_args(inline_value, &cfg, &err), KF_OK);
  assert_int_equal(cfg.port, 0);
  assert_int_equal(cfg.log_level, KF_LOG_DEBUG);
  assert_int_equal(cfg.max_body, 10);
  char *bad_level[] = {"konform-server", "--log-level", "loud", NULL};
  assert_int_equal(parse_args(bad_level, &cfg, &err), KF_ERR_INVALID);
  assert_non_null(strstr(err.message, "--log-level: unknown level \"loud\""));
  char *bad_threads[] = {"konform-server", "--threads", "0", NULL};
  assert_int_equal(parse_args(bad_threads, &cfg, &err), KF_ERR_INVALID);
  assert_non_null(strstr(err.message, "--threads"));
  char *missing[] = {"konform-server", "--db", NULL};
  assert_int_equal(parse_args(missing, &cfg, &err), KF_ERR_INVALID);
  assert_non_null(strstr(err.message, "--db"));
  char *operand[] = {"konform-server", "extra", NULL};
  assert_int_equal(parse_args(operand, &cfg, &err), KF_ERR_INVALID);
  assert_non_null(strstr(err.message, "extra"));
  /* --help and --version end the parse, so what follows is not judged. */
  ks_config_action action;
  char *version[] = {"konform-server", "--version", "--frobnicate", NULL};
  ks_config_init(&cfg);
  assert_int_equal(ks_config_parse(3, version, &cfg, &action, &err), KF_OK);
  assert_int_equal(action, KS_CONFIG_VERSION);
  char *help[] = {"konform-server", "--help", "--port", "x", NULL};
  assert_int_equal(ks_config_parse(4, help, &cfg, &action, &err), KF_OK);
  assert_int_equal(action, KS_CONFIG_HELP);
  /* A failed parse leaves the defaults alone. */
  char *late_error[] = {"konform-server", "--bind", "::1", "--port", "x", NULL};
  assert_int_equal(parse_args(late_error, &cfg, &err), KF_ERR_INVALID);
  assert_string_equal(cfg.bind, "127.0.0.1");
  /* The usage names every option once, with its default. */
  kf_buf b;
  kf_buf_init(&b, 1 << 16);
  assert_int_equal(ks_config_usage(&b), KF_OK);
  assert_true(kf_str_starts_with(b.data, "usage: konform-server [options]\n"));
  const char *lines[] = {"  --bind ADDR           address to listen on (127.0.0.1)\n",
                         "  --hash-cost C         argon2id cost: interactive, moderate or test "
                         "(interactive;\n                        test needs --test-mode)\n",
                         "  --ready-fd N          write \"READY http=<port>\" to fd N once "
                         "listening\n",
                         "  --version             show the version\n"};
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
    if (strstr(b.data, lines[i]) == NULL)
      fail_msg("usage lacks: %s", lines[i]);
  }
  kf_buf_release(&b);
}

/* --fault only with --test-mode, by name; --list-faults works without it and changes nothing. */
static void test_config_faults(void **state) {
  (void)state;
  ks_config cfg;
  kf_err err;
  char *refused[] = {"konform-server", "--fault", "head-confirms", NULL};
  assert_int_equal(parse_args(refused, &cfg, &err), KF_ERR_INVALID);
  assert_non_null(strstr(err.message, "--fault head-confirms needs --test-mode"));
  char *two[] = {"konform-server", "--test-mode",   "--fault", "head-confirms",
                 "--fault",        "no-dummy-hash", NULL};
  assert_int_equal(parse_args(two, &cfg, &err), KF_OK);
  for (int f = 0; f < KS_FAULT_COUNT; f++)
    assert_true(cfg.faults[f] == (f == KS_FAULT_HEAD_CONFIRMS || f == KS_FAULT_NO_DUMMY_HASH));
  char *unknown[] = {"konform-server", "--test-mode", "--fault", "head-confirm", NULL};
  assert_int_equal(parse_args(unknown, &cfg, &err), KF_ERR_INVALID);
  assert_non_null(strstr(err.message, "--list-faults"));
  ks_config_action action;
  char *list[] = {"konform-server", "--list-faults", NULL};
  ks_config_init(&cfg);
  assert_int_equal(ks_config_parse(2, list, &cfg, &action, &err), KF_OK);
  assert_int_equal(action, KS_CONFIG_LIST_FAULTS);
  assert_false(cfg.test_mode);
}

/* The IDs that the scenario files under dir name in their covers: lines, added to ids. */
static void covered_ids(const char *dir, kf_buf *ids) {
  char cmd[256];
  assert_int_equal(kf_str_format(cmd, sizeof cmd,
                                 "grep -rh '^covers:' %s --include='*.konform' 2>/dev/null", dir),
                   KF_OK);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  char line[512];
  while (fgets(line, sizeof line, p) != NULL)
    assert_int_equal(kf_buf_append_str(ids, line + strlen("covers:")), KF_OK);
  assert_int_equal(pclose(p), 0);
}

/* Whether some fault names the requirement id (len bytes) among its IDs. */
static bool fault_breaks(const char *id, size_t len) {
  for (int f = 0; f < KS_FAULT_COUNT; f++) {
    const char *ids = ks_fault_row_get((ks_fault)f)->ids;
    for (const char *p = ids; *p != '\0';) {
      size_t n = strcspn(p, " ");
      if (n == len && memcmp(p, id, len) == 0)
        return true;
      p += n;
      p += strspn(p, " ");
    }
  }
  return false;
}

/*
 * One line per fault, name<TAB>IDs<TAB>description, with kebab-case names
 * told apart, IDs shaped like "ACC-08" and every requirement the scenarios
 * cover broken by at least one fault, so `konform selftest` checks them all.
 */
static void test_fault_catalogue(void **state) {
  (void)state;
  kf_buf b;
  kf_buf_init(&b, 1 << 16);
  assert_int_equal(ks_fault_list(&b), KF_OK);
  const char *line = b.data;
  for (int f = 0; f < KS_FAULT_COUNT; f++) {
    const ks_fault_row *row = ks_fault_row_get((ks_fault)f);
    char expect[512];
    assert_int_equal(
        kf_str_format(expect, sizeof expect, "%s\t%s\t%s\n", row->name, row->ids, row->what),
        KF_OK);
    assert_true(kf_str_starts_with(line, expect));
    line += strlen(expect);
    assert_int_equal(strspn(row->name, "abcdefghijklmnopqrstuvwxyz0123456789-"), strlen(row->name));
    assert_int_equal(ks_fault_find(row->name), f);
    assert_int_equal(strspn(row->ids, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789- "), strlen(row->ids));
    assert_null(strchr(row->what, '\t'));
    assert_null(strchr(row->what, '\n'));
  }
  assert_string_equal(line, "");
  kf_buf ids;
  kf_buf_init(&ids, 1 << 20);
  covered_ids("scenarios", &ids);
  assert_true(ids.len > 0);
  for (const char *p = ids.data; *p != '\0';) {
    p += strspn(p, " \t\r\n");
    size_t len = strcspn(p, " \t\r\n");
    if (len > 0 && !fault_breaks(p, len))
      fail_msg("scenarios cover %.*s, but no fault of KS_FAULTS breaks it", (int)len, p);
    p += len;
  }
  kf_buf_release(&ids);
  kf_buf_release(&b);
}

int main(void) {
  ks_mail_global_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_address_trims_and_lowers_domain),
      cmocka_unit_test(test_address_control_characters),
      cmocka_unit_test(test_address_empty_and_invalid),
      cmocka_unit_test(test_address_length_limits),
      cmocka_unit_test(test_link_expiry_boundary),
      cmocka_unit_test(test_link_url),
      cmocka_unit_test(test_mail_confirmation_rendering),
      cmocka_unit_test(test_mail_duplicate_rendering),
      cmocka_unit_test(test_outbox_backoff),
      cmocka_unit_test(test_config_parse),
      cmocka_unit_test(test_config_refuses_cheap_hashing),
      cmocka_unit_test(test_config_mail_domain),
      cmocka_unit_test(test_config_table),
      cmocka_unit_test(test_config_faults),
      cmocka_unit_test(test_fault_catalogue),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
