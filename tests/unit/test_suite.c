/*
 * test_suite.c: loading a suite from files and directories, fragment lookup
 * and `use` resolution, and dropping the steps of a loaded suite and parsing
 * them again for a run (kh_reload), in a temporary directory tree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kh_exec.h"
#include "kh_intern.h"
#include "kh_reload.h"
#include "kh_runner.h"
#include "kh_step_use.h"
#include "kh_suite.h"
#include "kt_alloc.h"

static char g_root[64];

static void write_file(const char *rel, const char *text) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", g_root, rel);
  FILE *fp = fopen(p, "wb");
  assert_non_null(fp);
  fputs(text, fp);
  fclose(fp);
}

static void make_dir(const char *rel) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", g_root, rel);
  assert_int_equal(mkdir(p, 0700), 0);
}

static void remove_path(const char *rel) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", g_root, rel);
  if (unlink(p) != 0)
    rmdir(p);
}

static const char *const TREE_FILES[] = {
    "suite/fragments/reg.konform", "suite/fragments/inner.konform", "suite/acc/b.konform",
    "suite/acc/a.konform",         "suite/acc/notes.txt",           "suite/top.konform"};
static const char *const TREE_DIRS[] = {"suite/acc", "suite/fragments", "suite"};

static int setup(void **state) {
  (void)state;
  snprintf(g_root, sizeof g_root, "/tmp/kh-suite-XXXXXX");
  if (mkdtemp(g_root) == NULL)
    return -1;
  make_dir("suite");
  make_dir("suite/acc");
  make_dir("suite/fragments");
  write_file("suite/fragments/reg.konform", "fragment: registered-account\nparams: email password\n"
                                            "use inner x=\"{{email}}\"\n"
                                            "POST /r\n  expect status == 202\n");
  write_file("suite/fragments/inner.konform",
             "fragment: inner\nparams: x\nGET /i\n  capture got = body\n");
  write_file("suite/acc/b.konform",
             "scenario: B one\ncovers: ACC-02\nGET /b\n  expect status == 200\n"
             "scenario: B two\ncovers: ACC-02\nGET /b2\n  expect status == 200\n");
  write_file("suite/acc/a.konform", "scenario: A\ncovers: ACC-01\nlet e = email()\n"
                                    "use registered-account email=\"{{e}}\" password=\"p\"\n");
  write_file("suite/acc/notes.txt", "not a scenario\n");
  write_file("suite/top.konform",
             "scenario: Top\ncovers: ACC-03\nGET /t\n  expect status == 200\n");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof TREE_FILES / sizeof TREE_FILES[0]; i++)
    remove_path(TREE_FILES[i]);
  for (size_t i = 0; i < sizeof TREE_DIRS / sizeof TREE_DIRS[0]; i++)
    remove_path(TREE_DIRS[i]);
  rmdir(g_root);
  return 0;
}

static void test_load_directory(void **state) {
  (void)state;
  char dir[256];
  snprintf(dir, sizeof dir, "%s/suite/", g_root);
  const char *paths[] = {dir};
  kh_suite suite;
  kh_suite_init(&suite);
  kh_diag diag;
  kh_diag_init(&diag);
  kf_rc rc = kh_suite_load(&suite, paths, 1, &diag);
  if (rc != KF_OK)
    print_error("%s\n", diag.message);
  assert_int_equal(rc, KF_OK);
  /* Sorted walk: acc/a, acc/b, the fragments, top; scenarios first in files. */
  assert_int_equal(suite.files_len, 5);
  assert_int_equal(suite.entries_len, 4);
  assert_string_equal(suite.entries[0].scenario->name, "A");
  assert_string_equal(suite.entries[1].scenario->name, "B one");
  assert_string_equal(suite.entries[2].scenario->name, "B two");
  assert_string_equal(suite.entries[3].scenario->name, "Top");
  for (size_t i = 0; i < 4; i++)
    assert_int_equal(suite.entries[i].index, i);
  assert_ptr_equal(suite.entries[1].file, suite.entries[2].file);
  assert_null(suite.files[0]->fragment);
  assert_null(suite.files[2]->fragment);
  assert_non_null(suite.files[3]->fragment);
  assert_non_null(suite.files[4]->fragment);
  const kh_fragment *reg = kh_suite_fragment(&suite, "registered-account");
  assert_non_null(reg);
  assert_null(kh_suite_fragment(&suite, "nope"));
  const kh_step *use = &suite.entries[0].scenario->steps[1];
  assert_ptr_equal(use->def, &kh_step_use);
  assert_ptr_equal(((const kh_use *)use->data)->resolved, reg);
  /* Uses inside fragments are resolved too. */
  assert_ptr_equal(((const kh_use *)reg->steps[0].data)->resolved,
                   kh_suite_fragment(&suite, "inner"));
  kh_suite_release(&suite);
  kh_diag_release(&diag);
}

