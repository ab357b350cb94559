"""Helper process: create THREADS jobs at once (real threads) for one user, after a shared start time.

Two of these run beside each other in tests to prove that the per-user limits hold across processes
(the file store's lock on the user's usage ledger). Prints one line per attempt: "ok" or "refused".
usage: create_jobs.py JOBS_DIR PDF THREADS START_AT_EPOCH   (env: USER_MAX_CONCURRENT_JOBS, ...)
"""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from policy_reader.config import load_settings  # noqa: E402
from policy_reader.errors import LimitExceeded  # noqa: E402
from policy_reader.jobs.manager import JobManager  # noqa: E402
from policy_reader.models import Variable  # noqa: E402


def main() -> int:
    jobs_dir, pdf, threads, start_at = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    manager = JobManager(load_settings(JOBS_DIR=jobs_dir), start=False)
    outcomes: list[str] = []
    barrier = threading.Barrier(threads)

    def create() -> None:
        barrier.wait()
        time.sleep(max(0.0, start_at - time.time()))
        try:
            manager.create_job(name="race", files=[("a.pdf", pdf)], variables=[Variable(name="x", question="x?")],
                               owner="mallory")
            outcomes.append("ok")
        except LimitExceeded:
            outcomes.append("refused")

    workers = [threading.Thread(target=create) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    print("\n".join(outcomes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
