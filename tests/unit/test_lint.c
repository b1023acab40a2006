/*
 * test_lint.c: the static checks of `konform lint`.
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

#include "kh_lint.h"
#include "kt_alloc.h"

static char g_root[64];

static void write_file(const char *name, const char *text) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", g_root, name);
  FILE *fp = fopen(p, "wb");
  assert_non_null(fp);
  fputs(text, fp);
  fclose(fp);
}

static void remove_file(const char *name) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", g_root, name);
  unlink(p);
}

static int setup(void **state) {
  (void)state;
  snprintf(g_root, sizeof g_root, "/tmp/kh-lint-XXXXXX");
  return mkdtemp(g_root) != NULL ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  rmdir(g_root);
  return 0;
}

static const char CATALOGUE[] =
    "{\"version\": 1, \"areas\": {\"ACC\": \"Konto\"}, \"requirements\": ["
    "{\"id\": \"ACC-01\", \"area\": \"ACC\", \"title\": \"t\", \"source\": \"seed\"},"
    "{\"id\": \"ACC-02\", \"area\": \"ACC\", \"title\": \"t\", \"source\": \"seed\"}]}";

/* Lint the given scenario text plus a fragment; returns the report. */
static void lint_text(const char *scenario, const char *fragment, bool with_cat,
                      kh_lint_report *rep) {
  write_file("s.konform", scenario);
  const char *paths[2];
  char p1[256], p2[256];
  snprintf(p1, sizeof p1, "%s/s.konform", g_root);
  paths[0] = p1;
  size_t n = 1;
  if (fragment != NULL) {
    write_file("f.konform", fragment);
    snprintf(p2, sizeof p2, "%s/f.konform", g_root);
    paths[n++] = p2;
  }
  kh_suite suite;
  kh_suite_init(&suite);
  kh_diag diag;
  kh_diag_init(&diag);
  kf_rc rc = kh_suite_load(&suite, paths, n, &diag);
  if (rc != KF_OK)
    print_error("load: %s\n", diag.message);
  assert_int_equal(rc, KF_OK);
  kh_diag_release(&diag);
  kh_catalogue cat;
  kh_catalogue_init(&cat);
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kh_catalogue_load_text(&cat, "c.json", CATALOGUE, strlen(CATALOGUE), &err),
                   KF_OK);
  kh_lint_report_init(rep);
  assert_int_equal(kh_lint_suite(&suite, with_cat ? &cat : NULL, rep), KF_OK);
  kh_catalogue_release(&cat);
  kh_suite_release(&suite);
  remove_file("s.konform");
  remove_file("f.konform");
}

static const kh_diag *find_diag(const kh_lint_report *rep, const char *part) {
  for (size_t i = 0; i < rep->len; i++) {
    if (strstr(rep->items[i].message, part) != NULL)
      return &rep->items[i];
  }
  for (size_t i = 0; i < rep->len; i++)
    print_error("diag: %u:%u %s\n", rep->items[i].line, rep->items[i].col, rep->items[i].message);
  return NULL;
}

static void test_clean_suite(void **state) {
  (void)state;
  kh_lint_report rep;
  lint_text(
      "scenario: ok\ncovers: ACC-01\n"
      "let e = email()\n"
      "let pw = password(length=12, omit=\"digit\")\n"
      "use reg email=\"{{e}}\"\n"
      "GET /x/{{e}}/{{target.base_url}}/{{run.seed}}/{{scenario.name}}/{{token}}/{{frag_let}}\n"
      "  header X-A: {{pw}}\n"
      "  expect status == 200\n"
      "  capture body_text = body\n"
      "  expect body == \"{{body_text}}\"\n"
      "expect var \"body_text\" exists\n"
      "let literal = \"{{{{not a var}}\"\n",
      "fragment: reg\nparams: email\nlet frag_let = \"x\"\nPOST /r\n  json {\"e\": \"{{email}}\"}\n"
      "  capture token = json \"$.token\"\n",
      true, &rep);
  for (size_t i = 0; i < rep.len; i++)
    print_error("unexpected: %s\n", rep.items[i].message);
  assert_int_equal(rep.len, 0);
  assert_int_equal(rep.errors, 0);
  assert_int_equal(rep.warnings, 0);
  kh_lint_report_release(&rep);
}

