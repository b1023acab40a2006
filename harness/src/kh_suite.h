/*
 * kh_suite.h: every scenario and fragment of a run, loaded from paths, with
 * each `use` resolved to its fragment.
 */
#ifndef KH_SUITE_H
#define KH_SUITE_H

#include <stdbool.h>
#include <stddef.h>

#include "kh_ast.h"
#include "kh_parse.h"

/* One scenario of the suite, with a stable index used for unique identities. */
typedef struct kh_suite_entry {
  const kh_scenario *scenario; /* Borrowed from files. */
  const kh_file *file;
  size_t index;      /* 0-based position in the suite. */
  size_t file_index; /* file is files[file_index]. */
  size_t in_file;    /* scenario is file->scenarios[in_file]. */
  /* What the scenario needs of a target (kh_exec's KH_NEED bits), once needs_known. */
  unsigned needs;
  bool needs_known;
} kh_suite_entry;

typedef struct kh_suite {
  kh_file **files; /* Owned. Scenario files first, then fragment files. */
  size_t files_len;
  kh_suite_entry *entries; /* Owned array; one per scenario, in file order. */
  size_t entries_len;
  kh_intern *strings; /* A reference to the string table the files share (kh_intern.h). */
} kh_suite;

/*
 * How deep `use` may nest: a scenario's own `use` is level 1, a `use` inside
 * that fragment level 2, and so on up to this many levels. kh_suite_load
 * refuses deeper chains, and the runner uses the same limit so that whatever
 * loads also runs.
 */
#define KH_SUITE_MAX_DEPTH 32

void kh_suite_init(kh_suite *suite);
void kh_suite_release(kh_suite *suite);

/*
 * Load every *.konform file under each path (a file or a directory, walked
 * recursively in sorted order), plus fragments from fragments/ folders next to
 * and above each scenario file. Resolves every `use` and checks its arguments
 * against the fragment's params. On failure diag names the problem and the
 * suite is released: KF_ERR_PARSE (a file does not parse), KF_ERR_IO (a path
 * cannot be read), KF_ERR_NOT_FOUND (unknown fragment or parameter, missing
 * parameter), KF_ERR_EXISTS (two fragments share a name), KF_ERR_INVALID
 * (fragments use each other in a cycle, or nest deeper than
 * KH_SUITE_MAX_DEPTH), KF_ERR_NOMEM. Fragment folders are
 * searched from the scenario file's folder up to the root; a file reached
 * twice (by real path) is loaded once.
 */
kf_rc kh_suite_load(kh_suite *suite, const char *const *paths, size_t paths_len, kh_diag *diag);

/*
 * A diagnostic at step's line (for resolve functions of step kinds): message
 * msg with one %s filled by name. Returns KF_ERR_NOT_FOUND (KF_ERR_NOMEM when
 * the diagnostic cannot be stored).
 */
kf_rc kh_suite_step_diag(kh_diag *diag, const kh_step *step, const char *hint, const char *msg,
                         const char *name) __attribute__((format(printf, 4, 0)));

/* The fragment with that name, or NULL. */
const kh_fragment *kh_suite_fragment(const kh_suite *suite, const char *name);

/*
 * Drop the steps of every scenario file (kh_file_drop_steps) once the suite
 * is loaded and linted; the entries keep pointing at their scenarios' heads,
 * so selection, names and shards work as before, and a runner gets a
 * scenario's steps back from kh_suite_reparse. Fragment files, and files
 * that cannot be read twice (no regular file), keep theirs. On KF_ERR_NOMEM
 * some files keep their steps, which runs the same.
 */
kf_rc kh_suite_drop_steps(kh_suite *suite);

/*
 * Parse files[file_index] again, with a string table of its own (so any
 * thread may call this at any time), and resolve its steps against the
 * suite's fragments. KF_ERR_STATE when the bytes on disk are not those that
 * were loaded (their digest differs) or cannot be read or parsed now,
 * KF_ERR_NOMEM when memory ran out; err says why. On success *out is the
 * caller's (kh_file_free).
 */
kf_rc kh_suite_reparse(const kh_suite *suite, size_t file_index, kh_file **out, kf_err *err);

#endif
