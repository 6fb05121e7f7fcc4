# kiln — one entry point: build, demo, check, bench.
#
#   make            build ./kilnd and the ./kiln CLI (warnings are errors)
#   make demo       install what is missing, build, run a whole batch on the built-in engine
#   make check      install what is missing, run every test, plain and under ASan+UBSan
#   make bench      the benchmarks written to docs/PERFORMANCE.md
#   make fuzz       libFuzzer on the four readers (and .xlsx fast vs expat), FUZZ_SECONDS (600)
#   make fuzz-http  libFuzzer on the request handling (routing, JSON bodies, multipart)
#                   each: docs/RELIABILITY.md
#
# Objects go to $(BUILD) (build/ by default, build/asan for the sanitizer
# build), so both builds live side by side.

CC      ?= cc
BUILD   ?= build
SAN     ?=
PKGS    := libmicrohttpd libcjson sqlite3 libzip libpng zlib openssl expat xlsxwriter \
	   libjpeg libwebp
PKGS    += libsystemd
PKGS    += libcurl
# the .xlsx reader's fast path inflates small parts whole (sheet/xlsx.c)
PKGS    += libdeflate

OPT     ?= -O2 -g
CFLAGS  += $(OPT) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	   -Wno-missing-field-initializers -pthread -MMD -MP
ifneq ($(SAN),)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CPPFLAGS += $(PKG_CFLAGS) -I.
LDLIBS   += $(PKG_LIBS) -lm -pthread

