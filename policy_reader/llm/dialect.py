"""What one model server takes: its request dialect and how many requests it works on at once.

Why this is learned, not configured: OpenAI, Azure OpenAI deployments of different models, and
OpenAI-compatible servers (llama.cpp, vLLM, Ollama, ...) all speak "the OpenAI API", each a little
differently. Reasoning models (o-series, gpt-5) refuse `temperature` and `max_tokens`; llama-cpp-python
refuses `response_format: json_schema` (with an HTTP 500) but takes `json_object` with a `schema`; some
servers take no response format at all. A refusal names what it refuses; the dialect adapts ONCE per
server and model (process-wide), so later calls are sent right the first time.

Refusal vs outage: a refusal (the server will never take this request) is never retried as such; the
request is changed and sent again, or the error reaches the user with the server's own text. An outage
(5xx with no word about the request, timeouts) is retried by llm.py.

Concurrency: a local server often works on one request at a time and queues the rest; a queued call's
timeout runs while it waits, so it times out although the server is healthy. For compatible servers
(1) a call sent while k others are in flight gets k extra LLM_TIMEOUT_S (time the request, not the
queue), and (2) when latency grows with the number in flight (the server queues: the second of two
calls takes twice as long as one alone) or a call still times out while others were in flight, the
number in flight shrinks to what the server takes, and the call is sent again without counting as a
failed attempt; a long run of flat latencies lets one more in again. OpenAI and Azure are not measured:
they take LLM_MAX_CONCURRENCY.
"""
from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

#: How the reply's structure is asked for, from strictest to loosest.
RESPONSE_MODES = ("json_schema", "json_object_schema", "json_object", "tools", "text")
#: Modes where the schema goes into the prompt (the server does not enforce it).
SCHEMA_IN_PROMPT = frozenset({"json_object", "text"})

_REASONING = re.compile(r"^(o\d|gpt-5)(?!.*-chat)", re.IGNORECASE)
_FORMAT_WORDS = re.compile(r"response_format|responseformat|json_schema|json schema|structured output|"
                           r"grammar|guided|json_object", re.IGNORECASE)
_TOOL_WORDS = re.compile(r"\btools?\b|tool_choice|function", re.IGNORECASE)
_INVALID_SCHEMA = re.compile(r"invalid schema|schema.*(exceed|too many|at most|limit)|"
                             r"(exceed|too many|at most|limit).*schema", re.IGNORECASE | re.DOTALL)
_UNSUPPORTED_PARAM = re.compile(r"unsupported (?:parameter|value): '([a-z_]+)'|'([a-z_]+)' is not supported|"
                                r"unrecognized request argument supplied: ([a-z_]+)|"
                                r"extra inputs are not permitted.*?\b([a-z_]+)\b", re.IGNORECASE | re.DOTALL)


def is_reasoning_model(name: str) -> bool:
    """o1/o3/o4-mini/gpt-5...: no sampling parameters; the token limit includes the reasoning."""
    return bool(_REASONING.match(name.strip()))


def schema_instruction(schema: dict[str, Any]) -> str:
    """Appended to the last message when the server does not enforce the schema itself."""
    return ("\n\nReply with one JSON object only — no prose, no code fences — that matches this JSON schema "
            "(every variable present; null when the document does not say):\n<schema>"
            + json.dumps(schema, separators=(",", ":")) + "</schema>")


@dataclass
class Refusal:
    """What a 4xx/5xx reply says the server refuses. kind: format | tools | param | schema | context | other."""

    kind: str
    detail: str
    param: str | None = None


