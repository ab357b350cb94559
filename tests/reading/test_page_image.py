"""Page images for the detail view: real rendering with PDFium, quotes highlighted in yellow."""
from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from policy_reader.errors import PdfError
from policy_reader.reading.page_image import find_quote_boxes, render_page_png
from tests.pdf_factory import make_encrypted_pdf, make_image_only_pdf, make_text_pdf, make_two_column_pdf

A4_PT = (210 / 25.4 * 72, 297 / 25.4 * 72)
LEFT = "The national adaptation plan protects forests and wetlands in every region. " * 3
RIGHT = "Renewable electricity reaches sixty percent of supply by the year 2030. " * 3


def _image(png: bytes) -> Image.Image:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(png)).convert("RGB")


@pytest.fixture
def two_columns(tmp_path: Path) -> Path:
    return make_two_column_pdf(tmp_path / "cols.pdf", LEFT, RIGHT)


def test_png_has_the_page_size_at_the_scale(two_columns: Path) -> None:
    for scale in (1.0, 2.0):
        image = _image(render_page_png(two_columns, 1, scale=scale))
        assert image.size == (math.ceil(A4_PT[0] * scale), math.ceil(A4_PT[1] * scale))


def test_highlight_paints_yellow_exactly_over_the_quote(two_columns: Path) -> None:
    quote = "sixty percent of supply by the year 2030"
    plain = _image(render_page_png(two_columns, 1))
    marked = _image(render_page_png(two_columns, 1, highlight=quote))

    changed = ImageChops.difference(plain, marked).getbbox()
    boxes = find_quote_boxes(two_columns, 1, quote)
    assert changed is not None and boxes
    # every changed pixel lies inside the union of the quote's boxes, in the right-hand column
    left = min(b[0] for b in boxes)
    top = min(b[1] for b in boxes)
    right = max(b[2] for b in boxes)
    bottom = max(b[3] for b in boxes)
    assert left - 1 <= changed[0] and top - 1 <= changed[1]
    assert changed[2] <= right + 2 and changed[3] <= bottom + 2
    assert changed[0] > plain.width / 2
    # background inside a box turned yellow: red and green stay high, blue drops
    x, y = _background_pixel(plain, boxes[0])
    r, g, b = marked.getpixel((x, y))
    assert r > 200 and g > 180 and b < 200


def test_highlight_ignores_whitespace_and_case(two_columns: Path) -> None:
    exact = find_quote_boxes(two_columns, 1, "protects forests and wetlands")
    loose = find_quote_boxes(two_columns, 1, "PROTECTS   forests\nand wet lands")
    assert exact and loose == exact


def test_quote_shortened_with_ellipsis_highlights_its_pieces(two_columns: Path) -> None:
    boxes = find_quote_boxes(two_columns, 1, "Renewable electricity reaches ... by the year 2030")
    assert len(boxes) >= 2


def test_quote_not_on_the_page_leaves_the_image_unchanged(two_columns: Path) -> None:
    plain = _image(render_page_png(two_columns, 1))
    missing = _image(render_page_png(two_columns, 1, highlight="carbon tax of 80 euro per tonne"))
    assert ImageChops.difference(plain, missing).getbbox() is None


def test_scanned_page_renders_without_boxes(tmp_path: Path) -> None:
    path = make_image_only_pdf(tmp_path / "scan.pdf", ["Emission target 45 percent"])
    assert find_quote_boxes(path, 1, "Emission target 45 percent") == []
    image = _image(render_page_png(path, 1, highlight="Emission target 45 percent", scale=0.5))
    assert image.getextrema()[0][0] < 100  # the scanned text is drawn


def test_page_out_of_range_is_a_pdf_error(tmp_path: Path) -> None:
    path = make_text_pdf(tmp_path / "one.pdf", ["Only one page in this document."])
    with pytest.raises(PdfError) as info:
        render_page_png(path, 2)
    assert "1 page" in info.value.message


def test_encrypted_pdf_renders_with_its_password(tmp_path: Path) -> None:
    path = make_encrypted_pdf(tmp_path / "locked.pdf", ["Locked page with the target of 55 percent."], "pw")
    with pytest.raises(PdfError) as info:
        render_page_png(path, 1)
    assert info.value.code == "encrypted"
    assert _image(render_page_png(path, 1, password="pw", highlight="target of 55")).size[0] > 0


def _background_pixel(plain: Image.Image, box: tuple[float, float, float, float]) -> tuple[int, int]:
    """A white pixel of the unmarked page inside `box` (between letters)."""
    for y in range(int(box[1]) + 2, int(box[3]) - 1):
        for x in range(int(box[0]) + 2, int(box[2]) - 1):
            if plain.getpixel((x, y)) == (255, 255, 255):
                return x, y
    raise AssertionError("no background pixel inside the box")


