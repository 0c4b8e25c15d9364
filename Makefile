# Framelane developer targets. `make demo` and `make test` work on a fresh machine (they run setup first).
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080

# the CDK CLI pinned in package.json (3.x rejects aws-cdk-lib 2's assembly schema), installed by scripts/setup.sh
CDK := node_modules/.bin/cdk

.PHONY: setup demo local test lint typecheck unit integration bench clean synth deploy lambda-deps

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
	PYTHONPATH=. $(BIN)/python bench/pipeline_bench.py
	PYTHONPATH=. $(BIN)/python bench/e2e_bench.py
	PYTHONPATH=. $(BIN)/python bench/transcribe_bench.py
	PYTHONPATH=. $(BIN)/python bench/engines_bench.py

# The Lambda layer: pyproject's `lambda` extra, built for the Lambda platform (pip, no Docker); a no-op when
# build/lambda-deps already holds that build.
lambda-deps: setup
	$(BIN)/python -m infra.packaging

synth: setup lambda-deps
	$(CDK) synth --quiet

deploy: setup lambda-deps
	$(CDK) deploy --require-approval broadening

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
