"""The review workbench end to end in a real headless Chromium (issue 27): a 40-document job made through
the page (offline extractor: no model, seconds), then the analyst's loop at 1440×900 — a bad template that
cannot run, the skipped file on the job page and in the JSON, a cell selected with its evidence beside the
table, a reload that keeps the selection, a bulk accept and its undo, the queue walked to zero with one
action per answer, and the correction's history in the downloaded Excel. Screenshots in tests/artifacts/.
"""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

from openpyxl import load_workbook

from tests.pdf_factory import make_text_pdf

DOCS = 40
TARGETS = {3: 43, 17: 57, 29: 69}  # the documents that state an emission cut (the others do not)
GOOD = ("name,question,type\nyear_adopted,In which year was the policy adopted?,year\n"
        "target_pct,What emission cut (%) does the policy target?,number\n")
BAD = "name,question,type\nyear_adopted,Which year?,year\nyear_adopted,Again?,colour\n"


def _documents(folder: Path) -> list[str]:
    paths = []
    for i in range(DOCS):
        text = f"Policy {i:02d}\n\nThe policy was adopted in {1980 + i}."
        if i in TARGETS:
            text += f"\nEmissions fall by {TARGETS[i]} percent by 2030."
        paths.append(str(make_text_pdf(folder / f"policy_{i:02d}.pdf", [text])))
    notes = folder / "notes.pdf"
    notes.write_bytes(b"meeting notes, not a PDF")
    return paths + [str(notes)]


def _download(page, label: str) -> bytes:
    with page.expect_download() as info:
        page.locator('[data-testid="stDownloadButton"] button').filter(has_text=label).first.click()
    return Path(info.value.path()).read_bytes()


def _progress(page) -> str:
    _settled(page)
    return page.locator('[data-testid="stMarkdownContainer"]').filter(has_text="Next to review:").first.inner_text()


