/*
 * test_reports.c: the console, JUnit and JSON report writers.
 *
 * Each test builds a kf_run_result by hand, writes a report into a fresh
 * mkdtemp folder and reads it back with the same libraries a consumer would
 * use (libxml2, jansson), so the tests check what CI tools will see.
 *
 * Test scaffolding allocates with plain malloc, not kf_malloc, so that the
 * allocation-failure loops count only the allocations of the writers.
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
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/error.h"
#include "kf/run_result.h"
#include "kf/str.h"
#include "kf/utf8.h"
#include "kr/report.h"
#include "kr_priv.h"

/* ---------------------------------------------------------------------------
 * Fixture: a run with every status and every requirement verdict.
 * ------------------------------------------------------------------------- */

#define FAIL_FILE "scenarios/acc/expiry.konform"
#define FAIL_LINE 17u
#define FAIL_MESSAGE "expect status == 410: got 200 <&\"'>"
#define ERROR_MESSAGE "target unreachable: connection refused"
#define SKIP_MESSAGE "target has no clock control"
#define NAME_PASS "Registrierung mit gültigen Daten"
#define NAME_FAIL "Bestätigung nach genau 24 Stunden"
#define NAME_SKIP "Sperre nach 5 Fehlversuchen"
#define NAME_ERROR "Gleiche Antwort für falschen Namen"
#define NAME_OTHER "Health ohne Anforderung"

/* A request trace with control characters, an ANSI sequence and invalid UTF-8. */
static const char bad_request[] = "POST /api/v1/email-confirmations HTTP/1.1\r\n"
                                  "X-Odd: a\x01"
                                  "b\x1b[31mred\x7f\r\n"
                                  "\r\n"
                                  "{\"id\":\"\xff\xfe\xc3\x28\"}";
static const char bad_response[] = "HTTP/1.1 200 OK\r\n"
                                   "Content-Type: application/json\r\n\r\n"
                                   "{\"status\":\"confirmed\",\"x\":\"\xef\xbf\xbf\xc2\x9b\x0b\"}";

/* Make a string the run will own (the runner fills these fields the same way). */
static char *own(const char *s) {
  char *p = kf_strdup(s);
  assert_non_null(p);
  return p;
}

/*
 * Keep a trace written as text ("POST /x", "Name: v" lines, a blank line, the
 * body) as the step's exchange, the way the runner records one.
 */
static void add_trace(kf_message *msg, const char *text, char **first_line) {
  const char *eol = strchr(text, '\n');
  size_t n = eol != NULL ? (size_t)(eol - text) : strlen(text);
  if (n > 0 && text[n - 1] == '\r')
    n--;
  *first_line = kf_memdup0(text, n);
  assert_non_null(*first_line);
  const char *p = eol != NULL ? eol + 1 : text + strlen(text);
  while (*p != '\0' && *p != '\n' && *p != '\r') {
    const char *end = strchr(p, '\n');
    size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
    char *line = kf_memdup0(p, len > 0 && p[len - 1] == '\r' ? len - 1 : len);
    assert_non_null(line);
    char *colon = strchr(line, ':');
    assert_non_null(colon);
    *colon = '\0';
    assert_int_equal(kf_message_add_header(msg, line, colon[1] == ' ' ? colon + 2 : colon + 1),
                     KF_OK);
    kf_free(line);
    p = end != NULL ? end + 1 : p + len;
  }
  if (*p == '\r')
    p++;
  if (*p == '\n')
    p++;
  if (*p != '\0')
    assert_int_equal(kf_message_set_body(msg, p, strlen(p)), KF_OK);
}

static void add_exchange(kf_step_result *st, const char *request, const char *response) {
  if (request == NULL && response == NULL)
    return;
  kf_exchange *ex = NULL;
  assert_int_equal(kf_step_result_add_exchange(st, &ex), KF_OK);
  char *first = NULL;
  add_trace(&ex->request, request != NULL ? request : "GET /", &first);
  char *sp = strchr(first, ' ');
  ex->method = sp != NULL ? kf_memdup0(first, (size_t)(sp - first)) : kf_strdup(first);
  ex->url = kf_strdup(sp != NULL ? sp + 1 : "");
  kf_free(first);
  if (response != NULL) {
    add_trace(&ex->response, response, &ex->status_line);
    const char *code = strchr(ex->status_line, ' ');
    ex->status = code != NULL ? strtol(code + 1, NULL, 10) : 0;
  } else {
    ex->error = kf_strdup("no response");
  }
}

