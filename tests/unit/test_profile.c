/*
 * test_profile.c: target profiles: format, derived fields, errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kh_profile.h"

static char g_dir[64];

static int setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/kh-profile-XXXXXX");
  return mkdtemp(g_dir) != NULL ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char p[128];
  snprintf(p, sizeof p, "%s/p.profile", g_dir);
  unlink(p);
  rmdir(g_dir);
  return 0;
}

static kf_rc load_text(kh_profile *prof, const char *text, kf_err *err) {
  char p[128];
  snprintf(p, sizeof p, "%s/p.profile", g_dir);
  FILE *fp = fopen(p, "wb");
  assert_non_null(fp);
  fputs(text, fp);
  fclose(fp);
  return kh_profile_load(prof, p, err);
}

static void test_full_profile(void **state) {
  (void)state;
  kh_profile prof;
  kh_profile_init(&prof);
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = load_text(&prof,
                       "# comment\n"
                       "base_url = http://127.0.0.1:8480\n"
                       "  mail_api=http://127.0.0.1:8426  \n"
                       "post_api = https://post.test\r\n"
                       "\n"
                       "clock = konform\n"
                       "clock_header = X-Clock\n"
                       "wait_timeout = 1m30s\n"
                       "[defaults]\n"
                       "lockout_attempts = 5\n"
                       "[custom]\n"
                       "quoted = \"a # b \\\"c\\\" \"\n"
                       "url_with_hash = http://x/#frag\n"
                       "[ custom.section ]\n"
                       "k =\n",
                       &err);
  if (rc != KF_OK)
    print_error("%s\n", err.message);
  assert_int_equal(rc, KF_OK);
  assert_string_equal(prof.base_url, "http://127.0.0.1:8480");
  assert_string_equal(prof.mail_api, "http://127.0.0.1:8426");
  assert_string_equal(prof.post_api, "https://post.test");
  assert_string_equal(prof.clock, "konform");
  assert_string_equal(prof.clock_header, "X-Clock");
  assert_int_equal(prof.wait_timeout_ms, 90000);
  assert_string_equal(kh_profile_get(&prof, "custom.quoted"), "a # b \"c\" ");
  assert_string_equal(kh_profile_get(&prof, "custom.url_with_hash"), "http://x/#frag");
  assert_string_equal(kh_profile_get(&prof, "defaults.lockout_attempts"), "5");
  assert_string_equal(kh_profile_get(&prof, "custom.section.k"), "");
  assert_null(kh_profile_get(&prof, "lockout_attempts"));
  assert_non_null(prof.path);
  /* Set, replace, and re-derive. */
  assert_int_equal(kh_profile_set(&prof, "base_url", "https://other.test"), KF_OK);
  assert_int_equal(kh_profile_set(&prof, "custom.new", "v"), KF_OK);
  assert_int_equal(kh_profile_finish(&prof, &err), KF_OK);
  assert_string_equal(prof.base_url, "https://other.test");
  assert_string_equal(kh_profile_get(&prof, "custom.new"), "v");
  /* Keys and sections are checked, with the nearest known one named. */
  assert_int_equal(kh_profile_set(&prof, "wait-timeout", "1s"), KF_OK);
  assert_int_equal(kh_profile_finish(&prof, &err), KF_ERR_INVALID);
  assert_string_equal(err.message, "unknown key 'wait-timeout' (did you mean 'wait_timeout'?)");
  kh_profile_release(&prof);
  kh_profile_init(&prof);
  assert_int_equal(kh_profile_set(&prof, "base_url", "http://h"), KF_OK);
  assert_int_equal(kh_profile_set(&prof, "default.x", "1"), KF_OK);
  assert_int_equal(kh_profile_finish(&prof, &err), KF_ERR_INVALID);
  assert_string_equal(err.message, "unknown section [default] (did you mean [defaults]?)");
  kh_profile_release(&prof);
}

static void test_defaults(void **state) {
  (void)state;
  kh_profile prof;
  kh_profile_init(&prof);
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kh_profile_finish(&prof, &err), KF_ERR_INVALID);
  assert_int_equal(kh_profile_set(&prof, "base_url", "http://h"), KF_OK);
  assert_int_equal(kh_profile_finish(&prof, &err), KF_OK);
  assert_null(prof.mail_api);
  assert_null(prof.post_api);
  assert_string_equal(prof.clock, "none");
  assert_string_equal(prof.clock_header, "Konform-Clock");
  assert_int_equal(prof.wait_timeout_ms, 10000);
  assert_null(prof.path);
  kh_profile_release(&prof);
}

static void test_errors(void **state) {
  (void)state;
  struct {
    const char *text;
    const char *msg;
  } cases[] = {
      {"mail_api = http://m\n", "base_url is required"},
      {"base_url = ftp://h\n", "line 1: base_url must be an http:// or https:// URL"},
      {"base_url = http://\n", "line 1: base_url must be an http:// or https:// URL"},
      {"base_url = http://127.0.0.1:99999\n",
       "line 1: base_url must be an http:// or https:// URL"},
      {"base_url = http://h:1 # old\n", "a comment goes on a line of its own"},
      {"base_url = http://h\nmail_api = h:1\n", "line 2: mail_api must be an http"},
      {"base_url = http://h\npost_api = x\n", "line 2: post_api must be an http"},
      {"base_url = http://h\nclock = real\n", "clock must be"},
      {"base_url = http://h\nwait_timeout = soon\n", "wait_timeout must be a duration"},
      {"base_url = http://h\nclock_header = a b\n", "clock_header must be"},
      {"base_url = http://h\njust words\n", "line 2: expected 'key = value'"},
      {"base_url = http://h\n= 3\n", "line 2: expected a key"},
      {"base_url = http://h\nbad key = 3\n", "line 2: bad character"},
      {"base_url = http://h\n\xe9x = 3\n", "line 2: bad byte \\xE9 in key"},
      {"[defaults\n", "line 1: expected ']'"},
      {"[]\n", "line 1: expected a section name"},
      {"base_url = http://h\nbase_url = http://i\n", "line 2: key 'base_url' set twice"},
      {"base_url = \"http://h\n", "line 1: unterminated quoted value"},
      {"base_url = \"http://h\" x\n", "line 1: unexpected text after the closing quote"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    kh_profile prof;
    kh_profile_init(&prof);
    kf_err err;
    kf_err_init(&err);
    kf_rc rc = load_text(&prof, cases[i].text, &err);
    if (rc == KF_OK || strstr(err.message, cases[i].msg) == NULL)
      print_error("case %zu: rc %d message [%s]\n", i, rc, err.message);
    assert_int_not_equal(rc, KF_OK);
    assert_non_null(strstr(err.message, cases[i].msg));
    assert_int_equal(prof.len, 0);
    kh_profile_release(&prof);
  }
  kh_profile prof;
  kh_profile_init(&prof);
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kh_profile_load(&prof, "/nonexistent/x.profile", &err), KF_ERR_IO);
  kh_profile_release(&prof);
}

static void test_reference_profile(void **state) {
  (void)state;
  kh_profile prof;
  kh_profile_init(&prof);
  kf_err err;
  kf_err_init(&err);
  if (access("scenarios/targets/reference.profile", R_OK) != 0)
    skip();
  assert_int_equal(kh_profile_load(&prof, "scenarios/targets/reference.profile", &err), KF_OK);
  assert_string_equal(prof.clock, "konform");
  assert_non_null(kh_profile_get(&prof, "defaults.lockout_attempts"));
  kh_profile_release(&prof);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_full_profile),
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_reference_profile),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
