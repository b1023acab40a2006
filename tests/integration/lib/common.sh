# common.sh: what the integration tests share. Source it from the repository
# root after setting it_name and it_pid_vars:
#
#   it_name=post_api            # prefix of every message
#   it_pid_vars="server_pid bg_pids"  # variables whose pids cleanup kills
#   . tests/integration/lib/common.sh
#
# Everything is event-driven: readiness comes from FIFOs (--ready-fd), and a
# background long-poll is known to be sent by reading curl's trace.
# Provides: $bin, $tmp, $checks, fail, ok, it_ready, it_ready_port, req,
# expect_status, expect_body, expect_no_body, start_wait.

bin=${KONFORM_BIN:-build/bin}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/$it_name.XXXXXX")
checks=0
# A file whose tail fail prints (for example a server log); optional.
it_fail_log=${it_fail_log:-}

it_cleanup() {
  pids=""
  for v in $it_pid_vars; do
    eval "pids=\"\$pids \${$v:-}\""
  done
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  for p in $pids; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap it_cleanup EXIT
trap 'exit 1' INT TERM

fail() {
  echo "$it_name: FAIL: $*" >&2
  if [ -n "$it_fail_log" ] && [ -f "$it_fail_log" ]; then tail -20 "$it_fail_log" >&2; fi
  exit 1
}
ok() {
  checks=$((checks + 1))
}

# it_ready FIFO WHAT: read a program's READY line from FIFO into $ready_line.
it_ready() {
  IFS= read -r ready_line <"$1" || fail "$2 exited before it was ready"
  case $ready_line in
    "READY http="*) ;;
    *) fail "unexpected $2 readiness line: $ready_line" ;;
  esac
}

# it_ready_port KEY: the port after KEY= in $ready_line ("http" or "smtp").
it_ready_port() {
  printf '%s\n' "$ready_line" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# req METHOD URL [curl args...]: sets $status; body in $tmp/body, headers in
# $tmp/headers. A URL starting with / is relative to $base.
req() {
  method=$1
  url=$2
  shift 2
  case $url in /*) url="$base$url" ;; esac
  status=$(curl -sS -D "$tmp/headers" -o "$tmp/body" -w '%{http_code}' -X "$method" "$@" "$url") ||
    fail "curl $method $url failed"
}
expect_status() {
  [ "$status" = "$1" ] || fail "$2: expected HTTP $1, got $status: $(cat "$tmp/body")"
  ok
}
expect_body() {
  grep -qF -- "$1" "$tmp/body" || fail "$2: body lacks $1: $(cat "$tmp/body")"
  ok
}
expect_no_body() {
  if grep -qF -- "$1" "$tmp/body"; then fail "$2: body has $1: $(cat "$tmp/body")"; fi
  ok
}

# start_wait NAME URL: long-poll URL in the background (status in
# $tmp/NAME.status, body in $tmp/NAME.body, pid in $wait_pid and added to
# $bg_pids); returns once curl has sent the whole request (the empty "> " line
# that ends the headers), so whatever the caller does next happens while the
# wait is pending.
start_wait() {
  mkfifo "$tmp/$1.trace"
  curl -sS -v -o "$tmp/$1.body" -w '%{http_code}' "$2" >"$tmp/$1.status" 2>"$tmp/$1.trace" &
  wait_pid=$!
  bg_pids="${bg_pids:-} $wait_pid"
  exec 4<"$tmp/$1.trace"
  sent=0
  while IFS= read -r trace_line <&4; do
    trace_line=$(printf '%s' "$trace_line" | tr -d '\r')
    case $trace_line in
      ">" | "> ") sent=1; break ;;
    esac
  done
  # Keep draining the trace so curl never blocks or dies writing it.
  cat <&4 >/dev/null &
  bg_pids="$bg_pids $!"
  exec 4<&-
  [ "$sent" = 1 ] || fail "$1: curl did not send the wait request"
}
