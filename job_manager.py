"""Background jobs: create, queue, run, watch, cancel, resume, review and export.

The UI (main.py) and the CLI (policy_reader/cli.py) only ever talk to `JobManager`.

How a job runs
- `create_job` writes everything the job needs (inputs, manifest `documents.json`, `job.json`);
  `run_job_async` only marks the job queued, so it returns at once whatever the job's size.
- Up to `max_parallel_jobs` runner threads take jobs from a priority/FIFO queue. A runner feeds the
  job's documents, as `(job_id, doc_id)` work items, to one shared document pool of
  `max_parallel_documents` threads, at most `docs_per_job` at a time for one job.
- Each finished document is written once to `results/<doc_id>.json`: the checkpoint. A resumed
  job skips documents that have one, so finished documents are never sent to the model again.
- Progress lives in memory and is flushed to `job.json` a few times a second at most; `job.json`
  holds counters and in-flight documents only, so reading it costs the same for 1 or 1,000 documents.
- A ticker thread flushes progress, writes heartbeats, notices cancel requests written by other
  processes (the CLI's `cancel`), re-queues jobs whose owning process died, and cleans old jobs.

Crash safety: `job.json` records the owning process (pid, host, boot id, manager id) and a
heartbeat. A job whose owner is dead (pid gone on this host) or silent for `heartbeat_stale_s`
is marked interrupted and resumed by `recover_interrupted` (run at start and periodically).
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from datetime import datetime, timedelta, timezone
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence

from pydantic import BaseModel, Field

from policy_reader.config import Settings, get_settings, scrub
from policy_reader.errors import (ConfigError, EmailError, JobError, JobNotFound, PolicyReaderError, VariablesError)
from policy_reader.jobstore import (FileJobStore, JobQueue, JobStore, WorkItem, check_doc_id,
                                    check_job_id, doc_id_for)
from policy_reader.models import AnswerStatus, DocumentResult, Usage, Variable

log = logging.getLogger("policy_reader.jobs")

FLUSH_INTERVAL_S = 0.5       # at most two progress writes per second per job
TICK_S = 0.25                # ticker period (cancel requests from other processes seen within ~0.5 s)
CANCEL_POLL_S = 0.5
CLEANUP_EVERY_S = 3600.0
EASY_AUTH_HEADER = "x-ms-client-principal-name"


class JobStatus(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


TERMINAL = {JobStatus.COMPLETED.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value}


class JobOptions(BaseModel):
    backend: str | None = None
    model: str | None = None
    ocr: bool | None = None
    accept_threshold: float | None = None
    password: str | None = None  # kept in memory only (never written to the job files)
    priority: int = 0


class JobView(BaseModel):
    """What the UI and CLI show about a job (read from job.json plus this process's queue)."""

    id: str
    name: str
    owner: str
    status: JobStatus
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    heartbeat_at: str | None = None
    error: str | None = None
    documents_total: int = 0
    documents_done: int = 0  # finished documents, ok or failed
    documents_failed: int = 0
    in_flight: list[dict[str, Any]] = Field(default_factory=list)
    stage: str | None = None
    eta_s: float | None = None
    usage: Usage = Field(default_factory=Usage)
    queue_position: int | None = None
    email: dict[str, Any] = Field(default_factory=dict)
    webhook: dict[str, Any] = Field(default_factory=dict)
    backend: str = ""
    model: str = ""
    recipients: list[str] = Field(default_factory=list)
    limit_message: str | None = None
    cancel_requested: bool = False

    @property
    def finished(self) -> bool:
        return self.status.value in TERMINAL

    @property
    def documents_ok(self) -> int:
        return self.documents_done - self.documents_failed


# --------------------------------------------------------------------------- helpers

def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime | None = None) -> str:
    return (moment or _now()).isoformat(timespec="milliseconds")


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


_HOST = socket.gethostname()
_BOOT = _boot_id()
_LIVE_MANAGERS: set[str] = set()  # manager ids alive in this process


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:  # a killed but unreaped child is a zombie: dead for our purposes
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def current_user(headers: Mapping[str, str] | None) -> str:
    """The signed-in user: Azure App Service Easy Auth's principal name header, else "local"."""
    if not headers:
        return "local"
    for key, value in headers.items():
        if key.lower() == EASY_AUTH_HEADER and value:
            cleaned = "".join(ch for ch in str(value) if ch.isprintable()).strip()[:256]
            if cleaned:
                return cleaned
    return "local"


class _Run:
    """In-memory state of a job running in this process; flushed to job.json by the ticker."""

    def __init__(self, job_id: str, manifest: dict[str, Any], settings: Settings) -> None:
        self.job_id = job_id
        self.manifest = manifest
        self.settings = settings
        self.variables = [Variable.model_validate(v) for v in manifest.get("variables", [])]
        self.stop_event = threading.Event()
        self.stop_reason: str | None = None  # "cancel" | "shutdown" | "budget"
        self.lock = threading.Lock()
        self.done = 0
        self.failed = 0
        self.pages = 0
        self.usage = Usage()
        self.in_flight: dict[str, dict[str, Any]] = {}
        self.extra: dict[str, Any] = {}
        self.stage = "running"
        self.dirty = True
        self.last_flush = 0.0
        self.last_cancel_poll = 0.0
        self.first_error: str | None = None
        self.unsaved: str | None = None  # first result the store refused (issue 15)
        self.extractor: Any = None
        self.cache: Any = None
        self.password: str | None = None

    def stop(self, reason: str) -> None:
        with self.lock:
            if self.stop_reason is None or reason == "cancel":
                self.stop_reason = reason
        self.stop_event.set()

    def should_stop(self) -> bool:
        return self.stop_event.is_set()

    def doc_started(self, doc_id: str, file: str) -> None:
        with self.lock:
            self.in_flight[doc_id] = {"doc_id": doc_id, "file": file, "stage": "reading",
                                      "variables_done": 0, "variables_total": len(self.variables)}
            self.dirty = True

    def doc_progress(self, doc_id: str, stage: str, done: int, total: int) -> None:
        with self.lock:
            entry = self.in_flight.get(doc_id)
            if entry is not None:
                entry.update(stage=stage, variables_done=done, variables_total=total)
                self.dirty = True

    def doc_ended(self, doc_id: str, result: DocumentResult | None) -> None:
        with self.lock:
            self.in_flight.pop(doc_id, None)
            if result is not None:
                self.done += 1
                if result.status != "ok":
                    self.failed += 1
                    if self.first_error is None:
                        self.first_error = f"{result.file}: {result.error or 'failed'}"
                self.usage = self.usage.add(result.usage)
                self.pages += result.pages
            self.dirty = True

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            self.dirty = False
            return {"documents_done": self.done, "documents_failed": self.failed,
                    "usage": self.usage.model_dump(mode="json"), "pages_read": self.pages,
                    "in_flight": [dict(v) for v in self.in_flight.values()],
                    "stage": self.stage, **self.extra}


