"""The local job queue: which waiting job a free runner takes next (priority, then first come)."""
from __future__ import annotations

import heapq
import itertools
import threading


class JobQueue:
    """Jobs waiting for a free slot: higher priority first, then first come, first served."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, str]] = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._closed = False

    def put(self, job_id: str, priority: int = 0) -> None:
        with self._cond:
            if any(item[2] == job_id for item in self._heap):
                return
            heapq.heappush(self._heap, (-priority, next(self._counter), job_id))
            self._cond.notify()

    def get(self, timeout: float | None = None) -> str | None:
        """Block until a job is waiting (None on timeout or when closed)."""
        with self._cond:
            if not self._heap and not self._closed:
                self._cond.wait(timeout)
            if self._closed or not self._heap:
                return None
            return heapq.heappop(self._heap)[2]

    def remove(self, job_id: str) -> bool:
        with self._cond:
            before = len(self._heap)
            self._heap = [item for item in self._heap if item[2] != job_id]
            heapq.heapify(self._heap)
            return len(self._heap) != before

    def position(self, job_id: str) -> int | None:
        """1-based place in the queue, or None when not queued."""
        with self._cond:
            ordered = sorted(self._heap)
        for index, item in enumerate(ordered):
            if item[2] == job_id:
                return index + 1
        return None

    def __len__(self) -> int:
        with self._cond:
            return len(self._heap)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
