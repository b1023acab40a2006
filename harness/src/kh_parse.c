/*
 * kh_parse.c: the statement parser of the scenario language
 * (docs/scenario-language.md): header lines, step lines and their indented
 * sub-lines. Tokens come from the lexer (kh_lex.c), expressions from
 * kh_expr.c, and every step kind parses its own line through its row of the
 * step registry (kh_step.h), so this file knows no step kind.
 *
 * The parser never keeps a half-built node outside the tree: every array
 * slot is zeroed and counted before it is filled, so kh_file_free can clean
 * up whatever state a parse error or an allocation failure leaves behind.
 * Error details go into fixed buffers in the parser state and are copied into
 * the caller's kh_diag only at the end, so that reporting a parse error does
 * not itself need memory mid-parse.
 */
#include "kh_parse.h"

#include <assert.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/str.h"
#include "kf/utf8.h"
#include "kh_expr.h"
#include "kh_lex.h"
#include "kh_step.h"

/* Room for the header names and every step keyword, for did-you-mean. */
#define KH_PARSE_MAX_WORDS 80

/* ---- Header lines: scenario:, covers:, tags:, fragment:, params:. ---- */

static kf_rc kh_split_words(kh_cur *c, char ***words, size_t *len) {
  for (;;) {
    while (c->i < c->len && (kh_lex_is_blank(c->s[c->i]) || c->s[c->i] == ','))
      c->i++;
    if (c->i >= c->len)
      return KF_OK;
    size_t start = c->i;
    /* No ID, tag or parameter starts with '#': it is a comment in the wrong place. */
    if (c->s[start] == '#') {
      (void)kh_cur_error(c, start, "'#' in a header line");
      return kh_cur_hint_comment(c);
    }
    while (c->i < c->len && !kh_lex_is_blank(c->s[c->i]) && c->s[c->i] != ',')
      c->i++;
    char **slot = NULL;
    kf_rc rc = kh_cur_push(c, (void **)words, *len, sizeof *slot, (void **)&slot);
    if (rc != KF_OK)
      return rc;
    const char *word = NULL;
    if ((rc = kh_cur_intern(c, c->s + start, c->i - start, &word)) != KF_OK)
      return rc;
    *slot = (char *)word; /* The table's; the node never writes it. */
    (*len)++;
  }
}

static kf_rc kh_close_scenario(kh_parser *p) {
  if (!p->in_scenario || p->covers_seen)
    return KF_OK;
  kh_cur c = {p, p->scenario_line, p->scenario_line_len, 0, p->scenario_lineno};
  kh_scenario *sc = &p->file->scenarios[p->file->scenarios_len - 1];
  (void)kh_cur_error(&c, 0, "scenario '%.100s' has no 'covers:' line", sc->name);
  return kh_cur_hint(
      &c, "add 'covers: <requirement IDs>' right after the scenario line, e.g. 'covers: ACC-06'");
}

static kf_rc kh_hdr_scenario(kh_cur *c, size_t vstart, size_t vlen) {
  kh_parser *p = c->p;
  kh_file *f = p->file;
  if (f->fragment != NULL) {
    (void)kh_cur_error_kind(c, 0, KH_DIAG_STRUCTURE, "a fragment file cannot hold scenarios");
    return kh_cur_hint(
        c, "move the scenario into its own file; a fragment file holds exactly one fragment");
  }
  kf_rc rc = kh_close_scenario(p);
  if (rc != KF_OK)
    return rc;
  if (vlen == 0) {
    (void)kh_cur_error_kind(c, vstart, KH_DIAG_EXPECTED_TOKEN,
                            "expected a scenario name after 'scenario:'");
    return kh_cur_hint(c, "write 'scenario: <what the scenario shows>'");
  }
  kh_scenario *sc = NULL;
  if ((rc = kh_cur_push(c, (void **)&f->scenarios, f->scenarios_len, sizeof *sc, (void **)&sc)) !=
      KF_OK)
    return rc;
  f->scenarios_len++;
  sc->pos.file = f->path;
  sc->pos.line = c->line;
  sc->pos.col = 1;
  if ((rc = kh_cur_intern(c, c->s + vstart, vlen, &sc->name)) != KF_OK)
    return rc;
  p->steps = &sc->steps;
  p->steps_len = &sc->steps_len;
  p->header_only = true;
  p->in_scenario = true;
  p->covers_seen = false;
  p->scenario_line = c->s;
  p->scenario_line_len = c->len;
  p->scenario_lineno = c->line;
  return KF_OK;
}

