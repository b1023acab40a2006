/*
 * utf8.h: UTF-8 validation and character counting (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF).
 *
 * Ownership: nothing here allocates; inputs are borrowed for the call.
 */
#ifndef KF_UTF8_H
#define KF_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

bool kf_utf8_valid(const char *s, size_t len);
/* Number of code points in valid UTF-8 s; (size_t)-1 if s is not valid. */
size_t kf_utf8_count(const char *s, size_t len);
/*
 * The byte length of the first max code points of s (len bytes), so a cut
 * never splits a character; an invalid byte ends the prefix.
 */
size_t kf_utf8_prefix_len(const char *s, size_t len, size_t max);
/*
 * Decode one code point at s (len bytes available). Returns the number of
 * bytes consumed and stores the code point, or returns 0 on invalid input.
 */
size_t kf_utf8_decode(const char *s, size_t len, uint32_t *cp);
/* Encode cp into out (at least 4 bytes); returns bytes written, 0 if invalid. */
size_t kf_utf8_encode(uint32_t cp, char *out);

#endif
