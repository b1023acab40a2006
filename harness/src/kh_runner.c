/*
 * kh_runner.c: the scenario runner: selection, the worker pool, and the
 * run-wide start (the mocks' last ids). Each scenario is carried out by
 * kh_exec_scenario (kh_exec.c).
 */
#include "kh_runner.h"
#include "kh_suite.h"

#include <assert.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/log.h"
#include "kf/str.h"
#include "kf/timeutil.h"
#include "kh_exec.h"
#include "kh_mocks.h"
#include "kh_reload.h"
#include "kh_step.h"

/* How long the mocks may take to say their last id before the run. */
#define KH_RUNNER_HEALTH_TIMEOUT_MS 5000

/* What e's scenario needs: noted before its steps were dropped, else read from them. */
static unsigned kh_runner_entry_needs(const kh_suite_entry *e) {
  return e->needs_known ? e->needs : kh_exec_scenario_needs(e->scenario);
}

kf_rc kh_runner_drop_steps(kh_suite *suite) {
  assert(suite != NULL);
  for (size_t i = 0; i < suite->entries_len; i++) {
    kh_suite_entry *e = &suite->entries[i];
    e->needs = kh_exec_scenario_needs(e->scenario);
    e->needs_known = true;
  }
  return kh_suite_drop_steps(suite);
}

bool kh_selection_match(const kh_selection *sel, const kh_scenario *sc) {
  if (sel == NULL)
    return true;
  if (sel->covers_len > 0) {
    bool hit = false;
    for (size_t i = 0; !hit && i < sel->covers_len; i++)
      for (size_t j = 0; !hit && j < sc->covers_len; j++)
        hit = kf_str_eq_ci(sel->covers[i], sc->covers[j]);
    if (!hit)
      return false;
  }
  if (sel->tags_len > 0) {
    bool hit = false;
    for (size_t i = 0; !hit && i < sel->tags_len; i++)
      for (size_t j = 0; !hit && j < sc->tags_len; j++)
        hit = strcmp(sel->tags[i], sc->tags[j]) == 0;
    if (!hit)
      return false;
  }
  if (sel->name != NULL && sel->name[0] != '\0' && strstr(sc->name, sel->name) == NULL)
    return false;
  return true;
}

/* ---- The worker pool. ---- */

typedef struct kh_pool {
  pthread_mutex_t lock;
  const kh_runner_config *cfg;
  int64_t seen_from[KH_SUBJECT_COUNT]; /* Where every scenario's waits start. */
  const kh_suite_entry **entries;      /* The selected entries, in load order. */
  kf_scenario_result *slots;           /* run->scenarios, one per entry. */
  size_t *order; /* Entry indices: those that may share the target first, then those run alone. */
  size_t total;
  size_t shared; /* How many of order may run in parallel. */
  size_t next;   /* Next position in order. */
  size_t end;    /* Where the current phase ends in order. */
  size_t done;
  bool *finished; /* By entry: handed to cfg->finished (under emit_lock). */
  /* Held around each call of cfg->finished (one at a time); never together with lock. */
  pthread_mutex_t emit_lock;
  kh_reload *reload; /* The steps of files that dropped theirs. */
} kh_pool;

/*
 * Hand the scenario of entry index to cfg->finished, then drop what no one
 * reads any more. It runs outside the pool's lock, so the other workers take
 * their next scenarios while a report writes this one.
 */
static void kh_pool_hand_over(kh_pool *pool, size_t index) {
  if (pool->cfg->finished == NULL)
    return;
  kf_scenario_result *sc = &pool->slots[index];
  pthread_mutex_lock(&pool->emit_lock);
  pool->cfg->finished(sc, index, pool->cfg->finished_ctx);
  pool->finished[index] = true;
  pthread_mutex_unlock(&pool->emit_lock);
  if (sc->status == KF_STATUS_PASS || sc->status == KF_STATUS_SKIP)
    kf_scenario_result_drop_steps(sc);
}

/* Carry out entry i, with its steps parsed again if its file dropped them. */
static void kh_pool_exec(kh_pool *pool, size_t i) {
  const kh_suite_entry *e = pool->entries[i];
  kh_suite_entry live = *e;
  kf_err err;
  kf_err_init(&err);
  if (kh_reload_acquire(pool->reload, e, &live.scenario, &err) != KF_OK) {
    kf_scenario_result *res = &pool->slots[i];
    res->status = KF_STATUS_ERROR;
    kf_free(res->message);
    res->message = kf_strdup(err.message);
    return;
  }
  kh_exec_scenario(pool->cfg, pool->seen_from, &live, &pool->slots[i]);
  kh_reload_release(pool->reload, e);
}

