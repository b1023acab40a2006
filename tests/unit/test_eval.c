/*
 * test_eval.c: every query, filter and predicate, with their explanations.
 * Queries are written in the scenario language and parsed, so the tests
 * also cover the parser-to-evaluator contract.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kf/alloc.h"
#include "kh_http.h"
#include "kh_jsonpath.h"
#include "kh_pred.h"
#include "kh_query.h"
#include "kh_subject.h"
#include "kh_text.h"
#include "kt_alloc.h"
#include "kh_parse.h"

static json_t *g_response;
static json_t *g_mail;
static json_t *g_letter;
static kh_vars g_vars;

static int setup(void **state) {
  (void)state;
  json_error_t e;
  g_response = json_loads("{\"status\": 202, \"headers\": {\"content-type\": \"application/json\", "
                          "\"location\": \"/x\"},"
                          " \"body\": \"{\\\"status\\\": \\\"ok\\\", \\\"list\\\": [1, 2, "
                          "3]}\\nline two\\nthird LINE\","
                          " \"json\": {\"status\": \"ok\", \"list\": [1, 2, 3], \"id\": "
                          "\"3f2a1b2c-0d4e-4f60-8a7b-9c0d1e2f3a4b\","
                          " \"weird key\": {\"a\": null}, \"n\": 2.5, \"t\": true, \"obj\": "
                          "{\"b\": 1, \"a\": [1, {\"c\": 2}]}},"
                          " \"duration_ms\": 12}",
                          0, &e);
  g_mail = json_loads(
      "{\"id\": 17, \"from\": \"kontoservice@arbeitsagentur.de\", \"to\": [\"a@b.test\", "
      "\"c@d.test\"],"
      " \"subject\": \"Bestätigung Ihrer E-Mail-Adresse\", \"date\": \"Sat, 28 Mar 2026 10:00:00 "
      "+0000\","
      " \"headers\": {\"date\": \"Sat, 28 Mar 2026 10:00:00 +0000\", \"mime-version\": \"1.0\"},"
      " \"text\": \"Hallo\\nBitte klicken: http://h/link/e-mail-bestaetigen?id=abc\\nDanke\","
      " \"html\": null, \"raw\": \"MIME-Version: 1.0\\r\\n\","
      " \"links\": [\"http://h/impressum\", \"http://h/link/e-mail-bestaetigen?id=abc\"],"
      " \"mime_valid\": true}",
      0, &e);
  g_letter = json_loads(
      "{\"kind\": \"freischaltcode\", \"date\": \"2026-03-01\", \"text\": \"Guten Tag\","
      " \"recipient\": {\"name\": \"Max Mustermann\"}, \"fields\": {\"code\": \"HET2-2X8A-UXAS\"}}",
      0, &e);
  assert_non_null(g_response);
  assert_non_null(g_mail);
  assert_non_null(g_letter);
  kh_vars_init(&g_vars);
  assert_int_equal(kh_vars_set(&g_vars, "email", "a@b.test", 8), KF_OK);
  assert_int_equal(kh_vars_set(&g_vars, "nul", "a\0b", 3), KF_OK);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  json_decref(g_response);
  json_decref(g_mail);
  json_decref(g_letter);
  kh_vars_release(&g_vars);
  return 0;
}

/* The test subjects, each a new reference, as the runner sets them. */
static void subjects_of(kh_subjects *s) {
  kh_subjects_init(s);
  kh_subjects_set(s, KH_SUBJECT_RESPONSE, json_incref(g_response), kh_subject_load_body, NULL);
  kh_subjects_set(s, KH_SUBJECT_MAIL, json_incref(g_mail), NULL, NULL);
  kh_subjects_set(s, KH_SUBJECT_LETTER, json_incref(g_letter), NULL, NULL);
}

/* Parse "expect <rest>" and return the file (check in steps[0].checks[0]). */
static kh_file *parse_check(const char *line) {
  char text[2048];
  snprintf(text, sizeof text, "scenario: s\ncovers: A-01\n%s\n", line);
  kh_file *file = NULL;
  kh_diag diag;
  kh_diag_init(&diag);
  kf_rc rc = kh_parse_text("t.konform", text, strlen(text), &file, &diag);
  if (rc != KF_OK)
    print_error("parse: %s\n", diag.message);
  assert_int_equal(rc, KF_OK);
  kh_diag_release(&diag);
  return file;
}

