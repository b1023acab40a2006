# make durability: the durability tests, one TAP script per
# tests/durability/*.sh (they source tests/integration/lib/common.sh and drive
# the load with tests/durability/lib/dload.py, python3 threads on keep-alive
# connections). They kill -9 konform-server and konform-mail under load and
# restart them on their databases, and run 10,000 registrations; each prints
# its figures (registrations/s, mails/s during the load, time to drain) as
# TAP comments. A few minutes on a loaded 2-core machine.
#
#   make durability                        every script
#   make durability DURABILITY=load        only tests/durability/load.sh
DURABILITY_SCRIPTS := $(sort $(wildcard tests/durability/*.sh))
DURABILITY         ?= $(patsubst tests/durability/%.sh,%,$(DURABILITY_SCRIPTS))

.PHONY: durability

durability: all
	@failed=""; \
	for name in $(DURABILITY); do \
	  echo "# tests/durability/$$name.sh"; \
	  KONFORM_BIN=$(BUILD)/bin sh tests/durability/$$name.sh </dev/null || failed="$$failed $$name"; \
	done; \
	if [ -n "$$failed" ]; then echo "durability: failed:$$failed" >&2; exit 1; fi; \
	echo "durability: $(words $(DURABILITY)) scripts passed"

check-extra::
	@$(MAKE) --no-print-directory durability
