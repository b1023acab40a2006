/*
 * kh_mocks.h: clients for the mock mail and post APIs (docs/design.md, "Mock
 * HTTP APIs"): the server-side long-poll waits and the health probe.
 */
#ifndef KH_MOCKS_H
#define KH_MOCKS_H

#include <jansson.h>
#include <stdint.h>

#include "kf/error.h"
#include "kh_ast.h"
#include "kh_http.h"

/* One wait. Strings are borrowed; NULL or "" leaves a filter out. */
typedef struct kh_mock_wait {
  kh_wait_kind what;           /* KH_WAIT_MAIL or KH_WAIT_LETTER. */
  const char *api;             /* The mock's base URL (profile mail_api or post_api). */
  const char *to;              /* Mail: recipient address. Letter: recipient name. */
  const char *from;            /* Mail only. */
  const char *subject;         /* Mail only (substring). */
  const char *kind;            /* Letter only. */
  const char *customer_number; /* Letter only. */
  int64_t after_id;            /* Only items newer than this id; 0 = any. */
  int64_t timeout_ms;          /* The whole wait; must be > 0 (may exceed one poll). */
  int64_t max_poll_ms;         /* Longest single long-poll; 0 = KH_MOCKS_MAX_POLL_MS. */
} kh_mock_wait;

/* The longest timeout_ms the mocks accept for one long-poll (docs/design.md). */
#define KH_MOCKS_MAX_POLL_MS 120000

/*
 * Long-poll GET {api}/api/v1/wait/{messages|letters}?...&timeout_ms=N. A wait
 * longer than one poll may last is carried out as consecutive polls of at most
 * max_poll_ms each, whose timeouts add up to timeout_ms; each returns as soon
 * as a match arrives. On KF_OK
 * *doc is the matching document (caller json_decref's) and *id its "id".
 * KF_ERR_TIMEOUT (a conformance failure, message like "no mail to X matching
 * subject Y within 10s") when nothing matched in time; KF_ERR_NETWORK when the
 * mock cannot be reached; KF_ERR_STATE for any other answer. resp (initialised
 * by the caller, released by the caller) keeps the traces in every case.
 */
kf_rc kh_mocks_wait(const kh_mock_wait *w, kh_http_response *resp, json_t **doc, int64_t *id,
                    kf_err *err);

/*
 * GET {api}/api/v1/messages/{id}/raw and store the source as doc["raw"] (a
 * string kept byte for byte, so `mail.raw` can be queried). KF_ERR_NETWORK /
 * KF_ERR_TIMEOUT when unreachable, KF_ERR_STATE for any answer but 200.
 */
kf_rc kh_mocks_attach_raw(const char *api, int64_t id, json_t *doc, kf_err *err);

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