static const kh_check *check_of(kh_file *f) {
  return &f->scenarios[0].steps[0].checks[0];
}

/* Evaluate `expect ...` fully; returns the verdict and fills explain. */
static bool run_expect(const char *line, char *explain, size_t explain_size) {
  kh_file *f = parse_check(line);
  const kh_check *c = check_of(f);
  kh_subjects subj;
  subjects_of(&subj);
  json_t *value = NULL;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = kh_query_eval(&c->query, &subj, &g_vars, &value, &err);
  if (rc != KF_OK)
    print_error("%s: %s\n", line, err.message);
  assert_int_equal(rc, KF_OK);
  bool holds = false;
  kf_buf b;
  kf_buf_init(&b, 4096);
  assert_int_equal(kh_pred_eval(&c->pred, value, &g_vars, &holds, &b, &err), KF_OK);
  if (explain != NULL)
    snprintf(explain, explain_size, "%s", b.data != NULL ? b.data : "");
  kf_buf_release(&b);
  json_decref(value);
  kh_file_free(f);
  kh_subjects_release(&subj);
  return holds;
}

static void assert_holds(const char *line) {
  char ex[512];
  bool h = run_expect(line, ex, sizeof ex);
  if (!h)
    print_error("expected to hold: %s (%s)\n", line, ex);
  assert_true(h);
}

static void assert_fails(const char *line, const char *explain) {
  char ex[512];
  bool h = run_expect(line, ex, sizeof ex);
  if (h)
    print_error("expected to fail: %s\n", line);
  assert_false(h);
  if (explain != NULL && strcmp(ex, explain) != 0)
    print_error("explain: got [%s] want [%s]\n", ex, explain);
  if (explain != NULL)
    assert_string_equal(ex, explain);
}

static void test_response_queries(void **state) {
  (void)state;
  assert_holds("expect status == 202");
  assert_fails("expect status == 200", "got 202");
  assert_holds("expect status != 200");
  assert_holds("expect header \"Content-Type\" == \"application/json\"");
  assert_holds("expect header \"LOCATION\" startswith \"/\"");
  assert_fails("expect header \"X-Missing\" exists", "value absent");
  assert_holds("expect header \"X-Missing\" not exists");
  assert_holds("expect body contains \"line two\"");
  assert_holds("expect json \"$.status\" == \"ok\"");
  assert_fails("expect json \"$.status\" == \"bad\"", "got \"ok\"");
  assert_holds("expect json \"$.list[0]\" == 1");
  assert_holds("expect json \"$.list[-1]\" == 3");
  assert_fails("expect json \"$.list[3]\" exists", "value absent");
  assert_holds("expect json \"$[\\\"weird key\\\"].a\" == null");
  assert_holds("expect json \"$[\\\"weird key\\\"].a\" exists");
  assert_holds("expect json \"$.t\" == true");
  assert_holds("expect json \"$.t\" != false");
  assert_holds("expect json \"$.n\" > 2");
  assert_holds("expect json \"$.n\" < 3");
  assert_holds("expect json \"$.obj.a[1].c\" == 2");
  assert_holds("expect json \"$.id\" is-uuid");
  assert_fails("expect json \"$.status\" is-uuid", "got \"ok\" (not a canonical UUID)");
  assert_holds("expect duration <= 12");
  assert_holds("expect duration >= 12");
  assert_fails("expect duration < 12", "got 12");
  assert_fails("expect json \"$.status\" < 3", "got \"ok\" (type mismatch: string vs number)");
  assert_holds(
      "expect json \"$.obj\" json-equals \"{\\\"a\\\": [1, {\\\"c\\\": 2}], \\\"b\\\": 1}\"");
  assert_fails("expect json \"$.obj\" json-equals \"{\\\"b\\\": 2}\"",
               "got {\"b\":1,\"a\":[1,{\"c\":2}]}");
  assert_holds("expect json \"$.list\" contains \"2\"");
  assert_fails("expect json \"$.list\" contains \"7\"", "got [1,2,3]");
  assert_holds("expect json \"$.list\" not contains \"7\"");
  assert_holds("expect body matches \"^\\\\{\\\"status\"");
  assert_holds("expect body not matches \"^line\"");
  assert_fails("expect json \"$\" == 1", NULL);
}