/* covers: and tags: share their rules; key says which. */
static kf_rc kh_hdr_words(kh_cur *c, const char *key, size_t vstart) {
  kh_parser *p = c->p;
  kh_file *f = p->file;
  bool covers = strcmp(key, "covers") == 0;
  if (!p->in_scenario) {
    (void)kh_cur_error_kind(c, 0, KH_DIAG_STRUCTURE, "'%s:' outside a scenario", key);
    return kh_cur_hint(c, "put it right after a 'scenario:' line");
  }
  if (!p->header_only) {
    (void)kh_cur_error_kind(c, 0, KH_DIAG_STRUCTURE, "'%s:' after the first step", key);
    return kh_cur_hint(c, "move it up, right after the 'scenario:' line");
  }
  kh_scenario *sc = &f->scenarios[f->scenarios_len - 1];
  size_t before = covers ? sc->covers_len : sc->tags_len;
  kf_rc rc = covers ? kh_split_words(c, &sc->covers, &sc->covers_len)
                    : kh_split_words(c, &sc->tags, &sc->tags_len);
  if (rc != KF_OK || !covers)
    return rc;
  if (sc->covers_len == before) {
    (void)kh_cur_error_kind(c, vstart, KH_DIAG_EXPECTED_TOKEN,
                            "expected at least one requirement ID after 'covers:'");
    return kh_cur_hint(c, "write for example 'covers: ACC-06 ACC-08'");
  }
  p->covers_seen = true;
  return KF_OK;
}

static kf_rc kh_hdr_covers(kh_cur *c, size_t vstart, size_t vlen) {
  (void)vlen;
  return kh_hdr_words(c, "covers", vstart);
}

static kf_rc kh_hdr_tags(kh_cur *c, size_t vstart, size_t vlen) {
  (void)vlen;
  return kh_hdr_words(c, "tags", vstart);
}

static kf_rc kh_hdr_fragment(kh_cur *c, size_t vstart, size_t vlen) {
  kh_parser *p = c->p;
  kh_file *f = p->file;
  if (f->scenarios_len > 0 || f->fragment != NULL) {
    (void)kh_cur_error_kind(c, 0, KH_DIAG_STRUCTURE, "'fragment:' in a file that already holds %s",
                            f->fragment ? "a fragment" : "scenarios");
    return kh_cur_hint(c, "a fragment file holds exactly one fragment and nothing else");
  }
  size_t n = 0;
  while (n < vlen && (kh_lex_is_word_char(c->s[vstart + n])))
    n++;
  if (n == 0 || n != vlen) {
    (void)kh_cur_error_kind(c, vstart + n, KH_DIAG_EXPECTED_NAME,
                            "expected a fragment name (letters, digits, '-', '_')");
    return kh_cur_hint(c, "write 'fragment: registered-account'");
  }
  if ((f->fragment = kf_calloc(1, sizeof *f->fragment)) == NULL)
    return KF_ERR_NOMEM;
  f->fragment->pos.file = f->path;
  f->fragment->pos.line = c->line;
  f->fragment->pos.col = 1;
  kf_rc rc = kh_cur_intern(c, c->s + vstart, n, &f->fragment->name);
  if (rc != KF_OK)
    return rc;
  p->steps = &f->fragment->steps;
  p->steps_len = &f->fragment->steps_len;
  p->header_only = true;
  return KF_OK;
}

