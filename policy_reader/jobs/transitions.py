"""Pure state transitions of a job, and the one way to apply them to a store.

Every change to job.json is a function `transition(state, ...) -> bool` that edits the dict in place
and returns whether it changed anything (False: nothing is written). They hold no I/O, so they are
tested on plain dicts, and both executors use the same ones. `apply()` runs one through the store's
conditional read-modify-write (file lock, or ETag If-Match on Azure) and returns what happened.

Runs and leases. Each time a job is queued (first run, resume, take-over after a crash) its `run`
number goes up. A `Lease` is a runner's claim on one run: the local executor's lease also names its
owner (one process runs a local job); the queue executor's lease is the run alone (any worker may
take the run's documents). Every write a runner makes is conditioned on still holding its lease, so
a process that froze, lost its job to `recover`, and woke up again cannot finish, interrupt, export
or email a run that is no longer its own.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from policy_reader.jobs.state import ACTIVE, TERMINAL, JobStatus, iso
from policy_reader.jobs.store import JobStore
from policy_reader.jobs.tally import Tally

Transition = Callable[..., bool]


@dataclass(frozen=True)
class Lease:
    run: int
    owner: str | None = None  # the local executor's owner id; None: any worker of the run (queue)

    def held_in(self, state: dict[str, Any]) -> bool:
        """An interrupted run is over too: its workers stop, and only a new run (resume) goes on."""
        if (int(state.get("run") or 0) != self.run or state.get("status") in TERMINAL
                or state.get("status") == JobStatus.INTERRUPTED.value):
            return False
        return self.owner is None or (state.get("runner") or {}).get("manager") == self.owner


def apply(store: JobStore, job_id: str, transition: Transition, *args: Any, **kwargs: Any) -> tuple[bool, dict[str, Any]]:
    """Apply `transition` atomically; returns (whether it changed the state, the state after)."""
    changed = False

    def change(state: dict[str, Any]) -> Any:
        nonlocal changed
        changed = bool(transition(state, *args, **kwargs))
        return None if changed else False

    state = store.update_state(job_id, change)
    return changed, state


# --------------------------------------------------------------------------- queueing

def _new_run(state: dict[str, Any], runner: dict[str, Any] | None) -> None:
    state.update(run=int(state.get("run") or 0) + 1, status=JobStatus.PENDING.value, queued=True, runner=runner,
                 heartbeat_at=iso(), cancel_requested=False, stage="queued", finished_at=None, in_flight=[],
                 finalizing=None, error=None, limit_message=None)


def queue_local(state: dict[str, Any], token: dict[str, Any]) -> bool:
    """A new run of the job, queued in the process whose token is given."""
    _new_run(state, token)
    return True


def queue_shared(state: dict[str, Any], late: dict[str, Any] | None = None) -> bool:
    """A new run on the shared work queue, unless a live run is already queued there. `late`: results
    stored after the previous run ended (a worker finished them as it was cancelled), counted now."""
    if state["status"] in ACTIVE and state.get("run") and not state.get("cancel_requested"):
        return False
    _new_run(state, None)
    for doc_id, result in (late or {}).items():
        count_result(state, doc_id, result)
    return True


def take_over(state: dict[str, Any], token: dict[str, Any], orphaned: Callable[[dict[str, Any]], bool]) -> bool:
    """Adopt a job whose owner died or froze: a new run, queued here. The old owner's lease ends."""
    if state.get("status") not in (JobStatus.RUNNING.value, JobStatus.INTERRUPTED.value, JobStatus.PENDING.value):
        return False
    if not orphaned(state):
        return False
    state["previous_status"] = state.get("status")
    previous_run = int(state.get("run") or 0)
    _new_run(state, token)
    # The run goes on under a new lease: what its email and webhook already did (or may have done)
    # belongs to the continuation, which must not do it again.
    for done in ("email_run", "webhook_run"):
        if state.get(done) == previous_run:
            state[done] = state["run"]
    return True


# --------------------------------------------------------------------------- running

def claim_local(state: dict[str, Any], owner: str, token: dict[str, Any]) -> bool:
    """PENDING and queued by `owner` -> RUNNING (or CANCELLED if a cancel came while it waited)."""
    if state["status"] != JobStatus.PENDING.value or (state.get("runner") or {}).get("manager") != owner:
        return False
    if state.get("cancel_requested"):
        state.update(status=JobStatus.CANCELLED.value, finished_at=iso(), queued=False, runner=None, stage=None)
        return True
    _start_running(state, int(state.get("documents_done", 0) or 0))
    state["runner"] = token
    return True


def _start_running(state: dict[str, Any], done_base: int) -> None:
    moment = iso()
    state.update(status=JobStatus.RUNNING.value, started_at=state.get("started_at") or moment,
                 run_started_at=moment, run_done_base=done_base, heartbeat_at=moment, queued=False,
                 error=None, limit_message=None, stage="running")


