/*
 * test_kt_yaml.c: the YAML-to-jansson helper the contract tests read
 * docs/openapi.yaml and docs/mocks-openapi.yaml with. The expected trees are
 * written as JSON text; jansson's json_equal keeps integers and reals apart,
 * so a 1 where 1.0 belongs fails. Run from the top of the repository (as make
 * unit does).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdbool.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/str.h"
#include "kt_alloc.h"
#include "kt_yaml.h"

static json_t *load(const char *yaml) {
  kf_err err;
  kf_err_init(&err);
  json_t *root = NULL;
  if (kt_yaml_load(yaml, strlen(yaml), &root, &err) != KF_OK)
    fail_msg("kt_yaml_load refused:\n%s\n%s", yaml, err.message);
  assert_non_null(root);
  return root;
}

/* yaml reads as the JSON text expected. */
static void expect_tree(const char *yaml, const char *expected) {
  json_error_t jerr;
  json_t *want = json_loads(expected, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
  if (want == NULL)
    fail_msg("the expected JSON does not parse: %s", jerr.text);
  json_t *got = load(yaml);
  if (!json_equal(got, want)) {
    char *text = json_dumps(got, JSON_SORT_KEYS | JSON_ENCODE_ANY);
    /* Copied so that the jansson string can be freed before fail_msg jumps away. */
    char shown[1024];
    (void)kf_str_copy(shown, sizeof(shown), text != NULL ? text : "(no memory)");
    kf_free(text);
    json_decref(got);
    json_decref(want);
    fail_msg("%s\nreads as %s\nwanted    %s", yaml, shown, expected);
  }
  json_decref(got);
  json_decref(want);
}

/* A document kt_yaml must refuse, and how. */
typedef struct refusal {
  const char *yaml;
  kf_rc rc;
  const char *where; /* How the message starts: "line:column: ". */
  const char *what;  /* Words the message holds. */
} refusal;

static void expect_refusals(const refusal *cases, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const refusal *r = &cases[i];
    kf_err err;
    kf_err_init(&err);
    json_t *root = json_true(); /* Must come back NULL. */
    kf_rc got = kt_yaml_load(r->yaml, strlen(r->yaml), &root, &err);
    assert_null(root);
    if (got != r->rc || strncmp(err.message, r->where, strlen(r->where)) != 0 ||
        strstr(err.message, r->what) == NULL)
      fail_msg("%s\ngave %s \"%s\", wanted %s \"%s...%s...\"", r->yaml, kf_rc_name(got),
               err.message, kf_rc_name(r->rc), r->where, r->what);
  }
}

#define EXPECT_REFUSALS(cases) expect_refusals(cases, sizeof(cases) / sizeof(cases[0]))

static json_t *load_file(const char *path) {
  kf_err err;
  kf_err_init(&err);
  json_t *root = NULL;
  if (kt_yaml_load_file(path, &root, &err) != KF_OK)
    fail_msg("%s", err.message);
  return root;
}

/* The node at the keys after node (a NULL ends them); borrowed, NULL when one is missing. */
static json_t *at(json_t *node, ...) {
  va_list ap;
  va_start(ap, node);
  for (const char *key = va_arg(ap, const char *); key != NULL; key = va_arg(ap, const char *))
    node = json_object_get(node, key);
  va_end(ap);
  return node;
}

/*
 * Plain scalars as the YAML 1.2 core schema resolves them. PyYAML (YAML 1.1)
 * reads the same except where the two YAMLs differ: -.5, 0o17 and 1e3 are
 * strings there, yes and on booleans, 1_000 an integer, 2026-03-01 a date
 * (the contracts quote what they mean as a string).
 */
static void test_plain_scalars(void **state) {
  (void)state;
  expect_tree("[null, Null, NULL, ~, true, True, TRUE, false, False, FALSE]",
              "[null, null, null, null, true, true, true, false, false, false]");
  expect_tree("[0, -12, +7, 007, 0o17, 0x1F, 9223372036854775807, -9223372036854775808]",
              "[0, -12, 7, 7, 15, 31, 9223372036854775807, -9223372036854775808]");
  expect_tree("[1.5, -.5, 1., 2.5E-1, 1e3, 1e-400]", "[1.5, -0.5, 1.0, 0.25, 1000.0, 0.0]");
  expect_tree("[yes, on, 1_000, 2026-03-01, 0.1.0, 123A123456, nulls, 0x, 0o8, 1e, .5.5, +-1]",
              "[\"yes\", \"on\", \"1_000\", \"2026-03-01\", \"0.1.0\", \"123A123456\", \"nulls\","
              " \"0x\", \"0o8\", \"1e\", \".5.5\", \"+-1\"]");
  /* The empty value of a key is null, as in a contract's "example:" left blank. */
  expect_tree("a:\nb: ~\n", "{\"a\": null, \"b\": null}");
  expect_tree("text with spaces: a plain scalar, yes, with commas",
              "{\"text with spaces\": \"a plain scalar, yes, with commas\"}");
}

