/*
 * kh_ast.h: the parsed form of scenario files (docs/scenario-language.md).
 *
 * The parser builds it; the runner and linter read it. A kh_file owns every
 * node below it. The strings of the tree (names, IDs, tags, sources,
 * templates, and what the lexer reads for a step kind's data) are not owned
 * by the nodes: they point into the file's string table (kh_intern.h), which
 * a suite shares among its files so that each distinct string is stored
 * once; they are immutable and live until the file's reference to the table
 * is dropped by kh_file_free.
 * Templates keep "{{var}}" references unexpanded: expansion happens at run
 * time. Nothing here knows about the network.
 */
#ifndef KH_AST_H
#define KH_AST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kf/error.h"

/* A position in a source file; file points at the owning kh_file's path. */
typedef struct kh_pos {
  const char *file;
  unsigned line; /* 1-based. */
  unsigned col;  /* 1-based, in bytes. */
} kh_pos;

/*
 * Text after escape processing, "{{var}}" still in it. May hold NUL bytes;
 * a NUL always follows the len bytes. The text is in the file's string table.
 */
typedef struct kh_template {
  const char *text; /* NULL when absent. */
  size_t len;
} kh_template;

typedef enum kh_literal_kind {
  KH_LIT_STRING,
  KH_LIT_NUMBER,
  KH_LIT_BOOL,
  KH_LIT_NULL
} kh_literal_kind;

/* Fields ordered so that kind and boolean share the last 8 bytes. */
typedef struct kh_literal {
  kh_template str;  /* KH_LIT_STRING. */
  long long number; /* KH_LIT_NUMBER. */
  kh_literal_kind kind;
  bool boolean; /* KH_LIT_BOOL. */
} kh_literal;

/* The tables the nodes point into (kh_query.h, kh_filter.h, kh_pred.h, kh_step.h). */
struct kh_query_def;
struct kh_filter_def;
struct kh_pred_def;
struct kh_step_def;
struct kh_regex;

typedef struct kh_filter {
  const struct kh_filter_def *def; /* Row of KH_FILTERS; borrowed. */
  kh_template arg;                 /* The pattern of regex and grep; absent otherwise. */
  struct kh_regex *re; /* Owned: the pattern compiled at parse time, or NULL (kh_text.h). */
} kh_filter;

typedef struct kh_query {
  const struct kh_query_def *def; /* Row of the query table; borrowed. */
  kh_template arg;                /* Header name, JSON path, regex, field or variable name. */
  struct kh_regex *re;            /* Owned: a regex arg compiled at parse time, or NULL. */
  kh_filter *filters;
  size_t filters_len;
} kh_query;

typedef struct kh_predicate {
  const struct kh_pred_def *def; /* Row of the predicate table; borrowed. */
  kh_literal operand;            /* Absent (KH_LIT_NULL, unused) for predicates without one. */
  struct kh_regex *re;           /* Owned: a regex operand compiled at parse time, or NULL. */
} kh_predicate;

/* An `expect` or a `capture` line. */
typedef struct kh_check {
  kh_pos pos;
  const char *source;       /* The line as written, trimmed, for messages. */
  const char *capture_name; /* is_capture only. */
  kh_query query;
  kh_predicate pred; /* !is_capture only. */
  bool is_capture;
} kh_check;

typedef struct kh_arg {
  const char *name; /* NULL for a positional argument. */
  kh_literal value;
} kh_arg;

/*
 * One step. What the step holds depends on its kind, so the node carries its
 * row of the step registry (kh_step.h) and that kind's own data, which the
 * row's parse function fills and its release function frees. Adding a step
 * kind therefore never touches this header.
 */
typedef struct kh_step {
  const struct kh_step_def *def; /* Row of KH_STEPS; borrowed. */
  kh_pos pos;
  const char *source; /* The step's first line, trimmed. */
  void *data;         /* Owned; def->data_size bytes, zeroed before parsing. */
  kh_check *checks;   /* expect/capture lines, in written order. */
  size_t checks_len;
} kh_step;

typedef struct kh_scenario {
  const char *name;
  kh_pos pos;
  /* The arrays are owned; their strings are the table's, never written (char * for callers). */
  char **covers;
  size_t covers_len;
  char **tags;
  size_t tags_len;
  kh_step *steps;
  size_t steps_len;
} kh_scenario;

typedef struct kh_fragment {
  const char *name;
  kh_pos pos;
  char **params; /* As covers. */
  size_t params_len;
  kh_step *steps;
  size_t steps_len;
} kh_fragment;

struct kh_intern;

/* The length of a file's digest (BLAKE2b, libsodium's crypto_generichash). */
#define KH_FILE_DIGEST_LEN 32

typedef struct kh_file {
  const char *path;
  kh_scenario *scenarios;
  size_t scenarios_len;
  kh_fragment *fragment;     /* Non-NULL for a fragment file (then no scenarios). */
  struct kh_intern *strings; /* A reference to the table every string above is in. */
  /*
   * Non-NULL once the parser sealed the file: then the arrays of the generic
   * nodes (scenarios, covers, tags, params, steps, checks, filters) and every
   * step's data are in this one block, owned by the file.
   */
  void *block;
  size_t block_size;
  /* The digest of the bytes parsed: kh_suite_reparse knows the same file by it. */
  unsigned char digest[KH_FILE_DIGEST_LEN];
  /* true once kh_file_drop_steps kept only the scenarios' heads (steps NULL, steps_len 0). */
  bool steps_dropped;
} kh_file;

/* Frees the nodes and drops the file's reference to its string table. */
void kh_file_free(kh_file *file);

/*
 * Keep of a sealed scenario file only what selects and names its scenarios
 * (name, position, covers, tags) and free its steps: their block (about 2 KB
 * a scenario) goes, while the strings stay in the table, which the file does
 * not own alone. KF_OK without a change for a fragment file, an unsealed
 * one, or one dropped already; KF_ERR_NOMEM leaves the file as it was.
 */
kf_rc kh_file_drop_steps(kh_file *file);

/* Helpers for the release functions of step kinds; each frees what it owns and zeroes it. */
/* A template's text is the table's: this only forgets it. */
void kh_template_release(kh_template *tpl);
void kh_literal_release(kh_literal *lit);
/* Frees args[0..len) and the array. */
void kh_args_release(kh_arg *args, size_t len);

#endif
