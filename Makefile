# konform: build, test and run the conformance suite.
#
#   make          build every program into build/bin
#   make check    every test: lint, format and contract checks, unit tests and
#                 integration tests under the normal and the ASan+UBSan
#                 build, the scenario suite against the
#                 sanitizer-built reference stack (a leak or crash at shutdown
#                 fails it), unit tests and the suite (8 jobs) under
#                 ThreadSanitizer, then the suite against the normal build;
#                 then the mk/*.mk families (check-extra): the fuzz corpora,
#                 the durability tests and the timing channels, one at a time
#   make run      install what is missing, build, run every scenario against the
#                 embedded reference stack and write the reports to $(REPORT_DIR)
#   make bench    benchmarks that print figures (never pass/fail on speed)
#   make SAN=1    build with ASan+UBSan into build/asan; SAN=thread: TSan, build/tsan
#   make install  PREFIX=/usr/local DESTDIR= (programs, scenarios, man pages, completion)
#   make deb      the Debian package into build/deb/; make deb-check installs and runs it
#   make fuzz     libFuzzer harnesses for FUZZ_SECONDS each (mk/fuzz.mk); SAN=fuzz builds with clang
#   make durability   kill -9 the server and the mail mock under load, 10,000 registrations
#   make timing-channels  the equal-work timing tests, alone (mk/timing.mk)
#   make valgrind the scenario suite with all four programs under memcheck (not in make check)
#   V=1           show every compiler command
#
# Every .c in a program folder is compiled; main.c is the entry point, the rest
# becomes that program's module library so unit tests can link against it.

PREFIX     ?= /usr/local
DESTDIR    ?=
REPORT_DIR ?= build/report
JOBS       ?= 4
SAN        ?= 0
V          ?= 0
NPROC      := $(shell nproc 2>/dev/null || echo 2)

# Quiet by default ("  CC   file.c"); V=1 shows every command.
ifeq ($(V),1)
Q     :=
say    = @true
else
Q     := @
say    = @printf '  %-4s %s\n' $(1) $(2)
endif

PKGS := libmicrohttpd sqlite3 libcurl jansson libxml-2.0 liboath libfido2 libcbor libsodium gmime-3.0
# The QR code of a TOTP secret's otpauth URI (ks_totp.c).
PKGS += libqrencode
# The harness's authenticator app (kh_totp.c, HMACs) and its virtual passkey
# authenticator (kh_authn.c, ES256 keys and signatures) call OpenSSL itself.
PKGS += libcrypto

BUILD_ROOT ?= build
ifeq ($(SAN),1)
BUILD     := $(BUILD_ROOT)/asan
SANFLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT       := -O1 -g
else ifeq ($(SAN),thread)
BUILD     := $(BUILD_ROOT)/tsan
SANFLAGS  := -fsanitize=thread
OPT       := -O1 -g
else ifeq ($(SAN),fuzz)
# libFuzzer (mk/fuzz.mk): clang instruments every module; only the harness
# binaries link the fuzzer's main.
CC        := clang
BUILD     := $(BUILD_ROOT)/fuzz
SANFLAGS  := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT       := -O1 -g
else
BUILD     := $(BUILD_ROOT)
SANFLAGS  :=
OPT       := -O2 -g
endif

CC      ?= cc
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
# Recursive (=) so pkg-config only runs when a recipe needs it, after
# scripts/install-deps.sh had its chance to install the -dev packages.
# System folders stay out: -isystem on them would reorder libc's include_next chain.
PKG_CFLAGS = $(patsubst -I%,-isystem %,$(filter-out -I/usr/include -I/usr/include/$(shell $(CC) -dumpmachine),$(shell pkg-config --cflags $(PKGS))))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS)) -lpthread -lm
CPPFLAGS_ALL = -std=c17 -D_POSIX_C_SOURCE=200809L -Ilib/include -Ireports/include
CFLAGS_ALL   = $(OPT) $(WARN) $(SANFLAGS) $(CPPFLAGS_ALL) $(PKG_CFLAGS) -MMD -MP $(CFLAGS)
LDFLAGS_ALL  = $(SANFLAGS) $(LDFLAGS)

