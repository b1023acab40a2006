#!/bin/sh
# mail_smtp.sh: konform-mail over loopback. Sends a UTF-8 mail with curl and
# finds it through the HTTP API by recipient and subject, long-polls for a mail
# sent while waiting and for one that never comes (408), then drives broken raw
# SMTP dialogues over bash's /dev/tcp and checks every reply code while the
# server stays up (pipelined recipients over the cap end in a stored mail, not
# a disconnect), stores a mail with a NUL in its body and reads it back; a
# second instance checks the session cap and the idle timeout. Ends with a
# clean SIGTERM shutdown. Prints TAP, one named case per behaviour
# (tests/integration/lib/common.sh).
#
# Run from the repository root: KONFORM_BIN=<folder of built programs> sh tests/integration/mail_smtp.sh
# Event-driven throughout: readiness comes from a FIFO, "the wait request has
# been sent" is read from curl's verbose trace, and SMTP replies are read line
# by line as they arrive (read -t is only a safety limit, never a delay).
set -u

server_pid=""
server2_pid=""
bg_pids=""
it_name=mail_smtp
it_pid_vars="bg_pids server_pid server2_pid"
. tests/integration/lib/common.sh
it_fail_log="$tmp/server.log"
# Set by the cases; empty until then, so later cases fail and do not abort.
base=""
smtp=""
smtp1_port=""
smtp_port=""
nul_id=""

if ! command -v bash >/dev/null 2>&1; then
  echo "Bail out! mail_smtp: bash is needed for /dev/tcp"
  exit 1
fi

# start_server PIDVAR LOG ARGS...: start konform-mail (pid in $PIDVAR) and
# read its ports into $http_port and $smtp_port.
start_server() {
  pidvar=$1
  log=$2
  shift 2
  it_start "$pidvar" "$log" "$bin/konform-mail" --port 0 --smtp-port 0 --log-level warn "$@" || return 1
  http_port=$(it_ready_port http)
  smtp_port=$(it_ready_port smtp)
  it_that "no smtp port in: $ready_line" [ -n "$smtp_port" ]
}

# send_mail FROM TO FILE: deliver a prepared message (CRLF line ends) with curl.
send_mail() {
  it_that "curl could not send $3 to $2" \
    curl -sS "$smtp" --mail-from "$1" --mail-rcpt "$2" --upload-file "$3"
}
# count_for RCPT N WHAT: the search by recipient RCPT finds N mails.
count_for() {
  req GET "/api/v1/messages?to=$1" || return 1
  expect_json ".count == $2" "$3"
}

# dialogue NAME: run the raw SMTP dialogue $tmp/NAME.bash (the helpers below
# come first) against the first instance; one check, its reason from stderr.
dialogue() {
  cat "$tmp/smtp-lib.bash" "$tmp/$1.bash" >"$tmp/$1.run.bash"
  if bash "$tmp/$1.run.bash" "$smtp1_port" 2>"$tmp/$1.err"; then it_pass; else
    it_fail "raw SMTP dialogue $1: $(cat "$tmp/$1.err")"
  fi
}
cat >"$tmp/smtp-lib.bash" <<'EOF'
set -u
port=$1
fail() { echo "$*" >&2; exit 1; }
open() { exec 5<>"/dev/tcp/127.0.0.1/$port" || fail "cannot connect"; expect "220 mx.konform.test"; }
send() { printf '%s\r\n' "$1" >&5; }
# expect PREFIX: read one reply (skipping "NNN-" continuation lines) and check its final line.
expect() {
  local line rc
  while :; do
    IFS= read -r -t 20 line <&5
    rc=$?
    [ "$rc" -gt 128 ] && fail "no reply while expecting '$1'"
    [ "$rc" -ne 0 ] && [ -z "$line" ] && fail "connection closed while expecting '$1'"
    line=${line%$'\r'}
    case $line in [0-9][0-9][0-9]-*) continue ;; esac
    case $line in "$1"*) return 0 ;; *) fail "expected '$1', got '$line'" ;; esac
  done
}
expect_eof() {
  local line rc
  IFS= read -r -t 20 line <&5
  rc=$?
  [ "$rc" -gt 128 ] && fail "connection still open"
  [ "$rc" -ne 0 ] && [ -z "$line" ] || fail "expected the connection to close, got '$line'"
}
EOF

