"""Tables from the geometry of text pieces (policy_reader/reading/tables.py): the rules on plain boxes.

The real PDFs and scans behind these rules are in test_pdf_text.py, test_ocr.py and test_page_image.py."""
from __future__ import annotations

from policy_reader.reading.tables import Piece, find_tables

H = 10.0  # piece height


def _layout(lines: list[list[tuple[float, str]]], *, pitch: float = 14.0, top: float = 100.0,
            char: float = 5.0) -> tuple[list[Piece], dict[int, str]]:
    """Pieces from lines of (x, text), one line every `pitch` units; a piece is `char` wide per character."""
    pieces, texts = [], {}
    for row, line in enumerate(lines):
        y = top + row * pitch
        for x, text in line:
            key = len(pieces)
            pieces.append(Piece(x, y, x + char * len(text), y + H, key))
            texts[key] = text
    return pieces, texts


def _rows(pieces: list[Piece], texts: dict[int, str]) -> list[list[str]]:
    return [[" ".join(texts[k] for k in cell) for cell in row if cell]
            for table in find_tables(pieces) for row in table.rows]


def test_an_even_grid_keeps_every_column() -> None:
    """Evenly spaced cells of one width: their spaces are all alike, like a justified line's, but every
    row crosses them, so they stay columns."""
    lines = [[(10 + 80 * c, f"r{r}c{c}") for c in range(6)] for r in range(8)]
    rows = _rows(*_layout(lines))
    assert rows == [[f"r{r}c{c}" for c in range(6)] for r in range(8)]


def test_a_justified_label_keeps_its_last_word() -> None:
    """A wrapped label set justified: its last word sits flush with the column's edge on every wrapped
    row, as a column would, but the line spaces it like its other words (20 and 13.3 units here)."""
    spans = [[(10, 45, "Feature"), (200, 235, "Setback")],
             [(10, 50, "Occupied"), (70, 115, "buildings"), (135, 145, "on"), (200, 240, "150 feet")],
             [(10, 75, "adjacent land")],
             [(10, 50, "Churches"), (63.33, 78.33, "and"), (91.67, 121.67, "places"), (135, 145, "of"),
              (200, 250, "1,000 feet")],
             [(10, 45, "worship")]]
    pieces, texts = [], {}
    for row, line in enumerate(spans):
        for x0, x1, text in line:
            texts[len(pieces)] = text
            pieces.append(Piece(x0, 100 + 12 * row, x1, 100 + 12 * row + H, len(pieces)))
    assert _rows(pieces, texts) == [["Feature", "Setback"], ["Occupied buildings on adjacent land", "150 feet"],
                                    ["Churches and places of worship", "1,000 feet"]]


def test_two_columns_of_prose_are_no_table() -> None:
    left = [(10, "x" * 50)] * 10
    right = [(300, "y" * 50)] * 10
    pieces, _texts = _layout([[a, b] for a, b in zip(left, right)])
    assert find_tables(pieces) == []


def test_a_caption_above_and_a_note_below_stay_outside_the_table() -> None:
    lines = [[(10, "Table 1.")],
             [(10, "Feature"), (200, "Setback")],
             [(10, "Residences"), (200, "1,000 feet")],
             [(10, "Roads"), (200, "500 feet")],
             [(10, "Note 1")]]
    pieces, texts = _layout(lines, pitch=18.0)
    pieces[-1] = Piece(10, 100 + 4 * 18 + 20, 40, 100 + 4 * 18 + 30, pieces[-1].key)  # the note further down
    assert _rows(pieces, texts) == [["Feature", "Setback"], ["Residences", "1,000 feet"], ["Roads", "500 feet"]]
