"""Tables found from the geometry of text pieces: rows as rows, a wrapped cell's lines joined.

Why this module: a table written line by line (label line 1, the row's values, label line 2, as
many office programs and typesetters write it) reads in content order as
`Residences 1,000 feet / (irrigation)`: a model quoting the row as printed ("Residences
(irrigation) 1,000 feet") could not be aligned. Both readers (the text layer in pdf_text.py and OCR
in ocr.py) hand their pieces of text with their boxes to `find_tables`, which needs nothing but the
boxes, so a scanned table and a born-digital one come out in the same rows (`label | cell | cell`).

Why our own geometry and not a table library: pdfplumber (MIT) parses the PDF a second time with
pdfminer (pure Python: 15 ms a table page, 127 ms a prose page with its text, bench/tables.md), found
53 % of the benchmark's rows with its ruling strategy, and its characters are pdfminer's, not PDFium's,
so its rows could not be mapped to the characters the highlight boxes; PyMuPDF's find_tables is AGPL.
Tables without rulings are common in ordinances; the gaps between pieces find both kinds.

The rules, all relative to the median piece height `h` (so they hold at any scale, in PDF points
or in scan pixels):
- visual lines: a piece whose vertical centre lies in the current line's band joins it;
- a run: consecutive lines whose pieces leave a *gutter* (an x range >= GUTTER h that no piece of
  the run covers); a line of prose (a piece wider than half the text), a gap of MAX_GAP h or a line
  covering every gutter ends it;
- columns: between the run's gutters, less a gutter beside a column holding pieces of fewer than
  two lines, or one that every line crossing it spaces exactly like two words of one cell (a
  justified label's last word is flush with the column's edge on every wrapped row: a "column" of
  last words; a grid's evenly spaced cells are told apart because every row crosses their gutters);
- not a table: two columns of prose (no column narrower than NARROW_COLUMN of the text), or fewer
  than two rows with two filled cells;
- rows: when the vertical gaps inside the table are of two kinds (lines of one cell close together,
  rows further apart: the widest jump between the sorted gaps exceeds GAP_SPREAD h), a row starts
  at a wide gap; when they are alike, at each line filling two columns (a label wrapping under its
  row's values continues the row) or after a gap wider than the table's; leading and trailing rows
  of one cell (a caption, a note) are left out.
"""
from __future__ import annotations

import bisect
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

#: Pieces of one line further apart than this many heights are separate pieces (pdf_text.py).
CELL_GAP = 0.6
#: Columns are at least this many piece heights apart.
GUTTER = 0.6
#: A table's narrowest column: median cell width under this share of the text width.
NARROW_COLUMN = 0.30
#: Gaps that differ by more than this many heights are of two kinds (within a cell / between rows).
GAP_SPREAD = 0.45
#: A piece wider than this share of the text is a line of prose, never a table cell.
WIDE_PIECE = 0.5
#: Pages with more visual lines than this are not searched for tables (no normal page has them;
#: the search must stay cheap on a hostile one).
MAX_LINES = 400
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
    lines = visual_lines(pieces)
    if len(lines) > MAX_LINES:
        return []
    prose = [any(p.x1 - p.x0 > WIDE_PIECE * width for p in line) for line in lines]
    tables: list[Table] = []
    i = 0
    while i < len(lines):
        if prose[i]:
            i += 1
            continue
        end = _run_end(lines, i, h, prose)
        table = _table(lines[i:end], h, width) if end - i >= 2 else None
        if table is not None:
            tables.append(table)
            i = end
        elif end - i > 2 and _text_columns(lines[i:end], h, width):
            i = end  # columns of prose: no table starts inside them (and no quadratic rescan)
        else:
            i += 1
    return tables


def _gutters(lines: Sequence[list[Piece]], h: float) -> list[tuple[float, float]]:
    """The x ranges, at least GUTTER heights wide, that no piece of these lines covers, between
    their leftmost and rightmost piece: the space between columns (or, until other lines cover
    them, the wide word spaces of a justified line)."""
    spans = sorted((p.x0, p.x1) for line in lines for p in line)
    gutters = []
    right = spans[0][1]
    for x0, x1 in spans[1:]:
        if x0 - right >= GUTTER * h:
            gutters.append((right, x0))
        right = max(right, x1)
    return gutters


