"""The container image definition, checked statically in every run (no container engine needed).

A real build and run with podman is `bash scripts/container-check.sh` (it needs a base image and the
network to PyPI, which tests may not use); AZURE_DEPLOYMENT.md says what it checks.
"""
from __future__ import annotations

import fnmatch
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    out = []
    for line in text.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_slim_python_base_non_root_user_jobs_under_home_and_health_check():
    steps = _instructions()
    kinds = [kind for kind, _ in steps]
    args = dict(steps)
    base = next(rest for kind, rest in steps if kind == "ARG" and rest.startswith("BASE_IMAGE="))
    assert re.fullmatch(r"BASE_IMAGE=python:3\.1[1-9]-slim(-\w+)?", base), base
    assert args["FROM"] == "${BASE_IMAGE}"
    env = " ".join(rest for kind, rest in steps if kind == "ENV")
    assert "JOBS_DIR=/home/policy-reader/jobs" in env
    port = re.search(r"\bPORT=(\d+)", env).group(1)
    assert args["EXPOSE"] == port == "8080"  # App Service finds 80 or 8080 by itself: no WEBSITES_PORT
    user = args["USER"].split(":")[0]
    assert user not in ("0", "root") and int(user) >= 1000
    assert kinds.index("USER") > max(i for i, kind in enumerate(kinds) if kind in ("COPY", "RUN"))
    assert "/_stcore/health" in args["HEALTHCHECK"] and "b'ok'" in args["HEALTHCHECK"]
    assert args["CMD"] == '["bash", "startup.sh"]' and kinds[-1] == "CMD"
    assert any(f"useradd --uid {user}" in rest for kind, rest in steps if kind == "RUN")


def test_the_image_copies_what_the_package_holds_and_nothing_else():
    """The Dockerfile's COPY sources are the files scripts/package.sh deploys, and .dockerignore
    lets nothing else into the build context (no .env, secrets, jobs, environments)."""
    sources = set()
    for kind, rest in _instructions():
        if kind == "COPY":
            sources.update(part for part in rest.split()[:-1] if not part.startswith("--"))
    package = (ROOT / "scripts" / "package.sh").read_text()
    include = set(re.findall(r'"([^"]+)"', re.search(r"INCLUDE = \[(.*?)\]", package, re.S).group(1)))
    assert sources == include
    for source in sources:
        assert (ROOT / source).exists(), source
    ignore = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert ignore[0] == "*", "an allow-list: everything is ignored unless named"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert allowed == sources

    def sent(path: str) -> bool:  # Docker's rule: the last matching line wins
        verdict = False
        for line in ignore:
            negate = line.startswith("!")
            pattern = line[1:] if negate else line
            pattern = pattern.rstrip("/")
            if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern + "/*") \
                    or (pattern.startswith("**/") and fnmatch.fnmatch("/" + path, "*/" + pattern[3:])):
                verdict = negate
        return verdict

    assert sent("main.py") and sent("policy_reader/config.py") and sent(".streamlit/config.toml")
    for path in (".env", "policy_reader/.env", ".streamlit/secrets.toml", ".jobs/abc/job.json", ".venv/bin/python",
                 ".tools/x", "tests/test_fsio.py", "policy_reader/__pycache__/x.pyc", "samples/x.eml", ".git/HEAD"):
        assert not sent(path), path


def test_startup_script_is_what_the_image_runs():
    assert subprocess.run(["bash", "-n", str(ROOT / "startup.sh")]).returncode == 0
    text = (ROOT / "startup.sh").read_text()
    assert "PORT=${PORT:-8000}" in text and "WEBSITES_PORT" not in text
