/*
 * ks_page_factor.c: the pages of the second factor (AUTH-02, TOTP-01,
 * TOTP-03, PK-01; rows of KS_PAGES in ks_html.h): "Sicherheitshinweis",
 * where a session without a second factor chooses one or ends with
 * "Abbrechen"; the TOTP setup with its QR code; the TOTP entry of a login;
 * the passkey setup. The texts are the guide's ("Schritt für Schritt",
 * Sicherheitshinweis and "Erklärung zu Passkey und TOTP"); the script
 * (ks_page_script.c) does what the markup's data-* attributes ask.
 */
#include "ks_html.h"

/* The guide's explanation of a passkey, on the Sicherheitshinweis and the passkey setup. */
#define FACTOR_PASSKEY_TEXT                                                                        \
  "<p>Statt einem Passwort verwenden Sie einen Passkey, auf den Sie bei jeder Anmeldung "          \
  "zugreifen müssen (z.B. über das Betriebssystem oder ein Passwort-Manager-Programm).</p>\n"
#define FACTOR_TOTP_TEXT                                                                           \
  "<p>Sie werden bei jeder Anmeldung mit einem Passwort zusätzlich nach einem TOTP-Code "         \
  "gefragt.</p>\n"
/* "Abbrechen" ends the session, whatever its stage, and leads back to the login. */
#define FACTOR_CANCEL "<button type=\"button\" data-action=\"logout\">Abbrechen</button>"

kf_rc ks_page_security_note_main(kf_buf *out) {
  return kf_buf_append_str(
      out, "<section data-view=\"session\">\n"
           "<p>Der Schutz Ihrer Daten ist uns wichtig. Aus diesem Grund bieten wir nur noch "
           "Anmeldevarianten mit mehreren Faktoren an.</p>\n"
           "<p>Sichern Sie Ihre Anmeldung ab:</p>\n"
           "<h2><a href=\"/passkey-einrichten\">Passkey einrichten</a></h2>\n" FACTOR_PASSKEY_TEXT
           "<h2><a href=\"/zweiter-faktor-einrichten\">Zweiter Faktor "
           "einrichten</a></h2>\n" FACTOR_TOTP_TEXT "<p>" FACTOR_CANCEL "</p>\n"
           "</section>\n" KS_HTML_NO_SESSION KS_HTML_ANSWER);
}

kf_rc ks_page_totp_setup_main(kf_buf *out) {
  return kf_buf_append_str(
      out,
      "<section data-view=\"totp-setup\" data-qr-alt=\"QR-Code für Ihre "
      "Authentifizierungs-App\">\n" FACTOR_TOTP_TEXT "<ul>\n"
      "<li>Absicherung der Anmeldung am Online-Portal mit TOTP</li>\n"
      "<li>TOTP steht für „Time-based One-time Password“.</li>\n"
      "<li>TOTP ist ein Verfahren, das mit Hilfe einer Authentifizierungs-App zeitgesteuert "
      "(alle 30 Sek.) ein neues Einmalkennwort generiert.</li>\n"
      "</ul>\n"
      "<div id=\"totp-details\" hidden>\n"
      "<h2>Authentifizierungs-App einrichten</h2>\n"
      "<p>Scannen Sie den QR-Code mit Ihrer Authentifizierungs-App oder geben Sie den Schlüssel "
      "dort ein.</p>\n"
      "<p id=\"totp-qr\"></p>\n"
      "<p>Schlüssel: <code id=\"totp-secret\"></code></p>\n"
      "<p id=\"totp-link\"></p>\n"
      "<h2>Code eingeben</h2>\n"
      "<form data-api=\"/api/v1/totp/activation\" data-then=\"stage\" method=\"post\">\n"
      "<p><label for=\"code\">TOTP-Code aus Ihrer Authentifizierungs-App</label>\n"
      "<input id=\"code\" name=\"code\" type=\"text\" inputmode=\"numeric\" "
      "autocomplete=\"one-time-code\" maxlength=\"6\"></p>\n"
      "<p><a href=\"/sicherheitshinweis\">Zurück</a> <button type=\"submit\">Zweiten Faktor "
      "aktivieren</button></p>\n"
      "</form>\n"
      "</div>\n"
      "</section>\n" KS_HTML_NO_SESSION KS_HTML_ANSWER);
}

kf_rc ks_page_totp_entry_main(kf_buf *out) {
  return kf_buf_append_str(
      out, "<section data-view=\"session\">\n"
           "<p>Geben Sie bitte den aktuellen TOTP-Code aus Ihrer Authentifizierungs-App "
           "ein.</p>\n"
           "<form data-api=\"/api/v1/sessions/current/totp\" data-then=\"stage\" "
           "method=\"post\">\n"
           "<p><label for=\"code\">TOTP-Code</label>\n"
           "<input id=\"code\" name=\"code\" type=\"text\" inputmode=\"numeric\" "
           "autocomplete=\"one-time-code\" maxlength=\"6\"></p>\n"
           "<p>" FACTOR_CANCEL " <button type=\"submit\">Anmelden</button></p>\n"
           "</form>\n"
           "</section>\n" KS_HTML_NO_SESSION KS_HTML_ANSWER);
}

kf_rc ks_page_passkey_setup_main(kf_buf *out) {
  return kf_buf_append_str(
      out, "<section data-view=\"session\">\n" FACTOR_PASSKEY_TEXT "<ul>\n"
           "<li>Anmeldung mit Passkey am Online-Portal</li>\n"
           "<li>Passkeys sind verschlüsselte digitale Schlüssel.</li>\n"
           "<li>Passkeys werden typischerweise mithilfe eines Fingerabdrucks, Gesichtserkennung "
           "oder einer PIN erstellt.</li>\n"
           "</ul>\n"
           "<form data-action=\"passkey-setup\" method=\"post\">\n"
           "<p><label for=\"name\">Name des Passkeys (freiwillig)</label>\n"
           "<input id=\"name\" name=\"name\" type=\"text\" maxlength=\"64\" "
           "autocomplete=\"off\"></p>\n"
           "<p><a href=\"/sicherheitshinweis\">Zurück</a> <button type=\"submit\">Passkey "
           "einrichten</button></p>\n"
           "</form>\n"
           "</section>\n" KS_HTML_NO_SESSION KS_HTML_ANSWER);
}
