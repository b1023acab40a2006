/*
 * kh_lint.c: static checks over a loaded suite.
 *
 * The checks follow the order in which a scenario runs: variables become
 * defined by let, capture and use (a fragment's parameters and everything the
 * fragment defines are visible after it, because fragments share the
 * scenario's variables), and every template is checked against what is
 * defined at that point. Memory trouble is sticky in the context so the walk
 * code stays flat; it is reported once at the end.
 */
#include "kh_lint.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/str.h"
#include "kh_query.h"
#include "kh_step.h"
#include "kh_vars.h"

#define KH_LINT_MAX_NAMES 65536u

typedef struct kh_name {
  const char *s; /* Borrowed from the AST. */
  size_t len;
  /*
   * The value may hold a double quote or a backslash: it comes from
   * password() (whose specials include '"') or is built from such a value.
   */
  bool may_quote;
} kh_name;

struct kh_lint_ctx {
  kh_lint_report *rep;
  const kh_catalogue *cat;
  kh_name *names;
  size_t len;
  size_t cap;
  kh_severity undef_sev; /* Of an undefined variable here. */
  const kh_pos *pos;     /* Where the template being checked is written. */
  const char *source;    /* That line, trimmed. */
  kf_rc rc;              /* First memory failure, sticky. */
  bool quiet;            /* Only define names (a used fragment): report nothing. */
  int depth;             /* Fragment nesting of the walk. */
  bool has_expect;       /* The walk met an expect. */
};

void kh_lint_report_init(kh_lint_report *report) {
  memset(report, 0, sizeof *report);
}

void kh_lint_report_release(kh_lint_report *report) {
  if (report == NULL)
    return;
  for (size_t i = 0; i < report->len; i++)
    kh_diag_release(&report->items[i]);
  kf_free(report->items);
  kh_lint_report_init(report);
}

