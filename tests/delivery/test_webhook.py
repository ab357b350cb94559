"""Webhook: a real HTTP server on 127.0.0.1 checks the HMAC signature; 500 then 200 is retried."""
from __future__ import annotations

import json
import time


from job_manager import JobManager, JobStatus
from policy_reader.config import load_settings
from policy_reader.models import SkippedFile, Variable, VariableType
from policy_reader.delivery.webhook import post_webhook, sign, verify
from tests.fixtures.common import wait_until
from tests.fixtures.webhook import SECRET


def test_signed_and_retried_after_500(receiver):
    hook = receiver([500])
    result = post_webhook(hook.url, {"job_id": "abc", "status": "completed"}, secret=SECRET, backoff_s=0.01)
    assert (result.status, result.attempts, result.http_status) == ("sent", 2, 200)
    assert [(status, ok) for status, _, ok in hook.received] == [(500, True), (200, True)]
    assert hook.received[1][1] == {"job_id": "abc", "status": "completed"}


def test_signature_is_hmac_sha256_of_raw_body():
    body = b'{"a":1}'
    assert sign(body, "k") == "sha256=" + __import__("hmac").new(b"k", body, "sha256").hexdigest()
    assert not verify(body + b" ", sign(body, "k"), "k")


def test_permanent_failure_is_reported_not_raised(receiver):
    hook = receiver([404])
    result = post_webhook(hook.url, {"x": 1}, secret=SECRET, backoff_s=0.01)
    assert result.status == "failed" and result.attempts == 1 and "404" in result.error


def test_unreachable_webhook_gives_up_after_retries():
    result = post_webhook("http://127.0.0.1:9/none", {"x": 1}, secret=None, attempts=3, backoff_s=0.01, timeout_s=1)
    assert result.status == "failed" and result.attempts == 3 and "after 3 attempts" in result.error


def test_job_completion_posts_signed_summary(receiver, tmp_path, make_pdf):
    hook = receiver([500])
    settings = load_settings(JOBS_DIR=str(tmp_path / "jobs"), WEBHOOK_URL=hook.url, WEBHOOK_SECRET=SECRET)
    manager = JobManager(settings)
    try:
        pdf = make_pdf("p.pdf", ["The policy was adopted in 2018."])
        job_id = manager.submit(name="hooked", files=[("p.pdf", pdf)], skipped=[SkippedFile(name="n.txt", reason="x")],
                                variables=[Variable(name="year_adopted", question="Year adopted?", type=VariableType.YEAR)])
        view = manager.wait(job_id, timeout=60)
    finally:
        manager.shutdown()
    assert view.status == JobStatus.COMPLETED
    assert view.webhook.status == "sent" and view.webhook.attempts == 2
    status, payload, ok = hook.received[-1]
    assert ok and payload["job_id"] == job_id and payload["status"] == "completed"
    assert payload["documents_ok"] == 1 and payload["documents_skipped"] == 1 and SECRET not in json.dumps(payload)


def test_a_trickling_receiver_is_cut_off_at_the_total_deadline(receiver):
    hook = receiver([], trickle_s=20)
    started = time.monotonic()
    result = post_webhook(hook.url, {"x": 1}, secret=SECRET, attempts=3, backoff_s=0.01, timeout_s=5, deadline_s=1.5)
    assert time.monotonic() - started < 5  # not 20 s: each byte came in time, the total did not
    assert result.status == "failed" and "1.5 s" in result.error


def test_a_trickling_receiver_never_holds_a_finished_job(receiver, tmp_path, make_pdf):
    """The job's final state is written before the webhook is called, and the webhook has a total deadline:
    a receiver that answers a byte at a time (never slow enough for a read timeout) cannot keep the job
    reading "running" / "exporting"."""
    hook = receiver([], trickle_s=30)
    settings = load_settings(JOBS_DIR=str(tmp_path / "jobs"), WEBHOOK_URL=hook.url, WEBHOOK_SECRET=SECRET,
                             WEBHOOK_DEADLINE_S=3)
    manager = JobManager(settings)
    try:
        pdf = make_pdf("p.pdf", ["The policy was adopted in 2018."])
        job_id = manager.submit(name="hooked", files=[("p.pdf", pdf)],
                                variables=[Variable(name="year_adopted", question="Year adopted?", type=VariableType.YEAR)])
        wait_until(lambda: manager.get_job_status(job_id).finished, timeout=15)
        view = manager.get_job_status(job_id)
        assert view.status == JobStatus.COMPLETED and view.stage is None
        wait_until(lambda: manager.get_job_status(job_id).webhook.get("status") == "failed", timeout=15)
        assert "3 s" in manager.get_job_status(job_id).webhook["error"]
        assert len(hook.received) == 1  # one request: its total deadline passed, no retry after it
    finally:
        manager.shutdown()
