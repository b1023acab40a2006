#!/bin/sh
# post_api.sh: konform-post over loopback. Delivers good and bad letters,
# checks the body cap, malformed input, list/search/read/delete, a long-poll
# answered by a letter posted while it waits, a long-poll that times out, and
# a clean shutdown that releases a pending long-poll. Prints TAP, one named
# case per behaviour (tests/integration/lib/common.sh).
#
# Run from the repository root: KONFORM_BIN=<folder of built programs> sh tests/integration/post_api.sh
# Event-driven throughout: readiness comes from a FIFO, and "the wait request
# has been sent" is read from curl's verbose trace through a FIFO.
set -u

server_pid=""
bg_pids=""
it_name=post_api
it_pid_vars="bg_pids server_pid"
. tests/integration/lib/common.sh
it_fail_log="$tmp/server.log"
# Set by the start case; empty until then, so later cases fail and do not abort.
base=""

post_letter() {
  req POST /api/v1/letters -H 'Content-Type: application/json' --data-binary "$1"
}
letter() { # letter KIND NAME CUSTOMER_NUMBER
  printf '{"kind":"%s","date":"2026-03-01","recipient":{"name":"%s","customer_number":"%s","address":{"street":"Hauptstraße 1","postal_code":"10115","city":"Berlin"}},"text":"Guten Tag,\\nIhr Freischaltcode.","fields":{"code":"HET2-2X8A-UXAS","valid_until":"22.03.2025"}}' "$1" "$2" "$3"
}
# get PATH: GET PATH, then the checks in the rest of the case.
get() {
  req GET "$1"
}

# ---- Command line. ----
case_version() {
  it_that "--version does not print 'konform-post <version>'" \
    sh -c '"$1" --version | grep -q "^konform-post "' _ "$bin/konform-post"
}
case_help() {
  it_that "--help does not name --ready-fd" sh -c '"$1" --help | grep -q -- --ready-fd' _ "$bin/konform-post"
}
case_bad_port() {
  cli_status=0
  "$bin/konform-post" --port notaport 2>/dev/null || cli_status=$?
  it_that "--port notaport: expected exit status 2, got $cli_status" [ "$cli_status" = 2 ]
}

# ---- Start the server and read its READY line. ----
case_start() {
  it_start server_pid "$tmp/server.log" "$bin/konform-post" --port 0 --max-body 4096 --log-level warn ||
    return 1
  port=$(it_ready_port http)
  it_that "no http port in: $ready_line" [ -n "$port" ]
  base="http://127.0.0.1:$port"
}
case_health() {
  get /api/v1/health || return 1
  expect_status 200 "health"
  expect_json '.status == "ok"' "health"
}

# ---- Good letters. ----
case_first_letter() {
  post_letter "$(letter freischaltcode 'Max Mustermann' 123A123456)" || return 1
  expect_status 201 "first letter"
  expect_json '. == {"id":1}' "first letter"
}
case_second_letter() {
  post_letter "$(letter einmal-passwort 'Erika Musterfrau' 456B654321)" || return 1
  expect_status 201 "second letter"
  expect_json '. == {"id":2}' "second letter"
}

