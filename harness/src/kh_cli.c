/*
 * kh_cli.c: konform's command line.
 *
 * Commands and options are tables: the options go through kf_opt (which
 * accepts "--opt value" and "--opt=value" and prints the usage from the same
 * rows), a command is a row and its function. Commands that start programs
 * run inside kh_cli_runtime, whose signal thread stops every stack on Ctrl-C.
 */
#include "kh_cli.h"

#include <assert.h>
#include <errno.h>
#include <time.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/daemon.h"
#include "kf/file.h"
#include "kf/log.h"
#include "kf/opt.h"
#include "kf/str.h"
#include "kf/version.h"
#include "kh_cmd_explain.h"
#include "kh_cmd_merge.h"
#include "kh_cmd_mocks.h"
#include "kh_cmd_repro.h"
#include "kh_cmd_run.h"
#include "kh_cmd_selftest.h"
#include "kh_cmd_suite.h"
#include "kh_reqdoc.h"
#include "kh_shard.h"
#include "kh_http.h"
#include "kh_stack.h"
#include "kh_suite.h"
#include "kr/report.h"

/* ---- Options: one table that parses argv and prints the usage. ---- */

static kf_rc kh_cli_push(const char **list, size_t *len, const char *value, const char *opt,
                         kf_err *err) {
  if (*len >= KH_CLI_MAX_LIST)
    return kf_err_set(err, KF_ERR_INVALID, "too many %s values (at most %d)", opt, KH_CLI_MAX_LIST);
  list[(*len)++] = value;
  return KF_OK;
}

static kf_rc kh_cli_parse_u64(const char *s, int base, uint64_t *out) {
  if (s == NULL || s[0] == '\0' || s[0] == '-' || s[0] == '+' || s[0] == ' ')
    return KF_ERR_PARSE;
  if (base == 16 && strlen(s) > 16)
    return KF_ERR_LIMIT;
  errno = 0;
  char *end = NULL;
  unsigned long long v = strtoull(s, &end, base);
  if (errno != 0 || end == NULL || *end != '\0')
    return KF_ERR_PARSE;
  *out = (uint64_t)v;
  return KF_OK;
}

static kf_rc kh_cli_opt_covers(void *cfg, const char *value, kf_err *err) {
  kh_cli_options *o = cfg;
  return kh_cli_push(o->covers, &o->covers_len, value, "--covers", err);
}

static kf_rc kh_cli_opt_fault(void *cfg, const char *value, kf_err *err) {
  kh_cli_options *o = cfg;
  if (o->faults_len >= KH_CLI_MAX_FAULTS)
    return kf_err_set(err, KF_ERR_INVALID, "too many --fault values (at most %d)",
                      KH_CLI_MAX_FAULTS);
  o->faults[o->faults_len++] = value;
  return KF_OK;
}

static kf_rc kh_cli_opt_trace(void *cfg, const char *value, kf_err *err) {
  kh_cli_options *o = cfg;
  if (kr_trace_mode_parse(value, &o->trace) != KF_OK)
    return kf_err_set(err, KF_ERR_INVALID, "--trace wants failed or all, not \"%s\"", value);
  return KF_OK;
}

static kf_rc kh_cli_opt_tag(void *cfg, const char *value, kf_err *err) {
  kh_cli_options *o = cfg;
  return kh_cli_push(o->tags, &o->tags_len, value, "--tag", err);
}

/* The report writers, by the KIND of --report KIND=PATH: the rows of KR_FORMATS. */
static const kh_cli_report_kind KH_CLI_REPORTS[] = {
#define KH_CLI_REPORT_ROW(name, label, write) {name, label, write},
    KR_FORMATS(KH_CLI_REPORT_ROW)
#undef KH_CLI_REPORT_ROW
};

