/*
 * kh_steps.c: the table of step kinds (see kh_step.h). A new kind is one
 * kh_step_<kind>.c module and one row of KH_STEPS.
 */
#include "kh_step.h"

#include <pthread.h>
#include <string.h>

#include "kh_step_check.h"
#include "kh_step_clock.h"
#include "kh_step_http.h"
#include "kh_step_let.h"
#include "kh_step_passkey.h"
#include "kh_step_timing.h"
#include "kh_step_use.h"
#include "kh_step_wait.h"

/* In the order hints list them. */
static const kh_step_def *const KH_STEPS[] = {
    &kh_step_let, &kh_step_http,   &kh_step_wait,  &kh_step_clock,
    &kh_step_use, &kh_step_timing, &kh_step_check, &kh_step_passkey,
};

#define KH_STEPS_COUNT (sizeof KH_STEPS / sizeof KH_STEPS[0])
/* Room for every keyword and sub-line word of every row. */
#define KH_STEPS_WORDS_MAX 64

static const char *kh_steps_keyword_list[KH_STEPS_WORDS_MAX + 1];
static const char *kh_steps_subline_list[KH_STEPS_WORDS_MAX + 3];
static pthread_once_t kh_steps_once = PTHREAD_ONCE_INIT;

/* Collect the words of every row once; the lists are read-only afterwards. */
static void kh_steps_collect(void) {
  size_t k = 0, s = 0;
  for (size_t i = 0; i < KH_STEPS_COUNT; i++) {
    for (const char *const *w = KH_STEPS[i]->keywords; *w != NULL && k < KH_STEPS_WORDS_MAX; w++)
      kh_steps_keyword_list[k++] = *w;
    const char *const *sub = KH_STEPS[i]->sublines;
    for (; sub != NULL && *sub != NULL && s < KH_STEPS_WORDS_MAX; sub++)
      kh_steps_subline_list[s++] = *sub;
  }
  kh_steps_keyword_list[k] = NULL;
  kh_steps_subline_list[s++] = "expect";
  kh_steps_subline_list[s++] = "capture";
  kh_steps_subline_list[s] = NULL;
}

const kh_step_def *kh_steps_find(const char *w, size_t wlen) {
  for (size_t i = 0; i < KH_STEPS_COUNT; i++) {
    for (const char *const *k = KH_STEPS[i]->keywords; *k != NULL; k++) {
      if (kh_lex_word_is(w, wlen, *k))
        return KH_STEPS[i];
    }
  }
  return NULL;
}

const kh_step_def *kh_steps_find_subline(const char *w, size_t wlen) {
  for (size_t i = 0; i < KH_STEPS_COUNT; i++) {
    const char *const *sub = KH_STEPS[i]->sublines;
    for (; sub != NULL && *sub != NULL; sub++) {
      if (kh_lex_word_is(w, wlen, *sub))
        return KH_STEPS[i];
    }
  }
  return NULL;
}

const char *const *kh_steps_keywords(void) {
  pthread_once(&kh_steps_once, kh_steps_collect);
  return kh_steps_keyword_list;
}

const char *const *kh_steps_sublines(void) {
  pthread_once(&kh_steps_once, kh_steps_collect);
  return kh_steps_subline_list;
}

const kh_fragment *kh_step_fragment(const kh_step *step) {
  if (step->def == NULL || step->def->fragment == NULL)
    return NULL;
  return step->def->fragment(step);
}