static void test_filters(void **state) {
  (void)state;
  assert_holds("expect json \"$.list\" count == 3");
  assert_holds("expect json \"$.obj\" count == 2");
  assert_holds("expect mail.subject count == 32");
  assert_holds("expect json \"$.status\" regex \"(o)k\" == \"o\"");
  assert_holds("expect json \"$.status\" regex \"ok\" == \"ok\"");
  assert_fails("expect json \"$.status\" regex \"zz\" exists", "value absent");
  assert_holds("expect body grep \"LINE|two\" count == 2");
  assert_holds(
      "expect body grep \"LINE|two\" json-equals \"[\\\"line two\\\", \\\"third LINE\\\"]\"");
  assert_holds("expect body grep \"LINE|two\" lower contains \"third line\"");
  assert_holds("expect body grep \"nothing\" count == 0");
  assert_holds("expect mail.links grep \"impressum\" count == 1");
  assert_holds("expect mail.links grep \"nothing\" count == 0");
  assert_holds("expect mail.text grep \"klicken\" regex \"id=([a-z]+)\" == \"abc\"");
  assert_holds("expect json \"$.nope\" count not exists");
  assert_holds("expect json \"$.status\" lower == \"ok\"");
  /* A sentence wrapped across lines reads as written once white space runs are one space. */
  assert_holds("expect mail.text words contains \"Hallo Bitte klicken:\"");
  assert_fails("expect mail.text contains \"Hallo Bitte klicken:\"", NULL);
  assert_holds("expect mail.text words startswith \"Hallo Bitte\"");
  assert_holds("expect mail.text words matches \"abc Danke$\"");
}

