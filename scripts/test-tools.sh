#!/usr/bin/env bash
# Tools the tests need beyond Python packages, installed when missing:
#  - Azurite (Azure Storage emulator, npm) into .tools/, for the scale-out tests.
# Chromium for the browser tests is a system package: .ci/run installs it (apt).
# Locally, a tool that cannot be had is a warning and the tests that need it skip. Under CI=true it is
# an error here, and the tests that need it fail (tests/fixtures/tools.py): CI never goes green by skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
AZURITE_VERSION=3.37.0
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
