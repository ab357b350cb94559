"""Telling people a job ended: the results email to its recipients and the operator's webhook.

Neither may fail a job: every error is recorded on the job (and in its events) and returned as a
dict for job.json, never raised. Secrets are scrubbed from every message recorded.
"""
from __future__ import annotations

import logging
from email.utils import make_msgid
from typing import Any

from policy_reader.config import Settings, scrub
from policy_reader.errors import EmailError
from policy_reader.jobs.accuracy_book import AccuracyBook
from policy_reader.jobs.events import EventLog
from policy_reader.jobs.exports import Exporter
from policy_reader.jobs.result_book import ResultBook, total_usage
from policy_reader.jobs.state import iso
from policy_reader.jobs.store import JobStore

log = logging.getLogger("policy_reader.jobs")


class Notifier:
    def __init__(self, settings: Settings, store: JobStore, book: ResultBook, exporter: Exporter,
                 events: EventLog, accuracy: AccuracyBook) -> None:
        self.settings = settings
        self.accuracy = accuracy
        self.store = store
        self.book = book
        self.exporter = exporter
        self.events = events

    def job_url(self, job_id: str) -> str | None:
        base = self.settings.public_url
        return f"{base.rstrip('/')}/?job={job_id}" if base else None

    def new_message_id(self) -> str:
        """The Message-ID is chosen before sending, so it can be recorded as the email's intent."""
        sender = self.settings.smtp_from or "policy-reader@localhost"
        return make_msgid(domain=sender.rsplit("@", 1)[-1] or "localhost")

    # ------------------------------------------------------------------ email

    def send_email(self, job_id: str, status: str, *, message_id: str | None = None) -> dict[str, Any]:
        """Send the results email (reviews applied); the outcome as job.json's `email` entry."""
        try:
            report = self._deliver(job_id, status, message_id)
        except EmailError as exc:
            info = {"status": "failed", "error": scrub(exc.message, self.settings), "code": exc.code}
            self.events.emit(job_id, "email.failed", error=info["error"])
            return info
        except Exception as exc:  # noqa: BLE001 - an email problem never fails the job
            info = {"status": "failed", "error": f"Email could not be sent: {scrub(str(exc), self.settings)}"}
            self.events.emit(job_id, "email.failed", error=info["error"])
            return info
        self.store.publish_outbox(job_id)
        refused = list(report.refused or ())
        info = {"status": "sent", "mode": report.mode, "path": report.path, "attempts": report.attempts,
                "message_id": report.message_id, "sent_at": iso(), "refused": refused,
                # the others got it; say who did not, so the analyst can fix those addresses
                "error": (f"The mail server refused {', '.join(refused)}; the other recipients got the email."
                          if refused else None)}
        self.events.emit(job_id, "email.sent", mode=report.mode, attempts=report.attempts, refused=refused)
        return info

    def _deliver(self, job_id: str, status: str, message_id: str | None) -> Any:
        from policy_reader.delivery.emailer import EmailSummary, send_job_email

        state = self.store.read_state(job_id)
        manifest = self.store.read_manifest(job_id)
        results = self.book.results(job_id)
        summary = EmailSummary.from_results(
            job_id=job_id, job_name=state.get("name") or "", status=status,
            documents_total=len(manifest["documents"]), documents=results, variables=self.book.variables(job_id),
            usage=total_usage(results), job_url=self.job_url(job_id), accuracy=self.accuracy.estimate(job_id))
        try:
            attachments = {"results.csv": self.exporter.get(job_id, "csv"),
                           "results.xlsx": self.exporter.get(job_id, "xlsx")}
        except Exception as exc:  # noqa: BLE001 - the email still goes out (with a link) if exports broke
            log.exception("exports for the email of %s", job_id)
            self.events.emit(job_id, "exports.failed", error=scrub(str(exc), self.settings))
            attachments = {}
        return send_job_email(self.settings, summary, manifest.get("recipients") or [], attachments,
                              outbox_dir=self.store.outbox_dir(job_id), message_id=message_id)

    # ------------------------------------------------------------------ webhook

    def summary_payload(self, job_id: str, status: str, error: str | None) -> dict[str, Any]:
        state = self.store.read_state(job_id)
        done = int(state.get("documents_done", 0) or 0)
        failed = int(state.get("documents_failed", 0) or 0)
        return {"event": "job.finished", "job_id": job_id, "name": state.get("name"), "status": status,
                "error": error, "documents_total": state.get("documents_total", 0), "documents_done": done,
                "documents_ok": done - failed, "documents_failed": failed, "usage": state.get("usage") or {},
                "finished_at": iso(), "url": self.job_url(job_id)}

    def send_webhook(self, job_id: str, status: str, error: str | None) -> dict[str, Any]:
        from policy_reader.delivery.webhook import send_job_webhook

        result = send_job_webhook(self.settings, self.summary_payload(job_id, status, error))
        self.events.emit(job_id, f"webhook.{result.status}", error=result.error, attempts=result.attempts)
        return result.as_dict()
