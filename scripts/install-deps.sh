#!/bin/sh
# Installs the Debian packages konform needs that are missing.
# As root it runs apt-get; otherwise it prints the exact command and fails.
# It returns at once when nothing is missing (one dpkg-query call).
# --deb: also what `make deb` needs (DEB_PACKAGES).
set -eu

PACKAGES="build-essential pkg-config ca-certificates curl clang-format jq python3 chromium
libmicrohttpd-dev libsqlite3-dev libcurl4-openssl-dev libjansson-dev libxml2-dev
liboath-dev libfido2-dev libcbor-dev libsodium-dev libgmime-3.0-dev libcmocka-dev libyaml-dev
libssl-dev libqrencode-dev oathtool python3-fido2 perl clang libclang-rt-14-dev"

# What `make deb` needs on top: only it and make check (which runs make
# deb-check) pass --deb, so `make run` on a workstation does not pull them;
# groff renders the man pages for make check's lint step (lint-man).
DEB_PACKAGES="dpkg-dev debhelper fakeroot groff-base"
if [ "${1:-}" = --deb ]; then
  PACKAGES="$PACKAGES $DEB_PACKAGES"
fi

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
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing
else
  echo "install-deps: missing Debian packages:$missing" >&2
  echo "install-deps: run:  sudo apt-get install -y$missing" >&2
  exit 1
fi
