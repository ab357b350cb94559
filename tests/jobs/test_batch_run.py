"""Batch mode as a job option: through the Batch API end to end, resumed after a kill without a second
batch, cancelled at the provider, refused where it cannot run (the fake server's files and batches)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from job_manager import JobManager, JobOptions, JobStatus
from policy_reader.errors import JobError
from policy_reader.fsio import read_json
from policy_reader.models import Variable, VariableType
from policy_reader.llm.pricing import price
from tests.fixtures.common import wait_until

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "tests" / "helpers" / "crash_worker.py"
YEAR = Variable(name="year_adopted", question="In which year was the policy adopted?", type=VariableType.YEAR)


def _docs(make_pdf, n: int = 3) -> list[tuple[str, Path]]:
    return [(f"p{i}.pdf", make_pdf(f"p{i}.pdf", [f"Policy {i}. The policy was adopted in {2010 + i}."]))
            for i in range(n)]


def _facts(fake_openai) -> None:
    fake_openai.responder = None
    fake_openai.facts = {"year_adopted": (2010, "adopted in 2010")}


def test_a_batch_job_answers_through_the_batch_api_at_half_price(fake_openai, tmp_path, make_pdf):
    _facts(fake_openai)
    fake_openai.batch_delay = 1.5
    settings = fake_openai.settings(JOBS_DIR=str(tmp_path / "jobs"), BATCH_POLL_S="0.2")
    with JobManager(settings) as manager:
        job_id = manager.submit(name="batch", files=_docs(make_pdf), variables=[YEAR],
                                options=JobOptions(batch=True))
        stages: list[str] = []
        wait_until(lambda: stages.append(manager.get_job_status(job_id).stage or "") or
                   manager.get_job_status(job_id).finished, timeout=60)
        view = manager.wait(job_id, timeout=10)
        assert view.status == JobStatus.COMPLETED and (view.documents_done, view.documents_failed) == (3, 0)
        assert any(stage.startswith("batch ") for stage in stages), stages  # the progress shows the batch
        assert fake_openai.batches_created == 1 and fake_openai.requests == []  # nothing asked live
        results = manager.get_results(job_id)
        assert [r.variables[0].value for r in results][:1] == [2010]
        usage = view.usage
        assert usage.cost_usd == pytest.approx(price(usage, settings, None).cost_usd * 0.5, abs=5e-6)  # per-call rounding


def test_a_killed_batch_job_resumes_without_a_second_batch(fake_openai, tmp_path, make_pdf):
    _facts(fake_openai)
    fake_openai.batch_delay = 4.0
    jobs = tmp_path / "jobs"
    env = {**os.environ, **fake_openai.env(JOBS_DIR=jobs, BATCH_POLL_S=0.2, PYTHONPATH=ROOT)}
    creator = JobManager(fake_openai.settings(JOBS_DIR=str(jobs)), start=False)
    job_id = creator.create_job(name="batch", files=_docs(make_pdf), variables=[YEAR], options=JobOptions(batch=True))
    creator.shutdown()
    first = subprocess.Popen([sys.executable, str(HELPER), job_id], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    wait_until(lambda: str(read_json(jobs / job_id / "job.json").get("stage") or "").startswith("batch"), timeout=60)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert fake_openai.batches_created == 1

    out, err = subprocess.Popen([sys.executable, str(HELPER), job_id], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True).communicate(timeout=120)
    assert "done completed" in out, err[-2000:]
    state = read_json(jobs / job_id / "job.json")
    assert (state["documents_done"], state["documents_failed"]) == (3, 0)
    assert fake_openai.batches_created == 1 and fake_openai.requests == []  # followed, never resubmitted


def test_cancelling_a_batch_job_cancels_the_batch(fake_openai, tmp_path, make_pdf):
    _facts(fake_openai)
    fake_openai.batch_delay = 60
    with JobManager(fake_openai.settings(JOBS_DIR=str(tmp_path / "jobs"), BATCH_POLL_S="0.2")) as manager:
        job_id = manager.submit(name="batch", files=_docs(make_pdf, 2), variables=[YEAR],
                                options=JobOptions(batch=True))
        wait_until(lambda: (manager.get_job_status(job_id).stage or "").startswith("batch"), timeout=60)
        manager.cancel_job(job_id)
        assert manager.wait(job_id, timeout=30).status == JobStatus.CANCELLED
        assert [b["status"] for b in fake_openai.batches.values()] in (["cancelling"], ["cancelled"])


def test_batch_mode_is_refused_where_it_cannot_run(tmp_path, make_pdf, settings):
    with JobManager(settings, start=False) as manager:
        with pytest.raises(JobError, match="Batch mode needs OpenAI or Azure OpenAI"):
            manager.create_job(name="offline", files=_docs(make_pdf, 1), variables=[YEAR],
                               options=JobOptions(batch=True))


def test_the_cli_runs_a_job_in_batch_mode(fake_openai, tmp_path, make_pdf):
    _facts(fake_openai)
    fake_openai.batch_delay = 0.5
    variables = tmp_path / "vars.csv"
    variables.write_text("name,question,type\nyear_adopted,In which year was the policy adopted?,year\n")
    env = {**os.environ, **fake_openai.env(JOBS_DIR=tmp_path / "jobs", BATCH_POLL_S=0.2, PYTHONPATH=ROOT)}
    out = tmp_path / "out.json"
    done = subprocess.run([sys.executable, "-m", "policy_reader", "extract", *(str(p) for _, p in _docs(make_pdf, 2)),
                           "--variables", str(variables), "--out", str(out), "--batch"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert fake_openai.batches_created == 1 and fake_openai.requests == []
    assert [d["status"] for d in read_json(out)["documents"]] == ["ok", "ok"]