def doc_started(state: dict[str, Any], lease: Lease, entry: dict[str, Any]) -> bool:
    """A worker of the queue executor starts a document (the first one turns the job RUNNING)."""
    if not lease.held_in(state) or state.get("cancel_requested"):
        return False
    if state["status"] != JobStatus.RUNNING.value:
        _start_running(state, int(state.get("documents_done", 0) or 0))
    state["in_flight"] = [e for e in state.get("in_flight") or [] if e.get("doc_id") != entry["doc_id"]] + [entry]
    state["heartbeat_at"] = iso()
    return True


def doc_progress(state: dict[str, Any], doc_id: str, progress: dict[str, Any]) -> bool:
    if state["status"] in TERMINAL:
        return False
    for entry in state.get("in_flight") or []:
        if entry.get("doc_id") == doc_id:
            entry.update(progress)
    state["heartbeat_at"] = iso()
    return True


def drop_in_flight(state: dict[str, Any], doc_id: str) -> bool:
    flights = state.get("in_flight") or []
    kept = [e for e in flights if e.get("doc_id") != doc_id]
    if len(kept) == len(flights):
        return False
    state["in_flight"] = kept
    return True


def doc_error(state: dict[str, Any], doc_id: str, message: str) -> bool:
    """The last error of a document that will be retried (shown if it ends in the poison queue)."""
    state.setdefault("doc_errors", {})[doc_id] = message
    drop_in_flight(state, doc_id)
    return True


def count_result(state: dict[str, Any], doc_id: str, result: Any) -> bool:
    """Count a finished document into job.json, once (a redelivered message is only counted once)."""
    drop_in_flight(state, doc_id)
    if state["status"] in TERMINAL:
        return True  # finished without it; a resume counts it
    tally = Tally.from_state(state)
    if tally.add(doc_id, result):
        state.update(tally.fields(with_ids=True))
    state["heartbeat_at"] = iso()
    return True


def progress(state: dict[str, Any], lease: Lease, fields: dict[str, Any], token: dict[str, Any]) -> bool:
    """The local runner's periodic flush: counters, in-flight documents and the heartbeat."""
    if not lease.held_in(state):
        return False
    state.update(fields)
    state.update(heartbeat_at=iso(), runner=token)
    return True


def heartbeat_queued(state: dict[str, Any], owner: str) -> bool:
    if state.get("status") != JobStatus.PENDING.value or (state.get("runner") or {}).get("manager") != owner:
        return False
    state["heartbeat_at"] = iso()
    return True


def interrupt(state: dict[str, Any], lease: Lease, fields: dict[str, Any]) -> bool:
    """The process stops under a running job: leave it INTERRUPTED for the next start to resume."""
    if not lease.held_in(state):
        return False
    state.update(fields)
    state.update(status=JobStatus.INTERRUPTED.value, runner=None, in_flight=[], stage=None, heartbeat_at=iso())
    return True


# --------------------------------------------------------------------------- cancelling

def request_cancel(state: dict[str, Any]) -> bool:
    if state["status"] in TERMINAL or state.get("cancel_requested"):
        return False
    state["cancel_requested"] = True
    return True


def cancel(state: dict[str, Any], running_elsewhere: Callable[[dict[str, Any]], bool]) -> bool:
    """Cancel a job this process does not run: ask its live runner to stop, or end it at once."""
    if state["status"] in TERMINAL:
        return False
    if state["status"] == JobStatus.RUNNING.value and running_elsewhere(state):
        return request_cancel(state)
    return cancel_waiting(state)


def cancel_waiting(state: dict[str, Any]) -> bool:
    """Cancel a job that is not running anywhere: it ends at once, nothing to finalise."""
    if state["status"] in TERMINAL:
        return False
    state.update(status=JobStatus.CANCELLED.value, finished_at=iso(), queued=False, runner=None, in_flight=[],
                 stage=None, cancel_requested=False, finalized_run=state.get("run"))
    return True


# --------------------------------------------------------------------------- finishing

def claim_finalization(state: dict[str, Any], run: int, by: str, stale_s: float,
                       token: dict[str, Any] | None = None) -> bool:
    """Only one process finalises a run (exports, email, webhook, final state). A claim is taken over
    when its holder's process is gone (on this machine) or it has not moved for `stale_s`."""
    if state["status"] in TERMINAL or int(state.get("run") or 0) != run:
        return False
    held = state.get("finalizing") or {}
    if held.get("run") == run and held.get("by") != by and finalizer_alive(held, stale_s):
        return False
    state["finalizing"] = {"run": run, "by": by, "at": iso(), **(token or {})}
    state["stage"] = "exporting"
    return True


def finalizer_alive(held: dict[str, Any], stale_s: float) -> bool:
    from policy_reader.jobs.liveness import process_gone
    from policy_reader.jobs.state import age_s

    return bool(held) and age_s(held.get("at")) < stale_s and not process_gone(held)


def holds_finalization(state: dict[str, Any], run: int, by: str) -> bool:
    held = state.get("finalizing") or {}
    return held.get("run") == run and held.get("by") == by and state["status"] not in TERMINAL


def set_stage(state: dict[str, Any], run: int, by: str, stage: str) -> bool:
    if not holds_finalization(state, run, by):
        return False
    state["stage"] = stage
    state["finalizing"]["at"] = iso()
    return True


