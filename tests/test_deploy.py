"""The deployment path as the CI workflow runs it: the package (scripts/package.sh), the smoke test
after a deploy (scripts/smoke-test.sh) and the workflow file itself."""
from __future__ import annotations

import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "scripts" / "package.sh"
SMOKE = ROOT / "scripts" / "smoke-test.sh"
WORKFLOW = ROOT / ".github" / "workflows" / "ci-deploy.yml"
PLANTED_SECRET = "sk-planted-secret-never-deploy-42"


def _package(out: Path, source: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(PACKAGE), str(out), str(source)], capture_output=True, text=True, timeout=120)


def _app_copy(dest: Path) -> Path:
    """The repository's files (no .git, .venv, .tools) in `dest`, to dirty at will."""
    skip = shutil.ignore_patterns(".git", ".venv", ".tools", ".jobs", "node_modules", "__pycache__", "artifacts")
    shutil.copytree(ROOT, dest, ignore=skip, symlinks=True)
    return dest


def test_the_package_holds_only_the_app_whatever_lies_around(tmp_path):
    tree = _app_copy(tmp_path / "tree")
    planted = {
        ".env": f"OPENAI_API_KEY={PLANTED_SECRET}\n",
        ".streamlit/secrets.toml": f'OPENAI_API_KEY = "{PLANTED_SECRET}"\n',
        ".jobs/0123456789abcdef0123/job.json": "{}",
        ".jobs/0123456789abcdef0123/inputs/confidential.pdf": "%PDF-1.4",
        ".venv/bin/python": "#!/bin/sh\n",
        ".tools/node_modules/azurite/index.js": "",
        "tests/artifacts/01-start.png": "png",
        "bench/out/run.json": "{}",
        "policy_reader/.env": f"SMTP_PASSWORD={PLANTED_SECRET}\n",
        "policy_reader/__pycache__/config.cpython-311.pyc": "pyc",
        "samples/.streamlit/secrets.toml": PLANTED_SECRET,
        "samples/notes.eml": PLANTED_SECRET,
        "app.zip": "an older package",
    }
    for name, text in planted.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text(text)
    out = tmp_path / "app.zip"
    proc = _package(out, tree)
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        assert not any(PLANTED_SECRET.encode() in archive.read(name) for name in names)
    assert set(proc.stdout.split()) == names  # the script lists what it packed
    tracked = {p.relative_to(tree).as_posix() for p in (tree / "policy_reader").rglob("*.py")
               if "__pycache__" not in p.parts}
    samples = {p.relative_to(tree).as_posix() for p in (tree / "samples").iterdir() if p.is_file()
               and not p.name.startswith(".") and p.suffix != ".eml"}
    assert names == {"main.py", "job_manager.py", "startup.sh", "worker.sh", "requirements.txt", ".streamlit/config.toml"} \
        | tracked | samples
    for forbidden in (".env", ".streamlit/secrets.toml", ".jobs/", ".venv/", ".tools/", "tests/", "bench/",
                      "__pycache__", "app.zip"):
        assert not [n for n in names if forbidden in n], forbidden


