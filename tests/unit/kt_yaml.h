/*
 * kt_yaml.h: a YAML document as a jansson tree, for tests that read the
 * contracts (docs/openapi.yaml, docs/mocks-openapi.yaml) as data.
 *
 * libyaml parses; this module only turns its events into JSON values, so a
 * test never reads YAML with a hand-written reader that could misread it.
 *
 * - A mapping becomes an object; a key is a scalar's text (a key that is a
 *   mapping or a sequence is an error), and a key twice in one mapping is an
 *   error naming where the second one is.
 * - A sequence becomes an array.
 * - A plain scalar is resolved as the YAML 1.2 core schema says: null, Null,
 *   NULL, ~ or nothing is null; true/false (also True, TRUE, ...) a boolean;
 *   decimal, 0o octal and 0x hex integers an integer; decimals and exponents a
 *   real; everything else a string. That is what JSON-minded readers take
 *   from a contract and unlike YAML 1.1 (PyYAML): there, yes/no/on/off are
 *   booleans, 1e3 is a string and 2026-03-01 is a date.
 * - A quoted or block (| >) scalar is always a string, and so is a scalar
 *   tagged !!str or !. Any other tag is refused.
 * - Anchors and aliases are refused (the contracts use none, and a tree that
 *   shares nodes is not what a schema walk expects).
 * - .inf, .nan and integers beyond 64 bits are refused: JSON has no such
 *   numbers.
 * - One document per stream; an empty stream is an error.
 *
 * Errors are KF_ERR_PARSE (syntax, with libyaml's own words), KF_ERR_UNSUPPORTED
 * (an anchor, alias or tag), KF_ERR_LIMIT (a number JSON cannot hold, nesting
 * deeper than KT_YAML_DEPTH_MAX, a file larger than KT_YAML_FILE_MAX),
 * KF_ERR_IO (the file) or KF_ERR_NOMEM; err->message starts with
 * "line:column: " (1-based, from libyaml's marks), after "path:" for a file.
 * Every allocation of the tree goes through jansson (and so through kf_* once
 * kf_alloc_install_jansson ran); libyaml's own parser memory is its own.
 */
#ifndef KT_YAML_H
#define KT_YAML_H

#include <jansson.h>
#include <stddef.h>

#include "kf/error.h"

/* Deeper nesting is refused rather than risking the stack. */
#define KT_YAML_DEPTH_MAX 64
/* The largest file kt_yaml_load_file reads. */
#define KT_YAML_FILE_MAX (4u << 20)

/*
 * Parse the len bytes at text (UTF-8, UTF-16 with a BOM) into *out. On
 * success *out is a new reference the caller json_decrefs; on failure *out
 * is NULL and nothing is left allocated.
 */
kf_rc kt_yaml_load(const char *text, size_t len, json_t **out, kf_err *err);

/* The same for the file at path (borrowed); messages start with "path:". */
kf_rc kt_yaml_load_file(const char *path, json_t **out, kf_err *err);

#endif