static kf_step_result *add_step(kf_scenario_result *sc, const char *label, unsigned line,
                                kf_status status, const char *message, const char *request,
                                const char *response) {
  kf_step_result *st = NULL;
  assert_int_equal(kf_scenario_result_add_step(sc, &st), KF_OK);
  st->label = own(label);
  st->file = own(sc->file);
  st->line = line;
  st->status = status;
  st->message = message != NULL ? own(message) : NULL;
  add_exchange(st, request, response);
  st->duration_ms = 3;
  return st;
}

static void build_run(kf_run_result *run) {
  kf_run_result_init(run);
  run->target = own("embedded reference stack");
  run->base_url = own("http://127.0.0.1:8480");
  run->seed = UINT64_C(18446744073709551557); /* Larger than a double holds exactly. */
  run->run_id = UINT64_C(0xabc);              /* Printed with its leading zeros. */
  run->started_at = 1774692000;               /* 2026-03-28T10:00:00Z */
  run->duration_ms = 4321;

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

  kf_scenario_result *sc = NULL;
  const char *c_pass[] = {"ACC-01"};
  const char *t_pass[] = {"smoke", "mail"};
  assert_int_equal(kf_run_result_add_scenario(run, NAME_PASS, "scenarios/acc/register.konform", 3,
                                              c_pass, 1, t_pass, 2, &sc),
                   KF_OK);
  sc->status = KF_STATUS_PASS;
  sc->duration_ms = 1250;
  add_step(sc, "POST /api/v1/registrations", 5, KF_STATUS_PASS, NULL, "POST /x", "HTTP/1.1 202");
  add_step(sc, "wait mail", 9, KF_STATUS_PASS, NULL, NULL, NULL);

  const char *c_fail[] = {"ACC-06", "ACC-08"};
  assert_int_equal(
      kf_run_result_add_scenario(run, NAME_FAIL, FAIL_FILE, 1, c_fail, 2, NULL, 0, &sc), KF_OK);
  sc->status = KF_STATUS_FAIL;
  sc->message = own(FAIL_MESSAGE);
  sc->fail_file = own(FAIL_FILE);
  sc->fail_line = FAIL_LINE;
  sc->duration_ms = 12;
  add_step(sc, "POST /api/v1/registrations", 4, KF_STATUS_PASS, NULL, "POST /y", "HTTP/1.1 202");
  kf_step_result *st = add_step(sc, "POST /api/v1/email-confirmations", 15, KF_STATUS_FAIL,
                                FAIL_MESSAGE, bad_request, bad_response);
  st->fail_line = FAIL_LINE;

  const char *c_skip[] = {"AUTH-05"};
  assert_int_equal(kf_run_result_add_scenario(run, NAME_SKIP, "scenarios/auth/lock.konform", 1,
                                              c_skip, 1, NULL, 0, &sc),
                   KF_OK);
  sc->status = KF_STATUS_SKIP;
  sc->message = own(SKIP_MESSAGE);

  const char *c_err[] = {"AUTH-04"};
  assert_int_equal(kf_run_result_add_scenario(run, NAME_ERROR, "scenarios/auth/enum.konform", 2,
                                              c_err, 1, NULL, 0, &sc),
                   KF_OK);
  sc->status = KF_STATUS_ERROR;
  sc->message = own(ERROR_MESSAGE);
  sc->duration_ms = 7;
  add_step(sc, "POST /api/v1/sessions", 6, KF_STATUS_ERROR, ERROR_MESSAGE, "POST /api/v1/sessions",
           NULL);

  assert_int_equal(kf_run_result_add_scenario(run, NAME_OTHER, "scenarios/health.konform", 1, NULL,
                                              0, NULL, 0, &sc),
                   KF_OK);
  sc->status = KF_STATUS_PASS;
  sc->duration_ms = 1;
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
  fixture *f = calloc(1, sizeof *f);
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
  free(f);
  return 0;
}

