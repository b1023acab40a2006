/*
 * opt.c: table-driven command-line options (see kf/opt.h).
 */
#include "kf/opt.h"

#include "kf/log.h"

#include <assert.h>
#include <string.h>

#include "kf/str.h"

/* The help column of the usage text. */
#define OPT_HELP_COL 24
/* Option names longer than this cannot be looked up (no real option is). */
#define OPT_NAME_MAX 64

const kf_opt *kf_opt_find(const kf_opt *opts, size_t n_opts, const char *name) {
  for (size_t i = 0; i < n_opts; i++) {
    if (strcmp(opts[i].name, name) == 0)
      return &opts[i];
  }
  return NULL;
}

static const kf_opt *opt_find_short(const kf_opt *opts, size_t n_opts, char c) {
  for (size_t i = 0; i < n_opts; i++) {
    if (opts[i].short_name != 0 && opts[i].short_name == c)
      return &opts[i];
  }
  return NULL;
}

static bool opt_takes_value(const kf_opt *o) {
  if (o->kind == KF_OPT_FLAG)
    return false;
  if (o->kind == KF_OPT_CALL)
    return o->takes_value;
  return true;
}

/* Store a range-checked number at the row's field. */
static kf_rc opt_store_number(const kf_opt *o, void *cfg, const char *shown, const char *value,
                              kf_err *err) {
  long long v = 0;
  if (kf_str_to_llong(value, o->min, o->max, &v) != KF_OK)
    return kf_err_set(err, KF_ERR_INVALID,
                      "%s: expected a whole number from %lld to %lld, got \"%s\"", shown, o->min,
                      o->max, value);
  char *field = (char *)cfg + o->offset;
  switch (o->kind) {
  case KF_OPT_INT:
    *(int *)(void *)field = (int)v;
    break;
  case KF_OPT_UINT:
    *(unsigned *)(void *)field = (unsigned)v;
    break;
  case KF_OPT_SIZE:
    *(size_t *)(void *)field = (size_t)v;
    break;
  default:
    *(long long *)(void *)field = v;
    break;
  }
  return KF_OK;
}

/* Carry out one option with its value (NULL for none). shown is "--name" or "-x". */
static kf_rc opt_apply(const kf_opt *o, void *cfg, const char *shown, const char *value,
                       kf_err *err) {
  char *field = (char *)cfg + o->offset;
  switch (o->kind) {
  case KF_OPT_FLAG:
    *(bool *)(void *)field = true;
    return KF_OK;
  case KF_OPT_STRING:
    *(const char **)(void *)field = value;
    return KF_OK;
  case KF_OPT_CALL:
    assert(o->call != NULL);
    return o->call(cfg, value, err);
  case KF_OPT_LOG_LEVEL: {
    int level = kf_log_level_parse(value);
    if (level < 0)
      return kf_err_set(err, KF_ERR_INVALID,
                        "%s: unknown level \"%s\" (debug, info, warn, error or off)", shown, value);
    *(kf_log_level *)(void *)field = (kf_log_level)level;
    return KF_OK;
  }
  case KF_OPT_INT:
  case KF_OPT_UINT:
  case KF_OPT_SIZE:
  case KF_OPT_LLONG:
    return opt_store_number(o, cfg, shown, value, err);
  }
  return kf_err_set(err, KF_ERR_INTERNAL, "%s: unknown option kind", shown);
}

static kf_rc opt_unknown(const kf_opt *opts, size_t n_opts, const char *word, size_t len,
                         kf_err *err) {
  const char *names[256];
  size_t n = n_opts < 256 ? n_opts : 256;
  for (size_t i = 0; i < n; i++)
    names[i] = opts[i].name;
  const char *near = len > 2 ? kf_str_nearest(word + 2, len - 2, names, n) : NULL;
  if (near != NULL)
    return kf_err_set(err, KF_ERR_INVALID, "unknown option '%.*s' (did you mean --%s?)",
                      (int)(len > 80 ? 80 : len), word, near);
  return kf_err_set(err, KF_ERR_INVALID, "unknown option '%.*s'", (int)(len > 80 ? 80 : len), word);
}

/*
 * One option word at argv[*i]: finds its row, takes its value (inline after
 * '=' or the next word) and applies it; *i ends at the last word used.
 */
