"""OCR engines compared on rendered pages whose text is known: character and word error rates, pages/s.

Why: OCR'd pages must read as real sentences (spaces between words, lines in reading order) for the
quote check, the analyst, the email and the Excel file. The engine is chosen by these numbers, among
those that can ship inside a wheel (no model download at run time) or come from Debian:

* `rapidocr-onnxruntime` 1.4.4 (PP-OCRv4 mobile models in the wheel; pulls the GUI `opencv-python`);
* `rapidocr` 3.x (PP-OCRv6 small models in the wheel; `opencv-python-headless`; onnxruntime apart);
* Tesseract 5 from Debian's `tesseract-ocr` (a system package: not on App Service's Python images).

Each rapidocr is measured as its lines come (boxes joined left to right, as Policy Reader did before)
and through `policy_reader.reading.ocr.layout_text` (columns and reading order from the box geometry, spaces
put back from character positions). Pages: A4 text pages in several fonts and sizes, a two-column
page, a skewed scan and a noisy low-resolution scan, each made into an image-only PDF and rendered
the way `read_pdf` renders a page for OCR. Truth = the words placed on the page, in reading order.

CER / WER = edit distance over characters / words of the whitespace-normalised texts, divided by the
truth's length (lower is better; reading-order mistakes count as errors too). pages/s with one
onnxruntime thread (the app's default, OCR_THREADS=1), best of the rounds, engine already loaded.

    python -m bench.ocr [--quick] [--out DIR]        # prints the table, writes bench/ocr.md
"""
from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TABLE = REPO / "bench" / "ocr.md"
SCAN_DPI = 200

_SUBJECTS = ["The Government", "The Ministry of Environment", "Each county council", "The national authority",
             "Local administrations", "The statistics office", "Public agencies", "The steering committee"]
_VERBS = ["will coordinate", "shall monitor", "will publish", "is expected to support", "shall review",
          "will strengthen", "must report on", "will finance"]
_OBJECTS = ["the implementation of sectoral measures", "investment plans for public infrastructure",
            "the collection of activity data", "capacity building for municipal staff",
            "the quality of the national inventory", "incentives for efficient buildings",
            "the protection of coastal communities", "programmes for sustainable land use"]
_TAILS = ["in line with international commitments.", "on the basis of transparent criteria.",
          "with the participation of civil society.", "as described in Annex {n}.",
          "within a budget of {m} million shillings.", "by {y}, against the {b} baseline.",
          "so that emissions fall by {p} percent.", "and reports to Parliament every {k} years."]


@dataclass
class BenchPage:
    name: str
    image: Any  # H x W x 3 BGR uint8, as read_pdf hands a page to OCR
    truth: str  # the words on the page in reading order


def sentence(rng: random.Random) -> str:
    """One policy-style sentence with numbers, percentages and years (what OCR must get right)."""
    tail = rng.choice(_TAILS).format(n=rng.randint(1, 9), m=rng.randint(2, 900), y=rng.randint(2025, 2050),
                                     b=rng.randint(1990, 2015), p=rng.randint(5, 80), k=rng.randint(2, 6))
    return f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {tail}"


def paragraph(rng: random.Random, chars: int) -> str:
    out: list[str] = []
    while sum(len(s) + 1 for s in out) < chars:
        out.append(sentence(rng))
    return " ".join(out)


# --------------------------------------------------------------------------- pages