/* Read a whole file into a malloc'd string (test code: plain malloc). */
static char *slurp(const char *path, size_t *len_out) {
  FILE *fp = fopen(path, "rb");
  if (fp == NULL)
    return NULL;
  size_t cap = 4096, len = 0;
  char *data = malloc(cap);
  assert_non_null(data);
  size_t n;
  while ((n = fread(data + len, 1, cap - len - 1, fp)) > 0) {
    len += n;
    if (cap - len < 2) {
      cap *= 2;
      data = realloc(data, cap);
      assert_non_null(data);
    }
  }
  fclose(fp);
  data[len] = '\0';
  if (len_out != NULL)
    *len_out = len;
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

static char *clean(const char *s, unsigned flags) {
  kf_buf b;
  kf_buf_init(&b, KR_TEXT_OUT_MAX);
  assert_int_equal(kr_text_clean(&b, s, flags), KF_OK);
  size_t len = 0;
  char *out = kf_buf_detach(&b, &len);
  assert_non_null(out);
  assert_true(kf_utf8_valid(out, len));
  return out;
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

  /* Input past the cap is cut on a character boundary and says so. */
  size_t big = KR_TEXT_IN_MAX + 11;
  char *in = malloc(big + 1);
  assert_non_null(in);
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
  free(in);
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
}

/* ---------------------------------------------------------------------------
 * JSON.
 * ------------------------------------------------------------------------- */

/*
 * A small JSON Schema checker for the keywords docs/report-schema.json uses:
 * type, required, properties, additionalProperties, items, enum, $ref into
 * $defs, minimum and pattern. It fails the test at the first violation.
 */
static void schema_check(const json_t *root_schema, const json_t *schema, const json_t *v,
                         const char *where);

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

static void schema_check(const json_t *root_schema, const json_t *schema, const json_t *v,
                         const char *where) {
  const json_t *ref = json_object_get(schema, "$ref");
  if (ref != NULL) {
    const char *r = json_string_value(ref);
    assert_non_null(r);
    assert_true(kf_str_starts_with(r, "#/$defs/"));
    const json_t *target = json_object_get(json_object_get(root_schema, "$defs"), r + 8);
    if (target == NULL)
      fail_msg("%s: unresolved $ref %s", where, r);
    schema_check(root_schema, target, v, where);
  }
  const json_t *type = json_object_get(schema, "type");
  if (json_is_string(type)) {
    if (!schema_type_ok(json_string_value(type), v))
      fail_msg("%s: not of type %s", where, json_string_value(type));
  } else if (json_is_array(type)) {
    int ok = 0;
    size_t i;
    const json_t *t;
    json_array_foreach(type, i, t) ok |= schema_type_ok(json_string_value(t), v);
    if (!ok)
      fail_msg("%s: not of any allowed type", where);
  }
  const json_t *en = json_object_get(schema, "enum");
  if (en != NULL) {
    int ok = 0;
    size_t i;
    const json_t *e;
    json_array_foreach(en, i, e) ok |= json_equal(e, v);
    if (!ok)
      fail_msg("%s: value not in enum", where);
  }
  const json_t *minimum = json_object_get(schema, "minimum");
  if (minimum != NULL && json_is_integer(v) && json_integer_value(v) < json_integer_value(minimum))
    fail_msg("%s: below minimum", where);
  const json_t *pattern = json_object_get(schema, "pattern");
  if (pattern != NULL && json_is_string(v)) {
    regex_t re;
    assert_int_equal(regcomp(&re, json_string_value(pattern), REG_EXTENDED | REG_NOSUB), 0);
    int m = regexec(&re, json_string_value(v), 0, NULL, 0);
    regfree(&re);
    if (m != 0)
      fail_msg("%s: \"%s\" does not match %s", where, json_string_value(v),
               json_string_value(pattern));
  }
  if (json_is_object(v)) {
    const json_t *req = json_object_get(schema, "required");
    size_t i;
    const json_t *k;
    json_array_foreach(req, i, k) {
      if (json_object_get(v, json_string_value(k)) == NULL)
        fail_msg("%s: required key %s missing", where, json_string_value(k));
    }
    const json_t *props = json_object_get(schema, "properties");
    const json_t *addl = json_object_get(schema, "additionalProperties");
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)v, key, val) {
      char sub[256];
      (void)kf_str_format(sub, sizeof sub, "%s.%s", where,
                          key); /* A cut path only shortens messages. */
      const json_t *ps = json_object_get(props, key);
      if (ps != NULL)
        schema_check(root_schema, ps, val, sub);
      else if (json_is_false(addl))
        fail_msg("%s: key not allowed by the schema", sub);
    }
  }
  const json_t *items = json_object_get(schema, "items");
  if (items != NULL && json_is_array(v)) {
    size_t i;
    const json_t *item;
    json_array_foreach(v, i, item) {
      char sub[256];
      (void)kf_str_format(sub, sizeof sub, "%s[%zu]", where, i);
      schema_check(root_schema, items, item, sub);
    }
  }
}