/*
 * The files of a suite share one string table: a line written in two files,
 * a requirement ID and a template are stored once, and every file holds a
 * reference to the suite's table (which outlives the files' own release).
 */
static void test_files_share_strings(void **state) {
  (void)state;
  char dir[256];
  snprintf(dir, sizeof dir, "%s/suite", g_root);
  const char *paths[] = {dir};
  kh_suite suite;
  kh_suite_init(&suite);
  kh_diag diag;
  kh_diag_init(&diag);
  assert_int_equal(kh_suite_load(&suite, paths, 1, &diag), KF_OK);
  assert_non_null(suite.strings);
  for (size_t i = 0; i < suite.files_len; i++) {
    assert_ptr_equal(suite.files[i]->strings, suite.strings);
    assert_non_null(suite.files[i]->block);
  }
  const kh_scenario *b1 = suite.entries[1].scenario, *b2 = suite.entries[2].scenario;
  const kh_scenario *top = suite.entries[3].scenario;
  assert_string_equal(top->name, "Top");
  /* "  expect status == 200" in acc/b.konform (twice) and in top.konform. */
  assert_string_equal(b1->steps[0].checks[0].source, "expect status == 200");
  assert_ptr_equal(b1->steps[0].checks[0].source, b2->steps[0].checks[0].source);
  assert_ptr_equal(b1->steps[0].checks[0].source, top->steps[0].checks[0].source);
  assert_ptr_equal(b1->covers[0], b2->covers[0]);
  assert_ptr_not_equal(b1->steps[0].source, b2->steps[0].source); /* GET /b, GET /b2 */
  /* Positions point at the path of their own file, which is in the table too. */
  for (size_t i = 0; i < suite.files_len; i++) {
    const kh_file *f = suite.files[i];
    assert_ptr_equal(f->fragment != NULL ? f->fragment->pos.file : f->scenarios[0].pos.file,
                     f->path);
  }
  /* A second suite from the same files has a table of its own. */
  kh_suite again;
  kh_suite_init(&again);
  assert_int_equal(kh_suite_load(&again, paths, 1, &diag), KF_OK);
  assert_ptr_not_equal(again.strings, suite.strings);
  assert_int_equal(kh_intern_count(again.strings), kh_intern_count(suite.strings));
  kh_suite_release(&again);
  kh_suite_release(&suite);
  kh_diag_release(&diag);
}

static void test_load_single_file_finds_fragments_above(void **state) {
  (void)state;
  char file[256];
  snprintf(file, sizeof file, "%s/suite/acc/a.konform", g_root);
  const char *paths[] = {file, file};
  kh_suite suite;
  kh_suite_init(&suite);
  kh_diag diag;
  kh_diag_init(&diag);
  kf_rc rc = kh_suite_load(&suite, paths, 2, &diag);
  if (rc != KF_OK)
    print_error("%s\n", diag.message);
  assert_int_equal(rc, KF_OK);
  assert_int_equal(suite.entries_len, 1); /* The same file given twice loads once. */
  assert_non_null(kh_suite_fragment(&suite, "registered-account"));
  kh_suite_release(&suite);
}

static kf_rc load_one(const char *rel, kh_diag *diag) {
  char file[256];
  snprintf(file, sizeof file, "%s/%s", g_root, rel);
  const char *paths[] = {file};
  kh_suite suite;
  kh_suite_init(&suite);
  kf_rc rc = kh_suite_load(&suite, paths, 1, diag);
  assert_int_equal(suite.files_len, 0); /* Released on failure. */
  kh_suite_release(&suite);
  return rc;
}