/*
 * Quoted, block, !!str and ! scalars are strings whatever they spell (the
 * spec's "!" is the non-specific tag, a string for a scalar; PyYAML reads
 * "! true" as a boolean).
 */
static void test_strings(void **state) {
  (void)state;
  expect_tree("['12', \"true\", '~', \"\", 'it''s', \"tab\\there \\u00fc \\\"q\\\"\"]",
              "[\"12\", \"true\", \"~\", \"\", \"it's\", \"tab\\there \\u00fc \\\"q\\\"\"]");
  expect_tree("[!!str 12, ! true, !!str null]", "[\"12\", \"true\", \"null\"]");
  expect_tree("'\\': \"a\\0b\"", "{\"\\\\\": \"a\\u0000b\"}");
  /* A NUL in a key is kept (neither jansson's parser nor json_equal take one, so looked up). */
  json_t *got = load("\"a\\0b\": 1");
  assert_int_equal(json_object_size(got), 1);
  assert_int_equal(json_integer_value(json_object_getn(got, "a\0b", 3)), 1);
  assert_null(json_object_get(got, "a"));
  json_decref(got);
  expect_tree("s: \"Sie haben Ihre E-Mail-Adresse erfolgreich bestätigt.\"",
              "{\"s\": \"Sie haben Ihre E-Mail-Adresse erfolgreich best\\u00e4tigt.\"}");
}

/* | keeps the line breaks, > folds them; -, + and the default clip the end. */
static void test_block_scalars(void **state) {
  (void)state;
  expect_tree("a: |\n  one\n    two\n\n  three\n\n\nb: 1\n",
              "{\"a\": \"one\\n  two\\n\\nthree\\n\", \"b\": 1}");
  expect_tree("a: |-\n  one\n  two\n\nb: |+\n  keep\n\n",
              "{\"a\": \"one\\ntwo\", \"b\": \"keep\\n\\n\"}");
  expect_tree("a: >\n  folded\n  into one\n\n  next\n", "{\"a\": \"folded into one\\nnext\\n\"}");
  expect_tree("- |\n  12\n- >-\n  true\n", "[\"12\\n\", \"true\"]");
}

static void test_collections(void **state) {
  (void)state;
  expect_tree("a:\n  b:\n    - 1\n    - c: [x, {d: e}]\n      f: g\n  h: {}\ni: []\n",
              "{\"a\": {\"b\": [1, {\"c\": [\"x\", {\"d\": \"e\"}], \"f\": \"g\"}], \"h\": {}}, "
              "\"i\": []}");
  expect_tree("{a: [1, {b: c}], \"d\": 'e', f: }", "{\"a\": [1, {\"b\": \"c\"}], \"d\": \"e\", "
                                                   "\"f\": null}");
  expect_tree("- - 1\n  - 2\n-\n- x\n", "[[1, 2], null, \"x\"]");
  /* Keys are a scalar's text: a plain 200 and a quoted "200" are the same key. */
  expect_tree("200: a\n'201': b\ntrue: c\n~: d\n",
              "{\"200\": \"a\", \"201\": \"b\", \"true\": \"c\", \"~\": \"d\"}");
  expect_tree("# a comment\n---\na: 1 # another\n...\n", "{\"a\": 1}");
  expect_tree("just a scalar\n", "\"just a scalar\"");
}

static void test_duplicate_key(void **state) {
  (void)state;
  static const refusal cases[] = {
      {"a: 1\nb: 2\na: 3\n", KF_ERR_PARSE, "3:1: ", "the key \"a\" twice"},
      {"x:\n  y: 1\n  'y': 2\n", KF_ERR_PARSE, "3:3: ", "the key \"y\" twice"},
      {"{200: a, \"200\": b}", KF_ERR_PARSE, "1:10: ", "the key \"200\" twice"},
  };
  EXPECT_REFUSALS(cases);
  /* The same key in two mappings is no duplicate. */
  expect_tree("a: {k: 1}\nb: {k: 2}\n", "{\"a\": {\"k\": 1}, \"b\": {\"k\": 2}}");
}

