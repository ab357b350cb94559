"""Exports of a job's results: the JSON contract, CSV (one row per document x variable) and Excel.

Pure functions returning bytes: the job manager decides where they are written (atomically) or
attached. Every text cell is defused against spreadsheet formula injection, because document text
and file names are untrusted: a PDF can contain "=HYPERLINK(...)" and analysts open exports in Excel.
"""
from __future__ import annotations

import csv
import io
import json
import re
from typing import Any, Iterable, Sequence

from .models import Answer, AnswerStatus, DocumentResult, Usage, Variable
from .variables import format_value

CSV_COLUMNS = ("file", "doc_status", "variable", "value", "status", "confidence", "page", "evidence",
               "reviewed", "error", "match_kind", "span")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_PLAIN_NUMBER = re.compile(r"^[-+]?(\d+([.,]\d+)*|\.\d+)(e[-+]?\d+)?%?$", re.I)
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_EXCEL_CELL_LIMIT = 32_000

REVIEW_FILL = "FFF2CC"  # light amber: the analyst should look at this cell
ERROR_FILL = "F8CBAD"  # light red: the engine failed for this cell or document
HEADER_FILL = "DDEBF7"


# --------------------------------------------------------------------------- JSON

def job_payload(job_id: str, status: str, documents: list[DocumentResult], usage: Usage) -> dict[str, Any]:
    """The README JSON contract (extra fields are additive: doc_id, error_code, reviewed, note, ...)."""
    return {
        "job_id": job_id,
        "status": str(getattr(status, "value", status)),
        "documents": [_document_payload(d) for d in documents],
        "usage": {
            "calls": usage.calls,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cost_usd": round(usage.cost_usd, 6),
            "cached_prompt_tokens": usage.cached_prompt_tokens,
        },
    }


def _document_payload(doc: DocumentResult) -> dict[str, Any]:
    return {
        "file": doc.file,
        "status": "ok" if doc.status == "ok" else "failed",
        "error": doc.error,
        "pages": doc.pages,
        "variables": [_answer_payload(a, doc) for a in doc.variables],
        "doc_id": doc.doc_id,
        "error_code": doc.error_code,
        "ocr_pages": list(doc.ocr_pages),
    }


def _answer_payload(a: Answer, doc: DocumentResult) -> dict[str, Any]:
    return {
        "name": a.name,
        "value": _json_value(a.value),
        "evidence": a.evidence,
        "page": _page(a, doc),
        "confidence": round(float(a.confidence), 3),
        "status": _status(a),
        "reviewed": a.reviewed,
        "note": a.note,
        "match_kind": _kind(a),
        "similarity": round(float(a.similarity), 3),
        "span": [{"page": p.page, "start": p.start, "end": p.end} for p in a.span],
        "coverage": a.coverage,
        "passages": [{"value": _json_value(p.value), "evidence": p.evidence, "page": p.page,
                      "match_kind": str(getattr(p.match_kind, "value", p.match_kind)), "agrees": p.agrees}
                     for p in a.passages],
    }


def _page(a: Answer, doc: DocumentResult) -> int | None:
    """The answer's page, never one outside the document (older results may hold a model's claim)."""
    if a.page is None or (doc.pages and not 1 <= a.page <= doc.pages):
        return None
    return a.page


def _kind(a: Answer) -> str:
    return str(getattr(a.match_kind, "value", a.match_kind))


def format_span(a: Answer) -> str:
    """The aligned span as text: "4:2310-2338; 5:0-120" (page: start-end character offsets of its text)."""
    return "; ".join(f"{p.page}:{p.start}-{p.end}" for p in a.span)


def _json_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value


def _status(a: Answer) -> str:
    return a.status.value if isinstance(a.status, AnswerStatus) else str(a.status)


def to_json(payload: dict[str, Any]) -> bytes:
    """UTF-8 JSON, unicode kept as is (an analyst reads it), stable key order."""
    return json.dumps(payload, ensure_ascii=False, indent=2, default=str).encode("utf-8")


