"""What the browser checks share: headless Chromium over the DevTools pipe.

The stack (konform-mail and konform-server in test mode, loopback), a
Browser that drives one page target over --remote-debugging-pipe (no network
port), and the steps a person takes on the portal's pages: open, fill, click,
wait for what the page shows. Waiting is event-driven: a MutationObserver in
the page, or the protocol's load event; the timeouts are only safety limits
so a broken page fails instead of hanging.

The server's public URL is http://localhost:<port>: WebAuthn refuses an IP
address as relying party id ("This is an invalid domain"), and localhost is
a secure context, so passkeys work there over plain HTTP.
"""
import base64
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

TIMEOUT = 20.0  # seconds for anything the page does
NAME = "browser"  # the checking script's name, at the start of every line it prints


def fail(what):
    print(f"{NAME}: FAIL: {what}")
    sys.exit(1)


def say(what):
    print(f"{NAME}: {what}")


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


def free_port():
    """A port free now on 127.0.0.1: the public URL must name it before the server starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=15):
    """(status, parsed JSON or None) of a request the test makes itself, not the page."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, json.loads(raw) if raw else None


class Stack:
    """konform-mail and konform-server (test mode, free ports) in tmp."""

    def __init__(self, bin_dir, tmp):
        self.procs = []
        mail, ready = start([f"{bin_dir}/konform-mail", "--port", "0", "--smtp-port", "0",
                             "--log-level", "warn"], tmp, "konform-mail")
        self.procs.append(mail)
        self.mail_api = f"http://127.0.0.1:{ready['http']}"
        port = free_port()
        self.base = f"http://localhost:{port}"
        server, _ = start([f"{bin_dir}/konform-server", "--port", str(port), "--test-mode",
                           "--public-url", self.base, "--hash-cost", "test",
                           "--db", f"{tmp}/server.db",
                           "--smtp-url", f"smtp://127.0.0.1:{ready['smtp']}",
                           "--log-level", "warn"], tmp, "konform-server")
        self.procs.append(server)
        self.api = f"http://127.0.0.1:{port}"

    def mail(self, to, subject):
        """The first mail to `to` whose subject has this text (a long-poll of konform-mail)."""
        query = urllib.parse.urlencode({"to": to, "subject": subject, "timeout_ms": "10000"})
        status, msg = http("GET", f"{self.mail_api}/api/v1/wait/messages?{query}")
        if status != 200:
            fail(f"no mail \"{subject}\" to {to} (konform-mail answers {status})")
        return msg

    def clock(self, frozen_time):
        status, c = http("POST", f"{self.api}/test/v1/clocks",
                         {"frozen_time": frozen_time, "name": f"{NAME} check"})
        if status != 201:
            fail(f"cannot make a test clock: {status} {c}")
        return c["id"]

    def advance(self, clock, seconds):
        status, c = http("POST", f"{self.api}/test/v1/clocks/{clock}/advance",
                         {"seconds": seconds})
        if status != 200:
            fail(f"cannot advance the test clock: {status} {c}")
        return c["frozen_time"]

    def stop(self):
        for p in self.procs:
            p.kill()
            p.wait()


class Timeout(Exception):
    pass


class Browser:
    """Chromium with the DevTools protocol on fds 3 (commands) and 4 (events, answers)."""

    def __init__(self, exe, tmp, domains=("Page", "Runtime", "Log"), window=None):
        """domains: the DevTools domains whose events the checks read; window: the
        (width, height) of the page, for screenshots."""
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
             "--no-first-run", "--remote-debugging-pipe", f"--user-data-dir={tmp}/chromium"]
            + ([f"--window-size={window[0]},{window[1]}"] if window else []) + ["about:blank"],
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
        for domain in domains:
            self.call(domain + ".enable", session=True)

    def _read(self, deadline=None):
        while b"\0" not in self.buf:
            if deadline is not None:
                ready, _, _ = select.select([self.ev_r], [], [],
                                            max(0.0, deadline - time.monotonic()))
                if not ready:
                    raise Timeout()
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
            fail(f"timed out waiting for {what}: the page says {self.answer()!r}")
        return value

    def answer(self):
        return self.js("(document.getElementById('answer') || {}).innerText || ''")

    def load(self, action, what, path=None):
        """Do action, which makes the page navigate, and return once the next page fired its
        load event (so its deferred script ran); then its path must be path."""
        self.events = [e for e in self.events if e.get("method") != "Page.loadEventFired"]
        action()
        deadline = time.monotonic() + TIMEOUT
        try:
            while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
                self.events.append(self._read(deadline))
        except Timeout:
            fail(f"{what}: no new page; this page says {self.answer()!r}")
        got = self.js("location.pathname")
        if path is not None and got != path:
            fail(f"{what} leads to {got}, not {path}: {self.answer()!r}")

    def open(self, url):
        self.load(lambda: self.call("Page.navigate", session=True, url=url), f"opening {url}")

    def headers(self, headers):
        """Send these headers with every request of the page (the test clock's)."""
        self.call("Network.enable", session=True)
        self.call("Network.setExtraHTTPHeaders", session=True, headers=headers)

    def authenticator(self):
        """A virtual platform authenticator (CTAP2, resident keys, user verification on);
        WebAuthn.enable must have been called."""
        return self.call("WebAuthn.addVirtualAuthenticator", session=True, options={
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
            "hasUserVerification": True, "isUserVerified": True,
            "automaticPresenceSimulation": True})["authenticatorId"]

    def credentials(self, authenticator):
        return self.call("WebAuthn.getCredentials", session=True,
                         authenticatorId=authenticator)["credentials"]

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", session=True, format="png",
                         captureBeyondViewport=False)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def token(self):
        return self.js("sessionStorage.getItem('konform.token')")

    def close(self):
        self.proc.kill()
        self.proc.wait()


