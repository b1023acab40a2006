/*
 * test_parse.c: the scenario parser, construct by construct, its error
 * positions and hints, and its behaviour on truncated input and failing
 * allocations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kh_parse.h"
#include "kh_step_check.h"
#include "kh_step_clock.h"
#include "kh_step_http.h"
#include "kh_step_let.h"
#include "kh_step_use.h"
#include "kh_step_wait.h"
#include "kh_expr.h"
#include "kh_intern.h"
#include "kh_filter.h"
#include "kh_pred.h"
#include "kh_query.h"

static const char RICH[] =
    "# A rich file that uses every construct.\n"
    "scenario: Bestätigungslink ist nach genau 24 Stunden noch gültig\n"
    "covers: ACC-06, ACC-08\n"
    "tags: acc clock\n"
    "\n"
    "clock create \"2026-03-28T10:00:00Z\"\n"
    "let email = email()\n"
    "let password = password(length=12, omit=\"digit\")\n"
    "let n = 42\n"
    "let s = \"a\\\"b\\\\c\\n\\t\\x41\\u{E4}{{email}}\"\n"
    "let f = false\n"
    "let r = repeat(\"ab\", 3)\n"
    "  # A comment between sub-lines.\n"
    "use registered-account email=\"{{email}}\" password=\"{{password}}\"\n"
    "\n"
    "POST /api/v1/registrations\n"
    "  header Accept-Language: de\n"
    "  json <<END\n"
    "    {\"email\": \"{{email}}\",\n"
    "      \"x\": 1}\n"
    "  END\n"
    "  option no-clock\n"
    "  option timeout 5s\n"
    "  expect status == 202\n"
    "  expect header \"Content-Type\" startswith \"application/json\"\n"
    "  expect json \"$.status\" != null\n"
    "  expect duration < 5000\n"
    "  expect body not contains \"error\"\n"
    "  expect json \"$.a\" not exists\n"
    "  expect json \"$.id\" is-uuid\n"
    "  expect body json-equals \"{\\\"a\\\": 1}\"\n"
    "  expect body matches \"^x\"\n"
    "  expect body not matches \"y$\"\n"
    "  expect json \"$.list\" count >= 1\n"
    "  expect json \"$.list\" count <= 3\n"
    "  expect json \"$.list\" count > 0\n"
    "  expect header \"X\" exists\n"
    "  capture reply = body\n"
    "wait mail to \"{{email}}\" subject \"Bestätigung\" from \"k@x.de\" within 10s\n"
    "  expect mail.subject == \"Bestätigung Ihrer E-Mail-Adresse\"\n"
    "  capture link = mail.link \"/link/e-mail-bestaetigen[?]id=\"\n"
    "  expect mail.to contains \"{{email}}\"\n"
    "  expect mail.from lower == \"k@x.de\"\n"
    "  expect mail.text grep \"Link\" regex \"(http[^ ]+)\" exists\n"
    "  expect mail.header \"Date\" exists\n"
    "  expect mail.links count == 1\n"
    "  expect mail.json \"$.mime_valid\" == true\n"
    "  expect mail.date exists\n"
    "  expect mail.html == null\n"
    "  expect mail.raw contains \"MIME\"\n"
    "wait letter customer-number \"{{kdnr}}\" kind \"freischaltcode\" to \"Max\"\n"
    "  capture code = letter.field \"code\"\n"
    "  expect letter.kind == \"freischaltcode\"\n"
    "  expect letter.text contains \"Guten Tag\"\n"
    "  expect letter.date exists\n"
    "  expect letter.json \"$.recipient.name\" == \"Max\"\n"
    "clock advance 24h1s\n"
    "clock set \"2026-03-29T10:00:00Z\"\n"
    "clock create now\n"
    "GET {{link}}\n"
    "  body \"raw\\x00text\"\n"
    "expect status == -1\n"
    "capture id = json \"$.id\" regex \"([0-9]+)\"\n"
    "expect var \"id\" == \"{{id}}\"\n"
    "DELETE http://localhost:1/x\n"
    "PUT \"/quoted url\"\n"
    "PATCH /p\n"
    "HEAD /h\n"
    "  body <<TEXT\n"
    "  line one\n"
    "\n"
    "    line three\n"
    "    TEXT\n"
    "\n"
    "scenario: Second\r\n"
    "covers: AUTH-01\r\n"
    "GET /x\r\n";

static kh_file *parse_ok(const char *text) {
  kh_file *file = NULL;
  kh_diag diag;
  kh_diag_init(&diag);
  kf_rc rc = kh_parse_text("t.konform", text, strlen(text), &file, &diag);
  if (rc != KF_OK) {
    kf_buf b;
    kf_buf_init(&b, 1 << 16);
    (void)kh_diag_format(&diag, &b);
    print_error("unexpected parse failure: %s\n", b.data ? b.data : "");
    kf_buf_release(&b);
  }
  assert_int_equal(rc, KF_OK);
  kh_diag_release(&diag);
  assert_non_null(file);
  return file;
}

static void test_rich_file(void **state) {
  (void)state;
  kh_file *f = parse_ok(RICH);
  assert_int_equal(f->scenarios_len, 2);
  assert_null(f->fragment);
  kh_scenario *sc = &f->scenarios[0];
  assert_string_equal(sc->name, "Bestätigungslink ist nach genau 24 Stunden noch gültig");
  assert_int_equal(sc->pos.line, 2);
  assert_int_equal(sc->covers_len, 2);
  assert_string_equal(sc->covers[0], "ACC-06");
  assert_string_equal(sc->covers[1], "ACC-08");
  assert_int_equal(sc->tags_len, 2);
  assert_string_equal(sc->tags[1], "clock");
  size_t k = 0;
  kh_step *st = &sc->steps[k++];
  assert_ptr_equal(st->def, &kh_step_clock);
  assert_int_equal(((const kh_clock_step *)st->data)->op, KH_CLOCK_CREATE);
  assert_string_equal(((const kh_clock_step *)st->data)->iso.text, "2026-03-28T10:00:00Z");
  assert_int_equal(st->pos.line, 6);
  assert_string_equal(st->source, "clock create \"2026-03-28T10:00:00Z\"");
  st = &sc->steps[k++];
  assert_ptr_equal(st->def, &kh_step_let);
  assert_true(((const kh_let *)st->data)->is_call);
  assert_string_equal(((const kh_let *)st->data)->func, "email");
  assert_int_equal(((const kh_let *)st->data)->args_len, 0);
  st = &sc->steps[k++];
  assert_string_equal(((const kh_let *)st->data)->func, "password");
  assert_int_equal(((const kh_let *)st->data)->args_len, 2);
  assert_string_equal(((const kh_let *)st->data)->args[0].name, "length");
  assert_int_equal(((const kh_let *)st->data)->args[0].value.kind, KH_LIT_NUMBER);
  assert_int_equal(((const kh_let *)st->data)->args[0].value.number, 12);
  assert_string_equal(((const kh_let *)st->data)->args[1].name, "omit");
  assert_string_equal(((const kh_let *)st->data)->args[1].value.str.text, "digit");
  st = &sc->steps[k++];
  assert_false(((const kh_let *)st->data)->is_call);
  assert_int_equal(((const kh_let *)st->data)->value.kind, KH_LIT_NUMBER);
  assert_int_equal(((const kh_let *)st->data)->value.number, 42);
  st = &sc->steps[k++];
  assert_int_equal(((const kh_let *)st->data)->value.kind, KH_LIT_STRING);
  assert_int_equal(((const kh_let *)st->data)->value.str.len,
                   strlen("a\"b\\c\n\tA\xC3\xA4{{email}}"));
  assert_memory_equal(((const kh_let *)st->data)->value.str.text, "a\"b\\c\n\tA\xC3\xA4{{email}}",
                      ((const kh_let *)st->data)->value.str.len);
  st = &sc->steps[k++];
  assert_int_equal(((const kh_let *)st->data)->value.kind, KH_LIT_BOOL);
  assert_false(((const kh_let *)st->data)->value.boolean);
  st = &sc->steps[k++];
  assert_string_equal(((const kh_let *)st->data)->func, "repeat");
  assert_null(((const kh_let *)st->data)->args[0].name);
  assert_string_equal(((const kh_let *)st->data)->args[0].value.str.text, "ab");
  assert_int_equal(((const kh_let *)st->data)->args[1].value.number, 3);
  st = &sc->steps[k++];
  assert_ptr_equal(st->def, &kh_step_use);
  assert_string_equal(((const kh_use *)st->data)->fragment_name, "registered-account");
  assert_int_equal(((const kh_use *)st->data)->args_len, 2);
  assert_string_equal(((const kh_use *)st->data)->args[1].name, "password");
  assert_string_equal(((const kh_use *)st->data)->args[1].value.str.text, "{{password}}");
  st = &sc->steps[k++];
  assert_ptr_equal(st->def, &kh_step_http);
  assert_string_equal(((const kh_request *)st->data)->method, "POST");
  assert_string_equal(((const kh_request *)st->data)->url.text, "/api/v1/registrations");
  assert_int_equal(((const kh_request *)st->data)->headers_len, 1);
  assert_string_equal(((const kh_request *)st->data)->headers[0].name.text, "Accept-Language");
  assert_string_equal(((const kh_request *)st->data)->headers[0].value.text, "de");
  assert_true(((const kh_request *)st->data)->body_is_json);
  assert_string_equal(((const kh_request *)st->data)->body.text,
                      "{\"email\": \"{{email}}\",\n  \"x\": 1}");
  assert_true(((const kh_request *)st->data)->no_clock);
  assert_int_equal(((const kh_request *)st->data)->timeout_ms, 5000);
  assert_int_equal(st->checks_len, 15);
  kh_check *ch = &st->checks[0];
  assert_false(ch->is_capture);
  assert_string_equal(ch->query.def->name, "status");
  assert_string_equal(ch->pred.def->text, "==");
  assert_int_equal(ch->pred.operand.number, 202);
  assert_int_equal(ch->pos.line, 24);
  assert_int_equal(ch->pos.col, 3);
  assert_string_equal(ch->source, "expect status == 202");
  assert_string_equal(st->checks[1].query.def->name, "header");
  assert_string_equal(st->checks[1].query.arg.text, "Content-Type");
  assert_string_equal(st->checks[1].pred.def->text, "startswith");
  assert_string_equal(st->checks[2].pred.def->text, "!=");
  assert_int_equal(st->checks[2].pred.operand.kind, KH_LIT_NULL);
  assert_string_equal(st->checks[3].pred.def->text, "<");
  assert_string_equal(st->checks[4].pred.def->text, "not contains");
  assert_string_equal(st->checks[5].pred.def->text, "not exists");
  assert_string_equal(st->checks[6].pred.def->text, "is-uuid");
  assert_string_equal(st->checks[7].pred.def->text, "json-equals");
  assert_string_equal(st->checks[7].pred.operand.str.text, "{\"a\": 1}");
  assert_string_equal(st->checks[8].pred.def->text, "matches");
  assert_string_equal(st->checks[9].pred.def->text, "not matches");
  assert_int_equal(st->checks[10].query.filters_len, 1);
  assert_string_equal(st->checks[10].query.filters[0].def->name, "count");
  assert_string_equal(st->checks[10].pred.def->text, ">=");
  assert_string_equal(st->checks[11].pred.def->text, "<=");
  assert_string_equal(st->checks[12].pred.def->text, ">");
  assert_string_equal(st->checks[13].pred.def->text, "exists");
  assert_true(st->checks[14].is_capture);
  assert_string_equal(st->checks[14].capture_name, "reply");
  assert_string_equal(st->checks[14].query.def->name, "body");
  st = &sc->steps[k++];
  assert_ptr_equal(st->def, &kh_step_wait);
  assert_string_equal(kh_wait_target_word(st->data), "mail");
  assert_string_equal(kh_wait_filter(st->data, "to")->text, "{{email}}");
  assert_string_equal(kh_wait_filter(st->data, "subject")->text, "Bestätigung");
  assert_string_equal(kh_wait_filter(st->data, "from")->text, "k@x.de");
  assert_int_equal(((const kh_wait *)st->data)->within_ms, 10000);
  assert_int_equal(st->checks_len, 11);
  assert_string_equal(st->checks[1].query.def->name, "mail.link");
  assert_string_equal(st->checks[1].query.arg.text, "/link/e-mail-bestaetigen[?]id=");
  assert_string_equal(st->checks[2].query.def->name, "mail.to");
  assert_string_equal(st->checks[3].query.filters[0].def->name, "lower");
  assert_string_equal(st->checks[4].query.def->name, "mail.text");
  assert_int_equal(st->checks[4].query.filters_len, 2);
  assert_string_equal(st->checks[4].query.filters[0].def->name, "grep");
  assert_string_equal(st->checks[4].query.filters[0].arg.text, "Link");
  assert_string_equal(st->checks[4].query.filters[1].def->name, "regex");
  assert_string_equal(st->checks[5].query.def->name, "mail.header");
  assert_string_equal(st->checks[6].query.def->name, "mail.links");
  assert_string_equal(st->checks[7].query.def->name, "mail.json");
  assert_int_equal(st->checks[7].pred.operand.kind, KH_LIT_BOOL);
  assert_true(st->checks[7].pred.operand.boolean);
  assert_string_equal(st->checks[8].query.def->name, "mail.date");
  assert_string_equal(st->checks[9].query.def->name, "mail.html");
  assert_string_equal(st->checks[10].query.def->name, "mail.raw");
  st = &sc->steps[k++];
  assert_string_equal(kh_wait_target_word(st->data), "letter");
  assert_string_equal(kh_wait_filter(st->data, "customer-number")->text, "{{kdnr}}");
  assert_string_equal(kh_wait_filter(st->data, "kind")->text, "freischaltcode");
  assert_string_equal(kh_wait_filter(st->data, "to")->text, "Max");
  assert_int_equal(((const kh_wait *)st->data)->within_ms, 0);
  assert_string_equal(st->checks[0].query.def->name, "letter.field");
  assert_string_equal(st->checks[1].query.def->name, "letter.kind");
  assert_string_equal(st->checks[2].query.def->name, "letter.text");
  assert_string_equal(st->checks[3].query.def->name, "letter.date");
  assert_string_equal(st->checks[4].query.def->name, "letter.json");
  st = &sc->steps[k++];
  assert_int_equal(((const kh_clock_step *)st->data)->op, KH_CLOCK_ADVANCE);
  assert_int_equal(((const kh_clock_step *)st->data)->advance_ms, (24 * 3600 + 1) * 1000LL);
  st = &sc->steps[k++];
  assert_int_equal(((const kh_clock_step *)st->data)->op, KH_CLOCK_SET);
  st = &sc->steps[k++];
  assert_int_equal(((const kh_clock_step *)st->data)->op, KH_CLOCK_CREATE_NOW);
  st = &sc->steps[k++];
  assert_string_equal(((const kh_request *)st->data)->method, "GET");
  assert_string_equal(((const kh_request *)st->data)->url.text, "{{link}}");
  assert_false(((const kh_request *)st->data)->body_is_json);
  assert_int_equal(((const kh_request *)st->data)->body.len, 8);
  assert_memory_equal(((const kh_request *)st->data)->body.text, "raw\0text", 8);
  st = &sc->steps[k++];
  assert_ptr_equal(st->def, &kh_step_check);
  assert_int_equal(st->checks_len, 1);
  assert_int_equal(st->checks[0].pred.operand.number, -1);
  st = &sc->steps[k++];
  assert_ptr_equal(st->def, &kh_step_check);
  assert_true(st->checks[0].is_capture);
  assert_string_equal(st->checks[0].capture_name, "id");
  assert_string_equal(st->checks[0].query.filters[0].def->name, "regex");
  st = &sc->steps[k++];
  assert_string_equal(st->checks[0].query.def->name, "var");
  assert_string_equal(st->checks[0].query.arg.text, "id");
  st = &sc->steps[k++];
  assert_string_equal(((const kh_request *)st->data)->method, "DELETE");
  assert_string_equal(((const kh_request *)st->data)->url.text, "http://localhost:1/x");
  st = &sc->steps[k++];
  assert_string_equal(((const kh_request *)st->data)->url.text, "/quoted url");
  st = &sc->steps[k++];
  assert_string_equal(((const kh_request *)st->data)->method, "PATCH");
  st = &sc->steps[k++];
  assert_string_equal(((const kh_request *)st->data)->method, "HEAD");
  assert_string_equal(((const kh_request *)st->data)->body.text, "line one\n\n  line three");
  assert_int_equal(sc->steps_len, k);
  kh_scenario *sc2 = &f->scenarios[1];
  assert_string_equal(sc2->name, "Second");
  assert_string_equal(sc2->covers[0], "AUTH-01");
  assert_int_equal(sc2->steps_len, 1);
  assert_string_equal(((const kh_request *)sc2->steps[0].data)->url.text, "/x");
  assert_string_equal(sc2->steps[0].source, "GET /x");
  assert_string_equal(sc2->pos.file, "t.konform");
  kh_file_free(f);
}

static void test_fragment(void **state) {
  (void)state;
  kh_file *f = parse_ok("fragment: registered-account\n"
                        "params: email, password\n"
                        "POST /api/v1/registrations\n"
                        "  json {\"email\": \"{{email}}\"}\n"
                        "  expect status == 202\n");
  assert_int_equal(f->scenarios_len, 0);
  assert_non_null(f->fragment);
  assert_string_equal(f->fragment->name, "registered-account");
  assert_int_equal(f->fragment->params_len, 2);
  assert_string_equal(f->fragment->params[1], "password");
  assert_int_equal(f->fragment->steps_len, 1);
  assert_string_equal(((const kh_request *)f->fragment->steps[0].data)->body.text,
                      "{\"email\": \"{{email}}\"}");
  kh_file_free(f);
}

static void test_doc_example(void **state) {
  (void)state;
  kh_file *f =
      parse_ok("# Comments start with '#' at the start of a line (after optional blanks).\n"
               "scenario: Bestätigungslink ist nach genau 24 Stunden noch gültig\n"
               "covers: ACC-06 ACC-08\n"
               "tags: acc clock\n"
               "\n"
               "clock create \"2026-03-28T10:00:00Z\"\n"
               "let email = email()\n"
               "let password = password()\n"
               "\n"
               "use registered-account email=\"{{email}}\" password=\"{{password}}\"\n"
               "\n"
               "wait mail to \"{{email}}\" subject \"Bestätigung Ihrer E-Mail-Adresse\"\n"
               "  capture link = mail.link \"/link/e-mail-bestaetigen[?]id=\"\n"
               "\n"
               "clock advance 24h\n"
               "GET {{link}}\n"
               "  expect status == 200\n"
               "  expect body contains \"Sie haben Ihre E-Mail-Adresse erfolgreich bestätigt.\"\n");
  assert_int_equal(f->scenarios[0].steps_len, 7);
  kh_file_free(f);
}

static void test_hash_in_url_is_literal(void **state) {
  (void)state;
  kh_file *f = parse_ok("scenario: x\ncovers: A-01\nGET /page#frag\n");
  assert_string_equal(((const kh_request *)f->scenarios[0].steps[0].data)->url.text, "/page#frag");
  kh_file_free(f);
}

/*
 * Every code block of docs/scenario-language.md that is a complete scenario or
 * fragment parses, so the language document never shows an example the parser
 * refuses. Runs from the repository root; skipped elsewhere.
 */
