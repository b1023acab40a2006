#!/bin/sh
# Runs every tests/integration/*.sh with the folder of the built programs.
# Each script prints TAP (one named case per behaviour); this shows it once
# the script ended (into a file, not a pipe, so a process a script left behind
# cannot hold the run up) and ends with one line that counts the cases of all
# scripts:
#
#   integration: N passed, N failed, N skipped
#
# A script that bails out, exits non-zero without a failed case, or whose
# plan does not match its test lines counts as one more failure (on top of
# its failed cases), so a crash never passes. `prove -e sh tests/integration/*.sh` (with KONFORM_BIN set)
# reads the same scripts.
set -u
bindir=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."
out=$(mktemp "${TMPDIR:-/tmp}/integration.XXXXXX")
trap 'rm -f "$out"' EXIT
passed=0
failed=0
skipped=0
failed_names=""

# count PATTERN: how many lines of $out match PATTERN (grep -c, never fails).
count() {
  grep -c -- "$1" "$out" || true
}

for t in tests/integration/*.sh; do
  [ -f "$t" ] || continue
  echo "# $t"
  rc=0
  KONFORM_BIN="$bindir" sh "$t" </dev/null >"$out" 2>&1 || rc=$?
  cat "$out"
  n_ok=$(count '^ok [0-9]')
  n_skip=$(count '^ok [0-9][0-9]* .*# SKIP')
  n_not=$(count '^not ok [0-9]')
  plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' "$out" | tail -n 1)
  passed=$((passed + n_ok - n_skip))
  skipped=$((skipped + n_skip))
  failed=$((failed + n_not))
  problem=""
  if grep -q '^Bail out!' "$out"; then
    problem="bailed out"
  elif [ -z "$plan" ]; then
    problem="printed no plan (exit status $rc)"
  elif [ "$plan" -ne $((n_ok + n_not)) ]; then
    problem="planned $plan cases but ran $((n_ok + n_not))"
  elif [ "$rc" -ne 0 ] && [ "$n_not" -eq 0 ]; then
    problem="exited $rc without a failed case"
  fi
  if [ -n "$problem" ]; then
    echo "# $t $problem"
    failed=$((failed + 1))
  fi
  if [ -n "$problem" ] || [ "$n_not" -ne 0 ]; then failed_names="$failed_names $t"; fi
done
echo "integration: $passed passed, $failed failed, $skipped skipped"
[ -z "$failed_names" ] || {
  echo "failed:$failed_names" >&2
  exit 1
}
