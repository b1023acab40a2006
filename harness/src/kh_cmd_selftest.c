/*
 * kh_cmd_selftest.c: `konform selftest` (see kh_cmd_selftest.h).
 */
#include "kh_cmd_selftest.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/str.h"
#include "kf/utf8.h"
#include "kh_cmd_suite.h"
#include "kh_runner.h"
#include "kh_stack.h"

#define KH_SELFTEST_MAX_FAULTS 256
#define KH_SELFTEST_MAX_IDS 16
#define KH_SELFTEST_LIST_MAX (256u * 1024u)
/* The table's columns: fault names up to 34 characters, up to three IDs, 100 in all. */
#define KH_SELFTEST_NAME_COLS 34
#define KH_SELFTEST_IDS_COLS 17
#define KH_SELFTEST_LINE_COLS 100

typedef struct kh_fault {
  char *name;
  char *ids[KH_SELFTEST_MAX_IDS];
  size_t ids_len;
  char *what;
} kh_fault;

typedef struct kh_fault_list {
  kh_fault items[KH_SELFTEST_MAX_FAULTS];
  size_t len;
  char *text; /* Owned: the listing the items point into. */
} kh_fault_list;

/* Split one "name<TAB>IDS<TAB>description" line (in place) into a fault. */
static kf_rc kh_selftest_parse_line(char *line, kh_fault *f, kf_err *err) {
  char *tab1 = strchr(line, '\t');
  char *tab2 = tab1 != NULL ? strchr(tab1 + 1, '\t') : NULL;
  if (tab2 == NULL)
    return kf_err_set(err, KF_ERR_PARSE, "bad fault line \"%.100s\"", line);
  *tab1 = '\0';
  *tab2 = '\0';
  f->name = line;
  f->what = tab2 + 1;
  for (char *id = tab1 + 1; *id != '\0' && f->ids_len < KH_SELFTEST_MAX_IDS;) {
    while (*id == ' ' || *id == ',')
      *id++ = '\0';
    if (*id == '\0')
      break;
    f->ids[f->ids_len++] = id;
    while (*id != '\0' && *id != ' ' && *id != ',')
      id++;
  }
  return f->ids_len > 0 ? KF_OK : kf_err_set(err, KF_ERR_PARSE, "fault %s breaks nothing", line);
}

static kf_rc kh_selftest_faults(kh_fault_list *list, kf_err *err) {
  kf_buf b;
  kf_buf_init(&b, KH_SELFTEST_LIST_MAX);
  kf_rc rc = kh_stack_server_listing("--list-faults", &b, err);
  list->text = rc == KF_OK ? kf_buf_detach(&b, NULL) : NULL;
  kf_buf_release(&b);
  if (rc == KF_OK && list->text == NULL)
    rc = kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  for (char *line = list->text; rc == KF_OK && line != NULL && *line != '\0';) {
    char *nl = strchr(line, '\n');
    if (nl != NULL)
      *nl = '\0';
    if (list->len >= KH_SELFTEST_MAX_FAULTS)
      rc = kf_err_set(err, KF_ERR_LIMIT, "more than %d faults", KH_SELFTEST_MAX_FAULTS);
    else if (line[0] != '\0')
      rc = kh_selftest_parse_line(line, &list->items[list->len++], err);
    line = nl != NULL ? nl + 1 : NULL;
  }
  return rc;
}

/* What one fault's run showed. */
typedef struct kh_selftest_outcome {
  size_t covering, caught, errors;
  char first[160]; /* The first scenario that caught it. */
} kh_selftest_outcome;

static void kh_selftest_count(const kf_run_result *run, const kh_fault *f,
                              kh_selftest_outcome *out) {
  for (size_t i = 0; i < run->scenarios_len; i++) {
    const kf_scenario_result *sc = &run->scenarios[i];
    bool covers = false;
    for (size_t k = 0; k < f->ids_len && !covers; k++)
      covers = kf_scenario_result_covers(sc, f->ids[k]);
    if (!covers)
      continue;
    out->covering++;
    if (sc->status == KF_STATUS_ERROR)
      out->errors++;
    if (sc->status != KF_STATUS_FAIL)
      continue;
    if (out->caught++ == 0)
      (void)kf_str_format(out->first, sizeof out->first, "%s", sc->name);
  }
}

