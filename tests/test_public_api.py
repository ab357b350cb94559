"""The public API is pinned (as httpx pins its exported names): a change here is a deliberate one.

What main.py, the CLI, scripts and integrations call: the `job_manager` module (the `JobManager`
facade and the module-level functions of the API this product grew from) and `policy_reader.jobs`.
"""
from __future__ import annotations

import inspect

import job_manager
import policy_reader.jobs


def _params(fn) -> list[tuple[str, str]]:
    return [(p.name, p.kind.name) for p in inspect.signature(fn).parameters.values() if p.name != "self"]


KW = "KEYWORD_ONLY"
POS = "POSITIONAL_OR_KEYWORD"
OWNER = ("owner", POS)
CREATE = [("name", KW), ("files", KW), ("variables", KW), ("recipients", KW), ("owner", KW), ("options", KW),
          ("skipped", KW)]

JOB_MANAGER_METHODS = {
    "audit_estimate": [("job_id", POS), OWNER],
    "cancel_job": [("job_id", POS), OWNER],
    "cleanup_old_jobs": [("max_age_hours", POS)],
    "create_job": CREATE,
    "delete_job": [("job_id", POS), OWNER],
    "evaluate": [("job_id", POS), ("gold", POS), ("filename", POS), ("as_extracted", KW), ("owner", KW)],
    "get_audit": [("job_id", POS), OWNER],
    "get_export": [("job_id", POS), ("fmt", POS), OWNER],
    "get_job_status": [("job_id", POS), OWNER],
    "get_results": [("job_id", POS), OWNER],
    "get_variables": [("job_id", POS), OWNER],
    "input_path": [("job_id", POS), ("doc_id", POS), OWNER],
    "list_jobs": [OWNER],
    "mark_audit": [("job_id", POS), ("doc_id", POS), ("variable", POS), ("correct", KW), ("owner", KW)],
    "metrics": [OWNER],
    "outbox_files": [("job_id", POS), OWNER],
    "read_events": [("job_id", POS), ("limit", POS), OWNER],
    "recover_interrupted": [],
    "resend_email": [("job_id", POS), OWNER],
    "rerun": [("job_id", POS), ("doc_ids", KW), ("variables", KW), ("password", KW), ("model", KW),
              ("keep_corrections", KW), ("owner", KW)],
    "resume_job": [("job_id", POS), OWNER],
    "run_job_async": [("job_id", POS)],
    "save_review": [("job_id", POS), ("doc_id", POS), ("variable", POS), ("value", KW), ("reviewed", KW),
                    ("note", KW), ("owner", KW)],
    "save_reviews": [("job_id", POS), ("decisions", POS), ("owner", KW)],
    "undo_reviews": [("job_id", POS), ("action_id", POS), ("owner", KW)],
    "shutdown": [("wait", POS)],
    "start_audit": [("job_id", POS), ("margin", KW), ("seed", KW), ("replace", KW), ("owner", KW)],
    "submit": [("create_kwargs", "VAR_KEYWORD")],
    "update_progress": [("job_id", POS), ("changes", "VAR_KEYWORD")],
    "wait": [("job_id", POS), ("timeout", POS)],
}

MODULE_FUNCTIONS = {
    "get_job_manager": [("settings", POS)],
    "create_job": CREATE,
    "run_job_async": [("job_id", POS)],
    "get_job_status": [("job_id", POS), OWNER],
    "update_progress": [("job_id", POS), ("changes", "VAR_KEYWORD")],
    "cleanup_old_jobs": [("max_age_hours", POS)],
    "current_user": [("headers", POS), ("settings", POS)],
}


def test_job_manager_module_exports() -> None:
    assert sorted(job_manager.__all__) == sorted(
        ["JobManager", "JobOptions", "JobStatus", "JobView", *MODULE_FUNCTIONS])
    for name in job_manager.__all__:
        assert hasattr(job_manager, name), name


def test_job_manager_methods_and_their_parameters() -> None:
    public = {n for n, v in vars(job_manager.JobManager).items() if not n.startswith("_") and callable(v)}
    assert public == set(JOB_MANAGER_METHODS)
    for name, params in JOB_MANAGER_METHODS.items():
        assert _params(getattr(job_manager.JobManager, name)) == params, name
    assert _params(job_manager.JobManager.__init__) == [("settings", POS), ("start", KW), ("store", KW)]


def test_module_functions_and_their_parameters() -> None:
    for name, params in MODULE_FUNCTIONS.items():
        assert _params(getattr(job_manager, name)) == params, name


def test_statuses_and_options() -> None:
    assert [s.value for s in job_manager.JobStatus] == ["pending", "running", "completed", "failed", "cancelled",
                                                        "interrupted"]
    assert set(job_manager.JobOptions.model_fields) == {"backend", "model", "ocr", "accept_threshold", "password",
                                                        "priority", "batch", "second_opinion"}


def test_jobs_package_exports() -> None:
    assert sorted(policy_reader.jobs.__all__) == ["ACTIVE", "Executor", "JobOptions", "JobServices", "JobStatus",
                                                  "JobView", "TERMINAL", "build_services"]


def test_module_api_drives_the_process_wide_manager(make_pdf, settings) -> None:
    """Code written against the original module API runs unchanged."""
    from job_manager import (JobStatus, cleanup_old_jobs, create_job, get_job_manager, get_job_status,
                             run_job_async, update_progress)
    from policy_reader.models import Variable, VariableType

    manager = get_job_manager(settings)
    try:
        assert get_job_manager() is manager
        job_id = create_job(name="module api", files=[("a.pdf", make_pdf("a.pdf", ["Adopted in 2019."]))],
                            variables=[Variable(name="year", question="Year adopted?", type=VariableType.YEAR)])
        update_progress(job_id, note="queued by a script")
        assert manager.store.read_state(job_id)["note"] == "queued by a script"
        run_job_async(job_id)
        assert manager.wait(job_id, timeout=60).status == JobStatus.COMPLETED
        assert get_job_status(job_id).documents_done == 1
        assert cleanup_old_jobs(max_age_hours=1000) == []
    finally:
        manager.shutdown()
    assert get_job_manager(settings) is not manager  # a closed manager is replaced
    get_job_manager().shutdown()
