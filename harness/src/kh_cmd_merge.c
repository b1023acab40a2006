/*
 * kh_cmd_merge.c: `konform merge`. The shards' JSON reports are read back
 * (kh_result_read), checked to be parts of one run (the same suite,
 * catalogue, seed, run id, target and shard count, each shard once), and
 * their scenarios put back in the single run's load order: shard K of N holds
 * the selected scenarios at positions K-1, K-1+N, ... (kh_shard.h). The
 * requirement verdicts then follow from the scenarios as in a single run; the
 * scenarios of a missing shard count as not selected, so the requirements
 * they cover are "not checked", never passed.
 */
#include "kh_cmd_merge.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/str.h"
#include "kh_cmd_run.h"
#include "kh_result_read.h"
#include "kr/report.h"

/* How many of the total selected scenarios shard k (1-based) of n holds. */
static size_t kh_merge_share(size_t total, unsigned k, unsigned n) {
  return total / n + (total % n >= k ? 1 : 0);
}

/* One line of why for a member where b differs from a. */
static void kh_merge_differ(kf_buf *why, const char *a, const char *b, const char *what,
                            const char *va, const char *vb) {
  (void)kf_buf_appendf(why, "%s and %s: %s differ: %s against %s\n", a, b, what, va, vb);
}

/* The catalogue's requirement IDs in order, the same in a and b. */
static bool kh_merge_same_requirements(const kf_run_result *a, const kf_run_result *b) {
  if (a->requirements_len != b->requirements_len)
    return false;
  for (size_t i = 0; i < a->requirements_len; i++)
    if (strcmp(a->requirements[i].id, b->requirements[i].id) != 0)
      return false;
  return true;
}

/* Every way b is not a part of the run a is a part of: one line each into why. */
static void kh_merge_compare(const kf_run_result *a, const kf_run_result *b, const char *na,
                             const char *nb, kf_buf *why) {
  char va[64], vb[64];
  if (strcmp(a->suite_hash, b->suite_hash) != 0 || a->suite_scenarios != b->suite_scenarios) {
    (void)kf_str_format(va, sizeof va, "%zu scenarios (%.8s)", a->suite_scenarios, a->suite_hash);
    (void)kf_str_format(vb, sizeof vb, "%zu scenarios (%.8s)", b->suite_scenarios, b->suite_hash);
    kh_merge_differ(why, na, nb, "the suites (the selected scenarios)", va, vb);
  }
  if (strcmp(a->catalogue_hash, b->catalogue_hash) != 0 || !kh_merge_same_requirements(a, b)) {
    (void)kf_str_format(va, sizeof va, "%zu requirements (%.8s)", a->requirements_len,
                        a->catalogue_hash[0] != '\0' ? a->catalogue_hash : "none");
    (void)kf_str_format(vb, sizeof vb, "%zu requirements (%.8s)", b->requirements_len,
                        b->catalogue_hash[0] != '\0' ? b->catalogue_hash : "none");
    kh_merge_differ(why, na, nb, "the catalogues", va, vb);
  }
  if (a->shard_total != b->shard_total) {
    (void)kf_str_format(va, sizeof va, "--shard %u/%u", a->shard_index, a->shard_total);
    (void)kf_str_format(vb, sizeof vb, "--shard %u/%u", b->shard_index, b->shard_total);
    kh_merge_differ(why, na, nb, "the shard counts", va, vb);
  }
  if (a->seed != b->seed) {
    (void)kf_str_format(va, sizeof va, "--seed %" PRIu64, a->seed);
    (void)kf_str_format(vb, sizeof vb, "--seed %" PRIu64, b->seed);
    kh_merge_differ(why, na, nb, "the seeds", va, vb);
  }
  if (a->run_id != b->run_id) {
    (void)kf_str_format(va, sizeof va, "--run-id %016" PRIx64, a->run_id);
    (void)kf_str_format(vb, sizeof vb, "--run-id %016" PRIx64, b->run_id);
    kh_merge_differ(why, na, nb, "the run ids", va, vb);
  }
  if (strcmp(a->target, b->target) != 0)
    kh_merge_differ(why, na, nb, "the targets", a->target, b->target);
}