static kf_rc kh_cli_opt_report(void *cfg, const char *value, kf_err *err) {
  kh_cli_options *o = cfg;
  if (o->reports_len >= KH_CLI_MAX_LIST)
    return kf_err_set(err, KF_ERR_INVALID, "too many --report options");
  kh_cli_report *r = &o->reports[o->reports_len];
  const char *eq = strchr(value, '=');
  r->kind = NULL;
  for (size_t i = 0; eq != NULL && i < sizeof KH_CLI_REPORTS / sizeof KH_CLI_REPORTS[0]; i++) {
    size_t n = strlen(KH_CLI_REPORTS[i].name);
    if ((size_t)(eq - value) == n && strncmp(value, KH_CLI_REPORTS[i].name, n) == 0)
      r->kind = &KH_CLI_REPORTS[i];
  }
  if (r->kind == NULL)
    return kf_err_set(err, KF_ERR_INVALID,
                      "--report wants KIND=PATH, KIND one of" KR_FORMAT_WORDS "; not \"%s\"",
                      value);
  r->path = eq + 1;
  if (r->path[0] == '\0')
    return kf_err_set(err, KF_ERR_INVALID, "--report %s: the path is missing", value);
  for (size_t i = 0; i < o->reports_len; i++)
    if (strcmp(o->reports[i].path, r->path) == 0)
      return kf_err_set(err, KF_ERR_INVALID, "--report %s: %s is written by another --report",
                        value, r->path);
  o->reports_len++;
  return KF_OK;
}

static kf_rc kh_cli_opt_seed(void *cfg, const char *value, kf_err *err) {
  kh_cli_options *o = cfg;
  if (kh_cli_parse_u64(value, 10, &o->seed) != KF_OK)
    return kf_err_set(err, KF_ERR_INVALID, "--seed wants a decimal number, not \"%s\"", value);
  o->has_seed = true;
  return KF_OK;
}

static kf_rc kh_cli_opt_run_id(void *cfg, const char *value, kf_err *err) {
  kh_cli_options *o = cfg;
  if (kh_cli_parse_u64(value, 16, &o->run_id) != KF_OK)
    return kf_err_set(err, KF_ERR_INVALID, "--run-id wants up to 16 hex digits, not \"%s\"", value);
  o->has_run_id = true;
  return KF_OK;
}

static kf_rc kh_cli_opt_shard(void *cfg, const char *value, kf_err *err) {
  kh_cli_options *o = cfg;
  return kh_shard_parse(value, &o->shard, err);
}

static kf_rc kh_cli_opt_help(void *cfg, const char *value, kf_err *err) {
  (void)value;
  (void)err;
  ((kh_cli_options *)cfg)->command = KH_CMD_HELP;
  return KF_OK;
}

