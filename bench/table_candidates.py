"""Table readers compared on the table pages of bench/reading.py: rows read correctly, false tables on
prose pages, milliseconds a page. Not part of `python -m bench` (pdfplumber is not a dependency):

    pip install --target /tmp/pp --no-deps pdfplumber pdfminer.six
    PYTHONPATH=/tmp/pp python -m bench.table_candidates      # writes bench/tables.md

Candidates: our geometry (policy_reader/reading/tables.py through pdf_text.page_layout), pdfplumber's
table finder with its default ruling-line strategy and with its text strategy, and the raw PDFium text.
PyMuPDF's find_tables is not measured: AGPL.
"""
from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path
from typing import Callable

import pypdfium2 as pdfium

from bench.reading import _make_tables, _page_text, _row_is_a_line
from policy_reader.reading.page_layout import page_layout
from tests.pdf_factory import make_text_pdf

OUT = Path(__file__).with_name("tables.md")


def _ours(path: Path) -> list[str]:
    doc = pdfium.PdfDocument(path)
    try:
        pages = []
        for i in range(len(doc)):
            textpage = doc[i].get_textpage()
            pages.append(page_layout(textpage).text)
            textpage.close()
        return pages
    finally:
        doc.close()


def _raw(path: Path) -> list[str]:
    doc = pdfium.PdfDocument(path)
    try:
        pages = []
        for i in range(len(doc)):
            textpage = doc[i].get_textpage()
            pages.append(textpage.get_text_range().replace("\r\n", "\n"))
            textpage.close()
        return pages
    finally:
        doc.close()


def _plumber(settings: dict | None) -> Callable[[Path], list[str]]:
    import pdfplumber

    def read(path: Path) -> list[str]:
        pages = []
        with pdfplumber.open(path) as pdf:
            for page in pdf.pages:
                rows = []
                for table in page.extract_tables(settings or {}):
                    for row in table:
                        rows.append(" | ".join(" ".join((cell or "").split()) for cell in row if cell))
                pages.append("\n".join(rows) + "\n" + (page.extract_text() or ""))
        return pages
    return read


def _tables_found(read: Callable[[Path], list[str]], path: Path) -> int:
    return sum(1 for page in read(path) for line in page.splitlines() if " | " in line)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases = _make_tables(folder / "tables", random.Random(28), 24)
        rng = random.Random(4)
        prose = [make_text_pdf(folder / f"prose{d}.pdf", [_page_text(rng, d, p) for p in range(5)]) for d in range(8)]
        readers: dict[str, Callable[[Path], list[str]]] = {"ours (tables.py on PDFium boxes)": _ours,
                                                           "raw pypdfium2 text": _raw}
        try:
            readers["pdfplumber, ruling lines (default)"] = _plumber(None)
            readers["pdfplumber, text strategy"] = _plumber({"vertical_strategy": "text",
                                                             "horizontal_strategy": "text"})
        except ImportError:
            print("pdfplumber not importable: only ours and raw are measured")
        lines = ["# Table readers on the table pages of bench/reading.py", "",
                 "`PYTHONPATH=/tmp/pp python -m bench.table_candidates` (pdfplumber 0.11 installed apart, not a "
                 "dependency). 24 one-page setback tables (3-6 rows, labels wrapping over two lines, 2 or 3 "
                 "columns, ruled or not, written line by line or cell by cell, justified cells) and 40 prose "
                 "pages. ms/page: process CPU time, best of 3.", "",
                 "| reader | rows read as one line | lines with ' \\| ' on prose pages | ms/page, tables | ms/page, prose |",
                 "|---|---|---|---|---|"]
        for name, read in readers.items():
            right = total = 0
            for path, rows in cases:
                text = read(path)[0]
                for cells in rows:
                    total += 1
                    right += _row_is_a_line(text, cells)
            false = sum(_tables_found(read, path) for path in prose)
            table_ms = _ms(read, [p for p, _ in cases], 1)
            prose_ms = _ms(read, prose, 5)
            lines.append(f"| {name} | {right}/{total} ({right / total:.0%}) | {false} | {table_ms:.2f} | {prose_ms:.2f} |")
            print(lines[-1])
        lines += ["", "pdfplumber reads the file a second time with pdfminer (pure Python), and its characters are "
                  "pdfminer's, not PDFium's: its rows could not be mapped to the characters the evidence highlight "
                  "boxes. Ours works on the boxes PDFium already has, so every character of a row is one of the "
                  "page's characters (pdf_text.PageLayout.owners)."]
        # the measured-once sections below the table (reading cost) are kept
        kept = OUT.read_text(encoding="utf-8").partition("\n## ")[2] if OUT.exists() else ""
        OUT.write_text("\n".join(lines) + "\n" + (f"\n## {kept}" if kept else ""), encoding="utf-8")
        print(f"written {OUT}")


def _ms(read: Callable[[Path], list[str]], files: list[Path], pages_each: int) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.process_time()
        for path in files:
            read(path)
        best = min(best, time.process_time() - t0)
    return best / (len(files) * pages_each) * 1000


if __name__ == "__main__":
    main()
