#!/usr/bin/env bash
# Tools the tests need beyond Python packages, installed when missing:
#  - Azurite (Azure Storage emulator, npm) into .tools/, for the scale-out tests.
#  - The Azure CLI (PyPI azure-cli, pinned) in a virtualenv of its own, .tools/azure-cli-venv, for the check
#    of every `az` command in AZURE_DEPLOYMENT.md (tests/test_azure_guide.py). Its ~150 packages stay out of
#    the app's environment. Its authV2 extension is tried too (.tools/azure-cli-extensions): `az extension
#    add` reads an index on aka.ms and downloads from Microsoft's blob storage, not PyPI, so where only
#    PyPI is reachable that fails and the test checks the sign-in commands against the extension's recorded
#    options instead (tests/fixtures/azure_cli.py). That failure is a note, not an error, under CI too.
# Chromium for the browser tests is a system package: .ci/run installs it (apt).
# Locally, a tool that cannot be had is a warning and the tests that need it skip. Under CI=true it is
# an error here, and the tests that need it fail (tests/fixtures/tools.py): CI never goes green by skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
AZURITE_VERSION=3.37.0
AZURE_CLI_VERSION=2.91.0   # tests/fixtures/azure_cli.py names the same version
AZ_VENV=.tools/azure-cli-venv
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

under_ci() { case "${CI:-}" in 1|true|TRUE|True|yes|on) return 0 ;; *) return 1 ;; esac; }
missing() {
  if under_ci; then
    echo "error: $1 (CI=true: a missing test tool is a failure)" >&2
    exit 1
  fi
  echo "warning: $1; the tests that need it will be skipped" >&2
}

if [ ! -x .tools/node_modules/.bin/azurite ]; then
  if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    missing "npm and node are needed to install Azurite (Azure Storage emulator)"
  else
    echo "installing azurite@${AZURITE_VERSION} into .tools/ ..."
    mkdir -p .tools
    if ! output=$(npm install --prefix .tools --no-audit --no-fund --silent "azurite@${AZURITE_VERSION}" 2>&1); then
      printf '%s\n' "$output" | tail -n 20 >&2
      missing "could not install azurite@${AZURITE_VERSION} with npm"
    fi
  fi
fi
if under_ci && [ ! -x "$CHROMIUM" ]; then
  missing "$CHROMIUM is not installed (apt-get install chromium), so the browser tests cannot run"
fi
if [ ! -f "$AZ_VENV/.installed-$AZURE_CLI_VERSION" ]; then
  PY=${PYTHON:-python3}
  if ! command -v "$PY" >/dev/null 2>&1; then
    missing "python3 is needed to install the Azure CLI"
  else
    echo "installing azure-cli==${AZURE_CLI_VERSION} into ${AZ_VENV} (first run only, about a minute) ..."
    rm -rf "$AZ_VENV"
    if ! output=$("$PY" -m venv "$AZ_VENV" 2>&1 && "$AZ_VENV/bin/python" -m pip install --disable-pip-version-check \
          -q "azure-cli==${AZURE_CLI_VERSION}" 2>&1); then
      printf '%s\n' "$output" | grep -v "is ignored" | tail -n 20 >&2
      rm -rf "$AZ_VENV"
      missing "could not install azure-cli==${AZURE_CLI_VERSION} from PyPI"
    else
      touch "$AZ_VENV/.installed-$AZURE_CLI_VERSION"
    fi
  fi
fi
if [ -x "$AZ_VENV/bin/az" ] && ! ls -d .tools/azure-cli-extensions/authV2* >/dev/null 2>&1 \
    && [ ! -f .tools/azure-cli-extensions.tried ]; then
  mkdir -p .tools/azure-cli-extensions
  if AZURE_EXTENSION_DIR="$PWD/.tools/azure-cli-extensions" AZURE_CONFIG_DIR="$PWD/.tools/azure-cli-config" \
      AZURE_CORE_COLLECT_TELEMETRY=no timeout 120 "$AZ_VENV/bin/az" extension add --name authV2 --only-show-errors \
      >/dev/null 2>&1; then
    echo "authV2 extension installed into .tools/azure-cli-extensions"
  else
    echo "note: the authV2 extension could not be downloaded (its index and wheel are not on PyPI); the sign-in commands are checked against its recorded options" >&2
  fi
  touch .tools/azure-cli-extensions.tried   # tried once; delete this file to try again
fi
