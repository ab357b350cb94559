"""Chat backends: OpenAI (or any OpenAI-compatible server) and Azure OpenAI, with our own retries.

Why our own retry loop (the client's `max_retries=0`): we need one place that
  * honours `Retry-After` / `retry-after-ms` exactly and otherwise backs off exponentially with
    full jitter (so many workers hitting one quota spread out instead of retrying in lock-step),
  * holds a PROCESS-WIDE slot while a request is in flight (never while sleeping), so
    LLM_MAX_CONCURRENCY bounds calls across every document and job of the process,
  * turns every failure into an `LlmError` with a clear message and a stable code — and never
    lets a key leak into that message.

Only the transport lives here: prompts are in prompts.py, parsing and validation in llm_extractor.py.
"""
from __future__ import annotations

import functools

import logging
import random
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol, runtime_checkable

import openai

from .config import Settings, scrub
from .errors import ConfigError, LlmError
from .models import Usage

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
    def __init__(self, code: str, detail: str, retry_after_s: float | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.retry_after_s = retry_after_s


class _TemperatureRefused(Exception):
    pass


class _BaseChatBackend:
    """Shared by the OpenAI and Azure backends: the retry loop, error mapping and usage."""

    kind = "openai"
    model: str
    #: names shown in error messages (which setting to check)
    _key_setting = "OPENAI_API_KEY"
    _model_setting = "OPENAI_MODEL"
    _service = "The OpenAI API"

    def __init__(self, settings: Settings, client: Any, model: str, *, send_max_completion_tokens: bool) -> None:
        self._settings = settings
        self._client = client
        self.model = model
        self._max_retries = settings.llm_max_retries
        self._timeout_s = settings.llm_timeout_s
        self._backoff_base_s = settings.llm_backoff_base_s
        self._concurrency = settings.llm_max_concurrency
        self._send_max_completion_tokens = send_max_completion_tokens
        self._send_temperature = True

    # -- public

    def chat(self, messages: list[dict[str, str]], *, schema: dict, schema_name: str,
             max_tokens: int) -> ChatResult:
        """Send one structured-output request, retrying transient failures. Raises LlmError."""
        params = self._params(messages, schema, schema_name, max_tokens)
        attempt = 0
        while True:
            try:
                with CALL_SLOTS.slot(self._concurrency):
                    return self._once(params)
            except _TemperatureRefused:
                # Reasoning models refuse `temperature`: ask again without it (not a retry).
                self._send_temperature = False
                params.pop("temperature", None)
                continue
            except _Retryable as exc:
                if attempt >= self._max_retries:
                    raise self._exhausted(exc, attempt + 1) from None
                delay = backoff_delay(attempt, self._backoff_base_s, exc.retry_after_s)
                log.info("model call failed (%s), retry %d/%d in %.2fs", exc.code, attempt + 1,
                         self._max_retries, delay)
                time.sleep(delay)
                attempt += 1

    # -- internals

    def _params(self, messages: list[dict[str, str]], schema: dict, schema_name: str,
                max_tokens: int) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": schema_name, "strict": True, "schema": schema}},
        }
        if self._send_temperature:
            params["temperature"] = 0  # extraction, not creativity; dropped for models that refuse it
        # OpenAI and Azure want max_completion_tokens (max_tokens is deprecated and refused by
        # reasoning models); compatible servers (Ollama, vLLM) reliably know only max_tokens.
        params["max_completion_tokens" if self._send_max_completion_tokens else "max_tokens"] = max_tokens
        return params

    def _once(self, params: dict[str, Any]) -> ChatResult:
        try:
            raw = self._client.chat.completions.with_raw_response.create(**params, timeout=self._timeout_s)
            completion = raw.parse()
        except openai.APITimeoutError:
            raise _Retryable("timeout", f"no answer within {self._timeout_s:g} s") from None
        except openai.APIConnectionError as exc:
            raise _Retryable("connection", self._scrub(str(exc) or "connection error")) from None
        except openai.APIStatusError as exc:
            status = exc.status_code
            if status in RETRY_STATUSES or status >= 500:
                code = "rate_limit" if status == 429 else "server"
                raise _Retryable(code, f"HTTP {status}",
                                 retry_after_seconds(exc.response.headers if exc.response is not None else None)) from None
            if status == 400 and "temperature" in params and "temperature" in _server_detail(exc).lower():
                raise _TemperatureRefused() from None
            raise self._permanent(status, exc) from None
        except openai.OpenAIError as exc:
            raise LlmError(self._scrub(f"{self._service} call failed: {exc}"), code="config") from None
        except Exception as exc:  # noqa: BLE001 - e.g. an Entra ID credential failure in the token provider
            if _is_credential_error(exc):
                raise LlmError(self._credential_message(), code="auth") from None
            raise
        return self._result(completion, raw.headers.get("x-request-id"))

    def _result(self, completion: Any, request_id: str | None) -> ChatResult:
        if not completion.choices:
            raise _Retryable("server", "the response had no choices")
        choice = completion.choices[0]
        message = choice.message
        content = (message.content if message is not None else None) or ""
        if not content and message is not None and getattr(message, "refusal", None):
            raise LlmError(self._scrub(f"The model refused to answer: {message.refusal}"), code="bad_response")
        return ChatResult(content=content, finish_reason=choice.finish_reason or "stop",
                          usage=usage_from(completion), request_id=request_id,
                          model=str(getattr(completion, "model", "") or "")[:200] or None)

    def _scrub(self, text: str) -> str:
        return scrub(text, self._settings)

    def _permanent(self, status: int, exc: openai.APIStatusError) -> LlmError:
        """400/401/403/404 and friends: retrying would not help; say what to check."""
        if status == 401:
            return LlmError(f"{self._service} rejected the key (401). Check {self._key_setting}.", code="auth")
        if status == 403:
            return LlmError(f"{self._service} refused access (403). The key or identity has no permission "
                            f"for model '{self.model}'. Check {self._key_setting} and the account's access.",
                            code="auth")
        if status == 404:
            return LlmError(f"{self._service} did not find model '{self.model}' (404). "
                            f"Check {self._model_setting} and the endpoint URL.", code="config")
        detail = self._scrub(_server_detail(exc))[:300]
        return LlmError(f"{self._service} rejected the request ({status}): {detail}. Check that model "
                        f"'{self.model}' supports structured outputs (json_schema) and that CHUNK_TOKENS fits "
                        "its context window.", code="config")

    def _exhausted(self, exc: _Retryable, attempts: int) -> LlmError:
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        if exc.code == "rate_limit":
            msg = (f"{self._service} kept rate-limiting the requests (429) after {tries}. Lower "
                   "LLM_MAX_CONCURRENCY or raise the quota, then resume the job.")
        elif exc.code == "timeout":
            msg = (f"The model did not answer within LLM_TIMEOUT_S={self._timeout_s:g} s ({tries}). Raise "
                   "LLM_TIMEOUT_S or lower CHUNK_TOKENS.")
        elif exc.code == "connection":
            msg = f"Could not reach the model service ({tries}): {exc}. Check the endpoint URL and the network."
        else:
            msg = f"{self._service} kept failing ({exc}) after {tries}. Try again later."
        return LlmError(self._scrub(msg), code=exc.code)

    def _credential_message(self) -> str:
        return f"{self._service} could not authenticate. Check {self._key_setting}."


