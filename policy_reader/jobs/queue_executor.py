"""The queue executor (JOB_STORE=azure): documents are messages on Azure Queue Storage.

Every process that runs jobs in azure mode takes work through a `QueueExecutor`: the Streamlit app,
`python -m policy_reader extract`, and the headless `python -m policy_reader worker` (a WebJob or a
container beside the Web App). Why this shape:

- One message per document, so N processes share one job; a dead process only loses the document it
  held, whose message reappears when its visibility timeout runs out (the worker renews that timeout
  from a background thread while it works: the renewal *is* its heartbeat).
- The message is deleted only after the document's result blob exists; the result is created with
  If-None-Match: * and a redelivered message whose result exists is only counted, never re-run, so a
  document is sent to the model once and counted once (`counted` in job.json, ETag-guarded).
- Each owner's documents sit in a queue of their own and every consumer takes turns between them
  (jobs/azure_queue.py), so one user's small job never waits behind another's big ones.
- A message delivered more than QUEUE_MAX_ATTEMPTS times goes to `<queue>-poison`; its document is
  recorded as failed with the reason, and the job still completes.
- Whoever counts the last document finalises the run (jobs/lifecycle.py: exports, email, webhook,
  once per run even when several instances finish at the same moment). A finaliser that dies is
  replaced by the periodic sweep after lifecycle.FINALIZE_STALE_S.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from policy_reader.config import scrub
from policy_reader.errors import JobNotFound, PolicyReaderError
from policy_reader.models import DocumentResult
from policy_reader.jobs import lifecycle
from policy_reader.jobs import transitions as tr
from policy_reader.jobs.azure_clients import storage_error
from policy_reader.jobs.azure_queue import Delivery
from policy_reader.jobs.azure_store import AzureJobStore
from policy_reader.jobs.context import JobContext
from policy_reader.jobs.document import keep_result, run_document
from policy_reader.jobs.retention import CLEANUP_EVERY_S, cleanup_old_jobs, job_states
from policy_reader.jobs.services import JobServices
from policy_reader.jobs.state import ACTIVE, TERMINAL, JobStatus
from policy_reader.jobs.store import WorkItem
from policy_reader.jobs.tally import Tally

log = logging.getLogger("policy_reader.jobs.worker")

IDLE_SLEEP_MAX_S = 1.0  # longest pause between empty receives (queue transactions cost money)
PROGRESS_FLUSH_S = 2.0  # in-flight progress written to job.json at most this often per document
STOP_POLL_S = 1.0  # cancel / delete noticed within about this long
SWEEP_S = 30.0  # finalise jobs whose finaliser died; honour cancel requests nobody finalised
ERROR_RETRY_DELAY_S = 1  # a message whose processing raised becomes visible again after this
CONTEXTS_KEPT = 32


@dataclass
class _Task:
    """One document in progress in this process."""

    delivery: Delivery
    stop: threading.Event = field(default_factory=threading.Event)
    progress: dict[str, Any] = field(default_factory=dict)
    dirty: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def lease(self) -> tr.Lease:
        return tr.Lease(run=self.delivery.run)


class _Stopped(Exception):
    """The document stopped between chunks (cancel, delete, shutdown)."""


class QueueExecutor:
    """Consumes the Azure work queue; `services.store` must be an AzureJobStore."""

    def __init__(self, services: JobServices, *, threads: int | None = None, cleanup: bool = False) -> None:
        store = services.store
        if not isinstance(store, AzureJobStore):
            raise TypeError("QueueExecutor needs an AzureJobStore (JOB_STORE=azure)")
        self.services = services
        self.settings = services.settings
        self.store: AzureJobStore = store
        self.queue = store.work_queue()
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.visibility = int(self.settings.queue_visibility_timeout_s)
        self.thread_count = threads or self.settings.max_parallel_documents
        self.cleanup = cleanup
        self.processed = 0  # documents this process ran through the pipeline
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._contexts: OrderedDict[str, JobContext] = OrderedDict()
        self._guard = threading.Lock()
        self._started = False

    # ------------------------------------------------------------------ Executor

    def start(self) -> None:
        with self._guard:
            if self._started or self._stop.is_set():
                return
            self._started = True
        targets = [(self._loop, f"pr-queue-{i}") for i in range(self.thread_count)]
        for target, name in targets + [(self._sweep_loop, "pr-queue-sweep")]:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def submit(self, job_id: str) -> None:
        """Queue the job's documents, and take work in this process too (every azure-mode process does)."""
        self.queue_run(job_id)
        self.start()

    def queue_run(self, job_id: str) -> None:
        """Queue one message per document that has no result yet (a new run of the job), without taking
        work here. A job already pending or running is left alone: its messages are on the queue."""
        manifest = self.store.read_manifest(job_id)
        finished = set(self.store.list_results(job_id))
        counted = set(self.store.read_state(job_id).get("counted") or [])
        late = {d: DocumentResult.model_validate(r) for d in finished - counted
                if (r := self.store.read_result(job_id, d)) is not None}
        queued, state = tr.apply(self.store, job_id, tr.queue_shared, late)
        if not queued:
            return
        run = int(state["run"])
        todo = [d["doc_id"] for d in manifest["documents"] if d["doc_id"] not in finished]
        owner = state.get("owner")
        try:
            for doc_id in todo:
                self.queue.send(WorkItem(job_id, doc_id), run, owner=owner)
        except Exception as exc:  # a run with documents missing from the queue would wait for them forever
            error = exc if isinstance(exc, PolicyReaderError) else storage_error(exc, self.settings,
                                                                                   "queueing the job's documents")
            self.services.safe_apply(job_id, tr.interrupt, tr.Lease(run=run), {
                "error": f"{scrub(error.message, self.settings)} Resume the job to queue its documents again."})
            self.services.events.emit(job_id, "job.queue_failed", run=run)
            raise error from None
        self.services.events.emit(job_id, "job.queued", documents=len(todo), run=run)
        if not todo:
            self._finalize_if_done(state)

    def cancel(self, job_id: str) -> None:
        """A job nobody started is cancelled at once; a running one is finalised as cancelled (exports,
        email, webhook), and its workers stop within about a second."""
        changed, state = tr.apply(self.store, job_id, tr.cancel, lambda s: True)
        if not changed:
            return
        if state["status"] == JobStatus.CANCELLED.value:
            self.services.events.emit(job_id, "job.cancelled")
            self.services.job_ended()
            return
        self.services.events.emit(job_id, "job.cancel_requested")
        self._finalize(job_id, int(state.get("run") or 0), lifecycle.Outcome(JobStatus.CANCELLED))

    def recover(self) -> list[str]:
        """The queue redelivers a dead worker's document by itself; what is left is finishing runs
        whose finaliser died, and cancel requests nobody finalised."""
        return self.sweep()

    def is_live(self, state: dict[str, Any]) -> bool:
        """Its messages are on the queue (the queue redelivers what a dead worker held)."""
        return state.get("status") in ACTIVE and bool(state.get("run"))

    def is_busy_here(self, job_id: str) -> bool:
        return False  # documents, not jobs, run here; cleanup never deletes an active job anyway

    def queue_position(self, job_id: str) -> int | None:
        return None

    def queue_length(self) -> int:
        return self.queue.length()

    def running_here(self) -> int:
        return 0

    def note_progress(self, job_id: str, changes: dict[str, Any]) -> bool:
        return False

    def shutdown(self, wait: bool = False, timeout: float = 10.0) -> None:
        """Stop taking work; documents in progress stop between chunks and their messages are released."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def started(self) -> bool:
        return self._started

    @property
    def running(self) -> bool:
        return self._started and not self._stop.is_set()

    # ------------------------------------------------------------------ consuming

    def _loop(self) -> None:
        idle = 0.1
        while not self._stop.is_set():
            try:
                handled = self.run_once()
            except Exception:  # noqa: BLE001 - a storage hiccup must not kill the consumer
                log.exception("queue worker %s", self.worker_id)
                handled = False
            if handled:
                idle = 0.1
            else:
                self._stop.wait(idle)
                idle = min(IDLE_SLEEP_MAX_S, idle * 2)

    def run_once(self) -> bool:
        """Take one message (if any) and handle it. Returns False when the queue was empty."""
        delivery = self.queue.receive(self.visibility)
        if delivery is None:
            return False
        outcome = self.handle(delivery)
        log.info("worker %s: %s/%s -> %s", self.worker_id, delivery.item.job_id, delivery.item.doc_id, outcome)
        return True

    def handle(self, delivery: Delivery) -> str:
        """Run one document message to its end. Returns what happened (for logs and tests)."""
        job_id, doc_id = delivery.item.job_id, delivery.item.doc_id
        try:
            state = self.store.read_state(job_id)
        except JobNotFound:
            self.queue.delete(delivery)
            return "job gone"
        if int(state.get("run") or 0) != delivery.run:
            self.queue.delete(delivery)
            return "stale run"
        if state["status"] in TERMINAL:
            self.queue.delete(delivery)
            return "job finished"
        if state.get("cancel_requested"):
            self._finalize(job_id, delivery.run, lifecycle.Outcome(JobStatus.CANCELLED))
            self.queue.delete(delivery)
            return "cancelled"
        existing = self.store.read_result(job_id, doc_id)
        if existing is not None:  # a redelivery: count it (idempotent), never run it again
            self._after_result(job_id, doc_id, DocumentResult.model_validate(existing))
            self.queue.delete(delivery)
            return "already done"
        if delivery.dequeue_count > self.settings.queue_max_attempts:
            return self._poison(delivery, state)
        return self._process(delivery)

    def _poison(self, delivery: Delivery, state: dict[str, Any]) -> str:
        job_id, doc_id = delivery.item.job_id, delivery.item.doc_id
        attempts = delivery.dequeue_count - 1
        last = (state.get("doc_errors") or {}).get(doc_id) or "its worker stopped while processing it"
        reason = f"failed {attempts} times ({last})"
        try:
            doc = self._context(job_id).docs.get(doc_id) or {"doc_id": doc_id, "file": doc_id}
        except Exception:  # noqa: BLE001 - the manifest itself may be what is broken
            doc = {"doc_id": doc_id, "file": doc_id}
        result = DocumentResult(
            doc_id=doc_id, file=doc["file"], status="failed", error_code="poison",
            error=f"This document could not be processed: it {reason}. It was set aside; the other "
                  f"documents are not affected.")
        kept = keep_result(self.store, self.services.events, job_id, doc, result)
        self.services.events.emit(job_id, "doc.poisoned", doc_id=doc_id, file=doc["file"], attempts=attempts)
        self._after_result(job_id, doc_id, kept.result)
        self.queue.to_poison(delivery, reason)
        return "poison"

    def _process(self, delivery: Delivery) -> str:
        job_id, doc_id = delivery.item.job_id, delivery.item.doc_id
        task = _Task(delivery)
        beat = threading.Thread(target=self._heartbeat, args=(task,), name="pr-queue-beat", daemon=True)
        try:
            ctx = self._context(job_id)
            doc = ctx.docs.get(doc_id)
            if doc is None:
                raise JobNotFound(f"Document {doc_id} is not in job {job_id}.")
            entry = {"doc_id": doc_id, "file": doc["file"], "stage": "reading", "variables_done": 0,
                     "variables_total": 0, "worker": self.worker_id, "attempt": delivery.dequeue_count}
            started, _ = self.services.safe_apply(job_id, tr.doc_started, task.lease, entry)
            if not started:
                self.queue.delete(delivery)
                return "job not active"
            beat.start()
            result = run_document(self.store, ctx, doc, progress=lambda *p: self._note(task, *p),
                                  should_stop=task.stop.is_set)
            if result is None:
                raise _Stopped()
        except _Stopped:
            task.stop.set()
            return self._stopped(delivery)
        except Exception as exc:  # noqa: BLE001 - storage error, bad extractor config...: retry, then poison
            task.stop.set()
            message = scrub(exc.message if isinstance(exc, PolicyReaderError) else f"{type(exc).__name__}: {exc}",
                            self.settings)
            log.warning("document %s/%s failed on %s: %s", job_id, doc_id, self.worker_id, message)
            self.services.safe_apply(job_id, tr.doc_error, doc_id, message[:300])
            self.queue.release(delivery, ERROR_RETRY_DELAY_S)
            return "error (will retry)"
        finally:
            task.stop.set()
            if beat.is_alive():
                beat.join(timeout=5)
        kept = keep_result(self.store, self.services.events, job_id, doc, result, worker=self.worker_id)
        if kept.written:
            self.processed += 1
        self._after_result(job_id, doc_id, kept.result)
        self.queue.delete(delivery)  # only now: the result is stored
        return kept.result.status if kept.written else "duplicate result discarded"

    @staticmethod
    def _note(task: _Task, stage: str, done: int, total: int) -> None:
        with task.lock:
            task.progress = {"stage": stage, "variables_done": done, "variables_total": total}
            task.dirty = True

    def _stopped(self, delivery: Delivery) -> str:
        """Stopped mid-document: gone for good if the job ended, else handed back to the queue at once."""
        item = delivery.item
        try:
            state = self.store.read_state(item.job_id)
        except JobNotFound:
            state = None
        self.services.safe_apply(item.job_id, tr.drop_in_flight, item.doc_id)
        if state is None or not tr.Lease(delivery.run).held_in(state) or state.get("cancel_requested"):
            self.queue.delete(delivery)
            return "stopped (job ended)"
        self.queue.release(delivery, 0)
        return "stopped (released)"

    def _heartbeat(self, task: _Task) -> None:
        """Renew the message's invisibility, flush progress, and notice cancel / delete / shutdown."""
        renew_every = max(0.3, self.visibility / 3)
        last_renew = last_poll = last_flush = time.monotonic()
        item = task.delivery.item
        while not task.stop.wait(0.1):
            now = time.monotonic()
            if self._stop.is_set():
                task.stop.set()
                return
            if now - last_renew >= renew_every:
                last_renew = now
                if not self.queue.renew(task.delivery, self.visibility):
                    log.warning("lost the message of %s/%s (visibility expired)", item.job_id, item.doc_id)
            if now - last_flush >= PROGRESS_FLUSH_S and task.dirty:
                last_flush = now
                with task.lock:
                    progress, task.dirty = dict(task.progress), False
                self.services.safe_apply(item.job_id, tr.doc_progress, item.doc_id, progress)
            if now - last_poll >= STOP_POLL_S:
                last_poll = now
                try:
                    state = self.store.read_state(item.job_id)
                except JobNotFound:
                    task.stop.set()
                    return
                except Exception:  # noqa: BLE001
                    continue
                if not task.lease.held_in(state) or state.get("cancel_requested"):
                    task.stop.set()
                    return

    # ------------------------------------------------------------------ counting and finishing

    def _after_result(self, job_id: str, doc_id: str, result: DocumentResult) -> None:
        """Count the document once (ETag-guarded), then finalise if it was the last, or stop on budget."""
        changed, state = self.services.safe_apply(job_id, tr.count_result, doc_id, result)
        if not state or state["status"] in TERMINAL:
            return
        if self._finalize_if_done(state):
            return
        total = int(state.get("documents_total", 0))
        budget = lifecycle.budget_outcome(self.services, Tally.from_state(state), total)
        if budget is not None:
            self._finalize(job_id, int(state.get("run") or 0), budget)

    def _finalize_if_done(self, state: dict[str, Any]) -> bool:
        total = int(state.get("documents_total", 0))
        tally = Tally.from_state(state)
        if len(tally.counted) < total or state["status"] in TERMINAL:
            return False
        self._finalize(state["id"], int(state.get("run") or 0), lifecycle.decide(total, tally, None))
        return True

    def _finalize(self, job_id: str, run: int, outcome: lifecycle.Outcome) -> bool:
        done = lifecycle.finalize(self.services, job_id, run, outcome, by=f"{self.worker_id}/{uuid.uuid4().hex[:8]}")
        if done:
            with self._guard:
                self._contexts.pop(job_id, None)
        return done

    def finalize(self, job_id: str, status: str) -> bool:
        """Finalise the job's current run with `status` (for operators and tests)."""
        state = self.store.read_state(job_id)
        return self._finalize(job_id, int(state.get("run") or 0), lifecycle.Outcome(JobStatus(status)))

    def sweep(self) -> list[str]:
        """Finish what nobody will: all documents counted but no live finaliser, or a cancel request
        whose finaliser died. Returns the job ids finalised here."""
        finished = []
        for job_id, state in job_states(self.store):
            if state.get("status") not in ACTIVE or not state.get("run"):
                continue
            if tr.finalizer_alive(state.get("finalizing") or {}, lifecycle.FINALIZE_STALE_S):
                continue
            run = int(state["run"])
            if state.get("cancel_requested"):
                if self._finalize(job_id, run, lifecycle.Outcome(JobStatus.CANCELLED)):
                    finished.append(job_id)
            elif self._finalize_if_done(state):
                finished.append(job_id)
        return finished

    def _sweep_loop(self) -> None:
        last_cleanup = time.monotonic()
        while not self._stop.wait(SWEEP_S):
            try:
                self.sweep()
                if self.cleanup and time.monotonic() - last_cleanup >= CLEANUP_EVERY_S:
                    last_cleanup = time.monotonic()
                    cleanup_old_jobs(self.store, self.services.cache, self.settings.job_ttl_hours,
                                     busy=lambda _j: False, live=self.is_live)
            except Exception:  # noqa: BLE001
                log.exception("queue sweep")

    def _context(self, job_id: str) -> JobContext:
        with self._guard:
            ctx = self._contexts.get(job_id)
            if ctx is not None:
                self._contexts.move_to_end(job_id)
                return ctx
        ctx = JobContext.load(self.store, job_id, self.settings, self.services.vault)
        with self._guard:
            self._contexts[job_id] = ctx
            while len(self._contexts) > CONTEXTS_KEPT:
                self._contexts.popitem(last=False)
        return ctx
