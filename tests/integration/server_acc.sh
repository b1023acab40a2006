#!/bin/sh
# server_acc.sh: konform-server's ACC behaviour end to end over loopback, with
# konform-mail as the SMTP peer. Registers, reads the mail through the mail
# API's long-poll, confirms at exactly 24 h on a test clock, sees expiry at
# 24 h + 1 s, resend and supersession, duplicate registration (ACC-10), login
# answers, a HEAD on the link that confirms nothing, malformed input, a clean
# SIGTERM exit, and start-up refusals (cheap hashing outside test mode, a bad
# mail domain). Prints TAP, one named case per behaviour
# (tests/integration/lib/common.sh).
#
# Run from the repository root: KONFORM_BIN=<folder of built programs> sh tests/integration/server_acc.sh
# Event-driven: readiness comes from FIFOs, mails from the long-poll; no sleeps.
set -u

mail_pid=""
server_pid=""
it_name=server_acc
it_pid_vars="server_pid mail_pid"
. tests/integration/lib/common.sh
it_fail_log="$tmp/server.log"
# Set by the cases; empty until then, so later cases fail and do not abort.
base=""
mail=""
mail_smtp=""

json() { # json METHOD PATH BODY [curl args...]
  m=$1
  p=$2
  b=$3
  shift 3
  req "$m" "$base$p" -H 'Content-Type: application/json' --data-binary "$b" "$@"
}
# wait_mail QUERY: long-poll konform-mail for the first matching mail (body in $tmp/body).
wait_mail() {
  req GET "$mail/api/v1/wait/messages?$1&timeout_ms=20000" || return 1
  expect_status 200 "mail for $1"
}
# mail_link: the confirmation link of the mail in $tmp/body.
mail_link() {
  json_get '[.links[] | select(test("/link/e-mail-bestaetigen[?]id=[0-9a-f-]+$"))][0] // empty'
}
# head_link LINK WHAT: a HEAD on LINK on the test clock (sets $status and the headers).
head_link() {
  if ! status=$(curl -sS -I -D "$tmp/headers" -o /dev/null -w '%{http_code}' -H "$C" "$1"); then
    it_fail "$2: curl HEAD $1 failed"
    return 1
  fi
}
# expect_html WHAT: the last answer is an HTML page in UTF-8.
expect_html() {
  it_that "$1: not text/html; charset=utf-8" grep -qi '^content-type: text/html; charset=utf-8' "$tmp/headers"
}
registration() { # registration EMAIL
  printf '{"email":"%s","password":"Abcdefgh12!x","password_repeat":"Abcdefgh12!x","accept_terms":true,"consent_email":true}' "$1"
}

# ---- Start konform-mail, then konform-server pointed at its SMTP port. ----
case_start_mail() {
  it_start mail_pid "$tmp/mail.log" "$bin/konform-mail" --port 0 --smtp-port 0 --log-level warn || return 1
  mail_http=$(it_ready_port http)
  mail_smtp=$(it_ready_port smtp)
  it_that "no smtp port in: $ready_line" [ -n "$mail_smtp" ]
  mail="http://127.0.0.1:$mail_http"
}
# start_server DB SMTP_URL ARGS...: a test-mode server on DB; sets
# server_pid and base.
start_server() {
  ss_db=$1
  ss_smtp=$2
  shift 2
  it_start server_pid "$tmp/server.log" "$bin/konform-server" --port 0 --test-mode --hash-cost test \
    --db "$ss_db" --smtp-url "$ss_smtp" "$@" || return 1
  base="http://127.0.0.1:$(it_ready_port http)"
}
case_start_server() {
  start_server "$tmp/server.db" "smtp://127.0.0.1:${mail_smtp:-1}" --max-body 4096 --log-level warn
}

# ---- Health and a test clock. ----
case_health() {
  req GET "$base/api/v1/health" || return 1
  expect_status 200 "health"
  expect_json '.test_mode == true' "health"
}
t0=1790000000
case_clock() {
  json POST /test/v1/clocks "{\"frozen_time\":$t0,\"name\":\"acc\"}" || return 1
  expect_status 201 "create clock"
  clock=$(json_get '.id // empty')
  C="Konform-Clock: $clock"
  expect_json '.id | test("^clk_[0-9a-f]+$")' "no clock id"
  expect_json '.frozen_time_iso == "2026-09-21T14:13:20Z"' "create clock"
}
clock=""
C="Konform-Clock: none"