static void test_use_errors(void **state) {
  (void)state;
  kh_diag diag;
  kh_diag_init(&diag);
  write_file("suite/acc/bad.konform", "scenario: X\ncovers: ACC-01\n\nuse nothing-here\n");
  assert_int_equal(load_one("suite/acc/bad.konform", &diag), KF_ERR_NOT_FOUND);
  assert_non_null(strstr(diag.message, "unknown fragment 'nothing-here'"));
  assert_int_equal(diag.line, 4);
  assert_int_equal(diag.col, 1);
  assert_non_null(strstr(diag.file, "bad.konform"));
  assert_string_equal(diag.source_line, "use nothing-here");
  write_file("suite/acc/bad.konform",
             "scenario: X\ncovers: ACC-01\nuse registered-account email=\"a\"\n");
  assert_int_equal(load_one("suite/acc/bad.konform", &diag), KF_ERR_NOT_FOUND);
  assert_non_null(strstr(diag.message, "missing parameter 'password'"));
  assert_int_equal(diag.line, 3);
  write_file("suite/acc/bad.konform", "scenario: X\ncovers: ACC-01\nuse registered-account "
                                      "email=\"a\" password=\"b\" extra=\"c\"\n");
  assert_int_equal(load_one("suite/acc/bad.konform", &diag), KF_ERR_NOT_FOUND);
  assert_non_null(strstr(diag.message, "unknown parameter 'extra'"));
  assert_non_null(strstr(diag.hint, "email password"));
  /* A parse error inside a file of the suite comes through as it is. */
  write_file("suite/acc/bad.konform", "scenario: X\ncovers: ACC-01\nGET /x\n  expect status 200\n");
  assert_int_equal(load_one("suite/acc/bad.konform", &diag), KF_ERR_PARSE);
  assert_int_equal(diag.line, 4);
  remove_path("suite/acc/bad.konform");
  /* Duplicate fragment names. */
  write_file("suite/fragments/dup.konform", "fragment: inner\nGET /dup\n");
  assert_int_equal(load_one("suite/top.konform", &diag), KF_ERR_EXISTS);
  assert_non_null(strstr(diag.message, "defined twice"));
  assert_non_null(strstr(diag.hint, "first defined at"));
  /* A cycle between fragments. */
  write_file("suite/fragments/dup.konform", "fragment: loop\nuse loop\n");
  assert_int_equal(load_one("suite/top.konform", &diag), KF_ERR_INVALID);
  assert_non_null(strstr(diag.message, "cycle"));
  remove_path("suite/fragments/dup.konform");
  /* Missing paths. */
  assert_int_equal(load_one("suite/none.konform", &diag), KF_ERR_IO);
  assert_non_null(strstr(diag.message, "cannot open"));
  kh_diag_release(&diag);
}

/*
 * Write deep/s.konform, whose scenario nests `use` levels deep (d1 uses d2 ...),
 * and load it. Returns the result; the files are removed again.
 */
static kf_rc load_chain(int levels, kh_diag *diag) {
  make_dir("deep");
  make_dir("deep/fragments");
  char name[64], text[128];
  for (int k = 1; k <= levels; k++) {
    snprintf(name, sizeof name, "deep/fragments/d%d.konform", k);
    if (k < levels)
      snprintf(text, sizeof text, "fragment: d%d\nuse d%d\n", k, k + 1);
    else
      snprintf(text, sizeof text, "fragment: d%d\nGET /\n  expect status == 200\n", k);
    write_file(name, text);
  }
  write_file("deep/s.konform", "scenario: deep\ncovers: ACC-01\nuse d1\n");
  const char *paths[1];
  char p[256];
  snprintf(p, sizeof p, "%s/deep/s.konform", g_root);
  paths[0] = p;
  kh_suite suite;
  kh_suite_init(&suite);
  kf_rc rc = kh_suite_load(&suite, paths, 1, diag);
  kh_suite_release(&suite);
  for (int k = 1; k <= levels; k++) {
    snprintf(name, sizeof name, "deep/fragments/d%d.konform", k);
    remove_path(name);
  }
  remove_path("deep/s.konform");
  remove_path("deep/fragments");
  remove_path("deep");
  return rc;
}

