"""JobQueue: which waiting job a free runner takes next."""
from __future__ import annotations

import threading
import time

from policy_reader.jobs.priority_queue import JobQueue


def test_priority_first_then_first_come() -> None:
    queue = JobQueue()
    for job_id, priority in (("a", 0), ("b", 0), ("urgent", 5), ("c", 0), ("later", -1)):
        queue.put(job_id, priority)
    queue.put("a", 9)  # already waiting: neither duplicated nor re-prioritised
    assert len(queue) == 5
    assert [queue.position(j) for j in ("urgent", "a", "b", "c", "later")] == [1, 2, 3, 4, 5]
    assert [queue.get(timeout=0) for _ in range(5)] == ["urgent", "a", "b", "c", "later"]
    assert queue.get(timeout=0) is None and queue.position("a") is None


def test_remove_and_positions() -> None:
    queue = JobQueue()
    for job_id in ("a", "b", "c"):
        queue.put(job_id)
    assert queue.remove("b") is True and queue.remove("b") is False
    assert queue.position("c") == 2
    assert [queue.get(timeout=0), queue.get(timeout=0)] == ["a", "c"]


def test_get_blocks_until_put_and_close_wakes_waiters() -> None:
    queue = JobQueue()
    got: list[str | None] = []
    waiter = threading.Thread(target=lambda: got.append(queue.get(timeout=5)))
    waiter.start()
    time.sleep(0.05)
    queue.put("x")
    waiter.join(timeout=5)
    assert got == ["x"]

    closed: list[str | None] = []
    sleeper = threading.Thread(target=lambda: closed.append(queue.get(timeout=30)))
    sleeper.start()
    time.sleep(0.05)
    queue.close()
    sleeper.join(timeout=5)
    assert closed == [None] and not sleeper.is_alive()
    queue.put("y")
    assert queue.get(timeout=0) is None  # a closed queue hands out nothing


def test_users_take_turns_within_a_priority() -> None:
    queue = JobQueue()
    for job_id in ("a1", "a2", "a3"):
        queue.put(job_id, owner="alice")
    queue.put("b1", owner="bob")
    queue.put("c1", owner="carol")
    queue.put("urgent", priority=5, owner="alice")
    assert [queue.position(j) for j in ("urgent", "a1", "b1", "c1", "a2", "a3")] == [1, 2, 3, 4, 5, 6]
    assert queue.get(timeout=0) == "urgent"
    # alice was just served: bob and carol go before her next job
    assert [queue.get(timeout=0) for _ in range(5)] == ["b1", "c1", "a1", "a2", "a3"]


def test_a_user_at_their_limit_is_skipped_without_losing_their_place() -> None:
    queue = JobQueue()
    queue.put("a1", owner="alice")
    queue.put("a2", owner="alice")
    queue.put("b1", owner="bob")
    busy = {"alice"}
    assert queue.get(timeout=0, may_start=lambda owner: owner not in busy) == "b1"
    assert queue.get(timeout=0.05, may_start=lambda owner: owner not in busy) is None
    busy.clear()
    assert queue.get(timeout=0, may_start=lambda owner: owner not in busy) == "a1"
