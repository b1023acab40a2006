/*
 * ks_handler.h: what every area's handlers share: the request's clock and
 * session (resolved by the filter in ks_api.c), reading JSON members, and
 * answers from the error catalogue that are pages on HTML routes.
 *
 * Ownership: strings returned are borrowed from the request or the JSON
 * object they came from.
 */
#ifndef KS_HANDLER_H
#define KS_HANDLER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kf/error.h"
#include "kf/httpd.h"
#include "kf/uuid.h"
#include "ks_error.h"
#include "ks_session.h"

typedef struct ks_server ks_server;

/* What the filter resolved for a request; owned by the request. */
typedef struct ks_reqctx {
  const ks_server *srv;    /* The server answering (borrowed); its variants shape the answer. */
  int64_t now;             /* The request's time: its test clock's, or the real UTC clock's. */
  const char *token;       /* The session's bearer token (borrowed from the header), or NULL. */
  ks_session_stage stage;  /* The session's stage when token is set. */
  ks_session_info session; /* The whole session row when token is set. */
  json_t *body;            /* A KS_ROUTE_JSON route's parsed body (owned), else NULL. */
  char request_id[KF_UUID_STR_LEN + 1]; /* The request-id variant's X-Request-Id, else "". */
} ks_reqctx;

/*
 * Attach a fresh context at the real time for srv to req, and give resp the
 * headers every answer of srv carries (variants request-id and
 * answer-headers); false when memory ran out. Every routed request (the
 * filter) and every 405 (the refusal) passes here, so these headers need no
 * other place.
 */
bool ks_handler_ctx_attach(kf_http_req *req, kf_http_resp *resp, const ks_server *srv);
/* The request's context, or NULL before the filter attached one. */
ks_reqctx *ks_handler_ctx(const kf_http_req *req);

/* The time a request runs at: its test clock's, or the real UTC clock's. */
int64_t ks_handler_now(const kf_http_req *req);
/* The token of the session the filter checked (routes with a stage), else NULL. */
const char *ks_handler_token(const kf_http_req *req);
/* The request's X-Request-Id (the request-id variant), else NULL. */
const char *ks_handler_request_id(const kf_http_req *req);

/* How a JSON member looked: absent, null or empty; of the wrong type; or usable. */
typedef enum ks_member { KS_MEMBER_ABSENT, KS_MEMBER_WRONG_TYPE, KS_MEMBER_PRESENT } ks_member;

/* Read string member key of obj: *s and *len (with any NULs) when present, else "" and 0. */
ks_member ks_handler_string(const json_t *obj, const char *key, const char **s, size_t *len);
/* Whether the len bytes at s are all spaces (the only blank an address trims). */
bool ks_handler_blank(const char *s, size_t len);
/* A consent counts only as the JSON value true ("true", 1 or null are none: ACC-03). */
bool ks_handler_consent(const json_t *obj, const char *key);
/*
 * A missing or mistyped member m of field: add its entry to error (absent for
 * a missing one, INVALID_FIELD for a mistyped one) and say true; false when
 * the member is usable.
 */
bool ks_handler_member_problem(json_t *error, const char *field, ks_member m, ks_field absent);

/*
 * The JSON object body of a KS_ROUTE_JSON route, which the filter parsed
 * before the handler ran (borrowed from the request; never NULL there).
 */
json_t *ks_handler_json(const kf_http_req *req);
/*
 * When error (from ks_error_new) has field entries, or is NULL because
 * memory ran out (then a 500), answer with it: true. Otherwise free error:
 * false, the input is valid.
 */
bool ks_handler_refused(kf_http_req *req, kf_http_resp *resp, json_t *error);

/*
 * Answer status with the JSON body (steals it; NULL, memory ran out: a 500).
 * Every JSON body this server writes itself goes through here, laid out
 * compactly as application/json; charset=utf-8, or as the json-layout
 * variant lays it out.
 */
void ks_handler_json_answer(kf_http_req *req, kf_http_resp *resp, unsigned status, json_t *body);

/* Whether error (from ks_error_new) has any field entries yet. */
bool ks_handler_has_fields(const json_t *error);

/* Answer e from the catalogue: a page on a KS_ROUTE_HTML route, else the JSON error shape. */
void ks_handler_error(kf_http_req *req, kf_http_resp *resp, ks_error e);
/* The same for any error row (kf_httpd's own ones included); resp's headers stay. */
void ks_handler_error_row(kf_http_req *req, kf_http_resp *resp, const kf_http_error_row *row);
/* Log err and answer 500 INTERNAL_ERROR (details go only to the log). */
void ks_handler_internal(kf_http_req *req, kf_http_resp *resp, const kf_err *err);
/* Answer 400 with error (steals it). */
void ks_handler_invalid(kf_http_req *req, kf_http_resp *resp, json_t *error);
/*
 * Answer an HTML page of len bytes (rc from rendering it; page is freed here),
 * or a 500 when rendering failed.
 */
void ks_handler_page(kf_http_req *req, kf_http_resp *resp, unsigned status, kf_rc rc, char *page,
                     size_t len);

#endif