static const kf_opt KH_CLI_OPTS[] = {
    KF_OPT_STRING_ROW("target", 0, kh_cli_options, target, "FILE",
                      "target profile (docs/targets.md); default: start the\n"
                      "embedded reference stack"),
    KF_OPT_NUM_ROW("jobs", 0, UINT, kh_cli_options, jobs, 1, 256, "N",
                   "scenarios run in parallel (default: online CPUs, >= 2)"),
    KF_OPT_CALL_ROW("covers", 0, kh_cli_opt_covers, "ID",
                    "only scenarios covering ID (repeatable)"),
    KF_OPT_CALL_ROW("tag", 0, kh_cli_opt_tag, "T", "only scenarios tagged T (repeatable)"),
    KF_OPT_STRING_ROW("name", 0, kh_cli_options, name, "TEXT",
                      "only scenarios whose name contains TEXT"),
    KF_OPT_CALL_ROW("report", 0, kh_cli_opt_report, "KIND=PATH",
                    "write a report (repeatable); KIND:" KR_FORMAT_WORDS),
    KF_OPT_CALL_ROW("trace", 0, kh_cli_opt_trace, "MODE",
                    "failed (default): the exchanges of failing steps at the\n"
                    "end; all: every step with its exchanges as it runs"),
    KF_OPT_FLAG_ROW("verbose", 'v', kh_cli_options, verbose,
                    "--trace all, the passing expects too, and the whole\n"
                    "requirement table"),
    KF_OPT_CALL_ROW("seed", 0, kh_cli_opt_seed, "N",
                    "random seed (default random; always printed)"),
    KF_OPT_CALL_ROW("run-id", 0, kh_cli_opt_run_id, "HEX",
                    "run identity for generated accounts (default random)"),
    KF_OPT_STRING_ROW("catalogue", 0, kh_cli_options, catalogue, "FILE",
                      "requirement catalogue (default: catalogue.json in the\n"
                      "first scenario folder or its parents)"),
    KF_OPT_FLAG_ROW("keep-state", 0, kh_cli_options, keep_state,
                    "keep the embedded stack's temporary folder"),
    KF_OPT_FLAG_ROW("no-color", 0, kh_cli_options, no_color, "no ANSI colours"),
    KF_OPT_CALL_ROW("fault", 0, kh_cli_opt_fault, "NAME",
                    "run: the embedded stack's servers switch on this fault of\n"
                    "konform-server --list-faults (repeatable)"),
    KF_OPT_FLAG_ROW("allow-partial", 0, kh_cli_options, allow_partial,
                    "exit 0 even when scenarios were not checked (skipped)"),
    KF_OPT_NUM_ROW("smtp-port", 0, UINT, kh_cli_options, smtp_port, 0, 65535, "N",
                   "mocks: the SMTP port of konform-mail (default: a free one)"),
    KF_OPT_NUM_ROW("mail-port", 0, UINT, kh_cli_options, mail_port, 0, 65535, "N",
                   "mocks: the HTTP port of konform-mail (default: a free one)"),
    KF_OPT_NUM_ROW("post-port", 0, UINT, kh_cli_options, post_port, 0, 65535, "N",
                   "mocks: the HTTP port of konform-post (default: a free one)"),
    KF_OPT_CALL_ROW("help", 'h', kh_cli_opt_help, NULL, "print this text"),
    KF_OPT_CALL_ROW("shard", 0, kh_cli_opt_shard, "K/N",
                    "run (list) only shard K of N of the selected scenarios:\n"
                    "dealt round-robin, each in exactly one shard"),
    KF_OPT_STRING_ROW("output", 'o', kh_cli_options, output, "FILE",
                      "repro: where the script goes"),
};

#define KH_CLI_OPTS_LEN (sizeof KH_CLI_OPTS / sizeof KH_CLI_OPTS[0])

static int kh_cli_list(const kh_cli_options *o);
static int kh_cli_lint(const kh_cli_options *o);
static int kh_cli_mocks(const kh_cli_options *o);
static int kh_cli_selftest(const kh_cli_options *o);
static int kh_cli_requirements(const kh_cli_options *o);
static int kh_cli_runtime(const kh_cli_options *o, int (*body)(const kh_cli_options *o));
static int kh_cli_run(const kh_cli_options *o);
static int kh_cli_help(const kh_cli_options *o);
static int kh_cli_version(const kh_cli_options *o);

/* The commands; a new one is a row and its function. */
static const struct {
  kh_cli_command command;
  const char *name;
  const char *alias; /* Another spelling ("--version"), or NULL. */
  const char *usage; /* Its line in the usage text. */
  int (*fn)(const kh_cli_options *o);
} KH_CLI_COMMANDS[] = {
    {KH_CMD_RUN, "run", NULL, "  run [PATH...]    run the scenarios\n", kh_cli_run},
    {KH_CMD_LIST, "list", NULL,
     "  list [PATH...]   list the scenarios: file:line, name, covers, tags\n", kh_cli_list},
    {KH_CMD_LINT, "lint", NULL, "  lint [PATH...]   check the scenarios against the catalogue\n",
     kh_cli_lint},
    {KH_CMD_MOCKS, "mocks", NULL,
     "  mocks            start konform-mail and konform-post for a target of your own\n",
     kh_cli_mocks},
    {KH_CMD_SELFTEST, "selftest", NULL,
     "  selftest [PATH...]  show that every fault of the reference server is caught\n",
     kh_cli_selftest},
    {KH_CMD_REQUIREMENTS, "requirements", NULL,
     "  requirements     print docs/requirements.md from the catalogue\n", kh_cli_requirements},
    {KH_CMD_VERSION, "version", "--version",
     "  version          print the version and the catalogue's (--catalogue)\n", kh_cli_version},
    {KH_CMD_HELP, "help", "--help", "  help             print this text\n", kh_cli_help},
    {KH_CMD_MERGE, "merge", NULL,
     "  merge A.json...  combine the JSON reports of the shards of a run (--shard) into\n"
     "                   one verdict, printed as run prints it, and write --report\n",
     kh_cmd_merge},
    {KH_CMD_EXPLAIN, "explain", NULL,
     "  explain ID [PATH...]  a requirement's text, source, defaults (and the\n"
     "                   --target's values) and the scenarios covering it\n",
     kh_cmd_explain},
    {KH_CMD_REPRO, "repro", NULL,
     "  repro NAME [PATH...]  write a POSIX sh script (-o FILE) that replays one scenario\n"
     "                   against the target (--target) with curl and jq\n",
     kh_cmd_repro},
};

