/*
 * ks_page_script.h: the one script of the portal's pages, served by
 * ks_page_api at KS_PAGE_SCRIPT_PATH from this program's own bytes, so the
 * pages' Content-Security-Policy can say script-src 'self' and allow no
 * inline script at all. It talks only to this server's JSON routes.
 *
 * Ownership: the text is static.
 */
#ifndef KS_PAGE_SCRIPT_H
#define KS_PAGE_SCRIPT_H

#include <stddef.h>

#define KS_PAGE_SCRIPT_PATH "/static/portal.js"
#define KS_PAGE_SCRIPT_TYPE "text/javascript; charset=utf-8"

/* The script's text (NUL-terminated); *len gets its length in bytes. Static. */
const char *ks_page_script_text(size_t *len);

#endif
