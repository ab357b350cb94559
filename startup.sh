#!/usr/bin/env bash
# Start Policy Reader. Azure App Service (Linux) runs this as the startup command; `make run` runs it locally.
#  - jobs folder on persistent storage (JOBS_DIR; on Azure under /home, which survives restarts and deploys)
#  - binds 0.0.0.0:${PORT:-8000}, headless, upload size limit from MAX_FILE_MB
#  - validates the configuration and prints a summary without secrets; fails fast when it is wrong
#  - resumes jobs a restart interrupted
set -euo pipefail
cd "$(dirname "$0")"

if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=${PYTHON:-python3}; fi
command -v "$PY" >/dev/null 2>&1 || PY=python

if [ -z "${JOBS_DIR:-}" ]; then
  if [ -n "${WEBSITE_SITE_NAME:-}" ]; then JOBS_DIR=/home/policy-reader/jobs; else JOBS_DIR=.jobs; fi
fi
export JOBS_DIR
if ! mkdir -p "$JOBS_DIR" 2>/dev/null || ! touch "$JOBS_DIR/.write-test" 2>/dev/null; then
  echo "startup: ERROR: the jobs folder '$JOBS_DIR' is not writable. Set JOBS_DIR to a writable folder (on Azure: under /home)." >&2
  exit 2
fi
rm -f "$JOBS_DIR/.write-test"

PORT=${PORT:-${WEBSITES_PORT:-8000}}
ADDRESS=${STREAMLIT_SERVER_ADDRESS:-0.0.0.0}
MAX_UPLOAD_MB=$("$PY" -c 'import math,os; print(max(1, math.ceil(float(os.environ.get("MAX_FILE_MB", "100")))))' 2>/dev/null || echo 100)

# Validate the configuration and print the summary (never a secret). Non-zero exit = clear message, stop here.
"$PY" -m policy_reader config --check || { echo "startup: fix the configuration above and restart." >&2; exit 2; }
echo "startup: serving on http://${ADDRESS}:${PORT} (upload limit ${MAX_UPLOAD_MB} MB per file)"

# Resume jobs that a restart interrupted, in a process of their own beside the app (file locks keep them apart).
"$PY" -m policy_reader recover --quiet &

exec "$PY" -m streamlit run main.py \
  --server.address "$ADDRESS" \
  --server.port "$PORT" \
  --server.headless true \
  --server.maxUploadSize "$MAX_UPLOAD_MB" \
  --server.fileWatcherType none \
  --browser.gatherUsageStats false