def _run_end(lines: list[list[Piece]], start: int, h: float, prose: list[bool]) -> int:
    """Index after the longest run of lines from `start` that keeps a gutter, without a wide vertical gap.

    A justified line's wide word spaces are gutters only until a line below covers them; a line
    of prose covers every gutter and ends the run. The covered x ranges grow line by line (merged
    intervals), so a long table costs its lines times its columns, not its lines squared."""
    covered = _cover([], lines[start])
    end = start + 1
    while end < len(lines):
        top = min(p.y0 for p in lines[end])
        bottom = max(p.y1 for p in lines[end - 1])
        if prose[end] or top - bottom > MAX_GAP * h:
            break
        trial = _cover(covered, lines[end])
        if not any(b[0] - a[1] >= GUTTER * h for a, b in zip(trial, trial[1:])):
            break
        covered = trial
        end += 1
    return end


def _cover(covered: list[tuple[float, float]], line: list[Piece]) -> list[tuple[float, float]]:
    """The sorted, merged x ranges of `covered` and the line's pieces."""
    merged: list[tuple[float, float]] = []
    for x0, x1 in sorted([*covered, *((p.x0, p.x1) for p in line)]):
        if merged and x0 <= merged[-1][1]:
            if x1 > merged[-1][1]:
                merged[-1] = (merged[-1][0], x1)
        else:
            merged.append((x0, x1))
    return merged


def _column_bounds(run: list[list[Piece]], h: float) -> list[float]:
    """x positions between columns: the run's gutters, less those beside a column that holds pieces of
    fewer than two lines (a justified line's wide space beside a short word, not a column)."""
    found = _gutters(run, h)
    justified = _justified_spaces(run, found, h)
    gutters = [g for j, g in enumerate(found) if j not in justified]
    while gutters:
        bounds = [(a + b) / 2 for a, b in gutters]
        lines_in = [0] * (len(bounds) + 1)
        for line in run:
            for k in {_column_at(p, bounds) for p in line}:
                lines_in[k] += 1
        weak = next((k for k, n in enumerate(lines_in) if n < 2), None)
        if weak is None:
            return bounds
        # join the weak column to the neighbour its words sit next to on their line
        sides = [j for j in (weak - 1, weak) if 0 <= j < len(gutters)]
        del gutters[min(sides, key=lambda j: (_distance(run, bounds, weak, j + (j == weak - 1) - (j == weak)),
                                              gutters[j][1] - gutters[j][0]))]
    return []


def _justified_spaces(run: list[list[Piece]], gutters: list[tuple[float, float]], h: float) -> set[int]:
    """The gutters (indices) that every line with words on both sides of them (and no other gutter in
    between) spaces exactly as it spaces two other words of one cell of that line: a justified line
    stretches all its spaces alike (its last word flush with the column's edge, at the same x on every
    wrapped label), while cells are set apart by their own gaps. A space counts as one within a cell
    when no gutter, or only a gutter that one line alone crosses, lies in it: the spaces of a grid's
    evenly spaced columns are alike too, but each of them is a gutter every row crosses."""
    starts = [g[0] for g in gutters]
    ends = [g[1] for g in gutters]
    lines = []
    crossings = [0] * len(gutters)
    for line in run:
        pieces = sorted(line, key=lambda p: p.x0)
        pairs = []
        for a, b in zip(pieces, pieces[1:]):
            lo, hi = bisect.bisect_left(starts, a.x1), bisect.bisect_right(ends, b.x0)
            gutter = lo if hi - lo == 1 else (-1 if hi <= lo else -2)  # one gutter / none / several
            if gutter >= 0:
                crossings[gutter] += 1
            pairs.append((b.x0 - a.x1, gutter))
        lines.append(pairs)
    alike = [True] * len(gutters)
    for pairs in lines:
        within = [k for k, (_space, gutter) in enumerate(pairs)
                  if gutter == -1 or (gutter >= 0 and crossings[gutter] < 2)]
        for k, (space, gutter) in enumerate(pairs):
            if gutter < 0 or not alike[gutter]:
                continue
            # alike: the same stretched space, give or take the glyphs' side bearings
            if not any(abs(space - pairs[j][0]) <= 0.25 * h for j in within if j != k):
                alike[gutter] = False
    return {j for j in range(len(gutters)) if crossings[j] and alike[j]}


