/*
 * test_vars.c: the variable table and {{name}} interpolation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <string.h>

#include <cmocka.h>

#include "kf/alloc.h"
#include "kh_vars.h"

static kf_rc expand(const kh_vars *vars, const char *tpl_text, kf_buf *out, kf_err *err) {
  kh_template tpl = {(char *)tpl_text, strlen(tpl_text)};
  kf_buf_reset(out);
  return kh_vars_expand(vars, &tpl, out, err);
}

static void test_set_get_replace(void **state) {
  (void)state;
  kh_vars vars;
  kh_vars_init(&vars);
  assert_null(kh_vars_get(&vars, "a", NULL));
  assert_int_equal(kh_vars_set(&vars, "a", "1", 1), KF_OK);
  assert_int_equal(kh_vars_set(&vars, "b", "x\0y", 3), KF_OK);
  assert_int_equal(kh_vars_set(&vars, "a", "22", 2), KF_OK);
  size_t len = 0;
  assert_string_equal(kh_vars_get(&vars, "a", &len), "22");
  assert_int_equal(len, 2);
  assert_memory_equal(kh_vars_get(&vars, "b", &len), "x\0y", 3);
  assert_int_equal(len, 3);
  assert_int_equal(vars.len, 2);
  /* Many variables grow the table. */
  for (int i = 0; i < 100; i++) {
    char name[16];
    name[0] = 'v';
    name[1] = (char)('a' + i / 26 % 26);
    name[2] = (char)('a' + i % 26);
    name[3] = '\0';
    assert_int_equal(kh_vars_set(&vars, name, name, 3), KF_OK);
  }
  assert_string_equal(kh_vars_get(&vars, "vdv", NULL), "vdv");
  assert_int_equal(kh_vars_set(&vars, "big", "x", (size_t)KH_VAR_MAX_BYTES + 1), KF_ERR_LIMIT);
  kh_vars_release(&vars);
  kh_vars_release(&vars); /* Released twice is harmless. */
}

static void test_expand(void **state) {
  (void)state;
  kh_vars vars;
  kh_vars_init(&vars);
  assert_int_equal(kh_vars_set(&vars, "email", "a@b.test", 8), KF_OK);
  assert_int_equal(kh_vars_set(&vars, "target.base_url", "http://h", 8), KF_OK);
  assert_int_equal(kh_vars_set(&vars, "nul", "1\0002", 3), KF_OK);
  kf_buf out;
  kf_buf_init(&out, 1 << 20);
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(expand(&vars, "to {{email}}!", &out, &err), KF_OK);
  assert_string_equal(out.data, "to a@b.test!");
  assert_int_equal(expand(&vars, "{{ email }}{{target.base_url}}", &out, &err), KF_OK);
  assert_string_equal(out.data, "a@b.testhttp://h");
  assert_int_equal(expand(&vars, "literal {{{{email}} and {{{{", &out, &err), KF_OK);
  assert_string_equal(out.data, "literal {{email}} and {{");
  assert_int_equal(expand(&vars, "open {{email", &out, &err), KF_OK);
  assert_string_equal(out.data, "open {{email");
  assert_int_equal(expand(&vars, "{single} }} {", &out, &err), KF_OK);
  assert_string_equal(out.data, "{single} }} {");
  assert_int_equal(expand(&vars, "[{{nul}}]", &out, &err), KF_OK);
  assert_int_equal(out.len, 5);
  assert_memory_equal(out.data, "[1\0002]", 5);
  assert_int_equal(expand(&vars, "x {{missing}} y", &out, &err), KF_ERR_NOT_FOUND);
  assert_non_null(strstr(err.message, "missing"));
  assert_int_equal(expand(NULL, "{{x}}", &out, &err), KF_ERR_NOT_FOUND);
  kh_template none = {NULL, 0};
  kf_buf_reset(&out);
  assert_int_equal(kh_vars_expand(&vars, &none, &out, &err), KF_OK);
  assert_int_equal(out.len, 0);
  /* A buffer cap is honoured. */
  kf_buf small;
  kf_buf_init(&small, 4);
  assert_int_equal(expand(&vars, "{{email}}", &small, &err), KF_ERR_LIMIT);
  kf_buf_release(&small);
  kf_buf_release(&out);
  kh_vars_release(&vars);
}

