"""Placement: which of the places a quote aligns at is the one the answer means (its sentence, table
row and heading are about the question), and how many places there were.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence


from policy_reader.models import Variable
from policy_reader.extraction.grounding import MAX_EXACT, Alignment, DocumentIndex
from policy_reader.extraction.relevance import CONTEXT_END, TermStats, relevance, row_like, value_support
from policy_reader.extraction.values import Support, number_spans, unit_after

# -- where a quote is: its surroundings

def quote_context(index: DocumentIndex, alignment: Alignment, value: Any = None) -> str:
    """The quote's surroundings on its page: its sentence or table row, narrowed to the part nearer the
    value than to any other number of the same unit ("500 feet from residences and 400 feet from roads"),
    with the section heading above it. What relevance is judged on when the quote is short."""
    if not alignment.parts:
        return ""
    part = max(alignment.parts, key=lambda p: p.end - p.start)
    text = index.page_texts.get(part.page, "")
    start, end = _value_anchor(text, part.start, part.end, value)
    lo = max([m.end() for m in CONTEXT_END.finditer(text, 0, min(len(text), start + 1)) if m.end() <= start] + [0])
    nxt = CONTEXT_END.search(text, end)
    hi = nxt.start() if nxt else len(text)
    lo, hi = _row_bounds(text, lo, hi, start, end)
    lo, hi = _narrow_to_value(text, lo, hi, start, end, value)
    own = text[lo:hi].strip()
    lead = text[text.rfind("\n", 0, lo) + 1:lo].strip()
    if len(lead) < 60 and len(re.findall(r"[^\W\d_]", lead)) >= 4 and _ITEM.match(lead):  # "Section 5. Height." or "(c) Public roads." before the sentence on its line
        return f"{lead}\n{own}"
    if re.match(r"(?:(?:section|article|chapter)\b\.?|§)\s*[\w.-]+", own, re.IGNORECASE):
        return own  # the unit opens its own section: a heading above belongs to another
    row = row_like(own)
    intro = _table_intro(text, lo) if row else ""
    return "\n".join(t for t in (_heading_above(text, lo, tables=row), intro, own) if t).strip()


def _value_anchor(text: str, start: int, end: int, value: Any) -> tuple[int, int]:
    """Where the value is printed inside the quote (the whole quote when it cannot be told): a long
    quote running over two rules is judged by the rule that holds the value."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        target = float(value)
        for s, e, number in number_spans(text[start:end]):
            if abs(number - target) <= 1e-9 * max(1.0, abs(target)) or abs(number / 100 - target) <= 1e-9:
                return start + s, start + e
    return start, end


def _row_bounds(text: str, lo: int, hi: int, start: int, end: int) -> tuple[int, int]:
    """Within a sentence, short lines (headings, table rows) are units of their own (as in _units):
    the lines of the unit(s) the quote overlaps."""
    bounds: list[tuple[int, int]] = []
    unit_start = lo
    for m in re.finditer(r"[^\n]*(?:\n|$)", text[lo:hi]):
        if not m.group():
            break
        line_end = lo + m.end()
        if row_like(m.group()):
            bounds.append((unit_start, line_end))
            unit_start = line_end
    if unit_start < hi:
        bounds.append((unit_start, hi))
    touched = [(a, b) for a, b in bounds if a < end and b > start] or [(lo, hi)]
    return min(touched[0][0], start), max(touched[-1][1], end)


def _narrow_to_value(text: str, lo: int, hi: int, start: int, end: int, value: Any) -> tuple[int, int]:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return lo, hi
    spans = [(lo + s, lo + e, v) for s, e, v in number_spans(text[lo:hi])]
    target = float(value)
    own = [sp for sp in spans if start <= sp[0] < end and (abs(sp[2] - target) <= 1e-9 * max(1.0, abs(target))
                                                         or abs(sp[2] / 100 - target) <= 1e-9)]
    if not own:
        return lo, hi
    s0, e0, _v = own[0]
    unit = unit_after(text, e0)
    if unit is None:
        return lo, hi
    same = [sp for sp in spans if sp is not own[0] and unit_after(text, sp[1]) == unit]
    before = [sp for sp in same if sp[1] <= s0]
    after = [sp for sp in same if sp[0] >= e0]
    new_lo = (before[-1][1] + s0) // 2 if before else lo
    new_hi = (e0 + after[0][0]) // 2 if after else hi
    # a word cut by the midpoint belongs to the side where it starts
    while new_lo > lo and text[new_lo - 1].isalnum():
        new_lo += 1
        if new_lo >= s0:
            break
    while new_hi < hi and text[new_hi - 1].isalnum() and text[new_hi].isalnum():
        new_hi += 1
    return min(new_lo, start), max(new_hi, end)


