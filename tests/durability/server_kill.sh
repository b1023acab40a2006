# server_kill.sh: kill -9 konform-server five times while 8 clients register
# 5,000 addresses (--test-mode, --hash-cost test) and restart it on the same
# database each time. Every 202 keeps its account, and each account has
# exactly one distinct mail: a mail sent again because the crash came between
# the SMTP server's 250 and the outbox's mark carries the same Message-ID, so
# konform-mail shows it only as duplicate_of (docs/design.md, "Delivery
# guarantee").
it_name=durability_server_kill
it_pid_vars=""
. tests/integration/lib/common.sh
. tests/durability/lib/dl.sh

case_server_kill() {
  dl_load server_kill --clients 8 --registrations 5000 --kill server --kills 5 \
    --senders 4 --check-accounts || return 1
  dl_figures
  expect_json '.kills == 5' "the server was killed five times"
  expect_json '.accounts_checked == .accepted and .accounts_missing == []' \
    "every registration that got 202 keeps its account"
  # Each of the outbox's senders has one mail in flight, so a crash can leave
  # at most one mail per sender delivered but not marked; more would mean
  # marks lag behind deliveries.
  expect_json '.senders == 4' "the outbox ran with four senders"
  expect_json '.marked_redeliveries <= .kills * .senders' \
    "at most one redelivery per kill and sender"
  dl_expect_delivery
}

it_case "kill -9 of konform-server under load: no 202 lost, one distinct mail per account" \
  case_server_kill
it_done
