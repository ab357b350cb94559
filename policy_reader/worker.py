"""The queue worker for JOB_STORE=azure: takes one document message at a time and runs it.

Every process that runs the job manager in azure mode takes work through a `QueueWorker`: the
Streamlit app, `python -m policy_reader extract`, and the headless `python -m policy_reader worker`
(a WebJob or a container beside the Web App). Why this shape:

- One message per document, so N processes share one job; a dead process only loses the document it
  held, whose message reappears when its visibility timeout runs out (the worker renews that timeout
  from a background thread while it works: the renewal *is* its heartbeat).
- The message is deleted only after the document's result blob exists; the result is created with
  If-None-Match: * and a redelivered message whose result exists is only counted, never re-run, so a
  document is sent to the model once and counted once (`counted` in job.json, ETag-guarded).
- A message delivered more than QUEUE_MAX_ATTEMPTS times goes to `<queue>-poison`; its document is
  recorded as failed with the reason, and the job still completes.
- Whoever counts the last document finalises the job (exports, email, webhook) after claiming the
  finalisation in job.json with an ETag-conditioned write, so the email goes out once per run even
  when several instances finish at the same moment. A finaliser that dies is replaced after
  FINALIZE_STALE_S by the periodic sweep.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .azure_store import AzureJobStore, Delivery
from .config import Settings, load_settings, scrub
from .errors import JobNotFound, PolicyReaderError
from .jobstore import WorkItem
from .limits import budget_exceeded, budget_message
from .models import DocumentResult, Usage, Variable

log = logging.getLogger("policy_reader.worker")

IDLE_SLEEP_MAX_S = 1.0  # longest pause between empty receives (queue transactions cost money)
PROGRESS_FLUSH_S = 2.0  # in-flight progress written to job.json at most this often per document
STOP_POLL_S = 1.0  # cancel / delete noticed within about this long
SWEEP_S = 30.0  # finalise jobs whose finaliser died; honour cancel requests nobody finalised
FINALIZE_STALE_S = 300.0  # a finalisation claim older than this (never refreshed) is taken over
CLEANUP_EVERY_S = 3600.0
ERROR_RETRY_DELAY_S = 1  # a message whose processing raised becomes visible again after this
TERMINAL = ("completed", "failed", "cancelled")
ACTIVE = ("pending", "running")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime | None = None) -> str:
    return (moment or _now()).isoformat(timespec="milliseconds")


def _age_s(value: str | None) -> float:
    try:
        return (_now() - datetime.fromisoformat(value)).total_seconds() if value else float("inf")
    except ValueError:
        return float("inf")


@dataclass
class _JobContext:
    """What a worker needs to run documents of one job; built once per job per process."""

    manifest: dict[str, Any]
    docs: dict[str, dict[str, Any]]
    variables: list[Variable]
    settings: Settings
    extractor: Any = None
    cache: Any = None


@dataclass
class _Task:
    """One document in progress in this process."""

    delivery: Delivery
    stop: threading.Event = field(default_factory=threading.Event)
    progress: dict[str, Any] = field(default_factory=dict)
    dirty: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class QueueWorker:
    """Consumes the Azure work queue for a JobManager whose store is an AzureJobStore."""

    def __init__(self, manager: Any, *, threads: int | None = None, cleanup: bool = False) -> None:
        self.manager = manager
        self.settings: Settings = manager.settings
        store = manager.store
        if not isinstance(store, AzureJobStore):
            raise TypeError("QueueWorker needs an AzureJobStore (JOB_STORE=azure)")
        self.store: AzureJobStore = store
        self.queue = store.work_queue()
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.visibility = int(self.settings.queue_visibility_timeout_s)
        self.thread_count = threads or self.settings.max_parallel_documents
        self.cleanup = cleanup
        self.processed = 0  # documents this process ran through the pipeline
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._contexts: OrderedDict[str, _JobContext] = OrderedDict()
        self._guard = threading.Lock()
        self._started = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the consumer threads and the sweeper (idempotent)."""
        with self._guard:
            if self._started or self._stop.is_set():
                return
            self._started = True
        for index in range(self.thread_count):
            thread = threading.Thread(target=self._loop, name=f"pr-queue-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        sweeper = threading.Thread(target=self._sweep_loop, name="pr-queue-sweep", daemon=True)
        sweeper.start()
        self._threads.append(sweeper)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking work; documents in progress stop between chunks and their messages are released."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def running(self) -> bool:
        return self._started and not self._stop.is_set()

    def _loop(self) -> None:
        idle = 0.1
        while not self._stop.is_set():
            try:
                handled = self.run_once()
            except Exception:  # a storage hiccup must not kill the consumer
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

    # ------------------------------------------------------------------ submitting work

    def enqueue(self, job_id: str) -> None:
        """Queue one message per document that has no result yet (a new run of the job).

        A job already pending or running is left alone: its messages are on the queue."""
        manifest = self.store.read_manifest(job_id)
        finished = set(self.store.list_results(job_id))
        counted_before = set(self.store.read_state(job_id).get("counted") or [])
        late = {d: DocumentResult.model_validate(r) for d in finished - counted_before
                if (r := self.store.read_result(job_id, d)) is not None}
        info: dict[str, Any] = {}

        def change(state: dict[str, Any]) -> Any:
            info.clear()
            if state["status"] in ACTIVE and state.get("run") and not state.get("cancel_requested"):
                info["noop"] = True
                return False
            for doc_id, result in late.items():
                _count_into(state, doc_id, result)
            run = int(state.get("run") or 0) + 1
            state.update(run=run, status="pending", queued=True, stage="queued", cancel_requested=False,
                         finished_at=None, finalizing=None, error=None, limit_message=None, in_flight=[],
                         runner=None, heartbeat_at=_iso())
            info["run"] = run
            return None

        self.store.update_state(job_id, change)
        if info.get("noop"):
            return
        todo = [d["doc_id"] for d in manifest["documents"] if d["doc_id"] not in finished]
        for doc_id in todo:
            self.queue.send(WorkItem(job_id, doc_id), info["run"])
        self.manager._event(job_id, "job.queued", documents=len(todo), run=info["run"])
        if not todo:
            self._finalize_if_done(self.store.read_state(job_id))

    def cancel(self, job_id: str) -> None:
        """Cancel: a job nobody started is cancelled at once; a running one is finalised as cancelled
        (exports, email, webhook), and its workers stop within about a second."""
        info: dict[str, Any] = {}

        def change(state: dict[str, Any]) -> Any:
            info.clear()
            if state["status"] in TERMINAL:
                return False
            if state["status"] == "running":
                state["cancel_requested"] = True
                info["finalize"] = True
            else:
                state.update(status="cancelled", finished_at=_iso(), queued=False, runner=None, in_flight=[],
                             stage=None, cancel_requested=False, finalized_run=state.get("run"))
            return None

        self.store.update_state(job_id, change)
        if info.get("finalize"):
            self.manager._event(job_id, "job.cancel_requested")
            self.finalize(job_id, "cancelled")
        elif info:
            self.manager._event(job_id, "job.cancelled")

    def queue_length(self) -> int:
        return self.queue.length()

    # ------------------------------------------------------------------ one message

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
            self.finalize(job_id, "cancelled")
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
            file = self._context(job_id).docs.get(doc_id, {}).get("file", doc_id)
        except Exception:  # the manifest itself may be what is broken
            file = doc_id
        result = DocumentResult(
            doc_id=doc_id, file=file, status="failed", error_code="poison",
            error=f"This document could not be processed: it {reason}. It was set aside; the other "
                  f"documents are not affected.")
        if not self.store.write_result(job_id, doc_id, result.model_dump(mode="json")):
            result = DocumentResult.model_validate(self.store.read_result(job_id, doc_id))
        self.manager._event(job_id, "doc.poisoned", doc_id=doc_id, file=file, attempts=attempts)
        self._after_result(job_id, doc_id, result)
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
            if not self._mark_started(job_id, doc, delivery):
                self.queue.delete(delivery)
                return "job not active"
            beat.start()
            result = self._run_pipeline(ctx, job_id, doc, task)
        except _Stopped:
            task.stop.set()
            return self._stopped(delivery)
        except Exception as exc:  # storage error, bad extractor config...: retry, then poison
            task.stop.set()
            message = scrub(exc.message if isinstance(exc, PolicyReaderError) else f"{type(exc).__name__}: {exc}",
                            self.settings)
            log.warning("document %s/%s failed on %s: %s", job_id, doc_id, self.worker_id, message)
            self._record_error(job_id, doc_id, message[:300])
            self.queue.release(delivery, ERROR_RETRY_DELAY_S)
            return "error (will retry)"
        finally:
            task.stop.set()
            if beat.is_alive():
                beat.join(timeout=5)
        if not self.store.write_result(job_id, doc_id, result.model_dump(mode="json")):
            result = DocumentResult.model_validate(self.store.read_result(job_id, doc_id))
            outcome = "duplicate result discarded"
        else:
            outcome = result.status
            self.processed += 1
            if result.status == "ok":
                self.manager._event(job_id, "doc.finished", doc_id=doc_id, file=doc["file"], cached=result.cached,
                                    tokens=result.usage.prompt_tokens + result.usage.completion_tokens,
                                    worker=self.worker_id)
            else:
                self.manager._event(job_id, "doc.failed", doc_id=doc_id, file=doc["file"], error=result.error,
                                    code=result.error_code, worker=self.worker_id)
        self._after_result(job_id, doc_id, result)
        self.queue.delete(delivery)  # only now: the result is stored
        return outcome

    def _run_pipeline(self, ctx: _JobContext, job_id: str, doc: dict[str, Any], task: _Task) -> DocumentResult:
        from .extraction import Cancelled
        from .pipeline import process_document

        path = self.store.input_path(job_id, doc["stored"])

        def progress(stage: str, done: int, total: int) -> None:
            with task.lock:
                task.progress = {"stage": stage, "variables_done": done, "variables_total": total}
                task.dirty = True

        started = time.monotonic()
        try:
            return process_document(path, doc_id=doc["doc_id"], display_name=doc["file"], variables=ctx.variables,
                                    extractor=ctx.extractor, settings=ctx.settings, cache=ctx.cache,
                                    password=getattr(self.manager, "_passwords", {}).get(job_id),
                                    progress=progress, should_stop=task.stop.is_set)
        except Cancelled:
            raise _Stopped() from None
        finally:
            log.debug("document %s/%s took %.2f s", job_id, doc["doc_id"], time.monotonic() - started)

    def _stopped(self, delivery: Delivery) -> str:
        """Stopped mid-document: gone for good if the job ended, else handed back to the queue at once."""
        try:
            state = self.store.read_state(delivery.item.job_id)
        except JobNotFound:
            state = None
        if state is None or state["status"] in TERMINAL or state.get("cancel_requested") \
                or int(state.get("run") or 0) != delivery.run:
            self.queue.delete(delivery)
            self._drop_in_flight(delivery.item)
            return "stopped (job ended)"
        self._drop_in_flight(delivery.item)
        self.queue.release(delivery, 0)
        return "stopped (released)"

    # ------------------------------------------------------------------ heartbeat (visibility renewal)

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
                self._flush_progress(task)
            if now - last_poll >= STOP_POLL_S:
                last_poll = now
                try:
                    state = self.store.read_state(item.job_id)
                except JobNotFound:
                    task.stop.set()
                    return
                except Exception:
                    continue
                if state["status"] in TERMINAL or state.get("cancel_requested") \
                        or int(state.get("run") or 0) != task.delivery.run:
                    task.stop.set()
                    return

    def _flush_progress(self, task: _Task) -> None:
        with task.lock:
            progress = dict(task.progress)
            task.dirty = False
        item = task.delivery.item

        def change(state: dict[str, Any]) -> Any:
            if state["status"] in TERMINAL:
                return False
            for entry in state.get("in_flight") or []:
                if entry.get("doc_id") == item.doc_id:
                    entry.update(progress)
            state["heartbeat_at"] = _iso()
            return None

        self._safe_update(item.job_id, change)

    # ------------------------------------------------------------------ job state

    def _safe_update(self, job_id: str, change: Any) -> dict[str, Any] | None:
        try:
            return self.store.update_state(job_id, change)
        except (JobNotFound, PolicyReaderError) as exc:
            log.warning("could not update job %s: %s", job_id, exc)
            return None

    def _mark_started(self, job_id: str, doc: dict[str, Any], delivery: Delivery) -> bool:
        """PENDING -> RUNNING (first document of a run) and the document joins in_flight."""
        ok = {"value": False}
        entry = {"doc_id": doc["doc_id"], "file": doc["file"], "stage": "reading", "variables_done": 0,
                 "variables_total": 0, "worker": self.worker_id, "attempt": delivery.dequeue_count}

        def change(state: dict[str, Any]) -> Any:
            ok["value"] = False
            if state["status"] in TERMINAL or state.get("cancel_requested") \
                    or int(state.get("run") or 0) != delivery.run:
                return False
            now = _iso()
            if state["status"] != "running":
                state.update(status="running", started_at=state.get("started_at") or now, run_started_at=now,
                             run_done_base=int(state.get("documents_done", 0)), queued=False, error=None,
                             limit_message=None, stage="running")
            flights = [e for e in state.get("in_flight") or [] if e.get("doc_id") != doc["doc_id"]]
            state["in_flight"] = flights + [entry]
            state["heartbeat_at"] = now
            ok["value"] = True
            return None

        self._safe_update(job_id, change)
        return ok["value"]

    def _drop_in_flight(self, item: WorkItem) -> None:
        def change(state: dict[str, Any]) -> Any:
            flights = state.get("in_flight") or []
            kept = [e for e in flights if e.get("doc_id") != item.doc_id]
            if len(kept) == len(flights):
                return False
            state["in_flight"] = kept
            return None

        self._safe_update(item.job_id, change)

    def _record_error(self, job_id: str, doc_id: str, message: str) -> None:
        def change(state: dict[str, Any]) -> None:
            state.setdefault("doc_errors", {})[doc_id] = message
            state["in_flight"] = [e for e in state.get("in_flight") or [] if e.get("doc_id") != doc_id]

        self._safe_update(job_id, change)

    def _after_result(self, job_id: str, doc_id: str, result: DocumentResult) -> None:
        """Count the document once (ETag-guarded), then finalise if it was the last, or stop on budget."""

        def change(state: dict[str, Any]) -> Any:
            state["in_flight"] = [e for e in state.get("in_flight") or [] if e.get("doc_id") != doc_id]
            if state["status"] in TERMINAL:
                return False  # finished without it; a resume counts it
            _count_into(state, doc_id, result)
            state["heartbeat_at"] = _iso()
            return None

        state = self._safe_update(job_id, change)
        if state is None or state["status"] in TERMINAL:
            return
        if self._finalize_if_done(state):
            return
        usage = Usage.model_validate(state.get("usage") or {})
        job_settings = self.settings
        if budget_exceeded(job_settings, usage):
            message = budget_message(job_settings, int(state.get("documents_done", 0)),
                                     int(state.get("documents_total", 0)))
            self.finalize(job_id, "completed", limit_message=message)

    def _finalize_if_done(self, state: dict[str, Any]) -> bool:
        total = int(state.get("documents_total", 0))
        counted = len(state.get("counted") or [])
        if counted < total or state["status"] in TERMINAL:
            return False
        failed = int(state.get("documents_failed", 0))
        if total and failed >= total:
            first = state.get("first_error")
            error = f"All {total} documents failed." + (f" First error — {first}" if first else "")
            self.finalize(state["id"], "failed", error=error)
        else:
            self.finalize(state["id"], "completed")
        return True

    # ------------------------------------------------------------------ finalisation (exactly once per run)

    def finalize(self, job_id: str, status: str, *, error: str | None = None,
                 limit_message: str | None = None) -> bool:
        """Exports, email and webhook, then the terminal state. Only the process that wins the
        ETag-conditioned claim does it; returns False when another process has it (or it is done)."""
        claim: dict[str, Any] = {}
        me = f"{self.worker_id}/{uuid.uuid4().hex[:8]}"  # per call: two threads of one process race too

        def take(state: dict[str, Any]) -> Any:
            claim.clear()
            run = int(state.get("run") or 0)
            if state["status"] in TERMINAL:
                return False
            held = state.get("finalizing") or {}
            if held.get("run") == run and _age_s(held.get("at")) < FINALIZE_STALE_S:
                return False
            state["finalizing"] = {"run": run, "by": me, "at": _iso()}
            state["stage"] = "exporting"
            claim.update(run=run, email_run=state.get("email_run"), webhook_run=state.get("webhook_run"),
                         recipients=state.get("recipients") or [])
            return None

        try:
            self.store.update_state(job_id, take)
        except JobNotFound:
            return False
        if not claim:
            return False
        run = claim["run"]
        manager = self.manager
        try:
            manager._write_exports(job_id, status)
        except Exception as exc:
            log.exception("exports for %s", job_id)
            manager._event(job_id, "exports.failed", error=scrub(str(exc), self.settings))
        if claim["recipients"] and claim["email_run"] != run:
            self._safe_update(job_id, lambda s: s.update(stage="emailing"))
            info = manager._send_email(job_id, status)
            self.store.publish_outbox(job_id)
            self._safe_update(job_id, lambda s: s.update(email=info, email_run=run,
                                                         finalizing={"run": run, "by": me,
                                                                     "at": _iso()}))
        if self.settings.webhook_url and claim["webhook_run"] != run:
            info = manager._send_webhook(job_id, status, None, error)
            self._safe_update(job_id, lambda s: s.update(webhook=info, webhook_run=run))

        def done(state: dict[str, Any]) -> None:
            state.update(status=status, finished_at=_iso(), error=error, in_flight=[], stage=None,
                         finalizing=None, finalized_run=run, cancel_requested=False, queued=False, runner=None,
                         heartbeat_at=_iso())
            if limit_message:
                state["limit_message"] = limit_message

        state = self._safe_update(job_id, done) or {}
        manager._event(job_id, f"job.{status}", error=error, documents_done=state.get("documents_done"),
                       documents_failed=state.get("documents_failed"), worker=self.worker_id)
        self.store.drop_local_cache(job_id)
        with self._guard:
            self._contexts.pop(job_id, None)
        cond = getattr(manager, "_done_cond", None)
        if cond is not None:
            with cond:
                cond.notify_all()
        return True

    # ------------------------------------------------------------------ sweep

    def sweep(self) -> list[str]:
        """Finish what nobody will: all documents counted but no live finaliser, or a cancel request
        whose finaliser died. Returns the job ids finalised here."""
        finished = []
        for job_id in self.store.list_job_ids():
            try:
                state = self.store.read_state(job_id)
            except (JobNotFound, ValueError):
                continue
            if state.get("status") not in ACTIVE:
                continue
            held = state.get("finalizing") or {}
            if held and _age_s(held.get("at")) < FINALIZE_STALE_S:
                continue
            if state.get("cancel_requested"):
                if self.finalize(job_id, "cancelled"):
                    finished.append(job_id)
            elif len(state.get("counted") or []) >= int(state.get("documents_total", 0)) and state.get("run"):
                if self._finalize_if_done(state):
                    finished.append(job_id)
        return finished

    def _sweep_loop(self) -> None:
        last_cleanup = time.monotonic()
        while not self._stop.wait(SWEEP_S):
            try:
                self.sweep()
                if self.cleanup and time.monotonic() - last_cleanup >= CLEANUP_EVERY_S:
                    last_cleanup = time.monotonic()
                    self.manager.cleanup_old_jobs()
            except Exception:
                log.exception("queue sweep")

    # ------------------------------------------------------------------ per-job context

    def _context(self, job_id: str) -> _JobContext:
        with self._guard:
            ctx = self._contexts.get(job_id)
            if ctx is not None:
                self._contexts.move_to_end(job_id)
                return ctx
        manifest = self.store.read_manifest(job_id)
        options = manifest.get("options") or {}
        settings = self.manager._job_settings(options)
        from .extractor import make_extractor

        ctx = _JobContext(manifest=manifest, docs={d["doc_id"]: d for d in manifest["documents"]},
                          variables=[Variable.model_validate(v) for v in manifest.get("variables", [])],
                          settings=settings,
                          extractor=make_extractor(settings, backend=options.get("backend"), model=options.get("model")),
                          cache=self.manager._make_cache(settings))
        with self._guard:
            self._contexts[job_id] = ctx
            while len(self._contexts) > 32:
                self._contexts.popitem(last=False)
        return ctx


class _Stopped(Exception):
    """The document stopped between chunks (cancel, delete, shutdown)."""


def _count_into(state: dict[str, Any], doc_id: str, result: DocumentResult) -> None:
    """Add one finished document to the job's counters, once (idempotent by doc id)."""
    counted = state.setdefault("counted", [])
    if doc_id in counted:
        return
    counted.append(doc_id)
    state["documents_done"] = int(state.get("documents_done", 0)) + 1
    if result.status != "ok":
        state["documents_failed"] = int(state.get("documents_failed", 0)) + 1
        if not state.get("first_error"):
            state["first_error"] = f"{result.file}: {result.error or 'failed'}"
    usage = Usage.model_validate(state.get("usage") or {}).add(result.usage)
    state["usage"] = usage.model_dump(mode="json")
    state["pages_read"] = int(state.get("pages_read", 0)) + int(result.pages or 0)


def attach(manager: Any) -> QueueWorker:
    """The manager's QueueWorker (JobManager creates one in azure mode), or a new one."""
    worker = getattr(manager, "_azure", None)
    if isinstance(worker, QueueWorker):
        return worker
    return QueueWorker(manager)


def main(settings: Settings | None = None, *, idle_exit_s: float | None = None) -> int:
    """`python -m policy_reader worker`: take documents from the queue until SIGTERM / Ctrl-C.

    For an App Service WebJob or a container beside the Web App. `idle_exit_s` (or the environment
    variable WORKER_IDLE_EXIT_S) stops the worker after that long without work (batch-style runs)."""
    from job_manager import JobManager  # top-level module (see policy_reader/__main__.py)

    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings or load_settings()
    if idle_exit_s is None and os.environ.get("WORKER_IDLE_EXIT_S"):
        idle_exit_s = float(os.environ["WORKER_IDLE_EXIT_S"])
    manager = JobManager(settings, start=False)
    worker = attach(manager)
    worker.cleanup = True
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    worker.start()
    print(f"worker {worker.worker_id} ready: queue {settings.azure_storage_queue}, "
          f"container {settings.azure_storage_container}, {worker.thread_count} document(s) at once", flush=True)
    last_count, last_change = -1, time.monotonic()
    while not stop.wait(0.5):
        if idle_exit_s is not None:
            if worker.processed != last_count:
                last_count, last_change = worker.processed, time.monotonic()
            elif time.monotonic() - last_change >= idle_exit_s:
                break
    worker.stop()
    manager.shutdown(wait=False)
    print(f"worker {worker.worker_id} stopped after {worker.processed} document(s)", flush=True)
    return 0
