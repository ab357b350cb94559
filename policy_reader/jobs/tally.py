"""Counting finished documents: once per document, the same way in every executor.

A `Tally` is what job.json says about finished documents (done, failed, pages, usage, the first
error). The queue executor keeps the counted document ids in job.json, so a redelivered message is
never counted twice; the local executor keeps them in memory. At the end of a run the final counts
are recomputed from the results actually stored (`Tally.of_results`), so a job can never claim
documents it did not keep.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from policy_reader.models import DocumentResult, Usage


@dataclass
class Tally:
    done: int = 0
    failed: int = 0
    pages: int = 0
    usage: Usage = field(default_factory=Usage)
    first_error: str | None = None
    counted: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)  # job-wide, once each (e.g. OCR unavailable here)

    def add(self, doc_id: str, result: DocumentResult) -> bool:
        """Count one finished document; False (nothing changes) when it was counted already."""
        if doc_id in self.counted:
            return False
        self.counted.add(doc_id)
        self.done += 1
        if result.status != "ok":
            self.failed += 1
            if self.first_error is None:
                self.first_error = f"{result.file}: {result.error or 'failed'}"
        self.usage = self.usage.add(result.usage)
        self.pages += int(result.pages or 0)
        for warning in job_warnings(result):
            if warning not in self.warnings:
                self.warnings.append(warning)
        return True

    @classmethod
    def of_results(cls, results: Iterable[DocumentResult]) -> "Tally":
        tally = cls()
        for result in results:
            tally.add(result.doc_id, result)
        return tally

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "Tally":
        return cls(done=int(state.get("documents_done", 0) or 0), failed=int(state.get("documents_failed", 0) or 0),
                   pages=int(state.get("pages_read", 0) or 0), usage=Usage.model_validate(state.get("usage") or {}),
                   first_error=state.get("first_error"), counted=set(state.get("counted") or []),
                   warnings=list(state.get("warnings") or []))

    def fields(self, *, with_ids: bool = False) -> dict[str, Any]:
        """The job.json fields of this tally (`counted` only where redeliveries must be recognised)."""
        out: dict[str, Any] = {"documents_done": self.done, "documents_failed": self.failed,
                               "pages_read": self.pages, "usage": self.usage.model_dump(mode="json"),
                               "first_error": self.first_error, "warnings": list(self.warnings)}
        if with_ids:
            out["counted"] = sorted(self.counted)
        return out


def job_warnings(result: DocumentResult) -> list[str]:
    """What one document tells about the whole job: OCR that cannot run on this server (the reader found
    pages needing it) is said once for the job, with the reason, not once per page or document."""
    if result.ocr_unavailable or result.error_code == "ocr_unavailable":
        from policy_reader.reading.ocr import availability, unavailable_warning

        return [unavailable_warning(availability().reason)]
    return []
