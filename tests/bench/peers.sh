#!/bin/sh
# peers.sh: konform's figures next to the tools a user would pick instead, or
# next to the floor, as medians of interleaved repetitions (every contender
# once per round, so a slow moment of the shared machine hits them alike),
# with the ratio konform / peer. Prints, never fails on speed. A peer that is
# not installed is skipped with one line saying so.
#   BENCH_QUICK=1         fewer messages, copies and rounds (a minute or two)
#   KONFORM_BEFORE_BIN=D  also measure the mail mock's waits and ingest and
#                         konform-server's GET with the programs in D (another
#                         build), so a change can be shown before and after
#   KBENCH=PATH           the load generator (scripts/bench.sh builds it)
# Everything listens on 127.0.0.1; every server is stopped on exit.
set -eu

bin=${KONFORM_BIN:-build/bin}
before=${KONFORM_BEFORE_BIN:-}
kbench=${KBENCH:-build/bench/kbench}
nm=$(pwd)/build/bench/node_modules/.bin
tmp=$(mktemp -d "${TMPDIR:-/tmp}/konform-peers.XXXXXX")
chmod 755 "$tmp" # nginx's workers (user nobody) read the static file in here.
# The mail stores go where konform run's embedded stack keeps its own
# (harness/src/kh_stack.c, kh_stack_tmp_base): /dev/shm when it can be
# written, else beside the rest. konform-mail on disk is measured as well.
mem=$tmp
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  mem=$(mktemp -d /dev/shm/konform-peers.XXXXXX)
fi
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  for p in $pids; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp" "$mem"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if [ "${BENCH_QUICK:-0}" = 1 ]; then
  rounds=1 msgs=2000 maildev_new=200 copies=5 waits=50 steps=100 wrk_s=1 regs=40
else
  rounds=3 msgs=10000 maildev_new=1000 copies=20 waits=200 steps=200 wrk_s=3 regs=250
fi

now_ms() { date +%s%3N; }
# median: the middle of the numbers on stdin ("?" for none).
median() { sort -n | awk '{v[NR] = $1} END {if (NR == 0) print "?"; else print v[int((NR + 1) / 2)]}'; }
# ratio A B: A / B with two decimals, two significant digits below 0.1 ("?"
# when either is unknown or B is 0).
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a == "?" || b == "?" || b + 0 == 0) print "?"
    else if (a / b < 0.1) printf "%.2g", a / b
    else printf "%.2f", a / b
  }'
}
# row LABEL VALUE PEER_LABEL PEER_VALUE: one figure next to its peer and the ratio.
row() { printf '  %-38s %10s | %-30s %10s | ratio %s\n' "$1" "$2" "$3" "$4" "$(ratio "$2" "$4")"; }
skip() { echo "  (skipped: $*)"; }
# rec NAME VALUE: one sample of NAME; med NAME: their median.
rec() { echo "$2" >>"$tmp/s.$1"; }
med() { [ -f "$tmp/s.$1" ] && median <"$tmp/s.$1" || echo "?"; }

# start NAME ARGS...: a konform program with --ready-fd 3; waits for its READY line.
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
# free_port: a port nothing listens on now (for peers that cannot report port 0).
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# wait_port PORT: until something accepts on it (bounded: 20 s).
wait_port() {
  python3 -c 'import socket, sys, time
for _ in range(400):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()
        break
    except OSError:
        time.sleep(0.05)' "$1"
}
have() { command -v "$1" >/dev/null 2>&1; }

