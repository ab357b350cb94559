"""From document text to checked answers: chunking, asking, evidence check, statuses, merge.

Pure domain logic over an Extractor: no file or network I/O of its own.

* Token estimate: len(text) / 4 characters per token. That is the usual average for English with
  OpenAI tokenizers; it only sizes chunks (CHUNK_TOKENS has ample headroom below the context window),
  so a tokenizer dependency would buy nothing.
* Chunks: whole pages packed greedily within the budget; a page larger than the budget alone is
  split by characters at whitespace, with a small overlap so a sentence on a cut is seen whole.
  Every chunk is asked (no lexical skipping: it would save tokens at the cost of missed answers).
* Evidence check (grounding.py): the quote is aligned with the whole document (prompt markup
  stripped, exact then fuzzy, across page breaks); the page becomes where it really is (where the
  value is printed when it runs over a break), never the model's claim alone; the document's text
  there must state the value and, for numbers, years, dates and booleans, be about the question.
* Statuses: not_found (no value) / accepted (aligned exact or fuzzy >= FUZZY_ACCEPT, value supported,
  confidence >= threshold, no problem, variable not always_review: confidence alone never accepts) /
  needs_review (anything else, the note says why) / error (the model failed on pages that may hold
  the answer).
* Merge: per variable, the best grounded answer wins; every page that supports the same value is kept
  in Answer.pages; a list gathers the items every aligned passage states (others dropped, noted);
  a rival value with its quote forces review; "not found" says which pages were read.
"""
from __future__ import annotations

import contextvars
import math
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from policy_reader.errors import LlmError
from policy_reader.extraction.extractor import Extractor
from policy_reader.extraction.grounding import Alignment, DocumentIndex, FUZZY_ACCEPT, NOT_FOUND, quote_problem
from policy_reader.extraction.values import Support, value_stated
from policy_reader.extraction.relevance import TermStats, document_stats, relevant, value_support
from policy_reader.reading.quotes import clean_quote
from policy_reader.extraction.placement import locate
from policy_reader.models import (Answer, AnswerStatus, DocumentText, MatchKind, PageText, Passage, Usage, Variable,
                     VariableType)
from policy_reader.llm.pacing import call_context

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


def has_answer(answer: Answer) -> bool:
    """A value, or no value but the extractor flagged something to review (e.g. an unreadable value)."""
    return answer.value is not None or (answer.status is AnswerStatus.NEEDS_REVIEW and bool(answer.note))


@dataclass
class _Candidate:
    """One chunk's answer to one variable, aligned in the document and checked against its value."""

    answer: Answer  # page / span / match kind / similarity from the alignment
    alignment: Alignment = NOT_FOUND
    support: Support = field(default_factory=lambda: Support(False, "no evidence quoted"))
    claimed_page: int | None = None
    text: str = ""  # the document's text at the span

    @property
    def grounded(self) -> bool:
        """Found in the document and saying what the answer says (acceptable or not)."""
        return self.alignment.found and self.support.ok


