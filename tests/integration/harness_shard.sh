#!/bin/sh
# harness_shard.sh: konform run --shard K/N, konform merge, konform explain
# and konform repro: shards of the suite against the embedded stack, merged,
# give the single run's summary and requirement verdicts; a missing shard
# leaves its requirements not checked; reports of different suites are
# refused; a repro script replays a scenario with the outcome of konform run,
# passing and (with a fault of the server) failing at the same line.
# Loopback only; never sleeps. Prints TAP (tests/integration/lib/common.sh).
#
# Run from the repository root: KONFORM_BIN=<folder of built programs> sh tests/integration/harness_shard.sh
set -u

it_name=harness_shard
mail_pid=""
post_pid=""
server_pid=""
it_pid_vars="mail_pid post_pid server_pid"
. tests/integration/lib/common.sh
konform="$bin/konform"
# The scenarios of one area: a real suite, without the timing scenarios whose
# verdict may be "undecided" on a loaded machine.
suite=scenarios/acc
same="--seed 20260328 --run-id 00000000c0ffee00"

# expect_code WANT WHAT CMD...: run CMD (stdout in $tmp/out, stderr in $tmp/err).
expect_code() {
  want=$1
  what=$2
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  got=$?
  it_that "$what: exit $got, wanted $want; stderr: $(tail -n 20 "$tmp/err")" [ "$got" -eq "$want" ]
}
expect_in() {
  it_that "$3 (in $(head -c 600 "$1"))" grep -q -- "$2" "$1"
}
needs_stack() {
  if [ -x "$bin/konform-server" ] && [ -x "$bin/konform-mail" ] && [ -x "$bin/konform-post" ]; then
    return 0
  fi
  it_skip "the servers are not built in $bin"
  return 1
}
# The verdict two reports must share: the counts and every requirement.
verdict() {
  jq -S '{summary: (.summary | del(.duration_ms)), requirements, scenarios: [.scenarios[] | {name, file, line, status}]}' "$1"
}

case_shard_usage() {
  for bad in 0/4 5/4 1/0 a/b 4 1/4/4; do
    expect_code 2 "--shard $bad" "$konform" list --shard "$bad" "$suite"
    expect_in "$tmp/err" "--shard" "--shard $bad names the option"
  done
  expect_in "$tmp/err" "wants K/N" "a malformed value says the form"
  expect_code 2 "--shard for lint" "$konform" lint --shard 1/2 "$suite"
}

case_list_deal() {
  "$konform" list "$suite" 2>/dev/null | sort >"$tmp/all" || return 1
  : >"$tmp/dealt"
  for k in 1 2 3 4; do
    "$konform" list --shard "$k/4" "$suite" 2>/dev/null >"$tmp/part$k"
    cat "$tmp/part$k" >>"$tmp/dealt"
  done
  sort "$tmp/dealt" >"$tmp/dealt.sorted"
  it_that "the four shards together list every scenario once" cmp -s "$tmp/all" "$tmp/dealt.sorted"
  n1=$(wc -l <"$tmp/part1")
  n4=$(wc -l <"$tmp/part4")
  it_that "the shards are balanced ($n1 and $n4 scenarios)" [ $((n1 - n4)) -le 1 ]
}

# Shared by the cases below: the single run and its four shards, run once.
run_all() {
  [ -f "$tmp/single.json" ] && return 0
  # shellcheck disable=SC2086
  "$konform" run $same --jobs 4 --report json="$tmp/single.json" "$suite" >"$tmp/single.out" 2>&1
  for k in 1 2 3 4; do
    # shellcheck disable=SC2086
    "$konform" run $same --jobs 2 --shard "$k/4" --report json="$tmp/shard$k.json" "$suite" \
      >"$tmp/shard$k.out" 2>&1
  done
  [ -f "$tmp/single.json" ] && [ -f "$tmp/shard4.json" ]
}