static kf_rc kh_hdr_params(kh_cur *c, size_t vstart, size_t vlen) {
  (void)vlen;
  kh_parser *p = c->p;
  kh_fragment *fr = p->file->fragment;
  if (fr == NULL || !p->header_only) {
    (void)kh_cur_error_kind(c, 0, KH_DIAG_STRUCTURE, "'params:' outside a fragment header");
    return kh_cur_hint(c, "put 'params:' right after the 'fragment:' line");
  }
  size_t before = fr->params_len;
  kf_rc rc = kh_split_words(c, &fr->params, &fr->params_len);
  if (rc != KF_OK)
    return rc;
  for (size_t k = before; k < fr->params_len; k++) {
    for (size_t j = 0; j < k; j++) {
      if (strcmp(fr->params[j], fr->params[k]) == 0)
        return kh_cur_error_kind(c, vstart, KH_DIAG_DUPLICATE, "parameter '%.60s' listed twice",
                                 fr->params[k]);
    }
  }
  return KF_OK;
}

/* The header lines, by name; the value starts at vstart and is vlen bytes (trimmed). */
static const struct {
  const char *name;
  kf_rc (*parse)(kh_cur *c, size_t vstart, size_t vlen);
} KH_HEADERS[] = {
    {"scenario", kh_hdr_scenario}, {"covers", kh_hdr_covers}, {"tags", kh_hdr_tags},
    {"fragment", kh_hdr_fragment}, {"params", kh_hdr_params},
};

static kf_rc kh_parse_header(kh_cur *c, const char *key, size_t keylen) {
  c->i = keylen + 1;
  kh_cur_skip_blanks(c);
  size_t vstart = c->i;
  size_t vlen = kf_str_rtrim_len(c->s + vstart, c->len - vstart);
  for (size_t k = 0; k < sizeof KH_HEADERS / sizeof KH_HEADERS[0]; k++) {
    if (kh_lex_word_is(key, keylen, KH_HEADERS[k].name))
      return KH_HEADERS[k].parse(c, vstart, vlen);
  }
  (void)kh_cur_error_kind(c, 0, KH_DIAG_UNKNOWN_WORD, "unknown header '%.*s:'",
                          (int)(keylen > 40 ? 40 : keylen), key);
  static const char *const names[] = {"scenario", "covers", "tags", "fragment", "params", NULL};
  return kh_cur_hint_names(c, key, keylen, names, "headers");
}

/* ---- Step lines. ---- */

/* A new step of kind def at the cursor's line, its data allocated zeroed. */
static kf_rc kh_new_step(kh_cur *c, const kh_step_def *def, kh_step **out) {
  kh_parser *p = c->p;
  if (p->steps == NULL) {
    (void)kh_cur_error_kind(c, 0, KH_DIAG_STRUCTURE, "a step before 'scenario:'");
    return kh_cur_hint(
        c, "start the file with 'scenario: <name>' and 'covers: <IDs>' (or 'fragment: <name>')");
  }
  kh_step *step = NULL;
  kf_rc rc = kh_cur_push(c, (void **)p->steps, *p->steps_len, sizeof *step, (void **)&step);
  if (rc != KF_OK)
    return rc;
  (*p->steps_len)++;
  p->header_only = false;
  step->def = def;
  step->pos.file = p->file->path;
  step->pos.line = c->line;
  step->pos.col = 1;
  size_t srclen = kf_str_rtrim_len(c->s, c->len);
  if ((rc = kh_cur_intern(c, c->s, srclen, &step->source)) != KF_OK)
    return rc;
  if (def->data_size > 0 && (step->data = kf_calloc(1, def->data_size)) == NULL)
    return KF_ERR_NOMEM;
  *out = step;
  return KF_OK;
}

static kh_step *kh_current_step(kh_parser *p) {
  if (p->steps == NULL || *p->steps_len == 0 || p->header_only)
    return NULL;
  return &(*p->steps)[*p->steps_len - 1];
}