_ITEM = re.compile(r"(?:(?:(?:section|article|chapter|part)\b\.?|§)\s*[\w.-]+|\(?[A-Za-z0-9]{1,3}(?:\.\d+)*[.)])\s+\S",
                   re.IGNORECASE)
_HEADING = re.compile(r"^\s*(?:(?:(?:section|article|chapter|title|part|table)\b\.?|§)\s*[\w.-]+|\d+(?:\.\d+)*\.?|[A-Z]\.)\s+[^\n]{0,70}$",
                      re.IGNORECASE)


def _table_intro(text: str, pos: int, limit: int = 300) -> str:
    """For a table row: the sentence just above the table's rows ("... the minimum distances in the
    table below"), which says what the rows are about when no numbered heading does."""
    start = pos
    while start > 0:  # back over the rows (short lines) above this one
        line_start = text.rfind("\n", 0, max(0, start - 1)) + 1
        if not row_like(text[line_start:start]) or start - line_start == 0:
            break
        start = line_start
    before = text[max(0, start - limit):start]
    ends = [m.end() for m in CONTEXT_END.finditer(before[:-1] if before.endswith("\n") else before)]
    sentence = before[ends[-1] if ends else 0:].strip()
    return sentence if not row_like(sentence) else ""


def _heading_above(text: str, pos: int, *, tables: bool) -> str:
    """The nearest heading line (numbered, short) above `pos` on the page; a table's title only for a
    table row (`tables`), since prose after a table is not under its title."""
    lines = text[:pos].splitlines()
    for line in reversed(lines[:-1] if lines and not text[:pos].endswith("\n") else lines):
        stripped = line.strip()
        if _HEADING.match(stripped) and len(stripped) < 60 and not stripped.endswith((",", ";")):
            if stripped.casefold().startswith("table") and not tables:
                continue
            return stripped
    return ""



# -- which occurrence

@dataclass(frozen=True)
class Located:
    """The chosen place of a quote, why it supports the value (or not), and how many places it has."""

    alignment: Alignment
    support: Support
    text: str  # the document's text at the span
    occurrences: int  # places the quote aligned at
    context: str = ""


def locate(index: DocumentIndex, variable: Variable, value: Any, quote: str, *, others: Sequence[Variable] = (),
           stats: TermStats | None = None, prefer: set[int] | frozenset[int] = frozenset(),
           limit: int = MAX_EXACT) -> Located | None:
    """Where a quote is for this question: among the places it aligns at, the one whose surroundings
    (sentence or table row, heading) support the value and are most about the question; ties keep the
    alignment order (exact first, then `prefer`red pages). When several places are about the question
    as much, the choice is a guess: the support fails saying the quote occurs N times (review), and the
    highlight shows the chosen one. None when the quote is not in the document.

    Why: a short quote ("500 feet") often prints twice on a page; the first occurrence may belong to
    another rule, and tying it there accepted a wrong value or highlighted the wrong rule."""
    alignments = index.align(quote, prefer_pages=prefer)
    if not alignments:
        return None
    scored: list[tuple[Alignment, Support, str, str, float]] = []
    for alignment in alignments[:limit]:
        text = index.aligned_text(alignment)
        context = quote_context(index, alignment, value) if stats is not None else ""
        support = value_support(variable, value, text, others, stats=stats, context=context or None)
        share = relevance(variable, f"{context}\n{text}", stats)[0] if stats is not None else 0.0
        scored.append((alignment, support, text, context, share))
    good = [s for s in scored if s[1].ok]
    n = len(alignments)
    if not good:
        alignment, support, text, context, _share = scored[0]
        if n > 1 and support.reason:
            support = Support(False, f"{support.reason} (the quote occurs {n} times in the document)", support.missing)
        return Located(alignment, support, text, n, context)
    best = max(good, key=lambda s: s[4])
    rivals = [s for s in good if s is not best and s[4] >= best[4] - 0.05 and s[0].kind is best[0].kind
              and s[3] != best[3]]
    if rivals and prefer:  # the pages the model read (its chunk, its claimed page) may single one out
        preferred = [s for s in [best, *rivals] if set(s[0].pages) & set(prefer)]
        if len(preferred) == 1:
            best, rivals = preferred[0], []
    alignment, support, text, context, _share = best
    if rivals and stats is not None:
        support = Support(False, f"the quote occurs {n} times in the document and {len(rivals) + 1} places are "
                                 "about the question: check the highlighted one", support.missing)
    return Located(alignment, support, text, n, context)
