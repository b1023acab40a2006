/*
 * timeutil.c: calendar arithmetic without the C library's time zone state
 * (timegm is not POSIX), using the days-from-civil algorithm.
 */
#include "kf/timeutil.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kf/str.h"

int64_t kf_time_real_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec;
}

int64_t kf_time_monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *year, int *month, int *day) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int d = (int)(doy - (153 * mp + 2) / 5 + 1);
  int m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *year = (int)(y + (m <= 2));
  *month = m;
  *day = d;
}

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int64_t kf_time_from_utc_civil(int year, int month, int day, int hour, int min, int sec) {
  return days_from_civil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec;
}

void kf_time_utc_civil(int64_t t, int *year, int *month, int *day, int *hour, int *min, int *sec) {
  int64_t days = floor_div(t, 86400);
  int64_t rest = t - days * 86400;
  civil_from_days(days, year, month, day);
  *hour = (int)(rest / 3600);
  *min = (int)(rest % 3600 / 60);
  *sec = (int)(rest % 60);
}

static bool is_leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Read exactly n digits at *p. */
static bool read_digits(const char **p, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    char c = (*p)[i];
    if (c < '0' || c > '9')
      return false;
    v = v * 10 + (c - '0');
  }
  *p += n;
  *out = v;
  return true;
}

kf_rc kf_time_parse_iso(const char *s, int64_t *out) {
  const char *p = s;
  int y, mo, d, h, mi, se;
  if (!read_digits(&p, 4, &y) || *p++ != '-' || !read_digits(&p, 2, &mo) || *p++ != '-' ||
      !read_digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' '))
    return KF_ERR_PARSE;
  p++;
  if (!read_digits(&p, 2, &h) || *p++ != ':' || !read_digits(&p, 2, &mi) || *p++ != ':' ||
      !read_digits(&p, 2, &se))
    return KF_ERR_PARSE;
  if (*p == '.') {
    p++;
    if (*p < '0' || *p > '9')
      return KF_ERR_PARSE;
    while (*p >= '0' && *p <= '9')
      p++;
  }
  int offset = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int sign = *p == '-' ? -1 : 1;
    int oh, om;
    p++;
    if (!read_digits(&p, 2, &oh) || *p++ != ':' || !read_digits(&p, 2, &om) || oh > 23 || om > 59)
      return KF_ERR_PARSE;
    offset = sign * (oh * 3600 + om * 60);
  } else {
    return KF_ERR_PARSE;
  }
  if (*p != '\0')
    return KF_ERR_PARSE;
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 59)
    return KF_ERR_PARSE;
  *out = kf_time_from_utc_civil(y, mo, d, h, mi, se) - offset;
  return KF_OK;
}

kf_rc kf_time_format_iso(int64_t t, char *out, size_t out_size) {
  int y, mo, d, h, mi, se;
  kf_time_utc_civil(t, &y, &mo, &d, &h, &mi, &se);
  return kf_str_format(out, out_size, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d, h, mi, se);
}

kf_rc kf_time_format_rfc5322(int64_t t, char *out, size_t out_size) {
  static const char *const wdays[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
  static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int y, mo, d, h, mi, se;
  kf_time_utc_civil(t, &y, &mo, &d, &h, &mi, &se);
  int64_t days = floor_div(t, 86400);
  int wd = (int)(((days % 7) + 7) % 7);
  return kf_str_format(out, out_size, "%s, %d %s %04d %02d:%02d:%02d +0000", wdays[wd], d,
                       months[mo - 1], y, h, mi, se);
}

kf_rc kf_duration_parse_ms(const char *s, int64_t *out_ms) {
  const char *p = s;
  int64_t total = 0;
  bool any = false;
  /* Units must come largest first, each at most once, as in "1d2h3m4s". */
  int last_rank = 99;
  while (*p != '\0') {
    if (*p < '0' || *p > '9')
      return KF_ERR_PARSE;
    int64_t n = 0;
    while (*p >= '0' && *p <= '9') {
      if (n > 1000000000)
        return KF_ERR_LIMIT;
      n = n * 10 + (*p - '0');
      p++;
    }
    int64_t unit;
    int rank;
    if (strncmp(p, "ms", 2) == 0) {
      unit = 1;
      rank = 0;
      p += 2;
    } else if (*p == 'd') {
      unit = 86400000;
      rank = 4;
      p++;
    } else if (*p == 'h') {
      unit = 3600000;
      rank = 3;
      p++;
    } else if (*p == 'm') {
      unit = 60000;
      rank = 2;
      p++;
    } else if (*p == 's') {
      unit = 1000;
      rank = 1;
      p++;
    } else {
      return KF_ERR_PARSE;
    }
    if (rank >= last_rank)
      return KF_ERR_PARSE;
    last_rank = rank;
    total += n * unit;
    any = true;
  }
  if (!any)
    return KF_ERR_PARSE;
  *out_ms = total;
  return KF_OK;
}
