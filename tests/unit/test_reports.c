/*
 * test_reports.c: the console, JUnit, JSON, HTML and TAP report writers.
 *
 * Each test builds a kf_run_result by hand, writes a report into a fresh
 * mkdtemp folder and reads it back with the same libraries a consumer would
 * use (libxml2, jansson), so the tests check what CI tools will see.
 *
 * Scaffolding allocates with cmocka's test_malloc (which also finds what a
 * test leaks) or, for the run it hands to the writers, with kf_ like the
 * runner; the allocation-failure sweeps (kt_alloc.h) arm the failure right
 * before the writer, so only the writer's own allocations fail.
 */
/* posix_openpt, grantpt, unlockpt and ptsname are XSI: a pseudo-terminal lets
 * the test see kr_console_want_color say yes. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <fcntl.h>
#include <regex.h>
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
#include <jansson.h>
#include <sodium.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>
#include <libxml/xpath.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/error.h"
#include "kf/run_result.h"
#include "kf/str.h"
#include "kf/utf8.h"
#include "kh_step.h"
#include "kr/report.h"
#include "kr_priv.h"
#include "kr_summary.h"
#include "kt_alloc.h"

/* ---------------------------------------------------------------------------
 * Fixture: a run with every status and every requirement verdict, whose
 * steps record structured exchanges, asserts and artifacts as the runner does.
 * ------------------------------------------------------------------------- */

#define FAIL_FILE "scenarios/acc/expiry.konform"
#define FAIL_LINE 17u
#define FAIL_MESSAGE "expect status == 410: got 200 <&\"'>"
#define BODY_MESSAGE "expect body.status == \"expired\": got \"confirmed\""
#define ERROR_MESSAGE "target unreachable: connection refused"
#define SKIP_MESSAGE "target has no clock control"
#define NAME_PASS "Registrierung mit gültigen Daten"
#define NAME_FAIL "Bestätigung nach genau 24 Stunden"
#define NAME_SKIP "Sperre nach 5 Fehlversuchen"
#define NAME_ERROR "Gleiche Antwort für falschen Namen"
#define NAME_OTHER "Health ohne Anforderung"
#define SERVER "http://127.0.0.1:8480"
#define WAIT_URL "http://127.0.0.1:8426/api/v1/wait/messages?to=a%40b.test&timeout_ms=5000"

/* A header with control characters and an ANSI sequence. */
static const char odd_value[] = "a\x01"
                                "b\x1b[31mred\x7f";
/* A request body with invalid UTF-8 and a NUL byte in the middle. */
static const char bad_body[] = "{\"id\":\"\xff\xfe\xc3\x28\"}\0tail";
static const char bad_response_body[] =
    "{\"status\":\"confirmed\",\"x\":\"\xef\xbf\xbf\xc2\x9b\x0b\"}";
/* A raw mail: valid UTF-8 text, CRLF line ends, 68 bytes. */
static const char raw_mail[] =
    "Subject: =?UTF-8?Q?Best=C3=A4tigung?=\r\n\r\nHallo, bitte bestätigen.\r\n";
/* A QR image's first bytes: binary, with a NUL and bytes that are not UTF-8. */
static const unsigned char png_bytes[] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff};

/* Make a string the run will own (the runner fills these fields the same way). */
static char *own(const char *s) {
  char *p = kf_strdup(s);
  assert_non_null(p);
  return p;
}

/* Append an exchange (valid until the next one); status_line NULL: no answer came. */
static kf_exchange *add_exchange(kf_step_result *st, const char *purpose, const char *method,
                                 const char *url, const char *status_line) {
  kf_exchange *ex = NULL;
  assert_int_equal(kf_step_result_add_exchange(st, &ex), KF_OK);
  ex->purpose = own(purpose);
  ex->method = own(method);
  ex->url = own(url);
  ex->duration_ms = 2;
  if (status_line == NULL) {
    ex->error = own("connection refused");
    return ex;
  }
  ex->status_line = own(status_line);
  ex->status = strtol(strchr(status_line, ' ') + 1, NULL, 10);
  return ex;
}

static void add_header(kf_message *msg, const char *name, const char *value) {
  assert_int_equal(kf_message_add_header(msg, name, value), KF_OK);
}

static void set_body(kf_message *msg, const void *data, size_t len) {
  assert_int_equal(kf_message_set_body(msg, data, len), KF_OK);
}

static void add_assert(kf_step_result *st, const char *source, unsigned line, kf_status status,
                       const char *expected, const char *actual, const char *message) {
  kf_assert_result *a = NULL;
  assert_int_equal(kf_step_result_add_assert(st, &a), KF_OK);
  a->source = own(source);
  a->file = own(st->file);
  a->line = line;
  a->status = status;
  a->expected = expected != NULL ? own(expected) : NULL;
  a->actual = actual != NULL ? own(actual) : NULL;
  a->message = message != NULL ? own(message) : NULL;
}

static kf_step_result *add_step(kf_scenario_result *sc, const char *label, unsigned line,
                                kf_status status, const char *message) {
  kf_step_result *st = NULL;
  assert_int_equal(kf_scenario_result_add_step(sc, &st), KF_OK);
  st->label = own(label);
  st->file = own(sc->file);
  st->line = line;
  st->status = status;
  st->message = message != NULL ? own(message) : NULL;
  st->duration_ms = 3;
  return st;
}

/* A registration that the server accepted, with its passing expect. */
static void add_registration(kf_scenario_result *sc, unsigned line) {
  kf_step_result *st = add_step(sc, "POST /api/v1/registrations", line, KF_STATUS_PASS, NULL);
  kf_exchange *ex =
      add_exchange(st, "request", "POST", SERVER "/api/v1/registrations", "HTTP/1.1 202 Accepted");
  add_header(&ex->request, "Content-Type", "application/json");
  set_body(&ex->request, "{\"email\":\"a@b.test\"}", 20);
  add_header(&ex->response, "Content-Type", "application/json");
  set_body(&ex->response, "{\"status\":\"confirmation_mail_sent\"}", 35);
  add_assert(st, "expect status == 202", line + 1, KF_STATUS_PASS, "202", "got 202", NULL);
}

/* A wait with three polls (two time out, the third is cut) that kept the mail and a QR image. */
static void add_wait(kf_scenario_result *sc, unsigned line) {
  kf_step_result *st = add_step(sc, "wait mail to \"a@b.test\"", line, KF_STATUS_PASS, NULL);
  add_exchange(st, "wait mail", "GET", WAIT_URL, "HTTP/1.1 408 Request Timeout");
  add_exchange(st, "wait mail", "GET", WAIT_URL, "HTTP/1.1 408 Request Timeout");
  kf_exchange *ex = add_exchange(st, "wait mail", "GET", WAIT_URL, "HTTP/1.1 200 OK");
  size_t big = KF_MESSAGE_BODY_MAX + 100;
  char *body = test_malloc(big);
  memset(body, 'm', big);
  set_body(&ex->response, body, big);
  test_free(body);
  add_assert(st, "expect mail.subject contains \"Bestätigung\"", line + 1, KF_STATUS_PASS,
             "Bestätigung", "got \"Bestätigung Ihrer E-Mail-Adresse\"", NULL);
  assert_int_equal(kf_step_result_add_artifact(st, "mail 17 (raw source)", "message/rfc822",
                                               raw_mail, sizeof raw_mail - 1),
                   KF_OK);
  assert_int_equal(
      kf_step_result_add_artifact(st, "QR code", "image/png", png_bytes, sizeof png_bytes), KF_OK);
}

/* The failing confirmation: odd bytes both ways, one expect held, two did not. */
static void add_confirmation(kf_scenario_result *sc) {
  kf_step_result *st =
      add_step(sc, "POST /api/v1/email-confirmations", 15, KF_STATUS_FAIL, FAIL_MESSAGE);
  st->fail_line = FAIL_LINE;
  kf_exchange *ex =
      add_exchange(st, "request", "POST", SERVER "/api/v1/email-confirmations", "HTTP/1.1 200 OK");
  add_header(&ex->request, "X-Odd", odd_value);
  set_body(&ex->request, bad_body, sizeof bad_body - 1);
  add_header(&ex->response, "Content-Type", "application/json");
  set_body(&ex->response, bad_response_body, sizeof bad_response_body - 1);
  add_assert(st, "expect header Content-Type contains \"json\"", 16, KF_STATUS_PASS, "json",
             "got \"application/json\"", NULL);
  add_assert(st, "expect status == 410", FAIL_LINE, KF_STATUS_FAIL, "410", "got 200", FAIL_MESSAGE);
  add_assert(st, "expect body.status == \"expired\"", 18, KF_STATUS_FAIL, "\"expired\"",
             "got \"confirmed\"", BODY_MESSAGE);
}

/* A login that got no answer, so its expect could not be evaluated. */
static void add_unanswered_login(kf_scenario_result *sc) {
  kf_step_result *st = add_step(sc, "POST /api/v1/sessions", 6, KF_STATUS_ERROR, ERROR_MESSAGE);
  kf_exchange *ex = add_exchange(st, "request", "POST", SERVER "/api/v1/sessions", NULL);
  add_header(&ex->request, "Content-Type", "application/json");
  add_assert(st, "expect status == 401", 7, KF_STATUS_ERROR, "401", NULL,
             "there is no response to check");
}

static void build_requirements(kf_run_result *run) {
  assert_int_equal(kf_run_result_add_requirement(run, "ACC-01", "ACC", "Registrierung", "seed"),
                   KF_OK);
  assert_int_equal(kf_run_result_add_requirement(run, "ACC-06", "ACC", "Link 24 Stunden", "seed"),
                   KF_OK);
  assert_int_equal(kf_run_result_add_requirement(run, "ACC-07", "ACC", "Link einmal", "practice"),
                   KF_OK);
  assert_int_equal(kf_run_result_add_requirement(run, "ACC-08", "ACC", "Bestätigt", "seed"), KF_OK);
  assert_int_equal(
      kf_run_result_add_requirement(run, "AUTH-04", "AUTH", "Gleiche Antwort", "practice"), KF_OK);
  assert_int_equal(kf_run_result_add_requirement(run, "AUTH-05", "AUTH", "Sperre", "default"),
                   KF_OK);
}

static kf_scenario_result *add_scenario(kf_run_result *run, const char *name, const char *file,
                                        unsigned line, const char *cover, kf_status status,
                                        int64_t ms) {
  kf_scenario_result *sc = NULL;
  const char *covers[] = {cover};
  assert_int_equal(kf_run_result_add_scenario(run, name, file, line, covers, cover != NULL ? 1 : 0,
                                              NULL, 0, &sc),
                   KF_OK);
  sc->status = status;
  sc->duration_ms = ms;
  return sc;
}

static void build_run(kf_run_result *run) {
  kf_run_result_init(run);
  run->target = own("embedded reference stack");
  run->base_url = own(SERVER);
  run->seed = UINT64_C(18446744073709551557); /* Larger than a double holds exactly. */
  run->run_id = UINT64_C(0xabc);              /* Printed with its leading zeros. */
  run->started_at = 1774692000;               /* 2026-03-28T10:00:00Z */
  run->duration_ms = 4321;
  build_requirements(run);

  kf_scenario_result *sc = NULL;
  const char *c_pass[] = {"ACC-01"};
  const char *t_pass[] = {"smoke", "mail"};
  assert_int_equal(kf_run_result_add_scenario(run, NAME_PASS, "scenarios/acc/register.konform", 3,
                                              c_pass, 1, t_pass, 2, &sc),
                   KF_OK);
  sc->status = KF_STATUS_PASS;
  sc->duration_ms = 1250;
  add_registration(sc, 5);
  add_wait(sc, 9);

  const char *c_fail[] = {"ACC-06", "ACC-08"};
  assert_int_equal(
      kf_run_result_add_scenario(run, NAME_FAIL, FAIL_FILE, 1, c_fail, 2, NULL, 0, &sc), KF_OK);
  sc->status = KF_STATUS_FAIL;
  sc->message = own(FAIL_MESSAGE);
  sc->fail_file = own(FAIL_FILE);
  sc->fail_line = FAIL_LINE;
  sc->duration_ms = 12;
  add_registration(sc, 4);
  add_confirmation(sc);

  sc = add_scenario(run, NAME_SKIP, "scenarios/auth/lock.konform", 1, "AUTH-05", KF_STATUS_SKIP, 0);
  sc->skip_kind = KF_SKIP_NO_CLOCK;
  sc->message = own(SKIP_MESSAGE);

  sc = add_scenario(run, NAME_ERROR, "scenarios/auth/enum.konform", 2, "AUTH-04", KF_STATUS_ERROR,
                    7);
  sc->message = own(ERROR_MESSAGE);
  add_unanswered_login(sc);

  add_scenario(run, NAME_OTHER, "scenarios/health.konform", 1, NULL, KF_STATUS_PASS, 1);
}

/* ---------------------------------------------------------------------------
 * Temporary folders and files.
 * ------------------------------------------------------------------------- */

typedef struct fixture {
  char dir[64];
  char json[128];
  char xml[128];
  kf_run_result run;
} fixture;

static int setup(void **state) {
  fixture *f = test_calloc(1, sizeof *f);
  if (f == NULL)
    return -1;
  if (kf_str_copy(f->dir, sizeof f->dir, "/tmp/kr-test-XXXXXX") != KF_OK || mkdtemp(f->dir) == NULL)
    return -1;
  if (kf_str_format(f->json, sizeof f->json, "%s/konform.json", f->dir) != KF_OK ||
      kf_str_format(f->xml, sizeof f->xml, "%s/junit.xml", f->dir) != KF_OK)
    return -1;
  build_run(&f->run);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  kf_run_result_release(&f->run);
  DIR *d = opendir(f->dir);
  if (d != NULL) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
        continue;
      char p[256];
      if (kf_str_format(p, sizeof p, "%s/%s", f->dir, e->d_name) == KF_OK)
        unlink(p);
    }
    closedir(d);
  }
  rmdir(f->dir);
  test_free(f);
  return 0;
}

/* Read the rest of fp into a string (caller frees with test_free). */
static char *read_stream(FILE *fp, size_t *len_out) {
  size_t cap = 4096, len = 0;
  char *data = test_malloc(cap);
  size_t n;
  while ((n = fread(data + len, 1, cap - len - 1, fp)) > 0) {
    len += n;
    if (cap - len < 2) {
      cap *= 2;
      data = test_realloc(data, cap);
    }
  }
  data[len] = '\0';
  if (len_out != NULL)
    *len_out = len;
  return data;
}

/* Read a whole file into a string (caller frees with test_free), NULL if it cannot be opened. */
static char *slurp(const char *path, size_t *len_out) {
  FILE *fp = fopen(path, "rb");
  if (fp == NULL)
    return NULL;
  char *data = read_stream(fp, len_out);
  fclose(fp);
  return data;
}

static void write_file(const char *path, const char *text) {
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  assert_int_equal(fputs(text, fp) >= 0, 1);
  assert_int_equal(fclose(fp), 0);
}

/* Entries in dir other than "." and "..". */
static size_t dir_entries(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
      n++;
  }
  closedir(d);
  return n;
}

/* ---------------------------------------------------------------------------
 * Shared helpers.
 * ------------------------------------------------------------------------- */

/* The len bytes at s cleaned with flags (caller frees with kf_free). */
static char *clean_n(const char *s, size_t len, unsigned flags) {
  kf_buf b;
  kf_buf_init(&b, KR_TEXT_OUT_MAX);
  assert_int_equal(kr_text_clean_n(&b, s, len, flags), KF_OK);
  size_t out_len = 0;
  char *out = kf_buf_detach(&b, &out_len);
  assert_non_null(out);
  assert_true(kf_utf8_valid(out, out_len));
  assert_null(memchr(out, '\0', out_len));
  return out;
}

static char *clean(const char *s, unsigned flags) {
  return clean_n(s, strlen(s), flags);
}

