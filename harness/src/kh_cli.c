/*
 * kh_cli.c: konform's command line.
 *
 * Commands and options are tables: the options go through kf_opt (which
 * accepts "--opt value" and "--opt=value" and prints the usage from the same
 * rows), a command is a row and its function. The run command checks that the target and
 * its mocks answer before running anything, so a wrong URL is one clear message
 * and exit code 3 rather than a page of errored scenarios.
 */
#include "kh_cli.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/daemon.h"
#include "kf/log.h"
#include "kf/opt.h"
#include "kf/run_result.h"
#include "kf/str.h"
#include "kf/version.h"
#include "kh_catalogue.h"
#include "kh_cmd_mocks.h"
#include "kh_cmd_selftest.h"
#include "kh_http.h"
#include "kh_lint.h"
#include "kh_mocks.h"
#include "kh_parse.h"
#include "kh_profile.h"
#include "kh_runner.h"
#include "kh_stack.h"
#include "kh_suite.h"
#include "kr/report.h"

#define KH_CLI_PREFLIGHT_TIMEOUT_MS 5000
#define KH_CLI_PATH_MAX 4096

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

static kf_rc kh_cli_opt_tag(void *cfg, const char *value, kf_err *err) {
  kh_cli_options *o = cfg;
  return kh_cli_push(o->tags, &o->tags_len, value, "--tag", err);
}

/* The report writers, by the KIND of --report KIND=PATH. */
static const kh_cli_report_kind KH_CLI_REPORTS[] = {
    {"json", "JSON", kr_json_write},
    {"junit", "JUnit", kr_junit_write},
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
    return kf_err_set(err, KF_ERR_INVALID, "--report wants json=PATH or junit=PATH, not \"%s\"",
                      value);
  r->path = eq + 1;
  if (r->path[0] == '\0')
    return kf_err_set(err, KF_ERR_INVALID, "--report %s: the path is missing", value);
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
                    "write a report, KIND json or junit (repeatable)"),
    KF_OPT_FLAG_ROW("verbose", 'v', kh_cli_options, verbose,
                    "print the request and response of every step"),
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
    KF_OPT_FLAG_ROW("allow-partial", 0, kh_cli_options, allow_partial,
                    "exit 0 even when scenarios were not checked (skipped)"),
    KF_OPT_NUM_ROW("smtp-port", 0, UINT, kh_cli_options, smtp_port, 0, 65535, "N",
                   "mocks: the SMTP port of konform-mail (default: a free one)"),
    KF_OPT_NUM_ROW("mail-port", 0, UINT, kh_cli_options, mail_port, 0, 65535, "N",
                   "mocks: the HTTP port of konform-mail (default: a free one)"),
    KF_OPT_NUM_ROW("post-port", 0, UINT, kh_cli_options, post_port, 0, 65535, "N",
                   "mocks: the HTTP port of konform-post (default: a free one)"),
    KF_OPT_CALL_ROW("help", 'h', kh_cli_opt_help, NULL, "print this text"),
};

#define KH_CLI_OPTS_LEN (sizeof KH_CLI_OPTS / sizeof KH_CLI_OPTS[0])

