"""The HTTP client of model calls, bounded in time and size: the model server is an untrusted input.

httpx's timeouts are per operation (connect, each read): a server that sends one byte every half second
never trips a read timeout and can hold a call for as long as it likes, and nothing bounds the size of a
reply (a 300 MB body grew the process by 900 MB). So every chat call runs inside `bounded_call(...)`,
which gives it a deadline (the whole call, headers and body) and a byte budget; the client's network
streams (an httpcore network backend wrapped around the default one, so TLS, keep-alive and the pool are
httpx's own) cap every read's timeout at the time left and count the bytes received:

* past the deadline a read raises httpcore's ReadTimeout -> the openai client's APITimeoutError -> a
  "timeout" like any other (retried within LLM_MAX_RETRIES);
* past the byte budget it raises `ReplyTooLarge` (the openai client wraps it in APIConnectionError; the
  chat backend unwraps it into LlmError(code="reply_too_large") naming the server's host).

Outside `bounded_call` (the batch client's file downloads, whose size is legitimate) the streams behave
exactly like httpx's.
"""
from __future__ import annotations

import contextvars
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import httpcore2
import httpx2


class ReplyTooLarge(Exception):
    """The server sent more than the call's byte budget."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the reply exceeded {limit:,} bytes")
        self.limit = limit


@dataclass
class _Bounds:
    deadline: float  # time.monotonic()
    max_bytes: int
    received: int = 0


_BOUNDS: contextvars.ContextVar[_Bounds | None] = contextvars.ContextVar("policy_reader_call_bounds", default=None)


@contextmanager
def bounded_call(*, timeout_s: float, max_bytes: int) -> Iterator[None]:
    """HTTP done in this thread inside the block ends by `timeout_s` from now and reads at most
    `max_bytes` (headers included)."""
    token = _BOUNDS.set(_Bounds(time.monotonic() + timeout_s, max_bytes))
    try:
        yield
    finally:
        _BOUNDS.reset(token)


def _time_left(timeout: float | None) -> float | None:
    bounds = _BOUNDS.get()
    if bounds is None:
        return timeout
    left = bounds.deadline - time.monotonic()
    if left <= 0:
        raise httpcore2.ReadTimeout("the call's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _BoundedStream(httpcore2.NetworkStream):
    def __init__(self, inner: httpcore2.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = self._inner.read(max_bytes, _time_left(timeout))
        bounds = _BOUNDS.get()
        if bounds is not None:
            bounds.received += len(data)
            if bounds.received > bounds.max_bytes:
                raise ReplyTooLarge(bounds.max_bytes)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _time_left(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore2.NetworkStream:
        return _BoundedStream(self._inner.start_tls(ssl_context, server_hostname, _time_left(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _BoundedBackend(httpcore2.NetworkBackend):
    def __init__(self, inner: httpcore2.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore2.NetworkStream:
        return _BoundedStream(self._inner.connect_tcp(host, port, _time_left(timeout), local_address,
                                                      socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore2.NetworkStream:
        return _BoundedStream(self._inner.connect_unix_socket(path, _time_left(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def bounded_http_client(timeout_s: float) -> httpx2.Client:
    """An httpx client like the openai SDK's default (its timeout, connection limits, redirects) whose
    connections honour `bounded_call`."""
    import openai

    transport = httpx2.HTTPTransport(limits=httpx2.Limits(max_connections=1000, max_keepalive_connections=100))
    pool = getattr(transport, "_pool", None)
    if pool is None or not hasattr(pool, "_network_backend"):  # pragma: no cover - pinned httpx2/httpcore2
        raise RuntimeError("httpx2's transport has no connection pool to bound; check the pinned httpx2 version")
    pool._network_backend = _BoundedBackend(pool._network_backend)
    return openai.DefaultHttpxClient(transport=transport, timeout=timeout_s)