#define KH_CLI_COMMANDS_LEN (sizeof KH_CLI_COMMANDS / sizeof KH_CLI_COMMANDS[0])

/* The usage text, from the command and option tables. */
static void kh_cli_print_usage(FILE *out) {
  kf_buf b;
  kf_buf_init(&b, 16 * 1024);
  kf_rc rc = kf_buf_append_str(&b, "usage: konform <command> [options] [PATH...]\n\ncommands:\n");
  for (size_t i = 0; rc == KF_OK && i < KH_CLI_COMMANDS_LEN; i++)
    rc = kf_buf_append_str(&b, KH_CLI_COMMANDS[i].usage);
  if (rc == KF_OK)
    rc = kf_buf_appendf(&b,
                        "\nPATH is a scenario file or folder; without one, ./scenarios if it "
                        "exists, else\n%s (here: %s)\n",
                        KONFORM_DATADIR "/scenarios", kh_cmd_suite_default_path());
  if (rc == KF_OK)
    rc = kf_buf_append_str(&b, "\noptions:\n");
  if (rc == KF_OK)
    rc = kf_opt_usage(KH_CLI_OPTS, KH_CLI_OPTS_LEN, &b);
  if (rc == KF_OK)
    rc = kf_buf_append_str(
        &b, "\nexit codes: 0 conforms, 1 failures, 2 usage/parse/lint errors, 3 target "
            "unreachable,\n4 some scenarios not checked (see --allow-partial), 130 interrupted\n");
  fputs(b.data != NULL ? b.data : "usage: konform <command> [options] [PATH...]\n", out);
  kf_buf_release(&b);
}

#define KH_CMD_BIT(c) (1u << (c))
#define KH_FOR_RUN (KH_CMD_BIT(KH_CMD_RUN))
#define KH_FOR_RUNS (KH_CMD_BIT(KH_CMD_RUN) | KH_CMD_BIT(KH_CMD_SELFTEST))
#define KH_FOR_SELECT (KH_FOR_RUNS | KH_CMD_BIT(KH_CMD_LIST))
#define KH_FOR_CATALOGUE                                                                           \
  (KH_FOR_RUNS | KH_CMD_BIT(KH_CMD_LINT) | KH_CMD_BIT(KH_CMD_MOCKS) |                              \
   KH_CMD_BIT(KH_CMD_REQUIREMENTS) | KH_CMD_BIT(KH_CMD_EXPLAIN) | KH_CMD_BIT(KH_CMD_REPRO) |       \
   KH_CMD_BIT(KH_CMD_VERSION))
#define KH_FOR_MOCKS (KH_CMD_BIT(KH_CMD_MOCKS))
/* The options of a verdict and its reports: a run's, or the one merge puts together. */
#define KH_FOR_VERDICT (KH_FOR_RUN | KH_CMD_BIT(KH_CMD_MERGE))
#define KH_FOR_PROFILE (KH_FOR_RUN | KH_CMD_BIT(KH_CMD_EXPLAIN) | KH_CMD_BIT(KH_CMD_REPRO))
/* What makes a run's identities: a run's, or the replay of one of its scenarios. */
#define KH_FOR_IDENTITY (KH_FOR_RUNS | KH_CMD_BIT(KH_CMD_REPRO))