def check_evidence(answer: Answer, index: DocumentIndex, variable: Variable,
                   chunk_pages: frozenset[int] = frozenset(), others: Sequence[Variable] = (),
                   stats: TermStats | None = None) -> _Candidate:
    """Align the quote in the document; the page becomes where the quote (and the value in it) is.

    Several places may hold the quote: the one whose text supports the value wins, then the chunk's
    own pages, then the first. With the document's `stats` (extract_document passes them), the
    choice is placement.locate's: the place whose surroundings are most about the question, and a
    quote equally about it in several places goes to review saying how often it occurs. The model's
    page is kept only as `claimed_page` (for the note)."""
    claimed = answer.page
    base = answer.model_copy(update={"page": None, "pages": [], "match_kind": MatchKind.NONE, "similarity": 0.0,
                                     "span": []})
    if not has_answer(answer):
        return _Candidate(base, claimed_page=claimed)
    prefer = chunk_pages | ({claimed} if claimed is not None else set())
    if stats is not None and answer.evidence and answer.evidence.strip():
        located = locate(index, variable, answer.value, answer.evidence, others=others, stats=stats, prefer=prefer)
        if located is None:
            reason = quote_problem(answer.evidence) or EVIDENCE_NOT_FOUND
            return _Candidate(base, support=Support(False, reason), claimed_page=claimed)
        alignment = located.alignment
        page = _value_page(index, alignment, variable, answer.value)
        return _Candidate(base.model_copy(update={"page": page, "match_kind": alignment.kind,
                                                  "similarity": alignment.similarity, "span": list(alignment.parts)}),
                          alignment, located.support, claimed, located.text)
    alignments = index.align(answer.evidence, prefer_pages=prefer) if answer.evidence else []
    if not alignments:
        reason = ("no evidence quoted" if not answer.evidence.strip()
                  else quote_problem(answer.evidence) or EVIDENCE_NOT_FOUND)
        return _Candidate(base, support=Support(False, reason), claimed_page=claimed)
    best: tuple[Alignment, Support, str] | None = None
    for alignment in alignments[:8]:
        text = index.aligned_text(alignment)
        support = value_support(variable, answer.value, text, others)
        if best is None or (support.ok and not best[1].ok):
            best = (alignment, support, text)
        if support.ok:
            break
    assert best is not None
    alignment, support, text = best
    page = _value_page(index, alignment, variable, answer.value)
    return _Candidate(base.model_copy(update={"page": page, "match_kind": alignment.kind,
                                              "similarity": alignment.similarity, "span": list(alignment.parts)}),
                      alignment, support, claimed, text)


def _value_page(index: DocumentIndex, alignment: Alignment, variable: Variable, value: Any) -> int:
    """The page of the span where the value itself is printed (a quote over a page break has two;
    a boolean's value is where its subject is named); among several, or none, the page holding
    most of the quote."""
    pages = alignment.pages
    sizes = Counter[int]()
    for part in alignment.parts:
        sizes[part.page] += part.end - part.start
    if len(pages) > 1 and value is not None:
        stating = [p for p in pages if value_stated(variable, value, index.aligned_text(alignment, p)).ok
                   and (variable.type is not VariableType.BOOLEAN
                        or relevant(variable, index.aligned_text(alignment, p))[0])]
        pages = stating or pages
    return max(pages, key=lambda p: (sizes[p], -p))


# --------------------------------------------------------------------------- statuses


def _alignment_reasons(c: _Candidate, page_count: int) -> list[str]:
    """Why an answer's grounding stops it from being accepted (empty: grounded and acceptable)."""
    reasons: list[str] = []
    if not c.alignment.found:
        reason = c.support.reason or EVIDENCE_NOT_FOUND
        if c.claimed_page is not None:
            if page_count and not 1 <= c.claimed_page <= page_count:
                reason += f" (the model gave page {c.claimed_page}, which this {page_count}-page document does not have)"
            else:
                reason += f" (the model gave page {c.claimed_page})"
        return [reason]
    if not c.alignment.acceptable:
        reasons.append(f"quote only approximately found in the document (similarity {c.alignment.similarity:.2f}, "
                       f"{FUZZY_ACCEPT:.2f} needed)")
    if not c.support.ok and not (c.support.missing and c.answer.value is not None):
        reasons.append(c.support.reason)
    return reasons