def _settled(page) -> None:
    """Wait for the script run to finish (Streamlit keeps the previous run's elements on screen meanwhile)."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')")
    page.wait_for_timeout(300)


def _click(page, selector: str) -> None:
    """Click a keyed widget once the page has settled (only then is there one element for it)."""
    _settled(page)
    page.locator(selector).first.click()


def _wait_progress(page, text: str) -> None:
    page.locator('[data-testid="stMarkdownContainer"]').filter(has_text="Next to review:").filter(
        has_text=text).first.wait_for()


def test_an_analyst_reviews_a_40_document_job_in_the_workbench(tmp_path: Path, streamlit_server, browser_page,
                                                                artifacts_dir: Path) -> None:
    try:
        _review_session(tmp_path, streamlit_server, browser_page, artifacts_dir)
    except Exception:
        browser_page.screenshot(path=str(artifacts_dir / "review-failure.png"))
        print("DEBUG", browser_page.locator('[data-testid="stMarkdownContainer"]').filter(
            has_text="to review").all_inner_texts())
        raise


def _review_session(tmp_path: Path, streamlit_server, browser_page, artifacts_dir: Path) -> None:
    page = browser_page
    page.set_viewport_size({"width": 1440, "height": 900})
    # above the offline extractor's confidence for a checked value (0.9): every answer goes to the analyst
    url = streamlit_server({"LLM_BACKEND": "offline", "OCR_ENABLED": "false", "ACCEPT_THRESHOLD": "0.95"})
    files = _documents(tmp_path)
    (tmp_path / "bad.csv").write_text(BAD)
    (tmp_path / "good.csv").write_text(GOOD)

    page.goto(url)
    page.get_by_text("Try it with the samples").wait_for()
    pdfs = page.locator('[data-testid="stFileUploader"]').filter(has_text="Policy PDFs")
    pdfs.locator('input[type="file"]').set_input_files(files)
    template = page.locator('[data-testid="stFileUploader"]').filter(has_text="Load a template")
    run = page.get_by_role("button", name="🚀 Run", exact=True)

    # a bad template leaves no older table behind its error, and cannot be run
    template.locator('input[type="file"]').set_input_files(str(tmp_path / "bad.csv"))
    page.get_by_text("Fix the template and load it again").wait_for()
    page.get_by_text("Run is off until the variables table above is valid").wait_for()
    _settled(page)
    assert run.is_disabled()
    page.screenshot(path=str(artifacts_dir / "review-01-bad-template.png"))
    template.locator('input[type="file"]').set_input_files(str(tmp_path / "good.csv"))
    page.get_by_text("Loaded 2 variables").wait_for()
    _settled(page)
    page.wait_for_function("b => !b.disabled", arg=run.element_handle())
    run.click()
    page.wait_for_url(re.compile(r"[?&]job=[0-9a-f]+"))
    job_id = re.search(r"job=([0-9a-f]+)", page.url).group(1)
    page.get_by_role("heading", name="Results").wait_for(timeout=90_000)
    _settled(page)  # a finished job's page keeps nothing of the live view: no Cancel, no event log
    assert page.get_by_role("button", name=re.compile("Cancel job")).count() == 0
    assert page.locator('[data-testid="stCode"]').count() == 0

    # the skipped file stays in the job's record: on the page, counted, and in the JSON export
    page.get_by_text(f"40 of {DOCS + 1} documents read, 1 skipped: notes.pdf — this is not a PDF file").wait_for()

    # select a cell: its evidence opens beside the table, in the same viewport
    table = page.locator('[data-testid="stDataFrame"]').first
    table.scroll_into_view_if_needed()
    _settled(page)
    document_width = 200  # the pinned Document column ("medium")
    table.click(position={"x": document_width + 60, "y": 35 + 5 * 35 + 17})  # row 6: policy_05, Year adopted
    page.wait_for_function("() => location.search.includes('doc=d0006') && location.search.includes('var=year_adopted')")
    panel = page.locator(".st-key-evidence_panel")
    panel.get_by_text("policy_05.pdf").first.wait_for()
    panel.get_by_text("1985").first.wait_for()
    image = panel.locator('[data-testid="stImage"]').filter(has_text="policy_05.pdf — page 1").locator("img")
    page.wait_for_function("img => img.complete && img.naturalWidth > 100", arg=image.element_handle())
    box = table.bounding_box()
    side = panel.bounding_box()
    assert side["x"] >= box["x"] + box["width"] - 2, (box, side)  # beside, not below
    assert side["y"] < box["y"] + box["height"] and box["y"] < side["y"] + side["height"]
    assert box["y"] + 100 < 900 and side["y"] + 100 < 900  # both on screen at 1440×900
    page.screenshot(path=str(artifacts_dir / "review-02-workbench.png"))

    # a reload (or a shared link) opens the same answer
    page.reload()
    panel = page.locator(".st-key-evidence_panel")
    panel.get_by_text("policy_05.pdf").first.wait_for()

    # bulk accept the exactly quoted years, then undo it
    flagged = int(re.search(r"(\d+) to review", _progress(page)).group(1))
    assert flagged == DOCS + len(TARGETS), _progress(page)
    page.get_by_text("Bulk decisions").click()
    page.locator('[data-testid="stButton"] button').filter(has_text=f"Accept {DOCS} exact quotes").first.click()
    accepted = page.get_by_text(re.compile(r"\d+ answers accepted\."))
    accepted.wait_for()
    n = int(re.search(r"(\d+) answers", accepted.inner_text()).group(1))
    assert n == DOCS, accepted.inner_text()  # every year is quoted exactly
    _wait_progress(page, f"{flagged - n} to review")
    page.screenshot(path=str(artifacts_dir / "review-03-bulk-accept.png"))
    page.locator('[data-testid="stButton"] button').filter(has_text="Undo").click()
    page.get_by_text(f"Undone: {n} answers are back as they were.").wait_for()
    _wait_progress(page, f"{flagged} to review")
    page.locator('[data-testid="stButton"] button').filter(has_text=f"Accept {n} exact quotes").first.click()
    _wait_progress(page, f"{len(TARGETS)} to review")

    # the rest, one action each: right, correct to… (with a note), not stated in the document
    def answer(doc: int, action: str) -> str:
        return f".st-key-{action}_{job_id}_d{doc + 1:04d}_target_pct"

    _click(page, f".st-key-queue_next_{job_id} button")
    _click(page, answer(3, "right") + " button")
    _wait_progress(page, "2 to review")
    _settled(page)
    page.locator(answer(17, "value") + " input").fill("55")
    page.locator(answer(17, "note") + " input").fill("the annex raises it to 55")
    page.locator(answer(17, "note") + " input").press("Enter")  # submits the correction form
    _wait_progress(page, "1 to review")
    _click(page, answer(29, "absent") + " button")
    _wait_progress(page, "Nothing left to review")
    page.screenshot(path=str(artifacts_dir / "review-04-queue-done.png"))

    exported = json.loads(_download(page, "JSON"))  # the skipped file is in the JSON too
    assert "notes.pdf" in json.dumps(exported) and "not a PDF" in json.dumps(exported)

    # the correction and its history in the downloaded Excel
    book = load_workbook(io.BytesIO(_download(page, "Excel")))
    evidence = list(book["Evidence"].iter_rows(values_only=True))
    header = [str(h) for h in evidence[0]]
    rows = [dict(zip(header, r)) for r in evidence[1:]]
    corrected = next(r for r in rows if r.get("file") == "policy_17.pdf" and r.get("variable") == "target_pct")
    text = " ".join(str(v) for v in corrected.values())
    assert "55" in text and "57" in text and "the annex raises it to 55" in text and "local" in text, corrected
