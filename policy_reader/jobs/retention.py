"""Reading every job, and deleting finished jobs after JOB_TTL_HOURS."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from ..errors import JobDamaged, JobNotFound
from .state import TERMINAL, JobStatus, now, parse_time
from .store import JobStore


def job_states(store: JobStore) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every job's state; a job deleted or half-written meanwhile is skipped, not an error."""
    for job_id in store.list_job_ids():
        try:
            yield job_id, store.read_state(job_id)
        except (JobNotFound, JobDamaged, OSError):
            continue


def cleanup_old_jobs(store: JobStore, max_age_hours: float, *, busy: Callable[[str], bool],
                     live: Callable[[dict[str, Any]], bool]) -> list[str]:
    """Delete finished jobs older than `max_age_hours`. Never touches a job that is pending, running,
    busy in this process, or interrupted with a live owner."""
    cutoff = now() - timedelta(hours=max_age_hours)
    removed = []
    for job_id, state in job_states(store):
        status = state.get("status")
        if busy(job_id) or status not in TERMINAL | {JobStatus.INTERRUPTED.value}:
            continue
        if status == JobStatus.INTERRUPTED.value and live(state):
            continue
        moment = parse_time(state.get("finished_at")) or parse_time(state.get("heartbeat_at")) \
            or parse_time(state.get("created_at"))
        if moment is None or moment > cutoff:
            continue
        try:
            store.delete_job(job_id)
            removed.append(job_id)
        except (JobNotFound, OSError):
            continue
    return removed
