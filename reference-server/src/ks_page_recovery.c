/*
 * ks_page_recovery.c: the self-service pages for forgotten credentials
 * (AUTH-07; rows of KS_PAGES): "Passwort vergessen" asks for a reset link,
 * "Benutzername / E-Mail-Adresse vergessen" for a mail naming the username,
 * and "Passwort zurücksetzen", where the link of that mail leads, sets the
 * new password. The answers are the same whether or not an account exists
 * (the server's text, shown as it is). The guide's way through the Jobcenter
 * ("Zugangsdaten vergessen") stays on both forgot pages.
 */
#include "ks_html.h"

/* The guide's "Zugangsdaten vergessen": new one-time credentials by letter. */
#define RECOVERY_JOBCENTER                                                                         \
  "<h2>Zugangsdaten vergessen</h2>\n"                                                              \
  "<p>Falls Sie Ihre Zugangsdaten vergessen haben, können Sie neue Einmal-Zugangsdaten bei "      \
  "Ihrem Jobcenter anfordern.</p>\n"                                                               \
  "<p>Wenden Sie sich dazu an Ihren persönlichen Ansprechpartner / Ihre persönliche "            \
  "Ansprechpartnerin.</p>\n"

#define RECOVERY_BACK "<a href=\"/anmelden\">Zurück</a>"

kf_rc ks_page_forgot_password_main(kf_buf *out) {
  return kf_buf_append_str(
      out, "<p>Geben Sie Ihren Benutzernamen ein. Ist für Ihr Konto eine bestätigte "
           "E-Mail-Adresse hinterlegt, erhalten Sie eine E-Mail mit einem Link, mit dem Sie ein "
           "neues Passwort festlegen können.</p>\n"
           "<form data-api=\"/api/v1/password-resets\" method=\"post\">\n"
           "<p><label for=\"username\">Benutzername / E-Mail-Adresse</label>\n"
           "<input id=\"username\" name=\"username\" type=\"text\" "
           "autocomplete=\"username\"></p>\n"
           "<p>" RECOVERY_BACK " <button type=\"submit\">Link anfordern</button></p>\n"
           "</form>\n" KS_HTML_ANSWER RECOVERY_JOBCENTER);
}

kf_rc ks_page_forgot_username_main(kf_buf *out) {
  return kf_buf_append_str(
      out, "<p>Geben Sie Ihre E-Mail-Adresse ein. Ist sie für ein Konto bestätigt, erhalten Sie "
           "eine E-Mail mit Ihrem Benutzernamen.</p>\n"
           "<form data-api=\"/api/v1/username-reminders\" method=\"post\">\n"
           "<p><label for=\"email\">E-Mail-Adresse</label>\n"
           "<input id=\"email\" name=\"email\" type=\"text\" inputmode=\"email\" "
           "autocomplete=\"email\"></p>\n"
           "<p>" RECOVERY_BACK " <button type=\"submit\">Benutzernamen anfordern</button></p>\n"
           "</form>\n" KS_HTML_ANSWER RECOVERY_JOBCENTER);
}

kf_rc ks_page_password_reset_main(kf_buf *out) {
  kf_rc rc = kf_buf_append_str(
      out, "<p>Legen Sie ein neues Passwort fest. Danach melden Sie sich mit dem neuen Passwort "
           "an.</p>\n"
           "<form data-api=\"/api/v1/password-resets/confirm\" method=\"post\">\n"
           "<input name=\"id\" type=\"hidden\" data-query=\"id\">\n");
  if (rc == KF_OK)
    rc = ks_html_password_fields(out, "Neues Passwort *");
  if (rc != KF_OK)
    return rc;
  return kf_buf_append_str(out, "<p><button type=\"submit\">Passwort ändern</button></p>\n"
                                "</form>\n" KS_HTML_ANSWER
                                "<p><a href=\"/anmelden\">Zur Anmeldung</a></p>\n");
}