def classify_refusal(status: int, detail: str, param: str | None, mode: str) -> Refusal | None:
    """A refusal of the request (never retried as is), or None for an outage / a plain error.

    A 5xx counts as a refusal only when its text is about the request's format (llama-cpp-python
    answers an unknown response_format with a 500 carrying its validation error).
    """
    text = detail or ""
    if _INVALID_SCHEMA.search(text) and (param == "response_format" or "schema" in text.lower()):
        return Refusal("schema", text, param)
    if "context" in text.lower() and re.search(r"exceed|too long|maximum context|context (window|size|length)",
                                               text, re.IGNORECASE):
        return Refusal("context", text, param)
    if status >= 500 and status not in (500, 501):
        return None
    mentions_format = param == "response_format" or bool(_FORMAT_WORDS.search(text))
    if status >= 500:
        if mode in ("json_schema", "json_object_schema", "json_object") and mentions_format:
            return Refusal("format", text, param)
        if mode == "tools" and _TOOL_WORDS.search(text):
            return Refusal("tools", text, param)
        return None
    if status not in (400, 404, 415, 422):
        return None
    match = _UNSUPPORTED_PARAM.search(text)
    named = param or (next((g for g in match.groups() if g), None) if match else None)
    if named in ("temperature", "top_p", "max_tokens", "max_completion_tokens"):
        return Refusal("param", text, named)
    if mode != "text" and (mentions_format or named in ("response_format",)):
        return Refusal("format", text, named)
    if mode == "tools" and (_TOOL_WORDS.search(text) or named in ("tools", "tool_choice")):
        return Refusal("tools", text, named)
    if status == 404:
        return None
    return Refusal("other", text, named)


@dataclass
class Dialect:
    """The request shape one server/model takes; shared by every call to it (thread-safe updates)."""

    mode: str = "json_schema"
    token_param: str = "max_completion_tokens"
    send_temperature: bool = True
    #: modes this server may try, in order (OpenAI/Azure skip the compatible-only variant)
    modes: tuple[str, ...] = RESPONSE_MODES
    pinned: bool = False  # LLM_RESPONSE_FORMAT set: never change the mode
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def params(self, messages: list[dict[str, str]], schema: dict, schema_name: str,
               max_tokens: int) -> dict[str, Any]:
        """The chat.completions.create keyword arguments for this dialect."""
        with self._lock:
            mode, token_param, temperature = self.mode, self.token_param, self.send_temperature
        params: dict[str, Any] = {}
        if mode in SCHEMA_IN_PROMPT:
            messages = [*messages[:-1], {**messages[-1], "content": messages[-1]["content"]
                                         + schema_instruction(schema)}]
        params["messages"] = messages
        if mode == "json_schema":
            params["response_format"] = {"type": "json_schema",
                                         "json_schema": {"name": schema_name, "strict": True, "schema": schema}}
        elif mode == "json_object_schema":
            params["response_format"] = {"type": "json_object", "schema": schema}
        elif mode == "json_object":
            params["response_format"] = {"type": "json_object"}
        elif mode == "tools":
            params["tools"] = [{"type": "function", "function": {
                "name": schema_name, "description": "Record the answers to every variable.",
                "parameters": schema, "strict": True}}]
            params["tool_choice"] = {"type": "function", "function": {"name": schema_name}}
        if temperature:
            params["temperature"] = 0  # extraction, not creativity; dropped for models that refuse it
        params[token_param] = max_tokens
        return params

    def adapt(self, refusal: Refusal, sent: dict[str, Any]) -> bool:
        """Change the dialect after a refusal of `sent`. True when a changed request is worth sending."""
        with self._lock:
            if refusal.kind == "param":
                if refusal.param in ("temperature", "top_p") and "temperature" in sent:
                    self.send_temperature = False
                    return True
                if refusal.param == "max_tokens" and "max_tokens" in sent:
                    self.token_param = "max_completion_tokens"
                    return True
                if refusal.param == "max_completion_tokens" and "max_completion_tokens" in sent:
                    self.token_param = "max_tokens"
                    return True
                return False
            if refusal.kind in ("format", "tools") and not self.pinned:
                current = _sent_mode(sent)
                if current != self.mode:
                    return True  # another call already moved on: send again with the current mode
                later = self.modes[self.modes.index(current) + 1:] if current in self.modes else ()
                if later:
                    self.mode = later[0]
                    return True
            return False


def _sent_mode(sent: dict[str, Any]) -> str:
    if sent.get("tools"):
        return "tools"
    fmt = sent.get("response_format") or {}
    kind = fmt.get("type")
    if kind == "json_schema":
        return "json_schema"
    if kind == "json_object":
        return "json_object_schema" if "schema" in fmt else "json_object"
    return "text"


