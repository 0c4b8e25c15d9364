# Framelane developer targets. `make demo` and `make test` work on a fresh machine (they run setup first).
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080

.PHONY: setup demo local test lint typecheck unit integration bench clean

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

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
