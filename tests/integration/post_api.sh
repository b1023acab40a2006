#!/bin/sh
# post_api.sh: konform-post over loopback. Delivers good and bad letters,
# checks the body cap, malformed input, list/search/read/delete, a long-poll
# answered by a letter posted while it waits, a long-poll that times out, and
# a clean shutdown that releases a pending long-poll.
#
# Run from the repository root: KONFORM_BIN=<folder of built programs> sh tests/integration/post_api.sh
# Event-driven throughout: readiness comes from a FIFO, and "the wait request
# has been sent" is read from curl's verbose trace through a FIFO.
set -eu

server_pid=""
bg_pids=""
it_name=post_api
it_pid_vars="bg_pids server_pid"
. tests/integration/lib/common.sh

# ---- Command line. ----
"$bin/konform-post" --version | grep -q '^konform-post ' || fail "--version"
ok
"$bin/konform-post" --help | grep -q -- '--ready-fd' || fail "--help"
ok
cli_status=0
"$bin/konform-post" --port notaport 2>/dev/null || cli_status=$?
[ "$cli_status" = 2 ] || fail "--port notaport: expected exit status 2, got $cli_status"
ok

# ---- Start the server and read its READY line. ----
mkfifo "$tmp/ready"
"$bin/konform-post" --port 0 --ready-fd 3 --max-body 4096 --log-level warn 3>"$tmp/ready" &
server_pid=$!
it_ready "$tmp/ready" konform-post
port=$(it_ready_port http)
base="http://127.0.0.1:$port"

post_letter() {
  req POST /api/v1/letters -H 'Content-Type: application/json' --data-binary "$1"
}
letter() { # letter KIND NAME CUSTOMER_NUMBER
  printf '{"kind":"%s","date":"2026-03-01","recipient":{"name":"%s","customer_number":"%s","address":{"street":"Hauptstraße 1","postal_code":"10115","city":"Berlin"}},"text":"Guten Tag,\\nIhr Freischaltcode.","fields":{"code":"HET2-2X8A-UXAS","valid_until":"22.03.2025"}}' "$1" "$2" "$3"
}

# ---- Health. ----
req GET /api/v1/health
expect_status 200 "health"
expect_body '"status":"ok"' "health"

# ---- Good letters. ----
post_letter "$(letter freischaltcode 'Max Mustermann' 123A123456)"
expect_status 201 "first letter"
expect_body '{"id":1}' "first letter"
post_letter "$(letter einmal-passwort 'Erika Musterfrau' 456B654321)"
expect_status 201 "second letter"
expect_body '{"id":2}' "second letter"

# ---- Bad letters: one entry per field problem, nothing stored. ----
post_letter '{"date":"2026-02-30","recipient":{"name":"Max","customer_number":"123a123456","address":{"street":"x","postal_code":"1","city":"y"}},"text":"t"}'
expect_status 400 "invalid letter"
expect_body '"code":"VALIDATION_FAILED"' "invalid letter"
expect_body '{"field":"kind","code":"MISSING_FIELD"' "invalid letter"
expect_body '{"field":"date","code":"INVALID_FIELD"' "invalid letter"
expect_body '{"field":"recipient.customer_number","code":"INVALID_FIELD"' "invalid letter"
post_letter '{"kind":"k","date":"2026-03-01","recipient":{"name":"Max\u0007","address":{"street":"x","postal_code":"1","city":"y"}},"text":"t"}'
expect_status 400 "control character"
expect_body '{"field":"recipient.name","code":"INVALID_FIELD"' "control character"
# Members outside the known fields are checked too, at any depth and inside arrays.
post_letter '{"kind":"k","date":"2026-03-01","recipient":{"name":"Max","address":{"street":"x","postal_code":"1","city":"y"}},"text":"t","meta":{"notes":["ok",{"note":"NUL\u0000here"}]}}'
expect_status 400 "control character in an unknown nested member"
expect_body '{"field":"meta.notes.1.note","code":"INVALID_FIELD"' "control character in an unknown nested member"
post_letter '{"kind":"k","date":"2026-03-01","recipient":{"name":"Max","nick":"\u001b[31m","address":{"street":"x","postal_code":"1","city":"y"}},"text":"t"}'
expect_status 400 "control character in an unknown recipient member"
expect_body '{"field":"recipient.nick","code":"INVALID_FIELD"' "control character in an unknown recipient member"
post_letter '{"kind": "k", "date": '
expect_status 400 "malformed JSON"
expect_body '"code":"MALFORMED_JSON"' "malformed JSON"
post_letter "$(printf '{"kind":"\377"}')"
expect_status 400 "invalid UTF-8"
expect_body '"code":"INVALID_UTF8"' "invalid UTF-8"
post_letter '[1,2]'
expect_status 400 "not an object"
req POST /api/v1/letters -H 'Content-Type: text/plain' --data-binary "$(letter k Max 123A123456)"
expect_status 415 "wrong content type"
expect_body '"code":"UNSUPPORTED_MEDIA_TYPE"' "wrong content type"
# A body over --max-body (4096) is refused whole.
{
  printf '{"kind":"k","date":"2026-03-01","text":"'
  head -c 5000 /dev/zero | tr '\0' 'a'
  printf '"}'
} >"$tmp/big.json"
req POST /api/v1/letters -H 'Content-Type: application/json' --data-binary @"$tmp/big.json"
expect_status 413 "oversized body"
expect_body '"code":"BODY_TOO_LARGE"' "oversized body"
req PUT /api/v1/letters -H 'Content-Type: application/json' --data-binary '{}'
expect_status 405 "wrong method"