/* References on a page resolve as a browser resolves them (RFC 3986 section 5.4). */
static void test_url_resolve(void **state) {
  (void)state;
  static const char *const cases[][2] = {
      {"/anmelden", "http://h:1/anmelden"},
      {"anmelden", "http://h:1/link/anmelden"},
      {"../anmelden", "http://h:1/anmelden"},
      {"https://portal.test/anmelden", "https://portal.test/anmelden"},
      {"?id=2", "http://h:1/link/e-mail-bestaetigen?id=2"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *out = NULL;
    assert_int_equal(
        kh_http_url_resolve("http://h:1/link/e-mail-bestaetigen?id=1", cases[i][0], &out), KF_OK);
    assert_string_equal(out, cases[i][1]);
    kf_free(out);
  }
}

static void test_mail_letter_var(void **state) {
  (void)state;
  assert_holds("expect mail.from == \"kontoservice@arbeitsagentur.de\"");
  assert_holds("expect mail.to contains \"{{email}}\"");
  assert_holds("expect mail.subject startswith \"Bestätigung\"");
  assert_holds("expect mail.date contains \"2026\"");
  assert_holds("expect mail.text contains \"Danke\"");
  assert_holds("expect mail.html == null");
  assert_holds("expect mail.raw startswith \"MIME\"");
  assert_holds("expect mail.header \"MIME-Version\" == \"1.0\"");
  assert_holds("expect mail.links count == 2");
  assert_holds("expect mail.link \"e-mail-bestaetigen[?]id=\" == "
               "\"http://h/link/e-mail-bestaetigen?id=abc\"");
  assert_fails("expect mail.link \"nomatch\" exists", "value absent");
  assert_holds("expect mail.json \"$.mime_valid\" == true");
  assert_holds("expect mail.json \"$.id\" == 17");
  assert_holds("expect letter.kind == \"freischaltcode\"");
  assert_holds("expect letter.text == \"Guten Tag\"");
  assert_holds("expect letter.date == \"2026-03-01\"");
  assert_holds("expect letter.field \"code\" matches \"^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$\"");
  assert_holds("expect letter.json \"$.recipient.name\" == \"Max Mustermann\"");
  assert_holds("expect var \"email\" == \"a@b.test\"");
  assert_holds("expect var \"nul\" == \"a\\x00b\"");
  assert_holds("expect var \"nul\" matches \"^b$\"");
  assert_holds("expect var \"nul\" count == 3");
  assert_holds("expect var \"nul\" regex \"b\" == \"b\"");
}

/*
 * A number and a string that is a whole decimal integer compare as numbers;
 * any other mix of types fails both == and != rather than counting as "not
 * equal", so `expect status != "404"` cannot pass by accident.
 */
static void test_typed_comparisons(void **state) {
  (void)state;
  assert_int_equal(kh_vars_set(&g_vars, "n", "42", 2), KF_OK);
  assert_int_equal(kh_vars_set(&g_vars, "neg", "-7", 2), KF_OK);
  assert_int_equal(kh_vars_set(&g_vars, "fresh_status", "202", 3), KF_OK);
  assert_int_equal(kh_vars_set(&g_vars, "word", "abc", 3), KF_OK);
  /* let n = 42 stores "42"; comparing with the number 42 works. */
  assert_holds("expect var \"n\" == 42");
  assert_fails("expect var \"n\" != 42", "got \"42\"");
  assert_holds("expect var \"n\" != 41");
  assert_holds("expect var \"neg\" == -7");
  assert_holds("expect var \"n\" > 41");
  assert_holds("expect var \"neg\" < 0");
  /* A number query against an interpolated string. */
  assert_holds("expect status == \"{{fresh_status}}\"");
  assert_holds("expect status == \"202\"");
  assert_fails("expect status != \"202\"", "got 202");
  assert_fails("expect status == \"404\"", "got 202");
  assert_holds("expect status != \"404\"");
  assert_holds("expect json \"$.n\" != \"2\"");
  /* Not a whole decimal integer: a type mismatch, false both ways. */
  assert_fails("expect status != \"abc\"", "got 202 (type mismatch: number vs string)");
  assert_fails("expect status == \"abc\"", "got 202 (type mismatch: number vs string)");
  assert_fails("expect status != \"{{word}}\"", "got 202 (type mismatch: number vs string)");
  assert_fails("expect status != \"202.0\"", "got 202 (type mismatch: number vs string)");
  assert_fails("expect status != \" 202\"", "got 202 (type mismatch: number vs string)");
  assert_fails("expect var \"word\" != 5", "got \"abc\" (type mismatch: string vs number)");
  assert_fails("expect var \"word\" > 5", "got \"abc\" (type mismatch: string vs number)");
  assert_fails("expect json \"$.t\" != \"true\"", "got true (type mismatch: boolean vs string)");
  assert_fails("expect json \"$.list\" != 3", "got [1,2,3] (type mismatch: array vs number)");
  assert_fails("expect json \"$.status\" != true", "got \"ok\" (type mismatch: string vs boolean)");
  /* null stays a test for JSON null, on either side of the question. */
  assert_holds("expect json \"$.status\" != null");
  assert_fails("expect json \"$.status\" == null", "got \"ok\"");
  /* An ordering comparison may take an interpolated string that holds an integer. */
  assert_holds("expect status < \"{{n}}0\"");
  assert_fails("expect status < \"{{word}}\"", "got 202 (type mismatch: number vs string)");
}

static void test_errors(void **state) {
  (void)state;
  kh_subjects empty;
  kh_subjects_init(&empty);
  const char *lines[] = {"expect status == 1", "expect mail.subject exists",
                         "expect letter.kind exists"};
  for (size_t i = 0; i < 3; i++) {
    kh_file *f = parse_check(lines[i]);
    json_t *v = NULL;
    kf_err err;
    kf_err_init(&err);
    assert_int_equal(kh_query_eval(&check_of(f)->query, &empty, &g_vars, &v, &err), KF_ERR_STATE);
    assert_null(v);
    assert_true(strlen(err.message) > 0);
    kh_file_free(f);
  }
  kh_subjects subj;
  subjects_of(&subj);
  const char *bad[] = {"expect json \"a.b\" exists",        "expect json \"$.\" exists",
                       "expect json \"$[x]\" exists",       "expect body regex \"(\" exists",
                       "expect mail.link \"[\" exists",     "expect var \"nope\" exists",
                       "expect json \"$.{{nope}}\" exists", "expect body count == 1"};
  kf_rc want[] = {KF_ERR_INVALID, KF_ERR_INVALID,   KF_ERR_INVALID,   KF_ERR_INVALID,
                  KF_ERR_INVALID, KF_ERR_NOT_FOUND, KF_ERR_NOT_FOUND, KF_OK};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    kh_file *f = parse_check(bad[i]);
    json_t *v = NULL;
    kf_err err;
    kf_err_init(&err);
    kf_rc rc = kh_query_eval(&check_of(f)->query, &subj, &g_vars, &v, &err);
    if (rc != want[i])
      print_error("%s: %s\n", bad[i], kf_rc_name(rc));
    assert_int_equal(rc, want[i]);
    if (rc != KF_OK)
      assert_true(strlen(err.message) > 0);
    json_decref(v);
    kh_file_free(f);
  }
  /* count on a number is a scenario error, not a verdict. */
  kh_file *f = parse_check("expect status count == 1");
  json_t *v = NULL;
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kh_query_eval(&check_of(f)->query, &subj, &g_vars, &v, &err), KF_ERR_INVALID);
  kh_file_free(f);
  /* A bad regex or JSON operand in a predicate. */
  const char *badpred[] = {"expect body matches \"(\"", "expect body json-equals \"{\"",
                           "expect body == \"{{nope}}\""};
  for (size_t i = 0; i < 3; i++) {
    f = parse_check(badpred[i]);
    bool holds = true;
    kf_rc rc = kh_pred_eval(&check_of(f)->pred, json_object_get(g_response, "body"), &g_vars,
                            &holds, NULL, &err);
    assert_true(rc == KF_ERR_INVALID || rc == KF_ERR_NOT_FOUND);
    kh_file_free(f);
  }
  kh_subjects_release(&subj);
}

