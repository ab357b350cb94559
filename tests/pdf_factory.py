"""Real PDFs for tests, generated with fpdf2 (a test-only dependency)."""
from __future__ import annotations

from pathlib import Path

from fpdf import FPDF


def make_text_pdf(path: str | Path, pages: list[str], *, title: str = "") -> Path:
    """A born-digital PDF: one string per page (newlines kept, long lines wrapped)."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=False)
    if title:
        pdf.set_title(title)
    for text in pages:
        pdf.add_page()
        pdf.set_font("Helvetica", size=11)
        pdf.set_xy(15, 15)
        pdf.multi_cell(180, 5.5, text)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path
