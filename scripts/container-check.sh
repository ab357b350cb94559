#!/usr/bin/env bash
# Build the container image with podman and run it the way App Service runs a custom container.
#
#   bash scripts/container-check.sh
#
# Checks, in order: the image builds (docker format, so HEALTHCHECK is kept); it runs as a non-root user;
# /_stcore/health answers "ok" (and how many seconds that took: App Service waits at most
# WEBSITES_CONTAINER_START_TIME_LIMIT, 230 s by default); its HEALTHCHECK reports healthy; a job run
# inside keeps its files in /home (a volume, as App Service mounts /home); with a Key Vault reference
# left unresolved the container still answers health and its log names the variable, never the value.
# Needs podman (Debian: apt-get install podman), a base image and the network to PyPI; it is not part
# of the test suite for that reason (tests/test_dockerfile.py checks the Dockerfile statically).
#
# Environment: BASE_IMAGE (default python:3.12-slim-bookworm), IMAGE (localhost/policy-reader:check),
# CHECK_PORT (18080), PODMAN_OPTS / BUILD_OPTS / RUN_OPTS (extra podman options for unusual hosts,
# e.g. nested sandboxes), NETWORK=host (run with the host network instead of publishing the port).
set -euo pipefail
cd "$(dirname "$0")/.."
BASE_IMAGE=${BASE_IMAGE:-python:3.12-slim-bookworm}
IMAGE=${IMAGE:-localhost/policy-reader:check}
PORT=${CHECK_PORT:-18080}
read -r -a PODMAN <<< "podman ${PODMAN_OPTS:-}"
read -r -a BUILD_EXTRA <<< "${BUILD_OPTS:-}"
read -r -a RUN_EXTRA <<< "${RUN_OPTS:-}"
NAME=policy-reader-check-$$
VOLUME=policy-reader-check-home-$$
if [ "${NETWORK:-}" = host ]; then NET=(--network host -e "PORT=$PORT"); else NET=(-p "127.0.0.1:$PORT:8080"); fi

say() { echo "container-check: $*"; }
cleanup() {  # one container at a time: a failure on one must not leave the other running
  for container in "$NAME" "$NAME-bad"; do
    "${PODMAN[@]}" rm -f -t 5 "$container" >/dev/null 2>&1 || true
    if "${PODMAN[@]}" container exists "$container" 2>/dev/null; then say "WARNING: could not remove $container"; fi
  done
  "${PODMAN[@]}" volume rm -f "$VOLUME" >/dev/null 2>&1 || true
}
trap cleanup EXIT
wait_health() {  # seconds until http://127.0.0.1:$PORT/_stcore/health answers ok (fails after 230 s)
  local start=$SECONDS
  until [ "$(curl -fsS --max-time 3 "http://127.0.0.1:$PORT/_stcore/health" 2>/dev/null)" = ok ]; do
    if [ $((SECONDS - start)) -ge 230 ]; then say "FAILED: no health after 230 s"; "${PODMAN[@]}" logs "$1" | tail -40; exit 1; fi
    sleep 1
  done
  echo $((SECONDS - start))
}

started=$SECONDS
"${PODMAN[@]}" build --format docker "${BUILD_EXTRA[@]}" --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$IMAGE" .
say "built $IMAGE on $BASE_IMAGE in $((SECONDS - started)) s, $("${PODMAN[@]}" image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%d MB", $1/1e6}')"
user=$("${PODMAN[@]}" image inspect --format '{{.Config.User}}' "$IMAGE")
[ -n "$user" ] && [ "${user%%:*}" != 0 ] && [ "${user%%:*}" != root ] || { say "FAILED: the image runs as root"; exit 1; }
"${PODMAN[@]}" image inspect --format '{{.Config.Healthcheck.Test}}' "$IMAGE" | grep -q "_stcore/health" \
  || { say "FAILED: no HEALTHCHECK in the image"; exit 1; }

"${PODMAN[@]}" volume create "$VOLUME" >/dev/null
"${PODMAN[@]}" run -d --name "$NAME" "${RUN_EXTRA[@]}" "${NET[@]}" -v "$VOLUME:/home" -e LLM_BACKEND=offline "$IMAGE" >/dev/null
secs=$(wait_health "$NAME")
say "health answered ok $secs s after the start (App Service waits up to 230 s)"
uid=$("${PODMAN[@]}" exec "$NAME" id -u)
[ "$uid" != 0 ] || { say "FAILED: the app runs as root"; exit 1; }
say "the app runs as uid $uid"
"${PODMAN[@]}" healthcheck run "$NAME" && say "HEALTHCHECK: healthy"
"${PODMAN[@]}" exec "$NAME" sh -c 'python -m policy_reader extract samples/*.pdf --variables samples/variables.csv --out /tmp/out.json' 2>&1 | tail -1
jobs=$("${PODMAN[@]}" exec "$NAME" sh -c 'ls -d /home/policy-reader/jobs/*/results/d0001.json | wc -l')
[ "$jobs" -ge 1 ] || { say "FAILED: no job files under /home/policy-reader/jobs"; exit 1; }
say "the job's files are in /home/policy-reader/jobs (the /home volume)"
"${PODMAN[@]}" logs "$NAME" 2>&1 | grep -E "^config: |^startup: " | sed 's/^/  log: /'
"${PODMAN[@]}" rm -f -t 5 "$NAME" >/dev/null

ref='@Microsoft.KeyVault(SecretUri=https://check-vault.vault.azure.net/secrets/openai-key/)'
"${PODMAN[@]}" run -d --name "$NAME-bad" "${RUN_EXTRA[@]}" "${NET[@]}" -e "OPENAI_API_KEY=$ref" "$IMAGE" >/dev/null
secs=$(wait_health "$NAME-bad")
log=$("${PODMAN[@]}" logs "$NAME-bad" 2>&1)
echo "$log" | grep -q "OPENAI_API_KEY: Key Vault reference not resolved: check the identity's access" \
  || { say "FAILED: the log does not name the unresolved setting"; echo "$log" | tail -20; exit 1; }
if echo "$log" | grep -q check-vault; then say "FAILED: the log shows the setting's value"; exit 1; fi
say "with an unresolved Key Vault reference: health ok after $secs s, the log names OPENAI_API_KEY, not its value"
say "OK"
