/*
 * kh_suite.c: load every scenario and fragment of a run and resolve `use`.
 *
 * Files are found first (directories walked in sorted order so suite indexes
 * and therefore generated identities are stable), then parsed, then every
 * `use` is resolved against the fragments and its arguments are checked.
 * Fragment folders are searched from each scenario file up to the root, as
 * the language document says; files are keyed by their real path so a file
 * reached twice is loaded once.
 */
/* realpath() is XSI; glibc hides it under plain _POSIX_C_SOURCE. */
#define _DEFAULT_SOURCE

#include "kh_suite.h"
#include "kh_step.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kf/alloc.h"
#include "kf/str.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

/* Caps that keep a runaway directory tree from eating the machine. */
#define KH_SUITE_MAX_FILES 100000u
#define KH_SUITE_MAX_DIR_DEPTH 64
/* For messages that name the fragment depth limit. */
#define KH_SUITE_STR2(x) #x
#define KH_SUITE_STR(x) KH_SUITE_STR2(x)

/* A list of owned strings. */
typedef struct kh_strlist {
  char **items;
  size_t len;
  size_t cap;
} kh_strlist;

static void kh_strlist_release(kh_strlist *l) {
  for (size_t i = 0; i < l->len; i++)
    kf_free(l->items[i]);
  kf_free(l->items);
  memset(l, 0, sizeof *l);
}

static bool kh_strlist_has(const kh_strlist *l, const char *s) {
  for (size_t i = 0; i < l->len; i++) {
    if (strcmp(l->items[i], s) == 0)
      return true;
  }
  return false;
}

/* Append a copy of s. */
static kf_rc kh_strlist_add(kh_strlist *l, const char *s) {
  kf_rc rc = KF_OK;
  char **items =
      kf_array_grow(l->items, &l->cap, l->len, sizeof *items, 16, KH_SUITE_MAX_FILES, &rc);
  if (items == NULL)
    return rc;
  l->items = items;
  char *copy = kf_strdup(s);
  if (copy == NULL)
    return KF_ERR_NOMEM;
  l->items[l->len++] = copy;
  return KF_OK;
}

static int kh_cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void kh_suite_init(kh_suite *suite) {
  memset(suite, 0, sizeof *suite);
}

void kh_suite_release(kh_suite *suite) {
  if (suite == NULL)
    return;
  for (size_t i = 0; i < suite->files_len; i++)
    kh_file_free(suite->files[i]);
  kf_free(suite->files);
  kf_free(suite->entries);
  kh_intern_unref(suite->strings);
  kh_suite_init(suite);
}

const kh_fragment *kh_suite_fragment(const kh_suite *suite, const char *name) {
  if (suite == NULL || name == NULL)
    return NULL;
  for (size_t i = 0; i < suite->files_len; i++) {
    const kh_fragment *fr = suite->files[i]->fragment;
    if (fr != NULL && strcmp(fr->name, name) == 0)
      return fr;
  }
  return NULL;
}

static kf_rc kh_io_diag(kh_diag *diag, const char *path, const char *what, int e) {
  if (kh_diag_set(diag, KH_SEV_ERROR, path, 0, 0, NULL, NULL, "%s: %s", what, strerror(e)) != KF_OK)
    return KF_ERR_NOMEM;
  return KF_ERR_IO;
}

/* Sorted *.konform files directly in dir (and, if recursive, below it) into out. */
static kf_rc kh_walk(const char *dir, bool recursive, int depth, kh_strlist *out, kh_diag *diag) {
  if (depth > KH_SUITE_MAX_DIR_DEPTH) {
    if (kh_diag_set(diag, KH_SEV_ERROR, dir, 0, 0, NULL, NULL, "directories nested too deeply") !=
        KF_OK)
      return KF_ERR_NOMEM;
    return KF_ERR_LIMIT;
  }
  DIR *d = opendir(dir);
  if (d == NULL)
    return kh_io_diag(diag, dir, "cannot open directory", errno);
  kh_strlist names = {0};
  kf_rc rc = KF_OK;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.')
      continue; /* Hidden files, "." and "..". */
    if ((rc = kh_strlist_add(&names, de->d_name)) != KF_OK)
      break;
  }
  closedir(d);
  if (rc == KF_OK && names.len > 1)
    qsort(names.items, names.len, sizeof names.items[0], kh_cmp_str);
  for (size_t i = 0; rc == KF_OK && i < names.len; i++) {
    char *full = kf_str_printf("%s/%s", dir, names.items[i]);
    if (full == NULL) {
      rc = KF_ERR_NOMEM;
      break;
    }
    struct stat st;
    if (stat(full, &st) != 0) {
      /* A dangling symlink or a file removed meanwhile: nothing to load. */
    } else if (S_ISDIR(st.st_mode)) {
      if (recursive)
        rc = kh_walk(full, true, depth + 1, out, diag);
    } else if (S_ISREG(st.st_mode) && kf_str_ends_with(names.items[i], ".konform")) {
      rc = kh_strlist_add(out, full);
    }
    kf_free(full);
  }
  kh_strlist_release(&names);
  return rc;
}

