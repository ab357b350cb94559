"""Optional completion webhook: POST a JSON summary of a finished job to WEBHOOK_URL.

The body is signed so the receiver can trust it: header
`X-PolicyReader-Signature: sha256=<hex HMAC-SHA256 of the raw body with WEBHOOK_SECRET>`.
Delivery is retried with exponential backoff on connection errors, timeouts, 429 and 5xx;
other 4xx answers are permanent. A failed webhook never fails the job: the outcome is
returned (and recorded on the job by the manager).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import httpx

from policy_reader.config import Settings, scrub

SIGNATURE_HEADER = "X-PolicyReader-Signature"


@dataclass
class WebhookResult:
    status: str  # "sent" | "failed" | "skipped"
    attempts: int = 0
    http_status: int | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sign(body: bytes, secret: str) -> str:
    """The signature header value for `body`: "sha256=<hex>"."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(body: bytes, header_value: str, secret: str) -> bool:
    """Receiver side check (constant time). Exposed for receivers written in Python and for tests."""
    return hmac.compare_digest(sign(body, secret), header_value or "")


def encode_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")


def post_webhook(url: str, payload: dict[str, Any], *, secret: str | None, attempts: int = 4,
                 backoff_s: float = 0.5, timeout_s: float = 10.0,
                 sleep: Callable[[float], None] = time.sleep,
                 redact: Callable[[str], str] = lambda text: text) -> WebhookResult:
    """POST `payload` as JSON to `url`, signed when `secret` is set; retried on transient errors."""
    body = encode_body(payload)
    headers = {"Content-Type": "application/json", "User-Agent": "policy-reader-webhook/1"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    last_error = "not attempted"
    last_status: int | None = None
    for attempt in range(1, max(1, attempts) + 1):
        try:
            response = httpx.post(url, content=body, headers=headers, timeout=timeout_s)
            last_status = response.status_code
            if 200 <= response.status_code < 300:
                return WebhookResult("sent", attempt, response.status_code, None)
            last_error = f"the webhook answered HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code != 429:
                return WebhookResult("failed", attempt, response.status_code, redact(last_error))
        except httpx.HTTPError as exc:
            last_error = f"could not reach the webhook ({type(exc).__name__}: {exc})"
        if attempt < attempts:
            sleep(backoff_s * (2 ** (attempt - 1)))
    return WebhookResult("failed", max(1, attempts), last_status, redact(last_error + f" after {attempts} attempts"))


def send_job_webhook(settings: Settings, payload: dict[str, Any], **kwargs: Any) -> WebhookResult:
    """Deliver the job summary to settings.webhook_url ("skipped" when none is configured)."""
    if not settings.webhook_url:
        return WebhookResult("skipped")
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    return post_webhook(settings.webhook_url, payload, secret=secret,
                        redact=lambda text: scrub(text, settings), **kwargs)
