#!/bin/sh
# harness_cli.sh: the konform command line: exit codes, list, lint, and (when
# the servers are built) runs against the embedded reference stack with both
# reports, and Ctrl-C cleaning up the stack. Loopback only; never sleeps.
# Prints TAP, one named case per behaviour (tests/integration/lib/common.sh).
#
# Run from the repository root: KONFORM_BIN=<folder of built programs> sh tests/integration/harness_cli.sh
set -u

run_pid=""
server_pid=""
bg_pids=""
it_name=harness_cli
it_pid_vars="run_pid bg_pids server_pid"
. tests/integration/lib/common.sh
konform="$bin/konform"

# expect_code WANT WHAT CMD...: run CMD (stdout in $tmp/out, stderr in
# $tmp/err); a check on its exit code.
expect_code() {
  want=$1
  what=$2
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  got=$?
  it_that "$what: exit $got, wanted $want; stderr: $(tail -n 20 "$tmp/err")" [ "$got" -eq "$want" ]
}
# expect_in FILE PATTERN WHAT: a check that grep finds PATTERN in FILE.
expect_in() {
  it_that "$3" grep -q -- "$2" "$1"
}
# expect_lines N WHAT: $tmp/out has exactly N lines.
expect_lines() {
  n_lines=$(wc -l <"$tmp/out")
  it_that "$2 (got $n_lines lines)" [ "$n_lines" -eq "$1" ]
}
# needs_stack: false, and the case is skipped, when the servers are not built.
needs_stack() {
  if [ -x "$bin/konform-server" ] && [ -x "$bin/konform-mail" ] && [ -x "$bin/konform-post" ]; then
    return 0
  fi
  it_skip "the servers are not built in $bin"
  return 1
}
# empty_dir DIR: DIR has no entries left.
empty_dir() {
  [ -z "$(ls -A "$1")" ]
}

# ---- Fixtures: a broken file, a small valid suite, a lint error. ----
mkdir -p "$tmp/bad" "$tmp/suite" "$tmp/unlinted"
printf 'scenario: broken\ncovers: ACC-01\nGET /api/v1/health\n  expect status 200\n' >"$tmp/bad/broken.konform"
cat >"$tmp/suite/small.konform" <<'EOF'
scenario: Die Gesundheitsroute antwortet
covers: ACC-01
tags: smoke
GET /api/v1/health
  expect status == 200
  expect json "$.status" == "ok"

scenario: Eine Testuhr lässt sich stellen
covers: ACC-06
tags: smoke clock
clock create "2026-03-28T10:00:00Z"
clock advance 24h
GET /api/v1/health
  expect status == 200
EOF
printf 'scenario: unbekannt\ncovers: NOPE-99\nGET /api/v1/health\n  expect status == 200\n' \
  >"$tmp/unlinted/u.konform"
printf 'base_url = http://127.0.0.1:1\nclock = none\n' >"$tmp/nowhere.profile"

# ---- Usage errors: exit 2. ----
case_version() {
  expect_code 0 "version" "$konform" version
  expect_in "$tmp/out" '^konform [0-9]' "version prints 'konform <version>'"
}
case_help() { expect_code 0 "help" "$konform" help; }
case_no_command() { expect_code 2 "no command" "$konform"; }
case_unknown_command() { expect_code 2 "unknown command" "$konform" explode; }
case_unknown_option() { expect_code 2 "unknown option" "$konform" run --frobnicate; }
case_bad_jobs() { expect_code 2 "bad --jobs" "$konform" run --jobs zero; }
case_missing_value() { expect_code 2 "missing option value" "$konform" run --target; }
case_bad_report() { expect_code 2 "bad --report" "$konform" run --report xml=out.xml; }

# ---- Parse errors: exit 2 with file:line:col on stderr. ----
case_parse_run() {
  expect_code 2 "parse error (run)" "$konform" run --catalogue scenarios/catalogue.json "$tmp/bad"
  expect_in "$tmp/err" 'broken.konform:4:[0-9][0-9]*: error' "parse error names file:line:col"
}
case_parse_list() { expect_code 2 "parse error (list)" "$konform" list "$tmp/bad"; }
case_parse_lint() {
  expect_code 2 "parse error (lint)" "$konform" lint --catalogue scenarios/catalogue.json "$tmp/bad"
}

# ---- run lints first: a lint error is exit 2 before any target is touched. ----
case_lint_stops_run() {
  expect_code 2 "lint error stops run" "$konform" run --target "$tmp/nowhere-yet.profile" \
    --catalogue scenarios/catalogue.json "$tmp/unlinted"
  expect_in "$tmp/err" 'u.konform:[0-9][0-9]*:[0-9][0-9]*: error: .*NOPE-99' \
    "run prints the lint error as file:line:col"
  expect_in "$tmp/err" 'nothing was run' "run says that nothing was run"
}

