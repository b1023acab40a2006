#!/bin/sh
# Benchmarks: print figures, never fail on speed. Loopback only.
set -eu
bindir=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."
for b in tests/bench/*.sh; do
  [ -f "$b" ] || continue
  echo "== $b"
  KONFORM_BIN="$bindir" sh "$b"
done