case_start() {
  start_server server_pid "$tmp/server.log" --max-recipients 3 --max-message-bytes 65536 \
    --hostname mx.konform.test || return 1
  base="http://127.0.0.1:$http_port"
  smtp1_port=$smtp_port
  smtp="smtp://127.0.0.1:$smtp1_port"
}

# ---- A UTF-8 confirmation-style mail, sent with curl. ----
case_utf8_mail() {
  printf '%s\r\n' \
    'From: Kontoservice <kontoservice@arbeitsagentur.de>' \
    'To: Max Mustermann <max@example.test>' \
    'Subject: =?UTF-8?Q?Best=C3=A4tigung_Ihrer_E-Mail-Adresse?=' \
    'Date: Sat, 28 Mar 2026 10:00:00 +0000' \
    'Message-ID: <confirm-1@arbeitsagentur.de>' \
    'MIME-Version: 1.0' \
    'Content-Type: text/plain; charset=UTF-8' \
    'Content-Transfer-Encoding: quoted-printable' \
    '' \
    'Guten Tag,' \
    '' \
    'best=C3=A4tigen Sie Ihre E-Mail-Adresse innerhalb von 24 Stunden:' \
    'https://portal.test/link/e-mail-bestaetigen?id=3D0f8fad5b-d9cb-469f-a165-70867=' \
    '728950e' \
    '.Diese Zeile beginnt mit einem Punkt.' \
    'Servicenummer 0800 4 5555 01. Gr=C3=BC=C3=9Fe' >"$tmp/confirm.eml"
  send_mail kontoservice@arbeitsagentur.de max@example.test "$tmp/confirm.eml" || return 1
  req GET '/api/v1/messages?to=MAX@example.test&subject=Best%C3%A4tigung' || return 1
  expect_status 200 "search by recipient and subject"
  expect_json '.count == 1' "search by recipient and subject"
  m='.messages[0]'
  expect_json "$m.subject == \"Bestätigung Ihrer E-Mail-Adresse\"" "decoded subject"
  expect_json "$m.from == \"kontoservice@arbeitsagentur.de\"" "from address"
  expect_json "$m.envelope.mail_from == \"kontoservice@arbeitsagentur.de\"" "envelope sender"
  expect_json "$m.envelope.rcpt_to == [\"max@example.test\"]" "envelope recipients"
  expect_json "$m.links == [\"https://portal.test/link/e-mail-bestaetigen?id=0f8fad5b-d9cb-469f-a165-70867728950e\"]" "links"
  expect_json "$m.text | contains(\"Servicenummer 0800 4 5555 01. Grüße\")" "decoded body"
  expect_json "$m.text | test(\"(^|\\n)\\\\.Diese Zeile beginnt mit einem Punkt\\\\.\")" "dot-stuffing undone"
  expect_json "$m.mime_valid == true" "mime_valid"
  expect_json "$m.message_id == \"confirm-1@arbeitsagentur.de\"" "message id"
}
case_other_recipient() {
  count_for nobody@example.test 0 "search by another recipient"
}
case_raw_source() {
  req GET /api/v1/messages/1/raw || return 1
  expect_status 200 "raw source"
  expect_body 'Subject: =?UTF-8?Q?Best=C3=A4tigung_Ihrer_E-Mail-Adresse?=' "raw source"
}

# ---- At-least-once delivery: the same mail sent twice. ----
case_redelivery() {
  printf '%s\r\n' 'From: kontoservice@arbeitsagentur.de' 'To: twice@example.test' \
    'Subject: Zweimal' 'Date: Sat, 28 Mar 2026 10:06:00 +0000' \
    'Message-ID: <twice-1@arbeitsagentur.de>' '' 'Hallo' >"$tmp/twice.eml"
  send_mail kontoservice@arbeitsagentur.de twice@example.test "$tmp/twice.eml" || return 1
  send_mail kontoservice@arbeitsagentur.de twice@example.test "$tmp/twice.eml" || return 1
  count_for twice@example.test 1 "a redelivery is not listed"
  first=$(json_get '.messages[0].id')
  expect_json '.messages[0].duplicate_of == null' "the first delivery"
  req GET '/api/v1/messages?to=twice@example.test&include_duplicates=true' || return 1
  expect_json '.count == 2' "include_duplicates lists both"
  expect_json ".messages[1].duplicate_of == $first" "the redelivery names the first"
  req GET "/api/v1/wait/messages?to=twice@example.test&after=$first&timeout_ms=0" || return 1
  expect_status 408 "a wait after the first does not take the redelivery for a new mail"
}

