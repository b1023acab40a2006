/*
 * kh_cmd_run.c: `konform run`. It loads and lints the scenarios, sets up the
 * target (a profile, or the embedded stack), checks that the target and its
 * mocks answer before running anything (so a wrong URL is one clear message
 * and exit code 3 rather than a page of errored scenarios), runs, prints the
 * summary and writes the reports.
 */
#include "kh_cmd_run.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/log.h"
#include "kf/str.h"
#include "kf/version.h"
#include "kh_cmd_suite.h"
#include "kh_http.h"
#include "kh_mocks.h"
#include "kh_profile.h"
#include "kh_runner.h"
#include "kh_stack.h"
#include "kh_step.h"
#include "kr/report.h"

#define KH_CMD_RUN_PREFLIGHT_TIMEOUT_MS 5000
#define KH_CMD_RUN_MAX_FAULT_ROWS 256

_Static_assert(2 * KH_CLI_MAX_FAULTS <= KH_STACK_MAX_SERVER_ARGS,
               "every --fault NAME pair fits the servers' extra arguments");

typedef struct kh_cmd_run_progress {
  kr_console_options console;
} kh_cmd_run_progress;

static void kh_cmd_run_on_scenario(const kf_scenario_result *sc, size_t done, size_t total,
                                   void *ctx) {
  kh_cmd_run_progress *p = ctx;
  /* After Ctrl-C a scenario's end is the interruption's doing, not the target's. */
  if (atomic_load(kh_cli_interrupt_flag()))
    return;
  kr_console_scenario(stdout, &p->console, sc, done, total);
  fflush(stdout);
}

/* Check that the target and the mocks answer at all; prints which one does not. */
static int kh_cmd_run_preflight(const kh_profile *profile) {
  kf_err err;
  kf_err_init(&err);
  kh_http_request req = {
      .method = "GET", .url = profile->base_url, .timeout_ms = KH_CMD_RUN_PREFLIGHT_TIMEOUT_MS};
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
    rc = kh_mocks_health(apis[i][1], KH_CMD_RUN_PREFLIGHT_TIMEOUT_MS, NULL, &err);
    if (rc != KF_OK) {
      fprintf(stderr, "konform: the %s mock (%s) is unreachable: %s\n", i == 0 ? "mail" : "post",
              apis[i][0], err.message);
      return KH_EXIT_UNREACHABLE;
    }
  }
  return KH_EXIT_OK;
}

static unsigned kh_cmd_run_default_jobs(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 2)
    return 2;
  return n > 64 ? 64 : (unsigned)n;
}

/*
 * The reports written while the run goes on (kr_stream), by --report: a
 * stream, or NULL with why in err (failed) or because the report is written
 * from the whole run at the end. Heap-allocated: 64 error texts are large.
 */
typedef struct kh_cmd_run_streams {
  kr_stream *stream[KH_CLI_MAX_LIST];
  bool failed[KH_CLI_MAX_LIST];
  kf_err err[KH_CLI_MAX_LIST];
  size_t len;
} kh_cmd_run_streams;

/*
 * Open a stream for every --report, or none: when a report that shows every
 * step is not written as a stream, the run must keep every step to the end
 * anyway, and streaming the others would save nothing. true when streams
 * are open (the runner may then drop what it handed over).
 */
static bool kh_cmd_run_streams_open(const kh_cli_options *o, kh_cmd_run_streams *ss) {
  ss->len = o->reports_len;
  for (size_t i = 0; i < o->reports_len; i++) {
    kr_write_fn write = o->reports[i].kind->write;
    if (!kr_format_streams(write) && kr_format_shows_passing(write))
      return false;
  }
  bool any = false;
  for (size_t i = 0; i < o->reports_len; i++) {
    const kh_cli_report *r = &o->reports[i];
    kf_err_init(&ss->err[i]);
    if (!kr_format_streams(r->kind->write))
      continue;
    ss->failed[i] = kr_stream_open(r->kind->write, r->path, &ss->stream[i], &ss->err[i]) != KF_OK;
    any = true;
  }
  return any;
}

