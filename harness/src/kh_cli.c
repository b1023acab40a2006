/*
 * kh_cli.c: konform's command line.
 *
 * Options are parsed by hand (getopt_long is not POSIX) and accept both
 * "--opt value" and "--opt=value". The run command checks that the target and
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
#include "kf/run_result.h"
#include "kf/str.h"
#include "kf/version.h"
#include "kh_catalogue.h"
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

static const char kh_cli_usage[] =
    "usage: konform <command> [options] [PATH...]\n"
    "\n"
    "commands:\n"
    "  run [PATH...]    run the scenarios (default path: ./scenarios)\n"
    "  list [PATH...]   list the scenarios: file:line, name, covers, tags\n"
    "  lint [PATH...]   check the scenarios against the catalogue\n"
    "  version          print the version\n"
    "  help             print this text\n"
    "\n"
    "options:\n"
    "  --target FILE        target profile (docs/targets.md); default: start the\n"
    "                       embedded reference stack\n"
    "  --jobs N             scenarios run in parallel (default: online CPUs, >= 2)\n"
    "  --covers ID          only scenarios covering ID (repeatable)\n"
    "  --tag T              only scenarios tagged T (repeatable)\n"
    "  --name TEXT          only scenarios whose name contains TEXT\n"
    "  --report json=PATH   write the JSON report (repeatable)\n"
    "  --report junit=PATH  write the JUnit XML report (repeatable)\n"
    "  -v, --verbose        print the request and response of every step\n"
    "  --seed N             random seed (default random; always printed)\n"
    "  --run-id HEX         run identity for generated accounts (default random)\n"
    "  --catalogue FILE     requirement catalogue (default: catalogue.json in the\n"
    "                       first scenario folder or its parents)\n"
    "  --keep-state         keep the embedded stack's temporary folder\n"
    "  --no-color           no ANSI colours\n"
    "\n"
    "exit codes: 0 conforms, 1 failures, 2 usage/parse/lint errors, 3 target unreachable\n";

/* ---- Option parsing. ---- */

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

/* Options that take a value; the rest are flags. */
static bool kh_cli_takes_value(const char *name) {
  static const char *const with_value[] = {"--target", "--jobs", "--covers", "--tag",      "--name",
                                           "--report", "--seed", "--run-id", "--catalogue"};
  for (size_t i = 0; i < sizeof(with_value) / sizeof(with_value[0]); i++)
    if (strcmp(name, with_value[i]) == 0)
      return true;
  return false;
}

