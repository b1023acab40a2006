/*
 * alloc.c: allocation wrappers with failure injection (see kf/alloc.h).
 *
 * The counters are atomics so tests that fail "the n-th allocation" also work
 * when the code under test allocates from several threads.
 */
#include "kf/alloc.h"

#include <jansson.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static atomic_ulong alloc_count;
static atomic_ulong alloc_fail_target;
static atomic_int alloc_fail_persistent;
static atomic_int alloc_did_fail;

/* Decide whether this allocation is the one chosen to fail. */
static int alloc_should_fail(void) {
  unsigned long target = atomic_load(&alloc_fail_target);
  unsigned long n = atomic_fetch_add(&alloc_count, 1) + 1;
  bool hit = atomic_load(&alloc_fail_persistent) ? n >= target : n == target;
  if (target != 0 && hit) {
    atomic_store(&alloc_did_fail, 1);
    return 1;
  }
  return 0;
}

void *kf_malloc(size_t size) {
  if (alloc_should_fail())
    return NULL;
  /* malloc(0) may return NULL, which callers would read as failure. */
  return malloc(size == 0 ? 1 : size);
}

void *kf_calloc(size_t count, size_t size) {
  if (alloc_should_fail())
    return NULL;
  if (count == 0 || size == 0)
    return calloc(1, 1);
  return calloc(count, size);
}

void *kf_realloc(void *ptr, size_t size) {
  if (alloc_should_fail())
    return NULL;
  return realloc(ptr, size == 0 ? 1 : size);
}

void *kf_array_grow(void *items, size_t *cap, size_t len, size_t elem, size_t first_cap, size_t max,
                    kf_rc *rc) {
  *rc = KF_OK;
  if (len < *cap)
    return items;
  if (len >= max) {
    *rc = KF_ERR_LIMIT;
    return NULL;
  }
  size_t ncap = *cap == 0 ? first_cap : *cap * 2;
  if (ncap > max)
    ncap = max;
  if (ncap <= len || elem == 0 || ncap > SIZE_MAX / elem) {
    *rc = KF_ERR_NOMEM;
    return NULL;
  }
  void *grown = kf_realloc(items, ncap * elem);
  if (grown == NULL) {
    *rc = KF_ERR_NOMEM;
    return NULL;
  }
  *cap = ncap;
  return grown;
}

char *kf_memdup0(const void *data, size_t len) {
  if (len == SIZE_MAX)
    return NULL;
  char *copy = kf_malloc(len + 1);
  if (copy == NULL)
    return NULL;
  if (len > 0)
    memcpy(copy, data, len);
  copy[len] = '\0';
  return copy;
}

char *kf_strdup(const char *s) {
  if (s == NULL)
    return NULL;
  return kf_memdup0(s, strlen(s));
}

char *kf_strndup(const char *s, size_t max_len) {
  if (s == NULL)
    return NULL;
  size_t len = strnlen(s, max_len);
  return kf_memdup0(s, len);
}

void kf_free(void *ptr) {
  free(ptr);
}

static void alloc_arm(unsigned long n, int persistent) {
  atomic_store(&alloc_fail_target, 0);
  atomic_store(&alloc_count, 0);
  atomic_store(&alloc_did_fail, 0);
  atomic_store(&alloc_fail_persistent, persistent);
  atomic_store(&alloc_fail_target, n);
}

void kf_alloc_fail_at(unsigned long n) {
  alloc_arm(n, 0);
}

void kf_alloc_fail_from(unsigned long n) {
  alloc_arm(n, 1);
}

void kf_alloc_fail_stop(void) {
  atomic_store(&alloc_fail_target, 0);
}

unsigned long kf_alloc_count(void) {
  return atomic_load(&alloc_count);
}

int kf_alloc_failed(void) {
  return atomic_load(&alloc_did_fail);
}

void kf_alloc_install_jansson(void) {
  json_set_alloc_funcs(kf_malloc, kf_free);
}

void kf_alloc_trim(void) {
#if defined(__GLIBC__)
  (void)malloc_trim(0);
#endif
}