/* Syntax errors carry libyaml's words and its line:column. */
static void test_syntax_errors(void **state) {
  (void)state;
  static const refusal cases[] = {
      {"a: 1\nb: [1, 2\nc: 3\n", KF_ERR_PARSE, "3:2: ", "did not find expected ',' or ']'"},
      {"a: 1\nb:\n  c: 2\n   d: 3\n", KF_ERR_PARSE, "4:5: ", "mapping values are not allowed"},
      {"a: 'open\n", KF_ERR_PARSE, "2:1: ", "found unexpected end of stream"},
      {"a:\n\tb: 1\n", KF_ERR_PARSE, "2:1: ", "found character that cannot start any token"},
      /* A reader error has only a byte offset; the message still names line and column. */
      {"a: 1\nb: \xff\n", KF_ERR_PARSE, "2:4: ", "invalid leading UTF-8"},
      {"", KF_ERR_PARSE, "1:1: ", "no document"},
      {"# only a comment\n", KF_ERR_PARSE, "2:1: ", "no document"},
      {"--- a\n--- b\n", KF_ERR_PARSE, "2:1: ", "a second document"},
      {"{[a]: b}", KF_ERR_UNSUPPORTED, "1:2: ", "a key that is a mapping or a sequence"},
  };
  EXPECT_REFUSALS(cases);
}

/* Anchors and aliases are refused where they stand; so are tags other than !!str. */
static void test_refused(void **state) {
  (void)state;
  static const refusal cases[] = {
      {"a: 1\nb: *x\n", KF_ERR_UNSUPPORTED, "2:4: ", "the alias *x"},
      {"a: &x 1\nb: *x\n", KF_ERR_UNSUPPORTED, "1:4: ", "the anchor &x"},
      {"base: &b {k: 1}\nc:\n  <<: *b\n", KF_ERR_UNSUPPORTED, "1:7: ", "the anchor &b"},
      {"- *x\n", KF_ERR_UNSUPPORTED, "1:3: ", "resolves no anchors or aliases"},
      {"a: !!binary aGk=\n", KF_ERR_UNSUPPORTED, "1:4: ", "tag:yaml.org,2002:binary"},
      {"a: !!int 12\n", KF_ERR_UNSUPPORTED, "1:4: ", "the tag tag:yaml.org,2002:int"},
      {"a: !!map {}\n", KF_ERR_UNSUPPORTED, "1:4: ", "the tag"},
      {"a: !local x\n", KF_ERR_UNSUPPORTED, "1:4: ", "the tag !local"},
      {"a: 9223372036854775808\n", KF_ERR_LIMIT, "1:4: ", "a number JSON cannot hold"},
      {"a: [0x10000000000000000]\n", KF_ERR_LIMIT, "1:5: ", "a number JSON cannot hold"},
      {"a: 1e400\n", KF_ERR_LIMIT, "1:4: ", "a number JSON cannot hold"},
      {"[.inf, -.Inf]\n", KF_ERR_LIMIT, "1:2: ", ".inf: a number JSON cannot hold"},
      {"a: .NaN\n", KF_ERR_LIMIT, "1:4: ", ".NaN"},
  };
  EXPECT_REFUSALS(cases);
}

static void test_depth(void **state) {
  (void)state;
  char deep[2 * KT_YAML_DEPTH_MAX + 3];
  for (size_t open = KT_YAML_DEPTH_MAX; open <= KT_YAML_DEPTH_MAX + 1; open++) {
    memset(deep, '[', open);
    memset(deep + open, ']', open);
    json_t *root = NULL;
    kf_err err;
    kf_err_init(&err);
    kf_rc rc = kt_yaml_load(deep, 2 * open, &root, &err);
    if (open == KT_YAML_DEPTH_MAX) {
      assert_int_equal(rc, KF_OK);
      json_decref(root);
    } else {
      assert_int_equal(rc, KF_ERR_LIMIT);
      assert_non_null(strstr(err.message, "nested deeper than"));
    }
  }
}

/* Every allocation of the tree failing in turn: KF_ERR_NOMEM, nothing left over (ASan). */
static bool sweep_body(void *ctx, const kt_alloc_run *run) {
  const char *yaml = ctx;
  json_t *root = NULL;
  kf_err err;
  kf_err_init(&err);
  kt_alloc_arm(run);
  kf_rc rc = kt_yaml_load(yaml, strlen(yaml), &root, &err);
  kt_alloc_disarm();
  if (rc != KF_OK) {
    assert_int_equal(rc, KF_ERR_NOMEM);
    assert_null(root);
    return false;
  }
  json_decref(root);
  return true;
}

