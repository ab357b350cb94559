"""Offline OCR of scanned pages: rapidocr 3 (PP-OCRv6 models inside the wheel; nothing is downloaded).

Why this engine and these settings (measured in bench/ocr.py, table in bench/ocr.md):
- rapidocr 3 with its bundled PP-OCRv6 small models keeps the spaces between words, where the
  older rapidocr-onnxruntime 1.4 (PP-OCRv4) glued whole lines together ("isissuedby theGovernment").
  It depends on `opencv-python-headless`, so nothing needs `libGL.so.1` (absent on App Service's
  Python images); rapidocr-onnxruntime pulled the GUI `opencv-python`, whose import fails there.
- Text detection runs on the page scaled to 1280 px (recognition reads the lines at full size): the
  same text on the benchmark pages, and detection three times faster.
- The text-direction classifier is off: on upright document pages it flipped some lines by 180
  degrees, which then read as garbage or were dropped under the score limit.
- Model paths are given explicitly (the files in the wheel), so rapidocr never takes its download
  path; `availability()` checks they are there.
- Reading order comes from the box geometry (`layout_text`): text columns are found from the gutter
  between them and read one after the other, so a two-column page no longer interleaves its lines.
- The engine takes ~0.5 s and ~100 MB to load, so it is loaded lazily, once per process, behind a lock.
- OCR is CPU-bound and this process also serves the web UI, so onnxruntime gets OCR_THREADS threads
  (default 1) and only one page is recognised at a time per process (`_RUN_LOCK`). One thread is also
  the fastest choice on a busy 2-core box (onnxruntime's spinning thread pool loses to contention).
- Callers pass one page image at a time and drop it afterwards, so memory stays bounded.
"""
from __future__ import annotations

import os
import statistics
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from policy_reader.reading.tables import Piece, find_tables

#: Fallback when the configuration cannot be read.
DEFAULT_OCR_THREADS = 1
#: The model files rapidocr 3 ships in its wheel (PP-OCRv6 small detection and recognition).
DET_MODEL = "PP-OCRv6_det_small.onnx"
REC_MODEL = "PP-OCRv6_rec_small.onnx"
#: Longest side of the image the text detector sees (pixels).
DET_MAX_SIDE = 1280

_engine: Any = None
_LOAD_LOCK = threading.Lock()
_RUN_LOCK = threading.Lock()


class OcrUnavailable(RuntimeError):
    """OCR cannot run in this process (a library or model file is missing); the message says which."""


@dataclass(frozen=True)
class OcrStatus:
    """Whether OCR can run here, and if not, why (one line, no secret: shown at start-up and on jobs)."""

    available: bool
    engine: str  # "rapidocr 3.10.0 (PP-OCRv6 small, onnxruntime 1.32.0)"
    reason: str = ""

    def describe(self) -> str:
        return f"available ({self.engine})" if self.available else f"unavailable: {self.reason}"


def unavailable_warning(reason: str) -> str:
    """The job warning for pages that needed OCR on a server where OCR cannot run."""
    return (f"OCR is not available on this server ({reason}), so pages without a text layer were not read. "
            "Install the packages in requirements.txt (they use opencv-python-headless, which needs no "
            "libGL), or see `python -m policy_reader config --check`.")


@lru_cache(maxsize=1)
def availability() -> OcrStatus:
    """Import the OCR libraries and find the model files, without loading the models (cached per process).

    This is where a missing `libGL.so.1` (GUI OpenCV), a missing onnxruntime or a model file removed
    from the install shows up: reported once, in one line, instead of a failure on every page.
    """
    try:
        from importlib.metadata import version

        import cv2  # noqa: F401 - the import that fails when OpenCV needs libGL
        import onnxruntime
        import rapidocr
    except Exception as exc:  # noqa: BLE001 - any import failure means the same thing: no OCR here
        return OcrStatus(False, "rapidocr", _first_line(exc))
    missing = [name for name in (DET_MODEL, REC_MODEL) if not (_model_dir(rapidocr) / name).is_file()]
    engine = f"rapidocr {version('rapidocr')} (PP-OCRv6 small, onnxruntime {onnxruntime.__version__})"
    if missing:
        return OcrStatus(False, engine, f"model file(s) missing from the rapidocr install: {', '.join(missing)}")
    return OcrStatus(True, engine)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def _model_dir(module: Any) -> Path:
    return Path(module.__file__).resolve().parent / "models"


