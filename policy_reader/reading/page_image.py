"""One page of a PDF as a PNG, with an evidence quote highlighted: what the analyst checks an answer against.

What is highlighted is the answer's aligned span (grounding.py): the parts of it on this page, taken
from the page's own text (pdf_text.page_text) and located among the page's characters near their
offsets, so a quote over a page break is highlighted on both pages and a repeated sentence on the
right occurrence. Without a span (older results), the quote itself is matched, cleaned of the prompt's
page markers, ignoring whitespace and case, with ligatures, typographic quotes and dashes folded.
Pages read by OCR have no text layer: the image is returned without boxes.
"""
from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image, ImageDraw

from policy_reader.errors import PdfError
from policy_reader.models import SpanPart
from policy_reader.reading.page_layout import PageLayout, page_layout
from policy_reader.reading.pdf_text import PDFIUM_LOCK, capped_scale, open_document
from policy_reader.reading.quotes import clean_quote

Box = tuple[float, float, float, float]  # left, top, right, bottom in image pixels

#: Semi-transparent highlighter yellow (RGBA).
HIGHLIGHT_FILL = (255, 221, 0, 96)
HIGHLIGHT_OUTLINE = (230, 170, 0, 200)
MAX_SCALE = 4.0
DEFAULT_MAX_MEGAPIXELS = 16.0  # RENDER_MAX_MEGAPIXELS
_MIN_SEGMENT = 6  # ignore tiny pieces of a quote split at "..." (they would match anywhere)

_FOLD = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
                       "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
                       "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
                       "\u2212": "-", "\u00ad": "-", "\x02": "-", "\ufffe": "-"})


