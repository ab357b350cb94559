"""The jobs API: create, run, watch, cancel, resume, review and export background jobs.

The UI (main.py) and the CLI (policy_reader/cli.py) only ever talk to `JobManager`, a thin facade:
each public method checks its arguments (ids, ownership, state) and delegates to the job engine in
`policy_reader/jobs/` — the services (results, exports, email, events) and one `Executor`:

- JOB_STORE=file: `LocalExecutor`, jobs run in threads of this process, state in JOBS_DIR;
- JOB_STORE=azure: `QueueExecutor`, one Azure Queue message per document, state in Blob Storage.

How a job runs: `create_job` stores everything the job needs; `run_job_async` only queues it, so it
returns at once whatever the job's size. Each finished document is written once (the checkpoint), so
a resumed job never sends a finished document to the model again; a run ends with exports, the
email and the webhook, exactly once. See docs/DESIGN.md for the map.

The module-level functions (`get_job_manager`, `create_job`, `run_job_async`, `get_job_status`,
`update_progress`, `cleanup_old_jobs`) are thin wrappers over the process-wide manager, for code
written against the module API this product grew from.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Sequence

from policy_reader.auth import current_user
from policy_reader.config import Settings, get_settings
from policy_reader.errors import ConfigError, EmailError, JobDamaged, JobError, JobNotFound, LimitExceeded
from policy_reader.jobs import JobOptions, JobStatus, JobView, build_services
from policy_reader.jobs import intake, ledger, lifecycle, limits
from policy_reader.jobs import transitions as tr
from policy_reader.jobs.executor import Executor, make_executor
from policy_reader.jobs.metrics import job_metrics
from policy_reader.jobs.retention import cleanup_old_jobs as _cleanup, delete_job, job_states
from policy_reader.jobs.state import TERMINAL, view_of
from policy_reader.jobs.store import JobStore, check_doc_id, check_job_id
from policy_reader.models import DocumentResult, Review, ReviewBatch, ReviewDecision, SkippedFile, Variable

if TYPE_CHECKING:
    from policy_reader.accuracy.gold import Evaluation
    from policy_reader.accuracy.audit import AuditEstimate, AuditRecord



class JobManager:
    """Runs extraction jobs in the background; one instance per process (the UI caches it).

    start=True (the app): take work at once, resume interrupted jobs, recover and clean up
    periodically. start=False (the CLI): take work only once a job is submitted."""

    def __init__(self, settings: Settings | None = None, *, start: bool = True, store: JobStore | None = None) -> None:
        self.settings = settings or get_settings()
        start = start and not self.settings.startup_problem  # a bad setting at start-up: run nothing
        self.services = build_services(self.settings, store)
        self.store: JobStore = self.services.store
        self.executor: Executor = make_executor(self.services, background=start)
        self._closed = False
        if start:  # a background executor also cleans up old jobs (retention.CLEANUP_EVERY_S)
            self.executor.start()
            self.recover_interrupted()

    # ------------------------------------------------------------------ create and run

    def create_job(self, *, name: str, files: Sequence[tuple[str, bytes | Path]], variables: Sequence[Variable],
                   recipients: Sequence[str] = (), owner: str = "local", options: JobOptions | None = None,
                   skipped: Sequence[SkippedFile] = ()) -> str:
        """Check and store the inputs; the job is PENDING until run_job_async. `skipped`: the uploads
        that screening left out (intake.screen_files), kept in the job's record with their reasons."""
        self._refuse_when_misconfigured()
        return intake.create_job(self.services, name=name, files=files, variables=variables,
                                 recipients=recipients, owner=owner, options=options, skipped=skipped)

    def submit(self, **create_kwargs: Any) -> str:
        """create_job + run_job_async."""
        job_id = self.create_job(**create_kwargs)
        self.run_job_async(job_id)
        return job_id

    def run_job_async(self, job_id: str) -> None:
        """Queue the job (priority first, then FIFO). Returns at once: inputs are already stored."""
        state = self.store.read_state(check_job_id(job_id))
        if state["status"] in (JobStatus.RUNNING.value, JobStatus.PENDING.value) and self.executor.is_live(state):
            return  # already running or queued by a live process
        if state["status"] in TERMINAL:
            raise JobError(f"Job {job_id} has already {state['status']}; use resume_job to run what is left.",
                           code="state")
        self.executor.submit(job_id)

    def resume_job(self, job_id: str, owner: str | None = None) -> None:
        """Queue the documents that have no result yet (interrupted, cancelled or failed jobs)."""
        self._refuse_when_misconfigured()
        state = self._state_for(job_id, owner)
        status = state["status"]
        if status == JobStatus.RUNNING.value and self.executor.is_live(state):
            raise JobError(f"Job {job_id} is running; nothing to resume.", code="state")
        if status == JobStatus.PENDING.value and self.executor.is_live(state):
            return
        done = len(self.store.list_results(job_id))
        if status == JobStatus.COMPLETED.value and done >= state["documents_total"]:
            raise JobError(f"Job {job_id} has finished every document; nothing to resume.", code="state")
        # the same limits as a new job, checked and recorded in one step (cancel + resume is no way around them)
        ledger.admit_job(self.store, self.settings, state.get("owner") or "local", job_id,
                         max(0, int(state.get("documents_total") or 0) - done), resume=True)
        self.services.events.emit(job_id, "job.resumed", previous=status)
        self.executor.submit(job_id)

    def rerun(self, job_id: str, *, doc_ids: Sequence[str] | None = None, variables: Sequence[str] | None = None,
              password: str | None = None, model: str | None = None, keep_corrections: bool = True,
              owner: str | None = None) -> None:
        """Run some documents of a job again (`doc_ids`), or some variables across it (`variables`, for
        every document unless `doc_ids` narrows it), e.g. once a password is supplied or with another
        allowed `model`. Queued like a resume (same executor, limits, exports and email); answers that did
        not change come from the answer cache; the analyst's corrections are kept unless
        `keep_corrections` is False. JobError while the job runs; see jobs/rerun.py."""
        from policy_reader.jobs import rerun

        self._refuse_when_misconfigured()
        state = self._state_for(job_id, owner)
        if state["status"] in (JobStatus.RUNNING.value, JobStatus.PENDING.value) and self.executor.is_live(state):
            raise JobError(f"Job {job_id} is {state['status']}: re-run part of it once it has finished (or cancel "
                           "it first).", code="state")
        self.services.vault.put(job_id, password)
        plan = rerun.prepare(self.services, job_id, doc_ids=doc_ids, variables=variables, model=model,
                             keep_corrections=keep_corrections)
        self.services.events.emit(job_id, "job.rerun", documents=len(plan.doc_ids), variables=plan.variables,
                                  model=plan.model, keep_corrections=keep_corrections)
        self.executor.submit(job_id)

    def cancel_job(self, job_id: str, owner: str | None = None) -> None:
        """Stop the job promptly; finished documents and their exports are kept. A job running in
        another process gets a cancel request in job.json, which that process notices within ~1 s."""
        state = self._state_for(job_id, owner)
        if state["status"] in TERMINAL:
            return
        self.executor.cancel(job_id)
        self.services.job_ended()

    def delete_job(self, job_id: str, owner: str | None = None) -> None:
        """Delete the job and its files. A job whose state file is damaged can be deleted by an
        administrator or the CLI (owner=None): its owner can no longer be read."""
        try:
            state = self._state_for(job_id, owner)
        except JobDamaged:
            if owner is not None:
                raise
            state = None
        if state is not None and state["status"] in (JobStatus.RUNNING.value, JobStatus.PENDING.value) \
                and self.executor.is_live(state):
            raise JobError("Cancel the job before deleting it.", code="state")
        delete_job(self.store, self.services.cache, job_id)
        self.services.vault.drop(job_id)
        if state is not None:  # its slot is free at once; what it used stays in the ledger
            ledger.job_over(self.store, state.get("owner") or "local", job_id)

    def recover_interrupted(self) -> list[str]:
        """Resume jobs whose owning process died (stale heartbeat, or a dead pid on this host), and send the
        webhooks of finished jobs whose sender died before recording them."""
        resumed = self.executor.recover()
        lifecycle.send_pending_webhooks(self.services)
        return resumed

    def cleanup_old_jobs(self, max_age_hours: float | None = None) -> list[str]:
        """Delete finished jobs older than JOB_TTL_HOURS. Never touches a pending or running job."""
        hours = self.settings.job_ttl_hours if max_age_hours is None else max_age_hours
        return _cleanup(self.store, self.services.cache, hours, busy=self.executor.is_busy_here,
                        live=self.executor.is_live)

    def update_progress(self, job_id: str, **changes: Any) -> None:
        """Merge progress fields into the job (throttled when the job runs in this process)."""
        for key in ("id", "owner", "runner", "version", "run", "status"):
            changes.pop(key, None)
        check_job_id(job_id)
        if not self.executor.note_progress(job_id, changes):
            self.store.update_state(job_id, lambda s: s.update(changes))

    # ------------------------------------------------------------------ read

    def get_job_status(self, job_id: str, owner: str | None = None) -> JobView:
        return self._view(self._state_for(job_id, owner))

    def list_jobs(self, owner: str | None = None) -> list[JobView]:
        """Jobs newest first; only `owner`'s jobs unless owner is None (admin / CLI)."""
        views = [self._view(state) for _id, state in job_states(self.store)
                 if owner is None or state.get("owner") == owner]
        views.sort(key=lambda v: v.created_at, reverse=True)
        return views

    def get_results(self, job_id: str, owner: str | None = None) -> list[DocumentResult]:
        """Finished documents in upload order, analyst reviews applied."""
        self._state_for(job_id, owner)
        return self.services.book.results(job_id)

    def get_variables(self, job_id: str, owner: str | None = None) -> list[Variable]:
        self._state_for(job_id, owner)
        return self.services.book.variables(job_id)

    def get_export(self, job_id: str, fmt: Literal["csv", "xlsx", "json"], owner: str | None = None) -> bytes:
        """The export in `fmt` (a name of delivery/formats.EXPORT_FORMATS), regenerated when reviews changed
        since it was written."""
        self.services.exporter.check_format(fmt)
        self._state_for(job_id, owner)
        return self.services.exporter.get(job_id, fmt)

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

    def metrics(self, owner: str | None = None) -> dict[str, Any]:
        """For the admin view: jobs by status, documents per minute, tokens and cost per day."""
        return job_metrics(self.list_jobs(owner), queue_length=self.executor.queue_length(),
                           running_here=self.executor.running_here())

    # ------------------------------------------------------------------ reviews and email

    def save_review(self, job_id: str, doc_id: str, variable: str, *, value: Any, reviewed: bool = True,
                    note: str = "", owner: str | None = None) -> Review:
        """Store an analyst's correction (or confirmation) with who (`owner`), when and `note`; the
        engine's value stays as original_value. A value that does not fit the variable's type raises
        ReviewRefused and nothing is saved. Returns the review as stored (say *that* to the analyst)."""
        self._state_for(job_id, owner)
        review = self.services.book.save_review(job_id, doc_id, variable, value=value, reviewed=reviewed,
                                                note=note, by=_reviewer(owner))
        self.services.events.emit(job_id, "review.saved", doc_id=doc_id, variable=variable,
                                  corrected=review.changed)
        return review

    def save_reviews(self, job_id: str, decisions: Sequence[ReviewDecision], *,
                     owner: str | None = None) -> ReviewBatch:
        """Apply many review decisions at once (a bulk accept, a document marked reviewed): all are
        checked first, then stored in one conditional write. Returns the action's id (for undo_reviews)
        and the answers it changed (decisions that change nothing are left out)."""
        self._state_for(job_id, owner)
        batch = self.services.book.save_reviews(job_id, decisions, by=_reviewer(owner))
        if batch.changes:
            self.services.events.emit(job_id, "review.bulk", action=batch.action_id, changed=batch.count)
        return batch

    def undo_reviews(self, job_id: str, action_id: str, *, owner: str | None = None) -> ReviewBatch:
        """Undo one review action (save_reviews, or a save_review's): exactly the answers it changed get
        their previous review back, unless reviewed again since. JobError(code="undo") when unknown."""
        self._state_for(job_id, owner)
        batch = self.services.book.undo_reviews(job_id, str(action_id)[:40])
        self.services.events.emit(job_id, "review.undone", action=batch.action_id, changed=batch.count)
        return batch

    def resend_email(self, job_id: str, owner: str | None = None) -> None:
        """Send the results email again, with reviews applied. Raises EmailError (also recorded), or
        LimitExceeded (nothing sent) past EMAIL_MAX_RESENDS_PER_JOB, EMAIL_MAX_RESENDS_PER_HOUR or the user's
        USER_MAX_EMAILS_PER_DAY."""
        state = self._state_for(job_id, owner)
        if not state.get("recipients"):
            raise JobError("This job has no email recipients.", code="no_recipients")
        if state["status"] not in TERMINAL:
            raise JobError("The job has not finished yet; the email is sent when it does.", code="state")
        notifier = self.services.notifier
        if not tr.apply(self.store, job_id, tr.count_resend, self.settings.email_max_resends_per_job)[0]:
            raise LimitExceeded(limits.resend_job_message(self.settings, int(state.get("email_resends") or 0)))
        message_id = notifier.new_message_id()
        if notifier.one_by_one():  # counted before anything goes out; a refused resend changes nothing else
            deliveries = notifier.plan(job_id, message_id)
            try:
                notifier.reserve(job_id, len(deliveries), resend=True)
            except LimitExceeded:
                tr.apply(self.store, job_id, tr.uncount_resend)
                raise
            tr.apply(self.store, job_id, tr.resend_intent, message_id, deliveries)
        info = notifier.send_email(job_id, state["status"], message_id=message_id)
        self.services.safe_apply(job_id, tr.resend_outcome, info)
        if info.get("status") != "sent":
            raise EmailError(info.get("error") or "Email could not be sent.", code=info.get("code") or "email")

    # ------------------------------------------------------------------ measured accuracy

    def evaluate(self, job_id: str, gold: bytes, filename: str = "gold.csv", *, as_extracted: bool = False,
                 owner: str | None = None) -> Evaluation:
        """The finished job's answers against a gold CSV (`file, variable, value[, page]`), parsed in a
        reader process with GOLD_MAX_MB / GOLD_MAX_ROWS. Reviews applied unless `as_extracted`.
        Raises GoldError (the file, naming the row) or JobError (the job has not finished)."""
        self._state_for(job_id, owner)
        from policy_reader.accuracy.gold import load_gold

        rows = load_gold(bytes(gold), filename, self.settings)
        return self.services.accuracy.evaluate(job_id, rows, filename=filename, as_extracted=as_extracted)

    def start_audit(self, job_id: str, *, margin: float | None = None, seed: int | None = None,
                    replace: bool = False, owner: str | None = None) -> AuditRecord:
        """Draw a reproducible random sample of the finished job's accepted answers, sized for `margin`
        (AUDIT_MARGIN by default), and store it with the job. `replace` discards an earlier sample."""
        self._state_for(job_id, owner)
        margin = self.settings.audit_margin if margin is None else float(margin)
        if not 0 < margin < 1:
            raise JobError(f"The margin of error must be between 0 and 1 (0.05 = ±5%), not {margin:g}.", code="audit")
        record = self.services.accuracy.start(job_id, margin=margin, seed=seed, replace=replace)
        self.services.events.emit(job_id, "audit.drawn", sample=len(record.items), population=record.population,
                                  margin=margin, seed=record.seed)
        return record

    def get_audit(self, job_id: str, owner: str | None = None) -> AuditRecord | None:
        """The job's audit sample and its marks (None when none was drawn)."""
        self._state_for(job_id, owner)
        return self.services.accuracy.record(job_id)

    def audit_estimate(self, job_id: str, owner: str | None = None) -> AuditEstimate | None:
        """The accuracy of the accepted answers estimated from the marks so far, with its interval."""
        self._state_for(job_id, owner)
        return self.services.accuracy.estimate(job_id)

    def mark_audit(self, job_id: str, doc_id: str, variable: str, *, correct: bool | None,
                   owner: str | None = None) -> None:
        """Mark a sampled answer right or wrong (None clears it); the exports and the email follow."""
        self._state_for(job_id, owner)
        self.services.accuracy.mark(job_id, doc_id, variable, correct)
        self.services.events.emit(job_id, "audit.marked", doc_id=doc_id, variable=variable, correct=correct)

    # ------------------------------------------------------------------ waiting and stopping

    def wait(self, job_id: str, timeout: float | None = None) -> JobView:
        """Block until the job is completed, failed or cancelled (or `timeout` passes), and its webhook, when this
        process is sending it (after the final state, within WEBHOOK_DEADLINE_S), has its outcome: a CLI
        run that exits once its job is done still delivers it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            view = self.get_job_status(job_id)
            if (view.finished and not _webhook_sent_here(view)) or \
                    (view.status == JobStatus.INTERRUPTED and self._closed):
                return view
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return view
            with self.services.ended:
                self.services.ended.wait(0.2 if remaining is None else min(0.2, remaining))

    def shutdown(self, wait: bool = False) -> None:
        """Stop. wait=True lets queued and running jobs finish first; otherwise running jobs stop
        between chunks and are left to be resumed by the next start."""
        if self._closed:
            return
        self.executor.shutdown(wait=wait)
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "JobManager":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(wait=False)

    # ------------------------------------------------------------------ helpers

    def _refuse_when_misconfigured(self) -> None:
        """The app came up with a bad setting (config.startup_settings): it says why and runs no job."""
        if self.settings.startup_problem:
            raise ConfigError(f"Policy Reader cannot start jobs: {self.settings.startup_problem}")

    def _state_for(self, job_id: str, owner: str | None) -> dict[str, Any]:
        """The job's state, or JobNotFound when the id is invalid, unknown or not `owner`'s job."""
        state = self.store.read_state(check_job_id(job_id))
        if owner is not None and state.get("owner") != owner:
            raise JobNotFound(f"No job with id {job_id!r}.")
        return state

    def _view(self, state: dict[str, Any]) -> JobView:
        return view_of(state, self.executor.queue_position(state["id"]))


def _webhook_sent_here(view: JobView) -> bool:
    import os

    from policy_reader.jobs.liveness import HOST

    hook = view.webhook or {}
    return hook.get("status") == "sending" and hook.get("pid") == os.getpid() and hook.get("host") == HOST


def _reviewer(owner: str | None) -> str:
    """Who a review is recorded as: the signed-in user; the command line (owner None) says so."""
    return owner if owner else "command line"


# --------------------------------------------------------------------------- module API

_PROCESS_MANAGER: JobManager | None = None
_PROCESS_LOCK = threading.Lock()


def get_job_manager(settings: Settings | None = None) -> JobManager:
    """The process-wide manager (the one the app uses), created on first use."""
    global _PROCESS_MANAGER
    with _PROCESS_LOCK:
        if _PROCESS_MANAGER is None or _PROCESS_MANAGER.closed:
            _PROCESS_MANAGER = JobManager(settings or get_settings())
        return _PROCESS_MANAGER


def create_job(*, name: str, files: Sequence[tuple[str, bytes | Path]], variables: Sequence[Variable],
               recipients: Sequence[str] = (), owner: str = "local", options: JobOptions | None = None,
               skipped: Sequence[SkippedFile] = ()) -> str:
    return get_job_manager().create_job(name=name, files=files, variables=variables, recipients=recipients,
                                        owner=owner, options=options, skipped=skipped)


def run_job_async(job_id: str) -> None:
    get_job_manager().run_job_async(job_id)


def get_job_status(job_id: str, owner: str | None = None) -> JobView:
    return get_job_manager().get_job_status(job_id, owner)


def update_progress(job_id: str, **changes: Any) -> None:
    get_job_manager().update_progress(job_id, **changes)


def cleanup_old_jobs(max_age_hours: float | None = None) -> list[str]:
    return get_job_manager().cleanup_old_jobs(max_age_hours)


__all__ = ["JobManager", "JobOptions", "JobStatus", "JobView", "cleanup_old_jobs", "create_job", "current_user",
           "get_job_manager", "get_job_status", "run_job_async", "update_progress"]
