#!/bin/sh
# reports.sh: the TAP and HTML reports of a real run, read back by the tools
# that consume them: prove (Perl's TAP::Harness) and TAP::Parser's YAML
# reader. The fixture suite tests/fixtures/report-suite runs against a
# konform-server and konform-mail started here, under a profile without clock
# control, so it has a pass, a failure, an error and a skip. Loopback only;
# never sleeps. Prints TAP, one named case per behaviour
# (tests/integration/lib/common.sh).
#
# Run from the repository root: KONFORM_BIN=<folder of built programs> sh tests/integration/reports.sh
set -u

server_pid=""
mail_pid=""
it_name=reports
it_pid_vars="server_pid mail_pid"
. tests/integration/lib/common.sh
konform="$bin/konform"

case_stack() {
  it_start mail_pid "$tmp/mail.log" "$bin/konform-mail" --port 0 --smtp-port 0 \
    --log-level warn || return 1
  mail_http=$(it_ready_port http)
  smtp=$(it_ready_port smtp)
  it_start server_pid "$tmp/server.log" "$bin/konform-server" --port 0 --test-mode \
    --hash-cost test --db "$tmp/server.db" --smtp-url "smtp://127.0.0.1:$smtp" \
    --log-level warn || return 1
  base="http://127.0.0.1:$(it_ready_port http)"
  printf 'base_url = %s\nmail_api = http://127.0.0.1:%s\nclock = none\n' "$base" "$mail_http" \
    >"$tmp/no-clock.profile"
}

case_run() {
  code=0
  "$konform" run --target "$tmp/no-clock.profile" --catalogue scenarios/catalogue.json \
    --report "tap=$tmp/r.tap" --report "tap13=$tmp/r13.tap" --report "html=$tmp/r.html" \
    tests/fixtures/report-suite >"$tmp/run.out" 2>&1 || code=$?
  it_that "the fixture run exits 1 (it fails on purpose), not $code: $(tail -n 5 "$tmp/run.out")" \
    [ "$code" -eq 1 ]
  it_that "TAP 14 starts with its version and plan" \
    [ "$(head -n 2 "$tmp/r.tap" | tr '\n' ' ')" = "TAP version 14 1..4 " ]
  it_that "TAP 13 differs only in its version line" \
    [ "$(tail -n +2 "$tmp/r.tap")" = "$(tail -n +2 "$tmp/r13.tap")" ]
  it_that "the HTML report is written" [ -s "$tmp/r.html" ]
}

# prove_summary FILE: prove's report on FILE in $tmp/prove.out, its exit code in $prove_rc.
prove_summary() {
  prove_rc=0
  prove -e cat "$1" >"$tmp/prove.out" 2>&1 || prove_rc=$?
}

case_prove13() {
  if ! command -v prove >/dev/null 2>&1; then
    it_skip "prove is not installed (Debian: perl)"
    return 0
  fi
  prove_summary "$tmp/r13.tap"
  it_that "prove fails the run (exit $prove_rc): $(cat "$tmp/prove.out")" [ "$prove_rc" -ne 0 ]
  it_that "prove counts 4 tests, 2 failed: $(cat "$tmp/prove.out")" \
    grep -q 'Tests: 4 Failed: 2)' "$tmp/prove.out"
  it_that "prove names tests 2 and 3 (failure, error)" grep -q 'Failed tests:  2-3' "$tmp/prove.out"
  it_that "prove finds no parse error: $(cat "$tmp/prove.out")" \
    sh -c "! grep -q 'Parse errors' '$tmp/prove.out'"
}

case_prove14() {
  if ! command -v prove >/dev/null 2>&1; then
    it_skip "prove is not installed (Debian: perl)"
    return 0
  fi
  prove_summary "$tmp/r.tap"
  it_that "prove counts 4 tests, 2 failed: $(cat "$tmp/prove.out")" \
    grep -q 'Tests: 4 Failed: 2)' "$tmp/prove.out"
  it_that "prove names tests 2 and 3 (failure, error)" grep -q 'Failed tests:  2-3' "$tmp/prove.out"
  # prove 3.44 (Debian 12) knows TAP up to version 13 and says so; it finds nothing else.
  it_that "prove's only complaint is the version: $(cat "$tmp/prove.out")" \
    sh -c "! grep 'Parse errors' '$tmp/prove.out' | grep -v 'TAP specified version 14 but we' | grep -q ."
}

# What TAP::Parser makes of every test point and YAML block, one line each.
parse_tap() {
  perl -MTAP::Parser -e '
    my $p = TAP::Parser->new({source => $ARGV[0]});
    my $n = "";
    while (my $r = $p->next) {
      if ($r->is_test) {
        $n = $r->number;
        printf "test %d %s skip=%s\n", $n, ($r->is_ok ? "ok" : "not-ok"),
          ($r->has_skip ? $r->explanation : "");
      } elsif ($r->is_yaml) {
        my $y = $r->data;
        printf "yaml %s %s %s:%s %s\n", $n, $y->{severity}, $y->{at}{file}, $y->{at}{line},
          $y->{message};
        printf "expect %s %s | %s\n", $n, $_->{expect}, $_->{actual} for @{$y->{expects} || []};
        printf "request %s %s\n", $n, $y->{request};
      }
    }' "$1"
}

case_yaml() {
  if ! perl -MTAP::Parser -e 1 2>/dev/null; then
    it_skip "Perl's TAP::Parser is not installed (Debian: perl)"
    return 0
  fi
  parse_tap "$tmp/r13.tap" >"$tmp/parsed" 2>&1
  f=tests/fixtures/report-suite/report-fixture.konform
  it_that "four test points in run order: $(cat "$tmp/parsed")" \
    [ "$(grep -c '^test ' "$tmp/parsed")" -eq 4 ]
  it_that "the skip carries its reason" grep -q '^test 4 ok skip=.*clock' "$tmp/parsed"
  it_that "the failure's YAML names where and why" \
    grep -qx "yaml 2 fail $f:30 expect status == 418: got 200" "$tmp/parsed"
  it_that "the failure's YAML has the failing expect" \
    grep -qx "expect 2 expect status == 418 | got 200" "$tmp/parsed"
  it_that "the failure's YAML has the request" \
    grep -q "^request 2 GET http://127.0.0.1:[0-9]*/api/v1/health\$" "$tmp/parsed"
  it_that "the error's YAML says it is one" grep -q "^yaml 3 error $f:" "$tmp/parsed"
}

it_case "a konform-server and a konform-mail for the fixture suite" case_stack
it_case "a run writes TAP 14, TAP 13 and HTML" case_run
it_case "prove reads the TAP 13 report: 4 tests, the failure and the error failed" case_prove13
it_case "prove reads the TAP 14 report the same, its version aside" case_prove14
it_case "TAP::Parser reads every YAML block back" case_yaml
it_done
