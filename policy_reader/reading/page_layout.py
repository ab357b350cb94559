"""A page's text with its tables read row by row, and where each character of it is on the page.

Why apart from pdf_text.py: reading a table needs PDFium's character boxes, a path of its own that only
table pages take (see `page_layout`); pdf_text.py reads documents, this reads one text page. Every
PDFium call here is made by a caller holding pdf_text.PDFIUM_LOCK (read_pdf, page_image).
"""
from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from policy_reader.reading.tables import CELL_GAP, Piece, find_tables

# Light normalisation: PDFium's CRLF -> LF, NUL and other control characters removed. PDFium
# replaces a hyphen at a line break by a marker (U+FFFE, or U+0002 in bounded text): it becomes
# "-\n" again, so hyphenation is kept as it is printed.
_CONTROL: dict[int, str | None] = {c: None for c in range(32) if c not in (9, 10)}
_CONTROL.update({2: "-\n", 0xFFFE: "-\n", 0xFFFF: None})
_NEEDS_TRANSLATE = re.compile("[\x00-\x08\x0b-\x1f\ufffe\uffff]")


def normalise(text: str) -> str:
    """The light normalisation above (fast: the per-character translation only when needed)."""
    text = text.replace("\r\n", "\n")
    if _NEEDS_TRANSLATE.search(text):  # rare: only then pay for the per-character translation
        text = text.replace("\r", "\n").translate(_CONTROL)
    return text


#: A page with more text runs or characters than this is read as PDFium orders it (no table search):
#: no real table page comes near, and the search stays bounded on a hostile page.
MAX_TABLE_RECTS = 4000
MAX_TABLE_CHARS = 40_000


@dataclass(frozen=True)
class PageLayout:
    """A page's text and, when tables were regrouped into rows, which character of the page each
    character of the text is (`owners[k]`: PDFium's char index, -1 for an inserted separator).

    Without tables `owners` is None: the text follows PDFium's character order, offsets map to
    characters by searching near them (page_image.py)."""

    text: str
    owners: list[int] | None = None


def page_layout(textpage: pdfium.PdfTextPage) -> PageLayout:
    """The page's text, tables read row by row (`label | cell | cell`, wrapped lines of a cell joined).

    Fast path first: a page whose text runs (PDFium's rectangles, one per text object on a line) are
    no more than its lines has no two cells on a line and is no table; only then are the runs'
    boxes looked at, and only when they hold a table is the page read character by character."""
    raw = textpage.get_text_range()
    rects = pdfium_c.FPDFText_CountRects(textpage, 0, -1)
    if (rects <= raw.count("\n") + 1 or rects > MAX_TABLE_RECTS or len(raw) > MAX_TABLE_CHARS
            or not _runs_hold_table(textpage)):
        return PageLayout(normalise(raw))
    return _table_layout(textpage, raw) or PageLayout(normalise(raw))


def _runs_hold_table(textpage: pdfium.PdfTextPage) -> bool:
    """Whether the page's text runs (their rectangles only: cheap) form a table."""
    pieces = []
    for i in range(pdfium_c.FPDFText_CountRects(textpage, 0, -1)):
        left, bottom, right, top = textpage.get_rect(i)
        pieces.append(Piece(left, -top, right, -bottom, i))
    return bool(find_tables(pieces))


def _table_layout(textpage: pdfium.PdfTextPage, raw: str) -> PageLayout | None:
    """Text with each table replaced by its rows, placed where the table starts in PDFium's order."""
    pieces, ranges = _char_pieces(textpage, raw)
    tables = find_tables(pieces)
    if not tables:
        return None
    in_table: dict[int, int] = {}  # char index -> table number
    starts: dict[int, int] = {}  # first char index of a table -> table number
    for number, table in enumerate(tables):
        first = min(ranges[key][0] for key in table.keys)
        starts[first] = number
        for key in table.keys:
            for index in range(ranges[key][0], ranges[key][1] + 1):
                in_table[index] = number
    chars: list[str] = []
    owners: list[int] = []

    def emit(index: int) -> None:
        ch = raw[index]
        if ch == "\r":
            ch = "" if raw[index + 1:index + 2] == "\n" else "\n"
        elif ord(ch) in _CONTROL:
            ch = _CONTROL[ord(ch)] or ""
        for c in ch:
            chars.append(c)
            owners.append(index)

    def separator(text: str) -> None:
        chars.extend(text)
        owners.extend([-1] * len(text))

    pending: list[int] = []  # whitespace met since the last character written
    after_table = False  # table characters met since then: their line breaks and spaces are the rows'
    for index in range(len(raw)):
        number = starts.get(index)
        if number is not None:
            if chars and chars[-1] != "\n":
                separator("\n")
            for r, row in enumerate(tables[number].rows):
                if r:
                    separator("\n")
                for c, cell in enumerate([cell for cell in row if cell]):
                    if c:
                        separator(" | ")
                    for p, key in enumerate(cell):
                        if p:
                            separator(" ")
                        for k in range(ranges[key][0], ranges[key][1] + 1):
                            emit(k)
        if index in in_table:
            pending.clear()
            after_table = True
        elif raw[index].isspace() or ord(raw[index]) in _CONTROL:
            pending.append(index)
        else:
            if after_table:
                if chars and chars[-1] != "\n":
                    separator("\n")
                pending.clear()
                after_table = False
            for k in pending:
                emit(k)
            pending.clear()
            emit(index)
    if not after_table:
        for k in pending:
            emit(k)
    while chars and chars[-1] == "\n" and owners[-1] == -1:
        chars.pop()
        owners.pop()
    return PageLayout("".join(chars), owners)


def _char_pieces(textpage: pdfium.PdfTextPage, raw: str) -> tuple[list[Any], list[tuple[int, int]]]:
    """The page's runs of characters on one line without a wide gap, with their boxes (y downwards),
    and for each run its first and last char index (PDFium's order; whitespace at either end left out)."""
    pieces: list[Piece] = []
    ranges: list[tuple[int, int]] = []
    box: list[float] | None = None  # x0, y0, x1, y1 of the run being built
    first = last = -1

    def close() -> None:
        if box is not None:
            pieces.append(Piece(box[0], box[1], box[2], box[3], len(pieces)))
            ranges.append((first, last))

    # PDFium's own call with four reused doubles: textpage.get_charbox allocates them per character
    left_c, right_c, bottom_c, top_c = (ctypes.c_double() for _ in range(4))
    refs = (ctypes.byref(left_c), ctypes.byref(right_c), ctypes.byref(bottom_c), ctypes.byref(top_c))
    get_box, raw_page = pdfium_c.FPDFText_GetCharBox, textpage.raw
    for index in range(min(len(raw), textpage.count_chars())):
        if raw[index].isspace() or ord(raw[index]) in _CONTROL:
            continue
        if not get_box(raw_page, index, *refs):
            continue
        left, right, y0, y1 = left_c.value, right_c.value, -top_c.value, -bottom_c.value
        if right - left <= 0 or y1 - y0 <= 0:
            continue
        height = y1 - y0
        # same line: the boxes overlap vertically (a comma or a quote mark sits off the line's centre)
        line_height = max(height, box[3] - box[1]) if box is not None else height
        if (box is not None and min(y1, box[3]) - max(y0, box[1]) > 0
                and -0.5 * line_height <= left - box[2] < CELL_GAP * line_height):
            box = [box[0], min(box[1], y0), max(box[2], right), max(box[3], y1)]
            last = index
            continue
        close()
        box, first, last = [left, y0, right, y1], index, index
    close()
    return pieces, ranges
