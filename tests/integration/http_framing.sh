#!/bin/sh
# http_framing.sh: request framing on all three HTTP programs (konform-server,
# konform-mail's API, konform-post's API; all use kf_httpd), over raw sockets
# (tests/integration/http_clients.py raw), because curl never sends broken
# framing: two Content-Length lines with different values (and a second
# request hidden in the body, which must never be answered), identical ones,
# Content-Length beside Transfer-Encoding, a Transfer-Encoding other than
# chunked, HTTP/1.1 without Host or with two, an absolute-form target, and a
# broken %-escape in a mock's query. Every refusal is 400 and closes the
# connection (RFC 9112 6.1, 6.3, 3.2, 3.2.2). Prints TAP
# (tests/integration/lib/common.sh).
#
# Run from the repository root: KONFORM_BIN=<folder of built programs> sh tests/integration/http_framing.sh
# Event-driven: readiness comes from FIFOs; the raw client reads until the
# server closes (5 s is only a safety limit).
set -u

server_pid=""
mail_pid=""
post_pid=""
it_name=http_framing
it_pid_vars="server_pid mail_pid post_pid"
. tests/integration/lib/common.sh
it_fail_log="$tmp/programs.log"
# The ports, set by the start cases; "program:port" words.
targets=""
helper=tests/integration/http_clients.py

if ! command -v python3 >/dev/null 2>&1; then
  echo "Bail out! http_framing: python3 is needed for raw sockets"
  exit 1
fi

# ---- Start the three programs. ----
case_start() {
  it_start server_pid "$it_fail_log" "$bin/konform-server" --port 0 --test-mode --hash-cost test \
    --db "$tmp/server.db" --smtp-url smtp://127.0.0.1:1 --log-level warn || return 1
  targets="server:$(it_ready_port http)"
  it_start mail_pid "$it_fail_log" "$bin/konform-mail" --port 0 --smtp-port 0 --log-level warn ||
    return 1
  targets="$targets mail:$(it_ready_port http)"
  it_start post_pid "$it_fail_log" "$bin/konform-post" --port 0 --log-level warn || return 1
  targets="$targets post:$(it_ready_port http)"
}

# raw PORT FORMAT [ARGS...]: send printf FORMAT ARGS to PORT as they are; the
# answers go to $tmp/raw ("STATUS code body" lines, "ANSWERS n", "CLOSED yes|no").
raw() {
  raw_port=$1
  shift
  # shellcheck disable=SC2059 # the format is the request.
  printf "$@" | python3 "$helper" raw "$raw_port" >"$tmp/raw" 2>&1
}

# expect_answers N STATUS CLOSED WHAT: N answers, the first STATUS, closed yes|no.
expect_answers() {
  it_that "$4: $(tr '\n' '|' <"$tmp/raw" | head -c 400)" sh -c \
    'grep -qx "ANSWERS $1" "$4" && grep -qx "CLOSED $3" "$4" && { [ "$1" = 0 ] || head -1 "$4" | grep -q "^STATUS $2 "; }' \
    _ "$1" "$2" "$3" "$tmp/raw"
}
# expect_code CODE WHAT: the first answer's body is an error with CODE.
expect_code() {
  it_that "$2: $(head -1 "$tmp/raw" | head -c 300)" grep -q "^STATUS [0-9]* {\"error\":{\"code\":\"$1\"" "$tmp/raw"
}

# each FUNCTION: run FUNCTION NAME PORT for each program.
each() {
  for t in $targets; do
    "$1" "${t%%:*}" "${t#*:}"
  done
  it_that "the programs were started" [ -n "$targets" ]
}

# ---- Control: the raw client sees two answers on a kept-alive connection. ----
one_keepalive() {
  raw "$2" 'GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'
  expect_answers 2 200 yes "$1: two pipelined requests are both answered"
}
case_keepalive() { each one_keepalive; }

# ---- Two Content-Length values and a request hidden in the body. ----
# By the first value the body is empty and the second request is served as
# one of its own (request smuggling); by the second it is the body.
one_smuggle() {
  hidden='GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
  raw "$2" "POST /api/v1/letters HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n$hidden"
  expect_answers 1 400 yes "$1: two Content-Length (0, 44) with a request in the body: one 400, closed"
  expect_code MALFORMED_REQUEST "$1: two Content-Length"
  it_that "$1: the hidden request was answered" sh -c '! grep -q "^STATUS 200" "$1"' _ "$tmp/raw"
  raw "$2" "GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 44\r\nContent-Length: 0\r\n\r\n$hidden"
  expect_answers 1 400 yes "$1: two Content-Length (44, 0) on a GET: one 400, closed"
}
case_smuggle() { each one_smuggle; }