/* The loader's working state. */
typedef struct kh_loader {
  kh_suite *suite;
  kh_diag *diag;
  kh_strlist real;    /* Real paths of loaded files, parallel to suite->files. */
  kh_strlist visited; /* fragments/ folders already read. */
} kh_loader;

static kf_rc kh_add_file_ptr(kh_suite *suite, kh_file *file) {
  if (suite->files_len >= KH_SUITE_MAX_FILES)
    return KF_ERR_LIMIT;
  kh_file **files = kf_realloc(suite->files, (suite->files_len + 1) * sizeof *files);
  if (files == NULL)
    return KF_ERR_NOMEM;
  suite->files = files;
  suite->files[suite->files_len++] = file;
  return KF_OK;
}

/* Parse path unless its real path was loaded already. */
static kf_rc kh_load_one(kh_loader *ld, const char *path) {
  char real[PATH_MAX];
  if (realpath(path, real) == NULL)
    return kh_io_diag(ld->diag, path, "cannot open", errno);
  if (kh_strlist_has(&ld->real, real))
    return KF_OK;
  kh_file *file = NULL;
  kf_rc rc = kh_parse_file_in(path, ld->suite->strings, &file, ld->diag);
  if (rc != KF_OK)
    return rc;
  if ((rc = kh_strlist_add(&ld->real, real)) != KF_OK) {
    kh_file_free(file);
    return rc;
  }
  if ((rc = kh_add_file_ptr(ld->suite, file)) != KF_OK) {
    kh_file_free(file);
    kf_free(ld->real.items[--ld->real.len]);
    return rc;
  }
  return KF_OK;
}

/* Load the fragments/ folders next to and above path. */
static kf_rc kh_load_fragment_dirs(kh_loader *ld, const char *path) {
  char dir[PATH_MAX];
  if (realpath(path, dir) == NULL)
    return kh_io_diag(ld->diag, path, "cannot open", errno);
  for (;;) {
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
      return KF_OK;
    *slash = '\0'; /* dir is now the parent folder ("" for the root). */
    char *frag = kf_str_printf("%s/fragments", dir);
    if (frag == NULL)
      return KF_ERR_NOMEM;
    kf_rc rc = KF_OK;
    struct stat st;
    if (!kh_strlist_has(&ld->visited, frag) && stat(frag, &st) == 0 && S_ISDIR(st.st_mode)) {
      rc = kh_strlist_add(&ld->visited, frag);
      kh_strlist files = {0};
      if (rc == KF_OK)
        rc = kh_walk(frag, false, 0, &files, ld->diag);
      for (size_t i = 0; rc == KF_OK && i < files.len; i++)
        rc = kh_load_one(ld, files.items[i]);
      kh_strlist_release(&files);
    }
    kf_free(frag);
    if (rc != KF_OK)
      return rc;
    if (dir[0] == '\0')
      return KF_OK;
  }
}

kf_rc kh_suite_step_diag(kh_diag *diag, const kh_step *step, const char *hint, const char *msg,
                         const char *name) {
  char *line =
      kf_str_printf("%*s%s", (int)(step->pos.col > 0 ? step->pos.col - 1 : 0), "", step->source);
  if (line == NULL)
    return KF_ERR_NOMEM;
  kf_rc rc = kh_diag_set(diag, KH_SEV_ERROR, step->pos.file, step->pos.line, step->pos.col, line,
                         hint, msg, name);
  kf_free(line);
  if (rc == KF_OK)
    diag->kind = KH_DIAG_SUITE;
  return rc != KF_OK ? rc : KF_ERR_NOT_FOUND;
}

/* Let every step that refers to other files (a `use`) find them. */
static kf_rc kh_resolve_steps(const kh_suite *suite, kh_step *steps, size_t len, kh_diag *diag) {
  for (size_t i = 0; i < len; i++) {
    if (steps[i].def->resolve == NULL)
      continue;
    kf_rc rc = steps[i].def->resolve(&steps[i], suite, diag);
    if (rc != KF_OK)
      return rc;
  }
  return KF_OK;
}

