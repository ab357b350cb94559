#!/usr/bin/env bash
# Build the App Service deployment package (zip deploy; App Service's build, Oryx, installs requirements.txt).
#
#   bash scripts/package.sh [OUT.zip] [SOURCE_DIR]      (defaults: app.zip, the repository)
#
# The CI workflow (.github/workflows/ci-deploy.yml), the guide (AZURE_DEPLOYMENT.md) and the test
# (tests/test_package.py) all call this script, so what is tested is what is deployed.
#
# An allow-list, not a deny-list: only what the app runs is packed (main.py, job_manager.py, startup.sh,
# worker.sh, requirements.txt, policy_reader/, samples/, .streamlit/config.toml). Inside those, dotfiles, caches and
# Streamlit secrets are skipped, so a stray .env, .streamlit/secrets.toml, .jobs/, .venv/, .tools/, test
# artefacts or a job's files can never be deployed. The zip is then listed and checked again: the script
# fails if a forbidden entry is in it. Prints one entry per line.
set -euo pipefail
OUT=${1:-app.zip}
SRC=${2:-$(cd "$(dirname "$0")/.." && pwd)}
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null 2>&1 || PY=python

exec "$PY" - "$OUT" "$SRC" <<'PYTHON'
import fnmatch
import os
import sys
import zipfile
from pathlib import Path

out, src = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
INCLUDE = ["main.py", "job_manager.py", "startup.sh", "worker.sh", "requirements.txt", "policy_reader", "samples",
           ".streamlit/config.toml"]
REQUIRED = {"main.py", "job_manager.py", "startup.sh", "worker.sh", "requirements.txt", "policy_reader/__main__.py"}
SKIP_NAMES = {"__pycache__", "secrets.toml", "node_modules"}
SKIP_PATTERNS = ["*.pyc", "*.pyo", "*.eml", "*.zip", "*.log"]
FORBIDDEN = [".env", "*/.env", "*secrets.toml", ".jobs/*", "*/.jobs/*", ".venv/*", ".tools/*", ".git/*",
             "tests/*", "bench/*", "*/artifacts/*", "*__pycache__*"]


def wanted(rel: Path) -> bool:
    if any(part.startswith(".") for part in rel.parts) and rel.as_posix() != ".streamlit/config.toml":
        return False
    if any(part in SKIP_NAMES for part in rel.parts):
        return False
    return not any(fnmatch.fnmatch(rel.name, pattern) for pattern in SKIP_PATTERNS)


entries: list[Path] = []
for item in INCLUDE:
    path = src / item
    if path.is_file():
        entries.append(Path(item))
    elif path.is_dir():
        for folder, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if wanted((Path(folder) / d).relative_to(src)))
            entries += sorted((Path(folder) / f).relative_to(src) for f in files)
entries = [rel for rel in entries if wanted(rel)]
names = {rel.as_posix() for rel in entries}
missing = REQUIRED - names
if missing:
    sys.exit(f"package: {src} is not the app (missing {', '.join(sorted(missing))})")

out.parent.mkdir(parents=True, exist_ok=True)
tmp = out.with_name(out.name + ".part")
with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
    for rel in entries:
        archive.write(src / rel, rel.as_posix())
with zipfile.ZipFile(tmp) as archive:
    listed = archive.namelist()
bad = [name for name in listed if any(fnmatch.fnmatch(name, pattern) for pattern in FORBIDDEN)]
if bad:
    tmp.unlink()
    sys.exit(f"package: refusing to build, forbidden entries: {', '.join(bad)}")
os.replace(tmp, out)
print("\n".join(listed))
print(f"package: {out} ({len(listed)} files, {out.stat().st_size // 1024} KB)", file=sys.stderr)
PYTHON
