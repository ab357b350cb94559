"""Exports of a job's results: the JSON contract, CSV (one row per document x variable) and Excel.

Pure functions returning bytes: the job manager decides where they are written (atomically) or
attached. Every text cell is defused against spreadsheet formula injection, because document text
and file names are untrusted: a PDF can contain "=HYPERLINK(...)" and analysts open exports in Excel.
No cell ever holds a formula, so the workbook is data only, in Excel and LibreOffice alike.

The per-answer columns of the CSV and of the Evidence sheet are lists of (header, getter): a new
answer field becomes a new column by adding one line to each list.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from policy_reader.models import (ANSWER_STATUS_LABELS, Answer, AnswerStatus, DocumentResult, SkippedFile, Usage,
                                  Variable, VariableType, status_label)
from policy_reader.llm import providers
from policy_reader.delivery.answer_marks import (cell_text, comment_text, corrected_at, corrected_by,
                                                 legend_rows, marked_label, marker_format, original_text)
from policy_reader.llm.prompts import PROMPT_VERSION
from policy_reader.variables import format_value

if TYPE_CHECKING:
    from policy_reader.accuracy.audit import AuditEstimate
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_PLAIN_NUMBER = re.compile(r"^[-+]?(\d+([.,]\d+)*|\.\d+)(e[-+]?\d+)?%?$", re.I)
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_EXCEL_CELL_LIMIT = 32_000

REVIEW_FILL = "FFF2CC"  # light amber: the analyst should look at this cell
ERROR_FILL = "F8CBAD"  # light red: the engine failed for this cell or document
HEADER_FILL = "DDEBF7"


# --------------------------------------------------------------------------- JSON

def job_payload(job_id: str, status: str, documents: list[DocumentResult], usage: Usage, *,
                accuracy: dict[str, Any] | None = None, skipped: Sequence[SkippedFile] = ()) -> dict[str, Any]:
    """The README JSON contract (extra fields are additive: doc_id, error_code, reviewed, note, ...).
    `accuracy`: the audit's estimate (audit.AuditEstimate.to_json), null until one is measured.
    `skipped`: uploads that were not read; they are documents of the job too (status "skipped")."""
    return {
        "job_id": job_id,
        "status": str(getattr(status, "value", status)),
        "documents": [_document_payload(d) for d in documents] + [_skipped_payload(f) for f in skipped],
        "files": {"uploaded": len(documents) + len(skipped), "read": sum(1 for d in documents if d.status == "ok"),
                  "failed": sum(1 for d in documents if d.status != "ok"), "skipped": len(skipped)},
        "usage": {
            "calls": usage.calls,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cost_usd": round(usage.cost_usd, 6),
            "cached_prompt_tokens": usage.cached_prompt_tokens,
        },
        "accuracy": accuracy,
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


def _skipped_payload(skipped: SkippedFile) -> dict[str, Any]:
    return {"file": skipped.name, "status": "skipped", "error": skipped.reason, "reason": skipped.reason,
            "code": skipped.code, "pages": 0, "variables": [], "doc_id": None, "error_code": skipped.code,
            "ocr_pages": []}


def _answer_payload(a: Answer, doc: DocumentResult) -> dict[str, Any]:
    return {
        "name": a.name,
        "value": _json_value(a.value),
        "evidence": a.evidence,
        "page": _page(a, doc),
        "page_label": _page_label(a, doc),
        "confidence": round(float(a.confidence), 3),
        "status": _status(a),
        "status_label": status_label(a.status).label,
        "original_value": _json_value(a.original_value) if a.review is not None and a.review.changed else None,
        "review": None if a.review is None else {
            "value": _json_value(a.review.value), "original_value": _json_value(a.review.original_value),
            "changed": a.review.changed, "by": a.review.by, "at": a.review.at, "note": a.review.note},
        "reviewed": a.reviewed,
        "note": a.note,
        "match_kind": _kind(a),
        "similarity": round(float(a.similarity), 3),
        "span": [{"page": p.page, "start": p.start, "end": p.end} for p in a.span],
        "coverage": a.coverage,
        "passages": [{"value": _json_value(p.value), "evidence": p.evidence, "page": p.page,
                      "match_kind": str(getattr(p.match_kind, "value", p.match_kind)), "agrees": p.agrees,
                      "source": p.source}
                     for p in a.passages],
    }


def _page(a: Answer, doc: DocumentResult) -> int | None:
    """The answer's page, never one outside the document (older results may hold a model's claim)."""
    if a.page is None or (doc.pages and not 1 <= a.page <= doc.pages):
        return None
    return a.page


def _page_label(a: Answer, doc: DocumentResult) -> str | None:
    """The printed number of the answer's page (issue 28), None when the PDF prints none."""
    return a.page_label if _page(a, doc) is not None and a.page_label else None


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


