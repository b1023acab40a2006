/*
 * ks_config.h: konform-server's command line.
 *
 * Ownership: ks_config_parse stores pointers into argv (borrowed, so argv must
 * outlive cfg); the usage text goes to a caller-owned kf_buf.
 */
#ifndef KS_CONFIG_H
#define KS_CONFIG_H

#include <stdbool.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "ks_server.h"

typedef enum ks_config_action {
  KS_CONFIG_RUN,          /* Start the server. */
  KS_CONFIG_HELP,         /* --help was given: print ks_config_usage and exit 0. */
  KS_CONFIG_VERSION,      /* --version was given. */
  KS_CONFIG_LIST_FAULTS,  /* --list-faults was given: print ks_fault_list and exit 0. */
  KS_CONFIG_LIST_VARIANTS /* --list-variants was given: print ks_variant_list and exit 0. */
} ks_config_action;

/*
 * Parse argv into cfg (which ks_config_init prepared). Strings in cfg point
 * into argv. KF_ERR_INVALID with a message on a bad option, a --mail-domain
 * that is not a domain, or (without --test-mode) a password hash cost below
 * libsodium's interactive values (--hash-cost test, --argon2-ops below 2 or
 * --argon2-mem-kib below 65536), a --fault or a --variant. --help,
 * --version, --list-faults and --list-variants end the parse, so they work
 * without --test-mode.
 */
kf_rc ks_config_parse(int argc, char **argv, ks_config *cfg, ks_config_action *action, kf_err *err);

/* Append the --help text (the option lines come from the option table) to out. */
kf_rc ks_config_usage(kf_buf *out);

#endif
