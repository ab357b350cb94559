"""main.py driven by streamlit.testing.v1.AppTest: the real script, real JobManager, real PDFs.

The autouse fixture in tests/fixtures/common.py isolates env and JOBS_DIR and chdirs into
tmp_path, so main.py is referred to by absolute path (and finds samples/ next to itself).
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from policy_reader.config import get_settings
from tests.fixtures.streamlit_client import shown
from tests.pdf_factory import make_encrypted_pdf, make_text_pdf

MAIN = Path(__file__).resolve().parents[1] / "main.py"
FAKE_KEY = "sk-known-fake-key-for-ui-test-1234567890"
RUN_TIMEOUT = 60.0


@pytest.fixture(autouse=True)
def _fresh_process_state() -> Iterator[None]:
    """Each test gets its own settings and JobManager (both are process-wide caches in the app)."""
    get_settings.cache_clear()
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()  # on_release shuts the test's JobManager down
    get_settings.cache_clear()


def _app() -> AppTest:
    return AppTest.from_file(MAIN, default_timeout=RUN_TIMEOUT)


def _walk(node: object) -> Iterator[object]:
    yield node
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            yield from _walk(child)


def all_text(at: AppTest) -> str:
    """Every element's full protobuf text (labels, bodies, help texts, table data) of the page."""
    parts = []
    for node in _walk(at._tree):
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
    return "\n".join(parts)


def _texts(elements) -> list[str]:
    return [shown(str(getattr(e, "value", ""))) for e in elements]


def _assert_no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def wait_until(at: AppTest, done: Callable[[AppTest], bool], timeout: float = RUN_TIMEOUT) -> AppTest:
    """Rerun the page (like the browser's refresh) until `done` holds."""
    deadline = time.monotonic() + timeout
    while True:
        at.run()
        _assert_no_exception(at)
        if done(at):
            return at
        if time.monotonic() > deadline:
            raise AssertionError("timed out; page shows: " + " | ".join(
                _texts(at.error) + _texts(at.warning) + _texts(at.info) + _texts(at.markdown)))
        time.sleep(0.3)


def has_results(at: AppTest) -> bool:
    return "Results" in _texts(at.subheader)


def start_samples(at: AppTest) -> str:
    at.run()
    _assert_no_exception(at)
    at.button(key="run_samples").click().run()
    _assert_no_exception(at)
    job_id = at.query_params.get("job")
    assert job_id, "the job id goes into the URL"
    return str(job_id)


def test_start_page_renders_offline_backend_without_errors() -> None:
    at = _app().run()
    _assert_no_exception(at)
    assert not at.error
    sidebar = " ".join(_texts(at.sidebar.markdown))
    assert "Offline extractor" in sidebar
    assert "📑 Policy Reader" in _texts(at.main.title)
    assert at.button(key="run_samples").label.startswith("▶️ Try it with the samples")
    editor = at.data_editor[0]
    assert list(editor.value.columns)[:5] == ["name", "question", "type", "options", "always_review"]
    assert "year_adopted" in set(editor.value["name"])  # the sample template is the starting table


def test_api_key_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    at = _app().run()
    _assert_no_exception(at)
    assert "OpenAI" in " ".join(_texts(at.sidebar.markdown))
    text = all_text(at)
    assert "api key" in text  # the configuration summary is there ...
    assert FAKE_KEY not in text  # ... and the key is not
    assert FAKE_KEY[:12] not in text


def test_streamlit_secrets_are_copied_into_the_environment() -> None:
    at = _app()
    at.secrets["OPENAI_API_KEY"] = FAKE_KEY
    at.secrets["OPENAI_MODEL"] = "gpt-from-secrets"
    try:
        at.run()
        _assert_no_exception(at)
        assert os.environ.get("OPENAI_MODEL") == "gpt-from-secrets"
        assert "OpenAI · gpt-from-secrets" in " ".join(_texts(at.sidebar.markdown))
        assert FAKE_KEY not in all_text(at)
    finally:
        os.environ.pop("OPENAI_API_KEY", None)
        os.environ.pop("OPENAI_MODEL", None)


