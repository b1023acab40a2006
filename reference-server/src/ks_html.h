/*
 * ks_html.h: the HTML pages konform-server serves: the confirmation link's
 * target (ACC-08) and the portal's pages it links to, worded as the guides
 * word them (ACC-08, ACC-10, AUTH-01..07, TOTP-01, PK-01; docs/requirements.md).
 * They hold only fixed text, never input, and load nothing from elsewhere:
 * their one script (ks_page_script.h) is served by this server and talks
 * only to its JSON routes.
 *
 * The renderers of KS_PAGES: the start, login and registration pages in
 * ks_html.c; the second-factor pages in ks_page_factor.c (Sicherheitshinweis,
 * TOTP setup and entry, passkey setup), the account page in
 * ks_page_account.c, the forgot and reset pages in ks_page_recovery.c.
 */
#ifndef KS_HTML_H
#define KS_HTML_H

#include <stddef.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "kf/httpd.h"
#include "ks_link.h"

#define KS_HTML_CONTENT_TYPE "text/html; charset=utf-8"

/*
 * What the pages may do (Content-Security-Policy): run this server's script
 * (no inline script, no style), show the QR code of a TOTP setup as a data:
 * image, send requests to this server; nothing from anywhere else.
 */
#define KS_HTML_CSP                                                                                \
  "default-src 'none'; script-src 'self'; img-src data:; connect-src 'self'; "                     \
  "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

/*
 * Where a form's answer appears (the script writes it), with the texts the
 * script shows of its own: the server cannot be reached, no session, a
 * browser without passkeys, a passkey ceremony that did not complete.
 */
#define KS_HTML_ANSWER                                                                             \
  "<div id=\"answer\" role=\"status\" aria-live=\"polite\" "                                       \
  "data-offline=\"" KF_HTTP_INTERNAL_MESSAGE "\" "                                                 \
  "data-signed-out=\"Sie sind nicht angemeldet. Bitte melden Sie sich an.\" "                      \
  "data-webauthn-missing=\"Ihr Browser unterstützt keine Passkeys.\" "                            \
  "data-webauthn-failed=\"Der Passkey-Vorgang wurde abgebrochen oder ist fehlgeschlagen. Bitte "   \
  "versuchen Sie es erneut.\"></div>\n"                                                            \
  "<noscript><p>Bitte aktivieren Sie JavaScript, um diese Seite zu nutzen.</p></noscript>\n"

/* What a page that needs a session shows once the script found none. */
#define KS_HTML_NO_SESSION                                                                         \
  "<p id=\"no-session\" hidden><a href=\"/anmelden\">Zur Anmeldung</a></p>\n"

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
    "Zugangsdaten vergessen", ks_page_forgot_username_main)                                        \
  X(FORGOT_PASSWORD, "/passwort-vergessen", "Passwort vergessen", "Zugangsdaten vergessen",        \
    ks_page_forgot_password_main)                                                                  \
  X(SECURITY_NOTE, "/sicherheitshinweis", "Sicherheitshinweis", "Anmeldung",                       \
    ks_page_security_note_main)                                                                    \
  X(TOTP_SETUP, "/zweiter-faktor-einrichten", "Zweiter Faktor einrichten", "Anmeldung",            \
    ks_page_totp_setup_main)                                                                       \
  X(TOTP_ENTRY, "/zweiter-faktor", "Zweiter Faktor", "Anmeldung", ks_page_totp_entry_main)         \
  X(PASSKEY_SETUP, "/passkey-einrichten", "Passkey einrichten", "Anmeldung",                       \
    ks_page_passkey_setup_main)                                                                    \
  X(ACCOUNT, "/konto", "Mein Konto", "Mein Konto", ks_page_account_main)                           \
  X(PASSWORD_RESET, "/passwort-zuruecksetzen", "Passwort zurücksetzen", "Zugangsdaten vergessen",  \
    ks_page_password_reset_main)

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
kf_rc ks_page_forgot_username_main(kf_buf *out);
kf_rc ks_page_forgot_password_main(kf_buf *out);
kf_rc ks_page_security_note_main(kf_buf *out);
kf_rc ks_page_totp_setup_main(kf_buf *out);
kf_rc ks_page_totp_entry_main(kf_buf *out);
kf_rc ks_page_passkey_setup_main(kf_buf *out);
kf_rc ks_page_account_main(kf_buf *out);
kf_rc ks_page_password_reset_main(kf_buf *out);
/* The checklist of the password policy's labels (ACC-04), for the forms that set a password. */
kf_rc ks_html_password_checklist(kf_buf *out);
/*
 * The inputs of a form that sets a password (the first labelled label, a
 * static text), the policy's sentence and its checklist.
 */
kf_rc ks_html_password_fields(kf_buf *out, const char *label);

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