/* Each part against the first, each shard once, each holding its share. */
static void kh_merge_check(const kf_run_result *parts, const char *const *names, size_t n,
                           kf_buf *why) {
  for (size_t i = 1; i < n; i++)
    kh_merge_compare(&parts[0], &parts[i], names[0], names[i], why);
  for (size_t i = 0; i < n; i++) {
    const kf_run_result *p = &parts[i];
    for (size_t j = 0; j < i; j++)
      if (parts[j].shard_index == p->shard_index && parts[j].shard_total == p->shard_total)
        (void)kf_buf_appendf(why, "%s and %s: both are shard %u of %u\n", names[j], names[i],
                             p->shard_index, p->shard_total);
    size_t share = kh_merge_share(p->suite_scenarios, p->shard_index, p->shard_total);
    if (p->scenarios_len != share)
      (void)kf_buf_appendf(why, "%s: shard %u of %u holds %zu scenarios, its share is %zu\n",
                           names[i], p->shard_index, p->shard_total, p->scenarios_len, share);
  }
}

/* The run-wide members: the first part's, the earliest start, the longest shard. */
static kf_rc kh_merge_head(const kf_run_result *parts, size_t n, kf_run_result *m) {
  const kf_run_result *a = &parts[0];
  m->target = kf_strdup(a->target);
  m->base_url = a->base_url != NULL ? kf_strdup(a->base_url) : NULL;
  if (m->target == NULL || (a->base_url != NULL && m->base_url == NULL))
    return KF_ERR_NOMEM;
  m->seed = a->seed;
  m->run_id = a->run_id;
  m->started_at = a->started_at;
  m->duration_ms = a->duration_ms;
  for (size_t i = 1; i < n; i++) {
    if (parts[i].started_at < m->started_at)
      m->started_at = parts[i].started_at;
    /* The shards ran side by side: the run took as long as the longest. */
    if (parts[i].duration_ms > m->duration_ms)
      m->duration_ms = parts[i].duration_ms;
  }
  m->shard_index = 1;
  m->shard_total = 1;
  m->suite_scenarios = a->suite_scenarios;
  memcpy(m->suite_hash, a->suite_hash, sizeof m->suite_hash);
  memcpy(m->catalogue_hash, a->catalogue_hash, sizeof m->catalogue_hash);
  return KF_OK;
}

/* How many scenarios of run cover id. */
static size_t kh_merge_covering(const kf_run_result *run, const char *id) {
  size_t n = 0;
  for (size_t i = 0; i < run->scenarios_len; i++)
    n += kf_scenario_result_covers(&run->scenarios[i], id);
  return n;
}

/*
 * The catalogue with the filters' not_selected of the first part, plus the
 * covering scenarios of missing shards (other_shards). Called before the
 * scenarios move: a part's covering count is its own.
 */
static kf_rc kh_merge_requirements(const kf_run_result *parts, size_t n, kf_run_result *m) {
  const kf_run_result *a = &parts[0];
  for (size_t r = 0; r < a->requirements_len; r++) {
    const kf_requirement *rq = &a->requirements[r];
    if (kf_run_result_add_requirement(m, rq->id, rq->area, rq->title, rq->source) != KF_OK)
      return KF_ERR_NOMEM;
    size_t selected = rq->other_shards + kh_merge_covering(a, rq->id), present = 0;
    for (size_t i = 0; i < n; i++)
      present += kh_merge_covering(&parts[i], rq->id);
    kf_requirement *out = &m->requirements[m->requirements_len - 1];
    out->other_shards = selected > present ? selected - present : 0;
    out->not_selected = rq->not_selected - rq->other_shards + out->other_shards;
  }
  return KF_OK;
}

/* The scenarios moved into m in the single run's order; *missing counts absent shards. */
static kf_rc kh_merge_scenarios(kf_run_result *parts, size_t n, kf_run_result *m, size_t *missing) {
  unsigned total = parts[0].shard_total;
  kf_run_result **by_shard = kf_calloc(total, sizeof *by_shard);
  size_t cap = 0;
  for (size_t i = 0; i < n; i++)
    cap += parts[i].scenarios_len;
  m->scenarios = kf_calloc(cap > 0 ? cap : 1, sizeof *m->scenarios);
  if (by_shard == NULL || m->scenarios == NULL) {
    kf_free(by_shard);
    return KF_ERR_NOMEM;
  }
  m->scenarios_cap = cap > 0 ? cap : 1;
  for (size_t i = 0; i < n; i++)
    by_shard[parts[i].shard_index - 1] = &parts[i];
  *missing = 0;
  for (unsigned k = 0; k < total; k++)
    *missing += by_shard[k] == NULL;
  for (size_t pos = 0; pos < m->suite_scenarios; pos++) {
    kf_run_result *p = by_shard[pos % total];
    size_t j = pos / total;
    if (p == NULL)
      continue;
    assert(j < p->scenarios_len && m->scenarios_len < cap);
    /* Moved, not copied: the part keeps a zeroed slot that releases nothing. */
    m->scenarios[m->scenarios_len++] = p->scenarios[j];
    memset(&p->scenarios[j], 0, sizeof p->scenarios[j]);
  }
  kf_free(by_shard);
  return KF_OK;
}

