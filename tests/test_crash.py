"""Crash safety with a real process killed by SIGKILL at random moments, then resumed.

The job runs against the fake OpenAI server (real HTTP, with latency), so every model call is
counted per document: a document whose checkpoint existed when the process was killed must
never be sent to the model again.

The worker processes run with link() refused by the OS (tests/fixtures/oslimits.py), as on App
Service's /home (SMB): the store must be crash-safe without hard links. The file store has one code
path whatever the file system, so this run also covers a local disk.
"""
from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from job_manager import JobManager
from policy_reader.config import load_settings
from policy_reader.fsio import read_json
from policy_reader.models import Variable, VariableType
from tests.fixtures.openai_server import TEST_KEY

ROOT = Path(__file__).resolve().parent.parent
HELPER = ROOT / "tests" / "helpers" / "crash_worker.py"
MARKER = re.compile(r"MARKER-(\d{3})")
DOCS = 48
KILLS = 9


def _requests_per_doc(server) -> Counter:
    counts: Counter = Counter()
    for req in list(server.requests):
        for found in set(MARKER.findall(req.text)):
            counts[int(found)] += 1
    return counts


def _results(jobs_dir: Path, job_id: str) -> set[str]:
    folder = jobs_dir / job_id / "results"
    return {p.stem for p in folder.glob("d*.json")} if folder.exists() else set()


def test_sigkill_at_random_points_then_resume(fake_openai, tmp_path, make_pdf, link_refused):
    fake_openai.latency = 0.25
    fake_openai.facts = {"year_adopted": (2019, "adopted in 2019")}
    jobs_dir = tmp_path / "jobs"
    env = {**os.environ, "JOBS_DIR": str(jobs_dir), "LLM_BACKEND": "openai", "OPENAI_API_KEY": TEST_KEY,
           "OPENAI_BASE_URL": fake_openai.base_url + "/v1", "OPENAI_MODEL": "gpt-fake", "LLM_MAX_RETRIES": "2",
           "LLM_TIMEOUT_S": "5", "LLM_BACKOFF_BASE_S": "0.01", "DOCS_PER_JOB": "3",
           "HEARTBEAT_STALE_S": "30",  # a dead pid on this host is detected at once, not after 30 s
           "PYTHONPATH": str(ROOT), **link_refused.env}
    settings = load_settings(JOBS_DIR=str(jobs_dir), LLM_BACKEND="openai", OPENAI_API_KEY=TEST_KEY,
                             OPENAI_BASE_URL=fake_openai.base_url + "/v1")
    files = [(f"p{i:03d}.pdf", make_pdf(f"p{i:03d}.pdf", [f"MARKER-{i:03d}. The policy was adopted in 2019."]))
             for i in range(DOCS)]
    creator = JobManager(settings, start=False)
    job_id = creator.create_job(name="crash", files=files,
                                variables=[Variable(name="year_adopted", question="Year adopted?", type=VariableType.YEAR)])
    creator.shutdown()

    rng = random.Random(20240607)
    protected: dict[str, int] = {}  # doc_id -> requests seen when its checkpoint already existed
    mid_job_kills = 0
    for round_no in range(KILLS):
        proc = subprocess.Popen([sys.executable, str(HELPER), job_id], env=env, cwd=str(tmp_path),
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if round_no % 2 == 0:  # anywhere, even during start-up / recovery
            time.sleep(rng.uniform(0.3, 3.0))
        else:  # after the manager is up, while documents are in flight
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.2, 1.6))
        before = _results(jobs_dir, job_id)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        state = read_json(jobs_dir / job_id / "job.json")  # never torn
        assert state["id"] == job_id
        done = _results(jobs_dir, job_id)
        if 0 < len(done) < DOCS and state["status"] == "running":
            mid_job_kills += 1
        counts = _requests_per_doc(fake_openai)
        for doc_id in done:
            protected.setdefault(doc_id, counts[int(doc_id[1:]) - 1])
        assert before <= done

    assert mid_job_kills >= 3, "the kills should land while the job is running"
    final = subprocess.run([sys.executable, str(HELPER), job_id], env=env, cwd=str(tmp_path),
                           capture_output=True, text=True, timeout=60)
    assert "done completed" in final.stdout, final.stderr[-2000:]

    state = read_json(jobs_dir / job_id / "job.json")
    assert state["status"] == "completed"
    assert (state["documents_done"], state["documents_failed"], state["documents_total"]) == (DOCS, 0, DOCS)
    results = sorted((jobs_dir / job_id / "results").glob("d*.json"))
    assert [p.stem for p in results] == [f"d{i + 1:04d}" for i in range(DOCS)]
    for path in results:
        data = read_json(path)
        assert data["status"] == "ok" and data["variables"][0]["value"] == 2019
    counts = _requests_per_doc(fake_openai)
    for doc_id, seen in protected.items():
        assert counts[int(doc_id[1:]) - 1] == seen, f"{doc_id} was sent to the model again after its checkpoint"
    assert all(counts[i] >= 1 for i in range(DOCS))
    events = [e["type"] for e in JobManager(settings, start=False).read_events(job_id, limit=1000)]
    assert events.count("job.resumed") >= 3
