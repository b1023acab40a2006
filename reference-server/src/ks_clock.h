/*
 * ks_clock.h: Stripe-style test clocks (--test-mode only), kept in sqlite so
 * every worker thread sees the same time.
 *
 * A clock holds a frozen Unix time. A request that names a clock in the
 * Konform-Clock header runs entirely at that time. Clocks only move forward.
 */
#ifndef KS_CLOCK_H
#define KS_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "kf/error.h"
#include "ks_db.h"

/* "clk_" and 16 hex digits. */
#define KS_CLOCK_ID_MAX 32
/* Frozen times are limited to years 1970 to 9999 so ISO formatting always works. */
#define KS_CLOCK_TIME_MAX INT64_C(253402300799)
/* The longest clock name, in Unicode characters (code points), not bytes. */
#define KS_CLOCK_NAME_MAX 200

typedef struct ks_clock {
  char id[KS_CLOCK_ID_MAX];
  char *name; /* Owned; NULL when the clock has none. */
  int64_t frozen_time;
} ks_clock;

void ks_clock_release(ks_clock *clock);

/* Whether s looks like a clock id at all (cheap check before a lookup). */
bool ks_clock_id_valid(const char *s);

/* Create a clock at frozen_time with an optional name (copied). */
kf_rc ks_clock_create(ks_db *db, int64_t frozen_time, const char *name, int64_t created_at,
                      ks_clock *out, kf_err *err);
/* Read a clock; KF_ERR_NOT_FOUND if there is none with that id. */
kf_rc ks_clock_get(ks_db *db, const char *id, ks_clock *out, kf_err *err);
/*
 * Move a clock to to_time (absolute) or by `to_time` seconds (relative).
 * KF_ERR_NOT_FOUND for an unknown id, KF_ERR_STATE if it would go backwards,
 * KF_ERR_LIMIT beyond KS_CLOCK_TIME_MAX. On success out holds the new state.
 */
kf_rc ks_clock_advance(ks_db *db, const char *id, bool relative, int64_t to_time, ks_clock *out,
                       kf_err *err);
/* Delete a clock; KF_ERR_NOT_FOUND if there is none. */
kf_rc ks_clock_delete(ks_db *db, const char *id, kf_err *err);

#endif
