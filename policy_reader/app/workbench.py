"""The review workbench's view model: the answers' states, the queue, filters, the table beside the evidence,
the selection in the URL, an answer's reasons and history. Pure (no Streamlit), so each review step is
unit-tested and benchmarked (bench/review.py) without a browser."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from policy_reader.models import (ANSWER_STATUS_LABELS, Answer, AnswerStatus, DocumentResult, StatusLabel, Usage,
                                  Variable)
from policy_reader.app.view import answers_by_name, display_value, format_time, format_usage, status_value



# --------------------------------------------------------------------------- review workbench
#
# One answer = one cell of the results table. Everything the workbench computes per step (the cell
# table, the states, the queue, the filters and their counts, the next answer) is here, pure: a step
# of a 1,000-answer review is a few list passes, unit-tested and benchmarked (bench/review.py).

# The answer states, each with a text marker so that no state is told by colour alone. Words, markers and
# meanings are the shared vocabulary of the exports and the email (models.ANSWER_STATUS_LABELS); the page
# adds one refinement, "checked": an analyst looked and kept the value.
STATE_NEEDS_REVIEW, STATE_ERROR = AnswerStatus.NEEDS_REVIEW.value, AnswerStatus.ERROR.value
STATE_NOT_STATED, STATE_ACCEPTED = AnswerStatus.NOT_FOUND.value, AnswerStatus.ACCEPTED.value
STATE_CORRECTED, STATE_CONFIRMED = AnswerStatus.CORRECTED.value, "checked"
STATES = (STATE_NEEDS_REVIEW, STATE_ERROR, STATE_NOT_STATED, STATE_ACCEPTED, STATE_CORRECTED, STATE_CONFIRMED)
_CHECKED = StatusLabel("checked", "☑", "an analyst checked the value and kept it")
_LABELS = {**{s.value: label for s, label in ANSWER_STATUS_LABELS.items()}, STATE_CONFIRMED: _CHECKED}
STATE_MARKERS = {state: _LABELS[state].marker for state in STATES}
ANSWER_LABELS = {state: _LABELS[state].label for state in STATES}
STATE_MEANINGS = {state: _LABELS[state].meaning for state in STATES}
FLAGGED_STATES = frozenset({STATE_NEEDS_REVIEW, STATE_ERROR})
ORDER_BY_DOCUMENT, ORDER_BY_VARIABLE = "document", "variable"
_MATCH_TEXT = {"exact": "quote found exactly as written", "normalised": "quote found after normalising spacing",
               "fuzzy": "quote found approximately", "value_only": "only the value was found, not the quote",
               "none": "quote not found in the document"}


def answer_state(answer: Answer | None) -> str:
    """The one state an answer is shown in (table, queue, filters, legend)."""
    if answer is None:
        return STATE_NOT_STATED
    key = status_value(answer.status)
    if key == STATE_CORRECTED or (answer.review is not None and answer.review.changed):
        return STATE_CORRECTED
    if answer.reviewed:
        changed = answer.original_value is not None and answer.original_value != answer.value
        return STATE_CORRECTED if changed else STATE_CONFIRMED
    if key in (STATE_NEEDS_REVIEW, STATE_ERROR):
        return key
    if key == STATE_NOT_STATED or answer.value is None:
        return STATE_NOT_STATED
    return STATE_ACCEPTED


def state_label(state: str) -> str:
    """'⚠ needs review', '∅ not stated', 'accepted' (an accepted answer needs no marker)."""
    marker = STATE_MARKERS.get(state, "")
    return f"{marker} {ANSWER_LABELS.get(state, state)}".strip()


def legend_text() -> str:
    """Every state, its marker and what it means: the page's legend."""
    return " · ".join(f"{STATE_MARKERS[s]} {ANSWER_LABELS[s]}" for s in STATES)


def cell_text(answer: Answer | None) -> str:
    """A table cell: the state's marker, then the value; 'not stated' is written, never a blank."""
    state = answer_state(answer)
    if state == STATE_ERROR:
        return f"{STATE_MARKERS[state]} error"
    value = display_value(answer.value) if answer is not None else ""
    return f"{STATE_MARKERS[state]} {value or 'not stated'}"


def column_label(name: str) -> str:
    """'year_adopted' -> 'Year adopted': a header an analyst reads (the question is its hover help)."""
    words = name.replace("_", " ").strip()
    return (words[:1].upper() + words[1:]) if words else name


