"""A second opinion: the same document asked of a second engine, and answers the two disagree on sent to
review, with both values and both quotes.

Why: grounding (grounding.py) stops answers whose quote or value is not in the document, but a real quote
with a plausible wrong value about the right question can pass it (a list missing an item, a truncated
title, the wrong one of two numbers in one sentence). A second engine that errs differently catches some of
them. It costs a second pass over the document (free and fast for the offline extractor), so it is a job
option, off by default; `bench/grounding.py` measures how much review it adds and how many wrong accepted
answers it catches on the planted facts.

What counts as a disagreement, per variable:
- the second engine gives a value whose quote is found in the document (aligned, exact or fuzzy) and, when
  the document's pages are given, whose text there states that value about the question
  (relevance.value_support: the test that accepts a first answer), and
- that value is not the first engine's value by the variable's type (`same_value`, below), or the first
  engine found nothing.
The second engine finding nothing is no disagreement: an abstention says nothing against an answer (the
offline extractor abstains often). A second value its own quote does not state is none either: grounding
already doubts it, and counting it sent many right answers to review in the benchmark. Answers the engine
could not read (status error) are left as they are.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from policy_reader.models import Answer, AnswerStatus, MatchKind, Passage, Variable, VariableType
from policy_reader.variables import coerce_value, format_value

MAX_NOTE_QUOTE = 200


def disagrees(variable: Variable, first: Answer, second: Answer, pages: Mapping[int, str] | None = None,
              others: Sequence[Variable] = ()) -> bool:
    """Whether the second answer counts against the first (see the module docstring)."""
    if first.status == AnswerStatus.ERROR or second.value is None or second.match_kind == MatchKind.NONE:
        return False
    if first.value is not None and same_value(variable, first.value, second.value):
        return False
    if pages is not None:
        from policy_reader.extraction.relevance import value_support

        text = " ".join(pages.get(part.page, "")[part.start:part.end] for part in second.span)
        return value_support(variable, second.value, text, others).ok
    return True


def apply_second_opinion(variables: Sequence[Variable], first: Sequence[Answer], second: Sequence[Answer],
                         source: str, pages: Mapping[int, str] | None = None) -> list[Answer]:
    """The first engine's answers, those the second disagrees with marked needs_review, the second's value
    and quote in the note and in `passages` (agrees=False, `source` naming the second engine). `pages`: the
    document's page texts by number, to check that the second engine's quote states its value."""
    by_name = {a.name: a for a in second}
    kinds = {v.name: v for v in variables}
    out = []
    for answer in first:
        other = by_name.get(answer.name)
        variable = kinds.get(answer.name)
        if other is None or variable is None or not disagrees(variable, answer, other, pages, variables):
            out.append(answer)
            continue
        quote = other.evidence if len(other.evidence) <= MAX_NOTE_QUOTE else other.evidence[:MAX_NOTE_QUOTE] + "…"
        where = f" (page {other.page})" if other.page else ""
        note = f"Second opinion ({source}) disagrees: {format_value(other.value)}{where}, quoting \u201c{quote}\u201d"
        passage = Passage(value=other.value, evidence=other.evidence, page=other.page, match_kind=other.match_kind,
                          span=other.span, agrees=False, source=f"second opinion: {source}")
        out.append(answer.model_copy(update={
            "status": AnswerStatus.NEEDS_REVIEW,
            "note": f"{answer.note} {note}".strip(),
            "passages": [*answer.passages, passage],
        }))
    return out


def disagreements(answers: Sequence[Answer]) -> int:
    """How many answers a second opinion sent to review."""
    return sum(1 for a in answers if any(p.source.startswith("second opinion") for p in a.passages))


# --------------------------------------------------------------------------- comparing values
# Whether two values of a variable say the same: the second opinion asks, and so does the gold comparison
# (accuracy/gold.py, one wing up, which imports these).

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u201c": '"', "\u201d": '"',
                         "\u201e": '"', "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
                         "\u2212": "-", "\u00a0": " "})
_EDGE_PUNCTUATION = " \t\r\n.,;:!?\"'()[]{}"


def normalise_text(value: Any) -> str:
    """Text as two careful readers would agree it says: NFKC, case, curly quotes and dashes folded,
    runs of space collapsed, punctuation at the ends dropped."""
    text = unicodedata.normalize("NFKC", str(value)).translate(_QUOTES).casefold()
    return " ".join(text.split()).strip(_EDGE_PUNCTUATION)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def comparable(variable: Variable, value: Any) -> Any:
    """The form two values of `variable` are compared in (None: not stated). Values that are not yet
    typed (an old result, a hand-edited file) are typed like a model's answer first."""
    if value is None or value == "" or value == []:
        return None
    kind = variable.type
    if kind in (VariableType.NUMBER, VariableType.YEAR):
        number = _as_number(value)
        if number is None:
            number = _as_number(coerce_value(variable, value)[0])
        return None if number is None else (int(number) if kind == VariableType.YEAR else number)
    if kind == VariableType.BOOLEAN:
        return value if isinstance(value, bool) else coerce_value(variable, value)[0]
    if kind == VariableType.LIST:
        items = value if isinstance(value, (list, tuple)) else coerce_value(variable, value)[0] or []
        return frozenset(normalise_text(item) for item in items if normalise_text(item))
    if kind == VariableType.DATE:
        text = str(value).strip()
        return text if re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", text) else coerce_value(variable, text)[0]
    if kind == VariableType.CATEGORY:
        return str(value).strip()
    return normalise_text(value)


def same_value(variable: Variable, expected: Any, found: Any) -> bool:
    """Whether `found` is the value `expected` by the variable's type (both missing: the same)."""
    a, b = comparable(variable, expected), comparable(variable, found)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return a == b
