# Cloister — one plain Makefile.
#
#   make            build everything into build/ (release, -O2)
#   make SAN=1      build into build-san/ with AddressSanitizer + UBSan
#   make demo       install missing Debian packages, build, run the demo scenario
#   make check      install, build, run the whole suite (plain and sanitized builds)
#   make fuzz       build libFuzzer harnesses with clang into build-fuzz/
#   make bench      build the benchmarks (run them with bench/run.sh)
#
# Layout: src/<component>/*.c is one component. Each component except the
# programs' main.c files becomes a static library so tests can link it.

CC      ?= cc
SAN     ?= 0
V       ?= 0
ifeq ($(V),1)
Q :=
else
Q := @
endif
ifeq ($(SAN),1)
BUILD   ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT     := -O1 -g
else
BUILD   ?= build
SANFLAGS :=
OPT     := -O2 -g
endif

PKGS    := openssl libevent libevent_openssl libevent_pthreads jansson libseccomp sqlite3 libcurl libcbor libmnl libnftables
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-unused-parameter -Wstrict-prototypes -Wvla
CFLAGS_ALL := -std=gnu11 $(OPT) $(WARN) -D_GNU_SOURCE -Isrc -fstack-protector-strong \
	-D_FORTIFY_SOURCE=2 -fPIE $(PKG_CFLAGS) $(SANFLAGS) $(CFLAGS)
LDFLAGS_ALL := -pie -Wl,-z,relro,-z,now $(SANFLAGS) $(LDFLAGS)
LIBS    := $(PKG_LIBS) -lpthread -lm
LINKLIBS = -Wl,--start-group $(LIBFILES) -Wl,--end-group $(LIBS)

# libcloister-fw: the firmware verifier alone (src/fw/verify_*.c), the code a
# device's root of trust runs. Portable C11 built with only -Isrc/fw: no
# Cloister common header, no OpenSSL or jansson include path can reach it
# (src/fw/fw_verify.h; tests/integration/fw_standalone.sh). The rest of
# src/fw, the host-side signing tools (fw_tools.h), is libcl_fw.
FW_VERIFY_SRCS := $(wildcard src/fw/verify_*.c)
FW_VERIFY_OBJS := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(FW_VERIFY_SRCS))
FW_VERIFY_LIB  := $(BUILD)/lib/libcloister-fw.a
FW_VERIFY_CFLAGS := -std=c11 $(OPT) $(WARN) -Isrc/fw -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE \
	$(SANFLAGS) $(CFLAGS)

# libcloister-enclave: the in-enclave SDK (include/cloister/enclave.h,
# src/sdk/, docs/sdk.md) with the few common files it needs (the broker's
# wrap format and its buffer/error helpers) compiled in, so an application
# links only it and libcrypto. Never sanitized: it goes into static enclave
# programs (an enclave root has no libc), in build/ and build-san/ alike.
SDK_SRCS := $(wildcard src/sdk/*.c) src/common/wrap.c src/common/buf.c src/common/err.c src/common/util.c
SDK_OBJS := $(patsubst src/%.c,$(BUILD)/obj-sdk/%.o,$(SDK_SRCS))
SDK_LIB  := $(BUILD)/lib/libcloister-enclave.a
SDK_CFLAGS := -std=gnu11 -O2 -g $(WARN) -D_GNU_SOURCE -Isrc -Iinclude -fstack-protector-strong -D_FORTIFY_SOURCE=2 \
	-fPIE $(PKG_CFLAGS) $(filter-out -fsanitize%,$(CFLAGS))
# Examples built with the SDK (the rest use libc only).
SDK_EXAMPLES := $(patsubst examples/%/main.c,$(BUILD)/examples/%,$(shell grep -l 'cloister/enclave.h' examples/*/main.c 2>/dev/null))

