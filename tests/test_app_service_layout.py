"""The app started the way App Service's build (Oryx) lays it out, web app and worker.

With SCM_DO_BUILD_DURING_DEPLOYMENT=true Oryx installs requirements.txt into a virtual environment named
`antenv` beside the code, packs the whole build as /home/site/wwwroot/output.tar.gz and, at every start,
unpacks it into a fresh folder under /tmp, activates `antenv` and runs the startup command there, with
PORT=8000. /home/site/wwwroot then holds the tarball, not the code: a command run from there finds neither
the package nor its dependencies.

Here: the deployment zip (scripts/package.sh) plus an `antenv` is tarred as output.tar.gz into a fake
wwwroot and unpacked into another folder, as Oryx does; then `startup.sh` must answer on
/_stcore/health, and the guide's worker command (the WebJob `run.sh` of AZURE_DEPLOYMENT.md) must take a
document from Azurite. The processes get a plain PATH (/usr/bin:/bin, whose python3 has none of the app's
packages) and no PYTHONPATH, so whatever they import comes from the unpacked build.

What this does not prove: `antenv`'s packages are not installed here from requirements.txt (that takes
minutes); they are this checkout's .venv packages, which `make install` installed from the same hashed
requirements.txt, linked in one by one, minus the editable install of policy_reader, so the package itself
can only come from the unpacked build. Nor does it run on Azure: the layout is the one Oryx documents.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tarfile
import textwrap
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.browser import free_port, wait_for_health

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "AZURE_DEPLOYMENT.md"
PLAIN_PATH = "/usr/bin:/bin"


def _oryx_build(tmp_path: Path) -> Path:
    """wwwroot with output.tar.gz: the packaged app and its antenv, as Oryx leaves them."""
    build = tmp_path / "oryx-build"
    package = tmp_path / "app.zip"
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "package.sh"), str(package)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(package) as archive:
        archive.extractall(build)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(build / "antenv")], check=True, timeout=60)
    site = Path(sysconfig.get_paths()["purelib"])
    target = next((build / "antenv" / "lib").glob("python3*/site-packages"))
    for entry in site.iterdir():
        if entry.name.startswith(("__editable__", "policy_reader", "_policy_reader")) or entry.name == "__pycache__":
            continue
        if not (target / entry.name).exists():
            (target / entry.name).symlink_to(entry)
    # antenv has the dependencies, and the package itself only from the build's folder
    probe = "import importlib.util as u, sys; sys.exit(0 if u.find_spec(sys.argv[1]) else 3)"
    python = build / "antenv" / "bin" / "python"
    env = {"PATH": PLAIN_PATH}
    for module, where, found in (("streamlit", tmp_path, True), ("azure.storage.queue", tmp_path, True),
                                 ("policy_reader", tmp_path, False), ("policy_reader", build, True)):
        code = subprocess.run([str(python), "-c", probe, module], cwd=where, env=env, timeout=60).returncode
        assert code == (0 if found else 3), (module, where, code)
    wwwroot = tmp_path / "home" / "site" / "wwwroot"
    wwwroot.mkdir(parents=True)
    with tarfile.open(wwwroot / "output.tar.gz", "w:gz") as tar:
        tar.add(build, arcname=".")
    shutil.rmtree(build)  # only the tarball is left, as on App Service
    return wwwroot


def _unpack(wwwroot: Path, where: Path) -> Path:
    where.mkdir(parents=True)
    with tarfile.open(wwwroot / "output.tar.gz") as tar:
        tar.extractall(where)
    return where


def _plain_env(**extra: str) -> dict[str, str]:
    keep = ("HOME", "LANG", "LC_ALL", "TMPDIR", "CI")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(PATH=PLAIN_PATH, LLM_BACKEND="offline", OCR_ENABLED="false", **extra)
    return env


@pytest.fixture(scope="module")
def wwwroot(tmp_path_factory) -> Path:
    return _oryx_build(tmp_path_factory.mktemp("appservice"))


def _xsrf_cookie(url: str) -> str | None:
    """The _streamlit_xsrf cookie Streamlit sets (on its health answer too) while its XSRF check is on."""
    with urllib.request.urlopen(url + "/_stcore/health", timeout=30) as response:
        cookies = response.headers.get_all("Set-Cookie") or []
    return next((c for c in cookies if c.startswith("_streamlit_xsrf=")), None)


def _serve(app: Path, env: dict[str, str], log: Path) -> str | None:
    """Start startup.sh as App Service does, wait for health, return the page's XSRF cookie, stop it."""
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(["bash", "startup.sh"], cwd=app, env={**env, "PORT": str(port)},
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_health(f"http://127.0.0.1:{port}", proc, timeout=90)
    except Exception:
        raise AssertionError(f"startup.sh did not answer health:\n{log.read_text(errors='replace')[-3000:]}") from None
    try:
        return _xsrf_cookie(f"http://127.0.0.1:{port}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


@pytest.mark.parametrize("activated", [True, False], ids=["antenv-activated", "plain-path"])
def test_startup_sh_serves_health_from_the_unpacked_build(wwwroot, tmp_path, activated):
    """As Oryx starts it (antenv activated, PORT set), and with a plain PATH: startup.sh finds antenv beside it.
    The guide's upload fallback (section 6) is an app setting, i.e. an environment variable: startup.sh must
    leave it to Streamlit (the activated run has it off: no XSRF cookie; the other keeps the default: cookie)."""
    app = _unpack(wwwroot, tmp_path / "tmp" / "8dc0ffee0123456")
    env = _plain_env(JOBS_DIR=str(tmp_path / "jobs"), STREAMLIT_SERVER_ADDRESS="127.0.0.1")
    if activated:
        env.update(VIRTUAL_ENV=str(app / "antenv"), PATH=f"{app / 'antenv' / 'bin'}:{PLAIN_PATH}",
                   STREAMLIT_SERVER_ENABLE_XSRF_PROTECTION="false")
    cookie = _serve(app, env, tmp_path / "startup.log")
    if activated:
        assert cookie is None
    else:
        assert cookie and "samesite=lax" in cookie.lower()


def _worker_script() -> str:
    """The WebJob's run.sh as the guide gives it (section 15)."""
    text = GUIDE.read_text()
    match = re.search(r"run\.sh[^\n]*\n+( *)```bash\n(.*?)\n *```", text, flags=re.S)
    if match:
        return textwrap.dedent(match.group(2)) + "\n"
    inline = re.search(r"`run\.sh`: `([^`]+)`", text)
    assert inline, "the guide gives no run.sh for the worker"
    return inline.group(1) + "\n"


def test_the_guides_worker_command_takes_a_document_from_the_queue(wwwroot, tmp_path, azurite):
    from job_manager import JobManager
    from policy_reader.models import Variable, VariableType

    settings = azurite.settings(JOBS_DIR=str(tmp_path / "submitter"), LLM_BACKEND="offline", OCR_ENABLED="false")
    with JobManager(settings, start=False) as manager:
        manager.executor.start = lambda: None  # queue the document without taking it here
        job_id = manager.submit(name="layout", files=[("policy.pdf", sorted((ROOT / "samples").glob("*.pdf"))[0])],
                                variables=[Variable(name="year_adopted", question="In which year was it adopted?",
                                                    type=VariableType.YEAR)])
        script = _worker_script().replace("/home/site/wwwroot", "\0WWWROOT").replace("/tmp/", f"{tmp_path}/")
        script = script.replace("\0WWWROOT", str(wwwroot))
        (tmp_path / "run.sh").write_text(script)
        env = _plain_env(JOB_STORE="azure", JOBS_DIR=str(tmp_path / "worker-jobs"),
                         AZURE_STORAGE_CONNECTION_STRING=settings.azure_storage_connection_string.get_secret_value(),
                         AZURE_STORAGE_CONTAINER=settings.azure_storage_container,
                         AZURE_STORAGE_QUEUE=settings.azure_storage_queue, QUEUE_VISIBILITY_TIMEOUT_S="5")
        log = tmp_path / "worker.log"
        with open(log, "wb") as out:
            worker = subprocess.Popen(["bash", str(tmp_path / "run.sh")], cwd=str(tmp_path), env=env, stdout=out,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        try:
            for _ in range(240):
                if manager.store.read_state(job_id)["status"] == "completed" or worker.poll() is not None:
                    break
                try:
                    worker.wait(timeout=0.25)
                except subprocess.TimeoutExpired:
                    pass
            state = manager.store.read_state(job_id)
            assert state["status"] == "completed" and state["documents_done"] == 1, \
                f"{state['status']}; worker log:\n{log.read_text(errors='replace')[-3000:]}"
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                worker.wait(timeout=30)
    assert "stopped after 1 document(s)" in log.read_text(), log.read_text()[-2000:]
