/*
 * kh_jsonpath.h: JSON paths for queries: "$", "$.a.b", "$.list[0]",
 * "$.list[-1]" (from the end) and "$[\"key with.dots\"]".
 */
#ifndef KH_JSONPATH_H
#define KH_JSONPATH_H

#include <jansson.h>

#include "kf/error.h"

/*
 * Look path up in root. *out is borrowed from root, or NULL when the path
 * leads nowhere (a missing key, an index out of range, a step into a
 * non-container). KF_ERR_INVALID (message in err) for bad syntax.
 */
kf_rc kh_jsonpath_get(const json_t *root, const char *path, json_t **out, kf_err *err);

#endif
