"""Read the text of a PDF, page by page, with precise errors.

pypdfium2 (PDFium) is the reader: about 20x faster than pypdf and tolerant of odd files. pypdf is
only the fallback: when PDFium cannot open a file (or one page) at all, or the file uses an
encryption scheme PDFium does not support. Pages without a text layer (scans) are rendered one at a
time and read by offline OCR (`ocr.py`), so memory stays bounded on long scanned documents.

PDFium is not thread-safe (not even across different documents), and documents are read in
parallel threads by the job runner, so every PDFium call in the product runs under `PDFIUM_LOCK`.
The lock is taken per page, never across OCR, so one long scan does not block other documents.

Time limit: the deadline is checked before each page and before each OCR call. A single C-level
call (one PDFium page parse, one OCR inference) cannot be interrupted from Python, so a pathological
page can overrun the limit by the duration of that one call.
"""
from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from policy_reader.config import Settings
from policy_reader.errors import PdfError
from policy_reader.models import DocumentText, PageText
from policy_reader.reading.page_labels import with_printed_numbers
from policy_reader.reading.page_layout import normalise as _normalise
from policy_reader.reading.page_layout import page_layout
from policy_reader.untrusted import strip_invisible

ProgressFn = Callable[[str, int, int], None]

#: Serialises every call into PDFium in this process (PDFium is not thread-safe).
#: Part of the answer cache key: a document read by other rules (tables as rows since version 2) is asked
#: again, since the model saw different text.
READING_VERSION = "2"
PDFIUM_LOCK = threading.RLock()

#: A page with fewer visible characters than this has no real text layer (a scan) and is OCR'd.
MIN_TEXT_CHARS = 20
#: Longest side of the image handed to OCR, in pixels (about 170 dpi on A4; rapidocr's own limit is 2000).
OCR_TARGET_PX = 2000
OCR_MAX_PIXELS = 8_000_000  # a page image for OCR is never bigger, whatever size the page claims


def capped_scale(width_pt: float, height_pt: float, scale: float, max_pixels: float) -> float:
    """`scale` reduced so that a page of width x height points draws into at most `max_pixels` pixels
    and no side longer than 20,000 pixels: a page may claim to be 200 inches wide, the bitmap may not."""
    width_pt, height_pt = max(float(width_pt), 1.0), max(float(height_pt), 1.0)
    by_area = (max_pixels / (width_pt * height_pt)) ** 0.5
    by_side = 20_000 / max(width_pt, height_pt)
    return max(0.001, min(float(scale), by_area, by_side))

_HEADER_BYTES = 1024
# pypdf reports every repair of a broken file as a logged warning; its errors reach us as exceptions.
logging.getLogger("pypdf").setLevel(logging.ERROR)
_MB = 1024 * 1024

_DENSE = re.compile(r"(?:\S\s*){%d}" % MIN_TEXT_CHARS)


# --------------------------------------------------------------------------- public API


def read_pdf(path: Path, *, password: str | None = None, ocr: bool = True, max_file_mb: float = 100,
             max_pages: int = 2000, timeout_s: float = 600,
             on_progress: ProgressFn | None = None) -> DocumentText:
    """Text of every page (1-based numbers), OCR for scanned pages, or a PdfError saying what is wrong.

    on_progress(stage, pages_done, pages_total) is called after every page ("reading" or "ocr")
    and just before each OCR ("ocr"); an exception it raises (e.g. a cancellation) propagates.
    """
    deadline = time.monotonic() + timeout_s
    path = Path(path)
    _check_file(path, max_file_mb)
    sha = _sha256(path)
    ctx = _Context(path=path, password=password, ocr=ocr, max_pages=max_pages, timeout_s=timeout_s,
                   deadline=deadline, on_progress=on_progress)
    doc = _open_pdfium(path, password)
    if doc is None:  # PDFium cannot parse the file at all: try pypdf before calling it corrupt
        pages, title = _read_with_pypdf(ctx)
        ctx.warnings.insert(0, "This PDF is damaged; its text was recovered with a fallback reader "
                               "and may be incomplete.")
    else:
        try:
            pages, title = _read_with_pdfium(doc, ctx)
        finally:
            with PDFIUM_LOCK:
                doc.close()
    return _finish(pages, title, sha, ctx)