/* Find docs/report-schema.json from the repository root or a build folder. */
static json_t *load_schema(void) {
  static const char *const paths[] = {"docs/report-schema.json", "../docs/report-schema.json",
                                      "../../docs/report-schema.json",
                                      "../../../docs/report-schema.json"};
  const char *env = getenv("KONFORM_SRCDIR");
  if (env != NULL) {
    char p[512];
    if (kf_str_format(p, sizeof p, "%s/docs/report-schema.json", env) == KF_OK) {
      json_t *s = json_load_file(p, 0, NULL);
      if (s != NULL)
        return s;
    }
  }
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    json_t *s = json_load_file(paths[i], 0, NULL);
    if (s != NULL)
      return s;
  }
  return NULL;
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

static void test_json_report(void **state) {
  fixture *f = *state;
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kr_json_write(&f->run, f->json, &err), KF_OK);
  assert_int_equal(dir_entries(f->dir), 1); /* No temporary file left behind. */

  size_t len = 0;
  char *raw = slurp(f->json, &len);
  assert_non_null(raw);
  assert_true(kf_utf8_valid(raw, len));
  free(raw);

  json_error_t jerr;
  json_t *doc = json_load_file(f->json, 0, &jerr);
  if (doc == NULL)
    fail_msg("JSON report does not parse: %s (line %d)", jerr.text, jerr.line);

  /* The keys the schema requires, checked here by hand as well. */
  static const char *const top[] = {"konform_version", "target",     "base_url", "seed",
                                    "run_id",          "started_at", "summary",  "requirements",
                                    "scenarios"};
  for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
    assert_non_null(json_object_get(doc, top[i]));
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

  static const char *const sc_keys[] = {"name",   "file", "line",        "status", "message",
                                        "covers", "tags", "duration_ms", "steps"};
  static const char *const st_keys[] = {"label",   "file",        "line",    "status",
                                        "message", "duration_ms", "request", "response"};
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
    }
  }
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
  const json_t *bad = json_array_get(json_object_get(failed, "steps"), 1);
  assert_string_equal(str_of(bad, "status"), "fail");
  assert_int_equal(int_of(bad, "line"), 15);
  const char *req = str_of(bad, "request");
  /* Control characters survive (JSON escapes them); invalid bytes became U+FFFD. */
  assert_non_null(strstr(req, "a\x01"
                              "b\x1b[31mred"));
  assert_non_null(strstr(req, "\"id\":\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd(\""));
  assert_non_null(strstr(str_of(bad, "response"), "\xc2\x9b"));

  assert_string_equal(str_of(find_by(scs, "name", NAME_ERROR), "status"), "error");
  const json_t *skip = find_by(scs, "name", NAME_SKIP);
  assert_string_equal(str_of(skip, "status"), "skip");
  assert_string_equal(str_of(skip, "message"), SKIP_MESSAGE);
  assert_int_equal(json_array_size(json_object_get(skip, "steps")), 0);
  const json_t *other = find_by(scs, "name", NAME_OTHER);
  assert_int_equal(json_array_size(json_object_get(other, "covers")), 0);

  /* And the whole document against docs/report-schema.json. */
  json_t *schema = load_schema();
  if (schema == NULL) {
    json_decref(doc);
    fail_msg(
        "docs/report-schema.json not found (run from the repository root or set KONFORM_SRCDIR)");
  }
  assert_string_equal(str_of(schema, "$schema"), "https://json-schema.org/draft/2020-12/schema");
  schema_check(schema, schema, doc, "$");
  json_decref(schema);
  json_decref(doc);
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

  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kr_json_write(&f->run, f->json, &err), KF_OK);
  json_error_t jerr;
  json_t *doc = json_load_file(f->json, 0, &jerr);
  assert_non_null(doc);
  const json_t *reqs = json_object_get(doc, "requirements");
  check_req(reqs, "ACC-01", "not-checked", 1);
  assert_int_equal(int_of(find_by(reqs, "id", "ACC-01"), "not_selected"), 11);
  assert_int_equal(int_of(find_by(reqs, "id", "ACC-06"), "not_selected"), 3);
  json_t *schema = load_schema();
  assert_non_null(schema);
  schema_check(schema, schema, doc, "$");
  json_decref(schema);
  json_decref(doc);

  char *text = capture_summary(&f->run, false, false);
  assert_non_null(
      strstr(text, "    ACC-01   not checked (1 of 12 scenarios selected)  Registrierung\n"));
  assert_non_null(strstr(text, "    ACC-06   FAIL          1 scenario   Link 24 Stunden\n"));
  assert_non_null(strstr(text, "  ACC     0 pass    2 fail    2 not checked\n"));
  free(text);
}