# --------------------------------------------------------------------------- manager

class JobManager:
    """Runs extraction jobs in the background; one instance per process (the UI caches it)."""

    def __init__(self, settings: Settings | None = None, *, start: bool = True,
                 store: JobStore | None = None) -> None:
        self.settings = settings or get_settings()
        start = start and not self.settings.startup_problem  # a bad setting at start-up: run nothing (issue 15)
        self.store: JobStore = store or _make_store(self.settings)
        self.manager_id = uuid.uuid4().hex
        self._queue = JobQueue()
        self._runs: dict[str, _Run] = {}
        self._queued: dict[str, float] = {}  # job_id -> last heartbeat (monotonic) while queued here
        self._passwords: dict[str, str] = {}
        self._guard = threading.RLock()
        self._done_cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._doc_pool: ThreadPoolExecutor | None = None
        self._started = False
        self._closed = False
        self._background = start
        self._last_cleanup = 0.0
        self._last_recover = time.monotonic()
        self._heartbeat_s = max(0.2, min(5.0, self.settings.heartbeat_stale_s / 4))
        _LIVE_MANAGERS.add(self.manager_id)
        self._azure: Any = _make_queue_worker(self)  # JOB_STORE=azure: the shared work queue, else None
        if start:
            self._ensure_started()
            self.recover_interrupted()

    # ------------------------------------------------------------------ identity

    def _token(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "host": _HOST, "boot": _BOOT, "manager": self.manager_id}

    def _owner_alive(self, state: dict[str, Any], now: datetime | None = None) -> bool:
        """Is the process that owns this job (queued or running it) still alive?"""
        runner = state.get("runner") or {}
        if not runner:
            return False
        if runner.get("manager") == self.manager_id:
            return not self._closed
        same_machine = runner.get("host") == _HOST and runner.get("boot") == _BOOT
        if same_machine:
            pid = int(runner.get("pid") or 0)
            if pid == os.getpid():
                if runner.get("manager") not in _LIVE_MANAGERS:
                    return False
            elif not _pid_alive(pid):
                return False
        beat = _parse(state.get("heartbeat_at"))
        if beat is None:
            return False
        return ((now or _now()) - beat).total_seconds() < self.settings.heartbeat_stale_s

    # ------------------------------------------------------------------ create / submit

    def create_job(self, *, name: str, files: Sequence[tuple[str, bytes | Path]], variables: Sequence[Variable],
                   recipients: Sequence[str] = (), owner: str = "local", options: JobOptions | None = None) -> str:
        """Store the inputs and the manifest; the job is PENDING until run_job_async."""
        if self.settings.startup_problem:  # the app came up with a bad setting: no job (issue 15)
            raise ConfigError(f"Policy Reader cannot start jobs: {self.settings.startup_problem}")
        options = options or JobOptions()
        if not files:
            raise JobError("Add at least one PDF to start a job.", code="no_files")
        variables = list(variables)
        if not variables:
            raise VariablesError("Add at least one variable to extract.")
        names = [v.name for v in variables]
        if len(set(names)) != len(names):
            raise VariablesError("Variable names must be unique within a job.")
        recipients = self._check_recipients(recipients)
        backend, model = self._check_backend(options)
        self._check_user_limits(owner, len(files))

        job_id = self.store.new_job_id()
        documents = []
        for index, (filename, data) in enumerate(files):
            doc_id = doc_id_for(index)
            documents.append({"doc_id": doc_id, "file": str(filename)[:300] or f"document-{index + 1}.pdf",
                              "stored": f"{doc_id}-{_safe_name(str(filename))}", "size": _size_of(data)})
        opts = options.model_dump(exclude={"password"})
        manifest = {"name": name, "documents": documents,
                    "variables": [v.model_dump(mode="json") for v in variables],
                    "options": opts, "recipients": recipients}
        state = {
            "id": job_id, "name": name or "Untitled job", "owner": owner or "local",
            "status": JobStatus.PENDING.value, "created_at": _iso(), "started_at": None, "finished_at": None,
            "heartbeat_at": None, "error": None, "documents_total": len(documents), "documents_done": 0,
            "documents_failed": 0, "in_flight": [], "stage": None, "usage": Usage().model_dump(mode="json"),
            "email": {"status": "pending" if recipients else "none"}, "webhook": {"status": "none"},
            "backend": backend, "model": model, "recipients": recipients, "limit_message": None,
            "priority": options.priority, "queued": False, "runner": None, "cancel_requested": False,
            "version": 0,
        }
        # Inputs first, job.json last: the job only becomes visible once complete.
        self._write_inputs(job_id, files, documents, state, manifest)
        if options.password:
            self._passwords[job_id] = options.password
        self._event(job_id, "job.created", documents=len(documents), variables=len(variables))
        return job_id

    def _write_inputs(self, job_id: str, files: Sequence[tuple[str, bytes | Path]], documents: list[dict[str, Any]],
                      state: dict[str, Any], manifest: dict[str, Any]) -> None:
        for doc, (_name, data) in zip(documents, files):
            self.store.write_input(job_id, doc["stored"], data)
        self.store.create_job(job_id, state, manifest)

    def submit(self, **create_kwargs: Any) -> str:
        """create_job + run_job_async."""
        job_id = self.create_job(**create_kwargs)
        self.run_job_async(job_id)
        return job_id

    def run_job_async(self, job_id: str) -> None:
        """Queue the job (priority first, then FIFO). Returns at once: inputs are already stored."""
        state = self.store.read_state(check_job_id(job_id))
        status = state["status"]
        if status in (JobStatus.RUNNING.value, JobStatus.PENDING.value) and self._owner_alive(state):
            return  # already running or queued by a live process
        if status in TERMINAL:
            raise JobError(f"Job {job_id} has already {status}; use resume_job to run what is left.", code="state")
        self._enqueue(job_id)

    def _enqueue(self, job_id: str) -> None:
        if self._azure is not None:  # one queue message per document; every azure-mode process takes work
            self._azure.enqueue(job_id)
            self._azure.start()
            return
        token = self._token()
        priority = {"value": 0}

        def change(state: dict[str, Any]) -> None:
            state.update(status=JobStatus.PENDING.value, queued=True, runner=token, heartbeat_at=_iso(),
                         cancel_requested=False, stage="queued", finished_at=None)
            priority["value"] = int(state.get("priority") or 0)

        self.store.update_state(job_id, change)
        with self._guard:
            self._queued[job_id] = time.monotonic()
        self._queue.put(job_id, priority["value"])
        self._ensure_started()

    # ------------------------------------------------------------------ threads

    def _ensure_started(self) -> None:
        if self._azure is not None and not self._closed:
            self._azure.start()
        with self._guard:
            if self._started or self._closed:
                return
            self._started = True
            self._doc_pool = ThreadPoolExecutor(max_workers=self.settings.max_parallel_documents,
                                                thread_name_prefix="pr-doc")
            for index in range(self.settings.max_parallel_jobs):
                thread = threading.Thread(target=self._runner_loop, name=f"pr-job-{index}", daemon=True)
                thread.start()
                self._threads.append(thread)
            ticker = threading.Thread(target=self._ticker_loop, name="pr-ticker", daemon=True)
            ticker.start()
            self._threads.append(ticker)

    def _runner_loop(self) -> None:
        while not self._closed:
            job_id = self._queue.get(timeout=0.5)
            if job_id is None:
                continue
            with self._guard:
                self._queued.pop(job_id, None)
            try:
                self._execute(job_id)
            except Exception:  # a bug must not kill the runner thread
                log.exception("job %s crashed", job_id)
            finally:
                with self._done_cond:
                    self._done_cond.notify_all()

    def _ticker_loop(self) -> None:
        while not self._closed:
            time.sleep(TICK_S)
            try:
                self._tick()
            except Exception:
                log.exception("job ticker")

    def _tick(self) -> None:
        now = time.monotonic()
        with self._guard:
            runs = list(self._runs.values())
            queued = list(self._queued.items())
        for run in runs:
            if now - run.last_cancel_poll >= CANCEL_POLL_S:
                run.last_cancel_poll = now
                self._poll_cancel(run)
            if (run.dirty and now - run.last_flush >= FLUSH_INTERVAL_S) or now - run.last_flush >= self._heartbeat_s:
                self._flush(run)
        for job_id, beat in queued:
            if now - beat >= self._heartbeat_s:
                with self._guard:
                    if job_id in self._queued:
                        self._queued[job_id] = now
                self._safe_update(job_id, lambda s: s.update(heartbeat_at=_iso()))
        if self._background:
            if now - self._last_recover >= max(1.0, self.settings.heartbeat_stale_s / 2):
                self._last_recover = now
                self.recover_interrupted()
            if now - self._last_cleanup >= CLEANUP_EVERY_S:
                self._last_cleanup = now
                self.cleanup_old_jobs()

    def _poll_cancel(self, run: _Run) -> None:
        try:
            state = self.store.read_state(run.job_id)
        except (JobNotFound, OSError, ValueError):
            run.stop("cancel")  # deleted under us
            return
        if state.get("cancel_requested"):
            run.stop("cancel")

    def _flush(self, run: _Run) -> None:
        run.last_flush = time.monotonic()
        snap = run.snapshot()
        token = self._token()

        def change(state: dict[str, Any]) -> None:
            state.update(snap)
            state["heartbeat_at"] = _iso()
            state["runner"] = token

        self._safe_update(run.job_id, change)

    def _safe_update(self, job_id: str, change: Callable[[dict[str, Any]], Any]) -> dict[str, Any] | None:
        try:
            return self.store.update_state(job_id, change)
        except (JobNotFound, OSError, ValueError) as exc:
            log.warning("could not update job %s: %s", job_id, exc)
            return None

    # ------------------------------------------------------------------ running a job

    def _claim(self, job_id: str) -> bool:
        """PENDING and queued by us -> RUNNING. False when cancelled or taken by another process."""
        ok = {"value": False}
        token = self._token()

        def change(state: dict[str, Any]) -> Any:
            runner = state.get("runner") or {}
            if state["status"] != JobStatus.PENDING.value or runner.get("manager") != self.manager_id:
                return False
            if state.get("cancel_requested"):
                state.update(status=JobStatus.CANCELLED.value, finished_at=_iso(), queued=False, runner=None)
                return None
            now = _iso()
            state.update(status=JobStatus.RUNNING.value, started_at=state.get("started_at") or now,
                         run_started_at=now, heartbeat_at=now, runner=token, queued=False,
                         error=None, limit_message=None, stage="running")
            ok["value"] = True
            return None

        try:
            self.store.update_state(job_id, change)
        except JobNotFound:
            return False
        return ok["value"]

    def _execute(self, job_id: str) -> None:
        if not self._claim(job_id):
            return
        manifest = self.store.read_manifest(job_id)
        run = _Run(job_id, manifest, self._job_settings(manifest.get("options", {})))
        run.password = self._passwords.get(job_id)
        with self._guard:
            self._runs[job_id] = run
        self._event(job_id, "job.started")
        try:
            fatal = self._prepare(run)
            if fatal:
                self._finish(run, JobStatus.FAILED, error=fatal)
                return
            run.extra["run_done_base"] = run.done
            self._flush(run)
            self._run_documents(run)
            status, error = self._decide(run)
            if status == JobStatus.INTERRUPTED:
                self._interrupt(run)
                return
            self._finish(run, status, error=error)
        except Exception as exc:
            if run.stop_reason == "shutdown" or self._closed:
                # The process is stopping under the job: leave it INTERRUPTED, to be resumed
                # by the next start, instead of calling a healthy job failed.
                log.warning("job %s interrupted by shutdown: %s", job_id, exc)
                self._interrupt(run)
                return
            log.exception("job %s failed", job_id)
            self._finish(run, JobStatus.FAILED,
                         error=f"The job stopped on an unexpected error: {scrub(str(exc), self.settings)}",
                         finalize=False)
        finally:
            with self._guard:
                self._runs.pop(job_id, None)
            with self._done_cond:
                self._done_cond.notify_all()

    def _job_settings(self, options: dict[str, Any]) -> Settings:
        update: dict[str, Any] = {}
        if options.get("ocr") is not None:
            update["ocr_enabled"] = bool(options["ocr"])
        if options.get("accept_threshold") is not None:
            update["accept_threshold"] = float(options["accept_threshold"])
        return self.settings.model_copy(update=update) if update else self.settings

    def _prepare(self, run: _Run) -> str | None:
        """Count existing checkpoints and build the extractor. Returns a fatal error or None."""
        for doc_id in self.store.list_results(run.job_id):
            data = self.store.read_result(run.job_id, doc_id)
            if data is not None:
                run.doc_ended(doc_id, DocumentResult.model_validate(data))
        options = run.manifest.get("options", {})
        try:
            from policy_reader.extractor import make_extractor

            run.extractor = make_extractor(run.settings, backend=options.get("backend"), model=options.get("model"))
        except PolicyReaderError as exc:
            return scrub(exc.message, self.settings)
        run.cache = self._make_cache(run.settings)
        return None

    def _make_cache(self, settings: Settings) -> Any:
        from policy_reader.cache import AnswerCache

        try:
            return AnswerCache(Path(settings.jobs_dir) / "_cache")
        except Exception:  # the cache is an optimisation, never a reason to fail
            log.warning("answer cache unavailable", exc_info=True)
            return None

    def _run_documents(self, run: _Run) -> None:
        finished = set(self.store.list_results(run.job_id))
        slots = threading.Semaphore(run.settings.docs_per_job)
        futures: list[Future[None]] = []
        pool = self._doc_pool
        assert pool is not None
        for doc in _largest_first(run.manifest["documents"]):
            if doc["doc_id"] in finished:
                continue
            while not slots.acquire(timeout=0.2):
                if run.should_stop():
                    break
            else:
                if run.should_stop():
                    slots.release()
                    break
                item = WorkItem(run.job_id, doc["doc_id"])
                try:
                    future = pool.submit(self._run_document, run, item, doc)
                except RuntimeError:  # the pool is shut down: the process is stopping
                    slots.release()
                    run.stop("shutdown")
                    break
                future.add_done_callback(lambda _f: slots.release())
                futures.append(future)
                continue
            break
        wait_futures(futures)
        for future in futures:  # a task that raised lost its document's result: say why (issue 15)
            if future.exception() is not None:
                log.error("document task of job %s failed", run.job_id, exc_info=future.exception())

    def _run_document(self, run: _Run, item: WorkItem, doc: dict[str, Any]) -> None:
        """Process one work item and write its checkpoint (once)."""
        if run.should_stop():
            return
        from policy_reader.pipeline import Cancelled, process_document

        run.doc_started(item.doc_id, doc["file"])
        path = self.store.input_path(item.job_id, doc["stored"])
        started = time.monotonic()
        try:
            result = process_document(
                path, doc_id=item.doc_id, display_name=doc["file"], variables=run.variables,
                extractor=run.extractor, settings=run.settings, cache=run.cache, password=run.password,
                progress=lambda stage, done, total: run.doc_progress(item.doc_id, stage, done, total),
                should_stop=run.should_stop)
        except Cancelled:
            run.doc_ended(item.doc_id, None)
            return
        except Exception as exc:  # process_document should not raise; keep the job alive if it does
            log.exception("document %s/%s", item.job_id, item.doc_id)
            result = DocumentResult(doc_id=item.doc_id, file=doc["file"], status="failed",
                                    error=f"Unexpected error: {scrub(str(exc), self.settings)}",
                                    error_code="internal", elapsed_s=round(time.monotonic() - started, 3))
        try:
            written = self.store.write_result(item.job_id, item.doc_id, result.model_dump(mode="json"))
        except OSError as exc:  # the store refused the checkpoint: the document is not done (issue 15)
            log.error("result of %s/%s not saved: %s", item.job_id, item.doc_id, exc)
            run.unsaved = run.unsaved or scrub(f"{doc['file']}: {exc}", self.settings)
            run.doc_ended(item.doc_id, None)
            return
        run.doc_ended(item.doc_id, result if written else None)
        if result.status == "ok":
            self._event(item.job_id, "doc.finished", doc_id=item.doc_id, file=doc["file"],
                        cached=result.cached, tokens=result.usage.prompt_tokens + result.usage.completion_tokens)
        else:
            self._event(item.job_id, "doc.failed", doc_id=item.doc_id, file=doc["file"],
                        error=result.error, code=result.error_code)
        from policy_reader import limits

        if limits.budget_exceeded(run.settings, run.usage):
            run.stop("budget")

    def _decide(self, run: _Run) -> tuple[JobStatus, str | None]:
        total = len(run.manifest["documents"])
        reason = run.stop_reason
        if reason == "shutdown":
            return JobStatus.INTERRUPTED, None
        if reason == "cancel":
            return JobStatus.CANCELLED, None
        if total == 0:
            return JobStatus.FAILED, "The job has no documents."
        if reason != "budget" and run.done < total:  # a result was lost: never report it as completed
            return JobStatus.FAILED, (f"{total - run.done} of {total} document(s) have no saved result "
                                      f"({run.unsaved or 'an unexpected error; see the server log'}). "
                                      "Saved results are kept: resume the job to read the rest.")
        if run.done >= total and run.failed == total:
            first = f" First error — {run.first_error}" if run.first_error else ""
            return JobStatus.FAILED, f"All {total} documents failed.{first}"
        if reason == "budget":
            from policy_reader import limits

            run.extra["limit_message"] = limits.budget_message(run.settings, run.done, total)
        return JobStatus.COMPLETED, None

    def _interrupt(self, run: _Run) -> None:
        snap = run.snapshot()

        def change(state: dict[str, Any]) -> None:
            state.update(snap)
            state.update(status=JobStatus.INTERRUPTED.value, runner=None, in_flight=[], stage=None,
                         heartbeat_at=_iso())

        self._safe_update(run.job_id, change)
        self._event(run.job_id, "job.interrupted", reason="the app shut down")

    def _finish(self, run: _Run, status: JobStatus, *, error: str | None = None, finalize: bool = True) -> None:
        """Write exports, send the email and webhook, then the final state."""
        job_id = run.job_id
        run.stage = "exporting"
        self._flush(run)
        notes: dict[str, Any] = {}
        if finalize:
            try:
                self._write_exports(job_id, status.value)
            except Exception as exc:
                log.exception("exports for %s", job_id)
                self._event(job_id, "exports.failed", error=scrub(str(exc), self.settings))
            recipients = run.manifest.get("recipients") or []
            if recipients:
                run.stage = "emailing"
                self._flush(run)
                notes["email"] = self._send_email(job_id, status.value)
            if self.settings.webhook_url:
                notes["webhook"] = self._send_webhook(job_id, status.value, run, error)
        snap = run.snapshot()

        def change(state: dict[str, Any]) -> None:
            state.update(snap)
            state.update(notes)
            state.update(status=status.value, finished_at=_iso(), error=error, in_flight=[], stage=None,
                         runner=None, queued=False, heartbeat_at=_iso(), cancel_requested=False)

        self._safe_update(job_id, change)
        self._event(job_id, f"job.{status.value}", error=error, documents_done=run.done,
                    documents_failed=run.failed)

    # ------------------------------------------------------------------ completion hooks

    def _summary_payload(self, job_id: str, status: str, run: _Run | None, error: str | None) -> dict[str, Any]:
        state = self.store.read_state(job_id)
        done = run.done if run else state.get("documents_done", 0)
        failed = run.failed if run else state.get("documents_failed", 0)
        usage = (run.usage if run else Usage.model_validate(state.get("usage") or {})).model_dump(mode="json")
        return {"event": "job.finished", "job_id": job_id, "name": state.get("name"), "status": status,
                "error": error, "documents_total": state.get("documents_total", 0), "documents_done": done,
                "documents_ok": done - failed, "documents_failed": failed, "usage": usage,
                "finished_at": _iso(), "url": self._job_url(job_id)}

    def _job_url(self, job_id: str) -> str | None:
        base = self.settings.public_url
        return f"{base.rstrip('/')}/?job={job_id}" if base else None

    def _send_webhook(self, job_id: str, status: str, run: _Run | None, error: str | None) -> dict[str, Any]:
        from policy_reader.webhook import send_job_webhook

        result = send_job_webhook(self.settings, self._summary_payload(job_id, status, run, error))
        self._event(job_id, f"webhook.{result.status}", error=result.error, attempts=result.attempts)
        return result.as_dict()

    def _send_email(self, job_id: str, status: str) -> dict[str, Any]:
        """Send the results email; an EmailError is recorded, never raised, never fails the job."""
        try:
            report = self._deliver_email(job_id, status)
        except EmailError as exc:
            info = {"status": "failed", "error": scrub(exc.message, self.settings), "code": exc.code}
            self._event(job_id, "email.failed", error=info["error"])
            return info
        except Exception as exc:
            info = {"status": "failed", "error": f"Email could not be sent: {scrub(str(exc), self.settings)}"}
            self._event(job_id, "email.failed", error=info["error"])
            return info
        publish = getattr(self.store, "publish_outbox", None)
        if publish is not None:
            publish(job_id)
        refused = list(getattr(report, "refused", ()) or ())
        info = {"status": "sent", "mode": report.mode, "path": report.path, "attempts": report.attempts,
                "message_id": report.message_id, "sent_at": _iso(), "refused": refused,
                # the others got it; say who did not, so the analyst can fix those addresses
                "error": (f"The mail server refused {', '.join(refused)}; the other recipients got the email."
                          if refused else None)}
        self._event(job_id, "email.sent", mode=report.mode, attempts=report.attempts, refused=refused)
        return info

    def _deliver_email(self, job_id: str, status: str) -> Any:
        from policy_reader.emailer import EmailSummary, send_job_email

        state = self.store.read_state(job_id)
        manifest = self.store.read_manifest(job_id)
        results = self._results(job_id)
        usage = _total_usage(results)
        summary = EmailSummary(
            job_id=job_id, job_name=state.get("name") or "", status=status,
            documents_total=len(manifest["documents"]),
            documents_ok=sum(1 for r in results if r.status == "ok"),
            failed=[(r.file, r.error or "failed") for r in results if r.status != "ok"],
            needs_review=sum(1 for r in results for a in r.variables
                             if a.status == AnswerStatus.NEEDS_REVIEW and not a.reviewed),
            usage=usage, job_url=self._job_url(job_id))
        try:
            attachments = {"results.csv": self._export_bytes(job_id, "csv"),
                           "results.xlsx": self._export_bytes(job_id, "xlsx")}
        except Exception as exc:  # the email still goes out (with a link) if exports broke
            log.exception("exports for the email of %s", job_id)
            self._event(job_id, "exports.failed", error=scrub(str(exc), self.settings))
            attachments = {}
        outbox = self.store.outbox_dir(job_id)
        return send_job_email(self.settings, summary, manifest.get("recipients") or [], attachments,
                              outbox_dir=outbox)

    # ------------------------------------------------------------------ results, reviews, exports

    def _results(self, job_id: str) -> list[DocumentResult]:
        manifest = self.store.read_manifest(job_id)
        reviews = self.store.read_reviews(job_id).get("items", {})
        out = []
        for doc in manifest["documents"]:
            data = self.store.read_result(job_id, doc["doc_id"])
            if data is None:
                continue
            out.append(_apply_reviews(DocumentResult.model_validate(data), reviews.get(doc["doc_id"], {})))
        return out

    def _write_exports(self, job_id: str, status: str) -> dict[str, bytes]:
        from policy_reader import export

        results = self._results(job_id)
        variables = [Variable.model_validate(v) for v in self.store.read_manifest(job_id)["variables"]]
        usage = _total_usage(results)
        version = self.store.read_reviews(job_id).get("version", 0)
        blobs = {"json": export.to_json(export.job_payload(job_id, status, results, usage)),
                 "csv": export.to_csv(results),
                 "xlsx": export.to_xlsx(results, variables, usage)}
        for fmt, data in blobs.items():
            self.store.write_export(job_id, f"results.{fmt}", data)
        self._safe_update(job_id, lambda s: s.update(exports_reviews_version=version))
        return blobs

    def _export_bytes(self, job_id: str, fmt: str) -> bytes:
        state = self.store.read_state(job_id)
        version = self.store.read_reviews(job_id).get("version", 0)
        data = self.store.read_export(job_id, f"results.{fmt}")
        fresh = state.get("exports_reviews_version") == version and state["status"] in TERMINAL \
            and state.get("stage") is None
        if data is not None and fresh:
            return data
        status = state["status"]
        if status in TERMINAL or state.get("stage") in ("exporting", "emailing"):
            return self._write_exports(job_id, status if status in TERMINAL else JobStatus.COMPLETED.value)[fmt]
        # still running: a snapshot of what is finished, not stored
        from policy_reader import export

        results = self._results(job_id)
        usage = _total_usage(results)
        if fmt == "json":
            return export.to_json(export.job_payload(job_id, status, results, usage))
        if fmt == "csv":
            return export.to_csv(results)
        variables = [Variable.model_validate(v) for v in self.store.read_manifest(job_id)["variables"]]
        return export.to_xlsx(results, variables, usage)

    def get_results(self, job_id: str, owner: str | None = None) -> list[DocumentResult]:
        """Finished documents in upload order, analyst reviews applied."""
        self._state_for(job_id, owner)
        return self._results(job_id)

    def get_variables(self, job_id: str, owner: str | None = None) -> list[Variable]:
        self._state_for(job_id, owner)
        return [Variable.model_validate(v) for v in self.store.read_manifest(job_id)["variables"]]

    def get_export(self, job_id: str, fmt: Literal["csv", "xlsx", "json"], owner: str | None = None) -> bytes:
        """The export in `fmt`, regenerated when reviews changed since it was written."""
        if fmt not in ("csv", "xlsx", "json"):
            raise JobError(f"Unknown export format {fmt!r}: use csv, xlsx or json.", code="format")
        self._state_for(job_id, owner)
        return self._export_bytes(job_id, fmt)

    def save_review(self, job_id: str, doc_id: str, variable: str, *, value: Any, reviewed: bool = True,
                    owner: str | None = None) -> None:
        """Store an analyst's correction; the model's value stays as original_value."""
        self._state_for(job_id, owner)
        check_doc_id(doc_id)
        manifest = self.store.read_manifest(job_id)
        if doc_id not in {d["doc_id"] for d in manifest["documents"]}:
            raise JobNotFound(f"No document {doc_id} in job {job_id}.")
        var = next((Variable.model_validate(v) for v in manifest["variables"] if v["name"] == variable), None)
        if var is None:
            raise VariablesError(f"No variable named {variable!r} in this job.")
        if self.store.read_result(job_id, doc_id) is None:
            raise JobError(f"Document {doc_id} has no results yet; review it once it is finished.", code="state")
        if value is not None:
            value = _coerce(var, value)

        def change(reviews: dict[str, Any]) -> None:
            items = reviews.setdefault("items", {})
            items.setdefault(doc_id, {})[variable] = {"value": value, "reviewed": bool(reviewed), "at": _iso()}

        self.store.update_reviews(job_id, change)
        self._event(job_id, "review.saved", doc_id=doc_id, variable=variable)

    # ------------------------------------------------------------------ reading jobs

    def _state_for(self, job_id: str, owner: str | None) -> dict[str, Any]:
        """The job's state, or JobNotFound when the id is invalid, unknown or not `owner`'s job."""
        state = self.store.read_state(check_job_id(job_id))
        if owner is not None and state.get("owner") != owner:
            raise JobNotFound(f"No job with id {job_id!r}.")
        return state

    def _view(self, state: dict[str, Any]) -> JobView:
        job_id = state["id"]
        view = {k: state.get(k) for k in JobView.model_fields if k in state}
        view["status"] = state["status"] if state["status"] in JobStatus._value2member_map_ else "pending"
        view["queue_position"] = self._queue.position(job_id) if state["status"] == JobStatus.PENDING.value else None
        view["usage"] = Usage.model_validate(state.get("usage") or {})
        view["in_flight"] = state.get("in_flight") or []
        view["recipients"] = state.get("recipients") or []
        view["email"] = state.get("email") or {}
        view["webhook"] = state.get("webhook") or {}
        view["eta_s"] = _eta(state)
        view["cancel_requested"] = bool(state.get("cancel_requested"))
        return JobView.model_validate(view)

    def _job_states(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every job's state; a job deleted or half-written meanwhile is skipped, not an error."""
        for job_id in self.store.list_job_ids():
            try:
                yield job_id, self.store.read_state(job_id)
            except (JobNotFound, OSError, ValueError):
                continue

    def get_job_status(self, job_id: str, owner: str | None = None) -> JobView:
        return self._view(self._state_for(job_id, owner))

    def list_jobs(self, owner: str | None = None) -> list[JobView]:
        """Jobs newest first; only `owner`'s jobs unless owner is None (admin / CLI)."""
        views = []
        for job_id, state in self._job_states():
            if owner is None or state.get("owner") == owner:
                views.append(self._view(state))
        views.sort(key=lambda v: v.created_at, reverse=True)
        return views

    def read_events(self, job_id: str, limit: int = 50, owner: str | None = None) -> list[dict[str, Any]]:
        self._state_for(job_id, owner)
        return self.store.read_events(job_id, max(1, int(limit)))

    def input_path(self, job_id: str, doc_id: str, owner: str | None = None) -> Path:
        self._state_for(job_id, owner)
        check_doc_id(doc_id)
        doc = next((d for d in self.store.read_manifest(job_id)["documents"] if d["doc_id"] == doc_id), None)
        if doc is None:
            raise JobNotFound(f"No document {doc_id} in job {job_id}.")
        return self.store.input_path(job_id, doc["stored"])

    def outbox_files(self, job_id: str, owner: str | None = None) -> list[Path]:
        self._state_for(job_id, owner)
        folder = self.store.outbox_dir(job_id)
        return sorted(folder.glob("*.eml")) if folder.is_dir() else []

    def update_progress(self, job_id: str, **changes: Any) -> None:
        """Merge progress fields into the job (throttled when the job runs in this process)."""
        for key in ("id", "owner", "runner", "version"):
            changes.pop(key, None)
        check_job_id(job_id)
        with self._guard:
            run = self._runs.get(job_id)
        if run is not None:
            with run.lock:
                if "stage" in changes:
                    run.stage = changes.pop("stage")
                run.extra.update(changes)
                run.dirty = True
            return
        self.store.update_state(job_id, lambda s: s.update(changes))

    # ------------------------------------------------------------------ control

    def cancel_job(self, job_id: str, owner: str | None = None) -> None:
        """Stop the job promptly; finished documents and their exports are kept.

        A job running in another process gets a cancel request in job.json, which that process
        notices within about a second.
        """
        state = self._state_for(job_id, owner)
        if state["status"] in TERMINAL:
            return
        if self._azure is not None:
            self._azure.cancel(job_id)
            with self._done_cond:
                self._done_cond.notify_all()
            return
        with self._guard:
            run = self._runs.get(job_id)
        if run is not None:
            self.store.update_state(job_id, lambda s: s.update(cancel_requested=True))
            run.stop("cancel")
            self._event(job_id, "job.cancel_requested")
            return
        self._queue.remove(job_id)
        with self._guard:
            self._queued.pop(job_id, None)
        stopped_here = {"value": False}

        def change(s: dict[str, Any]) -> None:
            running_elsewhere = s["status"] == JobStatus.RUNNING.value and self._owner_alive(s)
            if running_elsewhere:
                s["cancel_requested"] = True
            elif s["status"] not in TERMINAL:
                s.update(status=JobStatus.CANCELLED.value, finished_at=_iso(), queued=False, runner=None,
                         in_flight=[], stage=None, cancel_requested=False)
                stopped_here["value"] = True

        self.store.update_state(job_id, change)
        self._event(job_id, "job.cancelled" if stopped_here["value"] else "job.cancel_requested")
        with self._done_cond:
            self._done_cond.notify_all()

    def resume_job(self, job_id: str, owner: str | None = None) -> None:
        """Queue the documents that have no result yet (interrupted, cancelled or failed jobs)."""
        if self.settings.startup_problem:  # issue 15: see create_job
            raise ConfigError(f"Policy Reader cannot start jobs: {self.settings.startup_problem}")
        state = self._state_for(job_id, owner)
        status = state["status"]
        if status == JobStatus.RUNNING.value and self._owner_alive(state):
            raise JobError(f"Job {job_id} is running; nothing to resume.", code="state")
        if status == JobStatus.PENDING.value and self._owner_alive(state):
            return
        if status == JobStatus.COMPLETED.value and len(self.store.list_results(job_id)) >= state["documents_total"]:
            raise JobError(f"Job {job_id} has finished every document; nothing to resume.", code="state")
        self._event(job_id, "job.resumed", previous=status)
        self._enqueue(job_id)

    def delete_job(self, job_id: str, owner: str | None = None) -> None:
        state = self._state_for(job_id, owner)
        active = state["status"] in (JobStatus.RUNNING.value, JobStatus.PENDING.value)
        if active and (self._owner_alive(state) or self._azure is not None):
            raise JobError("Cancel the job before deleting it.", code="state")
        self.store.delete_job(job_id)
        self._passwords.pop(job_id, None)

    def resend_email(self, job_id: str, owner: str | None = None) -> None:
        """Send the results email again, with reviews applied. Raises EmailError (also recorded)."""
        state = self._state_for(job_id, owner)
        if not state.get("recipients"):
            raise JobError("This job has no email recipients.", code="no_recipients")
        if state["status"] not in TERMINAL:
            raise JobError("The job has not finished yet; the email is sent when it does.", code="state")
        info = self._send_email(job_id, state["status"])
        self._safe_update(job_id, lambda s: s.update(email=info))
        if info.get("status") != "sent":
            raise EmailError(info.get("error") or "Email could not be sent.", code=info.get("code") or "email")

    def recover_interrupted(self) -> list[str]:
        """Resume jobs whose owning process died: stale heartbeat, or a dead pid on this host."""
        if self._azure is not None:  # the queue redelivers a dead worker's document by itself
            return self._azure.sweep()
        resumed = []
        for job_id, state in self._job_states():
            status = state.get("status")
            candidate = (status == JobStatus.RUNNING.value
                         or status == JobStatus.INTERRUPTED.value
                         or (status == JobStatus.PENDING.value and state.get("queued")))
            if not candidate or self._owner_alive(state):
                continue
            if self._take_over(job_id):
                resumed.append(job_id)
        return resumed

    def _take_over(self, job_id: str) -> bool:
        taken = {"value": False, "previous": None}
        token = self._token()

        def change(state: dict[str, Any]) -> Any:
            status = state.get("status")
            if status not in (JobStatus.RUNNING.value, JobStatus.INTERRUPTED.value, JobStatus.PENDING.value):
                return False
            if self._owner_alive(state):
                return False
            taken.update(value=True, previous=status)
            state.update(status=JobStatus.PENDING.value, queued=True, runner=token, heartbeat_at=_iso(),
                         in_flight=[], stage="queued")
            return None

        try:
            self.store.update_state(job_id, change)
        except JobNotFound:
            return False
        if not taken["value"]:
            return False
        if taken["previous"] == JobStatus.RUNNING.value:
            self._event(job_id, "job.interrupted", reason="its process stopped (no heartbeat)")
        self._event(job_id, "job.resumed", previous=taken["previous"])
        priority = int(self.store.read_state(job_id).get("priority") or 0)
        with self._guard:
            self._queued[job_id] = time.monotonic()
        self._queue.put(job_id, priority)
        self._ensure_started()
        return True

    def cleanup_old_jobs(self, max_age_hours: float | None = None) -> list[str]:
        """Delete finished jobs older than JOB_TTL_HOURS. Never touches a pending or running job."""
        hours = self.settings.job_ttl_hours if max_age_hours is None else max_age_hours
        cutoff = _now() - timedelta(hours=hours)
        removed = []
        for job_id, state in self._job_states():
            with self._guard:
                busy = job_id in self._runs or job_id in self._queued
            status = state.get("status")
            if busy or status not in TERMINAL | {JobStatus.INTERRUPTED.value}:
                continue
            if status == JobStatus.INTERRUPTED.value and self._owner_alive(state):
                continue
            moment = _parse(state.get("finished_at")) or _parse(state.get("heartbeat_at")) \
                or _parse(state.get("created_at"))
            if moment is None or moment > cutoff:
                continue
            try:
                self.store.delete_job(job_id)
                removed.append(job_id)
            except (JobNotFound, OSError):
                continue
        return removed

    # ------------------------------------------------------------------ metrics, waiting, shutdown

    def metrics(self, owner: str | None = None) -> dict[str, Any]:
        """For the admin view: jobs by status, documents per minute, tokens and cost per day."""
        views = self.list_jobs(owner)
        by_status = Counter(v.status.value for v in views)
        now = _now()
        docs = 0
        minutes = 0.0
        per_day: dict[str, dict[str, Any]] = {}
        for view in views:
            started = _parse(view.started_at)
            if started and now - started < timedelta(days=1):
                end = _parse(view.finished_at) or now
                minutes += max((end - started).total_seconds(), 1.0) / 60
                docs += view.documents_done
            day = (view.created_at or "")[:10]
            entry = per_day.setdefault(day, {"jobs": 0, "documents": 0, "tokens": 0, "cost_usd": 0.0})
            entry["jobs"] += 1
            entry["documents"] += view.documents_done
            entry["tokens"] += view.usage.prompt_tokens + view.usage.completion_tokens
            entry["cost_usd"] = round(entry["cost_usd"] + view.usage.cost_usd, 6)
        return {"jobs_by_status": {s.value: by_status.get(s.value, 0) for s in JobStatus},
                "jobs_total": len(views),
                "documents_per_minute": round(docs / minutes, 2) if minutes else 0.0,
                "per_day": dict(sorted(per_day.items(), reverse=True)),
                "queue_length": self._azure.queue_length() if self._azure is not None else len(self._queue),
                "running_here": len(self._runs)}

    def wait(self, job_id: str, timeout: float | None = None) -> JobView:
        """Block until the job is completed, failed or cancelled (or `timeout` passes)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            view = self.get_job_status(job_id)
            if view.finished:
                return view
            if view.status == JobStatus.INTERRUPTED and self._closed:
                return view
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return view
            with self._done_cond:
                self._done_cond.wait(0.2 if remaining is None else min(0.2, remaining))

    def shutdown(self, wait: bool = False) -> None:
        """Stop the manager. wait=True lets queued and running jobs finish first; otherwise running
        jobs stop between chunks and are left INTERRUPTED, to be resumed by the next start."""
        if self._closed:
            return
        if wait:
            while True:
                with self._guard:
                    busy = bool(self._runs) or bool(self._queued)
                if not busy:
                    break
                with self._done_cond:
                    self._done_cond.wait(0.2)
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
        _LIVE_MANAGERS.discard(self.manager_id)
        if self._azure is not None:
            self._azure.stop()
        self._queue.close()
        if self._doc_pool is not None:
            self._doc_pool.shutdown(wait=False, cancel_futures=True)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2)

    # ------------------------------------------------------------------ checks

    def _check_recipients(self, recipients: Sequence[str]) -> list[str]:
        cleaned = [r.strip() for r in recipients if r and r.strip()]
        if not cleaned:
            return []
        from policy_reader.emailer import validate_recipients

        return validate_recipients(cleaned)

    def _check_backend(self, options: JobOptions) -> tuple[str, str]:
        """Fail at creation (ConfigError) when the chosen backend cannot run, e.g. a missing key."""
        from policy_reader.extractor import make_extractor

        backend = options.backend or self.settings.resolved_backend
        if backend == "auto":
            backend = self.settings.resolved_backend
        make_extractor(self.settings, backend=backend, model=options.model)
        if options.model:
            model = options.model
        elif backend == "azure":
            model = self.settings.azure_openai_deployment or ""
        elif backend == "openai":
            model = self.settings.openai_model
        else:
            model = "offline"
        return backend, model

    def _check_user_limits(self, owner: str, documents: int) -> None:
        """Per-user limits (policy_reader/limits.py): LimitExceeded says which limit and when it resets."""
        from policy_reader import limits

        s = self.settings
        if not (s.user_max_concurrent_jobs or s.user_max_documents_per_day or s.user_max_pages_per_day):
            return
        states = [state for _job_id, state in self._job_states()]
        now = _now()
        limits.check_new_job(s, limits.user_usage(states, owner, now), documents, now)

    def _event(self, job_id: str, kind: str, **fields: Any) -> None:
        event = {"t": _iso(), "type": kind, **{k: v for k, v in fields.items() if v is not None}}
        try:
            self.store.append_event(job_id, event)
        except (JobNotFound, OSError):
            pass

    def __enter__(self) -> "JobManager":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(wait=False)


# --------------------------------------------------------------------------- pure helpers

def _make_store(settings: Settings) -> JobStore:
    if settings.job_store == "azure":
        from policy_reader.azure_store import AzureJobStore

        return AzureJobStore(settings)
    return FileJobStore(Path(settings.jobs_dir))


def _make_queue_worker(manager: "JobManager") -> Any:
    """JOB_STORE=azure: the QueueWorker that feeds documents through Azure Queue Storage, else None."""
    if manager.settings.job_store != "azure":
        return None
    from policy_reader.azure_store import AzureJobStore
    from policy_reader.worker import QueueWorker

    if not isinstance(manager.store, AzureJobStore):
        return None
    return QueueWorker(manager)


def _size_of(data: bytes | Path) -> int:
    return len(data) if isinstance(data, (bytes, bytearray)) else Path(data).stat().st_size


def _largest_first(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Start the biggest documents first (longest-processing-time-first scheduling).

    A 300-page report started last would leave its chunks running alone at the end of the job;
    started first, its calls overlap with the small documents' calls. Results keep their doc ids,
    so the order of the exports does not change.
    """
    return sorted(documents, key=lambda doc: -int(doc.get("size") or 0))


def _safe_name(filename: str) -> str:
    from policy_reader.pdf_text import sanitize_filename

    return sanitize_filename(filename) or "document.pdf"


def _coerce(variable: Variable, value: Any) -> Any:
    """An analyst's correction, typed like the model's answers; anything doubtful is refused with
    the reason (a review is a deliberate value, unlike a model answer that is only flagged)."""
    from policy_reader.variables import coerce_value

    typed, problem = coerce_value(variable, value)
    if problem:
        raise VariablesError(f"{variable.name}: {problem}")
    return typed


def _apply_reviews(result: DocumentResult, reviews: dict[str, Any]) -> DocumentResult:
    if not reviews:
        return result
    answers = []
    for answer in result.variables:
        review = reviews.get(answer.name)
        if review is None:
            answers.append(answer)
            continue
        update: dict[str, Any] = {"reviewed": bool(review.get("reviewed", True))}
        if review.get("value") != answer.value:
            update.update(value=review.get("value"), original_value=answer.value)
        if update["reviewed"] and answer.status == AnswerStatus.NEEDS_REVIEW:
            update["status"] = AnswerStatus.ACCEPTED if update.get("value", answer.value) is not None \
                else AnswerStatus.NOT_FOUND
        answers.append(answer.model_copy(update=update))
    return result.model_copy(update={"variables": answers})


def _total_usage(results: Sequence[DocumentResult]) -> Usage:
    total = Usage()
    for result in results:
        total = total.add(result.usage)
    return total


def _eta(state: dict[str, Any]) -> float | None:
    if state.get("status") != JobStatus.RUNNING.value:
        return None
    started = _parse(state.get("run_started_at"))
    done_now = int(state.get("documents_done", 0)) - int(state.get("run_done_base", 0) or 0)
    remaining = int(state.get("documents_total", 0)) - int(state.get("documents_done", 0))
    if not started or done_now <= 0 or remaining <= 0:
        return None
    elapsed = (_now() - started).total_seconds()
    return round(elapsed / done_now * remaining, 1)


__all__ = ["JobManager", "JobStatus", "JobOptions", "JobView", "current_user"]
