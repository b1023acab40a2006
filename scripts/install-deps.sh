#!/bin/sh
# Installs the Debian packages konform needs that are missing.
# As root it runs apt-get; otherwise it prints the exact command and fails.
# It returns at once when nothing is missing (one dpkg-query call).
# --deb: also what `make deb` needs (DEB_PACKAGES).
# --bench: also the peers `make bench` compares against (BENCH_PACKAGES).
set -eu

PACKAGES="build-essential pkg-config ca-certificates curl clang-format jq python3 chromium
libmicrohttpd-dev libsqlite3-dev libcurl4-openssl-dev libjansson-dev libxml2-dev
liboath-dev libfido2-dev libcbor-dev libsodium-dev libgmime-3.0-dev libcmocka-dev libyaml-dev
libssl-dev libqrencode-dev oathtool python3-fido2 perl clang libclang-rt-14-dev"

# What `make deb` needs on top: only it and make check (which runs make
# deb-check) pass --deb, so `make run` on a workstation does not pull them;
# groff renders the man pages for make check's lint step (lint-man).
DEB_PACKAGES="dpkg-dev debhelper fakeroot groff-base"
# The peers of `make bench` (scripts/bench.sh): Postfix for its smtp-source
# load generator, nginx and wrk for the HTTP floor, valgrind for callgrind.
# Postfix and nginx are installed without starting their daemons (see below).
BENCH_PACKAGES="postfix nginx-light wrk valgrind"
bench=0
case "${1:-}" in
  --deb) PACKAGES="$PACKAGES $DEB_PACKAGES" ;;
  --bench)
    PACKAGES="$PACKAGES $BENCH_PACKAGES"
    bench=1
    ;;
esac

missing=""
for pkg in $PACKAGES; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  case "$status" in
    *" installed") ;;
    *) missing="$missing $pkg" ;;
  esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  echo "install-deps: installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  policy=""
  if [ "$bench" = 1 ]; then
    # Postfix would ask what kind of mail system this is and start its
    # daemon; the bench only runs smtp-source, so: no configuration, and a
    # policy-rc.d that forbids starting services (exit 101) unless one is set.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      policy=/usr/sbin/policy-rc.d
      printf '#!/bin/sh\nexit 101\n' >"$policy"
      chmod 755 "$policy"
    fi
  fi
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing || rc=$?
  [ -z "$policy" ] || rm -f "$policy"
  exit "${rc:-0}"
else
  echo "install-deps: missing Debian packages:$missing" >&2
  echo "install-deps: run:  sudo apt-get install -y$missing" >&2
  exit 1
fi