class RapidOcr3:
    """rapidocr 3 with the wheel's models, the classifier off and a fixed thread count."""

    def __init__(self, threads: int = DEFAULT_OCR_THREADS) -> None:
        status = availability()
        if not status.available:
            raise OcrUnavailable(status.reason)
        import rapidocr
        from rapidocr import RapidOCR

        models = _model_dir(rapidocr)
        self.label = status.engine.split(" (")[0] + " (PP-OCRv6 small)"
        self._engine = RapidOCR(params={
            "Global.use_cls": False,
            "Global.log_level": "error",
            "Det.model_path": str(models / DET_MODEL),
            "Rec.model_path": str(models / REC_MODEL),
            # detection on the page scaled to <= 1280 px (recognition still reads the full-size lines):
            # the same text on the benchmark pages, detection ~3x faster (bench/ocr.md)
            "Det.limit_type": "max",
            "Det.limit_side_len": DET_MAX_SIDE,
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        })

    def lines(self, image: Any) -> list[OcrLine]:
        """The detected text lines of one image (H x W x 3, BGR, uint8), in the engine's order."""
        result = self._engine(image)
        if result is None or result.txts is None or result.boxes is None:
            return []
        return [OcrLine.from_quad(box, text) for box, text in zip(result.boxes, result.txts)]


def get_engine() -> RapidOcr3:
    """The process-wide engine, created on first use (thread-safe, double-checked)."""
    global _engine
    if _engine is None:
        with _LOAD_LOCK:
            if _engine is None:
                _engine = RapidOcr3(threads=min(_configured_threads(), os.cpu_count() or 1))
    return _engine


def _configured_threads() -> int:
    try:
        from policy_reader.config import get_settings

        return get_settings().ocr_threads
    except Exception:  # noqa: BLE001 - a bad configuration is reported elsewhere; OCR still works
        return DEFAULT_OCR_THREADS


def ocr_image(image: Any) -> str:
    """Recognise the text of one page image (H x W x 3, BGR, uint8): lines in reading order.

    Raises OcrUnavailable when OCR cannot run in this process."""
    engine = get_engine()
    with _RUN_LOCK:
        lines = engine.lines(image)
    return layout_text(lines)


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class OcrLine:
    """One detected text box: its axis-aligned bounds in pixels and its text."""

    x0: float
    y0: float
    x1: float
    y1: float
    text: str

    @classmethod
    def from_quad(cls, quad: Iterable[Sequence[float]], text: str) -> OcrLine:
        points = [(float(p[0]), float(p[1])) for p in quad]
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        return cls(min(xs), min(ys), max(xs), max(ys), str(text).strip())

    @property
    def height(self) -> float:
        return max(1.0, self.y1 - self.y0)

    @property
    def width(self) -> float:
        return max(1.0, self.x1 - self.x0)


def _rows(lines: list[OcrLine]) -> list[list[OcrLine]]:
    """Boxes grouped into visual rows (a box whose vertical centre lies in the row's band joins it)."""
    rows: list[list[OcrLine]] = []
    for line in sorted(lines, key=lambda b: (b.y0, b.x0)):
        centre = (line.y0 + line.y1) / 2
        if rows:
            top = min(b.y0 for b in rows[-1])
            bottom = max(b.y1 for b in rows[-1])
            if top <= centre <= bottom:
                rows[-1].append(line)
                continue
        rows.append([line])
    return [sorted(row, key=lambda b: b.x0) for row in rows]


def join_lines_by_rows(lines: list[OcrLine]) -> str:
    """Every visual row across the whole page, left to right (the reading order before layout_text:
    right for one column, interleaves the lines of two columns). Kept for the benchmark."""
    return "\n".join(" ".join(b.text for b in row if b.text) for row in _rows(lines) if any(b.text for b in row))


