/*
 * ks_config.c: defaults and command-line parsing for konform-server.
 */
#include "ks_config.h"

#include <assert.h>
#include <stddef.h>
#include <limits.h>
#include <sodium.h>
#include <string.h>

#include "kf/opt.h"
#include "kf/str.h"
#include "ks_address.h"
#include "ks_fault.h"
#include "ks_lockout.h"
#include "ks_outbox.h"
#include "ks_variant.h"

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
  cfg->outbox_senders = KS_OUTBOX_SENDERS;
  cfg->max_body = 1024 * 1024;
  cfg->http = (kf_httpd_limits)KF_HTTPD_LIMITS_DEFAULT;
  cfg->lockout_attempts = KS_LOCKOUT_ATTEMPTS;
  cfg->lockout_minutes = KS_LOCKOUT_SECONDS / 60;
  cfg->ready_fd = -1;
  cfg->log_level = KF_LOG_INFO;
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
   * A fault breaks the contract on purpose, and a variant answers otherwise
   * than this server's documented bytes: neither outside a test run.
   */
  for (int f = 0; f < KS_FAULT_COUNT && !cfg->test_mode; f++) {
    if (cfg->faults[f])
      return kf_err_set(err, KF_ERR_INVALID, "--fault %s needs --test-mode",
                        ks_fault_row_get((ks_fault)f)->name);
  }
  for (int v = 0; v < KS_VARIANT_COUNT && !cfg->test_mode; v++) {
    if (cfg->variants[v])
      return kf_err_set(err, KF_ERR_INVALID, "--variant %s needs --test-mode",
                        ks_variant_row_get((ks_variant)v)->name);
  }
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

/* What parsing fills: the configuration and what to do with it. */
typedef struct config_args {
  ks_config cfg;
  ks_config_action action;
} config_args;

/*
 * --help, --version and the two lists end the parse at once, as getopt_long
 * did: the call records the action and answers KF_ERR_STATE, which
 * ks_config_parse turns back into success.
 */
#define CONFIG_ACTION(fn, act)                                                                     \
  static kf_rc fn(void *args, const char *value, kf_err *err) {                                    \
    (void)value;                                                                                   \
    (void)err;                                                                                     \
    ((config_args *)args)->action = act;                                                           \
    return KF_ERR_STATE;                                                                           \
  }
CONFIG_ACTION(config_help, KS_CONFIG_HELP)
CONFIG_ACTION(config_version, KS_CONFIG_VERSION)
CONFIG_ACTION(config_list_faults, KS_CONFIG_LIST_FAULTS)
CONFIG_ACTION(config_list_variants, KS_CONFIG_LIST_VARIANTS)
#undef CONFIG_ACTION

static kf_rc config_fault(void *args, const char *value, kf_err *err) {
  ks_fault f = ks_fault_find(value);
  if (f == KS_FAULT_COUNT)
    return kf_err_set(err, KF_ERR_INVALID,
                      "--fault: no fault '%s' (konform-server --list-faults lists them)", value);
  ((config_args *)args)->cfg.faults[f] = true;
  return KF_OK;
}

/* A variant by name, or every one ("all", which selftest and a by-hand check use). */
static kf_rc config_variant(void *args, const char *value, kf_err *err) {
  bool *on = ((config_args *)args)->cfg.variants;
  if (strcmp(value, KS_VARIANT_ALL) == 0) {
    for (int v = 0; v < KS_VARIANT_COUNT; v++)
      on[v] = true;
    return KF_OK;
  }
  ks_variant v = ks_variant_find(value);
  if (v == KS_VARIANT_COUNT)
    return kf_err_set(err, KF_ERR_INVALID,
                      "--variant: no variant '%s' (konform-server --list-variants lists them; "
                      "'" KS_VARIANT_ALL "' switches on every one)",
                      value);
  on[v] = true;
  return KF_OK;
}

static kf_rc config_hash_cost(void *args, const char *value, kf_err *err) {
  if (!ks_pwhash_cost_known(value))
    return kf_err_set(err, KF_ERR_INVALID, "--hash-cost: '%s' is not interactive, moderate or test",
                      value);
  ((config_args *)args)->cfg.hash_cost = value;
  return KF_OK;
}

#define CONFIG_STRING(name, field, vname, help)                                                    \
  KF_OPT_STRING_ROW(name, 0, config_args, cfg.field, vname, help)
#define CONFIG_NUM(name, kind, field, lo, hi, vname, help)                                         \
  KF_OPT_NUM_ROW(name, 0, kind, config_args, cfg.field, lo, hi, vname, help)