def check_page(b, base, path):
    """The page at path answers 200, loads nothing but this server's script, and every link on
    it works."""
    b.open(base + path)
    status = b.js("fetch(location.href).then(r => r.status)")
    if status != 200:
        fail(f"{path} answers {status}")
    scripts = b.js("Array.from(document.querySelectorAll('script')).map(s => s.src)")
    if scripts != [base + "/static/portal.js"]:
        fail(f"{path} has the scripts {scripts}, not just {base}/static/portal.js")
    foreign = b.js("Array.from(document.querySelectorAll('[src]:not(script),link[href]'))"
                   ".filter(e => !(e.src || '').startsWith('data:')).length")
    if foreign:
        fail(f"{path} loads {foreign} resource(s)")
    if b.js("document.characterSet") != "UTF-8" or b.js("document.compatMode") != "CSS1Compat":
        fail(f"{path} is not a UTF-8 HTML5 (standards mode) page")
    links = b.js("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"
                 ".filter(h => !h.startsWith('otpauth:'))")
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


def click_js(text):
    return ("Array.from(document.querySelectorAll('button, a')).find(x => x.textContent === "
            f"{json.dumps(text)}).click()")


def click(b, text):
    b.js(click_js(text))


def submit_and_wait(b, button_text, code, what):
    """Click the button, wait for the answer's data-code; it must be code. The answer's text."""
    b.js("document.getElementById('answer').removeAttribute('data-code')")
    click(b, button_text)
    got = b.wait("document.getElementById('answer').getAttribute('data-code')", what)
    if got != code:
        fail(f"{what}: data-code {got}, expected {code}: {b.answer()!r}")
    return b.answer()


def submit_and_load(b, button_text, path, what):
    """Click the button; the page must go on to path."""
    b.load(lambda: click(b, button_text), what, path)


def page_errors(b):
    """The first script exception or Content-Security-Policy complaint of any page, or None."""
    for e in b.events:
        text = json.dumps(e)
        if e.get("method") == "Runtime.exceptionThrown" or "Content Security Policy" in text:
            return text[:400]
    return None


def register(b, stack, email, password):
    """Register on /registrierung and open the confirmation mail's link, as a person does."""
    b.open(stack.base + "/registrierung")
    fill(b, {"email": email, "password": password, "password_repeat": password,
             "accept_terms": True, "consent_email": True})
    text = submit_and_wait(b, "Registrieren", "confirmation_mail_sent", "the registration")
    if "Sie erhalten direkt eine E-Mail in Ihr E-Mail-Postfach." not in text:
        fail(f"registration answer: {text}")
    msg = stack.mail(email, "Bestätigung Ihrer E-Mail-Adresse")
    links = [u for u in msg["links"] if "/link/e-mail-bestaetigen?id=" in u]
    if len(links) != 1:
        fail(f"the confirmation mail has {len(links)} links")
    b.open(links[0])
    if "Sie haben Ihre E-Mail-Adresse erfolgreich bestätigt." not in b.js("document.body.innerText"):
        fail("the confirmation page does not say the address is confirmed")


def login(b, stack, username, password, path, what):
    """Log in on /anmelden with the password; the page must go on to path."""
    b.open(stack.base + "/anmelden")
    fill(b, {"username": username, "password": password})
    submit_and_load(b, "Anmelden", path, what)


def main(name, bin_dir, tmp_prefix, run):
    """What portal.py and login.py share: skip without Chromium, start the stack and the
    browser, run(b, stack), then no page may have thrown or broken its policy."""
    global NAME
    NAME = name
    exe = find_chromium()
    if exe is None:
        say("skipped: Chromium is not installed (Debian: apt-get install chromium)")
        return 0
    tmp = tempfile.mkdtemp(prefix=tmp_prefix)
    stack = None
    b = None
    try:
        stack = Stack(bin_dir, tmp)
        b = Browser(exe, tmp)
        run(b, stack)
        broken = page_errors(b)
        if broken:
            fail(f"a page threw or broke its Content-Security-Policy: {broken}")
        say("all browser checks passed")
        return 0
    finally:
        if b is not None:
            b.close()
        if stack is not None:
            stack.stop()
        shutil.rmtree(tmp, ignore_errors=True)