# ---- Register; the confirmation mail arrives (ACC-05). ----
case_register() {
  json POST /api/v1/registrations "$(registration ' max.acc@Example.TEST ')" -H "$C" || return 1
  expect_status 202 "registration"
  expect_json '.status == "confirmation_mail_sent"' "registration"
  cp "$tmp/body" "$tmp/first.body"
  grep -iv '^date:' "$tmp/headers" >"$tmp/first.headers"
}
case_confirmation_mail() {
  wait_mail "to=max.acc@example.test&subject=E-Mail-Adresse" || return 1
  expect_json '.from == "kontoservice@arbeitsagentur.de"' "confirmation mail sender"
  expect_json '.subject == "Bestätigung Ihrer E-Mail-Adresse"' "confirmation mail subject"
  expect_json '.date == "Mon, 21 Sep 2026 14:13:20 +0000"' "confirmation mail Date from the test clock"
  expect_json '.text | contains("Servicenummer: 0800 4 5555 01")' "confirmation mail"
  expect_json '.text | contains("innerhalb von 24 Stunden")' "confirmation mail"
  link1=$(mail_link)
  it_that "no confirmation link in $(it_body)" [ -n "$link1" ] || return 1
  case $link1 in
    "$base/link/e-mail-bestaetigen?id="*) it_pass ;;
    *) it_fail "link has the wrong base: $link1" ;;
  esac
  expect_json '[.. | strings | scan("/link/e-mail-bestaetigen[?]id=[0-9a-f-]+")] | unique | length == 1' \
    "more than one confirmation link"
}
link1=""

# ---- Duplicate registration (ACC-10): same answer, information mail, no new account. ----
case_duplicate() {
  json POST /api/v1/registrations "$(registration 'max.acc@EXAMPLE.test')" -H "$C" || return 1
  expect_status 202 "duplicate registration"
  it_that "duplicate answer differs: $(it_body)" cmp -s "$tmp/body" "$tmp/first.body"
  grep -iv '^date:' "$tmp/headers" >"$tmp/dup.headers"
  it_that "duplicate headers differ" cmp -s "$tmp/dup.headers" "$tmp/first.headers"
}
case_duplicate_mail() {
  wait_mail "to=max.acc@example.test&subject=Registrierung" || return 1
  expect_json '.text | contains("Benutzername / E-Mail-Adresse vergessen")' "duplicate mail"
  expect_json '.text | contains("Passwort vergessen")' "duplicate mail"
  expect_json '[.. | strings | select(contains("e-mail-bestaetigen"))] | length == 0' "duplicate mail"
}

# ---- Login before confirmation (ACC-09) and the enumeration-proof 401 (AUTH-04). ----
case_unconfirmed_login() {
  json POST /api/v1/sessions '{"username":"max.acc@example.test","password":"Abcdefgh12!x"}' || return 1
  expect_status 403 "unconfirmed login"
  expect_error EMAIL_NOT_CONFIRMED "unconfirmed login"
  expect_json '.error.message | contains("Bitte bestätigen Sie zuerst Ihre E-Mail-Adresse.")' "unconfirmed login"
}
case_enumeration() {
  json POST /api/v1/sessions '{"username":"max.acc@example.test","password":"Wrong-pass-123"}' || return 1
  expect_status 401 "wrong password"
  cp "$tmp/body" "$tmp/wrong.body"
  json POST /api/v1/sessions '{"username":"nobody@example.test","password":"Wrong-pass-123"}' || return 1
  expect_status 401 "unknown user"
  it_that "unknown user and wrong password answer differently" cmp -s "$tmp/body" "$tmp/wrong.body"
}
case_blank_username() {
  json POST /api/v1/sessions '{"username":"   ","password":"Wrong-pass-123"}' || return 1
  expect_status 400 "blank username"
  expect_error VALIDATION_FAILED "blank username"
  expect_field "" USERNAME_REQUIRED "blank username"
}

