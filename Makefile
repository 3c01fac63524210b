# Every target sets itself up: `make demo` and `make test` work on a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
CHECKOV_VENV := .venv-checkov
ENV         ?= dev
export SAM_CLI_TELEMETRY := 0
# sam build needs a python3.13 on PATH: the venv's own interpreter is one.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help install lint test test-unit test-integration test-e2e test-infra bench demo local build clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): requirements-dev.txt layers/requirements.txt pyproject.toml
	@test -x $(PY) || { py=$$(tools/find-python313) && $$py -m venv $(VENV); }
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt 2>&1 | { grep -v "is ignored" || true; }
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e . 2>&1 | { grep -v "is ignored" || true; }
	@touch $@

install: $(STAMP) ## create .venv (Python 3.13) with pinned runtime and dev dependencies

lint: install ## ruff (lint, format, security rules) and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy layers functions tests tools local

test: lint ## lint, type check and every test suite
	$(VENV)/bin/pytest

test-unit: install
	$(VENV)/bin/pytest tests/unit

bench: install ## benchmark over the reference workload; last line is one JSON object
	$(PY) tools/bench.py

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis
