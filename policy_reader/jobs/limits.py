"""Per-user limits, the same for both job stores (pure functions: the caller reads the job states).

Why here: the file store and the Azure store must refuse or stop work with the same rules and the
same words. A limit message always says which limit was hit and when it resets, e.g.
"Daily document limit reached (200 documents per day); it resets at 00:00 UTC (in 3 h 12 min)."
The user is Easy Auth's principal name (job_manager.current_user), else "local".
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

from policy_reader.config import Settings
from policy_reader.errors import LimitExceeded
from policy_reader.models import Usage

ACTIVE_STATUSES = ("pending", "running")


@dataclass(frozen=True)
class UserUsage:
    """What one user has in flight and has used today (UTC)."""

    active_jobs: int = 0
    documents_today: int = 0
    pages_today: int = 0


def _today(now: datetime) -> str:
    return now.astimezone(timezone.utc).date().isoformat()


def user_usage(states: Iterable[Mapping[str, Any]], owner: str, now: datetime) -> UserUsage:
    """Sum the user's active jobs, documents submitted today and pages read today.

    Pages are counted on the day the job was created (jobs keep `pages_read` in their state)."""
    today = _today(now)
    active = documents = pages = 0
    for state in states:
        if state.get("owner") != owner:
            continue
        if state.get("status") in ACTIVE_STATUSES:
            active += 1
        if str(state.get("created_at", "")).startswith(today):
            documents += int(state.get("documents_total", 0) or 0)
            pages += int(state.get("pages_read", 0) or 0)
    return UserUsage(active, documents, pages)


def resets_in(now: datetime) -> str:
    """'00:00 UTC (in 3 h 12 min)': the next UTC midnight, when the daily limits reset."""
    now = now.astimezone(timezone.utc)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), timezone.utc)
    minutes = max(1, int((midnight - now).total_seconds() + 59) // 60)
    hours, rest = divmod(minutes, 60)
    return f"00:00 UTC (in {hours} h {rest} min)"


def check_new_job(settings: Settings, usage: UserUsage, documents: int, now: datetime) -> None:
    """Raise LimitExceeded when a new job of `documents` documents would break a per-user limit."""
    if settings.user_max_concurrent_jobs and usage.active_jobs >= settings.user_max_concurrent_jobs:
        raise LimitExceeded(
            f"Concurrent job limit reached: you have {usage.active_jobs} jobs pending or running "
            f"(USER_MAX_CONCURRENT_JOBS={settings.user_max_concurrent_jobs}). Start this job when one of "
            f"them finishes.")
    cap = settings.user_max_documents_per_day
    if cap and usage.documents_today + documents > cap:
        raise LimitExceeded(
            f"Daily document limit reached ({cap} documents per day; {usage.documents_today} used today, "
            f"this job has {documents}; USER_MAX_DOCUMENTS_PER_DAY); it resets at {resets_in(now)}.")
    cap = settings.user_max_pages_per_day
    if cap and usage.pages_today >= cap:
        raise LimitExceeded(
            f"Daily page limit reached ({cap} pages per day; {usage.pages_today} read today; "
            f"USER_MAX_PAGES_PER_DAY); it resets at {resets_in(now)}.")


def pages_exceeded(settings: Settings, pages_today: int) -> bool:
    """True when the user's pages read today have reached USER_MAX_PAGES_PER_DAY (0: no limit)."""
    return bool(settings.user_max_pages_per_day) and pages_today >= settings.user_max_pages_per_day


def pages_message(settings: Settings, done: int, total: int, now: datetime) -> str:
    return (f"Daily page limit reached ({settings.user_max_pages_per_day} pages per day; "
            f"USER_MAX_PAGES_PER_DAY): {done} of {total} documents were processed and kept; it resets at "
            f"{resets_in(now)} — resume the job then to continue.")


def tokens_used(usage: Usage) -> int:
    return usage.prompt_tokens + usage.completion_tokens


def budget_exceeded(settings: Settings, usage: Usage) -> bool:
    """True once a job has spent JOB_TOKEN_BUDGET tokens (0: no budget)."""
    return bool(settings.job_token_budget) and tokens_used(usage) >= settings.job_token_budget


def budget_message(settings: Settings, done: int, total: int) -> str:
    return (f"Token budget of {settings.job_token_budget:,} reached (JOB_TOKEN_BUDGET): {done} of {total} "
            f"documents were processed and kept; resume the job to continue.")
