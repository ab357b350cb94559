"""Document reading: real PDFs (fpdf2) through read_pdf, real OCR on generated scans, typed errors."""
from __future__ import annotations

import hashlib
import io
import re
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from policy_reader.config import load_settings
from policy_reader.errors import PdfError
from policy_reader.fsio import atomic_write_bytes
from policy_reader.reading.pdf_text import read_pdf, read_pdf_for, sanitize_filename
from tests.pdf_factory import (
    make_blank_pdf,
    make_encrypted_pdf,
    make_mixed_pdf,
    make_scanned_copy,
    make_scanned_pdf,
    make_text_pdf,
    make_truncated_pdf,
    make_two_column_pdf,
)


def _squash(text: str) -> str:
    return " ".join(text.split())


def _error(path: Path, **kw) -> PdfError:
    with pytest.raises(PdfError) as info:
        read_pdf(path, **kw)
    return info.value


# --------------------------------------------------------------------------- born-digital text


def test_pages_are_numbered_from_one_with_their_own_text(tmp_path: Path) -> None:
    texts = [f"Section {n}. The national target for sector {n} is {10 * n} percent." for n in range(1, 5)]
    path = make_text_pdf(tmp_path / "multi.pdf", texts, title="National Climate Plan")

    doc = read_pdf(path)

    assert [p.number for p in doc.pages] == [1, 2, 3, 4]
    assert doc.page_count == 4
    for page, text in zip(doc.pages, texts):
        assert _squash(page.text) == text
        assert page.ocr is False
    assert doc.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert doc.title == "National Climate Plan"
    assert doc.warnings == []


def test_text_is_normalised_lightly(tmp_path: Path) -> None:
    body = "First line of the adaptation chapter\nSecond line with a hyphen-\nated word"
    doc = read_pdf(make_text_pdf(tmp_path / "lines.pdf", [body]))

    text = doc.pages[0].text
    assert "\r" not in text and "\x00" not in text
    assert "First line of the adaptation chapter\nSecond line" in text
    assert "hyphen-\nated" in text  # hyphenation kept as is


def test_two_columns_are_read_column_by_column(tmp_path: Path) -> None:
    left = "Forests cover a third of the land and the plan protects them. " * 4
    right = "Transport emissions fall by half through rail investment. " * 4
    doc = read_pdf(make_two_column_pdf(tmp_path / "cols.pdf", left, right))

    text = _squash(doc.pages[0].text)
    assert _squash(left) in text
    assert _squash(right) in text
    assert text.index(_squash(left)) < text.index(_squash(right))


def test_read_pdf_for_uses_the_configured_limits(tmp_path: Path) -> None:
    path = make_text_pdf(tmp_path / "three.pdf", ["The first page of the plan."] * 3)
    strict = load_settings(JOBS_DIR=str(tmp_path / "jobs"), MAX_PAGES="2")
    with pytest.raises(PdfError) as info:
        read_pdf_for(path, strict)
    assert info.value.code == "too_many_pages"

    relaxed = load_settings(JOBS_DIR=str(tmp_path / "jobs"))
    assert read_pdf_for(path, relaxed).page_count == 3


def test_read_pdf_for_ocr_option_overrides_the_setting(tmp_path: Path) -> None:
    scan = make_scanned_pdf(tmp_path / "scan.pdf", [["Only pixels on this page"]])
    settings = load_settings(JOBS_DIR=str(tmp_path / "jobs"), OCR_ENABLED="true")
    with pytest.raises(PdfError) as info:
        read_pdf_for(scan, settings, ocr=False)
    assert info.value.code == "no_text"


def test_parallel_reads_in_threads_are_correct(tmp_path: Path) -> None:
    """The job runner reads documents in threads; PDFium is not thread-safe, so reads are serialised inside."""
    paths = [make_text_pdf(tmp_path / f"doc{i}.pdf",
                           [f"Document {i} page {n} about the energy plan." for n in range(1, 9)])
             for i in range(6)]
    expected = {p: [pg.text for pg in read_pdf(p).pages] for p in paths}

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda p: (p, read_pdf(p)), paths * 3))

    for path, doc in results:
        assert [pg.text for pg in doc.pages] == expected[path]


def test_progress_is_reported_after_every_page(tmp_path: Path) -> None:
    path = make_text_pdf(tmp_path / "five.pdf", [f"Page {n} of the energy strategy text." for n in range(1, 6)])
    calls: list[tuple[str, int, int]] = []

    read_pdf(path, on_progress=lambda *args: calls.append(args))

    assert calls == [("reading", n, 5) for n in range(1, 6)]


