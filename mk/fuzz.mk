# make fuzz: libFuzzer harnesses, one per tests/fuzz/fuzz_NAME.c, each with its
# corpus in tests/fuzz/corpus/NAME/ (kept in the repo, seeded from the tests).
#
#   make fuzz                   fuzz every harness for FUZZ_SECONDS (default 60)
#   make fuzz FUZZ=mime         only that harness
#   make fuzz-regress           run every harness once over its corpus (make check)
#
# A harness is one file: it defines LLVMFuzzerTestOneInput (tests/fuzz/kz_fuzz.h)
# and may reach into any module, as unit tests do. New inputs libFuzzer finds go
# to build/fuzz/found/NAME; copy the ones worth keeping into the corpus.
# Crashes land in build/fuzz/crash-NAME-*. A harness may have a libFuzzer
# dictionary, tests/fuzz/NAME.dict, of the tokens its input language uses.
FUZZ_SECONDS ?= 60
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRC))
FUZZ         ?= $(FUZZ_NAMES)
FUZZ_OUT     := $(BUILD_ROOT)/fuzz

.PHONY: fuzz fuzz-regress fuzz-bins

ifeq ($(SAN),fuzz)
FUZZ_BINS := $(patsubst %,$(BUILD)/bin/fuzz_%,$(FUZZ_NAMES))
fuzz-bins: $(FUZZ_BINS)
$(BUILD)/obj/tests/fuzz/%.o: tests/fuzz/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS_ALL) $(TEST_INC) -Itests/fuzz -c $< -o $@
$(BUILD)/bin/fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(LIBKH) $(LIBKS) $(LIBKM) $(LIBKP) $(LIBKREPORT) $(LIBKONFORM)
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)
	$(Q)$(CC) $(LDFLAGS_ALL) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)
endif

fuzz:
	@$(MAKE) --no-print-directory -j$(NPROC) SAN=fuzz fuzz-bins
	@for name in $(FUZZ); do \
	  mkdir -p $(FUZZ_OUT)/found/$$name tests/fuzz/corpus/$$name; \
	  echo "fuzz: $$name for $(FUZZ_SECONDS) s"; \
	  dict=; [ ! -f tests/fuzz/$$name.dict ] || dict=-dict=tests/fuzz/$$name.dict; \
	  $(FUZZ_OUT)/bin/fuzz_$$name -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_OUT)/crash-$$name- $$dict \
	    $(FUZZ_OUT)/found/$$name tests/fuzz/corpus/$$name || exit 1; \
	done

# -runs=0: libFuzzer executes every corpus file once and stops, so a crash
# fixed once stays fixed.
fuzz-regress:
	@$(MAKE) --no-print-directory -j$(NPROC) SAN=fuzz fuzz-bins
	@for name in $(FUZZ_NAMES); do \
	  n=$$(ls tests/fuzz/corpus/$$name | wc -l); \
	  $(FUZZ_OUT)/bin/fuzz_$$name -runs=0 -artifact_prefix=$(FUZZ_OUT)/crash-$$name- \
	    tests/fuzz/corpus/$$name >$(FUZZ_OUT)/regress-$$name.log 2>&1 || \
	    { tail -n 30 $(FUZZ_OUT)/regress-$$name.log; echo "fuzz-regress: $$name failed" >&2; exit 1; }; \
	  echo "fuzz-regress: $$name: $$n inputs, no crash"; \
	done

check-extra::
	@$(MAKE) --no-print-directory fuzz-regress
