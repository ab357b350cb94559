"""Reading every job, and deleting finished jobs after JOB_TTL_HOURS."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from policy_reader.extraction.cache import AnswerCache
from policy_reader.errors import JobDamaged, JobNotFound
from policy_reader.jobs.state import TERMINAL, JobStatus, now, parse_time
from policy_reader.jobs.store import JobStore

log = logging.getLogger("policy_reader.jobs")


def job_states(store: JobStore) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every job's state; a job deleted or half-written meanwhile is skipped, not an error."""
    for job_id in store.list_job_ids():
        try:
            yield job_id, store.read_state(job_id)
        except (JobNotFound, JobDamaged, OSError):
            continue


def delete_job(store: JobStore, cache: AnswerCache | None, job_id: str) -> None:
    """Delete the job's files, then the cache entries no other job uses (its text goes with it)."""
    keys = _cache_keys(store, job_id)
    store.delete_job(job_id)
    if cache is not None and keys:
        try:
            cache.release(job_id, keys)
        except OSError as exc:  # the periodic sweep finishes it
            log.warning("cache entries of job %s not released yet: %s", job_id, exc)


def _cache_keys(store: JobStore, job_id: str) -> list[str]:
    try:
        return [key for doc_id in store.list_results(job_id)
                if (key := (store.read_result(job_id, doc_id) or {}).get("cache_key"))]
    except (JobNotFound, JobDamaged, OSError, ValueError):
        return []  # a damaged job: its entries are swept once unused


#: How often a background executor (the app's LocalExecutor, a queue worker) runs `cleanup_old_jobs`: the
#: executor owns the schedule, in the loop it already has (was: the facade and the queue executor each had one).
CLEANUP_EVERY_S = 3600.0


def cleanup_old_jobs(store: JobStore, cache: AnswerCache | None, max_age_hours: float, *,
                     busy: Callable[[str], bool], live: Callable[[dict[str, Any]], bool]) -> list[str]:
    """Delete finished jobs older than `max_age_hours`, and cache entries no job uses any more. Never
    touches a job that is pending, running, busy in this process, or interrupted with a live owner."""
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
            delete_job(store, cache, job_id)
            removed.append(job_id)
        except (JobNotFound, OSError):
            continue
    if cache is not None:
        try:
            cache.sweep(store.exists, min_age_s=3600)
        except OSError as exc:
            log.warning("answer cache sweep: %s", exc)
    return removed