def _distance(run: list[list[Piece]], bounds: list[float], column: int, other: int) -> float:
    """Smallest horizontal distance, on one line, between a piece of `column` and one of `other`."""
    best = float("inf")
    for line in run:
        mine = [p for p in line if _column_at(p, bounds) == column]
        theirs = [p for p in line if _column_at(p, bounds) == other]
        for a in mine:
            for b in theirs:
                best = min(best, max(b.x0 - a.x1, a.x0 - b.x1))
    return best


def _column_at(piece: Piece, bounds: list[float]) -> int:
    """The column of the piece's centre (bounds sorted)."""
    return bisect.bisect_left(bounds, (piece.x0 + piece.x1) / 2)


def _row_threshold(gaps: list[float], h: float) -> float | None:
    """The vertical gap above which a line starts a new row, when the gaps are of two kinds (lines of
    one cell close together, rows further apart): the middle of the widest jump between sorted gaps.
    None when they are all alike."""
    ordered = sorted(gaps)
    if len(ordered) < 2:
        return None
    jump, at = max((ordered[k + 1] - ordered[k], k) for k in range(len(ordered) - 1))
    if jump <= GAP_SPREAD * h:
        return None
    return (ordered[at] + ordered[at + 1]) / 2


def _narrowest(members: list[list[Piece]]) -> float:
    """The narrowest column's width: the larger of its pieces' median width and its extent."""
    return min(max(statistics.median([p.x1 - p.x0 for p in ps]), max(p.x1 for p in ps) - min(p.x0 for p in ps))
               for ps in members if ps)


def _text_columns(run: list[list[Piece]], h: float, width: float) -> bool:
    """Whether the run is columns of prose (every column wide)."""
    bounds = _column_bounds(run, h)
    if not bounds:
        return False
    members = [[p for line in run for p in line if _column_at(p, bounds) == k] for k in range(len(bounds) + 1)]
    return _narrowest(members) >= NARROW_COLUMN * width


def _table(run: list[list[Piece]], h: float, width: float) -> Table | None:
    """The run's lines as a table (None when they are not one): columns between the gutters, rows by
    the vertical gaps (or by the lines that fill several columns), leading and trailing rows that
    fill one column only left out (a caption above, a note below)."""
    bounds = _column_bounds(run, h)
    if not bounds:
        return None
    n_columns = len(bounds) + 1
    filled = [len({_column_at(p, bounds) for p in line}) for line in run]
    if sum(1 for f in filled if f >= 2) < 1:
        return None
    members = [[p for line in run for p in line if _column_at(p, bounds) == k] for k in range(n_columns)]
    if _narrowest(members) >= NARROW_COLUMN * width:
        return None  # text columns, not a table
    gaps = [min(p.y0 for p in run[k]) - max(p.y1 for p in run[k - 1]) for k in range(1, len(run))]
    # a caption above or a note below (one column) says nothing about the gaps inside the table
    inner = gaps[(1 if filled[0] < 2 else 0): (len(gaps) - 1 if filled[-1] < 2 and len(gaps) > 2 else len(gaps))]
    threshold = _row_threshold(inner, h)
    # gaps all alike: rows start at lines filling two columns, and at a gap wider than any inside the table
    widest = max(inner) + GAP_SPREAD * h if inner else float("inf")
    rows: list[list[list[Piece]]] = []
    for k, line in enumerate(run):
        if k == 0 or (gaps[k - 1] > threshold if threshold is not None
                      else filled[k] >= 2 or gaps[k - 1] > widest):
            rows.append([[] for _ in range(n_columns)])
        for piece in line:
            rows[-1][_column_at(piece, bounds)].append(piece)
    while rows and sum(1 for cell in rows[0] if cell) < 2:
        rows.pop(0)
    while rows and sum(1 for cell in rows[-1] if cell) < 2:
        rows.pop()
    if sum(1 for row in rows if sum(1 for cell in row if cell) >= 2) < 2:
        return None
    return Table(rows=[[[p.key for line in visual_lines(cell) for p in line] for cell in row] for row in rows],
                 keys={p.key for row in rows for cell in row for p in cell})
