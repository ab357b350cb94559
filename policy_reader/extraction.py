"""From document text to checked answers: chunking, asking, evidence check, statuses, merge.

Pure domain logic over an Extractor: no file or network I/O of its own.

* Token estimate: len(text) / 4 characters per token. That is the usual average for English with
  OpenAI tokenizers; it only sizes chunks (CHUNK_TOKENS has ample headroom below the context window),
  so a tokenizer dependency would buy nothing.
* Chunks: whole pages packed greedily within the budget; a page larger than the budget alone is
  split by characters at whitespace, with a small overlap so a sentence on a cut is seen whole.
  Every chunk is asked (no lexical skipping: it would save tokens at the cost of missed answers).
* Evidence check: the quote must occur in the document text, compared after normalising case,
  whitespace, quote marks, dashes, ligatures and line-end hyphenation. A quote with "..." must have
  its parts in order on one page. A quote found on another page than claimed fixes the page.
* Statuses: not_found (no value) / accepted (confidence >= threshold, evidence verified, no problem,
  variable not always_review) / needs_review (anything else, the note says why) / error (the model
  failed on pages that may hold the answer).
* Merge: per variable, the best supported answer wins (verified evidence first, then confidence);
  every page that supports the same value is kept in Answer.pages; list values are united.
"""
from __future__ import annotations

import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import LlmError
from .extractor import Extractor
from .models import Answer, AnswerStatus, DocumentText, PageText, Usage, Variable, VariableType
from .pacing import call_context

ProgressFn = Callable[[str, int, int], None]

CHARS_PER_TOKEN = 4
#: Tokens of the `<page number="N">` markers around each page.
PAGE_OVERHEAD_TOKENS = 8
#: Characters repeated between the parts of one split page.
SPLIT_OVERLAP_CHARS = 300
EVIDENCE_NOT_FOUND = "evidence not found in the document"
#: Chunk failures that concern only that chunk's reply; any other LlmError fails the document.
_CHUNK_LOCAL_CODES = frozenset({"bad_response", "truncated"})


class Cancelled(Exception):
    """The job was cancelled (should_stop() turned true) between chunks."""


def estimate_tokens(text: str) -> int:
    """Rough token count: characters / 4 (see the module docstring for why that suffices)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


# --------------------------------------------------------------------------- chunking


def split_page(page: PageText, max_chars: int, overlap: int = SPLIT_OVERLAP_CHARS) -> list[PageText]:
    """Cut one oversized page into parts of at most `max_chars`, at whitespace, overlapping a little."""
    text = page.text
    if len(text) <= max_chars:
        return [page]
    overlap = min(overlap, max_chars // 4)
    parts: list[PageText] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + max_chars)
        if end < len(text):
            cut = text.rfind(" ", start + max_chars // 2, end)
            cut = max(cut, text.rfind("\n", start + max_chars // 2, end))
            end = cut if cut > start else end
        parts.append(PageText(number=page.number, text=text[start:end], ocr=page.ocr))
        if end >= len(text):
            break
        nxt = end - overlap
        space = text.find(" ", nxt, end)
        start = space + 1 if space != -1 else max(nxt, start + 1)
    return parts


def chunk_pages(pages: list[PageText], budget_tokens: int) -> list[list[PageText]]:
    """Pack pages (in order) into chunks of at most `budget_tokens` of text each."""
    max_chars = max(200, (budget_tokens - PAGE_OVERHEAD_TOKENS) * CHARS_PER_TOKEN)
    chunks: list[list[PageText]] = []
    current: list[PageText] = []
    used = 0
    for page in pages:
        if not page.text.strip():
            continue
        for part in split_page(page, max_chars):
            cost = estimate_tokens(part.text) + PAGE_OVERHEAD_TOKENS
            if current and used + cost > budget_tokens:
                chunks.append(current)
                current, used = [], 0
            current.append(part)
            used += cost
    if current:
        chunks.append(current)
    return chunks


# --------------------------------------------------------------------------- evidence

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
                         "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u00ab": '"',
                         "\u00bb": '"', "\u2033": '"', "\u2010": "-", "\u2011": "-", "\u2012": "-",
                         "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-", "\u00ad": None})
_HYPHEN_BREAK = re.compile(r"(\w)-[ \t]*\r?\n\s*(\w)")
_NON_ALNUM = re.compile(r"[\W_]+", re.UNICODE)
_ELLIPSIS = re.compile(r"\.\s*\.\s*\.|\u2026|\[\s*\.\.\.\s*\]")


def normalise(text: str) -> str:
    """Case, quotes, dashes, ligatures, line-end hyphenation and whitespace made uniform."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    text = _HYPHEN_BREAK.sub(r"\1\2", text)
    return " ".join(text.casefold().split())


def _loose(text: str) -> str:
    """Letters and digits only: immune to spacing, punctuation and hyphenation differences."""
    return _NON_ALNUM.sub("", normalise(text))


