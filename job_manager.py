"""The seed's jobs API, kept where integrations and scripts import it: `import job_manager`.

Everything lives in the package (`policy_reader/jobs/manager.py`); this module only re-exports the
pinned public names (tests/test_public_api.py). Nothing under `policy_reader/` imports this module.
"""
from __future__ import annotations

from policy_reader.jobs.manager import (
    JobManager,
    JobOptions,
    JobStatus,
    JobView,
    cleanup_old_jobs,
    create_job,
    current_user,
    get_job_manager,
    get_job_status,
    run_job_async,
    update_progress,
)

__all__ = ["JobManager", "JobOptions", "JobStatus", "JobView", "cleanup_old_jobs", "create_job", "current_user",
           "get_job_manager", "get_job_status", "run_job_async", "update_progress"]