# --------------------------------------------------------------------------- CSV

def defuse(text: str) -> str:
    """Prefix a quote to text Excel would run as a formula; real numbers ("-2.5") are left alone."""
    if not text:
        return text
    stripped = text.lstrip(" ")
    if stripped[:1] in _FORMULA_START and not _PLAIN_NUMBER.match(stripped):
        return "'" + text
    return text


def _csv_rows(documents: Iterable[DocumentResult]) -> Iterable[list[str]]:
    for doc in documents:
        doc_status = "ok" if doc.status == "ok" else "failed"
        if not doc.variables:
            yield [doc.file, doc_status, "", "", "", "", "", "", "", doc.error or "", "", ""]
            continue
        for a in doc.variables:
            error = a.note if a.status == AnswerStatus.ERROR else (doc.error or "")
            page = _page(a, doc)
            yield [doc.file, doc_status, a.name, format_value(a.value), _status(a), f"{float(a.confidence):.2f}",
                   "" if page is None else str(page), a.evidence, "yes" if a.reviewed else "no", error, _kind(a),
                   format_span(a)]


def to_csv(documents: list[DocumentResult]) -> bytes:
    """UTF-8 with BOM (Excel then reads accents correctly); one row per document x variable."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in _csv_rows(documents):
        writer.writerow([defuse(cell) for cell in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


# --------------------------------------------------------------------------- Excel

def _set(cell: Any, value: Any) -> None:
    """Write a value so it can never become a formula: text is forced to a string cell and
    formula-looking text gets Excel's quotePrefix (shown as text even after editing)."""
    if value is None or isinstance(value, bool):
        cell.value = value
        return
    if isinstance(value, (int, float)):
        cell.value = value
        return
    text = _ILLEGAL_XML.sub("", str(value))[:_EXCEL_CELL_LIMIT]
    cell.value = text
    cell.data_type = "s"
    stripped = text.lstrip(" ")
    if stripped[:1] in _FORMULA_START and not _PLAIN_NUMBER.match(stripped):
        cell.quotePrefix = True


def _excel_value(value: Any) -> Any:
    """Numbers stay numbers (sortable in Excel); everything else is the table text."""
    if isinstance(value, bool) or value is None:
        return format_value(value)
    if isinstance(value, (int, float)):
        return value
    return format_value(value)


def _header(ws: Any, columns: Sequence[str]) -> None:
    from openpyxl.styles import Font, PatternFill

    for col, name in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=col)
        _set(cell, name)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", start_color=HEADER_FILL, end_color=HEADER_FILL)
    ws.freeze_panes = "B2"


def _widths(ws: Any, minimum: int = 8, maximum: int = 60) -> None:
    from openpyxl.utils import get_column_letter

    widths: dict[int, int] = {}
    for row in ws.iter_rows():
        for cell in row:
            if cell.value is not None:
                longest = max((len(line) for line in str(cell.value).splitlines()), default=0)
                widths[cell.column] = max(widths.get(cell.column, 0), longest)
    for col, width in widths.items():
        ws.column_dimensions[get_column_letter(col)].width = max(minimum, min(maximum, width + 2))


def _variable_names(documents: Sequence[DocumentResult], variables: Sequence[Variable] | None) -> list[str]:
    names = [v.name for v in variables or ()]
    for doc in documents:
        for a in doc.variables:
            if a.name not in names:
                names.append(a.name)
    return names


