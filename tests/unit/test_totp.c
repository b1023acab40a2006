/*
 * test_totp.c: the harness's authenticator app (kh_totp): RFC 6238
 * Appendix B for SHA1, SHA256 and SHA512, Base32 (RFC 4648 section 10),
 * otpauth URIs and the generator totp(uri, offset=N) at the scenario clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kf/str.h"
#include "kh_gen.h"
#include "kh_parse.h"
#include "kh_step_let.h"
#include "kh_totp.h"
#include "kt_alloc.h"

/* RFC 6238 Appendix B: the seeds, one per algorithm, and the table of 8-digit codes. */
static const char seed1[] = "12345678901234567890";
static const char seed256[] = "12345678901234567890123456789012";
static const char seed512[] = "1234567890123456789012345678901234567890123456789012345678901234";

static const struct {
  int64_t t;
  const char *sha1, *sha256, *sha512;
} rfc6238[] = {
    {59, "94287082", "46119246", "90693936"},
    {1111111109, "07081804", "68084774", "25091201"},
    {1111111111, "14050471", "67062674", "99943326"},
    {1234567890, "89005924", "91819424", "93441116"},
    {2000000000, "69279037", "90698825", "38618901"},
    {20000000000, "65353130", "77737706", "47863826"},
};

static void app_with(kh_totp_app *app, const char *seed, kh_totp_alg alg, unsigned digits) {
  memset(app, 0, sizeof *app);
  memcpy(app->secret, seed, strlen(seed));
  app->secret_len = strlen(seed);
  app->alg = alg;
  app->digits = digits;
  app->period = 30;
}

static void code_is(const kh_totp_app *app, int64_t t, const char *want) {
  char code[KH_TOTP_CODE_SIZE];
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kh_totp_code(app, t, code, &err), KF_OK);
  if (strcmp(code, want) != 0)
    print_error("t=%lld alg=%d: %s, want %s\n", (long long)t, (int)app->alg, code, want);
  assert_string_equal(code, want);
}

static void test_rfc6238_appendix_b(void **state) {
  (void)state;
  kh_totp_app a1, a256, a512;
  app_with(&a1, seed1, KH_TOTP_SHA1, 8);
  app_with(&a256, seed256, KH_TOTP_SHA256, 8);
  app_with(&a512, seed512, KH_TOTP_SHA512, 8);
  for (size_t i = 0; i < sizeof rfc6238 / sizeof rfc6238[0]; i++) {
    code_is(&a1, rfc6238[i].t, rfc6238[i].sha1);
    code_is(&a256, rfc6238[i].t, rfc6238[i].sha256);
    code_is(&a512, rfc6238[i].t, rfc6238[i].sha512);
  }
  /* Six digits are the last six of the eight (RFC 4226: the value modulo 10^digits). */
  app_with(&a1, seed1, KH_TOTP_SHA1, 6);
  code_is(&a1, 59, "287082");
  code_is(&a1, 1111111109, "081804");
  /* A step is 30 s: 60 starts the next one, 89 is still in it. */
  app_with(&a1, seed1, KH_TOTP_SHA1, 8);
  char at60[KH_TOTP_CODE_SIZE], at89[KH_TOTP_CODE_SIZE];
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kh_totp_code(&a1, 60, at60, &err), KF_OK);
  assert_int_equal(kh_totp_code(&a1, 89, at89, &err), KF_OK);
  assert_string_equal(at60, at89);
  assert_string_not_equal(at60, "94287082");
}

static void test_base32(void **state) {
  (void)state;
  /* RFC 4648 section 10. */
  static const struct {
    const char *b32, *bytes;
  } v[] = {{"", ""},
           {"MY======", "f"},
           {"MZXQ====", "fo"},
           {"MZXW6===", "foo"},
           {"MZXW6YQ=", "foob"},
           {"MZXW6YTB", "fooba"},
           {"MZXW6YTBOI======", "foobar"},
           {"mzxw6ytboi", "foobar"}};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    unsigned char out[32];
    size_t n = 99;
    kf_err err;
    kf_err_init(&err);
    assert_int_equal(kh_totp_base32_decode(v[i].b32, strlen(v[i].b32), out, sizeof out, &n, &err),
                     KF_OK);
    assert_int_equal(n, strlen(v[i].bytes));
    assert_memory_equal(out, v[i].bytes, n);
  }
  unsigned char small[2];
  size_t n = 0;
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kh_totp_base32_decode("MZXW6===", 8, small, sizeof small, &n, &err),
                   KF_ERR_LIMIT);
  assert_int_equal(kh_totp_base32_decode("MZ1W", 4, small, sizeof small, &n, &err), KF_ERR_INVALID);
}

