#!/usr/bin/env python3
"""The HTML report in a real browser (headless Chromium), and how it scales.

Starts konform-mail and konform-server (test mode, loopback, free ports),
runs the fixture suite tests/fixtures/report-suite against them with a
profile that has no clock control (so there is a pass, a failure, an error
and a skip) and writes the HTML report. Then opens the file from disk in
Chromium over the DevTools pipe (tests/browser/cdp.py) and checks the
DOM: the counts, failures first, the requirement matrix, that each filter
(status, area, requirement, tag) changes what is visible, that the failure's
request and its failing line are shown, that hostile names stay text, that
the page loads nothing and breaks no Content-Security-Policy. It saves
screenshots as BUILD/report-browser.png (the top) and
BUILD/report-browser-failure.png (the failure).

Then the scale run: a generated suite of SCALE scenarios (default 1000;
registrations with their mails, failures, errors and skips in realistic
shares) against the same servers; prints the HTML report's size and the time
Chromium takes to open it until the script has drawn it. These are figures,
not checks (only a page that never draws fails).

usage: tests/browser/report.py [BIN_DIR] [--scale N]   (default build/bin, 1000; 0: none)
Exit 0 when every check passed or when Chromium is not installed (it then
says "skipped" and why), 1 on a failed check.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdp  # noqa: E402
from cdp import fail, start  # noqa: E402

cdp.NAME = "report"


def parse_args():
    import argparse
    ap = argparse.ArgumentParser(description="The HTML report in headless Chromium.")
    ap.add_argument("bin", nargs="?", default="build/bin", help="folder of the built programs")
    ap.add_argument("--scale", type=int, default=1000,
                    help="scenarios of the generated run to measure (0: none)")
    return ap.parse_args()


OPTS = parse_args()
BIN = OPTS.bin
BUILD = os.path.dirname(os.path.abspath(BIN))
SCALE = OPTS.scale
SUITE = "tests/fixtures/report-suite"
CATALOGUE = "scenarios/catalogue.json"


def run_konform(tmp, profile, suite, name, jobs=4):
    """konform run against the profile; the paths of its HTML, TAP and JSON reports."""
    out = {k: os.path.join(tmp, f"{name}.{k}") for k in ("html", "tap", "json")}
    cmd = [f"{BIN}/konform", "run", "--target", profile, "--catalogue", CATALOGUE,
           "--jobs", str(jobs), "--seed", "8", "--run-id", "00000000000000a8",
           "--report", f"html={out['html']}", "--report", f"tap={out['tap']}",
           "--report", f"json={out['json']}", suite]
    started = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out["seconds"] = time.monotonic() - started
    # 1: some scenario failed, as the fixtures mean to; anything else is a broken run.
    if p.returncode != 1 or not os.path.exists(out["html"]):
        fail(f"konform run {suite} exited {p.returncode}:\n{p.stdout.decode()[-3000:]}")
    return out


def visible(b, selector):
    return b.js(f"Array.from(document.querySelectorAll({json.dumps(selector)}))"
                ".filter(e => !e.hidden && e.offsetParent !== null).length")


def choose(b, select_id, value):
    b.js(f"(() => {{ const s = document.getElementById({json.dumps(select_id)});"
         f" s.value = {json.dumps(value)}; s.dispatchEvent(new Event('change')); }})()")


def check_status(b, status, want, visible_want):
    b.js(f"(() => {{ const c = document.getElementById('f-status-{status}');"
         f" c.checked = {str(want).lower()}; c.dispatchEvent(new Event('change')); }})()")
    got = visible(b, ".scenario")
    if got != visible_want:
        fail(f"status filter {status}={want}: {got} scenarios visible, wanted {visible_want}")


def check_filters(b, total):
    if visible(b, ".scenario") != total:
        fail(f"at the start {visible(b, '.scenario')} of {total} scenarios are visible")
    check_status(b, "fail", False, total - 1)
    if b.js("document.querySelector('.scenario[data-status=fail]').hidden") is not True:
        fail("unticking fail does not hide the failure")
    check_status(b, "pass", False, total - 2)
    check_status(b, "fail", True, total - 1)
    check_status(b, "pass", True, total)
    for select_id, value, want, status in (("f-area", "AUTH", 1, "error"),
                                           ("f-req", "ACC-02", 1, "fail"),
                                           ("f-tag", "report-skip", 1, "skip")):
        choose(b, select_id, value)
        got = visible(b, ".scenario")
        shown = b.js("Array.from(document.querySelectorAll('.scenario'))"
                     ".filter(e => !e.hidden).map(e => e.dataset.status)")
        if got != want or shown != [status]:
            fail(f"filter {select_id}={value}: visible {shown}, wanted [{status!r}]")
        text = b.js("document.getElementById('shown').textContent")
        if text != f"showing {want} of {total} scenarios":
            fail(f"filter {select_id}={value}: the count says {text!r}")
        choose(b, select_id, "")
    # The area filter also narrows the requirement matrix.
    choose(b, "f-area", "AUTH")
    if visible(b, "#matrix .req-row[data-req^='ACC-']") != 0 or \
            visible(b, "#matrix .req-row[data-req^='AUTH-']") == 0:
        fail("the area filter does not narrow the requirement matrix")
    choose(b, "f-area", "")
    # A requirement's button in the matrix filters by it.
    b.js("document.querySelector(\"#matrix .req-row[data-req='ACC-01'] button\").click()")
    if b.js("document.getElementById('f-req').value") != "ACC-01" or visible(b, ".scenario") != 1:
        fail("the matrix's requirement button does not filter by it")
    choose(b, "f-req", "")


def check_report(b, url, port):
    b.open(url)
    if b.js("document.body.dataset.ready") != "1":
        fail("the report's script did not finish drawing")
    total = b.js("document.querySelectorAll('.scenario').length")
    if total != 4:
        fail(f"{total} scenario entries, wanted 4")
    order = b.js("Array.from(document.querySelectorAll('.scenario')).map(e => e.dataset.status)")
    if order != ["fail", "error", "skip", "pass"]:
        fail(f"the entries are not failures first: {order}")
    summary = b.js("document.getElementById('summary').textContent")
    if summary != "4 scenarios: 1 passed, 1 failed, 1 error, 1 skipped":
        fail(f"summary: {summary!r}")
    rows = b.js("document.querySelectorAll('#matrix .req-row').length")
    with open(CATALOGUE) as f:
        n_reqs = len(json.load(f)["requirements"])
    if rows != n_reqs:
        fail(f"the matrix has {rows} requirements, the catalogue {n_reqs}")
    statuses = b.js("Object.fromEntries(Array.from(document.querySelectorAll('#matrix .req-row'))"
                    ".map(r => [r.dataset.req, r.dataset.status]))")
    want = {"ACC-01": "pass", "ACC-02": "fail", "AUTH-01": "fail", "ACC-04": "not-checked",
            "ACC-05": "not-checked"}
    for rid, st in want.items():
        if statuses.get(rid) != st:
            fail(f"matrix: {rid} is {statuses.get(rid)}, wanted {st}")
    covering = b.js("document.querySelector(\"#matrix .req-row[data-req='ACC-01'] .covering\")"
                    ".textContent")
    if "Registrierung wird angenommen" not in covering:
        fail(f"matrix: ACC-01 does not name its scenario: {covering!r}")

    # Hostile names and bodies stay text: no element, no script came from the data.
    names = b.js("Array.from(document.querySelectorAll('.scenario .name')).map(e => e.textContent)")
    if "Registrierung wird angenommen <b>\"fett\"</b> & 'quer'" not in names or \
            "Gesundheit antwortet mit dem falschen Status </script><!--" not in names:
        fail(f"hostile names are not shown as text: {names}")
    if b.js("document.querySelectorAll('#scenarios b, #matrix b').length") != 0 or \
            b.js("document.scripts.length") != 2:
        fail("scenario data became markup")

    # The failure is open; its request and its failing line are visible.
    req = b.js("Array.from(document.querySelectorAll('.scenario[data-status=fail] .request pre.head'))"
               ".filter(e => e.offsetParent !== null).map(e => e.textContent)")
    if not req or not req[0].startswith(f"request: GET http://127.0.0.1:{port}/api/v1/health"):
        fail(f"the failure's request is not shown: {req}")
    line = b.js("(() => { const e = document.querySelector('.scenario[data-status=fail] "
                ".expect.failing'); return e && e.offsetParent !== null ? e.textContent : null; })()")
    if not line or not line.startswith("expect status == 418") or ":30)" not in line:
        fail(f"the failing line is not marked: {line!r}")
    resp = b.js("document.querySelector('.scenario[data-status=error] .response pre.head')"
                ".textContent")
    if not resp.startswith("response: no response:"):
        fail(f"the error's missing answer is not shown: {resp!r}")
    skip = b.js("document.querySelector('.scenario[data-status=skip] summary').textContent")
    if "clock" not in skip:
        fail(f"the skip does not say why: {skip!r}")

    # A passing entry draws its steps when opened: the exchanges, the mail, the raw mail.
    b.js("document.querySelector('.scenario[data-status=pass] summary').click()")
    steps = visible(b, ".scenario[data-status=pass] .step")
    art = b.js("Array.from(document.querySelectorAll('.scenario[data-status=pass] .artifact'))"
               ".map(e => e.textContent)")
    if steps < 3 or not any("message/rfc822" in a and "Subject:" in a for a in art):
        fail(f"the passing entry shows {steps} steps and artifacts {[a[:80] for a in art]}")
    waited = b.js("Array.from(document.querySelectorAll('.scenario[data-status=pass] .waited'))"
                  ".map(e => e.textContent)")
    if len(waited) != 1 or not waited[0].startswith("mail from kontoservice@arbeitsagentur.de to ") \
            or not waited[0].endswith(": Bestätigung Ihrer E-Mail-Adresse"):
        fail(f"the mail waited for is not named: {waited}")
    body = b.js("Array.from(document.querySelectorAll('.scenario[data-status=pass] .request pre'))"
                ".map(e => e.textContent).join('\\n')")
    if "</script><script>alert(1)</script>" not in body:
        fail("the request body with markup is not shown as text")
    check_filters(b, total)


def check_quiet(b):
    """Nothing loaded but the file, no script error, no CSP report."""
    loads = [e["params"]["request"]["url"] for e in b.events
             if e.get("method") == "Network.requestWillBeSent"]
    foreign = [u for u in loads if not u.startswith("file://")]
    if foreign:
        fail(f"the report loaded {foreign[:3]}")
    errors = [e for e in b.events if e.get("method") in ("Runtime.exceptionThrown",)
              or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    if errors:
        fail(f"the page reported an error: {json.dumps(errors[0])[:400]}")


SCALE_KINDS = (
    # (share in 100, covers, tags, body): registrations with their mail mostly.
    (84, "ACC-01", "scale mail", """let addr = email()