static void test_doc_code_blocks(void **state) {
  (void)state;
  FILE *fp = fopen("docs/scenario-language.md", "rb");
  if (fp == NULL)
    skip();
  static char doc[1 << 16];
  size_t n = fread(doc, 1, sizeof doc - 1, fp);
  fclose(fp);
  assert_true(n > 0 && n < sizeof doc - 1);
  doc[n] = '\0';
  size_t complete = 0;
  for (char *open = strstr(doc, "\n```\n"); open != NULL;) {
    char *body = open + 5;
    char *close = strstr(body, "\n```");
    assert_non_null(close);
    size_t len = (size_t)(close - body) + 1;
    bool scenario = (strncmp(body, "scenario:", 9) == 0 || strstr(body, "\nscenario:") != NULL) &&
                    strstr(body, "covers:") != NULL;
    bool fragment = strncmp(body, "fragment:", 9) == 0;
    if (scenario || fragment) {
      kh_file *file = NULL;
      kh_diag diag;
      kh_diag_init(&diag);
      kf_rc rc = kh_parse_text("doc.konform", body, len, &file, &diag);
      if (rc != KF_OK)
        print_error("doc block at offset %zu: %u:%u %s\n", (size_t)(body - doc), diag.line,
                    diag.col, diag.message ? diag.message : "?");
      assert_int_equal(rc, KF_OK);
      kh_file_free(file);
      kh_diag_release(&diag);
      complete++;
    }
    open = strstr(close + 4, "\n```\n");
  }
  /* The complete example, the header block and the fragment header. */
  assert_true(complete >= 3);
}

