"""Batch mode as a job option: through the Batch API end to end, resumed after a kill without a second
batch, cancelled at the provider, refused where it cannot run (the fake server's files and batches)."""
from __future__ import annotations

import json
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
from tests.fake_openai import Fault
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


def _poison_second_line(damage: str):
    """The provider's output file with the second document's line damaged (the others intact)."""
    def edit(lines: list[str]) -> list[str]:
        item = json.loads(lines[1])
        if damage == "not json":
            lines[1] = lines[1][: len(lines[1]) // 2] + " <truncated"
        elif damage == "list":
            lines[1] = json.dumps([item])
        else:
            item["response"]["status_code"] = "abc"
            lines[1] = json.dumps(item)
        return lines
    return edit


@pytest.mark.parametrize("damage", ["not json", "list", "status abc"])
def test_one_bad_output_line_is_an_error_answer_for_its_request_only(fake_openai, tmp_path, make_pdf, damage):
    """One unreadable line failed the whole paid batch (0 of 3 documents), and every resume again: now it
    is an error answer for its one request; the good lines answer their documents."""
    _facts(fake_openai)
    fake_openai.batch_delay = 0.3
    fake_openai.batch_output_edit = _poison_second_line(damage)
    with JobManager(fake_openai.settings(JOBS_DIR=str(tmp_path / "jobs"), BATCH_POLL_S="0.1")) as manager:
        job_id = manager.submit(name="batch", files=_docs(make_pdf), variables=[YEAR], options=JobOptions(batch=True))
        view = manager.wait(job_id, timeout=60)
        assert view.status == JobStatus.COMPLETED, view.error
        results = {r.file: r for r in manager.get_results(job_id)}
        assert results["p0.pdf"].variables[0].value == 2010
        assert results["p1.pdf"].variables[0].status.value == "error"
        assert "could not be read" in (results["p1.pdf"].variables[0].note or "")
        assert results["p2.pdf"].variables[0].status.value != "error"
        assert fake_openai.batches_created == 1


def test_transient_poll_errors_are_retried_not_the_end_of_the_job(fake_openai, tmp_path, make_pdf):
    """A dropped connection, a 500 and a 429 while polling failed a job whose batch went on (billed) at the
    provider; they are retried with backoff, the 429's Retry-After honoured."""
    _facts(fake_openai)
    fake_openai.batch_delay = 1.0
    fake_openai.poll_faults.extend([None, None, Fault("drop"), Fault("500"), Fault("429", retry_after=0.5)])
    with JobManager(fake_openai.settings(JOBS_DIR=str(tmp_path / "jobs"), BATCH_POLL_S="0.1",
                                         LLM_BACKOFF_BASE_S="0.05")) as manager:
        job_id = manager.submit(name="batch", files=_docs(make_pdf), variables=[YEAR], options=JobOptions(batch=True))
        view = manager.wait(job_id, timeout=60)
        assert view.status == JobStatus.COMPLETED, view.error
        assert (view.documents_done, view.documents_failed) == (3, 0)
        assert not fake_openai.poll_faults  # every fault was met
        assert fake_openai.batches_created == 1


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
