/*
 * opt.h: command-line options as a table, shared by all four programs.
 *
 * Each program describes its options once, in an array of kf_opt rows; the
 * same rows parse argv and print the usage text, so the two cannot drift
 * apart (git's parse-options). Values are stored straight into the caller's
 * configuration struct at the row's offset, with the row's range checked.
 *
 * Accepted forms: "--name value", "--name=value", "-x value" for a row with
 * a short name, "--" ends the options. Words that are not options are
 * operands, collected in order. Every error names the option.
 */
#ifndef KF_OPT_H
#define KF_OPT_H

#include <stdbool.h>
#include <stddef.h>

#include "kf/buf.h"
#include "kf/error.h"

/* What a row stores at cfg + offset. */
#define KF_OPT_KINDS(X)                                                                            \
  X(FLAG, "bool: set to true; takes no value")                                                     \
  X(STRING, "const char *: points into argv")                                                      \
  X(INT, "int, in [min, max]")                                                                     \
  X(UINT, "unsigned, in [min, max]")                                                               \
  X(SIZE, "size_t, in [min, max]")                                                                 \
  X(LLONG, "long long, in [min, max]")                                                             \
  X(LOG_LEVEL, "kf_log_level: debug, info, warn, error or off")                                    \
  X(CALL, "nothing: call(cfg, value) decides (value NULL when the row takes none)")

typedef enum kf_opt_kind {
#define KF_OPT_ENUM(name, what) KF_OPT_##name,
  KF_OPT_KINDS(KF_OPT_ENUM)
#undef KF_OPT_ENUM
} kf_opt_kind;

typedef kf_rc (*kf_opt_call)(void *cfg, const char *value, kf_err *err);

typedef struct kf_opt {
  const char *name; /* Long name without "--", e.g. "port". */
  char short_name;  /* 'v' for -v, or 0. */
  kf_opt_kind kind;
  size_t offset; /* offsetof(the config struct, field); unused for CALL. */
  long long min; /* Numeric kinds: the accepted range. */
  long long max;
  kf_opt_call call;       /* CALL only. */
  bool takes_value;       /* CALL only: whether the option has a value. */
  const char *value_name; /* For the usage text: "N", "PATH"; NULL for none. */
  const char *help;       /* One line; may hold a second line after '\n'. */
} kf_opt;

/* Row builders, so tables read as one line per option. */
#define KF_OPT_FLAG_ROW(n, s, type, field, help)                                                   \
  { (n), (s), KF_OPT_FLAG, offsetof(type, field), 0, 0, NULL, false, NULL, (help) }
#define KF_OPT_STRING_ROW(n, s, type, field, vname, help)                                          \
  { (n), (s), KF_OPT_STRING, offsetof(type, field), 0, 0, NULL, true, (vname), (help) }
#define KF_OPT_NUM_ROW(n, s, kind, type, field, lo, hi, vname, help)                               \
  { (n), (s), KF_OPT_##kind, offsetof(type, field), (lo), (hi), NULL, true, (vname), (help) }
/* The --log-level every program has; its help names the default. */
#define KF_OPT_LOG_LEVEL_ROW(type, field, help)                                                    \
  { "log-level", 0, KF_OPT_LOG_LEVEL, offsetof(type, field), 0, 0, NULL, true, "L", (help) }
#define KF_OPT_CALL_ROW(n, s, fn, vname, help)                                                     \
  { (n), (s), KF_OPT_CALL, 0, 0, 0, (fn), (vname) != NULL, (vname), (help) }

/*
 * Parse argv[first .. argc) into cfg. Operands go into operands[] (borrowed
 * argv pointers) up to max_operands; one more is an error, so 0 means the
 * program takes none. *operands_len may be NULL when max_operands is 0.
 * KF_ERR_INVALID with a message naming the option on any bad word; an
 * unknown option's message also says which known one is nearest.
 */
kf_rc kf_opt_parse(const kf_opt *opts, size_t n_opts, int argc, char *const *argv, int first,
                   void *cfg, const char **operands, size_t max_operands, size_t *operands_len,
                   kf_err *err);

/*
 * Append the options block of a usage text to out: one line per row,
 * "  --name VALUE, -x    help", help aligned in one column, a help's second
 * line indented under the first.
 */
kf_rc kf_opt_usage(const kf_opt *opts, size_t n_opts, kf_buf *out);

/* The row named name (long name), or NULL. */
const kf_opt *kf_opt_find(const kf_opt *opts, size_t n_opts, const char *name);

#endif
