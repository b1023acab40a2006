/*
 * kh_cmd_repro.c: `konform repro`: a scenario's steps (fragments inlined)
 * written as calls of the helpers in kh_repro_sh.c. A template becomes one sh
 * word: its literal pieces single-quoted, each {{name}} a "${v_name}" (with
 * kjson or kurl for a filter), so no value is ever parsed by the shell. What
 * the script cannot replay faithfully stops it (kstop, exit 2) or, for an
 * expectation, is a comment that says it is not checked.
 */
#include "kh_cmd_repro.h"

#include <errno.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/file.h"
#include "kf/str.h"
#include "kf/timeutil.h"
#include "kh_catalogue.h"
#include "kh_cmd_explain.h"
#include "kh_cmd_suite.h"
#include "kh_filter.h"
#include "kh_gen.h"
#include "kh_pred.h"
#include "kh_query.h"
#include "kh_repro_sh.h"
#include "kh_step.h"
#include "kh_step_check.h"
#include "kh_step_clock.h"
#include "kh_step_http.h"
#include "kh_step_let.h"
#include "kh_step_timing.h"
#include "kh_step_use.h"
#include "kh_step_wait.h"
#include "kh_vars.h"

#define KH_REPRO_MAX (16u << 20)
#define KH_REPRO_NAME_MAX 128

/* The writer's state: the script, the values known now, the variables defined so far. */
typedef struct kh_rp {
  kf_buf *out;
  kh_vars known;   /* Values known at export: built-ins and literal lets. */
  kh_vars defined; /* Every variable the script has set by now (values unused). */
  kh_gen_ctx gen;
  const kh_profile *profile;
  kf_rc rc; /* Sticky: the first failure to append. */
} kh_rp;

static void kh_rp_put(kh_rp *rp, const char *s) {
  if (rp->rc == KF_OK)
    rp->rc = kf_buf_append_str(rp->out, s);
}