# ---- Bad letters: one entry per field problem, nothing stored. ----
case_invalid_letter() {
  post_letter '{"date":"2026-02-30","recipient":{"name":"Max","customer_number":"123a123456","address":{"street":"x","postal_code":"1","city":"y"}},"text":"t"}' || return 1
  expect_status 400 "invalid letter"
  expect_error VALIDATION_FAILED "invalid letter"
  expect_field kind MISSING_FIELD "invalid letter"
  expect_field date INVALID_FIELD "invalid letter"
  expect_field recipient.customer_number INVALID_FIELD "invalid letter"
}
case_control_character() {
  post_letter '{"kind":"k","date":"2026-03-01","recipient":{"name":"Max\u0007","address":{"street":"x","postal_code":"1","city":"y"}},"text":"t"}' || return 1
  expect_status 400 "control character"
  expect_field recipient.name INVALID_FIELD "control character"
}
# Members outside the known fields are checked too, at any depth and inside arrays.
case_control_nested() {
  post_letter '{"kind":"k","date":"2026-03-01","recipient":{"name":"Max","address":{"street":"x","postal_code":"1","city":"y"}},"text":"t","meta":{"notes":["ok",{"note":"NUL\u0000here"}]}}' || return 1
  expect_status 400 "control character in an unknown nested member"
  expect_field meta.notes.1.note INVALID_FIELD "control character in an unknown nested member"
}
case_control_recipient() {
  post_letter '{"kind":"k","date":"2026-03-01","recipient":{"name":"Max","nick":"\u001b[31m","address":{"street":"x","postal_code":"1","city":"y"}},"text":"t"}' || return 1
  expect_status 400 "control character in an unknown recipient member"
  expect_field recipient.nick INVALID_FIELD "control character in an unknown recipient member"
}
case_malformed_json() {
  post_letter '{"kind": "k", "date": ' || return 1
  expect_status 400 "malformed JSON"
  expect_error MALFORMED_JSON "malformed JSON"
}
case_invalid_utf8() {
  post_letter "$(printf '{"kind":"\377"}')" || return 1
  expect_status 400 "invalid UTF-8"
  expect_error INVALID_UTF8 "invalid UTF-8"
}
case_not_object() {
  post_letter '[1,2]' || return 1
  expect_status 400 "not an object"
}
case_content_type() {
  req POST /api/v1/letters -H 'Content-Type: text/plain' --data-binary "$(letter k Max 123A123456)" || return 1
  expect_status 415 "wrong content type"
  expect_error UNSUPPORTED_MEDIA_TYPE "wrong content type"
}
# A body over --max-body (4096) is refused whole.
case_oversized() {
  {
    printf '{"kind":"k","date":"2026-03-01","text":"'
    head -c 5000 /dev/zero | tr '\0' 'a'
    printf '"}'
  } >"$tmp/big.json"
  req POST /api/v1/letters -H 'Content-Type: application/json' --data-binary @"$tmp/big.json" || return 1
  expect_status 413 "oversized body"
  expect_error BODY_TOO_LARGE "oversized body"
}
case_wrong_method() {
  req PUT /api/v1/letters -H 'Content-Type: application/json' --data-binary '{}' || return 1
  expect_status 405 "wrong method"
}
case_nothing_half_stored() {
  get /api/v1/letters || return 1
  expect_status 200 "list"
  expect_json '.count == 2' "nothing half-stored after bad letters"
}

# ---- List, search, read. ----
case_search_kind() {
  get '/api/v1/letters?kind=freischaltcode' || return 1
  expect_json '.count == 1' "search by kind"
  expect_json '.letters[0].recipient.customer_number == "123A123456"' "search by kind"
}
case_search_name() {
  get '/api/v1/letters?name=Erika%20Musterfrau' || return 1
  expect_json '.count == 1' "search by name"
  expect_json '.letters[0].kind == "einmal-passwort"' "search by name"
}
case_search_customer_kind() {
  get '/api/v1/letters?customer_number=456B654321&kind=einmal-passwort' || return 1
  expect_json '.count == 1' "search by customer number and kind"
}
case_filters_and() {
  get '/api/v1/letters?customer_number=456B654321&kind=freischaltcode' || return 1
  expect_json '.count == 0' "filters are AND-ed"
}
case_after() {
  get '/api/v1/letters?after=1' || return 1
  expect_json '.count == 1' "after"
  expect_json '.letters[0].id == 2' "after"
}
case_limit() {
  get '/api/v1/letters?limit=1' || return 1
  expect_json '.count == 1' "limit"
  expect_json '.letters[0].id == 1' "limit keeps the oldest"
}
case_limit_range() {
  get '/api/v1/letters?limit=0' || return 1
  expect_status 400 "limit out of range"
  expect_field limit "" "limit out of range"
}
case_broken_params() {
  for q in 'kind=freischaltcode%00' 'customer_number=' 'name' 'limit=1%00' 'after=1x' \
    'kind=a&kind=b' 'name=%C3' 'include_duplicates=1'; do
    get "/api/v1/letters?$q" || return 1
    expect_status 400 "?$q"
    expect_error INVALID_PARAMETER "?$q"
    expect_field "$(printf '%s' "$q" | sed 's/=.*//')" INVALID_PARAMETER "?$q names its parameter"
  done
  get '/api/v1/wait/letters?kind=nothing%00x&timeout_ms=0' || return 1
  expect_status 400 "a wait with ?kind=nothing%00x"
}
case_after_non_numeric() {
  get '/api/v1/letters?after=abc' || return 1
  expect_status 400 "non-numeric after"
  expect_error INVALID_PARAMETER "non-numeric after"
  expect_field after "" "non-numeric after"
}
case_read() {
  get /api/v1/letters/1 || return 1
  expect_status 200 "read"
  expect_json '.id == 1 and (.received_at | type == "string")' "read"
  expect_json '.recipient.address.country == "DE"' "default country"
  expect_json '.fields.code == "HET2-2X8A-UXAS"' "fields kept"
}
case_unknown_id() {
  get /api/v1/letters/99 || return 1
  expect_status 404 "unknown id"
  expect_error NOT_FOUND "unknown id"
}
case_non_numeric_id() {
  get /api/v1/letters/abc || return 1
  expect_status 400 "non-numeric id"
  expect_field id "" "non-numeric id"
}

