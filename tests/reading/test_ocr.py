"""The OCR engine: reading order from box geometry, availability, and OCR where App Service runs it
(no libGL, no GUI OpenCV, no model download)."""
from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from policy_reader.reading.ocr import OcrLine, get_engine, layout_text
from tests.pdf_factory import make_image_only_pdf, make_text_pdf

ROOT = Path(__file__).resolve().parents[2]


def _box(x0: float, y0: float, x1: float, y1: float, text: str) -> OcrLine:
    return OcrLine.from_quad([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], text)


# --------------------------------------------------------------------------- reading order


def test_boxes_on_one_visual_line_are_joined_left_to_right() -> None:
    boxes = [_box(300, 102, 500, 130, "45 percent"), _box(10, 100, 280, 128, "Emission target"),
             _box(10, 160, 400, 190, "by 2030")]
    assert layout_text(boxes) == "Emission target 45 percent\nby 2030"


def test_two_columns_are_read_column_by_column_under_a_full_width_heading() -> None:
    heading = _box(100, 40, 1300, 80, "National Climate Policy")
    left = [_box(100, 120 + 40 * i, 650, 150 + 40 * i, f"left {i}") for i in range(6)]
    right = [_box(760, 121 + 40 * i, 1300, 151 + 40 * i, f"right {i}") for i in range(6)]
    footer = _box(100, 500, 1300, 530, "Page 3 of the policy, printed in full width")
    text = layout_text([*right, footer, *left, heading])
    assert text.splitlines() == (["National Climate Policy"] + [f"left {i}" for i in range(6)]
                                 + [f"right {i}" for i in range(6)] + ["Page 3 of the policy, printed in full width"])


def test_a_table_keeps_its_rows() -> None:
    """Short cells with a wide gap are a table, not two text columns: read row by row, cells apart."""
    rows = [_box(100, 100 + 40 * i, 260, 130 + 40 * i, f"Sector {i}") for i in range(6)]
    cells = [_box(1000, 100 + 40 * i, 1100, 130 + 40 * i, f"{10 * i} %") for i in range(6)]
    assert layout_text(rows + cells).splitlines() == [f"Sector {i} | {10 * i} %" for i in range(6)]


def test_a_wrapped_table_label_is_joined_into_its_row() -> None:
    """A label over two lines, its value on the first: the second line belongs to the row, not
    to a row of its own between the values (issue 28)."""
    intro = _box(100, 20, 1300, 50, "Wind energy facilities shall meet the following setbacks.")
    boxes = [intro,
             _box(100, 100, 400, 130, "Area of 10 or more"), _box(600, 100, 720, 130, "300 feet"),
             _box(100, 135, 330, 165, "acres (surface)"),
             _box(100, 190, 300, 220, "Residences"), _box(600, 190, 740, 220, "1,000 feet"),
             _box(100, 225, 290, 255, "(irrigation)"),
             _box(100, 280, 300, 310, "Public roads"), _box(600, 280, 720, 310, "500 feet")]
    assert layout_text(boxes[::-1]).splitlines() == [
        "Wind energy facilities shall meet the following setbacks.",
        "Area of 10 or more acres (surface) | 300 feet",
        "Residences (irrigation) | 1,000 feet",
        "Public roads | 500 feet"]


def test_a_scanned_table_is_read_row_by_row(tmp_path: Path) -> None:
    """The table fixture scanned (no text layer): OCR gives the same rows as the text layer."""
    from policy_reader.reading.pdf_text import read_pdf
    from tests.pdf_factory import SETBACK_ROWS, make_scanned_copy, make_table_pdf

    scan = make_scanned_copy(make_table_pdf(tmp_path / "table.pdf"), tmp_path / "scan.pdf")
    doc = read_pdf(scan)
    assert doc.ocr_pages == [1]
    lines = [" ".join(line.split()).casefold() for line in doc.pages[0].text.splitlines()]
    for label, value in SETBACK_ROWS:
        assert f"{label} | {value}".casefold() in lines, lines


# --------------------------------------------------------------------------- the engine


def test_ocr_engine_is_loaded_once_for_all_threads() -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        engines = list(pool.map(lambda _: get_engine(), range(8)))
    assert all(engine is engines[0] for engine in engines)


def test_the_gui_opencv_build_is_not_installed() -> None:
    """opencv-python needs libGL.so.1 (absent on App Service); only the headless build may be there:
    two builds would also overwrite each other's cv2 package."""
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution("opencv-python")
    assert importlib.metadata.distribution("opencv-python-headless")
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution("rapidocr-onnxruntime")