static int kh_cli_list(const kh_cli_options *o);
static int kh_cli_lint(const kh_cli_options *o);
static int kh_cli_mocks(const kh_cli_options *o);
static int kh_cli_selftest(const kh_cli_options *o);
static const char *kh_cli_default_path(void);
static int kh_cli_runtime(const kh_cli_options *o, int (*body)(const kh_cli_options *o));
static int kh_cli_run_command(const kh_cli_options *o);
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
    {KH_CMD_RUN, "run", NULL, "  run [PATH...]    run the scenarios\n", kh_cli_run_command},
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
    {KH_CMD_VERSION, "version", "--version", "  version          print the version\n",
     kh_cli_version},
    {KH_CMD_HELP, "help", "--help", "  help             print this text\n", kh_cli_help},
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
                        KONFORM_DATADIR "/scenarios", kh_cli_default_path());
  if (rc == KF_OK)
    rc = kf_buf_append_str(&b, "\noptions:\n");
  if (rc == KF_OK)
    rc = kf_opt_usage(KH_CLI_OPTS, KH_CLI_OPTS_LEN, &b);
  if (rc == KF_OK)
    rc = kf_buf_append_str(
        &b, "\nexit codes: 0 conforms, 1 failures, 2 usage/parse/lint errors, 3 target "
            "unreachable\n");
  fputs(b.data != NULL ? b.data : "usage: konform <command> [options] [PATH...]\n", out);
  kf_buf_release(&b);
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
  return kf_opt_parse(KH_CLI_OPTS, KH_CLI_OPTS_LEN, argc, argv, 2, opts, opts->paths,
                      KH_CLI_MAX_LIST, &opts->paths_len, err);
}

/* ---- Paths and the catalogue. ---- */

static bool kh_cli_is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool kh_cli_is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Default scenario folder: ./scenarios, else the installed one. */
static const char *kh_cli_default_path(void) {
  if (kh_cli_is_dir("scenarios"))
    return "scenarios";
  return KONFORM_DATADIR "/scenarios";
}

/*
 * Find catalogue.json in the first path's folder or any parent, else in the
 * installed data. Writes the path into out; false when there is none.
 */
static bool kh_cli_find_catalogue(const char *first, char *out, size_t out_size) {
  /* An absolute form of first, built by hand: realpath is not in base POSIX. */
  char dir[KH_CLI_PATH_MAX];
  kf_rc rc = KF_OK;
  if (first[0] == '/') {
    rc = kf_str_copy(dir, sizeof(dir), first);
  } else {
    char cwd[KH_CLI_PATH_MAX];
    rc = getcwd(cwd, sizeof(cwd)) != NULL ? kf_str_format(dir, sizeof(dir), "%s/%s", cwd, first)
                                          : KF_ERR_IO;
  }
  if (rc == KF_OK) {
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
      dir[--len] = '\0';
    if (!kh_cli_is_dir(dir)) {
      char *slash = strrchr(dir, '/');
      if (slash != NULL)
        *slash = '\0';
    }
    for (;;) {
      if (kf_str_format(out, out_size, "%s/catalogue.json", dir) == KF_OK && kh_cli_is_file(out))
        return true;
      char *slash = strrchr(dir, '/');
      if (slash == NULL || slash == dir)
        break;
      *slash = '\0';
    }
    if (kf_str_copy(out, out_size, "/catalogue.json") == KF_OK && kh_cli_is_file(out))
      return true;
  }
  static const char *const installed[] = {KONFORM_DATADIR "/scenarios/catalogue.json",
                                          KONFORM_DATADIR "/catalogue.json"};
  for (size_t i = 0; i < sizeof(installed) / sizeof(installed[0]); i++)
    if (kh_cli_is_file(installed[i]) && kf_str_copy(out, out_size, installed[i]) == KF_OK)
      return true;
  return false;
}

/* Print a diagnostic to stderr in the documented file:line:col form. */
static void kh_cli_print_diag(const kh_diag *diag) {
  kf_buf b;
  kf_buf_init(&b, 64 * 1024);
  if (kh_diag_format(diag, &b) == KF_OK && b.data != NULL) {
    fputs(b.data, stderr);
    if (b.len > 0 && b.data[b.len - 1] != '\n')
      fputc('\n', stderr);
  } else {
    fprintf(stderr, "%s:%u:%u: error: %s\n", diag->file != NULL ? diag->file : "?", diag->line,
            diag->col, diag->message != NULL ? diag->message : "parse error");
  }
  kf_buf_release(&b);
}