static kf_rc kh_cli_option(kh_cli_options *o, const char *name, const char *value, kf_err *err) {
  if (strcmp(name, "--target") == 0) {
    o->target = value;
  } else if (strcmp(name, "--jobs") == 0) {
    long n = 0;
    if (kf_str_to_long(value, 1, 256, &n) != KF_OK)
      return kf_err_set(err, KF_ERR_INVALID, "--jobs wants a number from 1 to 256, not \"%s\"",
                        value);
    o->jobs = (unsigned)n;
  } else if (strcmp(name, "--covers") == 0) {
    return kh_cli_push(o->covers, &o->covers_len, value, name, err);
  } else if (strcmp(name, "--tag") == 0) {
    return kh_cli_push(o->tags, &o->tags_len, value, name, err);
  } else if (strcmp(name, "--name") == 0) {
    o->name = value;
  } else if (strcmp(name, "--report") == 0) {
    if (o->reports_len >= KH_CLI_MAX_LIST)
      return kf_err_set(err, KF_ERR_INVALID, "too many --report options");
    kh_cli_report *r = &o->reports[o->reports_len];
    if (kf_str_starts_with(value, "json="))
      r->junit = false;
    else if (kf_str_starts_with(value, "junit="))
      r->junit = true;
    else
      return kf_err_set(err, KF_ERR_INVALID, "--report wants json=PATH or junit=PATH, not \"%s\"",
                        value);
    r->path = kf_str_after(value, '=');
    if (r->path == NULL || r->path[0] == '\0')
      return kf_err_set(err, KF_ERR_INVALID, "--report %s: the path is missing", value);
    o->reports_len++;
  } else if (strcmp(name, "--seed") == 0) {
    if (kh_cli_parse_u64(value, 10, &o->seed) != KF_OK)
      return kf_err_set(err, KF_ERR_INVALID, "--seed wants a decimal number, not \"%s\"", value);
    o->has_seed = true;
  } else if (strcmp(name, "--run-id") == 0) {
    if (kh_cli_parse_u64(value, 16, &o->run_id) != KF_OK)
      return kf_err_set(err, KF_ERR_INVALID, "--run-id wants up to 16 hex digits, not \"%s\"",
                        value);
    o->has_run_id = true;
  } else if (strcmp(name, "--catalogue") == 0) {
    o->catalogue = value;
  } else if (strcmp(name, "--verbose") == 0 || strcmp(name, "-v") == 0) {
    o->verbose = true;
  } else if (strcmp(name, "--keep-state") == 0) {
    o->keep_state = true;
  } else if (strcmp(name, "--no-color") == 0) {
    o->no_color = true;
  } else if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
    o->command = KH_CMD_HELP;
  } else {
    return kf_err_set(err, KF_ERR_INVALID, "unknown option %s", name);
  }
  return KF_OK;
}

kf_rc kh_cli_parse(int argc, char *const *argv, kh_cli_options *opts, kf_err *err) {
  assert(opts != NULL);
  memset(opts, 0, sizeof(*opts));
  if (argc < 2)
    return kf_err_set(err, KF_ERR_INVALID, "no command given");
  const char *cmd = argv[1];
  if (strcmp(cmd, "run") == 0)
    opts->command = KH_CMD_RUN;
  else if (strcmp(cmd, "list") == 0)
    opts->command = KH_CMD_LIST;
  else if (strcmp(cmd, "lint") == 0)
    opts->command = KH_CMD_LINT;
  else if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
    opts->command = KH_CMD_VERSION;
  else if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
    opts->command = KH_CMD_HELP;
  else
    return kf_err_set(err, KF_ERR_INVALID, "unknown command \"%s\"", cmd);
  bool only_paths = false;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (only_paths || a[0] != '-' || strcmp(a, "-") == 0) {
      kf_rc rc = kh_cli_push(opts->paths, &opts->paths_len, a, "PATH", err);
      if (rc != KF_OK)
        return rc;
      continue;
    }
    if (strcmp(a, "--") == 0) {
      only_paths = true;
      continue;
    }
    char name[64];
    const char *value = NULL;
    const char *eq = strchr(a, '=');
    if (eq != NULL && kf_str_starts_with(a, "--")) {
      size_t n = (size_t)(eq - a);
      if (n >= sizeof(name))
        return kf_err_set(err, KF_ERR_INVALID, "unknown option %.60s", a);
      memcpy(name, a, n);
      name[n] = '\0';
      value = eq + 1;
    } else if (kf_str_copy(name, sizeof(name), a) != KF_OK) {
      return kf_err_set(err, KF_ERR_INVALID, "unknown option %.60s", a);
    }
    if (kh_cli_takes_value(name)) {
      if (value == NULL) {
        if (i + 1 >= argc)
          return kf_err_set(err, KF_ERR_INVALID, "%s needs a value", name);
        value = argv[++i];
      }
    } else if (value != NULL) {
      return kf_err_set(err, KF_ERR_INVALID, "%s takes no value", name);
    }
    kf_rc rc = kh_cli_option(opts, name, value, err);
    if (rc != KF_OK)
      return rc;
  }
  return KF_OK;
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
    kf_rc rc = r->junit ? kr_junit_write(run, r->path, &err) : kr_json_write(run, r->path, &err);
    if (rc != KF_OK) {
      fprintf(stderr, "konform: cannot write the %s report %s: %s\n", r->junit ? "JUnit" : "JSON",
              r->path, err.message);
      code = KH_EXIT_USAGE;
    } else {
      fprintf(stderr, "konform: wrote %s\n", r->path);
    }
  }
  return code;
}