def test_environment_wins_over_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_MODEL", "gpt-from-env")
    at = _app()
    at.secrets["OPENAI_MODEL"] = "gpt-from-secrets"
    at.secrets["OPENAI_API_KEY"] = FAKE_KEY
    try:
        at.run()
        assert "gpt-from-env" in " ".join(_texts(at.sidebar.markdown))
    finally:
        os.environ.pop("OPENAI_API_KEY", None)


def test_samples_run_to_results_and_the_url_reopens_the_job() -> None:
    at = _app()
    job_id = start_samples(at)
    wait_until(at, has_results)
    assert any("Finished" in s for s in _texts(at.success) + _texts(at.warning))
    table = at.dataframe[0].value
    samples = sorted(p.name for p in (MAIN.parent / "samples").glob("*.pdf"))
    assert sorted(table["document"]) == samples
    assert "year_adopted" in table.columns
    assert table["year_adopted"].astype(str).str.fullmatch(r"[?✓] \d{4}").any()  # the offline reader found years
    labels = {b.label for b in at.get("download_button")}
    assert {"⬇️ CSV", "⬇️ Excel", "⬇️ JSON"} <= labels

    # a second tab / a bookmark: a fresh session with ?job=<id> opens the same job
    second = _app()
    second.query_params["job"] = job_id
    second.run()
    _assert_no_exception(second)
    assert has_results(second)
    assert sorted(second.dataframe[0].value["document"]) == samples

    # history lists it, and the admin page draws its charts
    second.sidebar.radio(key="nav").set_value("📂 My jobs").run()
    _assert_no_exception(second)
    history = second.dataframe[0].value
    assert job_id in set(history["id"])
    second.sidebar.radio(key="nav").set_value("📊 Admin").run()
    _assert_no_exception(second)
    assert not second.error


@pytest.mark.parametrize("job_id", ["no-such-job", "0" * 20])
def test_unknown_job_in_url_shows_a_clear_error(job_id: str) -> None:
    at = _app()
    at.query_params["job"] = job_id
    at.run()
    _assert_no_exception(at)
    assert at.error and job_id in _texts(at.error)[0]
    at.button(key="new_job_missing").click().run()
    _assert_no_exception(at)
    assert "job" not in at.query_params
    assert at.button(key="run_samples")


def test_bad_variables_template_shows_the_row() -> None:
    at = _app().run()
    bad = b"name,question,type\nyear_adopted,Which year?,year\ntarget,What target?,colour\n"
    at.file_uploader(key="template_upload").set_value(("vars.csv", bad, "text/csv")).run()
    _assert_no_exception(at)
    errors = " ".join(_texts(at.error))
    assert "Row 3" in errors and "colour" in errors


def test_good_template_replaces_the_table() -> None:
    at = _app().run()
    good = b"name,question,type,options\nlevel,Which level?,category,national; regional\n"
    at.file_uploader(key="template_upload").set_value(("mine.csv", good, "text/csv")).run()
    _assert_no_exception(at)
    assert not at.error
    assert list(at.data_editor[0].value["name"]) == ["level"]
    assert at.data_editor[0].value.loc[0, "options"] == "national; regional"


def test_bad_upload_keeps_the_other_files(tmp_path: Path) -> None:
    a = make_text_pdf(tmp_path / "a.pdf", ["The policy was adopted in 2018."]).read_bytes()
    b = make_text_pdf(tmp_path / "b.pdf", ["The policy was adopted in 2021."]).read_bytes()
    at = _app().run()
    at.file_uploader(key="pdf_upload").set_value([
        ("a.pdf", a, "application/pdf"), ("broken.pdf", b"this is not a pdf", "application/pdf"),
        ("b.pdf", b, "application/pdf")]).run()
    at.button(key="run_job").click().run()
    _assert_no_exception(at)
    assert at.query_params.get("job"), [e.value for e in at.error]
    assert any("broken.pdf — this is not a PDF file" in w for w in _texts(at.warning)), _texts(at.warning)
    wait_until(at, has_results)
    assert sorted(at.dataframe[0].value["document"]) == ["a.pdf", "b.pdf"]
    assert at.get("image"), "the evidence page is shown as an image"
    # the skipped file stays in the job's record: counted and listed with its reason, and in My jobs
    page = " ".join(_texts(at.warning) + _texts(at.markdown) + _texts(at.caption) + _texts(at.success))
    assert "2 of 3 documents read, 1 skipped" in page, page
    assert "broken.pdf — this is not a PDF file" in page, page
    job_id = str(at.query_params["job"])
    at.sidebar.radio(key="nav").set_value("📂 My jobs").run()
    history = at.dataframe[0].value
    assert list(history.loc[history["id"] == job_id, "skipped"]) == [1]
    at.sidebar.radio(key="nav").set_value("🏠 Run").run()

    # a stored PDF that disappeared: a clear message, the rest of the page still works
    for stored in (Path(os.environ["JOBS_DIR"]) / str(at.query_params["job"]) / "inputs").glob("*.pdf"):
        stored.unlink()
    at.run()
    _assert_no_exception(at)
    assert has_results(at)
    assert at.warning or at.error


