"""A job's results as the analyst sees them: stored document results with reviews applied.

The model's answers are written once per document (the checkpoint) and never changed; an analyst's
corrections live beside them in reviews.json and are applied on every read, so the original value
is always kept (`original_value`) and exports regenerate when reviews change.
"""
from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Any

from policy_reader.errors import JobError, JobNotFound, ReviewRefused, VariablesError
from policy_reader.models import (Answer, AnswerStatus, DocumentResult, MatchKind, Review, ReviewBatch, ReviewChange,
                                  ReviewDecision, Usage, Variable)
from policy_reader.jobs.state import iso
from policy_reader.jobs.store import JobStore, check_doc_id


class ResultBook:
    def __init__(self, store: JobStore) -> None:
        self.store = store

    def variables(self, job_id: str) -> list[Variable]:
        return [Variable.model_validate(v) for v in self.store.read_manifest(job_id)["variables"]]

    def stored(self, job_id: str, only: Collection[str] | None = None) -> list[DocumentResult]:
        """The results as the model left them, in upload order (no reviews); `only`: of these documents
        (a review step reads the one document it changes, not the whole job)."""
        out = []
        for doc in self.store.read_manifest(job_id)["documents"]:
            if only is not None and doc["doc_id"] not in only:
                continue
            data = self.store.read_result(job_id, doc["doc_id"])
            if data is not None:
                out.append(DocumentResult.model_validate(data))
        return out

    def results(self, job_id: str, only: Collection[str] | None = None) -> list[DocumentResult]:
        """Finished documents in upload order, analyst reviews applied (`only`: of these documents)."""
        reviews = self.store.read_reviews(job_id).get("items", {})
        return [apply_reviews(result, reviews.get(result.doc_id, {})) for result in self.stored(job_id, only)]

    def reviews_version(self, job_id: str) -> int:
        return int(self.store.read_reviews(job_id).get("version", 0))

    def save_review(self, job_id: str, doc_id: str, variable: str, *, value: Any, reviewed: bool = True,
                    note: str = "", by: str = "") -> Review:
        """Store an analyst's correction (or confirmation when `value` is the engine's), typed like the
        engine's answers; a value that does not fit is refused (ReviewRefused) and nothing is saved.
        Returns the review as stored, so the message shown says what was really kept."""
        self.save_reviews(job_id, [_decision_for(doc_id, variable, value, note)], by=by, reviewed=reviewed)
        answer = _answer(self.results(job_id, [doc_id]), doc_id, variable)  # read back: only this document
        if answer is None or answer.review is None:
            raise JobError(f"The review of {variable} could not be read back.", code="state")
        return answer.review

    def save_reviews(self, job_id: str, decisions: Sequence[ReviewDecision], *, by: str = "",
                     reviewed: bool = True) -> ReviewBatch:
        """Apply many decisions at once: every value is checked first (one refused value refuses them
        all, nothing saved), then one conditional write of reviews.json (one version bump). The batch
        gets an id; `undo_reviews` puts back exactly the reviews it replaced."""
        decisions = [ReviewDecision.model_validate(d) for d in decisions]
        manifest = self.store.read_manifest(job_id)
        known_docs = {d["doc_id"] for d in manifest["documents"]}
        variables = {v["name"]: Variable.model_validate(v) for v in manifest["variables"]}
        stored = {r.doc_id: r for r in self.stored(job_id, {d.doc_id for d in decisions} & known_docs)}
        items: list[tuple[str, str, dict[str, Any]]] = []
        at = iso()
        action_id = f"a{uuid.uuid4().hex[:12]}"
        for decision in decisions:
            check_doc_id(decision.doc_id)
            if decision.doc_id not in known_docs:
                raise JobNotFound(f"No document {decision.doc_id} in job {job_id}.")
            var = variables.get(decision.variable)
            if var is None:
                raise VariablesError(f"No variable named {decision.variable!r} in this job.")
            result = stored.get(decision.doc_id)
            if result is None:
                raise JobError(f"Document {decision.doc_id} has no results yet; review it once it is finished.",
                               code="state")
            answer = next((a for a in result.variables if a.name == var.name), None)
            engine_value = answer.value if answer is not None else None
            if decision.action == "accept":
                value = engine_value
            elif decision.action == "not_stated":
                value = None
            else:
                value = None if decision.value is None else coerce_review(var, decision.value)
            items.append((decision.doc_id, var.name, {
                "value": value, "reviewed": bool(reviewed), "at": at, "by": by,
                "note": decision.note.strip()[:2000], "original_value": engine_value, "action": action_id}))
        changes: list[ReviewChange] = []

        def change(reviews: dict[str, Any]) -> Any:
            changes.clear()
            kept = reviews.setdefault("items", {})
            before: dict[str, dict[str, Any]] = {}
            for doc_id, name, item in items:
                previous = kept.get(doc_id, {}).get(name)
                if previous is not None and _same_decision(previous, item):
                    continue
                before.setdefault(doc_id, {})[name] = previous
                kept.setdefault(doc_id, {})[name] = item
                changes.append(ReviewChange(doc_id=doc_id, variable=name, before=_review_of(previous),
                                            after=_review_of(item)))
            if not changes:
                return False
            actions = reviews.setdefault("actions", {})
            actions[action_id] = {"at": at, "by": by, "before": before}
            for old in list(actions)[:-MAX_UNDO_ACTIONS]:
                actions.pop(old, None)
            return None

        if items:
            self.store.update_reviews(job_id, change)
        return ReviewBatch(action_id=action_id, changes=list(changes))

    def undo_reviews(self, job_id: str, action_id: str) -> ReviewBatch:
        """Put back the reviews one action replaced, for exactly the answers it changed (an answer
        reviewed again since keeps that later review). One conditional write."""
        changes: list[ReviewChange] = []

        def change(reviews: dict[str, Any]) -> Any:
            changes.clear()
            action = (reviews.get("actions") or {}).get(action_id)
            if action is None:
                raise JobError(f"No review action {action_id!r} to undo in this job (already undone, or too "
                               "old).", code="undo")
            kept = reviews.setdefault("items", {})
            for doc_id, names in (action.get("before") or {}).items():
                for name, previous in names.items():
                    current = kept.get(doc_id, {}).get(name)
                    if current is None or current.get("action") != action_id:
                        continue  # reviewed again since: that later decision stays
                    if previous is None:
                        kept[doc_id].pop(name, None)
                    else:
                        kept[doc_id][name] = previous
                    changes.append(ReviewChange(doc_id=doc_id, variable=name, before=_review_of(current),
                                                after=_review_of(previous)))
            reviews["actions"].pop(action_id, None)
            return None

        self.store.update_reviews(job_id, change)
        return ReviewBatch(action_id=action_id, changes=list(changes))

    def drop_reviews(self, job_id: str, doc_ids: Sequence[str], variables: Sequence[str] | None = None) -> int:
        """Forget the analyst's reviews of these documents (only of `variables` when given): a re-run that
        does not keep corrections. One write; returns how many were dropped."""
        dropped = [0]

        def change(reviews: dict[str, Any]) -> Any:
            dropped[0] = 0
            kept = reviews.setdefault("items", {})
            for doc_id in doc_ids:
                items = kept.get(doc_id) or {}
                for name in [n for n in items if variables is None or n in variables]:
                    items.pop(name)
                    dropped[0] += 1
            return None

        self.store.update_reviews(job_id, change)
        return dropped[0]


