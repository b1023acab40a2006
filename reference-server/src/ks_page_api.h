/*
 * ks_page_api.h: the portal's pages area: one GET route per row of KS_PAGES
 * (ks_html.h), each an HTML route, so its errors are pages too.
 */
#ifndef KS_PAGE_API_H
#define KS_PAGE_API_H

#include "ks_api.h"

extern const ks_area ks_page_api;

#endif
