#!/bin/sh
# check-skips.sh REPORT.json: after a run of the embedded stack with
# --allow-partial, fail if a scenario was skipped for any reason other than a
# timing measurement that could not decide. The embedded stack has every
# capability (clock, mail_api, post_api), so any other skip is a defect; an
# undecided timing on a loaded CI machine is "not checked", which the run
# already says, and the selftest shows separately that timing faults are caught.
set -eu
report=$1
jq -e '.summary' "$report" >/dev/null
undecided=$(jq '[.scenarios[] | select(.status == "skip" and .skip_reason == "undecided")] | length' "$report")
others=$(jq -r '.scenarios[] | select(.status == "skip" and .skip_reason != "undecided")
  | "\(.file):\(.line): \(.name): \(.skip_reason): \(.message)"' "$report")
if [ -n "$others" ]; then
  echo "check-skips: scenarios the embedded stack should have checked were skipped:" >&2
  printf '%s\n' "$others" >&2
  exit 1
fi
echo "check-skips: no scenario skipped for a missing capability; $undecided timing scenario(s) undecided"