static void test_json_schema_shape(void **state) {
  (void)state;
  /* The schema states the contract; these are the parts consumers rely on. */
  json_t *schema = load_schema();
  assert_non_null(schema);
  const json_t *status = json_object_get(json_object_get(schema, "$defs"), "status");
  assert_non_null(status);
  json_t *good = json_string("skip");
  schema_check(schema, status, good, "$");
  json_decref(good);
  const json_t *summary = json_object_get(json_object_get(schema, "$defs"), "summary");
  json_t *required = json_object_get(summary, "required");
  assert_int_equal(json_array_size(required), 6);
  json_decref(schema);
}

static void test_json_empty_run(void **state) {
  fixture *f = *state;
  kf_run_result empty;
  kf_run_result_init(&empty);
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kr_json_write(&empty, f->json, &err), KF_OK);
  json_t *doc = json_load_file(f->json, 0, NULL);
  assert_non_null(doc);
  assert_int_equal(json_array_size(json_object_get(doc, "requirements")), 0);
  assert_int_equal(int_of(json_object_get(doc, "summary"), "scenarios"), 0);
  assert_true(json_is_null(json_object_get(doc, "base_url")));
  json_t *schema = load_schema();
  assert_non_null(schema);
  schema_check(schema, schema, doc, "$");
  json_decref(schema);
  json_decref(doc);
  kf_run_result_release(&empty);
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

/*
 * Fail every allocation in turn: the writer must report an error (never
 * crash), leave the old report exactly as it was and no temporary file.
 */