let pw = password()
POST /api/v1/registrations
  json <<END
    {"email": "{{addr}}", "password": "{{pw|json}}", "password_repeat": "{{pw|json}}",
     "accept_terms": true, "consent_email": true}
  END
  expect status == 202
  expect json "$.status" == "confirmation_mail_sent"
wait mail to "{{addr}}"
  expect mail.subject == "Bestätigung Ihrer E-Mail-Adresse"
  expect mail.raw contains "Subject:"
"""),
    (10, "ACC-02", "scale fail", """GET /api/v1/health
  expect status == 200
  expect json "$.status" == "broken"
"""),
    (3, "AUTH-01", "scale error", """GET http://127.0.0.1:1/api/v1/health
  expect status == 200
"""),
    (3, "ACC-04", "scale skip", """clock create "2026-03-01T10:00:00Z"
GET /api/v1/health
  expect status == 200
"""),
)


def write_scale_suite(folder, n):
    """n scenarios in the shares of SCALE_KINDS (the first kind takes what rounding leaves)."""
    os.makedirs(folder)
    counts = [share * n // 100 for share, *_ in SCALE_KINDS]
    counts[0] = n - sum(counts[1:])
    i = 0
    for count, (_, covers, tags, body) in zip(counts, SCALE_KINDS):
        with open(os.path.join(folder, f"scale-{covers}.konform"), "w") as f:
            for _ in range(count):
                i += 1
                f.write(f"scenario: Skalierung {i:04d} {tags.split()[1]}\ncovers: {covers}\n"
                        f"tags: {tags}\n\n{body}\n")
    return i


def scale(b, tmp, profile):
    folder = os.path.join(tmp, "scale-suite")
    n = write_scale_suite(folder, SCALE)
    out = run_konform(tmp, profile, folder, "scale", jobs=8)
    size = os.path.getsize(out["html"])
    url = "file://" + out["html"]
    b.open("about:blank")
    started = time.monotonic()
    b.open(url)
    if b.js("document.body.dataset.ready") != "1":
        fail("the scale report's script did not finish drawing")
    opened = time.monotonic() - started
    draw_ms = int(b.js("document.body.dataset.drawMs"))
    parse_ms = b.js("Math.round(performance.getEntriesByType('navigation')[0].domInteractive)")
    # Not a speed check: only a report that grew far past its figures (README) fails.
    if size > 20 * 10**6:
        fail(f"the {n}-scenario HTML report has {size} bytes, over 20 MB")
    entries = b.js("document.querySelectorAll('.scenario').length")
    if entries != n:
        fail(f"the scale report shows {entries} of {n} scenarios")
    started = time.monotonic()
    choose(b, "f-tag", "fail")
    filtered = time.monotonic() - started
    choose(b, "f-tag", "")
    # A requirement with many scenarios names a few and offers all of them through the filter.
    regs = n - sum(share * n // 100 for share, *_ in SCALE_KINDS[1:])
    b.js("document.querySelector(\"#matrix .req-row[data-req='ACC-01'] button.more\").click()")
    if visible(b, ".scenario") != regs or visible(b, "#matrix .req-row[data-req='ACC-01'] a") != 8:
        fail(f"ACC-01's matrix row: {visible(b, '.scenario')} scenarios shown, wanted {regs}")
    print(f"report: {n} scenarios: HTML {size / 1e6:.2f} MB ({size // n} bytes a scenario), "
          f"TAP {os.path.getsize(out['tap']) / 1e3:.0f} kB, JSON {os.path.getsize(out['json']) / 1e6:.2f} MB; "
          f"Chromium opens it in {opened:.2f} s (load and drawn; parsed at {parse_ms} ms, "
          f"the script draws in {draw_ms} ms), a filter takes {filtered * 1000:.0f} ms; "
          f"the run took {out['seconds']:.1f} s")


def main():
    exe = cdp.find_chromium()
    if exe is None:
        print("report: skipped: Chromium is not installed (Debian: apt-get install chromium)")
        return 0
    tmp = tempfile.mkdtemp(prefix="konform-report.")
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
        port = ready["http"]
        profile = os.path.join(tmp, "no-clock.profile")
        with open(profile, "w") as f:
            f.write(f"base_url = http://127.0.0.1:{port}\nmail_api = {mail_api}\nclock = none\n")
        out = run_konform(tmp, profile, SUITE, "fixture")
        # Network: check_quiet reads what the page requested.
        b = cdp.Browser(exe, tmp, domains=("Page", "Runtime", "Log", "Network"),
                        window=(1280, 900))
        procs.append(b.proc)
        check_report(b, "file://" + out["html"], port)
        check_quiet(b)
        shot = os.path.join(BUILD, "report-browser.png")
        b.js("window.scrollTo(0, 0)")
        b.screenshot(shot)
        # The failure with its request and marked line, under the sticky filters.
        b.js("window.scrollTo(0, document.getElementById('filters').offsetTop)")
        b.screenshot(shot.replace(".png", "-failure.png"))
        print(f"report: the HTML report passed the DOM checks in "
              f"{b.js('navigator.userAgent')[:60]}...; screenshots {shot} and -failure.png")
        if SCALE > 0:
            scale(b, tmp, profile)
        return 0
    finally:
        for p in procs:
            p.kill()
            p.wait()
        if os.environ.get("KONFORM_KEEP"):
            print(f"report: kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