/* Load the suite; on failure print the diagnostic. */
static int kh_cli_load_suite(const kh_cli_options *o, kh_suite *suite) {
  const char *def[1] = {kh_cli_default_path()};
  const char *const *paths = o->paths_len > 0 ? o->paths : def;
  size_t n = o->paths_len > 0 ? o->paths_len : 1;
  kh_diag diag;
  kh_diag_init(&diag);
  kf_rc rc = kh_suite_load(suite, paths, n, &diag);
  if (rc != KF_OK) {
    kh_cli_print_diag(&diag);
    kh_diag_release(&diag);
    return KH_EXIT_USAGE;
  }
  kh_diag_release(&diag);
  return KH_EXIT_OK;
}

/* Load the catalogue from --catalogue or the search; *loaded tells whether one was found. */
static int kh_cli_load_catalogue(const kh_cli_options *o, kh_catalogue *cat, bool *loaded,
                                 char *used, size_t used_size) {
  *loaded = false;
  const char *path = o->catalogue;
  if (path == NULL) {
    if (!kh_cli_find_catalogue(o->paths_len > 0 ? o->paths[0] : kh_cli_default_path(), used,
                               used_size))
      return KH_EXIT_OK;
    path = used;
  } else if (kf_str_copy(used, used_size, path) != KF_OK) {
    fprintf(stderr, "konform: catalogue path too long\n");
    return KH_EXIT_USAGE;
  }
  kf_err err;
  kf_err_init(&err);
  if (kh_catalogue_load(cat, path, &err) != KF_OK) {
    fprintf(stderr, "konform: %s: %s\n", path, err.message);
    return KH_EXIT_USAGE;
  }
  *loaded = true;
  return KH_EXIT_OK;
}

static void kh_cli_selection(const kh_cli_options *o, kh_selection *sel) {
  sel->covers = o->covers;
  sel->covers_len = o->covers_len;
  sel->tags = o->tags;
  sel->tags_len = o->tags_len;
  sel->name = o->name;
}

/* ---- list ---- */

