"""Re-running part of a finished job (jobs/rerun.py through JobManager.rerun): a document once its password
is given, one variable across the job with another allowed model; the other answers stay or come from the
answer cache, corrections stay unless dropped. Local executor (file store) and queue executor (Azurite)."""
from __future__ import annotations

import pytest

from job_manager import JobManager, JobStatus
from policy_reader.errors import JobError, JobNotFound, VariablesError
from policy_reader.models import AnswerStatus, Variable, VariableType
from tests.pdf_factory import make_encrypted_pdf

YEAR = Variable(name="year_adopted", question="In which year was the ordinance adopted?", type=VariableType.YEAR)
AGENCY = Variable(name="agency", question="Which agency implements the ordinance?")
PASSWORD = "county-7731"


def _files(make_pdf, tmp_path):
    plain = [(f"county{i}.pdf", make_pdf(f"county{i}.pdf", [
        f"Ordinance {i}. This ordinance was adopted in {2010 + i}. It is implemented by the National Climate "
        f"Office and the Energy Agency."])) for i in range(2)]
    locked = make_encrypted_pdf(tmp_path / "locked.pdf", ["This ordinance was adopted in 2020."], PASSWORD)
    return [*plain, ("locked.pdf", locked)]


def _rerun_a_locked_document(manager: JobManager, make_pdf, tmp_path) -> None:
    job_id = manager.submit(name="rerun", files=_files(make_pdf, tmp_path), variables=[YEAR], owner="ana")
    view = manager.wait(job_id, timeout=90)
    assert view.status == JobStatus.COMPLETED and view.documents_failed == 1
    before = {r.doc_id: r for r in manager.get_results(job_id, owner="ana")}
    assert before["d0003"].status == "failed" and before["d0003"].error_code == "encrypted"
    manager.save_review(job_id, "d0001", "year_adopted", value=1999, note="typo in the PDF", owner="ana")

    manager.rerun(job_id, doc_ids=["d0003"], password=PASSWORD, owner="ana")
    view = manager.wait(job_id, timeout=90)
    assert view.status == JobStatus.COMPLETED and (view.documents_done, view.documents_failed) == (3, 0)
    after = {r.doc_id: r for r in manager.get_results(job_id, owner="ana")}
    assert after["d0003"].status == "ok" and after["d0003"].variables[0].value == 2020
    assert after["d0002"] == before["d0002"]  # untouched
    kept = after["d0001"].variables[0]
    assert kept.status == AnswerStatus.CORRECTED and kept.value == 1999 and kept.review.note == "typo in the PDF"
    assert "job.rerun" in [e["type"] for e in manager.read_events(job_id, limit=50, owner="ana")]

    # the whole of a finished document again: nothing changed, so its answers come from the cache
    manager.rerun(job_id, doc_ids=["d0001"], keep_corrections=False, owner="ana")
    view = manager.wait(job_id, timeout=90)
    again = manager.get_results(job_id, owner="ana")[0]
    assert view.status == JobStatus.COMPLETED and view.documents_done == 3
    assert again.cached and again.variables[0].value == 2010 and again.variables[0].review is None


def test_a_document_reruns_with_its_password_and_the_rest_stays(settings, make_pdf, tmp_path):
    with JobManager(settings) as manager:
        _rerun_a_locked_document(manager, make_pdf, tmp_path)


def test_a_document_reruns_through_the_azure_queue(azurite, make_pdf, tmp_path):
    with JobManager(azurite.settings(JOBS_DIR=str(tmp_path / "jobs"))) as manager:
        _rerun_a_locked_document(manager, make_pdf, tmp_path)


def test_one_variable_is_asked_again_with_another_model_and_only_it(fake_openai, make_pdf, tmp_path):
    fake_openai.facts = {"year_adopted": (2010, "adopted in 2010"),
                         "agency": ("National Climate Office", "implemented by the National Climate Office")}
    settings = fake_openai.settings(JOBS_DIR=str(tmp_path / "jobs"), ALLOWED_MODELS="gpt-big")
    with JobManager(settings) as manager:
        job_id = manager.submit(name="models", files=_files(make_pdf, tmp_path)[:2], variables=[YEAR, AGENCY])
        assert manager.wait(job_id, timeout=60).status == JobStatus.COMPLETED
        first = manager.get_results(job_id)
        manager.save_review(job_id, "d0002", "agency", value="County Board", owner=None)
        manager.save_review(job_id, "d0001", "agency", value="Energy Office", owner=None)
        calls = len(fake_openai.requests)

        with pytest.raises(JobError, match="not offered"):
            manager.rerun(job_id, variables=["agency"], model="gpt-unknown")
        with pytest.raises(VariablesError):
            manager.rerun(job_id, variables=["budget"])
        with pytest.raises(JobNotFound):
            manager.rerun(job_id, doc_ids=["d0009"])

        fake_openai.facts = {**fake_openai.facts, "agency": ("Energy Agency", "and the Energy Agency")}
        manager.rerun(job_id, variables=["agency"], model="gpt-big", keep_corrections=True)
        view = manager.wait(job_id, timeout=60)
        assert view.status == JobStatus.COMPLETED and view.model == "gpt-big" and view.documents_done == 2
        asked = fake_openai.requests[calls:]
        assert len(asked) == 2 and {r.body.get("model") for r in asked} == {"gpt-big"}
        assert [r.variable_names for r in asked] == [["agency"], ["agency"]]  # only the chosen variable
        results = manager.get_results(job_id)
        for old, new in zip(first, results):
            assert new.variables[0] == old.variables[0]  # the year was not asked again
            assert new.usage.calls == old.usage.calls + 1  # what both runs spent
        assert results[0].variables[1].value == "Energy Office"  # the correction stays
        assert results[0].variables[1].original_value == "Energy Agency"  # over the new model's answer

        manager.rerun(job_id, doc_ids=["d0002"], variables=["agency"], keep_corrections=False)
        assert manager.wait(job_id, timeout=60).status == JobStatus.COMPLETED
        results = manager.get_results(job_id)
        assert results[1].variables[1].value == "Energy Agency" and results[1].variables[1].review is None
        assert results[0].variables[1].value == "Energy Office"  # another document's correction: untouched
