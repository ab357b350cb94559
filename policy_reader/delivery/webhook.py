"""Optional completion webhook: POST a JSON summary of a finished job to WEBHOOK_URL.

The body is signed so the receiver can trust it: header
`X-PolicyReader-Signature: sha256=<hex HMAC-SHA256 of the raw body with WEBHOOK_SECRET>`.
Delivery is retried with exponential backoff on connection errors, timeouts, 429 and 5xx;
other 4xx answers are permanent. The whole delivery has a total deadline (WEBHOOK_DEADLINE_S), and it
happens after the job's final state is written (jobs/lifecycle.py): a slow receiver never holds a job. A failed webhook never fails the job: the outcome is
returned (and recorded on the job by the manager).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
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
                 backoff_s: float = 0.5, timeout_s: float = 10.0, deadline_s: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep,
                 redact: Callable[[str], str] = lambda text: text) -> WebhookResult:
    """POST `payload` as JSON to `url`, signed when `secret` is set; retried on transient errors.

    `deadline_s` bounds the whole delivery, retries and waits included. A per-read timeout alone does not:
    a receiver that answers one byte at a time is never silent long enough to trip it, and would hold the
    sender for as long as it likes. Each attempt runs in a helper thread that is abandoned (its connection
    closed) when the deadline passes."""
    body = encode_body(payload)
    headers = {"Content-Type": "application/json", "User-Agent": "policy-reader-webhook/1"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    deadline = time.monotonic() + deadline_s
    last_error = "not attempted"
    last_status: int | None = None
    attempt = 0
    for attempt in range(1, max(1, attempts) + 1):
        remaining = deadline - time.monotonic()
        try:
            status = _post_within(url, body, headers, min(timeout_s, remaining), remaining)
            last_status = status
            if 200 <= status < 300:
                return WebhookResult("sent", attempt, status, None)
            last_error = f"the webhook answered HTTP {status}"
            if status < 500 and status != 429:
                return WebhookResult("failed", attempt, status, redact(last_error))
        except _PastDeadline:
            return WebhookResult("failed", attempt, last_status, redact(
                f"the webhook did not answer within {deadline_s:g} s in total (WEBHOOK_DEADLINE_S); "
                f"gave up after {attempt} attempt(s)"))
        except httpx.HTTPError as exc:
            last_error = f"could not reach the webhook ({type(exc).__name__}: {exc})"
        if attempt < attempts:
            pause = backoff_s * (2 ** (attempt - 1))
            if time.monotonic() + pause >= deadline:
                break
            sleep(pause)
    return WebhookResult("failed", max(1, attempt), last_status, redact(last_error + f" after {attempt} attempts"))


class _PastDeadline(Exception):
    """The delivery's total deadline passed during an attempt."""


def _post_within(url: str, body: bytes, headers: dict[str, str], timeout_s: float, remaining_s: float) -> int:
    """One POST; its status code. Raises httpx.HTTPError, or _PastDeadline after `remaining_s` seconds (the
    request is abandoned: its client is closed, which ends the helper thread at the receiver's next byte)."""
    if remaining_s <= 0:
        raise _PastDeadline()
    client = httpx.Client(timeout=max(0.01, timeout_s))
    outcome: dict[str, Any] = {}

    def attempt() -> None:
        try:
            outcome["status"] = client.post(url, content=body, headers=headers).status_code
        except Exception as exc:  # noqa: BLE001 - handed to the caller as it is
            outcome["error"] = exc

    worker = threading.Thread(target=attempt, name="webhook-post", daemon=True)
    worker.start()
    worker.join(remaining_s)
    if worker.is_alive():
        client.close()
        raise _PastDeadline()
    client.close()
    if "error" in outcome:
        raise outcome["error"]
    return int(outcome["status"])


def send_job_webhook(settings: Settings, payload: dict[str, Any], **kwargs: Any) -> WebhookResult:
    """Deliver the job summary to settings.webhook_url ("skipped" when none is configured)."""
    if not settings.webhook_url:
        return WebhookResult("skipped")
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    kwargs.setdefault("deadline_s", settings.webhook_deadline_s)
    return post_webhook(settings.webhook_url, payload, secret=secret,
                        redact=lambda text: scrub(text, settings), **kwargs)
