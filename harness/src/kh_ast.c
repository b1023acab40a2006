/*
 * kh_ast.c: freeing the parsed form of scenario files.
 *
 * The parser keeps the tree consistent at every moment (every array element
 * below len is fully zero-initialised before it is filled), so this one
 * function cleans up both finished files and files abandoned half-way by a
 * parse error or a failed allocation. A step's own data is freed by its
 * kind's release function, so nothing here knows the kinds.
 */
#include "kh_ast.h"

#include "kf/alloc.h"
#include "kh_step.h"
#include "kh_text.h"

void kh_template_release(kh_template *tpl) {
  kf_free(tpl->text);
  tpl->text = NULL;
  tpl->len = 0;
}

void kh_literal_release(kh_literal *lit) {
  kh_template_release(&lit->str);
}

static void kh_query_release(kh_query *query) {
  kh_template_release(&query->arg);
  kh_regex_free(query->re);
  query->re = NULL;
  for (size_t i = 0; i < query->filters_len; i++) {
    kh_template_release(&query->filters[i].arg);
    kh_regex_free(query->filters[i].re);
  }
  kf_free(query->filters);
  query->filters = NULL;
  query->filters_len = 0;
}

void kh_args_release(kh_arg *args, size_t len) {
  for (size_t i = 0; i < len; i++) {
    kf_free(args[i].name);
    kh_literal_release(&args[i].value);
  }
  kf_free(args);
}

static void kh_step_release(kh_step *step) {
  if (step->data != NULL) {
    if (step->def != NULL && step->def->release != NULL)
      step->def->release(step->data);
    kf_free(step->data);
  }
  kf_free(step->source);
  for (size_t i = 0; i < step->checks_len; i++) {
    kh_check *check = &step->checks[i];
    kf_free(check->source);
    kf_free(check->capture_name);
    kh_query_release(&check->query);
    kh_literal_release(&check->pred.operand);
    kh_regex_free(check->pred.re);
  }
  kf_free(step->checks);
}

static void kh_steps_free(kh_step *steps, size_t len) {
  for (size_t i = 0; i < len; i++)
    kh_step_release(&steps[i]);
  kf_free(steps);
}

static void kh_words_free(char **words, size_t len) {
  for (size_t i = 0; i < len; i++)
    kf_free(words[i]);
  kf_free(words);
}

void kh_file_free(kh_file *file) {
  if (file == NULL)
    return;
  for (size_t i = 0; i < file->scenarios_len; i++) {
    kh_scenario *sc = &file->scenarios[i];
    kf_free(sc->name);
    kh_words_free(sc->covers, sc->covers_len);
    kh_words_free(sc->tags, sc->tags_len);
    kh_steps_free(sc->steps, sc->steps_len);
  }
  kf_free(file->scenarios);
  if (file->fragment != NULL) {
    kh_fragment *fr = file->fragment;
    kf_free(fr->name);
    kh_words_free(fr->params, fr->params_len);
    kh_steps_free(fr->steps, fr->steps_len);
    kf_free(fr);
  }
  kf_free(file->path);
  kf_free(file);
}