/* A generated password (or a value built from one) in a JSON body needs |json. */
static void test_password_in_json_body(void **state) {
  (void)state;
  kh_lint_report rep;
  lint_text("scenario: q\ncovers: ACC-01\n"
            "let pw = password()\n"
            "let loud = upper(\"{{pw}}\")\n"
            "let safe = \"plain\"\n"
            "POST /ok\n"
            "  json {\"p\": \"{{pw|json}}\", \"s\": \"{{safe}}\"}\n"
            "  header X-P: {{pw}}\n"
            "  expect status == 200\n"
            "POST /bad\n"
            "  json {\"p\": \"{{loud}}\"}\n"
            "  expect status == 200\n",
            NULL, true, &rep);
  const kh_diag *d = find_diag(&rep, "'loud' may hold a double quote");
  assert_non_null(d);
  assert_int_equal(d->severity, KH_SEV_ERROR);
  assert_int_equal(d->line, 10);
  assert_non_null(strstr(d->hint, "{{loud|json}}"));
  assert_int_equal(rep.errors, 1);
  kh_lint_report_release(&rep);
}

static void test_findings(void **state) {
  (void)state;
  kh_lint_report rep;
  lint_text("scenario: one\ncovers: ACC-01 ACC-99\n"
            "let a = emial()\n"
            "let b = password(omit=\"vowels\")\n"
            "GET /x?q={{later}}\n"
            "  expect body contains \"{{nope}}\"\n"
            "let later = 1\n"
            "expect var \"ghost\" exists\n"
            "scenario: one\ncovers: ACC-02\nGET /y\n",
            "fragment: frag\nparams: p\nGET /{{p}}/{{outer}}\n", true, &rep);
  const kh_diag *d;
  assert_non_null(d = find_diag(&rep, "covers 'ACC-99'"));
  assert_int_equal(d->severity, KH_SEV_ERROR);
  assert_int_equal(d->line, 1);
  assert_non_null(d = find_diag(&rep, "unknown generator 'emial'"));
  assert_int_equal(d->line, 3);
  assert_non_null(d->hint);
  assert_non_null(d = find_diag(&rep, "omit="));
  assert_int_equal(d->line, 4);
  assert_non_null(d = find_diag(&rep, "unknown variable 'later'"));
  assert_int_equal(d->line, 5);
  assert_int_equal(d->col, 10);
  assert_string_equal(d->source_line, "GET /x?q={{later}}");
  assert_non_null(d = find_diag(&rep, "unknown variable 'nope'"));
  assert_int_equal(d->line, 6);
  assert_int_equal(d->col, 25);
  assert_non_null(d = find_diag(&rep, "unknown variable 'ghost'"));
  assert_int_equal(d->line, 8);
  assert_non_null(d = find_diag(&rep, "duplicate scenario name 'one'"));
  assert_int_equal(d->line, 9);
  assert_int_equal(d->severity, KH_SEV_ERROR);
  /* A scenario that asserts nothing would always pass: an error, not a warning. */
  assert_non_null(d = find_diag(&rep, "has no expect"));
  assert_int_equal(d->severity, KH_SEV_ERROR);
  assert_int_equal(d->line, 9);
  assert_non_null(d = find_diag(&rep, "unknown variable 'outer'"));
  assert_int_equal(d->severity, KH_SEV_WARNING);
  for (size_t i = 0; i < rep.len; i++)
    assert_null(strstr(rep.items[i].message, "'p'"));
  assert_int_equal(rep.errors, 8);
  assert_int_equal(rep.warnings, 1);
  assert_int_equal(rep.len, 9);
  /* Every diagnostic renders. */
  for (size_t i = 0; i < rep.len; i++) {
    kf_buf b;
    kf_buf_init(&b, 4096);
    assert_int_equal(kh_diag_format(&rep.items[i], &b), KF_OK);
    kf_buf_release(&b);
  }
  kh_lint_report_release(&rep);
}

