"""A real HTTP server on 127.0.0.1 that speaks the OpenAI API (chat completions, files, batches) and
Azure OpenAI's paths — with the limits real providers have.

Used by tests and benchmarks instead of patching the openai client: requests go through the real
client, real HTTP, real timeouts. By default it answers like a careful model: for each variable in
the request's schema, if the configured fact's quote occurs on a `<page number="N">` of the
request, it answers {value, evidence: quote, page: N, confidence: 0.95}; otherwise null.

    server = FakeOpenAI().start()
    server.facts = {"year_adopted": (2019, "adopted by Cabinet in 2019")}
    server.add_fault("429", retry_after=1)     # next call: 429 with Retry-After: 1
    server.latency = 0.05                      # seconds per call
    server.responder = lambda req: {...}       # custom reply: dict(content=..., finish_reason=..., status=...)
    server.requests                            # every request recorded (secrets redacted)
    server.stop()

What real providers do that the fake reproduces (each off by default, so a plain fake accepts anything):
  * `schema_limits = SchemaLimits.azure()`: strict schemas over 100 object properties in total, 5 levels
    of nesting, 500 enum values or 15,000 characters of names and enum values are refused with Azure
    OpenAI's 400 ("Invalid schema for response_format ...", param "response_format").
  * `quota = Quota(tokens_per_minute=..., requests_per_minute=..., window_s=...)`: a sliding-window
    quota. A request is charged its prompt estimate (schema and messages, characters / 4) plus its max
    tokens, as Azure and OpenAI count it; over the budget it gets a 429 with Retry-After and
    retry-after-ms. Every response carries x-ratelimit-limit/remaining-requests/tokens and
    x-ratelimit-reset-tokens. `Quota.azure(tpm)`: Azure OpenAI's documented limiter (AZURE_QUOTA_DOC):
    10 s evaluation windows, only x-ratelimit-remaining-* headers, Azure's 429 body.
  * prompt caching: `usage.prompt_tokens_details.cached_tokens` is the longest prefix (in 128-token
    steps, at least 1,024 tokens) shared with an EARLIER request that had finished, the response
    format counted first (providers put the schema before the messages).
  * `dialect = "llama-cpp-python"`: refuses `response_format: json_schema` with HTTP 500 and the text
    llama-cpp-python's server sends; takes `json_object` with a `schema` and plain text. `dialect =
    "tools-only"`: any response_format is refused with a 400, tools (function calling) work. `dialect =
    "text-only"`: response_format and tools are refused with a 400.
  * `reasoning = True`: a reasoning deployment (o-series, gpt-5): refuses `temperature`/`top_p` other
    than the default and `max_tokens` (wants `max_completion_tokens`), with OpenAI's error shapes.
  * `context_window = N`: a local server's context: a prompt over N tokens is refused (400), an answer
    is cut where the context ends (finish_reason "length").
  * `parallel = N`: the server works on N requests at a time; the others wait in its queue (the
    client's timeout runs meanwhile), like llama-cpp-python (1) or llama-server --parallel N.
  * files and batches (`/v1/files`, `/v1/batches`, and Azure's `/openai/v1/...`): a batch completes
    `batch_delay` seconds after it is created; its lines are answered like live calls; lines the
    server refuses go to the error file.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

_PAGE_RE = re.compile(r'<page number="(\d+)">(.*?)</page>', re.S)
_AZURE_PATH = re.compile(r"^/openai/deployments/([^/]+)/chat/completions$")
_CHAT_PATHS = ("/v1/chat/completions", "/openai/v1/chat/completions")
_API_PREFIXES = ("/openai/v1", "/v1")
_SECRET_HEADERS = {"authorization", "api-key"}
#: Prompt caching as providers do it: prefixes of at least 1,024 tokens, in steps of 128 tokens.
CACHE_MIN_TOKENS = 1024
CACHE_STEP_TOKENS = 128
_CHARS_PER_TOKEN = 4

FAULT_KINDS = ("429", "500", "timeout", "invalid_json", "length", "401", "bad_shape", "drop")

#: What llama-cpp-python's server (0.3.36, seen on 127.0.0.1) answers to response_format json_schema: HTTP 500.
LLAMA_CPP_JSON_SCHEMA_ERROR = ("1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', "
                               "'type'), 'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema', "
                               "'ctx': {'expected': \"'text' or 'json_object'\"}}\n\n  File \"llama_cpp/server/app.py\", "
                               "line 376, in create_chat_completion\n    POST /v1/chat/completions")


def llama_cpp_context_error(context: int, prompt: int, completion: int) -> str:
    """llama-cpp-python's 400 when the prompt plus the requested completion exceed its context."""
    return (f"This model's maximum context length is {context} tokens. However, you requested {prompt + completion} "
            f"tokens ({prompt} in the messages, {completion} in the completion). Please reduce the length of the "
            "messages or completion.")


@dataclass
class Fault:
    """One injected failure. kind: 429 | 500 | timeout | invalid_json | length | 401 | bad_shape."""

    kind: str
    retry_after: float | None = None  # seconds, sent as Retry-After (429)
    retry_after_ms: float | None = None  # sent as retry-after-ms (429)
    sleep: float = 0.0  # timeout: seconds to stall before answering (past the client's timeout)


