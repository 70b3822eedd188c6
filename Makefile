# `make run` and `make test` set everything up themselves from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
NODE_DIR := tests/oidc
NODE_INSTALLED := $(NODE_DIR)/node_modules/.installed
export PORTAL_TMF_SPEC_DIR ?= ../shared/tmf

.PHONY: run test bench lint format screenshots clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(NODE_INSTALLED): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

## Serve the portal on http://127.0.0.1:5000 with SQLite, the development IdP and demo data.
run: $(INSTALLED)
	mkdir -p instance
	$(BIN)/flask --app app db upgrade
	$(BIN)/flask --app app demo load --if-empty
	$(BIN)/flask --app app serve --host 127.0.0.1 --port 5000

## Run the whole test suite (PORTAL_TEST_DATABASE_URL=postgresql+psycopg://... for PostgreSQL).
test: $(INSTALLED) $(NODE_INSTALLED)
	$(BIN)/python -m pytest -n auto $(PYTEST_ARGS)

## Benchmarks: figures and ratios against a baseline measured in the same run.
bench: $(INSTALLED)
	$(BIN)/python -m pytest tests/bench -q -s -p no:randomly $(PYTEST_ARGS)

lint: $(INSTALLED)
	$(BIN)/ruff check .

format: $(INSTALLED)
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) $(NODE_DIR)/node_modules instance
