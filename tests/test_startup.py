"""startup.sh, as App Service runs it: checks, prints a safe summary, serves the app.

App Service ignores the exit code of a start command (it only shows its own error page), so a bad
setting must not stop the start: the app comes up, the page and the log say which setting is wrong
(never its value), and no job can be started.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures.browser import free_port, wait_for_health
from tests.pdf_factory import make_text_pdf

ROOT = Path(__file__).resolve().parents[1]
KEY_VAULT_REF = "@Microsoft.KeyVault(SecretUri=https://pr-vault.vault.azure.net/secrets/openai-key/)"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("JOBS_DIR",)}
    env.update({"JOBS_DIR": str(tmp_path / "jobs"), "STREAMLIT_SERVER_ADDRESS": "127.0.0.1"}, **extra)
    return env


def _start(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen, Path, str]:
    port = free_port()
    log = tmp_path / "startup.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["bash", str(ROOT / "startup.sh")], cwd=ROOT, env={**env, "PORT": str(port)},
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(url, proc, timeout=60)
    except Exception:
        _stop(proc)
        raise AssertionError(f"the app did not come up:\n{log.read_text(errors='replace')}") from None
    return proc, log, url


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def test_startup_script_syntax():
    assert subprocess.run(["bash", "-n", str(ROOT / "startup.sh")]).returncode == 0


def test_startup_serves_the_app_and_prints_a_summary_without_secrets(tmp_path):
    env = _env(tmp_path, OPENAI_API_KEY="sk-startup-secret-123", LLM_BACKEND="offline")
    proc, log, _ = _start(tmp_path, env)
    try:
        text = log.read_text()
        assert "backend: offline" in text and f"jobs folder: {tmp_path / 'jobs'}" in text
        assert "PROBLEM" not in text
        assert "sk-startup-secret-123" not in text
        assert (tmp_path / "jobs").is_dir()
    finally:
        _stop(proc)
    assert "sk-startup-secret-123" not in log.read_text()


# case -> (extra environment, what the reason must say, the value that must never be shown)
BAD_STARTS = {
    "bad setting": ({"MAX_FILE_MB": "ninety-megs"}, "MAX_FILE_MB: Input should be a valid number", "ninety-megs"),
    "missing setting": ({"LLM_BACKEND": "azure", "AZURE_OPENAI_DEPLOYMENT": "pr-deployment-x"},
                        "LLM_BACKEND=azure needs AZURE_OPENAI_ENDPOINT", "pr-deployment-x"),
    "unresolved Key Vault reference": ({"OPENAI_API_KEY": KEY_VAULT_REF},
                                       "OPENAI_API_KEY: Key Vault reference not resolved: check the identity's access",
                                       "pr-vault"),
    "unwritable jobs folder": ({"JOBS_DIR": "{blocker}/jobs"}, "JOBS_DIR: the jobs folder is not writable", "blocker"),
}


@pytest.mark.parametrize("case", list(BAD_STARTS))
def test_bad_configuration_still_starts_the_app_which_says_why_and_creates_no_job(tmp_path, case, browser_page,
                                                                                  artifacts_dir):
    extra, reason, value = BAD_STARTS[case]
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the jobs folder should be")
    extra = {k: v.format(blocker=blocker) for k, v in extra.items()}
    env = _env(tmp_path, **extra)
    proc, log, url = _start(tmp_path, env)  # health answers although the configuration is bad
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=5) as response:
            assert response.read() == b"ok"
        page = browser_page
        page.goto(url)
        banner = page.get_by_text("Policy Reader cannot start jobs:")
        banner.first.wait_for()
        assert reason in banner.first.inner_text()
        samples = page.get_by_role("button", name=re.compile("Try it with the samples"))
        assert samples.is_disabled()
        sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
        assert "Backend: not available" in sidebar and "Offline extractor" not in sidebar  # not a guess
        pdf = make_text_pdf(tmp_path / "policy.pdf", ["The policy was adopted in 2019."])
        uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text="Policy PDFs")
        uploader.locator('input[type="file"]').set_input_files(str(pdf))
        uploader.get_by_text("policy.pdf").wait_for()
        run = page.locator('[data-testid="stButton"] button').filter(has_text="Run").filter(has_not_text="samples")
        assert run.is_disabled(), "the Run button must stay disabled with a bad setting"
        page.screenshot(path=str(artifacts_dir / f"08-bad-start-{case.replace(' ', '-')}.png"), full_page=True)
        assert value not in page.content()
    finally:
        _stop(proc)
    text = log.read_text(errors="replace")
    assert reason in text and "PROBLEM" in text and "The app starts anyway" in text
    assert value not in text.replace(str(tmp_path), "<tmp>")
    assert "recover:" not in text  # nothing is resumed with a bad configuration
    jobs = tmp_path / "jobs"
    assert not (jobs.is_dir() and list(jobs.glob("*/job.json")))


def test_the_cli_refuses_with_the_same_reason(tmp_path):
    """`config --check` (what startup.sh runs) and `extract` refuse with the sentence the page shows."""
    env = _env(tmp_path, OPENAI_API_KEY=KEY_VAULT_REF, PYTHONPATH=str(ROOT))
    reason = "OPENAI_API_KEY: Key Vault reference not resolved: check the identity's access"
    check = subprocess.run([sys.executable, "-m", "policy_reader", "config", "--check"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 2 and reason in check.stderr and "pr-vault" not in check.stderr + check.stdout
    pdf = make_text_pdf(tmp_path / "policy.pdf", ["The policy was adopted in 2019."])
    variables = tmp_path / "vars.csv"
    variables.write_text("name,question,type\nyear_adopted,In which year was the policy adopted?,year\n")
    extract = subprocess.run([sys.executable, "-m", "policy_reader", "extract", str(pdf), "--variables",
                              str(variables), "--out", str(tmp_path / "out.json")], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=60)
    assert extract.returncode == 2 and reason in extract.stderr and "pr-vault" not in extract.stderr
    assert not (tmp_path / "out.json").exists()