static void kh_rp_putf(kh_rp *rp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void kh_rp_putf(kh_rp *rp, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (rp->rc == KF_OK)
    rp->rc = kf_buf_vappendf(rp->out, fmt, ap);
  va_end(ap);
}

/* The len bytes at s as one single-quoted sh word. KF_ERR_UNSUPPORTED for a NUL. */
static kf_rc kh_rp_quote(kh_rp *rp, const char *s, size_t len) {
  if (memchr(s, '\0', len) != NULL)
    return KF_ERR_UNSUPPORTED;
  kh_rp_put(rp, "'");
  for (size_t i = 0; i < len && rp->rc == KF_OK; i++)
    rp->rc = s[i] == '\'' ? kf_buf_append_str(rp->out, "'\\''") : kf_buf_append_byte(rp->out, s[i]);
  kh_rp_put(rp, "'");
  return KF_OK;
}

static void kh_rp_quote_str(kh_rp *rp, const char *s) {
  (void)kh_rp_quote(rp, s, strlen(s));
}

/* The sh variable of a scenario variable: v_ and the name with every other byte as '_'. */
static void kh_rp_shname(const char *name, size_t len, char *out, size_t size) {
  size_t n = 0;
  out[n++] = 'v';
  out[n++] = '_';
  for (size_t i = 0; i < len && n + 1 < size; i++) {
    char ch = name[i];
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
    out[n++] = ok ? ch : '_';
  }
  out[n] = '\0';
}

static void kh_rp_define(kh_rp *rp, const char *name) {
  if (rp->rc == KF_OK)
    rp->rc = kh_vars_set(&rp->defined, name, "", 0);
}

/*
 * The template as one sh word (the same splitting as kh_vars_expand).
 * KF_ERR_NOT_FOUND for a variable not defined at this point, KF_ERR_INVALID
 * for an unknown filter, KF_ERR_UNSUPPORTED for a NUL byte.
 */
static kf_rc kh_rp_word(kh_rp *rp, const kh_template *tpl) {
  const char *s = tpl->text != NULL ? tpl->text : "";
  size_t len = tpl->text != NULL ? tpl->len : 0, i = 0, from = 0, start = rp->out->len;
  while (i + 1 < len) {
    if (s[i] != '{' || s[i + 1] != '{') {
      i++;
      continue;
    }
    bool escape = i + 3 < len && s[i + 2] == '{' && s[i + 3] == '{';
    size_t close = i + 2;
    while (!escape && close + 1 < len && !(s[close] == '}' && s[close + 1] == '}'))
      close++;
    if (!escape && close + 1 >= len)
      break;
    if (i > from && kh_rp_quote(rp, s + from, i - from) != KF_OK)
      return KF_ERR_UNSUPPORTED;
    if (escape) {
      kh_rp_put(rp, "'{{'");
      i += 4;
      from = i;
      continue;
    }
    size_t a = i + 2, b = close;
    while (a < b && (s[a] == ' ' || s[a] == '\t'))
      a++;
    const char *bar = memchr(s + a, '|', b - a);
    size_t name_end = bar != NULL ? (size_t)(bar - s) : b, f = bar != NULL ? name_end + 1 : b;
    while (name_end > a && (s[name_end - 1] == ' ' || s[name_end - 1] == '\t'))
      name_end--;
    while (f < b && (s[f] == ' ' || s[f] == '\t'))
      f++;
    while (b > f && (s[b - 1] == ' ' || s[b - 1] == '\t'))
      b--;
    char name[KH_REPRO_NAME_MAX], sh[KH_REPRO_NAME_MAX + 2];
    if (kf_str_format(name, sizeof name, "%.*s", (int)(name_end - a), s + a) != KF_OK ||
        kh_vars_get(&rp->defined, name, NULL) == NULL)
      return KF_ERR_NOT_FOUND;
    kh_rp_shname(name, strlen(name), sh, sizeof sh);
    if (f >= b)
      kh_rp_putf(rp, "\"${%s}\"", sh);
    else if (b - f == 4 && memcmp(s + f, "json", 4) == 0)
      kh_rp_putf(rp, "\"$(kjson \"${%s}\")\"", sh);
    else if (b - f == 3 && memcmp(s + f, "url", 3) == 0)
      kh_rp_putf(rp, "\"$(kurl \"${%s}\")\"", sh);
    else
      return KF_ERR_INVALID;
    i = close + 2;
    from = i;
  }
  if (from < len && kh_rp_quote(rp, s + from, len - from) != KF_OK)
    return KF_ERR_UNSUPPORTED;
  /* Nothing written: the empty word. */
  if (rp->out->len == start)
    kh_rp_put(rp, "''");
  return KF_OK;
}

/* A step the script cannot replay: it stops there, saying why. */
static void kh_rp_stop(kh_rp *rp, const kh_pos *pos, const char *why) {
  char line[512];
  (void)kf_str_format(line, sizeof line, "%s:%u: the script cannot replay this: %s", pos->file,
                      pos->line, why);
  kh_rp_put(rp, "kstop ");
  kh_rp_quote_str(rp, line);
  kh_rp_put(rp, "\n");
}

/* Why a template could not become a word, for kh_rp_stop. */
static const char *kh_rp_why(kf_rc rc) {
  return rc == KF_ERR_NOT_FOUND     ? "it uses a variable that is not set at this point"
         : rc == KF_ERR_INVALID     ? "it uses an interpolation filter other than json or url"
         : rc == KF_ERR_UNSUPPORTED ? "it holds a NUL byte, which sh cannot pass on"
                                    : "the text cannot be written";
}

/* Write the word into a scratch buffer first, so a failure leaves no half line. */
static kf_rc kh_rp_word_to(kh_rp *rp, const kh_template *tpl, kf_buf *word) {
  kf_buf *keep = rp->out;
  rp->out = word;
  kf_rc rc = kh_rp_word(rp, tpl);
  rp->out = keep;
  return rc;
}

/* ---- expect and capture lines ---- */

/* Whether the len bytes at s hold a "{{" (a reference or its escape). */
static bool kh_rp_has_ref(const char *s, size_t len) {
  for (size_t i = 0; i + 1 < len; i++)
    if (s[i] == '{' && s[i + 1] == '{')
      return true;
  return false;
}

/* The compact JSON of v appended to out (json_dumpb: no allocation to free). */
static bool kh_rp_dump(const json_t *v, kf_buf *out) {
  char text[4096];
  size_t n = v != NULL ? json_dumpb(v, text, sizeof text, JSON_COMPACT) : 0;
  return n > 0 && n <= sizeof text && kf_buf_append(out, text, n) == KF_OK;
}

/* A JSON path ("$.a[0]", "$[\"b c\"]") as the JSON array of a jq path. false if it is not one. */
static bool kh_rp_jq_path(const kh_template *tpl, kf_buf *out) {
  const char *s = tpl->text != NULL ? tpl->text : "";
  size_t len = tpl->text != NULL ? tpl->len : 0, i = 1;
  if (len == 0 || s[0] != '$' || kh_rp_has_ref(s, len))
    return false;
  json_t *arr = json_array();
  bool ok = arr != NULL;
  while (ok && i < len) {
    if (s[i] == '.') {
      size_t j = ++i;
      while (j < len && s[j] != '.' && s[j] != '[')
        j++;
      ok = j > i && json_array_append_new(arr, json_stringn(s + i, j - i)) == 0;
      i = j;
    } else if (s[i] == '[' && i + 1 < len && s[i + 1] == '"') {
      const char *end = memchr(s + i + 2, '"', len - i - 2);
      ok = end != NULL && (size_t)(end - s) + 1 < len && end[1] == ']' &&
           json_array_append_new(arr, json_stringn(s + i + 2, (size_t)(end - s) - i - 2)) == 0;
      i = ok ? (size_t)(end - s) + 2 : len;
    } else if (s[i] == '[') {
      char *end = NULL;
      long long n = strtoll(s + i + 1, &end, 10);
      ok = end != NULL && end != s + i + 1 && *end == ']' &&
           json_array_append_new(arr, json_integer(n)) == 0;
      i = ok ? (size_t)(end - s) + 1 : len;
    } else {
      ok = false;
    }
  }
  ok = ok && kh_rp_dump(arr, out);
  json_decref(arr);
  return ok;
}

/* A document key of the mail or letter as a one-member jq path. */
static kf_rc kh_rp_key_query(kh_rp *rp, const char *doc, const char *key) {
  kh_rp_putf(rp, "kq_path \"$kdir/%s\" '[\"%s\"]'\n", doc, key);
  return KF_OK;
}

/* The shell call that leaves the query's value in $kdir/val; KF_ERR_UNSUPPORTED when none. */
static kf_rc kh_rp_query(kh_rp *rp, const kh_query *q, kf_buf *scratch) {
  const char *name = q->def->name;
  static const char *const mail_keys[] = {"from", "to", "subject", "date", "text", "html", "links"};
  static const char *const letter_keys[] = {"kind", "text", "date"};
  if (strcmp(name, "status") == 0 || strcmp(name, "body") == 0 || strcmp(name, "duration") == 0 ||
      strcmp(name, "headers") == 0) {
    kh_rp_putf(rp, "kq_%s\n", name);
    return KF_OK;
  }
  for (size_t i = 0; i < sizeof mail_keys / sizeof mail_keys[0]; i++)
    if (kf_str_starts_with(name, "mail.") && strcmp(name + 5, mail_keys[i]) == 0)
      return kh_rp_key_query(rp, "mail.json", mail_keys[i]);
  for (size_t i = 0; i < sizeof letter_keys / sizeof letter_keys[0]; i++)
    if (kf_str_starts_with(name, "letter.") && strcmp(name + 7, letter_keys[i]) == 0)
      return kh_rp_key_query(rp, "letter.json", letter_keys[i]);
  static const struct {
    const char *query, *doc;
  } paths[] = {{"json", "b"}, {"mail.json", "mail.json"}, {"letter.json", "letter.json"}};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    if (strcmp(name, paths[i].query) != 0)
      continue;
    kf_buf_reset(scratch);
    if (!kh_rp_jq_path(&q->arg, scratch))
      return KF_ERR_UNSUPPORTED;
    kh_rp_putf(rp, "kq_path \"$kdir/%s\" ", paths[i].doc);
    (void)kh_rp_quote(rp, scratch->data, scratch->len);
    kh_rp_put(rp, "\n");
    return KF_OK;
  }
  static const struct {
    const char *query, *call;
  } with_arg[] = {{"header", "kq_header"},
                  {"mail.header", "kq_mail_header"},
                  {"mail.header_raw", "kq_mail_header_raw"},
                  {"mail.link", "kq_mail_link"}};
  for (size_t i = 0; i < sizeof with_arg / sizeof with_arg[0]; i++) {
    if (strcmp(name, with_arg[i].query) != 0)
      continue;
    kf_buf_reset(scratch);
    kf_rc rc = kh_rp_word_to(rp, &q->arg, scratch);
    if (rc == KF_OK)
      kh_rp_putf(rp, "%s %s\n", with_arg[i].call, scratch->data);
    return rc;
  }
  if (strcmp(name, "letter.field") == 0 && q->arg.text != NULL &&
      !kh_rp_has_ref(q->arg.text, q->arg.len)) {
    json_t *p = json_pack("[ss#]", "fields", q->arg.text, q->arg.len);
    kf_buf_reset(scratch);
    bool ok = kh_rp_dump(p, scratch);
    json_decref(p);
    if (!ok)
      return KF_ERR_NOMEM;
    kh_rp_put(rp, "kq_path \"$kdir/letter.json\" ");
    (void)kh_rp_quote(rp, scratch->data, scratch->len);
    kh_rp_put(rp, "\n");
    return KF_OK;
  }
  if (strcmp(name, "var") == 0 && q->arg.text != NULL) {
    if (kh_vars_get(&rp->defined, q->arg.text, NULL) == NULL)
      return KF_ERR_NOT_FOUND;
    char sh[KH_REPRO_NAME_MAX + 2];
    kh_rp_shname(q->arg.text, q->arg.len, sh, sizeof sh);
    kh_rp_putf(rp, "kq_var \"${%s}\"\n", sh);
    return KF_OK;
  }
  return KF_ERR_UNSUPPORTED;
}