def usage_from(completion: Any) -> Usage:
    """Tokens of one completion (compatible servers may omit usage or its details)."""
    usage = getattr(completion, "usage", None)
    if usage is None:
        return Usage(calls=1)
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    return Usage(calls=1, prompt_tokens=int(usage.prompt_tokens or 0),
                 cached_prompt_tokens=int(cached or 0),
                 completion_tokens=int(usage.completion_tokens or 0))


def _server_detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return str(getattr(exc, "message", "") or f"HTTP {exc.status_code}")


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
        super().__init__(settings, client, model or settings.openai_model,
                         send_max_completion_tokens=not settings.openai_base_url)
        if settings.openai_base_url:
            self._service = "The OpenAI-compatible server"


class AzureChatBackend(_BaseChatBackend):
    """Azure OpenAI: a key (AZURE_OPENAI_API_KEY) or, without one, Entra ID (managed identity)."""

    kind = "azure"
    _key_setting = "AZURE_OPENAI_API_KEY (or the managed identity's 'Cognitive Services OpenAI User' role)"
    _model_setting = "AZURE_OPENAI_DEPLOYMENT"
    _service = "Azure OpenAI"

    def __init__(self, settings: Settings, *, model: str | None = None) -> None:
        deployment = model or settings.azure_openai_deployment
        if not settings.azure_openai_endpoint or not deployment:
            raise ConfigError("The Azure backend needs AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_DEPLOYMENT.")
        auth: dict[str, Any]
        if settings.azure_openai_api_key and settings.azure_openai_api_key.get_secret_value():
            auth = {"api_key": settings.azure_openai_api_key.get_secret_value()}
        else:
            auth = {"azure_ad_token_provider": _entra_token_provider()}
        client = _shared_client(openai.AzureOpenAI, azure_endpoint=settings.azure_openai_endpoint,
                                azure_deployment=deployment, api_version=settings.openai_api_version,
                                timeout=settings.llm_timeout_s, max_retries=0, **auth)
        super().__init__(settings, client, deployment, send_max_completion_tokens=True)

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
            client = _CLIENTS[key] = factory(**options)
        return client


@functools.lru_cache(maxsize=1)
def _entra_token_provider() -> Callable[[], str]:
    """Entra ID bearer tokens (managed identity on App Service, az login locally), refreshed as needed."""
    try:
        from azure.identity import DefaultAzureCredential, get_bearer_token_provider
    except ImportError as exc:  # pragma: no cover - pinned requirement
        raise ConfigError("AZURE_OPENAI_API_KEY is not set and azure-identity is not installed.") from exc
    return get_bearer_token_provider(DefaultAzureCredential(), "https://cognitiveservices.azure.com/.default")


def make_chat_backend(settings: Settings, *, backend: str | None = None, model: str | None = None) -> ChatBackend:
    """The chat backend for `backend` ("openai" | "azure"; default: settings.resolved_backend)."""
    chosen = backend if backend and backend != "auto" else settings.resolved_backend
    if chosen == "openai":
        return OpenAIChatBackend(settings, model=model)
    if chosen == "azure":
        return AzureChatBackend(settings, model=model)
    raise ConfigError(f"No model backend for {chosen!r}: set LLM_BACKEND to openai or azure "
                      "(with OPENAI_API_KEY or AZURE_OPENAI_ENDPOINT).")
