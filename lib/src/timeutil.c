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

/* ---- RFC 5322 dates. ---- */

typedef struct rfc_cur {
  const char *s;
} rfc_cur;

/* Skip folding white space and comments (which may nest). */
static void rfc_skip_cfws(rfc_cur *c) {
  for (;;) {
    while (*c->s == ' ' || *c->s == '\t' || *c->s == '\r' || *c->s == '\n')
      c->s++;
    if (*c->s != '(')
      return;
    int depth = 0;
    do {
      if (*c->s == '\\' && c->s[1] != '\0')
        c->s++;
      else if (*c->s == '(')
        depth++;
      else if (*c->s == ')')
        depth--;
      c->s++;
    } while (depth > 0 && *c->s != '\0');
  }
}

/* Up to max digits (at least min) into *v; the count read, 0 when fewer than min. */
static int rfc_digits(rfc_cur *c, int min, int max, int *v) {
  int n = 0;
  *v = 0;
  while (n < max && c->s[n] >= '0' && c->s[n] <= '9') {
    *v = *v * 10 + (c->s[n] - '0');
    n++;
  }
  if (n < min || (c->s[n] >= '0' && c->s[n] <= '9'))
    return 0;
  c->s += n;
  return n;
}

/* The index of the three-letter name at the cursor in names (case-insensitive), or -1. */
static int rfc_name(rfc_cur *c, const char *const *names, int count) {
  for (int i = 0; i < count; i++) {
    bool same = true;
    for (int k = 0; k < 3 && same; k++) {
      char ch = c->s[k];
      same = ch != '\0' && (ch | 0x20) == names[i][k];
    }
    if (same) {
      c->s += 3;
      return i;
    }
  }
  return -1;
}

/* "+hhmm", "-hhmm", or an obsolete zone name; minutes east of UTC into *off. */
static bool rfc_zone(rfc_cur *c, int *off) {
  if (*c->s == '+' || *c->s == '-') {
    int sign = *c->s == '-' ? -1 : 1;
    c->s++;
    int hhmm = 0;
    if (rfc_digits(c, 4, 4, &hhmm) != 4 || hhmm % 100 > 59)
      return false;
    *off = sign * (hhmm / 100 * 60 + hhmm % 100);
    return true;
  }
  static const struct {
    const char *name;
    int hours;
  } zones[] = {{"UT", 0},   {"GMT", 0},  {"EST", -5}, {"EDT", -4}, {"CST", -6},
               {"CDT", -5}, {"MST", -7}, {"MDT", -6}, {"PST", -8}, {"PDT", -7}};
  size_t n = 0;
  while ((c->s[n] | 0x20) >= 'a' && (c->s[n] | 0x20) <= 'z')
    n++;
  for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
    if (strlen(zones[i].name) == n && kf_str_starts_with_ci(c->s, zones[i].name)) {
      c->s += n;
      *off = zones[i].hours * 60;
      return true;
    }
  }
  /* A military letter (except J) means nothing reliable: RFC 5322 4.3 says read it as +0000. */
  if (n == 1 && (c->s[0] | 0x20) != 'j') {
    c->s++;
    *off = 0;
    return true;
  }
  return false;
}

/* day month year, into the civil fields; the year as RFC 5322 4.3 reads 2 and 3 digits. */
static bool rfc_date(rfc_cur *c, int *day, int *month, int *year) {
  static const char *const months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                       "jul", "aug", "sep", "oct", "nov", "dec"};
  if (rfc_digits(c, 1, 2, day) == 0)
    return false;
  rfc_skip_cfws(c);
  int m = rfc_name(c, months, 12);
  if (m < 0)
    return false;
  *month = m + 1;
  rfc_skip_cfws(c);
  int n = rfc_digits(c, 2, 4, year);
  if (n == 0)
    return false;
  if (n == 2)
    *year += *year < 50 ? 2000 : 1900;
  else if (n == 3)
    *year += 1900;
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (*year % 4 == 0 && *year % 100 != 0) || *year % 400 == 0;
  return *day >= 1 && *day <= mdays[m] && !(m == 1 && *day == 29 && !leap);
}

/* hh:mm[:ss] */
static bool rfc_time(rfc_cur *c, int *hour, int *min, int *sec) {
  *sec = 0;
  if (rfc_digits(c, 2, 2, hour) == 0 || *hour > 23)
    return false;
  rfc_skip_cfws(c);
  if (*c->s++ != ':')
    return false;
  rfc_skip_cfws(c);
  if (rfc_digits(c, 2, 2, min) == 0 || *min > 59)
    return false;
  rfc_skip_cfws(c);
  if (*c->s == ':') {
    c->s++;
    rfc_skip_cfws(c);
    /* 60 is a leap second, which Unix time folds into the next minute's first. */
    if (rfc_digits(c, 2, 2, sec) == 0 || *sec > 60)
      return false;
  }
  return true;
}

kf_rc kf_time_parse_rfc5322(const char *s, int64_t *out) {
  static const char *const wdays[] = {"thu", "fri", "sat", "sun", "mon", "tue", "wed"};
  rfc_cur c = {s};
  rfc_skip_cfws(&c);
  int wday = rfc_name(&c, wdays, 7);
  if (wday >= 0) {
    rfc_skip_cfws(&c);
    if (*c.s++ != ',')
      return KF_ERR_PARSE;
    rfc_skip_cfws(&c);
  }
  int day, month, year, hour, min, sec, off = 0;
  if (!rfc_date(&c, &day, &month, &year))
    return KF_ERR_PARSE;
  rfc_skip_cfws(&c);
  if (!rfc_time(&c, &hour, &min, &sec))
    return KF_ERR_PARSE;
  rfc_skip_cfws(&c);
  if (!rfc_zone(&c, &off))
    return KF_ERR_PARSE;
  rfc_skip_cfws(&c);
  if (*c.s != '\0')
    return KF_ERR_PARSE;
  int64_t days = days_from_civil(year, month, day);
  /* 1970-01-01 was a Thursday, the first name of wdays. */
  if (wday >= 0 && (((days % 7) + 7) % 7) != wday)
    return KF_ERR_PARSE;
  *out = days * 86400 + hour * 3600 + min * 60 + sec - (int64_t)off * 60;
  return KF_OK;
}
