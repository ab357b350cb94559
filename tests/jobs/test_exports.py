"""The job's exports (policy_reader/jobs/exports.py): built and stored once per finalisation, and the email
attaches those very files (it used to rebuild and rewrite them twice more while the stage read "emailing")."""
from __future__ import annotations

from pathlib import Path

import pytest

from job_manager import JobManager, JobStatus
from policy_reader.delivery import formats
from policy_reader.errors import JobError
from policy_reader.jobs.store import FileJobStore
from policy_reader.models import Variable, VariableType

VARIABLES = [Variable(name="year_adopted", question="In which year was the policy adopted?", type=VariableType.YEAR)]


class CountingStore(FileJobStore):
    """The real file store, counting the export files written and the result checkpoints read."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.exports_written: list[str] = []
        self.results_read = 0

    def write_export(self, job_id: str, name: str, data: bytes) -> None:
        self.exports_written.append(name)
        super().write_export(job_id, name, data)

    def read_result(self, job_id: str, doc_id: str):
        self.results_read += 1
        return super().read_result(job_id, doc_id)


def test_a_finalisation_builds_and_writes_each_export_once_and_emails_them(settings, make_pdf):
    store = CountingStore(Path(settings.jobs_dir))
    manager = JobManager(settings, store=store)
    try:
        files = [(f"p{i}.pdf", make_pdf(f"p{i}.pdf", [f"The policy was adopted in {2001 + i}."])) for i in range(3)]
        job_id = manager.create_job(name="Once", files=files, variables=VARIABLES, recipients=["ana@example.org"])
        manager.run_job_async(job_id)
        view = manager.wait(job_id, timeout=60)
        assert view.status == JobStatus.COMPLETED and view.email.status == "sent"
    finally:
        manager.shutdown(wait=True)
    assert sorted(store.exports_written) == ["results.csv", "results.json", "results.xlsx"]
    # the email's attachments are the stored files, byte for byte
    eml = next(store.outbox_dir(job_id).glob("*.eml")).read_bytes()
    assert b"results.csv" in eml and b"results.xlsx" in eml
    # served afterwards as stored: no rebuild
    before = len(store.exports_written)
    assert manager.get_export(job_id, "csv") == store.read_export(job_id, "results.csv")
    assert len(store.exports_written) == before


def test_a_format_added_to_the_table_is_built_stored_and_served(settings, make_pdf, monkeypatch):
    """Adding an export format is one renderer and one row of delivery/formats.EXPORT_FORMATS."""
    def render_tsv(job: formats.ExportInput) -> bytes:
        return "".join(f"{d.file}\t{a.name}\t{a.value}\n" for d in job.documents for a in d.variables).encode()

    monkeypatch.setitem(formats.EXPORT_FORMATS, "tsv", formats.ExportFormat(name="tsv", label="TSV",
                                                                            mime="text/tab-separated-values",
                                                                            render=render_tsv))
    manager = JobManager(settings)
    try:
        job_id = manager.create_job(name="Tsv", files=[("p.pdf", make_pdf("p.pdf", ["Adopted in 2004."]))],
                                    variables=VARIABLES)
        manager.run_job_async(job_id)
        assert manager.wait(job_id, timeout=60).status == JobStatus.COMPLETED
        assert manager.store.read_export(job_id, "results.tsv") == b"p.pdf\tyear_adopted\t2004\n"
        assert manager.get_export(job_id, "tsv") == b"p.pdf\tyear_adopted\t2004\n"
        with pytest.raises(JobError, match="use json, csv, xlsx, tsv"):
            manager.get_export(job_id, "pdf")
    finally:
        manager.shutdown(wait=True)
