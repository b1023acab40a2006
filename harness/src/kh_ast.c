/*
 * kh_ast.c: freeing the parsed form of scenario files.
 *
 * The parser keeps the tree consistent at every moment (every array element
 * below len is fully zero-initialised before it is filled), so this one
 * function cleans up both finished files and files abandoned half-way by a
 * parse error or a failed allocation. A step's own data is freed by its
 * kind's release function, so nothing here knows the kinds. The strings the
 * nodes point at belong to the file's string table (kh_intern.h): only the
 * arrays are freed here, and the table's reference is dropped last.
 * kh_file_drop_steps frees the steps of a file whose heads stay.
 */
#include "kh_ast.h"

#include <assert.h>

#include "kf/alloc.h"
#include "kh_intern.h"
#include "kh_step.h"
#include "kh_text.h"

void kh_template_release(kh_template *tpl) {
  tpl->text = NULL;
  tpl->len = 0;
}

void kh_literal_release(kh_literal *lit) {
  kh_template_release(&lit->str);
}

/* An array or a step's data: the file's block holds it once sealed, else it is its own. */
static void kh_node_free(bool sealed, void *p) {
  if (!sealed)
    kf_free(p);
}

static void kh_query_release(kh_query *query, bool sealed) {
  kh_template_release(&query->arg);
  kh_regex_free(query->re);
  query->re = NULL;
  for (size_t i = 0; i < query->filters_len; i++) {
    kh_template_release(&query->filters[i].arg);
    kh_regex_free(query->filters[i].re);
  }
  kh_node_free(sealed, query->filters);
  query->filters = NULL;
  query->filters_len = 0;
}

void kh_args_release(kh_arg *args, size_t len) {
  for (size_t i = 0; i < len; i++)
    kh_literal_release(&args[i].value);
  kf_free(args);
}

static void kh_step_release(kh_step *step, bool sealed) {
  if (step->data != NULL) {
    if (step->def != NULL && step->def->release != NULL)
      step->def->release(step->data);
    kh_node_free(sealed, step->data);
  }
  for (size_t i = 0; i < step->checks_len; i++) {
    kh_check *check = &step->checks[i];
    kh_query_release(&check->query, sealed);
    kh_literal_release(&check->pred.operand);
    kh_regex_free(check->pred.re);
  }
  kh_node_free(sealed, step->checks);
}

static void kh_steps_free(kh_step *steps, size_t len, bool sealed) {
  for (size_t i = 0; i < len; i++)
    kh_step_release(&steps[i], sealed);
  kh_node_free(sealed, steps);
}

void kh_file_free(kh_file *file) {
  if (file == NULL)
    return;
  bool sealed = file->block != NULL;
  /* The words of covers, tags and params are the table's; their arrays are nodes. */
  for (size_t i = 0; i < file->scenarios_len; i++) {
    kh_scenario *sc = &file->scenarios[i];
    kh_node_free(sealed, sc->covers);
    kh_node_free(sealed, sc->tags);
    kh_steps_free(sc->steps, sc->steps_len, sealed);
  }
  kh_node_free(sealed, file->scenarios);
  if (file->fragment != NULL) {
    kh_fragment *fr = file->fragment;
    kh_node_free(sealed, fr->params);
    kh_steps_free(fr->steps, fr->steps_len, sealed);
    kf_free(fr);
  }
  kf_free(file->block);
  kh_intern_unref(file->strings);
  kf_free(file);
}

/* The bytes of the heads' block: the scenarios, then the words of their covers and tags. */
static size_t kh_heads_size(const kh_file *file) {
  size_t words = 0;
  for (size_t i = 0; i < file->scenarios_len; i++)
    words += file->scenarios[i].covers_len + file->scenarios[i].tags_len;
  return file->scenarios_len * sizeof(kh_scenario) + words * sizeof(char *);
}

/* Copy n words of from into *at and move *at past them; returns where they went. */
static char **kh_heads_words(char ***at, char *const *from, size_t n) {
  char **to = *at;
  for (size_t i = 0; i < n; i++)
    to[i] = from[i];
  *at += n;
  return to;
}

kf_rc kh_file_drop_steps(kh_file *file) {
  assert(file != NULL);
  if (file->block == NULL || file->fragment != NULL || file->steps_dropped)
    return KF_OK;
  size_t size = kh_heads_size(file);
  /* kh_scenario's size is a multiple of a pointer's alignment, so the words follow aligned. */
  _Static_assert(sizeof(kh_scenario) % _Alignof(char *) == 0, "words after the heads");
  char *block = kf_malloc(size > 0 ? size : 1);
  if (block == NULL)
    return KF_ERR_NOMEM;
  kh_scenario *heads = (kh_scenario *)(void *)block;
  char **words = (char **)(void *)(block + file->scenarios_len * sizeof(kh_scenario));
  for (size_t i = 0; i < file->scenarios_len; i++) {
    const kh_scenario *sc = &file->scenarios[i];
    heads[i] = (kh_scenario){.name = sc->name, .pos = sc->pos};
    heads[i].covers = kh_heads_words(&words, sc->covers, sc->covers_len);
    heads[i].covers_len = sc->covers_len;
    heads[i].tags = kh_heads_words(&words, sc->tags, sc->tags_len);
    heads[i].tags_len = sc->tags_len;
    kh_steps_free(file->scenarios[i].steps, file->scenarios[i].steps_len, true);
  }
  kf_free(file->block);
  file->block = block;
  file->block_size = size;
  file->scenarios = heads;
  file->steps_dropped = true;
  return KF_OK;
}
