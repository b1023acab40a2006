/*
 * str.h: bounded string helpers that replace the banned libc calls.
 */
#ifndef KF_STR_H
#define KF_STR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "kf/error.h"

/* Copy src into dst of size dst_size, always NUL-terminating. KF_ERR_LIMIT if truncated. */
kf_rc kf_str_copy(char *dst, size_t dst_size, const char *src);
/* snprintf into dst; KF_ERR_LIMIT if the result was truncated. */
kf_rc kf_str_format(char *dst, size_t dst_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* kf_str_format with a va_list; dst is "" when the format fails. */
kf_rc kf_str_vformat(char *dst, size_t dst_size, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* printf into a new string; caller frees with kf_free. NULL on failure. */
char *kf_str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Parse a whole decimal integer (optional sign, no blanks, no trailing text)
 * within [min, max]. Replaces atoi/atol: KF_ERR_PARSE or KF_ERR_LIMIT on bad input.
 */
kf_rc kf_str_to_long(const char *s, long min, long max, long *out);
kf_rc kf_str_to_llong(const char *s, long long min, long long max, long long *out);

bool kf_str_starts_with(const char *s, const char *prefix);
bool kf_str_ends_with(const char *s, const char *suffix);
/* ASCII case-insensitive comparisons (no locale). */
bool kf_str_eq_ci(const char *a, const char *b);
bool kf_str_starts_with_ci(const char *s, const char *prefix);
/* Lower-case ASCII letters in place. */
void kf_str_ascii_lower(char *s);
/* Pointer past leading blanks (space, tab). */
const char *kf_str_skip_blanks(const char *s);
/* Length of s without trailing blanks, CR and LF. */
size_t kf_str_rtrim_len(const char *s, size_t len);

/*
 * Split s at the first occurrence of sep. Returns a pointer to the text after
 * sep, or NULL. Does not modify s. Replaces strtok for simple cases.
 */
const char *kf_str_after(const char *s, char sep);

/*
 * Levenshtein distance between the len bytes at a and the string b, capped:
 * words longer than 40 bytes are "far" (99), since only small distances make
 * useful suggestions.
 */
size_t kf_str_edit_distance(const char *a, size_t len, const char *b);
/*
 * For did-you-mean: the name closest to the len bytes at word, or NULL when
 * none is within 2 edits. names holds n entries (NULL entries are skipped);
 * ties go to the earlier entry. Borrowed from names.
 */
const char *kf_str_nearest(const char *word, size_t len, const char *const *names, size_t n);

/*
 * Join the NULL-terminated names into out (size bytes, always terminated):
 * sep between them, last before the final one ("a, b or c"). A list that
 * does not fit is cut after the last name that does.
 */
void kf_str_join(char *out, size_t size, const char *const *names, const char *sep,
                 const char *last);

#endif
