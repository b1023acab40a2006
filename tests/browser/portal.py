#!/usr/bin/env python3
"""The portal's pages in a real browser (headless Chromium).

Starts konform-mail and konform-server (test mode, loopback, free ports) and
drives Chromium over the DevTools protocol on a pipe (--remote-debugging-pipe,
no network port): registers an account on /registrierung, opens the link of
the confirmation mail, follows "Zur Anmeldung", logs in on /anmelden and
sees the stage answer ("Sicherheitshinweis"), ends the session with
"Abbrechen", and shows the German answer to a wrong password. Every page the
portal links to must answer 200, and no page may load anything from
elsewhere or break its Content-Security-Policy.

usage: tests/browser/portal.py [BIN_DIR]   (default build/bin)
Exit 0 when every check passed or when Chromium is not installed (it then
says "skipped" and why), 1 on a failed check.
"""
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/bin"
TIMEOUT = 20.0  # seconds for anything the page does


def fail(what):
    print(f"portal: FAIL: {what}")
    sys.exit(1)


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def start(args, tmp, name):
    """Start a program that writes READY ... to its --ready-fd; its process and READY words."""
    r, w = os.pipe()
    log = open(os.path.join(tmp, name + ".log"), "wb")
    proc = subprocess.Popen(args + ["--ready-fd", str(w)], pass_fds=(w,), stdout=log,
                            stderr=subprocess.STDOUT)
    os.close(w)
    with os.fdopen(r) as f:
        line = f.readline()
    if not line.startswith("READY"):
        fail(f"{name} did not start (see {tmp}/{name}.log)")
    return proc, dict(kv.split("=") for kv in line.split()[1:])