def render_page_png(path: Path, page: int, *, highlight: str | None = None, scale: float = 1.5,
                    password: str | None = None, span: Sequence[SpanPart] = (),
                    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> bytes:
    """PNG bytes of page `page` (1-based) at `scale` x 72 dpi (smaller when the page would exceed
    `max_megapixels`), with the answer's aligned `span` (its parts on this page) or else the `highlight`
    quote boxed in yellow if found. A page outside the document is a PdfError, never an image."""
    with _rendered_page(path, page, scale, password, max_megapixels, rev_byteorder=True) as (pdf_page, bitmap):
        image = bitmap.to_pil().convert("RGB")
        boxes = _quote_boxes(pdf_page, bitmap, highlight or "", _on_page(span, page)) if highlight or span else []
    if boxes:
        image = _draw_boxes(image, boxes)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def find_quote_boxes(path: Path, page: int, quote: str, *, scale: float = 1.5,
                     password: str | None = None, span: Sequence[SpanPart] = (),
                     max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> list[Box]:
    """The pixel boxes `render_page_png` would draw for `span` / `quote` (empty when not on the page)."""
    with _rendered_page(path, page, scale, password, max_megapixels) as (pdf_page, bitmap):
        return _quote_boxes(pdf_page, bitmap, quote, _on_page(span, page))


def _on_page(span: Sequence[SpanPart], page: int) -> list[SpanPart]:
    return [part for part in span if part.page == page]


@contextmanager
def _rendered_page(path: Path, page: int, scale: float, password: str | None, max_megapixels: float,
                   **render_options: Any) -> Iterator[tuple[pdfium.PdfPage, pdfium.PdfBitmap]]:
    """Page `page` rendered at `scale` (capped in pixels), under the PDFium lock; all closed afterwards."""
    scale = min(MAX_SCALE, max(0.1, float(scale)))
    with PDFIUM_LOCK:
        doc = open_document(Path(path), password)
        try:
            count = len(doc)
            if not 1 <= page <= count:
                raise PdfError(f"Page {page} does not exist: this PDF has {count} page(s).", code="unreadable")
            pdf_page = doc[page - 1]
            try:
                width, height = pdf_page.get_size()
                scale = capped_scale(width, height, scale, max_megapixels * 1_000_000)
                bitmap = pdf_page.render(scale=scale, **render_options)
                try:
                    yield pdf_page, bitmap
                finally:
                    bitmap.close()
            finally:
                pdf_page.close()
        finally:
            doc.close()


# --------------------------------------------------------------------------- matching


def _quote_boxes(pdf_page: pdfium.PdfPage, bitmap: pdfium.PdfBitmap, quote: str,
                 parts: Sequence[SpanPart] = ()) -> list[Box]:
    """Find the span's parts (else the quote) among the page's characters: one box per line covered."""
    textpage = pdf_page.get_textpage()
    try:
        layout = page_layout(textpage)
        if layout.owners is not None:  # tables read as rows: offsets map to characters one by one
            spans = _table_page_spans(textpage, layout, quote, parts)
        else:
            folded, owners = _page_chars(textpage)
            spans = []
            for part in parts:
                found = _nearest_span(folded, owners, layout.text[part.start:part.end], part.start)
                if found:
                    spans.append(found)
            if not spans and quote:
                spans = _match_spans(folded, owners, quote)
        if not spans:
            return []
        conv = bitmap.get_posconv(pdf_page)
        boxes: list[Box] = []
        for first, last in spans:
            boxes.extend(_span_boxes(textpage, conv, first, last))
        return boxes
    finally:
        textpage.close()


def _table_page_spans(textpage: pdfium.PdfTextPage, layout: PageLayout, quote: str,
                      parts: Sequence[SpanPart]) -> list[tuple[int, int]]:
    """Char ranges to box on a page whose tables were regrouped into rows (pdf_text.page_layout).

    A span part's offsets name the page's characters directly (`layout.owners`); a quote without a
    span is matched against the rows' text (the cell separators ' | ' ignored). Either way the
    characters of a row are not contiguous in the page's order (a wrapped label's second line comes
    after the row's values), so the ranges are the runs of those characters."""
    owners = layout.owners or []
    chosen: list[int] = []
    if parts and (not quote or _span_matches_quote(layout.text, parts, quote)):
        for part in parts:
            chosen.extend(o for o in owners[max(0, part.start):max(0, part.end)] if o >= 0)
    if not chosen and quote:
        folded: list[str] = []
        folded_owners: list[int] = []
        for ch, owner in zip(layout.text, owners):
            if owner < 0:
                continue
            for c in _fold(ch):
                if not c.isspace():
                    folded.append(c)
                    folded_owners.append(owner)
        text = "".join(folded)
        for first, last in _match_spans(text, list(range(len(text))), quote.replace("|", " ")):
            chosen.extend(folded_owners[first:last + 1])
    if not chosen and quote:  # a quote in the page's content order (an older result's)
        folded_page, page_owners = _page_chars(textpage)
        return _match_spans(folded_page, page_owners, quote)
    return _char_runs(sorted(set(chosen)), textpage.get_text_range())


def _span_matches_quote(text: str, parts: Sequence[SpanPart], quote: str) -> bool:
    """Whether the span's text is (nearly) the quote's: a span saved before the page was read row by row
    holds offsets into the older text, which here name other characters."""
    pieces = [_letters_digits(text[max(0, p.start):max(0, p.end)]) for p in parts]
    wanted = _letters_digits(clean_quote(quote))
    if all(piece and piece in wanted for piece in pieces):
        return True
    from difflib import SequenceMatcher

    return SequenceMatcher(None, "".join(pieces), wanted, autojunk=False).ratio() >= 0.8


def _letters_digits(text: str) -> str:
    """The text folded (`_fold`) with only its letters and digits: what two readings of a quote share."""
    return "".join(ch for ch in _fold(text) if ch.isalnum())


def _char_runs(chars: list[int], raw: str) -> list[tuple[int, int]]:
    """Sorted char indices as (first, last) runs; only whitespace between two of them keeps a run going."""
    runs: list[tuple[int, int]] = []
    for index in chars:
        if runs and (index == runs[-1][1] + 1 or not raw[runs[-1][1] + 1:index].strip()):
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    return runs


def _fold(text: str) -> str:
    """Fold one piece of text for matching: NFKC (ligatures), lower case, quotes and dashes unified."""
    return unicodedata.normalize("NFKC", text).translate(_FOLD).lower()


def _page_chars(textpage: pdfium.PdfTextPage) -> tuple[str, list[int]]:
    """The page's characters folded and without whitespace, and for each the index of its source char."""
    chars: list[str] = []
    owners: list[int] = []
    for index in range(textpage.count_chars()):
        code = pdfium_c.FPDFText_GetUnicode(textpage, index)
        if code == 0 or code > 0x10FFFF:
            continue
        for ch in _fold(chr(code)):
            if not ch.isspace():
                chars.append(ch)
                owners.append(index)
    return "".join(chars), owners


def _nearest_span(folded: str, owners: list[int], segment: str, near: int) -> tuple[int, int] | None:
    """(first, last) char indices of `segment` (verbatim page text) on the page, the occurrence nearest
    to character `near` (the page text's offsets follow PDFium's character order)."""
    needle = "".join(_fold(segment).split())
    if not needle:
        return None
    best: tuple[int, int] | None = None
    at = folded.find(needle)
    while at >= 0:
        candidate = (owners[at], owners[at + len(needle) - 1])
        if best is None or abs(candidate[0] - near) < abs(best[0] - near):
            best = candidate
        at = folded.find(needle, at + 1)
    return best


def _match_spans(folded: str, owners: list[int], quote: str) -> list[tuple[int, int]]:
    """Character-index spans (first, last) of the quote on the page.

    The whole quote first (prompt page markers removed); when the model shortened it with '...' or
    it runs over a page break, each long enough piece is looked for on its own.
    """
    pieces = re.split(r"\.{3,}|\u2026|\[\s*\.\.\.\s*\]|(?:<|&lt;)\s*/?\s*(?:page|document)\b[^<>]{0,40}?(?:>|&gt;)",
                      quote, flags=re.IGNORECASE)
    quote = clean_quote(quote)
    needle = "".join(_fold(quote).split())
    if not needle:
        return []
    at = folded.find(needle)
    if at >= 0:
        return [(owners[at], owners[at + len(needle) - 1])]
    span = _match_without_hyphens(folded, owners, needle)
    if span:
        return [span]
    spans = []
    if len(pieces) > 1:
        for piece in pieces:
            sub = "".join(_fold(piece).split())
            if len(sub) >= _MIN_SEGMENT:
                at = folded.find(sub)
                if at >= 0:
                    spans.append((owners[at], owners[at + len(sub) - 1]))
    return spans


def _match_without_hyphens(folded: str, owners: list[int], needle: str) -> tuple[int, int] | None:
    """Match with hyphens dropped on both sides: 'hyphen-ated' on the page vs 'hyphenated' quoted."""
    kept = [i for i, ch in enumerate(folded) if ch != "-"]
    plain = "".join(folded[i] for i in kept)
    target = needle.replace("-", "")
    at = plain.find(target) if target else -1
    if at < 0:
        return None
    return owners[kept[at]], owners[kept[at + len(target) - 1]]


def _span_boxes(textpage: pdfium.PdfTextPage, conv: object, first: int, last: int) -> list[Box]:
    """PDFium's line rectangles for chars first..last, converted to image pixels."""
    boxes: list[Box] = []
    n_rects = textpage.count_rects(first, last - first + 1)
    for i in range(n_rects):
        left, bottom, right, top = textpage.get_rect(i)
        x0, y0 = conv.to_bitmap(left, top)  # type: ignore[attr-defined]
        x1, y1 = conv.to_bitmap(right, bottom)  # type: ignore[attr-defined]
        boxes.append((min(x0, x1) - 1, min(y0, y1) - 1, max(x0, x1) + 1, max(y0, y1) + 1))
    return boxes


def _draw_boxes(image: Image.Image, boxes: list[Box]) -> Image.Image:
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for box in boxes:
        draw.rectangle(box, fill=HIGHLIGHT_FILL, outline=HIGHLIGHT_OUTLINE)
    return Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")
