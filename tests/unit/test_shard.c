/*
 * test_shard.c: --shard K/N (parsing, the deal: every scenario in exactly one
 * shard), the JSON report read back (kh_result_read, the inverse of
 * kr_json_write) and `konform merge`'s combination of shard results into the
 * single run's (kh_cmd_merge_results).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/run_result.h"
#include "kf/str.h"
#include "kh_cmd_merge.h"
#include "kh_result_read.h"
#include "kh_shard.h"
#include "kr/report.h"
#include "kt_alloc.h"

/* ---- --shard K/N ---- */

static void test_shard_parse(void **state) {
  (void)state;
  kh_shard s;
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kh_shard_parse("1/4", &s, &err), KF_OK);
  assert_int_equal(s.index, 1);
  assert_int_equal(s.total, 4);
  assert_int_equal(kh_shard_parse("4/4", &s, &err), KF_OK);
  assert_int_equal(kh_shard_parse("1/1", &s, &err), KF_OK);
  static const struct {
    const char *text, *says;
  } bad[] = {
      {"0/4", "count from 1"}, {"5/4", "no shard 5 of 4"}, {"1/0", "N must be"},
      {"a/b", "wants K/N"},    {"1/", "wants K/N"},        {"/4", "wants K/N"},
      {"1/4/2", "wants K/N"},  {" 1/4", "wants K/N"},      {"+1/4", "wants K/N"},
      {"1", "wants K/N"},      {"", "wants K/N"},          {"2000/2000", "N must be"},
      {"-1/4", "wants K/N"},   {"1/99999", "wants K/N"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    kf_err_init(&err);
    assert_int_equal(kh_shard_parse(bad[i].text, &s, &err), KF_ERR_INVALID);
    if (strstr(err.message, bad[i].says) == NULL)
      fail_msg("--shard \"%s\": \"%s\" does not say \"%s\"", bad[i].text, err.message, bad[i].says);
  }
}

/* Every position is in exactly one shard, and the shards differ by at most one scenario. */
static void test_shard_deal(void **state) {
  (void)state;
  for (unsigned n = 1; n <= 9; n++) {
    for (size_t total = 0; total <= 40; total++) {
      size_t counts[9] = {0};
      for (size_t pos = 0; pos < total; pos++) {
        unsigned in = 0;
        for (unsigned k = 1; k <= n; k++) {
          kh_shard s = {k, n};
          if (kh_shard_has(&s, pos)) {
            in++;
            counts[k - 1]++;
          }
        }
        assert_int_equal(in, 1);
      }
      for (unsigned k = 0; k < n; k++)
        assert_true(counts[k] + 1 >= total / n && counts[k] <= total / n + 1);
    }
  }
  assert_true(kh_shard_has(NULL, 7));
  kh_shard none = {0, 0};
  assert_true(kh_shard_has(&none, 7));
}

/* ---- Results to read back and merge ---- */

static const char *const cover_a[] = {"ACC-01"};
static const char *const cover_b[] = {"ACC-01", "ACC-06"};
static const char *const cover_c[] = {"ACC-10"};

/* Scenario i of a five-scenario suite, as a run records it. */
static void add_scenario(kf_run_result *run, size_t i, kf_status status) {
  static const char *const *covers[] = {cover_a, cover_b, cover_c, cover_a, cover_b};
  static const size_t covers_len[] = {1, 2, 1, 1, 2};
  char name[32];
  assert_int_equal(kf_str_format(name, sizeof name, "scenario %zu", i), KF_OK);
  kf_scenario_result *sc = NULL;
  const char *tags[] = {"smoke"};
  assert_int_equal(kf_run_result_add_scenario(run, name, "s/a.konform", (unsigned)(10 * i + 1),
                                              covers[i], covers_len[i], tags, 1, &sc),
                   KF_OK);
  sc->status = status;
  sc->duration_ms = (int64_t)i;
  if (status != KF_STATUS_PASS) {
    sc->message = kf_strdup("expect status == 202: got 400");
    sc->fail_file = kf_strdup("s/a.konform");
    sc->fail_line = (unsigned)(10 * i + 3);
  }
  if (status == KF_STATUS_SKIP) {
    sc->skip_kind = KF_SKIP_NO_CLOCK;
  }
}

/* The head every part of one run shares; shard k of n (0: not sharded). */
static void run_head(kf_run_result *run, unsigned k, unsigned n) {
  run->target = kf_strdup("embedded reference stack");
  run->base_url = kf_strdup("http://127.0.0.1:1");
  run->seed = 42;
  run->run_id = 0xabcdef;
  run->started_at = 1774692000;
  run->duration_ms = 100 + k;
  run->shard_index = k;
  run->shard_total = n;
  run->suite_scenarios = 5;
  memcpy(run->suite_hash, "0123456789abcdef0123456789abcdef", KF_RUN_HASH_HEX);
  memcpy(run->catalogue_hash, "fedcba9876543210fedcba9876543210", KF_RUN_HASH_HEX);
  static const char *const ids[] = {"ACC-01", "ACC-06", "ACC-10", "ACC-11"};
  for (size_t i = 0; i < 4; i++)
    assert_int_equal(kf_run_result_add_requirement(run, ids[i], "ACC", "t", "seed"), KF_OK);
}