def read_pdf_for(path: Path, settings: Settings, *, password: str | None = None,
                 on_progress: ProgressFn | None = None, ocr: bool | None = None) -> DocumentText:
    """read_pdf with the limits from the configuration; `ocr` (a job option) overrides OCR_ENABLED."""
    return read_pdf(path, password=password, ocr=settings.ocr_enabled if ocr is None else ocr,
                    max_file_mb=settings.max_file_mb, max_pages=settings.max_pages,
                    timeout_s=settings.file_timeout_s, on_progress=on_progress)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                     *(f"lpt{i}" for i in range(1, 10))}
_MAX_STEM = 100


def sanitize_filename(name: str) -> str:
    """A safe stored name for an uploaded file: ASCII letters, digits, '.', '_' and '-', no path,
    no leading dot, at most ~100 characters, always ending in '.pdf'.

    Upload names are untrusted (they can carry '../', absolute paths, control characters or
    thousands of characters). Callers keep the original name for display only.
    """
    name = strip_invisible(name)
    name = re.split(r"[\\/]", name)[-1]  # last path component, whatever the separator
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    stem = re.sub(r"\.pdf$", "", name.strip(), flags=re.IGNORECASE)
    stem = _UNSAFE.sub("_", stem)
    stem = re.sub(r"\.{2,}", ".", stem)
    stem = re.sub(r"_{2,}", "_", stem).strip("._- ")
    stem = stem[:_MAX_STEM].rstrip("._- ")
    if not stem:
        stem = "document"
    if stem.split(".")[0].lower() in _WINDOWS_RESERVED:
        stem = f"{stem}_"
    return f"{stem}.pdf"


# --------------------------------------------------------------------------- file checks