@dataclass(frozen=True)
class ReviewCell:
    """One answer of the job as the workbench sees it (row = document, column = variable)."""
    doc_id: str
    file: str
    variable: str
    row: int  # the document's row in the table
    col: int  # the variable's place in the template
    state: str
    flagged: bool  # needs an analyst: needs review or error, not yet reviewed
    exact: bool  # the quote aligned exactly and states the value: safe to accept in bulk


def states_vector(documents: Sequence[DocumentResult], variables: Sequence[Variable],
                  exact: Iterable[tuple[str, str]] = ()) -> list[ReviewCell]:
    """Every answer of the finished documents, in table order (document, then variable). `exact`: the
    (doc_id, variable) a bulk accept would take (the engine's selector decides, not the page)."""
    safe = set(exact)
    cells: list[ReviewCell] = []
    for row, doc in enumerate(documents):
        if doc.status != "ok":
            continue
        answers = answers_by_name(doc)
        for col, var in enumerate(variables):
            state = answer_state(answers.get(var.name))
            cells.append(ReviewCell(doc.doc_id, doc.file, var.name, row, col, state,
                                    state in FLAGGED_STATES, (doc.doc_id, var.name) in safe))
    return cells


@dataclass(frozen=True)
class ReviewFilter:
    """What the analyst narrowed the review to: states (empty = all), one document, one variable."""
    states: frozenset[str] = FLAGGED_STATES
    doc_id: str | None = None
    variable: str | None = None

    def keeps(self, cell: ReviewCell) -> bool:
        return ((not self.states or cell.state in self.states)
                and (self.doc_id is None or cell.doc_id == self.doc_id)
                and (self.variable is None or cell.variable == self.variable))


def state_counts(cells: Sequence[ReviewCell]) -> dict[str, int]:
    """How many answers are in each state (every state listed, zeros included)."""
    counts = dict.fromkeys(STATES, 0)
    for cell in cells:
        counts[cell.state] = counts.get(cell.state, 0) + 1
    return counts


def review_queue(cells: Sequence[ReviewCell], chosen: ReviewFilter, order: str = ORDER_BY_DOCUMENT) -> list[ReviewCell]:
    """The answers the filter keeps, in the analyst's order: document then variable, or variable then
    document."""
    kept = [cell for cell in cells if chosen.keeps(cell)]
    if order == ORDER_BY_VARIABLE:
        kept.sort(key=lambda c: (c.col, c.row))
    return kept


def next_in_queue(queue: Sequence[ReviewCell], current: tuple[str, str] | None,
                  skipped: Iterable[tuple[str, str]] = ()) -> ReviewCell | None:
    """The answer after `current` in the queue that was not skipped (wrapping round); the skipped ones
    come back when nothing else is left; None when the queue is empty."""
    if not queue:
        return None
    skip = set(skipped)
    keys = [(c.doc_id, c.variable) for c in queue]
    start = keys.index(current) + 1 if current in keys else 0
    ordered = list(queue[start:]) + list(queue[:start])
    for cell in ordered:
        if (cell.doc_id, cell.variable) not in skip and (cell.doc_id, cell.variable) != current:
            return cell
    return next((c for c in ordered if (c.doc_id, c.variable) != current), None)


def results_summary(documents: Sequence[DocumentResult], cells: Sequence[ReviewCell], usage: Usage | None) -> str:
    """'40 / 40 documents read · 43 answers to review · 1,234 tokens · $0.0012' (one line above the table)."""
    read = sum(1 for d in documents if d.status == "ok")
    flagged = sum(1 for c in cells if c.flagged)
    return (f"{read} / {len(documents)} documents read · {flagged} answer{'s' if flagged != 1 else ''} to review · "
            f"{format_usage(usage)}")


def queue_progress(cells: Sequence[ReviewCell], start_total: int | None = None) -> str:
    """'37 to review → 0' while flagged answers are left; 'Nothing left to review' after."""
    left = sum(1 for c in cells if c.flagged)
    if not left:
        return "Nothing left to review ✔"
    done = f" ({start_total - left} done)" if start_total and start_total > left else ""
    return f"{left} to review → 0{done}"


def workbench_table(documents: Sequence[DocumentResult], variables: Sequence[Variable],
                    chosen: ReviewFilter | None = None) -> tuple[pd.DataFrame, list[str]]:
    """The table of the workbench: a 'document' column then one column per variable, each cell its value
    with its state's marker; rows and columns narrowed by the filter's document and variable (the doc
    ids of the rows are returned alongside, the table's row -> answer map)."""
    chosen = chosen or ReviewFilter(states=frozenset())
    names = [v.name for v in variables if chosen.variable in (None, v.name)]
    rows: list[dict[str, Any]] = []
    doc_ids: list[str] = []
    for doc in documents:
        if chosen.doc_id not in (None, doc.doc_id):
            continue
        row: dict[str, Any] = {"document": doc.file}
        if doc.status != "ok":
            row.update(dict.fromkeys(names, "✖ document failed"))
        else:
            answers = answers_by_name(doc)
            row.update({name: cell_text(answers.get(name)) for name in names})
        rows.append(row)
        doc_ids.append(doc.doc_id)
    return pd.DataFrame(rows, columns=["document", *names]), doc_ids