# ---- A broken query parameter is never an absent one. ----
case_broken_params() {
  for q in 'to=nobody%00x' 'to=' 'to' 'limit=1%00' 'limit=1x' 'to=a%40b.test&to=c%40d.test' \
    'subject=%FF' 'include_duplicates=yes'; do
    req GET "/api/v1/messages?$q" || return 1
    expect_status 400 "?$q"
    expect_error INVALID_PARAMETER "?$q"
    expect_field "$(printf '%s' "$q" | sed 's/=.*//')" INVALID_PARAMETER "?$q names its parameter"
  done
  req GET '/api/v1/wait/messages?to=nobody%00x&timeout_ms=0' || return 1
  expect_status 400 "a wait with ?to=nobody%00x"
}

# ---- Long-polls. ----
case_wait_answered() {
  start_wait late "$base/api/v1/wait/messages?to=late@example.test&timeout_ms=60000" || return 1
  printf '%s\r\n' 'From: a@sender.test' 'To: late@example.test' 'Subject: Spät' \
    'Date: Sat, 28 Mar 2026 10:05:00 +0000' '' 'Hallo' >"$tmp/late.eml"
  send_mail a@sender.test late@example.test "$tmp/late.eml"
  it_that "waiting curl failed" wait "$wait_pid"
  it_that "wait: expected 200, got $(cat "$tmp/late.status")" [ "$(cat "$tmp/late.status")" = 200 ]
  cp "$tmp/late.body" "$tmp/body"
  expect_json '.subject == "Spät"' "wait: wrong mail"
}
case_wait_timeout() {
  req GET '/api/v1/wait/messages?to=never@example.test&timeout_ms=150' || return 1
  expect_status 408 "wait timeout"
  expect_error WAIT_TIMEOUT "wait timeout"
}