/* The filters of the language that jq can apply as konform does, by name. */
static const struct {
  const char *name, *jq;
} KH_RP_FILTERS[] = {
    {"count", "if type == \"array\" or type == \"object\" or type == \"string\" then length "
              "else kabs end"},
    {"lower", "if type == \"string\" then ascii_downcase else . end"},
    {"words", "if type == \"string\" then gsub(\"\\\\s+\"; \" \") | sub(\"^ \"; \"\") | "
              "sub(\" $\"; \"\") else . end"},
    {"regex", "[ktext | match($a)] | if length == 0 then kabs elif (.[0].captures | length) > 0 "
              "then .[0].captures[0].string else .[0].string end"},
    {"grep", "if type == \"array\" then map(select(ktext | test($a))) elif type == \"string\" "
             "then split(\"\\n\") | map(select(test($a))) else . end"},
};

static kf_rc kh_rp_filters(kh_rp *rp, const kh_query *q, kf_buf *scratch) {
  for (size_t i = 0; i < q->filters_len; i++) {
    const char *jq = NULL;
    for (size_t k = 0; k < sizeof KH_RP_FILTERS / sizeof KH_RP_FILTERS[0]; k++)
      if (strcmp(q->filters[i].def->name, KH_RP_FILTERS[k].name) == 0)
        jq = KH_RP_FILTERS[k].jq;
    if (jq == NULL)
      return KF_ERR_UNSUPPORTED;
    kf_buf_reset(scratch);
    kf_rc rc = kh_rp_word_to(rp, &q->filters[i].arg, scratch);
    if (rc != KF_OK)
      return rc;
    kh_rp_put(rp, "kfilter ");
    kh_rp_quote_str(rp, jq);
    kh_rp_putf(rp, " %s\n", scratch->data);
  }
  return KF_OK;
}

/* The predicates as jq tests of the value against $w (its type in $t). */
static const struct {
  const char *text, *jq;
} KH_RP_PREDS[] = {
    {"==", "if kabsent then false else keq($w; $t) end"},
    {"!=", "if kabsent then false else kne($w; $t) end"},
    {"<", "if kabsent then false else knum as $x | $x != null and $x < ($w | tonumber) end"},
    {"<=", "if kabsent then false else knum as $x | $x != null and $x <= ($w | tonumber) end"},
    {">", "if kabsent then false else knum as $x | $x != null and $x > ($w | tonumber) end"},
    {">=", "if kabsent then false else knum as $x | $x != null and $x >= ($w | tonumber) end"},
    {"contains", "if kabsent then false else kcontains($w) end"},
    {"not contains", "if kabsent then false else kcontains($w) | not end"},
    {"startswith", "if kabsent then false else type == \"string\" and startswith($w) end"},
    {"matches", "if kabsent then false else type == \"string\" and test($w) end"},
    {"not matches", "if kabsent then false else type == \"string\" and (test($w) | not) end"},
    {"exists", "kabsent | not"},
    {"not exists", "kabsent"},
    {"is-uuid",
     "if kabsent then false else type == \"string\" and "
     "test(\"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$\")"
     " end"},
    {"json-equals", "if kabsent then false else ((if type == \"string\" then (try fromjson catch "
                    "kabs) else . end) == (try ($w | fromjson) catch null)) end"},
};