static const kf_status statuses[5] = {KF_STATUS_PASS, KF_STATUS_PASS, KF_STATUS_FAIL,
                                      KF_STATUS_PASS, KF_STATUS_PASS};

/* Shard k of n as the runner records it: its scenarios, and the others counted as elsewhere. */
static void make_shard(kf_run_result *run, unsigned k, unsigned n) {
  kf_run_result_init(run);
  run_head(run, k, n);
  for (size_t i = 0; i < 5; i++) {
    kh_shard s = {k, n};
    if (kh_shard_has(&s, i)) {
      add_scenario(run, i, statuses[i]);
      continue;
    }
    kf_run_result other;
    kf_run_result_init(&other);
    add_scenario(&other, i, statuses[i]);
    for (size_t r = 0; r < run->requirements_len; r++) {
      if (kf_scenario_result_covers(&other.scenarios[0], run->requirements[r].id)) {
        run->requirements[r].not_selected++;
        run->requirements[r].other_shards++;
      }
    }
    kf_run_result_release(&other);
  }
}

static void tmp_path(char *out, size_t size, const char *what) {
  const char *dir = getenv("TMPDIR");
  assert_int_equal(kf_str_format(out, size, "%s/test_shard_%ld_%s", dir != NULL ? dir : "/tmp",
                                 (long)getpid(), what),
                   KF_OK);
}

/* A step with an exchange, an assert and a binary artifact on scenario 2. */
static void add_records(kf_scenario_result *sc) {
  kf_step_result *st = NULL;
  assert_int_equal(kf_scenario_result_add_step(sc, &st), KF_OK);
  st->label = kf_strdup("POST /api/v1/registrations");
  st->file = kf_strdup("s/a.konform");
  st->line = 22;
  st->status = KF_STATUS_FAIL;
  st->fail_line = 23;
  kf_exchange *ex = NULL;
  assert_int_equal(kf_step_result_add_exchange(st, &ex), KF_OK);
  ex->purpose = kf_strdup("request");
  ex->method = kf_strdup("POST");
  ex->url = kf_strdup("http://127.0.0.1:1/api/v1/registrations");
  assert_int_equal(kf_message_add_header(&ex->request, "Content-Type", "application/json"), KF_OK);
  assert_int_equal(kf_message_set_body(&ex->request, "{\"a\":1}", 7), KF_OK);
  ex->status = 400;
  ex->status_line = kf_strdup("HTTP/1.1 400 Bad Request");
  assert_int_equal(kf_message_set_body(&ex->response, "{\"error\":{}}", 12), KF_OK);
  kf_assert_result *a = NULL;
  assert_int_equal(kf_step_result_add_assert(st, &a), KF_OK);
  a->source = kf_strdup("expect status == 202");
  a->file = kf_strdup("s/a.konform");
  a->line = 23;
  a->status = KF_STATUS_FAIL;
  a->expected = kf_strdup("202");
  a->actual = kf_strdup("got 400");
  a->message = kf_strdup("got 400");
  static const char bytes[] = {'\x89', 'P', 'N', 'G', '\0', '\x01'};
  assert_int_equal(kf_step_result_add_artifact(st, "qr", "image/png", bytes, sizeof bytes), KF_OK);
}

static void test_read_back(void **state) {
  (void)state;
  kf_run_result run;
  make_shard(&run, 1, 1);
  add_records(&run.scenarios[2]);
  char path[512];
  tmp_path(path, sizeof path, "read.json");
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kr_json_write(&run, path, &err), KF_OK);
  kf_run_result back;
  kf_run_result_init(&back);
  if (kh_result_read_file(path, &back, &err) != KF_OK)
    fail_msg("%s", err.message);
  assert_string_equal(back.target, run.target);
  assert_true(back.seed == 42 && back.run_id == 0xabcdef && back.started_at == 1774692000);
  assert_true(back.shard_index == 1 && back.shard_total == 1 && back.suite_scenarios == 5);
  assert_string_equal(back.suite_hash, run.suite_hash);
  assert_string_equal(back.catalogue_hash, run.catalogue_hash);
  assert_int_equal(back.requirements_len, 4);
  assert_int_equal(back.scenarios_len, 5);
  const kf_scenario_result *sc = &back.scenarios[2];
  assert_int_equal(sc->status, KF_STATUS_FAIL);
  assert_string_equal(sc->fail_file, "s/a.konform");
  assert_int_equal(sc->covers_len, 1);
  assert_int_equal(sc->steps_len, 1);
  const kf_step_result *st = &sc->steps[0];
  assert_int_equal(st->fail_line, 23);
  assert_int_equal(st->exchanges[0].status, 400);
  assert_string_equal(st->exchanges[0].request.headers[0].value, "application/json");
  assert_memory_equal(st->exchanges[0].request.body, "{\"a\":1}", 7);
  assert_string_equal(st->asserts[0].actual, "got 400");
  assert_int_equal(st->artifacts[0].len, 6);
  assert_memory_equal(st->artifacts[0].data, "\x89PNG\0\x01", 6);
  for (size_t r = 0; r < 4; r++)
    assert_int_equal(kf_run_result_requirement_status(&back, back.requirements[r].id, NULL),
                     kf_run_result_requirement_status(&run, run.requirements[r].id, NULL));
  kf_run_result_release(&back);
  kf_run_result_release(&run);
  unlink(path);
}

