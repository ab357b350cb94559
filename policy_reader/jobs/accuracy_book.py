"""A job's measured accuracy: against a gold set, and the audit sample stored with the job.

The audit (policy_reader/accuracy/audit.py) lives in reviews.json under the key "audit", beside the analysts'
corrections: both are a person's judgement of the answers, both are written through the store's
conditional `update_reviews` (atomic, and safe between two app instances), and every change moves the
reviews version, so the exports (whose Summary sheet and JSON carry the estimate) are regenerated.

The sample is drawn from the results as the model left them (`ResultBook.stored`): the audit measures
the answers the engine accepted, whatever an analyst corrected later.
"""
from __future__ import annotations

from typing import Any

from policy_reader.accuracy import audit as audit_math
from policy_reader.accuracy.gold import Evaluation, GoldRow, evaluate
from policy_reader.errors import JobError, JobNotFound, VariablesError
from policy_reader.jobs.result_book import ResultBook
from policy_reader.jobs.state import ACTIVE, TERMINAL, iso
from policy_reader.jobs.store import JobStore, check_doc_id

AUDIT_KEY = "audit"


class AccuracyBook:
    def __init__(self, store: JobStore, book: ResultBook) -> None:
        self.store = store
        self.book = book

    # ------------------------------------------------------------------ gold set

    def evaluate(self, job_id: str, gold: list[GoldRow], *, filename: str = "gold.csv",
                 as_extracted: bool = False) -> Evaluation:
        """The job's answers (reviews applied, or as extracted) against the gold rows."""
        status = self.store.read_state(job_id)["status"]
        if status in ACTIVE:
            raise JobError("The job has not finished yet; measure its accuracy once it has.", code="state")
        results = self.book.stored(job_id) if as_extracted else self.book.results(job_id)
        return evaluate(results, self.book.variables(job_id), gold, filename=filename)

    # ------------------------------------------------------------------ audit sample

    def record(self, job_id: str) -> audit_math.AuditRecord | None:
        data = self.store.read_reviews(job_id).get(AUDIT_KEY)
        return audit_math.AuditRecord.model_validate(data) if data else None

    def estimate(self, job_id: str) -> audit_math.AuditEstimate | None:
        """The estimate from the marks so far (None when no sample was drawn)."""
        record = self.record(job_id)
        return audit_math.estimate(record, self.book.variables(job_id)) if record else None

    def start(self, job_id: str, *, margin: float, seed: int | None = None,
              replace: bool = False) -> audit_math.AuditRecord:
        """Draw the sample of accepted answers and store it with the job (its marks start empty)."""
        state = self.store.read_state(job_id)
        if state["status"] not in TERMINAL:
            raise JobError("Audit a job once it has finished.", code="state")
        from policy_reader.delivery.formats import WorkbookInfo

        info = WorkbookInfo.from_state(state)
        try:
            record = audit_math.new_audit(self.book.stored(job_id), self.book.variables(job_id), margin=margin,
                                          seed=seed, drawn_at=iso(), backend=info.backend, model=info.model,
                                          prompt_version=info.prompt_version)
        except ValueError as exc:
            raise JobError(f"Nothing to audit: {exc}.", code="audit") from None

        def change(reviews: dict[str, Any]) -> None:
            if reviews.get(AUDIT_KEY) and not replace:
                raise JobError("This job already has an audit sample; discard it to draw a new one.", code="audit")
            reviews[AUDIT_KEY] = record.model_dump(mode="json")

        self.store.update_reviews(job_id, change)
        return record

    def mark(self, job_id: str, doc_id: str, variable: str, correct: bool | None) -> None:
        """Mark one sampled answer right (True) or wrong (False); None clears the mark."""
        check_doc_id(doc_id)
        if not isinstance(correct, bool) and correct is not None:
            raise VariablesError("An audit mark is right (True), wrong (False) or cleared (None).")
        key = audit_math.item_key(doc_id, variable)

        def change(reviews: dict[str, Any]) -> None:
            data = reviews.get(AUDIT_KEY)
            if not data:
                raise JobError("This job has no audit sample; draw one first.", code="audit")
            if [doc_id, variable] not in [list(item) for item in data.get("items", [])]:
                raise JobNotFound(f"{doc_id} / {variable} is not in this job's audit sample.")
            marks = data.setdefault("marks", {})
            if correct is None:
                marks.pop(key, None)
            else:
                marks[key] = {"correct": correct, "at": iso()}

        self.store.update_reviews(job_id, change)
