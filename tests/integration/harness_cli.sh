#!/bin/sh
# The konform command line: exit codes, list, lint, and (when the servers are
# built) runs against the embedded reference stack with both reports, and
# Ctrl-C cleaning up the stack. Loopback only; never sleeps.
#
#   KONFORM_BIN=build/bin sh tests/integration/harness_cli.sh
set -u
bin=${KONFORM_BIN:?set KONFORM_BIN to the folder of the built programs}
konform="$bin/konform"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/konform-cli-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
fails=0

ok() { echo "ok   $1"; }
bad() { echo "FAIL $1" >&2; fails=$((fails + 1)); }

# expect_code WANT NAME CMD...: run CMD, compare the exit code.
expect_code() {
  want=$1; name=$2; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  got=$?
  if [ "$got" -eq "$want" ]; then ok "$name (exit $got)"; else
    bad "$name: exit $got, wanted $want"; sed 's/^/    /' "$tmp/err" | tail -n 20 >&2
  fi
}

# ---- Usage errors: exit 2. ----
expect_code 0 "version" "$konform" version
grep -q '^konform [0-9]' "$tmp/out" || bad "version prints 'konform <version>'"
expect_code 0 "help" "$konform" help
expect_code 2 "no command" "$konform"
expect_code 2 "unknown command" "$konform" explode
expect_code 2 "unknown option" "$konform" run --frobnicate
expect_code 2 "bad --jobs" "$konform" run --jobs zero
expect_code 2 "missing option value" "$konform" run --target
expect_code 2 "bad --report" "$konform" run --report xml=out.xml

# ---- Parse errors: exit 2 with file:line:col on stderr. ----
mkdir -p "$tmp/bad"
printf 'scenario: broken\ncovers: ACC-01\nGET /api/v1/health\n  expect status 200\n' >"$tmp/bad/broken.konform"
expect_code 2 "parse error (run)" "$konform" run --catalogue scenarios/catalogue.json "$tmp/bad"
grep -q 'broken.konform:4:[0-9][0-9]*: error' "$tmp/err" || bad "parse error names file:line:col"
expect_code 2 "parse error (list)" "$konform" list "$tmp/bad"
expect_code 2 "parse error (lint)" "$konform" lint --catalogue scenarios/catalogue.json "$tmp/bad"

# ---- A small valid suite of our own. ----
mkdir -p "$tmp/suite"
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

# ---- run lints first: a lint error is exit 2 before any target is touched. ----
mkdir -p "$tmp/unlinted"
printf 'scenario: unbekannt\ncovers: NOPE-99\nGET /api/v1/health\n  expect status == 200\n' \
  >"$tmp/unlinted/u.konform"
expect_code 2 "lint error stops run" "$konform" run --target "$tmp/nowhere-yet.profile" \
  --catalogue scenarios/catalogue.json "$tmp/unlinted"
grep -q 'u.konform:[0-9][0-9]*:[0-9][0-9]*: error: .*NOPE-99' "$tmp/err" || bad "run prints the lint error as file:line:col"
grep -q 'nothing was run' "$tmp/err" || bad "run says that nothing was run"

# ---- A selection that matches nothing is exit 2, not a conforming run. ----
expect_code 2 "empty selection" "$konform" run --target "$tmp/nowhere-yet.profile" \
  --catalogue scenarios/catalogue.json --name "kein solches Szenario" "$tmp/suite"
grep -q 'no scenario matches the filters' "$tmp/err" || bad "empty selection is named on stderr"

# ---- Unreachable target: exit 3 before anything runs. ----
printf 'base_url = http://127.0.0.1:1\nclock = none\n' >"$tmp/nowhere.profile"
expect_code 3 "unreachable --target" "$konform" run --target "$tmp/nowhere.profile" \
  --catalogue scenarios/catalogue.json "$tmp/suite"
grep -q 'unreachable' "$tmp/err" || bad "unreachable target is named on stderr"
expect_code 2 "missing profile file" "$konform" run --target "$tmp/no-such.profile" \
  --catalogue scenarios/catalogue.json "$tmp/suite"

# ---- list and lint on the shipped scenarios. ----
expect_code 0 "list scenarios" "$konform" list scenarios
n=$(grep -c 'covers: .*ACC-' "$tmp/out")
[ "$n" -gt 0 ] && ok "list shows $n scenarios" || bad "list shows scenarios with covers"
grep -q '\.konform:[0-9][0-9]*	' "$tmp/out" || bad "list lines start with file:line"
expect_code 0 "list --covers filter" "$konform" list --covers ACC-06 --tag clock "$tmp/suite"
[ "$(wc -l <"$tmp/out")" -eq 1 ] || bad "list --covers ACC-06 --tag clock shows exactly one scenario"
expect_code 0 "list --name filter" "$konform" list --name Gesundheit "$tmp/suite"
[ "$(wc -l <"$tmp/out")" -eq 1 ] || bad "list --name shows exactly one scenario"
expect_code 0 "lint scenarios" "$konform" lint scenarios

