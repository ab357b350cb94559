#!/usr/bin/env bash
# Tools the tests need beyond Python packages, installed when missing:
#  - Azurite (Azure Storage emulator, npm) into .tools/, for the scale-out tests.
# Chromium for the browser test is a system package: .ci/run installs it (apt); without it that test skips.
set -euo pipefail
cd "$(dirname "$0")/.."
AZURITE_VERSION=3.37.0
if [ ! -x .tools/node_modules/.bin/azurite ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "installing azurite@${AZURITE_VERSION} into .tools/ ..."
    mkdir -p .tools
    npm install --prefix .tools --no-audit --no-fund --silent "azurite@${AZURITE_VERSION}" >/dev/null 2>&1 \
      || echo "warning: could not install azurite; the Azure Storage tests will be skipped" >&2
  else
    echo "warning: npm not found; the Azure Storage tests will be skipped" >&2
  fi
fi