static int kh_cli_run(const kh_cli_options *o) {
  kh_suite suite;
  kh_suite_init(&suite);
  kh_catalogue cat;
  kh_catalogue_init(&cat);
  kh_profile profile;
  kh_profile_init(&profile);
  kf_run_result run;
  kf_run_result_init(&run);
  bool have_cat = false;
  char cat_path[KH_CLI_PATH_MAX];
  kf_err err;
  kf_err_init(&err);

  int code = kh_cli_load_suite(o, &suite);
  if (code == KH_EXIT_OK)
    code = kh_cli_load_catalogue(o, &cat, &have_cat, cat_path, sizeof(cat_path));
  if (code == KH_EXIT_OK && !have_cat)
    fprintf(stderr, "konform: no catalogue.json found; the report lists no requirements\n");
  /* A scenario that would not pass `konform lint` is not run either; warnings only inform. */
  if (code == KH_EXIT_OK) {
    size_t errors = 0, warnings = 0;
    code = kh_cli_lint_suite(&suite, have_cat ? &cat : NULL, &errors, &warnings);
    if (code != KH_EXIT_OK)
      fprintf(stderr, "konform: the scenarios do not lint (%zu errors); nothing was run\n", errors);
  }
  /* Nothing selected is a mistake in the filters, not a conforming target. */
  if (code == KH_EXIT_OK) {
    kh_selection sel;
    kh_cli_selection(o, &sel);
    size_t selected = 0;
    for (size_t i = 0; i < suite.entries_len; i++)
      if (kh_selection_match(&sel, suite.entries[i].scenario))
        selected++;
    if (selected == 0) {
      fprintf(stderr, "konform: no scenario matches the filters (%zu scenarios loaded)\n",
              suite.entries_len);
      code = KH_EXIT_USAGE;
    }
  }

  uint64_t seed = o->seed, run_id = o->run_id;
  if (!o->has_seed)
    randombytes_buf(&seed, sizeof(seed));
  if (!o->has_run_id)
    randombytes_buf(&run_id, sizeof(run_id));
  /* Small seeds are easier to retype; 53 bits stay exact in every JSON reader. */
  if (!o->has_seed)
    seed &= ((uint64_t)1 << 53) - 1;

  const char *label = "embedded reference stack";
  if (code == KH_EXIT_OK) {
    if (o->target != NULL) {
      label = o->target;
      if (kh_profile_load(&profile, o->target, &err) != KF_OK) {
        fprintf(stderr, "konform: %s: %s\n", o->target, err.message);
        code = KH_EXIT_USAGE;
      }
    } else {
      fprintf(stderr, "konform: starting the embedded reference stack\n");
      if (kh_stack_start(&kh_cli_stack, o->keep_state, &err) != KF_OK) {
        fprintf(stderr, "konform: cannot start the embedded reference stack: %s\n", err.message);
        code = KH_EXIT_UNREACHABLE;
      } else if (kh_stack_profile(&kh_cli_stack, &profile, &err) != KF_OK) {
        fprintf(stderr, "konform: %s\n", err.message);
        code = KH_EXIT_USAGE;
      } else if (o->keep_state) {
        fprintf(stderr, "konform: the stack keeps its state in %s\n", kh_cli_stack.dir);
      }
    }
  }
  if (code == KH_EXIT_OK && have_cat) {
    size_t filled = 0;
    if (kh_catalogue_fill_defaults(&cat, &profile, &filled, &err) != KF_OK) {
      fprintf(stderr, "konform: %s\n", err.message);
      code = KH_EXIT_USAGE;
    } else if (filled > 0 && o->target != NULL) {
      fprintf(
          stderr,
          "konform: the profile states no value for %zu [default] key(s); using the catalogue's\n",
          filled);
    }
  }
  if (code == KH_EXIT_OK)
    code = kh_cli_preflight(&profile);

  if (code == KH_EXIT_OK) {
    kh_selection sel;
    kh_cli_selection(o, &sel);
    kh_cli_progress progress = {
        .console = {.color = !o->no_color && kr_console_want_color(1), .verbose = o->verbose}};
    unsigned jobs = o->jobs > 0 ? o->jobs : kh_cli_default_jobs();
    printf("konform %s: target %s (%s)\n", KONFORM_VERSION, label, profile.base_url);
    printf("seed %llu, run id %016llx (repeat with --seed %llu --run-id %016llx), %u jobs\n",
           (unsigned long long)seed, (unsigned long long)run_id, (unsigned long long)seed,
           (unsigned long long)run_id, jobs);
    fflush(stdout);
    kh_runner_config cfg = {.suite = &suite,
                            .catalogue = have_cat ? &cat : NULL,
                            .profile = &profile,
                            .selection = &sel,
                            .target_label = label,
                            .seed = seed,
                            .run_id = run_id,
                            .jobs = jobs,
                            .progress = kh_cli_on_scenario,
                            .progress_ctx = &progress};
    kf_rc rc = kh_runner_run(&cfg, &run, &err);
    if (rc == KF_ERR_NETWORK || rc == KF_ERR_TIMEOUT || rc == KF_ERR_STATE) {
      fprintf(stderr, "konform: %s\n", err.message);
      code = KH_EXIT_UNREACHABLE;
    } else if (rc != KF_OK) {
      fprintf(stderr, "konform: the run could not be carried out: %s\n", err.message);
      code = KH_EXIT_FAILURES;
    } else {
      kr_console_summary(stdout, &progress.console, &run);
      fflush(stdout);
      kf_run_counts counts;
      kf_run_result_counts(&run, &counts);
      if (counts.failed > 0 || counts.errors > 0)
        code = KH_EXIT_FAILURES;
      int rcode = kh_cli_write_reports(o, &run);
      if (rcode != KH_EXIT_OK)
        code = rcode;
    }
    printf("seed %llu, run id %016llx\n", (unsigned long long)seed, (unsigned long long)run_id);
  }

  kh_stack_stop(&kh_cli_stack);
  if (o->target == NULL && kh_stack_exit_status(&kh_cli_stack, &err) != KF_OK) {
    fprintf(stderr, "konform: the embedded reference stack did not shut down cleanly:\n%s",
            err.message);
    if (code == KH_EXIT_OK)
      code = KH_EXIT_FAILURES;
  }
  kf_run_result_release(&run);
  kh_profile_release(&profile);
  kh_catalogue_release(&cat);
  kh_suite_release(&suite);
  return code;
}

int kh_cli_main(int argc, char **argv) {
  kf_log_setup("konform", KF_LOG_WARN);
  kh_cli_options opts;
  kf_err err;
  kf_err_init(&err);
  if (kh_cli_parse(argc, argv, &opts, &err) != KF_OK) {
    fprintf(stderr, "konform: %s\n\n%s", err.message, kh_cli_usage);
    return KH_EXIT_USAGE;
  }
  switch (opts.command) {
  case KH_CMD_HELP:
    fputs(kh_cli_usage, stdout);
    return KH_EXIT_OK;
  case KH_CMD_VERSION:
    printf("konform %s\n", KONFORM_VERSION);
    return KH_EXIT_OK;
  case KH_CMD_LIST:
    return kh_cli_list(&opts);
  case KH_CMD_LINT:
    return kh_cli_lint(&opts);
  case KH_CMD_RUN:
    break;
  }

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
  int code = kh_cli_run(&opts);
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