def _doc_status(doc: DocumentResult) -> str:
    return "ok" if doc.status == "ok" else "failed"


def _csv_error(doc: DocumentResult, a: Answer | None) -> str:
    if a is not None and a.status == AnswerStatus.ERROR:
        return a.note
    return doc.error or ""


# (header, value of the row for one document and one of its answers; None for a document without answers)
_CsvGetter = Callable[[DocumentResult, Answer | None], str]
CSV_FIELDS: list[tuple[str, _CsvGetter]] = [
    ("file", lambda d, a: d.file),
    ("doc_status", lambda d, a: _doc_status(d)),
    ("variable", lambda d, a: a.name if a else ""),
    ("value", lambda d, a: format_value(a.value) if a else ""),
    ("status", lambda d, a: _status(a) if a else ""),
    ("status_label", lambda d, a: marked_label(a) if a else ""),
    ("confidence", lambda d, a: f"{float(a.confidence):.2f}" if a else ""),
    ("page", lambda d, a: "" if a is None or _page(a, d) is None else str(_page(a, d))),
    ("evidence", lambda d, a: a.evidence if a else ""),
    ("reviewed", lambda d, a: ("yes" if a.reviewed else "no") if a else ""),
    ("error", _csv_error),
    ("match_kind", lambda d, a: _kind(a) if a else ""),
    ("span", lambda d, a: format_span(a) if a else ""),
    ("printed_page", lambda d, a: (_page_label(a, d) or "") if a else ""),
    ("original_value", lambda d, a: original_text(a) if a else ""),
    ("corrected_by", lambda d, a: corrected_by(a) if a else ""),
    ("corrected_at", lambda d, a: corrected_at(a) if a else ""),
    ("review_note", lambda d, a: a.review.note if a and a.review else ""),
]
CSV_COLUMNS = tuple(name for name, _ in CSV_FIELDS)


def _csv_rows(documents: Iterable[DocumentResult]) -> Iterable[list[str]]:
    for doc in documents:
        for a in doc.variables or [None]:
            yield [get(doc, a) for _, get in CSV_FIELDS]


def _skipped_csv_row(skipped: SkippedFile) -> list[str]:
    row = {"file": skipped.name, "doc_status": "skipped", "error": skipped.reason}
    return [row.get(name, "") for name in CSV_COLUMNS]


