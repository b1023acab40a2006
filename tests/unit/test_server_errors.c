/*
 * The error catalogue against the contract: every error code konform-server
 * and kf_httpd answer is in docs/openapi.yaml's Error enum and every field
 * code in FieldError's (and nothing else is), every German message of the
 * catalogue (and every password criterion's label) is written in the
 * contract, and every message the contract quotes right after a code is the
 * catalogue's text for that code. A small line-based reader is enough: the
 * contract writes codes and messages in a few fixed forms.
 *
 * And every route of the server's route tables against the contract, both
 * ways: the contract documents each route and method, a 500 everywhere,
 * 400/413/415 on every JSON route, 400 CLOCK_NOT_FOUND and the Konform-Clock
 * parameter wherever the clock header applies (and the parameter nowhere
 * else), 401/403 where a session is needed, a HEAD beside every GET with the
 * same answers, pages as text/html; and it documents no route the tables lack.
 *
 * Run from the top of the repository (as make unit does).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/httpd.h"
#include "kf/password_policy.h"
#include "kf/str.h"
#include "ks_api.h"
#include "ks_error.h"
#include "ks_link.h"

#define CONTRACT "docs/openapi.yaml"
#define MAX_CODES 64
#define MAX_TEXT 512

typedef struct code_set {
  char codes[MAX_CODES][48];
  size_t n;
} code_set;

static bool set_has(const code_set *s, const char *code) {
  for (size_t i = 0; i < s->n; i++) {
    if (strcmp(s->codes[i], code) == 0)
      return true;
  }
  return false;
}

static void set_add(code_set *s, const char *code, size_t len) {
  assert_true(len > 0 && len < sizeof s->codes[0]);
  char tmp[sizeof s->codes[0]];
  memcpy(tmp, code, len);
  tmp[len] = '\0';
  if (set_has(s, tmp))
    return;
  assert_true(s->n < MAX_CODES);
  memcpy(s->codes[s->n++], tmp, len + 1);
}

/* The contract as one string. Caller frees with kf_free. */
static char *contract_load(void) {
  FILE *f = fopen(CONTRACT, "rb");
  if (f == NULL)
    fail_msg("cannot open %s (run from the top of the repository)", CONTRACT);
  kf_buf b;
  kf_buf_init(&b, 1 << 20);
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    assert_int_equal(kf_buf_append(&b, chunk, n), KF_OK);
  fclose(f);
  char *text = kf_buf_detach(&b, NULL);
  assert_non_null(text);
  return text;
}

static bool code_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* The codes of the "enum: [...]" that follows "code:" in the schema headed by header. */
static void contract_enum(const char *text, const char *header, code_set *out) {
  const char *p = strstr(text, header);
  if (p == NULL)
    fail_msg("%s has no '%s'", CONTRACT, header);
  p = strstr(p, "code:");
  assert_non_null(p);
  p = strstr(p, "enum: [");
  assert_non_null(p);
  p += strlen("enum: [");
  out->n = 0;
  while (*p != ']' && *p != '\0') {
    if (!code_char(*p)) {
      p++;
      continue;
    }
    const char *start = p;
    while (code_char(*p))
      p++;
    set_add(out, start, (size_t)(p - start));
  }
}

/* The codes the program answers: the server's catalogue and kf_httpd's own errors. */
static void program_error_codes(code_set *out) {
  out->n = 0;
  for (int e = 0; e < KS_ERR_COUNT; e++)
    set_add(out, ks_error_row((ks_error)e)->code, strlen(ks_error_row((ks_error)e)->code));
  for (int e = 0; e < KF_HTTP_ERR_COUNT; e++) {
    const char *code = kf_http_error_row_get((kf_http_errcode)e)->code;
    set_add(out, code, strlen(code));
  }
}

/* The field codes: the server's field table and the password criteria. */
static void program_field_codes(code_set *out) {
  out->n = 0;
  for (int f = 0; f < KS_FIELD_COUNT; f++)
    set_add(out, ks_field_row_get((ks_field)f)->code, strlen(ks_field_row_get((ks_field)f)->code));
  for (int c = 0; c < KF_PW_CRITERIA_COUNT; c++) {
    const char *code = kf_pw_criterion_code((kf_pw_criterion)c);
    set_add(out, code, strlen(code));
  }
}

static void assert_same_sets(const code_set *contract, const code_set *program, const char *what) {
  for (size_t i = 0; i < contract->n; i++) {
    if (!set_has(program, contract->codes[i]))
      fail_msg("%s lists %s code %s, which the program never answers", CONTRACT, what,
               contract->codes[i]);
  }
  for (size_t i = 0; i < program->n; i++) {
    if (!set_has(contract, program->codes[i]))
      fail_msg("the program answers %s code %s, which %s does not list", what, program->codes[i],
               CONTRACT);
  }
}

