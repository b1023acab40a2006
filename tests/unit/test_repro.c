/*
 * test_repro.c: `konform repro`'s script (kh_cmd_repro_script): identities
 * written as the literal values a run with the same seed and run id makes,
 * templates as sh words that no value can break out of, what sh cannot check
 * said as such, a capture it cannot compute a stop, and a script that sh
 * parses (sh -n).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kf/buf.h"
#include "kf/str.h"
#include "kh_cmd_repro.h"
#include "kh_gen.h"
#include "kh_parse.h"
#include "kh_profile.h"
#include "kh_suite.h"

static const char scenario_text[] =
    "scenario: Ein Test mit 'Anführungszeichen' und $HOME\n"
    "covers: ACC-01\n"
    "clock create \"2026-03-28T10:00:00Z\"\n"
    "let addr = email()\n"
    "let greeting = \"it's {{addr}} $(rm -rf /) `x`\"\n"
    "POST /api/v1/registrations\n"
    "  header X-Note: {{greeting}}\n"
    "  json {\"email\": \"{{addr|json}}\", \"n\": \"{{{{literal\"}\n"
    "  expect status == 202\n"
    "  expect json \"$.a[\\\"b c\\\"][0]\" == \"x\"\n"
    "  expect page.text contains \"Hallo\"\n"
    "  capture token = json \"$.token\"\n"
    "clock advance 1h\n"
    "GET /x?t={{token|url}}\n"
    "  capture l = page.link \"Weiter\"\n";

typedef struct fixture {
  kh_file *file;
  kh_profile profile;
  kf_buf script;
} fixture;

static void make_script(fixture *fx) {
  kh_diag diag;
  kh_diag_init(&diag);
  kf_rc rc = kh_parse_text("t.konform", scenario_text, strlen(scenario_text), &fx->file, &diag);
  if (rc != KF_OK)
    fail_msg("%s:%u:%u: %s", diag.file, diag.line, diag.col, diag.message);
  kh_diag_release(&diag);
  kh_profile_init(&fx->profile);
  assert_int_equal(kh_profile_set(&fx->profile, "base_url", "http://127.0.0.1:1"), KF_OK);
  assert_int_equal(kh_profile_set(&fx->profile, "clock", "konform"), KF_OK);
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kh_profile_finish(&fx->profile, &err), KF_OK);
  kh_suite_entry entry = {.scenario = &fx->file->scenarios[0], .file = fx->file, .index = 7};
  kf_buf_init(&fx->script, 1u << 20);
  assert_int_equal(
      kh_cmd_repro_script(&entry, &fx->profile, 5, 0xdeadbeefcafeull, &fx->script, &err), KF_OK);
}

static void free_fixture(fixture *fx) {
  kf_buf_release(&fx->script);
  kh_profile_release(&fx->profile);
  kh_file_free(fx->file);
}

static void assert_has(const fixture *fx, const char *what) {
  if (strstr(fx->script.data, what) == NULL)
    fail_msg("the script lacks %s:\n%s", what, fx->script.data);
}

/* The identity of the run: what kh_gen makes for scenario 7 with this seed and run id. */
static void test_identities_literal(void **state) {
  (void)state;
  fixture fx;
  make_script(&fx);
  kh_gen_ctx gen;
  kh_gen_ctx_init(&gen, 5, 0xdeadbeefcafeull, 7);
  kh_gen_call call = {.func = "email", .args = NULL, .args_len = 0};
  kf_buf want;
  kf_buf_init(&want, 256);
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kh_gen_eval(&gen, &call, NULL, &want, &err), KF_OK);
  char line[512];
  assert_int_equal(kf_str_format(line, sizeof line, "v_addr='%s'\n", want.data), KF_OK);
  assert_has(&fx, line);
  assert_has(&fx, "v_run_id='0000deadbeefcafe'");
  assert_has(&fx, "kclock_call /test/v1/clocks '{\"frozen_time\": 1774692000}'");
  assert_has(&fx, "kclock_call \"/test/v1/clocks/$kclock/advance\" '{\"seconds\": 3600}'");
  kf_buf_release(&want);
  free_fixture(&fx);
}

/* Quotes, $( ) and backquotes of a template stay text; references are "${v_...}". */
static void test_words(void **state) {
  (void)state;
  fixture fx;
  make_script(&fx);
  /* A literal of values known now is written out whole, in single quotes. */
  assert_has(&fx, "v_greeting='it'\\''s k0000deadbeefcafe-7-0@konform.test $(rm -rf /) `x`'");
  assert_has(&fx, "set -- \"$@\" -H 'X-Note: '\"${v_greeting}\"");
  assert_has(&fx, "\"$(kjson \"${v_addr}\")\"");
  assert_has(&fx, "'{{'");
  assert_has(&fx, "'/x?t='\"$(kurl \"${v_token}\")\"");
  assert_has(&fx, "kq_path \"$kdir/b\" '[\"a\",\"b c\",0]'");
  free_fixture(&fx);
}

/* What sh cannot check is said; a capture it cannot compute stops the replay. */
static void test_honest(void **state) {
  (void)state;
  fixture fx;
  make_script(&fx);
  assert_has(&fx, "# not checked by the script: t.konform:11: expect page.text contains");
  assert_has(&fx, "printf 'not checked by the script: %s\\n' 'expect page.text contains");
  assert_has(&fx, "kstop 't.konform:15: the script cannot replay this: sh and jq cannot compute");
  assert_has(&fx, "kcapture v_token 't.konform:12: capture token = json \"$.token\"'");
  free_fixture(&fx);
}

/* sh itself parses the whole script. */
static void test_sh_parses(void **state) {
  (void)state;
  fixture fx;
  make_script(&fx);
  char path[256];
  const char *dir = getenv("TMPDIR");
  assert_int_equal(kf_str_format(path, sizeof path, "%s/test_repro_%ld.sh",
                                 dir != NULL ? dir : "/tmp", (long)getpid()),
                   KF_OK);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fwrite(fx.script.data, 1, fx.script.len, f), fx.script.len);
  assert_int_equal(fclose(f), 0);
  char cmd[512];
  assert_int_equal(kf_str_format(cmd, sizeof cmd, "sh -n '%s'", path), KF_OK);
  assert_int_equal(system(cmd), 0);
  unlink(path);
  free_fixture(&fx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_identities_literal),
      cmocka_unit_test(test_words),
      cmocka_unit_test(test_honest),
      cmocka_unit_test(test_sh_parses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