# Identical values could not smuggle, but RFC 9110 8.6 lets the recipient
# refuse them, and kf_httpd does (docs/design.md, Shared HTTP layer).
one_same_length() {
  raw "$2" 'GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n'
  expect_answers 1 400 yes "$1: two identical Content-Length lines"
  expect_code MALFORMED_REQUEST "$1: two identical Content-Length lines"
}
case_same_length() { each one_same_length; }

# libmicrohttpd judges a Content-Length that is no number before kf_httpd
# sees the request, with its own HTML 400 (and closes).
one_bad_length() {
  raw "$2" 'GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0, 0\r\n\r\nGET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
  it_that "$1: Content-Length '0, 0' is no 400 that closes: $(tr '\n' '|' <"$tmp/raw")" sh -c \
    'head -1 "$1" | grep -q "^STATUS 400 " && grep -qx "CLOSED yes" "$1" && ! grep -q "^STATUS 200" "$1"' _ "$tmp/raw"
}
case_bad_length() { each one_bad_length; }

# ---- Content-Length beside Transfer-Encoding, and codings we do not know. ----
one_length_and_chunked() {
  raw "$2" 'POST /api/v1/letters HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
  expect_answers 1 400 yes "$1: Content-Length with Transfer-Encoding: one 400, closed"
  expect_code MALFORMED_REQUEST "$1: Content-Length with Transfer-Encoding"
  raw "$2" 'POST /api/v1/letters HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip\r\n\r\n'
  expect_answers 1 400 yes "$1: Transfer-Encoding gzip"
}
case_length_and_chunked() { each one_length_and_chunked; }

# ---- Host (RFC 9112 3.2). ----
one_host() {
  raw "$2" 'GET /api/v1/health HTTP/1.1\r\n\r\n'
  expect_answers 1 400 yes "$1: HTTP/1.1 without Host"
  expect_code MALFORMED_REQUEST "$1: HTTP/1.1 without Host"
  raw "$2" 'GET /api/v1/health HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n'
  expect_answers 1 400 yes "$1: two Host lines"
  raw "$2" 'GET /api/v1/health HTTP/1.0\r\n\r\n'
  expect_answers 1 200 yes "$1: HTTP/1.0 needs no Host"
}
case_host() { each one_host; }

# ---- An absolute-form target is routed by its path (RFC 9112 3.2.2). ----
one_absolute() {
  raw "$2" "GET http://127.0.0.1:$2/api/v1/health HTTP/1.1\r\nHost: 127.0.0.1:$2\r\nConnection: close\r\n\r\n"
  expect_answers 1 200 yes "$1: absolute-form health GET"
  it_that "$1: the absolute-form answer is not health" grep -q '"status":"ok"' "$tmp/raw"
  raw "$2" "GET HTTP://127.0.0.1:$2/api/v1/no-such-thing HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
  expect_answers 1 404 yes "$1: absolute-form unknown path"
}
case_absolute() { each one_absolute; }

# ---- A broken %-escape in a mock's query is INVALID_PARAMETER. ----
one_escape() {
  case $1 in server) return 0 ;; mail) kind=messages ;; *) kind=letters ;; esac
  for q in 'to=%%zz' 'name=50%%' 'subject=a%%2' 'na%%zzme=x'; do
    raw "$2" "GET /api/v1/$kind?$q HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    expect_answers 1 400 yes "$1: ?$q"
    expect_code INVALID_PARAMETER "$1: ?$q"
  done
  raw "$2" "GET /api/v1/wait/$kind?to=%%zz&timeout_ms=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
  expect_code INVALID_PARAMETER "$1: a wait with to=%zz"
  it_that "$1: the parameter is not named: $(head -1 "$tmp/raw")" grep -q '"field":"to"' "$tmp/raw"
  raw "$2" "GET /api/v1/$kind?to=%%41%%62 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
  expect_answers 1 200 yes "$1: a sound escape (to=%41%62)"
}
case_escape() { each one_escape; }

case_stop() {
  it_sigterm server_pid konform-server
  it_sigterm mail_pid konform-mail
  it_sigterm post_pid konform-post
}

it_case "konform-server, konform-mail and konform-post start" case_start
it_case "two pipelined requests are both answered (the raw client counts right)" case_keepalive
it_case "two Content-Length values are one 400 and a close, the hidden request never answered" case_smuggle
it_case "identical repeated Content-Length lines are refused too" case_same_length
it_case "a Content-Length list is libmicrohttpd's own 400 and a close" case_bad_length
it_case "Content-Length beside Transfer-Encoding, or a coding not chunked, is 400 and a close" case_length_and_chunked
it_case "HTTP/1.1 without Host, or with two, is 400; HTTP/1.0 needs none" case_host
it_case "an absolute-form target is routed by its path" case_absolute
it_case "a broken %-escape in a mock's query is 400 INVALID_PARAMETER" case_escape
it_case "SIGTERM stops all three" case_stop
it_done
