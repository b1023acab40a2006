/*
 * test_catalogue.c: loading and validating the requirement catalogue.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kf/alloc.h"
#include "kf/file.h"
#include "kh_reqdoc.h"
#include "kh_catalogue.h"
#include "kh_profile.h"

static const char GOOD[] =
    "{\"version\": 1, \"areas\": {\"ACC\": \"Konto\", \"AUTH\": \"Anmeldung\"},"
    " \"requirements\": ["
    "  {\"id\": \"ACC-01\", \"area\": \"ACC\", \"title\": \"Fields\", \"source\": \"seed\", "
    "\"seeds\": [\"000\"]},"
    "  {\"id\": \"AUTH-05\", \"area\": \"AUTH\", \"title\": \"Lockout\", \"source\": \"default\","
    "   \"defaults\": {\"lockout_attempts\": 5, \"lockout_minutes\": 15, \"name\": \"x\", \"on\": "
    "true}},"
    "  {\"id\": \"ACC-07\", \"area\": \"ACC\", \"title\": \"Once\", \"source\": \"practice\", "
    "\"defaults\": {}}"
    "]}";

static kf_rc load(kh_catalogue *cat, const char *text, kf_err *err) {
  return kh_catalogue_load_text(cat, "c.json", text, strlen(text), err);
}

static void test_good(void **state) {
  (void)state;
  kh_catalogue cat;
  kh_catalogue_init(&cat);
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(load(&cat, GOOD, &err), KF_OK);
  assert_int_equal(cat.len, 3);
  assert_int_equal(cat.areas_len, 2);
  assert_string_equal(kh_catalogue_area_title(&cat, "AUTH"), "Anmeldung");
  assert_null(kh_catalogue_area_title(&cat, "PK"));
  const kh_requirement *r = kh_catalogue_find(&cat, "AUTH-05");
  assert_non_null(r);
  assert_string_equal(r->area, "AUTH");
  assert_string_equal(r->title, "Lockout");
  assert_string_equal(r->source, "default");
  assert_int_equal(r->defaults_len, 4);
  assert_string_equal(r->default_keys[0], "lockout_attempts");
  assert_string_equal(r->default_values[0], "5");
  assert_string_equal(r->default_values[2], "x");
  assert_string_equal(r->default_values[3], "true");
  assert_string_equal(cat.items[2].id, "ACC-07");
  assert_null(kh_catalogue_find(&cat, "ACC-99"));
  assert_null(kh_catalogue_find(&cat, NULL));
  kh_catalogue_release(&cat);
}

static void test_invalid(void **state) {
  (void)state;
  struct {
    const char *text;
    const char *msg;
  } cases[] = {
      {"{", "c.json:"},
      {"[]", "top level must be an object"},
      {"{\"version\": 2, \"areas\": {\"A\": \"a\"}, \"requirements\": []}", "version"},
      {"{\"version\": 1, \"areas\": {}, \"requirements\": []}", "areas"},
      {"{\"version\": 1, \"areas\": {\"acc\": \"a\"}, \"requirements\": []}", "upper-case"},
      {"{\"version\": 1, \"areas\": {\"A\": \"a\"}}", "requirements"},
      {"{\"version\": 1, \"areas\": {\"A\": \"a\"}, \"requirements\": [{\"id\": \"A-1\", \"area\": "
       "\"A\", \"title\": \"t\", \"source\": \"seed\"}]}",
       "must look like ACC-01"},
      {"{\"version\": 1, \"areas\": {\"A\": \"a\"}, \"requirements\": [{\"id\": \"a-01\", "
       "\"area\": \"A\", \"title\": \"t\", \"source\": \"seed\"}]}",
       "must look like"},
      {"{\"version\": 1, \"areas\": {\"A\": \"a\"}, \"requirements\": [{\"id\": \"A-011\", "
       "\"area\": \"A\", \"title\": \"t\", \"source\": \"seed\"}]}",
       "must look like"},
      {"{\"version\": 1, \"areas\": {\"A\": \"a\"}, \"requirements\": [{\"id\": \"A-01\", "
       "\"area\": \"A\", \"title\": \"t\", \"source\": \"seed\"},"
       "{\"id\": \"A-01\", \"area\": \"A\", \"title\": \"t\", \"source\": \"seed\"}]}",
       "listed twice"},
      {"{\"version\": 1, \"areas\": {\"A\": \"a\"}, \"requirements\": [{\"id\": \"B-01\", "
       "\"area\": \"B\", \"title\": \"t\", \"source\": \"seed\"}]}",
       "does not list"},
      {"{\"version\": 1, \"areas\": {\"A\": \"a\", \"B\": \"b\"}, \"requirements\": [{\"id\": "
       "\"B-01\", \"area\": \"A\", \"title\": \"t\", \"source\": \"seed\"}]}",
       "not its ID prefix"},
      {"{\"version\": 1, \"areas\": {\"A\": \"a\"}, \"requirements\": [{\"id\": \"A-01\", "
       "\"area\": \"A\", \"title\": \"\", \"source\": \"seed\"}]}",
       "title"},
      {"{\"version\": 1, \"areas\": {\"A\": \"a\"}, \"requirements\": [{\"id\": \"A-01\", "
       "\"area\": \"A\", \"title\": \"t\", \"source\": \"folklore\"}]}",
       "source"},
      {"{\"version\": 1, \"areas\": {\"A\": \"a\"}, \"requirements\": [{\"id\": \"A-01\", "
       "\"area\": \"A\", \"title\": \"t\", \"source\": \"seed\", \"defaults\": []}]}",
       "defaults"},
      {"{\"version\": 1, \"areas\": {\"A\": \"a\"}, \"requirements\": [{\"id\": \"A-01\", "
       "\"area\": \"A\", \"title\": \"t\", \"source\": \"seed\", \"defaults\": {\"k\": [1]}}]}",
       "must be a string, number or boolean"},
      {"{\"version\": 1, \"version\": 1}", "c.json:"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    kh_catalogue cat;
    kh_catalogue_init(&cat);
    kf_err err;
    kf_err_init(&err);
    kf_rc rc = load(&cat, cases[i].text, &err);
    if (rc == KF_OK || strstr(err.message, cases[i].msg) == NULL)
      print_error("case %zu: [%s]\n", i, err.message);
    assert_int_not_equal(rc, KF_OK);
    assert_non_null(strstr(err.message, cases[i].msg));
    assert_int_equal(cat.len, 0);
    kh_catalogue_release(&cat);
  }
}

static void test_file_and_repo_catalogue(void **state) {
  (void)state;
  kh_catalogue cat;
  kh_catalogue_init(&cat);
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kh_catalogue_load(&cat, "/nonexistent/catalogue.json", &err), KF_ERR_IO);
  if (access("scenarios/catalogue.json", R_OK) == 0) {
    kf_rc rc = kh_catalogue_load(&cat, "scenarios/catalogue.json", &err);
    if (rc != KF_OK)
      print_error("%s\n", err.message);
    assert_int_equal(rc, KF_OK);
    assert_non_null(kh_catalogue_find(&cat, "ACC-06"));
    kh_catalogue_release(&cat);
  }
}

/* A profile's own [default] values win; the rest come from the catalogue. */
static void test_fill_defaults(void **state) {
  (void)state;
  kh_catalogue cat;
  kh_catalogue_init(&cat);
  kf_err err;
  kf_err_init(&err);
  const char *text =
      "{\"version\": 1, \"areas\": {\"AUTH\": \"Anmeldung\"}, \"requirements\": ["
      "{\"id\": \"AUTH-05\", \"area\": \"AUTH\", \"title\": \"t\", \"source\": \"practice\","
      " \"defaults\": {\"lockout_attempts\": 5, \"lockout_minutes\": 15}}]}";
  assert_int_equal(kh_catalogue_load_text(&cat, "c.json", text, strlen(text), &err), KF_OK);
  kh_profile profile;
  kh_profile_init(&profile);
  assert_int_equal(kh_profile_set(&profile, "base_url", "http://127.0.0.1:1"), KF_OK);
  assert_int_equal(kh_profile_set(&profile, "defaults.lockout_attempts", "3"), KF_OK);
  kf_buf filled;
  kf_buf_init(&filled, 1024);
  assert_int_equal(kh_catalogue_fill_defaults(&cat, &profile, &filled, &err), KF_OK);
  /* The note names what was filled in. */
  assert_string_equal(filled.data, "lockout_minutes = 15\n");
  assert_string_equal(kh_profile_get(&profile, "defaults.lockout_attempts"), "3");
  assert_string_equal(kh_profile_get(&profile, "defaults.lockout_minutes"), "15");
  /* A [defaults] key the catalogue does not document names the nearest one. */
  assert_int_equal(kh_profile_set(&profile, "defaults.lockout_attemps", "3"), KF_OK);
  assert_int_equal(kh_catalogue_fill_defaults(&cat, &profile, NULL, &err), KF_ERR_INVALID);
  assert_string_equal(err.message, "[defaults] lockout_attemps is no configurable value of the "
                                   "catalogue (did you mean lockout_attempts?)");
  /* A value the catalogue counts in whole numbers must be one, and none may be empty. */
  kh_profile_release(&profile);
  kh_profile_init(&profile);
  assert_int_equal(kh_profile_set(&profile, "base_url", "http://127.0.0.1:1"), KF_OK);
  assert_int_equal(kh_profile_set(&profile, "defaults.lockout_attempts", "five"), KF_OK);
  assert_int_equal(kh_catalogue_fill_defaults(&cat, &profile, NULL, &err), KF_ERR_INVALID);
  assert_string_equal(err.message,
                      "[defaults] lockout_attempts wants a whole number, not \"five\"");
  kf_buf_release(&filled);
  kh_profile_release(&profile);
  kh_catalogue_release(&cat);
}

