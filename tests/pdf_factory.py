"""Real PDFs for tests, generated with fpdf2 (a test-only dependency)."""
from __future__ import annotations

import io
from pathlib import Path

from fpdf import FPDF

from policy_reader.fsio import atomic_write_bytes


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


# --- scanned, encrypted, damaged and layout PDFs (used by the document-reading tests and others)

_SCAN_DPI = 150  # a typical office scanner setting; the text stays large enough for OCR
_A4_MM = (210.0, 297.0)


def _scan_image(lines: list[str], *, font_px: int = 32):
    """An A4 'scan' (grayscale image) with `lines` typed on it in a large, OCR-friendly font.

    Pillow's built-in font (load_default(size=...)) is a real TrueType font bundled with Pillow,
    so this works on any machine without system fonts.
    """
    from PIL import Image, ImageDraw, ImageFont

    width = round(_A4_MM[0] / 25.4 * _SCAN_DPI)
    height = round(_A4_MM[1] / 25.4 * _SCAN_DPI)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=font_px)
    y = 120
    for line in lines:
        draw.text((110, y), line, fill=0, font=font)
        y += int(font_px * 1.6)
    return image


def make_mixed_pdf(path: str | Path, pages: list[str | list[str]]) -> Path:
    """A PDF mixing born-digital and scanned pages: a str is a text page (with a text layer),
    a list of str is an image-only page showing those lines (no text layer at all)."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=False)
    for page in pages:
        pdf.add_page()
        if isinstance(page, str):
            pdf.set_font("Helvetica", size=11)
            pdf.set_xy(15, 15)
            pdf.multi_cell(180, 5.5, page)
        else:
            pdf.image(_scan_image(list(page)), x=0, y=0, w=_A4_MM[0], h=_A4_MM[1])
    return _save(pdf, path)


def make_image_only_pdf(path: str | Path, lines: list[str]) -> Path:
    """A one-page scanned PDF: `lines` exist only as pixels, so only OCR can read them."""
    return make_mixed_pdf(path, [list(lines)])


def make_scanned_pdf(path: str | Path, pages: list[list[str]]) -> Path:
    """A multi-page scanned PDF: one list of lines per page, no text layer anywhere."""
    return make_mixed_pdf(path, [list(p) for p in pages])


def make_encrypted_pdf(path: str | Path, pages: list[str], password: str) -> Path:
    """A text PDF that needs `password` (the user password) to be opened."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.set_encryption(owner_password=password + "-owner", user_password=password)
    for text in pages:
        pdf.add_page()
        pdf.set_font("Helvetica", size=11)
        pdf.set_xy(15, 15)
        pdf.multi_cell(180, 5.5, text)
    return _save(pdf, path)