# ---- A selection that matches nothing is exit 2, not a conforming run. ----
case_empty_selection() {
  expect_code 2 "empty selection" "$konform" run --target "$tmp/nowhere-yet.profile" \
    --catalogue scenarios/catalogue.json --name "kein solches Szenario" "$tmp/suite"
  expect_in "$tmp/err" 'no scenario matches the filters' "empty selection is named on stderr"
}

# ---- Unreachable target: exit 3 before anything runs. ----
case_unreachable() {
  expect_code 3 "unreachable --target" "$konform" run --target "$tmp/nowhere.profile" \
    --catalogue scenarios/catalogue.json "$tmp/suite"
  expect_in "$tmp/err" 'unreachable' "unreachable target is named on stderr"
}
case_missing_profile() {
  expect_code 2 "missing profile file" "$konform" run --target "$tmp/no-such.profile" \
    --catalogue scenarios/catalogue.json "$tmp/suite"
}

# ---- list and lint on the shipped scenarios. ----
case_list() {
  expect_code 0 "list scenarios" "$konform" list scenarios
  n=$(grep -c 'covers: .*ACC-' "$tmp/out")
  it_that "list shows no scenarios with covers" [ "$n" -gt 0 ]
  expect_in "$tmp/out" '\.konform:[0-9][0-9]*	' "list lines start with file:line"
}
case_list_covers() {
  expect_code 0 "list --covers filter" "$konform" list --covers ACC-06 --tag clock "$tmp/suite"
  expect_lines 1 "list --covers ACC-06 --tag clock shows exactly one scenario"
}
case_list_name() {
  expect_code 0 "list --name filter" "$konform" list --name Gesundheit "$tmp/suite"
  expect_lines 1 "list --name shows exactly one scenario"
}
case_lint() { expect_code 0 "lint scenarios" "$konform" lint scenarios; }