static void *kh_pool_worker(void *arg) {
  kh_pool *pool = arg;
  /*
   * One connection per worker for all its scenarios: a request then costs
   * what the target takes, not a TCP handshake. Without one (no memory) each
   * request opens its own, which is slower but the same run.
   */
  kh_http_conn *conn = NULL;
  kf_err cerr;
  kf_err_init(&cerr);
  if (kh_http_conn_new(&conn, &cerr) != KF_OK)
    kf_log(KF_LOG_WARN, "no connection to reuse, one per request: %s", cerr.message);
  kh_http_conn_bind(conn);
  for (;;) {
    pthread_mutex_lock(&pool->lock);
    bool cancelled = pool->cfg->cancel != NULL && atomic_load(pool->cfg->cancel);
    size_t k = !cancelled && pool->next < pool->end ? pool->next++ : pool->end;
    pthread_mutex_unlock(&pool->lock);
    if (k >= pool->end)
      break;
    size_t i = pool->order[k];
    kh_pool_exec(pool, i);
    pthread_mutex_lock(&pool->lock);
    pool->done++;
    if (pool->cfg->progress != NULL)
      pool->cfg->progress(&pool->slots[i], pool->done, pool->total, pool->cfg->progress_ctx);
    pthread_mutex_unlock(&pool->lock);
    kf_status st = pool->slots[i].status;
    if (pool->cfg->finished != NULL)
      kh_pool_hand_over(pool, i);
    else if (pool->cfg->lean && (st == KF_STATUS_PASS || st == KF_STATUS_SKIP))
      kf_scenario_result_drop_steps(&pool->slots[i]);
  }
  kh_http_conn_bind(NULL);
  kh_http_conn_free(conn);
  return NULL;
}