static void test_out_of_memory(void **state) {
  (void)state;
  static const char yaml[] = "a:\n  - {b: 1.5, c: 'x'}\n  - [1, ~, true]\nd: |\n  text\n";
  assert_true(kt_alloc_sweep(sweep_body, (void *)yaml) > 5);
}

static void test_files(void **state) {
  (void)state;
  json_t *root = NULL;
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kt_yaml_load_file("docs/no-such.yaml", &root, &err), KF_ERR_IO);
  assert_null(root);
  assert_true(strncmp(err.message, "docs/no-such.yaml: ", 19) == 0);
  /* A file's messages name it before line:column; the Makefile's recipe tabs are no YAML. */
  assert_int_equal(kt_yaml_load_file("Makefile", &root, &err), KF_ERR_PARSE);
  assert_null(root);
  assert_true(strncmp(err.message, "Makefile:", 9) == 0);
  /* JSON is YAML 1.2: a JSON document reads as jansson reads it. */
  root = load_file("docs/report-schema.json");
  json_t *want = json_load_file("docs/report-schema.json", 0, NULL);
  assert_non_null(want);
  assert_true(json_equal(root, want));
  json_decref(want);
  json_decref(root);
}

/* The values below are what PyYAML 6 reads (checked by hand once, not by this test). */
static void test_mocks_contract(void **state) {
  (void)state;
  json_t *root = load_file("docs/mocks-openapi.yaml");
  assert_string_equal(json_string_value(at(root, "openapi", NULL)), "3.0.3");
  assert_string_equal(json_string_value(at(root, "info", "version", NULL)), "0.1.0");
  assert_true(json_object_size(at(root, "paths", NULL)) >= 9);
  assert_non_null(at(root, "paths", "/api/v1/health", "get", "responses", "200", NULL));
  json_t *want = json_pack("{s:s, s:I, s:I, s:I}", "type", "integer", "minimum", (json_int_t)1,
                           "maximum", (json_int_t)1000, "default", (json_int_t)100);
  assert_true(json_equal(at(root, "components", "parameters", "limit", "schema", NULL), want));
  json_decref(want);
  json_t *input = at(root, "components", "schemas", "LetterInput", NULL);
  want = json_pack("[s, s, s, s]", "kind", "date", "recipient", "text");
  assert_true(json_equal(at(input, "required", NULL), want));
  json_decref(want);
  assert_string_equal(
      json_string_value(at(input, "properties", "fields", "example", "valid_until", NULL)),
      "22.03.2025");
  json_decref(root);
}

static void test_server_contract(void **state) {
  (void)state;
  json_t *root = load_file("docs/openapi.yaml");
  assert_string_equal(json_string_value(at(root, "openapi", NULL)), "3.0.3");
  /* The contract grows; the count only rules out a tree that lost paths. */
  assert_true(json_object_size(at(root, "paths", NULL)) >= 11);
  assert_non_null(at(root, "paths", "/api/v1/registrations", "post", NULL));
  /* An integer beyond 32 bits stays an integer. */
  json_t *max = at(root, "paths", "/test/v1/clocks", "post", "requestBody", "content",
                   "application/json", "schema", "properties", "frozen_time", "maximum", NULL);
  assert_true(json_is_integer(max));
  assert_int_equal(json_integer_value(max), 253402300799LL);
  json_t *message = at(root, "components", "schemas", "Confirmed", "properties", "message", NULL);
  assert_string_equal(json_string_value(json_array_get(at(message, "enum", NULL), 0)),
                      "Sie haben Ihre E-Mail-Adresse erfolgreich bestätigt.");
  json_decref(root);
}

int main(void) {
  kf_alloc_install_jansson();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plain_scalars),  cmocka_unit_test(test_strings),
      cmocka_unit_test(test_block_scalars),  cmocka_unit_test(test_collections),
      cmocka_unit_test(test_duplicate_key),  cmocka_unit_test(test_syntax_errors),
      cmocka_unit_test(test_refused),        cmocka_unit_test(test_depth),
      cmocka_unit_test(test_out_of_memory),  cmocka_unit_test(test_files),
      cmocka_unit_test(test_mocks_contract), cmocka_unit_test(test_server_contract),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
