"""The job model: statuses (defined once, here), job options, the view the UI and CLI read, and the
shape of a new job's state.

A job's state is the small JSON document `job.json` (a blob in the Azure store). It stays a plain
dict on disk so that both stores can apply conditional read-modify-write changes to it
(jobs/transitions.py); everything that leaves the engine is typed: `JobView`, `JobOptions`.
"""
from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from policy_reader.models import SkippedFile, Usage


class JobStatus(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


STATUSES = frozenset(s.value for s in JobStatus)
TERMINAL = frozenset({JobStatus.COMPLETED.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value})
ACTIVE = frozenset({JobStatus.PENDING.value, JobStatus.RUNNING.value})
#: Ended without finishing its documents: `resume_job` takes it up again (a completed job has nothing left).
RESUMABLE = frozenset({JobStatus.INTERRUPTED.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value})
#: Every status is active, terminal or interrupted (neither: waiting for `recover` or a resume); a new status
#: must be placed here, in the UI's badges (app/view.py) and the per-user limits (jobs/limits.py) — a test checks.
STOPPED = frozenset({JobStatus.INTERRUPTED.value})


class JobOptions(BaseModel):
    backend: str | None = None
    model: str | None = None
    ocr: bool | None = None
    accept_threshold: float | None = None
    password: str | None = None  # kept in memory only (never written to the job files)
    priority: int = 0
    batch: bool = False  # the provider's Batch API: half price, results within 24 h (jobs/batched.py)
    second_opinion: str | None = None  # None (off), "offline", or a model of the job's backend (second_opinion.py)


class _Record(BaseModel):
    """A part of job.json shown in the view: typed fields, and any other key an older or newer version
    wrote kept as it is (job.json files already on disk still load). `view.email["status"]` and
    `.get("status")` still read like the dict it was, for code written against it."""

    model_config = ConfigDict(extra="allow")

    def get(self, key: str, default: Any = None) -> Any:
        value = getattr(self, key, None)
        return default if value is None else value

    def __getitem__(self, key: str) -> Any:
        if key in type(self).model_fields or key in (self.model_extra or {}):
            return getattr(self, key)
        raise KeyError(key)


class InFlight(_Record):
    """A document being worked on (job.json `in_flight`)."""

    doc_id: str = ""
    file: str = ""
    stage: str = ""
    variables_done: int = 0
    variables_total: int = 0


class EmailInfo(_Record):
    """The results email (job.json `email`): status "sending" (intent recorded), "sent", "failed" or
    "unknown" (the app stopped mid-send); empty when none was due."""

    status: str | None = None
    mode: str | None = None  # "smtp" | "outbox"
    error: str | None = None
    code: str | None = None
    path: str | None = None
    message_id: str | None = None
    attempts: int | None = None
    sent_at: str | None = None
    refused: list[str] = Field(default_factory=list)
    run: int | None = None


class WebhookInfo(_Record):
    """The operator's webhook call (job.json `webhook`)."""

    status: str | None = None  # "sent" | "failed" | "skipped"
    attempts: int | None = None
    error: str | None = None


class BatchProgress(_Record):
    """A batch-mode job's batch at the provider (job.json `batch`)."""

    status: str | None = None
    answered: int = 0
    total: int = 0


class JobView(BaseModel):
    """What the UI and CLI show about a job (read from job.json plus the executor's queue)."""

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
    in_flight: list[InFlight] = Field(default_factory=list)
    stage: str | None = None
    eta_s: float | None = None
    usage: Usage = Field(default_factory=Usage)
    queue_position: int | None = None
    email: EmailInfo = Field(default_factory=EmailInfo)
    webhook: WebhookInfo = Field(default_factory=WebhookInfo)
    backend: str = ""
    model: str = ""
    recipients: list[str] = Field(default_factory=list)
    limit_message: str | None = None
    cancel_requested: bool = False
    warnings: list[str] = Field(default_factory=list)  # job-wide, e.g. OCR unavailable on this server
    batch: BatchProgress = Field(default_factory=BatchProgress)  # batch mode only
    skipped: list[SkippedFile] = Field(default_factory=list)  # uploads not read, with the reason (not in the total)

    @property
    def finished(self) -> bool:
        return self.status.value in TERMINAL

    @property
    def documents_skipped(self) -> int:
        return len(self.skipped)

    @property
    def files_uploaded(self) -> int:
        """Every file the analyst gave the job: the documents and the skipped files."""
        return self.documents_total + len(self.skipped)

    @property
    def documents_ok(self) -> int:
        return self.documents_done - self.documents_failed


def now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime | None = None) -> str:
    return (moment or now()).isoformat(timespec="milliseconds")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def age_s(value: str | None) -> float:
    """Seconds since an ISO time stamp (infinite when missing or unreadable)."""
    moment = parse_time(value)
    return (now() - moment).total_seconds() if moment else float("inf")


def new_state(*, job_id: str, name: str, owner: str, documents: int, recipients: list[str], backend: str,
              model: str, priority: int, skipped: list[SkippedFile] | None = None) -> dict[str, Any]:
    """job.json of a job that was just created (PENDING, not queued yet)."""
    return {
        "id": job_id, "name": name or "Untitled job", "owner": owner or "local",
        "status": JobStatus.PENDING.value, "created_at": iso(), "started_at": None, "finished_at": None,
        "heartbeat_at": None, "error": None, "documents_total": documents, "documents_done": 0,
        "documents_failed": 0, "in_flight": [], "stage": None, "usage": Usage().model_dump(mode="json"),
        "email": {"status": "pending" if recipients else "none"}, "webhook": {"status": "none"},
        "backend": backend, "model": model, "recipients": recipients, "limit_message": None,
        "priority": priority, "queued": False, "runner": None, "cancel_requested": False,
        "run": 0, "version": 0, "skipped": [f.model_dump(mode="json") for f in skipped or ()],
    }


def eta_s(state: dict[str, Any]) -> float | None:
    """Seconds left at the pace of this run so far (None until a document of this run finished)."""
    if state.get("status") != JobStatus.RUNNING.value:
        return None
    started = parse_time(state.get("run_started_at"))
    done_now = int(state.get("documents_done", 0)) - int(state.get("run_done_base", 0) or 0)
    remaining = int(state.get("documents_total", 0)) - int(state.get("documents_done", 0))
    if not started or done_now <= 0 or remaining <= 0:
        return None
    elapsed = (now() - started).total_seconds()
    return round(elapsed / done_now * remaining, 1)


def view_of(state: dict[str, Any], queue_position: int | None = None) -> JobView:
    """The typed view of a job.json (unknown statuses read as pending, never a crash)."""
    view = {k: state.get(k) for k in JobView.model_fields if k in state}
    view["status"] = state["status"] if state.get("status") in STATUSES else "pending"
    view["queue_position"] = queue_position if state.get("status") == JobStatus.PENDING.value else None
    view["usage"] = Usage.model_validate(state.get("usage") or {})
    view["in_flight"] = state.get("in_flight") or []
    view["recipients"] = state.get("recipients") or []
    view["email"] = state.get("email") or {}
    view["webhook"] = state.get("webhook") or {}
    view["eta_s"] = eta_s(state)
    view["cancel_requested"] = bool(state.get("cancel_requested"))
    view["warnings"] = state.get("warnings") or []
    view["batch"] = state.get("batch") or {}
    view["skipped"] = skipped_files(state)
    return JobView.model_validate(view)



def skipped_files(state: dict[str, Any]) -> list[SkippedFile]:
    """The job's skipped uploads (SkippedFile.list_from: old job.json files have none)."""
    return SkippedFile.list_from(state.get("skipped"))
