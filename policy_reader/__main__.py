"""`python -m policy_reader ...`: the command line (see policy_reader/cli.py)."""
from __future__ import annotations

import sys
from pathlib import Path

# job_manager.py lives at the top of the repository, next to the package.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from policy_reader.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
