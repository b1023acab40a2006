#!/usr/bin/env python3
"""Login with a second factor in a real browser (headless Chromium, issue 7).

Drives konform-server's own pages over the DevTools pipe (tests/browser/cdp.py),
every request of the page at one test clock (the Konform-Clock header, added
by the protocol), so TOTP steps pass by advancing the clock, never by waiting:

- TOTP: register and confirm; log in with the password, reach
  "Sicherheitshinweis", set up "Zweiter Faktor einrichten" on the page (the
  QR code must be an image the browser shows; the secret is read from the
  page and the code made here, RFC 6238 with hmac), a wrong code is refused
  in German, the right one reaches "Mein Konto"; log out, log in with
  password and TOTP code through the forms (the same code again is refused
  as used), "Abbrechen" on the code page ends the session.
- Recovery: "Passwort vergessen" sends the mail "Passwort zurücksetzen"
  (read from konform-mail), its link's page sets a new password, the old one
  is refused and the new one logs in; "Benutzername / E-Mail-Adresse
  vergessen" sends the mail "Ihr Benutzername" naming the username.
- Passkey, with the DevTools WebAuthn domain's virtual authenticator (CTAP2,
  internal, resident key, user verification on): the TOTP account adds a
  passkey on "Mein Konto" (navigator.credentials.create), logs out and logs
  in with "Mit Passkey anmelden" (navigator.credentials.get), removes it
  with "Entfernen" and cannot log in with it any more; a new account
  makes a passkey its second factor from "Sicherheitshinweis", its password
  alone is then refused ("Bitte melden Sie sich mit Ihrem Passkey an.") and
  its passkey logs in. The second account's page writes the credential's
  JSON itself (PublicKeyCredential.toJSON taken away), as in browsers before
  WebAuthn L3.

usage: tests/browser/login.py [BIN_DIR]   (default build/bin)
Exit 0 when every check passed or when Chromium is not installed (it then
says "skipped" and why), 1 on a failed check.
"""
import base64
import hashlib
import hmac
import json
import os
import struct
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdp  # noqa: E402
from cdp import fail, fill, submit_and_load, submit_and_wait  # noqa: E402

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/bin"
STEP = 30


def totp(secret, t, digits=6):
    """RFC 6238 (HMAC-SHA1, T0 = 0, 30 s) for a Base32 secret (padding optional) at time t."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", t // STEP), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 10 ** digits
    return f"{code:0{digits}d}"


def check_totp():
    """RFC 6238 Appendix B, SHA1: the code this script makes is the standard's."""
    secret = base64.b32encode(b"12345678901234567890").decode()
    for t, want in ((59, "94287082"), (1111111109, "07081804"), (20000000000, "65353130")):
        if totp(secret, t, 8) != want:
            fail(f"this script's TOTP is wrong at {t}: {totp(secret, t, 8)}, not {want}")


def type_into(b, name, text):
    """Type text into the field called name, as keys would (Input.insertText)."""
    b.js(f"(() => {{ const e = document.getElementsByName({json.dumps(name)})[0]; "
         "e.value = ''; e.focus(); })()")
    b.call("Input.insertText", session=True, text=text)


def account(b, what):
    """What "Mein Konto" shows, once it shows it: username, TOTP, passkeys."""
    b.wait("!document.getElementById('account').hidden", what)
    return {k: b.js(f"document.getElementById('account-{k}').textContent")
            for k in ("username", "totp", "passkeys")}


def expect_account(b, email, totp_text, passkeys, what):
    got = account(b, what)
    want = {"username": email, "totp": totp_text, "passkeys": str(passkeys)}
    if got != want:
        fail(f"{what}: \"Mein Konto\" shows {got}, not {want}")


def logout(b, what):
    token = b.token()
    submit_and_load(b, "Abmelden", "/anmelden", what)
    if b.token() is not None:
        fail(f"{what}: the page still keeps the session token")
    return token


