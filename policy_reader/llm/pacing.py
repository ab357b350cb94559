"""Quota-aware pacing: send model calls at the pace the provider's quota allows, not in bursts of 429s.

Real deployments have tokens-per-minute (TPM) and requests-per-minute (RPM) quotas. A job far larger
than the quota must finish with no document failed for rate limits, in about the time the quota
allows. So, for each server and model (process-wide: every job shares one quota):

* a token bucket per quota, refilled at TPM/60 (RPM/60) per second, holding about one second's worth
  (see _Bucket for why bursts do not pay). A call takes its estimated charge
  first — prompt characters / 4 plus its max output tokens, which is how Azure OpenAI and OpenAI charge
  a request against the quota — and waits when the bucket is short;
* the bucket is corrected by the provider's own numbers on every response
  (`x-ratelimit-remaining-tokens` / `-requests` lower it; `x-ratelimit-limit-*` teach the quota when
  LLM_TOKENS_PER_MINUTE is not set), because other clients may share the quota. Azure OpenAI sends no
  `x-ratelimit-limit-*` header, only what remains of the minute: the quota is then learnt as that
  remainder plus what this process itself was charged in the minute up to the call (`_Ledger`);
* until the first answer has told the quota (no LLM_TOKENS_PER_MINUTE), calls go one at a time, so a
  job does not open with a burst of 429s;
* a 429 holds EVERY call to that server until its `retry-after-ms` / `Retry-After` has passed (or a
  jittered backoff when it gives none), so one 429 does not become a storm, and slows the pace a
  little (a short evaluation window the headers do not show); successes bring it back;
* waiting is not failing: a 429 never uses up LLM_MAX_RETRIES. Only LLM_QUOTA_MAX_WAIT_S (a safety net
  against a quota that never comes back) ends the wait with an error.

Waiting is reported through `call_context(on_wait=...)` (the document's progress shows "waiting for
quota") and can be cancelled through its `should_stop`.
"""
from __future__ import annotations

import contextvars
import random
import re
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

from policy_reader.errors import LlmError

#: Shortest wait that is reported as "waiting for quota" (shorter ones are pacing noise).
REPORT_WAIT_S = 0.5
#: Longest single sleep: cancellation and new quota information are checked at least this often.
SLEEP_SLICE_S = 0.5


@dataclass(frozen=True)
class CallContext:
    """Who is waiting: the document's progress hook and its cancellation check."""

    on_wait: Callable[[bool], None] | None = None
    should_stop: Callable[[], bool] | None = None


_CONTEXT: contextvars.ContextVar[CallContext] = contextvars.ContextVar("policy_reader_call_context",
                                                                       default=CallContext())


