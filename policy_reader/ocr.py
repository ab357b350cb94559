"""Offline OCR of scanned pages with rapidocr (ONNX models ship inside the wheel; nothing is downloaded).

Why the care here:
- The engine takes ~0.5 s and ~100 MB to load, so it is loaded lazily, once per process, behind a lock.
- OCR is CPU-bound and this process also serves the web UI, so onnxruntime gets OCR_THREADS threads
  (default 1) and only one page is recognised at a time per process (`_RUN_LOCK`); other documents
  keep reading their text layers meanwhile. One thread is also the fastest choice on a busy 2-core
  box: onnxruntime's spinning thread pool loses badly to contention (measured 1.3 s vs 2.5 s a page).
- Callers pass one page image at a time and drop it afterwards, so memory stays bounded whatever the
  length of the document.
"""
from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

#: Fallback when the configuration cannot be read.
DEFAULT_OCR_THREADS = 1

_engine: Any = None
_LOAD_LOCK = threading.Lock()
_RUN_LOCK = threading.Lock()


def get_engine() -> Any:
    """The process-wide rapidocr engine, created on first use (thread-safe, double-checked)."""
    global _engine
    if _engine is None:
        with _LOAD_LOCK:
            if _engine is None:
                from rapidocr_onnxruntime import RapidOCR

                threads = min(_configured_threads(), os.cpu_count() or 1)
                _engine = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1,
                                   print_verbose=False)
    return _engine


def _configured_threads() -> int:
    try:
        from .config import get_settings

        return get_settings().ocr_threads
    except Exception:  # noqa: BLE001 - a bad configuration is reported elsewhere; OCR still works
        return DEFAULT_OCR_THREADS


def ocr_image(image: np.ndarray) -> str:
    """Recognise the text in one page image (H x W x 3, BGR, uint8) and return it as lines.

    Boxes come back top-to-bottom; boxes on the same visual line are joined with a space so
    that a table row or a line broken by the detector reads as one line.
    """
    engine = get_engine()
    with _RUN_LOCK:
        result, _elapsed = engine(image)
    if not result:
        return ""
    return _join_lines(result)


def _join_lines(result: list[list[Any]]) -> str:
    """Group detector boxes into lines by vertical overlap and join their texts."""
    items = []
    for box, text, _score in (r[:3] for r in result):
        ys = [float(p[1]) for p in box]
        xs = [float(p[0]) for p in box]
        items.append((min(ys), max(ys), min(xs), str(text).strip()))
    items.sort(key=lambda it: (it[0], it[2]))
    lines: list[list[tuple[float, float, float, str]]] = []
    for item in items:
        if lines:
            top, bottom = lines[-1][0][0], lines[-1][0][1]
            centre = (item[0] + item[1]) / 2
            if top <= centre <= bottom:
                lines[-1].append(item)
                continue
        lines.append([item])
    out = []
    for line in lines:
        words = [it[3] for it in sorted(line, key=lambda it: it[2]) if it[3]]
        if words:
            out.append(" ".join(words))
    return "\n".join(out)