static void test_alloc_failures(void **state) {
  (void)state;
  kf_alloc_install_jansson();
  for (unsigned long n = 1; n < 10000; n++) {
    kh_catalogue cat;
    kh_catalogue_init(&cat);
    kf_err err;
    kf_err_init(&err);
    kf_alloc_fail_at(n);
    kf_rc rc = load(&cat, GOOD, &err);
    bool failed = kf_alloc_failed();
    kf_alloc_fail_at(0);
    /* jansson absorbs some failures internally (it retries a table resize
       later), so an injected failure may still end in a complete load. */
    if (rc == KF_OK)
      assert_int_equal(cat.len, 3);
    kh_catalogue_release(&cat);
    if (!failed) {
      assert_int_equal(rc, KF_OK);
      break;
    }
  }
}

/* docs/requirements.md is what `konform requirements` makes of the catalogue, to the byte. */
static void test_requirements_doc(void **state) {
  (void)state;
  if (access("docs/requirements.md", R_OK) != 0 || access("scenarios/catalogue.json", R_OK) != 0)
    skip();
  kf_buf cat, doc, md;
  kf_buf_init(&cat, 16u << 20);
  kf_buf_init(&doc, 16u << 20);
  kf_buf_init(&md, 16u << 20);
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kf_file_read("scenarios/catalogue.json", &cat, &err), KF_OK);
  assert_int_equal(kf_file_read("docs/requirements.md", &doc, &err), KF_OK);
  assert_int_equal(kh_reqdoc_render("catalogue.json", cat.data, cat.len, &md, &err), KF_OK);
  if (md.len != doc.len || memcmp(md.data, doc.data, md.len) != 0)
    fail_msg("docs/requirements.md is out of date: run "
             "'build/bin/konform requirements > docs/requirements.md'");
  kf_buf_release(&cat);
  kf_buf_release(&doc);
  kf_buf_release(&md);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_requirements_doc), cmocka_unit_test(test_good),
      cmocka_unit_test(test_invalid),          cmocka_unit_test(test_file_and_repo_catalogue),
      cmocka_unit_test(test_fill_defaults),    cmocka_unit_test(test_alloc_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