LIB_SRC := $(wildcard sheet/*.c) $(filter-out daemon/main.c,$(wildcard daemon/*.c)) \
	   $(wildcard daemon/engines/*.c) $(wildcard store/*.c) $(wildcard api/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/schema.o
SCHEMA  := $(sort $(wildcard schema/*.sql))

# GET /openapi.json: api/openapi.json embedded in kilnd (scripts/embed-openapi.sh).
# The kiln CLI (cli/): its own objects, libcurl and cJSON, nothing of kilnd.
LIB_OBJ  += $(BUILD)/gen/openapi.o
CLI_SRC  := $(wildcard cli/*.c)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
CPPFLAGS += $(shell pkg-config --cflags libcurl 2>/dev/null)
CLI_LIBS := $(shell pkg-config --libs libcurl libcjson 2>/dev/null)
# The web page (web/), built into the binary by scripts/embed-web.sh; served by api/web.c.
WEB     := $(sort $(wildcard web/*))
LIB_OBJ += $(BUILD)/gen/web.o

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

PYTEST  := /usr/bin/python3 -m pytest

.PHONY: all deps demo check check-style check-unit check-e2e check-asan bench clean

# The kiln CLI, ./kiln beside ./kilnd; the OpenAPI check (validator from npm).
.PHONY: check-openapi
all: $(BUILD)/kiln
check-e2e: $(BUILD)/kiln
ifeq ($(BUILD),build)
all: kiln
kiln: $(BUILD)/kiln
	ln -sf $(BUILD)/kiln kiln
endif

$(BUILD)/kiln: $(CLI_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(CLI_LIBS) -lm

$(BUILD)/gen/openapi.c: api/openapi.json scripts/embed-openapi.sh
	@mkdir -p $(dir $@)
	sh scripts/embed-openapi.sh api/openapi.json > $@

$(BUILD)/gen/openapi.o: $(BUILD)/gen/openapi.c
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

check-openapi:
	sh scripts/install-openapi-deps.sh
	node tests/openapi/validate.js api/openapi.json

all: $(BUILD)/kilnd
ifeq ($(BUILD),build)
all: kilnd
kilnd: $(BUILD)/kilnd
	ln -sf $(BUILD)/kilnd kilnd
endif

$(BUILD)/kilnd: $(BUILD)/daemon/main.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/gen/schema.c: $(SCHEMA) scripts/embed-schema.sh scripts/c-bytes.sh
	@mkdir -p $(dir $@)
	sh scripts/embed-schema.sh $(SCHEMA) > $@

$(BUILD)/gen/schema.o: $(BUILD)/gen/schema.c
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/gen/web.c: $(WEB) scripts/embed-web.sh scripts/c-bytes.sh
	@mkdir -p $(dir $@)
	sh scripts/embed-web.sh $(WEB) > $@.tmp
	mv $@.tmp $@

$(BUILD)/gen/web.o: $(BUILD)/gen/web.c
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(shell pkg-config --cflags cmocka) $(LDFLAGS) -o $@ \
		$(filter-out tests/fuzz/%,$(filter %.c %.o,$^)) \
		$(LDLIBS) $(shell pkg-config --libs cmocka)

$(BUILD)/bench/%: bench/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)

deps:
	sh scripts/install-deps.sh

demo: deps
	$(MAKE) all
	sh scripts/demo.sh

# The unit tests (cmocka), then the end-to-end tests against a real kilnd.
check-unit: $(UNIT_BIN)
	sh scripts/run-unit.sh $(UNIT_BIN)

check-e2e: $(BUILD)/kilnd
	KILND=$(abspath $(BUILD)/kilnd) $(PYTEST) -q -p no:cacheprovider tests/e2e

# The same tests under AddressSanitizer and UndefinedBehaviorSanitizer.
check-asan:
	$(MAKE) BUILD=build/asan SAN=1 OPT="-O1 -g" check-unit check-e2e check-browser

check-style:
	sh scripts/check-style.sh

# The web page in Debian's chromium (playwright-core from npm) against a real kilnd;
# screenshots of each step go to build/screenshots/.
.PHONY: check-browser browser-deps
browser-deps:
	sh scripts/install-browser-deps.sh

check-browser: $(BUILD)/kilnd browser-deps
	KILND=$(abspath $(BUILD)/kilnd) SCREENSHOTS=$(abspath build/screenshots) \
		node tests/browser/run.mjs

check: deps
	sh scripts/check-style.sh
	$(MAKE) all
	$(MAKE) check-unit-file check-install check-openapi
	$(MAKE) check-unit check-e2e
	$(MAKE) check-browser
	$(MAKE) check-asan
	$(MAKE) check-package

bench: deps
	$(MAKE) all $(BENCH_BIN)
	sh bench/run.sh

# libFuzzer harnesses of the four readers (tests/fuzz/), built with clang into
# build/fuzz/ and run by scripts/run-fuzz.sh, FUZZ_SECONDS each (0: replay the
# seeds and regressions once), FUZZ_PARALLEL at a time.  Only the reader
# sources are linked.
FUZZ_FMTS    := csv xls xlsx ods xlsx_diff
FUZZ_SECONDS ?= 600
FUZZ_CC      ?= clang
FUZZ_SRC     := sheet/sheet.c sheet/csv.c sheet/validate.c sheet/xls.c sheet/xlsx.c sheet/ods.c
FUZZ_CFLAGS  := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-fno-omit-frame-pointer -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror \
		-Wno-missing-field-initializers -pthread
FUZZ_BIN     := $(FUZZ_FMTS:%=build/fuzz/fuzz_%)

.PHONY: fuzz fuzz-deps fuzz-build

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h tests/fuzz/zipmut.h tests/fuzz/xlsxdiff.h \
		   $(FUZZ_SRC) sheet/sheet.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -I. $(shell pkg-config --cflags libzip expat zlib libdeflate) -o $@ \
		$< $(FUZZ_SRC) $(shell pkg-config --libs libzip expat zlib libdeflate) -lm

fuzz-deps:
	sh scripts/install-deps.sh fuzz

fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-deps
	$(MAKE) fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) sh scripts/run-fuzz.sh $(FUZZ_FMTS)

# libFuzzer harnesses of the request handling (issue 9): routing, JSON bodies,
# multipart through MHD's post processor; `make fuzz-http` runs them as
# `make fuzz` runs the readers' (FUZZ_SECONDS each, FUZZ_PARALLEL at a time).
FUZZ_HTTP     := route json multipart
FUZZ_HTTP_BIN := $(FUZZ_HTTP:%=build/fuzz/fuzz_%)

.PHONY: fuzz-http
$(FUZZ_HTTP_BIN): build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c api/route.c api/api.h $(FUZZ_SRC)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -I. $(shell pkg-config --cflags libcjson libmicrohttpd libzip expat zlib) \
		-o $@ $< api/route.c $(FUZZ_SRC) \
		$(shell pkg-config --libs libcjson libmicrohttpd libzip expat zlib) -lm

fuzz-http: fuzz-deps
	$(MAKE) $(FUZZ_HTTP_BIN)
	FUZZ_SECONDS=$(FUZZ_SECONDS) sh scripts/run-fuzz.sh $(FUZZ_HTTP)

clean:
	rm -rf build kilnd kiln

# ---- install and packaging -----------------------------------------------
# `make install` puts kilnd in SBINDIR (a daemon, man section 8), every man
# page of man/ in its section, the unit (ExecStart rewritten to SBINDIR), a
# sysusers.d entry for the kiln user, and the example config as
# SYSCONFDIR/kiln/kilnd.conf with data_dir = STATEDIR (never over an existing
# one).  Programs for BINDIR (the kiln CLI) are listed in INSTALL_BINS.
PREFIX      ?= /usr/local
SBINDIR     ?= $(PREFIX)/sbin
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
SYSCONFDIR  ?= /etc
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
STATEDIR    ?= /var/lib/kiln
INSTALL_BINS := $(BUILD)/kiln
MAN_PAGES   := $(wildcard man/*.[1-8])

.PHONY: install deb check-package check-unit-file check-install

install: all $(INSTALL_BINS)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
		$(DESTDIR)$(SYSCONFDIR)/kiln
	install -m 0755 $(BUILD)/kilnd $(DESTDIR)$(SBINDIR)/kilnd
	$(if $(INSTALL_BINS),install -d $(DESTDIR)$(BINDIR))
	$(if $(INSTALL_BINS),install -m 0755 $(INSTALL_BINS) $(DESTDIR)$(BINDIR)/)
	for m in $(MAN_PAGES); do \
		d=$(DESTDIR)$(MANDIR)/man$${m##*.}; install -d $$d && install -m 0644 $$m $$d/ || exit 1; \
	done
	sed -e 's#^ExecStart=/usr/sbin/kilnd#ExecStart=$(SBINDIR)/kilnd#' \
	    -e 's#/etc/kiln/#$(SYSCONFDIR)/kiln/#g' packaging/kilnd.service > $(DESTDIR)$(UNITDIR)/kilnd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/kilnd.service
	install -m 0644 packaging/kiln.sysusers $(DESTDIR)$(SYSUSERSDIR)/kiln.conf
	test -e $(DESTDIR)$(SYSCONFDIR)/kiln/kilnd.conf || \
		{ sed 's#^data_dir = .*#data_dir = $(STATEDIR)#' config/kilnd.conf \
		  > $(DESTDIR)$(SYSCONFDIR)/kiln/kilnd.conf && \
		  chmod 0644 $(DESTDIR)$(SYSCONFDIR)/kiln/kilnd.conf; }

# The .deb, with dpkg-buildpackage from packaging/debian/ (copied into a
# clean tree of the tracked files under build/deb/), into build/deb/.
deb:
	sh scripts/install-deps.sh deb
	sh scripts/make-deb.sh

# Builds the .deb, runs lintian, installs it, runs kilnd as the kiln user with
# the packaged config, asks /healthz, removes and purges it (as root).
check-package: deb
	sh scripts/check-package.sh

# make install into a temporary DESTDIR, checked file by file.
check-install: all
	sh scripts/check-install.sh

# systemd-analyze verify of the unit, its ExecStart pointed at the build.
check-unit-file: $(BUILD)/kilnd
	sh scripts/check-unit-file.sh $(abspath $(BUILD)/kilnd)

-include $(shell find $(BUILD) -path $(BUILD)/deb -prune -o -name '*.d' -type f -print 2>/dev/null)

# ---- valgrind ------------------------------------------------------------
# `make check-valgrind` (not in `make check`: about an hour on 2 cores): the
# unit tests under valgrind memcheck, then the e2e tests with kilnd and the
# kiln CLI under valgrind (scripts/run-valgrind.sh; docs/RELIABILITY.md).
.PHONY: check-valgrind
check-valgrind:
	sh scripts/install-deps.sh valgrind
	sh scripts/install-openapi-deps.sh      # so that test_openapi.py validates, not skips
	$(MAKE) all $(UNIT_BIN)
	sh scripts/run-valgrind.sh $(BUILD)

# ---- the crash campaign ---------------------------------------------------
# tests/soak/soak.py: SOAK_KILLS (200) kill -9 of kilnd at random moments, each
# followed by a restart and the checks of docs/RELIABILITY.md; SOAK_SEED
# replays a campaign (the seed is printed first).  A short one (10 kills) is
# in check-e2e (tests/e2e/test_soak.py).
.PHONY: soak
SOAK_KILLS ?= 200
soak: deps
	$(MAKE) all
	/usr/bin/python3 tests/soak/soak.py --kills $(SOAK_KILLS) --kilnd $(abspath $(BUILD)/kilnd) \
		$(if $(SOAK_SEED),--seed $(SOAK_SEED))