static void test_text_clean(void **state) {
  (void)state;
  char *s = clean("a\x01"
                  "b\xff"
                  "c\xc3\xa4",
                  0);
  assert_string_equal(s, "a\x01"
                         "b\xef\xbf\xbd"
                         "c\xc3\xa4");
  kf_free(s);

  s = clean("a\x01"
            "b\tc\r\nd\xef\xbf\xbf\re",
            KR_CLEAN_XML);
  assert_string_equal(s, "a\\x01b\tc\nd\\uFFFF\re");
  kf_free(s);

  s = clean("x\x1b[31my\r\nz\rw\x7f\xc2\x9b", KR_CLEAN_TERMINAL);
  assert_string_equal(s, "x\\x1B[31my\nz\\x0Dw\\x7F\\u009B");
  kf_free(s);

  /* Truncated overlong, lone continuation and a cut sequence all become U+FFFD. */
  s = clean("\xc0\xaf|\x80|\xe2\x82", 0);
  assert_string_equal(s, "\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd");
  kf_free(s);

  /* A NUL is counted by the length, not the end, and is a visible escape in every medium. */
  static const unsigned media[] = {0, KR_CLEAN_XML, KR_CLEAN_TERMINAL};
  for (size_t i = 0; i < sizeof media / sizeof media[0]; i++) {
    s = clean_n("a\0b\xff", 4, media[i]);
    assert_string_equal(s, "a\\x00b\xef\xbf\xbd");
    kf_free(s);
  }

  /* Input past the cap is cut on a character boundary and says so. */
  size_t big = KR_TEXT_IN_MAX + 11;
  char *in = test_malloc(big + 1);
  in[0] = 'x'; /* Shifts the pairs so the cap falls inside a character. */
  for (size_t i = 1; i + 1 < big; i += 2) {
    in[i] = (char)0xC3;
    in[i + 1] = (char)0xA4;
  }
  in[big] = '\0';
  s = clean(in, 0);
  assert_non_null(strstr(s, "more bytes cut]"));
  assert_null(strstr(s, "\xef\xbf\xbd"));
  kf_free(s);
  test_free(in);
}

static void test_scenario_area(void **state) {
  fixture *f = *state;
  char area[KR_AREA_MAX];
  assert_string_equal(kr_scenario_area(&f->run.scenarios[1], area, sizeof area), "ACC");
  assert_string_equal(kr_scenario_area(&f->run.scenarios[3], area, sizeof area), "AUTH");
  assert_string_equal(kr_scenario_area(&f->run.scenarios[4], area, sizeof area), "OTHER");
  char tiny[3];
  assert_string_equal(kr_scenario_area(&f->run.scenarios[3], tiny, sizeof tiny), "AU");

  char secs[32];
  assert_int_equal(kr_format_seconds(1250, secs, sizeof secs), KF_OK);
  assert_string_equal(secs, "1.250");
  assert_int_equal(kr_format_seconds(-5, secs, sizeof secs), KF_OK);
  assert_string_equal(secs, "0.000");

  assert_string_equal(kr_piece_name(KR_PIECE_REQUEST), "request");
  assert_string_equal(kr_piece_name(KR_PIECE_RESPONSE), "response");
  assert_string_equal(kr_piece_name((kr_piece_kind)99), "?");
}

/* A kr_piece_fn that records each piece's kind, one digit per piece. */
static kf_rc record_kinds(void *ctx, const kr_piece *piece) {
  kf_buf *kinds = ctx;
  assert_true(piece->len == 0 || piece->text[piece->len - 1] != '\n');
  return kf_buf_append_byte(kinds, (char)('0' + (int)piece->kind));
}

static void test_step_pieces(void **state) {
  fixture *f = *state;
  kf_buf kinds;
  kf_buf_init(&kinds, 64);
  /*
   * The wait: its one expect (0), three polls of title (1), request (2) and
   * response (3), then its two artifacts (4).
   */
  assert_int_equal(KR_PIECE_ASSERT, 0);
  assert_int_equal(KR_PIECE_ARTIFACT, 4);
  const kf_step_result *wait = &f->run.scenarios[0].steps[1];
  assert_int_equal(kr_step_pieces(wait, true, record_kinds, &kinds), KF_OK);
  assert_string_equal(kinds.data, "012312312344");
  kf_buf_reset(&kinds);
  assert_int_equal(kr_step_pieces(wait, false, record_kinds, &kinds), KF_OK);
  assert_string_equal(kinds.data, "12312312344");
  kf_buf_reset(&kinds);
  /* The failing confirmation without its passing expect. */
  assert_int_equal(kr_step_pieces(&f->run.scenarios[1].steps[1], false, record_kinds, &kinds),
                   KF_OK);
  assert_string_equal(kinds.data, "00123");
  kf_buf_release(&kinds);
}

/* ---------------------------------------------------------------------------
 * JSON.
 * ------------------------------------------------------------------------- */

/*
 * A small JSON Schema checker for the keywords docs/report-schema.json uses:
 * type, required, properties, additionalProperties, items, enum, const,
 * anyOf, $ref into $defs, minimum and pattern. It says why in why.
 */
static bool schema_ok(const json_t *root_schema, const json_t *schema, const json_t *v,
                      const char *where, char *why, size_t why_size);

#define SCHEMA_NO(...)                                                                             \
  do {                                                                                             \
    (void)kf_str_format(why, why_size, __VA_ARGS__); /* A cut reason is still a reason. */         \
    return false;                                                                                  \
  } while (0)

static int schema_type_ok(const char *type, const json_t *v) {
  if (strcmp(type, "object") == 0)
    return json_is_object(v);
  if (strcmp(type, "array") == 0)
    return json_is_array(v);
  if (strcmp(type, "string") == 0)
    return json_is_string(v);
  if (strcmp(type, "integer") == 0)
    return json_is_integer(v);
  if (strcmp(type, "number") == 0)
    return json_is_number(v);
  if (strcmp(type, "boolean") == 0)
    return json_is_boolean(v);
  if (strcmp(type, "null") == 0)
    return json_is_null(v);
  fail_msg("schema uses unknown type %s", type);
  return 0;
}

/* type, enum, const, anyOf, minimum and pattern: what a value must be. */
static bool schema_value_ok(const json_t *root_schema, const json_t *schema, const json_t *v,
                            const char *where, char *why, size_t why_size) {
  const json_t *type = json_object_get(schema, "type");
  size_t i;
  const json_t *t;
  int ok = !json_is_array(type);
  json_array_foreach(type, i, t) ok |= schema_type_ok(json_string_value(t), v);
  if (!ok || (json_is_string(type) && !schema_type_ok(json_string_value(type), v)))
    SCHEMA_NO("%s: not of the allowed type", where);
  const json_t *en = json_object_get(schema, "enum");
  ok = en == NULL;
  json_array_foreach(en, i, t) ok |= json_equal(t, v);
  if (!ok)
    SCHEMA_NO("%s: value not in enum", where);
  const json_t *cst = json_object_get(schema, "const");
  if (cst != NULL && !json_equal(cst, v))
    SCHEMA_NO("%s: value is not the const", where);
  const json_t *any = json_object_get(schema, "anyOf");
  ok = any == NULL;
  json_array_foreach(any, i, t) ok |= schema_ok(root_schema, t, v, where, why, why_size);
  if (!ok)
    SCHEMA_NO("%s: matches nothing of anyOf", where);
  const json_t *minimum = json_object_get(schema, "minimum");
  if (minimum != NULL && json_is_integer(v) && json_integer_value(v) < json_integer_value(minimum))
    SCHEMA_NO("%s: below minimum", where);
  const json_t *pattern = json_object_get(schema, "pattern");
  if (pattern != NULL && json_is_string(v)) {
    regex_t re;
    assert_int_equal(regcomp(&re, json_string_value(pattern), REG_EXTENDED | REG_NOSUB), 0);
    int m = regexec(&re, json_string_value(v), 0, NULL, 0);
    regfree(&re);
    if (m != 0)
      SCHEMA_NO("%s: \"%s\" does not match %s", where, json_string_value(v),
                json_string_value(pattern));
  }
  return true;
}

/* required, properties, additionalProperties and items: what a container holds. */
static bool schema_members_ok(const json_t *root_schema, const json_t *schema, const json_t *v,
                              const char *where, char *why, size_t why_size) {
  char sub[256];
  if (json_is_object(v)) {
    size_t i;
    const json_t *k;
    json_array_foreach(json_object_get(schema, "required"), i, k) {
      if (json_object_get(v, json_string_value(k)) == NULL)
        SCHEMA_NO("%s: required key %s missing", where, json_string_value(k));
    }
    const json_t *props = json_object_get(schema, "properties");
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)v, key, val) {
      (void)kf_str_format(sub, sizeof sub, "%s.%s", where, key); /* A cut path only shortens. */
      const json_t *ps = json_object_get(props, key);
      if (ps == NULL && json_is_false(json_object_get(schema, "additionalProperties")))
        SCHEMA_NO("%s: key not allowed by the schema", sub);
      if (ps != NULL && !schema_ok(root_schema, ps, val, sub, why, why_size))
        return false;
    }
  }
  const json_t *items = json_object_get(schema, "items");
  if (items != NULL && json_is_array(v)) {
    size_t i;
    const json_t *item;
    json_array_foreach(v, i, item) {
      (void)kf_str_format(sub, sizeof sub, "%s[%zu]", where, i);
      if (!schema_ok(root_schema, items, item, sub, why, why_size))
        return false;
    }
  }
  return true;
}

static bool schema_ok(const json_t *root_schema, const json_t *schema, const json_t *v,
                      const char *where, char *why, size_t why_size) {
  const json_t *ref = json_object_get(schema, "$ref");
  if (ref != NULL) {
    const char *r = json_string_value(ref);
    assert_non_null(r);
    assert_true(kf_str_starts_with(r, "#/$defs/"));
    const json_t *target = json_object_get(json_object_get(root_schema, "$defs"), r + 8);
    if (target == NULL)
      fail_msg("%s: unresolved $ref %s", where, r);
    if (!schema_ok(root_schema, target, v, where, why, why_size))
      return false;
  }
  return schema_value_ok(root_schema, schema, v, where, why, why_size) &&
         schema_members_ok(root_schema, schema, v, where, why, why_size);
}

/* Fail the test unless v follows schema. */
static void schema_check(const json_t *root_schema, const json_t *schema, const json_t *v,
                         const char *where) {
  char why[512];
  if (!schema_ok(root_schema, schema, v, where, why, sizeof why))
    fail_msg("%s", why);
}

/*
 * Where the repository file rel is: below KONFORM_SRCDIR, the current folder
 * (the repository root) or a build folder up to three levels down. Fails the
 * test when it is in none of them.
 */
static void source_path(const char *rel, char *out, size_t size) {
  static const char *const roots[] = {".", "..", "../..", "../../.."};
  const char *env = getenv("KONFORM_SRCDIR");
  if (env != NULL && kf_str_format(out, size, "%s/%s", env, rel) == KF_OK && access(out, R_OK) == 0)
    return;
  for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
    if (kf_str_format(out, size, "%s/%s", roots[i], rel) == KF_OK && access(out, R_OK) == 0)
      return;
  }
  fail_msg("%s not found (run from the repository root or set KONFORM_SRCDIR)", rel);
}

static json_t *load_schema(void) {
  char path[512];
  source_path("docs/report-schema.json", path, sizeof path);
  json_error_t jerr;
  json_t *s = json_load_file(path, 0, &jerr);
  if (s == NULL)
    fail_msg("%s does not parse: %s", path, jerr.text);
  return s;
}

/* Fail the test unless doc follows docs/report-schema.json. */
static void check_against_schema(const json_t *doc) {
  json_t *schema = load_schema();
  assert_string_equal(json_string_value(json_object_get(schema, "$schema")),
                      "https://json-schema.org/draft/2020-12/schema");
  schema_check(schema, schema, doc, "$");
  json_decref(schema);
}

static const json_t *find_by(const json_t *arr, const char *key, const char *value) {
  size_t i;
  const json_t *o;
  json_array_foreach(arr, i, o) {
    const char *s = json_string_value(json_object_get(o, key));
    if (s != NULL && strcmp(s, value) == 0)
      return o;
  }
  fail_msg("no element with %s = %s", key, value);
  return NULL;
}

static const json_t *get(const json_t *o, const char *key) {
  const json_t *v = json_object_get(o, key);
  if (v == NULL)
    fail_msg("key %s missing", key);
  return v;
}

static const json_t *at(const json_t *arr, size_t i) {
  const json_t *v = json_array_get(arr, i);
  if (v == NULL)
    fail_msg("no element %zu", i);
  return v;
}

static const char *str_of(const json_t *o, const char *key) {
  const char *s = json_string_value(json_object_get(o, key));
  if (s == NULL)
    fail_msg("key %s is not a string", key);
  return s;
}

static json_int_t int_of(const json_t *o, const char *key) {
  const json_t *v = json_object_get(o, key);
  if (!json_is_integer(v))
    fail_msg("key %s is not an integer", key);
  return json_integer_value(v);
}

static void check_req(const json_t *reqs, const char *id, const char *status, size_t n_scenarios) {
  const json_t *r = find_by(reqs, "id", id);
  assert_string_equal(str_of(r, "status"), status);
  assert_int_equal(json_array_size(json_object_get(r, "scenarios")), n_scenarios);
}

/* Write f's run as JSON, check the raw bytes and the schema, and parse it (caller decrefs). */
static json_t *write_json(fixture *f) {
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kr_json_write(&f->run, f->json, &err), KF_OK);
  assert_int_equal(dir_entries(f->dir), 1); /* No temporary file left behind. */
  size_t len = 0;
  char *raw = slurp(f->json, &len);
  assert_non_null(raw);
  assert_true(kf_utf8_valid(raw, len));
  assert_null(strstr(raw, "\\u0000")); /* jansson, for one, refuses it by default. */
  test_free(raw);
  json_error_t jerr;
  json_t *doc = json_load_file(f->json, 0, &jerr);
  if (doc == NULL)
    fail_msg("JSON report does not parse: %s (line %d)", jerr.text, jerr.line);
  check_against_schema(doc);
  return doc;
}

/* Every scenario and step has the keys the schema requires, checked here by hand as well. */
static void check_required_keys(const json_t *doc) {
  static const char *const sc_keys[] = {"name",   "file", "line",        "status", "message",
                                        "covers", "tags", "duration_ms", "steps"};
  static const char *const st_keys[] = {"label",   "file",      "line",        "status",
                                        "message", "fail_line", "duration_ms", "exchanges",
                                        "asserts", "artifacts"};
  const json_t *scs = json_object_get(doc, "scenarios");
  assert_int_equal(json_array_size(scs), 5);
  size_t i;
  const json_t *sc;
  json_array_foreach(scs, i, sc) {
    for (size_t k = 0; k < sizeof sc_keys / sizeof sc_keys[0]; k++)
      assert_non_null(json_object_get(sc, sc_keys[k]));
    size_t j;
    const json_t *st;
    json_array_foreach(json_object_get(sc, "steps"), j, st) {
      for (size_t k = 0; k < sizeof st_keys / sizeof st_keys[0]; k++)
        assert_non_null(json_object_get(st, st_keys[k]));
      /* The texts of schema version 1 are gone. */
      assert_null(json_object_get(st, "request"));
      assert_null(json_object_get(st, "response"));
    }
  }
}

