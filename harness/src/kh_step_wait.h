/*
 * kh_step_wait.h: `wait mail ...` and `wait letter ...`: a server-side
 * long-poll on a mock until an item matching the filters arrives; the item
 * becomes the mail or letter subject.
 *
 * What can be waited for is a table of targets in kh_step_wait.c: a word, the
 * subject it fills, the mock collection and the filters it takes. A new
 * collection (the Jobcenter team inboxes, say) is one row there.
 */
#ifndef KH_STEP_WAIT_H
#define KH_STEP_WAIT_H

#include <stdint.h>

#include "kh_ast.h"
#include "kh_step.h"

/* The most filters a target takes. */
#define KH_WAIT_MAX_FILTERS 4

struct kh_wait_target;

typedef struct kh_wait {
  const struct kh_wait_target *target;      /* Borrowed row. */
  kh_template filters[KH_WAIT_MAX_FILTERS]; /* By the target's filter order; text NULL: absent. */
  int64_t within_ms;                        /* 0 = the target's default. */
} kh_wait;

/* The word of the wait's target ("mail", "letter"). */
const char *kh_wait_target_word(const kh_wait *w);
/* The filter written with word (e.g. "to", "customer-number"), or NULL if the target has none. */
const kh_template *kh_wait_filter(const kh_wait *w, const char *word);

/*
 * The mock's query parameter of the target's i-th filter ("customer_number"),
 * *value what the scenario wrote for it (text NULL: absent); NULL past the last.
 */
const char *kh_wait_filter_param(const kh_wait *w, size_t i, const kh_template **value);

extern const kh_step_def kh_step_wait;

#endif