static kf_rc opt_one(const kf_opt *opts, size_t n_opts, int argc, char *const *argv, int *i,
                     void *cfg, kf_err *err) {
  const char *word = argv[*i];
  const kf_opt *o = NULL;
  const char *inline_value = NULL;
  size_t name_len = strlen(word);
  if (word[1] == '-') {
    const char *eq = strchr(word, '=');
    if (eq != NULL) {
      inline_value = eq + 1;
      name_len = (size_t)(eq - word);
    }
    char name[OPT_NAME_MAX + 1];
    if (name_len - 2 <= OPT_NAME_MAX) {
      memcpy(name, word + 2, name_len - 2);
      name[name_len - 2] = '\0';
      o = kf_opt_find(opts, n_opts, name);
    }
  } else if (word[2] == '\0') {
    o = opt_find_short(opts, n_opts, word[1]);
  }
  if (o == NULL)
    return opt_unknown(opts, n_opts, word, name_len, err);
  char shown[OPT_NAME_MAX + 4];
  if (kf_str_format(shown, sizeof shown, "%.*s", (int)name_len, word) != KF_OK)
    return kf_err_set(err, KF_ERR_INVALID, "option name too long");
  if (!opt_takes_value(o)) {
    if (inline_value != NULL)
      return kf_err_set(err, KF_ERR_INVALID, "%s takes no value", shown);
    return opt_apply(o, cfg, shown, NULL, err);
  }
  if (inline_value == NULL) {
    if (*i + 1 >= argc)
      return kf_err_set(err, KF_ERR_INVALID, "%s needs a value (%s)", shown,
                        o->value_name != NULL ? o->value_name : "VALUE");
    inline_value = argv[++*i];
  }
  return opt_apply(o, cfg, shown, inline_value, err);
}

kf_rc kf_opt_parse(const kf_opt *opts, size_t n_opts, int argc, char *const *argv, int first,
                   void *cfg, const char **operands, size_t max_operands, size_t *operands_len,
                   kf_err *err) {
  assert(opts != NULL && argv != NULL && cfg != NULL);
  size_t n = 0;
  bool options_done = false;
  kf_rc rc = KF_OK;
  for (int i = first; rc == KF_OK && i < argc; i++) {
    const char *word = argv[i];
    if (!options_done && strcmp(word, "--") == 0) {
      options_done = true;
    } else if (!options_done && word[0] == '-' && word[1] != '\0') {
      rc = opt_one(opts, n_opts, argc, argv, &i, cfg, err);
    } else if (n < max_operands) {
      operands[n++] = word;
    } else {
      rc = kf_err_set(err, KF_ERR_INVALID, "unexpected argument '%.200s'", word);
    }
  }
  if (operands_len != NULL)
    *operands_len = n;
  return rc;
}

kf_rc kf_opt_usage(const kf_opt *opts, size_t n_opts, kf_buf *out) {
  kf_rc rc = KF_OK;
  for (size_t i = 0; rc == KF_OK && i < n_opts; i++) {
    const kf_opt *o = &opts[i];
    size_t before = out->len;
    rc = kf_buf_appendf(out, "  --%s", o->name);
    if (rc == KF_OK && o->value_name != NULL && opt_takes_value(o))
      rc = kf_buf_appendf(out, " %s", o->value_name);
    if (rc == KF_OK && o->short_name != 0)
      rc = kf_buf_appendf(out, ", -%c", o->short_name);
    size_t used = out->len - before;
    const char *help = o->help != NULL ? o->help : "";
    /* A long head puts the help on its own line, still in the help column. */
    if (rc == KF_OK && used + 2 > OPT_HELP_COL) {
      rc = kf_buf_append_byte(out, '\n');
      used = 0;
    }
    for (const char *line = help; rc == KF_OK && line != NULL;) {
      const char *nl = strchr(line, '\n');
      int len = nl != NULL ? (int)(nl - line) : (int)strlen(line);
      rc = kf_buf_appendf(out, "%*s%.*s\n", (int)(OPT_HELP_COL - used), "", len, line);
      used = 0;
      line = nl != NULL ? nl + 1 : NULL;
    }
  }
  return rc;
}
