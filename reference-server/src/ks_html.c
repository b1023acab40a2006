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

kf_rc ks_html_confirm_page(ks_link_verdict v, char **out, size_t *out_len) {
  assert(out != NULL);
  const char *main_html;
  switch (v) {
  case KS_LINK_VALID:
    main_html =
        "<p id=\"result\" data-code=\"CONFIRMED\">Sie haben Ihre E-Mail-Adresse erfolgreich "
        "bestätigt.</p>\n"
        "<p>Sie können sich jetzt im Portal der Bundesagentur für Arbeit mit der E-Mail "
        "anmelden.</p>\n"
        "<p><a href=\"/anmelden\">Zur Anmeldung</a></p>\n";
    break;
  case KS_LINK_ALREADY_CONFIRMED:
    main_html = "<p id=\"result\" data-code=\"ALREADY_CONFIRMED\">Ihre E-Mail-Adresse ist bereits "
                "bestätigt.</p>\n"
                "<p><a href=\"/anmelden\">Zur Anmeldung</a></p>\n";
    break;
  case KS_LINK_SUPERSEDED:
    main_html =
        "<p id=\"result\" data-code=\"LINK_SUPERSEDED\">Dieser Bestätigungslink ist nicht mehr "
        "gültig, weil ein neuerer angefordert wurde. Bitte verwenden Sie den Link aus der "
        "neuesten E-Mail.</p>\n";
    break;
  case KS_LINK_EXPIRED:
    main_html = "<p id=\"result\" data-code=\"LINK_EXPIRED\">Der Bestätigungslink ist abgelaufen. "
                "Bitte fordern Sie eine neue E-Mail zur Bestätigung an.</p>\n";
    break;
  case KS_LINK_NOT_FOUND:
  default:
    main_html =
        "<p id=\"result\" data-code=\"LINK_NOT_FOUND\">Der Bestätigungslink ist ungültig.</p>\n";
    break;
  }
  return html_page("Bestätigung der E-Mail-Adresse", "E-Mail-Bestätigung", main_html, out, out_len);
}

kf_rc ks_html_error_page(const char *code, const char *message, char **out, size_t *out_len) {
  assert(code != NULL && message != NULL && out != NULL);
  char main_html[1024];
  kf_rc rc = kf_str_format(main_html, sizeof main_html,
                           "<p id=\"result\" data-code=\"%s\">%s</p>\n", code, message);
  if (rc != KF_OK)
    return rc;
  return html_page("Fehler", "Fehler", main_html, out, out_len);
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
