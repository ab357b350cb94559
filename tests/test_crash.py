"""Crash safety with a real process killed by SIGKILL at random moments, then resumed.

The job runs against the fake OpenAI server (real HTTP, with latency), so every model call is
counted per document: a document whose checkpoint existed when the process was killed must
never be sent to the model again.

The worker processes run with link() refused by the OS (tests/fixtures/oslimits.py), as on App
Service's /home (SMB): the store must be crash-safe without hard links. The file store has one code
path whatever the file system, so this run also covers a local disk.
"""
from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from job_manager import JobManager
from policy_reader.config import load_settings
from policy_reader.fsio import read_json
from policy_reader.models import Variable, VariableType
from tests.fixtures.openai_server import TEST_KEY
from tests.fixtures.tools import missing_tool
from tests.fixtures.common import wait_until

ROOT = Path(__file__).resolve().parent.parent
HELPER = ROOT / "tests" / "helpers" / "crash_worker.py"
MARKER = re.compile(r"MARKER-(\d{3})")
DOCS = 48
KILLS = 9


def _requests_per_doc(server) -> Counter:
    counts: Counter = Counter()
    for req in list(server.requests):
        for found in set(MARKER.findall(req.text)):
            counts[int(found)] += 1
    return counts


def _results(jobs_dir: Path, job_id: str) -> set[str]:
    folder = jobs_dir / job_id / "results"
    return {p.stem for p in folder.glob("d*.json")} if folder.exists() else set()


def test_sigkill_at_random_points_then_resume(fake_openai, tmp_path, make_pdf, link_refused):
    fake_openai.latency = 0.25
    fake_openai.facts = {"year_adopted": (2019, "adopted in 2019")}
    jobs_dir = tmp_path / "jobs"
    env = {**os.environ, **fake_openai.env(JOBS_DIR=jobs_dir, LLM_MAX_RETRIES=2, LLM_TIMEOUT_S=5,
                                           LLM_BACKOFF_BASE_S=0.01, DOCS_PER_JOB=3),
           "HEARTBEAT_STALE_S": "30",  # a dead pid on this host is detected at once, not after 30 s
           "PYTHONPATH": str(ROOT), **link_refused.env}
    settings = load_settings(JOBS_DIR=str(jobs_dir), LLM_BACKEND="openai", OPENAI_API_KEY=TEST_KEY,
                             OPENAI_BASE_URL=fake_openai.base_url + "/v1")
    files = [(f"p{i:03d}.pdf", make_pdf(f"p{i:03d}.pdf", [f"MARKER-{i:03d}. The policy was adopted in 2019."]))
             for i in range(DOCS)]
    creator = JobManager(settings, start=False)
    job_id = creator.create_job(name="crash", files=files,
                                variables=[Variable(name="year_adopted", question="Year adopted?", type=VariableType.YEAR)])
    creator.shutdown()

    rng = random.Random(20240607)
    protected: dict[str, int] = {}  # doc_id -> requests seen when its checkpoint already existed
    mid_job_kills = 0
    for round_no in range(KILLS):
        proc = subprocess.Popen([sys.executable, str(HELPER), job_id], env=env, cwd=str(tmp_path),
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if round_no % 2 == 0:  # anywhere, even during start-up / recovery
            time.sleep(rng.uniform(0.3, 3.0))
        else:  # after the manager is up, while documents are in flight
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.2, 1.6))
        before = _results(jobs_dir, job_id)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        state = read_json(jobs_dir / job_id / "job.json")  # never torn
        assert state["id"] == job_id
        done = _results(jobs_dir, job_id)
        if 0 < len(done) < DOCS and state["status"] == "running":
            mid_job_kills += 1
        counts = _requests_per_doc(fake_openai)
        for doc_id in done:
            protected.setdefault(doc_id, counts[int(doc_id[1:]) - 1])
        assert before <= done

    assert mid_job_kills >= 3, "the kills should land while the job is running"
    final = subprocess.run([sys.executable, str(HELPER), job_id], env=env, cwd=str(tmp_path),
                           capture_output=True, text=True, timeout=60)
    assert "done completed" in final.stdout, final.stderr[-2000:]

    state = read_json(jobs_dir / job_id / "job.json")
    assert state["status"] == "completed"
    assert (state["documents_done"], state["documents_failed"], state["documents_total"]) == (DOCS, 0, DOCS)
    results = sorted((jobs_dir / job_id / "results").glob("d*.json"))
    assert [p.stem for p in results] == [f"d{i + 1:04d}" for i in range(DOCS)]
    for path in results:
        data = read_json(path)
        assert data["status"] == "ok" and data["variables"][0]["value"] == 2019
    counts = _requests_per_doc(fake_openai)
    for doc_id, seen in protected.items():
        assert counts[int(doc_id[1:]) - 1] == seen, f"{doc_id} was sent to the model again after its checkpoint"
    assert all(counts[i] >= 1 for i in range(DOCS))
    events = [e["type"] for e in JobManager(settings, start=False).read_events(job_id, limit=1000)]
    assert events.count("job.resumed") >= 3