/*
 * Which commands read which option: an option a command would ignore is a
 * usage error rather than a silent no-op (`selftest --target` runs no
 * target). An option was given when its field is no longer all zero bytes.
 */
static const struct {
  const char *name;
  size_t offset, size;
  unsigned commands;
} KH_CLI_SCOPES[] = {
#define KH_SCOPE(name, field, commands)                                                            \
  { name, offsetof(kh_cli_options, field), sizeof(((kh_cli_options *)0)->field), commands }
    KH_SCOPE("--target", target, KH_FOR_PROFILE),
    KH_SCOPE("--jobs", jobs, KH_FOR_RUNS),
    KH_SCOPE("--covers", covers_len, KH_FOR_SELECT),
    KH_SCOPE("--tag", tags_len, KH_FOR_SELECT),
    KH_SCOPE("--name", name, KH_FOR_SELECT),
    KH_SCOPE("--report", reports_len, KH_FOR_VERDICT),
    KH_SCOPE("--trace", trace, KH_FOR_VERDICT),
    KH_SCOPE("--verbose", verbose, KH_FOR_VERDICT),
    KH_SCOPE("--seed", has_seed, KH_FOR_IDENTITY),
    KH_SCOPE("--run-id", has_run_id, KH_FOR_IDENTITY),
    KH_SCOPE("--catalogue", catalogue, KH_FOR_CATALOGUE),
    KH_SCOPE("--keep-state", keep_state, KH_FOR_RUNS),
    KH_SCOPE("--no-color", no_color, KH_FOR_VERDICT),
    KH_SCOPE("--allow-partial", allow_partial, KH_FOR_VERDICT),
    KH_SCOPE("--fault", faults_len, KH_FOR_RUN),
    KH_SCOPE("--smtp-port", smtp_port, KH_FOR_MOCKS),
    KH_SCOPE("--mail-port", mail_port, KH_FOR_MOCKS),
    KH_SCOPE("--post-port", post_port, KH_FOR_MOCKS),
    KH_SCOPE("--shard", shard, KH_FOR_RUN | KH_CMD_BIT(KH_CMD_LIST)),
    KH_SCOPE("--output", output, KH_CMD_BIT(KH_CMD_REPRO)),
#undef KH_SCOPE
};

static bool kh_cli_given(const kh_cli_options *o, size_t offset, size_t size) {
  const unsigned char *field = (const unsigned char *)o + offset;
  for (size_t i = 0; i < size; i++)
    if (field[i] != 0)
      return true;
  return false;
}

static kf_rc kh_cli_check_scope(const kh_cli_options *o, const char *command, kf_err *err) {
  for (size_t i = 0; i < sizeof KH_CLI_SCOPES / sizeof KH_CLI_SCOPES[0]; i++) {
    if ((KH_CLI_SCOPES[i].commands & KH_CMD_BIT(o->command)) == 0 &&
        kh_cli_given(o, KH_CLI_SCOPES[i].offset, KH_CLI_SCOPES[i].size))
      return kf_err_set(err, KF_ERR_INVALID, "%s does nothing for '%s'", KH_CLI_SCOPES[i].name,
                        command);
  }
  bool takes_paths = o->command != KH_CMD_VERSION;
  if (!takes_paths && o->paths_len > 0)
    return kf_err_set(err, KF_ERR_INVALID, "'%s' takes no PATH (got \"%s\")", command, o->paths[0]);
  return KF_OK;
}

