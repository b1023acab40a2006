/*
 * kh_ast.h: the parsed form of scenario files (docs/scenario-language.md).
 *
 * The parser builds it; the runner and linter read it. A kh_file owns every
 * node below it, and every string in it (allocated with kf_malloc). Templates
 * keep "{{var}}" references unexpanded: expansion happens at run time.
 * Nothing here knows about the network.
 */
#ifndef KH_AST_H
#define KH_AST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A position in a source file; file points at the owning kh_file's path. */
typedef struct kh_pos {
  const char *file;
  unsigned line; /* 1-based. */
  unsigned col;  /* 1-based, in bytes. */
} kh_pos;

/* Text after escape processing, "{{var}}" still in it. May hold NUL bytes. */
typedef struct kh_template {
  char *text; /* NULL when absent. */
  size_t len;
} kh_template;

typedef enum kh_literal_kind {
  KH_LIT_STRING,
  KH_LIT_NUMBER,
  KH_LIT_BOOL,
  KH_LIT_NULL
} kh_literal_kind;

typedef struct kh_literal {
  kh_literal_kind kind;
  kh_template str;  /* KH_LIT_STRING. */
  long long number; /* KH_LIT_NUMBER. */
  bool boolean;     /* KH_LIT_BOOL. */
} kh_literal;

typedef enum kh_query_kind {
  KH_Q_STATUS,
  KH_Q_HEADER,
  KH_Q_BODY,
  KH_Q_JSON,
  KH_Q_DURATION,
  KH_Q_MAIL_FROM,
  KH_Q_MAIL_TO,
  KH_Q_MAIL_SUBJECT,
  KH_Q_MAIL_DATE,
  KH_Q_MAIL_TEXT,
  KH_Q_MAIL_HTML,
  KH_Q_MAIL_RAW,
  KH_Q_MAIL_HEADER,
  KH_Q_MAIL_LINKS,
  KH_Q_MAIL_LINK,
  KH_Q_MAIL_JSON,
  KH_Q_LETTER_KIND,
  KH_Q_LETTER_TEXT,
  KH_Q_LETTER_DATE,
  KH_Q_LETTER_FIELD,
  KH_Q_LETTER_JSON,
  KH_Q_VAR
} kh_query_kind;

typedef enum kh_filter_kind { KH_F_COUNT, KH_F_REGEX, KH_F_LOWER, KH_F_GREP } kh_filter_kind;

typedef struct kh_filter {
  kh_filter_kind kind;
  kh_template arg; /* KH_F_REGEX and KH_F_GREP: the pattern. */
} kh_filter;

typedef struct kh_query {
  kh_query_kind kind;
  kh_template arg; /* Header name, JSON path, regex, field or variable name. */
  kh_filter *filters;
  size_t filters_len;
} kh_query;

typedef enum kh_pred_kind {
  KH_P_EQ,
  KH_P_NE,
  KH_P_LT,
  KH_P_LE,
  KH_P_GT,
  KH_P_GE,
  KH_P_CONTAINS,
  KH_P_NOT_CONTAINS,
  KH_P_STARTSWITH,
  KH_P_MATCHES,
  KH_P_NOT_MATCHES,
  KH_P_EXISTS,
  KH_P_NOT_EXISTS,
  KH_P_IS_UUID,
  KH_P_JSON_EQUALS
} kh_pred_kind;

typedef struct kh_predicate {
  kh_pred_kind kind;
  kh_literal operand; /* Unused for EXISTS, NOT_EXISTS, IS_UUID. */
} kh_predicate;

/* An `expect` or a `capture` line. */
typedef struct kh_check {
  kh_pos pos;
  char *source; /* The line as written, trimmed, for messages. */
  bool is_capture;
  char *capture_name; /* is_capture only. */
  kh_query query;
  kh_predicate pred; /* !is_capture only. */
} kh_check;

typedef struct kh_header {
  kh_template name;
  kh_template value;
} kh_header;

typedef struct kh_request {
  char *method; /* "GET", "POST", ... */
  kh_template url;
  kh_header *headers;
  size_t headers_len;
  kh_template body;   /* body.text == NULL: no body. */
  bool body_is_json;  /* From `json`: sets Content-Type unless given. */
  bool no_clock;      /* `option no-clock`. */
  int64_t timeout_ms; /* 0 = default. */
} kh_request;

typedef enum kh_wait_kind { KH_WAIT_MAIL, KH_WAIT_LETTER } kh_wait_kind;

typedef struct kh_wait {
  kh_wait_kind what;
  kh_template to;              /* Mail: recipient address; letter: recipient name. */
  kh_template from;            /* Mail only. */
  kh_template subject;         /* Mail only, substring. */
  kh_template kind;            /* Letter only. */
  kh_template customer_number; /* Letter only. */
  int64_t within_ms;           /* 0 = the target's default. */
} kh_wait;

typedef enum kh_clock_op {
  KH_CLOCK_CREATE,
  KH_CLOCK_CREATE_NOW,
  KH_CLOCK_ADVANCE,
  KH_CLOCK_SET
} kh_clock_op;

typedef struct kh_clock_step {
  kh_clock_op op;
  kh_template iso;    /* CREATE and SET. */
  int64_t advance_ms; /* ADVANCE. */
} kh_clock_step;

typedef struct kh_arg {
  char *name; /* NULL for a positional argument. */
  kh_literal value;
} kh_arg;

typedef struct kh_let {
  char *name;
  bool is_call;     /* A generator call rather than a literal. */
  kh_literal value; /* !is_call. */
  char *func;       /* is_call: "email", "password", ... */
  kh_arg *args;
  size_t args_len;
} kh_let;

struct kh_fragment;

typedef struct kh_use {
  char *fragment_name;
  kh_arg *args; /* Named, string-valued. */
  size_t args_len;
  const struct kh_fragment *resolved; /* Borrowed; set by kh_suite_load. */
} kh_use;

typedef enum kh_step_kind {
  KH_STEP_LET,
  KH_STEP_HTTP,
  KH_STEP_WAIT,
  KH_STEP_CLOCK,
  KH_STEP_USE,
  KH_STEP_CHECK /* A standalone expect/capture line: one entry in checks. */
} kh_step_kind;

typedef struct kh_step {
  kh_step_kind kind;
  kh_pos pos;
  char *source; /* The step's first line, trimmed. */
  union {
    kh_let let;
    kh_request http;
    kh_wait wait;
    kh_clock_step clock;
    kh_use use;
  } u;
  kh_check *checks; /* expect/capture lines, in written order. */
  size_t checks_len;
} kh_step;

typedef struct kh_scenario {
  char *name;
  kh_pos pos;
  char **covers;
  size_t covers_len;
  char **tags;
  size_t tags_len;
  kh_step *steps;
  size_t steps_len;
} kh_scenario;

typedef struct kh_fragment {
  char *name;
  kh_pos pos;
  char **params;
  size_t params_len;
  kh_step *steps;
  size_t steps_len;
} kh_fragment;

typedef struct kh_file {
  char *path;
  kh_scenario *scenarios;
  size_t scenarios_len;
  kh_fragment *fragment; /* Non-NULL for a fragment file (then no scenarios). */
} kh_file;

void kh_file_free(kh_file *file);

#endif
