"""The lifecycle steps every executor calls: decide a run's outcome, and finalise it exactly once.

Finalising = exports, the results email, the terminal state, then the webhook. Only the process
that wins the finalisation claim in job.json does it (conditional write), so when several workers
finish the last documents at the same moment, or a frozen runner wakes up after `recover` took its
job over, the email still goes out once. The email's intent (with its Message-ID) is recorded before
it is sent: a finaliser that dies mid-send leaves "sending", and the next one records that the
message may already be out instead of sending it a second time.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from policy_reader.config import scrub
from policy_reader.errors import JobNotFound, LimitExceeded, PolicyReaderError
from policy_reader.jobs import ledger, limits
from policy_reader.jobs import transitions as tr
from policy_reader.jobs.services import JobServices
from policy_reader.jobs.state import JobStatus
from policy_reader.jobs.tally import Tally

log = logging.getLogger("policy_reader.jobs")

FINALIZE_STALE_S = 300.0  # a finalisation claim older than this (never refreshed) is taken over


@dataclass(frozen=True)
class Outcome:
    status: JobStatus
    error: str | None = None
    limit_message: str | None = None


def decide(total: int, tally: Tally, stop_reason: str | None, budget_message: str | None = None,
           unsaved: list[str] | None = None) -> Outcome:
    """What a run that stopped taking documents amounts to. `unsaved`: why documents that were
    processed could not be stored (a job never reads "completed" over results it did not keep)."""
    if stop_reason == "shutdown":
        return Outcome(JobStatus.INTERRUPTED)
    if stop_reason == "cancel":
        return Outcome(JobStatus.CANCELLED)
    if total == 0:
        return Outcome(JobStatus.FAILED, "The job has no documents.")
    if stop_reason is None and tally.done < total:  # never "completed" over results it did not keep
        why = unsaved[0] if unsaved else "An unexpected error stopped them; the server log says which."
        return Outcome(JobStatus.FAILED, f"{total - tally.done} of {total} documents have no saved result. {why} "
                                         f"Saved results are kept: resume the job to process only the others.")
    if tally.done >= total and tally.failed == total:
        first = f" First error — {tally.first_error}" if tally.first_error else ""
        return Outcome(JobStatus.FAILED, f"All {total} documents failed.{first}")
    if stop_reason == "budget":
        return Outcome(JobStatus.COMPLETED, limit_message=budget_message)
    return Outcome(JobStatus.COMPLETED)


def budget_outcome(services: JobServices, tally: Tally, total: int) -> Outcome | None:
    """A run that spent JOB_TOKEN_BUDGET ends here, keeping what it finished."""
    if not limits.budget_exceeded(services.settings, tally.usage):
        return None
    return Outcome(JobStatus.COMPLETED, limit_message=limits.budget_message(services.settings, tally.done, total))


def finalize(services: JobServices, job_id: str, run: int, outcome: Outcome, *, by: str | None = None) -> bool:
    """Exports, email, webhook, final state — once per run. False when another process has it (or
    the run is over, or no longer the job's current run)."""
    me = by or uuid.uuid4().hex
    try:
        claimed, state = tr.apply(services.store, job_id, tr.claim_finalization, run, me, FINALIZE_STALE_S,
                                  _process_token())
    except JobNotFound:
        return False
    except (OSError, PolicyReaderError) as exc:  # job.json cannot be written (a full disk): the run stays
        log.warning("job %s cannot be finalised now (%s); it will be taken over once its state can be written",
                    job_id, exc)  # unfinished, and recovery finishes it when the store takes writes again
        return False
    if not claimed:
        return False
    status = outcome.status.value
    exports: dict[str, bytes] | None = None  # built and stored once; the email attaches these very files
    try:
        exports = services.exporter.write(job_id, status)
    except Exception as exc:  # noqa: BLE001 - the job still ends; the downloads are rebuilt on demand
        log.exception("exports for %s", job_id)
        services.events.emit(job_id, "exports.failed", error=scrub(str(exc), services.settings))
    if state.get("recipients"):
        if (state.get("email") or {}).get("status") == "sending":  # a finaliser died while sending it
            _email_maybe_sent(services, job_id, run, state["email"], status)
        elif state.get("email_run") != run:
            _email_once(services, job_id, run, me, status, exports)
    webhook_due = bool(services.settings.webhook_url) and state.get("webhook_run") != run
    tally = _stored_tally(services, job_id, state)
    changed, final = services.safe_apply(job_id, tr.finish, run, me, status, outcome.error, outcome.limit_message,
                                         tally, _process_token() if webhook_due else None)
    if changed:
        services.events.emit(job_id, f"job.{status}", error=outcome.error, documents_done=tally.done,
                             documents_failed=tally.failed)
        ledger.record_pages(services.store, state.get("owner") or "local", job_id,
                            tally.pages - int(state.get("pages_ledgered") or 0))
    services.store.release_local_copies(job_id)
    services.job_ended()
    if changed and webhook_due:  # after the final state: the job reads finished whatever the receiver does
        _send_webhook(services, job_id, run, me, status, outcome.error)
    return changed


def _send_webhook(services: JobServices, job_id: str, run: int, me: str, status: str, error: str | None) -> None:
    info = services.notifier.send_webhook(job_id, status, error)  # bounded by WEBHOOK_DEADLINE_S in total
    services.safe_apply(job_id, tr.webhook_outcome, run, info, me)
    services.job_ended()  # JobManager.wait also waits for a webhook this process sends


def send_pending_webhooks(services: JobServices) -> list[str]:
    """Finished jobs whose webhook sender died before recording its outcome: send it now (at least once;
    receivers dedupe on job_id). Run at start-up and by `recover`, beside the recovery of interrupted jobs."""
    if not services.settings.webhook_url:
        return []
    from policy_reader.jobs.retention import job_states

    stale_s = services.settings.webhook_deadline_s + 60
    sent = []
    for job_id, state in job_states(services.store):
        hook = state.get("webhook") or {}
        if hook.get("status") != "sending" or state.get("webhook_run") == hook.get("run"):
            continue
        me = uuid.uuid4().hex
        claimed, state = services.safe_apply(job_id, tr.claim_webhook, hook.get("run"), me, stale_s,
                                             _process_token())
        if claimed:
            _send_webhook(services, job_id, int(hook.get("run") or 0), me, state["status"], state.get("error"))
            sent.append(job_id)
    return sent


def _process_token() -> dict:
    """Which process holds a finalisation claim: others on this machine see at once when it died."""
    import os

    from policy_reader.jobs.liveness import BOOT, HOST

    return {"pid": os.getpid(), "host": HOST, "boot": BOOT}


def _stored_tally(services: JobServices, job_id: str, state: dict) -> Tally:
    """The counts of the results actually stored; the last counts written when those cannot be read
    (a damaged manifest), so a job still ends with a status."""
    try:
        return Tally.of_results(services.book.stored(job_id))
    except (PolicyReaderError, OSError, ValueError):
        return Tally.from_state(state)


def _email_once(services: JobServices, job_id: str, run: int, me: str, status: str,
                exports: dict[str, bytes] | None) -> None:
    notifier = services.notifier
    message_id = notifier.new_message_id()
    deliveries = notifier.plan(job_id, message_id) if notifier.one_by_one() else None
    if deliveries:
        try:  # counted in the owner's ledger before anything goes out (USER_MAX_EMAILS_PER_DAY)
            notifier.reserve(job_id, len(deliveries))
        except Exception as exc:  # noqa: BLE001 - a limit, or a ledger the store cannot write: nothing is sent
            error = exc.message if isinstance(exc, LimitExceeded) else (
                f"The email was not sent: its messages could not be counted ({scrub(str(exc), services.settings)}). "
                f"Use Send again.")
            services.events.emit(job_id, "email.failed", error=error)
            services.safe_apply(job_id, tr.email_outcome, run, {"status": "failed", "error": error,
                                                                 "code": "limit" if isinstance(exc, LimitExceeded)
                                                                 else "storage"})
            return
    intended, state = services.safe_apply(job_id, tr.email_intent, run, me, message_id, deliveries)
    if not intended:
        return  # the claim was lost meanwhile: the new finaliser decides about the email
    services.safe_apply(job_id, tr.set_stage, run, me, "emailing")
    info = notifier.send_email(job_id, status, message_id=message_id, exports=exports)
    services.safe_apply(job_id, tr.email_outcome, run, info)


def _email_maybe_sent(services: JobServices, job_id: str, run: int, email: dict, status: str) -> None:
    """A finaliser died between recording the email's intent and its outcome: the message may be out.
    Sending it again could double it, so the job says what is known and offers "send again". With one
    message per recipient, what is known is per recipient: those still `pending` are sent now, the one
    being sent is `unknown`, and nobody gets theirs twice."""
    message_id = email.get("message_id") or ""
    if email.get("deliveries") and services.notifier.one_by_one():
        services.safe_apply(job_id, tr.deliveries_in_doubt, message_id)
        info = services.notifier.send_email(job_id, status, message_id=message_id)
        services.safe_apply(job_id, tr.email_outcome, run, info)
        return
    info = {"status": "unknown", "message_id": message_id,
            "error": f"The app stopped while this email was being sent, so it may or may not have gone out "
                     f"(Message-ID {message_id}). If the recipients did not get it, use Send again."}
    services.events.emit(job_id, "email.unknown", message_id=message_id)
    services.safe_apply(job_id, tr.email_outcome, run, info)
