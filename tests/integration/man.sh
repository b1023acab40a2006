#!/bin/sh
# man.sh: the man pages (man/) are written by hand, so this holds them to
# the programs: every option of each program's --help has an entry in its
# page, every command of `konform help` one in konform(1), and each page
# renders without a groff warning. Also `konform --version` names the
# catalogue. Prints TAP (tests/integration/lib/common.sh).
#
# Run from the repository root: KONFORM_BIN=<folder of built programs> sh tests/integration/man.sh
set -u

it_name=man
it_pid_vars=""
. tests/integration/lib/common.sh

# The long options of a --help text: "  --name ..." lines.
options_of() {
  "$bin/$1" --help | sed -n 's/^  \(--[a-z0-9-]*\).*/\1/p'
}

case_options() {
  for prog in konform-server konform-mail konform-post; do
    n=0
    for opt in $(options_of "$prog"); do
      n=$((n + 1))
      roff=$(printf '%s' "$opt" | sed 's/-/\\\\-/g')
      it_that "$prog $opt has an entry in man/$prog.1" grep -q "^\.[A-Z]* *$roff\\( \\|\$\\)" "man/$prog.1"
    done
    it_that "$prog --help lists options ($n)" [ "$n" -gt 3 ]
  done
  n=0
  for opt in $("$bin/konform" help | sed -n 's/^  \(--[a-z0-9-]*\).*/\1/p'); do
    n=$((n + 1))
    roff=$(printf '%s' "$opt" | sed 's/-/\\\\-/g')
    it_that "konform $opt has an entry in man/konform.1" grep -q "^\.[A-Z]* *$roff\\( \\|\$\\|\"\\)" man/konform.1
  done
  it_that "konform help lists options ($n)" [ "$n" -gt 10 ]
}

case_commands() {
  "$bin/konform" help | sed -n '/^commands:/,/^$/s/^  \([a-z][a-z]*\).*/\1/p' >"$tmp/commands"
  it_that "konform help lists commands" [ "$(wc -l <"$tmp/commands")" -gt 5 ]
  while read -r cmd; do
    it_that "command $cmd has an entry in man/konform.1" grep -q "^\.B[IR]* *$cmd\\( \\|\$\\)" man/konform.1
  done <"$tmp/commands"
}

case_lint() {
  if ! command -v groff >/dev/null 2>&1; then
    it_skip "groff is not installed"
    return 0
  fi
  for page in man/*.[15]; do
    groff -ww -z -man "$page" >"$tmp/warn" 2>&1
    it_that "$page renders without warnings: $(head -c 400 "$tmp/warn")" [ ! -s "$tmp/warn" ]
    name=$(basename "$page" | sed 's/\.[0-9]$//')
    it_that "$page has NAME $name" grep -q "^$name \\\\- " "$page"
    for section in NAME SYNOPSIS DESCRIPTION "SEE ALSO"; do
      it_that "$page has $section" grep -q "^\.SH \"*$section" "$page"
    done
  done
}

case_version() {
  "$bin/konform" --version >"$tmp/v" 2>&1
  version=$(sed -n 's/^#define KONFORM_VERSION "\(.*\)"/\1/p' lib/include/kf/version.h)
  it_that "konform --version says konform $version ($(cat "$tmp/v"))" grep -qx "konform $version" "$tmp/v"
  it_that "and the catalogue's version, size and hash" \
    grep -q '^catalogue version 1, [0-9]* requirements in [0-9]* areas, hash [0-9a-f]\{32\} (.*catalogue.json)$' "$tmp/v"
  "$bin/konform" version --catalogue "$tmp/none.json" >"$tmp/v" 2>&1
  it_that "a --catalogue that is not there is an error" [ $? -eq 2 ]
  for prog in konform-server konform-mail konform-post; do
    it_that "$prog --version says $version" sh -c "'$bin/$prog' --version | grep -q ' $version\$'"
  done
  for page in man/*.[15]; do
    it_that "$page is of konform $version" grep -q "^\.TH .*\"konform $version\"" "$page"
  done
}

it_case "every option has an entry" case_options
it_case "every konform command has an entry" case_commands
it_case "the pages render without warnings" case_lint
it_case "--version" case_version
it_done
