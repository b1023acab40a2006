/*
 * kh_repro_sh.h: the fixed part of a `konform repro` script: the POSIX sh
 * helper functions (curl for requests, the mocks' long-poll wait API, jq for
 * every query, filter and predicate) that the generated steps call. Kept in
 * one place so the steps kh_cmd_repro writes stay one line each.
 */
#ifndef KH_REPRO_SH_H
#define KH_REPRO_SH_H

/* The helpers; the script defines KONFORM_BASE_URL, KONFORM_MAIL_API, KONFORM_POST_API before. */
extern const char KH_REPRO_SH_HELPERS[];

#endif