/* kh_runner_finished_fn: the scenario into every open stream; a stream that fails is closed. */
static void kh_cmd_run_on_finished(const kf_scenario_result *sc, size_t index, void *ctx) {
  kh_cmd_run_streams *ss = ctx;
  for (size_t i = 0; i < ss->len; i++) {
    if (ss->stream[i] == NULL || kr_stream_scenario(ss->stream[i], sc, index, &ss->err[i]) == KF_OK)
      continue;
    kr_stream_abort(ss->stream[i]);
    ss->stream[i] = NULL;
    ss->failed[i] = true;
  }
}

/* Free every stream without writing (an interrupted or failed run writes no report). */
static void kh_cmd_run_streams_abort(kh_cmd_run_streams *ss) {
  for (size_t i = 0; ss != NULL && i < ss->len; i++) {
    kr_stream_abort(ss->stream[i]);
    ss->stream[i] = NULL;
  }
}

/* Write the report r: close its stream, or write it from the whole run. */
static kf_rc kh_cmd_run_write_one(const kh_cli_report *r, const kf_run_result *run,
                                  kh_cmd_run_streams *ss, size_t i, kf_err *err) {
  if (ss == NULL || (ss->stream[i] == NULL && !ss->failed[i]))
    return r->kind->write(run, r->path, err);
  if (ss->failed[i]) {
    *err = ss->err[i];
    return err->rc != KF_OK ? err->rc : KF_ERR_IO;
  }
  kr_stream *s = ss->stream[i];
  ss->stream[i] = NULL;
  return kr_stream_close(s, run, err);
}