case_merge_equals_single() {
  needs_stack || return 0
  it_that "the single run and the shards ran" run_all || return 1
  it_that "shard 2 says which it is" [ "$(jq -c .shard "$tmp/shard2.json")" = '{"index":2,"total":4}' ]
  expect_code 0 "merge of the four shards" "$konform" merge "$tmp/shard3.json" "$tmp/shard1.json" \
    "$tmp/shard4.json" "$tmp/shard2.json" --report json="$tmp/merged.json" \
    --report junit="$tmp/merged.xml"
  verdict "$tmp/single.json" >"$tmp/v.single"
  verdict "$tmp/merged.json" >"$tmp/v.merged"
  it_that "merged summary and requirements equal the single run's: $(diff "$tmp/v.single" "$tmp/v.merged" | head -n 20)" \
    cmp -s "$tmp/v.single" "$tmp/v.merged"
  it_that "the merged report is one shard of one" [ "$(jq -c .shard "$tmp/merged.json")" = '{"index":1,"total":1}' ]
  expect_in "$tmp/merged.xml" "<testsuite" "merge writes the JUnit report"
  expect_in "$tmp/out" "passed, 0 failed" "merge prints the closing counts line"
}

case_merge_missing_shard() {
  needs_stack || return 0
  run_all || return 1
  expect_code 4 "merge without shard 3" "$konform" merge "$tmp/shard1.json" "$tmp/shard2.json" \
    "$tmp/shard4.json" --report json="$tmp/partial.json"
  expect_in "$tmp/err" "1 of 4 shards missing" "merge names the missing shard"
  bad=$(jq '[.requirements[] | select(.other_shards > 0 and .status != "not-checked")] | length' "$tmp/partial.json")
  some=$(jq '[.requirements[] | select(.other_shards > 0)] | length' "$tmp/partial.json")
  it_that "every requirement of the missing shard is not checked ($bad are not, of $some)" [ "$bad" -eq 0 ] && [ "$some" -gt 0 ]
  it_that "the missing shard's scenarios are left out" \
    [ "$(jq '.scenarios | length' "$tmp/partial.json")" -lt "$(jq '.scenarios | length' "$tmp/single.json")" ]
  expect_code 0 "--allow-partial" "$konform" merge --allow-partial "$tmp/shard1.json" "$tmp/shard2.json" "$tmp/shard4.json"
}

case_merge_refuses_mixed() {
  needs_stack || return 0
  run_all || return 1
  # shellcheck disable=SC2086
  "$konform" run $same --shard 2/4 --report json="$tmp/other.json" scenarios/auth/same-answer.konform \
    >"$tmp/other.out" 2>&1
  expect_code 2 "merge of two suites" "$konform" merge "$tmp/shard1.json" "$tmp/other.json"
  expect_in "$tmp/err" "shard1.json and .*other.json: the suites" "the refusal names both reports and the suites"
  jq '.seed = "1"' "$tmp/shard2.json" >"$tmp/reseeded.json"
  expect_code 2 "merge of two seeds" "$konform" merge "$tmp/shard1.json" "$tmp/reseeded.json"
  expect_in "$tmp/err" "the seeds differ" "the refusal names the seeds"
  expect_code 2 "merge of one shard twice" "$konform" merge "$tmp/shard1.json" "$tmp/shard1.json"
  expect_in "$tmp/err" "both are shard 1 of 4" "the refusal names the shard"
  printf '{"schema_version": 2}\n' >"$tmp/junk.json"
  expect_code 2 "merge of a broken report" "$konform" merge "$tmp/junk.json"
  expect_in "$tmp/err" "junk.json: \$.target" "a broken report names the member"
}

case_explain() {
  expect_code 0 "explain ACC-06" "$konform" explain ACC-06
  expect_in "$tmp/out" "valid for 24 hours" "explain prints the text"
  expect_in "$tmp/out" "source: seed" "explain prints the source"
  expect_in "$tmp/out" "scenarios/acc/confirmation-window.konform:[0-9]" "explain lists the covering scenarios as file:line"
  expect_code 0 "explain ACC-05" "$konform" explain ACC-05 --target scenarios/targets/reference.profile
  expect_in "$tmp/out" "mail_domain = arbeitsagentur.de" "explain prints the default and the target's value"
  expect_code 2 "explain an unknown ID" "$konform" explain ACC-6
  expect_in "$tmp/err" "did you mean ACC-06" "an unknown ID gets the nearest one"
}


