# One command per job, the same for people and CI. `make help` lists them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PROFILE ?= deploy/sim/mixed.yaml
PORT ?= 8000
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run sim test test-unit test-integration lint typecheck bench bench-policy bench-overhead bench-floor bench-fleet bench-chaos bench-priority bench-embed bench-fairness bench-placement dist clean

help:  ## list the targets
	@echo "SOLLOL make targets:"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | awk -F'\t' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "SOLLOL needs Python 3.10 or newer; set PYTHON=python3.X")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install SOLLOL with test, lint and bench tools

run: install  ## start a demo fleet (embedded Redis, gateway, beat, simulated nodes + workers) on :8000, or PORT=N
	$(BIN)/sollol up --sim-profile $(PROFILE) --port $(PORT)

sim: install  ## run only the simulated Ollama nodes of $(PROFILE)
	$(BIN)/sollol sim --profile $(PROFILE)

test: install  ## the whole test suite (starts and stops its own Redis, sim nodes and workers)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: install  ## tests that need no Redis
	$(BIN)/python -m pytest -m "not integration" $(PYTEST_ARGS)

test-integration: install  ## tests against real Redis, Celery workers and sim nodes
	$(BIN)/python -m pytest -m integration $(PYTEST_ARGS)

lint: install  ## ruff check and ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install  ## strict mypy on the whole sollol package
	$(BIN)/mypy

bench: bench-policy bench-overhead  ## the benchmarks that run on one box in minutes

bench-policy: install  ## routing policies compared in a discrete-event simulation
	$(BIN)/python bench/policy.py

bench-overhead: install  ## latency SOLLOL adds over calling a node directly
	$(BIN)/python bench/overhead.py

bench-floor: install  ## CPU per request of a bare Flask + Celery + Redis path beside SOLLOL's
	$(BIN)/python bench/floor.py

bench-fleet: install  ## routing policies compared on the live stack
	$(BIN)/python bench/fleet.py

bench-chaos: install  ## faults injected under load: lost / duplicated / failed requests
	$(BIN)/python bench/chaos.py

bench-priority: install  ## priority waits on the live stack: critical stays fast, batch not starved
	$(BIN)/python bench/priority.py

bench-embed: install  ## batch embeddings: scaling over hosts, exactly once through faults, chat p99
	$(BIN)/python bench/embed.py

bench-fairness: install  ## fair share between API keys: a light key beside a flooding one
	$(BIN)/python bench/fairness.py

bench-placement: install  ## hot-model placement on the live stack: demand shifting between models
	$(BIN)/python bench/placement.py

dist: install  ## build the wheel a GPU box installs (dist/sollol-*.whl; never `pip install sollol` from an index)
	rm -rf dist
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir dist .
	@ls dist/*.whl

clean:  ## remove the venv and caches
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .benchmarks .hypothesis
