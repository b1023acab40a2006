#!/bin/sh
# mail_smtp.sh: konform-mail over loopback. Sends a UTF-8 mail with curl and
# finds it through the HTTP API by recipient and subject, long-polls for a mail
# sent while waiting and for one that never comes (408), then drives broken raw
# SMTP dialogues over bash's /dev/tcp and checks every reply code while the
# server stays up (pipelined recipients over the cap end in a stored mail, not
# a disconnect), stores a mail with a NUL in its body and reads it back; a
# second instance checks the session cap and the idle timeout. Ends with a
# clean SIGTERM shutdown.
#
# Run from the repository root: KONFORM_BIN=<folder of built programs> sh tests/integration/mail_smtp.sh
# Event-driven throughout: readiness comes from a FIFO, "the wait request has
# been sent" is read from curl's verbose trace, and SMTP replies are read line
# by line as they arrive (read -t is only a safety limit, never a delay).
set -eu

server_pid=""
server2_pid=""
bg_pids=""
it_name=mail_smtp
it_pid_vars="bg_pids server_pid server2_pid"
. tests/integration/lib/common.sh

command -v bash >/dev/null 2>&1 || { echo "mail_smtp: bash is needed for /dev/tcp" >&2; exit 1; }

# start_server FIFO ARGS...: start konform-mail and read its READY line into
# $http_port and $smtp_port; the pid lands in $started_pid.
start_server() {
  fifo=$1
  shift
  mkfifo "$fifo"
  "$bin/konform-mail" --port 0 --smtp-port 0 --ready-fd 3 --log-level warn "$@" 3>"$fifo" &
  started_pid=$!
  it_ready "$fifo" konform-mail
  http_port=$(it_ready_port http)
  smtp_port=$(it_ready_port smtp)
  [ -n "$smtp_port" ] || fail "no smtp port in: $ready_line"
}

start_server "$tmp/ready" --max-recipients 3 --max-message-bytes 65536 --hostname mx.konform.test
server_pid=$started_pid
base="http://127.0.0.1:$http_port"
smtp1_port=$smtp_port
smtp="smtp://127.0.0.1:$smtp1_port"

# send_mail FROM TO FILE: deliver a prepared message (CRLF line ends) with curl.
send_mail() {
  curl -sS "$smtp" --mail-from "$1" --mail-rcpt "$2" --upload-file "$3" ||
    fail "curl could not send $3 to $2"
}

# ---- A UTF-8 confirmation-style mail, sent with curl. ----
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
send_mail kontoservice@arbeitsagentur.de max@example.test "$tmp/confirm.eml"

req GET '/api/v1/messages?to=MAX@example.test&subject=Best%C3%A4tigung'
expect_status 200 "search by recipient and subject"
expect_body '"count":1' "search by recipient and subject"
expect_body '"subject":"Bestätigung Ihrer E-Mail-Adresse"' "decoded subject"
expect_body '"from":"kontoservice@arbeitsagentur.de"' "from address"
expect_body '"mail_from":"kontoservice@arbeitsagentur.de"' "envelope sender"
expect_body '"rcpt_to":["max@example.test"]' "envelope recipients"
expect_body '"links":["https://portal.test/link/e-mail-bestaetigen?id=0f8fad5b-d9cb-469f-a165-70867728950e"]' "links"
expect_body 'Servicenummer 0800 4 5555 01. Grüße' "decoded body"
expect_body '.Diese Zeile beginnt mit einem Punkt.' "dot-stuffing undone"
expect_body '"mime_valid":true' "mime_valid"
expect_body '"message_id":"confirm-1@arbeitsagentur.de"' "message id"
req GET '/api/v1/messages?to=nobody@example.test'
expect_body '"count":0' "search by another recipient"
req GET /api/v1/messages/1/raw
expect_status 200 "raw source"
expect_body 'Subject: =?UTF-8?Q?Best=C3=A4tigung_Ihrer_E-Mail-Adresse?=' "raw source"

# ---- Long-poll answered by a mail sent while it waits. ----
start_wait late "$base/api/v1/wait/messages?to=late@example.test&timeout_ms=60000"
printf '%s\r\n' 'From: a@sender.test' 'To: late@example.test' 'Subject: Spät' \
  'Date: Sat, 28 Mar 2026 10:05:00 +0000' '' 'Hallo' >"$tmp/late.eml"
send_mail a@sender.test late@example.test "$tmp/late.eml"
wait "$wait_pid" || fail "waiting curl failed"
[ "$(cat "$tmp/late.status")" = 200 ] || fail "wait: expected 200, got $(cat "$tmp/late.status")"
ok
grep -qF '"subject":"Spät"' "$tmp/late.body" || fail "wait: wrong mail: $(cat "$tmp/late.body")"
ok

