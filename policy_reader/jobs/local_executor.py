"""The local executor: jobs run in threads of this process, on the file store (JOB_STORE=file).

- A dispatcher starts queued jobs, priority first and users in turn (jobs/queue.py), up to
  MAX_PARALLEL_JOBS at once per user. Each running job feeds its documents to one document pool
  shared by all jobs (MAX_PARALLEL_DOCUMENTS threads, jobs/pool.py), at most DOCS_PER_JOB at a time,
  largest first; the pool's free thread serves users in turn, so nobody's small job waits behind
  another user's big ones.
- Progress lives in memory and is flushed to job.json a few times a second at most, with the
  heartbeat, and at once when a document finishes (before its "Finished" event); job.json holds counters and in-flight documents only, so reading it costs the same for
  1 or 1,000 documents.
- A ticker thread flushes progress, writes heartbeats of queued jobs, notices cancel requests from
  other processes (the CLI's `cancel`) and lost leases, re-queues jobs whose owner died, and cleans
  old jobs.
- Every write of a running job is conditioned on its lease (jobs/transitions.py): a process that
  froze while `recover` took its job over finds out at its next write and stops without exporting,
  emailing or finishing a run that is no longer its own.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from typing import Any

from policy_reader.jobs import limits
from policy_reader.config import scrub
from policy_reader.errors import JobDamaged, JobNotFound, PolicyReaderError, StorageError
from policy_reader.jobs import lifecycle
from policy_reader.jobs import transitions as tr
from policy_reader.jobs.context import JobContext
from policy_reader.jobs.document import keep_result, run_document
from policy_reader.jobs.liveness import Owner, owner_alive
from policy_reader.jobs.pool import FairPool
from policy_reader.jobs.priority_queue import JobQueue
from policy_reader.jobs.retention import CLEANUP_EVERY_S, cleanup_old_jobs, job_states
from policy_reader.jobs.services import JobServices
from policy_reader.jobs.state import JobStatus
from policy_reader.jobs.tally import Tally

log = logging.getLogger("policy_reader.jobs")

FLUSH_INTERVAL_S = 0.5  # at most two progress writes per second per job
TICK_S = 0.25  # ticker period (cancel requests from other processes seen within ~0.5 s)
CANCEL_POLL_S = 0.5


class _Run:
    """In-memory state of one run of a job in this process; flushed to job.json by the ticker."""

    def __init__(self, ctx: JobContext, lease: tr.Lease, owner: str) -> None:
        self.ctx = ctx
        self.lease = lease
        self.owner = owner  # the user: the document pool serves users in turn
        self.stop_event = threading.Event()
        self.stop_reason: str | None = None  # "cancel" | "shutdown" | "budget" | "lost"
        self.lock = threading.Lock()
        self.flush_lock = threading.Lock()  # serialises writes of this run's progress (LocalExecutor._flush)
        self.tally = Tally()
        self.in_flight: dict[str, dict[str, Any]] = {}
        self.extra: dict[str, Any] = {}
        self.stage = "running"
        self.dirty = True
        self.last_flush = 0.0
        self.last_poll = 0.0
        self.unsaved: list[str] = []  # why processed documents could not be stored

    @property
    def job_id(self) -> str:
        return self.ctx.job_id

    def stop(self, reason: str) -> None:
        with self.lock:
            if self.stop_reason is None or reason in ("cancel", "lost"):
                self.stop_reason = reason
        self.stop_event.set()

    def should_stop(self) -> bool:
        return self.stop_event.is_set()

    def doc_started(self, doc: dict[str, Any]) -> None:
        with self.lock:
            self.in_flight[doc["doc_id"]] = {"doc_id": doc["doc_id"], "file": doc["file"], "stage": "reading",
                                             "variables_done": 0, "variables_total": len(self.ctx.variables)}
            self.dirty = True

    def doc_progress(self, doc_id: str, stage: str, done: int, total: int) -> None:
        with self.lock:
            entry = self.in_flight.get(doc_id)
            if entry is not None:
                entry.update(stage=stage, variables_done=done, variables_total=total)
                self.dirty = True

    def doc_ended(self, doc_id: str, result: Any | None) -> None:
        with self.lock:
            self.in_flight.pop(doc_id, None)
            if result is not None:
                self.tally.add(doc_id, result)
            self.dirty = True

    def fields(self) -> dict[str, Any]:
        with self.lock:
            self.dirty = False
            return {**self.tally.fields(), "in_flight": [dict(v) for v in self.in_flight.values()],
                    "stage": self.stage, **self.extra}


class LocalExecutor:
    """Runs jobs in this process's threads (see the module docstring)."""

    def __init__(self, services: JobServices, *, background: bool = True) -> None:
        self.services = services
        self.settings = services.settings
        self.store = services.store
        self.owner = Owner()
        self.background = background  # recover and clean up periodically (the app), or not (the CLI)
        self._queue = JobQueue()
        self._runs: dict[str, _Run] = {}
        self._queued: dict[str, float] = {}  # job_id -> last heartbeat (monotonic) while queued here
        self._starting: set[str] = set()  # taken from the queue, not yet running: still ours (never orphaned)
        self._guard = threading.RLock()
        self._threads: list[threading.Thread] = []
        self._pool: FairPool | None = None
        self._owners: dict[str, str] = {}  # job_id -> owner, while queued or running here
        self._running_by_owner: Counter[str] = Counter()
        self._started = False
        self._closed = False
        self._heartbeat_s = max(0.2, min(5.0, self.settings.heartbeat_stale_s / 4))
        self._last_recover = time.monotonic()
        self._last_cleanup = time.monotonic()

    @property
    def started(self) -> bool:
        return self._started

    # ------------------------------------------------------------------ Executor

    def start(self) -> None:
        with self._guard:
            if self._started or self._closed:
                return
            self._started = True
            self._pool = FairPool(self.settings.max_parallel_documents)
            for target, name in [(self._dispatch_loop, "pr-dispatch"), (self._ticker_loop, "pr-ticker")]:
                thread = threading.Thread(target=target, name=name, daemon=True)
                thread.start()
                self._threads.append(thread)

    def submit(self, job_id: str) -> None:
        _changed, state = tr.apply(self.store, job_id, tr.queue_local, self.owner.token())
        self._put(state)

    def _put(self, state: dict[str, Any]) -> None:
        job_id, owner = state["id"], str(state.get("owner") or "local")
        with self._guard:
            self._queued[job_id] = time.monotonic()
            self._owners[job_id] = owner
        self._queue.put(job_id, int(state.get("priority") or 0), owner)
        self.start()

    def cancel(self, job_id: str) -> None:
        with self._guard:
            run = self._runs.get(job_id)
        if run is not None:  # running here: the runner finalises it as cancelled
            self.services.safe_apply(job_id, tr.request_cancel)
            run.stop("cancel")
            self.services.events.emit(job_id, "job.cancel_requested")
            return
        self._queue.remove(job_id)
        with self._guard:
            self._queued.pop(job_id, None)
        changed, state = tr.apply(self.store, job_id, tr.cancel, self.is_live)  # another process notices in ~1 s
        if changed:
            ended = state["status"] == JobStatus.CANCELLED.value
            self.services.events.emit(job_id, "job.cancelled" if ended else "job.cancel_requested")
        self.services.job_ended()

    def recover(self) -> list[str]:
        """Resume jobs whose owning process died: stale heartbeat, or a dead pid on this host."""
        resumed = []
        for job_id, state in job_states(self.store):
            status = state.get("status")
            candidate = status in (JobStatus.RUNNING.value, JobStatus.INTERRUPTED.value) \
                or (status == JobStatus.PENDING.value and state.get("queued"))
            if candidate and not self.is_live(state) and self._take_over(job_id):
                resumed.append(job_id)
        return resumed

    def _take_over(self, job_id: str) -> bool:
        try:
            taken, state = tr.apply(self.store, job_id, tr.take_over, self.owner.token(),
                                    lambda s: not self.is_live(s))
        except JobNotFound:
            return False
        if not taken:
            return False
        previous = state.get("previous_status")
        if previous == JobStatus.RUNNING.value:
            self.services.events.emit(job_id, "job.interrupted", reason="its process stopped (no heartbeat)")
        self.services.events.emit(job_id, "job.resumed", previous=previous)
        self._put(state)
        return True

    def is_live(self, state: dict[str, Any]) -> bool:
        if self.owner.owns(state):  # ours: live exactly while it is queued or running here
            return not self._closed and self.is_busy_here(state["id"])
        return owner_alive(state, self.settings.heartbeat_stale_s)

    def is_busy_here(self, job_id: str) -> bool:
        with self._guard:
            return job_id in self._queued or job_id in self._starting or job_id in self._runs

    def queue_position(self, job_id: str) -> int | None:
        return self._queue.position(job_id)

    def queue_length(self) -> int:
        return len(self._queue)

    def running_here(self) -> int:
        with self._guard:
            return len(self._runs)

    def note_progress(self, job_id: str, changes: dict[str, Any]) -> bool:
        with self._guard:
            run = self._runs.get(job_id)
        if run is None:
            return False
        with run.lock:
            if "stage" in changes:
                run.stage = changes.pop("stage")
            run.extra.update(changes)
            run.dirty = True
        return True

    def shutdown(self, wait: bool = False) -> None:
        if self._closed:
            return
        if wait:
            while True:
                with self._guard:
                    if not self._runs and not self._queued:
                        break
                with self.services.ended:
                    self.services.ended.wait(0.2)
        with self._guard:
            runs = list(self._runs.values())
        for run in runs:
            run.stop("shutdown")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self._guard:
                if not self._runs:
                    break
            time.sleep(0.05)
        self._closed = True
        self.owner.retire()
        self._queue.close()
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2)

    # ------------------------------------------------------------------ threads

    def _has_room(self, owner: str) -> bool:
        with self._guard:
            return self._running_by_owner[owner] < self.settings.max_parallel_jobs

    def _dispatch_loop(self) -> None:
        while not self._closed:
            job_id = self._queue.get(timeout=0.5, may_start=self._has_room)
            if job_id is None:
                continue
            with self._guard:
                owner = self._owners.get(job_id, "local")
                self._starting.add(job_id)
                self._queued.pop(job_id, None)
                self._running_by_owner[owner] += 1
            threading.Thread(target=self._run_job, args=(job_id, owner), name=f"pr-job-{job_id[:8]}",
                             daemon=True).start()

    def _run_job(self, job_id: str, owner: str) -> None:
        try:
            self._execute(job_id)
        except Exception:  # noqa: BLE001 - a bug must not go unnoticed, nor hold the owner's slot
            log.exception("job %s crashed", job_id)
        finally:
            with self._guard:
                self._starting.discard(job_id)
                self._running_by_owner[owner] -= 1
                if job_id not in self._queued:
                    self._owners.pop(job_id, None)
            self._queue.wake()
            self.services.job_ended()

    def _ticker_loop(self) -> None:
        while not self._closed:
            time.sleep(TICK_S)
            try:
                self._tick()
            except Exception:  # noqa: BLE001
                log.exception("job ticker")

    def _tick(self) -> None:
        now = time.monotonic()
        with self._guard:
            runs = list(self._runs.values())
            queued = list(self._queued.items())
        for run in runs:
            if now - run.last_poll >= CANCEL_POLL_S:
                run.last_poll = now
                self._poll(run)
            if (run.dirty and now - run.last_flush >= FLUSH_INTERVAL_S) or now - run.last_flush >= self._heartbeat_s:
                self._flush(run)
        for job_id, beat in queued:
            if now - beat >= self._heartbeat_s:
                with self._guard:
                    if job_id in self._queued:
                        self._queued[job_id] = now
                self.services.safe_apply(job_id, tr.heartbeat_queued, self.owner.id)
        if self.background:
            if now - self._last_recover >= max(1.0, self.settings.heartbeat_stale_s / 2):
                self._last_recover = now
                self.recover()
            if now - self._last_cleanup >= CLEANUP_EVERY_S:
                self._last_cleanup = now
                cleanup_old_jobs(self.store, self.services.cache, self.settings.job_ttl_hours,
                                 busy=self.is_busy_here, live=self.is_live)

    def _poll(self, run: _Run) -> None:
        """Cancel requested by another process, job deleted, or our lease taken over?"""
        try:
            state = self.store.read_state(run.job_id)
        except JobNotFound:
            run.stop("cancel")  # deleted under us
            return
        except (OSError, JobDamaged):
            return
        if not run.lease.held_in(state):
            run.stop("lost")
        elif state.get("cancel_requested"):
            run.stop("cancel")

    def _flush(self, run: _Run) -> None:
        with run.flush_lock:  # one at a time: an older snapshot never overwrites a newer count
            run.last_flush = time.monotonic()
            changed, state = self.services.safe_apply(run.job_id, tr.progress, run.lease, run.fields(),
                                                      self.owner.token())
        if not changed and state and not run.lease.held_in(state):
            run.stop("lost")

    # ------------------------------------------------------------------ one run

    def _execute(self, job_id: str) -> None:
        try:
            claimed, state = tr.apply(self.store, job_id, tr.claim_local, self.owner.id, self.owner.token())
        except JobNotFound:
            return
        if not claimed or state["status"] != JobStatus.RUNNING.value:
            return  # cancelled while it waited, or taken by another process
        lease = tr.Lease(run=int(state.get("run") or 0), owner=self.owner.id)
        self.services.events.emit(job_id, "job.started")
        try:
            ctx = JobContext.load(self.store, job_id, self.settings, self.services.vault)
        except Exception as exc:  # noqa: BLE001 - a damaged manifest, a bad backend: the job ends, saying why
            message = exc.message if isinstance(exc, PolicyReaderError) else \
                f"The job could not start ({type(exc).__name__}: {exc})."
            lifecycle.finalize(self.services, job_id, lease.run,
                               lifecycle.Outcome(JobStatus.FAILED, scrub(message, self.settings)), by=self.owner.id)
            return
        run = _Run(ctx, lease, str(state.get("owner") or "local"))
        with self._guard:
            self._runs[job_id] = run
        try:
            self._run(run)
        finally:
            with self._guard:
                self._runs.pop(job_id, None)

    def _run(self, run: _Run) -> None:
        job_id = run.job_id
        try:
            for result in self.services.book.stored(job_id):  # checkpoints of earlier runs
                run.tally.add(result.doc_id, result)
            run.extra["run_done_base"] = run.tally.done
            self._flush(run)
            if (run.ctx.manifest.get("options") or {}).get("batch"):
                self._run_batch(run)
            else:
                self._run_documents(run)
            budget = limits.budget_message(self.settings, run.tally.done, len(run.ctx.documents))
            outcome = lifecycle.decide(len(run.ctx.documents), run.tally, run.stop_reason, budget, run.unsaved)
        except Exception as exc:  # noqa: BLE001
            if run.stop_reason == "shutdown" or self._closed:
                # The process is stopping under the job: leave it INTERRUPTED, to be resumed by the next
                # start, instead of calling a healthy job failed.
                log.warning("job %s interrupted by shutdown: %s", job_id, exc)
                outcome = lifecycle.Outcome(JobStatus.INTERRUPTED)
            else:
                log.exception("job %s failed", job_id)
                outcome = lifecycle.Outcome(
                    JobStatus.FAILED, f"The job stopped on an unexpected error: {scrub(str(exc), self.settings)}")
        if run.stop_reason == "lost":
            log.warning("job %s: another process took this run over; this one stops without writing", job_id)
            return
        if outcome.status == JobStatus.INTERRUPTED:
            changed, _ = self.services.safe_apply(job_id, tr.interrupt, run.lease, run.fields())
            if changed:
                self.services.events.emit(job_id, "job.interrupted", reason="the app shut down")
            return
        run.stage = "exporting"
        self._flush(run)
        lifecycle.finalize(self.services, job_id, run.lease.run, outcome, by=self.owner.id)

    def _run_documents(self, run: _Run) -> None:
        finished = set(run.tally.counted)
        slots = threading.Semaphore(run.ctx.settings.docs_per_job)
        futures: list[Future[None]] = []
        pool = self._pool
        assert pool is not None
        for doc in largest_first(run.ctx.documents):
            if doc["doc_id"] in finished:
                continue
            while not slots.acquire(timeout=0.2):
                if run.should_stop():
                    break
            else:
                if run.should_stop():
                    slots.release()
                    break
                try:
                    future = pool.submit(run.owner, run.job_id, self._run_document, run, doc)
                except RuntimeError:  # the pool is shut down: the process is stopping
                    slots.release()
                    run.stop("shutdown")
                    break
                future.add_done_callback(lambda _f: slots.release())
                futures.append(future)
                continue
            break
        wait_futures(futures)
        for future in futures:  # a task that raised lost its document's result: the log says why
            if future.exception() is not None:
                log.error("document task of job %s failed", run.job_id, exc_info=future.exception())

    def _run_batch(self, run: _Run) -> None:
        """Batch mode (jobs/batched.py): the documents' calls go through the provider's Batch API."""
        from policy_reader.jobs.batch_run import run_batch

        todo = [doc for doc in largest_first(run.ctx.documents) if doc["doc_id"] not in run.tally.counted]

        def progress(stage: str, done: int, total: int) -> None:
            with run.lock:
                run.stage = stage
                if stage.startswith("batch"):
                    run.extra["batch"] = {"status": stage.split(" ", 1)[-1], "answered": done, "total": total}
                run.dirty = True

        for doc, result in run_batch(self.store, run.ctx, todo, progress=progress, should_stop=run.should_stop,
                                     cancelled=lambda: run.stop_reason == "cancel"):
            if not self._holds_lease(run):
                return
            self._keep(run, doc, result)
        run.stage = "running"

    def _keep(self, run: _Run, doc: dict[str, Any], result: Any) -> None:
        """Store a finished document once and count it (a write the store refuses is counted as unsaved)."""
        def count(kept: Any) -> None:  # before the "Finished" event: the count never lags the log
            run.doc_ended(doc["doc_id"], kept.result if kept.written else None)
            self._flush(run)
        try:
            keep_result(self.store, self.services.events, run.job_id, doc, result, on_kept=count)
        except StorageError as exc:
            with run.lock:
                run.unsaved.append(exc.message)
            run.doc_ended(doc["doc_id"], None)
            return
        if limits.budget_exceeded(run.ctx.settings, run.tally.usage):
            run.stop("budget")

    def _holds_lease(self, run: _Run) -> bool:
        """A fresh look at job.json: a runner that lost its run (it froze; `recover` gave the job to
        another process) neither starts nor keeps another document."""
        try:
            held = run.lease.held_in(self.store.read_state(run.job_id))
        except (JobNotFound, JobDamaged, OSError):
            held = False
        if not held:
            run.stop("lost")
        return held

    def _run_document(self, run: _Run, doc: dict[str, Any]) -> None:
        if run.should_stop() or not self._holds_lease(run):
            return
        run.doc_started(doc)
        result = run_document(self.store, run.ctx, doc, should_stop=run.should_stop,
                              progress=lambda stage, done, total: run.doc_progress(doc["doc_id"], stage, done, total))
        if result is None or not self._holds_lease(run):
            run.doc_ended(doc["doc_id"], None)
            return
        self._keep(run, doc, result)


def largest_first(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Start the biggest documents first (longest-processing-time-first scheduling).

    A 300-page report started last would leave its chunks running alone at the end of the job;
    started first, its calls overlap with the small documents' calls. Results keep their doc ids,
    so the order of the exports does not change.
    """
    return sorted(documents, key=lambda doc: -int(doc.get("size") or 0))
