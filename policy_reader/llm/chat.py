"""Chat backends: OpenAI (or any OpenAI-compatible server) and Azure OpenAI, with our own retries.

Azure OpenAI is called through its GA v1 API (`<endpoint>/openai/v1/`, the plain OpenAI client, the
deployment as the model, no api-version), with a key or an Entra ID token provider; the dated
`/openai/deployments/...?api-version=` path only when OPENAI_API_VERSION is set.

Why our own retry loop (the client's `max_retries=0`): we need one place that
  * tells the three kinds of failure apart: "later" (429: wait for the quota, pacing.py — never a
    failed attempt), a refusal (the server will never take this request: change it, llm_dialect.py, or
    report it with the server's own words — never resend it as is) and an outage (5xx, timeouts:
    retried LLM_MAX_RETRIES times, exponential backoff with full jitter, Retry-After honoured),
  * holds a PROCESS-WIDE slot while a request is in flight (never while sleeping or waiting for
    quota), so LLM_MAX_CONCURRENCY bounds calls across every document and job of the process,
  * turns every failure into an `LlmError` with a clear message and a stable code — and never
    lets a key leak into that message.

Only the transport lives here: prompts are in prompts.py, parsing and validation in llm_extractor.py.
"""
from __future__ import annotations

import functools
import json
import logging
import random
import re
import threading
import time
from contextlib import contextmanager
from urllib.parse import urlsplit
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator, Protocol, runtime_checkable

import openai

from policy_reader.config import Settings, scrub
from policy_reader.errors import ConfigError, LlmError
from policy_reader.llm.dialect import Refusal, classify_refusal, is_reasoning_model, profile_for
from policy_reader.models import Usage
from policy_reader.llm.bounded_http import ReplyTooLarge, bounded_call, bounded_http_client
from policy_reader.llm.pacing import pacer_for

log = logging.getLogger(__name__)

#: Upper bound of one backoff sleep (also of a server's Retry-After), seconds.
MAX_BACKOFF_S = 60.0
#: Statuses that are transient: worth another attempt.
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class ChatResult:
    """One completed model call. `usage` carries tokens (cost is priced by the extractor)."""

    content: str
    finish_reason: str
    usage: Usage
    request_id: str | None = None
    model: str | None = None  # the model the response names (priced with it), not the one asked for
    #: the completion limit actually sent (lower than asked when the server's context is the limit)
    max_tokens: int | None = None


@runtime_checkable
class ChatBackend(Protocol):
    model: str

    def chat(self, messages: list[dict[str, str]], *, schema: dict, schema_name: str,
             max_tokens: int) -> ChatResult:
        """One structured-output chat call (with retries). Raises LlmError."""
        ...


# --------------------------------------------------------------------------- concurrency


