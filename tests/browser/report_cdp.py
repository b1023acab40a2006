"""Headless Chromium over the DevTools protocol on a pipe, for tests/browser/report.py.

The same approach as tests/browser/portal.py (--remote-debugging-pipe: no
network port, commands on fd 3, answers and events on fd 4), kept apart so
the report test and the portal test can change without stepping on each
other. Every wait has a deadline that is only a safety limit.
"""
import json
import os
import select
import shutil
import subprocess
import time


class CdpError(Exception):
    pass


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """Chromium with the DevTools protocol on fds 3 (commands) and 4 (events, answers)."""

    def __init__(self, exe, tmp, timeout=30.0, width=1280, height=900):
        self.timeout = timeout
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
             f"--window-size={width},{height}", "about:blank"],
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
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(domain + ".enable", session=True)

    def _read(self, deadline):
        while b"\0" not in self.buf:
            ready, _, _ = select.select([self.ev_r], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise CdpError("timed out waiting for chromium")
            chunk = os.read(self.ev_r, 1 << 20)
            if not chunk:
                raise CdpError("chromium ended")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, session=False, **params):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self.cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            m = self._read(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise CdpError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def js(self, expr):
        r = self.call("Runtime.evaluate", session=True, expression=expr, awaitPromise=True,
                      returnByValue=True)
        if "exceptionDetails" in r:
            raise CdpError(f"script failed: {expr[:80]}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def open(self, url):
        """Navigate to url and return once its load event fired."""
        self.events = [e for e in self.events if e.get("method") != "Page.loadEventFired"]
        self.call("Page.navigate", session=True, url=url)
        deadline = time.monotonic() + self.timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(self._read(deadline))

    def screenshot(self, path):
        import base64
        data = self.call("Page.captureScreenshot", session=True, format="png",
                         captureBeyondViewport=False)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        self.proc.kill()
        self.proc.wait()