def _check_file(path: Path, max_file_mb: float) -> None:
    """Cheap checks before parsing: exists, not empty, not too large, really a PDF."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise PdfError("The file could not be found (it may have been deleted).", code="unreadable") from None
    except OSError as exc:
        raise PdfError(f"The file could not be opened ({exc.strerror}).", code="unreadable") from None
    if size == 0:
        raise PdfError("This file is empty (0 bytes). The upload may have failed; please upload it again.",
                       code="empty")
    if size > max_file_mb * _MB:
        raise PdfError(f"This file is {size / _MB:.1f} MB; the limit is {max_file_mb:g} MB (MAX_FILE_MB). "
                       "Split it or compress it, or ask the operator to raise the limit.", code="too_large")
    with open(path, "rb") as fh:
        head = fh.read(_HEADER_BYTES)
    if b"%PDF" not in head:
        raise PdfError(f"This file is not a PDF ({_describe_non_pdf(head)}). Upload the PDF itself, "
                       "or save/export the document as PDF first.", code="not_pdf")


_SIGNATURES: list[tuple[bytes, str]] = [
    (b"PK\x03\x04", "a ZIP/Office file (.docx, .xlsx, .pptx or .zip)"),
    (b"PK\x05\x06", "an empty ZIP file"),
    (b"\xd0\xcf\x11\xe0", "an old Microsoft Office file (.doc, .xls or .ppt)"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"{\\rtf", "an RTF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
]


def _describe_non_pdf(head: bytes) -> str:
    """'it starts with 'PK', which looks like a ZIP/Office file' — what the first bytes suggest."""
    shown = _printable_prefix(head)
    start = f"it starts with {shown!r}" if shown else "it starts with binary data"
    for magic, kind in _SIGNATURES:
        if head.startswith(magic):
            return f"{start}, which looks like {kind}"
    lowered = head.lstrip().lower()
    if lowered.startswith((b"<!doctype html", b"<html")):
        return f"{start}, which looks like a web page (HTML)"
    if lowered.startswith(b"<?xml"):
        return f"{start}, which looks like an XML file"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"{start}, which is not a format this app reads"
    if all(ch.isprintable() or ch in "\r\n\t" for ch in text):
        return f"{start}, which looks like plain text"
    return f"{start}, which is not a format this app reads"


def _printable_prefix(head: bytes, limit: int = 12) -> str:
    out = []
    for byte in head[:limit]:
        if 32 <= byte < 127:
            out.append(chr(byte))
        else:
            break
    return "".join(out).strip()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_MB), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- opening


def _open_pdfium(path: Path, password: str | None) -> pdfium.PdfDocument | None:
    """Open with PDFium. Returns None when PDFium cannot parse the file (the caller tries pypdf)."""
    try:
        with PDFIUM_LOCK:
            return pdfium.PdfDocument(path, password=password or None)
    except pdfium.PdfiumError as exc:
        code = getattr(exc, "err_code", None)
        if code == pdfium_c.FPDF_ERR_PASSWORD:
            raise _password_error(password) from None
        if code == pdfium_c.FPDF_ERR_SECURITY:  # not the standard password handler: pypdf cannot either
            raise PdfError("This PDF is protected with a security scheme this app cannot open (e.g. "
                           "certificate or DRM protection). Remove the protection and upload it again.",
                           code="encrypted") from None
        if code == pdfium_c.FPDF_ERR_FILE:
            raise PdfError("The file could not be opened (file access error).", code="unreadable") from None
        return None


def open_document(path: Path, password: str | None = None) -> pdfium.PdfDocument:
    """Open a PDF with PDFium for rendering (used by page_image.py); PdfError when it cannot.

    Call under PDFIUM_LOCK and close the document under it too.
    """
    path = Path(path)
    _check_file(path, max_file_mb=float("inf"))
    doc = _open_pdfium(path, password)
    if doc is None:
        raise _corrupt_error(path)
    return doc


def _password_error(password: str | None) -> PdfError:
    if password:
        return PdfError("The password given for this PDF is wrong. Check it and try again.",
                        code="wrong_password")
    return PdfError("This PDF is encrypted and needs a password to be opened. Give the password with the "
                    "job (in the app: Options > Password for encrypted PDFs; on the command line: --password), "
                    "or remove the protection and upload it again.", code="encrypted")


def _corrupt_error(path: Path) -> PdfError:
    if _looks_truncated(path):
        return PdfError("This PDF is damaged: it looks truncated (incomplete), as if a download or upload "
                        "was interrupted. Get a complete copy and upload it again.", code="corrupt")
    return PdfError("This PDF is damaged and could not be read by either PDF reader. Try re-saving it "
                    "(e.g. print to PDF) and upload it again.", code="corrupt")


def _looks_truncated(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - _HEADER_BYTES))
        tail = fh.read()
    return b"%%EOF" not in tail


# --------------------------------------------------------------------------- page loop


@dataclass
class _Context:
    path: Path
    password: str | None
    ocr: bool
    max_pages: int
    timeout_s: float
    deadline: float
    on_progress: ProgressFn | None
    total: int = 0
    warnings: list[str] = field(default_factory=list)
    ocr_pages: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    fallback_pages: list[int] = field(default_factory=list)
    not_ocrd: list[int] = field(default_factory=list)
    ocr_failed: list[int] = field(default_factory=list)
    #: pages that needed OCR on a server where OCR cannot run, and why (ocr.availability())
    ocr_unavailable: list[int] = field(default_factory=list)
    ocr_unavailable_reason: str = ""
    _pypdf: Any = None

    def check_deadline(self, number: int) -> None:
        if time.monotonic() > self.deadline:
            raise PdfError(f"Reading this PDF took longer than the limit of {self.timeout_s:g} s (stopped at "
                           f"page {number} of {self.total}). Split the file, turn OCR off if it is not "
                           "needed, or ask the operator to raise FILE_TIMEOUT_S.", code="timeout")

    def progress(self, stage: str, done: int) -> None:
        if self.on_progress is not None:
            self.on_progress(stage, done, self.total)

    def check_page_count(self, count: int) -> None:
        self.total = count
        if count > self.max_pages:
            raise PdfError(f"This PDF has {count} pages; the limit is {self.max_pages} (MAX_PAGES). "
                           "Split it into smaller files.", code="too_many_pages")


def _read_with_pdfium(doc: pdfium.PdfDocument, ctx: _Context) -> tuple[list[PageText], str]:
    with PDFIUM_LOCK:
        count = len(doc)
        title = _pdfium_title(doc)
    ctx.check_page_count(count)
    labelled = _has_page_labels(doc, count)
    pages: list[PageText] = []
    lock = _BatchedLock(PDFIUM_LOCK, LOCK_BATCH_PAGES)
    try:
        for index in range(count):
            number = index + 1
            ctx.check_deadline(number)
            lock.enter_page()
            try:
                text, image = _pdfium_page(doc, index, render=ctx.ocr)
            except Exception:  # noqa: BLE001 - any PDFium failure on one page: try pypdf for that page
                page = _pypdf_page(ctx, index)
                if page is None:
                    ctx.skipped.append(number)
                    ctx.progress("reading", number)
                    continue
                ctx.fallback_pages.append(number)
                text, image = page, None
            stage = "reading"
            if _sparse(text):
                if image is not None:
                    lock.release()  # OCR takes seconds: never hold PDFium from the other documents
                    text, stage = _ocr_page(ctx, number, text, image)
                    image = None  # release the page image before the next page
                elif not ctx.ocr:
                    ctx.not_ocrd.append(number)
            # model_construct: the values are built right here; validation would cost ~10 % of a text page
            pages.append(PageText.model_construct(number=number, text=text, ocr=stage == "ocr",
                                                  label=_pdfium_label(doc, index) if labelled else None))
            ctx.progress(stage, number)
    finally:
        lock.release()
    return pages, title


#: Pages read per turn at the PDFium lock. Per-page turns let 16 documents in flight interleave
#: page by page, so none finishes reading (and none can ask the model) until all are nearly
#: read; a turn of a few dozen pages lets a small document finish in one go (~10 ms) while a
#: 300-page report still lets the others in between its turns.
LOCK_BATCH_PAGES = 32


class _BatchedLock:
    """Holds a (re-entrant) lock across up to `batch` pages, then lets other threads have a turn."""

    def __init__(self, lock: Any, batch: int) -> None:
        self._lock, self._batch, self._held, self._pages = lock, batch, False, 0

    def enter_page(self) -> None:
        if self._held and self._pages >= self._batch:
            self.release()
            time.sleep(0)  # hand the turn over: a released lock is otherwise re-taken at once
        if not self._held:
            self._lock.acquire()
            self._held, self._pages = True, 0
        self._pages += 1

    def release(self) -> None:
        if self._held:
            self._held = False
            self._lock.release()


def _pdfium_page(doc: pdfium.PdfDocument, index: int, *, render: bool) -> tuple[str, Any]:
    """Text of one page and, when it has (almost) no text and `render`, its image for OCR.

    Everything PDFium allocated for the page is closed before returning, under the lock.
    """
    with PDFIUM_LOCK:
        page = doc[index]
        try:
            textpage = page.get_textpage()
            try:
                text = page_text(textpage)
            finally:
                textpage.close()
            image = None
            if render and _sparse(text) and _worth_ocr(page, text):
                image = render_for_ocr(page)
            return text, image
        finally:
            page.close()


def page_text(textpage: pdfium.PdfTextPage) -> str:
    """A page's text exactly as read_pdf stores it (answer spans are offsets into this text)."""
    return page_layout(textpage).text


