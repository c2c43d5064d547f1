# The front door. `make run` and `make test` install what they need by themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CDK_CLI_VERSION := 2.1148.0
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test lint synth deploy bench cost soak capacity openapi clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

## Start the whole platform on loopback (moto-backed AWS, local gateway on :$${PORT:-8024}).
run: $(STAMP)
	$(PY) -m infra.local

## The whole test suite: unit, integration (moto), CDK assertions, end to end over HTTP.
test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadgroup

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy shared functions infra

## CloudFormation template into cdk.out/ (offline, no Docker).
synth: $(STAMP)
	$(PY) -m infra.app

## Deploy with the CDK CLI (major version 2, pinned) to the account in your AWS profile.
deploy: $(STAMP)
	$(PY) -m infra.layer
	CDK_DISABLE_CLI_TELEMETRY=true npx --yes aws-cdk@$(CDK_CLI_VERSION) deploy --no-notices --app '$(PY) -m infra.app'

## Regenerate docs/openapi.json from the routes.
openapi: $(STAMP)
	$(PY) -m infra.openapi > docs/openapi.json

clean:
	rm -rf .local cdk.out