def _results_sheet(ws: Any, documents: Sequence[DocumentResult], names: list[str]) -> None:
    from openpyxl.comments import Comment
    from openpyxl.styles import PatternFill

    review = PatternFill("solid", start_color=REVIEW_FILL, end_color=REVIEW_FILL)
    error = PatternFill("solid", start_color=ERROR_FILL, end_color=ERROR_FILL)
    _header(ws, ["file", "status", *names])
    for r, doc in enumerate(documents, start=2):
        _set(ws.cell(row=r, column=1), doc.file)
        _set(ws.cell(row=r, column=2), "ok" if doc.status == "ok" else "failed")
        if doc.status != "ok":
            ws.cell(row=r, column=2).fill = error
            if doc.error:
                ws.cell(row=r, column=2).comment = Comment(_ILLEGAL_XML.sub("", doc.error)[:2000], "Policy Reader")
        answers = {a.name: a for a in doc.variables}
        for c, name in enumerate(names, start=3):
            a = answers.get(name)
            if a is None:
                continue
            cell = ws.cell(row=r, column=c)
            _set(cell, _excel_value(a.value))
            if a.status == AnswerStatus.NEEDS_REVIEW:
                cell.fill = review
            elif a.status == AnswerStatus.ERROR:
                cell.fill = error
    _widths(ws, maximum=45)


def _evidence_sheet(ws: Any, documents: Sequence[DocumentResult]) -> None:
    from openpyxl.styles import Alignment

    _header(ws, ["file", "variable", "value", "page", "evidence", "confidence", "status", "reviewed", "note",
                 "match kind", "span"])
    r = 2
    for doc in documents:
        for a in doc.variables:
            row = [doc.file, a.name, _excel_value(a.value), _page(a, doc), a.evidence, round(float(a.confidence), 3),
                   _status(a), "yes" if a.reviewed else "no", a.note, _kind(a), format_span(a)]
            for c, value in enumerate(row, start=1):
                _set(ws.cell(row=r, column=c), value)
            ws.cell(row=r, column=5).alignment = Alignment(wrap_text=True, vertical="top")
            r += 1
    _widths(ws, maximum=80)


def _errors_sheet(ws: Any, documents: Sequence[DocumentResult]) -> None:
    _header(ws, ["file", "variable", "code", "error"])
    r = 2
    for doc in documents:
        rows: list[list[Any]] = []
        if doc.status != "ok":
            rows.append([doc.file, "", doc.error_code or "", doc.error or "failed"])
        rows += [[doc.file, a.name, "answer", a.note or "error"] for a in doc.variables
                 if a.status == AnswerStatus.ERROR]
        for row in rows:
            for c, value in enumerate(row, start=1):
                _set(ws.cell(row=r, column=c), value)
            r += 1
    _widths(ws, maximum=100)


def _usage_sheet(ws: Any, documents: Sequence[DocumentResult], usage: Usage) -> None:
    _header(ws, ["metric", "value"])
    rows: list[tuple[str, Any]] = [
        ("documents", len(documents)),
        ("documents ok", sum(1 for d in documents if d.status == "ok")),
        ("documents failed", sum(1 for d in documents if d.status != "ok")),
        ("answers needing review", sum(1 for d in documents for a in d.variables
                                       if a.status == AnswerStatus.NEEDS_REVIEW)),
        ("model calls", usage.calls),
        ("prompt tokens", usage.prompt_tokens),
        ("cached prompt tokens", usage.cached_prompt_tokens),
        ("completion tokens", usage.completion_tokens),
        ("estimated cost (USD)", round(usage.cost_usd, 6)),
    ]
    for r, (name, value) in enumerate(rows, start=2):
        _set(ws.cell(row=r, column=1), name)
        _set(ws.cell(row=r, column=2), value)
    _widths(ws)


def to_xlsx(documents: list[DocumentResult], variables: Sequence[Variable] | None, usage: Usage) -> bytes:
    """Workbook with sheets Results (one row per document), Evidence, Errors and Usage."""
    from openpyxl import Workbook

    wb = Workbook()
    results = wb.active
    results.title = "Results"
    _results_sheet(results, documents, _variable_names(documents, variables))
    _evidence_sheet(wb.create_sheet("Evidence"), documents)
    _errors_sheet(wb.create_sheet("Errors"), documents)
    _usage_sheet(wb.create_sheet("Usage"), documents, usage)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
