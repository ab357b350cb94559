"""A job's audit sample (jobs/accuracy.py through JobManager): drawn once from the accepted answers, stored
with the job's reviews, marked by a reviewer, and its estimate in the Excel Summary sheet, the JSON export
and the email. The job is real: generated policies answered by the fake OpenAI server."""
from __future__ import annotations

import email
import io
import json
import threading
from email import policy as email_policy
from pathlib import Path

import pytest
from openpyxl import load_workbook

from policy_reader.accuracy.gold import wilson
from policy_reader.accuracy.audit import accepted_answers, draw, sample_size
from policy_reader.errors import JobError, JobNotFound
from policy_reader.llm.prompts import PROMPT_VERSION


def _summary(xlsx: bytes) -> dict[str, object]:
    sheet = load_workbook(io.BytesIO(xlsx))["Summary"]
    return {row[0].value: row[1].value for row in sheet.iter_rows(min_row=2) if row[0].value}


def _mark_all(manager, job_id: str, wrong: set[int]) -> list[tuple[str, str]]:
    items = list(manager.get_audit(job_id).items)
    for i, (doc_id, name) in enumerate(items):
        manager.mark_audit(job_id, doc_id, name, correct=i not in wrong)
    return items


def test_the_sample_is_drawn_from_accepted_answers_reproducibly_and_stored_with_the_job(policy_job) -> None:
    manager, job_id, _policies = policy_job(3)
    stored = manager.services.book.stored(job_id)
    variables = manager.get_variables(job_id)
    population = accepted_answers(stored, variables)
    assert len(population) >= 20  # the fake model's answers are mostly accepted

    record = manager.start_audit(job_id, margin=0.15, seed=2024)
    assert record.population == len(population)
    assert record.items == draw(population, sample_size(len(population), 0.15), 2024)
    assert (record.backend, record.model, record.prompt_version) == ("openai", "gpt-fake", PROMPT_VERSION)
    on_disk = json.loads((Path(manager.settings.jobs_dir) / job_id / "reviews.json").read_text())
    assert on_disk["audit"]["seed"] == 2024 and len(on_disk["audit"]["items"]) == len(record.items)

    with pytest.raises(JobError, match="already has an audit sample"):
        manager.start_audit(job_id, margin=0.15)
    redrawn = manager.start_audit(job_id, margin=0.3, seed=7, replace=True)
    assert redrawn.seed == 7 and len(redrawn.items) == sample_size(len(population), 0.3)
    with pytest.raises(JobError, match="between 0 and 1"):
        manager.start_audit(job_id, margin=5, replace=True)


def test_marks_give_the_estimate_and_reach_the_workbook_and_the_json(policy_job) -> None:
    manager, job_id, _policies = policy_job(3)
    assert _summary(manager.get_export(job_id, "xlsx"))["accuracy estimate"] == "not measured for this job"
    assert json.loads(manager.get_export(job_id, "json"))["accuracy"] is None

    manager.start_audit(job_id, margin=0.2, seed=11)
    items = _mark_all(manager, job_id, wrong={1, 4})
    with pytest.raises(JobNotFound, match="not in this job's audit sample"):
        manager.mark_audit(job_id, "d0001", "no_such_variable", correct=True)

    estimate = manager.audit_estimate(job_id)
    n, right = len(items), len(items) - 2
    assert (estimate.marked, estimate.overall.n, estimate.overall.correct) == (n, n, right)
    assert (estimate.overall.ci_low, estimate.overall.ci_high) == pytest.approx(wilson(right, n), abs=1e-6)

    summary = _summary(manager.get_export(job_id, "xlsx"))  # regenerated: the marks moved the reviews version
    assert summary["accuracy of accepted answers (audit)"] == pytest.approx(right / n, abs=1e-6)
    low, high = wilson(right, n)
    assert summary["95% interval (Wilson)"] == f"{100 * low:.1f}% – {100 * high:.1f}% ({right} of {n} marked right)"
    assert summary["audit sample"].startswith(f"{n} of {estimate.overall.population} accepted answers")
    assert summary["audited model and prompt"] == f"openai · gpt-fake; prompt version {PROMPT_VERSION}"
    exported = json.loads(manager.get_export(job_id, "json"))["accuracy"]
    assert exported["method"] == "audit" and exported["scope"] == "accepted answers"
    assert (exported["overall"]["n"], exported["overall"]["correct"], exported["sample_size"]) == (n, right, n)
    assert exported["model"] == "gpt-fake" and exported["prompt_version"] == PROMPT_VERSION

    first = items[0]
    manager.mark_audit(job_id, *first, correct=None)  # cleared: no longer counted
    assert manager.audit_estimate(job_id).marked == n - 1


