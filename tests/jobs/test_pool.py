"""FairPool: the document pool serves users in turn, then their jobs in turn."""
from __future__ import annotations

import threading

import pytest

from policy_reader.jobs.pool import FairPool


def test_a_small_job_waits_for_one_document_not_for_a_big_job() -> None:
    pool = FairPool(workers=1)
    gate, started = threading.Event(), threading.Event()
    order: list[str] = []
    try:
        first = pool.submit("alice", "big", lambda: (started.set(), gate.wait()))  # holds the only thread
        assert started.wait(5)
        futures = [pool.submit("alice", "big", order.append, f"big-{i}") for i in range(10)]
        futures += [pool.submit("alice", "big2", order.append, f"big2-{i}") for i in range(3)]
        futures.append(pool.submit("bob", "small", order.append, "small-0"))
        gate.set()
        for future in [first, *futures]:
            future.result(timeout=10)
    finally:
        pool.shutdown()
    assert order[0] == "small-0"  # bob had not been served yet: his document goes first
    jobs = [name.rsplit("-", 1)[0] for name in order[1:7]]
    assert jobs in (["big", "big2"] * 3, ["big2", "big"] * 3)  # alice's two jobs take turns


def test_errors_reach_the_future_and_shutdown_cancels_what_waits() -> None:
    pool = FairPool(workers=1)
    gate, started = threading.Event(), threading.Event()
    running = pool.submit("u", "j", lambda: (started.set(), gate.wait()))
    assert started.wait(5)
    failing = pool.submit("u", "j", lambda: 1 / 0)
    waiting = pool.submit("u", "j", lambda: "never")
    pool.shutdown(cancel_futures=True)
    gate.set()
    running.result(timeout=5)
    assert failing.cancelled() and waiting.cancelled()
    with pytest.raises(RuntimeError):
        pool.submit("u", "j", lambda: None)
    other = FairPool(workers=1)
    with pytest.raises(ZeroDivisionError):
        other.submit("u", "j", lambda: 1 / 0).result(timeout=5)
    other.shutdown()