/* The operand as a sh word and its type for keq ("string", "number", "bool", "null"). */
static kf_rc kh_rp_operand(kh_rp *rp, const kh_literal *lit, kf_buf *word, const char **type) {
  kf_buf_reset(word);
  switch (lit->kind) {
  case KH_LIT_STRING:
    *type = "string";
    return kh_rp_word_to(rp, &lit->str, word);
  case KH_LIT_NUMBER:
    *type = "number";
    return kf_buf_appendf(word, "'%lld'", lit->number);
  case KH_LIT_BOOL:
    *type = "bool";
    return kf_buf_append_str(word, lit->boolean ? "'true'" : "'false'");
  case KH_LIT_NULL:
    *type = "null";
    return kf_buf_append_str(word, "''");
  }
  return KF_ERR_INVALID;
}

/* The predicate call after the query; KF_ERR_UNSUPPORTED for one the table lacks. */
static kf_rc kh_rp_pred(kh_rp *rp, const kh_check *ck, kf_buf *scratch) {
  const char *jq = NULL;
  for (size_t k = 0; k < sizeof KH_RP_PREDS / sizeof KH_RP_PREDS[0]; k++)
    if (strcmp(ck->pred.def->text, KH_RP_PREDS[k].text) == 0)
      jq = KH_RP_PREDS[k].jq;
  if (jq == NULL)
    return KF_ERR_UNSUPPORTED;
  const char *type = "null";
  kf_rc rc = ck->pred.def->operand == KH_PRED_NO_OPERAND
                 ? (kf_buf_reset(scratch), kf_buf_append_str(scratch, "''"))
                 : kh_rp_operand(rp, &ck->pred.operand, scratch, &type);
  if (rc != KF_OK)
    return rc;
  char what[1024];
  (void)kf_str_format(what, sizeof what, "%s:%u: %s", ck->pos.file, ck->pos.line, ck->source);
  kh_rp_put(rp, "kexpect ");
  kh_rp_quote_str(rp, jq);
  kh_rp_putf(rp, " %s %s ", scratch->data, type);
  kh_rp_quote_str(rp, what);
  kh_rp_put(rp, "\n");
  return KF_OK;
}

/* One expect or capture: query, filters, then the predicate or the capture. */
static void kh_rp_check(kh_rp *rp, const kh_check *ck) {
  kf_buf line, scratch;
  kf_buf_init(&line, KH_REPRO_MAX);
  kf_buf_init(&scratch, KH_REPRO_MAX);
  kf_buf *keep = rp->out;
  rp->out = &line;
  kf_rc rc = kh_rp_query(rp, &ck->query, &scratch);
  if (rc == KF_OK)
    rc = kh_rp_filters(rp, &ck->query, &scratch);
  if (rc == KF_OK && !ck->is_capture)
    rc = kh_rp_pred(rp, ck, &scratch);
  char sh[KH_REPRO_NAME_MAX + 2], what[1024];
  if (rc == KF_OK && ck->is_capture) {
    kh_rp_shname(ck->capture_name, strlen(ck->capture_name), sh, sizeof sh);
    (void)kf_str_format(what, sizeof what, "%s:%u: %s", ck->pos.file, ck->pos.line, ck->source);
    kh_rp_putf(rp, "kcapture %s ", sh);
    kh_rp_quote_str(rp, what);
    kh_rp_put(rp, "\n");
    kh_rp_define(rp, ck->capture_name);
  }
  rp->out = keep;
  if (rc == KF_OK) {
    if (rp->rc == KF_OK)
      rp->rc = kf_buf_append(rp->out, line.data != NULL ? line.data : "", line.len);
  } else if (ck->is_capture || rc == KF_ERR_NOT_FOUND) {
    /* Later steps need the capture (or the harness would stop here too): stop, do not guess. */
    kh_rp_stop(rp, &ck->pos,
               rc == KF_ERR_UNSUPPORTED ? "sh and jq cannot compute this value" : kh_rp_why(rc));
  } else {
    char *one = kf_str_printf("%s", ck->source);
    for (char *p = one; p != NULL && *p != '\0'; p++)
      if (*p == '\n')
        *p = ' ';
    kh_rp_putf(rp, "# not checked by the script: %s:%u: %s (%s)\n", ck->pos.file, ck->pos.line,
               one != NULL ? one : "",
               rc == KF_ERR_UNSUPPORTED ? "sh and jq cannot evaluate it as konform does"
                                        : kh_rp_why(rc));
    kh_rp_putf(rp, "printf 'not checked by the script: %%s\\n' ");
    kh_rp_quote_str(rp, one != NULL ? one : "");
    kh_rp_put(rp, "\n");
    kf_free(one);
  }
  kf_buf_release(&line);
  kf_buf_release(&scratch);
}

static void kh_rp_checks(kh_rp *rp, const kh_step *step) {
  for (size_t i = 0; i < step->checks_len; i++)
    kh_rp_check(rp, &step->checks[i]);
}

/* ---- steps ---- */

static void kh_rp_steps(kh_rp *rp, const kh_step *steps, size_t n, int depth);

/* let: a generated value is computed now and written literally; a literal may wait for run time. */
static void kh_rp_let(kh_rp *rp, const kh_step *step) {
  const kh_let *let = step->data;
  char sh[KH_REPRO_NAME_MAX + 2];
  kh_rp_shname(let->name, strlen(let->name), sh, sizeof sh);
  kf_buf value;
  kf_buf_init(&value, KH_VAR_MAX_BYTES);
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = kh_let_value(let, &rp->gen, &rp->known, &value, &err);
  if (rc == KF_OK && kh_vars_set(&rp->known, let->name, value.data != NULL ? value.data : "",
                                 value.len) == KF_OK) {
    kh_rp_putf(rp, "%s=", sh);
    if (kh_rp_quote(rp, value.data != NULL ? value.data : "", value.len) != KF_OK)
      kh_rp_put(rp, "''\nkstop 'the value holds a NUL byte, which sh cannot pass on'");
    kh_rp_put(rp, "\n");
  } else if (!let->is_call && let->value.kind == KH_LIT_STRING) {
    /* It reads a value only the run has (a capture, clock.now): interpolated by the script. */
    kf_buf word;
    kf_buf_init(&word, KH_REPRO_MAX);
    rc = kh_rp_word_to(rp, &let->value.str, &word);
    if (rc == KF_OK)
      kh_rp_putf(rp, "%s=%s\n", sh, word.data);
    else
      kh_rp_stop(rp, &step->pos, kh_rp_why(rc));
    kf_buf_release(&word);
  } else {
    kh_rp_stop(rp, &step->pos, "a generator reads a value only the run has");
  }
  kh_rp_define(rp, let->name);
  kf_buf_release(&value);
}

