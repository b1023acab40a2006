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

/*
 * What the rows of filters and queries whose quoted argument is a regex give
 * as that argument ("a regex"): the parser knows them by this one string and
 * compiles their patterns once (kh_regex_precompile).
 */
extern const char KH_TEXT_REGEX_ARG[];

/*
 * A compiled regex that the AST keeps (kh_ast.h) for a pattern without
 * variables, so no run compiles it again. regexec is thread-safe on a
 * compiled regex, so parallel scenarios share it.
 */
typedef struct kh_regex kh_regex;

/* Free re (NULL is ignored). */
void kh_regex_free(kh_regex *re);

/*
 * Compile the pattern text (len bytes) if it takes no {{variable}}, into
 * *out (caller frees with kh_regex_free); otherwise, and for a pattern that
 * does not compile, *out is NULL and the run compiles and reports it where
 * it is used, as it would any pattern. Only KF_ERR_NOMEM fails.
 */
kf_rc kh_regex_precompile(const char *text, size_t len, kh_regex **out);

/*
 * The regex to match with: pre's when the parser compiled the pattern,
 * else pat (len bytes, interpolated) compiled into *tmp, which the caller
 * frees with kh_regex_free after the match. Errors as kh_text_regex_compile.
 */
kf_rc kh_regex_use(const kh_regex *pre, const char *pat, size_t len, kh_regex **tmp,
                   const regex_t **out, kf_err *err);

#endif
