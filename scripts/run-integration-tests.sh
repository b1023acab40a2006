#!/bin/sh
# Runs every tests/integration/*.sh with the folder of the built programs.
set -u
bindir=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."
passed=0; failed=0; failed_names=""
for t in tests/integration/*.sh; do
  [ -f "$t" ] || continue
  echo "== $t"
  if KONFORM_BIN="$bindir" sh "$t"; then passed=$((passed + 1)); else failed=$((failed + 1)); failed_names="$failed_names $t"; fi
done
echo "integration tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ] || { echo "failed:$failed_names" >&2; exit 1; }