static void __attribute__((format(printf, 7, 8)))
kh_lint_add(kh_lint_ctx *ctx, kh_severity sev, const kh_pos *pos, unsigned col, const char *source,
            const char *hint, const char *fmt, ...) {
  if (ctx->rc != KF_OK || ctx->quiet)
    return;
  kh_lint_report *rep = ctx->rep;
  if (sev == KH_SEV_ERROR)
    rep->errors++;
  else
    rep->warnings++;
  if (rep->len >= KH_LINT_MAX_DIAGS)
    return;
  kf_rc grow_rc = KF_OK;
  kh_diag *items = kf_array_grow(rep->items, &rep->cap, rep->len, sizeof *items, 16,
                                 KH_LINT_MAX_DIAGS, &grow_rc);
  if (items == NULL) {
    ctx->rc = grow_rc;
    return;
  }
  rep->items = items;
  char msg[600];
  va_list ap;
  va_start(ap, fmt);
  /* A message cut at the cap is still worth showing. */
  (void)kf_str_vformat(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* The stored line is the trimmed source put back at its column. */
  char *line = NULL;
  if (source != NULL) {
    unsigned indent = pos->col > 0 ? pos->col - 1 : 0;
    size_t sl = strlen(source);
    line = kf_malloc(indent + sl + 1);
    if (line == NULL) {
      ctx->rc = KF_ERR_NOMEM;
      return;
    }
    memset(line, ' ', indent);
    memcpy(line + indent, source, sl + 1);
  }
  kh_diag *d = &rep->items[rep->len];
  kh_diag_init(d);
  if (kh_diag_set(d, sev, pos->file, pos->line, col, line, hint, "%s", msg) != KF_OK)
    ctx->rc = KF_ERR_NOMEM;
  else
    rep->len++;
  kf_free(line);
}

static bool kh_lint_defined(const kh_lint_ctx *ctx, const char *s, size_t len) {
  static const char *const builtins[] = {"target.", "run.", "scenario.", "clock.", NULL};
  for (size_t k = 0; builtins[k] != NULL; k++) {
    size_t bl = strlen(builtins[k]);
    if (len > bl && memcmp(s, builtins[k], bl) == 0)
      return true;
  }
  for (size_t i = 0; i < ctx->len; i++) {
    if (ctx->names[i].len == len && memcmp(ctx->names[i].s, s, len) == 0)
      return true;
  }
  return false;
}

static kh_name *kh_lint_find(kh_lint_ctx *ctx, const char *s, size_t len) {
  for (size_t i = 0; i < ctx->len; i++) {
    if (ctx->names[i].len == len && memcmp(ctx->names[i].s, s, len) == 0)
      return &ctx->names[i];
  }
  return NULL;
}

static void kh_lint_define_q(kh_lint_ctx *ctx, const char *s, bool may_quote) {
  if (s == NULL || ctx->rc != KF_OK)
    return;
  kh_name *known = kh_lint_find(ctx, s, strlen(s));
  if (known != NULL) {
    /* A later definition replaces the value, so it decides. */
    known->may_quote = may_quote;
    return;
  }
  if (kh_lint_defined(ctx, s, strlen(s)))
    return;
  if (ctx->len >= KH_LINT_MAX_NAMES)
    return;
  kf_rc grow_rc = KF_OK;
  kh_name *names = kf_array_grow(ctx->names, &ctx->cap, ctx->len, sizeof *names, 32,
                                 KH_LINT_MAX_NAMES, &grow_rc);
  if (names == NULL) {
    ctx->rc = grow_rc;
    return;
  }
  ctx->names = names;
  ctx->names[ctx->len].s = s;
  ctx->names[ctx->len].len = strlen(s);
  ctx->names[ctx->len].may_quote = may_quote;
  ctx->len++;
}

typedef struct kh_quote_scan {
  kh_lint_ctx *ctx;
  bool found;
} kh_quote_scan;

static void kh_lint_quote_ref(const char *name, size_t len, const char *filter, size_t filter_len,
                              void *data) {
  kh_quote_scan *scan = data;
  const kh_name *n = kh_lint_find(scan->ctx, name, len);
  /* {{x|json}} and {{x|url}} escape the quote away. */
  if (n != NULL && n->may_quote && filter_len == 0)
    scan->found = true;
  (void)filter;
}

/* Whether tpl copies a value that may hold a quote as it is. */
static bool kh_lint_tpl_may_quote(kh_lint_ctx *ctx, const kh_template *tpl) {
  kh_quote_scan scan = {ctx, false};
  kh_vars_each_reference_filtered(tpl, kh_lint_quote_ref, &scan);
  return scan.found;
}

static unsigned kh_lint_col(const kh_lint_ctx *ctx, const char *name, size_t len);

static void kh_lint_json_ref(const char *name, size_t len, const char *filter, size_t filter_len,
                             void *data) {
  kh_lint_ctx *ctx = data;
  const kh_name *n = kh_lint_find(ctx, name, len);
  if (n == NULL || !n->may_quote || (filter_len == 4 && memcmp(filter, "json", 4) == 0))
    return;
  char hint[200];
  snprintf(hint, sizeof hint, "write {{%.*s|json}} so the value is escaped for the JSON string",
           (int)(len > 60 ? 60 : len), name);
  kh_lint_add(ctx, KH_SEV_ERROR, ctx->pos, kh_lint_col(ctx, name, len), ctx->source, hint,
              "'%.*s' may hold a double quote (a generated password) and would break the JSON body",
              (int)(len > 100 ? 100 : len), name);
}

/*
 * The column (in characters, like every diagnostic column) of "{{name" in the
 * current source line, else the line's own column.
 */
static unsigned kh_lint_col(const kh_lint_ctx *ctx, const char *name, size_t len) {
  const char *src = ctx->source;
  if (src != NULL) {
    for (const char *p = strstr(src, "{{"); p != NULL; p = strstr(p + 2, "{{")) {
      const char *q = p + 2;
      while (*q == ' ')
        q++;
      if (strncmp(q, name, len) == 0)
        return ctx->pos->col + kh_char_col(src, (size_t)(p - src)) - 1;
    }
  }
  return ctx->pos->col;
}

static void kh_lint_ref(const char *name, size_t len, void *data) {
  kh_lint_ctx *ctx = data;
  if (kh_lint_defined(ctx, name, len))
    return;
  char hint[300];
  snprintf(hint, sizeof hint,
           "define it earlier with 'let %.*s = ...' or a capture; built-ins are target.*, run.*, "
           "scenario.*, clock.*",
           (int)(len > 60 ? 60 : len), name);
  kh_lint_add(ctx, ctx->undef_sev, ctx->pos, kh_lint_col(ctx, name, len), ctx->source, hint,
              "unknown variable '%.*s'", (int)(len > 100 ? 100 : len), name);
}

/* ---- The interface for the lint functions of step kinds (kh_lint.h). ---- */

void kh_lint_template(kh_lint_ctx *ctx, const kh_template *tpl) {
  if (!ctx->quiet)
    kh_vars_each_reference(tpl, kh_lint_ref, ctx);
}

void kh_lint_literal(kh_lint_ctx *ctx, const kh_literal *lit) {
  if (lit->kind == KH_LIT_STRING)
    kh_lint_template(ctx, &lit->str);
}

void kh_lint_define(kh_lint_ctx *ctx, const char *name, bool may_quote) {
  kh_lint_define_q(ctx, name, may_quote);
}

bool kh_lint_may_quote(kh_lint_ctx *ctx, const kh_template *tpl) {
  return kh_lint_tpl_may_quote(ctx, tpl);
}

void kh_lint_json_body(kh_lint_ctx *ctx, const kh_template *tpl) {
  if (!ctx->quiet)
    kh_vars_each_reference_filtered(tpl, kh_lint_json_ref, ctx);
}

void kh_lint_step_error(kh_lint_ctx *ctx, const char *hint, const char *fmt, ...) {
  if (ctx->quiet)
    return;
  char msg[600];
  va_list ap;
  va_start(ap, fmt);
  /* A message cut at the cap is still worth showing. */
  (void)kf_str_vformat(msg, sizeof msg, fmt, ap);
  va_end(ap);
  kh_lint_add(ctx, KH_SEV_ERROR, ctx->pos, ctx->pos->col, ctx->source, hint, "%s", msg);
}

static void kh_lint_steps(kh_lint_ctx *ctx, const kh_step *steps, size_t len);

void kh_lint_fragment(kh_lint_ctx *ctx, const kh_fragment *fr) {
  /* kh_suite_load has refused cycles and chains deeper than this. */
  if (fr == NULL || ctx->depth >= KH_SUITE_MAX_DEPTH)
    return;
  /*
   * A fragment's parameters and everything it defines are visible after the
   * use, because fragments share the scenario's variables. Its own lines were
   * checked where the fragment file was linted, so here they only define.
   */
  bool quiet = ctx->quiet;
  const kh_pos *pos = ctx->pos;
  const char *source = ctx->source;
  ctx->quiet = true;
  ctx->depth++;
  for (size_t p = 0; p < fr->params_len; p++)
    kh_lint_define(ctx, fr->params[p], false);
  kh_lint_steps(ctx, fr->steps, fr->steps_len);
  ctx->depth--;
  ctx->quiet = quiet;
  ctx->pos = pos;
  ctx->source = source;
}

/* The expect and capture lines of a step. */
static void kh_lint_checks(kh_lint_ctx *ctx, const kh_step *st) {
  for (size_t c = 0; c < st->checks_len && ctx->rc == KF_OK; c++) {
    const kh_check *chk = &st->checks[c];
    ctx->pos = &chk->pos;
    ctx->source = chk->source;
    kh_lint_template(ctx, &chk->query.arg);
    /* A query without a subject reads a variable named by its argument. */
    if (!ctx->quiet && chk->query.def != NULL && chk->query.def->subject == KH_SUBJECT_NONE &&
        chk->query.arg.text != NULL && memchr(chk->query.arg.text, '{', chk->query.arg.len) == NULL)
      kh_lint_ref(chk->query.arg.text, chk->query.arg.len, ctx);
    for (size_t f = 0; f < chk->query.filters_len; f++)
      kh_lint_template(ctx, &chk->query.filters[f].arg);
    if (chk->is_capture) {
      kh_lint_define(ctx, chk->capture_name, false);
    } else {
      kh_lint_literal(ctx, &chk->pred.operand);
      ctx->has_expect = true;
    }
  }
}

static void kh_lint_steps(kh_lint_ctx *ctx, const kh_step *steps, size_t len) {
  for (size_t i = 0; i < len && ctx->rc == KF_OK; i++) {
    const kh_step *st = &steps[i];
    ctx->pos = &st->pos;
    ctx->source = st->source;
    if (st->def != NULL && st->def->lint != NULL)
      st->def->lint(ctx, st);
    kh_lint_checks(ctx, st);
  }
}

/*
 * The first scenario of the suite with the name of scenario si of file fi, if
 * one comes before it (in an earlier file or earlier in the same file).
 * Quadratic, which is fine for suites of hundreds of scenarios.
 */
static const kh_scenario *kh_lint_first_named(const kh_suite *suite, size_t fi, size_t si) {
  const char *name = suite->files[fi]->scenarios[si].name;
  for (size_t g = 0; g <= fi; g++) {
    const kh_file *f = suite->files[g];
    size_t end = g == fi ? si : f->scenarios_len;
    for (size_t k = 0; k < end; k++) {
      if (strcmp(f->scenarios[k].name, name) == 0)
        return &f->scenarios[k];
    }
  }
  return NULL;
}

kf_rc kh_lint_suite(const kh_suite *suite, const kh_catalogue *cat, kh_lint_report *report) {
  assert(suite != NULL && report != NULL);
  kh_lint_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.rep = report;
  ctx.cat = cat;
  for (size_t fi = 0; fi < suite->files_len && ctx.rc == KF_OK; fi++) {
    const kh_file *f = suite->files[fi];
    for (size_t si = 0; si < f->scenarios_len && ctx.rc == KF_OK; si++) {
      const kh_scenario *sc = &f->scenarios[si];
      char *head = kf_str_printf("scenario: %s", sc->name);
      if (head == NULL) {
        ctx.rc = KF_ERR_NOMEM;
        break;
      }
      const kh_scenario *first = kh_lint_first_named(suite, fi, si);
      if (first != NULL) {
        char hint[600];
        snprintf(hint, sizeof hint,
                 "the first one is at %.400s:%u; names identify scenarios in JUnit and the "
                 "requirement lists, across all files of the suite",
                 first->pos.file != NULL ? first->pos.file : "?", first->pos.line);
        kh_lint_add(&ctx, KH_SEV_ERROR, &sc->pos, 1, head, hint, "duplicate scenario name '%.100s'",
                    sc->name);
      }
      if (cat != NULL) {
        for (size_t c = 0; c < sc->covers_len; c++) {
          if (kh_catalogue_find(cat, sc->covers[c]) == NULL)
            kh_lint_add(&ctx, KH_SEV_ERROR, &sc->pos, 1, head,
                        "requirement IDs are listed in scenarios/catalogue.json",
                        "scenario covers '%.60s', which the catalogue does not list",
                        sc->covers[c]);
        }
      }
      ctx.len = 0;
      ctx.undef_sev = KH_SEV_ERROR;
      ctx.has_expect = false;
      kh_lint_steps(&ctx, sc->steps, sc->steps_len);
      /* A scenario that asserts nothing would pass whatever the target does. */
      if (!ctx.has_expect)
        kh_lint_add(&ctx, KH_SEV_ERROR, &sc->pos, 1, head,
                    "add an 'expect' line; a test that asserts nothing always passes",
                    "scenario '%.100s' has no expect", sc->name);
      kf_free(head);
    }
    if (f->fragment != NULL && ctx.rc == KF_OK) {
      const kh_fragment *fr = f->fragment;
      ctx.len = 0;
      ctx.undef_sev = KH_SEV_WARNING;
      for (size_t p = 0; p < fr->params_len; p++)
        kh_lint_define(&ctx, fr->params[p], false);
      kh_lint_steps(&ctx, fr->steps, fr->steps_len);
    }
  }
  kf_free(ctx.names);
  return ctx.rc;
}