kf_rc kh_cmd_merge_results(kf_run_result *parts, const char *const *names, size_t n,
                           kf_run_result *merged, size_t *missing, kf_buf *why) {
  assert(n > 0);
  size_t before = why->len;
  kh_merge_check(parts, names, n, why);
  if (why->len > before)
    return KF_ERR_INVALID;
  kf_rc rc = kh_merge_head(parts, n, merged);
  if (rc == KF_OK)
    rc = kh_merge_requirements(parts, n, merged);
  if (rc == KF_OK)
    rc = kh_merge_scenarios(parts, n, merged, missing);
  return rc;
}

/* The exit code of the merged verdict, as run gives it; missing shards are not checked. */
static int kh_merge_exit(const kh_cli_options *o, const kf_run_result *m, size_t missing) {
  kf_run_counts counts;
  kf_run_result_counts(m, &counts);
  if (counts.failed > 0 || counts.errors > 0)
    return KH_EXIT_FAILURES;
  if ((counts.skipped > 0 || missing > 0) && !o->allow_partial)
    return KH_EXIT_PARTIAL;
  return KH_EXIT_OK;
}

/* Read every report named by o's paths into parts; prints why one cannot be read. */
static int kh_merge_read(const kh_cli_options *o, kf_run_result *parts) {
  for (size_t i = 0; i < o->paths_len; i++) {
    kf_err err;
    kf_err_init(&err);
    if (kh_result_read_file(o->paths[i], &parts[i], &err) != KF_OK) {
      fprintf(stderr, "konform: %s\n", err.message);
      return KH_EXIT_USAGE;
    }
  }
  return KH_EXIT_OK;
}

/* Print each line of why as "konform: LINE". */
static void kh_merge_print_why(const kf_buf *why) {
  for (const char *p = why->data; p != NULL && *p != '\0';) {
    size_t len = strcspn(p, "\n");
    fprintf(stderr, "konform: %.*s\n", (int)len, p);
    p += len + (p[len] == '\n');
  }
}

/* Print the merged verdict as run does and write the reports. */
static int kh_merge_finish(const kh_cli_options *o, const kf_run_result *m, unsigned total,
                           size_t missing) {
  if (missing > 0)
    fprintf(stderr,
            "konform: %zu of %u shards missing: their scenarios are not checked and the "
            "requirements they cover cannot pass\n",
            missing, total);
  int code = kh_cmd_run_write_reports(o, m);
  fflush(stderr);
  kr_console_options console = {
      .color = !o->no_color && kr_console_want_color(1), .verbose = o->verbose, .trace = o->trace};
  kr_console_summary(stdout, &console, m);
  fflush(stdout);
  return code != KH_EXIT_OK ? code : kh_merge_exit(o, m, missing);
}

int kh_cmd_merge(const kh_cli_options *o) {
  if (o->paths_len == 0) {
    fprintf(stderr, "konform: merge wants the JSON reports of the shards (konform merge "
                    "A.json B.json ...)\n");
    return KH_EXIT_USAGE;
  }
  int code = kh_cmd_run_check_reports(o);
  kf_run_result parts[KH_CLI_MAX_LIST], merged;
  for (size_t i = 0; i < o->paths_len; i++)
    kf_run_result_init(&parts[i]);
  kf_run_result_init(&merged);
  if (code == KH_EXIT_OK)
    code = kh_merge_read(o, parts);
  kf_buf why;
  kf_buf_init(&why, 64 * 1024);
  size_t missing = 0;
  if (code == KH_EXIT_OK) {
    kf_rc rc = kh_cmd_merge_results(parts, o->paths, o->paths_len, &merged, &missing, &why);
    if (rc == KF_ERR_INVALID)
      kh_merge_print_why(&why);
    else if (rc != KF_OK)
      fprintf(stderr, "konform: cannot merge the reports: %s\n", kf_rc_name(rc));
    code = rc == KF_OK ? kh_merge_finish(o, &merged, parts[0].shard_total, missing) : KH_EXIT_USAGE;
  }
  kf_buf_release(&why);
  kf_run_result_release(&merged);
  for (size_t i = 0; i < o->paths_len; i++)
    kf_run_result_release(&parts[i]);
  return code;
}