# ---- Broken raw SMTP dialogues (bash /dev/tcp). ----
cat >"$tmp/broken.bash" <<'EOF'
# Bad sequences, unknown commands, syntax errors, limits.
open
send "MAIL FROM:<a@b.test>";            expect "503 5.5.1"
send "EHLO raw.test";                   expect "250 ENHANCEDSTATUSCODES"
send "RCPT TO:<x@example.test>";        expect "503 5.5.1"
send "DATA";                            expect "503 5.5.1"
send "FROBNICATE";                      expect "500 5.5.2"
send "MAIL FROM:a@b.test";              expect "501 5.5.4"
send "MAIL FROM:<a@b.test> SIZE=70000"; expect "552 5.3.4"
send "VRFY max";                        expect "252 2.0.0"
send "NOOP $(printf '%0600d' 0)";       expect "500 5.5.2 Line too long"
# Pipelined: four recipients against a cap of three, one bad address.
printf 'MAIL FROM:<a@b.test>\r\nRCPT TO:<1@example.test>\r\nRCPT TO:<bad address>\r\nRCPT TO:<2@example.test>\r\nRCPT TO:<3@example.test>\r\nRCPT TO:<4@example.test>\r\n' >&5
expect "250 2.1.0"; expect "250 2.1.5"; expect "553 5.1.3"; expect "250 2.1.5"; expect "250 2.1.5"; expect "452 4.5.3"
send "RSET";                            expect "250 2.0.0"
# SMTP smuggling: "<LF>.<LF>" must not end the data; the forged mail must not be stored.
send "MAIL FROM:<a@b.test>";            expect "250 2.1.0"
send "RCPT TO:<smuggle@example.test>";  expect "250 2.1.5"
send "DATA";                            expect "354"
printf 'Subject: one\r\n\r\nbody\n.\nMAIL FROM:<evil@b.test>\r\nRCPT TO:<smuggle@example.test>\r\nDATA\r\nSubject: forged\r\n\r\nforged\r\n.\r\n' >&5
expect "554 5.6.0 Bare LF"
# A text line over 1000 octets.
send "MAIL FROM:<a@b.test>";            expect "250 2.1.0"
send "RCPT TO:<long@example.test>";     expect "250 2.1.5"
send "DATA";                            expect "354"
printf 'Subject: long\r\n\r\n%01100d\r\n.\r\n' 0 >&5
expect "554 5.6.0 Line too long"
# The message size limit, found while the data arrives.
send "MAIL FROM:<a@b.test>";            expect "250 2.1.0"
send "RCPT TO:<big@example.test>";      expect "250 2.1.5"
send "DATA";                            expect "354"
i=0; while [ $i -lt 80 ]; do printf '%0998d\r\n' $i >&5; i=$((i + 1)); done
printf '.\r\n' >&5
expect "552 5.3.4"
# Fifteen pipelined recipients against a cap of three: the twelve 452 replies
# do not end the session, and the mail is kept for the three accepted ones.
cmds='MAIL FROM:<a@b.test>\r\n'
i=0; while [ $i -lt 15 ]; do cmds="${cmds}RCPT TO:<many$i@example.test>\r\n"; i=$((i + 1)); done
printf "${cmds}DATA\r\nSubject: many\r\n\r\nbody\r\n.\r\n" >&5
expect "250 2.1.0"
i=0; while [ $i -lt 3 ]; do expect "250 2.1.5"; i=$((i + 1)); done
i=0; while [ $i -lt 12 ]; do expect "452 4.5.3"; i=$((i + 1)); done
expect "354"; expect "250 2.0.0"
send "QUIT";                            expect "221 2.0.0"
expect_eof
exec 5>&-
EOF
cat >"$tmp/errors.bash" <<'EOF'
# Too many errors in a row end the session.
open
i=0; while [ $i -lt 9 ]; do send "BAD"; expect "500 5.5.2"; i=$((i + 1)); done
send "BAD"; expect "500 5.5.2"; expect "421 4.7.0"
expect_eof
exec 5>&-
EOF
case_broken_dialogue() {
  dialogue broken
}
case_error_limit() {
  dialogue errors
}

# ---- The server is still up, and nothing from the broken dialogues was kept. ----
case_health_after() {
  req GET /api/v1/health || return 1
  expect_status 200 "health after broken dialogues"
}
case_smuggled() {
  count_for smuggle@example.test 0 "smuggled mail not stored"
}
case_long_line() {
  count_for long@example.test 0 "long-line mail not stored"
}
case_oversized() {
  count_for big@example.test 0 "oversized mail not stored"
}
case_mail_after() {
  send_mail a@sender.test after@example.test "$tmp/late.eml" || return 1
  count_for after@example.test 1 "mail after broken dialogues"
}
case_many_recipients() {
  count_for many2@example.test 1 "mail for the recipients accepted before 452" || return 1
  expect_json '.messages[0].envelope.rcpt_to == ["many0@example.test","many1@example.test","many2@example.test"]' \
    "recipients accepted before 452"
}

# ---- A NUL byte in a body: stored, listed and readable, as U+FFFD, mime_valid false. ----
case_nul_listed() {
  printf 'From: a@sender.test\r\nTo: nul@example.test\r\nSubject: nul\r\nDate: Sat, 28 Mar 2026 10:06:00 +0000\r\n\r\nvor\000nach\r\n' >"$tmp/nul.eml"
  send_mail a@sender.test nul@example.test "$tmp/nul.eml" || return 1
  req GET '/api/v1/messages?to=nul@example.test' || return 1
  expect_status 200 "list a mail with a NUL"
  expect_json '.count == 1' "list a mail with a NUL"
  expect_json '.messages[0].text | startswith("vor\ufffdnach")' "NUL replaced in the listed text"
  expect_json 'any(.. | strings | explode[]; . == 0) | not' "no U+0000 in the listed mail"
  expect_json '.messages[0].mime_valid == false' "a NUL makes the mail invalid"
  nul_id=$(json_get '.messages[0].id // empty')
  it_that "no id in $(it_body)" [ -n "$nul_id" ]
}
case_nul_read() {
  req GET "/api/v1/messages/${nul_id:-none}" || return 1
  expect_status 200 "read a mail with a NUL"
  expect_json '.subject == "nul"' "read a mail with a NUL"
}

