"""`python -m policy_reader` as a real subprocess: extract, jobs, status, cancel, config, worker."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from openpyxl import load_workbook

from job_manager import JobManager
from policy_reader.config import load_settings
from policy_reader.fsio import read_json
from policy_reader.models import Variable
from tests.fixtures.openai_server import TEST_KEY

ROOT = Path(__file__).resolve().parent.parent


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_", "LLM_"))}
    env.update(PYTHONPATH=str(ROOT), JOBS_DIR=str(tmp_path / "jobs"), **extra)
    return env


def _cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "policy_reader", *args], cwd=str(tmp_path), env=env or _env(tmp_path),
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def inputs(tmp_path, make_pdf):
    variables = tmp_path / "vars.csv"
    variables.write_text("name,question,type\nyear_adopted,In which year was the policy adopted?,year\n")
    pdfs = [make_pdf(f"p{i}.pdf", [f"The policy was adopted in {2010 + i}."]) for i in range(3)]
    return variables, pdfs


@pytest.mark.parametrize("suffix", ["json", "csv", "xlsx"])
def test_extract_writes_each_format(tmp_path, inputs, suffix):
    variables, pdfs = inputs
    out = tmp_path / f"results.{suffix}"
    proc = _cli(tmp_path, "extract", *map(str, pdfs), "--variables", str(variables), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "3/3 documents" in proc.stderr and "completed" in proc.stderr
    if suffix == "json":
        data = json.loads(out.read_bytes())
        assert [d["variables"][0]["value"] for d in data["documents"]] == [2010, 2011, 2012]
    elif suffix == "csv":
        rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
        assert len(rows) == 3 and {r["file"] for r in rows} == {"p0.pdf", "p1.pdf", "p2.pdf"}
    else:
        assert "Results" in load_workbook(out).sheetnames
    jobs = _cli(tmp_path, "jobs")
    assert jobs.returncode == 0 and "completed" in jobs.stdout and "3/3" in jobs.stdout



def test_extract_completes_where_the_os_refuses_hard_links(tmp_path, inputs, link_refused):
    """App Service /home (SMB) refuses link(): a whole CLI job still reads and keeps every document."""
    variables, pdfs = inputs
    out = tmp_path / "results.json"
    proc = _cli(tmp_path, "extract", *map(str, pdfs), "--variables", str(variables), "--out", str(out),
                env={**_env(tmp_path), **link_refused.env})
    assert proc.returncode == 0, proc.stderr
    assert "completed: 3 of 3 document(s) read, 0 failed" in proc.stderr, proc.stderr
    data = json.loads(out.read_bytes())
    assert [d["variables"][0]["value"] for d in data["documents"]] == [2010, 2011, 2012]
    job_dir = next((tmp_path / "jobs").glob("[0-9a-f]" * 20))
    assert sorted(p.name for p in (job_dir / "results").glob("d*.json")) == ["d0001.json", "d0002.json", "d0003.json"]


def test_results_the_store_refuses_fail_the_job_instead_of_completing_it(tmp_path, inputs, link_refused):
    """When the file system refuses every result file, the job must not say "completed: 0 of 3"."""
    variables, pdfs = inputs
    out = tmp_path / "results.json"
    env = {**_env(tmp_path), **link_refused.env, "PR_FAIL_RENAME_TO": "/results/d"}
    proc = _cli(tmp_path, "extract", *map(str, pdfs), "--variables", str(variables), "--out", str(out), env=env)
    assert proc.returncode == 1, proc.stderr
    assert "completed" not in proc.stderr
    assert "3 of 3 documents have no saved result" in proc.stderr, proc.stderr
    assert "Input/output error" in proc.stderr and "resume" in proc.stderr
    status = json.loads(_cli(tmp_path, "jobs", "--json").stdout)[0]
    assert status["status"] == "failed"


def test_format_flag_overrides_extension(tmp_path, inputs):
    variables, pdfs = inputs
    out = tmp_path / "out.data"
    proc = _cli(tmp_path, "extract", str(pdfs[0]), "--variables", str(variables), "--out", str(out), "--format", "json",
                "--workers", "2", "--no-ocr", "--name", "Named")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_bytes())["status"] == "completed"
    status = json.loads(_cli(tmp_path, "jobs", "--json").stdout)
    assert status[0]["name"] == "Named"


@pytest.mark.parametrize("case", ["bad_variables", "missing_variables", "no_inputs", "missing_key", "bad_out"])
def test_fatal_errors_exit_non_zero_with_one_line(tmp_path, inputs, case):
    variables, pdfs = inputs
    args = ["extract", str(pdfs[0]), "--variables", str(variables), "--out", str(tmp_path / "o.json")]
    if case == "bad_variables":
        bad = tmp_path / "bad.csv"
        bad.write_text("name,question,type\nyear,,year\n")
        args[3] = str(bad)
    elif case == "missing_variables":
        args[3] = str(tmp_path / "nope.csv")
    elif case == "no_inputs":
        args.pop(1)
    elif case == "missing_key":
        args += ["--backend", "openai"]
    else:
        args[-1] = str(tmp_path / "no" / "such" / "folder" / "o.json")
    proc = _cli(tmp_path, *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr


def test_status_and_cancel_of_a_pending_job(tmp_path, make_pdf):
    settings = load_settings(JOBS_DIR=str(tmp_path / "jobs"))
    manager = JobManager(settings, start=False)
    job_id = manager.create_job(name="waiting", files=[("a.pdf", make_pdf("a.pdf", ["x"]))],
                                variables=[Variable(name="v", question="q?")])
    manager.shutdown()
    status = _cli(tmp_path, "status", job_id)
    assert status.returncode == 0 and "pending" in status.stdout and job_id in status.stdout
    cancel = _cli(tmp_path, "cancel", job_id)
    assert cancel.returncode == 0 and "cancelled" in cancel.stdout
    assert json.loads(_cli(tmp_path, "status", job_id, "--json").stdout)["status"] == "cancelled"
    unknown = _cli(tmp_path, "status", "../../etc/passwd")
    assert unknown.returncode == 2 and unknown.stderr.startswith("error: No job")


def test_cancel_from_another_process_stops_a_running_extract(tmp_path, make_pdf, fake_openai):
    fake_openai.latency = 0.3
    fake_openai.facts = {"year_adopted": (2019, "adopted in 2019")}
    variables = tmp_path / "vars.csv"
    variables.write_text("name,question,type\nyear_adopted,Year adopted?,year\n")
    pdfs = [make_pdf(f"p{i}.pdf", [f"Doc {i}. The policy was adopted in 2019."]) for i in range(30)]
    env = _env(tmp_path, OPENAI_API_KEY=TEST_KEY, OPENAI_BASE_URL=fake_openai.base_url + "/v1",
               LLM_BACKOFF_BASE_S="0.01")
    out = tmp_path / "partial.json"
    runner = subprocess.Popen([sys.executable, "-m", "policy_reader", "extract", *map(str, pdfs), "--variables",
                               str(variables), "--out", str(out), "--backend", "openai", "--workers", "1"],
                              cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        job_id = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = [read_json(p) for p in (tmp_path / "jobs").glob("*/job.json")]
            if states and states[0]["status"] == "running" and states[0]["documents_done"] >= 1:
                job_id = states[0]["id"]
                break
            time.sleep(0.1)
        assert job_id, "the extract never started"
        cancel = _cli(tmp_path, "cancel", job_id, env=env)
        assert cancel.returncode == 0 and "cancel requested" in cancel.stdout
        _, stderr = runner.communicate(timeout=30)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 1, stderr
    assert "cancelled" in stderr
    data = json.loads(out.read_bytes())
    assert 1 <= len(data["documents"]) < 30
    assert read_json(tmp_path / "jobs" / job_id / "job.json")["status"] == "cancelled"


def test_config_and_worker(tmp_path):
    proc = _cli(tmp_path, "config")
    assert proc.returncode == 0 and "backend" in proc.stdout and "offline" in proc.stdout
    md = _cli(tmp_path, "config", "--markdown")
    assert md.returncode == 0 and "| `JOBS_DIR` |" in md.stdout
    worker = _cli(tmp_path, "worker")
    assert worker.returncode == 2 and "JOB_STORE=azure" in worker.stderr


def test_ctrl_c_cancels_cleanly(tmp_path, make_pdf, fake_openai):
    import signal

    fake_openai.latency = 0.3
    variables = tmp_path / "vars.csv"
    variables.write_text("name,question,type\nyear_adopted,Year adopted?,year\n")
    pdfs = [make_pdf(f"p{i}.pdf", [f"Doc {i}. Adopted in 2019."]) for i in range(20)]
    env = _env(tmp_path, OPENAI_API_KEY=TEST_KEY, OPENAI_BASE_URL=fake_openai.base_url + "/v1")
    out = tmp_path / "partial.csv"
    runner = subprocess.Popen([sys.executable, "-m", "policy_reader", "extract", *map(str, pdfs), "--variables",
                               str(variables), "--out", str(out), "--backend", "openai", "--workers", "1"],
                              cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = [read_json(p) for p in (tmp_path / "jobs").glob("*/job.json")]
            if states and states[0]["documents_done"] >= 1:
                break
            time.sleep(0.1)
        runner.send_signal(signal.SIGINT)
        _, stderr = runner.communicate(timeout=30)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 130, stderr
    assert "Cancelling" in stderr and out.exists()
    job_file = next((tmp_path / "jobs").glob("*/job.json"))
    assert read_json(job_file)["status"] == "cancelled"


def test_a_damaged_job_or_an_unwritable_folder_is_one_line_never_a_traceback(tmp_path, make_pdf):
    from job_manager import JobManager as Manager
    from policy_reader.config import load_settings as settings_for
    from policy_reader.models import Variable as Var

    jobs = tmp_path / "jobs"
    manager = Manager(settings_for(JOBS_DIR=str(jobs)), start=False)
    job_id = manager.create_job(name="torn", files=[("a.pdf", make_pdf("a.pdf", ["The policy was adopted in 2019."]))],
                                variables=[Var(name="year", question="Year adopted?")])
    manager.shutdown()
    (jobs / job_id / "job.json").write_bytes(b'{"status": "runn')
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JOBS_DIR": str(jobs)}
    done = subprocess.run([sys.executable, "-m", "policy_reader", "status", job_id], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "job.json) is damaged" in done.stderr and len(done.stderr.strip().splitlines()) == 1

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the jobs folder should be")
    env["JOBS_DIR"] = str(blocker / "jobs")  # every write under it fails at the OS (ENOTDIR)
    done = subprocess.run([sys.executable, "-m", "policy_reader", "jobs"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-1500:]
    assert len(done.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- passwords and terminal safety

PDF_PW = "s3cret-pw-4711"


@pytest.fixture
def locked(tmp_path):
    from tests.pdf_factory import make_encrypted_pdf

    variables = tmp_path / "vars.csv"
    variables.write_text("name,question,type\nyear_adopted,In which year was the policy adopted?,year\n")
    pdf = make_encrypted_pdf(tmp_path / "locked.pdf", ["The policy was adopted in 2017."], PDF_PW)
    return ["extract", str(pdf), "--variables", str(variables), "--out", str(tmp_path / "out.json")]


def _read_ok(tmp_path: Path) -> bool:
    doc = json.loads((tmp_path / "out.json").read_bytes())["documents"][0]
    return doc["status"] == "ok" and doc["variables"][0]["value"] == 2017


def test_password_on_the_command_line_is_refused(tmp_path, locked):
    proc = _cli(tmp_path, *locked, "--password", PDF_PW)
    assert proc.returncode == 2 and "visible to other users" in proc.stderr and "--password-file" in proc.stderr
    assert PDF_PW not in proc.stderr + proc.stdout
    assert not (tmp_path / "out.json").exists()


def test_password_from_environment_or_file_opens_the_pdf(tmp_path, locked):
    proc = _cli(tmp_path, *locked, env=_env(tmp_path, PDF_PASSWORD=PDF_PW))
    assert proc.returncode == 0, proc.stderr
    assert _read_ok(tmp_path)
    secret_file = tmp_path / "pw.txt"
    secret_file.write_text(PDF_PW + "\n")
    proc = _cli(tmp_path, *locked, "--password-file", str(secret_file))
    assert proc.returncode == 0, proc.stderr
    assert _read_ok(tmp_path)
    for path in (tmp_path / "jobs").rglob("*"):
        if path.is_file() and path.suffix != ".pdf":
            assert PDF_PW.encode() not in path.read_bytes(), path


def test_password_prompt_reads_from_the_terminal(tmp_path, locked):
    """--ask-password in a real pseudo-terminal: the prompt appears, the typed password is not echoed."""
    import fcntl
    import select
    import termios

    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "policy_reader", *locked, "--ask-password"], cwd=str(tmp_path),
                            env=_env(tmp_path), stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    os.close(slave)
    seen, typed = b"", False
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            if not typed and b"Password for encrypted PDFs" in seen:
                os.write(master, PDF_PW.encode() + b"\n")
                typed = True
            if proc.poll() is not None and not ready:
                break
        assert proc.wait(timeout=30) == 0, seen.decode(errors="replace")
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    assert typed and _read_ok(tmp_path)
    assert PDF_PW.encode() not in seen  # not echoed


def test_names_are_printed_without_terminal_control_sequences(tmp_path, make_pdf):
    hostile = "Q3\x1b]0;owned\x07\x1b[2J\x1b[31mreport\r\nline\x9b"
    manager = JobManager(load_settings(JOBS_DIR=str(tmp_path / "jobs")), start=False)
    job_id = manager.create_job(name=hostile, files=[(hostile + ".pdf", make_pdf("a.pdf", ["x"]))],
                                variables=[Variable(name="v", question="q?")])
    manager.shutdown()
    for args in (["jobs"], ["status", job_id]):
        proc = _cli(tmp_path, *args)
        assert proc.returncode == 0, proc.stderr
        assert "Q3" in proc.stdout and "report" in proc.stdout
        assert not any(ch in proc.stdout for ch in "\x1b\x07\r\x9b"), repr(proc.stdout)


def test_extract_with_a_second_opinion(tmp_path, make_pdf, fake_openai):
    """`--second-opinion offline`: the model's real quote with the wrong one of two years goes to review with the
    offline extractor's value; the offline extractor cannot second itself (one line, exit 2)."""
    sentence = "The Climate Act was adopted by Parliament in 2016. Its action plan was updated in 2019."
    fake_openai.facts = {"year_adopted": (2019, sentence)}
    pdf = make_pdf("act.pdf", [f"Climate Act\n\n{sentence}"])
    variables = tmp_path / "vars.csv"
    variables.write_text("name,question,type\nyear_adopted,In which year was the policy adopted?,year\n")
    env = _env(tmp_path, LLM_BACKEND="openai", OPENAI_API_KEY=TEST_KEY, OPENAI_MODEL="gpt-fake",
               OPENAI_BASE_URL=fake_openai.base_url + "/v1", OCR_ENABLED="false")
    out = tmp_path / "out.json"
    proc = _cli(tmp_path, "extract", str(pdf), "--variables", str(variables), "--out", str(out),
                "--second-opinion", "offline", env=env)
    assert proc.returncode == 0, proc.stderr
    [answer] = json.loads(out.read_bytes())["documents"][0]["variables"]
    assert answer["value"] == 2019 and answer["status"] == "needs_review"
    assert answer["passages"][-1]["source"] == "second opinion: offline" and answer["passages"][-1]["value"] == 2016

    refused = _cli(tmp_path, "extract", str(pdf), "--variables", str(variables), "--out", str(out),
                   "--backend", "offline", "--second-opinion", "offline", env=env)
    assert refused.returncode == 2 and refused.stderr.strip().splitlines()[-1].startswith(
        "error: The offline extractor cannot give itself a second opinion")


