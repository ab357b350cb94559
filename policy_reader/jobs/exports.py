"""The job's downloads (CSV, Excel, JSON): written when a run ends, regenerated when reviews change
(an audit mark is a change of reviews.json too: the Summary sheet and the JSON carry its estimate).

Stored exports are served as they are while they are fresh (written after the last review of a
finished job); otherwise they are rebuilt from the results. While a job still runs, a download is a
snapshot of what is finished and is not stored.
"""
from __future__ import annotations

from policy_reader.delivery.formats import EXPORT_FORMATS, ExportInput, WorkbookInfo
from policy_reader.errors import JobError
from policy_reader.jobs.accuracy_book import AccuracyBook
from policy_reader.jobs.result_book import ResultBook, total_usage
from policy_reader.jobs.state import TERMINAL, JobStatus
from policy_reader.jobs.store import JobStore



class Exporter:
    def __init__(self, store: JobStore, book: ResultBook, accuracy: AccuracyBook) -> None:
        self.store = store
        self.book = book
        self.accuracy = accuracy

    def build(self, job_id: str, status: str) -> dict[str, bytes]:
        """Every format, from the results with reviews applied and the audit's estimate (nothing stored)."""
        results = self.book.results(job_id)
        job = ExportInput(job_id=job_id, status=status, documents=results, variables=self.book.variables(job_id),
                          usage=total_usage(results),
                          info=WorkbookInfo.from_state(self.store.read_state(job_id), status=status),
                          estimate=self.accuracy.estimate(job_id))
        return {name: fmt.render(job) for name, fmt in EXPORT_FORMATS.items()}

    def write(self, job_id: str, status: str) -> dict[str, bytes]:
        """Build and store every format, and note which reviews they include."""
        version = self.book.reviews_version(job_id)
        blobs = self.build(job_id, status)
        for fmt, data in blobs.items():
            self.store.write_export(job_id, f"results.{fmt}", data)
        self.store.update_state(job_id, lambda s: s.update(exports_reviews_version=version))
        return blobs

    @staticmethod
    def check_format(fmt: str) -> None:
        if fmt not in EXPORT_FORMATS:  # the formats of delivery/formats.py (json, csv, xlsx)
            raise JobError(f"Unknown export format {fmt!r}: use {', '.join(EXPORT_FORMATS)}.", code="format")

    def get(self, job_id: str, fmt: str) -> bytes:
        self.check_format(fmt)
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