class EvidenceIndex:
    """The document's pages in comparable form, built once per document."""

    def __init__(self, pages: list[PageText]) -> None:
        self._pages: dict[int, str] = {}
        for page in pages:  # a page given in parts is joined back
            self._pages[page.number] = self._pages.get(page.number, "") + _loose(page.text)

    def locate(self, quote: str, claimed_page: int | None) -> int | None:
        """The page holding `quote` (the claimed page first), or None when it is not in the document."""
        fragments = [_loose(f) for f in _ELLIPSIS.split(quote.strip().strip("\"'\u201c\u201d"))]
        fragments = [f for f in fragments if f]
        if not fragments:
            return None
        order = [claimed_page] if claimed_page in self._pages else []
        order += [n for n in self._pages if n != claimed_page]
        for number in order:
            if _in_order(fragments, self._pages[number]):
                return number
        return None


def _in_order(fragments: list[str], text: str) -> bool:
    pos = 0
    for frag in fragments:
        found = text.find(frag, pos)
        if found == -1:
            return False
        pos = found + len(frag)
    return True


# --------------------------------------------------------------------------- statuses


def has_answer(answer: Answer) -> bool:
    """A value, or no value but the extractor flagged something to review (e.g. an unreadable value)."""
    return answer.value is not None or (answer.status is AnswerStatus.NEEDS_REVIEW and bool(answer.note))


@dataclass
class _Candidate:
    answer: Answer
    verified: bool


def check_evidence(answer: Answer, index: EvidenceIndex) -> _Candidate:
    """Verify the quote against the document text; fix the page when the quote is elsewhere."""
    if not has_answer(answer):
        return _Candidate(answer, False)
    page = index.locate(answer.evidence, answer.page) if answer.evidence else None
    if page is None:
        return _Candidate(answer, False)
    return _Candidate(answer.model_copy(update={"page": page}), True)


def decide_status(answer: Answer, variable: Variable, verified: bool, threshold: float,
                  ocr_pages: set[int], extra_notes: tuple[str, ...] = ()) -> Answer:
    """Apply the acceptance rule; the note lists every reason an answer needs review."""
    if not has_answer(answer):
        return Answer(name=answer.name, status=AnswerStatus.NOT_FOUND, note=answer.note)
    reasons: list[str] = [answer.note] if answer.note else []
    if not verified:
        reasons.append(EVIDENCE_NOT_FOUND if answer.evidence else "no evidence quoted")
    if answer.confidence < threshold:
        reasons.append(f"confidence {answer.confidence:.2f} is below {threshold:.2f}")
    if variable.always_review:
        reasons.append("always reviewed (variable setting)")
    reasons.extend(extra_notes)
    pages = sorted(set(answer.pages) | ({answer.page} if answer.page is not None else set()))
    return answer.model_copy(update={
        "status": AnswerStatus.NEEDS_REVIEW if reasons else AnswerStatus.ACCEPTED,
        "note": "; ".join(reasons),
        "pages": pages,
        "from_ocr": answer.page in ocr_pages if answer.page is not None else False,
    })


# --------------------------------------------------------------------------- merge


