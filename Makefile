# Framelane developer targets. `make demo` and `make test` work on a fresh machine (they run setup first).
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080

# the CDK CLI pinned in package.json (3.x rejects aws-cdk-lib 2's assembly schema), installed by scripts/setup.sh
CDK := node_modules/.bin/cdk

.PHONY: setup demo local test lint typecheck unit integration bench bench-local fuzz soak soak-small clean synth deploy lambda-deps image-test mutation

setup:
	@scripts/setup.sh dev

demo: setup
	$(BIN)/framelane local --port $(PORT) --demo

local: setup
	$(BIN)/framelane local --port $(PORT)

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

unit:
	$(BIN)/pytest -q tests/unit

integration:
	$(BIN)/pytest -q tests/integration

test: setup lambda-deps lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider

bench: setup
	PYTHONPATH=. $(BIN)/python bench/api_bench.py
	PYTHONPATH=. $(BIN)/python bench/broker_bench.py
	PYTHONPATH=. $(BIN)/python bench/mixed_load_bench.py
	PYTHONPATH=. $(BIN)/python bench/transcode_bench.py
	PYTHONPATH=. $(BIN)/python bench/e2e_bench.py
	PYTHONPATH=. $(BIN)/python bench/transcribe_bench.py
	PYTHONPATH=. $(BIN)/python bench/engines_bench.py
	PYTHONPATH=. $(BIN)/python bench/quality_report.py
	PYTHONPATH=. $(BIN)/python bench/provenance_bench.py
	PYTHONPATH=. $(BIN)/python bench/long_video_bench.py
	PYTHONPATH=. $(BIN)/python bench/fairness_bench.py

# schemathesis against a fresh `framelane local`: every check, all four phases (examples, coverage, fuzzing,
# stateful), FUZZ_EXAMPLES per operation and phase, a new seed each run (printed; FUZZ_SEED=N repeats one). The
# script runs itself in a loopback-only network namespace (`unshare --net`, root). The suite runs a small budget.
FUZZ_EXAMPLES ?= 200
FUZZ_SEED ?=

fuzz: setup
	$(BIN)/python scripts/openapi_fuzz.py --max-examples $(FUZZ_EXAMPLES) $(if $(FUZZ_SEED),--seed $(FUZZ_SEED))

# The large soak of issue 11 against a fresh `framelane local` (a quarter of an hour or more on 2 cores). The small
# one is tests/integration/test_soak.py. Set LOOPBACK_ONLY to a wrapper that leaves the run only loopback (a
# fresh network namespace, e.g. `unshare --net` with lo up) where one is available.
LOOPBACK_ONLY ?=
SOAK ?= --tasks 300 --workers 4 --worker-kills 10 --broker-kills 2 --api-restarts 2 --webhook-outages 2 \
	--stalling-sources 5 --long-every 10 --segment-kills 3 --workspaces 2 --quota 2 --timeout 3600

soak: setup
	$(LOOPBACK_ONLY) $(BIN)/framelane soak $(SOAK)

soak-small: setup
	$(LOOPBACK_ONLY) $(BIN)/framelane soak --tasks 30 --workers 2 --timeout 170

# Issue 17's load on the local API: 1 client, then 32 mixed for 40 s, against a real `framelane local --ephemeral`.
bench-local: setup
	PYTHONPATH=. $(LOOPBACK_ONLY) $(BIN)/python bench/local_api_load_bench.py

# The Lambda layer: pyproject's `lambda` extra, built for the Lambda platform (pip, no Docker); a no-op when
# build/lambda-deps already holds that build.
lambda-deps: setup
	$(BIN)/python -m infra.packaging

# The worker image's Python environment as containers/renderer/Dockerfile builds it (a clean venv, the `worker`
# extra's requirements from the package index: ~8 min here), then its entrypoint commands run from it. The default
# suite's tests/integration/test_worker_image.py links the same distributions from .venv instead (seconds).
image-test: setup
	rm -rf build/image-venv
	python3.11 -m venv build/image-venv
	$(BIN)/python infra/packaging.py requirements worker > build/image-requirements.txt
	build/image-venv/bin/pip install --no-cache-dir -r build/image-requirements.txt
	FRAMELANE_IMAGE_VENV=build/image-venv $(BIN)/pytest -q -p no:cacheprovider tests/integration/test_worker_image.py

synth: setup lambda-deps
	$(CDK) synth --quiet

deploy: setup lambda-deps
	$(CDK) deploy --require-approval broadening

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# Mutation testing (mutmut 3) of services/, security/, errors and models, driven by tests/unit; docs/quality/mutation.md
# holds the last report. Takes long on 2 cores: MUTANTS narrows it, e.g. MUTANTS='framelane.security.*'.
MUTANTS ?=
mutation: setup
	scripts/mutation.sh $(MUTANTS)
