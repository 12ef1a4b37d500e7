# tagbase — GNU make build. See README.md for the two commands that matter (make run, make test).
#
#   make                      library (build/libtagbase.a) and binary (build/tagbase)
#   make test                 install missing packages, build, run unit + black-box tests
#   make SANITIZE=address,undefined test    the same under ASan/UBSan (separate build dir)
#   make unit                 only the C unit tests
#   make fuzz                 build libFuzzer targets with clang and run each FUZZ_SECONDS
#   make bench                run the benchmark scripts in bench/
#   make run                  set up, build, create demo data if none, load it (scripts/run.sh)
#   make web                  the web console: npm ci, then vite build into web/dist (docs/console.md)
#   make format / format-check

CC       ?= cc
SANITIZE ?=
OPT      ?= -O2
CSTD      = -std=c17
WARN      = -Wall -Wextra -Wshadow -Wstrict-prototypes -Werror
CPPFLAGS += -Iinclude -Isrc -D_GNU_SOURCE
CFLAGS   += $(CSTD) $(WARN) $(OPT) -g -pthread -MMD -MP
LDLIBS   += -lsqlite3 -ljansson -lxxhash -lsodium -lmicrohttpd -lzstd -lz -lm -pthread

ifneq ($(SANITIZE),)
BUILD    ?= build/san
CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=$(SANITIZE)
else
BUILD    ?= build
endif

LIB_SRC  := $(sort $(filter-out src/cli/%,$(wildcard src/*/*.c)))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
LIB      := $(BUILD)/libtagbase.a
BIN      := $(BUILD)/tagbase

.PHONY: all test unit e2e fuzz fuzz-build bench run deps format format-check clean web
.DEFAULT_GOAL := all

all: $(BIN) $(BUILD)/segbench $(BUILD)/view360 $(BUILD)/rowsbench

# The tagbase side of bench/segments.sh (links the library like the unit tests do).
$(BUILD)/segbench: bench/segbench.c $(LIB)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/view360: bench/view360.c $(LIB)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# bench/rows.sh: a row into the meta store, a statement each or one INSERT ... SELECT (meta.h).
$(BUILD)/rowsbench: bench/rowsbench.c $(LIB)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) -lcmocka $(LDLIBS)

deps:
	@scripts/deps.sh

# Unit tests (cmocka) then black-box tests (node:test driving build/tagbase). The runner prints a
# closing "N passed, N failed" line and exits non-zero when anything failed.
test: deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN) web
	@BUILD=$(BUILD) tests/run.sh unit e2e

unit: $(UNIT_BIN)
	@BUILD=$(BUILD) tests/run.sh unit

e2e: $(BIN) web
	@BUILD=$(BUILD) tests/run.sh e2e

# libFuzzer: every tests/fuzz/fuzz_*.c linked against the library sources built with clang. The
# library is compiled once (instrumented, without libFuzzer's main) and every target links it.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FUZZ_BUILD    = build/fuzz
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_FLAGS    = $(CSTD) -g -O1 $(FUZZ_SAN)
FUZZ_OBJ     := $(LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

fuzz-build: $(FUZZ_OBJ)
	@set -e; for f in $(FUZZ_SRC); do \
	  n=$$(basename $$f .c); \
	  echo "fuzz: linking $$n"; \
	  $(FUZZ_CC) $(CPPFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $(FUZZ_BUILD)/$$n $$f $(FUZZ_OBJ) $(LDLIBS); \
	done

fuzz:
	@scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_BUILD=$(FUZZ_BUILD) tests/fuzz/run.sh $(notdir $(FUZZ_SRC:.c=))

bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory all
	@set -e; for b in bench/*.sh; do echo "== $$b"; BUILD=$(BUILD) $$b; done

run: deps
	@$(MAKE) --no-print-directory all web
	@BUILD=$(BUILD) scripts/run.sh

# The web console (web/, docs/console.md): npm ci from the committed lock file (again only when
# it changed), then vite build into web/dist (again only when a source changed). Only the npm
# registry is needed; node_modules and dist are not committed.
WEB_SRC := web/index.html web/vite.config.js web/package.json $(shell find web/src web/public -type f 2>/dev/null)

web: web/dist/index.html

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SRC)
	cd web && npm run --silent build -- --logLevel warn
	@touch $@

format:
	@scripts/deps.sh format
	clang-format -i include/*.h src/*/*.[ch] tests/unit/*.[ch] tests/fuzz/*.c

format-check:
	@scripts/deps.sh format
	clang-format --dry-run -Werror include/*.h src/*/*.[ch] tests/unit/*.[ch] tests/fuzz/*.c

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
