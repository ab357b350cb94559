"""Running one document of a job and keeping its result: the step both executors share.

`run_document` turns anything that goes wrong with one document into a failed result (never an
exception that could sink the job); only a stop request (cancel, shutdown, a lost lease) ends it
early, as `None`. `keep_result` writes the checkpoint once: if another runner stored this document
first, its result is the one that counts and ours is discarded.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from policy_reader.config import scrub
from policy_reader.errors import storage_error
from policy_reader.models import DocumentResult
from policy_reader.jobs.context import JobContext
from policy_reader.jobs.events import EventLog
from policy_reader.jobs.store import JobStore

log = logging.getLogger("policy_reader.jobs")

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Kept:
    result: DocumentResult
    written: bool  # False: another runner had stored this document first (its result is `result`)


def run_document(store: JobStore, ctx: JobContext, doc: dict[str, Any], *, progress: Progress,
                 should_stop: Callable[[], bool]) -> DocumentResult | None:
    """Answer every variable of one document. None when it was stopped between steps. Raises only
    when the stored input cannot be had (a storage error: the executor decides whether to retry)."""
    from policy_reader.extraction.pipeline import Cancelled, process_document
    from policy_reader.jobs.rerun import run_again

    started = time.monotonic()
    path = store.input_path(ctx.job_id, doc["stored"])  # a storage error is the executor's to retry
    task = ctx.task(doc, path)

    def process(variables: list[Any]) -> DocumentResult:
        return process_document(replace(task, variables=variables), progress=progress, should_stop=should_stop)
    try:
        return run_again(store, ctx.job_id, doc["doc_id"], ctx.variables, process)  # a re-run's, or as is
    except Cancelled:
        return None
    except Exception as exc:  # noqa: BLE001 - process_document should not raise; keep the job alive if it does
        log.exception("document %s/%s", ctx.job_id, doc["doc_id"])
        return DocumentResult(doc_id=doc["doc_id"], file=doc["file"], status="failed",
                              error=f"Unexpected error: {scrub(str(exc), ctx.settings)}", error_code="internal",
                              elapsed_s=round(time.monotonic() - started, 3))


def keep_result(store: JobStore, events: EventLog, job_id: str, doc: dict[str, Any], result: DocumentResult,
                *, on_kept: Callable[[Kept], None] | None = None, **event_fields: Any) -> Kept:
    """Write the document's checkpoint once and log it; the stored result is the one that counts.
    Raises StorageError when the store refuses the write (nothing is counted that was not kept).

    `on_kept` runs after the write and before the "Finished" event: the executor counts the document
    there, so the log never lists a finished document the job's count does not include yet."""
    try:
        written = store.write_result(job_id, doc["doc_id"], result.model_dump(mode="json"))
    except OSError as exc:
        error = storage_error(exc, f"save the results of {doc['file']}")
        events.emit(job_id, "doc.unsaved", doc_id=doc["doc_id"], file=doc["file"], error=error.message)
        raise error from None
    if not written:
        existing = store.read_result(job_id, doc["doc_id"])
        kept = Kept(DocumentResult.model_validate(existing) if existing is not None else result, written=False)
        if on_kept is not None:
            on_kept(kept)
        return kept
    if on_kept is not None:
        on_kept(Kept(result, written=True))
    if result.status == "ok":
        events.emit(job_id, "doc.finished", doc_id=doc["doc_id"], file=doc["file"], cached=result.cached,
                    tokens=result.usage.prompt_tokens + result.usage.completion_tokens, **event_fields)
    else:
        events.emit(job_id, "doc.failed", doc_id=doc["doc_id"], file=doc["file"], error=result.error,
                    code=result.error_code, **event_fields)
    return Kept(result, written=True)