def totp_setup(b, stack, email, clock_time):
    """From "Sicherheitshinweis" set up TOTP on the page; the secret it shows."""
    b.load(lambda: cdp.click(b, "Zweiter Faktor einrichten"), "\"Zweiter Faktor einrichten\"",
           "/zweiter-faktor-einrichten")
    secret = b.wait("document.getElementById('totp-secret').textContent", "the TOTP secret")
    if len(secret) != 32 or set(secret) - set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"):
        fail(f"the page shows the secret {secret!r}, not 32 Base32 characters (160 bits)")
    uri = b.js("document.querySelector('#totp-link a').href")
    parsed = urllib.parse.urlsplit(uri)
    query = urllib.parse.parse_qs(parsed.query)
    if (parsed.scheme != "otpauth" or query.get("secret") != [secret]
            or query.get("issuer") != ["Jobcenter.Digital"]
            or urllib.parse.unquote(parsed.path) != f"/Jobcenter.Digital:{email}"):
        fail(f"the page's otpauth link does not name this secret and account: {uri}")
    # The QR code is an image the browser decoded and drew (CSP img-src data:).
    qr = b.wait("(() => { const i = document.querySelector('#totp-qr img'); "
                "return i && i.complete && i.naturalWidth > 0 && i.src.slice(0, 19); })()",
                "the QR code image")
    if qr != "data:image/svg+xml;":
        fail(f"the QR code is not an SVG data: image but {qr!r}")
    wrong = f"{(int(totp(secret, clock_time)) + 1) % 10 ** 6:06d}"
    if wrong in (totp(secret, clock_time + d * STEP) for d in (-1, 0, 1)):
        wrong = f"{(int(wrong) + 1) % 10 ** 6:06d}"
    type_into(b, "code", wrong)
    text = submit_and_wait(b, "Zweiten Faktor aktivieren", "TOTP_CODE_INVALID", "a wrong code")
    if "Der Code ist ungültig." not in text:
        fail(f"a wrong activation code is answered {text!r}")
    type_into(b, "code", totp(secret, clock_time))
    submit_and_load(b, "Zweiten Faktor aktivieren", "/konto", "the TOTP activation")
    expect_account(b, email, "eingerichtet", 0, "after the TOTP setup")
    return secret


def totp_login(b, stack, email, password, secret, now, what):
    """Log in with password and TOTP code through the forms; "Mein Konto" must follow."""
    cdp.login(b, stack, email, password, "/zweiter-faktor", f"{what}: the password")
    type_into(b, "code", totp(secret, now))
    submit_and_load(b, "Anmelden", "/konto", f"{what}: the TOTP code")
    expect_account(b, email, "eingerichtet", 0, what)


def run_totp(b, stack, clock, t0):
    email = f"totp-{os.getpid()}-{int(time.time())}@konform.test"
    password = "Browser-Totp-2026!"
    cdp.register(b, stack, email, password)
    cdp.login(b, stack, email, password, "/sicherheitshinweis", "the first login")
    secret = totp_setup(b, stack, email, t0)
    logout(b, "\"Abmelden\" after the setup")
    # The step the activation used is spent (TOTP-03): the same code is refused, in German.
    cdp.login(b, stack, email, password, "/zweiter-faktor", "the login with the spent step")
    type_into(b, "code", totp(secret, t0))
    text = submit_and_wait(b, "Anmelden", "TOTP_CODE_USED", "the code of a spent step")
    if "Dieser Code wurde bereits verwendet." not in text:
        fail(f"a used code is answered {text!r}")
    token = b.token()
    submit_and_load(b, "Abbrechen", "/anmelden", "\"Abbrechen\" on the code page")
    status, _ = cdp.http("DELETE", f"{stack.api}/api/v1/sessions/current",
                         headers={"Authorization": f"Bearer {token}"})
    if status != 401:
        fail(f"after \"Abbrechen\" on the code page the session answers {status}, not 401")
    now = stack.advance(clock, STEP)
    totp_login(b, stack, email, password, secret, now, "the login with password and TOTP")
    logout(b, "\"Abmelden\" after the TOTP login")
    return email, password, secret, now