# ---- Confirm at exactly issued_at + 24 h (ACC-06, ACC-08), then again (ACC-07). ----
case_advance_24h() {
  json POST "/test/v1/clocks/$clock/advance" '{"seconds":86400}' || return 1
  expect_status 200 "advance 24 h"
}
# A HEAD (mail scanners, link checkers) answers as the GET would but confirms nothing.
case_head_valid() {
  head_link "$link1" "HEAD on a valid link" || return 1
  expect_status 200 "HEAD on a valid link"
  expect_html "HEAD page type"
  head_link "$link1" "second HEAD on a valid link" || return 1
  expect_status 200 "second HEAD on a valid link"
}
case_confirm() {
  req GET "$link1" -H "$C" || return 1
  expect_status 200 "confirm at 24 h"
  expect_body 'Sie haben Ihre E-Mail-Adresse erfolgreich bestätigt.' "confirm page"
  expect_body '>Zur Anmeldung</a>' "confirm page"
  expect_html "confirm page type"
}
case_second_click() {
  req GET "$link1" -H "$C" || return 1
  expect_status 409 "second click"
  expect_body 'data-code="ALREADY_CONFIRMED"' "second click"
  head_link "$link1" "HEAD on a used link" || return 1
  expect_status 409 "HEAD on a used link"
}
case_second_confirmation_json() {
  json POST /api/v1/email-confirmations "{\"id\":\"${link1##*id=}\"}" -H "$C" || return 1
  expect_status 409 "second confirmation (JSON)"
  expect_error ALREADY_CONFIRMED "second confirmation"
}

# ---- A login now works and starts at the second-factor stage; logout ends it. ----
case_login() {
  json POST /api/v1/sessions '{"username":"max.acc@EXAMPLE.TEST","password":"Abcdefgh12!x"}' -H "$C" || return 1
  expect_status 201 "login"
  expect_json '.stage == "second_factor_setup"' "login"
  token=$(json_get '.token // empty')
  expect_json '.token | test("^[0-9a-f]{64}$")' "token is not 256 bits of hex"
}
token=""
case_logout() {
  # At the login's clock: at the real time the session would be long idle (AUTH-06).
  req DELETE "$base/api/v1/sessions/current" -H "Authorization: Bearer $token" -H "$C" || return 1
  expect_status 204 "logout"
  req DELETE "$base/api/v1/sessions/current" -H "Authorization: Bearer $token" -H "$C" || return 1
  expect_status 401 "logout twice"
}

# ---- Expiry at 24 h + 1 s, resend, supersession (ACC-06). ----
case_second_registration() {
  json POST /api/v1/registrations "$(registration 'erika.acc@example.test')" -H "$C" || return 1
  expect_status 202 "second registration"
  wait_mail "to=erika.acc@example.test&subject=E-Mail-Adresse" || return 1
  old_mail=$(json_get '.id // empty')
  link2=$(mail_link)
  it_that "no mail id in $(it_body)" [ -n "$old_mail" ]
  it_that "no confirmation link in $(it_body)" [ -n "$link2" ]
}
old_mail=""
link2=""
case_expired() {
  json POST "/test/v1/clocks/$clock/advance" '{"seconds":86401}' || return 1
  expect_status 200 "advance 24 h + 1 s"
  json POST /api/v1/email-confirmations "{\"id\":\"${link2##*id=}\"}" -H "$C" || return 1
  expect_status 410 "expired link"
  expect_error LINK_EXPIRED "expired link"
}
case_unconfirmed_after_expiry() {
  json POST /api/v1/sessions '{"username":"erika.acc@example.test","password":"Abcdefgh12!x"}' -H "$C" || return 1
  expect_status 403 "still unconfirmed after expiry"
}
case_resend() {
  json POST /api/v1/email-confirmations/resend '{"email":"erika.acc@example.test"}' -H "$C" || return 1
  expect_status 202 "resend"
  cp "$tmp/body" "$tmp/resend.body"
  json POST /api/v1/email-confirmations/resend '{"email":"nobody.acc@example.test"}' -H "$C" || return 1
  expect_status 202 "resend for an unknown address"
  it_that "resend answers differ" cmp -s "$tmp/body" "$tmp/resend.body"
}
case_resend_mail() {
  wait_mail "to=erika.acc@example.test&subject=E-Mail-Adresse&after=${old_mail:-0}" || return 1
  link3=$(mail_link)
  it_that "resend did not send a new link" new_link "$link3" "$link2"
}
link3=""
new_link() { # new_link NEW OLD: NEW is a link, and not OLD
  [ -n "$1" ] && [ "$1" != "$2" ]
}
case_superseded() {
  req GET "$link2" -H "$C" || return 1
  expect_status 410 "superseded link"
  expect_body 'LINK_SUPERSEDED' "superseded link page"
}
case_new_link_valid() {
  json POST "/test/v1/clocks/$clock/advance" '{"seconds":86400}' || return 1
  expect_status 200 "advance 24 h after the resend"
  req GET "$link3" -H "$C" || return 1
  expect_status 200 "new link valid 24 h from the resend"
}