# ---- konform-mail ingest and waits ----------------------------------------
mail_count() { curl -s "http://127.0.0.1:$1/api/v1/health" | jq -r .count; }
# mail_drain HTTP WANT: until konform-mail holds WANT items; each round
# long-polls its wait for the next mail after the last id (60 s bound per mail).
mail_drain() {
  while :; do
    health=$(curl -s "http://127.0.0.1:$1/api/v1/health")
    [ "$(printf '%s' "$health" | jq -r .count)" -ge "$2" ] && return 0
    last=$(printf '%s' "$health" | jq -r .last_id)
    curl -sf -o /dev/null "http://127.0.0.1:$1/api/v1/wait/messages?after=$last&timeout_ms=60000" ||
      return 1
  done
}
# smtp_load PORT COUNT DFLAG: smtp-source's 10 sessions of COUNT 2 KB mails (DFLAG -d: reused).
smtp_load() {
  smtp-source -s 10 -m "$2" -l 2048 $3 -f bench@konform.test -t sink@konform.test \
    "127.0.0.1:$1" 2>>"$tmp/smtp-source.log" || true
}
# ingest LABEL HTTP SMTP COUNT DFLAG: smtp-source's 10 sessions, counted through the API.
ingest() {
  curl -s -o /dev/null -X DELETE "http://127.0.0.1:$2/api/v1/messages"
  base=$(mail_count "$2")
  t0=$(now_ms)
  smtp_load "$3" "$4" "$5"
  mail_drain "$2" $((base + $4)) || true
  ms=$(($(now_ms) - t0))
  rec "$1" $(($4 * 1000 / (ms > 0 ? ms : 1)))
}
maildev_count() { curl -s "http://127.0.0.1:$1/api/email/summary?limit=1" | jq -r '.total // 0'; }
ingest_maildev() {
  curl -s -o /dev/null -X DELETE "http://127.0.0.1:$2/api/email/all"
  t0=$(now_ms)
  smtp_load "$3" "$4" "$5"
  # MailDev has no long-poll, so its count is polled; the 50 ms step can add
  # up to 50 ms to its figure (said with the figure).
  i=0
  while [ "$(maildev_count "$2")" -lt "$4" ] && [ "$i" -lt 3000 ]; do
    sleep 0.05
    i=$((i + 1))
  done
  ms=$(($(now_ms) - t0))
  rec "$1" $(($4 * 1000 / (ms > 0 ? ms : 1)))
}

# sink_ingest LABEL PORT DFLAG: the same load into Postfix's smtp-sink, which
# answers every command and keeps nothing: what smtp-source and loopback
# allow on this machine (no API to count through: smtp-source ends at the
# last 250).
sink_ingest() {
  t0=$(now_ms)
  smtp_load "$2" "$msgs" "$3"
  ms=$(($(now_ms) - t0))
  rec "$1" $((msgs * 1000 / (ms > 0 ? ms : 1)))
}

echo "konform-mail: SMTP ingest, $msgs x 2 KB over 10 sessions (Postfix smtp-source), counted through the API,"
echo "  stores in $mem (where konform run's embedded stack keeps them):"
# Ten sessions from one address: the per-address cap (8 by default) is raised for the load.
start mail "$bin/konform-mail" --port 0 --smtp-port 0 --db "$mem/mail.db" --max-sessions-per-ip 16
mail_http=$(port_of "$mail_ready" http)
mail_smtp=$(port_of "$mail_ready" smtp)
disk_ok=0
if [ "$mem" != "$tmp" ]; then
  start dmail "$bin/konform-mail" --port 0 --smtp-port 0 --db "$tmp/dmail.db" --max-sessions-per-ip 16
  dmail_http=$(port_of "$dmail_ready" http)
  dmail_smtp=$(port_of "$dmail_ready" smtp)
  disk_ok=1
fi
sink_ok=0
if have smtp-sink; then
  sink_port=$(free_port)
  # As root smtp-sink drops to another user after it has bound its socket.
  if [ "$(id -u)" = 0 ]; then sink_user="-u nobody"; else sink_user=""; fi
  smtp-sink $sink_user "127.0.0.1:$sink_port" 256 >"$tmp/smtp-sink.log" 2>&1 &
  pids="$pids $!"
  sink_pid=$!
  wait_port "$sink_port"
  sink_ok=1
fi
if [ -n "$before" ]; then
  start bmail "$before/konform-mail" --port 0 --smtp-port 0 --db "$mem/bmail.db" --max-sessions-per-ip 16
  bmail_http=$(port_of "$bmail_ready" http)
  bmail_smtp=$(port_of "$bmail_ready" smtp)
fi
maildev_ok=0
if [ -x "$nm/maildev" ]; then
  md_smtp=$(free_port)
  md_web=$(free_port)
  "$nm/maildev" --ip 127.0.0.1 --smtp "$md_smtp" --web "$md_web" --web-ip 127.0.0.1 --mail-directory "$mem/maildev" \
    >"$tmp/maildev.log" 2>&1 &
  pids="$pids $!"
  maildev_pid=$!
  wait_port "$md_web"
  wait_port "$md_smtp"
  maildev_ok=1
