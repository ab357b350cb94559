"""The answer cache belongs to the jobs that use it: per user unless sharing is allowed, and gone with
the last job that used an entry (its document text must not outlive the jobs)."""
from __future__ import annotations

import os
import time
from pathlib import Path

from job_manager import JobManager, JobStatus
from policy_reader.extraction.cache import AnswerCache
from policy_reader.models import Variable, VariableType

YEAR = Variable(name="year_adopted", question="In which year was the policy adopted?", type=VariableType.YEAR)


def _entries(jobs: Path) -> list[str]:
    return sorted(p.stem for p in (jobs / "_cache").glob("*.json"))


def _run(manager: JobManager, pdf: Path, owner: str) -> str:
    job_id = manager.submit(name=f"{owner}'s run", files=[("policy.pdf", pdf)], variables=[YEAR], owner=owner)
    assert manager.wait(job_id, timeout=60).status == JobStatus.COMPLETED
    return job_id


def test_one_users_cache_never_answers_another_users_job(fake_openai, tmp_path, make_pdf):
    fake_openai.facts = {"year_adopted": (2015, "adopted in 2015")}
    pdf = make_pdf("p.pdf", ["The National Policy was adopted in 2015."])
    with JobManager(fake_openai.settings(JOBS_DIR=str(tmp_path / "jobs"))) as manager:
        _run(manager, pdf, "alice")
        calls = fake_openai.calls
        again = _run(manager, pdf, "alice")
        assert fake_openai.calls == calls and manager.get_results(again)[0].cached  # her own cache
        other = _run(manager, pdf, "bob")
        assert fake_openai.calls == calls + 1 and not manager.get_results(other)[0].cached


def test_sharing_identical_documents_across_users_is_the_operators_choice(fake_openai, tmp_path, make_pdf):
    fake_openai.facts = {"year_adopted": (2015, "adopted in 2015")}
    pdf = make_pdf("p.pdf", ["The National Policy was adopted in 2015."])
    with JobManager(fake_openai.settings(JOBS_DIR=str(tmp_path / "jobs"), CACHE_SHARING="true")) as manager:
        _run(manager, pdf, "alice")
        calls = fake_openai.calls
        assert manager.get_results(_run(manager, pdf, "bob"))[0].cached and fake_openai.calls == calls


def test_an_entry_goes_with_the_last_job_that_used_it(tmp_path, make_pdf):
    jobs = tmp_path / "jobs"
    pdf = make_pdf("p.pdf", ["The National Policy was adopted in 2015."])
    from policy_reader.config import load_settings

    with JobManager(load_settings(JOBS_DIR=str(jobs))) as manager:
        first, second = _run(manager, pdf, "alice"), _run(manager, pdf, "alice")
        entry = _entries(jobs)
        assert len(entry) == 1 and manager.get_results(second)[0].cache_key == entry[0]
        manager.delete_job(first)
        assert _entries(jobs) == entry  # the second job still uses it
        manager.delete_job(second)
        assert _entries(jobs) == [] and list((jobs / "_cache").glob("*.refs")) == []

        expired = _run(manager, pdf, "alice")
        assert len(_entries(jobs)) == 1
        old = time.time() - 7200
        os.utime(jobs / "_cache" / f"{_entries(jobs)[0]}.json", (old, old))
        assert manager.cleanup_old_jobs(max_age_hours=0) == [expired]
        assert _entries(jobs) == []


def test_the_sweep_drops_entries_of_jobs_deleted_elsewhere(tmp_path):
    cache = AnswerCache(tmp_path / "_cache")
    key = AnswerCache.key("f" * 64, [YEAR], "offline:v1", 0.8, scope="owner:alice")
    view = cache.for_job("0" * 20, "owner:alice")
    assert view.put(key, [], __import__("policy_reader.models", fromlist=["Usage"]).Usage())
    assert cache.sweep(job_exists=lambda job_id: True, min_age_s=0) == []
    assert cache.sweep(job_exists=lambda job_id: False, min_age_s=3600) == []  # too new to drop
    assert cache.sweep(job_exists=lambda job_id: False, min_age_s=0) == [key]
    assert not (tmp_path / "_cache" / f"{key}.json").exists()


def test_answers_to_text_read_by_older_rules_are_not_reused(monkeypatch):
    """Reading changes what the model sees (tables read as rows): the same file under another reading
    version is another key, so no answer given to the old text is served for the new one."""
    from policy_reader.extraction import cache

    before = AnswerCache.key("f" * 64, [YEAR], "offline:v1", 0.8)
    monkeypatch.setattr(cache, "READING_VERSION", "older")
    assert AnswerCache.key("f" * 64, [YEAR], "offline:v1", 0.8) != before
