# common.sh: what the integration tests share: named cases that print TAP,
# checks that record a failure and go on, and the helpers for requests,
# readiness and long-polls. Source it from the repository root after setting
# it_name and it_pid_vars:
#
#   it_name=post_api                  # prefix of every message
#   it_pid_vars="server_pid bg_pids"  # variables whose pids cleanup kills
#   . tests/integration/lib/common.sh
#
#   case_health() {
#     req GET /api/v1/health || return 1
#     expect_status 200 "health"
#     expect_json '.status == "ok"' "health"
#   }
#   it_case "health answers" case_health
#   ...
#   it_done
#
# Cases run in order in this shell, so a case can use what an earlier one
# set up (a started server, a link from a mail). A check that fails marks its
# case "not ok" with the reason in a YAML block and returns 1; the case goes
# on unless it writes `|| return 1` after a check that later steps depend on.
# Every case runs whatever happened before it. it_done prints the plan and
# exits non-zero when any case failed.
#
# TAP: version 14, unless the harness announces an older one in $TAP_VERSION
# (prove 3.44 sets TAP_VERSION=13 and rejects a "TAP version 14" line; the
# lines printed here mean the same in both).
#
# Everything is event-driven: readiness comes from FIFOs (--ready-fd), and a
# background long-poll is known to be sent by reading curl's trace. JSON is
# read with jq.
# Provides: $bin, $tmp, it_case, it_skip, it_done, it_pass, it_fail, it_that,
# it_start, it_sigterm, it_ready, it_ready_port, req, expect_status, expect_json,
# expect_error, expect_field, json_get, expect_body, expect_no_body, start_wait.

bin=${KONFORM_BIN:-build/bin}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/$it_name.XXXXXX")
# A file whose tail a failed case shows (for example a server log); optional.
it_fail_log=${it_fail_log:-}
it_n=0
it_cases_failed=0
it_cases_skipped=0
it_checks=0
it_checks_failed=0
it_case_failed=0
it_case_skip=""
it_running=""
# The TAP stream, for the exit trap: while a case runs, fd 1 is its log.
exec 7>&1

it_cleanup() {
  # The shell ended inside a case (a shell error, say): report that case with
  # what it printed, and bail out, so the stream never just stops.
  if [ -n "$it_running" ]; then
    it_fail "the script ended inside this case"
    echo "not ok $it_n - $it_running" >&7
    it_diag >&7
    echo "Bail out! $it_name ended inside case $it_n" >&7
  fi
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

case ${TAP_VERSION:-14} in
  13) echo "TAP version 13" ;;
  *) echo "TAP version 14" ;;
esac
if ! command -v jq >/dev/null 2>&1; then
  echo "Bail out! $it_name: jq is not installed (scripts/install-deps.sh installs it)"
  exit 1
fi

# it_pass: count one check that held.
it_pass() {
  it_checks=$((it_checks + 1))
}
# it_fail MESSAGE: record a failed check in the running case; returns 1.
it_fail() {
  it_checks_failed=$((it_checks_failed + 1))
  it_case_failed=1
  printf '%s' "$*" | jq -Rs . >>"$tmp/it.diag"
  return 1
}
# it_that MESSAGE CMD [ARGS...]: one check: CMD succeeds.
it_that() {
  it_that_msg=$1
  shift
  if "$@"; then it_pass; else it_fail "$it_that_msg"; fi
}
# it_skip REASON: the running case checks nothing here; it says so in TAP.
it_skip() {
  it_case_skip=$1
}

# The YAML block after "not ok": every failed check, the tail of what the case
# printed and of $it_fail_log. Each value is a JSON string, which YAML reads.
it_diag() {
  echo "  ---"
  printf '  message: %s\n' "$(head -n 1 "$tmp/it.diag")"
  echo "  severity: fail"
  echo "  failures:"
  sed 's/^/    - /' "$tmp/it.diag"
  if [ -s "$tmp/it.out" ]; then
    printf '  output: %s\n' "$(tail -n 30 "$tmp/it.out" | jq -Rs .)"
  fi
  if [ -n "$it_fail_log" ] && [ -s "$it_fail_log" ]; then
    printf '  log: %s\n' "$(tail -n 20 "$it_fail_log" | jq -Rs .)"
  fi
  echo "  ..."
}

# it_case NAME FUNCTION: run one case and print its TAP line. What the case
# prints goes to a file that a failure shows. A case that returns non-zero
# without a failed check fails too, so no error passes unnoticed.
it_case() {
  it_n=$((it_n + 1))
  it_case_failed=0
  it_case_skip=""
  : >"$tmp/it.diag"
  : >"$tmp/it.out"
  it_case_rc=0
  it_running=$1
  # Appending: a process the case starts in the background may write later.
  "$2" >>"$tmp/it.out" 2>&1 </dev/null || it_case_rc=$?
  it_running=""
  if [ "$it_case_rc" -ne 0 ] && [ "$it_case_failed" -eq 0 ]; then
    it_fail "the case returned $it_case_rc without naming a failed check"
  fi
  if [ "$it_case_failed" -ne 0 ]; then
    it_cases_failed=$((it_cases_failed + 1))
    echo "not ok $it_n - $1"
    it_diag
  elif [ -n "$it_case_skip" ]; then
    it_cases_skipped=$((it_cases_skipped + 1))
    echo "ok $it_n - $1 # SKIP $it_case_skip"
  else
    echo "ok $it_n - $1"
  fi
}