static void test_json_path_and_text(void **state) {
  (void)state;
  json_t *root = json_object_get(g_response, "json");
  json_t *out = NULL;
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kh_jsonpath_get(root, "$", &out, &err), KF_OK);
  assert_ptr_equal(out, root);
  assert_int_equal(kh_jsonpath_get(root, "$.list[-3]", &out, &err), KF_OK);
  assert_int_equal(json_integer_value(out), 1);
  assert_int_equal(kh_jsonpath_get(root, "$.list[-4]", &out, &err), KF_OK);
  assert_null(out);
  assert_int_equal(kh_jsonpath_get(root, "$.status.x", &out, &err), KF_OK);
  assert_null(out);
  assert_int_equal(kh_jsonpath_get(NULL, "$.a", &out, &err), KF_OK);
  assert_null(out);
  assert_int_equal(kh_jsonpath_get(root, "$[\"unterminated", &out, &err), KF_ERR_INVALID);
  assert_int_equal(kh_jsonpath_get(root, "$[1", &out, &err), KF_ERR_INVALID);
  kf_buf b;
  kf_buf_init(&b, 1024);
  assert_int_equal(kh_text_of_value(json_object_get(root, "status"), &b), KF_OK);
  assert_string_equal(b.data, "ok");
  kf_buf_reset(&b);
  assert_int_equal(kh_text_of_value(json_object_get(root, "list"), &b), KF_OK);
  assert_string_equal(b.data, "[1,2,3]");
  kf_buf_reset(&b);
  assert_int_equal(kh_text_of_value(json_object_get(root, "t"), &b), KF_OK);
  assert_string_equal(b.data, "true");
  kf_buf_release(&b);
}

static void test_explain_escapes_and_truncates(void **state) {
  (void)state;
  kh_file *f = parse_check("expect body == \"x\"");
  char longs[600];
  memset(longs, 'a', sizeof longs);
  longs[0] = '\n';
  longs[1] = '"';
  json_t *v = json_stringn(longs, sizeof longs);
  bool holds = true;
  kf_buf b;
  kf_buf_init(&b, 4096);
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kh_pred_eval(&check_of(f)->pred, v, &g_vars, &holds, &b, &err), KF_OK);
  assert_false(holds);
  assert_true(strncmp(b.data, "got \"\\n\\\"aaa", 12) == 0);
  assert_non_null(strstr(b.data, "\"..."));
  assert_true(b.len < 260);
  kf_buf_release(&b);
  json_decref(v);
  kh_file_free(f);
}

#define EVAL_LINES 7

typedef struct eval_ctx {
  kh_file *files[EVAL_LINES];
  kh_subjects subj;
} eval_ctx;

static bool eval_body(void *data, const kt_alloc_run *run) {
  eval_ctx *ctx = data;
  bool ok = true;
  kt_alloc_arm(run);
  for (size_t i = 0; ok && i < EVAL_LINES; i++) {
    const kh_check *c = check_of(ctx->files[i]);
    json_t *v = NULL;
    kf_err err;
    kf_err_init(&err);
    bool holds = false;
    kf_buf b;
    kf_buf_init(&b, 4096);
    kf_rc rc = kh_query_eval(&c->query, &ctx->subj, &g_vars, &v, &err);
    if (rc == KF_OK)
      rc = kh_pred_eval(&c->pred, v, &g_vars, &holds, &b, &err);
    if (rc == KF_OK)
      assert_true(holds); /* A run that got through decides as a clean one. */
    else
      ok = false;
    kf_buf_release(&b);
    json_decref(v);
  }
  kt_alloc_disarm();
  return ok;
}