static void test_error_codes_match_the_contract(void **state) {
  (void)state;
  char *text = contract_load();
  code_set contract, program;
  contract_enum(text, "\n    Error:\n", &contract);
  program_error_codes(&program);
  assert_same_sets(&contract, &program, "error");
  contract_enum(text, "\n    FieldError:\n", &contract);
  program_field_codes(&program);
  assert_same_sets(&contract, &program, "field");
  kf_free(text);
}

/* message with every " written as \", as inside a YAML double-quoted text. */
static void yaml_escape(const char *message, char *out, size_t out_size) {
  size_t n = 0;
  for (const char *p = message; *p != '\0'; p++) {
    assert_true(n + 3 < out_size);
    if (*p == '"')
      out[n++] = '\\';
    out[n++] = *p;
  }
  out[n] = '\0';
}

/* Whether the contract writes message: quoted, or as a YAML value (message:/label:). */
static bool contract_documents(const char *text, const char *message) {
  char escaped[MAX_TEXT];
  yaml_escape(message, escaped, sizeof escaped);
  char form[MAX_TEXT + 16];
  assert_int_equal(kf_str_format(form, sizeof form, "\"%s\"", escaped), KF_OK);
  if (strstr(text, form) != NULL)
    return true;
  const char *values[] = {"message: %s\n", "label: %s}", "message: %s}", "label: '%s'}"};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    /* The format is one of the fixed forms above. */
    assert_int_equal(kf_str_format(form, sizeof form, values[i], message), KF_OK);
    if (strstr(text, form) != NULL)
      return true;
  }
  return false;
}

static void test_every_message_is_in_the_contract(void **state) {
  (void)state;
  char *text = contract_load();
  for (int e = 0; e < KS_ERR_COUNT; e++) {
    const kf_http_error_row *row = ks_error_row((ks_error)e);
    if (!contract_documents(text, row->message))
      fail_msg("%s does not document %s \"%s\"", CONTRACT, row->code, row->message);
  }
  for (int f = 0; f < KS_FIELD_COUNT; f++) {
    const ks_field_row *row = ks_field_row_get((ks_field)f);
    if (!contract_documents(text, row->message))
      fail_msg("%s does not document field code %s \"%s\"", CONTRACT, row->code, row->message);
  }
  for (int c = 0; c < KF_PW_CRITERIA_COUNT; c++) {
    const char *label = kf_pw_criterion_label((kf_pw_criterion)c);
    if (!contract_documents(text, label))
      fail_msg("%s does not document the label \"%s\"", CONTRACT, label);
  }
  assert_true(contract_documents(text, KS_LINK_CONFIRMED_MESSAGE));
  kf_free(text);
}

/* Whether message is the catalogue's text for code (any of its rows). */
static bool catalogue_says(const char *code, const char *message) {
  for (int e = 0; e < KS_ERR_COUNT; e++) {
    const kf_http_error_row *row = ks_error_row((ks_error)e);
    if (strcmp(row->code, code) == 0 && strcmp(row->message, message) == 0)
      return true;
  }
  for (int f = 0; f < KS_FIELD_COUNT; f++) {
    const ks_field_row *row = ks_field_row_get((ks_field)f);
    if (strcmp(row->code, code) == 0 && strcmp(row->message, message) == 0)
      return true;
  }
  for (int c = 0; c < KF_PW_CRITERIA_COUNT; c++) {
    if (strcmp(kf_pw_criterion_code((kf_pw_criterion)c), code) == 0 &&
        strcmp(kf_pw_criterion_label((kf_pw_criterion)c), message) == 0)
      return true;
  }
  return false;
}

/*
 * The message the contract writes right after the code at p (which ends at
 * end): CODE "text", CODE: "text", CODE ("text"), or code: CODE followed by
 * message: text on the same or the next line. Empty when there is none.
 */
static void contract_message_after(const char *end, char *out, size_t out_size) {
  out[0] = '\0';
  const char *p = end;
  const char *stop = "\"";
  if (strncmp(p, ", message: ", 11) == 0) {
    p += 11;
    stop = "}\n";
  } else if (p[0] == '\n' && strstr(p + 1, "message: ") == p + 1 + strspn(p + 1, " ")) {
    p = strstr(p + 1, "message: ") + 9;
    stop = "\n";
  } else {
    p += strspn(p, ": (");
    if (*p != '"')
      return;
    p++;
  }
  size_t n = 0;
  for (; *p != '\0' && strchr(stop, *p) == NULL; p++) {
    /* Inside a quoted text \" is a quote that does not end it. */
    if (p[0] == '\\' && p[1] == '"' && stop[0] == '"')
      p++;
    assert_true(n + 1 < out_size);
    out[n++] = *p;
  }
  out[n] = '\0';
}

