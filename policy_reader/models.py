"""Data that crosses module lines: variables, pages, answers, document results, usage.

Pydantic models so that every job file round-trips through JSON with validation
(`model_dump(mode="json")` / `model_validate`).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class VariableType(str, Enum):
    TEXT = "text"
    NUMBER = "number"
    YEAR = "year"
    DATE = "date"  # ISO 8601 yyyy-mm-dd (or yyyy-mm / yyyy when that is all the document says)
    BOOLEAN = "boolean"
    CATEGORY = "category"  # exactly one of `options`
    LIST = "list"  # several of `options`, or free strings when there are no options


class Variable(BaseModel):
    """One thing the analyst wants from every document."""

    model_config = ConfigDict(frozen=True)

    name: str  # identifier-like, unique within a job: "year_adopted"
    question: str  # "In which year was the policy adopted?"
    type: VariableType = VariableType.TEXT
    options: tuple[str, ...] = ()
    instructions: str = ""
    always_review: bool = False


class AnswerStatus(str, Enum):
    ACCEPTED = "accepted"
    NEEDS_REVIEW = "needs_review"
    NOT_FOUND = "not_found"  # the document does not state it: a finding, shown as "not stated"
    ERROR = "error"
    CORRECTED = "corrected"  # an analyst changed the value (never written by an engine; see Answer.review)


@dataclass(frozen=True)
class StatusLabel:
    """How one answer status reads everywhere (page, CSV, Excel, JSON, email): a word and a text marker,
    so no state is told by colour alone, and the legend line that explains it."""

    label: str  # "not stated"
    marker: str  # a plain-text sign shown before the value: "✓", "?", "–", "!", "✎"
    meaning: str  # the legend's sentence


# The one vocabulary of answer statuses: the page's legend, the exports and the email import it.
ANSWER_STATUS_LABELS: dict[AnswerStatus, StatusLabel] = {
    AnswerStatus.ACCEPTED: StatusLabel("accepted", "✓", "the quote was found in the document and states the "
                                                          "value; confident enough to accept"),
    AnswerStatus.NEEDS_REVIEW: StatusLabel("needs review", "?", "a value was found but something is doubtful "
                                                                "(the note says what): check it"),
    AnswerStatus.NOT_FOUND: StatusLabel("not stated", "–", "the document does not state this: a finding, "
                                                           "not a blank"),
    AnswerStatus.ERROR: StatusLabel("error", "!", "the engine could not answer (the note says why)"),
    AnswerStatus.CORRECTED: StatusLabel("corrected", "✎", "an analyst changed the value; the original value, "
                                                          "who, when and why are kept"),
}


def status_label(status: AnswerStatus | str) -> StatusLabel:
    """The label of a status (an unknown stored status reads as itself, never a crash)."""
    try:
        return ANSWER_STATUS_LABELS[AnswerStatus(getattr(status, "value", status))]
    except ValueError:
        text = str(getattr(status, "value", status))
        return StatusLabel(text.replace("_", " "), "•", text)


class MatchKind(str, Enum):
    """How an answer's quote was found in the document text (see grounding.py)."""

    EXACT = "exact"  # found as is (case, spacing, punctuation, hyphenation and page markers aside)
    FUZZY = "fuzzy"  # found approximately (OCR noise, small model edits); `similarity` says how close
    NONE = "none"  # not found, or no quote at all


class SpanPart(BaseModel):
    """One piece of an aligned quote: characters [start, end) of one page's text (PageText.text).

    A quote that runs over a page break has one part per page; a quote elided with "..." has one
    part per piece."""

    model_config = ConfigDict(frozen=True)

    page: int  # 1-based
    start: int
    end: int


class Passage(BaseModel):
    """Another passage behind an answer: a list's other items, or a rival value for a single answer."""

    value: Any = None
    evidence: str = ""
    page: int | None = None
    match_kind: MatchKind = MatchKind.NONE
    span: list[SpanPart] = Field(default_factory=list)
    agrees: bool = True  # False: this passage gives a different value (the answer needs review)
    source: str = ""  # "" = the answering engine; "second opinion: <engine>" (second_opinion.py)


class Review(BaseModel):
    """An analyst's decision on one answer, kept with its history: the engine's value and the stored
    one, who decided (the signed-in user), when (UTC ISO) and why (an optional note).

    Stored in reviews.json beside the engine's results (which are never rewritten) and applied on every
    read (jobs/result_book.py), so the engine's answer is always still there."""

    value: Any = None  # the value the analyst stored (None: "not stated in the document")
    original_value: Any = None  # the engine's value
    changed: bool = False  # the stored value differs from the engine's (the answer reads "corrected")
    by: str = ""  # the signed-in user ("" in reviews written before who was kept)
    at: str = ""  # UTC ISO time
    note: str = ""  # the analyst's optional reason
    action: str | None = None  # the bulk action that made it (JobManager.undo_reviews undoes it)


ReviewAction = Literal["accept", "correct", "not_stated"]


class ReviewDecision(BaseModel):
    """One decision of a review step or a bulk action (JobManager.save_reviews).

    accept: the engine's value is right; correct: store `value` (typed like the engine's answers,
    refused with the reason when it does not fit); not_stated: the document does not state it."""

    doc_id: str
    variable: str
    action: ReviewAction = "accept"
    value: Any = None  # for "correct"
    note: str = ""