/* "let, GET, POST, ..., expect or capture" from the registry. */
static kf_rc kh_hint_steps(kh_cur *c) {
  char list[KH_PARSE_HINT_MAX - 32];
  kf_str_join(list, sizeof list, kh_steps_keywords(), ", ", " or ");
  return kh_cur_hint(c, "steps start with %s", list);
}

/* The error for a word in column 1 that starts no step. */
static kf_rc kh_unknown_step(kh_cur *c, const char *w, size_t n) {
  if (n == 0) {
    (void)kh_cur_error_kind(c, 0, KH_DIAG_EXPECTED_TOKEN, "expected a step");
    return kh_hint_steps(c);
  }
  (void)kh_cur_error_kind(c, 0, KH_DIAG_UNKNOWN_WORD, "unknown step '%.*s'", (int)(n > 40 ? 40 : n),
                          w);
  /* Methods are upper case; "get" is a likely slip, closer in intent than "let". */
  char up[16];
  if (n < sizeof up) {
    for (size_t k = 0; k < n; k++)
      up[k] = (w[k] >= 'a' && w[k] <= 'z') ? (char)(w[k] - 32) : w[k];
    if (kh_steps_find(up, n) != NULL)
      return kh_cur_hint(c, "did you mean '%.*s'?", (int)n, up);
  }
  /* Header names count too: "scenari" is a header without its colon. */
  static const char *const headers[] = {"scenario:", "covers:", "tags:", "fragment:", "params:"};
  const char *names[KH_PARSE_MAX_WORDS];
  size_t count = 0;
  for (size_t k = 0; k < sizeof headers / sizeof headers[0]; k++)
    names[count++] = headers[k];
  for (const char *const *k = kh_steps_keywords(); *k != NULL && count < KH_PARSE_MAX_WORDS; k++)
    names[count++] = *k;
  const char *near = kf_str_nearest(w, n, names, count);
  if (near != NULL)
    return kh_cur_hint(c, "did you mean '%s'?", near);
  return kh_hint_steps(c);
}

/* A line starting in column 1. */
static kf_rc kh_parse_step_line(kh_cur *c) {
  size_t n = 0;
  while (n < c->len &&
         (kh_lex_is_alpha(c->s[n]) || kh_lex_is_digit(c->s[n]) || c->s[n] == '_' || c->s[n] == '-'))
    n++;
  const char *w = c->s;
  if (n > 0 && n < c->len && c->s[n] == ':')
    return kh_parse_header(c, w, n);
  const kh_step_def *def = kh_steps_find(w, n);
  if (def == NULL)
    return kh_unknown_step(c, w, n);
  kh_step *step = NULL;
  kf_rc rc = kh_new_step(c, def, &step);
  if (rc != KF_OK)
    return rc;
  return def->parse(c, step, n);
}

/* "put it under a GET/POST/... line" for a sub-line that belongs to another kind. */
static kf_rc kh_subline_elsewhere(kh_cur *c, const kh_step_def *owner, const char *w, size_t n,
                                  size_t kw_at) {
  (void)kh_cur_error_kind(c, kw_at, KH_DIAG_STRUCTURE, "'%.*s' only follows %s", (int)n, w,
                          owner->what);
  char words[128];
  kf_str_join(words, sizeof words, owner->keywords, "/", "/");
  return kh_cur_hint(c, "put it under a %s line", words);
}

