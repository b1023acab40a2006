/*
 * ks_config.c: defaults and command-line parsing for konform-server.
 */
/* getopt_long is a GNU/BSD extension that POSIX 2008 does not declare. */
#define _DEFAULT_SOURCE
#include "ks_config.h"

#include <assert.h>
#include <getopt.h>
#include <limits.h>
#include <sodium.h>
#include <string.h>

#include "kf/str.h"
#include "ks_address.h"

void ks_config_init(ks_config *cfg) {
  assert(cfg != NULL);
  memset(cfg, 0, sizeof *cfg);
  cfg->bind = "127.0.0.1";
  cfg->port = 8480;
  cfg->db_path = "konform-server.db";
  cfg->hash_cost = "interactive";
  cfg->smtp_url = "smtp://127.0.0.1:8425";
  cfg->mail_domain = "arbeitsagentur.de";
  cfg->post_url = "http://127.0.0.1:8427";
  cfg->threads = 8;
  cfg->max_body = 1024 * 1024;
  cfg->ready_fd = -1;
  cfg->log_level = KF_LOG_INFO;
}

const char *ks_config_usage(void) {
  return "usage: konform-server [options]\n"
         "\n"
         "The konform reference implementation of the Jobcenter.Digital account portal.\n"
         "\n"
         "  --bind ADDR           address to listen on (127.0.0.1)\n"
         "  --port N              HTTP port (8480; 0 picks a free one)\n"
         "  --db PATH             sqlite database (konform-server.db)\n"
         "  --test-mode           enable /test/v1 (test clocks) and the Konform-Clock header\n"
         "  --hash-cost C         argon2id cost: interactive, moderate or test (interactive;\n"
         "                        test needs --test-mode)\n"
         "  --argon2-ops N        override the argon2id operations limit (at least 2\n"
         "                        unless --test-mode)\n"
         "  --argon2-mem-kib N    override the argon2id memory limit in KiB (at least\n"
         "                        65536 unless --test-mode)\n"
         "  --public-url URL      base of links in mails (http://<bind>:<port>)\n"
         "  --smtp-url URL        where mails go (smtp://127.0.0.1:8425)\n"
         "  --mail-domain D       sender domain, kontoservice@D (arbeitsagentur.de)\n"
         "  --post-url URL        konform-post (http://127.0.0.1:8427)\n"
         "  --threads N           request thread pool size (8)\n"
         "  --max-body BYTES      largest request body (1048576)\n"
         "  --ready-fd N          write \"READY http=<port>\" to fd N once listening\n"
         "  --log-level L         debug, info, warn, error or off (info)\n"
         "  --help                show this text\n"
         "  --version             show the version\n";
}

enum {
  OPT_BIND = 256,
  OPT_PORT,
  OPT_DB,
  OPT_TEST_MODE,
  OPT_HASH_COST,
  OPT_ARGON2_OPS,
  OPT_ARGON2_MEM,
  OPT_PUBLIC_URL,
  OPT_SMTP_URL,
  OPT_MAIL_DOMAIN,
  OPT_POST_URL,
  OPT_THREADS,
  OPT_MAX_BODY,
  OPT_READY_FD,
  OPT_LOG_LEVEL,
  OPT_HELP,
  OPT_VERSION
};

static kf_rc config_number(const char *opt, const char *arg, long long min, long long max,
                           long long *out, kf_err *err) {
  if (kf_str_to_llong(arg, min, max, out) != KF_OK)
    return kf_err_set(err, KF_ERR_INVALID, "%s: '%s' is not a number from %lld to %lld", opt, arg,
                      min, max);
  return KF_OK;
}

/* Rules that involve more than one option, checked once every option is known. */
static kf_rc config_check(const ks_config *cfg, kf_err *err) {
  /*
   * The domain goes into the From header and every Message-ID, so it must pass
   * the same rule as the domain of an address (no CR/LF: no header injection).
   */
  if (!ks_address_domain_ok(cfg->mail_domain, strlen(cfg->mail_domain)))
    return kf_err_set(err, KF_ERR_INVALID,
                      "--mail-domain: '%s' is not a domain (LDH labels with at least one dot)",
                      cfg->mail_domain);
  /*
   * A cost below libsodium's interactive values makes stolen hashes cheap to
   * guess, so it is for test suites only and needs --test-mode to say so.
   */
  if (cfg->test_mode)
    return KF_OK;
  if (strcmp(cfg->hash_cost, "test") == 0)
    return kf_err_set(err, KF_ERR_INVALID,
                      "--hash-cost test is too cheap for real passwords; it needs --test-mode");
  if (cfg->argon2_ops != 0 && cfg->argon2_ops < crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE)
    return kf_err_set(err, KF_ERR_INVALID,
                      "--argon2-ops %llu is below the interactive minimum %llu; it needs "
                      "--test-mode",
                      cfg->argon2_ops,
                      (unsigned long long)crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE);
  if (cfg->argon2_mem_kib != 0 &&
      cfg->argon2_mem_kib < crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE / 1024)
    return kf_err_set(err, KF_ERR_INVALID,
                      "--argon2-mem-kib %zu is below the interactive minimum %zu; it needs "
                      "--test-mode",
                      cfg->argon2_mem_kib,
                      (size_t)(crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE / 1024));
  return KF_OK;
}