def to_csv(documents: list[DocumentResult], skipped: Sequence[SkippedFile] = ()) -> bytes:
    """UTF-8 with BOM (Excel then reads accents correctly); one row per document x variable, and one
    per skipped upload (doc_status "skipped", the reason in "error")."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in _csv_rows(documents):
        writer.writerow([defuse(cell) for cell in row])
    for skip in skipped:
        writer.writerow([defuse(cell) for cell in _skipped_csv_row(skip)])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


# --------------------------------------------------------------------------- Excel

DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
COST_FORMAT = "0.0000"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class SummaryRow(BaseModel):
    """One line of the Summary sheet: a label and a typed value (Excel number format optional)."""

    label: str
    value: str | int | float | dt.date | dt.datetime | None = None
    number_format: str | None = None  # e.g. "0.0%" for a share, DATE_FORMAT for a date


class WorkbookInfo(BaseModel):
    """What the Summary sheet says about the job the workbook comes from."""

    job_id: str = ""
    job_name: str = ""
    status: str = ""
    backend: str | None = None
    model: str | None = None
    prompt_version: str | None = None  # None: the backend uses no prompt (offline)
    created_at: dt.datetime | None = None
    exported_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    skipped: list[SkippedFile] = Field(default_factory=list)  # uploads not read (the Errors sheet lists them)

    @classmethod
    def from_state(cls, state: Mapping[str, Any], *, status: str | None = None) -> WorkbookInfo:
        """From a job's state (job.json). `status` overrides the stored one while the job finishes.

        The prompt version is the one of this app version: answers are cached per prompt version,
        so the results of a run are those of the prompt it ran with.
        """
        backend = state.get("backend")
        provider = providers.find(str(backend)) if backend else None
        asked_a_model = provider.uses_model if provider else bool(backend)  # an engine without a model: no prompt
        return cls(job_id=str(state.get("id") or ""), job_name=str(state.get("name") or ""),
                   status=str(getattr(status, "value", status) or state.get("status") or ""),
                   backend=backend, model=state.get("model"),
                   prompt_version=PROMPT_VERSION if asked_a_model else None,
                   created_at=_parse_time(state.get("created_at")), skipped=SkippedFile.list_from(state.get("skipped")))


def _parse_time(value: Any) -> dt.datetime | None:
    """An ISO-8601 time from job state; anything unreadable is left out rather than failing the export."""
    if isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def _naive_utc(value: dt.datetime) -> dt.datetime:
    """Excel has no time zones: store UTC wall time (the label says UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value.replace(microsecond=0)


def _set(cell: Any, value: Any, number_format: str | None = None) -> None:
    """Write a value so it can never become a formula: text is forced to a string cell and
    formula-looking text gets Excel's quotePrefix (shown as text even after editing).
    Dates become date cells (a serial number with a date format)."""
    if value is None or isinstance(value, bool):
        cell.value = value
        return
    if isinstance(value, dt.datetime):
        cell.value = _naive_utc(value)
        cell.number_format = number_format or DATETIME_FORMAT
        return
    if isinstance(value, dt.date):
        cell.value = value
        cell.number_format = number_format or DATE_FORMAT
        return
    if isinstance(value, (int, float)):
        cell.value = value
        if number_format:
            cell.number_format = number_format
        return
    text = _ILLEGAL_XML.sub("", str(value))[:_EXCEL_CELL_LIMIT]
    cell.value = text
    cell.data_type = "s"
    stripped = text.lstrip(" ")
    if stripped[:1] in _FORMULA_START and not _PLAIN_NUMBER.match(stripped):
        cell.quotePrefix = True


def _excel_value(value: Any, vtype: VariableType | None = None) -> Any:
    """Numbers stay numbers and full dates of date variables become dates (both sortable and
    filterable in Excel); everything else is the table text. Partial dates ("2019-06", "2019")
    and dates before 1900 (which Excel cannot show) stay text."""
    if isinstance(value, bool) or value is None:
        return format_value(value)
    if isinstance(value, (int, float)):
        return value
    if vtype == VariableType.DATE and isinstance(value, str) and _ISO_DATE.match(value):
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            return value
        return day if day.year >= 1900 else value
    return format_value(value)


def _header(ws: Any, columns: Sequence[str], *, freeze: str = "B2") -> None:
    from openpyxl.styles import Font, PatternFill

    for col, name in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=col)
        _set(cell, name)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", start_color=HEADER_FILL, end_color=HEADER_FILL)
    ws.freeze_panes = freeze


def _filter(ws: Any) -> None:
    """Auto-filter over the header and every row (sort and filter by value, status, file...)."""
    from openpyxl.utils import get_column_letter

    ws.auto_filter.ref = f"A1:{get_column_letter(max(ws.max_column, 1))}{max(ws.max_row, 1)}"


def _display_width(value: Any) -> int:
    if isinstance(value, dt.datetime):
        return 16
    if isinstance(value, dt.date):
        return 10
    return max((len(line) for line in str(value).splitlines()), default=0)


def _widths(ws: Any, minimum: int = 8, maximum: int = 60) -> None:
    from openpyxl.utils import get_column_letter

    widths: dict[int, int] = {}
    for row in ws.iter_rows():
        for cell in row:
            if cell.value is not None:
                widths[cell.column] = max(widths.get(cell.column, 0), _display_width(cell.value))
    for col, width in widths.items():
        # +2 for the filter button in the header
        ws.column_dimensions[get_column_letter(col)].width = max(minimum, min(maximum, width + 3))


def _variable_names(documents: Sequence[DocumentResult], variables: Sequence[Variable] | None) -> list[str]:
    names = [v.name for v in variables or ()]
    for doc in documents:
        for a in doc.variables:
            if a.name not in names:
                names.append(a.name)
    return names


