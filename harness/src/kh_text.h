/*
 * kh_text.h: what queries, filters and predicates share: values as text,
 * byte-exact strings, substring search and POSIX regexes over text that may
 * hold NUL bytes.
 *
 * Values travel as jansson references; an absent value is NULL, which is
 * different from a JSON null (a present value). Strings may hold any bytes,
 * NUL included, so texts carry explicit lengths and regexes are matched
 * segment by segment between NUL bytes, which is what a C regex engine sees.
 */
#ifndef KH_TEXT_H
#define KH_TEXT_H

#include <jansson.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "kf/buf.h"
#include "kf/error.h"

/* Texts built while evaluating (values as text, grep results) stay below this. */
#define KH_TEXT_MAX (64u * 1024u * 1024u)

/* Render a value as text: strings raw, everything else as compact JSON. NULL appends nothing. */
kf_rc kh_text_of_value(const json_t *value, kf_buf *out);

/* A new string value holding any bytes (jansson's checked variant insists on UTF-8). */
json_t *kh_text_json_string(const char *s, size_t len);

/* Whether needle (nlen bytes) occurs in hay (hlen bytes). An empty needle always does. */
bool kh_text_find(const char *hay, size_t hlen, const char *needle, size_t nlen);

/* Compile an extended POSIX regex; KF_ERR_INVALID (message in err) for a NUL or bad syntax. */
kf_rc kh_text_regex_compile(regex_t *re, const char *pat, size_t len, kf_err *err);

/*
 * Search s (len bytes, s[len] must be NUL) for re. On a match *start and *end
 * give the span of group 1 if the regex has one that took part, else of the
 * whole match.
 */
bool kh_text_regex_search(const regex_t *re, const char *s, size_t len, size_t *start, size_t *end);

#endif
