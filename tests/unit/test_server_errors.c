/*
 * The error catalogue against the contract: every error code konform-server
 * and kf_httpd answer is in docs/openapi.yaml's Error enum and every field
 * code in FieldError's (and nothing else is), every German message of the
 * catalogue (and every password criterion's label) is written in the
 * contract, and every message the contract quotes right after a code is the
 * catalogue's text for that code. A small line-based reader is enough: the
 * contract writes codes and messages in a few fixed forms.
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_error_codes_match_the_contract),
      cmocka_unit_test(test_every_message_is_in_the_contract),
      cmocka_unit_test(test_contract_quotes_the_catalogue),
  };
  return cmocka_run_group_tests_name("server errors", tests, NULL, NULL);
}
