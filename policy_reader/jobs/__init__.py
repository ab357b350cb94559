"""The job engine: one job model, one set of lifecycle steps, two executors.

    state.py        statuses, options, the view, a new job's state          (the job model)
    transitions.py  pure changes of job.json, leases, `apply()`              (the only way state changes)
    tally.py        counting finished documents once
    store.py        JobStore protocol, FileJobStore, ids                     (azure_store.py: AzureJobStore)
    intake.py       checks and storage of a new job
    context.py      what running one job's documents needs (extractor, cache, settings, passwords)
    document.py     run one document, keep its result once                   (both executors)
    lifecycle.py    decide a run's outcome, finalise it once (exports, email, webhook, final state)
    results.py / exports.py / notify.py / events.py                          (services both executors use)
    services.py     `build_services(settings)`: everything above, wired
    executor.py     the Executor protocol
    local.py        LocalExecutor: threads in this process (JOB_STORE=file)
    queued.py       QueueExecutor: Azure Queue Storage, one message per document (JOB_STORE=azure)
    queue.py / liveness.py / retention.py / metrics.py

The public API is the `JobManager` facade in the top-level `job_manager.py`.
"""
from __future__ import annotations

from policy_reader.jobs.executor import Executor
from policy_reader.jobs.services import JobServices, build_services
from policy_reader.jobs.state import ACTIVE, TERMINAL, JobOptions, JobStatus, JobView

__all__ = ["ACTIVE", "TERMINAL", "Executor", "JobOptions", "JobServices", "JobStatus", "JobView", "build_services"]