@dataclass
class SchemaLimits:
    """Caps of strict structured-output schemas (None: no cap)."""

    max_properties: int | None = None
    max_depth: int | None = None
    max_enum_values: int | None = None
    max_string_chars: int | None = None

    @classmethod
    def azure(cls) -> "SchemaLimits":
        """Azure OpenAI's documented caps."""
        return cls(max_properties=100, max_depth=5, max_enum_values=500, max_string_chars=15_000)


#: Where the Azure shape of `Quota` comes from: Microsoft Learn, "Manage Azure OpenAI in Microsoft Foundry
#: Models quota" (learn.microsoft.com/azure/foundry/openai/how-to/quota, section "Understanding rate limits"):
#: each request is admitted on an ESTIMATED max processed-token count — the prompt text and count plus the
#: max_tokens (max_completion_tokens) asked for — and the per-minute rate is evaluated over short periods,
#: "typically 1 or 10 seconds": each estimate is added to a running count, and once it has reached the
#: limit further requests get a 429 until the count starts again — so a burst is refused even when the
#: minute's total is fine. A 429 carries
#: `retry-after` / `retry-after-ms` and Azure's error body ({"error": {"code": "429", "message": ...}});
#: responses carry x-ratelimit-remaining-tokens / -requests but no x-ratelimit-limit-* headers.
AZURE_QUOTA_DOC = "https://learn.microsoft.com/azure/foundry/openai/how-to/quota"
#: OpenAI's shape: https://platform.openai.com/docs/guides/rate-limits — limits per minute, every response
#: carries x-ratelimit-limit/remaining/reset-requests and -tokens; a 429 carries retry-after(-ms).
OPENAI_RATE_LIMITS_DOC = "https://platform.openai.com/docs/guides/rate-limits"


@dataclass
class Quota:
    """A sliding-window quota: per `window_s` seconds, the per-minute numbers scaled to the window.

    A request is charged its prompt (the response format — schema or tools — and the messages, which is
    what providers count as the prompt, at characters / 4) plus the max tokens it asks for.
    `shape="openai"` (default): a sliding window that admits a request only when all of it fits, OpenAI's
    headers (limit, remaining, reset per minute). `shape="azure"` (`Quota.azure(...)`): Azure OpenAI's
    counter (see AZURE_QUOTA_DOC and `_charge_azure`): restarted every `window_s` (10 s by default),
    requests refused once it has reached the window's share, no limit headers, Azure's 429 body.
    """

    tokens_per_minute: int | None = None
    requests_per_minute: int | None = None
    window_s: float = 60.0
    shape: str = "openai"

    @classmethod
    def azure(cls, tokens_per_minute: int, requests_per_minute: int | None = None,
              window_s: float = 10.0) -> "Quota":
        """Azure OpenAI's limiter as its docs describe it (AZURE_QUOTA_DOC)."""
        return cls(tokens_per_minute, requests_per_minute, window_s, shape="azure")


@dataclass
class RecordedRequest:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # Authorization / api-key values redacted
    auth: str | None  # "bearer" | "api-key" | None: how the client authenticated
    body: dict[str, Any]
    messages: list[dict[str, Any]] = field(default_factory=list)
    deployment: str | None = None
    status: int = 200
    started: float = 0.0
    ended: float = 0.0
    #: when the (fake) model started working on it: after the server's queue (`parallel`)
    admitted: float = 0.0
    bearer: str | None = None  # the bearer token when it is not the test key (an Entra token)
    charged_tokens: int = 0  # what the quota charged
    error: str = ""  # the error message sent, if any
    fault: Fault | None = None  # the injected fault this request met

    @property
    def schema(self) -> dict[str, Any]:
        fmt = self.body.get("response_format") or {}
        if fmt.get("type") == "json_schema":
            return fmt.get("json_schema", {}).get("schema", {})
        if fmt.get("type") == "json_object" and isinstance(fmt.get("schema"), dict):
            return fmt["schema"]
        for tool in self.body.get("tools") or []:
            params = (tool.get("function") or {}).get("parameters")
            if isinstance(params, dict):
                return params
        return _schema_in_text(self.text)

    @property
    def variable_names(self) -> list[str]:
        return list(self.schema.get("properties", {}).get("answers", {}).get("properties", {}))

    @property
    def text(self) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.messages)

    @property
    def prompt_text(self) -> str:
        """What the provider counts as the prompt: the response format (schema, tools) first, then the messages."""
        return json.dumps(self.body.get("response_format") or self.body.get("tools") or "") + self.text

    @property
    def pages(self) -> dict[int, str]:
        """Page number -> text of the `<page>` markers in the request (a split page's parts joined)."""
        out: dict[int, str] = {}
        for num, text in _PAGE_RE.findall(self.text):
            out[int(num)] = out.get(int(num), "") + text
        return out

    @property
    def max_tokens(self) -> int | None:
        return self.body.get("max_completion_tokens", self.body.get("max_tokens"))

    @property
    def response_mode(self) -> str:
        """json_schema | json_object | tools | text: how the client asked for structure."""
        if self.body.get("tools"):
            return "tools"
        return str((self.body.get("response_format") or {}).get("type") or "text")


