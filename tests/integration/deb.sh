#!/bin/sh
# deb.sh: the Debian package that `make deb` built ($KONFORM_DEB) holds the
# programs, the suite and catalogue, the man pages and the completion; its
# programs run from where it puts them; and, installed (apt as root), a plain
# `konform run` in an empty folder runs the installed suite from
# /usr/share/konform against the embedded stack of the installed servers and
# passes. Without root it unpacks the package with dpkg -x and runs that
# suite by its path. `make deb-check` builds the package and runs this;
# `make integration` only says it is skipped.
# Prints TAP (tests/integration/lib/common.sh).
#
# Run from the repository root: KONFORM_DEB=build/deb/konform_VERSION_ARCH.deb sh tests/integration/deb.sh
set -u

it_name=deb
it_pid_vars=""
. tests/integration/lib/common.sh
deb=${KONFORM_DEB:-}
root="$tmp/root"
installed_by_us=0

need_deb() {
  if [ -z "$deb" ]; then
    it_skip "make deb-check runs this (KONFORM_DEB names the package)"
    return 1
  fi
  return 0
}

case_contents() {
  need_deb || return 0
  it_that "$deb exists" [ -f "$deb" ] || return 1
  dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$tmp/files"
  for f in /usr/bin/konform /usr/bin/konform-server /usr/bin/konform-mail /usr/bin/konform-post \
    /usr/share/konform/scenarios/catalogue.json /usr/share/konform/scenarios/fragments/ \
    /usr/share/man/man1/konform.1.gz /usr/share/man/man1/konform-server.1.gz \
    /usr/share/man/man1/konform-mail.1.gz /usr/share/man/man1/konform-post.1.gz \
    /usr/share/man/man5/konform-scenario.5.gz /usr/share/bash-completion/completions/konform \
    /usr/share/doc/konform/copyright /usr/share/doc/konform/changelog.gz; do
    it_that "the package holds $f" grep -qxF "$f" "$tmp/files"
  done
  n_pkg=$(grep -c '\.konform$' "$tmp/files")
  n_src=$(find scenarios -name '*.konform' | wc -l)
  it_that "the package holds every scenario file ($n_pkg of $n_src)" [ "$n_pkg" -eq "$n_src" ]
  depends=$(dpkg-deb -f "$deb" Depends)
  for lib in libcurl4 libsodium23 libmicrohttpd12 libsqlite3-0; do
    it_that "Depends names $lib (from \${shlibs:Depends}: $depends)" sh -c "echo '$depends' | grep -q '$lib'"
  done
  it_that "the version is kf/version.h's" [ "$(dpkg-deb -f "$deb" Version)" = \
    "$(sed -n 's/^#define KONFORM_VERSION "\(.*\)"/\1/p' lib/include/kf/version.h)" ]
  if command -v lintian >/dev/null 2>&1; then
    lintian --tag-display-limit 0 "$deb" >"$tmp/lintian" 2>&1
    it_that "lintian finds no error: $(grep '^E:' "$tmp/lintian" | head -n 5)" \
      sh -c "! grep -q '^E:' '$tmp/lintian'"
  fi
}

# The summary of a run's output in file: "N passed, 0 failed, 0 skipped", N > 0.
expect_summary() {
  line=$(tail -n 1 "$1")
  it_that "$2: the summary says all passed ($line)" \
    sh -c "echo '$line' | grep -qx '[1-9][0-9]* passed, 0 failed, [0-9]* skipped'"
}

case_unpacked() {
  need_deb || return 0
  dpkg -x "$deb" "$root" || {
    it_fail "dpkg -x $deb failed"
    return 1
  }
  it_that "konform --version runs" sh -c "'$root/usr/bin/konform' --version | grep -q '^konform '"
  "$root/usr/bin/konform" help >"$tmp/help"
  it_that "the installed konform's default suite is /usr/share/konform/scenarios" \
    grep -q '/usr/share/konform/scenarios' "$tmp/help"
  data="$root/usr/share/konform/scenarios"
  "$root/usr/bin/konform" lint "$data" >"$tmp/out" 2>&1
  it_that "the unpacked suite lints: $(tail -n 3 "$tmp/out")" [ $? -eq 0 ]
  if [ "$(id -u)" -eq 0 ]; then
    return 0 # the installed package runs the whole suite below
  fi
  # The servers next to the unpacked konform, not any others on PATH.
  (cd "$tmp" && PATH=/usr/bin:/bin "$root/usr/bin/konform" run --allow-partial "$data") \
    >"$tmp/out" 2>&1
  it_that "the unpacked konform run exits 0: $(tail -n 5 "$tmp/out")" [ $? -eq 0 ]
  expect_summary "$tmp/out" "the unpacked run"
}

case_installed() {
  need_deb || return 0
  if [ "$(id -u)" -ne 0 ]; then
    it_skip "not root: apt cannot install the package (the unpacked one ran above)"
    return 0
  fi
  if dpkg-query -W -f='${Status}' konform 2>/dev/null | grep -q ' installed$'; then
    it_skip "a konform package is installed already; this leaves it alone"
    return 0
  fi
  abs=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=120 "$abs" >"$tmp/apt" 2>&1
  it_that "apt installs the package: $(tail -n 5 "$tmp/apt")" [ $? -eq 0 ] || return 1
  installed_by_us=1
  it_that "konform is /usr/bin/konform" [ "$(command -v konform)" = /usr/bin/konform ]
  it_that "man finds konform(1)" sh -c 'man -w konform >/dev/null 2>&1'
  it_that "man finds konform-scenario(5)" sh -c 'man -w 5 konform-scenario >/dev/null 2>&1'
  mkdir -p "$tmp/empty"
  # An empty folder: no ./scenarios, so the installed suite and catalogue.
  (cd "$tmp/empty" && konform --version) >"$tmp/out" 2>&1
  it_that "konform --version names the installed catalogue: $(cat "$tmp/out")" \
    grep -q '(/usr/share/konform/scenarios/catalogue.json)$' "$tmp/out"
  (cd "$tmp/empty" && konform run --allow-partial) >"$tmp/out" 2>&1
  it_that "the installed konform run exits 0: $(tail -n 5 "$tmp/out")" [ $? -eq 0 ]
  expect_summary "$tmp/out" "the installed run"
  n_run=$(sed -n 's/.* \([0-9]*\) scenarios in .*/\1/p' "$tmp/out" | tail -n 1)
  n_src=$("$root/usr/bin/konform" list "$root/usr/share/konform/scenarios" 2>/dev/null | wc -l)
  it_that "it ran the installed suite ($n_run of $n_src scenarios)" [ "${n_run:-0}" -eq "$n_src" ]
}

# Only a package this script installed is removed again.
case_remove() {
  need_deb || return 0
  if [ "$installed_by_us" -ne 1 ]; then
    it_skip "nothing was installed"
    return 0
  fi
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq -o DPkg::Lock::Timeout=120 konform \
    >"$tmp/apt" 2>&1
  it_that "apt removes it again: $(tail -n 5 "$tmp/apt")" [ $? -eq 0 ]
  it_that "and /usr/share/konform with it" [ ! -e /usr/share/konform ]
}

it_case "the package's contents" case_contents
it_case "unpacked with dpkg -x, its programs run" case_unpacked
it_case "installed, konform run runs the installed suite" case_installed
it_case "removed again" case_remove
it_done