class _CallSlots:
    """A process-wide count of model calls in flight. Each acquire passes its own limit, so
    one process-wide counter serves every backend (settings are the same in production; tests
    may build backends with different limits without replacing a shared semaphore)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.in_flight = 0

    @contextmanager
    def slot(self, limit: int) -> Iterator[None]:
        with self._cond:
            while self.in_flight >= max(1, limit):
                self._cond.wait()
            self.in_flight += 1
        try:
            yield
        finally:
            with self._cond:
                self.in_flight -= 1
                self._cond.notify_all()


CALL_SLOTS = _CallSlots()


# --------------------------------------------------------------------------- retries


def backoff_delay(attempt: int, base_s: float, retry_after_s: float | None = None) -> float:
    """Seconds to wait before retry number `attempt` (0-based).

    The server's Retry-After wins when given (capped); otherwise full jitter:
    uniform(0, min(cap, base * 2**attempt)).
    """
    if retry_after_s is not None and retry_after_s >= 0:
        return min(retry_after_s, MAX_BACKOFF_S)
    return random.uniform(0.0, min(MAX_BACKOFF_S, base_s * (2 ** attempt)))


def retry_after_seconds(headers: Any) -> float | None:
    """Parse `retry-after-ms` (preferred, OpenAI/Azure) or `retry-after` (seconds) headers."""
    if headers is None:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return max(0.0, float(raw) / divisor)
        except (TypeError, ValueError):
            continue  # an HTTP date: fall back to our own backoff
    return None


class _Retryable(Exception):
    """An outage: worth the same request again after a backoff (counts against LLM_MAX_RETRIES)."""

    def __init__(self, code: str, detail: str, retry_after_s: float | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.retry_after_s = retry_after_s


class _RateLimited(Exception):
    """A 429 "later": wait for the quota; never counts as a failed attempt."""

    def __init__(self, retry_after_s: float | None) -> None:
        super().__init__("rate limited")
        self.retry_after_s = retry_after_s


class _ContextRefused(Exception):
    """The prompt plus the asked completion exceed the server's context (numbers from its error)."""

    def __init__(self, detail: str, context: int | None, prompt: int | None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.context = context
        self.prompt = prompt


_CONTEXT_NUMBERS = re.compile(r"maximum context length is (\d+) tokens.*?(?:\((\d+) in the messages|resulted in "
                              r"(\d+) tokens)", re.IGNORECASE | re.DOTALL)
#: Completion tokens below which shrinking the answer to fit the context is pointless.
_MIN_ANSWER_TOKENS = 64


class _Refused(Exception):
    """The server refuses this request as sent: change it (dialect) or report it; never resend it as is."""

    def __init__(self, refusal: Refusal, status: int) -> None:
        super().__init__(refusal.detail)
        self.refusal = refusal
        self.status = status


#: Dialect changes one call may make (each refusal names one thing; there are only so many things).
_MAX_ADAPTATIONS = 8
#: Calls sent again because a timeout was the server's queue, not the server.
_MAX_QUEUE_RESENDS = 6


def estimate_charge(params: dict[str, Any], max_tokens: int) -> int:
    """What the provider charges a request against its quota: prompt characters / 4 + max output tokens.

    The prompt is what the provider counts as one: the response format (JSON schema) or the tools go
    into it as well as the messages — an estimate without them is short by the schema on every call,
    and a limiter that admits on the estimate (Azure) answers 429 to a pace that looked right."""
    chars = sum(len(str(m.get("content", ""))) for m in params.get("messages", []))
    structure = params.get("response_format") or params.get("tools")
    if structure:
        chars += len(json.dumps(structure))
    return chars // 4 + max_tokens


class _BaseChatBackend:
    """Shared by the OpenAI and Azure backends: dialect, pacing, the retry loop, error mapping, usage."""

    kind = "openai"
    model: str
    #: names shown in error messages (which setting to check)
    _key_setting = "OPENAI_API_KEY"
    _model_setting = "OPENAI_MODEL"
    _service = "The OpenAI API"
    _model_word = "model"

    def __init__(self, settings: Settings, client: Any, model: str, *, server: str, compatible: bool) -> None:
        self._settings = settings
        self._client = self.client = client  # shared, configured client (batch.py uses its files/batches)
        self.model = model
        self._max_retries = settings.llm_max_retries
        self._timeout_s = settings.llm_timeout_s
        self._backoff_base_s = settings.llm_backoff_base_s
        self._concurrency = settings.llm_max_concurrency
        self._max_wait_s = settings.llm_quota_max_wait_s
        #: the server named in errors: its host only (a URL may carry credentials)
        self._host = urlsplit(server).hostname or "the server"
        key = (self.kind, server, model)
        self.profile = profile_for(key, reasoning=is_reasoning_model(model), compatible=compatible,
                                   concurrency=settings.llm_max_concurrency,
                                   response_format=settings.llm_response_format)
        self.pacer = pacer_for(key, tokens_per_minute=settings.llm_tokens_per_minute,
                               backoff_base_s=settings.llm_backoff_base_s)

    @property
    def response_mode(self) -> str:
        """How the structure is asked for now (json_schema, json_object_schema, json_object, tools, text)."""
        return self.profile.dialect.mode

    # -- public

    def chat(self, messages: list[dict[str, str]], *, schema: dict, schema_name: str,
             max_tokens: int) -> ChatResult:
        """Send one structured-output request. Outages are retried (LLM_MAX_RETRIES), quota waits are
        not failures, refusals change the request (dialect) or raise. Raises LlmError."""
        attempt = adaptations = queue_resends = 0
        waited = 0.0
        capacity = self.profile.capacity
        while True:
            sent_tokens = self._fit_context(messages, max_tokens)
            params = self.profile.dialect.params(messages, schema, schema_name, sent_tokens)
            charge = estimate_charge(params, sent_tokens)
            in_flight = 1
            try:
                # the server's place first, then the quota: a call waiting for quota never holds a
                # process-wide slot, and the quota is taken just before the request goes out
                with capacity.slot(self._concurrency) as in_flight:
                    waited += self.pacer.acquire(charge, max_wait_s=self._max_wait_s, waited_s=waited)
                    with CALL_SLOTS.slot(self._concurrency):
                        started = time.monotonic()
                        try:
                            result = self._once(params, capacity.queue_allowance(in_flight))
                        except _Retryable:
                            self.pacer.failed()
                            raise
                    capacity.record(time.monotonic() - started, in_flight)
                self.pacer.succeeded()
                return replace(result, max_tokens=sent_tokens)
            except _RateLimited as exc:
                hold = self.pacer.hold(exc.retry_after_s, refund_tokens=charge)
                log.info("quota: the provider said later (%.2fs); waiting", hold)
                continue  # the wait happens in acquire(), for every call to this server
            except _ContextRefused as exc:
                room = (exc.context - exc.prompt) if exc.context and exc.prompt is not None else 0
                if adaptations < _MAX_ADAPTATIONS and room - 16 >= _MIN_ANSWER_TOKENS and room - 16 < sent_tokens:
                    adaptations += 1
                    self.profile.context_window = exc.context
                    max_tokens = room - 16  # what the context leaves for the answer
                    log.info("server context %d tokens: asking for at most %d answer tokens", exc.context, max_tokens)
                    continue
                raise self._context_error(exc.detail) from None
            except _Refused as exc:
                if adaptations < _MAX_ADAPTATIONS and self.profile.dialect.adapt(exc.refusal, params):
                    adaptations += 1
                    log.info("server refused %s (%s); adapting the request", exc.refusal.kind,
                             exc.refusal.param or self.response_mode)
                    continue
                raise self._refusal_error(exc) from None
            except _Retryable as exc:
                if exc.code == "timeout" and queue_resends < _MAX_QUEUE_RESENDS and capacity.timed_out(in_flight):
                    queue_resends += 1
                    log.info("timeout while %d calls were queued at the server; now %d at a time", in_flight,
                             capacity.limit)
                    continue
                if attempt >= self._max_retries:
                    raise self._exhausted(exc, attempt + 1) from None
                delay = backoff_delay(attempt, self._backoff_base_s, exc.retry_after_s)
                log.info("model call failed (%s), retry %d/%d in %.2fs", exc.code, attempt + 1,
                         self._max_retries, delay)
                time.sleep(delay)
                attempt += 1

    # -- internals

    def _once(self, params: dict[str, Any], queued_behind: int = 0) -> ChatResult:
        """One HTTP call. `queued_behind`: calls a one-at-a-time server may work on before this one;
        the timeout grows by one LLM_TIMEOUT_S for each, so it times the request, not the queue."""
        timeout = self._timeout_s * (1 + queued_behind)
        try:
            # the whole call (headers and body) within `timeout`, the reply within LLM_MAX_REPLY_MB
            with bounded_call(timeout_s=timeout, max_bytes=int(self._settings.llm_max_reply_mb * 1024 * 1024)):
                raw = self._client.chat.completions.with_raw_response.create(model=self.model, **params,
                                                                             timeout=timeout)
                completion = raw.parse()
        except ReplyTooLarge:
            raise LlmError(f"{self._service} at {self._host} sent a reply larger than LLM_MAX_REPLY_MB="
                           f"{self._settings.llm_max_reply_mb:g} MB; it was cut off unread. A model's answer is "
                           "a few kilobytes: check the endpoint URL (a proxy, or not a model server?).",
                           code="reply_too_large") from None
        except openai.APITimeoutError:
            raise _Retryable("timeout", f"no answer within {timeout:g} s") from None
        except openai.APIConnectionError as exc:
            raise _Retryable("connection", self._scrub(str(exc) or "connection error")) from None
        except ValueError as exc:  # a reply that is not JSON (or not the shape asked): the server's fault
            raise _Retryable("server", self._scrub(f"the reply could not be read: {exc}"[:300])) from None
        except openai.APIStatusError as exc:
            raise self._status_error(exc, params) from None
        except openai.OpenAIError as exc:
            raise LlmError(self._scrub(f"{self._service} call failed: {exc}"), code="config") from None
        except Exception as exc:  # noqa: BLE001 - e.g. an Entra ID credential failure in the token provider
            if _is_credential_error(exc):
                raise LlmError(self._credential_message(), code="auth") from None
            raise
        self.pacer.observe(raw.headers)
        return self._result(completion, raw.headers.get("x-request-id"), params)

    def _status_error(self, exc: openai.APIStatusError, params: dict[str, Any]) -> Exception:
        """Map an HTTP error to: wait (429), refusal, permanent LlmError, or an outage to retry."""
        status = exc.status_code
        headers = exc.response.headers if exc.response is not None else None
        self.pacer.observe(headers, admitted=status != 429)
        detail, param, code = _server_error(exc)
        detail = self._scrub(detail)
        if status == 429:
            if code == "insufficient_quota" or "billing" in detail.lower() or "exceeded your current quota" in detail:
                return LlmError(f"{self._service} refused the call: the account's quota or credit is used up "
                                f"({detail[:200]}). Check the plan and billing, then resume the job.", code="quota")
            if "request too large" in detail.lower() or "must be reduced" in detail.lower():
                return LlmError(f"{self._service}: one request is larger than the whole tokens-per-minute quota "
                                f"({detail[:200]}). Lower CHUNK_TOKENS or LLM_MAX_OUTPUT_TOKENS, or raise the "
                                "quota.", code="too_large")
            return _RateLimited(retry_after_seconds(headers))
        if status in (401, 403):
            return self._permanent(status, detail)
        refusal = classify_refusal(status, detail, param, _mode_of(params))
        if refusal is not None:
            if refusal.kind == "schema":
                return LlmError(f"{self._service} refused the answer schema: {detail[:400]}", code="schema")
            if refusal.kind == "context":
                numbers = _CONTEXT_NUMBERS.search(detail)
                context = int(numbers.group(1)) if numbers else None
                prompt = next((int(g) for g in (numbers.groups()[1:] if numbers else ()) if g), None)
                return _ContextRefused(detail, context, prompt)
            return _Refused(refusal, status)
        if status == 404:
            return self._permanent(status, detail)
        if status in RETRY_STATUSES or status >= 500:
            return _Retryable("server", f"HTTP {status}: {detail[:300]}",
                              retry_after_seconds(headers))
        return _Refused(Refusal("other", detail, param), status)

    def _result(self, completion: Any, request_id: str | None, params: dict[str, Any]) -> ChatResult:
        if not completion.choices:
            raise _Retryable("server", "the response had no choices")
        choice = completion.choices[0]
        message = choice.message
        content = (message.content if message is not None else None) or ""
        tool_calls = getattr(message, "tool_calls", None) if message is not None else None
        if not content and tool_calls:
            function = getattr(tool_calls[0], "function", None)
            content = getattr(function, "arguments", "") or ""
        if not content and message is not None and getattr(message, "refusal", None):
            raise LlmError(self._scrub(f"The model refused to answer: {message.refusal}"), code="bad_response")
        finish = choice.finish_reason or "stop"
        if finish == "tool_calls":
            finish = "stop"
        usage = usage_from(completion, prompt_chars=estimate_charge(params, 0) * _CHARS_PER_TOKEN,
                           content_chars=len(content), max_tokens=_max_tokens_of(params))
        return ChatResult(content=content, finish_reason=finish, usage=usage,
                          request_id=request_id, model=str(getattr(completion, "model", "") or "")[:200] or None)

    def _scrub(self, text: str) -> str:
        return scrub(text, self._settings)

    def _fit_context(self, messages: list[dict[str, str]], max_tokens: int) -> int:
        """The completion limit to send: `max_tokens`, or less when a learned context window would not
        hold the prompt (estimated) plus that many answer tokens."""
        context = self.profile.context_window
        if not context:
            return max_tokens
        prompt = sum(len(str(m.get("content", ""))) for m in messages) // 4
        return max(_MIN_ANSWER_TOKENS, min(max_tokens, context - prompt - 16))

    def _context_error(self, detail: str) -> LlmError:
        return LlmError(f"The document text does not fit the {self._model_word}'s context window "
                        f"({self._scrub(detail)[:300]}). Lower CHUNK_TOKENS (now {self._settings.chunk_tokens}), or "
                        "give the server a larger context (llama.cpp: --ctx-size, llama-cpp-python: --n_ctx).",
                        code="context")

    def _permanent(self, status: int, detail: str) -> LlmError:
        """401/403/404: retrying would not help; say what to check."""
        if status == 401:
            return LlmError(f"{self._service} rejected the key (401). Check {self._key_setting}.", code="auth")
        if status == 403:
            return LlmError(f"{self._service} refused access (403). The key or identity has no permission "
                            f"for {self._model_word} '{self.model}'. Check {self._key_setting} and the account's access.",
                            code="auth")
        return LlmError(f"{self._service} did not find {self._model_word} '{self.model}' (404: {detail[:200]}). "
                        f"Check {self._model_setting} and the endpoint URL.", code="config")

    def _refusal_error(self, exc: _Refused) -> LlmError:
        """A refusal that no change of the request can get past: the server's own words, and what to do."""
        refusal = exc.refusal
        detail = self._scrub(refusal.detail)[:400]
        what = f"{self._service} ({self._model_word} '{self.model}') refused the request (HTTP {exc.status}): {detail}."
        if refusal.kind in ("format", "tools"):
            hint = (" It takes none of the ways Policy Reader can ask for JSON (json_schema, json_object, tools, "
                    "plain text); set LLM_RESPONSE_FORMAT to the one it supports.")
        elif refusal.kind == "param":
            hint = f" The {self._model_word} does not take '{refusal.param}', and the request cannot be sent without it."
        else:
            hint = (f" Check that {self._model_word} '{self.model}' is a chat model that supports structured outputs "
                    "and that CHUNK_TOKENS fits its context window.")
        return LlmError(what + hint, code="refused")

    def _exhausted(self, exc: _Retryable, attempts: int) -> LlmError:
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        if exc.code == "timeout":
            msg = (f"The model at {self._host} did not answer within LLM_TIMEOUT_S={self._timeout_s:g} s ({tries}; "
                   "the whole call, however slowly the server sends). Raise LLM_TIMEOUT_S or lower CHUNK_TOKENS.")
        elif exc.code == "connection":
            msg = f"Could not reach the model service ({tries}): {exc}. Check the endpoint URL and the network."
        else:
            msg = f"{self._service} kept failing ({exc}) after {tries}. Try again later."
        return LlmError(self._scrub(msg), code=exc.code)

    def _credential_message(self) -> str:
        return f"{self._service} could not authenticate. Check {self._key_setting}."


def _max_tokens_of(params: dict[str, Any]) -> int | None:
    raw = params.get("max_completion_tokens", params.get("max_tokens"))
    return raw if isinstance(raw, int) else None


def _mode_of(params: dict[str, Any]) -> str:
    if params.get("tools"):
        return "tools"
    fmt = params.get("response_format") or {}
    if fmt.get("type") == "json_object":
        return "json_object_schema" if "schema" in fmt else "json_object"
    return str(fmt.get("type") or "text")


#: Characters per token: the estimate (chars / 4) and the bounds a real tokenizer stays within — about one
#: character a token (CJK, digits) to well under 12 for any text. A count outside is not believed.
_CHARS_PER_TOKEN = 4
_MAX_CHARS_PER_TOKEN = 12


def _count(raw: Any) -> int | None:
    """A reported token count as an int, or None when it is not a count (missing, text, NaN, negative)."""
    try:
        value = int(raw)
    except (TypeError, ValueError, OverflowError):
        return None
    return value if value >= 0 else None


def usage_from(completion: Any, *, prompt_chars: int | None = None, content_chars: int | None = None,
               max_tokens: int | None = None) -> Usage:
    """Tokens of one completion, as far as they are believable.

    The server's report drives JOB_TOKEN_BUDGET and the cost, and the server is not trusted (a compatible
    server, a proxy, a compromised gateway): a count that is missing, negative, or impossible for the text
    sent and received (`prompt_chars`, `content_chars`: fewer than one token per 12 characters, or — for
    the prompt — more tokens than characters) is replaced by the estimate, characters / 4; completion tokens never exceed
    the `max_tokens` asked for; cached tokens never exceed the prompt. Without the text (None), a count is
    only clamped to be non-negative.
    """
    usage = getattr(completion, "usage", None)
    details = getattr(usage, "prompt_tokens_details", None) if usage is not None else None
    prompt = _count(getattr(usage, "prompt_tokens", None)) if usage is not None else None
    completion_tokens = _count(getattr(usage, "completion_tokens", None)) if usage is not None else None
    cached = _count(getattr(details, "cached_tokens", None)) if details is not None else None
    prompt = _plausible(prompt, prompt_chars)
    # a reasoning model's hidden tokens count as completion tokens: no upper bound from the visible text
    completion_tokens = _plausible(completion_tokens, content_chars, capped=False)
    if max_tokens is not None and max_tokens > 0:
        completion_tokens = min(completion_tokens, max_tokens)
    return Usage(calls=1, prompt_tokens=prompt, cached_prompt_tokens=min(cached or 0, prompt),
                 completion_tokens=completion_tokens)


def _plausible(reported: int | None, chars: int | None, *, capped: bool = True) -> int:
    """`reported`, or the estimate from `chars` when it is missing or impossible for that much text."""
    if chars is None:
        return reported or 0
    estimate = max(1, chars // _CHARS_PER_TOKEN) if chars else 0
    too_many = capped and reported is not None and reported > chars + 64  # message framing: a few tokens each
    too_few = reported is not None and chars and reported < chars // _MAX_CHARS_PER_TOKEN
    if reported is None or too_many or too_few:
        if reported is not None:
            log.warning("the server reported %d tokens for %d characters; counting %d", reported, chars, estimate)
        return estimate
    return reported


def _server_error(exc: openai.APIStatusError) -> tuple[str, str | None, str | None]:
    """(message, param, code) of an error reply, whatever its shape (OpenAI, Azure, FastAPI, plain text)."""
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            message = err.get("message") or err.get("detail") or body.get("detail")
            param, code = err.get("param"), err.get("code")
            if message:
                return (str(message) if not isinstance(message, (list, dict)) else json.dumps(message),
                        str(param) if param else None, str(code) if code else None)
        elif isinstance(err, str) and err:
            return err, None, None
    if isinstance(body, str) and body.strip():
        return body.strip(), None, None
    text = ""
    if exc.response is not None:
        try:
            text = exc.response.text
        except Exception:  # noqa: BLE001 - a body that cannot be read is just not shown
            text = ""
    return (text.strip() or str(getattr(exc, "message", "") or f"HTTP {exc.status_code}")), None, None


def _is_credential_error(exc: Exception) -> bool:
    try:
        from azure.core.exceptions import ClientAuthenticationError
    except ImportError:  # pragma: no cover - azure-core is a pinned requirement
        return False
    return isinstance(exc, ClientAuthenticationError)


# --------------------------------------------------------------------------- backends


class OpenAIChatBackend(_BaseChatBackend):
    """api.openai.com, or any OpenAI-compatible server when OPENAI_BASE_URL is set."""

    kind = "openai"

    def __init__(self, settings: Settings, *, model: str | None = None) -> None:
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
        base_url = settings.openai_base_url or "https://api.openai.com/v1"
        if not key and not settings.openai_base_url:
            raise ConfigError("The OpenAI backend needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local server).")
        client = _shared_client(openai.OpenAI, api_key=key or "not-needed", base_url=base_url,
                                timeout=settings.llm_timeout_s, max_retries=0)
        compatible = bool(settings.openai_base_url)
        if compatible:
            self._service = "The OpenAI-compatible server"
        super().__init__(settings, client, model or settings.openai_model, server=base_url, compatible=compatible)


def azure_v1_base_url(endpoint: str) -> str:
    """<endpoint>/openai/v1/ — the GA v1 API (no api-version), whatever form the endpoint was given in."""
    base = endpoint.strip().rstrip("/")
    for suffix in ("/openai/v1", "/openai"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    return base + "/openai/v1/"


class AzureChatBackend(_BaseChatBackend):
    """Azure OpenAI through the GA v1 API (`<endpoint>/openai/v1/`, the plain OpenAI client), with a key
    (AZURE_OPENAI_API_KEY) or, without one, Entra ID (managed identity) bearer tokens.

    The dated path (`/openai/deployments/<name>/...?api-version=`) is used only when OPENAI_API_VERSION
    is set, for resources or gateways that still need it.
    """

    kind = "azure"
    _key_setting = "AZURE_OPENAI_API_KEY (or the managed identity's 'Cognitive Services OpenAI User' role)"
    _model_setting = "AZURE_OPENAI_DEPLOYMENT"
    _service = "Azure OpenAI"
    _model_word = "deployment"

    def __init__(self, settings: Settings, *, model: str | None = None,
                 token_provider: Callable[[], str] | None = None) -> None:
        deployment = model or settings.azure_openai_deployment
        if not settings.azure_openai_endpoint or not deployment:
            raise ConfigError("The Azure backend needs AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_DEPLOYMENT.")
        key = settings.azure_openai_api_key.get_secret_value() if settings.azure_openai_api_key else ""
        endpoint = settings.azure_openai_endpoint
        if settings.openai_api_version:
            auth: dict[str, Any] = ({"api_key": key} if key
                                    else {"azure_ad_token_provider": token_provider or _entra_token_provider()})
            client = _shared_client(openai.AzureOpenAI, azure_endpoint=endpoint, azure_deployment=deployment,
                                    api_version=settings.openai_api_version, timeout=settings.llm_timeout_s,
                                    max_retries=0, **auth)
        else:
            client = _shared_client(openai.OpenAI, base_url=azure_v1_base_url(endpoint),
                                    api_key=key or token_provider or _entra_token_provider(),
                                    timeout=settings.llm_timeout_s, max_retries=0)
        super().__init__(settings, client, deployment, server=endpoint, compatible=False)

    def _credential_message(self) -> str:
        return ("Azure OpenAI: no Entra ID credential was available. Set AZURE_OPENAI_API_KEY, or give the app a "
                "managed identity with the 'Cognitive Services OpenAI User' role on the resource.")


_CLIENTS: dict[tuple[Any, ...], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def _shared_client(factory: Callable[..., Any], **options: Any) -> Any:
    """One client per configuration per process, shared by every job and document.

    Building a client loads the TLS certificates (~20 ms) and a fresh client has no open
    connections; sharing one keeps HTTP keep-alive and TLS sessions warm across jobs. The key
    stays in memory only, as it already is in the settings.
    """
    key = (factory,) + tuple(sorted(options.items(), key=lambda item: item[0]))
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            # its connections honour bounded_call(): a hard deadline and a size cap per chat call
            client = _CLIENTS[key] = factory(**options, http_client=bounded_http_client(options["timeout"]))
        return client


@functools.lru_cache(maxsize=1)
def _entra_token_provider() -> Callable[[], str]:
    """Entra ID bearer tokens (managed identity on App Service, az login locally), refreshed as needed."""
    try:
        from azure.identity import DefaultAzureCredential, get_bearer_token_provider
    except ImportError as exc:  # pragma: no cover - pinned requirement
        raise ConfigError("AZURE_OPENAI_API_KEY is not set and azure-identity is not installed.") from exc
    return get_bearer_token_provider(DefaultAzureCredential(), "https://cognitiveservices.azure.com/.default")