/* Start the stack with the servers' extra args, run the selected scenarios into run. */
static kf_rc kh_selftest_run(const kh_cli_options *o, const kh_suite *suite,
                             const kh_catalogue *cat, const char *const *args,
                             const kh_selection *sel, const char *label, kf_run_result *run,
                             kf_err *err) {
  kh_stack_options so;
  kh_stack_options_init(&so);
  so.keep_state = o->keep_state;
  so.server_args = args;
  kh_stack stack;
  kh_stack_init(&stack);
  kh_profile profile;
  kh_profile_init(&profile);
  kf_rc rc = kh_stack_start(&stack, &so, err);
  if (rc == KF_OK)
    rc = kh_stack_profile(&stack, &profile, err);
  if (rc == KF_OK && cat != NULL)
    rc = kh_catalogue_fill_defaults(cat, &profile, NULL, err);
  kh_runner_config cfg = {.suite = suite,
                          .catalogue = cat,
                          .profile = &profile,
                          .selection = sel,
                          .target_label = label,
                          .seed = o->has_seed ? o->seed : 1,
                          .run_id = o->has_run_id ? o->run_id : (uint64_t)0x5e1f7e57,
                          .jobs = o->jobs > 0 ? o->jobs : 4,
                          .cancel = kh_cli_interrupt_flag(),
                          /* Only the scenarios' verdicts and messages are read. */
                          .lean = true};
  if (rc == KF_OK)
    rc = kh_runner_run(&cfg, run, err);
  kh_stack_stop(&stack);
  kh_profile_release(&profile);
  kh_stack_release(&stack);
  return rc;
}

/* Start the stack with the fault, run the covering scenarios, count. */
static kf_rc kh_selftest_one(const kh_cli_options *o, const kh_suite *suite,
                             const kh_catalogue *cat, const kh_fault *f, kh_selftest_outcome *out,
                             kf_err *err) {
  memset(out, 0, sizeof *out);
  const char *args[] = {"--fault", f->name, NULL};
  kh_selection sel = {.covers = (const char *const *)f->ids, .covers_len = f->ids_len};
  kf_run_result run;
  kf_run_result_init(&run);
  kf_rc rc = kh_selftest_run(o, suite, cat, args, &sel, f->name, &run, err);
  if (rc == KF_OK)
    kh_selftest_count(&run, f, out);
  kf_run_result_release(&run);
  return rc;
}

/* With --covers, only the faults that break one of those requirements. */
static bool kh_selftest_selected(const kh_cli_options *o, const kh_fault *f) {
  if (o->covers_len == 0)
    return true;
  for (size_t i = 0; i < o->covers_len; i++)
    for (size_t k = 0; k < f->ids_len; k++)
      if (strcmp(o->covers[i], f->ids[k]) == 0)
        return true;
  return false;
}

/*
 * "name  IDs  3 of 13: <first scenario's name, cut with …>", within
 * KH_SELFTEST_LINE_COLS columns (one column a code point, as the console's).
 */
static void kh_selftest_print_caught(const kh_fault *f, const char *ids,
                                     const kh_selftest_outcome *out) {
  char head[64];
  (void)kf_str_format(head, sizeof head, "%zu of %zu: ", out->caught, out->covering);
  size_t used = KH_SELFTEST_NAME_COLS + 1 + KH_SELFTEST_IDS_COLS + 1 + strlen(head);
  size_t room = KH_SELFTEST_LINE_COLS > used ? KH_SELFTEST_LINE_COLS - used : 1;
  size_t len = strlen(out->first);
  bool cut = kf_utf8_count(out->first, len) > room;
  size_t keep = kf_utf8_prefix_len(out->first, len, cut ? room - 1 : room);
  printf("%-*s %-*s %s%.*s%s\n", KH_SELFTEST_NAME_COLS, f->name, KH_SELFTEST_IDS_COLS, ids, head,
         (int)keep, out->first, cut ? "…" : "");
}

/* The fault table: each selected fault with the scenarios that caught it. */
static int kh_selftest_faults_table(const kh_cli_options *o, const kh_suite *suite,
                                    const kh_catalogue *cat, const kh_fault_list *list) {
  kf_err err;
  kf_err_init(&err);
  printf("%-*s %-*s %s\n", KH_SELFTEST_NAME_COLS, "fault", KH_SELFTEST_IDS_COLS, "requirements",
         "caught by");
  size_t caught = 0, tried = 0;
  int code = KH_EXIT_OK;
  for (size_t i = 0; i < list->len; i++) {
    const kh_fault *f = &list->items[i];
    if (atomic_load(kh_cli_interrupt_flag()))
      break;
    if (!kh_selftest_selected(o, f))
      continue;
    tried++;
    char ids[128];
    kf_str_join(ids, sizeof ids, (const char *const *)f->ids, " ", " ");
    kh_selftest_outcome out;
    kf_rc rc = kh_selftest_one(o, suite, cat, f, &out, &err);
    /* A fault's run cut short by Ctrl-C says nothing about the suite. */
    if (atomic_load(kh_cli_interrupt_flag()))
      break;
    if (rc != KF_OK) {
      printf("%-*s %-*s could not run: %s\n", KH_SELFTEST_NAME_COLS, f->name, KH_SELFTEST_IDS_COLS,
             ids, err.message);
      code = KH_EXIT_FAILURES;
      continue;
    }
    if (out.caught > 0) {
      caught++;
      kh_selftest_print_caught(f, ids, &out);
    } else {
      code = KH_EXIT_FAILURES;
      printf("%-*s %-*s NOT CAUGHT by any of %zu scenarios (%zu errors)\n    %s\n",
             KH_SELFTEST_NAME_COLS, f->name, KH_SELFTEST_IDS_COLS, ids, out.covering, out.errors,
             f->what);
    }
    fflush(stdout);
  }
  if (atomic_load(kh_cli_interrupt_flag())) {
    printf("interrupted: no verdict\n");
    return KH_EXIT_INTERRUPTED;
  }
  printf("%zu %s, %zu caught, %zu not caught\n", tried, tried == 1 ? "fault" : "faults", caught,
         tried - caught);
  if (tried == 0) {
    fprintf(stderr, "konform: no fault breaks the requirements of --covers\n");
    code = KH_EXIT_USAGE;
  }
  return code;
}

