/*
 * kr_stream.c: reports written while the run goes on, and the atomic file
 * writer every report shares.
 *
 * A streamed report keeps nothing of a scenario once it is handed over: the
 * format turns it into its bytes at once and they go to a spool, an unnamed
 * temporary file beside the report, in the order the scenarios finish; the
 * stream notes where each one's bytes are. What comes before the scenarios
 * in a report (counts, verdicts, the plan) is only known at the end, so the
 * file itself is written at the close: the format's head, the scenarios'
 * bytes copied from the spool in the run's order (or grouped, for JUnit),
 * the format's tail, into a temporary file renamed over the report.
 * A failure anywhere leaves no half-written report behind, and the memory a
 * report needs is that of one scenario, not of the run.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/error.h"
#include "kf/str.h"
#include "kr/report.h"
#include "kr_priv.h"

/* How many bytes the close copies from a spool at a time. */
#define KR_STREAM_COPY_CHUNK ((size_t)64 * 1024)

/* Write all len bytes to fd, retrying short writes and interruptions. */
static kf_rc kr_fd_write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return KF_ERR_IO;
    }
    assert((size_t)n <= len);
    data += n;
    len -= (size_t)n;
  }
  return KF_OK;
}

/* A private temporary file named after path; the caller frees *tmp. */
static kf_rc kr_temp_create(const char *path, char **tmp, int *fd, kf_err *err) {
  *tmp = kf_str_printf("%s.tmp-XXXXXX", path);
  if (*tmp == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory naming a temporary file for %s", path);
  *fd = mkstemp(*tmp);
  if (*fd < 0) {
    int e = errno;
    kf_rc rc = kf_err_set(err, KF_ERR_IO, "cannot create %s: %s", *tmp, strerror(e));
    kf_free(*tmp);
    *tmp = NULL;
    return rc;
  }
  return KF_OK;
}

kf_rc kr_atomic_open(kr_atomic *f, const char *path, kf_err *err) {
  assert(f != NULL && path != NULL);
  f->path = path;
  f->fd = -1;
  f->tmp = NULL;
  KR_TRY(kr_temp_create(path, &f->tmp, &f->fd, err));
  /* mkstemp makes the file private; a report is meant to be read by others. */
  if (fchmod(f->fd, 0644) != 0) {
    int e = errno;
    kr_atomic_abort(f);
    return kf_err_set(err, KF_ERR_IO, "cannot chmod %s: %s", path, strerror(e));
  }
  return KF_OK;
}

kf_rc kr_atomic_write(kr_atomic *f, const char *data, size_t len, kf_err *err) {
  assert(f->fd >= 0);
  if (kr_fd_write_all(f->fd, data, len) != KF_OK)
    return kf_err_set(err, KF_ERR_IO, "cannot write %s: %s", f->path, strerror(errno));
  return KF_OK;
}

kf_rc kr_atomic_commit(kr_atomic *f, kf_err *err) {
  assert(f->fd >= 0);
  /* The data must be on disk before the rename makes it the report. */
  const char *step = "fsync";
  if (fsync(f->fd) != 0)
    goto fail;
  step = "close";
  int fd = f->fd;
  f->fd = -1;
  if (close(fd) != 0)
    goto fail;
  step = "rename";
  if (rename(f->tmp, f->path) != 0)
    goto fail;
  kf_free(f->tmp);
  f->tmp = NULL;
  return KF_OK;

fail:
  /* Keep errno of the failed call before close and unlink can change it. */
  {
    int e = errno;
    kr_atomic_abort(f);
    return kf_err_set(err, KF_ERR_IO, "cannot %s %s: %s", step, f->path, strerror(e));
  }
}

void kr_atomic_abort(kr_atomic *f) {
  if (f->fd >= 0)
    (void)close(f->fd);
  f->fd = -1;
  if (f->tmp != NULL)
    (void)unlink(f->tmp);
  kf_free(f->tmp);
  f->tmp = NULL;
}

kf_rc kr_file_write_atomic(const char *path, const char *data, size_t len, kf_err *err) {
  assert(path != NULL);
  assert(data != NULL || len == 0);
  kr_atomic f;
  KR_TRY(kr_atomic_open(&f, path, err));
  kf_rc rc = kr_atomic_write(&f, data != NULL ? data : "", len, err);
  if (rc != KF_OK) {
    kr_atomic_abort(&f);
    return rc;
  }
  return kr_atomic_commit(&f, err);
}

/* ---------------------------------------------------------------------------
 * The stream.
 * ------------------------------------------------------------------------- */

/* Where one scenario's bytes are in the spool. */
typedef struct kr_stream_seg {
  size_t off, len;
  bool given; /* The scenario was handed over. */
} kr_stream_seg;

struct kr_stream {
  const kr_stream_ops *ops;
  kr_stream_seg *segs; /* By index in the run. */
  size_t segs_len;     /* One more than the highest index handed over. */
  size_t segs_cap;
  char *path;
  int spool;       /* The unnamed temporary file of the scenarios' bytes. */
  size_t len;      /* Bytes in the spool. */
  size_t count;    /* Scenarios handed over. */
  kf_buf fragment; /* One scenario's bytes, reused. */
};

size_t kr_stream_count(const kr_stream *s) {
  return s->count;
}

const kr_stream_ops *kr_stream_ops_of(kr_write_fn write) {
  static const kr_stream_ops *const all[] = {&kr_json_stream, &kr_junit_stream, &kr_html_stream,
                                             &kr_tap_stream, &kr_tap13_stream};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (all[i]->format == write)
      return all[i];
  return NULL;
}

bool kr_format_streams(kr_write_fn write) {
  return kr_stream_ops_of(write) != NULL;
}

void kr_stream_abort(kr_stream *s) {
  if (s == NULL)
    return;
  if (s->spool >= 0)
    (void)close(s->spool);
  kf_buf_release(&s->fragment);
  kf_free(s->segs);
  kf_free(s->path);
  kf_free(s);
}

/* Room for the segment of index; the new ones are not given. */
static kf_rc kr_stream_grow(kr_stream *s, size_t index) {
  if (index >= s->segs_cap) {
    size_t cap = s->segs_cap > 0 ? s->segs_cap : 64;
    while (cap <= index)
      cap *= 2;
    kr_stream_seg *segs = kf_realloc(s->segs, cap * sizeof *segs);
    if (segs == NULL)
      return KF_ERR_NOMEM;
    memset(segs + s->segs_cap, 0, (cap - s->segs_cap) * sizeof *segs);
    s->segs = segs;
    s->segs_cap = cap;
  }
  if (index >= s->segs_len)
    s->segs_len = index + 1;
  return KF_OK;
}

kf_rc kr_stream_open(kr_write_fn format, const char *path, kr_stream **out, kf_err *err) {
  assert(path != NULL && out != NULL);
  *out = NULL;
  const kr_stream_ops *ops = kr_stream_ops_of(format);
  if (ops == NULL)
    return kf_err_set(err, KF_ERR_INVALID, "this report format is not written as a stream");
  if (ops->prepare != NULL)
    ops->prepare();
  kr_stream *s = kf_calloc(1, sizeof *s);
  if (s == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory opening the report %s", path);
  s->ops = ops;
  s->spool = -1;
  kf_buf_init(&s->fragment, KR_REPORT_MAX);
  s->path = kf_strdup(path);
  if (s->path == NULL) {
    kr_stream_abort(s);
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory opening the report %s", path);
  }
  char *tmp = NULL;
  kf_rc rc = kr_temp_create(path, &tmp, &s->spool, err);
  if (rc != KF_OK) {
    kr_stream_abort(s);
    return rc;
  }
  /* Unnamed at once: the spool vanishes with the process, whatever happens to it. */
  (void)unlink(tmp);
  kf_free(tmp);
  *out = s;
  return KF_OK;
}

kf_rc kr_stream_scenario(kr_stream *s, const kf_scenario_result *sc, size_t index, kf_err *err) {
  assert(s != NULL && sc != NULL);
  kf_buf_reset(&s->fragment);
  if (index < s->segs_len && s->segs[index].given)
    return kf_err_set(err, KF_ERR_STATE, "scenario %zu was handed to %s twice", index + 1, s->path);
  if (kr_stream_grow(s, index) != KF_OK)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory writing %s", s->path);
  kf_rc rc = s->ops->scenario(&s->fragment, sc, index);
  if (rc != KF_OK)
    return kf_err_set(err, rc, "cannot write the scenario \"%s\" into %s: %s",
                      sc->name != NULL ? sc->name : "", s->path, kf_rc_name(rc));
  if (s->fragment.len > KR_REPORT_MAX - s->len)
    return kf_err_set(err, KF_ERR_LIMIT, "the report %s would pass %zu bytes", s->path,
                      KR_REPORT_MAX);
  if (kr_fd_write_all(s->spool, s->fragment.data != NULL ? s->fragment.data : "",
                      s->fragment.len) != KF_OK)
    return kf_err_set(err, KF_ERR_IO, "cannot write the spool of %s: %s", s->path, strerror(errno));
  s->segs[index] = (kr_stream_seg){.off = s->len, .len = s->fragment.len, .given = true};
  s->len += s->fragment.len;
  s->count++;
  /* A large scenario's buffer is not kept for the small ones after it. */
  if (s->fragment.cap > KR_STREAM_COPY_CHUNK)
    kf_buf_release(&s->fragment);
  return KF_OK;
}

/* Copy len bytes of the spool from off to f, with chunk as the buffer. */
static kf_rc kr_stream_copy_range(kr_stream *s, kr_atomic *f, size_t off, size_t len, char *chunk,
                                  kf_err *err) {
  while (len > 0) {
    ssize_t n =
        pread(s->spool, chunk, len < KR_STREAM_COPY_CHUNK ? len : KR_STREAM_COPY_CHUNK, (off_t)off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return kf_err_set(err, KF_ERR_IO, "cannot read the spool of %s: %s", s->path,
                        n < 0 ? strerror(errno) : "it ended early");
    KR_TRY(kr_atomic_write(f, chunk, (size_t)n, err));
    off += (size_t)n;
    len -= (size_t)n;
  }
  return KF_OK;
}

kf_rc kr_stream_copy(kr_stream *s, kr_atomic *f, kf_err *err) {
  char *chunk = kf_malloc(KR_STREAM_COPY_CHUNK);
  if (chunk == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory copying the spool of %s", s->path);
  kf_rc rc = KF_OK;
  for (size_t i = 0; rc == KF_OK && i < s->segs_len; i++)
    rc = kr_stream_copy_range(s, f, s->segs[i].off, s->segs[i].len, chunk, err);
  kf_free(chunk);
  return rc;
}

kf_rc kr_stream_copy_one(kr_stream *s, kr_atomic *f, size_t index, kf_err *err) {
  assert(index < s->segs_len && s->segs[index].given);
  char *chunk = kf_malloc(KR_STREAM_COPY_CHUNK);
  if (chunk == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory copying the spool of %s", s->path);
  kf_rc rc = kr_stream_copy_range(s, f, s->segs[index].off, s->segs[index].len, chunk, err);
  kf_free(chunk);
  return rc;
}

kf_rc kr_stream_close(kr_stream *s, const kf_run_result *run, kf_err *err) {
  assert(s != NULL && run != NULL);
  /* Every scenario of the run, each once: anything else would be a report of another run. */
  if (s->count != run->scenarios_len || s->segs_len != run->scenarios_len) {
    kf_rc rc = kf_err_set(err, KF_ERR_STATE, "%s was given %zu of the run's %zu scenarios", s->path,
                          s->count, run->scenarios_len);
    kr_stream_abort(s);
    return rc;
  }
  kr_atomic f;
  kf_rc rc = kr_atomic_open(&f, s->path, err);
  if (rc == KF_OK) {
    rc = s->ops->finish(s, run, &f, err);
    if (rc == KF_OK)
      rc = kr_atomic_commit(&f, err);
    else
      kr_atomic_abort(&f);
  }
  kr_stream_abort(s);
  return rc;
}

kf_rc kr_stream_write_run(kr_write_fn format, const kf_run_result *run, const char *path,
                          kf_err *err) {
  assert(run != NULL && path != NULL);
  kr_stream *s = NULL;
  KR_TRY(kr_stream_open(format, path, &s, err));
  for (size_t i = 0; i < run->scenarios_len; i++) {
    kf_rc rc = kr_stream_scenario(s, &run->scenarios[i], i, err);
    if (rc != KF_OK) {
      kr_stream_abort(s);
      return rc;
    }
  }
  return kr_stream_close(s, run, err);
}