static int kh_cli_list(const kh_cli_options *o) {
  kh_suite suite;
  kh_suite_init(&suite);
  int code = kh_cli_load_suite(o, &suite);
  if (code != KH_EXIT_OK) {
    kh_suite_release(&suite);
    return code;
  }
  kh_selection sel;
  kh_cli_selection(o, &sel);
  size_t shown = 0;
  for (size_t i = 0; i < suite.entries_len; i++) {
    const kh_suite_entry *e = &suite.entries[i];
    const kh_scenario *sc = e->scenario;
    if (!kh_selection_match(&sel, sc))
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
  fprintf(stderr, "%zu of %zu scenarios\n", shown, suite.entries_len);
  kh_suite_release(&suite);
  return KH_EXIT_OK;
}

/* ---- lint ---- */

/*
 * Lint the loaded suite and print every diagnostic. KH_EXIT_USAGE when the
 * lint found an error (or could not run), else KH_EXIT_OK; *errors and
 * *warnings receive the counts.
 */
static int kh_cli_lint_suite(const kh_suite *suite, const kh_catalogue *cat, size_t *errors,
                             size_t *warnings) {
  *errors = 0;
  *warnings = 0;
  kh_lint_report report;
  kh_lint_report_init(&report);
  int code = KH_EXIT_OK;
  kf_rc rc = kh_lint_suite(suite, cat, &report);
  if (rc != KF_OK) {
    fprintf(stderr, "konform: lint failed: %s\n", kf_rc_name(rc));
    code = KH_EXIT_USAGE;
  } else {
    for (size_t i = 0; i < report.len; i++)
      kh_cli_print_diag(&report.items[i]);
    *errors = report.errors;
    *warnings = report.warnings;
    if (report.errors > 0)
      code = KH_EXIT_USAGE;
  }
  kh_lint_report_release(&report);
  return code;
}

static int kh_cli_lint(const kh_cli_options *o) {
  kh_suite suite;
  kh_suite_init(&suite);
  int code = kh_cli_load_suite(o, &suite);
  if (code != KH_EXIT_OK) {
    kh_suite_release(&suite);
    return code;
  }
  kh_catalogue cat;
  kh_catalogue_init(&cat);
  bool have_cat = false;
  char cat_path[KH_CLI_PATH_MAX];
  code = kh_cli_load_catalogue(o, &cat, &have_cat, cat_path, sizeof(cat_path));
  if (code == KH_EXIT_OK) {
    if (!have_cat)
      fprintf(stderr, "konform: no catalogue.json found; requirement IDs are not checked\n");
    size_t errors = 0, warnings = 0;
    code = kh_cli_lint_suite(&suite, have_cat ? &cat : NULL, &errors, &warnings);
    fprintf(stderr, "%zu scenarios checked: %zu errors, %zu warnings\n", suite.entries_len, errors,
            warnings);
  }
  kh_catalogue_release(&cat);
  kh_suite_release(&suite);
  return code;
}

/* ---- run ---- */

/* The stack is reachable from the signal thread, which stops it on Ctrl-C. */
static kh_stack kh_cli_stack;

/*
 * Set by the signal thread before it stops the stack. Stopping the stack makes
 * the main thread's run end too (its requests fail, its start is woken), and
 * the main thread may get to exit first: it then exits 130 as well.
 */
static atomic_bool kh_cli_interrupted;

static void *kh_cli_signal_thread(void *arg) {
  (void)arg;
  int sig = kf_daemon_wait_for_signal();
  atomic_store(&kh_cli_interrupted, true);
  fprintf(stderr, "\nkonform: interrupted by signal %d; stopping\n", sig);
  kh_stack_stop(&kh_cli_stack);
  fflush(stdout);
  _exit(KH_EXIT_INTERRUPTED);
  return NULL;
}

typedef struct kh_cli_progress {
  kr_console_options console;
} kh_cli_progress;

static void kh_cli_on_scenario(const kf_scenario_result *sc, size_t done, size_t total, void *ctx) {
  kh_cli_progress *p = ctx;
  kr_console_scenario(stdout, &p->console, sc, done, total);
  fflush(stdout);
}

/* Check that the target and the mocks answer at all; prints which one does not. */
static int kh_cli_preflight(const kh_profile *profile) {
  kf_err err;
  kf_err_init(&err);
  kh_http_request req = {
      .method = "GET", .url = profile->base_url, .timeout_ms = KH_CLI_PREFLIGHT_TIMEOUT_MS};
  kh_http_response resp;
  kh_http_response_init(&resp);
  kf_rc rc = kh_http_perform(&req, &resp, &err);
  kh_http_response_release(&resp);
  if (rc == KF_ERR_NETWORK || rc == KF_ERR_TIMEOUT) {
    fprintf(stderr, "konform: the target is unreachable: %s\n", err.message);
    return KH_EXIT_UNREACHABLE;
  }
  if (rc != KF_OK) {
    fprintf(stderr, "konform: cannot send a request to the target: %s\n", err.message);
    return KH_EXIT_USAGE;
  }
  const char *apis[2][2] = {{"mail_api", profile->mail_api}, {"post_api", profile->post_api}};
  for (size_t i = 0; i < 2; i++) {
    if (apis[i][1] == NULL)
      continue;
    kf_err_init(&err);
    rc = kh_mocks_health(apis[i][1], KH_CLI_PREFLIGHT_TIMEOUT_MS, NULL, &err);
    if (rc != KF_OK) {
      fprintf(stderr, "konform: the %s mock (%s) is unreachable: %s\n", i == 0 ? "mail" : "post",
              apis[i][0], err.message);
      return KH_EXIT_UNREACHABLE;
    }
  }
  return KH_EXIT_OK;
}

static unsigned kh_cli_default_jobs(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 2)
    return 2;
  return n > 64 ? 64 : (unsigned)n;
}

static int kh_cli_write_reports(const kh_cli_options *o, const kf_run_result *run) {
  int code = KH_EXIT_OK;
  for (size_t i = 0; i < o->reports_len; i++) {
    kf_err err;
    kf_err_init(&err);
    const kh_cli_report *r = &o->reports[i];
    kf_rc rc = r->kind->write(run, r->path, &err);
    if (rc != KF_OK) {
      fprintf(stderr, "konform: cannot write the %s report %s: %s\n", r->kind->label, r->path,
              err.message);
      code = KH_EXIT_USAGE;
    } else {
      fprintf(stderr, "konform: wrote %s\n", r->path);
    }
  }
  return code;
}

