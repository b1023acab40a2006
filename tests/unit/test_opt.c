/* Unit tests for kf_opt: parsing by table, ranges, operands, did-you-mean and the usage text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "kf/opt.h"

typedef struct cfg {
  bool verbose;
  const char *db;
  int jobs;
  unsigned port;
  size_t max_body;
  long long seed;
  int reports;
} cfg;

static kf_rc add_report(void *data, const char *value, kf_err *err) {
  cfg *c = data;
  if (strchr(value, '=') == NULL)
    return kf_err_set(err, KF_ERR_INVALID, "--report wants KIND=PATH, not \"%s\"", value);
  c->reports++;
  return KF_OK;
}

static const kf_opt OPTS[] = {
    KF_OPT_FLAG_ROW("verbose", 'v', cfg, verbose, "print every request"),
    KF_OPT_STRING_ROW("db", 0, cfg, db, "PATH", "sqlite database (x.db)"),
    KF_OPT_NUM_ROW("jobs", 'j', INT, cfg, jobs, 1, 256, "N", "parallel scenarios (4)"),
    KF_OPT_NUM_ROW("port", 0, UINT, cfg, port, 0, 65535, "N", "HTTP port\n0 picks a free one"),
    KF_OPT_NUM_ROW("max-body", 0, SIZE, cfg, max_body, 1, 1 << 30, "BYTES", "largest body"),
    KF_OPT_NUM_ROW("seed", 0, LLONG, cfg, seed, 0, INT64_MAX, "N", "generator seed"),
    KF_OPT_CALL_ROW("report", 0, add_report, "KIND=PATH", "write a report (repeatable)"),
};
#define N_OPTS (sizeof OPTS / sizeof OPTS[0])

static kf_rc parse(cfg *c, char **argv, int argc, const char **ops, size_t max, size_t *n,
                   kf_err *err) {
  memset(c, 0, sizeof *c);
  kf_err_init(err);
  return kf_opt_parse(OPTS, N_OPTS, argc, argv, 1, c, ops, max, n, err);
}

static void test_parse_forms(void **state) {
  (void)state;
  char *argv[] = {"prog",
                  "-v",
                  "--db",
                  "a.db",
                  "--jobs=8",
                  "--port",
                  "0",
                  "dir1",
                  "--max-body",
                  "1024",
                  "-j",
                  "3",
                  "--seed",
                  "42",
                  "--report=json=x",
                  "--report",
                  "junit=y",
                  "--",
                  "--not-an-option"};
  cfg c;
  kf_err err;
  const char *ops[4];
  size_t n = 0;
  assert_int_equal(parse(&c, argv, (int)(sizeof argv / sizeof argv[0]), ops, 4, &n, &err), KF_OK);
  assert_true(c.verbose);
  assert_string_equal(c.db, "a.db");
  assert_int_equal(c.jobs, 3);
  assert_int_equal(c.port, 0);
  assert_int_equal(c.max_body, 1024);
  assert_int_equal(c.seed, 42);
  assert_int_equal(c.reports, 2);
  assert_int_equal(n, 2);
  assert_string_equal(ops[0], "dir1");
  assert_string_equal(ops[1], "--not-an-option");
}

static void expect_error(char **argv, int argc, const char *needle) {
  cfg c;
  kf_err err;
  const char *ops[1];
  size_t n = 0;
  assert_int_equal(parse(&c, argv, argc, ops, 0, &n, &err), KF_ERR_INVALID);
  if (strstr(err.message, needle) == NULL)
    fail_msg("message \"%s\" lacks \"%s\"", err.message, needle);
}

static void test_errors(void **state) {
  (void)state;
  char *a1[] = {"p", "--jobs", "0"};
  expect_error(a1, 3, "--jobs: expected a whole number from 1 to 256, got \"0\"");
  char *a2[] = {"p", "--jobs"};
  expect_error(a2, 2, "--jobs needs a value (N)");
  char *a3[] = {"p", "--verbose=yes"};
  expect_error(a3, 2, "--verbose takes no value");
  char *a4[] = {"p", "--jbos", "2"};
  expect_error(a4, 3, "unknown option '--jbos' (did you mean --jobs?)");
  char *a5[] = {"p", "--frobnicate"};
  expect_error(a5, 2, "unknown option '--frobnicate'");
  char *a6[] = {"p", "operand"};
  expect_error(a6, 2, "unexpected argument 'operand'");
  char *a7[] = {"p", "--report", "nokind"};
  expect_error(a7, 3, "--report wants KIND=PATH");
  char *a8[] = {"p", "-x"};
  expect_error(a8, 2, "unknown option '-x'");
  char *a9[] = {"p", "--port", "65536"};
  expect_error(a9, 3, "from 0 to 65535");
}

static const kf_opt LONG_OPTS[] = {
    KF_OPT_STRING_ROW("a-very-long-option-name", 0, cfg, db, "PATH", "explained below the head"),
};

static void test_usage(void **state) {
  (void)state;
  kf_buf b;
  kf_buf_init(&b, 4096);
  assert_int_equal(kf_opt_usage(OPTS, N_OPTS, &b), KF_OK);
  assert_non_null(strstr(b.data, "  --verbose, -v         print every request\n"));
  assert_non_null(strstr(b.data, "  --port N              HTTP port\n"
                                 "                        0 picks a free one\n"));
  assert_non_null(strstr(b.data, "  --report KIND=PATH    write a report (repeatable)\n"));
  kf_buf_reset(&b);
  /* A head too long for the column puts its help on the next line. */
  assert_int_equal(kf_opt_usage(LONG_OPTS, 1, &b), KF_OK);
  assert_string_equal(b.data, "  --a-very-long-option-name PATH\n"
                              "                        explained below the head\n");
  assert_non_null(kf_opt_find(OPTS, N_OPTS, "seed"));
  assert_null(kf_opt_find(OPTS, N_OPTS, "see"));
  kf_buf_release(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_forms),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_usage),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