fi
if have smtp-source; then
  r=0
  while [ "$r" -lt "$rounds" ]; do
    ingest new "$mail_http" "$mail_smtp" "$msgs" ""
    ingest reuse "$mail_http" "$mail_smtp" "$msgs" -d
    if [ "$disk_ok" = 1 ]; then
      ingest dnew "$dmail_http" "$dmail_smtp" "$msgs" ""
      ingest dreuse "$dmail_http" "$dmail_smtp" "$msgs" -d
    fi
    if [ "$sink_ok" = 1 ]; then
      sink_ingest snew "$sink_port" ""
      sink_ingest sreuse "$sink_port" -d
    fi
    if [ -n "$before" ]; then
      ingest bnew "$bmail_http" "$bmail_smtp" "$msgs" ""
      ingest breuse "$bmail_http" "$bmail_smtp" "$msgs" -d
    fi
    if [ "$maildev_ok" = 1 ]; then
      ingest_maildev mdnew "$md_web" "$md_smtp" "$maildev_new" ""
      ingest_maildev mdreuse "$md_web" "$md_smtp" "$msgs" -d
    fi
    r=$((r + 1))
  done
  row "new connection per message, msg/s" "$(med new)" "MailDev ($maildev_new msgs)" "$(med mdnew)"
  row "connection reused (-d), msg/s" "$(med reuse)" "MailDev" "$(med mdreuse)"
  row "new connection (goal >= 5000)" "$(med new)" "goal" 5000
  row "connection reused (goal >= 10000)" "$(med reuse)" "goal" 10000
  if [ "$sink_ok" = 1 ]; then
    row "new connection, msg/s" "$(med new)" "smtp-sink (keeps nothing)" "$(med snew)"
    row "connection reused, msg/s" "$(med reuse)" "smtp-sink (keeps nothing)" "$(med sreuse)"
  else
    skip "smtp-sink is not installed (Debian postfix: scripts/install-deps.sh --bench)"
  fi
  if [ "$disk_ok" = 1 ]; then
    echo "  the same with the store on disk, in $tmp:"
    row "store on disk: new, msg/s" "$(med dnew)" "store in /dev/shm" "$(med new)"
    row "store on disk: reused, msg/s" "$(med dreuse)" "store in /dev/shm" "$(med reuse)"
  fi
  [ "$maildev_ok" = 1 ] || skip "MailDev is not installed (npm install maildev into build/bench)"
  echo "  note: MailDev's SMTP library (smtp-server) delays every greeting by 100 ms, so with a new"
  echo "  connection per message its figure is about 10 sessions / 100 ms, not its storage speed."
  [ -z "$before" ] || row "before: new connection, msg/s" "$(med bnew)" "after" "$(med new)"
  [ -z "$before" ] || row "before: connection reused, msg/s" "$(med breuse)" "after" "$(med reuse)"
else
  skip "smtp-source is not installed (Debian postfix: scripts/install-deps.sh --bench)"
fi

echo "konform-mail: wait latency, SMTP 250 to the long-poll's answer ($waits rounds, $(mail_count "$mail_http") mails stored,"
echo "  8 more clients parked in waits for mails that never come, as the other jobs of a --jobs 8 run):"
r=0
while [ "$r" -lt "$rounds" ]; do
  "$kbench" wait "$mail_http" "$mail_smtp" "$waits" 8 >"$tmp/w" && rec wait "$(sed -n 's/^median_us=\([0-9.]*\).*/\1/p' "$tmp/w")" &&
    rec waitc "$(sed -n 's/.*from_start_median_us=\([0-9.]*\).*/\1/p' "$tmp/w")" &&
    rec overtook "$(sed -n 's/.*overtook=\([0-9]*\).*/\1/p' "$tmp/w")"
  if [ -n "$before" ]; then
    "$kbench" wait "$bmail_http" "$bmail_smtp" "$waits" 8 >"$tmp/w" && rec bwait "$(sed -n 's/^median_us=\([0-9.]*\).*/\1/p' "$tmp/w")" &&
      rec bwaitc "$(sed -n 's/.*from_start_median_us=\([0-9.]*\).*/\1/p' "$tmp/w")"
  fi
  r=$((r + 1))
done
row "median wait latency, us" "$(med wait)" "goal" 1000
row "  the same from the SMTP connect, us" "$(med waitc)" "goal" 1000
# konform-mail wakes the waiters when the mail is committed, before it writes
# the 250, so the answer often arrives first: a latency of 0.
echo "  the wait's answer came before the SMTP 250 in $(med overtook) of $waits rounds (median of rounds; counted as 0 us)"
[ -z "$before" ] || row "before: median wait latency, us" "$(med bwait)" "after" "$(med wait)"
[ -z "$before" ] || row "before: from the SMTP connect, us" "$(med bwaitc)" "after" "$(med waitc)"

