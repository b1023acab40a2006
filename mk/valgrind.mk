# make valgrind: the scenario suite with all four programs under valgrind
# memcheck (scripts/valgrind.sh): `konform run` itself, and konform-mail,
# konform-post and both konform-servers of the embedded stack through
# KONFORM_STACK_WRAPPER. It fails on any memory error or definite leak in any
# of them; each program's log lands in $(VALGRIND_DIR)/NAME.log.
#
#   make valgrind                   the normal build (-O2 -g), 2 jobs
#   make valgrind VALGRIND_JOBS=4   more scenarios at once
#
# Suppressions for third-party library noise live in tests/valgrind/*.supp.
# Not part of make check: it takes minutes, not seconds.
VALGRIND_DIR  ?= $(BUILD_ROOT)/valgrind
VALGRIND_JOBS ?= 2

.PHONY: valgrind

valgrind:
	@scripts/install-deps.sh
	@$(MAKE) --no-print-directory -j$(NPROC) all
	@scripts/valgrind.sh $(BUILD)/bin $(VALGRIND_DIR) $(VALGRIND_JOBS)
