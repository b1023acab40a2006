#!/bin/sh
# server_acc.sh: konform-server's ACC behaviour end to end over loopback, with
# konform-mail as the SMTP peer. Registers, reads the mail through the mail
# API's long-poll, confirms at exactly 24 h on a test clock, sees expiry at
# 24 h + 1 s, resend and supersession, duplicate registration (ACC-10), login
# answers, a HEAD on the link that confirms nothing, malformed input, a clean
# SIGTERM exit, and start-up refusals (cheap hashing outside test mode, a bad
# mail domain).
#
# Run from the repository root: KONFORM_BIN=<folder of built programs> sh tests/integration/server_acc.sh
# Event-driven: readiness comes from FIFOs, mails from the long-poll; no sleeps.
set -eu

mail_pid=""
server_pid=""
it_name=server_acc
it_pid_vars="server_pid mail_pid"
. tests/integration/lib/common.sh
it_fail_log="$tmp/server.log"

# ---- Start konform-mail, then konform-server pointed at its SMTP port. ----
mkfifo "$tmp/mail.ready" "$tmp/server.ready"
"$bin/konform-mail" --port 0 --smtp-port 0 --ready-fd 3 --log-level warn 3>"$tmp/mail.ready" &
mail_pid=$!
it_ready "$tmp/mail.ready" konform-mail
mail_http=$(it_ready_port http)
mail_smtp=$(it_ready_port smtp)
mail="http://127.0.0.1:$mail_http"

"$bin/konform-server" --port 0 --ready-fd 3 --test-mode --hash-cost test --db "$tmp/server.db" \
  --smtp-url "smtp://127.0.0.1:$mail_smtp" --max-body 4096 --log-level warn \
  3>"$tmp/server.ready" 2>"$tmp/server.log" &
server_pid=$!
it_ready "$tmp/server.ready" konform-server
port=$(it_ready_port http)
base="http://127.0.0.1:$port"

json() { # json METHOD PATH BODY [curl args...]
  m=$1
  p=$2
  b=$3
  shift 3
  req "$m" "$base$p" -H 'Content-Type: application/json' --data-binary "$b" "$@"
}
# wait_mail QUERY: long-poll konform-mail for the first matching mail (body in $tmp/body).
wait_mail() {
  req GET "$mail/api/v1/wait/messages?$1&timeout_ms=20000"
  expect_status 200 "mail for $1"
}
mail_id() { grep -o '"id": *[0-9]*' "$tmp/body" | head -1 | sed 's/[^0-9]//g'; }
mail_link() { grep -o 'http://[^"]*/link/e-mail-bestaetigen?id=[0-9a-f-]*' "$tmp/body" | head -1; }
registration() { # registration EMAIL
  printf '{"email":"%s","password":"Abcdefgh12!x","password_repeat":"Abcdefgh12!x","accept_terms":true,"consent_email":true}' "$1"
}

# ---- Health and a test clock. ----
req GET "$base/api/v1/health"
expect_status 200 "health"
expect_body '"test_mode":true' "health"
t0=1790000000
json POST /test/v1/clocks "{\"frozen_time\":$t0,\"name\":\"acc\"}"
expect_status 201 "create clock"
clock=$(sed -n 's/.*"id":"\(clk_[0-9a-f]*\)".*/\1/p' "$tmp/body")
[ -n "$clock" ] || fail "no clock id in $(cat "$tmp/body")"
expect_body '"frozen_time_iso":"2026-09-21T14:13:20Z"' "create clock"
C="Konform-Clock: $clock"

# ---- Register; the confirmation mail arrives (ACC-05). ----
json POST /api/v1/registrations "$(registration ' max.acc@Example.TEST ')" -H "$C"
expect_status 202 "registration"
expect_body '"status":"confirmation_mail_sent"' "registration"
cp "$tmp/body" "$tmp/first.body"
grep -iv '^date:' "$tmp/headers" >"$tmp/first.headers"
wait_mail "to=max.acc@example.test&subject=E-Mail-Adresse"
expect_body 'kontoservice@arbeitsagentur.de' "confirmation mail sender"
expect_body 'Bestätigung Ihrer E-Mail-Adresse' "confirmation mail subject"
expect_body 'Mon, 21 Sep 2026 14:13:20 +0000' "confirmation mail Date from the test clock"
expect_body 'Servicenummer: 0800 4 5555 01' "confirmation mail"
expect_body 'innerhalb von 24 Stunden' "confirmation mail"
link1=$(mail_link)
[ -n "$link1" ] || fail "no confirmation link in $(cat "$tmp/body")"
case $link1 in "$base/link/e-mail-bestaetigen?id="*) ok ;; *) fail "link has the wrong base: $link1" ;; esac
[ "$(grep -o '/link/e-mail-bestaetigen?id=[0-9a-f-]*' "$tmp/body" | sort -u | wc -l)" -eq 1 ] ||
  fail "more than one confirmation link"
