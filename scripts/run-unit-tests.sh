#!/bin/sh
# Runs every cmocka test binary in a folder and ends with one summary line.
set -u
dir=$1
passed=0; failed=0; failed_names=""
for t in "$dir"/test_*; do
  [ -x "$t" ] || continue
  if "$t"; then passed=$((passed + 1)); else failed=$((failed + 1)); failed_names="$failed_names $(basename "$t")"; fi
done
# The closing line alone, in the plain "N passed, N failed" form CI reads.
echo "# unit test binaries in $dir"
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ] || { echo "failed:$failed_names" >&2; exit 1; }