static void test_json_report(void **state) {
  fixture *f = *state;
  json_t *doc = write_json(f);

  /* The keys the schema requires, checked here by hand as well. */
  static const char *const top[] = {"schema_version", "konform_version", "target",     "base_url",
                                    "seed",           "run_id",          "started_at", "summary",
                                    "requirements",   "scenarios"};
  for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
    assert_non_null(json_object_get(doc, top[i]));
  assert_int_equal(int_of(doc, "schema_version"), 2);
  assert_string_equal(str_of(doc, "seed"), "18446744073709551557");
  assert_string_equal(str_of(doc, "run_id"), "0000000000000abc");
  assert_string_equal(str_of(doc, "started_at"), "2026-03-28T10:00:00Z");
  assert_string_equal(str_of(doc, "target"), "embedded reference stack");

  const json_t *sum = json_object_get(doc, "summary");
  assert_int_equal(int_of(sum, "scenarios"), 5);
  assert_int_equal(int_of(sum, "passed"), 2);
  assert_int_equal(int_of(sum, "failed"), 1);
  assert_int_equal(int_of(sum, "errors"), 1);
  assert_int_equal(int_of(sum, "skipped"), 1);
  assert_int_equal(int_of(sum, "duration_ms"), 4321);

  const json_t *reqs = json_object_get(doc, "requirements");
  assert_int_equal(json_array_size(reqs), 6);
  check_req(reqs, "ACC-01", "pass", 1);
  check_req(reqs, "ACC-06", "fail", 1);
  check_req(reqs, "ACC-07", "not-checked", 0); /* No scenario at all. */
  check_req(reqs, "ACC-08", "fail", 1);
  check_req(reqs, "AUTH-04", "fail", 1);        /* An error counts against it. */
  check_req(reqs, "AUTH-05", "not-checked", 1); /* Only skipped: never a pass. */
  assert_int_equal(int_of(find_by(reqs, "id", "ACC-01"), "not_selected"), 0);
  assert_string_equal(str_of(find_by(reqs, "id", "AUTH-05"), "source"), "default");
  assert_string_equal(json_string_value(json_array_get(
                          json_object_get(find_by(reqs, "id", "ACC-06"), "scenarios"), 0)),
                      NAME_FAIL);

  check_required_keys(doc);
  const json_t *scs = json_object_get(doc, "scenarios");
  const json_t *pass = find_by(scs, "name", NAME_PASS);
  assert_string_equal(str_of(pass, "status"), "pass");
  assert_true(json_is_null(json_object_get(pass, "message")));
  assert_int_equal(json_array_size(json_object_get(pass, "tags")), 2);
  assert_int_equal(int_of(pass, "duration_ms"), 1250);

  const json_t *failed = find_by(scs, "name", NAME_FAIL);
  assert_string_equal(str_of(failed, "status"), "fail");
  assert_string_equal(str_of(failed, "message"), FAIL_MESSAGE);
  assert_int_equal(int_of(failed, "line"), 1);
  assert_string_equal(str_of(failed, "file"), FAIL_FILE);
  const json_t *covers = json_object_get(failed, "covers");
  assert_int_equal(json_array_size(covers), 2);
  assert_string_equal(json_string_value(json_array_get(covers, 1)), "ACC-08");
  const json_t *bad = at(get(failed, "steps"), 1);
  assert_string_equal(str_of(bad, "status"), "fail");
  assert_int_equal(int_of(bad, "line"), 15);
  assert_int_equal(int_of(bad, "fail_line"), FAIL_LINE);

  assert_string_equal(str_of(find_by(scs, "name", NAME_ERROR), "status"), "error");
  const json_t *skip = find_by(scs, "name", NAME_SKIP);
  assert_string_equal(str_of(skip, "status"), "skip");
  assert_string_equal(str_of(skip, "message"), SKIP_MESSAGE);
  assert_int_equal(json_array_size(json_object_get(skip, "steps")), 0);
  const json_t *other = find_by(scs, "name", NAME_OTHER);
  assert_int_equal(json_array_size(json_object_get(other, "covers")), 0);
  json_decref(doc);
}

/* One side of an exchange: one header, its body and whether it was cut. */
static void check_message(const json_t *msg, const char *header, const char *value,
                          const char *body, bool cut) {
  const json_t *headers = get(msg, "headers");
  assert_int_equal(json_array_size(headers), header != NULL ? 1 : 0);
  if (header != NULL) {
    assert_string_equal(str_of(at(headers, 0), "name"), header);
    assert_string_equal(str_of(at(headers, 0), "value"), value);
  }
  if (body != NULL)
    assert_string_equal(str_of(msg, "body"), body);
  else
    assert_true(json_is_null(get(msg, "body")));
  assert_true(json_is_boolean(get(msg, "body_cut")) && json_is_true(get(msg, "body_cut")) == cut);
}

static void test_json_exchanges(void **state) {
  fixture *f = *state;
  json_t *doc = write_json(f);
  const json_t *scs = get(doc, "scenarios");

  /* The failing confirmation: control characters survive as JSON escapes, bad bytes are U+FFFD. */
  const json_t *ex = at(get(at(get(find_by(scs, "name", NAME_FAIL), "steps"), 1), "exchanges"), 0);
  assert_string_equal(str_of(ex, "purpose"), "request");
  assert_string_equal(str_of(ex, "method"), "POST");
  assert_string_equal(str_of(ex, "url"), SERVER "/api/v1/email-confirmations");
  check_message(get(ex, "request"), "X-Odd", odd_value,
                "{\"id\":\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd(\"}\\x00tail", false);
  assert_int_equal(int_of(ex, "status"), 200);
  assert_string_equal(str_of(ex, "status_line"), "HTTP/1.1 200 OK");
  check_message(get(ex, "response"), "Content-Type", "application/json", bad_response_body, false);
  assert_true(json_is_null(get(ex, "error")));
  assert_int_equal(int_of(ex, "duration_ms"), 2);

  /* A wait with three polls shows three exchanges; the cut body says so. */
  const json_t *waits = get(at(get(find_by(scs, "name", NAME_PASS), "steps"), 1), "exchanges");
  assert_int_equal(json_array_size(waits), 3);
  static const json_int_t polls[] = {408, 408, 200};
  for (size_t i = 0; i < 3; i++) {
    assert_string_equal(str_of(at(waits, i), "purpose"), "wait mail");
    assert_string_equal(str_of(at(waits, i), "url"), WAIT_URL);
    assert_int_equal(int_of(at(waits, i), "status"), polls[i]);
  }
  const json_t *cut = get(at(waits, 2), "response");
  assert_true(json_is_true(get(cut, "body_cut")));
  assert_int_equal(json_string_length(get(cut, "body")), KF_MESSAGE_BODY_MAX);
  check_message(get(at(waits, 0), "response"), NULL, NULL, NULL, false);

  /* No answer: status 0, no status line, no response, and why. */
  const json_t *none =
      at(get(at(get(find_by(scs, "name", NAME_ERROR), "steps"), 0), "exchanges"), 0);
  assert_int_equal(int_of(none, "status"), 0);
  assert_true(json_is_null(get(none, "status_line")));
  assert_true(json_is_null(get(none, "response")));
  assert_string_equal(str_of(none, "error"), "connection refused");
  check_message(get(none, "request"), "Content-Type", "application/json", NULL, false);
  json_decref(doc);
}

static void check_assert(const json_t *a, const char *source, json_int_t line, const char *status,
                         const char *expected, const char *actual, const char *message) {
  assert_string_equal(str_of(a, "source"), source);
  assert_int_equal(int_of(a, "line"), line);
  assert_string_equal(str_of(a, "status"), status);
  const char *want[] = {expected, actual, message};
  const char *keys[] = {"expected", "actual", "message"};
  for (size_t i = 0; i < 3; i++) {
    if (want[i] != NULL)
      assert_string_equal(str_of(a, keys[i]), want[i]);
    else
      assert_true(json_is_null(get(a, keys[i])));
  }
}

static void test_json_asserts_and_artifacts(void **state) {
  fixture *f = *state;
  json_t *doc = write_json(f);
  const json_t *scs = get(doc, "scenarios");

  /* Every expect, passed ones too, in order. */
  const json_t *asserts = get(at(get(find_by(scs, "name", NAME_FAIL), "steps"), 1), "asserts");
  assert_int_equal(json_array_size(asserts), 3);
  check_assert(at(asserts, 0), "expect header Content-Type contains \"json\"", 16, "pass", "json",
               "got \"application/json\"", NULL);
  check_assert(at(asserts, 1), "expect status == 410", FAIL_LINE, "fail", "410", "got 200",
               FAIL_MESSAGE);
  assert_string_equal(str_of(at(asserts, 1), "file"), FAIL_FILE);
  check_assert(at(asserts, 2), "expect body.status == \"expired\"", 18, "fail", "\"expired\"",
               "got \"confirmed\"", BODY_MESSAGE);
  asserts = get(at(get(find_by(scs, "name", NAME_ERROR), "steps"), 0), "asserts");
  check_assert(at(asserts, 0), "expect status == 401", 7, "error", "401", NULL,
               "there is no response to check");

  /* Text is kept as text, byte for byte; binary data as base64. */
  const json_t *wait = at(get(find_by(scs, "name", NAME_PASS), "steps"), 1);
  const json_t *arts = get(wait, "artifacts");
  assert_int_equal(json_array_size(arts), 2);
  const json_t *mail = at(arts, 0);
  assert_string_equal(str_of(mail, "name"), "mail 17 (raw source)");
  assert_string_equal(str_of(mail, "media_type"), "message/rfc822");
  assert_string_equal(str_of(mail, "encoding"), "utf-8");
  assert_string_equal(str_of(mail, "data"), raw_mail);
  assert_int_equal(int_of(mail, "size"), sizeof raw_mail - 1);
  assert_int_equal(sizeof raw_mail - 1, 68); /* As the other reports say. */
  const json_t *png = at(arts, 1);
  assert_string_equal(str_of(png, "media_type"), "image/png");
  assert_string_equal(str_of(png, "encoding"), "base64");
  assert_int_equal(int_of(png, "size"), sizeof png_bytes);
  unsigned char bin[64];
  size_t bin_len = 0;
  const char *b64 = str_of(png, "data");
  assert_int_equal(sodium_base642bin(bin, sizeof bin, b64, strlen(b64), NULL, &bin_len, NULL,
                                     sodium_base64_VARIANT_ORIGINAL),
                   0);
  assert_int_equal(bin_len, sizeof png_bytes);
  assert_memory_equal(bin, png_bytes, sizeof png_bytes);
  assert_int_equal(
      json_array_size(get(at(get(find_by(scs, "name", NAME_FAIL), "steps"), 1), "artifacts")), 0);
  json_decref(doc);
}

/* Whether doc follows the schema, without failing the test. */
static bool follows_schema(const json_t *schema, const json_t *doc) {
  char why[512];
  return schema_ok(schema, schema, doc, "$", why, sizeof why);
}

static void test_json_schema_shape(void **state) {
  fixture *f = *state;
  /* The schema states the contract; these are the parts consumers rely on. */
  json_t *schema = load_schema();
  const json_t *defs = json_object_get(schema, "$defs");
  json_t *good = json_string("skip");
  schema_check(schema, json_object_get(defs, "status"), good, "$");
  json_decref(good);
  assert_int_equal(json_array_size(json_object_get(json_object_get(defs, "summary"), "required")),
                   6);
  static const char *const defined[] = {"step",   "exchange", "message",
                                        "header", "assert",   "artifact"};
  for (size_t i = 0; i < sizeof defined / sizeof defined[0]; i++)
    assert_non_null(json_object_get(json_object_get(defs, defined[i]), "required"));

  /* The checker is not a rubber stamp: each of these breaks the contract. */
  json_t *doc = write_json(f);
  assert_true(follows_schema(schema, doc));
  json_t *step = json_array_get(
      json_object_get(json_array_get(json_object_get(doc, "scenarios"), 1), "steps"), 1);
  json_t *ex = json_array_get(json_object_get(step, "exchanges"), 0);
  json_t *saved = json_incref(json_object_get(ex, "response"));
  assert_int_equal(json_object_set_new(ex, "response", json_string("HTTP/1.1 200 OK")), 0);
  assert_false(follows_schema(schema, doc));
  assert_int_equal(json_object_set_new(ex, "response", saved), 0);
  assert_true(follows_schema(schema, doc));
  assert_int_equal(json_object_set_new(doc, "schema_version", json_integer(1)), 0);
  assert_false(follows_schema(schema, doc));
  assert_int_equal(json_object_set_new(doc, "schema_version", json_integer(2)), 0);
  assert_int_equal(json_object_del(json_array_get(json_object_get(step, "asserts"), 0), "actual"),
                   0);
  assert_false(follows_schema(schema, doc));
  json_decref(doc);
  json_decref(schema);
}

static char *capture_summary(const kf_run_result *run, bool color, bool verbose);

/*
 * A requirement whose selected scenarios all passed, while the filters left
 * other covering scenarios out, is not checked in every report.
 */
static void test_not_selected_is_not_checked(void **state) {
  fixture *f = *state;
  size_t n = 0;
  assert_int_equal(kf_run_result_requirement_status(&f->run, "ACC-01", &n), KF_REQ_PASS);
  assert_true(strcmp(f->run.requirements[0].id, "ACC-01") == 0);
  f->run.requirements[0].not_selected = 11;
  assert_int_equal(kf_run_result_requirement_status(&f->run, "ACC-01", &n), KF_REQ_NOT_CHECKED);
  assert_int_equal(n, 1);
  /* A failure still decides, whatever was left out. */
  assert_true(strcmp(f->run.requirements[1].id, "ACC-06") == 0);
  f->run.requirements[1].not_selected = 3;
  assert_int_equal(kf_run_result_requirement_status(&f->run, "ACC-06", &n), KF_REQ_FAIL);

  json_t *doc = write_json(f);
  const json_t *reqs = json_object_get(doc, "requirements");
  check_req(reqs, "ACC-01", "not-checked", 1);
  assert_int_equal(int_of(find_by(reqs, "id", "ACC-01"), "not_selected"), 11);
  assert_int_equal(int_of(find_by(reqs, "id", "ACC-06"), "not_selected"), 3);
  json_decref(doc);

  char *text = capture_summary(&f->run, false, false);
  assert_non_null(
      strstr(text, "    ACC-01   not checked  1 of 12 scenarios selected  Registrierung\n"));
  assert_non_null(
      strstr(text, "    ACC-06   FAIL         1 of 1 scenario failed  Link 24 Stunden\n"));
  assert_non_null(strstr(text, "  ACC     0 pass    2 fail    2 not checked\n"));
  test_free(text);
}

static void test_json_empty_run(void **state) {
  fixture *f = *state;
  kf_run_result_release(&f->run);
  json_t *doc = write_json(f);
  assert_int_equal(json_array_size(json_object_get(doc, "requirements")), 0);
  assert_int_equal(int_of(json_object_get(doc, "summary"), "scenarios"), 0);
  assert_true(json_is_null(json_object_get(doc, "base_url")));
  json_decref(doc);
}

static void test_write_into_missing_folder(void **state) {
  fixture *f = *state;
  char path[192];
  assert_int_equal(kf_str_format(path, sizeof path, "%s/no/such/dir/r.json", f->dir), KF_OK);
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kr_json_write(&f->run, path, &err), KF_ERR_IO);
  assert_non_null(strstr(err.message, "no/such/dir"));
  kf_err_init(&err);
  assert_int_equal(kr_junit_write(&f->run, path, &err), KF_ERR_IO);
  assert_true(err.message[0] != '\0');
}

/* ---------------------------------------------------------------------------
 * Allocation failures: every allocation of every writer, transient and
 * persistent (tests/unit/kt_alloc.h).
 * ------------------------------------------------------------------------- */

typedef kf_rc (*report_writer)(const kf_run_result *, const char *, kf_err *);

/* One file writer under the sweep, and the report it writes when nothing fails. */
typedef struct file_sweep {
  fixture *f;
  const char *path;
  report_writer writer;
  char *want;
} file_sweep;

static const char old_report[] = "old report\n";

/*
 * A failed write reports KF_ERR_NOMEM and leaves the old report exactly as it
 * was and no temporary file; a successful one is the whole report.
 */
static bool file_sweep_body(void *ctx, const kt_alloc_run *run) {
  file_sweep *fs = ctx;
  write_file(fs->path, old_report);
  kf_err err;
  kf_err_init(&err);
  kt_alloc_arm(run);
  kf_rc rc = fs->writer(&fs->f->run, fs->path, &err);
  kt_alloc_disarm();
  assert_int_equal(dir_entries(fs->f->dir), 1);
  char *now = slurp(fs->path, NULL);
  assert_non_null(now);
  if (rc != KF_OK) {
    assert_int_equal(rc, KF_ERR_NOMEM);
    assert_int_equal(err.rc, KF_ERR_NOMEM);
    assert_true(err.message[0] != '\0');
    assert_string_equal(now, old_report);
  } else if (strcmp(now, fs->want) != 0) {
    test_free(now);
    fail_msg("allocation %lu (%s) failed, yet a different report was written", run->n,
             run->persistent ? "persistent" : "transient");
  }
  test_free(now);
  return rc == KF_OK;
}

static void file_sweep_run(fixture *f, const char *path, report_writer writer) {
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(writer(&f->run, path, &err), KF_OK);
  file_sweep fs = {.f = f, .path = path, .writer = writer, .want = slurp(path, NULL)};
  assert_non_null(fs.want);
  assert_true(kt_alloc_sweep(file_sweep_body, &fs) > 3);
  test_free(fs.want);
}

static void test_json_alloc_failures(void **state) {
  fixture *f = *state;
  file_sweep_run(f, f->json, kr_json_write);
}

static void test_junit_alloc_failures(void **state) {
  fixture *f = *state;
  file_sweep_run(f, f->xml, kr_junit_write);
}

/* ---------------------------------------------------------------------------
 * HTML and TAP.
 * ------------------------------------------------------------------------- */