static void test_contract_quotes_the_catalogue(void **state) {
  (void)state;
  char *text = contract_load();
  code_set codes, fields;
  program_error_codes(&codes);
  program_field_codes(&fields);
  size_t checked = 0;
  for (const char *p = text; *p != '\0'; p++) {
    if (!code_char(*p) || (p > text && code_char(p[-1])))
      continue;
    const char *start = p;
    while (code_char(*p))
      p++;
    char code[48];
    size_t len = (size_t)(p - start);
    if (len >= sizeof code)
      continue;
    memcpy(code, start, len);
    code[len] = '\0';
    if (!set_has(&codes, code) && !set_has(&fields, code))
      continue;
    char message[MAX_TEXT];
    contract_message_after(p, message, sizeof message);
    if (message[0] == '\0')
      continue;
    checked++;
    if (!catalogue_says(code, message))
      fail_msg("%s gives %s the message \"%s\", the catalogue another", CONTRACT, code, message);
  }
  /* The reader must have found the contract's quotes, not nothing. */
  assert_true(checked >= 20);
  kf_free(text);
}

/* ---- The route tables against the contract's paths. ---- */

/* A part of the contract: [start, end). */
typedef struct span {
  const char *start, *end;
} span;

static int line_indent(const char *line) {
  return (int)strspn(line, " ");
}

static const char *next_line(const char *p, const char *end) {
  const char *nl = memchr(p, '\n', (size_t)(end - p));
  return nl != NULL ? nl + 1 : end;
}

/*
 * The block in in of the line "<indent spaces>key:": that line and every
 * deeper one after it. An empty span when there is none.
 */
static span yaml_block(span in, int indent, const char *key) {
  size_t klen = strlen(key);
  for (const char *p = in.start; p < in.end; p = next_line(p, in.end)) {
    if (line_indent(p) != indent || (size_t)(in.end - p) < indent + klen + 1 ||
        memcmp(p + indent, key, klen) != 0 || p[indent + klen] != ':')
      continue;
    const char *q = next_line(p, in.end);
    while (q < in.end && (*q == '\n' || line_indent(q) > indent))
      q = next_line(q, in.end);
    return (span){p, q};
  }
  return (span){NULL, NULL};
}

static bool span_has(span s, const char *needle) {
  size_t n = strlen(needle);
  for (const char *p = s.start; p != NULL && p + n <= s.end; p++) {
    if (memcmp(p, needle, n) == 0)
      return true;
  }
  return false;
}

/* A status's text with its $ref to components/responses followed. */
static bool status_says(span doc, span status, const char *needle) {
  if (span_has(status, needle))
    return true;
  const char *ref = "#/components/responses/";
  for (const char *p = status.start; p != NULL && p < status.end; p++) {
    if (strncmp(p, ref, strlen(ref)) != 0)
      continue;
    char name[64];
    size_t n = strcspn(p + strlen(ref), "'\"}");
    assert_true(n < sizeof name);
    memcpy(name, p + strlen(ref), n);
    name[n] = '\0';
    span comps = yaml_block(yaml_block(doc, 0, "components"), 2, "responses");
    return span_has(yaml_block(comps, 4, name), needle);
  }
  return false;
}

/* The responses of method (lower case) on path in the contract; empty when undocumented. */
static span contract_responses(span doc, const char *path, const char *method) {
  span op = yaml_block(yaml_block(yaml_block(doc, 0, "paths"), 2, path), 4, method);
  return yaml_block(op, 6, "responses");
}

static span contract_status(span responses, unsigned status) {
  char key[8];
  assert_int_equal(kf_str_format(key, sizeof key, "'%u'", status), KF_OK);
  return yaml_block(responses, 8, key);
}

static void lower(const char *in, char *out, size_t size) {
  assert_int_equal(kf_str_copy(out, size, in), KF_OK);
  kf_str_ascii_lower(out);
}

