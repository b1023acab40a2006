/*
 * kh_mocks.h: clients for the mock mail and post APIs (docs/design.md, "Mock
 * HTTP APIs"): the server-side long-poll waits and the health probe.
 */
#ifndef KH_MOCKS_H
#define KH_MOCKS_H

#include <jansson.h>
#include <stdint.h>

#include "kf/error.h"
#include "kf/run_result.h"
#include "kh_http.h"

/* One filter of a wait: a query parameter of the mock and how a timeout message names it. */
typedef struct kh_mock_filter {
  const char *param; /* "to", "customer_number". */
  const char *value; /* NULL or "": left out. */
  const char *says;  /* printf format for the message, e.g. " matching subject \"%s\"". */
} kh_mock_filter;

/* One wait. Strings are borrowed. */
typedef struct kh_mock_wait {
  const char *api;        /* The mock's base URL (profile mail_api or post_api). */
  const char *collection; /* "messages" or "letters". */
  const char *noun;       /* "mail", "letter": for the timeout message. */
  const char *mock;       /* "mail", "post": which mock, for other messages. */
  const kh_mock_filter *filters;
  size_t filters_len;
  int64_t after_id;       /* Only items newer than this id; 0 = any. */
  int64_t timeout_ms;     /* The whole wait; must be > 0 (may exceed one poll). */
  int64_t max_poll_ms;    /* Longest single long-poll; 0 = KH_MOCKS_MAX_POLL_MS. */
  kf_step_result *record; /* Every poll's exchange is appended here; NULL keeps none. */
  const char *purpose;    /* Of each poll's exchange ("wait mail"). */
} kh_mock_wait;

/* The longest timeout_ms the mocks accept for one long-poll (docs/design.md). */
#define KH_MOCKS_MAX_POLL_MS 120000

/*
 * Long-poll GET {api}/api/v1/wait/{collection}?...&timeout_ms=N. A wait
 * longer than one poll may last is carried out as consecutive polls of at most
 * max_poll_ms each, whose timeouts add up to timeout_ms; each returns as soon
 * as a match arrives. On KF_OK *doc is the matching document (caller
 * json_decref's) and *id its "id". KF_ERR_TIMEOUT (a conformance failure,
 * message like "no mail to X matching subject Y within 10s") when nothing
 * matched in time; KF_ERR_NETWORK when the mock cannot be reached;
 * KF_ERR_STATE for any other answer.
 */
kf_rc kh_mocks_wait(const kh_mock_wait *w, json_t **doc, int64_t *id, kf_err *err);

/*
 * GET {api}/api/v1/{collection}/{id}/raw: the raw source, byte for byte, as a
 * new JSON string in *raw (caller json_decref's). The exchange goes to record
 * (may be NULL). KF_ERR_NETWORK / KF_ERR_TIMEOUT when unreachable,
 * KF_ERR_STATE for any answer but 200.
 */
kf_rc kh_mocks_fetch_raw(const char *api, const char *collection, int64_t id,
                         kf_step_result *record, json_t **raw, kf_err *err);

/*
 * GET {api}/api/v1/health within timeout_ms. KF_ERR_NETWORK or KF_ERR_TIMEOUT
 * when unreachable, KF_ERR_STATE when it answers with something other than 200.
 * When last_id is not NULL it receives the answer's "last_id" (the largest id
 * the mock ever gave), or 0 when the mock does not report one.
 */
kf_rc kh_mocks_health(const char *api, int64_t timeout_ms, int64_t *last_id, kf_err *err);

/* Append "10s" or "1500ms" for a duration (for messages). */
kf_rc kh_mocks_format_duration(kf_buf *out, int64_t ms);

#endif