# --------------------------------------------------------------------------- scanned pages (real OCR)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory):
    """One mixed document read once with OCR: page 1 has a text layer, pages 2-3 are scans."""
    path = make_mixed_pdf(tmp_path_factory.mktemp("scan") / "mixed.pdf", [
        "Page one is born digital and mentions the Water Act of 2019.",
        ["Climate Adaptation Act 2021", "Emission target 45 percent by 2030"],
        ["Forest cover must reach 30 percent", "Coal phase out by 2035"],
    ])
    calls: list[tuple[str, int, int]] = []
    doc = read_pdf(path, on_progress=lambda *args: calls.append(args))
    return path, doc, calls


def test_scanned_pages_are_read_by_ocr(scanned) -> None:
    _path, doc, _calls = scanned

    assert [p.number for p in doc.pages] == [1, 2, 3]
    assert [p.ocr for p in doc.pages] == [False, True, True]
    assert doc.ocr_pages == [2, 3]
    page2, page3 = _squash(doc.pages[1].text).lower(), _squash(doc.pages[2].text).lower()
    for word in ("climate", "adaptation", "2021", "emission", "45", "2030"):
        assert word in page2
    for word in ("forest", "30", "coal", "2035"):
        assert word in page3
    assert any("2-3" in w and "OCR" in w for w in doc.warnings), doc.warnings


def test_ocr_goes_page_by_page(scanned) -> None:
    """Each scanned page is announced, read and finished before the next one starts (bounded memory)."""
    _path, _doc, calls = scanned

    assert calls == [("reading", 1, 3), ("ocr", 1, 3), ("ocr", 2, 3), ("ocr", 2, 3), ("ocr", 3, 3)]


#: Sentences planted in two text policies that are then "scanned" (image-only copies).
POLICY_ONE = [
    "This National Climate Policy is issued by the Government of Kenya.",
    "The Ministry of Environment is responsible for its implementation in all counties.",
    "Greenhouse gas emissions shall fall by 32 percent by 2030 against the 2010 baseline.",
    "County governments will publish annual reports on adaptation measures.",
    "An overall budget of 250 million shillings is allocated to the first phase.",
    "The policy covers the energy, transport and agriculture sectors.",
    "Public agencies shall monitor the quality of the national inventory.",
    "The steering committee reviews the strategy every five years.",
    "Local administrations will consult civil society on land use plans.",
    "Renewable sources will supply 60 percent of electricity by 2035.",
]
POLICY_TWO = [
    "The Climate Change Act was adopted by Parliament on 14 March 2019.",
    "Each county council shall appoint a climate change officer.",
    "The national authority will coordinate investment plans for public infrastructure.",
    "Drought resilience programmes receive priority funding from the climate fund.",
    "The statistics office will collect activity data from all sectors.",
    "Forest cover must reach 30 percent of the land area by 2032.",
    "Coal power plants will be phased out before the year 2040.",
    "Incentives for efficient buildings are described in Annex 3.",
    "The steering group reports to the Cabinet twice a year.",
    "Training for inspectors and auditors starts in the second year.",
]


def _words(text: str) -> str:
    """Lower-case words separated by single spaces, punctuation dropped: two words glued together
    or split apart no longer match."""
    return " " + " ".join(re.findall(r"[^\W_]+", text.casefold())) + " "


def test_image_only_copies_of_text_policies_keep_their_sentences_and_spaces(tmp_path: Path) -> None:
    """Scanned copies of a one-column and a two-column policy: >= 90 % of the planted sentences come
    back word for word, with their words spaced (and the columns in reading order)."""
    one = make_text_pdf(tmp_path / "one.pdf", [" ".join(POLICY_ONE)])
    two = make_two_column_pdf(tmp_path / "two.pdf", " ".join(POLICY_TWO[:5]), " ".join(POLICY_TWO[5:]))
    found: list[str] = []
    for src, sentences in ((one, POLICY_ONE), (two, POLICY_TWO)):
        doc = read_pdf(make_scanned_copy(src, tmp_path / f"scan-{src.name}"))
        assert doc.ocr_pages == [1]
        text = _words(doc.pages[0].text)
        found += [s for s in sentences if _words(s) in text]
    missing = [s for s in POLICY_ONE + POLICY_TWO if s not in found]
    assert len(found) >= 0.9 * (len(POLICY_ONE) + len(POLICY_TWO)), missing


def test_ocr_off_reads_text_layers_and_warns_about_scans(scanned) -> None:
    path, _doc, _calls = scanned

    doc = read_pdf(path, ocr=False)

    assert [p.ocr for p in doc.pages] == [False, False, False]
    assert "Water Act" in doc.pages[0].text
    assert any("2-3" in w and "OCR is off" in w for w in doc.warnings), doc.warnings


