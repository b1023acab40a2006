/*
 * ks_html.c: HTML pages, worded as the guides word them (ACC-08, ACC-10,
 * AUTH-01; docs/requirements.md): the page template, the confirmation and
 * error pages, and the start, login and registration pages.
 */
#include "ks_html.h"

#include <assert.h>
#include <string.h>

#include "kf/httpd.h"
#include "kf/password_policy.h"
#include "kf/str.h"
#include "ks_page_script.h"

#define HTML_MAX (32 * 1024)
/* How an error page names the answer's reference (the request-id variant). */
#define HTML_REF_LABEL "Vorgangsnummer"

/* The page around main_html; a NULL crumb is the start page, which links nowhere. */
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
                     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                     "<title>%s</title>\n"
                     "<script src=\"" KS_PAGE_SCRIPT_PATH "\" defer></script>\n"
                     "</head>\n"
                     "<body>\n"
                     "<header><p>Bundesagentur für Arbeit<br>bringt weiter.</p></header>\n"
                     "<nav aria-label=\"Brotkrumen\">%s%s</nav>\n"
                     "<main>\n"
                     "<h1>%s</h1>\n"
                     "%s"
                     "</main>\n"
                     "</body>\n"
                     "</html>\n",
                     title, crumb != NULL ? "<a href=\"/\">Startseite</a> &gt; " : "Startseite",
                     crumb != NULL ? crumb : "", title, main_html);
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

/*
 * A page with the result paragraph (code and message: our fixed text), the
 * answer's reference ref when there is one (a UUID this server made), and
 * then after.
 */
static kf_rc html_result_page(const char *title, const char *crumb, const char *code,
                              const char *message, const char *ref, const char *after, char **out,
                              size_t *out_len) {
  char main_html[2048];
  kf_rc rc = kf_str_format(
      main_html, sizeof main_html, "<p id=\"result\" data-code=\"%s\">%s</p>\n%s%s%s%s", code,
      message, ref != NULL ? "<p id=\"vorgang\">" HTML_REF_LABEL ": " : "", ref != NULL ? ref : "",
      ref != NULL ? "</p>\n" : "", after != NULL ? after : "");
  if (rc != KF_OK)
    return rc;
  return html_page(title, crumb, main_html, out, out_len);
}

kf_rc ks_html_confirm_page(ks_link_verdict v, const char *ref, char **out, size_t *out_len) {
  assert(out != NULL);
  assert((size_t)v < sizeof html_confirm_after / sizeof html_confirm_after[0]);
  const char *code = v == KS_LINK_VALID ? "CONFIRMED" : ks_link_verdict_code(v);
  return html_result_page("Bestätigung der E-Mail-Adresse", "E-Mail-Bestätigung", code,
                          ks_link_verdict_message(v), v == KS_LINK_VALID ? NULL : ref,
                          html_confirm_after[v], out, out_len);
}

kf_rc ks_html_error_page(const char *code, const char *message, const char *ref, char **out,
                         size_t *out_len) {
  assert(code != NULL && message != NULL && out != NULL);
  return html_result_page("Fehler", "Fehler", code, message, ref, NULL, out, out_len);
}

/* ---- The portal's pages (KS_PAGES). ---- */

kf_rc ks_html_start_main(kf_buf *out) {
  return kf_buf_append_str(
      out, "<p>Hier können Sie sich für die Online-Angebote der Bundesagentur für Arbeit "
           "anmelden. Dazu gehören auch die Angebote der Jobcenter und der Familienkasse.</p>\n"
           "<h2>Bundesagentur für Arbeit</h2>\n"
           "<p><a href=\"/anmelden\">Anmelden/Registrieren</a></p>\n");
}

kf_rc ks_html_login_main(kf_buf *out) {
  return kf_buf_append_str(
      out,
      "<p>Melden Sie sich bitte mit Ihren Zugangsdaten an:</p>\n"
      "<p><button type=\"button\" data-action=\"passkey-login\">Mit Passkey anmelden</button></p>\n"
      "<p>oder</p>\n"
      "<form data-api=\"/api/v1/sessions\" data-then=\"enter\" method=\"post\">\n"
      "<p><label for=\"username\">Benutzername / E-Mail-Adresse</label>\n"
      "<input id=\"username\" name=\"username\" type=\"text\" autocomplete=\"username\"></p>\n"
      "<p><label for=\"password\">Passwort</label>\n"
      "<input id=\"password\" name=\"password\" type=\"password\" "
      "autocomplete=\"current-password\"></p>\n"
      "<p><a href=\"/\">Zurück</a> <button type=\"submit\">Anmelden</button></p>\n"
      "</form>\n" KS_HTML_ANSWER
      "<p>Noch kein Konto? <a href=\"/registrierung\">Jetzt registrieren</a></p>\n"
      "<ul>\n"
      "<li><a href=\"/benutzername-vergessen\">Benutzername / E-Mail-Adresse vergessen</a></li>\n"
      "<li><a href=\"/passwort-vergessen\">Passwort vergessen</a></li>\n"
      "</ul>\n");
}

