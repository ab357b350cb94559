"""The job's downloads (CSV, Excel, JSON): written when a run ends, regenerated when reviews change
(an audit mark is a change of reviews.json too: the Summary sheet and the JSON carry its estimate).

Stored exports are served as they are while they are fresh (written after the last review of a
finished job); otherwise they are rebuilt from the results. While a job still runs, a download is a
snapshot of what is finished and is not stored.
"""
from __future__ import annotations

from typing import Literal

from policy_reader.errors import JobError
from policy_reader.jobs.accuracy_book import AccuracyBook
from policy_reader.jobs.result_book import ResultBook, total_usage
from policy_reader.jobs.state import TERMINAL, JobStatus
from policy_reader.jobs.store import JobStore

Format = Literal["csv", "xlsx", "json"]
FORMATS: tuple[Format, ...] = ("json", "csv", "xlsx")


class Exporter:
    def __init__(self, store: JobStore, book: ResultBook, accuracy: AccuracyBook) -> None:
        self.store = store
        self.book = book
        self.accuracy = accuracy

    def build(self, job_id: str, status: str) -> dict[str, bytes]:
        """Every format, from the results with reviews applied and the audit's estimate (nothing stored)."""
        from policy_reader.delivery import formats as export

        results = self.book.results(job_id)
        usage = total_usage(results)
        info = export.WorkbookInfo.from_state(self.store.read_state(job_id), status=status)
        estimate = self.accuracy.estimate(job_id)
        payload = export.job_payload(job_id, status, results, usage,
                                     accuracy=estimate.to_json() if estimate else None)
        return {"json": export.to_json(payload),
                "csv": export.to_csv(results),
                "xlsx": export.to_xlsx(results, self.book.variables(job_id), usage, info,
                                       accuracy=export.audit_summary_rows(estimate) if estimate else None)}

    def write(self, job_id: str, status: str) -> dict[str, bytes]:
        """Build and store every format, and note which reviews they include."""
        version = self.book.reviews_version(job_id)
        blobs = self.build(job_id, status)
        for fmt, data in blobs.items():
            self.store.write_export(job_id, f"results.{fmt}", data)
        self.store.update_state(job_id, lambda s: s.update(exports_reviews_version=version))
        return blobs

    def get(self, job_id: str, fmt: str) -> bytes:
        if fmt not in FORMATS:
            raise JobError(f"Unknown export format {fmt!r}: use csv, xlsx or json.", code="format")
        state = self.store.read_state(job_id)
        status = state["status"]
        finalizing = state.get("stage") in ("exporting", "emailing")
        if status in TERMINAL and not finalizing:
            data = self.store.read_export(job_id, f"results.{fmt}")
            if data is not None and state.get("exports_reviews_version") == self.book.reviews_version(job_id):
                return data
        if status in TERMINAL or finalizing:
            return self.write(job_id, status if status in TERMINAL else JobStatus.COMPLETED.value)[fmt]
        return self.build(job_id, status)[fmt]  # still running: a snapshot of what is finished