def _worth_ocr(page: pdfium.PdfPage, text: str) -> bool:
    """OCR only what can hold unread text: a page with an image (a scan), or a page with no text
    at all but some drawing (e.g. outlined lettering). A short born-digital page ("Annex 2") or a
    blank page is not rendered, which keeps OCR's cost where it pays."""
    if pdfium_c.FPDFPage_CountObjects(page) <= 0:
        return False
    for _ in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=4):
        return True
    return _visible(text) == 0


def render_for_ocr(page: pdfium.PdfPage) -> Any:
    """A BGR numpy copy of the page at ~170 dpi (what the OCR engine sees); the PDFium bitmap is freed at once."""
    import numpy as np

    width, height = page.get_size()
    scale = capped_scale(width, height, min(4.0, OCR_TARGET_PX / max(width, height, 1.0)), OCR_MAX_PIXELS)
    bitmap = page.render(scale=scale, grayscale=False)
    try:
        return np.array(bitmap.to_numpy(), copy=True)
    finally:
        bitmap.close()


def _ocr_page(ctx: _Context, number: int, text: str, image: Any) -> tuple[str, str]:
    """OCR one page image; keep the text layer when OCR finds no more than it.

    OCR that cannot run here at all (a missing library: ocr.availability()) is recorded once per
    page and reported as one warning, never as a failure per page."""
    from policy_reader.reading.ocr import OcrUnavailable, availability, ocr_image

    ctx.check_deadline(number)
    status = availability()
    if not status.available:
        ctx.ocr_unavailable.append(number)
        ctx.ocr_unavailable_reason = status.reason
        return text, "reading"
    ctx.progress("ocr", number - 1)
    try:
        found = _normalise(ocr_image(image))
    except OcrUnavailable as exc:
        ctx.ocr_unavailable.append(number)
        ctx.ocr_unavailable_reason = str(exc)
        return text, "reading"
    except Exception:  # noqa: BLE001 - a failing OCR costs that page only
        ctx.ocr_failed.append(number)
        return text, "reading"
    if _visible(found) > _visible(text):
        ctx.ocr_pages.append(number)
        return found, "ocr"
    return text, "reading"