/* A path in f's folder (static storage: one at a time). */
static const char *fixture_path(fixture *f, const char *name) {
  static char path[192];
  assert_int_equal(kf_str_format(path, sizeof path, "%s/%s", f->dir, name), KF_OK);
  return path;
}

/* A scenario whose name and message are hostile to HTML, TAP and YAML alike. */
static void add_hostile(kf_run_result *run) {
  static const char name[] = "</script><script>alert(1)</script> <!-- \"q\" & 'a' # x \\ "
                             "\xff\n2nd line\x1b[31m";
  kf_scenario_result *sc =
      add_scenario(run, name, "scenarios/acc/hostile.konform", 1, "ACC-01", KF_STATUS_FAIL, 1);
  sc->message = own("expect json \"$.a\" == \"</script>\": got \"\xc3\x28\"\n  ---\n  ...");
  kf_step_result *st = add_step(sc, "GET /</script>", 2, KF_STATUS_FAIL, sc->message);
  st->fail_line = 3;
  kf_exchange *ex = add_exchange(st, "request", "GET", SERVER "/</script>", "HTTP/1.1 200 OK");
  set_body(&ex->response, "<!--<script>x</script>\0\xff", 24);
  add_assert(st, "expect json \"$.a\" == \"</script>\"", 3, KF_STATUS_FAIL, "\"</script>\"",
             "got \"\xc3\x28\"", sc->message);
}

/* Write f's run as HTML and return the page (caller frees with test_free). */
static char *write_html(fixture *f, size_t *len) {
  kf_err err;
  kf_err_init(&err);
  const char *path = fixture_path(f, "report.html");
  assert_int_equal(kr_html_write(&f->run, path, &err), KF_OK);
  assert_int_equal(dir_entries(f->dir), 1);
  char *page = slurp(path, len);
  assert_non_null(page);
  assert_true(kf_utf8_valid(page, *len));
  assert_null(memchr(page, '\0', *len));
  return page;
}

/* The run's data of page, parsed (caller json_decref's); checks the element holds no markup. */
static json_t *html_data(const char *page) {
  static const char open[] = "<script type=\"application/json\" id=\"konform-data\">";
  const char *start = strstr(page, open);
  assert_non_null(start);
  start += sizeof open - 1;
  const char *end = strstr(start, "</script>");
  assert_non_null(end);
  for (const char *p = start; p < end; p++)
    if (*p == '<' || *p == '>' || *p == '&')
      fail_msg("a raw '%c' in the embedded data at %td", *p, p - start);
  json_error_t jerr;
  json_t *doc = json_loadb(start, (size_t)(end - start), 0, &jerr);
  if (doc == NULL)
    fail_msg("the embedded data is no JSON: %s at %d", jerr.text, jerr.position);
  return doc;
}

/* The CSP names the SHA-256 of the text of the element that starts with open. */
static void assert_csp_hash(const char *page, const char *open, const char *close) {
  const char *start = strstr(page, open);
  assert_non_null(start);
  start += strlen(open);
  const char *end = strstr(start, close);
  assert_non_null(end);
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, (const unsigned char *)start, (size_t)(end - start));
  char b64[64], want[96];
  sodium_bin2base64(b64, sizeof b64, digest, sizeof digest, sodium_base64_VARIANT_ORIGINAL);
  assert_int_equal(kf_str_format(want, sizeof want, "'sha256-%s'", b64), KF_OK);
  const char *csp = strstr(page, "http-equiv=\"Content-Security-Policy\"");
  assert_non_null(csp);
  assert_true(strstr(csp, want) != NULL && strstr(csp, want) < strstr(page, "<title>"));
}

static const json_t *scenario_by_name(const json_t *doc, const char *name) {
  const json_t *s = find_by(json_object_get(doc, "scenarios"), "name", name);
  if (s == NULL)
    fail_msg("no scenario %s in the page's data", name);
  return s;
}

static void test_html_report(void **state) {
  fixture *f = *state;
  size_t len = 0;
  char *page = write_html(f, &len);
  assert_true(kf_str_starts_with(page, "<!DOCTYPE html>\n<html lang=\"en\">"));
  assert_non_null(strstr(page, "<p id=\"summary\">5 scenarios: 2 passed, 1 failed, 1 error, 1 "
                               "skipped</p>"));
  /* Self-contained: two scripts (data and code), nothing that loads anything. */
  size_t scripts = 0;
  for (const char *p = page; (p = strstr(p, "<script")) != NULL; p++)
    scripts++;
  assert_int_equal(scripts, 2);
  assert_null(strstr(page, " src="));
  assert_null(strstr(page, "<link"));
  assert_null(strstr(page, "@import"));
  assert_non_null(strstr(page, "default-src 'none'"));
  assert_csp_hash(page, "</script>\n<script>", "</script>");
  assert_csp_hash(page, "<style>", "</style>");

  json_t *doc = html_data(page);
  assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "run"), "seed")),
                      "18446744073709551557");
  assert_int_equal(json_array_size(json_object_get(doc, "scenarios")), 5);
  assert_int_equal(json_array_size(json_object_get(doc, "areas")), 3);
  const json_t *reqs = json_object_get(doc, "requirements");
  assert_string_equal(json_string_value(json_object_get(find_by(reqs, "id", "ACC-06"), "status")),
                      "fail");
  assert_string_equal(json_string_value(json_object_get(find_by(reqs, "id", "ACC-07"), "source")),
                      "practice");

  /* The failure: its message with its markup as text, where, and the marked expect. */
  const json_t *sc = scenario_by_name(doc, NAME_FAIL);
  assert_string_equal(json_string_value(json_object_get(sc, "message")), FAIL_MESSAGE);
  assert_string_equal(json_string_value(json_object_get(sc, "fail_at")), FAIL_FILE ":17");
  const json_t *pieces = json_object_get(json_array_get(json_object_get(sc, "steps"), 1), "pieces");
  size_t marked = 0, expects = 0;
  for (size_t i = 0; i < json_array_size(pieces); i++) {
    const json_t *p = json_array_get(pieces, i);
    if (strcmp(json_string_value(json_array_get(p, 0)), "expect") != 0)
      continue;
    expects++;
    if (json_array_size(p) == 4) {
      marked++;
      assert_true(kf_str_starts_with(json_string_value(json_array_get(p, 2)),
                                     "expect status == 410  (" FAIL_FILE ":17)"));
    }
  }
  assert_int_equal(expects, 3); /* Every expect, the one that held too. */
  assert_int_equal(marked, 1);
  /* The odd request: the NUL and the control characters visible, bad bytes replaced. */
  const char *req = json_string_value(json_array_get(json_array_get(pieces, 4), 2));
  assert_true(kf_str_starts_with(req, "POST " SERVER "/api/v1/email-confirmations\n"));
  assert_non_null(strstr(req, "X-Odd: a\\x01b\\x1B[31mred\\x7F"));
  assert_non_null(strstr(req, "\\x00tail"));
  assert_non_null(strstr(req, "\xef\xbf\xbd"));

  /* Artifacts: the raw mail as text, the QR image as base64 of its exact bytes. */
  const json_t *wait =
      json_array_get(json_object_get(scenario_by_name(doc, NAME_PASS), "steps"), 1);
  const json_t *wp = json_object_get(wait, "pieces");
  const json_t *mail = json_array_get(json_array_get(wp, json_array_size(wp) - 2), 3);
  assert_string_equal(json_string_value(json_object_get(mail, "type")), "message/rfc822");
  assert_non_null(strstr(json_string_value(json_object_get(mail, "text")), "Hallo, bitte"));
  const json_t *png = json_array_get(json_array_get(wp, json_array_size(wp) - 1), 3);
  char b64[64];
  sodium_bin2base64(b64, sizeof b64, png_bytes, sizeof png_bytes, sodium_base64_VARIANT_ORIGINAL);
  assert_string_equal(json_string_value(json_object_get(png, "b64")), b64);
  const json_t *skip = scenario_by_name(doc, NAME_SKIP);
  assert_string_equal(json_string_value(json_object_get(skip, "skip")), "no_clock");
  assert_string_equal(json_string_value(json_object_get(skip, "message")), SKIP_MESSAGE);
  json_decref(doc);
  test_free(page);
}

static void test_html_hostile(void **state) {
  fixture *f = *state;
  add_hostile(&f->run);
  size_t len = 0;
  char *page = write_html(f, &len);
  json_t *doc = html_data(page);
  const json_t *scs = json_object_get(doc, "scenarios");
  const json_t *sc = json_array_get(scs, json_array_size(scs) - 1);
  assert_string_equal(json_string_value(json_object_get(sc, "name")),
                      "</script><script>alert(1)</script> <!-- \"q\" & 'a' # x \\ \xef\xbf\xbd\n"
                      "2nd line\\x1B[31m");
  const json_t *pieces = json_object_get(json_array_get(json_object_get(sc, "steps"), 0), "pieces");
  const char *resp = json_string_value(json_array_get(json_array_get(pieces, 3), 2));
  assert_non_null(strstr(resp, "<!--<script>x</script>\\x00\xef\xbf\xbd"));
  /* Outside the data the hostile text appears nowhere, not even in the title. */
  char *data = strstr(page, "id=\"konform-data\">");
  assert_non_null(data);
  char *after = strstr(data, "</script>");
  assert_non_null(after);
  *data = '\0';
  assert_null(strstr(page, "alert(1)"));
  assert_null(strstr(after, "alert(1)"));
  json_decref(doc);
  test_free(page);
}

static void test_html_empty_run(void **state) {
  fixture *f = *state;
  kf_run_result_release(&f->run);
  size_t len = 0;
  char *page = write_html(f, &len);
  json_t *doc = html_data(page);
  assert_int_equal(json_array_size(json_object_get(doc, "scenarios")), 0);
  assert_non_null(strstr(page, "0 scenarios: 0 passed"));
  json_decref(doc);
  test_free(page);
}

static void test_html_alloc_failures(void **state) {
  fixture *f = *state;
  file_sweep_run(f, fixture_path(f, "report.html"), kr_html_write);
}

/* Write f's run as TAP (version 14 or 13) and return it (caller frees with test_free). */
static char *write_tap(fixture *f, report_writer writer) {
  kf_err err;
  kf_err_init(&err);
  const char *path = fixture_path(f, "report.tap");
  assert_int_equal(writer(&f->run, path, &err), KF_OK);
  size_t len = 0;
  char *tap = slurp(path, &len);
  assert_non_null(tap);
  assert_true(kf_utf8_valid(tap, len));
  /* Every line: no control character but the line break. */
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)tap[i] < 0x20 && tap[i] != '\n')
      fail_msg("control character 0x%02X at byte %zu", (unsigned char)tap[i], i);
  return tap;
}

static void test_tap_report(void **state) {
  fixture *f = *state;
  char *tap = write_tap(f, kr_tap_write);
  assert_true(kf_str_starts_with(tap, "TAP version 14\n1..5\n# target embedded reference stack "
                                      "(" SERVER "), seed 18446744073709551557, run id "
                                      "0000000000000abc\n"
                                      "ok 1 - " NAME_PASS "\nnot ok 2 - " NAME_FAIL "\n  ---\n"
                                      "  message: \"expect status == 410: got 200 <&\\\"'>\"\n"
                                      "  severity: fail\n  at:\n"
                                      "    file: \"" FAIL_FILE "\"\n    line: 17\n"));
  assert_non_null(strstr(tap, "  step: \"POST /api/v1/email-confirmations\"\n"
                              "  step_at: \"" FAIL_FILE ":15\"\n  expects:\n"
                              "    - expect: \"expect status == 410\"\n      status: fail\n"
                              "      at: \"" FAIL_FILE ":17\"\n      expected: \"410\"\n"
                              "      actual: \"got 200\"\n"
                              "    - expect: \"expect body.status == \\\"expired\\\"\"\n"));
  /* The second expect's message is its own; the first's is the block's and is not repeated. */
  assert_non_null(strstr(tap, "      message: \""
                              "expect body.status == \\\"expired\\\": got "
                              "\\\"confirmed\\\"\"\n"));
  assert_null(strstr(tap, "      message: \""
                          "expect status == 410"));
  assert_non_null(strstr(tap, "  request: \"POST " SERVER "/api/v1/email-confirmations\"\n"
                              "  response: \"HTTP/1.1 200 OK\"\n  ...\n"));
  assert_non_null(strstr(tap, "\nok 3 - " NAME_SKIP " # SKIP " SKIP_MESSAGE "\n"));
  assert_non_null(strstr(tap, "\nnot ok 4 - " NAME_ERROR "\n  ---\n  message: \"" ERROR_MESSAGE
                              "\"\n  severity: error\n"));
  assert_non_null(
      strstr(tap, "  response: \"no response: connection refused\"\n  ...\nok 5 - " NAME_OTHER
                  "\n# requirement ACC-01 pass: Registrierung\n"));
  assert_true(kf_str_ends_with(tap, "# 2 passed, 2 failed, 1 skipped (1 of the failed: errors)\n"));
  test_free(tap);

  tap = write_tap(f, kr_tap13_write);
  assert_true(kf_str_starts_with(tap, "TAP version 13\n1..5\n"));
  test_free(tap);
}

static void test_tap_hostile(void **state) {
  fixture *f = *state;
  add_hostile(&f->run);
  char *tap = write_tap(f, kr_tap_write);
  /* '#' and '\' escaped in the description, the line break a blank, controls visible. */
  assert_non_null(strstr(tap, "\nnot ok 6 - </script><script>alert(1)</script> <!-- \"q\" & 'a' "
                              "\\# x \\\\ \xef\xbf\xbd 2nd line\\\\x1B[31m\n  ---\n"));
  /* YAML: one line per value, quotes and backslashes escaped, no line that ends the block. */
  assert_non_null(strstr(tap, "  message: \"expect json \\\"$.a\\\" == \\\"</script>\\\": got "
                              "\\\"\xef\xbf\xbd(\\\"\\n  ---\\n  ...\"\n"));
  test_free(tap);
}

static void test_tap_empty_run(void **state) {
  fixture *f = *state;
  kf_run_result_release(&f->run);
  char *tap = write_tap(f, kr_tap_write);
  assert_true(kf_str_starts_with(tap, "TAP version 14\n1..0 # SKIP no scenario was selected\n"));
  test_free(tap);
}

static void test_tap_alloc_failures(void **state) {
  fixture *f = *state;
  file_sweep_run(f, fixture_path(f, "report.tap"), kr_tap_write);
}

/* The --report kinds: each named once, each with a writer; the usage words from the same rows. */
static void test_report_formats(void **state) {
  (void)state;
  static const struct {
    const char *name;
    kr_write_fn write;
  } rows[] = {
#define ROW(name, label, write) {name, write},
      KR_FORMATS(ROW)
#undef ROW
  };
  size_t n = sizeof rows / sizeof rows[0];
  assert_int_equal(n, 5);
  for (size_t i = 0; i < n; i++) {
    assert_non_null(rows[i].write);
    for (size_t j = i + 1; j < n; j++)
      assert_true(strcmp(rows[i].name, rows[j].name) != 0);
  }
  assert_string_equal(KR_FORMAT_WORDS, " json junit html tap tap13");
}

/* ---------------------------------------------------------------------------
 * Streams: the reports a run writes while it goes on.
 * ------------------------------------------------------------------------- */

/* The formats, by row of KR_FORMATS, and a file name for each in the fixture's folder. */
static const struct {
  const char *name;
  kr_write_fn write;
} stream_rows[] = {
#define ROW(name, label, write) {name, write},
    KR_FORMATS(ROW)
#undef ROW
};
enum { STREAM_ROWS = sizeof stream_rows / sizeof stream_rows[0] };

static void stream_path(fixture *f, size_t row, const char *what, char *out, size_t size) {
  assert_int_equal(kf_str_format(out, size, "%s/%s-%s", f->dir, what, stream_rows[row].name),
                   KF_OK);
}

/*
 * Every format is a stream, and a stream given the scenarios backwards, each
 * losing every step right after it was handed to all of them (the close reads
 * none), writes byte for byte what the whole-run writer writes; the spool
 * leaves nothing behind.
 */
