"""Helper process for the crash test: start a JobManager (which recovers interrupted jobs),
make sure JOB_ID runs, and wait for it. The test SIGKILLs this process at random moments.

usage: crash_worker.py JOB_ID      (settings come from the environment: JOBS_DIR, LLM_BACKEND, ...)
Prints "ready" once the manager is up, "done <status>" when the job has ended.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from job_manager import JobManager, JobStatus  # noqa: E402
from policy_reader.config import load_settings  # noqa: E402


def main() -> int:
    job_id = sys.argv[1]
    manager = JobManager(load_settings(), start=True)  # recover_interrupted() runs here
    print("ready", flush=True)
    view = manager.get_job_status(job_id)
    if view.status == JobStatus.PENDING:
        manager.run_job_async(job_id)  # no-op when recovery already queued it
    elif view.status in (JobStatus.INTERRUPTED, JobStatus.CANCELLED):
        manager.resume_job(job_id)
    view = manager.wait(job_id, timeout=120)
    print(f"done {view.status.value}", flush=True)
    manager.shutdown(wait=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
