"""Tables found from the geometry of text pieces: rows as rows, a wrapped cell's lines joined.

Why this module: a table written line by line (label line 1, the row's values, label line 2, as
many office programs and typesetters write it) reads in content order as
`Residences 1,000 feet / (irrigation)`: a model quoting the row as printed ("Residences
(irrigation) 1,000 feet") could not be aligned. Both readers (the text layer in pdf_text.py and OCR
in ocr.py) hand their pieces of text with their boxes to `find_tables`, which needs nothing but the
boxes, so a scanned table and a born-digital one come out in the same rows (`label | cell | cell`).

Why our own geometry and not a table library: pdfplumber (MIT) parses the PDF a second time with
pdfminer (pure Python, tens of milliseconds a page, measured in bench/reading.md) and its positions
are pdfminer's, not PDFium's, so the text it gives could not be mapped back to the characters the
highlight boxes; PyMuPDF's find_tables is AGPL. Tables without rulings are common in ordinances, and
ruling-based finders miss them; the gaps between pieces find both.

The rules, all relative to the median piece height `h` (so they hold at any scale, in PDF points
or in scan pixels):
- pieces on one visual line (vertical centre inside the line's band) more than `h` apart are
  different cells; a line with two or more cells is a *table line*;
- a table is a run of at least two table lines and the lines between them, each fitting one
  column, plus the continuation lines right after the last one; the columns are the union of the
  x ranges of the table lines' cells; a line that crosses columns (prose) ends the run;
- text columns of prose are not a table: at least one column must be narrow (its cells' median
  width under 30 % of the text's width) — two columns of prose have wide lines in both;
- rows: when the vertical gaps between lines are of two kinds (close lines of one cell, wider gaps
  between rows), a row starts at a wide gap; when all gaps are alike, a row starts at each table
  line and single-cell lines continue the row above (a label that wraps under its row's values).
"""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

#: Cells of one line are at least this many piece heights apart.
CELL_GAP = 1.0
#: A table's narrowest column: median cell width under this share of the text width.
NARROW_COLUMN = 0.30
#: Gaps that differ by more than this many heights are of two kinds (within a cell / between rows).
GAP_SPREAD = 0.45
#: A vertical gap of more than this many heights ends a table.
MAX_GAP = 3.0


@dataclass(frozen=True)
class Piece:
    """A run of text on one visual line, with its box (y grows downwards) and the caller's key."""

    x0: float
    y0: float
    x1: float
    y1: float
    key: int

    @property
    def height(self) -> float:
        return max(1e-6, self.y1 - self.y0)


@dataclass
class Table:
    """One table: rows, each a list of cells (left to right), each the keys of its pieces in reading order."""

    rows: list[list[list[int]]]
    keys: set[int] = field(default_factory=set)


@dataclass
class _Cell:
    x0: float
    x1: float
    pieces: list[Piece]


@dataclass
class _Line:
    pieces: list[Piece]
    cells: list[_Cell]

    @property
    def top(self) -> float:
        return min(p.y0 for p in self.pieces)

    @property
    def bottom(self) -> float:
        return max(p.y1 for p in self.pieces)


def visual_lines(pieces: Sequence[Piece]) -> list[list[Piece]]:
    """Pieces grouped into visual lines, top to bottom, each left to right (a piece whose vertical
    centre lies in the current line's band joins it)."""
    lines: list[list[Piece]] = []
    top = bottom = 0.0
    for piece in sorted(pieces, key=lambda p: (p.y0, p.x0)):
        centre = (piece.y0 + piece.y1) / 2
        if lines and top <= centre <= bottom:
            lines[-1].append(piece)
            top, bottom = min(top, piece.y0), max(bottom, piece.y1)
            continue
        lines.append([piece])
        top, bottom = piece.y0, piece.y1
    return [sorted(line, key=lambda p: p.x0) for line in lines]


def find_tables(pieces: Sequence[Piece]) -> list[Table]:
    """The tables among the pieces, top to bottom (empty for prose, text columns, a lone row)."""
    if len(pieces) < 4:
        return []
    h = statistics.median(p.height for p in pieces)
    width = max(p.x1 for p in pieces) - min(p.x0 for p in pieces)
    if width <= 0:
        return []
    lines = [_Line(line, _cells(line, h)) for line in visual_lines(pieces)]
    tables: list[Table] = []
    i = 0
    while i < len(lines):
        if len(lines[i].cells) < 2:
            i += 1
            continue
        end, table = _table_from(lines, i, h, width)
        if table is not None:
            tables.append(table)
        i = max(end, i + 1)
    return tables