def _types(variables: Sequence[Variable] | None) -> dict[str, VariableType]:
    return {v.name: v.type for v in variables or ()}


def _results_sheet(ws: Any, documents: Sequence[DocumentResult], names: list[str],
                   types: Mapping[str, VariableType]) -> None:
    from openpyxl.comments import Comment
    from openpyxl.styles import Font, PatternFill

    review = PatternFill("solid", start_color=REVIEW_FILL, end_color=REVIEW_FILL)
    error = PatternFill("solid", start_color=ERROR_FILL, end_color=ERROR_FILL)
    quiet = Font(italic=True, color="595959")
    _header(ws, ["file", "status", *names])
    for r, doc in enumerate(documents, start=2):
        _set(ws.cell(row=r, column=1), doc.file)
        _set(ws.cell(row=r, column=2), _doc_status(doc))
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
            text = cell_text(a)
            if text is not None:
                _set(cell, text)
                cell.font = quiet
            else:
                value = _excel_value(a.value, types.get(name))
                _set(cell, value)
                marked = marker_format(a, value, cell.number_format)
                if marked:
                    cell.number_format = marked
            if a.status == AnswerStatus.NEEDS_REVIEW:
                cell.fill = review
            elif a.status == AnswerStatus.ERROR:
                cell.fill = error
            comment = comment_text(a)
            if comment:
                cell.comment = Comment(_ILLEGAL_XML.sub("", comment)[:2000], "Policy Reader")
    _filter(ws)
    _widths(ws, maximum=45)


# (header, cell value for one answer of one document); types maps variable names to their types
_EvidenceGetter = Callable[[DocumentResult, Answer, Mapping[str, VariableType]], Any]
EVIDENCE_FIELDS: list[tuple[str, _EvidenceGetter]] = [
    ("file", lambda d, a, t: d.file),
    ("variable", lambda d, a, t: a.name),
    ("value", lambda d, a, t: _excel_value(a.value, t.get(a.name))),
    ("page", lambda d, a, t: _page(a, d)),
    ("evidence", lambda d, a, t: a.evidence),
    ("confidence", lambda d, a, t: round(float(a.confidence), 3)),
    ("status", lambda d, a, t: marked_label(a)),
    ("reviewed", lambda d, a, t: "yes" if a.reviewed else "no"),
    ("note", lambda d, a, t: a.note),
    ("match kind", lambda d, a, t: _kind(a)),
    ("span", lambda d, a, t: format_span(a)),
    ("printed page", lambda d, a, t: _page_label(a, d)),
    ("original value", lambda d, a, t: original_text(a)),
    ("corrected by", lambda d, a, t: corrected_by(a)),
    ("corrected at", lambda d, a, t: _parse_time(corrected_at(a))),
    ("correction note", lambda d, a, t: a.review.note if a.review is not None else ""),
]


def _evidence_sheet(ws: Any, documents: Sequence[DocumentResult], types: Mapping[str, VariableType]) -> None:
    from openpyxl.styles import Alignment

    headers = [name for name, _ in EVIDENCE_FIELDS]
    wrap = headers.index("evidence") + 1
    _header(ws, headers, freeze="C2")
    r = 2
    for doc in documents:
        for a in doc.variables:
            for c, (_, get) in enumerate(EVIDENCE_FIELDS, start=1):
                _set(ws.cell(row=r, column=c), get(doc, a, types))
            ws.cell(row=r, column=wrap).alignment = Alignment(wrap_text=True, vertical="top")
            r += 1
    _filter(ws)
    _widths(ws, maximum=80)


def _errors_sheet(ws: Any, documents: Sequence[DocumentResult], skipped: Sequence[SkippedFile] = ()) -> None:
    _header(ws, ["file", "variable", "code", "error"])
    r = 2
    for skip in skipped:
        for c, value in enumerate([skip.name, "", f"skipped ({skip.code})", f"not read: {skip.reason}"], start=1):
            _set(ws.cell(row=r, column=c), value)
        r += 1
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


def _count(documents: Sequence[DocumentResult], test: Callable[[Answer], bool]) -> int:
    return sum(1 for d in documents for a in d.variables if test(a))