/* Everything a run needs before it starts, loaded and checked. */
typedef struct kh_cli_run_state {
  kh_suite suite;
  kh_catalogue cat;
  bool have_cat;
  char cat_path[KH_CLI_PATH_MAX];
  kh_profile profile;
  kf_run_result run;
  uint64_t seed;
  uint64_t run_id;
  const char *label;
} kh_cli_run_state;

/* Load the suite and the catalogue, lint, and refuse an empty selection. */
static int kh_cli_prepare(const kh_cli_options *o, kh_cli_run_state *st) {
  int code = kh_cli_load_suite(o, &st->suite);
  if (code == KH_EXIT_OK)
    code = kh_cli_load_catalogue(o, &st->cat, &st->have_cat, st->cat_path, sizeof(st->cat_path));
  if (code == KH_EXIT_OK && !st->have_cat)
    fprintf(stderr, "konform: no catalogue.json found; the report lists no requirements\n");
  /* A scenario that would not pass `konform lint` is not run either; warnings only inform. */
  if (code == KH_EXIT_OK) {
    size_t errors = 0, warnings = 0;
    code = kh_cli_lint_suite(&st->suite, st->have_cat ? &st->cat : NULL, &errors, &warnings);
    if (code != KH_EXIT_OK)
      fprintf(stderr, "konform: the scenarios do not lint (%zu errors); nothing was run\n", errors);
  }
  if (code != KH_EXIT_OK)
    return code;
  /* Nothing selected is a mistake in the filters, not a conforming target. */
  kh_selection sel;
  kh_cli_selection(o, &sel);
  size_t selected = 0;
  for (size_t i = 0; i < st->suite.entries_len; i++)
    if (kh_selection_match(&sel, st->suite.entries[i].scenario))
      selected++;
  if (selected == 0) {
    fprintf(stderr, "konform: no scenario matches the filters (%zu scenarios loaded)\n",
            st->suite.entries_len);
    return KH_EXIT_USAGE;
  }
  return KH_EXIT_OK;
}

/* The seed and run id: given, or random. */
static void kh_cli_identity(const kh_cli_options *o, kh_cli_run_state *st) {
  st->seed = o->seed;
  st->run_id = o->run_id;
  if (!o->has_seed) {
    randombytes_buf(&st->seed, sizeof(st->seed));
    /* Small seeds are easier to retype; 53 bits stay exact in every JSON reader. */
    st->seed &= ((uint64_t)1 << 53) - 1;
  }
  if (!o->has_run_id)
    randombytes_buf(&st->run_id, sizeof(st->run_id));
}

/* The target: the profile of --target, or the embedded stack; then the catalogue's defaults. */
static int kh_cli_target(const kh_cli_options *o, kh_cli_run_state *st) {
  kf_err err;
  kf_err_init(&err);
  st->label = "embedded reference stack";
  if (o->target != NULL) {
    st->label = o->target;
    if (kh_profile_load(&st->profile, o->target, &err) != KF_OK) {
      fprintf(stderr, "konform: %s: %s\n", o->target, err.message);
      return KH_EXIT_USAGE;
    }
  } else {
    fprintf(stderr, "konform: starting the embedded reference stack\n");
    kh_stack_options so;
    kh_stack_options_init(&so);
    so.keep_state = o->keep_state;
    if (kh_stack_start(&kh_cli_stack, &so, &err) != KF_OK) {
      fprintf(stderr, "konform: cannot start the embedded reference stack: %s\n", err.message);
      return KH_EXIT_UNREACHABLE;
    }
    if (kh_stack_profile(&kh_cli_stack, &st->profile, &err) != KF_OK) {
      fprintf(stderr, "konform: %s\n", err.message);
      return KH_EXIT_USAGE;
    }
    if (o->keep_state)
      fprintf(stderr, "konform: the stack keeps its state in %s\n", kh_cli_stack.dir);
  }
  if (st->have_cat) {
    kf_buf filled;
    kf_buf_init(&filled, 4096);
    kf_rc frc = kh_catalogue_fill_defaults(&st->cat, &st->profile, &filled, &err);
    if (frc != KF_OK)
      fprintf(stderr, "konform: %s: %s\n", o->target != NULL ? o->target : "profile", err.message);
    else if (filled.len > 0 && o->target != NULL)
      fprintf(stderr,
              "konform: the profile states no value for these [defaults]; using the "
              "catalogue's: %s\n",
              filled.data);
    kf_buf_release(&filled);
    if (frc != KF_OK)
      return KH_EXIT_USAGE;
  }
  return kh_cli_preflight(&st->profile);
}

