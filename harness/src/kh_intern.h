/*
 * kh_intern.h: the strings of parsed scenario files, each distinct content
 * stored once.
 *
 * A suite keeps every file's tree for the whole run, and the same strings
 * come back in file after file: "expect status == 200", "{{addr}}",
 * requirement IDs, tags, JSON paths, header names. The parser therefore puts
 * the strings it owns into one table per suite (kh_suite_load) or per
 * standalone file (kh_parse_text): bump-allocated from a few large chunks,
 * so a string costs its bytes and a slot of the hash set, not an allocation
 * of its own, and a repeated one costs nothing.
 *
 * A table is counted: every kh_file that points into it holds a reference,
 * and so does the suite that shares it; the last kh_intern_unref frees it.
 * Strings are immutable and live as long as the table. A table is filled by
 * one thread at a time; once filled, any thread may read its strings.
 */
#ifndef KH_INTERN_H
#define KH_INTERN_H

#include <stddef.h>

#include "kf/error.h"

/* No string is longer than this (a scenario file is at most 4 MiB). */
#define KH_INTERN_MAX_LEN (64u * 1024u * 1024u)
/* A table holds at most this many distinct strings. */
#define KH_INTERN_MAX_STRINGS (1u << 24)

typedef struct kh_intern kh_intern;

/* A new empty table with one reference (caller drops it with kh_intern_unref). */
kf_rc kh_intern_new(kh_intern **out);
/* One more reference to t; returns t. */
kh_intern *kh_intern_ref(kh_intern *t);
/* Drop a reference; the last one frees the table and every string in it. NULL is ignored. */
void kh_intern_unref(kh_intern *t);

/*
 * The table's copy of the len bytes at s (which may hold NULs), with a NUL
 * after them: the same pointer for the same bytes. KF_ERR_LIMIT past the caps,
 * KF_ERR_NOMEM when memory runs out (the table is unchanged then).
 */
kf_rc kh_intern_get(kh_intern *t, const char *s, size_t len, const char **out);

/* For tests and measurements: the distinct strings held, and the bytes of the chunks. */
size_t kh_intern_count(const kh_intern *t);
size_t kh_intern_chunk_bytes(const kh_intern *t);

#endif