req GET /api/v1/letters
expect_status 200 "list"
expect_body '"count":2' "nothing half-stored after bad letters"

# ---- List, search, read. ----
req GET '/api/v1/letters?kind=freischaltcode'
expect_body '"count":1' "search by kind"
expect_body '"customer_number":"123A123456"' "search by kind"
req GET '/api/v1/letters?name=Erika%20Musterfrau'
expect_body '"count":1' "search by name"
expect_body '"kind":"einmal-passwort"' "search by name"
req GET '/api/v1/letters?customer_number=456B654321&kind=einmal-passwort'
expect_body '"count":1' "search by customer number and kind"
req GET '/api/v1/letters?customer_number=456B654321&kind=freischaltcode'
expect_body '"count":0' "filters are AND-ed"
req GET '/api/v1/letters?after=1'
expect_body '"count":1' "after"
expect_body '"id":2' "after"
req GET '/api/v1/letters?limit=1'
expect_body '"count":1' "limit"
expect_body '"id":1' "limit keeps the oldest"
req GET '/api/v1/letters?limit=0'
expect_status 400 "limit out of range"
expect_body '"field":"limit"' "limit out of range"
req GET '/api/v1/letters?after=abc'
expect_status 400 "non-numeric after"
expect_body '"code":"INVALID_PARAMETER"' "non-numeric after"
expect_body '"field":"after"' "non-numeric after"

req GET /api/v1/letters/1
expect_status 200 "read"
expect_body '"id":1,"received_at":"' "read"
expect_body '"country":"DE"' "default country"
expect_body '"code":"HET2-2X8A-UXAS"' "fields kept"
req GET /api/v1/letters/99
expect_status 404 "unknown id"
expect_body '"code":"NOT_FOUND"' "unknown id"
req GET /api/v1/letters/abc
expect_status 400 "non-numeric id"
expect_body '"field":"id"' "non-numeric id"

# ---- Delete one. ----
req DELETE /api/v1/letters/1
expect_status 204 "delete"
req DELETE /api/v1/letters/1
expect_status 404 "delete twice"
req GET /api/v1/letters/1
expect_status 404 "deleted letter is gone"

# ---- Long-poll: an existing letter answers at once. ----
req GET '/api/v1/wait/letters?kind=einmal-passwort&timeout_ms=60000'
expect_status 200 "wait for an existing letter"
expect_body '"id":2' "wait for an existing letter"

# ---- Long-poll answered by a letter posted while it waits. ----
start_wait late "$base/api/v1/wait/letters?name=Sp%C3%A4t%20Ankommer&after=2&timeout_ms=60000"
post_letter "$(letter freischaltcode 'Spät Ankommer' 789C111111)"
expect_status 201 "letter for the waiter"
wait "$wait_pid" || fail "waiting curl failed"
[ "$(cat "$tmp/late.status")" = 200 ] || fail "wait: expected 200, got $(cat "$tmp/late.status")"
ok
grep -qF '"customer_number":"789C111111"' "$tmp/late.body" || fail "wait: wrong letter: $(cat "$tmp/late.body")"
ok

# ---- Long-poll that times out. ----
req GET '/api/v1/wait/letters?kind=nie-verschickt&timeout_ms=150'
expect_status 408 "wait timeout"
expect_body '"code":"WAIT_TIMEOUT"' "wait timeout"
req GET '/api/v1/wait/letters?timeout_ms=120001'
expect_status 400 "timeout_ms too large"
expect_body '"field":"timeout_ms"' "timeout_ms too large"

# ---- Delete all. ----
req DELETE /api/v1/letters
expect_status 204 "delete all"
req GET /api/v1/letters
expect_body '"count":0' "empty after delete all"

# ---- SIGTERM releases a pending long-poll and exits cleanly. ----
start_wait pending "$base/api/v1/wait/letters?kind=nie-verschickt&timeout_ms=120000"
kill -TERM "$server_pid"
server_status=0
wait "$server_pid" || server_status=$?
server_pid=""
[ "$server_status" = 0 ] || fail "konform-post exited with $server_status on SIGTERM"
ok
wait "$wait_pid" || true
pending_status=$(cat "$tmp/pending.status")
case $pending_status in
  503 | 000) ok ;;
  *) fail "pending wait during shutdown: expected 503 or a closed connection, got $pending_status" ;;
esac

echo "post_api: $checks checks passed"
