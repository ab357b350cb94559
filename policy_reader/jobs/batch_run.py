"""Batch mode: a job's model calls go through the provider's Batch API (half price, within 24 h).

How a batch run goes (the local executor calls `run_batch` instead of asking the model document by
document):

1. Read every document without a result (reader processes, like any run); a document that cannot be
   read, or whose answers are cached, is finished at once like in a live run. Each text is kept as a
   work file (`text.<doc_id>.json`), so a resumed run never reads or OCRs it again.
2. Submit one batch for the rest (policy_reader/extraction/batch_client.py: one request per document x chunk x group of
   variables) and keep its state as the work file `batch.json` before anything else happens: a run
   that stops and resumes follows the same batch, it never submits a second one.
3. Poll until the batch ends; the job's progress shows the batch's status and how many requests are
   answered. A cancel cancels the batch at the provider.
4. Answer each document from the batch's results through the same grounding and merge as live calls
   (`process_document(text=..., extractor=answers_for(...))`); a request the batch failed becomes an
   `error` answer of that document, never a silent gap.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from policy_reader.extraction.batch_client import BatchClient, BatchState
from policy_reader.config import scrub
from policy_reader.errors import PdfError, PolicyReaderError
from policy_reader.extraction.answers import Cancelled
from policy_reader.models import DocumentResult, DocumentText
from policy_reader.extraction.pipeline import process_document, read_document
from policy_reader.jobs.context import JobContext
from policy_reader.jobs.store import JobStore

log = logging.getLogger("policy_reader.jobs")

BATCH_FILE = "batch.json"
Progress = Callable[[str, int, int], None]


def _text_file(doc_id: str) -> str:
    return f"text.{doc_id}.json"


def run_batch(store: JobStore, ctx: JobContext, documents: list[dict[str, Any]], *, progress: Progress,
              should_stop: Callable[[], bool], cancelled: Callable[[], bool],
              client: BatchClient | None = None) -> Iterator[tuple[dict[str, Any], DocumentResult]]:
    """Yield (document, result) for every document of `documents` this run finishes. Returns early,
    yielding nothing more, when `should_stop()` turns true (the batch goes on at the provider and a
    resumed run follows it; on a cancel it is cancelled there too)."""
    options = ctx.manifest.get("options") or {}
    client = client or BatchClient(ctx.settings, backend=options.get("backend"), model=options.get("model"))
    state = _saved_state(store, ctx.job_id)
    texts: dict[str, DocumentText] = {}
    if state is None:
        waiting: list[dict[str, Any]] = []
        for doc in documents:
            if should_stop():
                return
            try:
                text = read_document(store.input_path(ctx.job_id, doc["stored"]), ctx.settings,
                                     password=ctx.password, should_stop=should_stop,
                                     progress=lambda stage, done, total: progress(stage, done, total))
            except Cancelled:
                return
            except PdfError as exc:  # the document fails with its reason, as in a live run
                yield doc, _failed(ctx, doc, exc)
                continue
            cached = _answer(store, ctx, doc, text, client=None, cached_only=True)
            if cached is not None:
                yield doc, cached
                continue
            store.write_work(ctx.job_id, _text_file(doc["doc_id"]), text.model_dump_json().encode("utf-8"))
            texts[doc["doc_id"]] = text
            waiting.append(doc)
        if not waiting:
            return
        state = client.submit([(d["doc_id"], texts[d["doc_id"]]) for d in waiting], ctx.variables,
                              metadata={"job_id": ctx.job_id})
        _save_state(store, ctx.job_id, state)
    state = client.wait(state, poll_s=ctx.settings.batch_poll_s, should_stop=should_stop,
                        on_progress=lambda s: _followed(store, ctx.job_id, s, progress))
    if not state.done:
        if cancelled():
            _save_state(store, ctx.job_id, client.cancel(state))
        return
    outcomes = client.results(state)
    asked = {call.doc_id for call in state.calls}
    for doc in documents:
        if doc["doc_id"] not in asked:
            continue
        try:
            text = texts.get(doc["doc_id"]) or _saved_text(store, ctx.job_id, doc["doc_id"])
        except PolicyReaderError as exc:
            yield doc, _failed(ctx, doc, exc)
            continue
        extractor = client.answers_for(doc["doc_id"], state, outcomes)
        yield doc, _answer(store, ctx, doc, text, client=extractor)


def _failed(ctx: JobContext, doc: dict[str, Any], exc: PolicyReaderError) -> DocumentResult:
    return DocumentResult(doc_id=doc["doc_id"], file=doc["file"], status="failed",
                          error=scrub(exc.message, ctx.settings), error_code=exc.code)


def _answer(store: JobStore, ctx: JobContext, doc: dict[str, Any], text: DocumentText | None, *, client: Any,
            cached_only: bool = False) -> Any:
    """The document's result through the normal pipeline (reading errors, cache, grounding, merge).
    `cached_only`: None unless the answer cache has it (nothing may be asked live in batch mode)."""
    task = ctx.task(doc, store.input_path(ctx.job_id, doc["stored"]))
    if cached_only:
        if not task.cached(text.sha256):
            return None
        client = None  # never called: the pipeline finds the same entry with the task's engine
    return process_document(task, text=text, extractor=client)  # (no second opinion: refused with batch mode)


def _followed(store: JobStore, job_id: str, state: BatchState, progress: Progress) -> None:
    _save_state(store, job_id, state)
    answered, total = state.progress()
    progress(f"batch {state.status}", answered, total)


def _save_state(store: JobStore, job_id: str, state: BatchState) -> None:
    store.write_work(job_id, BATCH_FILE, state.model_dump_json().encode("utf-8"))


def _saved_state(store: JobStore, job_id: str) -> BatchState | None:
    """The batch this job already submitted (a resumed run follows it), unless it ended unusable."""
    data = store.read_work(job_id, BATCH_FILE)
    if not data:
        return None
    try:
        state = BatchState.model_validate(json.loads(data))
    except (ValueError, TypeError):
        log.warning("job %s: its batch state is damaged; a new batch is submitted", job_id)
        return None
    if state.status in ("cancelled", "cancelling", "expired", "failed") and not state.output_file_id:
        return None  # nothing to read back: the documents go into a new batch
    return state


def _saved_text(store: JobStore, job_id: str, doc_id: str) -> DocumentText:
    data = store.read_work(job_id, _text_file(doc_id))
    if not data:
        raise PolicyReaderError("The text kept for the batch is missing, so its answers cannot be matched; resume "
                                "the job to read and ask it again.", code="batch")
    return DocumentText.model_validate_json(data)