/* The answers one route must have documented (route: a row of the tables). */
static void check_route(span doc, const ks_server *srv, const ks_route *r) {
  char method[16];
  lower(r->method, method, sizeof method);
  span op = yaml_block(yaml_block(yaml_block(doc, 0, "paths"), 2, r->pattern), 4, method);
  span resp = contract_responses(doc, r->pattern, method);
  if (resp.start == NULL)
    fail_msg("%s does not document %s %s", CONTRACT, r->method, r->pattern);
  struct {
    bool needed;
    unsigned status;
    const char *says;
  } musts[] = {
      {true, 500, "INTERNAL_ERROR"},
      {(r->flags & KS_ROUTE_JSON) != 0, 400, "MALFORMED_JSON"},
      {(r->flags & KS_ROUTE_JSON) != 0, 413, "BODY_TOO_LARGE"},
      {(r->flags & KS_ROUTE_JSON) != 0, 415, "UNSUPPORTED_MEDIA_TYPE"},
      {ks_api_clock_applies(srv, r), 400, "CLOCK_NOT_FOUND"},
      {r->stage != KS_STAGE_NONE, 401, "UNAUTHENTICATED"},
      {r->stage == KS_STAGE_FULL, 403, "SECOND_FACTOR_REQUIRED"},
      {(r->flags & KS_ROUTE_HTML) != 0, 200, "text/html"},
  };
  for (size_t i = 0; i < sizeof musts / sizeof musts[0]; i++) {
    if (musts[i].needed && !status_says(doc, contract_status(resp, musts[i].status), musts[i].says))
      fail_msg("%s: %s %s lacks %u %s", CONTRACT, r->method, r->pattern, musts[i].status,
               musts[i].says);
  }
  bool clock = span_has(op, "#/components/parameters/KonformClock");
  if (clock != ks_api_clock_applies(srv, r))
    fail_msg("%s: %s %s %s the Konform-Clock parameter", CONTRACT, r->method, r->pattern,
             clock ? "has" : "lacks");
}

/* A GET's HEAD: documented, with the same statuses as the GET. */
static void check_head(span doc, const ks_route *r) {
  span get = contract_responses(doc, r->pattern, "get");
  span head = contract_responses(doc, r->pattern, "head");
  if (head.start == NULL)
    fail_msg("%s documents no HEAD for GET %s", CONTRACT, r->pattern);
  for (unsigned status = 200; status < 600; status++) {
    if ((contract_status(get, status).start == NULL) !=
        (contract_status(head, status).start == NULL))
      fail_msg("%s: GET and HEAD %s differ in %u", CONTRACT, r->pattern, status);
  }
}

/* The route of the tables for a documented path and method (head: the GET), or NULL. */
static const ks_route *route_for(const char *path, const char *method) {
  size_t n = 0;
  const ks_area *const *areas = ks_api_areas(&n);
  for (size_t a = 0; a < n; a++) {
    for (size_t i = 0; i < areas[a]->n_routes; i++) {
      const ks_route *r = &areas[a]->routes[i];
      char m[16];
      lower(r->method, m, sizeof m);
      if (strcmp(r->pattern, path) == 0 &&
          (strcmp(m, method) == 0 || (strcmp(method, "head") == 0 && strcmp(m, "get") == 0)))
        return r;
    }
  }
  return NULL;
}

/* Every path and method the contract documents is a route of the tables. */
static void check_documented_routes(span doc) {
  span paths = yaml_block(doc, 0, "paths");
  size_t seen = 0;
  for (const char *p = next_line(paths.start, paths.end); p < paths.end;
       p = next_line(p, paths.end)) {
    if (line_indent(p) != 2)
      continue;
    char path[128];
    size_t n = strcspn(p + 2, ":\n");
    assert_true(n < sizeof path);
    memcpy(path, p + 2, n);
    path[n] = '\0';
    span block = yaml_block(paths, 2, path);
    for (const char *q = next_line(block.start, block.end); q < block.end;
         q = next_line(q, block.end)) {
      char method[16];
      size_t m = strcspn(q + 4, ":\n");
      if (line_indent(q) != 4 || m >= sizeof method)
        continue;
      memcpy(method, q + 4, m);
      method[m] = '\0';
      if (strcmp(method, "parameters") == 0)
        continue;
      if (route_for(path, method) == NULL)
        fail_msg("%s documents %s %s, which no route table has", CONTRACT, method, path);
      seen++;
    }
  }
  assert_true(seen >= 10);
}

static void test_every_route_is_in_the_contract(void **state) {
  (void)state;
  char *text = contract_load();
  span doc = {text, text + strlen(text)};
  ks_config cfg;
  ks_config_init(&cfg);
  cfg.test_mode = true;
  ks_server srv;
  memset(&srv, 0, sizeof srv);
  srv.cfg = &cfg;
  size_t n = 0, routes = 0;
  const ks_area *const *areas = ks_api_areas(&n);
  for (size_t a = 0; a < n; a++) {
    for (size_t i = 0; i < areas[a]->n_routes; i++, routes++) {
      check_route(doc, &srv, &areas[a]->routes[i]);
      if (strcmp(areas[a]->routes[i].method, "GET") == 0)
        check_head(doc, &areas[a]->routes[i]);
    }
  }
  assert_true(routes >= 10);
  check_documented_routes(doc);
  kf_free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_error_codes_match_the_contract),
      cmocka_unit_test(test_every_message_is_in_the_contract),
      cmocka_unit_test(test_contract_quotes_the_catalogue),
      cmocka_unit_test(test_every_route_is_in_the_contract),
  };
  return cmocka_run_group_tests_name("server errors", tests, NULL, NULL);
}