/* Whether the request names a header itself (then `json` sets no Content-Type). */
static bool kh_rp_has_header(const kh_request *rq, const char *name) {
  for (size_t i = 0; i < rq->headers_len; i++)
    if (rq->headers[i].name.text != NULL && kf_str_eq_ci(rq->headers[i].name.text, name))
      return true;
  return false;
}

/* The curl arguments of a request, "set -- ..." lines, into line. */
static kf_rc kh_rp_request_args(kh_rp *rp, const kh_request *rq, kf_buf *word) {
  kh_rp_put(rp, "set --\n");
  for (size_t i = 0; i < rq->headers_len; i++) {
    kh_template both = {0};
    kf_buf b;
    kf_buf_init(&b, KH_REPRO_MAX);
    kf_rc rc = kf_buf_append(&b, rq->headers[i].name.text != NULL ? rq->headers[i].name.text : "",
                             rq->headers[i].name.len);
    if (rc == KF_OK)
      rc = kf_buf_append_str(&b, ": ");
    if (rc == KF_OK)
      rc = kf_buf_append(&b, rq->headers[i].value.text != NULL ? rq->headers[i].value.text : "",
                         rq->headers[i].value.len);
    both.text = b.data;
    both.len = b.len;
    kf_buf_reset(word);
    if (rc == KF_OK)
      rc = kh_rp_word_to(rp, &both, word);
    kf_buf_release(&b);
    if (rc != KF_OK)
      return rc;
    kh_rp_putf(rp, "set -- \"$@\" -H %s\n", word->data);
  }
  if (rq->body.text != NULL) {
    kf_buf_reset(word);
    kf_rc rc = kh_rp_word_to(rp, &rq->body, word);
    if (rc != KF_OK)
      return rc;
    kh_rp_putf(rp, "printf '%%s' %s >\"$kdir/req\"\n", word->data);
    kh_rp_put(rp, "set -- \"$@\" --data-binary \"@$kdir/req\"\n");
    if (rq->body_is_json && !kh_rp_has_header(rq, "Content-Type"))
      kh_rp_put(rp, "set -- \"$@\" -H 'Content-Type: application/json'\n");
  }
  long long timeout_s = rq->timeout_ms > 0 ? (rq->timeout_ms + 999) / 1000 : 30;
  kh_rp_putf(rp, "set -- \"$@\" --max-time %lld\n", timeout_s);
  kf_buf_reset(word);
  kf_rc rc = kh_rp_word_to(rp, &rq->url, word);
  if (rc == KF_OK)
    kh_rp_putf(rp, "ksend %s %s %s \"$@\"\n", rq->method, word->data,
               rq->no_clock ? "no-clock" : "clock");
  return rc;
}

static void kh_rp_http(kh_rp *rp, const kh_step *step) {
  const kh_request *rq = step->data;
  kf_buf lines, word;
  kf_buf_init(&lines, KH_REPRO_MAX);
  kf_buf_init(&word, KH_REPRO_MAX);
  kf_buf *keep = rp->out;
  rp->out = &lines;
  kf_rc rc = kh_rp_request_args(rp, rq, &word);
  rp->out = keep;
  if (rc == KF_OK && rp->rc == KF_OK)
    rp->rc = kf_buf_append(rp->out, lines.data != NULL ? lines.data : "", lines.len);
  else if (rc != KF_OK)
    kh_rp_stop(rp, &step->pos, kh_rp_why(rc));
  kf_buf_release(&lines);
  kf_buf_release(&word);
  kh_rp_checks(rp, step);
}

static void kh_rp_wait(kh_rp *rp, const kh_step *step) {
  const kh_wait *w = step->data;
  const char *target = kh_wait_target_word(w);
  bool mail = strcmp(target, "mail") == 0;
  kf_buf query, word;
  kf_buf_init(&query, KH_REPRO_MAX);
  kf_buf_init(&word, KH_REPRO_MAX);
  kf_rc rc = kf_buf_append_str(&query, "kq=''");
  /* The filters and their mock parameters are kh_step_wait's table (docs/mocks-openapi.yaml). */
  const kh_template *f = NULL;
  const char *param = NULL;
  for (size_t i = 0; rc == KF_OK && (param = kh_wait_filter_param(w, i, &f)) != NULL; i++) {
    if (f->text == NULL)
      continue;
    kf_buf_reset(&word);
    rc = kh_rp_word_to(rp, f, &word);
    if (rc == KF_OK)
      rc = kf_buf_appendf(&query, "\"&%s=$(kurl %s)\"", param, word.data);
  }
  int64_t within = w->within_ms > 0 ? w->within_ms : rp->profile->wait_timeout_ms;
  if (within > 120000)
    within = 120000;
  if (rc != KF_OK) {
    kh_rp_stop(rp, &step->pos, kh_rp_why(rc));
  } else {
    const char *api = mail ? "$KONFORM_MAIL_API" : "$KONFORM_POST_API";
    const char *doc = mail ? "mail.json" : "letter.json";
    const char *seen = mail ? "kseen_mail" : "kseen_letter";
    kh_rp_putf(rp, "[ -n \"%s\" ] || kstop 'the profile has no %s'\n%s\n", api,
               mail ? "mail_api" : "post_api", query.data);
    kh_rp_putf(rp,
               "kwait \"%s\" %s \"$%s\" %lld \"$kq\" \"$kdir/%s\" || kfail '%s:%u: no %s "
               "matching the wait within %lld ms'\n%s=$(jq -r .id \"$kdir/%s\")\n",
               api, mail ? "messages" : "letters", seen, (long long)within, doc, step->pos.file,
               step->pos.line, target, (long long)within, seen, doc);
  }
  kf_buf_release(&query);
  kf_buf_release(&word);
  kh_rp_checks(rp, step);
}

