/*
 * Unit tests for what `konform run` decides before its pool starts: whether
 * the selection needs the embedded stack's timing server
 * (kh_runner_selects_need), and where the stack keeps its folder
 * (kh_stack_tmp_base).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "kf/alloc.h"
#include "kh_diag.h"
#include "kh_parse.h"
#include "kh_runner.h"
#include "kh_shard.h"
#include "kh_stack.h"
#include "kh_step.h"
#include "kh_suite.h"

static const char two_scenarios[] = "scenario: plain\n"
                                    "covers: ACC-01\n"
                                    "GET /api/v1/health\n"
                                    "  expect status == 200\n"
                                    "\n"
                                    "scenario: timed\n"
                                    "covers: ACC-10\n"
                                    "timing 5 rounds\n"
                                    "  a GET /api/v1/health\n"
                                    "  b GET /api/v1/health\n"
                                    "  expect timing.same_class == true\n";

typedef struct suite_fixture {
  kh_file *file;
  kh_suite suite;
  kh_suite_entry entries[2];
} suite_fixture;

static int suite_setup(void **state) {
  suite_fixture *f = test_calloc(1, sizeof *f);
  assert_non_null(f);
  kh_diag diag;
  kh_diag_init(&diag);
  assert_int_equal(
      kh_parse_text("t.konform", two_scenarios, strlen(two_scenarios), &f->file, &diag), KF_OK);
  kh_diag_release(&diag);
  assert_int_equal(f->file->scenarios_len, 2);
  for (size_t i = 0; i < 2; i++) {
    f->entries[i].scenario = &f->file->scenarios[i];
    f->entries[i].file = f->file;
    f->entries[i].index = i;
  }
  f->suite.entries = f->entries;
  f->suite.entries_len = 2;
  *state = f;
  return 0;
}

static int suite_teardown(void **state) {
  suite_fixture *f = *state;
  kh_file_free(f->file);
  test_free(f);
  return 0;
}

static void test_timing_needed_when_selected(void **state) {
  suite_fixture *f = *state;
  unsigned timing = KH_NEED_BIT(TIMING);
  assert_true(kh_runner_selects_need(&f->suite, NULL, NULL, timing));
  kh_selection timed = {.name = "timed"};
  assert_true(kh_runner_selects_need(&f->suite, &timed, NULL, timing));
}

static void test_timing_not_needed_when_left_out(void **state) {
  suite_fixture *f = *state;
  unsigned timing = KH_NEED_BIT(TIMING);
  kh_selection plain = {.name = "plain"};
  assert_false(kh_runner_selects_need(&f->suite, &plain, NULL, timing));
  const char *acc01[] = {"ACC-01"};
  kh_selection covers = {.covers = acc01, .covers_len = 1};
  assert_false(kh_runner_selects_need(&f->suite, &covers, NULL, timing));
  /* Shard 1 of 2 holds the first selected scenario, shard 2 the timed one. */
  kh_shard first = {.index = 1, .total = 2};
  kh_shard second = {.index = 2, .total = 2};
  assert_false(kh_runner_selects_need(&f->suite, NULL, &first, timing));
  assert_true(kh_runner_selects_need(&f->suite, NULL, &second, timing));
}

static bool shm_has_room(void) {
  struct stat st;
  struct statvfs vfs;
  return stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
         access("/dev/shm", W_OK | X_OK) == 0 && statvfs("/dev/shm", &vfs) == 0 &&
         (unsigned long long)vfs.f_bavail * vfs.f_frsize >= 256ull * 1024 * 1024;
}

static void test_stack_folder_base(void **state) {
  (void)state;
  const char *saved = getenv("TMPDIR");
  char *copy = saved != NULL ? kf_strdup(saved) : NULL;
  assert_int_equal(setenv("TMPDIR", "/some/where", 1), 0);
  assert_string_equal(kh_stack_tmp_base(), "/some/where");
  assert_int_equal(unsetenv("TMPDIR"), 0);
  /* Without TMPDIR: memory when there is room for the stores, else the disk. */
  assert_string_equal(kh_stack_tmp_base(), shm_has_room() ? "/dev/shm" : "/tmp");
  assert_int_equal(setenv("TMPDIR", "", 1), 0);
  assert_string_equal(kh_stack_tmp_base(), shm_has_room() ? "/dev/shm" : "/tmp");
  if (copy != NULL)
    assert_int_equal(setenv("TMPDIR", copy, 1), 0);
  else
    assert_int_equal(unsetenv("TMPDIR"), 0);
  kf_free(copy);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_timing_needed_when_selected, suite_setup,
                                      suite_teardown),
      cmocka_unit_test_setup_teardown(test_timing_not_needed_when_left_out, suite_setup,
                                      suite_teardown),
      cmocka_unit_test(test_stack_folder_base),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
