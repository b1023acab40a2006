/*
 * kh_cmd_suite.c: what the commands that read scenarios share: where the
 * scenarios and the catalogue are when none is named, loading both with a
 * diagnostic in the documented file:line:col form, the selection from the
 * filters, and the lint that run, selftest and lint all apply.
 */
#include "kh_cmd_suite.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kf/buf.h"
#include "kf/str.h"
#include "kh_lint.h"

static bool kh_cmd_suite_is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool kh_cmd_suite_is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Default scenario folder: ./scenarios, else the installed one. */
const char *kh_cmd_suite_default_path(void) {
  if (kh_cmd_suite_is_dir("scenarios"))
    return "scenarios";
  return KONFORM_DATADIR "/scenarios";
}

/*
 * Find catalogue.json in the first path's folder or any parent, else in the
 * installed data. Writes the path into out; false when there is none.
 */
bool kh_cmd_suite_find_catalogue(const char *first, char *out, size_t out_size) {
  /* An absolute form of first, built by hand: realpath is not in base POSIX. */
  char dir[KH_CMD_SUITE_PATH_MAX];
  kf_rc rc = KF_OK;
  if (first[0] == '/') {
    rc = kf_str_copy(dir, sizeof(dir), first);
  } else {
    char cwd[KH_CMD_SUITE_PATH_MAX];
    rc = getcwd(cwd, sizeof(cwd)) != NULL ? kf_str_format(dir, sizeof(dir), "%s/%s", cwd, first)
                                          : KF_ERR_IO;
  }
  if (rc == KF_OK) {
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
      dir[--len] = '\0';
    if (!kh_cmd_suite_is_dir(dir)) {
      char *slash = strrchr(dir, '/');
      if (slash != NULL)
        *slash = '\0';
    }
    for (;;) {
      if (kf_str_format(out, out_size, "%s/catalogue.json", dir) == KF_OK &&
          kh_cmd_suite_is_file(out))
        return true;
      char *slash = strrchr(dir, '/');
      if (slash == NULL || slash == dir)
        break;
      *slash = '\0';
    }
    if (kf_str_copy(out, out_size, "/catalogue.json") == KF_OK && kh_cmd_suite_is_file(out))
      return true;
  }
  static const char *const installed[] = {KONFORM_DATADIR "/scenarios/catalogue.json",
                                          KONFORM_DATADIR "/catalogue.json"};
  for (size_t i = 0; i < sizeof(installed) / sizeof(installed[0]); i++)
    if (kh_cmd_suite_is_file(installed[i]) && kf_str_copy(out, out_size, installed[i]) == KF_OK)
      return true;
  return false;
}