def _has_page_labels(doc: pdfium.PdfDocument, count: int) -> bool:
    """Whether the PDF has /PageLabels: its number tree covers the first page (the spec) or at least the
    last (a tree starting later); asked once per document instead of once a page."""
    with PDFIUM_LOCK:
        return any(pdfium_c.FPDF_GetPageLabel(doc.raw, index, None, 0) > 0 for index in {0, count - 1} if index >= 0)


def _pdfium_label(doc: pdfium.PdfDocument, index: int) -> str | None:
    """The page's label from the PDF's /PageLabels ("98", "iv", "A-3"), None when it has none."""
    try:
        with PDFIUM_LOCK:
            label = doc.get_page_label(index)
    except Exception:  # noqa: BLE001 - a broken number tree costs the label only
        return None
    label = " ".join(_normalise(label or "").split())[:32]
    return label or None


def _pdfium_title(doc: pdfium.PdfDocument) -> str:
    try:
        return _normalise(doc.get_metadata_value("Title")).strip()
    except Exception:  # noqa: BLE001 - a broken info dictionary is not worth failing for
        return ""


# --------------------------------------------------------------------------- pypdf fallback


def _pypdf_reader(ctx: _Context) -> Any:
    """The pypdf reader for this file (opened once, decrypted when needed); PdfError when it cannot."""
    if ctx._pypdf is None:
        import pypdf

        try:
            reader = pypdf.PdfReader(ctx.path, strict=False)
            if reader.is_encrypted and reader.decrypt(ctx.password or "") == 0:
                raise _password_error(ctx.password)
            ctx._pypdf = reader
        except PdfError:
            raise
        except Exception:  # noqa: BLE001 - pypdf raises many types for broken files
            raise _corrupt_error(ctx.path) from None
    return ctx._pypdf


def _pypdf_page(ctx: _Context, index: int) -> str | None:
    try:
        return _normalise(_pypdf_reader(ctx).pages[index].extract_text() or "")
    except Exception:  # noqa: BLE001 - this page is lost; the caller records it as skipped
        return None


def _read_with_pypdf(ctx: _Context) -> tuple[list[PageText], str]:
    """Whole-file fallback when PDFium cannot open the file: text layers only (no OCR)."""
    reader = _pypdf_reader(ctx)
    try:
        count = len(reader.pages)
    except Exception:  # noqa: BLE001
        raise _corrupt_error(ctx.path) from None
    ctx.check_page_count(count)
    pages = []
    for index in range(count):
        number = index + 1
        ctx.check_deadline(number)
        text = _pypdf_page(ctx, index)
        if text is None:
            ctx.skipped.append(number)
        else:
            pages.append(PageText(number=number, text=text))
            if _sparse(text):
                ctx.not_ocrd.append(number)
        ctx.progress("reading", number)
    if not pages:
        raise _corrupt_error(ctx.path)
    try:
        title = _normalise(str((reader.metadata or {}).get("/Title") or "")).strip()
    except Exception:  # noqa: BLE001
        title = ""
    return pages, title


# --------------------------------------------------------------------------- result


def _finish(pages: list[PageText], title: str, sha: str, ctx: _Context) -> DocumentText:
    """Check that some text was found and turn what happened on the way into warnings."""
    if not pages:
        raise PdfError(f"None of the {ctx.total} pages of this PDF could be read; the file is damaged.",
                       code="corrupt")
    if all(not p.text.strip() for p in pages) or len(ctx.not_ocrd) == len(pages):
        raise _no_text_error(ctx, len(pages))
    return DocumentText(pages=with_printed_numbers(pages), page_count=ctx.total, sha256=sha, title=title,
                        warnings=ctx.warnings + _warnings(ctx, pages), ocr_unavailable=bool(ctx.ocr_unavailable))