static void test_stream_any_order(void **state) {
  fixture *f = *state;
  kf_err err;
  char *want[STREAM_ROWS];
  kr_stream *s[STREAM_ROWS];
  for (size_t r = 0; r < STREAM_ROWS; r++) {
    assert_true(kr_format_streams(stream_rows[r].write));
    char path[192];
    stream_path(f, r, "whole", path, sizeof path);
    kf_err_init(&err);
    assert_int_equal(stream_rows[r].write(&f->run, path, &err), KF_OK);
    want[r] = slurp(path, NULL);
    assert_non_null(want[r]);
    stream_path(f, r, "streamed", path, sizeof path);
    assert_int_equal(kr_stream_open(stream_rows[r].write, path, &s[r], &err), KF_OK);
    assert_int_equal(access(path, F_OK), -1);
  }
  for (size_t i = f->run.scenarios_len; i-- > 0;) {
    for (size_t r = 0; r < STREAM_ROWS; r++)
      assert_int_equal(kr_stream_scenario(s[r], &f->run.scenarios[i], i, &err), KF_OK);
    kf_scenario_result_drop_steps(&f->run.scenarios[i]);
  }
  for (size_t r = 0; r < STREAM_ROWS; r++) {
    assert_int_equal(kr_stream_close(s[r], &f->run, &err), KF_OK);
    char path[192];
    stream_path(f, r, "streamed", path, sizeof path);
    char *got = slurp(path, NULL);
    assert_non_null(got);
    if (strcmp(got, want[r]) != 0)
      fail_msg("the streamed %s report differs from the whole run's", stream_rows[r].name);
    test_free(got);
    test_free(want[r]);
  }
  assert_int_equal(dir_entries(f->dir), 2 * STREAM_ROWS);
}

/* A stream that is aborted, not given every scenario or given one twice writes nothing. */
static void test_stream_refusals(void **state) {
  fixture *f = *state;
  assert_true(f->run.scenarios_len >= 2);
  kf_err err;
  kf_err_init(&err);
  char path[192];
  stream_path(f, 0, "refused", path, sizeof path);
  kr_stream *s = NULL;
  assert_int_equal(kr_stream_open(kr_json_write, path, &s, &err), KF_OK);
  assert_int_equal(kr_stream_scenario(s, &f->run.scenarios[0], 0, &err), KF_OK);
  kr_stream_abort(s);
  assert_int_equal(dir_entries(f->dir), 0);

  assert_int_equal(kr_stream_open(kr_tap_write, path, &s, &err), KF_OK);
  assert_int_equal(kr_stream_scenario(s, &f->run.scenarios[1], 1, &err), KF_OK);
  assert_int_equal(kr_stream_scenario(s, &f->run.scenarios[1], 1, &err), KF_ERR_STATE);
  assert_int_equal(kr_stream_close(s, &f->run, &err), KF_ERR_STATE);
  assert_non_null(strstr(err.message, "was given 1 of the run's"));
  assert_int_equal(dir_entries(f->dir), 0);

  /* A format that had no stream would say so rather than write a wrong file. */
  assert_false(kr_format_streams(NULL));
  assert_int_equal(kr_stream_open(NULL, path, &s, &err), KF_ERR_INVALID);
  assert_null(s);
}

/* ---------------------------------------------------------------------------
 * JUnit.
 * ------------------------------------------------------------------------- */

static double xpath_number(xmlDocPtr doc, const char *expr) {
  xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  assert_non_null(ctx);
  xmlXPathObjectPtr obj = xmlXPathEvalExpression(BAD_CAST expr, ctx);
  if (obj == NULL)
    fail_msg("bad XPath %s", expr);
  double v = xmlXPathCastToNumber(obj);
  xmlXPathFreeObject(obj);
  xmlXPathFreeContext(ctx);
  return v;
}

/* The string value of expr; caller frees with xmlFree. */
static char *xpath_string(xmlDocPtr doc, const char *expr) {
  xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  assert_non_null(ctx);
  xmlXPathObjectPtr obj = xmlXPathEvalExpression(BAD_CAST expr, ctx);
  if (obj == NULL)
    fail_msg("bad XPath %s", expr);
  char *v = (char *)xmlXPathCastToString(obj);
  xmlXPathFreeObject(obj);
  xmlXPathFreeContext(ctx);
  assert_non_null(v);
  return v;
}

static void assert_xpath_count(xmlDocPtr doc, const char *expr, int want) {
  char q[512];
  assert_int_equal(kf_str_format(q, sizeof q, "count(%s)", expr), KF_OK);
  int got = (int)xpath_number(doc, q);
  if (got != want)
    fail_msg("count(%s) = %d, want %d", expr, got, want);
}

static void assert_xpath_string(xmlDocPtr doc, const char *expr, const char *want) {
  char *got = xpath_string(doc, expr);
  if (strcmp(got, want) != 0) {
    char copy[512];
    (void)kf_str_copy(copy, sizeof copy, got);
    xmlFree(got);
    fail_msg("%s = \"%s\", want \"%s\"", expr, copy, want);
  }
  xmlFree(got);
}

/* Whether the string value of expr contains needle. */
static bool xpath_contains(xmlDocPtr doc, const char *expr, const char *needle) {
  char *got = xpath_string(doc, expr);
  bool found = strstr(got, needle) != NULL;
  xmlFree(got);
  return found;
}

static void assert_xpath_contains(xmlDocPtr doc, const char *expr, const char *needle) {
  if (!xpath_contains(doc, expr, needle))
    fail_msg("%s does not contain \"%s\"", expr, needle);
}

static void assert_xpath_lacks(xmlDocPtr doc, const char *expr, const char *needle) {
  if (xpath_contains(doc, expr, needle))
    fail_msg("%s contains \"%s\"", expr, needle);
}

/* Write f's run as JUnit, check the raw bytes and parse it strictly (caller frees). */
static xmlDocPtr write_junit(fixture *f) {
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kr_junit_write(&f->run, f->xml, &err), KF_OK);
  assert_int_equal(dir_entries(f->dir), 1);

  /* The raw bytes: valid UTF-8 and no control character XML 1.0 forbids. */
  size_t len = 0;
  char *raw = slurp(f->xml, &len);
  assert_non_null(raw);
  assert_true(kf_utf8_valid(raw, len));
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)raw[i];
    if (c < 0x20 && c != '\n' && c != '\t' && c != '\r')
      fail_msg("raw control character 0x%02X at byte %zu", c, i);
  }
  assert_null(strstr(raw, "\xef\xbf\xbf")); /* U+FFFF is not an XML character. */
  test_free(raw);

  /* A strict parse: any well-formedness problem fails here. */
  xmlDocPtr doc = xmlReadFile(f->xml, NULL, XML_PARSE_NONET);
  assert_non_null(doc);
  return doc;
}

static void test_junit_report(void **state) {
  fixture *f = *state;
  xmlDocPtr doc = write_junit(f);

  assert_xpath_string(doc, "name(/*)", "testsuites");
  assert_xpath_string(doc, "/testsuites/@name", "konform");
  assert_xpath_string(doc, "/testsuites/@tests", "5");
  assert_xpath_string(doc, "/testsuites/@failures", "1");
  assert_xpath_string(doc, "/testsuites/@errors", "1");
  /* junit-10.xsd has no skipped or timestamp on <testsuites>; the suites carry both. */
  assert_xpath_count(doc, "/testsuites/@skipped", 0);
  assert_xpath_count(doc, "/testsuites/@timestamp", 0);
  assert_int_equal((int)xpath_number(doc, "sum(/testsuites/testsuite/@skipped)"), 1);
  assert_xpath_string(doc, "/testsuites/testsuite[1]/@timestamp", "2026-03-28T10:00:00");
  assert_xpath_string(doc, "/testsuites/@time", "4.321");

  /* One suite per area, in catalogue order, then areas outside the catalogue. */
  assert_xpath_count(doc, "/testsuites/testsuite", 3);
  assert_xpath_string(doc, "/testsuites/testsuite[1]/@name", "ACC");
  assert_xpath_string(doc, "/testsuites/testsuite[2]/@name", "AUTH");
  assert_xpath_string(doc, "/testsuites/testsuite[3]/@name", "OTHER");
  assert_xpath_string(doc, "/testsuites/testsuite[1]/@tests", "2");
  assert_xpath_string(doc, "/testsuites/testsuite[1]/@failures", "1");
  assert_xpath_string(doc, "/testsuites/testsuite[1]/@errors", "0");
  assert_xpath_string(doc, "/testsuites/testsuite[2]/@errors", "1");
  assert_xpath_string(doc, "/testsuites/testsuite[2]/@skipped", "1");
  assert_xpath_string(doc, "/testsuites/testsuite[1]/@time", "1.262");
  assert_xpath_string(doc, "/testsuites/testsuite[1]/properties/property[@name='seed']/@value",
                      "18446744073709551557");
  assert_xpath_string(doc, "/testsuites/testsuite[1]/properties/property[@name='run_id']/@value",
                      "0000000000000abc");
  assert_xpath_count(doc, "//testcase", 5);

  /* The passing case. */
  assert_xpath_string(doc, "//testcase[@name='" NAME_PASS "']/@classname", "konform.ACC");
  assert_xpath_string(doc, "//testcase[@name='" NAME_PASS "']/@time", "1.250");
  assert_xpath_count(
      doc, "//testcase[@name='" NAME_PASS "']/*[self::failure or self::error or self::skipped]", 0);
  /* Where it is written and what it covers: text, as the schema has no attribute for them. */
  assert_xpath_count(doc, "//testcase/@file", 0);
  assert_xpath_count(doc, "//testcase/@line", 0);
  assert_xpath_count(doc, "//testcase/properties", 0);
  assert_xpath_contains(doc, "//testcase[@name='" NAME_PASS "']/system-out",
                        "scenario: scenarios/acc/register.konform:3\n"
                        "covers: ACC-01\n"
                        "tags: smoke mail\n"
                        "1. [pass] POST /api/v1/registrations");

  /* The skip. */
  assert_xpath_count(doc, "//testcase[@name='" NAME_SKIP "']/skipped", 1);
  assert_xpath_string(doc, "//testcase[@name='" NAME_SKIP "']/skipped/@message", SKIP_MESSAGE);
  assert_xpath_count(doc, "//testcase[@name='" NAME_SKIP "']/skipped/@type", 0);
  assert_xpath_string(doc, "//testcase[@name='" NAME_SKIP "']/system-out",
                      "scenario: scenarios/auth/lock.konform:1\ncovers: AUTH-05\n");

  assert_xpath_string(doc, "//testcase[@name='" NAME_OTHER "']/@classname", "konform.OTHER");
  assert_xpath_string(doc, "//testcase[@name='" NAME_OTHER "']/system-out",
                      "scenario: scenarios/health.konform:1\n");

  /* Each suite names its requirements' verdicts; the requirement without scenarios too. */
  assert_xpath_string(
      doc, "/testsuites/testsuite[1]/properties/property[@name='requirement ACC-01']/@value",
      "pass");
  assert_xpath_string(
      doc, "/testsuites/testsuite[1]/properties/property[@name='requirement ACC-07']/@value",
      "not-checked");
  assert_xpath_string(
      doc, "/testsuites/testsuite[2]/properties/property[@name='requirement AUTH-04']/@value",
      "fail");
  assert_xpath_count(
      doc, "/testsuites/testsuite[1]/properties/property[@name='requirement AUTH-04']", 0);
  assert_xpath_count(doc, "/testsuites/testsuite[3]/properties/property[starts-with(@name, 'req')]",
                     0);
  xmlFreeDoc(doc);
}

#define TC_FAIL "//testcase[@name='" NAME_FAIL "']"
#define TC_ERROR "//testcase[@name='" NAME_ERROR "']"
#define TC_PASS "//testcase[@name='" NAME_PASS "']"

static void test_junit_failures(void **state) {
  fixture *f = *state;
  xmlDocPtr doc = write_junit(f);

  /* The failure: a <failure>, never an <error>, with what it covers, expects and exchanges. */
  assert_xpath_contains(doc, TC_FAIL "/system-out",
                        "scenario: " FAIL_FILE ":1\ncovers: ACC-06 ACC-08\n1. [pass] ");
  assert_xpath_string(
      doc, "/testsuites/testsuite[1]/properties/property[@name='requirement ACC-08']/@value",
      "fail");
  assert_xpath_count(doc, TC_FAIL "/failure", 1);
  assert_xpath_count(doc, TC_FAIL "/error", 0);
  assert_xpath_string(doc, TC_FAIL "/failure/@message", FAIL_MESSAGE);
  assert_xpath_string(doc, TC_FAIL "/failure/@type", "conformance");
  const char *q = TC_FAIL "/failure";
  assert_xpath_contains(doc, q, FAIL_FILE ":17\n" FAIL_MESSAGE "\nstep: ");
  assert_xpath_contains(doc, q,
                        "[fail] expect status == 410  (" FAIL_FILE ":17)\n"
                        "  expected: 410\n"
                        "  actual:   got 200\n"
                        "[fail] expect body.status == \"expired\"  (" FAIL_FILE ":18)\n"
                        "  expected: \"expired\"\n"
                        "  actual:   got \"confirmed\"\n"
                        "  message:  " BODY_MESSAGE "\n"
                        "exchange 1 of 1: request, 2 ms\n"
                        "--- request\n"
                        "POST " SERVER "/api/v1/email-confirmations\n");
  assert_xpath_lacks(doc, q, "Content-Type contains");         /* Passing expects are not listed. */
  assert_xpath_contains(doc, q, "X-Odd: a\\x01b\\x1B[31mred"); /* XML 1.0 forbids both. */
  assert_xpath_contains(doc, q, "\"id\":\"\xef\xbf\xbd");
  assert_xpath_contains(doc, q, "\"}\\x00tail\n--- response\nHTTP/1.1 200 OK\n");
  assert_xpath_contains(doc, q, "\xc2\x9b\\x0B"); /* C1 is legal XML; VT is not. */
  assert_xpath_contains(doc, q, "\\uFFFF");

  /* The error: an <error>, never a <failure>, with the exchange that got no answer. */
  assert_xpath_count(doc, TC_ERROR "/error", 1);
  assert_xpath_count(doc, TC_ERROR "/failure", 0);
  assert_xpath_string(doc, TC_ERROR "/error/@type", "error");
  assert_xpath_string(doc, TC_ERROR "/error/@message", ERROR_MESSAGE);
  assert_xpath_string(doc, TC_ERROR "/@classname", "konform.AUTH");
  assert_xpath_contains(doc, TC_ERROR "/error",
                        "[error] expect status == 401  (scenarios/auth/enum.konform:7)\n"
                        "  expected: 401\n"
                        "  message:  there is no response to check\n");
  assert_xpath_contains(doc, TC_ERROR "/error", "--- response\nno response: connection refused\n");

  /* <system-out>: every step, every poll of a wait, every artifact; passing expects left out. */
  q = TC_PASS "/system-out";
  assert_xpath_contains(doc, q, "2. [pass] wait mail to \"a@b.test\"");
  assert_xpath_contains(doc, q, "exchange 1 of 3: wait mail, 2 ms\n--- request\nGET " WAIT_URL);
  assert_xpath_contains(doc, q, "exchange 3 of 3: wait mail, 2 ms\n");
  assert_xpath_contains(doc, q, "mmm\n[... cut after 262144 bytes]\n");
  assert_xpath_contains(doc, q, "artifact: mail 17 (raw source), message/rfc822, 68 bytes\n");
  assert_xpath_contains(doc, q, "artifact: QR code, image/png, 10 bytes\n");
  assert_xpath_lacks(doc, q, "expect status == 202");
  xmlFreeDoc(doc);
}

static void test_junit_empty_run(void **state) {
  fixture *f = *state;
  kf_run_result_release(&f->run);
  xmlDocPtr doc = write_junit(f);
  assert_xpath_string(doc, "/testsuites/@tests", "0");
  assert_xpath_count(doc, "/testsuites/testsuite", 0);
  xmlFreeDoc(doc);
}

/* ---------------------------------------------------------------------------
 * Console.
 * ------------------------------------------------------------------------- */

/* What was printed to fp, a tmpfile (caller frees with test_free); closes fp. */
static char *printed(FILE *fp) {
  assert_int_equal(fflush(fp), 0);
  rewind(fp);
  char *text = read_stream(fp, NULL);
  assert_int_equal(fclose(fp), 0);
  return text;
}

/* Run kr_console_summary and return what it printed (caller frees with test_free). */
static char *capture_summary(const kf_run_result *run, bool color, bool verbose) {
  FILE *fp = tmpfile();
  assert_non_null(fp);
  kr_console_options opt = {.color = color, .verbose = verbose};
  kr_console_summary(fp, &opt, run);
  return printed(fp);
}

