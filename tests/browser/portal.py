#!/usr/bin/env python3
"""The portal's pages in a real browser (headless Chromium).

Starts konform-mail and konform-server (test mode, loopback) and drives
Chromium over the DevTools protocol on a pipe (tests/browser/cdp.py):
registers an account on /registrierung, opens the link of the confirmation
mail, follows "Zur Anmeldung", shows the German answer to a wrong password,
logs in on /anmelden and reaches the page "Sicherheitshinweis", whose
"Abbrechen" ends the session. Every page the portal links to must answer
200, and no page may load anything but this server's script, throw, or
break its Content-Security-Policy. tests/browser/login.py goes on with the
second factor.

usage: tests/browser/portal.py [BIN_DIR]   (default build/bin)
Exit 0 when every check passed or when Chromium is not installed (it then
says "skipped" and why), 1 on a failed check.
"""
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdp  # noqa: E402
from cdp import check_page, fail, fill, submit_and_load, submit_and_wait  # noqa: E402

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/bin"
PAGES = ("/", "/anmelden", "/registrierung", "/benutzername-vergessen", "/passwort-vergessen",
         "/sicherheitshinweis", "/zweiter-faktor-einrichten", "/zweiter-faktor",
         "/passkey-einrichten", "/konto", "/passwort-zuruecksetzen")


def run(b, stack):
    base = stack.base
    seen = set()
    for path in PAGES:
        seen.update(check_page(b, base, path))
    email = f"browser-{os.getpid()}-{int(time.time())}@konform.test"
    password = "Browser-Test-2026!"
    cdp.register(b, stack, email, password)
    b.load(lambda: cdp.click(b, "Zur Anmeldung"), "\"Zur Anmeldung\"", "/anmelden")
    if b.js("document.title") != "Anmeldung":
        fail("\"Zur Anmeldung\" does not lead to the page \"Anmeldung\"")
    fill(b, {"username": email, "password": password + "x"})
    text = submit_and_wait(b, "Anmelden", "INVALID_CREDENTIALS", "a wrong password")
    if "Benutzername oder Passwort ist nicht korrekt." not in text:
        fail(f"wrong password answer: {text}")
    fill(b, {"username": email, "password": password})
    submit_and_load(b, "Anmelden", "/sicherheitshinweis", "the login")
    note = b.js("document.querySelector('main').innerText")
    for words in ("Sicherheitshinweis", "mehreren Faktoren", "Passkey einrichten",
                  "Zweiter Faktor einrichten", "Abbrechen"):
        if words not in note:
            fail(f"the page after the login does not say {words!r}: {note!r}")
    token = b.token()
    if not token:
        fail("the login keeps no session token")
    submit_and_load(b, "Abbrechen", "/anmelden", "\"Abbrechen\"")
    if b.token() is not None:
        fail("after \"Abbrechen\" the page still keeps the session token")
    # DELETE judges the token before anything (a live one it would end, but none is live).
    status, _ = cdp.http("DELETE", f"{stack.api}/api/v1/sessions/current",
                         headers={"Authorization": f"Bearer {token}"})
    if status != 401:
        fail(f"after \"Abbrechen\" the session still answers {status}, not 401")
    cdp.say(f"{len(seen)} distinct links checked; registration, confirmation, login, "
            f"\"Sicherheitshinweis\" and \"Abbrechen\" work in "
            f"{b.js('navigator.userAgent')[:60]}...")


if __name__ == "__main__":
    sys.exit(cdp.main("portal", BIN, "konform-browser.", run))
