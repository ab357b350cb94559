"""How an answer's status reads without colour: the words and text markers of the one vocabulary
(models.ANSWER_STATUS_LABELS) as the exports write them — a cell's text ("– not stated", "! error"), the
marker after a value ("500 ?", "2011 ✎", through the Excel number format so numbers stay numbers), a
correction's history (original value, who, when) and the legend. Pure functions: formats.py writes them.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from policy_reader.models import ANSWER_STATUS_LABELS, Answer, AnswerStatus, status_label
from policy_reader.variables import format_value


def answer_text(a: Answer) -> str:
    """An answer as one line of text that says its status without colour: "2019" (accepted), "500 ?" (needs
    review), "2011 ✎" (corrected), "– not stated", "! error". For tables that show values and statuses in
    one cell (the page's table; the Excel Results sheet does the same with number formats)."""
    text = cell_text(a)
    if text is not None:
        return text
    value = format_value(a.value) or "(empty)"
    if a.status in (AnswerStatus.NEEDS_REVIEW, AnswerStatus.CORRECTED):
        return f"{value} {status_label(a.status).marker}"
    return value


def marked_label(a: Answer) -> str:
    """"✓ accepted", "– not stated", "✎ corrected": the status in words with its text marker."""
    label = status_label(a.status)
    return f"{label.marker} {label.label}"


def original_text(a: Answer) -> str:
    if a.review is None or not a.review.changed:
        return ""
    return format_value(a.review.original_value) if a.review.original_value is not None else "not stated"


def corrected_by(a: Answer) -> str:
    return a.review.by if a.review is not None and a.review.changed else ""


def corrected_at(a: Answer) -> str:
    return a.review.at if a.review is not None and a.review.changed else ""


def marker_format(a: Answer, value: Any, current: str) -> str | None:
    """A number format that shows the status marker after the value ("500 ?", "2011 ✎") while the cell
    keeps its number or date (still sortable and summable): the status is readable without colour."""
    if a.status in (AnswerStatus.ACCEPTED, AnswerStatus.NOT_FOUND, AnswerStatus.ERROR):
        return None
    marker = status_label(a.status).marker
    if isinstance(value, (dt.date, dt.datetime)):
        return f'{current}" {marker}"'
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'General" {marker}"'
    return f'@" {marker}"'


def cell_text(a: Answer) -> str | None:
    """The text of a cell that has no value: "– not stated" (a finding, not a blank) or "! error"."""
    if a.value is not None:
        return None
    if a.status == AnswerStatus.ERROR:
        return f"{status_label(a.status).marker} error"
    label = status_label(AnswerStatus.NOT_FOUND)
    if a.status == AnswerStatus.CORRECTED:
        return f"{label.marker} {label.label} {status_label(a.status).marker}"
    if a.status == AnswerStatus.NOT_FOUND:
        return f"{label.marker} {label.label}"
    return None


def comment_text(a: Answer) -> str | None:
    """The cell's comment: a correction's history, or why the answer needs review or failed."""
    if a.status == AnswerStatus.CORRECTED and a.review is not None:
        was = original_text(a)
        text = f"Corrected by {a.review.by or 'an analyst'}"
        text += f" at {a.review.at} (UTC)" if a.review.at else ""
        text += f". Original value: {was}."
        return text + (f" Note: {a.review.note}" if a.review.note else "")
    if a.status in (AnswerStatus.NEEDS_REVIEW, AnswerStatus.ERROR) and a.note:
        return f"{status_label(a.status).label}: {a.note}"
    return None


def legend_rows() -> list[tuple[str, str, str]]:
    """(marker, label, meaning) of every answer status, in the vocabulary's order."""
    return [(label.marker, label.label, label.meaning) for label in ANSWER_STATUS_LABELS.values()]
