/*
 * ks_html.h: the few HTML pages konform-server serves (the confirmation link
 * target and a minimal login page). They hold only fixed text, never input.
 */
#ifndef KS_HTML_H
#define KS_HTML_H

#include <stddef.h>

#include "kf/error.h"
#include "ks_link.h"

#define KS_HTML_CONTENT_TYPE "text/html; charset=utf-8"

/* The page for opening a confirmation link with verdict v. Caller frees *out with kf_free. */
kf_rc ks_html_confirm_page(ks_link_verdict v, char **out, size_t *out_len);
/*
 * A page for an error on an HTML route (for example an unknown Konform-Clock
 * on the confirmation link): code and message must be fixed text from this
 * program, never input, because they are not escaped. The paragraph carries
 * id="result" and data-code=code like the confirmation page. Caller frees *out
 * with kf_free.
 */
kf_rc ks_html_error_page(const char *code, const char *message, char **out, size_t *out_len);
/* The login page ("Anmeldung"). Caller frees *out with kf_free. */
kf_rc ks_html_login_page(char **out, size_t *out_len);

#endif
