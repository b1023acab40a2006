/*
 * The error catalogue against the contract: every error code konform-server
 * and kf_httpd answer is in docs/openapi.yaml's Error enum, every field code
 * in FieldError's and every password criterion in PasswordCheck's (and
 * nothing else is); every German message of the catalogue (and every
 * criterion's label) is written in the contract; and every message the
 * contract gives a code is the catalogue's text for that code: an object's
 * code and message (or criterion and label), a member named by a code, or a
 * text that quotes the message right after the code.
 *
 * And every route of the server's route tables against the contract, both
 * ways: the contract documents each route and method, a 500 everywhere,
 * 400/413/415 on every JSON route, 400 CLOCK_NOT_FOUND and the Konform-Clock
 * parameter wherever the clock header applies (and the parameter nowhere
 * else), 401/403 where a session is needed, a HEAD beside every GET with the
 * same statuses, pages as text/html; and it documents no route the tables lack.
 *
 * The contract is read with libyaml (tests/unit/kt_yaml) and walked as data,
 * $refs followed within it; nothing here reads YAML text. Run from the top of
 * the repository (as make unit does).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/httpd.h"
#include "kf/password_policy.h"
#include "kf/str.h"
#include "ks_api.h"
#include "ks_error.h"
#include "ks_link.h"
#include "kt_openapi.h"
#include "kt_yaml.h"

#define CONTRACT "docs/openapi.yaml"
#define MAX_CODES 128
#define MAX_TEXT 512
#define CODE_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"

/* ---- Sets of codes: borrowed strings, the catalogue's or the tree's. ---- */

typedef struct code_set {
  const char *codes[MAX_CODES];
  size_t n;
} code_set;

static bool set_has(const code_set *s, const char *code) {
  for (size_t i = 0; i < s->n; i++) {
    if (strcmp(s->codes[i], code) == 0)
      return true;
  }
  return false;
}

/* once_in: where each code is listed once (a second time fails), or NULL (ignored). */
static void set_add(code_set *s, const char *code, const char *once_in) {
  if (set_has(s, code)) {
    if (once_in != NULL)
      fail_msg("%s: %s lists %s twice", CONTRACT, once_in, code);
    return;
  }
  assert_true(s->n < MAX_CODES);
  s->codes[s->n++] = code;
}

/* ---- The contract as data. ---- */

/* The node at pointer ($refs followed, kt_openapi.h); a broken $ref fails the test. */
static json_t *contract_at(json_t *root, const char *pointer) {
  kf_err err;
  kf_err_init(&err);
  json_t *node = NULL;
  if (kt_openapi_at(root, pointer, &node, &err) != KF_OK)
    fail_msg("%s: %s", CONTRACT, err.message);
  return node;
}

static json_t *contract_follow(json_t *root, json_t *node) {
  kf_err err;
  kf_err_init(&err);
  json_t *target = NULL;
  if (kt_openapi_follow(root, node, &target, &err) != KF_OK)
    fail_msg("%s: %s", CONTRACT, err.message);
  return target;
}

/*
 * Called for every node of a walk with the name of the member that holds it
 * (an array's items get the array's name; the start gets "").
 */
typedef void (*node_visit)(json_t *node, const char *key, void *ctx);

/* Every node at and below node, depth first. $refs are not followed: a walk
 * reads what this part of the contract writes itself, not every schema it names. */
static void tree_walk(json_t *node, const char *key, node_visit visit, void *ctx) {
  visit(node, key, ctx);
  const char *k;
  json_t *v;
  size_t i;
  if (json_is_object(node)) {
    json_object_foreach(node, k, v) tree_walk(v, k, visit, ctx);
  } else if (json_is_array(node)) {
    json_array_foreach(node, i, v) tree_walk(v, key, visit, ctx);
  }
}

static bool code_char(char c) {
  return c != '\0' && strchr(CODE_CHARS, c) != NULL;
}

/* Whether text names word as a whole code (no code character either side). */
static bool text_has_word(const char *text, const char *word) {
  size_t n = strlen(word);
  for (const char *p = strstr(text, word); p != NULL; p = strstr(p + 1, word)) {
    if ((p == text || !code_char(p[-1])) && !code_char(p[n]))
      return true;
  }
  return false;
}

/* ---- The catalogue. ---- */

