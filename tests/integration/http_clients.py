#!/usr/bin/env python3
"""http_clients.py: raw-socket HTTP and SMTP clients for http_framing.sh and
slow_clients.sh, where curl cannot go: bytes exactly as written (two
Content-Length lines, a second request hidden in a body, broken escapes), and
hundreds of clients that trickle a head one byte a second from many loopback
source addresses.

  http_clients.py raw PORT          send stdin's bytes as they are, read every
                                    answer until the server closes (or 5 s
                                    pass), print "STATUS code body" per answer,
                                    then "ANSWERS n" and "CLOSED yes|no"
  http_clients.py slow ...          see slow_main
  http_clients.py cut PORT head|body STEP   see cut_main
Only 127.0.0.0/8 is ever a target or a source.
"""
import json
import select
import socket
import sys
import time


def readable(sock, timeout_s):
    """Whether sock has input (or EOF) within timeout_s; poll, since the
    slow run's descriptors pass select's limit of 1024."""
    p = select.poll()
    p.register(sock, select.POLLIN)
    return bool(p.poll(max(0, int(timeout_s * 1000))))


def read_answers(sock, limit_s):
    """Read until EOF or limit_s: the bytes and whether the server closed."""
    data = b""
    end = time.monotonic() + limit_s
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return data, False
        if not readable(sock, left):
            return data, False
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk


def split_answers(data):
    """(status, body) of every answer in data, framed by Content-Length."""
    out = []
    while data:
        head_end = data.find(b"\r\n\r\n")
        if head_end < 0:
            break
        head = data[:head_end].decode("latin-1").split("\r\n")
        parts = head[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            break
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        body = data[head_end + 4 : head_end + 4 + length]
        out.append((parts[1], body.decode("utf-8", "replace")))
        data = data[head_end + 4 + length :]
    return out


def raw_main(port):
    payload = sys.stdin.buffer.read()
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(payload)
    data, closed = read_answers(sock, 5.0)
    sock.close()
    answers = split_answers(data)
    for status, body in answers:
        print("STATUS", status, body.replace("\n", " "))
    print("ANSWERS", len(answers))
    print("CLOSED", "yes" if closed else "no")
    return 0


HEAD = b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 4096
SMTP_LINE = b"EHLO " + b"a" * 4096


class Trickler:
    """One slow client: a socket from a source address that sends one byte a round."""

    def __init__(self, port, source, payload):
        self.payload = payload
        self.sent = 0
        self.alive = True
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((source, 0))
        self.sock.setblocking(False)
        self.sock.connect_ex(("127.0.0.1", port))

    def tick(self):
        """Send the next byte; a refused or closed connection is dead."""
        if not self.alive:
            return
        try:
            # A server that closed us shows as EOF or a reset before the send.
            if readable(self.sock, 0) and not self.sock.recv(4096, socket.MSG_PEEK):
                raise ConnectionResetError
            n = self.sock.send(self.payload[self.sent : self.sent + 1])
            self.sent += n
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self.alive = False
            self.sock.close()


def sources(n_spread, per_spread, n_crowd):
    """n_spread addresses with per_spread clients each, then n_crowd from one address."""
    out = []
    for i in range(n_spread):
        addr = "127.0.%d.%d" % (1 + i // 250, 2 + i % 250)
        out += [addr] * per_spread
    out += ["127.0.9.9"] * n_crowd
    return out


def http_once(port):
    """Milliseconds for one whole health GET from 127.0.0.1 (connect to last byte)."""
    t0 = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    data, _ = read_answers(sock, 5.0)
    sock.close()
    ms = (time.monotonic() - t0) * 1000
    answers = split_answers(data)
    return ms if answers and answers[0][0] == "200" else None


def smtp_once(port):
    """Milliseconds for greeting + EHLO from 127.0.0.1, or None."""
    t0 = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    f = sock.makefile("rb")
    ok = f.readline().startswith(b"220 ")
    sock.sendall(b"EHLO client.example\r\n")
    line = b"250-"
    while ok and line.startswith(b"250-"):
        line = f.readline()
    ok = ok and line.startswith(b"250 ")
    sock.sendall(b"QUIT\r\n")
    f.close()
    sock.close()
    ms = (time.monotonic() - t0) * 1000
    return ms if ok else None


def slow_main(args):
    """slow N_SPREAD PER_SPREAD N_CROWD ROUNDS http:PORT... smtp:PORT...

    Open the tricklers on every port, let them trickle ROUNDS seconds, then
    time five normal exchanges per port, one a second while the tricklers go
    on. Prints "PORT kind:port opened N alive N" and "TIMES kind:port ms ...".
    """
    n_spread, per_spread, n_crowd, rounds = (int(a) for a in args[:4])
    targets = [a.split(":") for a in args[4:]]
    clients = {}
    for kind, port in targets:
        payload = SMTP_LINE if kind == "smtp" else HEAD
        clients[(kind, port)] = [Trickler(int(port), src, payload) for src in sources(n_spread, per_spread, n_crowd)]
    times = {t: [] for t in clients}
    for r in range(rounds + 5):
        start = time.monotonic()
        for group in clients.values():
            for c in group:
                c.tick()
        if r >= rounds:
            for kind, port in clients:
                once = smtp_once if kind == "smtp" else http_once
                try:
                    ms = once(int(port))
                except OSError:
                    ms = None  # Refused or timed out: the figure says "none".
                times[(kind, port)].append(ms)
        time.sleep(max(0.0, 1.0 - (time.monotonic() - start)))
    for (kind, port), group in clients.items():
        alive = sum(1 for c in group if c.alive)
        print("PORT %s:%s opened %d alive %d" % (kind, port, len(group), alive))
        shown = " ".join("none" if t is None else "%.1f" % t for t in times[(kind, port)])
        print("TIMES %s:%s %s" % (kind, port, shown))
    return 0


def cut_main(port, mode, step_s):
    """Trickle a head (or, mode body, a body after a whole head) one byte per step_s
    and print "CUT after S" once the server closes, or "NOT CUT" after 30 s."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if mode == "body":
        sock.sendall(b"POST /api/v1/letters HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 4096\r\n\r\n")
        payload = b" " * 4096
    else:
        payload = HEAD
    t0 = time.monotonic()
    for i in range(int(30 / step_s)):
        try:
            if readable(sock, step_s) and not sock.recv(4096):
                break
            sock.send(payload[i : i + 1])
        except OSError:
            break
    else:
        print("NOT CUT")
        return 0
    print("CUT after %.2f" % (time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "raw":
        sys.exit(raw_main(int(sys.argv[2])))
    if len(sys.argv) >= 6 and sys.argv[1] == "slow":
        sys.exit(slow_main(sys.argv[2:]))
    if len(sys.argv) == 5 and sys.argv[1] == "cut":
        sys.exit(cut_main(int(sys.argv[2]), sys.argv[3], float(sys.argv[4])))
    sys.stderr.write(__doc__)
    sys.exit(2)
