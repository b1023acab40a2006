# mail_kill.sh: kill -9 konform-mail three times while 8 clients register
# 5,000 addresses; it stays down while a tenth of a kill interval's
# registrations more are accepted, then starts again on its database and
# ports. The outbox retries, so every mail arrives once the mock is back:
# none lost, none duplicated unless marked duplicate_of.
it_name=durability_mail_kill
it_pid_vars=""
. tests/integration/lib/common.sh
. tests/durability/lib/dl.sh

case_mail_kill() {
  dl_load mail_kill --clients 8 --registrations 5000 --kill mail --kills 3 || return 1
  dl_figures
  expect_json '.kills == 3' "the mail mock was killed three times"
  expect_json '.unknown == 0' "the server answered every registration"
  dl_expect_delivery
}

it_case "kill -9 of konform-mail under load: every mail arrives once it is back" case_mail_kill
it_done