MAX_UNDO_ACTIONS = 100  # review actions kept for undo in reviews.json (older ones cannot be undone)


def _decision_for(doc_id: str, variable: str, value: Any, note: str) -> ReviewDecision:
    """A single review from the form: None means "not stated"; anything else is typed as a correction
    (a value equal to the engine's is then a confirmation, as apply_reviews reads it)."""
    if value is None:
        return ReviewDecision(doc_id=doc_id, variable=variable, action="not_stated", note=note)
    return ReviewDecision(doc_id=doc_id, variable=variable, action="correct", value=value, note=note)


def _same_decision(previous: dict[str, Any], item: dict[str, Any]) -> bool:
    return (previous.get("value") == item["value"] and bool(previous.get("reviewed", True)) == item["reviewed"]
            and (previous.get("note") or "") == item["note"])


def _review_of(item: dict[str, Any] | None) -> Review | None:
    if item is None:
        return None
    return Review(value=item.get("value"), original_value=item.get("original_value"),
                  changed="original_value" in item and item.get("value") != item.get("original_value"),
                  by=str(item.get("by") or ""), at=str(item.get("at") or ""), note=str(item.get("note") or ""),
                  action=item.get("action"))


def _answer(results: Sequence[DocumentResult], doc_id: str, variable: str) -> Answer | None:
    doc = next((r for r in results if r.doc_id == doc_id), None)
    return None if doc is None else next((a for a in doc.variables if a.name == variable), None)


