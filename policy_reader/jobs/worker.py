"""`python -m policy_reader worker`: a headless process that takes documents from the Azure work queue.

For an App Service WebJob or a container beside the Web App (JOB_STORE=azure). It builds only what it
needs — the job services and a QueueExecutor — and runs until SIGTERM / Ctrl-C.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time

from policy_reader.config import Settings, load_settings
from policy_reader.jobs.queue_executor import QueueExecutor
from policy_reader.jobs.services import build_services


def main(settings: Settings | None = None, *, idle_exit_s: float | None = None) -> int:
    """Take documents from the queue until SIGTERM / Ctrl-C. `idle_exit_s` (or the environment variable
    WORKER_IDLE_EXIT_S) stops the worker after that long without work (batch-style runs)."""
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The Azure SDK logs every HTTP request at INFO: the log stream would show storage chatter, not work.
    logging.getLogger("azure").setLevel(os.environ.get("AZURE_LOG_LEVEL", "WARNING"))
    settings = settings or load_settings()
    if idle_exit_s is None and os.environ.get("WORKER_IDLE_EXIT_S"):
        idle_exit_s = float(os.environ["WORKER_IDLE_EXIT_S"])
    executor = QueueExecutor(build_services(settings), cleanup=True)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    executor.start()
    print(f"worker {executor.worker_id} ready: queue {settings.azure_storage_queue}, "
          f"container {settings.azure_storage_container}, {executor.thread_count} document(s) at once", flush=True)
    last_count, last_change = -1, time.monotonic()
    while not stop.wait(0.5):
        if idle_exit_s is not None:
            if executor.processed != last_count:
                last_count, last_change = executor.processed, time.monotonic()
            elif time.monotonic() - last_change >= idle_exit_s:
                break
    executor.shutdown()
    print(f"worker {executor.worker_id} stopped after {executor.processed} document(s)", flush=True)
    return 0