def email_intent(state: dict[str, Any], run: int, by: str, message_id: str,
                 deliveries: dict[str, dict[str, Any]] | None = None) -> bool:
    """Record, before sending, that this run's email is about to go out with `message_id`.

    If the sender dies after this write, whoever finalises next sees `sending` for this run and
    knows the message may already be out: it records that instead of sending it a second time.
    `deliveries` (SMTP: one message per recipient, `{address: {status: pending, message_id}}`) lets the next
    one go further: recipients marked `sent` have theirs, the one marked `sending` may have it, and only
    those still `pending` are sent."""
    if not holds_finalization(state, run, by):
        return False
    state["email"] = {"status": "sending", "run": run, "message_id": message_id, "at": iso()}
    if deliveries:
        state["email"]["deliveries"] = deliveries
    state["email_run"] = run
    return True


def resend_intent(state: dict[str, Any], message_id: str, deliveries: dict[str, dict[str, Any]]) -> bool:
    """An analyst's "send again": its per-recipient plan, recorded before the first message goes out."""
    state["email"] = {"status": "sending", "run": state.get("run"), "message_id": message_id, "at": iso(),
                      "deliveries": deliveries, "resend": True}
    return True


def delivery_step(state: dict[str, Any], message_id: str, address: str, info: dict[str, Any]) -> bool:
    """One recipient's message of the email `message_id`: about to go out (`sending`) or its outcome."""
    deliveries = (state.get("email") or {}).get("deliveries") or {}
    if (state.get("email") or {}).get("message_id") != message_id or address not in deliveries:
        return False
    deliveries[address] = info
    return True


def deliveries_in_doubt(state: dict[str, Any], message_id: str) -> bool:
    """After a crash: a recipient whose message was being sent may have it. It is not sent again."""
    email = state.get("email") or {}
    if email.get("message_id") != message_id:
        return False
    doubtful = [d for d in (email.get("deliveries") or {}).values() if d.get("status") == "sending"]
    for delivery in doubtful:
        delivery["status"] = "unknown"
    return bool(doubtful)


def count_resend(state: dict[str, Any], cap: int) -> bool:
    """One more "send again" of this job's email, unless EMAIL_MAX_RESENDS_PER_JOB (`cap`, 0: none) is reached."""
    done = int(state.get("email_resends") or 0)
    if cap and done >= cap:
        return False
    state["email_resends"] = done + 1
    return True


def uncount_resend(state: dict[str, Any]) -> bool:
    """A "send again" that another limit refused does not count for the job."""
    state["email_resends"] = max(0, int(state.get("email_resends") or 0) - 1)
    return True


def email_outcome(state: dict[str, Any], run: int, info: dict[str, Any]) -> bool:
    state["email"] = {**info, "run": run}
    state["email_run"] = run
    return True


def webhook_outcome(state: dict[str, Any], run: int, info: dict[str, Any], by: str | None = None) -> bool:
    """The webhook's outcome for `run`; with `by`, only while `by` still holds the webhook's claim (a sender
    that overran its claim and was replaced does not overwrite its successor's outcome)."""
    if by is not None and ((state.get("webhook") or {}).get("by") != by or state.get("webhook_run") == run):
        return False
    state["webhook"] = info
    state["webhook_run"] = run
    return True


def claim_webhook(state: dict[str, Any], run: int, by: str, stale_s: float, token: dict[str, Any] | None = None) -> bool:
    """Take over a finished job's webhook whose sender died (or overran `stale_s`): it is sent at least once."""
    hook = state.get("webhook") or {}
    if state.get("status") not in TERMINAL or hook.get("status") != "sending" or hook.get("run") != run \
            or state.get("webhook_run") == run or (hook.get("by") != by and finalizer_alive(hook, stale_s)):
        return False
    state["webhook"] = {"status": "sending", "run": run, "by": by, "at": iso(), **(token or {})}
    return True


def finish(state: dict[str, Any], run: int, by: str, status: str, error: str | None, limit_message: str | None,
           tally: Tally, webhook: dict[str, Any] | None = None) -> bool:
    """The terminal state, with the counts of the results actually stored. `webhook` (the finaliser's token):
    the webhook is still to be sent, after this write, by that finaliser (`sending` until its outcome), so a
    slow receiver never holds the job and a finaliser that dies leaves it for `claim_webhook`."""
    if not holds_finalization(state, run, by):
        return False
    state.update(tally.fields(with_ids="counted" in state))
    state["pages_ledgered"] = tally.pages  # the pages the finaliser records in the owner's usage ledger
    state.update(status=status, finished_at=iso(), error=error, in_flight=[], stage=None, finalizing=None,
                 finalized_run=run, cancel_requested=False, queued=False, runner=None, heartbeat_at=iso())
    if webhook is not None:
        state["webhook"] = {"status": "sending", "run": run, "by": by, "at": iso(), **webhook}
    if limit_message:
        state["limit_message"] = limit_message
    return True


def resend_outcome(state: dict[str, Any], info: dict[str, Any]) -> bool:
    """An analyst's "send again" after the job ended."""
    state["email"] = {**info, "run": state.get("run")}
    return True