static void test_parse_uri(void **state) {
  (void)state;
  kh_totp_app app;
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kh_totp_parse_uri("otpauth://totp/Jobcenter.Digital:max%40example.test?secret="
                                     "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Jobcenter.Digital&"
                                     "algorithm=SHA1&digits=8&period=30",
                                     &app, &err),
                   KF_OK);
  assert_int_equal(app.secret_len, 20);
  assert_memory_equal(app.secret, seed1, 20);
  assert_string_equal(app.issuer, "Jobcenter.Digital");
  assert_string_equal(app.account, "max@example.test");
  assert_int_equal(app.digits, 8);
  assert_int_equal(app.period, 30);
  assert_int_equal(app.alg, KH_TOTP_SHA1);
  code_is(&app, 59, "94287082");
  /* Defaults: SHA1, 6 digits, 30 s; the label's issuer prefix. */
  assert_int_equal(
      kh_totp_parse_uri("OTPAUTH://TOTP/ACME%20Co:%20john?secret=gezdgnbvgy3tqojq", &app, &err),
      KF_OK);
  assert_string_equal(app.issuer, "ACME Co");
  assert_string_equal(app.account, "john");
  assert_int_equal(app.digits, 6);
  assert_int_equal(app.secret_len, 10);
  assert_int_equal(
      kh_totp_parse_uri("otpauth://totp/x?algorithm=sha512&secret=GEZDGNBV&period=60", &app, &err),
      KF_OK);
  assert_int_equal(app.alg, KH_TOTP_SHA512);
  assert_int_equal(app.period, 60);
  static const char *const bad[] = {
      "otpauth://hotp/x?secret=GEZDGNBV",
      "https://totp/x?secret=GEZDGNBV",
      "otpauth://totp/x",
      "otpauth://totp/x?issuer=a",
      "otpauth://totp/x?secret=",
      "otpauth://totp/x?secret=GEZ1",
      "otpauth://totp/x?secret=GEZDGNBV&algorithm=MD5",
      "otpauth://totp/x?secret=GEZDGNBV&digits=5",
      "otpauth://totp/x?secret=GEZDGNBV&digits=9",
      "otpauth://totp/x?secret=GEZDGNBV&period=0",
      "otpauth://totp/x%4?secret=GEZDGNBV",
      "otpauth://totp/x%00?secret=GEZDGNBV",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    kf_rc rc = kh_totp_parse_uri(bad[i], &app, &err);
    if (rc == KF_OK)
      print_error("accepted: %s\n", bad[i]);
    assert_true(rc == KF_ERR_INVALID || rc == KF_ERR_LIMIT);
    assert_true(strlen(err.message) > 0);
  }
}

/* "let x = <expr>" evaluated with vars. */
static kf_rc gen(const kh_vars *vars, const char *expr, char *out, size_t size) {
  char text[1024];
  snprintf(text, sizeof text, "scenario: s\ncovers: A-01\nlet x = %s\n", expr);
  kh_file *file = NULL;
  kh_diag diag;
  kh_diag_init(&diag);
  assert_int_equal(kh_parse_text("g.konform", text, strlen(text), &file, &diag), KF_OK);
  kh_diag_release(&diag);
  kh_gen_ctx g;
  kh_gen_ctx_init(&g, 1, 2, 3);
  kf_buf b;
  kf_buf_init(&b, 1024);
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = kh_let_value(file->scenarios[0].steps[0].data, &g, vars, &b, &err);
  (void)kf_str_copy(out, size, rc == KF_OK ? (b.data != NULL ? b.data : "") : err.message);
  kf_buf_release(&b);
  kh_file_free(file);
  return rc;
}