/* Run the scenarios, print the summary and write the reports. */
static int kh_cli_execute(const kh_cli_options *o, kh_cli_run_state *st) {
  kf_err err;
  kf_err_init(&err);
  kh_selection sel;
  kh_cli_selection(o, &sel);
  kh_cli_progress progress = {
      .console = {.color = !o->no_color && kr_console_want_color(1), .verbose = o->verbose}};
  unsigned jobs = o->jobs > 0 ? o->jobs : kh_cli_default_jobs();
  unsigned long long seed = st->seed, run_id = st->run_id;
  printf("konform %s: target %s (%s)\n", KONFORM_VERSION, st->label, st->profile.base_url);
  printf("seed %llu, run id %016llx (repeat with --seed %llu --run-id %016llx), %u jobs\n", seed,
         run_id, seed, run_id, jobs);
  fflush(stdout);
  kh_runner_config cfg = {.suite = &st->suite,
                          .catalogue = st->have_cat ? &st->cat : NULL,
                          .profile = &st->profile,
                          .selection = &sel,
                          .target_label = st->label,
                          .seed = st->seed,
                          .run_id = st->run_id,
                          .jobs = jobs,
                          .progress = kh_cli_on_scenario,
                          .progress_ctx = &progress};
  kf_rc rc = kh_runner_run(&cfg, &st->run, &err);
  int code = KH_EXIT_OK;
  if (rc == KF_ERR_NETWORK || rc == KF_ERR_TIMEOUT || rc == KF_ERR_STATE) {
    fprintf(stderr, "konform: %s\n", err.message);
    code = KH_EXIT_UNREACHABLE;
  } else if (rc != KF_OK) {
    fprintf(stderr, "konform: the run could not be carried out: %s\n", err.message);
    code = KH_EXIT_FAILURES;
  } else {
    kr_console_summary(stdout, &progress.console, &st->run);
    fflush(stdout);
    kf_run_counts counts;
    kf_run_result_counts(&st->run, &counts);
    if (counts.failed > 0 || counts.errors > 0)
      code = KH_EXIT_FAILURES;
    else if (counts.skipped > 0 && !o->allow_partial)
      code = KH_EXIT_PARTIAL;
    int rcode = kh_cli_write_reports(o, &st->run);
    if (rcode != KH_EXIT_OK)
      code = rcode;
  }
  printf("seed %llu, run id %016llx\n", seed, run_id);
  return code;
}

static int kh_cli_run(const kh_cli_options *o) {
  kh_cli_run_state st;
  memset(&st, 0, sizeof st);
  kh_suite_init(&st.suite);
  kh_catalogue_init(&st.cat);
  kh_profile_init(&st.profile);
  kf_run_result_init(&st.run);
  int code = kh_cli_prepare(o, &st);
  kh_cli_identity(o, &st);
  if (code == KH_EXIT_OK)
    code = kh_cli_target(o, &st);
  if (code == KH_EXIT_OK)
    code = kh_cli_execute(o, &st);
  kh_stack_stop(&kh_cli_stack);
  kf_err err;
  kf_err_init(&err);
  if (o->target == NULL && kh_stack_exit_status(&kh_cli_stack, &err) != KF_OK) {
    fprintf(stderr, "konform: the embedded reference stack did not shut down cleanly:\n%s",
            err.message);
    if (code == KH_EXIT_OK)
      code = KH_EXIT_FAILURES;
  }
  kf_run_result_release(&st.run);
  kh_profile_release(&st.profile);
  kh_catalogue_release(&st.cat);
  kh_suite_release(&st.suite);
  return code;
}

