/*
 * test_gen.c: generators: determinism, uniqueness, formats and the password
 * policy of ACC-04 (checked with the same kf_pw_check the server uses).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kf/password_policy.h"
#include "kf/utf8.h"
#include "kf/uuid.h"
#include "kh_gen.h"
#include "kt_alloc.h"
#include "kh_step_let.h"
#include "kh_parse.h"

/* Parse "let x = <expr>" into a file whose first step is the let. */
static kh_file *parse_let(const char *expr) {
  char text[1024];
  snprintf(text, sizeof text, "scenario: s\ncovers: A-01\nlet x = %s\n", expr);
  kh_file *file = NULL;
  kh_diag diag;
  kh_diag_init(&diag);
  kf_rc rc = kh_parse_text("g.konform", text, strlen(text), &file, &diag);
  if (rc != KF_OK)
    print_error("parse: %s\n", diag.message);
  assert_int_equal(rc, KF_OK);
  kh_diag_release(&diag);
  return file;
}

/* Evaluate expr in ctx; returns a copy of the value in out (size out_size). */
static kf_rc gen(kh_gen_ctx *ctx, const kh_vars *vars, const char *expr, char *out, size_t out_size,
                 size_t *len) {
  kh_file *f = parse_let(expr);
  kf_buf b;
  kf_buf_init(&b, 1 << 20);
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = kh_let_value(f->scenarios[0].steps[0].data, ctx, vars, &b, &err);
  if (rc == KF_OK) {
    assert_true(b.len < out_size);
    memcpy(out, b.data != NULL ? b.data : "", b.len);
    out[b.len] = '\0';
    if (len != NULL)
      *len = b.len;
  } else {
    assert_true(strlen(err.message) > 0);
    snprintf(out, out_size, "%s", err.message);
  }
  kf_buf_release(&b);
  kh_file_free(f);
  return rc;
}