def test_review_correction_flows_into_the_table_and_csv(tmp_path: Path) -> None:
    pdf = make_text_pdf(tmp_path / "p.pdf", ["National Climate Policy.\nThe policy was adopted in 2018."]).read_bytes()
    template = b"name,question,type\nyear_adopted,In which year was the policy adopted?,year\n"
    at = _app().run()
    at.file_uploader(key="template_upload").set_value(("v.csv", template, "text/csv")).run()
    at.file_uploader(key="pdf_upload").set_value([("p.pdf", pdf, "application/pdf")]).run()
    at.button(key="run_job").click().run()
    job_id = str(at.query_params["job"])
    wait_until(at, has_results)
    key = f"{job_id}_d0001_year_adopted"
    at.text_input(key=f"value_{key}").input("nineteen-ninety")  # the manager types the value and says why not
    next(b for b in at.button if b.label == "💾 Save correction").click().run()
    assert any("nineteen-ninety" in e and "nothing was stored" in e.lower() for e in _texts(at.error)), _texts(at.error)
    at.text_input(key=f"value_{key}").input("1999")
    next(b for b in at.button if b.label == "💾 Save correction").click().run()
    _assert_no_exception(at)
    assert any("Saved" in s for s in _texts(at.success))
    assert list(at.dataframe[0].value["year_adopted"]) == ["✎ 1999"]  # marked as corrected
    assert _export_has(job_id, "1999")


def _export_has(job_id: str, needle: str) -> bool:
    """Read the CSV export straight from the job folder's manager, through the public API."""
    from job_manager import JobManager

    manager = JobManager(get_settings(), start=False)
    try:
        return needle in manager.get_export(job_id, "csv").decode("utf-8")
    finally:
        manager.shutdown()


def test_invalid_recipient_is_reported_and_no_job_starts(tmp_path: Path) -> None:
    pdf = make_text_pdf(tmp_path / "p.pdf", ["Adopted in 2018."]).read_bytes()
    at = _app().run()
    at.file_uploader(key="pdf_upload").set_value([("p.pdf", pdf, "application/pdf")]).run()
    at.text_area(key="recipients").input("not-an-address").run()
    at.button(key="run_job").click().run()
    _assert_no_exception(at)
    assert at.error, "an invalid address is an error"
    assert "job" not in at.query_params


def test_recipient_outside_the_allowed_domains_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMAIL_ALLOWED_DOMAINS", "example.org")
    pdf = make_text_pdf(tmp_path / "p.pdf", ["Adopted in 2018."]).read_bytes()
    at = _app().run()
    at.file_uploader(key="pdf_upload").set_value([("p.pdf", pdf, "application/pdf")]).run()
    at.text_area(key="recipients").input("analyst@example.org, eve@evil.com").run()
    at.button(key="run_job").click().run()
    _assert_no_exception(at)
    assert any("eve@evil.com" in e and "EMAIL_ALLOWED_DOMAINS" in e for e in _texts(at.error)), _texts(at.error)
    assert "job" not in at.query_params