# ---- Runs against the embedded reference stack (once the servers exist). ----
case_run_small() {
  needs_stack || return 0
  expect_code 0 "run small suite on the embedded stack" "$konform" run --jobs 2 --no-color \
    --catalogue scenarios/catalogue.json --seed 42 \
    --report "json=$tmp/report.json" --report "junit=$tmp/junit.xml" "$tmp/suite"
  expect_in "$tmp/out" 'seed 42' "the seed is printed"
  it_that "JSON report written" [ -s "$tmp/report.json" ]
  it_that "JUnit report written" [ -s "$tmp/junit.xml" ]
  it_that "JSON report names the scenario" \
    jq -e '.scenarios | any(.name == "Die Gesundheitsroute antwortet")' "$tmp/report.json"
  expect_in "$tmp/junit.xml" '<testsuite' "JUnit report has a testsuite"
}
# A failing expectation is exit 1, and the report still gets written.
case_run_failing() {
  needs_stack || return 0
  mkdir -p "$tmp/failing"
  printf 'scenario: falsch\ncovers: ACC-01\nGET /api/v1/health\n  expect status == 418\n' \
    >"$tmp/failing/f.konform"
  expect_code 1 "failing scenario is exit 1" "$konform" run --no-color --catalogue scenarios/catalogue.json \
    --report "json=$tmp/fail.json" "$tmp/failing"
  expect_in "$tmp/out" 'f.konform' "the failure names its file"
  it_that "JSON report written for a failing run" [ -s "$tmp/fail.json" ]
}
# A report that cannot be written is exit 2.
case_run_unwritable() {
  needs_stack || return 0
  expect_code 2 "unwritable report is exit 2" "$konform" run --no-color --catalogue scenarios/catalogue.json \
    --report "json=$tmp/no/such/dir/r.json" "$tmp/suite"
}
# A stack program that does not exit cleanly on SIGTERM (as a sanitizer
# build does when it finds a leak) turns a passing run into exit 1.
case_run_unclean() {
  needs_stack || return 0
  mkdir -p "$tmp/unclean"
  cp "$konform" "$bin/konform-server" "$bin/konform-mail" "$tmp/unclean/"
  cat >"$tmp/unclean/konform-post" <<WRAP
#!/bin/sh
trap 'kill -TERM \$child; wait \$child; echo "simulated finding at shutdown" >&2; exit 3' TERM
"$bin/konform-post" "\$@" &
child=\$!
wait \$child
WRAP
  chmod +x "$tmp/unclean/konform-post"
  expect_code 1 "unclean stack shutdown is exit 1" "$tmp/unclean/konform" run --no-color \
    --catalogue scenarios/catalogue.json "$tmp/suite"
  it_that "the unclean exit is named with its log" \
    sh -c 'grep -q "konform-post exited with status 3" "$1" && grep -q "simulated finding" "$1"' _ "$tmp/err"
}
# Ctrl-C while the stack starts: a program that never writes READY must not
# hold the interrupt up for its 30 s READY timeout. The stand-in for
# konform-mail says "started" through a FIFO and then blocks opening a FIFO
# nobody ever writes to; SIGINT goes out only once it said so.
case_interrupt_starting() {
  needs_stack || return 0
  mkdir -p "$tmp/hang" "$tmp/hangtmp"
  # The stack starts both mocks at once, so konform-post must be there too;
  # the servers would start after the mocks and are never reached.
  cp "$konform" "$(dirname "$konform")/konform-post" "$tmp/hang/"
  mkfifo "$tmp/hang-started" "$tmp/hang-never"
  cat >"$tmp/hang/konform-mail" <<WRAP
#!/bin/sh
echo started >"$tmp/hang-started"
read never <"$tmp/hang-never"
WRAP
  chmod +x "$tmp/hang/konform-mail"
  TMPDIR="$tmp/hangtmp" "$tmp/hang/konform" run --no-color --catalogue scenarios/catalogue.json \
    "$tmp/suite" >/dev/null 2>"$tmp/hang.err" &
  run_pid=$!
  # A safety limit, never a delay: the stand-in answers at once unless
  # konform died before it started the stack.
  started=$(timeout 30 head -n 1 "$tmp/hang-started")
  it_that "the stack never started its konform-mail: $(cat "$tmp/hang.err")" [ "$started" = started ]
  t0=$(date +%s)
  kill -INT "$run_pid"
  wait "$run_pid"
  code=$?
  run_pid=""
  t1=$(date +%s)
  it_that "Ctrl-C while starting exits 130 (got $code)" [ "$code" -eq 130 ]
  it_that "Ctrl-C while starting took $((t1 - t0)) s (the READY wait held it up)" [ $((t1 - t0)) -lt 10 ]
  it_that "Ctrl-C while starting removes the stack folder" empty_dir "$tmp/hangtmp"
}
# Ctrl-C: the stack stops, its folder goes away, exit 130.
case_interrupt_running() {
  needs_stack || return 0
  mkdir -p "$tmp/slow" "$tmp/stacktmp"
  printf 'scenario: wartet\ncovers: ACC-05\nwait mail to "niemand@konform.test" within 60s\n  expect mail.subject exists\n' >"$tmp/slow/w.konform"
  mkfifo "$tmp/fifo"
  TMPDIR="$tmp/stacktmp" "$konform" run --no-color --catalogue scenarios/catalogue.json \
    --report "json=$tmp/int.json" "$tmp/slow" >"$tmp/fifo" 2>"$tmp/int.err" &
  run_pid=$!
  # The header line is printed once the stack is up and the run begins.
  started=no
  while IFS= read -r line; do
    case "$line" in seed*)
      started=yes
      break
      ;;
    esac
  done <"$tmp/fifo"
  if [ "$started" = yes ]; then
    it_pass
    kill -INT "$run_pid"
  else
    it_fail "interrupted run never started: $(tail -n 20 "$tmp/int.err")"
  fi
  wait "$run_pid"
  code=$?
  run_pid=""
  [ "$started" = yes ] || return 1
  it_that "Ctrl-C exits 130 (got $code)" [ "$code" -eq 130 ]
  it_that "Ctrl-C removes the stack folder" empty_dir "$tmp/stacktmp"
  it_that "Ctrl-C writes no report (a cut-short run is no verdict)" [ ! -e "$tmp/int.json" ]
}

# ---- Profiles are validated: a misspelt key names the one it resembles. ----
case_profile_unknown_key() {
  printf 'base_ulr = http://127.0.0.1:1\n' >"$tmp/typo.profile"
  expect_code 2 "a profile with an unknown key is exit 2" "$konform" run --target "$tmp/typo.profile" \
    --catalogue scenarios/catalogue.json "$tmp/suite"
  expect_in "$tmp/err" 'base_url' "the unknown key names the nearest known one"
}
case_profile_unknown_default() {
  printf 'base_url = http://127.0.0.1:1\n[defaults]\nlockout_attempt = 5\n' >"$tmp/typo2.profile"
  expect_code 2 "a [defaults] key the catalogue does not know is exit 2" "$konform" run \
    --target "$tmp/typo2.profile" --catalogue scenarios/catalogue.json "$tmp/suite"
  expect_in "$tmp/err" 'lockout_attempts' "the unknown default names the nearest known one"
}

