/*
 * kh_reload.c: scenario files parsed again for their run (see kh_reload.h).
 *
 * The lock guards the counts and the parses' pointers only; a file is parsed
 * outside it, so workers starting scenarios of other files never wait for
 * that parse, and those of the same file wait on parsed_cond for it instead
 * of parsing it too.
 */
#include "kh_reload.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>

#include "kf/alloc.h"

/* One scenario file of the suite. */
typedef struct kh_reload_file {
  size_t remaining; /* Selected scenarios of the file that have not finished. */
  kh_file *parsed;  /* The parse they share, while one of them may still run; owned. */
  bool parsing;     /* A worker is parsing the file now (outside the lock). */
} kh_reload_file;

struct kh_reload {
  pthread_mutex_t lock;
  pthread_cond_t parsed_cond; /* Broadcast when a parse has ended, well or not. */
  const kh_suite *suite;
  kh_reload_file *files; /* Parallel to suite->files. */
};

kf_rc kh_reload_new(const kh_suite *suite, const kh_suite_entry *const *entries, size_t n,
                    kh_reload **out) {
  assert(suite != NULL && out != NULL && (n == 0 || entries != NULL));
  *out = NULL;
  kh_reload *r = kf_calloc(1, sizeof *r);
  if (r == NULL)
    return KF_ERR_NOMEM;
  r->suite = suite;
  r->files = kf_calloc(suite->files_len > 0 ? suite->files_len : 1, sizeof *r->files);
  bool locked = r->files != NULL && pthread_mutex_init(&r->lock, NULL) == 0;
  if (!locked || pthread_cond_init(&r->parsed_cond, NULL) != 0) {
    if (locked)
      pthread_mutex_destroy(&r->lock);
    kf_free(r->files);
    kf_free(r);
    return KF_ERR_NOMEM;
  }
  /* Only a file that dropped its steps is counted (a suite built by hand has no files[]). */
  for (size_t i = 0; i < n; i++) {
    if (!entries[i]->file->steps_dropped)
      continue;
    assert(entries[i]->file_index < suite->files_len);
    assert(suite->files[entries[i]->file_index] == entries[i]->file);
    r->files[entries[i]->file_index].remaining++;
  }
  *out = r;
  return KF_OK;
}

kf_rc kh_reload_acquire(kh_reload *r, const kh_suite_entry *e, const kh_scenario **out,
                        kf_err *err) {
  assert(r != NULL && e != NULL && out != NULL);
  *out = NULL;
  if (!e->file->steps_dropped) {
    *out = e->scenario;
    return KF_OK;
  }
  kh_reload_file *f = &r->files[e->file_index];
  kf_rc rc = KF_OK;
  pthread_mutex_lock(&r->lock);
  assert(f->remaining > 0);
  while (f->parsing)
    pthread_cond_wait(&r->parsed_cond, &r->lock);
  if (f->parsed == NULL) {
    /* Ours to parse; a failed parse leaves it to the next scenario of the file to try. */
    f->parsing = true;
    pthread_mutex_unlock(&r->lock);
    kh_file *parsed = NULL;
    rc = kh_suite_reparse(r->suite, e->file_index, &parsed, err);
    pthread_mutex_lock(&r->lock);
    f->parsed = parsed;
    f->parsing = false;
    pthread_cond_broadcast(&r->parsed_cond);
  }
  if (rc == KF_OK) {
    assert(e->in_file < f->parsed->scenarios_len);
    *out = &f->parsed->scenarios[e->in_file];
  }
  pthread_mutex_unlock(&r->lock);
  return rc;
}

void kh_reload_release(kh_reload *r, const kh_suite_entry *e) {
  assert(r != NULL && e != NULL);
  if (!e->file->steps_dropped)
    return;
  kh_file *done = NULL;
  pthread_mutex_lock(&r->lock);
  kh_reload_file *f = &r->files[e->file_index];
  assert(f->remaining > 0 && f->parsed != NULL);
  if (--f->remaining == 0) {
    done = f->parsed;
    f->parsed = NULL;
  }
  pthread_mutex_unlock(&r->lock);
  kh_file_free(done);
}

void kh_reload_free(kh_reload *r) {
  if (r == NULL)
    return;
  for (size_t i = 0; i < r->suite->files_len; i++)
    kh_file_free(r->files[i].parsed);
  pthread_cond_destroy(&r->parsed_cond);
  pthread_mutex_destroy(&r->lock);
  kf_free(r->files);
  kf_free(r);
}
