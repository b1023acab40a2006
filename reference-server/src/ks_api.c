/*
 * ks_api.c: the table of API areas, and the one filter every routed request
 * passes before its handler: it resolves the Konform-Clock header (test mode),
 * enforces the session stage of the route's row (AUTH-02) and parses the JSON
 * body of a row that takes one, in that order (the contract's order of
 * judgement; kf_httpd judged the body's size and the route before).
 */
#include "ks_api.h"

#include <assert.h>

#include "ks_acc_api.h"
#include "ks_auth_api.h"
#include "ks_clock.h"
#include "ks_fault.h"
#include "ks_handler.h"
#include "ks_page_api.h"
#include "ks_recovery_api.h"
#include "ks_pk_api.h"
#include "ks_session.h"
#include "ks_testctl_api.h"
#include "ks_totp_api.h"

/* Every area of the API; a new area is one file and one row here. */
static const ks_area *const api_areas[] = {
    &ks_acc_api,      /* ACC */
    &ks_auth_api,     /* AUTH-01..06 */
    &ks_page_api,     /* the pages */
    &ks_testctl_api,  /* test control */
    &ks_recovery_api, /* AUTH-07 */
    &ks_totp_api,     /* TOTP */
    &ks_pk_api,       /* PK */
};

const ks_area *const *ks_api_areas(size_t *n) {
  *n = sizeof api_areas / sizeof api_areas[0];
  return api_areas;
}

bool ks_api_clock_applies(const ks_server *srv, const ks_route *route) {
  return srv->cfg->test_mode && (route == NULL || (route->flags & KS_ROUTE_CLOCKLESS) == 0);
}

/* Set *now from the request's Konform-Clock header where it applies; KS_ERR_COUNT when fine. */
static ks_error api_resolve_clock(const ks_server *srv, const ks_route *route,
                                  const kf_http_req *req, int64_t *now, kf_err *err) {
  if (!ks_api_clock_applies(srv, route))
    return KS_ERR_COUNT;
  const char *id = kf_http_req_header(req, KS_CLOCK_HEADER);
  if (id == NULL)
    return KS_ERR_COUNT;
  ks_clock clock;
  kf_rc rc = ks_clock_get(srv->db, id, &clock, err);
  if (rc == KF_ERR_NOT_FOUND)
    return KS_ERR_CLOCK_HEADER_UNKNOWN;
  if (rc != KF_OK)
    return KS_ERR_INTERNAL_ERROR;
  *now = clock.frozen_time;
  ks_clock_release(&clock);
  return KS_ERR_COUNT;
}

/* Whether the request's session satisfies the route's stage; KS_ERR_COUNT when it does. */
static ks_error api_check_stage(const ks_server *srv, const ks_route *route, const kf_http_req *req,
                                ks_reqctx *c, kf_err *err) {
  if (route == NULL || route->stage == KS_STAGE_NONE)
    return KS_ERR_COUNT;
  const char *token = ks_session_bearer(kf_http_req_header(req, "Authorization"));
  if (token == NULL)
    return KS_ERR_UNAUTHENTICATED;
  bool found = false;
  if (ks_session_find(srv->db, token, &found, &c->session, err) != KF_OK)
    return KS_ERR_INTERNAL_ERROR;
  c->stage = c->session.stage;
  int64_t idle =
      KS_SESSION_IDLE_SECONDS + (ks_fault_on(srv, KS_FAULT_IDLE_ONE_SECOND_LONGER) ? 1 : 0);
  /* An idle session is as good as ended (AUTH-06); a live one starts its idle time again. */
  if (!found || !ks_session_live(&c->session, c->now, idle))
    return KS_ERR_UNAUTHENTICATED;
  if (ks_session_touch(srv->db, c->session.rowid, c->now, err) != KF_OK)
    return KS_ERR_INTERNAL_ERROR;
  if (route->stage == KS_STAGE_FULL && c->stage != KS_SESSION_FULL &&
      !ks_fault_on(srv, KS_FAULT_STAGE_NOT_ENFORCED))
    return KS_ERR_SECOND_FACTOR_REQUIRED;
  c->token = token;
  return KS_ERR_COUNT;
}

/*
 * The filter runs after routing, so it knows the route's row: an error on an
 * HTML route (the link in the mail) is a page, elsewhere the JSON shape.
 */
static bool api_filter(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  if (!ks_handler_ctx_attach(req, resp, srv)) {
    ks_handler_error(req, resp, KS_ERR_INTERNAL_ERROR);
    return false;
  }
  ks_reqctx *c = ks_handler_ctx(req);
  const ks_route *route = kf_http_req_route_data(req);
  kf_err err;
  kf_err_init(&err);
  ks_error e = api_resolve_clock(srv, route, req, &c->now, &err);
  if (e == KS_ERR_COUNT)
    e = api_check_stage(srv, route, req, c, &err);
  if (e == KS_ERR_INTERNAL_ERROR)
    ks_handler_internal(req, resp, &err);
  else if (e != KS_ERR_COUNT)
    ks_handler_error(req, resp, e);
  if (e != KS_ERR_COUNT)
    return false;
  /* The body last: media type, UTF-8, syntax, object (kf_http_req_json answers each). */
  return route == NULL || (route->flags & KS_ROUTE_JSON) == 0 ||
         kf_http_req_json(req, resp, &c->body) == KF_OK;
}

/*
 * A 405 on a page route is a page too; kf_httpd has set the Allow header.
 * The filter did not run, so the answer gets its context (and with it the
 * headers every answer carries) here; without memory for it the answer
 * stays the JSON 405 kf_httpd made.
 */
static void api_refusal(kf_http_req *req, kf_http_resp *resp, const kf_http_error_row *row,
                        void *ctx) {
  if (ks_handler_ctx_attach(req, resp, ctx))
    ks_handler_error_row(req, resp, row);
}

kf_rc ks_api_install_areas(kf_httpd *httpd, ks_server *srv, const ks_area *const *areas, size_t n,
                           kf_err *err) {
  assert(httpd != NULL && srv != NULL && areas != NULL);
  for (size_t a = 0; a < n; a++) {
    for (size_t i = 0; i < areas[a]->n_routes; i++) {
      const ks_route *r = &areas[a]->routes[i];
      if ((r->flags & KS_ROUTE_TEST_ONLY) != 0 && !srv->cfg->test_mode)
        continue;
      kf_rc rc = kf_httpd_route_with_data(httpd, r->method, r->pattern, r->handler, srv, r);
      if (rc != KF_OK)
        return kf_err_set(err, rc, "cannot add route %s %s (area %s)", r->method, r->pattern,
                          areas[a]->name);
    }
  }
  kf_httpd_set_filter(httpd, api_filter, srv);
  kf_httpd_set_refusal(httpd, api_refusal, srv);
  return KF_OK;
}

kf_rc ks_api_install(kf_httpd *httpd, ks_server *srv, kf_err *err) {
  return ks_api_install_areas(httpd, srv, api_areas, sizeof api_areas / sizeof api_areas[0], err);
}
