#!/usr/bin/env bash
# Start Policy Reader. Azure App Service (Linux) runs this as the startup command; `make run` and the
# container image (Dockerfile) run it too.
#  - jobs folder on persistent storage (JOBS_DIR; on App Service /home/policy-reader/jobs by default)
#  - binds 0.0.0.0:${PORT:-8000} (App Service sets PORT for code deployments), headless, upload limit
#    from MAX_FILE_MB
#  - checks the configuration and prints a summary without secrets. A bad or missing setting does NOT
#    stop the start: App Service ignores the exit code of a start command and would only show its own
#    error page. The app comes up, shows the one-line reason (the variable's name, never its value) on
#    its page and in this log, and refuses to create or resume jobs until the setting is fixed.
#  - resumes jobs a restart interrupted (only when the configuration is good)
set -uo pipefail
cd "$(dirname "$0")"

# The Python that has the app's packages: this checkout's .venv (`make`), App Service's build environment
# `antenv` beside the code (Oryx unpacks the build, antenv included, under /tmp at every start), else the one
# on PATH (the container's /opt/venv).
if [ -x .venv/bin/python ]; then PY=.venv/bin/python
elif [ -x antenv/bin/python ]; then PY=antenv/bin/python
else PY=${PYTHON:-python3}; fi
command -v "$PY" >/dev/null 2>&1 || PY=python

if [ -z "${JOBS_DIR:-}" ]; then
  if [ -n "${WEBSITE_SITE_NAME:-}" ]; then JOBS_DIR=/home/policy-reader/jobs; else JOBS_DIR=.jobs; fi
fi
export JOBS_DIR

# `startup.sh worker [ARGS]` (what worker.sh runs): the same Python and JOBS_DIR, then a queue worker
# instead of the web app.
if [ "${1:-}" = "worker" ]; then
  shift
  exec "$PY" -m policy_reader worker "$@"
fi

PORT=${PORT:-8000}
ADDRESS=${STREAMLIT_SERVER_ADDRESS:-0.0.0.0}
MAX_UPLOAD_MB=$("$PY" -c 'import math,os; print(max(1, math.ceil(float(os.environ.get("MAX_FILE_MB", "100")))))' 2>/dev/null || echo 100)

# Check the configuration (and the jobs folder) and print the summary line, never a secret.
if "$PY" -m policy_reader config --check; then
  # Resume jobs that a restart interrupted, in a process of their own beside the app (file locks keep them apart).
  "$PY" -m policy_reader recover --quiet &
else
  echo "startup: PROBLEM: the configuration above is not usable. The app starts anyway and shows the reason on its page; no job can be started until the setting is fixed (then restart the app)." >&2
fi
echo "startup: serving on http://${ADDRESS}:${PORT} (upload limit ${MAX_UPLOAD_MB} MB per file)"

exec "$PY" -m streamlit run main.py \
  --server.address "$ADDRESS" \
  --server.port "$PORT" \
  --server.headless true \
  --server.maxUploadSize "$MAX_UPLOAD_MB" \
  --server.fileWatcherType none \
  --browser.gatherUsageStats false