def audit_summary_rows(estimate: "AuditEstimate") -> list[SummaryRow]:
    """The Excel Summary sheet's lines for an audit estimate (here, not in accuracy/audit.py: the stats
    code does not know the workbook's row type)."""
    R = SummaryRow
    overall = estimate.overall
    rows = [R(label="accuracy of accepted answers (audit)",
              value=overall.accuracy if overall.n else "no sampled answer marked yet",
              number_format="0.0%" if overall.n else None)]
    if overall.n:
        rows.append(R(label="95% interval (Wilson)",
                      value=f"{100 * (overall.ci_low or 0):.1f}% – {100 * (overall.ci_high or 0):.1f}% "
                            f"({overall.correct} of {overall.n} marked right)"))
    rows += [R(label="audit sample", value=estimate.sample_text()),
             R(label="audited model and prompt", value=estimate.model_text())]
    for name, score in estimate.variables.items():
        rows.append(R(label=f"accuracy: {name}",
                      value=f"{score.text()}; {score.population} accepted" if score.n
                      else f"not in the sample ({score.population} accepted)"))
    return rows


def summary_rows(documents: Sequence[DocumentResult], variables: Sequence[Variable] | None, usage: Usage,
                 info: WorkbookInfo, accuracy: Sequence[SummaryRow] | None = None) -> list[SummaryRow | None]:
    """The Summary sheet's lines (None = a blank separator line)."""
    R = SummaryRow
    names = _variable_names(documents, variables)
    not_measured = R(label="accuracy estimate", value="not measured for this job")
    return [
        R(label="job name", value=info.job_name or "(unnamed job)"),
        R(label="job id", value=info.job_id),
        R(label="status", value=info.status),
        R(label="created (UTC)", value=info.created_at),
        R(label="exported (UTC)", value=info.exported_at),
        R(label="backend", value=info.backend),
        R(label="model", value=info.model),
        R(label="prompt version", value=info.prompt_version or "n/a (no prompt: offline extractor)"),
        None,
        R(label="files uploaded", value=len(documents) + len(info.skipped)),
        R(label="documents", value=len(documents)),
        R(label="documents read", value=sum(1 for d in documents if d.status == "ok")),
        R(label="documents failed", value=sum(1 for d in documents if d.status != "ok")),
        R(label="files skipped (not read; see Errors)", value=len(info.skipped)),
        R(label="pages", value=sum(d.pages for d in documents)),
        R(label="variables", value=len(names)),
        R(label="answers", value=_count(documents, lambda a: True)),
        R(label="answers accepted", value=_count(documents, lambda a: a.status == AnswerStatus.ACCEPTED)),
        R(label="answers to review (not yet reviewed)",
          value=_count(documents, lambda a: a.status == AnswerStatus.NEEDS_REVIEW and not a.reviewed)),
        R(label="answers not stated in the document",
          value=_count(documents, lambda a: a.status == AnswerStatus.NOT_FOUND)),
        R(label="answers corrected by an analyst", value=_count(documents, lambda a: a.status == AnswerStatus.CORRECTED)),
        R(label="answers with errors", value=_count(documents, lambda a: a.status == AnswerStatus.ERROR)),
        R(label="answers reviewed by an analyst", value=_count(documents, lambda a: a.reviewed)),
        None,
        R(label="model calls", value=usage.calls),
        R(label="prompt tokens", value=usage.prompt_tokens),
        R(label="cached prompt tokens", value=usage.cached_prompt_tokens),
        R(label="completion tokens", value=usage.completion_tokens),
        R(label="estimated cost (USD)", value=round(usage.cost_usd, 6), number_format=COST_FORMAT),
        None,
        *(accuracy if accuracy else [not_measured]),
        None,
        R(label="sheet Results", value="one row per document, one column per variable; each cell's status is "
                                       "marked in text (see sheet Legend): '?' after a value = needs review, "
                                       "'✎' = corrected (its comment has the history), '– not stated', "
                                       "'! error'; amber and red only repeat it"),
        R(label="sheet Evidence", value="one row per answer: the quote, its page, confidence, status and note, "
                                        "and for a correction the original value, who corrected it, when and why"),
        R(label="sheet Errors", value="failed documents, skipped files and answers the engine could not read"),
        R(label="sheet Legend", value="every answer status, its marker and what it means"),
    ]