/* An ordering comparison takes a quoted operand when it holds an integer or interpolates one. */
static void test_ordering_string_operand(void **state) {
  (void)state;
  kh_file *f = parse_ok("scenario: x\ncovers: A-01\nGET /\n  expect status < \"{{max}}\"\n"
                        "  expect duration >= \"-5\"\n");
  const kh_check *c = &f->scenarios[0].steps[0].checks[0];
  assert_string_equal(c->pred.def->text, "<");
  assert_int_equal(c->pred.operand.kind, KH_LIT_STRING);
  assert_string_equal(c->pred.operand.str.text, "{{max}}");
  kh_file_free(f);
}

/* Parse text expecting an error at line:col whose message and hint contain the given parts. */
static void expect_error(const char *text, unsigned line, unsigned col, const char *msg_part,
                         const char *hint_part) {
  kh_file *file = NULL;
  kh_diag diag;
  kh_diag_init(&diag);
  kf_rc rc = kh_parse_text("e.konform", text, strlen(text), &file, &diag);
  assert_int_equal(rc, KF_ERR_PARSE);
  assert_null(file);
  assert_non_null(diag.message);
  if (diag.line != line || diag.col != col || strstr(diag.message, msg_part) == NULL ||
      (hint_part != NULL && (diag.hint == NULL || strstr(diag.hint, hint_part) == NULL))) {
    print_error("got %u:%u %s / hint %s\n", diag.line, diag.col, diag.message,
                diag.hint ? diag.hint : "(none)");
  }
  assert_int_equal(diag.line, line);
  assert_int_equal(diag.col, col);
  assert_non_null(strstr(diag.message, msg_part));
  if (hint_part != NULL) {
    assert_non_null(diag.hint);
    assert_non_null(strstr(diag.hint, hint_part));
  }
  assert_string_equal(diag.file, "e.konform");
  kh_diag_release(&diag);
}

