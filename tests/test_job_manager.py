"""JobManager end to end: real PDFs, the offline extractor or the fake OpenAI server, real files."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from job_manager import JobManager, JobOptions, JobStatus, current_user
from policy_reader.config import load_settings
from policy_reader.errors import ConfigError, JobNotFound, LimitExceeded
from policy_reader.fsio import read_json
from policy_reader.models import Variable, VariableType
from tests.fixtures.common import wait_until

ROOT = Path(__file__).resolve().parent.parent
VARIABLES = [Variable(name="year_adopted", question="In which year was the policy adopted?", type=VariableType.YEAR)]


def _pdfs(make_pdf, count: int, prefix: str = "doc") -> list[tuple[str, Path]]:
    return [(f"{prefix}{i}.pdf", make_pdf(f"{prefix}{i}.pdf", [f"Policy {prefix}{i}. The policy was adopted in {2000 + i}."]))
            for i in range(count)]


@pytest.fixture
def manager(settings):
    m = JobManager(settings)
    yield m
    m.shutdown(wait=False)


def _slow_manager(fake_openai, tmp_path, latency: float = 0.3, **env) -> JobManager:
    fake_openai.latency = latency
    fake_openai.facts = {"year_adopted": (2001, "adopted in 2001")}
    return JobManager(fake_openai.settings(JOBS_DIR=str(tmp_path / "jobs"), **env))


def test_job_lifecycle_offline(manager, make_pdf, settings):
    files = _pdfs(make_pdf, 3)
    job_id = manager.create_job(name="Lifecycle", files=files, variables=VARIABLES)
    assert manager.get_job_status(job_id).status == JobStatus.PENDING
    manager.run_job_async(job_id)
    view = manager.wait(job_id, timeout=60)

    assert view.status == JobStatus.COMPLETED
    assert (view.documents_total, view.documents_done, view.documents_failed) == (3, 3, 0)
    assert view.started_at and view.finished_at and view.heartbeat_at and view.in_flight == []
    results = manager.get_results(job_id)
    assert [r.doc_id for r in results] == ["d0001", "d0002", "d0003"]
    assert [r.variables[0].value for r in results] == [2000, 2001, 2002]

    folder = settings.jobs_dir / job_id
    state = read_json(folder / "job.json")
    assert "documents" not in state and state["status"] == "completed"
    assert len(read_json(folder / "documents.json")["documents"]) == 3
    assert sorted(p.name for p in (folder / "results").iterdir()) == ["d0001.json", "d0002.json", "d0003.json"]
    for name in ("results.csv", "results.xlsx", "results.json"):
        assert (folder / "exports" / name).stat().st_size > 0
    assert json.loads(manager.get_export(job_id, "json"))["status"] == "completed"
    assert manager.input_path(job_id, "d0002").read_bytes() == files[1][1].read_bytes()
    kinds = [e["type"] for e in manager.read_events(job_id)]
    assert kinds[0] == "job.created" and "job.started" in kinds and kinds[-1] == "job.completed"
    assert kinds.count("doc.finished") == 3
    assert manager.get_variables(job_id) == VARIABLES


def test_run_job_async_returns_fast_for_100_documents(fake_openai, tmp_path, make_pdf):
    # model calls with latency: the job cannot finish (even from the answer cache) before the cancel
    manager = _slow_manager(fake_openai, tmp_path)
    try:
        data = make_pdf("one.pdf", ["The policy was adopted in 2015."]).read_bytes()
        job_id = manager.create_job(name="Big", files=[(f"f{i}.pdf", data) for i in range(100)],
                                    variables=VARIABLES)
        started = time.perf_counter()
        manager.run_job_async(job_id)
        elapsed = time.perf_counter() - started
        manager.cancel_job(job_id)
        view = manager.wait(job_id, timeout=60)
        assert elapsed < 1.0  # generous sanity bound; real timing lives in bench/
        assert view.status == JobStatus.CANCELLED
        assert len(manager.get_results(job_id)) == view.documents_done < 100
    finally:
        manager.shutdown(wait=False)


def test_queue_is_fifo_with_priority(fake_openai, tmp_path, make_pdf):
    manager = _slow_manager(fake_openai, tmp_path, latency=0.3, MAX_PARALLEL_JOBS=1)
    try:
        first = manager.submit(name="first", files=_pdfs(make_pdf, 2, "a"), variables=VARIABLES)
        wait_until(lambda: manager.get_job_status(first).status == JobStatus.RUNNING)
        second = manager.submit(name="second", files=_pdfs(make_pdf, 1, "b"), variables=VARIABLES)
        third = manager.submit(name="third", files=_pdfs(make_pdf, 1, "c"), variables=VARIABLES)
        urgent = manager.submit(name="urgent", files=_pdfs(make_pdf, 1, "d"), variables=VARIABLES,
                                options=JobOptions(priority=5))
        positions = {j: manager.get_job_status(j).queue_position for j in (second, third, urgent)}
        assert positions == {urgent: 1, second: 2, third: 3}
        views = [manager.wait(j, timeout=30) for j in (first, second, third, urgent)]
        assert all(v.status == JobStatus.COMPLETED for v in views)
        order = sorted(views, key=lambda v: v.started_at)
        assert [v.name for v in order] == ["first", "urgent", "second", "third"]
    finally:
        manager.shutdown()


def test_cancel_keeps_finished_results_and_exports(fake_openai, tmp_path, make_pdf):
    manager = _slow_manager(fake_openai, tmp_path, latency=0.15, DOCS_PER_JOB=1)
    try:
        job_id = manager.submit(name="cancel me", files=_pdfs(make_pdf, 8), variables=VARIABLES)
        wait_until(lambda: manager.get_job_status(job_id).documents_done >= 2)
        manager.cancel_job(job_id)
        view = manager.wait(job_id, timeout=30)
        assert view.status == JobStatus.CANCELLED
        results = manager.get_results(job_id)
        assert 2 <= len(results) < 8 and len(results) == view.documents_done
        assert all(r.status == "ok" for r in results)
        folder = tmp_path / "jobs" / job_id
        assert (folder / "exports" / "results.csv").exists()
        exported = json.loads((folder / "exports" / "results.json").read_text())
        assert len(exported["documents"]) == len(results)
        assert "job.cancel_requested" in [e["type"] for e in manager.read_events(job_id)]
    finally:
        manager.shutdown()


def test_one_bad_document_does_not_fail_the_job(manager, make_pdf):
    files = _pdfs(make_pdf, 2) + [("empty.pdf", b"")]
    view = manager.wait(manager.submit(name="mixed", files=files, variables=VARIABLES), timeout=60)
    assert view.status == JobStatus.COMPLETED
    assert (view.documents_done, view.documents_failed) == (3, 1)
    bad = [r for r in manager.get_results(view.id) if r.status == "failed"]
    assert len(bad) == 1 and bad[0].file == "empty.pdf" and bad[0].error_code == "empty" and bad[0].error


def test_all_documents_bad_fails_the_job_with_reason(manager):
    view = manager.wait(manager.submit(name="bad", files=[("a.pdf", b""), ("b.pdf", b"not a pdf at all")],
                                       variables=VARIABLES), timeout=60)
    assert view.status == JobStatus.FAILED
    assert view.error.startswith("All 2 documents failed") and ("a.pdf" in view.error or "b.pdf" in view.error)


@pytest.mark.parametrize("bad_id", ["../etc", "../../x", "/etc/passwd", "..", "", "ABCDEF0123456789ABCD",
                                    "0123456789abcdef012", "0123456789abcdef0123/..", "0123456789abcdef0123\x00"])
def test_path_traversal_ids_are_rejected(manager, bad_id, settings):
    for call in (manager.get_job_status, manager.cancel_job, manager.delete_job, manager.resume_job,
                 manager.get_results, manager.outbox_files):
        with pytest.raises(JobNotFound):
            call(bad_id)
    assert settings.jobs_dir.exists()


def test_doc_id_traversal_rejected(manager, make_pdf):
    job_id = manager.create_job(name="x", files=_pdfs(make_pdf, 1), variables=VARIABLES)
    for bad in ("../job.json", "/etc/passwd", "d0001/../../x", "d9999"):
        with pytest.raises(JobNotFound):
            manager.input_path(job_id, bad)


def test_ownership_filters_listing_and_opening(manager, make_pdf):
    alice = manager.create_job(name="a", files=_pdfs(make_pdf, 1), variables=VARIABLES, owner="alice@example.org")
    bob = manager.create_job(name="b", files=_pdfs(make_pdf, 1), variables=VARIABLES, owner="bob@example.org")
    assert [v.id for v in manager.list_jobs("alice@example.org")] == [alice]
    assert {v.id for v in manager.list_jobs(None)} == {alice, bob}
    with pytest.raises(JobNotFound):
        manager.get_job_status(bob, owner="alice@example.org")
    with pytest.raises(JobNotFound):
        manager.cancel_job(bob, owner="alice@example.org")
    assert manager.get_job_status(bob, owner="bob@example.org").owner == "bob@example.org"
    easy_auth = load_settings(WEBSITE_AUTH_ENABLED="True")  # the rule itself: tests/test_auth.py
    assert current_user({"X-MS-CLIENT-PRINCIPAL-NAME": "carol@example.org"}, easy_auth) == "carol@example.org"
    assert current_user({"X-MS-CLIENT-PRINCIPAL-NAME": "carol@example.org"}, load_settings()) == "local"


def test_cleanup_removes_old_finished_jobs_never_running(fake_openai, tmp_path, make_pdf):
    manager = _slow_manager(fake_openai, tmp_path, latency=0.3, DOCS_PER_JOB=1)
    try:
        done = manager.wait(manager.submit(name="old", files=_pdfs(make_pdf, 1), variables=VARIABLES), timeout=30)
        assert done.status == JobStatus.COMPLETED
        manager.update_progress(done.id, finished_at="2000-01-01T00:00:00+00:00")
        running = manager.submit(name="busy", files=_pdfs(make_pdf, 5, "r"), variables=VARIABLES)
        wait_until(lambda: manager.get_job_status(running).status == JobStatus.RUNNING)
        removed = manager.cleanup_old_jobs(max_age_hours=0)
        assert removed == [done.id]
        assert manager.get_job_status(running).status == JobStatus.RUNNING
        with pytest.raises(JobNotFound):
            manager.get_job_status(done.id)
        # and the TTL default keeps recent finished jobs
        manager.cancel_job(running)
        assert manager.wait(running, timeout=30).status == JobStatus.CANCELLED
        assert manager.cleanup_old_jobs() == []
    finally:
        manager.shutdown()


def test_two_processes_updating_one_job_do_not_corrupt_it(manager, make_pdf, settings):
    job_id = manager.create_job(name="shared", files=_pdfs(make_pdf, 1), variables=VARIABLES)
    script = ROOT / "tests" / "helpers" / "bump_state.py"
    procs = [subprocess.Popen([sys.executable, str(script), str(settings.jobs_dir), job_id, "150", tag])
             for tag in ("p1", "p2")]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    state = read_json(settings.jobs_dir / job_id / "job.json")
    assert state["counter"] == 300
    assert state["bumped_by_p1"] == 150 and state["bumped_by_p2"] == 150


def test_email_written_to_outbox_at_completion(manager, make_pdf):
    view = manager.wait(manager.submit(name="mail", files=_pdfs(make_pdf, 2), variables=VARIABLES,
                                       recipients=["analyst@example.org"]), timeout=60)
    assert view.status == JobStatus.COMPLETED
    assert view.email.status == "sent" and view.email.mode == "outbox"
    files = manager.outbox_files(view.id)
    assert len(files) == 1 and files[0].suffix == ".eml"
    text = files[0].read_text(errors="replace")
    assert "analyst@example.org" in text and "results.csv" in text and "results.xlsx" in text


def test_reviews_apply_to_results_and_exports(manager, make_pdf):
    view = manager.wait(manager.submit(name="review", files=_pdfs(make_pdf, 2), variables=VARIABLES), timeout=60)
    before = manager.get_export(view.id, "csv")
    manager.save_review(view.id, "d0001", "year_adopted", value=1999)
    answer = manager.get_results(view.id)[0].variables[0]
    assert (answer.value, answer.original_value, answer.reviewed) == (1999, 2000, True)
    after = manager.get_export(view.id, "csv")
    assert b"1999" in after and b"1999" not in before
    assert json.loads(manager.get_export(view.id, "json"))["documents"][0]["variables"][0]["value"] == 1999


def test_user_limits(tmp_path, make_pdf):
    settings = load_settings(JOBS_DIR=str(tmp_path / "jobs"), USER_MAX_CONCURRENT_JOBS=1, USER_MAX_DOCUMENTS_PER_DAY=3)
    manager = JobManager(settings, start=False)
    try:
        manager.create_job(name="one", files=_pdfs(make_pdf, 2), variables=VARIABLES, owner="u")
        with pytest.raises(LimitExceeded, match="USER_MAX_CONCURRENT_JOBS"):
            manager.create_job(name="two", files=_pdfs(make_pdf, 1), variables=VARIABLES, owner="u")
        manager.create_job(name="other user", files=_pdfs(make_pdf, 1), variables=VARIABLES, owner="v")
        manager.cancel_job(manager.list_jobs("u")[0].id)
        with pytest.raises(LimitExceeded, match="resets at 00:00 UTC"):
            manager.create_job(name="three", files=_pdfs(make_pdf, 2), variables=VARIABLES, owner="u")
    finally:
        manager.shutdown()


def test_token_budget_stops_job_and_keeps_finished(fake_openai, tmp_path, make_pdf):
    manager = _slow_manager(fake_openai, tmp_path, latency=0.0, DOCS_PER_JOB=1, JOB_TOKEN_BUDGET=1)
    try:
        view = manager.wait(manager.submit(name="budget", files=_pdfs(make_pdf, 4), variables=VARIABLES), timeout=30)
        assert view.status == JobStatus.COMPLETED
        assert view.limit_message and "Token budget" in view.limit_message
        assert 1 <= view.documents_done < 4 == view.documents_total
        assert len(manager.get_results(view.id)) == view.documents_done
    finally:
        manager.shutdown()


@pytest.mark.parametrize("lie", [{"prompt_tokens": -1_000_000, "total_tokens": -1_000_000},
                                 {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}])
def test_token_budget_trips_when_the_server_lies_about_usage(fake_openai, tmp_path, make_pdf, lie):
    """A server reporting negative (or no) tokens must not switch JOB_TOKEN_BUDGET off nor make the cost
    negative: implausible counts are replaced by an estimate from characters."""
    fake_openai.usage_override = lie
    manager = _slow_manager(fake_openai, tmp_path, latency=0.0, DOCS_PER_JOB=1, JOB_TOKEN_BUDGET=1)
    try:
        view = manager.wait(manager.submit(name="budget", files=_pdfs(make_pdf, 4), variables=VARIABLES), timeout=30)
        assert view.status == JobStatus.COMPLETED
        assert view.limit_message and "Token budget" in view.limit_message
        assert 1 <= view.documents_done < 4 == view.documents_total
        results = manager.get_results(view.id)
        assert all(r.usage.prompt_tokens > 0 and r.usage.cost_usd >= 0 for r in results)
    finally:
        manager.shutdown()


def test_missing_key_is_a_config_error(manager, make_pdf):
    with pytest.raises(ConfigError):
        manager.create_job(name="x", files=_pdfs(make_pdf, 1), variables=VARIABLES,
                           options=JobOptions(backend="azure"))


def test_shutdown_interrupts_and_next_start_resumes(fake_openai, tmp_path, make_pdf):
    first = _slow_manager(fake_openai, tmp_path, latency=0.2, DOCS_PER_JOB=1)
    job_id = first.submit(name="restart", files=_pdfs(make_pdf, 5), variables=VARIABLES)
    wait_until(lambda: first.get_job_status(job_id).documents_done >= 1)
    first.shutdown(wait=False)
    view = first.get_job_status(job_id)
    assert view.status == JobStatus.INTERRUPTED
    finished_before = set(r.doc_id for r in first.get_results(job_id))
    second = JobManager(first.settings)
    try:
        view = second.wait(job_id, timeout=30)
        assert view.status == JobStatus.COMPLETED and view.documents_done == 5
        assert finished_before <= {r.doc_id for r in second.get_results(job_id)}
        assert "job.resumed" in [e["type"] for e in second.read_events(job_id)]
    finally:
        second.shutdown()


def test_metrics(manager, make_pdf):
    manager.wait(manager.submit(name="m", files=_pdfs(make_pdf, 2), variables=VARIABLES), timeout=60)
    metrics = manager.metrics()
    assert metrics["jobs_by_status"]["completed"] == 1 and metrics["jobs_total"] == 1
    assert metrics["documents_per_minute"] > 0
    assert sum(day["documents"] for day in metrics["per_day"].values()) == 2


def test_secrets_never_reach_job_files_or_logs(fake_openai, tmp_path, make_pdf, caplog):
    """API key, SMTP password and webhook secret: not in any job file, export, email or log line,
    including when the model rejects the key and the error is recorded on the documents."""
    from tests.fixtures.openai_server import TEST_KEY

    smtp_password, webhook_secret = "smtp-pass-Xy9-secret", "whsec-Zq8-secret"
    fake_openai.facts = {"year_adopted": (2001, "adopted in 2001")}
    fake_openai.add_fault("401")  # the first document's call: an auth error reported on that document
    settings = fake_openai.settings(JOBS_DIR=str(tmp_path / "jobs"), SMTP_PASSWORD=smtp_password,
                                    WEBHOOK_SECRET=webhook_secret, WEBHOOK_URL="http://127.0.0.1:9/hook",
                                    DOCS_PER_JOB=1)
    caplog.set_level("DEBUG")
    manager = JobManager(settings)
    try:
        job_id = manager.submit(name="Secrets", files=_pdfs(make_pdf, 3), variables=VARIABLES,
                                recipients=["analyst@example.org"])
        view = manager.wait(job_id, timeout=60)
    finally:
        manager.shutdown(wait=False)
    assert view.finished and view.documents_failed >= 1  # the 401 was recorded on a document
    assert any(r.error for r in manager.get_results(job_id))
    files = [p for p in settings.jobs_dir.rglob("*") if p.is_file() and p.suffix != ".pdf"]
    assert any(p.suffix == ".eml" for p in files) and any(p.name == "results.xlsx" for p in files)
    for secret in (TEST_KEY, smtp_password, webhook_secret):
        for path in files:
            assert secret.encode() not in path.read_bytes(), f"{secret[:6]}... reached {path}"
        assert secret not in caplog.text


def test_email_to_a_refused_recipient_is_recorded_and_the_others_get_it(smtp_server, tmp_path, make_pdf):
    smtp_server.handler.refuse_recipient("ghost@example.org")
    manager = JobManager(smtp_server.settings(JOBS_DIR=str(tmp_path / "jobs")))
    try:
        job_id = manager.submit(name="Mail", files=_pdfs(make_pdf, 1), variables=VARIABLES,
                                recipients=["analyst@example.org", "ghost@example.org"])
        view = manager.wait(job_id, timeout=60)
    finally:
        manager.shutdown(wait=False)
    assert view.status == JobStatus.COMPLETED
    assert view.email.status == "sent" and view.email.refused == ["ghost@example.org"]
    assert "ghost@example.org" in view.email.error
    delivered = [rcpt for message in smtp_server.messages for rcpt in message.rcpt_tos]
    assert delivered == ["analyst@example.org"]


def test_only_allowed_models_are_accepted_and_the_chosen_one_is_used(fake_openai, tmp_path, make_pdf):
    from policy_reader.errors import EmailError, JobError

    fake_openai.facts = {"year_adopted": (2001, "adopted in 2001")}
    manager = JobManager(fake_openai.settings(JOBS_DIR=str(tmp_path / "jobs"), ALLOWED_MODELS="gpt-big, gpt-small",
                                              EMAIL_ALLOWED_DOMAINS="example.org"))
    try:
        with pytest.raises(JobError, match="'gpt-5-pro' is not offered here; choose one of: gpt-fake, gpt-big, gpt-small"):
            manager.create_job(name="x", files=_pdfs(make_pdf, 1), variables=VARIABLES,
                               options=JobOptions(model="gpt-5-pro"))
        with pytest.raises(EmailError, match="only emails addresses at example.org"):
            manager.create_job(name="x", files=_pdfs(make_pdf, 1), variables=VARIABLES, recipients=["eve@evil.com"])
        assert manager.list_jobs() == []  # nothing was stored for the refused jobs
        view = manager.wait(manager.submit(name="big", files=_pdfs(make_pdf, 1), variables=VARIABLES,
                                           options=JobOptions(model="gpt-big")), timeout=30)
        assert view.status == JobStatus.COMPLETED and view.model == "gpt-big"
        assert {r.body["model"] for r in fake_openai.requests} == {"gpt-big"}
    finally:
        manager.shutdown(wait=False)


def test_skipped_uploads_stay_in_the_jobs_record(manager, make_pdf, settings):
    """Before: files the upload skipped vanished: not in job.json, My jobs, the JSON or the counts."""
    from policy_reader.app import view as ui
    from policy_reader.jobs.intake import screen_files

    good = make_pdf("a.pdf", ["The policy was adopted in 2004."]).read_bytes()
    accepted, skipped = screen_files([("a.pdf", good), ("notes.pdf", b"not a pdf at all"), ("copy.pdf", good),
                                      ("empty.pdf", b"")], max_file_mb=5)
    assert [f.code for f in skipped] == ["not_pdf", "duplicate", "empty"]
    view = manager.wait(manager.submit(name="skips", files=accepted, variables=VARIABLES, skipped=skipped), timeout=60)
    assert view.status == JobStatus.COMPLETED and (view.documents_total, view.documents_skipped) == (1, 3)
    assert [(f.name, f.status) for f in view.skipped] == [("notes.pdf", "skipped"), ("copy.pdf", "skipped"),
                                                         ("empty.pdf", "skipped")]
    assert "the same file as a.pdf" in view.skipped[1].reason
    assert (view.documents_ok, view.files_uploaded) == (1, 4)  # "1 of 4 documents read, 3 skipped"
    assert ui.history_frame(manager.list_jobs()).iloc[0]["skipped"] == 3

    state = read_json(settings.jobs_dir / view.id / "job.json")
    assert [s["name"] for s in state["skipped"]] == ["notes.pdf", "copy.pdf", "empty.pdf"]
    payload = json.loads(manager.get_export(view.id, "json"))
    assert [(d["file"], d["status"]) for d in payload["documents"]] == [
        ("a.pdf", "ok"), ("notes.pdf", "skipped"), ("copy.pdf", "skipped"), ("empty.pdf", "skipped")]
    assert payload["documents"][1]["reason"] == "this is not a PDF file"
    assert payload["files"] == {"uploaded": 4, "read": 1, "failed": 0, "skipped": 3}

    # a job.json written before skipped files were kept still loads
    state.pop("skipped")
    from policy_reader.fsio import atomic_write_json
    atomic_write_json(settings.jobs_dir / view.id / "job.json", state)
    assert manager.get_job_status(view.id).skipped == [] and json.loads(manager.get_export(view.id, "json"))


def test_a_skipped_files_name_keeps_no_bidi_override(manager, make_pdf):
    from policy_reader.models import SkippedFile

    pdf = make_pdf("a.pdf", ["The policy was adopted in 2004."])
    job_id = manager.create_job(name="names", files=[("a.pdf", pdf)], variables=VARIABLES,
                                skipped=[SkippedFile(name="scan\u202egpj.exe", reason="not \u2067a PDF")])
    assert [(f.name, f.reason) for f in manager.get_job_status(job_id).skipped] == [("scangpj.exe", "not a PDF")]


def test_a_job_of_only_skipped_files_is_refused_with_their_reasons(manager):
    from policy_reader.errors import JobError
    from policy_reader.jobs.intake import screen_files

    accepted, skipped = screen_files([("notes.txt", b"hello")], max_file_mb=5)
    with pytest.raises(JobError, match="notes.txt: this is not a PDF file"):
        manager.create_job(name="none", files=accepted, variables=VARIABLES, skipped=skipped)