# ---- konform-server GET vs nginx --------------------------------------------
echo "konform-server: GET /api/v1/health, wrk -t2 -c16 -d${wrk_s}s, requests/s:"
start server "$bin/konform-server" --port 0 --test-mode --hash-cost test --db "$tmp/server.db" \
  --smtp-url "smtp://127.0.0.1:$mail_smtp"
server_http=$(port_of "$server_ready" http)
if [ -n "$before" ]; then
  start bserver "$before/konform-server" --port 0 --test-mode --hash-cost test --db "$tmp/bserver.db" \
    --smtp-url "smtp://127.0.0.1:$mail_smtp"
  bserver_http=$(port_of "$bserver_ready" http)
fi
nginx_ok=0
if have nginx && have wrk; then
  mkdir -p "$tmp/nginx/www" "$tmp/nginx/logs"
  curl -s "http://127.0.0.1:$server_http/api/v1/health" >"$tmp/nginx/www/health.json"
  ng_port=$(free_port)
  cat >"$tmp/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 2;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  server {
    listen 127.0.0.1:$ng_port;
    root $tmp/nginx/www;
    location = /return200 { return 200 '{"status":"ok"}'; }
  }
}
CONF
  nginx -p "$tmp/nginx" -e "$tmp/nginx/logs/error.log" -c "$tmp/nginx/nginx.conf" &
  pids="$pids $!"
  nginx_pid=$!
  wait_port "$ng_port"
  nginx_ok=1
fi
# A test clock: health with its Konform-Clock header is the cheapest GET that
# reads the database (one SELECT of the clock), where the statement cache shows.
clock_of() {
  curl -s -H 'Content-Type: application/json' -d '{"frozen_time": 1774692000}' \
    "http://127.0.0.1:$1/test/v1/clocks" | jq -r .id
}
if have wrk; then
  wrk_rate() { wrk -t2 -c16 -d"${wrk_s}s" "$@" 2>/dev/null | sed -n 's/^Requests\/sec:[[:space:]]*\([0-9]*\).*/\1/p'; }
  clock=$(clock_of "$server_http")
  [ -z "$before" ] || bclock=$(clock_of "$bserver_http")
  r=0
  while [ "$r" -lt "$rounds" ]; do
    rec srv "$(wrk_rate "http://127.0.0.1:$server_http/api/v1/health")"
    rec srvdb "$(wrk_rate -H "Konform-Clock: $clock" "http://127.0.0.1:$server_http/api/v1/health")"
    if [ -n "$before" ]; then
      rec bsrv "$(wrk_rate "http://127.0.0.1:$bserver_http/api/v1/health")"
      rec bsrvdb "$(wrk_rate -H "Konform-Clock: $bclock" "http://127.0.0.1:$bserver_http/api/v1/health")"
    fi
    if [ "$nginx_ok" = 1 ]; then
      rec ngstatic "$(wrk_rate "http://127.0.0.1:$ng_port/health.json")"
      rec ngreturn "$(wrk_rate "http://127.0.0.1:$ng_port/return200")"
    fi
    r=$((r + 1))
  done
  row "konform-server" "$(med srv)" "nginx static file" "$(med ngstatic)"
  row "konform-server" "$(med srv)" "nginx return 200" "$(med ngreturn)"
  [ "$nginx_ok" = 1 ] || skip "nginx is not installed (scripts/install-deps.sh --bench)"
  row "konform-server, with a test clock (1 SELECT)" "$(med srvdb)" "nginx static file" "$(med ngstatic)"
  [ -z "$before" ] || row "before: konform-server" "$(med bsrv)" "after" "$(med srv)"
  [ -z "$before" ] || row "before: with a test clock (1 SELECT)" "$(med bsrvdb)" "after" "$(med srvdb)"
else
  skip "wrk is not installed (scripts/install-deps.sh --bench)"
fi