#define HEAD "scenario: s\ncovers: ACC-01\n"

static void test_errors(void **state) {
  (void)state;
  expect_error(HEAD "GET /x\n  expect status 200\n", 4, 17, "expected a predicate after the query",
               "write 'expect status == 200'");
  expect_error(HEAD "GET /x\n  expect status\n", 4, 16, "expected a predicate", "valid predicates");
  expect_error(HEAD "GET /x\n  expect status equals 200\n", 4, 17, "unknown predicate 'equals'",
               "valid predicates");
  expect_error(HEAD "GET /x\n  expect body contain \"x\"\n", 4, 15, "unknown predicate 'contain'",
               "did you mean 'contains'?");
  expect_error(HEAD "wiat mail\n", 3, 1, "unknown step 'wiat'", "did you mean 'wait'?");
  expect_error(HEAD "get /x\n", 3, 1, "unknown step 'get'", "did you mean 'GET'?");
  expect_error(HEAD "  expect status == 200\n", 3, 3, "indented line before any step", "column 1");
  expect_error(HEAD "let x = \"abc\n", 3, 9, "unterminated string", "close the string");
  expect_error(HEAD "POST /x\n  json <<END\n  {}\n", 4, 8, "unterminated heredoc", "'END'");
  expect_error("scenario: s\nGET /x\n", 1, 1, "has no 'covers:' line", "covers: ");
  expect_error("scenario: s\ncovers:\nGET /x\n", 2, 8, "at least one requirement ID",
               "covers: ACC-06");
  expect_error("scenario: s\ncovers: , ,\n", 2, 9, "at least one requirement ID", NULL);
  expect_error("GET /x\n", 1, 1, "a step before 'scenario:'", "scenario: <name>");
  expect_error(HEAD "GET /x\n  expect stauts == 200\n", 4, 10, "unknown query 'stauts'",
               "did you mean 'status'?");
  expect_error(HEAD "GET /x\n  expect frobnicate == 200\n", 4, 10, "unknown query",
               "valid queries: status");
  expect_error(HEAD "GET /x\n  expect header == 200\n", 4, 17, "expected a header name",
               "header \"...\"");
  expect_error(HEAD "let x = \"\\q\"\n", 3, 10, "unknown escape", "\\xNN");
  expect_error(HEAD "let x = \"\\xZ1\"\n", 3, 10, "two hex digits", NULL);
  expect_error(HEAD "let x = \"\\u{D800}\"\n", 3, 10, "not a valid Unicode code point", NULL);
  expect_error(HEAD "let x = \"\\u{}\"\n", 3, 10, "1 to 6 hex digits", NULL);
  expect_error(HEAD "clock advance 3x\n", 3, 15, "is not a duration", "24h");
  expect_error(HEAD "wait mail within soon\n", 3, 18, "is not a duration", NULL);
  expect_error(HEAD "POST /x\n  option timeout\n", 4, 17, "expected a duration", NULL);
  expect_error(HEAD "wait parcel\n", 3, 6, "expected 'mail' or 'letter'", NULL);
  expect_error(HEAD "wait mail kind \"x\"\n", 3, 11, "unknown mail filter 'kind'",
               "to, from, subject");
  expect_error(HEAD "wait letter subject \"x\"\n", 3, 13, "unknown letter filter",
               "customer-number");
  expect_error(HEAD "GET /x\n  expect status = 200\n", 4, 17, "unknown operator '='", "'=='");
  expect_error(HEAD "GET /x\n  expect status < \"a\"\n", 4, 19, "expected a number", NULL);
  expect_error(HEAD "GET /x\n  expect status < \"1.5\"\n", 4, 19, "expected a number", "{{max}}");
  expect_error(HEAD "GET /x\n  expect body contains 5\n", 4, 24, "a string after the predicate",
               NULL);
  expect_error(HEAD "GET /x\n  expect status == 200 201\n", 4, 24,
               "unexpected text after the predicate", NULL);
  expect_error(HEAD "GET api\n", 3, 5, "expected a URL", NULL);
  expect_error(HEAD "let = 5\n", 3, 5, "expected a variable name", NULL);
  expect_error(HEAD "let x 5\n", 3, 7, "expected '='", "let NAME");
  expect_error(HEAD "let x = email(length 5)\n", 3, 15, "expected an argument value", NULL);
  expect_error(HEAD "let x = email(\"a\" 5)\n", 3, 19, "expected ',' or ')'", NULL);
  expect_error(HEAD "clock rewind\n", 3, 7, "expected 'create', 'advance' or 'set'", NULL);
  expect_error(HEAD "clock create \"yesterday\"\n", 3, 14, "expected an ISO 8601 time", NULL);
  expect_error(HEAD "use\n", 3, 4, "expected a fragment name", NULL);
  expect_error(HEAD "use f a = \"x\"\n", 3, 8, "expected '='", NULL);
  expect_error(HEAD "use f a=\"x\" a=\"y\"\n", 3, 13, "given twice", NULL);
  expect_error(HEAD "wait mail to \"a\"\n  header X: y\n", 4, 3, "only follows an HTTP request",
               NULL);
  /* A wait without an address filter could take another scenario's item. */
  expect_error(HEAD "wait mail subject \"x\"\n", 3, 22, "'wait mail' without a 'to' filter",
               "add to \"{{email}}\" so the wait only sees this scenario's mail");
  expect_error(HEAD "wait mail\n", 3, 10, "'wait mail' without a 'to' filter", NULL);
  expect_error(HEAD "wait letter kind \"freischaltcode\" within 5s\n", 3, 44,
               "'wait letter' without a 'to' or 'customer-number' filter",
               "so the wait only sees this scenario's letter");
  /* The clock API counts whole seconds. */
  expect_error(HEAD "clock advance 1500ms\n", 3, 15, "not a whole number of seconds", "1s or 2s");
  expect_error(HEAD "clock advance 1s1ms\n", 3, 15, "not a whole number of seconds", NULL);
  /* There are no trailing comments; where '#' cannot be text the hint says so. */
  expect_error("scenario: s\ncovers: ACC-01 # x\n", 2, 16, "'#' in a header line", "whole line");
  expect_error(HEAD "tags: acc, #clock\n", 3, 12, "'#' in a header line", "whole line");
  expect_error("fragment: f\nparams: a # the address\n", 2, 11, "'#' in a header line",
               "whole line");
  expect_error(HEAD "clock advance 1s # a second\n", 3, 18, "unexpected text after the clock step",
               "whole line");
  expect_error(HEAD "clock create now # or a time\n", 3, 18, "unexpected text after 'now'",
               "whole line");
  expect_error(HEAD "GET /x # the page\n", 3, 8, "unexpected text after the URL", "whole line");
  expect_error(HEAD "wait mail to \"a\" # the mail\n", 3, 18, "unknown mail filter", "whole line");
  expect_error(HEAD "use f a=\"x\" # the fragment\n", 3, 13, "expected a parameter name",
               "whole line");
  /* Columns count characters, not bytes: 'ä' is two bytes but one column. */
  expect_error(HEAD "let x = \"ä\\q\"\n", 3, 11, "unknown escape", NULL);
  expect_error(HEAD "GET /x\n  heder X: y\n", 4, 3, "unknown sub-line 'heder'",
               "did you mean 'header'?");
  expect_error(HEAD "GET /x\n  header X y\n", 4, 11, "expected 'Name: value'", NULL);
  expect_error(HEAD "POST /x\n  body \"a\"\n  json {}\n", 5, 3, "already has a body", NULL);
  expect_error(HEAD "GET /x\n  option fast\n", 4, 10, "unknown option", "no-clock");
  expect_error(HEAD "GET /x\n  capture = body\n", 4, 11, "expected a variable name", NULL);
  expect_error(HEAD "GET /x\n  capture x = body == 2\n", 4, 20,
               "unexpected text after the capture query", NULL);
  expect_error(HEAD "GET /x\ntags: late\n", 4, 1, "after the first step", NULL);
  expect_error(HEAD "scenaro: x\n", 3, 1, "unknown header 'scenaro:'", "did you mean 'scenario'?");
  expect_error("fragment: f\nscenario: x\n", 2, 1, "a fragment file cannot hold scenarios", NULL);
  expect_error("fragment: f\nparams: a a\n", 2, 9, "listed twice", NULL);
  expect_error("fragment: two words\n", 1, 14, "expected a fragment name", NULL);
  expect_error(HEAD "params: a\n", 3, 1, "'params:' outside a fragment header", NULL);
  expect_error("", 1, 1, "no scenario in the file", NULL);
  expect_error("# only a comment\n\n", 1, 1, "no scenario in the file", NULL);
  expect_error(HEAD "let n = 99999999999999999999\n", 3, 9, "not a decimal integer in range", NULL);
  expect_error(HEAD "GET /x\n  expect body not frob\n", 4, 19, "after 'not'", NULL);
}