/* {{name|json}} and {{name|url}} escape a value for a JSON string and a URL. */
static void test_expand_filters(void **state) {
  (void)state;
  kh_vars vars;
  kh_vars_init(&vars);
  assert_int_equal(kh_vars_set(&vars, "pw", "a\"b\\c\r\n\x01", 8), KF_OK);
  assert_int_equal(kh_vars_set(&vars, "q", "ä b&c=d/e~", 11), KF_OK);
  kf_buf out;
  kf_buf_init(&out, 1 << 20);
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(expand(&vars, "{\"p\": \"{{pw|json}}\"}", &out, &err), KF_OK);
  assert_string_equal(out.data, "{\"p\": \"a\\\"b\\\\c\\u000d\\u000a\\u0001\"}");
  json_t *parsed = json_loads(out.data, 0, NULL);
  assert_non_null(parsed);
  assert_string_equal(json_string_value(json_object_get(parsed, "p")), "a\"b\\c\r\n\x01");
  json_decref(parsed);
  assert_int_equal(expand(&vars, "?to={{ q | url }}", &out, &err), KF_OK);
  assert_string_equal(out.data, "?to=%C3%A4%20b%26c%3Dd%2Fe~");
  assert_int_equal(expand(&vars, "{{q|base64}}", &out, &err), KF_ERR_INVALID);
  assert_non_null(strstr(err.message, "base64"));
  assert_true(kh_vars_filter_known("json", 4));
  assert_false(kh_vars_filter_known("raw", 3));
  kf_buf_release(&out);
  kh_vars_release(&vars);
}

static void test_expand_cap(void **state) {
  (void)state;
  kh_vars vars;
  kh_vars_init(&vars);
  size_t half = KH_VAR_MAX_BYTES / 2 + 1;
  char *big = kf_malloc(half);
  assert_non_null(big);
  memset(big, 'x', half);
  assert_int_equal(kh_vars_set(&vars, "big", big, half), KF_OK);
  kf_free(big);
  kf_buf out;
  kf_buf_init(&out, (size_t)KH_VAR_MAX_BYTES * 4);
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(expand(&vars, "{{big}}{{big}}", &out, &err), KF_ERR_LIMIT);
  kf_buf_release(&out);
  kh_vars_release(&vars);
}

static void collect(const char *name, size_t len, void *ctx) {
  kf_buf *b = ctx;
  /* The test's buffer is large enough; its content is checked afterwards. */
  (void)kf_buf_append(b, name, len);
  (void)kf_buf_append_byte(b, ';');
}

static void test_each_reference(void **state) {
  (void)state;
  kf_buf b;
  kf_buf_init(&b, 1024);
  kh_template tpl = {(char *)"{{a}} {{{{b}} {{ c.d }} {{f|json}} {{e",
                     strlen("{{a}} {{{{b}} {{ c.d }} {{f|json}} {{e")};
  kh_vars_each_reference(&tpl, collect, &b);
  assert_string_equal(b.data, "a;c.d;f;");
  kh_vars_each_reference(NULL, collect, &b);
  kf_buf_release(&b);
}

static void test_alloc_failures(void **state) {
  (void)state;
  for (unsigned long n = 1; n < 50; n++) {
    kh_vars vars;
    kh_vars_init(&vars);
    kf_alloc_fail_at(n);
    kf_rc a = kh_vars_set(&vars, "a", "1", 1);
    kf_rc b = kh_vars_set(&vars, "a", "2", 1);
    kf_rc c = kh_vars_set(&vars, "b", "3", 1);
    bool failed = kf_alloc_failed();
    kf_alloc_fail_at(0);
    assert_true(a == KF_OK || a == KF_ERR_NOMEM);
    assert_true(b == KF_OK || b == KF_ERR_NOMEM);
    assert_true(c == KF_OK || c == KF_ERR_NOMEM);
    kh_vars_release(&vars);
    if (!failed)
      break;
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_set_get_replace), cmocka_unit_test(test_expand),
      cmocka_unit_test(test_expand_filters),  cmocka_unit_test(test_expand_cap),
      cmocka_unit_test(test_each_reference),  cmocka_unit_test(test_alloc_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