def _schema_in_text(text: str) -> dict[str, Any]:
    """Text mode: the client wrote the JSON schema into the prompt between <schema> markers."""
    match = re.search(r"<schema>\s*(\{.*?\})\s*</schema>", text, re.S)
    if not match:
        return {}
    try:
        return json.loads(match.group(1))
    except ValueError:
        return {}


class FakeOpenAI:
    """Thread-safe fake OpenAI / Azure OpenAI server."""

    def __init__(self) -> None:
        self.facts: dict[str, tuple[Any, str]] = {}
        self.latency: float = 0.0
        self.confidence: float = 0.95
        self.expected_key: str | None = None  # when set, any other key (or bearer token) gets a 401
        self.responder: Callable[[RecordedRequest], dict[str, Any]] | None = None
        self.faults: deque[Fault] = deque()
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.schema_limits = SchemaLimits()
        self.quota: Quota | None = None
        self.dialect = "openai"  # | "llama-cpp-python" | "tools-only" | "text-only"
        self.reasoning = False
        self.context_window: int | None = None
        self.parallel: int | None = None
        #: fields of `usage` to report instead of the real counts (negative, absurd: an untrusted server)
        self.usage_override: dict[str, Any] = {}
        self.batch_delay: float = 0.0
        #: rewrites the output file's lines (JSON text) before it is stored: a provider's damaged output
        self.batch_output_edit: Callable[[list[str]], list[str]] | None = None
        #: what each batch status poll meets, in turn: None (an answer), or a Fault "500" | "429" | "drop"
        #: (the connection closed without a reply)
        self.poll_faults: deque[Fault | None] = deque()
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.batches_created = 0
        self.api_calls: list[tuple[str, str]] = []  # (method, path) of every files/batches request
        self._lock = threading.Lock()
        self._quota_log: deque[tuple[float, int]] = deque()
        self._azure_period: tuple[int, int, int] = (-1, 0, 0)  # (window number, tokens, requests) of Azure's counter
        self._prefixes: set[tuple[int, bytes]] = set()
        self._queue: threading.Semaphore | None = None
        self._queue_size: int | None = None
        self._ids = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> "FakeOpenAI":
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- configuration

    def add_fault(self, kind: str, *, retry_after: float | None = None, retry_after_ms: float | None = None,
                  sleep: float = 0.0) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULT_KINDS}")
        with self._lock:
            self.faults.append(Fault(kind, retry_after, retry_after_ms, sleep))

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.faults.clear()
            self.max_in_flight = 0
            self._quota_log.clear()
            self._azure_period = (-1, 0, 0)
            self._prefixes.clear()

    @property
    def calls(self) -> int:
        """Completed chat requests that got a 200 answer."""
        with self._lock:
            return sum(1 for r in self.requests if r.status == 200)

    def statuses(self) -> list[int]:
        with self._lock:
            return [r.status for r in self.requests]

    # -- behaviour

    def careful_answer(self, req: RecordedRequest) -> dict[str, Any]:
        """Answer each schema variable from the configured facts, only when the quote is on a page."""
        props = req.schema.get("properties", {}).get("answers", {}).get("properties", {})
        pages = req.pages
        answers: dict[str, Any] = {}
        for name, spec in props.items():
            answers[name] = {"value": None, "evidence": "", "page": None, "confidence": 0}
            fact = self.facts.get(name)
            if fact is None:
                continue
            value, quote = fact
            page = next((n for n, text in pages.items() if _squash(quote) in _squash(text)), None)
            if page is not None:
                answers[name] = {"value": _typed(value, spec.get("properties", {}).get("value", {})),
                                 "evidence": quote, "page": page, "confidence": self.confidence}
        return {"content": json.dumps({"answers": answers})}

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self.faults.popleft() if self.faults else None

    def _new_id(self, prefix: str) -> str:
        with self._lock:
            self._ids += 1
            return f"{prefix}-fake{self._ids:05d}"

    # prompt caching ---------------------------------------------------------

    @staticmethod
    def _prefix_digests(cache_text: str) -> list[tuple[int, bytes]]:
        """(tokens, digest) of every 128-token prefix of at least 1,024 tokens."""
        step = CACHE_STEP_TOKENS * _CHARS_PER_TOKEN
        digest = hashlib.sha1()
        out = []
        for start in range(0, len(cache_text) - step + 1, step):
            digest.update(cache_text[start:start + step].encode("utf-8", "surrogatepass"))
            tokens = (start + step) // _CHARS_PER_TOKEN
            if tokens >= CACHE_MIN_TOKENS:
                out.append((tokens, digest.copy().digest()))
        return out

    def _cached_tokens(self, digests: list[tuple[int, bytes]]) -> int:
        with self._lock:
            return max((tokens for tokens, d in digests if (tokens, d) in self._prefixes), default=0)

    def _remember_prefixes(self, digests: list[tuple[int, bytes]]) -> None:
        with self._lock:
            if len(self._prefixes) > 500_000:
                self._prefixes.clear()
            self._prefixes.update(digests)

    def _usage(self, text: str, content: str, cached: int = 0) -> dict[str, Any]:
        prompt = len(text) // _CHARS_PER_TOKEN
        completion = max(1, len(content) // _CHARS_PER_TOKEN)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": min(cached, prompt)}}

    # quota ------------------------------------------------------------------

    def _quota_state(self, now: float, span_s: float | None = None) -> tuple[int, int]:
        """(tokens, requests) charged within the last `span_s` (default: the evaluation window). Caller
        holds the lock. The log keeps a minute at least (the headers speak per minute)."""
        assert self.quota is not None
        keep = max(60.0, self.quota.window_s)
        while self._quota_log and self._quota_log[0][0] <= now - keep:
            self._quota_log.popleft()
        span = self.quota.window_s if span_s is None else span_s
        recent = [t for when, t in self._quota_log if when > now - span]
        return sum(recent), len(recent)

    def _quota_headers(self, now: float) -> dict[str, str]:
        """OpenAI/Azure headers: limit and remaining per MINUTE (the short evaluation window, like
        Azure's, is not in the headers: a client learns it from 429s)."""
        if self.quota is None:
            return {}
        q = self.quota
        with self._lock:
            used_t, used_r = self._quota_state(now, 60.0)
            minute = [when for when, _ in self._quota_log if when > now - 60.0]
        reset = max(0.0, minute[0] + 60.0 - now) if minute else 0.0
        azure = q.shape == "azure"  # Azure sends what remains, not the limit (AZURE_QUOTA_DOC)
        headers: dict[str, str] = {}
        if q.tokens_per_minute:
            if not azure:
                headers["x-ratelimit-limit-tokens"] = str(q.tokens_per_minute)
                headers["x-ratelimit-reset-tokens"] = f"{reset:.3f}s"
            headers["x-ratelimit-remaining-tokens"] = str(max(0, q.tokens_per_minute - used_t))
        if q.requests_per_minute:
            if not azure:
                headers["x-ratelimit-limit-requests"] = str(q.requests_per_minute)
                headers["x-ratelimit-reset-requests"] = f"{reset:.3f}s"
            headers["x-ratelimit-remaining-requests"] = str(max(0, q.requests_per_minute - used_r))
        return headers

    def _charge(self, tokens: int) -> tuple[bool, float, str]:
        """Admit a request of `tokens` into the quota: (admitted, retry_after_s, message)."""
        if self.quota is None:
            return True, 0.0, ""
        q = self.quota
        now = time.monotonic()
        with self._lock:
            used_t, used_r = self._quota_state(now)
            cap_t = int(q.tokens_per_minute * q.window_s / 60) if q.tokens_per_minute else None
            cap_r = max(1, int(q.requests_per_minute * q.window_s / 60)) if q.requests_per_minute else None
            if q.tokens_per_minute and tokens > q.tokens_per_minute:
                return False, -1.0, (f"Request too large for tokens per min (TPM): Limit {q.tokens_per_minute}, "
                                     f"Requested {tokens}. The input or output tokens must be reduced in order "
                                     "to run successfully.")
            if q.shape == "azure":
                return self._charge_azure(now, tokens, cap_t, cap_r)
            # a request larger than one window's share goes through an empty window (it is within the TPM)
            over_t = cap_t is not None and used_t + tokens > cap_t and used_t > 0
            over_r = cap_r is not None and used_r + 1 > cap_r
            if not over_t and not over_r:
                self._quota_log.append((now, tokens))
                return True, 0.0, ""
            # when will enough of the window have expired?
            freed_t, freed_r, wait = 0, 0, 0.0
            for when, t in [e for e in self._quota_log if e[0] > now - q.window_s]:
                freed_t += t
                freed_r += 1
                wait = when + q.window_s - now
                if (not over_t or used_t - freed_t + tokens <= cap_t) and (not over_r or used_r - freed_r + 1 <= cap_r):
                    break
            kind = "tokens" if over_t else "requests"
            return False, max(0.001, wait), (f"Requests to the ChatCompletions_Create Operation have exceeded the "
                                             f"{kind} per minute rate limit of your current pricing tier. Please "
                                             f"retry after {math.ceil(max(0.001, wait))} seconds.")

    def _charge_azure(self, now: float, tokens: int, cap_t: int | None, cap_r: int | None) -> tuple[bool, float, str]:
        """Azure's counter (AZURE_QUOTA_DOC): the estimate of each admitted request is added to a running
        count that starts again every `window_s`; once the count has REACHED the window's share, further
        requests get a 429 until it starts again (the request that crosses the line is admitted). Caller
        holds the lock."""
        assert self.quota is not None
        window = self.quota.window_s
        period = math.floor(now / window)
        if self._azure_period[0] != period:
            self._azure_period = (period, 0, 0)
        _, used_t, used_r = self._azure_period
        over_t = cap_t is not None and used_t >= cap_t
        over_r = cap_r is not None and used_r >= cap_r
        if not over_t and not over_r:
            self._azure_period = (period, used_t + tokens, used_r + 1)
            self._quota_log.append((now, tokens))  # the per-minute headers
            return True, 0.0, ""
        wait = max(0.001, (period + 1) * window - now)
        return False, wait, (
            "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have "
            f"exceeded {'token' if over_t else 'call'} rate limit of your current OpenAI S0 pricing tier. Please "
            f"retry after {math.ceil(wait)} seconds. Please go here: https://aka.ms/oai/quotaincrease if you would "
            "like to further increase the default rate limit.")

    # answering --------------------------------------------------------------

    def complete(self, req: RecordedRequest) -> tuple[int, dict[str, Any], dict[str, str]]:
        """The (status, body, headers) of one chat request, after faults, dialect, limits and quota.

        Shared by live calls and batch lines (batches skip the quota and faults: `req.path` "batch")."""
        batch = req.path == "batch"
        refusal = self._refusal(req)
        if refusal is not None:
            return refusal
        prompt_tokens = len(req.text) // _CHARS_PER_TOKEN
        if self.context_window is not None:
            # llama-cpp-python refuses prompt + max tokens over its context; llama-server refuses only a
            # prompt that does not fit, and cuts the answer where the context ends
            asked = int(req.max_tokens or 0) if self.dialect == "llama-cpp-python" else 0
            if prompt_tokens + asked > self.context_window or prompt_tokens >= self.context_window:
                return 400, {"error": {"message": llama_cpp_context_error(self.context_window, prompt_tokens, asked),
                                       "type": "invalid_request_error", "param": "messages",
                                       "code": "context_length_exceeded"}}, {}
        if not batch:
            # the prompt as providers count it (schema or tools, then the messages) plus the answer asked for
            req.charged_tokens = len(req.prompt_text) // _CHARS_PER_TOKEN + int(req.max_tokens or 0)
            admitted, wait, message = self._charge(req.charged_tokens)
            if not admitted:
                headers = self._quota_headers(time.monotonic())
                if wait >= 0:
                    headers.update({"Retry-After": str(math.ceil(wait)), "retry-after-ms": str(int(wait * 1000))})
                if self.quota is not None and self.quota.shape == "azure":
                    return 429, {"error": {"code": "429", "message": message}}, headers
                return 429, {"error": {"message": message, "type": "tokens" if wait < 0 else "rate_limit_exceeded",
                                       "code": "rate_limit_exceeded", "param": None}}, headers
        reply = self.responder(req) if self.responder else self.careful_answer(req)
        status = int(reply.get("status", 200))
        if status != 200:
            return status, reply.get("body", {"error": {"message": f"HTTP {status}"}}), dict(reply.get("headers") or {})
        content = str(reply.get("content", ""))
        finish = str(reply.get("finish_reason", "stop"))
        fault = None if batch else req.fault
        if fault and fault.kind == "invalid_json":
            content = "Sure! Here are the answers: {answers: [oops"
        elif fault and fault.kind == "bad_shape":
            content = json.dumps({"result": "not the schema"})
        elif fault and fault.kind == "length":
            content, finish = content[: max(1, len(content) // 2)], "length"
        limit = req.max_tokens
        room = self.context_window - prompt_tokens if self.context_window is not None else None
        for cap in (limit, room):
            if cap is not None and len(content) // _CHARS_PER_TOKEN > cap:
                content, finish = content[: max(1, cap * _CHARS_PER_TOKEN)], "length"
        cache_text = req.prompt_text
        digests = self._prefix_digests(cache_text)
        # prompt tokens count the schema too: providers put it into the prompt, before the messages
        usage = self._usage(cache_text, content, self._cached_tokens(digests))
        if fault and fault.kind == "length" and req.max_tokens:
            usage["completion_tokens"] = int(req.max_tokens)  # the model spent its whole budget
        if self.usage_override:
            usage.update(self.usage_override)  # a server that lies about what a call cost
        self._remember_prefixes(digests)
        model = str(reply.get("model") or req.deployment or req.body.get("model", "fake"))  # responder may rename
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        if req.response_mode == "tools":
            name = (req.body["tools"][0].get("function") or {}).get("name", "answer")
            message = {"role": "assistant", "content": None, "refusal": None,
                       "tool_calls": [{"id": self._new_id("call"), "type": "function",
                                       "function": {"name": name, "arguments": content}}]}
            finish = "tool_calls" if finish == "stop" else finish
        return 200, _completion(model, message, finish, usage), {}

    def _refusal(self, req: RecordedRequest) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        """The provider's 400/500 for what it does not take (dialect, reasoning parameters, schema caps)."""
        body = req.body
        fmt = body.get("response_format") or {}
        if self.dialect == "llama-cpp-python" and fmt.get("type") == "json_schema":
            return 500, {"error": {"message": LLAMA_CPP_JSON_SCHEMA_ERROR, "type": "internal_server_error"}}, {}
        if self.dialect == "text-only" and body.get("tools"):
            return 400, {"error": {"message": "tools are not supported", "type": "invalid_request_error"}}, {}
        if self.dialect in ("text-only", "tools-only") and fmt:
            return 400, {"error": {"message": "response_format is not supported by this server",
                                   "type": "invalid_request_error", "param": "response_format"}}, {}
        if self.reasoning:
            for param in ("temperature", "top_p"):
                if param in body and body[param] != 1:
                    return 400, _openai_error(f"Unsupported value: '{param}' does not support {body[param]!r} with "
                                              "this model. Only the default (1) value is supported.",
                                              param, "unsupported_value"), {}
            if "max_tokens" in body:
                return 400, _openai_error("Unsupported parameter: 'max_tokens' is not supported with this model. "
                                          "Use 'max_completion_tokens' instead.", "max_tokens",
                                          "unsupported_parameter"), {}
        if fmt.get("type") == "json_schema" and fmt.get("json_schema", {}).get("strict"):
            problem = _schema_problem(fmt.get("json_schema", {}).get("schema", {}), self.schema_limits)
            if problem:
                name = fmt.get("json_schema", {}).get("name", "response")
                return 400, _openai_error(f"Invalid schema for response_format '{name}': {problem}",
                                          "response_format", None), {}
        return None

    # batches ----------------------------------------------------------------

    def _batch_view(self, batch: dict[str, Any]) -> dict[str, Any]:
        """The batch as the API shows it now; runs its lines once its time has come."""
        now = time.time()
        with self._lock:
            state = batch["status"]
        if state in ("validating", "in_progress") and now >= batch["_t0"] + self.batch_delay:
            self._run_batch(batch)
        elif state == "validating" and now >= batch["_t0"] + self.batch_delay / 4:
            with self._lock:
                batch["status"] = "in_progress"
        with self._lock:
            return {k: v for k, v in batch.items() if not k.startswith("_")}

    def _run_batch(self, batch: dict[str, Any]) -> None:
        with self._lock:
            if batch.get("_running") or batch["status"] not in ("validating", "in_progress"):
                return
            batch["_running"] = True
        lines = self.files[batch["input_file_id"]]["content"].decode("utf-8").splitlines()
        outputs, errors = [], []
        for raw in lines:
            if not raw.strip():
                continue
            item = json.loads(raw)
            body = item.get("body") or {}
            req = RecordedRequest(path="batch", query={}, headers={}, auth=None, body=body,
                                  messages=list(body.get("messages", [])), deployment=None)
            status, payload, _ = self.complete(req)
            entry_id = self._new_id("batch_req")
            if status == 200:
                outputs.append({"id": entry_id, "custom_id": item.get("custom_id"), "error": None,
                                "response": {"status_code": 200, "request_id": entry_id, "body": payload}})
            else:
                errors.append({"id": entry_id, "custom_id": item.get("custom_id"), "error": None,
                               "response": {"status_code": status, "request_id": entry_id, "body": payload}})
        out_lines = [json.dumps(o) for o in outputs]
        if self.batch_output_edit is not None:
            out_lines = self.batch_output_edit(out_lines)
        out_id = self._store_file("batch_output", "\n".join(out_lines).encode())
        err_id = self._store_file("batch_error", "\n".join(json.dumps(e) for e in errors).encode()) if errors else None
        with self._lock:
            batch.update(status="completed", output_file_id=out_id, error_file_id=err_id,
                         completed_at=int(time.time()),
                         request_counts={"total": len(outputs) + len(errors), "completed": len(outputs),
                                         "failed": len(errors)})

    def _store_file(self, purpose: str, content: bytes, filename: str = "file.jsonl") -> str:
        file_id = self._new_id("file")
        with self._lock:
            self.files[file_id] = {"id": file_id, "object": "file", "bytes": len(content), "purpose": purpose,
                                   "filename": filename, "created_at": int(time.time()), "status": "processed",
                                   "content": content}
        return file_id


def _openai_error(message: str, param: str | None, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


def _schema_problem(schema: dict[str, Any], limits: SchemaLimits) -> str:
    """The first cap the schema breaks, worded like the provider, or ""."""
    props = enums = chars = 0
    depth = 0

    def walk(node: Any, level: int) -> None:
        nonlocal props, enums, chars, depth
        if not isinstance(node, dict):
            return
        if node.get("type") == "object" or "object" in (node.get("type") or []) or "properties" in node:
            depth = max(depth, level)
            for name, child in (node.get("properties") or {}).items():
                props += 1
                chars += len(name)
                walk(child, level + 1)
        if isinstance(node.get("enum"), list):
            enums += len(node["enum"])
            chars += sum(len(str(v)) for v in node["enum"] if v is not None)
        if "items" in node:
            walk(node["items"], level)
        for key in ("anyOf", "oneOf"):
            for child in node.get(key) or []:
                walk(child, level)

    walk(schema, 1)
    if limits.max_properties is not None and props > limits.max_properties:
        return (f"Expected at most {limits.max_properties} properties in total within a single schema when using "
                f"structured outputs, but received {props}. Consider reducing the number of properties, or opt out of "
                "structured outputs by setting 'strict: false'.")
    if limits.max_depth is not None and depth > limits.max_depth:
        return f"{depth} levels of nesting exceeds limit of {limits.max_depth}."
    if limits.max_enum_values is not None and enums > limits.max_enum_values:
        return (f"Expected at most {limits.max_enum_values} enum values in total within a single schema when using "
                f"structured outputs, but received {enums}. Consider reducing the number of enums, or opt out of "
                "structured outputs by setting 'strict: false'.")
    if limits.max_string_chars is not None and chars > limits.max_string_chars:
        return (f"Expected at most {limits.max_string_chars} characters of property names and enum values in total "
                f"within a single schema, but received {chars}.")
    return ""


def _squash(text: str) -> str:
    return " ".join(text.split()).casefold()


def _typed(value: Any, spec: dict[str, Any]) -> Any:
    types = spec.get("type", [])
    types = [types] if isinstance(types, str) else types
    if value is None:
        return None
    if "integer" in types:
        return int(value)
    if "number" in types:
        return float(value)
    if "boolean" in types:
        return value if isinstance(value, bool) else str(value).strip().lower() in {"true", "yes", "1"}
    if "array" in types:
        return list(value) if isinstance(value, (list, tuple)) else [str(value)]
    return str(value)


def _completion(model: str, message: dict[str, Any], finish_reason: str, usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-fake-{int(time.time() * 1000)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}],
        "usage": usage,
    }


def _multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """name -> (filename, bytes) of a multipart/form-data body (enough for the openai client's uploads)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        return {}
    boundary = b"--" + match.group(1).encode()
    parts: dict[str, tuple[str | None, bytes]] = {}
    for chunk in raw.split(boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, body = chunk.lstrip(b"\r\n").partition(b"\r\n\r\n")
        disposition = head.decode("utf-8", "replace")
        name = re.search(r'name="([^"]*)"', disposition)
        filename = re.search(r'filename="([^"]*)"', disposition)
        if name:
            parts[name.group(1)] = (filename.group(1) if filename else None, body.removesuffix(b"\r\n"))
    return parts


def _make_handler(server: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without TCP_NODELAY each response waits ~40 ms
        # for the client's delayed ACK, which would add fake latency to every call.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
            return

        # -- routing

        def _api_path(self, path: str) -> str | None:
            """'/files', '/batches/x', ... for /v1/... and Azure's /openai/v1/... (None: not the API)."""
            for prefix in _API_PREFIXES:
                if path.startswith(prefix + "/"):
                    return path[len(prefix):]
            return None

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            split = urlsplit(self.path)
            api = self._api_path(split.path)
            with server._lock:
                server.api_calls.append(("GET", split.path))
            if not self._key_ok():
                self._send(401, {"error": {"message": "Unauthorized", "type": "invalid_request_error"}})
                return
            if api and (m := re.fullmatch(r"/files/([^/]+)/content", api)):
                file = server.files.get(m.group(1))
                if file is None:
                    self._send(404, {"error": {"message": "No such File object", "type": "invalid_request_error"}})
                    return
                self._send_bytes(200, file["content"], "application/octet-stream")
                return
            if api and (m := re.fullmatch(r"/files/([^/]+)", api)):
                file = server.files.get(m.group(1))
                self._send(200 if file else 404, {k: v for k, v in (file or {}).items() if k != "content"}
                           if file else {"error": {"message": "No such File object"}})
                return
            if api and (m := re.fullmatch(r"/batches/([^/]+)", api)):
                with server._lock:
                    fault = server.poll_faults.popleft() if server.poll_faults else None
                if fault is not None and fault.kind == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)  # no status line: the client sees the connection drop
                    return
                if fault is not None and fault.kind in ("500", "429"):
                    extra = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
                    self._send(int(fault.kind), {"error": {"message": "The server is busy", "type": "server_error"}},
                               extra)
                    return
                batch = server.batches.get(m.group(1))
                if batch is None:
                    self._send(404, {"error": {"message": f"No batch found with id '{m.group(1)}'",
                                               "type": "invalid_request_error"}})
                    return
                self._send(200, server._batch_view(batch))
                return
            self._send(404, {"error": {"message": f"no route {split.path}", "type": "not_found"}})

        def do_POST(self) -> None:  # noqa: N802 - http.server API
            split = urlsplit(self.path)
            azure = _AZURE_PATH.match(split.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            api = self._api_path(split.path)
            if split.path not in _CHAT_PATHS and not azure:
                if api in ("/files", "/batches") or (api or "").endswith("/cancel"):
                    self._post_api(api or "", raw)
                    return
                self._send(404, {"error": {"message": f"no route {split.path}", "type": "not_found"}})
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._send(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
                return
            req = self._record(split, body, azure.group(1) if azure else None)
            with server._lock:
                server.in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server.in_flight)
            try:
                self._serve(req)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout): nothing to answer
            finally:
                req.ended = time.monotonic()
                with server._lock:
                    server.in_flight -= 1

        def _post_api(self, api: str, raw: bytes) -> None:
            with server._lock:
                server.api_calls.append(("POST", urlsplit(self.path).path))
            if not self._key_ok():
                self._send(401, {"error": {"message": "Unauthorized", "type": "invalid_request_error"}})
                return
            if api == "/files":
                parts = _multipart(self.headers.get("Content-Type", ""), raw)
                if "file" not in parts:
                    self._send(400, {"error": {"message": "no file part", "type": "invalid_request_error"}})
                    return
                purpose = parts.get("purpose", (None, b"batch"))[1].decode()
                filename, content = parts["file"]
                file_id = server._store_file(purpose, content, filename or "upload.jsonl")
                self._send(200, {k: v for k, v in server.files[file_id].items() if k != "content"})
                return
            body = json.loads(raw or b"{}")
            if api == "/batches":
                file = server.files.get(body.get("input_file_id", ""))
                if file is None:
                    self._send(400, {"error": {"message": "input_file_id not found", "type": "invalid_request_error"}})
                    return
                batch_id = server._new_id("batch")
                lines = [ln for ln in file["content"].decode("utf-8").splitlines() if ln.strip()]
                batch = {"id": batch_id, "object": "batch", "endpoint": body.get("endpoint"),
                         "input_file_id": body["input_file_id"], "completion_window": body.get("completion_window"),
                         "status": "validating", "output_file_id": None, "error_file_id": None,
                         "created_at": int(time.time()), "completed_at": None, "errors": None,
                         "metadata": body.get("metadata"), "_t0": time.time(),
                         "request_counts": {"total": len(lines), "completed": 0, "failed": 0}}
                with server._lock:
                    server.batches[batch_id] = batch
                    server.batches_created += 1
                self._send(200, server._batch_view(batch))
                return
            m = re.fullmatch(r"/batches/([^/]+)/cancel", api)
            batch = server.batches.get(m.group(1)) if m else None
            if batch is None:
                self._send(404, {"error": {"message": "no such batch", "type": "invalid_request_error"}})
                return
            with server._lock:
                if batch["status"] in ("validating", "in_progress"):
                    batch["status"] = "cancelled"
            self._send(200, server._batch_view(batch))

        def _record(self, split: Any, body: dict[str, Any], deployment: str | None) -> RecordedRequest:
            headers = {k.lower(): ("<redacted>" if k.lower() in _SECRET_HEADERS else v)
                       for k, v in self.headers.items()}
            auth = "api-key" if "api-key" in headers else "bearer" if "authorization" in headers else None
            bearer = (self.headers.get("Authorization") or "").removeprefix("Bearer ") or None
            # a token from a token provider is recorded (tests assert it); a configured key never is
            req = RecordedRequest(path=split.path, query=parse_qs(split.query), headers=headers, auth=auth,
                                  body=body, messages=list(body.get("messages", [])), deployment=deployment,
                                  started=time.monotonic(),
                                  bearer=bearer if bearer and bearer.startswith("entra-") else None)
            with server._lock:
                server.requests.append(req)
            return req

        def _given_key(self) -> str:
            return self.headers.get("api-key") or (self.headers.get("Authorization") or "").removeprefix("Bearer ")

        def _key_ok(self) -> bool:
            return server.expected_key is None or self._given_key() == server.expected_key

        def _serve(self, req: RecordedRequest) -> None:
            queue = self._queue()
            if queue is not None:
                queue.acquire()
            try:
                req.admitted = time.monotonic()
                self._serve_admitted(req)
            finally:
                if queue is not None:
                    queue.release()

        def _queue(self) -> threading.Semaphore | None:
            with server._lock:
                if server.parallel is None:
                    return None
                if server._queue is None or server._queue_size != server.parallel:
                    server._queue, server._queue_size = threading.BoundedSemaphore(server.parallel), server.parallel
                return server._queue

        def _serve_admitted(self, req: RecordedRequest) -> None:
            if server.latency:
                time.sleep(server.latency)
            fault = server._next_fault()
            if not self._key_ok() or (fault and fault.kind == "401"):
                req.status = 401
                # like some servers do, echo the key back: the client must scrub it from what it reports
                self._send(401, {"error": {"message": f"Incorrect API key provided: {self._given_key()}.",
                                           "type": "invalid_request_error", "code": "invalid_api_key"}})
                return
            if fault and fault.kind == "429":
                req.status = 429
                extra = server._quota_headers(time.monotonic())
                if fault.retry_after is not None:
                    extra["Retry-After"] = f"{fault.retry_after:g}"
                if fault.retry_after_ms is not None:
                    extra["retry-after-ms"] = f"{fault.retry_after_ms:g}"
                self._send(429, {"error": {"message": "Rate limit reached", "type": "rate_limit_exceeded"}}, extra)
                return
            if fault and fault.kind == "500":
                req.status = 500
                self._send(500, {"error": {"message": "The server had an error", "type": "server_error"}})
                return
            if fault and fault.kind == "timeout":
                time.sleep(fault.sleep or 5.0)
                req.status = 599  # the client has hung up by now
                return
            req.fault = fault
            status, payload, headers = server.complete(req)
            req.status = status
            if status != 200:
                req.error = str((payload.get("error") or {}).get("message", ""))
            self._send(status, payload, headers)

        def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            self._send_bytes(status, json.dumps(payload).encode("utf-8"), "application/json", headers)

        def _send_bytes(self, status: int, data: bytes, content_type: str,
                        headers: dict[str, str] | None = None) -> None:
            merged = server._quota_headers(time.monotonic())
            merged.update(headers or {})
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-request-id", f"req-{id(self)}")
            for k, v in merged.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

    return Handler
