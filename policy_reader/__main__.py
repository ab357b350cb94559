"""`python -m policy_reader ...`: the command line (see policy_reader/cli.py)."""
from __future__ import annotations

import sys

from policy_reader.cli import main

if __name__ == "__main__":
    sys.exit(main())
