"""Helper process: increment a counter in job.json N times through FileJobStore.update_state.

Two of these run at once in tests to prove the file lock prevents lost updates.
usage: bump_state.py JOBS_DIR JOB_ID N TAG
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from policy_reader.jobs.store import FileJobStore  # noqa: E402


def main() -> int:
    jobs_dir, job_id, count, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    store = FileJobStore(Path(jobs_dir))

    def bump(state: dict) -> None:
        state["counter"] = int(state.get("counter", 0)) + 1
        state[f"bumped_by_{tag}"] = int(state.get(f"bumped_by_{tag}", 0)) + 1

    for _ in range(count):
        store.update_state(job_id, bump)
    return 0


if __name__ == "__main__":
    sys.exit(main())