/* Evaluation fails cleanly at every allocation: an error, never a wrong verdict, no leak. */
static void test_eval_allocation_failures(void **state) {
  (void)state;
  static const char *const lines[] = {"expect body grep \"LINE\" count == 1",
                                      "expect mail.text regex \"id=([a-z]+)\" == \"abc\"",
                                      "expect mail.link \"bestaetigen\" contains \"id=abc\"",
                                      "expect json \"$.list\" json-equals \"[1, 2, 3]\"",
                                      "expect mail.from lower startswith \"kontoservice@\"",
                                      "expect var \"email\" matches \"^a@\"",
                                      "expect json \"$.status\" != \"{{email}}\""};
  eval_ctx ctx;
  for (size_t i = 0; i < EVAL_LINES; i++)
    ctx.files[i] = parse_check(lines[i]);
  subjects_of(&ctx.subj);
  assert_true(kt_alloc_sweep(eval_body, &ctx) > 5);
  kh_subjects_release(&ctx.subj);
  for (size_t i = 0; i < EVAL_LINES; i++)
    kh_file_free(ctx.files[i]);
}

static kf_rc query_value(const char *line, kh_subjects *subj, json_t **v) {
  kh_file *f = parse_check(line);
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = kh_query_eval(&check_of(f)->query, subj, &g_vars, v, &err);
  kh_file_free(f);
  return rc;
}

/* Pages are read as a person sees them; whole answers compare without Date; dates as instants. */
static void test_pages_headers_instants(void **state) {
  (void)state;
  kh_subjects subj;
  kh_subjects_init(&subj);
  json_t *doc =
      json_pack("{s:i,s:{s:s,s:s,s:s},s:s}", "status", 200, "headers", "content-type",
                "text/html; charset=utf-8", "date", "Sat, 28 Mar 2026 10:00:00 GMT", "connection",
                "close", "body",
                "<!DOCTYPE html><html><head><title>T</title><style>p{}</style></head><body>"
                "<h1>Best&auml;tigung</h1><p>Sie haben Ihre E-Mail-Adresse\n   erfolgreich "
                "best&#228;tigt.</p><script>var x = 1;</script><p><a href='/anmelden'>Zur "
                "<b>Anmeldung</b></a> <a href=\"/x\">Anders</a></p></body></html>");
  kh_subjects_set(&subj, KH_SUBJECT_RESPONSE, doc, kh_subject_load_body, NULL);
  json_t *v = NULL;
  assert_int_equal(query_value("expect page.text exists", &subj, &v), KF_OK);
  assert_string_equal(json_string_value(v), "Bestätigung\nSie haben Ihre E-Mail-Adresse "
                                            "erfolgreich bestätigt.\nZur Anmeldung Anders");
  json_decref(v);
  assert_int_equal(query_value("expect page.link \"Zur Anmeldung\" exists", &subj, &v), KF_OK);
  assert_string_equal(json_string_value(v), "/anmelden");
  json_decref(v);
  assert_int_equal(query_value("expect page.link \"Zur\" exists", &subj, &v), KF_OK);
  assert_null(v); /* A link is found by its whole text. */
  assert_int_equal(query_value("expect headers exists", &subj, &v), KF_OK);
  assert_int_equal(json_object_size(v), 1);
  assert_non_null(json_object_get(v, "content-type"));
  json_decref(v);
  assert_int_equal(query_value("expect header \"Date\" instant == 1774692000", &subj, &v), KF_OK);
  assert_int_equal(json_integer_value(v), 1774692000);
  json_decref(v);
  assert_int_equal(query_value("expect header \"Connection\" instant exists", &subj, &v), KF_OK);
  assert_null(v); /* Not a date: absent. */
  kh_subjects_release(&subj);
}

/* A text that holds what it must not is shown around the place it holds it. */
static void test_contains_window(void **state) {
  (void)state;
  char ex[512];
  assert_false(run_expect("expect mail.text not contains \"klicken\"", ex, sizeof ex));
  /* Up to 40 characters before and after the match; "…" where the text goes on. */
  assert_string_equal(ex, "found at character 13: \"Hallo\\nBitte klicken: "
                          "http://h/link/e-mail-bestaetigen?id=ab\"…");
  assert_true(run_expect("expect mail.text contains \"klicken\"", ex, sizeof ex));
}

