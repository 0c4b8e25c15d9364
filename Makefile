# Framelane developer targets. `make demo` and `make test` work on a fresh machine (they run setup first).
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080

CDK := npx --yes aws-cdk@2.1148.1

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

test: setup lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider

bench: setup
	PYTHONPATH=. $(BIN)/python bench/api_bench.py
	PYTHONPATH=. $(BIN)/python bench/broker_bench.py
	PYTHONPATH=. $(BIN)/python bench/pipeline_bench.py
	PYTHONPATH=. $(BIN)/python bench/e2e_bench.py
	PYTHONPATH=. $(BIN)/python bench/transcribe_bench.py
	PYTHONPATH=. $(BIN)/python bench/engines_bench.py

# Third-party packages for the Lambda layer, built for the Lambda platform (no Docker needed).
lambda-deps: setup
	rm -rf build/lambda-deps && mkdir -p build/lambda-deps/python
	$(BIN)/pip install --quiet --target build/lambda-deps/python --platform manylinux2014_x86_64 \
	  --implementation cp --python-version 3.11 --only-binary=:all: \
	  "fastapi>=0.115" "mangum>=0.19" "aws-lambda-powertools[tracer]>=3" "pydantic>=2.9,<3" "pydantic-settings>=2.4" \
	  "python-ulid>=3" "redis>=5" "av>=14" "urllib3>=2" "jinja2>=3.1"

synth: setup
	$(CDK) synth --quiet

deploy: setup lambda-deps
	$(CDK) deploy --require-approval broadening

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