/* Lint columns count characters like parse columns, so umlauts do not shift them. */
static void test_columns_in_characters(void **state) {
  (void)state;
  kh_lint_report rep;
  lint_text("scenario: u\ncovers: ACC-01\nGET /grüße/{{later}}\n  expect status == 200\n", NULL,
            true, &rep);
  const kh_diag *d = find_diag(&rep, "unknown variable 'later'");
  assert_non_null(d);
  assert_int_equal(d->col, 12);
  kh_lint_report_release(&rep);
}

/* Lint files given by name (in g_root) with the catalogue; fills rep. */
static void lint_files(const char *const *names, size_t n, kh_lint_report *rep) {
  char paths_buf[4][256];
  const char *paths[4];
  assert_true(n <= 4);
  for (size_t i = 0; i < n; i++) {
    snprintf(paths_buf[i], sizeof paths_buf[i], "%s/%s", g_root, names[i]);
    paths[i] = paths_buf[i];
  }
  kh_suite suite;
  kh_suite_init(&suite);
  kh_diag diag;
  kh_diag_init(&diag);
  kf_rc rc = kh_suite_load(&suite, paths, n, &diag);
  if (rc != KF_OK)
    print_error("load: %s\n", diag.message);
  assert_int_equal(rc, KF_OK);
  kh_diag_release(&diag);
  kh_lint_report_init(rep);
  assert_int_equal(kh_lint_suite(&suite, NULL, rep), KF_OK);
  kh_suite_release(&suite);
}

/* Names identify scenarios in JUnit and the requirement lists, across files too. */
static void test_duplicate_names_across_files(void **state) {
  (void)state;
  write_file("a.konform", "scenario: same\ncovers: ACC-01\nGET /\n  expect status == 200\n");
  write_file("b.konform", "scenario: other\ncovers: ACC-01\nGET /\n  expect status == 200\n"
                          "scenario: same\ncovers: ACC-02\nGET /\n  expect status == 200\n");
  const char *names[] = {"a.konform", "b.konform"};
  kh_lint_report rep;
  lint_files(names, 2, &rep);
  const kh_diag *d = find_diag(&rep, "duplicate scenario name 'same'");
  assert_non_null(d);
  assert_int_equal(d->severity, KH_SEV_ERROR);
  assert_non_null(strstr(d->file, "b.konform"));
  assert_int_equal(d->line, 5);
  assert_non_null(d->hint);
  assert_non_null(strstr(d->hint, "a.konform:1"));
  assert_int_equal(rep.errors, 1);
  kh_lint_report_release(&rep);
  remove_file("a.konform");
  remove_file("b.konform");
}

/* The expect may sit in a fragment used by a fragment; none at all is an error. */
static void test_no_expect_is_error(void **state) {
  (void)state;
  write_file("s.konform", "scenario: deep\ncovers: ACC-01\nuse outer\n"
                          "scenario: empty\ncovers: ACC-01\nuse quiet\n");
  write_file("o.konform", "fragment: outer\nuse inner\n");
  write_file("i.konform", "fragment: inner\nGET /\n  expect status == 200\n");
  write_file("q.konform", "fragment: quiet\nGET /\n  capture s = status\n");
  const char *names[] = {"s.konform", "o.konform", "i.konform", "q.konform"};
  kh_lint_report rep;
  lint_files(names, 4, &rep);
  const kh_diag *d = find_diag(&rep, "scenario 'empty' has no expect");
  assert_non_null(d);
  assert_int_equal(d->severity, KH_SEV_ERROR);
  assert_int_equal(d->line, 4);
  assert_int_equal(rep.errors, 1);
  assert_int_equal(rep.len, 1);
  kh_lint_report_release(&rep);
  remove_file("s.konform");
  remove_file("o.konform");
  remove_file("i.konform");
  remove_file("q.konform");
}

static void test_without_catalogue_and_fragment_expect(void **state) {
  (void)state;
  kh_lint_report rep;
  /* The expect inside the fragment counts for the scenario. */
  lint_text("scenario: s\ncovers: ZZZ-01\nuse f\n", "fragment: f\nGET /\n  expect status == 200\n",
            false, &rep);
  assert_int_equal(rep.len, 0);
  kh_lint_report_release(&rep);
}

