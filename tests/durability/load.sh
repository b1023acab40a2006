# load.sh: 10,000 registrations from 16 clients give 10,000 mails, none
# lost, none duplicated; the figures say whether the outbox keeps up with
# the registrations (issue 10 asks for 90% of the rate at 8 clients, which
# the 8-client line measures).
it_name=durability_load
it_pid_vars=""
. tests/integration/lib/common.sh
. tests/durability/lib/dl.sh

case_load_16() {
  dl_load load16 --clients 16 --registrations 10000 || return 1
  dl_figures
  expect_json '.accepted == 10000' "all 10,000 registrations got 202"
  dl_expect_delivery
}

case_load_8() {
  dl_load load8 --clients 8 --registrations 10000 || return 1
  dl_figures
  expect_json '.accepted == 10000' "all 10,000 registrations got 202"
  dl_expect_delivery
}

it_case "10,000 registrations from 16 clients: 10,000 mails, none lost, none duplicated" case_load_16
it_case "10,000 registrations from 8 clients: the outbox's rate during the load" case_load_8
it_done