/* Print a diagnostic to stderr in the documented file:line:col form. */
static void kh_cmd_suite_print_diag(const kh_diag *diag) {
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

int kh_cmd_suite_load_scenarios(const kh_cli_options *o, kh_cmd_suite *s) {
  const char *def[1] = {kh_cmd_suite_default_path()};
  const char *const *paths = o->paths_len > 0 ? o->paths : def;
  size_t n = o->paths_len > 0 ? o->paths_len : 1;
  kh_diag diag;
  kh_diag_init(&diag);
  kf_rc rc = kh_suite_load(&s->suite, paths, n, &diag);
  if (rc != KF_OK) {
    kh_cmd_suite_print_diag(&diag);
    kh_diag_release(&diag);
    return KH_EXIT_USAGE;
  }
  kh_diag_release(&diag);
  return KH_EXIT_OK;
}

int kh_cmd_suite_load_catalogue(const kh_cli_options *o, kh_cmd_suite *s) {
  s->have_cat = false;
  char *used = s->cat_path;
  size_t used_size = sizeof s->cat_path;
  const char *path = o->catalogue;
  if (path == NULL) {
    if (!kh_cmd_suite_find_catalogue(o->paths_len > 0 ? o->paths[0] : kh_cmd_suite_default_path(),
                                     used, used_size))
      return KH_EXIT_OK;
    path = used;
  } else if (kf_str_copy(used, used_size, path) != KF_OK) {
    fprintf(stderr, "konform: catalogue path too long\n");
    return KH_EXIT_USAGE;
  }
  kf_err err;
  kf_err_init(&err);
  if (kh_catalogue_load(&s->cat, path, &err) != KF_OK) {
    /* The catalogue's messages name the file already. */
    fprintf(stderr, "konform: %s\n", err.message);
    return KH_EXIT_USAGE;
  }
  s->have_cat = true;
  return KH_EXIT_OK;
}

void kh_cmd_suite_selection(const kh_cli_options *o, kh_selection *sel) {
  sel->covers = o->covers;
  sel->covers_len = o->covers_len;
  sel->tags = o->tags;
  sel->tags_len = o->tags_len;
  sel->name = o->name;
}

/*
 * Lint the loaded suite and print every diagnostic. KH_EXIT_USAGE when the
 * lint found an error (or could not run), else KH_EXIT_OK; *errors and
 * *warnings receive the counts.
 */
int kh_cmd_suite_lint(const kh_cmd_suite *s, size_t *errors, size_t *warnings) {
  *errors = 0;
  *warnings = 0;
  kh_lint_report report;
  kh_lint_report_init(&report);
  int code = KH_EXIT_OK;
  kf_rc rc = kh_lint_suite(&s->suite, s->have_cat ? &s->cat : NULL, &report);
  if (rc != KF_OK) {
    fprintf(stderr, "konform: lint failed: %s\n", kf_rc_name(rc));
    code = KH_EXIT_USAGE;
  } else {
    for (size_t i = 0; i < report.len; i++)
      kh_cmd_suite_print_diag(&report.items[i]);
    *errors = report.errors;
    *warnings = report.warnings;
    if (report.errors > 0)
      code = KH_EXIT_USAGE;
  }
  kh_lint_report_release(&report);
  return code;
}

int kh_cmd_suite_prepare(const kh_cli_options *o, kh_cmd_suite *st) {
  int code = kh_cmd_suite_load_scenarios(o, st);
  if (code == KH_EXIT_OK)
    code = kh_cmd_suite_load_catalogue(o, st);
  if (code == KH_EXIT_OK && !st->have_cat)
    fprintf(stderr, "konform: no catalogue.json found; the report lists no requirements\n");
  /* A scenario that would not pass `konform lint` is not run either; warnings only inform. */
  if (code == KH_EXIT_OK) {
    size_t errors = 0, warnings = 0;
    code = kh_cmd_suite_lint(st, &errors, &warnings);
    if (code != KH_EXIT_OK)
      fprintf(stderr, "konform: the scenarios do not lint (%zu errors); nothing was run\n", errors);
  }
  if (code != KH_EXIT_OK)
    return code;
  /* Nothing selected is a mistake in the filters, not a conforming target. */
  kh_selection sel;
  kh_cmd_suite_selection(o, &sel);
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

void kh_cmd_suite_init(kh_cmd_suite *s) {
  memset(s, 0, sizeof *s);
  kh_suite_init(&s->suite);
  kh_catalogue_init(&s->cat);
}

void kh_cmd_suite_release(kh_cmd_suite *s) {
  kh_catalogue_release(&s->cat);
  kh_suite_release(&s->suite);
}

int kh_cmd_suite_args(const kh_cli_options *o, const char *usage, kh_cli_options *rest) {
  if (o->paths_len == 0) {
    fprintf(stderr, "konform: %s\n", usage);
    return KH_EXIT_USAGE;
  }
  *rest = *o;
  memmove(rest->paths, rest->paths + 1, (rest->paths_len - 1) * sizeof rest->paths[0]);
  rest->paths_len--;
  return KH_EXIT_OK;
}
