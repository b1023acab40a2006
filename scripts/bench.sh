#!/bin/sh
# Benchmarks: print figures, never fail on speed. Loopback only.
#   scripts/bench.sh BINDIR   (make bench)
#   BENCH_QUICK=1             a short run: fewer messages, copies and rounds
#   KONFORM_BEFORE_BIN=DIR    tests/bench/peers.sh also measures another build
# First the peers: the Debian ones through scripts/install-deps.sh --bench
# (as root; otherwise it says what to run and the bench goes on without
# them), MailDev and Newman from npm into build/bench/node_modules, and
# tests/bench/kbench.c built with libcurl. Whatever cannot be had is skipped
# by the benchmark that needs it, with one line saying so.
set -eu
bindir=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."
mkdir -p build/bench

scripts/install-deps.sh --bench || echo "bench: the Debian peers are missing; their figures are skipped"
if command -v npm >/dev/null 2>&1; then
  for pkg in maildev newman @orangeopensource/hurl; do
    name=${pkg#@orangeopensource/}
    [ -e "build/bench/node_modules/.bin/$name" ] && continue
    # Hurl's package downloads its binary at install time; where that is not
    # reachable it fails, and the bench reports Hurl as unavailable.
    npm install --no-audit --no-fund --loglevel=error --prefix build/bench "$pkg" \
      >build/bench/npm-"$name".log 2>&1 || echo "bench: npm could not install $pkg (build/bench/npm-$name.log)"
  done
else
  echo "bench: no npm: MailDev, Newman and Hurl are skipped"
fi
# shellcheck disable=SC2046
cc -O2 -std=c17 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -o build/bench/kbench tests/bench/kbench.c \
  $(pkg-config --cflags --libs libcurl) -lpthread

for b in tests/bench/*.sh; do
  [ -f "$b" ] || continue
  echo "== $b"
  KONFORM_BIN="$bindir" KBENCH="$(pwd)/build/bench/kbench" sh "$b"
done
