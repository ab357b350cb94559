"""The job's event log (events.jsonl): what happened, when, for the UI's log and for operators.

Writing an event never fails the caller: a job deleted meanwhile, or a full disk, loses the line,
not the work.
"""
from __future__ import annotations

import logging
from typing import Any

from policy_reader.errors import JobNotFound
from policy_reader.jobs.state import iso
from policy_reader.jobs.store import JobStore

log = logging.getLogger("policy_reader.jobs")


class EventLog:
    def __init__(self, store: JobStore) -> None:
        self.store = store

    def emit(self, job_id: str, kind: str, **fields: Any) -> None:
        event = {"t": iso(), "type": kind, **{k: v for k, v in fields.items() if v is not None}}
        try:
            self.store.append_event(job_id, event)
        except (JobNotFound, OSError) as exc:
            log.debug("event %s of job %s not written: %s", kind, job_id, exc)