def test_ocr_never_takes_the_model_download_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The models come from the wheel: a fresh engine OCRs a page with rapidocr's downloader disabled."""
    from rapidocr.utils import download_file

    from policy_reader.reading.ocr import RapidOcr3

    def refuse(*_args, **_kwargs):
        raise AssertionError("rapidocr tried to download a model")

    monkeypatch.setattr(download_file.DownloadFile, "run", classmethod(refuse))
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (900, 120), "white")
    ImageDraw.Draw(image).text((20, 30), "Forest cover 30 percent", fill="black",
                               font=ImageFont.load_default(size=48))
    lines = RapidOcr3(threads=1).lines(np.asarray(image)[:, :, ::-1].copy())
    assert "forest cover 30 percent" in " ".join(line.text for line in lines).casefold()


# --------------------------------------------------------------------------- App Service conditions


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "LD_PRELOAD", "PYTHONPATH")}
    env.update(extra)
    return env


def test_ocr_reads_a_scan_in_a_process_where_libgl_cannot_be_loaded(tmp_path: Path) -> None:
    """App Service's Python images have no libGL.so.1. Here loading it fails for the whole child
    process (a broken libGL.so.1 comes first on the library path): the child proves that, then reads
    a scanned PDF with OCR."""
    libs = tmp_path / "libs"
    libs.mkdir()
    (libs / "libGL.so.1").write_bytes(b"not a shared object")
    scan = make_image_only_pdf(tmp_path / "scan.pdf", ["Climate Adaptation Act 2021",
                                                       "Emission target 45 percent by 2030"])
    child = (
        "import ctypes, json, sys\n"
        "try:\n"
        "    ctypes.CDLL('libGL.so.1'); libgl = 'loaded'\n"
        "except OSError as exc:\n"
        "    libgl = str(exc)\n"
        "from policy_reader.reading.ocr import availability\n"
        "from policy_reader.reading.pdf_text import read_pdf\n"
        "doc = read_pdf(sys.argv[1])\n"
        "print(json.dumps({'libgl': libgl, 'ocr': availability().describe(), 'pages': doc.ocr_pages,\n"
        "                  'text': doc.pages[0].text, 'warnings': doc.warnings}))\n"
    )
    out = subprocess.run([sys.executable, "-c", child, str(scan)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, env=_env(LD_LIBRARY_PATH=str(libs)))
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["libgl"] != "loaded" and "libGL.so.1" in got["libgl"]
    assert got["ocr"].startswith("available")
    assert got["pages"] == [1]
    assert "climate adaptation act 2021" in got["text"].casefold()
    assert "emission target 45 percent by 2030" in got["text"].casefold()


def test_unavailable_ocr_is_one_clear_job_warning_and_config_check_says_why(tmp_path: Path) -> None:
    """With OCR unable to load (OpenCV's import failing on libGL, as the GUI build does on App
    Service), a job over two scans and a text PDF completes: the text PDF is read, each scan fails
    with the reason, and the job carries ONE warning saying OCR is unavailable and why."""
    stub = tmp_path / "stub"
    stub.mkdir()
    (stub / "cv2.py").write_text(
        "raise ImportError('libGL.so.1: cannot open shared object file: No such file or directory')\n")
    pdfs = [make_image_only_pdf(tmp_path / "scan-a.pdf", ["Water Act 2019"]),
            make_image_only_pdf(tmp_path / "scan-b.pdf", ["Forest Act 2020"]),
            make_text_pdf(tmp_path / "text.pdf", ["The Energy Policy was adopted in 2018."])]
    variables = tmp_path / "vars.csv"
    variables.write_text("name,question,type\nyear_adopted,In which year was the policy adopted?,year\n")
    env = _env(PYTHONPATH=str(stub), JOBS_DIR=str(tmp_path / "jobs"), LLM_BACKEND="offline")

    check = subprocess.run([sys.executable, "-m", "policy_reader", "config", "--check"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120, env=env)
    assert check.returncode == 0, check.stderr
    assert "ocr: on, unavailable: ImportError: libGL.so.1" in check.stdout
    assert "warning: OCR is unavailable (ImportError: libGL.so.1" in check.stderr

    out = tmp_path / "out.json"
    run = subprocess.run([sys.executable, "-m", "policy_reader", "extract", *map(str, pdfs), "--variables",
                          str(variables), "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    warnings = [line for line in run.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "OCR is not available on this server (ImportError: libGL.so.1" in warnings[0]
    docs = {d["file"]: d for d in json.loads(out.read_text())["documents"]}
    assert docs["text.pdf"]["status"] == "ok"
    for name in ("scan-a.pdf", "scan-b.pdf"):
        assert docs[name]["status"] == "failed" and docs[name]["error_code"] == "ocr_unavailable"
        assert "OCR is not available on this server" in docs[name]["error"]