def test_credentials_in_the_base_url_are_masked_in_the_sidebar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "https://gateway-user:Gw-pass-5521@127.0.0.1:9/v1")
    at = _app().run()
    _assert_no_exception(at)
    assert any("https://***@127.0.0.1:9/v1" in c for c in _texts(at.sidebar.caption)), _texts(at.sidebar.caption)
    text = all_text(at)
    assert "Gw-pass-5521" not in text and "gateway-user" not in text


def _two_models(monkeypatch: pytest.MonkeyPatch, fake_openai, tmp_path: Path) -> bytes:
    """The fake OpenAI server with the configured model and one more allowed (ALLOWED_MODELS); a policy."""
    fake_openai.facts = {"year_adopted": (2018, "adopted in 2018")}
    for key, value in fake_openai.env(ALLOWED_MODELS="gpt-big", OCR_ENABLED="false").items():
        monkeypatch.setenv(key, value)
    return make_text_pdf(tmp_path / "p.pdf", ["The policy was adopted in 2018."]).read_bytes()


def test_model_is_chosen_from_the_allowed_list_and_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       fake_openai) -> None:
    pdf = _two_models(monkeypatch, fake_openai, tmp_path)
    at = _app().run()
    assert at.selectbox(key="opt_model").options == ["gpt-fake", "gpt-big"]  # a choice, not a free text box
    at.selectbox(key="opt_model").set_value("gpt-big").run()
    _start_upload_job(at, pdf, "p.pdf")
    wait_until(at, has_results)
    assert {r.body["model"] for r in fake_openai.requests} == {"gpt-big"}


def test_a_second_opinion_is_chosen_among_the_other_engines_and_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                       fake_openai) -> None:
    pdf = _two_models(monkeypatch, fake_openai, tmp_path)
    at = _app().run()
    assert at.selectbox(key="opt_second").options == ["off", "offline extractor", "gpt-big"]  # not the job's own
    at.selectbox(key="opt_second").set_value("gpt-big").run()
    _start_upload_job(at, pdf, "p.pdf")
    wait_until(at, has_results)
    assert sorted(r.body["model"] for r in fake_openai.requests) == ["gpt-big", "gpt-fake"]


def test_behind_easy_auth_a_session_without_a_principal_sees_only_a_sign_in_message(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")
    at = _app().run()
    _assert_no_exception(at)
    assert any("Sign-in required" in e for e in _texts(at.error))
    assert not at.sidebar.markdown and not at.button  # no navigation, no configuration, no jobs


def _slow_openai_env(monkeypatch: pytest.MonkeyPatch, fake_openai) -> None:
    fake_openai.latency = 0.5
    for key, value in fake_openai.env(LLM_MAX_RETRIES=0, CHUNK_TOKENS=500, DOCS_PER_JOB=1, MAX_PARALLEL_JOBS=1,
                                      OCR_ENABLED="false").items():
        monkeypatch.setenv(key, value)


def _start_upload_job(at: AppTest, pdf: bytes, name: str) -> str:
    at.run()
    at.file_uploader(key="pdf_upload").set_value([(name, pdf, "application/pdf")]).run()
    at.button(key="run_job").click().run()
    _assert_no_exception(at)
    job_id = at.query_params.get("job")
    assert job_id, [e.value for e in at.error]
    return str(job_id)


def test_second_job_is_queued_shows_live_progress_and_can_be_cancelled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_openai) -> None:
    _slow_openai_env(monkeypatch, fake_openai)
    filler = "The ministry reports every year on progress and consults the regions on each measure. " * 30
    pdf = make_text_pdf(tmp_path / "long.pdf", [f"Page {n}. {filler}" for n in range(1, 9)]).read_bytes()

    first = _app()
    first_id = _start_upload_job(first, pdf, "long.pdf")
    wait_until(first, lambda a: any("documents" in p.text for p in a.get("progress")), timeout=20)
    assert any(m.label == "Elapsed" for m in first.metric)
    assert first.button(key=f"cancel_{first_id}")

    second = _app()  # another tab: a second job while the first one runs
    second_id = _start_upload_job(second, pdf, "again.pdf")
    assert second_id != first_id
    assert any("Queued" in i.value for i in second.info), _texts(second.info)

    second.button(key=f"cancel_{second_id}").click().run()
    _assert_no_exception(second)
    wait_until(second, lambda a: any("Cancelled" in w for w in _texts(a.warning)), timeout=20)
    first.button(key=f"cancel_{first_id}").click().run()
    wait_until(first, lambda a: any("Cancelled" in w for w in _texts(a.warning)), timeout=30)

    # the cancelled job resumes and finishes
    second.button(key=f"resume_{second_id}").click().run()
    _assert_no_exception(second)
    wait_until(second, has_results, timeout=40)
    assert any("Finished" in s for s in _texts(second.success))