static void alloc_failure_loop(fixture *f, const char *path,
                               kf_rc (*writer)(const kf_run_result *, const char *, kf_err *),
                               int is_json) {
  static const char old[] = "old report\n";
  write_file(path, old);
  unsigned long n;
  for (n = 1; n < 200000; n++) {
    kf_err err;
    kf_err_init(&err);
    kf_alloc_fail_at(n);
    kf_rc rc = writer(&f->run, path, &err);
    int injected = kf_alloc_failed();
    kf_alloc_fail_at(0);
    assert_int_equal(dir_entries(f->dir), 1);
    if (rc != KF_OK) {
      assert_true(injected);
      assert_true(err.message[0] != '\0');
      char *now = slurp(path, NULL);
      assert_non_null(now);
      assert_string_equal(now, old);
      free(now);
      continue;
    }
    /* A success must be a complete report. */
    if (is_json) {
      json_error_t jerr;
      json_t *doc = json_load_file(path, 0, &jerr);
      if (doc == NULL)
        fail_msg("allocation %lu failed, yet the report does not parse: %s", n, jerr.text);
      json_decref(doc);
    } else {
      xmlDocPtr doc =
          xmlReadFile(path, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
      assert_non_null(doc);
      xmlFreeDoc(doc);
    }
    if (!injected)
      break;
    write_file(path, old);
  }
  /* The loop ends only once a run needed no injected failure at all. */
  assert_true(n > 3);
  assert_true(n < 200000);
}

static void test_json_alloc_failures(void **state) {
  alloc_failure_loop(*state, ((fixture *)*state)->json, kr_json_write, 1);
}

static void test_junit_alloc_failures(void **state) {
  alloc_failure_loop(*state, ((fixture *)*state)->xml, kr_junit_write, 0);
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

static void assert_xpath_contains(xmlDocPtr doc, const char *expr, const char *needle) {
  char *got = xpath_string(doc, expr);
  int found = strstr(got, needle) != NULL;
  xmlFree(got);
  if (!found)
    fail_msg("%s does not contain \"%s\"", expr, needle);
}

static void test_junit_report(void **state) {
  fixture *f = *state;
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
  free(raw);

  /* A strict parse: any well-formedness problem fails here. */
  xmlDocPtr doc = xmlReadFile(f->xml, NULL, XML_PARSE_NONET);
  assert_non_null(doc);

  assert_xpath_string(doc, "name(/*)", "testsuites");
  assert_xpath_string(doc, "/testsuites/@name", "konform");
  assert_xpath_string(doc, "/testsuites/@tests", "5");
  assert_xpath_string(doc, "/testsuites/@failures", "1");
  assert_xpath_string(doc, "/testsuites/@errors", "1");
  assert_xpath_string(doc, "/testsuites/@skipped", "1");
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
  assert_xpath_string(doc, "//testcase[@name='" NAME_PASS "']/@file",
                      "scenarios/acc/register.konform");
  assert_xpath_string(doc, "//testcase[@name='" NAME_PASS "']/@line", "3");
  assert_xpath_string(doc, "//testcase[@name='" NAME_PASS "']/@time", "1.250");
  assert_xpath_count(
      doc, "//testcase[@name='" NAME_PASS "']/*[self::failure or self::error or self::skipped]", 0);
  assert_xpath_count(doc, "//testcase[@name='" NAME_PASS "']/properties/property[@name='tag']", 2);
  assert_xpath_contains(doc, "//testcase[@name='" NAME_PASS "']/system-out",
                        "POST /api/v1/registrations");

  /* The failure: a <failure>, never an <error>, with properties and traces. */
  const char *tc = "//testcase[@name='" NAME_FAIL "']";
  char q[256];
  assert_int_equal(kf_str_format(q, sizeof q, "%s/properties/property[@name='covers']", tc), KF_OK);
  assert_xpath_count(doc, q, 2);
  assert_int_equal(
      kf_str_format(q, sizeof q, "%s/properties/property[@name='covers'][2]/@value", tc), KF_OK);
  assert_xpath_string(doc, q, "ACC-08");
  assert_int_equal(kf_str_format(q, sizeof q, "%s/failure", tc), KF_OK);
  assert_xpath_count(doc, q, 1);
  assert_xpath_contains(doc, q, FAIL_FILE ":17");
  assert_xpath_contains(doc, q, "POST /api/v1/email-confirmations HTTP/1.1");
  assert_xpath_contains(doc, q, "a\\x01b\\x1B[31mred"); /* XML 1.0 forbids both. */
  assert_xpath_contains(doc, q, "\xc2\x9b\\x0B");       /* C1 is legal XML; VT is not. */
  assert_xpath_contains(doc, q, "\"id\":\"\xef\xbf\xbd");
  assert_xpath_contains(doc, q, "HTTP/1.1 200 OK");
  assert_xpath_contains(doc, q, "\\uFFFF");
  assert_int_equal(kf_str_format(q, sizeof q, "%s/failure/@message", tc), KF_OK);
  assert_xpath_string(doc, q, FAIL_MESSAGE);
  assert_int_equal(kf_str_format(q, sizeof q, "%s/failure/@type", tc), KF_OK);
  assert_xpath_string(doc, q, "conformance");
  assert_int_equal(kf_str_format(q, sizeof q, "%s/error", tc), KF_OK);
  assert_xpath_count(doc, q, 0);

  /* The error: an <error>, never a <failure>. */
  assert_xpath_count(doc, "//testcase[@name='" NAME_ERROR "']/error", 1);
  assert_xpath_count(doc, "//testcase[@name='" NAME_ERROR "']/failure", 0);
  assert_xpath_string(doc, "//testcase[@name='" NAME_ERROR "']/error/@type", "error");
  assert_xpath_string(doc, "//testcase[@name='" NAME_ERROR "']/error/@message", ERROR_MESSAGE);
  assert_xpath_string(doc, "//testcase[@name='" NAME_ERROR "']/@classname", "konform.AUTH");

  /* The skip. */
  assert_xpath_count(doc, "//testcase[@name='" NAME_SKIP "']/skipped", 1);
  assert_xpath_string(doc, "//testcase[@name='" NAME_SKIP "']/skipped/@message", SKIP_MESSAGE);
  assert_xpath_count(doc, "//testcase[@name='" NAME_SKIP "']/system-out", 0);

  assert_xpath_string(doc, "//testcase[@name='" NAME_OTHER "']/@classname", "konform.OTHER");
  assert_xpath_count(doc, "//testcase[@name='" NAME_OTHER "']/properties", 0);
  xmlFreeDoc(doc);
}

static void test_junit_empty_run(void **state) {
  fixture *f = *state;
  kf_run_result empty;
  kf_run_result_init(&empty);
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kr_junit_write(&empty, f->xml, &err), KF_OK);
  xmlDocPtr doc = xmlReadFile(f->xml, NULL, XML_PARSE_NONET);
  assert_non_null(doc);
  assert_xpath_string(doc, "/testsuites/@tests", "0");
  assert_xpath_count(doc, "/testsuites/testsuite", 0);
  xmlFreeDoc(doc);
  kf_run_result_release(&empty);
}

/* ---------------------------------------------------------------------------
 * Console.
 * ------------------------------------------------------------------------- */

/* Run kr_console_summary into a memory stream and return what it printed (caller frees with free).
 */
static char *capture_summary(const kf_run_result *run, bool color, bool verbose) {
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  assert_non_null(mem);
  kr_console_options opt = {.color = color, .verbose = verbose};
  kr_console_summary(mem, &opt, run);
  assert_int_equal(fclose(mem), 0);
  assert_non_null(text);
  return text;
}

static char *capture_scenario(const kf_scenario_result *sc, bool color, bool verbose, size_t done,
                              size_t total) {
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  assert_non_null(mem);
  kr_console_options opt = {.color = color, .verbose = verbose};
  kr_console_scenario(mem, &opt, sc, done, total);
  assert_int_equal(fclose(mem), 0);
  assert_non_null(text);
  return text;
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

static void test_console_summary_plain(void **state) {
  fixture *f = *state;
  char *text = capture_summary(&f->run, false, false);
  char line[128];
  last_line(text, line, sizeof line);
  assert_string_equal(line, "2 passed, 2 failed, 1 skipped");
  assert_non_null(strstr(text, "\n1 error (counted as failed)\n2 passed, 2 failed, 1 skipped\n"));
  assert_null(strchr(text, '\x1b')); /* Not even the ESC inside the trace. */
  assert_non_null(strstr(text, "\\x1B[31mred"));

  /* The failure block: location, assertion, request and response. */
  assert_non_null(strstr(text, "  FAIL  " NAME_FAIL "\n      at " FAIL_FILE ":17\n"));
  assert_non_null(strstr(text, "      " FAIL_MESSAGE "\n"));
  assert_non_null(
      strstr(text, "      request:\n        POST /api/v1/email-confirmations HTTP/1.1\n"));
  assert_non_null(strstr(text, "      response:\n        HTTP/1.1 200 OK\n"));
  assert_null(strchr(text, '\r'));
  assert_non_null(strstr(text, "  ERROR " NAME_ERROR "\n"));
  assert_non_null(strstr(text, ERROR_MESSAGE));
  /* The failures come before the requirement summary, which ends the output. */
  assert_true(strstr(text, "at " FAIL_FILE) < strstr(text, "Requirements:"));

  assert_non_null(strstr(text, "  SKIP  " NAME_SKIP ": " SKIP_MESSAGE "\n"));
  assert_non_null(strstr(text, "    ACC-07   not checked   0 scenarios  Link einmal\n"));
  assert_non_null(strstr(text, "    ACC-06   FAIL          1 scenario   Link 24 Stunden\n"));
  assert_non_null(strstr(text, "    ACC-01   pass          1 scenario   Registrierung\n"));
  assert_non_null(strstr(text, "    AUTH-05  not checked   1 scenario   Sperre\n"));
  assert_non_null(strstr(text, "  ACC     1 pass    2 fail    1 not checked\n"));
  assert_non_null(strstr(text, "  AUTH    0 pass    1 fail    1 not checked\n"));
  assert_non_null(strstr(text, "seed 18446744073709551557, run id 0000000000000abc,"));
  assert_non_null(strstr(text, "4.321 s"));
  size_t len = strlen(text);
  assert_true(kf_utf8_valid(text, len));
  free(text);
}

static void test_console_summary_color(void **state) {
  fixture *f = *state;
  char *text = capture_summary(&f->run, true, false);
  assert_non_null(strstr(text, "\x1b[1;31mFAIL\x1b[0m"));
  assert_non_null(strstr(text, "\x1b[33mnot checked\x1b[0m"));
  /* The closing line stays plain so CI parsers can read it. */
  char line[128];
  last_line(text, line, sizeof line);
  assert_string_equal(line, "2 passed, 2 failed, 1 skipped");
  /* Colour is ours; the trace's own ESC is still neutralised. */
  assert_null(strstr(text, "\x1b[31mred"));
  free(text);
}

static void test_console_all_passed(void **state) {
  (void)state;
  kf_run_result run;
  kf_run_result_init(&run);
  kf_scenario_result *sc = NULL;
  assert_int_equal(kf_run_result_add_scenario(&run, "a", "a.konform", 1, NULL, 0, NULL, 0, &sc),
                   KF_OK);
  sc->status = KF_STATUS_PASS;
  char *text = capture_summary(&run, false, false);
  char line[128];
  last_line(text, line, sizeof line);
  assert_string_equal(line, "1 passed, 0 failed, 0 skipped");
  assert_null(strstr(text, "error"));
  assert_null(strstr(text, "Failures"));
  free(text);
  kf_run_result_release(&run);
}

static void test_console_scenario_line(void **state) {
  fixture *f = *state;
  char *text = capture_scenario(&f->run.scenarios[1], false, false, 3, 41);
  assert_string_equal(text, "[ 3/41] FAIL  " NAME_FAIL "  (ACC-06 ACC-08)  12 ms\n");
  free(text);

  text = capture_scenario(&f->run.scenarios[2], false, false, 10, 41);
  assert_string_equal(text, "[10/41] SKIP  " NAME_SKIP "  (AUTH-05)  0 ms\n");
  free(text);

  text = capture_scenario(&f->run.scenarios[4], false, false, 5, 5);
  assert_string_equal(text, "[5/5] PASS  " NAME_OTHER "  1 ms\n");
  free(text);

  text = capture_scenario(&f->run.scenarios[0], true, false, 1, 5);
  assert_string_equal(text, "[1/5] \x1b[32mPASS\x1b[0m  " NAME_PASS "  (ACC-01)  1250 ms\n");
  free(text);

  /* Verbose: every step, its location and its traces, indented. */
  text = capture_scenario(&f->run.scenarios[1], false, true, 3, 41);
  assert_true(kf_str_starts_with(text, "[ 3/41] FAIL  "));
  assert_non_null(
      strstr(text, "      1. PASS  POST /api/v1/registrations  (" FAIL_FILE ":4)  3 ms\n"));
  assert_non_null(
      strstr(text, "      2. FAIL  POST /api/v1/email-confirmations  (" FAIL_FILE ":15)  3 ms\n"));
  assert_non_null(strstr(text, "         request:\n           POST /y\n"));
  assert_non_null(strstr(text, "           X-Odd: a\\x01b\\x1B[31mred\\x7F\n"));
  assert_null(strchr(text, '\x1b'));
  free(text);
}

static void test_console_want_color(void **state) {
  (void)state;
  char *saved_no_color = getenv("NO_COLOR") ? strdup(getenv("NO_COLOR")) : NULL;
  char *saved_term = getenv("TERM") ? strdup(getenv("TERM")) : NULL;

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
  free(saved_no_color);
  free(saved_term);
}

int main(void) {
  /* Route jansson through kf_malloc so injected failures reach it too. */
  kf_alloc_install_jansson();
  xmlInitParser();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_text_clean),
      cmocka_unit_test_setup_teardown(test_scenario_area, setup, teardown),
      cmocka_unit_test_setup_teardown(test_json_report, setup, teardown),
      cmocka_unit_test(test_json_schema_shape),
      cmocka_unit_test_setup_teardown(test_not_selected_is_not_checked, setup, teardown),
      cmocka_unit_test_setup_teardown(test_json_empty_run, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_into_missing_folder, setup, teardown),
      cmocka_unit_test_setup_teardown(test_json_alloc_failures, setup, teardown),
      cmocka_unit_test_setup_teardown(test_junit_report, setup, teardown),
      cmocka_unit_test_setup_teardown(test_junit_empty_run, setup, teardown),
      cmocka_unit_test_setup_teardown(test_junit_alloc_failures, setup, teardown),
      cmocka_unit_test_setup_teardown(test_console_summary_plain, setup, teardown),
      cmocka_unit_test_setup_teardown(test_console_summary_color, setup, teardown),
      cmocka_unit_test(test_console_all_passed),
      cmocka_unit_test_setup_teardown(test_console_scenario_line, setup, teardown),
      cmocka_unit_test(test_console_want_color),
  };
  int failed = cmocka_run_group_tests_name("reports", tests, NULL, NULL);
  xmlCleanupParser();
  return failed;
}