class ReviewChange(BaseModel):
    """What one decision changed: the review before (None: there was none) and after."""

    doc_id: str
    variable: str
    before: Review | None = None
    after: Review | None = None  # None: the answer is back to the engine's (an undo)


class ReviewBatch(BaseModel):
    """The outcome of JobManager.save_reviews: one action (one id to undo it), the answers it changed."""

    action_id: str
    changes: list[ReviewChange] = Field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.changes)


class SkippedFile(BaseModel):
    """An uploaded file that was not read (not a PDF, empty, over the size limit, a duplicate): it stays
    in the job's record with the reason, so "4 files uploaded" never silently becomes "2 read"."""

    model_config = ConfigDict(frozen=True)

    name: str
    reason: str  # a sentence: "this is not a PDF file"
    code: Literal["not_pdf", "empty", "too_large", "duplicate", "other"] = "other"
    size: int = 0
    status: Literal["skipped"] = "skipped"

    @classmethod
    def list_from(cls, raw: Any) -> list[SkippedFile]:
        """The skipped files stored in job.json (none in one written before they were kept; an unreadable
        entry is kept by its name rather than failing the view or the export)."""
        out = []
        for item in raw or []:
            try:
                out.append(cls.model_validate(item))
            except ValueError:
                name = item.get("name") if isinstance(item, dict) else item
                out.append(cls(name=str(name)[:300], reason="skipped"))
        return out


class Answer(BaseModel):
    """The answer to one variable for one document."""

    name: str
    value: Any = None  # typed: str | float | int | bool | list[str] | None
    evidence: str = ""  # verbatim quote from the document
    page: int | None = None  # 1-based page where the quote (and the value in it) really is; never the
    # model's claim alone, never outside the document
    pages: list[int] = Field(default_factory=list)  # every page that supported the answer
    match_kind: MatchKind = MatchKind.NONE  # how the quote was found in the document
    similarity: float = 0.0  # 1.0 exact; a fuzzy match's closeness (grounding.FUZZY_ACCEPT to be accepted)
    span: list[SpanPart] = Field(default_factory=list)  # where the quote is, page by page
    passages: list[Passage] = Field(default_factory=list)  # the other quotes behind (or against) the value
    coverage: str = ""  # what was read: "3 items from 2 passages" / "not in pages 1-12 (3-4 by OCR)"
    confidence: float = 0.0  # 0..1
    status: AnswerStatus = AnswerStatus.NOT_FOUND
    note: str = ""  # why it needs review, or the error message
    from_ocr: bool = False  # evidence page was read by OCR
    page_label: str | None = None  # the printed number of `page` (PageText.label), for the paper copy
    reviewed: bool = False  # an analyst checked (and maybe corrected) it
    original_value: Any = None  # the model's value when an analyst corrected it
    review: Review | None = None  # the analyst's decision and its history (who, when, note)

    @property
    def corrected(self) -> bool:
        return self.status == AnswerStatus.CORRECTED


def page_reference(page: int | None, label: str | None = None, *, word: str = "page") -> str:
    """'page 105 (printed 98)': the PDF page, the page of record, and the printed number when it differs.

    One wording for the results page, the exports' notes and the email (`word="p."` for tight spots);
    "" when there is no page."""
    if page is None:
        return ""
    shown = f"{word} {page}"
    if label and label != str(page):
        shown += f" (printed {label})"
    return shown


class PageText(BaseModel):
    number: int  # 1-based: the PDF page, the page of record
    text: str
    ocr: bool = False
    label: str | None = None  # the printed page number ("98", "iv") when the PDF has one (/PageLabels or
    # a header/footer number running in sequence); None when not known


class DocumentText(BaseModel):
    pages: list[PageText]
    page_count: int
    sha256: str  # of the file bytes; the cache key
    title: str = ""
    warnings: list[str] = Field(default_factory=list)
    ocr_unavailable: bool = False  # some page needed OCR, which cannot run on this server (ocr.availability())

    @property
    def ocr_pages(self) -> list[int]:
        return [p.number for p in self.pages if p.ocr]


class Usage(BaseModel):
    calls: int = 0
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, other: Usage) -> Usage:
        """Return the sum (does not mutate)."""
        return Usage(
            calls=self.calls + other.calls,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            cached_prompt_tokens=self.cached_prompt_tokens + other.cached_prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cost_usd=round(self.cost_usd + other.cost_usd, 6),
        )


class DocumentResult(BaseModel):
    """The checkpoint for one finished document: written once, never recomputed."""

    doc_id: str  # stable id inside the job ("d0001")
    file: str  # original upload name, for display only
    status: str = "ok"  # "ok" | "failed"
    error: str | None = None  # user-facing message when failed
    error_code: str | None = None  # PdfError/LlmError code
    pages: int = 0
    ocr_pages: list[int] = Field(default_factory=list)
    sha256: str = ""
    variables: list[Answer] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    cached: bool = False  # answers came from the answer cache (no model calls)
    cache_key: str | None = None  # the cache entry this result used or filled (released when the job goes)
    warnings: list[str] = Field(default_factory=list)  # what reading the PDF reported (OCR'd, skipped pages)
    ocr_unavailable: bool = False  # pages needed OCR that cannot run here: the job shows one warning
    elapsed_s: float = 0.0