kf_rc kh_cli_parse(int argc, char *const *argv, kh_cli_options *opts, kf_err *err) {
  assert(opts != NULL);
  memset(opts, 0, sizeof(*opts));
  if (argc < 2)
    return kf_err_set(err, KF_ERR_INVALID, "no command given");
  const char *cmd = argv[1];
  size_t c = 0;
  while (c < KH_CLI_COMMANDS_LEN && strcmp(cmd, KH_CLI_COMMANDS[c].name) != 0 &&
         (KH_CLI_COMMANDS[c].alias == NULL || strcmp(cmd, KH_CLI_COMMANDS[c].alias) != 0))
    c++;
  for (size_t h = 0; c == KH_CLI_COMMANDS_LEN && strcmp(cmd, "-h") == 0 && h < KH_CLI_COMMANDS_LEN;
       h++) {
    if (KH_CLI_COMMANDS[h].command == KH_CMD_HELP)
      c = h;
  }
  if (c == KH_CLI_COMMANDS_LEN)
    return kf_err_set(err, KF_ERR_INVALID, "unknown command \"%s\"", cmd);
  opts->command = KH_CLI_COMMANDS[c].command;
  /* Options may set the command (--help), so it is chosen before they are read. */
  kf_rc rc = kf_opt_parse(KH_CLI_OPTS, KH_CLI_OPTS_LEN, argc, argv, 2, opts, opts->paths,
                          KH_CLI_MAX_LIST, &opts->paths_len, err);
  if (rc == KF_OK && opts->command != KH_CMD_HELP)
    rc = kh_cli_check_scope(opts, KH_CLI_COMMANDS[c].name, err);
  return rc;
}

/* ---- list, lint, requirements: the scenarios read, never run. ---- */

static int kh_cli_list(const kh_cli_options *o) {
  kh_cmd_suite s;
  kh_cmd_suite_init(&s);
  int code = kh_cmd_suite_load_scenarios(o, &s);
  if (code != KH_EXIT_OK) {
    kh_cmd_suite_release(&s);
    return code;
  }
  kh_selection sel;
  kh_cmd_suite_selection(o, &sel);
  size_t shown = 0, position = 0;
  for (size_t i = 0; i < s.suite.entries_len; i++) {
    const kh_suite_entry *e = &s.suite.entries[i];
    const kh_scenario *sc = e->scenario;
    if (!kh_selection_match(&sel, sc) || !kh_shard_has(&o->shard, position++))
      continue;
    printf("%s:%u\t%s\tcovers:", e->file->path, sc->pos.line, sc->name);
    for (size_t j = 0; j < sc->covers_len; j++)
      printf(" %s", sc->covers[j]);
    printf("\ttags:");
    for (size_t j = 0; j < sc->tags_len; j++)
      printf(" %s", sc->tags[j]);
    printf("\n");
    shown++;
  }
  fprintf(stderr, "%zu of %zu scenarios\n", shown, s.suite.entries_len);
  kh_cmd_suite_release(&s);
  return KH_EXIT_OK;
}

static int kh_cli_lint(const kh_cli_options *o) {
  kh_cmd_suite s;
  kh_cmd_suite_init(&s);
  int code = kh_cmd_suite_load_scenarios(o, &s);
  if (code == KH_EXIT_OK)
    code = kh_cmd_suite_load_catalogue(o, &s);
  if (code == KH_EXIT_OK) {
    if (!s.have_cat)
      fprintf(stderr, "konform: no catalogue.json found; requirement IDs are not checked\n");
    size_t errors = 0, warnings = 0;
    code = kh_cmd_suite_lint(&s, &errors, &warnings);
    fprintf(stderr, "%zu scenarios checked: %zu errors, %zu warnings\n", s.suite.entries_len,
            errors, warnings);
  }
  kh_cmd_suite_release(&s);
  return code;
}

/* requirements: the catalogue found as lint finds it, rendered as Markdown. */
static int kh_cli_requirements(const kh_cli_options *o) {
  char path[KH_CMD_SUITE_PATH_MAX];
  if (o->catalogue != NULL
          ? kf_str_copy(path, sizeof path, o->catalogue) != KF_OK
          : !kh_cmd_suite_find_catalogue(
                o->paths_len > 0 ? o->paths[0] : kh_cmd_suite_default_path(), path, sizeof path)) {
    fprintf(stderr, "konform: no catalogue.json found (--catalogue FILE)\n");
    return KH_EXIT_USAGE;
  }
  kf_buf text, md;
  kf_buf_init(&text, 16u << 20);
  kf_buf_init(&md, 16u << 20);
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = kf_file_read(path, &text, &err);
  if (rc == KF_OK)
    rc = kh_reqdoc_render(path, text.data, text.len, &md, &err);
  if (rc == KF_OK)
    fputs(md.data, stdout);
  else
    fprintf(stderr, "konform: %s\n", err.message);
  kf_buf_release(&text);
  kf_buf_release(&md);
  return rc == KF_OK ? KH_EXIT_OK : KH_EXIT_USAGE;
}