def _no_text_error(ctx: _Context, n_pages: int) -> PdfError:
    if ctx.ocr_unavailable:
        return PdfError("This PDF has no text layer (it looks like a scan) and OCR is not available on this "
                        f"server ({ctx.ocr_unavailable_reason}). Ask the operator to check "
                        "`python -m policy_reader config --check`.", code="ocr_unavailable")
    if ctx.not_ocrd and not ctx.ocr:
        return PdfError("This PDF has no text layer (it looks like a scan) and OCR is turned off. "
                        "Turn OCR on (the job's OCR option or OCR_ENABLED=true) to read it.", code="no_text")
    if ctx.not_ocrd:  # pypdf fallback: nothing to render
        return PdfError("This PDF has no readable text and is too damaged to be OCR'd. Try re-saving it "
                        "(e.g. print to PDF) and upload it again.", code="no_text")
    return PdfError(f"No text could be found in this PDF, even with OCR: its {n_pages} page(s) look blank "
                    "or the scan is unreadable.", code="no_text")


def _warnings(ctx: _Context, pages: list[PageText]) -> list[str]:
    out = []
    if ctx.ocr_pages:
        out.append(f"{_pages_phrase(ctx.ocr_pages)} read by OCR (recognition errors are possible).")
    if ctx.fallback_pages:
        out.append(f"{_pages_phrase(ctx.fallback_pages)} read with the fallback reader (pypdf).")
    if ctx.skipped:
        out.append(f"{_pages_phrase(ctx.skipped)} could not be read and {_was(ctx.skipped)} skipped.")
    if ctx.ocr_failed:
        out.append(f"OCR failed on {_pages_phrase(ctx.ocr_failed, verb=False).lower()}.")
    if ctx.ocr_unavailable:
        out.append(f"{_pages_phrase(ctx.ocr_unavailable, verb=False)} {_has(ctx.ocr_unavailable)} no text layer "
                   f"and {_was(ctx.ocr_unavailable)} not read: OCR is not available on this server "
                   f"({ctx.ocr_unavailable_reason}).")
    if ctx.not_ocrd:
        phrase = _pages_phrase(ctx.not_ocrd, verb=False)
        if ctx.ocr:  # pypdf fallback: PDFium could not render them
            out.append(f"{phrase} {_has(ctx.not_ocrd)} (almost) no text and could not be OCR'd.")
        else:
            out.append(f"{phrase} {_has(ctx.not_ocrd)} no text layer and {_was(ctx.not_ocrd)} not read "
                       "because OCR is off.")
    elif ctx.ocr:
        empty = [p.number for p in pages if not p.ocr and _visible(p.text) == 0]
        if empty and len(empty) < len(pages):
            out.append(f"{_pages_phrase(empty, verb=False)} {_has(empty)} no readable text.")
    return out


def _has(numbers: list[int]) -> str:
    return "has" if len(numbers) == 1 else "have"


def _was(numbers: list[int]) -> str:
    return "was" if len(numbers) == 1 else "were"


def _pages_phrase(numbers: list[int], *, verb: bool = True) -> str:
    """[3] -> 'page 3 was', [3, 4, 5, 9] -> 'pages 3-5, 9 were' (verb=False drops the verb)."""
    numbers = sorted(set(numbers))
    runs: list[str] = []
    start = prev = numbers[0]
    for n in numbers[1:] + [None]:  # type: ignore[list-item]
        if n is not None and n == prev + 1:
            prev = n
            continue
        runs.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    single = len(numbers) == 1
    phrase = f"{'Page' if single else 'Pages'} {', '.join(runs)}"
    return f"{phrase} {'was' if single else 'were'}" if verb else phrase


# --------------------------------------------------------------------------- text helpers


def _sparse(text: str) -> bool:
    """True when the page has fewer than MIN_TEXT_CHARS visible characters (no real text layer).

    Looks at the first words only, so a dense page costs next to nothing.
    """
    return _DENSE.search(text) is None


def _visible(text: str) -> int:
    """Number of non-whitespace characters."""
    return sum(len(w) for w in text.split())