kf_rc ks_config_parse(int argc, char **argv, ks_config *cfg, ks_config_action *action,
                      kf_err *err) {
  assert(cfg != NULL && action != NULL);
  static const struct option options[] = {
      {"bind", required_argument, NULL, OPT_BIND},
      {"port", required_argument, NULL, OPT_PORT},
      {"db", required_argument, NULL, OPT_DB},
      {"test-mode", no_argument, NULL, OPT_TEST_MODE},
      {"hash-cost", required_argument, NULL, OPT_HASH_COST},
      {"argon2-ops", required_argument, NULL, OPT_ARGON2_OPS},
      {"argon2-mem-kib", required_argument, NULL, OPT_ARGON2_MEM},
      {"public-url", required_argument, NULL, OPT_PUBLIC_URL},
      {"smtp-url", required_argument, NULL, OPT_SMTP_URL},
      {"mail-domain", required_argument, NULL, OPT_MAIL_DOMAIN},
      {"post-url", required_argument, NULL, OPT_POST_URL},
      {"threads", required_argument, NULL, OPT_THREADS},
      {"max-body", required_argument, NULL, OPT_MAX_BODY},
      {"ready-fd", required_argument, NULL, OPT_READY_FD},
      {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
      {"help", no_argument, NULL, OPT_HELP},
      {"version", no_argument, NULL, OPT_VERSION},
      {NULL, 0, NULL, 0},
  };
  *action = KS_CONFIG_RUN;
  /* getopt keeps global state; reset it so the parser can run more than once (tests). */
  optind = 1;
  opterr = 0;
  long long n = 0;
  kf_rc rc = KF_OK;
  for (;;) {
    int c = getopt_long(argc, argv, "", options, NULL);
    if (c == -1)
      break;
    switch (c) {
    case OPT_BIND:
      cfg->bind = optarg;
      break;
    case OPT_PORT:
      rc = config_number("--port", optarg, 0, 65535, &n, err);
      cfg->port = (unsigned)n;
      break;
    case OPT_DB:
      cfg->db_path = optarg;
      break;
    case OPT_TEST_MODE:
      cfg->test_mode = true;
      break;
    case OPT_HASH_COST:
      if (strcmp(optarg, "interactive") != 0 && strcmp(optarg, "moderate") != 0 &&
          strcmp(optarg, "test") != 0)
        return kf_err_set(err, KF_ERR_INVALID,
                          "--hash-cost: '%s' is not interactive, moderate or test", optarg);
      cfg->hash_cost = optarg;
      break;
    case OPT_ARGON2_OPS:
      rc = config_number("--argon2-ops", optarg, 1, UINT_MAX, &n, err);
      cfg->argon2_ops = (unsigned long long)n;
      break;
    case OPT_ARGON2_MEM:
      rc = config_number("--argon2-mem-kib", optarg, 8, 4LL * 1024 * 1024, &n, err);
      cfg->argon2_mem_kib = (size_t)n;
      break;
    case OPT_PUBLIC_URL:
      cfg->public_url = optarg;
      break;
    case OPT_SMTP_URL:
      cfg->smtp_url = optarg;
      break;
    case OPT_MAIL_DOMAIN:
      cfg->mail_domain = optarg;
      break;
    case OPT_POST_URL:
      cfg->post_url = optarg;
      break;
    case OPT_THREADS:
      rc = config_number("--threads", optarg, 1, 1024, &n, err);
      cfg->threads = (unsigned)n;
      break;
    case OPT_MAX_BODY:
      rc = config_number("--max-body", optarg, 1, 1LL << 30, &n, err);
      cfg->max_body = (size_t)n;
      break;
    case OPT_READY_FD:
      rc = config_number("--ready-fd", optarg, 0, INT_MAX, &n, err);
      cfg->ready_fd = (int)n;
      break;
    case OPT_LOG_LEVEL: {
      int level = kf_log_level_parse(optarg);
      if (level < 0)
        return kf_err_set(err, KF_ERR_INVALID, "--log-level: unknown level '%s'", optarg);
      cfg->log_level = (kf_log_level)level;
      break;
    }
    case OPT_HELP:
      *action = KS_CONFIG_HELP;
      return KF_OK;
    case OPT_VERSION:
      *action = KS_CONFIG_VERSION;
      return KF_OK;
    default:
      return kf_err_set(err, KF_ERR_INVALID, "unknown option or missing value: %s",
                        optind > 0 && optind <= argc ? argv[optind - 1] : "?");
    }
    if (rc != KF_OK)
      return rc;
  }
  if (optind < argc)
    return kf_err_set(err, KF_ERR_INVALID, "unexpected argument: %s", argv[optind]);
  return config_check(cfg, err);
}