def test_email_outbox_offers_the_eml_and_resend_works(tmp_path: Path) -> None:
    pdf = make_text_pdf(tmp_path / "p.pdf", ["National Climate Policy.\nThe policy was adopted in 2018."]).read_bytes()
    at = _app().run()
    at.text_area(key="recipients").input("analyst@example.org")
    job_id = _start_upload_job(at, pdf, "p.pdf")
    wait_until(at, lambda a: has_results(a) and "Email" in _texts(a.subheader))
    eml = [b for b in at.get("download_button") if b.label.endswith("(.eml)")]
    assert eml, "outbox mode offers the .eml for download"
    assert any("outbox" in c for c in _texts(at.caption))
    at.button(key=f"resend_{job_id}").click().run()
    _assert_no_exception(at)
    assert any("outbox" in s for s in _texts(at.success)), _texts(at.error)


def test_a_refused_resend_says_which_limit_on_the_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMAIL_MAX_RESENDS_PER_JOB", "1")
    pdf = make_text_pdf(tmp_path / "p.pdf", ["The policy was adopted in 2018."]).read_bytes()
    at = _app().run()
    at.text_area(key="recipients").input("analyst@example.org")
    job_id = _start_upload_job(at, pdf, "p.pdf")
    wait_until(at, lambda a: has_results(a) and "Email" in _texts(a.subheader))
    at.button(key=f"resend_{job_id}").click().run()
    assert any("outbox" in s for s in _texts(at.success)), _texts(at.error)
    at.button(key=f"resend_{job_id}").click().run()
    _assert_no_exception(at)
    assert any("EMAIL_MAX_RESENDS_PER_JOB=1" in e for e in _texts(at.error)), _texts(at.error)


def test_a_job_without_recipients_claims_no_email(tmp_path: Path) -> None:
    """Before: "Email none — sent · to nobody" on every finished job without recipients."""
    pdf = make_text_pdf(tmp_path / "p.pdf", ["National Climate Policy.\nThe policy was adopted in 2018."]).read_bytes()
    at = _app().run()
    _start_upload_job(at, pdf, "p.pdf")
    wait_until(at, has_results)
    assert "Email" not in _texts(at.subheader)
    assert not any("nobody" in t or "Email none" in t for t in _texts(at.caption)), _texts(at.caption)


def test_history_opens_and_deletes_a_job(tmp_path: Path) -> None:
    pdf = make_text_pdf(tmp_path / "p.pdf", ["The policy was adopted in 2018."]).read_bytes()
    at = _app()
    job_id = _start_upload_job(at, pdf, "p.pdf")
    wait_until(at, has_results)
    at.button(key="new_job").click().run()
    assert "job" not in at.query_params
    at.sidebar.radio(key="nav").set_value("📂 My jobs").run()
    assert list(at.dataframe[0].value["id"]) == [job_id]
    at.button(key="hist_open").click().run()
    _assert_no_exception(at)
    assert at.query_params.get("job") == job_id and has_results(at)
    at.sidebar.radio(key="nav").set_value("📂 My jobs").run()
    at.button(key="hist_delete").click().run()
    _assert_no_exception(at)
    assert any("Deleted" in s for s in _texts(at.success))
    assert any("No jobs yet" in i for i in _texts(at.info))
    assert "job" not in at.query_params