/* Fragments that use each other in a circle would run forever. */
static kf_rc kh_check_cycles(const kh_fragment *fr, const kh_fragment **stack, size_t depth,
                             kh_diag *diag) {
  for (size_t i = 0; i < fr->steps_len; i++) {
    const kh_step *st = &fr->steps[i];
    const kh_fragment *next = kh_step_fragment(st);
    if (next == NULL)
      continue;
    bool cycle = false;
    for (size_t k = 0; k < depth && !cycle; k++)
      cycle = stack[k] == next;
    /*
     * fr sits at nesting level depth + 1 when a scenario uses the root of
     * this walk, so next sits at depth + 2; the runner refuses the same.
     */
    if (!cycle && next != fr && depth + 2 > KH_SUITE_MAX_DEPTH) {
      kf_rc rc = kh_suite_step_diag(
          diag, st,
          "flatten the fragments: a scenario may nest 'use' at most " KH_SUITE_STR(
              KH_SUITE_MAX_DEPTH) " levels deep",
          "fragment '%.100s' is nested more than " KH_SUITE_STR(KH_SUITE_MAX_DEPTH) " levels deep",
          next->name);
      return rc == KF_ERR_NOT_FOUND ? KF_ERR_INVALID : rc;
    }
    if (cycle || next == fr) {
      kf_rc rc =
          kh_suite_step_diag(diag, st, "a fragment must not use itself, directly or through others",
                             "fragment '%.100s' is used in a cycle", next->name);
      return rc == KF_ERR_NOT_FOUND ? KF_ERR_INVALID : rc;
    }
    stack[depth] = fr;
    kf_rc rc = kh_check_cycles(next, stack, depth + 1, diag);
    if (rc != KF_OK)
      return rc;
  }
  return KF_OK;
}

static kf_rc kh_finish(kh_suite *suite, kh_diag *diag) {
  /* Order: scenario files first, then fragment files, each in load order. */
  size_t w = 0;
  kh_file **sorted = kf_calloc(suite->files_len ? suite->files_len : 1, sizeof *sorted);
  if (sorted == NULL)
    return KF_ERR_NOMEM;
  for (size_t i = 0; i < suite->files_len; i++)
    if (suite->files[i]->fragment == NULL)
      sorted[w++] = suite->files[i];
  for (size_t i = 0; i < suite->files_len; i++)
    if (suite->files[i]->fragment != NULL)
      sorted[w++] = suite->files[i];
  assert(w == suite->files_len);
  kf_free(suite->files);
  suite->files = sorted;
  /* No two fragments may share a name. */
  for (size_t i = 0; i < suite->files_len; i++) {
    const kh_fragment *fr = suite->files[i]->fragment;
    if (fr == NULL)
      continue;
    for (size_t j = 0; j < i; j++) {
      const kh_fragment *other = suite->files[j]->fragment;
      if (other == NULL || strcmp(other->name, fr->name) != 0)
        continue;
      char hint[PATH_MAX + 64];
      (void)kf_str_format(hint, sizeof hint, "first defined at %s:%u", other->pos.file,
                          other->pos.line);
      char *line = kf_str_printf("fragment: %s", fr->name);
      if (line == NULL)
        return KF_ERR_NOMEM;
      kf_rc rc = kh_diag_set(diag, KH_SEV_ERROR, fr->pos.file, fr->pos.line, 1, line, hint,
                             "fragment '%.100s' is defined twice", fr->name);
      kf_free(line);
      return rc != KF_OK ? rc : KF_ERR_EXISTS;
    }
  }
  size_t scenarios = 0;
  for (size_t i = 0; i < suite->files_len; i++) {
    kh_file *f = suite->files[i];
    kf_rc rc;
    for (size_t s = 0; s < f->scenarios_len; s++) {
      if ((rc = kh_resolve_steps(suite, f->scenarios[s].steps, f->scenarios[s].steps_len, diag)) !=
          KF_OK)
        return rc;
    }
    if (f->fragment != NULL &&
        (rc = kh_resolve_steps(suite, f->fragment->steps, f->fragment->steps_len, diag)) != KF_OK)
      return rc;
    scenarios += f->scenarios_len;
  }
  for (size_t i = 0; i < suite->files_len; i++) {
    const kh_fragment *stack[KH_SUITE_MAX_DEPTH + 1];
    if (suite->files[i]->fragment == NULL)
      continue;
    kf_rc rc = kh_check_cycles(suite->files[i]->fragment, stack, 0, diag);
    if (rc != KF_OK)
      return rc;
  }
  suite->entries = kf_calloc(scenarios ? scenarios : 1, sizeof *suite->entries);
  if (suite->entries == NULL)
    return KF_ERR_NOMEM;
  for (size_t i = 0; i < suite->files_len; i++) {
    const kh_file *f = suite->files[i];
    for (size_t s = 0; s < f->scenarios_len; s++) {
      kh_suite_entry *e = &suite->entries[suite->entries_len];
      e->scenario = &f->scenarios[s];
      e->file = f;
      e->index = suite->entries_len++;
      e->file_index = i;
      e->in_file = s;
    }
  }
  return KF_OK;
}