@dataclass(frozen=True)
class WorkbenchModel:
    """Everything the workbench draws from one version of a job's results (see `workbench_model`)."""
    documents: list[DocumentResult]
    variables: list[Variable]
    cells: list[ReviewCell]
    frame: pd.DataFrame  # the whole table (narrowed per filter by `narrow_table`)
    doc_ids: list[str]


def workbench_model(documents: Sequence[DocumentResult], variables: Sequence[Variable],
                    exact: Iterable[tuple[str, str]] = ()) -> WorkbenchModel:
    """The states, queue cells and table of one version of the results: computed once per version (the app
    caches it by the job's reviews version), so a review step only narrows and walks it."""
    frame, doc_ids = workbench_table(documents, variables)
    return WorkbenchModel(list(documents), list(variables), states_vector(documents, variables, exact), frame, doc_ids)


def narrow_table(model: WorkbenchModel, doc_id: str | None, variable: str | None) -> tuple[pd.DataFrame, list[str]]:
    """The table narrowed to one document and/or one variable (the filter), and its rows' doc ids."""
    frame, doc_ids = model.frame, model.doc_ids
    if variable is not None and variable in frame.columns:
        frame = frame[["document", variable]]
    if doc_id is not None and doc_id in doc_ids:
        row = doc_ids.index(doc_id)
        return frame.iloc[[row]].reset_index(drop=True), [doc_id]
    return frame, doc_ids


def selection_from_url(params: Mapping[str, Any], doc_ids: Sequence[str], names: Sequence[str]) -> tuple[str, str] | None:
    """(doc_id, variable) from `?doc=&var=` when both name an answer of the table, else None."""
    doc, var = params.get("doc"), params.get("var")
    if doc in doc_ids and var in names:
        return str(doc), str(var)
    return None


def selection_from_cell(cell: Sequence[Any] | None, doc_ids: Sequence[str], names: Sequence[str]) -> tuple[str, str] | None:
    """The (doc_id, variable) of a selected table cell (row position, column name); the document column
    itself selects the document's first variable."""
    if not cell or len(cell) != 2:
        return None
    row, column = cell
    if not isinstance(row, int) or not 0 <= row < len(doc_ids) or not names:
        return None
    if column not in names:
        column = names[0]
    return doc_ids[row], str(column)


def match_text(answer: Answer) -> str:
    """How the quote was found, in words."""
    kind = status_value(answer.match_kind) or "none"
    text = _MATCH_TEXT.get(kind, kind.replace("_", " "))
    if kind == "fuzzy" and answer.similarity:
        text += f" ({answer.similarity:.0%} alike)"
    return text


def state_reason(answer: Answer) -> str:
    """'⚠ needs review — confidence 0.62 is below 0.80' for the evidence panel."""
    state = answer_state(answer)
    text = state_label(state)
    if state == STATE_CORRECTED:
        text += f" (the engine said: {display_value(answer.original_value) or 'not stated'})"
    elif answer.note and state in (STATE_NEEDS_REVIEW, STATE_ERROR, STATE_NOT_STATED):
        text += f" — {answer.note}"
    return text


def rival_passages(answer: Answer) -> list[str]:
    """The other passages behind (or against) the value, as lines: 'p. 4 — disagrees (12): "…"'."""
    lines = []
    for passage in answer.passages:
        where = f"p. {passage.page}" if passage.page else "page unknown"
        stance = "agrees" if passage.agrees else f"disagrees ({display_value(passage.value) or 'not stated'})"
        source = f" · {passage.source}" if passage.source else ""
        lines.append(f"{where} — {stance}{source}: “{passage.evidence}”")
    return lines




def history_line(review: Any) -> str:
    """'2026-12-07 17:20 UTC · alice: 2018 → 2019 — why' for an analyst's decision on an answer."""
    when = format_time(review.at) or "time not recorded"
    who = review.by or "someone"
    old = display_value(review.original_value) or "not stated"
    new = display_value(review.value) or "not stated"
    change = f"{old} → {new}" if review.changed else f"kept {new}"
    note = review.note or ""
    return f"{when} · {who}: {change}" + (f" — {note}" if note else "")