def test_scan_with_ocr_off_is_no_text_and_suggests_ocr(tmp_path: Path) -> None:
    path = make_scanned_pdf(tmp_path / "scan.pdf", [["Only pixels here"]])

    err = _error(path, ocr=False)

    assert err.code == "no_text"
    assert "OCR" in err.message and "turn" in err.message.lower()


def test_blank_pdf_has_no_text(tmp_path: Path) -> None:
    err = _error(make_blank_pdf(tmp_path / "blank.pdf", 2))
    assert err.code == "no_text"
    assert "blank" in err.message


# --------------------------------------------------------------------------- encryption


def test_encrypted_pdf_needs_the_right_password(tmp_path: Path) -> None:
    path = make_encrypted_pdf(tmp_path / "locked.pdf", ["Confidential target of 55 percent."], "s3cret")

    missing = _error(path)
    assert missing.code == "encrypted" and "password" in missing.message

    wrong = _error(path, password="guess")
    assert wrong.code == "wrong_password" and "wrong" in wrong.message
    assert "guess" not in wrong.message

    doc = read_pdf(path, password="s3cret")
    assert _squash(doc.pages[0].text) == "Confidential target of 55 percent."


# --------------------------------------------------------------------------- broken and wrong files


def test_truncated_pdf_is_reported_as_damaged(tmp_path: Path) -> None:
    err = _error(make_truncated_pdf(tmp_path / "cut.pdf"))
    assert err.code == "corrupt"
    assert "truncated" in err.message


def test_zero_bytes_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.pdf"
    atomic_write_bytes(path, b"")
    err = _error(path)
    assert err.code == "empty" and "0 bytes" in err.message