# ---- Session cap and idle timeout, on a second instance. ----
cat >"$tmp/limits.bash" <<'EOF'
set -u
port=$1
fail() { echo "limits dialogue: $*" >&2; exit 1; }
first_line() { # first_line FD PREFIX
  local line rc
  IFS= read -r -t 20 line <&"$1"
  rc=$?
  [ "$rc" -ne 0 ] && fail "no line on fd $1 while expecting '$2'"
  line=${line%$'\r'}
  case $line in "$2"*) ;; *) fail "expected '$2', got '$line'" ;; esac
}
exec 5<>"/dev/tcp/127.0.0.1/$port" || fail "cannot connect"
first_line 5 "220 "
# The second concurrent session is over the cap of one.
exec 6<>"/dev/tcp/127.0.0.1/$port" || fail "cannot connect"
first_line 6 "421 4.3.2"
exec 6>&-
# Say nothing: the first session times out after one second.
first_line 5 "421 4.4.2"
exec 5>&-
EOF
case_limits() {
  start_server server2_pid "$tmp/server2.log" --max-sessions 1 --smtp-timeout 1 \
    --hostname mx.konform.test --log-level error || return 1
  if bash "$tmp/limits.bash" "$smtp_port" 2>"$tmp/limits.err"; then it_pass; else
    it_fail "session cap and idle timeout: $(cat "$tmp/limits.err")"
  fi
  it_sigterm server2_pid "the second konform-mail"
}

# ---- SIGTERM ends an open SMTP session with 421 and exits cleanly. ----
case_sigterm() {
  mkfifo "$tmp/sess.out"
  bash -c 'exec 5<>"/dev/tcp/127.0.0.1/$1"; while IFS= read -r -t 20 l <&5; do printf "%s\n" "$l"; done' \
    _ "$smtp1_port" >"$tmp/sess.out" &
  sess_pid=$!
  bg_pids="$bg_pids $sess_pid"
  exec 4<"$tmp/sess.out"
  greeting=""
  IFS= read -r greeting <&4
  case $greeting in
    "220 "*) it_pass ;;
    *) it_fail "open session: expected a 220 greeting, got '$greeting'" ;;
  esac
  it_sigterm server_pid konform-mail
  bye=""
  IFS= read -r bye <&4
  case $bye in
    "421 4.3.2"*) it_pass ;;
    *) it_fail "open session on shutdown: expected 421 4.3.2, got '$bye'" ;;
  esac
  exec 4<&-
  wait "$sess_pid"
  return 0
}

it_case "konform-mail starts on loopback and reports READY" case_start
it_case "a UTF-8 mail sent with curl is found by recipient and subject, decoded" case_utf8_mail
it_case "a search by another recipient finds nothing" case_other_recipient
it_case "the raw source is kept as sent" case_raw_source
it_case "the same mail sent twice is listed once, the second with duplicate_of" case_redelivery
it_case "a broken query parameter is 400 INVALID_PARAMETER, never no filter" case_broken_params
it_case "a wait is answered by a mail sent while it waits" case_wait_answered
it_case "a wait that times out is WAIT_TIMEOUT" case_wait_timeout
it_case "broken raw SMTP dialogues get the right reply codes" case_broken_dialogue
it_case "too many errors in a row end the session with 421" case_error_limit
it_case "the server is still up after the broken dialogues" case_health_after
it_case "a smuggled mail is not stored" case_smuggled
it_case "a mail with a line over 1000 octets is not stored" case_long_line
it_case "an oversized mail is not stored" case_oversized
it_case "a mail after the broken dialogues is stored" case_mail_after
it_case "a mail is kept for the recipients accepted before 452" case_many_recipients
it_case "a mail with a NUL is listed with U+FFFD and mime_valid false" case_nul_listed
it_case "a mail with a NUL can be read by id" case_nul_read
it_case "session cap and idle timeout on a second instance; it exits cleanly" case_limits
it_case "SIGTERM ends an open SMTP session with 421 and exits cleanly" case_sigterm
it_done