/* ---- mocks, run, selftest: they start programs. ---- */

/* mocks: the catalogue, if one is found, gives the profile skeleton its [defaults]. */
static int kh_cli_mocks(const kh_cli_options *o) {
  kh_cmd_suite s;
  kh_cmd_suite_init(&s);
  int code = kh_cmd_suite_load_catalogue(o, &s);
  if (code == KH_EXIT_OK)
    code = kh_cmd_mocks(o, s.have_cat ? &s.cat : NULL);
  kh_cmd_suite_release(&s);
  return code;
}

/* selftest: the suite and the catalogue as for run, then the faults. */
static int kh_cli_selftest_body(const kh_cli_options *o) {
  kh_cmd_suite s;
  kh_cmd_suite_init(&s);
  int code = kh_cmd_suite_prepare(o, &s);
  if (code == KH_EXIT_OK)
    code = kh_cmd_selftest(o, &s.suite, s.have_cat ? &s.cat : NULL);
  kh_cmd_suite_release(&s);
  return code;
}

/*
 * Set by the signal thread before it stops the stacks. Stopping them makes
 * the main thread's run end too (its requests fail, its start is woken); it
 * then writes no report and exits 130 itself.
 */
static atomic_bool kh_cli_interrupted;

/* The main thread's command has returned (guarded by kh_cli_done_lock). */
static pthread_mutex_t kh_cli_done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t kh_cli_done_cond = PTHREAD_COND_INITIALIZER;
static bool kh_cli_done;

/* How long the main thread may take to end after Ctrl-C before it is cut off. */
#define KH_CLI_INTERRUPT_GRACE_S 10

const atomic_bool *kh_cli_interrupt_flag(void) {
  return &kh_cli_interrupted;
}

static void kh_cli_mark_done(void) {
  pthread_mutex_lock(&kh_cli_done_lock);
  kh_cli_done = true;
  pthread_cond_broadcast(&kh_cli_done_cond);
  pthread_mutex_unlock(&kh_cli_done_lock);
}

/* After Ctrl-C: the main thread ends on its own, or is cut off after the grace period. */
static void *kh_cli_grace_thread(void *arg) {
  (void)arg;
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += KH_CLI_INTERRUPT_GRACE_S;
  pthread_mutex_lock(&kh_cli_done_lock);
  int rc = 0;
  while (!kh_cli_done && rc != ETIMEDOUT)
    rc = pthread_cond_timedwait(&kh_cli_done_cond, &kh_cli_done_lock, &deadline);
  bool done = kh_cli_done;
  pthread_mutex_unlock(&kh_cli_done_lock);
  if (!done) {
    fprintf(stderr, "konform: the run did not end within %d s of the signal; exiting\n",
            KH_CLI_INTERRUPT_GRACE_S);
    fflush(stdout);
    _exit(KH_EXIT_INTERRUPTED);
  }
  return NULL;
}

/*
 * The first signal stops every stack and lets the main thread end (so no
 * report is left half written); a second one exits at once.
 */
static void *kh_cli_signal_thread(void *arg) {
  (void)arg;
  int sig = kf_daemon_wait_for_signal();
  atomic_store(&kh_cli_interrupted, true);
  fprintf(stderr, "\nkonform: interrupted by signal %d; stopping (again to exit at once)\n", sig);
  kh_stack_stop_all();
  pthread_t grace;
  if (pthread_create(&grace, NULL, kh_cli_grace_thread, NULL) != 0)
    _exit(KH_EXIT_INTERRUPTED);
  pthread_detach(grace);
  (void)kf_daemon_wait_for_signal();
  fflush(stdout);
  _exit(KH_EXIT_INTERRUPTED);
  return NULL;
}