def _cells(line: list[Piece], h: float) -> list[_Cell]:
    cells: list[_Cell] = []
    for piece in line:
        if cells and piece.x0 - cells[-1].x1 < CELL_GAP * h:
            cells[-1].pieces.append(piece)
            cells[-1].x1 = max(cells[-1].x1, piece.x1)
        else:
            cells.append(_Cell(piece.x0, piece.x1, [piece]))
    return cells


def _columns(lines: list[_Line]) -> list[tuple[float, float]]:
    """Union of the x ranges of the table lines' cells: one range per column, left to right."""
    spans = sorted((c.x0, c.x1) for line in lines if len(line.cells) >= 2 for c in line.cells)
    columns: list[list[float]] = []
    for x0, x1 in spans:
        if columns and x0 <= columns[-1][1]:
            columns[-1][1] = max(columns[-1][1], x1)
        else:
            columns.append([x0, x1])
    return [(a, b) for a, b in columns]


def _column_of(cell: _Cell | Piece, columns: list[tuple[float, float]], h: float) -> int | None:
    """The one column a cell lies in (a little slack for ragged edges), None when it crosses two."""
    hits = [k for k, (a, b) in enumerate(columns) if min(cell.x1, b) - max(cell.x0, a) > 0]
    if len(hits) == 1:
        a, b = columns[hits[0]]
        nxt = columns[hits[0] + 1][0] if hits[0] + 1 < len(columns) else float("inf")
        return hits[0] if cell.x1 < nxt - 0.5 * h else None
    if not hits:  # in a gap between columns: the nearest column to its left
        left = [k for k, (a, _b) in enumerate(columns) if a <= cell.x0]
        return left[-1] if left else 0
    return None


def _table_from(lines: list[_Line], start: int, h: float, width: float) -> tuple[int, Table | None]:
    """The table whose first table line is lines[start]: (index after it, the table or None)."""
    # the run: table lines and narrow lines between them, until prose or a wide vertical gap
    run = [lines[start]]
    j = start + 1
    while j < len(lines):
        line = lines[j]
        if line.top - run[-1].bottom > MAX_GAP * h:
            break
        if len(line.cells) < 2 and line.cells[0].x1 - line.cells[0].x0 > 0.6 * width:
            break
        run.append(line)
        j += 1
    last_multi = max(k for k, line in enumerate(run) if len(line.cells) >= 2)
    if sum(1 for line in run if len(line.cells) >= 2) < 2:
        return start + 1, None
    columns = _columns(run[: last_multi + 1])
    if len(columns) < 2:
        return start + 1, None
    # every line up to the last table line must fit the columns; stop before the first that does not
    kept: list[_Line] = []
    for line in run:
        if any(_column_of(c, columns, h) is None for c in line.cells):
            break
        kept.append(line)
    multi = [k for k, line in enumerate(kept) if len(line.cells) >= 2]
    if len(multi) < 2:
        return start + 1, None
    columns = _columns(kept[: multi[-1] + 1])
    widths = [[c.x1 - c.x0 for line in kept for c in line.cells if _column_of(c, columns, h) == k]
              for k in range(len(columns))]
    if min(statistics.median(w) for w in widths if w) >= NARROW_COLUMN * width:
        return start + 1, None  # text columns, not a table
    gaps = [kept[k].top - kept[k - 1].bottom for k in range(1, len(kept))]
    by_gap = bool(gaps) and max(gaps) - min(gaps) > GAP_SPREAD * h
    threshold = (max(gaps) + min(gaps)) / 2 if by_gap else 0.0
    # continuation lines after the last table line: close below it (only when gaps tell rows apart)
    end = multi[-1] + 1
    while by_gap and end < len(kept) and gaps[end - 1] <= threshold and len(kept[end].cells) == 1:
        end += 1
    kept = kept[:end]
    rows: list[list[list[Piece]]] = []
    for k, line in enumerate(kept):
        new_row = k == 0 or (gaps[k - 1] > threshold if by_gap else len(line.cells) >= 2)
        if new_row:
            rows.append([[] for _ in columns])
        for cell in line.cells:
            column = _column_of(cell, columns, h)
            rows[-1][column if column is not None else 0].extend(cell.pieces)
    table = Table(rows=[[[p.key for p in cell] for cell in row] for row in rows],
                  keys={p.key for line in kept for p in line.pieces})
    return start + len(kept), table
