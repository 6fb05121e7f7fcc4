# kiln — one entry point: build, demo, check, bench.
#
#   make            build ./kilnd (warnings are errors)
#   make demo       install what is missing, build, run a whole batch on the built-in engine
#   make check      install what is missing, run every test, plain and under ASan+UBSan
#   make bench      the benchmarks written to docs/PERFORMANCE.md
#   make fuzz       libFuzzer on the four readers (and .xlsx fast vs expat), FUZZ_SECONDS (600)
#                   each: docs/RELIABILITY.md
#
# Objects go to $(BUILD) (build/ by default, build/asan for the sanitizer
# build), so both builds live side by side.

CC      ?= cc
BUILD   ?= build
SAN     ?=
PKGS    := libmicrohttpd libcjson sqlite3 libzip libpng zlib openssl expat xlsxwriter

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

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

PYTEST  := /usr/bin/python3 -m pytest

.PHONY: all deps demo check check-style check-unit check-e2e check-asan bench clean

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

$(BUILD)/gen/schema.c: $(SCHEMA) scripts/embed-schema.sh
	@mkdir -p $(dir $@)
	sh scripts/embed-schema.sh $(SCHEMA) > $@

$(BUILD)/gen/schema.o: $(BUILD)/gen/schema.c
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(shell pkg-config --cflags cmocka) $(LDFLAGS) -o $@ $(filter %.c %.o,$^) \
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
	$(MAKE) BUILD=build/asan SAN=1 OPT="-O1 -g" check-unit check-e2e

check-style:
	sh scripts/check-style.sh

check: deps
	sh scripts/check-style.sh
	$(MAKE) all
	$(MAKE) check-unit check-e2e
	$(MAKE) check-asan

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
	$(FUZZ_CC) $(FUZZ_CFLAGS) -I. $(shell pkg-config --cflags libzip expat zlib) -o $@ \
		$< $(FUZZ_SRC) $(shell pkg-config --libs libzip expat zlib) -lm

fuzz-deps:
	sh scripts/install-deps.sh
	sh scripts/install-fuzz-deps.sh

fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-deps
	$(MAKE) fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) sh scripts/run-fuzz.sh $(FUZZ_FMTS)

clean:
	rm -rf build kilnd

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