static int kh_cli_help(const kh_cli_options *o) {
  (void)o;
  kh_cli_print_usage(stdout);
  return KH_EXIT_OK;
}

/*
 * The release, and the catalogue a run from here would check against: the
 * loader takes only "version": 1, and the hash is the one the JSON report
 * carries and merge compares, so two machines can see they test the same list.
 */
static int kh_cli_version(const kh_cli_options *o) {
  printf("konform %s\n", KONFORM_VERSION);
  kh_cmd_suite s;
  kh_cmd_suite_init(&s);
  int code = kh_cmd_suite_load_catalogue(o, &s);
  char hash[KF_RUN_HASH_HEX] = "";
  kf_err err;
  kf_err_init(&err);
  if (code == KH_EXIT_OK && s.have_cat && kh_shard_file_hash(s.cat_path, hash, &err) != KF_OK) {
    fprintf(stderr, "konform: %s\n", err.message);
    code = KH_EXIT_USAGE;
  }
  if (code == KH_EXIT_OK && s.have_cat)
    printf("catalogue version 1, %zu requirements in %zu areas, hash %s (%s)\n", s.cat.len,
           s.cat.areas_len, hash, s.cat_path);
  else if (code == KH_EXIT_OK)
    printf("catalogue: none found (--catalogue FILE)\n");
  kh_cmd_suite_release(&s);
  return code;
}

/* Set up what running scenarios needs (libsodium, libcurl, the signal thread), then body. */
static int kh_cli_runtime(const kh_cli_options *o, int (*body)(const kh_cli_options *o)) {
  kf_err err;
  kf_err_init(&err);
  if (sodium_init() < 0) {
    fprintf(stderr, "konform: libsodium cannot be initialised\n");
    return KH_EXIT_USAGE;
  }
  if (kh_http_global_init(&err) != KF_OK) {
    fprintf(stderr, "konform: %s\n", err.message);
    return KH_EXIT_USAGE;
  }
  /* Block the signals before any thread exists, so only the signal thread takes them. */
  if (kf_daemon_block_signals() != KF_OK) {
    fprintf(stderr, "konform: cannot set up signal handling\n");
    return KH_EXIT_USAGE;
  }
  pthread_t sig_thread;
  if (pthread_create(&sig_thread, NULL, kh_cli_signal_thread, NULL) != 0) {
    fprintf(stderr, "konform: cannot start the signal thread\n");
    return KH_EXIT_USAGE;
  }
  pthread_detach(sig_thread);
  int code = body(o);
  kh_cli_mark_done();
  if (atomic_load(&kh_cli_interrupted)) {
    /* What the run printed after the signal is an effect of the interruption, not a verdict. */
    fflush(stdout);
    return KH_EXIT_INTERRUPTED;
  }
  return code;
}

static int kh_cli_selftest(const kh_cli_options *o) {
  return kh_cli_runtime(o, kh_cli_selftest_body);
}

static int kh_cli_run(const kh_cli_options *o) {
  return kh_cli_runtime(o, kh_cmd_run);
}

int kh_cli_main(int argc, char **argv) {
  kf_log_setup("konform", KF_LOG_WARN);
  kh_cli_options opts;
  kf_err err;
  kf_err_init(&err);
  if (kh_cli_parse(argc, argv, &opts, &err) != KF_OK) {
    /* The one line that says what is wrong, not a screen of usage around it. */
    fprintf(stderr, "konform: %s\n(konform help lists the commands and options)\n", err.message);
    return KH_EXIT_USAGE;
  }
  for (size_t i = 0; i < KH_CLI_COMMANDS_LEN; i++) {
    if (KH_CLI_COMMANDS[i].command == opts.command)
      return KH_CLI_COMMANDS[i].fn(&opts);
  }
  return KH_EXIT_USAGE;
}
