# `make demo` and `make test` set themselves up in .venv on a fresh machine (Python 3.11+ only).
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck pytest generated bench fuzz soak samples layer lint-infra clean

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

# Every core (PYTEST_WORKERS=0: one process, as `pytest` alone runs).
PYTEST_WORKERS ?= auto
pytest: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS)

# Every file derived from the rules and the settings (scripts/generate.py says which); a test fails
# while one is stale.
generated: $(STAMP)
	$(BIN)/python scripts/generate.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py

# The bad-input properties of the test suite with 100x the examples; prints the inputs tried.
fuzz: $(STAMP)
	$(BIN)/python scripts/fuzz.py

# 100,000 EventBridge events through lambda_handler (moto, a local SMTP server): the exact alerts, and how fast.
soak: $(STAMP)
	$(BIN)/python scripts/soak.py

samples: $(STAMP)
	$(BIN)/python scripts/generate_samples.py samples/

LAYER_PYTHON ?= 3.14
LAYER_ARCH ?= arm64

# The Lambda Layer: python/trailguard + its dependencies for the runtime's Python and architecture
# (LAYER_ARCH=x86_64 for Intel functions). boto3 comes from the runtime and is not bundled.
# RULES=DIR bundles your own rule files as python/trailguard_rules/ (README: "Writing your own rules").
layer: $(STAMP)
	$(BIN)/python scripts/build_layer.py --python $(LAYER_PYTHON) --arch $(LAYER_ARCH) --out dist/layer.zip \
	  $(if $(RULES),--rules $(RULES))

# SAM CLI and checkov live in venvs of their own: installed into .venv they downgrade boto3.
INFRA_TOOLS ?= .venv-infra
SAM_CLI_VERSION ?= 1.170.0
CHECKOV_VERSION ?= 3.3.30
$(INFRA_TOOLS)/sam/bin/sam:
	$(PYTHON) -m venv $(INFRA_TOOLS)/sam
	$(INFRA_TOOLS)/sam/bin/python -m pip install --quiet aws-sam-cli==$(SAM_CLI_VERSION)
$(INFRA_TOOLS)/checkov/bin/checkov:
	$(PYTHON) -m venv $(INFRA_TOOLS)/checkov
	$(INFRA_TOOLS)/checkov/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)

# cfn-lint (with informational checks), sam validate --lint and checkov over both templates.
lint-infra: $(STAMP) $(INFRA_TOOLS)/sam/bin/sam $(INFRA_TOOLS)/checkov/bin/checkov
	$(BIN)/python scripts/generate.py --check
	$(BIN)/cfn-lint --include-checks I -- infra/template.yaml infra/forwarder.yaml
	for template in infra/template.yaml infra/forwarder.yaml; do \
	  SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 $(INFRA_TOOLS)/sam/bin/sam validate --lint --template-file $$template || exit 1; \
	done
	$(INFRA_TOOLS)/checkov/bin/checkov --directory infra --quiet --compact --skip-download

clean:
	rm -rf $(VENV) $(INFRA_TOOLS) build dist .pytest_cache .mypy_cache .ruff_cache .bench outbox
