/*
 * ks_page_account.c: the page "Mein Konto" (row ACCOUNT of KS_PAGES), where
 * a login with its second factor arrives: what GET /api/v1/account says of
 * the account, its passkeys (GET /api/v1/passkeys) each with "Entfernen"
 * (PK-05), the ways to add a passkey or set up TOTP again, and "Abmelden".
 * Its script part is the view "account" (ks_page_script.c).
 */
#include "ks_html.h"

kf_rc ks_page_account_main(kf_buf *out) {
  return kf_buf_append_str(
      out,
      "<section data-view=\"account\">\n"
      "<p>Sie sind angemeldet.</p>\n"
      "<div id=\"account\" hidden>\n"
      "<dl>\n"
      "<dt>Benutzername</dt>\n"
      "<dd id=\"account-username\"></dd>\n"
      "<dt>Zweiter Faktor (TOTP)</dt>\n"
      "<dd id=\"account-totp\" data-yes=\"eingerichtet\" data-no=\"nicht eingerichtet\"></dd>\n"
      "<dt>Passkeys</dt>\n"
      "<dd id=\"account-passkeys\"></dd>\n"
      "</dl>\n"
      "<ul id=\"account-passkey-list\" data-unnamed=\"Passkey\" data-created=\"eingerichtet am\" "
      "data-remove=\"Entfernen\"></ul>\n"
      "<ul>\n"
      "<li><a href=\"/passkey-einrichten\">Passkey einrichten</a></li>\n"
      "<li><a href=\"/zweiter-faktor-einrichten\">Zweiter Faktor einrichten</a></li>\n"
      "</ul>\n"
      "<p><button type=\"button\" data-action=\"logout\">Abmelden</button></p>\n"
      "</div>\n"
      "</section>\n" KS_HTML_NO_SESSION KS_HTML_ANSWER);
}