/* An indented line: a sub-line of the step above. */
static kf_rc kh_parse_subline(kh_cur *c) {
  kh_parser *p = c->p;
  kh_cur_skip_blanks(c);
  size_t kw_at = c->i;
  size_t n = kh_cur_peek_word(c);
  const char *w = c->s + c->i;
  kh_step *step = kh_current_step(p);
  if (step == NULL) {
    (void)kh_cur_error_kind(c, kw_at, KH_DIAG_STRUCTURE, "an indented line before any step");
    return kh_cur_hint(c, "indented lines continue the step above; start steps in column 1");
  }
  bool is_expect = kh_lex_word_is(w, n, "expect");
  if (is_expect || kh_lex_word_is(w, n, "capture")) {
    c->i += n;
    return kh_expr_parse_check(c, step, !is_expect, kw_at);
  }
  const kh_step_def *owner = n > 0 ? kh_steps_find_subline(w, n) : NULL;
  if (owner != NULL && owner != step->def)
    return kh_subline_elsewhere(c, owner, w, n, kw_at);
  if (owner != NULL) {
    c->i += n;
    return owner->parse_subline(c, step, kw_at, n);
  }
  if (n == 0)
    n = 1;
  (void)kh_cur_error_kind(c, kw_at, KH_DIAG_UNKNOWN_WORD, "unknown sub-line '%.*s'",
                          (int)(n > 40 ? 40 : n), w);
  return kh_cur_hint_names(c, w, n, kh_steps_sublines(), "sub-lines");
}

/* ---- Files. ---- */

static kf_rc kh_check_encoding(kh_parser *p) {
  const char *s;
  size_t len;
  kf_rc rc = KF_OK;
  while (rc == KF_OK && kh_parser_next_line(p, &s, &len)) {
    kh_cur c = {p, s, len, 0, p->lineno};
    const char *nul = memchr(s, '\0', len);
    if (nul != NULL) {
      rc = kh_cur_error_kind(&c, (size_t)(nul - s), KH_DIAG_ENCODING, "NUL byte in the source");
      /* The line shown must not contain the NUL: the diag stores C strings. */
      p->err_src_len = (size_t)(nul - s);
      (void)kh_cur_hint(&c, "write \\x00 inside a string to send a NUL byte");
      break;
    }
    if (!kf_utf8_valid(s, len)) {
      size_t k = 0;
      while (k < len) {
        uint32_t cp;
        size_t used = kf_utf8_decode(s + k, len - k, &cp);
        if (used == 0)
          break;
        k += used;
      }
      rc = kh_cur_error_kind(&c, k, KH_DIAG_ENCODING, "invalid UTF-8 in the source");
      p->err_src_len = k;
      (void)kh_cur_hint(&c, "save the file as UTF-8; write \\xNN inside a string for raw bytes");
    }
  }
  p->next = 0;
  p->lineno = 0;
  return rc;
}

static kf_rc kh_parse_all(kh_parser *p) {
  kf_rc rc = kh_check_encoding(p);
  if (rc != KF_OK)
    return rc;
  const char *s;
  size_t len;
  while (kh_parser_next_line(p, &s, &len)) {
    kh_cur c = {p, s, len, 0, p->lineno};
    size_t b = 0;
    while (b < len && kh_lex_is_blank(s[b]))
      b++;
    if (b == len || s[b] == '#')
      continue;
    rc = b == 0 ? kh_parse_step_line(&c) : kh_parse_subline(&c);
    if (rc != KF_OK)
      return rc;
  }
  if ((rc = kh_close_scenario(p)) != KF_OK)
    return rc;
  if (p->file->scenarios_len == 0 && p->file->fragment == NULL) {
    kh_cur c = {p, "", 0, 0, 1};
    (void)kh_cur_error(&c, 0, "no scenario in the file");
    return kh_cur_hint(&c,
                       "start with 'scenario: <name>' and 'covers: <IDs>', or 'fragment: <name>'");
  }
  return KF_OK;
}

static kf_rc kh_diag_from_parser(const kh_parser *p, const char *path, kh_diag *diag) {
  char *src =
      kf_memdup0(p->err_src != NULL ? p->err_src : "", p->err_src != NULL ? p->err_src_len : 0);
  if (src == NULL)
    return KF_ERR_NOMEM;
  kf_rc rc = kh_diag_set(diag, KH_SEV_ERROR, path, p->err_line, p->err_col, src,
                         p->err_hint[0] != '\0' ? p->err_hint : NULL, "%s", p->err_msg);
  kf_free(src);
  diag->kind = p->err_kind;
  return rc;
}