class ServerCapacity:
    """How many calls one server works on at once, learned from latency (compatible servers) or fixed."""

    #: latency within this factor of the one-call latency: the server works in parallel
    GROW_FACTOR = 1.5
    #: latency beyond this factor (and beyond 0.75 x the calls in flight: a slow call among many in
    #: parallel is not a queue): calls wait in the server's queue
    QUEUE_FACTOR = 1.8
    #: absolute slack (s) so scheduling jitter on tiny latencies is not read as queueing
    SLACK_S = 0.05
    #: flat-latency calls at the limit after which one more call may be in flight again
    RECOVER_AFTER = 20

    def __init__(self, upper: int, adaptive: bool) -> None:
        self.upper = max(1, upper)
        self.adaptive = adaptive
        self.limit = self.upper
        self._streak = 0  # successes in a row with no sign of queueing (to recover from a false alarm)
        self._alone: deque[float] = deque(maxlen=5)  # latencies of recent calls that had the server alone
        self.in_flight = 0
        self.queue_timeouts = 0  # calls sent again because the server's queue made them time out
        self._cond = threading.Condition()

    @contextmanager
    def slot(self, upper: int | None = None) -> Iterator[int]:
        """Hold one of the server's places; yields the number in flight when this call started."""
        with self._cond:
            if upper is not None and upper != self.upper:
                self.upper = max(1, upper)
                self.limit = min(self.limit, self.upper)
            while self.in_flight >= min(self.limit, self.upper):
                self._cond.wait()
            self.in_flight += 1
            started_with = self.in_flight
        try:
            yield started_with
        finally:
            with self._cond:
                self.in_flight -= 1
                self._cond.notify_all()

    @property
    def baseline(self) -> float | None:
        """What one call takes with the server to itself: the fastest of the recent ones (a cold first
        call, or a long answer, must not hide queueing behind it)."""
        return min(self._alone) if self._alone else None

    def record(self, latency_s: float, in_flight: int) -> None:
        """A successful call of `latency_s` that started with `in_flight` calls (itself included)."""
        if not self.adaptive:
            return
        with self._cond:
            if in_flight <= 1:
                self._alone.append(latency_s)
            base = self.baseline
            if base is None:
                return
            if in_flight > 1 and latency_s > max(self.QUEUE_FACTOR, 0.75 * in_flight) * base + self.SLACK_S:
                # k calls that each take `base` alone took `latency`: the server works on about
                # k x base / latency of them at once (1 for a one-at-a-time server)
                self.limit = max(1, min(self.limit, math.ceil(in_flight * base / latency_s)))
                self._streak = 0
            elif in_flight >= self.limit and latency_s <= self.GROW_FACTOR * base + self.SLACK_S:
                self._streak += 1
                if self._streak >= self.RECOVER_AFTER and self.limit < self.upper:
                    self.limit += 1
                    self._streak = 0
            self._cond.notify_all()

    def queue_allowance(self, in_flight: int) -> int:
        """Calls that may be ahead of this one in a compatible server's own queue (its timeout is
        extended by that many call times). Cloud APIs do not queue: 0."""
        return max(0, in_flight - 1) if self.adaptive else 0

    def timed_out(self, in_flight: int) -> bool:
        """A call timed out. True when that is the server's queue (others were in flight): the limit
        shrinks and the call is sent again without counting as a failed attempt."""
        if not self.adaptive or in_flight <= 1:
            return False
        with self._cond:
            self.queue_timeouts += 1
            self.limit = max(1, min(self.limit, in_flight // 2))
            self._streak = 0
            self._cond.notify_all()
        return True


@dataclass
class ServerProfile:
    dialect: Dialect
    capacity: ServerCapacity
    #: the server's context window in tokens, once an error has told it (local servers)
    context_window: int | None = None
    created: float = field(default_factory=time.monotonic)


_PROFILES: dict[tuple[str, ...], ServerProfile] = {}
_PROFILES_LOCK = threading.Lock()


def profile_for(key: tuple[str, ...], *, reasoning: bool, compatible: bool, concurrency: int,
                response_format: str = "auto") -> ServerProfile:
    """The process-wide profile of one server and model (created on first use)."""
    with _PROFILES_LOCK:
        profile = _PROFILES.get(key)
        if profile is None:
            modes = RESPONSE_MODES if compatible else tuple(m for m in RESPONSE_MODES if m != "json_object_schema")
            pinned = response_format != "auto"
            dialect = Dialect(mode=response_format if pinned else modes[0],
                              token_param="max_tokens" if compatible else "max_completion_tokens",
                              send_temperature=not reasoning, modes=modes, pinned=pinned)
            profile = _PROFILES[key] = ServerProfile(dialect, ServerCapacity(concurrency, adaptive=compatible))
        return profile