# ---- A scenario that cannot be checked on a target is exit 4, not 0. ----
# A server without the test-control clock (clock = none): the clock scenario
# of the small suite is not checked, the other one passes.
case_exit_partial() {
  needs_stack || return 0
  it_start server_pid "$tmp/partial-server.log" "$bin/konform-server" --port 0 \
    --db "$tmp/partial.db" --smtp-url smtp://127.0.0.1:1 --log-level warn || return 1
  printf 'base_url = http://127.0.0.1:%s\nclock = none\n' "$(it_ready_port http)" >"$tmp/partial.profile"
  expect_code 4 "a run with a scenario not checked is exit 4" "$konform" run --no-color \
    --target "$tmp/partial.profile" --catalogue scenarios/catalogue.json "$tmp/suite"
  expect_in "$tmp/out" 'not checked' "the console says what was not checked"
  expect_code 0 "--allow-partial makes it exit 0" "$konform" run --no-color --allow-partial \
    --target "$tmp/partial.profile" --catalogue scenarios/catalogue.json "$tmp/suite"
  it_sigterm server_pid konform-server
}

# ---- konform mocks: both mocks up, a profile printed, Ctrl-C cleans up. ----
case_mocks() {
  needs_stack || return 0
  mkdir -p "$tmp/mockstmp"
  mkfifo "$tmp/mocks-fifo"
  TMPDIR="$tmp/mockstmp" "$konform" mocks >"$tmp/mocks-fifo" 2>"$tmp/mocks.err" &
  run_pid=$!
  : >"$tmp/mocks.out"
  while IFS= read -r line; do
    printf '%s\n' "$line" >>"$tmp/mocks.out"
    case "$line" in "# Running;"*) break ;; esac
  done <"$tmp/mocks-fifo"
  mail_api=$(sed -n 's/^mail_api = //p' "$tmp/mocks.out")
  post_api=$(sed -n 's/^post_api = //p' "$tmp/mocks.out")
  it_that "mocks printed no mail_api: $(cat "$tmp/mocks.out" "$tmp/mocks.err")" [ -n "$mail_api" ]
  it_that "mocks printed no post_api" [ -n "$post_api" ]
  expect_in "$tmp/mocks.out" '^\[defaults\]' "the printed profile has every default"
  req GET "$mail_api/api/v1/health" && expect_status 200 "the printed mail_api answers"
  req GET "$post_api/api/v1/health" && expect_status 200 "the printed post_api answers"
  kill -INT "$run_pid"
  wait "$run_pid"
  code=$?
  run_pid=""
  it_that "Ctrl-C, the way to stop konform mocks, is exit 0 (got $code)" [ "$code" -eq 0 ]
  it_that "Ctrl-C removes the mocks' folder" empty_dir "$tmp/mockstmp"
}

it_case "konform version" case_version
it_case "konform help" case_help
it_case "no command is exit 2" case_no_command
it_case "an unknown command is exit 2" case_unknown_command
it_case "an unknown option is exit 2" case_unknown_option
it_case "a bad --jobs is exit 2" case_bad_jobs
it_case "a missing option value is exit 2" case_missing_value
it_case "a bad --report is exit 2" case_bad_report
it_case "a parse error in run is exit 2 with file:line:col" case_parse_run
it_case "a parse error in list is exit 2" case_parse_list
it_case "a parse error in lint is exit 2" case_parse_lint
it_case "a lint error stops run before the target is touched" case_lint_stops_run
it_case "an empty selection is exit 2" case_empty_selection
it_case "an unreachable target is exit 3" case_unreachable
it_case "a missing profile file is exit 2" case_missing_profile
it_case "list shows the shipped scenarios as file:line" case_list
it_case "list --covers --tag filters" case_list_covers
it_case "list --name filters" case_list_name
it_case "lint passes on the shipped scenarios" case_lint
it_case "a small suite runs on the embedded stack and writes both reports" case_run_small
it_case "a failing scenario is exit 1 and the report is still written" case_run_failing
it_case "an unwritable report is exit 2" case_run_unwritable
it_case "an unclean stack shutdown is exit 1 and named with its log" case_run_unclean
it_case "Ctrl-C while the stack starts is 130 at once and cleans up" case_interrupt_starting
it_case "Ctrl-C during a run is 130 and removes the stack folder" case_interrupt_running
it_case "a misspelt profile key is exit 2 and names the known key" case_profile_unknown_key
it_case "an unknown [defaults] key is exit 2 and names the known key" case_profile_unknown_default
it_case "a scenario not checked is exit 4, --allow-partial makes it 0" case_exit_partial
it_case "konform mocks starts both mocks, prints a profile, Ctrl-C cleans up" case_mocks
it_done