@contextmanager
def call_context(*, on_wait: Callable[[bool], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> Iterator[None]:
    """Calls made inside (in this thread, or in threads started with contextvars.copy_context())
    report quota waits to `on_wait(True/False)` and stop waiting when `should_stop()` turns true."""
    token = _CONTEXT.set(CallContext(on_wait, should_stop))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def current_context() -> CallContext:
    return _CONTEXT.get()


def parse_duration(raw: str | None) -> float | None:
    """OpenAI's reset format ("1s", "6m0s", "20ms", "1h2m3.5s") or plain seconds, in seconds."""
    if not raw:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    total, found = 0.0, False
    for number, unit in re.findall(r"([\d.]+)\s*(ms|h|m|s)", raw):
        found = True
        total += float(number) * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]
    return total if found else None


def _int_header(headers: Mapping[str, Any], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return int(float(raw))
    except (TypeError, ValueError):
        return None


class QuotaWaitExceeded(LlmError):
    """The provider kept saying "later" for longer than LLM_QUOTA_MAX_WAIT_S."""


class _Bucket:
    """A per-minute budget that refills continuously at `per_minute x pace / 60` a second and holds at
    most one second's worth.

    Why (almost) no burst: Azure OpenAI evaluates quotas over short windows (its docs: 1 or 10
    seconds), so tokens sent in a burst are refused even when the per-minute total is fine; pacing at
    the steady rate is what finishes first. A call larger than the bucket waits for a full bucket and
    leaves it in debt, which the next calls repay — so calls go out at exactly the quota's rate.
    `pace` (<= 1) slows that rate after 429s the headers did not predict (a short evaluation window,
    other clients on the same quota) and creeps back up with successes.
    """

    BURST_S = 1.0

    def __init__(self) -> None:
        self.per_minute = 0  # 0: unknown, no pacing
        self.level = 0.0
        self.pace = 1.0
        self.stamp = time.monotonic()

    @property
    def rate(self) -> float:
        return self.per_minute * self.pace / 60.0

    @property
    def capacity(self) -> float:
        return self.rate * self.BURST_S

    def learn(self, per_minute: int) -> None:
        if per_minute > 0 and per_minute != self.per_minute:
            self.per_minute = per_minute
            self.level = min(self.level, self.capacity)

    def refill(self, now: float) -> None:
        if self.per_minute:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def shortfall_s(self, amount: float) -> float:
        """Seconds until `amount` is available (more than the bucket holds: until it is full)."""
        if not self.per_minute:
            return 0.0
        need = min(amount, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate


class _Ledger:
    """What this process was charged in the last minute (times of acquisition), so a provider that tells
    only what REMAINS of its per-minute quota (Azure: x-ratelimit-remaining-tokens, no limit header)
    still teaches the quota: limit = remaining + our own charges of the minute up to that call."""

    SPAN_S = 60.0

    def __init__(self) -> None:
        self._entries: deque[tuple[float, int]] = deque()

    def add(self, when: float, amount: int) -> None:
        self._entries.append((when, amount))

    def remove(self, when: float, amount: int) -> None:
        """A refused call (429) was not charged by the provider."""
        try:
            self._entries.remove((when, amount))
        except ValueError:
            pass

    def charged_until(self, until: float, now: float) -> int:
        while self._entries and self._entries[0][0] <= now - self.SPAN_S:
            self._entries.popleft()
        return sum(amount for when, amount in self._entries if when <= until)


class QuotaPacer:
    """The pace of calls to one server and model (see the module docstring)."""

    #: pace after a 429 the budget did not foresee, and the floor it never goes below
    SLOW_DOWN = 0.8
    MIN_PACE = 0.25
    #: pace regained per successful call
    SPEED_UP = 0.02

    def __init__(self, tokens_per_minute: int = 0, requests_per_minute: int = 0, *,
                 backoff_base_s: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._tokens = _Bucket()
        self._requests = _Bucket()
        self._tokens_fixed = tokens_per_minute > 0
        self._tokens.learn(tokens_per_minute)
        self._requests.learn(requests_per_minute)
        self._blocked_until = 0.0
        self._holds = 0  # consecutive 429s (for the backoff when the provider gives no Retry-After)
        self._backoff_base_s = backoff_base_s
        #: until the first answer tells the quota (x-ratelimit headers), one call at a time
        self._informed = tokens_per_minute > 0
        self._probing = False
        self._ledger = _Ledger()
        #: the acquisition stamp of this thread's last call (observe() and hold() pair with it)
        self._last = threading.local()
        self.waited_s = 0.0  # total, for benchmarks and logs

    @property
    def tokens_per_minute(self) -> int:
        return self._tokens.per_minute

    def configure(self, *, tokens_per_minute: int = 0, backoff_base_s: float | None = None) -> None:
        with self._lock:
            if tokens_per_minute > 0:
                self._tokens_fixed = True
                self._informed = True
                self._tokens.learn(tokens_per_minute)
            if backoff_base_s is not None:
                self._backoff_base_s = backoff_base_s

    def _delay(self, tokens: int, now: float) -> float:
        self._tokens.refill(now)
        self._requests.refill(now)
        probe_wait = SLEEP_SLICE_S / 5 if (not self._informed and self._probing) else 0.0
        return max(self._blocked_until - now, self._tokens.shortfall_s(tokens), self._requests.shortfall_s(1),
                   probe_wait)

    def acquire(self, tokens: int, *, max_wait_s: float, waited_s: float = 0.0) -> float:
        """Take `tokens` (and one request) from the budget, waiting as long as the quota needs.

        Returns the seconds waited. Raises QuotaWaitExceeded past `max_wait_s` in total (counting
        `waited_s` already spent by this call), LlmError(code="cancelled") when the caller stops.
        """
        ctx = current_context()
        waited = 0.0
        reported = False
        try:
            while True:
                with self._lock:
                    now = time.monotonic()
                    delay = self._delay(tokens, now)
                    if delay <= 0:
                        self._ledger.add(now, tokens)
                        self._last.charge = (now, tokens)
                        if self._tokens.per_minute:
                            self._tokens.level -= tokens
                        if self._requests.per_minute:
                            self._requests.level -= 1
                        if not self._informed:
                            self._probing = True
                        return waited
                if waited_s + waited + delay > max_wait_s:
                    raise QuotaWaitExceeded(
                        f"The model's quota did not let this call through within LLM_QUOTA_MAX_WAIT_S="
                        f"{max_wait_s:g} s (the provider kept answering \"later\"). Resume the job later, raise "
                        "the deployment's tokens-per-minute quota, or lower DOCS_PER_JOB / LLM_MAX_CONCURRENCY.",
                        code="rate_limit")
                if not reported and delay >= REPORT_WAIT_S and ctx.on_wait is not None:
                    ctx.on_wait(True)
                    reported = True
                step = min(delay, SLEEP_SLICE_S)
                if ctx.should_stop is not None and ctx.should_stop():
                    raise LlmError("The job was cancelled while waiting for the model's quota.", code="cancelled")
                time.sleep(step)
                waited += step
                with self._lock:
                    self.waited_s += step
        finally:
            if reported and ctx.on_wait is not None:
                ctx.on_wait(False)

    def observe(self, headers: Mapping[str, Any] | None, *, admitted: bool = True) -> None:
        """Correct the budget with the provider's x-ratelimit-* headers (any response, 429s included).

        `admitted`: the call was charged (False for a 429). Without a limit header, the quota is
        learnt from what remains plus this process's own charges of the minute (see _Ledger)."""
        limit_t = _int_header(headers, "x-ratelimit-limit-tokens") if headers is not None else None
        limit_r = _int_header(headers, "x-ratelimit-limit-requests") if headers is not None else None
        left_t = _int_header(headers, "x-ratelimit-remaining-tokens") if headers is not None else None
        left_r = _int_header(headers, "x-ratelimit-remaining-requests") if headers is not None else None
        sent = getattr(self._last, "charge", None)
        with self._lock:
            self._informed, self._probing = True, False  # what the provider says (or not) is known now
            now = time.monotonic()
            self._tokens.refill(now)
            self._requests.refill(now)
            if limit_t is not None and limit_t <= 0:
                limit_t = None  # some gateways send -1: unknown
            if limit_t and not self._tokens_fixed:
                self._tokens.learn(limit_t)
            elif left_t is not None and left_t >= 0 and admitted and sent is not None and not self._tokens_fixed:
                # remaining after our call = limit - (our charges up to it + others'): a lower bound of the
                # limit, exact when we are alone; the highest seen is the best (others only lower it)
                estimate = left_t + self._ledger.charged_until(sent[0], now)
                if estimate > self._tokens.per_minute:
                    self._tokens.learn(estimate)
            if limit_r:
                self._requests.learn(limit_r)
            if left_t is not None and self._tokens.per_minute:
                self._tokens.level = min(self._tokens.level, float(left_t))
            if left_r is not None and self._requests.per_minute:
                self._requests.level = min(self._requests.level, float(left_r))

    def failed(self) -> None:
        """The call ended without an answer that carried headers (connection error, timeout)."""
        with self._lock:
            self._probing = False

    def succeeded(self) -> None:
        with self._lock:
            self._holds = 0
            for bucket in (self._tokens, self._requests):
                bucket.pace = min(1.0, bucket.pace + self.SPEED_UP)

    def hold(self, retry_after_s: float | None, refund_tokens: int = 0) -> float:
        """A 429: every call to this server waits `retry_after_s` (or a jittered backoff); the refused
        call's tokens go back to the budget (the provider did not count them); the pace slows. Returns
        the hold."""
        sent = getattr(self._last, "charge", None)
        with self._lock:
            self._holds += 1
            self._probing = False
            if sent is not None:
                self._ledger.remove(*sent)
            if retry_after_s is None or retry_after_s < 0:
                retry_after_s = random.uniform(0.5, 1.0) * min(60.0, self._backoff_base_s * 2 ** min(self._holds, 6))
            now = time.monotonic()
            self._blocked_until = max(self._blocked_until, now + retry_after_s)
            self._tokens.refill(now)
            self._requests.refill(now)
            if self._tokens.per_minute:
                self._tokens.level += refund_tokens
                self._tokens.pace = max(self.MIN_PACE, self._tokens.pace * self.SLOW_DOWN)
            if self._requests.per_minute:
                self._requests.level += 1
                self._requests.pace = max(self.MIN_PACE, self._requests.pace * self.SLOW_DOWN)
            return retry_after_s


_PACERS: dict[tuple[str, ...], QuotaPacer] = {}
_PACERS_LOCK = threading.Lock()


def pacer_for(key: tuple[str, ...], *, tokens_per_minute: int = 0, backoff_base_s: float = 1.0) -> QuotaPacer:
    """The process-wide pacer of one server and model (every job of the process shares its quota)."""
    with _PACERS_LOCK:
        pacer = _PACERS.get(key)
        if pacer is None:
            pacer = _PACERS[key] = QuotaPacer(tokens_per_minute, backoff_base_s=backoff_base_s)
        else:
            pacer.configure(tokens_per_minute=tokens_per_minute, backoff_base_s=backoff_base_s)
        return pacer
