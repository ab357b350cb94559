"""Printed page numbers: the number a page shows in its header or footer, next to the PDF's own count.

Why: a page printed "98" may be PDF page 105, and an analyst holding the paper copy looks for the
printed one. The PDF page stays the page of record (pdf_text.py asks /PageLabels first; this module
reads the numbers a PDF without them prints).
"""
from __future__ import annotations

import re

from policy_reader.models import PageText

# A header or footer line that is only a page number: "98", "- 98 -", "Page 98", "Page 98 of 240",
# or a line ending in one ("Zoning Ordinance   Page 98").
_PRINTED_NUMBER = re.compile(r"^(?:(?:page|p\.)\s*)?[-\u2013\u2014]?\s*(\d{1,4})\s*[-\u2013\u2014]?(?:\s+of\s+\d{1,4})?$"
                             r"|\bpage\s+(\d{1,4})(?:\s+of\s+\d{1,4})?$", re.IGNORECASE)
_EDGE_LINES = 2


def printed_page_numbers(pages: list[PageText]) -> dict[int, str]:
    """{PDF page: printed number} for pages whose first or last lines hold a number that runs in
    sequence with a neighbouring page's (page n shows k, page n+1 shows k+1).

    A lone number at a page's edge may be anything (a table value, a year); two neighbours counting
    up together are page numbers. Pages without such a neighbour get no label."""
    candidates: dict[int, set[int]] = {}
    for page in pages:
        lines = [line.strip() for line in page.text.splitlines() if line.strip()]
        found = set()
        for line in lines[:_EDGE_LINES] + lines[-_EDGE_LINES:]:
            match = _PRINTED_NUMBER.search(line)
            if match:
                found.add(int(match.group(1) or match.group(2)))
        if found:
            candidates[page.number] = found
    labels: dict[int, str] = {}
    for number, found in candidates.items():
        before, after = candidates.get(number - 1, set()), candidates.get(number + 1, set())
        for value in sorted(found):
            if value - 1 in before or value + 1 in after:
                labels[number] = str(value)
                break
    return labels


def with_printed_numbers(pages: list[PageText]) -> list[PageText]:
    """Pages without a /PageLabels label get the printed number of their header or footer, if any."""
    if all(page.label for page in pages):
        return pages
    printed = printed_page_numbers(pages)
    for page in pages:
        if not page.label and page.number in printed:
            page.label = printed[page.number]
    return pages