/* A loader that counts its calls and provides part "raw" once. */
static int loads;
static kf_rc count_load(kh_subject *subject, const char *part, void *ctx, kf_err *err) {
  (void)ctx;
  (void)err;
  loads++;
  if (strcmp(part, "raw") == 0)
    return json_object_set_new(subject->doc, "raw", json_string("RAW")) == 0 ? KF_OK : KF_ERR_NOMEM;
  return KF_OK;
}

/* A body is parsed as JSON only when a query asks, and a lazy part is loaded once. */
static void test_lazy_parts(void **state) {
  (void)state;
  kh_subjects subj;
  kh_subjects_init(&subj);
  json_t *doc = json_pack("{s:i,s:s}", "status", 200, "body", "{\"a\": [1, 2]}");
  kh_subjects_set(&subj, KH_SUBJECT_RESPONSE, doc, kh_subject_load_body, NULL);
  json_t *v = NULL;
  assert_int_equal(query_value("expect status == 200", &subj, &v), KF_OK);
  json_decref(v);
  assert_null(json_object_get(doc, "json"));
  assert_int_equal(query_value("expect json \"$.a[1]\" == 2", &subj, &v), KF_OK);
  assert_int_equal(json_integer_value(v), 2);
  json_decref(v);
  assert_non_null(json_object_get(doc, "json"));
  /* A body that is not JSON: absent, and not parsed again. */
  kh_subjects_set(&subj, KH_SUBJECT_RESPONSE, json_pack("{s:s}", "body", "<html>"),
                  kh_subject_load_body, NULL);
  assert_int_equal(query_value("expect json \"$\" not exists", &subj, &v), KF_OK);
  assert_null(v);
  kh_subjects_set(&subj, KH_SUBJECT_MAIL, json_pack("{s:i}", "id", 3), count_load, NULL);
  loads = 0;
  assert_int_equal(query_value("expect mail.raw == \"RAW\"", &subj, &v), KF_OK);
  assert_string_equal(json_string_value(v), "RAW");
  json_decref(v);
  assert_int_equal(query_value("expect mail.raw == \"RAW\"", &subj, &v), KF_OK);
  json_decref(v);
  assert_int_equal(query_value("expect mail.html == null", &subj, &v), KF_OK);
  assert_int_equal(query_value("expect mail.html == null", &subj, &v), KF_OK);
  assert_int_equal(loads, 2); /* raw once, html once (absent, remembered). */
  kh_subjects_release(&subj);
}

/* A reply as kh_http_perform leaves it for a deferred request (one reference, the caller's). */
static kh_http_reply *reply_of(const char *head, const char *body) {
  kh_http_reply *r = kf_malloc(sizeof *r);
  assert_non_null(r);
  memset(r, 0, sizeof *r);
  r->refs = 1;
  r->purpose = "request";
  r->method = "GET";
  r->url = "http://h/konto/seite";
  r->status = 200;
  r->duration_ms = 7;
  kf_buf_init(&r->head, 4096);
  kf_buf_init(&r->body, 4096);
  assert_int_equal(kf_buf_append_str(&r->head, head), KF_OK);
  assert_int_equal(kf_buf_append_str(&r->body, body), KF_OK);
  return r;
}

static const char REPLY_HEAD[] = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                                 "Set-Cookie: a=1\r\nset-cookie: b=2\r\nX-Empty:\r\n\r\n";
static const char REPLY_BODY[] = "<p><a href=\"../anmelden\">Anmelden</a></p>";

/*
 * A response kept as its bytes gives each part only when a query reads it,
 * made from the bytes: the body's links without a "body" string first.
 */