/* A code the program answers and its German text (a criterion: its field code and label). */
typedef struct catalogue_row {
  const char *code;
  const char *message;
  const char *what;
} catalogue_row;

#define CATALOGUE_MAX (KS_ERR_COUNT + KS_FIELD_COUNT + KF_PW_CRITERIA_COUNT)

static size_t catalogue_rows(catalogue_row out[CATALOGUE_MAX]) {
  size_t n = 0;
  for (int e = 0; e < KS_ERR_COUNT; e++) {
    const kf_http_error_row *row = ks_error_row((ks_error)e);
    out[n++] = (catalogue_row){row->code, row->message, "error code"};
  }
  for (int f = 0; f < KS_FIELD_COUNT; f++) {
    const ks_field_row *row = ks_field_row_get((ks_field)f);
    out[n++] = (catalogue_row){row->code, row->message, "field code"};
  }
  for (int c = 0; c < KF_PW_CRITERIA_COUNT; c++)
    out[n++] = (catalogue_row){kf_pw_criterion_code((kf_pw_criterion)c),
                               kf_pw_criterion_label((kf_pw_criterion)c), "the label of"};
  return n;
}

/* Whether message is the catalogue's text for code (any of its rows). */
static bool catalogue_says(const char *code, const char *message) {
  catalogue_row rows[CATALOGUE_MAX];
  size_t n = catalogue_rows(rows);
  for (size_t i = 0; i < n; i++) {
    if (strcmp(rows[i].code, code) == 0 && strcmp(rows[i].message, message) == 0)
      return true;
  }
  return false;
}

/* The label of the criterion named key (a password_checks entry's criterion), or NULL. */
static const char *criterion_label(const char *key) {
  for (int c = 0; c < KF_PW_CRITERIA_COUNT; c++) {
    if (strcmp(kf_pw_criterion_key((kf_pw_criterion)c), key) == 0)
      return kf_pw_criterion_label((kf_pw_criterion)c);
  }
  return NULL;
}

/* The codes the program answers: the server's catalogue and kf_httpd's own errors. */
static void program_error_codes(code_set *out) {
  out->n = 0;
  for (int e = 0; e < KS_ERR_COUNT; e++)
    set_add(out, ks_error_row((ks_error)e)->code, NULL);
  for (int e = 0; e < KF_HTTP_ERR_COUNT; e++)
    set_add(out, kf_http_error_row_get((kf_http_errcode)e)->code, NULL);
}

/* The field codes: the server's field table and the password criteria. */
static void program_field_codes(code_set *out) {
  out->n = 0;
  for (int f = 0; f < KS_FIELD_COUNT; f++)
    set_add(out, ks_field_row_get((ks_field)f)->code, NULL);
  for (int c = 0; c < KF_PW_CRITERIA_COUNT; c++)
    set_add(out, kf_pw_criterion_code((kf_pw_criterion)c), NULL);
}

/* The criteria a password_checks entry names. */
static void program_criteria(code_set *out) {
  out->n = 0;
  for (int c = 0; c < KF_PW_CRITERIA_COUNT; c++)
    set_add(out, kf_pw_criterion_key((kf_pw_criterion)c), NULL);
}

/* ---- The enums. ---- */

