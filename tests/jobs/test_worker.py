"""Scale-out: JobManager with JOB_STORE=azure, the queue worker, and real worker processes, on Azurite.

Real parts only: Azurite (blob + queue), real PDFs, the fake OpenAI HTTP server, real subprocesses
(`python -m policy_reader worker` and `extract`), SIGKILL for the crash.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from job_manager import JobManager, JobStatus
from policy_reader.jobs import limits
from policy_reader.jobs.azure_store import AzureJobStore
from policy_reader.config import load_settings
from policy_reader.errors import JobError, LimitExceeded
from policy_reader.models import Variable, VariableType
from policy_reader.jobs.queue_executor import QueueExecutor
from tests.fixtures.azurite import AzuriteServer
from tests.fixtures.common import wait_until
from tests.fixtures.fairness import big_documents_done_when_a_small_job_finishes

ROOT = Path(__file__).resolve().parents[2]
VARIABLES = [Variable(name="year_adopted", question="In which year was the policy adopted?", type=VariableType.YEAR)]


def _pdfs(make_pdf, count: int) -> list[tuple[str, Path]]:
    return [(f"doc{i}.pdf", make_pdf(f"doc{i}.pdf", [f"Policy number {i}. The policy was adopted in {2000 + i}."]))
            for i in range(count)]


@pytest.fixture
def azure_settings(azurite, tmp_path):
    return azurite.settings(JOBS_DIR=str(tmp_path / "jobs"), QUEUE_VISIBILITY_TIMEOUT_S=2, QUEUE_MAX_ATTEMPTS=2)


def test_azure_job_runs_through_the_queue(azure_settings, make_pdf):
    with JobManager(azure_settings) as manager:
        assert isinstance(manager.store, AzureJobStore) and isinstance(manager.executor, QueueExecutor)
        job_id = manager.submit(name="queue", files=_pdfs(make_pdf, 4), variables=VARIABLES,
                                recipients=["analyst@example.org"])
        view = manager.wait(job_id, timeout=60)
        assert view.status == JobStatus.COMPLETED and view.documents_done == 4 and view.documents_failed == 0
        assert [r.variables[0].value for r in manager.get_results(job_id)] == [2000, 2001, 2002, 2003]
        assert view.email.status == "sent" and len(manager.outbox_files(job_id)) == 1
        assert manager.store.outbox_blobs(job_id) == [manager.outbox_files(job_id)[0].name]
        assert b"year_adopted" in manager.get_export(job_id, "csv")
        state = manager.store.read_state(job_id)
        assert sorted(state["counted"]) == ["d0001", "d0002", "d0003", "d0004"] and state["pages_read"] == 4
        assert manager.store.work_queue().length() == 0
        with pytest.raises(Exception, match="nothing to resume"):
            manager.resume_job(job_id)


def test_finalisation_race_sends_one_email(azure_settings, make_pdf):
    """Several instances try to finish the same job at the same moment: one wins, one email."""
    creator = JobManager(azure_settings, start=False)
    job_id = creator.create_job(name="race", files=_pdfs(make_pdf, 1), variables=VARIABLES,
                                recipients=["analyst@example.org"])
    others = [JobManager(azure_settings.model_copy(update={"jobs_dir": azure_settings.jobs_dir / f"i{i}"}),
                         start=False) for i in range(3)]
    creator.store.update_state(job_id, lambda s: s.update(status="running", run=1))
    barrier = threading.Barrier(3)
    wins: list[bool] = []

    def finish(manager: JobManager) -> None:
        barrier.wait()
        wins.append(manager.executor.finalize(job_id, "completed"))

    threads = [threading.Thread(target=finish, args=(m,)) for m in others]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False, False, True]
    assert len(creator.store.outbox_blobs(job_id)) == 1
    assert creator.get_job_status(job_id).status == JobStatus.COMPLETED
    assert others[0].executor.finalize(job_id, "completed") is False  # finished jobs are never re-finalised
    assert len(creator.store.outbox_blobs(job_id)) == 1


def test_poison_document_is_failed_and_the_job_completes(azure_settings, make_pdf):
    manager = JobManager(azure_settings, start=False)
    try:
        job_id = manager.create_job(name="poison", files=_pdfs(make_pdf, 3), variables=VARIABLES,
                                    recipients=["analyst@example.org"])
        # A document whose processing raises on every delivery: its stored input is gone.
        manager.store.container.delete_blob(f"jobs/{job_id}/inputs/d0002-doc1.pdf")
        manager.run_job_async(job_id)
        view = manager.wait(job_id, timeout=45)
        assert view.status == JobStatus.COMPLETED and view.documents_done == 3 and view.documents_failed == 1
        failed = {r.doc_id: r for r in manager.get_results(job_id) if r.status != "ok"}
        assert list(failed) == ["d0002"] and failed["d0002"].error_code == "poison"
        assert "failed 2 times" in failed["d0002"].error and "missing" in failed["d0002"].error
        poisoned = manager.store.work_queue().poison_messages()
        assert [(p["job"], p["doc"]) for p in poisoned] == [(job_id, "d0002")] and poisoned[0]["dequeue_count"] == 3
        assert len(manager.store.outbox_blobs(job_id)) == 1
        assert any(e["type"] == "doc.poisoned" for e in manager.read_events(job_id, 50))
    finally:
        manager.shutdown()


def test_cancel_keeps_finished_documents_and_resume_finishes(azurite, fake_openai, tmp_path, make_pdf):
    fake_openai.latency = 0.4
    fake_openai.facts = {"year_adopted": (2001, "adopted in 2001")}
    settings = fake_openai.settings(**azurite.store_env(), JOBS_DIR=str(tmp_path / "jobs"),
                                    QUEUE_VISIBILITY_TIMEOUT_S=3, MAX_PARALLEL_DOCUMENTS=1)
    with JobManager(settings) as manager:
        job_id = manager.submit(name="cancel", files=_pdfs(make_pdf, 6), variables=VARIABLES,
                                recipients=["analyst@example.org"])
        wait_until(lambda: manager.get_job_status(job_id).documents_done >= 1)
        manager.cancel_job(job_id)
        view = manager.wait(job_id, timeout=10)
        assert view.status == JobStatus.CANCELLED and 1 <= view.documents_done < 6
        assert len(manager.store.outbox_blobs(job_id)) == 1  # the cancelled job's email, once
        kept = set(manager.store.list_results(job_id))
        calls_before = fake_openai.calls
        manager.resume_job(job_id)
        view = manager.wait(job_id, timeout=30)
        assert view.status == JobStatus.COMPLETED and view.documents_done == 6
        # documents finished before the cancel were not sent to the model again
        assert fake_openai.calls - calls_before <= 6 - len(kept) + 1
        assert len(manager.store.outbox_blobs(job_id)) == 2  # one email per finished run


def test_another_users_small_job_does_not_wait_behind_two_big_ones(azurite, fake_openai, tmp_path, make_pdf):
    """Before: one queue in the order sent, so bob's one document waited until all 40 of alice's were done.
    Now each owner has a lane and the consumers take turns between lanes."""
    fake_openai.latency = 0.3
    fake_openai.facts = {"year_adopted": (2001, "adopted in 2001")}
    settings = fake_openai.settings(**azurite.store_env(), JOBS_DIR=str(tmp_path / "jobs"),
                                    MAX_PARALLEL_DOCUMENTS=2, QUEUE_VISIBILITY_TIMEOUT_S=10)
    with JobManager(settings) as manager:
        done_by_then = big_documents_done_when_a_small_job_finishes(manager, make_pdf, VARIABLES, 2001)
    assert done_by_then <= 10, f"bob waited while alice's jobs finished {done_by_then} of 40 documents"


def test_a_job_whose_documents_could_not_be_queued_is_interrupted_and_resumes(azure_settings, make_pdf):
    """Before: a storage failure while queueing left the job pending with documents missing from the
    queue: it waited for them forever, and resume answered "nothing to resume"."""
    with JobManager(azure_settings) as manager:
        job_id = manager.create_job(name="half queued", files=_pdfs(make_pdf, 3), variables=VARIABLES)
        manager.store.work_queue().backlog.delete_queue()  # an operator's slip: every count update now fails
        with pytest.raises(JobError, match="Azure Storage error while counting a queued document"):
            manager.run_job_async(job_id)
        view = manager.get_job_status(job_id)
        assert view.status == JobStatus.INTERRUPTED and "Resume the job" in (view.error or "")
        manager.store.work_queue()  # the queue is back (any process that starts makes it)
        manager.resume_job(job_id)
        view = manager.wait(job_id, timeout=60)
        assert view.status == JobStatus.COMPLETED and view.documents_done == 3 and view.documents_failed == 0
        wait_until(lambda: manager.store.work_queue().length() == 0)  # no document left without its count


def test_token_budget_stops_the_job_and_keeps_results(azurite, fake_openai, tmp_path, make_pdf):
    fake_openai.facts = {"year_adopted": (2001, "adopted in 2001")}
    settings = fake_openai.settings(**azurite.store_env(), JOBS_DIR=str(tmp_path / "jobs"),
                                    MAX_PARALLEL_DOCUMENTS=1, JOB_TOKEN_BUDGET=1)
    with JobManager(settings) as manager:
        job_id = manager.submit(name="budget", files=_pdfs(make_pdf, 5), variables=VARIABLES)
        view = manager.wait(job_id, timeout=30)
        assert view.status == JobStatus.COMPLETED and view.limit_message
        assert "Token budget" in view.limit_message and view.documents_done < 5
        assert len(manager.get_results(job_id)) >= view.documents_done >= 1


def test_daily_limits_say_which_limit_and_when_it_resets(azure_settings, make_pdf):
    settings = azure_settings.model_copy(update={"user_max_documents_per_day": 3})
    manager = JobManager(settings, start=False)
    manager.create_job(name="a", files=_pdfs(make_pdf, 2), variables=VARIABLES, owner="ana@example.org")
    with pytest.raises(LimitExceeded, match=r"Daily document limit reached \(3 documents per day.*resets at "
                                            r"00:00 UTC \(in \d+ h \d+ min\)"):
        manager.create_job(name="b", files=_pdfs(make_pdf, 2), variables=VARIABLES, owner="ana@example.org")
    manager.create_job(name="c", files=_pdfs(make_pdf, 2), variables=VARIABLES, owner="ben@example.org")


def test_limit_rules_are_pure_and_shared():
    settings = load_settings(USER_MAX_PAGES_PER_DAY=100, USER_MAX_CONCURRENT_JOBS=2)
    now = datetime(2026, 3, 1, 20, 48, tzinfo=timezone.utc)
    states = [{"owner": "u", "status": "running", "created_at": "2026-03-01T10:00:00+00:00", "documents_total": 4,
               "pages_read": 60},
              {"owner": "u", "status": "completed", "created_at": "2026-03-01T11:00:00+00:00", "documents_total": 2,
               "pages_read": 40},
              {"owner": "u", "status": "completed", "created_at": "2026-02-28T11:00:00+00:00", "pages_read": 500},
              {"owner": "v", "status": "running", "created_at": "2026-03-01T11:00:00+00:00", "pages_read": 900}]
    usage = limits.user_usage(states, "u", now)
    assert usage == limits.UserUsage(active_jobs=1, documents_today=6, pages_today=100)
    assert limits.resets_in(now) == "00:00 UTC (in 3 h 12 min)"
    with pytest.raises(LimitExceeded, match=r"Daily page limit reached \(100 pages per day.*in 3 h 12 min"):
        limits.check_new_job(settings, usage, 1, now)
    limits.check_new_job(settings, limits.user_usage(states, "w", now), 1, now)  # w has used nothing today


# ---------------------------------------------------------------------------- real processes


def _process_env(settings, fake_openai, jobs_dir: Path, **extra) -> dict[str, str]:
    return AzuriteServer.env(settings, jobs_dir=jobs_dir, openai_base_url=fake_openai.base_url,
                             LLM_MAX_RETRIES=2, LLM_BACKOFF_BASE_S=0.01, QUEUE_VISIBILITY_TIMEOUT_S=2,
                             MAX_PARALLEL_DOCUMENTS=1, **extra)


def test_workers_and_cli_share_a_job_and_survive_a_sigkill(azurite, fake_openai, tmp_path, make_pdf):
    """Two `worker` processes and a CLI `extract` share one job; one worker is SIGKILLed mid-document.
    The job completes with every document exactly once and one email."""
    fake_openai.latency = 0.5
    fake_openai.facts = {"year_adopted": (2001, "adopted in 2001")}
    settings = azurite.settings(JOBS_DIR=str(tmp_path / "jobs"))
    store = AzureJobStore(settings)
    pdfs = [path for _name, path in _pdfs(make_pdf, 8)]
    variables = tmp_path / "vars.csv"
    variables.write_text("name,question,type\nyear_adopted,In which year was the policy adopted?,year\n")
    # each worker's log goes to a file: a pipe nobody reads fills up and blocks the worker mid-job
    logs = [open(tmp_path / f"worker{i}.log", "w") for i in range(2)]
    workers = [subprocess.Popen([sys.executable, "-m", "policy_reader", "worker"], cwd=str(tmp_path),
                                env=_process_env(settings, fake_openai, tmp_path / f"w{i}"),
                                stdout=subprocess.DEVNULL, stderr=logs[i], text=True) for i in range(2)]
    try:
        cli = subprocess.Popen([sys.executable, "-m", "policy_reader", "extract", *map(str, pdfs), "--variables",
                                str(variables), "--out", str(tmp_path / "out.json"), "--email", "team@example.org"],
                               cwd=str(tmp_path), env=_process_env(settings, fake_openai, tmp_path / "cli"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        victim = workers[0]
        wait_until(lambda: any(store.exists(j) for j in store.list_job_ids()), timeout=30)
        job_id = store.list_job_ids()[0]

        def victim_busy() -> bool:
            flights = store.read_state(job_id).get("in_flight") or []
            return any(f":{victim.pid}:" in str(f.get("worker")) for f in flights)

        wait_until(victim_busy, timeout=30)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        out, err = cli.communicate(timeout=60)
        assert cli.returncode == 0, err
        state = store.read_state(job_id)
        assert state["status"] == "completed" and state["documents_done"] == 8 and state["documents_failed"] == 0
        assert sorted(state["counted"]) == [f"d{i:04d}" for i in range(1, 9)]
        assert store.list_results(job_id) == [f"d{i:04d}" for i in range(1, 9)]
        events = store.read_events(job_id, 200)
        finished = [e["doc_id"] for e in events if e["type"] == "doc.finished"]
        assert sorted(finished) == [f"d{i:04d}" for i in range(1, 9)]  # each document finished exactly once
        assert len({e["worker"] for e in events if e["type"] == "doc.finished"}) >= 2  # the work was shared
        assert len(store.outbox_blobs(job_id)) == 1  # exactly one email
        # a finished document was never sent to the model again: only the killed one may repeat
        texts = [r.text for r in fake_openai.requests]
        repeats = [i for i in range(8) if sum(f"Policy number {i}." in t for t in texts) > 1]
        assert len(repeats) <= 1 and all(sum(f"Policy number {i}." in t for t in texts) >= 1 for i in range(8))
        assert (tmp_path / "out.json").is_file()
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.terminate()
        for proc in workers:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()


def test_worker_command_needs_the_azure_store(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "JOB_STORE"))}
    env.update(PYTHONPATH=str(ROOT), JOBS_DIR=str(tmp_path / "jobs"))
    proc = subprocess.run([sys.executable, "-m", "policy_reader", "worker"], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "JOB_STORE=azure" in proc.stderr
