#!/usr/bin/env bash
# Start a queue worker (`python -m policy_reader worker`, JOB_STORE=azure) with the Python that has the app's
# packages, wherever the app was laid out:
#  - a checkout (`make install`): .venv beside this script
#  - App Service's build (Oryx): `antenv` beside this script, once output.tar.gz is unpacked (the web app's
#    start does that under /tmp; a WebJob's run.sh does it itself: AZURE_DEPLOYMENT.md, section 15)
#  - the container image: the python on PATH (/opt/venv); Azure Container Apps runs `bash worker.sh`
# JOBS_DIR (local temp cache of the inputs a worker reads) defaults as in startup.sh. Extra arguments are
# passed to the worker. SIGTERM stops it cleanly: its documents in progress go back to the queue.
set -uo pipefail
# The Python and JOBS_DIR are chosen as for the web app, by startup.sh itself (one place).
exec bash "$(dirname "$0")/startup.sh" worker "$@"
