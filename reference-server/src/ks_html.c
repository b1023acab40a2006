/*
 * ks_html.c: HTML pages, worded as in seed 004 steps 8 and 9.
 */
#include "ks_html.h"

#include <assert.h>

#include "kf/buf.h"
#include "kf/str.h"

#define HTML_MAX (32 * 1024)

static kf_rc html_page(const char *title, const char *crumb, const char *main_html, char **out,
                       size_t *out_len) {
  kf_buf b;
  kf_buf_init(&b, HTML_MAX);
  kf_rc rc =
      kf_buf_appendf(&b,
                     "<!DOCTYPE html>\n"
                     "<html lang=\"de\">\n"
                     "<head>\n"
                     "<meta charset=\"utf-8\">\n"
                     "<title>%s</title>\n"
                     "</head>\n"
                     "<body>\n"
                     "<header><p>Bundesagentur für Arbeit<br>bringt weiter.</p></header>\n"
                     "<nav aria-label=\"Brotkrumen\"><a href=\"/\">Startseite</a> &gt; %s</nav>\n"
                     "<main>\n"
                     "<h1>%s</h1>\n"
                     "%s"
                     "</main>\n"
                     "</body>\n"
                     "</html>\n",
                     title, crumb, title, main_html);
  if (rc != KF_OK) {
    kf_buf_release(&b);
    return rc;
  }
  *out = kf_buf_detach(&b, out_len);
  return *out != NULL ? KF_OK : KF_ERR_NOMEM;
}

#define HTML_LOGIN_LINK "<p><a href=\"/anmelden\">Zur Anmeldung</a></p>\n"

/* What follows the result paragraph of the confirmation page, by verdict (NULL: nothing). */
static const char *const html_confirm_after[] = {
    [KS_LINK_VALID] = "<p>Sie können sich jetzt im Portal der Bundesagentur für Arbeit mit der "
                      "E-Mail anmelden.</p>\n" HTML_LOGIN_LINK,
    [KS_LINK_ALREADY_CONFIRMED] = HTML_LOGIN_LINK,
    [KS_LINK_NOT_FOUND] = NULL,
};

/* A page with the result paragraph (code and message: our fixed text) and then after. */
static kf_rc html_result_page(const char *title, const char *crumb, const char *code,
                              const char *message, const char *after, char **out, size_t *out_len) {
  char main_html[2048];
  kf_rc rc =
      kf_str_format(main_html, sizeof main_html, "<p id=\"result\" data-code=\"%s\">%s</p>\n%s",
                    code, message, after != NULL ? after : "");
  if (rc != KF_OK)
    return rc;
  return html_page(title, crumb, main_html, out, out_len);
}

kf_rc ks_html_confirm_page(ks_link_verdict v, char **out, size_t *out_len) {
  assert(out != NULL);
  assert((size_t)v < sizeof html_confirm_after / sizeof html_confirm_after[0]);
  const char *code = v == KS_LINK_VALID ? "CONFIRMED" : ks_link_verdict_code(v);
  return html_result_page("Bestätigung der E-Mail-Adresse", "E-Mail-Bestätigung", code,
                          ks_link_verdict_message(v), html_confirm_after[v], out, out_len);
}

kf_rc ks_html_error_page(const char *code, const char *message, char **out, size_t *out_len) {
  assert(code != NULL && message != NULL && out != NULL);
  return html_result_page("Fehler", "Fehler", code, message, NULL, out, out_len);
}

kf_rc ks_html_login_page(char **out, size_t *out_len) {
  assert(out != NULL);
  static const char main_html[] =
      "<p>Melden Sie sich bitte mit Ihren Zugangsdaten an:</p>\n"
      "<form method=\"post\" action=\"/api/v1/sessions\">\n"
      "<p><label for=\"username\">Benutzername / E-Mail-Adresse</label>\n"
      "<input id=\"username\" name=\"username\" type=\"text\" autocomplete=\"username\"></p>\n"
      "<p><label for=\"password\">Passwort</label>\n"
      "<input id=\"password\" name=\"password\" type=\"password\" "
      "autocomplete=\"current-password\"></p>\n"
      "<p><button type=\"submit\">Anmelden</button></p>\n"
      "</form>\n"
      "<p>Noch kein Konto? <a href=\"/registrierung\">Jetzt registrieren</a></p>\n"
      "<ul>\n"
      "<li><a href=\"/benutzername-vergessen\">Benutzername / E-Mail-Adresse vergessen</a></li>\n"
      "<li><a href=\"/passwort-vergessen\">Passwort vergessen</a></li>\n"
      "</ul>\n";
  return html_page("Anmeldung", "Anmeldung", main_html, out, out_len);
}