# Components built as libraries. Order matters for static linking.
COMPONENTS := control host guestif fwguard sandbox cli image keyholder fw attest tls common
define component_objs
$(patsubst src/%.c,$(BUILD)/obj/%.o,$(filter-out src/$(1)/main.c $(FW_VERIFY_SRCS),$(wildcard src/$(1)/*.c)))
endef
LIBFILES := $(foreach c,$(COMPONENTS),$(BUILD)/lib/libcl_$(c).a) $(FW_VERIFY_LIB)

PROGRAMS := $(BUILD)/bin/cloister-control $(BUILD)/bin/cloister-host $(BUILD)/bin/cloister
INIT     := $(BUILD)/bin/cloister-init
INIT_BUNDLE := $(BUILD)/bin/cloister-init-bundle
EXAMPLES := $(patsubst examples/%/main.c,$(BUILD)/examples/%,$(wildcard examples/*/main.c))
KEYSTORE_USER := $(BUILD)/examples/keystore-user
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
FUZZ_SRCS := $(wildcard fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
BENCH_SRCS := $(wildcard bench/bench_*.c)
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
# Test-only programs (tests/tools/): never installed, not run as tests themselves.
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(patsubst tests/tools/%.c,$(BUILD)/tests/%,$(TOOL_SRCS))

.PHONY: all deps demo check test fuzz bench clean format
all: $(PROGRAMS) $(INIT) $(INIT_BUNDLE) $(SDK_LIB) $(EXAMPLES) $(KEYSTORE_USER) $(UNIT_BINS) $(FUZZ_BINS) $(BENCH_BINS) $(TOOL_BINS)

deps:
	@./scripts/install-deps.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@./scripts/demo.sh

# The whole suite, plain and sanitized. The last line is "N passed, N failed".
check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory SAN=1 all
	@./tests/run.sh build build-san

test: all
	@./tests/run.sh $(BUILD)

bench: all

# The build's identity (src/common/version.c): rewritten only when it changes,
# so an unchanged tree is not rebuilt.
VERSION_STR := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
GIT_REV := $(shell git describe --always --dirty --abbrev=10 2>/dev/null || echo unknown)
comma := ,
BUILD_FLAGS := $(if $(filter 1,$(SAN)),asan$(comma)ubsan,release)
$(BUILD)/gen/version_gen.h: FORCE
	@mkdir -p $(dir $@)
	@printf '#define CL_VERSION_STR "%s"\n#define CL_GIT_REV "%s"\n#define CL_BUILD_FLAGS "%s"\n' \
		'$(VERSION_STR)' '$(GIT_REV)' '$(BUILD_FLAGS)' >$@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
$(BUILD)/obj/common/version.o: $(BUILD)/gen/version_gen.h
$(BUILD)/obj/common/version.o: CFLAGS_ALL += -I$(BUILD)/gen
.PHONY: FORCE
FORCE:

# The web console (console/): embedded into cloister-control as byte arrays
# (scripts/embed-console.sh), so an installed control plane needs no path.
CONSOLE_FILES := $(sort $(wildcard console/*))
$(BUILD)/gen/console_files.h: $(CONSOLE_FILES) scripts/embed-console.sh
	@mkdir -p $(dir $@)
	@echo '  GEN     $@'
	$(Q)./scripts/embed-console.sh $(CONSOLE_FILES) >$@.tmp && mv $@.tmp $@
$(BUILD)/obj/control/console.o: $(BUILD)/gen/console_files.h
$(BUILD)/obj/control/console.o: CFLAGS_ALL += -I$(BUILD)/gen

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	@echo '  CC      $<'
	$(Q)$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(FW_VERIFY_OBJS): $(BUILD)/obj/fw/%.o: src/fw/%.c
	@mkdir -p $(dir $@)
	@echo '  CC      $< (libcloister-fw)'
	$(Q)$(CC) $(FW_VERIFY_CFLAGS) -MMD -MP -c $< -o $@

$(FW_VERIFY_LIB): $(FW_VERIFY_OBJS) Makefile
	@mkdir -p $(dir $@)
	@rm -f $@
	@echo '  AR      $@'
	$(Q)ar rcs $@ $(filter %.o,$^)

# An archive is rebuilt from scratch when its objects or this file change (a
# file moved out of a component must leave its archive).
define lib_rule
$(BUILD)/lib/libcl_$(1).a: $(call component_objs,$(1)) Makefile
	@mkdir -p $$(dir $$@)
	@rm -f $$@
	@echo '  AR      $$@'
	$(Q)ar rcs $$@ $$(filter %.o,$$^)
endef
$(foreach c,$(COMPONENTS),$(eval $(call lib_rule,$(c))))

$(BUILD)/bin/cloister-control: $(BUILD)/obj/control/main.o $(LIBFILES)
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(LINKLIBS)

$(BUILD)/bin/cloister-host: $(BUILD)/obj/host/main.o $(LIBFILES)
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(LINKLIBS)

$(BUILD)/bin/cloister: $(BUILD)/obj/cli/main.o $(LIBFILES)
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(LINKLIBS)

# cloister-init runs as PID 1 inside a root holding only the image's files:
# it is static, never sanitized, and links only what it needs. Its bytes are
# PCR1 (docs/measurements.md), so its build is reproducible: no -g, no
# __DATE__/__TIME__ or git revision, source paths relative (-ffile-prefix-map
# for any path the compiler would record), a build-id hashed from the
# content; the same source gives the same binary in any directory and in
# build/ and build-san/ alike (tests/integration/init_reproducible.sh).
# cloister-init links no libcrypto: every launch copies it into the sandbox.
# Provisioning's crypto (the enclave's key pair, the bundle's decryption:
# src/init/provision.c, libcrypto static from Debian's libssl-dev) is
# cloister-init-bundle, a helper built the same reproducible way, copied in
# only for an enclave that awaits a bundle; PCR1 covers both.
INIT_CFLAGS := -std=gnu11 -O2 $(WARN) -D_GNU_SOURCE -Isrc -I$(BUILD)/gen -ffile-prefix-map=$(CURDIR)=. \
	-static -s -Wl,--build-id=sha1
INIT_SRCS := src/init/main.c src/init/await.c src/init/files.c src/common/frame.c src/common/bundle.c src/common/rawio.c
INIT_BUNDLE_SRCS := src/init/bundle_main.c src/init/provision.c src/init/state_io.c src/common/state.c \
	src/common/frame.c src/common/bundle.c src/common/rawio.c
$(INIT): $(INIT_SRCS) $(wildcard src/init/*.h) src/common/frame.h src/common/bundle.h src/common/rawio.h $(BUILD)/gen/version_gen.h
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(INIT_CFLAGS) -o $@ $(INIT_SRCS)
$(INIT_BUNDLE): $(INIT_BUNDLE_SRCS) $(wildcard src/init/*.h) src/common/frame.h src/common/bundle.h src/common/rawio.h src/common/state.h \
		$(BUILD)/gen/version_gen.h
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(INIT_CFLAGS) -o $@ $(INIT_BUNDLE_SRCS) -lcrypto -lpthread

$(BUILD)/obj-sdk/%.o: src/%.c
	@mkdir -p $(dir $@)
	@echo '  CC      $< (libcloister-enclave)'
	$(Q)$(CC) $(SDK_CFLAGS) -MMD -MP -c $< -o $@

$(SDK_LIB): $(SDK_OBJS) Makefile
	@mkdir -p $(dir $@)
	@rm -f $@
	@echo '  AR      $@'
	$(Q)ar rcs $@ $(filter %.o,$^)

# Example applications are static too: an enclave root has no libc. Those
# that use the SDK link it and libcrypto statically.
$(SDK_EXAMPLES): $(BUILD)/examples/%: examples/%/main.c $(SDK_LIB) include/cloister/enclave.h
	@mkdir -p $(dir $@)
	@echo '  LD      $@ (with libcloister-enclave)'
	$(Q)rm -f $@; $(CC) -std=gnu11 -O2 $(WARN) -D_GNU_SOURCE -Iinclude -static -o $@ $(filter %.c,$^) $(SDK_LIB) -lcrypto -lpthread 2>&1 | \
		{ grep -v -e 'statically linked applications requires at runtime' -e 'in function' >&2 || true; }; \
		test -x $@

# The keystore's line parser is its own file (fuzz/fuzz_keystore.c includes it).
$(BUILD)/examples/keystore: examples/keystore/ks_proto.c examples/keystore/ks_proto.h
$(BUILD)/fuzz/fuzz_keystore: examples/keystore/ks_proto.c examples/keystore/ks_proto.h
# The enclave's half of suspend/restore is cloister-init-bundle's (src/init/,
# no library): its test includes it.
$(BUILD)/tests/test_init_state: src/init/state_io.c src/init/state_io.h
$(BUILD)/tests/test_sandbox_state: src/init/state_io.c src/init/state_io.h
$(BUILD)/bench/bench_state: src/init/state_io.c src/init/state_io.h

# keystore-user: the keystore's host-side client for users (unwrap an export,
# verify a signature), an ordinary host program linked like the tools.
$(KEYSTORE_USER): examples/keystore/keystore-user.c $(LIBFILES)
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(LINKLIBS)

$(BUILD)/examples/%: examples/%/main.c
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) -std=gnu11 -O2 $(WARN) -D_GNU_SOURCE -static -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIBFILES)
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(LINKLIBS) -lcmocka

# The SDK's own test links the SDK (never sanitized) rather than the host libraries.
$(BUILD)/tests/test_sdk_state: tests/unit/test_sdk_state.c $(SDK_LIB) include/cloister/enclave.h
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(CFLAGS_ALL) -Iinclude $(LDFLAGS_ALL) -o $@ $< $(SDK_LIB) -lcrypto -lpthread -lcmocka

$(TOOL_BINS): $(BUILD)/tests/%: tests/tools/%.c $(LIBFILES)
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(LINKLIBS)

# Fuzz harnesses: in the normal build each links a small driver that replays
# the corpus (fuzz/corpus/<name>/); `make fuzz` builds real libFuzzer binaries.
$(BUILD)/fuzz/%: fuzz/%.c fuzz/replay.c $(wildcard fuzz/*.h) $(LIBFILES)
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< fuzz/replay.c $(LINKLIBS)

fuzz:
	@$(MAKE) --no-print-directory CC=clang BUILD=build-fuzz \
		CFLAGS="-fsanitize=fuzzer-no-link,address,undefined -Wno-missing-field-initializers" LDFLAGS="-fsanitize=address,undefined" \
		$(foreach c,$(COMPONENTS),build-fuzz/lib/libcl_$(c).a) build-fuzz/lib/libcloister-fw.a
	@mkdir -p build-fuzz/fuzz
	@for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); \
		echo "  FUZZ $$n"; \
		clang -std=gnu11 -g -O1 -D_GNU_SOURCE -Isrc $(PKG_CFLAGS) -fsanitize=fuzzer,address,undefined \
			-o build-fuzz/fuzz/$$n $$f $(foreach c,$(COMPONENTS),build-fuzz/lib/libcl_$(c).a) \
			build-fuzz/lib/libcloister-fw.a $(LIBS) || exit 1; \
	done

$(BUILD)/bench/%: bench/%.c $(LIBFILES)
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(LINKLIBS)

clean:
	rm -rf build build-san build-fuzz

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

-include $(shell find $(BUILD)/obj $(BUILD)/obj-sdk -name '*.d' 2>/dev/null)
