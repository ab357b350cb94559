"""A job's results as the analyst sees them: stored document results with reviews applied.

The model's answers are written once per document (the checkpoint) and never changed; an analyst's
corrections live beside them in reviews.json and are applied on every read, so the original value
is always kept (`original_value`) and exports regenerate when reviews change.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from policy_reader.errors import JobError, JobNotFound, VariablesError
from policy_reader.models import AnswerStatus, DocumentResult, Usage, Variable
from policy_reader.jobs.state import iso
from policy_reader.jobs.store import JobStore, check_doc_id


class ResultBook:
    def __init__(self, store: JobStore) -> None:
        self.store = store

    def variables(self, job_id: str) -> list[Variable]:
        return [Variable.model_validate(v) for v in self.store.read_manifest(job_id)["variables"]]

    def stored(self, job_id: str) -> list[DocumentResult]:
        """The results as the model left them, in upload order (no reviews)."""
        out = []
        for doc in self.store.read_manifest(job_id)["documents"]:
            data = self.store.read_result(job_id, doc["doc_id"])
            if data is not None:
                out.append(DocumentResult.model_validate(data))
        return out

    def results(self, job_id: str) -> list[DocumentResult]:
        """Finished documents in upload order, analyst reviews applied."""
        reviews = self.store.read_reviews(job_id).get("items", {})
        return [apply_reviews(result, reviews.get(result.doc_id, {})) for result in self.stored(job_id)]

    def reviews_version(self, job_id: str) -> int:
        return int(self.store.read_reviews(job_id).get("version", 0))

    def save_review(self, job_id: str, doc_id: str, variable: str, *, value: Any, reviewed: bool = True) -> None:
        """Store an analyst's correction, typed like the model's answers (doubtful values are refused)."""
        check_doc_id(doc_id)
        manifest = self.store.read_manifest(job_id)
        if doc_id not in {d["doc_id"] for d in manifest["documents"]}:
            raise JobNotFound(f"No document {doc_id} in job {job_id}.")
        var = next((Variable.model_validate(v) for v in manifest["variables"] if v["name"] == variable), None)
        if var is None:
            raise VariablesError(f"No variable named {variable!r} in this job.")
        if self.store.read_result(job_id, doc_id) is None:
            raise JobError(f"Document {doc_id} has no results yet; review it once it is finished.", code="state")
        if value is not None:
            value = coerce_review(var, value)

        def change(reviews: dict[str, Any]) -> None:
            items = reviews.setdefault("items", {})
            items.setdefault(doc_id, {})[variable] = {"value": value, "reviewed": bool(reviewed), "at": iso()}

        self.store.update_reviews(job_id, change)


def coerce_review(variable: Variable, value: Any) -> Any:
    """An analyst's correction, typed like the model's answers; anything doubtful is refused with the
    reason (a review is a deliberate value, unlike a model answer that is only flagged)."""
    from policy_reader.variables import coerce_value

    typed, problem = coerce_value(variable, value)
    if problem:
        raise VariablesError(f"{variable.name}: {problem}")
    return typed


def apply_reviews(result: DocumentResult, reviews: dict[str, Any]) -> DocumentResult:
    if not reviews:
        return result
    answers = []
    for answer in result.variables:
        review = reviews.get(answer.name)
        if review is None:
            answers.append(answer)
            continue
        update: dict[str, Any] = {"reviewed": bool(review.get("reviewed", True))}
        if review.get("value") != answer.value:
            update.update(value=review.get("value"), original_value=answer.value)
        if update["reviewed"] and answer.status == AnswerStatus.NEEDS_REVIEW:
            update["status"] = AnswerStatus.ACCEPTED if update.get("value", answer.value) is not None \
                else AnswerStatus.NOT_FOUND
        answers.append(answer.model_copy(update=update))
    return result.model_copy(update={"variables": answers})


def total_usage(results: Sequence[DocumentResult]) -> Usage:
    total = Usage()
    for result in results:
        total = total.add(result.usage)
    return total
