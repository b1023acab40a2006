/*
 * ks_page_api.c: the portal's pages (ks_html.h, KS_PAGES) and their script
 * (ks_page_script.h). A page is one row of KS_PAGES: its route comes from the
 * same row, in the same order, so a route's place in page_routes is its
 * page. The script's route follows the pages' rows.
 */
#include "ks_page_api.h"

#include "ks_handler.h"
#include "ks_html.h"
#include "ks_page_script.h"

static void page_serve(kf_http_req *req, kf_http_resp *resp, void *ctx);
static void page_script_serve(kf_http_req *req, kf_http_resp *resp, void *ctx);

static const ks_route page_routes[] = {
#define PAGE_X_ROUTE(name, path, title, crumb, main)                                               \
  {"GET", path, page_serve, KS_ROUTE_HTML, KS_STAGE_NONE},
    KS_PAGES(PAGE_X_ROUTE)
#undef PAGE_X_ROUTE
        {"GET", KS_PAGE_SCRIPT_PATH, page_script_serve, 0, KS_STAGE_NONE},
};

static void page_serve(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  (void)ctx;
  const ks_route *route = kf_http_req_route_data(req);
  ks_page p = (ks_page)(route - page_routes);
  char *page = NULL;
  size_t len = 0;
  kf_rc rc = ks_html_page(p, &page, &len);
  ks_handler_page(req, resp, 200, rc, page, len);
}

static void page_script_serve(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  (void)req;
  (void)ctx;
  size_t len = 0;
  const char *text = ks_page_script_text(&len);
  kf_http_resp_bytes(resp, 200, KS_PAGE_SCRIPT_TYPE, text, len);
  /* A script is never taken for another type (MIME sniffing), whoever links it. */
  kf_http_resp_header(resp, "X-Content-Type-Options", "nosniff");
}

const ks_area ks_page_api = {"pages", page_routes, sizeof page_routes / sizeof page_routes[0]};