def run_recovery(b, stack, clock, email, old_password, secret):
    b.open(stack.base + "/anmelden")
    b.load(lambda: cdp.click(b, "Passwort vergessen"), "\"Passwort vergessen\"",
           "/passwort-vergessen")
    fill(b, {"username": email})
    text = submit_and_wait(b, "Link anfordern", "ok", "the reset request")
    if not text.strip():
        fail("the reset request shows no answer")
    msg = stack.mail(email, "Passwort zurücksetzen")
    links = [u for u in msg["links"] if "/passwort-zuruecksetzen?id=" in u]
    if len(links) != 1 or not links[0].startswith(stack.base + "/passwort-zuruecksetzen?id="):
        fail(f"the mail \"Passwort zurücksetzen\" has the reset links {links}")
    b.open(links[0])
    new_password = "Browser-Neu-2026!"
    fill(b, {"password": new_password, "password_repeat": new_password + "x"})
    text = submit_and_wait(b, "Passwort ändern", "VALIDATION_FAILED", "a wrong repetition")
    if "richtige Passwortwiederholung" not in text:
        fail(f"a wrong repetition is answered {text!r}")
    fill(b, {"password": new_password, "password_repeat": new_password})
    text = submit_and_wait(b, "Passwort ändern", "ok", "the new password")
    if not text.strip():
        fail("setting the new password shows no answer")
    b.open(stack.base + "/anmelden")
    fill(b, {"username": email, "password": old_password})
    submit_and_wait(b, "Anmelden", "INVALID_CREDENTIALS", "the old password after the reset")
    now = stack.advance(clock, STEP)
    totp_login(b, stack, email, new_password, secret, now, "the login with the new password")
    logout(b, "\"Abmelden\" after the reset")
    b.open(stack.base + "/anmelden")
    b.load(lambda: cdp.click(b, "Benutzername / E-Mail-Adresse vergessen"),
           "\"Benutzername / E-Mail-Adresse vergessen\"", "/benutzername-vergessen")
    fill(b, {"email": email})
    text = submit_and_wait(b, "Benutzernamen anfordern", "ok", "the username reminder")
    if "Jobcenter" not in text:
        fail(f"the username reminder's answer does not name the Jobcenter: {text!r}")
    msg = stack.mail(email, "Ihr Benutzername")
    if email not in (msg.get("text") or ""):
        fail("the mail \"Ihr Benutzername\" does not name the username in its text")
    return new_password


# Browsers before WebAuthn L3 have no PublicKeyCredential.toJSON: the page then writes the
# JSON itself. Taking it away on the page covers that path in the same browser.
NO_TO_JSON = "delete PublicKeyCredential.prototype.toJSON; typeof PublicKeyCredential.prototype.toJSON"


def passkey_setup(b, authenticator, own_json, what):
    """On "Passkey einrichten": create a passkey (navigator.credentials.create); "Mein Konto"."""
    if not own_json and b.js(NO_TO_JSON) != "undefined":
        fail("cannot take PublicKeyCredential.toJSON away")
    fill(b, {"name": "Chromium"})
    submit_and_load(b, "Passkey einrichten", "/konto", what)
    creds = b.credentials(authenticator)
    if len(creds) != 1 or creds[0]["rpId"] != "localhost" or not creds[0]["isResidentCredential"]:
        fail(f"{what}: the authenticator holds {creds}, not one discoverable credential for "
             "localhost")


def passkey_login(b, stack, authenticator, own_json, what):
    """"Mit Passkey anmelden" (navigator.credentials.get) reaches "Mein Konto"."""
    b.open(stack.base + "/anmelden")
    if not own_json and b.js(NO_TO_JSON) != "undefined":
        fail("cannot take PublicKeyCredential.toJSON away")
    count = b.credentials(authenticator)[0]["signCount"]
    b.load(lambda: cdp.click(b, "Mit Passkey anmelden"), what, "/konto")
    if b.credentials(authenticator)[0]["signCount"] <= count:
        fail(f"{what}: the authenticator's credential signed nothing")


