"""A real HTTP server on 127.0.0.1 that speaks the OpenAI chat completions API (and Azure's path).

Used by tests and benchmarks instead of patching the openai client: requests go through the real
client, real HTTP, real timeouts. By default it answers like a careful model: for each variable in
the request's json_schema, if the configured fact's quote occurs on a `<page number="N">` of the
request, it answers {value, evidence: quote, page: N, confidence: 0.95}; otherwise null.

    server = FakeOpenAI().start()
    server.facts = {"year_adopted": (2019, "adopted by Cabinet in 2019")}
    server.add_fault("429", retry_after=1)     # next call: 429 with Retry-After: 1
    server.latency = 0.05                      # seconds per call
    server.responder = lambda req: {...}       # custom reply: dict(content=..., finish_reason=..., status=...)
    server.requests                            # every request recorded (secrets redacted)
    server.stop()
"""
from __future__ import annotations

import json
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
_SECRET_HEADERS = {"authorization", "api-key"}

FAULT_KINDS = ("429", "500", "timeout", "invalid_json", "length", "401", "bad_shape")


@dataclass
class Fault:
    """One injected failure. kind: 429 | 500 | timeout | invalid_json | length | 401 | bad_shape."""

    kind: str
    retry_after: float | None = None  # seconds, sent as Retry-After (429)
    retry_after_ms: float | None = None  # sent as retry-after-ms (429)
    sleep: float = 0.0  # timeout: seconds to stall before answering (past the client's timeout)


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

    @property
    def schema(self) -> dict[str, Any]:
        return self.body.get("response_format", {}).get("json_schema", {}).get("schema", {})

    @property
    def variable_names(self) -> list[str]:
        return list(self.schema.get("properties", {}).get("answers", {}).get("properties", {}))

    @property
    def text(self) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.messages)

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


class FakeOpenAI:
    """Thread-safe fake OpenAI / Azure OpenAI chat completions server."""

    def __init__(self) -> None:
        self.facts: dict[str, tuple[Any, str]] = {}
        self.latency: float = 0.0
        self.confidence: float = 0.95
        self.expected_key: str | None = None  # when set, any other key gets a 401
        self.responder: Callable[[RecordedRequest], dict[str, Any]] | None = None
        self.faults: deque[Fault] = deque()
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._previous_text = ""
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

    @property
    def calls(self) -> int:
        """Completed chat requests that got a 200 answer."""
        with self._lock:
            return sum(1 for r in self.requests if r.status == 200)

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

    def _usage(self, text: str, content: str) -> dict[str, Any]:
        with self._lock:
            prev, self._previous_text = self._previous_text, text
        shared = 0
        for a, b in zip(prev, text):
            if a != b:
                break
            shared += 1
        return {"prompt_tokens": len(text) // 4, "completion_tokens": max(1, len(content) // 4),
                "total_tokens": len(text) // 4 + max(1, len(content) // 4),
                "prompt_tokens_details": {"cached_tokens": shared // 4}}


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


def _completion(model: str, content: str, finish_reason: str, usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-fake-{int(time.time() * 1000)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": None},
                     "finish_reason": finish_reason, "logprobs": None}],
        "usage": usage,
    }


def _make_handler(server: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without TCP_NODELAY each response waits ~40 ms
        # for the client's delayed ACK, which would add fake latency to every call.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
            return

        def do_POST(self) -> None:  # noqa: N802 - http.server API
            split = urlsplit(self.path)
            azure = _AZURE_PATH.match(split.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if split.path != "/v1/chat/completions" and not azure:
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

        def _record(self, split: Any, body: dict[str, Any], deployment: str | None) -> RecordedRequest:
            headers = {k.lower(): ("<redacted>" if k.lower() in _SECRET_HEADERS else v)
                       for k, v in self.headers.items()}
            auth = "api-key" if "api-key" in headers else "bearer" if "authorization" in headers else None
            req = RecordedRequest(path=split.path, query=parse_qs(split.query), headers=headers, auth=auth,
                                  body=body, messages=list(body.get("messages", [])), deployment=deployment,
                                  started=time.monotonic())
            with server._lock:
                server.requests.append(req)
            return req

        def _given_key(self) -> str:
            return self.headers.get("api-key") or (self.headers.get("Authorization") or "").removeprefix("Bearer ")

        def _key_ok(self) -> bool:
            return server.expected_key is None or self._given_key() == server.expected_key

        def _serve(self, req: RecordedRequest) -> None:
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
                extra = {}
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
            reply = server.responder(req) if server.responder else server.careful_answer(req)
            status = int(reply.get("status", 200))
            if status != 200:
                req.status = status
                self._send(status, reply.get("body", {"error": {"message": f"HTTP {status}"}}), reply.get("headers"))
                return
            content = str(reply.get("content", ""))
            finish = str(reply.get("finish_reason", "stop"))
            if fault and fault.kind == "invalid_json":
                content = "Sure! Here are the answers: {answers: [oops"
            elif fault and fault.kind == "bad_shape":
                content = json.dumps({"result": "not the schema"})
            elif fault and fault.kind == "length":
                content, finish = content[: max(1, len(content) // 2)], "length"
            model = str(reply.get("model") or req.deployment or req.body.get("model", "fake"))  # responder may rename
            self._send(200, _completion(model, content, finish, server._usage(req.text, content)))

        def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-request-id", f"req-{id(self)}")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

    return Handler
