"""Pure state transitions: leases, claims, finalisation once, the email's intent (plain dicts, no I/O)."""
from __future__ import annotations

from policy_reader.jobs import transitions as tr
from policy_reader.jobs.state import new_state
from policy_reader.jobs.tally import Tally
from policy_reader.models import DocumentResult

ME = {"pid": 1, "host": "h", "boot": "b", "manager": "me"}
OTHER = {"pid": 2, "host": "h", "boot": "b", "manager": "other"}


def _state(**extra):
    state = new_state(job_id="0" * 20, name="t", owner="local", documents=2, recipients=["a@example.org"],
                      backend="offline", model="offline", priority=0)
    state.update(extra)
    return state


def test_each_queueing_starts_a_new_run_and_ends_the_old_lease() -> None:
    state = _state()
    assert tr.queue_local(state, ME) and state["run"] == 1 and state["queued"]
    assert tr.claim_local(state, "me", ME) and state["status"] == "running"
    lease = tr.Lease(run=1, owner="me")
    assert lease.held_in(state)
    # the owner froze; recover in another process adopts the job
    assert tr.take_over(state, OTHER, orphaned=lambda s: True)
    assert state["run"] == 2 and state["previous_status"] == "running" and not lease.held_in(state)
    # the frozen owner wakes: none of its writes land
    before = dict(state)
    assert not tr.progress(state, lease, {"documents_done": 99}, ME)
    assert not tr.interrupt(state, lease, {})
    assert not tr.claim_finalization(state, 1, "me", stale_s=300)
    assert state == before


def test_an_interrupted_shared_run_lets_no_worker_go_on() -> None:
    """Queueing a run's documents failed half-way: the run is interrupted, and a worker that already
    took one of its documents must not flip the job back to running (resume would then refuse)."""
    state = _state()
    assert tr.queue_shared(state)
    lease = tr.Lease(run=state["run"])  # a queue worker's lease: any worker of the run
    assert lease.held_in(state)
    assert tr.interrupt(state, lease, {"error": "queueing failed"}) and state["status"] == "interrupted"
    assert not lease.held_in(state)
    assert not tr.doc_started(state, lease, {"doc_id": "d0001"}) and state["status"] == "interrupted"
    assert tr.queue_shared(state) and state["run"] == 2  # resume: a new run


def test_claim_only_by_the_queueing_owner_and_cancel_while_waiting() -> None:
    state = _state()
    tr.queue_local(state, OTHER)
    assert not tr.claim_local(state, "me", ME) and state["status"] == "pending"
    state["cancel_requested"] = True
    assert tr.claim_local(state, "other", OTHER) and state["status"] == "cancelled"


def test_take_over_refuses_a_live_owner_and_finished_jobs() -> None:
    state = _state()
    tr.queue_local(state, OTHER)
    assert not tr.take_over(state, ME, orphaned=lambda s: False)
    state["status"] = "completed"
    assert not tr.take_over(state, ME, orphaned=lambda s: True)


def test_shared_queue_keeps_a_live_run_and_counts_late_results() -> None:
    state = _state()
    assert tr.queue_shared(state) and state["run"] == 1
    assert not tr.queue_shared(state)  # its messages are on the queue already
    state.update(status="cancelled")
    late = {"d0001": DocumentResult(doc_id="d0001", file="a.pdf", pages=3)}
    assert tr.queue_shared(state, late) and state["run"] == 2
    assert (state["documents_done"], state["counted"], state["pages_read"]) == (1, ["d0001"], 3)


def test_a_document_is_counted_once() -> None:
    state = _state()
    tr.queue_shared(state)
    ok = DocumentResult(doc_id="d0001", file="a.pdf")
    bad = DocumentResult(doc_id="d0002", file="b.pdf", status="failed", error="broken")
    for result in (ok, ok, bad, bad):
        tr.count_result(state, result.doc_id, result)
    assert (state["documents_done"], state["documents_failed"]) == (2, 1)
    assert state["first_error"] == "b.pdf: broken"


def test_finalisation_is_claimed_once_and_the_email_intent_is_recorded_first() -> None:
    state = _state()
    tr.queue_shared(state)
    run = state["run"]
    assert tr.claim_finalization(state, run, "A", stale_s=300)
    assert not tr.claim_finalization(state, run, "B", stale_s=300)  # A holds it
    assert not tr.email_intent(state, run, "B", "<m@x>")
    assert tr.email_intent(state, run, "A", "<m@x>")
    assert state["email"] == {"status": "sending", "run": run, "message_id": "<m@x>", "at": state["email"]["at"]}
    tally = Tally.of_results([DocumentResult(doc_id="d0001", file="a.pdf")])
    assert not tr.finish(state, run, "B", "completed", None, None, tally)
    assert tr.finish(state, run, "A", "completed", None, None, tally)
    assert (state["status"], state["documents_done"], state["finalized_run"]) == ("completed", 1, run)
    assert not tr.claim_finalization(state, run, "A", stale_s=300)  # a finished run is never re-finalised


