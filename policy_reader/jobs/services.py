"""The services both executors (and the facade) use, built once per process from the settings.

`build_services(settings)` is all a process needs to run jobs: the app and the CLI wrap it in the
`JobManager` facade; the headless queue worker uses it directly.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policy_reader.config import Settings
from policy_reader.errors import PolicyReaderError
from policy_reader.extraction.cache import AnswerCache
from policy_reader.jobs.accuracy_book import AccuracyBook
from policy_reader.jobs.context import PasswordVault, make_cache
from policy_reader.jobs.events import EventLog
from policy_reader.jobs.exports import Exporter
from policy_reader.jobs.notify import Notifier
from policy_reader.jobs.result_book import ResultBook
from policy_reader.jobs.store import FileJobStore, JobStore

log = logging.getLogger("policy_reader.jobs")


def make_store(settings: Settings) -> JobStore:
    if settings.job_store == "azure":
        from policy_reader.jobs.azure_store import AzureJobStore

        return AzureJobStore(settings)
    return FileJobStore(Path(settings.jobs_dir))


@dataclass
class JobServices:
    settings: Settings
    store: JobStore
    events: EventLog
    book: ResultBook
    accuracy: AccuracyBook  # gold-set evaluation and the audit sample (stored with the reviews)
    exporter: Exporter
    notifier: Notifier
    cache: AnswerCache | None = None  # the answer cache of this process (entries belong to jobs)
    vault: PasswordVault = field(default_factory=PasswordVault)
    ended: threading.Condition = field(default_factory=threading.Condition)

    def safe_apply(self, job_id: str, transition: Any, *args: Any) -> tuple[bool, dict[str, Any]]:
        """Apply a transition; a job deleted meanwhile or a storage error is logged, not raised
        (a runner must not die on the write that records its progress)."""
        from policy_reader.jobs.transitions import apply

        try:
            return apply(self.store, job_id, transition, *args)
        except (PolicyReaderError, OSError) as exc:
            log.warning("could not update job %s: %s", job_id, exc)
            return False, {}

    def job_ended(self) -> None:
        """Wake whoever waits for a job to end (JobManager.wait)."""
        with self.ended:
            self.ended.notify_all()


def build_services(settings: Settings, store: JobStore | None = None) -> JobServices:
    store = store or make_store(settings)
    events = EventLog(store)
    book = ResultBook(store)
    accuracy = AccuracyBook(store, book)
    exporter = Exporter(store, book, accuracy)
    return JobServices(settings=settings, store=store, events=events, book=book, accuracy=accuracy, exporter=exporter,
                       notifier=Notifier(settings, store, book, exporter, events, accuracy),
                       cache=make_cache(settings))