static void test_encoding_errors(void **state) {
  (void)state;
  static const char nul_text[] = "scenario: s\ncovers: A-01\nlet x = \"a\0b\"\n";
  kh_file *file = NULL;
  kh_diag diag;
  kh_diag_init(&diag);
  assert_int_equal(kh_parse_text("n.konform", nul_text, sizeof nul_text - 1, &file, &diag),
                   KF_ERR_PARSE);
  assert_int_equal(diag.line, 3);
  assert_int_equal(diag.col, 11);
  assert_non_null(strstr(diag.message, "NUL"));
  kh_diag_release(&diag);
  static const char bad_utf8[] = "scenario: s\ncovers: A-01\nlet x = \"ab\xC3(\"\n";
  assert_int_equal(kh_parse_text("u.konform", bad_utf8, sizeof bad_utf8 - 1, &file, &diag),
                   KF_ERR_PARSE);
  assert_int_equal(diag.line, 3);
  assert_int_equal(diag.col, 12);
  assert_non_null(strstr(diag.message, "invalid UTF-8"));
  kh_diag_release(&diag);
  /* Over the size cap: refused before anything is parsed. */
  assert_int_equal(kh_parse_text("big.konform", RICH, (size_t)KH_MAX_FILE_BYTES + 1, &file, &diag),
                   KF_ERR_PARSE);
  assert_non_null(strstr(diag.message, "larger than"));
  kh_diag_release(&diag);
  assert_null(file);
}

