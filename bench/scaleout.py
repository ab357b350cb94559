"""Scale-out: documents per second with 1 and with 3 `python -m policy_reader worker` processes.

JOB_STORE=azure against Azurite (started here), the fake OpenAI server with a fixed latency per call
(the model is the bottleneck, as in production), each worker one document at a time. Target: three
workers finish the same job at least 2.5 times as fast as one.

    python -m bench.scaleout [--quick]
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from bench.report import row as _row

REPO = Path(__file__).resolve().parents[1]
LATENCY_S = float(os.environ.get("BENCH_LATENCY_S", "1.0"))  # per model call (one per short document); real calls take seconds
TARGET_RATIO = 2.5
VARIABLES_CSV = "name,question,type\nyear_adopted,In which year was the policy adopted?,year\n"


def _env(settings: Any, fake: Any, jobs_dir: Path) -> dict[str, str]:
    from tests.fixtures.azurite import AzuriteServer

    return AzuriteServer.env(settings, jobs_dir=jobs_dir, openai_base_url=fake.base_url,
                             MAX_PARALLEL_DOCUMENTS=1, QUEUE_VISIBILITY_TIMEOUT_S=30, LOG_LEVEL="WARNING")


def _measure(azurite: Any, fake: Any, workdir: Path, pdfs: list[Path], workers: int) -> float:
    """Seconds from queueing a job of len(pdfs) documents to its completion, with `workers` processes."""
    from job_manager import JobManager
    from policy_reader.config import load_settings
    from policy_reader.variables import load_variables

    store_env = azurite.store_env(prefix=f"bench{workers}")
    settings = load_settings(**store_env, JOBS_DIR=str(workdir / f"creator{workers}"))
    manager = JobManager(settings, start=False)  # creates and queues only: takes no work itself
    variables = load_variables(VARIABLES_CSV.encode(), "vars.csv")
    procs = [subprocess.Popen([sys.executable, "-m", "policy_reader", "worker"], cwd=str(workdir),
                              env=_env(settings, fake, workdir / f"w{workers}-{i}"), stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True) for i in range(workers)]
    try:
        for proc in procs:  # wait until every worker polls the queue
            line = proc.stdout.readline() if proc.stdout else ""
            if "ready" not in line:
                raise RuntimeError(f"worker did not start: {line!r}")
        job_id = manager.create_job(name=f"bench-{workers}", files=[(p.name, p) for p in pdfs], variables=variables,
                                    options=None)
        started = time.perf_counter()
        manager.executor.queue_run(job_id)  # the workers take the documents, not this process
        while True:
            view = manager.get_job_status(job_id)
            if view.finished:
                break
            if time.perf_counter() - started > 600:
                raise RuntimeError("the scale-out job did not finish in 10 minutes")
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        if view.status.value != "completed" or view.documents_done != len(pdfs) or view.documents_failed:
            raise RuntimeError(f"job ended {view.status.value} with {view.documents_done} documents")
        return elapsed
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
        manager.shutdown()


def run(out_dir: Path, *, quick: bool = False) -> list[dict[str, Any]]:
    from tests.fake_openai import FakeOpenAI
    from tests.fixtures.azurite import AzuriteServer, azurite_binary
    from tests.pdf_factory import make_text_pdf

    if azurite_binary() is None:
        raise RuntimeError("Azurite is not installed: run `make test-tools` (needs npm)")
    count = 15 if quick else 30
    with tempfile.TemporaryDirectory(prefix="bench-scaleout-") as tmp, AzuriteServer() as azurite:
        workdir = Path(tmp)
        pdfs = [make_text_pdf(workdir / "pdfs" / f"doc{i}.pdf", [f"Policy {i}. The policy was adopted in 2001."])
                for i in range(count)]
        fake = FakeOpenAI().start()
        try:
            fake.latency = LATENCY_S
            fake.facts = {"year_adopted": (2001, "adopted in 2001")}
            one = _measure(azurite, fake, workdir, pdfs, 1)
            three = _measure(azurite, fake, workdir, pdfs, 3)
        finally:
            fake.stop()
    rate1, rate3 = count / one, count / three
    ratio = rate3 / rate1
    note = f"{count} documents, fake model latency {LATENCY_S:g} s/call, Azurite, 1 document at a time per worker"
    return [_row(f"documents/s, 1 worker process ({note})", rate1, "docs/s"),
            _row("documents/s, 3 worker processes", rate3, "docs/s"),
            _row("speed-up, 3 workers / 1 worker", ratio, "x", f">= {TARGET_RATIO:g}", ratio >= TARGET_RATIO)]



if __name__ == "__main__":
    for row in run(REPO / "bench" / "out", quick="--quick" in sys.argv):
        print(row)