class Browser:
    """Chromium with the DevTools protocol on fds 3 (commands) and 4 (events, answers)."""

    def __init__(self, exe, tmp):
        cmd_r, self.cmd_w = os.pipe()
        self.ev_r, ev_w = os.pipe()

        def fds():
            # Through high numbers first: a pipe end may already be fd 3 or 4, and
            # only a dup2 between different numbers clears close-on-exec.
            os.dup2(cmd_r, 100)
            os.dup2(ev_w, 101)
            os.dup2(100, 3)
            os.dup2(101, 4)

        self.proc = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--no-first-run", "--remote-debugging-pipe", f"--user-data-dir={tmp}/chromium",
             "about:blank"],
            close_fds=False, preexec_fn=fds, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(tmp, "chromium.log"), "wb"))
        os.close(cmd_r)
        os.close(ev_w)
        os.set_inheritable(self.cmd_w, False)
        os.set_inheritable(self.ev_r, False)
        self.buf = b""
        self.next_id = 0
        self.events = []
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"],
                                 flatten=True)["sessionId"]
        self.call("Page.enable", session=True)
        self.call("Runtime.enable", session=True)

    def _read(self, deadline=None):
        while b"\0" not in self.buf:
            # The deadline is only a safety limit, so a broken page fails instead of hanging.
            if deadline is not None:
                ready, _, _ = select.select([self.ev_r], [], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    fail("timed out waiting for chromium")
            chunk = os.read(self.ev_r, 65536)
            if not chunk:
                fail("chromium ended")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, session=False, **params):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self.cmd_w, json.dumps(msg).encode() + b"\0")
        while True:
            m = self._read()
            if m.get("id") == self.next_id:
                if "error" in m:
                    fail(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def js(self, expr):
        r = self.call("Runtime.evaluate", session=True, expression=expr, awaitPromise=True,
                      returnByValue=True)
        if "exceptionDetails" in r:
            fail(f"script failed: {expr[:80]}: {r['exceptionDetails'].get('text')}")
        return r["result"].get("value")

    def wait(self, expr, what):
        """The value of expr once it is truthy: judged now and after every change to the
        document (a MutationObserver), never by asking again on a timer. TIMEOUT is only a
        safety limit."""
        script = f"""new Promise(resolve => {{
  const probe = () => {{ try {{ return ({expr}); }} catch (e) {{ return null; }} }};
  const now = probe();
  if (now) {{ resolve(now); return; }}
  const watch = new MutationObserver(() => {{
    const v = probe();
    if (v) {{ watch.disconnect(); clearTimeout(limit); resolve(v); }}
  }});
  watch.observe(document, {{subtree: true, childList: true, attributes: true,
                           characterData: true}});
  const limit = setTimeout(() => {{ watch.disconnect(); resolve(null); }}, {int(TIMEOUT * 1000)});
}})"""
        value = self.js(script)
        if not value:
            fail(f"timed out waiting for {what}")
        return value

    def load(self, action, what):
        """Do action, a navigation, and return once its page fired its load event."""
        self.events = [e for e in self.events if e.get("method") != "Page.loadEventFired"]
        action()
        deadline = time.monotonic() + TIMEOUT
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(self._read(deadline))

    def open(self, url):
        self.load(lambda: self.call("Page.navigate", session=True, url=url), f"{url} to load")

    def close(self):
        self.proc.kill()
        self.proc.wait()


def check_page(b, base, path):
    """The page at path answers 200, loads nothing from elsewhere, and every link on it works."""
    b.open(base + path)
    status = b.js("fetch(location.href).then(r => r.status)")
    if status != 200:
        fail(f"{path} answers {status}")
    foreign = b.js("Array.from(document.querySelectorAll('[src],link[href]')).length")
    if foreign:
        fail(f"{path} loads {foreign} resource(s)")
    if b.js("document.characterSet") != "UTF-8" or b.js("document.compatMode") != "CSS1Compat":
        fail(f"{path} is not a UTF-8 HTML5 (standards mode) page")
    links = b.js("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
    for link in links:
        if not link.startswith(base):
            fail(f"{path} links outside the portal: {link}")
        code = b.js(f"fetch({json.dumps(link)}).then(r => r.status)")
        if code != 200:
            fail(f"{path} links to {link}, which answers {code}")
    return links


def fill(b, values):
    for name, value in values.items():
        if isinstance(value, bool):
            b.js(f"document.getElementsByName({json.dumps(name)})[0].checked = {str(value).lower()}")
        else:
            b.js(f"document.getElementsByName({json.dumps(name)})[0].value = {json.dumps(value)}")


def submit_and_wait(b, button_text, code, what):
    b.js("document.getElementById('answer').removeAttribute('data-code')")
    b.js("Array.from(document.querySelectorAll('button')).find(x => x.textContent === "
         f"{json.dumps(button_text)}).click()")
    got = b.wait("document.getElementById('answer').getAttribute('data-code')", what)
    if got != code:
        text = b.js("document.getElementById('answer').innerText")
        fail(f"{what}: data-code {got}, expected {code}: {text}")
    return b.js("document.getElementById('answer').innerText")


def main():
    exe = find_chromium()
    if exe is None:
        print("portal: skipped: Chromium is not installed (Debian: apt-get install chromium)")
        return 0
    tmp = tempfile.mkdtemp(prefix="konform-browser.")
    procs = []
    try:
        mail, ready = start([f"{BIN}/konform-mail", "--port", "0", "--smtp-port", "0",
                             "--log-level", "warn"], tmp, "konform-mail")
        procs.append(mail)
        mail_api = f"http://127.0.0.1:{ready['http']}"
        server, ready = start([f"{BIN}/konform-server", "--port", "0", "--test-mode",
                               "--hash-cost", "test", "--db", f"{tmp}/server.db",
                               "--smtp-url", f"smtp://127.0.0.1:{ready['smtp']}",
                               "--log-level", "warn"], tmp, "konform-server")
        procs.append(server)
        base = f"http://127.0.0.1:{ready['http']}"
        b = Browser(exe, tmp)
        procs.append(b.proc)
        run(b, base, mail_api)
        csp = [e for e in b.events if "Content Security Policy" in json.dumps(e)]
        if csp:
            fail(f"a page broke its Content-Security-Policy: {json.dumps(csp[0])[:300]}")
        print("portal: all browser checks passed")
        return 0
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def run(b, base, mail_api):
    seen = set()
    for path in ("/", "/anmelden", "/registrierung", "/benutzername-vergessen",
                 "/passwort-vergessen"):
        seen.update(check_page(b, base, path))
    email = f"browser-{os.getpid()}-{int(time.time())}@konform.test"
    password = "Browser-Test-2026!"
    b.open(base + "/registrierung")
    fill(b, {"email": email, "password": password, "password_repeat": password,
             "accept_terms": True, "consent_email": True})
    text = submit_and_wait(b, "Registrieren", "confirmation_mail_sent", "the registration")
    if "Sie erhalten direkt eine E-Mail in Ihr E-Mail-Postfach." not in text:
        fail(f"registration answer: {text}")
    query = urllib.parse.urlencode({"to": email, "timeout_ms": "10000"})
    with urllib.request.urlopen(f"{mail_api}/api/v1/wait/messages?{query}", timeout=15) as r:
        links = [u for u in json.load(r)["links"] if "/link/e-mail-bestaetigen?id=" in u]
    if len(links) != 1:
        fail(f"the confirmation mail has {len(links)} links")
    b.open(links[0])
    if "Sie haben Ihre E-Mail-Adresse erfolgreich bestätigt." not in b.js("document.body.innerText"):
        fail("the confirmation page does not say the address is confirmed")
    b.load(lambda: b.js("Array.from(document.querySelectorAll('a')).find(a => a.textContent === "
                        "'Zur Anmeldung').click()"), "the login page after \"Zur Anmeldung\"")
    if b.js("location.pathname") != "/anmelden":
        fail(f"\"Zur Anmeldung\" leads to {b.js('location.pathname')}, not /anmelden")
    if b.js("document.title") != "Anmeldung":
        fail("\"Zur Anmeldung\" does not lead to the page \"Anmeldung\"")
    fill(b, {"username": email, "password": password + "x"})
    text = submit_and_wait(b, "Anmelden", "INVALID_CREDENTIALS", "a wrong password")
    if "Benutzername oder Passwort ist nicht korrekt." not in text:
        fail(f"wrong password answer: {text}")
    fill(b, {"username": email, "password": password})
    submit_and_wait(b, "Anmelden", "second_factor_setup", "the login")
    stage = b.js("document.getElementById('stage').hidden ? '' : "
                 "document.getElementById('stage').innerText")
    if "Sicherheitshinweis" not in stage or "mehreren Faktoren" not in stage:
        fail(f"the login shows no stage answer: {stage!r}")
    submit_and_wait(b, "Abbrechen", "SESSION_ENDED", "\"Abbrechen\"")
    if b.js("document.querySelector('form').hidden"):
        fail("after \"Abbrechen\" the login form is not shown again")
    print(f"portal: {len(seen)} distinct links checked; registration, confirmation, "
          f"login, stage answer and \"Abbrechen\" work in {b.js('navigator.userAgent')[:60]}...")


if __name__ == "__main__":
    sys.exit(main())