static void test_diag_format(void **state) {
  (void)state;
  const char *text = HEAD "GET /x\n  expect status 200\n";
  kh_file *file = NULL;
  kh_diag diag;
  kh_diag_init(&diag);
  assert_int_equal(kh_parse_text("scenarios/acc/acc-06.konform", text, strlen(text), &file, &diag),
                   KF_ERR_PARSE);
  kf_buf b;
  kf_buf_init(&b, 4096);
  assert_int_equal(kh_diag_format(&diag, &b), KF_OK);
  assert_string_equal(
      b.data, "scenarios/acc/acc-06.konform:4:17: error: expected a predicate after the query\n"
              "    expect status 200\n"
              "                  ^\n"
              "hint: write 'expect status == 200'\n");
  kf_buf_release(&b);
  kh_diag_release(&diag);
  /* The caret is padded by characters, so it sits under the escape after the umlauts. */
  const char *umlauts = HEAD "let x = \"äöü\\q\"\n";
  assert_int_equal(kh_parse_text("u.konform", umlauts, strlen(umlauts), &file, &diag),
                   KF_ERR_PARSE);
  assert_int_equal(diag.col, 13);
  kf_buf_init(&b, 4096);
  assert_int_equal(kh_diag_format(&diag, &b), KF_OK);
  assert_string_equal(b.data, "u.konform:3:13: error: unknown escape sequence\n"
                              "  let x = \"äöü\\q\"\n"
                              "              ^\n"
                              "hint: valid escapes: \\\" \\\\ \\n \\r \\t \\xNN \\u{XXXX}\n");
  kf_buf_release(&b);
  kh_diag_release(&diag);
  /* A file-level diagnostic has no position. */
  assert_int_equal(kh_diag_set(&diag, KH_SEV_WARNING, "x.konform", 0, 0, NULL, NULL, "odd %d", 1),
                   KF_OK);
  kf_buf_init(&b, 4096);
  assert_int_equal(kh_diag_format(&diag, &b), KF_OK);
  assert_string_equal(b.data, "x.konform: warning: odd 1\n");
  kf_buf_release(&b);
  kh_diag_release(&diag);
}