def test_a_stale_finalisation_claim_is_taken_over() -> None:
    state = _state()
    tr.queue_shared(state)
    assert tr.claim_finalization(state, 1, "A", stale_s=300)
    assert tr.claim_finalization(state, 1, "B", stale_s=0)  # A died: its claim is older than the limit
    assert state["finalizing"]["by"] == "B"


def test_cancel_asks_a_live_runner_and_ends_a_waiting_job() -> None:
    running = _state(status="running")
    assert tr.cancel(running, running_elsewhere=lambda s: True)
    assert running["status"] == "running" and running["cancel_requested"]
    orphan = _state(status="running")
    assert tr.cancel(orphan, running_elsewhere=lambda s: False) and orphan["status"] == "cancelled"
    done = _state(status="completed")
    assert not tr.cancel(done, running_elsewhere=lambda s: True)


def test_a_claim_whose_process_died_on_this_machine_is_taken_over_at_once() -> None:
    """A worker killed while finalising must not hold the job back for FINALIZE_STALE_S (seen: a SIGKILLed
    worker's claim kept a finished job 'running' for five minutes)."""
    import subprocess
    import sys

    from policy_reader.jobs.liveness import BOOT, HOST

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state = _state()
    tr.queue_shared(state)
    assert tr.claim_finalization(state, 1, "A", stale_s=300, token={"pid": dead.pid, "host": HOST, "boot": BOOT})
    assert tr.claim_finalization(state, 1, "B", stale_s=300)  # A's process is gone: no five-minute wait
    alive = {"pid": 1, "host": "another-machine", "boot": "x"}
    assert tr.claim_finalization(state, 1, "C", stale_s=300, token=alive) is False  # B (no token) is not stale


def test_each_recipients_message_is_recorded_and_a_crash_leaves_only_the_pending_ones_to_send() -> None:
    state = _state()
    tr.queue_shared(state)
    assert tr.claim_finalization(state, 1, "A", stale_s=300)
    plan = {a: {"status": "pending", "message_id": f"<{a}>"} for a in ("a@x.org", "b@x.org", "c@x.org")}
    assert tr.email_intent(state, 1, "A", "<a@x.org>", plan)
    assert tr.delivery_step(state, "<a@x.org>", "a@x.org", {"status": "sent", "message_id": "<a@x.org>"})
    assert tr.delivery_step(state, "<a@x.org>", "b@x.org", {"status": "sending", "message_id": "<b@x.org>"})
    assert not tr.delivery_step(state, "<other@x>", "c@x.org", {"status": "sent"})  # another email's step
    assert not tr.delivery_step(state, "<a@x.org>", "z@x.org", {"status": "sent"})  # not a recipient of it
    # the sender died here: the next finaliser puts the one in flight in doubt and sends only c
    assert tr.deliveries_in_doubt(state, "<a@x.org>")
    assert {a: d["status"] for a, d in state["email"]["deliveries"].items()} == {
        "a@x.org": "sent", "b@x.org": "unknown", "c@x.org": "pending"}
    assert not tr.deliveries_in_doubt(state, "<a@x.org>")  # nothing in flight any more


def test_resends_of_a_job_are_counted_up_to_the_cap() -> None:
    state = _state()
    assert tr.count_resend(state, 2) and tr.count_resend(state, 2) and not tr.count_resend(state, 2)
    assert tr.uncount_resend(state) and tr.count_resend(state, 2) and state["email_resends"] == 2
    assert tr.count_resend(state, 0)  # 0: no limit


def test_the_webhook_is_due_after_the_final_state_and_only_its_claimer_records_it() -> None:
    state = _state()
    tr.queue_shared(state)
    assert tr.claim_finalization(state, 1, "A", stale_s=300)
    tally = Tally.of_results([DocumentResult(doc_id="d0001", file="a.pdf")])
    assert tr.finish(state, 1, "A", "completed", None, None, tally, {"pid": 1, "host": "h", "boot": "b"})
    assert state["status"] == "completed" and state["webhook"]["status"] == "sending"
    assert not tr.claim_webhook(state, 1, "B", stale_s=300)  # A is still sending it
    assert tr.claim_webhook(state, 1, "B", stale_s=0)  # A overran its claim (or died)
    assert not tr.webhook_outcome(state, 1, {"status": "sent"}, "A")  # A's late outcome does not land
    assert tr.webhook_outcome(state, 1, {"status": "sent"}, "B") and state["webhook_run"] == 1
    assert not tr.claim_webhook(state, 1, "C", stale_s=0)  # sent: never again
