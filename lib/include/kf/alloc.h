/*
 * alloc.h: allocation wrappers with failure injection.
 *
 * konform's own code allocates through these so that a test can make the Nth
 * allocation fail and check that every error path cleans up (the SQLite way).
 * The counters are process-wide and thread-safe.
 */
#ifndef KF_ALLOC_H
#define KF_ALLOC_H

#include <stddef.h>

#include "kf/error.h"

/* Each returns NULL on failure (real or injected). Caller frees with kf_free. */
void *kf_malloc(size_t size);
void *kf_calloc(size_t count, size_t size);
void *kf_realloc(void *ptr, size_t size);
char *kf_strdup(const char *s);
char *kf_strndup(const char *s, size_t max_len);
/* Duplicates exactly len bytes and adds a terminating NUL. */
char *kf_memdup0(const void *data, size_t len);
void kf_free(void *ptr);

/*
 * Give the memory freed so far back to the system where the C library can
 * (glibc's malloc_trim; elsewhere nothing happens). For a program that has
 * just freed much that it will not need again (the harness after dropping a
 * suite's steps), so that what it allocates next does not add to it: threads
 * allocate from arenas of their own, which freed chunks of the main one do
 * not serve.
 */
void kf_alloc_trim(void);

/*
 * Room for one more element (elem bytes) in an array of *cap elements with
 * len in use: items itself when there is room, else a larger copy (first_cap
 * elements, then doubling; never more than max) with *cap updated and items
 * freed. NULL when len has reached max (*rc KF_ERR_LIMIT) or memory ran out
 * (*rc KF_ERR_NOMEM); items is then untouched. The caller stores the result
 * back: `T *n = kf_array_grow(a->items, &a->cap, a->len, sizeof *n, 16, MAX, &rc)`.
 */
void *kf_array_grow(void *items, size_t *cap, size_t len, size_t elem, size_t first_cap, size_t max,
                    kf_rc *rc);

/*
 * Make the n-th allocation from now fail (1 = the next one); every later one
 * succeeds again. 0 turns injection off.
 */
void kf_alloc_fail_at(unsigned long n);
/*
 * Make the n-th allocation from now and every one after it fail (the
 * "persistent" mode of SQLite's fault simulation: memory stays short), until
 * the next kf_alloc_fail_at or kf_alloc_fail_from call. 0 turns injection off.
 */
void kf_alloc_fail_from(unsigned long n);
/*
 * Stop injecting failures but keep kf_alloc_count and kf_alloc_failed as they
 * are, so a test can check what happened after it let the code clean up.
 */
void kf_alloc_fail_stop(void);
/* How many allocations were attempted since the last kf_alloc_fail_at call. */
unsigned long kf_alloc_count(void);
/* Whether an injected failure has happened since the last kf_alloc_fail_at. */
int kf_alloc_failed(void);

/*
 * Route jansson's allocations through these wrappers as well, so injected
 * failures reach JSON handling too. Call once at start-up.
 */
void kf_alloc_install_jansson(void);

#endif