# ---- Validation answers (ACC-01, 03, 04, 11). ----
case_invalid_registration() {
  json POST /api/v1/registrations '{"email":"x@example.test\r\n","password":"kurz","password_repeat":"anders"}' || return 1
  expect_status 400 "invalid registration"
  expect_error VALIDATION_FAILED "invalid registration"
  expect_field "" EMAIL_CONTROL_CHARACTERS "control characters"
  expect_field "" PASSWORD_LENGTH "password length"
  expect_field "" PASSWORD_REPEAT_MISMATCH "repeat"
  expect_field "" TERMS_NOT_ACCEPTED "terms"
  expect_field "" EMAIL_CONSENT_MISSING "consent"
  expect_json '.error.password_checks | type == "array"' "password checks"
}
case_nul_registration() {
  json POST /api/v1/registrations '{"email":"nul@example.test\u0000.evil.test","password":"Abcdefgh12!x\u0000","password_repeat":"Abcdefgh12!x\u0000","accept_terms":"true","consent_email":1}' || return 1
  expect_status 400 "NUL characters and look-alike consents"
  expect_field "" EMAIL_CONTROL_CHARACTERS "NUL in the address"
  expect_field "" PASSWORD_FORBIDDEN_CHARACTERS "NUL in the password"
  expect_field "" TERMS_NOT_ACCEPTED "string consent"
  expect_field "" EMAIL_CONSENT_MISSING "number consent"
}

# ---- Bad requests; the server survives them all. ----
case_oversized() {
  head -c 5000 /dev/zero | tr '\0' 'a' >"$tmp/big"
  req POST "$base/api/v1/registrations" -H 'Content-Type: application/json' --data-binary "@$tmp/big" || return 1
  expect_status 413 "oversized body"
  expect_error BODY_TOO_LARGE "oversized body"
}
case_malformed_json() {
  json POST /api/v1/registrations '{"email": ' || return 1
  expect_status 400 "malformed JSON"
  expect_error MALFORMED_JSON "malformed JSON"
}
case_invalid_utf8() {
  printf '{"email":"a\377@example.test"}' >"$tmp/bad-utf8"
  req POST "$base/api/v1/registrations" -H 'Content-Type: application/json' --data-binary "@$tmp/bad-utf8" || return 1
  expect_status 400 "invalid UTF-8"
  expect_error INVALID_UTF8 "invalid UTF-8"
}
case_malformed_link() {
  req GET "$base/link/e-mail-bestaetigen?id=not-a-uuid" || return 1
  expect_status 404 "malformed link id"
}
case_unknown_link() {
  json POST /api/v1/email-confirmations '{"id":"00000000-0000-4000-8000-000000000000"}' || return 1
  expect_status 404 "unknown link id"
  expect_error LINK_NOT_FOUND "unknown link id"
}
case_unknown_clock() {
  req GET "$base/api/v1/health" -H 'Konform-Clock: clk_0000' || return 1
  expect_status 400 "unknown clock"
  expect_error CLOCK_NOT_FOUND "unknown clock"
}
case_unknown_clock_page() {
  req GET "$link1" -H 'Konform-Clock: clk_0000' || return 1
  expect_status 400 "unknown clock on the link page"
  expect_body 'data-code="CLOCK_NOT_FOUND"' "unknown clock on the link page"
  expect_html "unknown clock page type"
}
case_clock_backwards() {
  json POST "/test/v1/clocks/$clock/advance" "{\"frozen_time\":$t0}" || return 1
  expect_status 400 "clock backwards"
  expect_error CLOCK_BACKWARDS "clock backwards"
}
case_health_after() {
  req GET "$base/api/v1/health" || return 1
  expect_status 200 "health after bad requests"
}

# ---- SIGTERM ends the server cleanly. ----
case_sigterm() {
  it_sigterm server_pid konform-server
}

# ---- The outbox keeps a mail it could not deliver across a restart. ----
# Port 1 on loopback refuses connections, so the first attempts fail.
case_outbox_kept() {
  start_server "$tmp/late.db" "smtp://127.0.0.1:1" --log-level error || return 1
  json POST /api/v1/registrations "$(registration 'late.acc@example.test')"
  expect_status 202 "registration while SMTP is down"
  it_sigterm server_pid konform-server
}
case_outbox_delivered() {
  start_server "$tmp/late.db" "smtp://127.0.0.1:${mail_smtp:-1}" --log-level error || return 1
  if wait_mail "to=late.acc@example.test&subject=E-Mail-Adresse"; then
    it_that "the mail kept across the restart has no link" [ -n "$(mail_link)" ]
  fi
  it_sigterm server_pid konform-server
}