ok

# ---- Duplicate registration (ACC-10): same answer, information mail, no new account. ----
json POST /api/v1/registrations "$(registration 'max.acc@EXAMPLE.test')" -H "$C"
expect_status 202 "duplicate registration"
cmp -s "$tmp/body" "$tmp/first.body" || fail "duplicate answer differs: $(cat "$tmp/body")"
grep -iv '^date:' "$tmp/headers" | cmp -s - "$tmp/first.headers" || fail "duplicate headers differ"
ok
wait_mail "to=max.acc@example.test&subject=Registrierung"
expect_body 'Benutzername / E-Mail-Adresse vergessen' "duplicate mail"
expect_body 'Passwort vergessen' "duplicate mail"
expect_no_body 'e-mail-bestaetigen' "duplicate mail"

# ---- Login before confirmation (ACC-09) and the enumeration-proof 401 (AUTH-04). ----
json POST /api/v1/sessions '{"username":"max.acc@example.test","password":"Abcdefgh12!x"}'
expect_status 403 "unconfirmed login"
expect_body '"code":"EMAIL_NOT_CONFIRMED"' "unconfirmed login"
expect_body 'Bitte bestätigen Sie zuerst Ihre E-Mail-Adresse.' "unconfirmed login"
json POST /api/v1/sessions '{"username":"max.acc@example.test","password":"Wrong-pass-123"}'
expect_status 401 "wrong password"
cp "$tmp/body" "$tmp/wrong.body"
json POST /api/v1/sessions '{"username":"nobody@example.test","password":"Wrong-pass-123"}'
expect_status 401 "unknown user"
cmp -s "$tmp/body" "$tmp/wrong.body" || fail "unknown user and wrong password answer differently"
ok
json POST /api/v1/sessions '{"username":"   ","password":"Wrong-pass-123"}'
expect_status 400 "blank username"
expect_body '"code":"VALIDATION_FAILED"' "blank username"
expect_body '"code":"USERNAME_REQUIRED"' "blank username"

# ---- Confirm at exactly issued_at + 24 h (ACC-06, ACC-08), then again (ACC-07). ----
json POST "/test/v1/clocks/$clock/advance" '{"seconds":86400}'
expect_status 200 "advance 24 h"
# A HEAD (mail scanners, link checkers) answers as the GET would but confirms nothing.
status=$(curl -sS -I -D "$tmp/headers" -o /dev/null -w '%{http_code}' -H "$C" "$link1") ||
  fail "curl HEAD $link1 failed"
expect_status 200 "HEAD on a valid link"
grep -qi '^content-type: text/html; charset=utf-8' "$tmp/headers" || fail "HEAD page type"
ok
status=$(curl -sS -I -D "$tmp/headers" -o /dev/null -w '%{http_code}' -H "$C" "$link1") ||
  fail "curl HEAD $link1 failed"
expect_status 200 "second HEAD on a valid link"
req GET "$link1" -H "$C"
expect_status 200 "confirm at 24 h"
expect_body 'Sie haben Ihre E-Mail-Adresse erfolgreich bestätigt.' "confirm page"
expect_body '>Zur Anmeldung</a>' "confirm page"
grep -qi '^content-type: text/html; charset=utf-8' "$tmp/headers" || fail "confirm page type"
ok
req GET "$link1" -H "$C"
expect_status 409 "second click"
expect_body 'data-code="ALREADY_CONFIRMED"' "second click"
status=$(curl -sS -I -D "$tmp/headers" -o /dev/null -w '%{http_code}' -H "$C" "$link1") ||
  fail "curl HEAD $link1 failed"
expect_status 409 "HEAD on a used link"
json POST /api/v1/email-confirmations "{\"id\":\"${link1##*id=}\"}" -H "$C"
expect_status 409 "second confirmation (JSON)"
expect_body '"code":"ALREADY_CONFIRMED"' "second confirmation"