/* Write every --report; ss (may be NULL) holds the streamed ones. */
static int kh_cmd_run_write_streamed(const kh_cli_options *o, const kf_run_result *run,
                                     kh_cmd_run_streams *ss) {
  int code = KH_EXIT_OK;
  for (size_t i = 0; i < o->reports_len; i++) {
    kf_err err;
    kf_err_init(&err);
    const kh_cli_report *r = &o->reports[i];
    kf_rc rc = kh_cmd_run_write_one(r, run, ss, i, &err);
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

int kh_cmd_run_write_reports(const kh_cli_options *o, const kf_run_result *run) {
  return kh_cmd_run_write_streamed(o, run, NULL);
}

/* Everything a run needs before it starts, loaded and checked. */
typedef struct kh_cmd_run_state {
  kh_cmd_suite s;
  kh_stack stack; /* The embedded stack, when there is no --target. */
  kh_profile profile;
  kf_run_result run;
  uint64_t seed;
  uint64_t run_id;
  const char *label;
  char label_buf[512]; /* "embedded reference stack with --fault a --fault b". */
} kh_cmd_run_state;

/* The seed and run id: given, or random. */
static void kh_cmd_run_identity(const kh_cli_options *o, kh_cmd_run_state *st) {
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

/*
 * Every --report can be written: its folder exists and takes files. Found
 * before the run, not after every scenario has run.
 */
int kh_cmd_run_check_reports(const kh_cli_options *o) {
  for (size_t i = 0; i < o->reports_len; i++) {
    const char *path = o->reports[i].path;
    const char *slash = strrchr(path, '/');
    char dir[4096];
    kf_rc rc = slash == NULL   ? kf_str_copy(dir, sizeof dir, ".")
               : slash == path ? kf_str_copy(dir, sizeof dir, "/")
                               : kf_str_format(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (rc != KF_OK || access(dir, W_OK | X_OK) != 0) {
      fprintf(stderr, "konform: cannot write the %s report %s: %s\n", o->reports[i].kind->label,
              path, rc != KF_OK ? "the path is too long" : strerror(errno));
      return KH_EXIT_USAGE;
    }
  }
  return KH_EXIT_OK;
}

/* The [defaults] the catalogue filled in, one indented "key = value" line each. */
static void kh_cmd_run_print_filled(const char *lines) {
  fprintf(stderr, "konform: the profile states no value for these [defaults]; using the "
                  "catalogue's:\n");
  for (const char *p = lines; *p != '\0';) {
    size_t n = strcspn(p, "\n");
    fprintf(stderr, "  %.*s\n", (int)n, p);
    p += n + (p[n] == '\n');
  }
}

/*
 * Every --fault names a row of `konform-server --list-faults`: a typo is a
 * usage error with the nearest name, found before any program starts.
 */
static int kh_cmd_run_check_faults(const kh_cli_options *o) {
  if (o->faults_len == 0)
    return KH_EXIT_OK;
  kf_err err;
  kf_err_init(&err);
  kf_buf list;
  kf_buf_init(&list, 256u * 1024u);
  const char *names[KH_CMD_RUN_MAX_FAULT_ROWS];
  size_t n = 0;
  kf_rc rc = kh_stack_server_listing("--list-faults", &list, &err);
  for (char *line = rc == KF_OK ? list.data : NULL; line != NULL && *line != '\0';) {
    char *nl = strchr(line, '\n');
    if (nl != NULL)
      *nl = '\0';
    line[strcspn(line, "\t")] = '\0';
    if (line[0] != '\0' && n < KH_CMD_RUN_MAX_FAULT_ROWS)
      names[n++] = line;
    line = nl != NULL ? nl + 1 : NULL;
  }
  int code = KH_EXIT_OK;
  if (rc != KF_OK) {
    fprintf(stderr, "konform: %s\n", err.message);
    code = KH_EXIT_USAGE;
  }
  for (size_t i = 0; code == KH_EXIT_OK && i < o->faults_len; i++) {
    bool known = false;
    for (size_t k = 0; k < n && !known; k++)
      known = strcmp(names[k], o->faults[i]) == 0;
    if (known)
      continue;
    const char *near = kf_str_nearest(o->faults[i], strlen(o->faults[i]), names, n);
    fprintf(stderr, "konform: --fault %s: no such fault%s%s%s (konform-server --list-faults)\n",
            o->faults[i], near != NULL ? "; did you mean " : "", near != NULL ? near : "",
            near != NULL ? "?" : "");
    code = KH_EXIT_USAGE;
  }
  kf_buf_release(&list);
  return code;
}

/* The target: the profile of --target, or the embedded stack; then the catalogue's defaults. */
static int kh_cmd_run_target(const kh_cli_options *o, kh_cmd_run_state *st) {
  kf_err err;
  kf_err_init(&err);
  st->label = "embedded reference stack";
  if (o->faults_len > 0) {
    /* The faults in the label, so the printed start and end lines repeat the run. */
    char names[400];
    kf_str_join(names, sizeof names, o->faults, " --fault ", " --fault ");
    (void)kf_str_format(st->label_buf, sizeof st->label_buf,
                        "embedded reference stack with --fault %s", names);
    st->label = st->label_buf;
  }
  if (o->target != NULL && o->faults_len > 0) {
    fprintf(stderr, "konform: --fault switches on faults of the embedded stack; it has no "
                    "effect on --target\n");
    return KH_EXIT_USAGE;
  }
  int fcode = kh_cmd_run_check_reports(o);
  if (fcode == KH_EXIT_OK)
    fcode = kh_cmd_run_check_faults(o);
  if (fcode != KH_EXIT_OK)
    return fcode;
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
    /*
     * The timing server computes its dummy hash at the interactive cost
     * before it is ready, a good part of the stack's start while the other
     * cores wait: it starts only when a selected scenario times something.
     */
    kh_selection sel;
    kh_cmd_suite_selection(o, &sel);
    so.timing = kh_runner_selects_need(&st->s.suite, &sel, &o->shard, KH_NEED_BIT(TIMING));
    const char *fault_args[2 * KH_CLI_MAX_FAULTS + 1];
    for (size_t i = 0; i < o->faults_len; i++) {
      fault_args[2 * i] = "--fault";
      fault_args[2 * i + 1] = o->faults[i];
    }
    fault_args[2 * o->faults_len] = NULL;
    so.server_args = o->faults_len > 0 ? fault_args : NULL;
    if (kh_stack_start(&st->stack, &so, &err) != KF_OK) {
      fprintf(stderr, "konform: cannot start the embedded reference stack: %s\n", err.message);
      return KH_EXIT_UNREACHABLE;
    }
    if (kh_stack_profile(&st->stack, &st->profile, &err) != KF_OK) {
      fprintf(stderr, "konform: %s\n", err.message);
      return KH_EXIT_USAGE;
    }
    if (o->keep_state)
      fprintf(stderr, "konform: the stack keeps its state in %s\n", kh_stack_dir(&st->stack));
  }
  if (st->s.have_cat) {
    kf_buf filled;
    kf_buf_init(&filled, 4096);
    kf_rc frc = kh_catalogue_fill_defaults(&st->s.cat, &st->profile, &filled, &err);
    if (frc != KF_OK)
      fprintf(stderr, "konform: %s: %s\n", o->target != NULL ? o->target : "profile", err.message);
    else if (filled.len > 0 && o->target != NULL)
      kh_cmd_run_print_filled(filled.data);
    kf_buf_release(&filled);
    if (frc != KF_OK)
      return KH_EXIT_USAGE;
  }
  return kh_cmd_run_preflight(&st->profile);
}

/*
 * Whether nothing of this run shows the details of what passed: no -v, no
 * --trace all, and no report that lists every step (kr_format_shows_passing).
 */
static bool kh_cmd_run_lean(const kh_cli_options *o) {
  if (o->verbose || o->trace == KR_TRACE_ALL)
    return false;
  for (size_t i = 0; i < o->reports_len; i++)
    if (kr_format_shows_passing(o->reports[i].kind->write))
      return false;
  return true;
}

/* Run the scenarios, print the summary and write the reports. */
static int kh_cmd_run_execute(const kh_cli_options *o, kh_cmd_run_state *st) {
  kf_err err;
  kf_err_init(&err);
  kh_selection sel;
  kh_cmd_suite_selection(o, &sel);
  kh_cmd_run_progress progress = {.console = {.color = !o->no_color && kr_console_want_color(1),
                                              .verbose = o->verbose,
                                              .trace = o->trace}};
  unsigned jobs = o->jobs > 0 ? o->jobs : kh_cmd_run_default_jobs();
  unsigned long long seed = st->seed, run_id = st->run_id;
  char cat_hash[KF_RUN_HASH_HEX] = "";
  if (st->s.have_cat && kh_shard_file_hash(st->s.cat_path, cat_hash, &err) != KF_OK) {
    fprintf(stderr, "konform: %s\n", err.message);
    return KH_EXIT_USAGE;
  }
  printf("konform %s: target %s (%s)\n", KONFORM_VERSION, st->label, st->profile.base_url);
  if (o->shard.total > 0)
    printf("shard %u of %u of the selected scenarios (--shard %u/%u)\n", o->shard.index,
           o->shard.total, o->shard.index, o->shard.total);
  /* At most 86 columns: the seed has at most 20 digits, jobs at most 3. */
  printf("seed %llu, run id %016llx (--seed, --run-id repeat them), %u jobs\n", seed, run_id, jobs);
  fflush(stdout);
  kh_cmd_run_streams *ss = kf_calloc(1, sizeof *ss);
  bool streaming = ss != NULL && kh_cmd_run_streams_open(o, ss);
  kh_runner_config cfg = {.suite = &st->s.suite,
                          .catalogue = st->s.have_cat ? &st->s.cat : NULL,
                          .profile = &st->profile,
                          .selection = &sel,
                          .target_label = st->label,
                          .seed = st->seed,
                          .run_id = st->run_id,
                          .jobs = jobs,
                          .progress = kh_cmd_run_on_scenario,
                          .progress_ctx = &progress,
                          .cancel = kh_cli_interrupt_flag(),
                          .shard = &o->shard,
                          .catalogue_hash = cat_hash,
                          .lean = kh_cmd_run_lean(o),
                          .finished = streaming ? kh_cmd_run_on_finished : NULL,
                          .finished_ctx = ss};
  kf_rc rc = kh_runner_run(&cfg, &st->run, &err);
  int code = KH_EXIT_OK;
  if (rc == KF_ERR_NETWORK || rc == KF_ERR_TIMEOUT || rc == KF_ERR_STATE) {
    fprintf(stderr, "konform: %s\n", err.message);
    code = KH_EXIT_UNREACHABLE;
  } else if (rc != KF_OK) {
    fprintf(stderr, "konform: the run could not be carried out: %s\n", err.message);
    code = KH_EXIT_FAILURES;
  } else if (atomic_load(kh_cli_interrupt_flag())) {
    /* What ran was cut short: no verdict and no report that could be read as one. */
    fprintf(stderr, "konform: interrupted: no verdict, no report written\n");
    code = KH_EXIT_INTERRUPTED;
  } else {
    /* The reports first: the summary's closing counts line is the last line of the run. */
    int rcode = kh_cmd_run_write_streamed(o, &st->run, streaming ? ss : NULL);
    fflush(stderr);
    kr_console_summary(stdout, &progress.console, &st->run);
    fflush(stdout);
    kf_run_counts counts;
    kf_run_result_counts(&st->run, &counts);
    if (counts.failed > 0 || counts.errors > 0)
      code = KH_EXIT_FAILURES;
    else if (counts.skipped > 0 && !o->allow_partial)
      code = KH_EXIT_PARTIAL;
    if (rcode != KH_EXIT_OK)
      code = rcode;
  }
  if (rc != KF_OK)
    printf("seed %llu, run id %016llx\n", seed, run_id);
  kh_cmd_run_streams_abort(ss);
  kf_free(ss);
  return code;
}

int kh_cmd_run(const kh_cli_options *o) {
  kh_cmd_run_state st;
  memset(&st, 0, sizeof st);
  kh_cmd_suite_init(&st.s);
  kh_stack_init(&st.stack);
  kh_profile_init(&st.profile);
  kf_run_result_init(&st.run);
  int code = kh_cmd_suite_prepare(o, &st.s);
  /* Linted and selected: from here a scenario's steps are parsed again while it runs. */
  if (code == KH_EXIT_OK) {
    kf_rc drc = kh_runner_drop_steps(&st.s.suite);
    if (drc != KF_OK)
      kf_debug("some scenario files keep their steps in memory: %s", kf_rc_name(drc));
    /* The trees just freed go back, so the workers' allocations do not come on top of them. */
    kf_alloc_trim();
  }
  kh_cmd_run_identity(o, &st);
  if (code == KH_EXIT_OK)
    code = kh_cmd_run_target(o, &st);
  if (code == KH_EXIT_OK)
    code = kh_cmd_run_execute(o, &st);
  kh_stack_stop(&st.stack);
  kf_err err;
  kf_err_init(&err);
  if (o->target == NULL && kh_stack_exit_status(&st.stack, &err) != KF_OK) {
    fprintf(stderr, "konform: the embedded reference stack did not shut down cleanly:\n%s",
            err.message);
    if (code == KH_EXIT_OK)
      code = KH_EXIT_FAILURES;
  }
  kf_run_result_release(&st.run);
  kh_profile_release(&st.profile);
  kh_stack_release(&st.stack);
  kh_cmd_suite_release(&st.s);
  return code;
}
