# The two commands: `make run` and `make test`. Both create .venv/ when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run cluster test lint format schema clean bench bench-peers

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Start a node on the embedded default (embedded PostgreSQL, in-process bus) with the sandbox.
run: $(STAMP)
	$(BIN)/roomserver run --sandbox

## Three nodes sharing Redis and PostgreSQL behind a load balancer (when HAProxy or nginx is
## installed), with the sandbox: see README, "Many nodes".
cluster: $(STAMP)
	$(BIN)/roomserver cluster --nodes 3 --sandbox

## Lint, type-check and run every test against real PostgreSQL and Redis.
test: $(STAMP) lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Refresh the committed JSON schema of the wire after a deliberate protocol change.
schema: $(STAMP)
	$(BIN)/python -m protocol.schema > protocol/wire_schema.json

## Install the fan-out benchmark's peers (Node.js ws, Colyseus, python-socketio) into .bench/.
bench-peers: $(STAMP)
	bash bench/install.sh

## Every benchmark side by side (our server, the peers, pgbench): .bench/results/summary.md.
bench: bench-peers
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