/* mocks: the catalogue, if one is found, gives the profile skeleton its [defaults]. */
static int kh_cli_mocks(const kh_cli_options *o) {
  kh_catalogue cat;
  kh_catalogue_init(&cat);
  bool have_cat = false;
  char cat_path[KH_CLI_PATH_MAX];
  int code = kh_cli_load_catalogue(o, &cat, &have_cat, cat_path, sizeof(cat_path));
  if (code == KH_EXIT_OK)
    code = kh_cmd_mocks(o, have_cat ? &cat : NULL);
  kh_catalogue_release(&cat);
  return code;
}

/* selftest: the suite and the catalogue as for run, then the faults. */
static int kh_cli_selftest_body(const kh_cli_options *o) {
  kh_cli_run_state st;
  memset(&st, 0, sizeof st);
  kh_suite_init(&st.suite);
  kh_catalogue_init(&st.cat);
  kh_profile_init(&st.profile);
  kf_run_result_init(&st.run);
  int code = kh_cli_prepare(o, &st);
  if (code == KH_EXIT_OK)
    code = kh_cmd_selftest(o, &st.suite, st.have_cat ? &st.cat : NULL);
  kf_run_result_release(&st.run);
  kh_profile_release(&st.profile);
  kh_catalogue_release(&st.cat);
  kh_suite_release(&st.suite);
  return code;
}

static int kh_cli_selftest(const kh_cli_options *o) {
  return kh_cli_runtime(o, kh_cli_selftest_body);
}

static int kh_cli_run_command(const kh_cli_options *o) {
  return kh_cli_runtime(o, kh_cli_run);
}

static int kh_cli_help(const kh_cli_options *o) {
  (void)o;
  kh_cli_print_usage(stdout);
  return KH_EXIT_OK;
}

static int kh_cli_version(const kh_cli_options *o) {
  (void)o;
  printf("konform %s\n", KONFORM_VERSION);
  return KH_EXIT_OK;
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
  kh_stack_init(&kh_cli_stack);
  pthread_t sig_thread;
  if (pthread_create(&sig_thread, NULL, kh_cli_signal_thread, NULL) != 0) {
    fprintf(stderr, "konform: cannot start the signal thread\n");
    return KH_EXIT_USAGE;
  }
  pthread_detach(sig_thread);
  int code = body(o);
  /* The signal thread may still stop the (already stopped) stack; release under its lock is safe.
   */
  kh_stack_stop(&kh_cli_stack);
  if (atomic_load(&kh_cli_interrupted)) {
    /* What the run printed after the signal is an effect of the interruption, not a verdict. */
    fflush(stdout);
    return KH_EXIT_INTERRUPTED;
  }
  return code;
}

int kh_cli_main(int argc, char **argv) {
  kf_log_setup("konform", KF_LOG_WARN);
  kh_cli_options opts;
  kf_err err;
  kf_err_init(&err);
  if (kh_cli_parse(argc, argv, &opts, &err) != KF_OK) {
    fprintf(stderr, "konform: %s\n\n", err.message);
    kh_cli_print_usage(stderr);
    return KH_EXIT_USAGE;
  }
  for (size_t i = 0; i < KH_CLI_COMMANDS_LEN; i++) {
    if (KH_CLI_COMMANDS[i].command == opts.command)
      return KH_CLI_COMMANDS[i].fn(&opts);
  }
  return KH_EXIT_USAGE;
}