static void test_email_and_unique(void **state) {
  (void)state;
  kh_gen_ctx ctx;
  kh_gen_ctx_init(&ctx, 1, 0xDEADBEEFCAFEULL, 7);
  char v[256];
  assert_int_equal(gen(&ctx, NULL, "email()", v, sizeof v, NULL), KF_OK);
  assert_string_equal(v, "k0000deadbeefcafe-7-0@konform.test");
  assert_int_equal(gen(&ctx, NULL, "email()", v, sizeof v, NULL), KF_OK);
  assert_string_equal(v, "k0000deadbeefcafe-7-1@konform.test");
  assert_int_equal(gen(&ctx, NULL, "unique(\"user-\")", v, sizeof v, NULL), KF_OK);
  assert_string_equal(v, "user-0000deadbeefcafes7n2");
  assert_int_equal(gen(&ctx, NULL, "unique()", v, sizeof v, NULL), KF_OK);
  for (const char *p = v; *p; p++)
    assert_true((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'));
}

/*
 * Run ids that differ only in their high 32 bits must still give different
 * identities, or two runs against a persistent target could share accounts.
 */
static void test_identities_use_whole_run_id(void **state) {
  (void)state;
  kh_gen_ctx a, b;
  kh_gen_ctx_init(&a, 1, 0x0000000100000005ULL, 3);
  kh_gen_ctx_init(&b, 1, 0x0000000200000005ULL, 3);
  char va[256], vb[256];
  assert_int_equal(gen(&a, NULL, "email()", va, sizeof va, NULL), KF_OK);
  assert_int_equal(gen(&b, NULL, "email()", vb, sizeof vb, NULL), KF_OK);
  assert_string_not_equal(va, vb);
  assert_string_equal(va, "k0000000100000005-3-0@konform.test");
  assert_int_equal(gen(&a, NULL, "unique(\"u\")", va, sizeof va, NULL), KF_OK);
  assert_int_equal(gen(&b, NULL, "unique(\"u\")", vb, sizeof vb, NULL), KF_OK);
  assert_string_not_equal(va, vb);
  assert_string_equal(va, "u0000000100000005s3n1");
}

static void test_customer_numbers_unique(void **state) {
  (void)state;
  static char seen[600][16];
  size_t n = 0;
  for (uint64_t sc = 0; sc < 20; sc++) {
    kh_gen_ctx ctx;
    kh_gen_ctx_init(&ctx, 42, 99, sc);
    for (int k = 0; k < 30; k++) {
      char v[64];
      assert_int_equal(gen(&ctx, NULL, "customer_number()", v, sizeof v, NULL), KF_OK);
      assert_int_equal(strlen(v), 10);
      for (int i = 0; i < 10; i++) {
        if (i == 3)
          assert_true(v[i] >= 'A' && v[i] <= 'Z');
        else
          assert_true(v[i] >= '0' && v[i] <= '9');
      }
      for (size_t j = 0; j < n; j++)
        assert_string_not_equal(seen[j], v);
      memcpy(seen[n++], v, 11);
    }
  }
  /* Another run id gives other numbers for the same scenario and counter. */
  kh_gen_ctx a, b;
  kh_gen_ctx_init(&a, 42, 1, 0);
  kh_gen_ctx_init(&b, 42, 2, 0);
  char va[64], vb[64];
  assert_int_equal(gen(&a, NULL, "customer_number()", va, sizeof va, NULL), KF_OK);
  assert_int_equal(gen(&b, NULL, "customer_number()", vb, sizeof vb, NULL), KF_OK);
  assert_string_not_equal(va, vb);
}

static void test_determinism(void **state) {
  (void)state;
  const char *exprs[] = {"password()", "uuid()", "email()", "customer_number()",
                         "password(length=30)"};
  kh_gen_ctx a, b, c;
  kh_gen_ctx_init(&a, 1234, 5, 3);
  kh_gen_ctx_init(&b, 1234, 5, 3);
  kh_gen_ctx_init(&c, 1235, 5, 3);
  bool any_diff = false;
  for (size_t i = 0; i < 5; i++) {
    char va[256], vb[256], vc[256];
    assert_int_equal(gen(&a, NULL, exprs[i], va, sizeof va, NULL), KF_OK);
    assert_int_equal(gen(&b, NULL, exprs[i], vb, sizeof vb, NULL), KF_OK);
    assert_int_equal(gen(&c, NULL, exprs[i], vc, sizeof vc, NULL), KF_OK);
    assert_string_equal(va, vb);
    any_diff = any_diff || strcmp(va, vc) != 0;
  }
  assert_true(any_diff);
  /* Another scenario with the same seed draws other passwords. */
  kh_gen_ctx d, e;
  kh_gen_ctx_init(&d, 1234, 5, 3);
  kh_gen_ctx_init(&e, 1234, 5, 4);
  char vd[64], ve[64];
  assert_int_equal(gen(&d, NULL, "password()", vd, sizeof vd, NULL), KF_OK);
  assert_int_equal(gen(&e, NULL, "password()", ve, sizeof ve, NULL), KF_OK);
  assert_string_not_equal(vd, ve);
}

static void check_pw(const char *pw, size_t len, bool all_ok) {
  kf_pw_report rep;
  kf_pw_check(pw, len, pw, len, &rep);
  if (kf_pw_report_all_ok(&rep) != all_ok)
    print_error("password [%s] all_ok=%d\n", pw, !all_ok);
  assert_true(kf_pw_report_all_ok(&rep) == all_ok);
}

static void test_passwords(void **state) {
  (void)state;
  kh_gen_ctx ctx;
  kh_gen_ctx_init(&ctx, 7, 7, 7);
  char v[8192];
  size_t len;
  int with_quote = 0;
  for (int i = 0; i < 500; i++) {
    assert_int_equal(gen(&ctx, NULL, "password()", v, sizeof v, &len), KF_OK);
    assert_int_equal(len, 16);
    if (strchr(v, '"') != NULL)
      with_quote++;
    check_pw(v, len, true);
  }
  /* The whole special set is in use, the double quote included. */
  assert_true(with_quote > 0);
  for (int n = 12; n <= 128; n += 29) {
    char expr[64];
    snprintf(expr, sizeof expr, "password(length=%d)", n);
    assert_int_equal(gen(&ctx, NULL, expr, v, sizeof v, &len), KF_OK);
    assert_int_equal(len, (size_t)n);
    check_pw(v, len, true);
  }
  /* Lengths outside the policy are produced on purpose. */
  assert_int_equal(gen(&ctx, NULL, "password(length=11)", v, sizeof v, &len), KF_OK);
  assert_int_equal(len, 11);
  check_pw(v, len, false);
  assert_int_equal(gen(&ctx, NULL, "password(length=129)", v, sizeof v, &len), KF_OK);
  assert_int_equal(len, 129);
  assert_int_equal(gen(&ctx, NULL, "password(length=0)", v, sizeof v, &len), KF_OK);
  assert_int_equal(len, 0);
  assert_int_equal(gen(&ctx, NULL, "password(length=2)", v, sizeof v, &len), KF_OK);
  assert_int_equal(len, 2);
  /* omit= drops exactly one class; everything else stays valid. */
  const char *omits[] = {"upper", "lower", "digit", "special"};
  kf_pw_criterion crit[] = {KF_PW_UPPERCASE, KF_PW_LOWERCASE, KF_PW_DIGIT, KF_PW_SPECIAL};
  for (int k = 0; k < 4; k++) {
    for (int i = 0; i < 50; i++) {
      char expr[64];
      snprintf(expr, sizeof expr, "password(omit=\"%s\", length=14)", omits[k]);
      assert_int_equal(gen(&ctx, NULL, expr, v, sizeof v, &len), KF_OK);
      assert_int_equal(len, 14);
      kf_pw_report rep;
      kf_pw_check(v, len, v, len, &rep);
      for (int c = 0; c < KF_PW_CRITERIA_COUNT; c++)
        assert_true(rep.ok[c] == (c != (int)crit[k]));
    }
  }
  /* add= appends the text and keeps the length in characters. */
  assert_int_equal(gen(&ctx, NULL, "password(add=\"ä\")", v, sizeof v, &len), KF_OK);
  assert_int_equal(kf_utf8_count(v, len), 16);
  assert_true(len == 17 && memcmp(v + 15, "\xC3\xA4", 2) == 0);
  kf_pw_report rep;
  kf_pw_check(v, len, v, len, &rep);
  assert_false(rep.ok[KF_PW_FORBIDDEN]);
  assert_true(rep.ok[KF_PW_LENGTH] && rep.ok[KF_PW_UPPERCASE] && rep.ok[KF_PW_LOWERCASE] &&
              rep.ok[KF_PW_DIGIT] && rep.ok[KF_PW_SPECIAL]);
  kh_vars vars;
  kh_vars_init(&vars);
  assert_int_equal(kh_vars_set(&vars, "sp", " ", 1), KF_OK);
  assert_int_equal(gen(&ctx, &vars, "password(add=\"{{sp}}\", length=12)", v, sizeof v, &len),
                   KF_OK);
  assert_int_equal(len, 12);
  assert_int_equal(v[11], ' ');
  kh_vars_release(&vars);
}

static void test_other_generators_and_literals(void **state) {
  (void)state;
  kh_gen_ctx ctx;
  kh_gen_ctx_init(&ctx, 3, 3, 3);
  kh_vars vars;
  kh_vars_init(&vars);
  assert_int_equal(kh_vars_set(&vars, "name", "MiXeD", 5), KF_OK);
  char v[4096];
  size_t len;
  assert_int_equal(gen(&ctx, NULL, "uuid()", v, sizeof v, NULL), KF_OK);
  assert_true(kf_uuid_is_canonical(v));
  assert_int_equal(v[14], '4');
  assert_true(strchr("89ab", v[19]) != NULL);
  assert_int_equal(gen(&ctx, NULL, "repeat(\"ab\", 3)", v, sizeof v, NULL), KF_OK);
  assert_string_equal(v, "ababab");
  assert_int_equal(gen(&ctx, NULL, "repeat(\"ab\", 0)", v, sizeof v, &len), KF_OK);
  assert_int_equal(len, 0);
  assert_int_equal(gen(&ctx, &vars, "upper(\"x{{name}}ä\")", v, sizeof v, NULL), KF_OK);
  assert_string_equal(v, "XMIXEDä");
  assert_int_equal(gen(&ctx, &vars, "lower(\"{{name}}\")", v, sizeof v, NULL), KF_OK);
  assert_string_equal(v, "mixed");
  assert_int_equal(gen(&ctx, &vars, "\"hi {{name}}\"", v, sizeof v, NULL), KF_OK);
  assert_string_equal(v, "hi MiXeD");
  assert_int_equal(gen(&ctx, NULL, "-12", v, sizeof v, NULL), KF_OK);
  assert_string_equal(v, "-12");
  assert_int_equal(gen(&ctx, NULL, "true", v, sizeof v, NULL), KF_OK);
  assert_string_equal(v, "true");
  assert_int_equal(gen(&ctx, NULL, "null", v, sizeof v, NULL), KF_OK);
  assert_string_equal(v, "null");
  kh_vars_release(&vars);
}

static void test_invalid_calls(void **state) {
  (void)state;
  kh_gen_ctx ctx;
  kh_gen_ctx_init(&ctx, 3, 3, 3);
  const char *bad[] = {"emial()",
                       "email(1)",
                       "unique(1)",
                       "unique(\"a\", \"b\")",
                       "upper()",
                       "repeat(\"a\")",
                       "repeat(\"a\", -1)",
                       "repeat(3, 3)",
                       "password(5)",
                       "password(length=\"x\")",
                       "password(length=5000)",
                       "password(omit=\"vowels\")",
                       "password(add=3)",
                       "password(size=3)",
                       "password(length=3, length=4)",
                       "uuid(x=1)",
                       "repeat(\"abc\", 8388608)",
                       "lower(\"{{nope}}\")"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char v[1024];
    kf_rc rc = gen(&ctx, NULL, bad[i], v, sizeof v, NULL);
    if (rc == KF_OK)
      print_error("accepted: %s\n", bad[i]);
    assert_true(rc == KF_ERR_INVALID || rc == KF_ERR_LIMIT || rc == KF_ERR_NOT_FOUND);
  }
  /* kh_gen_validate is what lint uses. */
  kh_file *f = parse_let("password(omit=\"digit\", length=12, add=\"x\")");
  kf_err err;
  kf_err_init(&err);
  const kh_let *let = f->scenarios[0].steps[0].data;
  kh_gen_call call = {let->func, let->args, let->args_len};
  assert_int_equal(kh_gen_validate(&call, &err), KF_OK);
  kh_file_free(f);
  size_t names = 0;
  while (KH_GEN_NAMES[names] != NULL)
    names++;
  assert_int_equal(names, 9);
}

typedef struct gen_ctx {
  kh_file *file;
  kh_vars vars;
} gen_ctx;

static bool gen_body(void *data, const kt_alloc_run *run) {
  gen_ctx *ctx = data;
  kh_gen_ctx g;
  kh_gen_ctx_init(&g, 1, 2, 3);
  bool ok = true;
  kt_alloc_arm(run);
  for (size_t i = 0; ok && i < ctx->file->scenarios[0].steps_len; i++) {
    kf_buf b;
    kf_buf_init(&b, 1 << 20);
    kf_err err;
    kf_err_init(&err);
    kf_rc rc = kh_let_value(ctx->file->scenarios[0].steps[i].data, &g, &ctx->vars, &b, &err);
    if (rc != KF_OK) {
      assert_true(rc == KF_ERR_NOMEM || rc == KF_ERR_LIMIT);
      ok = false;
    }
    kf_buf_release(&b);
  }
  kt_alloc_disarm();
  return ok;
}

/* Every generator reports running out of memory, transient or persistent, and leaks nothing. */
static void test_gen_allocation_failures(void **state) {
  (void)state;
  static const char text[] = "scenario: s\ncovers: A-01\nlet a = email()\n"
                             "let b = password(length=20, add=\"{{x}}\")\nlet c = unique(\"p\")\n"
                             "let d = upper(\"{{x}}\")\nlet e = repeat(\"ab\", 3)\n"
                             "let f = uuid()\nlet g = customer_number()\nlet h = \"{{x}}\"\n"
                             "expect var \"a\" exists\n";
  gen_ctx ctx;
  kh_diag diag;
  kh_diag_init(&diag);
  assert_int_equal(kh_parse_text("g.konform", text, strlen(text), &ctx.file, &diag), KF_OK);
  kh_diag_release(&diag);
  ctx.file->scenarios[0].steps_len--; /* Not the expect. */
  kh_vars_init(&ctx.vars);
  assert_int_equal(kh_vars_set(&ctx.vars, "x", "xy", 2), KF_OK);
  kt_alloc_sweep(gen_body, &ctx);
  ctx.file->scenarios[0].steps_len++;
  kh_vars_release(&ctx.vars);
  kh_file_free(ctx.file);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gen_allocation_failures),
      cmocka_unit_test(test_email_and_unique),
      cmocka_unit_test(test_identities_use_whole_run_id),
      cmocka_unit_test(test_customer_numbers_unique),
      cmocka_unit_test(test_determinism),
      cmocka_unit_test(test_passwords),
      cmocka_unit_test(test_other_generators_and_literals),
      cmocka_unit_test(test_invalid_calls),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