# name:folder pairs of module libraries, in link order (dependants first).
LIB_SRC      := $(wildcard lib/src/*.c)
REPORT_SRC   := $(wildcard reports/src/*.c)
SERVER_SRC   := $(filter-out %/main.c,$(wildcard reference-server/src/*.c))
MAIL_SRC     := $(filter-out %/main.c,$(wildcard mocks/mail/*.c))
POST_SRC     := $(filter-out %/main.c,$(wildcard mocks/post/*.c))
HARNESS_SRC  := $(filter-out %/main.c,$(wildcard harness/src/*.c))
UNIT_SRC     := $(wildcard tests/unit/test_*.c)
# Test-support modules (kt_*.c): one library every unit test links.
KT_SRC       := $(wildcard tests/unit/kt_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIBKONFORM := $(BUILD)/lib/libkonform.a
LIBKREPORT := $(BUILD)/lib/libkreport.a
LIBKS      := $(BUILD)/lib/libks.a
LIBKM      := $(BUILD)/lib/libkm.a
LIBKP      := $(BUILD)/lib/libkp.a
LIBKH      := $(BUILD)/lib/libkh.a
LIBKT      := $(BUILD)/lib/libkt.a

BINS := $(BUILD)/bin/konform-server $(BUILD)/bin/konform-mail $(BUILD)/bin/konform-post $(BUILD)/bin/konform
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.PHONY: all deps check check-inner unit unit-san integration scenarios run run-inner bench \
        bench-inner install clean lint-banned lint-contracts format tests selftest browser \
        deb deb-check lint-man

all: $(BINS)

# Unit-test objects sit in a pattern chain (.c -> .o -> test binary), so make
# would treat them as intermediate and delete them after linking; the next run
# then finds them missing (the .d files name them) and compiles every test again.
.SECONDARY:
# A recipe that fails part-way leaves no half-written object or archive behind.
.DELETE_ON_ERROR:

tests: $(UNIT_BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS_ALL) -c $< -o $@

# The installed data folder is compiled into the harness; the stamp changes
# only when PREFIX does, so `make install PREFIX=/usr` rebuilds what needs it.
DATADIR_STAMP := $(BUILD)/datadir.stamp
$(DATADIR_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(PREFIX)/share/konform' | cmp -s - $@ || echo '$(PREFIX)/share/konform' > $@
DATADIR_OBJS := $(BUILD)/obj/harness/src/kh_cli.o $(BUILD)/obj/harness/src/kh_cmd_suite.o
$(DATADIR_OBJS): $(DATADIR_STAMP)
$(DATADIR_OBJS): CFLAGS_ALL += -DKONFORM_DATADIR='"$(PREFIX)/share/konform"'
.PHONY: FORCE
FORCE:

define modlib
$(1): $(call obj,$(2))
	@mkdir -p $$(dir $$@)
	$$(call say,AR,$$@)
	$$(Q)rm -f $$@
	$$(Q)$$(if $$^,ar rcs $$@ $$^,ar rcs $$@)
endef
$(eval $(call modlib,$(LIBKONFORM),$(LIB_SRC)))
$(eval $(call modlib,$(LIBKREPORT),$(REPORT_SRC)))
$(eval $(call modlib,$(LIBKS),$(SERVER_SRC)))
$(eval $(call modlib,$(LIBKM),$(MAIL_SRC)))
$(eval $(call modlib,$(LIBKP),$(POST_SRC)))
$(eval $(call modlib,$(LIBKH),$(HARNESS_SRC)))
$(eval $(call modlib,$(LIBKT),$(KT_SRC)))

$(BUILD)/bin/konform-server: $(call obj,reference-server/src/main.c) $(LIBKS) $(LIBKONFORM)
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)
$(BUILD)/bin/konform-mail: $(call obj,mocks/mail/main.c) $(LIBKM) $(LIBKONFORM)
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)
$(BUILD)/bin/konform-post: $(call obj,mocks/post/main.c) $(LIBKP) $(LIBKONFORM)
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)
$(BUILD)/bin/konform: $(call obj,harness/src/main.c) $(LIBKH) $(LIBKREPORT) $(LIBKONFORM)
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

# Unit tests may reach into any module, so they link every module library,
# the test-support one (tests/unit/kt_*.c) first; only they link libyaml
# (kt_yaml reads the contract documents with it).
# Their include path adds every source folder (private headers included).
TEST_INC := -Iharness/src -Ireference-server/src -Imocks/mail -Imocks/post -Ilib/src -Ireports/src
TEST_PKGS := cmocka yaml-0.1
$(BUILD)/obj/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS_ALL) $(TEST_INC) $(shell pkg-config --cflags $(TEST_PKGS)) -c $< -o $@
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIBKT) $(LIBKH) $(LIBKS) $(LIBKM) $(LIBKP) $(LIBKREPORT) $(LIBKONFORM)
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(shell pkg-config --libs $(TEST_PKGS))

# The virtual passkey authenticator alone, for tests/integration/passkey_fido2.py
# (python3-fido2 as the relying party); make integration builds it.
PK_DEMO := $(BUILD)/tests/pk-demo
$(BUILD)/obj/tests/integration/pk_demo.o: CFLAGS_ALL += -Iharness/src
$(PK_DEMO): $(BUILD)/obj/tests/integration/pk_demo.o $(LIBKH) $(LIBKONFORM)
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)
tests: $(PK_DEMO)

# ---- Entry points that first make sure the Debian packages are there. ----
check:
	@scripts/install-deps.sh --deb
	@$(MAKE) --no-print-directory check-inner

check-inner: lint-banned
	@$(MAKE) --no-print-directory lint-contracts
	@$(MAKE) --no-print-directory lint-man
	@$(MAKE) --no-print-directory -j$(NPROC) all tests
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory -j$(NPROC) SAN=1 all tests
	@$(MAKE) --no-print-directory SAN=1 unit
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory SAN=1 integration
	@$(MAKE) --no-print-directory SAN=1 scenarios REPORT_DIR=$(REPORT_DIR)/asan
	@$(MAKE) --no-print-directory -j$(NPROC) SAN=thread all tests
	@$(MAKE) --no-print-directory SAN=thread unit
	@$(MAKE) --no-print-directory SAN=thread scenarios REPORT_DIR=$(REPORT_DIR)/tsan JOBS=8
	@$(MAKE) --no-print-directory scenarios
	@$(MAKE) --no-print-directory selftest
	@$(MAKE) --no-print-directory browser
	@$(MAKE) --no-print-directory deb-check
	@$(MAKE) --no-print-directory check-extra

# Test families that live in mk/*.mk add themselves to make check with a
# double-colon rule whose recipe calls $(MAKE) on their target; the recipes
# run in mk/ file order, one after the other.
check-extra::

unit: $(UNIT_BINS)
	@scripts/run-unit-tests.sh $(BUILD)/tests

integration: all $(PK_DEMO)
	@scripts/run-integration-tests.sh $(BUILD)/bin

# --allow-partial and check-skips: a timing scenario that cannot decide on a
# loaded machine is reported "not checked" and does not fail the build; any
# other skip on the embedded stack (which has every capability) does.
scenarios: all
	@mkdir -p $(REPORT_DIR)
	$(BUILD)/bin/konform lint --catalogue scenarios/catalogue.json scenarios
	$(BUILD)/bin/konform run --jobs $(JOBS) --catalogue scenarios/catalogue.json --allow-partial \
	  --report json=$(REPORT_DIR)/konform.json --report junit=$(REPORT_DIR)/junit.xml \
	  --report html=$(REPORT_DIR)/konform.html --report tap=$(REPORT_DIR)/konform.tap scenarios
	@scripts/check-skips.sh $(REPORT_DIR)/konform.json

# Every fault of the reference server's catalogue is caught by a scenario
# covering the requirement it breaks (docs/design.md, "How to add a fault").
selftest: all
	$(BUILD)/bin/konform selftest --catalogue scenarios/catalogue.json scenarios

# The portal's pages in headless Chromium (says "skipped" without it); the HTML
# report there too, with its size and opening time for 1,000 scenarios.
browser: all
	python3 tests/browser/report.py $(BUILD)/bin
	python3 tests/browser/portal.py $(BUILD)/bin
	python3 tests/browser/login.py $(BUILD)/bin

run:
	@scripts/install-deps.sh
	@$(MAKE) --no-print-directory -j$(NPROC) all
	@$(MAKE) --no-print-directory scenarios

bench:
	@scripts/install-deps.sh
	@$(MAKE) --no-print-directory -j$(NPROC) all
	@scripts/bench.sh $(BUILD)/bin

lint-banned:
	@scripts/check-banned.sh
	@scripts/check-format.sh

# The contract documents, with @redocly/cli (redocly.yaml); says "SKIPPED" and
# why where node or npm is missing.
lint-contracts:
	@scripts/lint-contracts.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# The programs, the scenarios with their catalogue (where an installed
# `konform run` looks by default: KONFORM_DATADIR), the man pages, the docs and
# the bash completion. DESTDIR stages it (debian/rules installs into its tree).
MANDIR        ?= $(PREFIX)/share/man
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/konform $(DESTDIR)$(PREFIX)/share/doc/konform
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(COMPLETIONDIR)
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	rm -rf $(DESTDIR)$(PREFIX)/share/konform/scenarios
	cp -R scenarios $(DESTDIR)$(PREFIX)/share/konform/
	chmod -R u=rwX,go=rX $(DESTDIR)$(PREFIX)/share/konform/scenarios
	install -m 0644 man/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/*.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 completion/konform.bash $(DESTDIR)$(COMPLETIONDIR)/konform
	install -m 0644 README.md docs/*.md docs/*.yaml docs/*.json $(DESTDIR)$(PREFIX)/share/doc/konform/

# The Debian package (debian/), built from a copy of the tree in build/deb/src
# so dpkg-buildpackage's own build (PREFIX=/usr) and its output (it writes to
# the parent folder) stay out of the working build; the .deb lands in build/deb/.
# dpkg-dev and debhelper come from install-deps.sh --deb, which only this and
# make check ask for.
DEB_DIR := $(BUILD_ROOT)/deb
DEB_VERSION = $(shell dpkg-parsechangelog -l debian/changelog -S Version)
deb:
	@scripts/install-deps.sh --deb
	$(Q)rm -rf $(DEB_DIR)
	$(Q)mkdir -p $(DEB_DIR)/src/konform
	$(Q)tar -cf - --exclude=./build --exclude=./.git --exclude='./*.db' . | tar -xf - -C $(DEB_DIR)/src/konform
	$(call say,DEB,$(DEB_DIR)/src/build.log)
	$(Q)cd $(DEB_DIR)/src/konform && dpkg-buildpackage -us -uc -b -j$(NPROC) >../build.log 2>&1 || \
	  { tail -n 40 ../build.log; echo "make deb: dpkg-buildpackage failed; log: $(DEB_DIR)/src/build.log" >&2; exit 1; }
	$(Q)mv $(DEB_DIR)/src/*.deb $(DEB_DIR)/src/*.buildinfo $(DEB_DIR)/src/*.changes $(DEB_DIR)/
	$(Q)rm -rf $(DEB_DIR)/src/konform
	@ls $(DEB_DIR)/*.deb

# The package installed (apt as root, else unpacked with dpkg -x) runs the
# installed suite against the embedded stack (tests/integration/deb.sh).
deb-check: deb
	$(Q)KONFORM_DEB=$(DEB_DIR)/konform_$(DEB_VERSION)_$(shell dpkg --print-architecture).deb \
	  sh tests/integration/deb.sh

# The man pages render without a warning (make check's lint step).
lint-man:
	@for page in man/*.[0-9]; do \
	  out=$$(groff -ww -z -man "$$page" 2>&1); \
	  if [ -n "$$out" ]; then echo "$$page: $$out" >&2; exit 1; fi; \
	done; echo "lint-man: $$(ls man/*.[0-9] | wc -l) pages render without warnings"

clean:
	rm -rf build

# Each test family beyond unit and integration is one fragment (fuzz, durability, ...).
include $(sort $(wildcard mk/*.mk))

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