/* One "name<TAB>description" line of --list-variants, the description cut to the line. */
static void kh_selftest_print_variant(const char *line, size_t len) {
  const char *tab = memchr(line, '\t', len);
  size_t name_len = tab != NULL ? (size_t)(tab - line) : len;
  const char *what = tab != NULL ? tab + 1 : "";
  size_t what_len = tab != NULL ? len - name_len - 1 : 0;
  size_t room = KH_SELFTEST_LINE_COLS - KH_SELFTEST_NAME_COLS - 1;
  bool cut = kf_utf8_count(what, what_len) > room;
  size_t keep = kf_utf8_prefix_len(what, what_len, cut ? room - 1 : room);
  printf("%-*.*s %.*s%s\n", KH_SELFTEST_NAME_COLS, (int)name_len, line, (int)keep, what,
         cut ? "…" : "");
}

/* The scenarios of run that did not pass (an undecided timing is not checked, not failed). */
static size_t kh_selftest_print_failed(const kf_run_result *run) {
  size_t failed = 0;
  for (size_t i = 0; i < run->scenarios_len; i++) {
    const kf_scenario_result *sc = &run->scenarios[i];
    if (sc->status != KF_STATUS_FAIL && sc->status != KF_STATUS_ERROR)
      continue;
    failed++;
    printf("  %s %s:%u %s\n      %.300s\n", kf_status_name(sc->status), sc->file, sc->line,
           sc->name, sc->message != NULL ? sc->message : "");
  }
  return failed;
}

/*
 * The faults' twin: the servers with every variant of `--list-variants` (what
 * the contract lets a portal do differently) on at once. A check that fails
 * there asserts the reference's incidental bytes, not the contract.
 */
static int kh_selftest_variants(const kh_cli_options *o, const kh_suite *suite,
                                const kh_catalogue *cat) {
  kf_err err;
  kf_err_init(&err);
  kf_buf list;
  kf_buf_init(&list, KH_SELFTEST_LIST_MAX);
  kf_rc rc = kh_stack_server_listing("--list-variants", &list, &err);
  size_t variants = 0;
  printf("\n%-*s %s\n", KH_SELFTEST_NAME_COLS, "variant", "what the contract allows");
  for (const char *p = list.data; rc == KF_OK && p != NULL && *p != '\0';) {
    const char *nl = strchr(p, '\n');
    size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
    if (len > 0) {
      kh_selftest_print_variant(p, len);
      variants++;
    }
    p = nl != NULL ? nl + 1 : NULL;
  }
  kf_buf_release(&list);
  const char *args[] = {"--variant", "all", NULL};
  kh_selection sel;
  kh_cmd_suite_selection(o, &sel);
  kf_run_result run;
  kf_run_result_init(&run);
  if (rc == KF_OK && variants == 0)
    rc = kf_err_set(&err, KF_ERR_STATE, "konform-server lists no variants");
  if (rc == KF_OK)
    rc = kh_selftest_run(o, suite, cat, args, &sel, "every variant", &run, &err);
  int code = KH_EXIT_OK;
  if (rc != KF_OK) {
    printf("variants could not run: %s\n", err.message);
    code = KH_EXIT_FAILURES;
  } else {
    size_t failed = kh_selftest_print_failed(&run);
    kf_run_counts c;
    kf_run_result_counts(&run, &c);
    printf("%zu %s at once: %zu scenarios, %zu passed, %zu failed, %zu not checked\n", variants,
           variants == 1 ? "variant" : "variants", c.total, c.passed, failed, c.skipped);
    if (failed > 0)
      code = KH_EXIT_FAILURES;
  }
  kf_run_result_release(&run);
  return code;
}

int kh_cmd_selftest(const kh_cli_options *o, const kh_suite *suite, const kh_catalogue *cat) {
  kf_err err;
  kf_err_init(&err);
  kh_fault_list *list = kf_calloc(1, sizeof *list);
  if (list == NULL || kh_selftest_faults(list, &err) != KF_OK) {
    fprintf(stderr, "konform: %s\n", list != NULL ? err.message : "out of memory");
    if (list != NULL)
      kf_free(list->text);
    kf_free(list);
    return KH_EXIT_USAGE;
  }
  int code = kh_selftest_faults_table(o, suite, cat, list);
  kf_free(list->text);
  kf_free(list);
  if (code == KH_EXIT_INTERRUPTED)
    return code;
  int vcode = kh_selftest_variants(o, suite, cat);
  return code != KH_EXIT_OK ? code : vcode;
}
