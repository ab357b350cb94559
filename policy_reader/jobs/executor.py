"""The seam between the job facade and the machinery that runs documents.

Two implementations share every lifecycle step (jobs/lifecycle.py, jobs/document.py,
jobs/transitions.py) and differ only in how work is handed out:

- `LocalExecutor` (jobs/local.py): threads in this process take queued jobs; one process owns a
  running job, proven by its lease and heartbeat. JOB_STORE=file.
- `QueueExecutor` (jobs/queued.py): one message per document on Azure Queue Storage; every process
  (app instances, the CLI, headless workers) takes documents of any job. JOB_STORE=azure.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Executor(Protocol):
    @property
    def started(self) -> bool:
        """Has it started taking work? (Never, in a process whose configuration is broken.)"""

    def start(self) -> None:
        """Start taking work (idempotent)."""

    def submit(self, job_id: str) -> None:
        """Start a new run of the job: its documents without a result are queued."""

    def cancel(self, job_id: str) -> None:
        """Stop the job promptly; finished documents (and the run's exports and email) are kept."""

    def recover(self) -> list[str]:
        """Take over what dead or frozen processes left behind. Returns the job ids resumed or finished."""

    def is_live(self, state: dict[str, Any]) -> bool:
        """Is a live run of this job queued or running (here or in another process)?"""

    def is_busy_here(self, job_id: str) -> bool:
        """Is the job queued or running in this process?"""

    def queue_position(self, job_id: str) -> int | None: ...

    def queue_length(self) -> int: ...

    def running_here(self) -> int: ...

    def note_progress(self, job_id: str, changes: dict[str, Any]) -> bool:
        """Merge progress fields into a job running here (throttled); False when it does not run here."""

    def shutdown(self, wait: bool = False) -> None:
        """Stop; running jobs are left to be resumed (wait=True lets queued and running ones finish)."""


def make_executor(services: Any, *, background: bool) -> Executor:
    """The executor for the configured store: threads here (file) or the shared work queue (azure).
    background: recover and clean up periodically (the app, a worker), or only run what is submitted."""
    if services.settings.job_store == "azure":
        from policy_reader.jobs.queue_executor import QueueExecutor

        return QueueExecutor(services, cleanup=background)
    from policy_reader.jobs.local_executor import LocalExecutor

    return LocalExecutor(services, background=background)