kf_rc ks_html_escape(kf_buf *out, const char *text, size_t len) {
  static const char *const entities[] = {
      ['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;", ['"'] = "&quot;"};
  kf_rc rc = KF_OK;
  for (size_t i = 0; rc == KF_OK && i < len; i++) {
    unsigned char c = (unsigned char)text[i];
    const char *e = c < sizeof entities / sizeof entities[0] ? entities[c] : NULL;
    rc = e != NULL ? kf_buf_append_str(out, e) : kf_buf_append_byte(out, text[i]);
  }
  return rc;
}

kf_rc ks_html_register_main(kf_buf *out) {
  kf_rc rc = kf_buf_append_str(
      out,
      "<p>Registrieren Sie sich, um die Online-Angebote der Bundesagentur für Arbeit nutzen zu "
      "können.</p>\n"
      "<p>Bitte alle mit * markierten Felder ausfüllen.</p>\n"
      "<form data-api=\"/api/v1/registrations\" method=\"post\">\n"
      "<h2>E-Mail-Adresse</h2>\n"
      "<p><label for=\"email\">E-Mail-Adresse *</label>\n"
      "<input id=\"email\" name=\"email\" type=\"text\" inputmode=\"email\" "
      "autocomplete=\"email\"></p>\n"
      "<p>Wichtig: Diese E-Mail-Adresse ist zukünftig Ihr Benutzername.</p>\n"
      "<h2>Passwort</h2>\n");
  if (rc == KF_OK)
    rc = ks_html_password_fields(out, "Passwort *");
  if (rc != KF_OK)
    return rc;
  return kf_buf_append_str(
      out,
      "<h2>Zustimmung und Einwilligung</h2>\n"
      "<p>Zur Registrierung benötigen wir Ihre Zustimmung zu unseren Nutzungsbedingungen, sowie "
      "Ihre Einwilligung zur Nutzung der E-Mail-Adresse.</p>\n"
      "<p><input id=\"accept_terms\" name=\"accept_terms\" type=\"checkbox\">\n"
      "<label for=\"accept_terms\">Ich habe die Nutzungsbedingungen gelesen und akzeptiere sie. "
      "*</label></p>\n"
      "<p><input id=\"consent_email\" name=\"consent_email\" type=\"checkbox\">\n"
      "<label for=\"consent_email\">Ich willige ein, dass die E-Mail-Adresse von der "
      "Bundesagentur für Arbeit im Sinne der Datenschutzerklärung Kapitel „Verarbeitung der "
      "Registrierungsdaten“ erhoben und verarbeitet werden darf. Die Einwilligung kann gemäß der "
      "Datenschutzerklärung Kapitel „Widerrufsmöglichkeit“ jederzeit ohne Angabe von Gründen "
      "mit Wirkung für die Zukunft widerrufen werden. *</label></p>\n"
      "<p><a href=\"/anmelden\">Abbrechen</a> <button type=\"submit\">Registrieren</button></p>\n"
      "</form>\n" KS_HTML_ANSWER);
}

kf_rc ks_html_password_fields(kf_buf *out, const char *label) {
  kf_rc rc = kf_buf_append_str(out, "<p><label for=\"password\">");
  if (rc == KF_OK)
    rc = kf_buf_append_str(out, label);
  if (rc == KF_OK)
    rc = kf_buf_append_str(
        out, "</label>\n"
             "<input id=\"password\" name=\"password\" type=\"password\" "
             "autocomplete=\"new-password\"></p>\n"
             "<p><label for=\"password_repeat\">Passwort wiederholen *</label>\n"
             "<input id=\"password_repeat\" name=\"password_repeat\" type=\"password\" "
             "autocomplete=\"new-password\"></p>\n"
             "<p>Geben Sie ein Passwort an. Es muss folgende Kriterien erfüllen:</p>\n");
  return rc == KF_OK ? ks_html_password_checklist(out) : rc;
}

kf_rc ks_html_password_checklist(kf_buf *out) {
  kf_rc rc = kf_buf_append_str(out, "<ul>\n");
  /* The checklist is the policy's own labels (ACC-04), so page and answers agree. */
  for (int c = 0; rc == KF_OK && c < KF_PW_CRITERIA_COUNT; c++) {
    const char *label = kf_pw_criterion_label((kf_pw_criterion)c);
    rc = kf_buf_append_str(out, "<li>");
    if (rc == KF_OK)
      rc = ks_html_escape(out, label, strlen(label));
    if (rc == KF_OK)
      rc = kf_buf_append_str(out, "</li>\n");
  }
  return rc == KF_OK ? kf_buf_append_str(out, "</ul>\n") : rc;
}

typedef struct html_page_row {
  const char *path;
  const char *title;
  const char *crumb;
  kf_rc (*main)(kf_buf *out);
} html_page_row;

static const html_page_row html_pages[] = {
#define HTML_X_PAGE(name, path, title, crumb, main) {path, title, crumb, main},
    KS_PAGES(HTML_X_PAGE)
#undef HTML_X_PAGE
};

const char *ks_html_page_path(ks_page p) {
  assert(p < KS_PAGE_COUNT);
  return html_pages[p].path;
}

kf_rc ks_html_page(ks_page p, char **out, size_t *out_len) {
  assert(p < KS_PAGE_COUNT && out != NULL);
  kf_buf m;
  kf_buf_init(&m, HTML_MAX);
  kf_rc rc = html_pages[p].main(&m);
  if (rc == KF_OK)
    rc = html_page(html_pages[p].title, html_pages[p].crumb, m.data != NULL ? m.data : "", out,
                   out_len);
  kf_buf_release(&m);
  return rc;
}