#define URI1 "otpauth://totp/T:x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=8"

static void test_generator(void **state) {
  (void)state;
  kh_vars vars;
  kh_vars_init(&vars);
  assert_int_equal(kh_vars_set(&vars, "clock.now", "1111111111", 10), KF_OK);
  assert_int_equal(kh_vars_set(&vars, "uri", URI1, strlen(URI1)), KF_OK);
  char out[256];
  assert_int_equal(gen(&vars, "totp(\"{{uri}}\")", out, sizeof out), KF_OK);
  assert_string_equal(out, "14050471");
  /* 1111111111 - 30 is 1111111081, in the step of 1111111109's code. */
  assert_int_equal(gen(&vars, "totp(\"{{uri}}\", offset=-1)", out, sizeof out), KF_OK);
  assert_string_equal(out, "07081804");
  assert_int_equal(gen(&vars, "totp(\"{{uri}}\", offset=0)", out, sizeof out), KF_OK);
  assert_string_equal(out, "14050471");
  assert_int_equal(kh_vars_set(&vars, "clock.now", "29", 2), KF_OK);
  assert_int_equal(gen(&vars, "totp(\"{{uri}}\", offset=1)", out, sizeof out), KF_OK);
  assert_string_equal(out, "94287082");
  /* Calls the check refuses, and a URI that is none at run time. */
  static const char *const bad[] = {"totp()",
                                    "totp(1)",
                                    "totp(\"u\", 1)",
                                    "totp(\"u\", step=1)",
                                    "totp(offset=1)",
                                    "totp(\"u\", offset=\"1\")",
                                    "totp(\"u\", offset=2000000)",
                                    "totp(\"{{nope}}\")",
                                    "totp(\"otpauth://totp/x\")"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    kf_rc rc = gen(&vars, bad[i], out, sizeof out);
    if (rc == KF_OK)
      print_error("accepted: %s\n", bad[i]);
    assert_int_not_equal(rc, KF_OK);
  }
  kh_vars_release(&vars);
}

typedef struct sweep_ctx {
  kh_file *file;
  kh_vars vars;
} sweep_ctx;

/* The generator with an allocation failing: KF_ERR_NOMEM or LIMIT, or the right code. */
static bool gen_body(void *data, const kt_alloc_run *run) {
  sweep_ctx *ctx = data;
  kh_gen_ctx g;
  kh_gen_ctx_init(&g, 1, 2, 3);
  kf_buf b;
  kf_buf_init(&b, 1024);
  kf_err err;
  kf_err_init(&err);
  kt_alloc_arm(run);
  kf_rc rc = kh_let_value(ctx->file->scenarios[0].steps[0].data, &g, &ctx->vars, &b, &err);
  kt_alloc_disarm();
  if (rc == KF_OK)
    assert_string_equal(b.data, "07081804");
  else
    assert_true(rc == KF_ERR_NOMEM || rc == KF_ERR_LIMIT);
  kf_buf_release(&b);
  return rc == KF_OK;
}

static void test_generator_alloc_failures(void **state) {
  (void)state;
  sweep_ctx ctx;
  kh_vars_init(&ctx.vars);
  assert_int_equal(kh_vars_set(&ctx.vars, "clock.now", "1111111111", 10), KF_OK);
  assert_int_equal(kh_vars_set(&ctx.vars, "uri", URI1, strlen(URI1)), KF_OK);
  static const char text[] = "scenario: s\ncovers: A-01\nlet x = totp(\"{{uri}}\", offset=-1)\n";
  kh_diag diag;
  kh_diag_init(&diag);
  assert_int_equal(kh_parse_text("g.konform", text, strlen(text), &ctx.file, &diag), KF_OK);
  kh_diag_release(&diag);
  assert_true(kt_alloc_sweep(gen_body, &ctx) > 0);
  kh_file_free(ctx.file);
  kh_vars_release(&ctx.vars);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc6238_appendix_b),
      cmocka_unit_test(test_base32),
      cmocka_unit_test(test_parse_uri),
      cmocka_unit_test(test_generator),
      cmocka_unit_test(test_generator_alloc_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
