#!/bin/sh
# stack.sh: figures for the reference stack on loopback. Prints, never fails on speed.
#   - the whole scenario suite at --jobs 1, 2 and 4 (wall time, scenarios per second)
#   - registrations per second at --hash-cost test and interactive (argon2id cost)
#   - mails per second into konform-mail over SMTP (sequential curl clients)
#   - peak resident memory (VmHWM) of each server after the load
# Every request loop is bounded in count; every server is on 127.0.0.1 and is
# stopped on exit.
set -eu

bin=${KONFORM_BIN:-build/bin}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/konform-bench.XXXXXX")
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  for p in $pids; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

now_ms() { date +%s%3N; }

# start NAME ARGS...: start a program with --ready-fd 3 and wait for its READY line.
start() {
  name=$1
  shift
  mkfifo "$tmp/$name.ready"
  "$@" --ready-fd 3 3>"$tmp/$name.ready" 2>"$tmp/$name.log" &
  pids="$pids $!"
  eval "${name}_pid=$!"
  read -r line <"$tmp/$name.ready"
  eval "${name}_ready='$line'"
}
port_of() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# Two konform-servers deliver into this mock, and each one's outbox keeps a
# session open per sender (four by default): eight, konform-mail's default cap
# per address, which would refuse the curl clients below while the senders are
# busy. The cap is raised as for smtp-source in peers.sh.
start mail "$bin/konform-mail" --port 0 --smtp-port 0 --db "$tmp/mail.db" --max-sessions-per-ip 16
start post "$bin/konform-post" --port 0 --db "$tmp/post.db"
mail_http=$(port_of "$mail_ready" http)
mail_smtp=$(port_of "$mail_ready" smtp)
post_http=$(port_of "$post_ready" http)
start server "$bin/konform-server" --port 0 --test-mode --hash-cost test --db "$tmp/server.db" \
  --smtp-url "smtp://127.0.0.1:$mail_smtp" --post-url "http://127.0.0.1:$post_http"
server_http=$(port_of "$server_ready" http)

cat >"$tmp/target.profile" <<PROFILE
base_url = http://127.0.0.1:$server_http
mail_api = http://127.0.0.1:$mail_http
post_api = http://127.0.0.1:$post_http
clock = konform
PROFILE

echo "scenario suite against one running stack:"
for jobs in 1 2 4; do
  start_ms=$(now_ms)
  "$bin/konform" run --target "$tmp/target.profile" --jobs "$jobs" --no-color \
    --catalogue scenarios/catalogue.json scenarios >"$tmp/run.$jobs.log" 2>&1 || true
  end_ms=$(now_ms)
  total=$(tail -n 3 "$tmp/run.$jobs.log" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped$/\1 \2 \3/p')
  set -- $total
  n=$(( ${1:-0} + ${2:-0} + ${3:-0} ))
  ms=$((end_ms - start_ms))
  [ "$ms" -gt 0 ] || ms=1
  echo "  --jobs $jobs: $n scenarios in $ms ms ($(( n * 1000 / ms )) scenarios/s; ${1:-0} passed, ${2:-0} failed, ${3:-0} skipped)"
done

register_rate() {
  port=$1 count=$2 label=$3
  start_ms=$(now_ms)
  i=0
  while [ "$i" -lt "$count" ]; do
    curl -s -o /dev/null -H 'Content-Type: application/json' \
      -d "{\"email\":\"bench-$label-$i@konform.test\",\"password\":\"Bench-Passw0rd!\",\"password_repeat\":\"Bench-Passw0rd!\",\"accept_terms\":true,\"consent_email\":true}" \
      "http://127.0.0.1:$port/api/v1/registrations"
    i=$((i + 1))
  done
  ms=$(( $(now_ms) - start_ms ))
  [ "$ms" -gt 0 ] || ms=1
  echo "  --hash-cost $label: $count registrations in $ms ms ($(( count * 1000 / ms ))/s, $(( ms / count )) ms each)"
}
echo "registration (argon2id + sqlite transaction + outbox row), sequential:"
register_rate "$server_http" 100 test
start slow "$bin/konform-server" --port 0 --hash-cost interactive --db "$tmp/slow.db" \
  --smtp-url "smtp://127.0.0.1:$mail_smtp"
register_rate "$(port_of "$slow_ready" http)" 10 interactive

echo "SMTP ingest into konform-mail (one curl client per mail, sequential):"
printf 'From: bench@konform.test\r\nTo: sink@konform.test\r\nSubject: =?UTF-8?B?QmVuY2g=?=\r\nDate: Sat, 28 Mar 2026 10:00:00 +0000\r\n\r\nHallo\r\n' >"$tmp/mail.eml"
count=200
start_ms=$(now_ms)
i=0
refused=0
while [ "$i" -lt "$count" ]; do
  # A refused mail is counted and shown, not the end of the bench.
  curl -s "smtp://127.0.0.1:$mail_smtp" --mail-from bench@konform.test \
    --mail-rcpt "sink$i@konform.test" --upload-file "$tmp/mail.eml" || refused=$((refused + 1))
  i=$((i + 1))
done
ms=$(( $(now_ms) - start_ms ))
[ "$ms" -gt 0 ] || ms=1
echo "  $count mails in $ms ms ($(( count * 1000 / ms )) mails/s, curl start-up included; $refused refused)"

echo "peak resident memory after the load (VmHWM):"
for name in server mail post slow; do
  eval "pid=\$${name}_pid"
  hwm=$(sed -n 's/^VmHWM:[[:space:]]*//p' "/proc/$pid/status" 2>/dev/null || echo "?")
  echo "  $name: $hwm"
done