def test_the_email_sent_again_carries_the_estimate(policy_job) -> None:
    manager, job_id, _policies = policy_job(2, recipients=["analyst@example.org"])
    manager.start_audit(job_id, margin=0.3, seed=3)
    items = _mark_all(manager, job_id, wrong={0})
    manager.resend_email(job_id)
    message = email.message_from_bytes(manager.outbox_files(job_id)[-1].read_bytes(), policy=email_policy.default)
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    n = len(items)
    low, high = wilson(n - 1, n)
    headline = f"{100 * (n - 1) / n:.1f}% (95% CI {100 * low:.1f}%–{100 * high:.1f}%, {n - 1} of {n} right)"
    assert "ACCURACY OF ACCEPTED ANSWERS (AUDIT)" in text and headline in text
    assert f"Model: openai · gpt-fake; prompt version {PROMPT_VERSION}" in text
    assert "Accuracy of accepted answers (audit)" in html and headline in html


def test_only_a_finished_job_is_audited(policy_job, make_pdf) -> None:
    from policy_reader.models import Variable

    manager, _job_id, _policies = policy_job(1)
    pending = manager.create_job(name="not run", files=[("a.pdf", make_pdf("a.pdf", ["Adopted in 2019."]))],
                                 variables=[Variable(name="year", question="Year?", type="year")])
    with pytest.raises(JobError, match="once it has finished"):
        manager.start_audit(pending)
    with pytest.raises(JobError, match="has not finished"):
        manager.evaluate(pending, b"file,variable,value\na.pdf,year,2019\n")


def test_two_reviewers_marking_at_once_lose_no_mark(policy_job) -> None:
    """Two app instances (two managers on one jobs folder) mark different answers at the same time."""
    from job_manager import JobManager

    manager, job_id, _policies = policy_job(3)
    manager.start_audit(job_id, margin=0.15, seed=99)
    items = list(manager.get_audit(job_id).items)
    other = JobManager(manager.settings, start=False)
    try:
        def mark(who, part) -> None:
            for doc_id, name in part:
                who.mark_audit(job_id, doc_id, name, correct=True)

        threads = [threading.Thread(target=mark, args=(manager, items[0::2])),
                   threading.Thread(target=mark, args=(other, items[1::2]))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        other.shutdown()
    assert manager.audit_estimate(job_id).marked == len(items)


def test_the_audit_is_stored_through_either_job_store_and_concurrent_marks_are_kept(store) -> None:
    """FileJobStore and AzureJobStore (Azurite): the sample and its marks go through update_reviews, so two
    reviewers marking at once (two app instances) keep every mark, and an analyst's correction stays too."""
    from policy_reader.jobs.accuracy_book import AccuracyBook
    from policy_reader.jobs.result_book import ResultBook
    from policy_reader.models import Answer, AnswerStatus, DocumentResult
    from tests.fixtures.stores import new_job

    job_id = new_job(store, status="completed", backend="openai", model="gpt-x")
    answers = [Answer(name=f"v{i}", value=i, evidence=f"value {i}", page=1, status=AnswerStatus.ACCEPTED)
               for i in range(30)]
    store.write_result(job_id, "d0001", DocumentResult(doc_id="d0001", file="a.pdf", variables=answers)
                       .model_dump(mode="json"))
    books = [AccuracyBook(store, ResultBook(store)) for _ in range(2)]
    record = books[0].start(job_id, margin=0.2, seed=5)
    assert record.items == draw(accepted_answers(books[0].book.stored(job_id), []), sample_size(30, 0.2), 5)
    store.update_reviews(job_id, lambda r: r["items"].setdefault("d0001", {}).update(v0={"value": 99}))

    def mark(book, part) -> None:
        for doc_id, name in part:
            book.mark(job_id, doc_id, name, True)

    threads = [threading.Thread(target=mark, args=(book, record.items[i::2])) for i, book in enumerate(books)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert books[1].estimate(job_id).marked == len(record.items)
    assert store.read_reviews(job_id)["items"]["d0001"]["v0"]["value"] == 99