def coerce_review(variable: Variable, value: Any) -> Any:
    """An analyst's correction, typed like the model's answers; anything doubtful is refused with the
    reason and nothing is saved (a review is a deliberate value, unlike a model answer that is only
    flagged, so "used the first" of several numbers is never silently kept)."""
    from policy_reader.variables import coerce_value

    typed, problem = coerce_value(variable, value)
    if problem:
        reason = problem.replace("; used the first", "")
        kind = getattr(variable.type, "value", variable.type)
        raise ReviewRefused(f"{variable.name}: not saved — {reason}. A {kind} correction takes one clear value; "
                            "nothing was stored, type it again.")
    return typed


def apply_reviews(result: DocumentResult, reviews: dict[str, Any]) -> DocumentResult:
    """The answers as the analyst left them. A changed value reads "corrected" (the engine's value kept
    as original_value, the note says who and when, not the engine's flag); a value cleared to "not
    stated" no longer claims the engine's quote, page or span as evidence; a confirmed doubtful answer
    is accepted."""
    if not reviews:
        return result
    answers = []
    for answer in result.variables:
        item = reviews.get(answer.name)
        if item is None:
            answers.append(answer)
            continue
        value = item.get("value")
        reviewed = bool(item.get("reviewed", True))
        changed = value != answer.value
        review = Review(value=value, original_value=answer.value, changed=changed, by=str(item.get("by") or ""),
                        at=str(item.get("at") or ""), note=str(item.get("note") or ""), action=item.get("action"))
        update: dict[str, Any] = {"reviewed": reviewed, "review": review}
        if changed:
            update.update(value=value, original_value=answer.value, status=AnswerStatus.CORRECTED,
                          note=review_note(review))
            if value is None:
                update.update(evidence="", page=None, pages=[], span=[], passages=[], match_kind=MatchKind.NONE,
                              similarity=0.0, from_ocr=False)
        elif reviewed:
            if answer.status == AnswerStatus.NEEDS_REVIEW:
                update["status"] = AnswerStatus.ACCEPTED if answer.value is not None else AnswerStatus.NOT_FOUND
            update["note"] = review_note(review, flagged=answer.note)
        answers.append(answer.model_copy(update=update))
    return result.model_copy(update={"variables": answers})


def review_note(review: Review, *, flagged: str = "") -> str:
    """The answer's note once an analyst decided: who, when and why, in place of the engine's flag."""
    from policy_reader.variables import format_value

    who = review.by or "an analyst"
    when = f" on {review.at[:16].replace('T', ' ')} UTC" if review.at else ""
    if review.changed:
        was = format_value(review.original_value) if review.original_value is not None else "not stated"
        text = f"Corrected by {who}{when} (the engine said: {was})"
    else:
        text = f"Checked by {who}{when}" + (f" (it was flagged: {flagged})" if flagged else "")
    return text + (f". Note: {review.note}" if review.note else "")


def total_usage(results: Sequence[DocumentResult]) -> Usage:
    total = Usage()
    for result in results:
        total = total.add(result.usage)
    return total


def exact_accept_decisions(results: Sequence[DocumentResult], variables: Sequence[Variable], *,
                           variable: str | None = None, doc_id: str | None = None,
                           note: str = "") -> list[ReviewDecision]:
    """The bulk accept "every flagged answer whose quote is exact and states the value" (of one variable,
    one document, or both), as decisions for save_reviews. Pure: it reads the results with reviews
    applied and changes nothing.

    An answer qualifies only when it still awaits review, its quote was aligned exactly in the
    document (MatchKind.EXACT), that quote itself states the value (grounding.value_stated), and no
    other passage gives a different value: a conflict is exactly what a human must look at."""
    from policy_reader.extraction.values import value_stated

    by_name = {v.name: v for v in variables}
    out: list[ReviewDecision] = []
    for result in results:
        if result.status != "ok" or (doc_id is not None and result.doc_id != doc_id):
            continue
        for answer in result.variables:
            var = by_name.get(answer.name)
            if var is None or (variable is not None and answer.name != variable):
                continue
            if answer.reviewed or answer.status != AnswerStatus.NEEDS_REVIEW or answer.value is None:
                continue
            if answer.match_kind != MatchKind.EXACT or not answer.evidence.strip():
                continue
            if any(not p.agrees for p in answer.passages):
                continue
            if not value_stated(var, answer.value, answer.evidence).ok:
                continue
            out.append(ReviewDecision(doc_id=result.doc_id, variable=answer.name, action="accept", note=note))
    return out


def document_reviewed_decisions(results: Sequence[DocumentResult], doc_id: str, *,
                                note: str = "") -> list[ReviewDecision]:
    """"Mark this document reviewed": accept every answer of the document not reviewed yet, as it stands."""
    return [ReviewDecision(doc_id=r.doc_id, variable=a.name, action="accept", note=note)
            for r in results if r.doc_id == doc_id and r.status == "ok" for a in r.variables if not a.reviewed]
