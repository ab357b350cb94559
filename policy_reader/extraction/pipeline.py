"""One document, start to finish: read -> cache -> chunks -> extractor -> merge -> DocumentResult.

The job manager calls process_document() for each document, in worker threads. It never raises for
one bad document — an unreadable PDF or a failed model call becomes a failed DocumentResult with a
clear message — so one file can never sink a job. The only exception it lets through is Cancelled.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from policy_reader.extraction.cache import AnswerCache, JobCache
from policy_reader.config import Settings, scrub
from policy_reader.errors import PdfError, PolicyReaderError
from policy_reader.extraction.answers import Cancelled, ProgressFn, extract_document
from policy_reader.extraction.extractor import Extractor
from policy_reader.models import DocumentResult, DocumentText, Usage, Variable

log = logging.getLogger(__name__)

__all__ = ["Cancelled", "DocumentTask", "ProgressFn", "process_document", "read_document"]


@dataclass(frozen=True)
class DocumentTask:
    """One document to answer and everything its job fixes for it, in one frozen value.

    Why: the job's engine, settings, cache, password and second opinion used to travel as a bag of
    parameters unpacked from the job context by each caller (a document run, a batch run), and the
    answer cache key was computed in two places. The job context builds the task (`JobContext.task`);
    the pipeline and the batch run ask it for its cache key.
    """

    path: Path
    doc_id: str
    display_name: str
    variables: list[Variable] = field(hash=False)
    extractor: Extractor = field(hash=False)
    settings: Settings = field(hash=False)
    cache: AnswerCache | JobCache | None = field(default=None, hash=False)
    password: str | None = field(default=None, repr=False)  # never printed
    second_opinion: Extractor | None = field(default=None, hash=False)  # a second engine to disagree with

    def cache_key(self, sha256: str, extractor: Extractor | None = None) -> str:
        """The answer cache entry of this document's text (file hash, variables, the engine and model that
        answer — the task's unless `extractor` answers instead —, threshold); "" without a cache."""
        if self.cache is None:
            return ""
        engine = extractor or self.extractor
        return self.cache.key(sha256, self.variables, engine.cache_id, self.settings.accept_threshold)

    def cached(self, sha256: str) -> bool:
        """Whether the answer cache already holds this document's answers (from the task's engine)."""
        return self.cache is not None and self.cache.get(self.cache_key(sha256), self.variables) is not None


def process_document(task: DocumentTask, *, progress: ProgressFn | None = None,
                     should_stop: Callable[[], bool] | None = None, text: DocumentText | None = None,
                     extractor: Extractor | None = None) -> DocumentResult:
    """Answer every variable for one PDF. Progress: ("reading"|"ocr", pages_done, pages_total), then
    ("asking"|"matching"|"merging", variables_done, variables_total; "matching": the offline extractor).
    Raises only Cancelled.
    `task.second_opinion`: a second engine asked too; answers the two disagree on need review (second_opinion.py).
    `text`: the document already read (batch mode reads first and answers once the batch is back).
    `extractor`: answers in place of the task's engine (a batch's answers), and names the cache entry."""
    started = time.monotonic()
    settings = task.settings
    state = [DocumentResult(doc_id=task.doc_id, file=task.display_name)]  # [0] gains pages/sha256 once read
    try:
        result, doc = _process(task, state, progress, should_stop, started, text, extractor or task.extractor)
        if task.second_opinion is not None:
            result = _with_second_opinion(result, doc, task.variables, task.second_opinion, settings, progress,
                                          should_stop, started)
        return _with_page_labels(result, doc)
    except Cancelled:
        raise
    except PolicyReaderError as exc:
        failed = _failed(state[0], scrub(str(exc), settings), exc.code, started)
        spent = getattr(exc, "spent", None)  # tokens the document's other chunks used before the failure
        return failed.model_copy(update={"usage": spent}) if spent is not None else failed
    except Exception as exc:  # noqa: BLE001 - one document must never sink the job
        log.exception("unexpected error on document %s", task.doc_id)
        message = scrub(f"Unexpected error while processing this document ({type(exc).__name__}: {exc}).",
                        settings)
        return _failed(state[0], message, "internal", started)


def read_document(path: Path, settings: Settings, *, password: str | None = None, progress: ProgressFn | None = None,
                  should_stop: Callable[[], bool] | None = None) -> DocumentText:
    """The document's text, read in a reader process: a hostile PDF can exhaust or crash that process,
    never this one. Raises PdfError, or Cancelled when `should_stop` turned true."""
    from policy_reader.reading import sandbox

    _stop_check(should_stop)
    try:
        return sandbox.read_pdf(path, settings, password=password, on_progress=progress, should_stop=should_stop)
    except PdfError as exc:
        if exc.code == "cancelled":
            raise Cancelled() from None
        raise