/* A wrong member is named by its path. */
static void test_read_errors(void **state) {
  (void)state;
  static const struct {
    const char *text, *says;
  } bad[] = {
      {"{", "not JSON"},
      {"[]", "not a konform JSON report"},
      {"{\"schema_version\": 1}", "$.schema_version"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    kf_run_result run;
    kf_run_result_init(&run);
    kf_err err;
    kf_err_init(&err);
    assert_int_equal(kh_result_read_text("r.json", bad[i].text, strlen(bad[i].text), &run, &err),
                     KF_ERR_PARSE);
    if (strstr(err.message, bad[i].says) == NULL || strstr(err.message, "r.json") == NULL)
      fail_msg("\"%s\" does not say r.json and \"%s\"", err.message, bad[i].says);
    kf_run_result_release(&run);
  }
  /* A status the schema does not have, deep in a written report. */
  kf_run_result run;
  make_shard(&run, 1, 1);
  char path[512];
  tmp_path(path, sizeof path, "bad.json");
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kr_json_write(&run, path, &err), KF_OK);
  kf_run_result_release(&run);
  kf_buf b;
  kf_buf_init(&b, 1u << 20);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  char chunk[4096];
  size_t got;
  while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
    assert_int_equal(kf_buf_append(&b, chunk, got), KF_OK);
  fclose(f);
  char *fail = strstr(b.data, "\"name\": \"scenario 2\"");
  assert_non_null(fail);
  fail = strstr(fail, "\"status\": \"fail\"");
  assert_non_null(fail);
  memcpy(fail + 11, "flop", 4);
  kf_run_result_init(&run);
  assert_int_equal(kh_result_read_text("r.json", b.data, b.len, &run, &err), KF_ERR_PARSE);
  assert_non_null(strstr(err.message, "$.scenarios[2].status"));
  kf_run_result_release(&run);
  kf_buf_release(&b);
  unlink(path);
}

/* ---- merge ---- */

static void assert_same_verdict(const kf_run_result *a, const kf_run_result *b) {
  assert_int_equal(a->scenarios_len, b->scenarios_len);
  for (size_t i = 0; i < a->scenarios_len; i++) {
    assert_string_equal(a->scenarios[i].name, b->scenarios[i].name);
    assert_int_equal(a->scenarios[i].status, b->scenarios[i].status);
  }
  assert_int_equal(a->requirements_len, b->requirements_len);
  for (size_t r = 0; r < a->requirements_len; r++) {
    assert_int_equal(kf_run_result_requirement_status(a, a->requirements[r].id, NULL),
                     kf_run_result_requirement_status(b, b->requirements[r].id, NULL));
    assert_int_equal(a->requirements[r].not_selected, b->requirements[r].not_selected);
  }
}

static void test_merge_equals_single_run(void **state) {
  (void)state;
  for (unsigned n = 1; n <= 6; n++) {
    kf_run_result single, parts[6], merged;
    make_shard(&single, 1, 1);
    const char *names[6] = {"1.json", "2.json", "3.json", "4.json", "5.json", "6.json"};
    /* The reports in any order: the merge orders by shard, not by argument. */
    for (unsigned k = 0; k < n; k++)
      make_shard(&parts[k], n - k, n);
    kf_run_result_init(&merged);
    kf_buf why;
    kf_buf_init(&why, 4096);
    size_t missing = 9;
    assert_int_equal(kh_cmd_merge_results(parts, names, n, &merged, &missing, &why), KF_OK);
    assert_int_equal(missing, 0);
    assert_same_verdict(&single, &merged);
    assert_true(merged.shard_index == 1 && merged.shard_total == 1);
    assert_int_equal(merged.duration_ms, 100 + n);
    kf_buf_release(&why);
    kf_run_result_release(&merged);
    for (unsigned k = 0; k < n; k++)
      kf_run_result_release(&parts[k]);
    kf_run_result_release(&single);
  }
}

