/*
 * kh_html.h: what a person sees on a page: its visible text and its links,
 * read with libxml2's HTML parser (recovering, no network), so that checks
 * compare what the contract says a page shows, never a particular markup,
 * quoting of attributes or spelling of character references.
 */
#ifndef KH_HTML_H
#define KH_HTML_H

#include <jansson.h>
#include <stddef.h>

#include "kf/buf.h"
#include "kf/error.h"

/*
 * The visible text of the body of an HTML document (len bytes at html):
 * character references decoded, tags dropped, script, style and template
 * contents and the head left out, white space runs folded to one blank, one
 * line per block (paragraph, heading, list item, table row, line break), no
 * empty lines. Appended to out.
 */
kf_rc kh_html_text(const char *html, size_t len, kf_buf *out);

/*
 * Every <a href> of the body, in document order, as a new JSON array of
 * {"text": visible text on one line, "href": the attribute as given}.
 */
kf_rc kh_html_links(const char *html, size_t len, json_t **out);

#endif
