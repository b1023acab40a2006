# make timing-channels: the two timing channels of issue 9 (resend for an
# unconfirmed account against an unknown address; login for an account whose
# hash predates a raised hash cost against an unknown user), each measured by
# the harness's timing step against a konform-server that
# tests/timing/timing-channels.sh starts on loopback.
#
#   make timing-channels                    both cases
#   make timing-channels TIMING_CASES=login only that one
#
# It measures wall time, so it runs alone: make check calls it from
# check-extra, whose recipes run one after another after everything else.
# A case that the timing step cannot decide ("not checked") is measured once
# more from a fresh server; undecided twice it FAILS the target, because an
# undecided measurement is no evidence of "same".
TIMING_CASES ?= resend login

.PHONY: timing-channels

timing-channels: all
	@KONFORM_BIN=$(BUILD)/bin sh tests/timing/timing-channels.sh $(TIMING_CASES)

check-extra::
	@$(MAKE) --no-print-directory timing-channels
