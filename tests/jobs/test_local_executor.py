"""The local executor when the disk or the job's own files fail: a real small filesystem (tmpfs) that
fills up, damaged files, a cache that cannot be written. Every failure ends in a clear status and
message, leaves nothing half-made behind, and never blocks cancel, delete or a later resume."""
from __future__ import annotations

from pathlib import Path

import pytest

from job_manager import JobManager, JobStatus
from policy_reader.config import load_settings
from policy_reader.errors import JobDamaged, StorageError
from policy_reader.models import Variable, VariableType
from tests.fixtures.fairness import big_documents_done_when_a_small_job_finishes

YEAR = Variable(name="year_adopted", question="In which year was the policy adopted?", type=VariableType.YEAR)
MANY = [YEAR] + [Variable(name=f"topic_{i}", question=f"What does the policy say about topic {i}?")
                 for i in range(10)]


def _docs(make_pdf, n: int) -> list[tuple[str, Path]]:
    return [(f"p{i}.pdf", make_pdf(f"p{i}.pdf", [f"Policy {i}. The policy was adopted in {2010 + i}."]))
            for i in range(n)]


def test_a_full_disk_at_creation_leaves_no_half_stored_job(small_disk, make_pdf):
    disk = small_disk("1m")
    with JobManager(load_settings(JOBS_DIR=str(disk / "jobs"))) as manager:
        before = disk.available()
        big = b"%PDF-1.4\n" + b"0" * (2 * 1024 * 1024)
        with pytest.raises(StorageError, match="store the uploaded files: the disk is full"):
            manager.create_job(name="too big", files=[("small.pdf", make_pdf("s.pdf", ["A small policy text."])),
                                                      ("big.pdf", big)], variables=[YEAR])
        assert [p.name for p in (disk / "jobs").iterdir() if not p.name.startswith("_")] == []
        assert disk.available() >= before - 8192 and manager.list_jobs() == []


def test_results_that_cannot_be_saved_fail_the_job_and_resume_finishes_it(small_disk, tmp_path, make_pdf):
    """Before: "completed, 0 of 3 read, 0 failed", with nothing saved."""
    jobs = tmp_path / "jobs"
    with JobManager(load_settings(JOBS_DIR=str(jobs))) as manager:
        job_id = manager.create_job(name="full", files=_docs(make_pdf, 3), variables=MANY)
        disk = small_disk("64k", at=jobs / job_id / "results")  # its own full filesystem: results only
        disk.fill(leave=0)
        manager.run_job_async(job_id)
        view = manager.wait(job_id, timeout=60)
        assert view.status == JobStatus.FAILED, view
        assert "have no saved result" in view.error and "the disk is full" in view.error
        assert view.documents_done < 3

        disk.free()
        manager.resume_job(job_id)
        view = manager.wait(job_id, timeout=60)
        assert view.status == JobStatus.COMPLETED and (view.documents_done, view.documents_failed) == (3, 0)
        assert [r.variables[0].value for r in manager.get_results(job_id)] == [2010, 2011, 2012]


def test_a_disk_full_to_the_last_byte_never_leaves_a_job_running_forever(small_disk, make_pdf):
    """No write at all succeeds: the job's state cannot even say it failed. Once space is back the
    job is taken over and finished, and meanwhile other jobs can still be deleted."""
    disk = small_disk("2m")
    settings = load_settings(JOBS_DIR=str(disk / "jobs"), HEARTBEAT_STALE_S="2")
    with JobManager(settings, start=False) as manager:
        other = manager.create_job(name="other", files=_docs(make_pdf, 1), variables=[YEAR])
        job_id = manager.create_job(name="full", files=_docs(make_pdf, 3), variables=[YEAR])
        manager.run_job_async(job_id)
        disk.fill(leave=0)
        manager.wait(job_id, timeout=10)
        assert manager.executor.running_here() == 0  # the run is over here, whatever job.json says
        manager.delete_job(other)  # deleting needs no space

        disk.free()
        assert manager.recover_interrupted() == [job_id] or manager.get_job_status(job_id).finished
        view = manager.wait(job_id, timeout=60)
        assert view.status == JobStatus.COMPLETED and view.documents_done == 3


