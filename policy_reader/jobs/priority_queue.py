"""The local job queue: which waiting job starts next, fairly between users.

Higher priority first. Among jobs of equal priority the users take turns: the user served least
recently goes first, and one user's own jobs start in the order they came. So a user's one-document
job never waits for another user's two 100-document jobs to finish. `get()` can also skip users who
may not start another job now (their MAX_PARALLEL_JOBS are running), without losing their place.
"""
from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class _Waiting:
    priority: int
    seq: int
    owner: str
    job_id: str


class JobQueue:
    def __init__(self) -> None:
        self._items: list[_Waiting] = []
        self._counter = itertools.count()
        self._served: dict[str, int] = {}  # owner -> when they last got a job (counter value)
        self._cond = threading.Condition()
        self._closed = False

    def put(self, job_id: str, priority: int = 0, owner: str = "local") -> None:
        with self._cond:
            if any(item.job_id == job_id for item in self._items):
                return
            self._items.append(_Waiting(priority, next(self._counter), owner, job_id))
            self._cond.notify_all()

    def get(self, timeout: float | None = None, may_start: Callable[[str], bool] | None = None) -> str | None:
        """The next job whose owner may start one (None on timeout or when closed)."""
        with self._cond:
            while True:
                if self._closed:
                    return None
                for item in self._ordered():
                    if may_start is None or may_start(item.owner):
                        self._items.remove(item)
                        self._served[item.owner] = next(self._counter)
                        return item.job_id
                if not self._cond.wait(timeout):
                    return None

    def wake(self) -> None:
        """Someone's capacity changed (a job ended): let a waiting `get()` look again."""
        with self._cond:
            self._cond.notify_all()

    def remove(self, job_id: str) -> bool:
        with self._cond:
            before = len(self._items)
            self._items = [item for item in self._items if item.job_id != job_id]
            return len(self._items) != before

    def position(self, job_id: str) -> int | None:
        """1-based place in the order jobs would start, or None when not queued."""
        with self._cond:
            ordered = self._ordered()
        for index, item in enumerate(ordered):
            if item.job_id == job_id:
                return index + 1
        return None

    def _ordered(self) -> list[_Waiting]:
        """Priority groups, highest first; inside one, users in turn (least recently served first)."""
        out: list[_Waiting] = []
        for priority in sorted({item.priority for item in self._items}, reverse=True):
            group = sorted((i for i in self._items if i.priority == priority), key=lambda i: i.seq)
            queues: dict[str, list[_Waiting]] = {}
            for item in group:
                queues.setdefault(item.owner, []).append(item)
            owners = sorted(queues, key=lambda o: (self._served.get(o, -1), queues[o][0].seq))
            for round_items in itertools.zip_longest(*(queues[o] for o in owners)):
                out.extend(item for item in round_items if item is not None)
        return out

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
