"""Static check of the whole tree: no undefined names, unused imports or syntax errors (pyflakes rules)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_pyflakes_rules_pass():
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "F,E9", "--output-format",
                          "concise", "--no-cache", str(ROOT)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