static void test_parse_file(void **state) {
  (void)state;
  kh_file *file = NULL;
  kh_diag diag;
  kh_diag_init(&diag);
  assert_int_equal(kh_parse_file("/nonexistent/dir/x.konform", &file, &diag), KF_ERR_IO);
  assert_non_null(diag.message);
  assert_string_equal(diag.file, "/nonexistent/dir/x.konform");
  kh_diag_release(&diag);
}

/* Every prefix of a valid file either parses or fails cleanly. */
static void test_truncated_prefixes(void **state) {
  (void)state;
  size_t len = strlen(RICH);
  for (size_t n = 0; n <= len; n++) {
    kh_file *file = NULL;
    kh_diag diag;
    kh_diag_init(&diag);
    kf_rc rc = kh_parse_text("p.konform", RICH, n, &file, &diag);
    assert_true(rc == KF_OK || rc == KF_ERR_PARSE);
    if (rc == KF_OK) {
      assert_non_null(file);
      kh_file_free(file);
    } else {
      assert_null(file);
      assert_non_null(diag.message);
      assert_true(diag.line >= 1);
      kf_buf b;
      kf_buf_init(&b, 1 << 16);
      assert_int_equal(kh_diag_format(&diag, &b), KF_OK);
      kf_buf_release(&b);
    }
    kh_diag_release(&diag);
  }
}

/* Flipping single bytes into interesting characters never crashes the parser. */
static void test_mutations(void **state) {
  (void)state;
  size_t len = strlen(RICH);
  char *copy = kf_malloc(len);
  assert_non_null(copy);
  static const char subst[] = {'"', '\\', '{', ' ', '\n', '<', '=', '\t', '#', 'x'};
  for (size_t n = 0; n < len; n += 3) {
    for (size_t k = 0; k < sizeof subst; k++) {
      memcpy(copy, RICH, len);
      copy[n] = subst[k];
      kh_file *file = NULL;
      kh_diag diag;
      kh_diag_init(&diag);
      kf_rc rc = kh_parse_text("m.konform", copy, len, &file, &diag);
      assert_true(rc == KF_OK || rc == KF_ERR_PARSE);
      kh_file_free(file);
      kh_diag_release(&diag);
    }
  }
  kf_free(copy);
}

/* SQLite-style: fail each allocation in turn until the parse gets through. */
static void test_alloc_failures(void **state) {
  (void)state;
  /*
   * The third text has passkey steps: fuzz_parser found that running out of
   * memory in their credential name came back as a parse error with an empty
   * message.
   */
  const char *texts[] = {RICH, HEAD "GET /x\n  expect status 200\n",
                         HEAD "passkey create cred from \"{{o}}\" into reg\n"
                              "passkey get cred from \"{{o}}\" into login\n"};
  for (size_t t = 0; t < 3; t++) {
    kf_rc want = t == 1 ? KF_ERR_PARSE : KF_OK;
    unsigned long n;
    for (n = 1; n < 100000; n++) {
      kh_file *file = NULL;
      kh_diag diag;
      kh_diag_init(&diag);
      kf_alloc_fail_at(n);
      kf_rc rc = kh_parse_text("a.konform", texts[t], strlen(texts[t]), &file, &diag);
      bool failed = kf_alloc_failed();
      kf_alloc_fail_at(0);
      if (!failed) {
        assert_int_equal(rc, want);
        kh_file_free(file);
        kh_diag_release(&diag);
        break;
      }
      assert_int_equal(rc, KF_ERR_NOMEM);
      assert_null(file);
      assert_null(diag.message);
      kh_diag_release(&diag);
    }
    assert_true(n > 10);
  }
}

/* Whether n bytes at p lie inside the file's block. */
static bool in_block(const kh_file *f, const void *p, size_t n) {
  const char *b = f->block, *q = p;
  return q >= b && n <= f->block_size && (size_t)(q - b) <= f->block_size - n;
}

/*
 * What a parsed file keeps for the whole run: every string in the file's
 * table, a repeated one once (the line, the template, the ID, the name), a
 * NUL after each; every array of the generic nodes and every step's data in
 * one exact block.
 */