def _summary_sheet(ws: Any, rows: Sequence[SummaryRow | None]) -> None:
    from openpyxl.styles import Alignment, Font

    _set(ws.cell(row=1, column=1), "Policy Reader results")
    ws.cell(row=1, column=1).font = Font(bold=True, size=14)
    for r, row in enumerate(rows, start=3):
        if row is None:
            continue
        _set(ws.cell(row=r, column=1), row.label)
        ws.cell(row=r, column=1).font = Font(bold=True)
        value = ws.cell(row=r, column=2)
        _set(value, row.value, row.number_format)
        value.alignment = Alignment(horizontal="left", wrap_text=isinstance(row.value, str))
    ws.column_dimensions["A"].width = 32
    ws.column_dimensions["B"].width = 70


def _legend_sheet(ws: Any) -> None:
    _header(ws, ["marker", "status", "meaning"], freeze="A2")
    for r, row in enumerate(legend_rows(), start=2):
        for c, value in enumerate(row, start=1):
            _set(ws.cell(row=r, column=c), value)
    _set(ws.cell(row=len(ANSWER_STATUS_LABELS) + 3, column=2), "failed document")
    _set(ws.cell(row=len(ANSWER_STATUS_LABELS) + 3, column=3),
         "the status column of the Results sheet says failed; the reason is in its comment and the Errors sheet")
    _set(ws.cell(row=len(ANSWER_STATUS_LABELS) + 4, column=2), "skipped file")
    _set(ws.cell(row=len(ANSWER_STATUS_LABELS) + 4, column=3),
         "an upload that was not read (not a PDF, empty, too large, a duplicate): listed in the Errors sheet")
    _widths(ws, maximum=100)


def to_xlsx(documents: list[DocumentResult], variables: Sequence[Variable] | None, usage: Usage,
            info: WorkbookInfo | None = None, *, accuracy: Sequence[SummaryRow] | None = None) -> bytes:
    """Workbook with sheets Summary (first: what the file is), Results (one row per document),
    Evidence and Errors. `accuracy`: the measured-accuracy lines for the Summary, when known."""
    from openpyxl import Workbook

    types = _types(variables)
    wb = Workbook()
    summary = wb.active
    summary.title = "Summary"
    _summary_sheet(summary, summary_rows(documents, variables, usage, info or WorkbookInfo(), accuracy))
    _results_sheet(wb.create_sheet("Results"), documents, _variable_names(documents, variables), types)
    _evidence_sheet(wb.create_sheet("Evidence"), documents, types)
    _errors_sheet(wb.create_sheet("Errors"), documents, (info or WorkbookInfo()).skipped)
    _legend_sheet(wb.create_sheet("Legend"))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --------------------------------------------------------------------------- the formats, in one place

class ExportInput(BaseModel):
    """Everything a job's export is made from (reviews applied), gathered once per build."""

    model_config = {"arbitrary_types_allowed": True}

    job_id: str
    status: str
    documents: list[DocumentResult]
    variables: list[Variable] | None = None
    usage: Usage
    info: WorkbookInfo
    estimate: Any = None  # accuracy.audit.AuditEstimate | None: the audit's estimate, when one is measured


class ExportFormat(BaseModel):
    """One download format: its name (the file is `results.<name>`), MIME type and renderer."""

    name: str
    label: str
    mime: str
    render: Callable[[ExportInput], bytes]


def _render_json(job: ExportInput) -> bytes:
    return to_json(job_payload(job.job_id, job.status, job.documents, job.usage,
                               accuracy=job.estimate.to_json() if job.estimate else None, skipped=job.info.skipped))


def _render_xlsx(job: ExportInput) -> bytes:
    return to_xlsx(job.documents, job.variables, job.usage, job.info,
                   accuracy=audit_summary_rows(job.estimate) if job.estimate else None)


#: Adding a format = a renderer above and a row here: the job's exports, their storage names, the facade's
#: and the CLI's format checks read this table.
EXPORT_FORMATS: dict[str, ExportFormat] = {f.name: f for f in (
    ExportFormat(name="json", label="JSON", mime="application/json", render=_render_json),
    ExportFormat(name="csv", label="CSV", mime="text/csv", render=lambda job: to_csv(job.documents, job.info.skipped)),
    ExportFormat(name="xlsx", label="Excel",
                 mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", render=_render_xlsx),
)}
