/*
 * kh_reload.h: a run's scenarios whose files dropped their steps after
 * loading (kh_suite_drop_steps), with their steps parsed again while they
 * run.
 *
 * A long suite kept whole holds every scenario's tree to the end of the run
 * (about 2 KB a scenario). With the steps dropped, the first selected
 * scenario of a file to start parses the file again (kh_suite_reparse), the
 * file's other selected scenarios share that parse, and the last of them to
 * finish frees it: workers take scenarios in load order, so a run holds
 * about one parsed file per worker. A scenario whose file kept its steps (a
 * suite that was not dropped, a file that is no regular file, a drop that
 * ran out of memory) is given as it is.
 *
 * Thread-safe: workers call acquire and release at any time.
 */
#ifndef KH_RELOAD_H
#define KH_RELOAD_H

#include <stddef.h>

#include "kf/error.h"
#include "kh_suite.h"

typedef struct kh_reload kh_reload;

/*
 * A reload for the entries a run selected (entries[0..n), borrowed, as the
 * suite, for the reload's life): each file is parsed for as many scenarios
 * as it has among them. *out is the caller's (kh_reload_free).
 */
kf_rc kh_reload_new(const kh_suite *suite, const kh_suite_entry *const *entries, size_t n,
                    kh_reload **out);

/*
 * The scenario of e with its steps, into *out (borrowed until
 * kh_reload_release of e). On failure (the file changed or cannot be read,
 * no memory) *out is NULL, err says why, and e needs no release.
 */
kf_rc kh_reload_acquire(kh_reload *r, const kh_suite_entry *e, const kh_scenario **out,
                        kf_err *err);

/* e has finished: after the last selected scenario of its file, the parse is freed. */
void kh_reload_release(kh_reload *r, const kh_suite_entry *e);

/* Frees every parse still held (scenarios a cancel kept from running). NULL is ignored. */
void kh_reload_free(kh_reload *r);

#endif