def _value_key(value: Any) -> Any:
    if isinstance(value, str):
        return " ".join(value.casefold().split())
    if isinstance(value, (list, tuple)):
        return frozenset(_value_key(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def merge_candidates(variable: Variable, candidates: list[_Candidate], threshold: float,
                     ocr_pages: set[int]) -> Answer:
    """Best supported answer wins; same-value pages are kept; strong disagreement needs review."""
    found = [c for c in candidates if has_answer(c.answer)]
    if not found:
        unasked = next((c.answer for c in candidates if c.answer.status is AnswerStatus.ERROR), None)
        if unasked is not None:  # the extractor could not ask it (e.g. a refused schema): say so
            return Answer(name=variable.name, status=AnswerStatus.ERROR, note=unasked.note)
        note = next((c.answer.note for c in candidates if c.answer.note), "")
        return Answer(name=variable.name, status=AnswerStatus.NOT_FOUND, note=note)
    best = max(found, key=lambda c: (c.verified, c.answer.value is not None, c.answer.confidence))
    answer = best.answer
    agreeing = [c for c in found if c.verified and _value_key(c.answer.value) == _value_key(answer.value)]
    pages = {p for c in agreeing for p in [c.answer.page, *c.answer.pages] if p is not None}
    notes: list[str] = []
    if variable.type is VariableType.LIST and best.verified and isinstance(answer.value, list):
        merged = list(answer.value)
        for c in found:
            if c.verified and isinstance(c.answer.value, list):
                extra = [v for v in c.answer.value if _value_key(v) not in {_value_key(m) for m in merged}]
                if extra:
                    merged.extend(extra)
                    if c.answer.page is not None:
                        pages.add(c.answer.page)
        answer = answer.model_copy(update={"value": merged})
    elif best.verified:
        rivals = [c for c in found if c.verified and c.answer.value is not None and c.answer.confidence >= threshold
                  and _value_key(c.answer.value) != _value_key(answer.value)]
        if rivals:
            shown = ", ".join(f"{c.answer.value!r} (page {c.answer.page})" for c in rivals[:3])
            notes.append(f"other passages give a different answer: {shown}")
    answer = answer.model_copy(update={"pages": sorted(pages)})
    return decide_status(answer, variable, best.verified, threshold, ocr_pages, tuple(notes))


# --------------------------------------------------------------------------- the loop


@dataclass
class ExtractionOutcome:
    answers: list[Answer]
    usage: Usage = field(default_factory=Usage)
    chunks: int = 0
    #: False when some chunk failed: the answers are partial and must not be cached.
    complete: bool = True


def extract_document(doc: DocumentText, variables: list[Variable], extractor: Extractor, *,
                     threshold: float, progress: ProgressFn | None = None,
                     should_stop: Callable[[], bool] | None = None,
                     parallel_chunks: int = 4) -> ExtractionOutcome:
    """Ask every chunk, check evidence, merge. Raises Cancelled, or LlmError when nothing could be asked.

    Chunks of one document are asked in parallel (up to `parallel_chunks`; the process-wide call
    limit in llm.py still bounds the total), so a 300-page document costs about one call's latency,
    not ten. Results are merged in page order, so the outcome does not depend on timing.
    """
    chunks = chunk_pages(doc.pages, extractor.chunk_tokens)
    index = EvidenceIndex(doc.pages)
    ocr_pages = set(doc.ocr_pages)
    total = len(variables)
    _report(progress, "asking", 0, total)
    done_lock = threading.Lock()
    finished = [0]

    def on_wait(waiting: bool) -> None:  # the model's quota holds a call of this document
        with done_lock:
            done = finished[0]
        _report(progress, "waiting for quota" if waiting else "asking", round(total * done / len(chunks)), total)

    def ask(chunk: list[PageText]) -> tuple[list[Answer], Usage]:
        if should_stop is not None and should_stop():
            raise Cancelled()
        with call_context(on_wait=on_wait, should_stop=should_stop):
            try:
                outcome = extractor.answer(chunk, variables)
            except LlmError as exc:
                if exc.code == "cancelled":
                    raise Cancelled() from None
                raise
        with done_lock:
            finished[0] += 1
            done = finished[0]
        _report(progress, "asking", round(total * done / len(chunks)), total)
        return outcome

    outcomes: list[tuple[list[Answer], Usage] | LlmError] = []
    if len(chunks) <= 1 or parallel_chunks <= 1:
        for chunk in chunks:
            try:
                outcomes.append(ask(chunk))
            except LlmError as exc:
                outcomes.append(exc)
    else:
        with ThreadPoolExecutor(max_workers=min(parallel_chunks, len(chunks)),
                                thread_name_prefix="chunk") as pool:
            futures = [pool.submit(contextvars.copy_context().run, ask, chunk) for chunk in chunks]
            for future in futures:
                try:
                    outcomes.append(future.result())
                except LlmError as exc:
                    outcomes.append(exc)
                except Cancelled:
                    for other in futures:
                        other.cancel()
                    raise

    per_var: dict[str, list[_Candidate]] = {v.name: [] for v in variables}
    usage = Usage()
    for outcome in outcomes:  # failed chunks count too: their calls were made and billed
        spent = (getattr(outcome, "spent", None) or Usage()) if isinstance(outcome, LlmError) else outcome[1]
        usage = usage.add(spent)
    failures: list[tuple[list[PageText], LlmError]] = []
    for chunk, outcome in zip(chunks, outcomes):
        if isinstance(outcome, LlmError):
            if outcome.code not in _CHUNK_LOCAL_CODES or len(chunks) == 1:
                raise _with_spent(outcome, usage)
            failures.append((chunk, outcome))
            continue
        answers, _chunk_usage = outcome
        for var, ans in zip(variables, answers):
            per_var[var.name].append(check_evidence(ans, index))
    if chunks and len(failures) == len(chunks):
        raise _with_spent(failures[-1][1], usage)
    _report(progress, "merging", total, total)
    merged = [merge_candidates(v, per_var[v.name], threshold, ocr_pages) for v in variables]
    if failures:
        merged = [_mark_failed(a, failures) for a in merged]
    unasked = any(a.status is AnswerStatus.ERROR for a in merged)
    return ExtractionOutcome(answers=merged, usage=usage, chunks=len(chunks), complete=not failures and not unasked)


def _with_spent(error: LlmError, usage: Usage) -> LlmError:
    """Attach what the document's other chunks already cost: a failed document still counts its
    tokens (cost reports and token budgets stay honest)."""
    error.spent = usage  # type: ignore[attr-defined]
    return error


def _mark_failed(answer: Answer, failures: list[tuple[list[PageText], LlmError]]) -> Answer:
    """An answer not found elsewhere may be on the pages the model failed on: say so (status error)."""
    if answer.status is not AnswerStatus.NOT_FOUND:
        return answer
    spans = ", ".join(_span(chunk) for chunk, _ in failures)
    return answer.model_copy(update={"status": AnswerStatus.ERROR,
                                     "note": f"pages {spans} could not be read by the model: {failures[-1][1]}"})


def _span(chunk: list[PageText]) -> str:
    first, last = chunk[0].number, chunk[-1].number
    return str(first) if first == last else f"{first}-{last}"


def _report(progress: ProgressFn | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)