/* Every option, in the order of the usage text. */
static const kf_opt config_options[] = {
    CONFIG_STRING("bind", bind, "ADDR", "address to listen on (127.0.0.1)"),
    CONFIG_NUM("port", UINT, port, 0, 65535, "N", "HTTP port (8480; 0 picks a free one)"),
    CONFIG_STRING("db", db_path, "PATH", "sqlite database (konform-server.db)"),
    KF_OPT_FLAG_ROW("test-mode", 0, config_args, cfg.test_mode,
                    "enable /test/v1 (test clocks) and the Konform-Clock header"),
    KF_OPT_CALL_ROW("hash-cost", 0, config_hash_cost, "C",
                    "argon2id cost: interactive, moderate or test (interactive;\n"
                    "test needs --test-mode)"),
    CONFIG_NUM("argon2-ops", LLONG, argon2_ops, 1, UINT_MAX, "N",
               "override the argon2id operations limit (at least 2\nunless --test-mode)"),
    CONFIG_NUM("argon2-mem-kib", SIZE, argon2_mem_kib, 8, 4LL * 1024 * 1024, "N",
               "override the argon2id memory limit in KiB (at least\n65536 unless --test-mode)"),
    CONFIG_STRING("public-url", public_url, "URL", "base of links in mails (http://<bind>:<port>)"),
    CONFIG_STRING(
        "smtp-url", smtp_url, "URL",
        "where mails go, smtp://HOST:PORT only: no TLS,\nno credentials (smtp://127.0.0.1:8425)"),
    CONFIG_STRING("mail-domain", mail_domain, "D",
                  "sender domain, kontoservice@D (arbeitsagentur.de)"),
    CONFIG_STRING("post-url", post_url, "URL", "konform-post (http://127.0.0.1:8427)"),
    CONFIG_NUM("outbox-senders", UINT, outbox_senders, 1, KS_OUTBOX_SENDERS_MAX, "N",
               "outbox sender threads, one SMTP session each (4)"),
    CONFIG_NUM("threads", UINT, threads, 1, 1024, "N", "request thread pool size (8)"),
    CONFIG_NUM("max-body", SIZE, max_body, 1, 1LL << 30, "BYTES", "largest request body (1048576)"),
    KF_HTTPD_LIMIT_ROWS(config_args, cfg.http),
    CONFIG_NUM("lockout-attempts", UINT, lockout_attempts, 0, 1000, "N",
               "consecutive failed logins that lock (5; 0: never lock,\nfor a timing measurement)"),
    CONFIG_NUM("lockout-minutes", UINT, lockout_minutes, 1, 10080, "N",
               "how long a lock lasts (15)"),
    CONFIG_NUM("ready-fd", INT, ready_fd, 0, INT_MAX, "N",
               "write \"READY http=<port>\" to fd N once listening"),
    KF_OPT_LOG_LEVEL_ROW(config_args, cfg.log_level, "debug, info, warn, error or off (info)"),
    KF_OPT_CALL_ROW("fault", 0, config_fault, "NAME",
                    "switch on a fault of the catalogue (repeatable; needs\n--test-mode)"),
    KF_OPT_CALL_ROW("list-faults", 0, config_list_faults, NULL,
                    "print the fault catalogue: name, requirement IDs, description"),
    KF_OPT_CALL_ROW(
        "variant", 0, config_variant, "NAME",
        "switch on a variant of the catalogue, or \"all\" (repeatable;\nneeds --test-mode)"),
    KF_OPT_CALL_ROW("list-variants", 0, config_list_variants, NULL,
                    "print the variant catalogue: name, description"),
    KF_OPT_CALL_ROW("help", 0, config_help, NULL, "show this text"),
    KF_OPT_CALL_ROW("version", 0, config_version, NULL, "show the version"),
};

#define CONFIG_N_OPTIONS (sizeof config_options / sizeof config_options[0])

kf_rc ks_config_usage(kf_buf *out) {
  kf_rc rc = kf_buf_append_str(
      out, "usage: konform-server [options]\n"
           "\n"
           "The konform reference implementation of the Jobcenter.Digital account portal.\n"
           "\n");
  if (rc == KF_OK)
    rc = kf_opt_usage(config_options, CONFIG_N_OPTIONS, out);
  return rc;
}

kf_rc ks_config_parse(int argc, char **argv, ks_config *cfg, ks_config_action *action,
                      kf_err *err) {
  assert(cfg != NULL && action != NULL);
  config_args args = {*cfg, KS_CONFIG_RUN};
  kf_rc rc =
      kf_opt_parse(config_options, CONFIG_N_OPTIONS, argc, argv, 1, &args, NULL, 0, NULL, err);
  *action = args.action;
  if (rc == KF_ERR_STATE && args.action != KS_CONFIG_RUN)
    return KF_OK;
  if (rc == KF_OK)
    rc = config_check(&args.cfg, err);
  if (rc == KF_OK)
    *cfg = args.cfg;
  return rc;
}