/*
 * Sealing a parsed file: the arrays the parser grew (scenarios, covers, tags,
 * steps, checks, filters) and every step's data are kept for the whole run,
 * and most are a few dozen bytes, so one exact block per file holds them all
 * instead of thousands of allocations with their headers and the doubling's
 * slack. The same walk first measures (move false), then moves (move true),
 * so the offsets agree.
 */

typedef struct kh_seal {
  char *block;
  size_t used;
  bool move;
} kh_seal;

/* An array of a known type is aligned for that type; a step's data as malloc would. */
static void kh_seal_one(kh_seal *s, void **arr, size_t bytes, size_t align) {
  if (*arr == NULL || bytes == 0)
    return;
  size_t at = (s->used + align - 1) / align * align;
  s->used = at + bytes;
  if (!s->move)
    return;
  memcpy(s->block + at, *arr, bytes);
  kf_free(*arr);
  *arr = s->block + at;
}

static void kh_seal_steps(kh_seal *s, kh_step **steps, size_t len) {
  kh_seal_one(s, (void **)steps, len * sizeof **steps, _Alignof(kh_step));
  for (size_t i = 0; i < len; i++) {
    kh_step *st = &(*steps)[i];
    kh_seal_one(s, &st->data, st->def->data_size, _Alignof(max_align_t));
    kh_seal_one(s, (void **)&st->checks, st->checks_len * sizeof *st->checks, _Alignof(kh_check));
    for (size_t k = 0; k < st->checks_len; k++) {
      kh_query *q = &st->checks[k].query;
      kh_seal_one(s, (void **)&q->filters, q->filters_len * sizeof *q->filters,
                  _Alignof(kh_filter));
    }
  }
}

static void kh_seal_walk(kh_seal *s, kh_file *f) {
  kh_seal_one(s, (void **)&f->scenarios, f->scenarios_len * sizeof *f->scenarios,
              _Alignof(kh_scenario));
  for (size_t i = 0; i < f->scenarios_len; i++) {
    kh_scenario *sc = &f->scenarios[i];
    kh_seal_one(s, (void **)&sc->covers, sc->covers_len * sizeof *sc->covers, _Alignof(char *));
    kh_seal_one(s, (void **)&sc->tags, sc->tags_len * sizeof *sc->tags, _Alignof(char *));
    kh_seal_steps(s, &sc->steps, sc->steps_len);
  }
  if (f->fragment != NULL) {
    kh_fragment *fr = f->fragment;
    kh_seal_one(s, (void **)&fr->params, fr->params_len * sizeof *fr->params, _Alignof(char *));
    kh_seal_steps(s, &fr->steps, fr->steps_len);
  }
}

/* On KF_ERR_NOMEM the file is as it was (unsealed), whole for kh_file_free. */
static kf_rc kh_seal_file(kh_file *f) {
  kh_seal s = {NULL, 0, false};
  kh_seal_walk(&s, f);
  if ((s.block = kf_malloc(s.used)) == NULL)
    return KF_ERR_NOMEM;
  f->block = s.block;
  f->block_size = s.used;
  s.used = 0;
  s.move = true;
  kh_seal_walk(&s, f);
  return KF_OK;
}

/* A file with its path, holding a reference to strings (a new table when NULL). */
static kf_rc kh_new_file(const char *path, kh_intern *strings, kh_file **out) {
  kh_file *f = kf_calloc(1, sizeof *f);
  if (f == NULL)
    return KF_ERR_NOMEM;
  kf_rc rc = KF_OK;
  if (strings != NULL)
    f->strings = kh_intern_ref(strings);
  else
    rc = kh_intern_new(&f->strings);
  if (rc == KF_OK)
    rc = kh_intern_get(f->strings, path, strlen(path), &f->path);
  if (rc != KF_OK) {
    kh_file_free(f);
    return rc == KF_ERR_LIMIT ? KF_ERR_NOMEM : rc;
  }
  *out = f;
  return KF_OK;
}

