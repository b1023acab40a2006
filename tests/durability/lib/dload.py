#!/usr/bin/env python3
"""dload.py: the durability tests' load driver.

It starts konform-mail and konform-server (--test-mode, --hash-cost test) on
loopback, registers addresses from several client threads over keep-alive
connections, optionally kills one of the programs with SIGKILL a few times
mid-load and starts it again on the same database, then waits until every
mail the registrations owe has arrived and writes what it saw as one JSON
object (the shell test reads it with jq).

Everything is event-driven: readiness comes from --ready-fd pipes, the kill
points are reached when the clients have had enough 202s (a condition
variable), and the drain long-polls the mail API's wait. The only timeouts
bound a hang; none of them is waited out to reach a state.

Every address is tried once. A request that got no answer because the server
died is "unknown": it may or may not have made an account, so the check asks
the server by logging in (403 EMAIL_NOT_CONFIRMED: the account exists, 401:
it does not) and holds it to the same rules as an accepted one.
"""
import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time

PASSWORD = "Abcdefgh12!x"
DRAIN_IDLE_MS = 20000  # A drain that sees no new mail for this long has lost some.


class Proc:
    """One program started with --ready-fd; its pid is the only one we kill."""

    def __init__(self, argv, log_path):
        self.argv = argv
        self.log_path = log_path
        self.popen = None
        self.ready = {}

    def start(self, extra):
        r, w = os.pipe()
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(self.argv + extra + ["--ready-fd", str(w)],
                                          stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                          pass_fds=(w,))
        os.close(w)
        with os.fdopen(r, "rb") as rf:
            line = rf.readline().decode().strip()
        if not line.startswith("READY "):
            raise RuntimeError(f"{self.argv[0]} exited before it was ready (see {self.log_path})")
        self.ready = dict(kv.split("=", 1) for kv in line.split()[1:])
        return self.ready

    def kill9(self):
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()

    def stop(self):
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()


class State:
    """What the clients share with the orchestrating thread."""

    def __init__(self):
        self.cv = threading.Condition()
        self.up = False
        self.port = 0
        self.gen = 0
        self.accepted = []
        self.unknown = []
        self.other = []  # (address, status, body) of answers that are neither 202 nor a crash


def registration_body(addr):
    return json.dumps({"email": addr, "password": PASSWORD, "password_repeat": PASSWORD,
                       "accept_terms": True, "consent_email": True})


def client(st, tid, addrs):
    conn, gen = None, -1
    for addr in addrs:
        with st.cv:
            while not st.up:
                st.cv.wait()
            port, g = st.port, st.gen
        if conn is None or gen != g:
            if conn is not None:
                conn.close()
            conn, gen = http.client.HTTPConnection("127.0.0.1", port, timeout=60), g
        try:
            conn.request("POST", "/api/v1/registrations", registration_body(addr),
                         {"Content-Type": "application/json"})
            resp = conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = None
            with st.cv:
                st.unknown.append(addr)
            continue
        with st.cv:
            if resp.status == 202:
                st.accepted.append(addr)
                st.cv.notify_all()
            else:
                st.other.append((addr, resp.status, body[:200].decode("utf-8", "replace")))
    if conn is not None:
        conn.close()


def http_json(port, method, path, body=None, timeout=130):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body, hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, (json.loads(data) if data else None)
    finally:
        conn.close()


def mail_count(mail_port):
    status, doc = http_json(mail_port, "GET", "/api/v1/health")
    if status != 200:
        raise RuntimeError(f"mail health answered {status}")
    return doc["count"], doc["last_id"]


def drain(mail_port, cursor, expected, timeout_ms):
    """Read every mail after cursor until each expected address has a first
    delivery; long-poll for more when the list is empty. Returns the mails
    per address as [first deliveries, marked redeliveries] and whether it
    stopped because nothing came for timeout_ms."""
    per = {}
    missing = set(expected)
    while missing:
        status, doc = http_json(mail_port, "GET",
                                f"/api/v1/messages?after={cursor}&limit=1000"
                                "&include_duplicates=true")
        if status != 200:
            raise RuntimeError(f"mail list answered {status}")
        items = doc["messages"] if isinstance(doc, dict) else doc
        if items:
            for m in items:
                cursor = max(cursor, m["id"])
                for rcpt in m["envelope"]["rcpt_to"]:
                    slot = per.setdefault(rcpt, [0, 0])
                    slot[0 if m["duplicate_of"] is None else 1] += 1
                    missing.discard(rcpt)
            continue
        status, _ = http_json(mail_port, "GET",
                              f"/api/v1/wait/messages?after={cursor}&include_duplicates=true"
                              f"&timeout_ms={timeout_ms}")
        if status == 408:
            return per, cursor, True
        if status != 200:
            raise RuntimeError(f"mail wait answered {status}")
    return per, cursor, False