def _rows_and_tables(lines: list[OcrLine]) -> str:
    """Visual rows top to bottom, with each table (tables.find_tables, the same rules as the text
    layer's) given as its rows: `label | cell`, a wrapped label's lines joined into its row."""
    tables = find_tables([Piece(b.x0, b.y0, b.x1, b.y1, k) for k, b in enumerate(lines)])
    if not tables:
        return join_lines_by_rows(lines)
    table_of = {key: table for table in tables for key in table.keys}
    index = {id(b): k for k, b in enumerate(lines)}
    out: list[str] = []
    done: set[int] = set()
    for row in _rows(lines):
        plain = [b for b in row if index[id(b)] not in table_of]
        for b in row:
            table = table_of.get(index[id(b)])
            if table is not None and id(table) not in done:
                done.add(id(table))
                out.extend(" | ".join(" ".join(lines[k].text for k in cell) for cell in cells if cell)
                           for cells in table.rows)
        if plain:
            out.append(" ".join(b.text for b in plain))
    return "\n".join(out)


def layout_text(lines: list[OcrLine]) -> str:
    """The page's text in reading order: full-width rows as they come, and between them, each text
    column read top to bottom before the next one.

    A gutter is a vertical strip no box crosses, between two runs of boxes that are each mostly as
    wide as their column (text columns, not a table: a table's short cells keep the row order).
    """
    lines = [b for b in lines if b.text]
    if not lines:
        return ""
    gutter = _find_gutter(lines)
    if gutter is None:
        return _rows_and_tables(lines)
    left_edge, right_edge = gutter
    out: list[str] = []
    band: list[OcrLine] = []

    def flush() -> None:
        if band:
            left = [b for b in band if b.x1 <= right_edge]
            right = [b for b in band if b.x0 >= left_edge and b.x1 > right_edge]
            for column in (left, right):
                if column:
                    out.append(join_lines_by_rows(column))
            band.clear()

    for row in _rows(lines):
        spanning = [b for b in row if b.x0 < left_edge and b.x1 > right_edge]
        if spanning:
            flush()
            out.append(" ".join(b.text for b in row))
        else:
            band.extend(row)
    flush()
    return "\n".join(part for part in out if part)


def _find_gutter(lines: list[OcrLine]) -> tuple[float, float] | None:
    """(x where the gutter starts, x where it ends) of a two-column layout, or None."""
    height = statistics.median(b.height for b in lines)
    x_min, x_max = min(b.x0 for b in lines), max(b.x1 for b in lines)
    width = x_max - x_min
    if width <= 0 or len(lines) < 6:
        return None
    # x ranges covered by boxes, ignoring the few boxes that span both columns (headings)
    step = max(1.0, width / 400)
    bins = int(width / step) + 1
    cover = [0] * bins
    for b in lines:
        for i in range(int((b.x0 - x_min) / step), min(bins, int((b.x1 - x_min) / step) + 1)):
            cover[i] += 1
    allowed = max(2, len(lines) // 5)  # headings, footers and page numbers may cross the gutter
    best: tuple[float, float] | None = None
    i = int(bins * 0.2)
    while i < int(bins * 0.8):
        if cover[i] <= allowed:
            first, j = i, i
            while first > 0 and cover[first - 1] <= allowed:
                first -= 1
            while j < bins and cover[j] <= allowed:
                j += 1
            start, end = x_min + first * step, x_min + j * step
            if end - start >= max(1.5 * height, 0.02 * width) and (best is None or end - start > best[1] - best[0]):
                best = (start, end)
            i = j
        i += 1
    if best is None:
        return None
    left = [b for b in lines if b.x1 <= best[1]]
    right = [b for b in lines if b.x0 >= best[0]]
    if len(left) < 3 or len(right) < 3:
        return None
    for side, side_width in ((left, best[0] - x_min), (right, x_max - best[1])):
        typical = statistics.median(b.width for b in side)
        if typical < 0.6 * side_width or typical < 0.25 * width:
            return None  # short cells: a table, read row by row
    return best
