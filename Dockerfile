# Policy Reader as a container: Web App for Containers (App Service), Azure Container Apps, or any host.
#
#   podman build --format docker -t policy-reader .        (or: docker build -t policy-reader .)
#   podman run -p 8080:8080 -v policy-reader-home:/home policy-reader
#
# - slim Python base; the app in /app, its packages in /opt/venv; runs as a non-root user (uid 10001)
# - listens on 8080, which App Service detects by itself (no WEBSITES_PORT needed); PORT overrides it
# - jobs in /home/policy-reader/jobs: on App Service /home is the persistent, shared storage
#   (WEBSITES_ENABLE_APP_SERVICE_STORAGE, on by default); elsewhere mount a volume on /home
# - HEALTHCHECK on Streamlit's /_stcore/health (App Service uses its own Health check on that path)
# - startup.sh checks the configuration: a bad setting is shown on the page and in the log, never a crash loop
# AZURE_DEPLOYMENT.md, "Container (Web App for Containers)", has the steps.
ARG BASE_IMAGE=python:3.12-slim-bookworm
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PORT=8080 \
    JOBS_DIR=/home/policy-reader/jobs

WORKDIR /app
COPY requirements.txt ./
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/python -m pip install --no-compile -r requirements.txt

COPY main.py job_manager.py startup.sh worker.sh ./
COPY policy_reader ./policy_reader
COPY samples ./samples
COPY .streamlit/config.toml ./.streamlit/config.toml

RUN groupadd --gid 10001 policy-reader \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /home/policy-reader --shell /usr/sbin/nologin policy-reader \
 && mkdir -p /home/policy-reader/jobs \
 && chown -R 10001:10001 /home/policy-reader

USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request as u; r = u.urlopen('http://127.0.0.1:%s/_stcore/health' % os.environ.get('PORT', '8080'), timeout=4); raise SystemExit(0 if r.read().strip() == b'ok' else 1)"]
CMD ["bash", "startup.sh"]