def test_encrypted_pdf_reads_with_the_password_given_in_the_options(tmp_path: Path) -> None:
    locked = make_encrypted_pdf(tmp_path / "locked.pdf", ["The policy was adopted by Cabinet in 2017."],
                                "s3cret-pw").read_bytes()
    at = _app().run()
    at.text_input(key="opt_password").input("s3cret-pw").run()
    job_id = _start_upload_job(at, locked, "locked.pdf")
    wait_until(at, has_results)
    row = at.dataframe[0].value
    assert list(row["document"]) == ["locked.pdf"] and "document failed" not in " ".join(row.iloc[0].astype(str))
    assert "s3cret-pw" not in all_text(at)
    job_dir = Path(os.environ["JOBS_DIR"]) / job_id
    for path in job_dir.rglob("*"):
        if path.is_file() and path.suffix != ".pdf":
            assert b"s3cret-pw" not in path.read_bytes(), f"the password reached {path.name}"


def test_encrypted_pdf_without_password_says_where_to_give_it(tmp_path: Path) -> None:
    locked = make_encrypted_pdf(tmp_path / "locked.pdf", ["Adopted in 2017."], "pw-123").read_bytes()
    good = make_text_pdf(tmp_path / "good.pdf", ["The policy was adopted in 2018."]).read_bytes()
    at = _app().run()
    at.file_uploader(key="pdf_upload").set_value([("locked.pdf", locked, "application/pdf"),
                                                  ("good.pdf", good, "application/pdf")]).run()
    at.button(key="run_job").click().run()
    wait_until(at, has_results)
    table = at.dataframe[0].value
    failed = {r["document"] for _, r in table.iterrows() if "✖ document failed" in set(r.astype(str))}
    assert failed == {"locked.pdf"} and len(table) == 2
    assert "Password for encrypted PDFs" in all_text(at)


def test_batch_mode_is_a_job_option_and_its_progress_shows_the_batch(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_openai) -> None:
    _slow_openai_env(monkeypatch, fake_openai)
    monkeypatch.setenv("BATCH_POLL_S", "0.2")
    fake_openai.batch_delay = 3.0
    pdf = make_text_pdf(tmp_path / "p.pdf", ["National Climate Policy. The policy was adopted in 2018."]).read_bytes()
    at = _app().run()
    at.toggle(key="opt_batch").set_value(True).run()
    job_id = _start_upload_job(at, pdf, "p.pdf")
    wait_until(at, lambda a: "batch" in all_text(a).lower() and "Batch" in all_text(a), timeout=30)
    wait_until(at, has_results, timeout=60)
    assert fake_openai.batches_created == 1 and fake_openai.requests == []
    import json as _json

    manifest = _json.loads((Path(os.environ["JOBS_DIR"]) / job_id / "documents.json").read_text())
    assert manifest["options"]["batch"] is True


# --------------------------------------------------------------------------- review workbench (issue 27)

def _job_variables(job_id: str) -> list[str]:
    from job_manager import JobManager

    manager = JobManager(get_settings(), start=False)
    try:
        return [v.name for v in manager.get_variables(job_id)]
    finally:
        manager.shutdown()


def test_a_bad_template_leaves_no_older_table_and_run_stays_disabled(tmp_path: Path) -> None:
    pdf = make_text_pdf(tmp_path / "p.pdf", ["The policy was adopted in 2018."]).read_bytes()
    at = _app().run()
    at.file_uploader(key="pdf_upload").set_value([("p.pdf", pdf, "application/pdf")]).run()
    good = b"name,question,type\nlevel,Which level?,text\n"
    at.file_uploader(key="template_upload").set_value(("good.csv", good, "text/csv")).run()
    assert list(at.data_editor[0].value["name"]) == ["level"]
    assert not at.button(key="run_job").disabled
    bad = b"name,question,type\nyear_adopted,Which year?,year\nyear_adopted,Again?,year\n"
    at.file_uploader(key="template_upload").set_value(("bad.csv", bad, "text/csv")).run()
    _assert_no_exception(at)
    assert at.error, "the template's problem is shown"
    assert "level" not in set(at.data_editor[0].value["name"]), "the older table stays behind the error"
    assert at.button(key="run_job").disabled, "Run is disabled while the variables on screen are invalid"

    fixed = b"name,question,type\nyear_adopted,Which year?,year\nsector,Which sector?,text\n"
    at.file_uploader(key="template_upload").set_value(("fixed.csv", fixed, "text/csv")).run()
    on_screen = list(at.data_editor[0].value["name"])
    assert on_screen == ["year_adopted", "sector"] and not at.button(key="run_job").disabled
    at.button(key="run_job").click().run()
    job_id = at.query_params.get("job")
    assert job_id, _texts(at.error)
    assert _job_variables(str(job_id)) == on_screen  # the job asks exactly what the page showed


