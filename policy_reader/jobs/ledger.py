"""Each user's usage ledger, kept by the job store: what was used is recorded as it happens.

Why a ledger and not a count of the jobs that exist: a count over existing jobs forgets whatever its owner
deletes (delete each finished job, and the daily limit never fills), and reading the jobs, deciding and
then creating leaves a window in which simultaneous requests all pass. Here every admission (a new job,
a resumed one) and every email (one message per recipient) is checked and recorded in one atomic update
of the user's ledger (`store.update_usage`: a file lock on the file store, a conditional write on Azure).
The rules are pure and live in jobs/limits.py.
"""
from __future__ import annotations

import logging
from datetime import datetime

from policy_reader.config import Settings
from policy_reader.errors import JobNotFound, PolicyReaderError
from policy_reader.jobs import limits
from policy_reader.jobs.state import now
from policy_reader.jobs.store import JobStore

log = logging.getLogger("policy_reader.jobs")


def _active_in(store: JobStore, moment: datetime):
    def still_active(job_id: str, since: datetime) -> bool:
        try:
            state = store.read_state(job_id)
        except JobNotFound:  # being stored right now, or deleted
            return moment - since < limits.ADMITTING_GRACE
        except (PolicyReaderError, OSError):
            return False
        return state.get("status") in limits.ACTIVE_STATUSES
    return still_active


def admit_job(store: JobStore, settings: Settings, owner: str, job_id: str, documents: int, *,
              resume: bool = False) -> None:
    """Check the user's limits for a new (or resumed) job and record it, atomically; LimitExceeded if refused."""
    moment = now()

    def change(data: dict) -> None:
        ledger = limits.UsageLedger.from_json(data, owner)
        limits.admit_job(settings, ledger, job_id, documents, moment, _active_in(store, moment), resume=resume)
        ledger.write_into(data)

    store.update_usage(owner, change)


def forget_job(store: JobStore, owner: str, job_id: str) -> None:
    """A job that could not be stored: what its admission recorded is given back."""
    def change(data: dict) -> None:
        ledger = limits.UsageLedger.from_json(data, owner)
        ledger.entries = [e for e in ledger.entries if e.job != job_id]
        ledger.active.pop(job_id, None)
        ledger.write_into(data)

    _quietly(store, owner, change)


def job_over(store: JobStore, owner: str, job_id: str) -> None:
    """A deleted job frees its slot at once (its documents and messages stay counted)."""
    def change(data: dict) -> bool | None:
        ledger = limits.UsageLedger.from_json(data, owner)
        if ledger.active.pop(job_id, None) is None:
            return False
        ledger.write_into(data)
        return None

    _quietly(store, owner, change)


def reserve_messages(store: JobStore, settings: Settings, owner: str, job_id: str, count: int, *,
                     resend: bool = False) -> None:
    """Record `count` messages before they are sent; LimitExceeded when the user's caps refuse them."""
    moment = now()

    def change(data: dict) -> None:
        ledger = limits.UsageLedger.from_json(data, owner)
        limits.reserve_messages(settings, ledger, job_id, count, moment, resend=resend)
        ledger.write_into(data)

    store.update_usage(owner, change)


def give_back_messages(store: JobStore, owner: str, job_id: str, count: int) -> None:
    """Messages reserved but not sent (the server refused them, the connection failed) do not count."""
    if count <= 0:
        return
    moment = now()

    def change(data: dict) -> None:
        ledger = limits.UsageLedger.from_json(data, owner)
        ledger.record("messages", -count, job_id, moment)
        ledger.write_into(data)

    _quietly(store, owner, change)


def record_pages(store: JobStore, owner: str, job_id: str, pages: int) -> None:
    """Pages a run read, recorded when it is finalised (USER_MAX_PAGES_PER_DAY outlives the job)."""
    if pages <= 0:
        return
    moment = now()

    def change(data: dict) -> None:
        ledger = limits.UsageLedger.from_json(data, owner)
        ledger.prune(moment)
        ledger.record("pages", pages, job_id, moment)
        ledger.write_into(data)

    _quietly(store, owner, change)


def pages_today(store: JobStore, owner: str, states: list[dict]) -> int:
    """Pages the user read today: the ledger's (finalised runs), plus what running jobs read since."""
    ledger = limits.UsageLedger.from_json(store.read_usage(owner), owner)
    running = sum(max(0, int(s.get("pages_read") or 0) - int(s.get("pages_ledgered") or 0)) for s in states
                  if s.get("owner") == owner and s.get("status") in limits.ACTIVE_STATUSES)
    return ledger.used("pages", limits.start_of_day(now())) + running


def _quietly(store: JobStore, owner: str, change) -> None:
    """Bookkeeping that only ever gives back must not fail what called it (a full disk, a storage blip)."""
    try:
        store.update_usage(owner, change)
    except Exception as exc:  # noqa: BLE001 - any store's error (OSError, AzureError, JobError)
        log.warning("could not update the usage ledger of a user: %s", exc)
