/*
 * ks_api.h: konform-server's HTTP routes (docs/openapi.yaml is the contract).
 */
#ifndef KS_API_H
#define KS_API_H

#include <stdint.h>

#include "kf/error.h"
#include "kf/httpd.h"
#include "ks_server.h"

#define KS_CLOCK_HEADER "Konform-Clock"

/*
 * Register every route and the clock filter on httpd. srv is borrowed and must
 * outlive the daemon. The /test/v1 routes and the Konform-Clock header exist
 * only when srv->cfg->test_mode is set.
 */
kf_rc ks_api_install(kf_httpd *httpd, ks_server *srv, kf_err *err);

/* The time a request runs at: its test clock's, or the real UTC clock's. */
int64_t ks_api_now(const kf_http_req *req);

#endif