static char *capture_scenario(const kf_scenario_result *sc, bool color, bool verbose, size_t done,
                              size_t total) {
  FILE *fp = tmpfile();
  assert_non_null(fp);
  kr_console_options opt = {.color = color, .verbose = verbose};
  kr_console_scenario(fp, &opt, sc, done, total);
  return printed(fp);
}

/* The last line of text, without its newline, copied into out. */
static void last_line(const char *text, char *out, size_t out_size) {
  size_t len = strlen(text);
  assert_true(len > 0);
  assert_int_equal(text[len - 1], '\n');
  size_t start = len - 1;
  while (start > 0 && text[start - 1] != '\n')
    start--;
  assert_true(len - 1 - start < out_size);
  memcpy(out, text + start, len - 1 - start);
  out[len - 1 - start] = '\0';
}

/* How often needle occurs in text. */
static size_t occurrences(const char *text, const char *needle) {
  size_t n = 0;
  for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
    n++;
  return n;
}

static void test_console_summary_plain(void **state) {
  fixture *f = *state;
  char *text = capture_summary(&f->run, false, false);
  char line[128];
  last_line(text, line, sizeof line);
  assert_string_equal(line, "2 passed, 2 failed, 1 skipped");
  assert_non_null(strstr(text, "\n1 error (counted as failed)\n"
                               "1 scenario not checked: 1 needs a test clock\n"
                               "2 passed, 2 failed, 1 skipped\n"));
  assert_null(strchr(text, '\x1b')); /* Not even the ESC inside the trace. */
  assert_non_null(strstr(text, "\\x1B[31mred"));

  /* The failure block: location, the failed expects, request and response. */
  assert_non_null(strstr(text, "  FAIL  " NAME_FAIL "\n      at " FAIL_FILE ":17\n"));
  assert_non_null(strstr(text, "      " FAIL_MESSAGE "\n"
                               "      step: POST /api/v1/email-confirmations (" FAIL_FILE ":15)\n"
                               "      FAIL  expect status == 410  (" FAIL_FILE ":17)\n"
                               "              expected: 410\n"
                               "              actual:   got 200\n"
                               "      FAIL  expect body.status == \"expired\"  (" FAIL_FILE ":18)\n"
                               "              expected: \"expired\"\n"
                               "              actual:   got \"confirmed\"\n"
                               "              message:  " BODY_MESSAGE "\n"
                               "      exchange 1 of 1: request, 2 ms\n"
                               "      request:\n"
                               "        POST " SERVER "/api/v1/email-confirmations\n"));
  assert_null(strstr(text, "Content-Type contains")); /* The expect that held is not a failure. */
  assert_non_null(strstr(text,
                         "        {\"id\":\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd(\"}\\x00tail\n"
                         "      response:\n"
                         "        HTTP/1.1 200 OK\n"));
  assert_null(strchr(text, '\r'));
  assert_non_null(strstr(text, "  ERROR " NAME_ERROR "\n"));
  assert_non_null(strstr(text, ERROR_MESSAGE));
  assert_non_null(strstr(text, "      ERROR expect status == 401  (scenarios/auth/enum.konform:7)\n"
                               "              expected: 401\n"
                               "              message:  there is no response to check\n"));
  assert_non_null(strstr(text, "      response:\n        no response: connection refused\n"));
  /* The failures come before the summary, which ends the output. */
  assert_true(strstr(text, "at " FAIL_FILE) < strstr(text, "Scenarios by area:"));
  assert_true(strstr(text, "Scenarios by area:") < strstr(text, "Requirements by area:"));

  assert_non_null(strstr(text, "  SKIP  " NAME_SKIP ": " SKIP_MESSAGE "\n"));
  assert_non_null(strstr(text, "\nScenarios by area:\n"
                               "  ACC     2 scenarios, 1 passed, 1 failed, 0 skipped\n"
                               "  AUTH    2 scenarios, 0 passed, 1 failed (1 error), 1 skipped\n"
                               "  OTHER   1 scenario, 1 passed, 0 failed, 0 skipped\n"));
  /* The failures once more, one each, on the last screen. */
  assert_non_null(strstr(text, "\nFailed:\n"
                               "  FAIL  " NAME_FAIL "\n"
                               "        " FAIL_FILE ":17: " FAIL_MESSAGE "\n"
                               "  ERROR " NAME_ERROR "\n"
                               "        scenarios/auth/enum.konform:6: " ERROR_MESSAGE "\n"));
  /* Only what did not pass has a line, with why; what no scenario covers is one list. */
  assert_non_null(
      strstr(text, "    ACC-06   FAIL         1 of 1 scenario failed  Link 24 Stunden\n"));
  assert_non_null(strstr(text, "    AUTH-05  not checked  1 skipped (no clock)    Sperre\n"));
  assert_non_null(strstr(text, "\n  1 requirement has no scenario yet: ACC-07\n"));
  assert_null(strstr(text, "ACC-01   pass"));
  assert_null(strstr(text, "ACC-07   not checked"));
  assert_non_null(strstr(text, "  ACC     1 pass    2 fail    1 not checked\n"));
  assert_non_null(strstr(text, "  AUTH    0 pass    1 fail    1 not checked\n"));
  assert_non_null(strstr(text, "  total   1 pass    3 fail    2 not checked\n"));
  assert_non_null(strstr(text, "\ntarget embedded reference stack (" SERVER ")\n"
                               "seed 18446744073709551557, run id 0000000000000abc, 5 scenarios in "
                               "4.321 s\n"));
  assert_int_equal(occurrences(text, "run id"), 1);
  size_t len = strlen(text);
  assert_true(kf_utf8_valid(text, len));
  test_free(text);
}

static void test_console_summary_verbose(void **state) {
  fixture *f = *state;
  /* The whole requirement table, passes and requirements without scenarios too. */
  char *text = capture_summary(&f->run, false, true);
  assert_non_null(strstr(text, "\nRequirements:\n  ACC\n"
                               "    ACC-01   pass         1 scenario              Registrierung\n"
                               "    ACC-06   FAIL         1 of 1 scenario failed  Link 24 Stunden\n"
                               "    ACC-07   not checked  no scenario yet         Link einmal\n"));
  assert_non_null(strstr(text, "  AUTH\n    AUTH-04  FAIL"));
  assert_true(strstr(text, "\nRequirements:\n") < strstr(text, "Scenarios by area:"));
  char line[128];
  last_line(text, line, sizeof line);
  assert_string_equal(line, "2 passed, 2 failed, 1 skipped");
  test_free(text);
}

static void test_console_summary_color(void **state) {
  fixture *f = *state;
  char *text = capture_summary(&f->run, true, false);
  assert_non_null(strstr(text, "\x1b[1;31mFAIL\x1b[0m"));
  assert_non_null(strstr(text, "\x1b[33mnot checked\x1b[0m"));
  assert_non_null(strstr(text, "      \x1b[1;31mFAIL\x1b[0m  expect status == 410"));
  assert_non_null(strstr(text, "      \x1b[1;35mERROR\x1b[0m expect status == 401"));
  /* The closing line stays plain so CI parsers can read it. */
  char line[128];
  last_line(text, line, sizeof line);
  assert_string_equal(line, "2 passed, 2 failed, 1 skipped");
  /* Colour is ours; the trace's own ESC is still neutralised. */
  assert_null(strstr(text, "\x1b[31mred"));
  test_free(text);
}

static void test_console_all_passed(void **state) {
  fixture *f = *state;
  kf_run_result_release(&f->run);
  kf_scenario_result *sc = NULL;
  assert_int_equal(kf_run_result_add_scenario(&f->run, "a", "a.konform", 1, NULL, 0, NULL, 0, &sc),
                   KF_OK);
  sc->status = KF_STATUS_PASS;
  char *text = capture_summary(&f->run, false, false);
  char line[128];
  last_line(text, line, sizeof line);
  assert_string_equal(line, "1 passed, 0 failed, 0 skipped");
  assert_null(strstr(text, "error"));
  assert_null(strstr(text, "Failures"));
  test_free(text);
}

static void test_console_scenario_line(void **state) {
  fixture *f = *state;
  char *text = capture_scenario(&f->run.scenarios[1], false, false, 3, 41);
  assert_string_equal(text, "[ 3/41] FAIL  " NAME_FAIL "  (ACC-06 ACC-08)  12 ms\n");
  test_free(text);

  text = capture_scenario(&f->run.scenarios[2], false, false, 10, 41);
  assert_string_equal(text, "[10/41] SKIP  " NAME_SKIP "  (AUTH-05)  0 ms\n");
  test_free(text);

  text = capture_scenario(&f->run.scenarios[4], false, false, 5, 5);
  assert_string_equal(text, "[5/5] PASS  " NAME_OTHER "  1 ms\n");
  test_free(text);

  text = capture_scenario(&f->run.scenarios[0], true, false, 1, 5);
  assert_string_equal(text, "[1/5] \x1b[32mPASS\x1b[0m  " NAME_PASS "  (ACC-01)  1250 ms\n");
  test_free(text);
}

static void test_console_verbose(void **state) {
  fixture *f = *state;
  /* Every step, its location, every expect with its outcome and every exchange, indented. */
  char *text = capture_scenario(&f->run.scenarios[1], false, true, 3, 41);
  assert_true(kf_str_starts_with(text, "[ 3/41] FAIL  "));
  assert_non_null(strstr(text,
                         "      1. PASS  POST /api/v1/registrations  (" FAIL_FILE ":4)  3 ms\n"
                         "         PASS  expect status == 202  (" FAIL_FILE ":5)\n"
                         "                 expected: 202\n"
                         "                 actual:   got 202\n"
                         "         exchange 1 of 1: request, 2 ms\n"
                         "         request:\n"
                         "           POST " SERVER "/api/v1/registrations\n"
                         "           Content-Type: application/json\n"
                         "\n"
                         "           {\n"
                         "             \"email\": \"a@b.test\"\n"
                         "           }\n"
                         "         response:\n"
                         "           HTTP/1.1 202 Accepted\n"));
  assert_non_null(strstr(
      text, "      2. FAIL  POST /api/v1/email-confirmations  (" FAIL_FILE ":15)  3 ms\n"
            "         " FAIL_MESSAGE "\n"
            "         PASS  expect header Content-Type contains \"json\"  (" FAIL_FILE ":16)\n"));
  assert_non_null(strstr(text, "         FAIL  expect status == 410  (" FAIL_FILE ":17)\n"));
  assert_non_null(strstr(text, "           X-Odd: a\\x01b\\x1B[31mred\\x7F\n"));
  assert_null(strchr(text, '\x1b'));
  test_free(text);

  /* A wait with three polls shows three exchanges, then what the step kept. */
  text = capture_scenario(&f->run.scenarios[0], false, true, 1, 5);
  assert_int_equal(occurrences(text, "         request:\n           GET " WAIT_URL "\n"), 3);
  assert_non_null(strstr(text, "         exchange 1 of 3: wait mail, 2 ms\n"));
  assert_non_null(strstr(text, "         exchange 3 of 3: wait mail, 2 ms\n"));
  assert_int_equal(
      occurrences(text, "         response:\n           HTTP/1.1 408 Request Timeout\n"), 2);
  assert_non_null(strstr(text, "mmm\n           [... cut after 262144 bytes]\n"));
  assert_non_null(strstr(text, "         artifact: mail 17 (raw source), message/rfc822, 68 bytes\n"
                               "         artifact: QR code, image/png, 10 bytes\n"));
  test_free(text);

  /* With colour the words of the expects are coloured too. */
  text = capture_scenario(&f->run.scenarios[0], true, true, 1, 5);
  assert_non_null(strstr(text, "         \x1b[32mPASS\x1b[0m  expect status == 202"));
  test_free(text);
}

/* The console under the sweep: everything printed, and the closing line always last. */
typedef struct console_sweep {
  const kf_run_result *run;
  char *want;
} console_sweep;

static void print_everything(FILE *out, const kf_run_result *run) {
  kr_console_options opt = {.color = false, .verbose = true};
  for (size_t i = 0; i < run->scenarios_len; i++)
    kr_console_scenario(out, &opt, &run->scenarios[i], i + 1, run->scenarios_len);
  kr_console_summary(out, &opt, run);
}

/* Printing cannot fail a run: short of memory it says what it cannot show and goes on. */
static bool console_sweep_body(void *ctx, const kt_alloc_run *run) {
  console_sweep *cs = ctx;
  FILE *fp = tmpfile();
  assert_non_null(fp);
  kt_alloc_arm(run);
  print_everything(fp, cs->run);
  kt_alloc_disarm();
  char *text = printed(fp);
  if (kf_alloc_failed())
    assert_non_null(strstr(text, "(the rest of this step cannot be shown: out of memory)\n"));
  else
    assert_string_equal(text, cs->want);
  char line[128];
  last_line(text, line, sizeof line);
  assert_string_equal(line, "2 passed, 2 failed, 1 skipped");
  test_free(text);
  return true;
}

static void test_console_alloc_failures(void **state) {
  fixture *f = *state;
  FILE *fp = tmpfile();
  assert_non_null(fp);
  print_everything(fp, &f->run);
  console_sweep cs = {.run = &f->run, .want = printed(fp)};
  assert_true(kt_alloc_sweep(console_sweep_body, &cs) > 3);
  test_free(cs.want);
}

static void test_console_want_color(void **state) {
  (void)state;
  char *saved_no_color = getenv("NO_COLOR") ? kf_strdup(getenv("NO_COLOR")) : NULL;
  char *saved_term = getenv("TERM") ? kf_strdup(getenv("TERM")) : NULL;

  /* A regular file is never a terminal. */
  FILE *tmp = tmpfile();
  assert_non_null(tmp);
  unsetenv("NO_COLOR");
  setenv("TERM", "xterm-256color", 1);
  assert_false(kr_console_want_color(fileno(tmp)));
  fclose(tmp);
  assert_false(kr_console_want_color(-1));

  /* A pseudo-terminal is, unless NO_COLOR or TERM=dumb say otherwise. */
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0 && ptsname(master) != NULL) {
    int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    assert_true(slave >= 0);
    assert_true(kr_console_want_color(slave));
    setenv("NO_COLOR", "", 1); /* Empty does not count. */
    assert_true(kr_console_want_color(slave));
    setenv("NO_COLOR", "1", 1);
    assert_false(kr_console_want_color(slave));
    unsetenv("NO_COLOR");
    setenv("TERM", "dumb", 1);
    assert_false(kr_console_want_color(slave));
    close(slave);
  }
  if (master >= 0)
    close(master);

  if (saved_no_color != NULL)
    setenv("NO_COLOR", saved_no_color, 1);
  else
    unsetenv("NO_COLOR");
  if (saved_term != NULL)
    setenv("TERM", saved_term, 1);
  else
    unsetenv("TERM");
  kf_free(saved_no_color);
  kf_free(saved_term);
}

/* ---------------------------------------------------------------------------
 * A realistic run: the catalogue's size and title lengths, long names, files
 * and URLs, a contains window, JSON, HTML and mail bodies, every skip reason.
 * ------------------------------------------------------------------------- */

#define LONG_TITLE                                                                                  \
  "Wer sich registriert, erhält eine Bestätigungs-E-Mail mit einem Link, der 24 Stunden gültig " \
  "ist; danach ist er abgelaufen, und ein neuer Link kann angefordert werden (Prüfung über die "  \
  "Uhr der Implementierung)."
#define LONG_NAME                                                                                   \
  "Ein Bestätigungslink, der genau 24 Stunden nach dem Versand geöffnet wird, ist noch gültig, " \
  "eine Sekunde später aber abgelaufen, und das Konto bleibt unbestätigt"
#define LONG_FILE                                                                                  \
  "scenarios/acc/ein-sehr-langer-dateiname-fuer-bestaetigungslinks-die-genau-vierundzwanzig-"      \
  "stunden-gelten.konform"
/* What the harness puts into actual for a failed 'not contains': 300 characters and more. */
#define LONG_ACTUAL                                                                                  \
  "found at character 1207: \"…Guten Tag, Sie haben sich im Portal der Bundesagentur für Arbeit " \
  "registriert. Ihre E-Mail-Adresse lautet a@b.de und Ihr Benutzername ist ebenfalls a@b.de, "       \
  "bitte bewahren Sie diese Nachricht gut auf, denn sie enthält Ihren persönlichen Link, der "     \
  "nur vierundzwanzig Stunden gültig ist und danach nicht mehr geöffnet werden kann…\""