def test_the_package_of_this_working_tree_runs_a_job(tmp_path):
    """Built from the real working tree (with its .venv, .tools and job folders around), unpacked
    elsewhere, the package alone runs a job on the sample documents."""
    out = tmp_path / "app.zip"
    proc = _package(out, ROOT)
    assert proc.returncode == 0, proc.stderr
    app = tmp_path / "wwwroot"
    with zipfile.ZipFile(out) as archive:
        archive.extractall(app)
    assert subprocess.run(["bash", "-n", str(app / "startup.sh")]).returncode == 0
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(JOBS_DIR=str(tmp_path / "jobs"), LLM_BACKEND="offline", OCR_ENABLED="false")
    pdfs = sorted(str(p) for p in (app / "samples").glob("*.pdf"))
    run = subprocess.run([sys.executable, "-m", "policy_reader", "extract", *pdfs, "--variables",
                          str(app / "samples" / "variables.csv"), "--out", str(tmp_path / "out.json")],
                         cwd=app, env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"completed: {len(pdfs)} of {len(pdfs)} document(s) read" in run.stderr


def test_the_package_script_refuses_a_folder_that_is_not_the_app(tmp_path):
    (tmp_path / "src").mkdir()
    proc = _package(tmp_path / "app.zip", tmp_path / "src")
    assert proc.returncode != 0 and "missing" in proc.stderr and not (tmp_path / "app.zip").exists()


# --------------------------------------------------------------------------- smoke test after deploy

class _FakeSite(http.server.BaseHTTPRequestHandler):
    """/<mode>/_stcore/health answers like an App Service site in that state."""

    starting_left = 2

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        mode = self.path.split("/")[1]
        if mode == "signin":  # Easy Auth "redirect to login page" over the health path
            self.send_response(302)
            self.send_header("Location", "/.auth/login/aad?post_login_redirect_uri=%2F_stcore%2Fhealth")
            self.end_headers()
        elif mode == "signin-entra":
            self.send_response(302)
            self.send_header("Location", "https://login.microsoftonline.com/common/oauth2/v2.0/authorize?x=1")
            self.end_headers()
        elif mode == "reject":  # Easy Auth "return 401"
            self.send_response(401)
            self.end_headers()
        elif mode == "loginpage":
            self._reply(200, b"<html><title>Sign in to your account</title></html>")
        elif mode == "starting" and _FakeSite.starting_left > 0:
            _FakeSite.starting_left -= 1
            self._reply(503, b"Service Unavailable")
        else:
            self._reply(200, b"ok")

    def _reply(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_site() -> Iterator[str]:
    _FakeSite.starting_left = 2
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeSite)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _smoke(url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SMOKE_ATTEMPTS": "4", "SMOKE_WAIT_S": "0.2"}
    return subprocess.run(["bash", str(SMOKE), url], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("mode", ["up", "starting"])
def test_smoke_test_passes_on_ok(fake_site, mode):
    proc = _smoke(f"{fake_site}/{mode}")
    assert proc.returncode == 0 and "answered ok" in proc.stdout, proc.stderr


@pytest.mark.parametrize(("mode", "words"), [("signin", "sign-in redirect"), ("signin-entra", "sign-in redirect"),
                                              ("reject", "requires sign-in (HTTP 401)"),
                                              ("loginpage", "200 but not 'ok'")])
def test_smoke_test_fails_at_once_when_sign_in_covers_the_health_path(fake_site, mode, words):
    proc = _smoke(f"{fake_site}/{mode}")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert words in proc.stderr and "/_stcore/health" in proc.stderr
    assert "attempt 2" not in proc.stdout  # no waiting for something that cannot change


def test_smoke_test_gives_up_on_a_site_that_never_comes_up(tmp_path):
    from tests.fixtures.browser import free_port

    proc = _smoke(f"http://127.0.0.1:{free_port()}")
    assert proc.returncode == 1 and "did not answer 'ok' after 4 attempts" in proc.stderr


# --------------------------------------------------------------------------- the workflow

# Current major versions, checked against each action's repository (tags) when this was written.
CURRENT_MAJOR = {"actions/checkout": 7, "actions/setup-python": 7, "actions/setup-node": 7,
                 "actions/upload-artifact": 7, "azure/login": 3, "azure/webapps-deploy": 3}


def test_workflow_uses_current_actions_and_openid_connect_without_publish_profile():
    text = WORKFLOW.read_text()
    used = re.findall(r"uses:\s*([\w.-]+/[\w.-]+)@v(\d+)", text)
    assert {name for name, _ in used} == set(CURRENT_MAJOR)
    for name, major in used:
        assert int(major) >= CURRENT_MAJOR[name], f"{name}@v{major} is behind v{CURRENT_MAJOR[name]}"
    assert "publish-profile" not in text and "PUBLISH_PROFILE" not in text
    deploy = text[text.index("\n  deploy:"):]
    assert re.search(r"permissions:\s*\n\s+contents: read\s*\n\s+id-token: write", deploy)
    for key in ("client-id", "tenant-id", "subscription-id"):
        assert f"{key}: ${{{{ secrets." in deploy
    assert deploy.index("bash scripts/package.sh app.zip") < deploy.index("azure/login@") \
        < deploy.index("azure/webapps-deploy@") < deploy.index("bash scripts/smoke-test.sh")
    assert "package: app.zip" in deploy
