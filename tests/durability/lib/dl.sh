# dl.sh: what the durability scripts share, sourced after
# tests/integration/lib/common.sh. Each case runs one load through
# lib/dload.py (which starts, kills and restarts the programs itself, by
# their pids), then checks its JSON summary with expect_json and prints the
# figures as TAP comments.
#
# Provides: dl_load NAME ARGS..., dl_figures, dl_expect_delivery.

if ! command -v python3 >/dev/null 2>&1; then
  echo "Bail out! $it_name: python3 is not installed"
  exit 1
fi

# dl_load NAME ARGS...: run a load with dload.py's ARGS; its summary becomes
# $tmp/body, its databases and logs stay in $tmp/NAME (shown on failure).
dl_load() {
  dl_name=$1
  shift
  mkdir -p "$tmp/$dl_name"
  it_fail_log="$tmp/$dl_name/server.log"
  if ! python3 tests/durability/lib/dload.py --bin "$bin" --dir "$tmp/$dl_name" \
    --out "$tmp/$dl_name.json" "$@"; then
    it_fail "dload.py $* failed; mail log: $(tail -n 5 "$tmp/$dl_name/mail.log" 2>/dev/null)"
    return 1
  fi
  cp "$tmp/$dl_name.json" "$tmp/body"
  it_pass
}

# dl_figures: the load's figures as TAP comments (fd 7 is the TAP stream).
dl_figures() {
  jq -r '"# \(.accepted) registrations accepted (\(.unknown) unanswered, \(.unknown_with_account) of them made an account) from \(.clients) clients, \(.kills) kills of \(.kill)",
         "# \(.registrations_per_s) registrations/s; \(.mails_per_s_during_load) mails/s delivered during the load (\(.keep_up_ratio) of the registration rate)",
         "# drain: \(.drain_s) s after the load; \(.first_deliveries) first deliveries, \(.marked_redeliveries) marked redeliveries"' \
    "$tmp/body" >&7
}

# dl_expect_delivery: every mail that is owed arrived once, nothing else did.
dl_expect_delivery() {
  expect_json '.other_count == 0' "every registration got 202 or no answer at all"
  expect_json '.drain_timed_out == false and .missing_count == 0' \
    "every address with an account got its mail (none lost)"
  expect_json '.twice_count == 0' \
    "no address got a second mail that is not marked duplicate_of (none duplicated)"
  expect_json '.mail_without_account == []' "no mail went to an address without an account"
  expect_json '.first_deliveries == .expected' "one first delivery per account"
  expect_json '.unknown_odd == {}' "every unanswered address answers a login with 401 or 403"
}