# ---- A login now works and starts at the second-factor stage; logout ends it. ----
json POST /api/v1/sessions '{"username":"max.acc@EXAMPLE.TEST","password":"Abcdefgh12!x"}' -H "$C"
expect_status 201 "login"
expect_body '"stage":"second_factor_setup"' "login"
token=$(sed -n 's/.*"token":"\([0-9a-f]*\)".*/\1/p' "$tmp/body")
[ ${#token} -eq 64 ] || fail "token is not 256 bits of hex: $token"
ok
req DELETE "$base/api/v1/sessions/current" -H "Authorization: Bearer $token"
expect_status 204 "logout"
req DELETE "$base/api/v1/sessions/current" -H "Authorization: Bearer $token"
expect_status 401 "logout twice"

# ---- Expiry at 24 h + 1 s, resend, supersession (ACC-06). ----
json POST /api/v1/registrations "$(registration 'erika.acc@example.test')" -H "$C"
expect_status 202 "second registration"
wait_mail "to=erika.acc@example.test&subject=E-Mail-Adresse"
old_mail=$(mail_id)
link2=$(mail_link)
json POST "/test/v1/clocks/$clock/advance" '{"seconds":86401}'
expect_status 200 "advance 24 h + 1 s"
json POST /api/v1/email-confirmations "{\"id\":\"${link2##*id=}\"}" -H "$C"
expect_status 410 "expired link"
expect_body '"code":"LINK_EXPIRED"' "expired link"
json POST /api/v1/sessions '{"username":"erika.acc@example.test","password":"Abcdefgh12!x"}' -H "$C"
expect_status 403 "still unconfirmed after expiry"
json POST /api/v1/email-confirmations/resend '{"email":"erika.acc@example.test"}' -H "$C"
expect_status 202 "resend"
cp "$tmp/body" "$tmp/resend.body"
json POST /api/v1/email-confirmations/resend '{"email":"nobody.acc@example.test"}' -H "$C"
expect_status 202 "resend for an unknown address"
cmp -s "$tmp/body" "$tmp/resend.body" || fail "resend answers differ"
ok
wait_mail "to=erika.acc@example.test&subject=E-Mail-Adresse&after=$old_mail"
link3=$(mail_link)
[ -n "$link3" ] && [ "$link3" != "$link2" ] || fail "resend did not send a new link"
ok
req GET "$link2" -H "$C"
expect_status 410 "superseded link"
expect_body 'LINK_SUPERSEDED' "superseded link page"
json POST "/test/v1/clocks/$clock/advance" '{"seconds":86400}'
req GET "$link3" -H "$C"
expect_status 200 "new link valid 24 h from the resend"

# ---- Validation answers (ACC-01, 03, 04, 11). ----
json POST /api/v1/registrations '{"email":"x@example.test\r\n","password":"kurz","password_repeat":"anders"}'
expect_status 400 "invalid registration"
expect_body '"code":"VALIDATION_FAILED"' "invalid registration"
expect_body '"code":"EMAIL_CONTROL_CHARACTERS"' "control characters"
expect_body '"code":"PASSWORD_LENGTH"' "password length"
expect_body '"code":"PASSWORD_REPEAT_MISMATCH"' "repeat"
expect_body '"code":"TERMS_NOT_ACCEPTED"' "terms"
expect_body '"code":"EMAIL_CONSENT_MISSING"' "consent"
expect_body '"password_checks"' "password checks"

json POST /api/v1/registrations '{"email":"nul@example.test\u0000.evil.test","password":"Abcdefgh12!x\u0000","password_repeat":"Abcdefgh12!x\u0000","accept_terms":"true","consent_email":1}'
expect_status 400 "NUL characters and look-alike consents"
expect_body '"code":"EMAIL_CONTROL_CHARACTERS"' "NUL in the address"
expect_body '"code":"PASSWORD_FORBIDDEN_CHARACTERS"' "NUL in the password"
expect_body '"code":"TERMS_NOT_ACCEPTED"' "string consent"
expect_body '"code":"EMAIL_CONSENT_MISSING"' "number consent"

# ---- Bad requests; the server survives them all. ----
head -c 5000 /dev/zero | tr '\0' 'a' >"$tmp/big"
req POST "$base/api/v1/registrations" -H 'Content-Type: application/json' --data-binary "@$tmp/big"
expect_status 413 "oversized body"
expect_body '"code":"BODY_TOO_LARGE"' "oversized body"
json POST /api/v1/registrations '{"email": '
expect_status 400 "malformed JSON"
expect_body '"code":"MALFORMED_JSON"' "malformed JSON"
printf '{"email":"a\377@example.test"}' >"$tmp/bad-utf8"
req POST "$base/api/v1/registrations" -H 'Content-Type: application/json' --data-binary "@$tmp/bad-utf8"
expect_status 400 "invalid UTF-8"
expect_body '"code":"INVALID_UTF8"' "invalid UTF-8"
req GET "$base/link/e-mail-bestaetigen?id=not-a-uuid"
expect_status 404 "malformed link id"
json POST /api/v1/email-confirmations '{"id":"00000000-0000-4000-8000-000000000000"}'
expect_status 404 "unknown link id"
expect_body '"code":"LINK_NOT_FOUND"' "unknown link id"
req GET "$base/api/v1/health" -H 'Konform-Clock: clk_0000'
expect_status 400 "unknown clock"
expect_body '"code":"CLOCK_NOT_FOUND"' "unknown clock"
req GET "$link1" -H 'Konform-Clock: clk_0000'
expect_status 400 "unknown clock on the link page"
expect_body 'data-code="CLOCK_NOT_FOUND"' "unknown clock on the link page"
grep -qi '^content-type: text/html; charset=utf-8' "$tmp/headers" || fail "unknown clock page type"
ok
json POST "/test/v1/clocks/$clock/advance" "{\"frozen_time\":$t0}"
expect_status 400 "clock backwards"
expect_body '"code":"CLOCK_BACKWARDS"' "clock backwards"
req GET "$base/api/v1/health"
expect_status 200 "health after bad requests"

# ---- SIGTERM ends the server cleanly. ----
kill -TERM "$server_pid"
rc=0
wait "$server_pid" || rc=$?
server_pid=""
[ "$rc" -eq 0 ] || fail "konform-server exited with $rc after SIGTERM"
ok

# ---- The outbox keeps a mail it could not deliver across a restart. ----
# start_server SMTP_URL: a server on late.db; sets server_pid and base.
start_server() {
  rm -f "$tmp/server.ready"
  mkfifo "$tmp/server.ready"
  "$bin/konform-server" --port 0 --ready-fd 3 --test-mode --hash-cost test --db "$tmp/late.db" \
    --smtp-url "$1" --log-level error 3>"$tmp/server.ready" 2>>"$tmp/server.log" &
  server_pid=$!
  it_ready "$tmp/server.ready" konform-server
  base="http://127.0.0.1:$(it_ready_port http)"
}
# Port 1 on loopback refuses connections, so the first attempts fail.
start_server "smtp://127.0.0.1:1"
json POST /api/v1/registrations "$(registration 'late.acc@example.test')"
expect_status 202 "registration while SMTP is down"
kill -TERM "$server_pid"
rc=0
wait "$server_pid" || rc=$?
[ "$rc" -eq 0 ] || fail "konform-server exited with $rc after SIGTERM"
ok
start_server "smtp://127.0.0.1:$mail_smtp"
wait_mail "to=late.acc@example.test&subject=E-Mail-Adresse"
[ -n "$(mail_link)" ] || fail "the mail kept across the restart has no link"
ok
kill -TERM "$server_pid"
rc=0
wait "$server_pid" || rc=$?
server_pid=""
[ "$rc" -eq 0 ] || fail "konform-server exited with $rc after SIGTERM"
ok

# ---- Start-up refusals: cheap password hashing outside test mode, a bad mail domain. ----
# refused WHAT ARGS...: konform-server must exit 2 at once and name the problem.
refused() {
  what=$1
  shift
  rc=0
  "$bin/konform-server" --port 0 --db "$tmp/refused.db" "$@" >/dev/null 2>"$tmp/refused.err" || rc=$?
  [ "$rc" -eq 2 ] || fail "$what: expected exit 2, got $rc"
  grep -qF -- "$what" "$tmp/refused.err" || fail "$what: message lacks it: $(cat "$tmp/refused.err")"
  [ ! -e "$tmp/refused.db" ] || fail "$what: the server got as far as the database"
  ok
}
refused "--hash-cost test" --hash-cost test
refused "--argon2-ops" --argon2-ops 1
refused "--argon2-mem-kib" --argon2-mem-kib 8192
refused "--mail-domain" --mail-domain "$(printf 'x.test\r\nBcc: a@b.test')"
refused "--mail-domain" --mail-domain localhost

echo "server_acc: $checks checks passed"
