"""Quota pacing against both limiter shapes real providers have, learnt from headers alone.

A 12-document job through the real JobManager against the fake server (tests/fake_openai.py, in its own
process, 300 ms a call) with a tokens-per-minute quota; LLM_TOKENS_PER_MINUTE unset, so Policy Reader
learns the quota from the response headers only:

(per-minute) OpenAI's shape (https://platform.openai.com/docs/guides/rate-limits): a sliding 60 s
        window, x-ratelimit-limit/remaining/reset-tokens on every response, 429 + retry-after(-ms).
(10 s window) Azure OpenAI's shape (Microsoft Learn, "Manage Azure OpenAI ... quota",
        tests/fake_openai.AZURE_QUOTA_DOC): each request admitted on its estimate (prompt + max tokens),
        the per-minute rate evaluated over 10 s windows, only x-ratelimit-remaining-* headers (no limit),
        Azure's 429 body with retry-after / retry-after-ms.

The bound is the time the quota allows: the tokens the limiter charged for the admitted requests / TPM.
Target: wall <= 1.15x that bound and at most one 429, for both shapes. The job is sized to span
several evaluation windows (about 1.4 minutes of quota for the per-minute limiter, 4 windows for the
10 s one); `--quick` runs the 10 s shape only.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.corpus import FACTS
from bench.extraction import LATENCY_S, ServerProcess, bench_settings, run_policy_reader
from bench.providers import QUOTA_VARIABLES, _documents
from bench.report import row as _row

TARGET_RATIO = 1.15
TARGET_429 = 1
#: (label, fake quota, TPM): the per-minute limiter at the README's 24,000 TPM (a job of ~1.4 minutes of
#: quota); the 10 s windows at a TPM that makes the same job ~4 windows long (seconds, not minutes)
SHAPES = (
    ("per-minute (OpenAI headers, 60 s window)", {"shape": "openai", "window_s": 60.0}, 24_000),
    ("10 s windows (Azure: estimate at admission, no limit header)", {"shape": "azure", "window_s": 10.0}, 48_000),
)


def run_shape(files: list[Path], quota: dict[str, Any], tpm: int) -> dict[str, Any]:
    """One job under one limiter: wall, the bound, 429s, failed documents."""
    from job_manager import JobManager

    with ServerProcess(LATENCY_S, FACTS) as server, tempfile.TemporaryDirectory(prefix="bench-pacing-") as tmp:
        settings = bench_settings(Path(tmp) / "jobs", server.base_url)
        server.command("configure", quota={"tokens_per_minute": tpm, **quota})
        manager = JobManager(settings)
        try:
            wall, (_job_id, view) = run_policy_reader(manager, files, QUOTA_VARIABLES, name="bench pacing")
            stats = server.stats()
        finally:
            manager.shutdown()
    allowed = stats["charged_tokens"] / tpm * 60.0
    failed = view.documents_failed if view.status == "completed" else len(files)
    return {"wall_s": wall, "allowed_s": allowed, "ratio": wall / allowed if allowed else float("inf"),
            "rate_limited": stats["rate_limited"], "failed": failed, "status": view.status,
            "charged_tokens": stats["charged_tokens"], "calls": stats["calls"]}


def run(out_dir: Path, *, quick: bool = False) -> dict[str, Any]:
    files = _documents(out_dir, 12)
    rows, notes, raw = [], [], {}
    for label, quota, tpm in (SHAPES[1:] if quick else SHAPES):
        result = run_shape(files, quota, tpm)
        raw[label] = result
        rows += [
            _row(f"pacing, {label}: 12-document job at {tpm:,} TPM, wall / time the quota allows "
                 f"({result['charged_tokens']:,} tokens charged = {result['allowed_s']:.0f} s)", result["ratio"], "x",
                 f"<= {TARGET_RATIO:g}", result["ratio"] <= TARGET_RATIO),
            _row(f"pacing, {label}: 429 answers", result["rate_limited"], "calls", f"<= {TARGET_429}",
                 result["rate_limited"] <= TARGET_429),
            _row(f"pacing, {label}: documents failed", result["failed"], "docs", "0", result["failed"] == 0),
        ]
        notes.append(f"{label}: wall {result['wall_s']:.1f} s for {result['calls']} calls; job {result['status']}.")
    return {"rows": rows, "notes": notes, "raw": raw}


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(Path(__file__).resolve().parent / "out", quick="--quick" in sys.argv), indent=1,
                     default=str))