def _text_pdf(path: Path, blocks: list[tuple[str, str, float, float, float, float, str]]) -> Path:
    """One A4 page; blocks = (font, style, size, x, y, width, text) placed with multi_cell."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.add_page()
    for font, style, size, x, y, width, text in blocks:
        pdf.set_font(font, style=style, size=size)
        pdf.set_xy(x, y)
        pdf.multi_cell(width, size * 0.45, text)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


def pipeline_image(pdf_path: Path) -> Any:
    """What read_pdf hands to the OCR engine for page 1 of `pdf_path`."""
    import pypdfium2 as pdfium

    from policy_reader.reading.pdf_text import render_for_ocr

    doc = pdfium.PdfDocument(str(pdf_path))
    try:
        page = doc[0]
        try:
            return render_for_ocr(page)
        finally:
            page.close()
    finally:
        doc.close()


def _skew(image: Any) -> Any:
    return image.rotate(1.5, resample=3, expand=False, fillcolor=255)


def _noise(image: Any) -> Any:
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(7)
    arr = np.asarray(image.filter(ImageFilter.GaussianBlur(0.7)), dtype=np.float32)
    arr = 40 + arr * 0.75 + rng.normal(0, 22, arr.shape)  # grey paper, weaker ink, sensor noise
    specks = rng.random(arr.shape) < 0.002
    arr[specks] = 0
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def build_pages(folder: Path, *, quick: bool = False) -> list[BenchPage]:
    """The benchmark pages (deterministic): image-only PDFs under `folder`, rendered like read_pdf does."""
    from tests.pdf_factory import make_scanned_copy

    rng = random.Random(19)
    folder.mkdir(parents=True, exist_ok=True)
    specs: list[tuple[str, list[tuple[str, str, float, float, float, float, str]], int, Any]] = []
    for name, font, size in [("helvetica 11 pt", "helvetica", 11), ("times 10 pt", "times", 10),
                             ("courier 9 pt", "courier", 9), ("helvetica 8 pt", "helvetica", 8)]:
        specs.append((name, [(font, "", size, 15, 15, 180, paragraph(rng, 1800 if size > 9 else 1400))],
                      SCAN_DPI, None))
    heading = "National Climate Change Policy"
    specs.append(("heading 16 pt + times 12 pt", [("helvetica", "B", 16, 15, 15, 180, heading),
                                                  ("times", "", 12, 15, 30, 180, paragraph(rng, 1500))],
                  SCAN_DPI, None))
    left, right = paragraph(rng, 1100), paragraph(rng, 1100)
    specs.append(("two columns, helvetica 10 pt", [("helvetica", "", 10, 15, 20, 85, left),
                                                   ("helvetica", "", 10, 110, 20, 85, right)], SCAN_DPI, None))
    body = paragraph(rng, 1500)
    specs.append(("skewed scan 1.5 deg, 11 pt", [("helvetica", "", 11, 15, 15, 180, body)], SCAN_DPI, _skew))
    body = paragraph(rng, 1500)
    specs.append(("noisy scan 150 dpi, 11 pt", [("times", "", 11, 15, 15, 180, body)], 150, _noise))
    if quick:
        specs = [specs[0], specs[5], specs[7]]
    pages = []
    for i, (name, blocks, dpi, degrade) in enumerate(specs):
        src = _text_pdf(folder / f"page{i}-text.pdf", blocks)
        scan = make_scanned_copy(src, folder / f"page{i}-scan.pdf", dpi=dpi, degrade=degrade)
        truth = " ".join(block[-1] for block in blocks)
        pages.append(BenchPage(name, pipeline_image(scan), truth))
    return pages


# --------------------------------------------------------------------------- metrics


def _distance(ref: list[Any] | str, hyp: list[Any] | str) -> int:
    """Levenshtein distance, one numpy row at a time (insertions via a running minimum)."""
    if not ref:
        return len(hyp)
    if not hyp:
        return len(ref)
    codes: dict[Any, int] = {}
    a = np.array([codes.setdefault(x, len(codes)) for x in ref], dtype=np.int32)
    b = np.array([codes.setdefault(x, len(codes)) for x in hyp], dtype=np.int32)
    idx = np.arange(len(b) + 1, dtype=np.int32)
    row = idx.copy()
    for i, ch in enumerate(a, start=1):
        sub = row[:-1] + (b != ch)
        best = np.empty_like(row)
        best[0] = i
        best[1:] = np.minimum(row[1:] + 1, sub)
        row = np.minimum.accumulate(best - idx) + idx
    return int(row[-1])


def squash(text: str) -> str:
    return " ".join(text.split())


def cer(truth: str, text: str) -> float:
    ref = squash(truth)
    return _distance(ref, squash(text)) / max(1, len(ref))


def wer(truth: str, text: str) -> float:
    ref = truth.split()
    return _distance(ref, text.split()) / max(1, len(ref))


def _words(text: str) -> str:
    """Lower-case words separated by single spaces, punctuation dropped: the form a sentence check uses."""
    return " ".join(re.findall(r"[^\W_]+", text.casefold()))


def sentences_found(sentences: list[str], text: str) -> float:
    """Share of `sentences` present in `text` word for word, with the words correctly spaced."""
    hay = f" {_words(text)} "
    return sum(1 for s in sentences if f" {_words(s)} " in hay) / max(1, len(sentences))


# --------------------------------------------------------------------------- engines


@dataclass
class Engine:
    """One OCR engine: `recognise(image)` -> raw output (timed), and the ways to turn it into text."""

    name: str
    recognise: Callable[[Any], Any]
    variants: dict[str, Callable[[Any], str]]


def engines() -> tuple[list[Engine], list[str]]:
    """The engines installed here, and a line for each one that is not (and why)."""
    from policy_reader.reading import ocr

    found: list[Engine] = []
    missing: list[str] = []
    try:
        from importlib.metadata import version

        from rapidocr_onnxruntime import RapidOCR

        v1 = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1, print_verbose=False)
        found.append(Engine(f"rapidocr-onnxruntime {version('rapidocr-onnxruntime')} (PP-OCRv4 mobile)",
                            lambda img: _v1_lines(v1, img),
                            {"lines joined by rows (Policy Reader before)": ocr.join_lines_by_rows,
                             "+ layout_text": ocr.layout_text}))
    except Exception as exc:  # noqa: BLE001 - an engine that is not installed is a line that says so
        missing.append(f"rapidocr-onnxruntime: not available here ({type(exc).__name__}: {exc})")
    try:
        v3 = ocr.RapidOcr3(threads=1)
        found.append(Engine(v3.label, v3.lines,
                            {"lines joined by rows": ocr.join_lines_by_rows,
                             "+ layout_text (shipped)": ocr.layout_text}))
    except Exception as exc:  # noqa: BLE001
        missing.append(f"rapidocr 3: not available here ({type(exc).__name__}: {exc})")
    if shutil.which("tesseract"):
        label = subprocess.run(["tesseract", "--version"], capture_output=True, text=True).stdout.split()[1]
        found.append(Engine(f"tesseract {label} (Debian tesseract-ocr)", _tesseract,
                            {"psm 3 (its own layout analysis)": lambda text: text}))
    else:
        missing.append("tesseract: not installed here (Debian: apt-get install tesseract-ocr)")
    return found, missing


def _v1_lines(engine: Any, image: Any) -> list[Any]:
    from policy_reader.reading.ocr import OcrLine

    result, _ = engine(image)  # as Policy Reader ran it before: defaults, direction classifier on
    return [OcrLine.from_quad(box, text) for box, text, _score in (r[:3] for r in result or [])]


def _tesseract(image: Any) -> str:
    import cv2

    _ok, png = cv2.imencode(".png", image)
    done = subprocess.run(["tesseract", "stdin", "stdout", "--psm", "3", "-l", "eng"], input=png.tobytes(),
                          capture_output=True, check=True, env={"OMP_THREAD_LIMIT": "1", "PATH": "/usr/bin:/bin"})
    return done.stdout.decode("utf-8", "replace")


# --------------------------------------------------------------------------- run


def measure(pages: list[BenchPage], engine: Engine) -> dict[str, dict[str, Any]]:
    """{variant: {cer, wer, pages_per_s, per_page}}: one timed recognition per page, then each variant."""
    raws, elapsed = [], 0.0
    for page in pages:
        t0 = time.perf_counter()
        raws.append(engine.recognise(page.image))
        elapsed += time.perf_counter() - t0
    out: dict[str, dict[str, Any]] = {}
    for label, to_text in engine.variants.items():
        t0 = time.perf_counter()
        texts = [to_text(raw) for raw in raws]
        layout_s = time.perf_counter() - t0
        chars = sum(len(squash(p.truth)) for p in pages)
        words = sum(len(p.truth.split()) for p in pages)
        out[label] = {
            "cer": sum(_distance(squash(p.truth), squash(t)) for p, t in zip(pages, texts)) / chars,
            "wer": sum(_distance(p.truth.split(), t.split()) for p, t in zip(pages, texts)) / words,
            "pages_per_s": len(pages) / (elapsed + layout_s),
            "per_page": {p.name: [cer(p.truth, t), wer(p.truth, t)] for p, t in zip(pages, texts)},
            "texts": texts,
        }
    return out


def run(out_dir: Path, *, quick: bool = False) -> dict[str, Any]:
    from bench.report import row

    load = os.getloadavg()[0]
    pages = build_pages(Path(out_dir) / "ocr_pages", quick=quick)
    found, missing = engines()
    rows, results = [], {}
    for engine in found:
        engine.recognise(pages[0].image)  # load and warm up outside the timing
        for label, res in measure(pages, engine).items():
            name = f"{engine.name}, {label}"
            results[name] = res
            rows.append(row(f"OCR {name}: CER", 100 * res["cer"], "%", digits=2))
            rows.append(row(f"OCR {name}: WER", 100 * res["wer"], "%", digits=2))
            rows.append(row(f"OCR {name}: speed", res["pages_per_s"], "pages/s"))
    return {"rows": rows, "raw": results, "pages": [p.name for p in pages], "notes": missing, "load": load}


CHOICE = """**Choice: rapidocr 3 (PP-OCRv6 small) + `layout_text`**, the default and the only engine shipped. It has
the lowest error on every page; its models are inside the `rapidocr` wheel (Policy Reader passes their paths,
so rapidocr's download path is never taken) and it needs only `opencv-python-headless`, so it runs on App
Service's Python images, which have no libGL. rapidocr-onnxruntime 1.4 (before) dropped lines (its direction
classifier turned upright lines over, then the score limit removed them) and glued words together; its GUI
OpenCV does not import without libGL. Reading order from the box geometry (`layout_text`) is what fixes the
two-column page for both rapidocr versions; rapidocr 3 keeps the spaces between words itself, so no space
reconstruction from box gaps is needed (the "lines joined by rows" rows show its words are already spaced:
their errors are the two-column page's order). Tesseract is about 4x faster here but a system package, not
available on App Service's code deployments, and less accurate on the noisy scan: not shipped."""


def write_table(result: dict[str, Any], path: Path = TABLE) -> str:
    from bench.report import machine_facts
    from policy_reader.fsio import atomic_write_text

    facts = machine_facts()
    raw, pages = result["raw"], result["pages"]
    load = result.get("load") or os.getloadavg()[0]
    lines = ["# OCR engines on rendered pages with known text", "",
             f"`python -m bench.ocr` — {facts['date']}, {facts['cores usable']} cores ({facts['cpu']}), "
             f"Python {facts['python']}, load average {load:.1f} when it started (pages/s are for that load: "
             "compare them within the table). One onnxruntime / Tesseract thread. Lower error is better. "
             "Pages and metrics: see the docstring of bench/ocr.py.", "",
             "| engine | CER | WER | pages/s |", "|---|---|---|---|"]
    for name, res in raw.items():
        lines.append(f"| {name} | {100 * res['cer']:.2f} % | {100 * res['wer']:.2f} % | {res['pages_per_s']:.2f} |")
    for note in result["notes"]:
        lines.append(f"| {note} | | | |")
    lines += ["", "Per page (CER / WER, %):", "", "| page | " + " | ".join(raw) + " |",
              "|---|" + "---|" * len(raw)]
    for page in pages:
        cells = [f"{100 * res['per_page'][page][0]:.1f} / {100 * res['per_page'][page][1]:.1f}" for res in raw.values()]
        lines.append(f"| {page} | " + " | ".join(cells) + " |")
    lines += ["", CHOICE]
    text = "\n".join(lines) + "\n"
    atomic_write_text(path, text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ocr", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = parser.parse_args(argv)
    result = run(args.out, quick=args.quick)
    print(write_table(result, TABLE if not args.quick else args.out / "ocr-quick.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
