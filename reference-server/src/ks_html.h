/*
 * ks_html.h: the HTML pages konform-server serves: the confirmation link's
 * target (ACC-08) and the portal's pages it links to, worded as the guides
 * word them (ACC-08, ACC-10, AUTH-02; docs/requirements.md). They hold only
 * fixed text, never input, and load nothing from elsewhere: a page's one
 * script is inline and talks only to this server's JSON routes.
 */
#ifndef KS_HTML_H
#define KS_HTML_H

#include <stddef.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "ks_link.h"

#define KS_HTML_CONTENT_TYPE "text/html; charset=utf-8"

/*
 * What the pages may do (Content-Security-Policy): their inline script and
 * style, requests to this server, nothing from anywhere else.
 */
#define KS_HTML_CSP                                                                                \
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "                    \
  "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

/*
 * X(name, path, title, breadcrumb, main): the portal's pages, one row each.
 * main appends the page's <main> content to a kf_buf. A breadcrumb of NULL
 * is the start page itself.
 */
#define KS_PAGES(X)                                                                                \
  X(START, "/", "Anmelden", NULL, ks_html_start_main)                                              \
  X(LOGIN, "/anmelden", "Anmeldung", "Anmeldung", ks_html_login_main)                              \
  X(REGISTER, "/registrierung", "Registrierung", "Registrierung", ks_html_register_main)           \
  X(FORGOT_USERNAME, "/benutzername-vergessen", "Benutzername / E-Mail-Adresse vergessen",         \
    "Zugangsdaten vergessen", ks_html_forgot_main)                                                 \
  X(FORGOT_PASSWORD, "/passwort-vergessen", "Passwort vergessen", "Zugangsdaten vergessen",        \
    ks_html_forgot_main)

typedef enum ks_page {
#define KS_X_PAGE_ENUM(name, path, title, crumb, main) KS_PAGE_##name,
  KS_PAGES(KS_X_PAGE_ENUM)
#undef KS_X_PAGE_ENUM
      KS_PAGE_COUNT
} ks_page;

/* The main content of each page (the rows of KS_PAGES). */
kf_rc ks_html_start_main(kf_buf *out);
kf_rc ks_html_login_main(kf_buf *out);
kf_rc ks_html_register_main(kf_buf *out);
kf_rc ks_html_forgot_main(kf_buf *out);

/* Append the len bytes of text to out with &, <, > and " written as entities. */
kf_rc ks_html_escape(kf_buf *out, const char *text, size_t len);

/* The path a page is served at ("/anmelden"). Static. */
const char *ks_html_page_path(ks_page p);
/* Page p. Caller frees *out with kf_free. */
kf_rc ks_html_page(ks_page p, char **out, size_t *out_len);

/*
 * The page for opening a confirmation link with verdict v. ref (may be NULL)
 * is the answer's reference, a UUID of this server (the request-id
 * variant), shown as "Vorgangsnummer: <ref>" when v is an error. Caller frees
 * *out with kf_free.
 */
kf_rc ks_html_confirm_page(ks_link_verdict v, const char *ref, char **out, size_t *out_len);
/*
 * A page for an error on an HTML route (for example an unknown Konform-Clock
 * on the confirmation link): code and message must be fixed text from this
 * program, never input, because they are not escaped; so must ref (may be
 * NULL, shown as on the confirmation page). The paragraph carries
 * id="result" and data-code=code like the confirmation page. Caller frees *out
 * with kf_free.
 */
kf_rc ks_html_error_page(const char *code, const char *message, const char *ref, char **out,
                         size_t *out_len);

#endif
