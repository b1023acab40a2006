/*
 * kt_openapi.h: finding things in a contract read by kt_yaml, for tests.
 *
 * A node is named by a JSON pointer (RFC 6901: "/a/b", "~1" for a '/' and
 * "~0" for a '~' in a key, a number for an array's item), and a "$ref":
 * "#/..." is followed wherever the walk meets one, so a test sees what the
 * contract means, not how it happens to be split into components. A $ref
 * that leaves the document, names nothing or loops is an error, never a
 * quiet miss.
 *
 * Ownership: every returned node is borrowed from root.
 */
#ifndef KT_OPENAPI_H
#define KT_OPENAPI_H

#include <jansson.h>

#include "kf/error.h"

/* The most $refs followed in a row before a loop is assumed. */
#define KT_OPENAPI_REF_DEPTH_MAX 16

/*
 * node, or what its $ref names (followed again while that is a $ref), into
 * *out. KF_ERR_INVALID for a $ref that leaves the document or loops,
 * KF_ERR_NOT_FOUND for one that names nothing.
 */
kf_rc kt_openapi_follow(json_t *root, json_t *node, json_t **out, kf_err *err);

/*
 * The node at pointer below root into *out, $refs followed on the way and at
 * the end; *out NULL (and KF_OK) when the path names nothing. Errors as
 * kt_openapi_follow's.
 */
kf_rc kt_openapi_at(json_t *root, const char *pointer, json_t **out, kf_err *err);

#endif