def _process(task: DocumentTask, state: list[DocumentResult], progress: ProgressFn | None,
             should_stop: Callable[[], bool] | None, started: float, text: DocumentText | None,
             extractor: Extractor) -> tuple[DocumentResult, DocumentText]:
    settings, variables, cache = task.settings, task.variables, task.cache
    doc = text or read_document(task.path, settings, password=task.password, progress=progress,
                                should_stop=should_stop)
    result = state[0] = state[0].model_copy(update={"pages": doc.page_count, "ocr_pages": doc.ocr_pages,
                                                     "sha256": doc.sha256, "warnings": doc.warnings,
                                                     "ocr_unavailable": doc.ocr_unavailable})
    _stop_check(should_stop)

    key = task.cache_key(doc.sha256, extractor)
    cached = cache.get(key, variables) if cache else None
    if cached is not None:
        if progress:
            progress("merging", len(variables), len(variables))
        return result.model_copy(update={"variables": cached.answers, "usage": Usage(), "cached": True,
                                         "cache_key": key, "elapsed_s": _elapsed(started)}), doc

    outcome = extract_document(doc, variables, extractor, threshold=settings.accept_threshold,
                               progress=progress, should_stop=should_stop,
                               parallel_chunks=settings.llm_max_concurrency)
    if cache is not None and outcome.complete:
        try:
            if cache.put(key, outcome.answers, outcome.usage):
                result = result.model_copy(update={"cache_key": key})
        except OSError as exc:  # the cache is an optimisation: a full disk there costs a re-ask, not the document
            log.warning("answer cache not written (%s): %s", type(exc).__name__, exc)
    return result.model_copy(update={"variables": outcome.answers, "usage": outcome.usage,
                                     "elapsed_s": _elapsed(started)}), doc


def _with_second_opinion(result: DocumentResult, doc: DocumentText, variables: list[Variable], second: Extractor,
                         settings: Settings, progress: ProgressFn | None, should_stop: Callable[[], bool] | None,
                         started: float) -> DocumentResult:
    """Ask the second engine (never cached: its answers only decide what to review) and mark the answers the
    two disagree on. A second engine that fails costs only the second opinion, said in a warning."""
    from policy_reader.extraction.second_opinion import apply_second_opinion

    source = second.cache_id.removesuffix(":v1")
    try:
        outcome = extract_document(doc, variables, second, threshold=settings.accept_threshold, progress=progress,
                                   should_stop=should_stop, parallel_chunks=settings.llm_max_concurrency)
    except Cancelled:
        raise
    except Exception as exc:  # noqa: BLE001 - the second opinion is optional: it never fails the document
        log.warning("second opinion failed on %s: %s", result.doc_id, exc)
        warning = f"The second opinion ({source}) could not be had: {scrub(str(exc), settings)}"
        spent = getattr(exc, "spent", None)
        usage = result.usage.add(spent) if isinstance(spent, Usage) else result.usage
        return result.model_copy(update={"warnings": [*result.warnings, warning], "usage": usage})
    answers = apply_second_opinion(variables, result.variables, outcome.answers, source,
                                   {page.number: page.text for page in doc.pages})
    return result.model_copy(update={"variables": answers, "usage": result.usage.add(outcome.usage),
                                     "elapsed_s": _elapsed(started)})


def _with_page_labels(result: DocumentResult, doc: DocumentText) -> DocumentResult:
    """Each answer's printed page number (PageText.label) next to its PDF page: set here, after the
    answer cache, so cached answers get the labels of the document as read now."""
    labels = {page.number: page.label for page in doc.pages if page.label}
    if not labels:
        return result
    answers = [a.model_copy(update={"page_label": labels.get(a.page) if a.page is not None else None})
               for a in result.variables]
    return result.model_copy(update={"variables": answers})


def _stop_check(should_stop: Callable[[], bool] | None) -> None:
    if should_stop is not None and should_stop():
        raise Cancelled()


def _failed(base: DocumentResult, message: str, code: str, started: float) -> DocumentResult:
    return base.model_copy(update={"status": "failed", "error": message, "error_code": code,
                                   "elapsed_s": _elapsed(started)})


def _elapsed(started: float) -> float:
    return round(time.monotonic() - started, 3)