# ---- the harness's HTTP step vs raw libcurl, Newman, Hurl --------------------
start post "$bin/konform-post" --port 0 --db "$tmp/post.db"
cat >"$tmp/target.profile" <<PROFILE
base_url = http://127.0.0.1:$server_http
mail_api = http://127.0.0.1:$mail_http
post_api = http://127.0.0.1:$(port_of "$post_ready" http)
clock = konform
PROFILE
# steps_file N: a scenario of N GET /api/v1/health steps.
steps_file() {
  {
    echo "scenario: bench $1 health steps"
    echo "covers: ACC-01"
    echo "tags: bench"
    echo
    i=0
    while [ "$i" -lt "$1" ]; do
      printf 'GET /api/v1/health\n  expect status == 200\n'
      i=$((i + 1))
    done
  } >"$tmp/steps$1/bench.konform"
}
mkdir -p "$tmp/steps1" "$tmp/steps$((steps + 1))"
steps_file 1
steps_file $((steps + 1))
harness_ms() {
  t0=$(now_ms)
  "$bin/konform" run --target "$tmp/target.profile" --jobs 1 --no-color \
    --catalogue scenarios/catalogue.json "$tmp/steps$1" >"$tmp/h.log" 2>&1 || true
  grep -q '^1 passed, 0 failed' "$tmp/h.log" || { echo "harness run failed:" >&2 && tail -n 3 "$tmp/h.log" >&2; }
  echo $(($(now_ms) - t0))
}
cat >"$tmp/collection.json" <<JSON
{"info": {"name": "bench", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
 "item": [{"name": "health", "request": {"method": "GET", "url": "http://127.0.0.1:$server_http/api/v1/health"},
           "event": [{"listen": "test", "script": {"exec": ["pm.test('200', () => pm.response.to.have.status(200));"]}}]}]}
JSON
newman_ms() {
  t0=$(now_ms)
  "$nm/newman" run "$tmp/collection.json" -n "$1" --reporters cli >/dev/null 2>&1 || true
  echo $(($(now_ms) - t0))
}
echo "one HTTP step, GET /api/v1/health (per step: (run of $((steps + 1)) steps - run of 1) / $steps), us:"
r=0
while [ "$r" -lt "$rounds" ]; do
  a=$(harness_ms 1)
  b=$(harness_ms $((steps + 1)))
  rec step $(((b - a) * 1000 / steps))
  "$kbench" get "http://127.0.0.1:$server_http/api/v1/health" 2000 >"$tmp/g" &&
    rec raw "$(sed -n 's/^median_us=\([0-9.]*\).*/\1/p' "$tmp/g")"
  if [ -x "$nm/newman" ]; then
    a=$(newman_ms 1)
    b=$(newman_ms $((steps + 1)))
    rec newman $(((b - a) * 1000 / steps))
  fi
  r=$((r + 1))
done
row "konform harness step" "$(med step)" "raw libcurl keep-alive" "$(med raw)"
if [ -x "$nm/newman" ]; then
  row "konform harness step" "$(med step)" "Newman iteration" "$(med newman)"
else
  skip "Newman is not installed (npm install newman into build/bench)"
fi
if [ -x "$nm/hurl" ]; then
  echo "  Hurl: installed, not measured yet"
else
  skip "Hurl is unavailable: npm @orangeopensource/hurl downloads its binary at install time, which failed here"
fi

# ---- suite scaling and the harness's memory ----------------------------------
# The peers measured above are done; stopped, none of them can take a slice of
# the two cores from the runs below (stop_peer PID: kill and reap it).
stop_peer() { [ -z "$1" ] || { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }; }
stop_peer "${maildev_pid:-}"
stop_peer "${sink_pid:-}"
stop_peer "${nginx_pid:-}"
stop_peer "${dmail_pid:-}"
# N copies of the ACC suite; scenario names carry the copy, since names identify
# scenarios across a suite. Each run starts its own embedded stack. The goals:
# the cost per scenario at N copies within 1.15x of one copy's at every job
# count, --jobs 2 at least 1.5x as fast as --jobs 1, and no job count slower
# than a lower one.
suite() {
  mkdir -p "$tmp/suite$1"
  cp -r scenarios/fragments "$tmp/suite$1/"
  c=1
  while [ "$c" -le "$1" ]; do
    mkdir -p "$tmp/suite$1/c$c"
    for f in scenarios/acc/*.konform; do
      sed "s/^scenario: /scenario: [copy $c] /" "$f" >"$tmp/suite$1/c$c/$(basename "$f")"
    done
    c=$((c + 1))
  done
}
suite 1
suite "$copies"
# Neighbouring job counts past the machine's saturation differ by a few
# percent, so the full run takes five rounds of them.
if [ "${BENCH_QUICK:-0}" = 1 ]; then suite_jobs="1 2 3 4 8" suite_rounds=$rounds; else suite_jobs="1 2 3 4 5 6 7 8" suite_rounds=5; fi
# busy_ticks: the machine's busy clock ticks so far, every CPU and process
# (the stack's programs included), from /proc/stat; 0 where there is none.
busy_ticks() {
  [ -r /proc/stat ] || { echo 0 && return; }
  awk '/^cpu / {print $2 + $3 + $4 + $7 + $8; exit}' /proc/stat
}
hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
# run_suite COPIES JOBS: records wall ms, the count and the cores kept busy
# (hundredths) of a run with its own embedded stack.
run_suite() {
  b0=$(busy_ticks)
  t0=$(now_ms)
  "$bin/konform" run --jobs "$2" --no-color --allow-partial \
    --catalogue scenarios/catalogue.json "$tmp/suite$1" >"$tmp/suite.log" 2>&1 || true
  ms=$(($(now_ms) - t0))
  b1=$(busy_ticks)
  rec "busy$1j$2" $(((b1 - b0) * 100000 / hz / (ms > 0 ? ms : 1)))
  n=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped$/\1 \2 \3/p' "$tmp/suite.log" | awk '{print $1 + $2 + $3}')
  rec "n$1" "${n:-0}"
  rec "ms$1j$2" "$ms"
  rec "us$1j$2" $((ms * 1000 / (${n:-0} > 0 ? n : 1)))
}
# run_rss COPIES: the peak RSS (KB) of the harness alone, against the running stack, --jobs 2.
run_rss() {
  /usr/bin/time -f '%M' -o "$tmp/rss" "$bin/konform" run --target "$tmp/target.profile" --jobs 2 \
    --no-color --allow-partial --catalogue scenarios/catalogue.json "$tmp/suite$1" \
    >"$tmp/rss.log" 2>&1 || true
  rec "rss$1" "$(tail -n 1 "$tmp/rss")"
}
have /usr/bin/time || skip "GNU time is not installed: no peak RSS"
r=0
while [ "$r" -lt "$suite_rounds" ]; do
  for j in $suite_jobs; do
    run_suite 1 "$j"
    run_suite "$copies" "$j"
  done
  if have /usr/bin/time; then
    run_rss 1
    run_rss "$copies"
  fi
  r=$((r + 1))
done
small=$(med n1)
big=$(med "n$copies")
echo "suite scaling: $copies copies of the ACC suite ($big scenarios) and one ($small), embedded stack started by each run:"
for j in $suite_jobs; do
  row "--jobs $j: $big scenarios, ms" "$(med "ms${copies}j$j")" "$small scenarios, ms" "$(med "ms1j$j")"
  row "  cost/scenario, us (goal <= 1.15)" "$(med "us${copies}j$j")" "at $small" "$(med "us1j$j")"
  row "  machine busy, cores x 100" "$(med "busy${copies}j$j")" "online cores x 100" "$(($(getconf _NPROCESSORS_ONLN) * 100))"
done
row "--jobs 2 speedup at $big (goal >= 1.5)" "$(med "ms${copies}j1")" "--jobs 2, ms" "$(med "ms${copies}j2")"
# The fastest job count shows what this machine allows at all: its run keeps
# the most cores busy, so --jobs 2 cannot beat that speedup.
fast_ms="" fast_j=""
for j in $suite_jobs; do
  m=$(med "ms${copies}j$j")
  if [ "$m" != "?" ] && { [ -z "$fast_ms" ] || [ "$m" -lt "$fast_ms" ]; }; then fast_ms=$m fast_j=$j; fi
done
row "  ceiling: --jobs 1 vs the fastest" "$(med "ms${copies}j1")" "--jobs $fast_j, ms" "${fast_ms:-?}"
# A higher job count is never slower: each step up, then the worst of all pairs.
prev="" worst="" worst_pair=""
for j in $suite_jobs; do
  if [ -n "$prev" ]; then
    row "--jobs $j vs $prev at $big, ms (goal <= 1)" "$(med "ms${copies}j$j")" "--jobs $prev, ms" "$(med "ms${copies}j$prev")"
  fi
  for k in $suite_jobs; do
    [ "$k" -lt "$j" ] || continue
    q=$(ratio "$(med "ms${copies}j$j")" "$(med "ms${copies}j$k")")
    if [ -z "$worst" ] || awk -v a="$q" -v b="$worst" 'BEGIN {exit !(a != "?" && a + 0 > b + 0)}'; then
      worst=$q worst_pair="--jobs $j vs $k"
    fi
  done
  prev=$j
done
echo "  any higher job count vs any lower at $big, worst: $worst_pair, ratio ${worst:-?} (goal <= 1)"
echo "harness peak RSS (the konform process alone, against the running stack, --jobs 2), KB:"
row "$big scenarios" "$(med "rss${copies}")" "$small scenarios" "$(med rss1)"
growth="?"
[ "$(med "rss${copies}")" = "?" ] || [ "$(med rss1)" = "?" ] || growth=$(($(med "rss${copies}") - $(med rss1)))
row "  growth, KB (goal <= 5 MB)" "$growth" "5 MB, KB" 5120

# ---- the outbox under a registration load -------------------------------------
echo "outbox: 8 clients x $regs registrations at --hash-cost test, confirmation mails into konform-mail:"
start oserver "$bin/konform-server" --port 0 --test-mode --hash-cost test --db "$tmp/oserver.db" \
  --smtp-url "smtp://127.0.0.1:$mail_smtp"
"$kbench" register "http://127.0.0.1:$(port_of "$oserver_ready" http)" "$mail_http" 8 "$regs" >"$tmp/o" || true
val() { sed -n "s/.*$1=\([-0-9.]*\).*/\1/p" "$tmp/o"; }
row "mails delivered during the load, /s" "$(val mail_per_s)" "registrations, /s" "$(val reg_per_s)"
echo "  $(val registrations) registrations in $(val load_ms) ms; all mails delivered after $(val caught_up_ms) ms"

# ---- callgrind: instructions, stable under load -------------------------------
echo "callgrind instruction counts (the harness process, against the running stack):"
if have valgrind; then
  ir() {
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" "$bin/konform" run \
      --target "$tmp/target.profile" --jobs 1 --no-color --catalogue scenarios/catalogue.json "$@" \
      >/dev/null 2>"$tmp/cg.log" || true
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/cg.log"
  }
  one=$(ir "$tmp/steps1")
  many=$(ir "$tmp/steps$((steps + 1))")
  scen=$(ir --name "The confirmation mail has the sender, subject, address, one link" scenarios/acc)
  empty=$(ir --name "no scenario has this name" scenarios/acc)
  echo "  one HTTP step: $(((many - one) / steps)) instructions ((run of $((steps + 1)) steps - run of 1) / $steps)"
  echo "  one scenario (\"The confirmation mail has the sender, subject, address, one link\"): $((scen - empty)) instructions (its run - a run selecting none)"
  # srv_ir BINDIR N TAG: instructions of konform-server from start to SIGTERM, serving
  # N GETs of health with a test clock (one SELECT each) in between.
  srv_ir() {
    cg=$3-$2
    mkfifo "$tmp/cg$cg.ready"
    valgrind --tool=callgrind --callgrind-out-file="$tmp/scg$cg.out" "$1/konform-server" --port 0 \
      --test-mode --hash-cost test --db "$tmp/cg$cg.db" --smtp-url "smtp://127.0.0.1:$mail_smtp" \
      --log-level warn --ready-fd 3 3>"$tmp/cg$cg.ready" 2>"$tmp/scg$cg.log" &
    p=$!
    pids="$pids $p"
    read -r line <"$tmp/cg$cg.ready"
    port=$(port_of "$line" http)
    c=$(clock_of "$port")
    [ "$2" -eq 0 ] || "$kbench" get "http://127.0.0.1:$port/api/v1/health" "$2" "Konform-Clock: $c" >/dev/null || true
    kill -TERM "$p"
    wait "$p" || true
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/scg$cg.log"
  }
  per_get() {
    a=$(srv_ir "$1" 0 "$2")
    b=$(srv_ir "$1" 400 "$2")
    echo $(((${b:-0} - ${a:-0}) / 400))
  }
  after_get=$(per_get "$bin" after)
  echo "  konform-server, one GET with a test clock (1 SELECT): $after_get instructions ((400 GETs - none) / 400)"
  [ -z "$before" ] || row "before: server GET with a test clock, Ir" "$(per_get "$before" before)" "after" "$after_get"
else
  skip "valgrind is not installed (scripts/install-deps.sh --bench)"
fi