# it_done: the plan, a summary comment, and the exit status.
it_done() {
  echo "1..$it_n"
  echo "# $it_name: $((it_n - it_cases_failed - it_cases_skipped)) ok, $it_cases_failed not ok," \
    "$it_cases_skipped skipped; $it_checks checks held, $it_checks_failed failed"
  [ "$it_cases_failed" -eq 0 ] && exit 0
  exit 1
}

# it_ready FIFO WHAT: read a program's READY line from FIFO into $ready_line.
it_ready() {
  ready_line=""
  if ! IFS= read -r ready_line <"$1"; then
    it_fail "$2 exited before it was ready"
    return 1
  fi
  case $ready_line in
    "READY http="*) it_pass ;;
    *) it_fail "unexpected $2 readiness line: $ready_line" ;;
  esac
}

# it_start PIDVAR LOG PROGRAM ARGS...: start PROGRAM ARGS --ready-fd 3 in the
# background, its output appended to LOG, its pid in $PIDVAR (so cleanup
# kills it whatever happens next), and read its READY line (it_ready).
it_start() {
  is_pidvar=$1
  is_log=$2
  shift 2
  is_fifo="$tmp/$is_pidvar.ready"
  rm -f "$is_fifo"
  mkfifo "$is_fifo"
  "$@" --ready-fd 3 3>"$is_fifo" >>"$is_log" 2>&1 &
  eval "$is_pidvar=\$!"
  it_ready "$is_fifo" "${1##*/}"
}

# it_ready_port KEY: the port after KEY= in $ready_line ("http" or "smtp").
it_ready_port() {
  printf '%s\n' "$ready_line" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# req METHOD URL [curl args...]: sets $status; body in $tmp/body, headers in
# $tmp/headers. A URL starting with / is relative to $base. A request that
# gets no answer is a failed check (status 000).
req() {
  method=$1
  url=$2
  shift 2
  case $url in /*) url="$base$url" ;; esac
  : >"$tmp/body"
  if ! status=$(curl -sS -D "$tmp/headers" -o "$tmp/body" -w '%{http_code}' -X "$method" "$@" "$url"); then
    status=000
    it_fail "curl $method $url failed"
    return 1
  fi
}
# it_body: the start of the last body, for messages.
it_body() {
  head -c 2000 "$tmp/body"
}
expect_status() {
  if [ "$status" = "$1" ]; then it_pass; else it_fail "$2: expected HTTP $1, got $status: $(it_body)"; fi
}
# expect_json FILTER WHAT [jq options...]: the body is JSON and the jq FILTER
# yields true on it.
expect_json() {
  ej_filter=$1
  ej_what=$2
  shift 2
  if jq -e "$@" "$ej_filter" "$tmp/body" >/dev/null 2>"$tmp/jq.err"; then
    it_pass
  else
    it_fail "$ej_what: the body does not satisfy $ej_filter$(sed 's/^/ (/; s/$/)/' "$tmp/jq.err"): $(it_body)"
  fi
}
# expect_error CODE WHAT: the body is an error answer with .error.code CODE.
expect_error() {
  expect_json '.error.code == $c' "$2" --arg c "$1"
}
# expect_field FIELD CODE WHAT: .error.fields has an entry for FIELD with
# CODE; an empty FIELD or CODE matches any.
expect_field() {
  expect_json '.error.fields | any(($f == "" or .field == $f) and ($c == "" or .code == $c))' "$3" \
    --arg f "$1" --arg c "$2"
}
# json_get FILTER [FILE]: print what jq -r FILTER makes of the body (or FILE).
json_get() {
  jq -r "$1" "${2:-$tmp/body}" 2>/dev/null
}
# expect_body TEXT WHAT / expect_no_body TEXT WHAT: for bodies that are not
# JSON (HTML pages, raw mail source).
expect_body() {
  if grep -qF -- "$1" "$tmp/body"; then it_pass; else it_fail "$2: body lacks $1: $(it_body)"; fi
}
expect_no_body() {
  if grep -qF -- "$1" "$tmp/body"; then it_fail "$2: body has $1: $(it_body)"; else it_pass; fi
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
      ">" | "> ")
        sent=1
        break
        ;;
    esac
  done
  # Keep draining the trace so curl never blocks or dies writing it.
  cat <&4 >/dev/null &
  bg_pids="$bg_pids $!"
  exec 4<&-
  it_that "$1: curl did not send the wait request" [ "$sent" = 1 ]
}

# it_sigterm PIDVAR WHAT: SIGTERM the process in $PIDVAR, wait, clear PIDVAR;
# a check that it exited 0.
it_sigterm() {
  eval "it_term_pid=\${$1:-}"
  if [ -z "$it_term_pid" ]; then
    it_fail "$2 is not running"
    return 1
  fi
  kill -TERM "$it_term_pid"
  it_term_rc=0
  wait "$it_term_pid" || it_term_rc=$?
  eval "$1=\"\""
  it_that "$2 exited with $it_term_rc on SIGTERM" [ "$it_term_rc" -eq 0 ]
}
