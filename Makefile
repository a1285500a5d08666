# The two commands a new user needs: `make sandbox` and `make test`. Each installs what this
# machine lacks (lab/prerequisites.sh: Docker, debootstrap, Python's venv) and creates the
# project's virtualenv (.venv, with tsdb-deploy on its PATH) on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: sandbox sandbox-down test unit lint venv molecule bench bench-staging prerequisites docs reliability

prerequisites:
	PYTHON=$(PYTHON) lab/prerequisites.sh

$(STAMP): pyproject.toml
	PYTHON=$(PYTHON) lab/prerequisites.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

venv: $(STAMP)

## Deploy the whole stack to local Debian 13 test hosts and show what they got.
sandbox: $(STAMP) prerequisites
	$(BIN)/tsdb-deploy sandbox up

## Remove the sandbox's test hosts.
sandbox-down: $(STAMP)
	$(BIN)/tsdb-deploy sandbox down

## Lint, unit tests, then integration tests on fresh test hosts (needs Docker).
test: $(STAMP) prerequisites lint
	$(BIN)/python -m pytest

## Unit tests only (no Docker).
unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## docs/settings.md from the settings table (a unit test fails while it is stale).
docs: $(STAMP)
	$(BIN)/python -m tsdb_deploy.settings_reference > docs/settings.md

## The benchmark (a benchmark, not a test): variants A-D, ingest, queries, physical limits,
## deploy time; results, report and charts in bench/results/. ARGS="--events 1000000" etc.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/tsdb-deploy bench $(ARGS)

## A staging rebuild against a plain restore of the same backup, on two test hosts:
## bench/results/staging.md. ARGS="--events 1000000" etc.
bench-staging: $(STAMP) prerequisites
	$(BIN)/python -m lab.bench.staging $(ARGS)

## The reliability suite in full: a deploy stopped after every operation, from a converged
## host and from bare ones (hours); figures in bench/results/reliability.json.
reliability: $(STAMP) prerequisites
	TSDB_INTERRUPT_ALL=1 TSDB_RELIABILITY_REPORT=bench/results/reliability.json \
		$(BIN)/python -m pytest tests/integration/test_reliability.py $(ARGS)

## The molecule scenario: create, converge, idempotence, verify, destroy.
molecule: $(STAMP)
	cd $(CURDIR) && PATH=$(CURDIR)/$(BIN):$$PATH TSDB_PYTHON=$(CURDIR)/$(BIN)/python \
		molecule test
