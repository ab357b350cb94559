"""Telling people a job ended: the results email to its recipients and the operator's webhook.

Neither may fail a job: every error is recorded on the job (and in its events) and returned as a
dict for job.json, never raised. Secrets are scrubbed from every message recorded.
"""
from __future__ import annotations

import logging
from email.utils import make_msgid
from typing import Any

from policy_reader.config import Settings, scrub
from policy_reader.errors import EmailError, PolicyReaderError
from policy_reader.jobs import ledger
from policy_reader.jobs import transitions as tr
from policy_reader.jobs.accuracy_book import AccuracyBook
from policy_reader.jobs.events import EventLog
from policy_reader.jobs.exports import Exporter
from policy_reader.jobs.result_book import ResultBook, total_usage
from policy_reader.jobs.state import iso
from policy_reader.jobs.store import JobStore
from policy_reader.models import SkippedFile

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

    def one_by_one(self) -> bool:
        """SMTP: each recipient gets their own message, recorded one by one. The outbox (no SMTP) writes one
        .eml for the analyst to download, which reaches nobody by itself."""
        return self.settings.email_mode == "smtp"

    def plan(self, job_id: str, message_id: str) -> dict[str, dict[str, Any]]:
        """`{address: {status: pending, message_id}}`: the first recipient's message carries the email's
        Message-ID, each other one its own."""
        recipients = self.store.read_manifest(job_id).get("recipients") or []
        return {address: {"status": "pending", "message_id": message_id if i == 0 else self.new_message_id()}
                for i, address in enumerate(recipients)}

    def reserve(self, job_id: str, count: int, *, resend: bool = False) -> None:
        """Count `count` messages in the owner's ledger before they go out (USER_MAX_EMAILS_PER_DAY, and
        EMAIL_MAX_RESENDS_PER_HOUR for a resend); LimitExceeded says which limit and when it resets."""
        owner = self.store.read_state(job_id).get("owner") or "local"
        ledger.reserve_messages(self.store, self.settings, owner, job_id, count, resend=resend)

    def send_email(self, job_id: str, status: str, *, message_id: str | None = None,
                   exports: dict[str, bytes] | None = None) -> dict[str, Any]:
        """Send the results email (reviews applied); the outcome as job.json's `email` entry. `exports`: the
        files the finalisation just built and stored (else the stored ones, rebuilt only when stale).

        SMTP: the recipients still `pending` in the email's recorded plan (state.email.deliveries, with
        `message_id`) are sent one by one, each marked `sending` before and `sent` / `failed` after."""
        try:
            if self.one_by_one():
                return self._send_each(job_id, status, message_id or "", exports)
            report = self._deliver(job_id, status, message_id, exports)
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

    def _summary_and_files(self, job_id: str, status: str,
                           exports: dict[str, bytes] | None) -> tuple[Any, dict[str, bytes], list[str]]:
        from policy_reader.delivery.emailer import EmailSummary

        state = self.store.read_state(job_id)
        manifest = self.store.read_manifest(job_id)
        results = self.book.results(job_id)
        summary = EmailSummary.from_results(
            job_id=job_id, job_name=state.get("name") or "", status=status,
            documents_total=len(manifest["documents"]), documents=results, variables=self.book.variables(job_id),
            usage=total_usage(results), job_url=self.job_url(job_id), accuracy=self.accuracy.estimate(job_id),
            skipped=SkippedFile.list_from(state.get("skipped")))
        try:
            attachments = {f"results.{fmt}": exports[fmt] if exports else self.exporter.get(job_id, fmt)
                           for fmt in ("csv", "xlsx")}
        except Exception as exc:  # noqa: BLE001 - the email still goes out (with a link) if exports broke
            log.exception("exports for the email of %s", job_id)
            self.events.emit(job_id, "exports.failed", error=scrub(str(exc), self.settings))
            attachments = {}
        return summary, attachments, list(manifest.get("recipients") or [])

    def _deliver(self, job_id: str, status: str, message_id: str | None, exports: dict[str, bytes] | None) -> Any:
        from policy_reader.delivery.emailer import send_job_email

        summary, attachments, recipients = self._summary_and_files(job_id, status, exports)
        return send_job_email(self.settings, summary, recipients, attachments,
                              outbox_dir=self.store.outbox_dir(job_id), message_id=message_id)

    def _send_each(self, job_id: str, status: str, message_id: str,
                   exports: dict[str, bytes] | None = None) -> dict[str, Any]:
        from policy_reader.delivery.emailer import build_message, deliver_to_each

        deliveries = dict((self.store.read_state(job_id).get("email") or {}).get("deliveries") or {})
        pending = [a for a, d in deliveries.items() if d.get("status") == "pending"]
        owner = self.store.read_state(job_id).get("owner") or "local"
        if pending:
            summary, attachments, recipients = self._summary_and_files(job_id, status, exports)
            msg = build_message(self.settings, summary, pending, attachments, message_id=message_id)

            def sending(address: str, mid: str) -> None:
                self._record(job_id, message_id, address, {"status": "sending", "message_id": mid, "at": iso()})

            failed = 0
            ids = {a: deliveries[a].get("message_id") for a in pending}
            for outcome in deliver_to_each(self.settings, msg, pending, ids, before=sending):
                failed += outcome.status != "sent"
                deliveries[outcome.address] = {
                    "status": outcome.status, "message_id": outcome.message_id, "attempts": outcome.attempts,
                    "at": iso(), "error": scrub(outcome.error, self.settings) if outcome.error else None}
                self._record(job_id, message_id, outcome.address, deliveries[outcome.address])
            ledger.give_back_messages(self.store, owner, job_id, failed)  # reserved, never delivered
        info = email_outcome(deliveries, message_id)
        self.events.emit(job_id, f"email.{info['status']}", mode="smtp", refused=info["refused"],
                         error=info["error"])
        return info

    def _record(self, job_id: str, message_id: str, address: str, info: dict[str, Any]) -> None:
        try:
            tr.apply(self.store, job_id, tr.delivery_step, message_id, address, info)
        except (PolicyReaderError, OSError) as exc:  # the message itself still goes out
            log.warning("could not record the email to a recipient of job %s: %s", job_id, exc)

    # ------------------------------------------------------------------ webhook

    def summary_payload(self, job_id: str, status: str, error: str | None) -> dict[str, Any]:
        state = self.store.read_state(job_id)
        done = int(state.get("documents_done", 0) or 0)
        failed = int(state.get("documents_failed", 0) or 0)
        return {"event": "job.finished", "job_id": job_id, "name": state.get("name"), "status": status,
                "error": error, "documents_total": state.get("documents_total", 0), "documents_done": done,
                "documents_ok": done - failed, "documents_failed": failed,
                "documents_skipped": len(state.get("skipped") or []), "usage": state.get("usage") or {},
                "finished_at": iso(), "url": self.job_url(job_id)}

    def send_webhook(self, job_id: str, status: str, error: str | None) -> dict[str, Any]:
        from policy_reader.delivery.webhook import send_job_webhook

        result = send_job_webhook(self.settings, self.summary_payload(job_id, status, error))
        self.events.emit(job_id, f"webhook.{result.status}", error=result.error, attempts=result.attempts)
        return result.as_dict()