def _finished_job(tmp_path: Path, n: int = 3) -> tuple[AppTest, str]:
    files = [(f"doc{i}.pdf", make_text_pdf(tmp_path / f"doc{i}.pdf", [
        # two adoption years: the offline extractor's answer has a rival, so it goes to review
        f"Policy {i}.\nThe policy was adopted in {2010 + i}.\nAn earlier draft was adopted in {1990 + i}."]).read_bytes(),
        "application/pdf") for i in range(n)]
    template = (b"name,question,type\nyear_adopted,In which year was the policy adopted?,year\n"
                b"target,What does it target?,text\n")
    at = _app().run()
    at.file_uploader(key="template_upload").set_value(("v.csv", template, "text/csv")).run()
    at.file_uploader(key="pdf_upload").set_value(files).run()
    at.button(key="run_job").click().run()
    job_id = str(at.query_params["job"])
    wait_until(at, has_results)
    return at, job_id


def _to_review(at: AppTest) -> int:
    line = next(c for c in _texts(at.caption) if "to review" in c)
    return int(line.split(" answer")[0].split("· ")[-1])


def test_the_selected_answer_lives_in_the_url_and_a_reload_opens_it(tmp_path: Path) -> None:
    at, job_id = _finished_job(tmp_path)
    # a shared link / a reload: a fresh session with the selection in its URL opens that answer
    second = _app()
    second.query_params.update({"job": job_id, "doc": "d0002", "var": "year_adopted"})
    second.run()
    _assert_no_exception(second)
    panel = " ".join(_texts(second.subheader) + _texts(second.markdown) + _texts(second.caption))
    assert "doc1.pdf" in panel and "2011" in panel, panel
    # a decision opens the next answer of the queue, and that one is in the URL too
    flagged = _to_review(second)
    assert flagged >= 2
    second.button(key=f"right_{job_id}_d0002_year_adopted").click().run()
    _assert_no_exception(second)
    assert (second.query_params.get("doc"), second.query_params.get("var")) != ("d0002", "year_adopted")
    assert _to_review(second) == flagged - 1
    assert any("Saved: doc1.pdf · Year adopted = 2011 (confirmed)" in s for s in _texts(second.success)), _texts(second.success)


def test_a_finished_job_shows_no_cancel_button_or_live_log(tmp_path: Path) -> None:
    at, job_id = _finished_job(tmp_path, n=1)
    at.run()
    assert not [b for b in at.button if b.key == f"cancel_{job_id}"]
    assert not at.get("progress")


def test_the_only_local_user_is_not_called_admin() -> None:
    at = _app().run()
    nav = at.sidebar.radio(key="nav")
    assert not [o for o in nav.options if "Admin" in o], nav.options  # a usage page, not an operator's one
    nav.set_value(nav.options[-1]).run()
    _assert_no_exception(at)
    assert not [t for t in _texts(at.title) if "Admin" in t]


def test_one_document_is_rerun_from_the_evidence_panel_and_corrections_are_kept(tmp_path: Path) -> None:
    at, job_id = _finished_job(tmp_path, n=2)
    at.button(key=f"right_{job_id}_d0001_year_adopted").click().run()  # a decision before the re-run
    at.query_params.update({"doc": "d0002", "var": "year_adopted"})
    at.run()
    at.button(key=f"rerun_doc_{job_id}").click().run()
    _assert_no_exception(at)
    assert not at.error, _texts(at.error)
    wait_until(at, has_results)
    from job_manager import JobManager

    manager = JobManager(get_settings(), start=False)
    try:
        events = [e.get("type") for e in manager.read_events(job_id, limit=50)]
        answers = {(d.doc_id, a.name): a for d in manager.get_results(job_id) for a in d.variables}
    finally:
        manager.shutdown()
    assert "job.rerun" in events
    assert answers[("d0001", "year_adopted")].reviewed  # the decision made before is kept