#define LONG_URL                                                                                   \
  SERVER "/link/e-mail-bestaetigen?id=0123456789abcdef0123456789abcdef0123456789abcdef0123456789"  \
         "abcdef&return=%2Fapi%2Fv1%2Faccounts%2Fme%2Fprofile%2Fsettings%2Fnotifications%3Fx%3D1"
#define MAIL_WAIT_BODY                                                                             \
  "{\"messages\":[{\"id\":17,\"subject\":\"Bestätigung Ihrer E-Mail-Adresse für das Portal "     \
  "Jobcenter.Digital der Bundesagentur für Arbeit, bitte innerhalb von 24 Stunden\",\"text\":"    \
  "\"Guten Tag,\\n\\nbitte bestätigen Sie Ihre E-Mail-Adresse, indem Sie innerhalb von 24 "       \
  "Stunden "                                                                                       \
  "den folgenden Link öffnen, der nur einmal verwendet werden kann und danach ungültig ist:\\n"  \
  "https://www.arbeitsagentur.de/link/e-mail-bestaetigen?id=0123456789abcdef0123456789abcdef01234" \
  "56789abcdef\\n\"}],\"count\":1}"

/* The catalogue's areas and sizes. */
static void build_catalogue(kf_run_result *run) {
  static const struct {
    const char *area;
    int n;
  } areas[] = {{"ACC", 11}, {"AUTH", 7}, {"TOTP", 5}, {"PK", 5}, {"PROF", 12},
               {"RST", 7},  {"COM", 6},  {"MSG", 5},  {"UPL", 3}};
  for (size_t a = 0; a < sizeof areas / sizeof areas[0]; a++) {
    for (int i = 1; i <= areas[a].n; i++) {
      char id[32];
      assert_int_equal(kf_str_format(id, sizeof id, "%s-%02d", areas[a].area, i), KF_OK);
      assert_int_equal(kf_run_result_add_requirement(run, id, areas[a].area, LONG_TITLE, "seed"),
                       KF_OK);
    }
  }
}

/* A failing step: a contains window, an expect with nothing recorded, long traces. */
static void add_long_failure(kf_scenario_result *sc) {
  kf_step_result *st =
      add_step(sc,
               "wait mail to \"{{email}}\" subject \"Bestätigung Ihrer E-Mail-"
               "Adresse für das Portal Jobcenter.Digital\"",
               30, KF_STATUS_FAIL, "expect mail.text not contains \"a@b.de\": " LONG_ACTUAL);
  st->fail_line = 31;
  add_assert(st, "expect mail.text not contains \"{{email}}\"", 31, KF_STATUS_FAIL, "\"a@b.de\"",
             LONG_ACTUAL, st->message);
  add_assert(st,
             "expect mail.header_raw \"X-Konform-Ein-Sehr-Langer-Header-Name-Der-Nicht-Passt\" "
             "exists",
             32, KF_STATUS_FAIL, NULL, NULL, "does not hold");
  kf_exchange *ex = add_exchange(st, "wait mail", "GET", LONG_URL, "HTTP/1.1 200 OK");
  add_header(&ex->request, "Cookie", "session=" LONG_NAME LONG_NAME);
  add_header(&ex->response, "Content-Type", "application/json; charset=utf-8");
  set_body(&ex->response, MAIL_WAIT_BODY, sizeof MAIL_WAIT_BODY - 1);
  ex = add_exchange(st, "request", "GET", LONG_URL, "HTTP/1.1 200 OK");
  add_header(&ex->response, "Content-Type", "text/html; charset=utf-8");
  char html[1600];
  size_t n = 0;
  while (n + sizeof LONG_TITLE < sizeof html) {
    memcpy(html + n, LONG_TITLE, sizeof LONG_TITLE - 1);
    n += sizeof LONG_TITLE - 1;
  }
  set_body(&ex->response, html, n);
}

/* Skipped scenarios with the reasons the harness gives (see KR_SKIP_REASONS). */
static void add_skips(kf_run_result *run) {
  static const char *const whys[] = {
      "the target has no test clock control (profile clock is not \"konform\"); this scenario "
      "needs one",
      "the target has no test clock control (clock = none)",
      "the target has no test clock control (clock = none)",
      "the target profile sets no mail_api; this scenario waits for mail",
      "the target profile sets no mail_api",
      "the target profile sets no post_api; this scenario waits for letters",
      "not checked: 12 rounds could not decide (a 1.00 ms, b 1.10 ms, shift 0.10 ms)",
      "the moon is in the wrong phase",
  };
  static const kf_skip_kind kinds[] = {
      KF_SKIP_NO_CLOCK,    KF_SKIP_NO_CLOCK,    KF_SKIP_NO_CLOCK,  KF_SKIP_NO_MAIL_API,
      KF_SKIP_NO_MAIL_API, KF_SKIP_NO_POST_API, KF_SKIP_UNDECIDED, KF_SKIP_OTHER};
  static const char *const covers[] = {"AUTH-05", "AUTH-06", "AUTH-06", "ACC-11",
                                       "ACC-11",  "PROF-02", "AUTH-04", "AUTH-07"};
  for (size_t i = 0; i < sizeof whys / sizeof whys[0]; i++) {
    kf_scenario_result *sc =
        add_scenario(run, LONG_NAME, LONG_FILE, 3, covers[i], KF_STATUS_SKIP, 0);
    sc->skip_kind = kinds[i];
    sc->message = own(whys[i]);
  }
}

static void build_realistic_run(kf_run_result *run) {
  kf_run_result_init(run);
  run->target = own("/home/beispiel/projekte/jobcenter-digital/konform-ziele/"
                    "eine-sehr-lange-zielbeschreibung-mit-vielen-teilen/staging-umgebung.profile");
  run->base_url = own(SERVER);
  run->seed = UINT64_C(18446744073709551557);
  run->run_id = UINT64_C(0xfedcba9876543210);
  run->duration_ms = 98765;
  build_catalogue(run);
  run->requirements[7].not_selected = 3;  /* ACC-08: only part of it selected. */
  run->requirements[12].not_selected = 2; /* AUTH-02: none of it selected. */
  const char *five[] = {"ACC-01", "ACC-02", "ACC-03", "ACC-04", "ACC-05"};
  for (int i = 0; i < 40; i++) {
    kf_scenario_result *sc = NULL;
    assert_int_equal(
        kf_run_result_add_scenario(run, LONG_NAME, LONG_FILE, 3, five, 5, NULL, 0, &sc), KF_OK);
    sc->status = KF_STATUS_PASS;
    sc->duration_ms = 123456;
    add_registration(sc, 5);
  }
  const char *covers[] = {"ACC-06", "ACC-07", "ACC-08", "ACC-09", "ACC-10"};
  kf_scenario_result *sc = NULL;
  assert_int_equal(
      kf_run_result_add_scenario(run, LONG_NAME, LONG_FILE, 28, covers, 5, NULL, 0, &sc), KF_OK);
  sc->status = KF_STATUS_FAIL;
  add_long_failure(sc);
  sc = add_scenario(run, LONG_NAME, LONG_FILE, 40, "AUTH-03", KF_STATUS_ERROR, 7);
  sc->message =
      own("cannot reach " LONG_URL ": connection refused after 3 attempts; the target "
          "may be down, or the profile's base_url may point at the wrong port: " LONG_URL);
  add_skips(run);
  add_scenario(run, LONG_NAME, "scenarios/health.konform", 1, NULL, KF_STATUS_PASS, 1);
}

/* Fail unless every line is at most KR_CONSOLE_WIDTH characters (colours not counted), none ends
 * in a blank and the text ends with a line break. */
static void check_widths(const char *text) {
  size_t lines = 0;
  for (const char *p = text; *p != '\0'; lines++) {
    const char *nl = strchr(p, '\n');
    assert_non_null(nl);
    char line[4096];
    size_t n = 0;
    for (const char *q = p; q < nl; q++) {
      if (*q == '\x1b') { /* Skip an SGR sequence: ESC [ ... m. */
        while (q < nl && *q != 'm')
          q++;
        continue;
      }
      assert_true(n + 1 < sizeof line);
      line[n++] = *q;
    }
    line[n] = '\0';
    size_t chars = kf_utf8_count(line, n);
    if (chars > KR_CONSOLE_WIDTH || (n > 0 && line[n - 1] == ' '))
      fail_msg("line %zu has %zu characters%s: \"%s\"", lines + 1, chars,
               n > 0 && line[n - 1] == ' ' ? " and ends in a blank" : "", line);
    p = nl + 1;
  }
  assert_true(lines > 0);
}

/* What the console prints for run: every scenario as it finishes, then the summary. */
static char *print_all_with(const kf_run_result *run, const kr_console_options *opt) {
  FILE *fp = tmpfile();
  assert_non_null(fp);
  for (size_t i = 0; i < run->scenarios_len; i++)
    kr_console_scenario(fp, opt, &run->scenarios[i], i + 1, run->scenarios_len);
  kr_console_summary(fp, opt, run);
  return printed(fp);
}

/* text with every line break and the blanks after it made one blank (caller frees with test_free).
 */
static char *unwrapped(const char *text) {
  char *out = test_malloc(strlen(text) + 1);
  size_t n = 0;
  for (const char *p = text; *p != '\0'; p++) {
    if (*p != '\n') {
      out[n++] = *p;
      continue;
    }
    while (p[1] == ' ')
      p++;
    out[n++] = ' ';
  }
  out[n] = '\0';
  return out;
}

static void test_console_width(void **state) {
  fixture *f = *state;
  kf_run_result_release(&f->run);
  build_realistic_run(&f->run);
  for (int mode = 0; mode < 6; mode++) {
    kr_console_options opt = {.color = mode % 2 == 1,
                              .verbose = mode / 2 == 1,
                              .trace = mode / 2 == 2 ? KR_TRACE_ALL : KR_TRACE_FAILED};
    char *text = print_all_with(&f->run, &opt);
    check_widths(text);
    char line[128];
    last_line(text, line, sizeof line);
    assert_string_equal(line, "41 passed, 2 failed, 8 skipped");
    test_free(text);
  }
  FILE *fp = tmpfile();
  assert_non_null(fp);
  kr_console_options opt = {.color = false};
  kr_console_summary(fp, &opt, &f->run);
  char *text = printed(fp);
  if (getenv("KR_DUMP") != NULL)
    fputs(text, stderr);
  /* Names and titles are cut where a line has no room; the failure view keeps the name whole. */
  assert_non_null(strstr(text, "\n  FAIL  Ein Bestätigungslink, der genau 24 Stunden nach dem "
                               "Versand geöffnet wird, ist noch gültig,\n        eine Sekunde "
                               "später aber abgelaufen, und das Konto bleibt unbestätigt\n"));
  assert_non_null(strstr(text, "\nFailed:\n  FAIL  Ein Bestätigungslink, der genau 24 Stunden "
                               "nach dem Versand geöffnet wird, ist noch gültig,…\n"));
  assert_non_null(strstr(text, "    ACC-06   FAIL         1 of 1 scenario failed  Wer sich "
                               "registriert, erhält eine Bestätigungs-E-…\n"));
  assert_non_null(strstr(text, "\ntarget /home/beispiel/projekte/jobcenter-digital/konform-ziele/"
                               "eine-sehr-la… (" SERVER ")\n"));
  /* The contains window and the failed expect without values are shown whole, however wrapped. */
  char *flat = unwrapped(text);
  assert_non_null(strstr(flat, " actual:   " LONG_ACTUAL " "));
  assert_non_null(strstr(flat, " expected: (no value: what the expect line says) actual:   (not "
                               "recorded) "));
  test_free(flat);
  /* The whole summary: plurals, the skip reasons grouped, the requirements without scenarios. */
  assert_non_null(strstr(text, "\n  ACC    43 scenarios, 40 passed, 1 failed, 2 skipped\n"));
  assert_non_null(
      strstr(text, "\n  AUTH    6 scenarios, 0 passed, 1 failed (1 error), 5 skipped\n"));
  assert_non_null(strstr(text, "\n  PROF    1 scenario, 0 passed, 0 failed, 1 skipped\n"));
  assert_non_null(strstr(text, "\n  OTHER   1 scenario, 1 passed, 0 failed, 0 skipped\n"));
  assert_non_null(strstr(text, "\n    AUTH-06  not checked  2 skipped (no clock)    Wer "));
  assert_non_null(strstr(text, "\n    ACC-11   not checked  2 skipped (no mail_api)  Wer "));
  assert_non_null(strstr(text, "\n    AUTH-02  not checked  0 of 2 scenarios selected  Wer "));
  assert_non_null(strstr(text, "\n    AUTH-07  not checked  1 skipped (other reason)  Wer "));
  assert_non_null(strstr(text, "\n    ACC-08   FAIL         1 of 1 scenario failed  Wer "));
  assert_non_null(strstr(text,
                         "\n  43 requirements have no scenario yet: AUTH-01, TOTP-01..05, "
                         "PK-01..05, PROF-01 03..12, RST-01..07,\n    COM-01..06, MSG-01..05, "
                         "UPL-01..03\n"));
  assert_non_null(strstr(text, "\n1 error (counted as failed)\n"
                               "8 scenarios not checked: 3 need a test clock, 2 need mail_api, "
                               "1 needs post_api, 1 was undecided\n    (timing), 1 was skipped for "
                               "another reason\n41 passed, 2 failed, 8 skipped\n"));
  assert_non_null(strstr(text, "\nseed 18446744073709551557, run id fedcba9876543210, 51 scenarios "
                               "in 98.765 s\n"));
  test_free(text);
}

/* ---------------------------------------------------------------------------
 * JUnit against junit-10.xsd, the schema Jenkins' xunit plugin checks.
 * ------------------------------------------------------------------------- */

/* xmlStructuredErrorFunc: keep the validator's messages. */
static void collect_schema_error(void *ctx, xmlErrorPtr e) {
  if (e != NULL && e->message != NULL)
    (void)kf_buf_appendf(ctx, "line %d: %s", e->line, e->message); /* A cut list still says why. */
}

static xmlSchemaPtr load_junit_xsd(void) {
  char path[512];
  source_path("tests/reports/junit-10.xsd", path, sizeof path);
  xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(path);
  assert_non_null(pc);
  xmlSchemaPtr schema = xmlSchemaParse(pc);
  xmlSchemaFreeParserCtxt(pc);
  if (schema == NULL)
    fail_msg("%s is not an XML Schema", path);
  return schema;
}

/* Whether doc validates against schema; the validator's messages into why. */
static bool junit_valid(xmlSchemaPtr schema, xmlDocPtr doc, kf_buf *why) {
  xmlSchemaValidCtxtPtr vc = xmlSchemaNewValidCtxt(schema);
  assert_non_null(vc);
  xmlSchemaSetValidStructuredErrors(vc, collect_schema_error, why);
  int r = xmlSchemaValidateDoc(vc, doc);
  xmlSchemaFreeValidCtxt(vc);
  return r == 0;
}

/* Fail the test, with the validator's reasons, unless doc validates; then free doc. */
static void check_junit_valid(xmlSchemaPtr schema, xmlDocPtr doc) {
  kf_buf why;
  kf_buf_init(&why, 1u << 16);
  bool ok = junit_valid(schema, doc, &why);
  char copy[1024];
  (void)kf_str_copy(copy, sizeof copy, why.data != NULL ? why.data : ""); /* Cut: still why. */
  kf_buf_release(&why);
  xmlFreeDoc(doc);
  if (!ok)
    fail_msg("junit.xml does not validate against junit-10.xsd: %s", copy);
}

/* The first node expr selects. */
static xmlNodePtr xpath_node(xmlDocPtr doc, const char *expr) {
  xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  assert_non_null(ctx);
  xmlXPathObjectPtr obj = xmlXPathEvalExpression(BAD_CAST expr, ctx);
  assert_non_null(obj);
  xmlNodeSetPtr set = obj->nodesetval;
  if (set == NULL || set->nodeNr == 0)
    fail_msg("%s selects nothing", expr);
  xmlNodePtr node = set->nodeTab[0];
  xmlXPathFreeObject(obj);
  xmlXPathFreeContext(ctx);
  return node;
}

/* Whether doc validates once attribute name=value is set on the first node expr selects. */
static bool valid_with_attr(xmlSchemaPtr schema, xmlDocPtr doc, const char *expr, const char *name,
                            const char *value) {
  xmlNodePtr node = xpath_node(doc, expr);
  assert_non_null(xmlSetProp(node, BAD_CAST name, BAD_CAST value));
  kf_buf why;
  kf_buf_init(&why, 1u << 16);
  bool ok = junit_valid(schema, doc, &why);
  kf_buf_release(&why);
  assert_int_equal(xmlUnsetProp(node, BAD_CAST name), 0);
  return ok;
}