/* The nesting limit is the one the runner uses: exactly KH_SUITE_MAX_DEPTH levels load. */
static void test_use_depth_limit(void **state) {
  (void)state;
  kh_diag diag;
  kh_diag_init(&diag);
  assert_int_equal(load_chain(KH_SUITE_MAX_DEPTH, &diag), KF_OK);
  assert_int_equal(load_chain(KH_SUITE_MAX_DEPTH + 1, &diag), KF_ERR_INVALID);
  assert_non_null(strstr(diag.message, "nested more than"));
  assert_non_null(diag.hint);
  kh_diag_release(&diag);
}

static void test_repo_scenarios(void **state) {
  (void)state;
  if (access("scenarios", R_OK) != 0)
    skip();
  const char *paths[] = {"scenarios"};
  kh_suite suite;
  kh_suite_init(&suite);
  kh_diag diag;
  kh_diag_init(&diag);
  kf_rc rc = kh_suite_load(&suite, paths, 1, &diag);
  if (rc != KF_OK)
    print_error("%s:%u: %s\n", diag.file, diag.line, diag.message);
  assert_int_equal(rc, KF_OK);
  assert_true(suite.entries_len > 0);
  kh_suite_release(&suite);
  kh_diag_release(&diag);
}

typedef struct load_ctx {
  const char *dir;
} load_ctx;

static bool load_body(void *data, const kt_alloc_run *run) {
  load_ctx *ctx = data;
  const char *paths[] = {ctx->dir};
  kh_suite suite;
  kh_suite_init(&suite);
  kh_diag diag;
  kh_diag_init(&diag);
  kt_alloc_arm(run);
  kf_rc rc = kh_suite_load(&suite, paths, 1, &diag);
  kt_alloc_disarm();
  if (rc == KF_OK)
    assert_int_equal(suite.entries_len, 4);
  else
    assert_null(suite.files); /* A failed load leaves nothing behind. */
  kh_suite_release(&suite);
  kh_diag_release(&diag);
  return rc == KF_OK;
}

/* Loading fails cleanly at every allocation, transient and persistent. */
static void test_load_allocation_failures(void **state) {
  (void)state;
  char dir[256];
  snprintf(dir, sizeof dir, "%s/suite", g_root);
  load_ctx ctx = {dir};
  assert_true(kt_alloc_sweep(load_body, &ctx) > 10);
}

/* The loaded suite of the tree, which the caller releases. */
static void load_tree(kh_suite *suite) {
  char dir[256];
  snprintf(dir, sizeof dir, "%s/suite", g_root);
  const char *paths[] = {dir};
  kh_diag diag;
  kh_diag_init(&diag);
  kh_suite_init(suite);
  assert_int_equal(kh_suite_load(suite, paths, 1, &diag), KF_OK);
  kh_diag_release(&diag);
  assert_int_equal(suite->entries_len, 4);
}

static const kh_suite_entry *entry_named(const kh_suite *suite, const char *name) {
  for (size_t i = 0; i < suite->entries_len; i++)
    if (strcmp(suite->entries[i].scenario->name, name) == 0)
      return &suite->entries[i];
  fail_msg("no scenario %s", name);
  return NULL;
}

