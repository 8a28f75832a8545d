# `make demo` and `make test` set themselves up in .venv on a fresh machine (Python 3.11+ only).
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck pytest bench samples layer clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "trailguard needs Python 3.11 or newer on PATH" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Scans the bundled day of CloudTrail logs. Exit code 1 means "findings", which is the point here.
demo: $(STAMP)
	@echo "Scanning samples/: a generated day of CloudTrail logs of a small company (the story: samples/README.md)"
	@rm -rf outbox
	@$(BIN)/trailguard scan samples/ --config samples/trailguard.toml --outbox outbox; rc=$$?; \
	  if [ $$rc -gt 1 ]; then exit $$rc; fi

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check
	$(BIN)/ruff format --check

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py

samples: $(STAMP)
	$(BIN)/python scripts/generate_samples.py samples/

LAYER_PYTHON ?= 3.14
LAYER_ARCH ?= arm64

# The Lambda Layer: python/trailguard + its dependencies for the runtime's Python and architecture
# (LAYER_ARCH=x86_64 for Intel functions). boto3 comes from the runtime and is not bundled.
layer: $(STAMP)
	$(BIN)/python scripts/build_layer.py --python $(LAYER_PYTHON) --arch $(LAYER_ARCH) --out dist/layer.zip

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache .bench outbox