def run_passkey_added(b, stack, email, password, secret, clock):
    """The TOTP account adds a passkey on "Mein Konto" (a full session) and logs in with it."""
    authenticator = b.authenticator()
    now = stack.advance(clock, STEP)
    totp_login(b, stack, email, password, secret, now, "the login before adding a passkey")
    b.load(lambda: cdp.click(b, "Passkey einrichten"), "\"Passkey einrichten\" on the account",
           "/passkey-einrichten")
    passkey_setup(b, authenticator, True, "a passkey added to a full session")
    expect_account(b, email, "eingerichtet", 1, "after adding a passkey")
    logout(b, "\"Abmelden\" after adding a passkey")
    passkey_login(b, stack, authenticator, True, "the passkey login of the TOTP account")
    expect_account(b, email, "eingerichtet", 1, "the passkey login of the TOTP account")
    # PK-05: "Entfernen" on "Mein Konto" removes it, and it logs in no more.
    listed = b.wait("document.getElementById('account-passkey-list').innerText", "the passkey list")
    if "Chromium" not in listed or "Entfernen" not in listed:
        fail(f"\"Mein Konto\" lists the passkeys as {listed!r}")
    b.load(lambda: cdp.click(b, "Entfernen"), "\"Entfernen\"", "/konto")
    expect_account(b, email, "eingerichtet", 0, "after removing the passkey")
    logout(b, "\"Abmelden\" after removing the passkey")
    submit_and_wait(b, "Mit Passkey anmelden", "PK_CREDENTIAL_UNKNOWN", "a removed passkey")
    b.call("WebAuthn.removeVirtualAuthenticator", session=True, authenticatorId=authenticator)


def run_passkey_only(b, stack):
    """A new account's second factor is a passkey (the page's own JSON, without toJSON)."""
    authenticator = b.authenticator()
    email = f"passkey-{os.getpid()}-{int(time.time())}@konform.test"
    password = "Browser-Passkey-2026!"
    cdp.register(b, stack, email, password)
    cdp.login(b, stack, email, password, "/sicherheitshinweis", "the passkey account's login")
    b.load(lambda: cdp.click(b, "Passkey einrichten"), "\"Passkey einrichten\"",
           "/passkey-einrichten")
    passkey_setup(b, authenticator, False, "the passkey setup")
    expect_account(b, email, "nicht eingerichtet", 1, "after the passkey setup")
    logout(b, "\"Abmelden\" after the passkey setup")
    fill(b, {"username": email, "password": password})
    text = submit_and_wait(b, "Anmelden", "PASSKEY_REQUIRED", "the password of a passkey account")
    if "Bitte melden Sie sich mit Ihrem Passkey an." not in text:
        fail(f"the password of a passkey account is answered {text!r}")
    passkey_login(b, stack, authenticator, False, "the passkey login")
    expect_account(b, email, "nicht eingerichtet", 1, "the passkey login")
    logout(b, "\"Abmelden\" after the passkey login")
    b.call("WebAuthn.removeVirtualAuthenticator", session=True, authenticatorId=authenticator)


def run(b, stack):
    check_totp()
    # A few seconds into a step, so the clock's step is plain; real time, so mails look real.
    t0 = int(time.time()) // STEP * STEP + 5
    clock = stack.clock(t0)
    b.headers({"Konform-Clock": clock})
    b.call("WebAuthn.enable", session=True)
    email, password, secret, _ = run_totp(b, stack, clock, t0)
    cdp.say("TOTP setup with QR code, TOTP login, a used code and \"Abbrechen\" work")
    password = run_recovery(b, stack, clock, email, password, secret)
    cdp.say("\"Passwort vergessen\" and \"Benutzername / E-Mail-Adresse vergessen\" work")
    run_passkey_added(b, stack, email, password, secret, clock)
    run_passkey_only(b, stack)
    cdp.say("passkey setup (navigator.credentials.create) and \"Mit Passkey anmelden\" "
            "(navigator.credentials.get) work, with toJSON and with the page's own JSON")


if __name__ == "__main__":
    sys.exit(cdp.main("login", BIN, "konform-login.", run))
