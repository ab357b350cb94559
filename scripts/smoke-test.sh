#!/usr/bin/env bash
# After a deploy: wait until the app's health endpoint answers "ok".
#
#   bash scripts/smoke-test.sh https://NAME.azurewebsites.net
#
# Redirects are never followed: App Service's own Health check does not follow them either, and a
# sign-in redirect means App Service authentication (Easy Auth) covers the health path. That, a 401/403,
# or a 200 that is not "ok" (a sign-in page) fails at once with the reason, exit 3: exclude
# /_stcore/health from authentication (AZURE_DEPLOYMENT.md, "Sign-in"). Connection errors, 404 and 5xx
# mean the app is still starting: retried SMOKE_ATTEMPTS times (30), SMOKE_WAIT_S seconds apart (10),
# then exit 1.
set -uo pipefail
BASE=${1:?usage: smoke-test.sh BASE_URL}
URL="${BASE%/}/_stcore/health"
ATTEMPTS=${SMOKE_ATTEMPTS:-30}
WAIT=${SMOKE_WAIT_S:-10}
body=$(mktemp)
trap 'rm -f "$body"' EXIT

for attempt in $(seq 1 "$ATTEMPTS"); do
  answer=$(curl -sS -o "$body" -w '%{http_code} %{redirect_url}' --max-time 20 "$URL" 2>/dev/null) || answer="000 "
  code=${answer%% *}
  location=${answer#* }
  case "$code" in
    200)
      if [ "$(tr -d '[:space:]' < "$body")" = "ok" ]; then
        echo "smoke: $URL answered ok (attempt $attempt)"
        exit 0
      fi
      echo "smoke: FAILED: $URL answered 200 but not 'ok' (a sign-in page?): $(head -c 120 "$body" | tr -cd '[:print:]')" >&2
      exit 3 ;;
    301|302|303|307|308)
      case "$location" in
        */.auth/login*|*login.microsoftonline.com*|*login.windows.net*)
          echo "smoke: FAILED: $URL answered with a sign-in redirect (HTTP $code to $location) instead of 'ok'." \
               "App Service authentication covers the health path: exclude /_stcore/health from it" \
               "(az webapp auth update ... --excluded-paths \"[/_stcore/health]\")." >&2 ;;
        *)
          echo "smoke: FAILED: $URL answered with a redirect (HTTP $code to $location) instead of 'ok'." \
               "App Service's Health check does not follow redirects either (HTTPS Only, custom domain?)." >&2 ;;
      esac
      exit 3 ;;
    401|403)
      echo "smoke: FAILED: $URL requires sign-in (HTTP $code) instead of answering 'ok': exclude /_stcore/health" \
           "from App Service authentication." >&2
      exit 3 ;;
  esac
  echo "smoke: attempt $attempt/$ATTEMPTS: HTTP $code, the app is not up yet; next try in ${WAIT}s"
  sleep "$WAIT"
done
echo "smoke: FAILED: $URL did not answer 'ok' after $ATTEMPTS attempts: read the log stream (az webapp log tail)." >&2
exit 1