def make_two_column_pdf(path: str | Path, left: str, right: str) -> Path:
    """One page with two text columns side by side (as in many policy briefs)."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.set_xy(15, 20)
    pdf.multi_cell(85, 5.5, left)
    pdf.set_xy(110, 20)
    pdf.multi_cell(85, 5.5, right)
    return _save(pdf, path)


def make_truncated_pdf(path: str | Path, pages: int = 3) -> Path:
    """A real text PDF cut in half, as left by an interrupted download or upload."""
    path = Path(path)
    make_text_pdf(path, [f"Page {n} of a document that was cut off. " * 20 for n in range(1, pages + 1)])
    data = path.read_bytes()
    atomic_write_bytes(path, data[: len(data) // 2])
    return path


def make_blank_pdf(path: str | Path, n_pages: int = 1) -> Path:
    """A valid PDF whose pages carry nothing at all (no text, no image)."""
    pdf = FPDF(format="A4")
    for _ in range(n_pages):
        pdf.add_page()
    return _save(pdf, path)


def make_scanned_copy(src: str | Path, path: str | Path, *, dpi: int = 200, degrade=None) -> Path:
    """An image-only copy of a PDF, as a scanner makes it: every page rasterised at `dpi` (grayscale),
    optionally degraded (`degrade(PIL image) -> PIL image`: skew, noise), and no text layer left."""
    import pypdfium2 as pdfium

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=False)
    doc = pdfium.PdfDocument(str(src))
    try:
        for index in range(len(doc)):
            image = doc[index].render(scale=dpi / 72).to_pil().convert("L")
            pdf.add_page()
            pdf.image(degrade(image) if degrade else image, x=0, y=0, w=_A4_MM[0], h=_A4_MM[1])
    finally:
        doc.close()
    return _save(pdf, path)


def _save(pdf: FPDF, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


# --- tables and printed page numbers (issue 28)

SETBACK_ROWS = [("Area of 10 or more acres (surface)", "300 feet"), ("Residences (irrigation)", "1,000 feet"),
                ("Public roads", "500 feet"), ("Occupied buildings on adjacent land", "1,500 feet")]


def make_table_pdf(path: str | Path, rows: list[tuple[str, ...]] = SETBACK_ROWS, *,
                   header: tuple[str, ...] | None = ("Feature", "Minimum setback"),
                   intro: str = "Section 4.2 Setbacks. Wind energy facilities shall meet the setbacks "
                                "from the features listed in Table 1.",
                   outro: str = "Setbacks are measured from the base of the tower to the nearest point of "
                                "the feature.",
                   label_mm: float = 40, cell_mm: float = 35, ruled: bool = True, order: str = "lines") -> Path:
    """One page with prose, a table whose first-column labels wrap over two lines, and prose again.

    The text is written line by line across the row (label line 1, then the row's values, then label
    line 2), values at the top of their row, as many office programs write a table: read in content
    order, a label's lines and the value cells interleave ('Area of 10 or more 300 feet / acres
    (surface)'). `order="cells"`: fpdf2's own table instead (cell after cell, values centred in
    their row, every cell ruled)."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.set_xy(20, 20)
    pdf.multi_cell(170, 5.5, intro)
    if order == "cells":
        pdf.ln(4)
        n = len(rows[0])
        with pdf.table(col_widths=(label_mm, *[cell_mm] * (n - 1)), width=label_mm + cell_mm * (n - 1),
                       align="LEFT", first_row_as_headings=header is not None) as table:
            for row in ([header] if header else []) + list(rows):
                cells = table.row()
                for cell in row:
                    cells.cell(cell)
        pdf.ln(4)
        pdf.set_x(20)
        pdf.multi_cell(170, 5.5, outro)
        return _save(pdf, path)
    x0, line_h, pad = 20.0, 5.5, 2.0
    xs = [x0] + [x0 + label_mm + pad + k * (cell_mm + pad) for k in range(len(rows[0]) - 1)]
    width = xs[-1] + cell_mm - x0
    y = pdf.get_y() + 6
    for number, row in enumerate(([header] if header else []) + list(rows)):
        wrapped = [pdf.multi_cell(label_mm if k == 0 else cell_mm, line_h, cell, dry_run=True, output="LINES")
                   for k, cell in enumerate(row)]
        height = line_h * max(len(lines) for lines in wrapped) + 2 * pad
        if ruled:
            pdf.line(x0 - 1, y, x0 + width, y)
        for k in range(max(len(lines) for lines in wrapped)):  # visual line by visual line
            for x, lines in zip(xs, wrapped):
                if k < len(lines):
                    pdf.text(x, y + pad + line_h * k + 4, lines[k])
        y += height
    if ruled:
        pdf.line(x0 - 1, y, x0 + width, y)
    pdf.set_xy(20, y + 6)
    pdf.multi_cell(170, 5.5, outro)
    return _save(pdf, path)


def make_labelled_pdf(path: str | Path, pages: list[str], *, first_label: int, from_page: int = 1,
                      roman_before: bool = True) -> Path:
    """A text PDF whose /PageLabels number PDF page `from_page` as `first_label` (pages before it get
    roman numerals i, ii, ... when `roman_before`), as a report with front matter does (written by pypdf)."""
    import pypdf

    path = make_text_pdf(path, pages)
    writer = pypdf.PdfWriter(clone_from=str(path))
    if from_page > 1 and roman_before:
        writer.set_page_label(0, from_page - 2, style="/r")
    writer.set_page_label(from_page - 1, len(pages) - 1, style="/D", start=first_label)
    out = io.BytesIO()
    writer.write(out)
    atomic_write_bytes(path, out.getvalue())
    return path


def make_footer_numbered_pdf(path: str | Path, pages: list[str], *, first_printed: int,
                             at: str = "footer") -> Path:
    """A text PDF with a printed page number in every page's footer (or header, `at="header"`):
    PDF page n shows `first_printed + n - 1`; no /PageLabels."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=False)
    for n, text in enumerate(pages):
        pdf.add_page()
        pdf.set_font("Helvetica", size=11)
        pdf.set_xy(20, 25)
        pdf.multi_cell(170, 5.5, text)
        pdf.set_font("Helvetica", size=9)
        pdf.set_xy(20, 282 if at == "footer" else 10)
        pdf.cell(170, 5, str(first_printed + n), align="C")
    return _save(pdf, path)
