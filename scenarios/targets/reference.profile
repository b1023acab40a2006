# Target profile for a reference stack started by hand on the default ports:
#
#   konform-mail   --db /tmp/mail.db                 (HTTP 8426, SMTP 8425)
#   konform-post   --db /tmp/post.db                 (HTTP 8427)
#   konform-server --test-mode --db /tmp/server.db \
#                  --smtp-url smtp://127.0.0.1:8425 --post-url http://127.0.0.1:8427
#
# then:  konform run --target scenarios/targets/reference.profile
# docs/targets.md describes every key.

base_url = http://127.0.0.1:8480
mail_api = http://127.0.0.1:8426
post_api = http://127.0.0.1:8427

# The reference server runs with --test-mode, so its clock can be driven.
clock = konform
clock_header = Konform-Clock

# How long `wait mail` / `wait letter` wait when a step gives no `within`.
wait_timeout = 10s

# The values this target uses for every configurable requirement
# (the "defaults" of scenarios/catalogue.json).
[defaults]
challenge_minutes = 5
freischaltcode_valid_days = 42
letter_link_base = https://www.arbeitsagentur.de
lockout_attempts = 5
lockout_minutes = 15
mail_domain = arbeitsagentur.de
max_attachment_mb = 10
max_attachments = 10
off_delay_working_days = 3
one_time_valid_days = 30
reset_link_hours = 24
session_idle_minutes = 30
timing_margin_ms = 2
timing_margin_percent = 10
totp_window_steps = 1
wrong_codes_per_hour = 5