# ---- repro: a stack of its own, so the script and the run see the same target. ----
start_mocks() {
  it_start mail_pid "$tmp/mail.log" "$bin/konform-mail" --port 0 --smtp-port 0 --db "$tmp/mail.db" --log-level warn || return 1
  mail_http=$(it_ready_port http)
  mail_smtp=$(it_ready_port smtp)
  it_start post_pid "$tmp/post.log" "$bin/konform-post" --port 0 --db "$tmp/post.db" --log-level warn || return 1
  post_http=$(it_ready_port http)
}
# start_server ARGS...: a test-mode server on the mocks with a database of its own, and the
# profile $tmp/t.profile for it.
server_n=0
start_server() {
  server_n=$((server_n + 1))
  it_start server_pid "$tmp/server.log" "$bin/konform-server" --port 0 --test-mode --hash-cost test \
    --db "$tmp/server$server_n.db" \
    --smtp-url "smtp://127.0.0.1:$mail_smtp" --post-url "http://127.0.0.1:$post_http" \
    --log-level warn "$@" || return 1
  printf 'base_url = http://127.0.0.1:%s\nmail_api = http://127.0.0.1:%s\npost_api = http://127.0.0.1:%s\nclock = konform\n' \
    "$(it_ready_port http)" "$mail_http" "$post_http" >"$tmp/t.profile"
}
passing="The link opened at exactly 24 hours still confirms (HTML page)"
failing="The link opened 24 hours and 1 second after sending has expired and the account stays unconfirmed"

case_repro_passes() {
  needs_stack || return 0
  start_mocks || return 1
  start_server || return 1
  expect_code 0 "konform run of the scenario" "$konform" run --target "$tmp/t.profile" --name "$passing" \
    --seed 11 --run-id 00000000000000b1
  expect_code 0 "repro writes the script" "$konform" repro "$passing" --target "$tmp/t.profile" \
    --seed 11 --run-id 00000000000000b2 -o "$tmp/pass.sh"
  it_that "the script is executable" [ -x "$tmp/pass.sh" ]
  it_that "the identities are literal values of the run id" grep -q "k00000000000000b2-" "$tmp/pass.sh"
  expect_code 0 "the script against the same target" sh "$tmp/pass.sh"
  expect_in "$tmp/out" "^PASS $passing" "the script says it passed"
  expect_in "$tmp/out" "HTTP/1.1 201" "the script prints each response"
  expect_in "$tmp/out" "^not checked by the script: expect page.text" "what sh cannot check is said, not passed"
}

case_repro_fails_like_run() {
  needs_stack || return 0
  it_sigterm server_pid konform-server || return 1
  start_server --fault link-valid-one-second-longer || return 1
  expect_code 1 "konform run with the fault" "$konform" run --target "$tmp/t.profile" --name "$failing" \
    --seed 11 --run-id 00000000000000b3 --report json="$tmp/fault.json"
  line=$(jq -r '.scenarios[0] | "\(.fail_file):\(.fail_line)"' "$tmp/fault.json")
  expect_code 0 "repro of the failing scenario" "$konform" repro "$failing" --target "$tmp/t.profile" \
    --seed 11 --run-id 00000000000000b4 -o "$tmp/fail.sh"
  expect_code 1 "the script with the fault" sh "$tmp/fail.sh"
  expect_in "$tmp/err" "^FAIL $line: expect status == 410: got 200" "the script stops at the line the run failed ($line)"
  it_that "nothing runs after the failing expectation" sh -c "! grep -q '^PASS' '$tmp/out'"
  expect_code 2 "repro of an unknown scenario" "$konform" repro "no such scenario at all" -o "$tmp/x.sh"
  expect_in "$tmp/err" "no scenario is named" "the refusal says so"
}

it_case "--shard K/N is validated with a specific usage error" case_shard_usage
it_case "list --shard deals every scenario into exactly one shard" case_list_deal
it_case "four shards merged equal the single run" case_merge_equals_single
it_case "a missing shard leaves its requirements not checked" case_merge_missing_shard
it_case "reports of different suites, seeds or the same shard twice are refused" case_merge_refuses_mixed
it_case "explain prints text, source, defaults and covering scenarios" case_explain
it_case "a repro script of a passing scenario passes like konform run" case_repro_passes
it_case "with a fault, the repro script fails at the line konform run failed" case_repro_fails_like_run
it_done