kf_rc kh_suite_load(kh_suite *suite, const char *const *paths, size_t paths_len, kh_diag *diag) {
  assert(suite != NULL && diag != NULL);
  kh_loader ld = {suite, diag, {0}, {0}};
  kh_strlist given = {0};
  /* One string table for every file: what repeats across files is stored once. */
  kf_rc rc = kh_intern_new(&suite->strings);
  for (size_t i = 0; rc == KF_OK && i < paths_len; i++) {
    struct stat st;
    if (stat(paths[i], &st) != 0) {
      rc = kh_io_diag(diag, paths[i], "cannot open", errno);
    } else if (S_ISDIR(st.st_mode)) {
      /* Strip trailing slashes so paths in messages read well. */
      size_t n = strlen(paths[i]);
      while (n > 1 && paths[i][n - 1] == '/')
        n--;
      char *dir = kf_strndup(paths[i], n);
      if (dir == NULL)
        rc = KF_ERR_NOMEM;
      else
        rc = kh_walk(dir, true, 0, &given, diag);
      kf_free(dir);
    } else {
      rc = kh_strlist_add(&given, paths[i]);
    }
  }
  for (size_t i = 0; rc == KF_OK && i < given.len; i++)
    rc = kh_load_one(&ld, given.items[i]);
  /* Fragment folders of every scenario file; the list grows while we walk it. */
  for (size_t i = 0; rc == KF_OK && i < suite->files_len; i++) {
    if (suite->files[i]->fragment == NULL)
      rc = kh_load_fragment_dirs(&ld, suite->files[i]->path);
  }
  if (rc == KF_OK)
    rc = kh_finish(suite, diag);
  if (rc == KF_ERR_LIMIT && diag->message == NULL) {
    if (kh_diag_set(diag, KH_SEV_ERROR, NULL, 0, 0, NULL, NULL, "too many scenario files") != KF_OK)
      rc = KF_ERR_NOMEM;
  }
  kh_strlist_release(&given);
  kh_strlist_release(&ld.real);
  kh_strlist_release(&ld.visited);
  if (rc != KF_OK) {
    kh_suite_release(suite);
  }
  return rc;
}

/* ---- Steps dropped after loading, parsed again for a run. ---- */

/* Whether path is a regular file, which can be read a second time (a pipe cannot). */
static bool kh_rereadable(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

kf_rc kh_suite_drop_steps(kh_suite *suite) {
  assert(suite != NULL);
  kf_rc first = KF_OK;
  for (size_t i = 0; i < suite->files_len; i++) {
    kh_file *f = suite->files[i];
    if (f->fragment != NULL || !kh_rereadable(f->path))
      continue;
    kf_rc rc = kh_file_drop_steps(f);
    if (rc != KF_OK && first == KF_OK)
      first = rc;
  }
  /* The heads moved into blocks of their own. */
  for (size_t i = 0; i < suite->entries_len; i++) {
    kh_suite_entry *e = &suite->entries[i];
    e->scenario = &e->file->scenarios[e->in_file];
  }
  return first;
}

kf_rc kh_suite_reparse(const kh_suite *suite, size_t file_index, kh_file **out, kf_err *err) {
  assert(suite != NULL && file_index < suite->files_len && out != NULL);
  *out = NULL;
  const kh_file *loaded = suite->files[file_index];
  kh_diag diag;
  kh_diag_init(&diag);
  kh_file *parsed = NULL;
  kf_rc rc = kh_parse_file(loaded->path, &parsed, &diag);
  /* The bytes decide, not the file's times: a touch or a copy of the same text runs. */
  if (rc == KF_OK && memcmp(parsed->digest, loaded->digest, sizeof parsed->digest) != 0)
    rc = kf_err_set(err, KF_ERR_STATE, "%s changed on disk since it was loaded", loaded->path);
  else if (rc != KF_OK)
    (void)kf_err_set(err, KF_ERR_STATE, "%s cannot be parsed again: %s", loaded->path,
                     diag.message != NULL ? diag.message : kf_rc_name(rc));
  for (size_t s = 0; rc == KF_OK && s < parsed->scenarios_len; s++) {
    rc = kh_resolve_steps(suite, parsed->scenarios[s].steps, parsed->scenarios[s].steps_len, &diag);
    if (rc != KF_OK)
      (void)kf_err_set(err, rc, "%s: %s", loaded->path,
                       diag.message != NULL ? diag.message : kf_rc_name(rc));
  }
  kh_diag_release(&diag);
  if (rc != KF_OK) {
    kh_file_free(parsed);
    return rc == KF_ERR_NOMEM ? rc : KF_ERR_STATE;
  }
  *out = parsed;
  return KF_OK;
}