def email_outcome(deliveries: dict[str, dict[str, Any]], message_id: str) -> dict[str, Any]:
    """job.json's `email` from each recipient's delivery: "sent" when anyone got it (the error names who
    did not, or may not have), "unknown" when the only doubt is a message a crash interrupted, else "failed"."""
    by = {status: [a for a, d in deliveries.items() if d.get("status") == status]
          for status in ("sent", "failed", "unknown", "pending", "sending")}
    problems = []
    if by["failed"]:
        first = deliveries[by["failed"][0]].get("error")
        problems.append(f"The email could not be sent to {', '.join(by['failed'])}: {first or 'refused'}")
    if by["unknown"]:
        problems.append(f"The app stopped while the email to {', '.join(by['unknown'])} was being sent, so it may or "
                        f"may not have gone out (Message-ID {message_id}). If they did not get it, use Send again.")
    status = "sent" if by["sent"] else ("unknown" if by["unknown"] and not by["failed"] else "failed")
    if by["sent"] and problems:
        problems.append("The other recipients got the email.")
    attempts = max([int(d.get("attempts") or 0) for d in deliveries.values()] or [0])
    return {"status": status, "mode": "smtp", "path": None, "attempts": attempts, "message_id": message_id,
            "sent_at": iso(), "refused": by["failed"], "error": " ".join(problems) or None, "deliveries": deliveries}
