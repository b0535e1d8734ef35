# axle developer entry points. `make demo` and `make test` work on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install system-deps demo test unit integration lint bench clean

install: $(STAMP)

# Reinstall only when the project metadata changes: a second `make install` is a no-op.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# System packages the integration tests start for real (kubectl for the kubectl tests).
system-deps:
	@./scripts/system-deps.sh

demo: install
	$(BIN)/python -m axle.cli.demo

test: install system-deps lint
	$(BIN)/python -m pytest -q

unit: install
	$(BIN)/python -m pytest -q -m "not integration"

integration: install system-deps
	$(BIN)/python -m pytest -q -m integration

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install
	$(BIN)/python bench/api.py
	$(BIN)/python bench/inventory.py
	$(BIN)/python bench/pools.py
	$(BIN)/python bench/render.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