# ---- Long-poll that times out. ----
req GET '/api/v1/wait/messages?to=never@example.test&timeout_ms=150'
expect_status 408 "wait timeout"
expect_body '"code":"WAIT_TIMEOUT"' "wait timeout"

# ---- Broken raw SMTP dialogues (bash /dev/tcp). ----
cat >"$tmp/dialogue.bash" <<'EOF'
set -u
port=$1
fail() { echo "raw dialogue: $*" >&2; exit 1; }
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

# Too many errors in a row end the session.
open
i=0; while [ $i -lt 9 ]; do send "BAD"; expect "500 5.5.2"; i=$((i + 1)); done
send "BAD"; expect "500 5.5.2"; expect "421 4.7.0"
expect_eof
exec 5>&-
EOF
bash "$tmp/dialogue.bash" "$smtp1_port" || fail "raw SMTP dialogue"
ok

# The server is still up, and nothing from the broken dialogues was kept.
req GET /api/v1/health
expect_status 200 "health after broken dialogues"
req GET '/api/v1/messages?to=smuggle@example.test'
expect_body '"count":0' "smuggled mail not stored"
req GET '/api/v1/messages?to=long@example.test'
expect_body '"count":0' "long-line mail not stored"
req GET '/api/v1/messages?to=big@example.test'
expect_body '"count":0' "oversized mail not stored"
send_mail a@sender.test after@example.test "$tmp/late.eml"
req GET '/api/v1/messages?to=after@example.test'
expect_body '"count":1' "mail after broken dialogues"
req GET '/api/v1/messages?to=many2@example.test'
expect_body '"count":1' "mail for the recipients accepted before 452"
expect_body '"rcpt_to":["many0@example.test","many1@example.test","many2@example.test"]' "recipients accepted before 452"

# ---- A NUL byte in a body: stored, listed and readable, as U+FFFD, mime_valid false. ----
printf 'From: a@sender.test\r\nTo: nul@example.test\r\nSubject: nul\r\nDate: Sat, 28 Mar 2026 10:06:00 +0000\r\n\r\nvor\000nach\r\n' >"$tmp/nul.eml"
send_mail a@sender.test nul@example.test "$tmp/nul.eml"
req GET '/api/v1/messages?to=nul@example.test'
expect_status 200 "list a mail with a NUL"
expect_body '"count":1' "list a mail with a NUL"
expect_body '"text":"vor�nach' "NUL replaced in the listed text"
expect_no_body '\u0000' "no U+0000 in the listed mail"
expect_body '"mime_valid":false' "a NUL makes the mail invalid"
nul_id=$(sed -n 's/.*"id":\([0-9][0-9]*\).*/\1/p' "$tmp/body" | head -n 1)
[ -n "$nul_id" ] || fail "no id in $(cat "$tmp/body")"
req GET "/api/v1/messages/$nul_id"
expect_status 200 "read a mail with a NUL"
expect_body '"subject":"nul"' "read a mail with a NUL"

# ---- Session cap and idle timeout, on a second instance. ----
start_server "$tmp/ready2" --max-sessions 1 --smtp-timeout 1 --hostname mx.konform.test --log-level error
server2_pid=$started_pid
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
bash "$tmp/limits.bash" "$smtp_port" || fail "session cap and idle timeout"
ok
kill -TERM "$server2_pid"
server2_status=0
wait "$server2_pid" || server2_status=$?
server2_pid=""
[ "$server2_status" = 0 ] || fail "second konform-mail exited with $server2_status on SIGTERM"
ok

# ---- SIGTERM ends an open SMTP session with 421 and exits cleanly. ----
mkfifo "$tmp/sess.out"
bash -c 'exec 5<>"/dev/tcp/127.0.0.1/$1"; while IFS= read -r -t 20 l <&5; do printf "%s\n" "$l"; done' \
  _ "$smtp1_port" >"$tmp/sess.out" &
sess_pid=$!
bg_pids="$bg_pids $sess_pid"
exec 4<"$tmp/sess.out"
IFS= read -r greeting <&4 || fail "no greeting on the open session"
case $greeting in "220 "*) ok ;; *) fail "open session: unexpected greeting $greeting" ;; esac
kill -TERM "$server_pid"
server_status=0
wait "$server_pid" || server_status=$?
server_pid=""
[ "$server_status" = 0 ] || fail "konform-mail exited with $server_status on SIGTERM"
ok
IFS= read -r bye <&4 || fail "open session got no 421 on shutdown"
case $bye in "421 4.3.2"*) ok ;; *) fail "open session on shutdown: expected 421 4.3.2, got $bye" ;; esac
exec 4<&-
wait "$sess_pid" || true

echo "mail_smtp: $checks checks passed"
