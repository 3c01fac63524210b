# Every target sets itself up: `make demo` and `make test` work on a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
CHECKOV_VENV := .venv-checkov
# RudderStack's Node SDK, for the end-to-end tests that send through it (from the npm registry, pinned).
NODE_SDK_HOME := .node-sdk
NODE_SDK      := $(NODE_SDK_HOME)/node_modules/@rudderstack/rudder-sdk-node/package.json
ENV         ?= dev
# trace, replay and delete-users: an environment only when one is named (ENV=…), else the stack `make local` runs.
NAMED_ENV    = $(if $(filter command line environment,$(origin ENV)),--env $(ENV),)
export SAM_CLI_TELEMETRY := 0
# sam build needs a python3.13 on PATH: the venv's own interpreter is one.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help install sdks lint check infra test bench demo local loadtest build deploy secrets trace replay delete-users dlq
.PHONY: redrive clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): requirements-dev.txt layers/requirements.txt pyproject.toml
	@test -x $(PY) || { py=$$(tools/find-python313) && $$py -m venv $(VENV); }
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt 2>&1 | { grep -v "is ignored" || true; }
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e . 2>&1 | { grep -v "is ignored" || true; }
	@touch $@

install: $(STAMP) ## create .venv (Python 3.13) with pinned runtime and dev dependencies

$(NODE_SDK):
	npm install --silent --no-audit --no-fund --no-save --prefix $(NODE_SDK_HOME) @rudderstack/rudder-sdk-node@3.0.13

sdks: $(NODE_SDK) ## RudderStack's Node SDK into .node-sdk (the Python SDKs come with make install)

lint: install ## ruff (lint, format, security rules) and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy layers functions tests tools local

check: lint ## the fast loop (pre-commit runs it): lint, types and the unit tests, under a minute
	$(VENV)/bin/pytest -q -p no:cacheprovider tests/unit

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || { py=$$(tools/find-python313) && $$py -m venv $(CHECKOV_VENV); }
	$(CHECKOV_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-checkov.txt 2>&1 | { grep -v "is ignored" || true; }
	@touch $@

infra: install $(CHECKOV_VENV)/.installed ## template checks offline: sam validate --lint, cfn-lint, checkov, sam build (arm64)
	$(VENV)/bin/sam validate --lint
	$(VENV)/bin/cfn-lint template.yaml
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --compact --skip-download --quiet
	$(MAKE) --no-print-directory build

build: install ## sam build: arm64 artifacts in .aws-sam/build (no Docker needed)
	$(VENV)/bin/sam build

test: lint infra sdks ## lint, type check, template checks and every test suite
	RUDDER_SDK_NODE_HOME=$(CURDIR)/$(NODE_SDK_HOME) $(VENV)/bin/pytest

deploy: build ## deploy one environment: make deploy ENV=prod
	$(VENV)/bin/sam deploy --config-env $(ENV)

secrets: install ## write the SSM SecureStrings of one environment: make secrets ENV=dev (from env vars or a prompt)
	$(PY) tools/ssm_secrets.py --env $(ENV) $(if $(ROTATE),--rotate-token,)

demo: install ## the whole pipeline locally (no AWS, no Docker) with Braze faults; ends with lost=0 duplicates=0 (MODE=buffered)
	$(PY) -m local.demo --mode $${MODE:-direct}

local: install ## the local stack for manual use: webhook on :3000 (PORT), Braze simulator on :4000 (BRAZE_PORT), MODE=buffered, API=rest
	$(PY) -m local.run

loadtest: install ## steady load on the local stack, each mode behind each API type (RATE=25/s, SECONDS=60, MODE=, API=); last line JSON
	$(PY) -m local.loadtest --rate $${RATE:-25} --seconds $${SECONDS:-60} --mode $${MODE:-all} --api $${API:-all}

bench: build ## benchmarks over the reference workload; writes docs/performance.md; last line is one JSON object
	PYTHONPATH=$(CURDIR) $(PY) tools/bench.py

trace: install ## what happened to events: make trace ID="<messageId> ..." [ENV=prod] (default: the make local stack on PORT)
	$(PY) -m rudder_braze trace $(NAMED_ENV) $(ID)

replay: install ## post historical events to /v1/batch: make replay FILE=<file, folder or s3://…> [ENV=] [RATE=500] [CHECKPOINT=]
	$(PY) -m rudder_braze replay $(NAMED_ENV) --rate $${RATE:-500} $(if $(CHECKPOINT),--checkpoint $(CHECKPOINT),) $(FILE)

delete-users: install ## delete users from Braze once each: make delete-users IDS="<userId> ..." [ENV=prod]
	$(PY) -m rudder_braze delete-users $(NAMED_ENV) $(IDS)

dlq: install ## what is in the dead-letter queue of one environment, and why: make dlq ENV=prod
	$(PY) tools/dlq.py show --env $(ENV)

redrive: install ## move dead-lettered events back to the retry queue: make redrive ENV=prod
	$(PY) tools/dlq.py redrive --env $(ENV)

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(NODE_SDK_HOME) .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis
