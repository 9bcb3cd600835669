# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: demo test install lint typecheck unit integration e2e bench translations clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP) translations

translations: $(STAMP)
	@$(BIN)/python -m scrm.catalogs

## make demo: install, prepare a SQLite file, seed demo data, run everything in one process.
demo: install
	$(BIN)/scrm demo

## make test: install test needs (Chromium included), make sure PostgreSQL and Redis are up, run all.
test: install
	@scripts/ensure-chromium.sh
	@scripts/ensure-services.sh
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q -p no:cacheprovider

unit: install
	$(BIN)/pytest -q tests/unit

integration: install
	$(BIN)/pytest -q tests/integration

e2e: install
	@scripts/ensure-chromium.sh
	$(BIN)/pytest -q tests/e2e

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/webhook.py

clean:
	rm -rf $(VENV) instance/*.db .pytest_cache .mypy_cache .ruff_cache test-artifacts
