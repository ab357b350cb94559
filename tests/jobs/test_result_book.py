"""Reviews of a finished job (jobs/result_book.py through the JobManager facade): every correction keeps
its history (engine value, stored value, who, when, note), a value that does not fit is refused with
nothing saved, bulk decisions are one write and can be undone, and the bulk-accept selector only picks
flagged answers whose exact quote states the value. Real PDFs, the offline extractor, real files."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook

from job_manager import JobManager, JobStatus
from policy_reader.errors import JobError, ReviewRefused
from policy_reader.jobs.result_book import document_reviewed_decisions, exact_accept_decisions
from policy_reader.models import AnswerStatus, MatchKind, Passage, ReviewDecision, Variable, VariableType

SETBACK = Variable(name="setback_ft", question="What is the minimum setback distance in feet?",
                   type=VariableType.NUMBER, always_review=True)  # flagged whatever the engine's confidence
YEAR = Variable(name="year_adopted", question="In which year was the ordinance adopted?", type=VariableType.YEAR,
                always_review=True)  # always flagged: a flagged answer with an exact quote
TEXT = ("Wind Energy Ordinance of Example County. This ordinance was adopted in {year}. "
        "Turbines shall be set back a minimum of {feet} feet from any property line.")


@pytest.fixture
def manager(settings):
    m = JobManager(settings)
    yield m
    m.shutdown(wait=False)


@pytest.fixture
def job(manager, make_pdf) -> str:
    files = [(f"county{i}.pdf", make_pdf(f"county{i}.pdf", [TEXT.format(year=2010 + i, feet=500 + 10 * i)]))
             for i in range(3)]
    view = manager.wait(manager.submit(name="reviews", files=files, variables=[SETBACK, YEAR], owner="ana"),
                        timeout=60)
    assert view.status == JobStatus.COMPLETED and view.documents_failed == 0
    return view.id


def _answer(manager: JobManager, job_id: str, doc_id: str, name: str):
    doc = next(d for d in manager.get_results(job_id, owner="ana") if d.doc_id == doc_id)
    return next(a for a in doc.variables if a.name == name)


def test_a_correction_keeps_who_when_why_and_reads_corrected(manager, job) -> None:
    flagged = _answer(manager, job, "d0001", "year_adopted")
    assert flagged.status == AnswerStatus.NEEDS_REVIEW and flagged.note  # the engine's flag

    stored = manager.save_review(job, "d0001", "year_adopted", value="2011", note="amended date", owner="ana")
    assert (stored.value, stored.original_value, stored.changed, stored.by, stored.note) == (
        2011, 2010, True, "ana", "amended date")
    assert stored.at.startswith("20") and stored.at.endswith("+00:00")  # UTC ISO

    answer = _answer(manager, job, "d0001", "year_adopted")
    assert answer.status == AnswerStatus.CORRECTED and answer.value == 2011 and answer.original_value == 2010
    assert answer.review is not None and answer.review.by == "ana" and answer.review.note == "amended date"
    assert flagged.note not in answer.note and "Corrected by ana" in answer.note and "2010" in answer.note

    payload = json.loads(manager.get_export(job, "json", owner="ana"))
    row = payload["documents"][0]["variables"][1]
    assert row["status"] == "corrected" and row["value"] == 2011
    assert row["review"]["original_value"] == 2010 and row["review"]["by"] == "ana"
    assert row["review"]["note"] == "amended date" and row["review"]["at"] == stored.at

    wb = load_workbook(io.BytesIO(manager.get_export(job, "xlsx", owner="ana")))
    evidence = wb["Evidence"]
    head = [c.value for c in evidence[1]]
    line = {h: evidence.cell(row=3, column=i + 1).value for i, h in enumerate(head)}  # d0001's year
    assert (line["variable"], line["value"], line["status"]) == ("year_adopted", 2011, "✎ corrected")
    assert (line["original value"], line["corrected by"], line["correction note"]) == ("2010", "ana", "amended date")
    assert line["corrected at"] is not None
    results = wb["Results"]
    cell = results.cell(row=2, column=[c.value for c in results[1]].index("year_adopted") + 1)
    assert cell.value == 2011 and "Corrected by ana" in cell.comment.text and "2010" in cell.comment.text


def test_a_correction_that_does_not_fit_is_refused_and_nothing_is_saved(manager, job, settings) -> None:
    reviews = Path(settings.jobs_dir) / job / "reviews.json"
    with pytest.raises(ReviewRefused) as refused:
        manager.save_review(job, "d0001", "setback_ft", value="500 ft or 110% of total height", owner="ana")
    message = refused.value.message
    assert "several numbers" in message and "nothing was stored" in message and "used the first" not in message
    assert not reviews.exists()
    assert _answer(manager, job, "d0001", "setback_ft").review is None


def test_not_specified_is_stored_as_not_stated_and_drops_the_quote(manager, job) -> None:
    before = _answer(manager, job, "d0002", "setback_ft")
    assert before.value == 510 and before.evidence and before.page == 1 and before.span

    stored = manager.save_review(job, "d0002", "setback_ft", value="not specified", owner="ana")
    assert stored.value is None and stored.changed  # what was stored: nothing, "not stated"

    answer = _answer(manager, job, "d0002", "setback_ft")
    assert answer.status == AnswerStatus.CORRECTED and answer.value is None and answer.original_value == 510
    assert (answer.evidence, answer.page, answer.span, answer.passages) == ("", None, [], [])
    assert answer.match_kind == MatchKind.NONE


def test_bulk_decisions_are_one_write_and_undo_restores_exactly_them(manager, job, settings) -> None:
    reviews = Path(settings.jobs_dir) / job / "reviews.json"
    first = manager.save_review(job, "d0001", "year_adopted", value=1999, owner="ana")
    version = json.loads(reviews.read_text())["version"]

    decisions = [ReviewDecision(doc_id=d, variable="year_adopted") for d in ("d0002", "d0003")]
    decisions.append(ReviewDecision(doc_id="d0001", variable="setback_ft", action="correct", value="600"))
    batch = manager.save_reviews(job, decisions, owner="ana")
    assert batch.count == 3 and json.loads(reviews.read_text())["version"] == version + 1
    assert {(c.doc_id, c.variable) for c in batch.changes} == {("d0002", "year_adopted"), ("d0003", "year_adopted"),
                                                               ("d0001", "setback_ft")}
    assert _answer(manager, job, "d0002", "year_adopted").status == AnswerStatus.ACCEPTED
    assert _answer(manager, job, "d0001", "setback_ft").value == 600

    # a refused value in a batch refuses the whole batch
    with pytest.raises(ReviewRefused):
        manager.save_reviews(job, [ReviewDecision(doc_id="d0003", variable="setback_ft", action="correct",
                                                  value="a lot"),
                                   ReviewDecision(doc_id="d0002", variable="setback_ft", action="accept")],
                             owner="ana")
    assert _answer(manager, job, "d0002", "setback_ft").review is None

    later = manager.save_review(job, "d0003", "year_adopted", value=2015, owner="ana")  # after the bulk action
    undone = manager.undo_reviews(job, batch.action_id, owner="ana")
    assert undone.count == 2  # d0003's year was reviewed again since: that later decision stays
    assert _answer(manager, job, "d0003", "year_adopted").review.at == later.at
    assert _answer(manager, job, "d0002", "year_adopted").status == AnswerStatus.NEEDS_REVIEW
    assert _answer(manager, job, "d0001", "setback_ft").value == 500
    still = _answer(manager, job, "d0001", "year_adopted")  # the earlier single correction stays
    assert still.value == 1999 and still.review.at == first.at
    with pytest.raises(JobError, match="undo"):
        manager.undo_reviews(job, batch.action_id, owner="ana")
    with pytest.raises(JobError):
        manager.save_reviews(job, decisions, owner="somebody else")  # not their job


def test_bulk_accept_selects_only_flagged_exact_quotes_that_state_the_value(manager, job) -> None:
    results = manager.get_results(job, owner="ana")
    variables = manager.get_variables(job, owner="ana")
    picked = exact_accept_decisions(results, variables, variable="year_adopted")
    assert [(d.doc_id, d.variable, d.action) for d in picked] == [
        ("d0001", "year_adopted", "accept"), ("d0002", "year_adopted", "accept"), ("d0003", "year_adopted", "accept")]
    assert [d.doc_id for d in exact_accept_decisions(results, variables, doc_id="d0002")] == ["d0002", "d0002"]
    manager.save_review(job, "d0001", "setback_ft", value=650, owner="ana")  # reviewed: no longer picked
    results = manager.get_results(job, owner="ana")
    assert [d.doc_id for d in exact_accept_decisions(results, variables, variable="setback_ft")] == ["d0002", "d0003"]

    # a quote that does not state the value, a fuzzy quote, a rival value: never bulk-accepted
    doc = results[1]
    year = next(a for a in doc.variables if a.name == "year_adopted")
    rival = Passage(value=1990, evidence="amended in 1990", page=1, agrees=False)
    for changed in (year.model_copy(update={"value": 1990}), year.model_copy(update={"match_kind": MatchKind.FUZZY}),
                    year.model_copy(update={"passages": [rival]})):
        assert exact_accept_decisions([doc.model_copy(update={"variables": [changed]})], variables) == []
    assert len(exact_accept_decisions([doc.model_copy(update={"variables": [year]})], variables)) == 1

    batch = manager.save_reviews(job, picked, owner="ana")
    assert batch.count == 3
    left = exact_accept_decisions(manager.get_results(job, owner="ana"), variables)
    assert [(d.doc_id, d.variable) for d in left] == [("d0002", "setback_ft"), ("d0003", "setback_ft")]

    marked = manager.save_reviews(job, document_reviewed_decisions(manager.get_results(job, owner="ana"), "d0003"),
                                  owner="ana")
    assert marked.count == 1  # its setback; its year was accepted by the bulk action
    assert [a.status for a in manager.get_results(job, owner="ana")[2].variables] == [AnswerStatus.ACCEPTED] * 2


def test_bulk_decisions_and_undo_on_the_azure_store(azurite, make_pdf, tmp_path) -> None:
    """The same one conditional write (ETag) of reviews.json in Blob Storage."""
    files = [(f"c{i}.pdf", make_pdf(f"c{i}.pdf", [TEXT.format(year=2010 + i, feet=500)])) for i in range(2)]
    with JobManager(azurite.settings(JOBS_DIR=str(tmp_path / "jobs"))) as manager:
        job = manager.wait(manager.submit(name="az", files=files, variables=[SETBACK, YEAR], owner="ana"),
                           timeout=60).id
        version = int(manager.store.read_reviews(job).get("version", 0))
        batch = manager.save_reviews(job, [ReviewDecision(doc_id=d, variable="year_adopted", action="not_stated",
                                                          note="repealed") for d in ("d0001", "d0002")], owner="ana")
        assert batch.count == 2 and int(manager.store.read_reviews(job)["version"]) == version + 1
        assert [r.variables[1].status for r in manager.get_results(job, owner="ana")] == [AnswerStatus.CORRECTED] * 2
        assert manager.undo_reviews(job, batch.action_id, owner="ana").count == 2
        assert [r.variables[1].review for r in manager.get_results(job, owner="ana")] == [None, None]