/* Dropped steps leave the heads; a parse again gives the steps back, fragments resolved. */
static void test_drop_steps_and_reparse(void **state) {
  (void)state;
  kh_suite suite;
  load_tree(&suite);
  assert_int_equal(kh_suite_drop_steps(&suite), KF_OK);
  for (size_t i = 0; i < suite.entries_len; i++) {
    const kh_suite_entry *e = &suite.entries[i];
    assert_true(e->file->steps_dropped);
    assert_ptr_equal(e->scenario, &e->file->scenarios[e->in_file]);
    assert_ptr_equal(e->file, suite.files[e->file_index]);
    assert_int_equal(e->scenario->steps_len, 0);
    assert_int_equal(e->scenario->covers_len, 1);
  }
  const kh_suite_entry *b2 = entry_named(&suite, "B two");
  assert_string_equal(b2->scenario->covers[0], "ACC-02");
  assert_true(b2->scenario->pos.line > 1);
  /* Fragment files keep their steps: a parse again resolves uses against them. */
  for (size_t i = 0; i < suite.files_len; i++)
    assert_true(suite.files[i]->steps_dropped == (suite.files[i]->fragment == NULL));

  kf_err err;
  kf_err_init(&err);
  kh_file *again = NULL;
  assert_int_equal(kh_suite_reparse(&suite, b2->file_index, &again, &err), KF_OK);
  assert_int_equal(again->scenarios_len, 2);
  assert_string_equal(again->scenarios[b2->in_file].name, "B two");
  assert_int_equal(again->scenarios[b2->in_file].steps_len, 1);
  kh_file_free(again);

  const kh_suite_entry *a = entry_named(&suite, "A");
  assert_int_equal(kh_suite_reparse(&suite, a->file_index, &again, &err), KF_OK);
  const kh_scenario *sa = &again->scenarios[a->in_file];
  assert_int_equal(sa->steps_len, 2);
  const kh_use *use = sa->steps[1].data;
  assert_non_null(use->resolved);
  assert_string_equal(use->resolved->name, "registered-account");
  kh_file_free(again);
  kh_suite_release(&suite);
}

/* A scenario file edited or removed after the load is refused, never run as it is now. */
static void test_reparse_refuses_a_changed_file(void **state) {
  (void)state;
  static const char top[] = "scenario: Top\ncovers: ACC-03\nGET /t\n  expect status == 200\n";
  kh_suite suite;
  load_tree(&suite);
  assert_int_equal(kh_suite_drop_steps(&suite), KF_OK);
  const kh_suite_entry *t = entry_named(&suite, "Top");
  kf_err err;
  kf_err_init(&err);
  kh_file *again = NULL;
  /* The same bytes written again (a new mtime, as after a touch) are the same file. */
  write_file("suite/top.konform", top);
  assert_int_equal(kh_suite_reparse(&suite, t->file_index, &again, &err), KF_OK);
  kh_file_free(again);
  /* One changed byte in a step, same names, same size: refused. */
  write_file("suite/top.konform",
             "scenario: Top\ncovers: ACC-03\nGET /u\n  expect status == 200\n");
  assert_int_equal(kh_suite_reparse(&suite, t->file_index, &again, &err), KF_ERR_STATE);
  assert_null(again);
  assert_non_null(strstr(err.message, "changed on disk since it was loaded"));
  remove_path("suite/top.konform");
  kf_err_init(&err);
  assert_int_equal(kh_suite_reparse(&suite, t->file_index, &again, &err), KF_ERR_STATE);
  assert_non_null(strstr(err.message, "cannot be parsed again: cannot open"));
  write_file("suite/top.konform", top);
  kh_suite_release(&suite);
}

/* The needs noted before the drop are those the steps give. */
static void test_drop_keeps_needs(void **state) {
  (void)state;
  kh_suite suite;
  load_tree(&suite);
  unsigned before[4];
  for (size_t i = 0; i < suite.entries_len; i++)
    before[i] = kh_exec_scenario_needs(suite.entries[i].scenario);
  assert_int_equal(kh_runner_drop_steps(&suite), KF_OK);
  for (size_t i = 0; i < suite.entries_len; i++) {
    assert_true(suite.entries[i].needs_known);
    assert_int_equal(suite.entries[i].needs, before[i]);
    assert_int_equal(suite.entries[i].scenario->steps_len, 0);
  }
  kh_suite_release(&suite);
}