def test_resend_says_which_email_limit_refused_it(tmp_path, make_pdf, smtp_server):
    settings = smtp_server.settings(JOBS_DIR=str(tmp_path / "jobs"))
    with JobManager(settings) as manager:
        job_id = manager.submit(name="mailed", files=[("a.pdf", make_pdf("a.pdf", ["Adopted in 2001."]))],
                                variables=[Variable(name="v", question="q?")], recipients=["ana@example.org"])
        assert manager.wait(job_id, timeout=60).email["status"] == "sent"
    env = _env(tmp_path, SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_server.port), SMTP_SECURITY="none",
               SMTP_FROM="reader@example.org", EMAIL_MAX_RESENDS_PER_JOB="1")
    again = _cli(tmp_path, "resend", job_id, env=env)
    assert again.returncode == 0 and "email sent." in again.stdout, again.stderr
    refused = _cli(tmp_path, "resend", job_id, env=env)
    assert refused.returncode == 2 and "EMAIL_MAX_RESENDS_PER_JOB=1" in refused.stderr
    assert len(smtp_server.messages) == 2


def test_extract_keeps_a_skipped_file_in_the_jobs_record(tmp_path, inputs):
    """A file that is not a PDF is skipped with the reason, and stays in the job: the counts, the JSON
    output, `status`. Before: it was sent to the reader and failed as a document."""
    variables, pdfs = inputs
    notes = tmp_path / "notes.txt"
    notes.write_text("meeting notes, not a PDF")
    out = tmp_path / "results.json"
    proc = _cli(tmp_path, "extract", str(pdfs[0]), str(notes), "--variables", str(variables), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "skipped: notes.txt: this is not a PDF file" in proc.stderr
    assert "completed: 1 of 2 document(s) read, 0 failed, 1 skipped" in proc.stderr, proc.stderr
    data = json.loads(out.read_bytes())
    assert [(d["file"], d["status"]) for d in data["documents"]] == [("p0.pdf", "ok"), ("notes.txt", "skipped")]
    assert data["documents"][1]["reason"] == "this is not a PDF file"
    job = json.loads(_cli(tmp_path, "jobs", "--json").stdout)[0]
    assert job["documents_total"] == 1 and job["skipped"][0]["name"] == "notes.txt"
    status = _cli(tmp_path, "status", job["id"])
    assert "Skipped    notes.txt: this is not a PDF file" in status.stdout, status.stdout


def test_rerun_one_document_by_file_name_with_its_password(tmp_path, inputs):
    """`policy-reader rerun JOB --doc FILE --password-file F`: the locked document is read, the rest stays."""
    from tests.pdf_factory import make_encrypted_pdf

    variables, pdfs = inputs
    locked = make_encrypted_pdf(tmp_path / "locked.pdf", ["This policy was adopted in 2020."], "pw-4471")
    out = tmp_path / "results.json"
    first = _cli(tmp_path, "extract", str(pdfs[0]), str(locked), "--variables", str(variables), "--out", str(out))
    assert "1 of 2 document(s) read, 1 failed" in first.stderr, first.stderr
    job_id = json.loads(_cli(tmp_path, "jobs", "--json").stdout)[0]["id"]
    secret = tmp_path / "pw.txt"
    secret.write_text("pw-4471\n")
    proc = _cli(tmp_path, "rerun", job_id, "--doc", "locked.pdf", "--password-file", str(secret))
    assert proc.returncode == 0, proc.stderr
    assert "completed: 2 of 2 document(s) read, 0 failed" in proc.stderr, proc.stderr
    status = json.loads(_cli(tmp_path, "status", job_id, "--json").stdout)
    assert (status["documents_done"], status["documents_failed"]) == (2, 0)
    bad = _cli(tmp_path, "rerun", job_id, "--variable", "nope")
    assert bad.returncode != 0 and "No variable named 'nope'" in bad.stderr
