/*
 * timeutil.h: UTC timestamps, ISO 8601, RFC 5322 dates and durations.
 *
 * konform never reads the wall clock for behaviour; callers pass the time they
 * got from their (possibly simulated) clock. Times are int64 Unix seconds.
 *
 * Ownership: nothing here allocates; results go to caller-owned buffers of the
 * documented sizes.
 */
#ifndef KF_TIMEUTIL_H
#define KF_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "kf/error.h"

#define KF_TIME_ISO_MAX 32
#define KF_TIME_RFC5322_MAX 40

/* The real wall clock (for "now" defaults and logs only). */
int64_t kf_time_real_now(void);
/* Monotonic milliseconds, for measuring durations and long-poll deadlines. */
int64_t kf_time_monotonic_ms(void);

/* Parse "2026-03-28T10:00:00Z" (also "+01:00" offsets and fractional seconds). */
kf_rc kf_time_parse_iso(const char *s, int64_t *out);
/* Format as "2026-03-28T10:00:00Z" into out (KF_TIME_ISO_MAX bytes). */
kf_rc kf_time_format_iso(int64_t t, char *out, size_t out_size);
/* Format as "Sat, 28 Mar 2026 10:00:00 +0000" (KF_TIME_RFC5322_MAX bytes). */
kf_rc kf_time_format_rfc5322(int64_t t, char *out, size_t out_size);
/*
 * Parse an RFC 5322 date-time (section 3.3, with the obsolete forms of 4.3):
 * "Sat, 28 Mar 2026 10:00:00 +0000", the day name optional, seconds
 * optional, any offset (+0100), the obsolete zones UT, GMT, EST/EDT, CST/CDT,
 * MST/MDT, PST/PDT and single military letters (read as +0000, as 4.3 says),
 * folding white space and comments "(...)" between tokens, two- and
 * three-digit years as 4.3 reads them. KF_ERR_PARSE when it is not one;
 * a day name that does not match the date is KF_ERR_PARSE too.
 */
kf_rc kf_time_parse_rfc5322(const char *s, int64_t *out);
/* Parse "24h", "1d2h3m4s", "90s", "250ms" into milliseconds. */
kf_rc kf_duration_parse_ms(const char *s, int64_t *out_ms);
/* Civil date/time in UTC for t. */
void kf_time_utc_civil(int64_t t, int *year, int *month, int *day, int *hour, int *min, int *sec);
/* Unix seconds of a UTC civil date/time. */
int64_t kf_time_from_utc_civil(int year, int month, int day, int hour, int min, int sec);

#endif
