"""startup.sh, as App Service runs it: validates, prints a safe summary, serves the app, fails fast."""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from tests.fixtures.browser import free_port, wait_for_health

ROOT = Path(__file__).resolve().parents[1]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("JOBS_DIR",)}
    env.update({"JOBS_DIR": str(tmp_path / "jobs"), "STREAMLIT_SERVER_ADDRESS": "127.0.0.1"}, **extra)
    return env


def test_startup_script_syntax():
    assert subprocess.run(["bash", "-n", str(ROOT / "startup.sh")]).returncode == 0


def test_startup_serves_the_app_and_prints_a_summary_without_secrets(tmp_path):
    port = free_port()
    log = tmp_path / "startup.log"
    env = _env(tmp_path, PORT=str(port), OPENAI_API_KEY="sk-startup-secret-123", LLM_BACKEND="offline")
    with open(log, "wb") as out:
        proc = subprocess.Popen(["bash", str(ROOT / "startup.sh")], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_health(f"http://127.0.0.1:{port}", proc, timeout=60)
        text = log.read_text()
        assert "backend: offline" in text and f"jobs folder: {tmp_path / 'jobs'}" in text
        assert "sk-startup-secret-123" not in text
        assert (tmp_path / "jobs").is_dir()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    assert "sk-startup-secret-123" not in log.read_text()


def test_startup_fails_fast_on_bad_configuration(tmp_path):
    out = subprocess.run(["bash", str(ROOT / "startup.sh")], cwd=ROOT, capture_output=True, text=True,
                         env=_env(tmp_path, PORT=str(free_port()), LLM_BACKEND="azure"), timeout=60)
    assert out.returncode == 2
    assert "AZURE_OPENAI_ENDPOINT" in out.stderr and "fix the configuration" in out.stderr


def test_startup_fails_fast_on_unwritable_jobs_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    out = subprocess.run(["bash", str(ROOT / "startup.sh")], cwd=ROOT, capture_output=True, text=True,
                         env=_env(tmp_path, JOBS_DIR=str(blocker / "jobs")), timeout=60)
    assert out.returncode == 2 and "not writable" in out.stderr
