#!/bin/sh
# timing.sh: how often the timing scenarios ("same time class", AUTH-04 and
# ACC-10) raise a false alarm against the honest reference stack, and how
# often they cannot decide. Each run is a fresh embedded stack (its timing
# server hashes at the interactive cost) and a fresh seed. Prints figures,
# never fails on them: the rates are a property of the statistical test and
# the machine, not a pass/fail gate.
#   KONFORM_TIMING_RUNS  number of runs (default 10; 3 with BENCH_QUICK=1)
set -eu

bin=${KONFORM_BIN:-build/bin}
quick_runs=10
[ "${BENCH_QUICK:-0}" != 1 ] || quick_runs=3
runs=${KONFORM_TIMING_RUNS:-$quick_runs}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/konform-timing.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

pass=0 fail=0 skip=0 other=0
t0=$(date +%s)
i=1
while [ "$i" -le "$runs" ]; do
  # Exit 1 (a false alarm) and 4 (undecided) are figures here, not errors.
  "$bin/konform" run --tag timing --no-color --allow-partial --catalogue scenarios/catalogue.json \
    --report "json=$tmp/run.json" scenarios >"$tmp/run.out" 2>&1 || true
  if [ ! -s "$tmp/run.json" ]; then
    echo "run $i wrote no report:"
    tail -n 20 "$tmp/run.out"
    exit 1
  fi
  for s in $(jq -r '.scenarios[].status' "$tmp/run.json"); do
    case $s in
      pass) pass=$((pass + 1)) ;;
      fail) fail=$((fail + 1)) ;;
      skip) skip=$((skip + 1)) ;;
      *) other=$((other + 1)) ;;
    esac
  done
  rm -f "$tmp/run.json"
  i=$((i + 1))
done
t1=$(date +%s)
total=$((pass + fail + skip + other))
echo "timing scenarios, honest reference: $runs runs, $total scenario runs in $((t1 - t0)) s"
echo "  same time class (pass):       $pass"
echo "  false alarms (fail):          $fail  ($(awk "BEGIN{printf \"%.1f\", 100*$fail/($total>0?$total:1)}") %)"
echo "  undecided, not checked (skip): $skip  ($(awk "BEGIN{printf \"%.1f\", 100*$skip/($total>0?$total:1)}") %)"
[ "$other" -eq 0 ] || echo "  errors:                       $other"