# ---- Runs against the embedded reference stack (once the servers exist). ----
if [ -x "$bin/konform-server" ] && [ -x "$bin/konform-mail" ] && [ -x "$bin/konform-post" ]; then
  expect_code 0 "run small suite on the embedded stack" "$konform" run --jobs 2 --no-color \
    --catalogue scenarios/catalogue.json --seed 42 \
    --report "json=$tmp/report.json" --report "junit=$tmp/junit.xml" "$tmp/suite"
  grep -q 'seed 42' "$tmp/out" || bad "the seed is printed"
  [ -s "$tmp/report.json" ] && ok "JSON report written" || bad "JSON report written"
  [ -s "$tmp/junit.xml" ] && ok "JUnit report written" || bad "JUnit report written"
  grep -q 'Die Gesundheitsroute antwortet' "$tmp/report.json" || bad "JSON report names the scenario"
  grep -q '<testsuite' "$tmp/junit.xml" || bad "JUnit report has a testsuite"

  # A failing expectation is exit 1, and the report still gets written.
  mkdir -p "$tmp/failing"
  printf 'scenario: falsch\ncovers: ACC-01\nGET /api/v1/health\n  expect status == 418\n' \
    >"$tmp/failing/f.konform"
  expect_code 1 "failing scenario is exit 1" "$konform" run --no-color --catalogue scenarios/catalogue.json \
    --report "json=$tmp/fail.json" "$tmp/failing"
  grep -q 'f.konform' "$tmp/out" || bad "the failure names its file"
  [ -s "$tmp/fail.json" ] || bad "JSON report written for a failing run"

  # A report that cannot be written is exit 2.
  expect_code 2 "unwritable report is exit 2" "$konform" run --no-color --catalogue scenarios/catalogue.json \
    --report "json=$tmp/no/such/dir/r.json" "$tmp/suite"

  # A stack program that does not exit cleanly on SIGTERM (as a sanitizer
  # build does when it finds a leak) turns a passing run into exit 1.
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
  grep -q "konform-post exited with status 3" "$tmp/err" && grep -q "simulated finding" "$tmp/err" &&
    ok "the unclean exit is named with its log" || bad "the unclean exit is named with its log"

  # Ctrl-C while the stack starts: a program that never writes READY must not
  # hold the interrupt up for its 30 s READY timeout. The stand-in for
  # konform-mail says "started" through a FIFO and then blocks opening a FIFO
  # nobody ever writes to; SIGINT goes out only once it said so.
  mkdir -p "$tmp/hang" "$tmp/hangtmp"
  cp "$konform" "$tmp/hang/"
  mkfifo "$tmp/hang-started" "$tmp/hang-never"
  cat >"$tmp/hang/konform-mail" <<WRAP
#!/bin/sh
echo started >"$tmp/hang-started"
read never <"$tmp/hang-never"
WRAP
  chmod +x "$tmp/hang/konform-mail"
  TMPDIR="$tmp/hangtmp" "$tmp/hang/konform" run --no-color --catalogue scenarios/catalogue.json \
    "$tmp/suite" >/dev/null 2>"$tmp/hang.err" &
  pid=$!
  read started <"$tmp/hang-started"
  t0=$(date +%s)
  kill -INT "$pid"
  wait "$pid"
  code=$?
  t1=$(date +%s)
  [ "$code" -eq 130 ] && ok "Ctrl-C while starting exits 130" ||
    bad "Ctrl-C while starting exits 130 (got $code)"
  [ $((t1 - t0)) -lt 10 ] && ok "Ctrl-C while starting is not held up ($((t1 - t0)) s)" ||
    bad "Ctrl-C while starting took $((t1 - t0)) s (the READY wait held it up)"
  [ -z "$(ls -A "$tmp/hangtmp")" ] && ok "Ctrl-C while starting removes the stack folder" ||
    bad "Ctrl-C while starting removes the stack folder"

  # Ctrl-C: the stack stops, its folder goes away, exit 130.
  mkdir -p "$tmp/slow" "$tmp/stacktmp"
  printf 'scenario: wartet\ncovers: ACC-05\nwait mail to "niemand@konform.test" within 60s\n  expect mail.subject exists\n' >"$tmp/slow/w.konform"
  mkfifo "$tmp/fifo"
  TMPDIR="$tmp/stacktmp" "$konform" run --no-color --catalogue scenarios/catalogue.json "$tmp/slow" \
    >"$tmp/fifo" 2>"$tmp/int.err" &
  pid=$!
  # The header line is printed once the stack is up and the run begins.
  started=no
  while IFS= read -r line; do
    case "$line" in seed*) started=yes; break ;; esac
  done <"$tmp/fifo"
  if [ "$started" = yes ]; then
    kill -INT "$pid"
    wait "$pid"
    code=$?
    [ "$code" -eq 130 ] && ok "Ctrl-C exits 130" || bad "Ctrl-C exits 130 (got $code)"
    [ -z "$(ls -A "$tmp/stacktmp")" ] && ok "Ctrl-C removes the stack folder" || bad "Ctrl-C removes the stack folder"
  else
    wait "$pid"
    bad "interrupted run never started"; tail -n 20 "$tmp/int.err" >&2
  fi
else
  echo "skip runs against the embedded stack: the servers are not built in $bin"
fi

if [ "$fails" -eq 0 ]; then echo "harness_cli: all passed"; exit 0; fi
echo "harness_cli: $fails failed" >&2
exit 1