# ---- Delete one. ----
case_delete() {
  req DELETE /api/v1/letters/1 || return 1
  expect_status 204 "delete"
}
case_delete_twice() {
  req DELETE /api/v1/letters/1 || return 1
  expect_status 404 "delete twice"
}
case_deleted_gone() {
  get /api/v1/letters/1 || return 1
  expect_status 404 "deleted letter is gone"
}

# ---- Long-polls. ----
case_wait_existing() {
  get '/api/v1/wait/letters?kind=einmal-passwort&timeout_ms=60000' || return 1
  expect_status 200 "wait for an existing letter"
  expect_json '.id == 2' "wait for an existing letter"
}
case_wait_answered() {
  start_wait late "$base/api/v1/wait/letters?name=Sp%C3%A4t%20Ankommer&after=2&timeout_ms=60000" || return 1
  post_letter "$(letter freischaltcode 'Spät Ankommer' 789C111111)"
  expect_status 201 "letter for the waiter"
  it_that "waiting curl failed" wait "$wait_pid"
  it_that "wait: expected 200, got $(cat "$tmp/late.status")" [ "$(cat "$tmp/late.status")" = 200 ]
  cp "$tmp/late.body" "$tmp/body"
  expect_json '.recipient.customer_number == "789C111111"' "wait: wrong letter"
}
case_wait_timeout() {
  get '/api/v1/wait/letters?kind=nie-verschickt&timeout_ms=150' || return 1
  expect_status 408 "wait timeout"
  expect_error WAIT_TIMEOUT "wait timeout"
}
case_wait_too_long() {
  get '/api/v1/wait/letters?timeout_ms=120001' || return 1
  expect_status 400 "timeout_ms too large"
  expect_field timeout_ms "" "timeout_ms too large"
}

# ---- Delete all. ----
case_delete_all() {
  req DELETE /api/v1/letters || return 1
  expect_status 204 "delete all"
  get /api/v1/letters || return 1
  expect_json '.count == 0' "empty after delete all"
}

# ---- SIGTERM releases a pending long-poll and exits cleanly. ----
case_sigterm() {
  start_wait pending "$base/api/v1/wait/letters?kind=nie-verschickt&timeout_ms=120000" || return 1
  it_sigterm server_pid konform-post
  wait "$wait_pid"
  pending_status=$(cat "$tmp/pending.status")
  case $pending_status in
    503 | 000) it_pass ;;
    *) it_fail "pending wait during shutdown: expected 503 or a closed connection, got $pending_status" ;;
  esac
}

it_case "konform-post --version" case_version
it_case "konform-post --help names --ready-fd" case_help
it_case "--port notaport is exit 2" case_bad_port
it_case "konform-post starts on loopback and reports READY" case_start
it_case "health" case_health
it_case "a first letter is stored as id 1" case_first_letter
it_case "a second letter is stored as id 2" case_second_letter
it_case "an invalid letter gets one entry per field problem" case_invalid_letter
it_case "a control character in a known member is refused" case_control_character
it_case "a control character in an unknown nested member is refused" case_control_nested
it_case "a control character in an unknown recipient member is refused" case_control_recipient
it_case "malformed JSON is MALFORMED_JSON" case_malformed_json
it_case "invalid UTF-8 is INVALID_UTF8" case_invalid_utf8
it_case "a body that is not an object is 400" case_not_object
it_case "a wrong content type is 415" case_content_type
it_case "a body over --max-body is refused whole (413)" case_oversized
it_case "a wrong method is 405" case_wrong_method
it_case "nothing is half-stored after bad letters" case_nothing_half_stored
it_case "search by kind" case_search_kind
it_case "search by name" case_search_name
it_case "search by customer number and kind" case_search_customer_kind
it_case "filters are AND-ed" case_filters_and
it_case "after skips older letters" case_after
it_case "limit keeps the oldest" case_limit
it_case "limit out of range is 400" case_limit_range
it_case "a broken query parameter is 400 INVALID_PARAMETER, never no filter" case_broken_params
it_case "a non-numeric after is INVALID_PARAMETER" case_after_non_numeric
it_case "read one letter with its defaults and fields" case_read
it_case "an unknown id is NOT_FOUND" case_unknown_id
it_case "a non-numeric id is 400" case_non_numeric_id
it_case "delete one letter" case_delete
it_case "delete it twice is 404" case_delete_twice
it_case "a deleted letter is gone" case_deleted_gone
it_case "a wait for an existing letter answers at once" case_wait_existing
it_case "a wait is answered by a letter posted while it waits" case_wait_answered
it_case "a wait that times out is WAIT_TIMEOUT" case_wait_timeout
it_case "timeout_ms over the maximum is 400" case_wait_too_long
it_case "delete all letters" case_delete_all
it_case "SIGTERM releases a pending wait and exits cleanly" case_sigterm
it_done