/* The scenarios of one file share one parse, freed after the last of them. */
static void test_reload_shares_a_parse(void **state) {
  (void)state;
  kh_suite suite;
  load_tree(&suite);
  assert_int_equal(kh_suite_drop_steps(&suite), KF_OK);
  const kh_suite_entry *sel[4];
  for (size_t i = 0; i < 4; i++)
    sel[i] = &suite.entries[i];
  kh_reload *r = NULL;
  assert_int_equal(kh_reload_new(&suite, sel, 4, &r), KF_OK);
  const kh_suite_entry *b1 = entry_named(&suite, "B one"), *b2 = entry_named(&suite, "B two");
  kf_err err;
  kf_err_init(&err);
  const kh_scenario *s1 = NULL, *s2 = NULL;
  assert_int_equal(kh_reload_acquire(r, b1, &s1, &err), KF_OK);
  assert_int_equal(kh_reload_acquire(r, b2, &s2, &err), KF_OK);
  assert_ptr_equal(s2, s1 + (b2->in_file - b1->in_file));
  assert_string_equal(s1->name, "B one");
  assert_int_equal(s1->steps_len, 1);
  kh_reload_release(r, b1);
  assert_string_equal(s2->name, "B two"); /* Still held by B two. */
  kh_reload_release(r, b2);
  const kh_suite_entry *a = entry_named(&suite, "A");
  assert_int_equal(kh_reload_acquire(r, a, &s1, &err), KF_OK);
  assert_int_equal(s1->steps_len, 2);
  /* A is never released: kh_reload_free frees what a cancel left. */
  kh_reload_free(r);
  kh_suite_release(&suite);
}

static bool drop_body(void *data, const kt_alloc_run *run) {
  (void)data;
  kh_suite suite;
  load_tree(&suite);
  kt_alloc_arm(run);
  kf_rc rc = kh_suite_drop_steps(&suite);
  kt_alloc_disarm();
  /* Whatever failed, every entry still names its scenario, with or without steps. */
  for (size_t i = 0; i < suite.entries_len; i++) {
    const kh_suite_entry *e = &suite.entries[i];
    assert_ptr_equal(e->scenario, &e->file->scenarios[e->in_file]);
    assert_true(e->file->steps_dropped || e->scenario->steps_len > 0);
  }
  kh_suite_release(&suite);
  return rc == KF_OK;
}

/* A run's reload at every allocation: each scenario gets its steps or an error, nothing leaks. */
static bool reload_body(void *data, const kt_alloc_run *run) {
  const kh_suite *suite = data;
  const kh_suite_entry *sel[4];
  for (size_t i = 0; i < 4; i++)
    sel[i] = &suite->entries[i];
  bool all = true;
  kt_alloc_arm(run);
  kh_reload *r = NULL;
  kf_rc rc = kh_reload_new(suite, sel, 4, &r);
  for (size_t i = 0; rc == KF_OK && i < 4; i++) {
    kf_err err;
    kf_err_init(&err);
    const kh_scenario *sc = NULL;
    if (kh_reload_acquire(r, sel[i], &sc, &err) != KF_OK) {
      assert_null(sc);
      all = false;
      continue;
    }
    assert_true(sc->steps_len > 0);
    kh_reload_release(r, sel[i]);
  }
  kh_reload_free(r);
  kt_alloc_disarm();
  return rc == KF_OK && all;
}

static void test_reload_allocation_failures(void **state) {
  (void)state;
  kh_suite suite;
  load_tree(&suite);
  assert_int_equal(kh_suite_drop_steps(&suite), KF_OK);
  assert_true(kt_alloc_sweep(reload_body, &suite) > 10);
  kh_suite_release(&suite);
}

/* Dropping fails cleanly at every allocation: a file then keeps its steps. */
static void test_drop_allocation_failures(void **state) {
  (void)state;
  assert_true(kt_alloc_sweep(drop_body, NULL) >= 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_load_directory),
      cmocka_unit_test(test_files_share_strings),
      cmocka_unit_test(test_load_single_file_finds_fragments_above),
      cmocka_unit_test(test_use_errors),
      cmocka_unit_test(test_use_depth_limit),
      cmocka_unit_test(test_repo_scenarios),
      cmocka_unit_test(test_load_allocation_failures),
      cmocka_unit_test(test_drop_steps_and_reparse),
      cmocka_unit_test(test_reparse_refuses_a_changed_file),
      cmocka_unit_test(test_drop_keeps_needs),
      cmocka_unit_test(test_reload_allocation_failures),
      cmocka_unit_test(test_reload_shares_a_parse),
      cmocka_unit_test(test_drop_allocation_failures),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