static void test_junit_schema(void **state) {
  fixture *f = *state;
  xmlSchemaPtr schema = load_junit_xsd();

  /* Passing, failing, erroring and skipped scenarios, and one outside the catalogue. */
  xmlDocPtr doc = write_junit(f);
  kf_buf why;
  kf_buf_init(&why, 1u << 16);
  assert_true(junit_valid(schema, doc, &why));
  kf_buf_release(&why);
  /* Not a rubber stamp: what the writer used to write is refused. */
  assert_false(valid_with_attr(schema, doc, "//testcase", "file", "scenarios/a.konform"));
  assert_false(valid_with_attr(schema, doc, "//testcase", "line", "3"));
  assert_false(valid_with_attr(schema, doc, "/testsuites", "skipped", "1"));
  assert_false(valid_with_attr(schema, doc, "/testsuites", "timestamp", "2026-03-28T10:00:00"));
  assert_false(valid_with_attr(schema, doc, "//testsuite", "time", "1,5"));
  xmlNodePtr tc = xpath_node(doc, "//testcase");
  xmlNodePtr props = xmlNewChild(tc, NULL, BAD_CAST "properties", NULL);
  assert_non_null(props);
  kf_buf_init(&why, 1u << 16);
  assert_false(junit_valid(schema, doc, &why));
  kf_buf_release(&why);
  xmlUnlinkNode(props);
  xmlFreeNode(props);
  check_junit_valid(schema, doc);

  /* Every status at the catalogue's size, with long texts and odd bytes. */
  kf_run_result_release(&f->run);
  build_realistic_run(&f->run);
  check_junit_valid(schema, write_junit(f));

  /* And a run with nothing in it. */
  kf_run_result_release(&f->run);
  kf_run_result_init(&f->run);
  check_junit_valid(schema, write_junit(f));
  xmlSchemaFree(schema);
}

/* ---------------------------------------------------------------------------
 * Bodies in traces, trace modes, failed expects, skip reasons.
 * ------------------------------------------------------------------------- */

/*
 * The body of a response with content_type (NULL: none) as the traces show it
 * (caller frees with kf_free).
 */
static char *shown_body(const char *content_type, const char *body, size_t len, bool cut) {
  kf_exchange ex;
  memset(&ex, 0, sizeof ex);
  ex.status = 200;
  if (content_type != NULL)
    add_header(&ex.response, "Content-Type", content_type);
  set_body(&ex.response, body, len);
  ex.response.body_cut = cut;
  kf_buf out;
  kf_buf_init(&out, KR_TEXT_IN_MAX);
  assert_int_equal(kr_exchange_text(&ex, false, &out), KF_OK);
  kf_exchange_release(&ex);
  const char *start = strstr(out.data, "\n\n");
  assert_non_null(start);
  start += 2;
  char *shown = kf_memdup0(start, out.len - (size_t)(start - out.data));
  assert_non_null(shown);
  if (cut) /* The note on a cut body is not the body. */
    *strstr(shown, "\n[... cut after") = '\0';
  kf_buf_release(&out);
  return shown;
}

/* Fail unless the body is shown exactly as want. */
static void check_shown(const char *content_type, const char *body, const char *want) {
  char *shown = shown_body(content_type, body, strlen(body), false);
  assert_string_equal(shown, want);
  kf_free(shown);
}

/* Fail unless the body is shown as it is. */
static void check_as_is(const char *content_type, const char *body, size_t len, bool cut) {
  char *shown = shown_body(content_type, body, len, cut);
  assert_memory_equal(shown, body, len);
  assert_int_equal(shown[len], '\0');
  kf_free(shown);
}

static void test_body_formats(void **state) {
  (void)state;
  /* The layout of jansson's JSON_INDENT(2), byte for byte. */
  static const char doc[] =
      "{\"a\": 1, \"b\": [true, false, null, \"x\\\"y\"], \"c\": {}, \"d\": [],"
      " \"e\": {\"f\": [1, {\"g\": -2}]}, \"h\": \"Grüße\"}";
  json_t *j = json_loads(doc, 0, NULL);
  assert_non_null(j);
  char *want = json_dumps(j, JSON_INDENT(2));
  json_decref(j);
  check_shown("application/json", doc, want);
  kf_free(want);
  /* Any +json, parameters and case ignored; without a type, whatever parses as object or array. */
  check_shown("Application/Problem+JSON; charset=utf-8", "{\"code\":\"X\"}",
              "{\n  \"code\": \"X\"\n}");
  check_shown(NULL, " [1,{\"a\":[]}]\r\n", "[\n  1,\n  {\n    \"a\": []\n  }\n]");
  check_shown("text/plain", "[]", "[]");
  /* Tokens stay as written: numbers, escapes, duplicate keys. */
  check_shown("application/json", "{\"n\":0.1,\"e\":1E+5,\"u\":\"\\u00e4\\/\",\"n\":-0}",
              "{\n  \"n\": 0.1,\n  \"e\": 1E+5,\n  \"u\": \"\\u00e4\\/\",\n  \"n\": -0\n}");
  /* A mail's or a letter's text as its lines. */
  check_shown("application/json",
              "{\"messages\":[{\"id\":17,\"text\":\"Guten Tag,\\n\\nbitte best\\u00e4tigen:\\r\\n"
              "https://x.test/l?id=1\\n\",\"html\":\"<p>a\\nb</p>\"}],\"text\":\"eine Zeile\"}",
              "{\n  \"messages\": [\n    {\n      \"id\": 17,\n      \"text\":\n"
              "        | Guten Tag,\n        |\n        | bitte bestätigen:\r\n"
              "        | https://x.test/l?id=1\n      \"html\": \"<p>a\\nb</p>\"\n    }\n  ],\n"
              "  \"text\": \"eine Zeile\"\n}");
  /* Shown as they are: not JSON, not whole, not UTF-8, not an object or array, too deep. */
  static const char *const not_json[] = {
      "{\"a\":1,}", "{\"a\" 1}", "{\"a\":01}", "{\"a\":1} x",       "[\"\t\"]", "{\"a\":\"\\x\"}",
      "[1.]",       "[tru]",     "{nope",      "\"just a string\"", "42"};
  for (size_t i = 0; i < sizeof not_json / sizeof not_json[0]; i++)
    check_as_is("application/json", not_json[i], strlen(not_json[i]), false);
  check_as_is("application/json", "{\"a\":\"b\"}", 9, true);
  check_as_is("application/json", "[\"\xff\"]", 5, false);
  check_as_is("application/json", "[\"a\0b\"]", 7, false);
  char deep[1200];
  memset(deep, '[', 600);
  memset(deep + 600, ']', 600);
  check_as_is("application/json", deep, sizeof deep, false);
  /* A raw mail is never taken for JSON; HTML and plain text stay as they are. */
  check_as_is("message/rfc822", "{\"a\":1}", 7, false);
  check_as_is("text/html", "<p>{\"a\":1}</p>", 14, false);
  check_as_is(NULL, "Subject: x\r\n\r\nHallo\r\n", 21, false);
}

/* A raw mail on the console: its lines, without the CR of each CRLF. */
static void test_console_raw_mail(void **state) {
  fixture *f = *state;
  kf_step_result *st = &f->run.scenarios[1].steps[1];
  kf_exchange *ex =
      add_exchange(st, "raw source", "GET", "http://127.0.0.1:8426/raw", "HTTP/1.1 200 OK");
  add_header(&ex->response, "Content-Type", "message/rfc822");
  set_body(&ex->response, raw_mail, sizeof raw_mail - 1);
  char *text = capture_summary(&f->run, false, false);
  assert_non_null(strstr(text, "        Content-Type: message/rfc822\n\n"
                               "        Subject: =?UTF-8?Q?Best=C3=A4tigung?=\n\n"
                               "        Hallo, bitte bestätigen.\n  ERROR "));
  assert_null(strchr(text, '\r'));
  assert_null(strstr(text, "\\x0D"));
  test_free(text);
}

static char *capture_scenario_with(const kf_scenario_result *sc, const kr_console_options *opt) {
  FILE *fp = tmpfile();
  assert_non_null(fp);
  kr_console_scenario(fp, opt, sc, 2, 5);
  return printed(fp);
}

static void test_console_trace(void **state) {
  fixture *f = *state;
  kr_trace_mode mode = KR_TRACE_ALL;
  assert_int_equal(kr_trace_mode_parse("failed", &mode), KF_OK);
  assert_int_equal(mode, KR_TRACE_FAILED);
  assert_int_equal(kr_trace_mode_parse("all", &mode), KF_OK);
  assert_int_equal(mode, KR_TRACE_ALL);
  assert_int_equal(kr_trace_mode_parse("none", &mode), KF_ERR_INVALID);
  assert_int_equal(kr_trace_mode_parse(NULL, &mode), KF_ERR_INVALID);
  assert_string_equal(kr_trace_mode_name(KR_TRACE_FAILED), "failed");
  assert_string_equal(kr_trace_mode_name(KR_TRACE_ALL), "all");
  assert_string_equal(kr_trace_mode_name((kr_trace_mode)7), "?");

  /* The default, failed: one line as a scenario finishes; the failure view has the traces. */
  const kf_scenario_result *sc = &f->run.scenarios[1];
  kr_console_options opt = {.color = false};
  char *text = capture_scenario_with(sc, &opt);
  assert_string_equal(text, "[2/5] FAIL  " NAME_FAIL "  (ACC-06 ACC-08)  12 ms\n");
  test_free(text);

  /* all: every step with its exchanges, and only the expects that did not hold. */
  opt.trace = KR_TRACE_ALL;
  text = capture_scenario_with(sc, &opt);
  assert_non_null(strstr(text,
                         "      1. PASS  POST /api/v1/registrations  (" FAIL_FILE ":4)  3 ms\n"
                         "         exchange 1 of 1: request, 2 ms\n"
                         "         request:\n"
                         "           POST " SERVER "/api/v1/registrations\n"));
  assert_non_null(strstr(text, "         FAIL  expect status == 410  (" FAIL_FILE ":17)\n"));
  assert_null(strstr(text, "PASS  expect"));
  test_free(text);

  /* verbose is all and the expects that held. */
  opt.trace = KR_TRACE_FAILED;
  opt.verbose = true;
  text = capture_scenario_with(sc, &opt);
  assert_non_null(strstr(text, "         PASS  expect status == 202  (" FAIL_FILE ":5)\n"));
  assert_non_null(strstr(text, "         exchange 1 of 1: request, 2 ms\n"));
  test_free(text);
}

/* A failed expect with nothing recorded for expected or actual says so in every writer. */
static void test_failed_expect_lines(void **state) {
  fixture *f = *state;
  kf_assert_result *a = &f->run.scenarios[1].steps[1].asserts[2];
  kf_free(a->expected);
  kf_free(a->actual);
  a->expected = NULL;
  a->actual = NULL;
  char *text = capture_summary(&f->run, false, false);
  assert_non_null(strstr(text, "      FAIL  expect body.status == \"expired\"  (" FAIL_FILE ":18)\n"
                               "              expected: (no value: what the expect line says)\n"
                               "              actual:   (not recorded)\n"));
  /* Every other failed expect has both, with the values recorded. */
  assert_non_null(strstr(text, "              expected: 410\n              actual:   got 200\n"));
  test_free(text);

  xmlDocPtr doc = write_junit(f);
  assert_xpath_contains(doc, TC_FAIL "/failure",
                        "[fail] expect body.status == \"expired\"  (" FAIL_FILE ":18)\n"
                        "  expected: (no value: what the expect line says)\n"
                        "  actual:   (not recorded)\n");
  xmlFreeDoc(doc);
  assert_int_equal(unlink(f->xml), 0);

  json_t *json = write_json(f);
  const json_t *asserts =
      get(at(get(find_by(get(json, "scenarios"), "name", NAME_FAIL), "steps"), 1), "asserts");
  assert_true(json_is_null(get(at(asserts, 2), "expected")));
  assert_true(json_is_null(get(at(asserts, 2), "actual")));
  assert_string_equal(str_of(at(asserts, 1), "expected"), "410");
  assert_string_equal(str_of(at(asserts, 1), "actual"), "got 200");
  json_decref(json);
}

/* Every kind of skip has its words, and the harness's needs give their own kinds. */
static void test_skip_reasons(void **state) {
  fixture *f = *state;
  for (int k = 0; k < KF_SKIP_KIND_COUNT; k++)
    assert_non_null(kr_skip_reason_words((kf_skip_kind)k));
  static const kf_skip_kind needs[] = {
#define NEED_KIND(name, kind, why) kind,
      KH_NEEDS(NEED_KIND)
#undef NEED_KIND
  };
  kf_run_result_release(&f->run);
  kf_run_result_init(&f->run);
  assert_int_equal(kf_run_result_add_requirement(&f->run, "ACC-06", "ACC", "Link", "seed"), KF_OK);
  for (size_t i = 0; i < sizeof needs / sizeof needs[0]; i++) {
    /* A timing need never makes a skip: any target can be timed (kh_exec_can). */
    if (i == KH_NEED_INDEX_TIMING)
      continue;
    kf_scenario_result *sc =
        add_scenario(&f->run, "s", "s.konform", 1, "ACC-06", KF_STATUS_SKIP, 0);
    sc->skip_kind = needs[i];
    sc->message = own("the words of the message do not matter");
  }
  char *text = capture_summary(&f->run, false, false);
  assert_non_null(strstr(text, "\n3 scenarios not checked: 1 needs a test clock, 1 needs mail_api, "
                               "1 needs post_api\n0 passed, 0 failed, 3 skipped\n"));
  assert_non_null(strstr(text, "    ACC-06   not checked  3 skipped (no clock, no mail_api, no "
                               "post_api)  Link\n"));
  assert_null(strstr(text, "other"));
  test_free(text);
}

#define FIXTURE_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
  /* Route jansson through kf_malloc so injected failures reach it too. */
  kf_alloc_install_jansson();
  xmlInitParser();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_text_clean),
      FIXTURE_TEST(test_scenario_area),
      FIXTURE_TEST(test_step_pieces),
      FIXTURE_TEST(test_json_report),
      FIXTURE_TEST(test_json_exchanges),
      FIXTURE_TEST(test_json_asserts_and_artifacts),
      FIXTURE_TEST(test_json_schema_shape),
      FIXTURE_TEST(test_not_selected_is_not_checked),
      FIXTURE_TEST(test_json_empty_run),
      FIXTURE_TEST(test_write_into_missing_folder),
      FIXTURE_TEST(test_json_alloc_failures),
      FIXTURE_TEST(test_junit_report),
      FIXTURE_TEST(test_junit_failures),
      FIXTURE_TEST(test_junit_empty_run),
      FIXTURE_TEST(test_junit_alloc_failures),
      FIXTURE_TEST(test_junit_schema),
      FIXTURE_TEST(test_html_report),
      FIXTURE_TEST(test_html_hostile),
      FIXTURE_TEST(test_html_empty_run),
      FIXTURE_TEST(test_html_alloc_failures),
      FIXTURE_TEST(test_tap_report),
      FIXTURE_TEST(test_tap_hostile),
      FIXTURE_TEST(test_tap_empty_run),
      FIXTURE_TEST(test_tap_alloc_failures),
      cmocka_unit_test(test_report_formats),
      FIXTURE_TEST(test_stream_any_order),
      FIXTURE_TEST(test_stream_refusals),
      FIXTURE_TEST(test_console_summary_plain),
      FIXTURE_TEST(test_console_summary_verbose),
      FIXTURE_TEST(test_console_summary_color),
      FIXTURE_TEST(test_console_all_passed),
      FIXTURE_TEST(test_console_scenario_line),
      FIXTURE_TEST(test_console_verbose),
      FIXTURE_TEST(test_console_alloc_failures),
      FIXTURE_TEST(test_console_width),
      cmocka_unit_test(test_body_formats),
      FIXTURE_TEST(test_console_raw_mail),
      FIXTURE_TEST(test_console_trace),
      FIXTURE_TEST(test_failed_expect_lines),
      FIXTURE_TEST(test_skip_reasons),
      cmocka_unit_test(test_console_want_color),
  };
  int failed = cmocka_run_group_tests_name("reports", tests, NULL, NULL);
  xmlCleanupParser();
  return failed;
}
