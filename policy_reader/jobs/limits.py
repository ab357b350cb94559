"""Per-user limits, the same for both job stores (pure functions: the caller reads the job states).

Why here: the file store and the Azure store must refuse or stop work with the same rules and the
same words. A limit message always says which limit was hit and when it resets, e.g.
"Daily document limit reached (200 documents per day); it resets at 00:00 UTC (in 3 h 12 min)."
The user is Easy Auth's principal name (job_manager.current_user), else "local".
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping

from policy_reader.config import Settings
from policy_reader.errors import LimitExceeded
from policy_reader.jobs.state import ACTIVE
from policy_reader.models import Usage

#: The jobs that count against USER_MAX_CONCURRENT_JOBS: the engine's active statuses (jobs/state.py).
ACTIVE_STATUSES = ACTIVE


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


# --------------------------------------------------------------------------- the usage ledger

LEDGER_KEEP = timedelta(days=2)  # entries older than this count for no window (a day, an hour) and are dropped
ADMITTING_GRACE = timedelta(minutes=10)  # a job admitted but not stored yet (its upload is being written)


@dataclass(frozen=True)
class LedgerEntry:
    """Usage recorded as it happened: `n` documents started or email messages sent for `job`, at `at`
    (ISO UTC). A negative `n` gives back what was reserved but not used (a message that failed)."""

    kind: str  # "documents" | "messages" | "resend"
    n: int
    at: str
    job: str


@dataclass
class UsageLedger:
    """One user's usage, kept by the store apart from the jobs (deleting a job erases nothing here).

    `active`: the jobs admitted and not known to be over (job id -> when admitted); a job that ended
    is dropped the next time a job is admitted, after its state was read."""

    owner: str
    entries: list[LedgerEntry]
    active: dict[str, str]

    @classmethod
    def from_json(cls, data: Mapping[str, Any], owner: str) -> "UsageLedger":
        entries = []
        for item in data.get("entries") or []:
            try:
                entries.append(LedgerEntry(str(item["kind"]), int(item["n"]), str(item["at"]), str(item.get("job", ""))))
            except (KeyError, TypeError, ValueError):
                continue
        active = {str(k): str(v) for k, v in (data.get("active") or {}).items()}
        return cls(owner=str(data.get("owner") or owner), entries=entries, active=active)

    def write_into(self, data: dict[str, Any]) -> None:
        data.update(owner=self.owner, entries=[vars(e) for e in self.entries], active=dict(self.active))

    def prune(self, now: datetime) -> None:
        oldest = now - LEDGER_KEEP
        self.entries = [e for e in self.entries if _parse(e.at) >= oldest]

    def used(self, kind: str, since: datetime, job: str | None = None) -> int:
        return sum(e.n for e in self.entries
                   if e.kind == kind and _parse(e.at) >= since and (job is None or e.job == job))

    def record(self, kind: str, n: int, job: str, now: datetime) -> None:
        if n:
            self.entries.append(LedgerEntry(kind, n, _iso(now), job))


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


def _parse(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def start_of_day(now: datetime) -> datetime:
    now = now.astimezone(timezone.utc)
    return datetime.combine(now.date(), datetime.min.time(), timezone.utc)


def admit_job(settings: Settings, ledger: UsageLedger, job_id: str, documents: int, now: datetime,
              still_active: Callable[[str, datetime], bool], *, resume: bool = False) -> None:
    """Admit a new (or resumed) job into the ledger, or raise LimitExceeded saying which limit and when.

    Runs inside the store's atomic update of the ledger, so the check and the record are one step.
    A resumed job counts its remaining `documents` again only on a day it was not counted yet."""
    ledger.prune(now)
    ledger.active.pop(job_id, None)
    for other, since in list(ledger.active.items()):
        if not still_active(other, _parse(since)):
            del ledger.active[other]
    cap = settings.user_max_concurrent_jobs
    if cap and len(ledger.active) >= cap:
        raise LimitExceeded(
            f"Concurrent job limit reached: you have {len(ledger.active)} jobs pending or running "
            f"(USER_MAX_CONCURRENT_JOBS={cap}). Start this job when one of them finishes.")
    today = start_of_day(now)
    new = 0 if resume and ledger.used("documents", today, job_id) else documents
    used = ledger.used("documents", today)
    cap = settings.user_max_documents_per_day
    if cap and new and used + new > cap:
        raise LimitExceeded(
            f"Daily document limit reached ({cap} documents per day; {used} used today, this job has {new}; "
            f"USER_MAX_DOCUMENTS_PER_DAY); it resets at {resets_in(now)}. Deleting jobs does not give them back.")
    ledger.record("documents", new, job_id, now)
    ledger.active[job_id] = _iso(now)


def reserve_messages(settings: Settings, ledger: UsageLedger, job_id: str, count: int, now: datetime, *,
                     resend: bool) -> None:
    """Record `count` messages about to be sent (one per recipient), or raise LimitExceeded: the user's
    daily cap (USER_MAX_EMAILS_PER_DAY) and, for a "send again", the hourly one (EMAIL_MAX_RESENDS_PER_HOUR).
    Reserved before sending, so two sends at once cannot both pass; what fails is given back."""
    ledger.prune(now)
    cap = settings.email_max_resends_per_hour
    if resend and cap:
        hour_ago = now - timedelta(hours=1)
        recent = sorted(_parse(e.at) for e in ledger.entries if e.kind == "resend" and _parse(e.at) >= hour_ago)
        if len(recent) >= cap:
            wait = max(1, int((recent[-cap] + timedelta(hours=1) - now).total_seconds() + 59) // 60)
            raise LimitExceeded(
                f"Re-send limit reached: you sent emails again {len(recent)} times in the last hour "
                f"(EMAIL_MAX_RESENDS_PER_HOUR={cap}); you can send again in {wait} min.")
    cap = settings.user_max_emails_per_day
    used = ledger.used("messages", start_of_day(now))
    if cap and used + count > cap:
        raise LimitExceeded(
            f"Daily email limit reached ({cap} messages per day, one per recipient; {used} sent today, this email "
            f"needs {count}; USER_MAX_EMAILS_PER_DAY); it resets at {resets_in(now)}.")
    ledger.record("messages", count, job_id, now)
    if resend:
        ledger.record("resend", 1, job_id, now)


def resend_job_message(settings: Settings, resends: int) -> str:
    return (f"This job's email has already been sent again {resends} times (EMAIL_MAX_RESENDS_PER_JOB="
            f"{settings.email_max_resends_per_job}); download the results and forward them instead.")
