# The two commands a newcomer needs:  `make run`  and  `make test`.
# Each creates .venv and installs the pinned requirements on first use (Python 3.11+).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
PORT   ?= 8501

.PHONY: run test bench install install-dev test-tools clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	@# rapidocr-onnxruntime (the OCR before rapidocr 3) pulled the GUI opencv-python, which needs libGL and
	@# shares cv2/ with the headless build: remove both so the headless one is installed cleanly.
	@if $(BIN)/python -m pip show opencv-python >/dev/null 2>&1; then \
	  $(PIP) uninstall -y opencv-python opencv-python-headless rapidocr-onnxruntime; fi
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

## Benchmarks: prints a table and writes bench/results.md.
bench: $(VENV)/.dev
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .tools .pytest_cache
