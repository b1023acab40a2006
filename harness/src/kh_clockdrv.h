/*
 * kh_clockdrv.h: drives a target's test clock (profile `clock = konform`)
 * through the test-control API of docs/design.md:
 *   POST {base_url}/test/v1/clocks {"frozen_time": N, "name": ..}  -> {"id": ..}
 *   POST {base_url}/test/v1/clocks/{id}/advance {"seconds": N} or {"frozen_time": N}
 *   DELETE {base_url}/test/v1/clocks/{id}
 * The id is then sent in the profile's clock header on every request.
 */
#ifndef KH_CLOCKDRV_H
#define KH_CLOCKDRV_H

#include <stdint.h>

#include "kf/error.h"
#include "kh_http.h"

/* Longest clock id accepted from a target (it goes into a header). */
#define KH_CLOCK_ID_MAX 128

/*
 * Create a clock frozen at unix seconds frozen_time; name (may be NULL) is a
 * label for the target's logs. On KF_OK *id_out is the clock id (caller frees
 * with kf_free). resp (caller-initialised, caller-released) keeps the traces.
 * KF_ERR_NETWORK/TIMEOUT when unreachable, KF_ERR_UNSUPPORTED when the target
 * has no test clock API (404), KF_ERR_STATE for any other refusal.
 */
kf_rc kh_clockdrv_create(const char *base_url, int64_t frozen_time, const char *name,
                         kh_http_response *resp, char **id_out, kf_err *err);

/* Move the clock forward by seconds (>= 0). Same errors as create. */
kf_rc kh_clockdrv_advance(const char *base_url, const char *id, int64_t seconds,
                          kh_http_response *resp, kf_err *err);

/* Set the clock to frozen_time (forward only: the target refuses going back). */
kf_rc kh_clockdrv_set(const char *base_url, const char *id, int64_t frozen_time,
                      kh_http_response *resp, kf_err *err);

/*
 * Delete the clock once its scenario is done, so a long run does not pile up
 * clocks on the target. A 404 (already gone) counts as deleted. Same errors
 * as create otherwise; resp keeps the traces.
 */
kf_rc kh_clockdrv_delete(const char *base_url, const char *id, kh_http_response *resp, kf_err *err);

#endif
