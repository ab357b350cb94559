"""CI never goes green by skipping: scripts/test-tools.sh, tests/fixtures/tools.py and .ci/run.

A missing or broken test tool (Azurite, Chromium) is a warning and a skip on a developer's machine,
and a failure with a clear message under CI=true.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tools_script(tmp_path: Path, *, npm: str | None, ci: bool) -> subprocess.CompletedProcess:
    """Run a copy of scripts/test-tools.sh in an empty checkout whose PATH holds only what is given."""
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "test-tools.sh", checkout / "scripts")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "mkdir", "tail", "node"):
        if shutil.which(tool):
            (bin_dir / tool).symlink_to(shutil.which(tool))
    if npm is not None:
        (bin_dir / "npm").write_text(f"#!/bin/sh\n{npm}\n")
        (bin_dir / "npm").chmod(0o755)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "CHROMIUM": str(tmp_path / "no-chromium")}
    if ci:
        env["CI"] = "true"
    return subprocess.run(["/bin/bash", str(checkout / "scripts" / "test-tools.sh")], env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("npm", ["echo 'npm ERR! network unreachable' >&2; exit 1", None],
                         ids=["install-fails", "no-npm"])
def test_test_tools_fail_under_ci_and_warn_locally(tmp_path: Path, npm: str | None) -> None:
    strict = _tools_script(tmp_path / "ci", npm=npm, ci=True)
    assert strict.returncode == 1, strict.stderr
    assert "error:" in strict.stderr and "Azurite" in strict.stderr.replace("azurite", "Azurite")
    assert "CI=true" in strict.stderr
    if npm:
        assert "network unreachable" in strict.stderr  # npm's own reason is shown, not swallowed
    local = _tools_script(tmp_path / "local", npm=npm, ci=False)
    assert local.returncode == 0, local.stderr
    assert "warning:" in local.stderr and "skipped" in local.stderr


def test_test_tools_under_ci_fail_without_chromium(tmp_path: Path) -> None:
    proc = _tools_script(tmp_path, npm="mkdir -p .tools/node_modules/.bin && exit 0", ci=True)
    assert proc.returncode == 1 and "no-chromium is not installed" in proc.stderr


@pytest.mark.parametrize("ci", [True, False], ids=["ci", "local"])
def test_test_tools_azure_cli_install_failure_fails_under_ci_and_warns_locally(tmp_path: Path, ci: bool) -> None:
    """The Azure CLI for tests/test_azure_guide.py: pip's own reason is shown; under CI it is an error."""
    chromium = tmp_path / "chromium"
    chromium.write_text("#!/bin/sh\n")
    chromium.chmod(0o755)
    fake_python = tmp_path / "python3"
    fake_python.write_text("#!/bin/sh\necho 'pip: network unreachable' >&2\nexit 1\n")
    fake_python.chmod(0o755)
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "test-tools.sh", checkout / "scripts")
    (checkout / ".tools" / "node_modules" / ".bin").mkdir(parents=True)
    (checkout / ".tools" / "node_modules" / ".bin" / "azurite").write_text("")
    (checkout / ".tools" / "node_modules" / ".bin" / "azurite").chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "mkdir", "tail", "grep", "rm", "printf"):
        if shutil.which(tool):
            (bin_dir / tool).symlink_to(shutil.which(tool))
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "CHROMIUM": str(chromium), "PYTHON": str(fake_python)}
    if ci:
        env["CI"] = "true"
    proc = subprocess.run(["/bin/bash", str(checkout / "scripts" / "test-tools.sh")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert "network unreachable" in proc.stderr and "azure-cli==" in proc.stderr
    if ci:
        assert proc.returncode == 1 and "error:" in proc.stderr and "CI=true" in proc.stderr
    else:
        assert proc.returncode == 0 and "warning:" in proc.stderr
    assert not (checkout / ".tools" / "azure-cli-venv").exists()


INNER_TESTS = '''
from pathlib import Path
import tests.fixtures.azurite as azurite
import tests.fixtures.browser as browser

azurite.AZURITE_BIN = Path("/nonexistent/azurite")
browser.CHROMIUM = Path("/nonexistent/chromium")


def test_needs_azurite(azurite):
    pass


def test_needs_chromium(browser_page):
    pass
'''


@pytest.mark.parametrize("ci", [True, False], ids=["ci", "local"])
def test_fixtures_fail_under_ci_and_skip_locally_when_a_tool_is_missing(tmp_path: Path, ci: bool) -> None:
    (tmp_path / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text())
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true" if ci else ""}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    if ci:
        assert proc.returncode == 1, proc.stdout
        assert "2 errors" in proc.stdout
        assert "Azurite (Azure Storage emulator) is not installed" in proc.stdout
        assert "/nonexistent/chromium is not installed" in proc.stdout
        assert "CI=true: a missing test tool is a failure" in proc.stdout
    else:
        assert proc.returncode == 0 and "2 skipped" in proc.stdout, proc.stdout


def test_ci_runs_the_readme_test_command_strictly() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert "make test  " in (ROOT / "README.md").read_text()  # the README's test command ...
    assert script.rstrip().splitlines()[-1] == "make test"   # ... is what CI runs, last
    assert 'export CI="${CI:-true}"' in script