def test_a_cache_that_cannot_be_written_costs_nothing_but_the_cache(tmp_path, make_pdf):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "_cache").write_text("not a folder")  # every cache write fails
    with JobManager(load_settings(JOBS_DIR=str(jobs))) as manager:
        job_id = manager.submit(name="no cache", files=_docs(make_pdf, 2), variables=[YEAR])
        view = manager.wait(job_id, timeout=60)
        assert view.status == JobStatus.COMPLETED and view.documents_failed == 0


def test_a_damaged_manifest_fails_the_job_clearly_every_time(tmp_path, make_pdf):
    """Before: the job stayed "running", resume hung, and it broke again on every restart."""
    with JobManager(load_settings(JOBS_DIR=str(tmp_path / "jobs"))) as manager:
        job_id = manager.create_job(name="damaged", files=_docs(make_pdf, 2), variables=[YEAR])
        (tmp_path / "jobs" / job_id / "documents.json").write_text('{"documents": [{"doc_id": "d0')
        manager.run_job_async(job_id)
        view = manager.wait(job_id, timeout=30)
        assert view.status == JobStatus.FAILED and "documents.json" in view.error
        manager.resume_job(job_id)
        assert manager.wait(job_id, timeout=30).status == JobStatus.FAILED
        assert manager.recover_interrupted() == []
        manager.delete_job(job_id)


def test_a_damaged_state_file_is_reported_and_can_be_deleted_by_an_admin(tmp_path, make_pdf):
    with JobManager(load_settings(JOBS_DIR=str(tmp_path / "jobs"))) as manager:
        job_id = manager.create_job(name="torn", files=_docs(make_pdf, 1), variables=[YEAR], owner="alice")
        (tmp_path / "jobs" / job_id / "job.json").write_bytes(b'{"id": "')
        with pytest.raises(JobDamaged, match="job.json"):
            manager.get_job_status(job_id)
        assert manager.list_jobs() == []  # the listing skips it rather than failing
        with pytest.raises(JobDamaged):
            manager.delete_job(job_id, owner="alice")  # its owner cannot be read any more
        manager.delete_job(job_id)  # owner=None: the CLI or an administrator
        assert not (tmp_path / "jobs" / job_id).exists()


def test_another_users_small_job_does_not_wait_for_two_big_ones(fake_openai, tmp_path, make_pdf):
    """Before: a one-document job waited behind another user's two 100-document jobs (42 s measured,
    growing with their size). Now it starts at once and its document gets the next free thread."""
    fake_openai.latency = 0.3
    fake_openai.facts = {"year_adopted": (2011, "adopted in 2011")}
    settings = fake_openai.settings(JOBS_DIR=str(tmp_path / "jobs"), MAX_PARALLEL_JOBS="2",
                                    MAX_PARALLEL_DOCUMENTS="2", DOCS_PER_JOB="2", LLM_MAX_CONCURRENCY="4")
    with JobManager(settings) as manager:
        done_by_then = big_documents_done_when_a_small_job_finishes(manager, make_pdf, [YEAR], 2011)
    assert done_by_then <= 10, f"bob waited while alice's jobs finished {done_by_then} of 40 documents"


def test_the_count_of_finished_documents_never_lags_the_log(fake_openai, tmp_path, make_pdf):
    """Before: the overall bar read "1 / 5 documents" while the log listed 4 finished: each document's
    "Finished" event was written at once, its count only at the next throttled progress flush."""
    from policy_reader.jobs.store import FileJobStore

    seen: list[tuple[int, int]] = []  # (finished events so far, documents_done in job.json) at each one

    class Watching(FileJobStore):
        def append_event(self, job_id, event):
            if event.get("type") in ("doc.finished", "doc.failed"):
                seen.append((len(seen) + 1, int(self.read_state(job_id).get("documents_done") or 0)))
            super().append_event(job_id, event)

    fake_openai.latency = 0.2
    fake_openai.facts = {"year_adopted": (2011, "adopted in 2011")}
    settings = fake_openai.settings(JOBS_DIR=str(tmp_path / "jobs"), MAX_PARALLEL_DOCUMENTS="5", DOCS_PER_JOB="5")
    with JobManager(settings, store=Watching(tmp_path / "jobs")) as manager:
        view = manager.wait(manager.submit(name="count", files=_docs(make_pdf, 5), variables=[YEAR]), timeout=60)
    assert view.status == JobStatus.COMPLETED and len(seen) == 5
    assert all(done >= finished for finished, done in seen), seen
