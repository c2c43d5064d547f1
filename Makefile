# The front door. `make run` and `make test` install what they need by themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CDK_CLI_VERSION := 2.1148.0
# checkov lives in its own virtualenv: its pins would clash with the project's, and `make test` never needs it.
AUDIT_VENV := .venv-audit
CHECKOV_VERSION := 3.3.30
AUDIT_STAMP := $(AUDIT_VENV)/.checkov-$(CHECKOV_VERSION)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test lint synth audit deploy bench journey cost soak capacity expiry openapi stress clean adlaw-eval

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
	$(PY) -m mypy shared functions infra tools examples

## CloudFormation template into cdk.out/ (offline, no Docker).
synth: $(STAMP)
	$(PY) -m infra.app

$(AUDIT_STAMP):
	test -x $(AUDIT_VENV)/bin/python || $(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/python -m pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)
	touch $@

## checkov (pinned, own venv) as a second judge after cdk-nag: synth offline, then fail on any finding that is
## neither fixed nor accepted with its reason in infra/constructs/audit.py, and on any stale acceptance.
audit: $(STAMP) $(AUDIT_STAMP)
	$(PY) -m infra.app
	$(PY) -m infra.constructs.audit --checkov $(AUDIT_VENV)/bin/checkov cdk.out/Order24.template.json

## Deploy with the CDK CLI (major version 2, pinned) to the account in your AWS profile.
deploy: $(STAMP)
	$(PY) -m infra.layer
	CDK_DISABLE_CLI_TELEMETRY=true npx --yes aws-cdk@$(CDK_CLI_VERSION) deploy --no-notices --app '$(PY) -m infra.app'

## Cold-import ratios and local latency, one run on this machine -> docs/benchmarks.md (not a test).
## e.g. make bench BENCH_ARGS="--orders 400 --runs 3 --repeats 7"
bench: $(STAMP)
	$(PY) -m tools.bench $(BENCH_ARGS)

## Digital orders over HTTP against a running `RISK_MODE=shadow make run` (another terminal): PAID -> COMPLETED p99.
## e.g. make journey JOURNEY_ARGS="--orders 200 --clients 8"
journey: $(STAMP)
	$(PY) -m tools.bench.journey $(JOURNEY_ARGS)

## Precision / recall of the ad-law matcher on shared/review/data/adlaw_labelled.tsv (add --misses to list errors).
adlaw-eval: $(STAMP)
	$(PY) -m shared.review.evaluate $(ADLAW_ARGS)

## Regenerate docs/openapi.json from the routes.
openapi: $(STAMP)
	$(PY) -m infra.openapi > docs/openapi.json

## Cost per million orders: N orders (ORDERS, default 200) through the whole lifecycle, metered and priced.
cost: $(STAMP)
	$(PY) -m tools.bench.cost --orders $${ORDERS:-200}

## docs/capacity.md for 150,000 orders/s, from the last `make cost` run (.local/cost.json).
capacity: $(STAMP)
	$(PY) -m tools.bench.capacity

## Expiries per second: N expired orders (ORDERS, default 2000) through the sweeper and expiry_worker on moto,
## fan-out and inline; stores both in docs/expiry.json for section 8 of docs/capacity.md (then: make capacity).
expiry: $(STAMP)
	$(PY) -m tools.bench.expiry --orders $${ORDERS:-2000} --publish
	$(PY) -m tools.bench.expiry --orders $${ORDERS:-2000} --mode inline --publish

## The long fuzz, byte-fuzz, fault/throttle-injection and replay-storm runs (make test runs the same tests, smaller).
soak: $(STAMP)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-1000} BYTE_FUZZ_CASES=$${BYTE_FUZZ_CASES:-20000} \
	FAULT_ORDERS=$${FAULT_ORDERS:-300} FAULT_SETTLE_SECONDS=$${FAULT_SETTLE_SECONDS:-600} \
	THROTTLE_ORDERS=$${THROTTLE_ORDERS:-200} STORM_ORDERS=$${STORM_ORDERS:-60} \
	AFTER_SALES_ORDERS=$${AFTER_SALES_ORDERS:-200} AFTER_SALES_SETTLE_SECONDS=$${AFTER_SALES_SETTLE_SECONDS:-600} \
	STORM_REFUND_ORDERS=$${STORM_REFUND_ORDERS:-60} $(PY) -m pytest -n 2 --dist loadgroup -s \
	  tests/e2e/test_fuzz.py tests/e2e/test_byte_fuzz.py tests/e2e/test_fault_injection.py tests/e2e/test_replay_storm.py

## 100 orders against 20 units, 20 times, both cores hogged, with cancels, expiries and stock edits:
## oversold = 0 and conserved = true per run (bounded; starts and stops its own stack and hog by PID).
## e.g. make stress STRESS_ARGS="--runs 3 --no-mix"
stress: $(STAMP)
	$(PY) -m tools.bench.stress $(STRESS_ARGS)

clean:
	rm -rf .local cdk.out