kf_rc kh_parse_text_in(const char *path, const char *text, size_t len, kh_intern *strings,
                       kh_file **out, kh_diag *diag) {
  assert(out != NULL && diag != NULL);
  *out = NULL;
  if (path == NULL)
    path = "<input>";
  if (text == NULL)
    len = 0;
  if (len > KH_MAX_FILE_BYTES) {
    if (kh_diag_set(diag, KH_SEV_ERROR, path, 1, 1, NULL, "split the scenarios into several files",
                    "file is larger than %u bytes", KH_MAX_FILE_BYTES) != KF_OK)
      return KF_ERR_NOMEM;
    return KF_ERR_PARSE;
  }
  kh_parser p;
  memset(&p, 0, sizeof p);
  p.text = text != NULL ? text : "";
  p.len = len;
  kf_rc rc = kh_new_file(path, strings, &p.file);
  if (rc != KF_OK)
    return rc;
  p.strings = p.file->strings;
  rc = kh_parse_all(&p);
  if (rc == KF_OK)
    rc = kh_seal_file(p.file);
  if (rc == KF_OK && crypto_generichash(p.file->digest, sizeof p.file->digest,
                                        (const unsigned char *)p.text, p.len, NULL, 0) != 0)
    rc = KF_ERR_INTERNAL;
  if (rc == KF_OK) {
    *out = p.file;
    return KF_OK;
  }
  kh_file_free(p.file);
  if (rc == KF_ERR_PARSE && kh_diag_from_parser(&p, path, diag) != KF_OK)
    return KF_ERR_NOMEM;
  if (rc == KF_ERR_LIMIT)
    rc = KF_ERR_NOMEM; /* Only buffer caps return it; treat as out of memory. */
  return rc;
}

kf_rc kh_parse_text(const char *path, const char *text, size_t len, kh_file **out, kh_diag *diag) {
  return kh_parse_text_in(path, text, len, NULL, out, diag);
}

kf_rc kh_parse_file_in(const char *path, kh_intern *strings, kh_file **out, kh_diag *diag) {
  assert(path != NULL && out != NULL && diag != NULL);
  *out = NULL;
  FILE *fp = fopen(path, "rb");
  if (fp == NULL) {
    int e = errno;
    if (kh_diag_set(diag, KH_SEV_ERROR, path, 0, 0, NULL, NULL, "cannot open: %s", strerror(e)) !=
        KF_OK)
      return KF_ERR_NOMEM;
    return KF_ERR_IO;
  }
  kf_buf b;
  kf_buf_init(&b, KH_MAX_FILE_BYTES + 1);
  char chunk[8192];
  kf_rc rc = KF_OK;
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) {
    rc = kf_buf_append(&b, chunk, n);
    if (rc != KF_OK)
      break;
  }
  bool failed = ferror(fp) != 0;
  fclose(fp);
  if (rc == KF_ERR_LIMIT) {
    kf_buf_release(&b);
    if (kh_diag_set(diag, KH_SEV_ERROR, path, 1, 1, NULL, "split the scenarios into several files",
                    "file is larger than %u bytes", KH_MAX_FILE_BYTES) != KF_OK)
      return KF_ERR_NOMEM;
    return KF_ERR_PARSE;
  }
  if (rc != KF_OK) {
    kf_buf_release(&b);
    return rc;
  }
  if (failed) {
    kf_buf_release(&b);
    if (kh_diag_set(diag, KH_SEV_ERROR, path, 0, 0, NULL, NULL, "read error") != KF_OK)
      return KF_ERR_NOMEM;
    return KF_ERR_IO;
  }
  rc = kh_parse_text_in(path, b.data, b.len, strings, out, diag);
  kf_buf_release(&b);
  return rc;
}

kf_rc kh_parse_file(const char *path, kh_file **out, kh_diag *diag) {
  return kh_parse_file_in(path, NULL, out, diag);
}