/* An ISO time of a clock step, known now; -1 when it reads a value only the run has. */
static int64_t kh_rp_iso(kh_rp *rp, const kh_template *iso) {
  kf_buf b;
  kf_buf_init(&b, 256);
  kf_err err;
  kf_err_init(&err);
  int64_t t = -1;
  if (kh_vars_expand(&rp->known, iso, &b, &err) != KF_OK ||
      kf_time_parse_iso(b.data != NULL ? b.data : "", &t) != KF_OK)
    t = -1;
  kf_buf_release(&b);
  return t;
}

static void kh_rp_clock(kh_rp *rp, const kh_step *step) {
  const kh_clock_step *cs = step->data;
  int64_t t = cs->op == KH_CLOCK_CREATE || cs->op == KH_CLOCK_SET ? kh_rp_iso(rp, &cs->iso) : 0;
  if (t < 0) {
    kh_rp_stop(rp, &step->pos, "the time is not a literal ISO 8601 UTC time");
  } else if (cs->op == KH_CLOCK_CREATE) {
    kh_rp_putf(rp, "kclock_call /test/v1/clocks '{\"frozen_time\": %lld}'\n", (long long)t);
  } else if (cs->op == KH_CLOCK_CREATE_NOW) {
    kh_rp_put(rp, "kclock_call /test/v1/clocks \"{\\\"frozen_time\\\": $(date +%s)}\"\n");
  } else if (cs->op == KH_CLOCK_ADVANCE) {
    kh_rp_putf(rp, "kclock_call \"/test/v1/clocks/$kclock/advance\" '{\"seconds\": %lld}'\n",
               (long long)(cs->advance_ms / 1000));
  } else {
    kh_rp_putf(rp, "kclock_call \"/test/v1/clocks/$kclock/advance\" '{\"frozen_time\": %lld}'\n",
               (long long)t);
  }
  kh_rp_define(rp, "clock.now");
  kh_rp_checks(rp, step);
}

/* use: the fragment's parameters set, then its steps, as the harness shares its variables. */
static void kh_rp_use(kh_rp *rp, const kh_step *step, int depth) {
  const kh_use *u = step->data;
  kf_buf word;
  kf_buf_init(&word, KH_REPRO_MAX);
  kf_rc rc = u->resolved != NULL ? KF_OK : KF_ERR_NOT_FOUND;
  for (size_t i = 0; rc == KF_OK && i < u->args_len; i++) {
    char sh[KH_REPRO_NAME_MAX + 2];
    kh_rp_shname(u->args[i].name, strlen(u->args[i].name), sh, sizeof sh);
    kf_buf_reset(&word);
    rc = kh_rp_operand(rp, &u->args[i].value, &word, &(const char *){NULL});
    if (rc == KF_OK)
      kh_rp_putf(rp, "%s=%s\n", sh, word.data);
    kf_buf known;
    kf_buf_init(&known, KH_VAR_MAX_BYTES);
    kf_err err;
    kf_err_init(&err);
    /* A parameter known now stays usable by the fragment's generators. */
    if (rc == KF_OK && kh_vars_literal(&rp->known, &u->args[i].value, &known, &err) == KF_OK)
      rc =
          kh_vars_set(&rp->known, u->args[i].name, known.data != NULL ? known.data : "", known.len);
    kf_buf_release(&known);
    kh_rp_define(rp, u->args[i].name);
  }
  kf_buf_release(&word);
  if (rc != KF_OK) {
    kh_rp_stop(rp, &step->pos, kh_rp_why(rc));
    return;
  }
  kh_rp_putf(rp, "# use %s (%s:%u)\n", u->fragment_name, u->resolved->pos.file,
             u->resolved->pos.line);
  kh_rp_steps(rp, u->resolved->steps, u->resolved->steps_len, depth + 1);
  kh_rp_checks(rp, step);
}

/* A timing step measures response times: sh cannot decide that as konform does. */
static void kh_rp_timing(kh_rp *rp, const kh_step *step) {
  kh_rp_put(rp, "# not replayed by the script: a timing step (konform's statistics decide it)\n");
  for (size_t i = 0; i < step->checks_len; i++) {
    kh_rp_putf(rp, "# not checked by the script: %s:%u: %s\n", step->checks[i].pos.file,
               step->checks[i].pos.line, step->checks[i].source);
    kh_rp_put(rp, "printf 'not checked by the script: %s\\n' ");
    kh_rp_quote_str(rp, step->checks[i].source);
    kh_rp_put(rp, "\n");
  }
}