static void test_strings_and_block(void **state) {
  (void)state;
  const char *text =
      "scenario: one\ncovers: ACC-01 ACC-02\ntags: acc\n"
      "let e = email()\n"
      "GET /x?a=\"{{e}}\"\n  expect status == 200\n  expect body contains \"{{e}}\"\n"
      "  capture id = json \"$.id\" lower\n"
      "scenario: two\ncovers: ACC-01\ntags: acc\n"
      "let e = email()\n"
      "GET /x?a=\"{{e}}\"\n  expect status == 200\n  expect body contains \"{{e}}\"\n"
      "  expect body contains \"a\\tb\"\n"
      "  capture id = json \"$.id\" lower\n";
  kh_file *file = NULL;
  kh_diag diag;
  kh_diag_init(&diag);
  assert_int_equal(kh_parse_text("s.konform", text, strlen(text), &file, &diag), KF_OK);
  assert_int_equal(file->scenarios_len, 2);
  const kh_scenario *a = &file->scenarios[0], *b = &file->scenarios[1];
  assert_ptr_equal(a->covers[0], b->covers[0]);
  assert_ptr_equal(a->tags[0], b->tags[0]);
  assert_ptr_equal(a->pos.file, file->path);
  const kh_let *la = a->steps[0].data, *lb = b->steps[0].data;
  assert_ptr_equal(la->name, lb->name);
  assert_ptr_equal(la->func, lb->func);
  assert_ptr_equal(a->steps[0].source, b->steps[0].source);
  const kh_request *ra = a->steps[1].data, *rb = b->steps[1].data;
  assert_ptr_equal(ra->url.text, rb->url.text);
  const kh_check *ca = a->steps[1].checks, *cb = b->steps[1].checks;
  assert_ptr_equal(ca[0].source, cb[0].source);
  assert_ptr_equal(ca[1].pred.operand.str.text, cb[1].pred.operand.str.text);
  assert_string_equal(ca[1].pred.operand.str.text, "{{e}}");
  assert_ptr_equal(ca[2].capture_name, cb[3].capture_name);
  assert_ptr_equal(ca[2].query.arg.text, cb[3].query.arg.text);
  /* An escape goes through the buffer and ends in the table all the same. */
  assert_int_equal(cb[2].pred.operand.str.len, 3);
  assert_memory_equal(cb[2].pred.operand.str.text, "a\tb", 4);
  /* "{{e}}" as a URL query and as an operand are different strings. */
  assert_ptr_not_equal(ra->url.text, ca[1].pred.operand.str.text);
  /* Sealed: the arrays and the step data are in the block, exactly. */
  assert_non_null(file->block);
  size_t bytes = 0;
  assert_true(in_block(file, file->scenarios, 2 * sizeof *file->scenarios));
  for (size_t s = 0; s < 2; s++) {
    const kh_scenario *sc = &file->scenarios[s];
    assert_true(in_block(file, sc->covers, sc->covers_len * sizeof *sc->covers));
    assert_true(in_block(file, sc->tags, sc->tags_len * sizeof *sc->tags));
    assert_true(in_block(file, sc->steps, sc->steps_len * sizeof *sc->steps));
    bytes += sc->covers_len * sizeof(char *) + sc->tags_len * sizeof(char *) +
             sc->steps_len * sizeof(kh_step);
    for (size_t k = 0; k < sc->steps_len; k++) {
      const kh_step *st = &sc->steps[k];
      assert_true(in_block(file, st->data, st->def->data_size));
      assert_true(st->checks_len == 0 ||
                  in_block(file, st->checks, st->checks_len * sizeof *st->checks));
      bytes += st->def->data_size + st->checks_len * sizeof(kh_check);
      for (size_t c = 0; c < st->checks_len; c++) {
        const kh_query *q = &st->checks[c].query;
        assert_true(q->filters_len == 0 ||
                    in_block(file, q->filters, q->filters_len * sizeof *q->filters));
        bytes += q->filters_len * sizeof(kh_filter);
      }
    }
  }
  bytes += 2 * sizeof(kh_scenario);
  /* Only alignment between the pieces (at most 15 bytes each, 20 pieces here). */
  assert_true(file->block_size >= bytes);
  assert_true(file->block_size < bytes + 20 * _Alignof(max_align_t));
  kh_file_free(file);
  kh_diag_release(&diag);
}

/* Every step kind is one row: its keywords find it, its sub-lines find it, it can parse. */
static void test_step_registry(void **state) {
  (void)state;
  const char *const *words = kh_steps_keywords();
  size_t n = 0;
  for (; words[n] != NULL; n++) {
    const kh_step_def *def = kh_steps_find(words[n], strlen(words[n]));
    assert_non_null(def);
    assert_non_null(def->parse);
    assert_non_null(def->what);
    assert_non_null(def->synopsis);
    assert_true(def->exec != NULL || def == &kh_step_check);
    for (const char *const *sub = def->sublines; sub != NULL && *sub != NULL; sub++) {
      assert_ptr_equal(kh_steps_find_subline(*sub, strlen(*sub)), def);
      assert_non_null(def->parse_subline);
    }
  }
  assert_int_equal(n,
                   14); /* let, six methods, wait, clock, use, timing, expect, capture, passkey. */
  assert_null(kh_steps_find("wiat", 4));
  const char *const *subs = kh_steps_sublines();
  size_t m = 0;
  while (subs[m] != NULL)
    m++;
  assert_string_equal(subs[m - 1], "capture");
  /* The tables of queries, filters and predicates answer by name and list their names. */
  assert_string_equal(kh_query_find("mail.raw", 8)->name, "mail.raw");
  assert_null(kh_query_find("mail.rwa", 8));
  assert_string_equal(kh_filter_find("grep", 4)->name, "grep");
  assert_true(kh_pred_find("not contains", 12)->negate);
  assert_string_equal(kh_query_names()[0], "status");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_step_registry),
      cmocka_unit_test(test_rich_file),
      cmocka_unit_test(test_fragment),
      cmocka_unit_test(test_doc_example),
      cmocka_unit_test(test_hash_in_url_is_literal),
      cmocka_unit_test(test_doc_code_blocks),
      cmocka_unit_test(test_ordering_string_operand),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_encoding_errors),
      cmocka_unit_test(test_diag_format),
      cmocka_unit_test(test_parse_file),
      cmocka_unit_test(test_truncated_prefixes),
      cmocka_unit_test(test_mutations),
      cmocka_unit_test(test_alloc_failures),
      cmocka_unit_test(test_strings_and_block),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