/* The strings of the enum at pointer, each listed once. */
static void contract_enum(json_t *root, const char *pointer, code_set *out) {
  json_t *entries = contract_at(root, pointer);
  if (!json_is_array(entries) || json_array_size(entries) == 0)
    fail_msg("%s has no enum at %s", CONTRACT, pointer);
  out->n = 0;
  size_t i;
  json_t *entry;
  json_array_foreach(entries, i, entry) {
    if (!json_is_string(entry))
      fail_msg("%s: entry %zu of %s is not a string", CONTRACT, i, pointer);
    set_add(out, json_string_value(entry), pointer);
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

/* Each enum of the contract and the program's codes it must equal. */
static const struct {
  const char *pointer;
  const char *what;
  void (*program)(code_set *out);
} contract_enums[] = {
    {"/components/schemas/Error/properties/error/properties/code/enum", "error",
     program_error_codes},
    {"/components/schemas/FieldError/properties/code/enum", "field", program_field_codes},
    {"/components/schemas/PasswordCheck/properties/criterion/enum", "criterion", program_criteria},
};

static void test_error_codes_match_the_contract(void **state) {
  json_t *root = *state;
  for (size_t i = 0; i < sizeof contract_enums / sizeof contract_enums[0]; i++) {
    code_set contract, program;
    contract_enum(root, contract_enums[i].pointer, &contract);
    contract_enums[i].program(&program);
    assert_same_sets(&contract, &program, contract_enums[i].what);
  }
}

/* ---- The messages. ---- */

/* Members whose whole value is a message: an example's message or label, an enum's entry. */
static const char *const message_keys[] = {"message", "label", "enum"};

typedef struct message_search {
  const char *message;
  char quoted[MAX_TEXT]; /* "message", as a text quotes it: an inner " written \". */
  bool found;
} message_search;

static void visit_message(json_t *node, const char *key, void *ctx) {
  message_search *s = ctx;
  const char *text = json_string_value(node);
  if (text == NULL || s->found)
    return;
  s->found = strstr(text, s->quoted) != NULL;
  for (size_t i = 0; i < sizeof message_keys / sizeof message_keys[0]; i++)
    s->found = s->found || (strcmp(key, message_keys[i]) == 0 && strcmp(text, s->message) == 0);
}

/* Whether a string of the contract is message (as a value of message_keys) or quotes it. */
static bool contract_documents(json_t *root, const char *message) {
  message_search s = {.message = message};
  size_t n = 0;
  s.quoted[n++] = '"';
  for (const char *p = message; *p != '\0'; p++) {
    assert_true(n + 4 < sizeof s.quoted);
    if (*p == '"')
      s.quoted[n++] = '\\';
    s.quoted[n++] = *p;
  }
  s.quoted[n++] = '"';
  s.quoted[n] = '\0';
  tree_walk(root, "", visit_message, &s);
  return s.found;
}

static void test_every_message_is_in_the_contract(void **state) {
  json_t *root = *state;
  catalogue_row rows[CATALOGUE_MAX];
  size_t n = catalogue_rows(rows);
  for (size_t i = 0; i < n; i++) {
    if (!contract_documents(root, rows[i].message))
      fail_msg("%s does not document %s %s \"%s\"", CONTRACT, rows[i].what, rows[i].code,
               rows[i].message);
  }
  if (!contract_documents(root, KS_LINK_CONFIRMED_MESSAGE))
    fail_msg("%s does not document \"%s\"", CONTRACT, KS_LINK_CONFIRMED_MESSAGE);
}

/* ---- The messages the contract gives codes. ---- */

typedef struct quote_check {
  code_set codes; /* Every code the program answers, field codes included. */
  size_t checked;
} quote_check;

static void quote_expect(quote_check *q, const char *code, const char *message) {
  q->checked++;
  if (!catalogue_says(code, message))
    fail_msg("%s gives %s the message \"%s\", the catalogue another", CONTRACT, code, message);
}

/*
 * The quote right after a code, the code ending at p: CODE "text",
 * CODE: "text" or CODE ("text"); \" inside is a quote that does not end it.
 * False when no quote follows.
 */
static bool quote_after(const char *p, char *out, size_t out_size) {
  p += strspn(p, ": (");
  if (*p != '"')
    return false;
  size_t n = 0;
  for (p++; *p != '"'; p++) {
    if (*p == '\0')
      fail_msg("%s: a quote after a code does not end: \"%s", CONTRACT, out);
    if (p[0] == '\\' && p[1] == '"')
      p++;
    assert_true(n + 1 < out_size);
    out[n++] = *p;
    out[n] = '\0';
  }
  return true;
}

/* Every code of text (a whole run of code characters) that a quote follows. */
static void text_quotes_check(quote_check *q, const char *text) {
  for (const char *p = text; *p != '\0';) {
    size_t len = strspn(p, CODE_CHARS);
    if (len == 0) {
      p++;
      continue;
    }
    char code[48];
    bool fits = len < sizeof code;
    if (fits) {
      memcpy(code, p, len);
      code[len] = '\0';
    }
    p += len;
    char message[MAX_TEXT] = "";
    if (fits && set_has(&q->codes, code) && quote_after(p, message, sizeof message))
      quote_expect(q, code, message);
  }
}

/* An object's code and message, criterion and label, and members named by a code. */
static void object_quotes_check(quote_check *q, json_t *object) {
  const char *code = json_string_value(json_object_get(object, "code"));
  const char *message = json_string_value(json_object_get(object, "message"));
  if (code != NULL && message != NULL && set_has(&q->codes, code))
    quote_expect(q, code, message);
  const char *criterion = json_string_value(json_object_get(object, "criterion"));
  const char *label = json_string_value(json_object_get(object, "label"));
  if (criterion != NULL && label != NULL) {
    q->checked++;
    const char *want = criterion_label(criterion);
    if (want == NULL)
      fail_msg("%s names criterion %s, which the password policy lacks", CONTRACT, criterion);
    if (strcmp(want, label) != 0)
      fail_msg("%s gives criterion %s the label \"%s\", the policy \"%s\"", CONTRACT, criterion,
               label, want);
  }
  const char *key;
  json_t *value;
  json_object_foreach(object, key, value) {
    if (json_is_string(value) && set_has(&q->codes, key))
      quote_expect(q, key, json_string_value(value));
  }
}

static void visit_quotes(json_t *node, const char *key, void *ctx) {
  (void)key;
  if (json_is_object(node))
    object_quotes_check(ctx, node);
  else if (json_is_string(node))
    text_quotes_check(ctx, json_string_value(node));
}

static void test_contract_quotes_the_catalogue(void **state) {
  json_t *root = *state;
  quote_check q = {.checked = 0};
  code_set fields;
  program_error_codes(&q.codes);
  program_field_codes(&fields);
  for (size_t i = 0; i < fields.n; i++)
    set_add(&q.codes, fields.codes[i], NULL);
  tree_walk(root, "", visit_quotes, &q);
  /* The walk must have found the contract's quotes, not nothing. */
  assert_true(q.checked >= 20);
}

/* ---- The route tables against the contract's paths. ---- */

static void lower(const char *in, char *out, size_t size) {
  assert_int_equal(kf_str_copy(out, size, in), KF_OK);
  kf_str_ascii_lower(out);
}

/* The path item of path, its $ref followed; NULL when undocumented. */
static json_t *contract_path(json_t *root, const char *path) {
  json_t *item = json_object_get(contract_at(root, "/paths"), path);
  return item != NULL ? contract_follow(root, item) : NULL;
}

/* The responses of method (lower case) on path; NULL when undocumented. */
static json_t *contract_responses(json_t *root, const char *path, const char *method) {
  json_t *responses =
      json_object_get(json_object_get(contract_path(root, path), method), "responses");
  return json_is_object(responses) ? responses : NULL;
}

/* The answer documented for status, its $ref followed; NULL when there is none. */
static json_t *contract_answer(json_t *root, json_t *responses, unsigned status) {
  char key[8];
  assert_int_equal(kf_str_format(key, sizeof key, "%u", status), KF_OK);
  json_t *answer = json_object_get(responses, key);
  return answer != NULL ? contract_follow(root, answer) : NULL;
}

typedef struct word_search {
  const char *word;
  bool found;
} word_search;

static void visit_word(json_t *node, const char *key, void *ctx) {
  (void)key;
  word_search *s = ctx;
  const char *text = json_string_value(node);
  s->found = s->found || (text != NULL && text_has_word(text, s->word));
}

/* An answer a route must document: its status, a code its texts name, a media type of its content.
 */
typedef struct route_must {
  bool needed;
  unsigned status;
  const char *code;
  const char *media;
} route_must;

static bool answer_has(json_t *answer, const route_must *must) {
  if (answer == NULL)
    return false;
  if (must->media != NULL &&
      json_object_get(json_object_get(answer, "content"), must->media) == NULL)
    return false;
  word_search s = {.word = must->code, .found = must->code == NULL};
  if (!s.found)
    tree_walk(answer, "", visit_word, &s);
  return s.found;
}

/* Whether params (an array of parameters, maybe $refs) has the Konform-Clock header. */
static bool params_have_clock(json_t *root, json_t *params) {
  size_t i;
  json_t *param;
  json_array_foreach(params, i, param) {
    param = contract_follow(root, param);
    const char *name = json_string_value(json_object_get(param, "name"));
    const char *in = json_string_value(json_object_get(param, "in"));
    if (name != NULL && in != NULL && kf_str_eq_ci(name, "Konform-Clock") &&
        strcmp(in, "header") == 0)
      return true;
  }
  return false;
}

/* The answers one route must have documented (route: a row of the tables). */
static void check_route(json_t *root, const ks_server *srv, const ks_route *r) {
  char method[16];
  lower(r->method, method, sizeof method);
  json_t *responses = contract_responses(root, r->pattern, method);
  if (responses == NULL)
    fail_msg("%s does not document %s %s", CONTRACT, r->method, r->pattern);
  bool json = (r->flags & KS_ROUTE_JSON) != 0, clock = ks_api_clock_applies(srv, r);
  const route_must musts[] = {
      {true, 500, "INTERNAL_ERROR", NULL},
      {json, 400, "MALFORMED_JSON", NULL},
      {json, 413, "BODY_TOO_LARGE", NULL},
      {json, 415, "UNSUPPORTED_MEDIA_TYPE", NULL},
      {clock, 400, "CLOCK_NOT_FOUND", NULL},
      {r->stage != KS_STAGE_NONE, 401, "UNAUTHENTICATED", NULL},
      {r->stage == KS_STAGE_FULL, 403, "SECOND_FACTOR_REQUIRED", NULL},
      {(r->flags & KS_ROUTE_HTML) != 0, 200, NULL, "text/html"},
  };
  for (size_t i = 0; i < sizeof musts / sizeof musts[0]; i++) {
    const route_must *m = &musts[i];
    if (m->needed && !answer_has(contract_answer(root, responses, m->status), m))
      fail_msg("%s: %s %s lacks %u %s", CONTRACT, r->method, r->pattern, m->status,
               m->code != NULL ? m->code : m->media);
  }
  json_t *item = contract_path(root, r->pattern);
  bool has = params_have_clock(root, json_object_get(item, "parameters")) ||
             params_have_clock(root, json_object_get(json_object_get(item, method), "parameters"));
  if (has != clock)
    fail_msg("%s: %s %s %s the Konform-Clock parameter", CONTRACT, r->method, r->pattern,
             has ? "has" : "lacks");
}

/* Every status of a is one of b's. */
static void statuses_within(json_t *a, json_t *b, const char *pattern) {
  const char *status;
  json_t *answer;
  json_object_foreach(a, status, answer) {
    if (json_object_get(b, status) == NULL)
      fail_msg("%s: GET and HEAD %s differ in %s", CONTRACT, pattern, status);
  }
}

/* A GET's HEAD: documented, with the same statuses as the GET. */
static void check_head(json_t *root, const ks_route *r) {
  json_t *get = contract_responses(root, r->pattern, "get");
  json_t *head = contract_responses(root, r->pattern, "head");
  if (head == NULL)
    fail_msg("%s documents no HEAD for GET %s", CONTRACT, r->pattern);
  statuses_within(get, head, r->pattern);
  statuses_within(head, get, r->pattern);
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
static void check_documented_routes(json_t *root) {
  json_t *paths = contract_at(root, "/paths");
  if (!json_is_object(paths))
    fail_msg("%s has no paths", CONTRACT);
  size_t seen = 0;
  const char *path;
  json_t *item;
  json_object_foreach(paths, path, item) {
    item = contract_follow(root, item);
    if (!json_is_object(item))
      fail_msg("%s: path %s is not a mapping", CONTRACT, path);
    const char *method;
    json_t *op;
    json_object_foreach(item, method, op) {
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
  json_t *root = *state;
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
      check_route(root, &srv, &areas[a]->routes[i]);
      if (strcmp(areas[a]->routes[i].method, "GET") == 0)
        check_head(root, &areas[a]->routes[i]);
    }
  }
  assert_true(routes >= 10);
  check_documented_routes(root);
}

/* The contract once for every test; the teardown frees it even after a failure. */
static int contract_setup(void **state) {
  kf_err err;
  kf_err_init(&err);
  json_t *root = NULL;
  kf_rc rc = kt_yaml_load_file(CONTRACT, &root, &err);
  if (rc != KF_OK) {
    print_error("%s%s\n", err.message,
                rc == KF_ERR_IO ? " (run from the top of the repository)" : "");
    return -1;
  }
  *state = root;
  return 0;
}

static int contract_teardown(void **state) {
  json_decref(*state);
  return 0;
}

int main(void) {
  kf_alloc_install_jansson();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_error_codes_match_the_contract),
      cmocka_unit_test(test_every_message_is_in_the_contract),
      cmocka_unit_test(test_contract_quotes_the_catalogue),
      cmocka_unit_test(test_every_route_is_in_the_contract),
  };
  return cmocka_run_group_tests_name("server errors", tests, contract_setup, contract_teardown);
}