static void kh_rp_step(kh_rp *rp, const kh_step *step, int depth) {
  char *one = kf_str_printf("%s", step->source != NULL ? step->source : "");
  for (char *p = one; p != NULL && *p != '\0'; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
  kh_rp_putf(rp, "\n# %s:%u: %s\n", step->pos.file, step->pos.line, one != NULL ? one : "");
  kf_free(one);
  if (step->def == &kh_step_let)
    kh_rp_let(rp, step);
  else if (step->def == &kh_step_http)
    kh_rp_http(rp, step);
  else if (step->def == &kh_step_wait)
    kh_rp_wait(rp, step);
  else if (step->def == &kh_step_clock)
    kh_rp_clock(rp, step);
  else if (step->def == &kh_step_use)
    kh_rp_use(rp, step, depth);
  else if (step->def == &kh_step_check)
    kh_rp_checks(rp, step);
  else if (step->def == &kh_step_timing)
    kh_rp_timing(rp, step);
  else
    kh_rp_stop(rp, &step->pos, "the script knows no such step");
}

static void kh_rp_steps(kh_rp *rp, const kh_step *steps, size_t n, int depth) {
  for (size_t i = 0; i < n && depth <= KH_SUITE_MAX_DEPTH; i++)
    kh_rp_step(rp, &steps[i], depth);
}

/* ---- the script ---- */

/* The built-in variables, known now and set in the script (the URLs from the environment). */
static void kh_rp_builtins(kh_rp *rp, const kh_scenario *sc, uint64_t seed, uint64_t run_id) {
  const kh_profile *p = rp->profile;
  char name[KH_REPRO_NAME_MAX], sh[KH_REPRO_NAME_MAX + 2], num[32];
  for (size_t i = 0; i < p->len; i++) {
    if (kf_str_format(name, sizeof name, "target.%s", p->entries[i].key) != KF_OK)
      continue;
    kh_rp_shname(name, strlen(name), sh, sizeof sh);
    kh_rp_putf(rp, "%s=", sh);
    kh_rp_quote_str(rp, p->entries[i].value);
    kh_rp_put(rp, "\n");
    kh_rp_define(rp, name);
    if (rp->rc == KF_OK)
      rp->rc = kh_vars_set(&rp->known, name, p->entries[i].value, strlen(p->entries[i].value));
  }
  kh_rp_put(rp,
            "v_target_base_url=$KONFORM_BASE_URL\nv_target_mail_api=$KONFORM_MAIL_API\n"
            "v_target_post_api=$KONFORM_POST_API\nv_target_public_url=${KONFORM_PUBLIC_URL%/}\n");
  static const char *const urls[] = {"target.base_url", "target.public_url"};
  const char *values[] = {p->base_url, p->public_url != NULL ? p->public_url : p->base_url};
  for (size_t i = 0; i < 2; i++) {
    kh_rp_define(rp, urls[i]);
    if (rp->rc == KF_OK)
      rp->rc = kh_vars_set(&rp->known, urls[i], values[i], strlen(values[i]));
  }
  const char *names[] = {"run.seed", "run.id", "scenario.name"};
  for (size_t i = 0; i < 3; i++) {
    const char *v = sc->name;
    if (i < 2)
      (void)kf_str_format(num, sizeof num, i == 0 ? "%" PRIu64 : "%016" PRIx64,
                          i == 0 ? seed : run_id);
    if (i < 2)
      v = num;
    kh_rp_shname(names[i], strlen(names[i]), sh, sizeof sh);
    kh_rp_putf(rp, "%s=", sh);
    kh_rp_quote_str(rp, v);
    kh_rp_put(rp, "\n");
    kh_rp_define(rp, names[i]);
    if (rp->rc == KF_OK)
      rp->rc = kh_vars_set(&rp->known, names[i], v, strlen(v));
  }
}

/* "NAME=${NAME:-value}": the profile's URL unless the environment names another. */
static void kh_rp_env(kh_rp *rp, const char *var, const char *value) {
  kh_rp_putf(rp, "%s=${%s:-", var, var);
  kh_rp_quote_str(rp, value != NULL ? value : "");
  kh_rp_put(rp, "}\n");
}

static void kh_rp_head(kh_rp *rp, const kh_suite_entry *entry, uint64_t seed, uint64_t run_id) {
  const kh_scenario *sc = entry->scenario;
  const kh_profile *p = rp->profile;
  kh_rp_putf(rp,
             "#!/bin/sh\n# konform repro: one scenario replayed with curl and jq.\n#\n"
             "# scenario: %s\n# at:       %s:%u\n# seed %" PRIu64 ", run id %016" PRIx64
             " (the identities below are those `konform run --seed %" PRIu64 " --run-id %016" PRIx64
             "` makes)\n#\n"
             "# Run: sh this-file. Exit 0: every expectation held; 1: the first that did not,\n"
             "# with its file:line; 2: the script could not go on. Every response is printed.\n"
             "# KONFORM_BASE_URL, KONFORM_MAIL_API, KONFORM_POST_API and KONFORM_PUBLIC_URL name\n"
             "# another target. Regexes are jq's (Oniguruma); konform's are POSIX extended.\n"
             "# Lines \"not checked by the script\" are expectations only konform can check.\n"
             "set -u\n",
             sc->name, entry->file->path, sc->pos.line, seed, run_id, seed, run_id);
  kh_rp_env(rp, "KONFORM_BASE_URL", p->base_url);
  kh_rp_env(rp, "KONFORM_MAIL_API", p->mail_api);
  kh_rp_env(rp, "KONFORM_POST_API", p->post_api);
  kh_rp_put(rp, "KONFORM_PUBLIC_URL=${KONFORM_PUBLIC_URL:-");
  if (p->public_url != NULL && kh_profile_get(p, "public_url") != NULL)
    kh_rp_quote_str(rp, p->public_url);
  else
    kh_rp_put(rp, "$KONFORM_BASE_URL");
  kh_rp_put(rp, "}\n");
  kh_rp_env(rp, "KONFORM_CLOCK_HEADER",
            p->clock_header != NULL ? p->clock_header : "Konform-Clock");
  kh_rp_put(rp, KH_REPRO_SH_HELPERS);
  kh_rp_put(rp, "# Waits see only what arrives from now on, as in a run.\n"
                "[ -z \"$KONFORM_MAIL_API\" ] || kseen_mail=$(curl -sS \"$KONFORM_MAIL_API/api/v1/"
                "health\" | jq -r '.last_id // 0') || kstop 'the mail mock did not answer'\n"
                "[ -z \"$KONFORM_POST_API\" ] || kseen_letter=$(curl -sS \"$KONFORM_POST_API/api/"
                "v1/health\" | jq -r '.last_id // 0') || kstop 'the post mock did not answer'\n");
  kh_rp_builtins(rp, sc, seed, run_id);
}

kf_rc kh_cmd_repro_script(const kh_suite_entry *entry, const kh_profile *profile, uint64_t seed,
                          uint64_t run_id, kf_buf *out, kf_err *err) {
  kh_rp rp = {.out = out, .profile = profile, .rc = KF_OK};
  kh_vars_init(&rp.known);
  kh_vars_init(&rp.defined);
  kh_gen_ctx_init(&rp.gen, seed, run_id, entry->index);
  kh_rp_head(&rp, entry, seed, run_id);
  kh_rp_steps(&rp, entry->scenario->steps, entry->scenario->steps_len, 0);
  kh_rp_putf(&rp, "\nprintf '\\nPASS %%s\\n' ");
  kh_rp_quote_str(&rp, entry->scenario->name);
  kh_rp_put(&rp, "\n");
  kh_vars_release(&rp.known);
  kh_vars_release(&rp.defined);
  if (rp.rc != KF_OK)
    return kf_err_set(err, rp.rc, "cannot write the script: %s", kf_rc_name(rp.rc));
  return KF_OK;
}

/*
 * The scenario named exactly name, else the only one whose name contains it;
 * else the candidates (or the nearest short name) are printed.
 */
static const kh_suite_entry *kh_repro_find(const kh_suite *suite, const char *name) {
  const char *names[4096];
  size_t n = 0, containing = 0;
  const kh_suite_entry *only = NULL;
  for (size_t i = 0; i < suite->entries_len; i++) {
    const char *sc = suite->entries[i].scenario->name;
    if (strcmp(sc, name) == 0)
      return &suite->entries[i];
    if (strstr(sc, name) != NULL && containing++ == 0)
      only = &suite->entries[i];
    if (n < sizeof names / sizeof names[0])
      names[n++] = sc;
  }
  if (containing == 1)
    return only;
  const char *near = kf_str_nearest(name, strlen(name), names, n);
  fprintf(stderr, "konform: no scenario is named \"%s\"%s%s%s%s\n", name,
          containing > 1 ? " and several contain it" : "", near != NULL ? "; did you mean \"" : "",
          near != NULL ? near : "", near != NULL ? "\"?" : "");
  for (size_t i = 0, shown = 0; containing > 1 && i < suite->entries_len && shown < 5; i++) {
    const kh_suite_entry *e = &suite->entries[i];
    if (strstr(e->scenario->name, name) != NULL && ++shown)
      fprintf(stderr, "  %s:%u\t%s\n", e->file->path, e->scenario->pos.line, e->scenario->name);
  }
  return NULL;
}

/* Write the script to path (executable), or to stdout without -o. */
static int kh_repro_write(const char *path, const kf_buf *script) {
  if (path == NULL) {
    fwrite(script->data, 1, script->len, stdout);
    return KH_EXIT_OK;
  }
  FILE *f = fopen(path, "w");
  bool ok = f != NULL && fwrite(script->data, 1, script->len, f) == script->len;
  ok = f != NULL && fclose(f) == 0 && ok;
  /* Only a file of its own becomes executable (never, say, /dev/stdout). */
  struct stat st;
  if (ok && stat(path, &st) == 0 && S_ISREG(st.st_mode) && chmod(path, 0755) != 0)
    ok = false;
  if (!ok) {
    fprintf(stderr, "konform: cannot write %s: %s\n", path, strerror(errno));
    return KH_EXIT_USAGE;
  }
  return KH_EXIT_OK;
}

/* The profile with the catalogue's defaults, and the seed and run id (given, or random). */
static int kh_repro_target(const kh_cli_options *o, kh_cmd_suite *s, kh_profile *profile) {
  const char *label = NULL;
  int code = kh_cmd_explain_profile(o, s->have_cat ? s->cat_path : "scenarios/catalogue.json",
                                    profile, &label);
  if (code == KH_EXIT_OK && label == NULL) {
    fprintf(stderr, "konform: no reference profile found; name the target with --target FILE\n");
    code = KH_EXIT_USAGE;
  }
  kf_err err;
  kf_err_init(&err);
  if (code == KH_EXIT_OK && s->have_cat &&
      kh_catalogue_fill_defaults(&s->cat, profile, NULL, &err) != KF_OK) {
    fprintf(stderr, "konform: %s\n", err.message);
    code = KH_EXIT_USAGE;
  }
  return code;
}

int kh_cmd_repro(const kh_cli_options *o) {
  kh_cli_options sub;
  if (kh_cmd_suite_args(o, "repro wants a scenario's name (konform repro \"NAME\" -o s.sh)",
                        &sub) != KH_EXIT_OK)
    return KH_EXIT_USAGE;
  kh_cmd_suite s;
  kh_cmd_suite_init(&s);
  kh_profile profile;
  kh_profile_init(&profile);
  int code = kh_cmd_suite_load_scenarios(&sub, &s);
  if (code == KH_EXIT_OK)
    code = kh_cmd_suite_load_catalogue(&sub, &s);
  const kh_suite_entry *entry = code == KH_EXIT_OK ? kh_repro_find(&s.suite, o->paths[0]) : NULL;
  if (code == KH_EXIT_OK && entry == NULL)
    code = KH_EXIT_USAGE;
  if (code == KH_EXIT_OK)
    code = kh_repro_target(o, &s, &profile);
  uint64_t seed = o->seed, run_id = o->run_id;
  if (!o->has_seed) {
    randombytes_buf(&seed, sizeof seed);
    seed &= ((uint64_t)1 << 53) - 1;
  }
  if (!o->has_run_id)
    randombytes_buf(&run_id, sizeof run_id);
  kf_buf script;
  kf_buf_init(&script, KH_REPRO_MAX);
  kf_err err;
  kf_err_init(&err);
  if (code == KH_EXIT_OK &&
      kh_cmd_repro_script(entry, &profile, seed, run_id, &script, &err) != KF_OK) {
    fprintf(stderr, "konform: %s\n", err.message);
    code = KH_EXIT_USAGE;
  }
  if (code == KH_EXIT_OK)
    code = kh_repro_write(o->output, &script);
  if (code == KH_EXIT_OK && o->output != NULL)
    fprintf(stderr,
            "konform: wrote %s (seed %" PRIu64 ", run id %016" PRIx64 "); run it with sh %s\n",
            o->output, seed, run_id, o->output);
  kf_buf_release(&script);
  kh_profile_release(&profile);
  kh_cmd_suite_release(&s);
  return code;
}