# ---- Start-up refusals: cheap password hashing outside test mode, a bad mail domain. ----
# refused WHAT ARGS...: konform-server must exit 2 at once and name the problem.
refused() {
  what=$1
  shift
  rm -f "$tmp/refused.db"
  rc=0
  "$bin/konform-server" --port 0 --db "$tmp/refused.db" "$@" >/dev/null 2>"$tmp/refused.err" || rc=$?
  it_that "$what: expected exit 2, got $rc" [ "$rc" -eq 2 ]
  it_that "$what: message lacks it: $(cat "$tmp/refused.err")" grep -qF -- "$what" "$tmp/refused.err"
  it_that "$what: the server got as far as the database" [ ! -e "$tmp/refused.db" ]
}
case_refuse_hash_cost() { refused "--hash-cost test" --hash-cost test; }
case_refuse_argon2_ops() { refused "--argon2-ops" --argon2-ops 1; }
case_refuse_argon2_mem() { refused "--argon2-mem-kib" --argon2-mem-kib 8192; }
case_refuse_mail_domain_crlf() { refused "--mail-domain" --mail-domain "$(printf 'x.test\r\nBcc: a@b.test')"; }
case_refuse_mail_domain_localhost() { refused "--mail-domain" --mail-domain localhost; }

it_case "konform-mail starts on loopback and reports READY" case_start_mail
it_case "konform-server starts in test mode and reports READY" case_start_server
it_case "health says test mode" case_health
it_case "a test clock is created" case_clock
it_case "a registration is accepted (ACC-05)" case_register
it_case "the confirmation mail arrives with one link on the test clock (ACC-05)" case_confirmation_mail
it_case "a duplicate registration gets the same answer (ACC-10)" case_duplicate
it_case "a duplicate registration sends an information mail without a link (ACC-10)" case_duplicate_mail
it_case "a login before confirmation is EMAIL_NOT_CONFIRMED (ACC-09)" case_unconfirmed_login
it_case "wrong password and unknown user answer alike (AUTH-04)" case_enumeration
it_case "a blank username is USERNAME_REQUIRED" case_blank_username
it_case "the test clock advances 24 h" case_advance_24h
it_case "a HEAD on a valid link answers 200 and confirms nothing" case_head_valid
it_case "the link confirms at exactly 24 h (ACC-06, ACC-08)" case_confirm
it_case "a second click is ALREADY_CONFIRMED, for GET and HEAD (ACC-07)" case_second_click
it_case "a second confirmation by JSON is ALREADY_CONFIRMED" case_second_confirmation_json
it_case "a login works and starts at the second-factor stage" case_login
it_case "logout ends the session" case_logout
it_case "a second registration gets its mail" case_second_registration
it_case "the link expires at 24 h + 1 s (ACC-06)" case_expired
it_case "the account stays unconfirmed after expiry" case_unconfirmed_after_expiry
it_case "a resend answers alike for known and unknown addresses" case_resend
it_case "a resend sends a new link" case_resend_mail
it_case "the old link is superseded" case_superseded
it_case "the new link is valid 24 h from the resend" case_new_link_valid
it_case "an invalid registration names every problem (ACC-01, 03, 04, 11)" case_invalid_registration
it_case "NUL characters and look-alike consents are refused" case_nul_registration
it_case "an oversized body is BODY_TOO_LARGE" case_oversized
it_case "malformed JSON is MALFORMED_JSON" case_malformed_json
it_case "invalid UTF-8 is INVALID_UTF8" case_invalid_utf8
it_case "a malformed link id is 404" case_malformed_link
it_case "an unknown link id is LINK_NOT_FOUND" case_unknown_link
it_case "an unknown clock is CLOCK_NOT_FOUND" case_unknown_clock
it_case "an unknown clock on the link page is an HTML CLOCK_NOT_FOUND" case_unknown_clock_page
it_case "a clock cannot go backwards" case_clock_backwards
it_case "the server is healthy after the bad requests" case_health_after
it_case "SIGTERM ends the server cleanly" case_sigterm
it_case "a mail the outbox could not deliver survives a clean shutdown" case_outbox_kept
it_case "the kept mail is delivered after the restart" case_outbox_delivered
it_case "--hash-cost test is refused outside test mode" case_refuse_hash_cost
it_case "--argon2-ops below the floor is refused" case_refuse_argon2_ops
it_case "--argon2-mem-kib below the floor is refused" case_refuse_argon2_mem
it_case "a --mail-domain with CR/LF is refused" case_refuse_mail_domain_crlf
it_case "--mail-domain localhost is refused" case_refuse_mail_domain_localhost
it_done