def login_states(port, addrs, threads):
    """Ask the server whether each address has an account: True (403
    EMAIL_NOT_CONFIRMED), False (401), or the status for anything else."""
    out = {}
    lock = threading.Lock()
    chunks = [addrs[i::threads] for i in range(threads)]

    def work(chunk):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for addr in chunk:
            conn.request("POST", "/api/v1/sessions",
                         json.dumps({"username": addr, "password": PASSWORD}),
                         {"Content-Type": "application/json"})
            resp = conn.getresponse()
            body = resp.read()
            code = json.loads(body).get("error", {}).get("code") if body else None
            if resp.status == 403 and code == "EMAIL_NOT_CONFIRMED":
                v = True
            elif resp.status == 401:
                v = False
            else:
                v = f"{resp.status} {code}"
            with lock:
                out[addr] = v
        conn.close()

    ts = [threading.Thread(target=work, args=(c,)) for c in chunks]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--dir", required=True, help="databases and logs go here")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--registrations", type=int, default=2000)
    ap.add_argument("--kill", choices=["none", "server", "mail"], default="none")
    ap.add_argument("--kills", type=int, default=0)
    ap.add_argument("--senders", type=int, default=4,
                    help="konform-server's --outbox-senders (its default is 4)")
    ap.add_argument("--check-accounts", action="store_true",
                    help="log in with every address to see that its account exists")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    mail = Proc([os.path.join(a.bin, "konform-mail"), "--db", os.path.join(a.dir, "mail.db"),
                 "--log-level", "warn"], os.path.join(a.dir, "mail.log"))
    ready = mail.start(["--port", "0", "--smtp-port", "0"])
    mail_port, smtp_port = int(ready["http"]), int(ready["smtp"])
    mail_ports = ["--port", str(mail_port), "--smtp-port", str(smtp_port)]
    server = Proc([os.path.join(a.bin, "konform-server"), "--db", os.path.join(a.dir, "server.db"),
                   "--test-mode", "--hash-cost", "test", "--port", "0", "--log-level", "warn",
                   "--smtp-url", f"smtp://127.0.0.1:{smtp_port}",
                   "--outbox-senders", str(a.senders)],
                  os.path.join(a.dir, "server.log"))
    st = State()
    summary = {"clients": a.clients, "registrations": a.registrations, "kill": a.kill,
               "senders": a.senders}
    try:
        st.port = int(server.start([])["http"])
        st.up = True
        count0, cursor0 = mail_count(mail_port)
        addrs = [f"d{i % a.clients}n{i}@dur.test" for i in range(a.registrations)]
        threads = [threading.Thread(target=client, args=(st, t, addrs[t::a.clients]))
                   for t in range(a.clients)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        kills = 0
        step = a.registrations // (a.kills + 1) if a.kills else 0
        while kills < a.kills:
            # Kill when the clients have had enough 202s; a kill of the mock
            # keeps it down for a further tenth of a step so mails pile up.
            with st.cv:
                st.cv.wait_for(lambda: len(st.accepted) >= (kills + 1) * step)
                if a.kill == "server":
                    st.up = False
            if a.kill == "server":
                server.kill9()
                port = int(server.start([])["http"])
                with st.cv:
                    st.port, st.gen, st.up = port, st.gen + 1, True
                    st.cv.notify_all()
            else:
                mail.kill9()
                with st.cv:
                    st.cv.wait_for(lambda: len(st.accepted) >= (kills + 1) * step + step // 10)
                mail.start(mail_ports)
            kills += 1
        for t in threads:
            t.join()
        t_load = time.monotonic() - t0
        count1, _ = mail_count(mail_port)

        expected = list(st.accepted)
        unknown_state = login_states(st.port, st.unknown, 4) if st.unknown else {}
        expected += [u for u, v in unknown_state.items() if v is True]
        t1 = time.monotonic()
        per, _, idle = drain(mail_port, cursor0, expected, DRAIN_IDLE_MS)
        t_drain = time.monotonic() - t1
        accounts = login_states(st.port, st.accepted, 8) if a.check_accounts else {}

        ours = set(addrs)
        summary.update({
            "kills": kills,
            "accepted": len(st.accepted),
            "unknown": len(st.unknown),
            "unknown_with_account": sum(1 for v in unknown_state.values() if v is True),
            "unknown_odd": {u: v for u, v in unknown_state.items() if v not in (True, False)},
            "other_answers": st.other[:10],
            "other_count": len(st.other),
            "load_s": round(t_load, 3),
            "registrations_per_s": round(len(st.accepted) / t_load, 1),
            "mails_during_load": count1 - count0,
            "mails_per_s_during_load": round((count1 - count0) / t_load, 1),
            "drain_s": round(t_drain, 3),
            "drain_timed_out": idle,
            "expected": len(expected),
            "first_deliveries": sum(v[0] for k, v in per.items() if k in ours),
            "marked_redeliveries": sum(v[1] for k, v in per.items() if k in ours),
            "missing": sorted(set(expected) - {k for k, v in per.items() if v[0] > 0})[:20],
            "missing_count": len(set(expected) - {k for k, v in per.items() if v[0] > 0}),
            "twice": sorted(k for k, v in per.items() if v[0] > 1)[:20],
            "twice_count": sum(1 for v in per.values() if v[0] > 1),
            "mail_without_account": sorted(
                k for k in per if k not in set(expected))[:20],
            "accounts_checked": len(accounts),
            "accounts_missing": sorted(k for k, v in accounts.items() if v is not True)[:20],
        })
        summary["keep_up_ratio"] = round(
            summary["mails_per_s_during_load"] / max(summary["registrations_per_s"], 0.001), 3)
    finally:
        server.stop()
        mail.stop()
    with open(a.out, "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