# --------------------------------------------------------------------------- a live owner that loses its job

LEASE_DOCS = 12


def _lease_job(tmp_path, fake_openai, smtp_server, make_pdf):
    """A job with recipients, and the environment of two processes that will both want to run it."""
    fake_openai.latency = 0.4
    fake_openai.facts = {"year_adopted": (2019, "adopted in 2019")}
    jobs_dir = tmp_path / "jobs"
    env = {**os.environ, **fake_openai.env(JOBS_DIR=jobs_dir, LLM_MAX_RETRIES=2, DOCS_PER_JOB=2),
           "HEARTBEAT_STALE_S": "2", "PYTHONPATH": str(ROOT),
           "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_server.port), "SMTP_SECURITY": "none"}
    settings = load_settings(JOBS_DIR=str(jobs_dir), LLM_BACKEND="openai", OPENAI_API_KEY=TEST_KEY,
                             OPENAI_BASE_URL=fake_openai.base_url + "/v1")
    files = [(f"p{i:03d}.pdf", make_pdf(f"p{i:03d}.pdf", [f"MARKER-{i:03d}. The policy was adopted in 2019."]))
             for i in range(LEASE_DOCS)]
    creator = JobManager(settings, start=False)
    job_id = creator.create_job(name="lease", files=files, recipients=["analyst@example.org"],
                                variables=[Variable(name="year_adopted", question="Year adopted?", type=VariableType.YEAR)])
    creator.shutdown()
    return job_id, jobs_dir, env, settings


def _start(job_id, env, cwd, prefix=()):
    return subprocess.Popen([*prefix, sys.executable, str(HELPER), job_id], env=env, cwd=str(cwd),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _assert_done_once(job_id, jobs_dir, settings, smtp_server, fake_openai, at_most_twice: int) -> None:
    state = read_json(jobs_dir / job_id / "job.json")
    assert state["status"] == "completed", state
    assert (state["documents_done"], state["documents_failed"]) == (LEASE_DOCS, 0)
    assert len(_results(jobs_dir, job_id)) == LEASE_DOCS
    assert len(smtp_server.messages) == 1, "exactly one email"
    events = [e["type"] for e in JobManager(settings, start=False).read_events(job_id, limit=1000)]
    assert events.count("job.completed") == 1 and events.count("email.sent") == 1
    counts = _requests_per_doc(fake_openai)
    twice = [doc for doc in range(LEASE_DOCS) if counts[doc] > 1]
    assert len(twice) <= at_most_twice, f"documents sent to the model again: {twice}"


def test_a_frozen_owner_wakes_to_find_its_job_taken_over(fake_openai, smtp_server, tmp_path, make_pdf):
    """SIGSTOP the running process past the heartbeat limit; another process recovers the job and
    finishes it; SIGCONT the first. It must stop without writing: one completion, one email."""
    job_id, jobs_dir, env, settings = _lease_job(tmp_path, fake_openai, smtp_server, make_pdf)
    owner = _start(job_id, env, tmp_path)
    assert owner.stdout.readline().strip() == "ready"
    wait_until(lambda: len(_results(jobs_dir, job_id)) >= 2, timeout=60)
    owner.send_signal(signal.SIGSTOP)
    try:
        successor = _start(job_id, env, tmp_path)
        out, err = successor.communicate(timeout=90)
        assert "done completed" in out, err[-2000:]
    finally:
        owner.send_signal(signal.SIGCONT)
    out, err = owner.communicate(timeout=60)
    assert "done completed" in out and "Traceback" not in err, err[-2000:]
    _assert_done_once(job_id, jobs_dir, settings, smtp_server, fake_openai, at_most_twice=2)


def test_a_process_whose_clock_runs_ahead_takes_over_without_doubling(fake_openai, smtp_server, tmp_path,
                                                                       make_pdf):
    """A second process whose clock is an hour ahead (libfaketime) sees the live owner's heartbeat as
    stale and takes the job over while the owner still runs: the owner must notice and stand down."""
    faketime = shutil.which("faketime")
    if faketime is None:
        missing_tool("faketime is not installed (Debian package faketime, installed by .ci/run)")
    job_id, jobs_dir, env, settings = _lease_job(tmp_path, fake_openai, smtp_server, make_pdf)
    owner = _start(job_id, env, tmp_path)
    assert owner.stdout.readline().strip() == "ready"
    wait_until(lambda: len(_results(jobs_dir, job_id)) >= 2, timeout=60)
    ahead = _start(job_id, env, tmp_path, prefix=(faketime, "-f", "+1h"))
    out_ahead, err_ahead = ahead.communicate(timeout=90)
    out, err = owner.communicate(timeout=90)
    assert "done completed" in out_ahead, err_ahead[-2000:]
    assert "done completed" in out and "Traceback" not in err, err[-2000:]
    _assert_done_once(job_id, jobs_dir, settings, smtp_server, fake_openai, at_most_twice=2)


# --------------------------------------------------------------------------- the email goes out once

def _email_job(tmp_path, smtp_server, make_pdf, recipients=("analyst@example.org",), **extra_env):
    jobs_dir = tmp_path / "jobs"
    env = {**os.environ, "JOBS_DIR": str(jobs_dir), "LLM_BACKEND": "offline", "PYTHONPATH": str(ROOT),
           "HEARTBEAT_STALE_S": "30", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_server.port),
           "SMTP_SECURITY": "none", "SMTP_TIMEOUT_S": "60", **extra_env}
    settings = load_settings(JOBS_DIR=str(jobs_dir))
    creator = JobManager(settings, start=False)
    job_id = creator.create_job(
        name="email once", recipients=list(recipients),
        files=[("p.pdf", make_pdf("p.pdf", ["National Climate Policy. The policy was adopted in 2019."]))],
        variables=[Variable(name="year_adopted", question="In which year was the policy adopted?",
                            type=VariableType.YEAR)])
    creator.shutdown()
    return job_id, jobs_dir, env


def _state(jobs_dir, job_id) -> dict:
    return read_json(jobs_dir / job_id / "job.json")


def test_a_kill_while_the_mail_server_answers_never_sends_the_email_twice(smtp_server, tmp_path, make_pdf):
    """The server has the message but the sender dies before its "250": the message may be out. The
    recovered job must say so, not send it again."""
    job_id, jobs_dir, env = _email_job(tmp_path, smtp_server, make_pdf)
    smtp_server.handler.reply_delay_s = 30
    first = _start(job_id, env, tmp_path)
    wait_until(lambda: len(smtp_server.messages) == 1, timeout=60)
    assert _state(jobs_dir, job_id)["email"]["status"] == "sending"
    first.kill()
    first.wait(timeout=10)
    smtp_server.handler.reply_delay_s = 0

    out, err = _start(job_id, env, tmp_path).communicate(timeout=60)
    assert "done completed" in out, err[-2000:]
    assert len(smtp_server.messages) == 1
    email = _state(jobs_dir, job_id)["email"]
    assert email["status"] == "unknown" and "may or may not have gone out" in email["error"]
    assert email["message_id"] == smtp_server.messages[0].parsed()["Message-ID"]


def test_a_kill_in_the_middle_of_the_recipients_never_mails_anyone_twice(smtp_server, tmp_path, make_pdf):
    """Each recipient gets their own message, and each one's intent is recorded before it is sent: a sender
    killed while the third of five is being delivered leaves two sent, one that may be out, two to send.
    The recovered job sends only those two."""
    people = [f"p{i}@example.org" for i in range(1, 6)]
    job_id, jobs_dir, env = _email_job(tmp_path, smtp_server, make_pdf, recipients=people)
    smtp_server.handler.reply_delay_s, smtp_server.handler.reply_delay_from = 30, 3
    first = _start(job_id, env, tmp_path)
    wait_until(lambda: len(smtp_server.messages) == 3, timeout=60)
    first.kill()
    first.wait(timeout=10)
    smtp_server.handler.reply_delay_s = 0

    out, err = _start(job_id, env, tmp_path).communicate(timeout=60)
    assert "done completed" in out, err[-2000:]
    got = sorted(r for m in smtp_server.messages for r in m.rcpt_tos)
    assert got == people, got  # everyone once: the two before the kill, the one in flight, the two after
    email = _state(jobs_dir, job_id)["email"]
    assert email["status"] == "sent"
    assert {a: d["status"] for a, d in email["deliveries"].items()} == {
        "p1@example.org": "sent", "p2@example.org": "sent", "p3@example.org": "unknown",
        "p4@example.org": "sent", "p5@example.org": "sent"}
    assert "p3@example.org" in email["error"] and "may or may not have gone out" in email["error"]


def test_a_kill_during_a_slow_webhook_does_not_send_the_email_again(smtp_server, receiver, tmp_path, make_pdf):
    """The email is recorded as sent before the webhook is called (which may take long): a kill while
    the webhook waits leaves a job whose recovery finishes without mailing anyone twice."""
    hook = receiver([], delay_s=30)
    job_id, jobs_dir, env = _email_job(tmp_path, smtp_server, make_pdf, WEBHOOK_URL=hook.url)
    first = _start(job_id, env, tmp_path)
    wait_until(lambda: len(hook.received) == 1, timeout=60)
    assert _state(jobs_dir, job_id)["email"]["status"] == "sent"
    assert _state(jobs_dir, job_id)["status"] == "completed"  # written before the webhook was called
    first.kill()
    first.wait(timeout=10)
    hook.delay_s = 0

    out, err = _start(job_id, env, tmp_path).communicate(timeout=60)
    assert "done completed" in out, err[-2000:]
    assert len(smtp_server.messages) == 1
    assert _state(jobs_dir, job_id)["email"]["status"] == "sent"
    # the job was finished before its webhook was called; the webhook the kill interrupted is sent again at
    # start-up (webhooks are at-least-once: receivers dedupe on job_id)
    assert len(hook.received) == 2 and _state(jobs_dir, job_id)["webhook"]["status"] == "sent"