def test_zip_named_pdf_is_not_a_pdf(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    path = tmp_path / "report.pdf"
    atomic_write_bytes(path, buffer.getvalue())

    err = _error(path)

    assert err.code == "not_pdf"
    assert "'PK'" in err.message and "ZIP/Office" in err.message


def test_text_file_named_pdf_is_not_a_pdf(tmp_path: Path) -> None:
    path = tmp_path / "notes.pdf"
    atomic_write_bytes(path, b"Meeting notes about the climate plan\n" * 5)
    err = _error(path)
    assert err.code == "not_pdf" and "plain text" in err.message


def test_garbage_after_a_pdf_header_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pdf"
    atomic_write_bytes(path, b"%PDF-1.7\n" + bytes(range(256)) * 20)
    assert _error(path).code == "corrupt"


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    assert _error(tmp_path / "nowhere.pdf").code == "unreadable"


# --------------------------------------------------------------------------- limits


def test_file_over_the_size_limit_is_too_large(tmp_path: Path) -> None:
    path = make_text_pdf(tmp_path / "big.pdf", ["Some text that makes the file a kilobyte or so."])
    err = _error(path, max_file_mb=0.0001)
    assert err.code == "too_large" and "MB" in err.message


def test_too_many_pages(tmp_path: Path) -> None:
    path = make_text_pdf(tmp_path / "long.pdf", ["Page text of the long strategy."] * 4)
    err = _error(path, max_pages=3)
    assert err.code == "too_many_pages" and "4 pages" in err.message and "3" in err.message


def test_tiny_time_limit_times_out(tmp_path: Path) -> None:
    path = make_text_pdf(tmp_path / "slow.pdf", ["Page text of the strategy document."] * 6)
    assert _error(path, timeout_s=1e-9).code == "timeout"


def test_deadline_is_checked_between_pages(tmp_path: Path) -> None:
    """Slow pages (here: a slow progress consumer) stop the read at the first page past the deadline."""
    path = make_text_pdf(tmp_path / "slow.pdf", ["Page text of the strategy document."] * 6)

    err = _error(path, timeout_s=0.25, on_progress=lambda *_: time.sleep(0.1))

    assert err.code == "timeout"
    stopped_at = int(re.search(r"stopped at page (\d+) of 6", err.message).group(1))
    assert 2 <= stopped_at <= 5


# --------------------------------------------------------------------------- sanitize_filename

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\.pdf$")


@pytest.mark.parametrize("name, expected", [
    ("Climate Plan 2021.pdf", "Climate_Plan_2021.pdf"),
    ("../../etc/passwd", "passwd.pdf"),
    ("C:\\Users\\ana\\Report.PDF", "Report.pdf"),
    ("/abs/path/plan.pdf", "plan.pdf"),
    ("Política climática.pdf", "Politica_climatica.pdf"),
    ("政策文件.pdf", "document.pdf"),
    ("", "document.pdf"),
    ("   ", "document.pdf"),
    ("..", "document.pdf"),
    (".hidden.pdf", "hidden.pdf"),
    ("bad\x00name\n\tx.pdf", "badname_x.pdf"),
    ("report", "report.pdf"),
    ("CON.pdf", "CON_.pdf"),
    ("a..b.pdf", "a.b.pdf"),
])
def test_sanitize_filename(name: str, expected: str) -> None:
    safe = sanitize_filename(name)
    assert safe == expected
    assert _SAFE.match(safe) and ".." not in safe


def test_sanitize_filename_bounds_long_names() -> None:
    safe = sanitize_filename("x" * 5000 + ".pdf")
    assert _SAFE.match(safe) and len(safe) <= 110


# --------------------------------------------------------------------------- tables (issue 28)


def test_a_table_with_wrapped_labels_is_read_row_by_row(tmp_path: Path) -> None:
    """Content order interleaves a wrapped label with the row's value ('Residences 1,000 feet /
    (irrigation)'); the page gives each row as 'label | cell', wrapped lines joined, and a model's
    quote of the row aligns exactly (it did not align at all: best similarity 0.64 < FUZZY_MIN 0.80)."""
    from policy_reader.extraction.grounding import DocumentIndex, MatchKind
    from tests.pdf_factory import SETBACK_ROWS, make_table_pdf

    doc = read_pdf(make_table_pdf(tmp_path / "table.pdf"))
    lines = doc.pages[0].text.splitlines()

    assert "Feature | Minimum setback" in lines
    for label, value in SETBACK_ROWS:
        assert f"{label} | {value}" in lines
    text = doc.pages[0].text
    assert text.index("Section 4.2 Setbacks") < text.index("Feature |") < text.index("Occupied buildings")
    assert text.index("Occupied buildings") < text.index("Setbacks are measured")
    found = DocumentIndex(doc.pages).align("Residences (irrigation) 1,000 feet")
    assert found and found[0].kind is MatchKind.EXACT


def test_a_table_on_a_later_page_keeps_prose_pages_as_pdfium_reads_them(tmp_path: Path) -> None:
    from tests.pdf_factory import make_table_pdf

    prose = make_text_pdf(tmp_path / "prose.pdf", ["A plain paragraph of the ordinance.\nIts second line."])
    assert read_pdf(prose).pages[0].text == "A plain paragraph of the ordinance.\nIts second line."
    # a table with a single row is no table: nothing to regroup
    single = read_pdf(make_table_pdf(tmp_path / "one.pdf", [("Residences (irrigation)", "1,000 feet")], header=None))
    assert " | " not in single.pages[0].text


# --------------------------------------------------------------------------- printed page labels (issue 28)


def test_page_labels_of_the_pdf_are_kept_next_to_the_pdf_page(tmp_path: Path) -> None:
    from tests.pdf_factory import make_labelled_pdf

    path = make_labelled_pdf(tmp_path / "labels.pdf", [f"Page body {n}." * 5 for n in range(1, 6)],
                             first_label=98, from_page=3)
    doc = read_pdf(path)
    assert [p.number for p in doc.pages] == [1, 2, 3, 4, 5]
    assert [p.label for p in doc.pages] == ["i", "ii", "98", "99", "100"]


def test_printed_footer_numbers_in_sequence_become_page_labels(tmp_path: Path) -> None:
    from tests.pdf_factory import make_footer_numbered_pdf

    bodies = [f"Article {n}. The setback from residences is {n}00 feet." for n in range(1, 5)]
    footer = read_pdf(make_footer_numbered_pdf(tmp_path / "footer.pdf", bodies, first_printed=8))
    assert [p.label for p in footer.pages] == ["8", "9", "10", "11"]
    header = read_pdf(make_footer_numbered_pdf(tmp_path / "header.pdf", bodies, first_printed=20, at="header"))
    assert [p.label for p in header.pages] == ["20", "21", "22", "23"]


def test_numbers_that_do_not_run_in_sequence_are_not_page_labels(tmp_path: Path) -> None:
    pages = ["Section 3\nThe height is limited.\n500", "Section 9\nNoise is limited.\n45", "Lakes\n2640"]
    doc = read_pdf(make_text_pdf(tmp_path / "numbers.pdf", pages))
    assert [p.label for p in doc.pages] == [None, None, None]
    # a PageText written before labels existed still loads
    from policy_reader.models import PageText

    assert PageText.model_validate({"number": 1, "text": "x"}).label is None
