"""The document pool: MAX_PARALLEL_DOCUMENTS threads that take the next document fairly.

A plain thread pool is first come, first served: a user's 100-document job fills its queue and
another user's single document waits behind all of it. Here the free thread takes a document from
the user served least recently (round-robin), and within one user from their jobs in turn, so a small
job's document waits at most for one document of each busy job to finish.
"""
from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


class FairPool:
    def __init__(self, workers: int, name: str = "pr-doc") -> None:
        self._tasks: dict[str, dict[str, deque[tuple[Future[Any], Callable[[], Any]]]]] = {}
        self._served: dict[str, int] = {}  # owner -> when they last got a thread
        self._job_served: dict[tuple[str, str], int] = {}
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, owner: str, job_id: str, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Queue `fn(*args)` for `owner`'s job; RuntimeError once the pool is shut down."""
        future: Future[Any] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the document pool is shut down")
            self._tasks.setdefault(owner, {}).setdefault(job_id, deque()).append((future, lambda: fn(*args)))
            self._cond.notify()
        return future

    def _next(self) -> tuple[Future[Any], Callable[[], Any]] | None:
        """The next task, round-robin by owner, then by job of that owner (call under the lock)."""
        if not self._tasks:
            return None
        owner = min(self._tasks, key=lambda o: self._served.get(o, -1))
        jobs = self._tasks[owner]
        job_id = min(jobs, key=lambda j: self._job_served.get((owner, j), -1))
        task = jobs[job_id].popleft()
        turn = next(self._counter)
        self._served[owner] = self._job_served[(owner, job_id)] = turn
        if not jobs[job_id]:
            del jobs[job_id]
            self._job_served.pop((owner, job_id), None)
        if not jobs:
            del self._tasks[owner]
        return task

    def _work(self) -> None:
        while True:
            with self._cond:
                task = self._next()
                while task is None:
                    if self._closed:
                        return
                    self._cond.wait()
                    task = self._next()
            future, call = task
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call())
            except BaseException as exc:  # noqa: BLE001 - delivered to whoever waits on the future
                future.set_exception(exc)

    def shutdown(self, cancel_futures: bool = True) -> None:
        with self._cond:
            self._closed = True
            if cancel_futures:
                for jobs in self._tasks.values():
                    for queue in jobs.values():
                        for future, _call in queue:
                            future.cancel()
                self._tasks.clear()
            self._cond.notify_all()