static void test_merge_missing_shard(void **state) {
  (void)state;
  /* Shard 2 of 3 (scenarios 1 and 4: ACC-01 and ACC-06) is missing. */
  kf_run_result parts[2], merged;
  make_shard(&parts[0], 1, 3);
  make_shard(&parts[1], 3, 3);
  const char *names[] = {"1.json", "3.json"};
  kf_run_result_init(&merged);
  kf_buf why;
  kf_buf_init(&why, 4096);
  size_t missing = 0;
  assert_int_equal(kh_cmd_merge_results(parts, names, 2, &merged, &missing, &why), KF_OK);
  assert_int_equal(missing, 1);
  assert_int_equal(merged.scenarios_len, 3);
  assert_string_equal(merged.scenarios[0].name, "scenario 0");
  assert_string_equal(merged.scenarios[1].name, "scenario 2");
  assert_string_equal(merged.scenarios[2].name, "scenario 3");
  assert_int_equal(kf_run_result_requirement_status(&merged, "ACC-01", NULL), KF_REQ_NOT_CHECKED);
  assert_int_equal(kf_run_result_requirement_status(&merged, "ACC-06", NULL), KF_REQ_NOT_CHECKED);
  /* A failure seen in a present shard is a failure whatever is missing. */
  assert_int_equal(kf_run_result_requirement_status(&merged, "ACC-10", NULL), KF_REQ_FAIL);
  assert_int_equal(merged.requirements[0].other_shards, 2);
  assert_int_equal(merged.requirements[1].other_shards, 2);
  kf_buf_release(&why);
  kf_run_result_release(&merged);
  kf_run_result_release(&parts[0]);
  kf_run_result_release(&parts[1]);
}

/* Each difference is one line that names both reports and what differs. */
static void test_merge_refuses(void **state) {
  (void)state;
  kf_run_result parts[3], merged;
  make_shard(&parts[0], 1, 2);
  make_shard(&parts[1], 2, 2);
  make_shard(&parts[2], 2, 2);
  parts[1].suite_hash[0] = 'f';
  parts[1].catalogue_hash[0] = '0';
  parts[1].seed = 43;
  const char *names[] = {"a.json", "b.json", "c.json"};
  kf_run_result_init(&merged);
  kf_buf why;
  kf_buf_init(&why, 4096);
  size_t missing = 0;
  assert_int_equal(kh_cmd_merge_results(parts, names, 3, &merged, &missing, &why), KF_ERR_INVALID);
  assert_non_null(why.data);
  assert_non_null(strstr(why.data, "a.json and b.json: the suites"));
  assert_non_null(strstr(why.data, "a.json and b.json: the catalogues"));
  assert_non_null(strstr(why.data, "a.json and b.json: the seeds differ: --seed 42 against"));
  assert_non_null(strstr(why.data, "b.json and c.json: both are shard 2 of 2"));
  assert_null(strstr(why.data, "a.json and c.json"));
  kf_buf_release(&why);
  kf_run_result_release(&merged);
  for (size_t i = 0; i < 3; i++)
    kf_run_result_release(&parts[i]);
}

typedef struct merge_sweep {
  int unused;
} merge_sweep;

static bool merge_sweep_body(void *ctx, const kt_alloc_run *arun) {
  (void)ctx;
  kf_run_result parts[2], merged;
  make_shard(&parts[0], 2, 2);
  make_shard(&parts[1], 1, 2);
  const char *names[] = {"a.json", "b.json"};
  kf_run_result_init(&merged);
  kf_buf why;
  kf_buf_init(&why, 4096);
  size_t missing = 0;
  kt_alloc_arm(arun);
  kf_rc rc = kh_cmd_merge_results(parts, names, 2, &merged, &missing, &why);
  kt_alloc_disarm();
  assert_true(rc == KF_OK || rc == KF_ERR_NOMEM);
  if (rc == KF_OK)
    assert_int_equal(merged.scenarios_len, 5);
  kf_buf_release(&why);
  kf_run_result_release(&merged);
  kf_run_result_release(&parts[0]);
  kf_run_result_release(&parts[1]);
  return rc == KF_OK;
}

static void test_merge_alloc_failures(void **state) {
  (void)state;
  merge_sweep ms = {0};
  assert_true(kt_alloc_sweep(merge_sweep_body, &ms) > 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_shard_parse),
      cmocka_unit_test(test_shard_deal),
      cmocka_unit_test(test_read_back),
      cmocka_unit_test(test_read_errors),
      cmocka_unit_test(test_merge_equals_single_run),
      cmocka_unit_test(test_merge_missing_shard),
      cmocka_unit_test(test_merge_refuses),
      cmocka_unit_test(test_merge_alloc_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