static void test_reply_parts(void **state) {
  (void)state;
  kh_http_reply *r = reply_of(REPLY_HEAD, REPLY_BODY);
  kh_subjects subj;
  kh_subjects_init(&subj);
  assert_int_equal(kh_subjects_set_reply(&subj, KH_SUBJECT_RESPONSE, r), KF_OK);
  kh_http_reply_unref(r); /* The subject holds the last reference. */
  const json_t *doc = subj.items[KH_SUBJECT_RESPONSE].doc;
  assert_int_equal(json_object_size(doc), 0);
  json_t *v = NULL;
  assert_int_equal(query_value("expect status == 200", &subj, &v), KF_OK);
  assert_int_equal(json_integer_value(v), 200);
  json_decref(v);
  assert_int_equal(json_object_size(doc), 1);
  assert_int_equal(query_value("expect header \"SET-COOKIE\" exists", &subj, &v), KF_OK);
  assert_string_equal(json_string_value(v), "a=1, b=2");
  json_decref(v);
  assert_int_equal(query_value("expect header \"x-empty\" exists", &subj, &v), KF_OK);
  assert_string_equal(json_string_value(v), "");
  json_decref(v);
  assert_int_equal(query_value("expect page.link \"Anmelden\" exists", &subj, &v), KF_OK);
  assert_string_equal(json_string_value(v), "http://h/anmelden");
  json_decref(v);
  assert_null(json_object_get(doc, "body"));
  assert_int_equal(query_value("expect json \"$\" not exists", &subj, &v), KF_OK);
  assert_null(v); /* Not JSON: absent. */
  assert_int_equal(query_value("expect body contains \"Anmelden\"", &subj, &v), KF_OK);
  assert_string_equal(json_string_value(v), REPLY_BODY);
  json_decref(v);
  assert_int_equal(query_value("expect duration == 7", &subj, &v), KF_OK);
  assert_int_equal(json_integer_value(v), 7);
  json_decref(v);
  assert_int_equal(query_value("expect headers exists", &subj, &v), KF_OK);
  assert_int_equal(json_object_size(v), 3);
  json_decref(v);
  kh_subjects_release(&subj);
}

#define REPLY_LINES 5

typedef struct reply_ctx {
  kh_file *files[REPLY_LINES];
  kh_http_reply *reply;
} reply_ctx;

static bool reply_body(void *data, const kt_alloc_run *run) {
  reply_ctx *ctx = data;
  kh_subjects subj;
  kh_subjects_init(&subj);
  kt_alloc_arm(run);
  bool ok = kh_subjects_set_reply(&subj, KH_SUBJECT_RESPONSE, ctx->reply) == KF_OK;
  for (size_t i = 0; ok && i < REPLY_LINES; i++) {
    const kh_check *c = check_of(ctx->files[i]);
    json_t *v = NULL;
    kf_err err;
    kf_err_init(&err);
    bool holds = false;
    kf_buf b;
    kf_buf_init(&b, 4096);
    kf_rc rc = kh_query_eval(&c->query, &subj, &g_vars, &v, &err);
    if (rc == KF_OK)
      rc = kh_pred_eval(&c->pred, v, &g_vars, &holds, &b, &err);
    if (rc == KF_OK)
      assert_true(holds);
    else
      ok = false;
    kf_buf_release(&b);
    json_decref(v);
  }
  kt_alloc_disarm();
  kh_subjects_release(&subj);
  assert_int_equal(ctx->reply->refs, 1); /* The subject gave its reference back. */
  return ok;
}

/* Each part of a reply fails cleanly at every allocation: an error, never a wrong verdict. */
static void test_reply_allocation_failures(void **state) {
  (void)state;
  static const char *const lines[] = {
      "expect status == 200", "expect header \"Set-Cookie\" == \"a=1, b=2\"",
      "expect page.link \"Anmelden\" == \"http://h/anmelden\"", "expect page.text == \"Anmelden\"",
      "expect body contains \"href\""};
  reply_ctx ctx;
  for (size_t i = 0; i < REPLY_LINES; i++)
    ctx.files[i] = parse_check(lines[i]);
  ctx.reply = reply_of(REPLY_HEAD, REPLY_BODY);
  assert_true(kt_alloc_sweep(reply_body, &ctx) > 5);
  kh_http_reply_unref(ctx.reply);
  for (size_t i = 0; i < REPLY_LINES; i++)
    kh_file_free(ctx.files[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lazy_parts),
      cmocka_unit_test(test_reply_parts),
      cmocka_unit_test(test_reply_allocation_failures),
      cmocka_unit_test(test_contains_window),
      cmocka_unit_test(test_pages_headers_instants),
      cmocka_unit_test(test_eval_allocation_failures),
      cmocka_unit_test(test_response_queries),
      cmocka_unit_test(test_filters),
      cmocka_unit_test(test_url_resolve),
      cmocka_unit_test(test_mail_letter_var),
      cmocka_unit_test(test_typed_comparisons),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_json_path_and_text),
      cmocka_unit_test(test_explain_escapes_and_truncates),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