/* The run's header and every requirement of the catalogue. */
static kf_rc kh_runner_head(const kh_runner_config *cfg, kf_run_result *run, kf_err *err) {
  run->started_at = kf_time_real_now();
  run->seed = cfg->seed;
  run->run_id = cfg->run_id;
  run->target = kf_strdup(cfg->target_label != NULL ? cfg->target_label : cfg->profile->base_url);
  run->base_url = kf_strdup(cfg->profile->base_url);
  if (run->target == NULL || run->base_url == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  for (size_t i = 0; cfg->catalogue != NULL && i < cfg->catalogue->len; i++) {
    const kh_requirement *r = &cfg->catalogue->items[i];
    if (kf_run_result_add_requirement(run, r->id, r->area, r->title, r->source) != KF_OK)
      return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  }
  return KF_OK;
}

/*
 * Count, per requirement, the covering scenarios the selection left out, and
 * of them those that only --shard gave to another shard.
 */
static void kh_runner_left_out(const kh_runner_config *cfg, kf_run_result *run) {
  const kh_suite *suite = cfg->suite;
  for (size_t r = 0; r < run->requirements_len; r++) {
    kf_requirement *rq = &run->requirements[r];
    size_t position = 0;
    for (size_t i = 0; i < suite->entries_len; i++) {
      const kh_scenario *sc = suite->entries[i].scenario;
      bool selected = kh_selection_match(cfg->selection, sc);
      bool here = selected && kh_shard_has(cfg->shard, position);
      position += selected;
      if (here)
        continue;
      for (size_t j = 0; j < sc->covers_len; j++) {
        if (strcmp(sc->covers[j], rq->id) == 0) {
          rq->not_selected++;
          rq->other_shards += selected;
          break;
        }
      }
    }
  }
}

/* A slot for every selected scenario of the shard, in load order; entries[] (caller's) lists them.
 */
static kf_rc kh_runner_select(const kh_runner_config *cfg, kf_run_result *run,
                              const kh_suite_entry **entries, size_t *total, kf_err *err) {
  const kh_suite *suite = cfg->suite;
  *total = 0;
  size_t position = 0;
  for (size_t i = 0; i < suite->entries_len; i++) {
    const kh_suite_entry *e = &suite->entries[i];
    if (!kh_selection_match(cfg->selection, e->scenario) || !kh_shard_has(cfg->shard, position++))
      continue;
    kf_scenario_result *slot = NULL;
    kf_rc rc = kf_run_result_add_scenario(
        run, e->scenario->name, e->file->path, e->scenario->pos.line,
        (const char *const *)e->scenario->covers, e->scenario->covers_len,
        (const char *const *)e->scenario->tags, e->scenario->tags_len, &slot);
    if (rc != KF_OK)
      return kf_err_set(err, rc, "out of memory");
    entries[(*total)++] = e;
  }
  assert(*total == run->scenarios_len);
  kh_runner_left_out(cfg, run);
  if (cfg->shard != NULL) {
    run->shard_index = cfg->shard->index;
    run->shard_total = cfg->shard->total;
  }
  kh_shard_suite_hash(suite, cfg->selection, &run->suite_scenarios, run->suite_hash);
  if (cfg->catalogue_hash != NULL &&
      kf_str_copy(run->catalogue_hash, sizeof run->catalogue_hash, cfg->catalogue_hash) != KF_OK)
    return kf_err_set(err, KF_ERR_LIMIT, "the catalogue hash is too long");
  return KF_OK;
}

bool kh_runner_selects_need(const kh_suite *suite, const kh_selection *sel, const kh_shard *shard,
                            unsigned need) {
  size_t position = 0;
  for (size_t i = 0; i < suite->entries_len; i++) {
    const kh_scenario *sc = suite->entries[i].scenario;
    if (!kh_selection_match(sel, sc) || !kh_shard_has(shard, position++))
      continue;
    if ((kh_runner_entry_needs(&suite->entries[i]) & need) != 0)
      return true;
  }
  return false;
}

/* The mocks' newest ids now: every wait of this run looks only at what comes later. */
static kf_rc kh_runner_seen_from(const kh_runner_config *cfg, int64_t *seen_from, kf_err *err) {
  const char *apis[2] = {cfg->profile->mail_api, cfg->profile->post_api};
  int64_t *ids[2] = {&seen_from[KH_SUBJECT_MAIL], &seen_from[KH_SUBJECT_LETTER]};
  for (size_t i = 0; i < 2; i++) {
    if (apis[i] == NULL)
      continue;
    kf_err herr;
    kf_err_init(&herr);
    kf_rc rc = kh_mocks_health(apis[i], KH_RUNNER_HEALTH_TIMEOUT_MS, ids[i], &herr);
    if (rc != KF_OK)
      return kf_err_set(err, rc, "the %s mock (%s) cannot tell its last id: %s",
                        i == 0 ? "mail" : "post", apis[i], herr.message);
  }
  return KF_OK;
}

/*
 * Order the entries: scenarios that measure time run alone, after all the
 * others, so that no other scenario's load falls into their samples.
 */
static void kh_runner_order(kh_pool *pool) {
  size_t k = 0;
  for (int alone = 0; alone < 2; alone++) {
    for (size_t i = 0; i < pool->total; i++) {
      bool timing = (kh_runner_entry_needs(pool->entries[i]) & KH_NEED_BIT(TIMING)) != 0;
      if (timing == (alone == 1))
        pool->order[k++] = i;
    }
    if (alone == 0)
      pool->shared = k;
  }
}

/* Run the pool's shared scenarios on up to cfg->jobs threads, then the others one by one. */
static void kh_runner_pool(kh_pool *pool) {
  pthread_mutex_init(&pool->lock, NULL);
  pthread_mutex_init(&pool->emit_lock, NULL);
  kh_runner_order(pool);
  pool->next = 0;
  pool->end = pool->shared;
  size_t jobs = pool->cfg->jobs > 0 ? pool->cfg->jobs : 1;
  if (jobs > pool->shared)
    jobs = pool->shared;
  if (jobs > 256)
    jobs = 256;
  pthread_t threads[256];
  size_t started = 0;
  for (; started < jobs; started++)
    if (pthread_create(&threads[started], NULL, kh_pool_worker, pool) != 0)
      break;
  /* With no thread at all, work on this one: slower, but the run still happens. */
  if (started == 0 && pool->shared > 0)
    kh_pool_worker(pool);
  for (size_t i = 0; i < started; i++)
    pthread_join(threads[i], NULL);
  pool->end = pool->total;
  kh_pool_worker(pool);
  /* Every thread is done: what was never run (a cancel) goes to the reports as it stands. */
  for (size_t i = 0; i < pool->total; i++)
    if (!pool->finished[i])
      kh_pool_hand_over(pool, i);
  pthread_mutex_destroy(&pool->emit_lock);
  pthread_mutex_destroy(&pool->lock);
}

kf_rc kh_runner_run(const kh_runner_config *cfg, kf_run_result *run, kf_err *err) {
  assert(cfg != NULL && cfg->suite != NULL && cfg->profile != NULL && run != NULL);
  assert(cfg->profile->base_url != NULL);
  int64_t start = kf_time_monotonic_ms();
  kf_rc rc = kh_runner_head(cfg, run, err);
  if (rc != KF_OK)
    return rc;
  size_t n = cfg->suite->entries_len;
  const kh_suite_entry **entries = kf_calloc(n > 0 ? n : 1, sizeof(*entries));
  size_t *order = kf_calloc(n > 0 ? n : 1, sizeof(*order));
  bool *finished = kf_calloc(n > 0 ? n : 1, sizeof(*finished));
  if (entries == NULL || order == NULL || finished == NULL) {
    kf_free(entries);
    kf_free(order);
    kf_free(finished);
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  }
  kh_pool pool = {.cfg = cfg, .entries = entries, .order = order, .finished = finished};
  rc = kh_runner_select(cfg, run, entries, &pool.total, err);
  if (rc == KF_OK && kh_reload_new(cfg->suite, entries, pool.total, &pool.reload) != KF_OK)
    rc = kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  if (rc == KF_OK)
    rc = kh_runner_seen_from(cfg, pool.seen_from, err);
  if (rc == KF_OK) {
    /* Slots are only taken now: adding scenarios may move the array. */
    pool.slots = run->scenarios;
    kh_runner_pool(&pool);
  }
  kh_reload_free(pool.reload);
  kf_free(entries);
  kf_free(order);
  kf_free(finished);
  run->duration_ms = kf_time_monotonic_ms() - start;
  return rc;
}
