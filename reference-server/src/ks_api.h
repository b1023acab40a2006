/*
 * ks_api.h: konform-server's HTTP routes (docs/openapi.yaml is the contract).
 *
 * Each area of the API (ks_acc_api.c, ks_testctl_api.c, ...) exports one
 * ks_area: a table of route rows. ks_api.c installs every area of its table
 * and runs the one filter that, before any handler, judges what every route
 * shares in the contract's order (docs/openapi.yaml, x-konform-decisions):
 * the request's clock, the session stage a row asks for, then the JSON body
 * of a row that takes one. A row's flags say whether its errors are HTML
 * pages, whether it exists only in test mode, whether it takes a JSON body
 * and whether the clock header applies to it.
 *
 * Ownership: rows and areas are static; srv is borrowed by every route.
 */
#ifndef KS_API_H
#define KS_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kf/error.h"
#include "kf/httpd.h"
#include "ks_server.h"

#define KS_CLOCK_HEADER "Konform-Clock"

/* The route answers with HTML, so its errors are pages too (ks_html_error_page). */
#define KS_ROUTE_HTML (1u << 0)
/* The route exists only with --test-mode (otherwise 404). */
#define KS_ROUTE_TEST_ONLY (1u << 1)
/*
 * The route takes a JSON object body: the filter parses it (415
 * UNSUPPORTED_MEDIA_TYPE, 400 INVALID_UTF8, MALFORMED_JSON, BODY_NOT_OBJECT)
 * before the handler, which reads it with ks_handler_json.
 */
#define KS_ROUTE_JSON (1u << 2)
/*
 * The Konform-Clock header does not apply: the route never reads the
 * request's time (the test-control routes, which name their clock in the
 * path), so the header is ignored rather than judged.
 */
#define KS_ROUTE_CLOCKLESS (1u << 3)

/*
 * What a route needs before its handler runs, checked by the filter:
 * NONE, nothing; SESSION, a live session in any stage ("Authorization:
 * Bearer <token>", else 401 UNAUTHENTICATED); FULL, a session past its second
 * factor (a session still at second_factor_setup: 403 SECOND_FACTOR_REQUIRED).
 */
typedef enum ks_route_stage { KS_STAGE_NONE, KS_STAGE_SESSION, KS_STAGE_FULL } ks_route_stage;

typedef struct ks_route {
  const char *method;
  const char *pattern; /* kf_httpd_route syntax: "/test/v1/clocks/{id}". */
  kf_http_handler handler;
  unsigned flags; /* KS_ROUTE_*. */
  ks_route_stage stage;
} ks_route;

typedef struct ks_area {
  const char *name;
  const ks_route *routes;
  size_t n_routes;
} ks_area;

/*
 * Register every area's routes and the filter on httpd. srv is borrowed and
 * must outlive the daemon. The KS_ROUTE_TEST_ONLY routes and the
 * Konform-Clock header exist only when srv->cfg->test_mode is set.
 */
kf_rc ks_api_install(kf_httpd *httpd, ks_server *srv, kf_err *err);

/* The areas ks_api_install installs, in order; *n gets their number. Static. */
const ks_area *const *ks_api_areas(size_t *n);

/* Whether the Konform-Clock header applies to route (test mode and not KS_ROUTE_CLOCKLESS). */
bool ks_api_clock_applies(const ks_server *srv, const ks_route *route);

/* The same for the n areas given (tests install areas of their own). */
kf_rc ks_api_install_areas(kf_httpd *httpd, ks_server *srv, const ks_area *const *areas, size_t n,
                           kf_err *err);

#endif