static void test_repo_suite_lints_clean(void **state) {
  (void)state;
  if (access("scenarios/catalogue.json", R_OK) != 0)
    skip();
  const char *paths[] = {"scenarios"};
  kh_suite suite;
  kh_suite_init(&suite);
  kh_diag diag;
  kh_diag_init(&diag);
  assert_int_equal(kh_suite_load(&suite, paths, 1, &diag), KF_OK);
  kh_catalogue cat;
  kh_catalogue_init(&cat);
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kh_catalogue_load(&cat, "scenarios/catalogue.json", &err), KF_OK);
  kh_lint_report rep;
  kh_lint_report_init(&rep);
  assert_int_equal(kh_lint_suite(&suite, &cat, &rep), KF_OK);
  for (size_t i = 0; i < rep.len; i++)
    print_error("%s:%u: %s\n", rep.items[i].file, rep.items[i].line, rep.items[i].message);
  assert_int_equal(rep.errors, 0);
  kh_lint_report_release(&rep);
  kh_catalogue_release(&cat);
  kh_suite_release(&suite);
}

typedef struct lint_ctx {
  kh_suite suite;
  kh_catalogue cat;
  size_t errors; /* Of the clean run. */
} lint_ctx;

static bool lint_body(void *data, const kt_alloc_run *run) {
  lint_ctx *ctx = data;
  kh_lint_report rep;
  kh_lint_report_init(&rep);
  kt_alloc_arm(run);
  kf_rc rc = kh_lint_suite(&ctx->suite, &ctx->cat, &rep);
  kt_alloc_disarm();
  if (rc != KF_OK)
    assert_int_equal(rc, KF_ERR_NOMEM);
  else
    assert_int_equal(rep.errors, ctx->errors);
  kh_lint_report_release(&rep);
  return rc == KF_OK;
}

/* Lint reports running out of memory at every allocation, and otherwise finds the same. */
static void test_lint_allocation_failures(void **state) {
  (void)state;
  write_file("s.konform", "scenario: s\ncovers: ACC-01 ACC-99\nlet pw = password()\n"
                          "use frag who=\"{{pw}}\"\nPOST /x\n  json {\"p\": \"{{pw}}\"}\n"
                          "  capture c = body\n  expect var \"c\" == \"{{nope}}\"\n");
  write_file("f.konform", "fragment: frag\nparams: who\nlet y = \"{{who}}\"\n");
  char p1[256], p2[256];
  snprintf(p1, sizeof p1, "%s/s.konform", g_root);
  snprintf(p2, sizeof p2, "%s/f.konform", g_root);
  const char *paths[] = {p1, p2};
  lint_ctx ctx;
  kh_suite_init(&ctx.suite);
  kh_diag diag;
  kh_diag_init(&diag);
  assert_int_equal(kh_suite_load(&ctx.suite, paths, 2, &diag), KF_OK);
  kh_diag_release(&diag);
  kh_catalogue_init(&ctx.cat);
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kh_catalogue_load_text(&ctx.cat, "c.json", CATALOGUE, strlen(CATALOGUE), &err),
                   KF_OK);
  ctx.errors = 3; /* ACC-99, the unescaped password in JSON, {{nope}}. */
  assert_true(kt_alloc_sweep(lint_body, &ctx) > 5);
  kh_catalogue_release(&ctx.cat);
  kh_suite_release(&ctx.suite);
  remove_file("s.konform");
  remove_file("f.konform");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lint_allocation_failures),
      cmocka_unit_test(test_clean_suite),
      cmocka_unit_test(test_findings),
      cmocka_unit_test(test_password_in_json_body),
      cmocka_unit_test(test_columns_in_characters),
      cmocka_unit_test(test_duplicate_names_across_files),
      cmocka_unit_test(test_no_expect_is_error),
      cmocka_unit_test(test_without_catalogue_and_fragment_expect),
      cmocka_unit_test(test_repo_suite_lints_clean),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
