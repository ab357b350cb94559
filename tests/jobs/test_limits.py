"""Per-user limits hold against an attacker with an ordinary account, on both job stores.

Usage is recorded in a per-user ledger as it happens (jobs/limits.py, kept by the store), so deleting a
job does not give its documents back; resume passes the same limits as create; and the check and the
record are one atomic step (a file lock on the file store, a conditional write on Azure), so requests
made at the same instant cannot all pass."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from policy_reader.config import Settings, load_settings
from policy_reader.errors import LimitExceeded
from policy_reader.jobs.manager import JobManager
from policy_reader.models import Variable

ROOT = Path(__file__).resolve().parents[2]
VARIABLES = [Variable(name="x", question="What is x?")]


@pytest.fixture(params=["file", "azure"])
def limited(request, tmp_path: Path):
    """limited(**env) -> Settings for the file store, then for the Azure store on Azurite."""
    def _make(**env: object) -> Settings:
        if request.param == "file":
            return load_settings(JOBS_DIR=str(tmp_path / "jobs"), **env)
        return request.getfixturevalue("azurite").settings(JOBS_DIR=str(tmp_path / "jobs"), **env)
    return _make


@pytest.fixture
def one_pdf(make_pdf) -> list[tuple[str, Path]]:
    return [("a.pdf", make_pdf("a.pdf", ["Policy a. Adopted in 2001."]))]


def _create(manager: JobManager, files: list[tuple[str, Path]], owner: str = "mallory") -> str:
    return manager.create_job(name="attack", files=files, variables=VARIABLES, owner=owner)


def test_deleting_jobs_does_not_give_back_the_daily_documents(limited, one_pdf) -> None:
    manager = JobManager(limited(USER_MAX_DOCUMENTS_PER_DAY=2), start=False)
    try:
        for _ in range(2):
            manager.delete_job(_create(manager, one_pdf), owner="mallory")
        with pytest.raises(LimitExceeded, match="USER_MAX_DOCUMENTS_PER_DAY"):
            _create(manager, one_pdf)
        _create(manager, one_pdf, owner="someone-else")  # the ledger is per user
    finally:
        manager.shutdown()


def test_resume_passes_the_same_limits_as_create(limited, one_pdf) -> None:
    manager = JobManager(limited(USER_MAX_CONCURRENT_JOBS=1), start=False)
    try:
        first = _create(manager, one_pdf)
        manager.cancel_job(first, owner="mallory")
        _create(manager, one_pdf)  # the first one is cancelled: a slot is free
        with pytest.raises(LimitExceeded, match="USER_MAX_CONCURRENT_JOBS"):
            manager.resume_job(first, owner="mallory")
        assert manager.get_job_status(first).status.value == "cancelled"
    finally:
        manager.shutdown()


def test_six_simultaneous_creations_in_threads_admit_one(limited, one_pdf) -> None:
    manager = JobManager(limited(USER_MAX_CONCURRENT_JOBS=1), start=False)
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def create() -> None:
        barrier.wait()
        try:
            _create(manager, one_pdf)
            outcomes.append("ok")
        except LimitExceeded:
            outcomes.append("refused")

    try:
        threads = [threading.Thread(target=create) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(outcomes) == ["ok"] + ["refused"] * 5
        assert len(manager.list_jobs("mallory")) == 1
    finally:
        manager.shutdown()


@pytest.mark.parametrize("kind", ["file", "azure"])
def test_six_simultaneous_creations_in_two_processes_admit_one(kind, request, tmp_path, one_pdf) -> None:
    jobs_dir = tmp_path / "jobs"
    if kind == "file":
        settings = load_settings(JOBS_DIR=str(jobs_dir))
        env = {**_env(), "USER_MAX_CONCURRENT_JOBS": "1"}
    else:
        azurite = request.getfixturevalue("azurite")
        settings = azurite.settings(JOBS_DIR=str(jobs_dir))
        env = azurite.env(settings, USER_MAX_CONCURRENT_JOBS=1)
    start_at = time.time() + 3.0  # both processes are up by then (imports take ~1-2 s on a loaded machine)
    procs = [subprocess.Popen([sys.executable, str(ROOT / "tests" / "helpers" / "create_jobs.py"), str(jobs_dir),
                               str(one_pdf[0][1]), "3", str(start_at)], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outcomes = sorted(line for proc in procs for line in proc.communicate(timeout=120)[0].split())
    assert outcomes == ["ok"] + ["refused"] * 5
    manager = JobManager(settings, start=False)
    try:
        assert len(manager.list_jobs("mallory")) == 1
    finally:
        manager.shutdown()


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("USER_MAX")}


def test_ledger_rules_are_pure_windows_and_a_resume_on_a_later_day_counts_again() -> None:
    from datetime import datetime, timedelta, timezone

    from policy_reader.jobs import limits

    settings = load_settings(USER_MAX_DOCUMENTS_PER_DAY=5, USER_MAX_EMAILS_PER_DAY=3, EMAIL_MAX_RESENDS_PER_HOUR=1)
    ledger = limits.UsageLedger.from_json({}, "u")
    monday = datetime(2026, 3, 2, 23, 0, tzinfo=timezone.utc)
    limits.admit_job(settings, ledger, "j1", 4, monday, lambda job, since: False)
    limits.admit_job(settings, ledger, "j1", 4, monday, lambda job, since: False, resume=True)  # counted today
    with pytest.raises(LimitExceeded, match="4 used today, this job has 2"):
        limits.admit_job(settings, ledger, "j2", 2, monday, lambda job, since: False)
    tuesday = monday + timedelta(hours=2)
    limits.admit_job(settings, ledger, "j1", 3, tuesday, lambda job, since: False, resume=True)  # what is left
    assert ledger.used("documents", limits.start_of_day(tuesday)) == 3
    limits.reserve_messages(settings, ledger, "j1", 2, tuesday, resend=True)
    with pytest.raises(LimitExceeded, match="you can send again in 60 min"):
        limits.reserve_messages(settings, ledger, "j1", 1, tuesday, resend=True)
    with pytest.raises(LimitExceeded, match="USER_MAX_EMAILS_PER_DAY"):
        limits.reserve_messages(settings, ledger, "j1", 2, tuesday, resend=False)
    ledger.prune(tuesday + timedelta(days=3))
    assert ledger.entries == [] and list(ledger.active) == ["j1"]
    data: dict = {}
    ledger.write_into(data)
    assert limits.UsageLedger.from_json(data, "u") == ledger


def test_pages_read_stay_counted_after_the_job_is_deleted(tmp_path, make_pdf) -> None:
    manager = JobManager(load_settings(JOBS_DIR=str(tmp_path / "jobs"), USER_MAX_PAGES_PER_DAY=2))
    try:
        pdf = make_pdf("two.pdf", ["Page one. Adopted in 2001.", "Page two."])
        job_id = manager.submit(name="pages", files=[("two.pdf", pdf)], variables=VARIABLES, owner="mallory")
        assert manager.wait(job_id, timeout=60).status.value == "completed"
        manager.delete_job(job_id, owner="mallory")
        with pytest.raises(LimitExceeded, match="USER_MAX_PAGES_PER_DAY"):
            _create(manager, [("two.pdf", pdf)])
    finally:
        manager.shutdown()