def test_quote_matches_across_a_line_break_hyphen(tmp_path: Path) -> None:
    path = make_text_pdf(tmp_path / "hy.pdf", ["The plan covers the whole adaptation frame-\nwork of the country."])
    assert find_quote_boxes(path, 1, "adaptation frame-\nwork of the country")
    assert find_quote_boxes(path, 1, "adaptation framework of the country")


# --------------------------------------------------------------------------- aligned spans (issue 19)


def _aligned(path: Path, quote: str):
    from policy_reader.extraction.grounding import DocumentIndex
    from policy_reader.reading.pdf_text import read_pdf

    (alignment, *_rest) = DocumentIndex(read_pdf(path).pages).align(quote)
    return list(alignment.parts)


def test_a_quote_over_a_page_break_is_highlighted_on_both_pages(tmp_path: Path) -> None:
    path = make_text_pdf(tmp_path / "break.pdf", ["Introduction of the plan.\n\nThe Ministry of", "Environment is "
                                                  "responsible for implementation.\n\nOther text follows here."])
    quote = 'The Ministry of </page>\n<page number="2">\nEnvironment is responsible for implementation.'
    span = _aligned(path, quote)
    assert [p.page for p in span] == [1, 2]
    first, second = find_quote_boxes(path, 1, quote, span=span), find_quote_boxes(path, 2, quote, span=span)
    assert len(first) == 1 and len(second) == 1
    assert first[0][1] > second[0][1]  # the end of page 1 is lower than the top of page 2
    # without the span (an older result) the markers are stripped and each piece is still found
    assert find_quote_boxes(path, 2, quote) and find_quote_boxes(path, 1, quote)


def test_a_repeated_sentence_is_highlighted_where_the_span_says(tmp_path: Path) -> None:
    sentence = "The target is reviewed every five years."
    path = make_text_pdf(tmp_path / "twice.pdf", [f"{sentence}\n\n{'Filler line of the policy.' * 3}\n\n{sentence}"])
    from policy_reader.extraction.grounding import DocumentIndex
    from policy_reader.reading.pdf_text import read_pdf

    alignments = DocumentIndex(read_pdf(path).pages).align(sentence)
    assert len(alignments) == 2
    top = find_quote_boxes(path, 1, sentence, span=list(alignments[0].parts))
    bottom = find_quote_boxes(path, 1, sentence, span=list(alignments[1].parts))
    assert len(top) == len(bottom) == 1 and bottom[0][1] > top[0][3]


def test_a_page_outside_the_document_is_never_drawn(tmp_path: Path) -> None:
    path = make_text_pdf(tmp_path / "four.pdf", ["one", "two", "three", "four"])
    with pytest.raises(PdfError):
        render_page_png(path, 3847659201)


# --------------------------------------------------------------------------- table rows (issue 28)


def test_a_table_row_quote_is_highlighted_on_its_own_characters(tmp_path: Path) -> None:
    """A table page's text is regrouped into rows ('Residences (irrigation) | 1,000 feet'), so its
    offsets no longer follow the page's character order: the highlight still boxes exactly the
    row's three pieces (label line 1, label line 2, value), nothing of the neighbouring rows."""
    from tests.pdf_factory import make_table_pdf

    path = make_table_pdf(tmp_path / "table.pdf")
    span = _aligned(path, "Residences (irrigation) 1,000 feet")
    assert span and span[0].page == 1
    pieces = sorted(box for word in ("Residences", "(irrigation)", "1,000 feet")
                    for box in find_quote_boxes(path, 1, word))
    assert len(pieces) == 3
    assert sorted(find_quote_boxes(path, 1, "Residences (irrigation) 1,000 feet", span=span)) == pieces
    # an older result without a span: the quote as the model gave it (cells apart or not)
    assert sorted(find_quote_boxes(path, 1, "Residences (irrigation) | 1,000 feet")) == pieces
    # the same on the first row, whose value sits between its label's lines in the page's order
    first = _aligned(path, "Area of 10 or more acres (surface) 300 feet")
    assert len(find_quote_boxes(path, 1, "", span=first)) == 3


def test_a_span_from_before_tables_were_read_as_rows_falls_back_to_the_quote(tmp_path: Path) -> None:
    """A result saved when the page was read in content order holds offsets into that older text; on the
    row-by-row text they would name other characters, so the quote decides (never a wrong highlight)."""
    import pypdfium2 as pdfium

    from policy_reader.models import SpanPart
    from tests.pdf_factory import make_table_pdf

    path = make_table_pdf(tmp_path / "table.pdf")
    doc = pdfium.PdfDocument(str(path))
    old_text = doc[0].get_textpage().get_text_range().replace("\r\n", "\n")
    doc.close()
    quote = "Residences 1,000 feet"  # the content order of the older text
    start = old_text.index(quote)
    old_span = [SpanPart(page=1, start=start, end=start + len(quote))]
    expected = sorted(find_quote_boxes(path, 1, "Residences") + find_quote_boxes(path, 1, "1,000 feet"))
    assert sorted(find_quote_boxes(path, 1, quote, span=old_span)) == expected
