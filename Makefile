# `make run`: set up, ingest the seed article, start the app.  `make test`: set up, run the tests.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test setup setup-dev lint ask clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned: otherwise pip resolves a CUDA build of several GB.
	$(BIN)/pip install --quiet torch==2.13.0

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[ui]"
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

run: setup
	$(BIN)/newsqa ingest seeds/
	$(BIN)/streamlit run ui/app.py --server.port $(PORT)

ask: setup
	$(BIN)/newsqa ingest seeds/
	$(BIN)/newsqa ask "What did Peskov say?"

test: setup-dev
	$(BIN)/ruff check src ui ingest tests benchmarks
	$(BIN)/ruff format --check src ui ingest tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest

lint: setup-dev
	$(BIN)/ruff check --fix src ui ingest tests benchmarks
	$(BIN)/ruff format src ui ingest tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