def decide_status(answer: Answer, variable: Variable, reasons: list[str], threshold: float,
                  ocr_pages: set[int]) -> Answer:
    """Apply the acceptance rule; the note lists every reason an answer needs review.

    Accepted only when the quote is aligned (exact, or fuzzy >= FUZZY_ACCEPT), the document's text
    there states the value, the confidence reaches the threshold and the variable is not
    always-review: the model's confidence alone never accepts anything."""
    if not has_answer(answer):
        return Answer(name=answer.name, status=AnswerStatus.NOT_FOUND, note=answer.note, coverage=answer.coverage)
    reasons = ([answer.note] if answer.note else []) + [r for r in reasons if r]
    if answer.confidence < threshold:
        reasons.append(f"confidence {answer.confidence:.2f} is below {threshold:.2f}")
    if variable.always_review:
        reasons.append("always reviewed (variable setting)")
    pages = sorted(set(answer.pages) | ({answer.page} if answer.page is not None else set()))
    return answer.model_copy(update={
        "status": AnswerStatus.NEEDS_REVIEW if reasons else AnswerStatus.ACCEPTED,
        "note": "; ".join(dict.fromkeys(reasons)),
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


def _passage(c: _Candidate, agrees: bool) -> Passage:
    a = c.answer
    return Passage(value=a.value, evidence=a.evidence, page=a.page, match_kind=a.match_kind, span=a.span,
                   agrees=agrees)


def merge_candidates(variable: Variable, candidates: list[_Candidate], threshold: float,
                     ocr_pages: set[int], page_count: int = 0, others: Sequence[Variable] = ()) -> Answer:
    """Best grounded answer wins; same-value pages are kept; a list gathers its items from every
    passage that states them; a grounded, confident rival value forces review and shows its quote."""
    found = [c for c in candidates if has_answer(c.answer)]
    if not found:
        unasked = next((c.answer for c in candidates if c.answer.status is AnswerStatus.ERROR), None)
        if unasked is not None:  # the extractor could not ask it (e.g. a refused schema): say so
            return Answer(name=variable.name, status=AnswerStatus.ERROR, note=unasked.note)
        note = next((c.answer.note for c in candidates if c.answer.note), "")
        return Answer(name=variable.name, status=AnswerStatus.NOT_FOUND, note=note)
    best = max(found, key=lambda c: (c.grounded and c.alignment.acceptable, c.grounded, c.alignment.found,
                                     c.alignment.similarity, c.answer.value is not None, c.answer.confidence))
    answer = best.answer
    reasons = _alignment_reasons(best, page_count)
    agreeing = [c for c in found if c.grounded and _value_key(c.answer.value) == _value_key(answer.value)]
    pages = {p for c in agreeing for p in [c.answer.page] if p is not None}
    if variable.type is VariableType.LIST and isinstance(answer.value, list):
        answer, list_reasons, pages = _merge_list(variable, best, found, pages, others)
        reasons = [r for r in reasons if not r.startswith("the quote does not mention")] + list_reasons
    elif best.grounded:
        rivals = [c for c in found if c.grounded and c.answer.value is not None and c.answer.confidence >= threshold
                  and _value_key(c.answer.value) != _value_key(answer.value)]
        if rivals:
            shown = "; ".join(f"{_fmt(c.answer.value)} (page {c.answer.page}: \"{_short(c.answer.evidence)}\")"
                              for c in rivals[:3])
            reasons.append(f"other passages give a different answer: {shown}")
            answer = answer.model_copy(update={"passages": [_passage(c, False) for c in rivals[:5]]})
    answer = answer.model_copy(update={"pages": sorted(pages)})
    return decide_status(answer, variable, reasons, threshold, ocr_pages)


def _merge_list(variable: Variable, best: _Candidate, found: list[_Candidate], pages: set[int],
                others: Sequence[Variable] = ()) -> tuple[Answer, list[str], set[int]]:
    """Items from every aligned passage; an item that no passage's text states is dropped (and said)."""
    aligned = [c for c in found if c.alignment.found]
    items: list[Any] = []
    sources: dict[Any, _Candidate] = {}
    for c in [best, *[c for c in aligned if c is not best]]:
        for item in c.answer.value if isinstance(c.answer.value, list) else []:
            key = _value_key(item)
            if key not in sources:
                items.append(item)
                sources[key] = c
    kept: list[Any] = []
    dropped: list[Any] = []
    used: list[_Candidate] = []
    for item in items:
        holder = next((c for c in aligned if value_support(variable, [item], c.text, others).ok), None)
        if holder is None:
            dropped.append(item)
            continue
        kept.append(item)
        if holder not in used:
            used.append(holder)
        if holder.answer.page is not None:
            pages.add(holder.answer.page)
    reasons: list[str] = []
    value = kept if kept else best.answer.value
    if dropped and kept:
        reasons.append("dropped, stated in no quote: " + ", ".join(repr(d) for d in dropped))
    elif dropped and best.alignment.found:
        reasons.append("the quote does not mention " + ", ".join(repr(d) for d in dropped))
    n_pass = max(1, len(used))
    coverage = (f"{len(kept)} item{'s' if len(kept) != 1 else ''} from {n_pass} passage{'s' if n_pass != 1 else ''}"
                + (f" on page{'s' if len(pages) != 1 else ''} {_pages_text(sorted(pages))}" if pages else ""))
    passages = [_passage(c, True) for c in used if c is not best]
    return best.answer.model_copy(update={"value": value, "coverage": coverage, "passages": passages}), reasons, pages


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(clean_quote(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _pages_text(numbers: list[int]) -> str:
    """[1, 2, 3, 7] -> '1-3, 7'."""
    runs: list[str] = []
    for n in sorted(set(numbers)):
        if runs and n == int(runs[-1].split("-")[-1]) + 1:
            runs[-1] = f"{runs[-1].split('-')[0]}-{n}"
        else:
            runs.append(str(n))
    return ", ".join(runs)


def read_coverage(doc: DocumentText) -> str:
    """What "not found" covered: the pages read, those read by OCR and those without text."""
    read = [p.number for p in doc.pages if p.text.strip()]
    empty = sorted({p.number for p in doc.pages if not p.text.strip()} |
                   (set(range(1, doc.page_count + 1)) - {p.number for p in doc.pages}))
    if not read:
        return "no page had text"
    parts = [f"read pages {_pages_text(read)} of {doc.page_count}"]
    ocr = [n for n in doc.ocr_pages if n in read]
    if ocr:
        parts.append(f"{_pages_text(ocr)} by OCR")
    if empty:
        parts.append(f"{_pages_text(empty)} without text")
    return "; ".join(parts)


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
    index = DocumentIndex(doc.pages)
    stats = document_stats(doc.pages)
    ocr_pages = set(doc.ocr_pages)
    total = len(variables)
    # what the engine does, for the progress line: a model is "asking"; the offline extractor "matching"
    asking = getattr(extractor, "progress_stage", "asking")
    _report(progress, asking, 0, total)
    done_lock = threading.Lock()
    finished = [0]

    def on_wait(waiting: bool) -> None:  # the model's quota holds a call of this document
        with done_lock:
            done = finished[0]
        _report(progress, "waiting for quota" if waiting else asking, round(total * done / len(chunks)), total)

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
        _report(progress, asking, round(total * done / len(chunks)), total)
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
        own = frozenset(p.number for p in chunk)
        for var, ans in zip(variables, answers):
            if should_stop is not None and should_stop():  # a cancel waits for one answer's check, not all
                raise Cancelled()
            per_var[var.name].append(check_evidence(ans, index, var, own, variables, stats))
    if chunks and len(failures) == len(chunks):
        raise _with_spent(failures[-1][1], usage)
    _report(progress, "merging", total, total)
    merged = [merge_candidates(v, per_var[v.name], threshold, ocr_pages, doc.page_count, variables)
              for v in variables]
    if failures:
        merged = [_mark_failed(a, failures) for a in merged]
    coverage = read_coverage(doc)
    merged = [a.model_copy(update={"coverage": coverage}) if a.status is AnswerStatus.NOT_FOUND else a
              for a in merged]
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
