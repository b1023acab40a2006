#!/bin/sh
# totp_oathtool.sh: the harness's authenticator app (the scenario generator
# totp(), harness/src/kh_totp.c) makes the codes oathtool makes (Debian
# oathtool, liboath: a party that is not konform) for random secrets of 10 to
# 64 bytes, several times (T0, RFC 6238's, random ones, one after 2286) and
# the steps either side, for SHA1, SHA256 and SHA512 with 6, 7 and 8 digits.
#
# Each algorithm is one case: a suite with one scenario per (secret, time)
# that sets the scenario clock on the embedded stack and expects the
# generator's codes to equal oathtool's. A missing oathtool fails (make
# check installs it with scripts/install-deps.sh); it is never skipped.
#
# Run from the repository root: KONFORM_BIN=<folder of built programs> sh tests/integration/totp_oathtool.sh
set -u

it_name=totp_oathtool
it_pid_vars=""
. tests/integration/lib/common.sh
konform="$bin/konform"

# rand N: a random whole number in 0..N-1.
rand() {
  echo $(($(od -An -N4 -tu4 /dev/urandom | tr -d ' ') % $1))
}
# secret BYTES: that many random bytes in Base32 (RFC 4648, with its padding).
secret() {
  head -c "$1" /dev/urandom | base32 -w 0
}
# iso T: Unix time T as the ISO 8601 time a clock step takes.
iso() {
  date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ
}

# write_suite ALG FILE: scenarios comparing totp() with oathtool for ALG.
write_suite() {
  alg=$1
  upper=$(echo "$alg" | tr a-z A-Z)
  : >"$2"
  n=0
  for bytes in 10 20 32 64 $((1 + $(rand 64))); do
    s=$(secret "$bytes")
    digits=$((6 + $(rand 3)))
    for t in 30 59 1111111109 1234567890 2000000000 20000000000 $(rand 4000000000) $(rand 4000000000); do
      n=$((n + 1))
      uri="otpauth://totp/Konform:oathtool?secret=$s&algorithm=$upper&digits=$digits&period=30"
      {
        printf 'scenario: oathtool %s %d (%d bytes, %d digits, t=%s)\ncovers: TOTP-02\n' \
          "$alg" "$n" "$bytes" "$digits" "$t"
        printf 'clock create "%s"\n' "$(iso "$t")"
        for off in -1 0 1; do
          code=$(oathtool --totp="$alg" -b -d "$digits" -N "@$((t + off * 30))" "$s") || return 1
          printf 'let c = totp("%s", offset=%d)\n' "$uri" "$off"
          printf 'expect var "c" == "%s"\n' "$code"
        done
        printf '\n'
      } >>"$2"
    done
  done
}

case_oathtool() {
  it_that "oathtool is installed (scripts/install-deps.sh installs Debian oathtool)" \
    command -v oathtool
}

# case_alg ALG: the generator agrees with oathtool for ALG.
case_alg() {
  command -v oathtool >/dev/null 2>&1 || { it_fail "oathtool is not installed"; return 1; }
  mkdir -p "$tmp/$1"
  write_suite "$1" "$tmp/$1/oathtool.konform" || { it_fail "oathtool failed"; return 1; }
  "$konform" run --jobs 4 --no-color --catalogue scenarios/catalogue.json "$tmp/$1" \
    >"$tmp/$1.out" 2>&1
  rc=$?
  it_that "konform run of the $1 comparisons: exit $rc; $(grep -E 'FAIL|expected|actual' \
    "$tmp/$1.out" | head -n 12)" [ "$rc" -eq 0 ]
  it_that "every $1 comparison ran" grep -q ' 40 passed' "$tmp/$1.out"
}
case_sha1() { case_alg sha1; }
case_sha256() { case_alg sha256; }
case_sha512() { case_alg sha512; }

it_case "oathtool is installed" case_oathtool
it_case "totp() equals oathtool --totp for HMAC-SHA1" case_sha1
it_case "totp() equals oathtool --totp=sha256" case_sha256
it_case "totp() equals oathtool --totp=sha512" case_sha512
it_done
